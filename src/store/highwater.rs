//! The high-water mark beside the store (`<store.path>.highwater`): a bound above every incident
//! number the store has given and its epoch, kept outside the store's directory so a
//! `socbot restore` that finds the store gone or unreadable still never gives a number twice,
//! nor reuses an epoch (an old button would then act on a new incident).
//!
//! Numbers are reserved in blocks: the file is rewritten (durably: a new file, synced, renamed
//! over, the directory synced) only when a number reaches the reserved bound, so opening an
//! incident costs no extra sync. A restore without the replaced store continues above the
//! bound, leaving a gap of unused numbers, never a reuse.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What the file records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// No incident number at or above this was ever given.
    pub next_incident: u64,
    /// The highest epoch the store has had.
    pub epoch: u64,
}

/// The high-water file of one store, and what it holds now.
#[derive(Debug)]
pub struct HighWater {
    path: PathBuf,
    mark: Mutex<Mark>,
}

impl HighWater {
    /// Numbers reserved at a time.
    pub const BLOCK: u64 = 64;

    /// The high-water file of the store at `store`.
    pub fn path_for(store: &Path) -> PathBuf {
        let mut s = store.as_os_str().to_owned();
        s.push(".highwater");
        PathBuf::from(s)
    }

    /// The mark beside the store at `store`: None when there is no file; an error naming the
    /// file when it cannot be read or understood.
    pub fn read(store: &Path) -> std::io::Result<Option<Mark>> {
        let path = Self::path_for(store);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(named(&path, e)),
        };
        parse(&text).map(Some).ok_or_else(|| {
            named(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a socbot high-water mark (`next_incident = N` and `epoch = N` lines)",
                ),
            )
        })
    }

    /// The mark of the store at `store`, as far as it can be read (an unreadable file counts
    /// as none: it is rewritten at the next number reserved).
    pub fn beside(store: &Path) -> Self {
        let mark = match Self::read(store) {
            Ok(mark) => mark.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "the incident high-water mark is unreadable; it is written again with the next incident");
                Mark::default()
            }
        };
        Self {
            path: Self::path_for(store),
            mark: Mutex::new(mark),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mark> {
        self.mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before number `n` is given: makes sure the mark is above it, on disk.
    pub fn reserve(&self, n: u64) -> std::io::Result<()> {
        let mut mark = self.lock();
        if n < mark.next_incident {
            return Ok(());
        }
        let raised = Mark {
            next_incident: n + Self::BLOCK,
            ..*mark
        };
        write(&self.path, raised)?;
        *mark = raised;
        Ok(())
    }

    /// Raises the mark to at least `next` and `epoch` (a restore), on disk.
    pub fn raise(&self, next: u64, epoch: u64) -> std::io::Result<()> {
        let mut mark = self.lock();
        let raised = Mark {
            next_incident: mark.next_incident.max(next),
            epoch: mark.epoch.max(epoch),
        };
        if raised != *mark {
            write(&self.path, raised)?;
            *mark = raised;
        }
        Ok(())
    }
}

fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Option<Mark> {
    let mut next = None;
    let mut epoch = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=')?;
        let value: u64 = value.trim().parse().ok()?;
        match key.trim() {
            "next_incident" => next = Some(value),
            "epoch" => epoch = Some(value),
            _ => {}
        }
    }
    Some(Mark {
        next_incident: next?,
        epoch: epoch?,
    })
}

/// Replaces the file durably: a new file written and synced, renamed over the old one, the
/// directory synced.
fn write(path: &Path, mark: Mark) -> std::io::Result<()> {
    let text = format!(
        "# socbot: no incident number at or above next_incident was given, and the store's epoch\n# never exceeded epoch. `socbot restore` continues above both; never lower them.\nnext_incident = {}\nepoch = {}\n",
        mark.next_incident, mark.epoch
    );
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        // A leftover of a crash goes; a new file never follows a link planted at its name.
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e| named(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_reserved_in_blocks_and_a_restore_only_raises_the_mark() {
        let dir = std::env::temp_dir().join(format!("socbot-hw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = dir.join("store");
        let hw = HighWater::beside(&store);
        assert_eq!(HighWater::read(&store).unwrap(), None);
        hw.reserve(1).unwrap();
        let first = HighWater::read(&store).unwrap().unwrap();
        assert_eq!(first.next_incident, 1 + HighWater::BLOCK);
        hw.reserve(2).unwrap();
        assert_eq!(HighWater::read(&store).unwrap(), Some(first));
        hw.raise(10, 3).unwrap();
        hw.raise(5, 1).unwrap();
        let mark = HighWater::read(&store).unwrap().unwrap();
        assert_eq!((mark.next_incident, mark.epoch), (1 + HighWater::BLOCK, 3));
        std::fs::write(HighWater::path_for(&store), "next_incident = x\n").unwrap();
        let e = HighWater::read(&store).unwrap_err().to_string();
        assert!(
            e.contains("store.highwater") && e.contains("not a socbot high-water mark"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
