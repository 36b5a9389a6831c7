//! Storm policy: past `alerts.max_new_incidents_per_minute` new incidents from one source in a
//! minute, further new alerts join that source's storm incident instead of opening their own.
//! Pure: the caller passes the time in.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

/// `alerts.max_new_incidents_per_minute` when not configured.
pub const DEFAULT_MAX_NEW_INCIDENTS_PER_MINUTE: u32 = 20;

/// The new incidents one source opened in the last minute (a sliding window).
#[derive(Debug, Clone)]
pub struct StormWindow {
    limit: u32,
    /// When each incident counted in the window was opened, oldest first.
    opened: VecDeque<DateTime<Utc>>,
}

impl StormWindow {
    /// The length of the window.
    pub const WINDOW: TimeDelta = TimeDelta::minutes(1);

    /// A window letting at most `limit` new incidents open per minute (0 lets none open).
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            opened: VecDeque::new(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Whether a new incident may open at `now`. If so it is counted; if not (`false`: the
    /// storm), nothing is counted, so the source opens incidents again once fewer than `limit`
    /// were opened in the minute before.
    pub fn admit(&mut self, now: DateTime<Utc>) -> bool {
        self.forget_before(now);
        let open_now = self.opened.iter().filter(|t| **t <= now).count();
        if open_now >= self.limit as usize {
            return false;
        }
        // Times mostly arrive in order; keep the queue sorted when one does not.
        let at = self.opened.partition_point(|t| *t <= now);
        self.opened.insert(at, now);
        true
    }

    /// Counts an incident opened at `at` without asking (rebuilding the window after a
    /// restart from the incidents the store holds).
    pub fn record(&mut self, at: DateTime<Utc>) {
        let i = self.opened.partition_point(|t| *t <= at);
        self.opened.insert(i, at);
    }

    /// New incidents counted in the minute up to `now`.
    pub fn count(&self, now: DateTime<Utc>) -> usize {
        self.opened
            .iter()
            .filter(|t| **t > now - Self::WINDOW && **t <= now)
            .count()
    }

    /// Whether a new incident would be refused at `now`.
    pub fn is_storming(&self, now: DateTime<Utc>) -> bool {
        self.count(now) >= self.limit as usize
    }

    fn forget_before(&mut self, now: DateTime<Utc>) {
        while self
            .opened
            .front()
            .is_some_and(|t| *t <= now - Self::WINDOW)
        {
            self.opened.pop_front();
        }
    }
}

impl Default for StormWindow {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_NEW_INCIDENTS_PER_MINUTE)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + TimeDelta::seconds(secs)
    }

    #[test]
    fn the_limit_per_minute_opens_then_the_storm_holds_until_the_minute_passes() {
        let mut w = StormWindow::new(3);
        assert!(w.admit(t(0)));
        assert!(w.admit(t(10)));
        assert!(w.admit(t(20)));
        assert!(!w.admit(t(21)), "the fourth in a minute is the storm");
        assert!(!w.admit(t(59)));
        assert!(w.is_storming(t(59)));
        // The first one leaves the window at t=60: room for one more.
        assert!(w.admit(t(60)));
        assert!(!w.admit(t(61)));
        assert!(w.admit(t(70)));
        assert_eq!(w.count(t(70)), 3);
        assert!(!w.is_storming(t(200)));
        assert!(w.admit(t(200)));
    }

    #[test]
    fn refused_alerts_do_not_prolong_the_storm() {
        let mut w = StormWindow::new(2);
        assert!(w.admit(t(0)) && w.admit(t(1)));
        for s in 2..60 {
            assert!(!w.admit(t(s)));
        }
        assert!(w.admit(t(61)));
    }

    #[test]
    fn default_limit_is_twenty_and_zero_admits_nothing() {
        let mut w = StormWindow::default();
        assert_eq!(w.limit(), 20);
        assert_eq!((0..25).filter(|_| w.admit(t(0))).count(), 20);
        assert!(!StormWindow::new(0).admit(t(0)));
    }

    #[test]
    fn a_window_rebuilt_from_recorded_times_counts_them() {
        let mut w = StormWindow::new(2);
        w.record(t(30));
        w.record(t(5));
        assert!(!w.admit(t(40)));
        assert!(w.admit(t(66)), "t=5 left the window");
    }
}
