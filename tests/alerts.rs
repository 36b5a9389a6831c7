//! Alerts in, whole bot: the real daemon against the loopback Discord, alerts POSTed over HTTP
//! to `/alerts/<source>`. A new alert opens an incident with its thread, card and questions; a
//! repeat joins it; a flood is contained in one storm incident; bad requests get the right
//! status and say why; resolved alerts are noted; `escalate_at` pages Tier 2; alert text pings
//! nobody; an acknowledged alert survives SIGKILL.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use socbot::incident::{Event, EventKind, Incident, IncidentId};
use socbot::store::Store;
use support::alerts::{self, TOKEN, post, send, sources, try_send};
use support::bot::{BotDirs, L1_ROLE};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_str};
use support::incidents::{custom_ids, embeds_text};

/// The thread named `INC-<n> · …`, waiting for it.
async fn thread_of(fake: &FakeDiscord, n: u64) -> Value {
    let prefix = format!("INC-{n} · ");
    for _ in 0..400 {
        if let Some(t) = fake
            .threads()
            .into_iter()
            .find(|t| t["name"].as_str().is_some_and(|s| s.starts_with(&prefix)))
        {
            return t;
        }
        fake.wait_change(Duration::from_millis(50)).await;
    }
    panic!("no thread for INC-{n}: {:#?}", fake.threads());
}

fn id_of(v: &Value) -> u64 {
    v["id"].as_str().unwrap().parse().unwrap()
}

fn threads_named(fake: &FakeDiscord, n: u64) -> usize {
    let prefix = format!("INC-{n} · ");
    fake.threads()
        .iter()
        .filter(|t| t["name"].as_str().is_some_and(|s| s.starts_with(&prefix)))
        .count()
}

/// The alert card in thread `thread` once its text satisfies `ok`.
async fn card_where(fake: &FakeDiscord, thread: u64, ok: impl Fn(&str) -> bool) -> Value {
    let channel = thread.to_string();
    fake.wait_for_message(|m| {
        m["channel_id"] == channel.as_str()
            && m["embeds"][0]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("🔔"))
            && ok(&embeds_text(m))
    })
    .await
}

fn stored(dirs: &BotDirs, n: u64) -> (Incident, Vec<Event>) {
    let store = Store::open(&dirs.store).expect("the store opens");
    let events: Vec<Event> = store.events(n).unwrap();
    (
        Incident::from_stored(IncidentId(n), &events).unwrap(),
        events,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_alert_opens_an_incident_and_its_repeats_join_it() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, addr) = alerts::start(&fake, &dirs, &sources(&[("siem", "generic")])).await;

    let alert = json!({
        "technique": ["T1583", "T1583.006"],
        "title": "New cloud accounts for an unknown VPS provider",
        "severity": "high",
        "dedup_key": "acct-burst-7",
        "host": "idp-01",
        "user": "svc-deploy",
        "link": "https://siem.example/alerts/7",
        "details": {"accounts": 14, "window": "3m"}
    });
    let first = send(addr, "siem", &alert).await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.result(0), (Some("INC-1".into()), "opened".into()));
    assert!(
        first.head.contains("Content-Type: application/json"),
        "{}",
        first.head
    );

    // The thread is named as /incident open names it, after the most specific technique with a
    // playbook; the card comes first, then the playbook's questions with their buttons.
    let thread = thread_of(&fake, 1).await;
    assert_eq!(
        thread["name"],
        "INC-1 · T1583.006 · New cloud accounts for an unknown VPS provider"
    );
    let thread_id = id_of(&thread);
    let card = card_where(&fake, thread_id, |t| t.contains("**Alerts:** 1")).await;
    let text = embeds_text(&card);
    for want in [
        "siem",
        "high",
        "idp-01",
        "svc-deploy",
        "https://siem.example/alerts/7",
        "T1583.006",
        "T1583",
    ] {
        assert!(text.contains(want), "{want} missing from the card:\n{text}");
    }
    fake.wait_for_message(|m| custom_ids(m).contains(&"ans:1:1:c".to_owned()))
        .await;

    // The same alert again (a retry, or the SIEM firing again): it joins INC-1, and the card
    // counts it in place.
    for _ in 0..3 {
        let again = send(addr, "siem", &alert).await;
        assert_eq!(again.status, 202, "{}", again.body);
        assert_eq!(again.result(0), (Some("INC-1".into()), "grouped".into()));
    }
    let card_id = id_of(&card);
    let counted = card_where(&fake, thread_id, |t| t.contains("**Alerts:** 4")).await;
    assert_eq!(
        id_of(&counted),
        card_id,
        "the card is edited, not posted again"
    );
    assert_eq!(threads_named(&fake, 1), 1);
    let posts_in_thread = fake
        .requests_matching("POST", &format!("/channels/{thread_id}/messages"))
        .len();
    assert!(
        posts_in_thread <= 3,
        "repeats post nothing: {posts_in_thread} posts"
    );

    // The thread's latency from the alert is measured.
    let m = alerts::raw(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .body;
    assert!(m.contains("socbot_alert_thread_seconds_count"), "{m}");

    // A different key opens another incident.
    let other = json!({"technique": "T1583.003", "title": "VPS rented", "dedup_key": "vps-1"});
    let r = send(addr, "siem", &other).await;
    assert_eq!(r.result(0), (Some("INC-2".into()), "opened".into()));

    bot.stop().await.unwrap();
    let (inc, events) = stored(&dirs, 1);
    let log = inc.alerts.as_ref().expect("an alert incident");
    assert_eq!((log.count, log.source.as_str()), (4, "siem"));
    assert_eq!(inc.opened_by.name, "siem", "the source is the actor");
    assert_eq!(inc.techniques.len(), 2);
    let received = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AlertReceived { .. }))
        .count();
    assert_eq!(received, 4);
    // The payload is kept for the export.
    let markdown = socbot::incident::export::markdown(&inc, &events);
    assert!(markdown.contains("\"accounts\":14"), "{markdown}");
    assert!(markdown.contains("alert repeated"), "{markdown}");
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_their_status_and_open_nothing() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let mut env = sources(&[("edr", "generic")]);
    env.push(("SOCBOT__ALERTS__MAX_BODY_BYTES".into(), "2048".into()));
    let (bot, addr) = alerts::start(&fake, &dirs, &env).await;
    let alert = json!({"technique": "T1583.006", "title": "x", "dedup_key": "a"});
    let body = alert.to_string();

    // No token, a wrong one, a wrong scheme: 401 and nothing said about why.
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token")],
        vec![("Authorization", "Basic YWxlcnQ6dG9rZW4=")],
    ] {
        let r = post(addr, "/alerts/edr", &headers, body.as_bytes()).await;
        assert_eq!(r.status, 401, "{headers:?}: {}", r.body);
        assert_eq!(r.json(), json!({"error": "unauthorized"}));
    }
    let r = post(addr, "/alerts/edr?token=nope", &[], body.as_bytes()).await;
    assert_eq!(r.status, 401);

    // An unknown source: 404 naming it.
    let r = send(addr, "nosuch", &alert).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.json()["error"].as_str().unwrap().contains("nosuch"),
        "{}",
        r.body
    );

    // Past alerts.max_body_bytes: 413, whether the length is declared or not.
    let big = json!({"title": "x", "details": {"blob": "y".repeat(4000)}}).to_string();
    let auth = format!("Bearer {TOKEN}");
    let r = post(
        addr,
        "/alerts/edr",
        &[("Authorization", &auth)],
        big.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.json()["error"].as_str().unwrap().contains("2048"),
        "{}",
        r.body
    );
    let chunked = format!(
        "POST /alerts/edr HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let r = alerts::raw(addr, chunked.as_bytes()).await;
    assert_eq!(r.status, 413, "{}", r.body);

    // Malformed: 400 saying what and where.
    let r = post(
        addr,
        "/alerts/edr",
        &[("Authorization", &auth)],
        b"{not json",
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("not JSON"),
        "{}",
        r.body
    );
    let r = send(addr, "edr", &json!({"severity": "high"})).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("title"),
        "{}",
        r.body
    );

    // GET is not how alerts come.
    let r = alerts::raw(
        addr,
        b"GET /alerts/edr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 405);
    assert!(r.head.contains("Allow: POST"), "{}", r.head);

    // Nothing of that opened an incident; the token in the query string works.
    assert!(fake.threads().is_empty(), "{:#?}", fake.threads());
    let r = post(
        addr,
        &format!("/alerts/edr?token={TOKEN}"),
        &[],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.result(0), (Some("INC-1".into()), "opened".into()));

    let m = alerts::raw(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .body;
    for reason in ["unauthorized", "unknown_source", "too_large", "malformed"] {
        let series = format!("socbot_alert_requests_rejected_total{{reason=\"{reason}\"}}");
        assert!(m.contains(&series), "{series} missing:\n{m}");
    }
    assert!(
        m.contains("socbot_alerts_total{source=\"edr\",status=\"opened\"} 1"),
        "{m}"
    );
    bot.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_without_a_playbook_opens_an_incident_without_questions() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, addr) = alerts::start(&fake, &dirs, &sources(&[("nopb", "generic")])).await;
    let r = send(
        addr,
        "nopb",
        &json!({"technique": "T1583.007", "title": "Serverless abuse", "dedup_key": "s1"}),
    )
    .await;
    assert_eq!(r.result(0), (Some("INC-1".into()), "opened".into()));
    let thread = thread_of(&fake, 1).await;
    assert_eq!(thread["name"], "INC-1 · T1583.007 · Serverless abuse");
    let thread_1 = id_of(&thread);
    let card = card_where(&fake, thread_1, |t| t.contains("No playbook covers")).await;
    let text = embeds_text(&card);
    assert!(text.contains("T1583.007"), "{text}");
    // The closest playbooks are named (the bundled T1583.00x ones).
    assert!(
        text.contains("T1583.006") || text.contains("T1583.003"),
        "{text}"
    );
    assert!(text.contains("/incident playbook"), "{text}");

    // No technique at all: opens too.
    let r = send(
        addr,
        "nopb",
        &json!({"title": "Odd login", "dedup_key": "s2"}),
    )
    .await;
    assert_eq!(r.result(0), (Some("INC-2".into()), "opened".into()));
    let thread = thread_of(&fake, 2).await;
    assert_eq!(thread["name"], "INC-2 · no technique · Odd login");

    let m = alerts::raw(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .body;
    assert!(
        m.contains("socbot_alerts_without_playbook_total{technique=\"T1583.007\"}"),
        "{m}"
    );
    // No question message was posted in either thread.
    assert!(
        fake.requests()
            .iter()
            .filter_map(|r| r.body.as_ref())
            .all(|b| !b.to_string().contains("\"ans:1:")),
        "an incident without a playbook has no answer buttons"
    );

    // `/incident playbook` attaches one later and posts its questions in the thread.
    let reply = fake
        .interact(
            Interaction::subcommand(
                "incident",
                "playbook",
                json!([
                    opt_str("technique", "T1583.006"),
                    opt_str("incident", "INC-1")
                ]),
            )
            .roles(&[L1_ROLE])
            .username("alice"),
        )
        .await;
    let said = reply["data"]["content"].as_str().unwrap_or_default();
    assert!(
        said.contains("INC-1 now follows playbook T1583.006"),
        "{reply}"
    );
    let questions = fake
        .wait_for_message(|m| custom_ids(m).contains(&"ans:1:1:c".to_owned()))
        .await;
    assert_eq!(questions["channel_id"], thread_1.to_string().as_str());
    // A second time is refused, saying why.
    let again = fake
        .interact(
            Interaction::subcommand(
                "incident",
                "playbook",
                json!([
                    opt_str("technique", "T1583.003"),
                    opt_str("incident", "INC-1")
                ]),
            )
            .roles(&[L1_ROLE]),
        )
        .await;
    assert!(
        again["data"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("already follows playbook T1583.006")),
        "{again}"
    );
    bot.stop().await.unwrap();
    let (inc, _) = stored(&dirs, 1);
    assert!(inc.has_playbook() && inc.questions.len() == 3, "{inc:?}");
    let (bare, _) = stored(&dirs, 2);
    assert!(bare.questions.is_empty() && !bare.has_playbook());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_replaces_the_formats_key() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let mut env = sources(&[("hosts", "generic")]);
    env.push((
        "SOCBOT__ALERTS__SOURCES__HOSTS__GROUP_BY".into(),
        "host".into(),
    ));
    let (bot, addr) = alerts::start(&fake, &dirs, &env).await;
    let on = |host: &str, key: &str| json!({"technique": "T1583.006", "title": format!("odd {key}"), "dedup_key": key, "host": host});
    let r = send(addr, "hosts", &on("web-01", "a")).await;
    assert_eq!(r.result(0), (Some("INC-1".into()), "opened".into()));
    // Another dedup key on the same host joins; the same dedup key on another host does not.
    let r = send(addr, "hosts", &on("web-01", "b")).await;
    assert_eq!(r.result(0), (Some("INC-1".into()), "grouped".into()));
    let r = send(addr, "hosts", &on("db-02", "a")).await;
    assert_eq!(r.result(0), (Some("INC-2".into()), "opened".into()));
    bot.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_contained_in_one_storm_incident() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let mut env = sources(&[("flood", "generic")]);
    env.push((
        "SOCBOT__ALERTS__MAX_NEW_INCIDENTS_PER_MINUTE".into(),
        "3".into(),
    ));
    let (bot, addr) = alerts::start(&fake, &dirs, &env).await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let a = json!({"technique": "T1583.006", "title": format!("burst {i}"), "dedup_key": format!("b{i}")});
        let r = send(addr, "flood", &a).await;
        assert_eq!(r.status, 202, "{}", r.body);
        statuses.push(r.result(0));
    }
    let opened: Vec<_> = statuses.iter().filter(|(_, s)| s == "opened").collect();
    let storm: Vec<_> = statuses.iter().filter(|(_, s)| s == "storm").collect();
    assert_eq!((opened.len(), storm.len()), (3, 5), "{statuses:?}");
    let storm_incident = storm[0].0.clone();
    assert!(
        storm.iter().all(|(i, _)| *i == storm_incident),
        "{statuses:?}"
    );
    // A repeat of a stormed alert stays in the storm incident.
    let r = send(
        addr,
        "flood",
        &json!({"title": "burst 7", "dedup_key": "b7"}),
    )
    .await;
    assert_eq!(r.result(0), (storm_incident.clone(), "storm".into()));

    // The SOC channel is told once; four threads in all.
    let thread = thread_of(&fake, 4).await;
    assert!(
        thread["name"]
            .as_str()
            .unwrap()
            .contains("Alert storm from flood"),
        "{thread}"
    );
    let card = card_where(&fake, id_of(&thread), |t| t.contains("burst 7")).await;
    assert!(embeds_text(&card).contains("Alert storm"), "{card}");
    let soc = fake.channel_id().to_string();
    fake.wait_for_message(|m| {
        m["channel_id"] == soc.as_str()
            && m["content"]
                .as_str()
                .is_some_and(|c| c.contains("Alert storm from flood"))
    })
    .await;
    let told: Vec<Value> = fake
        .messages_in(fake.channel_id())
        .into_iter()
        .filter(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.contains("Alert storm from flood"))
        })
        .collect();
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(fake.threads().len(), 4);
    bot.stop().await.unwrap();
    let (inc, _) = stored(&dirs, 4);
    let log = inc.alerts.unwrap();
    assert!(log.storm);
    assert_eq!(log.members.len(), 6, "five new alerts and the repeat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_alerts_are_noted_and_never_close() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, addr) = alerts::start(&fake, &dirs, &sources(&[("am", "generic")])).await;
    let firing = json!({"technique": "T1583.006", "title": "Disk full", "dedup_key": "d1"});
    assert_eq!(send(addr, "am", &firing).await.result(0).1, "opened");
    let thread = id_of(&thread_of(&fake, 1).await);
    let resolved = json!({"technique": "T1583.006", "title": "Disk full", "dedup_key": "d1", "status": "resolved"});
    let r = send(addr, "am", &resolved).await;
    assert_eq!(r.result(0), (Some("INC-1".into()), "resolved".into()));
    let channel = thread.to_string();
    fake.wait_for_message(|m| {
        m["channel_id"] == channel.as_str() && embeds_text(m).contains("reports the alert resolved")
    })
    .await;

    // Resolved with nothing open: recorded, opens nothing.
    let stray = json!({"title": "Never fired", "dedup_key": "zz", "status": "resolved"});
    let r = send(addr, "am", &stray).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.result(0), (None, "resolved".into()));
    assert_eq!(fake.threads().len(), 1);
    bot.stop().await.unwrap();
    let (inc, events) = stored(&dirs, 1);
    assert!(!inc.is_closed());
    assert!(inc.alerts.unwrap().resolved_at.is_some());
    let markdown =
        socbot::incident::export::markdown(&Incident::from_events(&events).unwrap(), &events);
    assert!(
        markdown.contains("source reports the alert resolved"),
        "{markdown}"
    );
    let store = Store::open(&dirs.store).unwrap();
    let unmatched = store.unmatched_alerts().unwrap();
    assert_eq!(unmatched.len(), 1);
    assert!(String::from_utf8_lossy(&unmatched[0]).contains("Never fired"));
}

/// The on-call analyst of the escalating source's bot.
const PRIMARY: u64 = 1_400_000_000_000_000_001;

/// A bot with the source `crit` (generic, `escalate_at = critical`) and [`PRIMARY`] on call.
async fn start_escalating() -> (
    FakeDiscord,
    BotDirs,
    support::bot::Bot,
    std::net::SocketAddr,
) {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let mut env = sources(&[("crit", "generic")]);
    env.push((
        "SOCBOT__ALERTS__SOURCES__CRIT__ESCALATE_AT".into(),
        "critical".into(),
    ));
    env.push(("SOCBOT__ONCALL__ROSTER".into(), PRIMARY.to_string()));
    let (bot, addr) = alerts::start(&fake, &dirs, &env).await;
    (fake, dirs, bot, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_at_escalates_and_pages_at_once() {
    let (fake, dirs, bot, addr) = start_escalating().await;

    let high = json!({"technique": "T1583.006", "title": "High only", "severity": "high", "dedup_key": "h"});
    assert_eq!(send(addr, "crit", &high).await.result(0).1, "opened");
    let critical = json!({"technique": "T1583.006", "title": "Ransom note", "severity": "critical", "dedup_key": "c"});
    assert_eq!(
        send(addr, "crit", &critical).await.result(0),
        (Some("INC-2".into()), "opened".into())
    );

    // The page: in INC-2's thread, mentioning exactly the on-call analyst.
    let thread = id_of(&thread_of(&fake, 2).await).to_string();
    let mention = format!("<@{PRIMARY}>");
    let page = fake
        .wait_for_message(|m| {
            m["channel_id"] == thread.as_str()
                && m["content"].as_str().is_some_and(|c| c.contains(&mention))
        })
        .await;
    let allowed = &page["allowed_mentions"];
    assert!(
        allowed.is_null() || allowed["users"].as_array().is_some_and(|u| u.len() == 1),
        "{page}"
    );
    bot.stop().await.unwrap();
    let (inc, _) = stored(&dirs, 2);
    let e = inc.escalation.expect("escalated");
    assert!(
        e.reason
            .summary()
            .contains("crit reported severity critical"),
        "{}",
        e.reason.summary()
    );
    let (calm, _) = stored(&dirs, 1);
    assert!(
        calm.escalation.is_none(),
        "high is below escalate_at = critical"
    );
}

/// A repeat that reaches `escalate_at` pages at once, even while the card's next refresh waits
/// for its 10 s slot: the card edit never holds up the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_never_waits_behind_the_cards_next_refresh() {
    let (fake, _dirs, bot, addr) = start_escalating().await;

    let alert = |severity: &str| json!({"technique": "T1583.006", "title": "Beacon", "severity": severity, "dedup_key": "b"});
    assert_eq!(
        send(addr, "crit", &alert("high")).await.result(0).1,
        "opened"
    );
    let thread = id_of(&thread_of(&fake, 1).await);
    card_where(&fake, thread, |t| t.contains("**Alerts:** 1")).await;
    // The first repeat refreshes the card at once; the next refresh may come 10 s later.
    assert_eq!(
        send(addr, "crit", &alert("high")).await.result(0).1,
        "grouped"
    );
    let card = card_where(&fake, thread, |t| t.contains("**Alerts:** 2")).await;
    assert_eq!(
        send(addr, "crit", &alert("critical")).await.result(0).1,
        "grouped"
    );

    let mention = format!("<@{PRIMARY}>");
    let thread_id = thread.to_string();
    fake.wait_for_message(|m| {
        m["channel_id"] == thread_id.as_str()
            && m["content"].as_str().is_some_and(|c| c.contains(&mention))
    })
    .await;
    let card_now = fake.message(id_of(&card)).expect("the card is still there");
    assert!(
        embeds_text(&card_now).contains("**Alerts:** 2"),
        "the page came only after the card's delayed refresh:\n{}",
        embeds_text(&card_now)
    );
    // The refresh still comes, in its slot.
    card_where(&fake, thread, |t| t.contains("**Alerts:** 3")).await;
    bot.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_text_pings_nobody() {
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, addr) = alerts::start(&fake, &dirs, &sources(&[("evil", "generic")])).await;
    let nasty = "@everyone @here <@1400000000000000001> <@&1400000000000000099> **pwn**";
    let a = json!({
        "technique": "T1583.006",
        "title": nasty,
        "host": nasty,
        "user": "<@1400000000000000002>",
        "link": "javascript:alert(1)",
        "dedup_key": "evil-1"
    });
    assert_eq!(send(addr, "evil", &a).await.result(0).1, "opened");
    let thread = id_of(&thread_of(&fake, 1).await);
    let card = card_where(&fake, thread, |t| t.contains("**Alerts:** 1")).await;
    let text = embeds_text(&card);
    assert!(
        !text.contains("@everyone") && !text.contains("<@1400"),
        "{text}"
    );
    assert!(text.contains("@\u{200b}everyone"), "{text}");
    assert!(
        !text.contains("](javascript"),
        "no link made of a javascript: URL: {text}"
    );
    // Every message the bot sent for it allowed no mention at all.
    for r in fake.requests_matching("POST", "/channels/*/messages") {
        let body = r.body.clone().unwrap_or_default();
        let allowed = &body["allowed_mentions"];
        assert_eq!(allowed["parse"], json!([]), "{body}");
        assert!(
            allowed["users"].as_array().is_none_or(Vec::is_empty)
                && allowed["roles"].as_array().is_none_or(Vec::is_empty),
            "{body}"
        );
    }
    bot.stop().await.unwrap();
    fake.assert_clean();
}

/// SIGKILL right after a `202`: the alert was on disk, so the restarted bot makes its thread,
/// and the sender's retry joins the same incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_alert_survives_sigkill_and_its_resend_groups() {
    use std::process::Stdio;
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let spawn = |round: usize| {
        let log = std::fs::File::create(dirs.root.join(format!("run-{round}.log"))).unwrap();
        let mut cmd = support::bot::socbot_run(&fake, &dirs.store, &dirs.playbooks);
        cmd.current_dir(&dirs.root)
            .env("SOCBOT__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("SOCBOT__ALERTS__SOURCES__SIEM__FORMAT", "generic")
            .env("SOCBOT__ALERTS__SOURCES__SIEM__TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        cmd.spawn().expect("socbot run starts")
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // The alert is sent as soon as the listener takes it (before the gateway is up, a 503 asks
    // to retry): the 202 must not wait for Discord.
    let alert =
        json!({"technique": "T1583.006", "title": "Killed right after", "dedup_key": "k-1"});
    let mut child = spawn(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let first = loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dirs.root.join("run-0.log")).unwrap_or_default();
            panic!("socbot run ended ({status}):\n{log}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the listener never took the alert"
        );
        // Refused or reset while the listener comes up: try again.
        if let Ok(r) = try_send(addr, "siem", &alert).await {
            if r.status == 202 {
                break r;
            }
            assert_eq!(r.status, 503, "{}", r.body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(first.result(0), (Some("INC-1".into()), "opened".into()));

    let mut child = spawn(1);
    let thread = thread_of(&fake, 1).await;
    assert_eq!(thread["name"], "INC-1 · T1583.006 · Killed right after");
    fake.wait_for_message(|m| custom_ids(m).contains(&"ans:1:1:c".to_owned()))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let resend = loop {
        assert!(child.try_wait().unwrap().is_none(), "socbot run ended");
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted bot never took the resent alert"
        );
        if let Ok(r) = try_send(addr, "siem", &alert).await
            && r.status == 202
        {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(resend.result(0), (Some("INC-1".into()), "grouped".into()));
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(threads_named(&fake, 1), 1);
    assert!(fake.threads().len() == 1, "{:#?}", fake.threads());
}

/// Every format's fixtures (`tests/fixtures/alerts/<format>/`, written from the products'
/// documented payloads) sent to a source of that format: each alert opens the incident of the
/// playbook socbot chooses for it (the most specific technique with a playbook), joins the one
/// its key already opened, or is noted as resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_opens_the_right_incident() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let playbooks = root.join("tests/fixtures/playbooks");
    let (library, _) = socbot::service::LibraryHandle::load(&playbooks).unwrap();
    let library = library.current();
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let formats = [
        "wazuh",
        "elastic",
        "splunk",
        "sentinel",
        "thehive",
        "alertmanager",
        "generic",
    ];
    let list: Vec<(&str, &str)> = formats.iter().map(|f| (*f, *f)).collect();
    let mut env = sources(&list);
    env.push((
        "SOCBOT__PLAYBOOKS__DIR".into(),
        playbooks.display().to_string(),
    ));
    let (bot, addr) = alerts::start(&fake, &dirs, &env).await;
    let options = socbot::alert::ParseOptions::default();
    let mut keys: std::collections::HashMap<(String, String), String> =
        std::collections::HashMap::new();
    let mut opened = 0;
    for format in formats {
        let mut files: Vec<_> = std::fs::read_dir(root.join("tests/fixtures/alerts").join(format))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let body = std::fs::read(&file).unwrap();
            // A payload for another label than the default is `alert test`'s to show.
            let Ok(parsed) = socbot::alert::parse(format.parse().unwrap(), &body, &options) else {
                continue;
            };
            let auth = format!("Bearer {TOKEN}");
            let r = post(
                addr,
                &format!("/alerts/{format}"),
                &[("Authorization", &auth)],
                &body,
            )
            .await;
            assert_eq!(r.status, 202, "{}: {}", file.display(), r.body);
            for (i, alert) in parsed.iter().enumerate() {
                let (incident, status) = r.result(i);
                let key = (format.to_owned(), alert.key.clone());
                let what = format!("{} alert {i}: {status} {incident:?}", file.display());
                if alert.status == socbot::alert::AlertStatus::Resolved {
                    assert_eq!(status, "resolved", "{what}");
                    continue;
                }
                let incident = incident.unwrap_or_else(|| panic!("{what}"));
                if let Some(before) = keys.get(&key) {
                    assert_eq!(
                        (&status, &incident),
                        (&"grouped".to_owned(), before),
                        "{what}"
                    );
                    continue;
                }
                assert_eq!(status, "opened", "{what}");
                keys.insert(key, incident.clone());
                opened += 1;
                let n: u64 = incident.trim_start_matches("INC-").parse().unwrap();
                let chosen = alert.playbook_choice(|t| library.get(t).is_some());
                let technique = chosen
                    .or(alert.techniques.first().copied())
                    .map_or("no technique".to_owned(), |t| t.to_string());
                let thread = thread_of(&fake, n).await;
                let name = thread["name"].as_str().unwrap();
                assert!(
                    name.starts_with(&format!("INC-{n} · {technique} · ")),
                    "{what}: thread {name}, expected {technique}"
                );
                if chosen.is_some() {
                    let want = format!("ans:{n}:1:c");
                    fake.wait_for_message(|m| custom_ids(m).contains(&want))
                        .await;
                }
            }
        }
    }
    assert!(opened >= formats.len(), "{opened} incidents opened");
    bot.stop().await.unwrap();
    fake.assert_clean();
}
