//! `socbot run` (the Discord daemon) and `socbot console` (the same commands at a terminal).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Config;
use crate::console::ConsolePort;
use crate::daemon::{self, StartError};

pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let reload = Arc::new(Notify::new());
    // Signals are heard from here on, start-up included.
    let shutdown = {
        let _in_runtime = runtime.enter();
        daemon::signals(reload.clone())
    };
    let result = runtime.block_on(daemon::run(config, reload, shutdown));
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A configuration problem (no token, a bad id or playbook directory): one line naming
        // the key, and exit 2, which systemd's RestartPreventExitStatus=2 does not restart.
        Err(e) if e.downcast_ref::<StartError>().is_some() => {
            eprintln!("socbot: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e),
    }
}

pub fn console(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rotation = daemon::rotation(&config)?;
    let library = daemon::load_playbooks(&config)?;
    let catalog = daemon::load_catalog(&config)?;
    let store = daemon::open_store(&config)?;
    let port = Arc::new(ConsolePort::default());
    // At a terminal: line editing, history and completion; piped: line by line, no prompt.
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Incidents opened here get their thread in the SOC channel once the bot runs.
        let (service, _outbox, tasks) = daemon::incident_service(
            &config,
            library,
            store.clone(),
            port.clone(),
            Clock::System,
            rotation,
            &stop_rx,
        );
        let service = service.with_catalog(catalog);
        let width = super::width(None);
        if interactive {
            let history = history_file(&config.store.path);
            crate::console::interactive::run(&service, Some(port), Some(history), width).await?;
        } else {
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            let out = std::io::stdout();
            crate::console::run(&service, Some(port), stdin, out.lock(), width).await?;
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        store.flush().await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The console's history file, beside the store: `data/socbot.sled.history`.
fn history_file(store: &std::path::Path) -> std::path::PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".history");
    std::path::PathBuf::from(name)
}
