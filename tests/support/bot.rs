//! Starts the real socbot daemon (`socbot::daemon::run`) against a [`FakeDiscord`], with a
//! temporary store and playbook directory, and stops it cleanly. Restarting with the same
//! [`BotDirs`] keeps the store, as a real restart does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use socbot::config::Config;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::discord::FakeDiscord;

/// Role ids the harness configures: members with `L1_ROLE` may open and answer, `T2_ROLE` close.
pub const L1_ROLE: u64 = 1_300_000_000_000_000_011;
pub const T2_ROLE: u64 = 1_300_000_000_000_000_022;

/// Where one bot keeps its files; removed on drop.
pub struct BotDirs {
    pub root: PathBuf,
    pub store: PathBuf,
    pub playbooks: PathBuf,
}

impl BotDirs {
    /// A fresh directory with the bundled playbooks copied in (plus `extra` files).
    pub fn new(extra: &[(&str, &str)]) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "socbot-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let playbooks = root.join("playbooks");
        std::fs::create_dir_all(&playbooks).unwrap();
        let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
        for entry in std::fs::read_dir(bundled).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), playbooks.join(entry.file_name())).unwrap();
        }
        for (name, text) in extra {
            std::fs::write(playbooks.join(name), text).unwrap();
        }
        Self {
            store: root.join("store"),
            playbooks,
            root,
        }
    }
}

impl Drop for BotDirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A running bot.
pub struct Bot {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    pub reload: Arc<Notify>,
}

/// The configuration the daemon gets: the fake's address and token, the test's directories,
/// roles, and any `extra` `SOCBOT__…` variables.
pub fn config(fake: &FakeDiscord, dirs: &BotDirs, extra: &[(&str, String)]) -> Config {
    let mut env: Vec<(String, String)> = vec![
        ("SOCBOT__DISCORD__TOKEN".into(), fake.token().into()),
        ("SOCBOT__DISCORD__API_BASE".into(), fake.api_base()),
        (
            "SOCBOT__DISCORD__GUILD_ID".into(),
            fake.guild_id().to_string(),
        ),
        (
            "SOCBOT__DISCORD__SOC_CHANNEL_ID".into(),
            fake.channel_id().to_string(),
        ),
        (
            "SOCBOT__STORE__PATH".into(),
            dirs.store.display().to_string(),
        ),
        (
            "SOCBOT__PLAYBOOKS__DIR".into(),
            dirs.playbooks.display().to_string(),
        ),
        ("SOCBOT__PLAYBOOKS__WATCH_INTERVAL_SECS".into(), "1".into()),
        ("SOCBOT__ROLES__L1".into(), L1_ROLE.to_string()),
        ("SOCBOT__ROLES__T2".into(), T2_ROLE.to_string()),
        // Defer only what is close to Discord's 3 s (the fake enforces them), so a test
        // machine under load still gets the immediate answers the tests expect;
        // `tests/defer.rs` sets its own.
        ("SOCBOT__DISCORD__DEFER_AFTER_MS".into(), "2500".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Config::load_with_env(None, env).expect("test configuration loads")
}

/// A fresh fake Discord, a directory with the bundled playbooks plus `extra` files, and the
/// bot started on them. Keep the `BotDirs` alive: dropping it deletes the directory.
pub async fn start_fresh(extra: &[(&str, &str)]) -> (FakeDiscord, BotDirs, Bot) {
    start_fresh_on(FakeDiscord::start().await, extra).await
}

/// As [`start_fresh`], against `fake` (e.g. one started apart, on a thread of its own).
pub async fn start_fresh_on(
    fake: FakeDiscord,
    extra: &[(&str, &str)],
) -> (FakeDiscord, BotDirs, Bot) {
    let dirs = BotDirs::new(extra);
    let bot = Bot::start(&fake, &dirs).await;
    (fake, dirs, bot)
}

impl Bot {
    /// Starts the daemon and waits until it has identified and registered its commands.
    pub async fn start(fake: &FakeDiscord, dirs: &BotDirs) -> Self {
        Self::start_with(fake, config(fake, dirs, &[])).await
    }

    pub async fn start_with(fake: &FakeDiscord, config: Config) -> Self {
        Self::start_with_clock(fake, config, socbot::clock::Clock::System).await
    }

    /// As [`Bot::start_with`], with time from `clock` (a manual clock drives deadlines).
    pub async fn start_with_clock(
        fake: &FakeDiscord,
        config: Config,
        clock: socbot::clock::Clock,
    ) -> Self {
        let after = fake.requests().last().map(|r| r.seq);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let reload = Arc::new(Notify::new());
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let task = tokio::spawn(socbot::daemon::run_with_clock(
            config,
            clock,
            reload.clone(),
            shutdown,
        ));
        // This start's command registration (a restart registers again).
        fake.wait_for(
            move |r| {
                after.is_none_or(|a| r.seq > a)
                    && r.method == "PUT"
                    && r.path.ends_with("/commands")
            },
            Duration::from_secs(20),
        )
        .await;
        Self {
            stop: Some(stop_tx),
            task: Some(task),
            reload,
        }
    }

    /// Asks the daemon to shut down and waits for it; returns its result.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.expect("daemon task panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// `socbot run` against the loopback Discord `fake`, on `store` and `playbooks` (not watched),
/// with the test L1 and T2 roles; the caller adds the rest.
pub fn socbot_run(fake: &FakeDiscord, store: &Path, playbooks: &Path) -> std::process::Command {
    let mut cmd = super::cli::socbot_command(&[]);
    cmd.arg("run")
        .env("SOCBOT__DISCORD__TOKEN", fake.token())
        .env("SOCBOT__DISCORD__API_BASE", fake.api_base())
        .env("SOCBOT__DISCORD__GUILD_ID", fake.guild_id().to_string())
        .env(
            "SOCBOT__DISCORD__SOC_CHANNEL_ID",
            fake.channel_id().to_string(),
        )
        .env("SOCBOT__STORE__PATH", store)
        .env("SOCBOT__PLAYBOOKS__DIR", playbooks)
        .env("SOCBOT__PLAYBOOKS__WATCH", "false")
        .env("SOCBOT__ROLES__L1", L1_ROLE.to_string())
        .env("SOCBOT__ROLES__T2", T2_ROLE.to_string());
    cmd
}
