//! The handlers of the incident and on-call commands, each named by its declaration in
//! [`crate::service::commands`]. Each reads its arguments, loads what it needs and asks the
//! pure domain; it returns what it decided ([`Step`]), and the execute path
//! ([`Incidents::execute`]) does the rest: the role check before, the commit and the reply
//! after.

use super::{Change, Cx, Decided, Incidents, Step, domain_err, internal};
use crate::effects::{Effect, Notice};
use crate::incident::{self as domain, Finding, IncidentId, IncidentStatus, Resolution};
use crate::service::commands::{Args, DEFAULT_OVERRIDE_HOURS, Hours};
use crate::service::{Recorded, Reply, UserError};

impl Incidents {
    /// `/incident open`: a new incident (its number taken only once the input is accepted),
    /// its thread and questions through the outbox.
    pub(in crate::service) fn open(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let (technique, title) = (a.required("technique")?, a.required("title")?);
        let alert = a.text("alert");
        let (title, alert) = (title.as_str(), alert.as_deref());
        let view = crate::service::playbook::view(cx.library, &technique, None)?;
        let open = |id| {
            domain::open(
                id,
                &view.playbook,
                title,
                alert,
                self.policy,
                &cx.actor,
                cx.origin.now,
            )
            .map_err(domain_err)
        };
        // Refused input must not use up an incident number.
        open(IncidentId(0))?;
        let id = IncidentId(self.store.allocate_incident_id().map_err(internal)?);
        let mut events = open(id)?;
        // Stored as a number: 0 when opened at the console with no SOC channel configured.
        let channel = crate::id::DiscordId::raw(self.soc_channel.or(cx.origin.channel));
        super::set_home(&mut events, channel);
        let effects = vec![
            Effect::OpenThread {
                incident: id.0,
                channel,
            },
            Effect::PostQuestions { incident: id.0 },
        ];
        let note = view.note;
        Ok(Step::Write(Change {
            id,
            before: None,
            events,
            effects,
            reply: Box::new(move |incident| Reply::IncidentOpened { incident, note }),
        }))
    }

    /// `/incident answer` (and the answer buttons and form).
    pub(in crate::service) fn answer(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let question = usize::try_from(a.int("question").unwrap_or(0)).unwrap_or(0);
        let finding: Finding = a.need("finding")?;
        let (note, via_button) = (a.text("note"), cx.pressed);
        let (inc, _) = self.load(a.incident()?, cx.origin.channel)?;
        let now = cx.origin.now;
        let events = domain::answer(&inc, question, finding, note.as_deref(), &cx.actor, now)
            .map_err(domain_err)?;
        let mut effects = Self::effects_of(inc.id, &events);
        // A button press updates its message in its reply. Two presses close together may
        // reach Discord in either order, and the later reply could show the earlier state:
        // then a refresh (merged with any other) settles the message.
        let racing = now - inc.updated_at < chrono::TimeDelta::seconds(5);
        if !events.is_empty() && (!via_button || racing) {
            effects.insert(
                0,
                Effect::RefreshQuestions {
                    incident: inc.id.0,
                    settle: via_button,
                },
            );
        }
        let changed = !events.is_empty();
        Ok(Step::Write(Change {
            id: inc.id,
            before: Some(inc),
            events,
            effects,
            reply: Box::new(move |incident| Reply::Answered {
                incident,
                question,
                changed,
            }),
        }))
    }

    /// `/incident note`: a note in the timeline (and in the thread when given elsewhere).
    pub(in crate::service) fn note(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let text = a.required("text")?;
        let (inc, _) = self.load(a.incident()?, cx.origin.channel)?;
        let events = domain::add_note(&inc, &text, &cx.actor, cx.origin.now).map_err(domain_err)?;
        let line = Notice::Noted {
            by: cx.actor.name.clone(),
            text: text.trim().to_owned(),
        };
        let effects = Self::echo(&inc, cx.origin, line);
        let noted = Recorded::Noted {
            incident: inc.id,
            by: cx.actor.name.clone(),
            text: text.trim().to_owned(),
        };
        Ok(Self::recorded(inc, events, effects, noted))
    }

    /// `/incident escalate`: escalated by hand, paging Tier 2.
    pub(in crate::service) fn escalate(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let reason = a.required("reason")?;
        let (inc, _) = self.load(a.incident()?, cx.origin.channel)?;
        let events = domain::escalate_manually(&inc, &reason, &cx.actor, cx.origin.now)
            .map_err(domain_err)?;
        // The reply says it where the command was given; the thread gets the notice only when
        // that was elsewhere.
        let in_thread = inc
            .thread
            .is_some_and(|t| cx.origin.channel.is_some_and(|c| c == t.thread_id));
        let effects: Vec<Effect> = Self::effects_of(inc.id, &events)
            .into_iter()
            .filter(|e| !(in_thread && matches!(e, Effect::Notice { .. })))
            .collect();
        let escalated = Recorded::Escalated {
            incident: inc.id,
            by: cx.actor.name.clone(),
            reason: reason.trim().to_owned(),
        };
        Ok(Self::recorded(inc, events, effects, escalated))
    }

    /// `/incident playbook`: attaches a playbook to an incident an alert opened without one.
    pub(in crate::service) fn attach(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let technique = a.required("technique")?;
        let (inc, _) = self.load(a.incident()?, cx.origin.channel)?;
        let view = crate::service::playbook::view(cx.library, &technique, None)?;
        let events = domain::attach_playbook(&inc, &view.playbook, &cx.actor, cx.origin.now)
            .map_err(domain_err)?;
        let effects = vec![
            Effect::PostQuestions { incident: inc.id.0 },
            Effect::RefreshAlertCard { incident: inc.id.0 },
        ];
        let attached = Recorded::PlaybookAttached {
            incident: inc.id,
            technique: view.playbook.id,
            name: view.playbook.name.clone(),
            questions: view.playbook.questions.len(),
            by: cx.actor.name.clone(),
            note: view.note,
        };
        Ok(Self::recorded(inc, events, effects, attached))
    }

    /// `/incident status`.
    pub(in crate::service) fn status(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let (incident, events) = self.load(a.incident()?, cx.origin.channel)?;
        Ok(Step::Reply(Reply::Status { incident, events }))
    }

    /// `/incident list`: the newest page.
    pub(in crate::service) fn list_page(&self, a: &Args, _: &Cx<'_>) -> Decided {
        let filter: Option<IncidentStatus> = a.get("status")?;
        let (incidents, total) = self.list(filter)?;
        Ok(Step::Reply(Reply::List {
            incidents,
            filter,
            total,
        }))
    }

    /// `/incident close`: the question messages lose their buttons, then the thread is
    /// archived.
    pub(in crate::service) fn close(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let resolution: Resolution = a.need("resolution")?;
        let summary = a.text("summary");
        let (inc, _) = self.load(a.incident()?, cx.origin.channel)?;
        let events = domain::close(
            &inc,
            resolution,
            summary.as_deref(),
            &cx.actor,
            cx.origin.now,
        )
        .map_err(domain_err)?;
        let effects = vec![
            Effect::RefreshQuestions {
                incident: inc.id.0,
                settle: false,
            },
            Effect::CloseThread { incident: inc.id.0 },
        ];
        let closed = Recorded::Closed {
            incident: inc.id,
            resolution,
            by: cx.actor.name.clone(),
        };
        Ok(Self::recorded(inc, events, effects, closed))
    }

    /// `/incident ack` (and the page's button): stops the paging chain; the actor owns it.
    pub(in crate::service) fn ack(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let (inc, _) = self.load(a.incident()?, cx.origin.channel)?;
        let events = domain::acknowledge(&inc, &cx.actor, cx.origin.now).map_err(domain_err)?;
        if events.is_empty() {
            let owner = inc.owner.as_ref().map(|o| o.name.clone());
            return Ok(Step::Reply(Reply::Acknowledged {
                incident: std::sync::Arc::unwrap_or_clone(inc),
                owner,
                changed: false,
            }));
        }
        let name = cx.actor.name.clone();
        let by = Notice::Acknowledged { by: name.clone() };
        let effects = Self::echo(&inc, cx.origin, by);
        Ok(Step::Write(Change {
            id: inc.id,
            before: Some(inc),
            events,
            effects,
            reply: Box::new(move |incident| Reply::Acknowledged {
                incident,
                owner: Some(name),
                changed: true,
            }),
        }))
    }

    /// `/incident export`: the whole timeline as markdown.
    pub(in crate::service) fn export(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        let (incident, events) = self.load(a.incident()?, cx.origin.channel)?;
        let markdown = domain::export::markdown(&incident, &events);
        let incident = std::sync::Arc::unwrap_or_clone(incident);
        Ok(Step::Reply(Reply::Export { incident, markdown }))
    }

    /// `/oncall`: who is on call (or, with `override`, puts someone on call).
    pub(in crate::service) fn oncall(&self, a: &Args, cx: &Cx<'_>) -> Decided {
        match a.user("override") {
            None => self.oncall_show(cx, a.get("at")?),
            Some(user) => {
                let Hours(hours) = a.get("hours")?.unwrap_or(Hours(DEFAULT_OVERRIDE_HOURS));
                self.oncall_override(cx, user, hours, a.text("reason").as_deref())
            }
        }
    }

    /// `/oncall`: who is on call now (or at `at`), and next.
    fn oncall_show(&self, cx: &Cx<'_>, at: Option<chrono::DateTime<chrono::Utc>>) -> Decided {
        let paging = self.paging.as_ref().ok_or_else(super::no_paging)?;
        let at = at.unwrap_or(cx.origin.now);
        let view = paging.view(at).map_err(internal)?;
        Ok(Step::Reply(Reply::Oncall {
            view,
            fallback_role: paging.rotation().fallback_role(),
            at,
        }))
    }

    /// `/oncall override`: puts `user` on call for `hours`.
    fn oncall_override(
        &self,
        cx: &Cx<'_>,
        user: crate::id::DiscordId,
        hours: u32,
        reason: Option<&str>,
    ) -> Decided {
        self.paging.as_ref().ok_or_else(super::no_paging)?;
        let by = &cx.origin.actor;
        let o = crate::oncall::Override::for_hours(user, hours, by.id, reason, cx.origin.now)
            .map_err(|e| UserError(format!("{e}.")))?;
        let reply = Reply::Recorded(Recorded::OnCall {
            user,
            until: o.until,
            by: by.name.clone(),
        });
        Ok(Step::Override(o, reply))
    }

    /// A change whose reply is what it recorded.
    fn recorded(
        inc: crate::store::folded::Shared,
        events: Vec<crate::incident::Event>,
        effects: Vec<Effect>,
        recorded: Recorded,
    ) -> Step {
        Step::Write(Change {
            id: inc.id,
            before: Some(inc),
            events,
            effects,
            reply: Box::new(move |_| Reply::Recorded(recorded)),
        })
    }
}
