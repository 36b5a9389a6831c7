//! Playbooks: the model, the markdown parser, the escalation rule and the library (index,
//! lookup, search). Pure code over plain data: no Discord, no storage, no async.

pub mod cell;
pub mod diagnostic;
pub mod id;
pub mod library;
pub mod model;
pub mod parser;
pub mod rule;
pub mod search;

pub use diagnostic::{Diagnostic, Severity};
pub use id::{BadTechniqueId, TechniqueId};
pub use library::{Library, LoadReport, Lookup};
pub use model::{MAX_QUESTIONS, Playbook, Section, SectionKind};
pub use rule::Rule;
