//! Console lines → commands: `/playbook T1583.006 questions` or Discord-style `key:value`.

use crate::incident::{Finding, IncidentId, IncidentStatus, Resolution};
use crate::playbook::SectionKind;
use crate::service::{Command, IncidentCommand, OncallCommand, UserError};

/// A console line parsed into a command, or a console-only action.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Command(Command),
    Search(String),
    Help,
    Quit,
    Empty,
}

fn err(e: impl std::fmt::Display) -> UserError {
    UserError(format!("{e}; try /help"))
}

pub fn parse_line(line: &str) -> Result<Line, UserError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Line::Empty);
    }
    let mut words = line.split_whitespace();
    let head = words
        .next()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    match head.as_str() {
        "help" | "?" => Ok(Line::Help),
        "quit" | "exit" | "q" => Ok(Line::Quit),
        "search" => Ok(Line::Search(rest.join(" "))),
        "playbook" | "pb" => playbook(&rest),
        "incident" | "inc" => incident(&rest).map(|c| Line::Command(Command::Incident(c))),
        "oncall" => oncall(&rest).map(|c| Line::Command(Command::Oncall(c))),
        other => Err(UserError(format!("unknown command `/{other}`; try /help"))),
    }
}

fn playbook(rest: &[&str]) -> Result<Line, UserError> {
    let (mut technique, mut section, mut private) = (None, None, false);
    for word in rest {
        let (key, value) = word
            .split_once(':')
            .map_or((None, *word), |(k, v)| (Some(k), v));
        match key {
            Some("technique") => technique = Some(value.to_owned()),
            Some("section") => section = Some(value.to_owned()),
            Some("private") => private = matches!(value, "true" | "yes" | "1"),
            Some(other) => return Err(UserError(format!("unknown option `{other}:`; try /help"))),
            None if value == "private" => private = true,
            None if technique.is_none() => technique = Some(value.to_owned()),
            None if section.is_none() => section = Some(value.to_owned()),
            None => return Err(UserError(format!("unexpected `{value}`; try /help"))),
        }
    }
    let technique =
        technique.ok_or_else(|| UserError("give a technique, e.g. /playbook T1583.006".into()))?;
    let section = match section {
        None => None,
        Some(s) => Some(SectionKind::from_user(&s).ok_or_else(|| {
            let keys: Vec<_> = SectionKind::KNOWN.iter().map(|k| k.key()).collect();
            UserError(format!("no section `{s}`; use one of: {}", keys.join(", ")))
        })?),
    };
    Ok(Line::Command(Command::Playbook {
        technique,
        section,
        private,
    }))
}

fn oncall(rest: &[&str]) -> Result<OncallCommand, UserError> {
    match rest.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        None => Ok(OncallCommand::Show { at: None }),
        Some("override") => {
            let user = rest
                .get(1)
                .map(|u| u.trim_start_matches("<@").trim_end_matches('>'))
                .and_then(|u| u.parse().ok())
                .ok_or_else(|| {
                    UserError(
                        "give a Discord user id: /oncall override <user id> [hours] [reason]"
                            .into(),
                    )
                })?;
            let hours = match rest.get(2) {
                None => 12,
                Some(h) => h
                    .parse()
                    .map_err(|_| UserError(format!("`{h}` is not a number of hours")))?,
            };
            Ok(OncallCommand::Override {
                user,
                hours,
                reason: text(rest.get(3..).unwrap_or_default()),
            })
        }
        Some(at) => {
            let at = chrono::DateTime::parse_from_rfc3339(at).map_err(|_| {
                UserError(format!("`{at}` is not a time like 2026-11-23T09:00:00Z"))
            })?;
            Ok(OncallCommand::Show {
                at: Some(at.to_utc()),
            })
        }
    }
}

fn text(words: &[&str]) -> Option<String> {
    let t = words.join(" ");
    (!t.trim().is_empty()).then_some(t)
}

fn id(word: Option<&&str>) -> Result<Option<IncidentId>, UserError> {
    let w = word.ok_or_else(|| UserError("name the incident, e.g. INC-1".into()))?;
    IncidentId::parse(w).map(Some).map_err(err)
}

fn incident(rest: &[&str]) -> Result<IncidentCommand, UserError> {
    let sub = rest
        .first()
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let args = rest.get(1..).unwrap_or_default();
    Ok(match sub.as_str() {
        "open" => {
            let technique = args
                .first()
                .ok_or_else(|| UserError("give a technique and a title".into()))?
                .to_string();
            let body = args.get(1..).unwrap_or_default().join(" ");
            let (title, alert) = match body.split_once("alert:") {
                Some((t, a)) => (t.trim().to_owned(), Some(a.trim().to_owned())),
                None => (body.trim().to_owned(), None),
            };
            IncidentCommand::Open {
                technique,
                title,
                alert,
            }
        }
        "answer" => {
            let question = args
                .get(1)
                .map(|q| q.trim_start_matches(['q', 'Q']))
                .and_then(|q| q.parse().ok())
                .ok_or_else(|| {
                    UserError(
                        "give the question number, e.g. /incident answer INC-1 2 concerning".into(),
                    )
                })?;
            let finding = Finding::parse(args.get(2).copied().unwrap_or_default()).map_err(err)?;
            IncidentCommand::Answer {
                incident: id(args.first())?,
                question,
                finding,
                note: text(args.get(3..).unwrap_or_default()),
                via_button: false,
            }
        }
        "note" => IncidentCommand::Note {
            incident: id(args.first())?,
            text: text(&args[1.min(args.len())..]).unwrap_or_default(),
        },
        "escalate" => IncidentCommand::Escalate {
            incident: id(args.first())?,
            reason: text(&args[1.min(args.len())..]).unwrap_or_default(),
        },
        "status" => IncidentCommand::Status {
            incident: id(args.first())?,
        },
        "ack" => IncidentCommand::Ack {
            incident: id(args.first())?,
        },
        "export" => IncidentCommand::Export {
            incident: id(args.first())?,
        },
        "list" => IncidentCommand::List {
            filter: args
                .first()
                .map(|s| IncidentStatus::parse(s))
                .transpose()
                .map_err(err)?,
        },
        "close" => IncidentCommand::Close {
            incident: id(args.first())?,
            resolution: Resolution::parse(args.get(1).copied().unwrap_or_default()).map_err(err)?,
            summary: text(args.get(2..).unwrap_or_default()),
        },
        "" => {
            return Err(UserError(
                "say what to do: /incident open|answer|note|escalate|status|list|close|export"
                    .into(),
            ));
        }
        other => {
            return Err(UserError(format!(
                "`/incident {other}` is not a command; try /help"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_option_styles_parse() {
        let want = Line::Command(Command::Playbook {
            technique: "T1583.006".into(),
            section: Some(SectionKind::Questions),
            private: false,
        });
        assert_eq!(parse_line("/playbook T1583.006 questions").unwrap(), want);
        assert_eq!(
            parse_line("/playbook technique:T1583.006 section:questions").unwrap(),
            want
        );
        assert!(
            parse_line("/playbook T1583.006 nonsense")
                .unwrap_err()
                .0
                .contains("use one of")
        );
        assert!(parse_line("/frobnicate").unwrap_err().0.contains("/help"));
    }

    #[test]
    fn incident_lines_parse() {
        let Line::Command(Command::Incident(IncidentCommand::Answer {
            incident,
            question,
            finding,
            note,
            ..
        })) = parse_line("/incident answer INC-3 q2 concerning no ticket for it").unwrap()
        else {
            panic!("not an answer")
        };
        assert_eq!(
            (incident, question, finding),
            (Some(IncidentId(3)), 2, Finding::Concerning)
        );
        assert_eq!(note.as_deref(), Some("no ticket for it"));
        let Line::Command(Command::Incident(IncidentCommand::Open { title, alert, .. })) =
            parse_line("/incident open T1583.006 Burst of new accounts alert:SIEM-42").unwrap()
        else {
            panic!("not an open")
        };
        assert_eq!(
            (title.as_str(), alert.as_deref()),
            ("Burst of new accounts", Some("SIEM-42"))
        );
        assert!(parse_line("/incident answer INC-3 two clear").is_err());
    }
}
