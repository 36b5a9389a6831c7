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

/// A cheap fingerprint of the directory: every file's path, size and modification time.
pub fn fingerprint(dir: &Path) -> u64 {
    fn walk(dir: &Path, h: &mut DefaultHasher) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            path.hash(h);
            // A file's link is followed (a Kubernetes ConfigMap mounts symlinks whose targets
            // change); a directory's is not, as the loader does not descend into it.
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&path, h),
                _ => {
                    if let Ok(m) = std::fs::metadata(&path) {
                        m.len().hash(h);
                        m.modified().ok().hash(h);
                    }
                }
            }
        }
    }
    let mut h = DefaultHasher::new();
    walk(dir, &mut h);
    h.finish()
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
