//! Test support shared by the integration tests: a Discord-compatible server on loopback.
#![allow(dead_code, reason = "shared by several test binaries, each uses a subset")]

pub mod discord;

pub use discord::{
    FakeConfig, FakeDiscord, FaultKind, Faults, IdentifyInfo, Interaction, RecordedRequest,
    UploadedFile, opt_bool, opt_int, opt_str, opt_user,
};
