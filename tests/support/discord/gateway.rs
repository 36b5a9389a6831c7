//! The fake gateway websocket: HELLO, IDENTIFY → READY, heartbeats, RESUME, and dispatches.

use std::collections::HashMap;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::objects;
use super::state::{Cost, Shared, State};

/// What the bot sent in an IDENTIFY.
#[derive(Clone, Debug)]
pub struct IdentifyInfo {
    /// The token without its `Bot ` prefix.
    pub token: String,
    pub intents: u64,
    /// `[shard_id, num_shards]` when sent.
    pub shard: Option<(u64, u64)>,
    /// The session the fake started for it.
    pub session_id: String,
    /// The whole `d` of the IDENTIFY.
    pub raw: Value,
}

/// Something for a connection's writer to do: a frame is JSON text, written once.
#[derive(Debug)]
enum Outgoing {
    Frame(String),
    Close(u16),
}

/// A dispatch frame as Discord sends it (`op` 0), serialized straight from the event's data:
/// neither the data nor the frame is copied into another `Value` on the way.
#[derive(serde::Serialize)]
struct DispatchFrame<'a, D: serde::Serialize + ?Sized> {
    d: &'a D,
    op: u8,
    s: u64,
    t: &'a str,
}

#[derive(Debug)]
struct Session {
    seq: u64,
    /// The frames sent, with their sequence numbers (a RESUME replays those it missed).
    events: Vec<(u64, String)>,
    /// The live connection carrying this session: its id and writer.
    conn: Option<(u64, mpsc::UnboundedSender<Outgoing>)>,
    invalid: bool,
}

/// Gateway sessions and what happened on them.
#[derive(Debug, Default)]
pub struct GatewayState {
    pub identifies: Vec<IdentifyInfo>,
    pub resumes: u64,
    pub heartbeats: u64,
    sessions: HashMap<String, Session>,
    active: Option<String>,
    next_conn: u64,
}

impl GatewayState {
    /// Whether the newest session has a live connection that events can be sent on.
    pub fn connected(&self) -> bool {
        self.active_session().is_some_and(|s| s.conn.is_some())
    }

    fn active_session(&self) -> Option<&Session> {
        self.sessions.get(self.active.as_ref()?)
    }

    /// Sends a dispatch on the active session; returns its sequence number.
    pub fn dispatch(
        &mut self,
        cost: &Cost,
        event: &str,
        d: &(impl serde::Serialize + ?Sized),
    ) -> Option<u64> {
        let session = self.sessions.get_mut(self.active.as_ref()?)?;
        Some(push(session, cost, event, d))
    }

    /// Closes the active connection with `code` (4000: the bot resumes), or with an invalid
    /// session first when `resumable` is false (the bot identifies again).
    pub fn disconnect(&mut self, resumable: bool) -> bool {
        let Some(session) = self
            .active
            .as_ref()
            .and_then(|id| self.sessions.get_mut(id))
        else {
            return false;
        };
        let Some((_, conn)) = session.conn.take() else {
            return false;
        };
        if resumable {
            let _ = conn.send(Outgoing::Close(4000));
        } else {
            session.invalid = true;
            let _ = conn.send(Outgoing::Frame(json!({ "op": 9, "d": false }).to_string()));
        }
        true
    }
}

fn push(
    session: &mut Session,
    cost: &Cost,
    event: &str,
    d: &(impl serde::Serialize + ?Sized),
) -> u64 {
    let started = std::time::Instant::now();
    session.seq += 1;
    let frame = DispatchFrame {
        d,
        op: 0,
        s: session.seq,
        t: event,
    };
    let text = serde_json::to_string(&frame).expect("a JSON payload serializes");
    if let Some((_, conn)) = &session.conn {
        let _ = conn.send(Outgoing::Frame(text.clone()));
    }
    session.events.push((session.seq, text));
    cost.frames
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Cost::add(&cost.gateway_ns, started);
    session.seq
}

/// Accepts gateway connections until the runtime ends.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(tcp, Arc::clone(&shared)));
    }
}

async fn connection(tcp: TcpStream, shared: Arc<Shared>) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn_id = {
        let mut state = shared.lock();
        state.gateway.next_conn += 1;
        state.gateway.next_conn
    };
    let hello =
        json!({ "op": 10, "d": { "heartbeat_interval": shared.config.heartbeat_interval_ms } });
    if sink.send(Message::Text(hello.to_string())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => on_frame(&shared, conn_id, &tx, &text),
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            outgoing = rx.recv() => match outgoing {
                Some(Outgoing::Frame(frame)) => {
                    let started = std::time::Instant::now();
                    let sent = sink.send(Message::Text(frame)).await;
                    Cost::add(&shared.cost.sending_ns, started);
                    if sent.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: "fake-discord".into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                None => break,
            },
        }
    }
    let mut state = shared.lock();
    for session in state.gateway.sessions.values_mut() {
        if session.conn.as_ref().is_some_and(|(id, _)| *id == conn_id) {
            session.conn = None;
        }
    }
    drop(state);
    shared.changed();
}

fn on_frame(shared: &Shared, conn_id: u64, tx: &mpsc::UnboundedSender<Outgoing>, text: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let d = frame.get("d").cloned().unwrap_or(Value::Null);
    let mut state = shared.lock();
    match frame.get("op").and_then(Value::as_u64) {
        Some(1) => {
            state.gateway.heartbeats += 1;
            let _ = tx.send(Outgoing::Frame(json!({ "op": 11 }).to_string()));
        }
        Some(2) => identify(shared, &mut state, conn_id, tx, d),
        Some(6) => resume(&mut state, &shared.cost, (conn_id, tx), &d),
        _ => {}
    }
    drop(state);
    shared.changed();
}

fn identify(
    shared: &Shared,
    state: &mut State,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Outgoing>,
    d: Value,
) {
    let cfg = &shared.config;
    let gateway = &mut state.gateway;
    let session_id = format!("fake-session-{}", gateway.identifies.len() + 1);
    let token = d.get("token").and_then(Value::as_str).unwrap_or_default();
    let shard = d
        .get("shard")
        .and_then(Value::as_array)
        .and_then(|s| Some((s.first()?.as_u64()?, s.get(1)?.as_u64()?)));
    let info = IdentifyInfo {
        token: token.strip_prefix("Bot ").unwrap_or(token).to_owned(),
        intents: d.get("intents").and_then(Value::as_u64).unwrap_or(0),
        shard,
        session_id: session_id.clone(),
        raw: d,
    };
    let intents = info.intents;
    gateway.identifies.push(info);
    let mut session = Session {
        seq: 0,
        events: Vec::new(),
        conn: Some((conn_id, tx.clone())),
        invalid: false,
    };
    let ready = json!({
        "v": 10, "user": objects::bot_user(cfg), "guilds": [{ "id": cfg.guild_id.to_string(), "unavailable": true }],
        "session_id": session_id, "resume_gateway_url": format!("ws://{}", shared.gateway_addr),
        "shard": [shard.map_or(0, |s| s.0), shard.map_or(1, |s| s.1)],
        "application": { "id": cfg.application_id.to_string(), "flags": 0 },
        "private_channels": [], "relationships": [], "presences": [],
    });
    push(&mut session, &shared.cost, "READY", &ready);
    if cfg.guild_create_on_ready && intents & 1 == 1 {
        let channels: Vec<Value> = state
            .channels
            .values()
            .filter(|c| c["type"] == 0)
            .cloned()
            .collect();
        let threads: Vec<Value> = state
            .channels
            .values()
            .filter(|c| c["type"] == 11 || c["type"] == 12)
            .cloned()
            .collect();
        push(
            &mut session,
            &shared.cost,
            "GUILD_CREATE",
            &objects::guild_create(cfg, channels, threads),
        );
    }
    let gateway = &mut state.gateway;
    gateway.sessions.insert(session_id.clone(), session);
    gateway.active = Some(session_id);
}

fn resume(
    state: &mut State,
    cost: &Cost,
    (conn_id, tx): (u64, &mpsc::UnboundedSender<Outgoing>),
    d: &Value,
) {
    let gateway = &mut state.gateway;
    let session_id = d
        .get("session_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let after = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let Some(session) = gateway.sessions.get_mut(&session_id).filter(|s| !s.invalid) else {
        let _ = tx.send(Outgoing::Frame(json!({ "op": 9, "d": false }).to_string()));
        return;
    };
    session.conn = Some((conn_id, tx.clone()));
    for (_, frame) in session.events.iter().filter(|(s, _)| *s > after) {
        let _ = tx.send(Outgoing::Frame(frame.clone()));
    }
    push(session, cost, "RESUMED", &json!({}));
    gateway.resumes += 1;
    gateway.active = Some(session_id);
}
