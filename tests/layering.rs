//! The core (playbooks, incidents, on-call, alerts, the ATT&CK catalog) is plain Rust over plain
//! data: it never reaches into the store, the runtime, the network or the adapters. This test reads
//! the sources, so adding such an import fails the build's tests with the file and line.

use std::path::{Path, PathBuf};

/// The core modules, under `src/`.
const CORE: &[&str] = &["playbook", "incident", "oncall", "alert", "attack"];

/// What the core may not name: I/O crates and our own adapters and infrastructure.
const FORBIDDEN_CRATES: &[&str] = &["serenity", "sled", "tokio", "reqwest", "hyper", "axum"];
const FORBIDDEN_MODULES: &[&str] = &[
    "backup",
    "cli",
    "config",
    "console",
    "daemon",
    "discord",
    "effects",
    "http",
    "metrics",
    "service",
    "store",
    "telemetry",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `name::` (or `name;` / `name}` in a use list) as a path segment start, not inside a word.
fn names_path(line: &str, name: &str) -> bool {
    line.match_indices(name).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = &line[at + name.len()..];
        let starts_segment = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        starts_segment && (after.starts_with("::") || after.starts_with(';'))
    })
}

fn violations(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    for krate in FORBIDDEN_CRATES {
        if names_path(code, krate) {
            found.push(format!("the `{krate}` crate"));
        }
    }
    for module in FORBIDDEN_MODULES {
        if names_path(code, &format!("crate::{module}")) {
            found.push(format!("`crate::{module}`"));
        }
    }
    found
}

#[test]
fn the_core_imports_no_runtime_store_network_or_adapter() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for module in CORE {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        let single = src.join(format!("{module}.rs"));
        if single.exists() {
            files.push(single);
        }
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            for (n, line) in text.lines().enumerate() {
                for what in violations(line) {
                    problems.push(format!(
                        "{}:{}: the core names {what}: {}",
                        file.strip_prefix(&src).unwrap_or(&file).display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the core must stay free of I/O and adapters:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_when_there_is_one() {
    assert_eq!(violations("use tokio::sync::Mutex;"), ["the `tokio` crate"]);
    assert_eq!(
        violations("    #[serde(deserialize_with = \"crate::config::id_list\")]"),
        ["`crate::config`"]
    );
    assert!(violations("let sled_like = stored; // sled::Db is elsewhere").is_empty());
    assert!(violations("use crate::playbook::TechniqueId;").is_empty());
}
