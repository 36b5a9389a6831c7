//! Smoke test of the harness: the real daemon starts against the loopback Discord, registers
//! its commands and answers `/playbook`.

mod support;

use serde_json::json;
use support::bot;
use support::discord::payloads::{Interaction, opt_str};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_answers_playbook() {
    let (fake, _dirs, bot) = bot::start_fresh(&[]).await;
    let answer = fake
        .interact(Interaction::slash_command(
            "playbook",
            json!([opt_str("technique", "T1583.006")]),
        ))
        .await;
    assert_eq!(answer["type"], 4, "{answer}");
    let text = answer.to_string();
    assert!(
        text.contains("Acquire Infrastructure: Web Services"),
        "{text}"
    );
    bot.stop().await.unwrap();
    fake.assert_clean();
}
