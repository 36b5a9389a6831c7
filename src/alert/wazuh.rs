//! Wazuh: one alert as the manager writes it to `alerts.json` and hands it to an integration
//! (`<integration>` with `<alert_format>json</alert_format>`).
//!
//! Techniques `rule.mitre.id` (a list), title `rule.description`, severity `rule.level`
//! (0–15), host `agent.name`, user `data.dstuser` (else `data.srcuser`, else the Windows
//! event's target or subject user), rule `rule.id`; Sigma-style tags in `rule.groups` or
//! `tags`. Key: `rule.id` + `agent.id`. Wazuh has no "resolved": every alert fires.

use super::json::At;
use super::severity::{self, Scale};
use super::{Alert, AlertError, Draft, Format, Severity, key_of};

const LEVELS: Scale = (Severity::from_wazuh_level, "a rule level 0–15");

const USERS: [&str; 4] = [
    "data.dstuser",
    "data.srcuser",
    "data.win.eventdata.targetUserName",
    "data.win.eventdata.subjectUserName",
];

pub(super) fn read(root: At<'_>) -> Result<Vec<Alert>, AlertError> {
    root.object("a Wazuh alert")?;
    let rule_id = root.required_text("rule.id", "the rule id (`rule.id`), part of the key")?;
    let mut d = Draft::default();
    d.techniques_from(&root, "rule.mitre.id")?;
    d.tags_from(&root, "rule.groups")?;
    d.tags_from(&root, "tags")?;
    d.title = root
        .text("rule.description")?
        .unwrap_or_else(|| format!("Wazuh rule {rule_id}"));
    d.severity = severity::read(&root, "rule.level", Some(LEVELS))?.unwrap_or(Severity::Medium);
    d.host = root.text("agent.name")?;
    for path in USERS {
        if d.user.is_none() {
            d.user = root.text(path)?;
        }
    }
    let agent_id = root.text("agent.id")?;
    d.key = key_of(&[
        ("rule.id", Some(&rule_id)),
        ("agent.id", agent_id.as_deref()),
    ]);
    d.rule = Some(rule_id);
    Ok(vec![d.finish(Format::Wazuh, root.value)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertStatus, ParseOptions, parse};

    fn read(body: &str) -> Result<Vec<Alert>, AlertError> {
        parse(Format::Wazuh, body.as_bytes(), &ParseOptions::default())
    }

    const SSH: &str = r#"{
        "timestamp": "2026-03-01T10:21:07.123+0000",
        "rule": {"level": 10, "description": "sshd: brute force trying to get access to the system. Authentication failed.",
                 "id": "5712", "mitre": {"id": ["T1110"], "tactic": ["Credential Access"], "technique": ["Brute Force"]},
                 "frequency": 8, "firedtimes": 3, "mail": false,
                 "groups": ["syslog", "sshd", "authentication_failures"], "pci_dss": ["11.4", "10.2.4"]},
        "agent": {"id": "003", "name": "bastion-01", "ip": "10.0.4.7"},
        "manager": {"name": "wazuh-manager"},
        "id": "1772360467.1181523",
        "full_log": "Mar  1 10:21:05 bastion-01 sshd[2231]: Failed password for invalid user admin from 203.0.113.9 port 53122 ssh2",
        "decoder": {"parent": "sshd", "name": "sshd"},
        "data": {"srcip": "203.0.113.9", "srcport": "53122", "dstuser": "admin"},
        "location": "/var/log/auth.log"
    }"#;

    #[test]
    fn an_ssh_brute_force_alert_reads() {
        let a = &read(SSH).unwrap()[0];
        assert_eq!(a.techniques[0].to_string(), "T1110");
        assert!(a.title.starts_with("sshd: brute force"));
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.host.as_deref(), Some("bastion-01"));
        assert_eq!(a.user.as_deref(), Some("admin"));
        assert_eq!(a.rule.as_deref(), Some("5712"));
        assert_eq!(a.key, r#"rule.id="5712" agent.id="003""#);
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.link, None);
    }

    #[test]
    fn levels_band_and_windows_users_read() {
        let body = r#"{"rule": {"id": 92213, "level": 15, "description": "Executable dropped in a folder commonly used by malware",
            "mitre": {"id": ["T1105", "T1059.001"]}, "groups": ["windows", "sysmon", "attack.t1204.002"]},
            "agent": {"id": "011", "name": "WKS-114"},
            "data": {"win": {"eventdata": {"targetUserName": "j.doe", "image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"}}}}"#;
        let a = &read(body).unwrap()[0];
        let ids: Vec<String> = a.techniques.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["T1105", "T1059.001", "T1204.002"]);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.user.as_deref(), Some("j.doe"));
        assert_eq!(a.key, r#"rule.id="92213" agent.id="011""#);
    }

    #[test]
    fn malformed_alerts_name_the_field() {
        assert_eq!(
            read(r#"{"agent": {"id": "001"}}"#).unwrap_err().to_string(),
            "`rule.id`: missing: the rule id (`rule.id`), part of the key"
        );
        let err = read(r#"{"rule": {"id": "1", "level": 42}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`rule.level`: unknown severity 42: use a rule level 0–15"),
            "{err}"
        );
        assert_eq!(
            read(r#"[{"rule": {"id": "1"}}]"#).unwrap_err().to_string(),
            "expected a Wazuh alert (an object), found a list"
        );
        let a = &read(r#"{"rule": {"id": "1"}}"#).unwrap()[0];
        assert_eq!(a.title, "Wazuh rule 1");
        assert_eq!(a.key, r#"rule.id="1" agent.id="""#);
    }
}
