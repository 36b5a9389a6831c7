//! The command router: `(command, actor, now) → reply`, shared by every adapter (Discord, the
//! console). A command is its declaration in the table ([`commands`]) and its arguments (an
//! [`Invocation`]); [`Service::handle`] is the one execute path they all take. Knows nothing of
//! Discord: replies are plain data that each adapter renders.

pub mod alert;
pub mod commands;
pub mod incident;
pub mod library;
pub mod paging;
pub mod playbook;

use std::sync::Arc;

pub use commands::{Invocation, Role};
pub use incident::{Incidents, Origin};
pub use library::LibraryHandle;

use crate::incident::{Incident, IncidentId, IncidentStatus, Resolution};
use crate::playbook::{Playbook, SectionKind, TechniqueId};

/// The days of incidents `/coverage` counts as "seen lately".
pub const COVERAGE_DAYS: u32 = 30;

/// Who issued a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Discord user id; None for the person at the console (never a Discord user).
    pub id: Option<crate::id::DiscordId>,
    pub name: String,
    /// Their Discord roles.
    pub roles: Vec<crate::id::DiscordId>,
}

impl Actor {
    /// The person at the terminal running `socbot console`.
    pub fn console() -> Self {
        let name = std::env::var("USER").unwrap_or_else(|_| "console".into());
        Self {
            id: None,
            name,
            roles: Vec::new(),
        }
    }
}

/// A change a command recorded (on disk before the reply), as data: each adapter says it in
/// its own words and markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A note was added to the timeline.
    Noted {
        incident: IncidentId,
        by: String,
        text: String,
    },
    /// Escalated to Tier 2 by hand.
    Escalated {
        incident: IncidentId,
        by: String,
        reason: String,
    },
    /// Closed with a resolution.
    Closed {
        incident: IncidentId,
        resolution: Resolution,
        by: String,
    },
    /// A playbook was attached (its questions are posted in the thread).
    PlaybookAttached {
        incident: IncidentId,
        technique: TechniqueId,
        name: String,
        questions: usize,
        by: String,
        /// How the playbook was found (e.g. the parent fallback).
        note: Option<String>,
    },
    /// `user` is on call until `until` by an override.
    OnCall {
        user: crate::id::DiscordId,
        until: chrono::DateTime<chrono::Utc>,
        by: String,
    },
}

impl Recorded {
    /// The incident it concerns, if any.
    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Self::Noted { incident, .. }
            | Self::Escalated { incident, .. }
            | Self::Closed { incident, .. }
            | Self::PlaybookAttached { incident, .. } => Some(*incident),
            Self::OnCall { .. } => None,
        }
    }
}

/// What to show for a playbook request.
#[derive(Debug, Clone)]
pub struct PlaybookView {
    pub playbook: Arc<Playbook>,
    /// Only this section; None shows all.
    pub section: Option<SectionKind>,
    /// Said above the playbook, e.g. the parent fallback.
    pub note: Option<String>,
}

/// A command's answer, for the adapter to render.
#[derive(Debug, Clone)]
pub enum Reply {
    Playbook {
        view: PlaybookView,
        private: bool,
    },
    /// A change was recorded.
    Recorded(Recorded),
    /// The incident is recorded; its thread and questions follow through the outbox.
    IncidentOpened {
        incident: Incident,
        note: Option<String>,
    },
    /// An answer was recorded (`changed` false: it was already so).
    Answered {
        incident: Incident,
        question: usize,
        changed: bool,
    },
    Status {
        /// The incident, shared with the store's cache of folded incidents (not copied).
        incident: crate::store::folded::Shared,
        /// Its whole history, shared with the store's cache of folded incidents.
        events: crate::store::folded::History,
    },
    /// The newest incidents (at most a page), and how many match in all.
    List {
        incidents: Vec<Incident>,
        filter: Option<IncidentStatus>,
        total: usize,
    },
    /// The markdown report, to send as a file.
    Export {
        incident: Incident,
        markdown: String,
    },
    /// A page was acknowledged (`changed` false: it was already). `owner`: who owns the
    /// incident now (the one who acknowledged, when `changed`); None when nobody is recorded.
    Acknowledged {
        incident: Incident,
        owner: Option<String>,
        changed: bool,
    },
    /// Who is on call.
    Oncall {
        view: Option<crate::oncall::OncallView>,
        fallback_role: Option<crate::id::DiscordId>,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A technique without a playbook: what ATT&CK says of it, and the closest playbooks.
    Technique {
        answer: playbook::TechniqueAnswer,
        private: bool,
    },
    /// ATT&CK coverage (`tactic`: the one asked for, an index into the report's tactics) and
    /// its heatmap picture.
    Coverage {
        report: Box<crate::attack::coverage::Coverage>,
        tactic: Option<usize>,
        png: Vec<u8>,
    },
    /// The interaction was handled before: answer nothing.
    Duplicate,
}

/// A mistake the user can fix: shown privately, saying what to do. Never an internal error.
///
/// The words are the same for every adapter, with two marks and no other markup: `` `…` ``
/// around what to type (a command, an option, an id, a configuration key) and `<@&id>` for a
/// Discord role (see [`crate::render::inline::spans`]). Each adapter renders them: Discord as
/// code spans and mentions ([`UserError::markdown`]), a terminal as plain text
/// ([`UserError::plain`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

impl UserError {
    /// The words as spans: text, what to type, roles.
    pub fn spans(&self) -> Vec<crate::render::inline::Span<'_>> {
        crate::render::inline::spans(&self.0)
    }

    /// For a terminal: no marks; a role by its id.
    pub fn plain(&self) -> String {
        crate::render::inline::plain(&self.0)
    }

    /// [`Self::plain`], with what to type in bold when `bold` (an interactive terminal).
    pub fn terminal(&self, bold: bool) -> String {
        crate::render::inline::terminal(&self.0, bold)
    }

    /// For Discord: what to type as code, roles as mentions.
    pub fn markdown(&self) -> String {
        crate::render::inline::markdown(&self.0)
    }
}

/// The router. Cheap to clone; adapters hold one.
#[derive(Clone)]
pub struct Service {
    library: LibraryHandle,
    incidents: Option<Incidents>,
    clock: crate::clock::Clock,
    catalog: Arc<crate::attack::Catalog>,
}

impl Service {
    /// Playbooks only (no store): `/incident` commands answer that incidents are off.
    pub fn new(library: LibraryHandle) -> Self {
        Self {
            library,
            incidents: None,
            clock: crate::clock::Clock::System,
            catalog: crate::attack::Catalog::shipped(),
        }
    }

    pub fn with_incidents(library: LibraryHandle, incidents: Incidents) -> Self {
        Self {
            library,
            incidents: Some(incidents),
            clock: crate::clock::Clock::System,
            catalog: crate::attack::Catalog::shipped(),
        }
    }

    /// Reads time from `clock` (tests pass a manual one).
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Answers from `catalog` (`attack.stix`) instead of the shipped ATT&CK catalog.
    pub fn with_catalog(mut self, catalog: Arc<crate::attack::Catalog>) -> Self {
        self.catalog = catalog;
        self
    }

    pub fn catalog(&self) -> &Arc<crate::attack::Catalog> {
        &self.catalog
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn incidents(&self) -> Option<&Incidents> {
        self.incidents.as_ref()
    }

    pub fn library(&self) -> &LibraryHandle {
        &self.library
    }

    /// Handles one command: the execute path every command takes. Its handler (from its
    /// declaration) runs once the role it needs is checked; incident and on-call handlers run
    /// through [`Incidents::execute`] (the interaction handled once, the lock, the commit), so
    /// what they change is durable before this returns. Each command is logged in a span with
    /// the incident and technique it concerned, and counted by outcome.
    pub async fn handle(
        &self,
        invocation: Invocation,
        origin: &Origin,
    ) -> Result<Reply, UserError> {
        use tracing::Instrument;
        let name = invocation.name();
        let span = tracing::info_span!(
            "command",
            command = name.as_str(),
            actor = crate::id::DiscordId::raw(origin.actor.id),
            incident = tracing::field::Empty,
            technique = tracing::field::Empty
        );
        let result = self
            .execute(&invocation, origin)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            tracing::info!(parent: &span, refusal = %e.0, "command refused");
        }
        if let Ok(reply) = &result {
            record(&span, reply);
        }
        let outcome = match &result {
            Ok(Reply::Duplicate) => "duplicate",
            Ok(_) => "ok",
            Err(_) => "refused",
        };
        crate::metrics::command(&name, outcome);
        result
    }

    /// Runs `invocation`'s handler by its kind (see [`commands::Handler`]).
    async fn execute(&self, invocation: &Invocation, origin: &Origin) -> Result<Reply, UserError> {
        use commands::Handler;
        let permit = || match &self.incidents {
            Some(inc) => inc.permit(invocation, &origin.actor),
            // Without a store no roles are configured: what runs is open to everyone.
            None => Ok(()),
        };
        match invocation.handler() {
            Handler::Read(read) => {
                permit()?;
                read(self, invocation.args(), origin)
            }
            Handler::Async(work) => {
                permit()?;
                work(self, invocation.args(), origin).await
            }
            Handler::Oncall(_) if self.incidents.is_none() => Err(UserError(
                "On-call paging is not enabled in this socbot.".into(),
            )),
            Handler::Incident(_) | Handler::Unlocked(_) | Handler::Oncall(_) => {
                let Some(inc) = &self.incidents else {
                    return Err(UserError(
                        "Incidents are not enabled in this socbot (no store configured).".into(),
                    ));
                };
                let library = self.library.current();
                inc.execute(invocation, origin, &library).await
            }
        }
    }

    /// Autocomplete for a technique option: up to 25 `(label, id)` pairs, labels within
    /// `max_label` characters.
    pub fn autocomplete_technique(&self, typed: &str, max_label: usize) -> Vec<(String, String)> {
        playbook::autocomplete(&self.library.current(), &self.catalog, typed, max_label)
    }

    /// `/coverage [tactic]`: its handler.
    pub(crate) fn coverage_command<'a>(
        &'a self,
        a: &'a commands::Args,
        origin: &'a Origin,
    ) -> commands::Answering<'a> {
        Box::pin(async move { self.coverage(a.text("tactic").as_deref(), origin).await })
    }

    /// `/coverage [tactic]`: coverage over the last [`COVERAGE_DAYS`] days and its heatmap.
    async fn coverage(&self, tactic: Option<&str>, origin: &Origin) -> Result<Reply, UserError> {
        let tactic = match tactic.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(self.catalog.tactic(t).ok_or_else(|| {
                let names: Vec<&str> = self
                    .catalog
                    .tactics
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect();
                UserError(format!(
                    "ATT&CK has no tactic `{}`; pick one of: {}.",
                    playbook::clip(t, 60),
                    names.join(", ")
                ))
            })?),
        };
        let incidents = match &self.incidents {
            Some(inc) => {
                inc.since(origin.now - chrono::Duration::days(i64::from(COVERAGE_DAYS)))?
            }
            None => Vec::new(),
        };
        let (catalog, library, now) = (self.catalog.clone(), self.library.current(), origin.now);
        // Drawing the picture is CPU work: off the async threads.
        let (report, png) = tokio::task::spawn_blocking(move || {
            let report = crate::attack::coverage::compute(
                &catalog,
                &library,
                &incidents,
                COVERAGE_DAYS,
                now,
            );
            let png = crate::attack::heatmap::png(&report);
            (report, png)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "coverage computation failed");
            UserError(
                "socbot could not compute coverage (logged for the operator); please try again."
                    .into(),
            )
        })?;
        Ok(Reply::Coverage {
            report: Box::new(report),
            tactic,
            png,
        })
    }
}

/// Records in a command's span the incident and technique of `incident`.
fn record_incident(span: &tracing::Span, incident: &Incident) {
    use tracing::field::display;
    span.record("incident", display(incident.id));
    span.record("technique", display(incident.technique));
}

/// Records in a command's span the incident and technique its reply concerns.
fn record(span: &tracing::Span, reply: &Reply) {
    use tracing::field::display;
    match reply {
        Reply::Playbook { view, .. } => {
            span.record("technique", display(view.playbook.id));
        }
        Reply::Technique { answer, .. } => {
            span.record("technique", display(answer.info.id));
        }
        Reply::IncidentOpened { incident, .. }
        | Reply::Answered { incident, .. }
        | Reply::Export { incident, .. }
        | Reply::Acknowledged { incident, .. } => record_incident(span, incident),
        Reply::Status { incident, .. } => record_incident(span, incident),
        Reply::Recorded(r) => {
            if let Some(id) = r.incident() {
                span.record("incident", display(id));
            }
        }
        _ => {}
    }
}
