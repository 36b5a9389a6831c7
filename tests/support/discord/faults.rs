//! Deterministic fault injection for the fake REST API: 500s, 429s, dropped connections and
//! requests that hang.

use super::super::rng::Rng;
use super::state::path_matches;

/// What a faulted request gets instead of its normal answer.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// `500 Internal Server Error` with a Discord-style JSON body.
    Status500,
    /// `429 Too Many Requests` with `retry_after` (seconds) in the body and headers.
    Status429 { retry_after: f64 },
    /// The connection is closed without any answer.
    DropConnection,
    /// The request is carried out, then the connection is closed before the answer: the
    /// client cannot tell this from `DropConnection` (a timeout after Discord acted).
    LoseResponse,
    /// `403 Forbidden`, Missing Permissions (50013): refused for good, as when the bot's
    /// permission in the channel was removed. Changes no state.
    Status403,
    /// `404 Not Found`, Unknown Channel (10003): refused for good, as when the channel was
    /// deleted. Changes no state.
    Status404,
    /// The connection is held open and never answered (a black-holed route): only the client's
    /// own timeout ends the request. Changes no state.
    Hang,
}

/// Which requests fail and how. A faulted request is recorded (with `fault` set) and changes no
/// state, except `LoseResponse`, which is carried out and recorded with its real status. `Default` fails nothing; set fields with `..Faults::default()`.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Share of in-scope requests that fail, 0.0..=1.0.
    pub fail_ratio: f64,
    /// Picked from at random (seeded) for each failing request; empty means `Status500`.
    pub kinds: Vec<FaultKind>,
    /// Seed of the PRNG: the same seed and the same request order give the same faults.
    pub seed: u64,
    /// Only requests matching one of these fail. A pattern is a path pattern as in
    /// `requests_matching`, optionally preceded by a method: `"POST /channels/*/messages"`.
    pub only_paths: Option<Vec<String>>,
    /// At most this many faults, then every request succeeds again ("the first two attempts
    /// fail"), without racing the bot's retries.
    pub max_faults: Option<u64>,
}

impl Faults {
    /// Every in-scope request fails with `kind`.
    pub fn always(kind: FaultKind) -> Self {
        Self {
            fail_ratio: 1.0,
            kinds: vec![kind],
            ..Self::default()
        }
    }

    /// Stops after `n` faults.
    pub fn times(mut self, n: u64) -> Self {
        self.max_faults = Some(n);
        self
    }

    /// Restricts the faults to requests matching one of `patterns`.
    pub fn only(mut self, patterns: &[&str]) -> Self {
        self.only_paths = Some(patterns.iter().map(|p| (*p).to_owned()).collect());
        self
    }

    fn in_scope(&self, method: &str, path: &str) -> bool {
        let Some(patterns) = &self.only_paths else {
            return true;
        };
        patterns
            .iter()
            .any(|pattern| match pattern.split_once(' ') {
                Some((m, p)) => m.eq_ignore_ascii_case(method) && path_matches(p.trim(), path),
                None => path_matches(pattern, path),
            })
    }
}

/// Active faults with their PRNG.
#[derive(Debug)]
pub struct FaultState {
    faults: Faults,
    rng: Rng,
    injected: u64,
}

impl FaultState {
    pub fn new(faults: Faults) -> Self {
        let rng = Rng(faults.seed);
        Self {
            faults,
            rng,
            injected: 0,
        }
    }

    /// Decides whether this request fails, and how. `GET /gateway` never fails: serenity
    /// would fall back to the real gateway's address.
    pub fn decide(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let exhausted = self
            .faults
            .max_faults
            .is_some_and(|max| self.injected >= max);
        if exhausted || path.starts_with("/gateway") || !self.faults.in_scope(method, path) {
            return None;
        }
        let roll = self.rng.unit();
        if roll >= self.faults.fail_ratio {
            return None;
        }
        self.injected += 1;
        let kinds = &self.faults.kinds;
        if kinds.is_empty() {
            return Some(FaultKind::Status500);
        }
        let pick = self.rng.below(kinds.len());
        Some(kinds[pick].clone())
    }
}
