//! The incident part of the service and its execute path ([`Incidents::execute`]): the handlers
//! of `/incident …` and `/oncall` (in `handlers`) fold the incident from the store, ask the pure
//! domain for new events and decide the effects; the execute path checks the role, holds the
//! lock and writes events + effects + interaction id in one flushed transaction before replying.

mod handlers;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, MutexGuard};

use super::commands::{Decide, Handler, Invocation};
use super::paging::{Paging, PagingChanges};
use super::{Actor, Reply, Role, UserError};
use crate::config::RolesConfig;
use crate::effects::{Effect, Notice, Outbox, OutboxEntry};
use crate::id::DiscordId;
use crate::incident::{
    self as domain, ActorRef, DefaultPolicy, DomainError, Event, EventKind, Incident, IncidentId,
    IncidentStatus,
};
use crate::playbook::Library;
use crate::store::folded::{History, Shared};
use crate::store::{Batch, Committed, Store, StoreError, Written};

/// Where and when a command was issued.
#[derive(Debug, Clone)]
pub struct Origin {
    pub actor: Actor,
    /// The chat channel (a thread id inside an incident thread); None at the console.
    pub channel: Option<DiscordId>,
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

/// Makes `channel` the home of a new incident: where its thread is opened.
pub(crate) fn set_home(events: &mut [Event], channel: u64) {
    if let Some(EventKind::Opened { channel: home, .. }) = events.first_mut().map(|e| &mut e.kind) {
        *home = channel;
    }
}

/// The incident part of the service.
#[derive(Clone)]
pub struct Incidents {
    store: Store,
    outbox: Outbox,
    policy: DefaultPolicy,
    roles: RolesConfig,
    /// Where incident threads are opened (0: the channel the command came from).
    soc_channel: Option<DiscordId>,
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

/// What an incident or on-call handler has to go on (besides its arguments).
pub struct Cx<'a> {
    pub origin: &'a Origin,
    pub actor: ActorRef,
    pub library: &'a Library,
    /// Given through a control on a message (a button, its form): see [`Invocation::pressed`].
    pub pressed: bool,
}

/// What an incident or on-call handler decided, or the refusal.
pub type Decided = Result<Step, UserError>;

/// What a handler decided, for the execute path to carry out.
pub enum Step {
    /// Nothing to write: the reply.
    Reply(Reply),
    /// A change to one incident; replied to once it is on disk.
    Write(Change),
    /// An on-call override to save; the reply once it is on disk.
    Override(crate::oncall::Override, Reply),
}

/// A change to one incident: its new events and the effects they cause.
pub struct Change {
    pub id: IncidentId,
    /// The incident before (as loaded: shared, not copied); None when this change opens it.
    pub before: Option<Shared>,
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    /// The reply, from the incident as the change leaves it.
    pub reply: Box<dyn FnOnce(Incident) -> Reply + Send>,
}

/// Transactions written under the incident lock as they are decided, and made durable together:
/// the lock goes as soon as the last is written, then one wait until all are on disk (sharing
/// the flush with commits that arrive meanwhile: group commit). Only then are the events
/// counted and the outbox (and, for new deadlines, the pager) woken, and the caller answers.
pub(crate) struct Commit<'a> {
    incidents: &'a Incidents,
    guard: MutexGuard<'a, ()>,
    last: Option<Written>,
    /// A transaction set paging deadlines.
    arm: bool,
    /// (incident before, new events) of each transaction written, for the metrics.
    counted: Vec<(Option<Shared>, Vec<Event>)>,
}

impl Commit<'_> {
    /// Writes one transaction; false when its interaction was handled before (nothing written).
    pub(crate) fn write(
        &mut self,
        batch: &Batch,
        before: Option<Shared>,
        events: Vec<Event>,
    ) -> Result<bool, StoreError> {
        let written = self.incidents.store.write(batch)?;
        self.last = Some(written);
        let done = written.committed == Committed::Done;
        if done {
            self.arm |= !batch.timers.is_empty();
            self.counted.push((before, events));
        }
        Ok(done)
    }

    /// Lets the lock go and waits until everything written is on disk.
    pub(crate) async fn durable(self) -> Result<(), StoreError> {
        let Self {
            incidents,
            guard,
            last,
            arm,
            counted,
        } = self;
        drop(guard);
        let Some(written) = last else {
            return Ok(());
        };
        incidents.store.durable(written).await?;
        for (before, events) in &counted {
            crate::metrics::incident_events(before.as_deref(), events);
        }
        incidents.outbox.kick();
        if arm && let Some(p) = &incidents.paging {
            p.kick();
        }
        Ok(())
    }
}

/// The answer when `/oncall` is asked of a socbot without paging.
fn no_paging() -> UserError {
    UserError("On-call paging is not configured (`[oncall]` in the configuration).".into())
}

impl Incidents {
    pub fn new(
        store: Store,
        outbox: Outbox,
        policy: DefaultPolicy,
        roles: RolesConfig,
        soc_channel: Option<DiscordId>,
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

    /// Where incident threads are opened (None: where each command came from).
    pub fn soc_channel(&self) -> Option<DiscordId> {
        self.soc_channel
    }

    /// The default escalation policy new incidents snapshot.
    pub fn policy(&self) -> DefaultPolicy {
        self.policy
    }

    /// Roles that may do what L1 does: `roles.l1` and `roles.t2` (empty: everyone).
    fn l1_roles(&self) -> Vec<DiscordId> {
        self.roles
            .l1
            .iter()
            .chain(&self.roles.t2)
            .copied()
            .collect()
    }

    /// Roles that may do what T2 does: `roles.t2`, or the L1 roles when it is empty (so
    /// configuring only L1 does not leave closing and acknowledging open to everyone).
    fn t2_roles(&self) -> Vec<DiscordId> {
        if self.roles.t2.is_empty() {
            self.l1_roles()
        } else {
            self.roles.t2.clone()
        }
    }

    /// The roles that hold `role` (empty: everyone does).
    fn holders(&self, role: Role) -> Vec<DiscordId> {
        match role {
            Role::Everyone => Vec::new(),
            Role::L1 => self.l1_roles(),
            Role::T2 => self.t2_roles(),
        }
    }

    /// Whether `actor` has `role`. The person at the console (no Discord id) has the machine
    /// and the store in hand already: roles do not apply to them.
    fn may(&self, role: Role, actor: &Actor) -> bool {
        let roles = self.holders(role);
        actor.id.is_none() || roles.is_empty() || actor.roles.iter().any(|r| roles.contains(r))
    }

    /// The refusal for someone without `role`, saying which roles would do.
    fn refusal(&self, role: Role, what: &str) -> UserError {
        let tier = if role == Role::T2 { "T2" } else { "L1" };
        let names: Vec<String> = self
            .holders(role)
            .iter()
            .map(|r| format!("<@&{r}>"))
            .collect();
        UserError(format!(
            "You need the {tier} role ({}) to {what}; ask a lead to give it to you.",
            names.join(" or ")
        ))
    }
    /// A notice for the incident's thread when the command was not given there (in the SOC
    /// channel, or at the console): whoever follows the thread sees it too.
    fn echo(inc: &Incident, origin: &Origin, notice: Notice) -> Vec<Effect> {
        let in_thread = inc
            .thread
            .is_some_and(|t| origin.channel.is_some_and(|c| c == t.thread_id));
        if in_thread {
            Vec::new()
        } else {
            vec![Effect::Notice {
                incident: inc.id.0,
                notice,
            }]
        }
    }

    /// Loads an incident by id, or by the thread the command was issued in, with its history
    /// (shared, not copied). The store keeps recently used incidents folded: one with nothing
    /// new reads nothing from disk, one with a long history reads only its new events.
    pub fn load(
        &self,
        id: Option<IncidentId>,
        channel: Option<DiscordId>,
    ) -> Result<(Shared, History), UserError> {
        let thread = |c: DiscordId| self.store.incident_for_thread(c.get());
        let id = match id {
            Some(id) => id,
            None => match channel.map(thread).transpose().map_err(internal)?.flatten() {
                Some(n) => IncidentId(n),
                None => {
                    return Err(UserError(
                        "Run this inside an incident's thread, or name the incident (e.g. `incident:INC-12`).".into(),
                    ));
                }
            },
        };
        let (incident, events) = match self.store.incident_history(id.0) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Err(UserError(format!(
                    "There is no {id}; `/incident list` shows the incidents."
                )));
            }
            Err(StoreError::Unfoldable { why, .. }) => {
                tracing::error!(incident = %id, error = %why, "incident history does not fold");
                return Err(UserError(format!(
                    "{id} cannot be read (logged for the operator)."
                )));
            }
            Err(e) => return Err(internal(e)),
        };
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

    /// Takes the incident lock for a [`Commit`]: the read-decide-write of one command (or of
    /// one request's alerts).
    pub(crate) async fn begin(&self) -> Commit<'_> {
        Commit {
            incidents: self,
            guard: self.lock.lock().await,
            last: None,
            arm: false,
            counted: Vec::new(),
        }
    }

    /// The transaction of a command's change: its events, its effects (a settling refresh a
    /// second later), the paging it causes and the interaction id.
    fn batch(&self, origin: &Origin, change: &Change) -> Batch {
        let (id, events) = (change.id, &change.events);
        let paging = match (&self.paging, &change.before) {
            (Some(p), Some(inc)) => p.changes_for(inc, events),
            _ => PagingChanges::default(),
        };
        let mut effects = change.effects.clone();
        effects.extend(paging.effects);
        let of = |opened: bool| -> Vec<u64> {
            events
                .iter()
                .filter(|e| match e.kind {
                    EventKind::Opened { .. } => opened,
                    EventKind::Closed { .. } => !opened,
                    _ => false,
                })
                .map(|_| id.0)
                .collect()
        };
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
        Batch {
            interaction: origin.interaction,
            events: events.iter().map(|e| (id.0, Store::encode(e))).collect(),
            decoded: events.clone(),
            effects,
            timers: paging.timers,
            cancel_timers: paging.cancel,
            opened: of(true),
            closed: of(false),
            ..Batch::default()
        }
    }

    /// Whether `actor` may run `invocation`: the role its declaration (and the options
    /// given) need, or the refusal naming the roles that would do.
    pub fn permit(&self, invocation: &Invocation, actor: &Actor) -> Result<(), UserError> {
        let (role, action) = invocation.needs();
        if self.may(role, actor) {
            Ok(())
        } else {
            Err(self.refusal(role, action))
        }
    }

    /// The execute path every incident and on-call command takes: an interaction is handled
    /// once (a repeat is answered with nothing), the role the command needs is checked, then
    /// (under the incident lock when its handler is [`Handler::Incident`]) its handler loads
    /// what it needs and asks the domain, and what it decided is committed (the lock let go
    /// before waiting for the disk) and replied to only once it is on disk.
    pub async fn execute(
        &self,
        invocation: &Invocation,
        origin: &Origin,
        library: &Library,
    ) -> Result<Reply, UserError> {
        let (decide, locked): (Decide, bool) = match invocation.handler() {
            Handler::Incident(decide) => (decide, true),
            // Listing and the rotation read no one incident to decide on: no lock.
            Handler::Unlocked(decide) | Handler::Oncall(decide) => (decide, false),
            Handler::Read(_) | Handler::Async(_) => {
                tracing::error!(
                    command = invocation.path(),
                    "not an incident command; not run"
                );
                return Err(UserError(
                    "This is not an incident command (socbot's mistake, logged).".into(),
                ));
            }
        };
        if let Some(i) = origin.interaction
            && self.store.interaction_seen(i).map_err(internal)?
        {
            return Ok(Reply::Duplicate);
        }
        self.permit(invocation, &origin.actor)?;
        let cx = Cx {
            origin,
            // Events keep the number they always had: 0 for the console.
            actor: ActorRef::new(DiscordId::raw(origin.actor.id), origin.actor.name.clone()),
            library,
            pressed: invocation.is_pressed(),
        };
        let commit = if locked {
            Some(self.begin().await)
        } else {
            None
        };
        match decide(self, invocation.args(), &cx)? {
            Step::Reply(reply) => Ok(reply),
            Step::Write(change) => {
                // Only commands decided under the lock write (`locked` above).
                let commit = match commit {
                    Some(c) => c,
                    None => self.begin().await,
                };
                self.write(commit, origin, change).await
            }
            Step::Override(o, reply) => {
                drop(commit);
                let Some(paging) = &self.paging else {
                    return Err(no_paging());
                };
                let (user, by) = (o.user, o.by);
                paging.add_override(o).await.map_err(internal)?;
                tracing::info!(
                    user = user.get(),
                    by = DiscordId::raw(by),
                    "on-call override set"
                );
                Ok(reply)
            }
        }
    }

    /// Commits a command's change and replies from the incident as it leaves it.
    async fn write(
        &self,
        mut commit: Commit<'_>,
        origin: &Origin,
        change: Change,
    ) -> Result<Reply, UserError> {
        let after = match &change.before {
            Some(inc) => inc.with(&change.events),
            None => Incident::from_stored(change.id, &change.events),
        }
        .map_err(|e| UserError(e.to_string()))?;
        let batch = self.batch(origin, &change);
        let Change {
            before,
            events,
            reply,
            ..
        } = change;
        let done = commit.write(&batch, before, events).map_err(internal)?;
        commit.durable().await.map_err(internal)?;
        Ok(if done { reply(after) } else { Reply::Duplicate })
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
                } => Some(Effect::Notice {
                    incident: id.0,
                    notice: Notice::EscalatedByHand {
                        by: e.actor.name.clone(),
                        reason: reason.clone(),
                    },
                }),
                _ => None,
            })
            .collect()
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
            if let Ok((inc, _)) = self.load(Some(id), None)
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

#[cfg(test)]
mod execute_tests {
    use super::*;
    use crate::incident::Finding;
    use crate::service::commands::{self, Parsed};
    use crate::service::{Invocation, Recorded};

    const L1: u64 = 11;
    const T2: u64 = 22;

    fn library() -> Library {
        let md = "# Web Services - T1583006\n\n| Column Name | Value |\n|---|---|\n| MITRE Tactic | Resource Development |\n| MITRE TTP | T1583.006 |\n| Name | Web Services |\n| Questions for Analysis | Is it ours? Is it new? |\n";
        let p = crate::playbook::parser::parse(md, "t.md").unwrap().playbook;
        Library::from_playbooks(vec![p]).0
    }

    /// A chat that takes every effect and creates nothing (the service under test only
    /// commits them to the outbox).
    pub(super) struct NoChat;

    #[async_trait::async_trait]
    impl crate::effects::ChatPort for NoChat {
        async fn deliver(
            &self,
            _key: u64,
            _effect: &Effect,
            _incident: &Incident,
        ) -> Result<Vec<EventKind>, crate::effects::DeliveryError> {
            Ok(Vec::new())
        }

        async fn post_channel(
            &self,
            _key: u64,
            _channel: u64,
            _post: crate::effects::ChannelPost<'_>,
        ) -> Result<(), crate::effects::DeliveryError> {
            Ok(())
        }
    }

    fn incidents() -> Incidents {
        let store = Store::temporary().unwrap();
        let outbox = Outbox::new(store.clone(), Arc::new(NoChat));
        let roles = RolesConfig {
            l1: DiscordId::new(L1).into_iter().collect(),
            t2: DiscordId::new(T2).into_iter().collect(),
            ..RolesConfig::default()
        };
        Incidents::new(store, outbox, DefaultPolicy::default(), roles, None)
    }

    fn origin(id: u64, roles: &[u64], interaction: Option<u64>) -> Origin {
        Origin {
            // 0: the console.
            actor: Actor {
                id: DiscordId::new(id),
                name: format!("user{id}"),
                roles: roles.iter().filter_map(|&r| DiscordId::new(r)).collect(),
            },
            channel: DiscordId::new(5),
            interaction,
            now: Utc::now(),
        }
    }

    /// `path` with `args` given as text, as an adapter parses it.
    fn command(path: &str, args: &[(&'static str, &str)]) -> Invocation {
        let (path, decl) = commands::runnable()
            .into_iter()
            .find(|(p, _)| p == path)
            .unwrap();
        let mut given = commands::Args::default();
        for (name, value) in args {
            given.set(name, commands::Value::Text((*value).into()));
        }
        let Ok(Parsed::Run(invocation)) = commands::build(&path, decl, given) else {
            panic!("{path} does not parse")
        };
        invocation
    }

    fn open() -> Invocation {
        command(
            "incident open",
            &[("technique", "T1583.006"), ("title", "odd domain")],
        )
    }

    fn note(text: &str) -> Invocation {
        command("incident note", &[("text", text), ("incident", "INC-1")])
    }

    #[tokio::test]
    async fn without_the_role_a_command_is_refused_naming_the_role_and_nothing_is_written() {
        let (inc, lib) = (incidents(), library());
        let refused = inc.execute(&open(), &origin(7, &[], Some(1)), &lib).await;
        let Err(e) = refused else {
            panic!("{refused:?}")
        };
        let text = e.markdown();
        assert!(
            text.contains("L1 role (<@&11> or <@&22>) to open incidents"),
            "{text}"
        );
        // The roles are data in the words: a terminal shows them without Discord's mentions.
        assert_eq!(
            e.plain(),
            "You need the L1 role (role 11 or role 22) to open incidents; ask a lead to give it to you."
        );
        assert!(inc.store().incident_ids().unwrap().is_empty());
        // Refused is not handled: the same interaction may come again once the role is given.
        assert!(!inc.store().interaction_seen(1).unwrap());

        inc.execute(&open(), &origin(7, &[L1], Some(2)), &lib)
            .await
            .unwrap();
        let close = command(
            "incident close",
            &[("resolution", "benign"), ("incident", "INC-1")],
        );
        let refused = inc.execute(&close, &origin(7, &[L1], Some(3)), &lib).await;
        let Err(UserError(text)) = refused else {
            panic!("{refused:?}")
        };
        assert!(
            text.contains("T2 role (<@&22>) to close incidents"),
            "{text}"
        );
        let closed = inc.execute(&close, &origin(8, &[T2], Some(4)), &lib).await;
        assert!(
            matches!(closed, Ok(Reply::Recorded(Recorded::Closed { .. }))),
            "{closed:?}"
        );
    }

    #[tokio::test]
    async fn an_interaction_handled_once_is_answered_with_nothing_the_second_time() {
        let (inc, lib) = (incidents(), library());
        let first = inc.execute(&open(), &origin(7, &[L1], Some(9)), &lib).await;
        assert!(
            matches!(first, Ok(Reply::IncidentOpened { .. })),
            "{first:?}"
        );
        let again = inc.execute(&open(), &origin(7, &[L1], Some(9)), &lib).await;
        assert!(matches!(again, Ok(Reply::Duplicate)), "{again:?}");
        assert_eq!(inc.store().incident_ids().unwrap(), vec![1]);

        let noted = inc
            .execute(&note("seen before"), &origin(7, &[L1], Some(10)), &lib)
            .await;
        let Ok(Reply::Recorded(Recorded::Noted { incident, by, text })) = noted else {
            panic!("{noted:?}")
        };
        assert_eq!(
            (incident, by.as_str(), text.as_str()),
            (IncidentId(1), "user7", "seen before")
        );
        let again = inc
            .execute(&note("seen before"), &origin(7, &[L1], Some(10)), &lib)
            .await;
        assert!(matches!(again, Ok(Reply::Duplicate)), "{again:?}");
        let (_, events) = inc.load(Some(IncidentId(1)), None).unwrap();
        let notes = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::NoteAdded { .. }))
            .count();
        assert_eq!(notes, 1, "the repeated note was not recorded twice");
    }

    /// A chat that makes a thread for every incident (as Discord would).
    struct ThreadChat;

    #[async_trait::async_trait]
    impl crate::effects::ChatPort for ThreadChat {
        async fn deliver(
            &self,
            _key: u64,
            effect: &Effect,
            _incident: &Incident,
        ) -> Result<Vec<EventKind>, crate::effects::DeliveryError> {
            Ok(match effect {
                Effect::OpenThread { channel, .. } => vec![EventKind::ThreadLinked {
                    channel_id: *channel,
                    thread_id: 4_000,
                    card_message_id: 4_001,
                }],
                _ => Vec::new(),
            })
        }

        async fn post_channel(
            &self,
            _key: u64,
            _channel: u64,
            _post: crate::effects::ChannelPost<'_>,
        ) -> Result<(), crate::effects::DeliveryError> {
            Ok(())
        }
    }

    fn press(n: usize) -> Invocation {
        let finding = [Finding::Clear, Finding::Unknown][n % 2];
        Invocation::answer(IncidentId(1), 1, finding, None).pressed(true)
    }

    async fn status(inc: &Incidents, lib: &Library) -> (Shared, History) {
        let status = command("incident status", &[("incident", "INC-1")]);
        match inc.execute(&status, &origin(0, &[], None), lib).await {
            Ok(Reply::Status { incident, events }) => (incident, events),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn status_sees_the_outbox_workers_thread_and_a_press_on_a_long_history_reads_nothing() {
        let store = Store::temporary().unwrap();
        let outbox = Outbox::new(store.clone(), Arc::new(ThreadChat));
        let roles = RolesConfig::default();
        let inc = Incidents::new(store.clone(), outbox, DefaultPolicy::default(), roles, None);
        let (lib, console) = (library(), origin(0, &[], None));
        inc.execute(&open(), &console, &lib).await.unwrap();
        assert_eq!(status(&inc, &lib).await.0.thread, None);
        // The worker makes the thread and records it: the next status shows it.
        inc.outbox().drain().await.unwrap();
        let thread = status(&inc, &lib).await.0.thread.map(|t| t.thread_id);
        assert_eq!(thread, Some(4_000));

        for n in 0..500 {
            inc.execute(&press(n), &console, &lib).await.unwrap();
        }
        let read = store.events_read();
        let pressed = inc.execute(&press(500), &console, &lib).await;
        assert!(
            matches!(pressed, Ok(Reply::Answered { changed: true, .. })),
            "{pressed:?}"
        );
        let (after, history) = status(&inc, &lib).await;
        assert_eq!(
            store.events_read(),
            read,
            "no event was read from the store"
        );
        assert_eq!(after.answer(1).map(|a| a.finding), Some(Finding::Clear));
        let stored: Vec<Event> = store.events(1).unwrap();
        assert_eq!(history.len(), stored.len());
        assert_eq!(
            *after,
            Incident::from_stored(IncidentId(1), &stored).unwrap()
        );
        let (same, again) = status(&inc, &lib).await;
        assert!(Arc::ptr_eq(&history, &again), "a status copies no history");
        assert!(Arc::ptr_eq(&after, &same), "nor the incident");
    }

    #[tokio::test]
    async fn the_console_user_needs_no_role() {
        let (inc, lib) = (incidents(), library());
        let opened = inc.execute(&open(), &origin(0, &[], None), &lib).await;
        assert!(
            matches!(opened, Ok(Reply::IncidentOpened { .. })),
            "{opened:?}"
        );
    }
}

#[cfg(test)]
mod every_command_tests {
    use super::*;
    use crate::service::commands::{self, Args, Kind, Opt, Parsed, Value};
    use crate::service::{LibraryHandle, Service};

    fn service() -> Service {
        let md = "# Web Services - T1583006\n\n| Column Name | Value |\n|---|---|\n| MITRE Tactic | Resource Development |\n| MITRE TTP | T1583.006 |\n| Name | Web Services |\n| Questions for Analysis | Is it ours? Is it new? |\n";
        let p = crate::playbook::parser::parse(md, "t.md").unwrap().playbook;
        let library = Library::from_playbooks(vec![p]).0;
        let store = Store::temporary().unwrap();
        let outbox = Outbox::new(store.clone(), Arc::new(super::execute_tests::NoChat));
        let incidents = Incidents::new(
            store.clone(),
            outbox.clone(),
            DefaultPolicy::default(),
            RolesConfig::default(),
            None,
        );
        let paging = Paging::new(
            store,
            outbox,
            crate::oncall::OncallConfig::default().rotation().unwrap(),
            crate::oncall::PagingConfig::default(),
            crate::clock::Clock::System,
            incidents.lock(),
        );
        Service::with_incidents(LibraryHandle::fixed(library), incidents.with_paging(paging))
    }

    /// A value of `o`'s kind that its check (if any) takes: the last choice, the smallest
    /// number, the one incident, the one playbook.
    fn sample(o: &Opt) -> Value {
        let candidates = match o.kind {
            Kind::Text { .. } => vec![
                Value::Text("seen on the proxy".into()),
                Value::Text("2026-11-30T10:00:00Z".into()),
            ],
            Kind::Integer { min, .. } => vec![Value::Int(min)],
            Kind::Boolean => vec![Value::Bool(true)],
            Kind::User => vec![Value::User(DiscordId::new(42).unwrap())],
            Kind::Incident => vec![Value::Text("INC-1".into())],
            Kind::Technique => vec![Value::Text("T1583.006".into())],
            Kind::Choice(choices) => choices()
                .into_iter()
                .rev()
                .map(|(_, value)| Value::Text(value))
                .collect(),
        };
        candidates
            .into_iter()
            .find(|v| o.check.is_none_or(|check| check(v).is_ok()))
            .unwrap_or_else(|| panic!("no sample value for `{}`", o.name))
    }

    /// What the execute path itself refuses (not the command's domain): a missing or mistyped
    /// option the handler reads, a role, a handler of the wrong kind, a part not enabled.
    const PATH_REFUSALS: [&str; 7] = [
        "Give `",
        "is not text",
        "is not a number",
        "You need the",
        "socbot's mistake",
        "not enabled",
        "not configured",
    ];

    /// Every command the table declares runs through the execute path (`Service::handle`) as
    /// the console user with every option given, in table order on one incident: its handler
    /// is reached, reads only what its declaration gives it, and answers (or its domain says
    /// why not: acknowledging once closed, attaching a playbook to an incident that has one).
    #[tokio::test]
    async fn every_declared_command_runs_through_the_execute_path() {
        let service = service();
        let mut answered = 0;
        for (path, decl) in commands::runnable() {
            let mut args = Args::default();
            for o in decl.options() {
                args.set(o.name, sample(o));
            }
            let invocation = match commands::build(&path, decl, args) {
                Ok(Parsed::Run(invocation)) => invocation,
                // `/help` is answered by each adapter from the table.
                Ok(Parsed::Help) => continue,
                Err(e) => panic!("/{path}: the sample values do not parse: {e}"),
            };
            let origin = Origin {
                actor: Actor::console(),
                channel: None,
                interaction: None,
                now: Utc::now(),
            };
            match service.handle(invocation, &origin).await {
                Ok(_) => answered += 1,
                Err(UserError(e)) => assert!(
                    !PATH_REFUSALS.iter().any(|p| e.contains(p)),
                    "/{path} was refused by the execute path, not its domain: {e}"
                ),
            }
        }
        // All but acknowledging and attaching, which the closed incident refuses.
        assert_eq!(
            answered,
            commands::runnable().len() - 3,
            "help, ack, playbook"
        );
    }
}
