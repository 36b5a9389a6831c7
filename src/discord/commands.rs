//! The slash commands socbot registers, and turning an interaction's options into a
//! [`Command`]. One list: adding a command touches this file and the service.

use serenity::all::{
    CommandDataOptionValue, CommandInteraction, CommandOptionType, CreateCommand,
    CreateCommandOption,
};

use crate::playbook::SectionKind;
use crate::service::{Command, UserError};

/// Every command, as registered with Discord.
pub fn all() -> Vec<CreateCommand> {
    vec![playbook()]
}

fn playbook() -> CreateCommand {
    let mut section = CreateCommandOption::new(
        CommandOptionType::String,
        "section",
        "Show only this section",
    );
    for kind in SectionKind::KNOWN {
        section = section.add_string_choice(kind.row_title(), kind.key());
    }
    CreateCommand::new("playbook")
        .description("Show the triage playbook of a MITRE ATT&CK technique")
        .dm_permission(false)
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::String,
                "technique",
                "Technique id or name, e.g. T1583.006",
            )
            .required(true)
            .set_autocomplete(true)
            .max_length(100),
        )
        .add_option(section)
        .add_option(CreateCommandOption::new(
            CommandOptionType::Boolean,
            "private",
            "Only you see the answer",
        ))
}

fn string_opt(cmd: &CommandInteraction, name: &str) -> Option<String> {
    cmd.data
        .options
        .iter()
        .find(|o| o.name == name)
        .and_then(|o| match &o.value {
            CommandDataOptionValue::String(s) => Some(s.clone()),
            _ => None,
        })
}

fn bool_opt(cmd: &CommandInteraction, name: &str) -> Option<bool> {
    cmd.data
        .options
        .iter()
        .find(|o| o.name == name)
        .and_then(|o| o.value.as_bool())
}

/// The command an interaction asks for, or what to tell the user.
pub fn parse(cmd: &CommandInteraction) -> Result<Command, UserError> {
    match cmd.data.name.as_str() {
        "playbook" => {
            let technique = string_opt(cmd, "technique").unwrap_or_default();
            let section = match string_opt(cmd, "section") {
                None => None,
                Some(s) => Some(SectionKind::from_user(&s).ok_or_else(|| {
                    UserError(format!(
                        "There is no section `{s}`; pick one from the list."
                    ))
                })?),
            };
            let private = bool_opt(cmd, "private").unwrap_or(false);
            Ok(Command::Playbook {
                technique,
                section,
                private,
            })
        }
        other => Err(UserError(format!(
            "socbot does not know `/{other}` (any more). Type `/` to see its commands."
        ))),
    }
}
