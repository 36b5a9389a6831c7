//! Shared state of the fake Discord server: recorded requests, stored objects and waiting on them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::Notify;

use super::FakeConfig;
use super::faults::{FaultKind, FaultState};
use super::gateway::GatewayState;

/// Discord's epoch (2015-01-01) in Unix milliseconds; snowflakes count from it.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// One file part of a multipart request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedFile {
    /// Form field name, e.g. `files[0]`.
    pub field: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// One REST request as the fake server saw it and answered it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Arrival order, from 1.
    pub seq: u64,
    pub method: String,
    /// Path without the `/api/v10` prefix, e.g. `/channels/1/messages`.
    pub path: String,
    /// Raw query string without `?` (serenity's may start with `&`).
    pub query: String,
    /// Headers of interest, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// JSON body, or the `payload_json` part of a multipart body.
    pub body: Option<Value>,
    /// File parts of a multipart body.
    pub files: Vec<UploadedFile>,
    /// Status the fake answered with (0 when the connection was dropped).
    pub status: u16,
    /// JSON the fake answered with.
    pub response: Option<Value>,
    /// Set when fault injection answered this request instead of the route.
    pub fault: Option<FaultKind>,
    /// Spec violations and protocol errors found in this request.
    pub violations: Vec<String>,
}

impl RecordedRequest {
    /// True when method (`*` for any) and path pattern match; see [`path_matches`].
    pub fn is(&self, method: &str, pattern: &str) -> bool {
        (method == "*" || self.method.eq_ignore_ascii_case(method))
            && path_matches(pattern, &self.path)
    }

    /// The JSON body; panics with the request when there is none.
    pub fn json(&self) -> &Value {
        self.body
            .as_ref()
            .unwrap_or_else(|| panic!("request has no JSON body: {}", self.summary()))
    }

    /// `content` of a message body, also inside an interaction callback's `data`.
    pub fn content(&self) -> Option<&str> {
        let body = self.body.as_ref()?;
        body.get("content")
            .or_else(|| body.get("data").and_then(|d| d.get("content")))
            .and_then(Value::as_str)
    }

    /// One line describing this request, for failure messages.
    pub fn summary(&self) -> String {
        let mut body = self.body.as_ref().map(Value::to_string).unwrap_or_default();
        if body.len() > 300 {
            let cut = (0..=300)
                .rev()
                .find(|i| body.is_char_boundary(*i))
                .unwrap_or(0);
            body.truncate(cut);
            body.push('…');
        }
        let fault = self
            .fault
            .as_ref()
            .map(|f| format!(" [fault {f:?}]"))
            .unwrap_or_default();
        let query = if self.query.is_empty() {
            String::new()
        } else {
            format!("?{}", self.query)
        };
        format!(
            "#{} {} {}{} -> {}{} {}",
            self.seq, self.method, self.path, query, self.status, fault, body
        )
    }
}

/// Matches a request path against a pattern. Without `*` the pattern is a path prefix. With `*`
/// it is a glob: `*` matches within one segment, `**` matches anything.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('*') {
        return path.starts_with(pattern);
    }
    glob(pattern.as_bytes(), path.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        [b'*', rest @ ..] => {
            let seg = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
            (0..=seg).any(|i| glob(rest, &s[i..]))
        }
        [c, rest @ ..] => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// An interaction the test sent, and how the bot has answered it so far.
#[derive(Clone, Debug)]
pub struct InteractionRecord {
    pub id: u64,
    pub token: String,
    pub kind: u8,
    pub channel_id: u64,
    /// The payload as dispatched, but for `message`.
    pub payload: Value,
    /// The message a component or modal was used on, as the payload carried it: shared with
    /// the sender's (a bench pressing buttons on one message keeps no copy per press).
    pub message: Option<std::sync::Arc<Value>>,
    pub sent_at: Instant,
    /// Callback type of the accepted response.
    pub acked: Option<u8>,
    /// Message id of `@original`, once there is one.
    pub original: Option<u64>,
    /// Message ids created through this token (original and follow-ups).
    pub webhook_messages: Vec<u64>,
}

impl InteractionRecord {
    /// The id of the message the interaction was used on, when it was used on one.
    pub fn message_id(&self) -> Option<u64> {
        let message = self.message.as_deref()?;
        Some(super::objects::snowflake_of(&message["id"]).unwrap_or(0))
    }

    /// The whole payload as dispatched, message included.
    pub fn sent_payload(&self) -> Value {
        let mut whole = self.payload.clone();
        if let Some(message) = self.message.as_deref() {
            whole["message"] = message.clone();
        }
        whole
    }
}

/// Increasing snowflakes whose timestamps are the creation time.
#[derive(Debug, Default)]
pub struct Snowflakes {
    last: u64,
}

impl Snowflakes {
    pub fn next(&mut self) -> u64 {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let candidate = now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last = candidate.max(self.last + 1);
        self.last
    }
}

/// Everything the server keeps, behind one mutex that is never held across an await.
#[derive(Debug, Default)]
pub struct State {
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    pub ids: Snowflakes,
    pub messages: BTreeMap<u64, Value>,
    /// (channel id, nonce as JSON) → the message first made with it: Discord's nonce check
    /// without scanning every message (catch-up benches post tens of thousands).
    pub nonces: HashMap<(u64, String), u64>,
    pub channels: BTreeMap<u64, Value>,
    pub deleted_channels: HashSet<u64>,
    pub dm_channels: HashMap<u64, u64>,
    pub closed_dms: HashSet<u64>,
    /// Members of the configured guild by user id: everyone who sent an interaction there,
    /// and those `FakeDiscord::add_member` added.
    pub members: HashMap<u64, Value>,
    pub interactions: HashMap<u64, InteractionRecord>,
    /// Interaction id → the index in `requests` of its accepted callback: waiting for an
    /// answer reads one record, not every request so far (benches send thousands).
    pub callbacks: HashMap<u64, usize>,
    pub global_commands: Vec<Value>,
    pub guild_commands: BTreeMap<u64, Vec<Value>>,
    pub faults: Option<FaultState>,
    pub gateway: GatewayState,
}

/// What the REST and gateway tasks and the test handle share.
#[derive(Debug)]
pub struct Shared {
    pub config: FakeConfig,
    pub rest_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    state: Mutex<State>,
    notify: Notify,
    /// Time spent answering REST requests (for the benches: the fake's share of the CPU).
    pub cost: Cost,
}

/// What the fake has cost so far, in wall time inside its own synchronous work (CPU time
/// unless the thread was preempted): REST requests answered and the time handling them
/// (parsing, checks, routing, recording, writing the answer), the part checking bodies against
/// Discord's OpenAPI spec and limits, and gateway frames: built (serialized, on the thread that
/// dispatches) and sent (written to the websocket by the connection's task).
#[derive(Debug, Default)]
pub struct Cost {
    pub requests: AtomicU64,
    pub handling_ns: AtomicU64,
    pub spec_ns: AtomicU64,
    pub frames: AtomicU64,
    pub gateway_ns: AtomicU64,
    pub sending_ns: AtomicU64,
}

/// [`Cost`] read at one moment; `since` gives what was spent between two readings.
#[derive(Clone, Copy, Debug, Default)]
pub struct CostSnapshot {
    pub requests: u64,
    /// REST handling, spec and limit checks included.
    pub rest: Duration,
    /// Of `rest`: the spec and limit checks of request bodies.
    pub checks: Duration,
    pub frames: u64,
    /// Gateway frames built: dispatch frames serialized (on the dispatching thread).
    pub gateway: Duration,
    /// Gateway frames written to the websocket (on the runtime's threads).
    pub sending: Duration,
}

impl CostSnapshot {
    pub fn since(self, earlier: Self) -> Self {
        Self {
            requests: self.requests - earlier.requests,
            rest: self.rest.saturating_sub(earlier.rest),
            checks: self.checks.saturating_sub(earlier.checks),
            frames: self.frames - earlier.frames,
            gateway: self.gateway.saturating_sub(earlier.gateway),
            sending: self.sending.saturating_sub(earlier.sending),
        }
    }
}

impl Cost {
    pub fn add(counter: &AtomicU64, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counter.fetch_add(ns, Relaxed);
    }

    pub fn read(&self) -> CostSnapshot {
        let ns = |counter: &AtomicU64| Duration::from_nanos(counter.load(Relaxed));
        CostSnapshot {
            requests: self.requests.load(Relaxed),
            rest: ns(&self.handling_ns),
            checks: ns(&self.spec_ns),
            frames: self.frames.load(Relaxed),
            gateway: ns(&self.gateway_ns),
            sending: ns(&self.sending_ns),
        }
    }
}

impl Shared {
    pub fn new(config: FakeConfig, rest_addr: SocketAddr, gateway_addr: SocketAddr) -> Self {
        Self {
            config,
            rest_addr,
            gateway_addr,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            cost: Cost::default(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes every waiter; call after each change a test may wait for.
    pub fn changed(&self) {
        self.notify.notify_waiters();
    }

    /// Waits until `check` returns `Some`, re-checking on every change; panics after `timeout`
    /// of real time naming `what` and listing the requests seen so far. The deadline is kept
    /// by a thread in real time, so it holds when a test pauses tokio's clock.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&mut State) -> Option<T>,
    ) -> T {
        // Already there: no deadline (a thread) needed.
        if let Some(found) = check(&mut self.lock()) {
            return found;
        }
        let mut expired = real_time_deadline(timeout);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = check(&mut self.lock()) {
                return found;
            }
            tokio::select! {
                () = &mut notified => {}
                _ = &mut expired => {
                    if let Some(found) = check(&mut self.lock()) {
                        return found;
                    }
                    let seen: Vec<String> =
                        self.lock().requests.iter().map(RecordedRequest::summary).collect();
                    panic!(
                        "fake-discord: timed out after {timeout:?} waiting for {what}; {} requests seen:\n  {}",
                        seen.len(),
                        seen.join("\n  ")
                    );
                }
            }
        }
    }
}

/// A oneshot that fires after `timeout` of wall-clock time, unless the receiver is dropped
/// first. One thread of the process keeps every wait's deadline (see [`Deadlines`]): a wait
/// costs a heap entry, not a thread of its own.
fn real_time_deadline(timeout: Duration) -> tokio::sync::oneshot::Receiver<()> {
    let (fire, fired) = tokio::sync::oneshot::channel();
    Deadlines::get().add(Instant::now() + timeout, fire);
    fired
}

/// A deadline in the queue: when, and whom to tell.
struct Deadline {
    at: Instant,
    fire: tokio::sync::oneshot::Sender<()>,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Deadline {}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Deadline {
    /// Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}

/// The deadlines of every wait in the process, fired by one thread in real time (so they
/// hold when a test pauses tokio's clock). It sleeps until the earliest one and is woken only
/// when a new deadline is earlier than every queued one.
struct Deadlines {
    queue: Mutex<std::collections::BinaryHeap<Deadline>>,
    earlier: std::sync::Condvar,
}

impl Deadlines {
    fn get() -> &'static Self {
        static DEADLINES: std::sync::OnceLock<&'static Deadlines> = std::sync::OnceLock::new();
        DEADLINES.get_or_init(|| {
            let deadlines: &'static Self = Box::leak(Box::new(Self {
                queue: Mutex::new(std::collections::BinaryHeap::new()),
                earlier: std::sync::Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("fake-deadlines".into())
                .spawn(|| deadlines.run())
                .expect("fake-discord: start the deadline thread");
            deadlines
        })
    }

    fn add(&self, at: Instant, fire: tokio::sync::oneshot::Sender<()>) {
        let mut queue = self.lock();
        // Waits that ended first (their receiver dropped) leave the top as they come to it.
        while queue.peek().is_some_and(|d| d.fire.is_closed()) {
            queue.pop();
        }
        let first = queue.peek().is_none_or(|d| at < d.at);
        queue.push(Deadline { at, fire });
        drop(queue);
        if first {
            self.earlier.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, std::collections::BinaryHeap<Deadline>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn run(&self) {
        let mut queue = self.lock();
        loop {
            let now = Instant::now();
            queue = match queue.peek().map(|d| d.at) {
                None => self
                    .earlier
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(at) if at <= now => {
                    if let Some(due) = queue.pop() {
                        let _ = due.fire.send(());
                    }
                    queue
                }
                Some(at) => {
                    self.earlier
                        .wait_timeout(queue, at - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}
