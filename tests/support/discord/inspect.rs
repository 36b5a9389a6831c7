//! What tests read from a `FakeDiscord`: requests, waits, stored objects, faults, violations.

use std::time::Duration;

use serde_json::Value;

use super::faults::{FaultState, Faults};
use super::state::RecordedRequest;
use super::{FakeDiscord, objects};

impl FakeDiscord {
    /// Every REST request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests with `method` (`*` for any) whose path matches `pattern`: a prefix, or a glob
    /// where `*` matches within a segment and `**` across segments.
    pub fn requests_matching(&self, method: &str, pattern: &str) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.is(method, pattern))
            .cloned()
            .collect()
    }

    /// The first request (already seen or still to come) that satisfies `predicate`; panics
    /// after `timeout` listing every request seen.
    pub async fn wait_for(
        &self,
        mut predicate: impl FnMut(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> RecordedRequest {
        self.shared
            .wait_until("a request matching the predicate", timeout, |state| {
                state.requests.iter().find(|r| predicate(r)).cloned()
            })
            .await
    }

    /// Returns when the fake records a request after the ones it has now, or after `tick`,
    /// whichever is first (for state that changes without a request). Never panics.
    pub async fn wait_change(&self, tick: Duration) {
        let seen = self.requests().len();
        let next = self.wait_for(move |r| r.seq as usize > seen, tick * 4);
        let _ = tokio::time::timeout(tick, next).await;
    }

    /// `wait_for` a request by method and path pattern, with the configured timeout.
    pub async fn wait_for_request(&self, method: &str, pattern: &str) -> RecordedRequest {
        let what = format!("{method} {pattern}");
        self.shared
            .wait_until(&what, self.shared.config.wait_timeout, |state| {
                state
                    .requests
                    .iter()
                    .find(|r| r.is(method, pattern))
                    .cloned()
            })
            .await
    }

    /// The body of the accepted callback (`{type, data}`) for interaction `id`, waiting for it.
    pub async fn interaction_response(&self, id: u64) -> Value {
        let what = format!("the callback of interaction {id}");
        self.shared
            .wait_until(&what, self.shared.config.wait_timeout, |state| {
                let at = *state.callbacks.get(&id)?;
                state.requests.get(at).and_then(|r| r.body.clone())
            })
            .await
    }

    /// The callback type (`4`, `5`, `7`, …) of the accepted callback for interaction `id`,
    /// waiting for it: [`FakeDiscord::interaction_response`] without copying its body.
    pub async fn interaction_callback_type(&self, id: u64) -> u64 {
        let what = format!("the callback of interaction {id}");
        self.shared
            .wait_until(&what, self.shared.config.wait_timeout, |state| {
                let at = *state.callbacks.get(&id)?;
                let body = state.requests.get(at)?.body.as_ref()?;
                Some(body["type"].as_u64().unwrap_or(0))
            })
            .await
    }

    /// The first stored message (now or later) that satisfies `predicate`, as it is then; panics
    /// after the configured timeout. Stored messages change with every create, edit or delete.
    pub async fn wait_for_message(&self, mut predicate: impl FnMut(&Value) -> bool) -> Value {
        self.shared
            .wait_until(
                "a stored message matching the predicate",
                self.shared.config.wait_timeout,
                |state| state.messages.values().find(|m| predicate(m)).cloned(),
            )
            .await
    }

    /// The interaction's `@original` message as it is now, if any.
    pub fn original_response(&self, interaction_id: u64) -> Option<Value> {
        let state = self.shared.lock();
        let id = state.interactions.get(&interaction_id)?.original?;
        state.messages.get(&id).cloned()
    }

    /// Messages created through the interaction's token (original and follow-ups), in order.
    pub fn interaction_messages(&self, interaction_id: u64) -> Vec<Value> {
        let state = self.shared.lock();
        let Some(record) = state.interactions.get(&interaction_id) else {
            return Vec::new();
        };
        record
            .webhook_messages
            .iter()
            .filter_map(|id| state.messages.get(id).cloned())
            .collect()
    }

    pub fn message(&self, id: u64) -> Option<Value> {
        self.shared.lock().messages.get(&id).cloned()
    }

    /// Messages in a channel or thread, oldest first.
    pub fn messages_in(&self, channel_id: u64) -> Vec<Value> {
        let id = channel_id.to_string();
        self.shared
            .lock()
            .messages
            .values()
            .filter(|m| m["channel_id"] == id.as_str())
            .cloned()
            .collect()
    }

    pub fn channel(&self, id: u64) -> Option<Value> {
        self.shared.lock().channels.get(&id).cloned()
    }

    /// Threads the bot created, oldest first.
    pub fn threads(&self) -> Vec<Value> {
        let state = self.shared.lock();
        state
            .channels
            .values()
            .filter(|c| c["type"] == 11 || c["type"] == 12)
            .cloned()
            .collect()
    }

    /// The DM channel the bot opened with `user_id`, if any.
    pub fn dm_channel_of(&self, user_id: u64) -> Option<u64> {
        self.shared.lock().dm_channels.get(&user_id).copied()
    }

    /// Registered commands: a guild's, or the global ones with `None`.
    pub fn commands(&self, guild_id: Option<u64>) -> Vec<Value> {
        let state = self.shared.lock();
        match guild_id {
            Some(g) => state.guild_commands.get(&g).cloned().unwrap_or_default(),
            None => state.global_commands.clone(),
        }
    }

    /// Makes a guild text channel known (e.g. one from the bot's config).
    pub fn add_text_channel(&self, id: u64, name: &str) {
        let guild = self.shared.config.guild_id;
        self.shared
            .lock()
            .channels
            .insert(id, objects::text_channel(id, guild, name));
    }

    /// Locks and archives thread `id` as a moderator would: from now on posts in it fail with
    /// 400 / 50083 (Thread is archived).
    pub fn lock_thread(&self, id: u64) {
        let mut state = self.shared.lock();
        let thread = state
            .channels
            .get_mut(&id)
            .unwrap_or_else(|| panic!("fake-discord: no thread {id}"));
        thread["thread_metadata"]["archived"] = serde_json::json!(true);
        thread["thread_metadata"]["locked"] = serde_json::json!(true);
    }

    /// Makes `user_id` a member of the configured guild with `roles` (as if they had joined).
    pub fn add_member(&self, user_id: u64, roles: &[u64]) {
        let member = objects::member(objects::user(user_id, None, false), roles);
        self.shared.lock().members.insert(user_id, member);
    }

    /// From now on, messages to `user_id`'s DM fail with 50007 (the user closed their DMs).
    pub fn close_dms(&self, user_id: u64) {
        self.shared.lock().closed_dms.insert(user_id);
    }

    /// Replaces the fault injection; see `Faults`.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = Some(FaultState::new(faults));
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults = None;
    }

    /// Spec violations, unexpected requests and protocol errors so far, one readable line each.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// Forgets the violations so far (after a test provoked some on purpose).
    pub fn clear_violations(&self) {
        self.shared.lock().violations.clear();
    }

    /// Forgets the requests, messages and threads so far (a bench that drives tens of thousands
    /// of requests through one fake per run frees them before the next run: the fake's tasks,
    /// and so its state, live as long as the runtime). Returns how many requests it forgot.
    pub fn forget_history(&self) -> usize {
        let mut state = self.shared.lock();
        let soc = self.shared.config.channel_id;
        let seen = std::mem::take(&mut state.requests).len();
        state.messages.clear();
        state.nonces = Default::default();
        state.channels.retain(|id, _| *id == soc);
        seen
    }

    /// Panics unless a violation contains `needle`; then forgets them all (they were expected).
    #[track_caller]
    pub fn expect_violation(&self, needle: &str) {
        let violations = self.violations();
        assert!(
            violations.iter().any(|v| v.contains(needle)),
            "fake-discord: no violation contains {needle:?}; violations:\n  {}",
            violations.join("\n  ")
        );
        self.clear_violations();
    }

    /// Panics listing every violation, if there is any.
    #[track_caller]
    pub fn assert_clean(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "fake-discord saw {} violation(s):\n  {}",
            violations.len(),
            violations.join("\n  ")
        );
    }
}
