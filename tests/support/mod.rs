//! Test support shared by the integration tests: a Discord-compatible server on loopback.
//!
//! `discord::FakeDiscord` is the server; `discord::payloads` builds interactions,
//! `discord::faults` injects failures and `discord::state::RecordedRequest` is what it records.
#![allow(
    dead_code,
    reason = "shared by several test binaries, each uses a subset"
)]

pub mod alerts;
pub mod bot;
pub mod cli;
pub mod discord;
pub mod incidents;
pub mod rng;
pub mod stats;
