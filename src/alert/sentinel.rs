//! Microsoft Sentinel: an incident, alone (the incidents API) or under `object` (the body of
//! the Logic Apps "Microsoft Sentinel incident" trigger, sent on by an HTTP action).
//!
//! Techniques `properties.additionalData.techniques`, title `properties.title`, severity
//! `properties.severity` (Informational, Low, Medium, High), link `properties.incidentUrl`,
//! host and user from the first `Host` and `Account` of `properties.relatedEntities`, rule the
//! first of `properties.relatedAnalyticRuleIds`; Sigma-style tags among
//! `properties.labels[].labelName`. Key: the incident's `name`. Resolved when
//! `properties.status` is `Closed`.

use super::json::At;
use super::severity;
use super::{Alert, AlertError, AlertStatus, Draft, Format, Severity, key_of};

pub(super) fn read(root: At<'_>) -> Result<Vec<Alert>, AlertError> {
    root.object("a Microsoft Sentinel incident")?;
    let wrapped = root
        .first("object")
        .filter(|_| root.first("properties").is_none());
    let at = match &wrapped {
        Some(found) => found.at(),
        None => root,
    };
    at.object("a Microsoft Sentinel incident")?;
    if at.first("properties").is_none() {
        return Err(AlertError::at(
            at.path_of("properties"),
            "missing: the incident's properties (send the incident, or the trigger body with the incident under `object`)",
        ));
    }
    let name = at.required_text("name", "the incident's name (its id), the key")?;
    let mut d = Draft::default();
    d.techniques_from(&at, "properties.additionalData.techniques")?;
    d.tags_from(&at, "properties.labels.labelName")?;
    d.title = at.required_text("properties.title", "the incident's title")?;
    d.severity = severity::read(&at, "properties.severity", None)?.unwrap_or(Severity::Medium);
    d.link = at.text("properties.incidentUrl")?;
    for entity in at.all("properties.relatedEntities") {
        let entity = entity.at();
        match entity.text("kind")?.as_deref() {
            Some("Host") if d.host.is_none() => {
                d.host = match entity.text("properties.hostName")? {
                    Some(host) => Some(host),
                    None => entity.text("properties.friendlyName")?,
                };
            }
            Some("Account") if d.user.is_none() => {
                d.user = match entity.text("properties.accountName")? {
                    Some(user) => Some(user),
                    None => entity.text("properties.friendlyName")?,
                };
            }
            _ => {}
        }
    }
    d.rule = at.text("properties.relatedAnalyticRuleIds")?;
    d.status = match at.text("properties.status")?.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("closed") => AlertStatus::Resolved,
        _ => AlertStatus::Firing,
    };
    d.key = key_of(&[("name", Some(&name))]);
    Ok(vec![d.finish(Format::Sentinel, at.value)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{ParseOptions, parse};

    fn read(body: &str) -> Result<Vec<Alert>, AlertError> {
        parse(Format::Sentinel, body.as_bytes(), &ParseOptions::default())
    }

    const INCIDENT: &str = r#"{
        "id": "/subscriptions/0000/resourceGroups/soc/providers/Microsoft.OperationalInsights/workspaces/soc-ws/providers/Microsoft.SecurityInsights/Incidents/7c1f3a52-9d0e-4b8a-a1c3-55e2d7f0b913",
        "name": "7c1f3a52-9d0e-4b8a-a1c3-55e2d7f0b913",
        "type": "Microsoft.SecurityInsights/Incidents",
        "etag": "\"0300bf09-0000-0c00-0000-65e1b2c30000\"",
        "properties": {
            "title": "Multiple failed sign-ins followed by success",
            "description": "A user had many failed sign-ins, then signed in.",
            "severity": "High",
            "status": "New",
            "owner": {"objectId": null, "email": null, "assignedTo": null, "userPrincipalName": null},
            "labels": [{"labelName": "attack.t1110.003", "labelType": "User"}],
            "incidentNumber": 4211,
            "incidentUrl": "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/subscriptions/0000/incidents/7c1f3a52",
            "providerName": "Azure Sentinel",
            "additionalData": {"alertsCount": 1, "bookmarksCount": 0, "commentsCount": 0,
                "alertProductNames": ["Azure Sentinel"], "tactics": ["CredentialAccess", "InitialAccess"],
                "techniques": ["T1110", "T1078"]},
            "relatedAnalyticRuleIds": ["/subscriptions/0000/alertRules/3f2d6a9c"],
            "relatedEntities": [
                {"kind": "Ip", "properties": {"address": "198.51.100.23", "friendlyName": "198.51.100.23"}},
                {"kind": "Account", "properties": {"accountName": "a.lee", "upnSuffix": "corp.example", "friendlyName": "a.lee"}},
                {"kind": "Host", "properties": {"hostName": "AZ-VM-07", "friendlyName": "AZ-VM-07"}}
            ]
        }
    }"#;

    #[test]
    fn an_incident_alone_or_under_object_reads() {
        let trigger = format!(
            r#"{{"objectSchemaType": "Incident", "workspaceId": "ws-1", "incidentArmId": "x", "object": {INCIDENT}}}"#
        );
        for body in [INCIDENT.to_owned(), trigger] {
            let a = &read(&body).unwrap()[0];
            let ids: Vec<String> = a.techniques.iter().map(ToString::to_string).collect();
            assert_eq!(ids, ["T1110", "T1078", "T1110.003"]);
            assert_eq!(a.title, "Multiple failed sign-ins followed by success");
            assert_eq!(a.severity, Severity::High);
            assert_eq!(a.host.as_deref(), Some("AZ-VM-07"));
            assert_eq!(a.user.as_deref(), Some("a.lee"));
            assert!(
                a.link
                    .as_deref()
                    .unwrap()
                    .starts_with("https://portal.azure.com/")
            );
            assert_eq!(a.key, r#"name="7c1f3a52-9d0e-4b8a-a1c3-55e2d7f0b913""#);
            assert_eq!(a.status, AlertStatus::Firing);
        }
    }

    #[test]
    fn informational_and_closed_read() {
        let body = r#"{"name": "n-1", "properties": {"title": "t", "severity": "Informational", "status": "Closed"}}"#;
        let a = &read(body).unwrap()[0];
        assert_eq!(a.severity, Severity::Info);
        assert_eq!(a.status, AlertStatus::Resolved);
        assert!(a.techniques.is_empty());
    }

    #[test]
    fn malformed_incidents_name_the_field() {
        assert_eq!(
            read(r#"{"object": {"name": "n"}}"#)
                .unwrap_err()
                .to_string(),
            "`object.properties`: missing: the incident's properties (send the incident, or the trigger body with the incident under `object`)"
        );
        assert_eq!(
            read(r#"{"properties": {"title": "t"}}"#)
                .unwrap_err()
                .to_string(),
            "`name`: missing: the incident's name (its id), the key"
        );
        assert_eq!(
            read(
                r#"{"object": {"name": "n", "properties": {"title": ["a"], "severity": "High"}}}"#
            )
            .unwrap()[0]
                .title,
            "a"
        );
        let err = read(r#"{"name": "n", "properties": {"title": "t", "additionalData": {"techniques": [{"id": 1}]}}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`properties.additionalData.techniques[0]`: expected text, found an object"
        );
    }
}
