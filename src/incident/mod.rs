//! Incidents, event-sourced: an incident is the fold of its events (opened, answered, noted,
//! decided, escalated, paged, acknowledged, closed, …), each with who and when. The escalation
//! decision, the commands, the audit timeline and the export all come from the same events.
//!
//! Pure code over plain data: no Discord, no storage, no async, no clock. Time is passed in.
//!
//! - [`event`]: the durable event types (stable serde names: stored forever).
//! - [`state`]: [`Incident`], the fold of the events.
//! - [`decision`]: the escalation decision (Escalation Rule in three-valued logic, else the
//!   default policy).
//! - [`command`]: the commands (`open`, `answer`, `add_note`, `escalate_manually`, `close`,
//!   `acknowledge`, `link_thread`): pure functions from the current state to new events, or a
//!   [`DomainError`] that says how to fix the request.
//! - [`export`]: the markdown report and the JSON export.

pub mod alert;
pub mod command;
pub mod decision;
pub mod event;
pub mod export;
pub mod state;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use command::{
    ALERT_MAX, DomainError, NOTE_MAX, REASON_MAX, SUMMARY_MAX, TITLE_MAX, acknowledge, add_note,
    answer, attach_playbook, close, escalate_manually, link_thread, open,
};
pub use decision::{
    Decision, DecisionKind, DefaultPolicy, decide, decide_kind, kind_changed, rule_text,
};
pub use event::{
    AlertOutcome, AlertRecord, EscalationReason, Event, EventKind, PageLevel, PageTarget,
};
pub use state::{
    Acknowledgement, AlertLog, Answer, Closure, Escalation, FoldError, Incident, IncidentStatus,
    NO_TECHNIQUE, Note, Page, PagingStop, Status, ThreadLink,
};

/// Why a typed value is not valid; the message lists what is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not {what}: {expected}")]
pub struct ParseError {
    /// What was expected, with its article (`an incident id`).
    pub what: &'static str,
    pub input: String,
    /// The valid forms.
    pub expected: &'static str,
}

impl ParseError {
    fn new(what: &'static str, input: &str, expected: &'static str) -> Self {
        Self {
            what,
            input: input.trim().to_owned(),
            expected,
        }
    }
}

/// Lower-cases and turns `_` and spaces into `-`, for forgiving keyword parsing.
fn keyword(input: &str) -> String {
    input.trim().to_lowercase().replace(['_', ' '], "-")
}

/// An incident number, shown as `INC-<n>`. Numbers are unique and never reused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct IncidentId(pub u64);

impl IncidentId {
    /// Accepts `INC-12`, `inc-12`, `INC12`, `#12` and `12`, with spaces around.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim();
        let digits = match s.get(..3) {
            Some(p) if p.eq_ignore_ascii_case("inc") => {
                let rest = &s[3..];
                rest.strip_prefix('-').unwrap_or(rest)
            }
            _ => s.strip_prefix('#').unwrap_or(s),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new(
                "an incident id",
                input,
                "write INC- and the number, e.g. INC-12 (or just 12)",
            ));
        }
        digits.parse().map(Self).map_err(|_| {
            ParseError::new(
                "an incident id",
                input,
                "the number is too large; write e.g. INC-12",
            )
        })
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

impl FromStr for IncidentId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What an analyst found for one analysis question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Concerning,
    Clear,
    Unknown,
}

impl Finding {
    pub const ALL: [Finding; 3] = [Self::Concerning, Self::Clear, Self::Unknown];

    /// `concerning|clear|unknown`, any case.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match keyword(input).as_str() {
            "concerning" => Ok(Self::Concerning),
            "clear" => Ok(Self::Clear),
            "unknown" => Ok(Self::Unknown),
            _ => Err(ParseError::new(
                "a finding",
                input,
                "use concerning, clear or unknown",
            )),
        }
    }

    /// `Concerning`, `Clear`, `Unknown`: for people.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Concerning => "Concerning",
            Self::Clear => "Clear",
            Self::Unknown => "Unknown",
        }
    }

    /// `concerning`, `clear`, `unknown`: for commands and button ids.
    pub const fn key(self) -> &'static str {
        match self {
            Self::Concerning => "concerning",
            Self::Clear => "clear",
            Self::Unknown => "unknown",
        }
    }

    /// The value in the Escalation Rule's three-valued logic: Concerning is true, Clear is
    /// false, Unknown is unknown.
    pub const fn truth(self) -> Option<bool> {
        match self {
            Self::Concerning => Some(true),
            Self::Clear => Some(false),
            Self::Unknown => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Finding {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// How an incident was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    TruePositive,
    FalsePositive,
    Benign,
    Duplicate,
}

impl Resolution {
    pub const ALL: [Resolution; 4] = [
        Self::TruePositive,
        Self::FalsePositive,
        Self::Benign,
        Self::Duplicate,
    ];

    /// `true-positive|false-positive|benign|duplicate`, any case, `_` or space for `-`.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match keyword(input).as_str() {
            "true-positive" => Ok(Self::TruePositive),
            "false-positive" => Ok(Self::FalsePositive),
            "benign" => Ok(Self::Benign),
            "duplicate" => Ok(Self::Duplicate),
            _ => Err(ParseError::new(
                "a resolution",
                input,
                "use true-positive, false-positive, benign or duplicate",
            )),
        }
    }

    /// `true positive`, …: for people.
    pub const fn label(self) -> &'static str {
        match self {
            Self::TruePositive => "true positive",
            Self::FalsePositive => "false positive",
            Self::Benign => "benign",
            Self::Duplicate => "duplicate",
        }
    }

    /// `true-positive`, …: for commands.
    pub const fn key(self) -> &'static str {
        match self {
            Self::TruePositive => "true-positive",
            Self::FalsePositive => "false-positive",
            Self::Benign => "benign",
            Self::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Resolution {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Who did something: an opaque user id (a Discord user id in the bot; 0 for socbot itself and
/// the person at the console: stored events keep the number) and the name shown at the time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActorRef {
    pub id: u64,
    pub name: String,
}

impl ActorRef {
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
        }
    }

    /// socbot itself: timers, the paging chain, the outbox worker.
    pub fn system() -> Self {
        Self::new(0, "socbot")
    }

    pub fn is_system(&self) -> bool {
        self.id == 0
    }
}

impl fmt::Display for ActorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_parse_what_people_type() {
        for form in ["INC-12", "inc-12", "12", " INC-12 ", "Inc12", "#12"] {
            assert_eq!(IncidentId::parse(form), Ok(IncidentId(12)), "{form}");
        }
        assert_eq!(IncidentId(12).to_string(), "INC-12");
        assert_eq!("INC-7".parse::<IncidentId>(), Ok(IncidentId(7)));
        for bad in [
            "",
            "INC-",
            "INC-x",
            "12a",
            "-3",
            "INC--3",
            "T1583",
            "99999999999999999999",
        ] {
            let e = IncidentId::parse(bad).unwrap_err().to_string();
            assert!(e.contains("INC-12"), "{bad}: {e}");
        }
        assert_eq!(serde_json::to_string(&IncidentId(5)).unwrap(), "5");
    }

    #[test]
    fn findings_and_resolutions_parse_and_label() {
        for f in Finding::ALL {
            assert_eq!(Finding::parse(f.key()), Ok(f));
            assert_eq!(Finding::parse(&f.label().to_uppercase()), Ok(f));
        }
        assert_eq!(Finding::Concerning.truth(), Some(true));
        assert_eq!(Finding::Clear.truth(), Some(false));
        assert_eq!(Finding::Unknown.truth(), None);
        let e = Finding::parse("maybe").unwrap_err().to_string();
        assert!(e.contains("concerning, clear or unknown"), "{e}");

        for r in Resolution::ALL {
            assert_eq!(Resolution::parse(r.key()), Ok(r));
            assert_eq!(Resolution::parse(r.label()), Ok(r));
        }
        assert_eq!(
            Resolution::parse("False_Positive"),
            Ok(Resolution::FalsePositive)
        );
        let e = Resolution::parse("fixed").unwrap_err().to_string();
        assert!(e.contains("true-positive, false-positive, benign or duplicate"));
        assert_eq!(
            serde_json::to_string(&Resolution::TruePositive).unwrap(),
            "\"true_positive\""
        );
    }

    #[test]
    fn actors() {
        assert!(ActorRef::system().is_system());
        assert_eq!(ActorRef::new(7, "alice").to_string(), "alice");
    }
}
