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

macro_rules! impl_sql_store {
    ($Store:ident, $Tx:ident, $DB:ty, backend = $backend:expr, claim_calls = $claim_calls:expr, claim_messages = $claim_messages:expr, claim_channel_messages = $claim_channel_messages:expr) => {
        use async_trait::async_trait;
        use jiaoying_core::{AlertKey, MobileNumber, Person, Registry};
        use $crate::error::StoreResult;
        use $crate::records::*;
        use $crate::sql::{CALL_COLUMNS, OPEN_STATES_SQL};
        use $crate::store::{Backend, Store, StoreTx};

        pub struct $Tx {
            tx: sqlx::Transaction<'static, $DB>,
        }

        fn call_select(tail: &str) -> String {
            format!("SELECT {CALL_COLUMNS} FROM calls {tail}")
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

            async fn set_alert_state(&mut self, id: i64, state: &str, now: i64) -> StoreResult<()> {
                sqlx::query("UPDATE alerts SET state = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(state)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await?;
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
                // RETURNING gives rows in no promised order, so each statement's rows are matched
                // back by person: a statement never holds one person twice. 13 values a row: 500
                // rows stay under every backend's parameter limit.
                let mut ids = vec![0i64; calls.len()];
                let mut start = 0;
                while start < calls.len() {
                    let mut seen = std::collections::HashSet::new();
                    let mut end = start;
                    while end < calls.len() && end - start < 500 && seen.insert(calls[end].person_id.as_str()) {
                        end += 1;
                    }
                    let chunk = &calls[start..end];
                    let mut q = sqlx::QueryBuilder::<$DB>::new(
                        "INSERT INTO calls (alert_id, person_id, roles, unit_id, area, level, state, reply_code, attempts, \
                         deadline, next_action_at, escalated_from, created_at, updated_at, directive, done_within) ",
                    );
                    q.push_values(chunk, |mut row, c| {
                        row.push_bind(c.alert_id)
                            .push_bind(c.person_id.clone())
                            .push_bind(c.roles.clone())
                            .push_bind(c.unit_id.clone())
                            .push_bind(c.area.clone())
                            .push_bind(c.level)
                            .push("'pending'")
                            .push_bind(c.reply_code.clone())
                            .push("1")
                            .push_bind(c.deadline)
                            .push_bind(c.next_action_at)
                            .push_bind(c.escalated_from)
                            .push_bind(c.now)
                            .push_bind(c.now)
                            .push_bind(c.directive.clone())
                            .push_bind(c.done_within);
                    });
                    q.push(" RETURNING id, person_id");
                    let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&mut *self.tx).await?;
                    let by_person: std::collections::HashMap<&str, i64> =
                        rows.iter().map(|(id, p)| (p.as_str(), *id)).collect();
                    for (i, c) in chunk.iter().enumerate() {
                        ids[start + i] = *by_person.get(c.person_id.as_str()).ok_or_else(|| {
                            $crate::error::StoreError::Corrupt(format!("no id came back for the call of {}", c.person_id))
                        })?;
                    }
                    start = end;
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
                    out.extend(q.build_query_as::<(String, String)>().fetch_all(&mut *self.tx).await?);
                }
                Ok(out)
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
                // VALUES columns are `column1`, `column2` on both backends.
                for chunk in sent.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$DB>::new("UPDATE messages SET state = 'sent', sent_at = ");
                    q.push_bind(now);
                    q.push(", provider_id = v.column2, lease_until = NULL, last_error = NULL FROM (");
                    q.push_values(chunk, |mut row, (id, provider_id)| {
                        row.push_bind(*id).push_bind(provider_id.clone());
                    });
                    q.push(") AS v WHERE messages.id = v.column1 AND messages.state = 'sending' AND messages.lease_until = ");
                    q.push_bind(lease_until);
                    q.push(" RETURNING id");
                    let rows: Vec<(i64,)> = q.build_query_as().fetch_all(&mut *self.tx).await?;
                    ours.extend(rows.into_iter().map(|r| r.0));
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
                // 14 values a row: 200 rows stay well under every backend's parameter limit.
                for chunk in messages.chunks(200) {
                    let mut q = sqlx::QueryBuilder::<$DB>::new(
                        "INSERT INTO messages (alert_id, call_id, channel, recipient, purpose, subject, body, code, link, \
                         state, attempts, next_attempt_at, created_at, priority) ",
                    );
                    q.push_values(chunk, |mut row, m| {
                        row.push_bind(m.alert_id)
                            .push_bind(m.call_id)
                            .push_bind(m.channel.clone())
                            .push_bind(m.recipient.clone())
                            .push_bind(m.purpose.as_str())
                            .push_bind(m.subject.clone())
                            .push_bind(m.body.clone())
                            .push_bind(m.code.clone())
                            .push_bind(m.link.clone())
                            .push_bind("queued")
                            .push_bind(0i64)
                            .push_bind(m.now)
                            .push_bind(m.now)
                            .push_bind(m.priority);
                    });
                    q.build().execute(&mut *self.tx).await?;
                }
                Ok(())
            }

            async fn insert_events(&mut self, events: &[NewEvent]) -> StoreResult<()> {
                for chunk in events.chunks(200) {
                    let mut q = sqlx::QueryBuilder::<$DB>::new(
                        "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note) ",
                    );
                    q.push_values(chunk, |mut row, e| {
                        row.push_bind(e.alert_id)
                            .push_bind(e.call_id)
                            .push_bind(e.at)
                            .push_bind(e.from_state.map(|s| s.as_str()))
                            .push_bind(e.to_state.as_str())
                            .push_bind(e.actor.clone())
                            .push_bind(e.via.clone())
                            .push_bind(e.note.clone());
                    });
                    q.build().execute(&mut *self.tx).await?;
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
                if ids.is_empty() {
                    return Ok(0);
                }
                let mut moved: Vec<(i64, i64)> = Vec::with_capacity(ids.len());
                // Bounded statements: a few hundred ids per UPDATE, well under every backend's
                // parameter limit.
                for chunk in ids.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$DB>::new("UPDATE calls SET state = ");
                    q.push_bind(to.as_str()).push(", updated_at = ").push_bind(now);
                    q.push(" WHERE state = ").push_bind(from.as_str()).push(" AND id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(") RETURNING id, alert_id");
                    moved.extend(q.build_query_as::<(i64, i64)>().fetch_all(&mut *self.tx).await?);
                }
                for chunk in moved.chunks(200) {
                    let mut q = sqlx::QueryBuilder::<$DB>::new(
                        "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note) ",
                    );
                    q.push_values(chunk, |mut row, (id, alert_id)| {
                        row.push_bind(*alert_id)
                            .push_bind(*id)
                            .push_bind(now)
                            .push_bind(from.as_str())
                            .push_bind(to.as_str())
                            .push_bind(actor.to_string())
                            .push_bind(None::<String>)
                            .push_bind(None::<String>);
                    });
                    q.build().execute(&mut *self.tx).await?;
                }
                Ok(moved.len())
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

            async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
                Ok(Box::new($Tx { tx: self.begin_write().await? }))
            }

            async fn upsert_registry(&self, registry: &Registry, now: i64) -> StoreResult<RegistryChanges> {
                let existing = self.load_registry().await?;
                let old_areas: std::collections::HashMap<_, _> = existing.areas.iter().map(|a| (&a.code, a)).collect();
                let old_persons: std::collections::HashMap<_, _> = existing.persons.iter().map(|p| (&p.id, p)).collect();
                let old_units: std::collections::HashMap<_, _> = existing.units.iter().map(|u| (&u.id, u)).collect();
                let old_rosters: std::collections::HashSet<_> = existing.rosters.iter().collect();
                let mut changes = RegistryChanges::default();
                let mut tx = self.begin_write().await?;
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
                    .execute(&mut *tx)
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
                    .execute(&mut *tx)
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
                    .execute(&mut *tx)
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
                        .execute(&mut *tx)
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
                    .execute(&mut *tx)
                    .await?;
                }
                // Every instance's copy in memory is stale from this commit on.
                sqlx::query("UPDATE registry_generation SET generation = generation + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(changes)
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

            async fn calls_with_code(&self, person_id: &str, code: &str) -> StoreResult<Vec<CallRow>> {
                Ok(sqlx::query_as(&call_select("WHERE person_id = $1 AND reply_code = $2 ORDER BY id DESC"))
                    .bind(person_id)
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
                        sqlx::query_as::<_, (Option<i64>,)>(
                            "SELECT MIN(next_attempt_at) FROM messages WHERE channel = $1 AND state = 'queued'",
                        )
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
                    Some(ch) => sqlx::query(&format!("{reclaim} AND channel = $3")).bind(now).bind(INTERRUPTED_SEND).bind(ch).execute(&mut *tx).await?,
                    None => sqlx::query(reclaim).bind(now).bind(INTERRUPTED_SEND).execute(&mut *tx).await?,
                };
                let mut rows: Vec<MessageRow> = match channel {
                    Some(ch) => sqlx::query_as($claim_channel_messages).bind(now).bind(lease_until).bind(limit).bind(ch).fetch_all(&mut *tx).await?,
                    None => sqlx::query_as($claim_messages).bind(now).bind(lease_until).bind(limit).fetch_all(&mut *tx).await?,
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
                Ok(sqlx::query_as(
                    "SELECT channel, \
                            SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END) AS queued, \
                            SUM(CASE WHEN state = 'sending' THEN 1 ELSE 0 END) AS sending, \
                            MIN(CASE WHEN state = 'queued' THEN next_attempt_at END) AS oldest_due \
                     FROM messages WHERE state IN ('queued', 'sending') GROUP BY channel ORDER BY channel",
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

            async fn seen_inbound(&self, channel: &str, provider_id: &str) -> StoreResult<bool> {
                let row: Option<(String,)> = sqlx::query_as("SELECT channel FROM inbound_seen WHERE channel = $1 AND provider_id = $2")
                    .bind(channel)
                    .bind(provider_id)
                    .fetch_optional(&self.read)
                    .await?;
                Ok(row.is_some())
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


            // --- board read models and officer actions (issue 6) ---

            async fn alert_call_stats(&self, alert_ids: &[i64], now: i64) -> StoreResult<Vec<AlertCallStats>> {
                let mut out = Vec::with_capacity(alert_ids.len());
                // One statement per alert, as `call_counts`: identical SQL on both backends.
                for id in alert_ids {
                    let row: AlertCallStats = sqlx::query_as(
                        "SELECT $1 AS alert_id, \
                                COALESCE(SUM(CASE WHEN state IN ('pending', 'sent', 'delivered') AND deadline <= $2 THEN 1 ELSE 0 END), 0) AS overdue, \
                                COALESCE(SUM(CASE WHEN unreached THEN 1 ELSE 0 END), 0) AS unreached \
                         FROM calls WHERE alert_id = $1",
                    )
                    .bind(id)
                    .bind(now)
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
                                    FROM alert_actions a) log";
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
        }
    };
}
