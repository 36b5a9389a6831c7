//! `socbot console`: the same commands as in Discord, typed at a terminal prompt, against the
//! configured playbooks and the local store. No Discord, no token: the fallback when Discord is
//! down. What the bot would post in an incident thread is printed, prefixed with the incident.

mod complete;
pub mod interactive;
mod parse;
mod port;

use std::io::Write;
use std::sync::Arc;

use chrono::Utc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

pub use complete::{Candidate, Sources, complete};
pub use parse::{Line, parse_line};
pub use port::ConsolePort;

use crate::incident::export;
use crate::render::terminal;
use crate::service::playbook::TechniqueAnswer;
use crate::service::{Actor, Origin, Recorded, Reply, Service};

/// Renders a reply for the terminal.
pub fn render(reply: &Reply, width: usize) -> String {
    match reply {
        Reply::Playbook { view, .. } => {
            let mut out = String::new();
            if let Some(note) = &view.note {
                out.push_str(&format!("note: {note}\n"));
            }
            out.push_str(&terminal::playbook(&view.playbook, view.section, width));
            out
        }
        Reply::Recorded(r) => recorded(r),
        Reply::IncidentOpened { incident, note } => {
            let mut out = String::new();
            if let Some(n) = note {
                out.push_str(&format!("note: {n}\n"));
            }
            out.push_str(&format!(
                "opened {} · {} · {} ({} questions)\n",
                incident.id,
                incident.technique_label(),
                incident.title,
                incident.questions.len()
            ));
            out
        }
        Reply::Answered {
            incident,
            question,
            changed,
        } => match incident.answer(*question) {
            Some(a) if *changed => format!(
                "{} q{question} → {} ({})\n",
                incident.id,
                a.finding.label(),
                a.by.name
            ),
            _ => format!(
                "{} q{question} was already answered that way\n",
                incident.id
            ),
        },
        Reply::Status { incident, events } => status(incident, events, width),
        Reply::List {
            incidents, total, ..
        } => list(incidents, *total),
        Reply::Export { markdown, .. } => markdown.clone(),
        Reply::Technique { answer, .. } => technique(answer),
        Reply::Coverage { report, tactic, .. } => format!(
            "{}\n(the heatmap picture: socbot coverage --png FILE; the ATT&CK Navigator layer: --navigator FILE)\n",
            report.text(*tactic)
        ),
        Reply::Duplicate => String::new(),
        Reply::Acknowledged {
            incident,
            owner,
            changed,
        } => acknowledged(incident.id, owner.as_deref(), *changed),
        Reply::Oncall {
            view,
            fallback_role,
            at,
        } => oncall(view.as_ref(), *fallback_role, *at),
    }
}

/// The newest incidents, one a line.
fn list(incidents: &[crate::incident::Incident], total: usize) -> String {
    if incidents.is_empty() {
        return "no incidents\n".into();
    }
    let more = (total > incidents.len()).then(|| {
        format!(
            "(newest {} of {total}; /incident status <INC-n> for any one)\n",
            incidents.len()
        )
    });
    incidents
        .iter()
        .map(|i| {
            format!(
                "{:<8} {:<10} {:<22} {}\n",
                i.id.to_string(),
                i.technique.to_string(),
                status_word(i),
                i.title
            )
        })
        .chain(more)
        .collect()
}

/// An acknowledgement: `owner` owns the incident now; `changed` false: it was already.
fn acknowledged(id: crate::incident::IncidentId, owner: Option<&str>, changed: bool) -> String {
    let owner = owner.unwrap_or("someone");
    if changed {
        format!("{id} acknowledged by {owner}: paging stopped, {owner} now owns the incident\n")
    } else {
        format!("{id} was already acknowledged; {owner} owns it\n")
    }
}

/// A recorded change, as a plain line.
fn recorded(r: &Recorded) -> String {
    let line = match r {
        Recorded::Noted { incident, by, text } => format!("{incident} note by {by}: {text}"),
        Recorded::Escalated {
            incident,
            by,
            reason,
        } => format!("{incident} escalated to Tier 2 by {by}: {reason}"),
        Recorded::Closed {
            incident,
            resolution,
            by,
        } => format!("{incident} closed as {} by {by}", resolution.label()),
        Recorded::PlaybookAttached {
            incident,
            technique,
            name,
            questions,
            by,
            note,
        } => {
            let note = note.as_deref().map(|n| format!("\nnote: {n}"));
            format!(
                "{incident} now follows playbook {technique} · {name} ({questions} questions), attached by {by}{}",
                note.unwrap_or_default()
            )
        }
        Recorded::OnCall { user, until, by } => format!(
            "user {user} is on call until {} (override by {by})",
            export::utc(*until)
        ),
    };
    format!("{line}\n")
}

/// What ATT&CK says of a technique without a playbook, as plain lines.
pub fn technique(a: &TechniqueAnswer) -> String {
    a.text(|id, name| format!("  {id}  {name}\n"))
}

/// Who is on call, for a terminal (also `socbot oncall`).
pub fn oncall(
    view: Option<&crate::oncall::OncallView>,
    fallback_role: Option<crate::id::DiscordId>,
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    let mut out = format!("as of {}\n", export::utc(at));
    match view {
        None => out.push_str("nobody is on call (empty roster, no active override)\n"),
        Some(v) => {
            let how = match &v.primary_source {
                crate::oncall::Source::Rotation => "rotation".to_owned(),
                crate::oncall::Source::Override { by: Some(by), .. } => {
                    format!("override by user {by}")
                }
                crate::oncall::Source::Override { by: None, .. } => {
                    "override set at the console".to_owned()
                }
            };
            out.push_str(&format!(
                "on call:   user {} ({how}) until {}\n",
                v.primary,
                export::utc(v.until)
            ));
            if let Some(s) = v.secondary {
                out.push_str(&format!("secondary: user {s}\n"));
            }
            if let Some((n, from)) = v.next {
                out.push_str(&format!("next:      user {n} from {}\n", export::utc(from)));
            }
        }
    }
    if let Some(r) = fallback_role {
        out.push_str(&format!("fallback:  role {r}\n"));
    }
    out
}

fn status_word(i: &crate::incident::Incident) -> String {
    match &i.status {
        crate::incident::Status::Open => "open".into(),
        crate::incident::Status::Escalated => "escalated".into(),
        crate::incident::Status::Closed { resolution } => format!("closed ({})", resolution.key()),
    }
}

fn status(
    inc: &crate::incident::Incident,
    events: &[crate::incident::Event],
    width: usize,
) -> String {
    let mut out = format!(
        "{} · {} · {}\nstatus: {}\n",
        inc.id,
        inc.technique_label(),
        inc.title,
        status_word(inc)
    );
    for (i, q) in inc.questions.iter().enumerate() {
        out.push_str(&terminal::wrap(q, width, &format!("q{}. ", i + 1), "    "));
        match inc.answer(i + 1) {
            Some(a) => {
                let note = a
                    .note
                    .as_deref()
                    .map(|n| format!(" · {n}"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "    → {} by {} at {}{note}\n",
                    a.finding.label(),
                    a.by.name,
                    export::utc(a.at)
                ));
            }
            None => out.push_str("    → unanswered\n"),
        }
    }
    out.push_str(&format!("decision: {}\n", inc.evaluate().headline()));
    for t in export::timeline(events) {
        out.push_str(&format!(
            "  {} {} — {}\n",
            export::utc(t.at),
            t.actor.name,
            t.text
        ));
    }
    out
}

/// What one console line did: what to print, and whether the session ends.
pub struct Step {
    pub output: String,
    pub quit: bool,
}

/// Runs one console line: parses it, runs the command as the console user, delivers the effects
/// it caused to `port` and returns everything to print (`bold`: at an interactive terminal, what
/// a mistake says to type is in bold).
pub async fn execute(
    service: &Service,
    port: Option<&ConsolePort>,
    line: &str,
    width: usize,
    bold: bool,
) -> Step {
    let mut output = String::new();
    match parse_line(line) {
        Ok(Line::Empty) => {}
        Ok(Line::Quit) => {
            return Step { output, quit: true };
        }
        Ok(Line::Help) => output.push_str(&format!("{}\n", parse::help())),
        Ok(Line::Search(words)) => {
            for (label, _) in service.autocomplete_technique(&words, 100) {
                output.push_str(&format!("  {label}\n"));
            }
        }
        Ok(Line::Command(cmd)) => {
            let origin = Origin {
                actor: Actor::console(),
                channel: None,
                interaction: None,
                now: Utc::now(),
            };
            match service.handle(cmd, &origin).await {
                Ok(reply) => output.push_str(&render(&reply, width)),
                Err(e) => output.push_str(&format!("error: {}\n", e.terminal(bold))),
            }
        }
        Err(e) => output.push_str(&format!("error: {}\n", e.terminal(bold))),
    }
    if let (Some(port), Some(incidents)) = (port, service.incidents()) {
        if let Err(e) = incidents.outbox().drain().await {
            output.push_str(&format!("error: {e}\n"));
        }
        for line in port.take() {
            output.push_str(&format!("{line}\n"));
        }
    }
    Step {
        output,
        quit: false,
    }
}

/// The greeting printed when the console starts.
pub fn greeting(service: &Service) -> String {
    format!(
        "socbot console: {} playbooks loaded. Type /help for commands, Tab to complete.",
        service.library().current().len()
    )
}

/// Reads commands from `input` until end of input or `/quit`, writing answers to `output`: the
/// console for piped input and scripts, line by line, with no prompt. (At a terminal,
/// [`interactive::run`] adds line editing, history and completion.)
pub async fn run(
    service: &Service,
    port: Option<Arc<ConsolePort>>,
    input: impl AsyncBufRead + Unpin,
    mut output: impl Write,
    width: usize,
) -> std::io::Result<()> {
    writeln!(output, "{}", greeting(service))?;
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        let step = execute(service, port.as_deref(), &line, width, false).await;
        output.write_all(step.output.as_bytes())?;
        output.flush()?;
        if step.quit {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod render_tests {
    use super::*;
    use crate::incident::{IncidentId, Resolution};
    use crate::playbook::{Library, TechniqueId};

    /// Plain text: no markdown emphasis, no code spans, no Discord mentions.
    fn assert_plain(text: &str) {
        for markup in ["**", "`", "<@"] {
            assert!(!text.contains(markup), "{markup} in {text:?}");
        }
    }

    #[test]
    fn recorded_changes_print_as_plain_lines() {
        let id = IncidentId(3);
        let by = "alice".to_owned();
        let until = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cases = [
            (
                Recorded::Noted {
                    incident: id,
                    by: by.clone(),
                    text: "seen **twice**".into(),
                },
                "INC-3 note by alice: seen **twice**\n",
            ),
            (
                Recorded::Escalated {
                    incident: id,
                    by: by.clone(),
                    reason: "exfil".into(),
                },
                "INC-3 escalated to Tier 2 by alice: exfil\n",
            ),
            (
                Recorded::Closed {
                    incident: id,
                    resolution: Resolution::TruePositive,
                    by: by.clone(),
                },
                "INC-3 closed as true positive by alice\n",
            ),
            (
                Recorded::PlaybookAttached {
                    incident: id,
                    technique: TechniqueId::parse("T1583.006").unwrap(),
                    name: "Web Services".into(),
                    questions: 4,
                    by: by.clone(),
                    note: None,
                },
                "INC-3 now follows playbook T1583.006 · Web Services (4 questions), attached by alice\n",
            ),
            (
                Recorded::OnCall {
                    user: crate::id::DiscordId::new(42).unwrap(),
                    until,
                    by: by.clone(),
                },
                "user 42 is on call until 2026-01-02 03:04:00 UTC (override by alice)\n",
            ),
        ];
        for (recorded, want) in cases {
            let text = render(&Reply::Recorded(recorded), 80);
            assert_eq!(text, want);
        }
        // What the user typed is theirs, shown as typed; socbot adds no markup around it.
        assert_plain(&render(
            &Reply::Recorded(Recorded::Closed {
                incident: id,
                resolution: Resolution::FalsePositive,
                by,
            }),
            80,
        ));
    }

    #[test]
    fn a_technique_without_a_playbook_prints_without_markup() {
        let md = "# VPS - T1583003\n\n| Column Name | Value |\n|---|---|\n| MITRE Tactic | Resource Development |\n| MITRE TTP | T1583.003 |\n| Name | Acquire Infrastructure: Virtual Private Server |\n| Questions for Analysis | Is it ours? |\n";
        let p = crate::playbook::parser::parse(md, "t.md").unwrap().playbook;
        let lib = Library::from_playbooks(vec![p]).0;
        let catalog = crate::attack::Catalog::shipped();
        let reply =
            crate::service::playbook::answer(&lib, &catalog, "T1583.007", None, false).unwrap();
        assert!(matches!(reply, Reply::Technique { .. }));
        let text = render(&reply, 80);
        assert_plain(&text);
        assert!(
            text.starts_with("T1583.007 · Acquire Infrastructure: Serverless (MITRE ATT&CK v"),
            "{text}"
        );
        assert!(
            text.contains(
                "Closest playbooks:\n  T1583.003  Acquire Infrastructure: Virtual Private Server\n"
            ),
            "{text}"
        );
    }
}
