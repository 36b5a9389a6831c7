//! Nothing panics on any input: ~20,000 inputs made by mutating the fixtures (pipes, escaped
//! pipes, `<br>`, CR, BOM, list markers, `?`, multi-byte characters, deleted, duplicated and
//! truncated ranges and lines) and random strings, fed to the parser, the cell splitter, the
//! escalation rule, the id parser and the library's lookup and search. A tiny seeded PRNG keeps
//! every run the same; a failure prints the case number and the input.

#[path = "fixtures/cells.rs"]
mod cells;
#[path = "support/rng.rs"]
mod rng;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use rng::Rng;
use socbot::playbook::{Library, Rule, TechniqueId, cell, parser};

/// Pieces that matter to the parser, inserted at random places.
const PIECES: &[&str] = &[
    "|",
    "\\|",
    "\\",
    "<br>",
    "<BR />",
    "<br",
    "\r",
    "\r\n",
    "\n",
    "\u{feff}",
    "1. ",
    "2) ",
    "3.",
    "12)",
    "99. ",
    "?",
    "? ",
    "?'",
    "é",
    "’",
    "—",
    "…",
    "🙂",
    "\u{0301}",
    "['",
    "']",
    "\"",
    "'",
    ", '",
    "- ",
    "• ",
    "* ",
    "# ",
    "| MITRE TTP | T1583.006 |\n",
    "| Questions for Analysis | Is it? |\n",
    "| Escalation Rule | q1 and (q2 or not q3) |\n",
    "|---|---|\n",
    ": ",
    ". Was ",
    "e.g. ",
    "<code>",
    "</code>",
    "T1583.006",
    "t1583006",
    " ",
    "\t",
];

/// A character boundary of `s` at or before `at`.
fn boundary(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A random byte range of `s` on character boundaries, at most `max` bytes long.
fn range(rng: &mut Rng, s: &str, max: usize) -> (usize, usize) {
    let a = boundary(s, rng.below(s.len() + 1));
    let b = boundary(s, a + rng.below(max + 1));
    (a, b.max(a))
}

/// One random edit of `s`.
fn mutate(rng: &mut Rng, s: &mut String) {
    match rng.below(9) {
        0..=2 => {
            let at = boundary(s, rng.below(s.len() + 1));
            s.insert_str(at, rng.pick(PIECES));
        }
        3 => {
            let (a, b) = range(rng, s, 64);
            s.replace_range(a..b, "");
        }
        4 => {
            let (a, b) = range(rng, s, 200);
            let copy = s[a..b].to_owned();
            let at = boundary(s, rng.below(s.len() + 1));
            s.insert_str(at, &copy);
        }
        5 | 6 => {
            let mut lines: Vec<String> = s.split('\n').map(str::to_owned).collect();
            let i = rng.below(lines.len());
            match rng.below(3) {
                0 => {
                    lines.remove(i);
                }
                1 => {
                    let line = lines[i].clone();
                    lines.insert(rng.below(lines.len() + 1), line);
                }
                _ => {
                    let j = rng.below(lines.len());
                    lines.swap(i, j);
                }
            }
            *s = lines.join("\n");
        }
        7 => {
            let at = boundary(s, rng.below(s.len() + 1));
            s.truncate(at);
        }
        _ => {
            // Replace one character with a multi-byte one.
            let (a, b) = range(rng, s, 4);
            s.replace_range(a..b, rng.pick(&["é", "ß", "中", "🙂", "\u{200b}"]));
        }
    }
}

/// A string of random pieces and characters.
fn random_text(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(40) {
        if rng.below(3) == 0 {
            s.push(char::from_u32(rng.below(0x2_0000) as u32).unwrap_or('x'));
        } else {
            s.push_str(rng.pick(PIECES));
        }
    }
    s
}

/// A random escalation rule made of its own tokens, often well formed, sometimes not.
fn random_rule(rng: &mut Rng) -> String {
    const TOKENS: &[&str] = &[
        "q1",
        "q2",
        "q3",
        "Q4",
        "q0",
        "q99999999999999999999",
        "and",
        "or",
        "not",
        "AND",
        "&&",
        "||",
        "!",
        "&",
        "(",
        ")",
        "x",
        "é",
        " ",
    ];
    (0..rng.below(12))
        .map(|_| rng.pick(TOKENS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs every entry point on `input`; returns an error message instead of panicking.
fn exercise(library: &Library, input: &str) -> Result<(), String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(parsed) = parser::parse(input, "fuzz.md") {
            let p = &parsed.playbook;
            assert!(!p.questions.is_empty(), "a playbook without questions");
            let _ = Library::from_playbooks(vec![p.clone()]);
        }
        let c = cell::split(input);
        let _ = (c.lead, c.items);
        let _ = cell::questions(input);
        if let Ok(rule) = Rule::parse(input) {
            let _ = rule.eval(&|n| (n % 3 != 0).then_some(n % 2 == 0));
        }
        let _ = TechniqueId::parse(input);
        let _ = library.lookup(input);
        assert!(library.search(input, 25).len() <= 25);
    }));
    outcome.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

/// `SOCBOT_FUZZ_SCALE=10` runs ten times as many cases (default 1).
fn scale() -> usize {
    std::env::var("SOCBOT_FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Every fixture and seed playbook, good and bad.
fn corpus_of_fixtures() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(std::fs::read_to_string(&path).expect("utf-8"));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("tests/fixtures"), &mut out);
    walk(&root.join("playbooks"), &mut out);
    out
}

fn fixture_library() -> Library {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/playbooks");
    Library::load_dir(&dir).expect("fixtures").0
}

#[test]
fn nothing_panics_on_mutated_fixtures_or_random_text() {
    let seeds = corpus_of_fixtures();
    assert!(seeds.len() >= 20);
    let library = fixture_library();
    let mut rng = Rng(0x50C_B07);
    let mut failures = Vec::new();
    let cases = 20_000 * scale();
    let mut parsed = 0;
    for case in 0..cases {
        let input = match case % 10 {
            0 => random_text(&mut rng),
            1 => random_rule(&mut rng),
            _ => {
                let mut s = seeds[rng.below(seeds.len())].clone();
                for _ in 0..=rng.below(6) {
                    mutate(&mut rng, &mut s);
                }
                s
            }
        };
        parsed += usize::from(parser::parse(&input, "fuzz.md").is_ok());
        if let Err(message) = exercise(&library, &input) {
            failures.push(format!("case {case}: {message}\n  input: {input:?}"));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    println!("fuzz: {cases} inputs, {parsed} parsed as playbooks, the rest refused with errors");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        parsed > cases / 10,
        "mutations too destructive: {parsed} parsed"
    );
}

#[test]
fn mutated_cells_lose_no_word() {
    // Every row of a mutated fixture that still parses keeps every word of its cell.
    let seeds: Vec<String> = corpus_of_fixtures()
        .into_iter()
        .filter(|s| parser::parse(s, "x").is_ok())
        .collect();
    let mut rng = Rng(0xC0FFEE);
    let mut problems = Vec::new();
    for case in 0..3_000 * scale() {
        let mut s = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            let at = boundary(&s, rng.below(s.len() + 1));
            let piece = rng.pick(&[
                "<br>",
                "1. ",
                "2) ",
                "? ",
                "- ",
                "• ",
                "é",
                "’",
                "; 3) ",
                "Consider: ",
                "['",
                "', \"",
                "']",
                "\\",
                "\\|",
                "<br/>",
                "?2. ",
                ". Was ",
                "e.g. ",
                "(see 1) ",
            ]);
            s.insert_str(at, piece);
        }
        let Ok(parsed) = parser::parse(&s, "x") else {
            continue;
        };
        for p in cells::lost_words(&s, &parsed.playbook) {
            problems.push(format!("case {case}: {p}"));
        }
        if problems.len() >= 5 {
            break;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    for depth in [65, 1_000, 100_000] {
        for src in [
            format!("{}q1{}", "(".repeat(depth), ")".repeat(depth)),
            format!("{}q1", "not ".repeat(depth)),
            format!("{}q1", "!".repeat(depth)),
        ] {
            let err = Rule::parse(&src).expect_err("too deep");
            assert!(err.to_string().contains("nested"), "{err}");
        }
    }
    let ok = format!("{}q1{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(Rule::parse(&ok), Ok(Rule::Q(1)));
}

#[test]
fn huge_inputs_are_handled_without_panic() {
    let library = fixture_library();
    let long = "powrshell ".repeat(20_000);
    assert!(library.search(&long, 25).len() <= 25);
    let _ = library.lookup(&long);
    let cell_text = "1. a? 2. b? <br>- c ".repeat(5_000);
    let (_, qs) = cell::questions(&cell_text);
    assert!(!qs.is_empty());
    let row = format!("| Questions for Analysis | {cell_text} |\n");
    let parsed = parser::parse(&row.repeat(20), "big.md");
    assert!(
        parsed.is_err(),
        "a table without an id is reported, not accepted"
    );
}
