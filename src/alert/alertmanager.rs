//! Prometheus Alertmanager: the webhook receiver's body (version 4), one alert per element
//! of `alerts`.
//!
//! Techniques from the label named by `alerts.technique_label` (default `mitre_technique`;
//! one id or several, comma-separated), title `annotations.summary` else `labels.alertname`,
//! severity `labels.severity`, host `labels.instance`, user `labels.user`, link
//! `generatorURL`, rule `labels.alertname`; Sigma-style tags in a `tags` label or annotation
//! (comma-separated). Key: `fingerprint`. Status: each alert's `status`.

use super::json::{At, kind};
use super::severity;
use super::{Alert, AlertError, AlertStatus, Draft, Format, ParseOptions, Severity, key_of};

pub(super) fn read(root: At<'_>, options: &ParseOptions) -> Result<Vec<Alert>, AlertError> {
    root.object("an Alertmanager webhook body")?;
    if let Some(version) = root.text("version")?
        && version != "4"
    {
        return Err(AlertError::at(
            "version",
            format!("webhook version {version} is not read: socbot reads Alertmanager's version 4"),
        ));
    }
    let Some(list) = root.as_object().and_then(|o| o.get("alerts")) else {
        return Err(AlertError::at(
            "alerts",
            "missing: the list of alerts (is this an Alertmanager webhook body?)",
        ));
    };
    if !list.is_array() {
        return Err(AlertError::at(
            "alerts",
            format!("expected a list of alerts, found {}", kind(list)),
        ));
    }
    root.alerts(Some("alerts"))
        .iter()
        .map(|found| one(found.at(), options))
        .collect()
}

fn one(at: At<'_>, options: &ParseOptions) -> Result<Alert, AlertError> {
    at.object("an alert")?;
    let label = format!("labels.{}", options.technique_label);
    let mut d = Draft::default();
    d.techniques_from(&at, &label)?;
    d.tags_from(&at, "labels.tags")?;
    d.tags_from(&at, "annotations.tags")?;
    let alertname = at.text("labels.alertname")?;
    d.title = match at.text("annotations.summary")? {
        Some(summary) => summary,
        None => alertname.clone().ok_or_else(|| {
            AlertError::at(
                at.path_of("labels.alertname"),
                "missing: a title (`annotations.summary` or `labels.alertname`)",
            )
        })?,
    };
    d.rule = alertname;
    d.severity = severity::read(&at, "labels.severity", None)?.unwrap_or(Severity::Medium);
    d.host = at.text("labels.instance")?;
    d.user = at.text("labels.user")?;
    d.link = at.text("generatorURL")?;
    let fingerprint = at.required_text("fingerprint", "the alert's fingerprint, the key")?;
    d.key = key_of(&[("fingerprint", Some(&fingerprint))]);
    d.status = match at.text("status")?.as_deref() {
        None | Some("firing") => AlertStatus::Firing,
        Some("resolved") => AlertStatus::Resolved,
        Some(other) => {
            return Err(AlertError::at(
                at.path_of("status"),
                format!("unknown status `{other}`: Alertmanager sends firing or resolved"),
            ));
        }
    };
    Ok(d.finish(Format::Alertmanager, at.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::parse;

    fn read(body: &str) -> Result<Vec<Alert>, AlertError> {
        parse(
            Format::Alertmanager,
            body.as_bytes(),
            &ParseOptions::default(),
        )
    }

    const BODY: &str = r#"{
        "version": "4", "groupKey": "{}:{alertname=\"CryptominerProcess\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "socbot",
        "groupLabels": {"alertname": "CryptominerProcess"},
        "commonLabels": {"alertname": "CryptominerProcess", "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "https://alertmanager.example",
        "alerts": [
            {"status": "firing",
             "labels": {"alertname": "CryptominerProcess", "instance": "k8s-node-4:9100", "job": "falco",
                        "severity": "critical", "mitre_technique": "T1496", "user": "www-data"},
             "annotations": {"summary": "xmrig started on k8s-node-4", "description": "Falco saw a miner."},
             "startsAt": "2026-03-01T11:02:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "https://prometheus.example/graph?g0.expr=falco_events%3E0",
             "fingerprint": "8d3f0c1a2b4e5f60"},
            {"status": "resolved",
             "labels": {"alertname": "CryptominerProcess", "instance": "k8s-node-2:9100",
                        "severity": "warning", "mitre_technique": "T1496,T1059.004"},
             "annotations": {},
             "startsAt": "2026-03-01T10:40:00Z", "endsAt": "2026-03-01T10:55:00Z",
             "generatorURL": "https://prometheus.example/graph?g0.expr=falco_events%3E0",
             "fingerprint": "1a2b3c4d5e6f7081"}
        ]
    }"#;

    #[test]
    fn each_alert_of_the_group_reads() {
        let alerts = read(BODY).unwrap();
        assert_eq!(alerts.len(), 2);
        let a = &alerts[0];
        assert_eq!(a.techniques[0].to_string(), "T1496");
        assert_eq!(a.title, "xmrig started on k8s-node-4");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.host.as_deref(), Some("k8s-node-4:9100"));
        assert_eq!(a.user.as_deref(), Some("www-data"));
        assert!(
            a.link
                .as_deref()
                .unwrap()
                .starts_with("https://prometheus.example/graph")
        );
        assert_eq!(a.key, r#"fingerprint="8d3f0c1a2b4e5f60""#);
        assert_eq!(a.status, AlertStatus::Firing);
        let b = &alerts[1];
        assert_eq!(b.title, "CryptominerProcess");
        assert_eq!(b.techniques.len(), 2);
        assert_eq!(b.severity, Severity::Medium);
        assert_eq!(b.status, AlertStatus::Resolved);
        assert!(
            b.payload.starts_with(r#"{"annotations":{}"#),
            "{}",
            b.payload
        );
    }

    #[test]
    fn the_technique_label_is_configurable() {
        let body = r#"{"version": "4", "alerts": [{"status": "firing", "fingerprint": "f",
            "labels": {"alertname": "A", "attack_id": "T1110.001", "tags": "attack.t1078,team.blue"}}]}"#;
        let options = ParseOptions {
            technique_label: "attack_id".to_owned(),
        };
        let a = &parse(Format::Alertmanager, body.as_bytes(), &options).unwrap()[0];
        let ids: Vec<String> = a.techniques.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["T1110.001", "T1078"]);
        let a = &read(body).unwrap()[0];
        assert_eq!(a.techniques.len(), 1, "only the tag without the label");
    }

    #[test]
    fn malformed_bodies_name_the_alert_and_field() {
        let err = |body: &str| read(body).unwrap_err().to_string();
        assert_eq!(
            err(r#"{"version": "4", "alerts": [{"labels": {"alertname": "A"}}]}"#),
            "`alerts[0].fingerprint`: missing: the alert's fingerprint, the key"
        );
        assert_eq!(
            err(r#"{"version": "4", "alerts": [{"fingerprint": "f", "labels": {}}]}"#),
            "`alerts[0].labels.alertname`: missing: a title (`annotations.summary` or `labels.alertname`)"
        );
        assert_eq!(
            err(
                r#"{"version": "4", "alerts": [{"fingerprint": "f", "status": "pending", "labels": {"alertname": "A"}}]}"#
            ),
            "`alerts[0].status`: unknown status `pending`: Alertmanager sends firing or resolved"
        );
        assert_eq!(
            err(r#"{"version": "3", "alerts": []}"#),
            "`version`: webhook version 3 is not read: socbot reads Alertmanager's version 4"
        );
        assert_eq!(
            err(r#"{"receiver": "x"}"#),
            "`alerts`: missing: the list of alerts (is this an Alertmanager webhook body?)"
        );
        assert_eq!(
            err(r#"{"alerts": {"fingerprint": "f"}}"#),
            "`alerts`: expected a list of alerts, found an object"
        );
    }
}
