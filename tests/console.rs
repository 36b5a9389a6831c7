//! The real `socbot` binary as an analyst without a Discord token uses it: `socbot console` with
//! commands on stdin against the bundled playbooks and a store in a temporary directory, and
//! `socbot run` refusing to start without a token.

#[path = "support/cli.rs"]
mod cli;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use cli::{TempDir, bundled, flat, socbot_command};

/// `socbot args…` run from `cwd` with no SOCBOT_* variables from the caller, plus `env`, with
/// `stdin` piped in.
fn socbot(cwd: &Path, args: &[&str], env: &[(&str, String)], stdin: &str) -> Output {
    let mut cmd = socbot_command(&["COLUMNS"]);
    cmd.current_dir(cwd).args(args);
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the socbot binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("socbot ends")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

#[test]
fn console_runs_playbook_and_incident_commands_against_a_local_store() {
    let tmp = TempDir::new("console", "session");
    let store = tmp.0.join("store");
    let env = [
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
        ("SOCBOT__STORE__PATH", store.display().to_string()),
        ("USER", "analyst".to_owned()),
    ];
    let session = "/playbook T1583.006 questions\n\
                   /incident open T1583.006 Test title\n\
                   /incident answer INC-1 1 concerning\n\
                   /incident status INC-1\n";
    let out = socbot(&tmp.0, &["console"], &env, session);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let flat_out = flat(&stdout);

    // The questions, and no other section.
    assert!(stdout.contains("2 playbooks loaded"), "{stdout}");
    assert!(
        stdout.contains("# T1583.006 · Acquire Infrastructure: Web Services"),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://attack.mitre.org/techniques/T1583/006/"),
        "{stdout}"
    );
    assert!(stdout.contains("## Questions for Analysis"), "{stdout}");
    for q in [
        "q1. Are there any known legitimate needs for new web service accounts",
        "q2. Do the access patterns of these accounts deviate",
        "q3. Do the network connections match with expected usage",
    ] {
        assert!(flat_out.contains(q), "{q:?} missing:\n{stdout}");
    }
    for other in [
        "## Key Indicators",
        "## Containment",
        "## T2 Analyst Actions",
    ] {
        assert!(!stdout.contains(other), "{other} shown:\n{stdout}");
    }

    // The incident: opened with its three questions, q1 Concerning escalates by the rule.
    assert!(
        stdout.contains(
            "opened INC-1 · T1583.006 · Acquire Infrastructure: Web Services · Test title (3 questions)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("INC-1 q1 → Concerning (analyst)"),
        "{stdout}"
    );
    assert!(stdout.contains("[INC-1] decision: Escalate"), "{stdout}");
    assert!(
        stdout.contains("because rule q1 or (q2 and q3) is certainly true"),
        "{stdout}"
    );

    // Status: every question with its answer, the decision and the timeline.
    let status = stdout
        .split("INC-1 · T1583.006 · Acquire Infrastructure: Web Services · Test title\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no status block:\n{stdout}"));
    assert!(status.starts_with("status: escalated\n"), "{status}");
    assert!(
        flat(status).contains("→ Concerning by analyst at"),
        "{status}"
    );
    assert_eq!(status.matches("→ unanswered").count(), 2, "{status}");
    assert!(status.contains("decision: Escalate\n"), "{status}");
    assert!(
        status.contains("analyst — answered q1 Concerning"),
        "{status}"
    );
    assert!(
        status.contains("analyst — opened \"Test title\""),
        "{status}"
    );
    assert!(!stdout.contains("error:"), "{stdout}");
    assert!(store.exists(), "the store was created");

    // The store is durable: a second console session sees the incident.
    let out = socbot(&tmp.0, &["console"], &env, "/incident list\n");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("INC-1") && stdout.contains("escalated") && stdout.contains("Test title"),
        "{stdout}"
    );
}

#[test]
fn console_mistakes_are_explained_and_the_session_goes_on() {
    let tmp = TempDir::new("console", "mistakes");
    let env = [
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
        (
            "SOCBOT__STORE__PATH",
            tmp.0.join("store").display().to_string(),
        ),
    ];
    let session = "/playbook T9999.999\n/playbook T1583.006 nosuchsection\n/frobnicate\n/playbook T1583.003 questions\n";
    let out = socbot(&tmp.0, &["console"], &env, session);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("error: There is no playbook for T9999.999."),
        "{stdout}"
    );
    assert!(
        stdout.contains("error: no section nosuchsection; use one of:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("error: unknown command /frobnicate; try /help"),
        "{stdout}"
    );
    // The service's words without Discord's markup: what to type is shown as is.
    assert!(!stdout.contains('`'), "{stdout}");
    assert!(
        stdout.contains("# T1583.003"),
        "later commands still run: {stdout}"
    );
}

#[test]
fn an_override_set_at_the_console_says_so_and_user_0_is_refused() {
    let tmp = TempDir::new("console", "oncall");
    let env = [
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
        (
            "SOCBOT__STORE__PATH",
            tmp.0.join("store").display().to_string(),
        ),
        ("SOCBOT__ONCALL__ROSTER", "111".to_owned()),
        ("USER", "analyst".to_owned()),
    ];
    let session = "/oncall override 222 4 swap\n/oncall\n/oncall override 0\n";
    let out = socbot(&tmp.0, &["console"], &env, session);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("user 222 is on call until") && stdout.contains("(override by analyst)"),
        "{stdout}"
    );
    // The console is no Discord user: not "user 0".
    assert!(
        stdout.contains("on call:   user 222 (override set at the console) until"),
        "{stdout}"
    );
    assert!(stdout.contains("secondary: user 111\n"), "{stdout}");
    assert!(!stdout.contains("user 0"), "{stdout}");
    // 0 names nobody: refused where it is typed, saying what to give.
    assert!(
        stdout.contains("error: give a Discord user id after"),
        "{stdout}"
    );
}

#[test]
fn run_without_a_token_exits_2_and_says_what_to_do() {
    let tmp = TempDir::new("console", "no-token");
    let env = [
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
        (
            "SOCBOT__STORE__PATH",
            tmp.0.join("store").display().to_string(),
        ),
    ];
    let out = socbot(&tmp.0, &["run"], &env, "");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SOCBOT__DISCORD__TOKEN"), "{stderr}");
    assert!(stderr.contains("socbot console"), "{stderr}");
    assert!(
        !tmp.0.join("store").exists(),
        "nothing is created before the token check"
    );
}
