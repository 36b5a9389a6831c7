//! `socbot list [--tactic T] [--json]` and `socbot search <words>`.

use std::process::ExitCode;

use serde_json::json;

use crate::config::Config;
use crate::playbook::Playbook;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only playbooks of this tactic (case-insensitive, e.g. "resource development").
    #[arg(long)]
    pub tactic: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// What you would type: an id prefix (T1583), name words (web serv) or a tactic.
    #[arg(required = true)]
    pub words: Vec<String>,
    /// How many results.
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn print(playbooks: &[&Playbook], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let rows: Vec<_> = playbooks
            .iter()
            .map(|p| json!({"id": p.id, "name": p.name, "tactics": p.tactics, "source": p.source}))
            .collect();
        super::emit(format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
    } else {
        let lines: String = playbooks
            .iter()
            .map(|p| {
                format!(
                    "{:<10} {}  [{}]\n",
                    p.id.to_string(),
                    p.name,
                    p.tactics.join(", ")
                )
            })
            .collect();
        super::emit(lines)?;
    }
    Ok(())
}

pub fn run_list(config: &Config, args: ListArgs) -> anyhow::Result<ExitCode> {
    let library = super::load_library(config)?;
    let want = args.tactic.as_deref().map(|t| t.trim().to_lowercase());
    let shown: Vec<&Playbook> = library
        .iter()
        .map(|p| &**p)
        .filter(|p| {
            want.as_ref()
                .is_none_or(|w| p.tactics.iter().any(|t| t.to_lowercase() == *w))
        })
        .collect();
    if shown.is_empty() && want.is_some() {
        let mut tactics: Vec<&str> = library
            .iter()
            .flat_map(|p| p.tactics.iter().map(String::as_str))
            .collect();
        tactics.sort_unstable();
        tactics.dedup();
        eprintln!(
            "socbot: no playbook has that tactic; tactics present: {}",
            tactics.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    print(&shown, args.json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_search(config: &Config, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let library = super::load_library(config)?;
    let hits: Vec<&Playbook> = library
        .search(&args.words.join(" "), args.limit)
        .into_iter()
        .map(|p| &**p)
        .collect();
    // As autocomplete does: then ATT&CK techniques this library has no playbook for.
    let catalog = super::coverage::catalog(config)?;
    let extra: Vec<&crate::attack::Technique> = catalog
        .search(&args.words.join(" "), args.limit)
        .into_iter()
        .filter(|t| library.get(t.id).is_none())
        .take(args.limit.saturating_sub(hits.len()))
        .collect();
    if hits.is_empty() && extra.is_empty() {
        eprintln!("socbot: nothing matches; try an id prefix such as T15 or a word of the name");
        return Ok(ExitCode::FAILURE);
    }
    if args.json {
        let mut rows: Vec<serde_json::Value> = hits
            .iter()
            .map(|p| json!({"id": p.id, "name": p.name, "tactics": p.tactics, "source": p.source, "has_playbook": true}))
            .collect();
        rows.extend(extra.iter().map(|t| {
            json!({"id": t.id, "name": catalog.full_name(t), "tactics": catalog.tactic_names(t).collect::<Vec<_>>(), "has_playbook": false})
        }));
        super::emit(format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
    } else {
        print(&hits, false)?;
        let lines: String = extra
            .iter()
            .map(|t| {
                format!(
                    "{:<10} {}  [{}]  (no playbook)\n",
                    t.id.to_string(),
                    catalog.full_name(t),
                    catalog.tactic_names(t).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        super::emit(lines)?;
    }
    Ok(ExitCode::SUCCESS)
}
