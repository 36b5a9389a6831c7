//! `socbot run`: loads the playbooks, starts the reload watcher and the Discord adapter, and
//! serves until shutdown. Every background task hears shutdown and is waited for.

pub mod reload;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::service::{LibraryHandle, Service};

/// Why the daemon cannot start, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "no Discord token: set SOCBOT__DISCORD__TOKEN (create a bot at https://discord.com/developers/applications → your application → Bot → Reset Token). Without Discord, `socbot console` runs the same commands at a terminal."
    )]
    NoToken,
    #[error(transparent)]
    Playbooks(#[from] crate::playbook::library::LoadError),
}

/// Loads the configured playbooks and logs every problem with its file:line.
pub fn load_playbooks(config: &Config) -> Result<LibraryHandle, StartError> {
    let (handle, report) = LibraryHandle::load(&config.playbooks.dir)?;
    for d in &report.diagnostics {
        if d.is_error() {
            warn!(problem = %d, "playbook left out");
        }
    }
    info!(
        dir = %config.playbooks.dir.display(),
        playbooks = handle.current().len(),
        errors = report.errors(),
        warnings = report.warnings(),
        "playbooks loaded"
    );
    Ok(handle)
}

/// Runs the daemon until `shutdown` resolves. `reload` is notified on SIGHUP (by the binary).
pub async fn run(
    config: Config,
    reload: Arc<Notify>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    if !config.discord.has_token() {
        return Err(StartError::NoToken.into());
    }
    let library = load_playbooks(&config)?;
    let service = Service::new(library.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let watcher = tokio::spawn(reload::watch(
        library,
        config
            .playbooks
            .watch
            .then(|| Duration::from_secs(config.playbooks.watch_interval_secs)),
        reload,
        stop_rx,
    ));
    let result = crate::discord::serve(&config.discord, service, shutdown).await;
    let _ = stop_tx.send(true);
    if let Err(e) = watcher.await {
        warn!(error = %e, "playbook watcher ended abnormally");
    }
    info!("socbot stopped");
    result
}

/// Resolves on SIGTERM or Ctrl-C; notifies `reload` on every SIGHUP meanwhile.
pub async fn signals(reload: Arc<Notify>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => { info!("SIGTERM received"); return; }
                _ = tokio::signal::ctrl_c() => { info!("Ctrl-C received"); return; }
                _ = hup.recv() => { info!("SIGHUP received: reloading playbooks"); reload.notify_one(); }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reload;
        let _ = tokio::signal::ctrl_c().await;
    }
}
