//! Durable answers: how long an analyst waits for a button press to be acknowledged, against
//! what the disk alone costs (`cargo bench --bench durability`).
//!
//! - Answer → acknowledgement: the real daemon against the loopback Discord (`tests/support`);
//!   from dispatching a button press (INTERACTION_CREATE) to the fake having accepted the bot's
//!   type 7 update. In between the bot folds the incident, writes the answer event and the
//!   interaction id in one sled transaction and makes it durable (one `write` + `fdatasync` of
//!   the store's redo log), then renders the question message and calls back.
//! - After each press, on the same disk: the same write to a store of our own
//!   (`Store::commit`), and a bare `write` + `sync_all` (and `sync_data`) of as many bytes
//!   appended to a file, and written over a preallocated one (as the store's log is) +
//!   `sync_data`, so all of them see the same disk weather. Ratios to the bare write + fsync at p50 and p99.
//! - For scale: a read-only `/incident status` through the same loop (no write).
//! - REST calls per `/incident open` (thread + card + question messages), 3 and 10 questions.
//! - The loopback Discord's own share: it checks each callback body against Discord's OpenAPI
//!   spec before accepting it (a type 7 body of buttons costs it far more than a status embed);
//!   `FAKE_DISCORD_SPEC=/nonexistent cargo bench --bench durability` measures without it.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;
use socbot::incident::{ActorRef, Event, EventKind, Finding};
use socbot::store::{Batch, Store};
use support::bot::{self, L1_ROLE};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_str};
use support::incidents::{TEN_QUESTIONS, card_incident, custom_ids};
use support::stats::{self, HANDLED, Summary};

const ANSWERS: usize = 500;
const WARM_UP: usize = 30;
const OPENS: usize = 10;

fn report(what: &str, samples: Vec<Duration>) -> Summary {
    stats::report(what, 46, 4, samples)
}

/// Opens an incident; waits for its last question message. Returns (number, thread, REST calls).
async fn open(fake: &FakeDiscord, technique: &str, questions: usize) -> (u64, u64, usize) {
    let before = fake.requests().last().map_or(0, |r| r.seq);
    let card = fake
        .interact(
            Interaction::subcommand(
                "incident",
                "open",
                json!([opt_str("technique", technique), opt_str("title", "bench")]),
            )
            .roles(&[L1_ROLE]),
        )
        .await;
    let n: u64 = card_incident(&card);
    let want = format!("ans:{n}:{questions}:c");
    let message = fake
        .wait_for_message(|m| custom_ids(m).contains(&want))
        .await;
    let thread: u64 = message["channel_id"].as_str().unwrap().parse().unwrap();
    // Let anything else the open causes arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = fake
        .requests()
        .iter()
        .filter(|r| r.seq > before)
        .filter(|r| !r.path.starts_with("/gateway"))
        .count();
    (n, thread, calls)
}

/// Bare write + fsync (`sync_all`, or `sync_data`) of `size` bytes, appended to a file; and
/// the same bytes written over a preallocated file (zeros written and synced first, as the
/// store's log files are) + `sync_data`.
struct Baseline {
    file: std::fs::File,
    path: std::path::PathBuf,
    bytes: Vec<u8>,
    prepared: std::fs::File,
    prepared_path: std::path::PathBuf,
    offset: u64,
}

impl Baseline {
    fn new(dir: &std::path::Path, size: usize) -> Self {
        let path = dir.join("fsync-baseline.bin");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("baseline file");
        let prepared_path = dir.join("fsync-baseline-prepared.bin");
        let mut prepared = std::fs::File::create(&prepared_path).expect("baseline file");
        prepared
            .write_all(&vec![0; (WARM_UP + ANSWERS) * size])
            .and_then(|()| prepared.sync_all())
            .expect("baseline file zero-filled");
        Self {
            file,
            path,
            bytes: vec![b'x'; size],
            prepared,
            prepared_path,
            offset: 0,
        }
    }

    fn overwrite(&mut self) -> Duration {
        use std::os::unix::fs::FileExt;
        let started = Instant::now();
        self.prepared
            .write_all_at(&self.bytes, self.offset)
            .expect("write");
        self.prepared.sync_data().expect("fdatasync");
        self.offset += self.bytes.len() as u64;
        started.elapsed()
    }

    fn once(&mut self, data_only: bool) -> Duration {
        let started = Instant::now();
        self.file.write_all(&self.bytes).expect("write");
        if data_only {
            self.file.sync_data().expect("fdatasync");
        } else {
            self.file.sync_all().expect("fsync");
        }
        started.elapsed()
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.prepared_path);
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    stats::install_handled();
    let (fake, dirs, bot) =
        bot::start_fresh(&[("T1566.002-spearphishing-link.md", TEN_QUESTIONS)]).await;
    println!(
        "socbot durability benchmark: real daemon ↔ loopback Discord, {} cores, store in {}\n",
        std::thread::available_parallelism().map_or(1, usize::from),
        dirs.root.display()
    );

    // REST calls per open.
    let mut calls3 = Vec::new();
    let mut calls10 = Vec::new();
    let mut target = None;
    for _ in 0..OPENS {
        let (n, thread, c) = open(&fake, "T1583.006", 3).await;
        target.get_or_insert((n, thread));
        calls3.push(c);
        calls10.push(open(&fake, "T1566.002", 10).await.2);
    }
    for (what, calls) in [("3 questions", &calls3), ("10 questions", &calls10)] {
        println!(
            "REST calls per /incident open, {what:<13} min {} max {} (thread + card + question messages; {OPENS} opens)",
            calls.iter().min().unwrap(),
            calls.iter().max().unwrap()
        );
    }
    println!();

    // Answers: q3 of a T1583.006 incident, cycling Concerning → Clear → Unknown. With q1 and
    // q2 unanswered the rule `q1 or (q2 and q3)` stays pending, so each press is exactly one
    // durable answer event and one type 7 update (no decision message in between).
    let (n, thread) = target.expect("an incident");
    let want = format!("ans:{n}:3:c");
    let thread_s = thread.to_string();
    let message = fake
        .wait_for_message(|m| m["channel_id"] == thread_s.as_str() && custom_ids(m).contains(&want))
        .await;
    // What one answer writes: its event and the interaction id. The same write to a store
    // of our own and a bare write + fsync of as many bytes follow each press, in the same
    // directory (same disk), so the three are measured under the same disk weather.
    let event = Event::new(
        chrono::Utc::now(),
        ActorRef::new(1_200_000_000_000_000_001, "alice"),
        EventKind::Answered {
            question: 3,
            finding: Finding::Concerning,
            note: None,
        },
    );
    let event_bytes = Store::encode(&event);
    let size = event_bytes.len() + 8 + 8;
    let store = Store::open(&dirs.root.join("bench-store")).expect("store");
    let mut baseline = Baseline::new(&dirs.root, size);
    let mut commits = Vec::with_capacity(ANSWERS);
    let mut bare = Vec::with_capacity(ANSWERS);
    let mut bare_data = Vec::with_capacity(ANSWERS);
    let mut bare_over = Vec::with_capacity(ANSWERS);

    HANDLED.lock().unwrap().clear();
    let codes = ["c", "k", "u"];
    let mut last_update = serde_json::Value::Null;
    let mut samples = Vec::with_capacity(ANSWERS);
    for i in 0..WARM_UP + ANSWERS {
        let press = Interaction::button(&format!("ans:{n}:3:{}", codes[i % 3]), &message)
            .roles(&[L1_ROLE])
            .username("alice")
            .channel(thread);
        let started = Instant::now();
        let (id, _) = fake.send_interaction(press).await;
        let update = fake.interaction_response(id).await;
        let took = started.elapsed();
        assert_eq!(update["type"], 7, "{update}");
        last_update = update;

        let batch = Batch {
            interaction: Some(1_000_000 + i as u64),
            events: vec![(1, event_bytes.clone())],
            ..Batch::default()
        };
        let started = Instant::now();
        store.commit(batch).await.expect("commit");
        let commit = started.elapsed();
        let (all, data) = (baseline.once(false), baseline.once(true));
        let over = baseline.overwrite();
        if i >= WARM_UP {
            samples.push(took);
            commits.push(commit);
            bare.push(all);
            bare_data.push(data);
            bare_over.push(over);
        }
    }
    drop(store);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let handled: Vec<Duration> = std::mem::take(&mut *HANDLED.lock().unwrap());
    let handled = handled[handled.len().saturating_sub(ANSWERS)..].to_vec();

    // The same loop without a write: a read-only `/incident status` in the same thread
    // (fold, render, callback; nothing stored).
    let mut reads = Vec::with_capacity(ANSWERS / 2);
    let mut last_reply = serde_json::Value::Null;
    HANDLED.lock().unwrap().clear();
    for i in 0..WARM_UP + ANSWERS / 2 {
        let status = Interaction::subcommand("incident", "status", json!([]))
            .roles(&[L1_ROLE])
            .channel(thread);
        let started = Instant::now();
        let (id, _) = fake.send_interaction(status).await;
        let reply = fake.interaction_response(id).await;
        let took = started.elapsed();
        assert_eq!(reply["type"], 4, "{reply}");
        last_reply = reply;
        if i >= WARM_UP {
            reads.push(took);
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let handled_status: Vec<Duration> = std::mem::take(&mut *HANDLED.lock().unwrap());
    let handled_status =
        handled_status[handled_status.len().saturating_sub(ANSWERS / 2)..].to_vec();
    bot.stop().await.expect("the daemon stops cleanly");
    fake.assert_clean();

    let first: Vec<Duration> = samples[..100].to_vec();
    let last: Vec<Duration> = samples[samples.len() - 100..].to_vec();
    let answer = report("button answer → type 7 ack (durable)", samples);
    report("  first 100 answers", first);
    report(
        &format!(
            "  last 100 answers (incident has {} events)",
            ANSWERS + WARM_UP
        ),
        last,
    );
    let answer_bot = report("  bot side (event in handler → 204)", handled);
    let status = report("  /incident status, same loop, no write", reads);
    let status_bot = report("    bot side (event in handler → 204)", handled_status);
    let commit = report("  store commit alone (event + id, durable)", commits);
    let disk = report(&format!("  bare write + sync_all of {size} bytes"), bare);
    let disk_data = report(
        &format!("  bare write + sync_data of {size} bytes"),
        bare_data,
    );
    report(
        &format!("  bare overwrite + sync_data, {size} bytes"),
        bare_over,
    );
    // Part of each measured round trip is the loopback Discord's own work: it checks every
    // callback body against Discord's OpenAPI spec before it accepts it. The same check of the
    // last type 7 body and of the last status reply, timed alone:
    if let Some(spec) = support::discord::spec::spec() {
        let path = "/interactions/1/token/callback";
        if let Some(op) = spec.find("POST", path) {
            for (what, body) in [
                (
                    "  fake Discord's spec check of the type 7 body",
                    &last_update,
                ),
                (
                    "  fake Discord's spec check of the status reply",
                    &last_reply,
                ),
            ] {
                let samples = (0..200)
                    .map(|_| {
                        let started = Instant::now();
                        let problems = spec.validate(op, body);
                        assert!(problems.is_empty(), "{problems:?}");
                        started.elapsed()
                    })
                    .collect();
                report(what, samples);
            }
        }
    } else {
        println!("  (the fake Discord validates nothing: no OpenAPI spec found)");
    }
    println!();
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "answer ack / bare fsync:   p50 {:.1}×   p99 {:.1}×",
        ratio(answer.p50, disk.p50),
        ratio(answer.p99, disk.p99)
    );
    println!(
        "store commit / bare fsync: p50 {:.1}×   p99 {:.1}×",
        ratio(commit.p50, disk.p50),
        ratio(commit.p99, disk.p99)
    );
    println!(
        "answer p50 − status p50 = {:.2?}; target ≤ 3 × bare write + sync_data p50 = {:.2?}",
        answer.p50.saturating_sub(status.p50),
        disk_data.p50 * 3
    );
    // Where the difference lies: in socbot's handler (its write and sync among it) or on the
    // way to and from it (the gateway event, serenity's parse of it, the loopback's work).
    let outside = |all: &Summary, bot: &Summary| all.p50.as_secs_f64() - bot.p50.as_secs_f64();
    println!(
        "  of it, in the handler: {:.0} µs; outside it: {:.0} µs (the press's event carries the message pressed on)",
        (answer_bot.p50.as_secs_f64() - status_bot.p50.as_secs_f64()) * 1e6,
        (outside(&answer, &answer_bot) - outside(&status, &status_bot)) * 1e6,
    );
}
