//! `socbot check [DIR]`: lints a playbook directory, one `path:line: error|warning: message`
//! line per problem and a summary; exit 1 on any error.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::playbook::Library;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to check (default: `playbooks.dir` from the configuration).
    pub dir: Option<PathBuf>,
}

pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(|| config.playbooks.dir.clone());
    let (library, report) = Library::load_dir(&dir)?;
    for d in &report.diagnostics {
        println!("{d}");
    }
    for s in &report.skipped {
        println!("{s}:1: note: skipped, not a playbook (no table and no `# Name - T1234` heading)");
    }
    println!(
        "{}: {} playbooks loaded from {} files, {} error(s), {} warning(s), {} skipped",
        dir.display(),
        library.len(),
        report.files,
        report.errors(),
        report.warnings(),
        report.skipped.len()
    );
    Ok(if report.errors() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
