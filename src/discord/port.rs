//! The outbox's way into Discord: each [`Effect`] becomes REST calls. Messages carry a nonce
//! that Discord enforces, so a delivery repeated after a crash does not post twice.

use std::sync::Arc;

use serenity::all::{
    AutoArchiveDuration, ChannelId, ChannelType, CreateThread, EditThread, GuildId, Http,
    MessageId, Nonce, UserId,
};

use super::incident::{
    alert_card, as_opened, closed_message, closed_thread_name, decision_message, notice_message,
    opening_of, question_message,
};
use super::posted::Posted;
use super::render::{MessageSpec, limits};
use super::reply;
use crate::effects::{ChannelPost, ChatPort, DeliveryError, Effect};
use crate::id::DiscordId;
use crate::incident::{EventKind, Incident, PageTarget};
use crate::service::LibraryHandle;

pub struct DiscordPort {
    pub http: Arc<Http>,
    pub library: LibraryHandle,
    /// For links to threads in DMs (`https://discord.com/channels/<guild>/<thread>`).
    pub guild_id: Option<DiscordId>,
    /// DM channel per user, so a re-page costs one call less.
    dm_channels: std::sync::Mutex<std::collections::HashMap<u64, u64>>,
    /// Messages this process posted, by nonce, for an hour: an effect retried after a failure
    /// part-way (questions posted, then the second message failed) skips what went out instead
    /// of posting it again and hoping Discord's nonce check catches the repeat.
    posted: std::sync::Mutex<Posted>,
    /// Incidents whose thread creation failed without a clear answer (timeout, dropped
    /// connection, 5xx): Discord may have made the thread anyway, so the next attempt looks
    /// for it among the guild's active threads before creating one.
    uncertain_threads: std::sync::Mutex<std::collections::HashSet<u64>>,
    /// The guild for links, learnt from a channel when `guild_id` is unset.
    link_guild: std::sync::Mutex<Option<u64>>,
    /// Threads the gateway listed at start-up (filled by the handler).
    known_threads: Arc<KnownThreads>,
}

/// How long [`DiscordPort`] remembers a posted message by its nonce.
const POSTED_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

impl DiscordPort {
    pub fn new(
        http: Arc<Http>,
        known_threads: Arc<KnownThreads>,
        library: LibraryHandle,
        guild_id: Option<DiscordId>,
    ) -> Self {
        Self {
            http,
            known_threads,
            library,
            guild_id,
            dm_channels: std::sync::Mutex::default(),
            posted: std::sync::Mutex::new(Posted::new(POSTED_FOR)),
            uncertain_threads: std::sync::Mutex::default(),
            link_guild: std::sync::Mutex::default(),
        }
    }

    fn uncertain(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<u64>> {
        self.uncertain_threads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The active thread named `name` under `channel`, asked of Discord.
    async fn active_thread(&self, channel: u64, name: &str) -> Result<Option<u64>, DeliveryError> {
        let guild = match self.guild_id {
            None => ChannelId::new(channel)
                .to_channel(&self.http)
                .await
                .map_err(classify)?
                .guild()
                .map(|c| c.guild_id),
            Some(g) => Some(GuildId::new(g.get())),
        };
        let Some(guild) = guild else {
            return Ok(None);
        };
        let active = guild
            .get_active_threads(&self.http)
            .await
            .map_err(classify)?;
        Ok(active
            .threads
            .iter()
            .find(|t| t.parent_id.map(ChannelId::get) == Some(channel) && t.name == name)
            .map(|t| t.id.get()))
    }

    async fn dm_channel(&self, user: u64) -> Result<ChannelId, serenity::Error> {
        let cached = self
            .dm_channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&user)
            .copied();
        if let Some(c) = cached {
            return Ok(ChannelId::new(c));
        }
        let channel = UserId::new(user).create_dm_channel(&self.http).await?;
        self.dm_channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(user, channel.id.get());
        Ok(channel.id)
    }
}

/// 4xx other than 429 means Discord will never accept it as it is; anything else may pass later.
fn classify(e: serenity::Error) -> DeliveryError {
    if let serenity::Error::Http(serenity::all::HttpError::UnsuccessfulRequest(resp)) = &e {
        let code = resp.status_code.as_u16();
        if (400..500).contains(&code) && code != 429 && code != 408 {
            return DeliveryError::Permanent(format!(
                "Discord answered {code}: {}",
                resp.error.message
            ));
        }
    }
    DeliveryError::Retry(e.to_string())
}

impl DiscordPort {
    async fn post(
        &self,
        channel: u64,
        m: &MessageSpec,
        nonce: String,
    ) -> Result<u64, DeliveryError> {
        if let Some(id) = self.posted().get(&nonce, std::time::Instant::now()) {
            return Ok(id);
        }
        let msg = reply::create_message(m)
            .nonce(Nonce::String(nonce.clone()))
            .enforce_nonce(true);
        let sent = ChannelId::new(channel)
            .send_message(&self.http, msg)
            .await
            .map_err(classify)?;
        self.posted()
            .insert(nonce, sent.id.get(), std::time::Instant::now());
        Ok(sent.id.get())
    }

    fn posted(&self) -> std::sync::MutexGuard<'_, Posted> {
        self.posted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the incident's posts go: its thread; or, when Discord refused the thread for
    /// good (effects run in order, so a later effect without a thread means that), the channel
    /// it belongs to, so the questions, decisions and pages still reach people.
    fn place(inc: &Incident) -> Result<u64, DeliveryError> {
        match (inc.thread, inc.channel) {
            (Some(t), _) => Ok(t.thread_id),
            (None, None) => Err(DeliveryError::Permanent(format!(
                "{} has no thread and no channel; set discord.soc_channel_id",
                inc.id
            ))),
            (None, Some(channel)) => {
                let channel = channel.get();
                tracing::warn!(incident = %inc.id, channel, "no thread for the incident: posting in its channel");
                Ok(channel)
            }
        }
    }

    /// The guild of `channel`, for links (`https://discord.com/channels/<guild>/<channel>`):
    /// the configured one, or asked of Discord once when commands are global.
    async fn link_guild(&self, channel: DiscordId) -> u64 {
        if let Some(g) = self.guild_id {
            return g.get();
        }
        let known = *self
            .link_guild
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(g) = known {
            return g;
        }
        let found = ChannelId::new(channel.get())
            .to_channel(&self.http)
            .await
            .ok()
            .and_then(|c| c.guild())
            .map(|c| c.guild_id.get());
        if let Some(g) = found {
            *self
                .link_guild
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(g);
        }
        found.unwrap_or(0)
    }
}

impl DiscordPort {
    /// Edits the question messages `ids` to show `inc` as it is now. As at opening, the context
    /// embeds share the first question message when they fit. Picked by position, not by
    /// buttons (a closed incident has none).
    async fn edit_questions(
        &self,
        thread: u64,
        inc: &Incident,
        ids: &[u64],
    ) -> Result<(), DeliveryError> {
        let library = self.library.current();
        let mut questions = opening_of(inc, library.get(inc.technique)).questions;
        for (part, id) in ids.iter().enumerate() {
            let m = match questions.get_mut(part) {
                Some(m) => std::mem::take(m),
                None => question_message(inc, part),
            };
            ChannelId::new(thread)
                .edit_message(&self.http, MessageId::new(*id), reply::edit_message(&m))
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// Posts a page in the incident's thread; when the thread refuses it for good (locked,
    /// deleted, permission removed), in the SOC channel instead, saying why it is there.
    async fn post_page(
        &self,
        inc: &Incident,
        m: &MessageSpec,
        key: u64,
    ) -> Result<(), DeliveryError> {
        let place = Self::place(inc)?;
        let (why, channel) = match (self.post(place, m, nonce(key, 0)).await, inc.channel) {
            (Ok(_), _) => return Ok(()),
            (Err(DeliveryError::Permanent(why)), Some(c)) if inc.thread.is_some() => (why, c),
            (Err(e), _) => return Err(e),
        };
        tracing::warn!(incident = %inc.id, thread = place, %why, "the thread refused the page: paging in the SOC channel");
        let mut here = m.clone();
        let note = format!("\n(Posted here: the thread <#{place}> refused it: {why}.)");
        let content = here.content.take().unwrap_or_default() + &note;
        here.content = Some(crate::service::playbook::clip(&content, limits::CONTENT));
        self.post(channel.get(), &here, nonce(key, 2)).await?;
        crate::metrics::page_rerouted();
        Ok(())
    }

    /// Sends the DM of a page (message `n` of the effect `key`).
    #[allow(clippy::too_many_arguments)]
    async fn page_dm(
        &self,
        key: u64,
        n: usize,
        inc: &Incident,
        level: crate::incident::PageLevel,
        user: u64,
        attempt: u32,
        deadline: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), DeliveryError> {
        // The thread, else the channel; an incident opened at the console with no SOC channel
        // has neither.
        let place = inc
            .thread
            .and_then(|t| DiscordId::new(t.thread_id))
            .or(inc.channel);
        let link = match place {
            Some(place) => {
                let guild = self.link_guild(place).await;
                format!("https://discord.com/channels/{guild}/{place}")
            }
            None => "(it has no thread or channel yet)".to_owned(),
        };
        let dm = super::incident::page_dm(inc, level, attempt, deadline, &link);
        let sent = async {
            let channel = self.dm_channel(user).await?;
            let msg = reply::create_message(&dm)
                .nonce(Nonce::String(nonce(key, n)))
                .enforce_nonce(true);
            channel.send_message(&self.http, msg).await
        };
        sent.await.map(|_| ()).map_err(classify)
    }
}

impl DiscordPort {
    /// For an incident without a playbook: the playbooks closest to what its alerts named.
    fn closest(&self, inc: &Incident) -> Vec<(crate::playbook::TechniqueId, String)> {
        if inc.has_playbook() {
            return Vec::new();
        }
        let library = self.library.current();
        let mut out: Vec<(crate::playbook::TechniqueId, String)> = Vec::new();
        for t in &inc.techniques {
            for p in suggestions_of(library.lookup(&t.to_string())) {
                if out.len() < 5 && !out.iter().any(|(id, _)| *id == p.id) {
                    out.push((p.id, p.name.clone()));
                }
            }
        }
        out
    }
}

fn suggestions_of(l: crate::playbook::Lookup) -> Vec<Arc<crate::playbook::Playbook>> {
    match l {
        crate::playbook::Lookup::Found(p) | crate::playbook::Lookup::Parent { playbook: p, .. } => {
            vec![p]
        }
        crate::playbook::Lookup::NotFound { suggestions, .. } => suggestions,
    }
}

/// A nonce unique to message `n` of the effect `key` (Discord takes 25 characters at most).
fn nonce(key: u64, n: usize) -> String {
    format!("e{key}m{n}")
}

impl DiscordPort {
    /// Creates the incident's thread in `channel`, or links the one a crash left unrecorded.
    async fn open_thread(
        &self,
        channel: u64,
        inc: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError> {
        if inc.thread.is_some() {
            return Ok(Vec::new());
        }
        // The outbox keeps the number: 0 when opened at the console with no SOC channel.
        let Some(channel) = DiscordId::new(channel).map(DiscordId::get) else {
            return Err(DeliveryError::Permanent(format!(
                "no channel to open {}'s thread in (it was opened at the console); set discord.soc_channel_id",
                inc.id
            )));
        };
        // A thread created just before a crash, not yet recorded: link it.
        match self.known_threads.find(channel, &inc.thread_name()) {
            Found::Thread(id) => {
                return Ok(vec![EventKind::ThreadLinked {
                    channel_id: channel,
                    thread_id: id,
                    card_message_id: 0,
                }]);
            }
            Found::NotYet => {
                return Err(DeliveryError::NotReady(
                    "waiting for the gateway's list of active threads".into(),
                ));
            }
            Found::Nothing => {}
        }
        // The last attempt may have made the thread with its answer lost.
        let key = inc.id.0;
        if self.uncertain().contains(&key)
            && let Some(id) = self.active_thread(channel, &inc.thread_name()).await?
        {
            self.uncertain().remove(&key);
            return Ok(vec![EventKind::ThreadLinked {
                channel_id: channel,
                thread_id: id,
                card_message_id: 0,
            }]);
        }
        let builder = CreateThread::new(inc.thread_name())
            .kind(ChannelType::PublicThread)
            .auto_archive_duration(AutoArchiveDuration::OneWeek);
        let created = ChannelId::new(channel)
            .create_thread(&self.http, builder)
            .await
            .map_err(classify);
        let thread = match created {
            Ok(thread) => {
                self.uncertain().remove(&key);
                if inc.alerts.is_some() {
                    let waited = chrono::Utc::now() - inc.opened_at;
                    crate::metrics::alert_thread_latency(waited.to_std().unwrap_or_default());
                }
                thread
            }
            Err(e) => {
                if matches!(e, DeliveryError::Retry(_)) {
                    self.uncertain().insert(key);
                }
                return Err(e);
            }
        };
        Ok(vec![EventKind::ThreadLinked {
            channel_id: channel,
            thread_id: thread.id.get(),
            card_message_id: 0,
        }])
    }

    /// Posts the playbook context and the question messages (once: recorded by their ids).
    async fn post_questions(
        &self,
        key: u64,
        inc: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError> {
        if !inc.question_messages.is_empty() {
            return Ok(Vec::new());
        }
        let thread = Self::place(inc)?;
        let playbook = self.library.current().get(inc.technique).cloned();
        // Posted as opened, whatever came in meanwhile: a retry after a lost answer sends
        // message `i` under nonce `i` again, never another message.
        let opening = opening_of(&as_opened(inc), playbook.as_ref());
        let context = opening.context.len();
        let all = opening.context.iter().chain(&opening.questions);
        let mut ids = Vec::new();
        for (i, m) in all.enumerate() {
            let id = self.post(thread, m, nonce(key, i)).await?;
            if i >= context {
                ids.push(id);
            }
        }
        // Then shown as they are now (a retry finds the posts in `posted`).
        if inc.answers.iter().flatten().next().is_some() || inc.is_closed() {
            match self.edit_questions(thread, inc, &ids).await {
                Ok(()) => {}
                Err(DeliveryError::Permanent(why)) => {
                    tracing::warn!(incident = %inc.id, %why, "the questions just posted were not brought up to date");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(vec![EventKind::QuestionsPosted { message_ids: ids }])
    }

    /// Redraws the question messages with the answers as they are.
    async fn refresh_questions(&self, inc: &Incident) -> Result<Vec<EventKind>, DeliveryError> {
        if inc.question_messages.is_empty() {
            return Ok(Vec::new()); // the questions are posted later with the answers in
        }
        let thread = Self::place(inc)?;
        self.edit_questions(thread, inc, &inc.question_messages)
            .await?;
        Ok(Vec::new())
    }

    /// A page's mention (in the thread, else the SOC channel) or its DM.
    async fn page(
        &self,
        key: u64,
        effect: &Effect,
        inc: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError> {
        match effect {
            Effect::Page {
                level,
                target,
                attempt,
                deadline,
                with_dm,
                ..
            } => {
                let m = super::incident::page_message(inc, *level, *target, *attempt, *deadline);
                self.post_page(inc, &m, key).await?;
                // Stored by an older socbot, before the DM was an effect of its own.
                if let (true, PageTarget::User(user)) = (*with_dm, target) {
                    match self
                        .page_dm(key, 1, inc, *level, *user, *attempt, *deadline)
                        .await
                    {
                        Ok(()) | Err(DeliveryError::Permanent(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(Vec::new())
            }
            Effect::PageDm {
                level,
                user,
                attempt,
                deadline,
                ..
            } => {
                let sent = self
                    .page_dm(key, 0, inc, *level, *user, *attempt, *deadline)
                    .await;
                if let Err(DeliveryError::Permanent(why)) = &sent {
                    tracing::warn!(incident = %inc.id, user, %why, "page DM refused");
                }
                sent.map(|()| Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Posts the closure and renames and archives the thread.
    async fn close_thread(
        &self,
        key: u64,
        inc: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError> {
        let thread = Self::place(inc)?;
        self.post(thread, &closed_message(inc), nonce(key, 0))
            .await?;
        if inc.thread.is_none() {
            return Ok(Vec::new()); // posted in the channel: nothing to archive
        }
        let edit = EditThread::new()
            .name(closed_thread_name(inc))
            .archived(true);
        ChannelId::new(thread)
            .edit_thread(&self.http, edit)
            .await
            .map_err(classify)?;
        Ok(Vec::new())
    }
}

#[async_trait::async_trait]
impl ChatPort for DiscordPort {
    async fn post_channel(
        &self,
        key: u64,
        channel: u64,
        post: ChannelPost<'_>,
    ) -> Result<(), DeliveryError> {
        let text = match post {
            ChannelPost::Text(text) => text.to_owned(),
            ChannelPost::Announcement(a) => super::incident::announcement_text(a),
        };
        let m = MessageSpec {
            content: Some(crate::service::playbook::clip(&text, limits::CONTENT)),
            ..MessageSpec::default()
        };
        self.post(channel, &m, nonce(key, 0)).await.map(|_| ())
    }

    async fn deliver(
        &self,
        key: u64,
        effect: &Effect,
        inc: &Incident,
    ) -> Result<Vec<EventKind>, DeliveryError> {
        match effect {
            Effect::OpenThread { channel, .. } => self.open_thread(*channel, inc).await,
            Effect::PostQuestions { .. } => self.post_questions(key, inc).await,
            Effect::RefreshQuestions { .. } => self.refresh_questions(inc).await,
            Effect::PostAlertCard { .. } => {
                if inc.alerts.as_ref().is_none_or(|l| l.card_message.is_some()) {
                    return Ok(Vec::new());
                }
                let thread = Self::place(inc)?;
                let m = alert_card(inc, &self.closest(inc));
                let id = self.post(thread, &m, nonce(key, 0)).await?;
                Ok(vec![EventKind::AlertCardPosted { message_id: id }])
            }
            Effect::RefreshAlertCard { .. } => {
                let Some(card) = inc.alerts.as_ref().and_then(|l| l.card_message) else {
                    return Ok(Vec::new()); // the card is posted later with the count in
                };
                let thread = Self::place(inc)?;
                let m = alert_card(inc, &self.closest(inc));
                ChannelId::new(thread)
                    .edit_message(&self.http, MessageId::new(card), reply::edit_message(&m))
                    .await
                    .map_err(classify)?;
                Ok(Vec::new())
            }
            Effect::PostDecision { decision, .. } => {
                let thread = Self::place(inc)?;
                self.post(thread, &decision_message(inc, decision), nonce(key, 0))
                    .await?;
                Ok(Vec::new())
            }
            Effect::PostNotice { text, .. } => {
                let thread = Self::place(inc)?;
                self.post(thread, &notice_message(inc, text), nonce(key, 0))
                    .await?;
                Ok(Vec::new())
            }
            Effect::Notice { notice, .. } => {
                let thread = Self::place(inc)?;
                let m = notice_message(inc, &super::incident::notice_text(inc, notice));
                self.post(thread, &m, nonce(key, 0)).await?;
                Ok(Vec::new())
            }
            Effect::Page { .. } | Effect::PageDm { .. } => self.page(key, effect, inc).await,
            Effect::Webhook { .. } | Effect::PostChannel { .. } | Effect::Announce { .. } => {
                Ok(Vec::new())
            }
            Effect::CloseThread { .. } => self.close_thread(key, inc).await,
        }
    }
}

/// The active threads Discord reported for the bot's guilds (GUILD_CREATE lists them at every
/// start). Creating a thread has no idempotency key, so a thread created just before a crash,
/// and not yet recorded, is found here by its parent and name instead of being created twice.
/// The gateway handler fills it; the port reads it.
pub struct KnownThreads {
    inner: std::sync::Mutex<ThreadList>,
}

struct ThreadList {
    since: std::time::Instant,
    listed: bool,
    /// (parent channel, name) → thread id.
    threads: std::collections::HashMap<(u64, String), u64>,
}

/// What [`KnownThreads::find`] knows of a thread.
pub enum Found {
    Thread(u64),
    /// No list yet: ask again shortly.
    NotYet,
    Nothing,
}

impl Default for KnownThreads {
    fn default() -> Self {
        Self {
            inner: std::sync::Mutex::new(ThreadList {
                since: std::time::Instant::now(),
                listed: false,
                threads: std::collections::HashMap::new(),
            }),
        }
    }
}

impl KnownThreads {
    /// How long an `OpenThread` waits for the first GUILD_CREATE before creating anyway.
    const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

    fn list(&self) -> std::sync::MutexGuard<'_, ThreadList> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a guild's active threads: (parent channel, name, id).
    pub fn record(&self, threads: impl IntoIterator<Item = (u64, String, u64)>) {
        let mut list = self.list();
        list.listed = true;
        for (parent, name, id) in threads {
            list.threads.insert((parent, name), id);
        }
    }

    /// The thread named `name` in `channel`, if Discord has one.
    pub fn find(&self, channel: u64, name: &str) -> Found {
        let list = self.list();
        match list.threads.get(&(channel, name.to_owned())) {
            Some(id) => Found::Thread(*id),
            None if !list.listed && list.since.elapsed() < Self::GRACE => Found::NotYet,
            None => Found::Nothing,
        }
    }
}
