//! After `socbot restore`, incident numbers given since the backup are never given again, and
//! a button made before the restore is refused privately, saying why and what to use instead
//! (custom ids carry the store's epoch). Its own test binary: the epoch is process-wide.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use support::bot::{self, Bot, BotDirs, L1_ROLE};
use support::cli::socbot_command;
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_str};
use support::incidents::{card_incident, question_message, wait_thread_created};

fn socbot(dirs: &BotDirs, args: &[&str]) -> Output {
    socbot_command(&[])
        .current_dir(&dirs.root)
        .args(args)
        .env("SOCBOT__STORE__PATH", &dirs.store)
        .env("SOCBOT__PLAYBOOKS__DIR", &dirs.playbooks)
        .output()
        .expect("the socbot binary runs")
}

/// Opens an incident; returns its number and the question message with q1's buttons.
async fn open(fake: &FakeDiscord, title: &str) -> (u64, Value) {
    let card = fake
        .interact(
            Interaction::subcommand(
                "incident",
                "open",
                json!([opt_str("technique", "T1583.006"), opt_str("title", title)]),
            )
            .roles(&[L1_ROLE]),
        )
        .await;
    assert_eq!(card["type"], 4, "{card}");
    let n = card_incident(&card);
    let thread = wait_thread_created(fake, &format!("INC-{n} "), Duration::from_secs(10)).await;
    let thread: u64 = thread.response.as_ref().unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(m) = question_message(fake, thread, n, 1) {
            return (n, m);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no questions for INC-{n}"
        );
        fake.wait_change(Duration::from_millis(200)).await;
    }
}

fn click(message: &Value, custom_prefix: &str) -> Interaction {
    let id = message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(str::to_owned))
        .find(|id| id.starts_with(custom_prefix))
        .unwrap_or_else(|| panic!("no {custom_prefix}… button in {message}"));
    Interaction::button(&id, message).roles(&[L1_ROLE])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restore_numbers_are_not_reused_and_old_buttons_are_refused() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let bot = Bot::start(&fake, &dirs).await;
    let (one, before_backup) = open(&fake, "In the backup").await;
    assert_eq!(one, 1);
    bot.stop().await.unwrap();
    let file = dirs.root.join("nightly.socbot-backup");
    let out = socbot(&dirs, &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");

    // Made after the backup: lost by the restore.
    let bot = Bot::start(&fake, &dirs).await;
    let (two, after_backup) = open(&fake, "After the backup").await;
    assert_eq!(two, 2);
    bot.stop().await.unwrap();
    let out = socbot(&dirs, &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(!Path::new(&file).with_extension("partial").exists());

    let bot = Bot::start_with(&fake, bot::config(&fake, &dirs, &[])).await;
    // INC-2 was given before the restore: the next incident is INC-3.
    let (three, fresh) = open(&fake, "After the restore").await;
    assert_eq!(three, 3, "INC-2 is never given twice");

    // Buttons from before the restore do nothing and say why, privately.
    for old in [&after_backup, &before_backup] {
        let answer = fake.interact(click(old, "ans:")).await;
        assert_eq!(answer["type"], 4, "{answer}");
        assert_eq!(answer["data"]["flags"], 64, "private: {answer}");
        let text = answer["data"]["content"].as_str().unwrap_or_default();
        assert!(
            text.contains("restored from a backup") && text.contains("/incident status"),
            "{text}"
        );
    }
    // A button made since works.
    let answer = fake.interact(click(&fresh, "ans:3:1:c")).await;
    assert_eq!(answer["type"], 7, "updates the question message: {answer}");
    bot.stop().await.unwrap();
    fake.assert_clean();
}
