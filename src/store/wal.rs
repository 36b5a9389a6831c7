//! The store's redo log: a commit is durable after one `write` + `fdatasync` of this log, not
//! after sled's flush (a `sync_file_range` of its own) and an `fdatasync` of sled's file.
//!
//! Every write to sled goes through [`Journal::apply`], one at a time. Its changes are first
//! gathered (reads inside it see them) with each key's value before; then they are put in
//! sled with plain inserts, not a sled transaction (whose commit makes sled write and
//! `sync_file_range` its log buffer twice, on every write: most of a write's cost), and
//! appended as one record to the pending buffer, so records are in the order sled applied
//! them. Readers of more than one key wait while a write is put in sled
//! ([`Journal::reading`]): none sees half of one. [`Journal::sync`] writes the pending records
//! to `<store>/wal/<n>.log` and syncs it: one sync covers every record that arrived before it
//! (group commit).
//!
//! A crash in the middle: sled recovers a prefix of the changes made in it, in their order
//! (its log is one sequence). Each write puts first its undo (`wal/undo` in `meta`: its
//! sequence number and the values it replaces), then its changes: after a crash, every write
//! before the undo sled holds is whole in it, and that last one may be cut short. It is rolled
//! back at open, then the log is replayed from it (putting it back whole when its record was
//! synced; a write never synced was never acknowledged). A checkpoint records, before it
//! flushes sled, that every write so far is whole (`wal/applied`): the log files it deletes
//! could not replay one rolled back.
//!
//! Log files are preallocated: zeros are written over [`LOG_FILE_BYTES`] and synced (data,
//! size and the directory entry) by a background thread before the file is needed, so a sync
//! overwrites blocks the file already has and `fdatasync` commits no change of size. A
//! checkpoint switches to the prepared file; with none ready (at open, or the prepared one not
//! yet done) a new empty file is used and the prepared one replaces it as soon as it is ready.
//! Records are written at the file's current offset; a group bigger than what is left of the
//! file is written past its end (the file grows: still correct, only slower).
//!
//! On open, [`replay`] rolls back the last write (above), then applies the records after it,
//! in order: sled is then at the last durable record exactly. A zero length word where a
//! record would start is the clean end of a file (the unused, zero-filled rest of it). A
//! record that is torn (short, or its CRC does not match) or leaves a gap ends the replay. When sled got further than the log (its own flusher ran after the
//! last sync), sled's state (but its last write) is the newer one and nothing is replayed.
//!
//! [`Journal::checkpoint`] (in the background when the log file grows, at open and at a clean
//! shutdown) moves on to a new log file, flushes sled and syncs its file, then deletes the older
//! log files: the log stays small (the current file, the prepared next one and, during a
//! checkpoint, the one before: about three times [`LOG_FILE_BYTES`] on disk at most).
//!
//! Record: `body length (u32 LE) ‖ CRC-32 of body (u32 LE) ‖ body`; body: `seq (u64 LE)` then
//! changes, each `tree (u8) ‖ 1: set, 0: remove (u8) ‖ key length (u32 LE) ‖ key` and for a set
//! `value length (u32 LE) ‖ value`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use sled::{IVec, Tree};

use super::StoreError;

/// The trees every record names by index, in this order.
pub(super) const TREES: [&str; 10] = [
    "meta",
    "events",
    "outbox",
    "dead",
    "timers",
    "interactions",
    "interaction_times",
    "threads",
    "open",
    "unreadable",
];
pub(super) const META: usize = 0;
pub(super) const EVENTS: usize = 1;
pub(super) const OUTBOX: usize = 2;
pub(super) const DEAD: usize = 3;
pub(super) const TIMERS: usize = 4;
pub(super) const INTERACTIONS: usize = 5;
pub(super) const INTERACTION_TIMES: usize = 6;
pub(super) const THREADS: usize = 7;
pub(super) const OPEN: usize = 8;
pub(super) const UNREADABLE: usize = 9;

/// In `meta`: every write up to this sequence number is whole in sled (set by checkpoints,
/// backups and replay; writes after it are told by the last write's undo, [`K_UNDO`]).
pub(super) const K_APPLIED: &[u8] = b"wal/applied";

/// A write nobody waits for (an effect completed "lightly", a retry's state) is synced at most
/// this long after it is applied, by a background thread: what sled's own flusher did every
/// 500 ms before the log.
pub const LAZY_SYNC_MS: u64 = 20;

/// A log file this big is checkpointed (in the background) after the sync that grew it.
pub const CHECKPOINT_BYTES: u64 = 4 * 1024 * 1024;

/// A prepared log file's size: zeros written and synced before its first record (see the
/// module). The slack past [`CHECKPOINT_BYTES`] takes what is written while a checkpoint starts.
pub const LOG_FILE_BYTES: u64 = CHECKPOINT_BYTES + 512 * 1024;

pub(super) type TxResult<T> = Result<T, sled::Error>;

/// In `meta`: the undo of the last write put in sled (see [`Journal::apply`]): its sequence
/// number (u64 LE), then the value each key it changed had before it, in the changes' format.
pub(super) const K_UNDO: &[u8] = b"wal/undo";

/// A key's value before the write and after it (None: absent, or removed).
#[derive(Debug)]
struct Touched {
    before: Option<IVec>,
    after: Option<IVec>,
    /// Written by the write (else only read: kept so a change after the read reads nothing).
    changed: bool,
}

/// The changes of one write, gathered before any of them reaches sled.
#[derive(Debug)]
pub(super) struct WriteSet {
    /// Per tree (in [`TREES`] order): each key changed, its value before and after.
    touched: [BTreeMap<Vec<u8>, Touched>; TREES.len()],
    /// The record's changes, in the order they were made.
    ops: Vec<u8>,
}

impl Default for WriteSet {
    fn default() -> Self {
        Self {
            touched: std::array::from_fn(|_| BTreeMap::new()),
            ops: Vec::new(),
        }
    }
}

impl WriteSet {
    /// Each key changed: (tree, key, its values before and after).
    fn each(&self) -> impl Iterator<Item = (usize, &[u8], &Touched)> {
        self.touched
            .iter()
            .enumerate()
            .flat_map(|(tree, keys)| keys.iter().map(move |(k, t)| (tree, k.as_slice(), t)))
            .filter(|(_, _, t)| t.changed)
    }

    /// The undo record: `seq (u64 LE)`, then a change per key back to its value before.
    fn undo(&self, seq: u64) -> Vec<u8> {
        let mut undo = seq.to_le_bytes().to_vec();
        for (tree, key, t) in self.each() {
            encode_change(&mut undo, tree as u8, key, t.before.as_deref());
        }
        undo
    }

    /// Puts the first `n` keys' values after the write (`after`) or before it in `trees`.
    fn put(&self, trees: &[Tree], after: bool, n: usize) -> Result<(), sled::Error> {
        for (tree, key, t) in self.each().take(n) {
            let value = if after { &t.after } else { &t.before };
            put_change(trees, (tree, key, value.as_deref()))?;
        }
        Ok(())
    }
}

/// One tree inside a write: reads see the write's own changes; every change is recorded.
pub(super) struct Rec<'a> {
    tree: &'a Tree,
    id: u8,
    set: &'a RefCell<WriteSet>,
}

impl Rec<'_> {
    pub fn get(&self, key: impl AsRef<[u8]>) -> TxResult<Option<IVec>> {
        let mut set = self.set.borrow_mut();
        Ok(self.touch(&mut set, key.as_ref())?.after.clone())
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> TxResult<Option<IVec>> {
        self.change(key.as_ref(), Some(value.as_ref()))
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> TxResult<Option<IVec>> {
        self.change(key.as_ref(), None)
    }

    /// Records setting `key` to `value` (None: removing it); returns its value until now.
    fn change(&self, key: &[u8], value: Option<&[u8]>) -> TxResult<Option<IVec>> {
        let mut set = self.set.borrow_mut();
        encode_change(&mut set.ops, self.id, key, value);
        let t = self.touch(&mut set, key)?;
        t.changed = true;
        Ok(std::mem::replace(&mut t.after, value.map(IVec::from)))
    }

    /// `key` as this write has it: read from sled the first time (its value before the
    /// write), from the write-set after.
    fn touch<'s>(&self, set: &'s mut WriteSet, key: &[u8]) -> TxResult<&'s mut Touched> {
        let keys = &mut set.touched[self.id as usize];
        if !keys.contains_key(key) {
            let before = self.tree.get(key)?;
            let t = Touched {
                after: before.clone(),
                before,
                changed: false,
            };
            keys.insert(key.to_vec(), t);
        }
        Ok(keys.get_mut(key).expect("inserted above"))
    }
}

/// Appends one change: `tree ‖ 1: set, 0: remove ‖ key` and for a set `value`.
fn encode_change(buf: &mut Vec<u8>, tree: u8, key: &[u8], value: Option<&[u8]>) {
    buf.extend_from_slice(&[tree, u8::from(value.is_some())]);
    put(buf, key);
    if let Some(value) = value {
        put(buf, value);
    }
}

/// Makes one change in sled.
fn put_change(trees: &[Tree], (tree, key, value): Change<'_>) -> Result<(), sled::Error> {
    match value {
        Some(v) => trees[tree].insert(key, v)?,
        None => trees[tree].remove(key)?,
    };
    Ok(())
}

fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// Every tree of one write, recording.
pub(super) struct Tx<'a> {
    trees: &'a [Tree],
    set: &'a RefCell<WriteSet>,
}

impl Tx<'_> {
    /// Tree `id` (one of the constants above).
    pub fn tree(&self, id: usize) -> Rec<'_> {
        Rec {
            tree: &self.trees[id],
            id: id as u8,
            set: self.set,
        }
    }
}

/// The open log file.
#[derive(Debug)]
struct LogFile {
    number: u64,
    file: Arc<File>,
    /// Bytes of records in it: where the next record is written.
    len: u64,
    /// Zero-filled and synced to [`LOG_FILE_BYTES`] before use (else an empty file, replaced
    /// by a prepared one as soon as one is ready).
    prepared: bool,
}

/// The next log file, zero-filled in the background (see the module).
#[derive(Debug)]
struct Spares {
    dir: PathBuf,
    /// Held while a file is prepared: a rotation that finds none ready waits for it.
    preparing: Mutex<()>,
    /// A prepared file, ready to be switched to.
    ready: Mutex<Option<LogFile>>,
    /// The highest file number asked for: each is prepared once (a failed one is not retried;
    /// the next rotation asks for the next).
    asked: AtomicU64,
}

impl Spares {
    /// Prepares log file `number` in a background thread, unless it was asked for before.
    fn ask(self: &Arc<Self>, number: u64) {
        if self.asked.fetch_max(number, Ordering::SeqCst) >= number {
            return;
        }
        let spares = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("socbot-store-log-prep".into())
            .spawn(move || spares.prepare(number));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread to prepare the store's next log file; the log grows its files instead");
        }
    }

    fn prepare(&self, number: u64) {
        let _preparing = lock(&self.preparing);
        if lock(&self.ready)
            .as_ref()
            .is_some_and(|f| f.number >= number)
        {
            return;
        }
        let path = self.dir.join(format!("{number}.log"));
        match prepared_file(&self.dir, &path) {
            Ok(file) => {
                *lock(&self.ready) = Some(LogFile {
                    number,
                    file: Arc::new(file),
                    len: 0,
                    prepared: true,
                });
            }
            // A rotation that found nothing ready used the number meanwhile: nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                tracing::debug!(file = %path.display(), "the next log file exists already");
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                tracing::warn!(file = %path.display(), error = %e, "the store's next log file could not be prepared; the log grows its files instead");
            }
        }
    }

    /// The prepared file numbered `number`, if it is ready. A rotation passes `wait`: it
    /// waits for one being prepared.
    fn take(&self, number: u64, wait: bool) -> Option<LogFile> {
        let _preparing = if wait {
            Some(lock(&self.preparing))
        } else {
            None
        };
        let mut ready = lock(&self.ready);
        match ready.take() {
            Some(f) if f.number == number => Some(f),
            // For a later file: kept. (One numbered below is never written: dropped, and
            // deleted with the files before the next checkpoint.)
            Some(later) if later.number > number => {
                *ready = Some(later);
                None
            }
            _ => None,
        }
    }
}

/// Creates `path` (it must not exist), writes [`LOG_FILE_BYTES`] of zeros, syncs it and `dir`.
fn prepared_file(dir: &Path, path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(path)?;
    let zeros = vec![0u8; 256 * 1024];
    let mut left = LOG_FILE_BYTES;
    while left > 0 {
        let n = left.min(zeros.len() as u64);
        (&file).write_all(&zeros[..n as usize])?;
        left -= n;
    }
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

#[derive(Debug, Default)]
struct State {
    /// The last record's sequence number (applied in sled, perhaps not yet written).
    seq: u64,
    /// Records applied and not yet written to the log file.
    pending: Vec<u8>,
    /// None for a store without a directory (temporary): sled's flush makes it durable.
    file: Option<LogFile>,
    /// Records were dropped after a failed write: only a checkpoint makes anything durable.
    broken: bool,
}

/// The redo log of one store (see the module).
#[derive(Debug)]
pub(super) struct Journal {
    dir: Option<PathBuf>,
    /// The next log file, prepared in the background (None without a directory).
    spares: Option<Arc<Spares>>,
    state: Mutex<State>,
    /// One writer of the log file at a time, in order (held across write + sync).
    io: Mutex<()>,
    /// sled's `meta` tree, where a checkpoint records how far sled is whole (`wal/applied`).
    meta: Tree,
    /// Held (exclusively) while a write's changes are put in sled, and by readers of more
    /// than one key ([`Journal::reading`]): no reader sees half a write.
    shown: RwLock<()>,
    /// A background checkpoint is running.
    checkpointing: AtomicBool,
    /// Wakes the thread that syncs what nobody waits for (see [`Journal::sync_lazily`]).
    lazy: Arc<Lazy>,
}

/// The lazy syncer's bell: rung when records start to wait in the buffer, closed when the
/// journal is dropped. The thread sleeps on it, so an idle store costs no wake-ups.
#[derive(Debug, Default)]
struct Lazy {
    /// (rung and not yet answered, closed)
    state: Mutex<(bool, bool)>,
    bell: Condvar,
}

impl Lazy {
    fn ring(&self) {
        lock(&self.state).0 = true;
        self.bell.notify_one();
    }

    fn close(&self) {
        lock(&self.state).1 = true;
        self.bell.notify_one();
    }

    /// Waits for a ring: true when rung, false once closed.
    fn wait(&self) -> bool {
        let mut state = lock(&self.state);
        while !state.0 && !state.1 {
            state = self
                .bell
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.0 = false;
        !state.1
    }
}

impl Drop for Journal {
    /// The store's last handle is gone: no write is under way, every one is whole in sled
    /// (sled flushes as it closes), so the next open rolls none back.
    fn drop(&mut self) {
        self.lazy.close();
        if let Err(e) = self.mark_whole() {
            tracing::debug!(error = %e, "closing store not marked whole; its next open rolls its last write back and replays it");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_err(e: std::io::Error) -> StoreError {
    StoreError::Sled(sled::Error::Io(e))
}

/// sled's flush, then an `fdatasync` of its file (sled 0.34 flushes with `sync_file_range`,
/// which flushes neither the disk's write cache nor the file's size).
pub(super) fn flush_db(db: &sled::Db, db_file: Option<&File>) -> Result<(), StoreError> {
    db.flush()?;
    if let Some(f) = db_file {
        f.sync_data().map_err(io_err)?;
    }
    Ok(())
}

impl Journal {
    /// A journal without a file (temporary stores): durability is sled's flush. `meta` is
    /// marked whole like a store's on disk (a backup of a temporary store restores whole).
    pub fn memory(seq: u64, meta: Tree) -> Self {
        Self::new(None, seq, meta)
    }

    fn new(dir: Option<PathBuf>, seq: u64, meta: Tree) -> Self {
        let spares = dir.as_ref().map(|dir| {
            Arc::new(Spares {
                dir: dir.clone(),
                preparing: Mutex::new(()),
                ready: Mutex::new(None),
                asked: AtomicU64::new(0),
            })
        });
        Self {
            dir,
            spares,
            state: Mutex::new(State {
                seq,
                ..State::default()
            }),
            io: Mutex::new(()),
            meta,
            shown: RwLock::new(()),
            checkpointing: false.into(),
            lazy: Arc::default(),
        }
    }

    /// The journal of the store at `store` (its log in `<store>/wal`), after replaying the log
    /// into `trees` (all of [`TREES`], in order). Call [`Journal::checkpoint`] next: it opens
    /// the first new log file and removes the replayed ones.
    pub fn open(store: &Path, trees: &[Tree]) -> Result<Self, StoreError> {
        let dir = store.join("wal");
        std::fs::create_dir_all(&dir).map_err(io_err)?;
        let seq = replay(&dir, trees)?;
        Ok(Self::new(Some(dir), seq, trees[META].clone()))
    }

    /// Runs `f` over `trees`, gathering its changes, then puts them in sled as one write (see
    /// [`Journal::show`]) and appends them as one record. Returns what `f` returned and the
    /// record's sequence number (0: nothing changed, nothing to wait for). Writes are applied
    /// one at a time, in the log's order.
    pub fn apply<R>(
        &self,
        trees: &[Tree],
        f: impl FnOnce(&Tx<'_>) -> TxResult<R>,
    ) -> Result<(R, u64), StoreError> {
        let mut state = lock(&self.state);
        let set = RefCell::new(WriteSet::default());
        let out = f(&Tx { trees, set: &set })?;
        let set = set.into_inner();
        if set.ops.is_empty() {
            return Ok((out, 0));
        }
        let seq = state.seq + 1;
        self.show(trees, seq, &set)?;
        state.seq = seq;
        if state.file.is_some() {
            let body_len = 8 + set.ops.len();
            let mut body = Vec::with_capacity(body_len);
            body.extend_from_slice(&seq.to_le_bytes());
            body.extend_from_slice(&set.ops);
            let pending = &mut state.pending;
            if pending.is_empty() {
                self.lazy.ring();
            }
            pending.extend_from_slice(&(body_len as u32).to_le_bytes());
            pending.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            pending.extend_from_slice(&body);
        }
        Ok((out, seq))
    }

    /// Puts write `seq`'s changes in sled, readers waiting meanwhile: first its undo (what
    /// each key held before), then each key's new value. sled recovers from a crash a prefix
    /// of the changes made in it, in order: every write before the last undo there is whole,
    /// and [`replay`] rolls the last one back (it may be cut short) before replaying the log.
    /// A failed change rolls the others back (best effort: sled fails only when its disk does).
    fn show(&self, trees: &[Tree], seq: u64, set: &WriteSet) -> Result<(), StoreError> {
        let _readers_wait = self.shown.write().unwrap_or_else(PoisonError::into_inner);
        let put = || -> Result<(), sled::Error> {
            trees[META].insert(K_UNDO, set.undo(seq))?;
            #[cfg(test)]
            if let Some(left_out) = tests::CUT_SHORT.take() {
                let n = set.each().count().saturating_sub(left_out);
                return set.put(trees, true, n);
            }
            set.put(trees, true, usize::MAX)
        };
        if let Err(e) = put() {
            if let Err(back) = set.put(trees, false, usize::MAX) {
                tracing::error!(error = %back, "a failed store write could not be rolled back in memory; restart socbot (the log and the undo bring the store back)");
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Held while reading more than one key that one write may change (a scan): the read
    /// sees each write whole or not at all. Never held while writing, nor taken twice.
    pub fn reading(&self) -> RwLockReadGuard<'_, ()> {
        self.shown.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last record's sequence number.
    pub fn seq(&self) -> u64 {
        lock(&self.state).seq
    }

    /// Makes every record applied so far durable: one `write` + `fdatasync` of the log (or,
    /// without a log file or after a failed write, a checkpoint). Returns the sequence number
    /// it covers. Blocking.
    pub fn sync(&self, db: &sled::Db, db_file: Option<&File>) -> Result<u64, StoreError> {
        let io = lock(&self.io);
        match self.write_pending() {
            Ok(Some(seq)) => Ok(seq),
            Ok(None) => self.hard_checkpoint(io, db, db_file),
            Err(e) => {
                tracing::warn!(error = %e, "the store's log could not be written; flushing the store instead");
                self.hard_checkpoint(io, db, db_file)
            }
        }
    }

    /// Starts the thread that syncs what nobody waits for (see [`LAZY_SYNC_MS`]): it sleeps
    /// until records wait in the buffer, and ends once the journal is dropped.
    pub fn sync_lazily(journal: &Arc<Self>) {
        let weak = Arc::downgrade(journal);
        let lazy = Arc::clone(&journal.lazy);
        let spawned = std::thread::Builder::new()
            .name("socbot-store-log".into())
            .spawn(move || {
                // Asleep until records wait; then a short pause gathers what follows them.
                while lazy.wait() {
                    std::thread::sleep(std::time::Duration::from_millis(LAZY_SYNC_MS));
                    let Some(journal) = weak.upgrade() else {
                        return;
                    };
                    if lock(&journal.state).pending.is_empty() {
                        continue;
                    }
                    let _io = lock(&journal.io);
                    if let Err(e) = journal.write_pending() {
                        // The next commit's sync sees the log broken and checkpoints.
                        tracing::warn!(error = %e, "the store's log could not be written");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread to sync the store's log lazily; commits still sync it");
        }
    }

    /// Under `io`: writes the pending records to the log file (at its current offset) and
    /// syncs it. None when there is no log file to write (or it is broken).
    fn write_pending(&self) -> std::io::Result<Option<u64>> {
        self.switch_to_prepared();
        let (seq, bytes, file, offset) = {
            let mut state = lock(&self.state);
            let Some(log) = state.file.as_ref().filter(|_| !state.broken) else {
                return Ok(None);
            };
            let (file, offset) = (Arc::clone(&log.file), log.len);
            (state.seq, std::mem::take(&mut state.pending), file, offset)
        };
        if bytes.is_empty() {
            return Ok(Some(seq));
        }
        // Only the holder of `io` writes the file; `state` is not held across the I/O, so
        // commits go on being applied meanwhile.
        let written = file
            .write_all_at(&bytes, offset)
            .and_then(|()| file.sync_data());
        let mut state = lock(&self.state);
        if let Err(e) = written {
            state.broken = true;
            return Err(e);
        }
        if let Some(log) = state.file.as_mut() {
            log.len += bytes.len() as u64;
        }
        Ok(Some(seq))
    }

    /// Under `io`: an empty (not prepared) log file is replaced by the prepared next one once
    /// it is ready, and the preparation of that one is asked for when it was not yet. The
    /// empty file's records stay (replayed before the next file's) until the next checkpoint.
    fn switch_to_prepared(&self) {
        let Some(spares) = &self.spares else {
            return;
        };
        let next = {
            let state = lock(&self.state);
            match &state.file {
                Some(f) if !f.prepared && !state.broken => f.number + 1,
                _ => return,
            }
        };
        match spares.take(next, false) {
            Some(file) => {
                lock(&self.state).file = Some(file);
                spares.ask(next + 1);
            }
            None => spares.ask(next),
        }
    }

    /// Whether the log file has grown past [`CHECKPOINT_BYTES`] and no checkpoint runs: the
    /// caller starts one (and it clears this).
    pub fn wants_checkpoint(&self) -> bool {
        let big = lock(&self.state)
            .file
            .as_ref()
            .is_some_and(|f| f.len >= CHECKPOINT_BYTES);
        big && !self.checkpointing.swap(true, Ordering::SeqCst)
    }

    /// Moves on to a new log file, flushes sled and syncs its file, then deletes the older
    /// log files. Returns the sequence number durable at the end. Blocking.
    pub fn checkpoint(&self, db: &sled::Db, db_file: Option<&File>) -> Result<u64, StoreError> {
        let result = self.checkpoint_inner(db, db_file);
        self.checkpointing.store(false, Ordering::SeqCst);
        result
    }

    fn checkpoint_inner(&self, db: &sled::Db, db_file: Option<&File>) -> Result<u64, StoreError> {
        let io = lock(&self.io);
        let Some(dir) = &self.dir else {
            return self.hard_checkpoint(io, db, db_file);
        };
        // Everything applied so far goes to the old file and is synced there; what arrives
        // later goes to the new one.
        let fresh = {
            let state = lock(&self.state);
            state.file.is_none() && !state.broken
        };
        let seq = match self.write_pending() {
            Ok(Some(seq)) => seq,
            // At open: no log file yet, nothing pending.
            Ok(None) if fresh => self.seq(),
            _ => return self.hard_checkpoint(io, db, db_file),
        };
        let number = self.rotate(dir)?;
        drop(io);
        self.mark_whole()?;
        flush_db(db, db_file)?;
        remove_before(dir, number);
        Ok(seq)
    }

    /// Records in sled that every write applied so far is whole there (`wal/applied`), so
    /// that the next open rolls none of them back: before sled's flush in a checkpoint (the
    /// log records it deletes afterwards could not replay them) and before a backup's copy.
    pub fn mark_whole(&self) -> Result<(), StoreError> {
        // Under `state`: no write is half put in sled meanwhile.
        let state = lock(&self.state);
        self.meta.insert(K_APPLIED, &state.seq.to_be_bytes())?;
        Ok(())
    }

    /// Under `io`, when the log cannot be trusted: what is pending is dropped (sled's flush
    /// covers it), a new log file is started, sled is flushed, old files are deleted. Writers
    /// wait meanwhile, so nothing after it is reported durable before it is.
    fn hard_checkpoint(
        &self,
        io: MutexGuard<'_, ()>,
        db: &sled::Db,
        db_file: Option<&File>,
    ) -> Result<u64, StoreError> {
        let seq = {
            let mut state = lock(&self.state);
            state.pending.clear();
            state.seq
        };
        self.mark_whole()?;
        let number = match &self.dir {
            Some(dir) => Some(self.rotate(dir)?),
            None => None,
        };
        flush_db(db, db_file)?;
        lock(&self.state).broken = false;
        drop(io);
        if let (Some(dir), Some(number)) = (&self.dir, number) {
            remove_before(dir, number);
        }
        Ok(seq)
    }

    /// Under `io`: makes the next log file current: the prepared one (waiting for it when it
    /// is being prepared), else a new empty file (the directory synced). Returns its number.
    fn rotate(&self, dir: &Path) -> Result<u64, StoreError> {
        let number = {
            let state = lock(&self.state);
            match &state.file {
                Some(f) => f.number + 1,
                None => log_files(dir).last().map_or(1, |(n, _)| n + 1),
            }
        };
        let prepared = self.spares.as_ref().and_then(|s| s.take(number, true));
        let file = match prepared {
            Some(file) => file,
            None => empty_file(dir, number)?,
        };
        let (number, prepared) = (file.number, file.prepared);
        lock(&self.state).file = Some(file);
        // The next one now; after an empty file, at its first write (a store opened and only
        // read prepares nothing).
        if let Some(spares) = self.spares.as_ref().filter(|_| prepared) {
            spares.ask(number + 1);
        }
        Ok(number)
    }
}

/// A new empty log file numbered `number` or, when that exists (a file prepared by a store
/// closed a moment ago), the next free number; the directory synced.
fn empty_file(dir: &Path, mut number: u64) -> Result<LogFile, StoreError> {
    let file = loop {
        let opened = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(dir.join(format!("{number}.log")));
        match opened {
            Ok(file) => break file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => number += 1,
            Err(e) => return Err(io_err(e)),
        }
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
    Ok(LogFile {
        number,
        file: Arc::new(file),
        len: 0,
        prepared: false,
    })
}

/// The log files in `dir`, by number.
fn log_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_suffix(".log")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    files.sort();
    files
}

/// Deletes the log files numbered below `number` (their records are in sled, on disk).
fn remove_before(dir: &Path, number: u64) {
    for (n, path) in log_files(dir) {
        if n < number
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::warn!(file = %path.display(), error = %e, "a checkpointed log file could not be deleted");
        }
    }
}

/// One decoded record: its sequence number and changes.
struct Record<'a> {
    seq: u64,
    ops: &'a [u8],
}

/// The next record of `bytes` at `at`: Ok(None) at a clean end, Err at a torn one.
fn next_record(bytes: &[u8], at: usize) -> Result<Option<(Record<'_>, usize)>, String> {
    let rest = &bytes[at..];
    // The end of the file, or of its records: the zero-filled rest of a prepared file.
    if rest.iter().take(4).all(|&b| b == 0) {
        return Ok(None);
    }
    if rest.len() < 8 {
        return Err(format!("{} bytes at the end", rest.len()));
    }
    let len = u32::from_le_bytes(rest[..4].try_into().unwrap_or_default()) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap_or_default());
    let Some(body) = rest.get(8..8 + len).filter(|_| len >= 8) else {
        return Err(format!("a record of {len} bytes, {} there", rest.len() - 8));
    };
    if crc32fast::hash(body) != crc {
        return Err("a record whose checksum does not match".into());
    }
    let seq = u64::from_le_bytes(body[..8].try_into().unwrap_or_default());
    Ok(Some((
        Record {
            seq,
            ops: &body[8..],
        },
        at + 8 + len,
    )))
}

/// A record's changes: (tree, key, Some(value) | None for a removal).
type Change<'a> = (usize, &'a [u8], Option<&'a [u8]>);

fn changes(mut ops: &[u8]) -> Option<Vec<Change<'_>>> {
    fn take<'a>(ops: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(ops.get(..4)?.try_into().ok()?) as usize;
        let bytes = ops.get(4..4 + len)?;
        *ops = &ops[4 + len..];
        Some(bytes)
    }
    let mut out = Vec::new();
    while !ops.is_empty() {
        let (tree, set) = (*ops.first()? as usize, *ops.get(1)? == 1);
        if tree >= TREES.len() {
            return None;
        }
        ops = &ops[2..];
        let key = take(&mut ops)?;
        let value = if set { Some(take(&mut ops)?) } else { None };
        out.push((tree, key, value));
    }
    Some(out)
}

/// Applies the log in `dir` to `trees` (see the module). Returns the last sequence number
/// sled now holds.
pub(super) fn replay(dir: &Path, trees: &[Tree]) -> Result<u64, StoreError> {
    let applied = undo_last(trees, super::read_u64(trees[META].get(K_APPLIED)?))?;
    let mut at = applied;
    let mut replayed = 0u64;
    'files: for (number, path) in log_files(dir) {
        let bytes = std::fs::read(&path).map_err(io_err)?;
        let mut offset = 0;
        loop {
            let record = match next_record(&bytes, offset) {
                Ok(Some((record, next))) => {
                    offset = next;
                    record
                }
                Ok(None) => break,
                Err(why) => {
                    tracing::warn!(file = %path.display(), offset, why, "the store's log ends in a torn record (a crash while it was written): replay stops there; nothing after it was acknowledged");
                    break 'files;
                }
            };
            if record.seq <= at {
                continue;
            }
            if record.seq != at + 1 {
                tracing::warn!(
                    file = number,
                    expected = at + 1,
                    found = record.seq,
                    "the store's log has a gap: replay stops there"
                );
                break 'files;
            }
            apply_record(trees, &record)?;
            at = record.seq;
            replayed += 1;
        }
    }
    if replayed > 0 {
        tracing::info!(
            records = replayed,
            from = applied + 1,
            to = at,
            "the store's log was replayed"
        );
    }
    Ok(at)
}

/// Replays one record: its changes in order, then `wal/applied`. A crash part way leaves
/// `wal/applied` before it, and the next open replays it again over what it changed.
fn apply_record(trees: &[Tree], record: &Record<'_>) -> Result<(), StoreError> {
    put_changes(trees, record.ops, "wal", || {
        format!("record {} does not decode", record.seq)
    })?;
    trees[META].insert(K_APPLIED, &record.seq.to_be_bytes())?;
    Ok(())
}

/// Makes the changes encoded in `ops` in sled, in order; ops that do not decode are a
/// corrupt record of `tree`, `why` saying which.
fn put_changes(
    trees: &[Tree],
    ops: &[u8],
    tree: &'static str,
    why: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    let Some(changes) = changes(ops) else {
        return Err(StoreError::Corrupt {
            tree,
            message: why(),
        });
    };
    for change in changes {
        put_change(trees, change)?;
    }
    Ok(())
}

/// Rolls back the last write put in sled when it is after `applied` (the last write a
/// checkpoint found whole): a crash may have cut it short (see [`Journal::show`]); every write
/// before it is whole. Returns the last write sled now holds whole; the log replays what
/// follows (the rolled-back write among it, when its record was synced). The undo is removed
/// after `wal/applied` is set: a crash before that rolls back again, to the same values.
fn undo_last(trees: &[Tree], applied: u64) -> Result<u64, StoreError> {
    let Some(undo) = trees[META].get(K_UNDO)? else {
        return Ok(applied);
    };
    let seq = undo
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    if seq <= applied {
        trees[META].remove(K_UNDO)?;
        return Ok(applied);
    }
    put_changes(trees, &undo[8..], "meta", || {
        format!("the undo of write {seq} does not decode")
    })?;
    trees[META].insert(K_APPLIED, &(seq - 1).to_be_bytes())?;
    trees[META].remove(K_UNDO)?;
    tracing::info!(
        write = seq,
        "the store's last write before the stop was rolled back in sled; the log replays it when it was synced"
    );
    Ok(seq - 1)
}

#[cfg(test)]
mod tests {
    use super::super::{Batch, Committed, Lane, NewEffect, Store};
    use std::cell::Cell;
    use std::path::{Path, PathBuf};

    thread_local! {
        /// The next write on this thread leaves out its last this many changes: what a crash
        /// part way through putting it in sled leaves there.
        pub(super) static CUT_SHORT: Cell<Option<usize>> = const { Cell::new(None) };
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("socbot-wal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Removes a test's store directories (the live one and its crashed copy).
    fn remove_dirs(dirs: &[&Path]) {
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    /// Copies the files of a store directory (sled's and the log), as a crash leaves them.
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    fn log_bytes(store: &Path) -> Vec<(u64, PathBuf)> {
        super::log_files(&store.join("wal"))
    }

    /// An answer as a command writes it: its event, an effect, a timer, the interaction id.
    fn answer(incident: u64, n: u64) -> Batch {
        Batch {
            interaction: Some(1_000 + n),
            events: vec![(incident, Store::encode(&serde_json::json!({ "answer": n })))],
            effects: vec![NewEffect {
                lane: Lane { incident, kind: 0 },
                coalesce: true,
                single: false,
                json: Store::encode(&serde_json::json!({ "refresh": n })),
            }],
            timers: vec![(n as i64 * 1_000, incident, 1, b"{}".to_vec())],
            opened: vec![incident],
            ..Batch::default()
        }
    }

    /// Each incident's events, the outbox's count, the timers, the outbox ids, and whether
    /// interaction 1003 was handled.
    type Seen = (Vec<Vec<Vec<u8>>>, usize, usize, Vec<u64>, bool);

    fn what_a_user_sees(s: &Store) -> Seen {
        let events = s
            .incident_ids()
            .unwrap()
            .into_iter()
            .map(|id| s.events_raw(id).unwrap())
            .collect();
        let timers = s.timers().unwrap().len();
        let ids = s.outbox().unwrap().iter().map(|e| e.id).collect();
        (
            events,
            s.outbox_len(),
            timers,
            ids,
            s.interaction_seen(1_003).unwrap(),
        )
    }

    /// CRC-32 of every tree's keys and values but the log's own bookkeeping in `meta` (the
    /// last write's undo, how far sled is whole), which a reopened store sets anew.
    fn data_checksum(s: &Store) -> u32 {
        let mut crc = crc32fast::Hasher::new();
        let mut names = s.db.tree_names();
        names.sort();
        for name in names {
            crc.update(&name);
            for kv in s.db.open_tree(&name).unwrap().iter() {
                let (k, v) = kv.unwrap();
                if &*name == b"meta" && k.starts_with(b"wal/") {
                    continue;
                }
                crc.update(&k);
                crc.update(&v);
            }
        }
        crc.finalize()
    }

    #[test]
    fn a_store_that_lost_sleds_unflushed_state_is_brought_back_by_the_log() {
        let (live, crashed) = (dir("live"), dir("crashed"));
        let s = Store::open(&live).unwrap();
        let id = s.allocate_incident_id().unwrap();
        assert_eq!(s.commit_blocking(answer(id, 1)).unwrap(), Committed::Done);
        s.checkpoint_blocking().unwrap();
        // sled's files as they are on disk now: what a crash leaves when sled flushes no more.
        copy_dir(&live, &crashed);
        std::fs::remove_dir_all(crashed.join("wal")).unwrap();
        let second = s.allocate_incident_id().unwrap();
        for n in 2..=4 {
            s.commit_blocking(answer(if n == 3 { second } else { id }, n))
                .unwrap();
        }
        s.update_effect(2, b"{\"progress\":1}").unwrap();
        s.commit_blocking(Batch {
            complete_effects: vec![1],
            closed: vec![second],
            ..Batch::default()
        })
        .unwrap();
        let expected = what_a_user_sees(&s);
        let checksum = data_checksum(&s);
        // ...and the log as synced.
        copy_dir(&live.join("wal"), &crashed.join("wal"));
        drop(s);

        let s = Store::open(&crashed).unwrap();
        assert_eq!(what_a_user_sees(&s), expected);
        assert_eq!(s.effect(2).unwrap(), Some(b"{\"progress\":1}".to_vec()));
        assert_eq!(s.open_incident_ids().unwrap(), vec![id]);
        assert_eq!(data_checksum(&s), checksum, "every tree as it was");
        assert_eq!(
            s.allocate_incident_id().unwrap(),
            second + 1,
            "no number twice"
        );
        assert_eq!(
            s.commit_blocking(answer(id, 3)).unwrap(),
            Committed::Duplicate
        );
        drop(s);
        remove_dirs(&[&live, &crashed]);
    }

    /// The current log file after switching to a prepared one (zero-filled and synced, as
    /// the background makes it): where the next record goes.
    fn into_prepared(s: &Store) -> PathBuf {
        let j = &s.journal;
        let _io = super::lock(&j.io);
        let next = super::lock(&j.state).file.as_ref().unwrap().number + 1;
        let spares = j.spares.as_ref().unwrap();
        spares.prepare(next);
        super::lock(&j.state).file = Some(spares.take(next, true).unwrap());
        current_log(s)
    }

    fn current_log(s: &Store) -> PathBuf {
        let state = super::lock(&s.journal.state);
        let number = state.file.as_ref().unwrap().number;
        s.journal
            .dir
            .as_ref()
            .unwrap()
            .join(format!("{number}.log"))
    }

    /// Where the records of a log file end.
    fn records_end(bytes: &[u8]) -> usize {
        let mut at = 0;
        while let Some((_, next)) = super::next_record(bytes, at).unwrap() {
            at = next;
        }
        at
    }

    #[test]
    fn a_torn_record_ends_the_replay_and_what_came_before_it_stays() {
        // In an empty file the crash leaves the torn record short; in a prepared one, its
        // last bytes still zeros.
        for prepared in [false, true] {
            let (live, crashed) = (dir("torn"), dir("torn-copy"));
            let s = Store::open(&live).unwrap();
            s.checkpoint_blocking().unwrap();
            copy_dir(&live, &crashed);
            let log = if prepared {
                into_prepared(&s)
            } else {
                current_log(&s)
            };
            s.commit_blocking(answer(7, 1)).unwrap();
            let expected = what_a_user_sees(&s);
            let whole = records_end(&std::fs::read(&log).unwrap());
            s.commit_blocking(answer(7, 2)).unwrap();
            // The empty file may have been replaced by the prepared one meanwhile.
            let (log, whole) = match current_log(&s) {
                now if now == log => (log, whole),
                now => (now, 0),
            };
            let mut bytes = std::fs::read(&log).unwrap();
            let end = records_end(&bytes);
            assert!(end > whole);
            // The second record half written, as a crash during its write leaves it.
            let torn = whole + (end - whole) / 2;
            if bytes.len() > end {
                assert_eq!(bytes.len() as u64, super::LOG_FILE_BYTES);
                bytes[torn..end].fill(0);
            } else {
                assert!(!prepared);
                bytes.truncate(torn);
            }
            drop(s);
            // The log as the crash leaves it (all of its files: the records may span two).
            copy_dir(&live.join("wal"), &crashed.join("wal"));
            std::fs::write(crashed.join("wal").join(log.file_name().unwrap()), &bytes).unwrap();

            let s = Store::open(&crashed).unwrap();
            assert_eq!(what_a_user_sees(&s), expected, "prepared: {prepared}");
            assert_eq!(s.events_raw(7).unwrap().len(), 1);
            assert_eq!(s.outbox_len(), 1);
            drop(s);
            remove_dirs(&[&live, &crashed]);
        }
    }

    /// Opens `live`, checkpoints, copies sled's files as a crash leaves them, runs `work`,
    /// then copies the log as synced: the store a crash right after `work` leaves.
    fn crashed_after(name: &str, work: impl FnOnce(&Store)) -> (PathBuf, Seen) {
        let (live, crashed) = (dir(name), dir(&format!("{name}-copy")));
        let s = Store::open(&live).unwrap();
        s.checkpoint_blocking().unwrap();
        copy_dir(&live, &crashed);
        std::fs::remove_dir_all(crashed.join("wal")).unwrap();
        work(&s);
        let seen = what_a_user_sees(&s);
        copy_dir(&live.join("wal"), &crashed.join("wal"));
        drop(s);
        let _ = std::fs::remove_dir_all(&live);
        (crashed, seen)
    }

    #[test]
    fn the_zero_filled_rest_of_a_prepared_file_is_its_clean_end() {
        let (crashed, expected) = crashed_after("zeros", |s| {
            let first = into_prepared(s);
            s.commit_blocking(answer(4, 1)).unwrap();
            s.commit_blocking(answer(4, 2)).unwrap();
            // The next file: replay goes on there after the first one's zeros.
            let second = into_prepared(s);
            assert_ne!(first, second);
            s.commit_blocking(answer(5, 3)).unwrap();
            let bytes = std::fs::read(&first).unwrap();
            assert_eq!(bytes.len() as u64, super::LOG_FILE_BYTES);
            assert!(bytes[records_end(&bytes)..].iter().all(|&b| b == 0));
        });
        let s = Store::open(&crashed).unwrap();
        assert_eq!(what_a_user_sees(&s), expected);
        assert_eq!(s.events_raw(4).unwrap().len(), 2);
        assert_eq!(s.events_raw(5).unwrap().len(), 1);
        drop(s);
        let _ = std::fs::remove_dir_all(&crashed);
    }

    #[test]
    fn a_record_bigger_than_what_is_left_of_a_prepared_file_grows_it() {
        let big = "y".repeat(super::LOG_FILE_BYTES as usize);
        let (crashed, expected) = crashed_after("outgrown", |s| {
            let log = into_prepared(s);
            s.commit_blocking(answer(6, 1)).unwrap();
            // Written and synced, not yet checkpointed (a commit would start one now).
            let _ = s
                .write(&Batch {
                    events: vec![(6, Store::encode(&serde_json::json!({ "big": big })))],
                    ..Batch::default()
                })
                .unwrap();
            s.sync_blocking().unwrap();
            let size = std::fs::metadata(&log).unwrap().len();
            assert!(size > super::LOG_FILE_BYTES, "{size}");
        });
        let s = Store::open(&crashed).unwrap();
        assert_eq!(what_a_user_sees(&s), expected);
        let events = s.events_raw(6).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events[1].len() > big.len());
        drop(s);
        let _ = std::fs::remove_dir_all(&crashed);
    }

    #[test]
    fn sled_ahead_of_the_log_is_kept_as_it_is_but_its_last_write() {
        // sled's own flusher may write writes whose records were not synced yet: sled's state
        // is then newer than the log, and is what the store opens with, but its last write
        // (which may be cut short: it is rolled back; never synced, it was never acknowledged).
        let (live, crashed) = (dir("ahead"), dir("ahead-copy"));
        let s = Store::open(&live).unwrap();
        s.commit_blocking(answer(3, 1)).unwrap();
        let log = current_log(&s);
        let synced = std::fs::read(&log).unwrap();
        let _ = s.write(&answer(3, 2)).unwrap();
        let expected = what_a_user_sees(&s);
        let last = s.write(&answer(3, 3)).unwrap();
        s.db.flush().unwrap();
        copy_dir(&live, &crashed);
        drop(s);
        std::fs::write(crashed.join("wal").join(log.file_name().unwrap()), &synced).unwrap();
        let s = Store::open(&crashed).unwrap();
        assert_eq!(what_a_user_sees(&s), expected);
        assert_eq!(s.events_raw(3).unwrap().len(), 2);
        assert_eq!(
            s.write(&answer(3, 3)).unwrap(),
            last,
            "the same write again"
        );
        drop(s);
        remove_dirs(&[&live, &crashed]);
    }

    #[test]
    fn a_write_a_crash_cut_short_in_sled_is_rolled_back_or_replayed_whole() {
        // Its record not synced: never acknowledged, rolled back. Synced: replayed whole.
        for synced in [false, true] {
            let (live, crashed) = (dir("cut"), dir("cut-copy"));
            let s = Store::open(&live).unwrap();
            let id = s.allocate_incident_id().unwrap();
            s.commit_blocking(answer(id, 1)).unwrap();
            let before = what_a_user_sees(&s);
            let checksum = data_checksum(&s);
            let log = current_log(&s);
            let log_before = std::fs::read(&log).unwrap();
            // Its last changes (by tree: the interaction's time, the open index) left out.
            CUT_SHORT.set(Some(2));
            let written = s.write(&answer(id, 2)).unwrap();
            assert_eq!(s.events_raw(id).unwrap().len(), 2);
            assert!(s.interaction_seen(1_002).unwrap());
            assert_eq!(s.interaction_times.len(), 1);
            s.db.flush().unwrap();
            copy_dir(&live, &crashed);
            if synced {
                s.sync_blocking().unwrap();
                copy_dir(&live.join("wal"), &crashed.join("wal"));
            } else {
                std::fs::write(
                    crashed.join("wal").join(log.file_name().unwrap()),
                    &log_before,
                )
                .unwrap();
            }
            drop(s);

            let s = Store::open(&crashed).unwrap();
            if synced {
                assert_eq!(s.events_raw(id).unwrap().len(), 2);
                assert_eq!((s.outbox_len(), s.timers().unwrap().len()), (2, 1));
                assert_eq!(s.interaction_times.len(), 2);
                assert_eq!(
                    s.write(&answer(id, 2)).unwrap().committed,
                    Committed::Duplicate
                );
            } else {
                assert_eq!(what_a_user_sees(&s), before);
                assert_eq!(data_checksum(&s), checksum, "every tree as before it");
                assert_eq!(
                    s.write(&answer(id, 2)).unwrap(),
                    written,
                    "the same write again"
                );
            }
            drop(s);
            remove_dirs(&[&live, &crashed]);
        }
    }

    #[test]
    fn a_crash_right_after_a_checkpoint_rolls_nothing_back() {
        // The checkpoint deleted the log records of the last write: it must not be taken for
        // one cut short.
        let (live, crashed) = (dir("after-checkpoint"), dir("after-checkpoint-copy"));
        let s = Store::open(&live).unwrap();
        let id = s.allocate_incident_id().unwrap();
        s.commit_blocking(answer(id, 1)).unwrap();
        s.commit_blocking(answer(id, 2)).unwrap();
        s.checkpoint_blocking().unwrap();
        let expected = what_a_user_sees(&s);
        copy_dir(&live, &crashed);
        drop(s);
        let s = Store::open(&crashed).unwrap();
        assert_eq!(what_a_user_sees(&s), expected);
        assert_eq!(s.events_raw(id).unwrap().len(), 2);
        drop(s);
        remove_dirs(&[&live, &crashed]);
    }

    #[test]
    fn a_store_closed_is_marked_whole_and_its_next_open_rolls_nothing_back() {
        let d = dir("closed");
        let s = Store::open(&d).unwrap();
        s.commit_blocking(answer(5, 1)).unwrap();
        s.commit_blocking(answer(5, 2)).unwrap();
        let last = s.journal.seq();
        drop(s);
        // sled as the next open finds it (its lock is let go a moment after the close).
        let db = loop {
            match sled::Config::new().path(&d).open() {
                Ok(db) => break db,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        };
        let meta = db.open_tree("meta").unwrap();
        let undo = meta.get(super::K_UNDO).unwrap().unwrap();
        assert_eq!(undo[..8], last.to_le_bytes(), "the last write's undo");
        let whole = super::super::read_u64(meta.get(super::K_APPLIED).unwrap());
        assert_eq!(whole, last, "marked whole: nothing to roll back");
        drop((meta, db));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_checkpoint_starts_a_new_log_and_deletes_the_old() {
        let d = dir("checkpoint");
        let s = Store::open(&d).unwrap();
        let first = log_bytes(&d);
        assert_eq!(first.len(), 1, "{first:?}");
        // Commits big enough to pass the checkpoint size.
        let big = vec![b'x'; 1024 * 1024];
        let commits = (super::CHECKPOINT_BYTES / big.len() as u64) + 2;
        for n in 0..commits {
            s.commit_blocking(Batch {
                events: vec![(
                    1,
                    Store::encode(
                        &serde_json::json!({ "n": n, "b": String::from_utf8_lossy(&big) }),
                    ),
                )],
                ..Batch::default()
            })
            .unwrap();
        }
        let current = current_log(&s);
        let now = log_bytes(&d);
        // The current file and perhaps the next one, prepared.
        assert!(
            now.iter().all(|(n, _)| *n > first[0].0) && (1..=2).contains(&now.len()),
            "old files deleted: {now:?}"
        );
        assert!(now.iter().any(|(_, p)| *p == current), "{now:?}");
        let held = records_end(&std::fs::read(&current).unwrap()) as u64;
        assert!(held < super::CHECKPOINT_BYTES, "{held}");
        drop(s);
        let s = Store::open(&d).unwrap();
        assert_eq!(s.events_raw(1).unwrap().len() as u64, commits);
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn commits_written_before_a_sync_share_it() {
        let d = dir("group");
        let s = Store::open(&d).unwrap();
        let written: Vec<_> = (0..32)
            .map(|n| s.write(&answer(n + 1, n)).unwrap())
            .collect();
        let before = s.flushes();
        let waits = written.into_iter().map(|w| {
            let s = s.clone();
            tokio::spawn(async move { s.durable(w).await })
        });
        for w in waits.collect::<Vec<_>>() {
            w.await.unwrap().unwrap();
        }
        assert_eq!(s.flushes() - before, 1, "one write + fdatasync for the 32");
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }
}
