//! Alerts from SIEM and EDR products, normalised: which ATT&CK techniques they name, what they
//! are about, how severe they are, and the key that makes a repeat join its incident. Pure: the
//! formats are functions from a JSON payload to [`Alert`]s, with no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::playbook::TechniqueId;

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
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown alert format `{s}`: use one of {}",
                    names.join(", ")
                )
            })
    }
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

/// Whether the alert is (still) firing or the product says it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    #[default]
    Firing,
    Resolved,
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
}
