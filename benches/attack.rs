//! ATT&CK benchmark (std only; `cargo bench --bench attack`).
//!
//! Times, over the shipped ATT&CK v18.1 catalog and the real corpus when it is there (else the
//! bundled playbooks): loading the shipped compact catalog, against reading a STIX bundle of the
//! same techniques the size of MITRE's (descriptions and relationships included, made up here);
//! computing coverage over 10,000 incidents of the last 30 days; drawing the heatmap PNG, against
//! the one-second budget, and its size against Discord's 10 MiB attachment limit.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;
use socbot::attack::{Catalog, SHIPPED_TSV, Status, coverage, heatmap, stix};
use socbot::incident::{ActorRef, DefaultPolicy, Event, EventKind, Finding, Incident, IncidentId};
use socbot::playbook::Library;

const CORPUS: &str = "../shared/corpus/attack-playbooks";
const DISCORD_LIMIT: usize = 10 * 1024 * 1024;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join(CORPUS);
    let (dir, what) = if corpus.is_dir() {
        (corpus, CORPUS)
    } else {
        println!("corpus not found at {CORPUS}; benchmarking the bundled playbooks instead");
        (root.join("playbooks"), "playbooks")
    };
    let library = Library::load_dir(&dir).expect("playbooks load").0;
    let catalog = Catalog::shipped();
    println!(
        "socbot ATT&CK benchmark: ATT&CK v{} ({} live techniques), {what}: {} playbooks\n",
        catalog.version,
        catalog.live().count(),
        library.len()
    );
    println!(
        "{:<34} {:>5} {:>11} {:>11} {:>11}",
        "operation", "n", "mean", "p50", "p99"
    );

    let shipped = time(50, || {
        black_box(Catalog::from_compact(black_box(SHIPPED_TSV), "shipped").unwrap());
    });
    report("load shipped compact catalog", &shipped);
    let bundle = synthetic_bundle(&catalog);
    let stix_load = time(5, || {
        black_box(stix::parse(black_box(&bundle)).unwrap());
    });
    report(
        &format!("load STIX bundle ({} MB)", bundle.len() / 1_000_000),
        &stix_load,
    );

    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let incidents = incidents(&catalog, now, 10_000);
    let cov = time(50, || {
        black_box(coverage::compute(&catalog, &library, &incidents, 30, now));
    });
    report("coverage, 10,000 incidents", &cov);

    let report_data = coverage::compute(&catalog, &library, &incidents, 30, now);
    let mut size = 0;
    let draw = time(20, || {
        let png = heatmap::png(black_box(&report_data));
        size = png.len();
        black_box(png);
    });
    report("draw heatmap PNG", &draw);
    let (w, h) = heatmap::size(&report_data);

    println!();
    println!(
        "catalog load: shipped compact p50 {} vs STIX bundle p50 {} ({:.0}× faster)",
        show(p(&shipped, 0.5)),
        show(p(&stix_load, 0.5)),
        p(&stix_load, 0.5).as_secs_f64() / p(&shipped, 0.5).as_secs_f64()
    );
    println!(
        "heatmap: {w}×{h} px, p99 {} against the 1 s budget ({:.1}% of it); {} KiB against Discord's 10 MiB attachment limit ({:.2}% of it)",
        show(p(&draw, 0.99)),
        p(&draw, 0.99).as_secs_f64() * 100.0,
        size.div_ceil(1024),
        size as f64 * 100.0 / DISCORD_LIMIT as f64
    );
}

/// A STIX bundle of the catalog's tactics and techniques padded the way MITRE's is: a
/// description on every object and some 20,000 relationships (text made up here).
fn synthetic_bundle(catalog: &Catalog) -> String {
    let filler =
        "Adversaries may do something that this benchmark describes at length. ".repeat(20);
    let mut objects = vec![
        json!({"type": "x-mitre-collection", "id": "x-mitre-collection--1", "x_mitre_version": catalog.version}),
        json!({
            "type": "x-mitre-matrix", "id": "x-mitre-matrix--1", "name": "Enterprise ATT&CK",
            "external_references": [{"source_name": "mitre-attack", "external_id": "enterprise-attack"}],
            "tactic_refs": catalog.tactics.iter().map(|t| format!("x-mitre-tactic--{}", t.id)).collect::<Vec<_>>(),
        }),
    ];
    for t in &catalog.tactics {
        objects.push(json!({
            "type": "x-mitre-tactic", "id": format!("x-mitre-tactic--{}", t.id), "name": t.name,
            "x_mitre_shortname": t.shortname, "description": filler,
            "external_references": [{"source_name": "mitre-attack", "external_id": t.id}],
        }));
    }
    for t in catalog.techniques() {
        let phases: Vec<_> = t
            .tactics
            .iter()
            .map(|&i| json!({"kill_chain_name": "mitre-attack", "phase_name": catalog.tactics[i].shortname}))
            .collect();
        objects.push(json!({
            "type": "attack-pattern", "id": format!("attack-pattern--{}", t.id), "name": t.name,
            "description": filler, "kill_chain_phases": phases, "x_mitre_platforms": t.platforms,
            "revoked": matches!(t.status, Status::Revoked(_)), "x_mitre_deprecated": t.status == Status::Deprecated,
            "external_references": [
                {"source_name": "mitre-attack", "external_id": t.id.to_string(), "url": t.id.attack_url()},
                {"source_name": "Some Report", "description": filler, "url": "https://example.invalid/report"}
            ],
        }));
        if let Status::Revoked(Some(by)) = t.status {
            objects.push(json!({
                "type": "relationship", "id": format!("relationship--r{}", t.id),
                "relationship_type": "revoked-by",
                "source_ref": format!("attack-pattern--{}", t.id), "target_ref": format!("attack-pattern--{by}"),
            }));
        }
    }
    for i in 0..20_000 {
        objects.push(json!({
            "type": "relationship", "id": format!("relationship--{i}"), "relationship_type": "uses",
            "source_ref": format!("malware--{}", i % 700), "target_ref": "attack-pattern--T1059",
            "description": &filler[..300],
        }));
    }
    serde_json::to_string(&json!({"type": "bundle", "id": "bundle--bench", "objects": objects}))
        .unwrap()
}

/// `n` incidents over the last 30 days, on live techniques in turn (with and without a
/// playbook), each with two answers.
fn incidents(catalog: &Catalog, now: chrono::DateTime<Utc>, n: usize) -> Vec<Incident> {
    let live: Vec<_> = catalog.live().map(|t| t.id).collect();
    let who = ActorRef::new(1, "bench");
    (0..n)
        .map(|i| {
            let at = now - chrono::Duration::minutes((i * 4) as i64);
            let events = vec![
                Event::new(
                    at,
                    who.clone(),
                    EventKind::Opened {
                        id: IncidentId(i as u64 + 1),
                        technique: live[(i * 7) % live.len()],
                        title: format!("incident {i}"),
                        alert: None,
                        playbook_name: "bench".into(),
                        questions: vec!["one?".into(), "two?".into(), "three?".into()],
                        escalation_rule: None,
                        decision_text: None,
                        policy: DefaultPolicy::default(),
                        channel: 0,
                    },
                ),
                Event::new(
                    at,
                    who.clone(),
                    EventKind::Answered {
                        question: 1 + i % 3,
                        finding: Finding::Unknown,
                        note: None,
                    },
                ),
                Event::new(
                    at,
                    who.clone(),
                    EventKind::Answered {
                        question: 1 + (i + 1) % 3,
                        finding: Finding::Concerning,
                        note: None,
                    },
                ),
            ];
            Incident::from_events(&events).unwrap()
        })
        .collect()
}

fn time(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm-up
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort_unstable();
    samples
}

fn p(samples: &[Duration], q: f64) -> Duration {
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn report(name: &str, samples: &[Duration]) {
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<34} {:>5} {:>11} {:>11} {:>11}",
        samples.len(),
        show(mean),
        show(p(samples, 0.5)),
        show(p(samples, 0.99))
    );
}

fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}
