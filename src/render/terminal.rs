//! A playbook laid out for a terminal: a header, then each section as a wrapped paragraph and a
//! numbered list. Nothing is cut: long words overflow rather than being split.

use std::fmt::Write as _;

use super::inline::code_to_backticks;
use crate::playbook::{Playbook, Section, SectionKind};

/// Wraps `text` to `width` columns, each line starting with `indent`, continuation lines with
/// `hang`. Keeps the author's line breaks.
pub fn wrap(text: &str, width: usize, indent: &str, hang: &str) -> String {
    let mut out = String::new();
    let mut first_line = true;
    for para in text.split('\n') {
        let mut line = String::from(if first_line { indent } else { hang });
        let mut empty = true;
        first_line = false;
        for word in para.split_whitespace() {
            let len = line.chars().count();
            if !empty && len + 1 + word.chars().count() > width {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::from(hang);
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One section: its title, lead paragraph and numbered items.
pub fn section(s: &Section, width: usize) -> String {
    let mut out = format!("## {}\n", s.title);
    if let Some(lead) = &s.lead {
        out.push_str(&wrap(&code_to_backticks(lead), width, "", ""));
    }
    let numbered = s.kind == SectionKind::Questions;
    for (i, item) in s.items.iter().enumerate() {
        let marker = if numbered {
            format!("q{}. ", i + 1)
        } else {
            format!("{}. ", i + 1)
        };
        let hang = " ".repeat(marker.len());
        out.push_str(&wrap(&code_to_backticks(item), width, &marker, &hang));
    }
    out
}

/// The whole playbook, or only the sections given.
pub fn playbook(p: &Playbook, only: Option<SectionKind>, width: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {} · {}", p.id, p.name);
    let _ = writeln!(
        out,
        "Tactics: {}",
        if p.tactics.is_empty() {
            "—".into()
        } else {
            p.tactics.join(", ")
        }
    );
    let _ = writeln!(out, "ATT&CK:  {}", p.id.attack_url());
    if let Some(rule) = &p.escalation_rule {
        let _ = writeln!(out, "Escalation rule: {rule}");
    }
    let _ = writeln!(out, "Source:  {}", p.source);
    for s in p
        .sections
        .iter()
        .filter(|s| only.is_none_or(|k| s.kind == k))
    {
        out.push('\n');
        out.push_str(&section(s, width));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_with_a_hanging_indent_and_loses_no_word() {
        let text = "alpha beta gamma delta epsilon zeta eta theta";
        let out = wrap(text, 16, "1. ", "   ");
        assert!(out.lines().all(|l| l.chars().count() <= 16), "{out}");
        assert!(out.starts_with("1. alpha beta\n   gamma"));
        assert_eq!(
            out.split_whitespace()
                .filter(|w| *w != "1.")
                .collect::<Vec<_>>()
                .join(" "),
            text
        );
    }
}
