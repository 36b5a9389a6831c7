//! The messages this process posted, by nonce, for a while (see [`super::port::DiscordPort`]):
//! an effect retried after a failure part-way skips what already went out.
//!
//! Kept in the order they were posted, so forgetting the old ones looks only at the oldest: a
//! catch-up posting tens of thousands of messages costs the same per message at any depth
//! (a sweep of the whole map at every post made it quadratic).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Nonce → message id, remembered for `keep` after posting.
#[derive(Debug)]
pub struct Posted {
    keep: Duration,
    by_nonce: HashMap<String, (u64, Instant)>,
    /// (when, nonce) in the order posted: the oldest first.
    order: VecDeque<(Instant, String)>,
    /// Entries looked at while forgetting (for the test that forgetting never sweeps).
    looked_at: u64,
}

impl Posted {
    pub fn new(keep: Duration) -> Self {
        Self {
            keep,
            by_nonce: HashMap::new(),
            order: VecDeque::new(),
            looked_at: 0,
        }
    }

    /// The message posted under `nonce` within `keep` of `now`.
    pub fn get(&self, nonce: &str, now: Instant) -> Option<u64> {
        self.by_nonce
            .get(nonce)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.keep)
            .map(|(id, _)| *id)
    }

    /// Remembers message `id` posted under `nonce` at `now`, forgetting those older than `keep`.
    pub fn insert(&mut self, nonce: String, id: u64, now: Instant) {
        self.forget_before(now);
        self.order.push_back((now, nonce.clone()));
        self.by_nonce.insert(nonce, (id, now));
    }

    /// Forgets the entries posted `keep` or longer before `now`: only those, and the first one
    /// kept, are looked at.
    fn forget_before(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            self.looked_at += 1;
            if now.saturating_duration_since(*at) < self.keep {
                break;
            }
            let Some((at, nonce)) = self.order.pop_front() else {
                break;
            };
            // Posted again since (two attempts raced): the later entry stays.
            if self
                .by_nonce
                .get(&nonce)
                .is_some_and(|(_, last)| *last == at)
            {
                self.by_nonce.remove(&nonce);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_nonce.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_nonce.is_empty()
    }

    /// How many entries forgetting has looked at so far.
    pub fn looked_at(&self) -> u64 {
        self.looked_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn posting_looks_at_no_more_than_the_expired_entries_and_one() {
        let start = Instant::now();
        let mut posted = Posted::new(HOUR);
        let n = 20_000u64;
        for i in 0..n {
            posted.insert(format!("e{i}m0"), i, start + Duration::from_millis(i));
        }
        assert_eq!(posted.len(), n as usize);
        // Each post looked at the oldest entry only (none had expired): linear, not quadratic.
        assert!(
            posted.looked_at() < n,
            "looked at {} entries for {n} posts",
            posted.looked_at()
        );
        assert_eq!(posted.get("e0m0", start + Duration::from_secs(1)), Some(0));
        // An hour on, the next post forgets the first half and looks at one entry more.
        let later = start + HOUR + Duration::from_millis(n / 2);
        let before = posted.looked_at();
        posted.insert("late".into(), 1, later);
        assert_eq!(posted.looked_at() - before, n / 2 + 2);
        assert_eq!(posted.len(), n as usize / 2);
        assert_eq!(posted.get("e0m0", later), None, "forgotten after an hour");
        assert_eq!(posted.get(&format!("e{}m0", n - 1), later), Some(n - 1));
    }

    #[test]
    fn a_nonce_posted_again_is_kept_from_its_last_post() {
        let start = Instant::now();
        let mut posted = Posted::new(HOUR);
        posted.insert("e1m0".into(), 10, start);
        posted.insert("e1m0".into(), 11, start + Duration::from_secs(60));
        let later = start + HOUR + Duration::from_secs(1);
        posted.insert("e2m0".into(), 12, later);
        assert_eq!(posted.get("e1m0", later), Some(11));
        assert_eq!(posted.get("e1m0", later + Duration::from_secs(60)), None);
        assert!(!posted.is_empty());
    }
}
