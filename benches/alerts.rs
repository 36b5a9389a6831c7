//! Durable alerts: how many alerts a second socbot acknowledges (`202`, after the alert and all
//! it causes are on disk) with 16 senders at once, against what the disk alone does serially
//! (`cargo bench --bench alerts`).
//!
//! - The real daemon against the loopback Discord (`tests/support`), alerts POSTed over HTTP to
//!   `/alerts/bench` (generic format), each sender on its own connections.
//! - Repeated alerts (the storm case: one key, every alert joins the same incident): one event
//!   each; new alerts (a key each): an incident each, with its thread and questions.
//! - On the same disk, in the same run: a serial loop of `write` + `fdatasync` of 1 KiB, the rate
//!   one writer could acknowledge at if each alert waited for its own sync. Only group commit
//!   (one sync shared by the alerts that arrive while another syncs) goes past it.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::alerts::{self, sources};
use support::bot::BotDirs;
use support::discord::FakeDiscord;
use support::stats::{self, Summary};

const SENDERS: usize = 16;
const REPEATED_PER_SENDER: usize = 60;
const NEW_PER_SENDER: usize = 15;
const SERIAL_SYNCS: usize = 300;

/// `n` serial write + fdatasync rounds of 1 KiB in `dir`; returns syncs per second.
fn serial_sync_rate(dir: &std::path::Path, n: usize) -> f64 {
    let path = dir.join("fdatasync-baseline.bin");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("baseline file");
    let bytes = vec![b'x'; 1024];
    let started = Instant::now();
    for _ in 0..n {
        file.write_all(&bytes).expect("write");
        file.sync_data().expect("fdatasync");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    rate
}

/// Every sender POSTs its alerts one after the other; returns each alert's time to its `202`
/// and the alerts acknowledged per second over the whole run.
async fn run(
    addr: SocketAddr,
    per_sender: usize,
    payload: Arc<dyn Fn(usize, usize) -> serde_json::Value + Send + Sync>,
    want: &'static str,
) -> (Vec<Duration>, f64) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_sender);
            for i in 0..per_sender {
                let body = payload(s, i);
                let sent = Instant::now();
                let r = alerts::send(addr, "bench", &body).await;
                samples.push(sent.elapsed());
                assert_eq!(r.status, 202, "{}", r.body);
                let (_, status) = r.result(0);
                assert!(
                    status == want || (want == "opened" && status == "grouped"),
                    "{status}"
                );
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("sender"));
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (all, rate)
}

fn line(what: &str, samples: Vec<Duration>, rate: f64) -> Summary {
    let s = stats::report(what, 40, 4, samples);
    println!("{:<40} {rate:>8.0} alerts/s acknowledged", "");
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let mut env = sources(&[("bench", "generic")]);
    // The new-alert run measures incidents, not the storm policy.
    env.push((
        "SOCBOT__ALERTS__MAX_NEW_INCIDENTS_PER_MINUTE".into(),
        "1000000".into(),
    ));
    let (bot, addr) = alerts::start(&fake, &dirs, &env).await;
    println!(
        "socbot alerts benchmark: real daemon ↔ loopback Discord, {SENDERS} concurrent senders, {} cores, store in {}\n",
        std::thread::available_parallelism().map_or(1, usize::from),
        dirs.root.display()
    );

    let before = serial_sync_rate(&dirs.root, SERIAL_SYNCS);

    // Warm up: the first incident and its key.
    let first = alerts::send(
        addr,
        "bench",
        &json!({"technique": "T1583.006", "title": "storm", "dedup_key": "same"}),
    )
    .await;
    assert_eq!(first.status, 202, "{}", first.body);

    let repeated = Arc::new(
        |_: usize, _: usize| json!({"technique": "T1583.006", "title": "storm", "severity": "high", "dedup_key": "same", "host": "web-01"}),
    );
    let (samples, repeated_rate) = run(addr, REPEATED_PER_SENDER, repeated, "grouped").await;
    let rep = line("repeated alerts (one key) → 202", samples, repeated_rate);

    let new = Arc::new(
        |s: usize, i: usize| json!({"technique": "T1583.006", "title": format!("new {s}-{i}"), "dedup_key": format!("k-{s}-{i}")}),
    );
    let (samples, new_rate) = run(addr, NEW_PER_SENDER, new, "opened").await;
    let fresh = line("new alerts (an incident each) → 202", samples, new_rate);

    let after = serial_sync_rate(&dirs.root, SERIAL_SYNCS);
    let serial = (before + after) / 2.0;
    println!(
        "\ndisk: serial write + fdatasync of 1 KiB    {serial:>8.0} /s  ({before:.0} before, {after:.0} after the alerts)"
    );
    println!(
        "ratio to the serial rate: repeated {:.2}×, new {:.2}×  (target for repeated: ≥ 1×, which only group commit reaches)",
        repeated_rate / serial,
        new_rate / serial
    );
    println!(
        "p50/p99: repeated {:?}/{:?}, new {:?}/{:?}",
        rep.p50, rep.p99, fresh.p50, fresh.p99
    );
    bot.stop().await.expect("the bot stops");
}
