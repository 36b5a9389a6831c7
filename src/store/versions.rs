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
    next: Mutex<HashMap<u64, u64>>,
}

impl Versions {
    /// The count of `incident`, when known.
    pub(super) fn get(&self, incident: u64) -> Option<u64> {
        self.lock().get(&incident).copied()
    }

    /// `incident` has at least `next` events.
    pub(super) fn raise(&self, incident: u64, next: u64) {
        let mut map = self.lock();
        if map.len() >= CAPACITY && !map.contains_key(&incident) {
            map.clear();
        }
        let known = map.entry(incident).or_insert(next);
        *known = (*known).max(next);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        self.next.lock().unwrap_or_else(|e| e.into_inner())
    }
}
