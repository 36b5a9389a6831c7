//! The typed playbook: what the parser produces and every adapter renders.

use serde::Serialize;

use super::id::TechniqueId;
use super::rule::Rule;

/// One triage playbook for one technique.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Playbook {
    pub id: TechniqueId,
    /// From the Name row (the heading is only a fallback).
    pub name: String,
    /// From the MITRE Tactic row, which may list several.
    pub tactics: Vec<String>,
    /// The analysis questions, one question each, in order (`q1` is the first).
    pub questions: Vec<String>,
    /// The text sections in file order: the seven known ones, then rows the parser did not know.
    pub sections: Vec<Section>,
    /// The optional machine-checkable `Escalation Rule` row, as written.
    pub escalation_rule: Option<String>,
    /// The parsed rule (None when absent).
    #[serde(skip)]
    pub rule: Option<Rule>,
    /// Where the playbook was read from (path as given to the parser).
    pub source: String,
    /// The line of the row that gave the technique id (for diagnostics that name this file).
    #[serde(skip)]
    pub id_line: usize,
}

/// Most analysis questions a playbook may have: an incident asks each one with its own answer
/// buttons, and a chat shows that many in two messages.
pub const MAX_QUESTIONS: usize = 10;

/// One row of the table, rendered as a section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    #[serde(skip)]
    pub kind: SectionKind,
    pub title: String,
    /// Prose, or the sentence that introduces the list.
    pub lead: Option<String>,
    /// List items, in order.
    pub items: Vec<String>,
    /// Line of the row in the source file.
    #[serde(skip)]
    pub line: usize,
}

/// The sections socbot knows, in the order the format lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    LogSources,
    KeyIndicators,
    Questions,
    EscalationDecision,
    L1Steps,
    T2Actions,
    Containment,
    /// A row the parser does not know, kept as written.
    Extra,
}

impl SectionKind {
    pub const KNOWN: [SectionKind; 7] = [
        Self::LogSources,
        Self::KeyIndicators,
        Self::Questions,
        Self::EscalationDecision,
        Self::L1Steps,
        Self::T2Actions,
        Self::Containment,
    ];

    /// The row title in the markdown table.
    pub const fn row_title(self) -> &'static str {
        match self {
            Self::LogSources => "Log Sources to Investigate",
            Self::KeyIndicators => "Key Indicators",
            Self::Questions => "Questions for Analysis",
            Self::EscalationDecision => "Decision for Escalation",
            Self::L1Steps => "Additional Analysis Steps for L1",
            Self::T2Actions => "T2 Analyst Actions",
            Self::Containment => "Containment and Further Analysis",
            Self::Extra => "",
        }
    }

    /// The short key used by `--section` and the `/playbook section:` choice.
    pub const fn key(self) -> &'static str {
        match self {
            Self::LogSources => "log-sources",
            Self::KeyIndicators => "indicators",
            Self::Questions => "questions",
            Self::EscalationDecision => "escalation",
            Self::L1Steps => "l1-steps",
            Self::T2Actions => "t2-actions",
            Self::Containment => "containment",
            Self::Extra => "extra",
        }
    }

    pub fn from_row_title(title: &str) -> Option<Self> {
        Self::KNOWN
            .into_iter()
            .find(|k| k.row_title().eq_ignore_ascii_case(title))
    }

    /// Accepts a key (`questions`), a row title, or a unique prefix of either.
    pub fn from_user(input: &str) -> Option<Self> {
        let want = input.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        if want.is_empty() {
            return None;
        }
        let exact = Self::KNOWN.into_iter().find(|k| {
            k.key() == want || k.row_title().to_ascii_lowercase().replace(' ', "-") == want
        });
        exact.or_else(|| {
            let mut hits = Self::KNOWN.into_iter().filter(|k| {
                k.key().starts_with(&want)
                    || k.row_title()
                        .to_ascii_lowercase()
                        .replace(' ', "-")
                        .starts_with(&want)
            });
            let first = hits.next()?;
            hits.next().is_none().then_some(first)
        })
    }
}

impl Playbook {
    /// The section of that kind, if the playbook has it.
    pub fn section(&self, kind: SectionKind) -> Option<&Section> {
        self.sections.iter().find(|s| s.kind == kind)
    }

    /// `T1583.006 · Acquire Infrastructure: Web Services`
    pub fn label(&self) -> String {
        format!("{} · {}", self.id, self.name)
    }
}
