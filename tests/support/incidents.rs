//! Incident helpers shared by the tests and benches that drive `/incident` through the fake:
//! a ten-question playbook, reading question messages and their buttons, and opening.

use std::time::Duration;

use serde_json::Value;

use super::discord::FakeDiscord;
use super::discord::state::RecordedRequest;

/// A playbook of our own with ten analysis questions (two question messages) and no rule.
pub const TEN_QUESTIONS: &str = "\
# Phishing:_Spearphishing_Link - T1566002

| Column Name | Value |
|-------------|-------|
| MITRE Tactic | Initial Access |
| MITRE TTP | T1566 |
| MITRE Sub-TTP | T1566.002 |
| Name | Phishing: Spearphishing Link |
| Log Sources to Investigate | Mail gateway logs, proxy logs and the identity provider's sign-in log. |
| Key Indicators | A link to a freshly registered domain; a sign-in right after the click from a new country. |
| Questions for Analysis | 1. Did the user click the link?<br>2. Was the domain registered this month?<br>3. Did the page ask for credentials?<br>4. Was there a sign-in after the click?<br>5. Did that sign-in come from a new country?<br>6. Was MFA approved unexpectedly?<br>7. Did other users get the same mail?<br>8. Did anyone else click?<br>9. Were mailbox rules created after?<br>10. Was data downloaded after the sign-in? |
| Decision for Escalation | Escalate when credentials were entered or a suspicious sign-in followed the click. |
| Additional Analysis Steps for L1 | Pull the click record from the proxy and the sign-ins for the hour after. |
| T2 Analyst Actions | Revoke sessions and reset the password; hunt for the sender across the tenant. |
| Containment and Further Analysis | Block the domain and purge the mail. |
";

/// The `custom_id`s of a message's components (buttons), row by row.
pub fn custom_ids(message: &Value) -> Vec<String> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(str::to_owned))
        .collect()
}

/// The labels of a message's components (buttons), row by row.
pub fn labels(message: &Value) -> Vec<String> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["label"].as_str().map(str::to_owned))
        .collect()
}

/// The titles of a message's embeds.
pub fn titles(message: &Value) -> Vec<String> {
    message["embeds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["title"].as_str().map(str::to_owned))
        .collect()
}

/// A message's content, then each embed's title, description and footer, one per line.
pub fn embeds_text(message: &Value) -> String {
    let mut s = message["content"].as_str().unwrap_or_default().to_owned();
    for e in message["embeds"].as_array().into_iter().flatten() {
        for k in ["title", "description"] {
            s.push('\n');
            s.push_str(e[k].as_str().unwrap_or_default());
        }
        if let Some(f) = e["footer"]["text"].as_str() {
            s.push('\n');
            s.push_str(f);
        }
    }
    s
}

/// The incident number an `/incident open` card names (`INC-<n> ...`).
pub fn card_incident(card: &Value) -> u64 {
    card["data"]["embeds"][0]["title"]
        .as_str()
        .and_then(|t| t.strip_prefix("INC-"))
        .and_then(|t| t.split(' ').next())
        .and_then(|d| d.parse().ok())
        .expect("card names the incident")
}

/// The question message holding question `q`'s buttons of incident `n` in `thread`.
pub fn question_message(fake: &FakeDiscord, thread: u64, n: u64, q: usize) -> Option<Value> {
    // After a restore the ids carry the store's epoch: `ans:1:2:c@1`.
    let want = format!("ans:{n}:{q}:c");
    let with_epoch = format!("{want}@");
    fake.messages_in(thread).into_iter().find(|m| {
        custom_ids(m)
            .iter()
            .any(|id| *id == want || id.starts_with(&with_epoch))
    })
}

/// Waits (up to `timeout`) for the bot's successful creation of a thread named `prefix...`.
pub async fn wait_thread_created(
    fake: &FakeDiscord,
    prefix: &str,
    timeout: Duration,
) -> RecordedRequest {
    fake.wait_for(
        |r| {
            r.is("POST", "/channels/*/threads")
                && r.status == 201
                && r.body
                    .as_ref()
                    .is_some_and(|b| b["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        },
        timeout,
    )
    .await
}
