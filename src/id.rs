//! Discord ids as the configuration gives them: a non-zero snowflake. "Unset" is `None`, never
//! 0, so no code has to remember that 0 means nothing. Pure: the core (on-call rosters) uses it.
//!
//! Configuration files and environment variables give ids as numbers (`guild_id = 1234…`) or
//! as text (`SOCBOT__ROLES__T2=11,22`, `guild_id = "1234…"`); both are read.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Discord id (server, channel, role or user): never 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "u64")]
pub struct DiscordId(NonZeroU64);

impl DiscordId {
    /// The id, or None for 0.
    pub const fn new(id: u64) -> Option<Self> {
        match NonZeroU64::new(id) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// `Some(id)` as the number Discord uses, 0 for None (for the few places that store 0).
    pub fn raw(id: Option<Self>) -> u64 {
        id.map_or(0, Self::get)
    }
}

impl fmt::Debug for DiscordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for DiscordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<DiscordId> for u64 {
    fn from(id: DiscordId) -> u64 {
        id.get()
    }
}

impl PartialEq<u64> for DiscordId {
    fn eq(&self, other: &u64) -> bool {
        self.get() == *other
    }
}

impl FromStr for DiscordId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        match t.parse::<u64>() {
            Ok(n) => Self::new(n).ok_or_else(zero),
            Err(_) => Err(format!("`{t}` is not a Discord id (a number)")),
        }
    }
}

fn zero() -> String {
    "0 is not a Discord id; put the id (in Discord turn on Developer Mode, then right-click → Copy ID)"
        .to_owned()
}

/// A number or text, as the `config` crate hands ids over (a number past `i64::MAX` comes as a
/// float from an environment variable).
enum Raw {
    Int(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdsVisitor)?
            .pop()
            .ok_or_else(|| serde::de::Error::custom("a list where one Discord id goes"))
    }
}

/// Reads one id or a list of ids, as [`Raw`] values.
struct IdsVisitor;

impl<'de> serde::de::Visitor<'de> for IdsVisitor {
    type Value = Vec<Raw>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Discord id (a number), or a list of them")
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(vec![Raw::Int(n)])
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
        u64::try_from(n)
            .map(|n| vec![Raw::Int(n)])
            .map_err(|_| E::custom(format!("`{n}` is not a Discord id (a number)")))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Self::Value, E> {
        if n >= 0.0 && n.fract() == 0.0 {
            // Only past i64::MAX, where no real id is: the saturated value is refused as one.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(vec![Raw::Int(n as u64)])
        } else {
            Err(E::custom(format!("`{n}` is not a Discord id (a number)")))
        }
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(vec![Raw::Text(s.to_owned())])
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Raw>()? {
            out.push(item);
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for DiscordId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Int(n) => Self::new(n).ok_or_else(zero),
            Raw::Text(t) => t.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// For `#[serde(deserialize_with)]`: an id that may be unset, written 0 or `""`.
pub fn optional<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DiscordId>, D::Error> {
    match Raw::deserialize(d)? {
        Raw::Int(n) => Ok(DiscordId::new(n)),
        Raw::Text(t) if t.trim().is_empty() => Ok(None),
        Raw::Text(t) => t.trim().parse::<u64>().map(DiscordId::new).map_err(|_| {
            serde::de::Error::custom(format!("`{}` is not a Discord id (a number)", t.trim()))
        }),
    }
}

/// For `#[serde(deserialize_with)]`: a list of ids from TOML (`[1, 2]`) or an environment
/// variable (`1,2` or `1`).
pub fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<DiscordId>, D::Error> {
    let items = d.deserialize_any(IdsVisitor)?;
    let mut out = Vec::new();
    for item in items {
        match item {
            Raw::Int(n) => out.push(DiscordId::new(n).ok_or_else(zero)),
            Raw::Text(t) => out.extend(
                t.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::parse),
            ),
        }
    }
    out.into_iter()
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

/// For `#[serde(with = "crate::id::or_zero")]` on stored fields that held 0 for "nobody" (the
/// console, socbot itself): `Option<DiscordId>` written as the number it always was, 0 for None,
/// so records written before and after read the same.
pub mod or_zero {
    use super::DiscordId;

    pub fn serialize<S: serde::Serializer>(
        id: &Option<DiscordId>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(DiscordId::raw(*id))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DiscordId>, D::Error> {
        super::optional(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Ids {
        #[serde(default, deserialize_with = "optional")]
        one: Option<DiscordId>,
        #[serde(default, deserialize_with = "list")]
        many: Vec<DiscordId>,
    }

    fn ids(v: serde_json::Value) -> Result<Ids, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_and_text_read_the_same_and_zero_is_unset() {
        let a = ids(serde_json::json!({"one": 1_100_000_000_000_000_001_u64, "many": [11, "22"]}))
            .unwrap();
        let b = ids(serde_json::json!({"one": "1100000000000000001", "many": "11, 22"})).unwrap();
        assert_eq!(a.one, b.one);
        assert_eq!(a.many, b.many);
        assert_eq!(a.one.unwrap().get(), 1_100_000_000_000_000_001);
        assert_eq!(a.many, [11, 22].map(|n| DiscordId::new(n).unwrap()));
        for unset in [
            serde_json::json!(0),
            serde_json::json!(""),
            serde_json::json!(" "),
        ] {
            assert_eq!(ids(serde_json::json!({ "one": unset })).unwrap().one, None);
        }
    }

    #[test]
    fn bad_ids_say_what_is_wrong() {
        let e = ids(serde_json::json!({"one": "general"})).unwrap_err();
        assert!(e.contains("`general` is not a Discord id"), "{e}");
        let e = ids(serde_json::json!({"many": "33,ops"})).unwrap_err();
        assert!(e.contains("`ops` is not a Discord id"), "{e}");
        let e = ids(serde_json::json!({"many": [5, 0]})).unwrap_err();
        assert!(e.contains("0 is not a Discord id"), "{e}");
        assert!(ids(serde_json::json!({"one": -3})).is_err());
        assert_eq!("0".parse::<DiscordId>().unwrap_err(), zero());
        assert_eq!(" 42 ".parse::<DiscordId>().unwrap().to_string(), "42");
    }
}
