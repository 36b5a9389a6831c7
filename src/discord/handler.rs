//! Gateway events → service calls → Discord replies. Thin: parsing is in `commands.rs`, layout
//! in `render.rs` and `incident.rs`, the decisions in `service`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serenity::all::{
    ActionRowComponent, AutocompleteChoice, CommandInteraction, ComponentInteraction,
    ComponentInteractionDataKind, Context, CreateActionRow, CreateAttachment,
    CreateAutocompleteResponse, CreateInputText, CreateModal, EventHandler, Guild, GuildId, Http,
    InputTextStyle, Interaction, MessageFlags, ModalInteraction, Ready,
};
use serenity::gateway::{ConnectionStage, ShardStageUpdateEvent};
use tracing::{Instrument, error, info, warn};

use super::answer::{self, Answer, Defer, First, Followups, text_spec};
use super::incident::{self as view, Control};
use super::render::{self, ALL_SECTIONS, MessageSpec, PICKER_PREFIX};
use super::{commands, reply};
use crate::id::DiscordId;
use crate::incident::{Finding, Incident};
use crate::playbook::SectionKind;
use crate::service::commands::Parsed;
use crate::service::{Actor, Invocation, Origin, Reply, Service};

/// How long `/incident open` waits for the thread before answering without its link.
const THREAD_WAIT: Duration = Duration::from_millis(2000);

pub struct Handler {
    /// Set once the client (and so its REST handle) exists, before the gateway starts.
    pub service: Arc<OnceLock<Service>>,
    /// Only interactions from this guild are served (None: none; `socbot run` requires one).
    pub guild: Option<GuildId>,
    /// Interaction ids already handled: a redelivery is ignored (incident commands are also
    /// deduplicated durably in the store).
    pub seen: Seen,
    /// The follow-ups of each `/playbook` reply, so switching section replaces them.
    pub followups: Followups,
    /// An answer not ready this long after its interaction arrived is deferred first
    /// (`discord.defer_after_ms`).
    pub defer_after: Duration,
    /// The guild's active threads, for the port (see [`super::port::KnownThreads`]).
    pub known_threads: Arc<super::port::KnownThreads>,
}

/// The most recent interaction ids, bounded (Discord redelivers within minutes, not hours).
#[derive(Default)]
pub struct Seen {
    inner: std::sync::Mutex<(
        std::collections::HashSet<u64>,
        std::collections::VecDeque<u64>,
    )>,
}

impl Seen {
    const KEEP: usize = 50_000;

    /// True the first time `id` is seen.
    pub fn first_time(&self, id: u64) -> bool {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if !set.insert(id) {
            return false;
        }
        order.push_back(id);
        if order.len() > Self::KEEP
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }
}

fn actor(user: &serenity::all::User, member: Option<&serenity::all::Member>) -> Actor {
    // Discord's ids are never 0.
    Actor {
        id: DiscordId::new(user.id.get()),
        name: member.and_then(|m| m.nick.clone()).unwrap_or_else(|| {
            user.global_name
                .clone()
                .unwrap_or_else(|| user.name.clone())
        }),
        roles: member
            .map(|m| {
                m.roles
                    .iter()
                    .filter_map(|r| DiscordId::new(r.get()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn origin(service: &Service, actor: Actor, channel: u64, interaction: u64) -> Origin {
    Origin {
        actor,
        channel: DiscordId::new(channel),
        interaction: Some(interaction),
        now: service.now(),
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    /// Remembers the guild's active threads, so an incident thread created just before a crash
    /// is linked on the next start, not created again (see [`super::port::KnownThreads`]).
    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        let threads = guild.threads.iter().map(|t| {
            (
                t.parent_id.map_or(0, |p| p.get()),
                t.name.clone(),
                t.id.get(),
            )
        });
        self.known_threads.record(threads);
    }

    async fn ready(&self, ctx: Context, ready: Ready) {
        info!(bot = %ready.user.name, guilds = ready.guilds.len(), "connected to the Discord gateway");
        crate::metrics::set_gateway_connected(true);
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

    /// Readiness follows the session: down while serenity reconnects or resumes.
    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        crate::metrics::set_gateway_connected(event.new == ConnectionStage::Connected);
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let Some(service) = self.service.get() else {
            return;
        };
        let started = tokio::time::Instant::now();
        let Some((kind, id, guild)) = describe(&interaction) else {
            return;
        };
        if !self.seen.first_time(id) {
            info!(
                id,
                kind, "interaction delivered twice: already handled, ignored"
            );
            return;
        }
        let span = tracing::info_span!("interaction", kind, id);
        async {
            // Only the configured server is served: another server, or a DM (no guild), gets
            // a private refusal, whatever the command (`/playbook` and `/oncall` included).
            // The one exception: the Acknowledge button of a page's DM.
            let dm_ack = guild.is_none() && is_page_ack(&interaction);
            if (guild.is_none() || guild != self.guild) && !dm_ack {
                let answer = if matches!(interaction, Interaction::Autocomplete(_)) {
                    // Autocomplete takes only choices: none for another server.
                    Answer::only(First::Autocomplete(CreateAutocompleteResponse::new()))
                } else {
                    Answer::private("socbot serves only its own SOC server; use it there.")
                };
                return answer::send(&ctx.http, &interaction, answer, &self.followups, None).await;
            }
            self.serve(&ctx, service, &interaction, started).await;
            crate::metrics::interaction_latency(kind, started.elapsed());
            tracing::debug!(
                elapsed_us = started.elapsed().as_micros() as u64,
                "interaction handled"
            );
        }
        .instrument(span)
        .await;
    }
}

/// An interaction's kind, id and guild; None for kinds socbot does not handle.
fn describe(interaction: &Interaction) -> Option<(&'static str, u64, Option<GuildId>)> {
    Some(match interaction {
        Interaction::Command(c) => ("command", c.id.get(), c.guild_id),
        Interaction::Autocomplete(a) => ("autocomplete", a.id.get(), a.guild_id),
        Interaction::Component(c) => ("component", c.id.get(), c.guild_id),
        Interaction::Modal(m) => ("modal", m.id.get(), m.guild_id),
        _ => return None,
    })
}

impl Handler {
    /// Answers a served interaction. An answer not ready `defer_after` after the interaction
    /// arrived is deferred first, then delivered when ready; the command's work always runs to
    /// its end (never cancelled by the deadline).
    async fn serve(
        &self,
        ctx: &Context,
        service: &Service,
        interaction: &Interaction,
        arrived: tokio::time::Instant,
    ) {
        let work = answer_for(service, interaction, &ctx.http, self.guild);
        tokio::pin!(work);
        let deadline = arrived + self.defer_after;
        let deferred = match defer_for(interaction) {
            None => None,
            // Already due (a zero `defer_after`): no race at all.
            Some(defer) if tokio::time::Instant::now() >= deadline => Some(defer),
            Some(defer) => tokio::select! {
                // The deadline first: an answer that is ready only as late counts as late.
                biased;
                () = tokio::time::sleep_until(deadline) => Some(defer),
                answer = &mut work => {
                    if let Some(answer) = answer {
                        answer::send(&ctx.http, interaction, answer, &self.followups, None).await;
                    }
                    return;
                }
            },
        };
        if let Some(defer) = deferred {
            info!(?defer, "the answer is not ready in time: deferred");
            crate::metrics::interaction_deferred();
            if let Err(e) = answer::defer(&ctx.http, interaction, defer).await {
                error!(error = %e, "deferring the interaction failed");
            }
        }
        if let Some(answer) = work.await {
            answer::send(&ctx.http, interaction, answer, &self.followups, deferred).await;
        }
    }
}

/// The answer to a served interaction.
async fn answer_for(
    service: &Service,
    interaction: &Interaction,
    http: &Http,
    guild: Option<GuildId>,
) -> Option<Answer> {
    match interaction {
        Interaction::Command(cmd) => on_command(service, cmd).await,
        Interaction::Autocomplete(ac) => Some(on_autocomplete(service, ac)),
        Interaction::Component(c) if c.guild_id.is_none() => match dm_actor(http, guild, c).await {
            Ok(actor) => on_component(service, c, actor).await,
            Err(refusal) => Some(refusal),
        },
        Interaction::Component(c) => {
            on_component(service, c, actor(&c.user, c.member.as_ref())).await
        }
        Interaction::Modal(m) => on_modal(service, m).await,
        _ => None,
    }
}

/// Whether `interaction` is a press of a page's Acknowledge button (the DM's has one too).
fn is_page_ack(interaction: &Interaction) -> bool {
    matches!(interaction, Interaction::Component(c)
        if matches!(Control::parse_with_epoch(&c.data.custom_id), Some((Control::Ack { .. }, _))))
}

/// Who pressed a page DM's button, with their roles in the SOC server, asked of Discord (a DM
/// carries none): the same rules as in the server apply. Someone who is not a member there is
/// refused.
async fn dm_actor(
    http: &Http,
    guild: Option<GuildId>,
    c: &ComponentInteraction,
) -> Result<Actor, Answer> {
    let member = match guild {
        Some(guild) => guild.member(http, c.user.id).await,
        None => Err(serenity::Error::Other("no guild configured")),
    };
    match member {
        Ok(member) => Ok(actor(&c.user, Some(&member))),
        Err(e) => {
            warn!(error = %e, user = c.user.id.get(), "a page DM's button pressed by someone not found in the SOC server");
            Err(Answer::private(
                "Only a member of the SOC server may acknowledge this page, and socbot could not find you there; acknowledge in the incident's thread instead.",
            ))
        }
    }
}

/// How `interaction` is deferred when its answer is late; None when it cannot be (choices, and
/// the note button, whose form must be its response).
fn defer_for(interaction: &Interaction) -> Option<Defer> {
    match interaction {
        Interaction::Command(c) => {
            let private = match commands::parse(c) {
                // Replies only the asker sees: a private playbook, the list, help, mistakes.
                Ok(Parsed::Run(run)) => run.is_private(),
                Ok(Parsed::Help) | Err(_) => true,
            };
            Some(Defer::Thinking { private })
        }
        Interaction::Component(c) => match Control::parse_with_epoch(&c.data.custom_id) {
            Some((Control::NoteButton { .. }, _)) => None,
            _ => Some(Defer::Press),
        },
        Interaction::Modal(m) if m.message.is_some() => Some(Defer::Press),
        Interaction::Modal(_) => Some(Defer::Thinking { private: false }),
        _ => None,
    }
}

/// The command interaction a message answered (Discord's `interaction_metadata`).
fn answered_command(message: &serenity::all::Message) -> Option<u64> {
    match message.interaction_metadata.as_deref()? {
        serenity::all::MessageInteractionMetadata::Command(m) => Some(m.id.get()),
        _ => None,
    }
}

async fn on_command(service: &Service, cmd: &CommandInteraction) -> Option<Answer> {
    let origin = origin(
        service,
        actor(&cmd.user, cmd.member.as_deref()),
        cmd.channel_id.get(),
        cmd.id.get(),
    );
    let command = match commands::parse(cmd) {
        Ok(Parsed::Run(c)) => c,
        Ok(Parsed::Help) => return Some(Answer::private(&commands::help())),
        Err(e) => return Some(Answer::private(&e.markdown())),
    };
    let is_playbook = command.path() == "playbook";
    run(service, command, &origin).await.map(|mut answer| {
        answer.reply_to = is_playbook.then_some(cmd.id.get());
        answer
    })
}

/// Runs a command and lays out its reply (in place of the message clicked when it was given
/// through a control on it); a refusal or mistake is a private answer.
async fn run(service: &Service, command: Invocation, origin: &Origin) -> Option<Answer> {
    let update = command.is_pressed();
    match service.handle(command, origin).await {
        Ok(reply) => render_reply(service, reply, update).await,
        Err(e) => Some(Answer::private(&e.markdown())),
    }
}

fn on_autocomplete(service: &Service, ac: &CommandInteraction) -> Answer {
    let typed = ac
        .data
        .autocomplete()
        .map(|o| o.value.to_owned())
        .unwrap_or_default();
    let choices: Vec<AutocompleteChoice> = service
        .autocomplete_technique(&typed, render::limits::CHOICE_NAME)
        .into_iter()
        .map(|(label, value)| AutocompleteChoice::new(label, value))
        .collect();
    Answer::only(First::Autocomplete(
        CreateAutocompleteResponse::new().set_choices(choices),
    ))
}

async fn on_component(service: &Service, c: &ComponentInteraction, actor: Actor) -> Option<Answer> {
    let id = c.data.custom_id.as_str();
    let origin = origin(service, actor, c.channel_id.get(), c.id.get());
    if let Some(technique) = id.strip_prefix(PICKER_PREFIX) {
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
        let command = Invocation::playbook(technique, section, private).pressed(true);
        return run(service, command, &origin).await.map(|mut answer| {
            answer.reply_to = answered_command(&c.message);
            answer
        });
    }
    let control = match Control::parse_with_epoch(id) {
        Some((control, epoch)) if epoch != view::store_epoch() => {
            return Some(Answer::private(&from_before_restore(control.incident())));
        }
        Some((control, _)) => Some(control),
        None => None,
    };
    match control {
        Some(Control::Answer {
            incident,
            question,
            finding,
        }) => {
            let command = Invocation::answer(incident, question, finding, None).pressed(true);
            run(service, command, &origin).await
        }
        Some(Control::Ack { incident }) => {
            let command = Invocation::ack(incident).pressed(true);
            run(service, command, &origin).await
        }
        Some(Control::NoteButton { incident, question }) => {
            Some(note_form(service, incident, question))
        }
        _ => {
            warn!(custom_id = %id, "component with an unknown custom_id");
            Some(Answer::private(
                "This control is from an older socbot and no longer works; run the command again.",
            ))
        }
    }
}

/// The note form's finding field: its label naming every finding ("Finding: concerning, clear
/// or unknown") and the longest a finding's word is, both from [`Finding::ALL`].
fn finding_field() -> (String, u16) {
    let keys: Vec<&str> = Finding::ALL.iter().map(|f| f.key()).collect();
    let label = match keys.split_last() {
        Some((last, [])) => format!("Finding: {last}"),
        Some((last, rest)) => format!("Finding: {} or {last}", rest.join(", ")),
        None => "Finding".to_owned(),
    };
    let longest = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    (label, u16::try_from(longest).unwrap_or(u16::MAX))
}

/// The form of a question's Note button, its finding filled in with the current answer.
fn note_form(service: &Service, incident: crate::incident::IncidentId, question: usize) -> Answer {
    let current = service
        .incidents()
        .and_then(|i| i.load(Some(incident), None).ok())
        .and_then(|(inc, _)| inc.answer(question).map(|a| a.finding))
        .unwrap_or(Finding::Unknown);
    let title = render::clip_title(&format!("{incident} · note on q{question}"), 45);
    let (label, longest) = finding_field();
    let finding = CreateInputText::new(InputTextStyle::Short, label, "finding")
        .value(current.key())
        .required(true)
        .max_length(longest);
    let note = CreateInputText::new(InputTextStyle::Paragraph, "Note", "note")
        .required(true)
        .max_length(crate::incident::NOTE_MAX as u16);
    let modal = CreateModal::new(Control::NoteForm { incident, question }.custom_id(), title)
        .components(vec![
            CreateActionRow::InputText(finding),
            CreateActionRow::InputText(note),
        ]);
    Answer::only(First::Modal(modal))
}

async fn on_modal(service: &Service, m: &ModalInteraction) -> Option<Answer> {
    let Some((Control::NoteForm { incident, question }, epoch)) =
        Control::parse_with_epoch(&m.data.custom_id)
    else {
        return Some(Answer::private(
            "This form is from an older socbot; use `/incident answer` instead.",
        ));
    };
    if epoch != view::store_epoch() {
        return Some(Answer::private(&from_before_restore(incident)));
    }
    let field = |name: &str| {
        m.data
            .components
            .iter()
            .flat_map(|row| row.components.iter())
            .find_map(|c| match c {
                ActionRowComponent::InputText(t) if t.custom_id == name => t.value.clone(),
                _ => None,
            })
    };
    let finding = match Finding::parse(&field("finding").unwrap_or_default()) {
        Ok(f) => f,
        Err(e) => {
            return Some(Answer::private(&format!(
                "{e}. Your note was not saved; open the form again."
            )));
        }
    };
    let via_button = m.message.is_some();
    let command =
        Invocation::answer(incident, question, finding, field("note")).pressed(via_button);
    let origin = origin(
        service,
        actor(&m.user, m.member.as_ref()),
        m.channel_id.get(),
        m.id.get(),
    );
    run(service, command, &origin).await
}

/// The refusal of a button or form made before the store was restored from a backup.
fn from_before_restore(incident: crate::incident::IncidentId) -> String {
    format!(
        "This control was made before socbot's store was restored from a backup, so it may not mean what it says any more; nothing was done. Check with `/incident status incident:{incident}`, then use `/incident answer`, `/incident ack` or the buttons of a message posted since."
    )
}

/// The question message holding `question`, as it should look now (context embeds kept).
fn question_message(service: &Service, inc: &Incident, question: usize) -> MessageSpec {
    let part = (question.max(1) - 1) / view::QUESTIONS_PER_MESSAGE;
    if part > 0 {
        // Only the first question message can carry the playbook context.
        return view::question_message(inc, part);
    }
    let library = service.library().current();
    view::first_question_message(inc, library.get(inc.technique))
}

/// Turns a service reply into Discord responses. `update`: answer a component by editing its
/// message in place.
async fn render_reply(service: &Service, reply: Reply, update: bool) -> Option<Answer> {
    Some(match reply {
        Reply::Duplicate => {
            info!("duplicate interaction ignored");
            return None;
        }
        Reply::Acknowledged {
            incident,
            owner,
            changed,
        } => {
            let m = view::acknowledged_message(&incident, owner.as_deref(), changed);
            // On the page's button: replace the page with who acknowledged (no button left).
            Answer::message(m, !changed && !update, update)
        }
        Reply::Oncall {
            view,
            fallback_role,
            at,
        } => Answer::message(
            view::oncall_message(view.as_ref(), fallback_role, at),
            false,
            false,
        ),
        Reply::Playbook { view, private } => {
            let mut messages = render::playbook_messages(&view);
            let followups = messages[1..]
                .iter()
                .map(|m| reply::followup(m, private))
                .collect();
            Answer {
                followups,
                ..Answer::message(std::mem::take(&mut messages[0]), private, update)
            }
        }
        Reply::Recorded(r) => Answer::message(view::recorded_message(&r), false, false),
        Reply::IncidentOpened { incident, note } => {
            let thread = match service.incidents() {
                Some(i) => i.wait_for_thread(incident.id, THREAD_WAIT).await,
                None => None,
            };
            Answer::message(view::card(&incident, thread, note.as_deref()), false, false)
        }
        Reply::Answered {
            incident,
            question,
            changed,
        } => answered(service, &incident, question, changed, update),
        Reply::Status { incident, events } => {
            Answer::message(view::status_message(&incident, &events), false, false)
        }
        Reply::List {
            incidents,
            filter,
            total,
        } => Answer::message(view::list_message(&incidents, filter, total), true, false),
        other => with_file(other, update)?,
    })
}

/// A message of `text` as it is (already within Discord's limit).
fn text_spec_raw(text: String) -> MessageSpec {
    MessageSpec {
        content: Some(text),
        ..MessageSpec::default()
    }
}

/// The answer to a question answered: the question message redrawn in place (a button or its
/// form), or a line saying what changed.
fn answered(
    service: &Service,
    incident: &Incident,
    question: usize,
    changed: bool,
    update: bool,
) -> Answer {
    if update {
        return Answer::message(question_message(service, incident, question), false, true);
    }
    let text = match incident.answer(question) {
        Some(a) if changed => format!(
            "{} q{question} → **{}** ({})",
            incident.id,
            a.finding.label(),
            a.by.name
        ),
        _ => format!("{} q{question} was already answered that way.", incident.id),
    };
    Answer::message(text_spec_raw(text), !changed, false)
}

/// The replies of ATT&CK and exports: a technique, the coverage with its heatmap attached, an
/// incident's timeline as a file.
fn with_file(reply: Reply, update: bool) -> Option<Answer> {
    Some(match reply {
        Reply::Technique { answer, private } => {
            Answer::message(super::attack::technique_message(&answer), private, update)
        }
        Reply::Coverage {
            report,
            tactic,
            png,
        } => Answer::with_files(
            super::attack::coverage_message(&report, tactic),
            false,
            false,
            vec![CreateAttachment::bytes(png, super::attack::HEATMAP_FILE)],
        ),
        Reply::Export { incident, markdown } => {
            let file =
                CreateAttachment::bytes(markdown.into_bytes(), format!("{}.md", incident.id));
            let text = format!("{}: the whole timeline as markdown.", incident.id);
            Answer::with_files(text_spec(&text), false, false, vec![file])
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_forms_finding_field_names_every_finding_and_fits_the_longest() {
        let (label, longest) = finding_field();
        assert_eq!(label, "Finding: concerning, clear or unknown");
        for f in Finding::ALL {
            assert!(label.contains(f.key()), "{label} names {}", f.key());
            assert!(f.key().len() <= usize::from(longest), "{} fits", f.key());
            assert_eq!(Finding::parse(f.key()), Ok(f), "what the form takes parses");
        }
        assert_eq!(longest, 10);
    }
}
