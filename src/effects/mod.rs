//! Side effects through an outbox. A command stores the effects it causes (create a thread,
//! post the questions, post a decision, …) in the same transaction as its events; this worker
//! delivers them through a [`ChatPort`], in order per incident, retrying with back-off until
//! the chat answers. What a delivery creates (a thread, message ids) is recorded as incident
//! events, so a delivery that is repeated after a crash finds its work done.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};

use crate::incident::{ActorRef, Decision, Event, EventKind, Incident, IncidentId};
use crate::store::{Batch, Store, StoreError};

/// Something to do in chat for an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Create the incident's thread in `channel`.
    OpenThread { incident: u64, channel: u64 },
    /// Post the playbook context and the analysis questions with their answer buttons.
    PostQuestions { incident: u64 },
    /// Re-render the question messages with the latest answers.
    RefreshQuestions { incident: u64 },
    /// Post a decision, with its reasons, in the thread.
    PostDecision { incident: u64, decision: Decision },
    /// Post a line of text in the thread (a note, a manual escalation, …).
    PostNotice { incident: u64, text: String },
    /// Post the closure and archive the thread.
    CloseThread { incident: u64 },
    /// Page someone: a message in the thread that mentions exactly them with an Acknowledge
    /// button, and a DM with a link to the thread (for a user).
    Page {
        incident: u64,
        level: crate::incident::PageLevel,
        target: crate::incident::PageTarget,
        attempt: u32,
        deadline: chrono::DateTime<Utc>,
    },
    /// POST `body` to the paging webhook, retried until accepted.
    Webhook {
        incident: u64,
        body: serde_json::Value,
    },
    /// A message in a channel that belongs to no incident (the shift hand-off); `incident` is 0.
    PostChannel {
        incident: u64,
        channel: u64,
        text: String,
    },
}

impl Effect {
    pub fn incident(&self) -> u64 {
        match self {
            Self::OpenThread { incident, .. }
            | Self::PostQuestions { incident }
            | Self::RefreshQuestions { incident }
            | Self::PostDecision { incident, .. }
            | Self::PostNotice { incident, .. }
            | Self::CloseThread { incident }
            | Self::Page { incident, .. }
            | Self::Webhook { incident, .. }
            | Self::PostChannel { incident, .. } => *incident,
        }
    }

    /// Why this effect is no longer wanted for `inc` as it is now, if it is not: a page after
    /// the incident was acknowledged or closed, or a page that a later step of the chain has
    /// replaced (after an outage only the current step goes out). The last step still goes out
    /// when the chain has stopped since: after a long outage it is the widest ping there is.
    pub fn withdrawn(&self, inc: &Incident) -> Option<&'static str> {
        let Self::Page {
            level,
            target,
            attempt,
            ..
        } = self
        else {
            return None;
        };
        if inc.acknowledged.is_some() {
            Some("the page was acknowledged")
        } else if inc.is_closed() {
            Some("the incident is closed")
        } else if inc
            .page
            .as_ref()
            .is_some_and(|p| (p.level, p.target, p.attempt) != (*level, *target, *attempt))
        {
            Some("a later step of the chain replaced it")
        } else {
            None
        }
    }

    /// Effects of one incident go out in order within their lane; the pager webhook has its
    /// own lane, so a pager outage does not hold back the chat, nor the chat the pager.
    fn lane(&self) -> (u64, bool) {
        (self.incident(), matches!(self, Self::Webhook { .. }))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::OpenThread { .. } => "open_thread",
            Self::PostQuestions { .. } => "post_questions",
            Self::RefreshQuestions { .. } => "refresh_questions",
            Self::PostDecision { .. } => "post_decision",
            Self::PostNotice { .. } => "post_notice",
            Self::CloseThread { .. } => "close_thread",
            Self::Page { .. } => "page",
            Self::Webhook { .. } => "webhook",
            Self::PostChannel { .. } => "post_channel",
        }
    }
}

/// An outbox record: the effect and its retry state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub effect: Effect,
    #[serde(default)]
    pub attempts: u32,
    /// Not before this time (ms since the epoch): the back-off.
    #[serde(default)]
    pub not_before_ms: i64,
    /// Shown at the console, which only mirrors chat effects: Discord still gets it when the
    /// bot runs again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shown: bool,
}

impl OutboxEntry {
    pub fn new(effect: Effect) -> Self {
        Self {
            effect,
            attempts: 0,
            not_before_ms: 0,
            shown: false,
        }
    }

    /// For a [`Batch`].
    pub fn encode(effect: Effect) -> Vec<u8> {
        Store::encode(&Self::new(effect))
    }
}

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The chat failed or is unreachable (5xx, 429, timeout): try again later.
    #[error("chat unavailable: {0}")]
    Retry(String),
    /// Waiting for an earlier step (e.g. the thread): try again later.
    #[error("not ready: {0}")]
    NotReady(String),
    /// The chat refused for good (missing permission, deleted channel): give up and say so.
    #[error("refused: {0}")]
    Permanent(String),
}

/// Where effects are delivered: Discord, or the console.
#[async_trait::async_trait]
pub trait ChatPort: Send + Sync + 'static {
    /// Performs `effect` for `incident` (its state now). `key` is unique to this effect and the
    /// same on every retry (for idempotency keys such as Discord's message nonce). Returns the
    /// events recording what was created (thread, message ids); an effect already done returns none.
    async fn deliver(
        &self,
        key: u64,
        effect: &Effect,
        incident: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError>;

    /// Posts `text` in `channel` (not about one incident), pinging nobody.
    async fn post_channel(&self, key: u64, channel: u64, text: &str) -> Result<(), DeliveryError>;

    /// True for a port that only shows effects (the console): they stay in the outbox, marked
    /// shown, for the chat to get when the bot runs again. Pager webhooks are still sent.
    fn mirrors_only(&self) -> bool {
        false
    }
}

/// Back-off after `attempts` failures: 0.5 s doubling to at most 60 s.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempts.min(7))).min(Duration::from_secs(60))
}

/// The paging webhook (a phone-grade pager such as PagerDuty's Events API v2).
#[derive(Clone, Debug)]
pub struct Webhook {
    url: String,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(url: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            url: url.to_owned(),
            client,
        }
    }

    /// POSTs the body; 2xx is accepted, 4xx other than 408/429 refused for good, the rest retried.
    async fn send(&self, body: &serde_json::Value) -> Result<(), DeliveryError> {
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            // The URL carries the pager's secret (a routing path or token): never in a log.
            .map_err(|e| DeliveryError::Retry(format!("webhook: {}", e.without_url())))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(()),
            408 | 429 => Err(DeliveryError::Retry(format!("webhook answered {status}"))),
            400..=499 => Err(DeliveryError::Permanent(format!(
                "webhook answered {status}"
            ))),
            _ => Err(DeliveryError::Retry(format!("webhook answered {status}"))),
        }
    }
}

/// The outbox worker. Clone it to kick it from commands.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    port: Arc<dyn ChatPort>,
    webhook: Option<Webhook>,
    kick: Arc<Notify>,
    delivered: watch::Sender<u64>,
    /// One drain at a time, so no effect is delivered twice concurrently.
    draining: Arc<tokio::sync::Mutex<()>>,
}

impl Outbox {
    pub fn new(store: Store, port: Arc<dyn ChatPort>) -> Self {
        Self {
            store,
            port,
            webhook: None,
            kick: Arc::new(Notify::new()),
            delivered: watch::channel(0).0,
            draining: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Delivers `Effect::Webhook` to this webhook (None: webhook effects are dropped as done).
    pub fn with_webhook(mut self, webhook: Option<Webhook>) -> Self {
        self.webhook = webhook;
        self
    }

    async fn dispatch(
        &self,
        key: u64,
        effect: &Effect,
        incident: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError> {
        match effect {
            Effect::Webhook { body, .. } => match &self.webhook {
                Some(w) => w.send(body).await.map(|()| Vec::new()),
                None => Ok(Vec::new()),
            },
            other => self.port.deliver(key, other, incident).await,
        }
    }

    /// Wakes the worker: new effects are waiting.
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// Changes each time an effect is delivered (for waiting on a delivery).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.delivered.subscribe()
    }

    /// Delivers every effect that is due, oldest first, keeping each incident's effects in
    /// order. Returns the time until the next retry is due, if any effect is left.
    pub async fn drain(&self) -> Result<Option<Duration>, StoreError> {
        let _one = self.draining.lock().await;
        let now = Utc::now().timestamp_millis();
        let mut blocked: HashSet<(u64, bool)> = HashSet::new();
        let mut next_due: Option<i64> = None;
        // Decoded once. An unreadable entry is dropped, and so is a question refresh with a
        // later one queued for its incident: a refresh renders the incident as it is when
        // delivered, so the last one does it all (fewer edits, and a failing one does not hold
        // up the newer). Both in one commit.
        let mut entries: Vec<(u64, OutboxEntry)> = Vec::new();
        let mut dropped: Vec<u64> = Vec::new();
        for record in self.store.outbox()? {
            match serde_json::from_slice::<OutboxEntry>(&record.json) {
                Ok(entry) => entries.push((record.id, entry)),
                Err(e) => {
                    error!(id = record.id, error = %e, "unreadable outbox entry dropped");
                    dropped.push(record.id);
                }
            }
        }
        let last_refresh: HashMap<u64, u64> = entries
            .iter()
            .filter(|(_, e)| matches!(e.effect, Effect::RefreshQuestions { .. }))
            .map(|(id, e)| (e.effect.incident(), *id))
            .collect();
        entries.retain(|(id, e)| {
            let superseded = matches!(e.effect, Effect::RefreshQuestions { .. })
                && last_refresh.get(&e.effect.incident()) != Some(id);
            if superseded {
                debug!(
                    incident = e.effect.incident(),
                    "question refresh superseded by a later one"
                );
                dropped.push(*id);
            }
            !superseded
        });
        if !dropped.is_empty() {
            let batch = Batch {
                complete_effects: dropped,
                ..Batch::default()
            };
            self.store.commit(batch).await?;
        }
        for (id, mut entry) in entries {
            let incident_id = entry.effect.incident();
            let lane = entry.effect.lane();
            let mirror = self.port.mirrors_only()
                && !matches!(
                    entry.effect,
                    Effect::Webhook { .. } | Effect::PostChannel { .. }
                );
            if blocked.contains(&lane) || (mirror && entry.shown) {
                continue;
            }
            if entry.not_before_ms > now {
                blocked.insert(lane);
                next_due =
                    Some(next_due.map_or(entry.not_before_ms, |d| d.min(entry.not_before_ms)));
                continue;
            }
            let delivered = if let Effect::PostChannel { channel, text, .. } = &entry.effect {
                self.port
                    .post_channel(id, *channel, text)
                    .await
                    .map(|()| Vec::new())
            } else {
                let events: Vec<Event> = self.store.events(incident_id)?;
                let incident = match Incident::from_stored(IncidentId(incident_id), &events) {
                    Ok(i) => i,
                    Err(e) => {
                        error!(incident = incident_id, error = %e, effect = entry.effect.name(), "effect for an unreadable incident dropped");
                        let batch = Batch {
                            complete_effects: vec![id],
                            ..Batch::default()
                        };
                        self.store.commit(batch).await?;
                        continue;
                    }
                };
                if let Some(why) = entry.effect.withdrawn(&incident) {
                    info!(
                        incident = incident_id,
                        effect = entry.effect.name(),
                        why,
                        "effect withdrawn, not sent"
                    );
                    let batch = Batch {
                        complete_effects: vec![id],
                        ..Batch::default()
                    };
                    self.store.commit(batch).await?;
                    self.delivered.send_modify(|n| *n += 1);
                    continue;
                }
                self.dispatch(id, &entry.effect, &incident).await
            };
            match delivered {
                Ok(_) if mirror => {
                    entry.shown = true;
                    self.store.update_effect(id, &Store::encode(&entry)).await?;
                }
                Ok(kinds) => {
                    let now = Utc::now();
                    let events: Vec<(u64, Vec<u8>)> = kinds
                        .iter()
                        .map(|k| {
                            (
                                incident_id,
                                Store::encode(&Event::new(now, ActorRef::system(), k.clone())),
                            )
                        })
                        .collect();
                    let threads = kinds
                        .iter()
                        .filter_map(|k| match k {
                            EventKind::ThreadLinked { thread_id, .. } => {
                                Some((*thread_id, incident_id))
                            }
                            _ => None,
                        })
                        .collect();
                    let batch = Batch {
                        events,
                        threads,
                        complete_effects: vec![id],
                        ..Batch::default()
                    };
                    self.store.commit(batch).await?;
                    crate::metrics::effect_delivered(entry.effect.name());
                    debug!(
                        incident = incident_id,
                        effect = entry.effect.name(),
                        "effect delivered"
                    );
                    self.delivered.send_modify(|n| *n += 1);
                }
                Err(DeliveryError::Permanent(why)) => {
                    error!(incident = incident_id, effect = entry.effect.name(), %why, "effect refused by the chat; dropped");
                    let note = EventKind::NoteAdded {
                        text: format!(
                            "socbot could not {}: {why}",
                            entry.effect.name().replace('_', " ")
                        ),
                    };
                    let events = vec![(
                        incident_id,
                        Store::encode(&Event::new(Utc::now(), ActorRef::system(), note)),
                    )];
                    let batch = Batch {
                        events,
                        complete_effects: vec![id],
                        ..Batch::default()
                    };
                    self.store.commit(batch).await?;
                    crate::metrics::effect_dropped(entry.effect.name());
                    self.delivered.send_modify(|n| *n += 1);
                }
                Err(e) => {
                    crate::metrics::effect_retry(entry.effect.name());
                    // The first retry waits 0.5 s, then the wait doubles.
                    let wait = backoff(entry.attempts);
                    entry.attempts += 1;
                    entry.not_before_ms = Utc::now().timestamp_millis() + wait.as_millis() as i64;
                    let level_warn = entry.attempts >= 3;
                    if level_warn {
                        warn!(incident = incident_id, effect = entry.effect.name(), attempts = entry.attempts, error = %e, "effect not delivered yet; retrying");
                    } else {
                        info!(incident = incident_id, effect = entry.effect.name(), attempts = entry.attempts, error = %e, "effect not delivered; retrying");
                    }
                    self.store.update_effect(id, &Store::encode(&entry)).await?;
                    blocked.insert(lane);
                    next_due =
                        Some(next_due.map_or(entry.not_before_ms, |d| d.min(entry.not_before_ms)));
                }
            }
        }
        let now = Utc::now().timestamp_millis();
        Ok(next_due.map(|d| Duration::from_millis((d - now).max(0) as u64)))
    }

    /// Runs until `stop` turns true: drains on every kick and when a retry is due. Effects still
    /// waiting at shutdown stay in the outbox for the next start.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut wait = Some(Duration::ZERO);
        loop {
            let sleep = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600)));
            tokio::select! {
                _ = stop.changed() => return,
                () = self.kick.notified() => {}
                () = sleep => {}
            }
            wait = match self.drain().await {
                Ok(next) => next,
                Err(e) => {
                    error!(error = %e, "outbox: store error; retrying in 1 s");
                    Some(Duration::from_secs(1))
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }

    #[test]
    fn a_page_is_withdrawn_once_acknowledged_closed_or_superseded() {
        use crate::incident::state::tests::{alice, opened, t};
        use crate::incident::{EscalationReason, PageLevel, PageTarget, Resolution};
        let event = |kind| Event::new(t(1), alice(), kind);
        let paged = |level, target, attempt| EventKind::Paged {
            level,
            target,
            attempt,
            deadline: t(10),
        };
        let page = |level, target, attempt| Effect::Page {
            incident: 7,
            level,
            target,
            attempt,
            deadline: t(10),
        };
        let mut events = vec![
            opened(None),
            event(EventKind::Escalated {
                reason: EscalationReason::Manual { reason: "x".into() },
            }),
            event(paged(PageLevel::Primary, PageTarget::User(11), 1)),
        ];
        let first = page(PageLevel::Primary, PageTarget::User(11), 1);
        let inc = Incident::from_events(&events).unwrap();
        assert_eq!(first.withdrawn(&inc), None, "the current page goes out");
        let notice = Effect::PostNotice {
            incident: 7,
            text: "n".into(),
        };
        assert_eq!(
            notice.withdrawn(&inc),
            None,
            "only pages are ever withdrawn"
        );

        // A re-page was recorded while the first waited (an outage): only the re-page goes.
        events.push(event(paged(PageLevel::Primary, PageTarget::User(11), 2)));
        let inc = Incident::from_events(&events).unwrap();
        assert!(
            first
                .withdrawn(&inc)
                .is_some_and(|w| w.contains("later step"))
        );
        let second = page(PageLevel::Primary, PageTarget::User(11), 2);
        assert_eq!(second.withdrawn(&inc), None);

        // The chain stopped while it waited: the last page still goes out.
        let mut stopped = events.clone();
        stopped.push(event(EventKind::PagingStopped {
            why: "exhausted".into(),
        }));
        let inc = Incident::from_events(&stopped).unwrap();
        assert_eq!(second.withdrawn(&inc), None);

        for (kind, why) in [
            (EventKind::Acknowledged { by: alice() }, "acknowledged"),
            (
                EventKind::Closed {
                    resolution: Resolution::Benign,
                    summary: None,
                },
                "closed",
            ),
        ] {
            let mut after = events.clone();
            after.push(event(kind));
            let inc = Incident::from_events(&after).unwrap();
            let withdrawn = second.withdrawn(&inc);
            assert!(withdrawn.is_some_and(|w| w.contains(why)), "{withdrawn:?}");
        }
    }

    #[test]
    fn effects_round_trip_as_stored() {
        let e = OutboxEntry::new(Effect::PostNotice {
            incident: 3,
            text: "hi".into(),
        });
        let json = String::from_utf8(Store::encode(&e)).unwrap();
        assert!(json.contains(r#""type":"post_notice""#), "{json}");
        assert_eq!(serde_json::from_str::<OutboxEntry>(&json).unwrap(), e);
    }
}
