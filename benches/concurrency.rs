//! Many analysts at once (`cargo bench --bench concurrency`): durable button answers per second
//! with 32 in flight to 32 different incidents all along (each analyst presses again as soon as
//! the last press is acknowledged), against one at a time, through the real daemon
//! and the loopback Discord. Each answer is acknowledged (type 7) only once its own event is on
//! disk; commits that arrive while another syncs share the next flush + `fdatasync` (group
//! commit), so the disk's sync rate stops being the answer rate. Target: ≥ 3× one at a time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::bot::{self, L1_ROLE};
use support::discord::payloads::{Interaction, opt_str};
use support::discord::state::CostSnapshot;
use support::discord::{FakeConfig, FakeDiscord};
use support::incidents::{card_incident, custom_ids};

const INCIDENTS: usize = 32;
const SERIAL: usize = 320;
/// Answers each of the 32 analysts gives in the concurrent run.
const ROUNDS: usize = 50;

/// Opens an incident; returns its number and its q3 question message (shared by its presses).
async fn open(fake: &FakeDiscord, i: usize) -> (u64, Arc<Value>) {
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
    (n, Arc::new(message))
}

fn press(n: u64, message: &Arc<Value>, i: usize) -> Interaction {
    // q3 cycles Concerning → Clear → Unknown: with q1 and q2 unanswered the rule stays pending,
    // so each press is one durable answer and one type 7 update.
    let code = ["c", "k", "u"][i % 3];
    let thread: u64 = message["channel_id"].as_str().unwrap().parse().unwrap();
    Interaction::button_on(&format!("ans:{n}:3:{code}"), Arc::clone(message))
        .roles(&[L1_ROLE])
        .username("analyst")
        .channel(thread)
}

/// A point of the run: the process's CPU time, each thread's, and the loopback Discord's own.
struct Mark {
    process: Option<Duration>,
    threads: Vec<(u32, String, Duration)>,
    fake: CostSnapshot,
}

fn mark(fake: &FakeDiscord) -> Mark {
    Mark {
        process: support::stats::process_cpu(),
        threads: support::stats::thread_cpu(),
        fake: fake.cost(),
    }
}

/// CPU per answer between two marks, by thread name (the driver is the main thread), busiest
/// first: (name, threads, CPU).
fn by_thread(from: &Mark, to: &Mark) -> Vec<(String, usize, Duration)> {
    let main = std::process::id();
    let mut groups: Vec<(String, usize, Duration)> = Vec::new();
    for (tid, name, cpu) in &to.threads {
        let before = from.threads.iter().find(|(t, ..)| t == tid);
        let used = cpu.saturating_sub(before.map_or(Duration::ZERO, |(.., c)| *c));
        let name = if *tid == main {
            format!("{name} (driver)")
        } else {
            name.clone()
        };
        match groups.iter_mut().find(|(n, ..)| *n == name) {
            Some(group) => {
                group.1 += 1;
                group.2 += used;
            }
            None => groups.push((name, 1, used)),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.2));
    groups
}

/// Where the CPU went in one phase: this process's CPU time per answer and how busy that kept
/// the cores, split by thread: the loopback Discord runs on a thread of its own (`fake-discord`,
/// plus `fake-deadlines` for its waits) and builds the frames it dispatches on the driver's
/// (the main thread); socbot is every other thread (its runtime, sled, the store's flushes).
fn cpu_report(phase: &str, answers: usize, (from, to): (&Mark, &Mark), wall: Duration) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (Some(start), Some(end)) = (from.process, to.process) else {
        println!("  {phase}: no CPU figures here (no /proc/self/stat)");
        return;
    };
    let used = end.saturating_sub(start);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / answers as f64;
    let fake = to.fake.since(from.fake);
    let threads = by_thread(from, to);
    let of = |name: &str| {
        threads
            .iter()
            .filter(|(n, ..)| n == name || n.ends_with(name))
            .map(|(.., cpu)| *cpu)
            .sum::<Duration>()
    };
    let fake_threads = of("fake-discord") + of("fake-deadlines");
    let main = of("(driver)");
    let socbot = used.saturating_sub(fake_threads + main);
    let driver = main.saturating_sub(fake.gateway);
    println!(
        "  {phase:<16} CPU {:>5.0} µs per answer ({:.0}% of {cores} cores): socbot {:.0} µs, loopback Discord {:.0} µs, driver {:.0} µs",
        per(used),
        100.0 * used.as_secs_f64() / (wall.as_secs_f64() * cores as f64),
        per(socbot),
        per(fake_threads + fake.gateway),
        per(driver),
    );
    println!(
        "      loopback Discord: its threads {:.0} µs (REST {:.0} µs for {} requests, spec and limit checks {:.0} µs of it; {} gateway frames sent {:.0} µs) + frames built on the driver's {:.0} µs",
        per(fake_threads),
        per(fake.rest),
        fake.requests,
        per(fake.checks),
        fake.frames,
        per(fake.sending),
        per(fake.gateway),
    );
    let shown: Vec<String> = threads
        .iter()
        .filter(|(.., cpu)| !cpu.is_zero())
        .take(6)
        .map(|(name, n, cpu)| {
            let count = if *n > 1 {
                format!(" ×{n}")
            } else {
                String::new()
            };
            format!("{name}{count} {:.0} µs", per(*cpu))
        })
        .collect();
    println!("      by thread: {}", shown.join(" · "));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The loopback Discord on a thread of its own: the CPU figures tell its share from socbot's.
    let apart = FakeDiscord::start_apart(FakeConfig::default()).await;
    let (fake, dirs, bot) = bot::start_fresh_on(apart, &[]).await;
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
    let mark0 = mark(&fake);
    let started = Instant::now();
    for i in 0..SERIAL {
        let (n, message) = &incidents[i % INCIDENTS];
        let update = fake.interact(press(*n, message, i)).await;
        assert_eq!(update["type"], 7, "{update}");
    }
    let serial = started.elapsed();
    let serial_rate = SERIAL as f64 / serial.as_secs_f64();

    let (flushes1, synced1) = socbot::metrics::store_group_commit();
    let mark1 = mark(&fake);

    // 32 in flight all along: each incident's next answer is sent as soon as its last one is
    // acknowledged (no round waits for its slowest answer with the cores idle).
    let started = Instant::now();
    let analysts = incidents.iter().map(|(n, message)| {
        let fake = &fake;
        async move {
            let mut took = Vec::with_capacity(ROUNDS);
            for round in 0..ROUNDS {
                let (id, _) = fake
                    .send_interaction(press(*n, message, SERIAL + round))
                    .await;
                let at = Instant::now();
                let kind = fake.interaction_callback_type(id).await;
                took.push(at.elapsed());
                assert_eq!(
                    kind, 7,
                    "interaction {id} was answered with callback type {kind}"
                );
            }
            took
        }
    });
    let latencies: Vec<Duration> = futures::future::join_all(analysts)
        .await
        .into_iter()
        .flatten()
        .collect();
    let parallel = started.elapsed();
    let (flushes2, synced2) = socbot::metrics::store_group_commit();
    let mark2 = mark(&fake);
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
    cpu_report("one at a time", SERIAL, (&mark0, &mark1), serial);
    let phase = format!("{INCIDENTS} in flight");
    cpu_report(&phase, answers, (&mark1, &mark2), parallel);
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
        "note: the loopback Discord runs in this process, on a thread of its own, and {checked};\n\
         the split is per-thread CPU (10 ms ticks; its REST and frame figures are wall time inside\n\
         its own work). The answers are limited by CPU, not by the disk: commits per flush show\n\
         how many share each fdatasync. Machine load (1 min) at the end: {}",
        load_average().unwrap_or_else(|| "unknown".into())
    );
}

/// The 1-minute load average (other work on this machine takes CPU from the run).
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}
