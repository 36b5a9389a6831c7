//! `socbot run`: loads the playbooks, starts the reload watcher and the Discord adapter, and
//! serves until shutdown. Every background task hears shutdown and is waited for.

pub mod reload;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::effects::{ChatPort, Outbox, Webhook};
use crate::service::paging::Paging;
use crate::service::{Incidents, LibraryHandle, Service};
use crate::store::Store;

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

/// Opens the configured store, creating its directory when missing.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    if let Some(parent) = config.store.path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            anyhow::anyhow!(
                "configuration key `store.path`: cannot create {}: {e}",
                parent.display()
            )
        })?;
    }
    Ok(Store::open(&config.store.path)?)
}

/// Runs the daemon until `shutdown` resolves. `reload` is notified on SIGHUP (by the binary).
/// Shutdown order: stop taking interactions, let the outbox finish what it is delivering, then
/// flush the store.
pub async fn run(
    config: Config,
    reload: Arc<Notify>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    run_with_clock(config, Clock::System, reload, shutdown).await
}

/// Builds the incident service over `store`: outbox (through `port`), paging, and their
/// background tasks, which stop when `stop` turns true.
pub fn incident_service(
    config: &Config,
    library: LibraryHandle,
    store: Store,
    port: Arc<dyn ChatPort>,
    clock: Clock,
    soc_channel: u64,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<(Service, Outbox, Vec<JoinHandle<()>>)> {
    let rotation = config
        .oncall
        .rotation()
        .map_err(|p| anyhow::anyhow!("configuration key `{p}`"))?;
    let webhook = config.paging.webhook().map(Webhook::new);
    let outbox = Outbox::new(store.clone(), port).with_webhook(webhook);
    let incidents = Incidents::new(
        store.clone(),
        outbox.clone(),
        config.escalation.default,
        config.roles.clone(),
        soc_channel,
    );
    let paging = Paging::new(
        store,
        outbox.clone(),
        rotation,
        config.paging.clone(),
        clock.clone(),
        incidents.lock(),
    )
    .with_handoff(soc_channel);
    let tasks = vec![
        tokio::spawn(outbox.clone().run(stop.clone())),
        tokio::spawn(paging.clone().run(stop.clone())),
    ];
    let service = Service::with_incidents(library, incidents.with_paging(paging)).with_clock(clock);
    Ok((service, outbox, tasks))
}

/// As [`run`], reading time from `clock` (tests drive acknowledgement deadlines with a manual one).
pub async fn run_with_clock(
    config: Config,
    clock: Clock,
    reload: Arc<Notify>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    if !config.discord.has_token() {
        return Err(StartError::NoToken.into());
    }
    let library = load_playbooks(&config)?;
    let store = open_store(&config)?;
    let pending = store.outbox()?.len();
    if pending > 0 {
        info!(
            pending,
            "outbox has undelivered effects from before; delivering them"
        );
    }
    let timers = store.timers()?.len();
    if timers > 0 {
        info!(
            timers,
            "re-arming paging deadlines from before; overdue ones fire now"
        );
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    crate::metrics::set_gateway_connected(false);
    let mut ops = vec![tokio::spawn(crate::backup::serve_control(
        store.clone(),
        crate::backup::control_socket(&config.store.path),
        stop_rx.clone(),
    ))];
    if let Some(addr) = crate::http::parse_listen(&config.http.listen)
        .map_err(|m| anyhow::anyhow!("configuration key `http.listen`: {m}"))?
    {
        let listener = crate::http::bind(addr).await?;
        config.http.bound.set(listener.local_addr().ok());
        let probe = crate::http::Probe {
            library: library.clone(),
            store: store.clone(),
        };
        ops.push(tokio::spawn(crate::http::serve(
            listener,
            probe,
            stop_rx.clone(),
        )));
    }
    let watcher = tokio::spawn(reload::watch(
        library.clone(),
        config
            .playbooks
            .watch
            .then(|| Duration::from_secs(config.playbooks.watch_interval_secs)),
        reload,
        stop_rx.clone(),
    ));
    let mut tasks = Vec::new();
    let mut failed = None;
    let build = |http| {
        let port = Arc::new(crate::discord::port::DiscordPort::new(
            http,
            library.clone(),
            config.discord.guild_id,
        ));
        match incident_service(
            &config,
            library.clone(),
            store.clone(),
            port,
            clock.clone(),
            config.discord.soc_channel_id,
            &stop_rx,
        ) {
            Ok((service, _outbox, t)) => {
                tasks = t;
                service
            }
            Err(e) => {
                failed = Some(e);
                Service::new(library.clone())
            }
        }
    };
    let result = crate::discord::serve(&config.discord, build, shutdown).await;
    let _ = stop_tx.send(true);
    crate::metrics::set_gateway_connected(false);
    for task in ops {
        let _ = task.await;
    }
    config.http.bound.set(None);
    if let Err(e) = watcher.await {
        warn!(error = %e, "playbook watcher ended abnormally");
    }
    for task in tasks {
        if let Err(e) = task.await {
            warn!(error = %e, "background worker ended abnormally");
        }
    }
    store.flush().await?;
    info!("socbot stopped");
    if let Some(e) = failed {
        return Err(e);
    }
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
