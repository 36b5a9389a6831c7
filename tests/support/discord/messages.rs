//! REST routes for channel messages, and the message helpers the interaction routes share.

use serde_json::{Value, json};

use super::FakeConfig;
use super::interactions;
use super::objects;
use super::rest::{ApiRequest, Reply};
use super::routes::{Answer, channel_of, snowflake};
use super::state::{Shared, Snowflakes, State, UploadedFile};

pub fn route(
    shared: &Shared,
    state: &mut State,
    req: &ApiRequest,
    segments: &[&str],
) -> Option<Reply> {
    let null = Value::Null;
    let body = req.body.as_ref().unwrap_or(&null);
    let files = req.files.as_slice();
    let cfg = &shared.config;
    let answer = match (req.method.as_str(), segments) {
        ("POST", ["interactions", id, token, "callback"]) => {
            interactions::callback(cfg, state, id, token, body, files)
        }
        ("POST", ["webhooks", app, token]) => {
            interactions::follow_up(cfg, state, app, token, body, files)
        }
        (method @ ("GET" | "PATCH" | "DELETE"), ["webhooks", app, token, "messages", message]) => {
            interactions::webhook_message(cfg, state, method, (app, token, message), body, files)
        }
        ("POST", ["channels", channel, "messages"]) => {
            create_message(cfg, state, channel, body, files)
        }
        ("GET", ["channels", channel, "messages"]) => list_messages(state, channel, &req.query),
        (method @ ("GET" | "PATCH" | "DELETE"), ["channels", channel, "messages", message]) => {
            channel_message(cfg, state, method, channel, message, body, files)
        }
        _ => return None,
    };
    Some(answer.unwrap_or_else(|e| e))
}

pub fn is_empty(message: &Value) -> bool {
    let blank = |k: &str| {
        message
            .get(k)
            .is_none_or(|v| v.is_null() || v == "" || v.as_array().is_some_and(Vec::is_empty))
    };
    [
        "content",
        "embeds",
        "components",
        "attachments",
        "sticker_ids",
        "sticker_items",
        "poll",
    ]
    .iter()
    .all(|k| blank(k))
}

pub fn empty_message() -> Reply {
    Reply::error(
        400,
        50006,
        "Cannot send an empty message",
        "a message without content, embeds, components or files",
    )
}

/// Makes and stores a message from a create body (400 50006 when the body is empty).
pub fn store_new(
    cfg: &FakeConfig,
    ids: &mut Snowflakes,
    messages: &mut std::collections::BTreeMap<u64, Value>,
    channel_id: u64,
    kind: u8,
    body: &Value,
    files: &[UploadedFile],
) -> Result<Value, Reply> {
    if is_empty(body) && files.is_empty() {
        return Err(empty_message());
    }
    let id = ids.next();
    let message = objects::new_message(
        id,
        channel_id,
        objects::bot_user(cfg),
        kind,
        body,
        files,
        || ids.next(),
    );
    messages.insert(id, message.clone());
    Ok(message)
}

pub fn mark_webhook(cfg: &FakeConfig, message: &mut Value) {
    message["webhook_id"] = json!(cfg.application_id.to_string());
    message["application_id"] = json!(cfg.application_id.to_string());
}

fn create_message(
    cfg: &FakeConfig,
    state: &mut State,
    channel: &str,
    body: &Value,
    files: &[UploadedFile],
) -> Answer {
    let mut target = channel_of(state, channel)?;
    let channel_id = snowflake(channel)?;
    let kind = target["type"].as_u64().unwrap_or(0);
    if kind == 1 {
        let recipient = target["recipients"][0]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if state.closed_dms.contains(&recipient) {
            return Err(Reply::json(
                403,
                objects::error(50007, "Cannot send messages to this user", None),
            ));
        }
    }
    if target.get("thread_metadata").is_some() && target["thread_metadata"]["archived"] == true {
        if target["thread_metadata"]["locked"] == true {
            return Err(Reply::json(
                400,
                objects::error(50083, "Thread is archived", None),
            ));
        }
        target["thread_metadata"]["archived"] = json!(false);
    }
    let message_kind = if body.get("message_reference").is_some() {
        19
    } else {
        0
    };
    // Discord's nonce check: with `enforce_nonce`, a repeat of a recent nonce by the same
    // author in the channel gets the message made the first time, and nothing new.
    let nonce = body.get("nonce").filter(|n| !n.is_null());
    if body["enforce_nonce"] == true
        && let Some(nonce) = nonce
        && let Some(first) = state
            .nonces
            .get(&(channel_id, nonce.to_string()))
            .and_then(|id| state.messages.get(id))
    {
        return Ok(Reply::json(200, first.clone()));
    }
    let State {
        ids,
        messages,
        nonces: state_nonces,
        ..
    } = state;
    let mut message = store_new(cfg, ids, messages, channel_id, message_kind, body, files)?;
    if let Some(nonce) = nonce {
        message["nonce"] = nonce.clone();
        let id = snowflake(message["id"].as_str().unwrap_or_default())?;
        messages.insert(id, message.clone());
        state_nonces
            .entry((channel_id, nonce.to_string()))
            .or_insert(id);
    }
    target["last_message_id"] = message["id"].clone();
    if target.get("thread_metadata").is_some() {
        for key in ["message_count", "total_message_sent"] {
            target[key] = json!(target[key].as_u64().unwrap_or(0) + 1);
        }
    }
    state.channels.insert(channel_id, target);
    Ok(Reply::json(200, message))
}

fn list_messages(state: &State, channel: &str, query: &str) -> Answer {
    let channel = channel_of(state, channel)?;
    let limit = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("limit="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(50usize);
    let found: Vec<Value> = state
        .messages
        .values()
        .rev()
        .filter(|m| m["channel_id"] == channel["id"])
        .take(limit)
        .cloned()
        .collect();
    Ok(Reply::json(200, Value::Array(found)))
}

fn channel_message(
    cfg: &FakeConfig,
    state: &mut State,
    method: &str,
    channel: &str,
    message: &str,
    body: &Value,
    files: &[UploadedFile],
) -> Answer {
    let target = channel_of(state, channel)?;
    let id = snowflake(message)?;
    let Some(stored) = state
        .messages
        .get(&id)
        .filter(|m| m["channel_id"] == target["id"])
        .cloned()
    else {
        return Err(Reply::json(
            404,
            objects::error(10008, "Unknown Message", None),
        ));
    };
    match method {
        "GET" => Ok(Reply::json(200, stored)),
        "DELETE" => {
            state.messages.remove(&id);
            Ok(Reply::empty())
        }
        _ => {
            if objects::snowflake_of(&stored["author"]["id"]) != Some(cfg.bot_user_id) {
                let problem = format!("edit of message {id}, which another user wrote");
                return Err(Reply::error(
                    403,
                    50005,
                    "Cannot edit a message authored by another user",
                    problem,
                ));
            }
            let mut edited = stored;
            let ids = &mut state.ids;
            objects::apply_edit(&mut edited, body, files, || ids.next());
            if is_empty(&edited) {
                return Err(empty_message());
            }
            state.messages.insert(id, edited.clone());
            Ok(Reply::json(200, edited))
        }
    }
}
