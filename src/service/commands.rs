//! Every command socbot answers, declared once: its name, description, options (kind, limits,
//! choices, autocomplete), the role it needs and how its arguments become a [`Command`].
//! Discord registration and parsing, console parsing, `/help` and console completion all read
//! this table, and the execute path takes each command's role from it. A new command is one
//! [`Decl`] here, the [`Command`] variant its builder makes, and its handler in the service with
//! one dispatch arm. Plain data: the adapters turn it into Discord's builders or console words.

use super::{Command, IncidentCommand, OncallCommand, UserError};
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

impl Kind {
    /// Given at the console by its name (`private`, `override 42`), never by position.
    pub const fn is_keyword(self) -> bool {
        matches!(self, Self::Boolean | Self::User)
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
}

const fn opt(name: &'static str, description: &'static str, kind: Kind) -> Opt {
    Opt {
        name,
        description,
        kind,
        required: false,
        rest: false,
        with: None,
        role: None,
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
}

/// Turns a command's arguments into the service's [`Command`].
pub type Builder = fn(&Args) -> Result<Command, UserError>;

/// What a declaration does.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// Takes these options; the builder makes the command.
    Run {
        options: &'static [Opt],
        build: Builder,
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
    Run(Command),
    Help,
}

/// One argument's value, as an adapter read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    User(crate::id::DiscordId),
}

/// The arguments given to a command, by option name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args(Vec<(&'static str, Value)>);

impl Args {
    pub fn set(&mut self, name: &'static str, value: Value) {
        self.0.push((name, value));
    }
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Value::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }
    pub fn user(&self, name: &str) -> Option<crate::id::DiscordId> {
        match self.get(name) {
            Some(Value::User(u)) => Some(*u),
            _ => None,
        }
    }
    fn required(&self, name: &str) -> Result<String, UserError> {
        self.text(name)
            .ok_or_else(|| UserError(format!("Give `{name}`.")))
    }
    fn incident(&self) -> Result<Option<IncidentId>, UserError> {
        self.text("incident")
            .map(|s| IncidentId::parse(&s).map_err(bad))
            .transpose()
    }
}

fn bad(e: incident::ParseError) -> UserError {
    UserError(format!("{e}."))
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
);

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
    body: Body::Run {
        options: &[
            TECHNIQUE,
            opt("section", "Show only this section", Kind::Choice(sections)),
            opt("private", "Only you see the answer", Kind::Boolean),
        ],
        build: playbook,
    },
};

const INCIDENT_CMD: Decl = Decl {
    name: "incident",
    aliases: &["inc"],
    description: "Run an incident: its thread, analysis questions, decision and closure",
    role: Role::Everyone,
    action: "run incidents",
    body: Body::Group(&INCIDENT_SUBS),
};

const fn text(name: &'static str, description: &'static str, max: usize) -> Opt {
    opt(name, description, Kind::Text { max })
}

/// A subcommand: its name, description, role and action (as a refusal says it), options
/// and builder.
const fn sub(
    (name, description): (&'static str, &'static str),
    (role, action): (Role, &'static str),
    options: &'static [Opt],
    build: Builder,
) -> Decl {
    Decl {
        name,
        aliases: &[],
        description,
        role,
        action,
        body: Body::Run { options, build },
    }
}

const INCIDENT_SUBS: [Decl; 10] = [
    sub(
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
        open,
    ),
    sub(
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
            opt("finding", "What the answer is", Kind::Choice(findings)).required(),
            text("note", "What you saw", incident::NOTE_MAX).rest(),
            INCIDENT,
        ],
        answer,
    ),
    sub(
        ("note", "Add a note to the timeline"),
        (Role::L1, "add notes"),
        &[
            text("text", "The note", incident::NOTE_MAX)
                .required()
                .rest(),
            INCIDENT,
        ],
        note,
    ),
    sub(
        ("escalate", "Escalate to Tier 2 by hand"),
        (Role::L1, "escalate"),
        &[
            text("reason", "Why", incident::REASON_MAX)
                .required()
                .rest(),
            INCIDENT,
        ],
        escalate,
    ),
    sub(
        ("status", "Answers, decision and timeline"),
        (Role::L1, "read incidents"),
        &[INCIDENT],
        status,
    ),
    sub(
        ("list", "List incidents"),
        (Role::L1, "list incidents"),
        &[opt(
            "status",
            "Only incidents with this status",
            Kind::Choice(statuses),
        )],
        list,
    ),
    sub(
        ("close", "Close the incident (Tier 2)"),
        (Role::T2, "close incidents"),
        &[
            opt("resolution", "How it ended", Kind::Choice(resolutions)).required(),
            text("summary", "What it was", incident::SUMMARY_MAX).rest(),
            INCIDENT,
        ],
        close,
    ),
    sub(
        ("export", "The whole timeline as a markdown file"),
        (Role::L1, "export incidents"),
        &[INCIDENT],
        export,
    ),
    sub(
        (
            "ack",
            "Acknowledge the page: stops paging, you own it (Tier 2)",
        ),
        (Role::T2, "acknowledge pages"),
        &[INCIDENT],
        ack,
    ),
    sub(
        (
            "playbook",
            "Attach a playbook to an incident that has none and post its questions",
        ),
        (Role::L1, "attach playbooks"),
        &[TECHNIQUE, INCIDENT],
        attach,
    ),
];

const ONCALL: Decl = Decl {
    name: "oncall",
    aliases: &[],
    description: "Who is on call for Tier 2 now and next; T2 can put someone on call",
    role: Role::Everyone,
    action: "see who is on call",
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
            .with("override"),
            text("reason", "Why (shown with the override)", 200)
                .with("override")
                .rest(),
            text("at", "Who is on call at this time (RFC 3339), not now", 40),
        ],
        build: oncall,
    },
};

const COVERAGE: Decl = Decl {
    name: "coverage",
    aliases: &[],
    description: "ATT&CK coverage of the playbooks, gaps seen lately, playbooks to fix: with a heatmap",
    role: Role::Everyone,
    action: "read coverage",
    body: Body::Run {
        options: &[opt("tactic", "Only this ATT&CK tactic", Kind::Choice(tactics)).rest()],
        build: coverage,
    },
};

const HELP: Decl = Decl {
    name: "help",
    aliases: &["?"],
    description: "socbot's commands, their options and who may use them",
    role: Role::Everyone,
    action: "read the help",
    body: Body::Help,
};

/// Every command, in the order Discord and `/help` show them.
pub static COMMANDS: &[Decl] = &[PLAYBOOK, INCIDENT_CMD, ONCALL, COVERAGE, HELP];

// ---------------------------------------------------------------------------------------------
// Builders: arguments → Command.

fn playbook(a: &Args) -> Result<Command, UserError> {
    let section = match a.text("section") {
        None => None,
        Some(s) => Some(SectionKind::from_user(&s).ok_or_else(|| {
            let keys: Vec<_> = SectionKind::KNOWN.iter().map(|k| k.key()).collect();
            UserError(format!(
                "no section `{s}`; use one of: {}.",
                keys.join(", ")
            ))
        })?),
    };
    Ok(Command::Playbook {
        technique: a.required("technique")?,
        section,
        private: a.flag("private"),
    })
}

fn open(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Open {
        technique: a.required("technique")?,
        title: a.required("title")?,
        alert: a.text("alert"),
    }))
}

fn answer(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Answer {
        incident: a.incident()?,
        question: usize::try_from(a.int("question").unwrap_or(0)).unwrap_or(0),
        finding: Finding::parse(&a.required("finding")?).map_err(bad)?,
        note: a.text("note"),
        via_button: false,
    }))
}

fn note(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Note {
        incident: a.incident()?,
        text: a.required("text")?,
    }))
}

fn escalate(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Escalate {
        incident: a.incident()?,
        reason: a.required("reason")?,
    }))
}

fn status(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Status {
        incident: a.incident()?,
    }))
}

fn list(a: &Args) -> Result<Command, UserError> {
    let filter = a.text("status").map(|s| IncidentStatus::parse(&s));
    Ok(Command::Incident(IncidentCommand::List {
        filter: filter.transpose().map_err(bad)?,
    }))
}

fn close(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Close {
        incident: a.incident()?,
        resolution: Resolution::parse(&a.required("resolution")?).map_err(bad)?,
        summary: a.text("summary"),
    }))
}

fn export(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Export {
        incident: a.incident()?,
    }))
}

fn ack(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Ack {
        incident: a.incident()?,
    }))
}

fn attach(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Incident(IncidentCommand::Playbook {
        incident: a.incident()?,
        technique: a.required("technique")?,
    }))
}

fn oncall(a: &Args) -> Result<Command, UserError> {
    let Some(user) = a.user("override") else {
        let at = a.text("at").map(|t| {
            chrono::DateTime::parse_from_rfc3339(t.trim())
                .map(|at| at.to_utc())
                .map_err(|_| UserError(format!("`{t}` is not a time like 2026-11-23T09:00:00Z.")))
        });
        return Ok(Command::Oncall(OncallCommand::Show {
            at: at.transpose()?,
        }));
    };
    let hours = a.int("hours").unwrap_or(DEFAULT_OVERRIDE_HOURS.into());
    let hours = u32::try_from(hours).map_err(|_| {
        UserError(format!(
            "{hours} hours is not an override length; put 1 to {} hours.",
            Override::MAX_HOURS
        ))
    })?;
    Ok(Command::Oncall(OncallCommand::Override {
        user,
        hours,
        reason: a.text("reason"),
    }))
}

fn coverage(a: &Args) -> Result<Command, UserError> {
    Ok(Command::Coverage {
        tactic: a.text("tactic"),
    })
}

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

/// Checks the required options are given, then builds the command (`path` names it in the
/// answer when one is missing).
pub fn build(path: &str, decl: &Decl, args: &Args) -> Result<Parsed, UserError> {
    match decl.body {
        Body::Help => Ok(Parsed::Help),
        Body::Group(_) => Err(pick_subcommand(decl, None)),
        Body::Run { options, build } => {
            if let Some(missing) = options.iter().find(|o| o.required && !args.has(o.name)) {
                return Err(UserError(format!(
                    "Give `{}` ({}): `{}`.",
                    missing.name,
                    missing.description,
                    usage(path, decl)
                )));
            }
            build(args).map(Parsed::Run)
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

/// The role a command needs and what it does (as a refusal says it), from its declaration.
/// An option with a role of its own (`/oncall override`) is named as the command's last word.
fn needs(cmd: &Command) -> (Role, &'static str) {
    let name = cmd.name();
    let table = runnable();
    if let Some((_, decl)) = table.iter().find(|(path, _)| path == name) {
        return (decl.role, decl.action);
    }
    name.rsplit_once(' ')
        .and_then(|(path, option)| {
            let (_, decl) = table.iter().find(|(p, _)| p == path)?;
            let (role, action) = decl.option(option)?.role?;
            Some((role.max(decl.role), action))
        })
        .unwrap_or((Role::Everyone, "do that"))
}

/// The role a command needs: the execute path checks it.
pub fn role_of(cmd: &Command) -> Role {
    needs(cmd).0
}

/// What a command does, as a refusal says it ("You need the L1 role … to open incidents").
pub fn action_of(cmd: &Command) -> &'static str {
    needs(cmd).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_variant_has_the_role_its_declaration_names() {
        let inc = |c| Command::Incident(c);
        let cases = [
            (
                Command::Playbook {
                    technique: "T1".into(),
                    section: None,
                    private: false,
                },
                Role::Everyone,
            ),
            (Command::Coverage { tactic: None }, Role::Everyone),
            (
                Command::Oncall(OncallCommand::Show { at: None }),
                Role::Everyone,
            ),
            (
                Command::Oncall(OncallCommand::Override {
                    user: crate::id::DiscordId::new(1).unwrap(),
                    hours: 1,
                    reason: None,
                }),
                Role::T2,
            ),
            (inc(IncidentCommand::Status { incident: None }), Role::L1),
            (inc(IncidentCommand::List { filter: None }), Role::L1),
            (inc(IncidentCommand::Export { incident: None }), Role::L1),
            (inc(IncidentCommand::Ack { incident: None }), Role::T2),
            (
                inc(IncidentCommand::Close {
                    incident: None,
                    resolution: Resolution::Benign,
                    summary: None,
                }),
                Role::T2,
            ),
            (
                inc(IncidentCommand::Note {
                    incident: None,
                    text: "x".into(),
                }),
                Role::L1,
            ),
        ];
        for (cmd, role) in cases {
            assert_eq!(role_of(&cmd), role, "{}", cmd.name());
        }
        let over = Command::Oncall(OncallCommand::Override {
            user: crate::id::DiscordId::new(1).unwrap(),
            hours: 1,
            reason: None,
        });
        assert_eq!(action_of(&over), "override the on-call rotation");
        let ack = inc(IncidentCommand::Ack { incident: None });
        assert_eq!(action_of(&ack), "acknowledge pages");
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
    }

    #[test]
    fn a_missing_required_option_names_it_and_the_usage() {
        let (path, decl) = runnable()
            .into_iter()
            .find(|(p, _)| p == "incident open")
            .unwrap();
        let mut args = Args::default();
        args.set("technique", Value::Text("T1059".into()));
        let e = build(&path, decl, &args).unwrap_err();
        assert!(e.0.contains("Give `title`"), "{}", e.0);
        assert!(
            e.0.contains("/incident open technique title [alert]"),
            "{}",
            e.0
        );
    }
}
