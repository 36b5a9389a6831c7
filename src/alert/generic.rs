//! The generic format, for anything that can send JSON: one object, or a list of them.
//!
//! ```json
//! {"technique": "T1059.001" or ["T1059.001", "T1003"], "title": "…", "severity": "high",
//!  "dedup_key": "…", "host": "…", "user": "…", "link": "https://…", "status": "firing",
//!  "rule": "…", "tags": ["attack.t1059.001"], "details": {…}}
//! ```
//! Only `title` is required. Without `dedup_key`, the title and host are the key. Unknown
//! fields are refused (a misspelt `techniques` would otherwise lose the technique): put
//! anything else under `details`.

use serde_json::Value;

use super::json::{At, Found, kind};
use super::{Alert, AlertError, AlertStatus, Draft, Format, Severity, key_of, severity};

const FIELDS: [&str; 11] = [
    "technique",
    "title",
    "severity",
    "dedup_key",
    "host",
    "user",
    "link",
    "status",
    "rule",
    "tags",
    "details",
];

pub(super) fn read(root: At<'_>) -> Result<Vec<Alert>, AlertError> {
    match root.value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let found = Found {
                    value,
                    path: format!("[{i}]"),
                };
                one(found.at())
            })
            .collect(),
        _ => Ok(vec![one(root)?]),
    }
}

fn one(at: At<'_>) -> Result<Alert, AlertError> {
    let Some(object) = at.as_object() else {
        return Err(AlertError::at(
            at.path(),
            format!("expected an alert object, found {}", kind(at.value)),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(AlertError::at(
            at.path_of(unknown),
            format!(
                "unknown field: the generic format has {}; put anything else under `details`",
                FIELDS.join(", ")
            ),
        ));
    }
    if let Some(details) = object.get("details")
        && !matches!(details, Value::Object(_) | Value::Null)
    {
        return Err(AlertError::at(
            at.path_of("details"),
            format!("expected an object, found {}", kind(details)),
        ));
    }
    let mut d = Draft::default();
    d.techniques_from(&at, "technique")?;
    d.tags_from(&at, "tags")?;
    d.title = at.required_text("title", "the alert's title")?;
    d.severity = severity::read(&at, "severity", None)?.unwrap_or(Severity::Medium);
    d.host = at.text("host")?;
    d.user = at.text("user")?;
    d.link = at.text("link")?;
    d.rule = at.text("rule")?;
    d.status = status(&at)?;
    d.key = match at.text("dedup_key")? {
        Some(key) => key_of(&[("dedup_key", Some(&key))]),
        None => key_of(&[("title", Some(&d.title)), ("host", d.host.as_deref())]),
    };
    Ok(d.finish(Format::Generic, at.value))
}

fn status(at: &At<'_>) -> Result<AlertStatus, AlertError> {
    let Some(word) = at.text("status")? else {
        return Ok(AlertStatus::Firing);
    };
    match word.to_ascii_lowercase().as_str() {
        "firing" | "open" | "triggered" | "trigger" | "active" | "problem" | "new" => {
            Ok(AlertStatus::Firing)
        }
        "resolved" | "resolve" | "closed" | "ok" | "recovered" => Ok(AlertStatus::Resolved),
        _ => Err(AlertError::at(
            at.path_of("status"),
            format!("unknown status `{word}`: use firing or resolved"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{ParseOptions, parse};

    fn read(body: &str) -> Result<Vec<Alert>, AlertError> {
        parse(Format::Generic, body.as_bytes(), &ParseOptions::default())
    }

    fn err(body: &str) -> String {
        read(body).unwrap_err().to_string()
    }

    #[test]
    fn every_field_reads() {
        let a = read(
            r#"{"technique": ["T1059.001", "t1003"], "title": "Encoded PowerShell",
                "severity": "High", "dedup_key": "edr-4411", "host": "web-01", "user": "bob",
                "link": "https://edr.example/a/4411", "status": "firing", "rule": "R-12",
                "tags": ["attack.t1566.001", "attack.execution"], "details": {"pid": 4242}}"#,
        )
        .unwrap();
        assert_eq!(a.len(), 1);
        let a = &a[0];
        let techniques: Vec<String> = a.techniques.iter().map(ToString::to_string).collect();
        assert_eq!(techniques, ["T1059.001", "T1003", "T1566.001"]);
        assert_eq!(a.title, "Encoded PowerShell");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.host.as_deref(), Some("web-01"));
        assert_eq!(a.user.as_deref(), Some("bob"));
        assert_eq!(a.link.as_deref(), Some("https://edr.example/a/4411"));
        assert_eq!(a.rule.as_deref(), Some("R-12"));
        assert_eq!(a.key, "dedup_key=\"edr-4411\"");
        assert_eq!(a.status, AlertStatus::Firing);
        assert!(a.payload.contains("\"pid\":4242"));
    }

    #[test]
    fn only_the_title_is_required() {
        let a =
            &read(r#"{"title": "Odd login", "host": "db-2", "status": "resolved"}"#).unwrap()[0];
        assert!(a.techniques.is_empty());
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.status, AlertStatus::Resolved);
        assert_eq!(a.key, "title=\"Odd login\" host=\"db-2\"");
        assert_eq!(
            err(r#"{"host": "db-2"}"#),
            "`title`: missing: the alert's title"
        );
    }

    #[test]
    fn a_list_is_one_alert_per_element_and_errors_name_the_element() {
        let list = read(r#"[{"title": "a"}, {"title": "b", "technique": "T1110"}]"#).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].techniques[0].to_string(), "T1110");
        assert_eq!(
            err(r#"[{"title": "a"}, {"title": "b", "severity": "purple"}]"#)
                .split(':')
                .next(),
            Some("`[1].severity`")
        );
        assert_eq!(
            err("[]"),
            "no alert in the payload: expected at least one generic alert"
        );
        assert_eq!(
            err(r#"["x"]"#),
            "`[0]`: expected an alert object, found text"
        );
    }

    #[test]
    fn malformed_payloads_say_what_and_where() {
        assert!(err("{\"title\": ").starts_with("the body is not JSON: EOF while parsing"));
        assert!(
            err(r#"{"title": "x", "techniques": "T1059"}"#).starts_with(
                "`techniques`: unknown field: the generic format has technique, title"
            )
        );
        assert_eq!(
            err(r#"{"title": {"text": "x"}}"#),
            "`title`: expected text, found an object"
        );
        assert_eq!(
            err(r#"{"title": "x", "details": "pid 4"}"#),
            "`details`: expected an object, found text"
        );
        assert_eq!(
            err(r#"{"title": "x", "status": "snoozed"}"#),
            "`status`: unknown status `snoozed`: use firing or resolved"
        );
    }

    #[test]
    fn a_technique_that_is_no_id_is_kept_as_unreadable() {
        let a = &read(r#"{"title": "x", "technique": ["PowerShell", "T1059.001"]}"#).unwrap()[0];
        assert_eq!(a.techniques.len(), 1);
        assert_eq!(a.unreadable_techniques, ["`PowerShell` at `technique[0]`"]);
    }
}
