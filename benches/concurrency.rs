//! Many analysts at once (`cargo bench --bench concurrency`): durable button answers per second
//! with 32 in flight to 32 different incidents, against one at a time, through the real daemon
//! and the loopback Discord. Each answer is acknowledged (type 7) only once its own event is on
//! disk; commits that arrive while another syncs share the next flush + `fdatasync` (group
//! commit), so the disk's sync rate stops being the answer rate. Target: ≥ 3× one at a time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::bot::{self, L1_ROLE};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_str};
use support::incidents::{card_incident, custom_ids};

const INCIDENTS: usize = 32;
const SERIAL: usize = 320;
const ROUNDS: usize = 50;

/// Opens an incident; returns its number and its q3 question message.
async fn open(fake: &FakeDiscord, i: usize) -> (u64, Value) {
    let card = fake
        .interact(
            Interaction::subcommand(
                "incident",
                "open",
                json!([
                    opt_str("technique", "T1583.006"),
                    opt_str("title", &format!("analyst {i}"))
                ]),
            )
            .roles(&[L1_ROLE]),
        )
        .await;
    let n = card_incident(&card);
    let want = format!("ans:{n}:3:c");
    let message = fake
        .wait_for_message(|m| custom_ids(m).contains(&want))
        .await;
    (n, message)
}

fn press(n: u64, message: &Value, i: usize) -> Interaction {
    // q3 cycles Concerning → Clear → Unknown: with q1 and q2 unanswered the rule stays pending,
    // so each press is one durable answer and one type 7 update.
    let code = ["c", "k", "u"][i % 3];
    let thread: u64 = message["channel_id"].as_str().unwrap().parse().unwrap();
    Interaction::button(&format!("ans:{n}:3:{code}"), message)
        .roles(&[L1_ROLE])
        .username("analyst")
        .channel(thread)
}

type RestCost = (u64, Duration, Duration);

/// Where the CPU went in one phase: this process's CPU time per answer (socbot, the loopback
/// Discord and this driver share it), how busy that kept the cores, and the loopback Discord's
/// own REST handling (its spec and limit checks apart): a cost of the test server, not socbot's.
fn cpu_report(
    phase: &str,
    answers: usize,
    cpu: (Option<Duration>, Option<Duration>),
    fake: (RestCost, RestCost),
    wall: Duration,
    cores: usize,
) {
    let (Some(from), Some(to)) = cpu else {
        println!("  {phase}: no CPU figures here (no /proc/self/stat)");
        return;
    };
    let used = to.saturating_sub(from);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / answers as f64;
    let (requests, handling, checks) = (
        fake.1.0 - fake.0.0,
        fake.1.1.saturating_sub(fake.0.1),
        fake.1.2.saturating_sub(fake.0.2),
    );
    println!(
        "  {phase:<16} CPU {:>5.0} µs per answer ({:.0}% of {cores} cores); of it the loopback Discord's REST side {:>4.0} µs ({} requests; spec and limit checks {:.0} µs)",
        per(used),
        100.0 * used.as_secs_f64() / (wall.as_secs_f64() * cores as f64),
        per(handling),
        requests,
        per(checks),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (fake, dirs, bot) = bot::start_fresh(&[]).await;
    println!(
        "socbot concurrency benchmark: real daemon ↔ loopback Discord, {} cores, store in {}\n",
        std::thread::available_parallelism().map_or(1, usize::from),
        dirs.root.display()
    );
    let mut incidents = Vec::new();
    for i in 0..INCIDENTS {
        incidents.push(open(&fake, i).await);
    }
    // Let the opens' effects settle.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // One at a time.
    let (flushes0, synced0) = socbot::metrics::store_group_commit();
    let (cpu0, fake0) = (support::stats::process_cpu(), fake.rest_cost());
    let started = Instant::now();
    for i in 0..SERIAL {
        let (n, message) = &incidents[i % INCIDENTS];
        let update = fake.interact(press(*n, message, i)).await;
        assert_eq!(update["type"], 7, "{update}");
    }
    let serial = started.elapsed();
    let serial_rate = SERIAL as f64 / serial.as_secs_f64();

    let (flushes1, synced1) = socbot::metrics::store_group_commit();
    let (cpu1, fake1) = (support::stats::process_cpu(), fake.rest_cost());

    // 32 in flight, one per incident, round after round.
    let mut latencies = Vec::new();
    let started = Instant::now();
    for round in 0..ROUNDS {
        let mut sent = Vec::new();
        for (n, message) in &incidents {
            let (id, _) = fake
                .send_interaction(press(*n, message, SERIAL + round))
                .await;
            sent.push((id, Instant::now()));
        }
        for (id, at) in sent {
            let update = fake.interaction_response(id).await;
            latencies.push(at.elapsed());
            assert_eq!(update["type"], 7, "{update}");
        }
    }
    let parallel = started.elapsed();
    let (flushes2, synced2) = socbot::metrics::store_group_commit();
    let (cpu2, fake2) = (support::stats::process_cpu(), fake.rest_cost());
    let answers = ROUNDS * INCIDENTS;
    let parallel_rate = answers as f64 / parallel.as_secs_f64();
    bot.stop().await.expect("the daemon stops cleanly");
    fake.assert_clean();

    println!(
        "one at a time:        {SERIAL} durable answers in {serial:.2?}: {serial_rate:>7.0} answers/s"
    );
    println!(
        "{INCIDENTS} in flight:         {answers} durable answers in {parallel:.2?}: {parallel_rate:>7.0} answers/s"
    );
    // The daemon runs in this process: its store's group-commit counters (every flush of the
    // run, the outbox's own commits too) say how many transactions each flush made durable.
    let group = |flushes: u64, synced: u64| {
        format!(
            "{flushes} flushes for {synced} commits: {:.1} commits per flush",
            synced as f64 / flushes.max(1) as f64
        )
    };
    println!(
        "  one at a time:   {}",
        group(flushes1 - flushes0, synced1 - synced0)
    );
    println!(
        "  {INCIDENTS} in flight:    {}",
        group(flushes2 - flushes1, synced2 - synced1)
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cpu_report(
        "one at a time",
        SERIAL,
        (cpu0, cpu1),
        (fake0, fake1),
        serial,
        cores,
    );
    cpu_report(
        &format!("{INCIDENTS} in flight"),
        answers,
        (cpu1, cpu2),
        (fake1, fake2),
        parallel,
        cores,
    );
    support::stats::report(
        "  each answer, dispatch → type 7 (32 in flight)",
        48,
        4,
        latencies,
    );
    println!(
        "\n32 in flight / one at a time: {:.1}× (target ≥ 3×)",
        parallel_rate / serial_rate
    );
    let checked = if fake.validates_bodies() {
        "checks every body against Discord's OpenAPI spec and limits"
    } else {
        "checks every body against Discord's limits (no OpenAPI spec found)"
    };
    println!(
        "note: the loopback Discord runs in this process and {checked}; its REST side's\n\
         share is printed above (wall time inside its handler); its gateway and this driver come\n\
         on top. The answers are limited by CPU, not by the disk: commits per flush show how many\n\
         share each fdatasync. Machine load (1 min) at the end: {}",
        load_average().unwrap_or_else(|| "unknown".into())
    );
}

/// The 1-minute load average (other work on this machine takes CPU from the run).
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}
