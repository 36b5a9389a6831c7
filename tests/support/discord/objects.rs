//! Discord-shaped JSON objects the fake answers with: users, messages, channels, commands, guilds.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::FakeConfig;
use super::state::{DISCORD_EPOCH_MS, UploadedFile};

/// ISO 8601 time a snowflake was created at.
pub fn timestamp_of(id: u64) -> String {
    let ms = (id >> 22) + DISCORD_EPOCH_MS;
    let at = DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap_or_default();
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A user object; `username` defaults to `user<id>`.
pub fn user(id: u64, username: Option<&str>, bot: bool) -> Value {
    let name = username.map_or_else(|| format!("user{id}"), str::to_owned);
    json!({
        "id": id.to_string(), "username": name, "discriminator": "0", "global_name": name,
        "avatar": null, "bot": bot, "system": false, "public_flags": 0, "flags": 0,
    })
}

pub fn bot_user(cfg: &FakeConfig) -> Value {
    user(cfg.bot_user_id, Some(&cfg.bot_username), true)
}

/// A guild member object with the fields serenity requires.
pub fn member(user: Value, roles: &[u64]) -> Value {
    let roles: Vec<String> = roles.iter().map(u64::to_string).collect();
    json!({
        "user": user, "roles": roles, "joined_at": "2024-01-01T00:00:00.000Z", "deaf": false,
        "mute": false, "flags": 0, "pending": false, "nick": null, "avatar": null,
        "premium_since": null, "communication_disabled_until": null,
    })
}

/// The id in a JSON snowflake (a string, or a number).
pub fn snowflake_of(value: &Value) -> Option<u64> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value.as_u64())
}

/// Who a message would really ping: users and roles mentioned in `content`, filtered by
/// `allowed_mentions` the way Discord does (absent = everything parsed).
fn mentions(content: &str, allowed: Option<&Value>) -> (Vec<Value>, Vec<String>, bool) {
    let parse: Vec<&str> = match allowed {
        None => vec!["users", "roles", "everyone"],
        Some(a) => a
            .get("parse")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect(),
    };
    let listed = |key: &str| -> Vec<String> {
        let items = allowed.and_then(|a| a.get(key)).and_then(Value::as_array);
        items
            .into_iter()
            .flatten()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect()
    };
    let (allowed_users, allowed_roles) = (listed("users"), listed("roles"));
    let mut users = Vec::new();
    let mut roles = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('>') else { break };
        let token = &rest[..end];
        if let Some(role) = token.strip_prefix('&') {
            let ok = parse.contains(&"roles") || allowed_roles.iter().any(|r| r == role);
            if ok && role.parse::<u64>().is_ok() && !roles.iter().any(|r| r == role) {
                roles.push(role.to_owned());
            }
        } else if let Ok(id) = token.trim_start_matches('!').parse::<u64>() {
            let ok = parse.contains(&"users") || allowed_users.iter().any(|u| *u == id.to_string());
            if ok
                && !users
                    .iter()
                    .any(|u: &Value| snowflake_of(&u["id"]) == Some(id))
            {
                users.push(user(id, None, false));
            }
        }
    }
    let everyone =
        parse.contains(&"everyone") && (content.contains("@everyone") || content.contains("@here"));
    (users, roles, everyone)
}

/// Attachment objects for a message body: entries of `attachments` that name an uploaded
/// `files[n]` get a fresh id; entries naming an attachment of `previous` are kept.
fn attachments(
    body: &Value,
    files: &[UploadedFile],
    previous: &[Value],
    mut next_id: impl FnMut() -> u64,
) -> Vec<Value> {
    let upload = |file: &UploadedFile, id: u64| {
        json!({
            "id": id.to_string(), "filename": file.filename, "size": file.bytes.len(),
            "url": format!("https://cdn.example.invalid/attachments/{id}/{}", file.filename),
            "proxy_url": format!("https://media.example.invalid/attachments/{id}/{}", file.filename),
            "content_type": file.content_type,
        })
    };
    let Some(requested) = body.get("attachments").and_then(Value::as_array) else {
        return files.iter().map(|f| upload(f, next_id())).collect();
    };
    let mut out = Vec::new();
    for entry in requested {
        let id = entry
            .get("id")
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_default();
        if let Some(file) = files.iter().find(|f| f.field == format!("files[{id}]")) {
            let mut made = upload(file, next_id());
            made["description"] = entry.get("description").cloned().unwrap_or(Value::Null);
            out.push(made);
        } else if let Some(kept) = previous.iter().find(|p| p["id"] == id.as_str()) {
            out.push(kept.clone());
        }
    }
    out
}

/// Builds a stored message from a create-message body.
pub fn new_message(
    id: u64,
    channel_id: u64,
    author: Value,
    kind: u8,
    body: &Value,
    files: &[UploadedFile],
    next_id: impl FnMut() -> u64,
) -> Value {
    let mut message = json!({
        "id": id.to_string(), "channel_id": channel_id.to_string(), "author": author,
        "content": "", "timestamp": timestamp_of(id), "edited_timestamp": null, "tts": false,
        "mention_everyone": false, "mentions": [], "mention_roles": [], "mention_channels": [],
        "attachments": [], "embeds": [], "reactions": [], "pinned": false, "type": kind,
        "components": [], "flags": 0, "sticker_items": [],
    });
    message["tts"] = body
        .get("tts")
        .cloned()
        .filter(Value::is_boolean)
        .unwrap_or(Value::Bool(false));
    apply_edit(&mut message, body, files, next_id);
    message["edited_timestamp"] = Value::Null;
    message
}

/// Applies an edit body to a stored message, as Discord does for PATCH.
pub fn apply_edit(
    message: &mut Value,
    body: &Value,
    files: &[UploadedFile],
    next_id: impl FnMut() -> u64,
) {
    for key in ["content", "embeds", "components", "flags"] {
        if let Some(value) = body.get(key) {
            match (key, value) {
                ("content", Value::Null) => message[key] = json!(""),
                ("embeds" | "components", Value::Null) => message[key] = json!([]),
                ("flags", Value::Null) => message[key] = json!(0),
                _ => assign(&mut message[key], value),
            }
        }
    }
    for embed in message["embeds"].as_array_mut().into_iter().flatten() {
        if embed.get("type").is_none() {
            embed["type"] = json!("rich");
        }
    }
    if body.get("attachments").is_some() || !files.is_empty() {
        let previous = message["attachments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        message["attachments"] = Value::Array(attachments(body, files, &previous, next_id));
    }
    let content = message["content"].as_str().unwrap_or_default().to_owned();
    let (users, roles, everyone) = mentions(&content, body.get("allowed_mentions"));
    message["mentions"] = Value::Array(users);
    message["mention_roles"] = json!(roles);
    message["mention_everyone"] = json!(everyone);
    message["edited_timestamp"] = json!(now());
}

/// Makes `target` equal to `source`, reusing what `target` already holds: an edit of a
/// message into nearly the same message (a button redrawing its question) copies text into the
/// strings, maps and arrays it has instead of dropping the old tree and cloning a new one.
pub fn assign(target: &mut Value, source: &Value) {
    match (target, source) {
        (Value::String(t), Value::String(s)) => t.clone_from(s),
        (Value::Array(t), Value::Array(s)) => {
            t.truncate(s.len());
            let kept = t.len();
            for (t, s) in t.iter_mut().zip(s) {
                assign(t, s);
            }
            t.extend(s[kept..].iter().cloned());
        }
        (Value::Object(t), Value::Object(s)) => {
            t.retain(|key, _| s.contains_key(key));
            for (key, s) in s {
                match t.get_mut(key) {
                    Some(t) => assign(t, s),
                    None => {
                        t.insert(key.clone(), s.clone());
                    }
                }
            }
        }
        (target, source) => *target = source.clone(),
    }
}

pub fn text_channel(id: u64, guild_id: u64, name: &str) -> Value {
    json!({
        "id": id.to_string(), "type": 0, "guild_id": guild_id.to_string(), "name": name,
        "position": 0, "permission_overwrites": [], "nsfw": false, "parent_id": null,
        "topic": null, "last_message_id": null, "rate_limit_per_user": 0, "flags": 0,
    })
}

/// A thread channel created by the bot from a create-thread body.
pub fn thread_channel(id: u64, parent: &Value, kind: u64, body: &Value, owner_id: u64) -> Value {
    let archive = body
        .get("auto_archive_duration")
        .and_then(Value::as_u64)
        .unwrap_or(4320);
    let mut metadata = json!({
        "archived": false, "auto_archive_duration": archive, "archive_timestamp": timestamp_of(id),
        "locked": false, "create_timestamp": timestamp_of(id),
    });
    if kind == 12 {
        metadata["invitable"] = body
            .get("invitable")
            .cloned()
            .filter(Value::is_boolean)
            .unwrap_or(json!(true));
    }
    json!({
        "id": id.to_string(), "type": kind, "guild_id": parent["guild_id"], "parent_id": parent["id"],
        "owner_id": owner_id.to_string(), "name": body.get("name").cloned().unwrap_or(json!("")),
        "last_message_id": null, "message_count": 0, "member_count": 1, "total_message_sent": 0,
        "rate_limit_per_user": body.get("rate_limit_per_user").cloned().unwrap_or(json!(0)),
        "flags": 0, "thread_metadata": metadata,
    })
}

pub fn dm_channel(id: u64, recipient: Value) -> Value {
    json!({ "id": id.to_string(), "type": 1, "last_message_id": null, "recipients": [recipient], "flags": 0 })
}

/// A registered application command from its create body.
pub fn command(id: u64, cfg: &FakeConfig, guild_id: Option<u64>, body: &Value) -> Value {
    let mut cmd = body.clone();
    cmd["id"] = json!(id.to_string());
    cmd["application_id"] = json!(cfg.application_id.to_string());
    cmd["version"] = json!(id.to_string());
    if let Some(guild) = guild_id {
        cmd["guild_id"] = json!(guild.to_string());
    }
    let defaults = [
        ("type", json!(1)),
        ("description", json!("")),
        ("nsfw", json!(false)),
    ];
    for (key, default) in defaults {
        if cmd.get(key).is_none_or(Value::is_null) {
            cmd[key] = default;
        }
    }
    if cmd.get("default_member_permissions").is_none() {
        cmd["default_member_permissions"] = Value::Null;
    }
    cmd
}

/// `GET /oauth2/applications/@me`.
pub fn application(cfg: &FakeConfig) -> Value {
    json!({
        "id": cfg.application_id.to_string(), "name": cfg.bot_username, "icon": null,
        "description": "", "bot_public": false, "bot_require_code_grant": false,
        "verify_key": "0".repeat(64), "owner": user(cfg.owner_user_id, Some("owner"), false),
        "team": null, "flags": 0, "rpc_origins": [], "bot": bot_user(cfg),
    })
}

/// A role object (with the `colors` serenity 0.12.5 requires).
pub fn role(id: u64, name: &str, permissions: u64, position: u64) -> Value {
    json!({
        "id": id.to_string(), "name": name, "color": 0,
        "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
        "hoist": false, "icon": null, "unicode_emoji": null, "position": position,
        "permissions": permissions.to_string(), "managed": false, "mentionable": false, "flags": 0,
    })
}

/// View channel, send messages, read message history.
pub const EVERYONE_PERMISSIONS: u64 = (1 << 10) | (1 << 11) | (1 << 16);
/// Every permission bit Discord defines today, administrator included.
pub const ALL_PERMISSIONS: u64 = (1 << 51) - 1;

/// `GUILD_CREATE` for the configured guild: @everyone, a bot role with every permission, the
/// bot as a member, the configured text channel and the threads created so far.
pub fn guild_create(cfg: &FakeConfig, channels: Vec<Value>, threads: Vec<Value>) -> Value {
    let bot_role = cfg.guild_id + 1;
    let mut bot = member(bot_user(cfg), &[bot_role]);
    bot["guild_id"] = json!(cfg.guild_id.to_string());
    let mut guild = json!({
        "id": cfg.guild_id.to_string(), "name": "Fake SOC", "icon": null, "icon_hash": null,
        "splash": null, "discovery_splash": null, "owner_id": cfg.owner_user_id.to_string(),
        "afk_channel_id": null, "afk_timeout": 300, "widget_enabled": false,
        "verification_level": 0, "default_message_notifications": 1, "explicit_content_filter": 0,
        "roles": [role(cfg.guild_id, "@everyone", EVERYONE_PERMISSIONS, 0), role(bot_role, "socbot", ALL_PERMISSIONS, 1)],
        "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
        "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
    });
    let rest = json!({
        "vanity_url_code": null, "description": null, "banner": null, "premium_tier": 0,
        "premium_subscription_count": 0, "preferred_locale": "en-US",
        "public_updates_channel_id": null, "nsfw_level": 0, "stickers": [],
        "premium_progress_bar_enabled": false, "safety_alerts_channel_id": null,
        "joined_at": "2024-01-01T00:00:00.000Z", "large": false, "unavailable": false,
        "member_count": 2, "voice_states": [], "members": [bot], "channels": channels,
        "threads": threads, "presences": [], "stage_instances": [], "guild_scheduled_events": [],
    });
    for (key, value) in rest.as_object().into_iter().flatten() {
        guild[key] = value.clone();
    }
    guild
}

/// A Discord error body: `{"code":…,"message":…}` plus `errors` when given.
pub fn error(code: u32, message: &str, errors: Option<Value>) -> Value {
    let mut body = json!({ "code": code, "message": message });
    if let Some(errors) = errors {
        body["errors"] = errors;
    }
    body
}
