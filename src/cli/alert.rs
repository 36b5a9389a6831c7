//! `socbot alert test --format FORMAT FILE [--json]` (or `--source NAME`): what socbot makes of
//! an alert payload (techniques, the playbook it would open, title, severity, host, user, key,
//! status), without touching the store. The integrator's first tool: run it on a payload the
//! product sent.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::alert::group::GroupField;
use crate::alert::{self, Alert, Format, ParseOptions, Severity};
use crate::attack::{Catalog, Status};
use crate::config::Config;
use crate::playbook::{Library, Lookup};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Read an alert payload as POST /alerts/<source> would, and show what socbot makes of it.
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The payload's format: wazuh, elastic, splunk, sentinel, thehive, alertmanager, generic.
    #[arg(long, short, value_parser = parse_format, required_unless_present = "source")]
    pub format: Option<Format>,
    /// A configured source (`[alerts.sources.NAME]`): its format, and its group_by for the key
    /// and escalate_at for whether the alert escalates at once.
    #[arg(long, value_name = "NAME", conflicts_with = "format")]
    pub source: Option<String>,
    /// The payload: a JSON file, or - for standard input.
    pub file: PathBuf,
    /// Print JSON (an array, one object per alert) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Alertmanager: the label holding the technique id(s) (default: alerts.technique_label).
    #[arg(long, value_name = "LABEL")]
    pub technique_label: Option<String>,
}

/// How the payload is read: a bare format, or a configured source's settings.
struct Reading {
    format: Format,
    group_by: Vec<GroupField>,
    /// With a source: the severity from which an alert escalates at once (`None`: never).
    escalate_at: Option<Option<Severity>>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let Action::Test(args) = args.action;
    let Some(reading) = reading(config, &args) else {
        return Ok(ExitCode::from(2));
    };
    let body = match read_body(&args.file) {
        Ok(body) => body,
        Err(e) => {
            eprintln!("socbot: cannot read {}: {e}", args.file.display());
            return Ok(ExitCode::from(2));
        }
    };
    let max = config.alerts.max_body_bytes;
    if body.len() > max {
        eprintln!(
            "socbot: {}: {} bytes, over alerts.max_body_bytes ({max}): POST /alerts would answer 413",
            shown(&args.file),
            body.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    let options = ParseOptions {
        technique_label: args
            .technique_label
            .unwrap_or_else(|| config.alerts.technique_label.clone()),
    };
    let alerts = match alert::parse(reading.format, &body, &options) {
        Ok(alerts) => alerts,
        Err(e) => {
            // The same text the sender would get in the 400 answer.
            eprintln!(
                "socbot: {}: cannot read it as a {} payload: {e}",
                shown(&args.file),
                reading.format
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let library = super::load_library(config)?;
    let catalog = super::coverage::catalog(config)?;
    let views: Vec<View> = alerts
        .iter()
        .map(|a| View::of(a, &library, &catalog, &reading))
        .collect();
    let mut out = String::new();
    if args.json {
        let list: Vec<Value> = views.iter().map(View::json).collect();
        out = serde_json::to_string_pretty(&list)?;
        out.push('\n');
    } else {
        for (i, view) in views.iter().enumerate() {
            if views.len() > 1 {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&format!("alert {} of {}\n", i + 1, views.len()));
            }
            out.push_str(&view.text());
        }
    }
    super::emit(out)?;
    Ok(ExitCode::SUCCESS)
}

/// How to read the file: the configured source's settings, or the format given; None (said
/// on stderr) for a source that is not configured.
fn reading(config: &Config, args: &TestArgs) -> Option<Reading> {
    match (&args.source, args.format) {
        (Some(name), _) => match config.alerts.sources.get(name) {
            Some(source) => Some(Reading {
                format: source.format,
                group_by: source.group_by.clone(),
                escalate_at: Some(source.escalate_at),
            }),
            None => {
                let names: Vec<&str> = config.alerts.sources.keys().map(String::as_str).collect();
                let configured = if names.is_empty() {
                    "none is configured".to_owned()
                } else {
                    format!("configured: {}", names.join(", "))
                };
                eprintln!(
                    "socbot: no alert source `{name}` ([alerts.sources.{name}]); {configured}"
                );
                None
            }
        },
        (None, Some(format)) => Some(Reading {
            format,
            group_by: Vec::new(),
            escalate_at: None,
        }),
        (None, None) => unreachable!("clap requires --format or --source"),
    }
}

fn read_body(file: &std::path::Path) -> std::io::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin().lock().read_to_end(&mut body)?;
        Ok(body)
    } else {
        std::fs::read(file)
    }
}

fn shown(file: &std::path::Path) -> String {
    if file.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        file.display().to_string()
    }
}

/// One alert and the playbook socbot would open for it.
struct View<'a> {
    alert: &'a Alert,
    /// The chosen playbook's id and name.
    playbook: Option<(String, String)>,
    /// No playbook: the closest ones (id · name), best first.
    closest: Vec<String>,
    /// What ATT&CK says of each technique, in the alert's order.
    attack: Vec<AttackView>,
    /// The catalog's ATT&CK version.
    attack_version: String,
    /// The grouping key: the source's group_by, else the format's key.
    key: String,
    /// With a source: whether the alert reaches its escalate_at.
    escalates: Option<bool>,
}

/// A technique as the ATT&CK catalog knows it.
struct AttackView {
    id: String,
    /// The full name; none when the catalog does not know the id.
    name: Option<String>,
    /// `live`, `deprecated`, `revoked` or `unknown`.
    status: &'static str,
    replaced_by: Option<String>,
}

impl AttackView {
    fn of(id: crate::playbook::TechniqueId, catalog: &Catalog) -> Self {
        let known = catalog.get(id);
        let (status, replaced_by) = match known.map(|t| t.status) {
            None => ("unknown", None),
            Some(Status::Live) => ("live", None),
            Some(Status::Deprecated) => ("deprecated", None),
            Some(Status::Revoked(by)) => ("revoked", by.map(|t| t.to_string())),
        };
        Self {
            id: id.to_string(),
            name: known.map(|t| catalog.full_name(t)),
            status,
            replaced_by,
        }
    }

    fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "status": self.status, "replaced_by": self.replaced_by})
    }

    /// `T1059.004 Command and Scripting Interpreter: Unix Shell`, with a note when ATT&CK does
    /// not (or no longer) use the id.
    fn text(&self, version: &str) -> String {
        let name = self.name.as_deref().unwrap_or("");
        let note = match (self.status, &self.replaced_by) {
            ("unknown", _) => format!("(not in ATT&CK {version})"),
            ("deprecated", _) => "(deprecated in ATT&CK)".to_owned(),
            ("revoked", Some(by)) => format!("(revoked in ATT&CK, replaced by {by})"),
            ("revoked", None) => "(revoked in ATT&CK)".to_owned(),
            _ => String::new(),
        };
        [self.id.as_str(), name, &note]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl<'a> View<'a> {
    fn of(alert: &'a Alert, library: &Library, catalog: &Catalog, reading: &Reading) -> Self {
        let chosen = alert.playbook_choice(|id| library.get(id).is_some());
        let playbook = chosen
            .and_then(|id| library.get(id))
            .map(|p| (p.id.to_string(), p.name.clone()));
        let closest = match (&playbook, alert.techniques.first()) {
            (None, Some(first)) => match library.lookup(&first.to_string()) {
                Lookup::NotFound { suggestions, .. } => {
                    suggestions.iter().map(|p| p.label()).collect()
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let attack = alert
            .techniques
            .iter()
            .map(|id| AttackView::of(*id, catalog))
            .collect();
        Self {
            alert,
            playbook,
            closest,
            attack,
            attack_version: catalog.version.clone(),
            key: alert.group_key(&reading.group_by),
            escalates: reading
                .escalate_at
                .map(|at| at.is_some_and(|at| alert.severity >= at)),
        }
    }

    fn json(&self) -> Value {
        let a = self.alert;
        json!({
            "format": a.format,
            "techniques": a.techniques,
            "attack": self.attack.iter().map(AttackView::json).collect::<Vec<_>>(),
            "playbook": self.playbook.as_ref().map(|(id, name)| json!({"id": id, "name": name})),
            "closest_playbooks": self.closest,
            "title": a.title,
            "severity": a.severity,
            "host": a.host,
            "user": a.user,
            "link": a.link,
            "rule": a.rule,
            "key": self.key,
            "escalates": self.escalates,
            "status": a.status,
            "unreadable_techniques": a.unreadable_techniques,
        })
    }

    fn text(&self) -> String {
        let a = self.alert;
        let mut out = String::new();
        let mut line = |label: &str, value: &str| {
            out.push_str(&format!("  {label:<11}{value}\n"));
        };
        line("title", &a.title);
        line("severity", a.severity.name());
        line("status", a.status.name());
        let techniques: Vec<String> = a.techniques.iter().map(ToString::to_string).collect();
        line(
            "techniques",
            &if techniques.is_empty() {
                "none named".to_owned()
            } else {
                techniques.join(", ")
            },
        );
        for (i, technique) in self.attack.iter().enumerate() {
            line(
                if i == 0 { "attack" } else { "" },
                &technique.text(&self.attack_version),
            );
        }
        let playbook = match (&self.playbook, techniques.is_empty()) {
            (Some((id, name)), _) => format!("{id} · {name}"),
            (None, true) => "none: the alert names no technique".to_owned(),
            (None, false) => "none: no playbook covers these techniques".to_owned(),
        };
        line("playbook", &playbook);
        if !self.closest.is_empty() {
            line("closest", &self.closest.join("; "));
        }
        line("host", a.host.as_deref().unwrap_or("-"));
        line("user", a.user.as_deref().unwrap_or("-"));
        line("link", a.link.as_deref().unwrap_or("-"));
        line("rule", a.rule.as_deref().unwrap_or("-"));
        line("key", &self.key);
        if let Some(escalates) = self.escalates {
            line(
                "escalates",
                if escalates {
                    "yes: at the source's escalate_at, it escalates and pages at once"
                } else {
                    "no"
                },
            );
        }
        for bad in &a.unreadable_techniques {
            line("ignored", &format!("{bad}: no technique id in it"));
        }
        out
    }
}
