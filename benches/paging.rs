//! Paging benchmark over loopback: time from the answer that escalates an incident to the page
//! reaching Discord (the thread mention), and the REST calls each page takes. Run with
//! `cargo bench --bench paging`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::bot::{self, Bot, BotDirs, L1_ROLE};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_int, opt_str};
use support::stats::{mean, percentile_rounded as percentile};

const ROUNDS: usize = 100;
const PRIMARY: u64 = 1_400_000_000_000_000_001;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let config = bot::config(
        &fake,
        &dirs,
        &[("SOCBOT__ONCALL__ROSTER", PRIMARY.to_string())],
    );
    let bot = Bot::start_with(&fake, config).await;
    let mut latencies = Vec::with_capacity(ROUNDS);
    let mut calls = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let title = format!("bench {i}");
        let open = Interaction::subcommand(
            "incident",
            "open",
            json!([opt_str("technique", "T1583.006"), opt_str("title", &title)]),
        )
        .roles(&[L1_ROLE]);
        fake.interact(open).await;
        let t = title.clone();
        let thread_req = fake
            .wait_for(
                move |r| {
                    r.path.ends_with("/threads")
                        && r.json()["name"].as_str().is_some_and(|n| n.ends_with(&t))
                },
                Duration::from_secs(10),
            )
            .await;
        let thread: u64 = thread_req.response.unwrap()["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let before = fake.requests().last().map_or(0, |r| r.seq);
        let answer = Interaction::subcommand(
            "incident",
            "answer",
            json!([opt_int("question", 1), opt_str("finding", "concerning")]),
        )
        .roles(&[L1_ROLE])
        .channel(thread);
        let started = Instant::now();
        fake.send_interaction(answer).await;
        let path = format!("/channels/{thread}/messages");
        fake.wait_for(
            move |r| {
                r.path == path
                    && r.json()["content"]
                        .as_str()
                        .is_some_and(|c| c.contains("needs Tier 2"))
            },
            Duration::from_secs(10),
        )
        .await;
        latencies.push(started.elapsed());
        // The DM follows the thread mention; count this page's calls once it is there.
        let dm_after = before;
        fake.wait_for(
            move |r| {
                r.seq > dm_after
                    && r.method == "POST"
                    && r.path.starts_with("/channels/")
                    && r.json()["content"]
                        .as_str()
                        .is_some_and(|c| c.contains("You are paged"))
            },
            Duration::from_secs(10),
        )
        .await;
        let page_calls = fake
            .requests()
            .iter()
            .filter(|r| r.seq > before)
            .filter(|r| {
                let c = r.json()["content"].as_str().unwrap_or_default().to_owned();
                c.contains("needs Tier 2")
                    || c.contains("You are paged")
                    || r.path == "/users/@me/channels"
            })
            .count();
        calls.push(page_calls);
    }
    bot.stop().await.unwrap();
    latencies.sort();
    let mean = mean(&latencies);
    println!(
        "escalating answer → page in the thread, {ROUNDS} incidents over loopback (durable writes included):"
    );
    println!(
        "  mean {:?}  p50 {:?}  p99 {:?}  max {:?}",
        mean,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    println!(
        "REST calls per page (thread mention + DM): first {}, later {} (DM channel cached)",
        calls[0],
        calls[ROUNDS - 1]
    );
    fake.assert_clean();
}
