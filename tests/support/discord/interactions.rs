//! REST routes of interactions: the callback, follow-ups and `@original` through the webhook.

use serde_json::{Value, json};

use super::FakeConfig;
use super::messages::{empty_message, is_empty, mark_webhook, store_new};
use super::objects;
use super::rest::Reply;
use super::routes::{Answer, snowflake};
use super::state::{InteractionRecord, State, UploadedFile};

/// Callback types Discord accepts for each interaction type.
fn allowed_callbacks(interaction_kind: u8) -> &'static [u64] {
    match interaction_kind {
        2 => &[4, 5, 9],
        3 => &[4, 5, 6, 7, 9],
        4 => &[8],
        5 => &[4, 5, 6, 7],
        _ => &[],
    }
}

pub fn callback(
    cfg: &FakeConfig,
    state: &mut State,
    id: &str,
    token: &str,
    body: &Value,
    files: &[UploadedFile],
) -> Answer {
    let id = snowflake(id)?;
    let State {
        interactions,
        ids,
        messages,
        ..
    } = state;
    let Some(record) = interactions.get_mut(&id).filter(|r| r.token == token) else {
        let problem = format!("callback for interaction {id} with a token the fake never sent");
        return Err(Reply::error(404, 10062, "Unknown interaction", problem));
    };
    let waited = record.sent_at.elapsed();
    if waited > cfg.interaction_deadline {
        let problem = format!(
            "answered after {waited:?}; Discord allows {:?} (defer first)",
            cfg.interaction_deadline
        );
        return Err(Reply::error(404, 10062, "Unknown interaction", problem));
    }
    if let Some(first) = record.acked {
        let problem =
            format!("interaction {id} acknowledged twice (first with callback type {first})");
        return Err(Reply::error(
            400,
            40060,
            "Interaction has already been acknowledged.",
            problem,
        ));
    }
    let kind = body.get("type").and_then(Value::as_u64).unwrap_or(0);
    if !allowed_callbacks(record.kind).contains(&kind) {
        let problem = format!(
            "callback type {kind} is not valid for an interaction of type {}",
            record.kind
        );
        return Err(Reply::error(400, 50035, "Invalid Form Body", problem));
    }
    let data = body.get("data").unwrap_or(&Value::Null);
    let message_kind = if record.kind == 2 { 20 } else { 0 };
    match kind {
        4 => {
            let mut message = store_new(
                cfg,
                ids,
                messages,
                record.channel_id,
                message_kind,
                data,
                files,
            )?;
            mark_webhook(cfg, &mut message);
            stamp(record, &mut message);
            messages.insert(
                message["id"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or(0),
                message.clone(),
            );
            adopt(record, &message);
        }
        5 => {
            let loading =
                json!({ "content": "", "flags": 128 | (data["flags"].as_u64().unwrap_or(0) & 64) });
            let message_id = ids.next();
            let mut message = objects::new_message(
                message_id,
                record.channel_id,
                objects::bot_user(cfg),
                message_kind,
                &loading,
                &[],
                || 0,
            );
            mark_webhook(cfg, &mut message);
            stamp(record, &mut message);
            messages.insert(message_id, message.clone());
            adopt(record, &message);
        }
        6 | 7 => {
            let (Some(message_id), Some(used)) = (record.message_id(), record.message.clone())
            else {
                return Err(Reply::error(
                    400,
                    50035,
                    "Invalid Form Body",
                    "update callback for an interaction without a message",
                ));
            };
            if kind == 6 || fills(data) {
                // Nothing to refuse: edited where it is stored, without a copy.
                let message = messages
                    .entry(message_id)
                    .or_insert_with(|| (*used).clone());
                if kind == 7 {
                    objects::apply_edit(message, data, files, || ids.next());
                }
                adopt(record, message);
            } else {
                // An edit that may empty the message: made on a copy, kept only if it does not.
                let mut message = messages.get(&message_id).unwrap_or(&used).clone();
                objects::apply_edit(&mut message, data, files, || ids.next());
                if is_empty(&message) {
                    return Err(empty_message());
                }
                adopt(record, &message);
                messages.insert(message_id, message);
            }
        }
        _ => {}
    }
    record.acked = Some(kind as u8);
    Ok(Reply::empty())
}

/// Whether an edit body leaves the message non-empty whatever it was: it sets content, embeds
/// or components to something that is not blank (see `is_empty`).
fn fills(edit: &Value) -> bool {
    ["content", "embeds", "components"].iter().any(|key| {
        edit.get(key)
            .is_some_and(|v| !(v.is_null() || v == "" || v.as_array().is_some_and(Vec::is_empty)))
    })
}

/// What Discord puts on a message an interaction created: `interaction_metadata`, which is
/// how a later button or select on that message finds the command it answered.
fn stamp(record: &InteractionRecord, message: &mut Value) {
    let payload = &record.payload;
    let user = payload["member"]["user"].clone();
    let user = if user.is_null() {
        payload["user"].clone()
    } else {
        user
    };
    let mut metadata = json!({
        "id": record.id.to_string(),
        "type": record.kind,
        "user": user,
        "authorizing_integration_owners": {},
    });
    if let Some(guild) = payload["guild_id"].as_str() {
        metadata["authorizing_integration_owners"]["0"] = json!(guild);
    }
    if record.kind == 3
        && let Some(interacted) = record.message_id()
    {
        metadata["interacted_message_id"] = json!(interacted.to_string());
    }
    message["interaction_metadata"] = metadata;
}

fn adopt(record: &mut InteractionRecord, message: &Value) {
    let id = message["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    record.original = Some(id);
    record.webhook_messages.push(id);
}

/// The interaction behind a webhook route, after checking the application id and token.
fn webhook_interaction<'s>(
    cfg: &FakeConfig,
    interactions: &'s mut std::collections::HashMap<u64, InteractionRecord>,
    app: &str,
    token: &str,
) -> Result<&'s mut InteractionRecord, Reply> {
    if snowflake(app)? != cfg.application_id {
        let problem = format!(
            "webhook application id {app} is not the application id {} from READY",
            cfg.application_id
        );
        return Err(Reply::error(404, 10015, "Unknown Webhook", problem));
    }
    let Some(record) = interactions.values_mut().find(|r| r.token == token) else {
        return Err(Reply::error(
            404,
            10015,
            "Unknown Webhook",
            "an interaction token the fake never sent",
        ));
    };
    if record.acked.is_none() {
        return Err(Reply::error(
            404,
            10015,
            "Unknown Webhook",
            "webhook call before the interaction was acknowledged",
        ));
    }
    Ok(record)
}

pub fn follow_up(
    cfg: &FakeConfig,
    state: &mut State,
    app: &str,
    token: &str,
    body: &Value,
    files: &[UploadedFile],
) -> Answer {
    let State {
        interactions,
        ids,
        messages,
        ..
    } = state;
    let record = webhook_interaction(cfg, interactions, app, token)?;
    let kind = if record.kind == 2 { 20 } else { 0 };
    let mut message = store_new(cfg, ids, messages, record.channel_id, kind, body, files)?;
    mark_webhook(cfg, &mut message);
    stamp(record, &mut message);
    if let Some(original) = record.original {
        message["interaction_metadata"]["original_response_message_id"] =
            json!(original.to_string());
    }
    let id: u64 = message["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    messages.insert(id, message.clone());
    record.webhook_messages.push(id);
    Ok(Reply::json(200, message))
}

pub fn webhook_message(
    cfg: &FakeConfig,
    state: &mut State,
    method: &str,
    (app, token, message): (&str, &str, &str),
    body: &Value,
    files: &[UploadedFile],
) -> Answer {
    let State {
        interactions,
        ids,
        messages,
        ..
    } = state;
    let record = webhook_interaction(cfg, interactions, app, token)?;
    let id = match message {
        "@original" => record.original.ok_or_else(|| {
            Reply::error(
                404,
                10008,
                "Unknown Message",
                "@original without a message response (or after deleting it)",
            )
        })?,
        other => Some(snowflake(other)?)
            .filter(|id| record.webhook_messages.contains(id))
            .ok_or_else(|| {
                Reply::error(
                    404,
                    10008,
                    "Unknown Message",
                    format!("message {other} was not sent through this interaction token"),
                )
            })?,
    };
    let Some(stored) = messages.get_mut(&id) else {
        return Err(Reply::json(
            404,
            objects::error(10008, "Unknown Message", None),
        ));
    };
    match method {
        "GET" => Ok(Reply::json(200, stored.clone())),
        "DELETE" => {
            messages.remove(&id);
            if record.original == Some(id) {
                record.original = None;
            }
            Ok(Reply::empty())
        }
        _ => {
            let mut edited = stored.clone();
            objects::apply_edit(&mut edited, body, files, || ids.next());
            edited["flags"] = json!(edited["flags"].as_u64().unwrap_or(0) & !128);
            if is_empty(&edited) {
                return Err(empty_message());
            }
            messages.insert(id, edited.clone());
            Ok(Reply::json(200, edited))
        }
    }
}
