//! `socbot oncall [--at TIME]`: who is on call for Tier 2, from the configured rotation and the
//! overrides in the store (read beside a running bot through its control socket).

use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::oncall::{Oncall, Override};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The instant to ask about, RFC 3339 (e.g. 2026-11-23T09:00:00+01:00); default now.
    #[arg(long)]
    pub at: Option<String>,
}

pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let at: DateTime<Utc> = match &args.at {
        None => Utc::now(),
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.to_utc(),
            Err(_) => {
                eprintln!("socbot: `{s}` is not an RFC 3339 time such as 2026-11-23T09:00:00Z");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let rotation = crate::daemon::rotation(config)?;
    // No store yet: no override was ever set. Any other failure to read them is an error:
    // the answer would be wrong without them.
    let overrides: Vec<Override> = if config.store.path.exists()
        || crate::backup::daemon_listening(&crate::backup::control_socket(&config.store.path))
    {
        let view = crate::backup::ReadView::open(&config.store.path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the on-call overrides, so who is on call is unknown: {e:#}"
            )
        })?;
        view.overrides()?
    } else {
        Vec::new()
    };
    let view = Oncall::now(&rotation, &overrides, at);
    super::emit(crate::console::oncall(
        view.as_ref(),
        rotation.fallback_role(),
        at,
    ))?;
    Ok(ExitCode::SUCCESS)
}
