//! Every command socbot answers, declared once: its name, description, options (kind, limits,
//! choices, autocomplete, how a value is checked), the role it needs and its handler.
//! Discord registration and parsing, console parsing, `/help` and console completion all read
//! this table, and the execute path ([`Service::handle`]) takes each command's role, whether it
//! runs under the incident lock and its handler from it. A new command is one [`Decl`] here and
//! its handler (a function of its [`Args`]). Plain data: the adapters turn it into Discord's
//! builders or console words.

use std::future::Future;
use std::pin::Pin;

use super::incident::{Cx, Decided};
use super::{Incidents, Origin, Reply, Service, UserError};
use crate::incident::{self, Finding, IncidentId, IncidentStatus, Resolution};
use crate::oncall::Override;
use crate::playbook::{MAX_QUESTIONS, SectionKind};

/// Who may run a command (or give an option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everyone in the server.
    Everyone,
    /// `roles.l1` (and T2).
    L1,
    /// `roles.t2`.
    T2,
}

impl Role {
    /// How the README and `/help` name it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::L1 => "`roles.l1`",
            Self::T2 => "`roles.t2`",
        }
    }
}

/// What an option takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Free text of 1 to `max` characters.
    Text { max: usize },
    /// A whole number from `min` to `max`.
    Integer { min: i64, max: i64 },
    /// Yes or no; at the console its bare name says yes (`private`).
    Boolean,
    /// A member of the server; at the console its name, then a user id (`override 42`).
    User,
    /// An incident number, e.g. INC-12.
    Incident,
    /// A technique id or name; autocompleted from the playbooks and ATT&CK.
    Technique,
    /// One of a fixed list of `(label, value)` pairs.
    Choice(fn() -> Vec<(String, String)>),
}

/// Longest incident reference accepted (`INC-` and a number).
pub const INCIDENT_REF_MAX: usize = 24;
/// Longest technique id or name typed.
pub const TECHNIQUE_MAX: usize = 100;

impl Kind {
    /// Given at the console by its name (`private`, `override 42`), never by position.
    pub const fn is_keyword(self) -> bool {
        matches!(self, Self::Boolean | Self::User)
    }

    /// The longest text a value of this kind may be (None: not typed as free text).
    pub const fn max_length(self) -> Option<usize> {
        match self {
            Self::Text { max } => Some(max),
            Self::Incident => Some(INCIDENT_REF_MAX),
            Self::Technique => Some(TECHNIQUE_MAX),
            Self::Integer { .. } | Self::Boolean | Self::User | Self::Choice(_) => None,
        }
    }
}

/// One option of a command.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// Free text: given by position at the console, it takes the rest of the line.
    pub rest: bool,
    /// Only meaningful with this other option (at the console it is filled by position only
    /// when that one is given).
    pub with: Option<&'static str>,
    /// Giving this option needs this role (more than the command's), and what it does as a
    /// refusal says it ("override the on-call rotation").
    pub role: Option<(Role, &'static str)>,
    /// Checks a given value when the command is parsed (before any handler runs), saying
    /// what is wrong: the type the handler reads it as (set by `Opt::typed`).
    pub check: Option<Check>,
}

/// Checks a value as its option's type.
pub type Check = fn(&Value) -> Result<(), UserError>;

const fn opt(name: &'static str, description: &'static str, kind: Kind) -> Opt {
    Opt {
        name,
        description,
        kind,
        required: false,
        rest: false,
        with: None,
        role: None,
        check: None,
    }
}

impl Opt {
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn rest(mut self) -> Self {
        self.rest = true;
        self
    }
    const fn with(mut self, other: &'static str) -> Self {
        self.with = Some(other);
        self
    }
    const fn role(mut self, role: Role, action: &'static str) -> Self {
        self.role = Some((role, action));
        self
    }
    /// Its value is read as a `T`: checked as one when the command is parsed.
    const fn typed<T: FromArg>(mut self) -> Self {
        self.check = Some(check::<T>);
        self
    }
}

fn check<T: FromArg>(value: &Value) -> Result<(), UserError> {
    T::from_arg(value).map(drop)
}

/// What the execute path hands an incident or on-call handler, and what it gives back: the
/// handler decides from the store and the pure domain; the execute path commits.
pub type Decide = fn(&Incidents, &Args, &Cx<'_>) -> Decided;

/// The reply an asynchronous handler is working on.
pub type Answering<'a> = Pin<Box<dyn Future<Output = Result<Reply, UserError>> + Send + 'a>>;

/// A command's handler, by the kind of work it does. The execute path ([`Service::handle`])
/// runs them all the same way: the role check (from the declaration), the incident lock when
/// the kind takes it, the handler, the commit, the reply, the metrics.
#[derive(Debug, Clone, Copy)]
pub enum Handler {
    /// Answers from the playbooks and ATT&CK alone (`/playbook`).
    Read(fn(&Service, &Args, &Origin) -> Result<Reply, UserError>),
    /// Works asynchronously (`/coverage`: reads the store, draws off the async threads).
    Async(for<'a> fn(&'a Service, &'a Args, &'a Origin) -> Answering<'a>),
    /// Decides on one incident under the incident lock; what it decides is committed.
    Incident(Decide),
    /// Reads incidents without taking the lock (`/incident list`).
    Unlocked(Decide),
    /// The on-call rotation (no lock; needs `[oncall]`).
    Oncall(Decide),
}

/// What a declaration does.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// Takes these options; `run` handles it.
    Run {
        options: &'static [Opt],
        run: Handler,
    },
    /// Lists the commands (answered by the adapter from this table).
    Help,
    /// Only its subcommands run (`/incident open`, …).
    Group(&'static [Decl]),
}

/// One command or subcommand.
#[derive(Debug, Clone, Copy)]
pub struct Decl {
    pub name: &'static str,
    /// Other names the console accepts (`/pb`).
    pub aliases: &'static [&'static str],
    pub description: &'static str,
    pub role: Role,
    /// What it does, as a refusal says it ("You need the L1 role … to open incidents").
    pub action: &'static str,
    /// Its answer is for the asker alone (in Discord: seen only by them, from the first
    /// "thinking…" on), whatever its options say.
    pub private: bool,
    pub body: Body,
}

impl Decl {
    /// Its options (none for help and groups).
    pub fn options(&self) -> &'static [Opt] {
        match self.body {
            Body::Run { options, .. } => options,
            Body::Help | Body::Group(_) => &[],
        }
    }

    /// The option called `name`, in any case.
    pub fn option(&self, name: &str) -> Option<&'static Opt> {
        self.options()
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The subcommand called `name`, in any case.
    pub fn sub(&self, name: &str) -> Option<&'static Decl> {
        match self.body {
            Body::Group(subs) => subs.iter().find(|d| d.name.eq_ignore_ascii_case(name)),
            _ => None,
        }
    }

    /// Its subcommands (none unless a group).
    pub fn subs(&self) -> &'static [Decl] {
        match self.body {
            Body::Group(subs) => subs,
            _ => &[],
        }
    }
}

/// What a parsed command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Invocation),
    Help,
}

/// A command to run: its declaration and its arguments (checked against the declaration).
/// Made by [`build`] from what an adapter parsed, or by a typed constructor for the buttons.
#[derive(Debug, Clone)]
pub struct Invocation {
    decl: &'static Decl,
    path: String,
    run: Handler,
    args: Args,
    pressed: bool,
}

impl PartialEq for Invocation {
    fn eq(&self, other: &Self) -> bool {
        (&self.path, &self.args, self.pressed) == (&other.path, &other.args, other.pressed)
    }
}

impl Eq for Invocation {}

impl Invocation {
    fn new(decl: &'static Decl, path: &str, run: Handler, args: Args) -> Self {
        Self {
            decl,
            path: path.to_owned(),
            run,
            args,
            pressed: false,
        }
    }

    /// `decl` (at `path`) with `args` as they are: for the typed constructors, whose values
    /// are well-formed by their types.
    fn typed(decl: &'static Decl, path: &str, args: Args) -> Self {
        let run = match decl.body {
            Body::Run { run, .. } => run,
            // The constructors below name runnable declarations only.
            Body::Help | Body::Group(_) => Handler::Read(not_runnable),
        };
        Self::new(decl, path, run, args)
    }

    /// An answer to a question (`/incident answer`), as its buttons and form give it.
    pub fn answer(
        incident: IncidentId,
        question: usize,
        finding: Finding,
        note: Option<String>,
    ) -> Self {
        let mut args = Args::default();
        args.set("question", Value::Int(i64::try_from(question).unwrap_or(0)));
        args.set("finding", Value::Text(finding.key().to_owned()));
        if let Some(note) = note {
            args.set("note", Value::Text(note));
        }
        args.set("incident", Value::Text(incident.to_string()));
        Self::typed(&ANSWER, "incident answer", args)
    }

    /// `/incident ack`, as the page's button gives it.
    pub fn ack(incident: IncidentId) -> Self {
        let mut args = Args::default();
        args.set("incident", Value::Text(incident.to_string()));
        Self::typed(&ACK, "incident ack", args)
    }

    /// `/playbook`, as its section picker gives it.
    pub fn playbook(technique: &str, section: Option<SectionKind>, private: bool) -> Self {
        let mut args = Args::default();
        args.set("technique", Value::Text(technique.to_owned()));
        if let Some(section) = section {
            args.set("section", Value::Text(section.key().to_owned()));
        }
        args.set("private", Value::Bool(private));
        Self::typed(&PLAYBOOK, "playbook", args)
    }

    /// Given through a control on a message (a button, a menu, a button's form): the reply
    /// redraws that message in place.
    #[must_use]
    pub fn pressed(mut self, pressed: bool) -> Self {
        self.pressed = pressed;
        self
    }

    /// Whether it was given through a control on a message.
    pub fn is_pressed(&self) -> bool {
        self.pressed
    }

    /// Whether its answer is for the asker alone: its declaration says so (`/incident list`),
    /// or it was asked with `private` (`/playbook private:true`).
    pub fn is_private(&self) -> bool {
        self.decl.private || self.args.flag("private")
    }

    pub fn decl(&self) -> &'static Decl {
        self.decl
    }

    /// `incident open`: the command and subcommand.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn args(&self) -> &Args {
        &self.args
    }

    pub fn handler(&self) -> Handler {
        self.run
    }

    /// Its name in logs and metrics: the path, and a given option that needs a role of its
    /// own (`oncall override`).
    pub fn name(&self) -> String {
        let mut name = self.path.clone();
        for o in self.decl.options() {
            if o.role.is_some() && self.args.has(o.name) {
                name.push(' ');
                name.push_str(o.name);
            }
        }
        name
    }

    /// The role it needs and what it does (as a refusal says it), from its declaration: a
    /// given option that needs more raises it (`/oncall override`).
    pub fn needs(&self) -> (Role, &'static str) {
        self.decl
            .options()
            .iter()
            .filter(|o| self.args.has(o.name))
            .filter_map(|o| o.role)
            .fold(
                (self.decl.role, self.decl.action),
                |need, (role, action)| {
                    if role > need.0 { (role, action) } else { need }
                },
            )
    }
}

fn not_runnable(_: &Service, _: &Args, _: &Origin) -> Result<Reply, UserError> {
    tracing::error!("a declaration that does not run was invoked");
    Err(UserError(
        "This does not run (socbot's mistake, logged).".into(),
    ))
}

/// One argument's value, as an adapter read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    User(crate::id::DiscordId),
}

/// What an option's value is read as: checked when the command is parsed ([`Opt::check`]),
/// read by the handler ([`Args::get`]), with the same answer when it is wrong.
pub trait FromArg: Sized {
    fn from_arg(value: &Value) -> Result<Self, UserError>;
}

/// A value the adapter read as text, parsed by `parse`.
fn from_text<T, E>(value: &Value, parse: impl Fn(&str) -> Result<T, E>) -> Result<T, UserError>
where
    UserError: From<E>,
{
    match value {
        Value::Text(s) => parse(s).map_err(UserError::from),
        other => Err(UserError(format!("`{other:?}` is not text."))),
    }
}

impl From<incident::ParseError> for UserError {
    fn from(e: incident::ParseError) -> Self {
        UserError(format!("{e}."))
    }
}

impl FromArg for IncidentId {
    fn from_arg(value: &Value) -> Result<Self, UserError> {
        from_text(value, IncidentId::parse)
    }
}

impl FromArg for Finding {
    fn from_arg(value: &Value) -> Result<Self, UserError> {
        from_text(value, Finding::parse)
    }
}

impl FromArg for Resolution {
    fn from_arg(value: &Value) -> Result<Self, UserError> {
        from_text(value, Resolution::parse)
    }
}

impl FromArg for IncidentStatus {
    fn from_arg(value: &Value) -> Result<Self, UserError> {
        from_text(value, IncidentStatus::parse)
    }
}

impl FromArg for SectionKind {
    fn from_arg(value: &Value) -> Result<Self, UserError> {
        from_text(value, |s| {
            SectionKind::from_user(s).ok_or_else(|| {
                let keys: Vec<_> = SectionKind::KNOWN.iter().map(|k| k.key()).collect();
                UserError(format!(
                    "no section `{s}`; use one of: {}.",
                    keys.join(", ")
                ))
            })
        })
    }
}

/// A time, e.g. 2026-11-23T09:00:00Z.
impl FromArg for chrono::DateTime<chrono::Utc> {
    fn from_arg(value: &Value) -> Result<Self, UserError> {
        from_text(value, |t| {
            chrono::DateTime::parse_from_rfc3339(t.trim())
                .map(|at| at.to_utc())
                .map_err(|_| UserError(format!("`{t}` is not a time like 2026-11-23T09:00:00Z.")))
        })
    }
}

/// How long an on-call override lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours(pub u32);

impl FromArg for Hours {
    fn from_arg(value: &Value) -> Result<Self, UserError> {
        let hours = match value {
            Value::Int(i) => *i,
            other => return Err(UserError(format!("`{other:?}` is not a number."))),
        };
        u32::try_from(hours).map(Hours).map_err(|_| {
            UserError(format!(
                "{hours} hours is not an override length; put 1 to {} hours.",
                Override::MAX_HOURS
            ))
        })
    }
}

/// The arguments given to a command, by option name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args(Vec<(&'static str, Value)>);

impl Args {
    pub fn set(&mut self, name: &'static str, value: Value) {
        self.0.push((name, value));
    }
    fn value(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    pub fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }
    pub fn text(&self, name: &str) -> Option<String> {
        match self.value(name) {
            Some(Value::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.value(name) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.value(name), Some(Value::Bool(true)))
    }
    pub fn user(&self, name: &str) -> Option<crate::id::DiscordId> {
        match self.value(name) {
            Some(Value::User(u)) => Some(*u),
            _ => None,
        }
    }
    /// The text of a required option.
    pub fn required(&self, name: &str) -> Result<String, UserError> {
        self.text(name)
            .ok_or_else(|| UserError(format!("Give `{name}`.")))
    }
    /// Option `name` read as a `T`, if given.
    pub fn get<T: FromArg>(&self, name: &str) -> Result<Option<T>, UserError> {
        self.value(name).map(T::from_arg).transpose()
    }
    /// Required option `name` read as a `T`.
    pub fn need<T: FromArg>(&self, name: &str) -> Result<T, UserError> {
        self.get(name)?
            .ok_or_else(|| UserError(format!("Give `{name}`.")))
    }
    /// The incident named (None: the thread's).
    pub fn incident(&self) -> Result<Option<IncidentId>, UserError> {
        self.get("incident")
    }
}

// ---------------------------------------------------------------------------------------------
// The table.

/// How long an override lasts when no `hours` are given.
pub const DEFAULT_OVERRIDE_HOURS: u32 = 12;

const TECHNIQUE: Opt = opt(
    "technique",
    "Technique id or name, e.g. T1583.006",
    Kind::Technique,
)
.required();
const INCIDENT: Opt = opt(
    "incident",
    "Incident, e.g. INC-12 (default: this thread's)",
    Kind::Incident,
)
.typed::<IncidentId>();

fn sections() -> Vec<(String, String)> {
    SectionKind::KNOWN
        .iter()
        .map(|k| (k.row_title().to_owned(), k.key().to_owned()))
        .collect()
}
fn findings() -> Vec<(String, String)> {
    Finding::ALL
        .iter()
        .map(|f| (f.label().to_owned(), f.key().to_owned()))
        .collect()
}
fn resolutions() -> Vec<(String, String)> {
    Resolution::ALL
        .iter()
        .map(|r| (r.label().to_owned(), r.key().to_owned()))
        .collect()
}
fn statuses() -> Vec<(String, String)> {
    IncidentStatus::ALL
        .iter()
        .map(|s| (s.key().to_owned(), s.key().to_owned()))
        .collect()
}
fn tactics() -> Vec<(String, String)> {
    crate::attack::Catalog::shipped()
        .tactics
        .iter()
        .map(|t| (t.name.clone(), t.shortname.clone()))
        .collect()
}

const PLAYBOOK: Decl = Decl {
    name: "playbook",
    aliases: &["pb"],
    description: "Show the triage playbook of a MITRE ATT&CK technique",
    role: Role::Everyone,
    action: "read playbooks",
    private: false,
    body: Body::Run {
        options: &[
            TECHNIQUE,
            opt("section", "Show only this section", Kind::Choice(sections)).typed::<SectionKind>(),
            opt("private", "Only you see the answer", Kind::Boolean),
        ],
        run: Handler::Read(super::playbook::command),
    },
};

const INCIDENT_CMD: Decl = Decl {
    name: "incident",
    aliases: &["inc"],
    description: "Run an incident: its thread, analysis questions, decision and closure",
    role: Role::Everyone,
    action: "run incidents",
    private: false,
    body: Body::Group(&INCIDENT_SUBS),
};

const fn text(name: &'static str, description: &'static str, max: usize) -> Opt {
    opt(name, description, Kind::Text { max })
}

/// A subcommand: its name, description, role and action (as a refusal says it), options
/// and handler.
const fn sub(
    (name, description): (&'static str, &'static str),
    (role, action): (Role, &'static str),
    options: &'static [Opt],
    run: Handler,
) -> Decl {
    Decl {
        name,
        aliases: &[],
        description,
        role,
        action,
        private: false,
        body: Body::Run { options, run },
    }
}

impl Decl {
    /// Its answer is for the asker alone.
    const fn private(mut self) -> Self {
        self.private = true;
        self
    }
}

const OPEN: Decl = sub(
    (
        "open",
        "Open an incident with its own thread and the playbook's questions",
    ),
    (Role::L1, "open incidents"),
    &[
        TECHNIQUE,
        text("title", "A short title", incident::TITLE_MAX)
            .required()
            .rest(),
        text(
            "alert",
            "The alert or ticket that started it",
            incident::ALERT_MAX,
        )
        .rest(),
    ],
    Handler::Incident(Incidents::open),
);

const ANSWER: Decl = sub(
    (
        "answer",
        "Answer an analysis question (or change an answer)",
    ),
    (Role::L1, "answer questions"),
    &[
        opt(
            "question",
            "Question number (q1 = 1)",
            Kind::Integer {
                min: 1,
                max: MAX_QUESTIONS as i64,
            },
        )
        .required(),
        opt("finding", "What the answer is", Kind::Choice(findings))
            .required()
            .typed::<Finding>(),
        text("note", "What you saw", incident::NOTE_MAX).rest(),
        INCIDENT,
    ],
    Handler::Incident(Incidents::answer),
);

const NOTE: Decl = sub(
    ("note", "Add a note to the timeline"),
    (Role::L1, "add notes"),
    &[
        text("text", "The note", incident::NOTE_MAX)
            .required()
            .rest(),
        INCIDENT,
    ],
    Handler::Incident(Incidents::note),
);

const ESCALATE: Decl = sub(
    ("escalate", "Escalate to Tier 2 by hand"),
    (Role::L1, "escalate"),
    &[
        text("reason", "Why", incident::REASON_MAX)
            .required()
            .rest(),
        INCIDENT,
    ],
    Handler::Incident(Incidents::escalate),
);

const STATUS: Decl = sub(
    ("status", "Answers, decision and timeline"),
    (Role::L1, "read incidents"),
    &[INCIDENT],
    Handler::Incident(Incidents::status),
);

const LIST: Decl = sub(
    ("list", "List incidents"),
    (Role::L1, "list incidents"),
    &[opt(
        "status",
        "Only incidents with this status",
        Kind::Choice(statuses),
    )
    .typed::<IncidentStatus>()],
    Handler::Unlocked(Incidents::list_page),
)
.private();

const CLOSE: Decl = sub(
    ("close", "Close the incident (Tier 2)"),
    (Role::T2, "close incidents"),
    &[
        opt("resolution", "How it ended", Kind::Choice(resolutions))
            .required()
            .typed::<Resolution>(),
        text("summary", "What it was", incident::SUMMARY_MAX).rest(),
        INCIDENT,
    ],
    Handler::Incident(Incidents::close),
);

const EXPORT: Decl = sub(
    ("export", "The whole timeline as a markdown file"),
    (Role::L1, "export incidents"),
    &[INCIDENT],
    Handler::Incident(Incidents::export),
);

const ACK: Decl = sub(
    (
        "ack",
        "Acknowledge the page: stops paging, you own it (Tier 2)",
    ),
    (Role::T2, "acknowledge pages"),
    &[INCIDENT],
    Handler::Incident(Incidents::ack),
);

const ATTACH: Decl = sub(
    (
        "playbook",
        "Attach a playbook to an incident that has none and post its questions",
    ),
    (Role::L1, "attach playbooks"),
    &[TECHNIQUE, INCIDENT],
    Handler::Incident(Incidents::attach),
);

const INCIDENT_SUBS: [Decl; 10] = [
    OPEN, ANSWER, NOTE, ESCALATE, STATUS, LIST, CLOSE, EXPORT, ACK, ATTACH,
];

const ONCALL: Decl = Decl {
    name: "oncall",
    aliases: &[],
    description: "Who is on call for Tier 2 now and next; T2 can put someone on call",
    role: Role::Everyone,
    action: "see who is on call",
    private: false,
    body: Body::Run {
        options: &[
            opt(
                "override",
                "Put this person on call (Tier 2 only)",
                Kind::User,
            )
            .role(Role::T2, "override the on-call rotation"),
            opt(
                "hours",
                "For how long (default 12)",
                Kind::Integer {
                    min: 1,
                    max: Override::MAX_HOURS as i64,
                },
            )
            .with("override")
            .typed::<Hours>(),
            text(
                "reason",
                "Why (shown with the override)",
                Override::REASON_MAX,
            )
            .with("override")
            .rest(),
            text("at", "Who is on call at this time (RFC 3339), not now", 40)
                .typed::<chrono::DateTime<chrono::Utc>>(),
        ],
        run: Handler::Oncall(Incidents::oncall),
    },
};

const COVERAGE: Decl = Decl {
    name: "coverage",
    aliases: &[],
    description: "ATT&CK coverage of the playbooks, gaps seen lately, playbooks to fix: with a heatmap",
    role: Role::Everyone,
    action: "read coverage",
    private: false,
    body: Body::Run {
        options: &[opt("tactic", "Only this ATT&CK tactic", Kind::Choice(tactics)).rest()],
        run: Handler::Async(Service::coverage_command),
    },
};

const HELP: Decl = Decl {
    name: "help",
    aliases: &["?"],
    description: "socbot's commands, their options and who may use them",
    role: Role::Everyone,
    action: "read the help",
    private: true,
    body: Body::Help,
};

/// Every command, in the order Discord and `/help` show them.
pub static COMMANDS: &[Decl] = &[PLAYBOOK, INCIDENT_CMD, ONCALL, COVERAGE, HELP];

// ---------------------------------------------------------------------------------------------
// Reading the table.

/// The top-level command called `name` (or one of its aliases), in any case, with or
/// without its slash.
pub fn find(name: &str) -> Option<&'static Decl> {
    let name = name.trim_start_matches('/');
    COMMANDS.iter().find(|d| {
        d.name.eq_ignore_ascii_case(name) || d.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Every command that runs, with its path (`playbook`, `incident open`, …), in table order.
pub fn runnable() -> Vec<(String, &'static Decl)> {
    COMMANDS
        .iter()
        .flat_map(|d| match d.body {
            Body::Group(subs) => subs
                .iter()
                .map(|s| (format!("{} {}", d.name, s.name), s))
                .collect(),
            _ => vec![(d.name.to_owned(), d)],
        })
        .collect()
}

/// What to say when a group is given without (or with an unknown) subcommand.
pub fn pick_subcommand(group: &Decl, given: Option<&str>) -> UserError {
    let subs: Vec<&str> = group.subs().iter().map(|s| s.name).collect();
    let list = format!("/{} {}", group.name, subs.join("|"));
    UserError(match given {
        None => format!("Say what to do: `{list}`."),
        Some(g) => format!(
            "`/{} {g}` is not a command; use one of `{list}`.",
            group.name
        ),
    })
}

/// Checks the required options are given and every value given reads as its option's type,
/// then makes the invocation (`path` names it in the answer when an option is missing).
pub fn build(path: &str, decl: &'static Decl, args: Args) -> Result<Parsed, UserError> {
    match decl.body {
        Body::Help => Ok(Parsed::Help),
        Body::Group(_) => Err(pick_subcommand(decl, None)),
        Body::Run { options, run } => {
            if let Some(missing) = options.iter().find(|o| o.required && !args.has(o.name)) {
                return Err(UserError(format!(
                    "Give `{}` ({}): `{}`.",
                    missing.name,
                    missing.description,
                    usage(path, decl)
                )));
            }
            for o in options {
                if let (Some(check), Some(value)) = (o.check, args.value(o.name)) {
                    check(value)?;
                }
            }
            Ok(Parsed::Run(Invocation::new(decl, path, run, args)))
        }
    }
}

/// `/incident answer question finding [note] [incident]`: the command with its options as
/// Discord orders them, optional ones in brackets.
pub fn usage(path: &str, decl: &Decl) -> String {
    let mut out = format!("/{path}");
    for o in decl.options() {
        if o.required {
            out.push_str(&format!(" {}", o.name));
        } else {
            out.push_str(&format!(" [{}]", o.name));
        }
    }
    out
}

/// Who may run it: its role, and the options that need more (`everyone, override: roles.t2`).
pub fn who(decl: &Decl) -> String {
    let mut out = decl.role.label().to_owned();
    for o in decl.options() {
        if let Some((role, _)) = o.role.filter(|(r, _)| *r != decl.role) {
            out.push_str(&format!(", `{}`: {}", o.name, role.label()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command at `path` with `args` given as `(name, value)`.
    fn invoke(path: &str, args: &[(&'static str, Value)]) -> Result<Invocation, UserError> {
        let (path, decl) = runnable().into_iter().find(|(p, _)| p == path).unwrap();
        let mut given = Args::default();
        for (name, value) in args {
            given.set(name, value.clone());
        }
        match build(&path, decl, given)? {
            Parsed::Run(invocation) => Ok(invocation),
            Parsed::Help => panic!("{path} is help"),
        }
    }

    #[test]
    fn a_command_needs_the_role_its_declaration_names_and_an_option_can_raise_it() {
        let text = |s: &str| Value::Text(s.into());
        let cases = [
            ("playbook", vec![("technique", text("T1"))], Role::Everyone),
            ("coverage", vec![], Role::Everyone),
            ("oncall", vec![], Role::Everyone),
            ("incident status", vec![], Role::L1),
            ("incident list", vec![], Role::L1),
            ("incident export", vec![], Role::L1),
            ("incident ack", vec![], Role::T2),
            (
                "incident close",
                vec![("resolution", text("benign"))],
                Role::T2,
            ),
            ("incident note", vec![("text", text("x"))], Role::L1),
        ];
        for (path, args, role) in cases {
            let invocation = invoke(path, &args).unwrap();
            assert_eq!(invocation.needs().0, role, "{path}");
            assert_eq!(invocation.name(), path);
        }
        let over = invoke(
            "oncall",
            &[(
                "override",
                Value::User(crate::id::DiscordId::new(1).unwrap()),
            )],
        )
        .unwrap();
        assert_eq!(over.needs(), (Role::T2, "override the on-call rotation"));
        assert_eq!(over.name(), "oncall override");
        let ack = invoke("incident ack", &[]).unwrap();
        assert_eq!(ack.needs().1, "acknowledge pages");
        assert_eq!(Invocation::ack(IncidentId(3)), ack_with("INC-3"));
    }

    fn ack_with(incident: &str) -> Invocation {
        invoke(
            "incident ack",
            &[("incident", Value::Text(incident.into()))],
        )
        .unwrap()
    }

    #[test]
    fn values_are_checked_as_their_options_type_before_any_handler_runs() {
        let text = |s: &str| Value::Text(s.into());
        let bad = [
            (
                "incident ack",
                vec![("incident", text("twelve"))],
                "incident id",
            ),
            (
                "incident answer",
                vec![("question", Value::Int(1)), ("finding", text("maybe"))],
                "use concerning, clear or unknown",
            ),
            ("oncall", vec![("at", text("soon"))], "not a time like"),
            (
                "oncall",
                vec![
                    (
                        "override",
                        Value::User(crate::id::DiscordId::new(4).unwrap()),
                    ),
                    ("hours", Value::Int(-3)),
                ],
                "-3 hours is not an override length",
            ),
            (
                "playbook",
                vec![("technique", text("T1")), ("section", text("nope"))],
                "no section `nope`",
            ),
        ];
        for (path, args, says) in bad {
            let e = invoke(path, &args).unwrap_err();
            assert!(e.0.contains(says), "{path}: {}", e.0);
        }
        let typed = Invocation::answer(IncidentId(2), 3, Finding::Clear, Some("ok".into()));
        let args = typed.args();
        assert_eq!(args.incident().unwrap(), Some(IncidentId(2)));
        assert_eq!(args.need::<Finding>("finding").unwrap(), Finding::Clear);
        assert_eq!(args.int("question"), Some(3));
        assert!(!typed.is_pressed() && typed.clone().pressed(true).is_pressed());
    }

    #[test]
    fn an_answer_is_private_when_the_declaration_or_the_asker_says_so() {
        let text = |s: &str| Value::Text(s.into());
        assert!(invoke("incident list", &[]).unwrap().is_private());
        assert!(!invoke("incident status", &[]).unwrap().is_private());
        let playbook = |private| {
            invoke(
                "playbook",
                &[("technique", text("T1")), ("private", Value::Bool(private))],
            )
            .unwrap()
        };
        assert!(playbook(true).is_private());
        assert!(!playbook(false).is_private());
        assert!(Invocation::playbook("T1", None, true).is_private());
    }

    #[test]
    fn every_command_name_is_declared() {
        let paths: Vec<String> = runnable().into_iter().map(|(p, _)| p).collect();
        for sub in INCIDENT_SUBS {
            assert!(paths.contains(&format!("incident {}", sub.name)));
        }
        assert!(paths.contains(&"oncall".to_owned()));
        assert!(find("/PB").is_some_and(|d| d.name == "playbook"));
        assert!(find("frobnicate").is_none());
    }

    #[test]
    fn limits_come_from_the_domain() {
        let hours = ONCALL.option("hours").unwrap();
        assert!(
            matches!(hours.kind, Kind::Integer { max, .. } if max == i64::from(Override::MAX_HOURS))
        );
        assert!(
            hours
                .description
                .contains(&DEFAULT_OVERRIDE_HOURS.to_string())
        );
        let question = INCIDENT_SUBS[1].option("question").unwrap();
        assert!(matches!(question.kind, Kind::Integer { max, .. } if max == MAX_QUESTIONS as i64));
        let reason = ONCALL.option("reason").unwrap();
        assert_eq!(reason.kind.max_length(), Some(Override::REASON_MAX));
    }

    #[test]
    fn a_missing_required_option_names_it_and_the_usage() {
        let (path, decl) = runnable()
            .into_iter()
            .find(|(p, _)| p == "incident open")
            .unwrap();
        let mut args = Args::default();
        args.set("technique", Value::Text("T1059".into()));
        let e = build(&path, decl, args).unwrap_err();
        assert!(e.0.contains("Give `title`"), "{}", e.0);
        assert!(
            e.0.contains("/incident open technique title [alert]"),
            "{}",
            e.0
        );
    }
}
