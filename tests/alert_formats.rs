//! `socbot alert test` on the fixtures of every format, run as an integrator would: the real
//! binary, a payload file (or standard input), the playbook directory from the configuration.
//! The fixtures (`tests/fixtures/alerts/<format>/`) are written from each product's documented
//! payload shape, with its nesting and unrelated fields; `malformed/` holds payloads socbot
//! must refuse with a message naming where they are wrong.

#[path = "support/cli.rs"]
mod cli;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use cli::{TempDir, socbot_command};
use serde_json::Value;

const ALERTS: &str = "tests/fixtures/alerts";
const PLAYBOOKS: &str = "tests/fixtures/playbooks";

/// `socbot args…` from the crate root, the fixture playbooks configured through the
/// environment.
fn socbot(args: &[&str]) -> Output {
    socbot_command(&[])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SOCBOT__PLAYBOOKS__DIR", PLAYBOOKS)
        .args(args)
        .output()
        .expect("the socbot binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

/// `alert test --json` on a fixture: the alerts it read.
fn test_json(format: &str, file: &str) -> Vec<Value> {
    let path = format!("{ALERTS}/{file}");
    let out = socbot(&["alert", "test", "--format", format, &path, "--json"]);
    assert_eq!(code(&out), 0, "{path}: {}", stderr(&out));
    let value: Value = serde_json::from_str(&stdout(&out)).expect("JSON on stdout");
    value
        .as_array()
        .expect("an array, one object per alert")
        .clone()
}

/// What a fixture's alert must read as.
struct Want {
    techniques: &'static [&'static str],
    playbook: Option<&'static str>,
    title: &'static str,
    severity: &'static str,
    host: Option<&'static str>,
    user: Option<&'static str>,
    key: &'static str,
    status: &'static str,
}

fn check(format: &str, file: &str, wants: &[Want]) {
    let alerts = test_json(format, file);
    assert_eq!(alerts.len(), wants.len(), "{file}: alerts read");
    for (i, (got, want)) in alerts.iter().zip(wants).enumerate() {
        let at = format!("{file} alert {i}");
        let techniques: Vec<&str> = got["techniques"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(techniques, want.techniques, "{at}: techniques");
        assert_eq!(
            got["playbook"]["id"].as_str(),
            want.playbook,
            "{at}: playbook"
        );
        if want.playbook.is_none() {
            assert!(got["playbook"].is_null(), "{at}: playbook is null");
        }
        assert_eq!(got["title"], want.title, "{at}: title");
        assert_eq!(got["severity"], want.severity, "{at}: severity");
        assert_eq!(got["host"].as_str(), want.host, "{at}: host");
        assert_eq!(got["user"].as_str(), want.user, "{at}: user");
        assert_eq!(got["key"], want.key, "{at}: key");
        assert_eq!(got["status"], want.status, "{at}: status");
    }
}

#[test]
fn wazuh_alerts_read() {
    check(
        "wazuh",
        "wazuh/sysmon-encoded-powershell.json",
        &[Want {
            techniques: &["T1059.001", "T1027"],
            playbook: Some("T1059.001"),
            title: "Powershell process spawned with an encoded command: possible obfuscated script execution",
            severity: "high",
            host: Some("WKS-FIN-0042"),
            user: Some("m.okafor"),
            key: r#"rule.id="92057" agent.id="017""#,
            status: "firing",
        }],
    );
    check(
        "wazuh",
        "wazuh/sshd-brute-force.json",
        &[Want {
            techniques: &["T1110"],
            playbook: None,
            title: "sshd: brute force trying to get access to the system. Authentication failed.",
            severity: "medium",
            host: Some("bastion-01"),
            user: Some("admin"),
            key: r#"rule.id="5712" agent.id="003""#,
            status: "firing",
        }],
    );
}

#[test]
fn a_technique_without_a_playbook_names_the_closest() {
    let alert = &test_json("wazuh", "wazuh/sshd-brute-force.json")[0];
    assert!(alert["playbook"].is_null());
    let closest = alert["closest_playbooks"].as_array().unwrap();
    assert!(
        closest[0].as_str().unwrap().starts_with("T1110.003 · "),
        "{closest:?}"
    );
}

#[test]
fn elastic_documents_read_flattened_nested_and_wrapped() {
    check(
        "elastic",
        "elastic/lsass-access-flattened.json",
        &[Want {
            techniques: &["T1003", "T1003.001"],
            playbook: Some("T1003.001"),
            title: "LSASS Memory Access via ProcDump",
            severity: "critical",
            host: Some("SRV-DC-02"),
            user: Some("svc_it"),
            key: r#"kibana.alert.rule.uuid="0f2c6a38-5d0b-4f1e-a6b7-3c9d1e2f4a5b" host.name="SRV-DC-02""#,
            status: "firing",
        }],
    );
    check(
        "elastic",
        "elastic/context-alerts-nested.json",
        &[
            Want {
                techniques: &["T1021", "T1021.001"],
                playbook: Some("T1021.001"),
                title: "Unusual RDP Session from a Server",
                severity: "medium",
                host: Some("APP-SRV-11"),
                user: Some("adm.rkhan"),
                key: r#"kibana.alert.rule.uuid="4d6e8f10-aaaa-4bbb-8ccc-123456789abc" host.name="APP-SRV-11""#,
                status: "firing",
            },
            Want {
                techniques: &["T1078", "T1078.004"],
                playbook: Some("T1078.004"),
                title: "Cloud Console Login from a New Country",
                severity: "high",
                host: None,
                user: Some("s.ito@corp.example"),
                key: r#"kibana.alert.rule.uuid="7a8b9c0d-1111-4222-8333-444455556666" host.name="""#,
                status: "firing",
            },
        ],
    );
}

#[test]
fn splunk_webhook_bodies_read() {
    check(
        "splunk",
        "splunk/es-notable-phishing.json",
        &[Want {
            techniques: &["T1566.002", "T1204.001"],
            playbook: Some("T1566.002"),
            title: "Threat - Phishing Link Clicked From Email - Rule",
            severity: "high",
            host: Some("WKS-MKT-0199"),
            user: Some("l.martin"),
            key: r#"search_name="Threat - Phishing Link Clicked From Email - Rule" host="WKS-MKT-0199""#,
            status: "firing",
        }],
    );
    check(
        "splunk",
        "splunk/scheduled-task.json",
        &[Want {
            techniques: &["T1053.005", "T1059.001"],
            playbook: Some("T1053.005"),
            title: "Scheduled Task Created With a Script",
            severity: "medium",
            host: Some("SRV-FILE-03"),
            user: Some("CORP\\svc_deploy"),
            key: r#"search_name="Scheduled Task Created With a Script" host="SRV-FILE-03""#,
            status: "firing",
        }],
    );
}

#[test]
fn sentinel_incidents_read_alone_or_from_the_logic_app_trigger() {
    check(
        "sentinel",
        "sentinel/logic-app-trigger.json",
        &[Want {
            // The label's sub-technique has a playbook: it wins over the parents.
            techniques: &["T1110", "T1078", "T1110.003"],
            playbook: Some("T1110.003"),
            title: "Password spray against Entra ID followed by a successful sign-in",
            severity: "high",
            host: None,
            user: Some("p.novak"),
            key: r#"name="3e1f5a7b-9c2d-4e6f-8a0b-1c3d5e7f9a2b""#,
            status: "firing",
        }],
    );
    check(
        "sentinel",
        "sentinel/incident-closed.json",
        &[Want {
            techniques: &["T1486"],
            playbook: Some("T1486"),
            title: "Mass file encryption on a file server",
            severity: "medium",
            host: Some("SRV-FILE-01"),
            user: None,
            key: r#"name="9d8c7b6a-5e4f-4a3b-9c2d-1e0f9a8b7c6d""#,
            status: "resolved",
        }],
    );
}

#[test]
fn thehive_alerts_read_alone_or_from_a_notification() {
    check(
        "thehive",
        "thehive/alert-created-notification.json",
        &[Want {
            techniques: &["T1071.004", "T1048"],
            playbook: Some("T1071.004"),
            title: "DNS tunnelling suspected from a workstation",
            severity: "high",
            host: None,
            user: None,
            key: r#"type="network" source="Zeek" sourceRef="dns-tunnel-20260301-0042""#,
            status: "firing",
        }],
    );
    check(
        "thehive",
        "thehive/alert-sigma-subtechnique.json",
        &[Want {
            // A Sigma tag's sub-technique without its own playbook opens its parent's.
            techniques: &["T1999.042"],
            playbook: Some("T1999"),
            title: "Fixture technique sub-technique seen",
            severity: "medium",
            host: None,
            user: None,
            key: r#"type="sigma" source="sigma-runner" sourceRef="f1e2d3c4-aaaa-4bbb-8ccc-0123456789ab""#,
            status: "firing",
        }],
    );
}

#[test]
fn alertmanager_groups_read_one_alert_each() {
    check(
        "alertmanager",
        "alertmanager/falco-group.json",
        &[
            Want {
                techniques: &["T1059.004", "T1609"],
                playbook: None,
                title: "Shell spawned in container checkout-7d9f8c6b5-x2kqp",
                severity: "critical",
                host: Some("k8s-node-4:9376"),
                user: None,
                key: r#"fingerprint="6a1f3c9e7b2d4f80""#,
                status: "firing",
            },
            Want {
                techniques: &["T1059.001"],
                playbook: Some("T1059.001"),
                title: "FalcoShellInContainer",
                severity: "medium",
                host: Some("k8s-node-2:9376"),
                user: None,
                key: r#"fingerprint="0c4e8a2b6d1f3957""#,
                status: "resolved",
            },
        ],
    );
}

#[test]
fn the_alertmanager_technique_label_can_be_named() {
    let path = format!("{ALERTS}/alertmanager/custom-technique-label.json");
    let read = |extra: &[&str]| -> Value {
        let mut args = vec!["alert", "test", "--format", "alertmanager", &path, "--json"];
        args.extend_from_slice(extra);
        let out = socbot(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()[0].clone()
    };
    let default = read(&[]);
    assert_eq!(default["techniques"], serde_json::json!([]));
    assert!(default["playbook"].is_null());
    let named = read(&["--technique-label", "attack_technique"]);
    assert_eq!(named["techniques"], serde_json::json!(["T1078.004"]));
    assert_eq!(named["playbook"]["id"], "T1078.004");
    assert_eq!(named["severity"], "high", "P2 reads as high");
}

#[test]
fn generic_payloads_read() {
    check(
        "generic",
        "generic/edr-detection.json",
        &[Want {
            techniques: &["T1486", "T1490"],
            playbook: Some("T1486"),
            title: "Ransomware behaviour: shadow copies deleted, files renamed to .lck",
            severity: "critical",
            host: Some("SRV-FILE-02"),
            user: Some("CORP\\svc_sql"),
            key: r#"dedup_key="edr-det-20260301-88412""#,
            status: "firing",
        }],
    );
    check(
        "generic",
        "generic/batch.json",
        &[
            Want {
                techniques: &["T1566.002"],
                playbook: Some("T1566.002"),
                title: "User clicked a link rewritten by the mail gateway as malicious",
                severity: "medium",
                host: None,
                user: Some("l.martin"),
                key: r#"dedup_key="mailgw-click-55120""#,
                status: "firing",
            },
            Want {
                techniques: &[],
                playbook: None,
                title: "Honeytoken AWS key used",
                severity: "high",
                host: Some("unknown"),
                user: None,
                key: r#"title="Honeytoken AWS key used" host="unknown""#,
                status: "firing",
            },
        ],
    );
}

#[test]
fn every_fixture_of_every_format_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(ALERTS);
    let mut seen = 0;
    for format in [
        "wazuh",
        "elastic",
        "splunk",
        "sentinel",
        "thehive",
        "alertmanager",
        "generic",
    ] {
        let mut files = 0;
        for entry in std::fs::read_dir(root.join(format)).unwrap() {
            let path = entry.unwrap().path();
            let alerts = test_json(
                format,
                &format!("{format}/{}", path.file_name().unwrap().to_str().unwrap()),
            );
            assert!(!alerts.is_empty(), "{}", path.display());
            for alert in &alerts {
                for field in [
                    "techniques",
                    "playbook",
                    "title",
                    "severity",
                    "host",
                    "user",
                    "key",
                    "status",
                ] {
                    assert!(
                        alert.get(field).is_some(),
                        "{}: no `{field}`",
                        path.display()
                    );
                }
            }
            files += 1;
        }
        assert!(files >= 1, "no fixture for {format}");
        seen += files;
    }
    assert!(seen >= 14, "{seen} fixtures");
}

#[test]
fn the_text_output_shows_what_the_incident_would_hold() {
    let path = format!("{ALERTS}/elastic/lsass-access-flattened.json");
    let out = socbot(&["alert", "test", "--format", "elastic", &path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "title      LSASS Memory Access via ProcDump",
        "severity   critical",
        "status     firing",
        "techniques T1003, T1003.001",
        "playbook   T1003.001 · OS Credential Dumping: LSASS Memory",
        "host       SRV-DC-02",
        "user       svc_it",
        r#"key        kibana.alert.rule.uuid="0f2c6a38-5d0b-4f1e-a6b7-3c9d1e2f4a5b" host.name="SRV-DC-02""#,
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let group = socbot(&[
        "alert",
        "test",
        "--format",
        "alertmanager",
        &format!("{ALERTS}/alertmanager/falco-group.json"),
    ]);
    let text = stdout(&group);
    assert!(
        text.contains("alert 1 of 2") && text.contains("alert 2 of 2"),
        "{text}"
    );
    assert!(
        text.contains("playbook   none: no playbook covers these techniques"),
        "{text}"
    );
    assert!(text.contains("closest    T1059.001 · "), "{text}");
}

#[test]
fn the_payload_can_come_from_standard_input() {
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(ALERTS)
            .join("generic/edr-detection.json"),
    )
    .unwrap();
    let mut child = socbot_command(&[])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SOCBOT__PLAYBOOKS__DIR", PLAYBOOKS)
        .args(["alert", "test", "--format", "generic", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let alerts: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(alerts[0]["playbook"]["id"], "T1486");

    let mut child = socbot_command(&[])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["alert", "test", "--format", "splunk", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"search_name=x")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).starts_with(
            "socbot: standard input: cannot read it as a splunk payload: the body is not JSON"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn malformed_payloads_exit_1_naming_what_and_where() {
    for (format, file, message) in [
        (
            "wazuh",
            "wazuh-truncated.json",
            "the body is not JSON: EOF while parsing a string at line 1 column 70",
        ),
        (
            "wazuh",
            "wazuh-no-rule-id.json",
            "`rule.id`: missing: the rule id (`rule.id`), part of the key",
        ),
        (
            "elastic",
            "elastic-threat-id-object.json",
            "`alerts[1].kibana.alert.rule.threat[0].technique[0].id`: expected text, found an object",
        ),
        (
            "splunk",
            "splunk-no-result.json",
            "`result`: missing: the first result row of the search",
        ),
        (
            "sentinel",
            "sentinel-no-name.json",
            "`object.name`: missing: the incident's name (its id), the key",
        ),
        (
            "thehive",
            "thehive-case-notification.json",
            "`objectType`: this notification is about a Case, not an Alert",
        ),
        (
            "alertmanager",
            "alertmanager-severity.json",
            "`alerts[0].labels.severity`: unknown severity `catastrophic`: use one of info, low, medium, high, critical",
        ),
        (
            "generic",
            "generic-unknown-field.json",
            "`techniques`: unknown field: the generic format has technique, title",
        ),
    ] {
        let path = format!("{ALERTS}/malformed/{file}");
        let out = socbot(&["alert", "test", "--format", format, &path, "--json"]);
        assert_eq!(code(&out), 1, "{file}");
        assert_eq!(stdout(&out), "", "{file}: nothing on stdout");
        let err = stderr(&out);
        let want = format!("socbot: {path}: cannot read it as a {format} payload: {message}");
        assert!(err.starts_with(&want), "{file}:\n got {err}\nwant {want}");
        assert_eq!(err.lines().count(), 1, "{file}: one line");
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = socbot(&["alert", "test", "--format", "qradar", "x.json"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("unknown alert format `qradar`: use one of wazuh, elastic, splunk, sentinel, thehive, alertmanager, generic"),
        "{}",
        stderr(&out)
    );
    let out = socbot(&["alert", "test", "--format", "wazuh", "no/such/file.json"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).starts_with("socbot: cannot read no/such/file.json: "),
        "{}",
        stderr(&out)
    );
    let out = socbot(&["alert", "test", "x.json"]);
    assert_eq!(code(&out), 2, "no --format");
}

#[test]
fn the_playbooks_come_from_the_configuration_file() {
    let dir = TempDir::new("alert-test", "config");
    let config = dir.0.join("socbot.toml");
    let playbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join(PLAYBOOKS);
    std::fs::write(
        &config,
        format!("[playbooks]\ndir = {:?}\n", playbooks.display().to_string()),
    )
    .unwrap();
    let path = format!("{ALERTS}/wazuh/sysmon-encoded-powershell.json");
    let run = |extra: &[&str]| -> Value {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["alert", "test", "--format", "wazuh", &path, "--json"]);
        let out = socbot_command(&[])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()[0].clone()
    };
    let config_arg = config.display().to_string();
    assert_eq!(
        run(&["--config", &config_arg])["playbook"]["id"],
        "T1059.001"
    );
    // The bundled playbooks (the default directory) have none for T1059.001 or T1027.
    assert!(run(&[])["playbook"].is_null());
}

#[test]
fn techniques_are_named_from_the_attack_catalog() {
    let alert = &test_json("alertmanager", "alertmanager/falco-group.json")[0];
    assert_eq!(
        alert["attack"][0],
        serde_json::json!({"id": "T1059.004", "name": "Command and Scripting Interpreter: Unix Shell", "status": "live", "replaced_by": null})
    );
    let unknown = &test_json("thehive", "thehive/alert-sigma-subtechnique.json")[0];
    assert_eq!(unknown["attack"][0]["status"], "unknown");
    assert!(unknown["attack"][0]["name"].is_null());
    let path = format!("{ALERTS}/thehive/alert-sigma-subtechnique.json");
    let text = stdout(&socbot(&["alert", "test", "--format", "thehive", &path]));
    assert!(
        text.contains("attack     T1999.042 (not in ATT&CK "),
        "{text}"
    );
}

#[test]
fn a_reader_that_stops_early_is_no_error() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let path = format!("{ALERTS}/alertmanager/falco-group.json");
    let out = socbot_command(&[])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SOCBOT__PLAYBOOKS__DIR", PLAYBOOKS)
        .args(["alert", "test", "--format", "alertmanager", &path, "--json"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(stderr(&out), "");
    assert_eq!(code(&out), 0);
}

#[test]
fn a_configured_source_gives_the_format_group_key_and_escalation() {
    let dir = TempDir::new("alert-test", "source");
    let config = dir.0.join("socbot.toml");
    let playbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join(PLAYBOOKS);
    std::fs::write(
        &config,
        format!(
            "[playbooks]\ndir = {:?}\n\n[alerts.sources.edr-elastic]\nformat = \"elastic\"\n\
             token = \"test-token-not-a-secret\"\nescalate_at = \"critical\"\ngroup_by = [\"host\", \"technique\"]\n",
            playbooks.display().to_string()
        ),
    )
    .unwrap();
    let config_arg = config.display().to_string();
    let run = |args: &[&str]| -> Output {
        socbot_command(&[])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--config", &config_arg, "alert", "test"])
            .args(args)
            .output()
            .unwrap()
    };
    let path = format!("{ALERTS}/elastic/context-alerts-nested.json");
    let out = run(&["--source", "edr-elastic", &path, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let alerts: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        alerts[0]["key"],
        r#"host="APP-SRV-11" technique="T1021,T1021.001""#
    );
    assert_eq!(alerts[0]["escalates"], false, "medium is below critical");
    let lsass = format!("{ALERTS}/elastic/lsass-access-flattened.json");
    let out = run(&["--source", "edr-elastic", &lsass]);
    let text = stdout(&out);
    assert!(
        text.contains(
            "escalates  yes: at the source's escalate_at, it escalates and pages at once"
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"key        host="SRV-DC-02" technique="T1003,T1003.001""#),
        "{text}"
    );
    // Without a source there is no escalation to tell.
    let out = run(&["--format", "elastic", &lsass, "--json"]);
    let alerts: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(alerts[0]["escalates"].is_null());

    let out = run(&["--source", "wazuh", &lsass]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out),
        "socbot: no alert source `wazuh` ([alerts.sources.wazuh]); configured: edr-elastic\n"
    );
    let out = run(&["--source", "edr-elastic", "--format", "wazuh", &lsass]);
    assert_eq!(code(&out), 2, "--source and --format together");
}

#[test]
fn the_alerts_settings_of_the_configuration_apply() {
    let path = format!("{ALERTS}/alertmanager/custom-technique-label.json");
    let out = socbot_command(&[])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SOCBOT__PLAYBOOKS__DIR", PLAYBOOKS)
        .env("SOCBOT__ALERTS__TECHNIQUE_LABEL", "attack_technique")
        .args(["alert", "test", "--format", "alertmanager", &path, "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let alerts: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(alerts[0]["techniques"], serde_json::json!(["T1078.004"]));

    let out = socbot_command(&[])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SOCBOT__PLAYBOOKS__DIR", PLAYBOOKS)
        .env("SOCBOT__ALERTS__MAX_BODY_BYTES", "500")
        .args(["alert", "test", "--format", "alertmanager", &path])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    let size = std::fs::metadata(Path::new(env!("CARGO_MANIFEST_DIR")).join(&path))
        .unwrap()
        .len();
    assert_eq!(
        stderr(&out),
        format!(
            "socbot: {path}: {size} bytes, over alerts.max_body_bytes (500): POST /alerts would answer 413\n"
        )
    );
}
