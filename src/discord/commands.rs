//! The slash commands socbot registers, and turning an interaction's options into a
//! [`Command`]. One list: adding a command touches this file and the service.

use serenity::all::{
    CommandDataOption, CommandDataOptionValue, CommandInteraction, CommandOptionType,
    CreateCommand, CreateCommandOption,
};

use crate::incident::{self, Finding, IncidentId, IncidentStatus, Resolution};
use crate::playbook::SectionKind;
use crate::service::{Command, IncidentCommand, OncallCommand, UserError};

/// Every command, as registered with Discord.
pub fn all() -> Vec<CreateCommand> {
    vec![playbook(), incident(), oncall(), coverage()]
}

fn coverage() -> CreateCommand {
    let mut tactic = text("tactic", "Only this ATT&CK tactic", false, 40);
    for t in &crate::attack::Catalog::shipped().tactics {
        tactic = tactic.add_string_choice(&t.name, &t.shortname);
    }
    CreateCommand::new("coverage")
        .description(
            "ATT&CK coverage of the playbooks, gaps seen lately, playbooks to fix: with a heatmap",
        )
        .dm_permission(false)
        .add_option(tactic)
}

fn oncall() -> CreateCommand {
    CreateCommand::new("oncall")
        .description("Who is on call for Tier 2 now and next; T2 can put someone on call")
        .dm_permission(false)
        .add_option(CreateCommandOption::new(
            CommandOptionType::User,
            "override",
            "Put this person on call (Tier 2 only)",
        ))
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "hours",
                "For how long (default 12)",
            )
            .min_int_value(1)
            .max_int_value(336),
        )
        .add_option(text("reason", "Why (shown with the override)", false, 200))
}

fn technique_option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::String,
        "technique",
        "Technique id or name, e.g. T1583.006",
    )
    .required(true)
    .set_autocomplete(true)
    .max_length(100)
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
        .add_option(technique_option())
        .add_option(section)
        .add_option(CreateCommandOption::new(
            CommandOptionType::Boolean,
            "private",
            "Only you see the answer",
        ))
}

fn text(name: &str, description: &str, required: bool, max: u16) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, name, description)
        .required(required)
        .min_length(1)
        .max_length(max)
}

fn incident_ref() -> CreateCommandOption {
    text(
        "incident",
        "Incident, e.g. INC-12 (default: this thread's)",
        false,
        24,
    )
}

fn sub(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::SubCommand, name, description)
}

fn incident() -> CreateCommand {
    let mut finding = text("finding", "What the answer is", true, 16);
    for f in Finding::ALL {
        finding = finding.add_string_choice(f.label(), f.key());
    }
    let mut resolution = text("resolution", "How it ended", true, 20);
    for r in Resolution::ALL {
        resolution = resolution.add_string_choice(r.label(), r.key());
    }
    let mut status = text("status", "Only incidents with this status", false, 16);
    for s in IncidentStatus::ALL {
        status = status.add_string_choice(s.key(), s.key());
    }
    CreateCommand::new("incident")
        .description("Run an incident: its thread, analysis questions, decision and closure")
        .dm_permission(false)
        .add_option(
            sub(
                "open",
                "Open an incident with its own thread and the playbook's questions",
            )
            .add_sub_option(technique_option())
            .add_sub_option(text(
                "title",
                "A short title",
                true,
                incident::TITLE_MAX as u16,
            ))
            .add_sub_option(text(
                "alert",
                "The alert or ticket that started it",
                false,
                incident::ALERT_MAX as u16,
            )),
        )
        .add_option(
            sub(
                "answer",
                "Answer an analysis question (or change an answer)",
            )
            .add_sub_option(
                CreateCommandOption::new(
                    CommandOptionType::Integer,
                    "question",
                    "Question number (q1 = 1)",
                )
                .required(true)
                .min_int_value(1)
                .max_int_value(25),
            )
            .add_sub_option(finding)
            .add_sub_option(text(
                "note",
                "What you saw",
                false,
                incident::NOTE_MAX as u16,
            ))
            .add_sub_option(incident_ref()),
        )
        .add_option(
            sub("note", "Add a note to the timeline")
                .add_sub_option(text("text", "The note", true, incident::NOTE_MAX as u16))
                .add_sub_option(incident_ref()),
        )
        .add_option(
            sub("escalate", "Escalate to Tier 2 by hand")
                .add_sub_option(text("reason", "Why", true, incident::REASON_MAX as u16))
                .add_sub_option(incident_ref()),
        )
        .add_option(sub("status", "Answers, decision and timeline").add_sub_option(incident_ref()))
        .add_option(sub("list", "List incidents").add_sub_option(status))
        .add_option(
            sub("close", "Close the incident (Tier 2)")
                .add_sub_option(resolution)
                .add_sub_option(text(
                    "summary",
                    "What it was",
                    false,
                    incident::SUMMARY_MAX as u16,
                ))
                .add_sub_option(incident_ref()),
        )
        .add_option(
            sub("export", "The whole timeline as a markdown file").add_sub_option(incident_ref()),
        )
        .add_option(
            sub(
                "playbook",
                "Attach a playbook to an incident that has none and post its questions",
            )
            .add_sub_option(technique_option())
            .add_sub_option(incident_ref()),
        )
        .add_option(
            sub(
                "ack",
                "Acknowledge the page: stops paging, you own it (Tier 2)",
            )
            .add_sub_option(incident_ref()),
        )
}

struct Opts<'a>(&'a [CommandDataOption]);

impl Opts<'_> {
    fn str(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| match &o.value {
                CommandDataOptionValue::String(s) => Some(s.clone()),
                _ => None,
            })
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.0
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.value.as_i64())
    }
    fn bool(&self, name: &str) -> Option<bool> {
        self.0
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.value.as_bool())
    }
    fn incident(&self) -> Result<Option<IncidentId>, UserError> {
        self.str("incident")
            .map(|s| IncidentId::parse(&s).map_err(|e| UserError(format!("{e}."))))
            .transpose()
    }
    fn required(&self, name: &str) -> Result<String, UserError> {
        self.str(name)
            .ok_or_else(|| UserError(format!("Give `{name}`.")))
    }
}

/// The command an interaction asks for, or what to tell the user.
pub fn parse(cmd: &CommandInteraction) -> Result<Command, UserError> {
    let top = Opts(&cmd.data.options);
    match cmd.data.name.as_str() {
        "playbook" => {
            let technique = top.str("technique").unwrap_or_default();
            let section = match top.str("section") {
                None => None,
                Some(s) => Some(SectionKind::from_user(&s).ok_or_else(|| {
                    UserError(format!(
                        "There is no section `{s}`; pick one from the list."
                    ))
                })?),
            };
            let private = top.bool("private").unwrap_or(false);
            Ok(Command::Playbook {
                technique,
                section,
                private,
            })
        }
        "incident" => {
            let Some((name, options)) = cmd.data.options.first().and_then(|o| match &o.value {
                CommandDataOptionValue::SubCommand(opts) => {
                    Some((o.name.as_str(), opts.as_slice()))
                }
                _ => None,
            }) else {
                return Err(UserError(
                    "Pick what to do: `/incident open`, `answer`, `status`, …".into(),
                ));
            };
            parse_incident(name, &Opts(options)).map(Command::Incident)
        }
        "oncall" => {
            let user = cmd
                .data
                .options
                .iter()
                .find(|o| o.name == "override")
                .and_then(|o| o.value.as_user_id());
            Ok(match user {
                None => Command::Oncall(OncallCommand::Show { at: None }),
                Some(u) => Command::Oncall(OncallCommand::Override {
                    user: u.get(),
                    hours: u32::try_from(top.int("hours").unwrap_or(12)).unwrap_or(12),
                    reason: top.str("reason"),
                }),
            })
        }
        "coverage" => Ok(Command::Coverage {
            tactic: top.str("tactic"),
        }),
        other => Err(UserError(format!(
            "socbot does not know `/{other}` (any more). Type `/` to see its commands."
        ))),
    }
}

fn parse_incident(name: &str, o: &Opts<'_>) -> Result<IncidentCommand, UserError> {
    let bad = |e: incident::ParseError| UserError(format!("{e}."));
    Ok(match name {
        "open" => IncidentCommand::Open {
            technique: o.required("technique")?,
            title: o.required("title")?,
            alert: o.str("alert"),
        },
        "answer" => IncidentCommand::Answer {
            incident: o.incident()?,
            question: usize::try_from(o.int("question").unwrap_or(0)).unwrap_or(0),
            finding: Finding::parse(&o.required("finding")?).map_err(bad)?,
            note: o.str("note"),
            via_button: false,
        },
        "note" => IncidentCommand::Note {
            incident: o.incident()?,
            text: o.required("text")?,
        },
        "escalate" => IncidentCommand::Escalate {
            incident: o.incident()?,
            reason: o.required("reason")?,
        },
        "status" => IncidentCommand::Status {
            incident: o.incident()?,
        },
        "list" => IncidentCommand::List {
            filter: o
                .str("status")
                .map(|s| IncidentStatus::parse(&s))
                .transpose()
                .map_err(bad)?,
        },
        "close" => IncidentCommand::Close {
            incident: o.incident()?,
            resolution: Resolution::parse(&o.required("resolution")?).map_err(bad)?,
            summary: o.str("summary"),
        },
        "export" => IncidentCommand::Export {
            incident: o.incident()?,
        },
        "ack" => IncidentCommand::Ack {
            incident: o.incident()?,
        },
        "playbook" => IncidentCommand::Playbook {
            incident: o.incident()?,
            technique: o.required("technique")?,
        },
        other => {
            return Err(UserError(format!(
                "`/incident {other}` is not a command; type `/incident` to see them."
            )));
        }
    })
}
