//! Recently used incidents kept folded, so reading one costs what is new, not its history.
//!
//! An incident is the fold of its events. [`Store::incident`] and [`Store::incident_history`]
//! keep the fold of the [`CAPACITY`] incidents used last, each with the event count it covers
//! and its history. Both are shared with whoever reads them ([`Shared`], [`History`]), never
//! copied per read: a status of a kept incident touches none of its data (a write copies the
//! fold only when a reader still holds the one it replaces). A read compares that count with the
//! store's (kept in memory for every incident written or read lately: see `versions`): equal,
//! it answers from memory without reading sled; else it reads and folds only the events after
//! it. Every event is written by [`Store::write`], which raises the count before it returns, so
//! whatever wrote (a command, alert intake, the outbox worker recording a thread, a paging
//! timer), the next read sees it. A restore opens a new store, and with it an empty cache.
//!
//! What is kept: an incident a write opens or brings up to date, and one read whole from sled
//! for the second time among the last [`CAPACITY`] such reads. A first read answers without
//! keeping (no eviction, no copy): a run of one-off reads of old incidents (their status, a
//! report) leaves the incidents being worked on kept.
//!
//! Memory: at most [`CAPACITY`] incidents and [`EVENT_BUDGET`] events of history in all, the
//! least recently used going first; a history longer than [`HISTORY_CAP`] is not kept (its
//! incident is). 1,024 incidents of a few events each (a playbook's questions, an answer, a
//! closure) hold about 6 MB (`cargo bench --bench scale -- memory`); the history budget, a
//! few hundred bytes an event, adds about 5 MB at most.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use super::versions::Versions;
use super::{Store, StoreError};
use crate::incident::{Event, Incident, IncidentId};

/// How many incidents are kept folded at most.
pub const CAPACITY: usize = 1024;
/// How many events of history the kept incidents hold in all, at most.
pub const EVENT_BUDGET: usize = 16_384;
/// A history longer than this is not kept (the folded incident is).
pub const HISTORY_CAP: usize = 4_096;

/// An incident's events, oldest first, shared by the cache and whoever read them.
pub type History = Arc<Vec<Event>>;

/// A folded incident, shared by the cache and whoever read it (a read copies nothing).
pub type Shared = Arc<Incident>;

/// What the store keeps in memory beside sled (one per opened store).
#[derive(Debug, Default)]
pub(super) struct Kept {
    pub(super) versions: Versions,
    cache: Mutex<Lru>,
    /// Event records read from sled (see [`Store::events_read`]).
    pub(super) events_read: AtomicU64,
    /// Every interaction id in the `interactions` tree (the last 20 minutes' worth): whether
    /// one was handled is answered from memory.
    pub(super) interactions: Mutex<std::collections::HashSet<u64>>,
}

/// One kept incident: folded from every event before `next`.
#[derive(Debug)]
struct Entry {
    next: u64,
    used: u64,
    incident: Shared,
    history: Option<History>,
}

impl Entry {
    fn weight(&self) -> usize {
        self.history.as_ref().map_or(0, |h| h.len())
    }

    /// The history with `events` appended, or none once it is longer than [`HISTORY_CAP`].
    fn extend(history: Option<History>, events: &[Event]) -> Option<History> {
        let mut history = history?;
        if history.len() + events.len() > HISTORY_CAP {
            return None;
        }
        Arc::make_mut(&mut history).extend_from_slice(events);
        Some(history)
    }
}

/// Least recently used first out.
#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<u64, Entry>,
    /// use tick → incident
    order: BTreeMap<u64, u64>,
    clock: u64,
    /// Events held in all the kept histories.
    events: usize,
    /// Incidents read whole from sled once lately and not kept (at most [`CAPACITY`], oldest
    /// first out): read again, they are kept (see [`Lru::admit`]).
    once: HashSet<u64>,
    once_order: VecDeque<u64>,
}

impl Lru {
    /// Whether incident `id`, just read whole from sled, is to be kept: when it was read so
    /// lately already. A first read is remembered instead, so a run of one-off reads (the
    /// status of old incidents, a report) does not push out the incidents being worked on,
    /// nor costs an eviction and a copy each.
    fn admit(&mut self, id: u64) -> bool {
        if self.once.remove(&id) {
            return true;
        }
        if self.once_order.len() >= CAPACITY
            && let Some(oldest) = self.once_order.pop_front()
        {
            self.once.remove(&oldest);
        }
        self.once.insert(id);
        self.once_order.push_back(id);
        false
    }

    fn touch(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            self.clock += 1;
            self.order.remove(&e.used);
            e.used = self.clock;
            self.order.insert(self.clock, id);
        }
    }

    /// The kept incident when it covers `next` events (and has its history, when wanted).
    fn hit(&mut self, id: u64, next: u64, history: bool) -> Option<(Shared, Option<History>)> {
        let e = self.entries.get(&id)?;
        if e.next != next || (history && e.history.is_none()) {
            return None;
        }
        let found = (e.incident.clone(), e.history.clone());
        self.touch(id);
        Some(found)
    }

    fn take(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        self.order.remove(&e.used);
        self.events -= e.weight();
        Some(e)
    }

    /// Keeps `entry` unless what is kept already covers more.
    fn put(&mut self, id: u64, entry: Entry) {
        if self.entries.get(&id).is_some_and(|e| e.next > entry.next) {
            return;
        }
        self.take(id);
        self.events += entry.weight();
        self.entries.insert(id, entry);
        self.touch(id);
        while self.entries.len() > CAPACITY || self.events > EVENT_BUDGET {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.events -= e.weight();
            }
        }
    }
}

impl Kept {
    fn cache(&self) -> MutexGuard<'_, Lru> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn interactions(&self) -> MutexGuard<'_, std::collections::HashSet<u64>> {
        self.interactions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a write appended `events` (incident, JSON; `decoded` the same, decoded, or empty),
    /// each with the incident's event count after it: every kept incident the write started
    /// from is kept current (the next read reads nothing), and an incident the write opened is
    /// kept. Any other is left as it is for the next read to bring up to date (a write that
    /// raced another).
    pub(super) fn written(
        &self,
        events: &[(u64, Vec<u8>)],
        decoded: &[Event],
        counts: &[(u64, u64)],
    ) {
        let decoded = (decoded.len() == events.len()).then_some(decoded);
        // (incident, count before, count after, its events' places in `events`), in order.
        let mut by: Vec<(u64, u64, u64, Vec<usize>)> = Vec::new();
        for (i, ((inc, _), &(_, after))) in events.iter().zip(counts).enumerate() {
            match by.iter_mut().find(|g| g.0 == *inc) {
                Some(g) => {
                    g.2 = after;
                    g.3.push(i);
                }
                None => by.push((*inc, after.saturating_sub(1), after, vec![i])),
            }
        }
        let mut cache = self.cache();
        for (inc, before, after, places) in by {
            // Decoded only for an incident kept current; an event that does not decode is
            // left for a read to set aside.
            let new = || -> Option<Vec<Event>> {
                places
                    .iter()
                    .map(|&i| match decoded {
                        Some(d) => Some(d[i].clone()),
                        None => Event::from_json(&events[i].1).ok(),
                    })
                    .collect()
            };
            cache.advance(inc, before, after, new);
        }
    }
}

impl Lru {
    /// Applies the events an incident's count went from `before` to `after` with (`new`
    /// gives them), when what is kept of it covers exactly `before` (nothing kept: when the
    /// incident is new).
    fn advance(
        &mut self,
        id: u64,
        before: u64,
        after: u64,
        new: impl FnOnce() -> Option<Vec<Event>>,
    ) {
        let current = self
            .entries
            .get(&id)
            .map_or(before == 0, |e| e.next == before);
        if !current {
            return;
        }
        let kept = self.take(id);
        let Some(new) = new() else {
            return;
        };
        let entry = match kept {
            Some(mut e) => {
                if Arc::make_mut(&mut e.incident).apply_all(&new).is_err() {
                    return;
                }
                e.history = Entry::extend(e.history, &new);
                e.next = after;
                e
            }
            None => match Incident::from_stored(IncidentId(id), &new) {
                Ok(incident) => Entry {
                    next: after,
                    used: 0,
                    incident: Arc::new(incident),
                    history: Some(Arc::new(new)),
                },
                Err(_) => return,
            },
        };
        self.put(id, entry);
    }
}

impl Store {
    /// Incident `id`, folded; None when it has no events. From memory when nothing was added
    /// since it was last read (no read of sled), else folding only the new events.
    pub fn incident(&self, id: u64) -> Result<Option<Incident>, StoreError> {
        Ok(self
            .folded(id, false)?
            .map(|(inc, _)| Arc::unwrap_or_clone(inc)))
    }

    /// Incident `id`, folded, and its whole history; None when it has no events. As
    /// [`Store::incident`], the incident and its history shared with the cache, not copied:
    /// a read of a kept incident touches neither (what a status of an incident worked on a
    /// while ago costs is then the lookups, not the first touch of its data).
    pub fn incident_history(&self, id: u64) -> Result<Option<(Shared, History)>, StoreError> {
        Ok(self.folded(id, true)?.map(|(inc, history)| {
            let history = history.unwrap_or_default();
            (inc, history)
        }))
    }

    /// How many incidents are kept folded (tests, benchmarks).
    pub fn kept_incidents(&self) -> usize {
        self.kept.cache().entries.len()
    }

    fn folded(
        &self,
        id: u64,
        history: bool,
    ) -> Result<Option<(Shared, Option<History>)>, StoreError> {
        // How many events the incident has, from memory. Unknown, the read below tells (and is
        // remembered unless the counts were emptied meanwhile: see `versions`).
        let known = self.kept.versions.get(id);
        let base = {
            let mut cache = self.kept.cache();
            if let Ok(next) = known
                && let Some(hit) = cache.hit(id, next, history)
            {
                return Ok(Some(hit));
            }
            // Taken out while it is brought up to date: its history is then not shared, so
            // the new events are appended in place.
            cache.take(id)
        };
        let was_kept = base.is_some();
        let Some((entry, read)) = self.refold(id, known.unwrap_or(0), base, history)? else {
            return Ok(None);
        };
        if let Err(generation) = known {
            self.kept.versions.learn(id, entry.next, generation);
        }
        let mut cache = self.kept.cache();
        if !was_kept && !cache.admit(id) {
            drop(cache);
            return Ok(Some((entry.incident, read.or(entry.history))));
        }
        let found = (
            entry.incident.clone(),
            read.or_else(|| entry.history.clone()),
        );
        cache.put(id, entry);
        Ok(Some(found))
    }

    /// `base` brought up to date, or the incident folded from its first event when there is
    /// no base, the base lacks a wanted history, or the new events do not fold onto it. With
    /// the whole history when it was read but is too long to keep; None when it has no events.
    fn refold(
        &self,
        id: u64,
        known: u64,
        base: Option<Entry>,
        history: bool,
    ) -> Result<Option<(Entry, Option<History>)>, StoreError> {
        if let Some(base) = base.filter(|b| !history || b.history.is_some()) {
            let (new, read) = self.incident_events_from(id, base.next)?;
            let mut incident = base.incident;
            let kept = Entry::extend(base.history, &new);
            if (!history || kept.is_some()) && Arc::make_mut(&mut incident).apply_all(&new).is_ok()
            {
                let entry = Entry {
                    // Read after `known` was: covers at least that.
                    next: read.max(known),
                    used: 0,
                    incident,
                    history: kept,
                };
                return Ok(Some((entry, None)));
            }
        }
        let (all, read) = self.incident_events_from(id, 0)?;
        if all.is_empty() && read == 0 {
            return Ok(None);
        }
        let incident = Incident::from_stored(IncidentId(id), &all)
            .map_err(|why| StoreError::Unfoldable { incident: id, why })?;
        let all = Arc::new(all);
        let entry = Entry {
            next: read.max(known),
            used: 0,
            incident: Arc::new(incident),
            history: (all.len() <= HISTORY_CAP).then(|| all.clone()),
        };
        Ok(Some((entry, Some(all))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::state::tests::{alice, opened, t};
    use crate::incident::{EventKind, Finding};
    use crate::store::Batch;

    /// The incident `opened` makes.
    const ID: u64 = 7;

    fn answer(min: i64) -> Event {
        let finding = [Finding::Concerning, Finding::Clear, Finding::Unknown][min as usize % 3];
        let kind = EventKind::Answered {
            question: 1,
            finding,
            note: None,
        };
        Event::new(t(min), alice(), kind)
    }

    /// An `opened` event for whichever number the store gives.
    fn opened_any() -> Event {
        let mut e = opened(None);
        if let EventKind::Opened { id, .. } = &mut e.kind {
            *id = IncidentId(0);
        }
        e
    }

    fn append(store: &Store, id: u64, events: &[Event]) {
        let batch = Batch {
            events: events.iter().map(|e| (id, Store::encode(e))).collect(),
            ..Batch::default()
        };
        store.commit_blocking(batch).unwrap();
    }

    /// Incident `id` folded from everything stored, past the cache.
    fn stored(store: &Store, id: u64) -> (Shared, Vec<Event>) {
        let events: Vec<Event> = store.events(id).unwrap();
        (
            Arc::new(Incident::from_stored(IncidentId(id), &events).unwrap()),
            events,
        )
    }

    /// With 500 events: what a read reads from sled.
    fn long_incident() -> Store {
        let store = Store::temporary().unwrap();
        let mut events = vec![opened(None)];
        events.extend((1..=500).map(answer));
        append(&store, ID, &events);
        store
    }

    #[test]
    fn a_kept_incident_with_nothing_new_reads_no_events_and_shares_it_and_its_history() {
        let store = long_incident();
        let (first, history) = store.incident_history(ID).unwrap().unwrap();
        let read = store.events_read();
        let (again, shared) = store.incident_history(ID).unwrap().unwrap();
        assert_eq!(store.events_read(), read, "nothing was read from sled");
        assert!(Arc::ptr_eq(&history, &shared), "the history is not copied");
        assert!(Arc::ptr_eq(&first, &again), "nor is the incident");
        assert_eq!((first.clone(), history.len()), (again, 501));
        assert_eq!((first, history.to_vec()), stored(&store, ID));
    }

    #[test]
    fn a_write_from_any_path_is_seen_by_the_next_read() {
        let store = long_incident();
        // A reader still holds what it read (a status being rendered) while the write lands.
        let (held, _) = store.incident_history(ID).unwrap().unwrap();
        // What the outbox worker records once it made the thread: a plain commit.
        let linked = Event::new(
            t(600),
            crate::incident::ActorRef::system(),
            EventKind::ThreadLinked {
                channel_id: 1,
                thread_id: 2,
                card_message_id: 3,
            },
        );
        append(&store, ID, &[linked, answer(601)]);
        let read = store.events_read();
        let (inc, history) = store.incident_history(ID).unwrap().unwrap();
        assert_eq!(
            store.events_read(),
            read,
            "the write's own events kept it current"
        );
        assert_eq!(inc.thread.map(|t| t.thread_id), Some(2));
        assert_eq!(
            held.thread, None,
            "what a reader holds is not changed under it"
        );
        assert_eq!(history.len(), 503);
        assert_eq!((inc, history.to_vec()), stored(&store, ID));
    }

    #[test]
    fn a_kept_incident_behind_the_store_reads_and_folds_only_the_new_events() {
        let store = long_incident();
        store.incident_history(ID).unwrap();
        // A read bringing it up to date holds it out of the cache while two writes land.
        let behind = store.kept.cache().take(ID).unwrap();
        append(&store, ID, &[answer(501), answer(502)]);
        append(&store, ID, &[answer(503)]);
        store.kept.cache().put(ID, behind);
        let read = store.events_read();
        let (inc, history) = store.incident_history(ID).unwrap().unwrap();
        assert_eq!(store.events_read() - read, 3, "the three new events only");
        assert_eq!((inc, history.to_vec()), stored(&store, ID));
    }

    #[test]
    fn at_capacity_the_least_used_go_and_every_read_is_still_right() {
        let store = Store::temporary().unwrap();
        for id in 1..=CAPACITY as u64 + 10 {
            append(&store, id, &[opened_any(), answer(1)]);
        }
        assert_eq!(store.kept_incidents(), CAPACITY);
        for id in [11, CAPACITY as u64 + 10, 1, 10] {
            let read = store.events_read();
            let (inc, history) = store.incident_history(id).unwrap().unwrap();
            let evicted = id <= 10;
            assert_eq!(store.events_read() - read, if evicted { 2 } else { 0 });
            assert_eq!((inc, history.to_vec()), stored(&store, id), "INC-{id}");
        }
        // Long histories: within the event budget, one too long for it not kept at all.
        let long: Vec<Event> = std::iter::once(opened_any())
            .chain((1..HISTORY_CAP as i64).map(answer))
            .collect();
        for id in 2_000..2_010 {
            append(&store, id, &long);
        }
        let longest = 3_000;
        append(&store, longest, &long);
        append(&store, longest, &[answer(9_000), answer(9_001)]);
        assert!(store.kept.cache().events <= EVENT_BUDGET);
        for id in (2_000..2_010).chain([longest]) {
            let (inc, history) = store.incident_history(id).unwrap().unwrap();
            assert_eq!((inc, history.to_vec()), stored(&store, id), "INC-{id}");
        }
        let (_, history) = store.incident_history(longest).unwrap().unwrap();
        assert_eq!(history.len(), HISTORY_CAP + 2);
        assert!(store.kept.cache().events <= EVENT_BUDGET);
    }

    #[test]
    fn one_off_reads_of_old_incidents_leave_the_worked_on_ones_kept_a_second_read_keeps() {
        let store = Store::temporary().unwrap();
        let old = 1..=2 * CAPACITY as u64;
        for id in old.clone() {
            append(&store, id, &[opened_any(), answer(1)]);
        }
        // A restart: nothing kept. Then work on a few incidents, and read every old one once.
        let store = Store::from_db(store.db.clone(), "(again)", None).unwrap();
        let worked: Vec<u64> = (1..=10).collect();
        for &id in &worked {
            store.incident_history(id).unwrap();
            store.incident_history(id).unwrap();
        }
        assert_eq!(store.kept_incidents(), worked.len(), "read twice: kept");
        for id in old.clone() {
            let (inc, history) = store.incident_history(id).unwrap().unwrap();
            assert_eq!((inc, history.to_vec()), stored(&store, id), "INC-{id}");
        }
        assert_eq!(
            store.kept_incidents(),
            worked.len(),
            "one-off reads keep nothing"
        );
        let read = store.events_read();
        for &id in &worked {
            store.incident_history(id).unwrap();
        }
        assert_eq!(
            store.events_read(),
            read,
            "the worked-on incidents are still kept"
        );
        // The last old incident read, read again, is kept from now on.
        let last = 2 * CAPACITY as u64;
        store.incident_history(last).unwrap();
        let read = store.events_read();
        let (inc, _) = store.incident_history(last).unwrap().unwrap();
        assert_eq!(store.events_read(), read);
        assert_eq!(inc, stored(&store, last).0);
    }

    #[test]
    fn an_incident_without_events_is_none_and_one_that_does_not_fold_says_so() {
        let store = Store::temporary().unwrap();
        assert!(store.incident(5).unwrap().is_none());
        append(&store, 5, &[answer(1)]);
        let err = store.incident_history(5).unwrap_err();
        assert!(
            matches!(err, StoreError::Unfoldable { incident: 5, .. }),
            "{err}"
        );
    }
}
