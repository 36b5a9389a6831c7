//! Crash test: the real `socbot run` process answers a stream of analysis-question answers
//! (buttons, note forms and `/incident answer` on several incidents, and a few opens) and is
//! killed with SIGKILL at random moments, many times. After each kill the store is opened
//! directly: every answer whose interaction Discord saw acknowledged is there, none is there
//! twice, and incident numbers are never reused. At the end a last start finishes every
//! half-made incident.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use socbot::incident::{Event, EventKind, Finding, Incident, IncidentId};
use socbot::store::Store;
use support::bot::{BotDirs, L1_ROLE};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_int, opt_str};
use support::incidents::{custom_ids, question_message};
use support::rng::Rng;

const SEED: u64 = 0x5eed_c0de_2024;
const ROUNDS: usize = 16;
/// Incidents opened before the first kill; each of their questions is a lane of answers.
const INCIDENTS: usize = 3;
const QUESTIONS: usize = 3;
/// Actor ids: each answering interaction has its own user, so its event can be found.
const USER_BASE: u64 = 1_400_000_000_000_000_000;

/// The port of the bot's `/metrics` listener: free when first asked, then the same for every
/// restart in this directory.
fn metrics_port(dirs: &BotDirs) -> u16 {
    let file = dirs.root.join("metrics-port");
    if let Some(port) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return port;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    std::fs::write(&file, port.to_string()).unwrap();
    port
}

/// `socbot_outbox_depth` from the running bot's `/metrics`, if it answers.
async fn outbox_depth(dirs: &BotDirs) -> Option<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = format!("127.0.0.1:{}", metrics_port(dirs));
    let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nhost: socbot\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("socbot_outbox_depth "))
        .and_then(|n| n.trim().parse().ok())
}

fn spawn(fake: &FakeDiscord, dirs: &BotDirs, round: usize) -> Child {
    let log = std::fs::File::create(dirs.root.join(format!("round-{round}.log"))).unwrap();
    let mut cmd = support::bot::socbot_run(fake, &dirs.store, &dirs.playbooks);
    cmd.current_dir(&dirs.root)
        .env("SOCBOT__LOG__LEVEL", "info")
        .env(
            "SOCBOT__HTTP__LISTEN",
            format!("127.0.0.1:{}", metrics_port(dirs)),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    cmd.spawn().expect("socbot run starts")
}

/// What the test sent: the acting user (for answers) or the title (for opens).
#[derive(Debug, Clone)]
enum Sent {
    Answer {
        user: u64,
        incident: u64,
        question: usize,
    },
    Open {
        title: String,
    },
}

/// Every interaction sent, by interaction id.
type Ledger = Arc<Mutex<BTreeMap<u64, Sent>>>;

/// Whether the fake accepted a callback for interaction `id` (Discord acknowledged it).
fn acked(fake: &FakeDiscord, id: u64) -> Option<Value> {
    fake.requests_matching("POST", &format!("/interactions/{id}/"))
        .into_iter()
        .find(|r| r.path.ends_with("/callback") && r.status / 100 == 2)
        .and_then(|r| r.body)
}

async fn wait_acked(fake: &FakeDiscord, id: u64) -> Value {
    loop {
        if let Some(body) = acked(fake, id) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

fn next_finding(current: Option<Finding>) -> Finding {
    match current {
        None | Some(Finding::Unknown) => Finding::Concerning,
        Some(Finding::Concerning) => Finding::Clear,
        Some(Finding::Clear) => Finding::Unknown,
    }
}

fn code(f: Finding) -> &'static str {
    match f {
        Finding::Concerning => "c",
        Finding::Clear => "k",
        Finding::Unknown => "u",
    }
}

/// One lane: answers one question again and again, one interaction at a time, each changing
/// the answer (so each acknowledged one must leave exactly one event).
#[allow(clippy::too_many_arguments)]
async fn lane(
    fake: FakeDiscord,
    ledger: Ledger,
    next_user: Arc<Mutex<u64>>,
    n: u64,
    thread: u64,
    q: usize,
    mut current: Option<Finding>,
    seed: u64,
) {
    let mut rng = Rng(seed);
    loop {
        let finding = next_finding(current);
        let user = {
            let mut u = next_user.lock().unwrap();
            *u += 1;
            *u
        };
        let Some(message) = question_message(&fake, thread, n, q) else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let interaction = match rng.below_u64(3) {
            0 => Interaction::button(&format!("ans:{n}:{q}:{}", code(finding)), &message),
            1 => Interaction::modal_submit(
                &format!("notem:{n}:{q}"),
                &[
                    ("finding", finding.key()),
                    ("note", &format!("form by {user}")),
                ],
            )
            .on_message(&message),
            _ => Interaction::subcommand(
                "incident",
                "answer",
                json!([
                    opt_int("question", q as i64),
                    opt_str("finding", finding.key()),
                    opt_str("note", &format!("command by {user}")),
                ]),
            ),
        };
        let interaction = interaction
            .user(user)
            .username(&format!("analyst{user}"))
            .roles(&[L1_ROLE])
            .channel(thread);
        let (id, _) = fake.send_interaction(interaction).await;
        ledger.lock().unwrap().insert(
            id,
            Sent::Answer {
                user,
                incident: n,
                question: q,
            },
        );
        let body = wait_acked(&fake, id).await;
        assert!(
            matches!(body["type"].as_u64(), Some(4 | 7)),
            "answer not accepted: {body}"
        );
        assert!(
            body["data"]["flags"].as_u64().unwrap_or(0) & 64 == 0,
            "answer refused: {body}"
        );
        current = Some(finding);
    }
}

/// Opens incidents now and then, one at a time.
async fn opener(fake: FakeDiscord, ledger: Ledger, round: usize, seed: u64) {
    let mut rng = Rng(seed);
    for k in 0.. {
        tokio::time::sleep(Duration::from_millis(50 + rng.below_u64(200))).await;
        let title = format!("crash open r{round} k{k}");
        let open = Interaction::subcommand(
            "incident",
            "open",
            json!([opt_str("technique", "T1583.006"), opt_str("title", &title)]),
        )
        .roles(&[L1_ROLE]);
        let (id, _) = fake.send_interaction(open).await;
        ledger.lock().unwrap().insert(id, Sent::Open { title });
        wait_acked(&fake, id).await;
    }
}

/// What the store holds, read with the process dead.
struct Stored {
    /// Answered events by acting user id: (incident, question, count).
    answers: HashMap<u64, (u64, usize, usize)>,
    /// Incident number by title (with how many incidents carry it).
    titles: HashMap<String, (u64, usize)>,
    incidents: BTreeMap<u64, Incident>,
}

fn read_store(dirs: &BotDirs) -> Stored {
    let store = Store::open(&dirs.store).expect("the store opens after SIGKILL");
    let mut stored = Stored {
        answers: HashMap::new(),
        titles: HashMap::new(),
        incidents: BTreeMap::new(),
    };
    for n in store.incident_ids().expect("ids") {
        let events: Vec<Event> = store.events(n).expect("events decode");
        let inc = Incident::from_stored(IncidentId(n), &events).expect("incident folds");
        for e in &events {
            if let EventKind::Answered { question, .. } = &e.kind {
                let entry = stored
                    .answers
                    .entry(e.actor.id)
                    .or_insert((n, *question, 0));
                entry.2 += 1;
            }
        }
        let t = stored.titles.entry(inc.title.clone()).or_insert((n, 0));
        t.1 += 1;
        stored.incidents.insert(n, inc);
    }
    stored
}

/// Checks the store against what Discord saw acknowledged; returns (acked, unacked) counts.
fn verify(fake: &FakeDiscord, stored: &Stored, ledger: &Ledger, round: usize) -> (usize, usize) {
    let ledger = ledger.lock().unwrap().clone();
    let (mut yes, mut no) = (0, 0);
    for (id, sent) in &ledger {
        let was_acked = acked(fake, *id).is_some();
        if was_acked {
            yes += 1;
        } else {
            no += 1;
        }
        match sent {
            Sent::Answer {
                user,
                incident,
                question,
            } => {
                let found = stored.answers.get(user).copied();
                if was_acked {
                    assert!(
                        found.is_some(),
                        "round {round}: acknowledged answer (interaction {id}, user {user}, INC-{incident} q{question}) is missing from the store"
                    );
                }
                if let Some((n, q, count)) = found {
                    assert_eq!(
                        count, 1,
                        "round {round}: answer of interaction {id} stored {count} times"
                    );
                    assert_eq!((n, q), (*incident, *question), "round {round}: wrong place");
                }
            }
            Sent::Open { title } => {
                let found = stored.titles.get(title).copied();
                if was_acked {
                    assert!(
                        found.is_some(),
                        "round {round}: acknowledged open {title:?} is missing"
                    );
                }
                if let Some((_, count)) = found {
                    assert_eq!(count, 1, "round {round}: {title:?} opened {count} times");
                }
            }
        }
    }
    // No answer from a user the test never sent.
    let users: std::collections::HashSet<u64> = ledger
        .values()
        .filter_map(|s| match s {
            Sent::Answer { user, .. } => Some(*user),
            Sent::Open { .. } => None,
        })
        .collect();
    for user in stored.answers.keys() {
        assert!(
            users.contains(user) || *user < USER_BASE,
            "round {round}: an answer by user {user} that nobody sent"
        );
    }
    (yes, no)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_never_loses_an_acknowledged_answer_nor_doubles_one() {
    let started = Instant::now();
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let ledger: Ledger = Arc::new(Mutex::new(BTreeMap::new()));
    let next_user = Arc::new(Mutex::new(USER_BASE));
    let mut rng = Rng(SEED);
    let mut incidents: Vec<(u64, u64)> = Vec::new(); // (number, thread)
    let (mut total_acked, mut total_unacked) = (0, 0);
    let mut kills_while_busy = 0;
    // The current answers, as the store had them after the last kill (lanes start from there,
    // so each of their answers changes the finding and must leave exactly one event).
    let mut current: HashMap<(u64, usize), Option<Finding>> = HashMap::new();

    for round in 0..ROUNDS {
        let after = fake.requests().last().map_or(0, |r| r.seq);
        let mut child = spawn(&fake, &dirs, round);
        fake.wait_for(
            |r| r.seq > after && r.method == "PUT" && r.path.ends_with("/commands"),
            Duration::from_secs(20),
        )
        .await;

        if round == 0 {
            for i in 0..INCIDENTS {
                let open = Interaction::subcommand(
                    "incident",
                    "open",
                    json!([
                        opt_str("technique", "T1583.006"),
                        opt_str("title", &format!("lane incident {i}")),
                    ]),
                )
                .roles(&[L1_ROLE]);
                let card = fake.interact(open).await;
                let title = card["data"]["embeds"][0]["title"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let n: u64 = title
                    .trim_start_matches("INC-")
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let prefix = format!("INC-{n} · ");
                let req = fake
                    .wait_for(
                        |r| {
                            r.is("POST", "/channels/*/threads")
                                && r.status == 201
                                && r.body.as_ref().is_some_and(|b| {
                                    b["name"].as_str().is_some_and(|s| s.starts_with(&prefix))
                                })
                        },
                        Duration::from_secs(15),
                    )
                    .await;
                let thread: u64 = req.response.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let want = format!("ans:{n}:{QUESTIONS}:c");
                let thread_s = thread.to_string();
                fake.wait_for_message(|m| {
                    m["channel_id"] == thread_s.as_str() && custom_ids(m).contains(&want)
                })
                .await;
                incidents.push((n, thread));
            }
        }

        let mut tasks = Vec::new();
        for &(n, thread) in &incidents {
            for q in 1..=QUESTIONS {
                let cur = current.get(&(n, q)).copied().flatten();
                tasks.push(tokio::spawn(lane(
                    fake.clone(),
                    ledger.clone(),
                    next_user.clone(),
                    n,
                    thread,
                    q,
                    cur,
                    rng.next(),
                )));
            }
        }
        if round > 0 {
            tasks.push(tokio::spawn(opener(
                fake.clone(),
                ledger.clone(),
                round,
                rng.next(),
            )));
        }

        // Let it work, then SIGKILL at a random moment.
        let run_for = Duration::from_millis(150 + rng.below_u64(900));
        tokio::time::sleep(run_for).await;
        let in_flight_before = ledger.lock().unwrap().len();
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "killed, not exited: {status:?}");
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            if let Err(e) = t.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        if in_flight_before > 0 {
            kills_while_busy += 1;
        }

        let stored = read_store(&dirs);
        let (yes, no) = verify(&fake, &stored, &ledger, round);
        total_acked = yes;
        total_unacked = no;
        current = current_answers(&stored);
        eprintln!(
            "round {round}: killed after {run_for:?}; {yes} acknowledged and {no} unacknowledged interactions checked"
        );
    }
    assert!(kills_while_busy >= ROUNDS - 1);
    assert!(
        total_acked > 100,
        "too few answers to prove anything: {total_acked}"
    );

    // A last start finishes every incident: each has exactly one thread and one set of
    // question messages, and none is left half-made.
    let after = fake.requests().last().map_or(0, |r| r.seq);
    let mut child = spawn(&fake, &dirs, ROUNDS);
    fake.wait_for(
        |r| r.seq > after && r.method == "PUT" && r.path.ends_with("/commands"),
        Duration::from_secs(20),
    )
    .await;
    let stored = read_store_while_running(&fake, &dirs, &mut child).await;
    let threads = fake.threads();
    for (n, inc) in &stored.incidents {
        let prefix = format!("INC-{n} · ");
        let named: Vec<&Value> = threads
            .iter()
            .filter(|t| t["name"].as_str().is_some_and(|s| s.starts_with(&prefix)))
            .collect();
        assert_eq!(
            named.len(),
            1,
            "INC-{n} has {} threads: killed between creating its thread and recording it, the \
             next start created another (thread creation is not idempotent)",
            named.len()
        );
        let link = inc.thread.expect("thread linked");
        assert!(
            !inc.question_messages.is_empty(),
            "INC-{n} has no questions"
        );
        // Question messages, one per nonce: a post repeated after a kill carries the nonce of
        // the first, which Discord enforces (the fake does not, so count nonces).
        let want = format!("ans:{n}:{QUESTIONS}:c");
        let nonces: std::collections::BTreeSet<String> = fake
            .requests_matching("POST", &format!("/channels/{}/messages", link.thread_id))
            .into_iter()
            .filter(|r| r.status == 200 && r.path.ends_with("/messages"))
            .filter_map(|r| r.body)
            .filter(|b| custom_ids(b).contains(&want))
            .map(|b| {
                assert_eq!(b["enforce_nonce"], true, "{b}");
                b["nonce"].as_str().expect("a nonce").to_owned()
            })
            .collect();
        assert_eq!(
            nonces.len(),
            1,
            "INC-{n}: question messages under {nonces:?}"
        );
    }
    eprintln!(
        "{ROUNDS} SIGKILLs; {total_acked} acknowledged interactions all stored once ({total_unacked} unacknowledged); {} incidents; {:?}",
        stored.incidents.len(),
        started.elapsed()
    );
    fake.assert_clean();
}

fn current_answers(stored: &Stored) -> HashMap<(u64, usize), Option<Finding>> {
    let mut out = HashMap::new();
    for (n, inc) in &stored.incidents {
        for q in 1..=inc.questions.len() {
            out.insert((*n, q), inc.answer(q).map(|a| a.finding));
        }
    }
    out
}

/// Waits until the outbox has nothing left (the process delivered everything), then stops the
/// process cleanly (SIGTERM) and reads the store. Not SIGKILL: a refresh's removal waits for no
/// sync (the store's log syncs it within 20 ms; lost, the refresh is only sent again), so a
/// SIGKILL right after the outbox emptied may leave that refresh in it; a clean stop syncs.
async fn read_store_while_running(fake: &FakeDiscord, dirs: &BotDirs, child: &mut Child) -> Stored {
    // The bot's own gauge says when the outbox is empty; re-asked whenever Discord sees a
    // request (or at least every 250 ms).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if outbox_depth(dirs).await == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox never emptied");
        fake.wait_change(Duration::from_millis(250)).await;
    }
    stop_cleanly(fake, child).await;
    let stored = read_store(dirs);
    let pending: Vec<String> = Store::open(&dirs.store)
        .unwrap()
        .outbox()
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.json).into_owned())
        .collect();
    assert!(pending.is_empty(), "effects left undelivered: {pending:#?}");
    stored
}

/// SIGTERM, and waits for the process to exit (SIGKILL and a failure after 60 s).
async fn stop_cleanly(fake: &FakeDiscord, child: &mut Child) {
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success(), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            panic!("socbot did not stop within 60 s of SIGTERM");
        }
        fake.wait_change(Duration::from_millis(100)).await;
    }
}

/// SIGKILL right after Discord created an incident's thread, before the bot can record it: the
/// next start must finish the incident in that thread, not open a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_the_thread_is_created_leaves_one_thread() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let mut round = 0;
    let mut start = |fake: &FakeDiscord| {
        let after = fake.requests().last().map_or(0, |r| r.seq);
        let child = spawn(fake, &dirs, 100 + round);
        round += 1;
        (child, after)
    };
    let ready = |fake: &FakeDiscord, after: u64| {
        let fake = fake.clone();
        async move {
            fake.wait_for(
                |r| r.seq > after && r.method == "PUT" && r.path.ends_with("/commands"),
                Duration::from_secs(20),
            )
            .await;
        }
    };
    let mut duplicated = Vec::new();
    for k in 1..=4u64 {
        let (mut child, after) = start(&fake);
        ready(&fake, after).await;
        let open = Interaction::subcommand(
            "incident",
            "open",
            json!([
                opt_str("technique", "T1583.006"),
                opt_str("title", &format!("kill after thread {k}")),
            ]),
        )
        .roles(&[L1_ROLE]);
        let seen = fake.requests().last().map_or(0, |r| r.seq);
        fake.send_interaction(open).await;
        fake.wait_for(
            |r| r.seq > seen && r.is("POST", "/channels/*/threads") && r.status == 201,
            Duration::from_secs(15),
        )
        .await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");

        // Restart: the outbox finishes the incident.
        let (mut child, after) = start(&fake);
        ready(&fake, after).await;
        let want = format!("ans:{k}:{QUESTIONS}:c");
        fake.wait_for_message(|m| custom_ids(m).contains(&want))
            .await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let prefix = format!("INC-{k} · ");
        let threads = fake
            .threads()
            .iter()
            .filter(|t| t["name"].as_str().is_some_and(|s| s.starts_with(&prefix)))
            .count();
        if threads != 1 {
            duplicated.push(format!("INC-{k}: {threads} threads"));
        }
    }
    assert!(
        duplicated.is_empty(),
        "thread creation is not idempotent across a crash: {}",
        duplicated.join(", ")
    );
    fake.assert_clean();
}
