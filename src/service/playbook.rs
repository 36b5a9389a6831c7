//! `/playbook`: look a technique up, say how it was found, and autocomplete.

use std::sync::Arc;

use serde::Serialize;

use crate::attack::{Catalog, TechniqueInfo};
use crate::playbook::{Library, Lookup, Playbook, SectionKind, TechniqueId};

use super::{PlaybookView, Reply, UserError};

/// What ATT&CK says of a technique this library has no playbook for, with the closest playbooks.
#[derive(Debug, Clone, Serialize)]
pub struct TechniqueAnswer {
    #[serde(flatten)]
    pub info: TechniqueInfo,
    /// Always false: the library has no playbook for it (a parent's playbook is answered as a
    /// playbook instead).
    pub has_playbook: bool,
    /// The closest playbooks, best first.
    pub closest: Vec<(TechniqueId, String)>,
}

impl TechniqueAnswer {
    fn new(info: TechniqueInfo, closest: &[Arc<Playbook>]) -> Self {
        Self {
            info,
            has_playbook: false,
            closest: closest.iter().map(|p| (p.id, p.name.clone())).collect(),
        }
    }

    /// The answer as plain lines for a terminal; `closest` writes one closest playbook's line
    /// from its id and name (the console and `socbot show` set them differently).
    pub fn text(&self, closest: impl Fn(&str, &str) -> String) -> String {
        let i = &self.info;
        let mut out = format!("{} · {} (MITRE ATT&CK v{})\n", i.id, i.name, i.version);
        if let Some(s) = i.status_line() {
            out.push_str(&format!("{s}\n"));
        }
        out.push_str(&format!("Tactics: {}\n", or_none(&i.tactics)));
        out.push_str(&format!("Platforms: {}\n", or_none(&i.platforms)));
        out.push_str(&format!("{}\n", i.url));
        out.push_str("This library has no playbook for it.\n");
        if !self.closest.is_empty() {
            out.push_str("Closest playbooks:\n");
            for (id, name) in &self.closest {
                out.push_str(&closest(&id.to_string(), name));
            }
        }
        out
    }
}

fn or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none listed".into()
    } else {
        list.join(", ")
    }
}

/// `/playbook`: the playbook; for a technique without one, what ATT&CK says of it (or, for a
/// sub-technique, its parent's playbook with a note saying so); else a private error with the
/// closest playbooks.
pub fn answer(
    library: &Library,
    catalog: &Catalog,
    technique: &str,
    section: Option<SectionKind>,
    private: bool,
) -> Result<Reply, UserError> {
    if let Ok(id) = TechniqueId::parse(technique)
        && let Some(t) = catalog.get(id)
    {
        match library.lookup(technique) {
            Lookup::Found(_) => {}
            Lookup::Parent { asked, playbook } => {
                let info = catalog.describe(t);
                let mut note = format!(
                    "There is no playbook for {asked} {} ({}; {}; {}); this is its parent technique {}.",
                    info.name,
                    or_none(&info.tactics),
                    or_none(&info.platforms),
                    info.url,
                    playbook.id
                );
                if let Some(s) = info.status_line() {
                    note.push(' ');
                    note.push_str(&s);
                }
                return Ok(Reply::Playbook {
                    view: PlaybookView {
                        playbook,
                        section,
                        note: Some(note),
                    },
                    private,
                });
            }
            Lookup::NotFound { suggestions, .. } => {
                return Ok(Reply::Technique {
                    answer: TechniqueAnswer::new(catalog.describe(t), &suggestions),
                    private,
                });
            }
        }
    }
    view(library, technique, section)
        .map(|view| Reply::Playbook { view, private })
        .map_err(|UserError(mut msg)| {
            // Words that name ATT&CK techniques without a playbook here: say which.
            if TechniqueId::parse(technique).is_err() {
                let known: Vec<_> = catalog
                    .search(technique, 5)
                    .into_iter()
                    .filter(|t| library.get(t.id).is_none())
                    .take(3)
                    .collect();
                if !known.is_empty() {
                    msg.push_str("\nIn ATT&CK, without a playbook here:\n");
                    for t in known {
                        msg.push_str(&format!("• `{}` {}\n", t.id, catalog.full_name(t)));
                    }
                }
            }
            UserError(msg)
        })
}

/// `/playbook`: its handler.
pub(super) fn command(
    service: &super::Service,
    a: &super::commands::Args,
    _: &super::Origin,
) -> Result<Reply, UserError> {
    answer(
        &service.library().current(),
        service.catalog(),
        &a.required("technique")?,
        a.get("section")?,
        a.flag("private"),
    )
}

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
/// `max_label` characters, value the id. Techniques with a playbook first, then ATT&CK
/// techniques without one, marked `· no playbook`.
pub fn autocomplete(
    library: &Library,
    catalog: &Catalog,
    typed: &str,
    max_label: usize,
) -> Vec<(String, String)> {
    const LIMIT: usize = 25;
    const MARK: &str = " · no playbook";
    let mut out: Vec<(String, String)> = library
        .search(typed, LIMIT)
        .into_iter()
        .map(|p| (clip(&p.label(), max_label), p.id.to_string()))
        .collect();
    if out.len() < LIMIT {
        let room = LIMIT - out.len();
        let extra = catalog
            .search(typed, LIMIT)
            .into_iter()
            .filter(|t| library.get(t.id).is_none())
            .take(room)
            .map(|t| {
                let label = format!("{} · {}", t.id, catalog.full_name(t));
                let keep = max_label.saturating_sub(MARK.chars().count());
                (format!("{}{MARK}", clip(&label, keep)), t.id.to_string())
            });
        out.extend(extra);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn library(id: &str, name: &str) -> Library {
        let md = format!(
            "# {name} - {id}\n\n| Column Name | Value |\n|---|---|\n| MITRE Tactic | Execution |\n| MITRE TTP | {id} |\n| Name | {name} |\n| Questions for Analysis | Did it run? |\n"
        );
        let p = crate::playbook::parser::parse(&md, "t.md")
            .unwrap()
            .playbook;
        Library::from_playbooks(vec![p]).0
    }

    #[test]
    fn a_sub_technique_gets_its_parents_playbook_with_what_attack_says_of_it() {
        let lib = library("T1059", "Command and Scripting Interpreter");
        let catalog = Catalog::shipped();
        let Ok(Reply::Playbook { view, .. }) = answer(&lib, &catalog, "T1059.001", None, false)
        else {
            panic!("the parent's playbook")
        };
        assert_eq!(view.playbook.id.to_string(), "T1059");
        let note = view.note.unwrap();
        assert!(
            note.starts_with("There is no playbook for T1059.001 Command and Scripting Interpreter: PowerShell (Execution; Windows; https://attack.mitre.org/techniques/T1059/001/); this is its parent technique T1059."),
            "{note}"
        );
        // Not in ATT&CK either: as before.
        let Ok(Reply::Playbook { view, .. }) = answer(&lib, &catalog, "T1059.999", None, false)
        else {
            panic!("the parent's playbook")
        };
        assert!(
            view.note
                .unwrap()
                .starts_with("There is no playbook for T1059.999;")
        );
        // Known to ATT&CK, no playbook, no parent's: the technique answer.
        let Ok(Reply::Technique { answer: a, private }) =
            answer(&lib, &catalog, "t1003", None, true)
        else {
            panic!("the technique answer")
        };
        assert!(private);
        assert_eq!(a.info.name, "OS Credential Dumping");
        assert_eq!(a.closest[0].0.to_string(), "T1059");
        assert!(
            a.text(|id, name| format!("{id} {name}\n"))
                .contains("This library has no playbook for it.")
        );
    }

    #[test]
    fn autocomplete_marks_catalog_techniques_and_keeps_labels_within_the_limit() {
        let lib = library("T1059", "Command and Scripting Interpreter");
        let catalog = Catalog::shipped();
        let got = autocomplete(&lib, &catalog, "T1059", 40);
        assert_eq!(got[0].1, "T1059");
        assert!(!got[0].0.contains("no playbook"));
        assert!(got.len() > 1 && got.len() <= 25);
        for (label, value) in &got[1..] {
            assert!(label.ends_with(" · no playbook"), "{label}");
            assert!(label.chars().count() <= 40, "{label}");
            assert!(value.starts_with("T1059."), "{value}");
        }
    }
}
