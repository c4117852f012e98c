//! The names of jiaoying's Prometheus metrics, in one place: the crates that record them and the
//! `/metrics` route that describes and serves them share these, so a typo cannot split a series.
//! Units are in the names (`_seconds`, `_total` for counters), as Prometheus conventions ask.
//!
//! Labels stay few and bounded: source ids, tiers, channel names, states and paths come from the
//! config or from fixed lists, never from a request (no person, number or alert id).

/// Counter: alert messages by `source`, `tier` and `result` (`accepted`, `duplicate`, `rejected`).
pub const ALERTS_TOTAL: &str = "jiaoying_alerts_total";
/// Gauge, read on scrape: calls by `state`.
pub const CALLS: &str = "jiaoying_calls";
/// Counter: send attempts by `channel` and `outcome` (`sent`, `retry`, `failed`, `failover`).
pub const MESSAGES_TOTAL: &str = "jiaoying_messages_total";
/// Histogram: one gateway request (a message, or a provider batch) by `channel`.
pub const GATEWAY_REQUEST_SECONDS: &str = "jiaoying_gateway_request_duration_seconds";
/// Gauges, read on scrape: per `channel`, messages waiting and in flight.
pub const OUTBOX_QUEUED: &str = "jiaoying_outbox_queued_messages";
pub const OUTBOX_SENDING: &str = "jiaoying_outbox_sending_messages";
/// Gauge, read on scrape: per `channel`, seconds until its queue is empty at its recent or
/// configured rate (`NaN` when nothing says how fast it goes).
pub const OUTBOX_DRAIN_SECONDS: &str = "jiaoying_outbox_drain_estimate_seconds";
/// Gauge, read on scrape: per `channel`, how long the oldest queued message has been due.
pub const OUTBOX_OLDEST_DUE_SECONDS: &str = "jiaoying_outbox_oldest_due_age_seconds";
/// Gauge, read on scrape: per `channel`, 1 while its circuit breaker is open.
pub const OUTBOX_BREAKER_OPEN: &str = "jiaoying_outbox_breaker_open";
/// Histogram: how late the timer step handled a due call, after its `next_action_at`.
pub const SCHEDULER_LATENESS_SECONDS: &str = "jiaoying_scheduler_lateness_seconds";
/// Counter: answers recorded, by `path` (`sms`, `voice`, `link`, `officer`).
pub const ANSWERS_TOTAL: &str = "jiaoying_answers_total";
/// Counters: feed polls and failed polls, by `source`.
pub const FEED_POLLS_TOTAL: &str = "jiaoying_feed_polls_total";
pub const FEED_POLL_FAILURES_TOTAL: &str = "jiaoying_feed_poll_failures_total";
/// Gauges, read on scrape: database connections by `pool` and `state` (`idle`, `in_use`), and
/// each pool's maximum.
pub const DB_POOL_CONNECTIONS: &str = "jiaoying_db_pool_connections";
pub const DB_POOL_MAX_CONNECTIONS: &str = "jiaoying_db_pool_max_connections";
/// Gauge, read on scrape: seconds since each background `loop` last showed life.
pub const LOOP_LAST_STEP_AGE_SECONDS: &str = "jiaoying_loop_last_step_age_seconds";
/// Gauge, read on scrape: 1 when the scrape's database reads answered, else 0.
pub const DATABASE_UP: &str = "jiaoying_database_up";

/// Every name above (a dashboard or alert rule naming anything else is out of date).
pub const ALL: &[&str] = &[
    ALERTS_TOTAL,
    CALLS,
    MESSAGES_TOTAL,
    GATEWAY_REQUEST_SECONDS,
    OUTBOX_QUEUED,
    OUTBOX_SENDING,
    OUTBOX_DRAIN_SECONDS,
    OUTBOX_OLDEST_DUE_SECONDS,
    OUTBOX_BREAKER_OPEN,
    SCHEDULER_LATENESS_SECONDS,
    ANSWERS_TOTAL,
    FEED_POLLS_TOTAL,
    FEED_POLL_FAILURES_TOTAL,
    DB_POOL_CONNECTIONS,
    DB_POOL_MAX_CONNECTIONS,
    LOOP_LAST_STEP_AGE_SECONDS,
    DATABASE_UP,
];
