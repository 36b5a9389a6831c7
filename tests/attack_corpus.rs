//! The real playbook corpus against the shipped ATT&CK catalog, when the corpus is there
//! (`../shared/corpus/attack-playbooks`; test data only, nothing from it is copied into the
//! project). Without it each test prints one line and passes.

use std::path::Path;

use chrono::{TimeZone, Utc};
use socbot::attack::{Catalog, coverage, lint};
use socbot::playbook::Library;

const CORPUS: &str = "../shared/corpus/attack-playbooks";

fn corpus() -> Option<Library> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    if !dir.is_dir() {
        println!("corpus test skipped: {CORPUS} not found");
        return None;
    }
    Some(Library::load_dir(&dir).unwrap().0)
}

#[test]
fn corpus_coverage_per_tactic_against_attack_18_1() {
    let Some(library) = corpus() else { return };
    let catalog = Catalog::shipped();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let cov = coverage::compute(&catalog, &library, &[], 30, now);
    let rows: Vec<(&str, usize, usize)> = cov
        .tactics
        .iter()
        .map(|t| (t.name.as_str(), t.with_playbook, t.live))
        .collect();
    println!(
        "{}",
        cov.text(None)
            .lines()
            .take(16)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        rows,
        [
            ("Reconnaissance", 44, 45),
            ("Resource Development", 47, 47),
            ("Initial Access", 21, 22),
            ("Execution", 38, 46),
            ("Persistence", 120, 126),
            ("Privilege Escalation", 108, 109),
            ("Defense Evasion", 203, 215),
            ("Credential Access", 67, 67),
            ("Discovery", 46, 49),
            ("Lateral Movement", 23, 23),
            ("Collection", 40, 41),
            ("Command and Control", 42, 45),
            ("Exfiltration", 19, 19),
            ("Impact", 32, 33),
        ]
    );
    assert_eq!((cov.with_playbook, cov.live), (655, 691));
    // 656 playbooks: 655 live techniques and the one revoked one, counted outside the catalog.
    assert_eq!(library.len(), 656);
    assert_eq!(
        cov.outside_catalog
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["T1574.002"]
    );
}

#[test]
fn check_finds_the_corpus_playbook_for_a_revoked_technique() {
    let Some(library) = corpus() else { return };
    let catalog = Catalog::shipped();
    let warnings = lint::playbooks(&catalog, library.iter().map(|p| &**p));
    let revoked: Vec<String> = warnings
        .iter()
        .map(ToString::to_string)
        .filter(|w| w.contains("has revoked") || w.contains("has deprecated"))
        .collect();
    assert_eq!(revoked.len(), 1, "{revoked:#?}");
    assert!(
        revoked[0].contains("T1574002_Hijack_Execution_Flow__DLL_Side-Loading.md")
            && revoked[0].contains("replaced by T1574.001"),
        "{}",
        revoked[0]
    );
    assert!(
        warnings
            .iter()
            .all(|w| !w.message.contains("has no technique")),
        "every corpus id is an ATT&CK id"
    );
}
