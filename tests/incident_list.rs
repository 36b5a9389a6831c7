//! `/incident list` pages: the newest incidents and how many there are in all, read from the
//! open-incident index or newest first, never every incident. Through `socbot console`.

#[path = "support/cli.rs"]
mod cli;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use cli::{TempDir, bundled, socbot_command};

fn console(dir: &Path, session: &str) -> String {
    let mut child = socbot_command(&["COLUMNS"])
        .current_dir(dir)
        .arg("console")
        .env("SOCBOT__PLAYBOOKS__DIR", bundled())
        .env("SOCBOT__STORE__PATH", dir.join("store"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("socbot console");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(session.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    stdout
}

/// The incident numbers a list printed, in order.
fn listed(out: &str) -> Vec<u64> {
    out.lines()
        .filter_map(|l| {
            l.strip_prefix("INC-")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn the_list_shows_the_newest_page_and_counts_the_rest() {
    let tmp = TempDir::new("list", "page");
    let mut session = String::new();
    for i in 1..=55 {
        session.push_str(&format!("/incident open T1583.006 Incident number {i}\n"));
    }
    session.push_str("/incident close INC-3 benign\n/incident close INC-54 benign\n");
    console(&tmp.0, &session);

    let all = console(&tmp.0, "/incident list\n");
    assert_eq!(listed(&all), (6..=55).rev().collect::<Vec<_>>(), "{all}");
    assert!(all.contains("(newest 50 of 55;"), "{all}");

    let closed = console(&tmp.0, "/incident list closed\n");
    assert_eq!(listed(&closed), vec![54, 3], "{closed}");
    assert!(!closed.contains("newest"), "{closed}");

    let open = console(&tmp.0, "/incident list open\n");
    let shown = listed(&open);
    assert_eq!(shown.len(), 50, "{open}");
    assert_eq!(shown[..2], [55, 53], "{open}");
    assert!(open.contains("(newest 50 of 53;"), "{open}");
}
