//! Console lines → commands, through the one command table ([`crate::service::commands`]):
//! options by position (`/playbook T1583.006 questions`) or named as in Discord
//! (`/playbook technique:T1583.006 section:questions`), both read by the same declaration.

use crate::service::commands::{self as table, Args, Body, Decl, Kind, Opt, Parsed, Value};
use crate::service::{Invocation, UserError};

/// A console line parsed into a command, or a console-only action.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Command(Invocation),
    Search(String),
    Help,
    Quit,
    Empty,
}

/// Commands only the console has (the others come from the table).
pub const CONSOLE_ONLY: [(&str, &str); 2] = [
    (
        "/search <words>",
        "what autocomplete would offer for the words",
    ),
    ("/quit", "leave (Ctrl-D too)"),
];

pub fn parse_line(line: &str) -> Result<Line, UserError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((head, rest)) = words.split_first() else {
        return Ok(Line::Empty);
    };
    let head = head.trim_start_matches('/').to_ascii_lowercase();
    match head.as_str() {
        "quit" | "exit" | "q" => return Ok(Line::Quit),
        "search" => return Ok(Line::Search(rest.join(" "))),
        _ => {}
    }
    let (path, decl, rest) = resolve(&head, rest)?;
    let args = args(&path, decl, rest)?;
    Ok(match table::build(&path, decl, args)? {
        Parsed::Run(c) => Line::Command(c),
        Parsed::Help => Line::Help,
    })
}

/// The declaration a line names (`incident` then `open`), its path and the words after it.
pub(super) fn resolve<'a, 'b>(
    head: &str,
    rest: &'a [&'b str],
) -> Result<(String, &'static Decl, &'a [&'b str]), UserError> {
    let decl = table::find(head)
        .ok_or_else(|| UserError(format!("unknown command `/{head}`; try /help")))?;
    if !matches!(decl.body, Body::Group(_)) {
        return Ok((decl.name.to_owned(), decl, rest));
    }
    let Some((sub, rest)) = rest.split_first() else {
        return Err(table::pick_subcommand(decl, None));
    };
    let sub = decl
        .sub(sub)
        .ok_or_else(|| table::pick_subcommand(decl, Some(sub)))?;
    Ok((format!("{} {}", decl.name, sub.name), sub, rest))
}

/// A line's words sorted onto a command's options.
#[derive(Debug, Default)]
pub(super) struct Sorted {
    /// Per option (declaration order): the words given for it, if it was given.
    pub given: Vec<Option<Vec<String>>>,
    /// Words given by position, not yet placed.
    pub positional: Vec<String>,
    /// The option still taking words: its index, and whether it takes only one more.
    pub open: Option<(usize, bool)>,
}

/// `key:value` naming one of `opts` (in any case).
fn named<'w>(opts: &[Opt], word: &'w str) -> Option<(usize, &'w str)> {
    let (key, value) = word.split_once(':')?;
    let i = opts.iter().position(|o| o.name.eq_ignore_ascii_case(key))?;
    Some((i, value))
}

/// Sorts words: `key:value` names an option (a free-text value runs on until the next `key:`),
/// a keyword option's bare name names it (`private`; `override 42`), the rest are positional.
/// An option named twice is an error.
pub(super) fn sort(opts: &[Opt], words: &[&str]) -> Result<Sorted, UserError> {
    let mut s = Sorted {
        given: vec![None; opts.len()],
        ..Sorted::default()
    };
    for word in words {
        if let Some((i, value)) = named(opts, word) {
            if s.given[i].is_some() {
                let name = opts[i].name;
                return Err(UserError(format!("`{name}:` is given twice; give it once")));
            }
            let value: Vec<String> = Some(value)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .into_iter()
                .collect();
            s.open = (opts[i].rest || value.is_empty()).then_some((i, !opts[i].rest));
            s.given[i] = Some(value);
        } else if let Some((i, one)) = s.open {
            s.given[i]
                .get_or_insert_with(Vec::new)
                .push((*word).to_owned());
            if one {
                s.open = None;
            }
        } else if let Some(i) = opts
            .iter()
            .position(|o| o.kind.is_keyword() && o.name.eq_ignore_ascii_case(word))
            && s.given[i].is_none()
        {
            let flag = matches!(opts[i].kind, Kind::Boolean);
            s.given[i] = Some(if flag {
                vec!["true".into()]
            } else {
                Vec::new()
            });
            s.open = (!flag).then_some((i, true));
        } else {
            s.positional.push((*word).to_owned());
        }
    }
    Ok(s)
}

/// The options positional words fill, in order: the incident first (the console has no thread
/// to take it from), then the others as declared. Keyword options, options already given and
/// those whose companion (`with`) is not given take no positional word.
fn positional_slots(opts: &[Opt], given: &[Option<Vec<String>>]) -> Vec<usize> {
    let has = |name: &str| {
        opts.iter()
            .position(|o| o.name == name)
            .is_some_and(|i| given[i].is_some())
    };
    let incident = |i: &usize| matches!(opts[*i].kind, Kind::Incident);
    let (first, then): (Vec<usize>, Vec<usize>) = (0..opts.len()).partition(incident);
    first
        .into_iter()
        .chain(then)
        .filter(|&i| {
            let o = &opts[i];
            given[i].is_none() && !o.kind.is_keyword() && o.with.is_none_or(has)
        })
        .collect()
}

/// Places the positional words on the options, one word each (a free-text option takes the
/// rest); what is left stays in `positional`. Returns the option the next positional word
/// would fill (None: one too many, or more of a free text).
pub(super) fn place(opts: &[Opt], s: &mut Sorted) -> Option<usize> {
    let mut words = std::mem::take(&mut s.positional).into_iter().peekable();
    for i in positional_slots(opts, &s.given) {
        if words.peek().is_none() {
            return Some(i);
        }
        let taken: Vec<String> = if opts[i].rest {
            words.by_ref().collect()
        } else {
            words.next().into_iter().collect()
        };
        s.given[i] = Some(taken);
        if opts[i].rest {
            return None;
        }
    }
    s.positional = words.collect();
    None
}

/// A console line's words as the command's arguments.
fn args(path: &str, decl: &Decl, words: &[&str]) -> Result<Args, UserError> {
    let opts = decl.options();
    let mut sorted = sort(opts, words)?;
    place(opts, &mut sorted);
    if let Some(extra) = sorted.positional.first() {
        return Err(UserError(format!(
            "unexpected `{extra}`: {}; try /help",
            usage(path, decl)
        )));
    }
    if let Some(o) = opts
        .iter()
        .zip(&sorted.given)
        .find(|(o, w)| o.required && w.as_ref().is_none_or(Vec::is_empty))
        .map(|(o, _)| o)
    {
        return Err(UserError(format!(
            "give `{}` ({}): {}",
            o.name,
            o.description,
            usage(path, decl)
        )));
    }
    let mut args = Args::default();
    for (o, words) in opts.iter().zip(sorted.given) {
        match words {
            Some(words) if !words.is_empty() => args.set(o.name, value(o, &words.join(" "))?),
            Some(_) if matches!(o.kind, Kind::User) => return Err(bad_user(o)),
            _ => {}
        }
    }
    Ok(args)
}

fn bad_user(o: &Opt) -> UserError {
    UserError(format!(
        "give a Discord user id after `{}`, e.g. {} 123456789012345678",
        o.name, o.name
    ))
}

/// One option's words as its value: numbers, yes/no and user ids are read here; the table
/// checks the rest (incident ids, choices, times) when it builds the command, as for Discord.
fn value(o: &Opt, text: &str) -> Result<Value, UserError> {
    match o.kind {
        // Question numbers are written q2 as often as 2.
        Kind::Integer { .. } => text
            .trim_start_matches(['q', 'Q'])
            .parse()
            .map(Value::Int)
            .map_err(|_| {
                UserError(format!(
                    "`{text}` is not a number; give `{}` as a whole number ({})",
                    o.name, o.description
                ))
            }),
        Kind::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(UserError(format!(
                "`{}:` is true or false, not `{text}`",
                o.name
            ))),
        },
        Kind::User => text
            .trim_start_matches("<@")
            .trim_start_matches('!')
            .trim_end_matches('>')
            .parse()
            .map(Value::User)
            .map_err(|_| bad_user(o)),
        Kind::Text { .. } | Kind::Incident | Kind::Technique | Kind::Choice(_) => {
            Ok(Value::Text(text.to_owned()))
        }
    }
}

/// `/incident answer [incident] <question> <finding> [note…]`: the options in the console's
/// positional order.
pub fn usage(path: &str, decl: &Decl) -> String {
    let opts = decl.options();
    let (first, then): (Vec<&Opt>, Vec<&Opt>) =
        opts.iter().partition(|o| matches!(o.kind, Kind::Incident));
    let mut out = format!("/{path}");
    for o in first.into_iter().chain(then) {
        let more = if o.rest { "…" } else { "" };
        let word = match o.kind {
            Kind::Boolean => format!("[{}]", o.name),
            Kind::User => format!("[{} <user id>]", o.name),
            _ if o.required => format!("<{}{more}>", o.name),
            _ => format!("[{}{more}]", o.name),
        };
        out.push(' ');
        out.push_str(&word);
    }
    out
}

/// The console's `/help`: every command of the table in its console form, then the choices.
pub fn help() -> String {
    let mut lines: Vec<(String, &str)> = table::runnable()
        .into_iter()
        .map(|(path, decl)| (usage(&path, decl), decl.description))
        .collect();
    lines.extend(CONSOLE_ONLY.iter().map(|(u, d)| ((*u).to_owned(), *d)));
    // Descriptions in one column; a longer usage puts its description on the next line.
    let width = 44;
    let mut out = String::from("Commands (the same as in Discord):\n");
    for (usage, description) in lines {
        if usage.chars().count() > width {
            out.push_str(&format!("  {usage}\n  {:width$}  {description}\n", ""));
        } else {
            out.push_str(&format!("  {usage:width$}  {description}\n"));
        }
    }
    out.push_str(
        "Options by position, or named as in Discord: /incident answer incident:INC-1 question:2 finding:clear\n",
    );
    let mut seen = Vec::new();
    for (_, decl) in table::runnable() {
        for o in decl.options() {
            if let Kind::Choice(choices) = o.kind
                && !seen.contains(&o.name)
            {
                seen.push(o.name);
                let values: Vec<String> = choices().into_iter().map(|(_, v)| v).collect();
                out.push_str(&format!("{}: {}\n", o.name, values.join(", ")));
            }
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Finding, IncidentId};
    use crate::playbook::SectionKind;

    /// The command a line parses to.
    fn command(line: &str) -> Invocation {
        match parse_line(line) {
            Ok(Line::Command(c)) => c,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn both_option_styles_parse() {
        for line in [
            "/playbook T1583.006 questions",
            "/playbook technique:T1583.006 section:questions",
        ] {
            let c = command(line);
            assert_eq!(c.path(), "playbook");
            let args = c.args();
            assert_eq!(args.text("technique").as_deref(), Some("T1583.006"));
            assert_eq!(
                args.get::<SectionKind>("section").unwrap(),
                Some(SectionKind::Questions)
            );
            assert!(!args.flag("private"));
        }
        assert!(
            parse_line("/playbook T1583.006 nonsense")
                .unwrap_err()
                .0
                .contains("use one of")
        );
        assert!(parse_line("/frobnicate").unwrap_err().0.contains("/help"));
    }

    #[test]
    fn incident_lines_parse() {
        let answer = command("/incident answer INC-3 q2 concerning no ticket for it");
        assert_eq!(answer.path(), "incident answer");
        let a = answer.args();
        assert_eq!(
            (
                a.incident().unwrap(),
                a.int("question"),
                a.need::<Finding>("finding").unwrap()
            ),
            (Some(IncidentId(3)), Some(2), Finding::Concerning)
        );
        assert_eq!(a.text("note").as_deref(), Some("no ticket for it"));
        let open = command("/incident open T1583.006 Burst of new accounts alert:SIEM-42");
        assert_eq!(open.path(), "incident open");
        assert_eq!(
            (open.args().text("title"), open.args().text("alert")),
            (
                Some("Burst of new accounts".to_owned()),
                Some("SIEM-42".to_owned())
            )
        );
        assert!(parse_line("/incident answer INC-3 two clear").is_err());
    }

    #[test]
    fn incident_lines_take_discord_style_options() {
        let same = [
            (
                "/incident open technique:T1583.006 title:Burst of new accounts alert:SIEM-42",
                "/incident open T1583.006 Burst of new accounts alert:SIEM-42",
            ),
            (
                "/incident answer incident:INC-3 question:2 finding:concerning note:no ticket",
                "/incident answer INC-3 2 concerning no ticket",
            ),
            (
                "/incident answer INC-3 finding:clear question:2",
                "/incident answer INC-3 2 clear",
            ),
            (
                "/incident close incident:INC-3 resolution:benign summary:backup job",
                "/incident close INC-3 benign backup job",
            ),
            (
                "/incident note incident:4 text:called the user",
                "/incident note 4 called the user",
            ),
            (
                "/incident escalate INC-4 reason:looks bad",
                "/incident escalate INC-4 looks bad",
            ),
            ("/incident status incident:INC-4", "/incident status INC-4"),
            ("/incident list status:open", "/incident list open"),
            (
                "/oncall override:<@42> hours:4 reason:swap",
                "/oncall override 42 4 swap",
            ),
        ];
        for (named, positional) in same {
            assert_eq!(
                parse_line(named).unwrap(),
                parse_line(positional).unwrap(),
                "{named}"
            );
        }
        let twice = parse_line("/incident answer question:1 question:2").unwrap_err();
        assert!(twice.0.contains("given twice"), "{}", twice.0);
    }

    #[test]
    fn keywords_times_and_mistakes_read_from_the_table() {
        let show = command("/oncall 2026-11-30T10:00:00Z");
        assert_eq!(show.name(), "oncall");
        let Ok(Some(at)) = show.args().get::<chrono::DateTime<chrono::Utc>>("at") else {
            panic!("not a show at a time: {show:?}")
        };
        assert_eq!(at.to_rfc3339(), "2026-11-30T10:00:00+00:00");
        assert_eq!(
            parse_line("/pb private T1583.006 questions").unwrap(),
            parse_line("/playbook technique:T1583.006 section:questions private:yes").unwrap()
        );
        assert_eq!(parse_line("/help").unwrap(), Line::Help);
        let no_user = parse_line("/oncall override").unwrap_err().0;
        assert!(no_user.contains("Discord user id"), "{no_user}");
        let extra = parse_line("/incident status INC-1 INC-2").unwrap_err().0;
        assert!(extra.contains("unexpected `INC-2`"), "{extra}");
        let missing = parse_line("/incident open T1059").unwrap_err().0;
        assert!(
            missing.contains("give `title`")
                && missing.contains("/incident open <technique> <title…> [alert…]"),
            "{missing}"
        );
        let sub = parse_line("/incident").unwrap_err().0;
        assert!(sub.contains("open|answer|note"), "{sub}");
    }

    #[test]
    fn help_shows_every_declared_command_in_its_console_form() {
        let help = help();
        for (path, decl) in table::runnable() {
            assert!(
                help.contains(&usage(&path, decl)),
                "/{path} missing:\n{help}"
            );
        }
        assert!(help.contains("/oncall [override <user id>] [hours] [reason…] [at]"));
        assert!(
            help.contains("finding: concerning, clear, unknown"),
            "{help}"
        );
    }
}
