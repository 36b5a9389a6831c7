//! Latency statistics for the benches: percentiles, a one-line report, and the bot's own
//! measure of each interaction (`elapsed_us` of its "interaction handled" debug event).

use std::sync::Mutex;
use std::time::Duration;

/// Nearest-rank percentile of sorted samples (`p` in `0.0..=1.0`).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// Percentile of sorted samples by rounding `(n - 1) * p` to the nearest index.
pub fn percentile_rounded(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Mean of the samples (non-empty).
pub fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len() as u32
}

pub struct Summary {
    pub p50: Duration,
    pub p99: Duration,
}

/// Sorts the samples and prints one line: n, p50, p90, p99, max and mean; `what` is padded to
/// `what_width` and n to `n_width`.
pub fn report(
    what: &str,
    what_width: usize,
    n_width: usize,
    mut samples: Vec<Duration>,
) -> Summary {
    samples.sort();
    let mean = mean(&samples);
    println!(
        "{what:<what_width$} n={:<n_width$} p50 {:>9.3?}  p90 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}  mean {:>9.3?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
        mean
    );
    Summary {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
    }
}

/// Installs [`Handled`] as the process's subscriber (a no-op if one is already set).
pub fn install_handled() {
    use tracing_subscriber::layer::SubscriberExt;
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Handled));
}

/// What [`Handled`] has seen: the bot's `elapsed_us` of each handled interaction.
pub static HANDLED: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

/// A tracing layer that records the bot's own measure of each interaction into [`HANDLED`]:
/// from the event reaching its handler to the callback's 204 coming back.
pub struct Handled;

struct ElapsedField(Option<u64>);

impl tracing::field::Visit for ElapsedField {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "elapsed_us" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::layer::Layer<S> for Handled {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.is_event()
            && metadata.target() == "socbot::discord::handler"
            && metadata.fields().field("elapsed_us").is_some()
        {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut field = ElapsedField(None);
        event.record(&mut field);
        if let Some(us) = field.0 {
            HANDLED.lock().unwrap().push(Duration::from_micros(us));
        }
    }
}

/// CPU time this process has used so far (user + system, from `/proc/self/stat`, in clock
/// ticks of 10 ms); None where there is no procfs.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of each live thread of this process so far: (thread id, name, user + system), from
/// `/proc/self/task/*/stat` in clock ticks of 10 ms; empty where there is no procfs.
pub fn thread_cpu() -> Vec<(u32, String, Duration)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut threads = Vec::new();
    for task in tasks.flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // ended meanwhile
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (tick(11), tick(12)) {
            threads.push((tid, name, Duration::from_millis((user + system) * 10)));
        }
    }
    threads
}
