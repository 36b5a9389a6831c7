//! The MITRE ATT&CK Enterprise catalog: every technique and sub-technique (id, name, tactics,
//! platforms, deprecated or revoked and what replaced it) and the tactics in ATT&CK's order;
//! coverage of the catalog by a playbook library, an ATT&CK Navigator layer and a heatmap
//! picture. Pure code over plain data, like [`crate::playbook`].
//!
//! socbot ships a compact catalog ([`Catalog::shipped`], `enterprise-attack.tsv` beside this
//! file, generated from MITRE's STIX data by `socbot attack import`; no description text) and
//! can load a STIX 2.1 bundle instead ([`stix::parse`], configuration key `attack.stix`).

pub mod coverage;
mod font;
pub mod heatmap;
pub mod lint;
pub mod stix;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::playbook::TechniqueId;
use crate::playbook::search::{SearchIndex, SearchItem};

/// The compact catalog compiled into socbot.
pub const SHIPPED_TSV: &str = include_str!("enterprise-attack.tsv");

/// MITRE's notice, shipped beside the catalog (and in the README).
pub const NOTICE: &str = include_str!("NOTICE.md");

/// One ATT&CK tactic (`TA0005`, `defense-evasion`, Defense Evasion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tactic {
    pub id: String,
    /// The kill-chain phase name techniques use: `defense-evasion`.
    pub shortname: String,
    pub name: String,
}

/// Whether ATT&CK still uses a technique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "replaced_by")]
pub enum Status {
    Live,
    Deprecated,
    /// Revoked, and what replaced it when ATT&CK says.
    Revoked(Option<TechniqueId>),
}

/// One technique or sub-technique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Technique {
    pub id: TechniqueId,
    /// ATT&CK's name; a sub-technique's is its own part (`Web Services`), see
    /// [`Catalog::full_name`].
    pub name: String,
    /// Indices into [`Catalog::tactics`], in ATT&CK's order.
    #[serde(skip)]
    pub tactics: Vec<usize>,
    pub platforms: Vec<String>,
    #[serde(flatten)]
    pub status: Status,
}

impl Technique {
    pub fn is_sub(&self) -> bool {
        self.id.is_sub()
    }
    pub fn is_live(&self) -> bool {
        self.status == Status::Live
    }
}

/// The whole catalog: techniques sorted by id, tactics in ATT&CK's order.
#[derive(Debug, Default)]
pub struct Catalog {
    /// The ATT&CK version, e.g. `18.1` (`unknown` when the bundle does not say).
    pub version: String,
    pub tactics: Vec<Tactic>,
    techniques: Vec<Technique>,
    by_id: HashMap<TechniqueId, usize>,
    /// Autocomplete over the live techniques (indices into `live`).
    index: SearchIndex,
    live: Vec<usize>,
}

/// A line of a compact catalog that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct CatalogError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

impl Catalog {
    /// Builds a catalog. Techniques whose tactic is not among `tactics` keep their other tactics.
    pub fn new(version: String, tactics: Vec<Tactic>, mut techniques: Vec<Technique>) -> Self {
        techniques.sort_by_key(|t| t.id);
        techniques.dedup_by_key(|t| t.id);
        for t in &mut techniques {
            t.tactics.sort_unstable();
            t.tactics.dedup();
        }
        let by_id = techniques
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, i))
            .collect();
        let mut catalog = Self {
            version,
            tactics,
            techniques,
            by_id,
            index: SearchIndex::default(),
            live: Vec::new(),
        };
        catalog.live = (0..catalog.techniques.len())
            .filter(|&i| catalog.techniques[i].is_live())
            .collect();
        let items: Vec<SearchItem> = catalog
            .live
            .iter()
            .map(|&i| {
                let t = &catalog.techniques[i];
                SearchItem {
                    id: t.id,
                    name: catalog.full_name(t),
                    tactics: catalog.tactic_names(t).map(str::to_owned).collect(),
                }
            })
            .collect();
        catalog.index = SearchIndex::build_items(&items);
        catalog
    }

    /// The catalog compiled into socbot (ATT&CK Enterprise, see [`SHIPPED_TSV`]); parsed once.
    pub fn shipped() -> Arc<Catalog> {
        static SHIPPED: OnceLock<Arc<Catalog>> = OnceLock::new();
        SHIPPED
            .get_or_init(|| {
                Arc::new(
                    Self::from_compact(SHIPPED_TSV, "enterprise-attack.tsv")
                        .expect("the shipped catalog parses (checked by its tests)"),
                )
            })
            .clone()
    }

    /// Reads a catalog file: a STIX 2.1 bundle (JSON, MITRE's enterprise-attack.json) or the
    /// compact format `socbot attack import` writes.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Catalog> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if text.trim_start().starts_with('{') {
            stix::parse(&text).with_context(|| format!("{}", path.display()))
        } else {
            Ok(Self::from_compact(&text, &path.display().to_string())?)
        }
    }

    /// Every technique, live or not, sorted by id.
    pub fn techniques(&self) -> &[Technique] {
        &self.techniques
    }

    /// The techniques ATT&CK still uses, sorted by id.
    pub fn live(&self) -> impl Iterator<Item = &Technique> {
        self.live.iter().map(|&i| &self.techniques[i])
    }

    pub fn get(&self, id: TechniqueId) -> Option<&Technique> {
        self.by_id.get(&id).map(|&i| &self.techniques[i])
    }

    /// `Acquire Infrastructure: Web Services` for a sub-technique, the name for a technique.
    pub fn full_name(&self, t: &Technique) -> String {
        match t.id.is_sub().then(|| self.get(t.id.parent())).flatten() {
            Some(parent) => format!("{}: {}", parent.name, t.name),
            None => t.name.clone(),
        }
    }

    /// The technique's tactics' names, in ATT&CK's order.
    pub fn tactic_names<'a>(&'a self, t: &'a Technique) -> impl Iterator<Item = &'a str> + 'a {
        t.tactics
            .iter()
            .filter_map(|&i| self.tactics.get(i).map(|x| x.name.as_str()))
    }

    /// A tactic by what people type: `Defense Evasion`, `defense-evasion`, `TA0005`, `defense evasion`.
    pub fn tactic(&self, input: &str) -> Option<usize> {
        let want = tactic_key(input);
        self.tactics.iter().position(|t| {
            tactic_key(&t.name) == want
                || tactic_key(&t.shortname) == want
                || t.id.eq_ignore_ascii_case(input.trim())
        })
    }

    /// Live techniques matching what has been typed, best first (as playbook autocomplete ranks).
    pub fn search(&self, query: &str, limit: usize) -> Vec<&Technique> {
        self.index
            .search(query, limit)
            .into_iter()
            .map(|i| &self.techniques[self.live[i]])
            .collect()
    }

    /// Reads the compact format written by [`Catalog::to_compact`]. `source_name` names the
    /// text in errors.
    pub fn from_compact(text: &str, source_name: &str) -> Result<Catalog, CatalogError> {
        let err = |line: usize, message: String| CatalogError {
            source_name: source_name.to_owned(),
            line,
            message,
        };
        let mut version = None;
        let mut tactics: Vec<Tactic> = Vec::new();
        let mut techniques = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let n = n + 1;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["version", v] => version = Some((*v).to_owned()),
                ["tactic", id, short, name] => tactics.push(Tactic {
                    id: (*id).to_owned(),
                    shortname: (*short).to_owned(),
                    name: (*name).to_owned(),
                }),
                [id, name, tactic_list, platforms, status] => {
                    let id = TechniqueId::parse(id).map_err(|e| err(n, e.to_string()))?;
                    let mut idx = Vec::new();
                    for short in split_list(tactic_list) {
                        let i = tactics
                            .iter()
                            .position(|t| t.shortname == short)
                            .ok_or_else(|| {
                                err(n, format!("{id}: tactic `{short}` is not declared above"))
                            })?;
                        idx.push(i);
                    }
                    let status = match *status {
                        "live" => Status::Live,
                        "deprecated" => Status::Deprecated,
                        "revoked" => Status::Revoked(None),
                        s => match s.strip_prefix("revoked:") {
                            Some(by) => Status::Revoked(Some(
                                TechniqueId::parse(by).map_err(|e| err(n, e.to_string()))?,
                            )),
                            None => {
                                return Err(err(
                                    n,
                                    format!(
                                        "{id}: status `{s}` is not live, deprecated, revoked or revoked:<id>"
                                    ),
                                ));
                            }
                        },
                    };
                    techniques.push(Technique {
                        id,
                        name: (*name).to_owned(),
                        tactics: idx,
                        platforms: split_list(platforms).map(str::to_owned).collect(),
                        status,
                    });
                }
                _ => {
                    return Err(err(
                        n,
                        format!(
                            "expected `version`, `tactic` or technique line (id, name, tactics, platforms, status separated by tabs), found {} field(s)",
                            fields.len()
                        ),
                    ));
                }
            }
        }
        if tactics.is_empty() {
            return Err(err(0, "no `tactic` line: this is not a catalog".into()));
        }
        Ok(Catalog::new(
            version.unwrap_or_else(|| "unknown".into()),
            tactics,
            techniques,
        ))
    }

    /// The compact format: a header with MITRE's notice, `version`, the tactics in ATT&CK's
    /// order, then one tab-separated line per technique.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "# MITRE ATT&CK Enterprise v{}: technique ids, names, tactics, platforms and status.\n",
            self.version
        ));
        out.push_str(
            "# Generated by `socbot attack import <enterprise-attack.json>`; do not edit.\n",
        );
        for line in NOTICE.lines().filter(|l| !l.trim().is_empty()) {
            out.push_str(&format!("# {}\n", line.trim_start_matches("# ")));
        }
        out.push_str(&format!("version\t{}\n", self.version));
        for t in &self.tactics {
            out.push_str(&format!("tactic\t{}\t{}\t{}\n", t.id, t.shortname, t.name));
        }
        for t in &self.techniques {
            let tactics: Vec<&str> = t
                .tactics
                .iter()
                .filter_map(|&i| self.tactics.get(i).map(|x| x.shortname.as_str()))
                .collect();
            let status = match t.status {
                Status::Live => "live".to_owned(),
                Status::Deprecated => "deprecated".to_owned(),
                Status::Revoked(None) => "revoked".to_owned(),
                Status::Revoked(Some(by)) => format!("revoked:{by}"),
            };
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\t{status}\n",
                t.id,
                clean(&t.name),
                tactics.join(","),
                t.platforms
                    .iter()
                    .map(|p| clean(p))
                    .collect::<Vec<_>>()
                    .join(","),
            ));
        }
        out
    }

    /// What ATT&CK says of a technique, for someone asking about it: name, tactics,
    /// platforms, status.
    pub fn describe(&self, t: &Technique) -> TechniqueInfo {
        let replaced_by = match t.status {
            Status::Revoked(Some(by)) => Some((by, self.get(by).map(|r| self.full_name(r)))),
            _ => None,
        };
        TechniqueInfo {
            id: t.id,
            name: self.full_name(t),
            tactics: self.tactic_names(t).map(str::to_owned).collect(),
            platforms: t.platforms.clone(),
            url: t.id.attack_url(),
            status: t.status,
            replaced_by,
            version: self.version.clone(),
        }
    }
}

/// A technique as shown to people (see [`Catalog::describe`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TechniqueInfo {
    pub id: TechniqueId,
    /// The full name (`Parent: Sub` for a sub-technique).
    pub name: String,
    pub tactics: Vec<String>,
    pub platforms: Vec<String>,
    pub url: String,
    #[serde(skip)]
    pub status: Status,
    /// For a revoked technique: what replaced it, with its name when the catalog knows it.
    #[serde(skip)]
    pub replaced_by: Option<(TechniqueId, Option<String>)>,
    /// The ATT&CK version the catalog is.
    #[serde(skip)]
    pub version: String,
}

impl TechniqueInfo {
    /// `revoked by ATT&CK: use T1560 (Archive Collected Data)`, or None while live.
    pub fn status_line(&self) -> Option<String> {
        match (&self.status, &self.replaced_by) {
            (Status::Live, _) => None,
            (Status::Deprecated, _) => Some("ATT&CK has deprecated this technique.".into()),
            (Status::Revoked(_), Some((by, Some(name)))) => Some(format!(
                "ATT&CK has revoked this technique: use {by} ({name})."
            )),
            (Status::Revoked(_), Some((by, None))) => {
                Some(format!("ATT&CK has revoked this technique: use {by}."))
            }
            (Status::Revoked(_), None) => Some("ATT&CK has revoked this technique.".into()),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Live => f.write_str("live"),
            Self::Deprecated => f.write_str("deprecated"),
            Self::Revoked(None) => f.write_str("revoked"),
            Self::Revoked(Some(by)) => write!(f, "revoked (replaced by {by})"),
        }
    }
}

/// `defense evasion` → `defenseevasion`: tactics compared without case, spaces or dashes.
pub fn tactic_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// Tabs, newlines and commas would break the compact format's fields.
fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ").replace(',', ";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_loads_and_round_trips() {
        let c = Catalog::shipped();
        assert_eq!(c.version, "18.1");
        assert_eq!(c.tactics.len(), 14);
        assert_eq!(c.tactics[0].name, "Reconnaissance");
        assert_eq!(c.tactics[13].name, "Impact");
        let again = Catalog::from_compact(&c.to_compact(), "again").unwrap();
        assert_eq!(again.techniques(), c.techniques());
        assert_eq!(again.tactics, c.tactics);
    }

    #[test]
    fn bad_compact_lines_name_the_line() {
        let e = Catalog::from_compact(
            "version\t1\ntactic\tTA1\tx\tX\nT1001\tA\tnope\t\tlive\n",
            "f",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("tactic `nope`"), "{e}");
        let e = Catalog::from_compact("tactic\tTA1\tx\tX\nT1001\tA\tx\t\tgone\n", "f").unwrap_err();
        assert!(e.to_string().contains("f:2:"), "{e}");
        let e = Catalog::from_compact("hello world\n", "f").unwrap_err();
        assert!(e.to_string().contains("found 1 field"), "{e}");
    }

    #[test]
    fn tactics_are_found_as_people_type_them() {
        let c = Catalog::shipped();
        let de = c.tactic("Defense Evasion").unwrap();
        assert_eq!(c.tactic("defense-evasion"), Some(de));
        assert_eq!(c.tactic("TA0005"), Some(de));
        assert_eq!(c.tactic("  DEFENSE evasion "), Some(de));
        assert_eq!(c.tactic("lunch"), None);
    }
}
