//! Elastic Security: alert documents as a detection rule's action sends them (one document, a
//! list, or a list under `alerts`), with fields nested or as flattened dotted keys
//! (`"kibana.alert.rule.name"`), as the alerts index stores them.
//!
//! Techniques `kibana.alert.rule.threat[].technique[].id` and
//! `…technique[].subtechnique[].id` (entries of another `framework`, such as MITRE ATLAS, are
//! skipped), title `kibana.alert.rule.name`, severity
//! `kibana.alert.severity`, host `host.name`, user `user.name`, link `kibana.alert.url`;
//! Sigma-style tags in `kibana.alert.rule.tags` or `tags`. Key: `kibana.alert.rule.uuid` +
//! `host.name`. Resolved when `kibana.alert.status` is `recovered` or
//! `kibana.alert.workflow_status` is `closed`.

use super::json::At;
use super::severity;
use super::{Alert, AlertError, AlertStatus, Draft, Format, Severity, key_of};

const THREAT: &str = "kibana.alert.rule.threat";

pub(super) fn read(root: At<'_>) -> Result<Vec<Alert>, AlertError> {
    root.alerts(Some("alerts"))
        .iter()
        .map(|found| one(found.at()))
        .collect()
}

fn one(at: At<'_>) -> Result<Alert, AlertError> {
    at.object("an Elastic Security alert document")?;
    let mut d = Draft::default();
    // Each technique, then its sub-techniques, in the rule's order.
    for threat in at.all(THREAT) {
        let threat = threat.at();
        // Rules may map to other frameworks (MITRE ATLAS): only ATT&CK ids are techniques.
        if let Some(framework) = threat.text("framework")?
            && !framework.to_ascii_lowercase().contains("att&ck")
        {
            continue;
        }
        for technique in threat.all("technique") {
            let technique = technique.at();
            d.techniques_from(&technique, "id")?;
            d.techniques_from(&technique, "subtechnique.id")?;
        }
    }
    d.tags_from(&at, "kibana.alert.rule.tags")?;
    d.tags_from(&at, "tags")?;
    let name = at.required_text(
        "kibana.alert.rule.name",
        "the rule's name, the alert's title",
    )?;
    d.title = name.clone();
    d.rule = Some(name);
    d.severity = severity::read(&at, "kibana.alert.severity", None)?.unwrap_or(Severity::Medium);
    d.host = at.text("host.name")?;
    d.user = at.text("user.name")?;
    d.link = at.text("kibana.alert.url")?;
    let rule_uuid = at.required_text(
        "kibana.alert.rule.uuid",
        "the rule's id (`kibana.alert.rule.uuid`), part of the key",
    )?;
    d.key = key_of(&[
        ("kibana.alert.rule.uuid", Some(&rule_uuid)),
        ("host.name", d.host.as_deref()),
    ]);
    let recovered = at.text("kibana.alert.status")?.as_deref() == Some("recovered");
    let closed = at.text("kibana.alert.workflow_status")?.as_deref() == Some("closed");
    d.status = if recovered || closed {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    Ok(d.finish(Format::Elastic, at.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{ParseOptions, parse};

    fn read(body: &str) -> Result<Vec<Alert>, AlertError> {
        parse(Format::Elastic, body.as_bytes(), &ParseOptions::default())
    }

    fn ids(a: &Alert) -> Vec<String> {
        a.techniques.iter().map(ToString::to_string).collect()
    }

    const FLAT: &str = r#"{
        "@timestamp": "2026-03-01T09:14:02.511Z",
        "kibana.alert.rule.name": "Suspicious PowerShell Encoded Command",
        "kibana.alert.rule.uuid": "6f1c1a9e-3b1a-4c55-9f0b-0d4e2f1f7a21",
        "kibana.alert.rule.rule_id": "aad1c3fb-1d0e-4f6a-9f5e-8d2f0c1c7a11",
        "kibana.alert.rule.tags": ["Domain: Endpoint", "OS: Windows", "attack.t1027"],
        "kibana.alert.rule.threat": [{
            "framework": "MITRE ATT&CK",
            "tactic": {"id": "TA0002", "name": "Execution", "reference": "https://attack.mitre.org/tactics/TA0002/"},
            "technique": [{"id": "T1059", "name": "Command and Scripting Interpreter",
                "reference": "https://attack.mitre.org/techniques/T1059/",
                "subtechnique": [{"id": "T1059.001", "name": "PowerShell", "reference": "https://attack.mitre.org/techniques/T1059/001/"}]}]
        }],
        "kibana.alert.severity": "high",
        "kibana.alert.risk_score": 73,
        "kibana.alert.status": "active",
        "kibana.alert.workflow_status": "open",
        "kibana.alert.url": "https://kibana.example:5601/app/security/alerts/redirect/4f2e?index=.alerts-security.alerts-default",
        "kibana.alert.uuid": "4f2e9d7c",
        "host": {"name": "WKS-0042", "os": {"family": "windows"}},
        "user": {"name": "j.doe", "domain": "CORP"},
        "process": {"command_line": "powershell.exe -enc SQBFAFgA"}
    }"#;

    #[test]
    fn a_flattened_document_reads() {
        let a = &read(FLAT).unwrap()[0];
        assert_eq!(ids(a), ["T1059", "T1059.001", "T1027"]);
        assert_eq!(a.title, "Suspicious PowerShell Encoded Command");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.host.as_deref(), Some("WKS-0042"));
        assert_eq!(a.user.as_deref(), Some("j.doe"));
        assert!(a.link.as_deref().unwrap().contains("/alerts/redirect/4f2e"));
        assert_eq!(
            a.key,
            r#"kibana.alert.rule.uuid="6f1c1a9e-3b1a-4c55-9f0b-0d4e2f1f7a21" host.name="WKS-0042""#
        );
        assert_eq!(a.status, AlertStatus::Firing);
    }

    #[test]
    fn nested_documents_lists_and_the_alerts_wrapper_read_alike() {
        let nested = r#"{"kibana": {"alert": {"rule": {"name": "R", "uuid": "u-1",
            "threat": [{"technique": [{"id": "T1003", "subtechnique": [{"id": "T1003.001"}]}]},
                       {"framework": "MITRE ATLAS", "technique": [{"id": "AML.T0051"}]},
                       {"framework": "MITRE ATT&CK", "technique": [{"id": "T1021"}]}]},
            "severity": "critical", "status": "recovered"}},
            "host": {"name": "dc-01"}}"#;
        let a = &read(nested).unwrap()[0];
        assert_eq!(ids(a), ["T1003", "T1003.001", "T1021"]);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.status, AlertStatus::Resolved);
        let list = format!("[{nested}, {FLAT}]");
        assert_eq!(read(&list).unwrap().len(), 2);
        let wrapped = format!(r#"{{"alerts": [{nested}, {FLAT}]}}"#);
        let both = read(&wrapped).unwrap();
        assert_eq!(both[1].title, "Suspicious PowerShell Encoded Command");
        let err = read(r#"{"alerts": [{"kibana.alert.rule.uuid": "u"}]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`alerts[0].kibana.alert.rule.name`: missing: the rule's name, the alert's title"
        );
    }

    #[test]
    fn malformed_documents_name_the_field() {
        let err = read(r#"{"kibana.alert.rule.name": "R"}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`kibana.alert.rule.uuid`: missing: the rule's id (`kibana.alert.rule.uuid`), part of the key"
        );
        let err = read(r#"{"kibana.alert.rule.name": "R", "kibana.alert.rule.uuid": "u", "kibana.alert.severity": "severe-ish"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`kibana.alert.severity`: unknown severity `severe-ish`"),
            "{err}"
        );
        let err = read(r#"{"alerts": []}"#).unwrap_err().to_string();
        assert_eq!(
            err,
            "no alert in the payload: expected at least one elastic alert"
        );
        let err = read(
            r#"{"kibana.alert.rule.name": "R", "kibana.alert.rule.uuid": "u",
            "kibana.alert.rule.threat": [{"technique": [{"id": {"x": 1}}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "`kibana.alert.rule.threat[0].technique[0].id`: expected text, found an object"
        );
    }
}
