//! `socbot run` (the Discord daemon) and `socbot console` (the same commands at a terminal).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::daemon::{self, StartError};
use crate::service::Service;

pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let reload = Arc::new(Notify::new());
    let result = runtime.block_on(daemon::run(config, reload.clone(), daemon::signals(reload)));
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e)
            if e.downcast_ref::<StartError>()
                .is_some_and(|s| matches!(s, StartError::NoToken)) =>
        {
            eprintln!("socbot: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e),
    }
}

pub fn console(config: Config) -> anyhow::Result<ExitCode> {
    let library = daemon::load_playbooks(&config)?;
    let service = Service::new(library);
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    crate::console::run(
        &service,
        stdin.lock(),
        std::io::stdout().lock(),
        prompt,
        super::width(None),
    )?;
    Ok(ExitCode::SUCCESS)
}
