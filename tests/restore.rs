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

/// `socbot console` on the test's store with `stdin` piped in; its standard output.
fn console(dirs: &BotDirs, stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = socbot_command(&[])
        .current_dir(&dirs.root)
        .arg("console")
        .env("SOCBOT__STORE__PATH", &dirs.store)
        .env("SOCBOT__PLAYBOOKS__DIR", &dirs.playbooks)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the socbot binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn restore(dirs: &BotDirs, file: &Path) -> String {
    let out = socbot(dirs, &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The number `socbot restore` says new incidents start at.
fn starts_at(said: &str) -> u64 {
    said.split("new incidents start at INC-")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no start number in {said}"))
}

fn epoch(dirs: &BotDirs) -> u64 {
    socbot::store::Store::open(&dirs.store)
        .unwrap()
        .epoch()
        .unwrap()
}

#[test]
fn a_restore_over_a_missing_store_still_never_reuses_a_number_or_an_epoch() {
    let dirs = BotDirs::new(&[]);
    let opened = console(&dirs, "/incident open T1583.006 In the backup\n");
    assert!(opened.contains("INC-1"), "{opened}");
    let file = dirs.root.join("nightly.socbot-backup");
    let out = socbot(&dirs, &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let opened = console(
        &dirs,
        "/incident open T1583.006 After the backup\n/incident open T1583.006 And another\n",
    );
    assert!(opened.contains("INC-3"), "{opened}");

    // The store is there: numbers go on from it, the epoch becomes 1.
    assert_eq!(starts_at(&restore(&dirs, &file)), 4);
    assert_eq!(epoch(&dirs), 1);

    // The store is lost (a wiped volume, a bad disk), and the same backup restored again: the
    // numbers and the epoch still go on above everything given before.
    std::fs::remove_dir_all(&dirs.store).unwrap();
    let said = restore(&dirs, &file);
    assert!(
        starts_at(&said) > 3,
        "INC-2 and INC-3 are never given again: {said}"
    );
    assert_eq!(epoch(&dirs), 2, "buttons of epoch 1 stay refused");
    let opened = console(&dirs, "/incident open T1583.006 After the loss\n");
    let n = starts_at(&said);
    assert!(opened.contains(&format!("INC-{n}")), "{opened}");

    // A mark that cannot be understood stops the restore, naming it.
    std::fs::remove_dir_all(&dirs.store).unwrap();
    let mark = dirs.root.join("store.highwater");
    std::fs::write(&mark, "garbage\n").unwrap();
    let out = socbot(&dirs, &["restore", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("store.highwater") && err.contains("high-water"),
        "{err}"
    );
}
