//! `socbot export INC-<n> [--json]`: an incident's whole timeline from the store, as the
//! markdown report or JSON. Beside a running bot it reads a consistent copy the bot hands over
//! its control socket (sled has one writer); in chat, `/incident export` gives the same report.

use std::process::ExitCode;

use crate::config::Config;
use crate::incident::{Event, Incident, IncidentId, export};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The incident: INC-12 or 12.
    pub incident: String,
    /// Print JSON instead of markdown.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let id = match IncidentId::parse(&args.incident) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("socbot: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let view = crate::backup::ReadView::open(&config.store.path)?;
    let events: Vec<Event> = view.events(id.0)?;
    if events.is_empty() {
        eprintln!(
            "socbot: there is no {id} in {}",
            config.store.path.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let incident = Incident::from_stored(id, &events)?;
    if args.json {
        super::emit(serde_json::to_string_pretty(&export::json(&incident, &events))? + "\n")?;
    } else {
        super::emit(export::markdown(&incident, &events))?;
    }
    Ok(ExitCode::SUCCESS)
}
