//! The health and metrics listener over real HTTP on loopback: the daemon started against the
//! loopback Discord with `http.listen = 127.0.0.1:0`, probed with raw HTTP/1.1 requests;
//! metrics move when commands run; `socbot health` as a container health check; JSON logs carry
//! each command's span fields.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::bot::{Bot, BotDirs, L1_ROLE, T2_ROLE, config};
use support::discord::FakeDiscord;
use support::discord::payloads::{Interaction, opt_int, opt_str};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw HTTP response.
struct Response {
    status: u16,
    head: String,
    body: String,
}

/// Sends `request` as is and reads until the server closes.
async fn raw(addr: SocketAddr, request: &str) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("listener accepts");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("the server closes the connection")
        .unwrap();
    let text = String::from_utf8(bytes).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Response {
    raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n"),
    )
    .await
}

/// The value of one sample line (`name{labels}`), 0 when absent.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Polls /metrics until `series` is above `floor`; returns the text.
async fn metrics_until(addr: SocketAddr, series: &str, floor: f64) -> String {
    for _ in 0..100 {
        let m = get(addr, "/metrics").await.body;
        if sample(&m, series) > floor {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{series} never rose above {floor}:\n{}",
        get(addr, "/metrics").await.body
    );
}

/// The gateway state behind /readyz is the process's (one daemon per process in production):
/// tests that run a bot here take turns.
static ONE_BOT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start_with_http(fake: &FakeDiscord, dirs: &BotDirs) -> (Bot, SocketAddr) {
    let cfg = config(
        fake,
        dirs,
        &[("SOCBOT__HTTP__LISTEN", "127.0.0.1:0".into())],
    );
    let bound = cfg.http.bound.clone();
    let bot = Bot::start_with(fake, cfg).await;
    let addr = bound.get().expect("the daemon reports where it listens");
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    (bot, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_readyz_and_metrics_answer_and_move_with_commands() {
    let _turn = ONE_BOT.lock().await;
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, addr) = start_with_http(&fake, &dirs).await;

    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body, "ok\n");
    assert!(health.head.contains("Connection: close"), "{}", health.head);

    // Ready: the gateway said READY, the store answers, the two bundled playbooks are loaded.
    let mut ready = get(addr, "/readyz").await;
    for _ in 0..100 {
        if ready.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ready = get(addr, "/readyz").await;
    }
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(ready.body.contains("gateway: connected"), "{}", ready.body);
    assert!(ready.body.contains("store: ok"), "{}", ready.body);
    assert!(ready.body.contains("(2 loaded)"), "{}", ready.body);

    let m = get(addr, "/metrics").await;
    assert_eq!(m.status, 200);
    assert!(
        m.head
            .contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{}",
        m.head
    );
    for family in [
        "# TYPE socbot_interactions_total counter",
        "# TYPE socbot_interaction_duration_seconds histogram",
        "# TYPE socbot_incidents_opened_total counter",
        "# TYPE socbot_incidents_escalated_total counter",
        "# TYPE socbot_incidents_closed_total counter",
        "# TYPE socbot_pages_sent_total counter",
        "# TYPE socbot_acknowledgements_total counter",
        "# TYPE socbot_time_to_acknowledge_seconds histogram",
        "# TYPE socbot_outbox_depth gauge",
        "# TYPE socbot_outbox_retries_total counter",
        "# TYPE socbot_playbooks_loaded gauge",
        "# TYPE socbot_playbook_reload_errors_total counter",
    ] {
        assert!(m.body.contains(family), "{family} missing:\n{}", m.body);
    }
    assert_eq!(sample(&m.body, "socbot_playbooks_loaded"), 2.0);
    assert_eq!(sample(&m.body, "socbot_gateway_connected"), 1.0);
    assert_eq!(sample(&m.body, "socbot_ready"), 1.0);

    // A /playbook command counts as an interaction, with its latency.
    let playbook_ok = r#"socbot_interactions_total{command="playbook",outcome="ok"}"#;
    let latency = r#"socbot_interaction_duration_seconds_count{kind="command"}"#;
    let before = sample(&m.body, playbook_ok);
    let before_latency = sample(&m.body, latency);
    let answer = fake
        .interact(Interaction::slash_command(
            "playbook",
            json!([opt_str("technique", "T1583.006")]),
        ))
        .await;
    assert_eq!(answer["type"], 4, "{answer}");
    let after = metrics_until(addr, latency, before_latency).await;
    assert!(sample(&after, playbook_ok) > before, "{after}");

    // Opening an incident counts it under its technique.
    let opened = r#"socbot_incidents_opened_total{technique="T1583.006"}"#;
    let before = sample(&after, opened);
    let card = fake
        .interact(
            Interaction::subcommand(
                "incident",
                "open",
                json!([
                    opt_str("technique", "T1583.006"),
                    opt_str("title", "metrics check")
                ]),
            )
            .roles(&[L1_ROLE])
            .username("alice"),
        )
        .await;
    assert_eq!(card["type"], 4, "{card}");
    let after = metrics_until(addr, opened, before).await;
    // The open was flushed to disk before it was answered: the group-commit counters moved.
    let flushes = sample(&after, "socbot_store_flushes_total");
    let synced = sample(&after, "socbot_store_commits_synced_total");
    assert!(flushes >= 1.0 && synced >= 1.0, "{after}");
    assert!(
        sample(
            &after,
            r#"socbot_interactions_total{command="incident open",outcome="ok"}"#
        ) >= 1.0,
        "{after}"
    );
    // The thread and questions go through the outbox and are counted as they are delivered.
    metrics_until(
        addr,
        r#"socbot_outbox_delivered_total{effect="open_thread"}"#,
        0.0,
    )
    .await;

    // Anything else is refused plainly.
    assert_eq!(get(addr, "/nope").await.status, 404);
    let post = raw(
        addr,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(post.status, 405);
    assert!(post.head.contains("Allow: GET, HEAD"), "{}", post.head);
    let head = raw(addr, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD has no body: {:?}", head.body);
    assert_eq!(raw(addr, "hello\r\n\r\n").await.status, 400);
    let query = get(addr, "/healthz?verbose=1").await;
    assert_eq!(query.status, 200);

    bot.stop().await.unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener closes with the daemon"
    );
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_pages_and_acknowledgements_are_counted_with_time_to_acknowledge() {
    let _turn = ONE_BOT.lock().await;
    const PRIMARY: u64 = 1_400_000_000_000_000_001;
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .to_utc();
    let (clock, manual) = socbot::clock::Clock::manual(start);
    let cfg = config(
        &fake,
        &dirs,
        &[
            ("SOCBOT__HTTP__LISTEN", "127.0.0.1:0".into()),
            ("SOCBOT__ONCALL__ROSTER", PRIMARY.to_string()),
            ("SOCBOT__PAGING__ACK_TIMEOUT_SECS", "600".into()),
        ],
    );
    let bound = cfg.http.bound.clone();
    let bot = Bot::start_with_clock(&fake, cfg, clock).await;
    let addr = bound.get().unwrap();
    let before = get(addr, "/metrics").await.body;
    let series = [
        r#"socbot_incidents_escalated_total{technique="T1583.006",by="decision"}"#,
        "socbot_pages_sent_total",
        "socbot_acknowledgements_total",
        "socbot_time_to_acknowledge_seconds_count",
        r#"socbot_time_to_acknowledge_seconds_bucket{le="300"}"#,
        r#"socbot_time_to_acknowledge_seconds_bucket{le="120"}"#,
    ];
    let was: Vec<f64> = series.iter().map(|s| sample(&before, s)).collect();

    // Open, answer q1 Concerning (the seed's rule is `q1 or …`): escalated, primary paged.
    let l1 = |i: Interaction| i.user(1_400_000_000_000_000_050).roles(&[L1_ROLE]);
    let card = fake
        .interact(l1(Interaction::subcommand(
            "incident",
            "open",
            json!([
                opt_str("technique", "T1583.006"),
                opt_str("title", "paging metrics")
            ]),
        )))
        .await;
    assert_eq!(card["type"], 4, "{card}");
    let answer = fake
        .interact(l1(Interaction::subcommand(
            "incident",
            "answer",
            json!([
                opt_str("incident", "INC-1"),
                opt_int("question", 1),
                opt_str("finding", "concerning")
            ]),
        )))
        .await;
    assert_eq!(answer["type"], 4, "{answer}");
    metrics_until(addr, series[1], was[1]).await;
    let page = fake
        .wait_for(
            |r| {
                r.method == "POST"
                    && r.status < 300
                    && r.body.as_ref().is_some_and(|b| {
                        b["content"]
                            .as_str()
                            .is_some_and(|c| c.contains("needs Tier 2"))
                    })
            },
            Duration::from_secs(10),
        )
        .await;
    let message = page.response.clone().unwrap();

    // Acknowledged five minutes after the page.
    manual.advance(Duration::from_secs(300));
    let ack = fake
        .interact(
            Interaction::button("ack:1", &message)
                .user(1_400_000_000_000_000_060)
                .roles(&[T2_ROLE]),
        )
        .await;
    assert_eq!(ack["type"], 7, "{ack}");
    let after = metrics_until(addr, series[2], was[2]).await;
    let now: Vec<f64> = series.iter().map(|s| sample(&after, s)).collect();
    assert!(now[0] > was[0], "escalation counted:\n{after}");
    assert!(now[1] > was[1], "page counted:\n{after}");
    assert_eq!(now[3] - was[3], 1.0, "one time-to-acknowledge:\n{after}");
    assert_eq!(
        now[4] - was[4],
        1.0,
        "300 s is in the le=300 bucket:\n{after}"
    );
    assert_eq!(
        now[5] - was[5],
        0.0,
        "300 s is not in the le=120 bucket:\n{after}"
    );
    bot.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_what_is_not_ready() {
    // No playbooks: not ready whatever the gateway says, and the body names the reason.
    let dir = std::env::temp_dir().join(format!("socbot-health-empty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (library, _) = socbot::service::LibraryHandle::load(&dir).unwrap();
    let probe = socbot::http::Probe {
        library,
        store: socbot::store::Store::temporary().unwrap(),
    };
    let (status, _, body) = socbot::http::respond("/readyz", &probe);
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready\n"), "{body}");
    assert!(body.contains("playbooks: not ready (0 loaded)"), "{body}");
    assert!(body.contains("store: ok"), "{body}");
    let (status, _, body) = socbot::http::respond("/healthz", &probe);
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn socbot_bin(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = support::cli::socbot_command(&[]);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the socbot binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socbot_health_probes_the_running_daemon() {
    let _turn = ONE_BOT.lock().await;
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, addr) = start_with_http(&fake, &dirs).await;
    let a = addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        (
            socbot_bin(&["health", "--addr", &a], &[]),
            socbot_bin(
                &["health", "--ready"],
                &[("SOCBOT__HTTP__LISTEN", a.clone())],
            ),
        )
    })
    .await
    .unwrap();
    assert!(out.0.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.0.stdout), "ok\n");
    assert!(out.1.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.1.stdout).starts_with("ready\n"));
    bot.stop().await.unwrap();

    // Nothing listening, no listener configured, a listener address that is no address: all
    // unhealthy, exit 1. Never 2, which Docker's HEALTHCHECK reserves.
    let a = addr.to_string();
    let (down, off, bad) = tokio::task::spawn_blocking(move || {
        (
            socbot_bin(&["health", "--addr", &a], &[]),
            socbot_bin(&["health"], &[]),
            socbot_bin(
                &["health"],
                &[("SOCBOT__HTTP__LISTEN", "everywhere".to_owned())],
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert_eq!(off.status.code(), Some(1), "{off:?}");
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    for out in [&off, &bad] {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("http.listen"),
            "{out:?}"
        );
    }
}

#[test]
fn json_logs_carry_command_actor_incident_and_technique() {
    let dir = std::env::temp_dir().join(format!("socbot-health-json-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let playbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let mut child = Command::new(env!("CARGO_BIN_EXE_socbot"))
        .arg("console")
        .env_remove("RUST_LOG")
        .env("SOCBOT__LOG__FORMAT", "json")
        .env("SOCBOT__PLAYBOOKS__DIR", &playbooks)
        .env("SOCBOT__STORE__PATH", dir.join("store"))
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"/incident open T1583.006 JSON log check\n/incident status INC-1\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(!lines.is_empty(), "no log lines");
    let spans: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "command")
        .map(|l| &l["span"])
        .collect();
    for command in ["incident open", "incident status"] {
        let span = spans
            .iter()
            .find(|s| s["command"] == command)
            .unwrap_or_else(|| panic!("no `{command}` span in:\n{stderr}"));
        assert_eq!(span["incident"], "INC-1", "{span}");
        assert_eq!(span["technique"], "T1583.006", "{span}");
        assert_eq!(span["actor"], 0, "{span}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Clients holding every connection open (idle, sending nothing) never starve the probes: the
/// listener keeps connections of its own for /healthz, /readyz and /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_every_connection_is_held_idle() {
    let _turn = ONE_BOT.lock().await;
    let fake = FakeDiscord::start().await;
    let dirs = BotDirs::new(&[]);
    let (bot, addr) = start_with_http(&fake, &dirs).await;
    let mut idle = Vec::new();
    for _ in 0..socbot::http::MAX_CONNECTIONS {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Each is taken by the listener before the probe connects (a byte of a request head that
    // never ends makes sure).
    for s in &mut idle {
        s.write_all(b"G").await.unwrap();
    }
    for _ in 0..3 {
        let health = get(addr, "/healthz").await;
        assert_eq!(health.status, 200, "{}", health.body);
        assert_eq!(health.body, "ok\n");
    }
    let m = get(addr, "/metrics").await;
    assert_eq!(m.status, 200);
    drop(idle);
    bot.stop().await.unwrap();
}
