//! Which incident a repeat joins: the format's key, or the fields a source's `group_by` names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Alert, key_of};

/// A field an alert can be grouped by (`alerts.sources.<name>.group_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupField {
    /// Every technique the alert names, in its order.
    Technique,
    Host,
    User,
    Title,
    /// The detection rule's name or id.
    Rule,
}

impl GroupField {
    pub const ALL: [GroupField; 5] = [
        Self::Technique,
        Self::Host,
        Self::User,
        Self::Title,
        Self::Rule,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Technique => "technique",
            Self::Host => "host",
            Self::User => "user",
            Self::Title => "title",
            Self::Rule => "rule",
        }
    }
}

impl fmt::Display for GroupField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GroupField {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        super::by_name(&Self::ALL, Self::name, s, "group_by field", "use")
    }
}

impl Alert {
    /// The key that makes a repeat join its incident: the format's own key when `group_by` is
    /// empty, else the named fields (`host="web-01" user="bob"`; a field the alert lacks counts
    /// as empty). Compare keys only between alerts of the same source.
    pub fn group_key(&self, group_by: &[GroupField]) -> String {
        if group_by.is_empty() {
            return self.key.clone();
        }
        let techniques = self
            .techniques
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let parts: Vec<(&str, Option<&str>)> = group_by
            .iter()
            .map(|field| {
                let value = match field {
                    GroupField::Technique => Some(techniques.as_str()),
                    GroupField::Host => self.host.as_deref(),
                    GroupField::User => self.user.as_deref(),
                    GroupField::Title => Some(self.title.as_str()),
                    GroupField::Rule => self.rule.as_deref(),
                };
                (field.name(), value)
            })
            .collect();
        key_of(&parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertStatus, Format, Severity};
    use crate::playbook::TechniqueId;

    fn alert(host: &str, title: &str) -> Alert {
        Alert {
            format: Format::Generic,
            techniques: vec![
                TechniqueId::new(1059, Some(1)),
                TechniqueId::new(1003, None),
            ],
            title: title.to_owned(),
            severity: Severity::High,
            host: Some(host.to_owned()),
            user: None,
            link: None,
            rule: Some("R-7".to_owned()),
            key: format!("dedup_key={title:?}"),
            status: AlertStatus::Firing,
            unreadable_techniques: Vec::new(),
            payload: String::new(),
        }
    }

    #[test]
    fn no_group_by_is_the_formats_key() {
        assert_eq!(alert("web-01", "x").group_key(&[]), "dedup_key=\"x\"");
    }

    #[test]
    fn group_by_names_the_fields_and_ignores_the_rest() {
        let by = [GroupField::Host, GroupField::Technique];
        let a = alert("web-01", "first");
        let b = alert("web-01", "second");
        assert_eq!(a.group_key(&by), b.group_key(&by));
        assert_eq!(
            a.group_key(&by),
            "host=\"web-01\" technique=\"T1059.001,T1003\""
        );
        assert_ne!(a.group_key(&by), alert("web-02", "first").group_key(&by));
        assert_eq!(a.group_key(&[GroupField::User]), "user=\"\"");
        assert_eq!(a.group_key(&[GroupField::Rule]), "rule=\"R-7\"");
    }

    #[test]
    fn values_cannot_run_into_each_other() {
        let by = [GroupField::Host, GroupField::Title];
        let a = alert("a\" title=\"b", "c");
        let b = alert("a", "b\" title=\"c");
        assert_ne!(a.group_key(&by), b.group_key(&by));
    }

    #[test]
    fn field_names_read_from_config_in_lowercase() {
        let fields: Vec<GroupField> =
            serde_json::from_str(r#"["technique","host","user","title","rule"]"#).unwrap();
        assert_eq!(fields, GroupField::ALL);
        assert_eq!("Host".parse::<GroupField>(), Ok(GroupField::Host));
        assert!(
            "hostname"
                .parse::<GroupField>()
                .unwrap_err()
                .contains("use technique, host, user, title, rule")
        );
    }
}
