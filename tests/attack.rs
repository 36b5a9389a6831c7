//! The ATT&CK catalog: the STIX loader over small bundles written for these tests, the shipped
//! catalog, `socbot check`'s ATT&CK warnings, coverage, the Navigator layer and the heatmap,
//! through the library and through the real `socbot` binary.

mod support;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use socbot::alert::{AlertStatus, Format, Severity};
use socbot::attack::coverage::{self, Cell};
use socbot::attack::{Catalog, Status, heatmap, lint, stix};
use socbot::incident::{
    ActorRef, AlertOutcome, AlertRecord, DefaultPolicy, EscalationReason, Event, EventKind,
    Finding, Incident, IncidentId, Resolution,
};
use socbot::playbook::{Library, TechniqueId};
use support::cli::{TempDir, bundled, socbot_command};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stix")
        .join(name)
}

fn small() -> Catalog {
    stix::parse(&std::fs::read_to_string(fixture("small-enterprise.json")).unwrap()).unwrap()
}

fn id(s: &str) -> TechniqueId {
    TechniqueId::parse(s).unwrap()
}

/// A playbook file for `id` with `name` and `tactic`.
fn playbook_md(id: &str, name: &str, tactic: &str) -> String {
    format!(
        "# {name} - {}\n\n| Column Name | Value |\n|-------------|-------|\n| MITRE Tactic | {tactic} |\n| MITRE TTP | {id} |\n| Name | {name} |\n| Log Sources to Investigate | Door logs. |\n| Key Indicators | A scratched lock. |\n| Questions for Analysis | 1. Was the lock scratched?<br>2. Was the door open at night? |\n| Decision for Escalation | Escalate when the door was open at night. |\n| Additional Analysis Steps for L1 | Ask the guard. |\n| T2 Analyst Actions | Change the locks. |\n| Containment and Further Analysis | Close the door. |\n",
        id.replace('.', "")
    )
}

fn library(files: &[(&str, String)]) -> Library {
    let list = files
        .iter()
        .map(|(path, text)| {
            socbot::playbook::parser::parse(text, path)
                .unwrap_or_else(|e| panic!("{path}: {e:?}"))
                .playbook
        })
        .collect();
    Library::from_playbooks(list).0
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

/// An incident opened at `at` for `technique`, with its events applied.
fn incident(n: u64, technique: &str, at: DateTime<Utc>, then: Vec<EventKind>) -> Incident {
    let alice = ActorRef::new(1, "alice");
    let mut events = vec![Event::new(
        at,
        alice.clone(),
        EventKind::Opened {
            id: IncidentId(n),
            technique: id(technique),
            title: format!("incident {n}"),
            alert: None,
            playbook_name: "Lock Picking".into(),
            questions: vec![
                "Was the lock scratched?".into(),
                "Was the door open at night?".into(),
            ],
            escalation_rule: None,
            decision_text: None,
            policy: DefaultPolicy::default(),
            channel: 0,
        },
    )];
    for (i, kind) in then.into_iter().enumerate() {
        events.push(Event::new(
            at + Duration::minutes(i as i64 + 1),
            alice.clone(),
            kind,
        ));
    }
    Incident::from_events(&events).unwrap()
}

fn unknown(q: usize) -> EventKind {
    EventKind::Answered {
        question: q,
        finding: Finding::Unknown,
        note: None,
    }
}

// ---------------------------------------------------------------------------------------------
// the STIX loader

#[test]
fn a_stix_bundle_gives_tactics_in_matrix_order_and_every_technique() {
    let c = small();
    assert_eq!(c.version, "99.1");
    let names: Vec<&str> = c.tactics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["Window Watching", "Door Opening", "Loot Carrying"],
        "the matrix's tactic_refs order, not the objects' order; a tactic outside the matrix is left out"
    );
    assert_eq!(c.tactics[1].id, "TA9001");
    assert_eq!(c.tactics[1].shortname, "door-opening");
    let ids: Vec<String> = c.techniques().iter().map(|t| t.id.to_string()).collect();
    assert_eq!(ids, ["T9001", "T9001.001", "T9002", "T9003", "T9004"]);

    let lock = c.get(id("T9001")).unwrap();
    assert_eq!(lock.name, "Lock Picking");
    assert_eq!(
        c.tactic_names(lock).collect::<Vec<_>>(),
        ["Window Watching", "Door Opening"],
        "ATT&CK order; a phase of another kill chain is not a tactic"
    );
    assert_eq!(lock.platforms, ["Linux", "Windows"]);
    assert!(!lock.is_sub() && lock.is_live());

    let bump = c.get(id("T9001.001")).unwrap();
    assert!(bump.is_sub());
    assert_eq!(c.full_name(bump), "Lock Picking: Bump Keys");

    assert_eq!(
        c.get(id("T9003")).unwrap().status,
        Status::Revoked(Some(id("T9001.001")))
    );
    assert_eq!(c.get(id("T9004")).unwrap().status, Status::Deprecated);
    assert_eq!(c.live().count(), 3);
    let info = c.describe(c.get(id("T9003")).unwrap());
    assert_eq!(
        info.status_line().unwrap(),
        "ATT&CK has revoked this technique: use T9001.001 (Lock Picking: Bump Keys)."
    );
}

#[test]
fn the_compact_format_keeps_everything_but_descriptions() {
    let c = small();
    let compact = c.to_compact();
    assert!(!compact.contains("Long prose"), "no description text");
    assert!(compact.contains("The MITRE Corporation"), "MITRE's notice");
    let again = Catalog::from_compact(&compact, "again").unwrap();
    assert_eq!(again.techniques(), c.techniques());
    assert_eq!(again.tactics, c.tactics);
    assert_eq!(again.version, c.version);
}

#[test]
fn bundles_that_are_not_attack_data_are_refused_with_the_reason() {
    let text = std::fs::read_to_string(fixture("no-matrix.json")).unwrap();
    let e = stix::parse(&text).unwrap_err().to_string();
    assert!(e.contains("no x-mitre-matrix"), "{e}");

    let text = std::fs::read_to_string(fixture("truncated.json")).unwrap();
    let e = stix::parse(&text).unwrap_err().to_string();
    assert!(
        e.contains("not a STIX 2.1 bundle") && e.contains("line"),
        "{e}"
    );

    let e = stix::parse(r#"{"objects": [{"id": "x"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("type"), "an object without a type is named: {e}");
}

// ---------------------------------------------------------------------------------------------
// the shipped catalog

#[test]
fn the_shipped_catalog_is_attack_enterprise_18_1() {
    let c = Catalog::shipped();
    assert_eq!(c.version, "18.1");
    let names: Vec<&str> = c.tactics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Reconnaissance",
            "Resource Development",
            "Initial Access",
            "Execution",
            "Persistence",
            "Privilege Escalation",
            "Defense Evasion",
            "Credential Access",
            "Discovery",
            "Lateral Movement",
            "Collection",
            "Command and Control",
            "Exfiltration",
            "Impact"
        ]
    );
    assert_eq!(c.live().count(), 691);
    assert_eq!(c.live().filter(|t| !t.is_sub()).count(), 216);
    let web = c.get(id("T1583.006")).unwrap();
    assert_eq!(c.full_name(web), "Acquire Infrastructure: Web Services");
    assert_eq!(
        c.tactic_names(web).collect::<Vec<_>>(),
        ["Resource Development"]
    );
    assert_eq!(web.platforms, ["PRE"]);
    assert_eq!(
        c.get(id("T1574.002")).unwrap().status,
        Status::Revoked(Some(id("T1574.001")))
    );
    assert!(
        c.techniques()
            .iter()
            .filter(|t| matches!(t.status, Status::Revoked(_)))
            .all(|t| matches!(t.status, Status::Revoked(Some(_)))),
        "every revoked technique names its replacement"
    );
    // Autocomplete over the catalog.
    let hits: Vec<String> = c
        .search("serverless", 5)
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    assert!(hits.contains(&"T1583.007".to_owned()), "{hits:?}");
}

// ---------------------------------------------------------------------------------------------
// check's ATT&CK warnings

#[test]
fn check_warns_of_revoked_deprecated_unknown_renamed_and_mistactic_playbooks() {
    let c = small();
    let lib = library(&[
        (
            "ok.md",
            playbook_md("T9001", "Lock Picking", "Door Opening, Window Watching"),
        ),
        (
            "revoked.md",
            playbook_md("T9003", "Old Skeleton Key", "Door Opening"),
        ),
        (
            "deprecated.md",
            playbook_md("T9004", "Pigeon Post", "Loot Carrying"),
        ),
        (
            "unknown.md",
            playbook_md("T9050", "Made Up", "Door Opening"),
        ),
        (
            "renamed.md",
            playbook_md("T9002", "Bag Stuffing", "Loot Carrying"),
        ),
        (
            "tactic.md",
            playbook_md("T9001.001", "Lock Picking: Bump Keys", "Loot Carrying"),
        ),
    ]);
    let text: Vec<String> = lint::playbooks(&c, lib.iter().map(|p| &**p))
        .iter()
        .map(ToString::to_string)
        .collect();
    let all = text.join("\n");
    assert!(!all.contains("ok.md"), "{all}");
    assert!(
        all.contains("revoked.md:6: warning: ATT&CK v99.1 has revoked T9003 (Old Skeleton Key), replaced by T9001.001 (Lock Picking: Bump Keys)"),
        "{all}"
    );
    assert!(
        all.contains("deprecated.md:6: warning: ATT&CK v99.1 has deprecated T9004"),
        "{all}"
    );
    assert!(
        all.contains("unknown.md:6: warning: ATT&CK Enterprise v99.1 has no technique T9050"),
        "{all}"
    );
    assert!(
        all.contains(
            "renamed.md:6: warning: Name `Bag Stuffing` differs from ATT&CK's `Sack Filling`"
        ),
        "{all}"
    );
    assert!(
        all.contains("tactic.md:6: warning: tactic `Loot Carrying` is not one of ATT&CK's for T9001.001: Door Opening"),
        "{all}"
    );
    assert_eq!(text.len(), 5, "{all}");
}

// ---------------------------------------------------------------------------------------------
// coverage

fn fixture_coverage() -> (Catalog, Library, Vec<Incident>) {
    let c = small();
    let lib = library(&[
        ("a.md", playbook_md("T9001", "Lock Picking", "Door Opening")),
        (
            "b.md",
            playbook_md("T9003", "Old Skeleton Key", "Door Opening"),
        ),
    ]);
    let now = t0();
    let incidents = vec![
        // In the window, with a playbook: escalated, then closed as a false positive; q2 Unknown.
        incident(
            1,
            "T9001",
            now - Duration::days(3),
            vec![
                unknown(2),
                EventKind::Escalated {
                    reason: EscalationReason::Manual {
                        reason: "door open".into(),
                    },
                },
                EventKind::Closed {
                    resolution: Resolution::FalsePositive,
                    summary: None,
                },
            ],
        ),
        incident(
            2,
            "T9001",
            now - Duration::days(2),
            vec![unknown(2), unknown(1)],
        ),
        // Seen without a playbook: twice T9002, once T9001.001; one T9002 too old to count.
        incident(3, "T9002", now - Duration::days(1), vec![]),
        incident(4, "T9002", now - Duration::hours(1), vec![]),
        incident(5, "T9001.001", now - Duration::days(29), vec![]),
        incident(6, "T9002", now - Duration::days(31), vec![]),
    ];
    (c, lib, incidents)
}

/// An alert from `source` naming `techniques`, as the intake records it.
fn alert_received(techniques: &[&str], outcome: AlertOutcome) -> EventKind {
    EventKind::AlertReceived {
        alert: AlertRecord {
            source: "wazuh".into(),
            format: Format::Wazuh,
            title: "Suspicious PowerShell".into(),
            severity: Severity::High,
            status: AlertStatus::Firing,
            techniques: techniques.iter().map(|t| id(t)).collect(),
            host: Some("ws-12".into()),
            user: None,
            link: None,
            rule: None,
            key: "92057/004".into(),
            payload: None,
        },
        outcome,
    }
}

#[test]
fn every_technique_an_alert_named_counts_as_seen_once_per_incident() {
    let now = t0();
    let incidents = vec![
        // Opened from an alert naming three techniques; a repeat names one of them again.
        incident(
            1,
            "T9001",
            now - Duration::hours(2),
            vec![
                alert_received(&["T9001", "T9002", "T9001.001"], AlertOutcome::Opened),
                alert_received(&["T9002"], AlertOutcome::Grouped),
            ],
        ),
        incident(2, "T9002", now - Duration::hours(1), vec![]),
    ];
    let seen = coverage::seen_techniques(&incidents, now - Duration::days(30));
    assert_eq!(
        seen.get(&id("T9002")),
        Some(&2),
        "one per incident: {seen:?}"
    );
    assert_eq!(seen.get(&id("T9001.001")), Some(&1), "{seen:?}");
    assert_eq!(seen.get(&id("T9001")), Some(&1), "{seen:?}");
}

#[test]
fn coverage_counts_live_techniques_per_tactic_and_ranks_the_gaps_seen() {
    let (c, lib, incidents) = fixture_coverage();
    let seen = coverage::seen_techniques(&incidents, t0() - Duration::days(30));
    assert_eq!(
        seen.get(&id("T9002")),
        Some(&2),
        "the 31-day-old one is out"
    );
    let cov = coverage::compute(&c, &lib, &incidents, 30, t0());
    let rows: Vec<(&str, usize, usize, usize)> = cov
        .tactics
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.with_playbook,
                t.live,
                t.seen_without_playbook,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("Window Watching", 1, 1, 0),
            ("Door Opening", 1, 2, 1),
            ("Loot Carrying", 0, 1, 1),
        ],
        "the revoked and deprecated techniques are not counted"
    );
    assert_eq!((cov.with_playbook, cov.live, cov.incidents), (1, 3, 5));
    let gaps: Vec<(String, usize)> = cov
        .gaps
        .iter()
        .map(|g| (g.id.to_string(), g.seen))
        .collect();
    assert_eq!(gaps, [("T9002".to_owned(), 2), ("T9001.001".to_owned(), 1)]);
    assert_eq!(cov.gaps[0].name.as_deref(), Some("Sack Filling"));
    assert_eq!(cov.unused, [(id("T9003"), "Old Skeleton Key".to_owned())]);
    assert_eq!(cov.outside_catalog, [id("T9003")]);
    assert_eq!(cov.cells[&id("T9001")], Cell::Playbook);
    assert_eq!(cov.cells[&id("T9002")], Cell::SeenWithoutPlaybook);

    let q = &cov.quality[0];
    assert_eq!(
        (q.id, q.opened, q.escalated, q.false_positive),
        (id("T9001"), 2, 1, 1)
    );
    assert_eq!(
        (q.escalated_percent(), q.false_positive_percent()),
        (50, 50)
    );
    assert_eq!(
        q.most_unknown,
        Some((2, "Was the door open at night?".to_owned(), 2))
    );

    let text = cov.text(None);
    assert!(
        text.contains("1/3 live techniques have a playbook (33%)"),
        "{text}"
    );
    assert!(
        text.contains("T9002        2×  Sack Filling  [Loot Carrying]"),
        "{text}"
    );
    assert!(
        text.contains("q2 answered Unknown 2×: Was the door open at night?"),
        "{text}"
    );
    let only = cov.text(c.tactic("loot carrying"));
    assert!(
        only.contains("Loot Carrying") && !only.contains("Window Watching"),
        "{only}"
    );
    assert!(
        !only.contains("T9001.001"),
        "gaps of that tactic only: {only}"
    );
}

#[test]
fn the_navigator_layer_has_the_format_fields_and_a_score_per_technique() {
    let (c, lib, incidents) = fixture_coverage();
    let cov = coverage::compute(&c, &lib, &incidents, 30, t0());
    let layer = cov.navigator_layer(&c);
    check_layer(&layer);
    let scores: Vec<(String, u64)> = layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["techniqueID"].as_str().unwrap().to_owned(),
                t["score"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scores,
        [
            ("T9001".to_owned(), 2),
            ("T9001.001".to_owned(), 1),
            ("T9002".to_owned(), 1)
        ]
    );
    assert_eq!(layer["versions"]["attack"], "99");
}

/// The fields ATT&CK Navigator's layer format 4.5 requires, and the types it expects.
fn check_layer(layer: &Value) {
    assert_eq!(layer["versions"]["layer"], "4.5", "{layer}");
    assert!(layer["versions"]["navigator"].is_string());
    assert_eq!(layer["domain"], "enterprise-attack");
    assert!(layer["name"].as_str().is_some_and(|n| !n.is_empty()));
    let techniques = layer["techniques"].as_array().expect("techniques list");
    assert!(!techniques.is_empty());
    for t in techniques {
        let tid = t["techniqueID"].as_str().expect("techniqueID");
        assert!(TechniqueId::parse(tid).is_ok(), "{t}");
        assert!(t["score"].is_number(), "{t}");
        assert!(t["enabled"].is_boolean(), "{t}");
        assert!(t["color"].is_string(), "{t}");
    }
    let g = &layer["gradient"];
    assert_eq!(g["colors"].as_array().map(Vec::len), Some(3));
    assert!(g["minValue"].is_number() && g["maxValue"].is_number());
    assert_eq!(layer["legendItems"].as_array().map(Vec::len), Some(3));
    assert!(layer["layout"]["layout"].is_string());
}

/// Width, height and RGB pixels of a PNG, decoded.
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png_bytes[12..16], b"IHDR");
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    (info.width, info.height, buf)
}

#[test]
fn the_heatmap_is_a_png_with_a_cell_per_technique_in_its_colour() {
    let (c, lib, incidents) = fixture_coverage();
    let cov = coverage::compute(&c, &lib, &incidents, 30, t0());
    let png_bytes = heatmap::png(&cov);
    let (w, h, pixels) = decode(&png_bytes);
    assert_eq!((w as usize, h as usize), heatmap::size(&cov));
    assert_eq!(w, 1920);
    let count = |rgb: [u8; 3]| pixels.chunks_exact(3).filter(|p| *p == rgb).count();
    // Each cell is 22×22; the legend swatches (21×21) and the bars add to the colours too.
    let cell = 22 * 22;
    assert!(
        count(Cell::SeenWithoutPlaybook.rgb()) >= 2 * cell,
        "two gap cells"
    );
    assert!(
        count(Cell::Playbook.rgb()) >= 2 * cell,
        "T9001 in two tactics"
    );
}

#[test]
fn the_heatmap_of_the_shipped_catalog_fits_a_phone_and_discord() {
    let c = Catalog::shipped();
    let lib = Library::load_dir(Path::new(&bundled())).unwrap().0;
    let cov = coverage::compute(&c, &lib, &[], 30, t0());
    let png_bytes = heatmap::png(&cov);
    let (w, h, _) = decode(&png_bytes);
    assert_eq!(w, 1920);
    assert!((1000..2400).contains(&h), "height {h}");
    assert!(png_bytes.len() < 1024 * 1024, "{} bytes", png_bytes.len());
}

// ---------------------------------------------------------------------------------------------
// the real binary

fn socbot(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = socbot_command(&["COLUMNS"]);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn attack_import_writes_the_compact_catalog_that_attack_stix_can_also_load() {
    let dir = TempDir::new("attack", "import");
    let compact = dir.0.join("catalog.tsv");
    let small_json = fixture("small-enterprise.json");
    let o = socbot(
        &[
            "attack",
            "import",
            small_json.to_str().unwrap(),
            "-o",
            compact.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("ATT&CK v99.1: 3 tactics, 5 techniques (3 live)"),
        "{}",
        err(&o)
    );
    let text = std::fs::read_to_string(&compact).unwrap();
    assert_eq!(
        Catalog::from_compact(&text, "x").unwrap().techniques(),
        small().techniques()
    );

    // `attack.stix` takes the bundle (or the compact file) instead of the shipped catalog.
    let pb = dir.0.join("playbooks");
    std::fs::create_dir_all(&pb).unwrap();
    std::fs::write(
        pb.join("a.md"),
        playbook_md("T9001", "Lock Picking", "Door Opening"),
    )
    .unwrap();
    for catalog in [small_json.to_str().unwrap(), compact.to_str().unwrap()] {
        let env = [
            ("SOCBOT__PLAYBOOKS__DIR", pb.to_str().unwrap()),
            ("SOCBOT__ATTACK__STIX", catalog),
        ];
        let o = socbot(&["show", "T9002"], &env);
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        let text = out(&o);
        assert!(
            text.contains("T9002 · Sack Filling (MITRE ATT&CK v99.1)"),
            "{text}"
        );
        assert!(text.contains("Platforms: macOS"), "{text}");
        assert!(
            text.contains("This library has no playbook for it."),
            "{text}"
        );
    }

    // A bad bundle: one line naming the key and what is wrong.
    let o = socbot(
        &["show", "T9002"],
        &[(
            "SOCBOT__ATTACK__STIX",
            fixture("no-matrix.json").to_str().unwrap(),
        )],
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("attack.stix") && err(&o).contains("no x-mitre-matrix"),
        "{}",
        err(&o)
    );

    let o = socbot(
        &[
            "attack",
            "import",
            fixture("truncated.json").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("truncated.json: not a STIX 2.1 bundle"),
        "{}",
        err(&o)
    );
}

#[test]
fn show_answers_a_technique_without_a_playbook_from_the_catalog_and_exits_1() {
    let env = [("SOCBOT__PLAYBOOKS__DIR", bundled())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = socbot(&["show", "T1583.007"], &env);
    assert_eq!(o.status.code(), Some(1));
    let text = out(&o);
    for want in [
        "T1583.007 · Acquire Infrastructure: Serverless (MITRE ATT&CK v18.1)",
        "Tactics: Resource Development",
        "Platforms: PRE",
        "https://attack.mitre.org/techniques/T1583/007/",
        "This library has no playbook for it.",
        "Closest playbooks:\n  T1583.003  Acquire Infrastructure: Virtual Private Server",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    assert!(!text.contains('`'), "no markdown on a terminal:\n{text}");
    let o = socbot(&["show", "T1583.007", "--json"], &env);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["name"], "Acquire Infrastructure: Serverless");
    assert_eq!(v["has_playbook"], false);
    assert_eq!(v["tactics"][0], "Resource Development");

    // A revoked technique says what replaced it.
    let o = socbot(&["show", "T1002"], &env);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("ATT&CK has revoked this technique: use T1560 (Archive Collected Data)."),
        "{}",
        out(&o)
    );
}

#[test]
fn coverage_cli_writes_text_json_navigator_and_png() {
    let dir = TempDir::new("attack", "coverage");
    let store = dir.0.join("store");
    let env = [
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
        ("SOCBOT__STORE__PATH", store.display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = socbot(&["coverage"], &env);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains("2/691 live techniques have a playbook (0%)"),
        "{text}"
    );
    assert!(text.contains("Resource Development"), "{text}");
    assert!(text.contains("   2/47 "), "{text}");
    assert!(
        text.contains("Playbooks not used in the last 30 days: 2 of 2"),
        "{text}"
    );
    assert!(err(&o).contains("no incidents counted"), "{}", err(&o));

    let o = socbot(&["coverage", "--json", "--days", "7"], &env);
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["days"], 7);
    assert_eq!(v["tactics"][1]["name"], "Resource Development");
    assert_eq!(v["tactics"][1]["with_playbook"], 2);
    assert_eq!(v["live"], 691);

    let layer_path = dir.0.join("layer.json");
    let o = socbot(
        &["coverage", "--navigator", layer_path.to_str().unwrap()],
        &env,
    );
    assert!(o.status.success(), "{}", err(&o));
    let layer: Value =
        serde_json::from_str(&std::fs::read_to_string(&layer_path).unwrap()).unwrap();
    check_layer(&layer);
    assert_eq!(layer["techniques"].as_array().unwrap().len(), 691);
    assert_eq!(layer["versions"]["attack"], "18");

    let png_path = dir.0.join("heatmap.png");
    let o = socbot(&["coverage", "--png", png_path.to_str().unwrap()], &env);
    assert!(o.status.success(), "{}", err(&o));
    let (w, _, _) = decode(&std::fs::read(&png_path).unwrap());
    assert_eq!(w, 1920);

    let o = socbot(&["coverage", "--playbooks"], &env);
    assert!(o.status.success());
    assert!(out(&o).contains("no incidents"), "{}", out(&o));

    let o = socbot(&["coverage", "--days", "0"], &env);
    assert_eq!(o.status.code(), Some(2), "clap refuses 0 days");
}

#[test]
fn check_prints_the_attack_warnings_without_failing() {
    let dir = TempDir::new("attack", "check");
    std::fs::write(
        dir.0.join("old.md"),
        playbook_md(
            "T1574.002",
            "Hijack Execution Flow: DLL Side-Loading",
            "Defense Evasion",
        ),
    )
    .unwrap();
    let o = socbot(&["check", dir.0.to_str().unwrap()], &[]);
    assert!(o.status.success(), "warnings only: {}", out(&o));
    let text = out(&o);
    assert!(
        text.contains("old.md:6: warning: ATT&CK v18.1 has revoked T1574.002 (Hijack Execution Flow: DLL Side-Loading), replaced by T1574.001 (Hijack Execution Flow: DLL)"),
        "{text}"
    );
    assert!(
        text.contains("1 warning(s)") && text.contains("checked against MITRE ATT&CK v18.1"),
        "{text}"
    );
}

#[test]
fn the_console_answers_coverage_and_techniques_without_a_playbook() {
    use std::io::Write;
    let dir = TempDir::new("attack", "console");
    let mut child = socbot_command(&["COLUMNS"])
        .arg("console")
        .env("SOCBOT__PLAYBOOKS__DIR", bundled())
        .env("SOCBOT__STORE__PATH", dir.0.join("store"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/coverage resource development\n/playbook T1583.007\n/coverage lunch\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("Resource Development"), "{text}");
    assert!(!text.contains("Reconnaissance  "), "one tactic: {text}");
    assert!(text.contains("socbot coverage --png FILE"), "{text}");
    assert!(
        text.contains("T1583.007 · Acquire Infrastructure: Serverless (MITRE ATT&CK v18.1)"),
        "{text}"
    );
    // Plain text at the console: the tactic as typed, no code marks.
    assert!(
        text.contains("error: ATT&CK has no tactic lunch; pick one of:"),
        "{text}"
    );
    assert!(!text.contains('`'), "{text}");
}

#[test]
fn config_check_names_a_bad_attack_stix() {
    let bad = fixture("no-matrix.json");
    let o = socbot(
        &["config", "check"],
        &[("SOCBOT__ATTACK__STIX", bad.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(1));
    let text = out(&o);
    assert!(
        text.contains("error: attack.stix:") && text.contains("no x-mitre-matrix"),
        "{text}"
    );
    let good = fixture("small-enterprise.json");
    let o = socbot(
        &["config", "check"],
        &[("SOCBOT__ATTACK__STIX", good.to_str().unwrap())],
    );
    assert!(
        out(&o).contains("ok: attack.stix: MITRE ATT&CK v99.1"),
        "{}",
        out(&o)
    );
}

#[test]
fn words_naming_an_attack_technique_without_a_playbook_say_so() {
    let env = [("SOCBOT__PLAYBOOKS__DIR", bundled())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = socbot(&["search", "serverless", "--json"], &env);
    assert!(o.status.success(), "{}", err(&o));
    let rows: Value = serde_json::from_str(&out(&o)).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "T1583.007"
                && r["has_playbook"] == false
                && r["name"] == "Acquire Infrastructure: Serverless"),
        "{rows}"
    );
}

#[test]
fn coverage_reads_the_incidents_from_the_store() {
    use std::io::Write;
    let dir = TempDir::new("attack", "store");
    let store = dir.0.join("store");
    let mut child = socbot_command(&["COLUMNS"])
        .arg("console")
        .env("SOCBOT__PLAYBOOKS__DIR", bundled())
        .env("SOCBOT__STORE__PATH", &store)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/incident open T1583.006 odd web service\n/incident answer INC-1 1 unknown\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));

    let env = [
        ("SOCBOT__PLAYBOOKS__DIR", bundled()),
        ("SOCBOT__STORE__PATH", store.display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = socbot(&["coverage", "--playbooks"], &env);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains("T1583.006  Acquire Infrastructure: Web Services: 1 incident(s), 0% escalated, 0% false positive; q1 answered Unknown 1×"),
        "{text}"
    );
    let o = socbot(&["coverage"], &env);
    assert!(
        out(&o).contains("Playbooks not used in the last 30 days: 1 of 2\n  T1583.003"),
        "{}",
        out(&o)
    );
    // A one-day window still holds an incident opened just now.
    let o = socbot(&["coverage", "--json", "--days", "1"], &env);
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["incidents"], 1, "opened just now");
}
