//! The real `socbot` binary, run as a SOC analyst or a playbook repo's CI would: `show`,
//! `check`, `list`, `search`, and the `SOCBOT__PLAYBOOKS__DIR` override.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;
use std::process::Output;

use cli::{flat, socbot_command};
use serde_json::Value;
use socbot::playbook::{Library, Lookup};

const FIXTURES: &str = "tests/fixtures/playbooks";

/// Runs `socbot args…` from the crate root with a clean environment (no SOCBOT_* variables
/// from the caller) plus `env`.
fn socbot(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = socbot_command(&["COLUMNS"]);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    cmd.envs(env.iter().copied());
    cmd.output().expect("the socbot binary runs")
}

/// `socbot args…` with the fixtures as the playbook directory.
fn on_fixtures(args: &[&str]) -> Output {
    socbot(args, &[("SOCBOT__PLAYBOOKS__DIR", FIXTURES)])
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

fn library(dir: &str) -> Library {
    Library::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .expect("loads")
        .0
}

#[test]
fn show_prints_every_section_wrapped_for_the_terminal() {
    let out = socbot(&["show", "T1583.006", "--width", "72"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("# T1583.006 · Acquire Infrastructure: Web Services\n"));
    assert!(text.contains("Tactics: Resource Development"));
    assert!(text.contains("Escalation rule: q1 or (q2 and q3)"));
    assert!(text.contains("https://attack.mitre.org/techniques/T1583/006/"));
    for line in text.lines() {
        assert!(
            line.chars().count() <= 72 || !line.contains(' '),
            "{line:?}"
        );
    }
    let Lookup::Found(p) = library("playbooks").lookup("T1583.006") else {
        panic!("seed missing")
    };
    let shown = flat(&text);
    for s in &p.sections {
        assert!(shown.contains(&format!("## {}", s.title)), "{}", s.title);
        for part in s.lead.iter().chain(&s.items) {
            assert!(shown.contains(&flat(part)), "missing: {part}");
        }
    }
    for (i, q) in p.questions.iter().enumerate() {
        assert!(shown.contains(&format!("q{}. {}", i + 1, flat(q))), "{q}");
    }
}

#[test]
fn show_lists_items_of_list_cells_one_by_one() {
    let out = on_fixtures(&["show", "t1110003", "--width", "200"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("\nLook for these patterns:\n1. One source failing against many accounts")
    );
    assert!(
        text.contains(
            "\nq4. Are there failures from the same source against other applications?\n"
        )
    );
}

#[test]
fn show_one_section() {
    let out = socbot(&["show", "1583.003", "--section", "questions"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("## Questions for Analysis"));
    assert!(text.contains("q3. Was there a sudden spike"));
    assert!(!text.contains("## Key Indicators"));
    assert!(!text.contains("## Containment"));
    let bad = socbot(&["show", "T1583.003", "--section", "nonsense"], &[]);
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("use one of: log-sources, indicators, questions"));
}

#[test]
fn show_json_has_the_documented_shape() {
    let out = socbot(&["show", "T1583.006", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "escalation_rule",
            "id",
            "name",
            "questions",
            "sections",
            "source",
            "tactics"
        ]
    );
    assert_eq!(v["id"], "T1583.006");
    assert_eq!(v["name"], "Acquire Infrastructure: Web Services");
    assert_eq!(v["tactics"], serde_json::json!(["Resource Development"]));
    assert_eq!(v["escalation_rule"], "q1 or (q2 and q3)");
    assert_eq!(v["questions"].as_array().expect("array").len(), 3);
    assert!(
        v["source"]
            .as_str()
            .expect("string")
            .ends_with("T1583.006-acquire-infrastructure-web-services.md")
    );
    let sections = v["sections"].as_array().expect("array");
    assert_eq!(sections.len(), 7);
    for s in sections {
        let mut keys: Vec<&str> = s
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["items", "lead", "title"]);
        assert!(s["items"].is_array());
        assert!(s["lead"].is_string() || s["lead"].is_null());
    }
    assert_eq!(sections[2]["title"], "Questions for Analysis");
    assert_eq!(sections[2]["items"], v["questions"]);

    let one = socbot(
        &["show", "T1583.006", "--json", "--section", "containment"],
        &[],
    );
    let v: Value = serde_json::from_str(&stdout(&one)).expect("JSON");
    assert_eq!(v["sections"].as_array().expect("array").len(), 1);
    assert_eq!(
        v["sections"][0]["title"],
        "Containment and Further Analysis"
    );

    let none = on_fixtures(&["show", "T1059.001", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&none)).expect("JSON");
    assert!(v["escalation_rule"].is_null());
    assert_eq!(v["sections"][2]["lead"], "Consider the following:");
}

#[test]
fn show_unknown_technique_fails_with_suggestions() {
    let out = on_fixtures(&["show", "T1998"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(err.contains("no playbook for `T1998`"), "{err}");
    assert!(
        err.contains("closest:\n  T1999 · Fixture Parent Technique"),
        "{err}"
    );

    let typo = on_fixtures(&["show", "powrshell"]);
    assert_eq!(code(&typo), 1);
    let err = stderr(&typo);
    assert!(
        err.contains("not a technique id or name: `powrshell`"),
        "{err}"
    );
    assert!(
        err.contains("T1059.001 · Command and Scripting Interpreter: PowerShell"),
        "{err}"
    );
}

#[test]
fn show_sub_technique_falls_back_to_the_parent_and_says_so() {
    let out = on_fixtures(&["show", "T1999.001"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no playbook for T1999.001; showing its parent technique T1999"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).starts_with("# T1999 · Fixture Parent Technique"));
}

#[test]
fn check_good_fixtures_exits_0_with_a_summary() {
    let out = socbot(&["check", FIXTURES], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    // The one warning: the made-up fixture technique is not in ATT&CK (checked against the catalog).
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains(
            "T1999-fixture-parent.md:6: warning: ATT&CK Enterprise v18.1 has no technique T1999"
        ),
        "{text}"
    );
    assert!(
        text.contains("10 playbooks loaded from 10 files, 0 error(s), 1 warning(s)"),
        "{text}"
    );
    // The default directory is `playbooks.dir`.
    let seeds = socbot(&["check"], &[]);
    assert_eq!(code(&seeds), 0, "{}", stdout(&seeds));
    assert!(stdout(&seeds).contains("2 playbooks loaded"));
}

#[test]
fn check_bad_fixtures_exits_1_with_one_line_per_problem() {
    let out = socbot(&["check", "tests/fixtures/bad"], &[]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let (summary, problems) = lines.split_last().expect("a summary");
    assert!(
        summary.contains("1 playbooks loaded from 13 files"),
        "{summary}"
    );
    assert!(summary.contains("13 error(s)"), "{summary}");
    let errors: Vec<&&str> = problems
        .iter()
        .filter(|l| l.contains(": error: "))
        .collect();
    assert_eq!(errors.len(), 13, "{text}");
    for line in problems {
        let (location, rest) = line.split_once(": ").expect("path:line: …");
        let (path, number) = location.rsplit_once(':').expect("path:line");
        assert!(
            path.starts_with("tests/fixtures/bad/") && path.ends_with(".md"),
            "{line}"
        );
        assert!(number.parse::<usize>().is_ok_and(|n| n >= 1), "{line}");
        assert!(
            rest.starts_with("error: ") || rest.starts_with("warning: "),
            "{line}"
        );
    }
    assert!(text.contains(
        "tests/fixtures/bad/duplicate-row.md:16: error: row `Key Indicators` is given twice"
    ));
    assert!(
        text.contains("tests/fixtures/bad/heading-mismatch.md:1: error: the heading says T1106")
    );
}

#[test]
fn check_a_missing_directory_says_so() {
    let out = socbot(&["check", "tests/fixtures/no-such-dir"], &[]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("cannot read playbook directory tests/fixtures/no-such-dir"));
}

#[test]
fn list_by_tactic_and_as_json() {
    let out = on_fixtures(&["list", "--tactic", "credential access"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let ids: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().expect("id"))
        .collect();
    assert_eq!(ids, ["T1003.001", "T1110.003"], "{text}");

    let all = on_fixtures(&["list", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&all)).expect("JSON");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0]["id"], "T1003.001");
    assert!(
        rows.iter()
            .all(|r| r["name"].is_string() && r["tactics"].is_array())
    );

    let none = on_fixtures(&["list", "--tactic", "exfiltration"]);
    assert_eq!(code(&none), 1);
    assert!(stderr(&none).contains("tactics present: "));
}

#[test]
fn search_finds_by_words_prefix_and_typo() {
    let out = on_fixtures(&["search", "cred", "dump"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("T1003.001"), "{}", stdout(&out));
    let out = on_fixtures(&["search", "T10"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // The six playbooks first, then (as autocomplete) ATT&CK techniques without one.
    assert!(
        lines[..6].iter().all(|l| !l.ends_with("(no playbook)")),
        "{text}"
    );
    assert!(
        lines[6..].iter().all(|l| l.ends_with("(no playbook)")),
        "{text}"
    );
    assert!(
        text.contains("T1001      Data Obfuscation  [Command and Control]  (no playbook)"),
        "{text}"
    );
    assert_eq!(lines.len(), 25, "{text}");
    let out = on_fixtures(&["search", "powrshell"]);
    assert!(stdout(&out).starts_with("T1059.001"));
    let none = on_fixtures(&["search", "zzzz"]);
    assert_eq!(code(&none), 1);
}

#[test]
fn the_playbook_dir_comes_from_the_environment() {
    // Not a seed: only found through the override.
    let without = socbot(&["show", "T1486"], &[]);
    assert_eq!(code(&without), 1);
    let abs = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    let with = socbot(
        &["show", "T1486", "--section", "questions"],
        &[("SOCBOT__PLAYBOOKS__DIR", abs.to_str().expect("utf-8 path"))],
    );
    assert_eq!(code(&with), 0, "{}", stderr(&with));
    assert!(stdout(&with).contains("q5. Is a ransom note present in the affected folders?"));
    // And the issue's own example.
    let seed = socbot(
        &["show", "T1583.006"],
        &[("SOCBOT__PLAYBOOKS__DIR", "playbooks")],
    );
    assert_eq!(code(&seed), 0);
}

/// A huge file is one error naming it, never read whole; a folder that cannot be read is a
/// warning naming it; the other playbooks load. (The folder is made unreadable by a path longer
/// than the system allows, which holds for root too.)
#[test]
fn check_reports_an_oversized_file_and_an_unreadable_folder_and_loads_the_rest() {
    let root = std::env::temp_dir().join(format!("socbot-cli-limits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("deep")).unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    for entry in std::fs::read_dir(&bundled).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), root.join(entry.file_name())).unwrap();
    }
    // 8 MiB of table rows: over the 1 MiB default.
    let row = "| Key Indicators | a row that repeats |\n";
    let huge = format!("# Huge - T1583006\n\n{}", row.repeat(8 << 20 >> 5));
    std::fs::write(root.join("huge.md"), huge).unwrap();
    // Built bottom-up by renames, so no call is given the long path itself.
    let name = "d".repeat(200);
    let (chain, step) = (root.join("chain"), root.join("step"));
    std::fs::create_dir(&chain).unwrap();
    for _ in 0..24 {
        std::fs::create_dir(&step).unwrap();
        std::fs::rename(&chain, step.join(&name)).unwrap();
        std::fs::rename(&step, &chain).unwrap();
    }
    std::fs::rename(&chain, root.join("deep").join(&name)).unwrap();
    let out = socbot(&["check", root.to_str().unwrap()], &[]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    let huge_lines: Vec<&str> = text.lines().filter(|l| l.contains("huge.md")).collect();
    assert_eq!(
        huge_lines.len(),
        1,
        "one line for the huge file: {text:.2000}"
    );
    assert!(
        huge_lines[0].contains("error: larger than playbooks.max_file_bytes (1048576 bytes)"),
        "{}",
        huge_lines[0]
    );
    let folder = text
        .lines()
        .find(|l| l.contains("warning: cannot read this folder"))
        .unwrap_or_else(|| panic!("a warning for the folder: {text:.2000}"));
    assert!(
        folder.contains("/deep/dddd"),
        "names the folder: {folder:.300}"
    );
    assert!(
        text.contains("2 playbooks loaded"),
        "the rest load: {text:.2000}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_reader_that_stops_early_is_no_panic() {
    // `socbot list | head -1`: the reader is gone before socbot writes.
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["search", "web"],
        &["show", "T1583.006"],
        &["show", "T1583.006", "--json"],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = socbot_command(&["COLUMNS"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .stdout(writer)
            .output()
            .expect("socbot runs");
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
