//! Gateway events → service calls → Discord replies. Thin: parsing is in `commands.rs`, layout
//! in `render.rs`, the decisions in `service`.

use std::time::Instant;

use serenity::all::{
    AutocompleteChoice, CommandInteraction, ComponentInteraction, ComponentInteractionDataKind,
    Context, CreateAutocompleteResponse, CreateInteractionResponse, EventHandler, GuildId,
    Interaction, MessageFlags, Ready,
};
use tracing::{Instrument, error, info, warn};

use super::render::{self, ALL_SECTIONS, PICKER_PREFIX};
use super::{commands, reply};
use crate::playbook::SectionKind;
use crate::service::{Actor, Command, Reply, Service, UserError};

pub struct Handler {
    pub service: Service,
    /// Only interactions from this guild are served (None: any).
    pub guild: Option<GuildId>,
}

fn actor(user: &serenity::all::User, member: Option<&serenity::all::Member>) -> Actor {
    Actor {
        id: user.id.get(),
        name: user.name.clone(),
        roles: member
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default(),
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        info!(bot = %ready.user.name, guilds = ready.guilds.len(), "connected to the Discord gateway");
        let cmds = commands::all();
        let count = cmds.len();
        let result = match self.guild {
            Some(g) => g.set_commands(&ctx.http, cmds).await.map(|_| ()),
            None => serenity::all::Command::set_global_commands(&ctx.http, cmds)
                .await
                .map(|_| ()),
        };
        match result {
            Ok(()) => {
                info!(count, guild = ?self.guild.map(GuildId::get), "slash commands registered")
            }
            Err(e) => {
                error!(error = %e, "registering slash commands failed; check the bot's applications.commands scope")
            }
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let started = Instant::now();
        let (kind, id) = match &interaction {
            Interaction::Command(c) => ("command", c.id.get()),
            Interaction::Autocomplete(a) => ("autocomplete", a.id.get()),
            Interaction::Component(c) => ("component", c.id.get()),
            _ => return,
        };
        let span = tracing::info_span!("interaction", kind, id);
        async {
            match interaction {
                Interaction::Command(cmd) => self.on_command(&ctx, &cmd).await,
                Interaction::Autocomplete(ac) => self.on_autocomplete(&ctx, &ac).await,
                Interaction::Component(c) => self.on_component(&ctx, &c).await,
                _ => {}
            }
            tracing::debug!(
                elapsed_us = started.elapsed().as_micros() as u64,
                "interaction handled"
            );
        }
        .instrument(span)
        .await;
    }
}

impl Handler {
    fn wrong_guild(&self, guild: Option<GuildId>) -> bool {
        self.guild.is_some() && guild != self.guild
    }

    async fn on_command(&self, ctx: &Context, cmd: &CommandInteraction) {
        if self.wrong_guild(cmd.guild_id) {
            let text = "socbot serves only its own SOC server; run this command there.";
            return respond_private(ctx, cmd, text).await;
        }
        let actor = actor(&cmd.user, cmd.member.as_deref());
        let result = commands::parse(cmd).and_then(|command| self.service.handle(command, &actor));
        match result {
            Ok(reply) => self.send_reply(ctx, cmd, reply).await,
            Err(UserError(text)) => respond_private(ctx, cmd, &text).await,
        }
    }

    async fn send_reply(&self, ctx: &Context, cmd: &CommandInteraction, reply: Reply) {
        let Reply::Playbook { view, private } = reply;
        let messages = render::playbook_messages(&view);
        let first =
            CreateInteractionResponse::Message(reply::response_message(&messages[0], private));
        if let Err(e) = cmd.create_response(&ctx.http, first).await {
            error!(error = %e, "answering the command failed");
            return;
        }
        for m in &messages[1..] {
            if let Err(e) = cmd
                .create_followup(&ctx.http, reply::followup(m, private))
                .await
            {
                error!(error = %e, "sending a follow-up failed");
                return;
            }
        }
    }

    async fn on_autocomplete(&self, ctx: &Context, ac: &CommandInteraction) {
        let typed = ac
            .data
            .autocomplete()
            .map(|o| o.value.to_owned())
            .unwrap_or_default();
        let choices: Vec<AutocompleteChoice> = self
            .service
            .autocomplete_technique(&typed, render::limits::CHOICE_NAME)
            .into_iter()
            .map(|(label, value)| AutocompleteChoice::new(label, value))
            .collect();
        let response = CreateInteractionResponse::Autocomplete(
            CreateAutocompleteResponse::new().set_choices(choices),
        );
        if let Err(e) = ac.create_response(&ctx.http, response).await {
            warn!(error = %e, "answering autocomplete failed");
        }
    }

    async fn on_component(&self, ctx: &Context, c: &ComponentInteraction) {
        if self.wrong_guild(c.guild_id) {
            let text = "socbot serves only its own SOC server.";
            let _ = c
                .create_response(
                    &ctx.http,
                    CreateInteractionResponse::Message(reply::private_text(text)),
                )
                .await;
            return;
        }
        let Some(technique) = c.data.custom_id.strip_prefix(PICKER_PREFIX) else {
            warn!(custom_id = %c.data.custom_id, "component with an unknown custom_id");
            let text =
                "This control is from an older socbot and no longer works; run the command again.";
            let _ = c
                .create_response(
                    &ctx.http,
                    CreateInteractionResponse::Message(reply::private_text(text)),
                )
                .await;
            return;
        };
        let value = match &c.data.kind {
            ComponentInteractionDataKind::StringSelect { values } => {
                values.first().cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        let section = (value != ALL_SECTIONS)
            .then(|| SectionKind::from_user(&value))
            .flatten();
        let private = c
            .message
            .flags
            .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL));
        let command = Command::Playbook {
            technique: technique.to_owned(),
            section,
            private,
        };
        let actor = actor(&c.user, c.member.as_ref());
        match self.service.handle(command, &actor) {
            Ok(Reply::Playbook { view, private }) => {
                let messages = render::playbook_messages(&view);
                let update = CreateInteractionResponse::UpdateMessage(reply::response_message(
                    &messages[0],
                    private,
                ));
                if let Err(e) = c.create_response(&ctx.http, update).await {
                    error!(error = %e, "updating the playbook message failed");
                    return;
                }
                for m in &messages[1..] {
                    if let Err(e) = c
                        .create_followup(&ctx.http, reply::followup(m, private))
                        .await
                    {
                        error!(error = %e, "sending a follow-up failed");
                        return;
                    }
                }
            }
            Err(UserError(text)) => {
                let _ = c
                    .create_response(
                        &ctx.http,
                        CreateInteractionResponse::Message(reply::private_text(&text)),
                    )
                    .await;
            }
        }
    }
}

async fn respond_private(ctx: &Context, cmd: &CommandInteraction, text: &str) {
    let r = CreateInteractionResponse::Message(reply::private_text(text));
    if let Err(e) = cmd.create_response(&ctx.http, r).await {
        error!(error = %e, "sending a private answer failed");
    }
}
