//! `socbot show <technique> [--section S] [--json]`: one playbook, for a terminal or as JSON.

use std::process::ExitCode;

use crate::config::Config;
use crate::playbook::{Lookup, Playbook, SectionKind, TechniqueId};
use crate::render::terminal;
use crate::service::playbook::TechniqueAnswer;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Technique id as people type it: T1583.006, t1583006, 1583.006.
    pub technique: String,
    /// Only this section: log-sources, indicators, questions, escalation, l1-steps, t2-actions, containment.
    #[arg(long, short)]
    pub section: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Wrap text at this many columns (default: $COLUMNS or 100).
    #[arg(long)]
    pub width: Option<usize>,
}

pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let section = match args
        .section
        .as_deref()
        .map(|s| (s, SectionKind::from_user(s)))
    {
        None => None,
        Some((_, Some(kind))) => Some(kind),
        Some((s, None)) => {
            let keys: Vec<_> = SectionKind::KNOWN.iter().map(|k| k.key()).collect();
            eprintln!("socbot: no section `{s}`; use one of: {}", keys.join(", "));
            return Ok(ExitCode::from(2));
        }
    };
    let library = super::load_library(config)?;
    let catalog = super::coverage::catalog(config)?;
    let known = TechniqueId::parse(&args.technique)
        .ok()
        .and_then(|id| catalog.get(id));
    let playbook = match library.lookup(&args.technique) {
        Lookup::Found(p) => p,
        Lookup::Parent { asked, playbook } => {
            let name = known.map(|t| format!(" ({})", catalog.full_name(t)));
            eprintln!(
                "socbot: no playbook for {asked}{}; showing its parent technique {}",
                name.unwrap_or_default(),
                playbook.id
            );
            playbook
        }
        // ATT&CK knows it, the library has no playbook: what ATT&CK says, and exit 1.
        Lookup::NotFound { suggestions, .. } if known.is_some() => {
            let info = catalog.describe(known.expect("matched"));
            let answer = TechniqueAnswer {
                info,
                has_playbook: false,
                closest: suggestions.iter().map(|p| (p.id, p.name.clone())).collect(),
            };
            if args.json {
                super::emit(format!("{}\n", serde_json::to_string_pretty(&answer)?))?;
            } else {
                // Plain text, as the console shows it: no markdown on a terminal.
                super::emit(crate::console::technique(&answer))?;
            }
            return Ok(ExitCode::FAILURE);
        }
        Lookup::NotFound {
            asked,
            valid_id,
            suggestions,
        } => {
            let what = if valid_id {
                "no playbook for"
            } else {
                "not a technique id or name:"
            };
            eprintln!("socbot: {what} `{asked}`");
            if !suggestions.is_empty() {
                eprintln!("closest:");
                for s in suggestions {
                    eprintln!("  {}", s.label());
                }
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.json {
        let mut shown: Playbook = (*playbook).clone();
        if let Some(kind) = section {
            shown.sections.retain(|s| s.kind == kind);
        }
        super::emit(format!("{}\n", serde_json::to_string_pretty(&shown)?))?;
    } else {
        super::emit(terminal::playbook(
            &playbook,
            section,
            super::width(args.width),
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
