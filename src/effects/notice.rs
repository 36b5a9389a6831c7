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

/// A message for a channel that is about no one incident's thread, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Announcement {
    /// `source` opened more than `limit` new incidents in a minute: its new alerts join
    /// `incident` instead.
    Storm {
        source: String,
        limit: u32,
        incident: u64,
    },
    /// Every path of a page step (the mention, the DM) was refused for good: the `level`
    /// page (primary, secondary, role) for `incident`, attempt `attempt`, reached nobody;
    /// `why` is the last refusal.
    Unreached {
        incident: u64,
        level: String,
        attempt: u32,
        why: String,
    },
    /// The shift hand-off: who is on call, and the incidents still open.
    Handoff {
        on_call: Option<OnCallNow>,
        escalated: Vec<Listed>,
        open: Vec<Listed>,
    },
}

/// Who is on call at a hand-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallNow {
    pub primary: u64,
    pub until: chrono::DateTime<chrono::Utc>,
    pub secondary: Option<u64>,
}

/// An incident named in a hand-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub incident: u64,
    pub title: String,
    /// Its thread, once it has one.
    pub thread: Option<u64>,
}

/// What a chat port posts in a channel: the words an older socbot stored, or an announcement.
#[derive(Debug, Clone, Copy)]
pub enum ChannelPost<'a> {
    Text(&'a str),
    Announcement(&'a Announcement),
}
