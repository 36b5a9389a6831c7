//! Plain message specs → serenity builders. Every message allows no mentions at all: playbook
//! and user text can never ping `@everyone`, a role or a user.

use serenity::all::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateSelectMenu,
    CreateSelectMenuKind, CreateSelectMenuOption,
};

use super::render::{ButtonStyle, EmbedSpec, MessageSpec};

fn embed(e: &EmbedSpec) -> CreateEmbed {
    let mut out = CreateEmbed::new()
        .title(&e.title)
        .description(&e.description)
        .colour(e.color);
    if let Some(url) = &e.url {
        out = out.url(url);
    }
    if let Some(f) = &e.footer {
        out = out.footer(CreateEmbedFooter::new(f));
    }
    out
}

fn components(m: &MessageSpec) -> Vec<CreateActionRow> {
    let buttons = m.buttons.iter().map(|row| {
        CreateActionRow::Buttons(
            row.iter()
                .map(|b| {
                    let style = match b.style {
                        ButtonStyle::Primary => serenity::all::ButtonStyle::Primary,
                        ButtonStyle::Secondary => serenity::all::ButtonStyle::Secondary,
                        ButtonStyle::Success => serenity::all::ButtonStyle::Success,
                        ButtonStyle::Danger => serenity::all::ButtonStyle::Danger,
                    };
                    CreateButton::new(&b.custom_id).label(&b.label).style(style)
                })
                .collect(),
        )
    });
    m.section_picker
        .iter()
        .map(|p| {
            let options = p
                .options
                .iter()
                .map(|(value, label, selected)| {
                    CreateSelectMenuOption::new(label, value).default_selection(*selected)
                })
                .collect();
            CreateActionRow::SelectMenu(
                CreateSelectMenu::new(&p.custom_id, CreateSelectMenuKind::String { options })
                    .placeholder("Show a section…"),
            )
        })
        .chain(buttons)
        .collect()
}

/// No one is pinged by this message.
pub fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
        .empty_users()
        .empty_roles()
        .everyone(false)
}

/// Exactly the users and roles the message means to ping, and nobody else.
fn mentions(m: &MessageSpec) -> CreateAllowedMentions {
    no_mentions()
        .users(
            m.ping_users
                .iter()
                .map(|u| serenity::all::UserId::new(u.get())),
        )
        .roles(
            m.ping_roles
                .iter()
                .map(|r| serenity::all::RoleId::new(r.get())),
        )
}

/// Fills one of serenity's message builders (they share no trait) from a spec: embeds,
/// components, `allowed_mentions` and the text, if any.
macro_rules! filled {
    ($builder:expr, $m:expr, $mentions:expr) => {{
        let m: &MessageSpec = $m;
        let r = $builder
            .embeds(m.embeds.iter().map(embed).collect())
            .components(components(m))
            .allowed_mentions($mentions);
        match &m.content {
            Some(c) => r.content(c),
            None => r,
        }
    }};
}

/// The interaction response (message or in-place update) for a spec.
pub fn response_message(m: &MessageSpec, private: bool) -> CreateInteractionResponseMessage {
    filled!(CreateInteractionResponseMessage::new(), m, no_mentions()).ephemeral(private)
}

/// A follow-up message for a spec.
pub fn followup(m: &MessageSpec, private: bool) -> CreateInteractionResponseFollowup {
    filled!(CreateInteractionResponseFollowup::new(), m, no_mentions()).ephemeral(private)
}

/// A private text answer (user errors, refusals).
pub fn private_text(text: &str) -> CreateInteractionResponseMessage {
    CreateInteractionResponseMessage::new()
        .content(crate::service::playbook::clip(
            text,
            super::render::limits::CONTENT,
        ))
        .allowed_mentions(no_mentions())
        .ephemeral(true)
}

/// A message to post in a channel.
pub fn create_message(m: &MessageSpec) -> serenity::all::CreateMessage {
    filled!(serenity::all::CreateMessage::new(), m, mentions(m))
}

/// An edit that replaces a message's text, embeds and components.
pub fn edit_message(m: &MessageSpec) -> serenity::all::EditMessage {
    serenity::all::EditMessage::new()
        .content(m.content.clone().unwrap_or_default())
        .embeds(m.embeds.iter().map(embed).collect())
        .components(components(m))
        .allowed_mentions(no_mentions())
}

/// An edit of an interaction's response (`@original`) that replaces its text, embeds and
/// components.
pub fn edit_response(m: &MessageSpec) -> serenity::all::EditInteractionResponse {
    serenity::all::EditInteractionResponse::new()
        .content(m.content.clone().unwrap_or_default())
        .embeds(m.embeds.iter().map(embed).collect())
        .components(components(m))
        .allowed_mentions(no_mentions())
}
