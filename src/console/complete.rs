//! Tab completion for console lines: commands, subcommands, option names, sections, findings,
//! resolutions, incident numbers and technique ids (the same autocomplete as Discord). Reads the
//! options and their choices from the one command table, and sorts the words already typed as
//! the parser does. Pure: the technique and incident lists come in as functions.

use super::parse::{CONSOLE_ONLY, place, resolve, sort};
use crate::service::commands::{self as table, Body, Kind, Opt};

/// The console's commands, as typed: the table's, then the console's own.
pub fn commands() -> Vec<String> {
    table::COMMANDS
        .iter()
        .map(|d| format!("/{}", d.name))
        .chain(
            CONSOLE_ONLY
                .iter()
                .filter_map(|(u, _)| u.split_whitespace().next().map(str::to_owned)),
        )
        .collect()
}

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

    /// A whole word: a space follows it, as in a shell (`/incident ` then the subcommand).
    /// An option's `name:` is followed by its value instead.
    fn spaced(mut self) -> Self {
        if !self.replacement.ends_with(':') {
            self.replacement.push(' ');
        }
        self
    }
}

fn spaced(candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.into_iter().map(Candidate::spaced).collect()
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
    let (start, candidates) = words(line, pos, sources);
    (start, spaced(candidates))
}

/// [`complete`]'s candidates as the words alone.
fn words(line: &str, pos: usize, sources: &Sources<'_>) -> (usize, Vec<Candidate>) {
    let pos = floor_char_boundary(line, pos);
    let before = &line[..pos];
    let start = before.rfind(char::is_whitespace).map_or(0, |i| {
        i + before[i..].chars().next().map_or(1, char::len_utf8)
    });
    let word = &before[start..];
    let previous: Vec<&str> = before[..start].split_whitespace().collect();
    let Some((head, args)) = previous.split_first() else {
        return (start, starting_with(commands(), word));
    };
    let head = head.trim_start_matches('/');
    if let Some(group) = table::find(head).filter(|d| matches!(d.body, Body::Group(_)))
        && args.is_empty()
    {
        return (
            start,
            starting_with(group.subs().iter().map(|s| s.name), word),
        );
    }
    let Ok((_, decl, given)) = resolve(head, args) else {
        return (start, Vec::new());
    };
    let opts = decl.options();
    if let Some((key, value)) = word.split_once(':') {
        let candidates = decl
            .option(key)
            .map(|o| values(o, value, sources))
            .unwrap_or_default();
        return (start + key.len() + 1, candidates);
    }
    (start, options(opts, given, word, sources))
}

/// After the words `given`: the values of the option the next word fills, the keyword options
/// not given yet (`private`, `override`), and `name:` for the options not named.
fn options(opts: &[Opt], given: &[&str], word: &str, sources: &Sources<'_>) -> Vec<Candidate> {
    let Ok(mut sorted) = sort(opts, given) else {
        return Vec::new();
    };
    let next = match sorted.open {
        Some((i, _)) => Some(i),
        None => place(opts, &mut sorted),
    };
    let mut out = next
        .map(|i| values(&opts[i], word, sources))
        .unwrap_or_default();
    if sorted.open.is_some() {
        return out;
    }
    let not_given = |i: &usize| sorted.given[*i].is_none();
    let keywords = (0..opts.len())
        .filter(not_given)
        .filter(|&i| opts[i].kind.is_keyword())
        .map(|i| opts[i].name);
    out.extend(starting_with(keywords, word));
    if !word.is_empty() {
        let names = (0..opts.len())
            .filter(not_given)
            .map(|i| format!("{}:", opts[i].name));
        out.extend(starting_with(names, word));
    }
    out
}

/// Values for an option, starting with `typed`.
fn values(opt: &Opt, typed: &str, sources: &Sources<'_>) -> Vec<Candidate> {
    match opt.kind {
        Kind::Technique => techniques(typed, sources),
        Kind::Incident => starting_with((sources.incidents)(), typed),
        Kind::Choice(choices) => starting_with(choices().into_iter().map(|(_, v)| v), typed),
        Kind::Boolean => starting_with(["true", "false"], typed),
        Kind::Text { .. } | Kind::Integer { .. } | Kind::User => Vec::new(),
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
        let words = c.iter().map(|c| c.replacement.trim_end().to_owned());
        (start, words.collect())
    }

    #[test]
    fn a_whole_word_completes_with_the_space_after_it_and_a_name_with_its_colon() {
        let sources = Sources {
            techniques: &techniques,
            incidents: &incidents,
        };
        let replaced = |line: &str| -> Vec<String> {
            let (_, c) = complete(line, line.len(), &sources);
            c.into_iter().map(|c| c.replacement).collect()
        };
        assert_eq!(replaced("/inc"), ["/incident "]);
        assert_eq!(replaced("/incident st"), ["status "]);
        assert_eq!(replaced("/incident answer INC-3 2 conc"), ["concerning "]);
        assert_eq!(replaced("/playbook web"), ["T1583.006 "]);
        assert_eq!(replaced("/oncall ov"), ["override ", "override:"]);
        assert_eq!(replaced("/playbook T1583.006 sec"), ["section:"]);
        let (_, shown) = complete("/inc", 4, &sources);
        assert_eq!(shown[0].display, "/incident");
    }

    #[test]
    fn commands_complete_from_their_first_letters() {
        assert_eq!(run("/in"), (0, vec!["/incident".into()]));
        assert_eq!(run("").1.len(), commands().len());
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
