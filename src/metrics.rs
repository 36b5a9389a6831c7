//! Prometheus metrics, by hand: atomics for plain counters and gauges, small locked maps for the
//! labelled families, rendered in the text exposition format (0.0.4) by `GET /metrics`
//! ([`crate::http`]). Process-wide, like every Prometheus client's default registry: the code
//! that counts calls one function here and needs no handle.
//!
//! Label values are bounded: command names, outcomes, effect kinds, resolutions and technique
//! ids (one per playbook).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::incident::{EscalationReason, Event, EventKind, Incident};

/// Interaction latency buckets, seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Time-to-acknowledge buckets, seconds (30 s to 2 h).
const ACK_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// A counter family with labels.
struct Family {
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Family {
    const fn new() -> Self {
        Self {
            values: Mutex::new(BTreeMap::new()),
        }
    }

    fn inc(&self, labels: &[&str]) {
        let key = labels.iter().map(|l| (*l).to_owned()).collect();
        let mut v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        *v.entry(key).or_insert(0) += 1;
    }

    fn snapshot(&self) -> BTreeMap<Vec<String>, u64> {
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[derive(Clone, Default)]
struct HistogramData {
    /// Per bucket (not cumulative), plus one for +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// A histogram family with labels.
struct Histogram {
    buckets: &'static [f64],
    values: Mutex<BTreeMap<Vec<String>, HistogramData>>,
}

impl Histogram {
    const fn new(buckets: &'static [f64]) -> Self {
        Self {
            buckets,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    fn observe(&self, labels: &[&str], seconds: f64) {
        let key = labels.iter().map(|l| (*l).to_owned()).collect();
        let mut v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let data = v.entry(key).or_insert_with(|| HistogramData {
            counts: vec![0; self.buckets.len() + 1],
            ..HistogramData::default()
        });
        let slot = self
            .buckets
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(self.buckets.len());
        data.counts[slot] += 1;
        data.sum += seconds;
        data.count += 1;
    }

    fn snapshot(&self) -> BTreeMap<Vec<String>, HistogramData> {
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

struct Registry {
    interactions: Family,
    interaction_seconds: Histogram,
    opened: Family,
    escalated: Family,
    closed: Family,
    pages_sent: AtomicU64,
    acks: AtomicU64,
    ack_seconds: Histogram,
    delivered: Family,
    retries: Family,
    dropped: Family,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
    store_errors: AtomicU64,
    gateway_connected: AtomicBool,
    alerts: Family,
    alerts_rejected: Family,
    alerts_without_playbook: Family,
    alert_thread_seconds: Histogram,
    unreadable: Family,
    pages_rerouted: AtomicU64,
    pages_unreached: AtomicU64,
    interactions_deferred: AtomicU64,
    store_flushes: AtomicU64,
    store_commits_synced: AtomicU64,
}

static REGISTRY: Registry = Registry {
    interactions: Family::new(),
    interaction_seconds: Histogram::new(LATENCY_BUCKETS),
    opened: Family::new(),
    escalated: Family::new(),
    closed: Family::new(),
    pages_sent: AtomicU64::new(0),
    acks: AtomicU64::new(0),
    ack_seconds: Histogram::new(ACK_BUCKETS),
    delivered: Family::new(),
    retries: Family::new(),
    dropped: Family::new(),
    reloads: AtomicU64::new(0),
    reload_errors: AtomicU64::new(0),
    store_errors: AtomicU64::new(0),
    gateway_connected: AtomicBool::new(false),
    alerts: Family::new(),
    alerts_rejected: Family::new(),
    alerts_without_playbook: Family::new(),
    alert_thread_seconds: Histogram::new(LATENCY_BUCKETS),
    unreadable: Family::new(),
    pages_rerouted: AtomicU64::new(0),
    pages_unreached: AtomicU64::new(0),
    interactions_deferred: AtomicU64::new(0),
    store_flushes: AtomicU64::new(0),
    store_commits_synced: AtomicU64::new(0),
};

/// An alert from `source` was accepted: `status` is `opened`, `grouped`, `storm` or `resolved`.
pub fn alert(source: &str, status: &str) {
    REGISTRY.alerts.inc(&[source, status]);
}

/// An alert request was refused: `reason` is `unauthorized`, `unknown_source`, `too_large`,
/// `malformed`, `timeout`, `method`, `busy`, `unavailable` or `store`.
pub fn alert_rejected(reason: &str) {
    REGISTRY.alerts_rejected.inc(&[reason]);
}

/// An alert opened an incident that no playbook covers; `technique` is the first it named, or
/// `none`.
pub fn alert_without_playbook(technique: &str) {
    REGISTRY.alerts_without_playbook.inc(&[technique]);
}

/// The thread of an incident an alert opened exists, `elapsed` after the alert arrived.
pub fn alert_thread_latency(elapsed: Duration) {
    REGISTRY
        .alert_thread_seconds
        .observe(&[], elapsed.as_secs_f64());
}

/// A command was handled: `outcome` is `ok`, `refused` or `duplicate`.
pub fn command(command: &str, outcome: &str) {
    REGISTRY.interactions.inc(&[command, outcome]);
}

/// An interaction of `kind` (`command`, `autocomplete`, `component`, `modal`) was answered,
/// `elapsed` after it arrived.
pub fn interaction_latency(kind: &str, elapsed: Duration) {
    REGISTRY
        .interaction_seconds
        .observe(&[kind], elapsed.as_secs_f64());
}

/// An interaction's answer was not ready in time: it was deferred, then edited in.
pub fn interaction_deferred() {
    REGISTRY
        .interactions_deferred
        .fetch_add(1, Ordering::Relaxed);
}

/// Counts what a command's committed `events` did to an incident (`before`: its state before
/// them; None when they open it).
pub fn incident_events(before: Option<&Incident>, events: &[Event]) {
    let mut technique = before.map(|i| i.technique.to_string());
    for e in events {
        match &e.kind {
            EventKind::Opened { technique: t, .. } => {
                let t = t.to_string();
                REGISTRY.opened.inc(&[&t]);
                technique = Some(t);
            }
            EventKind::Escalated { reason } => {
                let by = match reason {
                    EscalationReason::Decision { .. } => "decision",
                    EscalationReason::Manual { .. } => "manual",
                    EscalationReason::Alert { .. } => "alert",
                };
                REGISTRY
                    .escalated
                    .inc(&[technique.as_deref().unwrap_or("unknown"), by]);
            }
            EventKind::Closed { resolution, .. } => {
                REGISTRY
                    .closed
                    .inc(&[technique.as_deref().unwrap_or("unknown"), resolution.key()]);
            }
            EventKind::Acknowledged { .. } => {
                REGISTRY.acks.fetch_add(1, Ordering::Relaxed);
                if let Some(page) = before.and_then(|i| i.page.as_ref()) {
                    let secs = (e.at - page.first_paged_at).num_milliseconds().max(0) as f64;
                    REGISTRY.ack_seconds.observe(&[], secs / 1000.0);
                }
            }
            _ => {}
        }
    }
}

/// The outbox delivered an effect (`Effect::name`); a delivered `page` is a page sent.
pub fn effect_delivered(effect: &str) {
    REGISTRY.delivered.inc(&[effect]);
    if effect == "page" {
        REGISTRY.pages_sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// An effect's delivery failed and will be retried.
pub fn effect_retry(effect: &str) {
    REGISTRY.retries.inc(&[effect]);
}

/// An effect became a dead letter (refused for good, or failing past `outbox.dead_letter_after`;
/// noted on the incident, kept for `socbot outbox retry`).
pub fn effect_dropped(effect: &str) {
    REGISTRY.dropped.inc(&[effect]);
}

/// A stored record of `tree` could not be decoded: logged, set aside, skipped.
pub fn store_unreadable(tree: &str) {
    REGISTRY.unreadable.inc(&[tree]);
}

/// One flush + `fdatasync` of the store made `commits` transactions durable (group commit).
pub fn store_flushed(commits: u64) {
    REGISTRY.store_flushes.fetch_add(1, Ordering::Relaxed);
    REGISTRY
        .store_commits_synced
        .fetch_add(commits, Ordering::Relaxed);
}

/// (flushes, transactions they made durable) so far in this process: their ratio is the
/// group commit's size.
pub fn store_group_commit() -> (u64, u64) {
    (
        REGISTRY.store_flushes.load(Ordering::Relaxed),
        REGISTRY.store_commits_synced.load(Ordering::Relaxed),
    )
}

/// A page was posted in the SOC channel because its incident's thread refused it.
pub fn page_rerouted() {
    REGISTRY.pages_rerouted.fetch_add(1, Ordering::Relaxed);
}

/// A page reached nobody in Discord: neither the thread, the SOC channel nor the DM took it.
pub fn page_unreached() {
    REGISTRY.pages_unreached.fetch_add(1, Ordering::Relaxed);
}

/// A playbook reload ran; `ok` false when it was refused or failed (the last good set stays).
pub fn playbook_reload(ok: bool) {
    REGISTRY.reloads.fetch_add(1, Ordering::Relaxed);
    if !ok {
        REGISTRY.reload_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// A store operation failed while handling a command.
pub fn store_error() {
    REGISTRY.store_errors.fetch_add(1, Ordering::Relaxed);
}

/// Whether the Discord gateway session is up (set by the gateway handler). Process-wide, like
/// every metric here: one daemon runs per process.
pub fn set_gateway_connected(up: bool) {
    REGISTRY.gateway_connected.store(up, Ordering::Relaxed);
}

pub fn gateway_connected() -> bool {
    REGISTRY.gateway_connected.load(Ordering::Relaxed)
}

/// Values read when scraped, from the running daemon's store and library.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub playbooks_loaded: usize,
    /// None when the store could not be read.
    pub outbox_depth: Option<usize>,
    pub paging_deadlines: Option<usize>,
    /// Effects in the dead-letter list.
    pub dead_letters: Option<usize>,
    pub ready: bool,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(names: &[&str], values: &[String], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some((n, v)) = extra {
        parts.push(format!("{n}=\"{}\"", escape(v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn family(out: &mut String, name: &str, help: &str, names: &[&str], f: &Family) {
    header(out, name, "counter", help);
    for (values, n) in f.snapshot() {
        let _ = writeln!(out, "{name}{} {n}", labels(names, &values, None));
    }
}

fn float(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

fn histogram(out: &mut String, name: &str, help: &str, names: &[&str], h: &Histogram) {
    header(out, name, "histogram", help);
    for (values, data) in h.snapshot() {
        let mut cumulative = 0;
        for (i, bound) in h.buckets.iter().copied().chain([f64::INFINITY]).enumerate() {
            cumulative += data.counts[i];
            let le = float(bound);
            let _ = writeln!(
                out,
                "{name}_bucket{} {cumulative}",
                labels(names, &values, Some(("le", &le)))
            );
        }
        let l = labels(names, &values, None);
        let _ = writeln!(out, "{name}_sum{l} {}", float(data.sum));
        let _ = writeln!(out, "{name}_count{l} {}", data.count);
    }
}

/// Every metric in the Prometheus text format.
pub fn render(g: &Gauges) -> String {
    let r = &REGISTRY;
    let mut out = String::with_capacity(4096);
    header(
        &mut out,
        "socbot_build_info",
        "gauge",
        "The running socbot's version.",
    );
    let _ = writeln!(
        out,
        "socbot_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    scalar(
        &mut out,
        "socbot_ready",
        "gauge",
        "1 when the gateway is connected, the store is open and playbooks are loaded.",
        u8::from(g.ready),
    );
    scalar(
        &mut out,
        "socbot_gateway_connected",
        "gauge",
        "1 while the Discord gateway session is up.",
        u8::from(gateway_connected()),
    );
    family(
        &mut out,
        "socbot_interactions_total",
        "Commands handled, by command and outcome (ok, refused, duplicate).",
        &["command", "outcome"],
        &r.interactions,
    );
    histogram(
        &mut out,
        "socbot_interaction_duration_seconds",
        "Time from an interaction's arrival to its answer being sent, by kind.",
        &["kind"],
        &r.interaction_seconds,
    );
    family(
        &mut out,
        "socbot_incidents_opened_total",
        "Incidents opened, by technique.",
        &["technique"],
        &r.opened,
    );
    family(
        &mut out,
        "socbot_incidents_escalated_total",
        "Incidents escalated to Tier 2, by technique and by what (decision or manual).",
        &["technique", "by"],
        &r.escalated,
    );
    family(
        &mut out,
        "socbot_incidents_closed_total",
        "Incidents closed, by technique and resolution.",
        &["technique", "resolution"],
        &r.closed,
    );
    scalar(
        &mut out,
        "socbot_pages_sent_total",
        "counter",
        "Pages delivered to Tier 2 (first pages, re-pages and later levels).",
        r.pages_sent.load(Ordering::Relaxed),
    );
    scalar(
        &mut out,
        "socbot_pages_rerouted_total",
        "counter",
        "Pages posted in the SOC channel because the incident's thread refused them.",
        r.pages_rerouted.load(Ordering::Relaxed),
    );
    scalar(
        &mut out,
        "socbot_interactions_deferred_total",
        "counter",
        "Interactions deferred because their answer was not ready in time (`discord.defer_after_ms`).",
        r.interactions_deferred.load(Ordering::Relaxed),
    );
    scalar(
        &mut out,
        "socbot_store_flushes_total",
        "counter",
        "Store flushes (sled flush + fdatasync); each covers every transaction written before it.",
        r.store_flushes.load(Ordering::Relaxed),
    );
    scalar(
        &mut out,
        "socbot_store_commits_synced_total",
        "counter",
        "Transactions made durable by those flushes (their ratio is the group commit's size).",
        r.store_commits_synced.load(Ordering::Relaxed),
    );
    scalar(
        &mut out,
        "socbot_pages_unreached_total",
        "counter",
        "Pages that reached nobody in Discord (thread, SOC channel and DM all refused).",
        r.pages_unreached.load(Ordering::Relaxed),
    );
    scalar(
        &mut out,
        "socbot_acknowledgements_total",
        "counter",
        "Pages acknowledged.",
        r.acks.load(Ordering::Relaxed),
    );
    histogram(
        &mut out,
        "socbot_time_to_acknowledge_seconds",
        "Time from an incident's first page to its acknowledgement.",
        &[],
        &r.ack_seconds,
    );
    family(
        &mut out,
        "socbot_alerts_total",
        "Alerts accepted, by source and what they did (opened, grouped, storm, resolved).",
        &["source", "status"],
        &r.alerts,
    );
    family(
        &mut out,
        "socbot_alert_requests_rejected_total",
        "Alert requests refused, by reason.",
        &["reason"],
        &r.alerts_rejected,
    );
    family(
        &mut out,
        "socbot_alerts_without_playbook_total",
        "Incidents opened by alerts that no playbook covers, by the technique they named (none: no technique).",
        &["technique"],
        &r.alerts_without_playbook,
    );
    histogram(
        &mut out,
        "socbot_alert_thread_seconds",
        "Time from an alert's arrival to its incident's thread existing.",
        &[],
        &r.alert_thread_seconds,
    );
    if let Some(depth) = g.outbox_depth {
        scalar(
            &mut out,
            "socbot_outbox_depth",
            "gauge",
            "Effects waiting in the outbox for delivery.",
            depth,
        );
    }
    family(
        &mut out,
        "socbot_outbox_delivered_total",
        "Effects delivered, by effect.",
        &["effect"],
        &r.delivered,
    );
    family(
        &mut out,
        "socbot_outbox_retries_total",
        "Failed deliveries that will be retried, by effect.",
        &["effect"],
        &r.retries,
    );
    family(
        &mut out,
        "socbot_outbox_dropped_total",
        "Effects moved to the dead letters (refused for good, or failing too long), by effect.",
        &["effect"],
        &r.dropped,
    );
    if let Some(n) = g.dead_letters {
        scalar(
            &mut out,
            "socbot_outbox_dead_letters",
            "gauge",
            "Effects in the dead-letter list (`socbot outbox list`).",
            n,
        );
    }
    family(
        &mut out,
        "socbot_store_unreadable_total",
        "Stored records that could not be decoded, set aside and skipped, by tree.",
        &["tree"],
        &r.unreadable,
    );
    if let Some(n) = g.paging_deadlines {
        scalar(
            &mut out,
            "socbot_paging_deadlines",
            "gauge",
            "Acknowledgement deadlines armed in the store.",
            n,
        );
    }
    scalar(
        &mut out,
        "socbot_playbooks_loaded",
        "gauge",
        "Playbooks in the library now.",
        g.playbooks_loaded,
    );
    scalar(
        &mut out,
        "socbot_playbook_reloads_total",
        "counter",
        "Playbook reloads attempted (file change or SIGHUP).",
        r.reloads.load(Ordering::Relaxed),
    );
    scalar(
        &mut out,
        "socbot_playbook_reload_errors_total",
        "counter",
        "Reloads refused or failed; the last good playbooks stayed in use.",
        r.reload_errors.load(Ordering::Relaxed),
    );
    scalar(
        &mut out,
        "socbot_store_errors_total",
        "counter",
        "Store errors while handling commands.",
        r.store_errors.load(Ordering::Relaxed),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_help_type_labels_and_cumulative_buckets() {
        command("playbook", "ok");
        command("playbook", "ok");
        command("incident \"x\"", "refused");
        interaction_latency("command", Duration::from_millis(20));
        interaction_latency("command", Duration::from_secs(30));
        let text = render(&Gauges {
            playbooks_loaded: 2,
            outbox_depth: Some(3),
            paging_deadlines: None,
            dead_letters: Some(0),
            ready: true,
        });
        assert!(text.contains("# TYPE socbot_interactions_total counter\n"));
        assert!(
            text.contains("socbot_interactions_total{command=\"playbook\",outcome=\"ok\"} 2\n")
        );
        assert!(text.contains("command=\"incident \\\"x\\\"\""), "{text}");
        assert!(text.contains(
            "socbot_interaction_duration_seconds_bucket{kind=\"command\",le=\"0.025\"} 1\n"
        ));
        assert!(text.contains(
            "socbot_interaction_duration_seconds_bucket{kind=\"command\",le=\"10\"} 1\n"
        ));
        assert!(text.contains(
            "socbot_interaction_duration_seconds_bucket{kind=\"command\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("socbot_interaction_duration_seconds_count{kind=\"command\"} 2\n"));
        assert!(text.contains("socbot_outbox_depth 3\n"));
        assert!(!text.contains("socbot_paging_deadlines "));
        assert!(text.contains("socbot_playbooks_loaded 2\n"));
        assert!(text.contains("socbot_ready 1\n"));
        // Every sample line is `name{labels} value` with a numeric value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(
                value == "+Inf" || value.parse::<f64>().is_ok(),
                "bad sample line {line:?}"
            );
        }
    }
}
