//! `/incident …`: open, answer, note, escalate, status, list, close, export. Each command folds
//! the incident from the store, asks the pure domain for new events, decides the effects, and
//! writes events + effects + interaction id in one flushed transaction before replying.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::paging::{Paging, PagingChanges};
use super::{Actor, Reply, UserError};
use crate::config::RolesConfig;
use crate::effects::{Effect, Outbox, OutboxEntry};
use crate::incident::{
    self as domain, ActorRef, DefaultPolicy, DomainError, Event, EventKind, Finding, Incident,
    IncidentId, IncidentStatus, Resolution,
};
use crate::playbook::Library;
use crate::store::{Batch, Committed, Store, StoreError};

/// An incident command, as parsed by an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentCommand {
    Open {
        technique: String,
        title: String,
        alert: Option<String>,
    },
    Answer {
        incident: Option<IncidentId>,
        question: usize,
        finding: Finding,
        note: Option<String>,
        via_button: bool,
    },
    Note {
        incident: Option<IncidentId>,
        text: String,
    },
    Escalate {
        incident: Option<IncidentId>,
        reason: String,
    },
    Status {
        incident: Option<IncidentId>,
    },
    List {
        filter: Option<IncidentStatus>,
    },
    Close {
        incident: Option<IncidentId>,
        resolution: Resolution,
        summary: Option<String>,
    },
    Export {
        incident: Option<IncidentId>,
    },
    /// Acknowledge the page: stops the paging chain and makes the actor the owner.
    Ack {
        incident: Option<IncidentId>,
    },
    /// Attach a playbook to an incident that has none (one an alert opened) and post its
    /// questions.
    Playbook {
        incident: Option<IncidentId>,
        technique: String,
    },
}

impl IncidentCommand {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open { .. } => "incident open",
            Self::Answer { .. } => "incident answer",
            Self::Note { .. } => "incident note",
            Self::Escalate { .. } => "incident escalate",
            Self::Status { .. } => "incident status",
            Self::List { .. } => "incident list",
            Self::Close { .. } => "incident close",
            Self::Export { .. } => "incident export",
            Self::Ack { .. } => "incident ack",
            Self::Playbook { .. } => "incident playbook",
        }
    }
}

/// `/oncall …`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OncallCommand {
    /// Who is on call now (or at `at`), and next.
    Show { at: Option<DateTime<Utc>> },
    /// Put `user` on call for `hours`.
    Override {
        user: u64,
        hours: u32,
        reason: Option<String>,
    },
}

/// Where and when a command was issued.
#[derive(Debug, Clone)]
pub struct Origin {
    pub actor: Actor,
    /// The chat channel (a thread id inside an incident thread); 0 at the console.
    pub channel: u64,
    /// The interaction id, handled once; None at the console.
    pub interaction: Option<u64>,
    pub now: DateTime<Utc>,
}

/// How long after racing button presses their question message is settled by a refresh.
const SETTLE_MS: i64 = 1_000;

/// How many incidents `/incident list` shows at most (newest first; the rest are counted).
pub const LIST_PAGE: usize = 50;

/// The incident, folded, or None when it cannot be read (logged).
fn fold(store: &Store, id: u64) -> Option<Incident> {
    let events: Vec<Event> = match store.events(id) {
        Ok(events) => events,
        Err(e) => {
            tracing::error!(incident = id, error = %e, "incident cannot be read; left out");
            return None;
        }
    };
    Incident::from_stored(IncidentId(id), &events).ok()
}

/// The readable incidents opened at or after `since`, newest first: read newest first, a page
/// at a time, until one opened before `since` (incident numbers grow with time), so the cost
/// follows the window, not the store's size. For coverage.
pub fn incidents_since(store: &Store, since: DateTime<Utc>) -> Result<Vec<Incident>, StoreError> {
    let mut found = Vec::new();
    let mut before = None;
    loop {
        let ids = store.incident_ids_desc(before, LIST_PAGE, false)?;
        let Some(&last) = ids.last() else { break };
        before = Some(last);
        let mut older = false;
        for inc in ids.into_iter().filter_map(|id| fold(store, id)) {
            if inc.opened_at >= since {
                found.push(inc);
            } else {
                older = true;
            }
        }
        if older {
            break;
        }
    }
    Ok(found)
}

/// Every open (not closed) readable incident, oldest first: read from the open index, never
/// from every incident ever made.
pub(crate) fn open_incidents(store: &Store) -> Result<Vec<Incident>, StoreError> {
    Ok(store
        .open_incident_ids()?
        .into_iter()
        .filter_map(|id| fold(store, id))
        .collect())
}

/// Builds the open index of a store from before it, by folding every incident once.
pub fn ensure_open_index(store: &Store) -> Result<(), StoreError> {
    if !store.open_index_missing()? {
        return Ok(());
    }
    let ids = store.incident_ids()?;
    tracing::info!(
        incidents = ids.len(),
        "indexing the open incidents (once, for a store from an older socbot)"
    );
    let open: Vec<u64> = ids
        .into_iter()
        .filter(|&id| fold(store, id).is_some_and(|inc| !inc.is_closed()))
        .collect();
    store.set_open_index(&open)
}

/// The incident part of the service.
#[derive(Clone)]
pub struct Incidents {
    store: Store,
    outbox: Outbox,
    policy: DefaultPolicy,
    roles: RolesConfig,
    /// Where incident threads are opened (0: the channel the command came from).
    soc_channel: u64,
    /// Serialises read-decide-write so two answers never decide on the same old state.
    lock: Arc<Mutex<()>>,
    /// Pages Tier 2 when an incident escalates (None: no paging).
    paging: Option<Paging>,
}

fn internal(e: StoreError) -> UserError {
    tracing::error!(error = %e, "store error");
    crate::metrics::store_error();
    UserError(store_problem(&e).into())
}

/// What a user is told of a store error: "nothing was changed" only when nothing was.
fn store_problem(e: &StoreError) -> &'static str {
    match e {
        StoreError::NotDurable(_) => {
            "socbot recorded this but could not confirm it is safely on disk (a storage problem, logged for the operator); check with `/incident status` before doing it again."
        }
        _ => {
            "socbot could not save this (a storage problem, logged for the operator); nothing was changed, please try again."
        }
    }
}

fn domain_err(e: DomainError) -> UserError {
    UserError(format!("{}.", e.to_string().trim_end_matches('.')))
}

impl Incidents {
    pub fn new(
        store: Store,
        outbox: Outbox,
        policy: DefaultPolicy,
        roles: RolesConfig,
        soc_channel: u64,
    ) -> Self {
        if let Err(e) = ensure_open_index(&store) {
            tracing::error!(error = %e, "cannot index the open incidents; list and hand-off may miss some");
        }
        Self {
            store,
            outbox,
            policy,
            roles,
            soc_channel,
            lock: Arc::new(Mutex::new(())),
            paging: None,
        }
    }

    /// `/oncall` and `/oncall override`.
    pub async fn oncall(&self, cmd: OncallCommand, origin: &Origin) -> Result<Reply, UserError> {
        let Some(paging) = &self.paging else {
            return Err(UserError(
                "On-call paging is not configured (`[oncall]` in the configuration).".into(),
            ));
        };
        match cmd {
            OncallCommand::Show { at } => {
                let at = at.unwrap_or(origin.now);
                let view = paging.view(at).map_err(internal)?;
                Ok(Reply::Oncall {
                    view,
                    fallback_role: paging.rotation().fallback_role(),
                    at,
                })
            }
            OncallCommand::Override {
                user,
                hours,
                reason,
            } => {
                if !self.may_t2(&origin.actor) {
                    return Err(self.refuse_t2("override the on-call rotation"));
                }
                let o = crate::oncall::Override::for_hours(
                    user,
                    hours,
                    origin.actor.id,
                    reason.as_deref(),
                    origin.now,
                )
                .map_err(|e| UserError(format!("{e}.")))?;
                let until = o.until;
                paging.add_override(o).await.map_err(internal)?;
                tracing::info!(user, hours, by = origin.actor.id, "on-call override set");
                Ok(Reply::Text {
                    text: format!(
                        "<@{user}> is on call until {} (override by {}).",
                        crate::incident::export::utc(until),
                        origin.actor.name
                    ),
                    private: false,
                })
            }
        }
    }

    /// The lock that serialises incident changes (paging shares it).
    pub fn lock(&self) -> Arc<Mutex<()>> {
        self.lock.clone()
    }

    /// Pages Tier 2 on escalation through `paging` (made with [`Incidents::lock`]).
    pub fn with_paging(mut self, paging: Paging) -> Self {
        self.paging = Some(paging);
        self
    }

    pub fn paging(&self) -> Option<&Paging> {
        self.paging.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Where incident threads are opened (0: where each command came from).
    pub fn soc_channel(&self) -> u64 {
        self.soc_channel
    }

    /// The default escalation policy new incidents snapshot.
    pub fn policy(&self) -> DefaultPolicy {
        self.policy
    }

    /// Roles that may do what L1 does: `roles.l1` and `roles.t2` (empty: everyone).
    fn l1_roles(&self) -> Vec<u64> {
        self.roles
            .l1
            .iter()
            .chain(&self.roles.t2)
            .copied()
            .collect()
    }

    /// Roles that may do what T2 does: `roles.t2`, or the L1 roles when it is empty (so
    /// configuring only L1 does not leave closing and acknowledging open to everyone).
    fn t2_roles(&self) -> Vec<u64> {
        if self.roles.t2.is_empty() {
            self.l1_roles()
        } else {
            self.roles.t2.clone()
        }
    }

    /// The person at the console (id 0, never a Discord user) has the machine and the store in
    /// hand already: roles do not apply to them.
    fn has_any(actor: &Actor, roles: &[u64]) -> bool {
        actor.id == 0 || roles.is_empty() || actor.roles.iter().any(|r| roles.contains(r))
    }

    fn may_l1(&self, actor: &Actor) -> bool {
        Self::has_any(actor, &self.l1_roles())
    }

    fn may_t2(&self, actor: &Actor) -> bool {
        Self::has_any(actor, &self.t2_roles())
    }

    fn refuse_l1(&self, what: &str) -> UserError {
        Self::refuse(what, &self.l1_roles(), "L1")
    }

    fn refuse_t2(&self, what: &str) -> UserError {
        Self::refuse(what, &self.t2_roles(), "T2")
    }

    fn refuse(what: &str, roles: &[u64], tier: &str) -> UserError {
        let names: Vec<String> = roles.iter().map(|r| format!("<@&{r}>")).collect();
        UserError(format!(
            "You need the {tier} role ({}) to {what}; ask a lead to give it to you.",
            names.join(" or ")
        ))
    }

    /// A line for the incident's thread when the command was not given there (in the SOC
    /// channel, or at the console): whoever follows the thread sees it too.
    fn echo(inc: &Incident, origin: &Origin, text: &str) -> Vec<Effect> {
        let in_thread = inc.thread.is_some_and(|t| t.thread_id == origin.channel);
        if in_thread {
            Vec::new()
        } else {
            vec![Effect::PostNotice {
                incident: inc.id.0,
                text: text.to_owned(),
            }]
        }
    }

    /// Loads an incident by id, or by the thread the command was issued in.
    pub fn load(
        &self,
        id: Option<IncidentId>,
        channel: u64,
    ) -> Result<(Incident, Vec<Event>), UserError> {
        let id = match id {
            Some(id) => id,
            None => match self.store.incident_for_thread(channel).map_err(internal)? {
                Some(n) => IncidentId(n),
                None => {
                    return Err(UserError(
                        "Run this inside an incident's thread, or name the incident (e.g. `incident:INC-12`).".into(),
                    ));
                }
            },
        };
        let events: Vec<Event> = self.store.events(id.0).map_err(internal)?;
        if events.is_empty() {
            return Err(UserError(format!(
                "There is no {id}; `/incident list` shows the incidents."
            )));
        }
        let incident = Incident::from_stored(id, &events).map_err(|e| {
            tracing::error!(incident = %id, error = %e, "incident history does not fold");
            UserError(format!("{id} cannot be read (logged for the operator)."))
        })?;
        let span = tracing::Span::current();
        span.record("incident", tracing::field::display(id));
        span.record("technique", tracing::field::display(incident.technique));
        Ok((incident, events))
    }

    /// The incidents opened at or after `since`, newest first (see [`incidents_since`]).
    pub fn since(&self, since: DateTime<Utc>) -> Result<Vec<Incident>, UserError> {
        incidents_since(&self.store, since).map_err(internal)
    }

    /// The newest [`LIST_PAGE`] incidents, optionally of one status, and how many there are
    /// in all. Open and escalated ones come from the open index; all or closed ones are read
    /// newest first until the page is full: never every incident.
    pub fn list(
        &self,
        filter: Option<IncidentStatus>,
    ) -> Result<(Vec<Incident>, usize), UserError> {
        let store = &self.store;
        let (all, open) = store.incident_counts().map_err(internal)?;
        let wanted = |inc: &Incident| filter.is_none_or(|f| f.matches(inc.status));
        if filter.is_some_and(|f| f.matches(crate::incident::Status::Open))
            || filter.is_some_and(|f| f.matches(crate::incident::Status::Escalated))
        {
            let mut found = open_incidents(store).map_err(internal)?;
            found.retain(wanted);
            let total = found.len();
            found.reverse();
            found.truncate(LIST_PAGE);
            return Ok((found, total));
        }
        let total = if filter.is_some() {
            all.saturating_sub(open)
        } else {
            all
        };
        let mut found = Vec::new();
        let mut before = None;
        while found.len() < LIST_PAGE {
            let ids = store
                .incident_ids_desc(before, LIST_PAGE, false)
                .map_err(internal)?;
            let Some(&last) = ids.last() else { break };
            before = Some(last);
            found.extend(
                ids.into_iter()
                    .filter_map(|id| fold(store, id))
                    .filter(wanted),
            );
        }
        found.truncate(LIST_PAGE);
        let total = total.max(found.len());
        Ok((found, total))
    }

    /// Writes events and effects (the caller holds `guard`, the incident lock, for the
    /// read-decide-write), lets the lock go as soon as they are written, waits until they are
    /// on disk (sharing the flush with commits that arrived meanwhile), then wakes the outbox.
    async fn commit(
        &self,
        guard: tokio::sync::MutexGuard<'_, ()>,
        origin: &Origin,
        id: IncidentId,
        before: Option<&Incident>,
        events: &[Event],
        mut effects: Vec<Effect>,
    ) -> Result<bool, UserError> {
        let paging = match (&self.paging, before) {
            (Some(p), Some(inc)) => p.changes_for(inc, events),
            _ => PagingChanges::default(),
        };
        effects.extend(paging.effects);
        let arm = !paging.timers.is_empty();
        let opened = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Opened { .. }))
            .map(|_| id.0)
            .collect();
        let closed = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Closed { .. }))
            .map(|_| id.0)
            .collect();
        // A settling refresh waits a second (on the outbox's clock, the system's), so a burst of
        // presses is settled by one edit made after it.
        let settle_at = chrono::Utc::now().timestamp_millis() + SETTLE_MS;
        let effects = effects
            .into_iter()
            .map(|e| match e {
                Effect::RefreshQuestions { settle: true, .. } => {
                    OutboxEntry::encode_after(e, settle_at)
                }
                e => OutboxEntry::encode(e),
            })
            .collect();
        let batch = Batch {
            interaction: origin.interaction,
            events: events.iter().map(|e| (id.0, Store::encode(e))).collect(),
            effects,
            timers: paging.timers,
            cancel_timers: paging.cancel,
            opened,
            closed,
            ..Batch::default()
        };
        let written = self.store.write(&batch).map_err(internal)?;
        drop(guard);
        self.store.durable(written).await.map_err(internal)?;
        let done = written.committed == Committed::Done;
        if done {
            crate::metrics::incident_events(before, events);
            self.outbox.kick();
            if arm && let Some(p) = &self.paging {
                p.kick();
            }
        }
        Ok(done)
    }

    /// The effects that follow from new events: a decision change is posted, a manual
    /// escalation is announced.
    fn effects_of(id: IncidentId, events: &[Event]) -> Vec<Effect> {
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::DecisionChanged { decision } => Some(Effect::PostDecision {
                    incident: id.0,
                    decision: decision.clone(),
                }),
                EventKind::Escalated {
                    reason: domain::EscalationReason::Manual { reason },
                } => Some(Effect::PostNotice {
                    incident: id.0,
                    text: format!("🚨 **Escalated to Tier 2 by {}**: {reason}", e.actor.name),
                }),
                _ => None,
            })
            .collect()
    }

    pub async fn handle(
        &self,
        cmd: IncidentCommand,
        origin: &Origin,
        library: &Library,
    ) -> Result<Reply, UserError> {
        if let Some(i) = origin.interaction
            && self.store.interaction_seen(i).map_err(internal)?
        {
            return Ok(Reply::Duplicate);
        }
        let actor = ActorRef::new(origin.actor.id, origin.actor.name.clone());
        let guard = self.lock.lock().await;
        match cmd {
            IncidentCommand::Open {
                technique,
                title,
                alert,
            } => {
                if !self.may_l1(&origin.actor) {
                    return Err(self.refuse_l1("open incidents"));
                }
                let view = super::playbook::view(library, &technique, None)?;
                let open = |id| {
                    domain::open(
                        id,
                        &view.playbook,
                        &title,
                        alert.as_deref(),
                        self.policy,
                        &actor,
                        origin.now,
                    )
                    .map_err(domain_err)
                };
                // Refused input must not use up an incident number.
                open(IncidentId(0))?;
                let id = IncidentId(self.store.allocate_incident_id().map_err(internal)?);
                let mut events = open(id)?;
                let channel = if self.soc_channel != 0 {
                    self.soc_channel
                } else {
                    origin.channel
                };
                if let Some(EventKind::Opened { channel: home, .. }) =
                    events.first_mut().map(|e| &mut e.kind)
                {
                    *home = channel;
                }
                let effects = vec![
                    Effect::OpenThread {
                        incident: id.0,
                        channel,
                    },
                    Effect::PostQuestions { incident: id.0 },
                ];
                if !self
                    .commit(guard, origin, id, None, &events, effects)
                    .await?
                {
                    return Ok(Reply::Duplicate);
                }
                let incident =
                    Incident::from_stored(id, &events).map_err(|e| UserError(e.to_string()))?;
                Ok(Reply::IncidentOpened {
                    incident,
                    note: view.note,
                })
            }
            IncidentCommand::Answer {
                incident,
                question,
                finding,
                note,
                via_button,
            } => {
                if !self.may_l1(&origin.actor) {
                    return Err(self.refuse_l1("answer questions"));
                }
                let (inc, _) = self.load(incident, origin.channel)?;
                let events =
                    domain::answer(&inc, question, finding, note.as_deref(), &actor, origin.now)
                        .map_err(domain_err)?;
                let mut effects = Self::effects_of(inc.id, &events);
                // A button press updates its message in its reply. Two presses close together
                // may reach Discord in either order, and the later reply could show the earlier
                // state: then a refresh (merged with any other) settles the message.
                let racing = origin.now - inc.updated_at < chrono::TimeDelta::seconds(5);
                if !events.is_empty() && (!via_button || racing) {
                    effects.insert(
                        0,
                        Effect::RefreshQuestions {
                            incident: inc.id.0,
                            settle: via_button,
                        },
                    );
                }
                if !self
                    .commit(guard, origin, inc.id, Some(&inc), &events, effects)
                    .await?
                {
                    return Ok(Reply::Duplicate);
                }
                let incident = inc.with(&events).map_err(|e| UserError(e.to_string()))?;
                Ok(Reply::Answered {
                    incident,
                    question,
                    changed: !events.is_empty(),
                })
            }
            IncidentCommand::Note { incident, text } => {
                if !self.may_l1(&origin.actor) {
                    return Err(self.refuse_l1("add notes"));
                }
                let (inc, _) = self.load(incident, origin.channel)?;
                let events =
                    domain::add_note(&inc, &text, &actor, origin.now).map_err(domain_err)?;
                let line = format!("📝 Note on {} by {}: {}", inc.id, actor.name, text.trim());
                let effects = Self::echo(&inc, origin, &line);
                if !self
                    .commit(guard, origin, inc.id, Some(&inc), &events, effects)
                    .await?
                {
                    return Ok(Reply::Duplicate);
                }
                Ok(Reply::Text {
                    text: line,
                    private: false,
                })
            }
            IncidentCommand::Escalate { incident, reason } => {
                if !self.may_l1(&origin.actor) {
                    return Err(self.refuse_l1("escalate"));
                }
                let (inc, _) = self.load(incident, origin.channel)?;
                let events = domain::escalate_manually(&inc, &reason, &actor, origin.now)
                    .map_err(domain_err)?;
                // The reply says it where the command was given; the thread gets the notice
                // only when that was elsewhere.
                let in_thread = inc.thread.is_some_and(|t| t.thread_id == origin.channel);
                let effects: Vec<Effect> = Self::effects_of(inc.id, &events)
                    .into_iter()
                    .filter(|e| !(in_thread && matches!(e, Effect::PostNotice { .. })))
                    .collect();
                if !self
                    .commit(guard, origin, inc.id, Some(&inc), &events, effects)
                    .await?
                {
                    return Ok(Reply::Duplicate);
                }
                let text = format!(
                    "🚨 **{} escalated to Tier 2 by {}**: {}",
                    inc.id,
                    actor.name,
                    reason.trim()
                );
                Ok(Reply::Text {
                    text,
                    private: false,
                })
            }
            IncidentCommand::Playbook {
                incident,
                technique,
            } => {
                if !self.may_l1(&origin.actor) {
                    return Err(self.refuse_l1("attach playbooks"));
                }
                let (inc, _) = self.load(incident, origin.channel)?;
                let view = super::playbook::view(library, &technique, None)?;
                let events = domain::attach_playbook(&inc, &view.playbook, &actor, origin.now)
                    .map_err(domain_err)?;
                let effects = vec![
                    Effect::PostQuestions { incident: inc.id.0 },
                    Effect::RefreshAlertCard { incident: inc.id.0 },
                ];
                if !self
                    .commit(guard, origin, inc.id, Some(&inc), &events, effects)
                    .await?
                {
                    return Ok(Reply::Duplicate);
                }
                let mut text = format!(
                    "📋 {} now follows playbook {} · {} ({} questions, posted in its thread), attached by {}.",
                    inc.id,
                    view.playbook.id,
                    view.playbook.name,
                    view.playbook.questions.len(),
                    actor.name
                );
                if let Some(note) = view.note {
                    text.push_str(&format!(" {note}"));
                }
                Ok(Reply::Text {
                    text,
                    private: false,
                })
            }
            IncidentCommand::Status { incident } => {
                if !self.may_l1(&origin.actor) {
                    return Err(self.refuse_l1("read incidents"));
                }
                let (inc, events) = self.load(incident, origin.channel)?;
                Ok(Reply::Status {
                    incident: inc,
                    events,
                })
            }
            IncidentCommand::List { filter } => {
                if !self.may_l1(&origin.actor) {
                    return Err(self.refuse_l1("list incidents"));
                }
                drop(guard);
                let (incidents, total) = self.list(filter)?;
                Ok(Reply::List {
                    incidents,
                    filter,
                    total,
                })
            }
            IncidentCommand::Close {
                incident,
                resolution,
                summary,
            } => {
                if !self.may_t2(&origin.actor) {
                    return Err(self.refuse_t2("close incidents"));
                }
                let (inc, _) = self.load(incident, origin.channel)?;
                let events =
                    domain::close(&inc, resolution, summary.as_deref(), &actor, origin.now)
                        .map_err(domain_err)?;
                // The question messages lose their answer buttons, then the thread is archived.
                let effects = vec![
                    Effect::RefreshQuestions {
                        incident: inc.id.0,
                        settle: false,
                    },
                    Effect::CloseThread { incident: inc.id.0 },
                ];
                if !self
                    .commit(guard, origin, inc.id, Some(&inc), &events, effects)
                    .await?
                {
                    return Ok(Reply::Duplicate);
                }
                let text = format!(
                    "✅ {} closed as **{}** by {}.",
                    inc.id,
                    resolution.label(),
                    actor.name
                );
                Ok(Reply::Text {
                    text,
                    private: false,
                })
            }
            IncidentCommand::Ack { incident } => {
                if !self.may_t2(&origin.actor) {
                    return Err(self.refuse_t2("acknowledge pages"));
                }
                let (inc, _) = self.load(incident, origin.channel)?;
                let events = domain::acknowledge(&inc, &actor, origin.now).map_err(domain_err)?;
                if events.is_empty() {
                    let owner = inc
                        .owner
                        .as_ref()
                        .map_or("someone".into(), |o| o.name.clone());
                    let text = format!("{} was already acknowledged; {owner} owns it.", inc.id);
                    return Ok(Reply::Acknowledged {
                        incident: inc,
                        text,
                        changed: false,
                    });
                }
                let text = format!(
                    "✅ {} acknowledged by {}: paging stopped, {} now owns the incident.",
                    inc.id, actor.name, actor.name
                );
                let effects = Self::echo(&inc, origin, &text);
                if !self
                    .commit(guard, origin, inc.id, Some(&inc), &events, effects)
                    .await?
                {
                    return Ok(Reply::Duplicate);
                }
                let incident = inc.with(&events).map_err(|e| UserError(e.to_string()))?;
                Ok(Reply::Acknowledged {
                    incident,
                    text,
                    changed: true,
                })
            }
            IncidentCommand::Export { incident } => {
                if !self.may_l1(&origin.actor) {
                    return Err(self.refuse_l1("export incidents"));
                }
                let (inc, events) = self.load(incident, origin.channel)?;
                let markdown = domain::export::markdown(&inc, &events);
                Ok(Reply::Export {
                    incident: inc,
                    markdown,
                })
            }
        }
    }

    /// Waits up to `timeout` for the incident's thread to exist (delivered by the outbox).
    pub async fn wait_for_thread(
        &self,
        id: IncidentId,
        timeout: std::time::Duration,
    ) -> Option<u64> {
        let mut delivered = self.outbox.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok((inc, _)) = self.load(Some(id), 0)
                && let Some(t) = inc.thread
            {
                return Some(t.thread_id);
            }
            if tokio::time::timeout_at(deadline, delivered.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod store_problem_tests {
    use super::*;

    #[test]
    fn a_flush_failure_after_the_change_was_applied_never_says_nothing_was_changed() {
        let applied = store_problem(&StoreError::NotDurable("fsync: EIO".into()));
        assert!(!applied.contains("nothing was changed"), "{applied}");
        assert!(applied.contains("/incident status"), "{applied}");
        let refused = store_problem(&StoreError::Corrupt {
            tree: "events",
            message: "x".into(),
        });
        assert!(refused.contains("nothing was changed"), "{refused}");
    }
}
