//! [`Incident`]: the fold of an incident's events. Replaying the same events always gives the
//! same incident; nothing here reads a clock or judges a command (that is [`super::command`]).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::decision::{Decision, DecisionKind, DefaultPolicy, decide, decide_kind};
use super::event::{
    AlertOutcome, AlertRecord, EscalationReason, Event, EventKind, PageLevel, PageTarget,
};
use super::{ActorRef, Finding, IncidentId, ParseError, Resolution};
use crate::id::DiscordId;
use crate::playbook::{Rule, TechniqueId};

/// The latest answer to one question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub finding: Finding,
    pub note: Option<String>,
    pub by: ActorRef,
    pub at: DateTime<Utc>,
}

/// A free-text note in the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
    pub by: ActorRef,
    pub at: DateTime<Utc>,
}

/// Where the incident lives in chat (opaque ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadLink {
    pub channel_id: u64,
    pub thread_id: u64,
    pub card_message_id: u64,
}

/// When and why the incident was escalated (the first time; there is only one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub at: DateTime<Utc>,
    pub by: ActorRef,
    pub reason: EscalationReason,
}

/// The current step of the paging chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub level: PageLevel,
    pub target: PageTarget,
    pub attempt: u32,
    pub deadline: DateTime<Utc>,
    /// When the first page of the chain went out.
    pub first_paged_at: DateTime<Utc>,
    /// When this step went out.
    pub paged_at: DateTime<Utc>,
    /// How many pages (all levels, all attempts) have gone out.
    pub pages_sent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: ActorRef,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagingStop {
    pub why: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub resolution: Resolution,
    pub summary: Option<String>,
    pub by: ActorRef,
    pub at: DateTime<Utc>,
}

/// The technique of an incident opened by an alert that named none (ATT&CK ids start at
/// T1001, so it is never a real one); shown as `no technique`.
pub const NO_TECHNIQUE: TechniqueId = TechniqueId::new(0, None);

/// How many storm members an incident keeps listed (the count goes on).
pub const STORM_LISTED: usize = 50;

/// The alerts behind an incident a monitoring source opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLog {
    pub source: String,
    /// The alert that opened the incident.
    pub first: AlertRecord,
    /// The latest alert (a repeat, a storm member or a resolution).
    pub last: AlertRecord,
    /// Firing alerts received, the first included.
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When the source last said the alert is over (None once it fires again).
    pub resolved_at: Option<DateTime<Utc>>,
    /// A storm incident: it collects a flooding source's new alerts.
    pub storm: bool,
    /// Alerts that joined the storm: when, and their title; the latest [`STORM_LISTED`].
    pub members: Vec<(DateTime<Utc>, String)>,
    /// The thread message showing the alerts, edited in place.
    pub card_message: Option<u64>,
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Open,
    Escalated,
    Closed { resolution: Resolution },
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open => f.write_str("open"),
            Self::Escalated => f.write_str("escalated"),
            Self::Closed { resolution } => write!(f, "closed ({resolution})"),
        }
    }
}

/// The `/incident list [open|escalated|closed]` filter. The three are exclusive: an escalated
/// incident is listed under `escalated`, not `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Escalated,
    Closed,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 3] = [Self::Open, Self::Escalated, Self::Closed];

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match super::keyword(input).as_str() {
            "open" => Ok(Self::Open),
            "escalated" => Ok(Self::Escalated),
            "closed" => Ok(Self::Closed),
            _ => Err(ParseError::new(
                "an incident status",
                input,
                "use open, escalated or closed",
            )),
        }
    }

    pub const fn key(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Escalated => "escalated",
            Self::Closed => "closed",
        }
    }

    pub fn matches(self, status: Status) -> bool {
        matches!(
            (self, status),
            (Self::Open, Status::Open)
                | (Self::Escalated, Status::Escalated)
                | (Self::Closed, Status::Closed { .. })
        )
    }
}

impl std::str::FromStr for IncidentStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Event history that cannot be folded into an incident.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("an incident needs at least its `opened` event; got no events")]
    Empty,
    #[error("an incident's first event must be `opened`, not `{found}`")]
    NotOpenedFirst { found: &'static str },
    #[error("{id} is already opened; a second `opened` event cannot be applied")]
    OpenedTwice { id: IncidentId },
    #[error("events stored under {stored} open {opened}; the history belongs to another incident")]
    IdMismatch {
        stored: IncidentId,
        opened: IncidentId,
    },
    #[error("{id} has {count} questions; an answer to question {question} cannot be applied")]
    QuestionOutOfRange {
        id: IncidentId,
        question: usize,
        count: usize,
    },
}

/// An incident: the fold of its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: IncidentId,
    pub technique: TechniqueId,
    pub title: String,
    pub alert: Option<String>,
    pub playbook_name: String,
    /// The analysis questions as they were at open time (`q1` is the first).
    pub questions: Vec<String>,
    /// The Escalation Rule as written in the playbook at open time.
    pub escalation_rule: Option<String>,
    /// `escalation_rule`, parsed.
    pub rule: Option<Rule>,
    /// The playbook's Decision for Escalation text.
    pub decision_text: Option<String>,
    /// The default policy snapshotted at open time (used when there is no rule).
    pub policy: DefaultPolicy,
    /// The chat channel the incident belongs to (None: unknown, stored as 0); see
    /// `EventKind::Opened`.
    pub channel: Option<DiscordId>,
    pub opened_at: DateTime<Utc>,
    pub opened_by: ActorRef,
    /// The latest answer per question (`answers[0]` is q1's); always `questions.len()` long.
    pub answers: Vec<Option<Answer>>,
    /// How many answers were given in all, changes included.
    pub answer_history: usize,
    pub notes: Vec<Note>,
    pub status: Status,
    /// The last decision recorded (`DecisionChanged`); None until the first change from
    /// pending. [`Incident::evaluate`] gives the current decision with fresh reasons.
    pub decision: Option<Decision>,
    pub escalation: Option<Escalation>,
    pub owner: Option<ActorRef>,
    pub thread: Option<ThreadLink>,
    /// The thread messages holding the questions (see `EventKind::QuestionsPosted`).
    pub question_messages: Vec<u64>,
    pub page: Option<Page>,
    pub acknowledged: Option<Acknowledgement>,
    pub paging_stopped: Option<PagingStop>,
    pub closed: Option<Closure>,
    /// Every ATT&CK technique the incident is about: its playbook's and every alert's, in
    /// order, without repeats.
    pub techniques: Vec<TechniqueId>,
    /// The alerts of an incident a monitoring source opened; None when opened by hand.
    pub alerts: Option<AlertLog>,
    /// Time of the last event.
    pub updated_at: DateTime<Utc>,
    /// How many events were folded (the store can use it as a version).
    pub version: u64,
}

impl Incident {
    /// Folds an incident's whole history, oldest first.
    pub fn from_events(events: &[Event]) -> Result<Incident, FoldError> {
        let (first, rest) = events.split_first().ok_or(FoldError::Empty)?;
        let mut incident = Self::opened(first)?;
        for e in rest {
            incident.apply(e)?;
        }
        Ok(incident)
    }

    /// Folds a history stored under `id`. The store's key is the authority: an `opened` event
    /// written before the store allocated the number carries `IncidentId(0)` and takes `id`;
    /// any other number must match.
    pub fn from_stored(id: IncidentId, events: &[Event]) -> Result<Incident, FoldError> {
        let mut incident = Self::from_events(events)?;
        if incident.id != id && incident.id != IncidentId(0) {
            return Err(FoldError::IdMismatch {
                stored: id,
                opened: incident.id,
            });
        }
        incident.id = id;
        Ok(incident)
    }

    fn opened(e: &Event) -> Result<Incident, FoldError> {
        let EventKind::Opened {
            id,
            technique,
            title,
            alert,
            playbook_name,
            questions,
            escalation_rule,
            decision_text,
            policy,
            channel,
        } = &e.kind
        else {
            return Err(FoldError::NotOpenedFirst {
                found: e.kind.name(),
            });
        };
        // The rule was stored only after it parsed, so this parses; should a future parser
        // refuse it, the incident still loads and the default policy decides.
        let rule = escalation_rule.as_deref().and_then(|s| Rule::parse(s).ok());
        Ok(Incident {
            id: *id,
            technique: *technique,
            title: title.clone(),
            alert: alert.clone(),
            playbook_name: playbook_name.clone(),
            questions: questions.clone(),
            escalation_rule: escalation_rule.clone(),
            rule,
            decision_text: decision_text.clone(),
            policy: *policy,
            channel: DiscordId::new(*channel),
            opened_at: e.at,
            opened_by: e.actor.clone(),
            answers: vec![None; questions.len()],
            answer_history: 0,
            notes: Vec::new(),
            status: Status::Open,
            decision: None,
            escalation: None,
            owner: None,
            thread: None,
            question_messages: Vec::new(),
            page: None,
            acknowledged: None,
            paging_stopped: None,
            closed: None,
            techniques: if *technique == NO_TECHNIQUE {
                Vec::new()
            } else {
                vec![*technique]
            },
            alerts: None,
            updated_at: e.at,
            version: 1,
        })
    }

    /// Applies one more event. On error the incident is unchanged.
    pub fn apply(&mut self, e: &Event) -> Result<(), FoldError> {
        match &e.kind {
            EventKind::Opened { .. } => return Err(FoldError::OpenedTwice { id: self.id }),
            EventKind::Answered {
                question,
                finding,
                note,
            } => self.record_answer(e, *question, *finding, note.as_ref())?,
            EventKind::NoteAdded { text } => self.notes.push(Note {
                text: text.clone(),
                by: e.actor.clone(),
                at: e.at,
            }),
            EventKind::DecisionChanged { decision } => self.decision = Some(decision.clone()),
            EventKind::Escalated { reason } => self.escalated(e, reason),
            EventKind::ThreadLinked {
                channel_id,
                thread_id,
                card_message_id,
            } => {
                self.thread = Some(ThreadLink {
                    channel_id: *channel_id,
                    thread_id: *thread_id,
                    card_message_id: *card_message_id,
                })
            }
            EventKind::QuestionsPosted { message_ids } => {
                self.question_messages.clone_from(message_ids);
            }
            EventKind::Paged {
                level,
                target,
                attempt,
                deadline,
            } => self.paged(e.at, *level, *target, *attempt, *deadline),
            EventKind::Acknowledged { by } => {
                let at = e.at;
                let by = by.clone();
                self.acknowledged.get_or_insert(Acknowledgement { by, at });
            }
            EventKind::PagingStopped { why } => {
                let (why, at) = (why.clone(), e.at);
                self.paging_stopped.get_or_insert(PagingStop { why, at });
            }
            EventKind::OwnerChanged { owner } => self.owner = Some(owner.clone()),
            EventKind::Closed {
                resolution,
                summary,
            } => self.closed(e, *resolution, summary.as_ref()),
            // Written by a newer socbot: kept, and changes nothing this version knows of.
            EventKind::Unknown { .. } => {}
            EventKind::AlertReceived { alert, outcome } => {
                self.alert_received(e.at, alert, *outcome)
            }
            EventKind::AlertCardPosted { message_id } => {
                if let Some(log) = &mut self.alerts {
                    log.card_message = Some(*message_id);
                }
            }
            EventKind::PlaybookAttached {
                technique,
                playbook_name,
                questions,
                escalation_rule,
                decision_text,
            } => self.playbook_attached(
                *technique,
                playbook_name,
                questions,
                escalation_rule.as_ref(),
                decision_text,
            ),
        }
        self.updated_at = self.updated_at.max(e.at);
        self.version += 1;
        Ok(())
    }

    fn add_techniques(&mut self, ids: &[TechniqueId]) {
        for id in ids {
            if *id != NO_TECHNIQUE && !self.techniques.contains(id) {
                self.techniques.push(*id);
            }
        }
    }

    fn record_answer(
        &mut self,
        e: &Event,
        question: usize,
        finding: Finding,
        note: Option<&String>,
    ) -> Result<(), FoldError> {
        let slot = question
            .checked_sub(1)
            .and_then(|i| self.answers.get_mut(i))
            .ok_or(FoldError::QuestionOutOfRange {
                id: self.id,
                question,
                count: self.questions.len(),
            })?;
        *slot = Some(Answer {
            finding,
            note: note.cloned(),
            by: e.actor.clone(),
            at: e.at,
        });
        self.answer_history += 1;
        Ok(())
    }

    fn escalated(&mut self, e: &Event, reason: &EscalationReason) {
        if self.escalation.is_none() {
            self.escalation = Some(Escalation {
                at: e.at,
                by: e.actor.clone(),
                reason: reason.clone(),
            });
        }
        if self.status == Status::Open {
            self.status = Status::Escalated;
        }
    }

    fn paged(
        &mut self,
        at: DateTime<Utc>,
        level: PageLevel,
        target: PageTarget,
        attempt: u32,
        deadline: DateTime<Utc>,
    ) {
        let (first_paged_at, pages_sent) = self
            .page
            .as_ref()
            .map_or((at, 0), |p| (p.first_paged_at, p.pages_sent));
        self.page = Some(Page {
            level,
            target,
            attempt,
            deadline,
            first_paged_at,
            paged_at: at,
            pages_sent: pages_sent + 1,
        });
    }

    fn closed(&mut self, e: &Event, resolution: Resolution, summary: Option<&String>) {
        self.status = Status::Closed { resolution };
        self.closed = Some(Closure {
            resolution,
            summary: summary.cloned(),
            by: e.actor.clone(),
            at: e.at,
        });
    }

    /// The incident follows another playbook: its questions start afresh.
    fn playbook_attached(
        &mut self,
        technique: TechniqueId,
        playbook_name: &str,
        questions: &[String],
        escalation_rule: Option<&String>,
        decision_text: &Option<String>,
    ) {
        self.technique = technique;
        playbook_name.clone_into(&mut self.playbook_name);
        self.questions = questions.to_vec();
        self.answers = vec![None; questions.len()];
        self.escalation_rule = escalation_rule.cloned();
        self.rule = escalation_rule.and_then(|s| Rule::parse(s).ok());
        self.decision_text.clone_from(decision_text);
        self.question_messages.clear();
        self.add_techniques(&[technique]);
    }

    fn alert_received(&mut self, at: DateTime<Utc>, alert: &AlertRecord, outcome: AlertOutcome) {
        self.add_techniques(&alert.techniques);
        let firing = outcome != AlertOutcome::Resolved;
        let Some(log) = &mut self.alerts else {
            let storm = outcome == AlertOutcome::Storm;
            self.alerts = Some(AlertLog {
                source: alert.source.clone(),
                first: alert.clone(),
                last: alert.clone(),
                count: u64::from(firing),
                first_seen: at,
                last_seen: at,
                resolved_at: (!firing).then_some(at),
                storm,
                members: if storm {
                    vec![(at, alert.title.clone())]
                } else {
                    Vec::new()
                },
                card_message: None,
            });
            return;
        };
        log.last = AlertRecord {
            payload: None,
            ..alert.clone()
        };
        if firing {
            log.count += 1;
            log.last_seen = log.last_seen.max(at);
            log.resolved_at = None;
        } else {
            log.resolved_at = Some(at);
        }
        if outcome == AlertOutcome::Storm {
            log.members.push((at, alert.title.clone()));
            if log.members.len() > STORM_LISTED {
                log.members.remove(0);
            }
        }
    }

    /// Whether the incident follows a playbook (one opened by an alert may not, until
    /// `/incident playbook` attaches one).
    pub fn has_playbook(&self) -> bool {
        !self.playbook_name.is_empty()
    }

    /// The technique for people: its id, or `no technique`.
    pub fn technique_text(&self) -> String {
        if self.technique == NO_TECHNIQUE {
            "no technique".to_owned()
        } else {
            self.technique.to_string()
        }
    }

    /// Applies events in order (stops at the first that cannot be applied).
    pub fn apply_all(&mut self, events: &[Event]) -> Result<(), FoldError> {
        events.iter().try_for_each(|e| self.apply(e))
    }

    /// A copy with `events` applied: the state a command's events lead to.
    pub fn with(&self, events: &[Event]) -> Result<Incident, FoldError> {
        let mut next = self.clone();
        next.apply_all(events)?;
        Ok(next)
    }

    /// The decision the current answers give, with fresh reasons (what `/incident status`
    /// shows). The same function the commands use to record `DecisionChanged`.
    pub fn evaluate(&self) -> Decision {
        decide(
            self.questions.len(),
            self.rule.as_ref(),
            self.policy,
            &self.answers,
        )
    }

    /// The kind of [`Self::evaluate`]'s decision, without wording its reasons.
    pub fn evaluate_kind(&self) -> DecisionKind {
        decide_kind(
            self.questions.len(),
            self.rule.as_ref(),
            self.policy,
            &self.answers,
        )
    }

    /// The kind of the last recorded decision (pending before any).
    pub fn decision_kind(&self) -> DecisionKind {
        self.decision
            .as_ref()
            .map_or(DecisionKind::Pending, Decision::kind)
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.status, Status::Closed { .. })
    }

    pub fn is_escalated(&self) -> bool {
        self.escalation.is_some()
    }

    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.closed.as_ref().map(|c| c.at)
    }

    pub fn escalated_at(&self) -> Option<DateTime<Utc>> {
        self.escalation.as_ref().map(|e| e.at)
    }

    /// The latest answer to question `q` (1-based).
    pub fn answer(&self, q: usize) -> Option<&Answer> {
        q.checked_sub(1)
            .and_then(|i| self.answers.get(i))
            .and_then(Option::as_ref)
    }

    /// How many questions have an answer (Unknown included).
    pub fn answered(&self) -> usize {
        self.answers.iter().flatten().count()
    }

    /// A page went out and nobody has acknowledged it, paging was not stopped and the incident
    /// is not closed: the paging chain is running. One open page per incident.
    pub fn paging_open(&self) -> bool {
        self.page.is_some()
            && self.acknowledged.is_none()
            && self.paging_stopped.is_none()
            && !self.is_closed()
    }

    /// The acknowledgement deadline while the paging chain is running.
    pub fn page_deadline(&self) -> Option<DateTime<Utc>> {
        self.page
            .as_ref()
            .filter(|_| self.paging_open())
            .map(|p| p.deadline)
    }

    /// `T1583.006 · Acquire Infrastructure: Web Services`
    pub fn technique_label(&self) -> String {
        if self.has_playbook() {
            format!("{} · {}", self.technique_text(), self.playbook_name)
        } else {
            format!("{} · no playbook", self.technique_text())
        }
    }

    /// The thread name: `INC-<n> · <technique> · <title>`, cut to 100 characters (Discord's
    /// limit) with `…`.
    pub fn thread_name(&self) -> String {
        let full = format!("{} · {} · {}", self.id, self.technique_text(), self.title);
        if full.chars().count() <= 100 {
            return full;
        }
        let mut cut: String = full.chars().take(99).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        cut
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::Duration;

    pub(crate) fn t(min: i64) -> DateTime<Utc> {
        "2024-05-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(min)
    }

    pub(crate) fn alice() -> ActorRef {
        ActorRef::new(11, "alice")
    }

    pub(crate) fn bob() -> ActorRef {
        ActorRef::new(22, "bob")
    }

    pub(crate) fn opened(rule: Option<&str>) -> Event {
        Event::new(
            t(0),
            alice(),
            EventKind::Opened {
                id: IncidentId(7),
                technique: TechniqueId::parse("T1583.006").unwrap(),
                title: "New cloud accounts".into(),
                alert: Some("SIEM: 14 accounts created in 3 minutes".into()),
                playbook_name: "Acquire Infrastructure: Web Services".into(),
                questions: vec![
                    "Is there a business need?".into(),
                    "Do access patterns deviate?".into(),
                    "Do connections match usage?".into(),
                ],
                escalation_rule: rule.map(str::to_owned),
                decision_text: Some("Escalate when there is no justification.".into()),
                policy: DefaultPolicy::AnyConcerning,
                channel: 0,
            },
        )
    }

    fn ev(min: i64, who: ActorRef, kind: EventKind) -> Event {
        Event::new(t(min), who, kind)
    }

    // A fixture: one incident's whole history, event after event, read best in one piece.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn full_history() -> Vec<Event> {
        vec![
            opened(Some("q1 or (q2 and q3)")),
            ev(
                1,
                ActorRef::system(),
                EventKind::ThreadLinked {
                    channel_id: 100,
                    thread_id: 200,
                    card_message_id: 300,
                },
            ),
            ev(
                2,
                alice(),
                EventKind::Answered {
                    question: 1,
                    finding: Finding::Clear,
                    note: None,
                },
            ),
            ev(
                3,
                alice(),
                EventKind::Answered {
                    question: 1,
                    finding: Finding::Concerning,
                    note: Some("new account with no ticket".into()),
                },
            ),
            ev(
                3,
                alice(),
                EventKind::DecisionChanged {
                    decision: Decision::Escalate {
                        reasons: vec!["rule q1 or (q2 and q3) is certainly true".into()],
                    },
                },
            ),
            ev(
                3,
                alice(),
                EventKind::Escalated {
                    reason: EscalationReason::Decision {
                        reasons: vec!["rule q1 or (q2 and q3) is certainly true".into()],
                    },
                },
            ),
            ev(
                4,
                ActorRef::system(),
                EventKind::Paged {
                    level: PageLevel::Primary,
                    target: PageTarget::User(22),
                    attempt: 1,
                    deadline: t(14),
                },
            ),
            ev(
                14,
                ActorRef::system(),
                EventKind::Paged {
                    level: PageLevel::Primary,
                    target: PageTarget::User(22),
                    attempt: 2,
                    deadline: t(24),
                },
            ),
            ev(
                15,
                bob(),
                EventKind::NoteAdded {
                    text: "looking".into(),
                },
            ),
            ev(16, bob(), EventKind::Acknowledged { by: bob() }),
            ev(16, bob(), EventKind::OwnerChanged { owner: bob() }),
            ev(
                30,
                bob(),
                EventKind::Closed {
                    resolution: Resolution::TruePositive,
                    summary: Some("contained".into()),
                },
            ),
        ]
    }

    #[test]
    fn a_stored_home_channel_of_0_reads_as_none() {
        // Opened at the console with no SOC channel: stored as 0 (as always), folded into None.
        let text = serde_json::to_string(&opened(None)).unwrap();
        assert!(text.contains("\"channel\":0"), "{text}");
        let back: Event = serde_json::from_str(&text).unwrap();
        let inc = Incident::from_stored(IncidentId(7), &[back]).unwrap();
        assert_eq!(inc.channel, None);
        let homed = text.replace("\"channel\":0", "\"channel\":900");
        let back: Event = serde_json::from_str(&homed).unwrap();
        let inc = Incident::from_stored(IncidentId(7), &[back]).unwrap();
        assert_eq!(inc.channel, DiscordId::new(900));
    }

    #[test]
    fn fold_of_a_whole_history() {
        let events = full_history();
        let inc = Incident::from_events(&events).unwrap();
        assert_eq!(inc.id, IncidentId(7));
        assert_eq!(inc.version, events.len() as u64);
        assert_eq!(inc.questions.len(), 3);
        assert_eq!(inc.rule, Some(Rule::parse("q1 or (q2 and q3)").unwrap()));
        assert_eq!(inc.answer(1).unwrap().finding, Finding::Concerning);
        assert_eq!(
            inc.answer(1).unwrap().note.as_deref(),
            Some("new account with no ticket")
        );
        assert_eq!(inc.answer(2), None);
        assert_eq!(inc.answered(), 1);
        assert_eq!(inc.answer_history, 2);
        assert_eq!(inc.decision_kind(), DecisionKind::Escalate);
        assert_eq!(inc.escalated_at(), Some(t(3)));
        assert_eq!(
            inc.thread,
            Some(ThreadLink {
                channel_id: 100,
                thread_id: 200,
                card_message_id: 300
            })
        );
        let page = inc.page.as_ref().unwrap();
        assert_eq!((page.attempt, page.pages_sent), (2, 2));
        assert_eq!(page.first_paged_at, t(4));
        assert_eq!(inc.acknowledged.as_ref().unwrap().by, bob());
        assert_eq!(inc.owner, Some(bob()));
        assert_eq!(inc.notes.len(), 1);
        assert_eq!(
            inc.status,
            Status::Closed {
                resolution: Resolution::TruePositive
            }
        );
        assert_eq!(inc.closed_at(), Some(t(30)));
        assert_eq!(inc.updated_at, t(30));
        assert!(!inc.paging_open());
        assert!(IncidentStatus::Closed.matches(inc.status));
        assert!(!IncidentStatus::Open.matches(inc.status));
    }

    #[test]
    fn fold_round_trips_through_json() {
        let events = full_history();
        let stored: Vec<String> = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let back: Vec<Event> = stored
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect();
        assert_eq!(back, events);
        // The store's own decoding too: the kept incidents take the events as written for
        // what a read from the store would decode.
        let decoded: Vec<Event> = stored
            .iter()
            .map(|s| Event::from_json(s.as_bytes()).unwrap())
            .collect();
        assert_eq!(decoded, events);
        assert_eq!(
            Incident::from_events(&back).unwrap(),
            Incident::from_events(&events).unwrap()
        );
        // Folding step by step gives the same as folding at once.
        let mut inc = Incident::from_events(&events[..1]).unwrap();
        for e in &back[1..] {
            inc.apply(e).unwrap();
        }
        assert_eq!(inc, Incident::from_events(&events).unwrap());
    }

    #[test]
    fn paging_state_while_the_chain_runs() {
        let events = full_history();
        let inc = Incident::from_events(&events[..7]).unwrap();
        assert!(inc.paging_open());
        assert_eq!(inc.page_deadline(), Some(t(14)));
        assert_eq!(inc.status, Status::Escalated);
        assert!(IncidentStatus::Escalated.matches(inc.status));
        let mut stopped = inc.clone();
        stopped
            .apply(&ev(
                8,
                ActorRef::system(),
                EventKind::PagingStopped {
                    why: "chain exhausted".into(),
                },
            ))
            .unwrap();
        assert!(!stopped.paging_open());
        assert_eq!(stopped.page_deadline(), None);
    }

    #[test]
    fn bad_histories_are_refused() {
        assert_eq!(Incident::from_events(&[]), Err(FoldError::Empty));
        let note = ev(1, alice(), EventKind::NoteAdded { text: "x".into() });
        assert_eq!(
            Incident::from_events(std::slice::from_ref(&note)),
            Err(FoldError::NotOpenedFirst {
                found: "note_added"
            })
        );
        let mut inc = Incident::from_events(&[opened(None)]).unwrap();
        let before = inc.clone();
        assert_eq!(
            inc.apply(&opened(None)),
            Err(FoldError::OpenedTwice { id: IncidentId(7) })
        );
        let bad = ev(
            1,
            alice(),
            EventKind::Answered {
                question: 4,
                finding: Finding::Clear,
                note: None,
            },
        );
        let e = inc.apply(&bad).unwrap_err();
        assert!(e.to_string().contains("has 3 questions"), "{e}");
        let zero = ev(
            1,
            alice(),
            EventKind::Answered {
                question: 0,
                finding: Finding::Clear,
                note: None,
            },
        );
        assert!(inc.apply(&zero).is_err());
        assert_eq!(inc, before);
    }

    #[test]
    fn stored_histories_take_the_store_key() {
        let mut events = full_history();
        assert_eq!(
            Incident::from_stored(IncidentId(7), &events).unwrap(),
            Incident::from_events(&events).unwrap()
        );
        assert_eq!(
            Incident::from_stored(IncidentId(8), &events),
            Err(FoldError::IdMismatch {
                stored: IncidentId(8),
                opened: IncidentId(7)
            })
        );
        if let EventKind::Opened { id, .. } = &mut events[0].kind {
            *id = IncidentId(0);
        }
        assert_eq!(
            Incident::from_stored(IncidentId(8), &events).unwrap().id,
            IncidentId(8)
        );
        // A stored `opened` without an id reads as 0.
        let mut v = serde_json::to_value(&events[0]).unwrap();
        v["kind"].as_object_mut().unwrap().remove("id");
        let e: Event = serde_json::from_value(v).unwrap();
        assert_eq!(
            Incident::from_stored(IncidentId(9), &[e]).unwrap().id,
            IncidentId(9)
        );
    }

    #[test]
    fn fresh_incident() {
        let inc = Incident::from_events(&[opened(None)]).unwrap();
        assert_eq!(inc.status, Status::Open);
        assert!(IncidentStatus::Open.matches(inc.status));
        assert_eq!(inc.rule, None);
        assert_eq!(inc.answers, vec![None, None, None]);
        assert_eq!(inc.evaluate().waiting_on(), [1, 2, 3]);
        assert_eq!(inc.decision_kind(), DecisionKind::Pending);
        assert!(!inc.paging_open());
        assert_eq!(inc.thread_name(), "INC-7 · T1583.006 · New cloud accounts");
    }

    #[test]
    fn thread_names_fit_discord() {
        let mut inc = Incident::from_events(&[opened(None)]).unwrap();
        inc.title = "é".repeat(200);
        let name = inc.thread_name();
        assert_eq!(name.chars().count(), 100);
        assert!(name.ends_with('…'));
    }

    #[test]
    fn status_filters_parse() {
        for s in IncidentStatus::ALL {
            assert_eq!(IncidentStatus::parse(s.key()), Ok(s));
        }
        assert_eq!(
            IncidentStatus::parse(" Closed "),
            Ok(IncidentStatus::Closed)
        );
        let e = IncidentStatus::parse("done").unwrap_err().to_string();
        assert!(e.contains("open, escalated or closed"));
        assert_eq!(
            Status::Closed {
                resolution: Resolution::Benign
            }
            .to_string(),
            "closed (benign)"
        );
    }
}
