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
    let (library, mut report) = Library::load_dir_limited(&dir, config.playbooks.max_file_bytes)?;
    // ATT&CK's view of each playbook: warnings only.
    let catalog = super::coverage::catalog(config)?;
    report.diagnostics.extend(crate::attack::lint::playbooks(
        &catalog,
        library.iter().map(|p| &**p),
    ));
    report
        .diagnostics
        .sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    let mut out = String::new();
    for d in &report.diagnostics {
        out.push_str(&format!("{d}\n"));
    }
    if !report.skipped.is_empty() {
        out.push_str(&format!(
            "skipped {} file(s) with no playbook table (not counted as errors): {}\n",
            report.skipped.len(),
            report.skipped.join(", ")
        ));
    }
    out.push_str(&format!(
        "{}: {} playbooks loaded from {} files, {} error(s), {} warning(s), {} skipped (checked against MITRE ATT&CK v{})\n",
        dir.display(),
        library.len(),
        report.files,
        report.errors(),
        report.warnings(),
        report.skipped.len(),
        catalog.version
    ));
    super::emit(out)?;
    Ok(if report.errors() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
