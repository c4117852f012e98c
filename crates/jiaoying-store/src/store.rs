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
    /// Refreshes the query planner's statistics after a bulk change (a fan-out of thousands of
    /// calls): until PostgreSQL's autovacuum gets to it, plans made for the tables as they were
    /// (nearly empty) scan them whole on every answer.
    async fn refresh_statistics(&self) -> StoreResult<()>;

    /// PostgreSQL: the common case of a burst of SMS answers by code — the number's call with the
    /// code, open and in time (pending, sent or delivered; no directive) — answered in one
    /// statement committed on its own: its provider id recorded, the compare-and-set, the event,
    /// the withdrawn repeats and the confirmation, at `now`. One outcome per answer, in order;
    /// the answers must name distinct `(mobile, code)` pairs and distinct provider ids. `None`:
    /// this backend takes bursts in one transaction instead (SQLite, whose single writer has no
    /// round trips to save and no data-modifying `WITH`).
    async fn answer_codes_at_once(&self, answers: &[CodedAnswer], now: i64) -> StoreResult<Option<Vec<CodedOutcome>>>;

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
    /// The calls with reply `code` of every person with this mobile number, newest first: an SMS
    /// answer's call in one read.
    async fn calls_by_mobile_and_code(&self, mobile: &MobileNumber, code: &str) -> StoreResult<Vec<CallRow>>;
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
    /// Remembers an inbound provider id; false when it was seen before. The insert is the check:
    /// two deliveries of one reply racing each other cannot both be new.
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
    async fn list_users(&self, now: i64) -> StoreResult<Vec<UserInfo>>;
    /// Adds a board user and logs `audit` (its `at` is the creation time) in one transaction.
    /// `Conflict` when the name is taken.
    async fn insert_user(&self, name: &str, role: &str, password_hash: &str, audit: &NewAdminAction)
        -> StoreResult<()>;
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

    // --- registry administration (issue 7) ---
    /// Removes `import.remove`, upserts `import.registry` (as [`Store::upsert_registry`]) and logs
    /// the import in the audit log (`admin_actions`, action `registry_import`), in one
    /// transaction that also bumps the registry generation. The caller has checked the result.
    async fn import_registry(&self, import: &RegistryImport, now: i64) -> StoreResult<ImportOutcome>;
    /// Changes a person's mobile and/or e-mail and logs it (`admin_actions`, action
    /// `registry_contact`, target `person <id>`), bumping the registry generation, in one
    /// transaction; values equal to the stored ones write nothing.
    async fn update_person_contacts(&self, update: &ContactUpdate, now: i64) -> StoreResult<ContactOutcome>;
    /// Registry changes logged for `target` (`person p-1`, `registry`), newest first.
    async fn registry_changes(&self, target: &str, limit: i64) -> StoreResult<Vec<RegistryChangeRow>>;

    // --- drills (issue 7) ---
    /// Alerts of CAP status `status` (`Exercise` for drills), newest first.
    async fn alerts_with_status(&self, status: &str, limit: i64) -> StoreResult<Vec<AlertRow>>;
    /// Alerts whose fan-out was cut short (a crash between its chunks), oldest first.
    async fn alerts_with_pending_fanout(&self) -> StoreResult<Vec<i64>>;
    /// `(person_id, reply_code)` of the open calls of several persons, as committed now (outside
    /// any transaction: a hint, checked again inside the transaction that uses it).
    async fn open_reply_codes_now(&self, person_ids: &[&str]) -> StoreResult<Vec<(String, String)>>;

    // --- scheduled duties (issue 7) ---
    /// Runs of `duty` (of every duty when `None`), newest scheduled time first.
    async fn duty_runs(&self, duty: Option<&str>, limit: i64) -> StoreResult<Vec<DutyRunRow>>;
    async fn duty_run(&self, id: i64) -> StoreResult<Option<DutyRunRow>>;
    /// Runs with a follow-up due at `now`: a reminder not yet sent, or a window that has ended
    /// and not been reported.
    async fn duty_followups_due(&self, now: i64) -> StoreResult<Vec<DutyRunRow>>;
    /// The earliest follow-up of any run still to come.
    async fn next_duty_followup(&self) -> StoreResult<Option<i64>>;
    async fn inspection_request(&self, id: i64) -> StoreResult<Option<InspectionRequestRow>>;
    /// The latest inspection of each person and of each unit, with how many since `since`.
    async fn last_inspections(&self, since: i64) -> StoreResult<(Vec<LastInspection>, Vec<LastInspection>)>;
    /// The newest inspections first.
    async fn recent_inspections(&self, limit: i64) -> StoreResult<Vec<InspectionRow>>;

    // --- lifecycle (issue 8) ---
    /// Puts messages of one claim (`lease_until`) back in the queue, due at `now`, lease cleared,
    /// where the claim is still ours: a stopping instance returning what it did not finish.
    /// `interrupted`: their send was started and its outcome is unknown, so they are marked
    /// [`INTERRUPTED_SEND`] (the next sender asks the provider first); otherwise they were never
    /// handed to a gateway and get their claim's attempt back. Returns how many went back.
    async fn release_messages(&self, ids: &[i64], lease_until: i64, interrupted: bool, now: i64) -> StoreResult<u64>;
    /// Wake-ups when any instance commits call events (PostgreSQL `LISTEN jiaoying_events`, fed
    /// by a trigger); `None` on SQLite, where one database file is one instance.
    async fn listen_events(&self) -> StoreResult<Option<Box<dyn crate::notify::EventWakeups>>>;

    // --- outgoing links (issue 8) ---
    /// The newest ids of the logs outgoing links follow (0 when empty).
    async fn link_log_heads(&self) -> StoreResult<LinkCursor>;
    /// The subscriber's cursor, created at `start` when it has none.
    async fn ensure_link_cursor(&self, subscriber: &str, start: LinkCursor, now: i64) -> StoreResult<LinkCursor>;
    /// Call events after `after_id`, oldest first, with their calls.
    async fn link_call_events_after(&self, after_id: i64, limit: i64) -> StoreResult<Vec<LinkCallEvent>>;
    /// Received alert messages after `after_id`, oldest first.
    async fn link_alert_messages_after(&self, after_id: i64, limit: i64) -> StoreResult<Vec<LinkAlertMessage>>;
    /// PostgreSQL: `(xmin, xmax)` of a fresh snapshot, to tell an id gap that a transaction still
    /// in flight may fill from one that stays. SQLite: `None` (one writer: ids commit in order).
    async fn link_horizon(&self) -> StoreResult<Option<(i64, i64)>>;
    /// Moves the subscriber's cursor from `from` to `to` and queues `deliveries`, in one
    /// transaction; false, with nothing written, when the cursor is no longer at `from`.
    async fn advance_link_cursor(
        &self,
        subscriber: &str,
        from: LinkCursor,
        to: LinkCursor,
        deliveries: &[NewLinkDelivery],
        now: i64,
    ) -> StoreResult<bool>;
    /// Claims up to `limit` of the subscriber's queued deliveries in id order, under a lease
    /// ending at `lease_until`, and commits: none while another claim of the subscriber is live,
    /// and none past a delivery that waits for its retry (deliveries go out in order).
    async fn claim_link_deliveries(
        &self,
        subscriber: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<LinkDeliveryRow>>;
    /// Records what became of claimed deliveries, each only if its claim (`lease_until`) is still
    /// ours, in one transaction; returns how many were ours.
    async fn finish_link_deliveries(
        &self,
        outcomes: &[(i64, LinkResult)],
        lease_until: i64,
        now: i64,
    ) -> StoreResult<usize>;
    /// When the subscriber's next delivery is due: its first queued one, or a live claim's end.
    async fn next_link_delivery_due(&self, subscriber: &str) -> StoreResult<Option<i64>>;
    /// Every subscriber that has deliveries, with counts by state.
    async fn link_subscriber_stats(&self) -> StoreResult<Vec<LinkSubscriberStats>>;
    /// The subscriber's first delivery still waiting (queued or being sent).
    async fn link_queue_head(&self, subscriber: &str) -> StoreResult<Option<LinkDeliveryRow>>;
    /// A subscriber's deliveries, newest first, paged, and the total matching.
    async fn link_deliveries(&self, filter: &LinkDeliveryFilter) -> StoreResult<(Vec<LinkDeliveryRow>, i64)>;
    /// Puts the subscriber's failed deliveries back in the queue, due at `now`; returns how many.
    async fn requeue_failed_link_deliveries(&self, subscriber: &str, now: i64) -> StoreResult<u64>;

    // --- metrics (issue 8) ---
    /// How many calls are in each state, over every alert: one grouped count, read when
    /// `/metrics` is scraped (not on any hot path).
    async fn calls_by_state(&self) -> StoreResult<Vec<CallStateTotal>>;
    /// The connection pools' use now, from the pools themselves (no query).
    fn pool_stats(&self) -> Vec<PoolStats>;
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
    /// The alert, locked until the transaction ends (PostgreSQL `FOR NO KEY UPDATE`; SQLite's write
    /// transaction holds the only write lock already): fan-out chunks, Updates and Cancels of one
    /// alert take turns.
    async fn lock_alert(&mut self, id: i64) -> StoreResult<Option<AlertRow>>;
    /// Marks the alert's fan-out as cut into chunks still being written (`true`), or complete.
    async fn set_fanout_pending(&mut self, id: i64, pending: bool) -> StoreResult<()>;
    /// Which of `persons` already have a call in the alert.
    async fn called_persons(&mut self, alert_id: i64, persons: &[&str]) -> StoreResult<Vec<String>>;

    async fn insert_call(&mut self, call: &NewCall) -> StoreResult<i64>;
    /// Inserts many calls in a few multi-row statements (a fan-out); their ids, in the order given.
    async fn insert_calls(&mut self, calls: &[NewCall]) -> StoreResult<Vec<i64>>;
    /// `n` call ids no other insert will take, once this transaction commits (ADR 0021: a fan-out
    /// chunk composes its messages, whose answer links name the call, before its own
    /// transaction; the previous one reserves its ids). Ids left unused are gaps.
    async fn reserve_call_ids(&mut self, n: usize) -> StoreResult<Vec<i64>>;
    /// Inserts calls under ids taken with [`StoreTx::reserve_call_ids`] (`ids[i]` for `calls[i]`).
    async fn insert_calls_with_ids(&mut self, calls: &[NewCall], ids: &[i64]) -> StoreResult<()>;
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
    /// Inserts messages already claimed by the writing instance (`sending` under `lease_until`,
    /// their first attempt counted), to be handed to its outbox after the commit (ADR 0021);
    /// returns them as rows, in the order given.
    async fn insert_messages_claimed(
        &mut self,
        messages: &[NewMessage],
        lease_until: i64,
    ) -> StoreResult<Vec<MessageRow>>;
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
    async fn finish_sent(
        &mut self,
        sent: &[(i64, Option<String>)],
        lease_until: i64,
        now: i64,
    ) -> StoreResult<Vec<i64>>;
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

    // --- scheduled duties (issue 7) ---
    /// Claims the run of a duty at its scheduled time (INSERT ... ON CONFLICT DO NOTHING): its
    /// id, or `None` when another instance, or this one before a restart, has it.
    async fn claim_duty_run(&mut self, run: &NewDutyRun) -> StoreResult<Option<i64>>;
    /// Records what a claimed run set up.
    async fn set_duty_run(&mut self, id: i64, setup: &DutyRunSetup) -> StoreResult<()>;
    /// Marks the run's reminder sent; false when it already was (compare-and-set).
    async fn mark_duty_run_reminded(&mut self, id: i64, now: i64) -> StoreResult<bool>;
    /// Marks the run reported; false when it already was (compare-and-set).
    async fn mark_duty_run_finished(&mut self, id: i64, now: i64, summary: Option<&str>) -> StoreResult<bool>;
    async fn insert_inspection_request(&mut self, run_id: i64, person_id: &str, now: i64) -> StoreResult<i64>;
    async fn insert_inspection(&mut self, inspection: &NewInspection) -> StoreResult<i64>;

    // --- a burst of answers, set-based (group commit) ---
    /// [`StoreTx::first_sight`] for many `(channel, provider id)` pairs (distinct): which were new.
    async fn first_sights(&mut self, seen: &[(String, String)], now: i64) -> StoreResult<Vec<bool>>;
    async fn calls_by_ids(&mut self, ids: &[i64]) -> StoreResult<Vec<CallRow>>;
    /// The calls each `(mobile, reply code)` pair names (a registered number's persons' calls with
    /// that code), for a burst of replies in one read: `(mobile, call)` rows, any order.
    async fn calls_by_mobile_and_codes(&mut self, pairs: &[(String, String)]) -> StoreResult<Vec<(String, CallRow)>>;
    /// Answers many calls in a few statements, each by compare-and-set on its `(state, attempts)`
    /// as read; logs each answer as an event, withdraws the answered calls' queued messages
    /// (repeats no longer needed) and queues `confirmations[i]` where `answers[i]` was answered.
    /// The ids actually answered.
    async fn answer_calls(
        &mut self,
        answers: &[CallAnswer],
        confirmations: &[NewMessage],
        now: i64,
    ) -> StoreResult<Vec<i64>>;

    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
