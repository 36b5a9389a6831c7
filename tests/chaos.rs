//! Chaos test, bounded in time: several incidents run their whole course (open, an answer that
//! escalates, the page, a re-page, acknowledgement, closure) while the real `socbot run` is
//! SIGKILLed at random moments and restarted, and a share of Discord's answers fail (500, 429,
//! a dropped connection, an answer lost after Discord acted, a call that hangs). Each user
//! action is retried until Discord saw it acknowledged, as a person would. At the end: each
//! incident has one thread, no message was posted twice, each page step went out once, and no
//! acknowledged action is missing from the store. The counts are printed.

mod support;

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use socbot::incident::{Event, EventKind, Finding, Incident, IncidentId};
use socbot::store::Store;
use support::bot::{BotDirs, L1_ROLE, T2_ROLE};
use support::discord::FakeDiscord;
use support::discord::faults::{FaultKind, Faults};
use support::discord::payloads::{Interaction, opt_int, opt_str};
use support::rng::Rng;

const SEED: u64 = 0xc4a0_5eed;
const INCIDENTS: usize = 3;
const KILLS: usize = 8;
const PRIMARY: u64 = 1_400_000_000_000_000_001;
const SECONDARY: u64 = 1_400_000_000_000_000_002;
const ROLE: u64 = 1_400_000_000_000_000_099;
/// Bound on each wait: a hang shows as a failure naming what did not happen.
const PATIENCE: Duration = Duration::from_secs(40);

/// Where the bot keeps its files: (root, store, playbooks).
type Paths = (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf);

fn spawn(fake: &FakeDiscord, (root, store, playbooks): &Paths, n: usize) -> Child {
    let log = std::fs::File::create(root.join(format!("run-{n}.log"))).unwrap();
    support::bot::socbot_run(fake, store, playbooks)
        .current_dir(root)
        .env("SOCBOT__DISCORD__REQUEST_TIMEOUT_SECS", "1")
        .env("SOCBOT__ONCALL__ROSTER", format!("{PRIMARY},{SECONDARY}"))
        .env("SOCBOT__ONCALL__FALLBACK_ROLE", ROLE.to_string())
        .env("SOCBOT__PAGING__ACK_TIMEOUT_SECS", "3")
        .env("SOCBOT__PAGING__REPEATS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("socbot run starts")
}

/// The callback Discord accepted for interaction `id`, if any.
fn acked(fake: &FakeDiscord, id: u64) -> Option<Value> {
    fake.requests_matching("POST", &format!("/interactions/{id}/"))
        .into_iter()
        .find(|r| r.path.ends_with("/callback") && r.status / 100 == 2)
        .and_then(|r| r.body)
}

/// Sends `make()` until the bot answers one (a person clicks again when nothing happens);
/// returns the answer and how many tries it took.
async fn until_answered(fake: &FakeDiscord, make: impl Fn() -> Interaction) -> (Value, usize) {
    let deadline = Instant::now() + PATIENCE;
    for tries in 1.. {
        let (id, _) = fake.send_interaction(make()).await;
        let sent = Instant::now();
        while sent.elapsed() < Duration::from_secs(4) {
            if let Some(body) = acked(fake, id) {
                return (body, tries);
            }
            fake.wait_change(Duration::from_millis(100)).await;
        }
        assert!(Instant::now() < deadline, "no answer after {tries} tries");
    }
    unreachable!()
}

/// Waits until `check` gives something; panics naming `what` after [`PATIENCE`].
async fn settle<T>(fake: &FakeDiscord, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {PATIENCE:?}: {what}");
        fake.wait_change(Duration::from_millis(200)).await;
    }
}

fn content(m: &Value) -> String {
    format!("{}{}", m["content"].as_str().unwrap_or(""), m["embeds"])
}

/// The thread of incident `n`, once Discord has it.
fn thread_of(fake: &FakeDiscord, n: u64) -> Option<u64> {
    let prefix = format!("INC-{n} · ");
    fake.threads()
        .into_iter()
        .find(|t| t["name"].as_str().is_some_and(|s| s.starts_with(&prefix)))
        .and_then(|t| t["id"].as_str()?.parse().ok())
}

/// Page messages of incident `n` in `channel`.
fn pages(fake: &FakeDiscord, channel: u64, n: u64) -> Vec<Value> {
    let needle = format!("INC-{n} needs Tier 2");
    fake.messages_in(channel)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.contains(&needle)))
        .collect()
}

/// One incident's whole course, each action retried until acknowledged. Returns the number of
/// tries all its actions took.
async fn course(fake: FakeDiscord, i: usize) -> (u64, usize, u64) {
    let title = format!("chaos {i}");
    let (card, mut tries) = until_answered(&fake, || {
        Interaction::subcommand(
            "incident",
            "open",
            json!([opt_str("technique", "T1583.006"), opt_str("title", &title)]),
        )
        .roles(&[L1_ROLE])
    })
    .await;
    let n = support::incidents::card_incident(&card);
    let thread = settle(&fake, &format!("INC-{n}'s thread"), || thread_of(&fake, n)).await;
    let (answer, t) = until_answered(&fake, || {
        Interaction::subcommand(
            "incident",
            "answer",
            json!([opt_int("question", 1), opt_str("finding", "concerning")]),
        )
        .roles(&[L1_ROLE])
        .channel(thread)
    })
    .await;
    tries += t;
    assert_eq!(
        answer["data"]["flags"].as_u64().unwrap_or(0) & 64,
        0,
        "{answer}"
    );
    // The page, then a re-page (or a later step): then Tier 2 acknowledges and closes.
    settle(&fake, &format!("two page steps for INC-{n}"), || {
        (pages(&fake, thread, n).len() >= 2).then_some(())
    })
    .await;
    let (_, t) = until_answered(&fake, || {
        Interaction::subcommand("incident", "ack", json!([]))
            .roles(&[T2_ROLE])
            .channel(thread)
    })
    .await;
    tries += t;
    let (_, t) = until_answered(&fake, || {
        Interaction::subcommand(
            "incident",
            "close",
            json!([opt_str("resolution", "true-positive")]),
        )
        .roles(&[T2_ROLE])
        .channel(thread)
    })
    .await;
    tries += t;
    (n, tries, thread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_run_their_course_through_kills_and_discord_failures() {
    let started = Instant::now();
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    fake.set_faults(Faults {
        fail_ratio: 0.3,
        kinds: vec![
            FaultKind::Status500,
            FaultKind::Status429 { retry_after: 0.2 },
            FaultKind::DropConnection,
            FaultKind::LoseResponse,
            FaultKind::Hang,
        ],
        seed: SEED,
        only_paths: Some(vec!["/channels/".into(), "/users/".into()]),
        max_faults: None,
    });
    let paths: Paths = (
        dirs.root.clone(),
        dirs.store.clone(),
        dirs.playbooks.clone(),
    );
    let child = Arc::new(Mutex::new(spawn(&fake, &paths, 0)));
    fake.wait_identified().await;

    // The killer: SIGKILL at random moments, restart at once.
    let killer = {
        let (fake, child, paths) = (fake.clone(), child.clone(), paths.clone());
        tokio::spawn(async move {
            let mut rng = Rng(SEED);
            for k in 1..=KILLS {
                tokio::time::sleep(Duration::from_millis(800 + rng.below_u64(1500))).await;
                let mut c = child.lock().unwrap();
                let _ = c.kill();
                let _ = c.wait();
                *c = spawn(&fake, &paths, k);
            }
            KILLS
        })
    };
    let courses: Vec<_> = (0..INCIDENTS)
        .map(|i| tokio::spawn(course(fake.clone(), i)))
        .collect();
    let mut done = Vec::new();
    for c in courses {
        done.push(c.await.expect("an incident's course"));
    }
    let kills = killer.await.unwrap();

    // Every thread is archived once the closures went out.
    for &(n, _, thread) in &done {
        settle(&fake, &format!("INC-{n}'s thread archived"), || {
            (fake.channel(thread)?["thread_metadata"]["archived"] == true).then_some(())
        })
        .await;
    }
    {
        let mut c = child.lock().unwrap();
        let _ = c.kill();
        let _ = c.wait();
    }

    // One thread per incident (a closed one is renamed, so count the creations Discord made).
    for &(n, _, _) in &done {
        let prefix = format!("INC-{n} · ");
        let threads = fake
            .requests_matching("POST", "/channels/*/threads")
            .into_iter()
            .filter(|r| {
                r.status == 201
                    && r.json()["name"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(&prefix))
            })
            .count();
        assert_eq!(threads, 1, "INC-{n} has {threads} threads");
    }
    // No message twice in any channel (page steps included: each step's text is its own).
    let mut channels: Vec<u64> = done.iter().map(|d| d.2).collect();
    channels.push(fake.channel_id());
    channels.extend(
        [PRIMARY, SECONDARY]
            .iter()
            .filter_map(|u| fake.dm_channel_of(*u)),
    );
    let (mut messages, mut page_steps) = (0, 0);
    for &channel in &channels {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for m in fake.messages_in(channel) {
            *seen.entry(content(&m)).or_default() += 1;
            messages += 1;
        }
        for (text, count) in &seen {
            assert_eq!(*count, 1, "posted {count} times in {channel}: {text:.200}");
        }
    }
    for &(n, _, thread) in &done {
        page_steps += pages(&fake, thread, n).len();
    }

    // No acknowledged action lost: each incident has its answer, its acknowledgement and its
    // closure in the store.
    let store = Store::open(&dirs.store).expect("the store opens");
    for &(n, _, _) in &done {
        let events: Vec<Event> = store.events(n).unwrap();
        let inc = Incident::from_stored(IncidentId(n), &events).expect("folds");
        assert_eq!(
            inc.answer(1).map(|a| a.finding),
            Some(Finding::Concerning),
            "INC-{n}'s answer"
        );
        assert!(inc.acknowledged.is_some(), "INC-{n} acknowledged");
        assert!(inc.is_closed(), "INC-{n} closed");
        let answers = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Answered { .. }))
            .count();
        assert_eq!(answers, 1, "INC-{n}: one answer event");
    }
    drop(store);
    let requests = fake.requests();
    let faults = requests.iter().filter(|r| r.fault.is_some()).count();
    let tries: usize = done.iter().map(|d| d.1).sum();
    eprintln!(
        "chaos: {INCIDENTS} incidents, {kills} SIGKILLs, {} requests, {faults} faulted, {tries} user actions (retries included), {messages} messages, {page_steps} page steps, all in {:?}",
        requests.len(),
        started.elapsed()
    );
    let spec: Vec<String> = fake
        .violations()
        .into_iter()
        .filter(|v| v.contains("[spec]") || v.contains("[limit]"))
        .collect();
    assert!(spec.is_empty(), "invalid requests: {spec:#?}");
}
