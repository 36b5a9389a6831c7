//! Logging: structured `tracing` to stderr, human-readable or JSON (`log.format`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG` wins over `log.level` when set. Safe to call twice
/// (the second call does nothing), so tests may start several bots in one process.
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match log.format {
        // One line per finished command (and interaction) with its span's fields (command,
        // actor, incident, technique) and how long it took, for log shippers.
        LogFormat::Json => builder
            .json()
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
