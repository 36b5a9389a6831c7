//! Playbook library benchmark (std only; `cargo bench --bench playbooks`).
//!
//! Loads the real corpus from `../shared/corpus/attack-playbooks` when it is there (else the
//! project's fixtures), then times: loading the whole directory, parsing each file on its own,
//! 1,000 autocomplete queries typed the way analysts type them, and 10,000 lookups. Prints the
//! mean, median and 99th percentile of each operation.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use socbot::playbook::{Library, parser};

const CORPUS: &str = "../shared/corpus/attack-playbooks";
const FIXTURES: &str = "tests/fixtures/playbooks";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join(CORPUS);
    let (dir, what) = if corpus.is_dir() {
        (corpus, CORPUS)
    } else {
        println!("corpus not found at {CORPUS}; benchmarking the fixtures instead");
        (root.join(FIXTURES), FIXTURES)
    };
    let files = read_files(&dir);
    let (library, report) = Library::load_dir(&dir).expect("the playbook directory loads");
    println!(
        "socbot playbooks benchmark: {what}: {} playbooks from {} files, {} error(s)\n",
        library.len(),
        report.files,
        report.errors()
    );
    println!(
        "{:<28} {:>7} {:>11} {:>11} {:>11}",
        "operation", "n", "mean", "p50", "p99"
    );
    bench_load(&dir);
    bench_parse(&files);
    bench_search(&library);
    bench_lookup(&library);
}

/// Every markdown file below `dir`: (path, text).
fn read_files(dir: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("utf-8");
            (p.display().to_string(), text)
        })
        .collect()
}

/// Prints one line of statistics for `samples`.
fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    let at = |q: f64| samples[((n as f64 * q) as usize).min(n - 1)];
    println!(
        "{name:<28} {n:>7} {:>11} {:>11} {:>11}",
        show(mean),
        show(at(0.50)),
        show(at(0.99))
    );
}

/// `812 ns`, `3.4 µs`, `182.0 ms`.
fn show(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

/// Times `f` once.
fn time(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Reading and parsing the whole directory and building the index, as at start-up or reload.
fn bench_load(dir: &Path) {
    let samples = (0..20)
        .map(|_| {
            time(|| {
                black_box(Library::load_dir(dir).expect("loads"));
            })
        })
        .collect();
    report("load whole directory", samples);
}

/// Parsing alone (no I/O), per file, every file 10 times.
fn bench_parse(files: &[(String, String)]) {
    let mut samples = Vec::with_capacity(files.len() * 10);
    for _ in 0..10 {
        for (path, text) in files {
            samples.push(time(|| {
                let _ = black_box(parser::parse(black_box(text), path));
            }));
        }
    }
    report("parse one file", samples);
}

/// What analysts type into the `/playbook` technique box, keystroke by keystroke.
fn typed_queries() -> Vec<String> {
    let targets = [
        "T1583.006",
        "t1583.0",
        "T1059.001",
        "1003.001",
        "T1566",
        "web serv",
        "cred dump",
        "powershell",
        "sched task",
        "remote desktop",
        "lateral movement",
        "persistence",
        "defense evasion",
        "exfiltration over",
        "brute force",
        "kerberoast",
        "phishing link",
        "powrshell",
        "credental dumping",
        "lsas memory",
        "rundll",
        "valid accounts cloud",
        "dns",
        "ransomware",
        "data encrypted",
    ];
    let mut out = Vec::new();
    while out.len() < 1_000 {
        for t in targets {
            // Every prefix, as autocomplete sees it while the analyst types.
            for end in t.char_indices().map(|(i, c)| i + c.len_utf8()) {
                out.push(t[..end].to_owned());
            }
        }
    }
    out.truncate(1_000);
    out
}

/// 1,000 autocomplete queries, best 25 each.
fn bench_search(library: &Library) {
    let queries = typed_queries();
    for q in &queries {
        black_box(library.search(q, 25));
    }
    let mut samples = Vec::with_capacity(queries.len() * 5);
    let mut total = Duration::ZERO;
    for _ in 0..5 {
        let round = time(|| {
            for q in &queries {
                samples.push(time(|| {
                    black_box(library.search(black_box(q), 25));
                }));
            }
        });
        total += round;
    }
    let slowest = (0..queries.len())
        .max_by_key(|&i| samples[i])
        .expect("queries");
    let slowest = (queries[slowest].clone(), samples[slowest]);
    report("autocomplete query (best 25)", samples);
    println!("  slowest: {:?} {}", slowest.0, show(slowest.1));
    println!(
        "{:<28} {:>7} {:>11}",
        "  1,000 queries, total",
        "",
        show(total / 5)
    );
}

/// 10,000 lookups of every id form, misses and fallbacks included.
fn bench_lookup(library: &Library) {
    let mut forms = Vec::new();
    for p in library.iter() {
        let id = p.id.to_string();
        forms.push(id.clone());
        forms.push(id.to_lowercase());
        forms.push(id.replace('.', ""));
        forms.push(format!(" {} ", &id[1..]));
        if !p.id.is_sub() {
            forms.push(format!("{id}.999")); // parent fallback
        }
    }
    forms.push("T9999".to_owned()); // unknown: suggestions
    forms.push("powrshell".to_owned()); // not an id: search
    let samples = (0..10_000)
        .map(|i| {
            let form = &forms[i * 7919 % forms.len()];
            time(|| {
                black_box(library.lookup(black_box(form)));
            })
        })
        .collect();
    report("lookup", samples);
}
