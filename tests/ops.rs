//! Operator commands through the real binary: `socbot config check` on good and bad files,
//! `socbot backup` / `socbot restore` round trips while the bot writes, and a store or a backup
//! from a newer socbot refused with a clear message.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;
use socbot::incident::{Event, Incident, IncidentId};
use socbot::store::{SCHEMA_VERSION, Store};
use support::bot::{self, L1_ROLE};
use support::cli::{TempDir, bundled, socbot_command};
use support::discord::payloads::{Interaction, opt_int, opt_str};

/// `socbot args…` from `cwd` with no SOCBOT_* variables from the caller, plus `env`.
fn socbot(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    socbot_command(&[])
        .current_dir(cwd)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the socbot binary runs")
}

/// `socbot --config <file> config check`, run in `cwd` with `env`.
fn config_check(cwd: &Path, file: &Path, env: &[(&str, String)]) -> Output {
    socbot(
        cwd,
        &["--config", file.to_str().unwrap(), "config", "check"],
        env,
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------
// config check

const GOOD: &str = r#"
[playbooks]
dir = "PLAYBOOKS"

[store]
path = "STORE"

[discord]
guild_id = 1100000000000000001
soc_channel_id = 1100000000000000002

[roles]
l1 = [1100000000000000011]
t2 = [1100000000000000022]

[oncall]
roster = [1100000000000000101, 1100000000000000102]
fallback_role = 1100000000000000022
timezone = "Europe/Berlin"

[paging]
ack_timeout_secs = 300
webhook_url = "https://events.pagerduty.com/v2/enqueue"

[http]
listen = "127.0.0.1:9184"
"#;

fn good_toml(tmp: &Path) -> String {
    GOOD.replace("PLAYBOOKS", &bundled())
        .replace("STORE", &tmp.join("data/socbot.sled").display().to_string())
}

#[test]
fn config_check_passes_a_good_file_and_redacts_secrets() {
    let tmp = TempDir::new("ops", "config-good");
    let file = tmp.0.join("socbot.toml");
    std::fs::write(&file, good_toml(&tmp.0)).unwrap();
    let env = [
        (
            "SOCBOT__DISCORD__TOKEN",
            "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GsEcRt.very-secret-token-value".to_owned(),
        ),
        (
            "SOCBOT__PAGING__ROUTING_KEY",
            "R0UT1NGK3Y-secret".to_owned(),
        ),
    ];
    let out = config_check(&tmp.0, &file, &env);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("configuration OK"), "{text}");
    assert!(!text.contains("very-secret"), "token leaked:\n{text}");
    assert!(!text.contains("R0UT1NGK3Y"), "routing key leaked:\n{text}");
    assert!(
        text.contains("token = \"<redacted>\"  # from the environment"),
        "{text}"
    );
    assert!(text.contains("routing_key = \"<redacted>\""), "{text}");
    // The effective values, where they came from, and the checks.
    assert!(
        text.contains("guild_id = 1100000000000000001  # from "),
        "{text}"
    );
    assert!(
        text.contains("[http]\nlisten = \"127.0.0.1:9184\""),
        "{text}"
    );
    assert!(
        text.contains("ok: playbooks.dir: 2 playbooks load"),
        "{text}"
    );
    assert!(text.contains("ok: store.path:"), "{text}");
    assert!(!text.contains("error:"), "{text}");
}

#[test]
fn config_check_names_the_key_of_each_problem_and_exits_1() {
    let tmp = TempDir::new("ops", "config-bad");
    let not_a_dir = tmp.0.join("a-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "guild id too short",
            "[discord]\nguild_id = 12\n".into(),
            "discord.guild_id",
        ),
        (
            "channel id",
            "[discord]\nsoc_channel_id = 999\n".into(),
            "discord.soc_channel_id",
        ),
        ("role id", "[roles]\nt2 = [42]\n".into(), "roles.t2"),
        (
            "roster id",
            "[oncall]\nroster = [7]\n".into(),
            "oncall.roster",
        ),
        (
            "playbook dir",
            "[playbooks]\ndir = \"/nonexistent/playbooks\"\n".into(),
            "playbooks.dir",
        ),
        (
            "store is a file",
            format!("[store]\npath = {:?}\n", not_a_dir.display().to_string()),
            "store.path",
        ),
        (
            "zero duration",
            "[paging]\nack_timeout_secs = 0\n".into(),
            "paging.ack_timeout_secs",
        ),
        (
            "rotation",
            "[oncall]\nrotation_days = 0\n".into(),
            "oncall.rotation_days",
        ),
        (
            "time zone",
            "[oncall]\ntimezone = \"Mars/Base\"\n".into(),
            "oncall.timezone",
        ),
        (
            "listen",
            "[http]\nlisten = \"everywhere\"\n".into(),
            "http.listen",
        ),
        ("log level", "[log]\nlevel = \"loud\"\n".into(), "log.level"),
        ("unknown key", "[discord]\nguildid = 1\n".into(), "guildid"),
        (
            "wrong type",
            "[discord]\nguild_id = \"general\"\n".into(),
            "discord.guild_id",
        ),
    ];
    for (what, toml, key) in cases {
        let file = tmp.0.join("bad.toml");
        // The base names the bundled playbooks and a fresh store, unless the case sets those.
        let mut text = String::new();
        if !toml.starts_with("[playbooks]") {
            text.push_str(&format!("[playbooks]\ndir = {:?}\n", bundled()));
        }
        if !toml.starts_with("[store]") {
            let store = tmp.0.join("store").display().to_string();
            text.push_str(&format!("[store]\npath = {store:?}\n"));
        }
        text.push_str(&toml);
        std::fs::write(&file, text).unwrap();
        let out = config_check(&tmp.0, &file, &[]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {text}{}", stderr(&out));
        let error = text
            .lines()
            // Each case leaves the server and roles unset too (errors of their own).
            .find(|l| l.starts_with("error:") && l.contains(key))
            .unwrap_or_else(|| panic!("{what}: no error line naming {key}:\n{text}"));
        assert!(error.contains(key), "{what}: {key} not named in {error:?}");
        assert!(
            text.contains("configuration check failed"),
            "{what}: {text}"
        );
    }
    // An unknown key is refused, and printed redacted when its name suggests a secret.
    let file = tmp.0.join("secret.toml");
    std::fs::write(
        &file,
        "[discord]\ntokn = \"s3cr3t-token-value\"\n\n[vault]\napi_key = \"s3cr3t-api-key\"\n",
    )
    .unwrap();
    let out = config_check(&tmp.0, &file, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("tokn = \"<redacted>\""), "{text}");
    // A missing --config file is an error too.
    let out = socbot(&tmp.0, &["--config", "nope.toml", "config", "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("nope.toml"), "{}", stdout(&out));
}

/// Every problem at once, not the first only: values no command can use (a zero concurrency, a
/// bad log level) and what only the bot needs (server, channel, role ids) are all listed, each
/// naming its key, and counted.
#[test]
fn config_check_lists_every_problem_at_once() {
    let tmp = TempDir::new("ops", "config-all");
    let file = tmp.0.join("many.toml");
    let store = tmp.0.join("store").display().to_string();
    std::fs::write(
        &file,
        format!(
            "[playbooks]\ndir = {:?}\n[store]\npath = {store:?}\n[discord]\nguild_id = \"12\"\nsoc_channel_id = 999\n[roles]\nt2 = [42]\n[outbox]\nconcurrency = 0\n[log]\nlevel = \"loud\"\n",
            bundled()
        ),
    )
    .unwrap();
    let out = config_check(&tmp.0, &file, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error: ")).collect();
    for key in [
        "outbox.concurrency",
        "log.level",
        "discord.guild_id",
        "discord.soc_channel_id",
        "roles.l1",
        "roles.t2",
    ] {
        assert!(
            errors
                .iter()
                .any(|l| l.starts_with(&format!("error: {key}: "))),
            "{key} not listed:\n{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "configuration check failed: {} error(s)",
            errors.len()
        )),
        "{text}"
    );
    assert!(
        text.contains("ok: playbooks.dir: 2 playbooks load"),
        "{text}"
    );
}

/// `socbot run` until it exits, killed after `limit` (it would otherwise try to reach Discord).
fn run_until_exit(cwd: &Path, env: &[(&str, String)], limit: Duration) -> Output {
    let mut child = socbot_command(&[])
        .current_dir(cwd)
        .arg("run")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the socbot binary runs");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "socbot run did not stop at start-up within {limit:?}:\n{}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A configuration `socbot run` cannot work with stops it before it connects: one line naming
/// the key and saying what to put there, exit 2 (which systemd's RestartPreventExitStatus=2
/// does not restart). A SOC channel of 0 is not one of them: it means "unset". Secure by
/// default: no server, or empty roles without `roles.open`, stop it too.
#[test]
fn run_stops_at_start_up_naming_the_key_of_a_bad_value() {
    let tmp = TempDir::new("ops", "run-config");
    let base = |key: &'static str, value: &str| -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("SOCBOT__DISCORD__TOKEN", "fake.bot.token".to_owned()),
            // Nothing listens there: should a check be missing, the bot fails fast instead of
            // reaching Discord.
            ("SOCBOT__DISCORD__API_BASE", "http://127.0.0.1:9".to_owned()),
            ("SOCBOT__PLAYBOOKS__DIR", bundled()),
            (
                "SOCBOT__STORE__PATH",
                tmp.0.join("data/socbot.sled").display().to_string(),
            ),
            (
                "SOCBOT__DISCORD__GUILD_ID",
                "1100000000000000001".to_owned(),
            ),
            ("SOCBOT__ROLES__L1", "1100000000000000011".to_owned()),
            ("SOCBOT__ROLES__T2", "1100000000000000022".to_owned()),
        ];
        env.retain(|(k, _)| *k != key);
        if !value.is_empty() || key == "SOCBOT__DISCORD__TOKEN" {
            env.push((key, value.to_owned()));
        }
        env
    };
    let cases = [
        (
            "SOCBOT__PLAYBOOKS__DIR",
            "/nonexistent/playbooks",
            "configuration key `playbooks.dir`: cannot read playbook directory /nonexistent/playbooks",
        ),
        (
            "SOCBOT__DISCORD__GUILD_ID",
            "12",
            "configuration key `discord.guild_id`: 12 is not a Discord server id",
        ),
        (
            "SOCBOT__DISCORD__SOC_CHANNEL_ID",
            "999",
            "configuration key `discord.soc_channel_id`: 999 is not a Discord channel id",
        ),
        (
            "SOCBOT__DISCORD__TOKEN",
            "",
            "no Discord token: set SOCBOT__DISCORD__TOKEN",
        ),
        (
            "SOCBOT__DISCORD__GUILD_ID",
            "",
            "configuration key `discord.guild_id`: not set; socbot serves one Discord server",
        ),
        (
            "SOCBOT__ROLES__L1",
            "",
            "configuration key `roles.l1`: empty: every member of the server could open",
        ),
        (
            "SOCBOT__ROLES__T2",
            "",
            "configuration key `roles.t2`: empty: every member of the server could close",
        ),
    ];
    for (key, value, want) in cases {
        let out = run_until_exit(&tmp.0, &base(key, value), Duration::from_secs(30));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{key}={value}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{key}={value}: one line, not {err}");
        assert!(
            lines[0].starts_with(&format!("socbot: {want}")),
            "{key}={value}: {err}"
        );
    }
    assert!(
        !tmp.0.join("data").exists(),
        "nothing was started: the store was not even created"
    );
}

// ---------------------------------------------------------------------------------------------
// backup and restore

fn incident_cmd(sub: &str, options: serde_json::Value) -> Interaction {
    Interaction::subcommand("incident", sub, options)
        .roles(&[L1_ROLE])
        .username("alice")
}

/// Every incident in `store` folds, and each is a prefix of the same incident in `live`; the
/// outbox and the thread index only name incidents that exist; the counter is past them all.
fn assert_consistent_prefix(restored: &Store, live: &Store) -> usize {
    let ids = restored.incident_ids().unwrap();
    for &id in &ids {
        let events: Vec<Event> = restored.events(id).unwrap();
        Incident::from_stored(IncidentId(id), &events)
            .unwrap_or_else(|e| panic!("INC-{id} does not fold in the backup: {e}"));
        let full: Vec<Event> = live.events(id).unwrap();
        assert!(
            events.len() <= full.len() && full[..events.len()] == events[..],
            "INC-{id} in the backup is not a prefix of the live history"
        );
    }
    for effect in restored.outbox().unwrap() {
        let v: serde_json::Value = serde_json::from_slice(&effect.json).unwrap();
        let inc = v["effect"]["incident"].as_u64().unwrap();
        assert!(
            ids.contains(&inc),
            "an outbox effect for INC-{inc}, which the backup lacks"
        );
    }
    let next = restored.allocate_incident_id().unwrap();
    assert!(
        ids.iter().all(|&i| i < next),
        "the incident counter is behind the incidents"
    );
    ids.len()
}

/// Incidents the writer opens (and answers) while backups are taken.
const WRITES: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_taken_while_the_bot_writes_restore_to_consistent_stores() {
    let (fake, dirs, bot) = bot::start_fresh(&[]).await;
    let root = dirs.root.clone();
    let env = |store: &Path| {
        vec![
            ("SOCBOT__STORE__PATH", store.display().to_string()),
            (
                "SOCBOT__PLAYBOOKS__DIR",
                dirs.playbooks.display().to_string(),
            ),
        ]
    };
    let live_env = env(&dirs.store);

    // Writers: incidents opened and answered through Discord; the outbox creates their threads
    // and posts their questions meanwhile.
    let writer = {
        let fake = fake.clone();
        tokio::spawn(async move {
            for i in 0..WRITES {
                let card = fake
                    .interact(incident_cmd(
                        "open",
                        json!([
                            opt_str("technique", "T1583.006"),
                            opt_str("title", &format!("backup load {i}"))
                        ]),
                    ))
                    .await;
                assert_eq!(card["type"], 4, "{card}");
                let answer = fake
                    .interact(incident_cmd(
                        "answer",
                        json!([
                            opt_str("incident", &format!("INC-{}", i + 1)),
                            opt_int("question", 1),
                            opt_str("finding", "clear")
                        ]),
                    ))
                    .await;
                assert_eq!(answer["type"], 4, "{answer}");
            }
        })
    };
    // Backups meanwhile, through the running daemon's control socket.
    let mut files = Vec::new();
    for n in 0..5 {
        let file = root.join(format!("live-{n}.socbot-backup"));
        let (f, e, r) = (file.clone(), live_env.clone(), root.clone());
        let out = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, String)> = e.iter().map(|(k, v)| (*k, v.clone())).collect();
            socbot(&r, &["backup", f.to_str().unwrap()], &env)
        })
        .await
        .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        assert!(
            stdout(&out).contains("from the running socbot"),
            "{}",
            stdout(&out)
        );
        files.push(file);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer.await.unwrap();

    // `socbot export` and `socbot oncall` work beside the running bot (through the same
    // control socket), write nothing (the shipped containers' root is read-only: here no
    // temporary directory can be made at all), and show the override set in chat.
    let standby = 1_300_000_000_000_000_777_u64;
    let set = fake
        .interact(
            Interaction::slash_command(
                "oncall",
                json!([
                    {"name": "override", "type": 6, "value": standby.to_string()},
                    opt_int("hours", 4)
                ]),
            )
            .roles(&[support::bot::T2_ROLE]),
        )
        .await;
    assert!(set.to_string().contains("is on call until"), "{set}");
    let not_a_dir = root.join("read-only");
    std::fs::write(&not_a_dir, "a file, so nothing can be made below it").unwrap();
    let tmp = not_a_dir.join("tmp");
    let (mut e, r) = (live_env.clone(), root.clone());
    e.push(("TMPDIR", tmp.display().to_string()));
    let (export, oncall) = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, String)> = e.iter().map(|(k, v)| (*k, v.clone())).collect();
        (
            socbot(&r, &["export", "INC-1"], &env),
            socbot(&r, &["oncall"], &env),
        )
    })
    .await
    .unwrap();
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(
        stdout(&export).contains("backup load 0"),
        "{}",
        stdout(&export)
    );
    assert!(
        stdout(&export).contains("answered q1 Clear"),
        "{}",
        stdout(&export)
    );
    assert!(oncall.status.success(), "{}", stderr(&oncall));
    assert!(
        stdout(&oncall).contains(&standby.to_string()),
        "the override is shown: {}{}",
        stdout(&oncall),
        stderr(&oncall)
    );

    // Restoring into the running bot's store is refused.
    let (f, e, r) = (files[0].clone(), live_env.clone(), root.clone());
    let refused = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, String)> = e.iter().map(|(k, v)| (*k, v.clone())).collect();
        socbot(&r, &["restore", f.to_str().unwrap()], &env)
    })
    .await
    .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("stop it first"),
        "{}",
        stderr(&refused)
    );

    bot.stop().await.unwrap();

    // With the bot stopped, `socbot backup` reads the store itself.
    let offline = root.join("offline.socbot-backup");
    let out = socbot(&root, &["backup", offline.to_str().unwrap()], &live_env);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("with socbot stopped"),
        "{}",
        stdout(&out)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&offline).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a backup is readable by its owner only"
        );
    }

    let live = Store::open(&dirs.store).unwrap();
    let mut seen = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let target = root.join(format!("restored-{n}"));
        let out = socbot(&root, &["restore", file.to_str().unwrap()], &env(&target));
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        let restored = Store::open(&target).unwrap();
        seen.push(assert_consistent_prefix(&restored, &live));
    }
    eprintln!("incidents in the backups taken while writing: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "later backups hold at least as much: {seen:?}"
    );

    // The offline backup restores to exactly the live store, over an existing store, which is
    // kept aside.
    let target = root.join("restored-0");
    let out = socbot(
        &root,
        &["restore", offline.to_str().unwrap()],
        &env(&target),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("{WRITES} incident(s)")), "{text}");
    let aside = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("the store that was there is kept at ")?
                .split(';')
                .next()
        })
        .unwrap_or_else(|| panic!("the old store is kept aside: {text}"));
    assert!(Path::new(aside).is_dir(), "{aside}");
    let restored = Store::open(&target).unwrap();
    // The same trees, but for the store's epoch: one more than the store it replaced (itself
    // restored once), so buttons made before are refused.
    let without_epoch = |store: &Store| {
        let mut trees = store.export_trees().unwrap().0;
        for (name, items) in &mut trees {
            if name.as_slice() == b"meta" {
                items.retain(|(k, _)| k.as_slice() != b"epoch");
            }
        }
        trees
    };
    assert_eq!(without_epoch(&restored), without_epoch(&live));
    assert_eq!(restored.epoch().unwrap(), 2);
    assert_eq!(live.epoch().unwrap(), 0);
    drop(restored);
    drop(live);

    // `-` streams the backup on stdout (for `kubectl exec … socbot backup -`).
    let out = socbot(&root, &["backup", "-"], &live_env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.starts_with(b"SOCBOT-BACKUP\n"));
    fake.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// schema versions

#[test]
fn a_store_or_backup_from_a_newer_socbot_is_refused_clearly() {
    let tmp = TempDir::new("ops", "newer");
    let store = tmp.0.join("store");
    {
        let db = sled::open(&store).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(&store).unwrap_err().to_string();
    assert!(err.contains("written by a newer socbot"), "{err}");
    assert!(
        err.contains(&format!(
            "schema {}, this build knows {SCHEMA_VERSION}",
            SCHEMA_VERSION + 1
        )),
        "{err}"
    );
    let env = [
        ("SOCBOT__STORE__PATH", store.display().to_string()),
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
        ("SOCBOT__DISCORD__TOKEN", "x.y.z".to_owned()),
        (
            "SOCBOT__DISCORD__GUILD_ID",
            "1100000000000000001".to_owned(),
        ),
        ("SOCBOT__ROLES__OPEN", "true".to_owned()),
        // Never reached: the store is refused before any connection.
        ("SOCBOT__DISCORD__API_BASE", "http://127.0.0.1:9".to_owned()),
    ];
    for args in [&["run"][..], &["backup", "out.bak"], &["export", "INC-1"]] {
        let out = socbot(&tmp.0, args, &env);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("written by a newer socbot"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // A backup whose header says a newer schema: refused, and nothing is changed.
    let good = tmp.0.join("good");
    Store::open(&good).unwrap();
    let file = tmp.0.join("good.bak");
    let env_good = [
        ("SOCBOT__STORE__PATH", good.display().to_string()),
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
    ];
    let out = socbot(&tmp.0, &["backup", file.to_str().unwrap()], &env_good);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let from = format!("\"schema\":{SCHEMA_VERSION},");
    assert!(text.contains(&from), "the header records the schema");
    let newer = text.replacen(&from, &format!("\"schema\":{},", SCHEMA_VERSION + 1), 1);
    let newer_file = tmp.0.join("newer.bak");
    std::fs::write(&newer_file, newer.as_bytes()).unwrap();
    let target = tmp.0.join("target");
    let out = socbot(
        &tmp.0,
        &["restore", newer_file.to_str().unwrap()],
        &[("SOCBOT__STORE__PATH", target.display().to_string())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("newer socbot"), "{}", stderr(&out));
    assert!(!target.exists(), "nothing restored");

    // A damaged backup is refused too.
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(&newer_file, &damaged).unwrap();
    let out = socbot(
        &tmp.0,
        &["restore", newer_file.to_str().unwrap()],
        &[("SOCBOT__STORE__PATH", target.display().to_string())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn a_store_restored_by_root_belongs_to_its_directorys_owner() {
    use std::os::unix::fs::MetadataExt;
    let tmp = TempDir::new("ops", "owner");
    let probe = tmp.0.join("probe");
    std::fs::write(&probe, "").unwrap();
    if std::fs::metadata(&probe).unwrap().uid() != 0 {
        eprintln!("skipped: only root can restore for another user");
        return;
    }
    // A state directory owned by the service's user, as systemd's DynamicUser= leaves it.
    let state = tmp.0.join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65_532), Some(65_532)).unwrap();
    let source = tmp.0.join("source");
    Store::open(&source)
        .unwrap()
        .allocate_incident_id()
        .unwrap();
    let file = tmp.0.join("b.bak");
    let env = |p: &Path| vec![("SOCBOT__STORE__PATH", p.display().to_string())];
    let out = socbot(&tmp.0, &["backup", file.to_str().unwrap()], &env(&source));
    assert!(out.status.success(), "{}", stderr(&out));
    let target = state.join("socbot.sled");
    let out = socbot(&tmp.0, &["restore", file.to_str().unwrap()], &env(&target));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut owners = std::collections::BTreeSet::new();
    let mut stack = vec![target];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        owners.insert((m.uid(), m.gid()));
        if m.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert_eq!(
        owners.into_iter().collect::<Vec<_>>(),
        vec![(65_532, 65_532)]
    );
}

/// A Kubernetes ConfigMap volume: files are symlinks through `..data`, which kubelet swaps to a
/// new hidden directory on update. The reload watcher must see the change.
#[cfg(unix)]
#[test]
fn the_playbook_watcher_sees_a_configmap_update() {
    use std::os::unix::fs::symlink;
    let tmp = TempDir::new("ops", "configmap");
    let pb = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks/T1583.006-acquire-infrastructure-web-services.md"),
    )
    .unwrap();
    let v1 = tmp.0.join("..2026_01_01_v1");
    std::fs::create_dir(&v1).unwrap();
    std::fs::write(v1.join("T1583.006.md"), &pb).unwrap();
    symlink("..2026_01_01_v1", tmp.0.join("..data")).unwrap();
    symlink("..data/T1583.006.md", tmp.0.join("T1583.006.md")).unwrap();
    let (library, _) = socbot::playbook::Library::load_dir(&tmp.0).unwrap();
    assert_eq!(library.len(), 1, "read once, through the link");
    let before = socbot::daemon::reload::fingerprint(&tmp.0);

    std::thread::sleep(Duration::from_millis(20));
    let v2 = tmp.0.join("..2026_01_02_v2");
    std::fs::create_dir(&v2).unwrap();
    std::fs::write(
        v2.join("T1583.006.md"),
        pb.replace("Web Services", "Web Svc"),
    )
    .unwrap();
    symlink("..2026_01_02_v2", tmp.0.join("..data_tmp")).unwrap();
    std::fs::rename(tmp.0.join("..data_tmp"), tmp.0.join("..data")).unwrap();
    std::fs::remove_dir_all(&v1).unwrap();
    assert_ne!(socbot::daemon::reload::fingerprint(&tmp.0), before);
}

// ---------------------------------------------------------------------------------------------
// deploy/

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every `SOCBOT__SECTION__KEY` the deployment files set is a real key (the configuration is
/// strict: an unknown one would stop the bot at start-up), the example configuration files load,
/// and the YAML check passes where Python has PyYAML.
#[test]
fn deploy_files_use_real_configuration_keys_and_their_yaml_checks_out() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deploy = root.join("deploy");
    let defaults = socbot::config::Config::layers(None, Vec::<(String, String)>::new()).unwrap();
    let config::ValueKind::Table(sections) = &defaults.cache.kind else {
        panic!("the defaults are a table");
    };
    let known = |section: &str, key: &str| {
        sections.get(section).is_some_and(|s| match &s.kind {
            config::ValueKind::Table(t) => t.contains_key(key),
            _ => false,
        })
    };
    let mut files = Vec::new();
    files_under(&deploy, &mut files);
    let mut names = std::collections::BTreeSet::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (at, _) in text.match_indices("SOCBOT__") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let parts: Vec<&str> = name.split("__").collect();
            if parts.len() != 3 || parts[1] == "SECTION" || parts[2].is_empty() {
                continue;
            }
            let (section, key) = (parts[1].to_lowercase(), parts[2].to_lowercase());
            assert!(
                known(&section, &key),
                "{}: {name} is not a configuration key",
                file.display()
            );
            names.insert(name);
        }
    }
    for needed in [
        "SOCBOT__DISCORD__TOKEN",
        "SOCBOT__STORE__PATH",
        "SOCBOT__HTTP__LISTEN",
        "SOCBOT__PLAYBOOKS__DIR",
    ] {
        assert!(names.contains(needed), "{needed} is set nowhere in deploy/");
    }

    // The example file and the ConfigMap's file load as the daemon loads them.
    socbot::config::Config::load_with_env(
        Some(&deploy.join("socbot.example.toml")),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let configmap = std::fs::read_to_string(deploy.join("kubernetes/config.yaml")).unwrap();
    let toml: String = configmap
        .split_once("socbot.toml: |\n")
        .expect("the ConfigMap holds socbot.toml")
        .1
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let tmp = TempDir::new("ops", "configmap-toml");
    let file = tmp.0.join("socbot.toml");
    std::fs::write(&file, toml).unwrap();
    socbot::config::Config::load_with_env(Some(&file), Vec::<(String, String)>::new()).unwrap();

    let has_yaml = Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_yaml {
        let out = Command::new("python3")
            .arg(deploy.join("check_yaml.py"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    } else {
        eprintln!("skipped the YAML check: python3 with PyYAML is not installed");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn root_does_not_open_another_users_stopped_store() {
    use std::os::unix::fs::MetadataExt;
    let tmp = TempDir::new("ops", "foreign");
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        eprintln!("skipped: not root");
        return;
    }
    let store = tmp.0.join("store");
    Store::open(&store).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65532:65532"])
        .arg(&store)
        .status()
        .unwrap();
    assert!(chown.success());
    let out = socbot(
        &tmp.0,
        &["backup", "x.bak"],
        &[("SOCBOT__STORE__PATH", store.display().to_string())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("belongs to uid 65532"),
        "{}",
        stderr(&out)
    );
    let mut stack = vec![store];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(m.uid(), 65_532, "{} became root's", p.display());
        if m.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// stopping

/// A Discord whose REST API answers but whose gateway refuses every connection: serenity keeps
/// re-queueing the shard. Answers every request with `GET /gateway/bot`'s body.
fn unreachable_gateway() -> String {
    use std::io::{BufRead, BufReader, Write};
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway = format!("ws://{}", closed.local_addr().unwrap());
    drop(closed); // nothing listens there now
    let rest = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", rest.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in rest.incoming() {
            let Ok(mut conn) = conn else { return };
            let gateway = gateway.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    let mut length = 0usize;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; length];
                    let _ = std::io::Read::read_exact(&mut reader, &mut body);
                    let answer = json!({
                        "url": gateway,
                        "shards": 1,
                        "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
                    })
                    .to_string();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if conn.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    base
}

/// SIGTERM (systemd, Kubernetes) and SIGINT (Ctrl-C) stop `socbot run` while it keeps failing
/// to reach Discord's gateway: it exits 0 and says it stopped, instead of retrying until
/// SIGKILL. (The limit only catches a hang.)
#[test]
fn sigterm_and_ctrl_c_stop_the_bot_while_discord_is_unreachable() {
    use std::io::BufRead;
    let tmp = TempDir::new("ops", "sigterm");
    let api = unreachable_gateway();
    for signal in ["-TERM", "-INT"] {
        let mut child = socbot_command(&[])
            .current_dir(&tmp.0)
            .arg("run")
            .env("SOCBOT__DISCORD__TOKEN", "fake.bot.token")
            .env("SOCBOT__DISCORD__API_BASE", &api)
            .env("SOCBOT__DISCORD__GUILD_ID", "1100000000000000001")
            .env("SOCBOT__ROLES__OPEN", "true")
            .env("SOCBOT__PLAYBOOKS__DIR", bundled())
            .env("SOCBOT__STORE__PATH", tmp.0.join("store"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the socbot binary runs");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut log = Vec::new();
        // Connecting, and failing to: serenity re-queues the shard.
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no gateway failure logged:\n{}", log.join("\n")));
            let failing = line.contains("Err starting shard");
            log.push(line);
            if failing {
                break;
            }
        }
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break exit;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                while let Ok(line) = rx.try_recv() {
                    log.push(line);
                }
                panic!("{signal}: still running; log:\n{}", log.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
            log.push(line);
        }
        assert_eq!(exit.code(), Some(0), "{signal}:\n{}", log.join("\n"));
        assert!(
            log.iter().any(|l| l.contains("socbot stopped")),
            "{signal}: the store was flushed and it said so:\n{}",
            log.join("\n")
        );
    }
}

/// A link planted where the backup or its temporary file goes is replaced, never written
/// through: the file it points at is untouched, and the backup is a file of its own.
#[cfg(unix)]
#[test]
fn a_backup_never_writes_through_a_planted_link() {
    let tmp = TempDir::new("ops", "backup-links");
    let store = tmp.0.join("store");
    drop(Store::open(&store).unwrap());
    let victim = tmp.0.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let env = [
        ("SOCBOT__STORE__PATH", store.display().to_string()),
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
    ];
    for (n, planted) in [".partial", ""].into_iter().enumerate() {
        let file = tmp.0.join(format!("b{n}.socbot-backup"));
        let mut link = file.as_os_str().to_owned();
        link.push(planted);
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let out = socbot(&tmp.0, &["backup", file.to_str().unwrap()], &env);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(
            meta.is_file(),
            "{planted:?}: the backup is a file, not the link"
        );
        assert!(
            std::fs::read(&file)
                .unwrap()
                .starts_with(b"SOCBOT-BACKUP\n")
        );
    }
}
