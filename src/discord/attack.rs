//! ATT&CK replies laid out for Discord: a technique without a playbook, and `/coverage`.

use crate::attack::coverage::{Coverage, bar};
use crate::service::playbook::{TechniqueAnswer, clip};

use super::render::{EmbedSpec, MessageSpec, limits};

const AMBER: u32 = 0xf59e0b;
const GREEN: u32 = 0x2e9e5b;

/// The file name of the `/coverage` heatmap attachment.
pub const HEATMAP_FILE: &str = "attack-coverage.png";

/// What ATT&CK says of a technique the library has no playbook for.
pub fn technique_message(a: &TechniqueAnswer) -> MessageSpec {
    let i = &a.info;
    let mut d = String::new();
    if let Some(s) = i.status_line() {
        d.push_str(&format!("**{s}**\n"));
    }
    let list = |l: &[String]| {
        if l.is_empty() {
            "none listed".to_owned()
        } else {
            l.join(", ")
        }
    };
    d.push_str(&format!("**Tactics:** {}\n", list(&i.tactics)));
    d.push_str(&format!("**Platforms:** {}\n", list(&i.platforms)));
    d.push_str("This library has **no playbook** for it.\n");
    if !a.closest.is_empty() {
        d.push_str("\n**Closest playbooks**\n");
        for (id, name) in &a.closest {
            d.push_str(&format!("• `{id}` {}\n", clip(name, 90)));
        }
    }
    MessageSpec {
        embeds: vec![EmbedSpec {
            title: clip(&format!("{} · {}", i.id, i.name), limits::EMBED_TITLE),
            url: Some(i.url.clone()),
            description: clip(&d, limits::EMBED_DESCRIPTION),
            footer: Some(format!("MITRE ATT&CK v{}", i.version)),
            color: AMBER,
        }],
        ..MessageSpec::default()
    }
}

/// `/coverage [tactic]`: bars per tactic, the gaps seen lately, the playbooks to fix first and
/// how many were never used. The heatmap goes with it as [`HEATMAP_FILE`].
pub fn coverage_message(c: &Coverage, tactic: Option<usize>) -> MessageSpec {
    let percent = (c.with_playbook * 100).checked_div(c.live).unwrap_or(0);
    let tactic_name = tactic
        .and_then(|i| c.tactics.get(i))
        .map(|t| t.name.as_str());
    let mut d = bars(c, tactic);
    d.push_str(&gaps(c, tactic_name));
    if tactic.is_none() {
        d.push_str(&to_fix(c));
    }
    let title = match tactic_name {
        Some(n) => format!("ATT&CK coverage · {n}"),
        None => format!(
            "ATT&CK coverage: {}/{} live techniques have a playbook ({percent}%)",
            c.with_playbook, c.live
        ),
    };
    MessageSpec {
        embeds: vec![EmbedSpec {
            title: clip(&title, limits::EMBED_TITLE),
            url: None,
            description: clip(&d, limits::EMBED_DESCRIPTION),
            footer: Some(format!(
                "MITRE ATT&CK v{} · heatmap attached · `socbot coverage --navigator FILE` for the ATT&CK Navigator",
                c.attack_version
            )),
            color: GREEN,
        }],
        ..MessageSpec::default()
    }
}

/// A bar per tactic (only `tactic`'s when asked), in a code block.
fn bars(c: &Coverage, tactic: Option<usize>) -> String {
    let mut d = String::from("```\n");
    let width = c
        .tactics
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(20);
    for (i, t) in c.tactics.iter().enumerate() {
        if tactic.is_some_and(|want| want != i) {
            continue;
        }
        d.push_str(&format!(
            "{:<width$} {} {:>3}/{:<3}{:>4}%\n",
            clip(&t.name, width),
            bar(t.with_playbook, t.live, 10),
            t.with_playbook,
            t.live,
            t.percent()
        ));
    }
    d.push_str("```\n");
    d
}

/// The techniques seen lately without a playbook (of `tactic` when asked), most seen first.
fn gaps(c: &Coverage, tactic: Option<&str>) -> String {
    let gaps: Vec<_> = c
        .gaps
        .iter()
        .filter(|g| tactic.is_none_or(|n| g.tactics.iter().any(|t| t == n)))
        .collect();
    let mut d = format!("**Seen in the last {} days without a playbook**\n", c.days);
    if gaps.is_empty() {
        d.push_str("none\n");
    }
    for g in gaps.iter().take(10) {
        d.push_str(&format!(
            "• `{}` {} · {}×\n",
            g.id,
            clip(g.name.as_deref().unwrap_or("(not in ATT&CK)"), 80),
            g.seen
        ));
    }
    if gaps.len() > 10 {
        d.push_str(&format!("… and {} more\n", gaps.len() - 10));
    }
    d
}

/// The playbooks to fix first, and how many no incident used.
fn to_fix(c: &Coverage) -> String {
    let mut d = format!(
        "\n**Playbooks to fix first** ({} incidents in {} days)\n",
        c.incidents, c.days
    );
    if c.quality.is_empty() {
        d.push_str("no incidents\n");
    }
    for q in c.quality.iter().take(5) {
        d.push_str(&format!(
            "• `{}` {}: {} incident(s), {}% escalated, {}% false positive",
            q.id,
            clip(&q.name, 60),
            q.opened,
            q.escalated_percent(),
            q.false_positive_percent()
        ));
        if let Some((n, text, times)) = &q.most_unknown {
            d.push_str(&format!("; q{n} Unknown {times}×: {}", clip(text, 80)));
        }
        d.push('\n');
    }
    d.push_str(&format!(
        "\n**Not used in {} days:** {} of {} playbooks.\n",
        c.days,
        c.unused.len(),
        c.playbooks
    ));
    d
}
