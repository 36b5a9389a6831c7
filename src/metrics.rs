//! Prometheus metrics through `prometheus-client`: counters, gauges and histograms in one
//! process-wide registry, encoded in the Prometheus text format (0.0.4) by `GET /metrics`
//! (see the HTTP listener). Process-wide, like every Prometheus client's default registry: the
//! code that counts calls one function here and needs no handle.
//!
//! Label values are bounded: command names, outcomes, effect kinds, resolutions and technique
//! ids (one per playbook).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::incident::{EscalationReason, Event, EventKind, Incident};

/// The `Content-Type` of what [`render`] returns.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Interaction latency buckets, seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Time-to-acknowledge buckets, seconds (30 s to 2 h).
const ACK_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// Label names and values of one series.
type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn labels<const N: usize>(names: [&'static str; N], values: [&str; N]) -> Labels {
    names.into_iter().zip(values.map(str::to_owned)).collect()
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

/// A metric whose HELP and TYPE lines are exposed before its first series (a family with no
/// labels seen yet), as they were before `prometheus-client`: dashboards and scrapes find every
/// metric from the start.
#[derive(Debug)]
struct Declared<M>(M);

impl<M: EncodeMetric> EncodeMetric for Declared<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

/// Registers `metric` as `name` (a counter's `_total` is added by the encoder). `help` is said
/// without its final full stop, which the encoder adds.
fn register<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: &M,
) {
    let name = name.strip_suffix("_total").unwrap_or(name);
    let help = help.strip_suffix('.').unwrap_or(help);
    registry.register(name, help, Declared(metric.clone()));
}

/// A new metric, registered in `r`.
fn new<M: prometheus_client::registry::Metric + Clone + Default>(
    r: &mut Registry,
    name: &str,
    help: &str,
) -> M {
    let metric = M::default();
    register(r, name, help, &metric);
    metric
}

/// A histogram family over `buckets`, registered in `r`.
fn histograms(r: &mut Registry, name: &str, help: &str) -> Histograms {
    let family = Histograms::new_with_constructor(latency_histogram);
    register(r, name, help, &family);
    family
}

/// A histogram over `buckets`, registered in `r`.
fn histogram(r: &mut Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::new(buckets.iter().copied());
    register(r, name, help, &h);
    h
}

/// Commands and interactions.
struct Interactions {
    handled: Counters,
    seconds: Histograms,
    deferred: Counter,
    gateway_connected: Gauge,
}

impl Interactions {
    fn new(r: &mut Registry) -> Self {
        Self {
            gateway_connected: new(
                r,
                "socbot_gateway_connected",
                "1 while the Discord gateway session is up.",
            ),
            handled: new(
                r,
                "socbot_interactions_total",
                "Commands handled, by command and outcome (ok, refused, duplicate).",
            ),
            seconds: histograms(
                r,
                "socbot_interaction_duration_seconds",
                "Time from an interaction's arrival to its answer being sent, by kind.",
            ),
            deferred: new(
                r,
                "socbot_interactions_deferred_total",
                "Interactions deferred because their answer was not ready in time (`discord.defer_after_ms`).",
            ),
        }
    }
}

/// Incidents and pages.
struct Incidents {
    opened: Counters,
    escalated: Counters,
    closed: Counters,
    pages_sent: Counter,
    pages_rerouted: Counter,
    pages_unreached: Counter,
    acks: Counter,
    ack_seconds: Histogram,
}

impl Incidents {
    fn new(r: &mut Registry) -> Self {
        Self {
            opened: new(
                r,
                "socbot_incidents_opened_total",
                "Incidents opened, by technique.",
            ),
            escalated: new(
                r,
                "socbot_incidents_escalated_total",
                "Incidents escalated to Tier 2, by technique and by what (decision or manual).",
            ),
            closed: new(
                r,
                "socbot_incidents_closed_total",
                "Incidents closed, by technique and resolution.",
            ),
            pages_sent: new(
                r,
                "socbot_pages_sent_total",
                "Pages delivered to Tier 2 (first pages, re-pages and later levels).",
            ),
            pages_rerouted: new(
                r,
                "socbot_pages_rerouted_total",
                "Pages posted in the SOC channel because the incident's thread refused them.",
            ),
            pages_unreached: new(
                r,
                "socbot_pages_unreached_total",
                "Pages that reached nobody in Discord (thread, SOC channel and DM all refused).",
            ),
            acks: new(r, "socbot_acknowledgements_total", "Pages acknowledged."),
            ack_seconds: histogram(
                r,
                "socbot_time_to_acknowledge_seconds",
                "Time from an incident's first page to its acknowledgement.",
                ACK_BUCKETS,
            ),
        }
    }
}

/// Alerts in (`POST /alerts/<source>`).
struct Alerts {
    accepted: Counters,
    rejected: Counters,
    without_playbook: Counters,
    thread_seconds: Histogram,
}

impl Alerts {
    fn new(r: &mut Registry) -> Self {
        Self {
            accepted: new(
                r,
                "socbot_alerts_total",
                "Alerts accepted, by source and what they did (opened, grouped, storm, resolved).",
            ),
            rejected: new(
                r,
                "socbot_alert_requests_rejected_total",
                "Alert requests refused, by reason.",
            ),
            without_playbook: new(
                r,
                "socbot_alerts_without_playbook_total",
                "Incidents opened by alerts that no playbook covers, by the technique they named (none: no technique).",
            ),
            thread_seconds: histogram(
                r,
                "socbot_alert_thread_seconds",
                "Time from an alert's arrival to its incident's thread existing.",
                LATENCY_BUCKETS,
            ),
        }
    }
}

/// The outbox, the store and the playbook library.
struct Upkeep {
    delivered: Counters,
    retries: Counters,
    dropped: Counters,
    unreadable: Counters,
    reloads: Counter,
    reload_errors: Counter,
    store_errors: Counter,
    store_flushes: Counter,
    store_commits_synced: Counter,
}

impl Upkeep {
    fn new(r: &mut Registry) -> Self {
        Self {
            delivered: new(
                r,
                "socbot_outbox_delivered_total",
                "Effects delivered, by effect.",
            ),
            retries: new(
                r,
                "socbot_outbox_retries_total",
                "Failed deliveries that will be retried, by effect.",
            ),
            dropped: new(
                r,
                "socbot_outbox_dropped_total",
                "Effects moved to the dead letters (refused for good, or failing too long), by effect.",
            ),
            unreadable: new(
                r,
                "socbot_store_unreadable_total",
                "Stored records that could not be decoded, set aside and skipped, by tree.",
            ),
            reloads: new(
                r,
                "socbot_playbook_reloads_total",
                "Playbook reloads attempted (file change or SIGHUP).",
            ),
            reload_errors: new(
                r,
                "socbot_playbook_reload_errors_total",
                "Reloads refused or failed; the last good playbooks stayed in use.",
            ),
            store_errors: new(
                r,
                "socbot_store_errors_total",
                "Store errors while handling commands.",
            ),
            store_flushes: new(
                r,
                "socbot_store_flushes_total",
                "Store flushes (sled flush + fdatasync); each covers every transaction written before it.",
            ),
            store_commits_synced: new(
                r,
                "socbot_store_commits_synced_total",
                "Transactions made durable by those flushes (their ratio is the group commit's size).",
            ),
        }
    }
}

/// Every metric counted as things happen, and the registry that encodes them.
struct Metrics {
    registry: Registry,
    interactions: Interactions,
    incidents: Incidents,
    alerts: Alerts,
    upkeep: Upkeep,
}

impl Metrics {
    fn new() -> Self {
        let mut r = Registry::default();
        Self {
            interactions: Interactions::new(&mut r),
            incidents: Incidents::new(&mut r),
            alerts: Alerts::new(&mut r),
            upkeep: Upkeep::new(&mut r),
            registry: r,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// An alert from `source` was accepted: `status` is `opened`, `grouped`, `storm` or `resolved`.
pub fn alert(source: &str, status: &str) {
    let l = labels(["source", "status"], [source, status]);
    METRICS.alerts.accepted.get_or_create(&l).inc();
}

/// An alert request was refused: `reason` is `unauthorized`, `unknown_source`, `too_large`,
/// `malformed`, `timeout`, `method`, `busy`, `unavailable` or `store`.
pub fn alert_rejected(reason: &str) {
    let l = labels(["reason"], [reason]);
    METRICS.alerts.rejected.get_or_create(&l).inc();
}

/// An alert opened an incident that no playbook covers; `technique` is the first it named, or
/// `none`.
pub fn alert_without_playbook(technique: &str) {
    let l = labels(["technique"], [technique]);
    METRICS.alerts.without_playbook.get_or_create(&l).inc();
}

/// The thread of an incident an alert opened exists, `elapsed` after the alert arrived.
pub fn alert_thread_latency(elapsed: Duration) {
    METRICS.alerts.thread_seconds.observe(elapsed.as_secs_f64());
}

/// A command was handled: `outcome` is `ok`, `refused` or `duplicate`.
pub fn command(command: &str, outcome: &str) {
    let l = labels(["command", "outcome"], [command, outcome]);
    METRICS.interactions.handled.get_or_create(&l).inc();
}

/// An interaction of `kind` (`command`, `autocomplete`, `component`, `modal`) was answered,
/// `elapsed` after it arrived.
pub fn interaction_latency(kind: &str, elapsed: Duration) {
    let l = labels(["kind"], [kind]);
    METRICS
        .interactions
        .seconds
        .get_or_create(&l)
        .observe(elapsed.as_secs_f64());
}

/// An interaction's answer was not ready in time: it was deferred, then edited in.
pub fn interaction_deferred() {
    METRICS.interactions.deferred.inc();
}

/// Counts what a command's committed `events` did to an incident (`before`: its state before
/// them; None when they open it).
pub fn incident_events(before: Option<&Incident>, events: &[Event]) {
    let m = &METRICS.incidents;
    let mut technique = before.map(|i| i.technique.to_string());
    for e in events {
        let known = technique.as_deref().unwrap_or("unknown");
        match &e.kind {
            EventKind::Opened { technique: t, .. } => {
                let t = t.to_string();
                m.opened.get_or_create(&labels(["technique"], [&t])).inc();
                technique = Some(t);
            }
            EventKind::Escalated { reason } => {
                let by = match reason {
                    EscalationReason::Decision { .. } => "decision",
                    EscalationReason::Manual { .. } => "manual",
                    EscalationReason::Alert { .. } => "alert",
                };
                let l = labels(["technique", "by"], [known, by]);
                m.escalated.get_or_create(&l).inc();
            }
            EventKind::Closed { resolution, .. } => {
                let l = labels(["technique", "resolution"], [known, resolution.key()]);
                m.closed.get_or_create(&l).inc();
            }
            EventKind::Acknowledged { .. } => {
                m.acks.inc();
                if let Some(page) = before.and_then(|i| i.page.as_ref()) {
                    let ms = (e.at - page.first_paged_at).num_milliseconds().max(0) as f64;
                    m.ack_seconds.observe(ms / 1000.0);
                }
            }
            _ => {}
        }
    }
}

/// The outbox delivered an effect (`Effect::name`); a delivered `page` is a page sent.
pub fn effect_delivered(effect: &str) {
    METRICS
        .upkeep
        .delivered
        .get_or_create(&labels(["effect"], [effect]))
        .inc();
    if effect == "page" {
        METRICS.incidents.pages_sent.inc();
    }
}

/// An effect's delivery failed and will be retried.
pub fn effect_retry(effect: &str) {
    METRICS
        .upkeep
        .retries
        .get_or_create(&labels(["effect"], [effect]))
        .inc();
}

/// An effect became a dead letter (refused for good, or failing past `outbox.dead_letter_after`;
/// noted on the incident, kept for `socbot outbox retry`).
pub fn effect_dropped(effect: &str) {
    METRICS
        .upkeep
        .dropped
        .get_or_create(&labels(["effect"], [effect]))
        .inc();
}

/// A stored record of `tree` could not be decoded: logged, set aside, skipped.
pub fn store_unreadable(tree: &str) {
    METRICS
        .upkeep
        .unreadable
        .get_or_create(&labels(["tree"], [tree]))
        .inc();
}

/// One flush + `fdatasync` of the store made `commits` transactions durable (group commit).
pub fn store_flushed(commits: u64) {
    METRICS.upkeep.store_flushes.inc();
    METRICS.upkeep.store_commits_synced.inc_by(commits);
}

/// (flushes, transactions they made durable) so far in this process: their ratio is the
/// group commit's size.
pub fn store_group_commit() -> (u64, u64) {
    (
        METRICS.upkeep.store_flushes.get(),
        METRICS.upkeep.store_commits_synced.get(),
    )
}

/// A page was posted in the SOC channel because its incident's thread refused it.
pub fn page_rerouted() {
    METRICS.incidents.pages_rerouted.inc();
}

/// A page reached nobody in Discord: neither the thread, the SOC channel nor the DM took it.
pub fn page_unreached() {
    METRICS.incidents.pages_unreached.inc();
}

/// A playbook reload ran; `ok` false when it was refused or failed (the last good set stays).
pub fn playbook_reload(ok: bool) {
    METRICS.upkeep.reloads.inc();
    if !ok {
        METRICS.upkeep.reload_errors.inc();
    }
}

/// A store operation failed while handling a command.
pub fn store_error() {
    METRICS.upkeep.store_errors.inc();
}

/// Whether the Discord gateway session is up (set by the gateway handler). Process-wide, like
/// every metric here: one daemon runs per process.
pub fn set_gateway_connected(up: bool) {
    METRICS.interactions.gateway_connected.set(i64::from(up));
}

pub fn gateway_connected() -> bool {
    METRICS.interactions.gateway_connected.get() == 1
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

/// A gauge holding `value`, registered in `r` as `name`.
fn gauge(r: &mut Registry, name: &str, help: &str, value: usize) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    register(r, name, help, &g);
}

/// The values read at this scrape, as a registry of their own.
fn scraped(g: &Gauges) -> Registry {
    let mut r = Registry::default();
    let build: Family<Labels, Gauge> = Family::default();
    build
        .get_or_create(&labels(["version"], [env!("CARGO_PKG_VERSION")]))
        .set(1);
    register(
        &mut r,
        "socbot_build_info",
        "The running socbot's version.",
        &build,
    );
    gauge(
        &mut r,
        "socbot_ready",
        "1 when the gateway is connected, the store is open and playbooks are loaded.",
        usize::from(g.ready),
    );
    gauge(
        &mut r,
        "socbot_playbooks_loaded",
        "Playbooks in the library now.",
        g.playbooks_loaded,
    );
    let optional = [
        (
            "socbot_outbox_depth",
            "Effects waiting in the outbox for delivery.",
            g.outbox_depth,
        ),
        (
            "socbot_outbox_dead_letters",
            "Effects in the dead-letter list (`socbot outbox list`).",
            g.dead_letters,
        ),
        (
            "socbot_paging_deadlines",
            "Acknowledgement deadlines armed in the store.",
            g.paging_deadlines,
        ),
    ];
    for (name, help, value) in optional {
        if let Some(value) = value {
            gauge(&mut r, name, help, value);
        }
    }
    r
}

/// Every metric in the Prometheus text format ([`CONTENT_TYPE`]).
pub fn render(g: &Gauges) -> String {
    let mut out = String::with_capacity(8192);
    // Writing to a String cannot fail.
    let _ = prometheus_text::encode(&mut out, &scraped(g));
    let _ = prometheus_text::encode(&mut out, &METRICS.registry);
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
        // Declared before their first series, help said once with one full stop.
        assert!(text.contains(
            "# HELP socbot_store_unreadable_total Stored records that could not be decoded, set aside and skipped, by tree.\n# TYPE socbot_store_unreadable_total counter\n"
        ), "{text}");
        assert!(!text.contains("..\n"), "{text}");
        assert!(text.contains("socbot_build_info{version=\""), "{text}");
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
