//! The paging chain as a pure state machine: from an incident's paging state, who is on call and
//! the time, the one next step.
//!
//! The chain: the primary (attempt 1), the same person again `paging.repeats` times (attempts
//! 2, 3, …), the next level (attempt 1): whoever is primary now if the rotation has handed over
//! since the primary was paged, else the secondary (skipped when there is none or it is the
//! person paged as primary); the fallback role (attempt 1; skipped when there is none), then
//! stop. Each step
//! waits for the previous one's deadline (`deadline <= now` fires) and gets a fresh deadline
//! `now + paging.ack_timeout_secs`.
//!
//! How to drive it: record the returned step as an event (`Step::event`: `Paged` or
//! `PagingStopped`), fold it into the incident, and call [`next_step`] again with the new state,
//! until it answers [`Step::Wait`] (arm a timer for `until`), [`Step::Nothing`] or after a
//! [`Step::Stop`]. Each call returns at most one step and depends only on its inputs, so:
//! - replaying the same state and `now` gives the same step;
//! - a restart in the middle of the chain (same state, later `now`) fires exactly the step that
//!   was due — never skips one, never repeats one, since the state records the last step taken;
//! - after a long outage, when several deadlines would have passed, the overdue step fires once
//!   with a fresh deadline from `now` (the person gets a full acknowledgement window), so the
//!   next call answers `Wait`; the later steps then follow one by one, each after its own
//!   deadline.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::config::PagingConfig;
use super::view::OncallView;
use crate::id::DiscordId;
use crate::incident::{EventKind, Incident, Page, PageLevel, PageTarget};

/// What [`next_step`] needs to know about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageState<'a> {
    /// The incident was escalated (paging starts then).
    pub escalated: bool,
    /// The current step of the chain, if a page went out.
    pub page: Option<&'a Page>,
    pub acknowledged: bool,
    /// The chain was stopped (`PagingStopped`).
    pub stopped: bool,
    pub closed: bool,
}

impl<'a> PageState<'a> {
    pub fn of(inc: &'a Incident) -> Self {
        Self {
            escalated: inc.is_escalated(),
            page: inc.page.as_ref(),
            acknowledged: inc.acknowledged.is_some(),
            stopped: inc.paging_stopped.is_some(),
            closed: inc.is_closed(),
        }
    }
}

/// The next thing to do for an incident's paging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Page `target` now; record `Paged` with these fields. Acknowledge before `deadline`.
    Page {
        level: PageLevel,
        target: PageTarget,
        attempt: u32,
        deadline: DateTime<Utc>,
    },
    /// The current page's deadline has not passed: call again at `until`.
    Wait { until: DateTime<Utc> },
    /// The chain ends without an acknowledgement: record `PagingStopped { why }`.
    Stop { why: String },
    /// Nothing to do: not escalated, acknowledged, closed or already stopped.
    Nothing,
}

impl Step {
    /// The event that records this step (`Paged` or `PagingStopped`); None for `Wait` and
    /// `Nothing`.
    pub fn event(&self) -> Option<EventKind> {
        match self {
            Self::Page {
                level,
                target,
                attempt,
                deadline,
            } => Some(EventKind::Paged {
                level: *level,
                target: *target,
                attempt: *attempt,
                deadline: *deadline,
            }),
            Self::Stop { why } => Some(EventKind::PagingStopped { why: why.clone() }),
            Self::Wait { .. } | Self::Nothing => None,
        }
    }
}

/// The one next step of the paging chain (see the module documentation for the contract).
/// `oncall` is who is on call at `now` (None when nobody is); `fallback_role` is
/// [`super::Rotation::fallback_role`].
pub fn next_step(
    state: &PageState<'_>,
    oncall: Option<&OncallView>,
    fallback_role: Option<DiscordId>,
    paging: &PagingConfig,
    now: DateTime<Utc>,
) -> Step {
    if !state.escalated || state.acknowledged || state.stopped || state.closed {
        return Step::Nothing;
    }
    let deadline = now
        .checked_add_signed(paging.ack_timeout())
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let page = |level, target| Step::Page {
        level,
        target,
        attempt: 1,
        deadline,
    };
    // Events keep ids as the numbers they were written with (`PageTarget`).
    let role = || fallback_role.map(|r| page(PageLevel::Role, PageTarget::Role(r.get())));
    // The next level after the primary: whoever is on call now if that is no longer the person
    // paged (a hand-off or an override mid-chain), else the secondary.
    let secondary = |paged_primary: Option<u64>| {
        oncall
            .and_then(|v| {
                [Some(v.primary), v.secondary]
                    .into_iter()
                    .flatten()
                    .find(|&u| Some(u.get()) != paged_primary)
            })
            .map(|s| page(PageLevel::Secondary, PageTarget::User(s.get())))
    };
    let Some(current) = state.page else {
        // Escalated and not paged yet: the first level there is someone for.
        let primary = oncall.map(|v| v.primary.get());
        return primary
            .map(|p| page(PageLevel::Primary, PageTarget::User(p)))
            .or_else(|| secondary(primary))
            .or_else(role)
            .unwrap_or_else(|| Step::Stop {
                why: "nobody to page: nobody is on call and there is no fallback role".into(),
            });
    };
    if current.deadline > now {
        return Step::Wait {
            until: current.deadline,
        };
    }
    match current.level {
        PageLevel::Primary if current.attempt <= paging.repeats => Step::Page {
            level: PageLevel::Primary,
            target: current.target,
            attempt: current.attempt.saturating_add(1),
            deadline,
        },
        PageLevel::Primary => {
            let paged = match current.target {
                PageTarget::User(u) => Some(u),
                PageTarget::Role(_) => None,
            };
            secondary(paged).or_else(role).unwrap_or_else(|| Step::Stop {
                why: "no acknowledgement from the primary, and there is no secondary or fallback role"
                    .into(),
            })
        }
        PageLevel::Secondary => role().unwrap_or_else(|| Step::Stop {
            why: "no acknowledgement from the primary or the secondary, and there is no fallback role"
                .into(),
        }),
        PageLevel::Role => Step::Stop {
            why: "no acknowledgement from anyone paged: the escalation chain is exhausted"
                .into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{ActorRef, Event, EventKind};
    use crate::oncall::view::Source;
    use chrono::TimeDelta;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn mins(m: i64) -> TimeDelta {
        TimeDelta::minutes(m)
    }

    fn view(primary: u64, secondary: Option<u64>) -> OncallView {
        OncallView {
            primary: DiscordId::new(primary).unwrap(),
            primary_source: Source::Rotation,
            secondary: secondary.and_then(DiscordId::new),
            until: at("2030-01-01T00:00:00Z"),
            next: None,
            shift: None,
        }
    }

    fn paging(repeats: u32) -> PagingConfig {
        PagingConfig {
            repeats,
            ..PagingConfig::default()
        }
    }

    /// A tiny stand-in for the caller: the paging fields of an incident, updated like the fold.
    #[derive(Debug, Clone, Default)]
    struct Sim {
        escalated: bool,
        page: Option<Page>,
        acknowledged: bool,
        stopped: bool,
        closed: bool,
        log: Vec<Step>,
    }

    impl Sim {
        fn escalated() -> Self {
            Self {
                escalated: true,
                ..Self::default()
            }
        }

        fn state(&self) -> PageState<'_> {
            PageState {
                escalated: self.escalated,
                page: self.page.as_ref(),
                acknowledged: self.acknowledged,
                stopped: self.stopped,
                closed: self.closed,
            }
        }

        fn next(
            &self,
            v: Option<&OncallView>,
            role: Option<u64>,
            p: &PagingConfig,
            now: DateTime<Utc>,
        ) -> Step {
            next_step(&self.state(), v, role.and_then(DiscordId::new), p, now)
        }

        /// Records the step (as the caller would); returns it.
        fn apply(&mut self, step: Step, now: DateTime<Utc>) -> Step {
            match &step {
                Step::Page {
                    level,
                    target,
                    attempt,
                    deadline,
                } => {
                    let sent = self.page.as_ref().map_or(0, |p| p.pages_sent);
                    let first = self.page.as_ref().map_or(now, |p| p.first_paged_at);
                    self.page = Some(Page {
                        level: *level,
                        target: *target,
                        attempt: *attempt,
                        deadline: *deadline,
                        first_paged_at: first,
                        paged_at: now,
                        pages_sent: sent + 1,
                    });
                    self.log.push(step.clone());
                }
                Step::Stop { .. } => {
                    self.stopped = true;
                    self.log.push(step.clone());
                }
                Step::Wait { .. } | Step::Nothing => {}
            }
            step
        }

        /// The caller's loop: apply steps until Wait / Nothing / after Stop.
        fn run(
            &mut self,
            v: Option<&OncallView>,
            role: Option<u64>,
            p: &PagingConfig,
            now: DateTime<Utc>,
        ) -> Step {
            for _ in 0..10 {
                let step = self.next(v, role, p, now);
                let done = matches!(step, Step::Wait { .. } | Step::Nothing | Step::Stop { .. });
                self.apply(step.clone(), now);
                if done {
                    return step;
                }
            }
            panic!("the chain did not settle");
        }
    }

    fn paged(level: PageLevel, target: PageTarget, attempt: u32, deadline: DateTime<Utc>) -> Step {
        Step::Page {
            level,
            target,
            attempt,
            deadline,
        }
    }

    #[test]
    fn the_whole_chain_with_explicit_times() {
        let v = view(11, Some(22));
        let p = paging(1);
        let role = Some(77);
        let t0 = at("2026-03-02T10:00:00Z");
        let mut sim = Sim::escalated();

        // Escalated, not paged: page the primary at once.
        let s = sim.apply(sim.next(Some(&v), role, &p, t0), t0);
        assert_eq!(
            s,
            paged(PageLevel::Primary, PageTarget::User(11), 1, t0 + mins(10))
        );
        // Before the deadline: wait for it (also one second before).
        assert_eq!(
            sim.next(Some(&v), role, &p, t0),
            Step::Wait {
                until: t0 + mins(10)
            }
        );
        assert_eq!(
            sim.next(Some(&v), role, &p, t0 + mins(10) - TimeDelta::seconds(1)),
            Step::Wait {
                until: t0 + mins(10)
            }
        );
        // At the deadline: re-page the same person.
        let t1 = t0 + mins(10);
        let s = sim.apply(sim.next(Some(&v), role, &p, t1), t1);
        assert_eq!(
            s,
            paged(PageLevel::Primary, PageTarget::User(11), 2, t1 + mins(10))
        );
        // Then the secondary.
        let t2 = t1 + mins(10);
        let s = sim.apply(sim.next(Some(&v), role, &p, t2), t2);
        assert_eq!(
            s,
            paged(PageLevel::Secondary, PageTarget::User(22), 1, t2 + mins(10))
        );
        // Then the role.
        let t3 = t2 + mins(10);
        let s = sim.apply(sim.next(Some(&v), role, &p, t3), t3);
        assert_eq!(
            s,
            paged(PageLevel::Role, PageTarget::Role(77), 1, t3 + mins(10))
        );
        // Then stop, once.
        let t4 = t3 + mins(10);
        let s = sim.apply(sim.next(Some(&v), role, &p, t4), t4);
        assert!(matches!(s, Step::Stop { .. }), "{s:?}");
        assert_eq!(sim.next(Some(&v), role, &p, t4 + mins(60)), Step::Nothing);
        assert_eq!(sim.log.len(), 5);
        assert_eq!(sim.page.as_ref().unwrap().pages_sent, 4);
    }

    #[test]
    fn repeats_count_re_pages() {
        let v = view(11, Some(22));
        for repeats in [0_u32, 1, 3] {
            let p = paging(repeats);
            let mut sim = Sim::escalated();
            let mut now = at("2026-03-02T10:00:00Z");
            loop {
                let s = sim.run(Some(&v), None, &p, now);
                if matches!(s, Step::Stop { .. }) {
                    break;
                }
                now += mins(10);
            }
            let primaries = sim
                .log
                .iter()
                .filter(|s| {
                    matches!(
                        s,
                        Step::Page {
                            level: PageLevel::Primary,
                            ..
                        }
                    )
                })
                .count();
            assert_eq!(primaries, 1 + repeats as usize);
            let attempts: Vec<u32> = sim
                .log
                .iter()
                .filter_map(|s| match s {
                    Step::Page { attempt, .. } => Some(*attempt),
                    _ => None,
                })
                .collect();
            let mut want: Vec<u32> = (1..=1 + repeats).collect();
            want.push(1); // the secondary
            assert_eq!(attempts, want);
        }
    }

    #[test]
    fn acknowledging_or_closing_stops_it() {
        let v = view(11, Some(22));
        let p = paging(1);
        let t0 = at("2026-03-02T10:00:00Z");
        let mut sim = Sim::escalated();
        sim.apply(sim.next(Some(&v), Some(7), &p, t0), t0);
        let mut acked = sim.clone();
        acked.acknowledged = true;
        assert_eq!(
            acked.next(Some(&v), Some(7), &p, t0 + mins(30)),
            Step::Nothing
        );
        let mut closed = sim.clone();
        closed.closed = true;
        assert_eq!(
            closed.next(Some(&v), Some(7), &p, t0 + mins(30)),
            Step::Nothing
        );
        // Acknowledged before the first page went out: it never goes out.
        let mut early = Sim::escalated();
        early.acknowledged = true;
        assert_eq!(early.next(Some(&v), Some(7), &p, t0), Step::Nothing);
        // Not escalated: nothing.
        assert_eq!(
            Sim::default().next(Some(&v), Some(7), &p, t0),
            Step::Nothing
        );
    }

    #[test]
    fn acknowledge_through_a_real_incident() {
        use crate::incident::{DefaultPolicy, IncidentId};
        let t0 = at("2026-03-02T10:00:00Z");
        let sys = ActorRef::new(0, "socbot");
        let mut events = vec![
            Event::new(
                t0,
                sys.clone(),
                EventKind::Opened {
                    id: IncidentId(12),
                    technique: "T1583.003".parse().unwrap(),
                    title: "odd VPS".into(),
                    alert: None,
                    playbook_name: "VPS".into(),
                    questions: vec!["q?".into()],
                    escalation_rule: None,
                    decision_text: None,
                    policy: DefaultPolicy::AnyConcerning,
                    channel: 0,
                },
            ),
            Event::new(
                t0,
                sys.clone(),
                EventKind::Escalated {
                    reason: crate::incident::EscalationReason::Manual { reason: "x".into() },
                },
            ),
        ];
        let v = view(11, Some(22));
        let p = paging(1);
        let inc = Incident::from_events(&events).unwrap();
        let step = next_step(&PageState::of(&inc), Some(&v), None, &p, t0);
        events.push(Event::new(t0, sys.clone(), step.event().unwrap()));
        let inc = Incident::from_events(&events).unwrap();
        assert!(inc.paging_open());
        assert_eq!(
            next_step(&PageState::of(&inc), Some(&v), None, &p, t0 + mins(1)),
            Step::Wait {
                until: t0 + mins(10)
            }
        );
        events.push(Event::new(
            t0 + mins(2),
            ActorRef::new(11, "bob"),
            EventKind::Acknowledged {
                by: ActorRef::new(11, "bob"),
            },
        ));
        let inc = Incident::from_events(&events).unwrap();
        assert_eq!(
            next_step(&PageState::of(&inc), Some(&v), None, &p, t0 + mins(60)),
            Step::Nothing
        );
    }

    #[test]
    fn a_restart_neither_skips_nor_repeats() {
        let v = view(11, Some(22));
        let p = paging(1);
        let role = Some(77);
        let t0 = at("2026-03-02T10:00:00Z");
        // The reference run, without a restart.
        let mut reference = Sim::escalated();
        let mut now = t0;
        while !reference.stopped {
            reference.run(Some(&v), role, &p, now);
            now += mins(10);
        }
        let levels = |s: &Sim| -> Vec<(PageLevel, u32)> {
            s.log
                .iter()
                .filter_map(|s| match s {
                    Step::Page { level, attempt, .. } => Some((*level, *attempt)),
                    _ => None,
                })
                .collect()
        };
        // Down for 47 minutes after the re-page: on restart, exactly the next step (the
        // secondary) fires, with a fresh deadline; then waits for it.
        let mut sim = Sim::escalated();
        sim.run(Some(&v), role, &p, t0);
        sim.run(Some(&v), role, &p, t0 + mins(10));
        let restart = t0 + mins(20 + 47);
        // Replaying the stored state at the same instant twice gives the same answer.
        assert_eq!(
            sim.next(Some(&v), role, &p, restart),
            sim.clone().next(Some(&v), role, &p, restart)
        );
        let settled = sim.run(Some(&v), role, &p, restart);
        assert_eq!(
            settled,
            Step::Wait {
                until: restart + mins(10)
            }
        );
        assert_eq!(
            sim.log.last(),
            Some(&paged(
                PageLevel::Secondary,
                PageTarget::User(22),
                1,
                restart + mins(10)
            ))
        );
        // A second restart before that deadline: nothing new is sent.
        let before = sim.log.len();
        assert_eq!(
            sim.run(Some(&v), role, &p, restart + mins(5)),
            Step::Wait {
                until: restart + mins(10)
            }
        );
        assert_eq!(sim.log.len(), before);
        // Continue to the end: the same steps as the reference run, none twice, none missing.
        let mut now = restart + mins(10);
        while !sim.stopped {
            sim.run(Some(&v), role, &p, now);
            now += mins(10);
        }
        assert_eq!(levels(&sim), levels(&reference));
        assert_eq!(
            levels(&sim),
            [
                (PageLevel::Primary, 1),
                (PageLevel::Primary, 2),
                (PageLevel::Secondary, 1),
                (PageLevel::Role, 1)
            ]
        );
    }

    #[test]
    fn overdue_steps_fire_one_by_one_with_fresh_deadlines() {
        let v = view(11, Some(22));
        let p = paging(1);
        let t0 = at("2026-03-02T10:00:00Z");
        let mut sim = Sim::escalated();
        sim.run(Some(&v), Some(77), &p, t0);
        // Down for a day: every deadline of the chain has long passed.
        let back = t0 + TimeDelta::days(1);
        let s = sim.apply(sim.next(Some(&v), Some(77), &p, back), back);
        assert_eq!(
            s,
            paged(PageLevel::Primary, PageTarget::User(11), 2, back + mins(10))
        );
        // Calling again right away does not fire the secondary: its turn comes after a full
        // acknowledgement window.
        assert_eq!(
            sim.next(Some(&v), Some(77), &p, back),
            Step::Wait {
                until: back + mins(10)
            }
        );
        let t = back + mins(10);
        let s = sim.apply(sim.next(Some(&v), Some(77), &p, t), t);
        assert_eq!(
            s,
            paged(PageLevel::Secondary, PageTarget::User(22), 1, t + mins(10))
        );
    }

    #[test]
    fn secondary_and_role_are_skipped_when_missing_or_same() {
        let p = paging(0);
        let t0 = at("2026-03-02T10:00:00Z");
        let after = |sim: &mut Sim, v: &OncallView, role| {
            sim.run(Some(v), role, &p, t0);
            sim.run(Some(v), role, &p, t0 + mins(10))
        };
        // No secondary: straight to the role.
        let v = view(11, None);
        let mut sim = Sim::escalated();
        assert_eq!(
            after(&mut sim, &v, Some(77)),
            Step::Wait {
                until: t0 + mins(20)
            }
        );
        assert_eq!(
            sim.log.last(),
            Some(&paged(
                PageLevel::Role,
                PageTarget::Role(77),
                1,
                t0 + mins(20)
            ))
        );
        // The rotation handed over mid-chain (22 is on call now, 11 is their secondary): the
        // next level is 22, who is on call now, never skipped; 11 is not paged twice.
        let mut sim = Sim::escalated();
        sim.run(Some(&view(11, Some(22))), Some(77), &p, t0);
        let moved = view(22, Some(11));
        sim.run(Some(&moved), Some(77), &p, t0 + mins(10));
        assert_eq!(
            sim.log.last(),
            Some(&paged(
                PageLevel::Secondary,
                PageTarget::User(22),
                1,
                t0 + mins(20)
            ))
        );
        sim.run(Some(&moved), Some(77), &p, t0 + mins(20));
        assert_eq!(
            sim.log.last(),
            Some(&paged(
                PageLevel::Role,
                PageTarget::Role(77),
                1,
                t0 + mins(30)
            ))
        );
        // Handed over to someone with no secondary: still the person on call now.
        let mut sim = Sim::escalated();
        sim.run(Some(&view(11, Some(22))), None, &p, t0);
        sim.run(Some(&view(33, None)), None, &p, t0 + mins(10));
        assert_eq!(
            sim.log.last(),
            Some(&paged(
                PageLevel::Secondary,
                PageTarget::User(33),
                1,
                t0 + mins(20)
            ))
        );
        // Neither secondary nor role: stop after the primary.
        let mut sim = Sim::escalated();
        let s = after(&mut sim, &v, None);
        assert!(matches!(s, Step::Stop { .. }), "{s:?}");
        assert!(sim.stopped);
        // Secondary but no role: stop after the secondary.
        let v2 = view(11, Some(22));
        let mut sim = Sim::escalated();
        after(&mut sim, &v2, None);
        let s = sim.run(Some(&v2), None, &p, t0 + mins(20));
        assert!(matches!(s, Step::Stop { .. }), "{s:?}");
        assert_eq!(sim.log.len(), 3);
    }

    #[test]
    fn nobody_on_call() {
        let p = paging(1);
        let t0 = at("2026-03-02T10:00:00Z");
        // Only the role: page it first.
        let sim = Sim::escalated();
        assert_eq!(
            sim.next(None, Some(77), &p, t0),
            paged(PageLevel::Role, PageTarget::Role(77), 1, t0 + mins(10))
        );
        // Nobody at all: stop with a reason, and the caller's loop settles.
        let mut sim = Sim::escalated();
        let s = sim.run(None, None, &p, t0);
        let Step::Stop { why } = s else {
            panic!("{s:?}")
        };
        assert!(why.contains("nobody"), "{why}");
        assert_eq!(sim.next(None, None, &p, t0), Step::Nothing);
        // A fallback role of 0 is none.
        assert!(matches!(
            Sim::escalated().next(None, Some(0), &p, t0),
            Step::Stop { .. }
        ));
    }

    #[test]
    fn step_events() {
        let d = at("2026-03-02T10:10:00Z");
        assert_eq!(
            paged(PageLevel::Secondary, PageTarget::User(5), 1, d).event(),
            Some(EventKind::Paged {
                level: PageLevel::Secondary,
                target: PageTarget::User(5),
                attempt: 1,
                deadline: d
            })
        );
        assert_eq!(
            Step::Stop { why: "w".into() }.event(),
            Some(EventKind::PagingStopped { why: "w".into() })
        );
        assert_eq!(Step::Wait { until: d }.event(), None);
        assert_eq!(Step::Nothing.event(), None);
    }
}
