//! The console's chat: what the bot would post in an incident thread, as lines of text.

use std::sync::Mutex;

use crate::effects::{Announcement, ChannelPost, ChatPort, DeliveryError, Effect, Notice};
use crate::incident::{EventKind, Incident, IncidentId};

/// Collects what effects would show; the console prints it after each command.
#[derive(Debug, Default)]
pub struct ConsolePort {
    lines: Mutex<Vec<String>>,
}

impl ConsolePort {
    /// The lines produced since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn say(&self, inc: &Incident, text: String) {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for l in text.lines() {
            lines.push(format!("[{}] {l}", inc.id));
        }
    }
}

#[async_trait::async_trait]
impl ChatPort for ConsolePort {
    /// The console shows what the bot would post; Discord gets it when the bot runs again.
    fn mirrors_only(&self) -> bool {
        true
    }

    async fn post_channel(
        &self,
        _key: u64,
        _channel: u64,
        post: ChannelPost<'_>,
    ) -> Result<(), DeliveryError> {
        let text = match post {
            ChannelPost::Text(text) => text.to_owned(),
            ChannelPost::Announcement(a) => announcement_text(a),
        };
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lines.extend(text.lines().map(|l| format!("[soc] {l}")));
        Ok(())
    }

    async fn deliver(
        &self,
        _key: u64,
        effect: &Effect,
        inc: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError> {
        if let Some(text) = said(effect, inc) {
            self.say(inc, text);
        }
        Ok(Vec::new())
    }
}

/// What an effect shows at the console, as plain lines (None: nothing to show).
fn said(effect: &Effect, inc: &Incident) -> Option<String> {
    match effect {
        Effect::OpenThread { .. } => Some(format!("thread: {}", inc.thread_name())),
        Effect::PostQuestions { .. } => Some(questions(inc)),
        Effect::PostAlertCard { .. } => alert_card(inc),
        Effect::PostDecision { decision, .. } => {
            let mut text = format!("decision: {}", decision.headline());
            for r in decision.reasons() {
                text.push_str(&format!("\n  because {r}"));
            }
            Some(text)
        }
        Effect::PostNotice { text, .. } => Some(text.clone()),
        Effect::Notice { notice, .. } => Some(notice_text(inc, notice)),
        Effect::Page {
            level,
            target,
            attempt,
            deadline,
            ..
        } => {
            let who = match target {
                crate::incident::PageTarget::User(u) => format!("user {u}"),
                crate::incident::PageTarget::Role(r) => format!("role {r}"),
            };
            Some(format!(
                "PAGE {} ({}, attempt {attempt}): acknowledge with /incident ack {} before {}",
                who,
                level.label(),
                inc.id,
                crate::incident::export::utc(*deadline)
            ))
        }
        Effect::CloseThread { .. } => {
            Some(format!("closed; thread archived as {}", inc.thread_name()))
        }
        Effect::RefreshQuestions { .. }
        | Effect::RefreshAlertCard { .. }
        | Effect::Webhook { .. }
        | Effect::PostChannel { .. }
        | Effect::Announce { .. }
        | Effect::PageDm { .. } => None,
    }
}

fn questions(inc: &Incident) -> String {
    let qs: Vec<String> = inc
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| format!("  q{}. {q}", i + 1))
        .collect();
    format!(
        "analysis questions (answer with /incident answer {} <q> <finding>):\n{}",
        inc.id,
        qs.join("\n")
    )
}

fn alert_card(inc: &Incident) -> Option<String> {
    let log = inc.alerts.as_ref()?;
    let a = &log.first;
    let mut text = format!(
        "alert from {}: {} (severity {}",
        log.source,
        a.title,
        crate::incident::event::severity_name(a.severity)
    );
    for v in [&a.host, &a.user].into_iter().flatten() {
        text.push_str(&format!(", {v}"));
    }
    text.push(')');
    if !inc.has_playbook() {
        text.push_str(&format!(
            "\nno playbook covers {}; attach one with /incident playbook {} <technique>",
            inc.technique_text(),
            inc.id
        ));
    }
    Some(text)
}

/// An announcement for a channel, plain (the console prefixes `[soc]`).
pub fn announcement_text(a: &Announcement) -> String {
    match a {
        Announcement::Storm {
            source,
            limit,
            incident,
        } => format!(
            "alert storm from {source}: more than {limit} new incidents in a minute; its new alerts now join {} instead of opening their own (repeats still join their incidents)",
            IncidentId(*incident)
        ),
        Announcement::Unreached {
            incident,
            level,
            attempt,
            why,
        } => format!(
            "the {level} page for {} (attempt {attempt}) reached nobody in Discord: the thread, this channel and the DM all refused it (last: {why}); escalate by phone",
            IncidentId(*incident)
        ),
        Announcement::Handoff {
            on_call,
            escalated,
            open,
        } => {
            let mut text = String::from("shift hand-off: ");
            match on_call {
                Some(v) => {
                    text.push_str(&format!(
                        "on call now user {} until {}",
                        v.primary,
                        crate::incident::export::utc(v.until)
                    ));
                    if let Some(s) = v.secondary {
                        text.push_str(&format!(", secondary user {s}"));
                    }
                }
                None => text.push_str("nobody is on call"),
            }
            for (what, items) in [("escalated", escalated), ("open", open)] {
                text.push_str(&format!("\n{what} ({}):", items.len()));
                if items.is_empty() {
                    text.push_str(" none");
                }
                for l in items {
                    text.push_str(&format!("\n  {} {}", IncidentId(l.incident), l.title));
                }
            }
            text
        }
    }
}

/// A notice, plain (the console prefixes the incident).
pub fn notice_text(inc: &Incident, notice: &Notice) -> String {
    match notice {
        Notice::Noted { by, text } => format!("note by {by}: {text}"),
        Notice::EscalatedByHand { by, reason } => {
            format!("escalated to Tier 2 by {by}: {reason}")
        }
        Notice::Escalated { why } => format!("escalated to Tier 2 {why}"),
        Notice::Acknowledged { by } => {
            format!("acknowledged by {by}: paging stopped, {by} now owns the incident")
        }
        Notice::AlertResolved { source } => format!(
            "{source} reports the alert resolved; the incident stays open until someone closes it"
        ),
        Notice::Unacknowledged { why } => {
            format!("nobody acknowledged {}: {why}; escalate by phone", inc.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_print_plain_under_the_incident() {
        use crate::incident::state::tests::opened;
        let inc = Incident::from_events(&[opened(None)]).unwrap();
        let notices = [
            Notice::Noted {
                by: "alice".into(),
                text: "seen".into(),
            },
            Notice::EscalatedByHand {
                by: "alice".into(),
                reason: "exfil".into(),
            },
            Notice::Escalated {
                why: "by alert: edr reported severity critical".into(),
            },
            Notice::Acknowledged { by: "tina".into() },
            Notice::AlertResolved {
                source: "edr".into(),
            },
            Notice::Unacknowledged {
                why: "the chain ran out".into(),
            },
        ];
        for notice in notices {
            let text = notice_text(&inc, &notice);
            assert!(!text.contains("**") && !text.contains('`'), "{text}");
        }
        let port = ConsolePort::default();
        let effect = Effect::Notice {
            incident: inc.id.0,
            notice: Notice::Acknowledged { by: "tina".into() },
        };
        if let Some(text) = said(&effect, &inc) {
            port.say(&inc, text);
        }
        assert_eq!(
            port.take(),
            vec![format!(
                "[{}] acknowledged by tina: paging stopped, tina now owns the incident",
                inc.id
            )]
        );
    }

    #[tokio::test]
    async fn announcements_print_plain_in_the_soc_channel() {
        use crate::effects::{Listed, OnCallNow};
        let until = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let handoff = Announcement::Handoff {
            on_call: Some(OnCallNow {
                primary: 11,
                until,
                secondary: None,
            }),
            escalated: vec![Listed {
                incident: 1,
                title: "Beacon".into(),
                thread: Some(99),
            }],
            open: Vec::new(),
        };
        let port = ConsolePort::default();
        port.post_channel(1, 5, ChannelPost::Announcement(&handoff))
            .await
            .unwrap();
        assert_eq!(
            port.take(),
            vec![
                "[soc] shift hand-off: on call now user 11 until 2027-01-15 08:00:00 UTC",
                "[soc] escalated (1):",
                "[soc]   INC-1 Beacon",
                "[soc] open (0): none",
            ]
        );
        let storm = Announcement::Storm {
            source: "flood".into(),
            limit: 5,
            incident: 7,
        };
        let text = announcement_text(&storm);
        assert!(
            text.starts_with("alert storm from flood: more than 5"),
            "{text}"
        );
        let unreached = announcement_text(&Announcement::Unreached {
            incident: 4,
            level: "primary".into(),
            attempt: 2,
            why: "403 Missing Access".into(),
        });
        assert!(
            unreached.starts_with("the primary page for INC-4 (attempt 2) reached nobody"),
            "{unreached}"
        );
        for text in [text, unreached] {
            for markup in ["**", "<@", "<t:", "<#", "`", "⚠"] {
                assert!(!text.contains(markup), "{text}");
            }
        }
    }
}
