//! Incidents from alerts: the pure side of `POST /alerts/{source}`. A new alert opens an
//! incident (with its playbook's questions, or without any when no playbook covers what it
//! names); later alerts are recorded on it; an alert at its source's `escalate_at` severity
//! escalates it. The caller decides which incident an alert belongs to (the key index).

use chrono::{DateTime, Utc};

use super::command::{TITLE_MAX, open};
use super::decision::DefaultPolicy;
use super::event::{AlertOutcome, AlertRecord, EscalationReason, Event, EventKind};
use super::state::{Incident, NO_TECHNIQUE};
use super::{ActorRef, IncidentId};
use crate::alert::Severity;
use crate::playbook::Playbook;

/// Who the timeline says did what an alert did: the source, by its configured name.
pub fn source_actor(source: &str) -> ActorRef {
    ActorRef::new(0, source)
}

/// An incident title from an alert's: one line, within [`TITLE_MAX`] characters, never empty.
pub fn title_from(alert_title: &str, source: &str) -> String {
    let one_line = alert_title.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = if one_line.is_empty() {
        format!("Alert from {source}")
    } else {
        one_line
    };
    if title.chars().count() <= TITLE_MAX {
        return title;
    }
    let mut cut: String = title.chars().take(TITLE_MAX - 1).collect();
    cut.push('…');
    cut
}

/// Opens incident `id` from `alert` (`outcome` [`AlertOutcome::Opened`], or
/// [`AlertOutcome::Storm`] for a source's storm incident, titled `title`). With a playbook it
/// opens as `/incident open` does; without one it has no questions and names the alert's first
/// technique (or none).
pub fn open_from_alert(
    id: IncidentId,
    alert: &AlertRecord,
    playbook: Option<&Playbook>,
    outcome: AlertOutcome,
    title: &str,
    policy: DefaultPolicy,
    now: DateTime<Utc>,
) -> Vec<Event> {
    let actor = source_actor(&alert.source);
    let title = title_from(title, &alert.source);
    let opened = playbook.and_then(|p| open(id, p, &title, None, policy, &actor, now).ok());
    let mut events = opened.unwrap_or_else(|| {
        vec![Event::new(
            now,
            actor.clone(),
            EventKind::Opened {
                id,
                technique: match outcome {
                    AlertOutcome::Storm => NO_TECHNIQUE,
                    _ => alert.techniques.first().copied().unwrap_or(NO_TECHNIQUE),
                },
                title,
                alert: None,
                playbook_name: String::new(),
                questions: Vec::new(),
                escalation_rule: None,
                decision_text: None,
                policy,
                channel: 0,
            },
        )]
    });
    events.push(received(alert, outcome, now));
    events
}

/// The record of one more alert on an incident.
pub fn received(alert: &AlertRecord, outcome: AlertOutcome, now: DateTime<Utc>) -> Event {
    Event::new(
        now,
        source_actor(&alert.source),
        EventKind::AlertReceived {
            alert: alert.clone(),
            outcome,
        },
    )
}

/// Escalates `inc` at once for an alert of `severity` from `source` (its `escalate_at` was
/// reached); nothing when it is escalated already or closed.
pub fn escalate_for_alert(
    inc: &Incident,
    source: &str,
    severity: Severity,
    now: DateTime<Utc>,
) -> Vec<Event> {
    if inc.is_escalated() || inc.is_closed() {
        return Vec::new();
    }
    vec![Event::new(
        now,
        source_actor(source),
        EventKind::Escalated {
            reason: EscalationReason::Alert {
                source: source.to_owned(),
                severity,
            },
        },
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertStatus, Format};
    use crate::incident::state::tests::t;
    use crate::playbook::TechniqueId;

    pub(crate) fn record(title: &str, techniques: &[&str]) -> AlertRecord {
        AlertRecord {
            source: "wazuh".into(),
            format: Format::Wazuh,
            title: title.into(),
            severity: Severity::High,
            status: AlertStatus::Firing,
            techniques: techniques
                .iter()
                .map(|t| TechniqueId::parse(t).unwrap())
                .collect(),
            host: Some("web-01".into()),
            user: None,
            link: None,
            rule: Some("5710".into()),
            key: "5710/001".into(),
            payload: Some("{}".into()),
        }
    }

    #[test]
    fn an_alert_without_a_playbook_opens_an_incident_without_questions() {
        let a = record("  SSH\nbrute force ", &["T1110.001", "T1110"]);
        let events = open_from_alert(
            IncidentId(4),
            &a,
            None,
            AlertOutcome::Opened,
            &a.title,
            DefaultPolicy::default(),
            t(0),
        );
        let inc = Incident::from_events(&events).unwrap();
        assert_eq!(inc.title, "SSH brute force");
        assert!(!inc.has_playbook());
        assert!(inc.questions.is_empty());
        assert_eq!(inc.opened_by.name, "wazuh");
        assert_eq!(inc.thread_name(), "INC-4 · T1110.001 · SSH brute force");
        assert_eq!(
            inc.techniques.len(),
            2,
            "both techniques are the incident's"
        );
        let log = inc.alerts.as_ref().unwrap();
        assert_eq!((log.count, log.storm), (1, false));

        let none = record("", &[]);
        let events = open_from_alert(
            IncidentId(5),
            &none,
            None,
            AlertOutcome::Opened,
            "",
            DefaultPolicy::default(),
            t(0),
        );
        let inc = Incident::from_events(&events).unwrap();
        assert_eq!(inc.thread_name(), "INC-5 · no technique · Alert from wazuh");
        assert!(inc.techniques.is_empty());
    }

    #[test]
    fn repeats_count_resolutions_never_close_and_storms_list_members() {
        let a = record("Port scan", &["T1046"]);
        let mut inc = Incident::from_events(&open_from_alert(
            IncidentId(1),
            &a,
            None,
            AlertOutcome::Opened,
            &a.title,
            DefaultPolicy::default(),
            t(0),
        ))
        .unwrap();
        inc.apply(&received(&a, AlertOutcome::Grouped, t(1)))
            .unwrap();
        let done = AlertRecord {
            status: AlertStatus::Resolved,
            ..a.clone()
        };
        inc.apply(&received(&done, AlertOutcome::Resolved, t(2)))
            .unwrap();
        let log = inc.alerts.as_ref().unwrap();
        assert_eq!(
            (log.count, log.last_seen, log.resolved_at),
            (2, t(1), Some(t(2)))
        );
        assert!(!inc.is_closed());
        assert_eq!(log.last.payload, None, "only the first payload is kept");

        let mut storm = Incident::from_events(&open_from_alert(
            IncidentId(2),
            &a,
            None,
            AlertOutcome::Storm,
            "Alert storm from wazuh",
            DefaultPolicy::default(),
            t(0),
        ))
        .unwrap();
        assert_eq!(storm.technique_text(), "no technique");
        storm
            .apply(&received(
                &record("Other", &["T1003"]),
                AlertOutcome::Storm,
                t(1),
            ))
            .unwrap();
        let log = storm.alerts.as_ref().unwrap();
        assert!(log.storm);
        assert_eq!(log.members.len(), 2);
        assert_eq!(storm.techniques.len(), 2);
    }

    #[test]
    fn escalation_for_an_alert_happens_once() {
        let a = record("x", &[]);
        let mut inc = Incident::from_events(&open_from_alert(
            IncidentId(1),
            &a,
            None,
            AlertOutcome::Opened,
            "x",
            DefaultPolicy::default(),
            t(0),
        ))
        .unwrap();
        let ev = escalate_for_alert(&inc, "wazuh", Severity::Critical, t(1));
        assert_eq!(ev.len(), 1);
        inc.apply_all(&ev).unwrap();
        assert!(inc.is_escalated());
        assert!(escalate_for_alert(&inc, "wazuh", Severity::Critical, t(2)).is_empty());
    }
}
