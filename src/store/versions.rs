//! How many events each recently written or read incident has (its next sequence number), kept
//! in memory: a reader holding an incident folded tells from it, without reading sled, that
//! nothing was added since.
//!
//! Every event is appended by [`super::Store::write`], which raises the count of each incident
//! it wrote before it returns. A count here is always one the store had at some moment, and
//! counts only grow (an incident's events are never renumbered), so every update is a maximum.
//! The map is bounded: when full it is emptied and relearnt by the next commits and reads.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many incidents' counts are kept (16 bytes each, about 1.5 MB at most).
pub const CAPACITY: usize = 65_536;

#[derive(Debug, Default)]
pub(super) struct Versions {
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    next: HashMap<u64, u64>,
    /// How many times the map was emptied.
    cleared: u64,
}

impl Versions {
    /// The count of `incident`, when known; else when to [`Versions::learn`] it from (the
    /// generation of the map).
    pub(super) fn get(&self, incident: u64) -> Result<u64, u64> {
        let counts = self.lock();
        counts.next.get(&incident).copied().ok_or(counts.cleared)
    }

    /// `incident` has at least `next` events (a write's own count: always remembered).
    pub(super) fn raise(&self, incident: u64, next: u64) {
        self.lock().raise(incident, next);
    }

    /// `incident` had `next` events when read from sled, with the map at `generation` (see
    /// [`Versions::get`]). Remembered unless the map was emptied since: then a write's raise
    /// after the read may have been lost, and the read would stand in for it.
    pub(super) fn learn(&self, incident: u64, next: u64, generation: u64) {
        let mut counts = self.lock();
        if counts.cleared == generation {
            counts.raise(incident, next);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Counts {
    fn raise(&mut self, incident: u64, next: u64) {
        if self.next.len() >= CAPACITY && !self.next.contains_key(&incident) {
            self.next.clear();
            self.cleared += 1;
        }
        let known = self.next.entry(incident).or_insert(next);
        *known = (*known).max(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_grow_and_a_read_from_before_the_map_was_emptied_is_not_remembered() {
        let v = Versions::default();
        let generation = v.get(1).unwrap_err();
        v.raise(1, 3);
        v.learn(1, 2, generation);
        assert_eq!(v.get(1), Ok(3), "an older read never lowers a count");
        let generation = v.get(2).unwrap_err();
        // Full: the next new incident empties the map.
        for id in 10..10 + CAPACITY as u64 {
            v.raise(id, 1);
        }
        assert!(v.get(1).is_err(), "forgotten");
        v.learn(2, 7, generation);
        assert!(v.get(2).is_err(), "read before the map was emptied");
        let generation = v.get(2).unwrap_err();
        v.learn(2, 7, generation);
        assert_eq!(v.get(2), Ok(7));
    }
}
