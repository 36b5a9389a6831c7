//! `socbot outbox [list | retry ID | drop ID]`: the dead letters (effects refused for good or
//! failing longer than `outbox.dead_letter_after`). Beside a running bot the request goes
//! through its control socket; otherwise the store is opened here.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand};

use crate::config::Config;

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// How many effects wait, and every dead letter (the default).
    List,
    /// Queue a dead letter for delivery again, at the end of its incident's lane.
    Retry { id: u64 },
    /// Delete a dead letter for good.
    Drop { id: u64 },
}

pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let request = match args.action.unwrap_or(Action::List) {
        Action::List => "list".to_owned(),
        Action::Retry { id } => format!("retry {id}"),
        Action::Drop { id } => format!("drop {id}"),
    };
    let socket = crate::backup::control_socket(&config.store.path);
    let answer = match crate::backup::control_request(
        &socket,
        &format!("outbox {request}"),
        Duration::from_secs(30),
    ) {
        Ok(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Ok(None) => local(config, &request)?,
        Err(e) => Err(e.to_string()),
    };
    match answer {
        Ok(text) => {
            super::emit(text)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("socbot: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// No bot running: the store itself.
fn local(config: &Config, request: &str) -> anyhow::Result<Result<String, String>> {
    if !config.store.path.exists() {
        anyhow::bail!(
            "there is no store at {} (configuration key `store.path`)",
            config.store.path.display()
        );
    }
    let store = crate::store::Store::open(&config.store.path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(crate::effects::outbox_request(&store, request));
    runtime.block_on(store.flush())?;
    Ok(answer)
}
