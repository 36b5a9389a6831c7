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

/// A file's lines, with each module a grouped import names (`use crate::{store::Store,
/// service};`, on one line or over several) written out after it as `crate::store::` and
/// `crate::service::` (comments left out): the line checks then see grouped imports as they
/// see single ones.
fn expand_groups(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Inside a `crate::{` group: how deep, and whether the next word starts an item.
    let mut group: Option<(usize, bool)> = None;
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut expanded = code.to_owned();
        let mut word = String::new();
        let mut rest = code;
        if group.is_none()
            && let Some(at) = code.find("crate::{")
        {
            group = Some((0, true));
            rest = &code[at + "crate::{".len()..];
        }
        for c in rest.chars() {
            let Some((depth, item)) = group.as_mut() else {
                break;
            };
            if *item && *depth == 0 && (c.is_alphanumeric() || c == '_') {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                expanded.push_str(&format!(" crate::{}::", std::mem::take(&mut word)));
                *item = false;
            }
            match c {
                '{' => *depth += 1,
                '}' if *depth == 0 => group = None,
                '}' => *depth -= 1,
                ',' if *depth == 0 => *item = true,
                _ => {}
            }
        }
        if !word.is_empty() {
            expanded.push_str(&format!(" crate::{word}::"));
            if let Some((_, item)) = group.as_mut() {
                *item = false;
            }
        }
        out.push(expanded);
    }
    out
}

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
            for (n, line) in expand_groups(&text).iter().enumerate() {
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

#[test]
fn grouped_imports_are_seen_too() {
    let one_line = expand_groups("use crate::{playbook::Library, store::Store};");
    assert_eq!(violations(&one_line[0]), ["`crate::store`"]);
    assert_eq!(crate_uses(&one_line[0]), ["playbook", "store"]);
    let several = expand_groups(
        "use crate::{\n    id::DiscordId,\n    service::{Reply, UserError},\n    discord, // not clock\n};\nuse crate::clock;",
    );
    let found: Vec<Vec<String>> = several.iter().map(|l| crate_uses(l)).collect();
    assert_eq!(
        found,
        [
            vec![],
            vec!["id".to_owned()],
            vec!["service".to_owned()],
            vec!["discord".to_owned()],
            vec![],
            vec!["clock".to_owned()],
        ]
    );
    assert_eq!(violations(&several[2]), ["`crate::service`"]);
}

/// The top-level module a file under `src/` belongs to (`src/service/alert.rs` → `service`).
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let first = rel.components().next().expect("a file under src");
    let name = first.as_os_str().to_string_lossy();
    name.strip_suffix(".rs").unwrap_or(&name).to_owned()
}

/// The top-level modules `line` names as `crate::name` (comments and doc comments left out:
/// an intra-doc link is no dependency).
fn crate_uses(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| {
            code[..*at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
        .map(|(at, m)| {
            code[at + m.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

type Graph = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// Module → the modules it names, each with the first place it does (`file:line`).
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut graph = Graph::new();
    for file in files {
        let from = top_module(src, &file);
        let text = std::fs::read_to_string(&file).expect("read source");
        let edges = graph.entry(from.clone()).or_default();
        for (n, line) in expand_groups(&text).iter().enumerate() {
            for to in crate_uses(line) {
                if to != from {
                    edges.entry(to).or_insert_with(|| {
                        let rel = file.strip_prefix(src).unwrap_or(&file);
                        format!("{}:{}", rel.display(), n + 1)
                    });
                }
            }
        }
    }
    graph
}

/// A cycle through `graph`, as the modules in order with where each names the next.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
        .map(|cycle| {
            cycle
                .windows(2)
                .map(|w| format!("{} → {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect()
        })
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(graph.contains_key("service") && graph["daemon"].contains_key("service"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "top-level modules of src/ import each other in a cycle; make the dependency point one way:\n{}",
            cycle.join("\n")
        );
    }
}

#[test]
fn the_cycle_check_sees_a_cycle_when_there_is_one() {
    assert_eq!(
        crate_uses("    let x = crate::http::parse(&crate::config::Config::default());"),
        ["http", "config"]
    );
    assert!(crate_uses("/// See [`crate::http`].").is_empty());
    assert!(crate_uses("use mycrate::http;").is_empty());
    let edge = |a: &str, b: &str| (a.to_owned(), [(b.to_owned(), format!("{a}.rs:1"))].into());
    let graph: Graph = [
        edge("a", "b"),
        edge("b", "c"),
        edge("c", "a"),
        edge("d", "a"),
    ]
    .into();
    assert_eq!(
        find_cycle(&graph).unwrap(),
        ["a → b (a.rs:1)", "b → c (b.rs:1)", "c → a (c.rs:1)"]
    );
    let graph: Graph = [edge("a", "b"), edge("b", "c"), edge("d", "a")].into();
    assert_eq!(find_cycle(&graph), None);
}
