//! The `Escalation Rule` row: `q1 and q2 or q3`, `not q1`, parentheses; evaluated in
//! three-valued (Kleene) logic over the answers, where a question is true when answered
//! Concerning, false when Clear, and unknown when Unknown or unanswered.

use std::collections::BTreeSet;
use std::fmt;

/// A parsed rule. Question numbers are 1-based as written (`q1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Q(usize),
    Not(Box<Rule>),
    And(Vec<Rule>),
    Or(Vec<Rule>),
}

/// A rule that does not parse: where (character offset) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "escalation rule `{rule}`: {message} at character {column}; write questions as q1, q2, … joined by and, or, not and parentheses, e.g. `q1 and (q2 or q3)`",
    column = .offset + 1
)]
pub struct RuleError {
    pub rule: String,
    /// 0-based character offset (the message shows it 1-based).
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Q(usize),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, RuleError> {
    let err = |offset, message: String| RuleError {
        rule: src.to_owned(),
        offset,
        message,
    };
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // Offsets count characters, as the message says, not bytes.
        let (at, c) = (i, chars[i].1);
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (out.push((at, Tok::Open)), i += 1).1,
            ')' => (out.push((at, Tok::Close)), i += 1).1,
            '&' | '|' | '!' => {
                let doubled =
                    matches!(c, '&' | '|') && chars.get(i + 1).is_some_and(|&(_, n)| n == c);
                let tok = match c {
                    '&' => Tok::And,
                    '|' => Tok::Or,
                    _ => Tok::Not,
                };
                out.push((at, tok));
                i += if doubled { 2 } else { 1 };
            }
            c if c.is_alphanumeric() => {
                let start = i;
                while i < chars.len() && chars[i].1.is_alphanumeric() {
                    i += 1;
                }
                let word: String = chars[start..i]
                    .iter()
                    .map(|&(_, c)| c)
                    .collect::<String>()
                    .to_lowercase();
                let tok = match word.as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    w => match w.strip_prefix('q').and_then(|n| n.parse::<usize>().ok()) {
                        Some(n) if n >= 1 => Tok::Q(n),
                        _ => {
                            return Err(err(
                                at,
                                format!("`{word}` is not a question (q1, q2, …) or and/or/not"),
                            ));
                        }
                    },
                };
                out.push((at, tok));
            }
            other => return Err(err(at, format!("unexpected `{other}`"))),
        }
    }
    Ok(out)
}

/// How deeply `not` and parentheses may nest: far beyond any real rule, and shallow enough
/// that parsing, evaluating and printing never exhaust the stack.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
    /// Current nesting of `not` and `(`.
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, message: &str) -> RuleError {
        let offset = self
            .toks
            .get(self.pos)
            .map_or(self.src.chars().count(), |t| t.0);
        RuleError {
            rule: self.src.to_owned(),
            offset,
            message: message.to_owned(),
        }
    }
    fn eat(&mut self, t: &Tok) -> bool {
        let hit = self.toks.get(self.pos).is_some_and(|(_, x)| x == t);
        if hit {
            self.pos += 1;
        }
        hit
    }
    fn or(&mut self) -> Result<Rule, RuleError> {
        let mut parts = vec![self.and()?];
        while self.eat(&Tok::Or) {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Rule::Or(parts)
        })
    }
    fn and(&mut self) -> Result<Rule, RuleError> {
        let mut parts = vec![self.not()?];
        while self.eat(&Tok::And) {
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Rule::And(parts)
        })
    }
    fn not(&mut self) -> Result<Rule, RuleError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(&format!("more than {MAX_DEPTH} nested `not`s or `(`s")));
        }
        self.depth += 1;
        let rule = self.operand();
        self.depth -= 1;
        rule
    }
    fn operand(&mut self) -> Result<Rule, RuleError> {
        if self.eat(&Tok::Not) {
            return Ok(Rule::Not(Box::new(self.not()?)));
        }
        match self.toks.get(self.pos).map(|t| t.1.clone()) {
            Some(Tok::Q(n)) => {
                self.pos += 1;
                Ok(Rule::Q(n))
            }
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if !self.eat(&Tok::Close) {
                    return Err(self.err("missing `)`"));
                }
                Ok(inner)
            }
            Some(_) => Err(self.err("expected a question (q1, q2, …), `not` or `(`")),
            None => Err(self.err("the rule ends too early")),
        }
    }
}

impl Rule {
    pub fn parse(src: &str) -> Result<Rule, RuleError> {
        let toks = lex(src)?;
        let mut p = Parser {
            src,
            toks,
            pos: 0,
            depth: 0,
        };
        let rule = p.or()?;
        if p.pos != p.toks.len() {
            return Err(p.err("unexpected text after a complete rule"));
        }
        Ok(rule)
    }

    /// Every question the rule names (1-based).
    pub fn questions(&self) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        self.visit(&mut |n| {
            out.insert(n);
        });
        out
    }

    fn visit(&self, f: &mut impl FnMut(usize)) {
        match self {
            Rule::Q(n) => f(*n),
            Rule::Not(r) => r.visit(f),
            Rule::And(rs) | Rule::Or(rs) => rs.iter().for_each(|r| r.visit(f)),
        }
    }

    /// Kleene evaluation: `Some(true)` certainly escalate, `Some(false)` certainly not, `None`
    /// not yet known. `value(n)` gives question n's value (1-based).
    pub fn eval(&self, value: &impl Fn(usize) -> Option<bool>) -> Option<bool> {
        match self {
            Rule::Q(n) => value(*n),
            Rule::Not(r) => r.eval(value).map(|v| !v),
            Rule::And(rs) => {
                let vals: Vec<_> = rs.iter().map(|r| r.eval(value)).collect();
                if vals.contains(&Some(false)) {
                    Some(false)
                } else if vals.iter().all(|v| *v == Some(true)) {
                    Some(true)
                } else {
                    None
                }
            }
            Rule::Or(rs) => {
                let vals: Vec<_> = rs.iter().map(|r| r.eval(value)).collect();
                if vals.contains(&Some(true)) {
                    Some(true)
                } else if vals.iter().all(|v| *v == Some(false)) {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }

    /// The questions whose answers make a certain result what it is (a sufficient set, not the
    /// whole rule): for `a or b` true only the true side, for `a and b` false only the false side.
    pub fn reasons(&self, value: &impl Fn(usize) -> Option<bool>) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        self.collect_reasons(value, &mut out);
        out
    }

    fn collect_reasons(&self, value: &impl Fn(usize) -> Option<bool>, out: &mut BTreeSet<usize>) {
        let Some(result) = self.eval(value) else {
            return;
        };
        match self {
            Rule::Q(n) => {
                out.insert(*n);
            }
            Rule::Not(r) => r.collect_reasons(value, out),
            Rule::And(rs) | Rule::Or(rs) => {
                // The side that decides: `and` false / `or` true hang on one child, else on all.
                let short = matches!(self, Rule::Or(_)) == result;
                if short {
                    if let Some(r) = rs.iter().find(|r| r.eval(value) == Some(result)) {
                        r.collect_reasons(value, out);
                    }
                } else {
                    rs.iter().for_each(|r| r.collect_reasons(value, out));
                }
            }
        }
    }

    /// While the result is unknown: the unsettled questions that, answered on their own, would
    /// settle it; when no single one would, every unsettled question the rule names.
    pub fn would_settle(&self, value: &impl Fn(usize) -> Option<bool>) -> Vec<usize> {
        if self.eval(value).is_some() {
            return Vec::new();
        }
        let open: Vec<usize> = self
            .questions()
            .into_iter()
            .filter(|&n| value(n).is_none())
            .collect();
        let single: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&q| {
                [true, false].into_iter().any(|v| {
                    self.eval(&|n| if n == q { Some(v) } else { value(n) })
                        .is_some()
                })
            })
            .collect();
        if single.is_empty() { open } else { single }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(
            f: &mut fmt::Formatter<'_>,
            rs: &[Rule],
            op: &str,
            parent_and: bool,
        ) -> fmt::Result {
            if parent_and {
                f.write_str("(")?;
            }
            for (i, r) in rs.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                match r {
                    Rule::Or(inner) if op == "and" => join(f, inner, "or", true)?,
                    other => write!(f, "{other}")?,
                }
            }
            if parent_and {
                f.write_str(")")?;
            }
            Ok(())
        }
        match self {
            Rule::Q(n) => write!(f, "q{n}"),
            Rule::Not(r) => match **r {
                Rule::Q(_) | Rule::Not(_) => write!(f, "not {r}"),
                _ => write!(f, "not ({r})"),
            },
            Rule::And(rs) => join(f, rs, "and", false),
            Rule::Or(rs) => join(f, rs, "or", false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(v: &[Option<bool>]) -> impl Fn(usize) -> Option<bool> + '_ {
        move |n| v.get(n - 1).copied().flatten()
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        assert_eq!(
            Rule::parse("q1 and q2 or q3").unwrap().to_string(),
            "q1 and q2 or q3"
        );
        let r = Rule::parse("q1 and q2 or q3").unwrap();
        assert_eq!(
            r,
            Rule::Or(vec![Rule::And(vec![Rule::Q(1), Rule::Q(2)]), Rule::Q(3)])
        );
        let r = Rule::parse("not q1 and (Q2 || q3)").unwrap();
        assert_eq!(r.to_string(), "not q1 and (q2 or q3)");
        assert_eq!(Rule::parse(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn three_valued_logic() {
        let r = Rule::parse("q1 and q2 or q3").unwrap();
        assert_eq!(r.eval(&answers(&[])), None);
        assert_eq!(r.eval(&answers(&[None, None, Some(true)])), Some(true));
        assert_eq!(r.eval(&answers(&[Some(true), Some(true)])), Some(true));
        assert_eq!(
            r.eval(&answers(&[Some(false), None, Some(false)])),
            Some(false)
        );
        assert_eq!(r.eval(&answers(&[Some(true), None, Some(false)])), None);
        let not = Rule::parse("not q1").unwrap();
        assert_eq!(not.eval(&answers(&[Some(false)])), Some(true));
        assert_eq!(not.eval(&answers(&[None])), None);
    }

    #[test]
    fn reasons_name_only_the_deciding_answers() {
        let r = Rule::parse("q1 and q2 or q3").unwrap();
        let v = [Some(true), Some(false), Some(true)];
        assert_eq!(
            r.reasons(&answers(&v)).into_iter().collect::<Vec<_>>(),
            vec![3]
        );
        let v = [Some(false), None, Some(false)];
        assert_eq!(
            r.reasons(&answers(&v)).into_iter().collect::<Vec<_>>(),
            vec![1, 3]
        );
    }

    #[test]
    fn pending_names_the_questions_that_would_settle_it() {
        let r = Rule::parse("q1 and q2 or q3").unwrap();
        assert_eq!(r.would_settle(&answers(&[])), vec![3]);
        assert_eq!(
            r.would_settle(&answers(&[Some(true), None, Some(false)])),
            vec![2]
        );
        let both = Rule::parse("q1 and q2").unwrap();
        assert_eq!(both.would_settle(&answers(&[Some(true)])), vec![2]);
        assert_eq!(both.would_settle(&answers(&[])), vec![1, 2]);
    }

    #[test]
    fn nesting_is_limited_and_offsets_count_characters() {
        let deep = format!("{}q1{}", "(".repeat(100), ")".repeat(100));
        assert!(Rule::parse(&deep).unwrap_err().message.contains("nested"));
        assert!(Rule::parse(&"not ".repeat(10_000)).is_err());
        let e = Rule::parse("q1 é q2").unwrap_err();
        assert_eq!(e.offset, 3);
        assert!(e.to_string().contains("at character 4"), "{e}");
    }

    #[test]
    fn bad_rules_say_where_and_how_to_fix() {
        for (src, needle) in [
            ("q1 and", "ends too early"),
            ("q1 q2", "after a complete rule"),
            ("(q1 or q2", "missing `)`"),
            ("q0", "not a question"),
            ("question1", "not a question"),
            ("q1 + q2", "unexpected `+`"),
            ("", "ends too early"),
        ] {
            let e = Rule::parse(src).unwrap_err().to_string();
            assert!(e.contains(needle), "{src}: {e}");
            assert!(e.contains("e.g. `q1 and (q2 or q3)`"));
        }
    }
}
