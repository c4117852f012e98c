//! The storage port: every read and write the service makes, as one trait per scope. Whole-
//! request work (accepting an alert, a timer step, an answer) runs in a [`StoreTx`]; short
//! independent writes (outbox claims and outcomes) are single statements on [`Store`].

use async_trait::async_trait;
use jiaoying_core::alert::Reference;
use jiaoying_core::{AlertKey, MobileNumber, Person, Registry};

use crate::error::StoreResult;
use crate::records::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies pending migrations. Safe when several instances start at once.
    async fn migrate(&self) -> StoreResult<()>;
    /// Closes the connections (waits for checked-out ones to return).
    async fn close(&self);
    /// The database answers and every known migration is applied.
    async fn ready(&self) -> StoreResult<bool>;

    /// Starts a write transaction. On SQLite this takes the single writer connection, so keep it
    /// short and never do network I/O while holding it.
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>>;

    // --- registry ---
    async fn upsert_registry(&self, registry: &Registry, now: i64) -> StoreResult<RegistryChanges>;
    async fn load_registry(&self) -> StoreResult<std::sync::Arc<Registry>>;
    async fn persons_by_mobile(&self, mobile: &MobileNumber) -> StoreResult<Vec<Person>>;

    // --- alerts and calls, read side ---
    async fn list_alerts(&self, filter: &AlertFilter) -> StoreResult<(Vec<AlertRow>, i64)>;
    async fn alert(&self, id: i64) -> StoreResult<Option<AlertRow>>;
    async fn alert_id_for_key(&self, key: &AlertKey) -> StoreResult<Option<i64>>;
    async fn call_counts(&self, alert_ids: &[i64]) -> StoreResult<Vec<StateCount>>;
    async fn calls_of_alert(&self, alert_id: i64) -> StoreResult<Vec<CallListRow>>;
    async fn call(&self, id: i64) -> StoreResult<Option<CallRow>>;
    /// The person's calls that can still be answered, newest first.
    async fn answerable_calls_of_person(&self, person_id: &str) -> StoreResult<Vec<CallRow>>;
    /// The person's calls with this reply code, newest first.
    async fn calls_with_code(&self, person_id: &str, code: &str) -> StoreResult<Vec<CallRow>>;
    async fn messages_of_alert(&self, alert_id: i64) -> StoreResult<Vec<MessageRow>>;
    async fn events_of_alert(&self, alert_id: i64) -> StoreResult<Vec<EventRow>>;
    /// Call events after `after_id`, oldest first: the live stream's source on every instance.
    async fn events_after(&self, after_id: i64, limit: i64) -> StoreResult<Vec<StreamEvent>>;
    async fn next_call_due(&self) -> StoreResult<Option<i64>>;
    /// When the next message (of `channel`, or of any) is due: queued, or a lease running out.
    async fn next_message_due(&self, channel: Option<&str>) -> StoreResult<Option<i64>>;

    // --- outbox ---
    /// Claims up to `limit` messages due at `now` (queued, or sending with an expired lease)
    /// under a lease ending at `lease_until`, and commits at once.
    /// Only `channel`'s messages when given. Most urgent first (priority, then due time).
    async fn claim_messages(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
        channel: Option<&str>,
    ) -> StoreResult<Vec<MessageRow>>;
    /// Per channel: messages queued and in flight, and the oldest due time.
    async fn outbox_backlog(&self) -> StoreResult<Vec<BacklogRow>>;
    /// Records the outcome of a claimed send, if the claim (`lease_until`) is still ours.
    async fn finish_message(&self, id: i64, lease_until: i64, result: &SendResult, now: i64) -> StoreResult<bool>;
    /// A delivery receipt: `sent` (or `sending`) becomes `delivered` or `failed`.
    async fn message_receipt(
        &self,
        id: i64,
        delivered: bool,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<MessageRow>>;
    async fn message(&self, id: i64) -> StoreResult<Option<MessageRow>>;
    /// Our message on `channel` that the provider knows as `provider_id` (receipts that carry only
    /// the provider's id).
    async fn message_by_provider_id(&self, channel: &str, provider_id: &str) -> StoreResult<Option<MessageRow>>;
    /// Whether an inbound provider id was seen before (a read; [`Store::first_sight`] settles it).
    async fn seen_inbound(&self, channel: &str, provider_id: &str) -> StoreResult<bool>;
    /// Remembers an inbound provider id; false when it was seen before.
    async fn first_sight(&self, channel: &str, provider_id: &str, now: i64) -> StoreResult<bool>;

    // --- feeds ---
    async fn feed_state(&self, source: &str) -> StoreResult<Option<FeedStateRow>>;
    async fn put_feed_state(&self, state: &FeedStateRow) -> StoreResult<()>;
    async fn feed_entry(&self, source: &str, url: &str) -> StoreResult<Option<FeedEntryRow>>;
    async fn put_feed_entry(&self, entry: &FeedEntryRow) -> StoreResult<()>;

    // --- API tokens ---
    async fn put_api_token(&self, name: &str, role: &str, token_hash: &str, now: i64) -> StoreResult<()>;
    async fn api_token(&self, token_hash: &str) -> StoreResult<Option<ApiTokenInfo>>;

    // --- board access: users and sessions (issue 6) ---
    /// Adds the board user or replaces its role and password hash; ends every session it had.
    /// True when the user is new.
    async fn put_user(&self, name: &str, role: &str, password_hash: &str, now: i64) -> StoreResult<bool>;
    async fn user(&self, name: &str) -> StoreResult<Option<UserRow>>;
    /// Stores a new session (only the SHA-256 of its cookie value).
    async fn insert_session(&self, session: &NewSession) -> StoreResult<()>;
    /// The session and its user, when it exists and neither its idle nor its absolute expiry has
    /// passed at `now`.
    async fn live_session(&self, token_hash: &str, now: i64) -> StoreResult<Option<SessionInfo>>;
    /// Moves the idle expiry forward to `idle_expires_at` (never past the absolute one).
    async fn touch_session(&self, token_hash: &str, idle_expires_at: i64) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Removes sessions expired at `now`; returns how many.
    async fn delete_expired_sessions(&self, now: i64) -> StoreResult<u64>;
    /// Every board user by name, with its sessions live at `now`; never a password hash.
    async fn list_users(&self) -> StoreResult<Vec<UserInfo>> {
        self.list_users_at(i64::MAX).await
    }
    async fn list_users_at(&self, now: i64) -> StoreResult<Vec<UserInfo>>;
    /// Adds a board user and logs `audit` (its `at` is the creation time) in one transaction.
    /// `Conflict` when the name is taken.
    async fn insert_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        audit: &NewAdminAction,
    ) -> StoreResult<()>;
    /// Changes the user's role and/or password hash and logs `audit`, in one transaction. A new
    /// password ends the user's sessions; a new role applies at once (sessions read it on every
    /// request). Refused ([`UserChange::LastAdmin`]) when it would demote the last admin.
    async fn update_user(
        &self,
        name: &str,
        role: Option<&str>,
        password_hash: Option<&str>,
        audit: &NewAdminAction,
    ) -> StoreResult<UserChange>;
    /// Deletes the user with its sessions and logs `audit`, in one transaction. Refused
    /// ([`UserChange::LastAdmin`]) for the last admin.
    async fn delete_user(&self, name: &str, audit: &NewAdminAction) -> StoreResult<UserChange>;

    // --- board read models and officer actions (issue 6) ---
    /// Per `(alert id, cutoff)`: open calls (waiting or escalated) first made before the cutoff
    /// (overdue: now minus the tier's answer window), and calls flagged unreached.
    async fn alert_call_stats(&self, alerts: &[(i64, i64)]) -> StoreResult<Vec<AlertCallStats>>;
    /// The messages received for an alert, oldest first.
    async fn alert_messages_of(&self, alert_id: i64) -> StoreResult<Vec<AlertMessageInfo>>;
    /// Officers' actions on an alert, oldest first.
    async fn alert_actions_of(&self, alert_id: i64) -> StoreResult<Vec<AlertActionRow>>;
    async fn insert_alert_action(&self, action: &NewAlertAction) -> StoreResult<i64>;
    /// The audit log (call events, alert actions and admins' changes), newest first, paged, and
    /// the total matching the filter.
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<(Vec<AuditRow>, i64)>;
}

/// One write transaction. Dropped without `commit`, it rolls back.
#[async_trait]
pub trait StoreTx: Send {
    async fn alert_id_for_key(&mut self, key: &AlertKey) -> StoreResult<Option<i64>>;
    async fn insert_alert(&mut self, alert: &NewAlertRow) -> StoreResult<i64>;
    /// Stores a received message; returns its id.
    async fn insert_alert_message(
        &mut self,
        alert_id: i64,
        key: &AlertKey,
        msg_type: &str,
        body: &str,
        now: i64,
    ) -> StoreResult<i64>;
    /// Records the references a message makes, known or not.
    async fn insert_message_references(&mut self, message_id: i64, refs: &[Reference]) -> StoreResult<()>;
    /// Alerts holding a message that references `key`: an earlier Update of a late Alert.
    async fn alerts_referencing(&mut self, key: &AlertKey) -> StoreResult<Vec<i64>>;
    /// Replaces the alert's content with a newer message's.
    async fn set_alert_content(&mut self, id: i64, content: &AlertContent) -> StoreResult<()>;
    async fn alert(&mut self, id: i64) -> StoreResult<Option<AlertRow>>;
    async fn set_alert_state(&mut self, id: i64, state: &str, now: i64) -> StoreResult<()>;

    async fn insert_call(&mut self, call: &NewCall) -> StoreResult<i64>;
    /// Inserts many calls in a few multi-row statements (a fan-out); their ids, in the order given.
    async fn insert_calls(&mut self, calls: &[NewCall]) -> StoreResult<Vec<i64>>;
    async fn call(&mut self, id: i64) -> StoreResult<Option<CallRow>>;
    async fn call_of_person(&mut self, alert_id: i64, person_id: &str) -> StoreResult<Option<CallRow>>;
    async fn calls_of_alert(&mut self, alert_id: i64) -> StoreResult<Vec<CallRow>>;
    /// How many calls the alert has, as this transaction sees it.
    async fn count_calls(&mut self, alert_id: i64) -> StoreResult<i64>;
    /// Reply codes of the person's calls that are still open, to keep a new code distinct.
    async fn open_reply_codes(&mut self, person_id: &str) -> StoreResult<Vec<String>>;
    /// `(person_id, reply_code)` of the open calls of several persons, read in a few statements.
    async fn open_reply_codes_of(&mut self, person_ids: &[&str]) -> StoreResult<Vec<(String, String)>>;
    /// Locks (PostgreSQL: `FOR UPDATE SKIP LOCKED`) and returns calls whose timer is due.
    async fn claim_due_calls(&mut self, now: i64, limit: i64) -> StoreResult<Vec<CallRow>>;
    /// Writes `after` over the call if it is still as `before` left it (state and attempts):
    /// compare-and-set, so a second firing after a crash or on another instance changes nothing.
    async fn update_call(&mut self, before: &CallRow, after: &CallRow) -> StoreResult<bool>;

    async fn insert_message(&mut self, message: &NewMessage) -> StoreResult<i64>;
    /// Many messages in few statements (a fan-out's first messages); ids are not returned.
    async fn insert_messages(&mut self, messages: &[NewMessage]) -> StoreResult<()>;
    /// Many events in few statements, in the order given.
    async fn insert_events(&mut self, events: &[NewEvent]) -> StoreResult<()>;
    /// Messages of a call still queued are withdrawn (the call ended before they went out).
    async fn cancel_queued_messages(&mut self, call_id: i64) -> StoreResult<u64>;
    /// [`Store::finish_message`] inside this transaction, so that a batch of outcomes and the
    /// call steps they cause commit together.
    async fn finish_message(&mut self, id: i64, lease_until: i64, result: &SendResult, now: i64) -> StoreResult<bool>;
    /// Records many successful sends of one claim (`lease_until`) in a few statements: `(message
    /// id, provider id)`. Returns the ids whose claim was still ours (the others were taken over
    /// after our lease ran out; their outcome stands).
    async fn finish_sent(&mut self, sent: &[(i64, Option<String>)], lease_until: i64, now: i64) -> StoreResult<Vec<i64>>;
    /// Queues a copy of message `id` on `channel` (a fallback), remembering the channels it has
    /// been through. Returns the new message's id.
    /// Moves every call of `ids` still in state `from` to `to` and logs each move as an event by
    /// `actor`: two statements for a whole batch (the outbox marking the calls it sent). Calls
    /// no longer in `from` (answered meanwhile) are left alone. Returns how many moved.
    async fn advance_calls(
        &mut self,
        ids: &[i64],
        from: jiaoying_core::CallState,
        to: jiaoying_core::CallState,
        actor: &str,
        now: i64,
    ) -> StoreResult<usize>;
    /// [`Store::first_sight`] inside this transaction.
    async fn first_sight(&mut self, channel: &str, provider_id: &str, now: i64) -> StoreResult<bool>;
    async fn insert_failover(&mut self, id: i64, channel: &str, now: i64) -> StoreResult<i64>;
    async fn insert_event(&mut self, event: &NewEvent) -> StoreResult<()>;

    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
