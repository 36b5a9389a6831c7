//! The escalation decision (DESIGN.md, "The escalation decision").
//!
//! With an `Escalation Rule` the rule is evaluated in three-valued logic over the answers
//! (Concerning = true, Clear = false, Unknown or unanswered = unknown): escalate as soon as it is
//! certainly true, recommend closing as benign when it is certainly false, otherwise pending,
//! naming the questions that would settle it. Without a rule, the [`DefaultPolicy`] from config
//! (`escalation.default`) decides, in the same three-valued way. Every decision carries its
//! reasons: the answers that made it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ParseError;
use super::state::Answer;
use crate::playbook::Rule;

/// What the answers say should happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// Escalate to Tier 2.
    Escalate { reasons: Vec<String> },
    /// The answers rule escalation out: recommend closing as benign.
    RecommendClose { reasons: Vec<String> },
    /// Not settled yet; answering `waiting_on` (1-based question numbers) would settle it.
    Pending {
        waiting_on: Vec<usize>,
        reasons: Vec<String>,
    },
}

/// A decision without its reasons: what the bot compares to decide whether to post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionKind {
    Escalate,
    RecommendClose,
    Pending,
}

impl DecisionKind {
    /// `Escalate`, `Recommend closing as benign`, `Pending`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Escalate => "Escalate",
            Self::RecommendClose => "Recommend closing as benign",
            Self::Pending => "Pending",
        }
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl Decision {
    pub const fn kind(&self) -> DecisionKind {
        match self {
            Self::Escalate { .. } => DecisionKind::Escalate,
            Self::RecommendClose { .. } => DecisionKind::RecommendClose,
            Self::Pending { .. } => DecisionKind::Pending,
        }
    }

    pub fn reasons(&self) -> &[String] {
        match self {
            Self::Escalate { reasons }
            | Self::RecommendClose { reasons }
            | Self::Pending { reasons, .. } => reasons,
        }
    }

    /// The questions (1-based) that would settle a pending decision; empty otherwise.
    pub fn waiting_on(&self) -> &[usize] {
        match self {
            Self::Pending { waiting_on, .. } => waiting_on,
            _ => &[],
        }
    }

    /// One line: `Escalate`, `Recommend closing as benign`, `Pending: waiting on q2 and q3`.
    pub fn headline(&self) -> String {
        match self {
            Self::Pending { waiting_on, .. } if !waiting_on.is_empty() => {
                format!("Pending: waiting on {}", q_list(waiting_on))
            }
            other => other.kind().label().to_owned(),
        }
    }
}

/// Whether `next` differs in kind from `previous` (no previous decision counts as pending, which
/// is what an incident with no answers is). The bot posts a decision only when this is true.
pub fn kind_changed(previous: Option<&Decision>, next: &Decision) -> bool {
    previous.map_or(DecisionKind::Pending, Decision::kind) != next.kind()
}

/// How to decide when the playbook has no Escalation Rule (config `escalation.default`).
///
/// In config and on the command line it is written `any-concerning` (the default),
/// `all-concerning` or `at-least-<n>` (e.g. `at-least-2`); the table form
/// `{ at_least = { concerning = 2 } }` is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DefaultPolicy {
    /// Escalate when any answer is Concerning; recommend closing when every question is
    /// answered Clear; otherwise pending on the unanswered and Unknown questions.
    #[default]
    AnyConcerning,
    /// Escalate when every question is answered Concerning; recommend closing as soon as one is
    /// Clear.
    AllConcerning,
    /// Escalate when at least `concerning` answers are Concerning; recommend closing when too
    /// few questions are left open to reach it. More than the incident has questions means all
    /// of them; 0 means 1.
    AtLeast { concerning: usize },
}

impl DefaultPolicy {
    /// Parses `any-concerning`, `all-concerning`, `at-least-2` (also `any`, `all`,
    /// `at-least 2`, `at_least:2`), any case.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let bad = || {
            ParseError::new(
                "an escalation policy",
                input,
                "use any-concerning, all-concerning or at-least-<n> with n ≥ 1 (e.g. at-least-2)",
            )
        };
        let k = super::keyword(input);
        match k.as_str() {
            "any-concerning" | "any" => Ok(Self::AnyConcerning),
            "all-concerning" | "all" => Ok(Self::AllConcerning),
            _ => {
                let n = k
                    .strip_prefix("at-least")
                    .map(|r| r.trim_start_matches(['-', ':', '=']))
                    .map(|r| r.strip_suffix("-concerning").unwrap_or(r))
                    .and_then(|r| r.parse::<usize>().ok())
                    .filter(|&n| n >= 1)
                    .ok_or_else(bad)?;
                Ok(Self::AtLeast { concerning: n })
            }
        }
    }

    /// The policy in words, for reasons: `escalate when any answer is Concerning`.
    pub fn describe(self) -> String {
        match self {
            Self::AnyConcerning => "escalate when any answer is Concerning".to_owned(),
            Self::AllConcerning => "escalate when every answer is Concerning".to_owned(),
            Self::AtLeast { concerning } => {
                format!("escalate when at least {concerning} answers are Concerning")
            }
        }
    }

    /// How many Concerning answers escalate an incident with `questions` questions.
    fn needed(self, questions: usize) -> usize {
        match self {
            Self::AnyConcerning => 1,
            Self::AllConcerning => questions,
            Self::AtLeast { concerning } => concerning.clamp(1, questions.max(1)),
        }
    }
}

impl fmt::Display for DefaultPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AnyConcerning => f.write_str("any-concerning"),
            Self::AllConcerning => f.write_str("all-concerning"),
            Self::AtLeast { concerning } => write!(f, "at-least-{concerning}"),
        }
    }
}

impl FromStr for DefaultPolicy {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for DefaultPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DefaultPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Table {
            AnyConcerning,
            AllConcerning,
            AtLeast { concerning: usize },
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Table(Table),
        }
        match Repr::deserialize(d)? {
            Repr::Text(s) => Self::parse(&s).map_err(serde::de::Error::custom),
            Repr::Table(Table::AnyConcerning) => Ok(Self::AnyConcerning),
            Repr::Table(Table::AllConcerning) => Ok(Self::AllConcerning),
            Repr::Table(Table::AtLeast { concerning }) if concerning >= 1 => {
                Ok(Self::AtLeast { concerning })
            }
            Repr::Table(Table::AtLeast { .. }) => Err(serde::de::Error::custom(
                "escalation policy at_least needs concerning ≥ 1",
            )),
        }
    }
}

/// A rule with explicit parentheses wherever `and` and `or` mix (`q1 or (q2 and q3)`,
/// `(q1 and q2) or q3`), so a reason reads the same whatever precedence the reader assumes.
pub fn rule_text(rule: &Rule) -> String {
    fn part(r: &Rule, parent_is_and: Option<bool>) -> String {
        match r {
            Rule::Q(n) => format!("q{n}"),
            Rule::Not(inner) => match **inner {
                Rule::Q(_) | Rule::Not(_) => format!("not {}", part(inner, None)),
                _ => format!("not ({})", part(inner, None)),
            },
            Rule::And(rs) | Rule::Or(rs) => {
                let is_and = matches!(r, Rule::And(_));
                let op = if is_and { " and " } else { " or " };
                let body = rs
                    .iter()
                    .map(|c| part(c, Some(is_and)))
                    .collect::<Vec<_>>()
                    .join(op);
                if parent_is_and.is_some_and(|p| p != is_and) {
                    format!("({body})")
                } else {
                    body
                }
            }
        }
    }
    part(rule, None)
}

/// The longest note quoted in a reason; longer notes are cut with `…`.
const NOTE_IN_REASON: usize = 200;

/// `q1`, `q1 and q2`, `q1, q2 and q3`.
pub(crate) fn q_list(qs: &[usize]) -> String {
    let names: Vec<String> = qs.iter().map(|q| format!("q{q}")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// `q1 answered Concerning by alice: "new account with no ticket"`.
pub(crate) fn answer_line(question: usize, a: &Answer) -> String {
    let mut s = format!(
        "q{question} answered {} by {}",
        a.finding.label(),
        a.by.name
    );
    if let Some(note) = a.note.as_deref() {
        let one_line = note.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = one_line.chars().take(NOTE_IN_REASON).collect();
        let ellipsis = if cut.len() < one_line.len() {
            "…"
        } else {
            ""
        };
        s.push_str(&format!(": \"{cut}{ellipsis}\""));
    }
    s
}

/// `q2 (unanswered)`, `q4 (answered Unknown by bob)`.
fn open_line(question: usize, a: Option<&Answer>) -> String {
    match a {
        Some(a) => format!(
            "q{question} (answered {} by {})",
            a.finding.label(),
            a.by.name
        ),
        None => format!("q{question} (unanswered)"),
    }
}

/// Decides from the answers (`answers[i]` is question i+1's latest answer). `questions` is the
/// number of analysis questions of the incident; the rule, when there is one, wins over the
/// policy. Pure: the same answers always give the same decision and reasons.
pub fn decide(
    questions: usize,
    rule: Option<&Rule>,
    policy: DefaultPolicy,
    answers: &[Option<Answer>],
) -> Decision {
    let answer = |q: usize| answer_of(questions, answers, q);
    match rule {
        Some(rule) => by_rule(questions, rule, &answer),
        None => by_policy(questions, policy, &answer),
    }
}

/// The kind of decision [`decide`] gives for the same input, without wording its reasons: what
/// colours a question message, asked on every button press. Always `decide(…).kind()`.
pub fn decide_kind(
    questions: usize,
    rule: Option<&Rule>,
    policy: DefaultPolicy,
    answers: &[Option<Answer>],
) -> DecisionKind {
    let answer = |q: usize| answer_of(questions, answers, q);
    let value = |q: usize| answer(q).and_then(|a| a.finding.truth());
    let settled = match rule {
        Some(rule) => rule.eval(&value),
        None if questions == 0 => None,
        None => {
            let concerning = (1..=questions).filter(|&q| value(q) == Some(true)).count();
            let open = (1..=questions).filter(|&q| value(q).is_none()).count();
            policy_settles(policy.needed(questions), concerning, open)
        }
    };
    match settled {
        Some(true) => DecisionKind::Escalate,
        Some(false) => DecisionKind::RecommendClose,
        None => DecisionKind::Pending,
    }
}

/// Question `q`'s latest answer, when `q` is one of the incident's `questions`.
fn answer_of(questions: usize, answers: &[Option<Answer>], q: usize) -> Option<&Answer> {
    if q == 0 || q > questions {
        return None;
    }
    answers.get(q - 1).and_then(Option::as_ref)
}

/// What the default policy settles, needing `need` Concerning answers, with `concerning` of
/// them given and `open` questions still open: escalate (true), close (false), or not yet.
fn policy_settles(need: usize, concerning: usize, open: usize) -> Option<bool> {
    if concerning >= need {
        Some(true)
    } else if concerning + open < need {
        Some(false)
    } else {
        None
    }
}

fn by_rule<'a>(
    questions: usize,
    rule: &Rule,
    answer: &impl Fn(usize) -> Option<&'a Answer>,
) -> Decision {
    let value = |q: usize| answer(q).and_then(|a| a.finding.truth());
    let lines = |qs: &mut dyn Iterator<Item = usize>| -> Vec<String> {
        qs.filter_map(|q| answer(q).map(|a| answer_line(q, a)))
            .collect()
    };
    match rule.eval(&value) {
        Some(certain) => {
            let mut reasons = vec![format!(
                "rule {} is certainly {}",
                rule_text(rule),
                if certain { "true" } else { "false" }
            )];
            reasons.extend(lines(&mut rule.reasons(&value).into_iter()));
            if certain {
                Decision::Escalate { reasons }
            } else {
                Decision::RecommendClose { reasons }
            }
        }
        None => {
            let settle = rule.would_settle(&value);
            let waiting_on: Vec<usize> =
                settle.iter().copied().filter(|&q| q <= questions).collect();
            let mut reasons = vec![format!("rule {} is not settled yet", rule_text(rule))];
            if !waiting_on.is_empty() {
                let open: Vec<String> = waiting_on
                    .iter()
                    .map(|&q| open_line(q, answer(q)))
                    .collect();
                reasons.push(format!("waiting on {}", open.join(", ")));
            }
            let missing: Vec<usize> = rule
                .questions()
                .into_iter()
                .filter(|&q| q > questions)
                .collect();
            if !missing.is_empty() {
                reasons.push(format!(
                    "the rule names {} but this incident has only {questions} question{}; escalate by hand if needed",
                    q_list(&missing),
                    if questions == 1 { "" } else { "s" }
                ));
            }
            Decision::Pending {
                waiting_on,
                reasons,
            }
        }
    }
}

fn by_policy<'a>(
    questions: usize,
    policy: DefaultPolicy,
    answer: &impl Fn(usize) -> Option<&'a Answer>,
) -> Decision {
    let policy_line = format!("default policy: {}", policy.describe());
    if questions == 0 {
        return Decision::Pending {
            waiting_on: Vec::new(),
            reasons: vec![
                policy_line,
                "this incident has no analysis questions; escalate by hand or close it".to_owned(),
            ],
        };
    }
    let need = policy.needed(questions);
    let with = |f: super::Finding| -> Vec<usize> {
        (1..=questions)
            .filter(|&q| answer(q).is_some_and(|a| a.finding == f))
            .collect()
    };
    let concerning = with(super::Finding::Concerning);
    let clear = with(super::Finding::Clear);
    let open: Vec<usize> = (1..=questions)
        .filter(|&q| answer(q).and_then(|a| a.finding.truth()).is_none())
        .collect();
    let lines = |qs: &[usize]| -> Vec<String> {
        qs.iter()
            .filter_map(|&q| answer(q).map(|a| answer_line(q, a)))
            .collect()
    };
    let settled = policy_settles(need, concerning.len(), open.len());
    if settled == Some(true) {
        let mut reasons = vec![policy_line];
        reasons.extend(lines(&concerning));
        Decision::Escalate { reasons }
    } else if settled == Some(false) {
        let why = if clear.len() == questions {
            format!(
                "all {questions} question{} answered Clear",
                if questions == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "at most {} of {questions} answers can still be Concerning, fewer than {need}",
                concerning.len() + open.len()
            )
        };
        let mut reasons = vec![policy_line, why];
        reasons.extend(lines(&clear));
        Decision::RecommendClose { reasons }
    } else {
        let mut reasons = vec![policy_line];
        if need > 1 {
            reasons.push(format!(
                "{} of {need} Concerning answers needed so far",
                concerning.len()
            ));
        } else {
            reasons.push("no answer is Concerning yet".to_owned());
        }
        let waiting: Vec<String> = open.iter().map(|&q| open_line(q, answer(q))).collect();
        reasons.push(format!("waiting on {}", waiting.join(", ")));
        reasons.extend(lines(&concerning));
        Decision::Pending {
            waiting_on: open,
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{ActorRef, Finding};
    use chrono::{DateTime, Utc};

    fn t0() -> DateTime<Utc> {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn a(f: Finding) -> Option<Answer> {
        Some(Answer {
            finding: f,
            note: None,
            by: ActorRef::new(1, "alice"),
            at: t0(),
        })
    }

    fn noted(f: Finding, note: &str) -> Option<Answer> {
        let mut x = a(f);
        x.as_mut().unwrap().note = Some(note.to_owned());
        x
    }

    use Finding::{Clear as L, Concerning as C, Unknown as U};

    fn rule(s: &str) -> Rule {
        Rule::parse(s).unwrap()
    }

    fn any() -> DefaultPolicy {
        DefaultPolicy::AnyConcerning
    }

    #[test]
    fn rule_escalates_as_soon_as_certainly_true() {
        let r = rule("q1 or (q2 and q3)");
        let d = decide(
            3,
            Some(&r),
            any(),
            &[noted(C, "new account with no ticket"), None, None],
        );
        assert_eq!(
            d,
            Decision::Escalate {
                reasons: vec![
                    "rule q1 or (q2 and q3) is certainly true".to_owned(),
                    "q1 answered Concerning by alice: \"new account with no ticket\"".to_owned(),
                ]
            }
        );
        // The deciding side only: q2 and q3 made it, not the Clear q1.
        let d = decide(3, Some(&r), any(), &[a(L), a(C), a(C)]);
        assert_eq!(d.kind(), DecisionKind::Escalate);
        assert_eq!(
            d.reasons()[1..],
            [
                "q2 answered Concerning by alice".to_owned(),
                "q3 answered Concerning by alice".to_owned()
            ]
        );
    }

    #[test]
    fn rule_recommends_close_when_certainly_false() {
        let r = rule("q1 or (q2 and q3)");
        let d = decide(3, Some(&r), any(), &[a(L), a(L), None]);
        assert_eq!(
            d,
            Decision::RecommendClose {
                reasons: vec![
                    "rule q1 or (q2 and q3) is certainly false".to_owned(),
                    "q1 answered Clear by alice".to_owned(),
                    "q2 answered Clear by alice".to_owned(),
                ]
            }
        );
        let not = rule("not q1");
        assert_eq!(
            decide(1, Some(&not), any(), &[a(C)]).kind(),
            DecisionKind::RecommendClose
        );
        assert_eq!(
            decide(1, Some(&not), any(), &[a(L)]).kind(),
            DecisionKind::Escalate
        );
    }

    #[test]
    fn rule_pending_names_what_would_settle_it() {
        let r = rule("q1 and q2 or q3");
        let d = decide(3, Some(&r), any(), &[None, None, None]);
        assert_eq!(d.waiting_on(), [3]);
        assert_eq!(d.reasons()[0], "rule (q1 and q2) or q3 is not settled yet");
        assert_eq!(d.reasons()[1], "waiting on q3 (unanswered)");
        // Unknown counts as unknown, and is named as such.
        let d = decide(3, Some(&r), any(), &[a(C), a(U), a(L)]);
        assert_eq!(d.waiting_on(), [2]);
        assert_eq!(d.reasons()[1], "waiting on q2 (answered Unknown by alice)");
        assert_eq!(d.headline(), "Pending: waiting on q2");
        // No single answer settles `q1 and q2` with nothing answered: both are named.
        let both = rule("q1 and q2");
        assert_eq!(decide(2, Some(&both), any(), &[]).waiting_on(), [1, 2]);
    }

    #[test]
    fn rule_wins_over_the_policy() {
        let r = rule("q1 and q2");
        // Any-concerning would escalate on q1; the rule waits for q2.
        let d = decide(2, Some(&r), any(), &[a(C), None]);
        assert_eq!(d.kind(), DecisionKind::Pending);
        assert_eq!(d.waiting_on(), [2]);
    }

    #[test]
    fn rule_naming_missing_questions_says_so() {
        let r = rule("q1 and q5");
        let d = decide(2, Some(&r), any(), &[a(C), a(C)]);
        assert_eq!(d.kind(), DecisionKind::Pending);
        assert!(d.waiting_on().is_empty());
        assert!(
            d.reasons()
                .iter()
                .any(|r| r.contains("names q5") && r.contains("only 2 questions")),
            "{d:?}"
        );
        // Answers beyond the question count are ignored.
        let r = rule("q3");
        assert_eq!(
            decide(2, Some(&r), any(), &[None, None, a(C)]).kind(),
            DecisionKind::Pending
        );
    }

    #[test]
    fn any_concerning_default() {
        let p = any();
        let d = decide(3, None, p, &[None, None, None]);
        assert_eq!(
            d,
            Decision::Pending {
                waiting_on: vec![1, 2, 3],
                reasons: vec![
                    "default policy: escalate when any answer is Concerning".to_owned(),
                    "no answer is Concerning yet".to_owned(),
                    "waiting on q1 (unanswered), q2 (unanswered), q3 (unanswered)".to_owned(),
                ]
            }
        );
        let d = decide(3, None, p, &[a(L), noted(C, "odd"), a(U)]);
        assert_eq!(
            d,
            Decision::Escalate {
                reasons: vec![
                    "default policy: escalate when any answer is Concerning".to_owned(),
                    "q2 answered Concerning by alice: \"odd\"".to_owned(),
                ]
            }
        );
        // Unknown keeps it pending; only all Clear recommends closing.
        let d = decide(3, None, p, &[a(L), a(L), a(U)]);
        assert_eq!(d.waiting_on(), [3]);
        let d = decide(3, None, p, &[a(L), a(L), a(L)]);
        assert_eq!(d.kind(), DecisionKind::RecommendClose);
        assert_eq!(d.reasons()[1], "all 3 questions answered Clear");
        assert_eq!(d.reasons().len(), 5);
        // Short answer slices count as unanswered.
        assert_eq!(decide(2, None, p, &[a(L)]).waiting_on(), [2]);
    }

    #[test]
    fn all_concerning_and_at_least() {
        let all = DefaultPolicy::AllConcerning;
        assert_eq!(decide(2, None, all, &[a(C), None]).waiting_on(), [2]);
        assert_eq!(
            decide(2, None, all, &[a(C), a(C)]).kind(),
            DecisionKind::Escalate
        );
        let d = decide(2, None, all, &[a(L), None]);
        assert_eq!(d.kind(), DecisionKind::RecommendClose);
        assert!(d.reasons()[1].contains("at most 1 of 2"), "{d:?}");

        let two = DefaultPolicy::AtLeast { concerning: 2 };
        let d = decide(4, None, two, &[a(C), None, a(L), None]);
        assert_eq!(d.waiting_on(), [2, 4]);
        assert_eq!(d.reasons()[1], "1 of 2 Concerning answers needed so far");
        assert_eq!(
            decide(4, None, two, &[a(C), None, a(L), a(C)]).kind(),
            DecisionKind::Escalate
        );
        assert_eq!(
            decide(4, None, two, &[a(L), a(L), a(L), None]).kind(),
            DecisionKind::RecommendClose
        );
        // More than the incident has: all of them.
        let nine = DefaultPolicy::AtLeast { concerning: 9 };
        assert_eq!(
            decide(2, None, nine, &[a(C), a(C)]).kind(),
            DecisionKind::Escalate
        );
        assert_eq!(
            decide(2, None, nine, &[a(C), None]).kind(),
            DecisionKind::Pending
        );
    }

    #[test]
    fn no_questions_stays_pending() {
        let d = decide(0, None, any(), &[]);
        assert_eq!(d.kind(), DecisionKind::Pending);
        assert!(d.reasons()[1].contains("escalate by hand"));
    }

    #[test]
    fn changed_answers_change_the_decision() {
        let r = rule("q1 or q2");
        let mut answers = vec![a(C), None];
        let first = decide(2, Some(&r), any(), &answers);
        assert_eq!(first.kind(), DecisionKind::Escalate);
        answers[0] = a(L);
        let second = decide(2, Some(&r), any(), &answers);
        assert_eq!(second.kind(), DecisionKind::Pending);
        assert!(kind_changed(Some(&first), &second));
        answers[1] = a(L);
        let third = decide(2, Some(&r), any(), &answers);
        assert_eq!(third.kind(), DecisionKind::RecommendClose);
        answers[1] = a(U);
        assert_eq!(
            decide(2, Some(&r), any(), &answers).kind(),
            DecisionKind::Pending
        );
    }

    #[test]
    fn kind_changes_only_on_kind() {
        let p1 = Decision::Pending {
            waiting_on: vec![1],
            reasons: vec![],
        };
        let p2 = Decision::Pending {
            waiting_on: vec![2],
            reasons: vec!["x".into()],
        };
        let e = Decision::Escalate { reasons: vec![] };
        assert!(!kind_changed(None, &p1));
        assert!(!kind_changed(Some(&p1), &p2));
        assert!(kind_changed(None, &e));
        assert!(kind_changed(Some(&p2), &e));
        assert!(!kind_changed(
            Some(&e),
            &Decision::Escalate {
                reasons: vec!["y".into()]
            }
        ));
    }

    #[test]
    fn long_notes_are_cut_in_reasons() {
        let long = "x".repeat(500);
        let line = answer_line(1, noted(C, &long).as_ref().unwrap());
        assert!(line.ends_with("…\""));
        assert!(line.chars().count() < 260);
        let multi = answer_line(2, noted(C, "a\n  b").as_ref().unwrap());
        assert!(multi.ends_with(": \"a b\""));
    }

    #[test]
    fn rules_read_with_explicit_parentheses() {
        for (src, want) in [
            ("q1 or (q2 and q3)", "q1 or (q2 and q3)"),
            ("q1 and q2 or q3", "(q1 and q2) or q3"),
            ("q1 and (q2 or not q3)", "q1 and (q2 or not q3)"),
            ("not (q1 or q2)", "not (q1 or q2)"),
            ("not not q1", "not not q1"),
            ("q1 or q2 or q3", "q1 or q2 or q3"),
            (
                "(q1 and q2) or (q3 and not (q4 or q5))",
                "(q1 and q2) or (q3 and not (q4 or q5))",
            ),
        ] {
            let r = rule(src);
            assert_eq!(rule_text(&r), want, "{src}");
            assert_eq!(Rule::parse(want).unwrap(), r, "{src}");
        }
    }

    #[test]
    fn q_lists() {
        assert_eq!(q_list(&[]), "");
        assert_eq!(q_list(&[1]), "q1");
        assert_eq!(q_list(&[1, 2]), "q1 and q2");
        assert_eq!(q_list(&[1, 2, 3]), "q1, q2 and q3");
    }

    #[test]
    fn policies_parse_from_config() {
        for (s, want) in [
            ("any-concerning", DefaultPolicy::AnyConcerning),
            ("ANY_CONCERNING", DefaultPolicy::AnyConcerning),
            ("all", DefaultPolicy::AllConcerning),
            ("at-least-2", DefaultPolicy::AtLeast { concerning: 2 }),
            ("at_least:3", DefaultPolicy::AtLeast { concerning: 3 }),
            ("at least 4", DefaultPolicy::AtLeast { concerning: 4 }),
        ] {
            assert_eq!(DefaultPolicy::parse(s), Ok(want), "{s}");
            assert_eq!(DefaultPolicy::parse(&want.to_string()), Ok(want));
        }
        for bad in ["", "some", "at-least-0", "at-least-x", "at-least"] {
            let e = DefaultPolicy::parse(bad).unwrap_err().to_string();
            assert!(e.contains("at-least-<n>"), "{bad}: {e}");
        }
        assert_eq!(DefaultPolicy::default(), DefaultPolicy::AnyConcerning);
        let v = serde_json::to_value(DefaultPolicy::AtLeast { concerning: 2 }).unwrap();
        assert_eq!(v, "at-least-2");
        let back: DefaultPolicy = serde_json::from_value(v).unwrap();
        assert_eq!(back, DefaultPolicy::AtLeast { concerning: 2 });
        let table: DefaultPolicy =
            serde_json::from_str(r#"{"at_least":{"concerning":3}}"#).unwrap();
        assert_eq!(table, DefaultPolicy::AtLeast { concerning: 3 });
        let unit: DefaultPolicy = serde_json::from_str(r#""all_concerning""#).unwrap();
        assert_eq!(unit, DefaultPolicy::AllConcerning);
        assert!(serde_json::from_str::<DefaultPolicy>(r#""sometimes""#).is_err());
        assert!(serde_json::from_str::<DefaultPolicy>(r#"{"at_least":{"concerning":0}}"#).is_err());
    }

    #[test]
    fn decisions_serialise_with_a_kind_tag() {
        let d = Decision::Pending {
            waiting_on: vec![2],
            reasons: vec!["r".into()],
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["kind"], "pending");
        assert_eq!(serde_json::from_value::<Decision>(v).unwrap(), d);
        let v = serde_json::to_value(Decision::RecommendClose { reasons: vec![] }).unwrap();
        assert_eq!(v["kind"], "recommend_close");
    }

    /// The kind alone (what colours a question message on every press) is always the kind of
    /// the whole decision: every answer combination of up to four questions, by rule and by
    /// each policy.
    #[test]
    fn the_kind_alone_is_the_kind_of_the_whole_decision() {
        let findings = [
            None,
            Some(Finding::Concerning),
            Some(Finding::Clear),
            Some(Finding::Unknown),
        ];
        let rules = [
            None,
            Some(rule("q1 or (q2 and q3)")),
            Some(rule("not q1")),
            Some(rule("q5")),
        ];
        let policies = [
            DefaultPolicy::AnyConcerning,
            DefaultPolicy::AllConcerning,
            DefaultPolicy::AtLeast { concerning: 2 },
        ];
        let mut checked = 0;
        for questions in 0..=4usize {
            for combo in 0..4usize.pow(questions as u32) {
                let answers: Vec<Option<Answer>> = (0..questions)
                    .map(|i| findings[combo / 4usize.pow(i as u32) % 4].and_then(a))
                    .collect();
                for r in &rules {
                    for policy in policies {
                        let whole = decide(questions, r.as_ref(), policy, &answers).kind();
                        let kind = decide_kind(questions, r.as_ref(), policy, &answers);
                        assert_eq!(
                            kind, whole,
                            "{questions} questions {answers:?} {r:?} {policy:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, (1 + 4 + 16 + 64 + 256) * 4 * 3);
    }
}
