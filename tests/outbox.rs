//! The outbox and the paging deadlines, whole bot: one bad record or one slow call never stops
//! the rest. Unreadable outbox entries and timers are set aside and counted while paging goes
//! on; a black-holed Discord route holds up only its own incident; effects that keep failing
//! become dead letters that `socbot outbox` lists, retries and drops beside the running bot.

mod support;

use std::time::Duration;

use serde_json::json;
use socbot::effects::{Effect, OutboxEntry};
use socbot::incident::{Event, EventKind};
use socbot::store::{Batch, Lane, NewEffect, Store};
use support::bot::{self, Bot, BotDirs, L1_ROLE};
use support::discord::FakeDiscord;
use support::discord::faults::{FaultKind, Faults};
use support::discord::payloads::{Interaction, opt_int, opt_str};
use support::discord::state::RecordedRequest;

const PRIMARY: u64 = 1_400_000_000_000_000_001;
const ANALYST: u64 = 1_400_000_000_000_000_050;

fn settings<'a>(more: &[(&'a str, &str)]) -> Vec<(&'a str, String)> {
    let mut out = vec![
        ("SOCBOT__ONCALL__ROSTER", PRIMARY.to_string()),
        ("SOCBOT__HTTP__LISTEN", "127.0.0.1:0".to_owned()),
    ];
    out.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
    out
}

async fn start(fake: &FakeDiscord, dirs: &BotDirs, more: &[(&str, &str)]) -> (Bot, String) {
    let config = bot::config(fake, dirs, &settings(more));
    let bound = config.http.bound.clone();
    let bot = Bot::start_with(fake, config).await;
    let addr = bound
        .get()
        .expect("the health listener is bound once the bot is up");
    (bot, format!("{addr}"))
}

fn open(title: &str) -> Interaction {
    Interaction::subcommand(
        "incident",
        "open",
        json!([opt_str("technique", "T1583.006"), opt_str("title", title)]),
    )
    .user(ANALYST)
    .roles(&[L1_ROLE])
}

fn concerning(thread: u64) -> Interaction {
    Interaction::subcommand(
        "incident",
        "answer",
        json!([opt_int("question", 1), opt_str("finding", "concerning")]),
    )
    .user(ANALYST)
    .roles(&[L1_ROLE])
    .channel(thread)
}

/// Opens an incident titled `title` as the L1 analyst and waits until its last question
/// (q3 of T1583.006) is posted in its thread; returns the thread.
async fn opened_with_questions(fake: &FakeDiscord, title: &str) -> u64 {
    assert_eq!(fake.interact(open(title)).await["type"], 4);
    let thread = thread_of(fake, title).await;
    questions_posted(fake, thread, "ans:1:3:c").await;
    thread
}

/// Waits until a question message carrying the button `custom_id` is posted in `thread`.
async fn questions_posted(fake: &FakeDiscord, thread: u64, custom_id: &str) {
    let (questions, custom_id) = (format!("/channels/{thread}/messages"), custom_id.to_owned());
    fake.wait_for(
        move |r| r.path == questions && r.status < 300 && r.json().to_string().contains(&custom_id),
        Duration::from_secs(20),
    )
    .await;
}

/// Waits for the thread of the incident titled `title`; returns its id.
async fn thread_of(fake: &FakeDiscord, title: &str) -> u64 {
    let title = title.to_owned();
    let req = fake
        .wait_for(
            move |r| {
                r.method == "POST"
                    && r.path.ends_with("/threads")
                    && r.status < 300
                    && r.json()["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(&title))
            },
            Duration::from_secs(20),
        )
        .await;
    req.response.as_ref().unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits for a message in `thread` whose content or embed contains `text`.
async fn message_in(fake: &FakeDiscord, thread: u64, text: &str) -> RecordedRequest {
    let path = format!("/channels/{thread}/messages");
    let text = text.to_owned();
    fake.wait_for(
        move |r| r.method == "POST" && r.path == path && r.status < 300 && says(r, &text),
        Duration::from_secs(20),
    )
    .await
}

fn says(r: &RecordedRequest, text: &str) -> bool {
    let body = r.json();
    body["content"].as_str().is_some_and(|c| c.contains(text))
        || body["embeds"][0]["description"]
            .as_str()
            .is_some_and(|c| c.contains(text))
}

fn metrics(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// One record in the outbox, one timer and one event that this build cannot decode (a newer
/// socbot's, a rollback, a bug), the event's incident with an effect and a paging deadline
/// queued ahead of everyone else's. Paging and delivery go on for every incident; the
/// unreadable records are set aside and counted, and the rest of that incident's history
/// reads on (its notice goes out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_records_are_set_aside_and_paging_goes_on() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, _) = start(&fake, &dirs, &[]).await;
    assert_eq!(fake.interact(open("Poisoned")).await["type"], 4);
    let poisoned_thread = thread_of(&fake, "Poisoned").await;
    assert_eq!(fake.interact(open("Healthy")).await["type"], 4);
    let healthy = thread_of(&fake, "Healthy").await;
    bot.stop().await.unwrap();

    // Offline, what another version or a bug could leave behind.
    {
        let store = Store::open(&dirs.store).unwrap();
        let due = chrono::Utc::now().timestamp_millis() - 60_000;
        let lane = Lane {
            incident: 2,
            kind: 0,
        };
        let notice = Effect::PostNotice {
            incident: 1,
            text: "for the poisoned incident".into(),
        };
        store
            .commit_blocking(Batch {
                // INC-1's history gains a record that does not decode.
                events: vec![(1, b"\x00 not an event".to_vec())],
                effects: vec![
                    OutboxEntry::encode(notice),
                    // Ahead of INC-2's own effects, in its lane: an entry that does not decode.
                    NewEffect {
                        lane,
                        coalesce: false,
                        single: false,
                        json: br#"{"effect":{"type":"hologram","incident":2}}"#.to_vec(),
                    },
                ],
                timers: vec![
                    // A timer whose record does not decode, due first.
                    (due - 2_000, 99, 1, b"\x00 not a timer".to_vec()),
                    // INC-1's paging deadline, due before anyone else's.
                    (due - 1_000, 1, 1, b"{}".to_vec()),
                ],
                ..Batch::default()
            })
            .unwrap();
    }

    let (bot, addr) = start(&fake, &dirs, &[]).await;
    // INC-2 escalates: its page goes out, and so does a note posted after it.
    let r = fake.interact(concerning(healthy)).await;
    assert_eq!(r["type"], 4, "{r}");
    let page = message_in(&fake, healthy, "needs Tier 2").await;
    assert!(
        page.json()["content"]
            .as_str()
            .unwrap()
            .contains(&format!("<@{PRIMARY}>")),
        "{}",
        page.summary()
    );
    let note = Interaction::subcommand(
        "incident",
        "note",
        json!([
            opt_str("incident", "INC-2"),
            opt_str("text", "still delivered")
        ]),
    )
    .user(ANALYST)
    .roles(&[L1_ROLE]);
    assert_eq!(fake.interact(note).await["type"], 4);
    message_in(&fake, healthy, "still delivered").await;

    let text = metrics(&addr);
    assert!(
        metric(&text, "socbot_store_unreadable_total{tree=\"outbox\"}") >= 1,
        "{text}"
    );
    assert!(
        metric(&text, "socbot_store_unreadable_total{tree=\"timers\"}") >= 1,
        "{text}"
    );
    // The poisoned incident's unreadable event is left out; the rest of it reads, so its
    // notice goes out too.
    message_in(&fake, poisoned_thread, "for the poisoned incident").await;
    let text = metrics(&addr);
    assert!(
        metric(&text, "socbot_store_unreadable_total{tree=\"events\"}") >= 1,
        "{text}"
    );
    bot.stop().await.unwrap();
    let store = Store::open(&dirs.store).unwrap();
    assert_eq!(
        store.unreadable_count(),
        3,
        "all three set aside, not deleted"
    );
    drop(store);
    fake.assert_clean();
}

/// An event of a kind a newer socbot wrote is kept as an unknown event (the incident reads,
/// escalates and pages), and an on-call override this version cannot read is skipped and
/// counted, kept as stored, and stops neither `/oncall` nor paging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_event_kinds_and_unreadable_overrides_stop_no_page() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, _) = start(&fake, &dirs, &[]).await;
    assert_eq!(fake.interact(open("From the future")).await["type"], 4);
    let newer = thread_of(&fake, "From the future").await;
    bot.stop().await.unwrap();
    {
        let store = Store::open(&dirs.store).unwrap();
        let event = json!({
            "at": "2026-11-23T10:00:00Z",
            "actor": {"id": 0, "name": "socbot"},
            "kind": {"type": "hologram_projected", "beam": 3}
        });
        store
            .commit_blocking(Batch {
                events: vec![(1, event.to_string().into_bytes())],
                ..Batch::default()
            })
            .unwrap();
        store
            .save_json(
                "oncall_overrides",
                &json!([{"user": "not a user", "hologram": true}]),
            )
            .await
            .unwrap();
    }
    let (bot, addr) = start(&fake, &dirs, &[]).await;
    let oncall = fake
        .interact(Interaction::slash_command("oncall", json!([])).roles(&[L1_ROLE]))
        .await;
    assert_eq!(oncall["type"], 4, "{oncall}");
    assert!(
        oncall.to_string().contains(&PRIMARY.to_string()),
        "{oncall}"
    );
    let r = fake.interact(concerning(newer)).await;
    assert_eq!(r["type"], 4, "{r}");
    assert!(!r.to_string().contains("cannot be read"), "{r}");
    message_in(&fake, newer, "needs Tier 2").await;
    let export = Interaction::subcommand("incident", "status", json!([]))
        .user(ANALYST)
        .roles(&[L1_ROLE])
        .channel(newer);
    let status = fake.interact(export).await;
    assert_eq!(status["type"], 4, "{status}");
    let text = metrics(&addr);
    assert!(
        metric(
            &text,
            "socbot_store_unreadable_total{tree=\"oncall_overrides\"}"
        ) >= 1,
        "{text}"
    );
    bot.stop().await.unwrap();
    let store = Store::open(&dirs.store).unwrap();
    let raw = store.events_raw(1).unwrap();
    assert!(
        raw.iter()
            .any(|e| String::from_utf8_lossy(e).contains("hologram_projected")),
        "the newer event is kept as it was"
    );
    let kept: serde_json::Value = store.load_json("oncall_overrides").unwrap().unwrap();
    assert!(kept.to_string().contains("hologram"), "{kept}");
    drop(store);
    fake.assert_clean();
}

/// Discord accepts the connection for one incident's thread posts and never answers (a request
/// timeout far longer than the test): every other incident still gets its thread, questions
/// and page, because lanes are delivered concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_thread_delays_only_its_own_incident() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, _) = start(
        &fake,
        &dirs,
        &[("SOCBOT__DISCORD__REQUEST_TIMEOUT_SECS", "300")],
    )
    .await;
    assert_eq!(fake.interact(open("Black hole")).await["type"], 4);
    let hung = thread_of(&fake, "Black hole").await;
    fake.set_faults(
        Faults::always(FaultKind::Hang).only(&[&format!("POST /channels/{hung}/messages")]),
    );
    assert_eq!(fake.interact(concerning(hung)).await["type"], 4);
    for title in ["Second", "Third"] {
        assert_eq!(fake.interact(open(title)).await["type"], 4);
        let thread = thread_of(&fake, title).await;
        assert_eq!(fake.interact(concerning(thread)).await["type"], 4);
        message_in(&fake, thread, "needs Tier 2").await;
    }
    fake.clear_faults();
    bot.stop().await.unwrap();
}

fn outbox_cli(dirs: &BotDirs, args: &[&str]) -> (bool, String) {
    let out = support::cli::socbot_command(&[])
        .arg("outbox")
        .args(args)
        .env("SOCBOT__STORE__PATH", &dirs.store)
        .env("SOCBOT__PLAYBOOKS__DIR", &dirs.playbooks)
        .output()
        .expect("socbot outbox");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The first number in `text` after `INC-n`'s line start (the dead letter's id).
fn dead_letter_id(list: &str) -> u64 {
    list.lines()
        .find(|l| l.contains("post_notice"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no dead letter listed:\n{list}"))
}

/// A post that keeps failing past `outbox.dead_letter_after` becomes a dead letter: noted on
/// the incident, on /metrics, in `socbot outbox list` beside the running bot; `retry` delivers
/// it once Discord works, `drop` deletes one for good. The incident's later effects never wait
/// behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_failing_too_long_become_dead_letters_to_retry_or_drop() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, addr) = start(&fake, &dirs, &[("SOCBOT__OUTBOX__DEAD_LETTER_AFTER", "1")]).await;
    // Its last question (q3 of T1583.006) is posted before the faults begin.
    let thread = opened_with_questions(&fake, "Refused").await;
    // Every post in its thread fails from now on.
    fake.set_faults(
        Faults::always(FaultKind::Status500).only(&[&format!("POST /channels/{thread}/messages")]),
    );
    let note = |text: &str| {
        Interaction::subcommand(
            "incident",
            "note",
            json!([opt_str("incident", "INC-1"), opt_str("text", text)]),
        )
        .user(ANALYST)
        .roles(&[L1_ROLE])
    };
    assert_eq!(fake.interact(note("doomed one")).await["type"], 4);
    // Wait until it is a dead letter (retries with back-off for at least a second).
    let mut waited = 0;
    let list = loop {
        let (ok, list) = outbox_cli(&dirs, &["list"]);
        assert!(ok, "{list}");
        if list.contains("post_notice") {
            break list;
        }
        waited += 1;
        assert!(waited < 400, "never a dead letter:\n{list}");
        fake.wait_change(Duration::from_millis(100)).await;
    };
    assert!(list.contains("INC-1"), "{list}");
    assert!(list.contains("still failing"), "{list}");
    let text = metrics(&addr);
    assert_eq!(metric(&text, "socbot_outbox_dead_letters"), 1, "{text}");

    // Discord works again: a retry beside the running bot delivers it.
    fake.clear_faults();
    let id = dead_letter_id(&list);
    let (ok, said) = outbox_cli(&dirs, &["retry", &id.to_string()]);
    assert!(ok && said.contains("queued again"), "{said}");
    message_in(&fake, thread, "doomed one").await;
    let (ok, list) = outbox_cli(&dirs, &["list"]);
    assert!(ok && list.contains("0 dead letter(s)"), "{list}");

    // Another one, dropped for good; an unknown number is refused by name.
    fake.set_faults(
        Faults::always(FaultKind::Status500).only(&[&format!("POST /channels/{thread}/messages")]),
    );
    assert_eq!(fake.interact(note("doomed two")).await["type"], 4);
    let list = loop {
        let (_, list) = outbox_cli(&dirs, &["list"]);
        if list.contains("post_notice") {
            break list;
        }
        fake.wait_change(Duration::from_millis(100)).await;
    };
    fake.clear_faults();
    let id = dead_letter_id(&list);
    let (ok, said) = outbox_cli(&dirs, &["drop", &id.to_string()]);
    assert!(ok && said.contains("dropped"), "{said}");
    let (ok, said) = outbox_cli(&dirs, &["retry", &id.to_string()]);
    assert!(
        !ok && said.contains(&format!("no dead letter {id}")),
        "{said}"
    );
    bot.stop().await.unwrap();
    // The incident's timeline says what could not be posted.
    let store = Store::open(&dirs.store).unwrap();
    let events: Vec<Event> = store.events(1).unwrap();
    assert!(
        events.iter().any(
            |e| matches!(&e.kind, EventKind::NoteAdded { text } if text.contains("dead letter"))
        ),
        "{events:#?}"
    );
    drop(store);
    fake.assert_clean();
}

/// Posts Discord refuses for good (403 Missing Permissions, 404 Unknown Channel) become dead
/// letters at once, without waiting for `outbox.dead_letter_after`: listed by `socbot outbox
/// list` beside the running bot, counted on /metrics; the incident's next post and another
/// incident go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_refused_for_good_become_dead_letters_at_once_and_the_rest_goes_on() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    // The default dead_letter_after (an hour): only the refusals can make these dead letters.
    let (bot, addr) = start(&fake, &dirs, &[]).await;
    let thread = opened_with_questions(&fake, "Forbidden").await;
    let note = |text: &str| {
        Interaction::subcommand(
            "incident",
            "note",
            json!([opt_str("incident", "INC-1"), opt_str("text", text)]),
        )
        .user(ANALYST)
        .roles(&[L1_ROLE])
    };
    let posts = format!("POST /channels/{thread}/messages");
    for (kind, n, text) in [
        (FaultKind::Status403, 1, "refused by permission"),
        (FaultKind::Status404, 2, "refused as unknown"),
    ] {
        fake.set_faults(Faults::always(kind).only(&[&posts]).times(1));
        assert_eq!(fake.interact(note(text)).await["type"], 4);
        let mut waited = 0;
        let list = loop {
            let (ok, list) = outbox_cli(&dirs, &["list"]);
            assert!(ok, "{list}");
            if list.matches("post_notice").count() == n {
                break list;
            }
            waited += 1;
            assert!(waited < 400, "never {n} dead letter(s):\n{list}");
            fake.wait_change(Duration::from_millis(100)).await;
        };
        assert!(list.contains("INC-1") && list.contains("refused"), "{list}");
    }
    let (_, list) = outbox_cli(&dirs, &["list"]);
    assert!(list.contains("Missing Permissions"), "{list}");
    assert!(list.contains("Unknown Channel"), "{list}");
    let text = metrics(&addr);
    assert_eq!(metric(&text, "socbot_outbox_dead_letters"), 2, "{text}");
    assert!(
        metric(&text, "socbot_outbox_dropped_total{effect=\"post_notice\"}") >= 2,
        "{text}"
    );

    // The rest goes on: the incident's next post, and another incident from its start.
    assert_eq!(fake.interact(note("after the refusals")).await["type"], 4);
    message_in(&fake, thread, "after the refusals").await;
    assert_eq!(fake.interact(open("Next one")).await["type"], 4);
    let next = thread_of(&fake, "Next one").await;
    questions_posted(&fake, next, "ans:2:1:c").await;
    bot.stop().await.unwrap();
    fake.assert_clean();
}

/// A press on one of `thread`'s question messages of INC-`n`: question `q`, finding `code` (c, k
/// or u), by `name`.
fn press(
    fake: &FakeDiscord,
    thread: u64,
    n: u64,
    (q, code, name): (usize, &str, &str),
) -> Interaction {
    let message = support::incidents::question_message(fake, thread, n, q)
        .unwrap_or_else(|| panic!("INC-{n} has no message with q{q}'s buttons"));
    let user = ANALYST + 100 + name.len() as u64 * 7 + q as u64;
    Interaction::button(&format!("ans:{n}:{q}:{code}"), &message)
        .user(user)
        .username(name)
        .roles(&[L1_ROLE])
        .channel(thread)
}

/// Racing presses on one incident (each answered with a type 7 update of its message, which
/// Discord may apply in either order) are settled by one refresh made after them: a burst of
/// presses leaves ONE settling refresh waiting in the outbox, not one per press, and that refresh
/// shows every answer. The outbox's one lane is held by a black-holed post of another incident
/// meanwhile, so nothing is delivered during the burst whatever the machine's speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_presses_leaves_one_settling_refresh_that_shows_every_answer() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, _) = start(
        &fake,
        &dirs,
        &[
            ("SOCBOT__OUTBOX__CONCURRENCY", "1"),
            ("SOCBOT__DISCORD__REQUEST_TIMEOUT_SECS", "8"),
        ],
    )
    .await;
    let thread = opened_with_questions(&fake, "Burst").await;
    let held = {
        assert_eq!(fake.interact(open("Held")).await["type"], 4);
        let held = thread_of(&fake, "Held").await;
        let questions = format!("/channels/{held}/messages");
        fake.wait_for(
            move |r| r.path == questions && r.json().to_string().contains("ans:2:3:c"),
            Duration::from_secs(20),
        )
        .await;
        // INC-2's next post hangs until the bot's request timeout: the one lane is busy.
        let posts = format!("POST /channels/{held}/messages");
        fake.set_faults(Faults::always(FaultKind::Hang).only(&[&posts]));
        let note = Interaction::subcommand(
            "incident",
            "note",
            json!([opt_str("incident", "INC-2"), opt_str("text", "held up")]),
        )
        .user(ANALYST)
        .roles(&[L1_ROLE]);
        assert_eq!(fake.interact(note).await["type"], 4);
        let path = format!("/channels/{held}/messages");
        fake.wait_for(
            move |r| r.path == path && r.fault.is_some(),
            Duration::from_secs(20),
        )
        .await;
        held
    };
    let waiting = || {
        let (ok, list) = outbox_cli(&dirs, &["list"]);
        assert!(ok, "{list}");
        let n = list
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok());
        n.unwrap_or_else(|| panic!("no count of waiting effects:\n{list}"))
    };
    let held_up = waiting();
    let before = fake.requests().len() as u64;

    // Two waves of analysts pressing at once, each press a change; the rule, q1 or (q2 and q3),
    // stays pending whichever order they land in (so no decision is posted meanwhile).
    let waves: [&[(usize, &str, &str)]; 2] = [
        &[(1, "u", "alice"), (2, "c", "bob"), (3, "k", "carol")],
        &[(2, "u", "dave"), (3, "u", "erin")],
    ];
    for wave in waves {
        let mut sent = Vec::new();
        for &p in wave {
            sent.push(fake.send_interaction(press(&fake, thread, 1, p)).await.0);
        }
        for id in sent {
            let update = fake.interaction_response(id).await;
            assert_eq!(update["type"], 7, "{update}");
        }
    }
    // Five answers on disk, one settling refresh waiting (beside the held post).
    assert_eq!(
        waiting(),
        held_up + 1,
        "five presses, one settling refresh waiting"
    );

    // Once the lane is free, the refresh edits the questions with every answer.
    fake.clear_faults();
    let edits = format!("/channels/{thread}/messages/*");
    let edit = fake
        .wait_for(
            |r| r.seq > before && r.is("PATCH", &edits) && r.status == 200,
            Duration::from_secs(30),
        )
        .await;
    let shown = support::incidents::embeds_text(edit.json());
    for who in ["alice", "dave", "erin"] {
        assert!(
            shown.contains(&format!("**Unknown** — {who} at ")),
            "{who}:\n{shown}"
        );
    }
    message_in(&fake, held, "held up").await;
    // The questions as Discord holds them show every answer; one edit per message, not per press.
    let stored: String = fake
        .messages_in(thread)
        .iter()
        .filter(|m| {
            support::incidents::custom_ids(m)
                .iter()
                .any(|c| c.starts_with("ans:1:"))
        })
        .map(support::incidents::embeds_text)
        .collect();
    for who in ["alice", "dave", "erin"] {
        assert!(
            stored.contains(&format!("**Unknown** — {who} at ")),
            "{who}:\n{stored}"
        );
    }
    let patched = fake
        .requests()
        .into_iter()
        .filter(|r| r.seq > before && r.is("PATCH", &edits))
        .count();
    let messages = fake
        .messages_in(thread)
        .iter()
        .filter(|m| {
            support::incidents::custom_ids(m)
                .iter()
                .any(|c| c.starts_with("ans:1:"))
        })
        .count();
    assert_eq!(patched, messages, "one settling edit per question message");
    bot.stop().await.unwrap();
    fake.assert_clean();
}
