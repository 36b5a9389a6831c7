//! The command router: `(command, actor, now) → reply`, shared by every adapter (Discord, the
//! console). Knows nothing of Discord: replies are plain data that each adapter renders.

pub mod library;
pub mod playbook;

use std::sync::Arc;

pub use library::LibraryHandle;

use crate::playbook::{Playbook, SectionKind};

/// Who issued a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Discord user id (0 for the local console user).
    pub id: u64,
    pub name: String,
    pub roles: Vec<u64>,
}

impl Actor {
    /// The person at the terminal running `socbot console`.
    pub fn console() -> Self {
        let name = std::env::var("USER").unwrap_or_else(|_| "console".into());
        Self {
            id: 0,
            name,
            roles: Vec::new(),
        }
    }
}

/// A command, parsed from a slash command or a console line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/playbook technique:<id> [section:<key>] [private:<bool>]`
    Playbook {
        technique: String,
        section: Option<SectionKind>,
        private: bool,
    },
}

impl Command {
    /// The command's name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Playbook { .. } => "playbook",
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
    Playbook { view: PlaybookView, private: bool },
}

/// A mistake the user can fix: shown privately, saying what to do. Never an internal error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// The router. Cheap to clone; adapters hold one.
#[derive(Debug, Clone)]
pub struct Service {
    library: LibraryHandle,
}

impl Service {
    pub fn new(library: LibraryHandle) -> Self {
        Self { library }
    }

    pub fn library(&self) -> &LibraryHandle {
        &self.library
    }

    /// Handles one command from `actor`.
    pub fn handle(&self, command: Command, actor: &Actor) -> Result<Reply, UserError> {
        let span = tracing::info_span!(
            "command",
            command = command.name(),
            actor = actor.id,
            technique = tracing::field::Empty
        );
        let _enter = span.enter();
        match command {
            Command::Playbook {
                technique,
                section,
                private,
            } => {
                let view = playbook::view(&self.library.current(), &technique, section)?;
                span.record("technique", tracing::field::display(view.playbook.id));
                Ok(Reply::Playbook { view, private })
            }
        }
    }

    /// Autocomplete for a technique option: up to 25 `(label, id)` pairs, labels within
    /// `max_label` characters.
    pub fn autocomplete_technique(&self, typed: &str, max_label: usize) -> Vec<(String, String)> {
        playbook::autocomplete(&self.library.current(), typed, max_label)
    }
}
