//! A page that reached nobody. A page step reaches its person by independent paths: the mention
//! (in the thread, else the SOC channel) and, for a user, the DM. Each path refused for good
//! becomes a dead letter; the dead letters are the durable record of which paths of a step
//! failed, so a restart between the refused mention and the refused DM loses nothing. When the
//! last path of a step is refused, the page reached nobody: counted on `/metrics`, logged, and
//! said in the SOC channel by a notice queued with that dead letter, in one transaction.

use super::{Announcement, Effect, OutboxEntry, REFUSED};
use crate::incident::PageTarget;
use crate::store::{NewEffect, Store, StoreError};

const CHAT: u8 = 1;
const DM: u8 = 2;

/// One step of a paging chain: (incident, level, attempt).
type Step = (u64, &'static str, u32);

/// The step a page effect belongs to, the path it is, and every path its step has.
fn path_of(effect: &Effect) -> Option<(Step, u8, u8)> {
    match effect {
        Effect::Page {
            incident,
            level,
            target,
            attempt,
            ..
        } => {
            let all = match target {
                PageTarget::User(_) => CHAT | DM,
                PageTarget::Role(_) => CHAT,
            };
            Some(((*incident, level.label(), *attempt), CHAT, all))
        }
        Effect::PageDm {
            incident,
            level,
            attempt,
            ..
        } => Some(((*incident, level.label(), *attempt), DM, CHAT | DM)),
        _ => None,
    }
}

/// Whether `effect` is a path of a page.
pub fn is_page(effect: &Effect) -> bool {
    path_of(effect).is_some()
}

/// As `effect`, refused for good (`why`), becomes a dead letter: when every other path of its
/// step is a refused dead letter already, the page reached nobody, and this is the notice to
/// queue with the dead letter. The caller holds the outbox's page lock from this read to its
/// commit, so two paths failing at once cannot both miss each other.
pub fn notice(store: &Store, effect: &Effect, why: &str) -> Result<Option<NewEffect>, StoreError> {
    let Some((step, mine, all)) = path_of(effect) else {
        return Ok(None);
    };
    let mut refused = mine;
    for (_, letter) in store.dead_letters()? {
        if !letter.reason.starts_with(REFUSED) {
            continue;
        }
        let Ok(entry) = serde_json::from_value::<OutboxEntry>(letter.entry) else {
            continue;
        };
        if let Some((s, path, _)) = path_of(&entry.effect)
            && s == step
        {
            refused |= path;
        }
    }
    if refused & all != all {
        return Ok(None);
    }
    let (incident, level, attempt) = step;
    crate::metrics::page_unreached();
    tracing::error!(incident, level, attempt, %why, "a page reached nobody in Discord");
    let Some(channel) = soc_channel(store, incident) else {
        return Ok(None);
    };
    // In the lane of posts that belong to no incident: never behind this incident's refusals.
    Ok(Some(OutboxEntry::encode(Effect::Announce {
        incident: 0,
        channel: channel.get(),
        announcement: Announcement::Unreached {
            incident,
            level: level.to_owned(),
            attempt,
            why: why.to_owned(),
        },
    })))
}

/// The SOC channel the incident was opened in (None when unknown).
fn soc_channel(store: &Store, incident: u64) -> Option<crate::id::DiscordId> {
    let read = store
        .incident(incident)
        .map_err(|e| e.to_string())
        .and_then(|inc| inc.ok_or_else(|| "it has no events".to_owned()));
    match read {
        Ok(inc) => inc.channel,
        Err(e) => {
            tracing::error!(incident, error = %e, "cannot read the incident to say that its page reached nobody");
            None
        }
    }
}
