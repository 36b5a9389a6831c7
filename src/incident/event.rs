//! The events an incident is made of. They are stored durably forever, so their serde form is a
//! contract: an internally tagged `type` in snake_case, fields by name (never by position). Add
//! new variants or optional fields; never rename or remove one.
//!
//! ```json
//! {"at":"2024-05-01T12:00:00Z","actor":{"id":42,"name":"alice"},
//!  "kind":{"type":"answered","question":1,"finding":"concerning","note":"no ticket"}}
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::decision::{Decision, DefaultPolicy};
use super::{ActorRef, Finding, IncidentId, Resolution};
use crate::alert::{AlertStatus, Format, Severity};
use crate::playbook::TechniqueId;

/// One thing that happened to an incident: when, who, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub actor: ActorRef,
    /// A kind this version does not know (written by a newer socbot) is kept as
    /// [`EventKind::Unknown`], never a decode failure.
    #[serde(deserialize_with = "kind_or_unknown")]
    pub kind: EventKind,
}

/// Decodes a known kind as itself and a kind this version has never heard of as
/// [`EventKind::Unknown`] with its JSON. A known kind that does not decode stays an error.
fn kind_or_unknown<'de, D: serde::Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
    let raw = serde_json::Value::deserialize(d)?;
    match EventKind::deserialize(&raw) {
        Ok(kind) => Ok(kind),
        Err(e) => match raw.get("type").and_then(serde_json::Value::as_str) {
            Some(t) if !EventKind::KNOWN.contains(&t) => Ok(EventKind::Unknown { raw }),
            _ => Err(serde::de::Error::custom(e)),
        },
    }
}

impl Event {
    pub fn new(at: DateTime<Utc>, actor: ActorRef, kind: EventKind) -> Self {
        Self { at, actor, kind }
    }

    /// The event stored as `json`: what `serde_json::from_slice::<Event>` gives, in one pass
    /// when its kind is known. (The derived decoding takes every kind through a
    /// `serde_json::Value` first, for the unknown ones: about 2.5× the time.) A kind this
    /// version does not know, or a record that does not decode, takes the derived path, so the
    /// result and the error are that path's.
    pub fn from_json(json: &[u8]) -> serde_json::Result<Self> {
        /// [`Event`]'s fields, its kind decoded directly.
        #[derive(Deserialize)]
        struct Known {
            at: DateTime<Utc>,
            actor: ActorRef,
            kind: EventKind,
        }
        match serde_json::from_slice::<Known>(json) {
            Ok(Known { at, actor, kind }) => Ok(Self { at, actor, kind }),
            Err(_) => serde_json::from_slice(json),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The first event of every incident. It keeps a snapshot of the playbook's questions and
    /// rule, and of the default policy, so editing a playbook or the configuration never changes
    /// a running incident.
    Opened {
        /// The incident number; 0 when the store allocates it in the same transaction (the
        /// store's key is then the authority, see `Incident::from_stored`).
        #[serde(default)]
        id: IncidentId,
        technique: TechniqueId,
        title: String,
        alert: Option<String>,
        playbook_name: String,
        questions: Vec<String>,
        /// The Escalation Rule as written, if the playbook had one that parsed.
        escalation_rule: Option<String>,
        /// The playbook's Decision for Escalation text.
        decision_text: Option<String>,
        /// The default policy in force at open time (used when there is no rule).
        #[serde(default)]
        policy: DefaultPolicy,
        /// The chat channel the incident belongs to (its thread is made there, and its posts
        /// go there should the thread be refused); 0 when unknown.
        #[serde(default)]
        channel: u64,
    },
    /// Question `question` (1-based) answered, or its answer changed.
    Answered {
        question: usize,
        finding: Finding,
        note: Option<String>,
    },
    NoteAdded {
        text: String,
    },
    /// The decision changed kind (escalate / recommend close / pending).
    DecisionChanged {
        decision: Decision,
    },
    /// The incident was escalated (once per incident).
    Escalated {
        reason: EscalationReason,
    },
    /// Where the incident lives in chat: opaque ids (channel, thread, the card message).
    ThreadLinked {
        channel_id: u64,
        thread_id: u64,
        card_message_id: u64,
    },
    /// The thread messages that carry the questions and their answer buttons, in order
    /// (message `i` holds questions `5i+1 ..= 5i+5`).
    QuestionsPosted {
        message_ids: Vec<u64>,
    },
    /// Someone was paged (or re-paged); acknowledge before `deadline`.
    Paged {
        level: PageLevel,
        target: PageTarget,
        attempt: u32,
        deadline: DateTime<Utc>,
    },
    /// The page was acknowledged; the paging chain stops.
    Acknowledged {
        by: ActorRef,
    },
    /// The paging chain stopped without an acknowledgement (incident closed, chain exhausted, …).
    PagingStopped {
        why: String,
    },
    OwnerChanged {
        owner: ActorRef,
    },
    Closed {
        resolution: Resolution,
        summary: Option<String>,
    },
    /// An alert from a monitoring source arrived for this incident: the one that opened it, a
    /// repeat with the same key, a new alert joining a storm incident, or the source saying it
    /// is resolved (which never closes the incident).
    AlertReceived {
        alert: AlertRecord,
        outcome: AlertOutcome,
    },
    /// The alert card (source, severity, host, …, how many alerts came) was posted in the
    /// thread; it is edited in place as repeats arrive.
    AlertCardPosted {
        message_id: u64,
    },
    /// A playbook was attached to an incident that had none (`/incident playbook`): its
    /// questions and rule, snapshotted as at opening.
    PlaybookAttached {
        technique: TechniqueId,
        playbook_name: String,
        questions: Vec<String>,
        escalation_rule: Option<String>,
        decision_text: Option<String>,
    },
    /// An event of a kind this version does not know (written by a newer socbot before a
    /// rollback, or restored from its backup), kept as it was stored. It changes nothing in the
    /// fold and shows in the timeline as unknown.
    Unknown {
        raw: serde_json::Value,
    },
}

impl EventKind {
    /// The `type` names this version knows.
    pub const KNOWN: &[&str] = &[
        "opened",
        "answered",
        "note_added",
        "decision_changed",
        "escalated",
        "thread_linked",
        "questions_posted",
        "paged",
        "acknowledged",
        "paging_stopped",
        "owner_changed",
        "closed",
        "alert_received",
        "alert_card_posted",
        "playbook_attached",
        "unknown",
    ];

    /// The stable `type` name, as stored.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Opened { .. } => "opened",
            Self::Answered { .. } => "answered",
            Self::NoteAdded { .. } => "note_added",
            Self::DecisionChanged { .. } => "decision_changed",
            Self::Escalated { .. } => "escalated",
            Self::ThreadLinked { .. } => "thread_linked",
            Self::QuestionsPosted { .. } => "questions_posted",
            Self::Paged { .. } => "paged",
            Self::Acknowledged { .. } => "acknowledged",
            Self::PagingStopped { .. } => "paging_stopped",
            Self::OwnerChanged { .. } => "owner_changed",
            Self::Closed { .. } => "closed",
            Self::AlertReceived { .. } => "alert_received",
            Self::AlertCardPosted { .. } => "alert_card_posted",
            Self::PlaybookAttached { .. } => "playbook_attached",
            Self::Unknown { .. } => "unknown",
        }
    }
}

/// One alert as recorded on an incident: what the source said, normalised (see
/// `crate::alert::Alert`), and the payload as received for the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The configured source name (`/alerts/<source>`).
    pub source: String,
    pub format: Format,
    pub title: String,
    pub severity: Severity,
    pub status: AlertStatus,
    /// Every ATT&CK technique the alert named, in its order.
    #[serde(default)]
    pub techniques: Vec<TechniqueId>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub rule: Option<String>,
    /// The grouping key the alert was filed under.
    pub key: String,
    /// The alert's JSON as received (up to 64 KiB, see `crate::alert::PAYLOAD_MAX`), kept for
    /// the export; None for repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// `info`, `low`, `medium`, `high`, `critical`.
pub const fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// What an alert did to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertOutcome {
    /// It opened the incident.
    Opened,
    /// A repeat of the alert that opened it (same source and key).
    Grouped,
    /// A new alert that joined the source's storm incident.
    Storm,
    /// The source says the alert is over.
    Resolved,
}

impl AlertOutcome {
    pub const fn key(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Grouped => "grouped",
            Self::Storm => "storm",
            Self::Resolved => "resolved",
        }
    }
}

/// Why an incident was escalated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum EscalationReason {
    /// The decision (rule or default policy) became Escalate; its reasons.
    Decision { reasons: Vec<String> },
    /// An analyst escalated by hand.
    Manual { reason: String },
    /// An alert at or above its source's `escalate_at` severity.
    Alert { source: String, severity: Severity },
}

impl EscalationReason {
    /// One line for people.
    pub fn summary(&self) -> String {
        match self {
            Self::Decision { reasons } => format!("by decision: {}", reasons.join("; ")),
            Self::Manual { reason } => format!("by hand: {reason}"),
            Self::Alert { source, severity } => {
                format!(
                    "by alert: {source} reported severity {}",
                    severity_name(*severity)
                )
            }
        }
    }
}

/// Which step of the escalation chain a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageLevel {
    Primary,
    Secondary,
    Role,
}

impl PageLevel {
    pub const fn label(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Secondary => "secondary",
            Self::Role => "fallback role",
        }
    }
}

/// Whom a page goes to (opaque chat ids): `{"user": 42}` or `{"role": 7}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageTarget {
    User(u64),
    Role(u64),
}

impl std::fmt::Display for PageTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(id) => write!(f, "user {id}"),
            Self::Role(id) => write!(f, "role {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_kind_from_a_newer_socbot_is_kept_as_unknown_and_a_broken_known_kind_is_an_error() {
        let newer = json!({"at": "2026-01-01T00:00:00Z", "actor": {"id": 1, "name": "a"},
            "kind": {"type": "hologram_projected", "beam": 3}});
        let e: Event = serde_json::from_value(newer).unwrap();
        assert_eq!(e.kind.name(), "unknown");
        let EventKind::Unknown { raw } = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(raw["beam"], 3);
        let again: Event = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(again, e, "round-trips as stored");
        let broken = json!({"at": "2026-01-01T00:00:00Z", "actor": {"id": 1, "name": "a"},
            "kind": {"type": "answered", "question": "first"}});
        assert!(serde_json::from_value::<Event>(broken).is_err());
    }

    #[test]
    fn from_json_reads_what_the_derived_decoding_reads_unknown_and_broken_kinds_included() {
        let actor = json!({"id": 42, "name": "alice"});
        let records = [
            json!({"at": "2024-05-01T12:00:00Z", "actor": actor, "kind": {
                "type": "opened", "id": 3, "technique": "T1583.006", "title": "odd VPS",
                "alert": null, "playbook_name": "Web Services", "questions": ["a?", "b?"],
                "escalation_rule": "q1 or q2", "decision_text": null}}),
            json!({"at": "2024-05-01T12:01:00Z", "actor": actor, "kind": {
                "finding": "concerning", "question": 1, "type": "answered", "note": "x"}}),
            json!({"at": "2026-01-01T00:00:00Z", "actor": actor,
                "kind": {"type": "hologram_projected", "beam": 3}}),
            json!({"at": "2026-01-01T00:00:00Z", "actor": actor,
                "kind": {"type": "unknown", "raw": {"type": "hologram_projected"}}}),
            json!({"at": "2026-01-01T00:00:00Z", "actor": actor,
                "kind": {"type": "answered", "question": "first"}}),
            json!({"at": "not a time", "actor": actor, "kind": {"type": "reopened"}}),
        ];
        let mut read = 0;
        for record in records {
            let bytes = serde_json::to_vec(&record).unwrap();
            let derived = serde_json::from_slice::<Event>(&bytes);
            match (Event::from_json(&bytes), derived) {
                (Ok(fast), Ok(derived)) => {
                    assert_eq!(fast, derived, "{record}");
                    read += 1;
                }
                (Err(fast), Err(derived)) => {
                    assert_eq!(fast.to_string(), derived.to_string(), "{record}");
                }
                (fast, derived) => panic!("{record}: {fast:?} but derived {derived:?}"),
            }
        }
        assert_eq!(
            read, 4,
            "two known kinds and two unknown ones read; two errors"
        );
    }

    /// The stored form is a contract: these exact JSON shapes must keep deserialising.
    #[test]
    fn stored_shapes_are_stable() {
        let stored = json!([
            {"at": "2024-05-01T12:00:00Z", "actor": {"id": 42, "name": "alice"}, "kind": {
                "type": "opened", "id": 3, "technique": "T1583.006", "title": "odd VPS",
                "alert": null, "playbook_name": "Web Services", "questions": ["a?", "b?"],
                "escalation_rule": "q1 or q2", "decision_text": null}},
            {"at": "2024-05-01T12:01:00Z", "actor": {"name": "alice", "id": 42}, "kind": {
                "finding": "concerning", "question": 1, "type": "answered", "note": "x"}},
            {"at": "2024-05-01T12:01:00Z", "actor": {"id": 42, "name": "alice"}, "kind": {
                "type": "decision_changed", "decision": {"kind": "escalate", "reasons": ["r"]}}},
            {"at": "2024-05-01T12:01:00Z", "actor": {"id": 42, "name": "alice"}, "kind": {
                "type": "escalated", "reason": {"by": "manual", "reason": "gut"}}},
            {"at": "2024-05-01T12:02:00Z", "actor": {"id": 0, "name": "socbot"}, "kind": {
                "type": "paged", "level": "primary", "target": {"user": 9}, "attempt": 1,
                "deadline": "2024-05-01T12:12:00Z"}},
            {"at": "2024-05-01T12:03:00Z", "actor": {"id": 9, "name": "bob"}, "kind": {
                "type": "acknowledged", "by": {"id": 9, "name": "bob"}}},
            {"at": "2024-05-01T12:04:00Z", "actor": {"id": 9, "name": "bob"}, "kind": {
                "type": "closed", "resolution": "true_positive", "summary": null}},
        ]);
        let events: Vec<Event> = serde_json::from_value(stored).unwrap();
        assert_eq!(events.len(), 7);
        match &events[0].kind {
            EventKind::Opened { policy, id, .. } => {
                assert_eq!(*policy, DefaultPolicy::AnyConcerning);
                assert_eq!(*id, IncidentId(3));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            events[4].kind,
            EventKind::Paged {
                level: PageLevel::Primary,
                target: PageTarget::User(9),
                attempt: 1,
                deadline: at("2024-05-01T12:12:00Z"),
            }
        );
        let back: Vec<Event> =
            serde_json::from_value(serde_json::to_value(&events).unwrap()).unwrap();
        assert_eq!(back, events);
        let v = serde_json::to_value(&events[1]).unwrap();
        assert_eq!(v["kind"]["type"], "answered");
        assert_eq!(v["at"], "2024-05-01T12:01:00Z");
    }

    #[test]
    fn every_kind_names_its_stored_type() {
        let kinds = [
            EventKind::NoteAdded { text: "n".into() },
            EventKind::ThreadLinked {
                channel_id: 1,
                thread_id: 2,
                card_message_id: 3,
            },
            EventKind::PagingStopped { why: "w".into() },
            EventKind::OwnerChanged {
                owner: ActorRef::new(1, "a"),
            },
            EventKind::Escalated {
                reason: EscalationReason::Decision {
                    reasons: vec!["r".into()],
                },
            },
        ];
        for k in kinds {
            let v = serde_json::to_value(&k).unwrap();
            assert_eq!(v["type"], k.name());
        }
    }
}
