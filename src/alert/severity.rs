//! Severities as products write them, normalised to info, low, medium, high, critical.

use serde_json::Value;

use super::json::{At, kind};
use super::{AlertError, Severity};

/// The words accepted for a severity, for messages.
pub(crate) const WORDS: &str = "info, low, medium, high, critical (also informational, warning, \
     moderate, error, major, severe, fatal, emergency, P1–P5, sev1–sev5)";

impl Severity {
    /// A severity word, as products and people write it (case ignored).
    pub fn from_word(word: &str) -> Option<Self> {
        let w = word.trim().to_ascii_lowercase();
        Some(match w.as_str() {
            "info" | "informational" | "information" | "notice" | "debug" | "none" | "ok"
            | "p5" | "sev5" | "sev-5" => Self::Info,
            "low" | "minor" | "p4" | "sev4" | "sev-4" => Self::Low,
            "medium" | "moderate" | "warning" | "warn" | "average" | "p3" | "sev3" | "sev-3" => {
                Self::Medium
            }
            "high" | "major" | "error" | "important" | "p2" | "sev2" | "sev-2" => Self::High,
            "critical" | "crit" | "severe" | "fatal" | "emergency" | "alert" | "disaster"
            | "urgent" | "p1" | "sev1" | "sev-1" => Self::Critical,
            _ => return None,
        })
    }

    /// A Wazuh rule level (0–15), banded as the Wazuh dashboard does (low up to 6, medium up to
    /// 11, high up to 14, critical 15 and OSSEC's 16), with levels 0–3 (ignored, notifications, successful
    /// events) as info.
    pub fn from_wazuh_level(level: u64) -> Option<Self> {
        Some(match level {
            0..=3 => Self::Info,
            4..=6 => Self::Low,
            7..=11 => Self::Medium,
            12..=14 => Self::High,
            15 | 16 => Self::Critical,
            _ => return None,
        })
    }

    /// A TheHive severity: 1 low, 2 medium, 3 high, 4 critical.
    pub fn from_thehive(n: u64) -> Option<Self> {
        Some(match n {
            1 => Self::Low,
            2 => Self::Medium,
            3 => Self::High,
            4 => Self::Critical,
            _ => return None,
        })
    }

    /// A Splunk alert severity (the alert action's 1 debug … 6 fatal scale).
    pub fn from_splunk(n: u64) -> Option<Self> {
        Some(match n {
            1 | 2 => Self::Info,
            3 => Self::Low,
            4 => Self::Medium,
            5 => Self::High,
            6 => Self::Critical,
            _ => return None,
        })
    }
}

/// A number scale a format uses beside words, and how to describe it in a message.
pub(crate) type Scale = (fn(u64) -> Option<Severity>, &'static str);

/// The severity at `rel`: a word, or a number (also written as text) on `scale` when the
/// format has one. Absent: `None`. Anything else is an error naming the path and the accepted
/// values.
pub(crate) fn read(
    at: &At<'_>,
    rel: &str,
    scale: Option<Scale>,
) -> Result<Option<Severity>, AlertError> {
    let Some(found) = at.first(rel) else {
        return Ok(None);
    };
    let accepted = || match scale {
        Some((_, numbers)) => format!("{numbers}, or one of {WORDS}"),
        None => format!("one of {WORDS}"),
    };
    let bad = |shown: String| {
        AlertError::at(
            found.path.clone(),
            format!("unknown severity {shown}: use {}", accepted()),
        )
    };
    let number = |n: u64| match scale {
        Some((f, _)) => f(n),
        None => None,
    };
    match found.value {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => match s.trim().parse::<u64>() {
            Ok(n) => number(n).map(Some).ok_or_else(|| bad(format!("`{s}`"))),
            Err(_) => Severity::from_word(s)
                .map(Some)
                .ok_or_else(|| bad(format!("`{s}`"))),
        },
        Value::Number(n) => n
            .as_u64()
            .and_then(number)
            .map(Some)
            .ok_or_else(|| bad(n.to_string())),
        other => Err(bad(kind(other).to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn words_normalise_whatever_their_case() {
        for (word, want) in [
            ("Informational", Severity::Info),
            ("LOW", Severity::Low),
            ("warning", Severity::Medium),
            ("High", Severity::High),
            ("critical", Severity::Critical),
            ("P1", Severity::Critical),
        ] {
            assert_eq!(Severity::from_word(word), Some(want), "{word}");
        }
        assert_eq!(Severity::from_word("purple"), None);
    }

    #[test]
    fn wazuh_levels_band_like_the_wazuh_dashboard() {
        let band = |n| Severity::from_wazuh_level(n).unwrap();
        assert_eq!(band(3), Severity::Info);
        assert_eq!(band(5), Severity::Low);
        assert_eq!(band(7), Severity::Medium);
        assert_eq!(band(12), Severity::High);
        assert_eq!(band(15), Severity::Critical);
        assert_eq!(Severity::from_wazuh_level(16), Some(Severity::Critical));
        assert_eq!(Severity::from_wazuh_level(17), None);
    }

    #[test]
    fn numbers_only_where_the_format_has_a_scale() {
        let doc = json!({"a": 3, "b": "3", "c": "high", "d": 9, "e": {"x": 1}});
        let at = At::root(&doc);
        let hive: Scale = (Severity::from_thehive, "1–4");
        assert_eq!(read(&at, "a", Some(hive)).unwrap(), Some(Severity::High));
        assert_eq!(read(&at, "b", Some(hive)).unwrap(), Some(Severity::High));
        assert_eq!(read(&at, "c", Some(hive)).unwrap(), Some(Severity::High));
        assert_eq!(read(&at, "zz", Some(hive)).unwrap(), None);
        let err = read(&at, "d", Some(hive)).unwrap_err().to_string();
        assert!(
            err.starts_with("`d`: unknown severity 9: use 1–4, or one of info"),
            "{err}"
        );
        let err = read(&at, "a", None).unwrap_err().to_string();
        assert!(
            err.starts_with("`a`: unknown severity 3: use one of info"),
            "{err}"
        );
        let err = read(&at, "e", None).unwrap_err().to_string();
        assert!(err.starts_with("`e`: unknown severity an object"), "{err}");
    }
}
