//! The SQL both backends share, written once. `impl_sql_store!` instantiates the [`Store`] and
//! [`StoreTx`] implementations for one sqlx backend; the adapter modules pass in the statements
//! that differ (row claiming) and own their connection set-up and migrations.
//!
//! Every statement binds its values (`$1` works on both: sqlx's SQLite driver maps `$N` to the
//! N-th argument) and takes the time as a parameter instead of calling `now()` in SQL, so the
//! service's clock (a controllable one in tests) is the only clock.

/// Columns of `calls` in `CallRow` order.
pub(crate) const CALL_COLUMNS: &str =
    "id, alert_id, person_id, roles, unit_id, area, level, state, reply_code, attempts, \
     deadline, next_action_at, answered_at, answered_via, answered_by, answer_note, late, unreached, \
     escalated_from, escalated_to, created_at, updated_at, directive, done_within, done_at, done_report";

pub(crate) const OPEN_STATES_SQL: &str = "('pending', 'sent', 'delivered', 'escalated')";

/// Set-based statements take their rows as one JSON array parameter (`$1`, an array of arrays),
/// read as a table `j` whose `j.value ->> N` is a row's N-th field (text; `CAST(.. AS BIGINT)`
/// for numbers). The statement's text then does not depend on how many rows there are, so each
/// backend prepares (and PostgreSQL plans) it once, instead of once per burst size.
pub(crate) fn json_rows(backend: crate::store::Backend) -> &'static str {
    match backend {
        crate::store::Backend::Sqlite => "json_each($1) AS j",
        crate::store::Backend::Postgres => "jsonb_array_elements($1::jsonb) AS j(value)",
    }
}

/// `rows` as the JSON array parameter of a [`json_rows`] statement.
pub(crate) fn json_param(rows: Vec<serde_json::Value>) -> String {
    serde_json::Value::Array(rows).to_string()
}

/// PostgreSQL: after an `answered` CTE of calls just answered at `$2` (`RETURNING id, alert_id,
/// from_state, actor, via, note`), the two CTEs every answer needs: its event logged, and the
/// call's queued repeats withdrawn (no longer needed).
pub(crate) const ANSWERED_LOGGED_AND_WITHDRAWN: &str =
    "logged AS (INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note) \
         SELECT alert_id, id, $2, from_state, 'answered', actor, via, note FROM answered ORDER BY id), \
     withdrawn AS (UPDATE messages SET state = 'cancelled' \
         WHERE state = 'queued' AND call_id IN (SELECT id FROM answered))";

/// `INSERT INTO messages` from JSON rows `{alias}.value` (as [`message_json`] writes them):
/// queued, or with `lease` (a parameter such as `$2`) already claimed by the writing instance
/// (`sending` under that lease, the attempt counted; ADR 0021).
pub(crate) fn insert_messages_from(alias: &str, from: &str, lease: Option<&str>) -> String {
    let f = |i: usize| format!("{alias}.value ->> {i}");
    let n = |i: usize| format!("CAST({alias}.value ->> {i} AS BIGINT)");
    let times = format!("{}, {}, {}", n(9), n(9), n(10));
    let (lease_column, values) = match lease {
        None => ("", format!("'queued', 0, {times}")),
        Some(p) => (", lease_until", format!("'sending', 1, {times}, {p}")),
    };
    format!(
        "INSERT INTO messages (alert_id, call_id, channel, recipient, purpose, subject, body, code, link, \
         state, attempts, next_attempt_at, created_at, priority{lease_column}) \
         SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {values} FROM {from}",
        n(0),
        n(1),
        f(2),
        f(3),
        f(4),
        f(5),
        f(6),
        f(7),
        f(8),
    )
}

/// PostgreSQL: `INSERT INTO calls` from JSON rows `j.value` (as [`call_json`] writes them), under
/// each row's reserved id (index 13) where `with_id`, else the identity's next.
pub(crate) fn insert_calls_from(from: &str, with_id: bool) -> String {
    let (id_column, id_value) = if with_id { ("id, ", "CAST(j.value ->> 13 AS BIGINT), ") } else { ("", "") };
    format!(
        "INSERT INTO calls ({id_column}alert_id, person_id, roles, unit_id, area, level, state, reply_code, attempts, \
         deadline, next_action_at, escalated_from, created_at, updated_at, directive, done_within) \
         SELECT {id_value}CAST(j.value ->> 0 AS BIGINT), j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, \
         CAST(j.value ->> 5 AS BIGINT), 'pending', j.value ->> 6, 1, CAST(j.value ->> 7 AS BIGINT), \
         CAST(j.value ->> 8 AS BIGINT), CAST(j.value ->> 9 AS BIGINT), CAST(j.value ->> 10 AS BIGINT), \
         CAST(j.value ->> 10 AS BIGINT), j.value ->> 11, CAST(j.value ->> 12 AS BIGINT) FROM {from}"
    )
}

/// A call as a JSON row of [`insert_calls_from`]; `id` goes last (index 13).
pub(crate) fn call_json(c: &crate::records::NewCall, id: Option<i64>) -> serde_json::Value {
    serde_json::json!([
        c.alert_id,
        c.person_id,
        c.roles,
        c.unit_id,
        c.area,
        c.level,
        c.reply_code,
        c.deadline,
        c.next_action_at,
        c.escalated_from,
        c.now,
        c.directive,
        c.done_within,
        id
    ])
}

/// A message to queue as a JSON row of [`insert_messages_from`]; `extra` goes last (index 11).
pub(crate) fn message_json(m: &crate::records::NewMessage, extra: Option<i64>) -> serde_json::Value {
    serde_json::json!([
        m.alert_id,
        m.call_id,
        m.channel,
        m.recipient,
        m.purpose.as_str(),
        m.subject,
        m.body,
        m.code,
        m.link,
        m.now,
        m.priority,
        extra
    ])
}

/// The columns of `messages` as [`crate::records::MessageRow`] reads them.
const MESSAGE_COLUMNS: [&str; 21] = [
    "id",
    "alert_id",
    "call_id",
    "channel",
    "recipient",
    "purpose",
    "subject",
    "body",
    "code",
    "link",
    "state",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "provider_id",
    "last_error",
    "created_at",
    "sent_at",
    "delivered_at",
    "priority",
    "tried_channels",
];

/// SQLite: the messages `filter` selects, as one row holding a JSON array of message objects
/// (one wake-up of the driver instead of one per row).
pub(crate) fn messages_as_json_row(filter: &str) -> String {
    let fields: Vec<String> = MESSAGE_COLUMNS.iter().map(|c| format!("'{c}', {c}")).collect();
    format!("SELECT json_group_array(json_object({})) FROM messages WHERE {filter}", fields.join(", "))
}

/// Rows per JSON-parameter statement: bounded so one statement's work stays small.
pub(crate) const JSON_CHUNK: usize = 1000;

/// SQLite: rows per multi-row `INSERT … VALUES` statement. A batch is cut into these sizes, largest
/// first, so a table has at most seven statement texts, each prepared once per connection; 64 rows
/// of the widest table bind 960 values, far under SQLite's limit of 32 766.
pub(crate) const VALUES_SIZES: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// `rows` cut into consecutive slices whose lengths are in [`VALUES_SIZES`], largest first.
pub(crate) fn values_slices<T>(mut rows: &[T]) -> Vec<&[T]> {
    let mut slices = Vec::with_capacity(rows.len() / VALUES_SIZES[0] + VALUES_SIZES.len());
    for size in VALUES_SIZES {
        while rows.len() >= size {
            let (head, tail) = rows.split_at(size);
            slices.push(head);
            rows = tail;
        }
    }
    slices
}

/// `{head} VALUES {row}, {row}, …` with `n` copies of `row` (its placeholders `?`).
pub(crate) fn values_sql(head: &str, row: &str, n: usize) -> String {
    let mut sql = String::with_capacity(head.len() + 8 + n * (row.len() + 2));
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql
}

/// The head and row of the bound-values `INSERT`s of the fan-out's three tables (SQLite).
pub(crate) const CALLS_VALUES: (&str, &str) = (
    "INSERT INTO calls (alert_id, person_id, roles, unit_id, area, level, state, reply_code, attempts, \
     deadline, next_action_at, escalated_from, created_at, updated_at, directive, done_within)",
    "(?, ?, ?, ?, ?, ?, 'pending', ?, 1, ?, ?, ?, ?, ?, ?, ?)",
);
pub(crate) const CALLS_WITH_IDS_VALUES: (&str, &str) = (
    "INSERT INTO calls (id, alert_id, person_id, roles, unit_id, area, level, state, reply_code, attempts, \
     deadline, next_action_at, escalated_from, created_at, updated_at, directive, done_within)",
    "(?, ?, ?, ?, ?, ?, ?, 'pending', ?, 1, ?, ?, ?, ?, ?, ?, ?)",
);
pub(crate) const MESSAGES_VALUES: (&str, &str) = (
    "INSERT INTO messages (alert_id, call_id, channel, recipient, purpose, subject, body, code, link, \
     state, attempts, next_attempt_at, created_at, priority)",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)",
);
/// Messages written already claimed by the writing instance (`sending`, leased; ADR 0021).
pub(crate) const CLAIMED_MESSAGES_VALUES: (&str, &str) = (
    "INSERT INTO messages (alert_id, call_id, channel, recipient, purpose, subject, body, code, link, \
     state, attempts, next_attempt_at, created_at, priority, lease_until)",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'sending', 1, ?, ?, ?, ?)",
);
pub(crate) const EVENTS_VALUES: (&str, &str) = (
    "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note)",
    "(?, ?, ?, ?, ?, ?, ?, ?)",
);

macro_rules! impl_sql_store {
    ($Store:ident, $Tx:ident, $DB:ty, backend = $backend:expr, claim_calls = $claim_calls:expr, claim_messages = $claim_messages:expr, claim_channel_messages = $claim_channel_messages:expr) => {
        use async_trait::async_trait;
        use jiaoying_core::{AlertKey, MobileNumber, Person, Registry};
        use $crate::error::StoreResult;
        use $crate::records::*;
        use $crate::sql::{
            call_json, insert_calls_from, insert_messages_from, json_param, json_rows, message_json, messages_as_json_row, values_slices, values_sql,
            ANSWERED_LOGGED_AND_WITHDRAWN, CALLS_VALUES,
            CALLS_WITH_IDS_VALUES, CLAIMED_MESSAGES_VALUES,
            CALL_COLUMNS, EVENTS_VALUES, JSON_CHUNK, MESSAGES_VALUES, OPEN_STATES_SQL,
        };
        use serde_json::json;
        use $crate::store::{Backend, Store, StoreTx};

        pub struct $Tx {
            tx: sqlx::Transaction<'static, $DB>,
        }

        /// Whether a statement over a table whose size changes by orders of magnitude within
        /// seconds (a fan-out's calls, the outbox) may keep its prepared plan. Not on
        /// PostgreSQL: after five executions it may settle on a generic plan, made while the
        /// table was small, that then scans it whole on every execution (measured: a fan-out of
        /// 50 000 spent 4.5 s in such scans, and the outbox's claim took 16 ms a step). Planning
        /// such a statement on each execution costs a fraction of a millisecond. SQLite plans
        /// from its indexes alone. (Not every statement: planning them all cost a fan-out more
        /// than the scans did.)
        const KEEP_PLAN: bool = matches!($backend, Backend::Sqlite);

        /// `(person_id, reply_code)` of the open calls of `person_ids`, read on `conn`.
        async fn open_reply_codes_on(
            conn: &mut <$DB as sqlx::Database>::Connection,
            person_ids: &[&str],
        ) -> StoreResult<Vec<(String, String)>> {
            let mut out = Vec::new();
            for chunk in person_ids.chunks(500) {
                let mut q = sqlx::QueryBuilder::<$DB>::new(format!(
                    "SELECT person_id, reply_code FROM calls WHERE state IN {OPEN_STATES_SQL} AND person_id IN ("
                ));
                let mut list = q.separated(", ");
                for p in chunk {
                    list.push_bind(p.to_string());
                }
                q.push(")");
                out.extend(q.build_query_as::<(String, String)>().persistent(KEEP_PLAN).fetch_all(&mut *conn).await?);
            }
            Ok(out)
        }

        /// A bound-values statement (SQLite's multi-row `INSERT … VALUES`).
        type Bound<'q> = sqlx::query::Query<'q, $DB, <$DB as sqlx::Database>::Arguments<'q>>;

        /// Binds a call's columns in [`CALLS_VALUES`] order (after its id, where given).
        fn bind_call<'q>(q: Bound<'q>, c: &'q NewCall) -> Bound<'q> {
            q.bind(c.alert_id).bind(&c.person_id).bind(&c.roles).bind(&c.unit_id).bind(&c.area)
                .bind(c.level).bind(&c.reply_code).bind(c.deadline).bind(c.next_action_at)
                .bind(c.escalated_from).bind(c.now).bind(c.now).bind(&c.directive).bind(c.done_within)
        }

        /// Binds a message's columns in [`MESSAGES_VALUES`] order.
        fn bind_message<'q>(q: Bound<'q>, m: &'q NewMessage) -> Bound<'q> {
            q.bind(m.alert_id).bind(m.call_id).bind(&m.channel).bind(&m.recipient).bind(m.purpose.as_str())
                .bind(&m.subject).bind(&m.body).bind(&m.code).bind(&m.link).bind(m.now).bind(m.now).bind(m.priority)
        }

        /// SQLite: inserts `rows` with bound values (`statement`'s head and row, `bind` one row)
        /// and returns the ids they got. One writer: the rows get consecutive ids in their order,
        /// the last of them last_insert_rowid(). Checked by reading `key` (a JSON value per row)
        /// of that id range of `table` back as one JSON row and comparing it with `keys`, instead
        /// of a returned row (a driver wake-up) per insert.
        async fn insert_with_consecutive_ids<T>(
            tx: &mut sqlx::Transaction<'static, $DB>,
            statement: (&str, &str),
            rows: &[T],
            bind: impl for<'q> Fn(Bound<'q>, &'q T) -> Bound<'q>,
            table: &str,
            key: &str,
            keys: Vec<serde_json::Value>,
        ) -> StoreResult<Vec<i64>> {
            let mut n = 0;
            for slice in values_slices(rows) {
                let sql = values_sql(statement.0, statement.1, slice.len());
                let mut q = sqlx::query(&sql);
                for row in slice {
                    q = bind(q, row);
                }
                n += q.execute(&mut **tx).await?.rows_affected() as i64;
            }
            let (last, back): (i64, String) = sqlx::query_as(&format!(
                "SELECT last_insert_rowid(), (SELECT json_group_array({key}) FROM \
                 (SELECT * FROM {table} WHERE id > last_insert_rowid() - $1 AND id <= last_insert_rowid() ORDER BY id))"
            ))
            .bind(n)
            .fetch_one(&mut **tx)
            .await?;
            let back: Vec<serde_json::Value> = serde_json::from_str(&back)
                .map_err(|e| $crate::error::StoreError::Corrupt(format!("inserted {table}: {e}")))?;
            if n as usize != rows.len() || back != keys {
                return Err($crate::error::StoreError::Corrupt(format!("inserted {table} did not get consecutive ids")));
            }
            Ok((last - n + 1..=last).collect())
        }

        /// Gives a closure the signature [`insert_with_consecutive_ids`] asks for (any lifetime).
        fn binder<T, F: for<'q> Fn(Bound<'q>, &'q T) -> Bound<'q>>(f: F) -> F {
            f
        }

        fn call_select(tail: &str) -> String {
            format!("SELECT {CALL_COLUMNS} FROM calls {tail}")
        }

        /// Appends an admin's change to the audit log, inside the change's transaction.
        async fn insert_admin_action(tx: &mut sqlx::Transaction<'static, $DB>, a: &NewAdminAction) -> StoreResult<()> {
            sqlx::query("INSERT INTO admin_actions (at, actor, action, target, note) VALUES ($1, $2, $3, $4, $5)")
                .bind(a.at)
                .bind(&a.actor)
                .bind(&a.action)
                .bind(&a.target)
                .bind(&a.note)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Whether an admin other than user `id` exists (the board must keep one).
        async fn other_admin(tx: &mut sqlx::Transaction<'static, $DB>, id: i64) -> StoreResult<bool> {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = 'admin' AND id <> $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
            Ok(n > 0)
        }

        /// Records the outcome of a claimed send if the claim (`lease_until`) is still ours.
        fn finish_query<'q>(
            id: i64,
            lease_until: i64,
            result: &'q SendResult,
            now: i64,
        ) -> sqlx::query::Query<'q, $DB, <$DB as sqlx::Database>::Arguments<'q>> {
            match result {
                SendResult::Sent { provider_id } => sqlx::query(
                    "UPDATE messages SET state = 'sent', sent_at = $3, provider_id = $4, lease_until = NULL, last_error = NULL \
                     WHERE id = $1 AND state = 'sending' AND lease_until = $2",
                )
                .bind(id)
                .bind(lease_until)
                .bind(now)
                .bind(provider_id.as_deref()),
                SendResult::Retry { error, retry_at } => sqlx::query(
                    "UPDATE messages SET state = 'queued', next_attempt_at = $3, last_error = $4, lease_until = NULL \
                     WHERE id = $1 AND state = 'sending' AND lease_until = $2",
                )
                .bind(id)
                .bind(lease_until)
                .bind(*retry_at)
                .bind(error.as_str()),
                SendResult::Failed { error } => sqlx::query(
                    "UPDATE messages SET state = 'failed', last_error = $3, lease_until = NULL \
                     WHERE id = $1 AND state = 'sending' AND lease_until = $2",
                )
                .bind(id)
                .bind(lease_until)
                .bind(error.as_str()),
            }
        }

        impl $Tx {
            /// Withdraws the queued messages (repeats) of answered calls.
            async fn cancel_queued_messages_of(&mut self, call_ids: &[i64]) -> StoreResult<u64> {
                let sql = format!(
                    "UPDATE messages SET state = 'cancelled' WHERE state = 'queued' AND call_id IN \
                     (SELECT CAST(j.value ->> 0 AS BIGINT) FROM {})",
                    json_rows($backend)
                );
                let mut n = 0;
                for chunk in call_ids.chunks(JSON_CHUNK) {
                    let param = json_param(chunk.iter().map(|id| json!([id])).collect());
                    n += sqlx::query(&sql).bind(param).execute(&mut *self.tx).await?.rows_affected();
                }
                Ok(n)
            }
        }

        #[async_trait]
        impl StoreTx for $Tx {
            async fn alert_id_for_key(&mut self, key: &AlertKey) -> StoreResult<Option<i64>> {
                let id: Option<(i64,)> = sqlx::query_as(
                    "SELECT alert_id FROM alert_messages WHERE sender = $1 AND identifier = $2 AND sent = $3",
                )
                .bind(&key.sender)
                .bind(&key.identifier)
                .bind(key.sent.millis())
                .fetch_optional(&mut *self.tx)
                .await?;
                Ok(id.map(|r| r.0))
            }

            async fn insert_alert(&mut self, a: &NewAlertRow) -> StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO alerts (source, status, msg_type, event, tier, headline, description, instruction, \
                     onset, expires, areas, state, content_sent, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14, $13, $13) RETURNING id",
                )
                .bind(&a.source)
                .bind(&a.status)
                .bind(&a.msg_type)
                .bind(&a.event)
                .bind(a.tier.as_str())
                .bind(&a.headline)
                .bind(&a.description)
                .bind(&a.instruction)
                .bind(a.onset)
                .bind(a.expires)
                .bind(&a.areas)
                .bind(&a.state)
                .bind(a.now)
                .bind(a.content_sent)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(id)
            }

            async fn insert_alert_message(&mut self, alert_id: i64, key: &AlertKey, msg_type: &str, body: &str, now: i64) -> StoreResult<i64> {
                let id = sqlx::query_as::<_, (i64,)>(
                    "INSERT INTO alert_messages (alert_id, sender, identifier, sent, msg_type, received_at, body) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(alert_id)
                .bind(&key.sender)
                .bind(&key.identifier)
                .bind(key.sent.millis())
                .bind(msg_type)
                .bind(now)
                .bind(body)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(id.0)
            }

            async fn insert_message_references(&mut self, message_id: i64, refs: &[jiaoying_core::alert::Reference]) -> StoreResult<()> {
                for r in refs {
                    sqlx::query(
                        "INSERT INTO message_references (message_id, sender, identifier, sent) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(message_id)
                    .bind(&r.sender)
                    .bind(&r.identifier)
                    .bind(r.sent.map(|t| t.millis()))
                    .execute(&mut *self.tx)
                    .await?;
                }
                Ok(())
            }

            async fn alerts_referencing(&mut self, key: &AlertKey) -> StoreResult<Vec<i64>> {
                // A reference without a time matches any message with that sender and identifier.
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "SELECT DISTINCT m.alert_id FROM message_references r JOIN alert_messages m ON m.id = r.message_id \
                     WHERE r.sender = $1 AND r.identifier = $2 AND (r.sent IS NULL OR r.sent = $3) ORDER BY m.alert_id",
                )
                .bind(&key.sender)
                .bind(&key.identifier)
                .bind(key.sent.millis())
                .fetch_all(&mut *self.tx)
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn set_alert_content(&mut self, id: i64, c: &AlertContent) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE alerts SET event = $2, tier = $3, headline = $4, description = $5, instruction = $6, \
                     onset = $7, expires = $8, areas = $9, content_sent = $10, updated_at = $11 WHERE id = $1",
                )
                .bind(id)
                .bind(&c.event)
                .bind(c.tier.as_str())
                .bind(&c.headline)
                .bind(&c.description)
                .bind(&c.instruction)
                .bind(c.onset)
                .bind(c.expires)
                .bind(&c.areas)
                .bind(c.content_sent)
                .bind(c.now)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn alert(&mut self, id: i64) -> StoreResult<Option<AlertRow>> {
                Ok(sqlx::query_as("SELECT * FROM alerts WHERE id = $1").bind(id).fetch_optional(&mut *self.tx).await?)
            }

            async fn lock_alert(&mut self, id: i64) -> StoreResult<Option<AlertRow>> {
                // NO KEY UPDATE, not UPDATE: chunks, Updates and Cancels of the alert still take
                // turns, but the foreign-key checks of rows naming the alert (KEY SHARE) do not
                // wait for it. With FOR UPDATE a Cancel holding the alert and waiting for a call
                // the outbox had just moved to `sent` deadlocked with that outbox transaction,
                // whose call event's key check waited for the alert.
                let sql = if $backend == Backend::Postgres {
                    "SELECT * FROM alerts WHERE id = $1 FOR NO KEY UPDATE"
                } else {
                    "SELECT * FROM alerts WHERE id = $1"
                };
                Ok(sqlx::query_as(sql).bind(id).fetch_optional(&mut *self.tx).await?)
            }

            async fn set_fanout_pending(&mut self, id: i64, pending: bool) -> StoreResult<()> {
                sqlx::query("UPDATE alerts SET fanout_pending = $2 WHERE id = $1")
                    .bind(id)
                    .bind(i32::from(pending))
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn called_persons(&mut self, alert_id: i64, persons: &[&str]) -> StoreResult<Vec<String>> {
                let mut out = Vec::new();
                let rows = json_rows($backend);
                for chunk in persons.chunks(JSON_CHUNK) {
                    let param = json_param(chunk.iter().map(|p| json!([p])).collect());
                    let filter = format!("alert_id = $2 AND person_id IN (SELECT j.value ->> 0 FROM {rows})");
                    if $backend == Backend::Sqlite {
                        // One JSON row: the driver wakes once per returned row.
                        let (json,): (String,) = sqlx::query_as(&format!("SELECT json_group_array(person_id) FROM calls WHERE {filter}"))
                            .bind(&param).bind(alert_id).fetch_one(&mut *self.tx).await?;
                        let called: Vec<String> = serde_json::from_str(&json)
                            .map_err(|e| $crate::error::StoreError::Corrupt(format!("called persons: {e}")))?;
                        out.extend(called);
                    } else {
                        let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT person_id FROM calls WHERE {filter}"))
                            .bind(&param).bind(alert_id).fetch_all(&mut *self.tx).await?;
                        out.extend(rows.into_iter().map(|r| r.0));
                    }
                }
                Ok(out)
            }

            async fn set_alert_state(&mut self, id: i64, state: &str, now: i64) -> StoreResult<()> {
                sqlx::query("UPDATE alerts SET state = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(state)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn reserve_call_ids(&mut self, n: usize) -> StoreResult<Vec<i64>> {
                if n == 0 {
                    return Ok(Vec::new());
                }
                let n = i64::try_from(n).map_err(|_| $crate::error::StoreError::Corrupt(format!("cannot reserve {n} ids")))?;
                if $backend == Backend::Sqlite {
                    // AUTOINCREMENT never hands out an id at or below sqlite_sequence's mark, so ids
                    // up to a raised mark are ours (the row exists once a call was ever inserted).
                    sqlx::query(
                        "INSERT INTO sqlite_sequence (name, seq) SELECT 'calls', 0 \
                         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'calls')",
                    )
                    .execute(&mut *self.tx)
                    .await?;
                    let (last,): (i64,) = sqlx::query_as(
                        "UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT COALESCE(MAX(id), 0) FROM calls)) + $1 \
                         WHERE name = 'calls' RETURNING seq",
                    )
                    .bind(n)
                    .fetch_one(&mut *self.tx)
                    .await?;
                    return Ok((last - n + 1..=last).collect());
                }
                // The identity's sequence: taken values are never handed out again.
                let (json,): (String,) = sqlx::query_as(
                    "SELECT CAST(json_agg(nextval(pg_get_serial_sequence('calls', 'id'))) AS TEXT) FROM generate_series(1, $1)",
                )
                .bind(n)
                .fetch_one(&mut *self.tx)
                .await?;
                serde_json::from_str(&json).map_err(|e| $crate::error::StoreError::Corrupt(format!("reserved call ids: {e}")))
            }

            async fn insert_calls_with_ids(&mut self, calls: &[NewCall], ids: &[i64]) -> StoreResult<()> {
                if calls.len() != ids.len() {
                    return Err($crate::error::StoreError::Corrupt(format!("{} calls given {} ids", calls.len(), ids.len())));
                }
                let rows: Vec<(&NewCall, i64)> = calls.iter().zip(ids.iter().copied()).collect();
                if $backend == Backend::Sqlite {
                    for rows in values_slices(&rows) {
                        let sql = values_sql(CALLS_WITH_IDS_VALUES.0, CALLS_WITH_IDS_VALUES.1, rows.len());
                        let mut q = sqlx::query(&sql);
                        for (c, id) in rows {
                            q = bind_call(q.bind(*id), c);
                        }
                        q.execute(&mut *self.tx).await?;
                    }
                    return Ok(());
                }
                let insert = insert_calls_from(json_rows($backend), true);
                for chunk in rows.chunks(JSON_CHUNK) {
                    let param = json_param(chunk.iter().map(|(c, id)| call_json(c, Some(*id))).collect());
                    sqlx::query(&insert).bind(&param).execute(&mut *self.tx).await?;
                }
                Ok(())
            }

            async fn insert_call(&mut self, c: &NewCall) -> StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO calls (alert_id, person_id, roles, unit_id, area, level, state, reply_code, attempts, \
                     deadline, next_action_at, escalated_from, created_at, updated_at, directive, done_within) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, 1, $8, $11, $9, $10, $10, $12, $13) RETURNING id",
                )
                .bind(c.alert_id)
                .bind(&c.person_id)
                .bind(&c.roles)
                .bind(&c.unit_id)
                .bind(&c.area)
                .bind(c.level)
                .bind(&c.reply_code)
                .bind(c.deadline)
                .bind(c.escalated_from)
                .bind(c.now)
                .bind(c.next_action_at)
                .bind(&c.directive)
                .bind(c.done_within)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(id)
            }

            async fn insert_calls(&mut self, calls: &[NewCall]) -> StoreResult<Vec<i64>> {
                if $backend == Backend::Sqlite {
                    // Bound values: a JSON row is parsed again for each column it gives.
                    let keys = calls.iter().map(|c| json!(c.person_id)).collect();
                    return insert_with_consecutive_ids(&mut self.tx, CALLS_VALUES, calls, bind_call, "calls", "person_id", keys).await;
                }
                // PostgreSQL: one JSON parameter per chunk (constant text: prepared and planned once).
                let insert = insert_calls_from(json_rows($backend), false);
                let mut ids = Vec::with_capacity(calls.len());
                for chunk in calls.chunks(JSON_CHUNK) {
                    let param = json_param(chunk.iter().map(|c| call_json(c, None)).collect());
                    // RETURNING gives rows in no promised order: matched back by alert and
                    // person, which the table's UNIQUE (alert_id, person_id) makes unambiguous
                    // (one timer step escalates to the same superior in several alerts).
                    let rows: Vec<(i64, i64, String)> =
                        sqlx::query_as(&format!("{insert} RETURNING id, alert_id, person_id"))
                            .bind(&param)
                            .fetch_all(&mut *self.tx)
                            .await?;
                    let by_key: std::collections::HashMap<(i64, &str), i64> =
                        rows.iter().map(|(id, a, p)| ((*a, p.as_str()), *id)).collect();
                    for c in chunk {
                        ids.push(*by_key.get(&(c.alert_id, c.person_id.as_str())).ok_or_else(|| {
                            $crate::error::StoreError::Corrupt(format!("no id came back for the call of {}", c.person_id))
                        })?);
                    }
                }
                Ok(ids)
            }

            async fn call(&mut self, id: i64) -> StoreResult<Option<CallRow>> {
                Ok(sqlx::query_as(&call_select("WHERE id = $1")).bind(id).fetch_optional(&mut *self.tx).await?)
            }

            async fn call_of_person(&mut self, alert_id: i64, person_id: &str) -> StoreResult<Option<CallRow>> {
                Ok(sqlx::query_as(&call_select("WHERE alert_id = $1 AND person_id = $2"))
                    .bind(alert_id)
                    .bind(person_id)
                    .fetch_optional(&mut *self.tx)
                    .await?)
            }

            async fn calls_of_alert(&mut self, alert_id: i64) -> StoreResult<Vec<CallRow>> {
                Ok(sqlx::query_as(&call_select("WHERE alert_id = $1 ORDER BY id"))
                    .bind(alert_id)
                    .fetch_all(&mut *self.tx)
                    .await?)
            }

            async fn open_reply_codes(&mut self, person_id: &str) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(&format!(
                    "SELECT reply_code FROM calls WHERE person_id = $1 AND state IN {OPEN_STATES_SQL}"
                ))
                .bind(person_id)
                .fetch_all(&mut *self.tx)
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn open_reply_codes_of(&mut self, person_ids: &[&str]) -> StoreResult<Vec<(String, String)>> {
                open_reply_codes_on(&mut self.tx, person_ids).await
            }

            async fn claim_due_calls(&mut self, now: i64, limit: i64) -> StoreResult<Vec<CallRow>> {
                Ok(sqlx::query_as(&call_select($claim_calls))
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?)
            }

            async fn update_call(&mut self, before: &CallRow, after: &CallRow) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE calls SET state = $4, attempts = $5, deadline = $6, next_action_at = $7, answered_at = $8, \
                     answered_via = $9, answered_by = $10, answer_note = $11, late = $12, unreached = $13, \
                     escalated_to = $14, updated_at = $15, done_at = $16, done_report = $17, directive = $18, \
                     done_within = $19 WHERE id = $1 AND state = $2 AND attempts = $3",
                )
                .bind(before.id)
                .bind(before.state.as_str())
                .bind(before.attempts)
                .bind(after.state.as_str())
                .bind(after.attempts)
                .bind(after.deadline)
                .bind(after.next_action_at)
                .bind(after.answered_at)
                .bind(&after.answered_via)
                .bind(&after.answered_by)
                .bind(&after.answer_note)
                .bind(after.late)
                .bind(after.unreached)
                .bind(after.escalated_to)
                .bind(after.updated_at)
                .bind(after.done_at)
                .bind(&after.done_report)
                .bind(&after.directive)
                .bind(after.done_within)
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_message(&mut self, m: &NewMessage) -> StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO messages (alert_id, call_id, channel, recipient, purpose, subject, body, code, link, \
                     state, attempts, next_attempt_at, created_at, priority) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 0, $10, $10, $11) RETURNING id",
                )
                .bind(m.alert_id)
                .bind(m.call_id)
                .bind(&m.channel)
                .bind(&m.recipient)
                .bind(m.purpose.as_str())
                .bind(&m.subject)
                .bind(&m.body)
                .bind(&m.code)
                .bind(&m.link)
                .bind(m.now)
                .bind(m.priority)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(id)
            }

            async fn cancel_queued_messages(&mut self, call_id: i64) -> StoreResult<u64> {
                let done = sqlx::query("UPDATE messages SET state = 'cancelled' WHERE call_id = $1 AND state = 'queued'")
                    .bind(call_id)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn finish_message(&mut self, id: i64, lease_until: i64, result: &SendResult, now: i64) -> StoreResult<bool> {
                Ok(finish_query(id, lease_until, result, now).execute(&mut *self.tx).await?.rows_affected() == 1)
            }

            async fn finish_sent(&mut self, sent: &[(i64, Option<String>)], lease_until: i64, now: i64) -> StoreResult<Vec<i64>> {
                let mut ours = Vec::with_capacity(sent.len());
                // SQLite reads the id as an integer already, and a CAST there keeps its planner
                // from looking each message up by id (measured: a scan per row).
                let id = if $backend == Backend::Sqlite { "j.value ->> 0" } else { "CAST(j.value ->> 0 AS BIGINT)" };
                // SQLite: `NOT INDEXED` leaves it one way to find a message, by its id for each
                // row of `j`; with statistics of a table in mid-fan-out it chose to scan the
                // lease index for every row instead (measured: 0.2 s for 900 messages).
                let target = if $backend == Backend::Sqlite { "messages NOT INDEXED" } else { "messages" };
                let update = format!(
                    "UPDATE {target} SET state = 'sent', sent_at = $2, provider_id = j.value ->> 1, \
                     lease_until = NULL, last_error = NULL FROM {} \
                     WHERE messages.id = {id} AND messages.state = 'sending' AND messages.lease_until = $3",
                    json_rows($backend)
                );
                for chunk in sent.chunks(JSON_CHUNK) {
                    let param = json_param(chunk.iter().map(|(id, p)| json!([id, p])).collect());
                    if $backend == Backend::Postgres {
                        let rows: Vec<(i64,)> = sqlx::query_as(&format!("{update} RETURNING messages.id"))
                            .bind(&param).bind(now).bind(lease_until).fetch_all(&mut *self.tx).await?;
                        ours.extend(rows.into_iter().map(|r| r.0));
                        continue;
                    }
                    // One writer: the messages are still ours unless a lease ran out, which the
                    // count shows; only then are the ones recorded read back (one JSON row).
                    let n = sqlx::query(&update).bind(&param).bind(now).bind(lease_until).execute(&mut *self.tx).await?.rows_affected();
                    if n as usize == chunk.len() {
                        ours.extend(chunk.iter().map(|(id, _)| *id));
                        continue;
                    }
                    let (json,): (String,) = sqlx::query_as(
                        "SELECT json_group_array(id) FROM messages WHERE id IN (SELECT j.value ->> 0 FROM json_each($1) AS j) \
                         AND state = 'sent' AND sent_at = $2",
                    )
                    .bind(&param).bind(now).fetch_one(&mut *self.tx).await?;
                    let ids: Vec<i64> = serde_json::from_str(&json)
                        .map_err(|e| $crate::error::StoreError::Corrupt(format!("sent messages: {e}")))?;
                    ours.extend(ids);
                }
                Ok(ours)
            }

            async fn count_calls(&mut self, alert_id: i64) -> StoreResult<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM calls WHERE alert_id = $1")
                    .bind(alert_id)
                    .fetch_one(&mut *self.tx)
                    .await?;
                Ok(n)
            }

            async fn first_sight(&mut self, channel: &str, provider_id: &str, now: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO inbound_seen (channel, provider_id, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(channel)
                .bind(provider_id)
                .bind(now)
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_failover(&mut self, id: i64, channel: &str, now: i64) -> StoreResult<i64> {
                let (new_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO messages (alert_id, call_id, channel, recipient, purpose, subject, body, code, link, \
                     state, attempts, next_attempt_at, created_at, priority, tried_channels) \
                     SELECT alert_id, call_id, $2, recipient, purpose, subject, body, code, link, 'queued', 0, $3, $3, \
                            priority, tried_channels || channel || ',' \
                     FROM messages WHERE id = $1 RETURNING id",
                )
                .bind(id)
                .bind(channel)
                .bind(now)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(new_id)
            }

            async fn insert_messages(&mut self, messages: &[NewMessage]) -> StoreResult<()> {
                if $backend == Backend::Sqlite {
                    // Bound values: SQLite reads a JSON row's fields by parsing it again per column,
                    // which for long message bodies cost more than the insert itself.
                    for rows in values_slices(messages) {
                        let sql = values_sql(MESSAGES_VALUES.0, MESSAGES_VALUES.1, rows.len());
                        let mut q = sqlx::query(&sql);
                        for m in rows {
                            q = bind_message(q, m);
                        }
                        q.execute(&mut *self.tx).await?;
                    }
                    return Ok(());
                }
                let sql = insert_messages_from("j", json_rows($backend), None);
                for chunk in messages.chunks(JSON_CHUNK) {
                    let rows = chunk.iter().map(|m| message_json(m, None)).collect();
                    sqlx::query(&sql).bind(json_param(rows)).execute(&mut *self.tx).await?;
                }
                Ok(())
            }

            async fn insert_messages_claimed(&mut self, messages: &[NewMessage], lease_until: i64) -> StoreResult<Vec<MessageRow>> {
                if messages.is_empty() {
                    return Ok(Vec::new());
                }
                let mut ids = Vec::with_capacity(messages.len());
                if $backend == Backend::Sqlite {
                    let keys = messages.iter().map(|m| json!([m.call_id, m.channel])).collect();
                    let bind = binder(|q, m: &NewMessage| bind_message(q, m).bind(lease_until));
                    ids = insert_with_consecutive_ids(
                        &mut self.tx, CLAIMED_MESSAGES_VALUES, messages, bind, "messages", "json_array(call_id, channel)", keys,
                    )
                    .await?;
                } else {
                    // RETURNING in no promised order: matched back by call and channel (a call
                    // has one message per channel in one batch).
                    let sql = format!("{} RETURNING id, call_id, channel", insert_messages_from("j", json_rows($backend), Some("$2")));
                    for chunk in messages.chunks(JSON_CHUNK) {
                        let rows = chunk.iter().map(|m| message_json(m, None)).collect();
                        let back: Vec<(i64, Option<i64>, String)> =
                            sqlx::query_as(&sql).bind(json_param(rows)).bind(lease_until).fetch_all(&mut *self.tx).await?;
                        let by_key: std::collections::HashMap<(Option<i64>, &str), i64> =
                            back.iter().map(|(id, call, channel)| ((*call, channel.as_str()), *id)).collect();
                        for m in chunk {
                            ids.push(*by_key.get(&(m.call_id, m.channel.as_str())).ok_or_else(|| {
                                $crate::error::StoreError::Corrupt(format!("no id came back for a message of call {:?}", m.call_id))
                            })?);
                        }
                    }
                }
                Ok(messages
                    .iter()
                    .zip(ids)
                    .map(|(m, id)| MessageRow {
                        id,
                        alert_id: m.alert_id,
                        call_id: m.call_id,
                        channel: m.channel.clone(),
                        recipient: m.recipient.clone(),
                        purpose: m.purpose.as_str().to_string(),
                        subject: m.subject.clone(),
                        body: m.body.clone(),
                        code: m.code.clone(),
                        link: m.link.clone(),
                        state: "sending".into(),
                        attempts: 1,
                        next_attempt_at: m.now,
                        lease_until: Some(lease_until),
                        provider_id: None,
                        last_error: None,
                        created_at: m.now,
                        sent_at: None,
                        delivered_at: None,
                        priority: m.priority,
                        tried_channels: String::new(),
                    })
                    .collect())
            }

            async fn insert_events(&mut self, events: &[NewEvent]) -> StoreResult<()> {
                if $backend == Backend::Sqlite {
                    // Bound values, as for messages.
                    for rows in values_slices(events) {
                        let sql = values_sql(EVENTS_VALUES.0, EVENTS_VALUES.1, rows.len());
                        let mut q = sqlx::query(&sql);
                        for e in rows {
                            q = q.bind(e.alert_id).bind(e.call_id).bind(e.at).bind(e.from_state.map(|s| s.as_str()))
                                .bind(e.to_state.as_str()).bind(&e.actor).bind(&e.via).bind(&e.note);
                        }
                        q.execute(&mut *self.tx).await?;
                    }
                    return Ok(());
                }
                let sql = format!(
                    "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note) \
                     SELECT CAST(j.value ->> 0 AS BIGINT), CAST(j.value ->> 1 AS BIGINT), CAST(j.value ->> 2 AS BIGINT), \
                            j.value ->> 3, j.value ->> 4, j.value ->> 5, j.value ->> 6, j.value ->> 7 FROM {}",
                    json_rows($backend)
                );
                for chunk in events.chunks(JSON_CHUNK) {
                    let rows = chunk
                        .iter()
                        .map(|e| {
                            json!([e.alert_id, e.call_id, e.at, e.from_state.map(|s| s.as_str()), e.to_state.as_str(),
                                   e.actor, e.via, e.note])
                        })
                        .collect();
                    sqlx::query(&sql).bind(json_param(rows)).execute(&mut *self.tx).await?;
                }
                Ok(())
            }

            async fn advance_calls(
                &mut self,
                ids: &[i64],
                from: jiaoying_core::CallState,
                to: jiaoying_core::CallState,
                actor: &str,
                now: i64,
            ) -> StoreResult<usize> {
                let rows = json_rows($backend);
                let id = if $backend == Backend::Sqlite { "j.value" } else { "CAST(j.value AS BIGINT)" };
                let chosen = format!("id IN (SELECT {id} FROM {rows}) AND state = $3");
                let update = format!("UPDATE calls SET state = $4, updated_at = $2 WHERE {chosen}");
                let log = "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note) \
                           SELECT alert_id, id, $2, $3, $4, $5, NULL, NULL";
                let mut moved = 0;
                for chunk in ids.chunks(JSON_CHUNK) {
                    let param = json_param(chunk.iter().map(|id| json!(id)).collect());
                    moved += if $backend == Backend::Sqlite {
                        // One writer: the calls that are `from` now are the ones the update
                        // moves, so their events are written first, and nothing comes back.
                        sqlx::query(&format!("{log} FROM calls WHERE {chosen} ORDER BY id"))
                            .bind(&param).bind(now).bind(from.as_str()).bind(to.as_str()).bind(actor)
                            .execute(&mut *self.tx).await?;
                        sqlx::query(&update).bind(&param).bind(now).bind(from.as_str()).bind(to.as_str())
                            .execute(&mut *self.tx).await?.rows_affected()
                    } else {
                        // One round trip: the calls actually moved, and their events.
                        sqlx::query(&format!("WITH moved AS ({update} RETURNING id, alert_id) {log} FROM moved ORDER BY id"))
                            .persistent(KEEP_PLAN)
                            .bind(&param).bind(now).bind(from.as_str()).bind(to.as_str()).bind(actor)
                            .execute(&mut *self.tx).await?.rows_affected()
                    } as usize;
                }
                Ok(moved)
            }

            async fn insert_event(&mut self, e: &NewEvent) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(e.alert_id)
                .bind(e.call_id)
                .bind(e.at)
                .bind(e.from_state.map(|s| s.as_str()))
                .bind(e.to_state.as_str())
                .bind(&e.actor)
                .bind(&e.via)
                .bind(&e.note)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            // --- scheduled duties (issue 7) ---

            async fn claim_duty_run(&mut self, run: &NewDutyRun) -> StoreResult<Option<i64>> {
                // Two instances inserting the same pair: on PostgreSQL the second waits on the
                // unique index until the first commits (then takes nothing) or rolls back (then
                // takes it); on SQLite the single writer serialises them.
                let id: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO duty_runs (duty, scheduled_for, claimed_by, started_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (duty, scheduled_for) DO NOTHING RETURNING id",
                )
                .bind(&run.duty)
                .bind(run.scheduled_for)
                .bind(&run.claimed_by)
                .bind(run.now)
                .fetch_optional(&mut *self.tx)
                .await?;
                Ok(id.map(|r| r.0))
            }

            async fn set_duty_run(&mut self, id: i64, setup: &DutyRunSetup) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE duty_runs SET alert_id = $2, window_ends_at = $3, remind_at = $4, summary = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(setup.alert_id)
                .bind(setup.window_ends_at)
                .bind(setup.remind_at)
                .bind(setup.summary.as_deref())
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn mark_duty_run_reminded(&mut self, id: i64, now: i64) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE duty_runs SET reminded_at = $2 WHERE id = $1 AND reminded_at IS NULL")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn mark_duty_run_finished(&mut self, id: i64, now: i64, summary: Option<&str>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE duty_runs SET finished_at = $2, summary = COALESCE($3, summary) WHERE id = $1 AND finished_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .bind(summary)
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_inspection_request(&mut self, run_id: i64, person_id: &str, now: i64) -> StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO inspection_requests (run_id, person_id, created_at) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(run_id)
                .bind(person_id)
                .bind(now)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(id)
            }

            async fn insert_inspection(&mut self, i: &NewInspection) -> StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO inspections (person_id, unit_id, at, via, report, request_id) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(&i.person_id)
                .bind(i.unit_id.as_deref())
                .bind(i.at)
                .bind(&i.via)
                .bind(&i.report)
                .bind(i.request_id)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(id)
            }

            async fn first_sights(&mut self, seen: &[(String, String)], now: i64) -> StoreResult<Vec<bool>> {
                let rows = json_rows($backend);
                let sqlite = $backend == Backend::Sqlite;
                let mut new = std::collections::HashSet::new();
                for chunk in seen.chunks(JSON_CHUNK) {
                    let param = json_param(chunk.iter().map(|(c, p)| json!([c, p])).collect());
                    if sqlite {
                        // One writer: what is not there before the insert is what the insert adds.
                        // Read as one row (the driver hands rows over one wake-up at a time).
                        let (found,): (String,) = sqlx::query_as(&format!(
                            "SELECT json_group_array(json_array(s.channel, s.provider_id)) FROM {rows} \
                             JOIN inbound_seen s ON s.channel = j.value ->> 0 AND s.provider_id = j.value ->> 1"
                        ))
                        .bind(&param)
                        .fetch_one(&mut *self.tx)
                        .await?;
                        let old: std::collections::HashSet<(String, String)> = serde_json::from_str::<Vec<(String, String)>>(&found)
                            .map_err(|e| $crate::error::StoreError::Corrupt(format!("inbound ids seen: {e}")))?
                            .into_iter()
                            .collect();
                        // `WHERE true`: SQLite's parser needs it before an upsert clause after SELECT.
                        sqlx::query(&format!(
                            "INSERT INTO inbound_seen (channel, provider_id, seen_at) \
                             SELECT j.value ->> 0, j.value ->> 1, $2 FROM {rows} WHERE true ON CONFLICT DO NOTHING"
                        ))
                        .bind(&param)
                        .bind(now)
                        .execute(&mut *self.tx)
                        .await?;
                        new.extend(chunk.iter().filter(|k| !old.contains(*k)).cloned());
                    } else {
                        let rows: Vec<(String, String)> = sqlx::query_as(&format!(
                            "INSERT INTO inbound_seen (channel, provider_id, seen_at) \
                             SELECT j.value ->> 0, j.value ->> 1, $2 FROM {rows} ON CONFLICT DO NOTHING \
                             RETURNING channel, provider_id"
                        ))
                        .bind(&param)
                        .bind(now)
                        .fetch_all(&mut *self.tx)
                        .await?;
                        new.extend(rows);
                    }
                }
                Ok(seen.iter().map(|k| new.contains(k)).collect())
            }

            async fn calls_by_ids(&mut self, ids: &[i64]) -> StoreResult<Vec<CallRow>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$DB>::new(call_select("WHERE id IN ("));
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    out.extend(q.build_query_as::<CallRow>().fetch_all(&mut *self.tx).await?);
                }
                Ok(out)
            }

            async fn calls_by_mobile_and_codes(&mut self, pairs: &[(String, String)]) -> StoreResult<Vec<(String, CallRow)>> {
                let sqlite = $backend == Backend::Sqlite;
                let columns: Vec<String> = CALL_COLUMNS.split(',').map(|c| c.trim()).map(|c| {
                    match (sqlite, c) {
                        // SQLite keeps booleans as 0/1; JSON wants true/false.
                        (true, "late" | "unreached") => format!("'{c}', json(iif(c.{c}, 'true', 'false'))"),
                        (true, _) => format!("'{c}', c.{c}"),
                        (false, _) => format!("c.{c}"),
                    }
                }).collect();
                // SQLite's driver hands each row over from its worker thread one at a time (a
                // wake-up each): there the burst's calls come back as one JSON row.
                let select = if sqlite {
                    format!("SELECT json_group_array(json_object('mobile_in', j.value ->> 0, {}))", columns.join(", "))
                } else {
                    format!("SELECT j.value ->> 0 AS mobile_in, {}", columns.join(", "))
                };
                let sql = if sqlite {
                    format!(
                        "{select} FROM {} JOIN persons p ON p.mobile = j.value ->> 0 \
                         JOIN calls c ON c.person_id = p.id AND c.reply_code = j.value ->> 1",
                        json_rows($backend)
                    )
                } else {
                    // Per pair, the number's persons and then their calls, by index: left to
                    // itself PostgreSQL hashes every call by code (measured: a scan of all
                    // calls per burst). `OFFSET 0` keeps the subquery from being flattened.
                    format!(
                        "{select} FROM {} CROSS JOIN LATERAL (SELECT c.* FROM persons p JOIN calls c \
                         ON c.person_id = p.id WHERE p.mobile = j.value ->> 0 AND c.reply_code = j.value ->> 1 \
                         OFFSET 0) c",
                        json_rows($backend)
                    )
                };
                let mut out = Vec::with_capacity(pairs.len());
                for chunk in pairs.chunks(JSON_CHUNK) {
                    let param = json_param(chunk.iter().map(|(m, c)| json!([m, c])).collect());
                    let rows: Vec<CodedCall> = if sqlite {
                        let (json,): (String,) = sqlx::query_as(&sql).bind(param).fetch_one(&mut *self.tx).await?;
                        serde_json::from_str(&json)
                            .map_err(|e| $crate::error::StoreError::Corrupt(format!("calls of reply codes: {e}")))?
                    } else {
                        sqlx::query_as(&sql).bind(param).fetch_all(&mut *self.tx).await?
                    };
                    out.extend(rows.into_iter().map(|r| (r.mobile_in, r.call)));
                }
                Ok(out)
            }

            async fn answer_calls(
                &mut self,
                answers: &[CallAnswer],
                confirmations: &[NewMessage],
                now: i64,
            ) -> StoreResult<Vec<i64>> {
                let rows = json_rows($backend);
                let update = format!(
                    "UPDATE calls SET state = 'answered', answered_at = $2, answered_via = j.value ->> 3, \
                     answered_by = j.value ->> 4, answer_note = j.value ->> 5, late = $3, next_action_at = NULL, \
                     updated_at = $2 FROM {rows} WHERE calls.id = CAST(j.value ->> 0 AS BIGINT) \
                     AND calls.state = j.value ->> 1 AND calls.attempts = CAST(j.value ->> 2 AS BIGINT)"
                );
                let mut done = Vec::with_capacity(answers.len());
                for (n, chunk) in answers.chunks(JSON_CHUNK).enumerate() {
                    let param = json_param(
                        chunk.iter().map(|a| json!([a.call_id, a.state, a.attempts, a.via, a.actor, a.note])).collect(),
                    );
                    let confirm = &confirmations[n * JSON_CHUNK..(n * JSON_CHUNK + chunk.len()).min(confirmations.len())];
                    if $backend == Backend::Sqlite {
                        // One writer, and the burst read these calls in this transaction: every
                        // compare-and-set holds, which the count confirms without a row per call
                        // (the driver hands rows over one wake-up at a time).
                        let n = sqlx::query(&update).bind(param).bind(now).bind(false).execute(&mut *self.tx).await?.rows_affected();
                        if n as usize != chunk.len() {
                            return Err($crate::error::StoreError::Conflict(format!(
                                "{} of {} answered calls changed under the writer", chunk.len() - n as usize, chunk.len()
                            )));
                        }
                        let events: Vec<NewEvent> = chunk
                            .iter()
                            .map(|a| NewEvent {
                                alert_id: a.alert_id,
                                call_id: a.call_id,
                                at: now,
                                from_state: a.state.parse().ok(),
                                to_state: jiaoying_core::CallState::Answered,
                                actor: a.actor.clone(),
                                via: Some(a.via.clone()),
                                note: a.note.clone(),
                            })
                            .collect();
                        self.insert_events(&events).await?;
                        let ids: Vec<i64> = chunk.iter().map(|a| a.call_id).collect();
                        self.cancel_queued_messages_of(&ids).await?;
                        self.insert_messages(confirm).await?;
                        done.extend(ids);
                    } else {
                        // One round trip: the answers, their events and the withdrawn repeats.
                        let rows: Vec<(i64,)> = sqlx::query_as(&format!(
                            "WITH answered AS ({update} RETURNING calls.id, calls.alert_id, j.value ->> 1 AS from_state, \
                                 j.value ->> 3 AS via, j.value ->> 4 AS actor, j.value ->> 5 AS note), \
                             {ANSWERED_LOGGED_AND_WITHDRAWN}, \
                             confirmed AS ({} WHERE CAST(m.value ->> 11 AS BIGINT) IN (SELECT id FROM answered)) \
                             SELECT id FROM answered",
                            insert_messages_from("m", "jsonb_array_elements($4::jsonb) AS m(value)", None)
                        ))
                        .bind(param)
                        .bind(now)
                        .bind(false)
                        .bind(json_param(
                            chunk.iter().zip(confirm).map(|(a, m)| message_json(m, Some(a.call_id))).collect(),
                        ))
                        .fetch_all(&mut *self.tx)
                        .await?;
                        done.extend(rows.into_iter().map(|r| r.0));
                    }
                }
                Ok(done)
            }

            async fn commit(self: Box<Self>) -> StoreResult<()> {
                self.tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $Store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn migrate(&self) -> StoreResult<()> {
                self.run_migrations().await
            }

            async fn close(&self) {
                self.write.close().await;
                self.read.close().await;
            }

            async fn ready(&self) -> StoreResult<bool> {
                let applied: Vec<(i64,)> =
                    sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE").fetch_all(&self.read).await?;
                let applied: std::collections::HashSet<i64> = applied.into_iter().map(|r| r.0).collect();
                Ok(Self::migrator().iter().all(|m| applied.contains(&m.version)))
            }

            async fn answer_codes_at_once(&self, answers: &[CodedAnswer], now: i64) -> StoreResult<Option<Vec<CodedOutcome>>> {
                self.answer_codes_in_one_statement(answers, now).await
            }

            async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
                Ok(Box::new($Tx { tx: self.begin_write().await? }))
            }

            async fn upsert_registry(&self, registry: &Registry, now: i64) -> StoreResult<RegistryChanges> {
                let existing = self.load_registry().await?;
                let mut tx = self.begin_write().await?;
                let changes = write_registry(&mut tx, &existing, registry, now).await?;
                // Every instance's copy in memory is stale from this commit on.
                sqlx::query("UPDATE registry_generation SET generation = generation + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                // Read back now, so the next alert does not pay for it (~100 ms at 20 000 persons).
                self.load_registry().await?;
                Ok(changes)
            }

            async fn refresh_statistics(&self) -> StoreResult<()> {
                let statement = match $backend {
                    Backend::Postgres => "ANALYZE calls, messages, call_events, inbound_seen",
                    // SQLite plans from its indexes without statistics; `optimize` gathers them
                    // only where it judges they would help.
                    Backend::Sqlite => "PRAGMA optimize",
                };
                sqlx::query(statement).execute(&self.write).await?;
                Ok(())
            }

            async fn load_registry(&self) -> StoreResult<std::sync::Arc<Registry>> {
                let (generation,): (i64,) =
                    sqlx::query_as("SELECT generation FROM registry_generation WHERE id = 1").fetch_one(&self.read).await?;
                if let Some(registry) = self.registry_cache.get(generation) {
                    return Ok(registry);
                }
                let registry = std::sync::Arc::new($crate::registry_rows::load(&self.read).await?);
                self.registry_cache.put(generation, registry.clone());
                Ok(registry)
            }

            async fn persons_by_mobile(&self, mobile: &MobileNumber) -> StoreResult<Vec<Person>> {
                let rows: Vec<$crate::registry_rows::PersonRow> =
                    sqlx::query_as("SELECT * FROM persons WHERE mobile = $1 ORDER BY id")
                        .bind(mobile.as_str())
                        .fetch_all(&self.read)
                        .await?;
                rows.into_iter().map(|r| r.into_person()).collect()
            }

            async fn list_alerts(&self, f: &AlertFilter) -> StoreResult<(Vec<AlertRow>, i64)> {
                let state = f.state.clone();
                let rows = sqlx::query_as(
                    "SELECT * FROM alerts WHERE ($1 IS NULL OR state = $1) ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
                )
                .bind(&state)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.read)
                .await?;
                let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM alerts WHERE ($1 IS NULL OR state = $1)")
                    .bind(&state)
                    .fetch_one(&self.read)
                    .await?;
                Ok((rows, total))
            }

            async fn alert(&self, id: i64) -> StoreResult<Option<AlertRow>> {
                Ok(sqlx::query_as("SELECT * FROM alerts WHERE id = $1").bind(id).fetch_optional(&self.read).await?)
            }

            async fn alert_id_for_key(&self, key: &AlertKey) -> StoreResult<Option<i64>> {
                let id: Option<(i64,)> = sqlx::query_as(
                    "SELECT alert_id FROM alert_messages WHERE sender = $1 AND identifier = $2 AND sent = $3",
                )
                .bind(&key.sender)
                .bind(&key.identifier)
                .bind(key.sent.millis())
                .fetch_optional(&self.read)
                .await?;
                Ok(id.map(|r| r.0))
            }

            async fn call_counts(&self, alert_ids: &[i64]) -> StoreResult<Vec<StateCount>> {
                let mut out = Vec::new();
                // One statement per alert keeps the SQL identical on both backends (no arrays);
                // lists are paged to at most 1000 alerts.
                for id in alert_ids {
                    let rows: Vec<StateCount> = sqlx::query_as(
                        "SELECT alert_id, state, COUNT(*) AS n FROM calls WHERE alert_id = $1 GROUP BY alert_id, state",
                    )
                    .bind(id)
                    .fetch_all(&self.read)
                    .await?;
                    out.extend(rows);
                }
                Ok(out)
            }

            async fn calls_of_alert(&self, alert_id: i64) -> StoreResult<Vec<CallListRow>> {
                let cols: String = CALL_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
                Ok(sqlx::query_as(&format!(
                    "SELECT {cols}, p.name AS name FROM calls c LEFT JOIN persons p ON p.id = c.person_id \
                     WHERE c.alert_id = $1 ORDER BY c.id"
                ))
                .bind(alert_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn call(&self, id: i64) -> StoreResult<Option<CallRow>> {
                Ok(sqlx::query_as(&call_select("WHERE id = $1")).bind(id).fetch_optional(&self.read).await?)
            }

            async fn answerable_calls_of_person(&self, person_id: &str) -> StoreResult<Vec<CallRow>> {
                Ok(sqlx::query_as(&call_select(&format!(
                    "WHERE person_id = $1 AND state IN {OPEN_STATES_SQL} ORDER BY id DESC"
                )))
                .bind(person_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn calls_by_mobile_and_code(&self, mobile: &MobileNumber, code: &str) -> StoreResult<Vec<CallRow>> {
                Ok(sqlx::query_as(&call_select(
                    "WHERE reply_code = $2 AND person_id IN (SELECT id FROM persons WHERE mobile = $1) ORDER BY id DESC",
                ))
                .bind(mobile.as_str())
                .bind(code)
                .fetch_all(&self.read)
                .await?)
            }

            async fn messages_of_alert(&self, alert_id: i64) -> StoreResult<Vec<MessageRow>> {
                Ok(sqlx::query_as("SELECT * FROM messages WHERE alert_id = $1 ORDER BY id")
                    .bind(alert_id)
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn events_of_alert(&self, alert_id: i64) -> StoreResult<Vec<EventRow>> {
                Ok(sqlx::query_as("SELECT * FROM call_events WHERE alert_id = $1 ORDER BY id")
                    .bind(alert_id)
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn events_after(&self, after_id: i64, limit: i64) -> StoreResult<Vec<StreamEvent>> {
                Ok(sqlx::query_as(
                    "SELECT e.id, e.alert_id, e.call_id, c.person_id, e.to_state, e.at FROM call_events e \
                     JOIN calls c ON c.id = e.call_id WHERE e.id > $1 ORDER BY e.id LIMIT $2",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.read)
                .await?)
            }

            async fn next_call_due(&self) -> StoreResult<Option<i64>> {
                let (t,): (Option<i64>,) = sqlx::query_as("SELECT MIN(next_action_at) FROM calls WHERE next_action_at IS NOT NULL")
                    .fetch_one(&self.read)
                    .await?;
                Ok(t)
            }

            async fn next_message_due(&self, channel: Option<&str>) -> StoreResult<Option<i64>> {
                // A channel's earliest queued message, one priority at a time. Its queue index
                // leads with the priority (the claim's order), so a plain `MIN(next_attempt_at)`
                // read the channel's whole backlog: 15–22 ms at 100 000 queued on PostgreSQL,
                // on every step of a rate-limited channel. Walking the few distinct priorities
                // from the top (each found by the index), and taking each one's earliest due
                // from the index too, reads a handful of entries whatever the backlog.
                const CHANNEL_NEXT_QUEUED: &str = "WITH RECURSIVE priorities (p) AS (\
                         SELECT MAX(priority) FROM messages WHERE channel = $1 AND state = 'queued' \
                         UNION ALL \
                         SELECT (SELECT MAX(priority) FROM messages \
                                 WHERE channel = $1 AND state = 'queued' AND priority < priorities.p) \
                         FROM priorities WHERE priorities.p IS NOT NULL) \
                     SELECT MIN((SELECT MIN(next_attempt_at) FROM messages \
                                 WHERE channel = $1 AND state = 'queued' AND priority = priorities.p)) \
                     FROM priorities WHERE priorities.p IS NOT NULL";
                let (q, s): (Option<i64>, Option<i64>) = match channel {
                    None => (
                        sqlx::query_as::<_, (Option<i64>,)>("SELECT MIN(next_attempt_at) FROM messages WHERE state = 'queued'")
                            .fetch_one(&self.read)
                            .await?
                            .0,
                        sqlx::query_as::<_, (Option<i64>,)>("SELECT MIN(lease_until) FROM messages WHERE state = 'sending'")
                            .fetch_one(&self.read)
                            .await?
                            .0,
                    ),
                    Some(ch) => (
                        sqlx::query_as::<_, (Option<i64>,)>(CHANNEL_NEXT_QUEUED)
                        .bind(ch)
                        .fetch_one(&self.read)
                        .await?
                        .0,
                        sqlx::query_as::<_, (Option<i64>,)>(
                            "SELECT MIN(lease_until) FROM messages WHERE channel = $1 AND state = 'sending'",
                        )
                        .bind(ch)
                        .fetch_one(&self.read)
                        .await?
                        .0,
                    ),
                };
                Ok(match (q, s) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                })
            }

            async fn claim_messages(
                &self,
                now: i64,
                lease_until: i64,
                limit: i64,
                channel: Option<&str>,
            ) -> StoreResult<Vec<MessageRow>> {
                let mut tx = self.begin_write().await?;
                // A claim whose lease ran out belongs to a sender that stopped mid-send (a crash,
                // a lost instance): it goes back to the queue marked, so the next sender asks the
                // provider before sending again.
                let reclaim = "UPDATE messages SET state = 'queued', lease_until = NULL, next_attempt_at = $1, last_error = $2 \
                               WHERE state = 'sending' AND lease_until <= $1";
                match channel {
                    Some(ch) => sqlx::query(&format!("{reclaim} AND channel = $3")).persistent(KEEP_PLAN).bind(now).bind(INTERRUPTED_SEND).bind(ch).execute(&mut *tx).await?,
                    None => sqlx::query(reclaim).persistent(KEEP_PLAN).bind(now).bind(INTERRUPTED_SEND).execute(&mut *tx).await?,
                };
                let mut rows: Vec<MessageRow> = if $backend == Backend::Sqlite {
                    let (ids,): (String,) = match channel {
                        Some(ch) => sqlx::query_as($claim_channel_messages).bind(now).bind(limit).bind(ch).fetch_one(&mut *tx).await?,
                        None => sqlx::query_as($claim_messages).bind(now).bind(limit).fetch_one(&mut *tx).await?,
                    };
                    sqlx::query("UPDATE messages SET state = 'sending', lease_until = $2, attempts = attempts + 1 \
                                 WHERE id IN (SELECT value FROM json_each($1))")
                        .bind(&ids).bind(lease_until).execute(&mut *tx).await?;
                    let (json,): (String,) = sqlx::query_as(&messages_as_json_row("id IN (SELECT value FROM json_each($1))"))
                        .bind(&ids).fetch_one(&mut *tx).await?;
                    serde_json::from_str(&json).map_err(|e| $crate::error::StoreError::Corrupt(format!("claimed messages: {e}")))?
                } else {
                    match channel {
                        Some(ch) => sqlx::query_as($claim_channel_messages).persistent(KEEP_PLAN).bind(now).bind(lease_until).bind(limit).bind(ch).fetch_all(&mut *tx).await?,
                        None => sqlx::query_as($claim_messages).persistent(KEEP_PLAN).bind(now).bind(lease_until).bind(limit).fetch_all(&mut *tx).await?,
                    }
                };
                tx.commit().await?;
                // RETURNING does not keep the subquery's order; the most urgent go first.
                rows.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.next_attempt_at.cmp(&b.next_attempt_at)).then(a.id.cmp(&b.id)));
                Ok(rows)
            }

            async fn finish_message(&self, id: i64, lease_until: i64, result: &SendResult, now: i64) -> StoreResult<bool> {
                Ok(finish_query(id, lease_until, result, now).execute(&self.write).await?.rows_affected() == 1)
            }

            async fn outbox_backlog(&self) -> StoreResult<Vec<BacklogRow>> {
                // One branch per state, so each reads its own partial index (migration 0014)
                // instead of every message ever sent.
                Ok(sqlx::query_as(
                    "SELECT channel, CAST(SUM(queued) AS BIGINT) AS queued, CAST(SUM(sending) AS BIGINT) AS sending, \
                            MIN(oldest_due) AS oldest_due FROM ( \
                         SELECT channel, COUNT(*) AS queued, 0 AS sending, MIN(next_attempt_at) AS oldest_due \
                         FROM messages WHERE state = 'queued' GROUP BY channel \
                         UNION ALL \
                         SELECT channel, 0, COUNT(*), NULL FROM messages WHERE state = 'sending' GROUP BY channel \
                     ) AS b GROUP BY channel ORDER BY channel",
                )
                .fetch_all(&self.read)
                .await?)
            }

            async fn message_receipt(&self, id: i64, delivered: bool, error: Option<&str>, now: i64) -> StoreResult<Option<MessageRow>> {
                let q = if delivered {
                    sqlx::query_as(
                        "UPDATE messages SET state = 'delivered', delivered_at = $2, last_error = NULL, lease_until = NULL \
                         WHERE id = $1 AND state IN ('sending', 'sent') RETURNING *",
                    )
                    .bind(id)
                    .bind(now)
                } else {
                    sqlx::query_as(
                        "UPDATE messages SET state = 'failed', last_error = $2, lease_until = NULL \
                         WHERE id = $1 AND state IN ('sending', 'sent') RETURNING *",
                    )
                    .bind(id)
                    .bind(error.unwrap_or("failed").to_string())
                };
                Ok(q.fetch_optional(&self.write).await?)
            }

            async fn message(&self, id: i64) -> StoreResult<Option<MessageRow>> {
                Ok(sqlx::query_as("SELECT * FROM messages WHERE id = $1").bind(id).fetch_optional(&self.read).await?)
            }

            async fn message_by_provider_id(&self, channel: &str, provider_id: &str) -> StoreResult<Option<MessageRow>> {
                Ok(sqlx::query_as("SELECT * FROM messages WHERE channel = $1 AND provider_id = $2 ORDER BY id DESC LIMIT 1")
                    .bind(channel)
                    .bind(provider_id)
                    .fetch_optional(&self.read)
                    .await?)
            }

            async fn first_sight(&self, channel: &str, provider_id: &str, now: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO inbound_seen (channel, provider_id, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(channel)
                .bind(provider_id)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn feed_state(&self, source: &str) -> StoreResult<Option<FeedStateRow>> {
                Ok(sqlx::query_as("SELECT * FROM feed_state WHERE source = $1").bind(source).fetch_optional(&self.read).await?)
            }

            async fn put_feed_state(&self, f: &FeedStateRow) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO feed_state (source, etag, last_modified, last_poll_at, last_success_at, last_taken_at, \
                     failures, last_error, next_poll_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (source) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified, \
                     last_poll_at = excluded.last_poll_at, last_success_at = excluded.last_success_at, \
                     last_taken_at = excluded.last_taken_at, failures = excluded.failures, \
                     last_error = excluded.last_error, next_poll_at = excluded.next_poll_at",
                )
                .bind(&f.source)
                .bind(&f.etag)
                .bind(&f.last_modified)
                .bind(f.last_poll_at)
                .bind(f.last_success_at)
                .bind(f.last_taken_at)
                .bind(f.failures)
                .bind(&f.last_error)
                .bind(f.next_poll_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn feed_entry(&self, source: &str, url: &str) -> StoreResult<Option<FeedEntryRow>> {
                Ok(sqlx::query_as("SELECT * FROM feed_entries WHERE source = $1 AND url = $2")
                    .bind(source)
                    .bind(url)
                    .fetch_optional(&self.read)
                    .await?)
            }

            async fn put_feed_entry(&self, e: &FeedEntryRow) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO feed_entries (source, url, etag, last_modified, taken_at, result) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, url) DO UPDATE SET etag = excluded.etag, \
                     last_modified = excluded.last_modified, taken_at = excluded.taken_at, result = excluded.result",
                )
                .bind(&e.source)
                .bind(&e.url)
                .bind(&e.etag)
                .bind(&e.last_modified)
                .bind(e.taken_at)
                .bind(&e.result)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn put_api_token(&self, name: &str, role: &str, token_hash: &str, now: i64) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_hash = excluded.token_hash, \
                     created_at = excluded.created_at",
                )
                .bind(name)
                .bind(role)
                .bind(token_hash)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn api_token(&self, token_hash: &str) -> StoreResult<Option<ApiTokenInfo>> {
                let row: Option<(String, String)> = sqlx::query_as("SELECT name, role FROM api_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.read)
                    .await?;
                Ok(row.map(|(name, role)| ApiTokenInfo { name, role }))
            }

            // --- board access: users and sessions (issue 6) ---
            async fn put_user(&self, name: &str, role: &str, password_hash: &str, now: i64) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let existing: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash, \
                     updated_at = excluded.updated_at RETURNING id",
                )
                .bind(name)
                .bind(role)
                .bind(password_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                // A new password (or role) ends the sessions signed in with the old one.
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(existing.is_none())
            }

            async fn user(&self, name: &str) -> StoreResult<Option<UserRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, name, role, password_hash, created_at, updated_at FROM users WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn insert_session(&self, s: &NewSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, csrf, created_at, idle_expires_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&s.token_hash)
                .bind(s.user_id)
                .bind(&s.csrf)
                .bind(s.created_at)
                .bind(s.idle_expires_at)
                .bind(s.expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn live_session(&self, token_hash: &str, now: i64) -> StoreResult<Option<SessionInfo>> {
                Ok(sqlx::query_as(
                    "SELECT s.user_id, u.name, u.role, s.csrf, s.created_at, s.idle_expires_at, s.expires_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.idle_expires_at > $2 AND s.expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn touch_session(&self, token_hash: &str, idle_expires_at: i64) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE sessions SET idle_expires_at = CASE WHEN $2 < expires_at THEN $2 ELSE expires_at END \
                     WHERE token_hash = $1 AND idle_expires_at < $2",
                )
                .bind(token_hash)
                .bind(idle_expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.write).await?;
                Ok(())
            }

            async fn delete_expired_sessions(&self, now: i64) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR idle_expires_at <= $1")
                    .bind(now)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn list_users(&self, now: i64) -> StoreResult<Vec<UserInfo>> {
                Ok(sqlx::query_as(
                    "SELECT u.id, u.name, u.role, u.created_at, u.updated_at, \
                            (SELECT COUNT(*) FROM sessions s \
                             WHERE s.user_id = u.id AND s.idle_expires_at > $1 AND s.expires_at > $1) AS sessions \
                     FROM users u ORDER BY u.name",
                )
                .bind(now)
                .fetch_all(&self.read)
                .await?)
            }

            async fn insert_user(&self, name: &str, role: &str, password_hash: &str, audit: &NewAdminAction) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(name)
                .bind(role)
                .bind(password_hash)
                .bind(audit.at)
                .execute(&mut *tx)
                .await?;
                insert_admin_action(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_user(
                &self,
                name: &str,
                role: Option<&str>,
                password_hash: Option<&str>,
                audit: &NewAdminAction,
            ) -> StoreResult<UserChange> {
                let mut tx = self.begin_write().await?;
                let Some((id, current)): Option<(i64, String)> = sqlx::query_as("SELECT id, role FROM users WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(UserChange::NotFound);
                };
                if current == "admin" && role.is_some_and(|r| r != "admin") && !other_admin(&mut tx, id).await? {
                    return Ok(UserChange::LastAdmin);
                }
                sqlx::query(
                    "UPDATE users SET role = COALESCE($2, role), password_hash = COALESCE($3, password_hash), \
                     updated_at = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(role)
                .bind(password_hash)
                .bind(audit.at)
                .execute(&mut *tx)
                .await?;
                if password_hash.is_some() {
                    // Sessions signed in with the old password end with it.
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                }
                insert_admin_action(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(UserChange::Done)
            }

            async fn delete_user(&self, name: &str, audit: &NewAdminAction) -> StoreResult<UserChange> {
                let mut tx = self.begin_write().await?;
                let Some((id, role)): Option<(i64, String)> = sqlx::query_as("SELECT id, role FROM users WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(UserChange::NotFound);
                };
                if role == "admin" && !other_admin(&mut tx, id).await? {
                    return Ok(UserChange::LastAdmin);
                }
                // The foreign key cascades too; said here so it does not rest on SQLite's pragma.
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
                insert_admin_action(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(UserChange::Done)
            }

            // --- board read models and officer actions (issue 6) ---

            async fn alert_call_stats(&self, alerts: &[(i64, i64)]) -> StoreResult<Vec<AlertCallStats>> {
                let mut out = Vec::with_capacity(alerts.len());
                // One statement per alert, as `call_counts`: identical SQL on both backends.
                for (id, cutoff) in alerts {
                    let row: AlertCallStats = sqlx::query_as(&format!(
                        "SELECT $1 AS alert_id, \
                                COALESCE(SUM(CASE WHEN state IN {OPEN_STATES_SQL} AND created_at < $2 THEN 1 ELSE 0 END), 0) AS overdue, \
                                COALESCE(SUM(CASE WHEN unreached THEN 1 ELSE 0 END), 0) AS unreached \
                         FROM calls WHERE alert_id = $1"
                    ))
                    .bind(id)
                    .bind(cutoff)
                    .fetch_one(&self.read)
                    .await?;
                    out.push(row);
                }
                Ok(out)
            }

            async fn alert_messages_of(&self, alert_id: i64) -> StoreResult<Vec<AlertMessageInfo>> {
                Ok(sqlx::query_as(
                    "SELECT id, alert_id, sender, identifier, sent, msg_type, received_at FROM alert_messages \
                     WHERE alert_id = $1 ORDER BY id",
                )
                .bind(alert_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn alert_actions_of(&self, alert_id: i64) -> StoreResult<Vec<AlertActionRow>> {
                Ok(sqlx::query_as("SELECT id, alert_id, at, actor, action, note FROM alert_actions WHERE alert_id = $1 ORDER BY id")
                    .bind(alert_id)
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn insert_alert_action(&self, a: &NewAlertAction) -> StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO alert_actions (alert_id, at, actor, action, note) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(a.alert_id)
                .bind(a.at)
                .bind(&a.actor)
                .bind(&a.action)
                .bind(&a.note)
                .fetch_one(&self.write)
                .await?;
                Ok(id)
            }

            async fn audit(&self, f: &AuditFilter) -> StoreResult<(Vec<AuditRow>, i64)> {
                // Both logs as one, filtered by optional parameters (a NULL parameter filters
                // nothing), so the SQL is one string on both backends.
                const LOG: &str = "(SELECT 'call' AS origin, e.id AS id, e.alert_id AS alert_id, e.call_id AS call_id, e.at AS at, \
                                           e.from_state AS from_state, e.to_state AS kind, e.actor AS actor, e.via AS via, \
                                           e.note AS note, c.person_id AS person_id, p.name AS name \
                                    FROM call_events e JOIN calls c ON c.id = e.call_id LEFT JOIN persons p ON p.id = c.person_id \
                                    UNION ALL \
                                    SELECT 'alert', a.id, a.alert_id, NULL, a.at, NULL, a.action, a.actor, NULL, a.note, NULL, NULL \
                                    FROM alert_actions a \
                                    UNION ALL \
                                    SELECT 'admin', d.id, NULL, NULL, d.at, NULL, d.action, d.actor, NULL, d.note, NULL, d.target \
                                    FROM admin_actions d) log";
                const WHERE: &str = "WHERE ($1 IS NULL OR alert_id = $1) AND ($2 IS NULL OR actor = $2) \
                                     AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5)";
                let rows: Vec<AuditRow> = sqlx::query_as(&format!(
                    "SELECT origin, id, alert_id, call_id, at, from_state, kind, actor, via, note, person_id, name \
                     FROM {LOG} {WHERE} ORDER BY at DESC, origin DESC, id DESC LIMIT $6 OFFSET $7"
                ))
                .bind(f.alert_id)
                .bind(f.actor.as_deref())
                .bind(f.kind.as_deref())
                .bind(f.from)
                .bind(f.to)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.read)
                .await?;
                let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {LOG} {WHERE}"))
                    .bind(f.alert_id)
                    .bind(f.actor.as_deref())
                    .bind(f.kind.as_deref())
                    .bind(f.from)
                    .bind(f.to)
                    .fetch_one(&self.read)
                    .await?;
                Ok((rows, total))
            }

            // --- registry administration (issue 7) ---

            async fn import_registry(&self, import: &RegistryImport, now: i64) -> StoreResult<ImportOutcome> {
                let existing = self.load_registry().await?;
                let mut tx = self.begin_write().await?;
                let r = &import.remove;
                for u in &r.units {
                    sqlx::query("DELETE FROM units WHERE id = $1").bind(u.as_str()).execute(&mut *tx).await?;
                }
                for p in &r.persons {
                    sqlx::query("DELETE FROM persons WHERE id = $1").bind(p.as_str()).execute(&mut *tx).await?;
                }
                for e in &r.rosters {
                    sqlx::query("DELETE FROM rosters WHERE area = $1 AND date = $2 AND shift = $3 AND person = $4")
                        .bind(e.area.as_str())
                        .bind(e.date.to_string())
                        .bind(e.shift.to_string())
                        .bind(e.person.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                for a in &r.areas {
                    sqlx::query("DELETE FROM areas WHERE code = $1").bind(a.as_str()).execute(&mut *tx).await?;
                }
                let changes = write_registry(&mut tx, &existing, &import.registry, now).await?;
                sqlx::query("INSERT INTO admin_actions (at, actor, action, target, note) VALUES ($1, $2, 'registry_import', 'registry', $3)")
                    .bind(now)
                    .bind(&import.actor)
                    .bind(&import.note)
                    .execute(&mut *tx)
                    .await?;
                // Every instance's copy in memory is stale from this commit on.
                sqlx::query("UPDATE registry_generation SET generation = generation + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(ImportOutcome { changes, removed: r.len() })
            }

            async fn update_person_contacts(&self, u: &ContactUpdate, now: i64) -> StoreResult<ContactOutcome> {
                let mut tx = self.begin_write().await?;
                // A no-op write first: on PostgreSQL it locks the row, so two admins editing the
                // same person log what each really replaced (SQLite's writer is already ours).
                let locked = sqlx::query("UPDATE persons SET updated_at = updated_at WHERE id = $1")
                    .bind(u.person_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                if locked.rows_affected() == 0 {
                    return Ok(ContactOutcome::NotFound);
                }
                let row: $crate::registry_rows::PersonRow = sqlx::query_as("SELECT * FROM persons WHERE id = $1")
                    .bind(u.person_id.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                let before = row.into_person()?;
                let mut after = before.clone();
                if let Some(m) = &u.mobile {
                    after.mobile = m.clone();
                }
                if let Some(e) = &u.email {
                    after.email = e.clone();
                }
                let mut fields = Vec::new();
                if after.mobile != before.mobile {
                    fields.push("mobile");
                }
                if after.email != before.email {
                    fields.push("email");
                }
                if fields.is_empty() {
                    return Ok(ContactOutcome::Unchanged(before));
                }
                sqlx::query("UPDATE persons SET mobile = $2, email = $3, updated_at = $4 WHERE id = $1")
                    .bind(u.person_id.as_str())
                    .bind(after.mobile.as_str())
                    .bind(after.email.as_deref())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO admin_actions (at, actor, action, target, note) VALUES ($1, $2, 'registry_contact', $3, $4)")
                    .bind(now)
                    .bind(&u.actor)
                    .bind(format!("person {}", u.person_id))
                    .bind(contact_change_note(&before, &after))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE registry_generation SET generation = generation + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(ContactOutcome::Changed { before, after, fields })
            }

            async fn registry_changes(&self, target: &str, limit: i64) -> StoreResult<Vec<RegistryChangeRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, at, actor, action, target, note FROM admin_actions \
                     WHERE target = $1 AND action IN ('registry_contact', 'registry_import') ORDER BY id DESC LIMIT $2",
                )
                .bind(target)
                .bind(limit)
                .fetch_all(&self.read)
                .await?)
            }

            // --- drills (issue 7) ---

            async fn open_reply_codes_now(&self, person_ids: &[&str]) -> StoreResult<Vec<(String, String)>> {
                let mut conn = self.read.acquire().await?;
                open_reply_codes_on(&mut conn, person_ids).await
            }

            async fn alerts_with_pending_fanout(&self) -> StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM alerts WHERE fanout_pending = 1 ORDER BY id")
                    .fetch_all(&self.read)
                    .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn alerts_with_status(&self, status: &str, limit: i64) -> StoreResult<Vec<AlertRow>> {
                Ok(sqlx::query_as("SELECT * FROM alerts WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT $2")
                    .bind(status)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?)
            }

            // --- scheduled duties (issue 7) ---

            async fn duty_runs(&self, duty: Option<&str>, limit: i64) -> StoreResult<Vec<DutyRunRow>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM duty_runs WHERE ($1 IS NULL OR duty = $1) ORDER BY scheduled_for DESC, id DESC LIMIT $2",
                )
                .bind(duty)
                .bind(limit)
                .fetch_all(&self.read)
                .await?)
            }

            async fn duty_run(&self, id: i64) -> StoreResult<Option<DutyRunRow>> {
                Ok(sqlx::query_as("SELECT * FROM duty_runs WHERE id = $1").bind(id).fetch_optional(&self.read).await?)
            }

            async fn duty_followups_due(&self, now: i64) -> StoreResult<Vec<DutyRunRow>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM duty_runs \
                     WHERE (remind_at IS NOT NULL AND reminded_at IS NULL AND remind_at <= $1) \
                        OR (window_ends_at IS NOT NULL AND finished_at IS NULL AND window_ends_at <= $1) \
                     ORDER BY id",
                )
                .bind(now)
                .fetch_all(&self.read)
                .await?)
            }

            async fn next_duty_followup(&self) -> StoreResult<Option<i64>> {
                let (a, b): (Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT (SELECT MIN(remind_at) FROM duty_runs WHERE remind_at IS NOT NULL AND reminded_at IS NULL), \
                            (SELECT MIN(window_ends_at) FROM duty_runs WHERE window_ends_at IS NOT NULL AND finished_at IS NULL)",
                )
                .fetch_one(&self.read)
                .await?;
                Ok(match (a, b) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                })
            }

            async fn inspection_request(&self, id: i64) -> StoreResult<Option<InspectionRequestRow>> {
                Ok(sqlx::query_as("SELECT id, run_id, person_id, created_at FROM inspection_requests WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?)
            }

            async fn last_inspections(&self, since: i64) -> StoreResult<(Vec<LastInspection>, Vec<LastInspection>)> {
                let by_person: Vec<LastInspection> = sqlx::query_as(
                    "SELECT person_id AS key, MAX(at) AS at, \
                            COALESCE(SUM(CASE WHEN at >= $1 THEN 1 ELSE 0 END), 0) AS since \
                     FROM inspections GROUP BY person_id ORDER BY person_id",
                )
                .bind(since)
                .fetch_all(&self.read)
                .await?;
                let by_unit: Vec<LastInspection> = sqlx::query_as(
                    "SELECT unit_id AS key, MAX(at) AS at, \
                            COALESCE(SUM(CASE WHEN at >= $1 THEN 1 ELSE 0 END), 0) AS since \
                     FROM inspections WHERE unit_id IS NOT NULL GROUP BY unit_id ORDER BY unit_id",
                )
                .bind(since)
                .fetch_all(&self.read)
                .await?;
                Ok((by_person, by_unit))
            }

            async fn recent_inspections(&self, limit: i64) -> StoreResult<Vec<InspectionRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, person_id, unit_id, at, via, report, request_id FROM inspections ORDER BY at DESC, id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.read)
                .await?)
            }

            // --- lifecycle (issue 8) ---

            async fn release_messages(&self, ids: &[i64], lease_until: i64, interrupted: bool, now: i64) -> StoreResult<u64> {
                let mut released = 0;
                for chunk in ids.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$DB>::new("UPDATE messages SET state = 'queued', lease_until = NULL, next_attempt_at = ");
                    q.push_bind(now);
                    if interrupted {
                        q.push(", last_error = ").push_bind(INTERRUPTED_SEND);
                    } else {
                        // Never handed to a gateway: the claim's attempt does not count.
                        q.push(", attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END");
                    }
                    q.push(" WHERE state = 'sending' AND lease_until = ").push_bind(lease_until).push(" AND id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    released += q.build().execute(&self.write).await?.rows_affected();
                }
                Ok(released)
            }

            async fn listen_events(&self) -> StoreResult<Option<Box<dyn $crate::notify::EventWakeups>>> {
                self.event_wakeups().await
            }

            // --- outgoing links (issue 8) ---

            async fn link_log_heads(&self) -> StoreResult<LinkCursor> {
                let (calls_after,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM call_events")
                    .fetch_one(&self.read)
                    .await?;
                let (messages_after,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM alert_messages")
                    .fetch_one(&self.read)
                    .await?;
                Ok(LinkCursor { calls_after, messages_after })
            }

            async fn ensure_link_cursor(&self, subscriber: &str, start: LinkCursor, now: i64) -> StoreResult<LinkCursor> {
                sqlx::query(
                    "INSERT INTO link_cursors (subscriber, calls_after, messages_after, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (subscriber) DO NOTHING",
                )
                .bind(subscriber)
                .bind(start.calls_after)
                .bind(start.messages_after)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(sqlx::query_as("SELECT calls_after, messages_after FROM link_cursors WHERE subscriber = $1")
                    .bind(subscriber)
                    .fetch_one(&self.write)
                    .await?)
            }

            async fn link_call_events_after(&self, after_id: i64, limit: i64) -> StoreResult<Vec<LinkCallEvent>> {
                Ok(sqlx::query_as(
                    "SELECT e.id, e.alert_id, e.call_id, e.at, e.from_state, e.to_state, e.via, c.person_id, c.roles, \
                            c.area, c.unit_id, c.level, c.attempts, c.unreached, c.escalated_from, c.escalated_to \
                     FROM call_events e JOIN calls c ON c.id = e.call_id WHERE e.id > $1 ORDER BY e.id LIMIT $2",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.read)
                .await?)
            }

            async fn link_alert_messages_after(&self, after_id: i64, limit: i64) -> StoreResult<Vec<LinkAlertMessage>> {
                Ok(sqlx::query_as(
                    "SELECT m.id, m.alert_id, m.sender, m.identifier, m.sent, m.msg_type, m.received_at, \
                            (m.id = (SELECT MIN(x.id) FROM alert_messages x WHERE x.alert_id = m.alert_id)) AS first \
                     FROM alert_messages m WHERE m.id > $1 ORDER BY m.id LIMIT $2",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.read)
                .await?)
            }

            async fn link_horizon(&self) -> StoreResult<Option<(i64, i64)>> {
                if $backend != Backend::Postgres {
                    return Ok(None);
                }
                // xid8 has no sqlx type; as text it is a plain 64-bit number.
                let (xmin, xmax): (String, String) = sqlx::query_as(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, pg_snapshot_xmax(pg_current_snapshot())::text",
                )
                .fetch_one(&self.read)
                .await?;
                let parse = |s: &str| {
                    s.parse::<i64>().map_err(|_| $crate::error::StoreError::Corrupt(format!("snapshot xid {s:?}")))
                };
                Ok(Some((parse(&xmin)?, parse(&xmax)?)))
            }

            async fn advance_link_cursor(
                &self,
                subscriber: &str,
                from: LinkCursor,
                to: LinkCursor,
                deliveries: &[NewLinkDelivery],
                now: i64,
            ) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let moved = sqlx::query(
                    "UPDATE link_cursors SET calls_after = $4, messages_after = $5, updated_at = $6 \
                     WHERE subscriber = $1 AND calls_after = $2 AND messages_after = $3",
                )
                .bind(subscriber)
                .bind(from.calls_after)
                .bind(from.messages_after)
                .bind(to.calls_after)
                .bind(to.messages_after)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() != 1 {
                    // Another step (another instance) moved it first; it queued these.
                    return Ok(false);
                }
                // 11 values a row: 200 rows stay well under every backend's parameter limit.
                // Rows go in the order given, so delivery ids follow the events' order.
                for chunk in deliveries.chunks(200) {
                    let mut q = sqlx::QueryBuilder::<$DB>::new(
                        "INSERT INTO link_deliveries (subscriber, event_key, event, alert_id, call_id, body, state, \
                         attempts, next_attempt_at, created_at, updated_at) ",
                    );
                    q.push_values(chunk, |mut row, d| {
                        row.push_bind(d.subscriber.clone())
                            .push_bind(d.event_key.clone())
                            .push_bind(d.event.clone())
                            .push_bind(d.alert_id)
                            .push_bind(d.call_id)
                            .push_bind(d.body.clone())
                            .push_bind("queued")
                            .push_bind(0i64)
                            .push_bind(now)
                            .push_bind(now)
                            .push_bind(now);
                    });
                    q.push(" ON CONFLICT (subscriber, event_key) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn claim_link_deliveries(
                &self,
                subscriber: &str,
                now: i64,
                lease_until: i64,
                limit: i64,
            ) -> StoreResult<Vec<LinkDeliveryRow>> {
                let postgres = $backend == Backend::Postgres;
                let mut tx = self.begin_write().await?;
                // One claimer per subscriber at a time, so its deliveries go out in order: on
                // PostgreSQL the cursor row is the lock (an instance that finds it taken claims
                // nothing this time); SQLite's single writer already serialises claims.
                let lock = if postgres {
                    "SELECT subscriber FROM link_cursors WHERE subscriber = $1 FOR UPDATE SKIP LOCKED"
                } else {
                    "SELECT subscriber FROM link_cursors WHERE subscriber = $1"
                };
                let locked: Option<(String,)> = sqlx::query_as(lock).bind(subscriber).fetch_optional(&mut *tx).await?;
                if locked.is_none() {
                    return Ok(Vec::new());
                }
                // A claim whose lease ran out belongs to a sender that stopped mid-send: queued
                // again, first in line (the subscriber may get it twice; deliveries carry ids).
                sqlx::query(
                    "UPDATE link_deliveries SET state = 'queued', lease_until = NULL, last_error = $3, updated_at = $2 \
                     WHERE subscriber = $1 AND state = 'sending' AND lease_until <= $2",
                )
                .bind(subscriber)
                .bind(now)
                .bind(INTERRUPTED_DELIVERY)
                .execute(&mut *tx)
                .await?;
                let (in_flight,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM link_deliveries WHERE subscriber = $1 AND state = 'sending'")
                        .bind(subscriber)
                        .fetch_one(&mut *tx)
                        .await?;
                if in_flight > 0 {
                    return Ok(Vec::new());
                }
                // Nothing goes out past a delivery that waits for its retry.
                let (blocker,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MIN(id) FROM link_deliveries WHERE subscriber = $1 AND state = 'queued' AND next_attempt_at > $2",
                )
                .bind(subscriber)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let claim = format!(
                    "UPDATE link_deliveries SET state = 'sending', lease_until = $3, updated_at = $2 WHERE id IN (\
                     SELECT id FROM link_deliveries WHERE subscriber = $1 AND state = 'queued' AND next_attempt_at <= $2 \
                     AND id < $4 ORDER BY id LIMIT $5{}) RETURNING *",
                    if postgres { " FOR UPDATE SKIP LOCKED" } else { "" }
                );
                let mut rows: Vec<LinkDeliveryRow> = sqlx::query_as(&claim)
                    .bind(subscriber)
                    .bind(now)
                    .bind(lease_until)
                    .bind(blocker.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                // RETURNING does not keep the subquery's order.
                rows.sort_by_key(|r| r.id);
                Ok(rows)
            }

            async fn finish_link_deliveries(
                &self,
                outcomes: &[(i64, LinkResult)],
                lease_until: i64,
                now: i64,
            ) -> StoreResult<usize> {
                let mut tx = self.begin_write().await?;
                let mut ours = 0;
                for (id, result) in outcomes {
                    let q = match result {
                        LinkResult::Delivered { status } => sqlx::query(
                            "UPDATE link_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = $3, \
                             last_error = NULL, lease_until = NULL, delivered_at = $4, updated_at = $4 \
                             WHERE id = $1 AND state = 'sending' AND lease_until = $2",
                        )
                        .bind(*id)
                        .bind(lease_until)
                        .bind(*status)
                        .bind(now),
                        LinkResult::Retry { status, error, retry_at } => sqlx::query(
                            "UPDATE link_deliveries SET state = 'queued', attempts = attempts + 1, last_status = $3, \
                             last_error = $4, next_attempt_at = $5, lease_until = NULL, updated_at = $6 \
                             WHERE id = $1 AND state = 'sending' AND lease_until = $2",
                        )
                        .bind(*id)
                        .bind(lease_until)
                        .bind(*status)
                        .bind(error.as_str())
                        .bind(*retry_at)
                        .bind(now),
                        LinkResult::Failed { status, error } => sqlx::query(
                            "UPDATE link_deliveries SET state = 'failed', attempts = attempts + 1, last_status = $3, \
                             last_error = $4, lease_until = NULL, updated_at = $5 \
                             WHERE id = $1 AND state = 'sending' AND lease_until = $2",
                        )
                        .bind(*id)
                        .bind(lease_until)
                        .bind(*status)
                        .bind(error.as_str())
                        .bind(now),
                        LinkResult::Released => sqlx::query(
                            "UPDATE link_deliveries SET state = 'queued', lease_until = NULL, updated_at = $3 \
                             WHERE id = $1 AND state = 'sending' AND lease_until = $2",
                        )
                        .bind(*id)
                        .bind(lease_until)
                        .bind(now),
                        // Like a claim whose lease ran out, without waiting for the lease.
                        LinkResult::Interrupted => sqlx::query(
                            "UPDATE link_deliveries SET state = 'queued', lease_until = NULL, last_error = $4, updated_at = $3 \
                             WHERE id = $1 AND state = 'sending' AND lease_until = $2",
                        )
                        .bind(*id)
                        .bind(lease_until)
                        .bind(now)
                        .bind(INTERRUPTED_DELIVERY),
                    };
                    ours += q.execute(&mut *tx).await?.rows_affected() as usize;
                }
                tx.commit().await?;
                Ok(ours)
            }

            async fn next_link_delivery_due(&self, subscriber: &str) -> StoreResult<Option<i64>> {
                let (lease,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MIN(lease_until) FROM link_deliveries WHERE subscriber = $1 AND state = 'sending'",
                )
                .bind(subscriber)
                .fetch_one(&self.read)
                .await?;
                if lease.is_some() {
                    return Ok(lease);
                }
                // The first queued delivery decides: the others wait behind it.
                let head: Option<(i64,)> = sqlx::query_as(
                    "SELECT next_attempt_at FROM link_deliveries WHERE subscriber = $1 AND state = 'queued' ORDER BY id LIMIT 1",
                )
                .bind(subscriber)
                .fetch_optional(&self.read)
                .await?;
                Ok(head.map(|h| h.0))
            }

            async fn link_subscriber_stats(&self) -> StoreResult<Vec<LinkSubscriberStats>> {
                Ok(sqlx::query_as(
                    "SELECT subscriber, \
                            SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END) AS queued, \
                            SUM(CASE WHEN state = 'sending' THEN 1 ELSE 0 END) AS sending, \
                            SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END) AS delivered, \
                            SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed, \
                            MAX(delivered_at) AS last_delivered_at, \
                            MIN(CASE WHEN state IN ('queued', 'sending') THEN created_at END) AS oldest_waiting_at \
                     FROM link_deliveries GROUP BY subscriber ORDER BY subscriber",
                )
                .fetch_all(&self.read)
                .await?)
            }

            async fn link_queue_head(&self, subscriber: &str) -> StoreResult<Option<LinkDeliveryRow>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM link_deliveries WHERE subscriber = $1 AND state IN ('queued', 'sending') ORDER BY id LIMIT 1",
                )
                .bind(subscriber)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn link_deliveries(&self, f: &LinkDeliveryFilter) -> StoreResult<(Vec<LinkDeliveryRow>, i64)> {
                let rows = sqlx::query_as(
                    "SELECT * FROM link_deliveries WHERE subscriber = $1 AND ($2 IS NULL OR state = $2) \
                     ORDER BY id DESC LIMIT $3 OFFSET $4",
                )
                .bind(&f.subscriber)
                .bind(&f.state)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.read)
                .await?;
                let (total,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM link_deliveries WHERE subscriber = $1 AND ($2 IS NULL OR state = $2)",
                )
                .bind(&f.subscriber)
                .bind(&f.state)
                .fetch_one(&self.read)
                .await?;
                Ok((rows, total))
            }

            async fn requeue_failed_link_deliveries(&self, subscriber: &str, now: i64) -> StoreResult<u64> {
                // Attempts start again, so a redelivered old event gets its few tries before the
                // age rule gives it up again.
                let done = sqlx::query(
                    "UPDATE link_deliveries SET state = 'queued', attempts = 0, next_attempt_at = $2, updated_at = $2 \
                     WHERE subscriber = $1 AND state = 'failed'",
                )
                .bind(subscriber)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected())
            }

            // --- metrics (issue 8) ---

            async fn calls_by_state(&self) -> StoreResult<Vec<CallStateTotal>> {
                Ok(sqlx::query_as("SELECT state, COUNT(*) AS n FROM calls GROUP BY state ORDER BY state")
                    .fetch_all(&self.read)
                    .await?)
            }

            fn pool_stats(&self) -> Vec<PoolStats> {
                let stats = |name: &'static str, pool: &sqlx::Pool<$DB>| PoolStats {
                    pool: name,
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                    max: pool.options().get_max_connections(),
                };
                match $backend {
                    // One pool plays both roles on PostgreSQL: count it once.
                    Backend::Postgres => vec![stats("main", &self.write)],
                    Backend::Sqlite => vec![stats("write", &self.write), stats("read", &self.read)],
                }
            }
        }

        // --- registry administration (issue 7): helpers ---

        /// Upserts `registry` over `existing` (what the database holds) inside `tx`: entries equal
        /// to the stored ones are left alone and counted unchanged; roster entries replace the
        /// stored ones of the same area and date. The caller bumps the registry generation in the
        /// same transaction.
        async fn write_registry(
            tx: &mut sqlx::Transaction<'static, $DB>,
            existing: &Registry,
            registry: &Registry,
            now: i64,
        ) -> StoreResult<RegistryChanges> {
            let old_areas: std::collections::HashMap<_, _> = existing.areas.iter().map(|a| (&a.code, a)).collect();
            let old_persons: std::collections::HashMap<_, _> = existing.persons.iter().map(|p| (&p.id, p)).collect();
            let old_units: std::collections::HashMap<_, _> = existing.units.iter().map(|u| (&u.id, u)).collect();
            let old_rosters: std::collections::HashSet<_> = existing.rosters.iter().collect();
            let mut changes = RegistryChanges::default();
            for a in &registry.areas {
                match old_areas.get(&a.code) {
                    Some(e) if *e == a => { changes.unchanged += 1; continue; }
                    Some(_) => changes.changed += 1,
                    None => changes.added += 1,
                }
                sqlx::query(
                    "INSERT INTO areas (code, name, parent, polygon, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, \
                     polygon = excluded.polygon, updated_at = excluded.updated_at",
                )
                .bind(a.code.as_str())
                .bind(&a.name)
                .bind(a.parent.as_ref().map(|p| p.as_str()))
                .bind(a.polygon.as_ref().map(|p| serde_json::to_string(p).expect("numbers serialise")))
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            for p in &registry.persons {
                match old_persons.get(&p.id) {
                    Some(e) if *e == p => { changes.unchanged += 1; continue; }
                    Some(_) => changes.changed += 1,
                    None => changes.added += 1,
                }
                sqlx::query(
                    "INSERT INTO persons (id, name, mobile, email, roles, area, superior, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, mobile = excluded.mobile, \
                     email = excluded.email, roles = excluded.roles, area = excluded.area, \
                     superior = excluded.superior, updated_at = excluded.updated_at",
                )
                .bind(p.id.as_str())
                .bind(&p.name)
                .bind(p.mobile.as_str())
                .bind(&p.email)
                .bind(serde_json::to_string(&p.roles).expect("strings serialise"))
                .bind(p.area.as_str())
                .bind(p.superior.as_ref().map(|s| s.as_str()))
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            for u in &registry.units {
                match old_units.get(&u.id) {
                    Some(e) if *e == u => { changes.unchanged += 1; continue; }
                    Some(_) => changes.changed += 1,
                    None => changes.added += 1,
                }
                sqlx::query(
                    "INSERT INTO units (id, name, kind, area, location, administrative, regulatory, unit, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, area = excluded.area, \
                     location = excluded.location, administrative = excluded.administrative, \
                     regulatory = excluded.regulatory, unit = excluded.unit, updated_at = excluded.updated_at",
                )
                .bind(u.id.as_str())
                .bind(&u.name)
                .bind(u.kind.as_str())
                .bind(u.area.as_str())
                .bind(u.location.map(|l| serde_json::to_string(&l).expect("numbers serialise")))
                .bind(u.administrative.as_str())
                .bind(u.regulatory.as_str())
                .bind(u.unit.as_str())
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            // Roster entries replace the stored ones of the same area and date (a swap is an
            // edit of the file, not a second officer).
            let mut days: Vec<(String, String)> =
                registry.rosters.iter().map(|r| (r.area.as_str().to_string(), r.date.to_string())).collect();
            days.sort();
            days.dedup();
            for (area, date) in &days {
                sqlx::query("DELETE FROM rosters WHERE area = $1 AND date = $2")
                    .bind(area)
                    .bind(date)
                    .execute(&mut **tx)
                    .await?;
            }
            for r in &registry.rosters {
                if old_rosters.contains(r) {
                    changes.unchanged += 1;
                } else {
                    changes.added += 1;
                }
                sqlx::query(
                    "INSERT INTO rosters (area, person, date, shift) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(r.area.as_str())
                .bind(r.person.as_str())
                .bind(r.date.to_string())
                .bind(r.shift.to_string())
                .execute(&mut **tx)
                .await?;
            }
            Ok(changes)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_slices_cover_every_row_once_in_order_with_few_sizes() {
        for n in [0usize, 1, 2, 3, 63, 64, 65, 127, 128, 2000, 2047] {
            let rows: Vec<usize> = (0..n).collect();
            let slices = values_slices(&rows);
            let flat: Vec<usize> = slices.iter().flat_map(|s| s.iter().copied()).collect();
            assert_eq!(flat, rows, "n = {n}");
            assert!(slices.iter().all(|s| VALUES_SIZES.contains(&s.len())), "n = {n}");
            // Largest first, and at most one slice of each size below the largest.
            assert!(slices.windows(2).all(|w| w[0].len() >= w[1].len()), "n = {n}");
            for size in &VALUES_SIZES[1..] {
                assert!(slices.iter().filter(|s| s.len() == *size).count() <= 1, "n = {n}");
            }
        }
    }

    #[test]
    fn values_sql_repeats_the_row() {
        assert_eq!(values_sql("INSERT INTO t (a, b)", "(?, ?)", 1), "INSERT INTO t (a, b) VALUES (?, ?)");
        assert_eq!(values_sql("INSERT INTO t (a)", "(?)", 3), "INSERT INTO t (a) VALUES (?), (?), (?)");
        // The widest statement stays far under SQLite's 32 766 bound values.
        let widest = values_sql(CALLS_VALUES.0, CALLS_VALUES.1, VALUES_SIZES[0]);
        assert!(widest.matches('?').count() < 32_766);
        assert_eq!(widest.matches('?').count(), 14 * VALUES_SIZES[0]);
    }
}
