//! Paging Tier 2: drives each escalated incident's paging chain (page, re-page, secondary,
//! role) from durable timers. A deadline lives in the store; at start-up every pending one is
//! re-armed and the overdue ones fire at once, one step at a time, so a restart in the middle
//! of a chain neither skips a step nor repeats one.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{Mutex, Notify, watch};
use tracing::{error, info};

use crate::clock::Clock;
use crate::effects::{Announcement, Effect, Listed, Notice, OnCallNow, Outbox, OutboxEntry};
use crate::id::DiscordId;
use crate::incident::{ActorRef, Event, EventKind, Incident};
use crate::oncall::{
    Oncall, OncallView, Override, PageState, PagingConfig, Rotation, Severity, Step, WebhookAction,
    next_step, webhook_body,
};
use crate::store::{Batch, NewEffect, Store, StoreError};

/// The timer kind of a paging deadline.
pub const PAGE_TIMER: u8 = 1;
/// The timer kind of the next shift hand-off (incident 0).
pub const HANDOFF_TIMER: u8 = 2;
const OVERRIDES: &str = "oncall_overrides";

/// The on-call overrides kept in `store`, in creation order (expired ones included until
/// pruned).
pub fn load_overrides(store: &Store) -> Result<Vec<Override>, StoreError> {
    Ok(overrides_kept(store)?.0)
}

/// The stored overrides: those this version reads, and the others as stored. One that does
/// not decode (a rollback, a bug) is isolated: logged with its key and place, counted
/// (`socbot_store_unreadable_total{tree="oncall_overrides"}`) and kept as it is, never a stop
/// for paging. A document that is no list at all is set aside whole in `unreadable`.
fn overrides_kept(store: &Store) -> Result<(Vec<Override>, Vec<serde_json::Value>), StoreError> {
    let raw: Vec<serde_json::Value> = match store.load_json(OVERRIDES) {
        Ok(list) => list.unwrap_or_default(),
        Err(StoreError::Corrupt { message, .. }) => {
            error!(key = OVERRIDES, error = %message, "unreadable on-call overrides set aside; none apply");
            crate::metrics::store_unreadable(OVERRIDES);
            if let Err(e) = store.set_aside("meta", format!("doc/{OVERRIDES}").as_bytes()) {
                error!(key = OVERRIDES, error = %e, "cannot set the unreadable overrides aside");
            }
            return Ok((Vec::new(), Vec::new()));
        }
        Err(e) => return Err(e),
    };
    Ok(split_overrides(raw))
}

/// The overrides in a stored overrides document (`socbot oncall` beside a running bot reads
/// them from its copy): each one this version cannot read is logged, counted and left out.
pub fn overrides_from_json(bytes: &[u8]) -> Vec<Override> {
    match serde_json::from_slice::<Vec<serde_json::Value>>(bytes) {
        Ok(raw) => split_overrides(raw).0,
        Err(e) => {
            error!(key = OVERRIDES, error = %e, "unreadable on-call overrides; none apply");
            crate::metrics::store_unreadable(OVERRIDES);
            Vec::new()
        }
    }
}

/// Readable overrides, and the others as stored.
fn split_overrides(raw: Vec<serde_json::Value>) -> (Vec<Override>, Vec<serde_json::Value>) {
    let mut readable = Vec::new();
    let mut kept = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        match serde_json::from_value::<Override>(value.clone()) {
            Ok(o) => readable.push(o),
            Err(e) => {
                static REPORTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
                let seen = value.to_string();
                let mut reported = REPORTED.lock().unwrap_or_else(|e| e.into_inner());
                if !reported.contains(&seen) {
                    error!(key = OVERRIDES, index = i, error = %e, "unreadable on-call override skipped (kept as stored)");
                    crate::metrics::store_unreadable(OVERRIDES);
                    reported.push(seen);
                }
                kept.push(value);
            }
        }
    }
    (readable, kept)
}

#[derive(Clone)]
pub struct Paging {
    store: Store,
    outbox: Outbox,
    rotation: Rotation,
    config: PagingConfig,
    clock: Clock,
    kick: Arc<Notify>,
    /// Shared with the incident commands: one read-decide-write at a time.
    lock: Arc<Mutex<()>>,
    /// Where the shift hand-off is posted (0: not posted).
    handoff_channel: Option<DiscordId>,
}

/// What a command's events mean for paging, to add to its batch.
#[derive(Default)]
pub struct PagingChanges {
    pub effects: Vec<Effect>,
    pub timers: Vec<(i64, u64, u8, Vec<u8>)>,
    pub cancel: Vec<(u64, u8)>,
}

impl Paging {
    pub fn new(
        store: Store,
        outbox: Outbox,
        rotation: Rotation,
        config: PagingConfig,
        clock: Clock,
        lock: Arc<Mutex<()>>,
    ) -> Self {
        Self {
            store,
            outbox,
            rotation,
            config,
            clock,
            kick: Arc::new(Notify::new()),
            lock,
            handoff_channel: None,
        }
    }

    /// Posts a hand-off summary (on call now, open and escalated incidents) in `channel` at
    /// every rotation hand-off.
    pub fn with_handoff(mut self, channel: Option<DiscordId>) -> Self {
        self.handoff_channel = channel;
        self
    }

    /// The hand-off for `now`: who is on call, and the incidents still open or escalated.
    fn handoff_announcement(&self, now: DateTime<Utc>) -> Result<Announcement, StoreError> {
        let mut open = Vec::new();
        let mut escalated = Vec::new();
        for inc in super::incident::open_incidents(&self.store)? {
            let listed = Listed {
                incident: inc.id.0,
                title: inc.title.clone(),
                thread: inc.thread.map(|t| t.thread_id),
            };
            match inc.status {
                crate::incident::Status::Open => open.push(listed),
                crate::incident::Status::Escalated => escalated.push(listed),
                crate::incident::Status::Closed { .. } => {}
            }
        }
        let on_call = self.view(now)?.map(|v| OnCallNow {
            // Stored in the outbox as the numbers they always were.
            primary: v.primary.get(),
            until: v.until,
            secondary: v.secondary.map(DiscordId::get),
        });
        Ok(Announcement::Handoff {
            on_call,
            escalated,
            open,
        })
    }

    /// Posts the hand-off and arms the next one.
    async fn handoff(&self) -> Result<(), StoreError> {
        let _guard = self.lock.lock().await;
        let now = self.clock.now();
        let Some(channel) = self.handoff_channel else {
            return Ok(());
        };
        let announcement = self.handoff_announcement(now)?;
        let mut batch = Batch::default();
        batch.effects.push(OutboxEntry::encode(Effect::Announce {
            incident: 0,
            channel: channel.get(),
            announcement,
        }));
        match self.rotation.on_call(now) {
            Some(shift) => batch.timers.push((
                shift.ends.timestamp_millis(),
                0,
                HANDOFF_TIMER,
                b"{}".to_vec(),
            )),
            None => batch.cancel_timers.push((0, HANDOFF_TIMER)),
        }
        self.store.commit(batch).await?;
        self.outbox.kick();
        info!("shift hand-off posted");
        Ok(())
    }

    /// Arms the next hand-off when none is armed (first start, or the roster appeared), or
    /// when the armed one is still to come but no longer at the end of the shift (the rotation
    /// was reconfigured). An overdue one stays: it was missed while socbot was down, and fires.
    async fn arm_handoff(&self) -> Result<(), StoreError> {
        if self.handoff_channel.is_none() {
            return Ok(());
        }
        let now = self.clock.now();
        let armed = self
            .store
            .timers()?
            .into_iter()
            .find(|t| t.kind == HANDOFF_TIMER)
            .map(|t| t.due_ms);
        let shift = self.rotation.on_call(now);
        let stale = match (armed, &shift) {
            (None, _) => true,
            (Some(due), Some(shift)) => {
                due > now.timestamp_millis() && due != shift.ends.timestamp_millis()
            }
            (Some(_), None) => false,
        };
        if let (true, Some(shift)) = (stale, shift) {
            let batch = Batch {
                timers: vec![(
                    shift.ends.timestamp_millis(),
                    0,
                    HANDOFF_TIMER,
                    b"{}".to_vec(),
                )],
                ..Batch::default()
            };
            self.store.commit(batch).await?;
        }
        Ok(())
    }

    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// Wakes the timer loop (a deadline was set or moved).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// The overrides in creation order (expired ones included until pruned).
    pub fn overrides(&self) -> Result<Vec<Override>, StoreError> {
        load_overrides(&self.store)
    }

    /// Who is on call at `at`.
    pub fn view(&self, at: DateTime<Utc>) -> Result<Option<OncallView>, StoreError> {
        Ok(Oncall::now(&self.rotation, &self.overrides()?, at))
    }

    /// Stores a new override (dropping expired ones).
    pub async fn add_override(&self, o: Override) -> Result<(), StoreError> {
        // Read-modify-write under the incident lock: two overrides at once both stay.
        let _guard = self.lock.lock().await;
        let now = self.clock.now();
        let (mut all, unreadable) = overrides_kept(&self.store)?;
        all.retain(|x| !x.is_expired(now));
        all.push(o);
        // Those this version cannot read stay as they were (a newer socbot may again).
        let mut stored: Vec<serde_json::Value> = unreadable;
        stored.extend(all.iter().filter_map(|o| serde_json::to_value(o).ok()));
        self.store.save_json(OVERRIDES, &stored).await
    }

    fn webhook(&self, inc: &Incident, action: WebhookAction) -> Option<Effect> {
        self.config.webhook()?;
        let summary = format!(
            "{} {} · {} · {}",
            inc.id, inc.title, inc.technique, inc.playbook_name
        );
        // The routing key is a secret: the outbox (and so a backup) holds the body without it;
        // the webhook adds it as it sends.
        let mut body = webhook_body(
            "",
            &inc.id.to_string(),
            &summary,
            Severity::Critical,
            action,
            "socbot",
        );
        if let Some(fields) = body.as_object_mut() {
            fields.remove("routing_key");
        }
        Some(Effect::Webhook {
            incident: inc.id.0,
            body,
        })
    }

    /// The paging consequences of a command's new events on `inc` (the state before them):
    /// escalation arms the chain now; acknowledgement or closure disarms it and tells the pager.
    pub fn changes_for(&self, inc: &Incident, events: &[Event]) -> PagingChanges {
        let mut out = PagingChanges::default();
        let id = inc.id.0;
        for e in events {
            match &e.kind {
                EventKind::Escalated { .. } => {
                    out.timers
                        .push((e.at.timestamp_millis(), id, PAGE_TIMER, b"{}".to_vec()));
                }
                EventKind::Acknowledged { .. } => {
                    out.cancel.push((id, PAGE_TIMER));
                    // The pager hears of it only if it was paged.
                    if inc.page.is_some() {
                        out.effects
                            .extend(self.webhook(inc, WebhookAction::Acknowledge));
                    }
                }
                EventKind::Closed { .. } => {
                    out.cancel.push((id, PAGE_TIMER));
                    if inc.page.is_some() {
                        out.effects
                            .extend(self.webhook(inc, WebhookAction::Resolve));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The effects of one step of `inc`'s chain: a page's mention, DM and webhook (independent
    /// deliveries: one that fails holds back none of the others), or the notice that the chain
    /// stopped.
    fn step_effects(&self, inc: &Incident, step: &Step) -> Vec<NewEffect> {
        let id = inc.id.0;
        let mut effects = Vec::new();
        match step {
            Step::Page {
                level,
                target,
                attempt,
                deadline,
            } => {
                info!(incident = %inc.id, level = level.label(), attempt, "paging");
                effects.push(OutboxEntry::encode(Effect::Page {
                    incident: id,
                    level: *level,
                    target: *target,
                    attempt: *attempt,
                    deadline: *deadline,
                    with_dm: false,
                }));
                if let crate::incident::PageTarget::User(user) = target {
                    effects.push(OutboxEntry::encode(Effect::PageDm {
                        incident: id,
                        level: *level,
                        user: *user,
                        attempt: *attempt,
                        deadline: *deadline,
                    }));
                }
                if let Some(action) = WebhookAction::for_step(step)
                    && let Some(w) = self.webhook(inc, action)
                {
                    effects.push(OutboxEntry::encode(w));
                }
            }
            Step::Stop { why } => {
                info!(incident = %inc.id, %why, "paging chain stopped");
                effects.push(OutboxEntry::encode(Effect::Notice {
                    incident: id,
                    notice: Notice::Unacknowledged {
                        why: why.to_string(),
                    },
                }));
            }
            Step::Wait { .. } | Step::Nothing => {}
        }
        effects
    }

    /// Takes the due steps of one incident's chain and sets its next deadline.
    pub async fn advance(&self, id: u64) -> Result<(), StoreError> {
        let _guard = self.lock.lock().await;
        let now = self.clock.now();
        let folded = match self.store.incident(id) {
            Err(StoreError::Unfoldable { .. }) => None,
            other => other?,
        };
        let Some(mut inc) = folded else {
            error!(
                incident = id,
                "paging: unreadable incident; its timer is dropped"
            );
            let batch = Batch {
                cancel_timers: vec![(id, PAGE_TIMER)],
                ..Batch::default()
            };
            self.store.commit(batch).await?;
            return Ok(());
        };
        let view = self.view(now)?;
        let mut batch = Batch::default();
        let mut next = None;
        for _ in 0..8 {
            let step = next_step(
                &PageState::of(&inc),
                view.as_ref(),
                self.rotation.fallback_role(),
                &self.config,
                now,
            );
            let Some(kind) = step.event() else {
                if let Step::Wait { until } = step {
                    next = Some(until);
                }
                break;
            };
            let event = Event::new(now, ActorRef::system(), kind);
            batch.effects.extend(self.step_effects(&inc, &step));
            batch.events.push((id, Store::encode(&event)));
            inc = match inc.with(std::slice::from_ref(&event)) {
                Ok(i) => i,
                Err(e) => {
                    error!(incident = id, error = %e, "paging step does not apply");
                    break;
                }
            };
        }
        match next {
            Some(until) => {
                batch
                    .timers
                    .push((until.timestamp_millis(), id, PAGE_TIMER, b"{}".to_vec()))
            }
            None => batch.cancel_timers.push((id, PAGE_TIMER)),
        }
        self.store.commit(batch).await?;
        self.outbox.kick();
        Ok(())
    }

    /// Fires due deadlines until `stop` turns true. At start every stored deadline is looked
    /// at: overdue ones fire at once.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if let Err(e) = self.arm_handoff().await {
            error!(error = %e, "paging: cannot arm the shift hand-off");
        }
        loop {
            let next = match self.fire_due().await {
                Ok(next) => next,
                Err(e) => {
                    error!(error = %e, "paging: store error; retrying in 1 s");
                    Some(self.clock.now() + TimeDelta::seconds(1))
                }
            };
            let sleep = async {
                match next {
                    Some(at) => self.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.changed() => return,
                () = self.kick.notified() => {}
                () = sleep => {}
            }
        }
    }

    /// Advances every incident whose deadline has passed; returns the next deadline. Reads
    /// only the due timers. One deadline that fails (its incident cannot be read, a record
    /// this build cannot decode) is logged and skipped, never a stop for the others: an
    /// unreadable timer is set aside and counted, a failing one is tried again a minute later.
    pub async fn fire_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = self.clock.now().timestamp_millis();
        for t in self.store.due_timers(now, usize::MAX)? {
            let t = match t {
                Ok(t) => t,
                Err(bad) => {
                    error!(tree = bad.tree, key = %bad.key_hex(), error = %bad.why, "unreadable timer set aside; the other deadlines go on");
                    crate::metrics::store_unreadable(bad.tree);
                    self.store.set_aside(bad.tree, &bad.key)?;
                    continue;
                }
            };
            let fired = match t.kind {
                PAGE_TIMER => self.advance(t.incident).await,
                HANDOFF_TIMER if self.handoff_channel.is_some() => self.handoff().await,
                _ => {
                    let batch = Batch {
                        cancel_timers: vec![(t.incident, t.kind)],
                        ..Batch::default()
                    };
                    self.store.commit(batch).await.map(drop)
                }
            };
            if let Err(e) = fired {
                error!(incident = t.incident, kind = t.kind, error = %e, "paging: this deadline failed; trying it again in a minute, the others go on");
                crate::metrics::store_error();
                let batch = Batch {
                    timers: vec![(now + 60_000, t.incident, t.kind, t.json)],
                    ..Batch::default()
                };
                self.store.commit(batch).await?;
            }
        }
        let now = self.clock.now().timestamp_millis();
        Ok(self
            .store
            .next_timer_due()?
            .map(|ms| DateTime::from_timestamp_millis(ms.max(now)).unwrap_or_default()))
    }
}
