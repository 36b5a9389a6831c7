//! The `socbot` command line. A file per subcommand or family of them; `main.rs` only calls
//! [`main`].

mod alert;
mod check;
mod coverage;
mod daemon;
mod export;
mod list;
mod oncall;
mod ops;
mod outbox;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::playbook::{Library, LoadReport};

#[derive(Debug, Parser)]
#[command(
    name = "socbot",
    version,
    about = "SOC triage playbooks, incidents and Tier 2 paging, in Discord and at a terminal"
)]
pub struct Cli {
    /// Configuration file layered over config/default.toml (also SOCBOT_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Without a command: `run` when a Discord token is configured, else `console`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Discord bot daemon until SIGTERM or Ctrl-C (SIGHUP reloads the playbooks).
    Run,
    /// The same commands at a terminal prompt, without Discord: `/playbook T1583.006`.
    Console,
    /// Show a playbook: `socbot show T1583.006 [--section questions] [--json]`.
    Show(show::Args),
    /// Lint a playbook directory; exit 1 on any error (for a playbook repo's CI).
    Check(check::Args),
    /// List the playbooks, optionally of one tactic.
    List(list::ListArgs),
    /// Who is on call for Tier 2 now (or --at a time), and next.
    Oncall(oncall::Args),
    /// Print an incident's report (markdown, or --json) from the store.
    Export(export::Args),
    /// Search playbooks by id prefix, name words or tactic, as autocomplete does.
    Search(list::SearchArgs),
    /// Check the configuration: `socbot config check` (exit 1 on any error).
    Config(ops::ConfigArgs),
    /// Write a consistent backup of the store, also while the bot runs: `socbot backup FILE`.
    Backup(ops::BackupArgs),
    /// Restore a backup into `store.path` (socbot stopped; the old store is kept aside).
    Restore(ops::RestoreArgs),
    /// ATT&CK coverage of the playbooks: per tactic, gaps seen in incidents, unused playbooks.
    Coverage(coverage::Args),
    /// The ATT&CK catalog: `socbot attack import enterprise-attack.json` writes the compact one.
    Attack(coverage::AttackArgs),
    /// Probe the health listener (/healthz, or /readyz with --ready): the container health check.
    Health(ops::HealthArgs),
    /// What socbot makes of an alert payload, without touching the store:
    /// `socbot alert test --format wazuh FILE [--json]`.
    Alert(alert::Args),
    /// The outbox's dead letters: `socbot outbox [list | retry ID | drop ID]`, also beside a
    /// running bot.
    Outbox(outbox::Args),
}

/// Parses the command line, loads the configuration, runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Config(ops::ConfigArgs {
        action: ops::ConfigAction::Check,
    })) = &cli.command
    {
        return ops::config_check(cli.config.as_deref());
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("socbot: {e}");
            // A configuration error exits 2 (systemd does not restart it), except for the
            // health check: Docker reserves 2 there, so unhealthy is always 1.
            return if matches!(cli.command, Some(Command::Health(_))) {
                ExitCode::FAILURE
            } else {
                ExitCode::from(2)
            };
        }
    };
    crate::telemetry::init(&config.log);
    let command = cli.command.unwrap_or_else(|| {
        if config.discord.has_token() {
            Command::Run
        } else {
            eprintln!("socbot: no Discord token configured (SOCBOT__DISCORD__TOKEN): starting the console instead of the bot");
            Command::Console
        }
    });
    let result = match command {
        Command::Run => daemon::run(config),
        Command::Console => daemon::console(config),
        Command::Show(args) => show::run(&config, args),
        Command::Check(args) => check::run(&config, args),
        Command::List(args) => list::run_list(&config, args),
        Command::Search(args) => list::run_search(&config, args),
        Command::Export(args) => export::run(&config, args),
        Command::Oncall(args) => oncall::run(&config, args),
        Command::Config(_) => unreachable!("handled before the configuration is loaded"),
        Command::Backup(args) => ops::backup(&config, args),
        Command::Restore(args) => ops::restore(&config, args),
        Command::Health(args) => ops::health(&config, args),
        Command::Alert(args) => alert::run(&config, args),
        Command::Coverage(args) => coverage::run(&config, args),
        Command::Attack(args) => coverage::attack(args),
        Command::Outbox(args) => outbox::run(&config, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("socbot: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the configured playbook directory; problems go to stderr as one summary line so
/// `show` and friends stay usable while `check` gives the details.
fn load_library(config: &Config) -> anyhow::Result<Library> {
    let (library, report) = Library::load_dir(&config.playbooks.dir)?;
    warn_summary(&report);
    Ok(library)
}

fn warn_summary(report: &LoadReport) {
    if report.errors() > 0 {
        eprintln!(
            "socbot: warning: {} playbook problem(s) kept some files out; run `socbot check` for file:line details",
            report.errors()
        );
    }
}

/// Terminal width for wrapping: `--width`, else `$COLUMNS`, else 100.
/// Writes `text` to stdout. A reader that stops early (`socbot list | head`) is no error.
fn emit(text: impl AsRef<str>) -> std::io::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_ref().as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn width(arg: Option<usize>) -> usize {
    arg.or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(100)
        .max(30)
}
