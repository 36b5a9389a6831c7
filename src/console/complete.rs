//! Tab completion for console lines: commands, subcommands, option names, sections, findings,
//! resolutions, incident numbers and technique ids (the same autocomplete as Discord). Pure: the
//! technique and incident lists come in as functions.

use super::parse::incident_slots;
use crate::incident::{Finding, IncidentStatus, Resolution};
use crate::playbook::SectionKind;

/// The console's commands, as typed.
pub const COMMANDS: [&str; 7] = [
    "/playbook",
    "/coverage",
    "/search",
    "/incident",
    "/oncall",
    "/help",
    "/quit",
];

/// `/incident` subcommands.
pub const INCIDENT_SUBCOMMANDS: [&str; 10] = [
    "open", "answer", "note", "escalate", "status", "list", "close", "export", "ack", "playbook",
];

/// One completion: what the list shows and what replaces the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub display: String,
    pub replacement: String,
}

impl Candidate {
    fn same(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            display: text.clone(),
            replacement: text,
        }
    }
}

/// Where completion gets what changes at run time.
pub struct Sources<'a> {
    /// `(label, id)` pairs for typed words, best first (the Discord autocomplete).
    pub techniques: &'a dyn Fn(&str) -> Vec<(String, String)>,
    /// Incident numbers worth offering (`INC-12`), open ones first.
    pub incidents: &'a dyn Fn() -> Vec<String>,
}

/// Completes the word ending at byte `pos` of `line`: where the word starts and the candidates.
pub fn complete(line: &str, pos: usize, sources: &Sources<'_>) -> (usize, Vec<Candidate>) {
    let pos = floor_char_boundary(line, pos);
    let before = &line[..pos];
    let start = before.rfind(char::is_whitespace).map_or(0, |i| {
        i + before[i..].chars().next().map_or(1, char::len_utf8)
    });
    let word = &before[start..];
    let previous: Vec<&str> = before[..start].split_whitespace().collect();
    let Some((head, args)) = previous.split_first() else {
        return (start, starting_with(COMMANDS, word));
    };
    let command = head.trim_start_matches('/').to_ascii_lowercase();
    if let Some((key, value)) = word.split_once(':') {
        let value_start = start + key.len() + 1;
        return (
            value_start,
            values(&key.to_ascii_lowercase(), value, sources),
        );
    }
    let candidates = match command.as_str() {
        "playbook" | "pb" => playbook(args.len(), word, sources),
        "incident" | "inc" => incident(args, word, sources),
        "oncall" if args.is_empty() => starting_with(["override"], word),
        "coverage" if args.is_empty() => starting_with(
            crate::attack::Catalog::shipped()
                .tactics
                .iter()
                .map(|t| t.shortname.clone()),
            word,
        ),
        _ => Vec::new(),
    };
    (start, candidates)
}

fn playbook(position: usize, word: &str, sources: &Sources<'_>) -> Vec<Candidate> {
    match position {
        0 => techniques(word, sources),
        1 => sections(word),
        2 => starting_with(["private"], word),
        _ => Vec::new(),
    }
}

fn incident(args: &[&str], word: &str, sources: &Sources<'_>) -> Vec<Candidate> {
    let Some((sub, given)) = args.split_first() else {
        return starting_with(INCIDENT_SUBCOMMANDS, word);
    };
    let slots = incident_slots(&sub.to_ascii_lowercase());
    // Positional words fill the options not named, in order.
    let named: Vec<&str> = given
        .iter()
        .filter_map(|w| w.split_once(':').map(|(k, _)| k))
        .collect();
    let mut open_slots = slots.iter().filter(|s| !named.contains(s));
    let positional = given.iter().filter(|w| !w.contains(':')).count();
    let mut out = match open_slots.nth(positional) {
        Some(slot) => values(slot, word, sources),
        None => Vec::new(),
    };
    let names = slots
        .iter()
        .filter(|s| !named.contains(s))
        .map(|s| format!("{s}:"));
    out.extend(
        starting_with(names, word)
            .into_iter()
            .filter(|_| !word.is_empty()),
    );
    out
}

/// Values for an option named `key`, starting with `typed`.
fn values(key: &str, typed: &str, sources: &Sources<'_>) -> Vec<Candidate> {
    match key {
        "technique" => techniques(typed, sources),
        "section" => sections(typed),
        "incident" => starting_with((sources.incidents)(), typed),
        "finding" => starting_with(Finding::ALL.map(|f| f.key()), typed),
        "resolution" => starting_with(Resolution::ALL.map(|r| r.key()), typed),
        "status" => starting_with(IncidentStatus::ALL.map(|s| s.key()), typed),
        "private" => starting_with(["true", "false"], typed),
        _ => Vec::new(),
    }
}

fn techniques(typed: &str, sources: &Sources<'_>) -> Vec<Candidate> {
    (sources.techniques)(typed)
        .into_iter()
        .map(|(label, id)| Candidate {
            display: label,
            replacement: id,
        })
        .collect()
}

fn sections(typed: &str) -> Vec<Candidate> {
    starting_with(SectionKind::KNOWN.map(|k| k.key()), typed)
}

fn starting_with<S: AsRef<str>>(
    options: impl IntoIterator<Item = S>,
    typed: &str,
) -> Vec<Candidate> {
    let typed = typed.to_ascii_lowercase();
    options
        .into_iter()
        .filter(|o| o.as_ref().to_ascii_lowercase().starts_with(&typed))
        .map(|o| Candidate::same(o.as_ref()))
        .collect()
}

fn floor_char_boundary(s: &str, mut pos: usize) -> usize {
    pos = pos.min(s.len());
    while !s.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn techniques(typed: &str) -> Vec<(String, String)> {
        [
            ("T1583.006 Web Services", "T1583.006"),
            ("T1059 Command", "T1059"),
        ]
        .into_iter()
        .filter(|(label, _)| label.to_lowercase().contains(&typed.to_lowercase()))
        .map(|(l, i)| (l.to_owned(), i.to_owned()))
        .collect()
    }

    fn incidents() -> Vec<String> {
        vec!["INC-3".into(), "INC-12".into()]
    }

    fn run(line: &str) -> (usize, Vec<String>) {
        let sources = Sources {
            techniques: &techniques,
            incidents: &incidents,
        };
        let (start, c) = complete(line, line.len(), &sources);
        (start, c.into_iter().map(|c| c.replacement).collect())
    }

    #[test]
    fn commands_complete_from_their_first_letters() {
        assert_eq!(run("/in"), (0, vec!["/incident".into()]));
        assert_eq!(run("").1.len(), COMMANDS.len());
    }

    #[test]
    fn a_technique_completes_to_its_id_from_a_name() {
        assert_eq!(run("/playbook web"), (10, vec!["T1583.006".into()]));
        assert_eq!(
            run("/playbook T1583.006 que"),
            (20, vec!["questions".into()])
        );
    }

    #[test]
    fn incident_subcommands_then_their_options_in_order() {
        assert_eq!(run("/incident an").1, ["answer"]);
        assert_eq!(run("/incident answer ").1, ["INC-3", "INC-12"]);
        assert_eq!(run("/incident answer INC-3 2 c").1, ["concerning", "clear"]);
        assert_eq!(run("/incident close INC-3 fa").1, ["false-positive"]);
        assert_eq!(run("/incident open Comm").1, ["T1059"]);
        assert_eq!(run("/incident list o").1, ["open"]);
    }

    #[test]
    fn named_options_complete_their_values_after_the_colon() {
        assert_eq!(
            run("/incident answer finding:u"),
            (25, vec!["unknown".into()])
        );
        assert_eq!(run("/incident status incident:INC-1").1, ["INC-12"]);
        assert_eq!(run("/playbook section:con").1, ["containment"]);
    }

    #[test]
    fn a_named_option_does_not_take_a_positional_slot() {
        assert_eq!(
            run("/incident answer incident:INC-3 ").1,
            Vec::<String>::new()
        );
        assert_eq!(run("/incident answer incident:INC-3 2 cl").1, ["clear"]);
    }

    #[test]
    fn completion_inside_a_multibyte_word_never_panics() {
        let line = "/incident open T1059 café";
        let sources = Sources {
            techniques: &techniques,
            incidents: &incidents,
        };
        for pos in 0..=line.len() + 2 {
            let _ = complete(line, pos, &sources);
        }
    }
}
