//! Fault test: Discord fails 30% of the bot's channel requests (500, 429, dropped connections,
//! and requests carried out whose answer is lost; never interaction callbacks) while incidents
//! are opened, answered, decided and closed. Every incident still ends complete (its thread,
//! its question messages, its decision messages, its closure) and every message is posted once.
//!
//! Each message carries an enforced nonce (Discord, and the fake, answer a repeat with the
//! message they have) and the bot remembers what it posted, so a retried effect skips what went
//! out. A thread has no nonce: after an unclear failure the bot looks for it among the guild's
//! active threads before creating it. This test checks all three: one thread per incident, no
//! post repeated under a nonce unless its first answer was lost, no content under two nonces.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::bot::{self, L1_ROLE, T2_ROLE};
use support::discord::FakeDiscord;
use support::discord::faults::{FaultKind, Faults};
use support::discord::payloads::{Interaction, opt_int, opt_str};
use support::incidents::{
    self, TEN_QUESTIONS, card_incident, custom_ids, titles, wait_thread_created,
};

/// Bound for everything to settle under faults (the back-off doubles from 1 s).
const SETTLE: Duration = Duration::from_secs(45);

fn id_of(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

struct Inc {
    n: u64,
    thread: u64,
    questions: usize,
}

/// Waits until `check` holds; panics naming `what` after [`SETTLE`].
async fn settle(fake: &FakeDiscord, what: &str, check: impl FnMut() -> bool) {
    if !settle_or_not(fake, check).await {
        let seen: Vec<String> = fake
            .requests()
            .iter()
            .map(|r| r.summary().chars().take(140).collect())
            .collect();
        panic!(
            "not settled within {SETTLE:?}: {what}; requests:\n{}",
            seen.join("\n")
        );
    }
}

/// Whether `check` comes to hold within [`SETTLE`], re-checking whenever the fake records a
/// request.
async fn settle_or_not(fake: &FakeDiscord, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + SETTLE;
    loop {
        if check() {
            return true;
        }
        if deadline.saturating_duration_since(Instant::now()) < Duration::from_secs(1) {
            return check();
        }
        fake.wait_change(Duration::from_millis(250)).await;
    }
}

async fn open(fake: &FakeDiscord, technique: &str, title: &str, questions: usize) -> Inc {
    let open = Interaction::subcommand(
        "incident",
        "open",
        json!([opt_str("technique", technique), opt_str("title", title)]),
    )
    .roles(&[L1_ROLE])
    .username("alice");
    let card = fake.interact(open).await;
    assert_eq!(card["type"], 4, "{card}");
    let n: u64 = card_incident(&card);
    let prefix = format!("INC-{n} · ");
    let req = wait_thread_created(fake, &prefix, SETTLE).await;
    Inc {
        n,
        thread: id_of(&req.response.expect("thread")["id"]),
        questions,
    }
}

async fn question_message(fake: &FakeDiscord, inc: &Inc, q: usize) -> Value {
    let mut found = None;
    settle(fake, &format!("INC-{} q{q} posted", inc.n), || {
        found = incidents::question_message(fake, inc.thread, inc.n, q);
        found.is_some()
    })
    .await;
    found.unwrap()
}

async fn press(fake: &FakeDiscord, inc: &Inc, q: usize, code: &str) {
    let message = question_message(fake, inc, q).await;
    let press = Interaction::button(&format!("ans:{}:{q}:{code}", inc.n), &message)
        .roles(&[L1_ROLE])
        .username("alice")
        .channel(inc.thread);
    let answer = fake.interact(press).await;
    assert_eq!(answer["type"], 7, "{answer}");
}

async fn command(fake: &FakeDiscord, inc: &Inc, sub: &str, options: Value, role: u64) -> Value {
    let i = Interaction::subcommand("incident", sub, options)
        .roles(&[role])
        .username("bob")
        .channel(inc.thread);
    let answer = fake.interact(i).await;
    assert_eq!(answer["type"], 4, "{answer}");
    answer
}

/// Message posts in `thread` that Discord carried out, by nonce (Discord keeps the first with
/// `enforce_nonce`), as (body, whether the bot lost the answer).
fn posts_by_nonce(fake: &FakeDiscord, thread: u64) -> BTreeMap<String, Vec<(Value, bool)>> {
    let mut out: BTreeMap<String, Vec<(Value, bool)>> = BTreeMap::new();
    for r in fake.requests_matching("POST", &format!("/channels/{thread}/messages")) {
        if r.status != 200 || !r.path.ends_with("/messages") {
            continue;
        }
        let body = r.json().clone();
        assert_eq!(body["enforce_nonce"], true, "{}", r.summary());
        let nonce = body["nonce"]
            .as_str()
            .unwrap_or_else(|| panic!("a post without a nonce: {}", r.summary()))
            .to_owned();
        let lost = r.fault == Some(FaultKind::LoseResponse);
        out.entry(nonce).or_default().push((body, lost));
    }
    out
}

/// Which message a body is: its embed titles and its controls. A repeat under the same nonce
/// may show newer answers (Discord keeps the first; a button press updated it in place).
fn identity(body: &Value) -> String {
    format!("{:?} {:?}", titles(body), custom_ids(body))
}

/// A message body without its nonce: two nonces must never carry the same message.
fn content_key(body: &Value) -> String {
    let mut b = body.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("nonce");
        o.remove("enforce_nonce");
    }
    b.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_incident_completes_and_every_message_is_posted_once_despite_faults() {
    let started = Instant::now();
    let (fake, _dirs, bot) =
        bot::start_fresh(&[("T1566.002-spearphishing-link.md", TEN_QUESTIONS)]).await;
    fake.set_faults(
        Faults {
            fail_ratio: 0.3,
            kinds: vec![
                FaultKind::Status500,
                FaultKind::Status429 { retry_after: 0.2 },
                FaultKind::DropConnection,
                FaultKind::LoseResponse,
            ],
            // FAULTS_SEED=<n> replays another fault pattern.
            seed: std::env::var("FAULTS_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(7),
            ..Faults::default()
        }
        .only(&["/channels/**"]),
    );

    // Open four incidents while Discord is failing.
    let a = open(&fake, "T1583.006", "Faults A", 3).await;
    let b = open(&fake, "T1583.006", "Faults B", 3).await;
    let c = open(&fake, "T1566.002", "Faults C", 10).await;
    let d = open(&fake, "T1566.002", "Faults D", 10).await;
    let incidents = [&a, &b, &c, &d];
    eprintln!("opened in {:?}", started.elapsed());

    // Answers by button and by command; decisions follow.
    // A: q1 Concerning → escalate.
    press(&fake, &a, 1, "c").await;
    // B: Clear, Clear → recommend closing; q2 Unknown → pending; closed by a T2.
    press(&fake, &b, 1, "k").await;
    command(
        &fake,
        &b,
        "answer",
        json!([opt_int("question", 2), opt_str("finding", "clear")]),
        L1_ROLE,
    )
    .await;
    press(&fake, &b, 2, "u").await;
    command(
        &fake,
        &b,
        "close",
        json!([
            opt_str("resolution", "benign"),
            opt_str("summary", "backup job")
        ]),
        T2_ROLE,
    )
    .await;
    // C: q9 Concerning (second question message) → escalate.
    press(&fake, &c, 9, "c").await;
    // D: every question Clear, half by command → recommend closing; then closed.
    for q in 1..=10 {
        if q % 2 == 0 {
            command(
                &fake,
                &d,
                "answer",
                json!([opt_int("question", q), opt_str("finding", "clear")]),
                L1_ROLE,
            )
            .await;
        } else {
            press(&fake, &d, q as usize, "k").await;
        }
    }
    command(
        &fake,
        &d,
        "close",
        json!([opt_str("resolution", "false-positive")]),
        T2_ROLE,
    )
    .await;

    eprintln!("answered in {:?}", started.elapsed());
    // What each thread must end with: (title fragment, how many).
    let expected: HashMap<u64, Vec<(&str, usize)>> = HashMap::from([
        (a.n, vec![("escalate to Tier 2", 1)]),
        (
            b.n,
            vec![
                ("recommend closing", 1),
                ("decision pending", 1),
                ("closed", 1),
            ],
        ),
        (c.n, vec![("escalate to Tier 2", 1)]),
        (d.n, vec![("recommend closing", 1), ("closed", 1)]),
    ]);
    let complete = |inc: &Inc| -> bool {
        let messages = fake.messages_in(inc.thread);
        // Every question is shown (closed incidents keep the text, without buttons).
        let shown: String = messages.iter().map(|m| m["embeds"].to_string()).collect();
        let questions_ok = (1..=inc.questions).all(|q| shown.contains(&format!("**q{q}.**")));
        let all_titles: Vec<String> = messages.iter().flat_map(titles).collect();
        let decisions_ok = expected[&inc.n].iter().all(|(needle, count)| {
            all_titles.iter().filter(|t| t.contains(needle)).count() >= *count
        });
        questions_ok && decisions_ok
    };
    let done = settle_or_not(&fake, || incidents.iter().all(|i| complete(i))).await;
    if !done {
        for i in incidents {
            let messages = fake.messages_in(i.thread);
            let all_titles: Vec<String> = messages.iter().flat_map(titles).collect();
            let buttons: Vec<String> = messages.iter().flat_map(custom_ids).collect();
            eprintln!(
                "INC-{} complete={} titles={all_titles:?} buttons={}",
                i.n,
                complete(i),
                buttons.len()
            );
        }
        panic!("not every incident completed within {SETTLE:?}");
    }
    // B and D closed: renamed and archived.
    settle(&fake, "closed threads renamed and archived", || {
        [&b, &d].iter().all(|i| {
            fake.channel(i.thread).is_some_and(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("[closed] "))
                    && c["thread_metadata"]["archived"] == true
            })
        })
    })
    .await;
    // Command answers were edited into the question messages.
    settle(
        &fake,
        "command answers shown in D's question messages",
        || {
            let text: String = fake
                .messages_in(d.thread)
                .iter()
                .map(|m| m["embeds"].to_string())
                .collect();
            text.matches("**Clear** — ").count() >= 10
        },
    )
    .await;

    let requests = fake.requests();
    if std::env::var_os("FAULTS_DUMP").is_some() {
        for r in &requests {
            eprintln!("{}", r.summary().chars().take(160).collect::<String>());
        }
    }
    let injected = requests.iter().filter(|r| r.fault.is_some()).count();
    assert!(injected >= 5, "only {injected} faults injected");
    fake.clear_faults();
    bot.stop().await.unwrap();

    // Once each: one thread per incident, one message per nonce, no content under two nonces,
    // and the expected number of each decision.
    for inc in incidents {
        let prefix = format!("INC-{} · ", inc.n);
        let threads = requests
            .iter()
            .filter(|r| r.is("POST", "/channels/*/threads") && r.status == 201)
            .filter(|r| {
                r.body
                    .as_ref()
                    .is_some_and(|b| b["name"].as_str().is_some_and(|s| s.starts_with(&prefix)))
            })
            .count();
        assert_eq!(threads, 1, "INC-{}: {threads} threads", inc.n);

        let posts = posts_by_nonce(&fake, inc.thread);
        let mut seen: HashMap<String, String> = HashMap::new();
        for (nonce, bodies) in &posts {
            let first = content_key(&bodies[0].0);
            for (other, _) in &bodies[1..] {
                assert_eq!(
                    identity(other),
                    identity(&bodies[0].0),
                    "INC-{}: nonce {nonce} reused for another message",
                    inc.n
                );
            }
            if let Some(prev) = seen.insert(first.clone(), nonce.clone()) {
                panic!(
                    "INC-{}: the same message posted under nonces {prev} and {nonce}: {first}",
                    inc.n
                );
            }
        }
        let kept: Vec<&Value> = posts.values().map(|b| &b[0].0).collect();
        for (needle, count) in &expected[&inc.n] {
            let n = kept
                .iter()
                .filter(|b| titles(b).iter().any(|t| t.contains(needle)))
                .count();
            assert_eq!(n, *count, "INC-{}: {n} messages titled {needle:?}", inc.n);
        }
        let question_posts = kept
            .iter()
            .filter(|b| custom_ids(b).iter().any(|c| c.starts_with("ans:")))
            .count();
        assert_eq!(
            question_posts,
            inc.questions.div_ceil(5),
            "INC-{}: question messages",
            inc.n
        );
        // Within one process the bot repeats a post only when it could not know it went out
        // (the answer was lost): a retried effect skips the messages it saw posted.
        for (nonce, bodies) in &posts {
            let lost = bodies[..bodies.len() - 1].iter().filter(|b| b.1).count();
            assert!(
                bodies.len() - 1 <= lost,
                "INC-{}: nonce {nonce} posted {} times after {lost} lost answers",
                inc.n,
                bodies.len()
            );
        }
        // (Interaction replies in the thread are not the outbox's: they have a webhook id.)
        let stored: Vec<Value> = fake
            .messages_in(inc.thread)
            .into_iter()
            .filter(|m| m["webhook_id"].is_null())
            .collect();
        let mut identities: Vec<String> = stored.iter().map(identity).collect();
        identities.sort();
        let before = identities.len();
        identities.dedup();
        assert_eq!(
            identities.len(),
            before,
            "INC-{}: a message twice in the thread: {:?}",
            inc.n,
            stored.iter().map(identity).collect::<Vec<_>>()
        );
    }
    eprintln!(
        "{injected} faults injected over {} requests; settled in {:?}",
        requests.len(),
        started.elapsed()
    );
    fake.assert_clean();
}

/// Discord makes the thread and posts the first message, but the bot never hears back (a
/// timeout after Discord acted). The bot finds the thread among the guild's active threads
/// instead of making a second one, and the repeated post is answered by Discord's nonce check:
/// the thread shows each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_lost_after_discord_acted_make_nothing_twice() {
    let (fake, _dirs, bot) = bot::start_fresh(&[]).await;
    fake.set_faults(
        Faults::always(FaultKind::LoseResponse)
            .only(&["POST /channels/*/threads"])
            .times(1),
    );
    let a = open(&fake, "T1583.006", "Lost thread answer", 3).await;
    question_message(&fake, &a, 3).await;
    let lookups = fake.requests_matching("GET", "/guilds/*/threads/active");
    assert!(!lookups.is_empty(), "the bot asked for the active threads");
    let made = fake
        .requests_matching("POST", "/channels/*/threads")
        .into_iter()
        .filter(|r| r.status == 201)
        .count();
    assert_eq!(made, 1, "one thread for INC-{}", a.n);

    // Now the first post into the thread is carried out with its answer lost.
    fake.set_faults(
        Faults::always(FaultKind::LoseResponse)
            .only(&["POST /channels/*/messages"])
            .times(1),
    );
    press(&fake, &a, 1, "c").await;
    // The message is there at once; the bot, not knowing, sends it again after its back-off.
    settle(&fake, "the lost post sent again", || {
        posts_by_nonce(&fake, a.thread)
            .values()
            .any(|b| b.len() > 1)
    })
    .await;
    let posts = posts_by_nonce(&fake, a.thread);
    let repeated: Vec<&String> = posts
        .iter()
        .filter(|(_, b)| b.len() > 1)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(repeated.len(), 1, "the lost post was sent again: {posts:?}");
    assert!(posts[repeated[0]][0].1, "its first answer was the lost one");
    let decisions = fake
        .messages_in(a.thread)
        .iter()
        .filter(|m| titles(m).iter().any(|t| t.contains("escalate to Tier 2")))
        .count();
    assert_eq!(decisions, 1, "Discord's nonce check kept one");

    fake.clear_faults();
    bot.stop().await.unwrap();
    fake.assert_clean();
}

/// The questions go out with their answer lost, again and again, while the incident is answered
/// and closed; then Discord answers. The retry sends under each nonce the message the first
/// attempt sent (Discord keeps the first and answers with it), then brings it up to date: the
/// closed incident's question message shows the answer and no buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_retried_after_close_send_the_same_message_then_update_it() {
    let (fake, _dirs, bot) = bot::start_fresh(&[]).await;
    fake.set_faults(Faults::always(FaultKind::LoseResponse).only(&["POST /channels/*/messages"]));
    let a = open(&fake, "T1583.006", "Closed before its questions landed", 3).await;
    press(&fake, &a, 1, "k").await;
    command(
        &fake,
        &a,
        "close",
        json!([opt_str("resolution", "benign"), opt_str("summary", "test")]),
        T2_ROLE,
    )
    .await;
    fake.clear_faults();
    settle(
        &fake,
        "the closed incident's questions without buttons",
        || {
            fake.messages_in(a.thread).iter().any(|m| {
                titles(m).iter().any(|t| t == "Analysis questions")
                    && m["embeds"].to_string().contains("**Clear** — ")
                    && custom_ids(m).is_empty()
            })
        },
    )
    .await;
    for (nonce, bodies) in posts_by_nonce(&fake, a.thread) {
        for (other, _) in bodies.iter().skip(1) {
            assert_eq!(
                identity(other),
                identity(&bodies[0].0),
                "nonce {nonce} reused for another message"
            );
        }
    }
    bot.stop().await.unwrap();
}
