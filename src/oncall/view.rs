//! Who is on call at an instant: the rotation, unless an override says otherwise.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::rotation::{Rotation, Shift};
use crate::id::DiscordId;

/// Someone put on call for a while (`/oncall override`), whoever the rotation says. Stored as
/// is: fields by name; add optional fields only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Override {
    /// Who is on call.
    pub user: DiscordId,
    /// On call from `from` (inclusive) to `until` (exclusive).
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Who set it (None: at the console; stored as 0 then).
    #[serde(with = "crate::id::or_zero")]
    pub by: Option<DiscordId>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why an override cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("{given} hours is not an override length; put 1 to {max} hours")]
    Hours { given: u32, max: u32 },
    #[error("the reason is {len} characters; keep it to {max}")]
    ReasonTooLong { len: usize, max: usize },
}

impl Override {
    /// The longest override: two weeks.
    pub const MAX_HOURS: u32 = 24 * 14;
    pub const REASON_MAX: usize = 200;

    /// `user` on call from `now` for `hours`, set by `by`. A blank reason is none.
    pub fn for_hours(
        user: DiscordId,
        hours: u32,
        by: Option<DiscordId>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, OverrideError> {
        if hours == 0 || hours > Self::MAX_HOURS {
            return Err(OverrideError::Hours {
                given: hours,
                max: Self::MAX_HOURS,
            });
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(len) = reason
            .map(|r| r.chars().count())
            .filter(|&n| n > Self::REASON_MAX)
        {
            return Err(OverrideError::ReasonTooLong {
                len,
                max: Self::REASON_MAX,
            });
        }
        Ok(Self {
            user,
            from: now,
            until: now
                .checked_add_signed(TimeDelta::hours(i64::from(hours)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            by,
            reason: reason.map(str::to_owned),
        })
    }

    /// In force at `at`.
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.until
    }

    /// Over at `at` (can be dropped from the store).
    pub fn is_expired(&self, at: DateTime<Utc>) -> bool {
        self.until <= at
    }
}

/// Where the primary comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Rotation,
    Override {
        /// Who set it (None: at the console; shown as 0 in JSON, as stored).
        #[serde(serialize_with = "crate::id::or_zero::serialize")]
        by: Option<DiscordId>,
        reason: Option<String>,
    },
}

/// Who is on call at an instant (`/oncall`, `socbot oncall`, and the paging chain's input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OncallView {
    pub primary: DiscordId,
    pub primary_source: Source,
    /// Never the primary.
    pub secondary: Option<DiscordId>,
    /// When the primary stops being on call (the end of their override or shift, or the start
    /// of an override that takes over, whichever is first).
    pub until: DateTime<Utc>,
    /// Who is on call after `until`, and from when (`until`). None when nobody is.
    pub next: Option<(DiscordId, DateTime<Utc>)>,
    /// The rotation's shift at that instant, overridden or not (None with an empty roster).
    pub shift: Option<Shift>,
}

/// Combines the rotation and the overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oncall;

impl Oncall {
    /// Who is on call at `at`. `overrides` are in the order they were created (oldest first,
    /// as stored): of those active at `at`, the last created wins. None when nobody is (an
    /// empty roster and no active override).
    pub fn now(
        rotation: &Rotation,
        overrides: &[Override],
        at: DateTime<Utc>,
    ) -> Option<OncallView> {
        let (primary, primary_source) = primary_at(rotation, overrides, at)?;
        let shift = rotation.on_call(at);
        let secondary = rotation.secondary_for(primary, shift.as_ref());
        // Walk the instants where the answer may change until it does. Within the roster's
        // length of shifts someone else holds one, and each override adds two instants; when the
        // primary never changes (a roster of one), stop at the first hand-off.
        let bound = rotation.roster().len() + 2 * overrides.len() + 2;
        let mut t = at;
        let mut first = None;
        let mut change = None;
        for _ in 0..bound {
            let Some(c) = next_change(rotation, overrides, t) else {
                break;
            };
            first.get_or_insert(c);
            let who = primary_at(rotation, overrides, c).map(|(u, _)| u);
            if who != Some(primary) {
                change = Some((c, who));
                break;
            }
            t = c;
        }
        let (until, next) = change.unwrap_or_else(|| {
            let c = first.unwrap_or(DateTime::<Utc>::MAX_UTC);
            (c, primary_at(rotation, overrides, c).map(|(u, _)| u))
        });
        Some(OncallView {
            primary,
            primary_source,
            secondary,
            until,
            next: next.map(|u| (u, until)),
            shift,
        })
    }
}

fn primary_at(
    rotation: &Rotation,
    overrides: &[Override],
    at: DateTime<Utc>,
) -> Option<(DiscordId, Source)> {
    if let Some(o) = overrides.iter().rev().find(|o| o.is_active(at)) {
        return Some((
            o.user,
            Source::Override {
                by: o.by,
                reason: o.reason.clone(),
            },
        ));
    }
    rotation.on_call(at).map(|s| (s.user, Source::Rotation))
}

/// The first instant after `t` where the primary may change.
fn next_change(
    rotation: &Rotation,
    overrides: &[Override],
    t: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let shift_end = rotation.on_call(t).map(|s| s.ends);
    overrides
        .iter()
        .flat_map(|o| [o.from, o.until])
        .filter(|&b| b > t)
        .chain(shift_end)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncall::{OncallConfig, Secondary};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn rotation(roster: &[u64], secondary: Secondary) -> Rotation {
        OncallConfig {
            roster: roster
                .iter()
                .filter_map(|&n| crate::id::DiscordId::new(n))
                .collect(),
            secondary,
            ..OncallConfig::default()
        }
        .rotation()
        .unwrap()
    }

    fn id(n: u64) -> DiscordId {
        DiscordId::new(n).unwrap()
    }

    fn ov(user: u64, from: &str, until: &str) -> Override {
        Override {
            user: id(user),
            from: at(from),
            until: at(until),
            by: DiscordId::new(1000 + user),
            reason: None,
        }
    }

    #[test]
    fn rotation_only() {
        let r = rotation(&[1, 2, 3], Secondary::Next);
        let v = Oncall::now(&r, &[], at("2026-01-07T12:00:00Z")).unwrap();
        assert_eq!(v.primary, 1);
        assert_eq!(v.primary_source, Source::Rotation);
        assert_eq!(v.secondary, Some(id(2)));
        assert_eq!(v.until, at("2026-01-12T09:00:00Z"));
        assert_eq!(v.next, Some((id(2), at("2026-01-12T09:00:00Z"))));
        assert_eq!(v.shift.unwrap().number, 0);
    }

    #[test]
    fn an_override_wins_then_expires() {
        let r = rotation(&[1, 2, 3], Secondary::Next);
        let o = ov(7, "2026-01-07T10:00:00Z", "2026-01-07T18:00:00Z");
        let overrides = [o.clone()];
        // Before it starts: the rotation, but the override ends the primary's turn.
        let v = Oncall::now(&r, &overrides, at("2026-01-07T09:00:00Z")).unwrap();
        assert_eq!(v.primary, 1);
        assert_eq!(v.until, o.from);
        assert_eq!(v.next, Some((id(7), o.from)));
        // During it.
        let v = Oncall::now(&r, &overrides, at("2026-01-07T10:00:00Z")).unwrap();
        assert_eq!(v.primary, 7);
        assert_eq!(
            v.primary_source,
            Source::Override {
                by: Some(id(1007)),
                reason: None
            }
        );
        // The scheduled holder and the next one remain the secondary choice.
        assert_eq!(v.secondary, Some(id(2)));
        assert_eq!(v.until, o.until);
        assert_eq!(v.next, Some((id(1), o.until)));
        // Its end is exclusive: back to the rotation.
        let v = Oncall::now(&r, &overrides, o.until).unwrap();
        assert_eq!((v.primary, v.primary_source), (id(1), Source::Rotation));
        assert!(o.is_expired(o.until) && !o.is_active(o.until));
    }

    #[test]
    fn an_override_across_a_handoff_ends_at_its_own_end() {
        let r = rotation(&[1, 2, 3], Secondary::Next);
        let o = ov(2, "2026-01-11T00:00:00Z", "2026-01-13T00:00:00Z");
        let v = Oncall::now(&r, std::slice::from_ref(&o), at("2026-01-11T12:00:00Z")).unwrap();
        // 2 is on call by override, then by the rotation from 2026-01-12 09:00: one stretch.
        assert_eq!(v.primary, 2);
        assert_eq!(v.until, at("2026-01-19T09:00:00Z"));
        assert_eq!(v.next, Some((id(3), at("2026-01-19T09:00:00Z"))));
        // The override ending before the shift does: the shift's end.
        let o = ov(9, "2026-01-07T00:00:00Z", "2026-01-20T00:00:00Z");
        let v = Oncall::now(&r, &[o], at("2026-01-08T00:00:00Z")).unwrap();
        assert_eq!((v.primary, v.until), (id(9), at("2026-01-20T00:00:00Z")));
        assert_eq!(v.next, Some((id(3), at("2026-01-20T00:00:00Z"))));
    }

    #[test]
    fn the_latest_created_active_override_wins() {
        let r = rotation(&[1, 2, 3], Secondary::Next);
        let older = ov(7, "2026-01-07T00:00:00Z", "2026-01-08T00:00:00Z");
        let newer = ov(8, "2026-01-07T06:00:00Z", "2026-01-07T12:00:00Z");
        let list = [older.clone(), newer.clone()];
        let v = Oncall::now(&r, &list, at("2026-01-07T03:00:00Z")).unwrap();
        assert_eq!((v.primary, v.until), (id(7), newer.from));
        assert_eq!(v.next, Some((id(8), newer.from)));
        let v = Oncall::now(&r, &list, at("2026-01-07T07:00:00Z")).unwrap();
        assert_eq!((v.primary, v.until), (id(8), newer.until));
        // The older one is still active after the newer ends.
        assert_eq!(v.next, Some((id(7), newer.until)));
        let v = Oncall::now(&r, &list, at("2026-01-07T13:00:00Z")).unwrap();
        assert_eq!((v.primary, v.until), (id(7), older.until));
        // Created the other way round, the older-created one (8) is hidden while 7's runs.
        let swapped = [newer, older];
        let v = Oncall::now(&r, &swapped, at("2026-01-07T07:00:00Z")).unwrap();
        assert_eq!(v.primary, 7);
    }

    #[test]
    fn empty_roster_and_overrides() {
        let r = rotation(&[], Secondary::Next);
        assert_eq!(Oncall::now(&r, &[], at("2026-01-07T00:00:00Z")), None);
        let o = ov(5, "2026-01-07T00:00:00Z", "2026-01-07T08:00:00Z");
        let v = Oncall::now(&r, std::slice::from_ref(&o), at("2026-01-07T01:00:00Z")).unwrap();
        assert_eq!(
            (v.primary, v.secondary, v.until, v.next),
            (id(5), None, o.until, None)
        );
        assert_eq!(Oncall::now(&r, &[o], at("2026-01-07T08:00:00Z")), None);
        let fixed = rotation(&[], Secondary::User(crate::id::DiscordId::new(6).unwrap()));
        let o = ov(5, "2026-01-07T00:00:00Z", "2026-01-07T08:00:00Z");
        let v = Oncall::now(&fixed, &[o], at("2026-01-07T01:00:00Z")).unwrap();
        assert_eq!(v.secondary, Some(id(6)));
    }

    #[test]
    fn a_roster_of_one_never_hands_over() {
        let r = rotation(&[4], Secondary::Next);
        let v = Oncall::now(&r, &[], at("2026-01-07T00:00:00Z")).unwrap();
        assert_eq!((v.primary, v.secondary), (id(4), None));
        assert_eq!(v.until, at("2026-01-12T09:00:00Z"));
        assert_eq!(v.next, Some((id(4), v.until)));
    }

    #[test]
    fn override_construction() {
        let now = at("2026-01-07T00:00:00Z");
        let o = Override::for_hours(id(5), 8, Some(id(1)), Some("  covering  "), now).unwrap();
        assert_eq!(o.until, at("2026-01-07T08:00:00Z"));
        assert_eq!(o.reason.as_deref(), Some("covering"));
        assert_eq!(
            Override::for_hours(id(5), 8, Some(id(1)), Some(" "), now)
                .unwrap()
                .reason,
            None
        );
        assert!(matches!(
            Override::for_hours(id(5), 0, Some(id(1)), None, now),
            Err(OverrideError::Hours { .. })
        ));
        assert!(
            Override::for_hours(id(5), Override::MAX_HOURS + 1, Some(id(1)), None, now).is_err()
        );
        let long = "x".repeat(201);
        assert!(matches!(
            Override::for_hours(id(5), 1, Some(id(1)), Some(&long), now),
            Err(OverrideError::ReasonTooLong { len: 201, .. })
        ));
        // The stored shape.
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["from"], "2026-01-07T00:00:00Z");
        let back: Override = serde_json::from_value(serde_json::json!({
            "user": 5, "from": "2026-01-07T00:00:00Z", "until": "2026-01-07T08:00:00Z", "by": 1
        }))
        .unwrap();
        assert_eq!(back.reason, None);
    }

    #[test]
    fn overrides_set_at_the_console_are_stored_as_before() {
        // Written before ids were typed: the console's override says `"by": 0`.
        let old = serde_json::json!({
            "user": 1_100_000_000_000_000_005_u64, "from": "2026-01-07T00:00:00Z",
            "until": "2026-01-07T08:00:00Z", "by": 0, "reason": "cover"
        });
        let o: Override = serde_json::from_value(old.clone()).unwrap();
        assert_eq!((o.user, o.by), (id(1_100_000_000_000_000_005), None));
        // And written the same way again, ids as numbers.
        assert_eq!(serde_json::to_value(&o).unwrap(), old);
        let by_someone =
            Override::for_hours(id(5), 1, Some(id(7)), None, at("2026-01-07T00:00:00Z"));
        let v = serde_json::to_value(by_someone.unwrap()).unwrap();
        assert_eq!(
            (&v["user"], &v["by"]),
            (&serde_json::json!(5), &serde_json::json!(7))
        );
    }
}
