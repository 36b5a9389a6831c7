//! Autocomplete search over the library: from what has been typed so far, the best matches,
//! ranked exact id, id prefix, name-word prefix, tactic, then fuzzy (typos). Everything is
//! precomputed at load: the words of every name and tactic are interned once, so a query
//! compares itself with each distinct word (a few hundred) rather than with every playbook, and
//! a search over the whole corpus takes microseconds.

use std::collections::HashMap;
use std::sync::Arc;

use super::id::TechniqueId;
use super::model::Playbook;

/// The longest query looked at: Discord's autocomplete sends at most 100 characters, and the cap
/// keeps fuzzy matching cheap whatever is typed.
const MAX_QUERY_CHARS: usize = 100;

#[derive(Debug, Default)]
pub struct SearchIndex {
    entries: Vec<Entry>,
    /// Every distinct lowercase word of every name and tactic; entries refer to it by index.
    vocab: Vec<Vec<char>>,
}

#[derive(Debug)]
struct Entry {
    id: TechniqueId,
    /// `t1583.006`
    id_dotted: String,
    /// `1583006`
    id_digits: String,
    /// The name's words in order, as indices into the vocabulary.
    name_words: Vec<u32>,
    /// The tactics' words, as indices into the vocabulary.
    tactic_words: Vec<u32>,
}

/// Ranking tiers, best first.
const EXACT: u8 = 0;
const ID_PREFIX: u8 = 1;
const NAME_PREFIX: u8 = 2;
const TACTIC: u8 = 3;
const FUZZY: u8 = 4;

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Interns words: each distinct word gets one index.
#[derive(Default)]
struct Interner {
    index: HashMap<String, u32>,
    words: Vec<Vec<char>>,
}

impl Interner {
    fn ids(&mut self, text: &str) -> Vec<u32> {
        words(text)
            .into_iter()
            .map(|w| {
                let next = self.words.len() as u32;
                *self.index.entry(w).or_insert_with_key(|w| {
                    self.words.push(w.chars().collect());
                    next
                })
            })
            .collect()
    }
}

/// What the index knows of one searchable technique (a playbook, or an ATT&CK catalog entry).
#[derive(Debug, Clone)]
pub struct SearchItem {
    pub id: TechniqueId,
    pub name: String,
    pub tactics: Vec<String>,
}

impl SearchIndex {
    /// Indexes playbooks in the order given (the library's id order).
    pub fn build(playbooks: &[Arc<Playbook>]) -> Self {
        Self::build_from(
            playbooks
                .iter()
                .map(|p| (p.id, p.name.as_str(), &p.tactics[..])),
        )
    }

    /// Indexes items in the order given (the ATT&CK catalog uses it).
    pub fn build_items(items: &[SearchItem]) -> Self {
        Self::build_from(
            items
                .iter()
                .map(|i| (i.id, i.name.as_str(), &i.tactics[..])),
        )
    }

    fn build_from<'a>(items: impl Iterator<Item = (TechniqueId, &'a str, &'a [String])>) -> Self {
        let mut vocab = Interner::default();
        let entries = items
            .map(|(id, name, tactics)| Entry {
                id,
                id_dotted: id.to_string().to_lowercase(),
                id_digits: id.to_string()[1..].replace('.', ""),
                name_words: vocab.ids(name),
                tactic_words: tactics.iter().flat_map(|t| vocab.ids(t)).collect(),
            })
            .collect();
        Self {
            entries,
            vocab: vocab.words,
        }
    }

    /// Indices (into the build order) of the best `limit` matches, best first. An empty query
    /// lists the first playbooks in id order.
    pub fn search(&self, query: &str, limit: usize) -> Vec<usize> {
        let q: String = query.trim().chars().take(MAX_QUERY_CHARS).collect();
        let q = q.to_lowercase();
        if q.is_empty() {
            return (0..self.entries.len().min(limit)).collect();
        }
        let exact = TechniqueId::parse(&q).ok();
        let id_q = id_prefix_forms(&q);
        let q_words: Vec<Vec<char>> = words(&q).iter().map(|w| w.chars().collect()).collect();
        let prefixes = self.prefix_table(&q_words);
        // (tier, secondary score, index); lower is better.
        let mut hits: Vec<(u8, u32, usize)> = Vec::new();
        let mut rest = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let id_prefix = id_q.as_ref().is_some_and(|(dotted, digits)| {
                e.id_dotted.starts_with(dotted.as_str()) || e.id_digits.starts_with(digits.as_str())
            });
            if exact == Some(e.id) {
                hits.push((EXACT, 0, i));
            } else if id_prefix {
                hits.push((ID_PREFIX, 0, i));
            } else if let Some(score) = prefix_score(&prefixes, &e.name_words) {
                hits.push((NAME_PREFIX, score, i));
            } else if prefix_score(&prefixes, &e.tactic_words).is_some() {
                hits.push((TACTIC, 0, i));
            } else {
                rest.push(i);
            }
        }
        // Typos are looked for in names only, and only when the better tiers left room.
        if hits.len() < limit
            && id_q.is_none()
            && let Some(distances) = self.typo_table(&q_words)
        {
            for i in rest {
                if let Some(score) = fuzzy_score(&distances, &self.entries[i].name_words) {
                    hits.push((FUZZY, score, i));
                }
            }
        }
        hits.sort_unstable();
        hits.into_iter().take(limit).map(|(_, _, i)| i).collect()
    }

    /// For each query word, which vocabulary words it is a prefix of.
    fn prefix_table(&self, q_words: &[Vec<char>]) -> Vec<Vec<bool>> {
        q_words
            .iter()
            .map(|qw| self.vocab.iter().map(|w| w.starts_with(qw)).collect())
            .collect()
    }

    /// For each query word, its typo distance to the same-length prefix of every vocabulary
    /// word (`u8::MAX` when too far: one typo per four letters, at most two). None when a query
    /// word is too short (under 3 letters) for typos to mean anything.
    fn typo_table(&self, q_words: &[Vec<char>]) -> Option<Vec<Vec<u8>>> {
        if q_words.is_empty() || q_words.iter().any(|w| w.len() < 3) {
            return None;
        }
        let mut rows = DistanceRows::default();
        let table = q_words
            .iter()
            .map(|qw| {
                let allowed = (qw.len() / 4).clamp(1, 2);
                self.vocab
                    .iter()
                    .map(|w| {
                        let prefix = &w[..w.len().min(qw.len())];
                        if absent_chars(qw, prefix) > allowed {
                            return u8::MAX; // cheaper than the distance, and usually enough
                        }
                        rows.bounded(qw, prefix, allowed)
                            .map_or(u8::MAX, |d| d as u8)
                    })
                    .collect()
            })
            .collect();
        Some(table)
    }
}

/// Every query word is a prefix of some word of the entry (`table` from
/// [`SearchIndex::prefix_table`]). Score: the position of the first matched word (earlier is
/// better), then how many words the entry has.
fn prefix_score(table: &[Vec<bool>], entry_words: &[u32]) -> Option<u32> {
    if table.is_empty() {
        return None;
    }
    let mut first = u32::MAX;
    for hits in table {
        let pos = entry_words.iter().position(|&w| hits[w as usize])?;
        first = first.min(pos as u32);
    }
    Some(first * 100 + entry_words.len() as u32)
}

/// Every query word is within its typo allowance of some name word (`table` from
/// [`SearchIndex::typo_table`]). Score: the total distance.
fn fuzzy_score(table: &[Vec<u8>], name_words: &[u32]) -> Option<u32> {
    let mut total = 0;
    for distances in table {
        let best = name_words.iter().map(|&w| distances[w as usize]).min()?;
        if best == u8::MAX {
            return None;
        }
        total += u32::from(best);
    }
    Some(total)
}

/// A lower bound of the edit distance from `a` to `b`: each character of `a` that `b` lacks
/// must be substituted or deleted. (Characters are bucketed in 64 bits; a collision only makes
/// the bound smaller.)
fn absent_chars(a: &[char], b: &[char]) -> usize {
    let bit = |c: char| 1u64 << (u32::from(c) % 64);
    let present = b.iter().fold(0, |mask, &c| mask | bit(c));
    a.iter().filter(|&&c| present & bit(c) == 0).count()
}

/// Reusable rows for [`DistanceRows::bounded`], so a search allocates them once.
#[derive(Default)]
struct DistanceRows {
    prev2: Vec<usize>,
    prev: Vec<usize>,
    cur: Vec<usize>,
}

impl DistanceRows {
    /// Optimal-string-alignment distance between `a` and `b` if it is at most `max`; gives up
    /// as soon as two rows in a row exceed `max`, since no later row can come back under it.
    fn bounded(&mut self, a: &[char], b: &[char], max: usize) -> Option<usize> {
        if a.len().abs_diff(b.len()) > max {
            return None;
        }
        let width = b.len() + 1;
        for row in [&mut self.prev2, &mut self.prev, &mut self.cur] {
            row.clear();
            row.resize(width, 0);
        }
        self.prev.iter_mut().enumerate().for_each(|(j, v)| *v = j);
        let mut prev_min = 0;
        for i in 1..=a.len() {
            self.cur[0] = i;
            for j in 1..width {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut d = (self.prev[j] + 1)
                    .min(self.cur[j - 1] + 1)
                    .min(self.prev[j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d = d.min(self.prev2[j - 2] + 1);
                }
                self.cur[j] = d;
            }
            let cur_min = self.cur.iter().copied().min().unwrap_or(0);
            if cur_min > max && prev_min > max {
                return None;
            }
            prev_min = cur_min;
            std::mem::swap(&mut self.prev2, &mut self.prev);
            std::mem::swap(&mut self.prev, &mut self.cur);
        }
        let d = self.prev[b.len()];
        (d <= max).then_some(d)
    }
}

/// What an id prefix can look like once typed: `t1583.0`, `1583`, `T158`. Returns the dotted
/// lowercase form and the digits-only form, or None when the query is not id-like.
fn id_prefix_forms(q: &str) -> Option<(String, String)> {
    let body = q.strip_prefix('t').unwrap_or(q);
    if body.is_empty()
        || !body.chars().all(|c| c.is_ascii_digit() || c == '.')
        || body.starts_with('.')
    {
        return None;
    }
    let digits = body.replace('.', "");
    let dotted = if body.contains('.') || digits.len() <= 4 {
        format!("t{body}")
    } else {
        format!("t{}.{}", &digits[..4], &digits[4..])
    };
    Some((dotted, digits))
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    DistanceRows::default()
        .bounded(&a, &b, usize::MAX)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain full-matrix distance, the reference the bounded one is checked against.
    fn reference_distance(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut prev2 = vec![0; b.len() + 1];
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        let mut cur = vec![0; b.len() + 1];
        for i in 1..=a.len() {
            cur[0] = i;
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    cur[j] = cur[j].min(prev2[j - 2] + 1);
                }
            }
            std::mem::swap(&mut prev2, &mut prev);
            std::mem::swap(&mut prev, &mut cur);
        }
        prev[b.len()]
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("services", "servcies"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("1583", "1538"), 1);
    }

    #[test]
    fn bounded_distance_agrees_with_the_full_one() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "services",
            "servcies",
            "srevices",
            "powershell",
            "powrshell",
            "pwoershell",
            "credential",
            "credental",
            "dumping",
            "lsass",
            "lsas",
            "é",
            "éa",
        ];
        let mut rows = DistanceRows::default();
        for a in words {
            for b in words {
                let full = reference_distance(a, b);
                let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                for max in 0..4 {
                    let want = (full <= max).then_some(full);
                    assert_eq!(rows.bounded(&ac, &bc, max), want, "{a} {b} {max}");
                }
            }
        }
    }

    #[test]
    fn absent_characters_never_exceed_the_distance() {
        for (a, b) in [
            ("powrshell", "powershel"),
            ("lsas", "lsass"),
            ("xyz", "abc"),
            ("é", "e"),
        ] {
            let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            assert!(
                absent_chars(&ac, &bc) <= reference_distance(a, b),
                "{a} {b}"
            );
        }
        assert_eq!(absent_chars(&['x', 'y', 'z'], &['a', 'b', 'c']), 3);
    }

    #[test]
    fn id_prefix_forms_accept_what_people_type() {
        assert_eq!(
            id_prefix_forms("t1583"),
            Some(("t1583".into(), "1583".into()))
        );
        assert_eq!(
            id_prefix_forms("1583.0"),
            Some(("t1583.0".into(), "15830".into()))
        );
        assert_eq!(
            id_prefix_forms("158300"),
            Some(("t1583.00".into(), "158300".into()))
        );
        assert_eq!(id_prefix_forms("web"), None);
    }
}
