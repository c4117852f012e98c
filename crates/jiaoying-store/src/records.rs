//! Rows as stored and the inputs that create them. Columns that hold domain values decode into
//! domain types (`CallState`, `Tier`), so a bad value fails at the edge, not deep in the logic.

use jiaoying_core::{CallState, Tier};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub source: String,
    pub status: String,
    pub msg_type: String,
    pub event: String,
    #[sqlx(try_from = "String")]
    pub tier: Tier,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub onset: Option<i64>,
    pub expires: Option<i64>,
    /// The alert's areas as received (JSON).
    pub areas: String,
    /// `active`, `cancelled`, `expired`, or `stored` (kept but calling nobody).
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// `sent` of the message whose content the alert shows (the newest applied).
    pub content_sent: i64,
}

impl AlertRow {
    pub fn is_drill(&self) -> bool {
        self.status == "Exercise"
    }
}

#[derive(Debug, Clone)]
pub struct NewAlertRow {
    pub source: String,
    pub status: String,
    pub msg_type: String,
    pub event: String,
    pub tier: Tier,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub onset: Option<i64>,
    pub expires: Option<i64>,
    pub areas: String,
    pub state: String,
    pub content_sent: i64,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct CallRow {
    pub id: i64,
    pub alert_id: i64,
    pub person_id: String,
    /// The roles this person is called in, `;`-separated.
    pub roles: String,
    pub unit_id: Option<String>,
    pub area: String,
    /// 0 for a direct call, n for the n-th step of escalation.
    pub level: i64,
    #[sqlx(try_from = "String")]
    pub state: CallState,
    pub reply_code: String,
    pub attempts: i64,
    pub deadline: i64,
    pub next_action_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub answered_via: Option<String>,
    pub answered_by: Option<String>,
    pub answer_note: Option<String>,
    pub late: bool,
    pub unreached: bool,
    pub escalated_from: Option<i64>,
    pub escalated_to: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A control measure (熔断) to carry out: `<measure>:<text>`.
    pub directive: Option<String>,
    /// How long after the answer the measure must be reported done (ms).
    pub done_within: Option<i64>,
    pub done_at: Option<i64>,
    pub done_report: Option<String>,
}

/// A call with its person's name, as the API lists them.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CallListRow {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub call: CallRow,
    pub name: Option<String>,
}

/// A call found by a reply's `(mobile, code)`, with the mobile it was asked for.
#[derive(Debug, Clone, Deserialize, sqlx::FromRow)]
pub struct CodedCall {
    pub mobile_in: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub call: CallRow,
}

#[derive(Debug, Clone)]
pub struct NewCall {
    pub alert_id: i64,
    pub person_id: String,
    pub roles: String,
    pub unit_id: Option<String>,
    pub area: String,
    pub level: i64,
    pub reply_code: String,
    pub deadline: i64,
    /// When the timer first fires: the deadline, or the alert's expiry if that comes first.
    pub next_action_at: i64,
    pub escalated_from: Option<i64>,
    pub directive: Option<String>,
    pub done_within: Option<i64>,
    pub now: i64,
}

impl NewCall {
    /// The row `insert_call` writes for this call under `id`, so that the caller need not read
    /// it back (a round trip per person in a fan-out). The storage story checks it equals the
    /// row read back, on both backends.
    pub fn row(&self, id: i64) -> CallRow {
        CallRow {
            id,
            alert_id: self.alert_id,
            person_id: self.person_id.clone(),
            roles: self.roles.clone(),
            unit_id: self.unit_id.clone(),
            area: self.area.clone(),
            level: self.level,
            state: CallState::Pending,
            reply_code: self.reply_code.clone(),
            attempts: 1,
            deadline: self.deadline,
            next_action_at: Some(self.next_action_at),
            answered_at: None,
            answered_via: None,
            answered_by: None,
            answer_note: None,
            late: false,
            unreached: false,
            escalated_from: self.escalated_from,
            escalated_to: None,
            created_at: self.now,
            updated_at: self.now,
            directive: self.directive.clone(),
            done_within: self.done_within,
            done_at: None,
            done_report: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Asks for an answer: carries the reply code and link.
    Call,
    /// Tells something (lifted, updated); asks for nothing.
    Notice,
    /// An answer to an inbound SMS (the list of codes, help).
    Reply,
    /// `send-test`.
    Test,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Call => "call",
            Purpose::Notice => "notice",
            Purpose::Reply => "reply",
            Purpose::Test => "test",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub alert_id: Option<i64>,
    pub call_id: Option<i64>,
    pub channel: String,
    pub recipient: String,
    pub purpose: Purpose,
    pub subject: String,
    pub body: String,
    pub code: Option<String>,
    pub link: Option<String>,
    pub now: i64,
    /// Higher goes out sooner: see [`jiaoying_core::message::priority`]-style rules in the
    /// tracker (red before blue, a first call before a repeat).
    pub priority: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub alert_id: Option<i64>,
    pub call_id: Option<i64>,
    pub channel: String,
    pub recipient: String,
    pub purpose: String,
    pub subject: String,
    pub body: String,
    pub code: Option<String>,
    pub link: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_until: Option<i64>,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub priority: i64,
    /// Channels this message already went through before failing over (comma-separated).
    pub tried_channels: String,
}

/// `last_error` of a message whose sender stopped mid-send (its lease ran out): before sending
/// it again, the outbox asks the provider whether it went out.
pub const INTERRUPTED_SEND: &str = "interrupted mid-send: the sender's lease ran out";

/// One channel's queue: what waits, what is in flight, and since when the oldest has waited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BacklogRow {
    pub channel: String,
    pub queued: i64,
    pub sending: i64,
    pub oldest_due: Option<i64>,
}

/// What became of one send attempt of a claimed message.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    Sent {
        provider_id: Option<String>,
    },
    /// Try again at `retry_at`.
    Retry {
        error: String,
        retry_at: i64,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub alert_id: i64,
    pub call_id: i64,
    pub at: i64,
    pub from_state: Option<CallState>,
    pub to_state: CallState,
    /// `system`, `person:<id>`, `officer:<name>`, `source:<id>`.
    pub actor: String,
    pub via: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub alert_id: i64,
    pub call_id: i64,
    pub at: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub via: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// `active` or none for all.
    pub state: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Number of calls of one alert in one state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StateCount {
    pub alert_id: i64,
    #[sqlx(try_from = "String")]
    pub state: CallState,
    pub n: i64,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RegistryChanges {
    pub added: usize,
    pub changed: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenInfo {
    pub name: String,
    pub role: String,
}

/// The content an Update brings to its alert.
#[derive(Debug, Clone)]
pub struct AlertContent {
    pub event: String,
    pub tier: Tier,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub onset: Option<i64>,
    pub expires: Option<i64>,
    pub areas: String,
    pub content_sent: i64,
    pub now: i64,
}

/// What a polled source remembers between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedStateRow {
    pub source: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_poll_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_taken_at: Option<i64>,
    pub failures: i64,
    pub last_error: Option<String>,
    pub next_poll_at: Option<i64>,
}

/// One linked document of a feed, taken (or refused) once.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedEntryRow {
    pub source: String,
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub taken_at: i64,
    pub result: String,
}

/// A call event with the call's person, as the live stream sends it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StreamEvent {
    pub id: i64,
    pub alert_id: i64,
    pub call_id: i64,
    pub person_id: String,
    pub to_state: String,
    pub at: i64,
}

// --- board read models and officer actions (issue 6) ---

/// Per alert: open calls first made before the alert's overdue cutoff, and calls flagged
/// unreached.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct AlertCallStats {
    pub alert_id: i64,
    pub overdue: i64,
    pub unreached: i64,
}

/// A message received for an alert (its key and kind, not its body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AlertMessageInfo {
    pub id: i64,
    pub alert_id: i64,
    pub sender: String,
    pub identifier: String,
    pub sent: i64,
    pub msg_type: String,
    pub received_at: i64,
}

/// A duty officer's action on a whole alert: `cancel` (note: the reason) or `manual`.
#[derive(Debug, Clone)]
pub struct NewAlertAction {
    pub alert_id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AlertActionRow {
    pub id: i64,
    pub alert_id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub note: Option<String>,
}

/// What the audit view asks of the log; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub alert_id: Option<i64>,
    /// Exact actor, e.g. `officer:wang`, `system`, `person:p-grid`.
    pub actor: Option<String>,
    /// A call event's new state (`answered`, ...) or an alert action (`cancel`, `manual`).
    pub kind: Option<String>,
    /// Inclusive lower and exclusive upper bound on the time (Unix ms).
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// One entry of the audit log: a call event (`origin = "call"`), an alert action
/// (`origin = "alert"`, no call) or an admin's change to a board user (`origin = "admin"`, no
/// alert; `name` is the user's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub origin: String,
    pub id: i64,
    pub alert_id: Option<i64>,
    pub call_id: Option<i64>,
    pub at: i64,
    pub from_state: Option<String>,
    /// The call's new state, or the alert action.
    pub kind: String,
    pub actor: String,
    pub via: Option<String>,
    pub note: Option<String>,
    pub person_id: Option<String>,
    pub name: Option<String>,
}

/// A board user. `password_hash` is argon2id in PHC form; `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// A session to store at sign-in: the SHA-256 of its cookie value, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub token_hash: String,
    pub user_id: i64,
    pub csrf: String,
    pub created_at: i64,
    pub idle_expires_at: i64,
    pub expires_at: i64,
}

/// A live session with its user's name and current role.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionInfo {
    pub user_id: i64,
    pub name: String,
    pub role: String,
    pub csrf: String,
    pub created_at: i64,
    pub idle_expires_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionInfo")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("csrf", &"[redacted]")
            .field("idle_expires_at", &self.idle_expires_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A board user as admins see it: never its password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Its sessions live at the time asked.
    pub sessions: i64,
}

/// An admin's change for the audit log (`admin_actions`): `user_add`, `user_update`,
/// `user_delete`. `note` says what changed and never holds a password or a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdminAction {
    pub at: i64,
    /// `officer:<name>` of the admin.
    pub actor: String,
    pub action: String,
    /// The user's name.
    pub target: String,
    pub note: Option<String>,
}

/// What became of a change to a board user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Done,
    NotFound,
    /// Refused: it would leave the board without an admin.
    LastAdmin,
}

// --- registry administration (issue 7) ---

/// An import as one transaction: the entries to upsert, the entries to remove (only an import
/// with `--replace` removes), and who did it, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct RegistryImport {
    pub registry: jiaoying_core::Registry,
    pub remove: RegistryRemoval,
    /// How the audit log names who imported: `cli` for `jiaoying import`.
    pub actor: String,
    /// The audit entry's note: the file and what changed.
    pub note: String,
}

/// Stored entries an import removes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryRemoval {
    pub areas: Vec<jiaoying_core::AreaCode>,
    pub persons: Vec<jiaoying_core::PersonId>,
    pub units: Vec<jiaoying_core::UnitId>,
    pub rosters: Vec<jiaoying_core::roster::RosterEntry>,
}

impl RegistryRemoval {
    pub fn len(&self) -> usize {
        self.areas.len() + self.persons.len() + self.units.len() + self.rosters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub changes: RegistryChanges,
    pub removed: usize,
}

/// An admin's change of one person's contacts; `None` leaves that field as it is, and
/// `email: Some(None)` clears the e-mail address. Values are validated before they get here.
#[derive(Debug, Clone)]
pub struct ContactUpdate {
    pub person_id: jiaoying_core::PersonId,
    pub mobile: Option<jiaoying_core::MobileNumber>,
    pub email: Option<Option<String>>,
    /// `officer:<name>` of the admin.
    pub actor: String,
}

/// What became of a [`ContactUpdate`].
#[derive(Debug, Clone, PartialEq)]
pub enum ContactOutcome {
    NotFound,
    /// The values given are the stored ones: nothing written, nothing logged.
    Unchanged(jiaoying_core::Person),
    Changed {
        before: jiaoying_core::Person,
        after: jiaoying_core::Person,
        /// `mobile`, `email`.
        fields: Vec<&'static str>,
    },
}

/// The audit entry's note for a change of contacts. Mobiles and e-mails are shown masked: the
/// audit log is open to every board role, the registry pages only to admins.
pub fn contact_change_note(before: &jiaoying_core::Person, after: &jiaoying_core::Person) -> String {
    let email = |e: &Option<String>| match e.as_deref() {
        None => "—".to_string(),
        Some(e) => match e.split_once('@') {
            Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
            None => "***".to_string(),
        },
    };
    let mut parts = Vec::new();
    if before.mobile != after.mobile {
        parts.push(format!("mobile {} → {}", before.mobile.masked(), after.mobile.masked()));
    }
    if before.email != after.email {
        parts.push(format!("email {} → {}", email(&before.email), email(&after.email)));
    }
    parts.join("; ")
}

/// One registry change in the audit log (`admin_actions` rows whose action starts with
/// `registry_`), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RegistryChangeRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    /// `registry_contact` (an admin's edit) or `registry_import`.
    pub action: String,
    /// `person p-1`, or `registry` for an import.
    pub target: String,
    pub note: Option<String>,
}

// --- scheduled duties (issue 7) ---

/// One run of a scheduled duty (`duty_runs`): claimed by one instance for one scheduled time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DutyRunRow {
    pub id: i64,
    /// `reachability`, `inspection`, `daily_summary`.
    pub duty: String,
    /// The schedule's time this run is for.
    pub scheduled_for: i64,
    /// The instance that ran it.
    pub claimed_by: String,
    pub started_at: i64,
    /// Reachability: the test's alert (its calls are the test's calls).
    pub alert_id: Option<i64>,
    /// Reachability: answers after this count as unreached.
    pub window_ends_at: Option<i64>,
    /// Reachability: when the unanswered are reminded once; `reminded_at` once they were.
    pub remind_at: Option<i64>,
    pub reminded_at: Option<i64>,
    /// Reachability: when the report went to the duty officers.
    pub finished_at: Option<i64>,
    /// JSON: what the run did.
    pub summary: Option<String>,
}

/// The claim of a run: inserted only if no instance has claimed `(duty, scheduled_for)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDutyRun {
    pub duty: String,
    pub scheduled_for: i64,
    pub claimed_by: String,
    pub now: i64,
}

/// What a claimed run set up, written in the run's transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DutyRunSetup {
    pub alert_id: Option<i64>,
    pub window_ends_at: Option<i64>,
    pub remind_at: Option<i64>,
    pub summary: Option<String>,
}

/// An inspection reminder sent to one person; the reminder's link names its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InspectionRequestRow {
    pub id: i64,
    pub run_id: i64,
    pub person_id: String,
    pub created_at: i64,
}

/// "已检查": one inspection, of a unit or (unit `None`) of the person's units unnamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InspectionRow {
    pub id: i64,
    pub person_id: String,
    pub unit_id: Option<String>,
    pub at: i64,
    /// `sms` or `link`.
    pub via: String,
    pub report: String,
    pub request_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInspection {
    pub person_id: String,
    pub unit_id: Option<String>,
    pub at: i64,
    pub via: String,
    pub report: String,
    pub request_id: Option<i64>,
}

/// The latest inspection of one person or one unit (`key`), and how many since a given time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LastInspection {
    pub key: String,
    pub at: i64,
    pub since: i64,
}

// --- outgoing links (issue 8) ---

/// Where a subscriber's cursor stands in the two logs outgoing links follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LinkCursor {
    /// Every `call_events` row up to this id has been taken (queued or skipped).
    pub calls_after: i64,
    /// Every `alert_messages` row up to this id has been taken.
    pub messages_after: i64,
}

/// A call event with the call's fields an outgoing link reports (the call's fields as they are
/// now, the event's as they were).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LinkCallEvent {
    pub id: i64,
    pub alert_id: i64,
    pub call_id: i64,
    pub at: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub via: Option<String>,
    pub person_id: String,
    pub roles: String,
    pub area: String,
    pub unit_id: Option<String>,
    pub level: i64,
    pub attempts: i64,
    pub unreached: bool,
    pub escalated_from: Option<i64>,
    pub escalated_to: Option<i64>,
}

/// A message received for an alert; `first` when it is the message that created the alert.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkAlertMessage {
    pub id: i64,
    pub alert_id: i64,
    pub sender: String,
    pub identifier: String,
    pub sent: i64,
    pub msg_type: String,
    pub received_at: i64,
    pub first: bool,
}

/// One webhook delivery to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLinkDelivery {
    pub subscriber: String,
    /// `call_event:<id>` or `alert_message:<id>`: one delivery per event and subscriber.
    pub event_key: String,
    pub event: String,
    pub alert_id: Option<i64>,
    pub call_id: Option<i64>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LinkDeliveryRow {
    pub id: i64,
    pub subscriber: String,
    pub event_key: String,
    pub event: String,
    pub alert_id: Option<i64>,
    pub call_id: Option<i64>,
    #[serde(skip)]
    pub body: String,
    /// `queued`, `sending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_until: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

/// `last_error` of a delivery whose sender stopped mid-POST (its lease ran out, or it was
/// returned at shutdown): sent again, and the subscriber drops a repeat by its delivery id.
pub const INTERRUPTED_DELIVERY: &str = "interrupted: the sender stopped before the outcome was known; sent again";

/// What became of one claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkResult {
    /// The subscriber answered 2xx.
    Delivered { status: i64 },
    /// Try again at `retry_at`.
    Retry { status: Option<i64>, error: String, retry_at: i64 },
    /// Given up: refused for good, or retried for too long.
    Failed { status: Option<i64>, error: String },
    /// Not attempted (an earlier delivery of the batch failed, time ran out, or the instance is
    /// stopping): back to the queue as it was.
    Released,
    /// Being POSTed when the instance stopped, the outcome unknown: back to the queue, first in
    /// line, with [`INTERRUPTED_DELIVERY`] as its error (the subscriber may get it twice, under
    /// the same delivery id).
    Interrupted,
}

/// Per subscriber: its deliveries by state, and its first waiting delivery (the one the others
/// wait behind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LinkSubscriberStats {
    pub subscriber: String,
    pub queued: i64,
    pub sending: i64,
    pub delivered: i64,
    pub failed: i64,
    pub last_delivered_at: Option<i64>,
    /// When the oldest delivery still waiting was queued.
    pub oldest_waiting_at: Option<i64>,
}

/// Which deliveries to list: one subscriber's, newest first, optionally of one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDeliveryFilter {
    pub subscriber: String,
    pub state: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// How many calls are in one state, over every alert (`/metrics`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallStateTotal {
    #[sqlx(try_from = "String")]
    pub state: CallState,
    pub n: i64,
}

/// One connection pool's use: connections open (`size`), of which idle, and the most it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `main` (PostgreSQL), or `write` and `read` (SQLite).
    pub pool: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// One answer of a set-based burst: the call as read (`state`, `attempts`), who answered, how.
#[derive(Debug, Clone, PartialEq)]
pub struct CallAnswer {
    pub call_id: i64,
    pub alert_id: i64,
    pub state: String,
    pub attempts: i64,
    pub via: String,
    pub actor: String,
    pub note: Option<String>,
}

/// An SMS answer by reply code, for [`crate::Store::answer_codes_at_once`]: who sent which code
/// through which channel, and the confirmation to queue if it answers, with the text it takes
/// instead where the call is a drill's (the call's alert is found by the same statement).
#[derive(Debug, Clone)]
pub struct CodedAnswer {
    pub mobile: String,
    pub code: String,
    pub channel: String,
    /// The gateway's id of the inbound SMS, taken once.
    pub provider_id: Option<String>,
    pub confirmation: NewMessage,
    /// The confirmation's subject and body for a drill's call (marked as a drill's).
    pub drill_text: String,
}

/// What [`crate::Store::answer_codes_at_once`] did with one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodedOutcome {
    /// The call, open and in time, is answered, the answer logged, the confirmation queued.
    Answered { call_id: i64 },
    /// Its provider id was seen before: a gateway's retry. Nothing written.
    Duplicate,
    /// Its provider id is now recorded, but its call changed between the read and the
    /// compare-and-set: answer it the careful way, without checking the provider id again.
    Contended,
    /// Not the common case (no such call, a directive, late, already answered, ...): nothing
    /// written; answer it the careful way.
    Elsewhere,
}
