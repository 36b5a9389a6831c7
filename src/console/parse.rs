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
        "coverage" => {
            let words: Vec<&str> = rest
                .iter()
                .map(|w| w.strip_prefix("tactic:").unwrap_or(w))
                .filter(|w| !w.is_empty())
                .collect();
            Ok(Line::Command(Command::Coverage {
                tactic: (!words.is_empty()).then(|| words.join(" ")),
            }))
        }
        "incident" | "inc" => {
            let rest = incident_words(&rest)?;
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            incident(&rest).map(|c| Line::Command(Command::Incident(c)))
        }
        "oncall" => {
            let rest = oncall_words(&rest)?;
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            oncall(&rest).map(|c| Line::Command(Command::Oncall(c)))
        }
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

/// The options of each incident subcommand in their console order, as Discord names them.
pub(super) fn incident_slots(sub: &str) -> &'static [&'static str] {
    match sub {
        "open" => &["technique", "title", "alert"],
        "answer" => &["incident", "question", "finding", "note"],
        "note" => &["incident", "text"],
        "escalate" => &["incident", "reason"],
        "playbook" => &["incident", "technique"],
        "close" => &["incident", "resolution", "summary"],
        "list" => &["status"],
        _ => &["incident"],
    }
}

/// Discord-style `key:value` options (`/incident answer incident:INC-1 question:2
/// finding:clear`) turned into the console's positional words; positional words fill the
/// options not named, in order. A value runs until the next `key:` of the same command.
fn incident_words(rest: &[&str]) -> Result<Vec<String>, UserError> {
    let Some((sub, args)) = rest.split_first() else {
        return Ok(Vec::new());
    };
    let sub = sub.to_ascii_lowercase();
    let slots = incident_slots(&sub);
    let mut out = vec![sub.clone()];
    let filled = fill_slots(args, slots)?;
    for (slot, words) in slots.iter().zip(filled) {
        match (*slot, words) {
            // The alert is recognised by its `alert:` prefix.
            ("alert", Some(words)) => out.push(format!("alert:{}", words.join(" "))),
            (_, Some(words)) => out.extend(words),
            (_, None) => break,
        }
    }
    Ok(out)
}

/// `/oncall override:<@123> hours:4 reason:…` (Discord's names) → `override 123 4 …`.
fn oncall_words(rest: &[&str]) -> Result<Vec<String>, UserError> {
    let named = rest.iter().any(|w| {
        ["override:", "hours:", "reason:"]
            .iter()
            .any(|k| w.to_ascii_lowercase().starts_with(k))
    });
    if !named {
        return Ok(rest.iter().map(|w| (*w).to_owned()).collect());
    }
    let filled = fill_slots(rest, &["override", "hours", "reason"])?;
    let mut out = vec!["override".to_owned()];
    for words in filled {
        match words {
            Some(words) => out.extend(words),
            None => break,
        }
    }
    Ok(out)
}

/// Options whose value is free text: given by position, they take the rest of the line.
const FREE_TEXT: [&str; 6] = ["title", "alert", "note", "text", "reason", "summary"];

/// The words of each slot: named ones from `key:value`, the others from the positional words in
/// order; a free-text slot (or the last) takes what is left. An option named twice is an error.
fn fill_slots(args: &[&str], slots: &[&str]) -> Result<Vec<Option<Vec<String>>>, UserError> {
    let mut named: Vec<Option<Vec<String>>> = vec![None; slots.len()];
    let mut positional: Vec<String> = Vec::new();
    let mut current: Option<usize> = None;
    for word in args {
        let key = word
            .split_once(':')
            .and_then(|(k, v)| Some((slots.iter().position(|s| s.eq_ignore_ascii_case(k))?, v)));
        match key {
            Some((i, value)) => {
                if named[i].is_some() {
                    return Err(UserError(format!(
                        "`{}:` is given twice; give it once",
                        slots[i]
                    )));
                }
                named[i] = Some(
                    Some(value.to_owned())
                        .filter(|v| !v.is_empty())
                        .into_iter()
                        .collect(),
                );
                current = Some(i);
            }
            None => match current {
                Some(i) => named[i]
                    .get_or_insert_with(Vec::new)
                    .push((*word).to_owned()),
                None => positional.push((*word).to_owned()),
            },
        }
    }
    let mut positional = positional.into_iter();
    let last = slots.len().saturating_sub(1);
    let filled = named
        .into_iter()
        .enumerate()
        .map(|(i, given)| {
            given.or_else(|| {
                let words: Vec<String> = if i == last || FREE_TEXT.contains(&slots[i]) {
                    positional.by_ref().collect()
                } else {
                    positional.next().into_iter().collect()
                };
                (!words.is_empty()).then_some(words)
            })
        })
        .collect();
    Ok(filled)
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
        "playbook" => IncidentCommand::Playbook {
            incident: id(args.first())?,
            technique: args.get(1).copied().unwrap_or_default().to_owned(),
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
                "say what to do: /incident open|answer|note|escalate|status|list|close|export|ack|playbook"
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

    #[test]
    fn incident_lines_take_discord_style_options() {
        let same = [
            (
                "/incident open technique:T1583.006 title:Burst of new accounts alert:SIEM-42",
                "/incident open T1583.006 Burst of new accounts alert:SIEM-42",
            ),
            (
                "/incident answer incident:INC-3 question:2 finding:concerning note:no ticket",
                "/incident answer INC-3 2 concerning no ticket",
            ),
            (
                "/incident answer INC-3 finding:clear question:2",
                "/incident answer INC-3 2 clear",
            ),
            (
                "/incident close incident:INC-3 resolution:benign summary:backup job",
                "/incident close INC-3 benign backup job",
            ),
            (
                "/incident note incident:4 text:called the user",
                "/incident note 4 called the user",
            ),
            (
                "/incident escalate INC-4 reason:looks bad",
                "/incident escalate INC-4 looks bad",
            ),
            ("/incident status incident:INC-4", "/incident status INC-4"),
            ("/incident list status:open", "/incident list open"),
            (
                "/oncall override:<@42> hours:4 reason:swap",
                "/oncall override 42 4 swap",
            ),
        ];
        for (named, positional) in same {
            assert_eq!(
                parse_line(named).unwrap(),
                parse_line(positional).unwrap(),
                "{named}"
            );
        }
        let twice = parse_line("/incident answer question:1 question:2").unwrap_err();
        assert!(twice.0.contains("given twice"), "{}", twice.0);
    }
}
