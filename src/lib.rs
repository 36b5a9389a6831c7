//! # socbot
//!
//! A Discord bot daemon for security operations centres: serves MITRE ATT&CK triage playbooks,
//! runs each incident in its own thread, records triage answers durably and pages Tier 2.
//!
//! # Layout
//! - [`playbook`]: model, parser, escalation rule, library (lookup and search). Pure.
//! - [`attack`]: the ATT&CK Enterprise catalog, coverage, Navigator layer and heatmap. Pure.
//! - [`alert`]: SIEM and EDR alert formats, normalised to one `Alert`. Pure.
//! - [`incident`]: event-sourced incidents: events, fold, escalation decision, commands, export. Pure.
//! - [`oncall`]: on-call rotation and overrides, the paging chain, the pager webhook body. Pure.
//! - [`service`]: the command router `(command, actor) → reply`, shared by every adapter, and
//!   the command table (`service::commands`) both adapters register, parse and complete from.
//!   Each command is one declaration there holding its handler, and the handler: a parsed
//!   command is an `Invocation` (declaration + arguments) that one execute path runs
//!   (`Service::handle`: interaction once, role, lock, handler, commit, reply); replies are
//!   data each adapter words.
//! - [`discord`]: the serenity adapter (gateway, slash commands, rendering within Discord's limits).
//! - [`console`]: the terminal adapter (`socbot console`).
//! - [`daemon`]: `socbot run`: start-up, playbook reload, signals, shutdown.
//! - [`config`]: layered configuration (defaults, file, `SOCBOT__SECTION__KEY`), typed when it
//!   loads, and [`config::validate`]: every rule it is checked against.
//! - [`id`]: `DiscordId`, a non-zero Discord id (`Option<DiscordId>` where it may be unset). Pure.
//! - [`cli`]: the `socbot` command line (`show`, `check`, `list`, `search`, …).
//! - [`render`]: inline markup (playbook cells, and the two marks in the service's words: what
//!   to type and roles, rendered by each adapter) and the terminal layout of playbooks.
//! - [`telemetry`]: tracing set-up.
//! - [`http`], [`metrics`]: the optional HTTP listener: /healthz, /readyz, /metrics and
//!   `POST /alerts/<source>` (alerts in).
//! - [`store`]: sled: events, the outbox (by lane and due time), timers, dead letters, the
//!   open-incident and alert-key indexes, pruned interaction ids; group commit; the incidents
//!   used last kept folded (`store::folded`).
//! - [`effects`]: the outbox worker: lanes delivered concurrently, retries, dead letters;
//!   notices and channel announcements as data, worded by each chat port.
//! - [`backup`]: consistent backups of the running store, and restoring them.
//! - [`clock`]: system or manual time (tests advance deadlines without sleeping).

// A function over 80 lines (clippy.toml) is split, or says above it why it is long.
#![warn(clippy::too_many_lines)]

pub mod alert;
pub mod attack;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod daemon;
pub mod discord;
pub mod effects;
pub mod http;
pub mod id;
pub mod incident;
pub mod metrics;
pub mod oncall;
pub mod playbook;
pub mod render;
pub mod service;
pub mod store;
pub mod telemetry;
