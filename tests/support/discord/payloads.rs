//! Builders for INTERACTION_CREATE payloads with every field serenity 0.12.5 requires.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use super::FakeConfig;
use super::objects;

/// A string option (`type` 3) for a slash command's `options`.
pub fn opt_str(name: &str, value: &str) -> Value {
    json!({ "name": name, "type": 3, "value": value })
}

/// An integer option (`type` 4).
pub fn opt_int(name: &str, value: i64) -> Value {
    json!({ "name": name, "type": 4, "value": value })
}

/// A boolean option (`type` 5).
pub fn opt_bool(name: &str, value: bool) -> Value {
    json!({ "name": name, "type": 5, "value": value })
}

/// The partial channel an interaction carries: id, type, and name, guild, parent and thread
/// metadata when the channel has them.
pub fn partial_channel(channel: &Value) -> Value {
    let mut partial = json!({ "id": channel["id"], "type": channel["type"] });
    for key in ["name", "guild_id", "parent_id", "thread_metadata"] {
        if let Some(value) = channel.get(key).filter(|v| !v.is_null()) {
            partial[key] = value.clone();
        }
    }
    partial
}

/// Where the interaction happens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Place {
    /// The configured guild.
    #[default]
    Guild,
    OtherGuild(u64),
    /// The user's DM with the bot.
    Dm,
}

/// An interaction the test sends with `FakeDiscord::send_interaction`. Defaults: the configured
/// guild, channel and user, no roles, locale `en-US`.
#[derive(Clone, Debug)]
pub struct Interaction {
    kind: u8,
    data: Value,
    /// Shared: a bench pressing buttons on the same message does not copy it per press.
    message: Option<Arc<Value>>,
    user_id: Option<u64>,
    username: Option<String>,
    roles: Vec<u64>,
    place: Place,
    channel_id: Option<u64>,
    locale: String,
}

impl Interaction {
    fn new(kind: u8, data: Value) -> Self {
        Self {
            kind,
            data,
            message: None,
            user_id: None,
            username: None,
            roles: Vec::new(),
            place: Place::Guild,
            channel_id: None,
            locale: "en-US".into(),
        }
    }

    /// `/name` with `options` (a JSON array, e.g. `json!([opt_str("id", "T1583.006")])`).
    pub fn slash_command(name: &str, options: Value) -> Self {
        Self::new(2, json!({ "name": name, "type": 1, "options": options }))
    }

    /// `/name` without options.
    pub fn command(name: &str) -> Self {
        Self::slash_command(name, json!([]))
    }

    /// `/name sub` with the subcommand's `options`.
    pub fn subcommand(name: &str, sub: &str, options: Value) -> Self {
        Self::slash_command(
            name,
            json!([{ "name": sub, "type": 1, "options": options }]),
        )
    }

    /// Autocomplete for `/name`: `focused` is the option path, `option`, `sub.option` or
    /// `group.sub.option`, and `value` what the user has typed so far.
    pub fn autocomplete(name: &str, focused: &str, value: &str) -> Self {
        let mut path: Vec<&str> = focused.split('.').collect();
        let option = path.pop().unwrap_or_default();
        let mut options = json!([{ "name": option, "type": 3, "value": value, "focused": true }]);
        for (depth, wrapper) in path.iter().enumerate().rev() {
            let kind = if path.len() == 2 && depth == 0 { 2 } else { 1 };
            options = json!([{ "name": wrapper, "type": kind, "options": options }]);
        }
        let mut it = Self::slash_command(name, options);
        it.kind = 4;
        it
    }

    /// A message component: `component_type` 2 button, 3 string select (5–8 other selects),
    /// `values` for selects, on `message` (a full message object, e.g. `fake.message(id)`).
    pub fn component(
        custom_id: &str,
        component_type: u8,
        values: &[&str],
        message: &Value,
    ) -> Self {
        Self::component_on(custom_id, component_type, values, Arc::new(message.clone()))
    }

    /// As [`Interaction::component`], on a message held shared (not copied per use).
    fn component_on(
        custom_id: &str,
        component_type: u8,
        values: &[&str],
        message: Arc<Value>,
    ) -> Self {
        let mut data = json!({ "custom_id": custom_id, "component_type": component_type });
        if component_type != 2 {
            data["values"] = json!(values);
        }
        let mut it = Self::new(3, data);
        it.message = Some(message);
        it
    }

    /// A button press on `message`.
    pub fn button(custom_id: &str, message: &Value) -> Self {
        Self::component(custom_id, 2, &[], message)
    }

    /// A button press on a message held shared: the same payload as [`Interaction::button`],
    /// without a copy of the message per press (the benches press thousands).
    pub fn button_on(custom_id: &str, message: Arc<Value>) -> Self {
        Self::component_on(custom_id, 2, &[], message)
    }

    /// A modal submit: `fields` are `(custom_id, value)` of its text inputs, one per row.
    pub fn modal_submit(custom_id: &str, fields: &[(&str, &str)]) -> Self {
        let rows: Vec<Value> = fields
            .iter()
            .map(|(id, value)| json!({ "type": 1, "components": [{ "type": 4, "custom_id": id, "value": value }] }))
            .collect();
        Self::new(5, json!({ "custom_id": custom_id, "components": rows }))
    }

    /// The user who acts (default: the configured analyst).
    pub fn user(mut self, id: u64) -> Self {
        self.user_id = Some(id);
        self
    }

    pub fn username(mut self, name: &str) -> Self {
        self.username = Some(name.to_owned());
        self
    }

    /// The acting member's role ids.
    pub fn roles(mut self, roles: &[u64]) -> Self {
        self.roles = roles.to_vec();
        self
    }

    /// Another guild than the configured one.
    pub fn guild(mut self, guild_id: u64) -> Self {
        self.place = Place::OtherGuild(guild_id);
        self
    }

    /// In the user's DM with the bot (no guild, no member).
    pub fn dm(mut self) -> Self {
        self.place = Place::Dm;
        self
    }

    /// The channel it happens in (default: the configured channel; a thread works too).
    pub fn channel(mut self, channel_id: u64) -> Self {
        self.channel_id = Some(channel_id);
        self
    }

    pub fn locale(mut self, locale: &str) -> Self {
        self.locale = locale.to_owned();
        self
    }

    /// The message a modal was opened from (modal submits from a component carry it).
    pub fn on_message(mut self, message: &Value) -> Self {
        self.message = Some(Arc::new(message.clone()));
        self
    }

    pub fn kind(&self) -> u8 {
        self.kind
    }

    pub fn command_name(&self) -> Option<&str> {
        if matches!(self.kind, 2 | 4) {
            self.data["name"].as_str()
        } else {
            None
        }
    }

    pub fn is_dm(&self) -> bool {
        self.place == Place::Dm
    }

    pub fn acting_user(&self, cfg: &FakeConfig) -> u64 {
        self.user_id.unwrap_or(cfg.default_user_id)
    }

    pub fn channel_id(&self) -> Option<u64> {
        self.channel_id
    }

    /// The payload, and apart from it the message a component or modal was used on (the two
    /// are sent together: see [`WithMessage`]); `channel` is the channel object it happens in.
    /// Consumes the builder (its data moves into the payload, uncopied).
    pub fn build(
        self,
        id: u64,
        token: &str,
        command_id: u64,
        cfg: &FakeConfig,
        channel: &Value,
    ) -> (Value, Option<Arc<Value>>) {
        let user_id = self.acting_user(cfg);
        let user = objects::user(user_id, self.username.as_deref(), false);
        let mut data = self.data;
        if matches!(self.kind, 2 | 4) {
            data["id"] = json!(command_id.to_string());
        }
        let partial_channel = partial_channel(channel);
        let mut payload = json!({
            "id": id.to_string(), "application_id": cfg.application_id.to_string(), "type": self.kind,
            "data": data, "channel_id": channel["id"], "channel": partial_channel, "token": token,
            "version": 1, "locale": self.locale, "entitlements": [], "attachment_size_limit": 26_214_400,
            "app_permissions": objects::ALL_PERMISSIONS.to_string(),
        });
        match self.place {
            Place::Dm => {
                payload["user"] = user;
                payload["context"] = json!(1);
                payload["authorizing_integration_owners"] =
                    json!({ "0": cfg.guild_id.to_string() });
            }
            Place::Guild | Place::OtherGuild(_) => {
                let guild_id = if let Place::OtherGuild(g) = self.place {
                    g
                } else {
                    cfg.guild_id
                };
                let mut member = objects::member(user, &self.roles);
                member["permissions"] = json!(objects::EVERYONE_PERMISSIONS.to_string());
                payload["guild_id"] = json!(guild_id.to_string());
                payload["guild_locale"] = json!("en-US");
                payload["member"] = member;
                payload["context"] = json!(0);
                payload["authorizing_integration_owners"] = json!({ "0": guild_id.to_string() });
            }
        }
        (payload, self.message)
    }
}

/// An interaction's payload as dispatched: its fields, and `message` when it was used on one.
pub struct WithMessage<'a> {
    pub payload: &'a Value,
    pub message: Option<&'a Value>,
}

impl Serialize for WithMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (Some(message), Some(fields)) = (self.message, self.payload.as_object()) else {
            return self.payload.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(fields.len() + 1))?;
        for (key, value) in fields.iter().filter(|(key, _)| *key != "message") {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("message", message)?;
        map.end()
    }
}
