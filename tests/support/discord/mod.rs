//! `FakeDiscord`: a Discord-compatible REST API and gateway on loopback for whole-bot tests.
//!
//! Start it, point the bot at `api_base()` (serenity `HttpBuilder::proxy` with the ratelimiter
//! disabled), send interactions, wait for what the bot does, and end with `assert_clean()`:
//! every request body is validated against Discord's OpenAPI spec, and unknown routes and
//! protocol errors (double acknowledgement, follow-up before acknowledging, a late answer, a
//! wrong application id, an empty message, …) are reported as violations.
//!
//! ```text
//! let fake = FakeDiscord::start().await;             // REST + gateway on 127.0.0.1
//! // start socbot with discord.api_base = fake.api_base(), token = fake.token()
//! fake.wait_identified().await;
//! let answer = fake.interact(Interaction::slash_command("playbook", json!([opt_str("id", "T1583.006")]))).await;
//! assert_eq!(answer["type"], 4);
//! let thread = fake.wait_for_request("POST", "/channels/*/messages/*/threads").await;
//! fake.assert_clean();
//! ```
//!
//! Channels the bot uses must be known: the seeded `channel_id()`, channels of interactions
//! sent, threads and DMs it created, or `add_text_channel` for ones from the bot's config.
//! Waits use wall-clock deadlines, so they hold under `tokio::time::pause()`.

pub mod faults;
pub mod gateway;
mod http1;
mod inspect;
mod interactions;
mod limits;
mod messages;
mod multipart;
mod objects;
pub mod payloads;
pub mod probe;
mod rest;
mod routes;
mod schema;
pub mod spec;
pub mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;

use gateway::IdentifyInfo;
use payloads::Interaction;
use state::{InteractionRecord, Shared, State};

/// Identities and behaviour of a fake Discord. `Default` gives fixed ids and a seeded text
/// channel `#soc`.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The bot token the fake accepts (without `Bot `).
    pub token: String,
    pub application_id: u64,
    pub bot_user_id: u64,
    pub bot_username: String,
    pub owner_user_id: u64,
    pub guild_id: u64,
    /// A text channel in the guild that exists from the start.
    pub channel_id: u64,
    /// The user who sends interactions unless a builder says otherwise.
    pub default_user_id: u64,
    pub heartbeat_interval_ms: u64,
    /// Send GUILD_CREATE after READY when the bot asked for the GUILDS intent, like Discord.
    pub guild_create_on_ready: bool,
    /// Answer a body that violates the spec with 400 Invalid Form Body, like Discord.
    pub reject_invalid_bodies: bool,
    /// How long after dispatch an interaction callback is still accepted (Discord: 3 s).
    pub interaction_deadline: Duration,
    /// Default timeout of the `wait_*` helpers.
    pub wait_timeout: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            token: "fake-bot-token".into(),
            application_id: 1_100_000_000_000_000_001,
            bot_user_id: 1_100_000_000_000_000_002,
            bot_username: "socbot".into(),
            owner_user_id: 1_100_000_000_000_000_003,
            guild_id: 1_100_000_000_000_000_010,
            channel_id: 1_100_000_000_000_000_020,
            default_user_id: 1_100_000_000_000_000_100,
            heartbeat_interval_ms: 41_250,
            guild_create_on_ready: true,
            reject_invalid_bodies: true,
            interaction_deadline: Duration::from_secs(3),
            wait_timeout: Duration::from_secs(15),
        }
    }
}

/// The segment size of a path across Ethernet: the bot's connections to Discord have it.
const INTERNET_MSS: u32 = 1460;

/// A listener on 127.0.0.1 whose connections carry segments no larger than an Internet path's
/// ([`INTERNET_MSS`]), not loopback's 64 KiB. With loopback's, a receiver whose window shrinks
/// below half its largest (serenity's gateway socket, its buffer never grown) leaves the
/// sender holding a segment that no longer fits, until its 200 ms persist timer: every event
/// after it waits, an artefact a connection to Discord never has.
fn listen() -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_tcp_mss(INTERNET_MSS)?;
    socket.set_nonblocking(true)?;
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// A running fake Discord. Cheap to clone; its tasks end with the test's runtime.
#[derive(Clone, Debug)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
}

impl FakeDiscord {
    /// Starts with `FakeConfig::default()`.
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    /// Binds the REST and gateway listeners on 127.0.0.1 and serves them.
    pub async fn start_with(config: FakeConfig) -> Self {
        let rest = listen().expect("fake-discord: bind REST listener");
        let gateway = listen().expect("fake-discord: bind gateway listener");
        let addrs = (
            rest.local_addr().expect("REST address"),
            gateway.local_addr().expect("gateway address"),
        );
        let shared = Arc::new(Shared::new(config, addrs.0, addrs.1));
        {
            let cfg = &shared.config;
            shared.lock().channels.insert(
                cfg.channel_id,
                objects::text_channel(cfg.channel_id, cfg.guild_id, "soc"),
            );
        }
        spec::spec(); // load the spec now, not inside the first request
        tokio::spawn(rest::serve(rest, Arc::clone(&shared)));
        tokio::spawn(gateway::serve(gateway, Arc::clone(&shared)));
        Self { shared }
    }

    /// Starts with `config` on a thread of its own (`fake-discord`, with a single-thread
    /// runtime) instead of the caller's runtime: its CPU time is then told apart from the
    /// bot's by thread (`/proc/self/task`), as the concurrency bench does. Waits and
    /// inspection work as with [`FakeDiscord::start_with`].
    pub async fn start_apart(config: FakeConfig) -> Self {
        let (started, fake) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("fake-discord".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake-discord: a runtime of its own");
                runtime.block_on(async move {
                    let _ = started.send(Self::start_with(config).await);
                    // Serve until the process ends.
                    std::future::pending::<()>().await;
                });
            })
            .expect("fake-discord: start its thread");
        fake.await.expect("fake-discord: started on its thread")
    }

    /// What the fake has cost so far (REST requests, their spec and limit checks, gateway
    /// frames): wall time inside its own synchronous work, which is CPU time unless the thread
    /// was preempted. For the benches, which run it in the bot's process.
    pub fn cost(&self) -> state::CostSnapshot {
        self.shared.cost.read()
    }

    /// Whether request bodies are validated (false when the spec file is missing).
    pub fn validates_bodies(&self) -> bool {
        spec::spec().is_some()
    }

    /// `http://127.0.0.1:PORT`, for `HttpBuilder::proxy` and socbot's `discord.api_base`.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.shared.rest_addr)
    }

    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.shared.gateway_addr)
    }

    pub fn config(&self) -> &FakeConfig {
        &self.shared.config
    }

    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    pub fn application_id(&self) -> u64 {
        self.shared.config.application_id
    }

    pub fn bot_user_id(&self) -> u64 {
        self.shared.config.bot_user_id
    }

    pub fn guild_id(&self) -> u64 {
        self.shared.config.guild_id
    }

    pub fn channel_id(&self) -> u64 {
        self.shared.config.channel_id
    }

    // ---- gateway ----

    /// Waits for the first IDENTIFY (READY has been sent when this returns).
    pub async fn wait_identified(&self) -> IdentifyInfo {
        self.wait_identify_count(1).await
    }

    /// Waits until the bot has identified `n` times in all (e.g. after a restart); returns the last.
    pub async fn wait_identify_count(&self, n: usize) -> IdentifyInfo {
        let what = format!("IDENTIFY number {n} on the gateway");
        self.shared
            .wait_until(&what, self.shared.config.wait_timeout, |s| {
                (s.gateway.identifies.len() >= n).then(|| s.gateway.identifies[n - 1].clone())
            })
            .await
    }

    pub fn identifies(&self) -> Vec<IdentifyInfo> {
        self.shared.lock().gateway.identifies.clone()
    }

    pub fn resumes(&self) -> u64 {
        self.shared.lock().gateway.resumes
    }

    /// Waits until the bot has resumed `n` sessions in all.
    pub async fn wait_resume_count(&self, n: u64) {
        let what = format!("RESUME number {n} on the gateway");
        self.shared
            .wait_until(&what, self.shared.config.wait_timeout, |s| {
                (s.gateway.resumes >= n).then_some(())
            })
            .await;
    }

    /// Waits until the fake has acknowledged `n` heartbeats in all.
    pub async fn wait_heartbeat_count(&self, n: u64) {
        let what = format!("heartbeat number {n} on the gateway");
        let timeout = self.shared.config.wait_timeout;
        self.shared
            .wait_until(&what, timeout, |s| {
                (s.gateway.heartbeats >= n).then_some(())
            })
            .await;
    }

    pub fn heartbeats(&self) -> u64 {
        self.shared.lock().gateway.heartbeats
    }

    /// Dispatches `event` with `d` on the bot's session (waiting for one); returns its `s`.
    pub async fn dispatch(&self, event: &str, d: Value) -> u64 {
        let what = format!("a connected gateway session to dispatch {event}");
        self.shared
            .wait_until(&what, self.shared.config.wait_timeout, |state| {
                if !state.gateway.connected() {
                    return None;
                }
                state.gateway.dispatch(&self.shared.cost, event, &d)
            })
            .await
    }

    /// Closes the bot's gateway connection: resumable (close 4000, the bot resumes) or not
    /// (op 9 invalid session, the bot identifies again). False when none is connected.
    pub fn disconnect_gateway(&self, resumable: bool) -> bool {
        let done = self.shared.lock().gateway.disconnect(resumable);
        self.shared.changed();
        done
    }

    /// Dispatches INTERACTION_CREATE built from `interaction`; returns its `(id, token)`.
    /// The payload is built once and the frame written from it; the interaction's record keeps
    /// the payload and, apart, the message a component was used on, shared with the sender's.
    pub async fn send_interaction(&self, interaction: Interaction) -> (u64, String) {
        let cfg = &self.shared.config;
        let kind = interaction.kind();
        let user = interaction.acting_user(cfg);
        let (id, token, (payload, message)) = {
            let mut state = self.shared.lock();
            let id = state.ids.next();
            let token = format!("fake-interaction-token-{id}");
            let channel = self.interaction_channel(&mut state, &interaction);
            let name = interaction.command_name().unwrap_or_default();
            let registered = state
                .guild_commands
                .values()
                .flatten()
                .chain(&state.global_commands)
                .find(|c| c["name"] == name);
            let command_id = registered.and_then(|c| c["id"].as_str()?.parse().ok());
            let command_id = command_id.unwrap_or_else(|| state.ids.next());
            (
                id,
                token.clone(),
                interaction.build(id, &token, command_id, cfg, &channel),
            )
        };
        let mut member = (objects::snowflake_of(&payload["guild_id"]) == Some(cfg.guild_id))
            .then(|| payload["member"].clone())
            .filter(|m| !m.is_null());
        if let Some(m) = member.as_mut().and_then(Value::as_object_mut) {
            m.remove("permissions");
        }
        let mut record = Some(InteractionRecord {
            id,
            token: token.clone(),
            kind,
            channel_id: payload["channel_id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            payload,
            message,
            sent_at: Instant::now(),
            acked: None,
            original: None,
            webhook_messages: Vec::new(),
        });
        let what = "a connected gateway session to dispatch INTERACTION_CREATE";
        self.shared
            .wait_until(what, cfg.wait_timeout, |state| {
                if !state.gateway.connected() {
                    return None;
                }
                let mut record = record.take()?;
                record.sent_at = Instant::now();
                let sent = payloads::WithMessage {
                    payload: &record.payload,
                    message: record.message.as_deref(),
                };
                let seq = state
                    .gateway
                    .dispatch(&self.shared.cost, "INTERACTION_CREATE", &sent);
                state.interactions.insert(id, record);
                if let Some(member) = member.take() {
                    state.members.insert(user, member);
                }
                seq
            })
            .await;
        (id, token)
    }

    /// Sends `interaction` and waits for the bot's callback; returns its body (`{type, data}`).
    pub async fn interact(&self, interaction: Interaction) -> Value {
        let (id, _token) = self.send_interaction(interaction).await;
        self.interaction_response(id).await
    }

    /// The partial channel object the interaction carries (the channel is made when unknown).
    fn interaction_channel(&self, state: &mut State, interaction: &Interaction) -> Value {
        let cfg = &self.shared.config;
        if interaction.is_dm() && interaction.channel_id().is_none() {
            let user = interaction.acting_user(cfg);
            let id = *state
                .dm_channels
                .entry(user)
                .or_insert_with(|| state.ids.next());
            let channel = state
                .channels
                .entry(id)
                .or_insert_with(|| objects::dm_channel(id, objects::user(user, None, false)));
            return payloads::partial_channel(channel);
        }
        let id = interaction.channel_id().unwrap_or(cfg.channel_id);
        let channel = state
            .channels
            .entry(id)
            .or_insert_with(|| objects::text_channel(id, cfg.guild_id, &format!("channel-{id}")));
        payloads::partial_channel(channel)
    }

    /// Dispatches an interaction sent before once more, same id and token (a duplicate delivery).
    pub async fn resend_interaction(&self, id: u64) -> u64 {
        let payload = self
            .shared
            .lock()
            .interactions
            .get(&id)
            .map(InteractionRecord::sent_payload);
        let payload =
            payload.unwrap_or_else(|| panic!("fake-discord: interaction {id} was never sent"));
        self.dispatch("INTERACTION_CREATE", payload).await
    }
}
