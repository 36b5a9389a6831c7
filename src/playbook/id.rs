//! MITRE ATT&CK technique ids: `T1583` (a technique) and `T1583.006` (a sub-technique).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A technique id, normalised. Orders parents before their sub-techniques.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TechniqueId {
    /// The four digits after `T`.
    pub technique: u16,
    /// The three digits after the dot, for a sub-technique.
    pub sub: Option<u16>,
}

/// Why a string is not a technique id; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not an ATT&CK technique id: write `T` + 4 digits, optionally `.` + 3 digits (e.g. T1583 or T1583.006)"
)]
pub struct BadTechniqueId {
    pub input: String,
}

impl TechniqueId {
    pub const fn new(technique: u16, sub: Option<u16>) -> Self {
        Self { technique, sub }
    }

    /// The parent technique (itself for a parent).
    pub const fn parent(self) -> Self {
        Self {
            technique: self.technique,
            sub: None,
        }
    }

    pub const fn is_sub(self) -> bool {
        self.sub.is_some()
    }

    /// The page of this technique on attack.mitre.org.
    pub fn attack_url(self) -> String {
        match self.sub {
            Some(s) => format!(
                "https://attack.mitre.org/techniques/T{:04}/{s:03}/",
                self.technique
            ),
            None => format!(
                "https://attack.mitre.org/techniques/T{:04}/",
                self.technique
            ),
        }
    }

    /// Parses what people type: `T1583.006`, `t1583.006`, `T1583006`, `1583.006`, `T1583`,
    /// with spaces around. Strict about digit counts so `T15830` is refused rather than guessed.
    pub fn parse(input: &str) -> Result<Self, BadTechniqueId> {
        let bad = || BadTechniqueId {
            input: input.trim().to_owned(),
        };
        let s = input.trim();
        let s = s.strip_prefix(['T', 't']).unwrap_or(s);
        let digits = |part: &str, n: usize| -> Option<u16> {
            (part.len() == n && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        if !s.is_ascii() {
            return Err(bad());
        }
        let (tech, sub) = match s.split_once('.') {
            Some((t, sub)) => (t, Some(sub)),
            None if s.len() == 7 => (&s[..4], Some(&s[4..])),
            None => (s, None),
        };
        let technique = digits(tech, 4).ok_or_else(bad)?;
        let sub = match sub {
            Some(sub) => Some(digits(sub, 3).ok_or_else(bad)?),
            None => None,
        };
        Ok(Self { technique, sub })
    }
}

impl fmt::Display for TechniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sub {
            Some(s) => write!(f, "T{:04}.{s:03}", self.technique),
            None => write!(f, "T{:04}", self.technique),
        }
    }
}

impl FromStr for TechniqueId {
    type Err = BadTechniqueId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for TechniqueId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TechniqueId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typed_form_normalises() {
        let want = TechniqueId::new(1583, Some(6));
        for form in [
            "T1583.006",
            "t1583.006",
            "T1583006",
            "1583.006",
            "  T1583.006 ",
            "1583006",
        ] {
            assert_eq!(TechniqueId::parse(form), Ok(want), "{form}");
        }
        assert_eq!(TechniqueId::parse("T1071").unwrap().to_string(), "T1071");
        assert_eq!(want.to_string(), "T1583.006");
        assert_eq!(want.parent().to_string(), "T1583");
    }

    #[test]
    fn malformed_ids_are_refused_with_a_hint() {
        for bad in [
            "",
            "T",
            "T158",
            "T15830",
            "T1583.06",
            "T1583.0066",
            "X1583",
            "T1583.abc",
            "T１５８３",
        ] {
            let err = TechniqueId::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains("T + 4 digits")
                    || err.to_string().contains("`T` + 4 digits"),
                "{bad}"
            );
        }
    }

    #[test]
    fn attack_links() {
        assert_eq!(
            TechniqueId::parse("T1583.006").unwrap().attack_url(),
            "https://attack.mitre.org/techniques/T1583/006/"
        );
        assert_eq!(
            TechniqueId::parse("T1071").unwrap().attack_url(),
            "https://attack.mitre.org/techniques/T1071/"
        );
    }
}
