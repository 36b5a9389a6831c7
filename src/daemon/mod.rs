//! `socbot run`: loads the playbooks, starts the reload watcher and the Discord adapter, and
//! serves until shutdown. Every background task hears shutdown and is waited for.

pub mod reload;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::{Config, Finding};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::effects::{ChatPort, Outbox, Webhook};
use crate::oncall::Rotation;
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
    #[error(
        "configuration key `playbooks.dir`: {0}; put the path of your playbook directory there (a folder of .md playbooks; SOCBOT__PLAYBOOKS__DIR)"
    )]
    // Not a `#[source]`: the message already says it, and `{:#}` would say it twice.
    Playbooks(crate::playbook::library::LoadError),
    /// A value the configuration loader accepts but that cannot be right, e.g. an id that is
    /// no Discord id.
    #[error("configuration key `{key}`: {message}")]
    Config { key: String, message: String },
}

impl From<crate::playbook::library::LoadError> for StartError {
    fn from(e: crate::playbook::library::LoadError) -> Self {
        Self::Playbooks(e)
    }
}

/// The configuration's findings ([`crate::config::validate`]) as `socbot run` sees them: the
/// first error stops start-up naming its key; the warnings are returned, to be logged once the
/// daemon has loaded what it needs (a start-up that fails says one line, nothing else).
pub fn check_config(config: &Config) -> Result<Vec<Finding>, StartError> {
    let (errors, warnings): (Vec<_>, Vec<_>) = crate::config::validate(config)
        .into_iter()
        .partition(Finding::is_error);
    match errors.into_iter().next() {
        Some(e) => Err(StartError::Config {
            key: e.key,
            message: e.message,
        }),
        None => Ok(warnings),
    }
}

/// Logs what [`check_config`] warned about.
pub fn log_warnings(warnings: &[Finding]) {
    for w in warnings {
        warn!(key = %w.key, "{}", w.message);
    }
}

/// Loads the configured playbooks and logs every problem with its file:line.
pub fn load_playbooks(config: &Config) -> Result<LibraryHandle, StartError> {
    let (handle, report) =
        LibraryHandle::load_limited(&config.playbooks.dir, config.playbooks.max_file_bytes)?;
    for d in &report.diagnostics {
        if d.is_error() {
            warn!(problem = %d, "playbook left out");
        } else if d.line == 0 {
            warn!(problem = %d, "playbook folder left out");
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

/// The ATT&CK catalog `attack.stix` names (the shipped one when empty).
pub fn load_catalog(config: &Config) -> Result<Arc<crate::attack::Catalog>, StartError> {
    let catalog = config.attack.catalog().map_err(|e| match e {
        crate::config::ConfigError::Invalid { key, message } => StartError::Config { key, message },
        other => StartError::Config {
            key: "attack.stix".into(),
            message: other.to_string(),
        },
    })?;
    info!(
        version = %catalog.version,
        techniques = catalog.live().count(),
        "ATT&CK catalog loaded"
    );
    Ok(catalog)
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

/// The on-call rotation from `[oncall]`, or the key that is wrong.
pub fn rotation(config: &Config) -> anyhow::Result<Rotation> {
    config
        .oncall
        .rotation()
        .map_err(|p| anyhow::anyhow!("configuration key `{p}`"))
}

/// Builds the incident service over `store`: outbox (through `port`), paging on `rotation`,
/// and their background tasks, which stop when `stop` turns true. Incident threads and shift
/// hand-offs go to `discord.soc_channel_id` (0: where each incident is opened; no hand-offs).
pub fn incident_service(
    config: &Config,
    library: LibraryHandle,
    store: Store,
    port: Arc<dyn ChatPort>,
    clock: Clock,
    rotation: Rotation,
    stop: &watch::Receiver<bool>,
) -> (Service, Outbox, Vec<JoinHandle<()>>) {
    let soc_channel = config.discord.soc_channel_id;
    let webhook = config
        .paging
        .webhook()
        .map(|url| Webhook::new(url).with_routing_key(config.paging.routing_key.clone()));
    let outbox = Outbox::new(store.clone(), port)
        .with_webhook(webhook)
        .with_settings(crate::effects::OutboxSettings::from_config(&config.outbox));
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
    (service, outbox, tasks)
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
    let warnings = check_config(&config)?;
    let rotation = rotation(&config)?;
    let library = load_playbooks(&config)?;
    let catalog = load_catalog(&config)?;
    let store = open_store(&config)?;
    log_warnings(&warnings);
    // Buttons carry the store's epoch: those made before a restore are refused.
    crate::discord::incident::set_store_epoch(store.epoch()?);
    log_pending(&store)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    crate::metrics::set_gateway_connected(false);
    let alerts = crate::http::alerts::Slot::default();
    let ops = start_ops(&config, &store, &library, &alerts, &stop_rx).await?;
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
    let build = |http, known_threads| {
        let port = Arc::new(crate::discord::port::DiscordPort::new(
            http,
            known_threads,
            library.clone(),
            config.discord.guild_id,
        ));
        let (service, _outbox, t) = incident_service(
            &config,
            library.clone(),
            store.clone(),
            port,
            clock.clone(),
            rotation,
            &stop_rx,
        );
        tasks = t;
        if let Some(incidents) = service.incidents() {
            let _ = alerts.set(crate::service::alert::AlertIntake::new(
                incidents.clone(),
                library.clone(),
                config.alerts.clone(),
                clock.clone(),
            ));
        }
        service.with_catalog(catalog)
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
    result
}

/// Says what the store holds from before: effects to deliver and paging deadlines to re-arm.
fn log_pending(store: &Store) -> anyhow::Result<()> {
    let pending = store.outbox_len();
    if pending > 0 {
        info!(
            pending,
            "outbox has undelivered effects from before; delivering them"
        );
    }
    let timers = store.timer_count()?;
    if timers > 0 {
        info!(
            timers,
            "re-arming paging deadlines from before; overdue ones fire now"
        );
    }
    Ok(())
}

/// The operator's side: the backup control socket and, when `http.listen` is set, the HTTP
/// listener (probes, metrics, alerts in through `alerts`).
async fn start_ops(
    config: &Config,
    store: &Store,
    library: &LibraryHandle,
    alerts: &crate::http::alerts::Slot,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut ops = vec![tokio::spawn(crate::backup::serve_control(
        store.clone(),
        crate::backup::control_socket(&config.store.path),
        stop.clone(),
    ))];
    if let Some(addr) = config.http.listen {
        let listener = crate::http::bind(addr).await?;
        config.http.bound.set(listener.local_addr().ok());
        let routes = crate::http::Routes {
            probe: crate::http::Probe {
                library: library.clone(),
                store: store.clone(),
            },
            alerts: alerts.clone(),
        };
        ops.push(tokio::spawn(crate::http::serve(
            listener,
            routes,
            stop.clone(),
        )));
    }
    Ok(ops)
}

/// Listens for SIGTERM, SIGINT (Ctrl-C) and SIGHUP from this call on, not from the future's
/// first poll: a signal that arrives while the daemon starts up is heard (instead of the default
/// action, which ends the process unflushed). Call it inside the runtime. The future resolves on
/// SIGTERM or SIGINT and notifies `reload` on every SIGHUP meanwhile.
pub fn signals(reload: Arc<Notify>) -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        );
        async move {
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) = streams else {
                let _ = tokio::signal::ctrl_c().await;
                return;
            };
            loop {
                tokio::select! {
                    _ = term.recv() => { info!("SIGTERM received"); return; }
                    _ = int.recv() => { info!("Ctrl-C received"); return; }
                    _ = hup.recv() => { info!("SIGHUP received: reloading playbooks"); reload.notify_one(); }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reload;
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(guild: &str, channel: &str) -> Config {
        Config::load_with_env(
            None,
            [
                ("SOCBOT__DISCORD__GUILD_ID".to_owned(), guild.to_owned()),
                (
                    "SOCBOT__DISCORD__SOC_CHANNEL_ID".to_owned(),
                    channel.to_owned(),
                ),
                ("SOCBOT__ROLES__OPEN".to_owned(), "true".to_owned()),
            ],
        )
        .expect("loads")
    }

    #[test]
    fn implausible_ids_and_no_server_stop_start_up_and_no_soc_channel_does_not() {
        assert!(
            check_config(&config("1100000000000000010", "0")).is_ok(),
            "channel 0 is unset"
        );
        assert!(check_config(&config("1100000000000000010", "1100000000000000020")).is_ok());
        for (guild, channel, key) in [
            ("0", "0", "discord.guild_id"),
            ("12", "0", "discord.guild_id"),
            ("1100000000000000010", "123456789", "discord.soc_channel_id"),
            (
                "1100000000000000010",
                "18446744073709551615",
                "discord.soc_channel_id",
            ),
        ] {
            let err = check_config(&config(guild, channel)).unwrap_err();
            let line = err.to_string();
            assert!(
                line.starts_with(&format!("configuration key `{key}`: ")),
                "{line}"
            );
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn empty_roles_stop_start_up_unless_the_server_is_open_on_purpose() {
        let load = |pairs: &[(&str, &str)]| {
            Config::load_with_env(
                None,
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
            .expect("loads")
        };
        let err = check_config(&load(&[
            ("SOCBOT__ROLES__T2", "1100000000000000022"),
            ("SOCBOT__DISCORD__GUILD_ID", "1100000000000000010"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("configuration key `roles.l1`: empty"),
            "{err}"
        );
        let err = check_config(&load(&[
            ("SOCBOT__ROLES__L1", "1100000000000000011"),
            ("SOCBOT__DISCORD__GUILD_ID", "1100000000000000010"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("configuration key `roles.t2`: empty"),
            "{err}"
        );
        let warnings = check_config(&load(&[
            ("SOCBOT__ROLES__OPEN", "true"),
            ("SOCBOT__DISCORD__GUILD_ID", "1100000000000000010"),
        ]))
        .unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.key == "roles.t2" && w.message.starts_with("roles.open = true")),
            "{warnings:?}"
        );
        assert!(
            check_config(&load(&[
                ("SOCBOT__ROLES__L1", "1100000000000000011"),
                ("SOCBOT__ROLES__T2", "1100000000000000022"),
                ("SOCBOT__DISCORD__GUILD_ID", "1100000000000000010"),
            ]))
            .is_ok()
        );
    }

    #[test]
    fn a_bad_playbook_directory_names_the_key_once() {
        let mut config = config("0", "0");
        config.playbooks.dir = "/nonexistent/socbot-playbooks".into();
        let err = anyhow::Error::from(load_playbooks(&config).unwrap_err());
        let line = format!("{err:#}");
        assert!(
            line.starts_with(
                "configuration key `playbooks.dir`: cannot read playbook directory /nonexistent/socbot-playbooks: "
            ),
            "{line}"
        );
        assert_eq!(line.matches("cannot read").count(), 1, "{line}");
    }
}
