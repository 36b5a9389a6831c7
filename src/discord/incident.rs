//! Incident messages laid out for Discord: the card, the thread's context and question
//! messages with their answer buttons, decisions, status and lists. Plain [`MessageSpec`]s.
//!
//! Button ids carry their meaning, so they work after a restart: `ans:<incident>:<q>:<c|k|u>`
//! answers, `note:<incident>:<q>` opens the note form, whose id is `notem:<incident>:<q>`.

use super::render::{
    self, ButtonSpec, ButtonStyle, EmbedSpec, MessageSpec, chunk, escape, limits, section_text,
};

/// Where the whole text is when a message had to be cut.
const EXPORT: &str = "`/incident export`";
use crate::effects::{Announcement, Listed, Notice};
use crate::incident::{
    Decision, DecisionKind, Event, Finding, Incident, IncidentId, IncidentStatus, Status, export,
};
use crate::playbook::{Playbook, SectionKind};
use crate::service::Recorded;

/// Questions per message: one row of four buttons each, five rows at most.
pub const QUESTIONS_PER_MESSAGE: usize = 5;
/// Most questions an incident can show with buttons (two question messages); the parser
/// refuses playbooks with more.
pub use crate::playbook::MAX_QUESTIONS;

const RED: u32 = 0xdc2626;
const GREEN: u32 = 0x16a34a;
const GREY: u32 = 0x6b7280;
const BLUE: u32 = 0x3b82f6;

/// What a button or form id means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Answer {
        incident: IncidentId,
        question: usize,
        finding: Finding,
    },
    NoteButton {
        incident: IncidentId,
        question: usize,
    },
    NoteForm {
        incident: IncidentId,
        question: usize,
    },
    /// The Acknowledge button of a page.
    Ack { incident: IncidentId },
}

fn finding_code(f: Finding) -> &'static str {
    match f {
        Finding::Concerning => "c",
        Finding::Clear => "k",
        Finding::Unknown => "u",
    }
}

/// The epoch of the store this process serves (see `Store::epoch`): 0 until the store is
/// restored from a backup. Process-wide, like the metrics: one daemon runs per process, and
/// the epoch cannot change while it runs (restoring needs the bot stopped).
static STORE_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sets the epoch custom ids carry (at start-up, from the store).
pub fn set_store_epoch(epoch: u64) {
    STORE_EPOCH.store(epoch, std::sync::atomic::Ordering::Relaxed);
}

pub fn store_epoch() -> u64 {
    STORE_EPOCH.load(std::sync::atomic::Ordering::Relaxed)
}

impl Control {
    /// The custom id, carrying the store's epoch after a restore (`ack:12@1`).
    pub fn custom_id(self) -> String {
        match store_epoch() {
            0 => self.bare_id(),
            epoch => format!("{}@{epoch}", self.bare_id()),
        }
    }

    /// The control a custom id means, and the store epoch it was made in (0 when it has none).
    pub fn parse_with_epoch(id: &str) -> Option<(Self, u64)> {
        let (bare, epoch) = match id.rsplit_once('@') {
            Some((bare, epoch)) => (bare, epoch.parse().ok()?),
            None => (id, 0),
        };
        Some((Self::parse(bare)?, epoch))
    }

    fn bare_id(self) -> String {
        match self {
            Self::Answer {
                incident,
                question,
                finding,
            } => format!("ans:{}:{question}:{}", incident.0, finding_code(finding)),
            Self::NoteButton { incident, question } => format!("note:{}:{question}", incident.0),
            Self::NoteForm { incident, question } => format!("notem:{}:{question}", incident.0),
            Self::Ack { incident } => format!("ack:{}", incident.0),
        }
    }

    /// The incident the control is about.
    pub fn incident(self) -> IncidentId {
        match self {
            Self::Answer { incident, .. }
            | Self::NoteButton { incident, .. }
            | Self::NoteForm { incident, .. }
            | Self::Ack { incident } => incident,
        }
    }

    /// The control of a custom id without its epoch.
    pub fn parse(id: &str) -> Option<Self> {
        let mut parts = id.split(':');
        let kind = parts.next()?;
        let incident = IncidentId(parts.next()?.parse().ok()?);
        if kind == "ack" {
            return parts.next().is_none().then_some(Self::Ack { incident });
        }
        let question: usize = parts.next()?.parse().ok()?;
        let control = match kind {
            "ans" => {
                let finding = match parts.next()? {
                    "c" => Finding::Concerning,
                    "k" => Finding::Clear,
                    "u" => Finding::Unknown,
                    _ => return None,
                };
                Self::Answer {
                    incident,
                    question,
                    finding,
                }
            }
            "note" => Self::NoteButton { incident, question },
            "notem" => Self::NoteForm { incident, question },
            _ => return None,
        };
        parts.next().is_none().then_some(control)
    }
}

fn status_label(inc: &Incident) -> String {
    match &inc.status {
        Status::Open => "open".into(),
        Status::Escalated => "escalated to Tier 2".into(),
        Status::Closed { resolution } => format!("closed ({})", resolution.label()),
    }
}

/// The card posted where `/incident open` was run.
pub fn card(inc: &Incident, thread: Option<u64>, note: Option<&str>) -> MessageSpec {
    let mut d = String::new();
    if let Some(n) = note {
        d.push_str(&format!("*{}*\n", escape(n)));
    }
    d.push_str(&format!(
        "**Technique:** {} · {}\n",
        inc.technique,
        escape(&inc.playbook_name)
    ));
    d.push_str(&format!(
        "**Opened by:** {} · **Status:** {}\n",
        escape(&inc.opened_by.name),
        status_label(inc)
    ));
    match thread {
        Some(t) => d.push_str(&format!(
            "**Thread:** <#{t}> — answer the analysis questions there."
        )),
        None => d.push_str("**Thread:** being created; it appears as soon as Discord answers."),
    }
    if let Some(alert) = &inc.alert {
        d.push_str(&format!("\n**Alert:** {}", escape(alert)));
    }
    let description = render::fit(&d, limits::EMBED_DESCRIPTION, EXPORT);
    MessageSpec {
        embeds: vec![EmbedSpec {
            title: crate::service::playbook::clip(
                &format!("{} · {}", inc.id, inc.title),
                limits::EMBED_TITLE,
            ),
            url: Some(inc.technique.attack_url()),
            description,
            footer: Some(format!(
                "{} questions · decision: {}",
                inc.questions.len(),
                inc.evaluate().kind().label()
            )),
            color: BLUE,
        }],
        ..MessageSpec::default()
    }
}

/// Text from an alert, for a message: markdown escaped, and every `@` followed by a zero-width
/// space so `@everyone`, `<@id>` and `<@&role>` show as text (no message pings anyone anyway:
/// `allowed_mentions` is empty).
pub fn alert_text(text: &str) -> String {
    escape(text).replace('@', "@\u{200b}")
}

/// A link from an alert as a markdown link when it is a plain http(s) URL, else as text.
fn alert_link(link: &str, source: &str) -> String {
    let plain = (link.starts_with("https://") || link.starts_with("http://"))
        && link.len() <= 512
        && !link.contains(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>' | '`'));
    if plain {
        format!("[open in {}]({link})", alert_text(source))
    } else {
        alert_text(link)
    }
}

/// The alert card, first in the thread of an incident an alert opened: source, severity, host,
/// user, link, every technique, how many alerts came and when the last did; without a
/// playbook, that none covers the techniques and the `closest` playbooks; for a storm, the
/// alerts that joined. Edited in place as alerts arrive.
pub fn alert_card(
    inc: &Incident,
    closest: &[(crate::playbook::TechniqueId, String)],
) -> MessageSpec {
    let Some(log) = &inc.alerts else {
        return card(inc, inc.thread.map(|t| t.thread_id), None);
    };
    let a = &log.first;
    let mut d = alert_facts(inc, log);
    d.push_str(&alert_tail(inc, log, closest));
    let description = render::fit(d.trim_end(), limits::EMBED_DESCRIPTION, EXPORT);
    MessageSpec {
        embeds: vec![EmbedSpec {
            title: crate::service::playbook::clip(
                &format!("🔔 {} · {}", inc.id, alert_text(&inc.title)),
                limits::EMBED_TITLE,
            ),
            description,
            footer: Some(format!("status: {}", status_label(inc))),
            color: match a.severity {
                crate::alert::Severity::Critical | crate::alert::Severity::High => RED,
                _ => BLUE,
            },
            ..EmbedSpec::default()
        }],
        ..MessageSpec::default()
    }
}

/// The alert's facts on its card: source, severity, host, user, rule, link, techniques, counts.
fn alert_facts(inc: &Incident, log: &crate::incident::AlertLog) -> String {
    use crate::incident::event::severity_name;
    let a = &log.first;
    let mut d = String::new();
    d.push_str(&format!(
        "**Source:** {} ({}) · **Severity:** {}\n",
        alert_text(&log.source),
        a.format,
        severity_name(a.severity)
    ));
    for (what, value) in [("Host", &a.host), ("User", &a.user), ("Rule", &a.rule)] {
        if let Some(v) = value {
            d.push_str(&format!("**{what}:** {}\n", alert_text(v)));
        }
    }
    if let Some(link) = &a.link {
        d.push_str(&format!("**Link:** {}\n", alert_link(link, &log.source)));
    }
    if !inc.techniques.is_empty() {
        let ids: Vec<String> = inc
            .techniques
            .iter()
            .map(|t| {
                if inc.has_playbook() && *t == inc.technique {
                    format!("[{t}]({}) (playbook)", t.attack_url())
                } else {
                    format!("[{t}]({})", t.attack_url())
                }
            })
            .collect();
        d.push_str(&format!("**Techniques:** {}\n", ids.join(" · ")));
    }
    d.push_str(&format!(
        "**Alerts:** {} · first {} · last {}\n",
        log.count,
        export::utc(log.first_seen),
        export::utc(log.last_seen)
    ));
    if let Some(at) = log.resolved_at {
        d.push_str(&format!(
            "✅ {} reports it resolved at {} (the incident stays open until closed)\n",
            alert_text(&log.source),
            export::utc(at)
        ));
    }
    d
}

/// The end of an alert card: a storm's latest alerts, or that no playbook covers it.
fn alert_tail(
    inc: &Incident,
    log: &crate::incident::AlertLog,
    closest: &[(crate::playbook::TechniqueId, String)],
) -> String {
    let mut d = String::new();
    if log.storm {
        d.push_str(&format!(
            "\n🌩️ **Alert storm:** {} opened more new incidents in a minute than `alerts.max_new_incidents_per_minute` allows; its new alerts join this incident. Latest:\n",
            alert_text(&log.source)
        ));
        for (at, title) in log.members.iter().rev().take(15) {
            d.push_str(&format!("• {} · {}\n", export::utc(*at), alert_text(title)));
        }
    } else if !inc.has_playbook() {
        let named = if inc.techniques.is_empty() {
            "The alert names no ATT&CK technique".to_owned()
        } else {
            let ids: Vec<String> = inc.techniques.iter().map(ToString::to_string).collect();
            format!("No playbook covers {}", ids.join(", "))
        };
        d.push_str(&format!(
            "\n📭 {named}, so there are no analysis questions."
        ));
        if !closest.is_empty() {
            d.push_str(" Closest playbooks:\n");
            for (id, name) in closest {
                d.push_str(&format!("• `{id}` {}\n", escape(name)));
            }
        } else {
            d.push('\n');
        }
        d.push_str(&format!(
            "Attach one with `/incident playbook incident:{} technique:<id>` to post its questions.",
            inc.id
        ));
    }
    d
}

fn answer_line(inc: &Incident, q: usize) -> String {
    line_of(inc, q, inc.answer(q))
}

/// Question `q`'s line with `answer` (None: unanswered).
fn line_of(inc: &Incident, q: usize, answer: Option<&crate::incident::Answer>) -> String {
    let text = escape(&inc.questions[q - 1]);
    let state = match answer {
        None => "▫️ *unanswered*".to_owned(),
        Some(a) => {
            let icon = match a.finding {
                Finding::Concerning => "⚠️",
                Finding::Clear => "✅",
                Finding::Unknown => "❔",
            };
            let note = a
                .note
                .as_deref()
                .map(|n| format!(" · “{}”", escape(n)))
                .unwrap_or_default();
            format!(
                "{icon} **{}** — {} at {}{note}",
                a.finding.label(),
                escape(&a.by.name),
                export::utc(a.at)
            )
        }
    };
    format!("**q{q}.** {text}\n> {state}")
}

/// The embed listing questions `range` with their answers.
fn questions_embed(inc: &Incident, part: usize, parts: usize) -> EmbedSpec {
    let color = match inc.evaluate_kind() {
        DecisionKind::Escalate => RED,
        DecisionKind::RecommendClose => GREEN,
        DecisionKind::Pending => GREY,
    };
    EmbedSpec {
        color,
        ..questions_text(inc, part, parts, true)
    }
}

/// The title and text of question message `part`'s embed: with the answers, or (`answered`
/// false) as first posted, every question unanswered.
fn questions_text(inc: &Incident, part: usize, parts: usize, answered: bool) -> EmbedSpec {
    let first = part * QUESTIONS_PER_MESSAGE + 1;
    let last = (first + QUESTIONS_PER_MESSAGE - 1).min(inc.questions.len());
    let body: Vec<String> = (first..=last)
        .map(|q| line_of(inc, q, inc.answer(q).filter(|_| answered)))
        .collect();
    let title = if parts == 1 {
        "Analysis questions".to_owned()
    } else {
        format!("Analysis questions ({}/{parts})", part + 1)
    };
    let description = render::fit(
        &body.join("\n"),
        limits::EMBED_DESCRIPTION,
        "`/incident status`",
    );
    EmbedSpec {
        title,
        description,
        ..EmbedSpec::default()
    }
}

fn buttons(inc: &Incident, part: usize) -> Vec<Vec<ButtonSpec>> {
    if inc.is_closed() {
        return Vec::new();
    }
    let first = part * QUESTIONS_PER_MESSAGE + 1;
    let last = (first + QUESTIONS_PER_MESSAGE - 1).min(inc.questions.len());
    (first..=last)
        .map(|q| {
            let id = inc.id;
            let b = |finding: Finding, style| ButtonSpec {
                custom_id: Control::Answer {
                    incident: id,
                    question: q,
                    finding,
                }
                .custom_id(),
                label: format!("q{q} {}", finding.label()),
                style,
            };
            vec![
                b(Finding::Concerning, ButtonStyle::Danger),
                b(Finding::Clear, ButtonStyle::Success),
                b(Finding::Unknown, ButtonStyle::Secondary),
                ButtonSpec {
                    custom_id: Control::NoteButton {
                        incident: id,
                        question: q,
                    }
                    .custom_id(),
                    label: format!("q{q} Note…"),
                    style: ButtonStyle::Primary,
                },
            ]
        })
        .collect()
}

/// How many question messages an incident has.
fn question_parts(inc: &Incident) -> usize {
    inc.questions
        .len()
        .min(MAX_QUESTIONS)
        .div_ceil(QUESTIONS_PER_MESSAGE)
        .max(1)
}

/// Question message `part` (0-based) with its buttons.
pub fn question_message(inc: &Incident, part: usize) -> MessageSpec {
    let parts = question_parts(inc);
    MessageSpec {
        embeds: vec![questions_embed(inc, part, parts)],
        buttons: buttons(inc, part),
        ..MessageSpec::default()
    }
}

/// The messages that open the thread, in order: context messages of their own (empty when the
/// context shares the first question message), then the question messages.
pub struct Opening {
    pub context: Vec<MessageSpec>,
    pub questions: Vec<MessageSpec>,
}

/// `inc` as its questions were first posted: nothing answered, not closed. The posts render
/// from it, so a post retried after answers came in (its first answer lost after Discord
/// acted) carries the same message under its nonce; an edit then shows the answers.
pub fn as_opened(inc: &Incident) -> Incident {
    let mut blank = inc.clone();
    blank.answers.iter_mut().for_each(|a| *a = None);
    blank.status = Status::Open;
    blank
}

/// The messages that open the thread, as one list (see [`opening`]).
pub fn opening_messages(inc: &Incident, playbook: Option<&Playbook>) -> Vec<MessageSpec> {
    let Opening {
        mut context,
        questions,
    } = opening(inc, playbook);
    context.extend(questions);
    context
}

/// The playbook context a thread opens with (key indicators, log sources, L1 steps), as embeds.
fn context(p: &Playbook) -> Vec<EmbedSpec> {
    let mut context = Vec::new();
    for kind in [
        SectionKind::KeyIndicators,
        SectionKind::LogSources,
        SectionKind::L1Steps,
    ] {
        if let Some(s) = p.section(kind) {
            let pieces = chunk(&section_text(s), limits::EMBED_DESCRIPTION);
            let n = pieces.len();
            for (i, description) in pieces.into_iter().enumerate() {
                let title = if n == 1 {
                    s.title.clone()
                } else {
                    format!("{} ({}/{n})", s.title, i + 1)
                };
                context.push(EmbedSpec {
                    title,
                    description,
                    color: GREY,
                    ..EmbedSpec::default()
                });
            }
        }
    }
    context
}

/// The context embeds of each technique's playbook, made once per playbook as loaded: a
/// reload loads new playbooks (new allocations), whose context is made anew when first used.
/// The `Weak` keeps its playbook's allocation, so no other playbook can have its address.
type ContextCache = std::collections::HashMap<
    crate::playbook::TechniqueId,
    (std::sync::Weak<Playbook>, std::sync::Arc<[EmbedSpec]>),
>;

static CONTEXTS: std::sync::LazyLock<std::sync::Mutex<ContextCache>> =
    std::sync::LazyLock::new(Default::default);

/// [`context`] of `playbook`, made once per playbook as loaded (a button press redraws the
/// first question message, context included, without laying out the playbook again).
fn context_of(playbook: &std::sync::Arc<Playbook>) -> std::sync::Arc<[EmbedSpec]> {
    let lock = || {
        CONTEXTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some((kept, embeds)) = lock().get(&playbook.id)
        && std::ptr::eq(kept.as_ptr(), std::sync::Arc::as_ptr(playbook))
    {
        return embeds.clone();
    }
    let embeds: std::sync::Arc<[EmbedSpec]> = context(playbook).into();
    let kept = (std::sync::Arc::downgrade(playbook), embeds.clone());
    lock().insert(playbook.id, kept);
    embeds
}

/// Whether the context shares the first question message, and then the room it leaves for the
/// question embeds. Decided on the questions unanswered, so the layout never changes as answers
/// come in: a post retried under its nonce is the same message, and a refresh edits each
/// message into what it was.
fn shared_room(inc: &Incident, context: &[EmbedSpec]) -> Option<usize> {
    let first_size = questions_text(inc, 0, question_parts(inc), false).size();
    let context_size: usize = context.iter().map(EmbedSpec::size).sum();
    (context_size + first_size <= limits::EMBEDS_TOTAL
        && context.len() < limits::EMBEDS_PER_MESSAGE)
        .then(|| limits::EMBEDS_TOTAL - context_size)
}

/// Puts the context on top of the first question message, its question embeds cut to `room`
/// (answers that outgrow the room left by the context).
fn share(first: &mut MessageSpec, context: &[EmbedSpec], room: usize) {
    for e in &mut first.embeds {
        let most = room.saturating_sub(e.title.chars().count());
        e.description = render::fit(&e.description, most, "`/incident status`");
    }
    let questions = std::mem::take(&mut first.embeds);
    first.embeds = context.iter().cloned().chain(questions).collect();
}

/// The messages that open the thread: the playbook context (key indicators, log sources, L1
/// steps) on the first question message when it fits, else on messages of their own.
pub fn opening(inc: &Incident, playbook: Option<&Playbook>) -> Opening {
    opening_with(inc, &playbook.map(context).unwrap_or_default())
}

/// [`opening`], with the playbook's context made once per playbook as loaded.
pub fn opening_of(inc: &Incident, playbook: Option<&std::sync::Arc<Playbook>>) -> Opening {
    match playbook {
        Some(p) => opening_with(inc, &context_of(p)),
        None => opening_with(inc, &[]),
    }
}

/// The first question message as [`opening`] lays it out, alone (a press on one of its buttons
/// redraws only it), the playbook's context made once per playbook as loaded.
pub fn first_question_message(
    inc: &Incident,
    playbook: Option<&std::sync::Arc<Playbook>>,
) -> MessageSpec {
    let mut first = question_message(inc, 0);
    let context = playbook.map(context_of);
    let context = context.as_deref().unwrap_or_default();
    if let Some(room) = shared_room(inc, context) {
        share(&mut first, context, room);
    }
    first
}

fn opening_with(inc: &Incident, context: &[EmbedSpec]) -> Opening {
    let mut messages: Vec<MessageSpec> = (0..question_parts(inc))
        .map(|p| question_message(inc, p))
        .collect();
    if let Some(room) = shared_room(inc, context) {
        share(&mut messages[0], context, room);
        return Opening {
            context: Vec::new(),
            questions: messages,
        };
    }
    // Too long to share: context messages first, packed within the limits.
    let mut prefix: Vec<MessageSpec> = Vec::new();
    let mut cur = MessageSpec::default();
    let mut size = 0;
    for e in context.iter().cloned() {
        if !cur.embeds.is_empty()
            && (size + e.size() > limits::EMBEDS_TOTAL
                || cur.embeds.len() == limits::EMBEDS_PER_MESSAGE)
        {
            prefix.push(std::mem::take(&mut cur));
            size = 0;
        }
        size += e.size();
        cur.embeds.push(e);
    }
    if !cur.embeds.is_empty() {
        prefix.push(cur);
    }
    Opening {
        context: prefix,
        questions: messages,
    }
}

/// A decision, its reasons and the playbook's Decision for Escalation text.
pub fn decision_message(inc: &Incident, decision: &Decision) -> MessageSpec {
    let (title, color) = match decision.kind() {
        DecisionKind::Escalate => (format!("🚨 {}: escalate to Tier 2", inc.id), RED),
        DecisionKind::RecommendClose => {
            (format!("✅ {}: recommend closing as benign", inc.id), GREEN)
        }
        DecisionKind::Pending => (format!("⏳ {}: decision pending", inc.id), GREY),
    };
    let mut d = String::from("**Why:**\n");
    for r in decision.reasons() {
        d.push_str(&format!("• {}\n", escape(r)));
    }
    if !decision.waiting_on().is_empty() {
        let qs: Vec<String> = decision
            .waiting_on()
            .iter()
            .map(|q| format!("q{q}"))
            .collect();
        d.push_str(&format!("**Would settle it:** {}\n", qs.join(", ")));
    }
    if let Some(text) = &inc.decision_text {
        d.push_str(&format!("**Playbook:** {}", escape(text)));
    }
    let description = render::fit(&d, limits::EMBED_DESCRIPTION, EXPORT);
    MessageSpec {
        embeds: vec![EmbedSpec {
            title,
            description,
            color,
            ..EmbedSpec::default()
        }],
        ..MessageSpec::default()
    }
}

/// `/incident status`: answers, decision and the latest of the timeline.
pub fn status_message(inc: &Incident, events: &[Event]) -> MessageSpec {
    let mut d = format!(
        "**{}** · {}\n**Status:** {} · **Owner:** {}\n\n",
        inc.technique,
        escape(&inc.playbook_name),
        status_label(inc),
        inc.owner
            .as_ref()
            .map_or("none".to_owned(), |o| escape(&o.name))
    );
    // The decision first: long notes below it must never push it out of the message.
    let decision = inc.evaluate();
    d.push_str(&format!(
        "**Decision:** {}\n\n",
        escape(&decision.headline())
    ));
    for q in 1..=inc.questions.len() {
        d.push_str(&answer_line(inc, q));
        d.push('\n');
    }
    let timeline = export::timeline(events);
    d.push_str(&format!(
        "\n**Timeline** ({} events, latest last):\n",
        timeline.len()
    ));
    let tail: Vec<String> = timeline
        .iter()
        .rev()
        .take(8)
        .rev()
        .map(|t| {
            format!(
                "`{}` {} — {}",
                export::utc(t.at),
                escape(&t.actor.name),
                escape(&t.text)
            )
        })
        .collect();
    d.push_str(&tail.join("\n"));
    // Room for the titles of two embeds within the message's total.
    let d = render::fit(
        &d,
        limits::EMBEDS_TOTAL - 2 * limits::EMBED_TITLE - 100,
        EXPORT,
    );
    let pieces = chunk(&d, limits::EMBED_DESCRIPTION);
    let title =
        crate::service::playbook::clip(&format!("{} · {}", inc.id, inc.title), limits::EMBED_TITLE);
    let mut embeds = Vec::new();
    let mut total = 0;
    for (i, description) in pieces.into_iter().enumerate() {
        let e = EmbedSpec {
            title: if i == 0 {
                title.clone()
            } else {
                format!("{} (cont.)", inc.id)
            },
            description,
            color: BLUE,
            ..EmbedSpec::default()
        };
        if total + e.size() > limits::EMBEDS_TOTAL {
            break;
        }
        total += e.size();
        embeds.push(e);
    }
    MessageSpec {
        embeds,
        ..MessageSpec::default()
    }
}

/// `/incident list`.
pub fn list_message(
    incidents: &[Incident],
    filter: Option<IncidentStatus>,
    total: usize,
) -> MessageSpec {
    let what = filter.map_or("All".to_owned(), |f| format!("{} ", f.key()));
    if incidents.is_empty() {
        return MessageSpec {
            content: Some(format!("No {} incidents.", filter.map_or("", |f| f.key()))),
            ..MessageSpec::default()
        };
    }
    let lines: Vec<String> = incidents
        .iter()
        .map(|i| {
            let thread = i
                .thread
                .map(|t| format!(" <#{}>", t.thread_id))
                .unwrap_or_default();
            format!(
                "**{}** {} · {} · {}{thread}",
                i.id,
                escape(&i.title),
                i.technique,
                status_label(i)
            )
        })
        .collect();
    let description = chunk(&lines.join("\n"), limits::EMBED_DESCRIPTION - 60).swap_remove(0);
    let shown = description.lines().count();
    let total = total.max(incidents.len());
    let footer = (shown < total).then(|| {
        format!("newest {shown} of {total} shown; `/incident status incident:INC-n` for any one")
    });
    MessageSpec {
        embeds: vec![EmbedSpec {
            title: format!("{what}incidents ({total})"),
            description,
            footer,
            color: BLUE,
            ..EmbedSpec::default()
        }],
        ..MessageSpec::default()
    }
}

/// The closure, posted before the thread is archived.
pub fn closed_message(inc: &Incident) -> MessageSpec {
    let Some(c) = &inc.closed else {
        return MessageSpec::default();
    };
    let mut d = format!(
        "Closed as **{}** by {} at {}.",
        c.resolution.label(),
        escape(&c.by.name),
        export::utc(c.at)
    );
    if let Some(s) = &c.summary {
        d.push_str(&format!("\n**Summary:** {}", escape(s)));
    }
    MessageSpec {
        embeds: vec![EmbedSpec {
            title: format!("{} closed", inc.id),
            description: render::fit(&d, limits::EMBED_DESCRIPTION, EXPORT),
            color: GREEN,
            ..EmbedSpec::default()
        }],
        ..MessageSpec::default()
    }
}

/// A page in the thread: mentions exactly the target, with an Acknowledge button.
pub fn page_message(
    inc: &Incident,
    level: crate::incident::PageLevel,
    target: crate::incident::PageTarget,
    attempt: u32,
    deadline: chrono::DateTime<chrono::Utc>,
) -> MessageSpec {
    use crate::incident::PageTarget;
    // Events keep ids as numbers; the chain never pages 0.
    let one = |id| crate::id::DiscordId::new(id).into_iter().collect();
    let (mention, users, roles) = match target {
        PageTarget::User(u) => (format!("<@{u}>"), one(u), vec![]),
        PageTarget::Role(r) => (format!("<@&{r}>"), vec![], one(r)),
    };
    let again = if attempt > 1 {
        format!(" (attempt {attempt})")
    } else {
        String::new()
    };
    let content = format!(
        "{mention} 🚨 **{} needs Tier 2** — {} page{again}: {}. Acknowledge before {} or the next level is paged.",
        inc.id,
        level.label(),
        escape(&inc.title),
        export::utc(deadline)
    );
    MessageSpec {
        content: Some(crate::service::playbook::clip(&content, limits::CONTENT)),
        buttons: vec![vec![ButtonSpec {
            custom_id: Control::Ack { incident: inc.id }.custom_id(),
            label: "Acknowledge".into(),
            style: ButtonStyle::Danger,
        }]],
        ping_users: users,
        ping_roles: roles,
        ..MessageSpec::default()
    }
}

/// The DM that goes with a page to a user.
pub fn page_dm(
    inc: &Incident,
    level: crate::incident::PageLevel,
    attempt: u32,
    deadline: chrono::DateTime<chrono::Utc>,
    link: &str,
) -> MessageSpec {
    let text = format!(
        "🚨 You are paged for **{}** ({} page, attempt {attempt}): {} — {}. Acknowledge here or in the thread before {}: {link}",
        inc.id,
        level.label(),
        escape(&inc.title),
        inc.technique,
        export::utc(deadline)
    );
    MessageSpec {
        content: Some(crate::service::playbook::clip(&text, limits::CONTENT)),
        buttons: vec![vec![ButtonSpec {
            custom_id: Control::Ack { incident: inc.id }.custom_id(),
            label: "Acknowledge".into(),
            style: ButtonStyle::Danger,
        }]],
        ..MessageSpec::default()
    }
}

/// `/oncall`: who is on call now, until when, and next. Mentions are shown, never pinged.
pub fn oncall_message(
    view: Option<&crate::oncall::OncallView>,
    fallback_role: Option<crate::id::DiscordId>,
    at: chrono::DateTime<chrono::Utc>,
) -> MessageSpec {
    let ts = |t: chrono::DateTime<chrono::Utc>| format!("<t:{0}:f> (<t:{0}:R>)", t.timestamp());
    let mut d = String::new();
    match view {
        None => d.push_str("Nobody is on call: the roster is empty and no override is active."),
        Some(v) => {
            let how = match &v.primary_source {
                crate::oncall::Source::Rotation => "rotation".to_owned(),
                crate::oncall::Source::Override { by, reason } => format!(
                    "override {}{}",
                    by.map_or_else(
                        || "set at the console".to_owned(),
                        |by| format!("by <@{by}>")
                    ),
                    reason
                        .as_deref()
                        .map(|r| format!(": {}", escape(r)))
                        .unwrap_or_default()
                ),
            };
            d.push_str(&format!(
                "**On call:** <@{}> ({how}) until {}
",
                v.primary,
                ts(v.until)
            ));
            if let Some(s) = v.secondary {
                d.push_str(&format!(
                    "**Secondary:** <@{s}>
"
                ));
            }
            if let Some((n, from)) = v.next {
                d.push_str(&format!(
                    "**Next:** <@{n}> from {}
",
                    ts(from)
                ));
            }
        }
    }
    if let Some(r) = fallback_role {
        d.push_str(&format!("\n**Fallback role:** <@&{r}>"));
    }
    MessageSpec {
        embeds: vec![EmbedSpec {
            title: "Tier 2 on call".into(),
            description: d,
            footer: Some(format!("as of {}", export::utc(at))),
            color: BLUE,
            ..EmbedSpec::default()
        }],
        ..MessageSpec::default()
    }
}

/// What a recorded change says where the command was given: one line of Discord markdown.
pub fn recorded_text(r: &Recorded) -> String {
    match r {
        Recorded::Noted { incident, by, text } => format!("📝 Note on {incident} by {by}: {text}"),
        Recorded::Escalated {
            incident,
            by,
            reason,
        } => format!("🚨 **{incident} escalated to Tier 2 by {by}**: {reason}"),
        Recorded::Closed {
            incident,
            resolution,
            by,
        } => format!(
            "✅ {incident} closed as **{}** by {by}.",
            resolution.label()
        ),
        Recorded::PlaybookAttached {
            incident,
            technique,
            name,
            questions,
            by,
            note,
        } => {
            let mut text = format!(
                "📋 {incident} now follows playbook {technique} · {name} ({questions} questions, posted in its thread), attached by {by}."
            );
            if let Some(note) = note {
                text.push_str(&format!(" {note}"));
            }
            text
        }
        Recorded::OnCall { user, until, by } => format!(
            "<@{user}> is on call until {} (override by {by}).",
            export::utc(*until)
        ),
    }
}

/// A notice for the incident's thread, in Discord markdown.
pub fn notice_text(inc: &Incident, notice: &Notice) -> String {
    match notice {
        Notice::Noted { by, text } => format!("📝 Note on {} by {by}: {text}", inc.id),
        Notice::EscalatedByHand { by, reason } => {
            format!("🚨 **Escalated to Tier 2 by {by}**: {reason}")
        }
        Notice::Escalated { why } => format!("🚨 **Escalated to Tier 2** {why}"),
        Notice::Acknowledged { by } => format!(
            "✅ {} acknowledged by {by}: paging stopped, {by} now owns the incident.",
            inc.id
        ),
        Notice::AlertResolved { source } => format!(
            "✅ **{source}** reports the alert resolved. The incident stays open until someone closes it."
        ),
        Notice::Unacknowledged { why } => format!(
            "⚠️ **Nobody acknowledged {}**: {why}. Escalate by phone.",
            inc.id
        ),
    }
}

/// An announcement for a channel, in Discord markdown (mentions and timestamps render; the
/// message allows no pings).
pub fn announcement_text(a: &Announcement) -> String {
    match a {
        Announcement::Storm {
            source,
            limit,
            incident,
        } => format!(
            "🌩️ **Alert storm from {source}**: more than {limit} new incidents in a minute. Its new alerts now join {} instead of opening their own; repeats still join their incidents.",
            IncidentId(*incident)
        ),
        Announcement::Unreached {
            incident,
            level,
            attempt,
            why,
        } => format!(
            "⚠️ **The {level} page for {} (attempt {attempt}) reached nobody in Discord**: the thread, this channel and the DM all refused it (last: {why}). Escalate by phone.",
            IncidentId(*incident)
        ),
        Announcement::Handoff {
            on_call,
            escalated,
            open,
        } => {
            let mut text = String::from("🔁 **Shift hand-off.** ");
            match on_call {
                Some(v) => text.push_str(&format!(
                    "On call now: <@{}> until <t:{}:f>{}.",
                    v.primary,
                    v.until.timestamp(),
                    v.secondary
                        .map(|s| format!(", secondary <@{s}>"))
                        .unwrap_or_default()
                )),
                None => text.push_str("Nobody is on call."),
            }
            let list = |items: &[Listed]| {
                let lines: Vec<String> = items
                    .iter()
                    .map(|l| match l.thread {
                        Some(t) => format!("{} {} <#{t}>", IncidentId(l.incident), l.title),
                        None => format!("{} {}", IncidentId(l.incident), l.title),
                    })
                    .collect();
                if lines.is_empty() {
                    "none".to_owned()
                } else {
                    lines.join("\n• ")
                }
            };
            text.push_str(&format!(
                "\n**Escalated ({}):**\n• {}",
                escalated.len(),
                list(escalated)
            ));
            text.push_str(&format!("\n**Open ({}):**\n• {}", open.len(), list(open)));
            text
        }
    }
}

/// A notice posted in the incident's thread: an amber embed, cut (pointing at the export) to
/// fit.
pub fn notice_message(inc: &Incident, text: &str) -> MessageSpec {
    MessageSpec {
        embeds: vec![EmbedSpec {
            title: format!("{}", inc.id),
            description: render::fit(text, limits::EMBED_DESCRIPTION, EXPORT),
            color: 0xf59e0b,
            ..EmbedSpec::default()
        }],
        ..MessageSpec::default()
    }
}

/// The message of a recorded change (it pings no one: replies allow no mentions).
pub fn recorded_message(r: &Recorded) -> MessageSpec {
    MessageSpec {
        content: Some(crate::service::playbook::clip(
            &recorded_text(r),
            limits::CONTENT,
        )),
        ..MessageSpec::default()
    }
}

/// The answer to an acknowledgement: `owner` owns the incident now; `changed` false: it had
/// been acknowledged before.
pub fn acknowledged_message(inc: &Incident, owner: Option<&str>, changed: bool) -> MessageSpec {
    let owner = owner.unwrap_or("someone");
    let text = if changed {
        format!(
            "✅ {} acknowledged by {owner}: paging stopped, {owner} now owns the incident.",
            inc.id
        )
    } else {
        format!("{} was already acknowledged; {owner} owns it.", inc.id)
    };
    MessageSpec {
        content: Some(text),
        ..MessageSpec::default()
    }
}

/// The thread name once closed.
pub fn closed_thread_name(inc: &Incident) -> String {
    crate::service::playbook::clip(
        &format!("[closed] {}", inc.thread_name()),
        limits::THREAD_NAME,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_ids_round_trip_and_fit() {
        for c in [
            Control::Answer {
                incident: IncidentId(u64::MAX),
                question: 10,
                finding: Finding::Unknown,
            },
            Control::NoteButton {
                incident: IncidentId(7),
                question: 3,
            },
            Control::NoteForm {
                incident: IncidentId(7),
                question: 3,
            },
        ] {
            let id = c.custom_id();
            assert!(id.len() <= limits::CUSTOM_ID);
            assert_eq!(Control::parse(&id), Some(c));
        }
        assert_eq!(Control::parse("ans:7:3:x"), None);
        let ack = Control::Ack {
            incident: IncidentId(7),
        };
        assert_eq!(Control::parse_with_epoch("ack:7"), Some((ack, 0)));
        assert_eq!(Control::parse_with_epoch("ack:7@2"), Some((ack, 2)));
        assert_eq!(Control::parse_with_epoch("ack:7@x"), None);
        assert_eq!(Control::parse("pb:T1583"), None);
    }

    /// Three answers with the longest notes allowed, twice over: the status and decision
    /// messages stay within Discord's limits, keep the decision, and say where they were cut.
    #[test]
    fn long_notes_are_cut_visibly_and_the_decision_stays() {
        use crate::incident::command::{NOTE_MAX, answer};
        use crate::incident::state::tests::{alice, opened, t};
        let mut events = vec![opened(Some("q1 or q2"))];
        for round in 0..2 {
            for q in 1..=3 {
                let inc = Incident::from_events(&events).unwrap();
                let note: String = (0..NOTE_MAX)
                    .map(|i| format!("r{round}q{q}w{i} "))
                    .collect::<String>()
                    .chars()
                    .take(NOTE_MAX)
                    .collect();
                let finding = if round == 0 {
                    Finding::Concerning
                } else {
                    Finding::Unknown
                };
                events.extend(
                    answer(
                        &inc,
                        q,
                        finding,
                        Some(&note),
                        &alice(),
                        t(round * 3 + q as i64),
                    )
                    .unwrap(),
                );
            }
        }
        let inc = Incident::from_events(&events).unwrap();
        let within = |m: &MessageSpec| {
            let total: usize = m.embeds.iter().map(EmbedSpec::size).sum();
            assert!(total <= limits::EMBEDS_TOTAL, "{total}");
            for e in &m.embeds {
                assert!(e.description.chars().count() <= limits::EMBED_DESCRIPTION);
            }
            m.embeds
                .iter()
                .map(|e| e.description.clone())
                .collect::<String>()
        };
        let status = within(&status_message(&inc, &events));
        assert!(status.contains("**Decision:**"), "{status}");
        assert!(
            status.contains("cut to fit Discord; `/incident export` has it all"),
            "{status}"
        );
        let decision = within(&decision_message(&inc, &inc.evaluate()));
        assert!(decision.contains("**Why:**"), "{decision}");
    }

    #[test]
    fn notices_and_recorded_changes_read_as_they_always_did() {
        use crate::incident::state::tests::opened;
        let inc = Incident::from_events(&[opened(None)]).unwrap();
        let id = inc.id;
        let by = || "alice".to_owned();
        let notices = [
            (
                Notice::Noted {
                    by: by(),
                    text: "seen".into(),
                },
                format!("📝 Note on {id} by alice: seen"),
            ),
            (
                Notice::EscalatedByHand {
                    by: by(),
                    reason: "exfil".into(),
                },
                "🚨 **Escalated to Tier 2 by alice**: exfil".to_owned(),
            ),
            (
                Notice::Escalated {
                    why: "by alert: edr reported severity critical".into(),
                },
                "🚨 **Escalated to Tier 2** by alert: edr reported severity critical".to_owned(),
            ),
            (
                Notice::Acknowledged { by: by() },
                format!(
                    "✅ {id} acknowledged by alice: paging stopped, alice now owns the incident."
                ),
            ),
            (
                Notice::AlertResolved {
                    source: "edr".into(),
                },
                "✅ **edr** reports the alert resolved. The incident stays open until someone closes it.".to_owned(),
            ),
            (
                Notice::Unacknowledged {
                    why: "the chain ran out".into(),
                },
                format!("⚠️ **Nobody acknowledged {id}**: the chain ran out. Escalate by phone."),
            ),
        ];
        for (notice, want) in notices {
            assert_eq!(notice_text(&inc, &notice), want);
        }
        let closed = Recorded::Closed {
            incident: id,
            resolution: crate::incident::Resolution::TruePositive,
            by: by(),
        };
        assert_eq!(
            recorded_text(&closed),
            format!("✅ {id} closed as **true positive** by alice.")
        );
        let escalated = Recorded::Escalated {
            incident: id,
            by: by(),
            reason: "exfil".into(),
        };
        assert_eq!(
            recorded_text(&escalated),
            format!("🚨 **{id} escalated to Tier 2 by alice**: exfil")
        );
    }

    #[test]
    fn announcements_read_as_they_always_did() {
        use crate::effects::OnCallNow;
        let storm = Announcement::Storm {
            source: "flood".into(),
            limit: 5,
            incident: 7,
        };
        assert_eq!(
            announcement_text(&storm),
            "🌩️ **Alert storm from flood**: more than 5 new incidents in a minute. Its new alerts now join INC-7 instead of opening their own; repeats still join their incidents."
        );
        let until = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let handoff = Announcement::Handoff {
            on_call: Some(OnCallNow {
                primary: 11,
                until,
                secondary: Some(12),
            }),
            escalated: vec![Listed {
                incident: 1,
                title: "Beacon".into(),
                thread: Some(99),
            }],
            open: Vec::new(),
        };
        assert_eq!(
            announcement_text(&handoff),
            "🔁 **Shift hand-off.** On call now: <@11> until <t:1800000000:f>, secondary <@12>.\n**Escalated (1):**\n• INC-1 Beacon <#99>\n**Open (0):**\n• none"
        );
        let unreached = Announcement::Unreached {
            incident: 4,
            level: "primary".into(),
            attempt: 2,
            why: "403 Missing Access".into(),
        };
        assert_eq!(
            announcement_text(&unreached),
            "⚠️ **The primary page for INC-4 (attempt 2) reached nobody in Discord**: the thread, this channel and the DM all refused it (last: 403 Missing Access). Escalate by phone."
        );
    }

    #[test]
    fn an_override_names_who_set_it_or_says_the_console_did() {
        let id = |n| crate::id::DiscordId::new(n).unwrap();
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let view = |by| crate::oncall::OncallView {
            primary: id(5),
            primary_source: crate::oncall::Source::Override {
                by,
                reason: Some("swap".into()),
            },
            secondary: Some(id(6)),
            until: at,
            next: None,
            shift: None,
        };
        let text = |m: MessageSpec| m.embeds[0].description.clone();
        let by_someone = text(oncall_message(Some(&view(Some(id(7)))), Some(id(9)), at));
        assert!(
            by_someone.starts_with("**On call:** <@5> (override by <@7>: swap) until"),
            "{by_someone}"
        );
        assert!(
            by_someone.ends_with("\n**Fallback role:** <@&9>"),
            "{by_someone}"
        );
        let at_console = text(oncall_message(Some(&view(None)), None, at));
        assert!(
            at_console.starts_with("**On call:** <@5> (override set at the console: swap) until"),
            "{at_console}"
        );
        assert!(!at_console.contains("<@0>"), "{at_console}");
    }

    /// A playbook with `questions` questions (`q1 or q2`) and `indicators` as its key indicators.
    fn playbook(indicators: &str, questions: usize) -> std::sync::Arc<Playbook> {
        let asked: Vec<String> = (1..=questions)
            .map(|q| format!("{q}. Was step {q} seen?"))
            .collect();
        let src = format!(
            "# Acquire Infrastructure: VPS - T1583003\n\n\
             | Column Name | Value |\n|---|---|\n\
             | MITRE Tactic | Resource Development |\n| MITRE TTP | T1583 |\n\
             | MITRE Sub-TTP | T1583.003 |\n| Name | Acquire Infrastructure: VPS |\n\
             | Log Sources to Investigate | Proxy logs. |\n| Key Indicators | {indicators} |\n\
             | Questions for Analysis | {} |\n| Escalation Rule | q1 or q2 |\n\
             | Additional Analysis Steps for L1 | Check the host. |\n",
            asked.join("<br>")
        );
        let parsed = crate::playbook::parser::parse(&src, "vps.md").expect("parses");
        std::sync::Arc::new(parsed.playbook)
    }

    fn answered(p: &Playbook, answers: usize) -> Incident {
        let actor = crate::incident::ActorRef::new(1, "alice");
        let now = chrono::Utc::now();
        let id = IncidentId(4);
        let mut events =
            crate::incident::open(id, p, "t", None, Default::default(), &actor, now).unwrap();
        for q in 1..=answers {
            let inc = Incident::from_stored(id, &events).unwrap();
            let note = "why ".repeat(200);
            let f = if q == 2 {
                Finding::Concerning
            } else {
                Finding::Clear
            };
            events.extend(crate::incident::answer(&inc, q, f, Some(&note), &actor, now).unwrap());
        }
        Incident::from_stored(id, &events).unwrap()
    }

    /// A press redraws the first question message alone, from the context kept per playbook:
    /// the same message the whole opening lays out, context shared or not, answered or not;
    /// a reload (another playbook for the technique) shows the new context.
    #[test]
    fn the_first_question_message_alone_is_the_openings_first() {
        for (indicators, questions) in [("A new VPS.", 3), ("A new VPS. ".repeat(600).as_str(), 10)]
        {
            let p = playbook(indicators, questions);
            for answers in [0, 1, 3] {
                let inc = answered(&p, answers);
                let whole = opening(&inc, Some(&p));
                assert_eq!(
                    whole.context.is_empty(),
                    questions == 3,
                    "shared when it fits"
                );
                for _ in 0..2 {
                    let first = first_question_message(&inc, Some(&p));
                    assert_eq!(first, whole.questions[0], "{answers} answers");
                }
                assert_eq!(opening_of(&inc, Some(&p)).questions, whole.questions);
                assert_eq!(opening_of(&inc, Some(&p)).context, whole.context);
            }
        }
        let shown = |p: &std::sync::Arc<Playbook>| {
            let first = first_question_message(&answered(p, 1), Some(p));
            first.embeds[0].description.clone()
        };
        let (old, new) = (playbook("Old sign.", 3), playbook("New sign.", 3));
        assert!(shown(&old).contains("Old sign"));
        assert!(
            shown(&new).contains("New sign"),
            "the reloaded playbook's context"
        );
        let inc = answered(&new, 2);
        assert_eq!(
            first_question_message(&inc, None),
            question_message(&inc, 0)
        );
        assert_eq!(inc.evaluate_kind(), DecisionKind::Escalate);
        assert_eq!(question_message(&inc, 0).embeds[0].color, RED);
    }
}
