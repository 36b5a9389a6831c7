//! Alerts from SIEM and EDR products, normalised: which ATT&CK techniques they name, what they
//! are about, how severe they are, and the key that makes a repeat join its incident. Pure: the
//! formats are functions from a JSON payload to [`Alert`]s, with no I/O.
//!
//! [`parse`] reads a request body in one [`Format`]; [`Alert::playbook_choice`] picks the
//! playbook, [`Alert::group_key`] (with [`group::GroupField`]) says which incident a repeat
//! joins, and [`storm::StormWindow`] contains floods.

mod alertmanager;
mod elastic;
mod generic;
pub mod group;
mod json;
mod sentinel;
mod severity;
mod splunk;
pub mod storm;
mod technique;
mod thehive;
mod wazuh;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::playbook::TechniqueId;
use json::At;
use technique::Techniques;

/// The most of an alert's own JSON kept with it (for `/incident export`), in bytes.
pub const PAYLOAD_MAX: usize = 64 * 1024;

/// The payload formats socbot reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Wazuh,
    Elastic,
    Splunk,
    Sentinel,
    Thehive,
    Alertmanager,
    Generic,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Self::Wazuh,
        Self::Elastic,
        Self::Splunk,
        Self::Sentinel,
        Self::Thehive,
        Self::Alertmanager,
        Self::Generic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Wazuh => "wazuh",
            Self::Elastic => "elastic",
            Self::Splunk => "splunk",
            Self::Sentinel => "sentinel",
            Self::Thehive => "thehive",
            Self::Alertmanager => "alertmanager",
            Self::Generic => "generic",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&Self::ALL, Self::name, s, "alert format", "use one of")
    }
}

/// The one of `all` whose name is `typed` (any case, trimmed), or a message naming them all
/// (`unknown {what} `typed`: {choose} a, b, c`).
pub(crate) fn by_name<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    typed: &str,
    what: &str,
    choose: &str,
) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| name(*v).eq_ignore_ascii_case(typed.trim()))
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            format!("unknown {what} `{typed}`: {choose} {}", names.join(", "))
        })
}

/// Severity, normalised across products. Ordered: `Info < Low < … < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the alert is (still) firing or the product says it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    #[default]
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn name(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One alert, normalised from any format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub format: Format,
    /// Every ATT&CK technique the alert names, in the alert's order, without repeats.
    pub techniques: Vec<TechniqueId>,
    pub title: String,
    pub severity: Severity,
    pub host: Option<String>,
    pub user: Option<String>,
    pub link: Option<String>,
    /// The detection rule's name or id, when the format has one (for `group_by = ["rule"]`).
    pub rule: Option<String>,
    /// The format's grouping key (e.g. wazuh `rule.id` + `agent.id`): a repeat has the same key.
    pub key: String,
    pub status: AlertStatus,
    /// Values found where a technique id belongs that hold none (`` `PowerShell` at
    /// `rule.mitre.id[0]` ``): shown, never a reason to refuse the alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_techniques: Vec<String>,
    /// This alert's own JSON as received (compact, keys sorted), cut at [`PAYLOAD_MAX`] bytes with a note
    /// saying so: what `/incident export` shows of it.
    #[serde(default)]
    pub payload: String,
}

/// What a format needs beyond the body: per-source settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Alertmanager: the label holding the technique id(s) (`alerts.technique_label`).
    pub technique_label: String,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            technique_label: "mitre_technique".to_owned(),
        }
    }
}

/// Why a payload cannot be read: what is missing or malformed, and where (a JSON path such as
/// `alerts[2].labels.severity`; empty for the payload as a whole). Its text is what the sender
/// gets back in the HTTP 400 body and what `socbot alert test` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AlertError {
    pub path: String,
    pub message: String,
}

impl AlertError {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An error about the payload as a whole.
    pub fn whole(message: impl Into<String>) -> Self {
        Self::at("", message)
    }
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

/// Reads a request body in `format`: one [`Alert`] per alert in the payload, in order. Any
/// part that cannot be read makes the whole payload an error (nothing is half accepted).
pub fn parse(
    format: Format,
    body: &[u8],
    options: &ParseOptions,
) -> Result<Vec<Alert>, AlertError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AlertError::whole(format!("the body is not JSON: {e}")))?;
    let root = At::root(&value);
    let alerts = match format {
        Format::Wazuh => wazuh::read(root)?,
        Format::Elastic => elastic::read(root)?,
        Format::Splunk => splunk::read(root)?,
        Format::Sentinel => sentinel::read(root)?,
        Format::Thehive => thehive::read(root)?,
        Format::Alertmanager => alertmanager::read(root, options)?,
        Format::Generic => generic::read(root)?,
    };
    if alerts.is_empty() {
        return Err(AlertError::whole(format!(
            "no alert in the payload: expected at least one {format} alert"
        )));
    }
    Ok(alerts)
}

impl Alert {
    /// The technique whose playbook this alert should open, given which techniques have one:
    /// the most specific first (a sub-technique with its own playbook before any parent), then
    /// the alert's order. A sub-technique without its own playbook falls back to its parent's,
    /// as `/playbook` does; the id returned is then the parent's (the playbook's own id).
    pub fn playbook_choice(
        &self,
        has_playbook: impl Fn(TechniqueId) -> bool,
    ) -> Option<TechniqueId> {
        let own_sub = self
            .techniques
            .iter()
            .copied()
            .find(|t| t.is_sub() && has_playbook(*t));
        own_sub.or_else(|| {
            self.techniques
                .iter()
                .map(|t| t.parent())
                .find(|p| has_playbook(*p))
        })
    }
}

/// What every format builds before it becomes an [`Alert`].
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub techniques: Techniques,
    pub title: String,
    pub severity: Severity,
    pub host: Option<String>,
    pub user: Option<String>,
    pub link: Option<String>,
    pub rule: Option<String>,
    pub key: String,
    pub status: AlertStatus,
}

impl Draft {
    /// Technique ids from every value at `rel` below `at` (text, lists, multivalue text).
    pub fn techniques_from(&mut self, at: &At<'_>, rel: &str) -> Result<(), AlertError> {
        for (text, path) in at.texts(rel)? {
            self.techniques.add_field(&text, &path);
        }
        Ok(())
    }

    /// Sigma-style `attack.t…` tags from every value at `rel` below `at`.
    pub fn tags_from(&mut self, at: &At<'_>, rel: &str) -> Result<(), AlertError> {
        for (text, _) in at.texts(rel)? {
            self.techniques.add_tag(&text);
        }
        Ok(())
    }

    /// The alert, keeping `raw` (this alert's JSON) as its payload.
    pub fn finish(self, format: Format, raw: &Value) -> Alert {
        Alert {
            format,
            techniques: self.techniques.ids,
            title: self.title,
            severity: self.severity,
            host: self.host,
            user: self.user,
            link: self.link,
            rule: self.rule,
            key: self.key,
            status: self.status,
            unreadable_techniques: self.techniques.unreadable,
            payload: capped_payload(raw),
        }
    }
}

/// `raw` as compact JSON, cut at [`PAYLOAD_MAX`] bytes (on a character boundary) with a note.
fn capped_payload(raw: &Value) -> String {
    let mut text = raw.to_string();
    if text.len() > PAYLOAD_MAX {
        let total = text.len();
        let note = format!(" … [cut: {total} bytes received, {PAYLOAD_MAX} kept]");
        let mut cut = PAYLOAD_MAX - note.len();
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(&note);
    }
    text
}

/// A grouping key from named parts: `rule.id="5710" agent.id="001"`. Values are quoted and
/// escaped, so two different alerts never share a key by accident.
pub(crate) fn key_of(parts: &[(&str, Option<&str>)]) -> String {
    parts
        .iter()
        .map(|(name, value)| format!("{name}={:?}", value.unwrap_or("")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TechniqueId {
        TechniqueId::parse(s).unwrap()
    }

    fn naming(techniques: &[&str]) -> Alert {
        let body = serde_json::json!({"title": "x", "technique": techniques}).to_string();
        parse(Format::Generic, body.as_bytes(), &ParseOptions::default())
            .unwrap()
            .remove(0)
    }

    fn choice(techniques: &[&str], playbooks: &[&str]) -> Option<String> {
        let have: Vec<TechniqueId> = playbooks.iter().map(|p| t(p)).collect();
        naming(techniques)
            .playbook_choice(|id| have.contains(&id))
            .map(|id| id.to_string())
    }

    #[test]
    fn the_most_specific_technique_with_a_playbook_wins() {
        let all = ["T1059", "T1059.001", "T1003", "T1003.001"];
        assert_eq!(
            choice(&["T1059", "T1059.001"], &all).as_deref(),
            Some("T1059.001")
        );
        assert_eq!(
            choice(&["T1003", "T1059.001"], &all).as_deref(),
            Some("T1059.001")
        );
        assert_eq!(
            choice(&["T1059.001", "T1003.001"], &all).as_deref(),
            Some("T1059.001")
        );
        assert_eq!(
            choice(&["T1003.001", "T1059.001"], &all).as_deref(),
            Some("T1003.001")
        );
    }

    #[test]
    fn a_sub_technique_without_its_own_playbook_falls_back_to_its_parents() {
        let have = ["T1059", "T1003.001", "T1110"];
        // An own sub-technique playbook comes before any parent's.
        assert_eq!(
            choice(&["T1059.001", "T1003.001"], &have).as_deref(),
            Some("T1003.001")
        );
        // Then parents in the alert's order, whether named or reached from a sub-technique.
        assert_eq!(
            choice(&["T1059.001", "T1110"], &have).as_deref(),
            Some("T1059")
        );
        assert_eq!(
            choice(&["T1110", "T1059.001"], &have).as_deref(),
            Some("T1110")
        );
        assert_eq!(choice(&["T1566.001", "T1204"], &have), None);
        assert_eq!(choice(&[], &have), None);
    }

    #[test]
    fn the_parent_fallback_matches_what_the_library_looks_up() {
        use crate::playbook::{Library, Lookup};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
        let (library, _) = Library::load_dir(&dir).unwrap();
        let pb = library.iter().next().unwrap().id;
        let alert = naming(&["T1566", &pb.to_string()]);
        let chosen = alert
            .playbook_choice(|id| library.get(id).is_some())
            .unwrap();
        assert_eq!(chosen, pb);
        assert!(matches!(
            library.lookup(&chosen.to_string()),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn formats_read_by_name() {
        assert_eq!("Wazuh".parse::<Format>(), Ok(Format::Wazuh));
        assert!(
            "qradar"
                .parse::<Format>()
                .unwrap_err()
                .contains("wazuh, elastic, splunk")
        );
    }

    #[test]
    fn a_huge_payload_is_cut_with_a_note_on_a_char_boundary() {
        let details: String = "é".repeat(PAYLOAD_MAX);
        let body = serde_json::json!({"title": "x", "details": {"blob": details}}).to_string();
        let a = parse(Format::Generic, body.as_bytes(), &ParseOptions::default()).unwrap();
        assert!(a[0].payload.len() <= PAYLOAD_MAX);
        assert!(
            a[0].payload
                .ends_with(&format!("bytes received, {PAYLOAD_MAX} kept]"))
        );
        let small = parse(
            Format::Generic,
            br#"{"title": "x"}"#,
            &ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(small[0].payload, r#"{"title":"x"}"#);
    }
}

/// Every fixture payload with each of its values replaced in turn by values of other kinds:
/// the formats answer Ok or a located error, and never panic.
#[cfg(test)]
mod robustness {
    use std::path::Path;

    use serde_json::{Value, json};

    use super::*;

    /// Calls `f` with a copy of `value` where the node at each position is replaced by `by`.
    fn each_replacement(value: &Value, by: &Value, f: &mut dyn FnMut(&Value)) {
        let mut paths = Vec::new();
        collect_paths(value, &mut Vec::new(), &mut paths);
        for path in paths {
            let mut copy = value.clone();
            let mut node = &mut copy;
            for step in &path {
                node = match step {
                    Step::Key(k) => node.get_mut(k.as_str()).unwrap(),
                    Step::Index(i) => node.get_mut(*i).unwrap(),
                };
            }
            *node = by.clone();
            f(&copy);
        }
    }

    #[derive(Clone)]
    enum Step {
        Key(String),
        Index(usize),
    }

    fn collect_paths(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    at.push(Step::Key(k.clone()));
                    collect_paths(v, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    at.push(Step::Index(i));
                    collect_paths(v, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }

    #[test]
    fn no_value_of_any_kind_anywhere_makes_a_format_panic() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alerts");
        let replacements = [
            Value::Null,
            json!(0),
            json!(-1),
            json!(1.5e300),
            json!(true),
            json!(""),
            json!("T1059.001"),
            json!("attack.t1003.001, é\u{0}T"),
            json!([]),
            json!([null, {"id": ["T1"]}]),
            json!({}),
            json!({"id": {"id": 7}}),
        ];
        let mut runs = 0;
        for format in Format::ALL {
            let dir = root.join(format.name());
            for entry in std::fs::read_dir(&dir).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                let value: Value = serde_json::from_str(&text).unwrap();
                for by in &replacements {
                    each_replacement(&value, by, &mut |payload| {
                        let body = payload.to_string();
                        for f in Format::ALL {
                            match parse(f, body.as_bytes(), &ParseOptions::default()) {
                                Ok(alerts) => assert!(!alerts.is_empty()),
                                Err(e) => assert!(!e.message.is_empty()),
                            }
                            runs += 1;
                        }
                    });
                }
            }
        }
        assert!(runs > 10_000, "{runs} payloads tried");
    }
}
