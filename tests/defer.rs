//! Whole-bot tests of answering in time: an interaction whose answer is not ready
//! `discord.defer_after_ms` after it arrived is deferred first (type 5 for commands and forms,
//! type 6 for presses) and its answer delivered later by editing `@original` (attachments
//! included), or, when its privacy differs from the defer's, as a follow-up of its own kind.
//!
//! No wall-clock threshold: a hung Discord route makes `/incident open` wait 2 s for its thread
//! while the defer is due at 1.5 s (both timers of the same runtime clock, so the defer always
//! fires first), and `defer_after_ms = 0` (a real setting: defer everything) makes every other
//! kind of answer late by construction.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::bot::{self, Bot, BotDirs, L1_ROLE, T2_ROLE};
use support::discord::FakeDiscord;
use support::discord::faults::{FaultKind, Faults};
use support::discord::payloads::{Interaction, opt_str};
use support::discord::state::RecordedRequest;
use support::incidents::{question_message, titles, wait_thread_created};

const WAIT: Duration = Duration::from_secs(20);

async fn start(defer_after_ms: &str) -> (FakeDiscord, BotDirs, Bot) {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let extra = [("SOCBOT__DISCORD__DEFER_AFTER_MS", defer_after_ms.to_owned())];
    let bot = Bot::start_with(&fake, bot::config(&fake, &dirs, &extra)).await;
    (fake, dirs, bot)
}

fn incident(sub: &str, options: Value) -> Interaction {
    Interaction::subcommand("incident", sub, options)
}

fn open() -> Interaction {
    incident(
        "open",
        json!([
            opt_str("technique", "T1583.006"),
            opt_str("title", "slow day")
        ]),
    )
    .roles(&[L1_ROLE])
    .username("alice")
}

/// The accepted callback request of interaction `id`.
async fn callback(fake: &FakeDiscord, id: u64) -> RecordedRequest {
    let path = format!("/interactions/{id}/");
    fake.wait_for(
        move |r| r.is("POST", &path) && r.path.ends_with("/callback") && r.status == 204,
        WAIT,
    )
    .await
}

/// The accepted request `method` on the interaction's webhook `what` (`messages/@original`,
/// or "" for a follow-up).
async fn webhook(fake: &FakeDiscord, token: &str, method: &str, what: &str) -> RecordedRequest {
    let path = format!("/webhooks/{}/{token}{what}", fake.application_id());
    let method = method.to_owned();
    fake.wait_for(
        move |r| r.method == method && r.path == path && (200..300).contains(&r.status),
        WAIT,
    )
    .await
}

async fn edited_original(fake: &FakeDiscord, token: &str) -> RecordedRequest {
    webhook(fake, token, "PATCH", "/messages/@original").await
}

fn flags(v: &Value) -> u64 {
    v["flags"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn an_open_waiting_on_a_hung_discord_is_deferred_then_its_card_edited_in() {
    // The default deadline (1.5 s) against the 2 s `/incident open` waits for its thread.
    let (fake, _dirs, bot) = start("1500").await;
    fake.set_faults(Faults::always(FaultKind::Hang).only(&["POST /channels/*/threads"]));
    let (id, token) = fake.send_interaction(open()).await;

    let deferred = callback(&fake, id).await;
    assert_eq!(deferred.json()["type"], 5, "{}", deferred.summary());
    assert_eq!(
        flags(&deferred.json()["data"]) & 64,
        0,
        "a card is public, so is its defer"
    );
    let edit = edited_original(&fake, &token).await;
    assert!(edit.seq > deferred.seq);
    let card = fake.original_response(id).expect("the deferred message");
    assert!(
        titles(&card)
            .first()
            .is_some_and(|t| t.starts_with("INC-1 ")),
        "{card}"
    );
    assert_eq!(flags(&card) & 128, 0, "no longer loading: {card}");

    fake.clear_faults();
    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test]
async fn with_defer_after_zero_every_answer_follows_its_defer_in_the_right_form() {
    let (fake, _dirs, bot) = start("0").await;

    // A command: "thinking…" in public, then the card in its place.
    let (id, token) = fake.send_interaction(open()).await;
    assert_eq!(callback(&fake, id).await.json()["type"], 5);
    edited_original(&fake, &token).await;
    let card = fake.original_response(id).unwrap();
    assert!(titles(&card)[0].starts_with("INC-1 "), "{card}");
    let thread: u64 = wait_thread_created(&fake, "INC-1 · ", WAIT)
        .await
        .response
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // A button: the press acknowledged (type 6), then its message edited through @original.
    let mut question = None;
    for _ in 0..100 {
        question = question_message(&fake, thread, 1, 1);
        if question.is_some() {
            break;
        }
        fake.wait_change(Duration::from_millis(200)).await;
    }
    let question = question.expect("question 1 posted");
    let press = Interaction::button("ans:1:1:c", &question)
        .roles(&[L1_ROLE])
        .channel(thread);
    let (id, token) = fake.send_interaction(press).await;
    assert_eq!(callback(&fake, id).await.json()["type"], 6);
    let edit = edited_original(&fake, &token).await;
    assert_eq!(edit.response.as_ref().unwrap()["id"], question["id"]);
    assert_ne!(fake.message(id_of(&question["id"])).unwrap(), question);

    // A private list thinks privately and stays private.
    let list = incident("list", json!([])).roles(&[L1_ROLE]);
    let (id, token) = fake.send_interaction(list).await;
    let deferred = callback(&fake, id).await;
    assert_eq!(deferred.json()["type"], 5);
    assert_eq!(flags(&deferred.json()["data"]) & 64, 64, "private defer");
    edited_original(&fake, &token).await;
    let listed = fake.original_response(id).unwrap();
    assert_eq!(flags(&listed) & 64, 64, "{listed}");
    assert!(listed.to_string().contains("INC-1"), "{listed}");

    // A refusal after a public defer: the public "thinking…" goes, the refusal is private.
    let close = incident("close", json!([opt_str("resolution", "benign")]))
        .roles(&[L1_ROLE])
        .channel(thread);
    let (id, token) = fake.send_interaction(close).await;
    let deferred = callback(&fake, id).await;
    assert_eq!(deferred.json()["type"], 5, "{}", deferred.summary());
    let deleted = webhook(&fake, &token, "DELETE", "/messages/@original").await;
    let refusal = webhook(&fake, &token, "POST", "").await;
    assert!(refusal.seq > deleted.seq);
    assert_eq!(flags(refusal.json()) & 64, 64, "{}", refusal.summary());
    assert!(fake.original_response(id).is_none());

    // Attachments come with the edit: the export's markdown and the coverage heatmap.
    let export = incident("export", json!([opt_str("incident", "INC-1")])).roles(&[T2_ROLE]);
    let (id, token) = fake.send_interaction(export).await;
    assert_eq!(callback(&fake, id).await.json()["type"], 5);
    let edit = edited_original(&fake, &token).await;
    assert_eq!(edit.files.len(), 1, "{}", edit.summary());
    assert_eq!(edit.files[0].filename, "INC-1.md");
    assert!(String::from_utf8_lossy(&edit.files[0].bytes).contains("slow day"));

    let coverage = Interaction::slash_command("coverage", json!([]));
    let (id, token) = fake.send_interaction(coverage).await;
    assert_eq!(callback(&fake, id).await.json()["type"], 5);
    let edit = edited_original(&fake, &token).await;
    assert_eq!(edit.files.len(), 1, "{}", edit.summary());
    assert_eq!(&edit.files[0].bytes[..4], b"\x89PNG");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

fn id_of(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}
