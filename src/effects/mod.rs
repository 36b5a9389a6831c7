//! Side effects through an outbox. A command stores the effects it causes (create a thread,
//! post the questions, post a decision, …) in the same transaction as its events; this worker
//! delivers them through a [`ChatPort`], in order per incident, retrying with back-off until
//! the chat answers. What a delivery creates (a thread, message ids) is recorded as incident
//! events, so a delivery that is repeated after a crash finds its work done.

mod notice;
mod unreached;

pub use notice::{Announcement, ChannelPost, Listed, Notice, OnCallNow};

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};

use crate::incident::{ActorRef, Decision, Event, EventKind, Incident};
use crate::store::{Batch, DeadLetter, Lane, NewEffect, QueuedEffect, Store, StoreError};

/// Something to do in chat for an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Create the incident's thread in `channel`.
    OpenThread { incident: u64, channel: u64 },
    /// Post the playbook context and the analysis questions with their answer buttons.
    PostQuestions { incident: u64 },
    /// Re-render the question messages with the latest answers. `settle`: after button presses
    /// that may have raced (each press updated its message in its own reply), a little later
    /// and in a lane of its own, so it never competes with the presses nor holds up the
    /// incident's posts; withdrawn once the incident is closed (the closure refreshes).
    RefreshQuestions {
        incident: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        settle: bool,
    },
    /// Post a decision, with its reasons, in the thread.
    PostDecision { incident: u64, decision: Decision },
    /// Post a line of text in the thread (as an older socbot stored its notices).
    PostNotice { incident: u64, text: String },
    /// Post a notice in the thread (a note, an escalation, …), worded by the chat port.
    Notice { incident: u64, notice: Notice },
    /// Post the closure and archive the thread.
    CloseThread { incident: u64 },
    /// Page someone: a message in the thread that mentions exactly them with an Acknowledge
    /// button (in the SOC channel when the thread refuses posts). The DM is its own
    /// [`Effect::PageDm`]; entries stored by an older socbot (`with_dm`) still send it here.
    Page {
        incident: u64,
        level: crate::incident::PageLevel,
        target: crate::incident::PageTarget,
        attempt: u32,
        deadline: chrono::DateTime<Utc>,
        #[serde(default = "older_pages_carry_their_dm")]
        with_dm: bool,
    },
    /// The DM of a page to a user, with a link to the thread: delivered on its own (its own
    /// lane), so a thread that refuses posts or keeps failing never keeps the DM back.
    PageDm {
        incident: u64,
        level: crate::incident::PageLevel,
        user: u64,
        attempt: u32,
        deadline: chrono::DateTime<Utc>,
    },
    /// POST `body` to the paging webhook, retried until accepted.
    Webhook {
        incident: u64,
        body: serde_json::Value,
    },
    /// Post the card of an incident an alert opened (source, severity, host, techniques, how
    /// many alerts came) in its thread; recorded as `AlertCardPosted`.
    PostAlertCard { incident: u64 },
    /// Re-render the alert card with the latest count and last-seen time (queued at most every
    /// 10 s per incident, so a flood of repeats is a few edits).
    RefreshAlertCard { incident: u64 },
    /// A message in a channel that belongs to no incident, as an older socbot stored it
    /// (words); `incident` is 0.
    PostChannel {
        incident: u64,
        channel: u64,
        text: String,
    },
    /// An announcement in a channel that belongs to no incident's thread (the shift hand-off,
    /// an alert storm), worded by the chat port; `incident` is the one it is filed under (0 for
    /// none).
    Announce {
        incident: u64,
        channel: u64,
        announcement: Announcement,
    },
}

/// A page stored before the DM was an effect of its own sends its DM itself.
fn older_pages_carry_their_dm() -> bool {
    true
}

impl Effect {
    pub fn incident(&self) -> u64 {
        match self {
            Self::OpenThread { incident, .. }
            | Self::PostQuestions { incident }
            | Self::RefreshQuestions { incident, .. }
            | Self::PostDecision { incident, .. }
            | Self::PostNotice { incident, .. }
            | Self::Notice { incident, .. }
            | Self::CloseThread { incident }
            | Self::PostAlertCard { incident }
            | Self::RefreshAlertCard { incident }
            | Self::Page { incident, .. }
            | Self::PageDm { incident, .. }
            | Self::Webhook { incident, .. }
            | Self::PostChannel { incident, .. }
            | Self::Announce { incident, .. } => *incident,
        }
    }

    /// Why this effect is no longer wanted for `inc` as it is now, if it is not: a page after
    /// the incident was acknowledged or closed, or a page that a later step of the chain has
    /// replaced (after an outage only the current step goes out). The last step still goes out
    /// when the chain has stopped since: after a long outage it is the widest ping there is.
    pub fn withdrawn(&self, inc: &Incident) -> Option<&'static str> {
        if let Self::RefreshQuestions { settle: true, .. } = self {
            return inc
                .is_closed()
                .then_some("the incident is closed (its closure refreshed the questions)");
        }
        let (level, target, attempt) = match self {
            Self::Page {
                level,
                target,
                attempt,
                ..
            } => (level, *target, attempt),
            Self::PageDm {
                level,
                user,
                attempt,
                ..
            } => (level, crate::incident::PageTarget::User(*user), attempt),
            _ => return None,
        };
        if inc.acknowledged.is_some() {
            Some("the page was acknowledged")
        } else if inc.is_closed() {
            Some("the incident is closed")
        } else if inc
            .page
            .as_ref()
            .is_some_and(|p| (p.level, p.target, p.attempt) != (*level, target, *attempt))
        {
            Some("a later step of the chain replaced it")
        } else {
            None
        }
    }

    /// Effects of one incident go out in order within their lane; the pager webhook, the page
    /// DMs and the alert card's refreshes have lanes of their own, so a pager outage does not hold back the chat, nor the
    /// chat the pager, nor a thread that refuses posts the DM. Lanes are delivered
    /// concurrently: a slow call delays only its own lane.
    pub fn lane(&self) -> Lane {
        let kind = match self {
            Self::Webhook { .. } => 1,
            Self::PageDm { .. } => 2,
            Self::RefreshQuestions { settle: true, .. } => 3,
            // A card refresh may wait for its 10 s slot: never in front of a page or a post.
            Self::RefreshAlertCard { .. } => 4,
            _ => 0,
        };
        Lane {
            incident: self.incident(),
            kind,
        }
    }

    /// A question refresh renders the incident as it is when delivered: a later one queued in
    /// the same lane does all an earlier one would (fewer edits, and a failing one does not
    /// hold up the newer).
    pub fn coalesces(&self) -> bool {
        matches!(self, Self::RefreshQuestions { .. })
    }

    /// A settling refresh is queued once per incident until the worker takes it: a burst of
    /// presses needs one edit made after it, not one per press (see `NewEffect::single`).
    pub fn single(&self) -> bool {
        matches!(self, Self::RefreshQuestions { settle: true, .. })
    }

    /// The channel and what to post there, for an effect that posts in a channel rather than
    /// an incident's thread.
    pub fn channel_post(&self) -> Option<(u64, ChannelPost<'_>)> {
        match self {
            Self::PostChannel { channel, text, .. } => Some((*channel, ChannelPost::Text(text))),
            Self::Announce {
                channel,
                announcement,
                ..
            } => Some((*channel, ChannelPost::Announcement(announcement))),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::OpenThread { .. } => "open_thread",
            Self::PostQuestions { .. } => "post_questions",
            Self::RefreshQuestions { .. } => "refresh_questions",
            Self::PostDecision { .. } => "post_decision",
            Self::PostNotice { .. } | Self::Notice { .. } => "post_notice",
            Self::CloseThread { .. } => "close_thread",
            Self::PostAlertCard { .. } => "post_alert_card",
            Self::RefreshAlertCard { .. } => "refresh_alert_card",
            Self::Page { .. } => "page",
            Self::PageDm { .. } => "page_dm",
            Self::Webhook { .. } => "webhook",
            Self::PostChannel { .. } | Self::Announce { .. } => "post_channel",
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
    /// When delivery first failed (ms since the epoch): `outbox.dead_letter_after` counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failed_ms: Option<i64>,
}

impl OutboxEntry {
    pub fn new(effect: Effect) -> Self {
        Self {
            effect,
            attempts: 0,
            not_before_ms: 0,
            shown: false,
            first_failed_ms: None,
        }
    }

    /// For a [`Batch`]: the entry in its lane.
    pub fn encode(effect: Effect) -> NewEffect {
        Self::encode_after(effect, 0)
    }

    /// As [`OutboxEntry::encode`], not delivered before `not_before_ms` (ms since the epoch).
    pub fn encode_after(effect: Effect, not_before_ms: i64) -> NewEffect {
        let mut entry = Self::new(effect);
        entry.not_before_ms = not_before_ms;
        NewEffect {
            lane: entry.effect.lane(),
            coalesce: entry.effect.coalesces(),
            single: entry.effect.single(),
            json: Store::encode(&entry),
        }
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

    /// Posts in `channel` (not in an incident's thread), pinging nobody.
    async fn post_channel(
        &self,
        key: u64,
        channel: u64,
        post: ChannelPost<'_>,
    ) -> Result<(), DeliveryError>;

    /// True for a port that only shows effects (the console): they stay in the outbox, marked
    /// shown, for the chat to get when the bot runs again. Pager webhooks are still sent.
    fn mirrors_only(&self) -> bool {
        false
    }
}

/// How a dead letter refused for good (a 4xx) begins its reason.
const REFUSED: &str = "refused: ";

/// Back-off after `attempts` failures: 0.5 s doubling to at most 60 s.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempts.min(7))).min(Duration::from_secs(60))
}

/// The paging webhook (a phone-grade pager such as PagerDuty's Events API v2).
#[derive(Clone, Debug)]
pub struct Webhook {
    url: String,
    client: reqwest::Client,
    /// Put into each body as it is sent: never stored in the outbox, nor so in a backup.
    routing_key: secrecy::SecretString,
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
            routing_key: secrecy::SecretString::from(""),
        }
    }

    /// The pager's routing key, added to every body at send time.
    pub fn with_routing_key(mut self, key: secrecy::SecretString) -> Self {
        self.routing_key = key;
        self
    }

    /// POSTs the body; 2xx is accepted, 4xx other than 408/429 refused for good, the rest retried.
    async fn send(&self, body: &serde_json::Value) -> Result<(), DeliveryError> {
        use secrecy::ExposeSecret;
        let mut body = body.clone();
        let key = self.routing_key.expose_secret().trim();
        if let (Some(fields), false) = (body.as_object_mut(), key.is_empty()) {
            fields.insert("routing_key".into(), key.into());
        }
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

/// How the outbox worker delivers (`[outbox]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSettings {
    /// Lanes delivered at once (at least 1).
    pub concurrency: usize,
    /// An effect still failing this long after its first failure becomes a dead letter.
    pub dead_letter_after: Duration,
}

impl OutboxSettings {
    /// From `[outbox]` (at least one lane).
    pub fn from_config(c: &crate::config::OutboxConfig) -> Self {
        Self {
            concurrency: c.concurrency.max(1),
            dead_letter_after: Duration::from_secs(c.dead_letter_after),
        }
    }
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            dead_letter_after: Duration::from_secs(3600),
        }
    }
}

/// The worker's index of the outbox: each lane's waiting effects in order, and when each lane
/// is next due. Built once from the store at the first pass, then kept up to date from the
/// store's feed of new effects and from what the worker does, so no pass reads the outbox.
#[derive(Default)]
struct Index {
    loaded: bool,
    /// Effects queued before this id were there when the index was built (the backlog).
    fresh_from: u64,
    lanes: HashMap<Lane, BTreeMap<u64, bool>>,
    /// (class, due ms, head id, lane): class 0 for new work, 1 for the backlog and retries, so
    /// new work never waits behind a backlog; then oldest first.
    due: BTreeSet<(u8, i64, u64, Lane)>,
    due_of: HashMap<Lane, (u8, i64, u64)>,
    busy: HashSet<Lane>,
}

/// One lane's head, taken for delivery.
#[derive(Debug, Clone, Copy)]
struct Job {
    lane: Lane,
    id: u64,
    /// A later refresh in the same lane does what this one would.
    superseded: bool,
}

/// What happened to a job.
enum Outcome {
    /// Out of the outbox (delivered, withdrawn, dead-lettered, set aside).
    Done,
    /// Shown by a port that only mirrors: stays in the store, not in this index.
    Shown,
    /// Try the lane again at this time (ms).
    Retry(i64),
}

impl Index {
    fn add(&mut self, q: QueuedEffect) {
        self.lanes
            .entry(q.lane)
            .or_default()
            .insert(q.id, q.coalesce);
        if !self.busy.contains(&q.lane) && !self.due_of.contains_key(&q.lane) {
            self.schedule(q.lane, 0);
        }
    }

    fn schedule(&mut self, lane: Lane, at: i64) {
        if let Some(old) = self.due_of.remove(&lane) {
            self.due.remove(&(old.0, old.1, old.2, lane));
        }
        let Some(head) = self.lanes.get(&lane).and_then(|l| l.keys().next().copied()) else {
            self.lanes.remove(&lane);
            return;
        };
        let class = u8::from(at > 0 || head < self.fresh_from);
        self.due.insert((class, at, head, lane));
        self.due_of.insert(lane, (class, at, head));
    }

    /// The first lane due at `now`, new work first.
    fn take(&mut self, now: i64) -> Option<Job> {
        // New work (class 0) is always due now; the rest in due order.
        let key = *self.due.iter().next().filter(|k| k.1 <= now)?;
        self.due.remove(&key);
        let lane = key.3;
        self.due_of.remove(&lane);
        let entries = self.lanes.get(&lane)?;
        let (&id, &coalesce) = entries.iter().next()?;
        let superseded = coalesce && entries.range(id + 1..).any(|(_, c)| *c);
        self.busy.insert(lane);
        Some(Job {
            lane,
            id,
            superseded,
        })
    }

    fn finish(&mut self, job: Job, outcome: &Outcome) {
        self.busy.remove(&job.lane);
        match outcome {
            Outcome::Done | Outcome::Shown => {
                if let Some(l) = self.lanes.get_mut(&job.lane) {
                    l.remove(&job.id);
                }
                self.schedule(job.lane, 0);
            }
            Outcome::Retry(at) => self.schedule(job.lane, *at),
        }
    }

    fn next_due(&self) -> Option<i64> {
        self.due.iter().next().map(|k| k.1)
    }

    fn len(&self) -> usize {
        self.lanes.values().map(BTreeMap::len).sum()
    }
}

/// The outbox worker. Clone it to kick it from commands.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    port: Arc<dyn ChatPort>,
    webhook: Option<Webhook>,
    settings: OutboxSettings,
    kick: Arc<Notify>,
    delivered: watch::Sender<u64>,
    index: Arc<std::sync::Mutex<Index>>,
    /// One pass at a time (the console drains after each command while the worker runs).
    draining: Arc<tokio::sync::Mutex<()>>,
    /// Held while a page path becomes a dead letter (see [`unreached`]).
    pages: Arc<tokio::sync::Mutex<()>>,
}

impl Outbox {
    pub fn new(store: Store, port: Arc<dyn ChatPort>) -> Self {
        Self {
            store,
            port,
            webhook: None,
            settings: OutboxSettings::default(),
            kick: Arc::new(Notify::new()),
            delivered: watch::channel(0).0,
            index: Arc::default(),
            draining: Arc::new(tokio::sync::Mutex::new(())),
            pages: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Delivers `Effect::Webhook` to this webhook (None: webhook effects are dropped as done).
    pub fn with_webhook(mut self, webhook: Option<Webhook>) -> Self {
        self.webhook = webhook;
        self
    }

    pub fn with_settings(mut self, settings: OutboxSettings) -> Self {
        self.settings = OutboxSettings {
            concurrency: settings.concurrency.max(1),
            ..settings
        };
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

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many effects this worker has still to deliver (or show).
    pub fn pending(&self) -> usize {
        self.index().len()
    }

    /// Builds the index from the store, once: every waiting effect is decoded here and never
    /// again by a pass. An entry that does not decode is set aside, logged and counted.
    fn load(&self) -> Result<(), StoreError> {
        if self.index().loaded {
            self.ingest();
            return Ok(());
        }
        self.store.watch_effects();
        let mirror = self.port.mirrors_only();
        let mut found = Vec::new();
        let mut last = 0;
        for record in self.store.outbox()? {
            last = last.max(record.id);
            match serde_json::from_slice::<OutboxEntry>(&record.json) {
                Ok(entry) if mirror && entry.shown && Self::mirrored(&entry.effect) => {}
                Ok(entry) => found.push(QueuedEffect {
                    id: record.id,
                    lane: entry.effect.lane(),
                    coalesce: entry.effect.coalesces(),
                }),
                Err(e) => self.set_aside("outbox", &record.id.to_be_bytes(), &e.to_string()),
            }
        }
        let mut index = self.index();
        index.fresh_from = last + 1;
        for q in found {
            index.add(q);
        }
        index.loaded = true;
        drop(index);
        self.ingest();
        Ok(())
    }

    /// Takes the effects queued since the last look.
    fn ingest(&self) {
        let new = self.store.take_new_effects();
        if !new.is_empty() {
            let mut index = self.index();
            for q in new {
                index.add(q);
            }
        }
    }

    /// A record that does not decode: logged with its key, counted, moved aside so it never
    /// holds up anything again.
    fn set_aside(&self, tree: &'static str, key: &[u8], why: &str) {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        error!(tree, key = %hex, error = %why, "unreadable record set aside; everything else goes on");
        crate::metrics::store_unreadable(tree);
        if let Err(e) = self.store.set_aside(tree, key) {
            error!(tree, key = %hex, error = %e, "could not set the unreadable record aside");
        }
    }

    /// Effects that a mirroring port (the console) only shows: the chat still gets them later.
    fn mirrored(effect: &Effect) -> bool {
        !matches!(
            effect,
            Effect::Webhook { .. } | Effect::PostChannel { .. } | Effect::Announce { .. }
        )
    }

    /// Delivers every effect that is due, each lane in order, up to `settings.concurrency`
    /// lanes at once. Returns the time until the next retry is due, if any effect is left.
    pub async fn drain(&self) -> Result<Option<Duration>, StoreError> {
        let (_running, stop) = watch::channel(false);
        self.drain_until(&stop).await
    }

    /// As [`Outbox::drain`], starting nothing new once `stop` turns true (what is in flight
    /// finishes and is recorded).
    pub async fn drain_until(
        &self,
        stop: &watch::Receiver<bool>,
    ) -> Result<Option<Duration>, StoreError> {
        let _one = self.draining.lock().await;
        self.load()?;
        let fed = self.store.watch_effects();
        let mut running = tokio::task::JoinSet::new();
        let mut jobs: HashMap<tokio::task::Id, Job> = HashMap::new();
        let mut stop = stop.clone();
        // Once stopping, what is in flight gets a few seconds to finish and be recorded; a call
        // still hanging then is abandoned (delivery is idempotent: it is redone at the next
        // start, its nonce or thread name finding what it already did).
        let mut give_up: Option<tokio::time::Instant> = None;
        let mut closed = false;
        loop {
            self.ingest();
            let stopping = closed || *stop.borrow();
            while running.len() < self.settings.concurrency && !stopping {
                let now = Utc::now().timestamp_millis();
                let Some(job) = self.index().take(now) else {
                    break;
                };
                let me = self.clone();
                let handle = running.spawn(async move { me.deliver(job).await });
                jobs.insert(handle.id(), job);
            }
            if running.is_empty() {
                break;
            }
            if stopping && give_up.is_none() {
                give_up = Some(tokio::time::Instant::now() + Duration::from_secs(3));
            }
            // While lanes are in flight (one may hang until its timeout), new effects and
            // retries falling due are started beside them.
            let now = Utc::now().timestamp_millis();
            let next = self.index().next_due().map(|d| (d - now).max(1) as u64);
            let retry = tokio::time::sleep(Duration::from_millis(next.unwrap_or(3_600_000)));
            let abandon = async {
                match give_up {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = running.join_next_with_id() => {
                    let (id, outcome) = match done {
                        Some(Ok((id, outcome))) => (id, outcome),
                        Some(Err(e)) => {
                            error!(error = %e, "outbox: a delivery task failed; its lane retries");
                            (e.id(), Outcome::Retry(Utc::now().timestamp_millis() + 1000))
                        }
                        None => continue,
                    };
                    if let Some(job) = jobs.remove(&id) {
                        self.index().finish(job, &outcome);
                    }
                }
                () = fed.notified() => {}
                () = self.kick.notified() => {}
                () = retry => {}
                changed = stop.changed(), if !closed => closed = changed.is_err(),
                () = abandon => {
                    warn!(in_flight = running.len(), "stopping: deliveries still in flight are abandoned and redone at the next start");
                    running.abort_all();
                    break;
                }
            }
        }
        let now = Utc::now().timestamp_millis();
        Ok(self
            .index()
            .next_due()
            .map(|d| Duration::from_millis((d - now).max(0) as u64)))
    }

    /// Delivers one lane's head. A store error is that lane's retry, never the worker's stop.
    async fn deliver(&self, job: Job) -> Outcome {
        match self.try_deliver(job).await {
            Ok(outcome) => outcome,
            Err(e) => {
                error!(effect_id = job.id, incident = job.lane.incident, error = %e, "outbox: store error on one effect; its lane retries");
                Outcome::Retry(Utc::now().timestamp_millis() + 1000)
            }
        }
    }

    async fn try_deliver(&self, job: Job) -> Result<Outcome, StoreError> {
        let id = job.id;
        let Some(raw) = self.store.effect(id)? else {
            return Ok(Outcome::Done); // completed meanwhile
        };
        let mut entry = match serde_json::from_slice::<OutboxEntry>(&raw) {
            Ok(e) => e,
            Err(e) => {
                self.set_aside("outbox", &id.to_be_bytes(), &e.to_string());
                return Ok(Outcome::Done);
            }
        };
        let incident_id = entry.effect.incident();
        let now = Utc::now().timestamp_millis();
        if entry.not_before_ms > now && !job.superseded {
            // Not yet (a back-off from before a restart, or a deliberately later effect).
            return Ok(Outcome::Retry(entry.not_before_ms));
        }
        if entry.effect.single() {
            // Taken before the incident is read: a press from now on queues another.
            self.store.claim_single(job.lane, id)?;
        }
        if job.superseded {
            debug!(
                incident = incident_id,
                "question refresh superseded by a later one"
            );
            return self.done_without_sending(id).await;
        }
        let mirror = self.port.mirrors_only() && Self::mirrored(&entry.effect);
        let delivered = if let Some((channel, post)) = entry.effect.channel_post() {
            self.port
                .post_channel(id, channel, post)
                .await
                .map(|()| Vec::new())
        } else {
            let read = self.store.incident(incident_id).map_err(|e| e.to_string());
            let incident = match read.and_then(|i| i.ok_or_else(|| "it has no events".into())) {
                Ok(i) => i,
                Err(e) => {
                    // Perhaps a newer socbot's record: kept, retried with back-off, and a dead
                    // letter in the end; the other lanes go on meanwhile.
                    return self
                        .failed(
                            id,
                            entry,
                            DeliveryError::Retry(format!("the incident cannot be read: {e}")),
                        )
                        .await;
                }
            };
            if let Some(why) = entry.effect.withdrawn(&incident) {
                info!(
                    incident = incident_id,
                    effect = entry.effect.name(),
                    why,
                    "effect withdrawn, not sent"
                );
                return self.done_without_sending(id).await;
            }
            self.dispatch(id, &entry.effect, &incident).await
        };
        match delivered {
            Ok(_) if mirror => {
                entry.shown = true;
                self.store.update_effect(id, &Store::encode(&entry))?;
                Ok(Outcome::Shown)
            }
            Ok(kinds) => self.delivered(id, &entry.effect, kinds).await,
            Err(e) => self.failed(id, entry, e).await,
        }
    }

    /// Records a delivery: what it made (a thread, message ids) as the incident's events, the
    /// effect done.
    async fn delivered(
        &self,
        id: u64,
        effect: &Effect,
        kinds: Vec<EventKind>,
    ) -> Result<Outcome, StoreError> {
        let incident_id = effect.incident();
        if kinds.is_empty() && effect.coalesces() {
            // A refresh made nothing to remember: losing its removal in a crash only sends it
            // again, which changes nothing. No sync of its own (the next commit's covers it).
            self.complete_lightly(id)?;
            crate::metrics::effect_delivered(effect.name());
            return Ok(Outcome::Done);
        }
        let now = Utc::now();
        let threads = kinds
            .iter()
            .filter_map(|k| match k {
                EventKind::ThreadLinked { thread_id, .. } => Some((*thread_id, incident_id)),
                _ => None,
            })
            .collect();
        let events = kinds
            .into_iter()
            .map(|k| {
                let event = Event::new(now, ActorRef::system(), k);
                (incident_id, Store::encode(&event))
            })
            .collect();
        self.complete(Batch {
            events,
            threads,
            complete_effects: vec![id],
            ..Batch::default()
        })
        .await?;
        crate::metrics::effect_delivered(effect.name());
        debug!(
            incident = incident_id,
            effect = effect.name(),
            "effect delivered"
        );
        Ok(Outcome::Done)
    }

    /// Effect `id` is done without being sent (withdrawn, superseded): after a crash that
    /// lost this, it would be found withdrawn or superseded again, so it waits for no sync.
    async fn done_without_sending(&self, id: u64) -> Result<Outcome, StoreError> {
        self.complete_lightly(id)?;
        Ok(Outcome::Done)
    }

    /// Takes effect `id` out of the outbox without waiting for the disk: only for what is
    /// harmless to do again (the store's log syncs it within 20 ms, a commit's sync sooner).
    fn complete_lightly(&self, id: u64) -> Result<(), StoreError> {
        let _written = self.store.write(&Batch {
            complete_effects: vec![id],
            ..Batch::default()
        })?;
        self.delivered.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Commits what a delivery did and tells whoever waits for deliveries.
    async fn complete(&self, batch: Batch) -> Result<(), StoreError> {
        self.store.commit(batch).await?;
        self.delivered.send_modify(|n| *n += 1);
        Ok(())
    }

    /// A failed delivery: retried with back-off, or a dead letter when refused for good or
    /// failing for longer than `dead_letter_after`.
    async fn failed(
        &self,
        id: u64,
        mut entry: OutboxEntry,
        error: DeliveryError,
    ) -> Result<Outcome, StoreError> {
        let incident_id = entry.effect.incident();
        let name = entry.effect.name();
        let e = error.to_string();
        let now = Utc::now().timestamp_millis();
        let first = *entry.first_failed_ms.get_or_insert(now);
        let too_long = now - first >= self.settings.dead_letter_after.as_millis() as i64;
        let refused = matches!(error, DeliveryError::Permanent(_));
        let why = match error {
            DeliveryError::Permanent(why) => Some(format!("{REFUSED}{why}")),
            other if too_long => Some(format!(
                "still failing after {} attempts over {} min: {other}",
                entry.attempts + 1,
                (now - first) / 60_000
            )),
            _ => None,
        };
        let Some(why) = why else {
            crate::metrics::effect_retry(name);
            // The first retry waits 0.5 s, then the wait doubles.
            let wait = backoff(entry.attempts);
            entry.attempts += 1;
            entry.not_before_ms = now + wait.as_millis() as i64;
            if entry.attempts >= 3 {
                warn!(incident = incident_id, effect = name, attempts = entry.attempts, error = %e, "effect not delivered yet; retrying");
            } else {
                info!(incident = incident_id, effect = name, attempts = entry.attempts, error = %e, "effect not delivered; retrying");
            }
            self.store.update_effect(id, &Store::encode(&entry))?;
            return Ok(Outcome::Retry(entry.not_before_ms));
        };
        self.bury(id, entry, why, refused).await?;
        Ok(Outcome::Done)
    }

    /// Moves effect `id` to the dead letters, noting it on its incident. A page path refused
    /// for good may leave the page with no path left: then its notice goes out with it.
    async fn bury(
        &self,
        id: u64,
        entry: OutboxEntry,
        why: String,
        refused: bool,
    ) -> Result<(), StoreError> {
        let incident_id = entry.effect.incident();
        let name = entry.effect.name();
        error!(incident = incident_id, effect = name, effect_id = id, %why, "effect moved to the dead letters (`socbot outbox list`)");
        // Two paths of one page failing at once must see each other's dead letter.
        let held = if refused && unreached::is_page(&entry.effect) {
            Some(self.pages.lock().await)
        } else {
            None
        };
        let notice = match &held {
            Some(_) => {
                let last = why.strip_prefix(REFUSED).unwrap_or(&why);
                unreached::notice(&self.store, &entry.effect, last)?
            }
            None => None,
        };
        let attempts = entry.attempts + 1;
        let lane = entry.effect.lane();
        let coalesce = entry.effect.coalesces();
        let note = EventKind::NoteAdded {
            text: format!(
                "socbot could not {} ({why}); kept as dead letter {id} (`socbot outbox retry {id}`)",
                name.replace('_', " ")
            ),
        };
        let events = if incident_id != 0 {
            vec![(
                incident_id,
                Store::encode(&Event::new(Utc::now(), ActorRef::system(), note)),
            )]
        } else {
            Vec::new()
        };
        let fresh = OutboxEntry::new(entry.effect);
        let letter = DeadLetter {
            entry: serde_json::to_value(&fresh).unwrap_or_default(),
            lane,
            coalesce,
            reason: why,
            attempts,
            at_ms: Utc::now().timestamp_millis(),
        };
        self.complete(Batch {
            events,
            effects: notice.into_iter().collect(),
            dead_letters: vec![(id, letter)],
            ..Batch::default()
        })
        .await?;
        crate::metrics::effect_dropped(name);
        Ok(())
    }

    /// Runs until `stop` turns true: drains on every kick and when a retry is due, and forgets
    /// interaction ids Discord can no longer redeliver. Effects still waiting at shutdown stay
    /// in the outbox for the next start.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut wait = Some(Duration::ZERO);
        let mut pruned = tokio::time::Instant::now();
        let fed = self.store.watch_effects();
        loop {
            let sleep = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(60)));
            tokio::select! {
                _ = stop.changed() => return,
                () = self.kick.notified() => {}
                () = fed.notified() => {}
                () = sleep => {}
            }
            if *stop.borrow() {
                return;
            }
            wait = match self.drain_until(&stop).await {
                Ok(next) => next.map(|d| d.min(Duration::from_secs(60))),
                Err(e) => {
                    error!(error = %e, "outbox: store error; retrying in 1 s");
                    Some(Duration::from_secs(1))
                }
            };
            if pruned.elapsed() >= Duration::from_secs(60) {
                pruned = tokio::time::Instant::now();
                let before = Utc::now().timestamp_millis() - crate::store::INTERACTION_KEEP_MS;
                match self.store.prune_interactions(before) {
                    Ok(0) => {}
                    Ok(n) => debug!(n, "forgot interaction ids older than 20 minutes"),
                    Err(e) => warn!(error = %e, "pruning interaction ids failed"),
                }
            }
        }
    }
}

/// `socbot outbox [list | retry ID | drop ID]`: one request, answered as text. The command
/// line runs it on the store itself, or sends it to a running bot's control socket, which runs
/// it here on the live store (a retried effect goes straight back to the bot's worker).
pub async fn outbox_request(store: &Store, request: &str) -> Result<String, String> {
    let words: Vec<&str> = request.split_whitespace().collect();
    let id = |w: Option<&&str>| -> Result<u64, String> {
        w.and_then(|w| w.parse().ok()).ok_or_else(|| {
            "name the dead letter by its number (`socbot outbox list` shows them)".to_owned()
        })
    };
    let store_err = |e: StoreError| e.to_string();
    match words.as_slice() {
        [] | ["list"] => {
            let letters = store.dead_letters().map_err(store_err)?;
            let mut out = format!(
                "{} effect(s) waiting for delivery; {} dead letter(s){}\n",
                store.outbox_len(),
                letters.len(),
                if letters.is_empty() { "" } else { ":" }
            );
            for (id, l) in letters {
                // By the name logs and metrics use (a notice is a `post_notice`, whichever way
                // it was stored); a record this socbot cannot read by its stored type.
                let effect = serde_json::from_value::<Effect>(l.entry["effect"].clone())
                    .map(|e| e.name())
                    .unwrap_or_else(|_| l.entry["effect"]["type"].as_str().unwrap_or("unknown"));
                let incident = match l.lane.incident {
                    0 => "-".to_owned(),
                    n => format!("INC-{n}"),
                };
                let at = chrono::DateTime::from_timestamp_millis(l.at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {id:<8} {incident:<10} {effect:<18} {at}  after {} attempt(s): {}\n",
                    l.attempts, l.reason
                ));
            }
            Ok(out)
        }
        ["retry", rest @ ..] => {
            let n = id(rest.first())?;
            match store.retry_dead_letter(n).await.map_err(store_err)? {
                Some(new) => {
                    info!(dead_letter = n, effect_id = new, "dead letter queued again");
                    Ok(format!("dead letter {n} is queued again (effect {new})\n"))
                }
                None => Err(format!(
                    "there is no dead letter {n}; `socbot outbox list` shows them"
                )),
            }
        }
        ["drop", rest @ ..] => {
            let n = id(rest.first())?;
            if store.drop_dead_letter(n).await.map_err(store_err)? {
                warn!(dead_letter = n, "dead letter dropped for good");
                Ok(format!("dead letter {n} dropped for good\n"))
            } else {
                Err(format!(
                    "there is no dead letter {n}; `socbot outbox list` shows them"
                ))
            }
        }
        _ => Err(format!(
            "unknown outbox request `{request}`: use `list`, `retry ID` or `drop ID`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(id: u64, incident: u64) -> QueuedEffect {
        QueuedEffect {
            id,
            lane: Lane { incident, kind: 0 },
            coalesce: false,
        }
    }

    #[test]
    fn new_work_goes_before_the_backlog_and_each_lane_keeps_its_order() {
        let mut index = Index {
            fresh_from: 1_000,
            ..Index::default()
        };
        for id in 1..=500 {
            index.add(queued(id, id % 100));
        }
        index.add(queued(1_001, 7_777));
        let first = index.take(10).unwrap();
        assert_eq!(first.lane.incident, 7_777, "the new incident first");
        let next = index.take(10).unwrap();
        assert_eq!(next.id, 1, "then the backlog, oldest lane head first");
        // A lane in flight is not taken again; its next entry waits for the first.
        index.finish(next, &Outcome::Retry(50));
        assert!((0..200).all(|_| index.take(10).is_none_or(|j| j.lane.incident != 1)));
        assert_eq!(index.next_due(), Some(50));
    }

    #[test]
    fn a_settling_refresh_has_its_own_lane_and_is_withdrawn_once_closed() {
        use crate::incident::Resolution;
        use crate::incident::state::tests::{alice, opened, t};
        let settle = Effect::RefreshQuestions {
            incident: 7,
            settle: true,
        };
        let plain = Effect::RefreshQuestions {
            incident: 7,
            settle: false,
        };
        assert_ne!(settle.lane(), plain.lane());
        let mut events = vec![opened(None)];
        let inc = Incident::from_events(&events).unwrap();
        assert_eq!(settle.withdrawn(&inc), None);
        events.push(Event::new(
            t(1),
            alice(),
            EventKind::Closed {
                resolution: Resolution::Benign,
                summary: None,
            },
        ));
        let inc = Incident::from_events(&events).unwrap();
        assert!(settle.withdrawn(&inc).is_some());
        assert_eq!(
            plain.withdrawn(&inc),
            None,
            "the closure's own refresh goes out"
        );
    }

    /// Accepts every post in a channel, counting them.
    #[derive(Default)]
    struct Accepting(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl ChatPort for Accepting {
        async fn deliver(
            &self,
            _: u64,
            _: &Effect,
            _: &Incident,
        ) -> Result<Vec<EventKind>, DeliveryError> {
            Ok(Vec::new())
        }

        async fn post_channel(
            &self,
            _: u64,
            _: u64,
            _: ChannelPost<'_>,
        ) -> Result<(), DeliveryError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    async fn queue_posts(store: &Store, n: u64) {
        let effects = (0..n)
            .map(|i| {
                OutboxEntry::encode(Effect::PostChannel {
                    incident: 1 + i % 50,
                    channel: 10,
                    text: format!("post {i}"),
                })
            })
            .collect();
        store
            .commit(Batch {
                effects,
                ..Batch::default()
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_worker_reads_the_whole_outbox_once_never_per_pass_or_effect() {
        let store = Store::temporary().unwrap();
        queue_posts(&store, 1_000).await;
        let port = Arc::new(Accepting::default());
        let outbox = Outbox::new(store.clone(), port.clone());
        outbox.drain().await.unwrap();
        assert_eq!(port.0.load(std::sync::atomic::Ordering::SeqCst), 1_000);
        assert_eq!(store.outbox_reads(), 1, "the backlog, read once at start");
        for _ in 0..3 {
            queue_posts(&store, 500).await;
            outbox.drain().await.unwrap();
        }
        assert_eq!(port.0.load(std::sync::atomic::Ordering::SeqCst), 2_500);
        assert_eq!(store.outbox_len(), 0);
        assert_eq!(
            store.outbox_reads(),
            1,
            "new effects come by the store's feed, not by reading the outbox again"
        );
    }

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
            with_dm: false,
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
    fn a_page_stored_before_dms_were_their_own_effect_still_sends_its_dm() {
        let old = r#"{"effect":{"type":"page","incident":4,"level":"primary","target":{"user":9},"attempt":1,"deadline":"2026-11-23T10:10:00Z"}}"#;
        let entry: OutboxEntry = serde_json::from_str(old).unwrap();
        assert!(matches!(entry.effect, Effect::Page { with_dm: true, .. }));
        let new = OutboxEntry::new(Effect::Page {
            incident: 4,
            level: crate::incident::PageLevel::Primary,
            target: crate::incident::PageTarget::User(9),
            attempt: 1,
            deadline: Utc::now(),
            with_dm: false,
        });
        let json = String::from_utf8(Store::encode(&new)).unwrap();
        assert_eq!(serde_json::from_str::<OutboxEntry>(&json).unwrap(), new);
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
