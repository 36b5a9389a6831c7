//! The rotation: who holds the shift at an instant, as a pure function of time.
//!
//! Shift `k` (any integer; 0 is the first roster member's first shift) starts at the hand-off
//! on local day `start + k × rotation_days` at the local hand-off time in the configured zone,
//! ends at shift `k + 1`'s hand-off, and is held by `roster[k mod len]`. Hand-offs follow the
//! wall clock, so a weekly shift across a daylight-saving change lasts 167 or 169 hours. Before
//! `start` the rotation simply runs backwards (it is periodic).
//!
//! A hand-off time that does not exist on its day (it falls in a spring-forward gap, e.g. 02:30
//! in Europe/Berlin on 2026-03-29) happens at the first instant after the gap (03:00 CEST, the
//! moment the clocks jump). A hand-off time that happens twice (a fall-back, 02:30 on
//! 2026-10-25) happens at its first occurrence (02:30 CEST). In both cases: the earliest instant
//! whose local wall time is at or after the hand-off time.

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::Serialize;

use super::config::Secondary;
use crate::id::DiscordId;

/// The parsed, checked `[oncall]` configuration (see [`super::OncallConfig::rotation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    roster: Vec<DiscordId>,
    days: u32,
    handoff: NaiveTime,
    tz: Tz,
    start: NaiveDate,
    secondary: Secondary,
    fallback_role: Option<DiscordId>,
}

/// One shift of the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Shift {
    /// Who holds it.
    pub user: DiscordId,
    /// Who holds the following shift.
    pub next_user: DiscordId,
    /// Its hand-offs: on call from `starts` (inclusive) to `ends` (exclusive).
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    /// Its number counted from `oncall.start` (0 is the first roster member's first shift;
    /// negative before `start`). Changes exactly at each hand-off.
    pub number: i64,
}

impl Rotation {
    /// Builds a rotation from checked parts; `days` must be at least 1 (it is raised to 1).
    pub fn new(
        roster: Vec<DiscordId>,
        days: u32,
        handoff: NaiveTime,
        tz: Tz,
        start: NaiveDate,
        secondary: Secondary,
        fallback_role: Option<DiscordId>,
    ) -> Self {
        Self {
            roster,
            days: days.max(1),
            handoff,
            tz,
            start,
            secondary,
            fallback_role,
        }
    }

    pub fn roster(&self) -> &[DiscordId] {
        &self.roster
    }

    /// The zone of the hand-offs (to show times in local time).
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The role mentioned at the end of the chain, if any.
    pub fn fallback_role(&self) -> Option<DiscordId> {
        self.fallback_role
    }

    /// The shift that holds `at`; None when the roster is empty (or `at` is so far from `start`
    /// that the calendar overflows).
    pub fn on_call(&self, at: DateTime<Utc>) -> Option<Shift> {
        // Far from chrono's limits (±262,143 years), so no calendar arithmetic can overflow.
        if self.roster.is_empty() || at.year().abs() > 200_000 {
            return None;
        }
        let local_day = at.with_timezone(&self.tz).date_naive();
        let days = local_day.signed_duration_since(self.start).num_days();
        let mut k = days.div_euclid(i64::from(self.days));
        // `at` may be on its hand-off day but before the hand-off time; hand-offs strictly
        // increase with k, so these loops move one or two steps at most (capped for safety).
        let mut starts = self.handoff_of(k)?;
        for _ in 0..4 {
            if starts <= at {
                break;
            }
            k -= 1;
            starts = self.handoff_of(k)?;
        }
        let mut ends = self.handoff_of(k + 1)?;
        for _ in 0..4 {
            if ends > at {
                break;
            }
            k += 1;
            starts = ends;
            ends = self.handoff_of(k + 1)?;
        }
        if !(starts <= at && at < ends) {
            return None;
        }
        Some(Shift {
            user: self.member(k),
            next_user: self.member(k + 1),
            starts,
            ends,
            number: k,
        })
    }

    /// The shift holding `at` and the `count - 1` after it.
    pub fn upcoming(&self, at: DateTime<Utc>, count: usize) -> Vec<Shift> {
        let mut out = Vec::with_capacity(count);
        let mut t = at;
        while out.len() < count {
            let Some(s) = self.on_call(t) else { break };
            t = s.ends;
            out.push(s);
        }
        out
    }

    /// Who the secondary is when `primary` is on call and `shift` is the rotation's current
    /// shift: never the primary itself.
    pub fn secondary_for(&self, primary: DiscordId, shift: Option<&Shift>) -> Option<DiscordId> {
        match self.secondary {
            Secondary::None => None,
            Secondary::User(id) => Some(id).filter(|&id| id != primary),
            Secondary::Next => {
                let k = shift?.number;
                let n = i64::try_from(self.roster.len()).ok()?;
                // The members after the shift's holder, in order, ending with the holder
                // (who is the right secondary when an override made someone else primary).
                (1..=n).map(|i| self.member(k + i)).find(|&u| u != primary)
            }
        }
    }

    fn member(&self, k: i64) -> DiscordId {
        // The roster is not empty here (checked by the callers).
        let n = i64::try_from(self.roster.len()).unwrap_or(i64::MAX);
        let i = usize::try_from(k.rem_euclid(n)).unwrap_or(0);
        self.roster[i]
    }

    /// The instant of shift `k`'s hand-off.
    fn handoff_of(&self, k: i64) -> Option<DateTime<Utc>> {
        let offset = k.checked_mul(i64::from(self.days))?;
        let day = self
            .start
            .checked_add_signed(TimeDelta::try_days(offset)?)?;
        local_to_utc(self.tz, day.and_time(self.handoff))
    }
}

/// The earliest instant whose local wall time in `tz` is at or after `local`: the instant
/// itself when it exists once, the first of the two when it is ambiguous (fall-back), the end of
/// the gap when it does not exist (spring-forward).
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => end_of_gap(tz, local),
    }
}

/// `local` falls in a gap: find the first instant whose wall time is at or after it. UTC offsets
/// are within ±26 hours, so such an instant lies within 27 hours of `local` read as UTC; local
/// time only jumps forward around a gap, so a binary search over seconds finds it.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    // Whole seconds: time zone transitions happen on the second.
    let wall = |secs: i64| {
        let utc = DateTime::from_timestamp(secs, 0)?.naive_utc();
        utc.checked_add_offset(tz.offset_from_utc_datetime(&utc).fix())
    };
    let guess = local.and_utc().timestamp();
    let mut lo = guess.checked_sub(27 * 3600)?; // wall(lo) < local
    let mut hi = guess.checked_add(27 * 3600)?; // wall(hi) >= local
    if wall(lo)? >= local || wall(hi)? < local {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall(mid)? >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncall::OncallConfig;

    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn id(n: u64) -> DiscordId {
        DiscordId::new(n).unwrap()
    }

    fn ids(roster: &[u64]) -> Vec<crate::id::DiscordId> {
        roster
            .iter()
            .filter_map(|&n| crate::id::DiscordId::new(n))
            .collect()
    }

    fn rotation(roster: &[u64], days: u32, handoff: &str, tz: &str, start: &str) -> Rotation {
        OncallConfig {
            roster: ids(roster),
            rotation_days: days,
            handoff: handoff.into(),
            timezone: tz.into(),
            start: start.into(),
            ..OncallConfig::default()
        }
        .rotation()
        .unwrap()
    }

    fn hours(s: &Shift) -> i64 {
        (s.ends - s.starts).num_hours()
    }

    #[test]
    fn several_handoffs_in_utc() {
        let r = rotation(&[1, 2, 3], 7, "09:00", "UTC", "2026-01-05");
        let s = r.on_call(at("2026-01-05T09:00:00Z")).unwrap();
        assert_eq!((s.user.get(), s.next_user.get(), s.number), (1, 2, 0));
        assert_eq!(s.starts, at("2026-01-05T09:00:00Z"));
        assert_eq!(s.ends, at("2026-01-12T09:00:00Z"));
        // One second before the hand-off is still the previous shift (1's holds until then).
        let s = r.on_call(at("2026-01-12T08:59:59Z")).unwrap();
        assert_eq!(s.user, 1);
        let s = r.on_call(at("2026-01-12T09:00:00Z")).unwrap();
        assert_eq!((s.user.get(), s.next_user.get()), (2, 3));
        let s = r.on_call(at("2026-01-20T12:00:00Z")).unwrap();
        assert_eq!((s.user.get(), s.next_user.get(), s.number), (3, 1, 2));
        assert_eq!(s.starts, at("2026-01-19T09:00:00Z"));
        // Wraps around the roster.
        let s = r.on_call(at("2026-01-26T10:00:00Z")).unwrap();
        assert_eq!((s.user.get(), s.number), (1, 3));
        let users: Vec<u64> = r
            .upcoming(at("2026-01-05T09:00:00Z"), 7)
            .iter()
            .map(|s| s.user.get())
            .collect();
        assert_eq!(users, [1, 2, 3, 1, 2, 3, 1]);
        for w in r.upcoming(at("2026-01-01T00:00:00Z"), 20).windows(2) {
            assert_eq!(w[0].ends, w[1].starts);
            assert_eq!(w[0].next_user, w[1].user);
        }
    }

    #[test]
    fn before_start_runs_backwards() {
        let r = rotation(&[1, 2, 3], 7, "09:00", "UTC", "2026-01-05");
        // Just before the first hand-off: the previous shift is the last member's.
        let s = r.on_call(at("2026-01-05T08:59:59Z")).unwrap();
        assert_eq!((s.user.get(), s.next_user.get(), s.number), (3, 1, -1));
        assert_eq!(s.starts, at("2025-12-29T09:00:00Z"));
        assert_eq!(s.ends, at("2026-01-05T09:00:00Z"));
        let s = r.on_call(at("2025-12-24T00:00:00Z")).unwrap();
        assert_eq!((s.user.get(), s.number), (2, -2));
        // A year back it is still periodic: 52 weeks earlier, 52 mod 3 = 1 member back.
        let s = r.on_call(at("2025-01-06T09:00:00Z")).unwrap();
        assert_eq!(s.number, -52);
        assert_eq!(s.user, 3);
        assert_eq!(r.on_call(at("2025-01-06T08:00:00Z")).unwrap().user, 2);
    }

    #[test]
    fn a_day_long_rotation_with_a_non_utc_zone() {
        let r = rotation(&[10, 20], 1, "08:30", "Asia/Kolkata", "2026-02-01");
        // 08:30 IST = 03:00 UTC.
        let s = r.on_call(at("2026-02-01T02:59:00Z")).unwrap();
        assert_eq!((s.user.get(), s.number), (20, -1));
        let s = r.on_call(at("2026-02-01T03:00:00Z")).unwrap();
        assert_eq!((s.user.get(), hours(&s)), (10, 24));
        assert_eq!(s.ends, at("2026-02-02T03:00:00Z"));
        // Late evening local on day 0 is still shift 0, although UTC already says the next day.
        assert_eq!(r.on_call(at("2026-02-01T20:00:00Z")).unwrap().number, 0);
    }

    #[test]
    fn berlin_spring_forward_keeps_09_00_local() {
        // Monday hand-offs; clocks go forward on Sunday 2026-03-29 (CET +1 → CEST +2).
        let r = rotation(&[1, 2], 7, "09:00", "Europe/Berlin", "2026-01-05");
        let s = r.on_call(at("2026-03-29T12:00:00Z")).unwrap();
        assert_eq!(s.starts, at("2026-03-23T08:00:00Z")); // 09:00 CET
        assert_eq!(s.ends, at("2026-03-30T07:00:00Z")); // 09:00 CEST
        assert_eq!(hours(&s), 167);
        let next = r.on_call(s.ends).unwrap();
        assert_eq!(next.user, s.next_user);
        assert_eq!(hours(&next), 168);
        assert_eq!(
            next.starts.with_timezone(&r.timezone()).time(),
            NaiveTime::from_hms_opt(9, 0, 0).unwrap()
        );
    }

    #[test]
    fn berlin_fall_back_keeps_09_00_local() {
        // Clocks go back on Sunday 2026-10-25 (CEST +2 → CET +1).
        let r = rotation(&[1, 2], 7, "09:00", "Europe/Berlin", "2026-01-05");
        let s = r.on_call(at("2026-10-25T01:30:00Z")).unwrap();
        assert_eq!(s.starts, at("2026-10-19T07:00:00Z"));
        assert_eq!(s.ends, at("2026-10-26T08:00:00Z"));
        assert_eq!(hours(&s), 169);
        // Either occurrence of 02:30 local that night is in the same shift.
        assert_eq!(r.on_call(at("2026-10-25T00:30:00Z")).unwrap(), s);
        assert_eq!(r.on_call(at("2026-10-25T01:30:00Z")).unwrap(), s);
    }

    #[test]
    fn handoff_inside_the_spring_gap_happens_when_the_clocks_jump() {
        // Sunday hand-offs at 02:30: on 2026-03-29 02:30 does not exist in Berlin.
        let r = rotation(&[1, 2], 7, "02:30", "Europe/Berlin", "2026-03-01");
        let s = r.on_call(at("2026-03-29T12:00:00Z")).unwrap();
        // 03:00 CEST = 01:00 UTC, the end of the gap.
        assert_eq!(s.starts, at("2026-03-29T01:00:00Z"));
        assert_eq!(s.number, 4);
        assert_eq!(s.ends, at("2026-04-05T00:30:00Z"));
        let before = r.on_call(at("2026-03-29T00:59:59Z")).unwrap();
        assert_eq!(before.number, 3);
        assert_eq!(before.ends, s.starts);
        assert_eq!(before.starts, at("2026-03-22T01:30:00Z")); // 02:30 CET
    }

    #[test]
    fn handoff_at_an_ambiguous_time_takes_the_first_occurrence() {
        // On 2026-10-25 Berlin passes 02:30 twice: 00:30 UTC (CEST) and 01:30 UTC (CET).
        let r = rotation(&[1, 2], 7, "02:30", "Europe/Berlin", "2026-10-04");
        let s = r.on_call(at("2026-10-25T01:00:00Z")).unwrap();
        assert_eq!(s.starts, at("2026-10-25T00:30:00Z"));
        assert_eq!(s.number, 3);
        // The second 02:30 is not a second hand-off.
        assert_eq!(r.on_call(at("2026-10-25T01:30:00Z")).unwrap(), s);
        assert_eq!(s.ends, at("2026-11-01T01:30:00Z"));
        assert_eq!(hours(&s), 7 * 24 + 1);
        assert_eq!(r.on_call(at("2026-10-25T00:29:59Z")).unwrap().number, 2);
    }

    #[test]
    fn us_zone_across_both_changes() {
        // New York: DST starts Sunday 2026-03-08, ends Sunday 2026-11-01. Monday 09:00 hand-offs.
        let r = rotation(&[5, 6, 7], 7, "09:00", "America/New_York", "2026-01-05");
        let s = r.on_call(at("2026-03-08T18:00:00Z")).unwrap();
        assert_eq!(s.starts, at("2026-03-02T14:00:00Z")); // 09:00 EST
        assert_eq!(s.ends, at("2026-03-09T13:00:00Z")); // 09:00 EDT
        assert_eq!(hours(&s), 167);
        let s = r.on_call(at("2026-11-01T18:00:00Z")).unwrap();
        assert_eq!(s.starts, at("2026-10-26T13:00:00Z"));
        assert_eq!(s.ends, at("2026-11-02T14:00:00Z"));
        assert_eq!(hours(&s), 169);
        // 42 weeks after start: 42 mod 3 = 0, the first member.
        assert_eq!(s.number, 42);
        assert_eq!(s.user, 5);
    }

    #[test]
    fn secondary_choices() {
        let base = OncallConfig {
            roster: ids(&[1, 2, 3]),
            ..OncallConfig::default()
        };
        let r = base.rotation().unwrap();
        let s = r.on_call(at("2026-01-06T00:00:00Z")).unwrap();
        assert_eq!(s.user, 1);
        assert_eq!(r.secondary_for(id(1), Some(&s)), Some(id(2)));
        // An override put 2 on call: the next one who is not the primary.
        assert_eq!(r.secondary_for(id(2), Some(&s)), Some(id(3)));
        // An outsider on call: the scheduled order still applies.
        assert_eq!(r.secondary_for(id(99), Some(&s)), Some(id(2)));
        assert_eq!(r.secondary_for(id(1), None), None);

        let one = OncallConfig {
            roster: ids(&[1]),
            ..OncallConfig::default()
        }
        .rotation()
        .unwrap();
        let s1 = one.on_call(at("2026-01-06T00:00:00Z")).unwrap();
        assert_eq!(one.secondary_for(id(1), Some(&s1)), None);
        // Overridden: the scheduled one is the secondary.
        assert_eq!(one.secondary_for(id(9), Some(&s1)), Some(id(1)));

        let fixed = OncallConfig {
            secondary: Secondary::User(crate::id::DiscordId::new(42).unwrap()),
            ..base.clone()
        }
        .rotation()
        .unwrap();
        assert_eq!(fixed.secondary_for(id(1), Some(&s)), Some(id(42)));
        assert_eq!(fixed.secondary_for(id(42), Some(&s)), None);

        let none = OncallConfig {
            secondary: Secondary::None,
            ..base
        }
        .rotation()
        .unwrap();
        assert_eq!(none.secondary_for(id(1), Some(&s)), None);
    }

    #[test]
    fn empty_roster_has_nobody() {
        let r = OncallConfig::default().rotation().unwrap();
        assert_eq!(r.on_call(at("2026-01-06T00:00:00Z")), None);
        assert!(r.upcoming(at("2026-01-06T00:00:00Z"), 3).is_empty());
    }

    #[test]
    fn far_away_instants_do_not_panic() {
        let r = rotation(&[1, 2], 7, "09:00", "Europe/Berlin", "2026-01-05");
        assert!(r.on_call(DateTime::<Utc>::MIN_UTC).is_none());
        assert!(r.on_call(DateTime::<Utc>::MAX_UTC).is_none());
        assert!(r.on_call(at("1900-01-01T00:00:00Z")).is_some());
        assert!(r.on_call(at("9999-01-01T00:00:00Z")).is_some());
    }
}
