//! Reloads the playbook library on SIGHUP and when files under its directory change (polled:
//! no file-watching dependency, and it works on every filesystem). A reload with errors keeps
//! the last good library and logs each problem with its file:line.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::service::LibraryHandle;
use crate::service::library::Reloaded;

/// A cheap fingerprint of what the loader reads: every file's path, size and modification
/// time, below `dir`. Entries whose name starts with `.` are passed over, as the loader passes
/// them over (a repository's `.git`, editors' swap files).
///
/// Symbolic links are followed to their targets, whose resolved path is hashed too. A Kubernetes
/// ConfigMap volume holds `name.md -> ..data/name.md` links and a `..data` link to a hidden,
/// timestamped directory that an update replaces: `..data` itself is skipped with the other dot
/// entries, but every file's resolved path (through the new directory) and metadata change, so
/// the update is seen. The same holds for `dir` itself being a link that is swapped (git-sync).
pub fn fingerprint(dir: &Path) -> u64 {
    fn walk(dir: &Path, h: &mut DefaultHasher) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            path.hash(h);
            // A file's link is followed; a directory's is not, as the loader does not descend
            // into it.
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&path, h),
                Ok(t) => {
                    if t.is_symlink() {
                        std::fs::canonicalize(&path).ok().hash(h);
                    }
                    file_metadata(&path, h);
                }
                Err(_) => {}
            }
        }
    }
    let mut h = DefaultHasher::new();
    std::fs::canonicalize(dir).ok().hash(&mut h);
    walk(dir, &mut h);
    h.finish()
}

/// Size, modification time and (on Unix) the inode of what `path` points to.
fn file_metadata(path: &Path, h: &mut DefaultHasher) {
    if let Ok(m) = std::fs::metadata(path) {
        m.len().hash(h);
        m.modified().ok().hash(h);
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino()).hash(h);
        }
    }
}

/// Reloads now and logs the outcome.
pub fn reload_now(library: &LibraryHandle) {
    match library.reload() {
        Ok(Reloaded::Swapped { playbooks, report }) => {
            crate::metrics::playbook_reload(true);
            info!(
                playbooks,
                warnings = report.warnings(),
                "playbooks reloaded"
            );
        }
        Ok(Reloaded::Kept { report }) => {
            crate::metrics::playbook_reload(false);
            for d in report.diagnostics.iter().filter(|d| d.is_error()) {
                warn!(problem = %d, "playbook reload refused");
            }
            warn!(
                errors = report.errors(),
                "reload had errors: the last good playbooks stay in use"
            );
        }
        Err(e) => {
            crate::metrics::playbook_reload(false);
            error!(error = %e, "playbook reload failed: the last good playbooks stay in use");
        }
    }
}

/// Runs until `stop` turns true. `interval` None: reload only on `hup`. Scanning and parsing
/// run on the blocking pool, never on the threads that answer interactions.
pub async fn watch(
    library: LibraryHandle,
    interval: Option<Duration>,
    hup: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let dir = Arc::new(library.dir().to_path_buf());
    let mut last = off_runtime({
        let dir = Arc::clone(&dir);
        move || fingerprint(&dir)
    })
    .await;
    let mut tick = tokio::time::interval(interval.unwrap_or(Duration::from_secs(3600)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = hup.notified() => {
                // Fingerprint first: a file that changes while the reload reads it is seen
                // as a change at the next tick instead of being taken as already loaded.
                let (dir, library) = (Arc::clone(&dir), library.clone());
                last = off_runtime(move || {
                    let now = fingerprint(&dir);
                    reload_now(&library);
                    now
                })
                .await;
            }
            _ = tick.tick(), if interval.is_some() => {
                let (dir, library) = (Arc::clone(&dir), library.clone());
                last = off_runtime(move || {
                    let now = fingerprint(&dir);
                    if now != last {
                        reload_now(&library);
                    }
                    now
                })
                .await;
            }
        }
    }
}

/// Runs `f` on the blocking pool. Should that task die, its panic is logged and the fingerprint
/// 0 makes the next tick try again.
async fn off_runtime(f: impl FnOnce() -> u64 + Send + 'static) -> u64 {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        error!(error = %e, "playbook scan failed");
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "socbot-reload-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn fingerprint_skips_dot_folders_such_as_git() {
        let dir = tmp("dotgit");
        std::fs::write(dir.join("T1583.006.md"), "# playbook").unwrap();
        std::fs::create_dir_all(dir.join(".git/objects/ab")).unwrap();
        std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(dir.join(".swap.md"), "editor state").unwrap();
        let before = fingerprint(&dir);
        // Git's own bookkeeping (a fetch, a gc) and hidden files change: no reload.
        std::fs::write(dir.join(".git/objects/ab/cdef"), "object").unwrap();
        std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/other-branch\n").unwrap();
        std::fs::write(dir.join(".swap.md"), "more editor state").unwrap();
        std::fs::create_dir(dir.join(".cache")).unwrap();
        assert_eq!(fingerprint(&dir), before);
        // A playbook changes: reload.
        std::fs::write(dir.join("T1583.006.md"), "# playbook, edited").unwrap();
        assert_ne!(fingerprint(&dir), before);
        let edited = fingerprint(&dir);
        // A new playbook in a sub-folder: reload.
        std::fs::create_dir(dir.join("impact")).unwrap();
        std::fs::write(dir.join("impact/T1486.md"), "# playbook").unwrap();
        assert_ne!(fingerprint(&dir), edited);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A ConfigMap update whose new file has the same size and modification time as the old
    /// one: the resolved path (through the swapped `..data`) still tells them apart.
    #[cfg(unix)]
    #[test]
    fn fingerprint_sees_a_configmap_swap_with_identical_metadata() {
        use std::os::unix::fs::symlink;
        let dir = tmp("configmap");
        let v1 = dir.join("..2026_01_01_v1");
        std::fs::create_dir(&v1).unwrap();
        std::fs::write(v1.join("T1583.006.md"), "# version 1").unwrap();
        symlink("..2026_01_01_v1", dir.join("..data")).unwrap();
        symlink("..data/T1583.006.md", dir.join("T1583.006.md")).unwrap();
        let before = fingerprint(&dir);
        assert_eq!(fingerprint(&dir), before, "stable while nothing changes");

        let v2 = dir.join("..2026_01_02_v2");
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(v2.join("T1583.006.md"), "# version 2").unwrap();
        let mtime = std::fs::metadata(v1.join("T1583.006.md"))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::File::options()
            .write(true)
            .open(v2.join("T1583.006.md"))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        symlink("..2026_01_02_v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        assert_ne!(fingerprint(&dir), before);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
