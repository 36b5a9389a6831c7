//! Time for the daemon. The core never reads a clock (time is passed in); the adapters and the
//! workers ask a [`Clock`]: the system clock in production, a manual one that tests advance
//! (so acknowledgement deadlines are tested without waiting and without sleeps).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(ManualClock),
}

/// A clock that moves only when told to. The channel holds the time and wakes its sleepers.
#[derive(Clone, Debug)]
pub struct ManualClock {
    moved: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            moved: watch::channel(start).0,
        }
    }

    /// Moves time forward, waking everything that waits for a time now passed.
    pub fn advance(&self, by: Duration) {
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        self.moved.send_modify(|now| {
            *now = now
                .checked_add_signed(by)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        });
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.moved.borrow()
    }
}

impl Clock {
    pub fn manual(start: DateTime<Utc>) -> (Self, ManualClock) {
        let m = ManualClock::new(start);
        (Self::Manual(m.clone()), m)
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::Manual(m) => m.now(),
        }
    }

    /// Resolves once `at` has passed.
    pub async fn sleep_until(&self, at: DateTime<Utc>) {
        match self {
            Self::System => {
                let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                tokio::time::sleep(wait).await;
            }
            Self::Manual(m) => {
                let mut rx = m.moved.subscribe();
                while *rx.borrow_and_update() < at {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_advanced_past_their_time() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let (clock, manual) = Clock::manual(start);
        let deadline = start + TimeDelta::minutes(10);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(deadline).await }
        });
        manual.advance(Duration::from_secs(599));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        manual.advance(Duration::from_secs(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), deadline);
    }
}
