//! Paging Tier 2, whole bot: the real daemon against the loopback Discord, with a manual clock
//! so acknowledgement deadlines pass without waiting. Escalate → page the primary with exactly
//! their mention and an Acknowledge button, a DM, a webhook body → no ack → re-page → secondary
//! → fallback role → the chain stops; an acknowledgement stops it at once; a restart between
//! steps neither skips nor repeats one; a failing webhook is retried.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use socbot::clock::{Clock, ManualClock};
use support::bot::{self, Bot, BotDirs, L1_ROLE, T2_ROLE};
use support::discord::FakeDiscord;
use support::discord::faults::{FaultKind, Faults};
use support::discord::payloads::{Interaction, opt_int, opt_str};
use support::discord::state::RecordedRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PRIMARY: u64 = 1_400_000_000_000_000_001;
const SECONDARY: u64 = 1_400_000_000_000_000_002;
const ROLE: u64 = 1_400_000_000_000_000_099;
const ANALYST: u64 = 1_400_000_000_000_000_050;
const LEAD: u64 = 1_400_000_000_000_000_060;
const TIMEOUT: Duration = Duration::from_secs(600);

fn start_time() -> DateTime<Utc> {
    // A Monday 10:00 UTC: hand-offs are Mondays 09:00, so PRIMARY (first in the roster, start
    // 2026-01-05) holds shift 46 → roster[46 % 2] = PRIMARY.
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .to_utc()
}

/// A webhook receiver on loopback that records bodies and fails the first `fail` requests.
#[derive(Clone)]
struct Sink {
    bodies: Arc<Mutex<Vec<Value>>>,
    attempts: Arc<Mutex<u32>>,
    /// How many bodies were accepted, to wait on.
    accepted: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for Sink {
    fn default() -> Self {
        Self {
            bodies: Arc::default(),
            attempts: Arc::default(),
            accepted: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

impl Sink {
    /// Waits until `n` bodies were accepted (the pager has its own lane in the outbox, with its
    /// own back-off: it may trail the Discord pages).
    async fn wait_bodies(&self, n: usize) -> Vec<Value> {
        let mut rx = self.accepted.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|&k| k >= n)).await;
        let bodies = self.bodies.lock().unwrap().clone();
        assert!(
            waited.is_ok(),
            "only {} webhook bodies: {bodies:#?}",
            bodies.len()
        );
        bodies
    }
}

async fn webhook_sink(fail: u32) -> (String, Sink) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v2/enqueue", listener.local_addr().unwrap());
    let sink = Sink::default();
    let s = sink.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break body[..len].to_owned();
                        }
                    }
                };
                let attempt = {
                    let mut a = s.attempts.lock().unwrap();
                    *a += 1;
                    *a
                };
                let status = if attempt <= fail {
                    "500 Internal Server Error"
                } else {
                    "202 Accepted"
                };
                if attempt > fail {
                    let count = {
                        let mut bodies = s.bodies.lock().unwrap();
                        bodies.push(serde_json::from_str(&body).unwrap());
                        bodies.len()
                    };
                    s.accepted.send_replace(count);
                }
                let reply =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, sink)
}

struct World {
    fake: FakeDiscord,
    dirs: BotDirs,
    clock: Clock,
    manual: ManualClock,
    webhook: String,
    sink: Sink,
}

impl World {
    async fn new(webhook_failures: u32) -> Self {
        let fake = FakeDiscord::start().await;
        let dirs = BotDirs::new(&[]);
        let (clock, manual) = Clock::manual(start_time());
        let (webhook, sink) = webhook_sink(webhook_failures).await;
        Self {
            fake,
            dirs,
            clock,
            manual,
            webhook,
            sink,
        }
    }

    async fn start(&self) -> Bot {
        self.start_with(&[]).await
    }

    /// Starts with more `SOCBOT__…` settings.
    async fn start_with(&self, more: &[(&str, String)]) -> Bot {
        let mut extra = vec![
            ("SOCBOT__ONCALL__ROSTER", format!("{PRIMARY},{SECONDARY}")),
            ("SOCBOT__ONCALL__FALLBACK_ROLE", ROLE.to_string()),
            (
                "SOCBOT__PAGING__ACK_TIMEOUT_SECS",
                TIMEOUT.as_secs().to_string(),
            ),
            ("SOCBOT__PAGING__REPEATS", "1".into()),
            ("SOCBOT__PAGING__WEBHOOK_URL", self.webhook.clone()),
            ("SOCBOT__PAGING__ROUTING_KEY", "test-routing-key".into()),
        ];
        extra.extend(more.iter().cloned());
        let config = bot::config(&self.fake, &self.dirs, &extra);
        Bot::start_with_clock(&self.fake, config, self.clock.clone()).await
    }

    /// Opens an incident and escalates it by answering q1 Concerning (the rule `q1 or …`).
    async fn escalated_incident(&self, title: &str) -> u64 {
        let thread = self.opened_incident(title).await;
        self.escalate(thread).await;
        thread
    }

    /// The SOC channel refuses the next post to it (403) for good.
    fn refuse_soc_once(&self) {
        let soc = format!("POST /channels/{}/messages", self.fake.channel_id());
        self.fake
            .set_faults(Faults::always(FaultKind::Status403).only(&[&soc]).times(1));
    }

    /// The notice in the SOC channel that INC-1's page reached nobody.
    async fn reached_nobody_notice(&self) -> RecordedRequest {
        let soc = format!("/channels/{}/messages", self.fake.channel_id());
        self.fake
            .wait_for(
                move |r| {
                    r.path == soc
                        && r.status < 300
                        && r.json()["content"]
                            .as_str()
                            .is_some_and(|c| c.contains("reached nobody") && c.contains("INC-1"))
                },
                Duration::from_secs(15),
            )
            .await
    }

    /// Opens an incident as the L1 analyst; returns its thread once Discord made it.
    async fn opened_incident(&self, title: &str) -> u64 {
        let open = Interaction::subcommand(
            "incident",
            "open",
            json!([opt_str("technique", "T1583.006"), opt_str("title", title)]),
        )
        .user(ANALYST)
        .roles(&[L1_ROLE]);
        let card = self.fake.interact(open).await;
        assert_eq!(card["type"], 4, "{card}");
        self.wait_thread(title).await
    }

    /// Answers q1 Concerning in `thread` as the L1 analyst, which escalates (`q1 or …`).
    async fn escalate(&self, thread: u64) {
        let answer = Interaction::subcommand(
            "incident",
            "answer",
            json!([opt_int("question", 1), opt_str("finding", "concerning")]),
        )
        .user(ANALYST)
        .roles(&[L1_ROLE])
        .channel(thread);
        let r = self.fake.interact(answer).await;
        assert_eq!(r["type"], 4, "{r}");
    }

    async fn wait_thread(&self, title: &str) -> u64 {
        let title = title.to_owned();
        let req = self
            .fake
            .wait_for(
                move |r| {
                    r.method == "POST"
                        && r.path.ends_with("/threads")
                        && r.status < 300
                        && r.json()["name"]
                            .as_str()
                            .is_some_and(|n| n.ends_with(&title))
                },
                Duration::from_secs(10),
            )
            .await;
        req.response.as_ref().unwrap()["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn pages_in(&self, thread: u64) -> Vec<RecordedRequest> {
        self.fake
            .requests_matching("POST", &format!("/channels/{thread}/messages"))
            .into_iter()
            .filter(|r| {
                r.status < 300
                    && r.json()["content"]
                        .as_str()
                        .is_some_and(|c| c.contains("needs Tier 2"))
            })
            .collect()
    }

    /// Waits for the shift hand-off post in the SOC channel.
    async fn wait_handoff_post(&self) -> RecordedRequest {
        let soc = format!("/channels/{}/messages", self.fake.channel_id());
        self.fake
            .wait_for(
                move |r| {
                    r.path == soc
                        && r.json()["content"]
                            .as_str()
                            .is_some_and(|c| c.contains("Shift hand-off"))
                },
                Duration::from_secs(10),
            )
            .await
    }

    /// Waits until the thread has `n` pages; returns the last.
    async fn wait_pages(&self, thread: u64, n: usize) -> RecordedRequest {
        let path = format!("/channels/{thread}/messages");
        self.fake
            .wait_for(
                move |r| {
                    r.method == "POST"
                        && r.path == path
                        && r.status < 300
                        && r.json()["content"]
                            .as_str()
                            .is_some_and(|c| c.contains("needs Tier 2"))
                },
                Duration::from_secs(10),
            )
            .await;
        let fake = self.fake.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pages = self.pages_in(thread);
            if pages.len() >= n {
                return pages[n - 1].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} pages: {:#?}",
                pages.len(),
                fake.requests()
                    .iter()
                    .map(RecordedRequest::summary)
                    .collect::<Vec<_>>()
            );
            fake.wait_change(Duration::from_millis(250)).await;
        }
    }
}

fn allowed(r: &RecordedRequest) -> Value {
    r.json()["allowed_mentions"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledgement_walks_the_whole_chain_and_each_step_reaches_the_webhook() {
    let w = World::new(1).await;
    let bot = w.start().await;
    let thread = w.escalated_incident("Unexplained cloud accounts").await;

    let first = w.wait_pages(thread, 1).await;
    let content = first.json()["content"].as_str().unwrap().to_owned();
    assert!(content.starts_with(&format!("<@{PRIMARY}>")), "{content}");
    assert_eq!(allowed(&first)["users"], json!([PRIMARY.to_string()]));
    assert_eq!(allowed(&first)["roles"], json!([]));
    assert_eq!(allowed(&first)["parse"], json!([]));
    let ack_button = &first.json()["components"][0]["components"][0];
    assert_eq!(ack_button["label"], "Acknowledge");
    // The DM with a link to the thread.
    let dm = w.fake.wait_for_request("POST", "/users/@me/channels").await;
    assert_eq!(dm.json()["recipient_id"], PRIMARY.to_string());

    w.manual.advance(TIMEOUT);
    let repage = w.wait_pages(thread, 2).await;
    assert!(
        repage.json()["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<@{PRIMARY}>"))
    );
    assert!(
        repage.json()["content"]
            .as_str()
            .unwrap()
            .contains("attempt 2")
    );

    w.manual.advance(TIMEOUT);
    let secondary = w.wait_pages(thread, 3).await;
    assert_eq!(allowed(&secondary)["users"], json!([SECONDARY.to_string()]));

    w.manual.advance(TIMEOUT);
    let role = w.wait_pages(thread, 4).await;
    assert_eq!(allowed(&role)["roles"], json!([ROLE.to_string()]));
    assert_eq!(allowed(&role)["users"], json!([]));

    w.manual.advance(TIMEOUT);
    let path = format!("/channels/{thread}/messages");
    w.fake
        .wait_for(
            move |r| r.path == path && r.json().to_string().contains("Nobody acknowledged"),
            Duration::from_secs(10),
        )
        .await;
    // Nothing more, however long we wait.
    w.manual.advance(TIMEOUT * 3);
    w.sink.wait_bodies(4).await;
    bot.stop().await.unwrap();
    assert_eq!(w.pages_in(thread).len(), 4, "exactly four pages");

    // One webhook body per page, same dedup key; the first attempt failed and was retried.
    let bodies = w.sink.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 4, "one body per page: {bodies:#?}");
    assert!(bodies.iter().all(|b| b["dedup_key"] == "socbot-INC-1"
        && b["event_action"] == "trigger"
        && b["routing_key"] == "test-routing-key"));
    assert!(
        *w.sink.attempts.lock().unwrap() >= 5,
        "the failed first delivery was retried"
    );
    w.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_stops_the_chain_and_makes_the_analyst_owner() {
    let w = World::new(0).await;
    let bot = w.start().await;
    let thread = w.escalated_incident("Beaconing to new VPS").await;
    let page = w.wait_pages(thread, 1).await;
    let message = page.response.clone().unwrap();

    // An L1 analyst cannot acknowledge; the T2 lead can, once.
    let refused = w
        .fake
        .interact(
            Interaction::button("ack:1", &message)
                .user(ANALYST)
                .roles(&[L1_ROLE]),
        )
        .await;
    assert_eq!(refused["data"]["flags"], 64, "{refused}");
    assert!(refused.to_string().contains("T2"), "{refused}");
    let ack = w
        .fake
        .interact(
            Interaction::button("ack:1", &message)
                .user(LEAD)
                .roles(&[T2_ROLE]),
        )
        .await;
    assert_eq!(ack["type"], 7, "{ack}");
    assert!(ack.to_string().contains("acknowledged"), "{ack}");
    let again = w
        .fake
        .interact(
            Interaction::button("ack:1", &message)
                .user(LEAD)
                .roles(&[T2_ROLE]),
        )
        .await;
    assert!(
        again.to_string().contains("already acknowledged"),
        "{again}"
    );

    w.manual.advance(TIMEOUT * 4);
    let status = w
        .fake
        .interact(
            Interaction::subcommand("incident", "status", json!([]))
                .channel(thread)
                .user(LEAD)
                .roles(&[T2_ROLE]),
        )
        .await;
    assert!(status.to_string().contains("Owner:"), "{status}");
    let bodies = w.sink.wait_bodies(2).await;
    bot.stop().await.unwrap();
    assert_eq!(
        w.pages_in(thread).len(),
        1,
        "no page after the acknowledgement"
    );
    assert_eq!(
        bodies
            .iter()
            .map(|b| b["event_action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["trigger", "acknowledge"]
    );
    w.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_dm_acknowledge_button_works_from_the_dm_and_nothing_else_does() {
    let w = World::new(0).await;
    let bot = w.start().await;
    let thread = w.escalated_incident("Session token replayed").await;
    w.wait_pages(thread, 1).await;
    let open_dm = w.fake.wait_for_request("POST", "/users/@me/channels").await;
    let dm_channel = open_dm.response.as_ref().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/channels/{dm_channel}/messages");
    let dm = w
        .fake
        .wait_for(
            move |r| r.method == "POST" && r.path == path && r.status < 300,
            Duration::from_secs(10),
        )
        .await;
    let message = dm.response.clone().unwrap();
    let button = &message["components"][0]["components"][0];
    assert_eq!(button["label"], "Acknowledge", "{message}");
    let press = || Interaction::button(button["custom_id"].as_str().unwrap(), &message).dm();

    // Someone Discord does not list in the SOC server is refused, privately.
    let stranger = w.fake.interact(press().user(PRIMARY)).await;
    assert_eq!(stranger["data"]["flags"], 64, "{stranger}");
    assert!(
        stranger.to_string().contains("member of the SOC server"),
        "{stranger}"
    );
    // Every other DM interaction is still refused: a command, another button.
    let command = w
        .fake
        .interact(
            Interaction::slash_command("oncall", json!([]))
                .dm()
                .user(PRIMARY),
        )
        .await;
    assert!(
        command.to_string().contains("only its own SOC server"),
        "{command}"
    );
    let other = w
        .fake
        .interact(
            Interaction::button("ans:1:1:c", &message)
                .dm()
                .user(PRIMARY),
        )
        .await;
    assert!(
        other.to_string().contains("only its own SOC server"),
        "{other}"
    );

    // The paged analyst, a T2 member of the server, acknowledges from the DM.
    w.fake.add_member(PRIMARY, &[T2_ROLE]);
    let ack = w.fake.interact(press().user(PRIMARY)).await;
    assert_eq!(ack["type"], 7, "{ack}");
    assert!(ack.to_string().contains("acknowledged"), "{ack}");
    let notice = format!("/channels/{thread}/messages");
    w.fake
        .wait_for(
            move |r| r.path == notice && r.json().to_string().contains("acknowledged by"),
            Duration::from_secs(10),
        )
        .await;
    w.manual.advance(TIMEOUT * 4);
    let status = w
        .fake
        .interact(
            Interaction::subcommand("incident", "status", json!([]))
                .channel(thread)
                .user(LEAD)
                .roles(&[T2_ROLE]),
        )
        .await;
    assert!(status.to_string().contains("Owner:"), "{status}");
    bot.stop().await.unwrap();
    assert_eq!(
        w.pages_in(thread).len(),
        1,
        "no page after the acknowledgement"
    );
    w.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_steps_neither_skips_nor_repeats_one() {
    let w = World::new(0).await;
    let bot = w.start().await;
    let thread = w.escalated_incident("Payment to VPS provider").await;
    w.wait_pages(thread, 1).await;
    bot.stop().await.unwrap();

    // The deadline passes while socbot is down; at start-up the overdue re-page fires once.
    w.manual.advance(TIMEOUT + Duration::from_secs(30));
    let bot = w.start().await;
    let repage = w.wait_pages(thread, 2).await;
    assert!(
        repage.json()["content"]
            .as_str()
            .unwrap()
            .contains("attempt 2")
    );
    // Its deadline counts from when it went out: the secondary is not paged at once.
    w.manual.advance(Duration::from_secs(60));
    bot.stop().await.unwrap();
    let pages = w.pages_in(thread);
    assert_eq!(
        pages.len(),
        2,
        "{:#?}",
        pages
            .iter()
            .map(|p| p.json()["content"].clone())
            .collect::<Vec<_>>()
    );
    // And after another start and the full timeout, the secondary.
    let bot = w.start().await;
    w.manual.advance(TIMEOUT);
    let secondary = w.wait_pages(thread, 3).await;
    assert_eq!(allowed(&secondary)["users"], json!([SECONDARY.to_string()]));
    bot.stop().await.unwrap();
    w.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hand_off_posts_who_is_on_call_and_the_incidents_still_running() {
    let w = World::new(0).await;
    let bot = w.start().await;
    w.escalated_incident("Still running at hand-off").await;
    // The next hand-off is Monday 2026-11-30 09:00 UTC, when SECONDARY takes over.
    w.manual.advance(Duration::from_secs(7 * 24 * 3600));
    let post = w.wait_handoff_post().await;
    let text = post.json()["content"].as_str().unwrap().to_owned();
    assert!(
        text.contains(&format!("On call now: <@{SECONDARY}>")),
        "{text}"
    );
    assert!(
        text.contains("Escalated (1)") && text.contains("INC-1 Still running at hand-off"),
        "{text}"
    );
    // Shown, never pinged.
    assert_eq!(allowed(&post)["users"], json!([]));
    assert_eq!(allowed(&post)["parse"], json!([]));
    bot.stop().await.unwrap();
    w.fake.assert_clean();
}

/// A pager webhook that stays down (every POST answers 500) holds back neither the page in the
/// thread nor the re-page: the pager has its own lane in the outbox, retried on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pager_that_stays_down_does_not_hold_back_the_discord_pages() {
    let w = World::new(u32::MAX).await;
    let bot = w.start().await;
    let thread = w.escalated_incident("Pager outage").await;
    let first = w.wait_pages(thread, 1).await;
    assert_eq!(allowed(&first)["users"], json!([PRIMARY.to_string()]));
    w.manual.advance(TIMEOUT);
    let repage = w.wait_pages(thread, 2).await;
    assert!(
        repage.json()["content"]
            .as_str()
            .unwrap()
            .contains("attempt 2")
    );
    bot.stop().await.unwrap();
    assert!(*w.sink.attempts.lock().unwrap() >= 1, "the pager was tried");
    assert!(
        w.sink.bodies.lock().unwrap().is_empty(),
        "and never accepted"
    );
    // The bodies wait in the outbox, without the routing key (a secret): neither the store nor
    // a backup of it holds it.
    let store = socbot::store::Store::open(&w.dirs.store).unwrap();
    assert!(
        store.outbox_len() > 0,
        "the webhook bodies wait in the outbox"
    );
    for (tree, items) in store.export_trees().unwrap().0 {
        for (k, v) in items {
            assert!(
                !String::from_utf8_lossy(&v).contains("test-routing-key"),
                "the routing key is stored in {}: {}",
                String::from_utf8_lossy(&tree),
                String::from_utf8_lossy(&k)
            );
        }
    }
    drop(store);
    w.fake.assert_clean();
}

/// The hand-off time is changed in the configuration between two runs: the next hand-off post
/// follows the new time instead of the one armed before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_hand_off_time_moves_the_next_hand_off_post() {
    let w = World::new(0).await;
    let bot = w.start().await;
    bot.stop().await.unwrap();
    // It is Monday 10:00; with hand-offs at 18:00 the current shift ends today at 18:00.
    let bot = w
        .start_with(&[("SOCBOT__ONCALL__HANDOFF", "18:00".to_owned())])
        .await;
    w.manual.advance(Duration::from_secs(8 * 3600));
    let post = w.wait_handoff_post().await;
    assert!(post.status < 300, "{}", post.summary());
    bot.stop().await.unwrap();
    w.fake.assert_clean();
}

/// Discord black-holes every post in one incident's thread (the connection is accepted and
/// never answered): each call is abandoned after `discord.request_timeout_secs` and retried, and
/// another incident escalated meanwhile gets its thread, questions and page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_discord_route_holds_up_no_other_incident() {
    let w = World::new(0).await;
    let bot = w
        .start_with(&[("SOCBOT__DISCORD__REQUEST_TIMEOUT_SECS", "1".into())])
        .await;
    let open = |title: &str| {
        Interaction::subcommand(
            "incident",
            "open",
            json!([opt_str("technique", "T1583.006"), opt_str("title", title)]),
        )
        .user(ANALYST)
        .roles(&[L1_ROLE])
    };
    let answer = |thread: u64| {
        Interaction::subcommand(
            "incident",
            "answer",
            json!([opt_int("question", 1), opt_str("finding", "concerning")]),
        )
        .user(ANALYST)
        .roles(&[L1_ROLE])
        .channel(thread)
    };
    let card = w.fake.interact(open("Hung thread")).await;
    assert_eq!(card["type"], 4, "{card}");
    let hung = w.wait_thread("Hung thread").await;
    let hung_path = format!("/channels/{hung}/messages");
    w.fake
        .set_faults(Faults::always(FaultKind::Hang).only(&[&format!("POST {hung_path}")]));
    let r = w.fake.interact(answer(hung)).await;
    assert_eq!(r["type"], 4, "{r}");

    let card = w.fake.interact(open("Healthy thread")).await;
    assert_eq!(card["type"], 4, "{card}");
    let healthy = w.wait_thread("Healthy thread").await;
    let r = w.fake.interact(answer(healthy)).await;
    assert_eq!(r["type"], 4, "{r}");
    let page = w.wait_pages(healthy, 1).await;
    assert_eq!(allowed(&page)["users"], json!([PRIMARY.to_string()]));

    // The hung call was given up and tried again, not waited on for ever.
    let path = hung_path.clone();
    w.fake
        .wait_for(
            move |r| r.path == path && r.fault == Some(FaultKind::Hang) && r.seq > page.seq,
            Duration::from_secs(10),
        )
        .await;
    // Once Discord answers again, the hung incident's page goes out too.
    w.fake.clear_faults();
    w.wait_pages(hung, 1).await;
    bot.stop().await.unwrap();
    w.fake.assert_clean();
}

/// The incident's thread is locked by a moderator before the escalation: the page's DM still
/// goes out, and the page with its Acknowledge button is posted in the SOC channel instead, for
/// every step of the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_thread_still_lets_the_page_reach_its_person() {
    let w = World::new(0).await;
    let bot = w.start().await;
    let title = "Thread locked by a moderator";
    let thread = w.opened_incident(title).await;
    w.fake.lock_thread(thread);
    w.escalate(thread).await;

    let soc = format!("/channels/{}/messages", w.fake.channel_id());
    let soc_page = |attempt: &'static str| {
        let soc = soc.clone();
        move |r: &RecordedRequest| {
            r.method == "POST"
                && r.path == soc
                && r.status < 300
                && r.json()["content"].as_str().is_some_and(|c| {
                    c.contains("needs Tier 2") && c.contains(attempt) && c.contains("refused")
                })
        }
    };
    let dm_sent = |n: usize| {
        let fake = w.fake.clone();
        async move {
            fake.wait_for(
                move |r| {
                    r.method == "POST"
                        && r.status < 300
                        && r.json()["content"]
                            .as_str()
                            .is_some_and(|c| c.contains("You are paged"))
                        && r.json()["content"]
                            .as_str()
                            .is_some_and(|c| n == 1 || c.contains(&format!("attempt {n}")))
                },
                Duration::from_secs(10),
            )
            .await
        }
    };
    let dm = dm_sent(1).await;
    assert_eq!(
        Some(dm.path.clone()),
        w.fake
            .dm_channel_of(PRIMARY)
            .map(|c| format!("/channels/{c}/messages")),
        "the DM went to the primary"
    );
    let page = w
        .fake
        .wait_for(soc_page("page:"), Duration::from_secs(10))
        .await;
    assert!(
        page.json()["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<@{PRIMARY}>")),
        "{}",
        page.summary()
    );
    assert_eq!(allowed(&page)["users"], json!([PRIMARY.to_string()]));
    assert_eq!(
        page.json()["components"][0]["components"][0]["label"],
        "Acknowledge"
    );

    // The re-page takes the same two ways.
    w.manual.advance(TIMEOUT);
    dm_sent(2).await;
    w.fake
        .wait_for(soc_page("(attempt 2)"), Duration::from_secs(10))
        .await;
    bot.stop().await.unwrap();
    assert!(w.pages_in(thread).is_empty(), "nothing got into the thread");
    w.fake.assert_clean();
}

/// Every way into Discord refuses the page (the thread is locked, the SOC channel refuses it,
/// the primary's DMs are closed): that the page reached nobody is said in the SOC channel and
/// counted on /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_reached_nobody_is_said_in_the_soc_channel_and_counted() {
    let unreached = || {
        let m = socbot::metrics::render(&socbot::metrics::Gauges::default());
        m.lines()
            .find_map(|l| l.strip_prefix("socbot_pages_unreached_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .expect("socbot_pages_unreached_total is exported")
    };
    let before = unreached();
    let w = World::new(0).await;
    let bot = w.start().await;
    let title = "Nowhere to page";
    let thread = w.opened_incident(title).await;
    w.fake.lock_thread(thread);
    w.fake.close_dms(PRIMARY);
    // The SOC channel refuses the page once (the notice after it gets through).
    w.refuse_soc_once();
    w.escalate(thread).await;
    let notice = w.reached_nobody_notice().await;
    assert_eq!(allowed(&notice)["users"], json!([]), "said, pinging nobody");
    assert!(unreached() > before, "counted on /metrics");
    bot.stop().await.unwrap();
    w.fake.assert_clean();
}

/// The DM is refused, then the bot restarts while the thread mention hangs, and after the
/// restart the mention is refused too: the page reached nobody, and that is still said in the
/// SOC channel (the refusals are kept as dead letters, not in memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_the_refused_dm_and_the_refused_mention_still_says_reached_nobody() {
    let w = World::new(0).await;
    let bot = w.start().await;
    let title = "Refused twice, a restart between";
    let thread = w.opened_incident(title).await;
    w.fake.lock_thread(thread);
    w.fake.close_dms(PRIMARY);
    // The DM is refused at once; the mention, refused by the thread, hangs in the SOC channel.
    let soc = format!("/channels/{}/messages", w.fake.channel_id());
    w.fake
        .set_faults(Faults::always(FaultKind::Hang).only(&[&format!("POST {soc}")]));
    w.escalate(thread).await;
    w.fake
        .wait_for(
            |r| r.method == "POST" && r.path.starts_with("/channels/") && r.status == 403,
            Duration::from_secs(10),
        )
        .await;
    let hung = soc.clone();
    w.fake
        .wait_for(
            move |r| r.path == hung && r.fault == Some(FaultKind::Hang),
            Duration::from_secs(10),
        )
        .await;
    // Stopped with the DM's refusal recorded and the mention still in flight.
    bot.stop().await.unwrap();

    // After the restart the SOC channel refuses the mention too: no path is left.
    w.refuse_soc_once();
    let bot = w.start().await;
    let notice = w.reached_nobody_notice().await;
    assert_eq!(allowed(&notice)["users"], json!([]), "said, pinging nobody");
    bot.stop().await.unwrap();
    w.fake.assert_clean();
}

/// Putting someone on call needs the T2 role: an L1 analyst is refused privately, a T2 lead
/// is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_call_override_needs_tier_2() {
    let w = World::new(0).await;
    let bot = w.start().await;
    let over = |roles: &[u64]| {
        Interaction::slash_command(
            "oncall",
            json!([
                {"name": "override", "type": 6, "value": SECONDARY.to_string()},
                opt_int("hours", 2)
            ]),
        )
        .user(ANALYST)
        .roles(roles)
    };
    let refused = w.fake.interact(over(&[L1_ROLE])).await;
    assert_eq!(refused["data"]["flags"], 64, "private: {refused}");
    assert!(refused.to_string().contains("T2"), "{refused}");
    let set = w.fake.interact(over(&[T2_ROLE])).await;
    assert!(set.to_string().contains("is on call until"), "{set}");
    bot.stop().await.unwrap();
    w.fake.assert_clean();
}

/// `/oncall at:` (declared once, so Discord has it as the console does) says who is on call at
/// that time; a time that is no time gets a private answer saying how to write one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oncall_at_a_time_names_that_shift() {
    let w = World::new(0).await;
    let bot = w.start().await;
    let ask = |options: Value| {
        Interaction::slash_command("oncall", options)
            .user(ANALYST)
            .roles(&[L1_ROLE])
    };
    let first = |answer: &Value| {
        let text = answer.to_string();
        let at = |id: u64| text.find(&format!("<@{id}>")).unwrap_or(usize::MAX);
        assert!(at(PRIMARY).min(at(SECONDARY)) < usize::MAX, "{answer}");
        if at(PRIMARY) < at(SECONDARY) {
            PRIMARY
        } else {
            SECONDARY
        }
    };
    let now = w.fake.interact(ask(json!([]))).await;
    assert_eq!(first(&now), PRIMARY, "this week's shift: {now}");
    let next_week = ask(json!([opt_str("at", "2026-11-30T10:00:00Z")]));
    let then = w.fake.interact(next_week).await;
    assert_eq!(first(&then), SECONDARY, "next week's shift: {then}");
    let wrong = w
        .fake
        .interact(ask(json!([opt_str("at", "tomorrow")])))
        .await;
    assert_eq!(wrong["data"]["flags"], 64, "private: {wrong}");
    assert!(wrong.to_string().contains("is not a time like"), "{wrong}");
    bot.stop().await.unwrap();
    w.fake.assert_clean();
}
