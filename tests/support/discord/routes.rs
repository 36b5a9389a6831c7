//! REST routes other than messages: gateway, users, DMs, channels, threads, commands.

use serde_json::{Value, json};

use super::messages;
use super::objects;
use super::rest::{ApiRequest, Reply};
use super::state::{Shared, State};

/// A route's outcome: `Err` carries an error reply, so handlers can use `?`.
pub type Answer = Result<Reply, Reply>;

/// Answers `req`, or `None` when no route matches.
pub fn route(shared: &Shared, state: &mut State, req: &ApiRequest) -> Option<Reply> {
    let cfg = &shared.config;
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let no_auth = matches!(segments.first(), Some(&("webhooks" | "interactions")));
    let auth = req.headers.get("authorization").map(String::as_str);
    if !no_auth && auth != Some(format!("Bot {}", cfg.token).as_str()) {
        let problem = format!("authorization header {auth:?} is not `Bot <the fake's token>`");
        return Some(Reply::error(401, 0, "401: Unauthorized", problem));
    }
    let null = Value::Null;
    let body = req.body.as_ref().unwrap_or(&null);
    let gateway_url = format!("ws://{}", shared.gateway_addr);
    let answer = match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) => Ok(Reply::json(200, json!({ "url": gateway_url }))),
        ("GET", ["gateway", "bot"]) => Ok(Reply::json(
            200,
            json!({ "url": gateway_url, "shards": 1, "session_start_limit":
                { "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1 } }),
        )),
        ("GET", ["users", "@me"]) => Ok(Reply::json(200, objects::bot_user(cfg))),
        ("GET", ["oauth2", "applications", "@me"]) => {
            Ok(Reply::json(200, objects::application(cfg)))
        }
        ("POST", ["users", "@me", "channels"]) => open_dm(state, body),
        (method @ ("GET" | "PUT"), ["applications", app, "commands"]) => {
            commands(shared, state, method, app, None, body)
        }
        (method @ ("GET" | "PUT"), ["applications", app, "guilds", guild, "commands"]) => {
            commands(shared, state, method, app, Some(guild), body)
        }
        ("GET", ["channels", channel]) => channel_of(state, channel).map(|c| Reply::json(200, c)),
        ("PATCH", ["channels", channel]) => edit_channel(state, channel, body),
        ("DELETE", ["channels", channel]) => delete_channel(state, channel),
        ("POST", ["channels", channel, "threads"]) => {
            create_thread(shared, state, channel, None, body)
        }
        ("POST", ["channels", channel, "messages", message, "threads"]) => {
            create_thread(shared, state, channel, Some(message), body)
        }
        ("GET", ["guilds", guild, "threads", "active"]) => active_threads(shared, state, guild),
        ("GET", ["guilds", guild, "members", user]) => member_of(shared, state, guild, user),
        ("POST", ["channels", channel, "typing"]) => {
            channel_of(state, channel).map(|_| Reply::empty())
        }
        _ => return messages::route(shared, state, req, &segments),
    };
    Some(answer.unwrap_or_else(|e| e))
}

/// A member of the configured guild; 404 Unknown Member for anyone else.
fn member_of(shared: &Shared, state: &State, guild: &str, user: &str) -> Answer {
    let (guild, user) = (snowflake(guild)?, snowflake(user)?);
    let member = (guild == shared.config.guild_id)
        .then(|| state.members.get(&user))
        .flatten();
    match member {
        Some(m) => Ok(Reply::json(200, m.clone())),
        None => Err(Reply::json(
            404,
            objects::error(10007, "Unknown Member", None),
        )),
    }
}

/// Parses a snowflake path segment.
pub fn snowflake(segment: &str) -> Result<u64, Reply> {
    segment.parse().map_err(|_| {
        let problem = format!("{segment:?} in the path is not a snowflake");
        Reply::error(400, 50035, "Invalid Form Body", problem)
    })
}

/// A stored channel; 404 Unknown Channel when the fake never saw it (announce channels the bot
/// is configured with through `FakeDiscord::add_text_channel`).
pub fn channel_of(state: &State, segment: &str) -> Result<Value, Reply> {
    let id = snowflake(segment)?;
    match state.channels.get(&id) {
        Some(channel) if !state.deleted_channels.contains(&id) => Ok(channel.clone()),
        _ if state.deleted_channels.contains(&id) => Err(Reply::json(
            404,
            objects::error(10003, "Unknown Channel", None),
        )),
        _ => Err(Reply::error(
            404,
            10003,
            "Unknown Channel",
            format!("channel {id} was never shown to the bot"),
        )),
    }
}

fn open_dm(state: &mut State, body: &Value) -> Answer {
    let recipient = body.get("recipient_id").and_then(|v| {
        v.as_str()
            .map(str::to_owned)
            .or_else(|| v.as_u64().map(|n| n.to_string()))
    });
    let recipient = snowflake(&recipient.unwrap_or_default())?;
    let id = match state.dm_channels.get(&recipient) {
        Some(id) => *id,
        None => {
            let id = state.ids.next();
            state.channels.insert(
                id,
                objects::dm_channel(id, objects::user(recipient, None, false)),
            );
            state.dm_channels.insert(recipient, id);
            id
        }
    };
    Ok(Reply::json(200, state.channels[&id].clone()))
}

fn commands(
    shared: &Shared,
    state: &mut State,
    method: &str,
    app: &str,
    guild: Option<&str>,
    body: &Value,
) -> Answer {
    let cfg = &shared.config;
    if snowflake(app)? != cfg.application_id {
        return Err(Reply::error(
            403,
            50001,
            "Missing Access",
            format!("application id {app} is not the one from READY"),
        ));
    }
    let guild = guild.map(snowflake).transpose()?;
    if guild.is_some_and(|g| g != cfg.guild_id) {
        return Err(Reply::error(
            403,
            50001,
            "Missing Access",
            format!("guild {guild:?} is not the bot's guild"),
        ));
    }
    let State {
        ids,
        global_commands,
        guild_commands,
        ..
    } = state;
    let list = match guild {
        Some(g) => guild_commands.entry(g).or_default(),
        None => global_commands,
    };
    if method == "PUT" {
        let Some(wanted) = body.as_array() else {
            return Err(Reply::error(
                400,
                50035,
                "Invalid Form Body",
                "bulk overwrite body is not an array",
            ));
        };
        let same = |old: &Value, new: &Value| {
            old["name"] == new["name"]
                && old["type"] == new.get("type").cloned().unwrap_or(json!(1))
        };
        let made: Vec<Value> = wanted
            .iter()
            .map(|new| {
                let id = list
                    .iter()
                    .find(|old| same(old, new))
                    .and_then(|old| old["id"].as_str()?.parse().ok());
                objects::command(id.unwrap_or_else(|| ids.next()), cfg, guild, new)
            })
            .collect();
        *list = made;
    }
    Ok(Reply::json(200, Value::Array(list.clone())))
}

fn edit_channel(state: &mut State, segment: &str, body: &Value) -> Answer {
    let mut channel = channel_of(state, segment)?;
    for key in ["name", "topic", "rate_limit_per_user"] {
        if let Some(value) = body.get(key) {
            channel[key] = value.clone();
        }
    }
    if channel.get("thread_metadata").is_some() {
        let metadata = &mut channel["thread_metadata"];
        for key in ["archived", "locked", "auto_archive_duration", "invitable"] {
            if let Some(value) = body.get(key).filter(|v| !v.is_null()) {
                if key == "archived" && metadata[key] != *value {
                    metadata["archive_timestamp"] = json!(objects::now());
                }
                metadata[key] = value.clone();
            }
        }
    }
    let id = snowflake(segment)?;
    state.channels.insert(id, channel.clone());
    Ok(Reply::json(200, channel))
}

fn delete_channel(state: &mut State, segment: &str) -> Answer {
    let channel = channel_of(state, segment)?;
    state.deleted_channels.insert(snowflake(segment)?);
    Ok(Reply::json(200, channel))
}

/// The guild's threads that are neither archived nor deleted.
fn active_threads(shared: &Shared, state: &State, guild: &str) -> Answer {
    if snowflake(guild)? != shared.config.guild_id {
        return Err(Reply::error(
            403,
            50001,
            "Missing Access",
            format!("guild {guild} is not the bot's guild"),
        ));
    }
    let threads: Vec<Value> = state
        .channels
        .iter()
        .filter(|(id, c)| {
            [10, 11, 12].contains(&c["type"].as_u64().unwrap_or(0))
                && c["thread_metadata"]["archived"] != true
                && !state.deleted_channels.contains(id)
        })
        .map(|(_, c)| c.clone())
        .collect();
    Ok(Reply::json(
        200,
        json!({ "threads": threads, "members": [], "has_more": false }),
    ))
}

fn create_thread(
    shared: &Shared,
    state: &mut State,
    segment: &str,
    message: Option<&str>,
    body: &Value,
) -> Answer {
    let parent = channel_of(state, segment)?;
    let parent_kind = parent["type"].as_u64().unwrap_or(0);
    if ![0, 5].contains(&parent_kind) {
        let problem = format!("threads cannot be created in a channel of type {parent_kind}");
        return Err(Reply::error(
            400,
            50024,
            "Cannot execute action on this channel type",
            problem,
        ));
    }
    let (id, kind) = match message {
        None => (
            state.ids.next(),
            body.get("type").and_then(Value::as_u64).unwrap_or(12),
        ),
        Some(message) => {
            let message_id = snowflake(message)?;
            let Some(stored) = state
                .messages
                .get_mut(&message_id)
                .filter(|m| m["channel_id"] == parent["id"])
            else {
                return Err(Reply::json(
                    404,
                    objects::error(10008, "Unknown Message", None),
                ));
            };
            if stored.get("thread").is_some() || state.channels.contains_key(&message_id) {
                let problem = format!("a second thread for message {message_id}");
                return Err(Reply::error(
                    400,
                    160_004,
                    "A thread has already been created for this message",
                    problem,
                ));
            }
            stored["flags"] = json!(stored["flags"].as_u64().unwrap_or(0) | 32);
            (message_id, if parent_kind == 5 { 10 } else { 11 })
        }
    };
    let thread = objects::thread_channel(id, &parent, kind, body, shared.config.bot_user_id);
    if let Some(stored) = state.messages.get_mut(&id) {
        stored["thread"] = thread.clone();
    }
    state.channels.insert(id, thread.clone());
    Ok(Reply::json(201, thread))
}
