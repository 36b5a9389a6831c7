//! Autocomplete search over the library: from what has been typed so far, the best matches,
//! ranked exact id, id prefix, name-word prefix, tactic, then fuzzy (typos). Everything is
//! precomputed at load so a query over the whole corpus takes microseconds.

use std::sync::Arc;

use super::id::TechniqueId;
use super::model::Playbook;

/// The longest query looked at: Discord's autocomplete sends at most 100 characters, and the cap
/// keeps fuzzy matching cheap whatever is typed.
const MAX_QUERY_CHARS: usize = 100;

#[derive(Debug, Default)]
pub struct SearchIndex {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: TechniqueId,
    /// `t1583.006`
    id_dotted: String,
    /// `1583006`
    id_digits: String,
    name_words: Vec<String>,
    tactic_words: Vec<String>,
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl SearchIndex {
    /// Indexes playbooks in the order given (the library's id order).
    pub fn build(playbooks: &[Arc<Playbook>]) -> Self {
        let entries = playbooks
            .iter()
            .map(|p| Entry {
                id: p.id,
                id_dotted: p.id.to_string().to_lowercase(),
                id_digits: p.id.to_string()[1..].replace('.', ""),
                name_words: words(&p.name),
                tactic_words: p.tactics.iter().flat_map(|t| words(t)).collect(),
            })
            .collect();
        Self { entries }
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
        let q_words = words(&q);
        // (tier, secondary score, index); lower is better.
        let mut hits: Vec<(u8, u32, usize)> = Vec::new();
        let mut need_fuzzy = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if exact == Some(e.id) {
                hits.push((0, 0, i));
            } else if let Some((dotted, digits)) = &id_q
                && (e.id_dotted.starts_with(dotted.as_str())
                    || e.id_digits.starts_with(digits.as_str()))
            {
                hits.push((1, 0, i));
            } else if let Some(score) = prefix_score(&q_words, &e.name_words) {
                hits.push((2, score, i));
            } else if !q_words.is_empty() && prefix_score(&q_words, &e.tactic_words).is_some() {
                hits.push((3, 0, i));
            } else {
                need_fuzzy.push(i);
            }
        }
        // Typos are looked for in names only, and only when the better tiers left room.
        if hits.len() < limit && !q_words.is_empty() && id_q.is_none() {
            for i in need_fuzzy {
                if let Some(score) = fuzzy_score(&q_words, &self.entries[i].name_words) {
                    hits.push((4, score, i));
                }
            }
        }
        hits.sort_unstable();
        hits.into_iter().take(limit).map(|(_, _, i)| i).collect()
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

/// Every query word is a prefix of a distinct-position name word. Score: the position of the
/// first matched word (earlier is better), then how many extra words the name has.
fn prefix_score(q_words: &[String], name_words: &[String]) -> Option<u32> {
    if q_words.is_empty() {
        return None;
    }
    let mut first = u32::MAX;
    for qw in q_words {
        let pos = name_words.iter().position(|w| w.starts_with(qw.as_str()))?;
        first = first.min(pos as u32);
    }
    Some(first * 100 + name_words.len() as u32)
}

/// Each query word is within a small edit distance of a prefix of some name word (one typo per
/// four letters, at most two). Score: the total distance.
fn fuzzy_score(q_words: &[String], name_words: &[String]) -> Option<u32> {
    let mut total = 0;
    for qw in q_words {
        let n = qw.chars().count();
        if n < 3 {
            return None;
        }
        let allowed = (n / 4).clamp(1, 2);
        let best = name_words
            .iter()
            .map(|w| {
                let prefix: String = w.chars().take(n).collect();
                edit_distance(qw, &prefix)
            })
            .min()?;
        if best > allowed {
            return None;
        }
        total += best as u32;
    }
    Some(total)
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
pub fn edit_distance(a: &str, b: &str) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("services", "servcies"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("1583", "1538"), 1);
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
