//! The console at a terminal: line editing, history kept in a file beside the store, Tab
//! completion (commands, options, sections, incident numbers, technique ids from the same
//! autocomplete as Discord), and log lines printed above the prompt instead of through it.
//!
//! rustyline reads on its own thread (it blocks); each line is sent to the runtime, run, printed,
//! and only then is the prompt shown again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, ExternalPrinter, Helper};
use tokio::sync::mpsc;

use super::{ConsolePort, Sources, complete, execute, greeting};
use crate::incident::IncidentStatus;
use crate::service::Service;

/// Completion candidates offered for incident numbers at most.
const MAX_INCIDENT_CANDIDATES: usize = 25;
const PROMPT: &str = "socbot> ";

/// Runs the console at a terminal until `/quit`, Ctrl-D or end of input. `history` is the file
/// that keeps typed lines between sessions (created readable by its owner only).
pub async fn run(
    service: &Service,
    port: Option<Arc<ConsolePort>>,
    history: Option<PathBuf>,
    width: usize,
) -> anyhow::Result<()> {
    println!("{}", greeting(service));
    let (lines_tx, mut lines_rx) = mpsc::channel::<String>(1);
    let (done_tx, done_rx) = std_mpsc::channel::<bool>();
    let helper = ConsoleHelper {
        service: service.clone(),
    };
    let reader = std::thread::Builder::new()
        .name("console-prompt".into())
        .spawn(move || read_lines(helper, history, lines_tx, done_rx))?;
    while let Some(line) = lines_rx.recv().await {
        // At a terminal (stdin and stdout both are one).
        let step = execute(service, port.as_deref(), &line, width, true).await;
        print!("{}", step.output);
        let _ = done_tx.send(step.quit);
        if step.quit {
            break;
        }
    }
    drop(done_tx);
    let result = tokio::task::spawn_blocking(move || reader.join()).await?;
    crate::telemetry::restore_stderr();
    match result {
        Ok(outcome) => outcome,
        Err(_) => anyhow::bail!("the console prompt thread panicked"),
    }
}

/// The prompt thread: reads a line, hands it over, waits until it has run, repeats.
fn read_lines(
    helper: ConsoleHelper,
    history: Option<PathBuf>,
    lines: mpsc::Sender<String>,
    done: std_mpsc::Receiver<bool>,
) -> anyhow::Result<()> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(2000)?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ConsoleHelper, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(helper));
    if let Ok(mut printer) = editor.create_external_printer() {
        crate::telemetry::route_logs(Box::new(move |line| {
            let _ = printer.print(line);
        }));
    }
    if let Some(path) = &history {
        prepare_history_file(path);
        if let Err(e) = editor.load_history(path) {
            tracing::debug!(path = %path.display(), error = %e, "no console history loaded");
        }
    }
    loop {
        let line = match editor.readline(PROMPT) {
            Ok(line) => line,
            // Ctrl-C drops the line being typed, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        remember(&mut editor, history.as_deref(), &line);
        if lines.blocking_send(line).is_err() {
            break;
        }
        match done.recv() {
            Ok(false) => {}
            Ok(true) | Err(_) => break,
        }
    }
    Ok(())
}

/// Adds a typed line to the history and its file.
fn remember(editor: &mut Editor<ConsoleHelper, DefaultHistory>, path: Option<&Path>, line: &str) {
    if line.trim().is_empty() {
        return;
    }
    let _ = editor.add_history_entry(line);
    if let Some(path) = path
        && let Err(e) = editor.append_history(path)
    {
        tracing::warn!(path = %path.display(), error = %e, "console history not saved");
    }
}

/// The history holds what analysts typed (notes, titles): readable by its owner only.
fn prepare_history_file(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path);
}

/// rustyline's view of the console: completion only.
struct ConsoleHelper {
    service: Service,
}

impl ConsoleHelper {
    fn open_incidents(&self) -> Vec<String> {
        let Some(incidents) = self.service.incidents() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for status in [IncidentStatus::Open, IncidentStatus::Escalated] {
            if let Ok((list, _)) = incidents.list(Some(status)) {
                out.extend(list.iter().map(|i| i.id.to_string()));
            }
        }
        out.truncate(MAX_INCIDENT_CANDIDATES);
        out
    }
}

impl Completer for ConsoleHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let techniques = |typed: &str| self.service.autocomplete_technique(typed, 80);
        let incidents = || self.open_incidents();
        let sources = Sources {
            techniques: &techniques,
            incidents: &incidents,
        };
        let (start, candidates) = complete(line, pos, &sources);
        let pairs = candidates
            .into_iter()
            .map(|c| Pair {
                display: c.display,
                replacement: c.replacement,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ConsoleHelper {
    type Hint = String;
}

impl Highlighter for ConsoleHelper {}

impl Validator for ConsoleHelper {}

impl Helper for ConsoleHelper {}
