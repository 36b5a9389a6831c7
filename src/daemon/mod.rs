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
    Config { key: &'static str, message: String },
}

impl From<crate::playbook::library::LoadError> for StartError {
    fn from(e: crate::playbook::library::LoadError) -> Self {
        Self::Playbooks(e)
    }
}

/// Discord's epoch (2015-01-01) in ms: a snowflake's top 42 bits count ms from it.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// Whether `id` looks like a real Discord id: a snowflake made between Discord's launch and now.
/// Catches a role *name*'s digits, a truncated paste or a made-up number.
pub fn plausible_snowflake(id: u64) -> bool {
    let made = DISCORD_EPOCH_MS + (id >> 22) as i64;
    // The oldest ids are from early 2015 (~4e16); allow a day of clock skew ahead.
    id >= 10_000_000_000_000_000 && made <= chrono::Utc::now().timestamp_millis() + 86_400_000
}

/// What is wrong with `id` as the id of a Discord `what` (server, channel, role, user), if
/// anything: one line saying where to find the right one.
pub fn discord_id_problem(what: &str, id: u64) -> Option<String> {
    (!plausible_snowflake(id)).then(|| {
        format!(
            "{id} is not a Discord {what} id (17 to 20 digits); in Discord turn on Developer Mode, then right-click the {what} → Copy ID"
        )
    })
}

/// The ids `socbot run` cannot do without being right: a wrong server or SOC channel id would
/// only show up as Discord refusing requests once connected. The server is required (a SOC bot
/// serves its own server, nothing to any other); a SOC channel of 0 (unset) is allowed:
/// incident cards then go where each incident is opened.
pub fn check_discord_ids(config: &Config) -> Result<(), StartError> {
    if config.discord.guild_id == 0 {
        return Err(StartError::Config {
            key: "discord.guild_id",
            message: "not set; socbot serves one Discord server and refuses every other: put your server's id (SOCBOT__DISCORD__GUILD_ID; in Discord turn on Developer Mode, then right-click the server → Copy ID)".into(),
        });
    }
    for (key, what, id) in [
        ("discord.guild_id", "server", config.discord.guild_id),
        (
            "discord.soc_channel_id",
            "channel",
            config.discord.soc_channel_id,
        ),
    ] {
        if id != 0
            && let Some(message) = discord_id_problem(what, id)
        {
            return Err(StartError::Config { key, message });
        }
    }
    Ok(())
}

/// Who may do what must be said: with `roles.l1` or `roles.t2` empty every member of the server
/// could open, close and acknowledge, so `socbot run` refuses unless `roles.open = true` says
/// that is meant (a trial server); then it warns at every start.
pub fn check_roles(config: &Config) -> Result<(), StartError> {
    let roles = &config.roles;
    for (key, ids, tier) in [
        ("roles.l1", &roles.l1, "open, answer and escalate incidents"),
        (
            "roles.t2",
            &roles.t2,
            "close incidents, acknowledge pages and override the on-call rotation",
        ),
    ] {
        if ids.is_empty() {
            if roles.open {
                warn!(
                    key,
                    "roles.open = true and {key} is empty: every member of the server may {tier}"
                );
            } else {
                return Err(StartError::Config {
                    key,
                    message: format!(
                        "empty: every member of the server could {tier}; put the role ids allowed to (SOCBOT__{}=id,id), or set roles.open = true for a trial server open to all",
                        key.to_ascii_uppercase().replace('.', "__")
                    ),
                });
            }
        }
    }
    Ok(())
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
            key: "attack.stix",
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
        .with_settings(config.outbox.settings());
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
    check_discord_ids(&config)?;
    check_roles(&config)?;
    let rotation = rotation(&config)?;
    let library = load_playbooks(&config)?;
    let catalog = load_catalog(&config)?;
    let store = open_store(&config)?;
    // Buttons carry the store's epoch: those made before a restore are refused.
    crate::discord::incident::set_store_epoch(store.epoch()?);
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
    let (stop_tx, stop_rx) = watch::channel(false);
    crate::metrics::set_gateway_connected(false);
    let mut ops = vec![tokio::spawn(crate::backup::serve_control(
        store.clone(),
        crate::backup::control_socket(&config.store.path),
        stop_rx.clone(),
    ))];
    let alerts = crate::http::alerts::Slot::default();
    if let Some(addr) = crate::http::parse_listen(&config.http.listen)
        .map_err(|m| anyhow::anyhow!("configuration key `http.listen`: {m}"))?
    {
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
            stop_rx.clone(),
        )));
    } else if !config.alerts.sources.is_empty() {
        warn!(
            "alert sources are configured but `http.listen` is empty: nothing receives them; set http.listen (e.g. 0.0.0.0:9184)"
        );
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
            ],
        )
        .expect("loads")
    }

    #[test]
    fn implausible_ids_and_no_server_stop_start_up_and_no_soc_channel_does_not() {
        assert!(
            check_discord_ids(&config("1100000000000000010", "0")).is_ok(),
            "channel 0 is unset"
        );
        assert!(check_discord_ids(&config("1100000000000000010", "1100000000000000020")).is_ok());
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
            let err = check_discord_ids(&config(guild, channel)).unwrap_err();
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
        let err = check_roles(&load(&[("SOCBOT__ROLES__T2", "1100000000000000022")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("configuration key `roles.l1`: empty"),
            "{err}"
        );
        let err = check_roles(&load(&[("SOCBOT__ROLES__L1", "1100000000000000011")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("configuration key `roles.t2`: empty"),
            "{err}"
        );
        assert!(check_roles(&load(&[("SOCBOT__ROLES__OPEN", "true")])).is_ok());
        assert!(
            check_roles(&load(&[
                ("SOCBOT__ROLES__L1", "1100000000000000011"),
                ("SOCBOT__ROLES__T2", "1100000000000000022")
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
