//! A minimal serenity 0.12.5 bot that proves the fake speaks Discord: it answers every kind of
//! interaction and reports, as one line each, what serenity parsed from the fake's events.

use std::time::Duration;

use serenity::all::{
    ActionRowComponent, ApplicationId, ClientBuilder, ComponentInteractionDataKind, Context,
    CreateActionRow, CreateAutocompleteResponse, CreateButton, CreateInputText,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    CreateModal, EditInteractionResponse, EventHandler, GatewayIntents, Guild, Http, HttpBuilder,
    InputTextStyle, Ready,
};
use serenity::model::application::Interaction as SerenityInteraction;
use tokio::sync::mpsc;

use super::FakeDiscord;

/// Failure guard of `next_report`.
pub const GUARD: Duration = Duration::from_secs(20);

/// Reports what serenity parsed, and answers each kind of interaction.
struct Probe {
    seen: mpsc::UnboundedSender<String>,
}

#[serenity::async_trait]
impl EventHandler for Probe {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        let _ = self.seen.send(format!("ready {}", ready.application.id));
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        let _ = self.seen.send(format!(
            "guild {} roles {} members {}",
            guild.id,
            guild.roles.len(),
            guild.members.len()
        ));
    }

    async fn interaction_create(&self, ctx: Context, interaction: SerenityInteraction) {
        let report = match interaction {
            SerenityInteraction::Command(cmd) if cmd.data.name == "slow" => {
                let deferred = cmd.defer(&ctx.http).await;
                let edited = cmd
                    .edit_response(&ctx.http, EditInteractionResponse::new().content("done"))
                    .await;
                format!(
                    "slow {:?} {:?}",
                    deferred.is_ok(),
                    edited.map(|m| m.content)
                )
            }
            SerenityInteraction::Command(cmd) if cmd.data.name == "note" => {
                let input = CreateInputText::new(InputTextStyle::Paragraph, "Note", "text");
                let modal = CreateModal::new("note:1", "Add a note")
                    .components(vec![CreateActionRow::InputText(input)]);
                let opened = cmd
                    .create_response(&ctx.http, CreateInteractionResponse::Modal(modal))
                    .await;
                format!("note {:?}", opened.is_ok())
            }
            SerenityInteraction::Command(cmd) => {
                let options: Vec<String> = cmd
                    .data
                    .options
                    .iter()
                    .map(|o| format!("{}={:?}", o.name, o.value.as_str()))
                    .collect();
                let button = CreateButton::new("ack:1").label("Acknowledge");
                let reply = CreateInteractionResponseMessage::new()
                    .content(format!("pong {}", cmd.data.name))
                    .components(vec![CreateActionRow::Buttons(vec![button])]);
                let answered = cmd
                    .create_response(&ctx.http, CreateInteractionResponse::Message(reply))
                    .await;
                let follow = cmd
                    .create_followup(
                        &ctx.http,
                        CreateInteractionResponseFollowup::new().content("follow"),
                    )
                    .await;
                format!(
                    "command {} {options:?} {:?} {:?}",
                    cmd.data.name,
                    answered.is_ok(),
                    follow.map(|m| m.content)
                )
            }
            SerenityInteraction::Autocomplete(auto) => {
                let typed = auto
                    .data
                    .autocomplete()
                    .map(|o| format!("{}={}", o.name, o.value))
                    .unwrap_or_default();
                let choices =
                    CreateAutocompleteResponse::new().add_string_choice("T1583.006", "T1583.006");
                let answered = auto
                    .create_response(&ctx.http, CreateInteractionResponse::Autocomplete(choices))
                    .await;
                format!("autocomplete {typed} {:?}", answered.is_ok())
            }
            SerenityInteraction::Component(press) => {
                let values = match &press.data.kind {
                    ComponentInteractionDataKind::StringSelect { values } => values.clone(),
                    _ => Vec::new(),
                };
                // `blank` asks for an update that would leave nothing in the message.
                let update = if press.data.custom_id == "blank" {
                    CreateInteractionResponseMessage::new()
                        .content("")
                        .embeds(Vec::new())
                        .components(Vec::new())
                } else {
                    CreateInteractionResponseMessage::new().content("acknowledged")
                };
                let answered = press
                    .create_response(&ctx.http, CreateInteractionResponse::UpdateMessage(update))
                    .await;
                format!(
                    "component {} {values:?} {:?}",
                    press.data.custom_id,
                    answered.is_ok()
                )
            }
            SerenityInteraction::Modal(modal) => {
                let values: Vec<String> = modal
                    .data
                    .components
                    .iter()
                    .flat_map(|row| &row.components)
                    .filter_map(|c| match c {
                        ActionRowComponent::InputText(input) => Some(format!(
                            "{}={}",
                            input.custom_id,
                            input.value.clone().unwrap_or_default()
                        )),
                        _ => None,
                    })
                    .collect();
                let reply = CreateInteractionResponseMessage::new()
                    .content("noted")
                    .ephemeral(true);
                let answered = modal
                    .create_response(&ctx.http, CreateInteractionResponse::Message(reply))
                    .await;
                format!(
                    "modal {} {values:?} {:?}",
                    modal.data.custom_id,
                    answered.is_ok()
                )
            }
            other => format!("other {:?}", other.kind()),
        };
        let _ = self.seen.send(report);
    }
}

/// A serenity `Http` aimed at `fake` the way socbot builds it: proxy, no ratelimiter, and the
/// application id that a client would learn from READY.
pub fn http_for(fake: &FakeDiscord) -> Http {
    http_builder(fake)
        .application_id(ApplicationId::new(fake.application_id()))
        .build()
}

fn http_builder(fake: &FakeDiscord) -> HttpBuilder {
    HttpBuilder::new(fake.token())
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
}

/// Starts a serenity client against `fake`; returns what its handler reports.
pub async fn start_probe_bot(fake: &FakeDiscord) -> mpsc::UnboundedReceiver<String> {
    let (seen, reports) = mpsc::unbounded_channel();
    let mut client =
        ClientBuilder::new_with_http(http_builder(fake).build(), GatewayIntents::GUILDS)
            .event_handler(Probe { seen })
            .await
            .expect("serenity client builds");
    tokio::spawn(async move { client.start().await });
    reports
}

/// The next report that starts with `starting`, skipping others; panics after `GUARD`.
pub async fn next_report(reports: &mut mpsc::UnboundedReceiver<String>, starting: &str) -> String {
    loop {
        let report = tokio::time::timeout(GUARD, reports.recv())
            .await
            .expect("handler reports in time")
            .expect("handler alive");
        if report.starts_with(starting) {
            return report;
        }
    }
}

/// Waits for the next report of `expected`'s kind (its first word) and compares.
pub async fn expect_report(reports: &mut mpsc::UnboundedReceiver<String>, expected: &str) {
    let kind = expected.split(' ').next().unwrap_or_default();
    assert_eq!(next_report(reports, kind).await, expected);
}

/// The HTTP status of a serenity error that Discord (the fake) answered; `None` otherwise.
pub fn status_of(err: &serenity::Error) -> Option<u16> {
    match err {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(response)) => {
            Some(response.status_code.as_u16())
        }
        _ => None,
    }
}
