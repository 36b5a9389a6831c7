//! Interaction-to-callback latency over loopback (`cargo bench --bench interactions`).
//!
//! Starts the real daemon against the Discord-compatible test server (`tests/support`), then
//! times, one at a time, 1,000 `/playbook T1583.006` commands and 1,000 autocomplete requests:
//! from dispatching INTERACTION_CREATE on the gateway to the fake having accepted the bot's
//! callback. That path includes the websocket, serenity's event parsing, the service, the
//! renderer, the HTTP callback and the fake's validation of the body against Discord's OpenAPI
//! spec (when `../shared/discord-api-spec` is there). The bot's own view is printed beside it:
//! its `interaction handled` log, from the event reaching its handler to the callback's 204
//! coming back (so it excludes the gateway leg and includes the response leg). A last run keeps
//! 8 interactions in flight to show throughput under concurrency; the test server does not set
//! TCP_NODELAY, so back-to-back gateway frames there can wait ~40 ms for a delayed ACK.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::bot;
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_str};
use support::stats::{self, HANDLED};

const N: usize = 1000;
const WARM_UP: usize = 50;
const IN_FLIGHT: usize = 8;

fn playbook() -> Interaction {
    Interaction::slash_command("playbook", json!([opt_str("technique", "T1583.006")]))
}

fn autocomplete() -> Interaction {
    Interaction::autocomplete("playbook", "technique", "web serv")
}

/// Sends `n` interactions one after the other; the latency of each.
async fn sequential(fake: &FakeDiscord, n: usize, make: fn() -> Interaction) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let (id, _) = fake.send_interaction(make()).await;
        fake.interaction_response(id).await;
        out.push(started.elapsed());
    }
    out
}

/// Sends `n` interactions keeping `in_flight` of them outstanding; latencies and wall time.
async fn concurrent(
    fake: &FakeDiscord,
    n: usize,
    in_flight: usize,
    make: fn() -> Interaction,
) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..in_flight {
        let fake = fake.clone();
        let count = n / in_flight + usize::from(worker < n % in_flight);
        tasks.push(tokio::spawn(
            async move { sequential(&fake, count, make).await },
        ));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    (all, started.elapsed())
}

fn report(what: &str, samples: Vec<Duration>) {
    stats::report(what, 44, 5, samples);
}

/// The bot's samples once it has logged `n` (its log comes just after the fake saw the
/// callback), at most 2 s later.
async fn take_handled(n: usize) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while HANDLED.lock().unwrap().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    std::mem::take(&mut *HANDLED.lock().unwrap())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    stats::install_handled();
    let (fake, _dirs, bot) = bot::start_fresh(&[]).await;
    println!(
        "socbot interactions benchmark: real daemon ↔ loopback Discord, {} cores, body validation {}\n",
        std::thread::available_parallelism().map_or(1, usize::from),
        if fake.validates_bodies() {
            "on"
        } else {
            "off (spec not found)"
        }
    );

    sequential(&fake, WARM_UP, playbook).await;
    sequential(&fake, WARM_UP, autocomplete).await;
    take_handled(2 * WARM_UP).await;

    report(
        "/playbook T1583.006, sequential",
        sequential(&fake, N, playbook).await,
    );
    report("  bot side (event → answered)", take_handled(N).await);
    report(
        "autocomplete \"web serv\", sequential",
        sequential(&fake, N, autocomplete).await,
    );
    report("  bot side (event → answered)", take_handled(N).await);

    for (what, make) in [
        ("/playbook", playbook as fn() -> Interaction),
        ("autocomplete", autocomplete),
    ] {
        let (samples, wall) = concurrent(&fake, N, IN_FLIGHT, make).await;
        report(&format!("{what}, {IN_FLIGHT} in flight"), samples);
        println!(
            "{:<44} {:.0} interactions/s",
            "",
            N as f64 / wall.as_secs_f64()
        );
        take_handled(N).await;
    }

    bot.stop().await.expect("the daemon stops cleanly");
    fake.assert_clean();
}
