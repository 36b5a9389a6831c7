//! Durable state in sled, behind one module so another database could replace it.
//!
//! Trees:
//! - `meta`: schema version, the incident counter, the outbox counter, per-incident event counts.
//! - `events`: `incident (u64 BE) ‖ seq (u64 BE)` → one JSON event. An incident is the fold of
//!   its events.
//! - `outbox`: `effect id (u64 BE)` → JSON [`OutboxEntry`]: side effects waiting for delivery.
//! - `timers`: `due ms (i64 BE, offset) ‖ incident ‖ kind` → JSON timer, in due order.
//! - `interactions`: `interaction id (u64 BE)` → when it was handled: each is handled once.
//! - `threads`: `thread id (u64 BE)` → incident id: which incident a chat thread belongs to.
//!
//! A command's events, effects, timers and interaction id go in one transaction ([`Batch`]), and
//! [`Store::commit`] flushes before returning: what it returned is on disk.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

/// The layout version this build writes. A store from a newer build is refused.
pub const SCHEMA_VERSION: u64 = 1;

const K_SCHEMA: &[u8] = b"schema_version";
const K_NEXT_INCIDENT: &[u8] = b"next_incident";
const K_NEXT_EFFECT: &[u8] = b"next_effect";

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
}

/// What one command writes, atomically.
#[derive(Debug, Default)]
pub struct Batch {
    /// The interaction this batch answers; a second commit with the same id does nothing.
    pub interaction: Option<u64>,
    /// (incident, JSON event), appended in order.
    pub events: Vec<(u64, Vec<u8>)>,
    /// JSON effects for the outbox, delivered in order.
    pub effects: Vec<Vec<u8>>,
    /// (due ms since epoch, incident, kind, JSON) timers to set; same (incident, kind) replaces.
    pub timers: Vec<(i64, u64, u8, Vec<u8>)>,
    /// (incident, kind) timers to cancel.
    pub cancel_timers: Vec<(u64, u8)>,
    /// Outbox entries this batch completes (removed in the same transaction).
    pub complete_effects: Vec<u64>,
    /// (thread id, incident id): remember which incident a thread belongs to.
    pub threads: Vec<(u64, u64)>,
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

#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    meta: Tree,
    events: Tree,
    outbox: Tree,
    timers: Tree,
    interactions: Tree,
    threads: Tree,
    /// sled's log file, for an `fdatasync` after each flush: on Linux sled 0.34 flushes with
    /// `sync_file_range`, which neither flushes the disk's write cache nor the file's size, so
    /// a power cut could lose a flushed commit. None for temporary stores.
    log: Option<std::sync::Arc<std::fs::File>>,
    /// Every write holds it shared; a backup's copy holds it alone, so the copy is one moment.
    writes: std::sync::Arc<std::sync::RwLock<()>>,
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn read_u64(v: Option<sled::IVec>) -> u64 {
    v.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
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

/// Timer keys sort by due time: the signed ms is offset into unsigned order.
fn timer_key(due_ms: i64, incident: u64, kind: u8) -> [u8; 17] {
    let mut k = [0; 17];
    k[..8].copy_from_slice(&((due_ms as u64) ^ (1 << 63)).to_be_bytes());
    k[8..16].copy_from_slice(&be(incident));
    k[16] = kind;
    k
}

fn timer_index_key(incident: u64, kind: u8) -> Vec<u8> {
    let mut k = b"timer/".to_vec();
    k.extend_from_slice(&be(incident));
    k.push(kind);
    k
}

type TxResult<T> = Result<T, ConflictableTransactionError<()>>;

impl Store {
    /// Opens (creating when missing) the store at `path`, checking its schema version.
    ///
    /// A store that was just closed may stay locked for a moment while sled's background
    /// threads finish (a restart, `restore`): a lock conflict is retried for up to 5 s before it
    /// is reported. [`Store::open_now`] does not wait.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
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
            .path(path)
            .open()
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?;
        let mut store = Self::from_db(db, &shown)?;
        store.log = std::fs::File::open(path.join("db"))
            .ok()
            .map(std::sync::Arc::new);
        Ok(store)
    }

    /// A store in a temporary directory that disappears when dropped (tests, benchmarks).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::from_db(db, "(temporary)")
    }

    fn from_db(db: sled::Db, path: &str) -> Result<Self, StoreError> {
        let meta = db.open_tree("meta")?;
        let found = read_u64(meta.get(K_SCHEMA)?);
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
                found,
            });
        }
        if found < SCHEMA_VERSION {
            meta.insert(K_SCHEMA, &be(SCHEMA_VERSION))?;
            db.flush()?;
        }
        Ok(Self {
            meta,
            events: db.open_tree("events")?,
            outbox: db.open_tree("outbox")?,
            timers: db.open_tree("timers")?,
            interactions: db.open_tree("interactions")?,
            threads: db.open_tree("threads")?,
            db,
            log: None,
            writes: std::sync::Arc::default(),
        })
    }

    /// Makes what sled flushed durable on the disk itself (see `log`).
    async fn sync_log(&self) -> Result<(), StoreError> {
        if let Some(log) = self.log.clone() {
            let synced = tokio::task::spawn_blocking(move || log.sync_data())
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            synced.map_err(sled::Error::from)?;
        }
        Ok(())
    }

    /// The schema version recorded in the store.
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        Ok(read_u64(self.meta.get(K_SCHEMA)?))
    }

    /// Takes the next incident number. Numbers are never given twice: the counter is durable
    /// before any incident that uses it is (a crash may leave a gap, never a reuse).
    pub fn allocate_incident_id(&self) -> Result<u64, StoreError> {
        let _writing = self.writing();
        let next = self.meta.update_and_fetch(K_NEXT_INCIDENT, |old| {
            let n = read_u64(old.map(sled::IVec::from)).max(1);
            Some(be(n + 1).to_vec())
        })?;
        Ok(read_u64(next) - 1)
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
        {
            let _writing = self.writing();
            self.meta
                .insert(format!("doc/{key}"), Self::encode(value))?;
        }
        self.db.flush_async().await?;
        self.sync_log().await?;
        Ok(())
    }

    /// Whether an interaction was handled already.
    pub fn interaction_seen(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self.interactions.contains_key(be(id))?)
    }

    /// The incident a chat thread belongs to.
    pub fn incident_for_thread(&self, thread: u64) -> Result<Option<u64>, StoreError> {
        Ok(self.threads.get(be(thread))?.map(|v| read_u64(Some(v))))
    }

    /// Writes `batch` in one transaction and flushes it to disk before returning.
    pub async fn commit(&self, batch: Batch) -> Result<Committed, StoreError> {
        let out = self.write(&batch)?;
        if out != Committed::Duplicate {
            self.db.flush_async().await?;
            self.sync_log().await?;
        }
        Ok(out)
    }

    /// As [`Store::commit`], flushing synchronously (for code outside a runtime).
    pub fn commit_blocking(&self, batch: Batch) -> Result<Committed, StoreError> {
        let out = self.write(&batch)?;
        if out != Committed::Duplicate {
            self.db.flush()?;
            if let Some(log) = &self.log {
                log.sync_data().map_err(sled::Error::from)?;
            }
        }
        Ok(out)
    }

    /// Held while writing: see `writes`.
    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, batch: &Batch) -> Result<Committed, StoreError> {
        let _writing = self.writing();
        let trees = (
            &self.meta,
            &self.events,
            &self.outbox,
            &self.timers,
            &self.interactions,
            &self.threads,
        );
        let result = trees.transaction(|(meta, events, outbox, timers, interactions, threads)| {
            if let Some(id) = batch.interaction {
                if interactions.get(be(id))?.is_some() {
                    return Ok(Committed::Duplicate);
                }
                let now = chrono::Utc::now().timestamp_millis();
                interactions.insert(&be(id), &now.to_be_bytes())?;
            }
            for (inc, json) in &batch.events {
                append_event(meta, events, *inc, json)?;
            }
            for (thread, inc) in &batch.threads {
                threads.insert(&be(*thread), &be(*inc))?;
            }
            for json in &batch.effects {
                let id = read_u64(meta.get(K_NEXT_EFFECT)?).max(1);
                meta.insert(K_NEXT_EFFECT, &be(id + 1))?;
                outbox.insert(&be(id), json.clone())?;
            }
            for id in &batch.complete_effects {
                outbox.remove(&be(*id))?;
            }
            for (inc, kind) in &batch.cancel_timers {
                remove_timer(timers, *inc, *kind)?;
            }
            for (due, inc, kind, json) in &batch.timers {
                remove_timer(timers, *inc, *kind)?;
                let key = timer_key(*due, *inc, *kind);
                timers.insert(&key, json.clone())?;
                timers.insert(timer_index_key(*inc, *kind), &key)?;
            }
            Ok(Committed::Done)
        });
        result.map_err(|e| match e {
            TransactionError::Abort(()) => StoreError::Corrupt {
                tree: "transaction",
                message: "aborted".into(),
            },
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Every event of one incident, in order, as stored JSON.
    pub fn events_raw(&self, incident: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.events
            .scan_prefix(be(incident))
            .values()
            .map(|v| v.map(|v| v.to_vec()).map_err(StoreError::from))
            .collect()
    }

    /// Every event of one incident, decoded.
    pub fn events<T: DeserializeOwned>(&self, incident: u64) -> Result<Vec<T>, StoreError> {
        self.events_raw(incident)?
            .iter()
            .map(|v| {
                serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
                    tree: "events",
                    message: format!("INC-{incident}: {e}"),
                })
            })
            .collect()
    }

    /// The ids of every incident, ascending.
    pub fn incident_ids(&self) -> Result<Vec<u64>, StoreError> {
        let mut ids = Vec::new();
        for k in self.meta.scan_prefix(b"seq/").keys() {
            let k = k?;
            if let Ok(b) = <[u8; 8]>::try_from(&k[4..]) {
                ids.push(u64::from_be_bytes(b));
            }
        }
        Ok(ids)
    }

    /// Effects waiting for delivery, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxRecord>, StoreError> {
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

    /// Replaces an outbox entry's JSON (its progress or retry state), durably.
    pub async fn update_effect(&self, id: u64, json: &[u8]) -> Result<(), StoreError> {
        let present = {
            let _writing = self.writing();
            let present = self.outbox.get(be(id))?.is_some();
            if present {
                self.outbox.insert(be(id), json)?;
            }
            present
        };
        if present {
            self.db.flush_async().await?;
        }
        Ok(())
    }

    /// Timers in due order.
    /// How many effects wait in the outbox (counted, not copied).
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// How many timers are armed (counted, not copied; index entries skipped).
    pub fn timer_count(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        for key in self.timers.iter().keys() {
            if key?.len() == 17 {
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn timers(&self) -> Result<Vec<TimerRecord>, StoreError> {
        let mut out = Vec::new();
        for kv in self.timers.iter() {
            let (k, v) = kv?;
            if k.len() != 17 {
                continue; // index entries
            }
            let due =
                (u64::from_be_bytes(k[..8].try_into().unwrap_or_default()) ^ (1 << 63)) as i64;
            let incident = u64::from_be_bytes(k[8..16].try_into().unwrap_or_default());
            out.push(TimerRecord {
                due_ms: due,
                incident,
                kind: k[16],
                json: v.to_vec(),
            });
        }
        Ok(out)
    }

    /// Serialises `value` for a [`Batch`].
    pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("serialising plain data cannot fail")
    }

    /// Flushes everything written so far.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
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

    /// CRC-32 of every tree's name, keys and values (by name, then key), taken while sled holds
    /// every writer off, so it is the checksum of one moment's state.
    pub fn checksum(&self) -> Result<u32, StoreError> {
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

fn append_event(
    meta: &TransactionalTree,
    events: &TransactionalTree,
    incident: u64,
    json: &[u8],
) -> TxResult<()> {
    let seq = read_u64(meta.get(seq_key(incident))?);
    events.insert(&event_key(incident, seq), json)?;
    meta.insert(seq_key(incident), &be(seq + 1))?;
    Ok(())
}

fn remove_timer(timers: &TransactionalTree, incident: u64, kind: u8) -> TxResult<()> {
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
                Store::encode(&serde_json::json!({"incident": 1, "k": "a"})),
                ev("b"),
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
