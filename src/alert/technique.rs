//! Finding ATT&CK technique ids in what products write: `T1059.001`, `t1059001`, lists,
//! comma- or newline-separated text (Splunk multivalue fields), `T1059.001 - PowerShell`, and
//! Sigma-style tags (`attack.t1059.001`).

use crate::playbook::TechniqueId;

/// Technique ids in the order found, without repeats, and the values that named none.
#[derive(Debug, Default)]
pub(crate) struct Techniques {
    pub ids: Vec<TechniqueId>,
    /// Values found where a technique belongs that hold no technique id, with their path.
    pub unreadable: Vec<String>,
}

impl Techniques {
    pub fn push(&mut self, id: TechniqueId) {
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
    }

    /// A value from a technique field: every id in it counts; one that holds none is noted.
    pub fn add_field(&mut self, text: &str, path: &str) {
        let found = ids_in(text);
        if found.is_empty() {
            self.unreadable.push(format!("`{text}` at `{path}`"));
        }
        for id in found {
            self.push(id);
        }
    }

    /// A tag: `attack.t1059.001` (Sigma) counts, any other tag is ignored. A tag value may
    /// itself be a comma-separated list.
    pub fn add_tag(&mut self, tag: &str) {
        for part in tag.split([',', ';', '\n', ' ']) {
            if let Some(id) = sigma_tag(part) {
                self.push(id);
            }
        }
    }
}

/// `attack.t1059.001` → T1059.001; anything else (`attack.execution`, `attack.g0016`) → none.
pub(crate) fn sigma_tag(tag: &str) -> Option<TechniqueId> {
    let tag = tag.trim();
    let rest = tag
        .get(..7)?
        .eq_ignore_ascii_case("attack.")
        .then(|| &tag[7..])?;
    if !rest.starts_with(['t', 'T']) {
        return None;
    }
    TechniqueId::parse(rest).ok()
}

/// Every technique id in a text. The whole text may be an id as people type it (`1059.001`,
/// `T1059001`); otherwise ids are `T` + 4 digits (+ `.` + 3 digits) standing apart from other
/// letters and digits, so `T1059.001 - PowerShell`, `T1059,T1003` and multivalue text all read.
pub(crate) fn ids_in(text: &str) -> Vec<TechniqueId> {
    if let Ok(id) = TechniqueId::parse(text) {
        return vec![id];
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // A dot before the `T` belongs to another id scheme (ATLAS `AML.T0043`), except in a
        // Sigma tag (`attack.t1059`).
        let starts_word = i == 0
            || (!bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'.')
            || (i >= 7 && bytes[i - 7..i].eq_ignore_ascii_case(b"attack."));
        if starts_word && matches!(bytes[i], b'T' | b't') {
            let digits = |from: usize, n: usize| {
                bytes.len() >= from + n && bytes[from..from + n].iter().all(u8::is_ascii_digit)
            };
            if digits(i + 1, 4) {
                let mut end = i + 5;
                if bytes.get(end) == Some(&b'.') && digits(end + 1, 3) {
                    end += 4;
                }
                // `T1059.01` or `T1059.0011` is a malformed id, not T1059.
                let ends_word = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric())
                    && !(bytes.get(end) == Some(&b'.')
                        && bytes.get(end + 1).is_some_and(u8::is_ascii_digit));
                if ends_word {
                    if let Ok(id) = TechniqueId::parse(&text[i..end])
                        && !out.contains(&id)
                    {
                        out.push(id);
                    }
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<String> {
        ids_in(text).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ids_as_products_write_them() {
        assert_eq!(ids("T1059.001"), ["T1059.001"]);
        assert_eq!(ids("t1059001"), ["T1059.001"]);
        assert_eq!(ids(" 1059.001 "), ["T1059.001"]);
        assert_eq!(ids("T1059.001 - PowerShell"), ["T1059.001"]);
        assert_eq!(ids("T1059,T1003.001"), ["T1059", "T1003.001"]);
        assert_eq!(ids("T1059\nT1003\nT1059"), ["T1059", "T1003"]);
        assert_eq!(ids("attack.t1566.001"), ["T1566.001"]);
        assert!(ids("PowerShell").is_empty());
        assert!(ids("AT10599").is_empty());
        assert!(ids("T10599").is_empty());
        assert!(ids("T1059.01").is_empty());
        assert!(ids("AML.T0043").is_empty(), "MITRE ATLAS, not ATT&CK");
        assert_eq!(ids("Attack.T1021.002 and T0855"), ["T1021.002", "T0855"]);
    }

    #[test]
    fn sigma_tags_name_techniques_and_nothing_else() {
        assert_eq!(
            sigma_tag("attack.t1059.001").unwrap().to_string(),
            "T1059.001"
        );
        assert_eq!(sigma_tag("ATTACK.T1003").unwrap().to_string(), "T1003");
        assert_eq!(sigma_tag("attack.execution"), None);
        assert_eq!(sigma_tag("attack.g0016"), None);
        assert_eq!(sigma_tag("attack.s0002"), None);
        assert_eq!(sigma_tag("cve.2021-44228"), None);
        let mut t = Techniques::default();
        t.add_tag("attack.execution, attack.t1059.001");
        t.add_tag("attack.t1059.001");
        assert_eq!(t.ids.len(), 1);
    }

    #[test]
    fn a_field_value_without_an_id_is_noted_not_dropped() {
        let mut t = Techniques::default();
        t.add_field("PowerShell", "rule.mitre.id[0]");
        t.add_field("T1059.001", "rule.mitre.id[1]");
        assert_eq!(t.ids.len(), 1);
        assert_eq!(t.unreadable, ["`PowerShell` at `rule.mitre.id[0]`"]);
    }
}
