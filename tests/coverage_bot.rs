//! The whole bot against the loopback Discord: `/coverage` answers with the coverage and a PNG
//! heatmap attached; `/playbook` for a technique without a playbook answers from the ATT&CK
//! catalog; autocomplete offers catalog techniques after those with a playbook.

mod support;

use serde_json::{Value, json};
use support::bot::{self, L1_ROLE};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_str};
use support::discord::state::RecordedRequest;
use support::incidents::embeds_text;

/// The callback request of interaction `id` (its multipart body's files recorded).
fn callback(fake: &FakeDiscord, id: u64) -> RecordedRequest {
    fake.requests_matching("POST", &format!("/interactions/{id}/"))
        .into_iter()
        .find(|r| r.status == 204)
        .expect("callback")
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn coverage_cmd(options: Value) -> Interaction {
    Interaction::slash_command("coverage", options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_attaches_a_png_heatmap_and_names_the_gaps() {
    let (fake, _dirs, bot) = bot::start_fresh(&[]).await;

    // Registered with a choice per ATT&CK tactic.
    let commands = fake.commands(Some(fake.guild_id()));
    let coverage = commands
        .iter()
        .find(|c| c["name"] == "coverage")
        .expect("/coverage registered");
    let choices = coverage["options"][0]["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 14, "{coverage}");
    assert_eq!(choices[0]["name"], "Reconnaissance");

    // One incident on a playbook, so it counts as used.
    let opened = fake
        .interact(
            Interaction::subcommand(
                "incident",
                "open",
                json!([
                    opt_str("technique", "T1583.006"),
                    opt_str("title", "odd web service")
                ]),
            )
            .roles(&[L1_ROLE]),
        )
        .await;
    assert_eq!(opened["type"], 4, "{opened}");

    let (id, _) = fake.send_interaction(coverage_cmd(json!([]))).await;
    let body = fake.interaction_response(id).await;
    assert_eq!(body["type"], 4, "{body}");
    let text = embeds_text(&body["data"]);
    for want in [
        "ATT&CK coverage: 2/691 live techniques have a playbook (0%)",
        "Resource Development",
        "2/47",
        "Seen in the last 30 days without a playbook",
        "`T1583.006` Acquire Infrastructure: Web Services: 1 incident(s), 0% escalated, 0% false positive",
        "Not used in 30 days:** 1 of 2 playbooks",
        "MITRE ATT&CK v18.1",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    assert_eq!(
        body["data"]["flags"].as_u64().unwrap_or(0) & 64,
        0,
        "public"
    );

    let req = callback(&fake, id);
    assert_eq!(req.files.len(), 1, "one attachment: {}", req.summary());
    let file = &req.files[0];
    assert_eq!(file.filename, "attack-coverage.png");
    let png = &file.bytes;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let (width, height) = (be_u32(&png[16..20]), be_u32(&png[20..24]));
    assert_eq!(width, 1920);
    assert!((1000..2400).contains(&height), "height {height}");
    assert!(
        png.len() < 1024 * 1024,
        "well within Discord's limit: {}",
        png.len()
    );

    // One tactic.
    let body = fake
        .interact(coverage_cmd(json!([opt_str(
            "tactic",
            "resource-development"
        )])))
        .await;
    let text = embeds_text(&body["data"]);
    assert!(
        text.contains("ATT&CK coverage · Resource Development"),
        "{text}"
    );
    assert!(!text.contains("Reconnaissance"), "{text}");

    // A tactic ATT&CK does not have (typed by hand): a private answer listing them.
    let body = fake
        .interact(coverage_cmd(json!([opt_str("tactic", "lunch")])))
        .await;
    let content = body["data"]["content"].as_str().unwrap_or_default();
    assert!(content.contains("ATT&CK has no tactic `lunch`"), "{body}");
    assert_eq!(
        body["data"]["flags"].as_u64().unwrap_or(0) & 64,
        64,
        "private"
    );

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbook_for_a_technique_without_one_answers_from_attack() {
    let (fake, _dirs, bot) = bot::start_fresh(&[]).await;

    let body = fake
        .interact(Interaction::slash_command(
            "playbook",
            json!([opt_str("technique", "T1583.007")]),
        ))
        .await;
    assert_eq!(body["type"], 4, "{body}");
    let embed = &body["data"]["embeds"][0];
    assert_eq!(
        embed["title"],
        "T1583.007 · Acquire Infrastructure: Serverless"
    );
    assert_eq!(
        embed["url"],
        "https://attack.mitre.org/techniques/T1583/007/"
    );
    let text = embeds_text(&body["data"]);
    for want in [
        "**Tactics:** Resource Development",
        "**Platforms:** PRE",
        "This library has **no playbook** for it.",
        "**Closest playbooks**\n• `T1583.003` Acquire Infrastructure: Virtual Private Server",
        "MITRE ATT&CK v18.1",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }

    // Words, not an id: the closest playbooks, and the ATT&CK techniques they name.
    let body = fake
        .interact(Interaction::slash_command(
            "playbook",
            json!([opt_str("technique", "serverless")]),
        ))
        .await;
    let content = body["data"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("In ATT&CK, without a playbook here:")
            && content.contains("`T1583.007` Acquire Infrastructure: Serverless"),
        "{body}"
    );

    // Autocomplete: playbooks first, then ATT&CK techniques marked as having none.
    let answer = fake
        .interact(Interaction::autocomplete("playbook", "technique", "T1583"))
        .await;
    let got: Vec<(String, String)> = answer["data"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let values: Vec<&str> = got.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(&values[..2], ["T1583.003", "T1583.006"], "{got:?}");
    assert!(!got[0].0.contains("no playbook"), "{got:?}");
    assert!(
        got.contains(&(
            "T1583.007 · Acquire Infrastructure: Serverless · no playbook".to_owned(),
            "T1583.007".to_owned()
        )),
        "{got:?}"
    );
    assert!(got.len() <= 25 && got.iter().all(|(n, _)| n.chars().count() <= 100));

    // Picking it gives the ATT&CK answer: the loop closes.
    let answer = fake
        .interact(Interaction::autocomplete(
            "playbook",
            "technique",
            "serverless",
        ))
        .await;
    assert!(
        answer["data"]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["value"] == "T1583.007"),
        "{answer}"
    );

    bot.stop().await.unwrap();
    fake.assert_clean();
}
