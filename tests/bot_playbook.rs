//! Whole-bot tests of `/playbook`: the real daemon (`socbot::daemon::run`) against the
//! Discord-compatible server on loopback. Every test ends with `fake.assert_clean()`, so a body
//! that breaks Discord's spec or limits, an unexpected request or a protocol error fails it.
//!
//! Text checks compare the reply with the parsed playbook after taking out what the renderer
//! adds on purpose: markdown escapes (backslashes) and whitespace (line breaks, chunk joins).

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use socbot::discord::render;
use socbot::playbook::{Library, Playbook, SectionKind, TechniqueId};
use socbot::render::inline::code_to_backticks;
use socbot::service::PlaybookView;
use support::bot::{self, Bot, BotDirs};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_bool, opt_str};

const WEB_SERVICES: &str = "T1583.006";
const WEB_SERVICES_NAME: &str = "Acquire Infrastructure: Web Services";
const WEB_SERVICES_FILE: &str = "T1583.006-acquire-infrastructure-web-services.md";
const CORPUS: &str = "../shared/corpus/attack-playbooks";
const EPHEMERAL: u64 = 64;

// ---------------------------------------------------------------------------------------------
// Fixtures written for these tests (never taken from the corpus).

/// A playbook file with the seven known rows; `rule` adds an `Escalation Rule` row.
fn playbook_file(id: &str, name: &str, tactic: &str, cells: [&str; 7]) -> String {
    let digits = id.replace('.', "");
    let heading = name.replace(' ', "_");
    let [logs, indicators, questions, decision, l1, t2, containment] = cells;
    format!(
        "# {heading} - {digits}\n\n| Column Name | Value |\n|-------------|-------|\n\
         | MITRE Tactic | {tactic} |\n| MITRE TTP | {id} |\n| MITRE Sub-TTP | {id} |\n\
         | Name | {name} |\n| Log Sources to Investigate | {logs} |\n\
         | Key Indicators | {indicators} |\n| Questions for Analysis | {questions} |\n\
         | Decision for Escalation | {decision} |\n| Additional Analysis Steps for L1 | {l1} |\n\
         | T2 Analyst Actions | {t2} |\n| Containment and Further Analysis | {containment} |\n"
    )
}

/// A parent technique (no sub-technique) for the parent fallback of `T1583.099`.
fn parent_fixture() -> String {
    playbook_file(
        "T1583",
        "Acquire Infrastructure Parent Fixture",
        "Resource Development",
        [
            "Registrar and hosting provider notices about the organisation's brand.",
            "New infrastructure that imitates internal host names.",
            "Is the new infrastructure owned by a supplier? Does it imitate an internal service?",
            "Escalate when it imitates an internal service and no supplier owns it.",
            "Record the registrar, creation date and hosting network.",
            "Ask the brand protection team for a takedown.",
            "Block the infrastructure at the proxy.",
        ],
    )
}

/// Cells that would ping everybody if the bot let them.
fn mentions_fixture() -> String {
    playbook_file(
        "T1997",
        "Mention Bait Fixture",
        "Discovery",
        [
            "Tell @everyone and @here in the channel.",
            "Page the role <@&123> at once.",
            "Was <@456> told? Did <@!789> answer? Did <@&123> see it?",
            "Escalate to @everyone when in doubt.",
            "Ping <@456> for the logs.",
            "Ask <@&123> for approval.",
            "Notify @everyone.",
        ],
    )
}

/// Cells far over every Discord limit: a 13,000-character numbered list, one unbroken
/// 5,000-character token, backslashes and `<code>`.
fn long_fixture() -> String {
    let steps: Vec<String> = (1..=150)
        .map(|i| {
            format!("{i}. Check record {i} of the host inventory for configuration drift since the last baseline")
        })
        .collect();
    let token: String = (0..5000)
        .map(|i| char::from(b"0123456789abcdef"[(i * 7 + i / 16) % 16]))
        .collect();
    let t2 = format!(
        "Compare the dropped files under C:\\Windows\\Temp\\*.dll with the hash list {token} and run <code>reg query HKLM\\Software\\Run</code> on each host."
    );
    let questions = "Is the first host a server? Is the second host a workstation? Did the drift start after the last patch window?";
    let logs = "Configuration management history, ".repeat(40);
    playbook_file(
        "T1998",
        "Synthetic Long Cells Fixture",
        "Impact",
        [
            logs.trim(),
            "Drift on many hosts at once.",
            questions,
            "Escalate when drift appears on a server.",
            &steps.join("<br>"),
            &t2,
            "Restore the baseline from the configuration repository.",
        ],
    )
}

/// A name longer than autocomplete's 100 characters.
fn long_name_fixture() -> String {
    let name = format!("Long Name Fixture {}", "with many words ".repeat(12).trim());
    playbook_file(
        "T1996",
        &name,
        "Discovery",
        [
            "Logs.",
            "Indicators.",
            "Is it long?",
            "Escalate never.",
            "Step.",
            "Action.",
            "Contain.",
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Starts a fake Discord and the bot on the bundled playbooks plus `extra` files.
async fn start(extra: &[(&str, &str)]) -> (FakeDiscord, BotDirs, Bot) {
    capture_logs();
    bot::start_fresh(extra).await
}

fn playbook_cmd(technique: &str, more: &[Value]) -> Interaction {
    let mut options = vec![opt_str("technique", technique)];
    options.extend_from_slice(more);
    Interaction::slash_command("playbook", Value::Array(options))
}

fn flags(data: &Value) -> u64 {
    data["flags"].as_u64().unwrap_or(0)
}

/// The playbook as the bot should have parsed it from `dir`.
fn parsed(dir: &Path, id: &str) -> Arc<Playbook> {
    let (library, _) = Library::load_dir(dir).expect("playbook dir loads");
    library
        .get(TechniqueId::parse(id).expect("valid id"))
        .unwrap_or_else(|| panic!("{id} loads from {}", dir.display()))
        .clone()
}

/// Waits until the bot has sent `n` follow-ups through `token` (each pass of `wait_for` starts
/// from the first request again, which is when the count restarts).
async fn wait_followups(fake: &FakeDiscord, token: &str, n: usize) {
    let path = format!("/webhooks/{}/{token}", fake.application_id());
    wait_calls(fake, "POST", move |p| p == path, n).await;
}

/// Waits until `n` requests with `method` and a path that `matches` have arrived.
async fn wait_calls(
    fake: &FakeDiscord,
    method: &'static str,
    matches: impl Fn(&str) -> bool,
    n: usize,
) {
    if n == 0 {
        return;
    }
    let (mut last_seq, mut count) = (0, 0);
    fake.wait_for(
        move |r| {
            if r.seq <= last_seq {
                count = 0;
            }
            last_seq = r.seq;
            if r.method == method && matches(&r.path) {
                count += 1;
            }
            count >= n
        },
        Duration::from_secs(20),
    )
    .await;
}

/// How many messages the whole reply for `view` takes.
fn message_count(playbook: &Arc<Playbook>, section: Option<SectionKind>) -> usize {
    render::playbook_messages(&PlaybookView {
        playbook: playbook.clone(),
        section,
        note: None,
    })
    .len()
}

/// Sends `/playbook technique` and returns every message of the reply (original, follow-ups),
/// once the `expected` messages are there.
async fn whole_reply(fake: &FakeDiscord, technique: &str, expected: usize) -> Vec<Value> {
    let (id, token) = fake.send_interaction(playbook_cmd(technique, &[])).await;
    let answer = fake.interaction_response(id).await;
    assert_eq!(answer["type"], 4, "{technique}: {answer}");
    wait_followups(fake, &token, expected - 1).await;
    let messages = fake.interaction_messages(id);
    assert_eq!(
        messages.len(),
        expected,
        "{technique}: messages of the reply"
    );
    messages
}

fn embeds(message: &Value) -> &[Value] {
    message["embeds"].as_array().map_or(&[][..], Vec::as_slice)
}

fn embed_titles(message: &Value) -> Vec<String> {
    embeds(message)
        .iter()
        .map(|e| e["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every description and content of the messages, in order.
fn bodies(messages: &[Value]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str(m["content"].as_str().unwrap_or_default());
        out.push('\n');
        for e in embeds(m) {
            out.push_str(e["description"].as_str().unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

/// Text without markdown escapes and whitespace: what the reader sees, minus layout.
fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '\\')
        .collect()
}

/// Panics unless every lead and item of every section (or of `only`) is in `rendered`.
fn assert_sections_shown(playbook: &Playbook, only: Option<SectionKind>, rendered: &str) {
    let rendered = norm(rendered);
    for section in playbook
        .sections
        .iter()
        .filter(|s| only.is_none_or(|k| s.kind == k))
    {
        for text in section.lead.iter().chain(&section.items) {
            let want = norm(&code_to_backticks(text));
            assert!(
                rendered.contains(&want),
                "{}: section {:?} lost text:\n  {text}",
                playbook.id,
                section.title
            );
        }
    }
}

/// The section picker (string select) of a message: its custom_id and options.
fn picker(message: &Value) -> (String, Vec<Value>) {
    let menu = message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().into_iter().flatten())
        .find(|c| c["type"] == 3)
        .unwrap_or_else(|| panic!("no select menu on {message}"));
    let options = menu["options"].as_array().cloned().unwrap_or_default();
    (
        menu["custom_id"].as_str().unwrap_or_default().to_owned(),
        options,
    )
}

fn choices(answer: &Value) -> Vec<(String, String)> {
    answer["data"]["choices"]
        .as_array()
        .unwrap_or_else(|| panic!("no choices in {answer}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Writes `text` to `dir/name` in one step (a rename), so a reload never sees half a file.
fn replace_file(dirs: &BotDirs, name: &str, text: &str) {
    let tmp = dirs.root.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dirs.playbooks.join(name)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Log capture: the reload test waits for the daemon's own report that it refused a reload.

struct Logs {
    lines: Mutex<Vec<String>>,
    changed: tokio::sync::Notify,
}

fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| Logs {
        lines: Mutex::new(Vec::new()),
        changed: tokio::sync::Notify::new(),
    })
}

struct Capture;

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!("{}={value} ", field.name()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::layer::Layer<S> for Capture {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.is_event()
            && metadata.target().starts_with("socbot::daemon")
            && *metadata.level() <= tracing::Level::WARN
        {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut line = String::new();
        event.record(&mut Fields(&mut line));
        logs().lines.lock().unwrap().push(line);
        logs().changed.notify_waiters();
    }
}

/// Installs the capture as the process's subscriber (once per test binary).
fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let _ =
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture));
    });
}

/// Waits (at most `timeout`) for a captured warning that contains every one of `needles`.
async fn wait_log(needles: &[&str], timeout: Duration) -> String {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = logs().changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(line) = logs()
            .lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
        {
            return line.clone();
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {
                panic!("no log line with {needles:?} within {timeout:?}; captured:\n{:#?}", logs().lines.lock().unwrap());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_registered_with_their_options() {
    let (fake, _dirs, bot) = start(&[]).await;
    let commands = fake.commands(Some(fake.guild_id()));
    assert!(
        fake.commands(None).is_empty(),
        "a guild is configured: nothing global"
    );
    let command = |name: &str| {
        commands
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("/{name} is not registered: {commands:#?}"))
            .clone()
    };

    let playbook = command("playbook");
    let options = playbook["options"].as_array().unwrap();
    let names: Vec<&str> = options.iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, ["technique", "section", "private"]);
    let technique = &options[0];
    assert_eq!(technique["type"], 3, "string: {technique}");
    assert_eq!(technique["required"], true, "{technique}");
    assert_eq!(technique["autocomplete"], true, "{technique}");
    let section = &options[1];
    assert_eq!(section["type"], 3, "{section}");
    assert_ne!(section["required"], true, "{section}");
    let values: Vec<&str> = section["choices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["value"].as_str())
        .collect();
    let keys: Vec<&str> = SectionKind::KNOWN.iter().map(|k| k.key()).collect();
    assert_eq!(values, keys, "the seven sections: {section}");
    let private = &options[2];
    assert_eq!(private["type"], 5, "boolean: {private}");
    assert_ne!(private["required"], true, "{private}");

    let incident = command("incident");
    let subs: Vec<&str> = incident["options"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|o| assert_eq!(o["type"], 1, "a subcommand: {o}"))
        .filter_map(|o| o["name"].as_str())
        .collect();
    for sub in [
        "open", "answer", "note", "escalate", "status", "list", "close", "export",
    ] {
        assert!(subs.contains(&sub), "/incident {sub} is missing: {subs:?}");
    }
    let open = incident["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "open")
        .unwrap();
    let open_technique = &open["options"][0];
    assert_eq!(open_technique["name"], "technique");
    assert_eq!(open_technique["autocomplete"], true, "{open_technique}");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

/// `/help` answers privately with every registered command, its options and who may use it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_every_registered_command_privately() {
    let (fake, _dirs, bot) = start(&[]).await;
    let answer = fake
        .interact(Interaction::slash_command("help", json!([])))
        .await;
    assert_eq!(answer["type"], 4, "{answer}");
    let data = &answer["data"];
    assert_eq!(flags(data) & EPHEMERAL, EPHEMERAL, "only the asker: {data}");
    let content = data["content"].as_str().unwrap_or_default();
    let commands = fake.commands(Some(fake.guild_id()));
    assert!(
        commands.iter().any(|c| c["name"] == "help"),
        "{commands:#?}"
    );
    for command in &commands {
        let name = command["name"].as_str().unwrap();
        assert!(content.contains(&format!("`/{name}")), "/{name}: {content}");
    }
    for line in [
        "`/playbook technique [section] [private]`",
        "`/incident close resolution [summary] [incident]`",
        "(`roles.t2`)",
    ] {
        assert!(content.contains(line), "{line} missing: {content}");
    }
    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbook_shows_the_header_and_every_section() {
    let (fake, dirs, bot) = start(&[]).await;
    let expected = parsed(&dirs.playbooks, WEB_SERVICES);
    let answer = fake.interact(playbook_cmd(WEB_SERVICES, &[])).await;
    assert_eq!(answer["type"], 4, "{answer}");
    let data = &answer["data"];
    assert_eq!(flags(data) & EPHEMERAL, 0, "public by default: {data}");
    let messages = [data.clone()];
    assert_eq!(
        message_count(&expected, None),
        1,
        "the seed fits one message"
    );

    let header = &embeds(data)[0];
    let link = "https://attack.mitre.org/techniques/T1583/006/";
    assert_eq!(
        header["title"],
        format!("{WEB_SERVICES} · {WEB_SERVICES_NAME}")
    );
    assert_eq!(header["url"], link);
    let description = header["description"].as_str().unwrap();
    assert!(
        description.contains("Resource Development"),
        "{description}"
    );
    assert!(description.contains(link), "{description}");

    let titles = embed_titles(data);
    for section in &expected.sections {
        assert!(
            titles.contains(&section.title),
            "no embed for {:?}: {titles:?}",
            section.title
        );
    }
    assert_sections_shown(&expected, None, &bodies(&messages));
    let (custom_id, options) = picker(data);
    assert_eq!(custom_id, format!("pb:{WEB_SERVICES}"));
    assert_eq!(options.len(), 8, "all + seven sections: {options:#?}");

    // One section: just the questions, numbered q1…q3, no other section.
    let answer = fake
        .interact(playbook_cmd(
            WEB_SERVICES,
            &[opt_str("section", "questions")],
        ))
        .await;
    assert_eq!(answer["type"], 4, "{answer}");
    let data = &answer["data"];
    let titles = embed_titles(data);
    assert_eq!(titles.len(), 2, "header and questions: {titles:?}");
    assert_eq!(titles[1], "Questions for Analysis");
    let text = bodies(std::slice::from_ref(data));
    for (i, q) in expected.questions.iter().enumerate() {
        assert!(text.contains(&format!("q{}.", i + 1)), "{text}");
        assert!(norm(&text).contains(&norm(q)), "{q} not in {text}");
    }
    assert!(!text.contains("q4."), "three questions only: {text}");
    let shown = format!("{titles:?}{text}");
    for other in SectionKind::KNOWN
        .iter()
        .filter(|k| **k != SectionKind::Questions)
    {
        assert!(
            !shown.contains(other.row_title()),
            "{:?} shown with section:questions",
            other.row_title()
        );
    }
    assert_sections_shown(&expected, Some(SectionKind::Questions), &text);
    let extra = expected
        .sections
        .iter()
        .filter(|s| s.kind != SectionKind::Questions);
    for s in extra {
        for item in &s.items {
            assert!(
                !norm(&text).contains(&norm(item)),
                "{item} is not a question"
            );
        }
    }

    // private:true → only the asker sees it.
    let answer = fake
        .interact(playbook_cmd(WEB_SERVICES, &[opt_bool("private", true)]))
        .await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(flags(&answer["data"]) & EPHEMERAL, EPHEMERAL, "{answer}");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_select_menu_switches_section_in_place() {
    let (fake, _dirs, bot) = start(&[]).await;
    let (id, _) = fake.send_interaction(playbook_cmd(WEB_SERVICES, &[])).await;
    fake.interaction_response(id).await;
    let message = fake.original_response(id).expect("the reply is stored");
    let (custom_id, _) = picker(&message);

    let answer = fake
        .interact(Interaction::component(
            &custom_id,
            3,
            &["containment"],
            &message,
        ))
        .await;
    assert_eq!(answer["type"], 7, "an update of the same message: {answer}");
    let titles = embed_titles(&answer["data"]);
    assert_eq!(
        titles[1..],
        ["Containment and Further Analysis".to_owned()],
        "{titles:?}"
    );
    assert!(
        titles[0].starts_with(WEB_SERVICES),
        "header kept: {titles:?}"
    );
    let (_, options) = picker(&answer["data"]);
    let selected: Vec<&Value> = options.iter().filter(|o| o["default"] == true).collect();
    assert_eq!(selected.len(), 1, "{options:#?}");
    assert_eq!(selected[0]["value"], "containment");

    // The stored message changed in place, and switching back shows everything again.
    let message_id = message["id"].as_str().unwrap().parse().unwrap();
    let updated = fake.message(message_id).unwrap();
    assert_eq!(embed_titles(&updated), titles);
    let answer = fake
        .interact(Interaction::component(&custom_id, 3, &["all"], &updated))
        .await;
    assert_eq!(answer["type"], 7, "{answer}");
    assert_eq!(embed_titles(&answer["data"]).len(), 8, "header + seven");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_offers_ids_and_names() {
    let long_name = long_name_fixture();
    let (fake, _dirs, bot) = start(&[("T1996-long-name.md", &long_name)]).await;

    let answer = fake
        .interact(Interaction::autocomplete("playbook", "technique", "T1583"))
        .await;
    assert_eq!(answer["type"], 8, "{answer}");
    let got = choices(&answer);
    assert!(got.len() <= 25, "{got:?}");
    for (name, value) in &got {
        assert!(name.chars().count() <= 100 && value.chars().count() <= 100);
    }
    let values: Vec<&str> = got.iter().map(|(_, v)| v.as_str()).collect();
    assert!(
        values.contains(&"T1583.003") && values.contains(&WEB_SERVICES),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            format!("{WEB_SERVICES} · {WEB_SERVICES_NAME}"),
            WEB_SERVICES.to_owned()
        )),
        "{got:?}"
    );

    let answer = fake
        .interact(Interaction::autocomplete(
            "playbook",
            "technique",
            "web serv",
        ))
        .await;
    assert_eq!(choices(&answer)[0].1, WEB_SERVICES, "{answer}");

    // The same search behind `/incident open technique:`.
    let answer = fake
        .interact(Interaction::autocomplete(
            "incident",
            "open.technique",
            "web serv",
        ))
        .await;
    assert_eq!(answer["type"], 8, "{answer}");
    assert_eq!(choices(&answer)[0].1, WEB_SERVICES, "{answer}");

    // A name over 100 characters is clipped, the id stays whole.
    let answer = fake
        .interact(Interaction::autocomplete("playbook", "technique", "T1996"))
        .await;
    let got = choices(&answer);
    assert_eq!(got[0].1, "T1996", "{got:?}");
    assert_eq!(got[0].0.chars().count(), 100, "{got:?}");
    assert!(
        got[0].0.starts_with("T1996 · Long Name Fixture") && got[0].0.ends_with('…'),
        "{got:?}"
    );

    // Whatever is typed, at most 25 choices within the limits.
    for typed in ["", "t", "1", "zzzz qqqq", &"x".repeat(100), "Resource"] {
        let answer = fake
            .interact(Interaction::autocomplete("playbook", "technique", typed))
            .await;
        assert_eq!(answer["type"], 8, "{typed:?}: {answer}");
        assert!(choices(&answer).len() <= 25, "{typed:?}: {answer}");
    }

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_get_private_suggestions_and_sub_techniques_fall_back_to_the_parent() {
    let parent = parent_fixture();
    let (fake, _dirs, bot) = start(&[("T1583-parent-fixture.md", &parent)]).await;

    let answer = fake.interact(playbook_cmd("T9999.999", &[])).await;
    assert_eq!(answer["type"], 4, "{answer}");
    let data = &answer["data"];
    assert_eq!(flags(data) & EPHEMERAL, EPHEMERAL, "private: {data}");
    let content = data["content"].as_str().unwrap_or_default();
    assert!(content.contains("T9999.999"), "{content}");
    assert!(
        content.contains("T1583.006") || content.contains("T1583.003"),
        "suggestions: {content}"
    );

    // Not an id at all: suggestions from the name search.
    let answer = fake.interact(playbook_cmd("web servic", &[])).await;
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    assert_eq!(flags(&answer["data"]) & EPHEMERAL, EPHEMERAL, "{answer}");
    assert!(content.contains(WEB_SERVICES), "{content}");

    // A sub-technique without a playbook: the parent's, and the reply says so.
    let answer = fake.interact(playbook_cmd("T1583.099", &[])).await;
    assert_eq!(answer["type"], 4, "{answer}");
    let header = &embeds(&answer["data"])[0];
    assert!(
        header["title"]
            .as_str()
            .unwrap()
            .starts_with("T1583 · Acquire Infrastructure Parent Fixture"),
        "{header}"
    );
    let description = norm(header["description"].as_str().unwrap());
    assert!(
        description.contains(&norm("There is no playbook for T1583.099"))
            && description.contains(&norm("parent technique T1583")),
        "{header}"
    );
    assert_eq!(header["url"], "https://attack.mitre.org/techniques/T1583/");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_cells_are_split_over_embeds_and_follow_ups_without_losing_text() {
    let ransomware = include_str!("fixtures/playbooks/impact/T1486-ransomware-long-cells.md");
    let synthetic = long_fixture();
    let (fake, dirs, bot) = start(&[
        ("T1486-long-cells.md", ransomware),
        ("T1998-synthetic.md", &synthetic),
    ])
    .await;
    for id in ["T1486", "T1998"] {
        let playbook = parsed(&dirs.playbooks, id);
        let expected = message_count(&playbook, None);
        assert!(expected >= 2, "{id} needs follow-ups");
        let messages = whole_reply(&fake, id, expected).await;
        assert_sections_shown(&playbook, None, &bodies(&messages));
        let all_titles: Vec<String> = messages.iter().flat_map(embed_titles).collect();
        for section in &playbook.sections {
            assert!(
                all_titles.iter().any(|t| t.starts_with(&section.title)),
                "{id}: no embed for {:?}: {all_titles:?}",
                section.title
            );
        }
        assert!(
            picker(&messages[0]).0.ends_with(id),
            "the picker is on the first message"
        );
    }
    // The synthetic one splits single sections over several embeds: (1/n) titles.
    let synthetic = parsed(&dirs.playbooks, "T1998");
    let expected = message_count(&synthetic, None);
    let messages = whole_reply(&fake, "T1998", expected).await;
    let titles: Vec<String> = messages.iter().flat_map(embed_titles).collect();
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("Additional Analysis Steps for L1 (1/")),
        "{titles:?}"
    );
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("T2 Analyst Actions (2/")),
        "{titles:?}"
    );
    // One long section asked alone still arrives whole.
    let (id, token) = fake
        .send_interaction(playbook_cmd("T1998", &[opt_str("section", "l1-steps")]))
        .await;
    fake.interaction_response(id).await;
    let n = message_count(&synthetic, Some(SectionKind::L1Steps));
    wait_followups(&fake, &token, n - 1).await;
    let messages = fake.interaction_messages(id);
    assert_eq!(messages.len(), n);
    assert_sections_shown(&synthetic, Some(SectionKind::L1Steps), &bodies(&messages));

    bot.stop().await.unwrap();
    fake.assert_clean();
}

/// A header (here the tactics) past one embed's 4,096 characters is carried into numbered
/// header embeds, never cut: every tactic arrives, within Discord's limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_past_one_embed_is_carried_on_not_cut() {
    let tactics: Vec<String> = (0..500).map(|i| format!("Tactic {i:03}")).collect();
    let file = playbook_file(
        "T1995",
        "Long Header Fixture",
        &tactics.join(", "),
        [
            "Logs.",
            "Indicators.",
            "Is the header long?",
            "Escalate never.",
            "Step.",
            "Action.",
            "Contain.",
        ],
    );
    let (fake, dirs, bot) = start(&[("T1995-long-header.md", &file)]).await;
    let playbook = parsed(&dirs.playbooks, "T1995");
    assert_eq!(playbook.tactics.len(), 500);
    let expected = message_count(&playbook, None);
    let messages = whole_reply(&fake, "T1995", expected).await;
    let shown: Vec<&Value> = messages.iter().flat_map(embeds).collect();
    let titles: Vec<String> = messages.iter().flat_map(embed_titles).collect();
    assert!(
        titles[0].starts_with("T1995 · Long Header Fixture (1/")
            && titles[1].starts_with("T1995 · Long Header Fixture (2/"),
        "{titles:?}"
    );
    assert_eq!(
        shown[0]["url"],
        "https://attack.mitre.org/techniques/T1995/"
    );
    let rendered = norm(&bodies(&messages));
    for tactic in &tactics {
        assert!(rendered.contains(&norm(tactic)), "{tactic} was cut");
    }
    assert!(rendered.contains(&norm("attack.mitre.org/techniques/T1995/")));
    assert_sections_shown(&playbook, None, &bodies(&messages));

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_section_replaces_the_follow_ups_of_a_long_reply() {
    let synthetic = long_fixture();
    let (fake, dirs, bot) = start(&[("T1998-synthetic.md", &synthetic)]).await;
    let playbook = parsed(&dirs.playbooks, "T1998");
    let channel = fake.channel_id();
    let webhook = format!("/webhooks/{}/", fake.application_id());
    let deletes = {
        let webhook = webhook.clone();
        move |p: &str| p.starts_with(&webhook) && p.contains("/messages/")
    };

    // The whole playbook: a first message and follow-ups.
    let all = message_count(&playbook, None);
    assert!(all >= 3, "the fixture needs several follow-ups");
    let (id, token) = fake.send_interaction(playbook_cmd("T1998", &[])).await;
    fake.interaction_response(id).await;
    wait_followups(&fake, &token, all - 1).await;
    let first = fake.original_response(id).expect("the reply is stored");
    let first_id: u64 = first["id"].as_str().unwrap().parse().unwrap();
    let (custom_id, _) = picker(&first);
    assert_eq!(fake.messages_in(channel).len(), all);

    // Switch to the questions, which fit in one message: the old tail goes away.
    let answer = fake
        .interact(Interaction::component(
            &custom_id,
            3,
            &["questions"],
            &first,
        ))
        .await;
    assert_eq!(answer["type"], 7, "{answer}");
    wait_calls(&fake, "DELETE", deletes.clone(), all - 1).await;
    let shown = fake.messages_in(channel);
    assert_eq!(
        shown.len(),
        1,
        "only the redrawn reply is left: {:?}",
        shown.iter().map(embed_titles).collect::<Vec<_>>()
    );
    assert_sections_shown(&playbook, Some(SectionKind::Questions), &bodies(&shown));

    // Switch to a section that needs follow-ups of its own, then back to everything.
    let steps = message_count(&playbook, Some(SectionKind::L1Steps));
    assert!(steps >= 2, "the L1 steps need follow-ups");
    let message = fake.message(first_id).expect("still there");
    let (switch, switch_token) = fake
        .send_interaction(Interaction::component(
            &custom_id,
            3,
            &["l1-steps"],
            &message,
        ))
        .await;
    fake.interaction_response(switch).await;
    wait_followups(&fake, &switch_token, steps - 1).await;
    let shown = fake.messages_in(channel);
    assert_eq!(shown.len(), steps);
    assert_sections_shown(&playbook, Some(SectionKind::L1Steps), &bodies(&shown));

    let message = fake.message(first_id).expect("still there");
    let (back, back_token) = fake
        .send_interaction(Interaction::component(&custom_id, 3, &["all"], &message))
        .await;
    fake.interaction_response(back).await;
    wait_followups(&fake, &back_token, all - 1).await;
    wait_calls(&fake, "DELETE", deletes, all - 1 + steps - 1).await;
    let shown = fake.messages_in(channel);
    assert_eq!(shown.len(), all, "the whole playbook again, once");
    assert_sections_shown(&playbook, None, &bodies(&shown));
    assert_eq!(shown[0]["id"], first["id"], "redrawn in place");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_playbook_renders_within_discords_limits() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    if !corpus.is_dir() {
        println!("corpus render test skipped: {CORPUS} not found");
        return;
    }
    let started = Instant::now();
    let (library, _) = Library::load_dir(&corpus).expect("corpus loads");
    assert!(library.len() >= 600, "{} corpus playbooks", library.len());
    capture_logs();
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let config = bot::config(
        &fake,
        &dirs,
        &[("SOCBOT__PLAYBOOKS__DIR", corpus.display().to_string())],
    );
    let bot = Bot::start_with(&fake, config).await;
    let playbooks: Vec<Arc<Playbook>> = library.iter().cloned().collect();
    let mut messages_seen = 0;
    for batch in playbooks.chunks(16) {
        let mut sent = Vec::new();
        for p in batch {
            let it = playbook_cmd(&p.id.to_string(), &[]);
            sent.push((p, fake.send_interaction(it).await));
        }
        for (p, (id, token)) in sent {
            let answer = fake.interaction_response(id).await;
            assert_eq!(answer["type"], 4, "{}: {answer}", p.id);
            let n = message_count(p, None);
            wait_followups(&fake, &token, n - 1).await;
            let messages = fake.interaction_messages(id);
            assert_eq!(messages.len(), n, "{}", p.id);
            messages_seen += n;
            assert_sections_shown(p, None, &bodies(&messages));
        }
    }
    bot.stop().await.unwrap();
    fake.assert_clean();
    println!(
        "{} corpus playbooks rendered through /playbook in {messages_seen} messages, {:?}",
        playbooks.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbook_text_never_pings_anyone() {
    let bait = mentions_fixture();
    let (fake, _dirs, bot) = start(&[("T1997-mentions.md", &bait)]).await;
    let (id, _) = fake.send_interaction(playbook_cmd("T1997", &[])).await;
    let answer = fake.interaction_response(id).await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(answer.to_string().contains("<@&123>"), "shown as written");
    let allowed = &answer["data"]["allowed_mentions"];
    let parse = allowed["parse"]
        .as_array()
        .unwrap_or_else(|| panic!("allowed_mentions.parse set: {allowed}"));
    assert!(parse.is_empty(), "{allowed}");
    for key in ["users", "roles"] {
        assert!(
            allowed[key].as_array().is_none_or(Vec::is_empty),
            "{allowed}"
        );
    }
    let stored = fake.original_response(id).unwrap();
    assert_eq!(stored["mentions"], json!([]), "{stored}");
    assert_eq!(stored["mention_roles"], json!([]), "{stored}");
    assert_eq!(stored["mention_everyone"], false, "{stored}");

    // Text the user typed is echoed in content, where Discord would parse mentions.
    let (id, _) = fake
        .send_interaction(playbook_cmd("@everyone <@&123> <@456>", &[]))
        .await;
    let answer = fake.interaction_response(id).await;
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(content.contains("@everyone"), "{content}");
    let stored = fake.original_response(id).unwrap();
    assert_eq!(stored["mentions"], json!([]), "{stored}");
    assert_eq!(stored["mention_roles"], json!([]), "{stored}");
    assert_eq!(stored["mention_everyone"], false, "{stored}");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

/// Asks `/playbook T1583.006` until its title has `name` (bounded); returns the title.
async fn wait_for_name(fake: &FakeDiscord, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = fake.interact(playbook_cmd(WEB_SERVICES, &[])).await;
        let title = answer["data"]["embeds"][0]["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if title.ends_with(name) {
            return title;
        }
        assert!(
            Instant::now() < deadline,
            "the name never became {name:?}; last answer {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbooks_reload_and_a_broken_reload_keeps_the_last_good_library() {
    let (fake, dirs, bot) = start(&[]).await;
    let path: PathBuf = dirs.playbooks.join(WEB_SERVICES_FILE);
    let original = std::fs::read_to_string(&path).unwrap();
    let old_row = format!("| Name | {WEB_SERVICES_NAME} |");
    assert!(original.contains(&old_row));

    // Renamed: SIGHUP (and the file poll) serve the new name without a restart.
    let renamed = "Acquire Infrastructure: Web Services Renamed";
    replace_file(
        &dirs,
        WEB_SERVICES_FILE,
        &original.replace(&old_row, &format!("| Name | {renamed} |")),
    );
    bot.reload.notify_one();
    wait_for_name(&fake, renamed).await;

    // Broken (the table is gone): the reload is refused with file:line, the old name stays.
    let broken = "# Acquire_Infrastructure:_Web_Services - T1583006\n\nThe table was lost.\n";
    replace_file(&dirs, WEB_SERVICES_FILE, broken);
    bot.reload.notify_one();
    let shown = path.display().to_string();
    let line = wait_log(&["reload refused", &shown], Duration::from_secs(15)).await;
    assert!(
        line.contains(&format!("{shown}:")) && line.contains("error"),
        "names file:line: {line}"
    );
    let answer = fake.interact(playbook_cmd(WEB_SERVICES, &[])).await;
    assert_eq!(answer["type"], 4, "still served: {answer}");
    let title = answer["data"]["embeds"][0]["title"].as_str().unwrap();
    assert!(title.ends_with(renamed), "the last good library: {title}");

    // Fixed again: served again.
    let fixed = "Acquire Infrastructure: Web Services Fixed";
    replace_file(
        &dirs,
        WEB_SERVICES_FILE,
        &original.replace(&old_row, &format!("| Name | {fixed} |")),
    );
    bot.reload.notify_one();
    wait_for_name(&fake, fixed).await;

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_guilds_and_dms_get_a_private_refusal() {
    let (fake, _dirs, bot) = start(&[]).await;
    for interaction in [
        playbook_cmd(WEB_SERVICES, &[]).guild(1_999_999_999_999_999_999),
        playbook_cmd(WEB_SERVICES, &[]).dm(),
        Interaction::slash_command("oncall", json!([])).guild(1_999_999_999_999_999_999),
        Interaction::slash_command("oncall", json!([])).dm(),
        Interaction::subcommand("incident", "list", json!([])).dm(),
    ] {
        let answer = fake.interact(interaction).await;
        assert_eq!(answer["type"], 4, "{answer}");
        let data = &answer["data"];
        assert_eq!(flags(data) & EPHEMERAL, EPHEMERAL, "{data}");
        assert!(embeds(data).is_empty(), "no playbook for strangers: {data}");
        let content = data["content"].as_str().unwrap_or_default();
        assert!(content.contains("only its own SOC server"), "{content}");
    }
    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_from_another_guild_answers_with_no_choices() {
    let (fake, _dirs, bot) = start(&[]).await;
    // Type 8 is the only callback an autocomplete accepts; a stranger gets no choices.
    let answer = fake
        .interact(
            Interaction::autocomplete("playbook", "technique", "T1583")
                .guild(1_999_999_999_999_999_999),
        )
        .await;
    assert_eq!(answer["type"], 8, "{answer}");
    assert!(choices(&answer).is_empty(), "{answer}");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_is_answered_once() {
    let (fake, _dirs, bot) = start(&[]).await;
    for interaction in [
        playbook_cmd(WEB_SERVICES, &[]),
        Interaction::autocomplete("playbook", "technique", "T1583"),
    ] {
        let (id, _) = fake.send_interaction(interaction).await;
        fake.interaction_response(id).await;
        fake.resend_interaction(id).await;
    }
    // Interactions after the duplicates are answered; the duplicates never are.
    let answer = fake.interact(playbook_cmd(WEB_SERVICES, &[])).await;
    assert_eq!(answer["type"], 4, "{answer}");

    bot.stop().await.unwrap();
    fake.assert_clean();
}

/// Empty roles start only with `roles.open = true`, said at start-up; everyone may then use it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_trial_server_starts_with_a_warning() {
    capture_logs();
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let config = bot::config(
        &fake,
        &dirs,
        &[
            ("SOCBOT__ROLES__L1", String::new()),
            ("SOCBOT__ROLES__T2", String::new()),
            ("SOCBOT__ROLES__OPEN", "true".into()),
        ],
    );
    assert!(config.roles.l1.is_empty() && config.roles.open);
    let bot = Bot::start_with(&fake, config).await;
    wait_log(&["roles.open = true", "roles.t2"], Duration::from_secs(10)).await;
    let answer = fake.interact(playbook_cmd(WEB_SERVICES, &[])).await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(!embeds(&answer["data"]).is_empty(), "{answer}");
    bot.stop().await.unwrap();
    fake.assert_clean();
}
