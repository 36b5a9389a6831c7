//! `socbot console`: the same commands as in Discord, typed at a terminal prompt, against the
//! configured playbooks. No Discord, no token: the fallback when Discord is down.

use std::io::{BufRead, Write};

use crate::playbook::SectionKind;
use crate::render::terminal;
use crate::service::{Actor, Command, Reply, Service, UserError};

const HELP: &str = "\
Commands (the same as in Discord):
  /playbook <technique> [section] [private]   e.g. /playbook T1583.006 questions
  /playbook technique:<id> section:<name>     Discord-style options work too
  /search <words>                             what autocomplete would offer
  /help                                       this text
  /quit                                       leave (Ctrl-D too)
Sections: log-sources, indicators, questions, escalation, l1-steps, t2-actions, containment";

/// A console line parsed into a command, or a console-only action.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Command(Command),
    Search(String),
    Help,
    Quit,
    Empty,
}

fn parse_line(line: &str) -> Result<Line, UserError> {
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
        "playbook" | "pb" => {
            let (mut technique, mut section, mut private) = (None, None, false);
            for word in rest {
                let (key, value) = word
                    .split_once(':')
                    .map_or((None, word), |(k, v)| (Some(k), v));
                match key {
                    Some("technique") => technique = Some(value.to_owned()),
                    Some("section") => section = Some(value.to_owned()),
                    Some("private") => private = matches!(value, "true" | "yes" | "1"),
                    Some(other) => {
                        return Err(UserError(format!("unknown option `{other}:`; try /help")));
                    }
                    None if value == "private" => private = true,
                    None if technique.is_none() => technique = Some(value.to_owned()),
                    None if section.is_none() => section = Some(value.to_owned()),
                    None => return Err(UserError(format!("unexpected `{value}`; try /help"))),
                }
            }
            let technique = technique
                .ok_or_else(|| UserError("give a technique, e.g. /playbook T1583.006".into()))?;
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
        other => Err(UserError(format!("unknown command `/{other}`; try /help"))),
    }
}

fn render(reply: &Reply, width: usize) -> String {
    match reply {
        Reply::Playbook { view, .. } => {
            let mut out = String::new();
            if let Some(note) = &view.note {
                out.push_str(&format!("note: {note}\n"));
            }
            out.push_str(&terminal::playbook(&view.playbook, view.section, width));
            out
        }
    }
}

/// Reads commands from `input` until end of input or `/quit`, writing answers to `output`.
/// `prompt` is shown before each line (off when input is not a terminal).
pub fn run(
    service: &Service,
    input: impl BufRead,
    mut output: impl Write,
    prompt: bool,
    width: usize,
) -> std::io::Result<()> {
    let actor = Actor::console();
    let library = service.library().current();
    writeln!(
        output,
        "socbot console: {} playbooks loaded. Type /help for commands.",
        library.len()
    )?;
    drop(library);
    let mut lines = input.lines();
    loop {
        if prompt {
            write!(output, "socbot> ")?;
            output.flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        match parse_line(&line) {
            Ok(Line::Empty) => {}
            Ok(Line::Quit) => break,
            Ok(Line::Help) => writeln!(output, "{HELP}")?,
            Ok(Line::Search(words)) => {
                for (label, _) in service.autocomplete_technique(&words, 100) {
                    writeln!(output, "  {label}")?;
                }
            }
            Ok(Line::Command(cmd)) => match service.handle(cmd, &actor) {
                Ok(reply) => write!(output, "{}", render(&reply, width))?,
                Err(UserError(msg)) => writeln!(output, "error: {msg}")?,
            },
            Err(UserError(msg)) => writeln!(output, "error: {msg}")?,
        }
        output.flush()?;
    }
    Ok(())
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
}
