//! TheHive 5: an alert, alone (as the API returns it) or in a notification
//! (`{"operation": "Creation", "objectType": "Alert", "object": {…}}`, the webhook endpoint's
//! message).
//!
//! Techniques `procedures[].patternId`, title `title`, severity `severity` (1 low … 4
//! critical, or `severityLabel`), link `externalLink`, rule `type`; Sigma-style tags in `tags`.
//! Key: `type` + `source` + `sourceRef` (what TheHive itself keeps unique). Resolved when the
//! alert's `stage` is `Closed` or its `status` is `Ignored` or `Closed`.

use super::json::At;
use super::severity::{self, Scale};
use super::{Alert, AlertError, AlertStatus, Draft, Format, Severity, key_of};

const SEVERITIES: Scale = (Severity::from_thehive, "1 (low) to 4 (critical)");

pub(super) fn read(root: At<'_>) -> Result<Vec<Alert>, AlertError> {
    root.object("a TheHive alert")?;
    let notification = root
        .first("object")
        .filter(|_| root.first("title").is_none());
    if notification.is_some()
        && let Some(kind) = root.text("objectType")?
        && !kind.eq_ignore_ascii_case("alert")
    {
        return Err(AlertError::at(
            "objectType",
            format!(
                "this notification is about a {kind}, not an Alert: give the notification an alert trigger (AlertCreated)"
            ),
        ));
    }
    let at = match &notification {
        Some(found) => found.at(),
        None => root,
    };
    at.object("a TheHive alert")?;
    let mut d = Draft::default();
    d.techniques_from(&at, "procedures.patternId")?;
    d.tags_from(&at, "tags")?;
    d.title = at.required_text("title", "the alert's title")?;
    let kind = at.required_text("type", "the alert's type, part of the key")?;
    let source = at.required_text("source", "the alert's source, part of the key")?;
    let source_ref = at.required_text("sourceRef", "the alert's sourceRef, part of the key")?;
    d.severity = match severity::read(&at, "severity", Some(SEVERITIES))? {
        Some(s) => Some(s),
        None => severity::read(&at, "severityLabel", None)?,
    }
    .unwrap_or(Severity::Medium);
    d.link = at.text("externalLink")?;
    let stage = at.text("stage")?.unwrap_or_default();
    let status = at.text("status")?.unwrap_or_default();
    d.status = if stage.eq_ignore_ascii_case("closed")
        || status.eq_ignore_ascii_case("ignored")
        || status.eq_ignore_ascii_case("closed")
    {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    d.key = key_of(&[
        ("type", Some(&kind)),
        ("source", Some(&source)),
        ("sourceRef", Some(&source_ref)),
    ]);
    d.rule = Some(kind);
    Ok(vec![d.finish(Format::Thehive, at.value)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{ParseOptions, parse};

    fn read(body: &str) -> Result<Vec<Alert>, AlertError> {
        parse(Format::Thehive, body.as_bytes(), &ParseOptions::default())
    }

    const ALERT: &str = r#"{
        "_id": "~40964184", "_type": "Alert", "_createdBy": "integration@soc.example",
        "_createdAt": 1772359200000, "type": "edr", "source": "CrowdStrike", "sourceRef": "ldt:8a2f:9911",
        "externalLink": "https://falcon.example/activity/detections/detail/8a2f/9911",
        "title": "Credential dumping tool executed", "description": "procdump64.exe -ma lsass.exe",
        "severity": 3, "severityLabel": "HIGH", "date": 1772359195000,
        "tags": ["edr", "attack.credential_access", "attack.t1003.001"],
        "tlp": 2, "tlpLabel": "AMBER", "pap": 2, "papLabel": "AMBER",
        "follow": true, "customFields": {}, "observableCount": 3,
        "status": "New", "stage": "New",
        "procedures": [{"patternId": "T1003", "tactic": "credential-access", "occurDate": 1772359195000}]
    }"#;

    #[test]
    fn an_alert_alone_or_in_a_notification_reads() {
        let notification = format!(
            r#"{{"operation": "Creation", "details": {{}}, "objectType": "Alert", "objectId": "~40964184",
                "base": true, "startDate": 1772359200100, "rootId": "~40964184", "requestId": "a1b2",
                "object": {ALERT}, "organisationId": "~8256", "organisation": "soc"}}"#
        );
        for body in [ALERT.to_owned(), notification] {
            let a = &read(&body).unwrap()[0];
            let ids: Vec<String> = a.techniques.iter().map(ToString::to_string).collect();
            assert_eq!(ids, ["T1003", "T1003.001"]);
            assert_eq!(a.title, "Credential dumping tool executed");
            assert_eq!(a.severity, Severity::High);
            assert!(a.link.as_deref().unwrap().contains("/detections/detail/"));
            assert_eq!(
                a.key,
                r#"type="edr" source="CrowdStrike" sourceRef="ldt:8a2f:9911""#
            );
            assert_eq!(a.rule.as_deref(), Some("edr"));
            assert_eq!(a.status, AlertStatus::Firing);
        }
    }

    #[test]
    fn severities_and_closing_read() {
        let body = r#"{"type": "t", "source": "s", "sourceRef": "r", "title": "x", "severity": 4, "stage": "Closed"}"#;
        let a = &read(body).unwrap()[0];
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.status, AlertStatus::Resolved);
        let body = r#"{"type": "t", "source": "s", "sourceRef": "r", "title": "x", "severityLabel": "LOW", "status": "Ignored"}"#;
        let a = &read(body).unwrap()[0];
        assert_eq!(a.severity, Severity::Low);
        assert_eq!(a.status, AlertStatus::Resolved);
    }

    #[test]
    fn malformed_alerts_and_other_notifications_are_refused_clearly() {
        let err = read(r#"{"objectType": "Case", "object": {"title": "x"}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`objectType`: this notification is about a Case, not an Alert: give the notification an alert trigger (AlertCreated)"
        );
        let err = read(
            r#"{"objectType": "Alert", "object": {"title": "x", "type": "t", "source": "s"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "`object.sourceRef`: missing: the alert's sourceRef, part of the key"
        );
        let err =
            read(r#"{"type": "t", "source": "s", "sourceRef": "r", "title": "x", "severity": 5}"#)
                .unwrap_err()
                .to_string();
        assert!(
            err.starts_with("`severity`: unknown severity 5: use 1 (low) to 4 (critical)"),
            "{err}"
        );
    }
}
