//! # socbot
//!
//! A Discord bot daemon for security operations centres: serves MITRE ATT&CK triage playbooks,
//! runs each incident in its own thread, records triage answers durably and pages Tier 2.
//!
//! # Layout
//! - [`playbook`]: model, parser, escalation rule, library (lookup and search). Pure.
//! - [`config`]: layered configuration (defaults, file, `SOCBOT__SECTION__KEY`).
//! - [`cli`]: the `socbot` command line (`show`, `check`, `list`, `search`, …).
//! - [`render`]: inline markup and the terminal layout of playbooks.
//! - [`telemetry`]: tracing set-up.

pub mod cli;
pub mod config;
pub mod playbook;
pub mod render;
pub mod telemetry;
