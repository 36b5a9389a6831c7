//! What an interaction answers with, and how it gets to Discord: at once as the interaction's
//! response, or, when the answer was not ready in time, after a deferred response, by editing
//! that response or as a follow-up (Discord drops an interaction not answered within 3 s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serenity::all::{
    CreateAttachment, CreateAutocompleteResponse, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateModal, Http,
    Interaction, Message, MessageId,
};
use tracing::{error, warn};

use super::render::{MessageSpec, limits};
use super::reply;

/// The first thing an interaction answers with, kept as a spec until it is known whether it is
/// the interaction's response or comes after a defer.
pub enum First {
    /// A message (`update`: in place of the message whose component was used).
    Message {
        spec: MessageSpec,
        private: bool,
        update: bool,
        files: Vec<CreateAttachment>,
    },
    Autocomplete(CreateAutocompleteResponse),
    Modal(CreateModal),
}

impl First {
    /// As the interaction's response.
    fn response(self) -> CreateInteractionResponse {
        match self {
            Self::Message {
                spec,
                private,
                update,
                files,
            } => {
                let r = reply::response_message(&spec, private).add_files(files);
                if update {
                    CreateInteractionResponse::UpdateMessage(r)
                } else {
                    CreateInteractionResponse::Message(r)
                }
            }
            Self::Autocomplete(a) => CreateInteractionResponse::Autocomplete(a),
            Self::Modal(m) => CreateInteractionResponse::Modal(m),
        }
    }
}

/// The one thing an interaction answers with, and any follow-ups.
pub struct Answer {
    pub first: First,
    pub followups: Vec<CreateInteractionResponseFollowup>,
    /// The command interaction whose reply this is or redraws: its follow-ups are replaced.
    pub reply_to: Option<u64>,
}

impl Answer {
    pub fn only(first: First) -> Self {
        Self {
            first,
            followups: Vec::new(),
            reply_to: None,
        }
    }

    /// A message (`update`: in place of the message clicked).
    pub fn message(spec: MessageSpec, private: bool, update: bool) -> Self {
        Self::with_files(spec, private, update, Vec::new())
    }

    pub fn with_files(
        spec: MessageSpec,
        private: bool,
        update: bool,
        files: Vec<CreateAttachment>,
    ) -> Self {
        Self::only(First::Message {
            spec,
            private,
            update,
            files,
        })
    }

    /// A private text answer (user errors, refusals).
    pub fn private(text: &str) -> Self {
        Self::message(text_spec(text), true, false)
    }
}

/// A message of `text` alone, clipped to Discord's limit.
pub fn text_spec(text: &str) -> MessageSpec {
    MessageSpec {
        content: Some(crate::service::playbook::clip(text, limits::CONTENT)),
        ..MessageSpec::default()
    }
}

/// How an interaction whose answer is late is acknowledged first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defer {
    /// Type 5: "socbot is thinking…", private or not, replaced by the answer. The answer's
    /// privacy is not known yet: commands whose answer is private by nature (`/incident list`,
    /// `/playbook private:true`) think privately, the others in public.
    Thinking { private: bool },
    /// Type 6: a button press or menu choice acknowledged; the answer edits the message used,
    /// or follows it.
    Press,
}

/// Acknowledges `interaction` with `defer`.
pub async fn defer(http: &Http, interaction: &Interaction, defer: Defer) -> serenity::Result<()> {
    let response = match defer {
        Defer::Thinking { private } => CreateInteractionResponse::Defer(
            CreateInteractionResponseMessage::new().ephemeral(private),
        ),
        Defer::Press => CreateInteractionResponse::Acknowledge,
    };
    respond(http, interaction, response).await
}

async fn respond(
    http: &Http,
    interaction: &Interaction,
    response: CreateInteractionResponse,
) -> serenity::Result<()> {
    match interaction {
        Interaction::Command(c) | Interaction::Autocomplete(c) => {
            c.create_response(http, response).await
        }
        Interaction::Component(c) => c.create_response(http, response).await,
        Interaction::Modal(m) => m.create_response(http, response).await,
        _ => Ok(()),
    }
}

/// `PATCH …/messages/@original`: the deferred response (or, after a press, the message used).
async fn edit_original(
    http: &Http,
    interaction: &Interaction,
    spec: &MessageSpec,
    files: Vec<CreateAttachment>,
) -> serenity::Result<()> {
    let mut edit = reply::edit_response(spec);
    for file in files {
        edit = edit.new_attachment(file);
    }
    match interaction {
        Interaction::Command(c) => c.edit_response(http, edit).await.map(drop),
        Interaction::Component(c) => c.edit_response(http, edit).await.map(drop),
        Interaction::Modal(m) => m.edit_response(http, edit).await.map(drop),
        _ => Ok(()),
    }
}

async fn delete_original(http: &Http, interaction: &Interaction) -> serenity::Result<()> {
    match interaction {
        Interaction::Command(c) => c.delete_response(http).await,
        Interaction::Component(c) => c.delete_response(http).await,
        Interaction::Modal(m) => m.delete_response(http).await,
        _ => Ok(()),
    }
}

async fn follow_up(
    http: &Http,
    interaction: &Interaction,
    f: CreateInteractionResponseFollowup,
) -> serenity::Result<Option<Message>> {
    match interaction {
        Interaction::Command(c) => c.create_followup(http, f).await.map(Some),
        Interaction::Component(c) => c.create_followup(http, f).await.map(Some),
        Interaction::Modal(m) => m.create_followup(http, f).await.map(Some),
        _ => Ok(None),
    }
}

/// Delivers the first answer after `deferred`: in place of the deferred response when it is of
/// the same kind (or, after a press, an update of the message used); otherwise as a follow-up
/// of its own kind. A public "thinking…" is deleted before a private answer follows: Discord
/// would turn the first follow-up into that public message.
async fn deliver_late(
    http: &Http,
    interaction: &Interaction,
    first: First,
    deferred: Defer,
) -> serenity::Result<()> {
    let First::Message {
        spec,
        private,
        update,
        files,
    } = first
    else {
        // A form or choices can only be an interaction's response.
        let text = "That took too long to answer here; please try again.";
        let f = reply::followup(&text_spec(text), true);
        return follow_up(http, interaction, f).await.map(drop);
    };
    let in_place = match deferred {
        Defer::Press => update,
        Defer::Thinking { private: thinking } => update || thinking == private,
    };
    if in_place {
        return edit_original(http, interaction, &spec, files).await;
    }
    if matches!(deferred, Defer::Thinking { .. }) {
        delete_original(http, interaction).await?;
    }
    let f = reply::followup(&spec, private).add_files(files);
    follow_up(http, interaction, f).await.map(drop)
}

/// Sends `answer`: as the interaction's response, or after `deferred`. Then replaces the
/// follow-ups of the reply it redraws, and posts its own.
pub async fn send(
    http: &Http,
    interaction: &Interaction,
    answer: Answer,
    tails: &Followups,
    deferred: Option<Defer>,
) {
    let stale = answer.reply_to.and_then(|root| tails.take(root));
    let mut sent = match answer.reply_to {
        Some(root) => Some(tails.start(root, interaction_token(interaction)).await),
        None => None,
    };
    let result = match deferred {
        None => respond(http, interaction, answer.first.response()).await,
        Some(d) => deliver_late(http, interaction, answer.first, d).await,
    };
    if let Err(e) = result {
        error!(error = %e, deferred = deferred.is_some(), "answering the interaction failed");
        return;
    }
    if let Some((token, messages)) = stale {
        // Waits for that tail to be complete if it is still being posted.
        let messages = messages.lock().await.clone();
        for message in messages {
            if let Err(e) = http.delete_followup_message(&token, message).await {
                warn!(error = %e, message = message.get(), "deleting an old follow-up failed");
            }
        }
    }
    for f in answer.followups {
        match follow_up(http, interaction, f).await {
            Ok(Some(message)) => {
                if let Some(sent) = sent.as_mut() {
                    sent.push(message.id);
                }
            }
            Ok(None) => return,
            Err(e) => {
                error!(error = %e, "sending a follow-up failed");
                break;
            }
        }
    }
}

fn interaction_token(interaction: &Interaction) -> &str {
    match interaction {
        Interaction::Command(c) | Interaction::Autocomplete(c) => &c.token,
        Interaction::Component(c) => &c.token,
        Interaction::Modal(m) => &m.token,
        _ => "",
    }
}

/// Follow-up messages sent after a reply, by the id of the command interaction that made the
/// reply. When the section picker redraws that reply, its old follow-ups are deleted, so the
/// channel never shows a stale tail of another section. A tail is entered before its first
/// follow-up is posted and filled under its lock, so a picker click that arrives meanwhile
/// waits for the whole tail. In memory only: interaction tokens die after 15 minutes, and with
/// them the right to delete; older tails are left as they are.
#[derive(Default)]
pub struct Followups {
    inner: std::sync::Mutex<std::collections::HashMap<u64, Tail>>,
}

/// The messages of one tail, locked while they are being posted.
type TailMessages = Arc<tokio::sync::Mutex<Vec<MessageId>>>;

/// The follow-ups of one reply and the token that can delete them.
struct Tail {
    token: String,
    messages: TailMessages,
    sent: Instant,
}

impl Followups {
    /// Discord's interaction tokens live 15 minutes; keep a margin.
    const TOKEN_LIFE: Duration = Duration::from_secs(14 * 60);

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Tail>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Enters the tail of the reply to `root` (replacing any before) and hands back its list,
    /// locked until the follow-ups are posted.
    async fn start(&self, root: u64, token: &str) -> tokio::sync::OwnedMutexGuard<Vec<MessageId>> {
        let messages: TailMessages = Arc::default();
        let guard = messages.clone().lock_owned().await;
        let mut map = self.lock();
        map.retain(|_, t| t.sent.elapsed() < Self::TOKEN_LIFE);
        let tail = Tail {
            token: token.to_owned(),
            messages,
            sent: Instant::now(),
        };
        map.insert(root, tail);
        guard
    }

    /// Takes the tail of the reply to `root`, while it can still be deleted.
    fn take(&self, root: u64) -> Option<(String, TailMessages)> {
        self.lock()
            .remove(&root)
            .filter(|t| t.sent.elapsed() < Self::TOKEN_LIFE)
            .map(|t| (t.token, t.messages))
    }
}
