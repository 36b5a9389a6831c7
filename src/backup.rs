//! Backups of the store, taken while the bot runs, and restoring them.
//!
//! sled allows one process per store and has no snapshots, so:
//! - the running daemon serves backups on a control socket beside the store
//!   (`<store.path>.sock`, mode 0600): `socbot backup FILE` asks it and writes what it gets;
//!   with no daemon running, `socbot backup` opens the store itself;
//! - a backup is consistent: the store holds its writers off while every tree is copied, so a
//!   command's events, effects and timers are all in the copy or none are; sled's own checksum
//!   of the store, taken in the same moment, must equal the copy's and is kept in the file.
//!
//! The file: `SOCBOT-BACKUP\n`, one JSON header line (format, socbot version, schema version,
//! time, tree and record counts, CRC-32), then each tree as length-prefixed name, entry count
//! and entries. `socbot restore FILE` checks all of it, refuses a backup from a newer schema,
//! builds the store beside the configured one and swaps it in, keeping the old store aside.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::highwater::HighWater;
use crate::store::{SCHEMA_VERSION, Store, TreeCopy};

/// The first bytes of every backup file.
pub const MAGIC: &[u8] = b"SOCBOT-BACKUP\n";
/// The layout of the file this build writes and reads.
pub const FORMAT: u32 = 1;

/// The header line of a backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    /// The socbot version that wrote it.
    pub socbot: String,
    /// The store's schema version.
    pub schema: u64,
    pub created: DateTime<Utc>,
    pub trees: usize,
    pub records: usize,
    /// sled's checksum of the store the copy equals (CRC-32 of names, keys and values).
    pub crc32: u32,
}

/// A consistent copy of a store.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub header: Header,
    pub trees: Vec<TreeCopy>,
}

impl Snapshot {
    /// Copies `store` consistently; blocks (run it off the async runtime). Writes wait while
    /// the trees are copied (milliseconds for a SOC's store).
    pub fn take(store: &Store) -> anyhow::Result<Self> {
        let schema = store.schema_version()?;
        let (trees, crc) = store.export_trees()?;
        if checksum(&trees) != crc {
            bail!("the copy does not match the store's own checksum; nothing was written");
        }
        let records = trees.iter().map(|(_, items)| items.len()).sum();
        Ok(Self {
            header: Header {
                format: FORMAT,
                socbot: env!("CARGO_PKG_VERSION").to_owned(),
                schema,
                created: Utc::now(),
                trees: trees.len(),
                records,
                crc32: crc,
            },
            trees,
        })
    }

    /// The backup file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(
            serde_json::to_string(&self.header)
                .expect("plain data")
                .as_bytes(),
        );
        out.push(b'\n');
        for (name, items) in &self.trees {
            put(&mut out, name);
            out.extend_from_slice(&(items.len() as u64).to_be_bytes());
            for (k, v) in items {
                put(&mut out, k);
                put(&mut out, v);
            }
        }
        out
    }

    /// Reads and checks a backup file's bytes (magic, format, counts, checksum).
    pub fn decode(bytes: &[u8]) -> anyhow::Result<Self> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| anyhow!("not a socbot backup (it does not start with SOCBOT-BACKUP)"))?;
        let nl = rest
            .iter()
            .take(4096)
            .position(|&b| b == b'\n')
            .ok_or_else(|| anyhow!("the backup's header line is missing"))?;
        let header: Header = serde_json::from_slice(&rest[..nl])
            .map_err(|e| anyhow!("the backup's header is unreadable: {e}"))?;
        if header.format != FORMAT {
            bail!(
                "backup format {} is not known to this socbot {} (it reads format {FORMAT}); use the socbot that wrote it ({})",
                header.format,
                env!("CARGO_PKG_VERSION"),
                header.socbot
            );
        }
        let mut r = Reader(&rest[nl + 1..]);
        let truncated = || anyhow!("the backup is truncated or damaged");
        let mut trees = Vec::with_capacity(header.trees.min(64));
        for _ in 0..header.trees {
            let name = r.bytes().ok_or_else(truncated)?;
            let count = r.u64().ok_or_else(truncated)?;
            let mut items = Vec::new();
            for _ in 0..count {
                let k = r.bytes().ok_or_else(truncated)?;
                let v = r.bytes().ok_or_else(truncated)?;
                items.push((k, v));
            }
            trees.push((name, items));
        }
        if !r.0.is_empty() {
            bail!("the backup has unexpected bytes after its last tree; it is damaged");
        }
        let records: usize = trees.iter().map(|(_, i)| i.len()).sum();
        if records != header.records {
            return Err(truncated());
        }
        if checksum(&trees) != header.crc32 {
            bail!("the backup's checksum does not match its contents; it is damaged");
        }
        Ok(Self { header, trees })
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "schema {}, {} records in {} trees, taken {} by socbot {}",
            self.header.schema,
            self.header.records,
            self.header.trees,
            self.header.created.format("%Y-%m-%d %H:%M:%S UTC"),
            self.header.socbot
        )
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize;
        self.take(n).map(<[u8]>::to_vec)
    }
}

/// CRC-32 (IEEE) as sled's `Db::checksum` computes it: each tree's name, then its keys and
/// values, trees by name.
pub fn checksum(trees: &[TreeCopy]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for (name, items) in trees {
        crc.update(name);
        for (k, v) in items {
            crc.update(k);
            crc.update(v);
        }
    }
    crc.finalize()
}

/// The running daemon's control socket for a store at `store_path`.
pub fn control_socket(store_path: &Path) -> PathBuf {
    let mut name = store_path.as_os_str().to_owned();
    name.push(".sock");
    PathBuf::from(name)
}

/// Writes `bytes` to `file` atomically (a temporary file beside it, then a rename), readable
/// only by its owner: a backup holds every incident. The temporary file is created new
/// (`O_CREAT|O_EXCL`: a symlink or file planted at its name is never followed nor written
/// through), and the rename replaces a link at `file` rather than writing where it points.
pub fn write_file(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    // A leftover of an interrupted backup (or a link put there): removed, never followed.
    if std::fs::symlink_metadata(&tmp).is_ok() {
        std::fs::remove_file(&tmp)
            .with_context(|| format!("cannot remove the leftover {}", tmp.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, file)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), file.display()))?;
    Ok(())
}

/// What `restore` did.
#[derive(Debug)]
pub struct Restored {
    pub snapshot: Header,
    /// Where the store that was there before now is.
    pub previous: Option<PathBuf>,
    pub incidents: usize,
    pub outbox: usize,
    pub deadlines: usize,
    /// The number the next incident gets: after every number the replaced store gave.
    pub next_incident: u64,
}

/// What the store being replaced knows: the number the next incident gets and its epoch,
/// raised to the high-water mark beside it (which knows them also when the store is gone or
/// unreadable). A store in use by a running socbot is an error.
fn replaced_marks(target: &Path) -> anyhow::Result<(u64, u64)> {
    let mut replaced = (1, 0);
    let mut exact = false;
    if target.exists() {
        // A store closed a moment ago (a socbot that just stopped) may stay locked while
        // sled's threads finish: a running socbot holds it for longer than this.
        match Store::open_within(target, std::time::Duration::from_secs(1)) {
            Err(e) if e.is_locked() => bail!(
                "the store at {} is in use by a running socbot; stop it first (systemctl stop socbot, docker compose stop socbot, or scale the StatefulSet to 0), then restore",
                target.display()
            ),
            Ok(current) => {
                if let (Ok(next), Ok(epoch)) = (current.next_incident_id(), current.epoch()) {
                    replaced = (next, epoch);
                    exact = true;
                }
            }
            // Unreadable: it is moved aside all the same.
            Err(_) => {}
        }
    }
    // The mark beside the store knows them too, also when the store is gone or unreadable
    // (then numbers go on above its reserved block: a gap, never a reuse).
    let mark = HighWater::read(target).with_context(|| {
        "the incident high-water mark beside the store cannot be read, so socbot cannot tell which incident numbers were given; fix or remove it (only if no incident was made since the backup) and restore again"
    })?;
    if let Some(mark) = mark {
        if !exact {
            replaced.0 = replaced.0.max(mark.next_incident);
        }
        replaced.1 = replaced.1.max(mark.epoch);
    }
    Ok(replaced)
}

/// Restores `snapshot` as the store at `target`. The daemon must be stopped. The store that was
/// at `target` is moved aside (returned), never deleted.
pub fn restore(snapshot: &Snapshot, target: &Path) -> anyhow::Result<Restored> {
    if snapshot.header.schema > SCHEMA_VERSION {
        bail!(
            "the backup was written by a newer socbot ({}; schema {}, this build knows {SCHEMA_VERSION}); restore it with that version or a newer one",
            snapshot.header.socbot,
            snapshot.header.schema
        );
    }
    let replaced = replaced_marks(target)?;
    if let Some(parent) = target.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let sibling = |suffix: &str| {
        let mut s = target.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let staging = sibling(".restoring");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove the leftover {}", staging.display()))?;
    }
    let crc = Store::import_trees(&staging, &snapshot.trees)?;
    if crc != snapshot.header.crc32 {
        let _ = std::fs::remove_dir_all(&staging);
        bail!("the restored store does not match the backup's checksum; nothing was changed");
    }
    let previous = if target.exists() {
        let aside = sibling(&format!(
            ".before-restore-{}",
            Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        std::fs::rename(target, &aside).with_context(|| {
            format!("cannot move the current store aside to {}", aside.display())
        })?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staging, target)
        .with_context(|| format!("cannot move the restored store to {}", target.display()))?;
    let store = Store::open(target)?;
    // Numbers go on after every number ever given, and buttons from before are refused.
    let epoch = store.epoch()?.max(replaced.1) + 1;
    store.mark_restored(replaced.0, epoch)?;
    let restored = Restored {
        snapshot: snapshot.header.clone(),
        previous,
        incidents: store.incident_ids()?.len(),
        outbox: store.outbox_len(),
        deadlines: store.timer_count()?,
        next_incident: store.next_incident_id()?,
    };
    drop(store);
    #[cfg(unix)]
    adopt_owner(target)?;
    Ok(restored)
}

/// When root restores a store into a directory that belongs to someone else (systemd's
/// `DynamicUser` state directory, a container volume), the restored store becomes that owner's
/// too, so the service can open it.
#[cfg(unix)]
fn adopt_owner(target: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::metadata(parent)?;
    let store = std::fs::metadata(target)?;
    if store.uid() != 0 || (dir.uid(), dir.gid()) == (store.uid(), store.gid()) {
        return Ok(());
    }
    fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
        if std::fs::symlink_metadata(path)?.is_dir() {
            for entry in std::fs::read_dir(path)? {
                chown_tree(&entry?.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    chown_tree(target, dir.uid(), dir.gid()).with_context(|| {
        format!(
            "cannot give the restored store to uid {}, the owner of {}",
            dir.uid(),
            parent.display()
        )
    })
}

/// The store, for a command-line reader (`socbot export`, `socbot oncall`, `socbot coverage`)
/// that may run beside the bot: the store itself when no bot holds it; else a consistent copy
/// asked of the running bot over its control socket, read in memory (nothing is written, so it
/// works on a read-only root filesystem). Only [`ReadView::store`] makes a store of the copy,
/// in a temporary directory removed on drop.
pub struct ReadView {
    store: std::sync::OnceLock<Store>,
    copy: Option<Snapshot>,
    temp: std::sync::OnceLock<PathBuf>,
}

impl ReadView {
    /// Opens the store at `path` for reading. A missing store is an error, not a new one.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        // None when no bot listens: then the store itself is free to read.
        if let Some(bytes) = fetch_from_daemon(&control_socket(path))? {
            let snapshot = Snapshot::decode(&bytes)?;
            return Ok(Self {
                store: std::sync::OnceLock::new(),
                copy: Some(snapshot),
                temp: std::sync::OnceLock::new(),
            });
        }
        if !path.exists() {
            bail!(
                "there is no store at {} (configuration key `store.path`)",
                path.display()
            );
        }
        let store = std::sync::OnceLock::new();
        let _ = store.set(Store::open(path)?);
        Ok(Self {
            store,
            copy: None,
            temp: std::sync::OnceLock::new(),
        })
    }

    /// The records of `tree` in the running bot's copy, in key order.
    fn copied(&self, tree: &str) -> &[(Vec<u8>, Vec<u8>)] {
        self.copy
            .as_ref()
            .and_then(|c| {
                c.trees
                    .iter()
                    .find(|(name, _)| name.as_slice() == tree.as_bytes())
            })
            .map_or(&[], |(_, items)| items.as_slice())
    }

    /// One incident's events (an unreadable one is logged and left out, as the store does).
    pub fn events(&self, incident: u64) -> anyhow::Result<Vec<crate::incident::Event>> {
        if self.copy.is_none() {
            return Ok(self.store()?.events(incident)?);
        }
        let prefix = incident.to_be_bytes();
        let mut out = Vec::new();
        for (key, value) in self.copied("events") {
            if !key.starts_with(&prefix) {
                continue;
            }
            match serde_json::from_slice(value) {
                Ok(event) => out.push(event),
                Err(e) => {
                    tracing::error!(incident, error = %e, "unreadable event left out of the copy")
                }
            }
        }
        Ok(out)
    }

    /// The on-call overrides, every one this version reads.
    pub fn overrides(&self) -> anyhow::Result<Vec<crate::oncall::Override>> {
        if self.copy.is_none() {
            return Ok(crate::service::paging::load_overrides(self.store()?)?);
        }
        let key = b"doc/oncall_overrides";
        let Some((_, value)) = self
            .copied("meta")
            .iter()
            .find(|(k, _)| k.as_slice() == key)
        else {
            return Ok(Vec::new());
        };
        Ok(crate::service::paging::overrides_from_json(value))
    }

    /// The whole store (a copy beside a running bot, made in a temporary directory).
    pub fn store(&self) -> anyhow::Result<&Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let Some(snapshot) = &self.copy else {
            bail!("the store is not open");
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("socbot-read-{}-{nanos}", std::process::id()));
        // Entered first, so the directory goes away on every way out.
        let dir = self.temp.get_or_init(|| dir);
        restore(snapshot, &dir.join("store"))?;
        let _ = self.store.set(Store::open_now(&dir.join("store"))?);
        Ok(self.store.get().expect("just set"))
    }
}

impl Drop for ReadView {
    fn drop(&mut self) {
        drop(self.store.take());
        if let Some(dir) = self.temp.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Whether a running daemon answers on `socket`.
pub fn daemon_listening(socket: &Path) -> bool {
    #[cfg(unix)]
    {
        std::os::unix::net::UnixStream::connect(socket).is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = socket;
        false
    }
}

/// Asks a running daemon for a backup over its control socket. None when no daemon listens
/// there.
pub fn fetch_from_daemon(socket: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    control_request(socket, "backup", Duration::from_secs(120)).map_err(|e| {
        anyhow!(
            "{}",
            e.to_string()
                .replace("could not do the request", "could not take the backup")
                .replace("its answer", "the backup")
        )
    })
}

/// Sends one request line to a running daemon's control socket and returns its answer. None
/// when no daemon listens there.
#[cfg(unix)]
pub fn control_request(
    socket: &Path,
    request: &str,
    timeout: Duration,
) -> anyhow::Result<Option<Vec<u8>>> {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::net::UnixStream;
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(anyhow!(
                "cannot reach the running socbot at {}: {e}",
                socket.display()
            ));
        }
    };
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let status = status.trim_end();
    if let Some(why) = status.strip_prefix("ERR ") {
        bail!("the running socbot could not do the request: {why}");
    }
    let len: usize = status
        .strip_prefix("OK ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("unexpected answer from the running socbot: {status:?}"))?;
    let mut bytes = vec![0; len];
    reader
        .read_exact(&mut bytes)
        .context("the running socbot stopped sending its answer")?;
    Ok(Some(bytes))
}

#[cfg(not(unix))]
pub fn control_request(
    _socket: &Path,
    _request: &str,
    _timeout: Duration,
) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(None)
}

/// Serves backups on `socket` until `stop` turns true. The daemon holds the store's lock, so a
/// socket file left by a crash is stale and replaced.
#[cfg(unix)]
pub async fn serve_control(
    store: Store,
    socket: PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixListener;
    use tracing::{info, warn};

    let _ = std::fs::remove_file(&socket);
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            warn!(socket = %socket.display(), error = %e, "no control socket: `socbot backup` will not work while the bot runs");
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600));
    }
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let store = store.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read.take(256));
            let request =
                tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
            let answer = match request {
                Ok(Ok(_)) if line.trim() == "backup" => {
                    match tokio::task::spawn_blocking(move || Snapshot::take(&store)).await {
                        Ok(Ok(snapshot)) => {
                            info!(
                                records = snapshot.header.records,
                                "backup taken for `socbot backup`"
                            );
                            let bytes = snapshot.encode();
                            let mut out = format!("OK {}\n", bytes.len()).into_bytes();
                            out.extend_from_slice(&bytes);
                            out
                        }
                        Ok(Err(e)) => format!("ERR {e}\n").into_bytes(),
                        Err(e) => format!("ERR {e}\n").into_bytes(),
                    }
                }
                Ok(Ok(_)) if line.trim().starts_with("outbox") => {
                    let request = line.trim().trim_start_matches("outbox").to_owned();
                    match crate::effects::outbox_request(&store, &request).await {
                        Ok(text) => {
                            let mut out = format!("OK {}\n", text.len()).into_bytes();
                            out.extend_from_slice(text.as_bytes());
                            out
                        }
                        Err(e) => format!("ERR {}\n", e.replace('\n', " ")).into_bytes(),
                    }
                }
                _ => b"ERR unknown request; the requests are `backup` and `outbox ...`\n".to_vec(),
            };
            let _ = write.write_all(&answer).await;
            let _ = write.shutdown().await;
        });
    }
    let _ = std::fs::remove_file(&socket);
}

#[cfg(not(unix))]
pub async fn serve_control(
    _store: Store,
    _socket: PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stop.changed().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Batch;

    #[test]
    fn a_restored_store_reads_the_backup_not_the_incidents_kept_folded_before() {
        use crate::incident::state::tests::{alice, opened, t};
        use crate::incident::{Event, EventKind, Finding};
        let answer = |min: i64| {
            let kind = EventKind::Answered {
                question: 1,
                finding: Finding::Clear,
                note: None,
            };
            (7, Store::encode(&Event::new(t(min), alice(), kind)))
        };
        let dir = std::env::temp_dir().join(format!("socbot-kept-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("store");
        let store = Store::open(&path).unwrap();
        let first = vec![(7, Store::encode(&opened(None))), answer(1)];
        store
            .commit_blocking(Batch {
                events: first,
                ..Batch::default()
            })
            .unwrap();
        let snapshot = Snapshot::take(&store).unwrap();
        store
            .commit_blocking(Batch {
                events: vec![answer(2)],
                ..Batch::default()
            })
            .unwrap();
        assert_eq!(store.incident(7).unwrap().unwrap().answer_history, 2);
        drop(store);
        restore(&snapshot, &path).unwrap();
        let store = Store::open(&path).unwrap();
        let restored = store.incident(7).unwrap().unwrap();
        assert_eq!(restored.answer_history, 1, "the backup's incident");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_backup_restores_with_its_last_write() {
        // A store opened from a copy rolls back a last write not marked whole: the copy of a
        // store without a log (temporary) must be marked too.
        let store = Store::temporary().unwrap();
        for n in 1..=2 {
            store
                .commit_blocking(Batch {
                    events: vec![(7, format!("{{\"n\":{n}}}").into_bytes())],
                    ..Batch::default()
                })
                .unwrap();
        }
        let snapshot = Snapshot::take(&store).unwrap();
        let dir = std::env::temp_dir().join(format!("socbot-last-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("store");
        restore(&snapshot, &path).unwrap();
        let restored = Store::open(&path).unwrap();
        assert_eq!(restored.events_raw(7).unwrap().len(), 2, "both writes");
        drop(restored);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn snapshots_taken_during_writes_are_each_one_moment() {
        // Every commit writes one event and one thread entry together, so a copy of one
        // moment has as many of each; a copy that straddled a commit would not.
        let store = Store::temporary().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let batch = Batch {
                        events: vec![(n, format!("{{\"n\":{n}}}").into_bytes())],
                        threads: vec![(n, n)],
                        ..Batch::default()
                    };
                    store.commit_blocking(batch).unwrap();
                }
                n
            })
        };
        let count = |snap: &Snapshot, tree: &[u8]| {
            snap.trees
                .iter()
                .find(|(name, _)| name == tree)
                .map_or(0, |(_, items)| items.len())
        };
        let mut sizes: Vec<usize> = Vec::new();
        while sizes.len() < 100 || sizes.last().is_some_and(|&n| n < 200) {
            let snap = Snapshot::take(&store).unwrap();
            assert_eq!(count(&snap, b"events"), count(&snap, b"threads"));
            sizes.push(count(&snap, b"events"));
            // The writer stops only when told: finished now means it failed.
            assert!(!writer.is_finished(), "the writer stopped: {sizes:?}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert!(written > 0);
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    }

    #[test]
    fn crc_is_the_standard_crc32() {
        let mut c = crc32fast::Hasher::new();
        c.update(b"123456789");
        assert_eq!(c.finalize(), 0xCBF4_3926);
    }

    #[test]
    fn the_copy_checksum_is_sleds_and_the_file_round_trips() {
        let store = Store::temporary().unwrap();
        let id = store.allocate_incident_id().unwrap();
        store
            .commit_blocking(Batch {
                events: vec![(id, b"{\"e\":1}".to_vec())],
                effects: vec![crate::store::NewEffect {
                    lane: crate::store::Lane {
                        incident: id,
                        kind: 0,
                    },
                    coalesce: false,
                    single: false,
                    json: b"{}".to_vec(),
                }],
                ..Batch::default()
            })
            .unwrap();
        let (trees, crc) = store.export_trees().unwrap();
        assert!(
            trees.iter().any(|(n, i)| n == b"timers" && i.is_empty()),
            "empty trees are kept"
        );
        assert_eq!(checksum(&trees), crc);
        assert_eq!(crc, store.checksum().unwrap());
        let snap = Snapshot::take(&store).unwrap();
        let bytes = snap.encode();
        let back = Snapshot::decode(&bytes).unwrap();
        assert_eq!(back.header, snap.header);
        assert_eq!(back.trees, snap.trees);
        // Damage is found.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(
            Snapshot::decode(&bad)
                .unwrap_err()
                .to_string()
                .contains("damaged")
        );
        assert!(Snapshot::decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(Snapshot::decode(b"hello").is_err());
    }
}
