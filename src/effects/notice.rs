//! What socbot says in an incident's thread, as data: the outbox stores it and each chat port
//! words it (Discord with its markdown, the console in plain text).

use serde::{Deserialize, Serialize};

/// A line for an incident's thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A note added by a command given outside the thread.
    Noted { by: String, text: String },
    /// Escalated to Tier 2 by hand.
    EscalatedByHand { by: String, reason: String },
    /// Escalated to Tier 2 otherwise (an alert's severity): `why`, e.g. "by alert: …".
    Escalated { why: String },
    /// The page was acknowledged by a command given outside the thread: `by` owns it now.
    Acknowledged { by: String },
    /// The alert's source reports it resolved; the incident stays open.
    AlertResolved { source: String },
    /// The paging chain ran out with nobody acknowledging: `why`.
    Unacknowledged { why: String },
}
