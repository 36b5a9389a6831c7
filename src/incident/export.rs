//! The incident report: markdown for people (`/incident export`, `socbot export INC-<n>`) and
//! JSON for tools (`--json`). Both come from the incident and the same events as the audit
//! timeline, so every answer change is in them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::decision::{Decision, q_list, rule_text};
use super::event::{AlertOutcome, AlertRecord, EscalationReason, Event, EventKind, severity_name};
use super::state::{AlertLog, Answer, Incident};
use super::{ActorRef, Finding};

/// One line of the audit timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub actor: ActorRef,
    /// What happened, in words (`changed q1 from Clear to Concerning: "…"`).
    pub text: String,
}

/// `2024-05-01 12:03:04 UTC`
pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn quoted(note: Option<&str>) -> String {
    note.map(|n| format!(": \"{n}\"")).unwrap_or_default()
}

/// Every event in words, oldest first; answer changes say what they changed from.
pub fn timeline(events: &[Event]) -> Vec<TimelineEntry> {
    let mut latest: Vec<Option<(Finding, Option<String>)>> = Vec::new();
    events
        .iter()
        .map(|e| TimelineEntry {
            at: e.at,
            actor: e.actor.clone(),
            text: describe(e, &mut latest),
        })
        .collect()
}

fn describe(e: &Event, latest: &mut Vec<Option<(Finding, Option<String>)>>) -> String {
    match &e.kind {
        EventKind::Opened {
            technique,
            title,
            playbook_name,
            questions,
            escalation_rule,
            policy,
            ..
        } => describe_opened(
            latest,
            &format!("{technique} · {playbook_name}"),
            title,
            questions.len(),
            escalation_rule.as_deref(),
            policy,
        ),
        EventKind::Answered {
            question,
            finding,
            note,
        } => describe_answer(latest, *question, *finding, note.as_deref()),
        EventKind::NoteAdded { text } => format!("note: {text}"),
        EventKind::DecisionChanged { decision } => format!(
            "decision: {} ({})",
            decision.headline(),
            decision.reasons().join("; ")
        ),
        EventKind::Escalated { reason } => format!("escalated {}", reason.summary()),
        EventKind::ThreadLinked {
            channel_id,
            thread_id,
            card_message_id,
        } => format!(
            "incident thread ready (channel {channel_id}, thread {thread_id}, card message {card_message_id})"
        ),
        EventKind::QuestionsPosted { message_ids } => {
            format!(
                "analysis questions posted in the thread ({} message(s))",
                message_ids.len()
            )
        }
        EventKind::Paged {
            level,
            target,
            attempt,
            deadline,
        } => format!(
            "paged the {} ({target}), attempt {attempt}; acknowledge by {}",
            level.label(),
            utc(*deadline)
        ),
        EventKind::Acknowledged { by } => format!("page acknowledged by {by}"),
        EventKind::PagingStopped { why } => format!("paging stopped: {why}"),
        EventKind::OwnerChanged { owner } => format!("owner is now {owner}"),
        EventKind::Closed {
            resolution,
            summary,
        } => format!("closed as {resolution}{}", quoted(summary.as_deref())),
        EventKind::Unknown { raw } => format!(
            "an event of a kind this socbot does not know ({}), kept as stored",
            raw.get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("no type")
        ),
        EventKind::AlertReceived { alert, outcome } => describe_alert(alert, *outcome),
        EventKind::AlertCardPosted { message_id } => {
            format!("alert card posted in the thread (message {message_id})")
        }
        EventKind::PlaybookAttached {
            technique,
            playbook_name,
            questions,
            ..
        } => format!(
            "playbook attached: {technique} · {playbook_name} ({} questions)",
            questions.len()
        ),
    }
}

fn describe_opened(
    latest: &mut Vec<Option<(Finding, Option<String>)>>,
    playbook: &str,
    title: &str,
    questions: usize,
    escalation_rule: Option<&str>,
    policy: &impl std::fmt::Display,
) -> String {
    latest.clear();
    latest.resize(questions, None);
    let decided_by = match escalation_rule {
        Some(r) => format!("escalation rule {r}"),
        None => format!("default policy {policy}"),
    };
    format!("opened \"{title}\" from playbook {playbook} ({questions} questions, {decided_by})")
}

/// An answer, said as a change when the question had one before.
fn describe_answer(
    latest: &mut Vec<Option<(Finding, Option<String>)>>,
    q: usize,
    finding: Finding,
    note: Option<&str>,
) -> String {
    if latest.len() < q {
        latest.resize(q, None);
    }
    let before = latest[q - 1].replace((finding, note.map(str::to_owned)));
    let note_text = quoted(note);
    match before {
        None => format!("answered q{q} {finding}{note_text}"),
        Some((prev, _)) if prev == finding => {
            format!("changed the note on q{q} ({finding}){note_text}")
        }
        Some((prev, _)) => format!("changed q{q} from {prev} to {finding}{note_text}"),
    }
}

fn describe_alert(alert: &AlertRecord, outcome: AlertOutcome) -> String {
    let what = match outcome {
        AlertOutcome::Opened => "alert opened the incident",
        AlertOutcome::Grouped => "alert repeated",
        AlertOutcome::Storm => "alert joined the storm",
        AlertOutcome::Resolved => "source reports the alert resolved",
    };
    format!(
        "{what}: \"{}\" (severity {}, key {}{})",
        alert.title,
        severity_name(alert.severity),
        alert.key,
        techniques_text(&alert.techniques)
    )
}

fn techniques_text(ids: &[crate::playbook::TechniqueId]) -> String {
    if ids.is_empty() {
        return ", no technique".to_owned();
    }
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!(", techniques {}", ids.join(", "))
}

/// The `## Alert` section of an incident a source opened: what it said and its payload.
fn alert_section(log: &AlertLog, line: &mut impl FnMut(String)) {
    let a = &log.first;
    line(format!("- **Source:** {} ({})", log.source, a.format));
    line(format!("- **Title:** {}", a.title));
    line(format!("- **Severity:** {}", severity_name(a.severity)));
    for (what, value) in [
        ("Host", &a.host),
        ("User", &a.user),
        ("Link", &a.link),
        ("Rule", &a.rule),
    ] {
        if let Some(v) = value {
            line(format!("- **{what}:** {v}"));
        }
    }
    let ids: Vec<String> = a.techniques.iter().map(ToString::to_string).collect();
    line(format!(
        "- **Techniques:** {}",
        if ids.is_empty() {
            "none named".to_owned()
        } else {
            ids.join(", ")
        }
    ));
    line(format!("- **Key:** {}", a.key));
    line(format!(
        "- **Alerts:** {} (first {}, last {}){}",
        log.count,
        utc(log.first_seen),
        utc(log.last_seen),
        log.resolved_at
            .map(|at| format!("; resolved by the source at {}", utc(at)))
            .unwrap_or_default()
    ));
    if log.storm {
        line(format!(
            "- **Storm:** the latest {} alerts that joined:",
            log.members.len()
        ));
        for (at, title) in &log.members {
            line(format!("  - {} · {}", utc(*at), indent(title, "    ")));
        }
    }
    if let Some(p) = &a.payload {
        line(String::new());
        line("Payload as received:".to_owned());
        line(String::new());
        let fence = if p.contains("```") { "~~~~" } else { "```" };
        line(format!("{fence}json"));
        line(p.clone());
        line(fence.to_owned());
    }
}

/// Indents continuation lines so multi-line user text stays inside its list item.
fn indent(text: &str, by: &str) -> String {
    text.lines().collect::<Vec<_>>().join(&format!("\n{by}"))
}

fn answer_md(a: &Answer) -> String {
    format!(
        "**{}** by {} at {}{}",
        a.finding,
        a.by,
        utc(a.at),
        quoted(a.note.as_deref())
    )
}

fn decision_basis(inc: &Incident) -> String {
    match &inc.rule {
        Some(r) => format!("escalation rule `{}`", rule_text(r)),
        None => format!(
            "default policy `{}` ({})",
            inc.policy,
            inc.policy.describe()
        ),
    }
}

/// The markdown report: header, alert, the questions with their latest answers, the decision
/// with its reasons, then the whole timeline (every event, with UTC time and actor).
pub fn markdown(inc: &Incident, events: &[Event]) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    header_md(inc, &mut line);
    line("## Alert".to_owned());
    line(String::new());
    match (&inc.alerts, &inc.alert) {
        (Some(log), _) => alert_section(log, &mut line),
        (None, Some(text)) => line(text.clone()),
        (None, None) => line("_No alert text._".to_owned()),
    }
    line(String::new());
    questions_md(inc, &mut line);
    decision_md(inc, &mut line);
    line("## Timeline".to_owned());
    line(String::new());
    for entry in timeline(events) {
        line(format!(
            "- {} · {} · {}",
            utc(entry.at),
            entry.actor,
            indent(&entry.text, "  ")
        ));
    }
    out
}

/// The title and the facts list: technique, status, owner, opened, escalated, acked, closed.
fn header_md(inc: &Incident, line: &mut impl FnMut(String)) {
    line(format!("# {} · {}", inc.id, inc.title));
    line(String::new());
    line(format!("- **Technique:** {}", inc.technique_label()));
    line(format!("- **Status:** {}", inc.status));
    line(format!(
        "- **Owner:** {}",
        inc.owner.as_ref().map_or("none", |o| o.name.as_str())
    ));
    line(format!(
        "- **Opened:** {} by {}",
        utc(inc.opened_at),
        inc.opened_by
    ));
    if let Some(e) = &inc.escalation {
        let how = match &e.reason {
            EscalationReason::Decision { .. } => "by decision".to_owned(),
            EscalationReason::Manual { reason } => {
                format!("by hand: {}", indent(reason, "  "))
            }
            EscalationReason::Alert { .. } => e.reason.summary(),
        };
        line(format!(
            "- **Escalated:** {} by {} ({how})",
            utc(e.at),
            e.by
        ));
    }
    if let Some(a) = &inc.acknowledged {
        line(format!("- **Acknowledged:** {} by {}", utc(a.at), a.by));
    }
    if let Some(c) = &inc.closed {
        line(format!(
            "- **Closed:** {} by {} as {}{}",
            utc(c.at),
            c.by,
            c.resolution,
            c.summary
                .as_deref()
                .map(|s| format!(": {}", indent(s, "  ")))
                .unwrap_or_default()
        ));
    }
    line(String::new());
}

/// Each question with its latest answer.
fn questions_md(inc: &Incident, line: &mut impl FnMut(String)) {
    line("## Questions".to_owned());
    line(String::new());
    if inc.questions.is_empty() {
        line("_The playbook has no analysis questions._".to_owned());
    }
    for (i, q) in inc.questions.iter().enumerate() {
        let n = i + 1;
        line(format!("{n}. {}", indent(q, "   ")));
        let answer = inc.answer(n).map_or("_unanswered_".to_owned(), answer_md);
        line(format!("   - {}", indent(&answer, "     ")));
    }
    line(String::new());
}

/// The decision with its reasons and the playbook's own words.
fn decision_md(inc: &Incident, line: &mut impl FnMut(String)) {
    let decision = inc.evaluate();
    line("## Decision".to_owned());
    line(String::new());
    line(format!(
        "**{}**, by the {}.",
        decision.headline(),
        decision_basis(inc)
    ));
    line(String::new());
    for r in decision.reasons() {
        line(format!("- {}", indent(r, "  ")));
    }
    if let Decision::Pending { waiting_on, .. } = &decision
        && !waiting_on.is_empty()
    {
        line(format!(
            "- answering {} would settle it",
            q_list(waiting_on)
        ));
    }
    if let Some(text) = &inc.decision_text {
        line(String::new());
        line("Playbook's Decision for Escalation:".to_owned());
        line(String::new());
        for l in text.lines() {
            line(format!("> {l}"));
        }
    }
    line(String::new());
}

/// The JSON export: the incident's current state and the timeline, each entry with the stored
/// event it comes from. Chat ids are strings (they exceed what JSON numbers hold exactly in
/// JavaScript) in the state part; the stored events are as stored.
pub fn json(inc: &Incident, events: &[Event]) -> Value {
    let questions: Vec<Value> = inc
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| json!({ "number": i + 1, "text": q, "answer": inc.answers[i] }))
        .collect();
    let timeline: Vec<Value> = timeline(events)
        .into_iter()
        .zip(events)
        .map(|(entry, event)| {
            json!({ "at": entry.at, "actor": entry.actor, "text": entry.text, "event": event })
        })
        .collect();
    let (status, resolution) = match inc.status {
        super::Status::Open => ("open", None),
        super::Status::Escalated => ("escalated", None),
        super::Status::Closed { resolution } => ("closed", Some(resolution)),
    };
    json!({
        "id": inc.id.to_string(),
        "number": inc.id.0,
        "title": inc.title,
        "technique": inc.technique,
        "techniques": inc.techniques,
        "playbook": inc.playbook_name,
        "status": status,
        "resolution": resolution,
        "owner": inc.owner,
        "opened_at": inc.opened_at,
        "opened_by": inc.opened_by,
        "alert": inc.alert,
        "alerts": inc.alerts,
        "questions": questions,
        "escalation_rule": inc.escalation_rule,
        "default_policy": inc.policy,
        "decision": inc.evaluate(),
        "decision_text": inc.decision_text,
        "escalation": inc.escalation,
        "thread": inc.thread.map(|t| json!({
            "channel_id": t.channel_id.to_string(),
            "thread_id": t.thread_id.to_string(),
            "card_message_id": t.card_message_id.to_string(),
        })),
        "page": inc.page,
        "acknowledged": inc.acknowledged,
        "paging_stopped": inc.paging_stopped,
        "closed": inc.closed,
        "notes": inc.notes,
        "answer_history": inc.answer_history,
        "timeline": timeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::state::tests::{full_history, opened};

    #[test]
    fn markdown_report_has_everything() {
        let events = full_history();
        let inc = Incident::from_events(&events).unwrap();
        let md = markdown(&inc, &events);
        for needle in [
            "# INC-7 · New cloud accounts",
            "- **Technique:** T1583.006 · Acquire Infrastructure: Web Services",
            "- **Status:** closed (true positive)",
            "- **Owner:** bob",
            "- **Opened:** 2024-05-01 12:00:00 UTC by alice",
            "- **Escalated:** 2024-05-01 12:03:00 UTC by alice (by decision)",
            "- **Closed:** 2024-05-01 12:30:00 UTC by bob as true positive: contained",
            "SIEM: 14 accounts created in 3 minutes",
            "1. Is there a business need?",
            "   - **Concerning** by alice at 2024-05-01 12:03:00 UTC: \"new account with no ticket\"",
            "2. Do access patterns deviate?\n   - _unanswered_",
            "**Escalate**, by the escalation rule `q1 or (q2 and q3)`.",
            "- rule q1 or (q2 and q3) is certainly true",
            "- q1 answered Concerning by alice: \"new account with no ticket\"",
            "> Escalate when there is no justification.",
            "## Timeline",
            "- 2024-05-01 12:02:00 UTC · alice · answered q1 Clear",
            "- 2024-05-01 12:03:00 UTC · alice · changed q1 from Clear to Concerning: \"new account with no ticket\"",
            "· socbot · paged the primary (user 22), attempt 2; acknowledge by 2024-05-01 12:24:00 UTC",
            "· bob · page acknowledged by bob",
            "· bob · owner is now bob",
            "· bob · note: looking",
            "· bob · closed as true positive: \"contained\"",
            "· socbot · incident thread ready",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        // Every event is in the timeline.
        let timeline = md.split("## Timeline").nth(1).unwrap();
        assert_eq!(
            timeline.lines().filter(|l| l.starts_with("- ")).count(),
            events.len()
        );
    }

    #[test]
    fn every_answer_change_is_exported() {
        let mut events = vec![opened(None)];
        let changes = [
            (Finding::Unknown, None),
            (Finding::Clear, Some("ticket 1")),
            (Finding::Clear, Some("ticket 2")),
            (Finding::Concerning, Some("no ticket after all")),
        ];
        for (i, (f, note)) in changes.iter().enumerate() {
            events.push(Event::new(
                crate::incident::state::tests::t(i as i64 + 1),
                crate::incident::state::tests::bob(),
                EventKind::Answered {
                    question: 2,
                    finding: *f,
                    note: note.map(str::to_owned),
                },
            ));
        }
        let inc = Incident::from_events(&events).unwrap();
        let md = markdown(&inc, &events);
        for needle in [
            "answered q2 Unknown",
            "changed q2 from Unknown to Clear: \"ticket 1\"",
            "changed the note on q2 (Clear): \"ticket 2\"",
            "changed q2 from Clear to Concerning: \"no ticket after all\"",
            "**Escalate**, by the default policy `any-concerning`",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        let v = json(&inc, &events);
        let texts: Vec<&str> = v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts.len(), 5);
        assert!(texts[3].starts_with("changed the note on q2"));
        assert_eq!(v["answer_history"], 4);
    }

    #[test]
    fn pending_decision_and_multiline_text_in_markdown() {
        let events = vec![opened(Some("q1 and q2"))];
        let mut inc = Incident::from_events(&events).unwrap();
        inc.alert = Some("line one\nline two".into());
        let md = markdown(&inc, &events);
        assert!(md.contains("**Pending: waiting on q1 and q2**"), "{md}");
        assert!(md.contains("- answering q1 and q2 would settle it"));
        assert!(md.contains("line one\nline two"));
        assert!(md.contains("- **Owner:** none"));
    }

    #[test]
    fn json_export() {
        let events = full_history();
        let inc = Incident::from_events(&events).unwrap();
        let v = json(&inc, &events);
        assert_eq!(v["id"], "INC-7");
        assert_eq!(v["number"], 7);
        assert_eq!(v["technique"], "T1583.006");
        assert_eq!(v["status"], "closed");
        assert_eq!(v["resolution"], "true_positive");
        assert_eq!(v["owner"]["name"], "bob");
        assert_eq!(v["questions"][0]["answer"]["finding"], "concerning");
        assert_eq!(v["questions"][1]["answer"], Value::Null);
        assert_eq!(v["decision"]["kind"], "escalate");
        assert_eq!(v["thread"]["thread_id"], "200");
        assert_eq!(v["page"]["attempt"], 2);
        assert_eq!(v["timeline"].as_array().unwrap().len(), events.len());
        assert_eq!(v["timeline"][0]["event"]["kind"]["type"], "opened");
        // The stored events come back out of the export unchanged.
        let back: Vec<Event> = v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_value(e["event"].clone()).unwrap())
            .collect();
        assert_eq!(back, events);
    }
}
