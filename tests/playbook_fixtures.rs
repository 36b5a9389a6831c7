//! The parser and library against the project's own fixtures: one playbook per cell style in
//! `tests/fixtures/playbooks/`, one file per error class in `tests/fixtures/bad/`. Each test
//! checks what a user would notice: the exact questions, lead-ins and items, and messages that
//! say where the problem is and how to fix it.

#[path = "fixtures/cells.rs"]
mod cells;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use socbot::playbook::{Diagnostic, Library, LoadReport, Lookup, Playbook, SectionKind, parser};

const GOOD: &str = "tests/fixtures/playbooks";
const BAD: &str = "tests/fixtures/bad";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every markdown file below `dir` (relative to the crate), sorted.
fn markdown_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("fixture dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), &mut out);
    out.sort();
    out
}

fn load(dir: &str) -> (Library, LoadReport) {
    Library::load_dir(&root().join(dir)).expect("fixture dir loads")
}

fn good() -> Library {
    load(GOOD).0
}

/// The fixture playbook for `id`, which must exist.
fn playbook(id: &str) -> Arc<Playbook> {
    match good().lookup(id) {
        Lookup::Found(p) => p,
        other => panic!("{id}: {other:?}"),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Lead and items of one section.
fn section(p: &Playbook, kind: SectionKind) -> (Option<String>, Vec<String>) {
    let s = p
        .section(kind)
        .unwrap_or_else(|| panic!("{}: no {kind:?}", p.id));
    (s.lead.clone(), s.items.clone())
}

// ---- the whole fixture set ----

#[test]
fn good_fixtures_load_with_no_problem_at_all() {
    let (library, report) = load(GOOD);
    let problems: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(library.len(), 10);
    assert_eq!(report.files, 10);
    assert!(report.skipped.is_empty());
}

#[test]
fn no_word_of_any_cell_is_lost() {
    let mut files = markdown_files(GOOD);
    files.extend(markdown_files("playbooks"));
    assert!(files.len() >= 12);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let parsed = parser::parse(&text, &file.display().to_string())
            .unwrap_or_else(|d| panic!("{}: {d:#?}", file.display()));
        let rows = cells::raw_rows(&text);
        assert!(rows.len() >= 11, "{}: {} rows", file.display(), rows.len());
        let lost = cells::lost_words(&text, &parsed.playbook);
        assert!(lost.is_empty(), "{}:\n{}", file.display(), lost.join("\n"));
    }
}

#[test]
fn the_word_check_itself_notices_a_lost_word() {
    // Guard against a check that always passes: drop one item and it must complain.
    let file = root()
        .join(GOOD)
        .join("lateral-movement/T1021.001-rdp-paren.md");
    let text = std::fs::read_to_string(&file).expect("readable");
    let mut p = parser::parse(&text, "x").expect("parses").playbook;
    p.sections[0].items.pop();
    let lost = cells::lost_words(&text, &p);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].contains("Log Sources to Investigate"));
    assert_eq!(cells::words("1. Is it <br>2) odd? - yes"), "Isitoddyes");
    assert_eq!(cells::words("include:1. a; 2) b"), "includeab");
}

#[test]
fn sections_come_in_the_format_order_then_unknown_rows() {
    for p in good().iter() {
        let known: Vec<SectionKind> = p
            .sections
            .iter()
            .map(|s| s.kind)
            .filter(|k| *k != SectionKind::Extra)
            .collect();
        assert_eq!(known, SectionKind::KNOWN, "{}", p.id);
        let q = p.section(SectionKind::Questions).expect("questions");
        assert_eq!(q.items, p.questions, "{}", p.id);
        assert!(
            (3..=7).contains(&p.questions.len()),
            "{}: {:?}",
            p.id,
            p.questions
        );
        for question in &p.questions {
            assert!(question.ends_with('?'), "{}: {question:?}", p.id);
        }
    }
}

// ---- one test per cell style ----

#[test]
fn prose_cells_stay_paragraphs_and_prose_questions_are_split() {
    let p = playbook("T1059.001");
    assert_eq!(p.name, "Command and Scripting Interpreter: PowerShell");
    assert_eq!(p.tactics, strings(&["Execution"]));
    let (lead, items) = section(&p, SectionKind::KeyIndicators);
    assert!(items.is_empty());
    let lead = lead.expect("prose");
    assert!(lead.starts_with("A hidden window combined with an encoded command"));
    assert!(lead.contains(r"Scripts written to C:\Users\Public\ or %TEMP%"));
    assert!(lead.ends_with("the classic “download and run” pattern."));
    let (lead, questions) = section(&p, SectionKind::Questions);
    assert_eq!(lead.as_deref(), Some("Consider the following:"));
    assert_eq!(
        questions,
        strings(&[
            "Was the script launched by a user who normally runs PowerShell, e.g. an administrator or a developer?",
            "Does the decoded command reach out to the internet (proxy or DNS evidence)?",
            "Did the script write anything to disk, and is that file signed?",
            "Is the parent process one that has a legitimate reason to start PowerShell?",
        ])
    );
    assert_eq!(p.escalation_rule, None);
}

#[test]
fn numbered_br_lists_with_lead_ins_and_glued_items() {
    let p = playbook("t1110.003");
    let (lead, items) = section(&p, SectionKind::LogSources);
    assert_eq!(lead, None);
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[0],
        "Domain controller security logs (event 4625 and 4771)."
    );
    let (lead, items) = section(&p, SectionKind::KeyIndicators);
    assert_eq!(lead.as_deref(), Some("Look for these patterns:"));
    assert_eq!(items.len(), 3);
    let (lead, questions) = section(&p, SectionKind::Questions);
    assert_eq!(lead.as_deref(), Some("Answer each of these in the ticket:"));
    assert_eq!(
        questions,
        strings(&[
            "Did any targeted account log on successfully from the spraying source?",
            "Is the source address a known scanner, VPN exit or cloud provider?",
            "Were service accounts or accounts without MFA among the targets?",
            "Are there failures from the same source against other applications?",
        ])
    );
    // `logon type 3. Then` inside item 2 is not item 3: the `3.` that opens a line is.
    let (_, steps) = section(&p, SectionKind::L1Steps);
    assert_eq!(
        steps,
        strings(&[
            "List every account the source tried and mark the ones that exist.",
            "Check the successful logons after the first failure, and note any of logon type 3. Then compare them with the VPN log.",
            "Look up the source address in the threat intelligence platform.",
        ])
    );
    assert_eq!(p.escalation_rule.as_deref(), Some("q1 or q3 and q4"));
}

#[test]
fn paren_numbered_and_inline_semicolon_lists() {
    let p = playbook("T1021001");
    let (lead, items) = section(&p, SectionKind::LogSources);
    assert_eq!(lead.as_deref(), Some("Collect logs related to:"));
    assert_eq!(
        items,
        strings(&[
            "Windows logon events (type 10) on the destination",
            "RDP connection events from TerminalServices-RemoteConnectionManager",
            "firewall flows on port 3389 between workstations.",
        ])
    );
    let (lead, items) = section(&p, SectionKind::KeyIndicators);
    assert_eq!(lead, None);
    assert_eq!(items[2], "Sessions opened outside the user's working hours");
    let (lead, questions) = section(&p, SectionKind::Questions);
    assert_eq!(lead.as_deref(), Some("Check with the asset owner:"));
    assert_eq!(
        questions,
        strings(&[
            "Was the session scheduled or requested in a ticket?",
            "Is the source a jump host or an admin workstation?",
            "Did the account log on interactively to the destination before this week?",
        ])
    );
    let (lead, items) = section(&p, SectionKind::EscalationDecision);
    assert_eq!(lead.as_deref(), Some("Escalate if:"));
    assert_eq!(items[0], "the source is not an approved jump host");
    assert_eq!(
        items[2],
        "the session was followed by new services or scheduled tasks."
    );
    assert_eq!(
        p.rule.as_ref().map(ToString::to_string).as_deref(),
        Some("not q2 and (q3 or not q1)")
    );
}

#[test]
fn dash_and_inline_dot_bullets() {
    let p = playbook("1566.002");
    let (lead, items) = section(&p, SectionKind::LogSources);
    assert_eq!(
        lead.as_deref(),
        Some("Start with the mail flow, then follow the click:")
    );
    assert_eq!(
        items,
        strings(&[
            "Mail gateway message trace and URL rewrite logs",
            "Proxy logs for the clicked URL\nand any redirects that followed",
            "Identity provider sign-ins after the click",
        ])
    );
    let (lead, items) = section(&p, SectionKind::KeyIndicators);
    assert_eq!(lead, None);
    assert_eq!(
        items,
        strings(&[
            "Lookalike sender domains registered in the last 30 days",
            "Links to file-sharing or form-builder sites",
            "A credential form hosted outside the corporate domain",
        ])
    );
    let (lead, questions) = section(&p, SectionKind::Questions);
    assert_eq!(lead.as_deref(), Some("Consider the following:"));
    assert_eq!(questions.len(), 3);
    assert_eq!(
        questions[0],
        "Did the recipient click the link, according to the proxy or the URL rewrite log?"
    );
}

#[test]
fn python_list_cells_with_mixed_quotes_and_backslashes() {
    let p = playbook(" T1003.001 ");
    let (lead, items) = section(&p, SectionKind::KeyIndicators);
    assert_eq!(lead, None);
    assert_eq!(
        items,
        strings(&[
            r"A handle to C:\Windows\System32\lsass.exe from a process that isn't a security tool",
            r#"rundll32.exe loading comsvcs.dll with the "MiniDump" export"#,
            r"New .dmp files in C:\Windows\Temp or a user's Downloads folder",
        ])
    );
    assert_eq!(p.questions.len(), 4);
    assert_eq!(
        p.questions[1],
        "Was a dump file written, and has it been copied off the host?"
    );
    let (_, items) = section(&p, SectionKind::EscalationDecision);
    assert_eq!(items.len(), 2);
}

#[test]
fn inline_html_code_and_non_ascii_punctuation_are_kept_as_written() {
    let p = playbook("T1053.005");
    assert_eq!(p.name, "Scheduled Task/Job: Scheduled Task");
    assert_eq!(
        p.tactics,
        strings(&["Execution", "Persistence", "Privilege Escalation"])
    );
    let (_, items) = section(&p, SectionKind::LogSources);
    assert_eq!(
        items[2],
        r"The registry under <code>HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tree</code>."
    );
    let (_, items) = section(&p, SectionKind::KeyIndicators);
    assert_eq!(
        items[1],
        "Tasks whose action runs <b>powershell.exe</b>, <i>mshta.exe</i> or a script in <code>%APPDATA%</code>."
    );
    assert!(items[2].contains("— e.g. “GoogleUpdateTaskMachineCore2”"));
    assert_eq!(
        p.questions,
        strings(&[
            "Was the task created by a deployment tool such as SCCM or Intune?",
            r"Does the action point to a file in a user-writable path like <code>C:\Users\&lt;username&gt;\AppData\</code>?",
            "Is the binary in the action signed by a trusted publisher?",
            "Was the task created remotely (event 4698 with a network logon)?",
        ])
    );
    let (lead, _) = section(&p, SectionKind::T2Actions);
    assert!(lead.expect("prose").contains("across the estate → a wide"));
}

#[test]
fn editor_noise_crlf_bom_escaped_pipes_trailing_spaces_blank_lines() {
    let p = playbook("T1078.004");
    assert_eq!(p.name, "Valid Accounts: Cloud Accounts");
    assert_eq!(p.tactics.len(), 4);
    let (lead, _) = section(&p, SectionKind::LogSources);
    assert!(
        lead.expect("prose")
            .contains("`SigninLogs | where ResultType == 0 | summarize count() by IPAddress`"),
        "escaped pipes are unescaped"
    );
    // A `:` inside the first question is not a lead-in.
    assert_eq!(section(&p, SectionKind::Questions).0, None);
    assert_eq!(
        p.questions[0],
        "Did the sign-in come from a location the user has never used before (check: Entra ID sign-in history)?"
    );
    for s in &p.sections {
        for text in s.lead.iter().chain(&s.items) {
            assert!(
                !text.contains('\r') && !text.contains('\u{feff}'),
                "{text:?}"
            );
        }
    }
    // The same file without the noise parses to the same playbook, on the same lines.
    let file = root()
        .join(GOOD)
        .join("cloud/T1078.004-cloud-accounts-editor.md");
    let noisy = std::fs::read_to_string(&file).expect("readable");
    assert!(noisy.starts_with('\u{feff}') && noisy.contains("\r\n") && noisy.contains("\\|"));
    let clean: String = noisy
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    let clean = parser::parse(&clean, &p.source).expect("clean copy parses");
    assert_eq!(clean.playbook, *p);
    let q_line = noisy
        .split('\n')
        .position(|l| l.starts_with("| Questions for Analysis"))
        .expect("row")
        + 1;
    assert_eq!(p.section(SectionKind::Questions).expect("q").line, q_line);
}

#[test]
fn unknown_rows_are_kept_as_extra_sections_in_order() {
    let p = playbook("T1071.004");
    let extra: Vec<(&str, Option<&str>, usize)> = p
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Extra)
        .map(|s| (s.title.as_str(), s.lead.as_deref(), s.items.len()))
        .collect();
    assert_eq!(
        extra,
        vec![
            ("Detection Queries", None, 2),
            ("Owner", Some("Detection engineering, #soc-detections"), 0),
        ]
    );
    let (lead, questions) = section(&p, SectionKind::Questions);
    assert_eq!(
        lead.as_deref(),
        Some("Answer from the resolver logs first.")
    );
    assert_eq!(questions.len(), 3);
    // A list glued on one line, no `<br>`.
    let (lead, steps) = section(&p, SectionKind::L1Steps);
    assert_eq!(lead, None);
    assert_eq!(
        steps,
        strings(&[
            "Identify the process that makes the queries using EDR network events.",
            "Check the domain's registration date and registrar.",
            "Look for the same parent domain on other hosts.",
        ])
    );
}

#[test]
fn long_cells_are_kept_whole_for_the_renderers() {
    let p = playbook("T1486");
    let text = |s: &socbot::playbook::Section| {
        let mut t = s.lead.clone().unwrap_or_default();
        for item in &s.items {
            t.push('\n');
            t.push_str(item);
        }
        t
    };
    let lengths: Vec<usize> = p.sections.iter().map(|s| text(s).chars().count()).collect();
    assert!(lengths.iter().any(|&n| n > 1024), "{lengths:?}");
    assert!(
        lengths.iter().filter(|&&n| n > 1000).count() >= 3,
        "{lengths:?}"
    );
    assert!(lengths.iter().sum::<usize>() > 6000, "{lengths:?}");
    let (_, steps) = section(&p, SectionKind::L1Steps);
    assert_eq!(steps.len(), 7);
    assert_eq!(p.questions.len(), 5);
    assert_eq!(
        p.escalation_rule.as_deref(),
        Some("q2 or q3 or q5 or not q1")
    );
}

#[test]
fn the_seed_playbooks_carry_their_escalation_rules() {
    let (library, report) = load("playbooks");
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    for (id, rule) in [
        ("T1583.003", "q1 and q2 or q3"),
        ("T1583.006", "q1 or (q2 and q3)"),
    ] {
        let Lookup::Found(p) = library.lookup(id) else {
            panic!("{id}")
        };
        assert_eq!(p.escalation_rule.as_deref(), Some(rule));
        assert_eq!(p.questions.len(), 3, "{:?}", p.questions);
        assert!(p.rule.is_some());
    }
}

// ---- lookup and search ----

#[test]
fn lookup_by_every_form_people_type() {
    let library = good();
    for form in [
        "T1110.003",
        "t1110.003",
        "T1110003",
        "1110.003",
        "1110003",
        "  T1110.003  ",
    ] {
        match library.lookup(form) {
            Lookup::Found(p) => assert_eq!(p.id.to_string(), "T1110.003", "{form:?}"),
            other => panic!("{form:?}: {other:?}"),
        }
    }
}

#[test]
fn a_sub_technique_without_a_playbook_falls_back_to_its_parent() {
    match good().lookup("t1999.001") {
        Lookup::Parent { asked, playbook } => {
            assert_eq!(asked.to_string(), "T1999.001");
            assert_eq!(playbook.id.to_string(), "T1999");
            assert_eq!(playbook.name, "Fixture Parent Technique");
        }
        other => panic!("{other:?}"),
    }
    // A parent without a playbook of its own does not fall to a sibling.
    assert!(matches!(
        good().lookup("T1110"),
        Lookup::NotFound { valid_id: true, .. }
    ));
}

#[test]
fn unknown_ids_and_typos_get_the_closest_suggestions() {
    let library = good();
    let Lookup::NotFound {
        valid_id,
        suggestions,
        ..
    } = library.lookup("T1998")
    else {
        panic!("T1998 has no playbook")
    };
    assert!(valid_id);
    assert_eq!(suggestions[0].id.to_string(), "T1999");
    let Lookup::NotFound {
        valid_id,
        suggestions,
        asked,
    } = library.lookup("powrshell")
    else {
        panic!("not an id")
    };
    assert!(!valid_id);
    assert_eq!(asked, "powrshell");
    assert_eq!(suggestions[0].id.to_string(), "T1059.001");
}

fn search_ids(library: &Library, q: &str) -> Vec<String> {
    library
        .search(q, 25)
        .into_iter()
        .map(|p| p.id.to_string())
        .collect()
}

#[test]
fn search_ranks_exact_id_then_prefix_then_name_words_then_fuzzy() {
    let library = good();
    assert_eq!(search_ids(&library, "T1021.001")[0], "T1021.001");
    assert_eq!(search_ids(&library, "t1021001")[0], "T1021.001");
    let t10 = search_ids(&library, "T10");
    assert_eq!(
        t10,
        [
            "T1003.001",
            "T1021.001",
            "T1053.005",
            "T1059.001",
            "T1071.004",
            "T1078.004"
        ]
    );
    assert_eq!(search_ids(&library, "cred dump"), ["T1003.001"]);
    assert_eq!(search_ids(&library, "Sched Task")[0], "T1053.005");
    assert_eq!(search_ids(&library, "powrshell"), ["T1059.001"]);
    assert_eq!(search_ids(&library, "lateral movement"), ["T1021.001"]);
    let escalation = search_ids(&library, "privilege escalation");
    assert_eq!(escalation, ["T1053.005", "T1078.004"]);
    assert!(search_ids(&library, "zzzz qqqq").is_empty());
    assert_eq!(search_ids(&library, "").len(), 10);
    assert_eq!(library.search("", 3).len(), 3);
}

// ---- problems ----

/// Loads one bad fixture on its own and returns its diagnostics.
fn problems_of(file: &str) -> Vec<Diagnostic> {
    let path = root().join(BAD).join(file);
    let text = std::fs::read_to_string(&path).expect("readable");
    let shown = format!("{BAD}/{file}");
    match parser::parse(&text, &shown) {
        Ok(p) => panic!("{file} should not parse: {:?}", p.warnings),
        Err(diags) => diags,
    }
}

#[test]
fn every_bad_fixture_says_where_what_and_how_to_fix() {
    // file, line, what is wrong, the hint that says how to fix it
    let cases = [
        (
            "no-table.md",
            1,
            "no playbook table found",
            "expected `| Column Name | Value |`",
        ),
        (
            "missing-ttp.md",
            5,
            "missing required row `MITRE TTP`",
            "| MITRE TTP | T1583.006 |",
        ),
        (
            "missing-name.md",
            3,
            "missing required row `Name`",
            "add it, e.g. `| Name |",
        ),
        (
            "missing-questions.md",
            5,
            "missing row `Questions for Analysis`",
            "add `| Questions for Analysis |",
        ),
        ("empty-questions.md", 11, "is empty", "each ending in `?`"),
        (
            "too-many-questions.md",
            11,
            "12 analysis questions; an incident asks at most 10",
            "move the others to `Additional Analysis Steps for L1`",
        ),
        (
            "bad-id.md",
            6,
            "`T11050` is not an ATT&CK technique id",
            "`T` + 4 digits",
        ),
        (
            "heading-mismatch.md",
            1,
            "the heading says T1106 but the MITRE TTP row says T1105",
            "make them the same",
        ),
        (
            "duplicate-row.md",
            16,
            "row `Key Indicators` is given twice (first at line 10)",
            "keep one",
        ),
        (
            "bad-rule.md",
            16,
            "escalation rule `q1 and and q2`",
            "e.g. `q1 and (q2 or q3)`",
        ),
        (
            "rule-names-missing-question.md",
            16,
            "names q7 but the playbook has 3 questions",
            "use only those",
        ),
    ];
    for (file, line, what, hint) in cases {
        let diags = problems_of(file);
        let found = diags
            .iter()
            .find(|d| d.is_error() && d.message.contains(what));
        let Some(d) = found else {
            panic!("{file}: no error containing {what:?} in {diags:#?}")
        };
        assert_eq!(d.line, line, "{d}");
        assert!(d.message.contains(hint), "{file}: no hint {hint:?} in {d}");
        let shown = d.to_string();
        let prefix = format!("{BAD}/{file}:{line}: error: ");
        assert!(shown.starts_with(&prefix), "{shown}");
    }
    let covered: Vec<&str> = cases.iter().map(|c| c.0).collect();
    for file in markdown_files(BAD) {
        let rel = file.strip_prefix(root().join(BAD)).expect("below bad/");
        let rel = rel.to_string_lossy();
        assert!(
            covered.contains(&rel.as_ref()) || rel.starts_with("duplicate"),
            "bad fixture {rel} has no expectation"
        );
    }
}

#[test]
fn two_files_for_one_technique_is_an_error_naming_both() {
    let (library, report) = load(&format!("{BAD}/duplicate"));
    assert_eq!(library.len(), 1, "the first file stays usable");
    let errors: Vec<&Diagnostic> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0].to_string();
    assert!(e.contains("T1071.001 has two playbooks"), "{e}");
    assert!(
        e.contains("duplicate/b-web-protocols-copy.md:7: error:"),
        "points at the second file's id row: {e}"
    );
    assert!(
        e.contains("duplicate/a-web-protocols.md:7"),
        "names the first file's id row: {e}"
    );
    assert!(e.contains("keep one"), "{e}");
}

#[test]
fn one_bad_file_never_stops_the_others() {
    let (library, report) = load("tests/fixtures");
    // The 10 good fixtures, the first of the duplicates and nothing else from bad/.
    assert_eq!(library.len(), 11);
    assert!(report.errors() >= 11, "{:#?}", report.diagnostics);
    assert!(matches!(library.lookup("T1486"), Lookup::Found(_)));
    assert!(matches!(library.lookup("T1071.001"), Lookup::Found(_)));
    // Sorted by path then line, as `socbot check` prints them.
    let order: Vec<(&str, usize)> = report
        .diagnostics
        .iter()
        .map(|d| (d.path.as_str(), d.line))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

#[test]
fn a_questions_cell_without_a_question_mark_is_a_warning() {
    let text = std::fs::read_to_string(root().join(GOOD).join("discovery/T1999-fixture-parent.md"))
        .expect("readable")
        .replace(
            "Was the session an administrator's? Were the commands run from a script? Did any other host see the same sequence?",
            "Check the session owner and the script.",
        );
    let parsed = parser::parse(&text, "x.md").expect("still loads");
    assert_eq!(
        parsed.playbook.questions,
        strings(&["Check the session owner and the script."])
    );
    let w = parsed
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("x.md:11: warning: ") && w[0].contains("end each question with `?`"));
}

#[test]
fn a_parent_may_leave_its_sub_ttp_blank_or_say_n_a() {
    let text = std::fs::read_to_string(root().join(GOOD).join("discovery/T1999-fixture-parent.md"))
        .expect("readable");
    for placeholder in ["", "-", "N/A", "none", "—"] {
        let t = text.replace(
            "| MITRE Sub-TTP | T1999 |",
            &format!("| MITRE Sub-TTP | {placeholder} |"),
        );
        let p = parser::parse(&t, "x.md").unwrap_or_else(|d| panic!("{placeholder:?}: {d:?}"));
        assert_eq!(p.playbook.id.to_string(), "T1999");
        assert!(p.warnings.is_empty());
    }
    let both_empty = text
        .replace("| MITRE Sub-TTP | T1999 |", "| MITRE Sub-TTP | |")
        .replace("| MITRE TTP | T1999 |", "| MITRE TTP | |");
    let diags = parser::parse(&both_empty, "x.md").expect_err("no id");
    assert!(
        diags.iter().any(|d| d.is_error()
            && d.line == 6
            && d.message.contains("is empty: write the technique id")),
        "{diags:?}"
    );
}
