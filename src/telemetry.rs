//! Logging: structured `tracing` to stderr, human-readable or JSON (`log.format`).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG` wins over `log.level` when set. Safe to call twice
/// (the second call does nothing), so tests may start several bots in one process.
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(LogWriter);
    let _ = match log.format {
        // One line per finished command (and interaction) with its span's fields (command,
        // actor, incident, technique) and how long it took, for log shippers.
        LogFormat::Json => builder
            .json()
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Where a finished log line goes instead of stderr (the console's prompt printer), if set.
type Sink = Box<dyn FnMut(String) + Send>;

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Sends log lines to `sink` (the console prints them above its prompt) until [`restore_stderr`].
pub fn route_logs(sink: Sink) {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(sink);
}

/// Log lines go to stderr again.
pub fn restore_stderr() {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Makes one [`LineWriter`] per log event.
struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(Vec::new())
    }
}

/// Collects one formatted event and hands it over whole when dropped: to the sink when one is
/// set, else to stderr. Whole lines keep log output from tearing through a prompt.
struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
        match sink.as_mut() {
            Some(sink) => sink(String::from_utf8_lossy(&self.0).into_owned()),
            None => {
                drop(sink);
                let _ = std::io::stderr().lock().write_all(&self.0);
            }
        }
    }
}
