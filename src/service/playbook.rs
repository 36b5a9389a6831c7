//! `/playbook`: look a technique up, say how it was found, and autocomplete.

use crate::playbook::{Library, Lookup, SectionKind};

use super::{PlaybookView, UserError};

/// Resolves what the user typed into a view, or a private error with the closest playbooks.
pub fn view(
    library: &Library,
    technique: &str,
    section: Option<SectionKind>,
) -> Result<PlaybookView, UserError> {
    if technique.trim().is_empty() {
        return Err(UserError("Give a technique id, e.g. `/playbook T1583.006`, or pick one from the list as you type.".into()));
    }
    match library.lookup(technique) {
        Lookup::Found(playbook) => Ok(PlaybookView {
            playbook,
            section,
            note: None,
        }),
        Lookup::Parent { asked, playbook } => {
            let note = format!(
                "There is no playbook for {asked}; this is its parent technique {}.",
                playbook.id
            );
            Ok(PlaybookView {
                playbook,
                section,
                note: Some(note),
            })
        }
        Lookup::NotFound {
            asked,
            valid_id,
            suggestions,
        } => {
            let mut msg = if valid_id {
                format!("There is no playbook for `{asked}`.")
            } else {
                format!(
                    "`{}` is not a technique id (write it like T1583.006).",
                    clip(&asked, 100)
                )
            };
            if library.is_empty() {
                msg.push_str(
                    " No playbook is loaded: check `playbooks.dir` and run `socbot check`.",
                );
            } else if suggestions.is_empty() {
                msg.push_str(" Nothing matches it: type part of an id (T15…) or of a name, and pick from the list.");
            } else {
                msg.push_str(" Closest:\n");
                for s in &suggestions {
                    msg.push_str(&format!("• `{}` {}\n", s.id, s.name));
                }
                msg.push_str("Try one of these, or pick from the list as you type.");
            }
            Err(UserError(msg))
        }
    }
}

/// Up to 25 choices: label `T1583.006 · Acquire Infrastructure: Web Services` within
/// `max_label` characters, value the id.
pub fn autocomplete(library: &Library, typed: &str, max_label: usize) -> Vec<(String, String)> {
    library
        .search(typed, 25)
        .into_iter()
        .map(|p| (clip(&p.label(), max_label), p.id.to_string()))
        .collect()
}

/// Cuts to `max` characters, ending with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
