//! Incidents end to end: the real daemon against the loopback Discord. Opening (thread, context,
//! questions, REST budget), answering by button, form and command, the escalation decision (rule
//! and default policy), manual escalation, closing, export, mention safety, role and guild
//! checks, duplicate interactions, restarts and over-long input.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::bot::{self, Bot, BotDirs, L1_ROLE, T2_ROLE};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_int, opt_str};
use support::discord::state::RecordedRequest;
use support::incidents::{custom_ids, embeds_text, labels, wait_thread_created};

/// A playbook of our own with ten analysis questions and no Escalation Rule (so the default
/// policy decides).
const TEN_QUESTIONS: &str = "\
# User_Execution:_Malicious_File - T1204002

| Column Name | Value |
|-------------|-------|
| MITRE Tactic | Execution |
| MITRE TTP | T1204 |
| MITRE Sub-TTP | T1204.002 |
| Name | User Execution: Malicious File |
| Log Sources to Investigate | 1. Endpoint process creation events.<br>2. Mail gateway delivery logs.<br>3. Proxy logs for the download. |
| Key Indicators | 1. An office program starting a shell.<br>2. A file opened from the mail client's temporary folder.<br>3. A new executable run from the downloads folder. |
| Questions for Analysis | 1. Did the user open an attachment just before the alert?<br>2. Did the opened file start a script host?<br>3. Is the file's hash unknown to the fleet?<br>4. Did the host reach a new domain right after?<br>5. Was a scheduled task or run key added?<br>6. Did the user report the mail as suspicious?<br>7. Are other mailboxes holding the same attachment?<br>8. Was the file signed by an untrusted publisher?<br>9. Did the process try to read browser credentials?<br>10. Was antivirus tampered with on the host? |
| Decision for Escalation | Escalate when the file ran code, reached out, or persisted; close when the user never opened it. |
| Additional Analysis Steps for L1 | Pull the attachment hash from the mail logs and compare it with the endpoint record. |
| T2 Analyst Actions | Detonate the sample in the sandbox and sweep the estate for the hash. |
| Containment and Further Analysis | Isolate the host and purge the mail from every mailbox. |
";

const TEN_FILE: (&str, &str) = ("T1204.002-user-execution-file.md", TEN_QUESTIONS);

/// The seed's Decision for Escalation text (T1583.006), as the decision message quotes it.
const SEED_DECISION_TEXT: &str = "no clear business justification";

// ---------------------------------------------------------------------------------------------
// helpers

struct Env {
    fake: FakeDiscord,
    dirs: BotDirs,
    bot: Bot,
}

async fn start(extra: &[(&str, &str)]) -> Env {
    let (fake, dirs, bot) = bot::start_fresh(extra).await;
    Env { fake, dirs, bot }
}

/// An analyst with the L1 role.
fn l1(i: Interaction) -> Interaction {
    i.roles(&[L1_ROLE]).username("alice")
}

fn incident_cmd(sub: &str, options: Value) -> Interaction {
    Interaction::subcommand("incident", sub, options)
}

#[derive(Debug, Clone)]
struct Opened {
    n: u64,
    thread: u64,
    card: Value,
    interaction: u64,
}

fn id_of(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
        .unwrap_or(0)
}

/// Opens an incident as an L1 analyst; waits for its thread and its question messages.
async fn open(fake: &FakeDiscord, technique: &str, title: &str, questions: usize) -> Opened {
    let (interaction, _) = fake
        .send_interaction(l1(incident_cmd(
            "open",
            json!([opt_str("technique", technique), opt_str("title", title)]),
        )))
        .await;
    let card = fake.interaction_response(interaction).await;
    assert_eq!(card["type"], 4, "{card}");
    let title_line = card["data"]["embeds"][0]["title"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let n: u64 = title_line
        .strip_prefix("INC-")
        .and_then(|r| r.split(' ').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("card title names the incident: {card}"));
    let thread = wait_thread(fake, &format!("INC-{n} · ")).await;
    wait_question(fake, thread, n, questions).await;
    Opened {
        n,
        thread,
        card,
        interaction,
    }
}

/// The thread whose name starts with `prefix`, waiting for it.
async fn wait_thread(fake: &FakeDiscord, prefix: &str) -> u64 {
    let req = wait_thread_created(fake, prefix, Duration::from_secs(15)).await;
    id_of(&req.response.expect("thread response")["id"])
}

/// Waits until question `q`'s buttons are in the thread; returns that message.
async fn wait_question(fake: &FakeDiscord, thread: u64, n: u64, q: usize) -> Value {
    let want = format!("ans:{n}:{q}:c");
    let thread_s = thread.to_string();
    fake.wait_for_message(|m| m["channel_id"] == thread_s.as_str() && custom_ids(m).contains(&want))
        .await
}

/// Who acts: a Discord user with a name and roles.
#[derive(Debug, Clone)]
struct Who {
    id: u64,
    name: String,
    roles: Vec<u64>,
}

impl Who {
    fn new(id: u64, name: &str, roles: &[u64]) -> Self {
        Self {
            id,
            name: name.to_owned(),
            roles: roles.to_vec(),
        }
    }

    fn on(&self, i: Interaction) -> Interaction {
        i.user(self.id).username(&self.name).roles(&self.roles)
    }
}

fn alice() -> Who {
    Who::new(1_200_000_000_000_000_001, "alice", &[L1_ROLE])
}

/// Presses an answer button (`code`: c, k or u) on question `q` as `who`; returns the callback.
async fn press(fake: &FakeDiscord, o: &Opened, q: usize, code: &str, who: &Who) -> Value {
    press_id(fake, o, q, code, who).await.1
}

async fn press_id(fake: &FakeDiscord, o: &Opened, q: usize, code: &str, who: &Who) -> (u64, Value) {
    let message = wait_question(fake, o.thread, o.n, q).await;
    let custom_id = format!("ans:{}:{q}:{code}", o.n);
    let press = who
        .on(Interaction::button(&custom_id, &message))
        .channel(o.thread);
    let (id, _) = fake.send_interaction(press).await;
    (id, fake.interaction_response(id).await)
}

/// A command in the incident's thread.
async fn in_thread(fake: &FakeDiscord, o: &Opened, i: Interaction) -> (u64, Value) {
    let (id, _) = fake.send_interaction(i.channel(o.thread)).await;
    (id, fake.interaction_response(id).await)
}

fn is_private(body: &Value) -> bool {
    body["data"]["flags"].as_u64().unwrap_or(0) & 64 == 64
}

/// Messages in the thread whose embed title contains `needle`.
fn thread_messages_titled(fake: &FakeDiscord, thread: u64, needle: &str) -> Vec<Value> {
    fake.messages_in(thread)
        .into_iter()
        .filter(|m| {
            m["embeds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["title"].as_str().is_some_and(|t| t.contains(needle)))
        })
        .collect()
}

async fn wait_titled(fake: &FakeDiscord, thread: u64, needle: &str, count: usize) -> Vec<Value> {
    let thread_s = thread.to_string();
    let needle_s = needle.to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let found = thread_messages_titled(fake, thread, needle);
        if found.len() >= count {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {count} message(s) titled {needle_s:?} in thread {thread_s}; thread has:\n{}",
            fake.messages_in(thread)
                .iter()
                .map(embeds_text)
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The markdown file `/incident export` attached.
async fn export_markdown(fake: &FakeDiscord, o: &Opened) -> String {
    let (id, body) = in_thread(fake, o, l1(incident_cmd("export", json!([])))).await;
    assert_eq!(body["type"], 4, "{body}");
    let req = fake
        .requests_matching("POST", &format!("/interactions/{id}/"))
        .into_iter()
        .find(|r| r.status == 204)
        .expect("export callback");
    assert_eq!(req.files.len(), 1, "one attachment: {}", req.summary());
    let file = &req.files[0];
    assert_eq!(file.filename, format!("INC-{}.md", o.n));
    String::from_utf8(file.bytes.clone()).expect("utf-8 markdown")
}

/// Requests that carry a message (posted, edited, or an interaction's message/update reply).
fn message_requests(fake: &FakeDiscord) -> Vec<(RecordedRequest, Value)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.status / 100 == 2 && matches!(r.method.as_str(), "POST" | "PATCH"))
        .filter_map(|r| {
            let body = r.body.clone()?;
            if r.path.ends_with("/callback") {
                let t = body["type"].as_u64().unwrap_or(0);
                return matches!(t, 4 | 7).then(|| (r.clone(), body["data"].clone()));
            }
            let carries = r.is("*", "/channels/*/messages")
                || r.is("*", "/channels/*/messages/*")
                || r.path.starts_with("/webhooks/");
            carries.then(|| (r.clone(), body))
        })
        .collect()
}

/// Every message request pings nobody: `allowed_mentions` parses nothing and lists no one.
fn assert_pings_nobody(fake: &FakeDiscord) {
    let requests = message_requests(fake);
    assert!(!requests.is_empty());
    for (r, body) in requests {
        let am = &body["allowed_mentions"];
        assert!(am.is_object(), "no allowed_mentions: {}", r.summary());
        assert!(
            am["parse"].as_array().is_none_or(Vec::is_empty),
            "parse allows pings: {}",
            r.summary()
        );
        for k in ["users", "roles"] {
            assert!(
                am[k].as_array().is_none_or(Vec::is_empty),
                "{k} pinged: {}",
                r.summary()
            );
        }
        assert_ne!(am["replied_user"], true, "{}", r.summary());
    }
}

fn assert_stored_messages_ping_nobody(fake: &FakeDiscord, channels: &[u64]) {
    let mut seen = 0;
    for c in channels {
        for m in fake.messages_in(*c) {
            seen += 1;
            assert_eq!(m["mention_everyone"], false, "{m}");
            assert_eq!(m["mentions"], json!([]), "{m}");
            assert_eq!(m["mention_roles"], json!([]), "{m}");
        }
    }
    assert!(seen > 0);
}

fn no_discord_errors(fake: &FakeDiscord) {
    let bad: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.status >= 400 && r.fault.is_none())
        .map(RecordedRequest::summary)
        .collect();
    assert!(bad.is_empty(), "Discord refused:\n{}", bad.join("\n"));
}

/// The end of a test: stops the bot; Discord refused nothing and the fake is clean.
async fn finish(fake: &FakeDiscord, bot: Bot) {
    bot.stop().await.unwrap();
    no_discord_errors(fake);
    fake.assert_clean();
}

/// Runs the real binary with only `env` as configuration.
fn socbot_cli(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = support::cli::socbot_command(&[]);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd.output().expect("the socbot binary runs")
}

// ---------------------------------------------------------------------------------------------
// 1. opening

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_makes_a_thread_with_context_and_questions_within_four_calls() {
    let Env { fake, dirs, bot } = start(&[TEN_FILE]).await;
    let _ = &dirs;

    let before = fake.requests().last().map_or(0, |r| r.seq);
    let o = open(&fake, "T1583.006", "Odd cloud accounts", 3).await;
    assert_eq!(o.n, 1);

    // The thread: in the SOC channel, named INC-1 · T1583.006 · <title>.
    let thread = fake.channel(o.thread).expect("thread exists");
    assert_eq!(thread["name"], "INC-1 · T1583.006 · Odd cloud accounts");
    assert_eq!(thread["parent_id"], fake.channel_id().to_string());

    // The card, posted where the command ran, links the thread.
    let card = embeds_text(&o.card["data"]);
    assert!(card.contains(&format!("<#{}>", o.thread)), "{card}");
    assert!(card.contains("INC-1 · Odd cloud accounts"), "{card}");
    assert!(!is_private(&o.card));

    // The thread: context (key indicators, log sources, L1 steps) and every question with its
    // four buttons.
    let all: String = fake
        .messages_in(o.thread)
        .iter()
        .map(embeds_text)
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "Key Indicators",
        "High volume of account creation",
        "Log Sources",
        "web service providers",
        "Verify existing logged events",
        "known legitimate needs for new web service accounts",
        "deviate from normal operational behavior",
        "frequency and timing",
    ] {
        assert!(all.contains(needle), "thread lacks {needle:?}:\n{all}");
    }
    let buttons: Vec<String> = fake.messages_in(o.thread).iter().flat_map(labels).collect();
    for q in 1..=3 {
        for l in ["Concerning", "Clear", "Unknown", "Note…"] {
            let want = format!("q{q} {l}");
            assert!(buttons.contains(&want), "no {want:?} in {buttons:?}");
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = requests_after(&fake, before);
    assert!(
        calls.len() <= 4,
        "open took {} calls:\n{}",
        calls.len(),
        calls.join("\n")
    );

    // Ten questions: still within the budget (two question messages).
    let before = fake.requests().last().map_or(0, |r| r.seq);
    let o = open(&fake, "T1204.002", "Invoice.pdf.exe opened", 10).await;
    assert_eq!(o.n, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = requests_after(&fake, before);
    assert!(
        calls.len() <= 4,
        "open took {} calls:\n{}",
        calls.len(),
        calls.join("\n")
    );
    let messages = fake.messages_in(o.thread);
    let ids: Vec<String> = messages.iter().flat_map(custom_ids).collect();
    for q in 1..=10 {
        for c in ["c", "k", "u"] {
            assert!(ids.contains(&format!("ans:2:{q}:{c}")), "{ids:?}");
        }
        assert!(ids.contains(&format!("note:2:{q}")), "{ids:?}");
    }
    let text: String = messages.iter().map(embeds_text).collect();
    assert!(
        text.contains("Was antivirus tampered with on the host?"),
        "{text}"
    );
    assert!(
        text.contains("An office program starting a shell"),
        "{text}"
    );
    eprintln!("REST calls per open (10 questions): {}", calls.len());

    finish(&fake, bot).await;
}

fn requests_after(fake: &FakeDiscord, seq: u64) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.seq > seq)
        .map(RecordedRequest::summary)
        .collect()
}

/// Every playbook in the shared corpus (when present) opens within the budget: the context
/// shares the first question message, so thread + card + question messages ≤ 4 calls.
#[test]
fn every_corpus_playbook_opens_within_four_calls() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/attack-playbooks");
    if !dir.is_dir() {
        eprintln!("corpus not present; skipped");
        return;
    }
    let (library, _) = socbot::playbook::Library::load_dir(&dir).expect("corpus loads");
    let actor = socbot::incident::ActorRef::new(1, "alice");
    let now = chrono::Utc::now();
    let mut over = Vec::new();
    for (i, p) in library.iter().enumerate() {
        let id = socbot::incident::IncidentId(i as u64 + 1);
        let events = socbot::incident::open(id, p, "title", None, Default::default(), &actor, now)
            .expect("opens");
        let inc = socbot::incident::Incident::from_stored(id, &events).expect("folds");
        let messages = socbot::discord::incident::opening_messages(&inc, Some(p));
        if messages.len() + 2 > 4 {
            over.push(format!("{} ({} messages)", p.id, messages.len()));
        }
    }
    eprintln!("{} corpus playbooks checked", library.len());
    assert!(library.len() > 600);
    assert!(
        over.is_empty(),
        "{} of {} playbooks open in more than 4 calls: {}",
        over.len(),
        library.len(),
        over.join(", ")
    );
}

/// The context shares the first question message when it fits the questions unanswered, and
/// stays there however long the answers grow (they are cut to fit): message `i` of the
/// opening is the same message at every render, so a post retried under its nonce, and each
/// refresh by position, shows the message Discord holds.
#[test]
fn the_opening_layout_does_not_shift_as_answers_come_in() {
    let long = "A sign-in from a new country right after the click. ".repeat(60);
    let src = playbook_with_key_indicators(&long);
    let p = socbot::playbook::parser::parse(&src, "long.md")
        .expect("parses")
        .playbook;
    let actor = socbot::incident::ActorRef::new(1, "alice");
    let now = chrono::Utc::now();
    let id = socbot::incident::IncidentId(1);
    let mut events = socbot::incident::open(id, &p, "title", None, Default::default(), &actor, now)
        .expect("opens");
    let fresh = socbot::incident::Incident::from_stored(id, &events).expect("folds");
    let before = socbot::discord::incident::opening(&fresh, Some(&p));
    assert!(
        before.context.is_empty(),
        "the context shares the first message"
    );
    let note = "n".repeat(socbot::incident::NOTE_MAX);
    for q in 1..=5 {
        let inc = socbot::incident::Incident::from_stored(id, &events).expect("folds");
        let finding = socbot::incident::Finding::Clear;
        events.extend(
            socbot::incident::answer(&inc, q, finding, Some(&note), &actor, now).expect("answers"),
        );
    }
    let answered = socbot::incident::Incident::from_stored(id, &events).expect("folds");
    let after = socbot::discord::incident::opening(&answered, Some(&p));
    assert_eq!(
        after.context.len(),
        before.context.len(),
        "context messages"
    );
    let titles = |m: &socbot::discord::render::MessageSpec| -> Vec<String> {
        m.embeds.iter().map(|e| e.title.clone()).collect()
    };
    assert_eq!(titles(&after.questions[0]), titles(&before.questions[0]));
    let total: usize = after.questions[0]
        .embeds
        .iter()
        .map(socbot::discord::render::EmbedSpec::size)
        .sum();
    assert!(total <= 6000, "{total} characters in one message");
    let shown: String = after.questions[0]
        .embeds
        .iter()
        .map(|e| e.description.clone())
        .collect();
    assert!(shown.contains("**Clear** — alice"), "{shown}");
}

/// A five-question playbook whose Key Indicators are `indicators`.
fn playbook_with_key_indicators(indicators: &str) -> String {
    format!(
        "# Phishing:_Spearphishing_Link - T1566002\n\n\
| Column Name | Value |\n\
|-------------|-------|\n\
| MITRE Tactic | Initial Access |\n\
| MITRE TTP | T1566 |\n\
| MITRE Sub-TTP | T1566.002 |\n\
| Name | Phishing: Spearphishing Link |\n\
| Log Sources to Investigate | Mail gateway logs and proxy logs. |\n\
| Key Indicators | {indicators} |\n\
| Questions for Analysis | 1. Did the user click?<br>2. Was the domain new?<br>3. Were credentials asked?<br>4. Was there a sign-in?<br>5. From a new country? |\n\
| Decision for Escalation | Escalate when credentials were entered. |\n\
| Additional Analysis Steps for L1 | Pull the click record. |\n\
| T2 Analyst Actions | Reset the password. |\n\
| Containment and Further Analysis | Block the domain. |\n"
    )
}

// ---------------------------------------------------------------------------------------------
// 2. answering

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_by_button_form_and_command_update_in_place_and_keep_history() {
    let Env { fake, dirs, bot } = start(&[]).await;
    let _ = &dirs;
    let o = open(&fake, "T1583.006", "Answers", 3).await;

    // Button: a type 7 update of the question message with the finding, who and when.
    let update = press(&fake, &o, 2, "c", &alice()).await;
    assert_eq!(update["type"], 7, "{update}");
    let text = embeds_text(&update["data"]);
    assert!(text.contains("**Concerning** — alice at "), "{text}");
    assert!(text.contains(" UTC"), "{text}");
    // The context embeds stay on the first question message; the buttons too.
    assert!(text.contains("Key Indicators"), "{text}");
    assert_eq!(custom_ids(&update["data"]).len(), 12);

    // The note form: opens a modal, its submit updates the message with the note.
    let message = wait_question(&fake, o.thread, o.n, 3).await;
    let (id, _) = fake
        .send_interaction(
            alice()
                .on(Interaction::button("note:1:3", &message))
                .channel(o.thread),
        )
        .await;
    let modal = fake.interaction_response(id).await;
    assert_eq!(modal["type"], 9, "{modal}");
    assert_eq!(modal["data"]["custom_id"], "notem:1:3");
    let submit = l1(Interaction::modal_submit(
        "notem:1:3",
        &[
            ("finding", "clear"),
            ("note", "traffic matches the backup job"),
        ],
    ))
    .on_message(&message)
    .channel(o.thread);
    let (id, _) = fake.send_interaction(submit).await;
    let update = fake.interaction_response(id).await;
    assert_eq!(update["type"], 7, "{update}");
    let text = embeds_text(&update["data"]);
    assert!(text.contains("**Clear** — alice at "), "{text}");
    assert!(text.contains("traffic matches the backup job"), "{text}");

    // Command in the thread: the question message is edited in place (PATCH).
    let (_, reply) = in_thread(
        &fake,
        &o,
        incident_cmd(
            "answer",
            json!([
                opt_int("question", 1),
                opt_str("finding", "unknown"),
                opt_str("note", "no ticket found yet")
            ]),
        )
        .roles(&[L1_ROLE])
        .username("bob"),
    )
    .await;
    assert_eq!(reply["type"], 4, "{reply}");
    assert!(
        reply["data"]["content"]
            .as_str()
            .unwrap()
            .contains("q1 → **Unknown** (bob)"),
        "{reply}"
    );
    let edit = fake
        .wait_for(
            |r| {
                r.is("PATCH", &format!("/channels/{}/messages/*", o.thread))
                    && r.body
                        .as_ref()
                        .is_some_and(|b| b.to_string().contains("no ticket found yet"))
            },
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(edit.status, 200, "{}", edit.summary());
    let edited = embeds_text(edit.body.as_ref().unwrap());
    assert!(edited.contains("**Unknown** — bob at "), "{edited}");
    // The stored message shows all three answers now.
    let stored = embeds_text(&wait_question(&fake, o.thread, o.n, 1).await);
    assert!(stored.contains("**Unknown** — bob"), "{stored}");
    assert!(stored.contains("**Concerning** — alice"), "{stored}");
    assert!(stored.contains("backup job"), "{stored}");

    // The same button again changes nothing (no event) but still answers.
    let again = press(&fake, &o, 2, "c", &alice()).await;
    assert_eq!(again["type"], 7);

    // Change q2 twice: every change is kept.
    press(&fake, &o, 2, "k", &alice()).await;
    press(
        &fake,
        &o,
        2,
        "u",
        &Who::new(1_200_000_000_000_000_003, "carol", &[L1_ROLE]),
    )
    .await;
    let md = export_markdown(&fake, &o).await;
    for needle in [
        "answered q2 Concerning",
        "changed q2 from Concerning to Clear",
        "changed q2 from Clear to Unknown",
        "answered q3 Clear: \"traffic matches the backup job\"",
        "answered q1 Unknown: \"no ticket found yet\"",
    ] {
        assert!(md.contains(needle), "export lacks {needle:?}:\n{md}");
    }
    assert_eq!(md.matches("answered q2").count(), 1, "{md}");
    assert!(md.contains("**Unknown** by carol"), "{md}");

    finish(&fake, bot).await;
}

// ---------------------------------------------------------------------------------------------
// 3. decisions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_escalation_rule_decides_and_explains_in_the_thread() {
    let Env { fake, dirs, bot } = start(&[]).await;
    let _ = &dirs;
    let o = open(&fake, "T1583.006", "Rule", 3).await;
    let who = alice();

    // q1 Clear alone settles nothing: no decision message.
    press(&fake, &o, 1, "k", &who).await;
    // q2 Clear: `q1 or (q2 and q3)` is certainly false → recommend closing.
    press(&fake, &o, 2, "k", &who).await;
    let close = wait_titled(&fake, o.thread, "recommend closing as benign", 1).await;
    let text = embeds_text(&close[0]);
    assert!(
        text.contains("rule q1 or (q2 and q3) is certainly false"),
        "{text}"
    );
    assert!(text.contains("q1 answered Clear by alice"), "{text}");
    assert!(text.contains("q2 answered Clear by alice"), "{text}");
    assert!(text.contains(SEED_DECISION_TEXT), "{text}");

    // q2 Unknown: pending again, naming what would settle it.
    press(&fake, &o, 2, "u", &who).await;
    let pending = wait_titled(&fake, o.thread, "decision pending", 1).await;
    let text = embeds_text(&pending[0]);
    assert!(text.contains("Would settle it:"), "{text}");
    assert!(text.contains("q2") && text.contains("q3"), "{text}");
    assert!(text.contains("answered Unknown by alice"), "{text}");
    assert!(text.contains(SEED_DECISION_TEXT), "{text}");

    // q1 Concerning: certainly true → escalate, naming the answer that made it.
    press(&fake, &o, 1, "c", &who).await;
    let esc = wait_titled(&fake, o.thread, "escalate to Tier 2", 1).await;
    let text = embeds_text(&esc[0]);
    assert!(
        text.contains("rule q1 or (q2 and q3) is certainly true"),
        "{text}"
    );
    assert!(text.contains("q1 answered Concerning by alice"), "{text}");
    assert!(text.contains(SEED_DECISION_TEXT), "{text}");

    // Each decision was posted once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        thread_messages_titled(&fake, o.thread, "recommend closing").len(),
        1
    );
    assert_eq!(
        thread_messages_titled(&fake, o.thread, "decision pending").len(),
        1
    );
    assert_eq!(
        thread_messages_titled(&fake, o.thread, "escalate to Tier 2").len(),
        1
    );

    let md = export_markdown(&fake, &o).await;
    assert!(md.contains("Escalated:"), "{md}");

    finish(&fake, bot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_rule_the_default_policy_decides() {
    let Env { fake, dirs, bot } = start(&[TEN_FILE]).await;
    let _ = &dirs;
    let o = open(&fake, "T1204.002", "Policy", 10).await;
    let who = alice();

    for q in 1..=9 {
        press(&fake, &o, q, "k", &who).await;
    }
    assert!(thread_messages_titled(&fake, o.thread, "INC-1:").is_empty());
    press(&fake, &o, 10, "k", &who).await;
    let close = wait_titled(&fake, o.thread, "recommend closing as benign", 1).await;
    let text = embeds_text(&close[0]);
    assert!(
        text.contains("default policy: escalate when any answer is Concerning"),
        "{text}"
    );
    assert!(text.contains("all 10 questions answered Clear"), "{text}");
    assert!(text.contains("q10 answered Clear by alice"), "{text}");
    assert!(
        text.contains("close when the user never opened it"),
        "{text}"
    );

    press(&fake, &o, 7, "u", &who).await;
    let pending = wait_titled(&fake, o.thread, "decision pending", 1).await;
    let text = embeds_text(&pending[0]);
    assert!(text.contains("Would settle it:** q7"), "{text}");
    assert!(text.contains("q7 (answered Unknown by alice)"), "{text}");

    press(&fake, &o, 4, "c", &who).await;
    let esc = wait_titled(&fake, o.thread, "escalate to Tier 2", 1).await;
    let text = embeds_text(&esc[0]);
    assert!(text.contains("q4 answered Concerning by alice"), "{text}");
    assert!(text.contains("Escalate when the file ran code"), "{text}");

    finish(&fake, bot).await;
}

// ---------------------------------------------------------------------------------------------
// 4. managing: escalate, close, roles, guilds, export

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_close_roles_guilds_and_export() {
    let Env { fake, dirs, bot } = start(&[]).await;
    let o = open(&fake, "T1583.006", "Manage", 3).await;

    // A member without roles may not open.
    let refused = fake
        .interact(
            incident_cmd(
                "open",
                json!([opt_str("technique", "T1583.006"), opt_str("title", "nope")]),
            )
            .username("mallory"),
        )
        .await;
    assert!(is_private(&refused), "{refused}");
    let text = refused["data"]["content"].as_str().unwrap();
    assert!(
        text.contains(&format!("<@&{L1_ROLE}>")) && text.contains("L1"),
        "{text}"
    );

    // From another guild: refused, nothing happens.
    let other = fake
        .interact(
            l1(incident_cmd(
                "open",
                json!([
                    opt_str("technique", "T1583.006"),
                    opt_str("title", "elsewhere")
                ]),
            ))
            .guild(1_999_999_999_999_999_999),
        )
        .await;
    assert!(is_private(&other), "{other}");
    assert!(
        other["data"]["content"]
            .as_str()
            .unwrap()
            .contains("only its own"),
        "{other}"
    );

    press(&fake, &o, 2, "c", &alice()).await;

    // Manual escalation with a reason.
    let (_, esc) = in_thread(
        &fake,
        &o,
        l1(incident_cmd(
            "escalate",
            json!([opt_str("reason", "credentials reused on the VPN")]),
        )),
    )
    .await;
    assert_eq!(esc["type"], 4);
    let text = esc["data"]["content"].as_str().unwrap();
    assert!(
        text.contains("INC-1 escalated to Tier 2 by alice"),
        "{text}"
    );
    assert!(text.contains("credentials reused on the VPN"), "{text}");
    assert!(!is_private(&esc));
    // Twice is refused, privately.
    let (_, again) = in_thread(
        &fake,
        &o,
        l1(incident_cmd(
            "escalate",
            json!([opt_str("reason", "again")]),
        )),
    )
    .await;
    assert!(is_private(&again), "{again}");

    // An L1 may not close: a private refusal naming the T2 role.
    let close_opts = json!([
        opt_str("resolution", "true-positive"),
        opt_str("summary", "abused account")
    ]);
    let (_, refused) = in_thread(&fake, &o, l1(incident_cmd("close", close_opts.clone()))).await;
    assert!(is_private(&refused), "{refused}");
    let text = refused["data"]["content"].as_str().unwrap();
    assert!(
        text.contains(&format!("<@&{T2_ROLE}>")) && text.contains("T2"),
        "{text}"
    );
    assert!(
        fake.requests_matching("PATCH", &format!("/channels/{}", o.thread))
            .iter()
            .filter(|r| r.path == format!("/channels/{}", o.thread))
            .collect::<Vec<_>>()
            .is_empty()
    );

    // Reading an incident needs a role too: a member without one gets a private refusal
    // instead of the timeline posted for everyone.
    for sub in ["status", "export"] {
        let (_, refused) =
            in_thread(&fake, &o, incident_cmd(sub, json!([])).username("mallory")).await;
        assert!(is_private(&refused), "{sub}: {refused}");
        let text = refused["data"]["content"].as_str().unwrap();
        assert!(text.contains(&format!("<@&{L1_ROLE}>")), "{sub}: {text}");
        assert!(!text.contains("Owner"), "{sub}: {text}");
    }

    // A note written in the SOC channel, not the thread, still shows in the thread.
    let noted = fake
        .interact(l1(incident_cmd(
            "note",
            json!([
                opt_str("incident", &format!("INC-{}", o.n)),
                opt_str("text", "called the account owner from the SOC channel")
            ]),
        )))
        .await;
    assert_eq!(noted["type"], 4, "{noted}");
    let path = format!("/channels/{}/messages", o.thread);
    fake.wait_for(
        move |r| {
            r.method == "POST"
                && r.path == path
                && r.json().to_string().contains("called the account owner")
        },
        Duration::from_secs(10),
    )
    .await;

    // Status in the thread.
    let (_, status) = in_thread(&fake, &o, l1(incident_cmd("status", json!([])))).await;
    let text = embeds_text(&status["data"]);
    assert!(text.contains("escalated to Tier 2"), "{text}");
    assert!(text.contains("**Concerning** — alice"), "{text}");

    // A T2 closes: the thread is renamed [closed] … and archived.
    let (_, closed) = in_thread(
        &fake,
        &o,
        incident_cmd("close", close_opts)
            .roles(&[T2_ROLE])
            .username("tina"),
    )
    .await;
    assert_eq!(closed["type"], 4, "{closed}");
    assert!(
        closed["data"]["content"]
            .as_str()
            .unwrap()
            .contains("closed as **true positive** by tina")
    );
    let patch = fake
        .wait_for(
            |r| r.method == "PATCH" && r.path == format!("/channels/{}", o.thread),
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.summary());
    let channel = fake.channel(o.thread).unwrap();
    assert_eq!(channel["name"], "[closed] INC-1 · T1583.006 · Manage");
    assert_eq!(channel["thread_metadata"]["archived"], true);
    // The question message keeps the answers but loses its buttons.
    let thread_s = o.thread.to_string();
    let questions = fake
        .wait_for_message(|m| {
            m["channel_id"] == thread_s.as_str()
                && embeds_text(m).contains("**q1.**")
                && custom_ids(m).is_empty()
        })
        .await;
    assert!(embeds_text(&questions).contains("**Concerning** — alice"));
    let closing = thread_messages_titled(&fake, o.thread, "INC-1 closed");
    assert_eq!(closing.len(), 1);
    assert!(embeds_text(&closing[0]).contains("abused account"));

    // Export: a markdown file with the whole story.
    let md = export_markdown(&fake, &o).await;
    for needle in [
        "# INC-1 · Manage",
        "answered q2 Concerning",
        "escalated by hand",
        "credentials reused on the VPN",
        "closed as true positive",
        "abused account",
    ] {
        assert!(md.contains(needle), "export lacks {needle:?}:\n{md}");
    }

    // `/incident list closed` shows it.
    let list = fake
        .interact(l1(incident_cmd(
            "list",
            json!([opt_str("status", "closed")]),
        )))
        .await;
    assert!(embeds_text(&list["data"]).contains("INC-1"), "{list}");

    bot.stop().await.unwrap();

    // The CLI reads the same story from the store once the bot has stopped.
    let env = [
        ("SOCBOT__STORE__PATH", dirs.store.display().to_string()),
        (
            "SOCBOT__PLAYBOOKS__DIR",
            dirs.playbooks.display().to_string(),
        ),
    ];
    let out = socbot_cli(&["export", "INC-1"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "answered q2 Concerning",
        "credentials reused on the VPN",
        "closed as true positive",
    ] {
        assert!(cli.contains(needle), "CLI export lacks {needle:?}:\n{cli}");
    }
    let out = socbot_cli(&["export", "INC-1", "--json"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON export");
    assert!(
        json.to_string().contains("true_positive") || json.to_string().contains("true positive"),
        "{json}"
    );

    no_discord_errors(&fake);
    fake.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// 5. mentions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_text_with_mentions_pings_nobody() {
    // A playbook whose author wrote mentions into the text the thread shows.
    let pinging = format!(
        "# Pinging_Fixture - T1999\n\n| Column Name | Value |\n|---|---|\n\
         | MITRE Tactic | Impact |\n| MITRE TTP | T1999 |\n| Name | Pinging Fixture |\n\
         | Log Sources to Investigate | Ask @everyone for logs |\n\
         | Key Indicators | @here sees <@&{L1_ROLE}> alerts |\n\
         | Questions for Analysis | Did <@{T2_ROLE}> approve it? Was @everyone told? |\n\
         | Decision for Escalation | Tell @here and escalate |\n\
         | Additional Analysis Steps for L1 | 1. Ping @everyone<br>2. Ping <@&{T2_ROLE}> |\n\
         | T2 Analyst Actions | Review. |\n| Containment and Further Analysis | Contain. |\n"
    );
    let Env { fake, dirs, bot } = start(&[("T1999-pinging.md", &pinging)]).await;
    let _ = &dirs;
    let ping = format!(
        "@everyone @here <@&{L1_ROLE}> <@{}> <@!{}>",
        fake.bot_user_id(),
        1_100_000_000_000_000_100u64
    );

    let (id, _) = fake
        .send_interaction(
            incident_cmd(
                "open",
                json!([
                    opt_str("technique", "T1583.006"),
                    opt_str("title", &format!("title {ping}")),
                    opt_str("alert", &format!("alert {ping}")),
                ]),
            )
            .roles(&[L1_ROLE])
            .username("@here"),
        )
        .await;
    let card = fake.interaction_response(id).await;
    assert!(embeds_text(&card["data"]).contains("alert"), "{card}");
    let thread = wait_thread(&fake, "INC-1 · ").await;
    let o = Opened {
        n: 1,
        thread,
        card,
        interaction: id,
    };
    wait_question(&fake, thread, 1, 3).await;

    let (_, note) = in_thread(
        &fake,
        &o,
        incident_cmd("note", json!([opt_str("text", &ping)]))
            .roles(&[L1_ROLE])
            .username("@everyone"),
    )
    .await;
    assert_eq!(note["type"], 4, "{note}");
    assert!(
        note["data"]["content"]
            .as_str()
            .unwrap()
            .contains("@everyone @here <@&"),
        "{note}"
    );
    press(
        &fake,
        &o,
        1,
        "c",
        &Who::new(1_200_000_000_000_000_009, "@everyone <@&1>", &[L1_ROLE]),
    )
    .await;
    in_thread(
        &fake,
        &o,
        incident_cmd(
            "answer",
            json!([
                opt_int("question", 2),
                opt_str("finding", "concerning"),
                opt_str("note", &ping)
            ]),
        )
        .roles(&[L1_ROLE])
        .username("@everyone"),
    )
    .await;
    in_thread(
        &fake,
        &o,
        incident_cmd("escalate", json!([opt_str("reason", &ping)])).roles(&[L1_ROLE]),
    )
    .await;
    // A refusal names a role (<@&…>) in its text: it must not ping it either.
    in_thread(
        &fake,
        &o,
        incident_cmd("close", json!([opt_str("resolution", "benign")])).roles(&[L1_ROLE]),
    )
    .await;
    in_thread(
        &fake,
        &o,
        incident_cmd(
            "close",
            json!([opt_str("resolution", "benign"), opt_str("summary", &ping)]),
        )
        .roles(&[T2_ROLE]),
    )
    .await;
    fake.wait_for(
        |r| r.method == "PATCH" && r.path == format!("/channels/{thread}"),
        Duration::from_secs(15),
    )
    .await;
    wait_titled(&fake, thread, "INC-1 closed", 1).await;
    wait_titled(&fake, thread, "escalate to Tier 2", 1).await;

    // An incident on the pinging playbook: its context and questions are posted, and answered.
    let card = fake
        .interact(l1(incident_cmd(
            "open",
            json!([opt_str("technique", "T1999"), opt_str("title", "pings")]),
        )))
        .await;
    assert_eq!(card["type"], 4, "{card}");
    let pinging_thread = wait_thread(&fake, "INC-2 · ").await;
    wait_question(&fake, pinging_thread, 2, 2).await;
    let shown: String = fake
        .messages_in(pinging_thread)
        .iter()
        .map(embeds_text)
        .collect();
    assert!(shown.contains("Ping @everyone"), "{shown}");

    assert_pings_nobody(&fake);
    assert_stored_messages_ping_nobody(&fake, &[fake.channel_id(), thread, pinging_thread]);
    // The text itself is shown, not swallowed.
    let all: String = fake.messages_in(thread).iter().map(embeds_text).collect();
    assert!(all.contains("@everyone"), "{all}");

    finish(&fake, bot).await;
}

// ---------------------------------------------------------------------------------------------
// 6. duplicates and restarts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_interaction_changes_nothing_and_a_restart_keeps_everything() {
    let (fake, dirs, bot) = bot::start_fresh(&[TEN_FILE]).await;
    let o = open(&fake, "T1583.006", "Before restart", 3).await;
    assert_eq!(o.n, 1);

    // The same button press delivered twice: one answer, one callback.
    let (id, update) = press_id(&fake, &o, 1, "c", &alice()).await;
    assert_eq!(update["type"], 7);
    fake.resend_interaction(id).await;
    // The same open delivered twice: one incident, one thread.
    fake.resend_interaction(o.interaction).await;
    // A later interaction is answered after the duplicates were seen.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let md = export_markdown(&fake, &o).await;
    assert_eq!(md.matches("answered q1 Concerning").count(), 1, "{md}");
    assert_eq!(md.matches("decision: Escalate").count(), 1, "{md}");
    let callbacks = |id: u64| {
        fake.requests_matching("POST", &format!("/interactions/{id}/"))
            .len()
    };
    assert_eq!(callbacks(id), 1);
    assert_eq!(callbacks(o.interaction), 1);
    assert_eq!(fake.threads().len(), 1);
    assert_eq!(
        wait_titled(&fake, o.thread, "escalate to Tier 2", 1)
            .await
            .len(),
        1
    );

    // Restart: same store.
    bot.stop().await.unwrap();
    let bot = Bot::start(&fake, &dirs).await;

    // Old buttons still work, on the old incident.
    let update = press(&fake, &o, 2, "k", &alice()).await;
    assert_eq!(update["type"], 7, "{update}");
    let text = embeds_text(&update["data"]);
    assert!(text.contains("**Clear** — alice"), "{text}");
    assert!(text.contains("**Concerning** — alice"), "{text}");
    // Commands in the old thread still find the incident.
    let (_, status) = in_thread(&fake, &o, l1(incident_cmd("status", json!([])))).await;
    assert!(
        embeds_text(&status["data"]).contains("INC-1 · Before restart"),
        "{status}"
    );
    // A duplicate of a pre-restart interaction is still recognised.
    fake.resend_interaction(id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(callbacks(id), 1);

    // Numbers continue: INC-2, never INC-1 again.
    let o2 = open(&fake, "T1204.002", "After restart", 10).await;
    assert_eq!(o2.n, 2);
    bot.stop().await.unwrap();
    let bot = Bot::start(&fake, &dirs).await;
    let o3 = open(&fake, "T1583.006", "After a second restart", 3).await;
    assert_eq!(o3.n, 3);
    press(&fake, &o2, 10, "u", &alice()).await;
    let md = export_markdown(&fake, &o).await;
    assert_eq!(md.matches("answered q1 Concerning").count(), 1, "{md}");
    assert!(md.contains("answered q2 Clear"), "{md}");

    finish(&fake, bot).await;
}

// ---------------------------------------------------------------------------------------------
// 7. over-long input

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_input_gets_a_clear_private_error_not_a_discord_400() {
    let Env { fake, dirs, bot } = start(&[]).await;
    let _ = &dirs;

    // 201 characters (Discord's client would stop at 200; a raw interaction does not).
    let long_title = "t".repeat(201);
    let refused = fake
        .interact(l1(incident_cmd(
            "open",
            json!([
                opt_str("technique", "T1583.006"),
                opt_str("title", &long_title)
            ]),
        )))
        .await;
    assert!(is_private(&refused), "{refused}");
    let text = refused["data"]["content"].as_str().unwrap();
    assert!(text.contains("title") && text.contains("200"), "{text}");
    assert!(fake.threads().is_empty());

    // 200 characters of wide text and a 2000-character alert are fine, within Discord's limits.
    let (id, _) = fake
        .send_interaction(l1(incident_cmd(
            "open",
            json!([
                opt_str("technique", "T1583.006"),
                opt_str("title", &"é".repeat(200)),
                opt_str("alert", &"a".repeat(2000)),
            ]),
        )))
        .await;
    let card = fake.interaction_response(id).await;
    assert_eq!(card["type"], 4, "{card}");
    let thread = wait_thread(&fake, "INC-1 · ").await;
    let name = fake.channel(thread).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(name.chars().count() <= 100, "{name}");
    let o = Opened {
        n: 1,
        thread,
        card,
        interaction: id,
    };
    wait_question(&fake, thread, 1, 3).await;

    // A 1,001-character note: by command and by the form.
    let note = "n".repeat(1001);
    let (_, refused) = in_thread(
        &fake,
        &o,
        l1(incident_cmd(
            "answer",
            json!([
                opt_int("question", 1),
                opt_str("finding", "clear"),
                opt_str("note", &note)
            ]),
        )),
    )
    .await;
    assert!(is_private(&refused), "{refused}");
    let text = refused["data"]["content"].as_str().unwrap();
    assert!(text.contains("note") && text.contains("1000"), "{text}");
    let message = wait_question(&fake, thread, 1, 1).await;
    let submit = l1(Interaction::modal_submit(
        "notem:1:1",
        &[("finding", "clear"), ("note", &note)],
    ))
    .on_message(&message)
    .channel(thread);
    let (id, _) = fake.send_interaction(submit).await;
    let refused = fake.interaction_response(id).await;
    assert!(is_private(&refused), "{refused}");
    let (_, refused) = in_thread(
        &fake,
        &o,
        l1(incident_cmd("note", json!([opt_str("text", &note)]))),
    )
    .await;
    assert!(is_private(&refused), "{refused}");

    // 1,000-character notes on every question still render within Discord's limits.
    let fine = "é".repeat(1000);
    for q in 1..=3 {
        let submit = l1(Interaction::modal_submit(
            &format!("notem:1:{q}"),
            &[("finding", "unknown"), ("note", &fine)],
        ))
        .on_message(&message)
        .channel(thread);
        let (id, _) = fake.send_interaction(submit).await;
        let update = fake.interaction_response(id).await;
        assert_eq!(update["type"], 7, "{update}");
    }
    let (_, status) = in_thread(&fake, &o, l1(incident_cmd("status", json!([])))).await;
    assert_eq!(status["type"], 4, "{status}");
    let (_, answered) = in_thread(
        &fake,
        &o,
        l1(incident_cmd(
            "answer",
            json!([
                opt_int("question", 2),
                opt_str("finding", "clear"),
                opt_str("note", &fine)
            ]),
        )),
    )
    .await;
    assert_eq!(answered["type"], 4, "{answered}");
    fake.wait_for_request("PATCH", &format!("/channels/{thread}/messages/*"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    finish(&fake, bot).await;
}

// ---------------------------------------------------------------------------------------------
// 9. the console while Discord is down

/// Discord is down, so the analyst works at `socbot console` (roles are configured, and the
/// person at the terminal is trusted). Nothing is lost: when the bot runs again, the incident
/// gets its thread in the SOC channel, with the answer given at the console and the decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_worked_at_the_console_reach_discord_when_the_bot_runs_again() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let mut console = support::cli::socbot_command(&["USER"]);
    console
        .arg("console")
        .current_dir(&dirs.root)
        .env("SOCBOT__STORE__PATH", &dirs.store)
        .env("SOCBOT__PLAYBOOKS__DIR", &dirs.playbooks)
        .env(
            "SOCBOT__DISCORD__SOC_CHANNEL_ID",
            fake.channel_id().to_string(),
        )
        .env("SOCBOT__ROLES__L1", L1_ROLE.to_string())
        .env("SOCBOT__ROLES__T2", T2_ROLE.to_string())
        .env("USER", "nightshift")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = console.spawn().expect("socbot console starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(
                b"/incident open T1583.006 Opened while Discord was down\n\
                  /incident answer INC-1 1 concerning no ticket for the accounts\n",
            )
            .unwrap();
    }
    let out = child.wait_with_output().expect("the console ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("opened INC-1"), "{stdout}");
    assert!(stdout.contains("decision: Escalate"), "{stdout}");
    assert_eq!(fake.requests().len(), 0, "the console never calls Discord");

    let bot = Bot::start(&fake, &dirs).await;
    let req = wait_thread_created(&fake, "INC-1 · ", Duration::from_secs(20)).await;
    assert_eq!(req.path, format!("/channels/{}/threads", fake.channel_id()));
    let thread: u64 = req.response.expect("the thread")["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let path = format!("/channels/{thread}/messages");
    let decision = fake
        .wait_for(
            move |r| {
                r.method == "POST"
                    && r.path == path
                    && r.json().to_string().contains("escalate to Tier 2")
            },
            Duration::from_secs(20),
        )
        .await;
    assert!(
        decision.json().to_string().contains("nightshift"),
        "the decision names who answered: {}",
        decision.json()
    );
    let shown: String = fake
        .messages_in(thread)
        .iter()
        .map(|m| m["embeds"].to_string())
        .collect();
    assert!(shown.contains("no ticket for the accounts"), "{shown}");
    finish(&fake, bot).await;
}
