//! The `[oncall]` and `[paging]` configuration sections, and their checks. Strict like the rest
//! of the configuration: unknown keys are errors; a missing key takes its default.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::rotation::Rotation;
use crate::id::DiscordId;

/// A configuration value that does not make sense, naming its key:
/// `oncall.timezone: "Mars/Base" is not an IANA time zone, e.g. Europe/Berlin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigProblem {
    /// The full key, `section.key`.
    pub key: &'static str,
    /// What is wrong and what to put there.
    pub message: String,
}

impl ConfigProblem {
    fn new(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            key,
            message: message.into(),
        }
    }
}

/// `[oncall]`: who is on call, as a rotation over a roster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OncallConfig {
    /// Discord user ids, in rotation order. Empty: nobody rotates (overrides and the fallback
    /// role still work).
    #[serde(deserialize_with = "crate::id::list")]
    pub roster: Vec<DiscordId>,
    /// The length of a shift in (local) days.
    pub rotation_days: u32,
    /// The local time of the hand-off, `HH:MM` (24 h).
    pub handoff: String,
    /// The IANA time zone of `handoff` and of the hand-off days (`Europe/Berlin`).
    pub timezone: String,
    /// `YYYY-MM-DD`: the first roster member's first hand-off day. Any day works; the rotation
    /// is periodic, before it too.
    pub start: String,
    /// Who is paged after the primary.
    pub secondary: Secondary,
    /// A Discord role id mentioned when the secondary does not acknowledge either; 0 (or
    /// unset) for none.
    #[serde(deserialize_with = "crate::id::optional")]
    pub fallback_role: Option<DiscordId>,
}

impl OncallConfig {
    pub const DEFAULT_ROTATION_DAYS: u32 = 7;
    pub const DEFAULT_HANDOFF: &str = "09:00";
    pub const DEFAULT_TIMEZONE: &str = "UTC";
    /// A Monday.
    pub const DEFAULT_START: &str = "2026-01-05";
    /// The longest shift accepted (a year).
    pub const MAX_ROTATION_DAYS: u32 = 366;

    /// Checks every key; the first problem found names its key.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        self.rotation().map(drop)
    }

    /// The parsed, checked form.
    pub fn rotation(&self) -> Result<Rotation, ConfigProblem> {
        if self.rotation_days == 0 || self.rotation_days > Self::MAX_ROTATION_DAYS {
            return Err(ConfigProblem::new(
                "oncall.rotation_days",
                format!(
                    "{} is not a shift length; put a number of days from 1 to {}, e.g. 7",
                    self.rotation_days,
                    Self::MAX_ROTATION_DAYS
                ),
            ));
        }
        let handoff = parse_handoff(&self.handoff).ok_or_else(|| {
            ConfigProblem::new(
                "oncall.handoff",
                format!(
                    "{:?} is not a time of day; put HH:MM in 24-hour local time, e.g. 09:00",
                    self.handoff
                ),
            )
        })?;
        let tz = parse_timezone(&self.timezone)?;
        let start = NaiveDate::parse_from_str(self.start.trim(), "%Y-%m-%d").map_err(|_| {
            ConfigProblem::new(
                "oncall.start",
                format!(
                    "{:?} is not a date; put the first roster member's first hand-off day as YYYY-MM-DD, e.g. 2026-01-05",
                    self.start
                ),
            )
        })?;
        Ok(Rotation::new(
            self.roster.clone(),
            self.rotation_days,
            handoff,
            tz,
            start,
            self.secondary,
            self.fallback_role,
        ))
    }
}

impl Default for OncallConfig {
    fn default() -> Self {
        Self {
            roster: Vec::new(),
            rotation_days: Self::DEFAULT_ROTATION_DAYS,
            handoff: Self::DEFAULT_HANDOFF.to_owned(),
            timezone: Self::DEFAULT_TIMEZONE.to_owned(),
            start: Self::DEFAULT_START.to_owned(),
            secondary: Secondary::Next,
            fallback_role: None,
        }
    }
}

/// `HH:MM` (also `H:MM` and `HH:MM:SS`).
fn parse_handoff(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    NaiveTime::parse_from_str(s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
        .ok()
}

fn parse_timezone(s: &str) -> Result<Tz, ConfigProblem> {
    let s = s.trim();
    if let Ok(tz) = s.parse::<Tz>() {
        return Ok(tz);
    }
    let hint = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(s))
        .map_or_else(
            || "e.g. Europe/Berlin".to_owned(),
            |tz| format!("did you mean {}?", tz.name()),
        );
    Err(ConfigProblem::new(
        "oncall.timezone",
        format!("{s:?} is not an IANA time zone, {hint}"),
    ))
}

/// `oncall.secondary`: `"next"` (the next person in the roster after the current shift's, who
/// is not the primary), `"user:<id>"` (always that user) or `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Secondary {
    #[default]
    Next,
    User(DiscordId),
    None,
}

impl FromStr for Secondary {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "next" => return Ok(Self::Next),
            "none" | "" => return Ok(Self::None),
            _ => {}
        }
        lower
            .strip_prefix("user:")
            .and_then(|id| id.parse::<DiscordId>().ok())
            .map(Self::User)
            .ok_or_else(|| {
                format!(
                    "oncall.secondary: {t:?} is not a secondary; put \"next\", \"none\" or \"user:<Discord user id>\""
                )
            })
    }
}

impl TryFrom<String> for Secondary {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Secondary> for String {
    fn from(s: Secondary) -> String {
        s.to_string()
    }
}

impl fmt::Display for Secondary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Next => f.write_str("next"),
            Self::User(id) => write!(f, "user:{id}"),
            Self::None => f.write_str("none"),
        }
    }
}

/// `[paging]`: the acknowledgement deadline, re-pages and the outbound webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagingConfig {
    /// Seconds to acknowledge a page before the next step of the chain.
    pub ack_timeout_secs: u64,
    /// How many times the primary is paged again before moving on to the secondary.
    pub repeats: u32,
    /// Where to POST a PagerDuty Events API v2 body at each step; empty for none.
    pub webhook_url: String,
    /// The body's `routing_key` (a PagerDuty integration key). Never logged.
    pub routing_key: SecretString,
}

impl PagingConfig {
    pub const DEFAULT_ACK_TIMEOUT_SECS: u64 = 600;
    pub const DEFAULT_REPEATS: u32 = 1;
    /// The longest acknowledgement deadline accepted: a day.
    pub const MAX_ACK_TIMEOUT_SECS: u64 = 86_400;
    pub const MAX_REPEATS: u32 = 20;

    /// The acknowledgement deadline as a duration.
    pub fn ack_timeout(&self) -> TimeDelta {
        let secs = self.ack_timeout_secs.min(Self::MAX_ACK_TIMEOUT_SECS);
        TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// The webhook address, when one is set.
    pub fn webhook(&self) -> Option<&str> {
        Some(self.webhook_url.trim()).filter(|u| !u.is_empty())
    }

    /// The routing key for [`super::webhook_body`] (empty when unset).
    pub fn routing_key(&self) -> &str {
        self.routing_key.expose_secret().trim()
    }

    /// Checks every key; the first problem found names its key.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        if self.ack_timeout_secs == 0 || self.ack_timeout_secs > Self::MAX_ACK_TIMEOUT_SECS {
            return Err(ConfigProblem::new(
                "paging.ack_timeout_secs",
                format!(
                    "{} is not an acknowledgement deadline; put seconds from 1 to {}, e.g. 600 for 10 minutes",
                    self.ack_timeout_secs,
                    Self::MAX_ACK_TIMEOUT_SECS
                ),
            ));
        }
        if self.repeats > Self::MAX_REPEATS {
            return Err(ConfigProblem::new(
                "paging.repeats",
                format!(
                    "{} re-pages is too many; put 0 to {}, e.g. 1",
                    self.repeats,
                    Self::MAX_REPEATS
                ),
            ));
        }
        if let Some(url) = self.webhook() {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                return Err(ConfigProblem::new(
                    "paging.webhook_url",
                    "is not an http(s) URL; put e.g. https://events.pagerduty.com/v2/enqueue, or leave it empty for no webhook",
                ));
            }
            if self.routing_key().is_empty() {
                // Without it the pager answers 400 to every page and none gets through.
                return Err(ConfigProblem::new(
                    "paging.routing_key",
                    "is empty while paging.webhook_url is set; put the pager's integration key in SOCBOT__PAGING__ROUTING_KEY",
                ));
            }
        }
        Ok(())
    }
}

impl Default for PagingConfig {
    fn default() -> Self {
        Self {
            ack_timeout_secs: Self::DEFAULT_ACK_TIMEOUT_SECS,
            repeats: Self::DEFAULT_REPEATS,
            webhook_url: String::new(),
            routing_key: SecretString::from(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> DiscordId {
        DiscordId::new(n).unwrap()
    }

    #[test]
    fn defaults_are_valid_and_deserialise_from_nothing() {
        let c = OncallConfig::default();
        c.validate().unwrap();
        assert_eq!(c.rotation_days, 7);
        assert_eq!(c.secondary, Secondary::Next);
        let p = PagingConfig::default();
        p.validate().unwrap();
        assert_eq!(p.ack_timeout(), TimeDelta::minutes(10));
        assert_eq!(p.webhook(), None);
        let c: OncallConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(c, OncallConfig::default());
        let p: PagingConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(p.repeats, 1);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = serde_json::from_value::<OncallConfig>(serde_json::json!({"rooster": [1]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rooster"), "{e}");
        assert!(
            serde_json::from_value::<PagingConfig>(serde_json::json!({"ack_timeout": 5})).is_err()
        );
    }

    #[test]
    fn secondary_forms() {
        for (s, want) in [
            ("next", Secondary::Next),
            ("NONE", Secondary::None),
            ("user:123", Secondary::User(id(123))),
            (" user: 42 ", Secondary::User(id(42))),
        ] {
            assert_eq!(s.parse::<Secondary>(), Ok(want), "{s}");
        }
        for bad in ["user:", "user:0", "user:x", "someone", "123"] {
            let e = bad.parse::<Secondary>().unwrap_err();
            assert!(e.starts_with("oncall.secondary:"), "{e}");
        }
        let c: OncallConfig =
            serde_json::from_value(serde_json::json!({"secondary": "user:77"})).unwrap();
        assert_eq!(c.secondary, Secondary::User(id(77)));
        assert_eq!(
            serde_json::to_value(Secondary::User(id(77))).unwrap(),
            "user:77"
        );
        let e = serde_json::from_value::<OncallConfig>(serde_json::json!({"secondary": "boss"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("oncall.secondary"), "{e}");
    }

    #[test]
    fn problems_name_the_key() {
        let bad = |f: fn(&mut OncallConfig)| {
            let mut c = OncallConfig {
                roster: vec![id(1), id(2)],
                ..OncallConfig::default()
            };
            f(&mut c);
            c.validate().unwrap_err()
        };
        let e = bad(|c| c.timezone = "Mars/Base".into());
        assert_eq!(
            e.to_string(),
            r#"oncall.timezone: "Mars/Base" is not an IANA time zone, e.g. Europe/Berlin"#
        );
        let e = bad(|c| c.timezone = "europe/berlin".into());
        assert!(e.message.contains("did you mean Europe/Berlin?"), "{e}");
        assert_eq!(bad(|c| c.handoff = "9am".into()).key, "oncall.handoff");
        assert_eq!(bad(|c| c.handoff = "25:00".into()).key, "oncall.handoff");
        assert_eq!(bad(|c| c.start = "05/01/2026".into()).key, "oncall.start");
        assert_eq!(bad(|c| c.rotation_days = 0).key, "oncall.rotation_days");
        let zero = serde_json::from_value::<OncallConfig>(serde_json::json!({"roster": [1, 0]}));
        assert!(
            zero.unwrap_err()
                .to_string()
                .contains("0 is not a Discord id")
        );
        let ok = OncallConfig {
            handoff: "7:30".into(),
            timezone: "America/New_York".into(),
            ..OncallConfig::default()
        };
        ok.validate().unwrap();

        let p = |f: fn(&mut PagingConfig)| {
            let mut c = PagingConfig::default();
            f(&mut c);
            c.validate()
        };
        assert_eq!(
            p(|c| c.ack_timeout_secs = 0).unwrap_err().key,
            "paging.ack_timeout_secs"
        );
        assert_eq!(p(|c| c.repeats = 1000).unwrap_err().key, "paging.repeats");
        assert_eq!(
            p(|c| c.webhook_url = "ftp://x".into()).unwrap_err().key,
            "paging.webhook_url"
        );
        assert!(
            p(|c| {
                c.webhook_url = "http://127.0.0.1:9/pd".into();
                c.routing_key = SecretString::from("key");
            })
            .is_ok()
        );
    }

    /// Through the `config` crate, as the daemon loads it: TOML, then environment variables.
    #[test]
    fn loads_through_the_config_crate() {
        use config::{Environment, File, FileFormat};
        let toml = r#"
            [oncall]
            roster = [111111111111111111, 222222222222222222]
            rotation_days = 7
            handoff = "09:00"
            timezone = "Europe/Berlin"
            start = "2026-01-05"
            secondary = "user:333"
            fallback_role = 444
            [paging]
            ack_timeout_secs = 600
            repeats = 1
            webhook_url = ""
            routing_key = ""
        "#;
        let vars: config::Map<String, String> = [
            ("SOCBOT__ONCALL__ROSTER", "5,6,7"),
            ("SOCBOT__ONCALL__SECONDARY", "next"),
            ("SOCBOT__PAGING__ROUTING_KEY", "R0UT1NG"),
            ("SOCBOT__PAGING__REPEATS", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let built = config::Config::builder()
            .add_source(File::from_str(toml, FileFormat::Toml))
            .build()
            .unwrap();
        let oncall: OncallConfig = built.get("oncall").unwrap();
        assert_eq!(
            oncall.roster,
            [id(111_111_111_111_111_111), id(222_222_222_222_222_222)]
        );
        assert_eq!(oncall.secondary, Secondary::User(id(333)));
        let r = oncall.rotation().unwrap();
        assert_eq!(r.fallback_role(), Some(id(444)));
        assert_eq!(r.timezone(), chrono_tz::Europe::Berlin);

        let built = config::Config::builder()
            .add_source(File::from_str(toml, FileFormat::Toml))
            .add_source(
                Environment::with_prefix("SOCBOT")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("oncall.roster")
                    .source(Some(vars)),
            )
            .build()
            .unwrap();
        let oncall: OncallConfig = built.get("oncall").unwrap();
        assert_eq!(oncall.roster, [id(5), id(6), id(7)]);
        assert_eq!(oncall.secondary, Secondary::Next);
        let paging: PagingConfig = built.get("paging").unwrap();
        assert_eq!((paging.repeats, paging.routing_key()), (2, "R0UT1NG"));

        let bad = config::Config::builder()
            .add_source(File::from_str(
                "[oncall]\nsecondary = \"boss\"\n",
                FileFormat::Toml,
            ))
            .build()
            .unwrap()
            .get::<OncallConfig>("oncall")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("oncall.secondary"), "{bad}");
    }

    #[test]
    fn a_webhook_needs_its_routing_key() {
        let p: PagingConfig = serde_json::from_value(
            serde_json::json!({"webhook_url": "https://events.pagerduty.com/v2/enqueue"}),
        )
        .unwrap();
        let problem = p.validate().unwrap_err();
        assert!(
            problem.to_string().contains("paging.routing_key"),
            "{problem}"
        );
        let p: PagingConfig = serde_json::from_value(serde_json::json!({
            "webhook_url": "https://events.pagerduty.com/v2/enqueue",
            "routing_key": "R0UT1NG",
        }))
        .unwrap();
        assert!(p.validate().is_ok());
    }

    #[test]
    fn routing_key_is_not_in_debug_output() {
        let p: PagingConfig =
            serde_json::from_value(serde_json::json!({"routing_key": "R0UT1NG"})).unwrap();
        assert_eq!(p.routing_key(), "R0UT1NG");
        assert!(!format!("{p:?}").contains("R0UT1NG"));
    }
}
