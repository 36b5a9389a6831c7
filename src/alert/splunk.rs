//! Splunk: the body of the webhook alert action (`result`, `sid`, `results_link`,
//! `search_name`, `owner`, `app`), where `result` is the first row of the search's results.
//!
//! Techniques from `result.annotations.mitre_attack.mitre_technique_id` (Splunk ES notables),
//! `result.annotations.mitre_attack` or `result.mitre_technique_id`: text, a list, or
//! multivalue text (one id per line); title `search_name` (else `result.search_name`, else the
//! search id), host `result.host` else `result.dest`, user `result.user`, severity
//! `result.severity` else `result.urgency`, link `results_link`; Sigma-style tags in
//! `result.tags`. Key: the search name + host (the action has no alert id: every run has a new
//! `sid`), so a search firing again for the same host joins its incident.

use super::json::At;
use super::severity::{self, Scale};
use super::{Alert, AlertError, Draft, Format, Severity, key_of};

const SEVERITIES: Scale = (Severity::from_splunk, "a Splunk severity 1–6");

const TECHNIQUES: [&str; 2] = [
    "result.annotations.mitre_attack.mitre_technique_id",
    "result.mitre_technique_id",
];

pub(super) fn read(root: At<'_>) -> Result<Vec<Alert>, AlertError> {
    root.object("a Splunk webhook body")?;
    let result = root.first("result").ok_or_else(|| {
        AlertError::at(
            "result",
            "missing: the first result row of the search (is this a Splunk webhook alert action body?)",
        )
    })?;
    let result = result.at();
    result.object("the search's first result row")?;
    let mut d = Draft::default();
    for path in TECHNIQUES {
        d.techniques_from(&root, path)?;
    }
    // Splunk ES writes `annotations.mitre_attack` as the ids themselves, or as an object.
    for (text, path) in root.texts_only("result.annotations.mitre_attack") {
        d.techniques.add_field(&text, &path);
    }
    d.tags_from(&result, "tags")?;
    let search = match root.text("search_name")? {
        Some(name) => Some(name),
        None => result.text("search_name")?,
    };
    let sid = root.text("sid")?;
    d.title = match (&search, &sid) {
        (Some(name), _) => name.clone(),
        (None, Some(sid)) => format!("Splunk alert {sid}"),
        (None, None) => {
            return Err(AlertError::at(
                "search_name",
                "missing: the alert's name (`search_name`, or at least `sid`)",
            ));
        }
    };
    d.rule = search.clone();
    d.severity = match severity::read(&result, "severity", Some(SEVERITIES))? {
        Some(s) => Some(s),
        None => severity::read(&result, "urgency", Some(SEVERITIES))?,
    }
    .unwrap_or(Severity::Medium);
    d.host = match result.text("host")? {
        Some(host) => Some(host),
        None => result.text("dest")?,
    };
    d.user = result.text("user")?;
    d.link = root.text("results_link")?;
    d.key = key_of(&[
        ("search_name", Some(search.as_deref().unwrap_or(&d.title))),
        ("host", d.host.as_deref()),
    ]);
    Ok(vec![d.finish(Format::Splunk, root.value)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertStatus, ParseOptions, parse};

    fn read(body: &str) -> Result<Vec<Alert>, AlertError> {
        parse(Format::Splunk, body.as_bytes(), &ParseOptions::default())
    }

    fn ids(a: &Alert) -> Vec<String> {
        a.techniques.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_webhook_body_reads() {
        let body = r#"{
            "result": {"_time": "1772359200", "host": "web-03", "user": "svc_backup",
                "mitre_technique_id": "T1003.001", "severity": "high", "count": "4",
                "process": "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 lsass.dmp full"},
            "sid": "scheduler__admin__search__RMD5b1f_at_1772359200_412",
            "results_link": "https://splunk.example:8000/app/search/@go?sid=scheduler__admin__search__RMD5b1f_at_1772359200_412",
            "search_name": "LSASS Memory Dump via comsvcs",
            "owner": "admin", "app": "search"
        }"#;
        let a = &read(body).unwrap()[0];
        assert_eq!(ids(a), ["T1003.001"]);
        assert_eq!(a.title, "LSASS Memory Dump via comsvcs");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.host.as_deref(), Some("web-03"));
        assert_eq!(a.user.as_deref(), Some("svc_backup"));
        assert!(a.link.as_deref().unwrap().contains("@go?sid="));
        assert_eq!(
            a.key,
            r#"search_name="LSASS Memory Dump via comsvcs" host="web-03""#
        );
        assert_eq!(a.status, AlertStatus::Firing);
    }

    #[test]
    fn techniques_as_lists_multivalue_text_and_es_annotations() {
        let list = r#"{"result": {"mitre_technique_id": ["T1059.001", "T1105"], "dest": "db-1"}, "search_name": "s"}"#;
        let a = &read(list).unwrap()[0];
        assert_eq!(ids(a), ["T1059.001", "T1105"]);
        assert_eq!(a.host.as_deref(), Some("db-1"));
        let multivalue =
            r#"{"result": {"mitre_technique_id": "T1059.001\nT1105"}, "search_name": "s"}"#;
        assert_eq!(ids(&read(multivalue).unwrap()[0]), ["T1059.001", "T1105"]);
        let es = r#"{"result": {"annotations.mitre_attack": ["T1078"],
            "annotations.mitre_attack.mitre_technique_id": ["T1078.002"],
            "urgency": "critical", "tags": "attack.t1021.001"}, "search_name": "s"}"#;
        let a = &read(es).unwrap()[0];
        assert_eq!(ids(a), ["T1078.002", "T1078", "T1021.001"]);
        assert_eq!(a.severity, Severity::Critical);
        let nested = r#"{"result": {"annotations": {"mitre_attack": {"mitre_technique_id": "T1566.002"}}}, "search_name": "s"}"#;
        assert_eq!(ids(&read(nested).unwrap()[0]), ["T1566.002"]);
    }

    #[test]
    fn a_null_search_name_falls_back_and_malformed_bodies_say_where() {
        let a =
            &read(r#"{"result": {"count": "8"}, "sid": "rt_1", "search_name": null}"#).unwrap()[0];
        assert_eq!(a.title, "Splunk alert rt_1");
        assert_eq!(
            read(r#"{"search_name": "s"}"#).unwrap_err().to_string(),
            "`result`: missing: the first result row of the search (is this a Splunk webhook alert action body?)"
        );
        assert_eq!(
            read(r#"{"result": "x", "search_name": "s"}"#)
                .unwrap_err()
                .to_string(),
            "`result`: expected the search's first result row (an object), found text"
        );
        let err = read(r#"{"result": {"severity": "9"}, "search_name": "s"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`result.severity`: unknown severity `9`: use a Splunk severity 1–6"),
            "{err}"
        );
    }
}
