//! The slash commands socbot registers, and an interaction's options read back, both from the
//! one command table ([`crate::service::commands`]): adding a command touches that table and
//! its handler, never this file.

use serenity::all::{
    CommandDataOption, CommandDataOptionValue, CommandInteraction, CommandOptionType,
    CreateCommand, CreateCommandOption,
};

use crate::service::UserError;
use crate::service::commands::{self as table, Args, Body, Decl, Kind, Opt, Parsed, Value};

/// Every command, as registered with Discord.
pub fn all() -> Vec<CreateCommand> {
    table::COMMANDS.iter().map(command).collect()
}

fn command(decl: &Decl) -> CreateCommand {
    let base = CreateCommand::new(decl.name)
        .description(decl.description)
        .dm_permission(false);
    match decl.body {
        Body::Run { options, .. } => options.iter().fold(base, |c, o| c.add_option(option(o))),
        Body::Help => base,
        Body::Group(subs) => subs.iter().fold(base, |c, s| {
            let sub =
                CreateCommandOption::new(CommandOptionType::SubCommand, s.name, s.description);
            c.add_option(
                s.options()
                    .iter()
                    .fold(sub, |sub, o| sub.add_sub_option(option(o))),
            )
        }),
    }
}

fn length(max: usize) -> u16 {
    u16::try_from(max).unwrap_or(u16::MAX)
}

fn option(o: &Opt) -> CreateCommandOption {
    let new = |t| CreateCommandOption::new(t, o.name, o.description).required(o.required);
    let longest = length(o.kind.max_length().unwrap_or(usize::MAX));
    match o.kind {
        Kind::Text { .. } | Kind::Incident => new(CommandOptionType::String)
            .min_length(1)
            .max_length(longest),
        Kind::Integer { min, max } => new(CommandOptionType::Integer)
            .min_int_value(u64::try_from(min).unwrap_or(0))
            .max_int_value(u64::try_from(max).unwrap_or(u64::MAX)),
        Kind::Boolean => new(CommandOptionType::Boolean),
        Kind::User => new(CommandOptionType::User),
        Kind::Technique => new(CommandOptionType::String)
            .set_autocomplete(true)
            .max_length(longest),
        Kind::Choice(choices) => choices()
            .into_iter()
            .fold(new(CommandOptionType::String), |o, (label, value)| {
                o.add_string_choice(label, value)
            }),
    }
}

/// The options Discord sent, as the table's arguments (options it does not declare are left
/// out).
fn args(decl: &Decl, given: &[CommandDataOption]) -> Args {
    let mut args = Args::default();
    for o in decl.options() {
        let Some(value) = given.iter().find(|g| g.name == o.name).map(|g| &g.value) else {
            continue;
        };
        let value = match value {
            CommandDataOptionValue::String(s) => Value::Text(s.clone()),
            CommandDataOptionValue::Integer(i) => Value::Int(*i),
            CommandDataOptionValue::Boolean(b) => Value::Bool(*b),
            CommandDataOptionValue::User(u) => match crate::id::DiscordId::new(u.get()) {
                Some(u) => Value::User(u),
                None => continue, // Discord's ids are never 0: as if not given
            },
            _ => continue,
        };
        args.set(o.name, value);
    }
    args
}

/// The command an interaction asks for, or what to tell the user.
pub fn parse(cmd: &CommandInteraction) -> Result<Parsed, UserError> {
    let name = cmd.data.name.as_str();
    let Some(decl) = table::find(name) else {
        return Err(UserError(format!(
            "socbot does not know `/{name}` (any more). Type `/` to see its commands."
        )));
    };
    if let Body::Group(_) = decl.body {
        let sub = cmd.data.options.first().and_then(|o| match &o.value {
            CommandDataOptionValue::SubCommand(opts) => Some((o.name.as_str(), opts.as_slice())),
            _ => None,
        });
        let Some((sub, options)) = sub else {
            return Err(table::pick_subcommand(decl, None));
        };
        let Some(sub_decl) = decl.sub(sub) else {
            return Err(table::pick_subcommand(decl, Some(sub)));
        };
        let path = format!("{} {}", decl.name, sub_decl.name);
        return table::build(&path, sub_decl, args(sub_decl, options));
    }
    table::build(decl.name, decl, args(decl, &cmd.data.options))
}

/// `/help`: every command with its options, what it does and who may use it (markdown).
pub fn help() -> String {
    let mut out = String::from("**socbot's commands** (options in [brackets] are optional)\n");
    for (path, decl) in table::runnable() {
        out.push_str(&format!(
            "`{}`: {} ({})\n",
            table::usage(&path, decl),
            decl.description,
            table::who(decl)
        ));
    }
    out.push_str("Outside an incident's thread, name the incident with `incident:INC-12`.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option `name` of registered command `command` (under `sub` if given), as Discord
    /// receives it.
    fn registered(command: &str, sub: Option<&str>, name: &str) -> serde_json::Value {
        let all = serde_json::to_value(all()).unwrap();
        let cmd = all
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == command)
            .unwrap();
        let options = match sub {
            Some(sub) => &cmd["options"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == sub)
                .unwrap()["options"],
            None => &cmd["options"],
        };
        options
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    }

    #[test]
    fn registered_limits_are_the_domains() {
        let hours = registered("oncall", None, "hours");
        assert_eq!(hours["max_value"], crate::oncall::Override::MAX_HOURS);
        let question = registered("incident", Some("answer"), "question");
        assert_eq!(question["max_value"], crate::playbook::MAX_QUESTIONS);
        assert_eq!(question["required"], true);
        let title = registered("incident", Some("open"), "title");
        assert_eq!(title["max_length"], crate::incident::TITLE_MAX);
        let technique = registered("playbook", None, "technique");
        assert_eq!(technique["autocomplete"], true);
        assert_eq!(technique["max_length"], table::TECHNIQUE_MAX);
        let reason = registered("oncall", None, "reason");
        assert_eq!(reason["max_length"], crate::oncall::Override::REASON_MAX);
        let incident = registered("incident", Some("status"), "incident");
        assert_eq!(incident["max_length"], table::INCIDENT_REF_MAX);
        let over = registered("oncall", None, "override");
        assert_eq!(over["type"], 6, "a user: {over}");
    }

    #[test]
    fn help_fits_one_message_and_names_every_command() {
        let help = help();
        assert!(
            help.chars().count() <= crate::discord::render::limits::CONTENT,
            "{} characters",
            help.chars().count()
        );
        for (path, _) in table::runnable() {
            assert!(
                help.contains(&format!("`/{path}")),
                "/{path} missing: {help}"
            );
        }
    }
}
