//! The console's chat: what the bot would post in an incident thread, as lines of text.

use std::sync::Mutex;

use crate::effects::{ChatPort, DeliveryError, Effect};
use crate::incident::{EventKind, Incident};

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
        text: &str,
    ) -> Result<(), DeliveryError> {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lines.extend(text.replace("**", "").lines().map(|l| format!("[soc] {l}")));
        Ok(())
    }

    async fn deliver(
        &self,
        _key: u64,
        effect: &Effect,
        inc: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError> {
        match effect {
            Effect::OpenThread { .. } => {
                self.say(inc, format!("thread: {}", inc.thread_name()));
                Ok(Vec::new())
            }
            Effect::PostQuestions { .. } => {
                let qs: Vec<String> = inc
                    .questions
                    .iter()
                    .enumerate()
                    .map(|(i, q)| format!("  q{}. {q}", i + 1))
                    .collect();
                self.say(
                    inc,
                    format!(
                        "analysis questions (answer with /incident answer {} <q> <finding>):\n{}",
                        inc.id,
                        qs.join("\n")
                    ),
                );
                Ok(Vec::new())
            }
            Effect::RefreshQuestions { .. } | Effect::RefreshAlertCard { .. } => Ok(Vec::new()),
            Effect::PostAlertCard { .. } => {
                if let Some(log) = &inc.alerts {
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
                    self.say(inc, text);
                }
                Ok(Vec::new())
            }
            Effect::PostDecision { decision, .. } => {
                let mut text = format!("decision: {}", decision.headline());
                for r in decision.reasons() {
                    text.push_str(&format!("\n  because {r}"));
                }
                self.say(inc, text);
                Ok(Vec::new())
            }
            Effect::PostNotice { text, .. } => {
                self.say(inc, text.replace("**", ""));
                Ok(Vec::new())
            }
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
                self.say(
                    inc,
                    format!(
                        "PAGE {} ({}, attempt {attempt}): acknowledge with /incident ack {} before {}",
                        who,
                        level.label(),
                        inc.id,
                        crate::incident::export::utc(*deadline)
                    ),
                );
                Ok(Vec::new())
            }
            Effect::Webhook { .. } | Effect::PostChannel { .. } | Effect::PageDm { .. } => {
                Ok(Vec::new())
            }
            Effect::CloseThread { .. } => {
                self.say(
                    inc,
                    format!("closed; thread archived as {}", inc.thread_name()),
                );
                Ok(Vec::new())
            }
        }
    }
}
