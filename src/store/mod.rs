//! Durable state in sled, behind one module so another database could replace it.
//!
//! Trees:
//! - `meta`: schema version, the incident counter, the outbox counter, per-incident event counts,
//!   and counts kept with every change (incidents, open incidents, outbox length).
//! - `events`: `incident (u64 BE) ‖ seq (u64 BE)` → one JSON event. An incident is the fold of
//!   its events.
//! - `outbox`: `effect id (u64 BE)` → JSON `OutboxEntry`: side effects waiting for delivery. The
//!   worker keeps its own index of them by lane and due time ([`Store::watch_effects`] tells it
//!   of each new one), so no pass reads the whole outbox.
//! - `dead`: `effect id` → JSON [`DeadLetter`]: effects refused for good, or failing too long.
//! - `timers`: `due ms (i64 BE, offset) ‖ incident ‖ kind` → JSON timer, in due order.
//! - `interactions`: `interaction id (u64 BE)` → when it was handled: each is handled once;
//!   `interaction_times` (`ms ‖ id`) orders them for pruning after Discord's 15 minutes. The
//!   ids are also kept in memory (read at open), so checking one reads nothing from disk.
//! - `threads`: `thread id (u64 BE)` → incident id: which incident a chat thread belongs to.
//! - `open`: `incident id` → nothing: the incidents not closed (list and hand-off read it).
//! - `unreadable`: `tree name ‖ 0 ‖ key` → the record: what could not be decoded, set aside.
//! - in `meta`, `alertkey/<source> ‖ 0 ‖ <grouping key>` → incident id: the incident an alert
//!   with that key joins (written in the same transaction as the incident it opens); and
//!   `unmatched/<n>` → resolved alerts that matched no incident.
//!
//! A command's events, effects, timers and interaction id go in one transaction ([`Batch`]), and
//! [`Store::commit`] returns once it is on disk: every write goes through the redo log ([`wal`]),
//! and a commit is durable once its record is synced there. Commits that arrive while an earlier
//! one syncs share the next `write` + `fdatasync` of the log (group commit).
//!
//! In memory beside sled ([`folded`]): the incidents used last, folded, and the event count of
//! each incident written or read lately, so reading an incident costs what is new since.

pub mod folded;
pub mod highwater;
mod versions;
pub mod wal;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::Tree;
use wal::{Rec, TxResult};

/// The layout version this build writes. A store from a newer build is refused.
///
/// 2: a write puts its undo in sled and no longer marks itself whole (see [`wal`]); a build
/// of schema 1 would replay such a store without rolling back a write a crash cut short.
pub const SCHEMA_VERSION: u64 = 2;

const K_SCHEMA: &[u8] = b"schema_version";
const K_NEXT_INCIDENT: &[u8] = b"next_incident";
const K_NEXT_EFFECT: &[u8] = b"next_effect";
/// The store's epoch: 0 until its first restore, one more after each. Custom ids carry it, so
/// a button made before a restore is refused instead of acting on whatever now has its number.
const K_EPOCH: &[u8] = b"epoch";
const K_NEXT_UNMATCHED: &[u8] = b"next_unmatched";
const ALERT_KEYS: &[u8] = b"alertkey/";
const UNMATCHED: &[u8] = b"unmatched/";
/// How many effects wait in the outbox (kept with every change: counting costs nothing).
const K_OUTBOX_LEN: &[u8] = b"count/outbox";
/// How many incidents exist, and how many are open.
const K_INCIDENTS: &[u8] = b"count/incidents";
const K_OPEN: &[u8] = b"count/open";
/// Set once the `open` index and the counts cover every record (older stores are indexed once).
const K_INDEXED: &[u8] = b"indexed";
/// `single/ ‖ incident ‖ lane kind` → the id of the lane's waiting single effect (see
/// [`NewEffect::single`]), until the worker takes it.
const SINGLE: &[u8] = b"single/";

fn single_key(lane: Lane) -> [u8; 16] {
    let mut k = [0; 16];
    k[..7].copy_from_slice(SINGLE);
    k[7..15].copy_from_slice(&be(lane.incident));
    k[15] = lane.kind;
    k
}

/// Discord never redelivers an interaction after its 15-minute token life: ids handled longer
/// ago than this are pruned from the seen set.
pub const INTERACTION_KEEP_MS: i64 = 20 * 60 * 1000;

impl StoreError {
    /// Another holder has the store's lock (usually a running socbot).
    pub fn is_locked(&self) -> bool {
        self.to_string().contains("could not acquire lock")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the store at {path}: {source}; check `store.path` and that no other socbot uses it"
    )]
    Open { path: String, source: sled::Error },
    #[error(
        "the store at {path} was written by a newer socbot (schema {found}, this build knows {SCHEMA_VERSION}); run the newer version or restore a backup"
    )]
    TooNew { path: String, found: u64 },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: corrupt record in {tree}: {message}")]
    Corrupt { tree: &'static str, message: String },
    /// The change was applied (later reads see it) but flushing it to disk failed: it may or
    /// may not survive a crash. Never "nothing was changed".
    #[error("store: applied, but not confirmed on disk: {0}")]
    NotDurable(String),
    /// An incident's events do not fold into an incident (a hand edit, a bug).
    #[error("store: incident {incident}'s history cannot be read: {why}")]
    Unfoldable {
        incident: u64,
        why: crate::incident::FoldError,
    },
}

/// Effects of one lane are delivered in order; different lanes independently. An incident's
/// chat effects are one lane; `kind` separates deliveries that must not wait for each other
/// (the pager webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lane {
    pub incident: u64,
    pub kind: u8,
}

/// An effect to queue in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEffect {
    pub lane: Lane,
    /// A later coalescing effect in the same lane makes this one unnecessary (a refresh that
    /// renders the incident as it is when delivered).
    pub coalesce: bool,
    /// At most one such effect waits in its lane: while one is queued and not yet taken for
    /// delivery ([`Store::claim_single`]), another is not queued (the waiting one, delivered
    /// later, does what it would). A burst of presses on one incident queues one refresh.
    pub single: bool,
    pub json: Vec<u8>,
}

/// An effect that was queued, as the outbox worker indexes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedEffect {
    pub id: u64,
    pub lane: Lane,
    pub coalesce: bool,
}

/// An effect taken out of delivery: refused for good, or failing for too long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The outbox entry as it was queued (retry state reset).
    pub entry: serde_json::Value,
    pub lane: Lane,
    #[serde(default)]
    pub coalesce: bool,
    /// What the last attempt answered.
    pub reason: String,
    pub attempts: u32,
    /// When it was moved here (ms since the epoch).
    pub at_ms: i64,
}

/// What one command writes, atomically.
#[derive(Debug, Default)]
pub struct Batch {
    /// The interaction this batch answers; a second commit with the same id does nothing.
    pub interaction: Option<u64>,
    /// (incident, JSON event), appended in order.
    pub events: Vec<(u64, Vec<u8>)>,
    /// The same events decoded, when the writer has them (one per event, in order): the kept
    /// incidents are brought up to date from them instead of decoding the JSON again. Empty:
    /// decoded from `events`.
    pub decoded: Vec<crate::incident::Event>,
    /// Effects for the outbox, delivered in order within their lane.
    pub effects: Vec<NewEffect>,
    /// (due ms since epoch, incident, kind, JSON) timers to set; same (incident, kind) replaces.
    pub timers: Vec<(i64, u64, u8, Vec<u8>)>,
    /// (incident, kind) timers to cancel.
    pub cancel_timers: Vec<(u64, u8)>,
    /// Outbox entries this batch completes (removed in the same transaction).
    pub complete_effects: Vec<u64>,
    /// Outbox entries moved to the dead letters, with their record.
    pub dead_letters: Vec<(u64, DeadLetter)>,
    /// (thread id, incident id): remember which incident a thread belongs to.
    pub threads: Vec<(u64, u64)>,
    /// Incidents that are now open (indexed for list and hand-off).
    pub opened: Vec<u64>,
    /// Incidents that are now closed (out of the open index).
    pub closed: Vec<u64>,
    /// (alert key, incident id): the incident alerts with that key join (see [`alert_key`]).
    pub alert_keys: Vec<(Vec<u8>, u64)>,
    /// JSON records of resolved alerts that matched no incident.
    pub unmatched_alerts: Vec<Vec<u8>>,
}

/// The key under which alerts with grouping key `key` from `source` find their incident.
pub fn alert_key(source: &str, key: &str) -> Vec<u8> {
    let mut k = ALERT_KEYS.to_vec();
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Written and flushed.
    Done,
    /// The interaction was handled before: nothing was written.
    Duplicate,
}

/// An effect waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: u64,
    pub json: Vec<u8>,
}

/// A timer due at `due_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRecord {
    pub due_ms: i64,
    pub incident: u64,
    pub kind: u8,
    pub json: Vec<u8>,
}

/// A record that could not be read, with the key it was found under (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub tree: &'static str,
    pub key: Vec<u8>,
    pub why: String,
}

impl Unreadable {
    /// The key, printable: hex.
    pub fn key_hex(&self) -> String {
        self.key.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Group commit: how far syncs have got (how far writes have got is the journal's `seq`).
#[derive(Debug, Default)]
struct Durability {
    /// Transactions known to be on disk.
    synced: AtomicU64,
    /// One flush + fdatasync at a time; whoever takes it next covers everything written.
    flusher: tokio::sync::Mutex<()>,
    /// How many flushes ran (for the benchmarks: commits per flush).
    flushes: AtomicU64,
}

impl EffectFeed {
    /// Whether effects of commits up to `synced` wait to be taken.
    fn deliverable(&self, synced: u64) -> bool {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue
            .as_ref()
            .is_some_and(|q| q.iter().any(|(ticket, _)| *ticket <= synced))
    }
}

/// New effects, for the outbox worker's index (only recorded once someone watches), each with
/// its commit's ticket: handed out only once that commit is on disk, so nothing is delivered
/// before the command that caused it is durable.
#[derive(Debug, Default)]
struct EffectFeed {
    queue: std::sync::Mutex<Option<Vec<(u64, QueuedEffect)>>>,
    notify: tokio::sync::Notify,
    /// How many times the whole outbox was read (see [`Store::outbox_reads`]).
    whole_reads: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    meta: Tree,
    events: Tree,
    outbox: Tree,
    dead: Tree,
    timers: Tree,
    interactions: Tree,
    interaction_times: Tree,
    threads: Tree,
    open: Tree,
    unreadable: Tree,
    /// Every tree, in [`wal::TREES`] order: what each write's transaction spans.
    all: Arc<Vec<Tree>>,
    /// The redo log every write goes through (see [`wal`]): a commit is durable once its
    /// record is synced there.
    journal: Arc<wal::Journal>,
    /// sled's own file, for an `fdatasync` after sled's flush at a checkpoint: on Linux sled
    /// 0.34 flushes with `sync_file_range`, which neither flushes the disk's write cache nor
    /// the file's size. None for temporary stores.
    db_file: Option<Arc<std::fs::File>>,
    /// Every write holds it shared; a backup's copy holds it alone, so the copy is one moment.
    writes: Arc<std::sync::RwLock<()>>,
    durability: Arc<Durability>,
    feed: Arc<EffectFeed>,
    /// The incident numbers given and the epoch, also beside the store (see [`highwater`]).
    /// None for temporary stores.
    high_water: Option<Arc<highwater::HighWater>>,
    /// Recently used incidents kept folded, and what the store knows of their event counts
    /// (see [`folded`]); made with the store, so a store opened again (a restore) starts empty.
    kept: Arc<folded::Kept>,
}

/// A written transaction, not yet known to be on disk: [`Store::durable`] waits for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Written {
    ticket: u64,
    pub committed: Committed,
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn read_u64(v: Option<sled::IVec>) -> u64 {
    v.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}

fn read_i64(v: &[u8]) -> Option<i64> {
    <[u8; 8]>::try_from(v).ok().map(i64::from_be_bytes)
}

fn event_key(incident: u64, seq: u64) -> [u8; 16] {
    let mut k = [0; 16];
    k[..8].copy_from_slice(&be(incident));
    k[8..].copy_from_slice(&be(seq));
    k
}

fn seq_key(incident: u64) -> Vec<u8> {
    let mut k = b"seq/".to_vec();
    k.extend_from_slice(&be(incident));
    k
}

/// Times sort as keys: the signed ms is offset into unsigned order.
fn time_bytes(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_of(bytes: &[u8]) -> i64 {
    (u64::from_be_bytes(bytes.try_into().unwrap_or_default()) ^ (1 << 63)) as i64
}

/// Timer keys sort by due time.
fn timer_key(due_ms: i64, incident: u64, kind: u8) -> [u8; 17] {
    let mut k = [0; 17];
    k[..8].copy_from_slice(&time_bytes(due_ms));
    k[8..16].copy_from_slice(&be(incident));
    k[16] = kind;
    k
}

const TIMER_INDEX: &[u8] = b"timer/";

fn timer_index_key(incident: u64, kind: u8) -> Vec<u8> {
    let mut k = TIMER_INDEX.to_vec();
    k.extend_from_slice(&be(incident));
    k.push(kind);
    k
}

fn interaction_time_key(ms: i64, id: u64) -> [u8; 16] {
    let mut k = [0; 16];
    k[..8].copy_from_slice(&time_bytes(ms));
    k[8..].copy_from_slice(&be(id));
    k
}

fn add(meta: &Rec<'_>, key: &[u8], delta: i64) -> TxResult<()> {
    let n = read_u64(meta.get(key)?) as i64 + delta;
    meta.insert(key, be(n.max(0) as u64))?;
    Ok(())
}

impl Store {
    /// Opens (creating when missing) the store at `path`, checking its schema version.
    ///
    /// A store that was just closed may stay locked for a moment while sled's background
    /// threads finish (a restart, `restore`): a lock conflict is retried for up to 5 s before it
    /// is reported. [`Store::open_now`] does not wait.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_within(path, std::time::Duration::from_secs(5))
    }

    /// As [`Store::open`], a lock conflict retried for up to `wait`.
    pub fn open_within(path: &Path, wait: std::time::Duration) -> Result<Self, StoreError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match Self::open_now(path) {
                Err(e) if e.is_locked() && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => return other,
            }
        }
    }

    /// Opens without waiting: a store held by another process (or not yet released by this
    /// one) is an error at once. For probing whether a daemon holds the store.
    pub fn open_now(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let db = sled::Config::new()
            // sled's page cache; its default (1 GB) is far more than a SOC's store needs.
            .cache_capacity(16 * 1024 * 1024)
            .path(path)
            .open()
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?;
        let mut store = Self::from_db(db, &shown, Some(path))?;
        let high_water = highwater::HighWater::beside(path);
        // A store from before the mark, or one the mark fell behind: catch up now when the
        // directory can be written (a read-only copy is read only; the next number tries again).
        if let Err(e) = high_water.raise(store.next_incident_id()?, store.epoch()?) {
            tracing::debug!(error = %e, "the incident high-water mark was not brought up to date");
        }
        store.high_water = Some(Arc::new(high_water));
        Ok(store)
    }

    /// A store in a temporary directory that disappears when dropped (tests, benchmarks).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::from_db(db, "(temporary)", None)
    }

    /// The store over `db`; with `dir` (the store's directory) its log is replayed first and
    /// a checkpoint starts a new one (see [`wal`]).
    fn from_db(db: sled::Db, path: &str, dir: Option<&Path>) -> Result<Self, StoreError> {
        let all = wal::TREES
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<Vec<_>, _>>()?;
        let meta = all[wal::META].clone();
        let found = read_u64(meta.get(K_SCHEMA)?);
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
                found,
            });
        }
        let (journal, db_file) = match dir {
            Some(dir) => {
                let journal = wal::Journal::open(dir, &all)?;
                let db_file = std::fs::File::open(dir.join("db")).ok();
                journal.checkpoint(&db, db_file.as_ref())?;
                let journal = Arc::new(journal);
                wal::Journal::sync_lazily(&journal);
                (journal, db_file.map(Arc::new))
            }
            None => (
                Arc::new(wal::Journal::memory(
                    read_u64(meta.get(wal::K_APPLIED)?),
                    meta.clone(),
                )),
                None,
            ),
        };
        if found < SCHEMA_VERSION {
            meta.insert(K_SCHEMA, &be(SCHEMA_VERSION))?;
            wal::flush_db(&db, db_file.as_deref())?;
        }
        let tree = |i: usize| all[i].clone();
        let store = Self {
            meta,
            events: tree(wal::EVENTS),
            outbox: tree(wal::OUTBOX),
            dead: tree(wal::DEAD),
            timers: tree(wal::TIMERS),
            interactions: tree(wal::INTERACTIONS),
            interaction_times: tree(wal::INTERACTION_TIMES),
            threads: tree(wal::THREADS),
            open: tree(wal::OPEN),
            unreadable: tree(wal::UNREADABLE),
            all: Arc::new(all),
            journal,
            db_file,
            db,
            writes: Arc::default(),
            durability: Arc::default(),
            feed: Arc::default(),
            high_water: None,
            kept: Arc::default(),
        };
        store.count_once()?;
        let mut seen = store.kept.interactions();
        for k in store.interactions.iter().keys() {
            seen.insert(read_u64(Some(k?)));
        }
        drop(seen);
        Ok(store)
    }

    /// A store from before the counts and the interaction times: counted and indexed once.
    /// (The open index needs the incidents folded: [`Store::open_index_missing`].)
    fn count_once(&self) -> Result<(), StoreError> {
        if self.meta.get(K_INDEXED)?.is_some() {
            return Ok(());
        }
        let incidents = self.meta.scan_prefix(b"seq/").count() as u64;
        self.meta.insert(K_INCIDENTS, &be(incidents))?;
        self.meta
            .insert(K_OUTBOX_LEN, &be(self.outbox.len() as u64))?;
        for kv in self.interactions.iter() {
            let (k, v) = kv?;
            if let (Ok(id), Some(ms)) = (<[u8; 8]>::try_from(k.as_ref()), read_i64(&v)) {
                self.interaction_times
                    .insert(interaction_time_key(ms, u64::from_be_bytes(id)), &[])?;
            }
        }
        // The open index stays to be built when there are incidents: see open_index_missing.
        if incidents == 0 {
            self.meta.insert(K_OPEN, &be(0))?;
            self.meta.insert(K_INDEXED, &be(1))?;
        } else {
            self.meta.insert(K_INDEXED, &be(0))?;
        }
        // Not through the log: at open, before any write that is, and on disk before any is.
        wal::flush_db(&self.db, self.db_file.as_deref())?;
        Ok(())
    }

    /// True when the open index has yet to be built (a store from before it): the service
    /// folds every incident once and calls [`Store::set_open_index`].
    pub fn open_index_missing(&self) -> Result<bool, StoreError> {
        Ok(read_u64(self.meta.get(K_INDEXED)?) == 0)
    }

    /// Builds the open index from `open` (the ids of every incident not closed).
    ///
    /// Written beside the log, not through it (a record of the whole index would be as big as
    /// the index): every other write waits meanwhile, and checkpoints before and after put it
    /// in sled, on disk, with no log record left to replay over it.
    pub fn set_open_index(&self, open: &[u64]) -> Result<(), StoreError> {
        self.beside_the_log(|| {
            self.open.clear()?;
            for id in open {
                self.open.insert(be(*id), &[])?;
            }
            self.meta.insert(K_OPEN, &be(open.len() as u64))?;
            self.meta.insert(K_INDEXED, &be(1))?;
            Ok(())
        })
    }

    /// Runs `write`, which writes to sled directly, with every other write waiting, between
    /// two checkpoints: no log record is left to replay over what it wrote, and it is on disk
    /// before anything written after it.
    fn beside_the_log<R>(
        &self,
        write: impl FnOnce() -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let _alone = self.writes.write().unwrap_or_else(|e| e.into_inner());
        self.checkpoint_blocking()?;
        let out = write()?;
        self.checkpoint_blocking()?;
        Ok(out)
    }

    /// Makes every write so far durable (one `write` + `fdatasync` of the log, or a checkpoint
    /// when the log failed; sled's flush for a temporary store) in one blocking task. Returns
    /// the sequence number it covers.
    async fn sync_journal(&self) -> Result<u64, StoreError> {
        let store = self.clone();
        let synced = tokio::task::spawn_blocking(move || store.sync_blocking()).await;
        synced.unwrap_or_else(|e| Err(sled::Error::Io(std::io::Error::other(e.to_string())).into()))
    }

    /// As [`Store::sync_journal`], here and now.
    fn sync_blocking(&self) -> Result<u64, StoreError> {
        self.journal.sync(&self.db, self.db_file.as_deref())
    }

    /// A checkpoint (see [`wal`]): sled flushed and synced, the log started afresh. Returns
    /// the sequence number durable after it.
    fn checkpoint_blocking(&self) -> Result<u64, StoreError> {
        let seq = self.journal.checkpoint(&self.db, self.db_file.as_deref())?;
        self.durability.synced.fetch_max(seq, Ordering::SeqCst);
        Ok(seq)
    }

    /// When the log has grown (see [`wal::CHECKPOINT_BYTES`]), a checkpoint in the background.
    fn checkpoint_if_due(&self) {
        if !self.journal.wants_checkpoint() {
            return;
        }
        let store = self.clone();
        let run = move || {
            if let Err(e) = store.checkpoint_blocking() {
                tracing::warn!(error = %e, "store checkpoint failed; the log goes on growing until one succeeds");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(run)),
            Err(_) => run(),
        }
    }

    /// Runs `f` as one write over every tree (all of it or nothing, for readers and after a
    /// crash), its changes recorded in the log (see
    /// [`wal`]). Returns what `f` returned and the ticket to wait for with
    /// [`Store::sync_to`] (0: nothing was changed).
    fn logged<R>(
        &self,
        f: impl FnOnce(&wal::Tx<'_>) -> TxResult<R>,
    ) -> Result<(R, u64), StoreError> {
        let _writing = self.writing();
        self.journal.apply(&self.all, f)
    }

    /// The schema version recorded in the store.
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        Ok(read_u64(self.meta.get(K_SCHEMA)?))
    }

    /// Takes the next incident number. Numbers are never given twice: the counter is durable
    /// before any incident that uses it is (a crash may leave a gap, never a reuse).
    pub fn allocate_incident_id(&self) -> Result<u64, StoreError> {
        // Logged before any record of an incident that uses it: durable before that is.
        let (n, _) = self.logged(|tx| {
            let meta = tx.tree(wal::META);
            let n = read_u64(meta.get(K_NEXT_INCIDENT)?).max(1);
            meta.insert(K_NEXT_INCIDENT, be(n + 1))?;
            Ok(n)
        })?;
        // Beside the store too, before the number is used: a restore that finds the store
        // gone still continues above it.
        if let Some(hw) = &self.high_water {
            hw.reserve(n).map_err(sled::Error::Io)?;
        }
        Ok(n)
    }

    /// The number the next incident would get (1 when none was ever given).
    pub fn next_incident_id(&self) -> Result<u64, StoreError> {
        Ok(read_u64(self.meta.get(K_NEXT_INCIDENT)?).max(1))
    }

    /// The store's epoch (see `K_EPOCH`): 0 until it is restored from a backup.
    pub fn epoch(&self) -> Result<u64, StoreError> {
        Ok(read_u64(self.meta.get(K_EPOCH)?))
    }

    /// Right after a restore, before any use: incident numbers continue from `next` at least
    /// (the numbers the replaced store gave after the backup are never given again), and the
    /// epoch becomes `epoch`. On disk when this returns.
    pub fn mark_restored(&self, next: u64, epoch: u64) -> Result<(), StoreError> {
        // Beside the log: a restored store holds the backup's trees, its log's position
        // included, and nothing else written since.
        let current = self.beside_the_log(|| {
            let current = read_u64(self.meta.get(K_NEXT_INCIDENT)?).max(1);
            self.meta.insert(K_NEXT_INCIDENT, &be(current.max(next)))?;
            self.meta.insert(K_EPOCH, &be(epoch))?;
            Ok(current)
        })?;
        if let Some(hw) = &self.high_water {
            hw.raise(current.max(next), epoch)
                .map_err(sled::Error::Io)?;
        }
        Ok(())
    }

    /// A small JSON document kept under `key` in `meta` (e.g. the on-call overrides).
    pub fn load_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let Some(v) = self.meta.get(format!("doc/{key}"))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                tree: "meta",
                message: format!("{key}: {e}"),
            })
    }

    /// Replaces the JSON document under `key`, durably.
    pub async fn save_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let json = Self::encode(value);
        let (_, ticket) =
            self.logged(|tx| tx.tree(wal::META).insert(format!("doc/{key}"), &json))?;
        self.sync_to(ticket).await
    }

    /// Whether an interaction was handled already.
    pub fn interaction_seen(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self.kept.interactions().contains(&id))
    }

    /// Forgets interactions handled before `before_ms` (Discord no longer redelivers them).
    /// Returns how many were forgotten.
    /// Not synced: losing it in a crash only means pruning them again.
    pub fn prune_interactions(&self, before_ms: i64) -> Result<usize, StoreError> {
        let end = interaction_time_key(before_ms, 0);
        let old = self
            .interaction_times
            .range(..end)
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        if old.is_empty() {
            return Ok(0);
        }
        let (pruned, _) = self.logged(|tx| {
            let (interactions, times) =
                (tx.tree(wal::INTERACTIONS), tx.tree(wal::INTERACTION_TIMES));
            let mut pruned = Vec::with_capacity(old.len());
            for k in &old {
                times.remove(k)?;
                if let Some(id) = k.get(8..16) {
                    interactions.remove(id)?;
                    pruned.push(read_u64(Some(id.into())));
                }
            }
            Ok(pruned)
        })?;
        let mut seen = self.kept.interactions();
        for id in &pruned {
            seen.remove(id);
        }
        Ok(pruned.len())
    }

    /// How many interaction ids are remembered.
    pub fn interactions_len(&self) -> usize {
        self.interactions.len()
    }

    /// The incident alerts with `key` (see [`alert_key`]) join, if any.
    pub fn alert_incident(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        Ok(self.meta.get(key)?.map(|v| read_u64(Some(v))))
    }

    /// Resolved alerts that matched no incident, oldest first (JSON records).
    pub fn unmatched_alerts(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let _whole = self.journal.reading();
        self.meta
            .scan_prefix(UNMATCHED)
            .values()
            .map(|v| v.map(|v| v.to_vec()).map_err(StoreError::from))
            .collect()
    }

    /// The incident a chat thread belongs to.
    pub fn incident_for_thread(&self, thread: u64) -> Result<Option<u64>, StoreError> {
        Ok(self.threads.get(be(thread))?.map(|v| read_u64(Some(v))))
    }

    /// Writes `batch` in one transaction and returns once it is on disk. Commits that arrive
    /// while another syncs share the next sync.
    pub async fn commit(&self, batch: Batch) -> Result<Committed, StoreError> {
        let written = self.write(&batch)?;
        self.durable(written).await?;
        Ok(written.committed)
    }

    /// Applies `batch` in one transaction without waiting for the disk: later reads see it at
    /// once. Say nothing about it to anyone before [`Store::durable`] returns.
    pub fn write(&self, batch: &Batch) -> Result<Written, StoreError> {
        let (committed, queued, ticket) = self.apply(batch)?;
        if !queued.is_empty() {
            let mut feed = self.feed.queue.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(q) = feed.as_mut() {
                q.extend(queued.into_iter().map(|e| (ticket, e)));
                drop(feed);
                // Synced before they were fed (the sync found nothing to wake for): woken here.
                if self.durability.synced.load(Ordering::SeqCst) >= ticket {
                    self.feed.notify.notify_one();
                }
            }
        }
        Ok(Written { ticket, committed })
    }

    /// Waits until `written` is on disk: one `write` + `fdatasync` of the log covers every
    /// transaction written before it started, so concurrent commits share it.
    pub async fn durable(&self, written: Written) -> Result<(), StoreError> {
        self.sync_to(written.ticket).await
    }

    /// Called only once the change is applied: a failure here is [`StoreError::NotDurable`].
    async fn sync_to(&self, ticket: u64) -> Result<(), StoreError> {
        self.sync_to_inner(ticket)
            .await
            .map_err(|e| StoreError::NotDurable(e.to_string()))
    }

    async fn sync_to_inner(&self, ticket: u64) -> Result<(), StoreError> {
        let d = &self.durability;
        if ticket == 0 || d.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let _flushing = d.flusher.lock().await;
        if d.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let target = self.sync_journal().await?;
        self.synced(target);
        self.checkpoint_if_due();
        Ok(())
    }

    /// A sync made everything up to `target` durable: counted (when it got further), and the
    /// outbox worker woken when it made effects deliverable (only then: a commit without
    /// effects wakes nobody but its own waiter).
    fn synced(&self, target: u64) {
        let (d, feed) = (&self.durability, &self.feed);
        let before = d.synced.fetch_max(target, Ordering::SeqCst);
        if target > before {
            d.flushes.fetch_add(1, Ordering::Relaxed);
            crate::metrics::store_flushed(target - before);
            if feed.deliverable(target) {
                feed.notify.notify_one();
            }
        }
    }

    /// How many flush + sync rounds ran in this process (commits / flushes = the group size).
    pub fn flushes(&self) -> u64 {
        self.durability.flushes.load(Ordering::Relaxed)
    }

    /// As [`Store::commit`], flushing synchronously (for code outside a runtime).
    pub fn commit_blocking(&self, batch: Batch) -> Result<Committed, StoreError> {
        let written = self.write(&batch)?;
        if written.ticket > self.durability.synced.load(Ordering::SeqCst) {
            let target = self
                .sync_blocking()
                .map_err(|e| StoreError::NotDurable(e.to_string()))?;
            self.synced(target);
            self.checkpoint_if_due();
        }
        Ok(written.committed)
    }

    /// Held while writing: see `writes`.
    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `batch` (see [`Store::write`]); returns what happened, the effects queued and
    /// the ticket to wait for.
    fn apply(&self, batch: &Batch) -> Result<(Committed, Vec<QueuedEffect>, u64), StoreError> {
        let queued = std::cell::RefCell::new(Vec::new());
        // (incident, event count after this transaction), for the kept counts.
        let counts = std::cell::RefCell::new(Vec::new());
        let (committed, ticket) = self.logged(|tx| {
            let meta = tx.tree(wal::META);
            if let Some(id) = batch.interaction {
                let interactions = tx.tree(wal::INTERACTIONS);
                if interactions.get(be(id))?.is_some() {
                    return Ok(Committed::Duplicate);
                }
                let now = chrono::Utc::now().timestamp_millis();
                interactions.insert(be(id), now.to_be_bytes())?;
                tx.tree(wal::INTERACTION_TIMES)
                    .insert(interaction_time_key(now, id), [])?;
            }
            let events = tx.tree(wal::EVENTS);
            let mut counted = Vec::with_capacity(batch.events.len());
            for (inc, json) in &batch.events {
                counted.push((*inc, append_event(&meta, &events, *inc, json)?));
            }
            *counts.borrow_mut() = counted;
            write_indexes(tx, batch)?;
            *queued.borrow_mut() = write_outbox(tx, batch)?;
            write_timers(&tx.tree(wal::TIMERS), batch)?;
            Ok(Committed::Done)
        })?;
        let queued = match committed {
            Committed::Done => {
                // Before the write returns: a read after it never takes a kept fold as current.
                if let Some(id) = batch.interaction {
                    self.kept.interactions().insert(id);
                }
                let counts = counts.into_inner();
                for &(inc, next) in &counts {
                    self.kept.versions.raise(inc, next);
                }
                self.kept.written(&batch.events, &batch.decoded, &counts);
                queued.into_inner()
            }
            Committed::Duplicate => Vec::new(),
        };
        Ok((committed, queued, ticket))
    }

    /// From now on every effect queued is also handed to the caller (the outbox worker's
    /// index) through [`Store::take_new_effects`]; the returned notify wakes it.
    pub fn watch_effects(&self) -> &tokio::sync::Notify {
        let mut feed = self.feed.queue.lock().unwrap_or_else(|e| e.into_inner());
        feed.get_or_insert_with(Vec::new);
        &self.feed.notify
    }

    /// The effects queued since the last call whose commit is on disk (see
    /// [`Store::watch_effects`]).
    pub fn take_new_effects(&self) -> Vec<QueuedEffect> {
        let synced = self.durability.synced.load(Ordering::SeqCst);
        let mut feed = self.feed.queue.lock().unwrap_or_else(|e| e.into_inner());
        let Some(q) = feed.as_mut() else {
            return Vec::new();
        };
        let (ready, waiting): (Vec<_>, Vec<_>) = q.drain(..).partition(|(t, _)| *t <= synced);
        *q = waiting;
        ready.into_iter().map(|(_, e)| e).collect()
    }

    /// Every event of one incident, in order, as stored JSON.
    pub fn events_raw(&self, incident: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let _whole = self.journal.reading();
        self.events
            .scan_prefix(be(incident))
            .values()
            .map(|v| {
                self.kept.events_read.fetch_add(1, Ordering::Relaxed);
                v.map(|v| v.to_vec()).map_err(StoreError::from)
            })
            .collect()
    }

    /// The events of one incident from sequence number `from` on (0: all), decoded, and the
    /// sequence number after the last: a caller that keeps an incident folded reads only what
    /// is new. Events that do not decode are set aside and left out (as [`Store::events`]).
    pub fn events_from<T: DeserializeOwned>(
        &self,
        incident: u64,
        from: u64,
    ) -> Result<(Vec<T>, u64), StoreError> {
        self.events_with(incident, from, |json| serde_json::from_slice(json))
    }

    /// As [`Store::events_from`], each event decoded by `decode`.
    fn events_with<T>(
        &self,
        incident: u64,
        from: u64,
        decode: impl Fn(&[u8]) -> serde_json::Result<T>,
    ) -> Result<(Vec<T>, u64), StoreError> {
        let end = event_key(incident, u64::MAX);
        let read = {
            let _whole = self.journal.reading();
            self.events
                .range(event_key(incident, from)..=end)
                .collect::<Result<Vec<_>, _>>()?
        };
        self.kept
            .events_read
            .fetch_add(read.len() as u64, Ordering::Relaxed);
        let mut out = Vec::with_capacity(read.len());
        let mut next = from;
        // Decoded once the read is done: setting an event aside writes.
        for (key, value) in read {
            let seq = key
                .get(8..16)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(next, u64::from_be_bytes);
            next = next.max(seq + 1);
            match decode(&value) {
                Ok(event) => out.push(event),
                Err(e) => {
                    tracing::error!(incident, seq, tree = "events", error = %e, "unreadable event set aside and skipped");
                    crate::metrics::store_unreadable("events");
                    if let Err(e) = self.set_aside("events", &key) {
                        tracing::warn!(incident, seq, error = %e, "cannot set the unreadable event aside");
                    }
                }
            }
        }
        Ok((out, next))
    }

    /// As [`Store::events_from`] for incident events, decoded by [`crate::incident::Event::from_json`] (one
    /// pass for a known kind: what reading an incident that is not kept mostly costs).
    pub(crate) fn incident_events_from(
        &self,
        incident: u64,
        from: u64,
    ) -> Result<(Vec<crate::incident::Event>, u64), StoreError> {
        self.events_with(incident, from, crate::incident::Event::from_json)
    }

    /// Every event of one incident, decoded. An event that does not decode (a bug, a hand
    /// edit; a kind from a newer socbot decodes as unknown) is isolated: logged with its key,
    /// counted (`socbot_store_unreadable_total{tree="events"}`), set aside in `unreadable` and
    /// left out; the incident's other events, and every other incident, read on.
    pub fn events<T: DeserializeOwned>(&self, incident: u64) -> Result<Vec<T>, StoreError> {
        Ok(self.events_from(incident, 0)?.0)
    }

    /// How many event records this store has read from sled since it was opened (a kept
    /// incident with nothing new reads none: see [`folded`]).
    pub fn events_read(&self) -> u64 {
        self.kept.events_read.load(Ordering::Relaxed)
    }

    /// The ids of every incident, ascending.
    pub fn incident_ids(&self) -> Result<Vec<u64>, StoreError> {
        let _whole = self.journal.reading();
        let mut ids = Vec::new();
        for k in self.meta.scan_prefix(b"seq/").keys() {
            let k = k?;
            if let Ok(b) = <[u8; 8]>::try_from(&k[4..]) {
                ids.push(u64::from_be_bytes(b));
            }
        }
        Ok(ids)
    }

    /// Incident ids, newest first, starting below `before` (None: from the newest), at most
    /// `limit`; `open_only` reads the open index instead of every incident.
    pub fn incident_ids_desc(
        &self,
        before: Option<u64>,
        limit: usize,
        open_only: bool,
    ) -> Result<Vec<u64>, StoreError> {
        let _whole = self.journal.reading();
        let mut ids = Vec::new();
        if open_only {
            let end = be(before.unwrap_or(u64::MAX));
            for k in self.open.range(..end).keys().rev().take(limit) {
                ids.push(read_u64(Some(k?)));
            }
        } else {
            let mut end = b"seq/".to_vec();
            end.extend_from_slice(&be(before.unwrap_or(u64::MAX)));
            for k in self
                .meta
                .range(b"seq/".to_vec()..end)
                .keys()
                .rev()
                .take(limit)
            {
                let k = k?;
                if let Ok(b) = <[u8; 8]>::try_from(&k[4..]) {
                    ids.push(u64::from_be_bytes(b));
                }
            }
        }
        Ok(ids)
    }

    /// The open incidents (not closed), ascending.
    pub fn open_incident_ids(&self) -> Result<Vec<u64>, StoreError> {
        let _whole = self.journal.reading();
        self.open
            .iter()
            .keys()
            .map(|k| Ok(read_u64(Some(k?))))
            .collect()
    }

    /// How many incidents exist, and how many are open (kept counts, nothing scanned).
    pub fn incident_counts(&self) -> Result<(usize, usize), StoreError> {
        Ok((
            read_u64(self.meta.get(K_INCIDENTS)?) as usize,
            read_u64(self.meta.get(K_OPEN)?) as usize,
        ))
    }

    /// Effects waiting for delivery, oldest first (the worker reads this once, at start).
    pub fn outbox(&self) -> Result<Vec<OutboxRecord>, StoreError> {
        self.feed.whole_reads.fetch_add(1, Ordering::Relaxed);
        let _whole = self.journal.reading();
        self.outbox
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok(OutboxRecord {
                    id: read_u64(Some(k)),
                    json: v.to_vec(),
                })
            })
            .collect()
    }

    /// How many times this process read the whole outbox ([`Store::outbox`]): once at the
    /// worker's start, never per pass or per effect (the worker's index and the feed of new
    /// effects stand in for it).
    pub fn outbox_reads(&self) -> u64 {
        self.feed.whole_reads.load(Ordering::Relaxed)
    }

    /// One outbox entry's JSON, if it is still waiting.
    pub fn effect(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.outbox.get(be(id))?.map(|v| v.to_vec()))
    }

    /// Replaces an outbox entry's JSON (its progress or retry state). Not flushed: losing it
    /// in a crash only means an earlier retry.
    pub fn update_effect(&self, id: u64, json: &[u8]) -> Result<(), StoreError> {
        self.logged(|tx| {
            let outbox = tx.tree(wal::OUTBOX);
            // Only while it waits: a completed entry must not come back.
            if outbox.get(be(id))?.is_some() {
                outbox.insert(be(id), json)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The worker takes single effect `id` of `lane` (see [`NewEffect::single`]) for delivery,
    /// before it reads what to deliver: from now on a new one is queued again. Not flushed: it
    /// only ever makes a later commit queue one more.
    pub fn claim_single(&self, lane: Lane, id: u64) -> Result<(), StoreError> {
        self.logged(|tx| {
            let meta = tx.tree(wal::META);
            if meta.get(single_key(lane))?.is_some_and(|v| v == be(id)) {
                meta.remove(single_key(lane))?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// How many effects wait in the outbox (a kept count: costs nothing).
    pub fn outbox_len(&self) -> usize {
        self.meta
            .get(K_OUTBOX_LEN)
            .ok()
            .map_or(0, |v| read_u64(v) as usize)
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<(u64, DeadLetter)>, StoreError> {
        let _whole = self.journal.reading();
        let mut out = Vec::new();
        for kv in self.dead.iter() {
            let (k, v) = kv?;
            let id = read_u64(Some(k));
            match serde_json::from_slice(&v) {
                Ok(letter) => out.push((id, letter)),
                Err(e) => tracing::error!(id, error = %e, "unreadable dead letter skipped"),
            }
        }
        Ok(out)
    }

    /// How many dead letters there are.
    pub fn dead_letter_count(&self) -> usize {
        self.dead.len()
    }

    /// Puts dead letter `id` back in the outbox (at the end of its lane, retry state reset).
    /// Returns its new outbox id, or None when there is no such dead letter.
    pub async fn retry_dead_letter(&self, id: u64) -> Result<Option<u64>, StoreError> {
        let Some(raw) = self.dead.get(be(id))? else {
            return Ok(None);
        };
        let letter: DeadLetter = serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
            tree: "dead",
            message: format!("{id}: {e}"),
        })?;
        let batch = Batch {
            effects: vec![NewEffect {
                lane: letter.lane,
                coalesce: letter.coalesce,
                single: false,
                json: Self::encode(&letter.entry),
            }],
            ..Batch::default()
        };
        // Removed before it is queued again: checked, so two retries queue it once.
        let (removed, _) = self.logged(|tx| {
            let dead = tx.tree(wal::DEAD);
            if dead.get(be(id))?.is_some_and(|v| v == raw) {
                dead.remove(be(id))?;
                return Ok(true);
            }
            Ok(false)
        })?;
        if !removed {
            return Ok(None);
        }
        self.commit(batch).await?;
        Ok(Some(read_u64(self.meta.get(K_NEXT_EFFECT)?) - 1))
    }

    /// Deletes dead letter `id` for good. False when there is none.
    pub async fn drop_dead_letter(&self, id: u64) -> Result<bool, StoreError> {
        let (removed, ticket) =
            self.logged(|tx| Ok(tx.tree(wal::DEAD).remove(be(id))?.is_some()))?;
        self.sync_to(ticket).await?;
        Ok(removed)
    }

    /// Moves a record that cannot be decoded out of `tree` into `unreadable` (kept for the
    /// operator and in backups, never read again by the worker that tripped on it).
    pub fn set_aside(&self, tree: &'static str, key: &[u8]) -> Result<(), StoreError> {
        let source = match tree {
            "outbox" => wal::OUTBOX,
            "timers" => wal::TIMERS,
            "events" => wal::EVENTS,
            "dead" => wal::DEAD,
            _ => wal::META,
        };
        let mut aside = tree.as_bytes().to_vec();
        aside.push(0);
        aside.extend_from_slice(key);
        self.logged(|tx| {
            if let Some(v) = tx.tree(source).remove(key)? {
                tx.tree(wal::UNREADABLE).insert(&aside, v)?;
                if tree == "outbox" {
                    add(&tx.tree(wal::META), K_OUTBOX_LEN, -1)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// How many records were set aside as unreadable.
    pub fn unreadable_count(&self) -> usize {
        self.unreadable.len()
    }

    /// How many timers are armed (index entries skipped).
    pub fn timer_count(&self) -> Result<usize, StoreError> {
        let _whole = self.journal.reading();
        Ok(self.timers.scan_prefix(TIMER_INDEX).count())
    }

    /// Timers due at or before `now_ms`, in due order, at most `limit`; each an unreadable key
    /// (not a timer this build knows) is an `Err` to skip.
    pub fn due_timers(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Result<TimerRecord, Unreadable>>, StoreError> {
        let end = timer_key(now_ms, u64::MAX, u8::MAX);
        let _whole = self.journal.reading();
        let mut out = Vec::new();
        for kv in self.timers.range(..=end.as_slice()) {
            let (k, v) = kv?;
            if k.starts_with(TIMER_INDEX) {
                continue;
            }
            out.push(Self::timer_record(&k, &v));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// When the earliest timer is due.
    pub fn next_timer_due(&self) -> Result<Option<i64>, StoreError> {
        let _whole = self.journal.reading();
        for k in self.timers.iter().keys() {
            let k = k?;
            if k.starts_with(TIMER_INDEX) {
                continue;
            }
            return Ok(Some(time_of(&k[..8.min(k.len())])));
        }
        Ok(None)
    }

    fn timer_record(k: &[u8], v: &[u8]) -> Result<TimerRecord, Unreadable> {
        let bad = |why: String| Unreadable {
            tree: "timers",
            key: k.to_vec(),
            why,
        };
        if k.len() != 17 {
            return Err(bad(format!("a key of {} bytes, not 17", k.len())));
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(v) {
            return Err(bad(e.to_string()));
        }
        Ok(TimerRecord {
            due_ms: time_of(&k[..8]),
            incident: u64::from_be_bytes(k[8..16].try_into().unwrap_or_default()),
            kind: k[16],
            json: v.to_vec(),
        })
    }

    /// Every timer, in due order (unreadable ones left out).
    pub fn timers(&self) -> Result<Vec<TimerRecord>, StoreError> {
        Ok(self
            .due_timers(i64::MAX, usize::MAX)?
            .into_iter()
            .filter_map(Result::ok)
            .collect())
    }

    /// Serialises `value` for a [`Batch`].
    pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("serialising plain data cannot fail")
    }

    /// Flushes everything written so far into sled, on disk, and starts the log afresh (a
    /// checkpoint: at a clean shutdown, the next start replays nothing).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.checkpoint_blocking())
            .await
            .map_err(|e| {
                StoreError::Sled(sled::Error::Io(std::io::Error::other(e.to_string())))
            })??;
        Ok(())
    }
}

/// Backups (see `crate::backup`): a consistent copy of every tree with sled's checksum of it,
/// and writing such a copy into a new store.
impl Store {
    /// A copy of every tree, empty ones included, sorted by name, each with its entries in key
    /// order, and sled's checksum of the store as copied. Writes wait while it copies, so the
    /// copy is one moment's state: no command is ever half in it.
    pub fn export_trees(&self) -> Result<(Vec<TreeCopy>, u32), StoreError> {
        let _alone = self.writes.write().unwrap_or_else(|e| e.into_inner());
        // What is copied is on disk too: nothing in a backup can be lost by a crash after it.
        let seq = self.sync_blocking()?;
        self.durability.synced.fetch_max(seq, Ordering::SeqCst);
        // The copy's last write is whole: a store restored from it rolls nothing back.
        self.journal.mark_whole()?;
        let mut trees = Vec::new();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let items = tree
                .iter()
                .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<Result<Vec<_>, _>>()?;
            trees.push((name.to_vec(), items));
        }
        trees.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((trees, self.db.checksum()?))
    }

    /// CRC-32 of every tree's name, keys and values (by name, then key), taken while writes
    /// wait, so it is the checksum of one moment's state.
    pub fn checksum(&self) -> Result<u32, StoreError> {
        let _alone = self.writes.write().unwrap_or_else(|e| e.into_inner());
        Ok(self.db.checksum()?)
    }

    /// Writes `trees` into a new store at `path` (refused when something is there), flushes
    /// it and returns its [`Store::checksum`]. The store is closed again on return.
    pub fn import_trees(path: &Path, trees: &[TreeCopy]) -> Result<u32, StoreError> {
        let shown = path.display().to_string();
        let db = sled::Config::new()
            .path(path)
            .create_new(true)
            .open()
            .map_err(|source| StoreError::Open {
                path: shown,
                source,
            })?;
        for (name, items) in trees {
            let tree = db.open_tree(name)?;
            let mut batch = sled::Batch::default();
            for (k, v) in items {
                batch.insert(k.as_slice(), v.as_slice());
            }
            tree.apply_batch(batch)?;
        }
        db.flush()?;
        // As `log`: sled's flush alone may leave it in the disk's cache.
        if let Ok(log) = std::fs::File::open(path.join("db")) {
            log.sync_data().map_err(sled::Error::from)?;
        }
        Ok(db.checksum()?)
    }
}

/// One tree in a backup: its name and its (key, value) entries in key order.
pub type TreeCopy = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// The thread and alert-key lookups, resolved alerts that matched nothing, and the open index.
fn write_indexes(tx: &wal::Tx<'_>, batch: &Batch) -> TxResult<()> {
    let (meta, threads, open) = (
        tx.tree(wal::META),
        tx.tree(wal::THREADS),
        tx.tree(wal::OPEN),
    );
    for (thread, inc) in &batch.threads {
        threads.insert(be(*thread), be(*inc))?;
    }
    for (key, inc) in &batch.alert_keys {
        meta.insert(key.as_slice(), be(*inc))?;
    }
    for json in &batch.unmatched_alerts {
        let n = read_u64(meta.get(K_NEXT_UNMATCHED)?).max(1);
        meta.insert(K_NEXT_UNMATCHED, be(n + 1))?;
        let mut key = UNMATCHED.to_vec();
        key.extend_from_slice(&be(n));
        meta.insert(key, json.clone())?;
    }
    for id in &batch.opened {
        if open.insert(be(*id), [])?.is_none() {
            add(&meta, K_OPEN, 1)?;
        }
    }
    for id in &batch.closed {
        if open.remove(be(*id))?.is_some() {
            add(&meta, K_OPEN, -1)?;
        }
    }
    Ok(())
}

/// New effects (numbered here, returned for the worker's index), completed ones and dead
/// letters, keeping the outbox's count.
fn write_outbox(tx: &wal::Tx<'_>, batch: &Batch) -> TxResult<Vec<QueuedEffect>> {
    let (meta, outbox, dead) = (tx.tree(wal::META), tx.tree(wal::OUTBOX), tx.tree(wal::DEAD));
    let mut queued = Vec::with_capacity(batch.effects.len());
    for e in &batch.effects {
        if e.single
            && let Some(waiting) = meta.get(single_key(e.lane))?
            && outbox.get(&waiting)?.is_some()
        {
            continue; // the one waiting, not yet taken, does it
        }
        let id = read_u64(meta.get(K_NEXT_EFFECT)?).max(1);
        meta.insert(K_NEXT_EFFECT, be(id + 1))?;
        outbox.insert(be(id), e.json.clone())?;
        add(&meta, K_OUTBOX_LEN, 1)?;
        if e.single {
            meta.insert(single_key(e.lane), be(id))?;
        }
        queued.push(QueuedEffect {
            id,
            lane: e.lane,
            coalesce: e.coalesce,
        });
    }
    for id in &batch.complete_effects {
        if outbox.remove(be(*id))?.is_some() {
            add(&meta, K_OUTBOX_LEN, -1)?;
        }
    }
    for (id, letter) in &batch.dead_letters {
        if outbox.remove(be(*id))?.is_some() {
            add(&meta, K_OUTBOX_LEN, -1)?;
        }
        dead.insert(be(*id), Store::encode(letter))?;
    }
    Ok(queued)
}

/// Timers cancelled, then set (a timer of the same incident and kind is replaced).
fn write_timers(timers: &Rec<'_>, batch: &Batch) -> TxResult<()> {
    for (inc, kind) in &batch.cancel_timers {
        remove_timer(timers, *inc, *kind)?;
    }
    for (due, inc, kind, json) in &batch.timers {
        remove_timer(timers, *inc, *kind)?;
        let key = timer_key(*due, *inc, *kind);
        timers.insert(key, json.clone())?;
        timers.insert(timer_index_key(*inc, *kind), key)?;
    }
    Ok(())
}

/// Appends one event; returns the incident's event count after it.
fn append_event(meta: &Rec<'_>, events: &Rec<'_>, incident: u64, json: &[u8]) -> TxResult<u64> {
    let seq = read_u64(meta.get(seq_key(incident))?);
    if seq == 0 {
        add(meta, K_INCIDENTS, 1)?;
    }
    events.insert(event_key(incident, seq), json)?;
    meta.insert(seq_key(incident), be(seq + 1))?;
    Ok(seq + 1)
}

fn remove_timer(timers: &Rec<'_>, incident: u64, kind: u8) -> TxResult<()> {
    if let Some(key) = timers.remove(timer_index_key(incident, kind))? {
        timers.remove(key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Vec<u8> {
        Store::encode(&serde_json::json!({ "e": s }))
    }

    fn effect(incident: u64, json: Vec<u8>) -> NewEffect {
        NewEffect {
            lane: Lane { incident, kind: 0 },
            coalesce: false,
            single: false,
            json,
        }
    }

    #[test]
    fn incident_ids_are_never_reused_and_events_keep_their_order() {
        let dir = std::env::temp_dir().join(format!("socbot-store-{}-a", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = Store::open(&dir).unwrap();
            for i in 0..3 {
                let id = s.allocate_incident_id().unwrap();
                assert_eq!(id, i + 1);
                let b = Batch {
                    events: vec![(id, ev(&format!("open{i}")))],
                    ..Batch::default()
                };
                assert_eq!(s.commit_blocking(b).unwrap(), Committed::Done);
            }
            s.commit_blocking(Batch {
                events: vec![(2, ev("answer"))],
                ..Batch::default()
            })
            .unwrap();
        }
        let s = Store::open(&dir).unwrap();
        assert_eq!(s.allocate_incident_id().unwrap(), 4);
        let b = Batch {
            events: vec![(4, ev("open4"))],
            threads: vec![(900, 4)],
            ..Batch::default()
        };
        assert_eq!(s.commit_blocking(b).unwrap(), Committed::Done);
        assert_eq!(s.incident_for_thread(900).unwrap(), Some(4));
        let events: Vec<serde_json::Value> = s.events(2).unwrap();
        assert_eq!(
            events,
            vec![
                serde_json::json!({"e": "open1"}),
                serde_json::json!({"e": "answer"})
            ]
        );
        assert_eq!(s.incident_ids().unwrap(), vec![1, 2, 3, 4]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_interaction_is_handled_once() {
        let s = Store::temporary().unwrap();
        let b = || Batch {
            interaction: Some(77),
            events: vec![(1, ev("x"))],
            ..Batch::default()
        };
        assert!(matches!(s.commit_blocking(b()).unwrap(), Committed::Done));
        assert_eq!(s.commit_blocking(b()).unwrap(), Committed::Duplicate);
        assert_eq!(s.events_raw(1).unwrap().len(), 1);
    }

    #[test]
    fn outbox_and_timers_in_order_and_replaceable() {
        let s = Store::temporary().unwrap();
        let b = Batch {
            effects: vec![
                effect(
                    1,
                    Store::encode(&serde_json::json!({"incident": 1, "k": "a"})),
                ),
                effect(2, ev("b")),
            ],
            timers: vec![(2_000, 1, 1, ev("late")), (-5, 9, 1, ev("early"))],
            ..Batch::default()
        };
        s.commit_blocking(b).unwrap();
        let out = s.outbox().unwrap();
        assert_eq!(out.len(), 2);
        let first: serde_json::Value = serde_json::from_slice(&out[0].json).unwrap();
        assert_eq!(first["incident"], 1);
        let t = s.timers().unwrap();
        assert_eq!(
            t.iter().map(|t| t.due_ms).collect::<Vec<_>>(),
            vec![-5, 2_000]
        );
        // Same (incident, kind) replaces; cancelling removes; completing removes an effect.
        s.commit_blocking(Batch {
            timers: vec![(10, 1, 1, ev("moved"))],
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(
            s.timers()
                .unwrap()
                .iter()
                .map(|t| t.due_ms)
                .collect::<Vec<_>>(),
            vec![-5, 10]
        );
        s.commit_blocking(Batch {
            cancel_timers: vec![(9, 1)],
            complete_effects: vec![out[0].id],
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(s.timers().unwrap().len(), 1);
        assert_eq!(s.outbox().unwrap().len(), 1);
        assert_eq!(s.outbox_len(), 1, "the kept count follows");
    }

    #[tokio::test]
    async fn due_timers_read_only_what_is_due_and_report_unreadable_ones() {
        let s = Store::temporary().unwrap();
        s.commit(Batch {
            timers: vec![
                (100, 1, 1, ev("a")),
                (200, 2, 1, b"not json".to_vec()),
                (300, 3, 1, ev("c")),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
        let due = s.due_timers(250, usize::MAX).unwrap();
        assert_eq!(due.len(), 2, "the one due at 300 is not read");
        assert_eq!(due[0].as_ref().unwrap().incident, 1);
        let bad = due[1].as_ref().unwrap_err();
        assert_eq!(bad.tree, "timers");
        s.set_aside("timers", &bad.key).unwrap();
        assert_eq!(s.unreadable_count(), 1);
        assert_eq!(s.next_timer_due().unwrap(), Some(100));
        assert_eq!(s.timer_count().unwrap(), 3, "index entries count timers");
    }

    #[tokio::test]
    async fn the_open_index_and_counts_follow_commits() {
        let s = Store::temporary().unwrap();
        assert!(!s.open_index_missing().unwrap());
        for id in 1..=5 {
            s.commit(Batch {
                events: vec![(id, ev("open"))],
                opened: vec![id],
                ..Batch::default()
            })
            .await
            .unwrap();
        }
        s.commit(Batch {
            events: vec![(2, ev("close")), (4, ev("close"))],
            closed: vec![2, 4],
            ..Batch::default()
        })
        .await
        .unwrap();
        assert_eq!(s.open_incident_ids().unwrap(), vec![1, 3, 5]);
        assert_eq!(s.incident_counts().unwrap(), (5, 3));
        assert_eq!(s.incident_ids_desc(None, 2, false).unwrap(), vec![5, 4]);
        assert_eq!(
            s.incident_ids_desc(Some(4), 10, false).unwrap(),
            vec![3, 2, 1]
        );
        assert_eq!(s.incident_ids_desc(Some(5), 1, true).unwrap(), vec![3]);
    }

    #[tokio::test]
    async fn concurrent_commits_share_flushes_and_each_waits_for_its_own() {
        let dir = std::env::temp_dir().join(format!("socbot-store-{}-g", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Store::open(&dir).unwrap();
        let commits = (0..32u64).map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.commit(Batch {
                    interaction: Some(i),
                    events: vec![(i + 1, ev("answer"))],
                    ..Batch::default()
                })
                .await
            })
        });
        let before = s.flushes();
        for c in commits.collect::<Vec<_>>() {
            assert_eq!(c.await.unwrap().unwrap(), Committed::Done);
        }
        let flushes = s.flushes() - before;
        assert!((1..=32).contains(&flushes), "{flushes}");
        // Every commit returned after a sync that covered it.
        let d = &s.durability;
        assert!(d.synced.load(Ordering::SeqCst) >= s.journal.seq());
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_outbox_worker_is_woken_by_a_sync_only_for_the_effects_it_made_deliverable() {
        let dir = std::env::temp_dir().join(format!("socbot-store-{}-w", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Store::open(&dir).unwrap();
        let fed = s.watch_effects();
        let woken = || async {
            tokio::select! {
                biased;
                () = fed.notified() => true,
                () = std::future::ready(()) => false,
            }
        };
        s.commit(Batch {
            events: vec![(1, ev("answer"))],
            ..Batch::default()
        })
        .await
        .unwrap();
        assert!(!woken().await, "nothing to deliver");
        let written = s
            .write(&Batch {
                effects: vec![effect(1, ev("refresh"))],
                ..Batch::default()
            })
            .unwrap();
        assert!(s.take_new_effects().is_empty(), "not before it is durable");
        s.durable(written).await.unwrap();
        assert!(woken().await);
        assert_eq!(s.take_new_effects().len(), 1);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn old_interaction_ids_are_pruned_recent_ones_kept() {
        let s = Store::temporary().unwrap();
        for id in [5, 6] {
            s.commit(Batch {
                interaction: Some(id),
                ..Batch::default()
            })
            .await
            .unwrap();
        }
        let now = chrono::Utc::now().timestamp_millis();
        assert_eq!(s.prune_interactions(now - INTERACTION_KEEP_MS).unwrap(), 0);
        assert!(s.interaction_seen(5).unwrap());
        assert_eq!(s.prune_interactions(now + 1_000).unwrap(), 2);
        assert!(!s.interaction_seen(5).unwrap());
        assert_eq!(s.interactions_len(), 0);
    }

    #[test]
    fn a_single_effect_waits_once_per_lane_until_the_worker_takes_it() {
        let s = Store::temporary().unwrap();
        s.watch_effects();
        let lane = Lane {
            incident: 4,
            kind: 3,
        };
        let single = |json: &str| Batch {
            effects: vec![NewEffect {
                lane,
                coalesce: true,
                single: true,
                json: ev(json),
            }],
            ..Batch::default()
        };
        for n in 0..5 {
            s.commit_blocking(single(&format!("press {n}"))).unwrap();
        }
        // Another incident's lane has its own.
        let mut other = single("other");
        other.effects[0].lane.incident = 5;
        s.commit_blocking(other).unwrap();
        let queued = s.take_new_effects();
        assert_eq!(queued.len(), 2, "{queued:?}");
        assert_eq!(s.outbox_len(), 2);
        let first = queued[0].id;
        assert_eq!(s.effect(first).unwrap(), Some(ev("press 0")));

        // Once taken for delivery, the next press queues another, which waits once in turn.
        s.claim_single(lane, first).unwrap();
        s.commit_blocking(single("after")).unwrap();
        s.commit_blocking(single("after again")).unwrap();
        let queued = s.take_new_effects();
        assert_eq!(queued.len(), 1, "{queued:?}");
        assert_eq!(s.effect(queued[0].id).unwrap(), Some(ev("after")));
        // A delivered one makes room as well, claimed or not.
        s.commit_blocking(Batch {
            complete_effects: vec![first, queued[0].id],
            ..Batch::default()
        })
        .unwrap();
        s.commit_blocking(single("later")).unwrap();
        assert_eq!(s.take_new_effects().len(), 1);
        assert_eq!(s.outbox_len(), 2);
    }

    #[tokio::test]
    async fn a_dead_letter_is_retried_into_its_lane_or_dropped() {
        let s = Store::temporary().unwrap();
        s.watch_effects();
        s.commit(Batch {
            effects: vec![effect(7, ev("x")), effect(7, ev("y"))],
            ..Batch::default()
        })
        .await
        .unwrap();
        let queued = s.take_new_effects();
        assert_eq!(queued.len(), 2);
        let letter = DeadLetter {
            entry: serde_json::json!({"e": "x"}),
            lane: Lane {
                incident: 7,
                kind: 0,
            },
            coalesce: false,
            reason: "refused: 403".into(),
            attempts: 1,
            at_ms: 0,
        };
        s.commit(Batch {
            dead_letters: vec![(queued[0].id, letter)],
            ..Batch::default()
        })
        .await
        .unwrap();
        assert_eq!(s.outbox_len(), 1);
        assert_eq!(s.dead_letters().unwrap().len(), 1);
        let again = s.retry_dead_letter(queued[0].id).await.unwrap().unwrap();
        assert!(again > queued[1].id, "back at the end of its lane");
        assert_eq!(s.take_new_effects()[0].lane.incident, 7);
        assert_eq!(s.retry_dead_letter(queued[0].id).await.unwrap(), None);
        assert_eq!(s.outbox_len(), 2);
        assert_eq!(s.dead_letter_count(), 0);
        assert!(!s.drop_dead_letter(1).await.unwrap());
    }

    #[test]
    fn interactions_handled_before_a_restart_are_still_seen_until_pruned() {
        let dir = std::env::temp_dir().join(format!("socbot-store-{}-i", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = Store::open(&dir).unwrap();
            let b = Batch {
                interaction: Some(77),
                ..Batch::default()
            };
            assert_eq!(s.commit_blocking(b).unwrap(), Committed::Done);
            assert!(s.interaction_seen(77).unwrap());
        }
        let s = Store::open(&dir).unwrap();
        assert!(s.interaction_seen(77).unwrap(), "seen after the restart");
        assert!(!s.interaction_seen(78).unwrap());
        let later = chrono::Utc::now().timestamp_millis() + 1_000;
        assert_eq!(s.prune_interactions(later).unwrap(), 1);
        assert!(!s.interaction_seen(77).unwrap(), "pruned");
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused() {
        let dir = std::env::temp_dir().join(format!("socbot-store-{}-b", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = Store::open(&dir).unwrap();
            s.meta.insert(K_SCHEMA, &be(SCHEMA_VERSION + 1)).unwrap();
            s.db.flush().unwrap();
        }
        let err = Store::open(&dir).unwrap_err().to_string();
        assert!(err.contains("newer socbot"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
