//! The incident commands: pure functions from the current state (and who, and when) to the new
//! events, or a [`DomainError`] whose message tells the user how to fix the request. They never
//! mutate: the caller stores the events (one transaction) and folds them in
//! ([`Incident::with`]). An empty list of events means "nothing to do" (an idempotent repeat).

use chrono::{DateTime, Utc};

use super::decision::{DefaultPolicy, rule_text};
use super::event::{EscalationReason, Event, EventKind};
use super::state::Incident;
use super::{ActorRef, Finding, IncidentId, Resolution};
use crate::playbook::{Playbook, Rule, SectionKind};

/// Longest incident title, in characters.
pub const TITLE_MAX: usize = 200;
/// Longest alert text, in characters.
pub const ALERT_MAX: usize = 2000;
/// Longest note (on an answer or on its own), in characters.
pub const NOTE_MAX: usize = 1000;
/// Longest manual escalation reason, in characters.
pub const REASON_MAX: usize = 500;
/// Longest closing summary, in characters.
pub const SUMMARY_MAX: usize = 1000;

/// A command that cannot be carried out, with a message for the user that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error(
        "{id} is closed ({resolution}) and can no longer be changed; open a new incident if the activity continues"
    )]
    Closed {
        id: IncidentId,
        resolution: Resolution,
    },
    #[error("{id} is already closed ({resolution}) by {by} at {}", utc(.at))]
    AlreadyClosed {
        id: IncidentId,
        resolution: Resolution,
        by: String,
        at: DateTime<Utc>,
    },
    #[error("{id} has no question {question}; {}", valid_questions(*.count))]
    QuestionOutOfRange {
        id: IncidentId,
        question: usize,
        count: usize,
    },
    #[error("the {what} is empty; {hint}")]
    Empty {
        what: &'static str,
        hint: &'static str,
    },
    #[error("the {what} is {len} characters long; the limit is {max}, please shorten it")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "{id} is already escalated (since {} by {by}); it escalates and pages once. Add context with a note instead",
        utc(.at)
    )]
    AlreadyEscalated {
        id: IncidentId,
        by: String,
        at: DateTime<Utc>,
    },
    #[error("{id} has not been escalated and has paged no one, so there is nothing to acknowledge")]
    NothingToAcknowledge { id: IncidentId },
    #[error("{id} already follows playbook {technique} · {name}; its questions are in its thread")]
    HasPlaybook {
        id: IncidentId,
        technique: crate::playbook::TechniqueId,
        name: String,
    },
}

fn utc(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn valid_questions(count: usize) -> String {
    match count {
        0 => "this incident has no analysis questions".to_owned(),
        1 => "the only question is 1".to_owned(),
        n => format!("choose a question from 1 to {n}"),
    }
}

/// Trims; `None` when nothing is left; refuses text over `max` characters.
fn optional_text(
    text: Option<&str>,
    what: &'static str,
    max: usize,
) -> Result<Option<String>, DomainError> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let len = t.chars().count();
    if len > max {
        return Err(DomainError::TooLong { what, len, max });
    }
    Ok(Some(t.to_owned()))
}

/// Trims and refuses empty text or text over `max` characters.
fn required_text(
    text: &str,
    what: &'static str,
    hint: &'static str,
    max: usize,
) -> Result<String, DomainError> {
    optional_text(Some(text), what, max)?.ok_or(DomainError::Empty { what, hint })
}

fn not_closed(inc: &Incident) -> Result<(), DomainError> {
    match &inc.closed {
        Some(c) => Err(DomainError::Closed {
            id: inc.id,
            resolution: c.resolution,
        }),
        None => Ok(()),
    }
}

/// The playbook's Decision for Escalation row as plain text: the lead, then one `- item` a line.
fn decision_text(playbook: &Playbook) -> Option<String> {
    let s = playbook.section(SectionKind::EscalationDecision)?;
    let mut lines: Vec<String> = s.lead.iter().cloned().collect();
    lines.extend(s.items.iter().map(|i| format!("- {i}")));
    let text = lines.join("\n");
    (!text.trim().is_empty()).then_some(text)
}

/// Opens incident `id` from `playbook`: snapshots its questions, rule and Decision for
/// Escalation text, and the default policy. The title is made one line (1 to 200 characters);
/// the alert is optional (up to 2000).
pub fn open(
    id: IncidentId,
    playbook: &Playbook,
    title: &str,
    alert: Option<&str>,
    policy: DefaultPolicy,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    let one_line = title.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = required_text(
        &one_line,
        "title",
        "give the incident a short title (1 to 200 characters)",
        TITLE_MAX,
    )?;
    let alert = optional_text(alert, "alert", ALERT_MAX)?;
    Ok(vec![Event::new(
        now,
        actor.clone(),
        EventKind::Opened {
            id,
            technique: playbook.id,
            title,
            alert,
            playbook_name: playbook.name.clone(),
            questions: playbook.questions.clone(),
            escalation_rule: playbook.rule.as_ref().map(|rule| {
                playbook
                    .escalation_rule
                    .as_deref()
                    .map(str::trim)
                    .filter(|written| Rule::parse(written).is_ok_and(|r| r == *rule))
                    .map_or_else(|| rule_text(rule), str::to_owned)
            }),
            decision_text: decision_text(playbook),
            policy,
            channel: 0,
        },
    )])
}

/// Answers question `question` (1-based), or changes its answer. Returns the `Answered` event,
/// then `DecisionChanged` when the decision changes kind, then `Escalated` when the decision
/// becomes Escalate and the incident was not escalated before.
///
/// Idempotent: the same finding with the same note (or with no note, which keeps the note
/// already given, so a repeated button click never erases it) gives no events.
pub fn answer(
    inc: &Incident,
    question: usize,
    finding: Finding,
    note: Option<&str>,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    not_closed(inc)?;
    if question == 0 || question > inc.questions.len() {
        return Err(DomainError::QuestionOutOfRange {
            id: inc.id,
            question,
            count: inc.questions.len(),
        });
    }
    let note = optional_text(note, "note", NOTE_MAX)?;
    if let Some(prev) = inc.answer(question)
        && prev.finding == finding
        && (note.is_none() || note == prev.note)
    {
        return Ok(Vec::new());
    }
    let answered = Event::new(
        now,
        actor.clone(),
        EventKind::Answered {
            question,
            finding,
            note,
        },
    );
    let mut next = inc.clone();
    next.apply(&answered)
        .expect("the question number was checked above");
    let mut events = vec![answered];
    // The kind alone says whether the decision changes (`kind_changed`); its reasons are worded
    // only then, to be recorded and posted, not on every press.
    if next.evaluate_kind() != inc.decision_kind() {
        let decision = next.evaluate();
        let escalate = matches!(decision, super::Decision::Escalate { .. }) && !inc.is_escalated();
        let reasons = decision.reasons().to_vec();
        events.push(Event::new(
            now,
            actor.clone(),
            EventKind::DecisionChanged { decision },
        ));
        if escalate {
            events.push(Event::new(
                now,
                actor.clone(),
                EventKind::Escalated {
                    reason: EscalationReason::Decision { reasons },
                },
            ));
        }
    }
    Ok(events)
}

/// Adds a note (1 to 1000 characters) to the timeline.
pub fn add_note(
    inc: &Incident,
    text: &str,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    not_closed(inc)?;
    let text = required_text(
        text,
        "note",
        "write what you want to add (up to 1000 characters)",
        NOTE_MAX,
    )?;
    Ok(vec![Event::new(
        now,
        actor.clone(),
        EventKind::NoteAdded { text },
    )])
}

/// Escalates by hand with a reason (1 to 500 characters). An incident escalates once: a second
/// escalation is refused with [`DomainError::AlreadyEscalated`], which says since when.
pub fn escalate_manually(
    inc: &Incident,
    reason: &str,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    not_closed(inc)?;
    let reason = required_text(
        reason,
        "reason",
        "say why this needs Tier 2 (up to 500 characters)",
        REASON_MAX,
    )?;
    if let Some(e) = &inc.escalation {
        return Err(DomainError::AlreadyEscalated {
            id: inc.id,
            by: e.by.name.clone(),
            at: e.at,
        });
    }
    Ok(vec![Event::new(
        now,
        actor.clone(),
        EventKind::Escalated {
            reason: EscalationReason::Manual { reason },
        },
    )])
}

/// Closes the incident with a resolution and an optional summary (up to 1000 characters). A
/// running paging chain is stopped first (`PagingStopped`, then `Closed`).
pub fn close(
    inc: &Incident,
    resolution: Resolution,
    summary: Option<&str>,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    if let Some(c) = &inc.closed {
        return Err(DomainError::AlreadyClosed {
            id: inc.id,
            resolution: c.resolution,
            by: c.by.name.clone(),
            at: c.at,
        });
    }
    let summary = optional_text(summary, "summary", SUMMARY_MAX)?;
    let mut events = Vec::new();
    if inc.paging_open() {
        events.push(Event::new(
            now,
            actor.clone(),
            EventKind::PagingStopped {
                why: format!("incident closed ({resolution})"),
            },
        ));
    }
    events.push(Event::new(
        now,
        actor.clone(),
        EventKind::Closed {
            resolution,
            summary,
        },
    ));
    Ok(events)
}

/// Acknowledges the page: stops the paging chain and makes `actor` the owner (`Acknowledged`,
/// then `OwnerChanged` unless they already own it). A second acknowledgement, by anyone, is
/// harmless: no events. Works as soon as the incident is escalated, even before the page went
/// out (then it never goes out).
pub fn acknowledge(
    inc: &Incident,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    if inc.acknowledged.is_some() {
        return Ok(Vec::new());
    }
    not_closed(inc)?;
    if !inc.is_escalated() && inc.page.is_none() {
        return Err(DomainError::NothingToAcknowledge { id: inc.id });
    }
    let mut events = vec![Event::new(
        now,
        actor.clone(),
        EventKind::Acknowledged { by: actor.clone() },
    )];
    if inc.owner.as_ref().map(|o| o.id) != Some(actor.id) {
        events.push(Event::new(
            now,
            actor.clone(),
            EventKind::OwnerChanged {
                owner: actor.clone(),
            },
        ));
    }
    Ok(events)
}

/// Attaches `playbook` to an incident that has none (an alert opened it and no playbook covered
/// its techniques): its questions, rule and Decision for Escalation text, snapshotted as at
/// opening. The incident keeps its policy.
pub fn attach_playbook(
    inc: &Incident,
    playbook: &Playbook,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    not_closed(inc)?;
    if inc.has_playbook() {
        return Err(DomainError::HasPlaybook {
            id: inc.id,
            technique: inc.technique,
            name: inc.playbook_name.clone(),
        });
    }
    let opened = open(inc.id, playbook, "-", None, inc.policy, actor, now)?;
    let Some(EventKind::Opened {
        technique,
        playbook_name,
        questions,
        escalation_rule,
        decision_text,
        ..
    }) = opened.into_iter().next().map(|e| e.kind)
    else {
        unreachable!("open makes an `opened` event");
    };
    Ok(vec![Event::new(
        now,
        actor.clone(),
        EventKind::PlaybookAttached {
            technique,
            playbook_name,
            questions,
            escalation_rule,
            decision_text,
        },
    )])
}

/// Records where the incident lives in chat (the outbox worker calls it once the thread
/// exists). The same link again gives no events.
pub fn link_thread(
    inc: &Incident,
    channel_id: u64,
    thread_id: u64,
    card_message_id: u64,
    actor: &ActorRef,
    now: DateTime<Utc>,
) -> Vec<Event> {
    let link = super::ThreadLink {
        channel_id,
        thread_id,
        card_message_id,
    };
    if inc.thread == Some(link) {
        return Vec::new();
    }
    vec![Event::new(
        now,
        actor.clone(),
        EventKind::ThreadLinked {
            channel_id,
            thread_id,
            card_message_id,
        },
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::state::tests::{alice, bob, t};
    use crate::incident::{Decision, DecisionKind, PageLevel, PageTarget, Status};
    use crate::playbook::{Section, TechniqueId};

    fn playbook(rule: Option<&str>) -> Playbook {
        Playbook {
            id: TechniqueId::parse("T1583.006").unwrap(),
            name: "Acquire Infrastructure: Web Services".into(),
            tactics: vec!["Resource Development".into()],
            questions: vec![
                "Is there a business need for the new accounts?".into(),
                "Do the access patterns deviate?".into(),
                "Do the connections match expected usage?".into(),
            ],
            sections: vec![Section {
                kind: SectionKind::EscalationDecision,
                title: "Decision for Escalation".into(),
                lead: Some("Escalate when:".into()),
                items: vec!["no justification".into(), "known attack pattern".into()],
                line: 9,
            }],
            escalation_rule: rule.map(str::to_owned),
            rule: rule.map(|r| Rule::parse(r).unwrap()),
            source: "playbooks/x.md".into(),
            id_line: 3,
        }
    }

    fn opened(rule: Option<&str>) -> Incident {
        let events = open(
            IncidentId(3),
            &playbook(rule),
            "  New cloud\naccounts ",
            Some("SIEM alert 4411"),
            DefaultPolicy::AnyConcerning,
            &alice(),
            t(0),
        )
        .unwrap();
        Incident::from_events(&events).unwrap()
    }

    /// Runs a command and folds its events in.
    fn run(inc: &mut Incident, events: Vec<Event>) -> Vec<&'static str> {
        inc.apply_all(&events).unwrap();
        events.iter().map(|e| e.kind.name()).collect()
    }

    #[test]
    fn open_snapshots_the_playbook() {
        let inc = opened(Some("Q1 or (q2 AND q3)"));
        assert_eq!(inc.title, "New cloud accounts");
        assert_eq!(inc.alert.as_deref(), Some("SIEM alert 4411"));
        assert_eq!(inc.questions.len(), 3);
        // As written in the playbook.
        assert_eq!(inc.escalation_rule.as_deref(), Some("Q1 or (q2 AND q3)"));
        assert!(inc.rule.is_some());
        assert_eq!(
            inc.decision_text.as_deref(),
            Some("Escalate when:\n- no justification\n- known attack pattern")
        );
        assert_eq!(inc.opened_by, alice());
        assert_eq!(inc.status, Status::Open);
    }

    #[test]
    fn open_checks_title_and_alert() {
        let pb = playbook(None);
        let go = |title: &str, alert: Option<&str>| {
            open(
                IncidentId(1),
                &pb,
                title,
                alert,
                DefaultPolicy::default(),
                &alice(),
                t(0),
            )
        };
        let e = go("  \n ", None).unwrap_err();
        assert!(e.to_string().contains("title is empty"), "{e}");
        assert!(go(&"x".repeat(TITLE_MAX), None).is_ok());
        let e = go(&"x".repeat(TITLE_MAX + 1), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the title is 201 characters long; the limit is 200, please shorten it"
        );
        // Characters, not bytes.
        assert!(go(&"é".repeat(TITLE_MAX), None).is_ok());
        let e = go("t", Some(&"a".repeat(ALERT_MAX + 1))).unwrap_err();
        assert!(e.to_string().contains("limit is 2000"));
        let events = go("t", Some("   ")).unwrap();
        let inc = Incident::from_events(&events).unwrap();
        assert_eq!(inc.alert, None);
    }

    #[test]
    fn answering_records_decides_and_escalates_once() {
        let mut inc = opened(Some("q1 or (q2 and q3)"));
        let ev = answer(&inc, 2, Finding::Concerning, None, &alice(), t(1)).unwrap();
        assert_eq!(run(&mut inc, ev), ["answered"]);
        assert_eq!(inc.decision_kind(), DecisionKind::Pending);

        let ev = answer(
            &inc,
            3,
            Finding::Concerning,
            Some("beacons"),
            &alice(),
            t(2),
        )
        .unwrap();
        assert_eq!(
            run(&mut inc, ev),
            ["answered", "decision_changed", "escalated"]
        );
        assert_eq!(inc.status, Status::Escalated);
        assert_eq!(inc.escalated_at(), Some(t(2)));
        match &inc.escalation.as_ref().unwrap().reason {
            EscalationReason::Decision { reasons } => {
                assert!(
                    reasons.contains(&"q3 answered Concerning by alice: \"beacons\"".to_owned())
                );
            }
            other => panic!("{other:?}"),
        }

        // Changed to Clear: the decision changes, but nothing un-escalates.
        let ev = answer(&inc, 3, Finding::Clear, None, &bob(), t(3)).unwrap();
        assert_eq!(run(&mut inc, ev), ["answered", "decision_changed"]);
        assert_eq!(inc.decision_kind(), DecisionKind::Pending);
        assert_eq!(inc.status, Status::Escalated);
        assert_eq!(inc.answer(3).unwrap().by, bob());

        // Escalate again by answers: decision changes, no second Escalated.
        let ev = answer(&inc, 1, Finding::Concerning, None, &bob(), t(4)).unwrap();
        assert_eq!(run(&mut inc, ev), ["answered", "decision_changed"]);
        assert_eq!(inc.decision_kind(), DecisionKind::Escalate);
        assert_eq!(inc.escalated_at(), Some(t(2)));
        assert_eq!(inc.answer_history, 4);
    }

    #[test]
    fn answering_with_the_default_policy() {
        let mut inc = opened(None);
        for q in 1..=2 {
            let ev = answer(&inc, q, Finding::Clear, None, &alice(), t(q as i64)).unwrap();
            assert_eq!(run(&mut inc, ev), ["answered"]);
        }
        let ev = answer(&inc, 3, Finding::Unknown, None, &alice(), t(3)).unwrap();
        assert_eq!(run(&mut inc, ev), ["answered"]);
        assert_eq!(inc.evaluate().waiting_on(), [3]);
        let ev = answer(&inc, 3, Finding::Clear, None, &alice(), t(4)).unwrap();
        assert_eq!(run(&mut inc, ev), ["answered", "decision_changed"]);
        assert!(matches!(
            inc.decision,
            Some(Decision::RecommendClose { .. })
        ));
        assert_eq!(inc.status, Status::Open);
        let ev = answer(&inc, 2, Finding::Concerning, Some("odd"), &bob(), t(5)).unwrap();
        assert_eq!(
            run(&mut inc, ev),
            ["answered", "decision_changed", "escalated"]
        );
    }

    #[test]
    fn answering_is_idempotent() {
        let mut inc = opened(None);
        let ev = answer(&inc, 1, Finding::Clear, Some("ticket 12"), &alice(), t(1)).unwrap();
        run(&mut inc, ev);
        // Same finding and note, by anyone, later: nothing.
        assert!(
            answer(&inc, 1, Finding::Clear, Some(" ticket 12 "), &bob(), t(2))
                .unwrap()
                .is_empty()
        );
        // Same finding without a note (a repeated button click) keeps the note.
        assert!(
            answer(&inc, 1, Finding::Clear, None, &alice(), t(2))
                .unwrap()
                .is_empty()
        );
        assert!(
            answer(&inc, 1, Finding::Clear, Some(""), &alice(), t(2))
                .unwrap()
                .is_empty()
        );
        // A new note is a change.
        let ev = answer(&inc, 1, Finding::Clear, Some("ticket 13"), &alice(), t(3)).unwrap();
        assert_eq!(run(&mut inc, ev), ["answered"]);
        assert_eq!(inc.answer(1).unwrap().note.as_deref(), Some("ticket 13"));
        // A new finding without a note drops the old note (it was about the old finding).
        let ev = answer(&inc, 1, Finding::Unknown, None, &alice(), t(4)).unwrap();
        run(&mut inc, ev);
        assert_eq!(inc.answer(1).unwrap().note, None);
        // Unknown answered again: nothing.
        assert!(
            answer(&inc, 1, Finding::Unknown, None, &alice(), t(5))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn answering_refuses_bad_requests() {
        let inc = opened(None);
        for q in [0, 4, 99] {
            let e = answer(&inc, q, Finding::Clear, None, &alice(), t(1)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("INC-3 has no question {q}; choose a question from 1 to 3")
            );
        }
        let e = answer(
            &inc,
            1,
            Finding::Clear,
            Some(&"n".repeat(NOTE_MAX + 1)),
            &alice(),
            t(1),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("note is 1001 characters long; the limit is 1000")
        );
        assert!(
            answer(
                &inc,
                1,
                Finding::Clear,
                Some(&"n".repeat(NOTE_MAX)),
                &alice(),
                t(1)
            )
            .is_ok()
        );

        let mut closed = inc.clone();
        let ev = close(&closed, Resolution::Benign, None, &bob(), t(2)).unwrap();
        run(&mut closed, ev);
        let e = answer(&closed, 1, Finding::Clear, None, &alice(), t(3)).unwrap_err();
        assert!(e.to_string().contains("INC-3 is closed (benign)"), "{e}");

        let mut none = inc.clone();
        none.questions.clear();
        none.answers.clear();
        let e = answer(&none, 1, Finding::Clear, None, &alice(), t(1)).unwrap_err();
        assert!(e.to_string().contains("has no analysis questions"));
    }

    #[test]
    fn notes() {
        let mut inc = opened(None);
        let ev = add_note(&inc, "  checked the proxy logs ", &bob(), t(1)).unwrap();
        run(&mut inc, ev);
        assert_eq!(inc.notes[0].text, "checked the proxy logs");
        assert_eq!(inc.notes[0].by, bob());
        let e = add_note(&inc, " ", &bob(), t(1)).unwrap_err();
        assert!(e.to_string().contains("note is empty"));
        let e = add_note(&inc, &"x".repeat(1001), &bob(), t(1)).unwrap_err();
        assert!(e.to_string().contains("limit is 1000"));
    }

    #[test]
    fn manual_escalation_once() {
        let mut inc = opened(None);
        let e = escalate_manually(&inc, "", &bob(), t(1)).unwrap_err();
        assert!(e.to_string().contains("reason is empty"));
        let e = escalate_manually(&inc, &"r".repeat(REASON_MAX + 1), &bob(), t(1)).unwrap_err();
        assert!(e.to_string().contains("limit is 500"));
        let ev = escalate_manually(&inc, "matches last week's intrusion", &bob(), t(1)).unwrap();
        assert_eq!(run(&mut inc, ev), ["escalated"]);
        assert_eq!(inc.status, Status::Escalated);
        let e = escalate_manually(&inc, "again", &alice(), t(2)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "INC-3 is already escalated (since 2024-05-01 12:01 UTC by bob); it escalates and pages once. Add context with a note instead"
        );
        // An answer that escalates after a manual escalation records the decision only.
        let ev = answer(&inc, 1, Finding::Concerning, None, &alice(), t(3)).unwrap();
        assert_eq!(run(&mut inc, ev), ["answered", "decision_changed"]);
        assert!(matches!(
            inc.escalation.as_ref().unwrap().reason,
            EscalationReason::Manual { .. }
        ));
    }

    #[test]
    fn closing() {
        let mut inc = opened(None);
        let e = close(
            &inc,
            Resolution::Benign,
            Some(&"s".repeat(1001)),
            &bob(),
            t(1),
        )
        .unwrap_err();
        assert!(e.to_string().contains("summary is 1001 characters"));
        let ev = close(
            &inc,
            Resolution::FalsePositive,
            Some(" backup job "),
            &bob(),
            t(1),
        )
        .unwrap();
        assert_eq!(run(&mut inc, ev), ["closed"]);
        let c = inc.closed.as_ref().unwrap();
        assert_eq!(c.summary.as_deref(), Some("backup job"));
        assert_eq!(inc.closed_at(), Some(t(1)));
        let e = close(&inc, Resolution::Benign, None, &alice(), t(2)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "INC-3 is already closed (false positive) by bob at 2024-05-01 12:01 UTC"
        );
        assert!(add_note(&inc, "late", &alice(), t(3)).is_err());
        assert!(escalate_manually(&inc, "late", &alice(), t(3)).is_err());
    }

    fn paged(inc: &mut Incident) {
        let ev = escalate_manually(inc, "look", &alice(), t(1)).unwrap();
        run(inc, ev);
        inc.apply(&Event::new(
            t(2),
            ActorRef::system(),
            EventKind::Paged {
                level: PageLevel::Primary,
                target: PageTarget::User(22),
                attempt: 1,
                deadline: t(12),
            },
        ))
        .unwrap();
    }

    #[test]
    fn closing_stops_the_paging_chain() {
        let mut inc = opened(None);
        paged(&mut inc);
        assert!(inc.paging_open());
        let ev = close(&inc, Resolution::TruePositive, None, &bob(), t(3)).unwrap();
        assert_eq!(run(&mut inc, ev), ["paging_stopped", "closed"]);
        assert!(!inc.paging_open());
        assert_eq!(
            inc.paging_stopped.as_ref().unwrap().why,
            "incident closed (true positive)"
        );
    }

    #[test]
    fn acknowledging() {
        let mut inc = opened(None);
        let e = acknowledge(&inc, &bob(), t(1)).unwrap_err();
        assert!(e.to_string().contains("nothing to acknowledge"));
        paged(&mut inc);
        let ev = acknowledge(&inc, &bob(), t(5)).unwrap();
        assert_eq!(run(&mut inc, ev), ["acknowledged", "owner_changed"]);
        assert_eq!(inc.owner, Some(bob()));
        assert!(!inc.paging_open());
        assert_eq!(inc.page_deadline(), None);
        // A second acknowledgement, by anyone, even after closing: harmless.
        assert!(acknowledge(&inc, &bob(), t(6)).unwrap().is_empty());
        assert!(acknowledge(&inc, &alice(), t(6)).unwrap().is_empty());
        let ev = close(&inc, Resolution::Benign, None, &bob(), t(7)).unwrap();
        assert_eq!(run(&mut inc, ev), ["closed"]);
        assert!(acknowledge(&inc, &alice(), t(8)).unwrap().is_empty());
    }

    #[test]
    fn acknowledging_by_the_owner_and_after_close() {
        let mut inc = opened(None);
        paged(&mut inc);
        inc.apply(&Event::new(
            t(3),
            alice(),
            EventKind::OwnerChanged { owner: bob() },
        ))
        .unwrap();
        let ev = acknowledge(&inc, &bob(), t(4)).unwrap();
        assert_eq!(run(&mut inc, ev), ["acknowledged"]);

        let mut closed = opened(None);
        paged(&mut closed);
        let ev = close(&closed, Resolution::Benign, None, &bob(), t(3)).unwrap();
        run(&mut closed, ev);
        let e = acknowledge(&closed, &bob(), t(4)).unwrap_err();
        assert!(e.to_string().contains("is closed"));
    }

    #[test]
    fn a_playbook_is_attached_once_to_an_incident_without_one() {
        let mut bare = opened(None);
        bare.playbook_name.clear();
        bare.questions.clear();
        bare.answers.clear();
        let ev = attach_playbook(&bare, &playbook(Some("q1 or q2")), &bob(), t(1)).unwrap();
        assert_eq!(run(&mut bare, ev), ["playbook_attached"]);
        assert!(bare.has_playbook());
        assert_eq!(bare.questions.len(), 3);
        assert_eq!(bare.answers.len(), 3);
        assert!(bare.rule.is_some());
        let e = attach_playbook(&bare, &playbook(None), &bob(), t(2)).unwrap_err();
        assert!(
            e.to_string().contains("already follows playbook T1583.006"),
            "{e}"
        );
        // Answers work on the attached questions.
        let ev = answer(&bare, 1, Finding::Concerning, None, &alice(), t(3)).unwrap();
        assert!(run(&mut bare, ev).contains(&"escalated"));
    }

    #[test]
    fn linking_the_thread_is_idempotent() {
        let mut inc = opened(None);
        let ev = link_thread(&inc, 1, 2, 3, &ActorRef::system(), t(1));
        assert_eq!(run(&mut inc, ev), ["thread_linked"]);
        assert!(link_thread(&inc, 1, 2, 3, &ActorRef::system(), t(2)).is_empty());
        assert_eq!(
            link_thread(&inc, 1, 5, 3, &ActorRef::system(), t(2)).len(),
            1
        );
    }
}
