//! Coverage of the ATT&CK catalog by a playbook library, and what incidents say of it: per
//! tactic, the live techniques with a playbook out of all live techniques; the techniques seen
//! lately without a playbook (the gaps that hurt); playbooks no incident used lately; per
//! playbook, how its incidents went. Also the ATT&CK Navigator layer. Pure: incidents and `now` are passed in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Catalog, Status};
use crate::incident::{Finding, Incident, NO_TECHNIQUE, Resolution};
use crate::playbook::{Library, TechniqueId};

/// What a technique's cell shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    /// The library has a playbook for it.
    Playbook,
    /// Seen in the window, and no playbook.
    SeenWithoutPlaybook,
    /// Neither.
    None,
}

impl Cell {
    /// The Navigator score: 2 playbook, 1 seen without playbook, 0 neither.
    pub const fn score(self) -> u8 {
        match self {
            Self::Playbook => 2,
            Self::SeenWithoutPlaybook => 1,
            Self::None => 0,
        }
    }
    /// The colour used by the heatmap and the Navigator layer.
    pub const fn rgb(self) -> [u8; 3] {
        match self {
            Self::Playbook => [0x2e, 0x9e, 0x5b],
            Self::SeenWithoutPlaybook => [0xe0, 0x4f, 0x3a],
            Self::None => [0xd9, 0xdd, 0xe3],
        }
    }
    pub fn hex(self) -> String {
        let [r, g, b] = self.rgb();
        format!("#{r:02x}{g:02x}{b:02x}")
    }
    pub const fn label(self) -> &'static str {
        match self {
            Self::Playbook => "playbook",
            Self::SeenWithoutPlaybook => "seen, no playbook",
            Self::None => "no playbook",
        }
    }
}

/// One tactic's coverage.
#[derive(Debug, Clone, Serialize)]
pub struct TacticCoverage {
    pub id: String,
    pub shortname: String,
    pub name: String,
    /// Live techniques (and sub-techniques) of the tactic with a playbook.
    pub with_playbook: usize,
    /// Live techniques (and sub-techniques) of the tactic.
    pub live: usize,
    /// Of these, seen in the window without a playbook.
    pub seen_without_playbook: usize,
    /// Every live technique of the tactic in id order, with its cell.
    #[serde(skip)]
    pub cells: Vec<(TechniqueId, Cell)>,
}

impl TacticCoverage {
    /// Whole percent with a playbook.
    pub fn percent(&self) -> usize {
        (self.with_playbook * 100)
            .checked_div(self.live)
            .unwrap_or(0)
    }
}

/// A technique seen in the window without a playbook.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub id: TechniqueId,
    /// ATT&CK's (full) name, or None when the catalog does not know the id.
    pub name: Option<String>,
    pub tactics: Vec<String>,
    /// Incidents (and, once recorded with them, alerts) in the window.
    pub seen: usize,
}

/// How one playbook's incidents went in the window.
#[derive(Debug, Clone, Serialize)]
pub struct PlaybookQuality {
    pub id: TechniqueId,
    pub name: String,
    pub opened: usize,
    pub escalated: usize,
    pub false_positive: usize,
    /// The question most often answered Unknown: number (1-based), text, how many times.
    pub most_unknown: Option<(usize, String, usize)>,
}

impl PlaybookQuality {
    pub fn escalated_percent(&self) -> usize {
        (self.escalated * 100).checked_div(self.opened).unwrap_or(0)
    }
    pub fn false_positive_percent(&self) -> usize {
        (self.false_positive * 100)
            .checked_div(self.opened)
            .unwrap_or(0)
    }
}

/// The whole picture.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub attack_version: String,
    pub days: u32,
    pub since: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// Per tactic, in ATT&CK's order.
    pub tactics: Vec<TacticCoverage>,
    /// Distinct live techniques with a playbook / all live techniques.
    pub with_playbook: usize,
    pub live: usize,
    /// Incidents opened in the window.
    pub incidents: usize,
    /// Playbooks in the library.
    pub playbooks: usize,
    /// Seen without a playbook, most seen first.
    pub gaps: Vec<Gap>,
    /// Playbooks no incident of the window used, in id order.
    pub unused: Vec<(TechniqueId, String)>,
    /// Playbooks with incidents in the window, the ones to fix first first.
    pub quality: Vec<PlaybookQuality>,
    /// Playbooks whose technique is not live in ATT&CK (revoked, deprecated, unknown): not counted.
    pub outside_catalog: Vec<TechniqueId>,
    /// Cell of every live technique.
    #[serde(skip)]
    pub cells: HashMap<TechniqueId, Cell>,
}

/// The techniques incidents opened at or after `since` were about, with how many incidents
/// each. The one place that gathers "seen": an incident that records more techniques (its
/// alert's) adds them here.
pub fn seen_techniques(
    incidents: &[Incident],
    since: DateTime<Utc>,
) -> BTreeMap<TechniqueId, usize> {
    let mut seen = BTreeMap::new();
    for inc in incidents.iter().filter(|i| i.opened_at >= since) {
        // The incident's own technique, then every technique its alerts named, once each.
        let mut named: Vec<TechniqueId> = vec![inc.technique];
        named.extend(inc.techniques.iter().copied());
        named.sort_unstable();
        named.dedup();
        for id in named.into_iter().filter(|id| *id != NO_TECHNIQUE) {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

/// Techniques seen without a playbook, most seen first.
fn gaps(
    catalog: &Catalog,
    library: &Library,
    seen: &std::collections::BTreeMap<TechniqueId, usize>,
) -> Vec<Gap> {
    let mut gaps: Vec<Gap> = seen
        .iter()
        .filter(|(id, _)| library.get(**id).is_none())
        .map(|(&id, &n)| {
            let t = catalog.get(id);
            Gap {
                id,
                name: t.map(|t| catalog.full_name(t)),
                tactics: t
                    .map(|t| catalog.tactic_names(t).map(str::to_owned).collect())
                    .unwrap_or_default(),
                seen: n,
            }
        })
        .collect();
    gaps.sort_by(|a, b| b.seen.cmp(&a.seen).then(a.id.cmp(&b.id)));
    gaps
}

/// Computes coverage over the last `days` days before `now`.
pub fn compute(
    catalog: &Catalog,
    library: &Library,
    incidents: &[Incident],
    days: u32,
    now: DateTime<Utc>,
) -> Coverage {
    let since = now - Duration::days(i64::from(days));
    let seen = seen_techniques(incidents, since);
    let cell = |id: TechniqueId| {
        if library.get(id).is_some() {
            Cell::Playbook
        } else if seen.contains_key(&id) {
            Cell::SeenWithoutPlaybook
        } else {
            Cell::None
        }
    };
    let mut cells = HashMap::new();
    let mut tactics: Vec<TacticCoverage> = catalog
        .tactics
        .iter()
        .map(|t| TacticCoverage {
            id: t.id.clone(),
            shortname: t.shortname.clone(),
            name: t.name.clone(),
            with_playbook: 0,
            live: 0,
            seen_without_playbook: 0,
            cells: Vec::new(),
        })
        .collect();
    let (mut with_playbook, mut live) = (0, 0);
    for t in catalog.live() {
        let c = cell(t.id);
        cells.insert(t.id, c);
        live += 1;
        with_playbook += usize::from(c == Cell::Playbook);
        for &i in &t.tactics {
            let Some(tc) = tactics.get_mut(i) else {
                continue;
            };
            tc.live += 1;
            tc.with_playbook += usize::from(c == Cell::Playbook);
            tc.seen_without_playbook += usize::from(c == Cell::SeenWithoutPlaybook);
            tc.cells.push((t.id, c));
        }
    }
    let gaps = gaps(catalog, library, &seen);
    let used: std::collections::HashSet<TechniqueId> = incidents
        .iter()
        .filter(|i| i.opened_at >= since)
        .map(|i| i.technique)
        .collect();
    let unused = library
        .iter()
        .filter(|p| !used.contains(&p.id))
        .map(|p| (p.id, p.name.clone()))
        .collect();
    let outside_catalog = library
        .iter()
        .filter(|p| catalog.get(p.id).is_none_or(|t| t.status != Status::Live))
        .map(|p| p.id)
        .collect();
    let window: Vec<&Incident> = incidents.iter().filter(|i| i.opened_at >= since).collect();
    Coverage {
        attack_version: catalog.version.clone(),
        days,
        since,
        generated_at: now,
        tactics,
        with_playbook,
        live,
        incidents: window.len(),
        playbooks: library.len(),
        gaps,
        unused,
        quality: quality(library, &window),
        outside_catalog,
        cells,
    }
}

/// Per playbook (technique) with incidents: opened, escalated, false positives, and the
/// question answered Unknown most often. Sorted: highest false-positive share, then the most
/// Unknown answers, then the most incidents.
fn quality(library: &Library, incidents: &[&Incident]) -> Vec<PlaybookQuality> {
    struct Acc {
        opened: usize,
        escalated: usize,
        false_positive: usize,
        unknown: BTreeMap<usize, (String, usize)>,
    }
    let mut by: BTreeMap<TechniqueId, Acc> = BTreeMap::new();
    let mut names: HashMap<TechniqueId, String> = HashMap::new();
    // Per playbook: incidents on a technique the library has no playbook for are gaps, not this.
    for inc in incidents
        .iter()
        .filter(|i| library.get(i.technique).is_some())
    {
        names
            .entry(inc.technique)
            .or_insert_with(|| inc.playbook_name.clone());
        let a = by.entry(inc.technique).or_insert(Acc {
            opened: 0,
            escalated: 0,
            false_positive: 0,
            unknown: BTreeMap::new(),
        });
        a.opened += 1;
        a.escalated += usize::from(inc.escalation.is_some());
        a.false_positive += usize::from(
            inc.closed
                .as_ref()
                .is_some_and(|c| c.resolution == Resolution::FalsePositive),
        );
        for (i, answer) in inc.answers.iter().enumerate() {
            if answer
                .as_ref()
                .is_some_and(|x| x.finding == Finding::Unknown)
            {
                let text = inc.questions.get(i).cloned().unwrap_or_default();
                a.unknown.entry(i + 1).or_insert((text, 0)).1 += 1;
            }
        }
    }
    let mut out: Vec<PlaybookQuality> = by
        .into_iter()
        .map(|(id, a)| {
            let most_unknown = a
                .unknown
                .into_iter()
                .max_by(|x, y| x.1.1.cmp(&y.1.1).then(y.0.cmp(&x.0)))
                .map(|(q, (text, n))| (q, text, n));
            PlaybookQuality {
                id,
                name: library
                    .get(id)
                    .map(|p| p.name.clone())
                    .or_else(|| names.get(&id).cloned())
                    .unwrap_or_default(),
                opened: a.opened,
                escalated: a.escalated,
                false_positive: a.false_positive,
                most_unknown,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (b.false_positive * a.opened)
            .cmp(&(a.false_positive * b.opened))
            .then_with(|| {
                let u = |q: &PlaybookQuality| q.most_unknown.as_ref().map_or(0, |m| m.2);
                u(b).cmp(&u(a))
            })
            .then(b.opened.cmp(&a.opened))
            .then(a.id.cmp(&b.id))
    });
    out
}

/// `████████░░░░░░░░` for `part` of `whole`, `width` characters.
pub fn bar(part: usize, whole: usize, width: usize) -> String {
    let filled = (part * width).checked_div(whole).unwrap_or(0);
    let filled = if part > 0 { filled.max(1) } else { filled };
    format!(
        "{}{}",
        "█".repeat(filled.min(width)),
        "░".repeat(width - filled.min(width))
    )
}

impl Coverage {
    /// The plain-text report (terminal, console): bars per tactic, gaps, unused playbooks and
    /// playbook quality. `tactic`: only that tactic's row and gaps.
    pub fn text(&self, tactic: Option<usize>) -> String {
        let mut out = format!(
            "ATT&CK Enterprise v{} coverage: {}/{} live techniques have a playbook ({}%)\n\n",
            self.attack_version,
            self.with_playbook,
            self.live,
            (self.with_playbook * 100)
                .checked_div(self.live)
                .unwrap_or(0)
        );
        let width = self
            .tactics
            .iter()
            .map(|t| t.name.chars().count())
            .max()
            .unwrap_or(0);
        for (i, t) in self.tactics.iter().enumerate() {
            if tactic.is_some_and(|want| want != i) {
                continue;
            }
            out.push_str(&format!(
                "{:<width$}  {}  {:>3}/{:<3} {:>3}%{}\n",
                t.name,
                bar(t.with_playbook, t.live, 20),
                t.with_playbook,
                t.live,
                t.percent(),
                if t.seen_without_playbook > 0 {
                    format!("  ({} seen without playbook)", t.seen_without_playbook)
                } else {
                    String::new()
                }
            ));
        }
        out.push_str(&self.gaps_text(tactic));
        if tactic.is_none() {
            out.push_str(&format!(
                "\nPlaybooks not used in the last {} days: {} of {}\n",
                self.days,
                self.unused.len(),
                self.playbooks
            ));
            for (id, name) in self.unused.iter().take(15) {
                out.push_str(&format!("  {:<10} {name}\n", id.to_string()));
            }
            if self.unused.len() > 15 {
                out.push_str(&format!("  … and {} more\n", self.unused.len() - 15));
            }
            out.push_str(&self.quality_text());
        }
        out
    }

    /// The techniques seen lately without a playbook (within `tactic` when given), 25 at most.
    fn gaps_text(&self, tactic: Option<usize>) -> String {
        let mut out = String::new();
        let tactic_name = tactic
            .and_then(|i| self.tactics.get(i))
            .map(|t| t.name.as_str());
        let gaps: Vec<&Gap> = self
            .gaps
            .iter()
            .filter(|g| tactic_name.is_none_or(|n| g.tactics.iter().any(|t| t == n)))
            .collect();
        out.push_str(&format!(
            "\nSeen in the last {} days without a playbook ({} incident(s) in all):\n",
            self.days, self.incidents
        ));
        if gaps.is_empty() {
            out.push_str("  none\n");
        }
        let more = gaps.len().saturating_sub(25);
        for g in gaps.into_iter().take(25) {
            out.push_str(&format!(
                "  {:<10} {:>3}×  {}{}\n",
                g.id.to_string(),
                g.seen,
                g.name.as_deref().unwrap_or("(not in ATT&CK)"),
                if g.tactics.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", g.tactics.join(", "))
                }
            ));
        }
        if more > 0 {
            out.push_str(&format!(
                "  … and {more} more (socbot coverage --json lists them all)\n"
            ));
        }
        out
    }

    /// Playbook quality, the ones to fix first first.
    pub fn quality_text(&self) -> String {
        let mut out = format!(
            "\nPlaybook quality (incidents in the last {} days):\n",
            self.days
        );
        if self.quality.is_empty() {
            out.push_str("  no incidents\n");
        }
        for q in self.quality.iter().take(15) {
            out.push_str(&format!(
                "  {:<10} {}: {} incident(s), {}% escalated, {}% false positive",
                q.id.to_string(),
                q.name,
                q.opened,
                q.escalated_percent(),
                q.false_positive_percent()
            ));
            if let Some((n, text, times)) = &q.most_unknown {
                out.push_str(&format!("; q{n} answered Unknown {times}×: {text}"));
            }
            out.push('\n');
        }
        if self.quality.len() > 15 {
            out.push_str(&format!(
                "  … and {} more (socbot coverage --playbooks --json lists them all)\n",
                self.quality.len() - 15
            ));
        }
        out
    }

    /// An ATT&CK Navigator layer (format 4.5, domain `enterprise-attack`): every live technique
    /// scored 2 (playbook), 1 (seen without playbook) or 0, coloured as the heatmap.
    pub fn navigator_layer(&self, catalog: &Catalog) -> Value {
        let major = self
            .attack_version
            .split('.')
            .next()
            .unwrap_or(&self.attack_version)
            .to_owned();
        let mut techniques = Vec::new();
        for t in catalog.live() {
            let c = self.cells.get(&t.id).copied().unwrap_or(Cell::None);
            // Open a parent when one of its sub-techniques is not plain.
            let show_subs = !t.is_sub()
                && catalog.live().any(|s| {
                    s.id.is_sub()
                        && s.id.parent() == t.id
                        && self.cells.get(&s.id).is_some_and(|c| *c != Cell::None)
                });
            techniques.push(json!({
                "techniqueID": t.id.to_string(),
                "score": c.score(),
                "color": if c == Cell::None { String::new() } else { c.hex() },
                "comment": c.label(),
                "enabled": true,
                "metadata": [],
                "links": [],
                "showSubtechniques": show_subs,
            }));
        }
        json!({
            "name": "socbot playbook coverage",
            "versions": {"attack": major, "navigator": "5.1.0", "layer": "4.5"},
            "domain": "enterprise-attack",
            "description": format!(
                "Techniques with a socbot playbook (score 2), seen in incidents in the {} days to {} without one (1), neither (0). ATT&CK v{}.",
                self.days,
                self.generated_at.format("%Y-%m-%d"),
                self.attack_version
            ),
            "filters": {"platforms": platforms(catalog)},
            "sorting": 0,
            "layout": {
                "layout": "side",
                "aggregateFunction": "average",
                "showID": true,
                "showName": true,
                "showAggregateScores": false,
                "countUnscored": false,
                "expandedSubtechniques": "none"
            },
            "hideDisabled": false,
            "techniques": techniques,
            "gradient": {
                "colors": [Cell::None.hex(), Cell::SeenWithoutPlaybook.hex(), Cell::Playbook.hex()],
                "minValue": 0,
                "maxValue": 2
            },
            "legendItems": [
                {"label": "playbook", "color": Cell::Playbook.hex()},
                {"label": "seen without playbook", "color": Cell::SeenWithoutPlaybook.hex()},
                {"label": "no playbook", "color": Cell::None.hex()}
            ],
            "metadata": [],
            "links": [],
            "showTacticRowBackground": false,
            "tacticRowBackground": "#dddddd",
            "selectTechniquesAcrossTactics": true,
            "selectSubtechniquesWithParent": false,
            "selectVisibleTechniques": false
        })
    }
}

/// Every platform of the live techniques, sorted.
fn platforms(catalog: &Catalog) -> Vec<String> {
    let mut all: Vec<String> = catalog
        .live()
        .flat_map(|t| t.platforms.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}
