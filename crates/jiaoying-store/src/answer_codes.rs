//! PostgreSQL: the common case of a burst of SMS answers by reply code in one statement (see
//! [`crate::Store::answer_codes_at_once`]). A burst in a transaction costs five round trips
//! (begin, find the calls, record the provider ids, answer, commit), and on a two-core machine
//! serving 10 000 answers a second each round trip is a context switch both ways; one
//! statement committed on its own does the same work in one (ADR 0022).

use serde_json::json;
use sqlx::{Pool, Postgres};

use crate::error::StoreResult;
use crate::records::{CodedAnswer, CodedOutcome};
use crate::sql::{insert_messages_from, json_param, message_json, ANSWERED_LOGGED_AND_WITHDRAWN};

/// The statement. `$1`: `[index, mobile, code, channel, provider id]` per answer; `$2`: now;
/// `$3`: `[index, confirmation, drill text]` per answer.
///
/// - `chosen`: per answer, the call one person's careful read would pick (the newest answerable
///   call with that code among the number's persons, else the newest), found per answer by
///   index: left to itself PostgreSQL hashes every call by code.
/// - `simple`: those open and in time, without a directive; nothing else is touched here.
/// - `fresh`: their provider ids recorded, in a fixed order so two bursts cannot deadlock; a
///   retry's id is already there and its answer goes no further.
/// - `answered`: the compare-and-set on the state and attempts as read (a row changed by
///   another transaction meanwhile is re-checked against them and left alone).
/// - then the event and the withdrawn repeats (the same CTEs as the burst transaction's), and the
///   confirmation (its subject and body replaced by the drill text where the alert is a drill;
///   `message_json` puts them at 5 and 6).
fn statement() -> String {
    let confirmations = "answered a JOIN alerts al ON al.id = a.alert_id \
         JOIN jsonb_array_elements($3::jsonb) AS c(value) ON CAST(c.value ->> 0 AS INT) = a.idx \
         CROSS JOIN LATERAL (SELECT CASE WHEN al.status = 'Exercise' \
             THEN jsonb_set(jsonb_set(c.value -> 1, '{5}', c.value -> 2), '{6}', c.value -> 2) \
             ELSE c.value -> 1 END AS value) m";
    format!(
        "WITH input AS (\
             SELECT CAST(j.value ->> 0 AS INT) AS idx, j.value ->> 1 AS mobile, j.value ->> 2 AS code, \
                    j.value ->> 3 AS channel, j.value ->> 4 AS provider_id \
             FROM jsonb_array_elements($1::jsonb) AS j(value)), \
         chosen AS (\
             SELECT i.idx, i.channel, i.provider_id, c.id, c.alert_id, c.person_id, c.state, c.attempts, c.directive \
             FROM input i CROSS JOIN LATERAL (\
                 SELECT c.id, c.alert_id, c.person_id, c.state, c.attempts, c.directive \
                 FROM persons p JOIN calls c ON c.person_id = p.id \
                 WHERE p.mobile = i.mobile AND c.reply_code = i.code \
                 ORDER BY c.state IN ('pending', 'sent', 'delivered', 'escalated') DESC, c.id DESC LIMIT 1) c), \
         simple AS (SELECT * FROM chosen WHERE state IN ('pending', 'sent', 'delivered') AND directive IS NULL), \
         fresh AS (\
             INSERT INTO inbound_seen (channel, provider_id, seen_at) \
             SELECT channel, provider_id, $2 FROM simple WHERE provider_id IS NOT NULL ORDER BY channel, provider_id \
             ON CONFLICT DO NOTHING RETURNING channel, provider_id), \
         taken AS (\
             SELECT s.* FROM simple s WHERE s.provider_id IS NULL \
                 OR EXISTS (SELECT 1 FROM fresh f WHERE f.channel = s.channel AND f.provider_id = s.provider_id)), \
         answered AS (\
             UPDATE calls SET state = 'answered', answered_at = $2, answered_via = 'sms', \
                 answered_by = 'person:' || t.person_id, answer_note = NULL, late = FALSE, next_action_at = NULL, \
                 updated_at = $2 \
             FROM taken t WHERE calls.id = t.id AND calls.state = t.state AND calls.attempts = t.attempts \
             RETURNING calls.id, calls.alert_id, t.idx, t.state AS from_state, calls.answered_by AS actor, \
                 calls.answered_via AS via, calls.answer_note AS note), \
         {ANSWERED_LOGGED_AND_WITHDRAWN}, \
         confirmed AS ({}) \
         SELECT idx, 'answered' AS outcome, id FROM answered \
         UNION ALL SELECT s.idx, 'duplicate', NULL FROM simple s WHERE s.provider_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.channel = s.channel AND f.provider_id = s.provider_id) \
         UNION ALL SELECT t.idx, 'contended', NULL FROM taken t WHERE t.provider_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM answered a WHERE a.idx = t.idx)",
        insert_messages_from("m", confirmations, None)
    )
}

/// Runs [`statement`] for `answers`, on its own (autocommit): all of it or nothing.
pub(crate) async fn answer_codes_at_once(
    pool: &Pool<Postgres>,
    answers: &[CodedAnswer],
    now: i64,
) -> StoreResult<Vec<CodedOutcome>> {
    let mut outcomes = vec![CodedOutcome::Elsewhere; answers.len()];
    if answers.is_empty() {
        return Ok(outcomes);
    }
    let input = json_param(
        answers.iter().enumerate().map(|(i, a)| json!([i, a.mobile, a.code, a.channel, a.provider_id])).collect(),
    );
    let confirmations = json_param(
        answers
            .iter()
            .enumerate()
            .map(|(i, a)| json!([i, message_json(&a.confirmation, None), a.drill_text]))
            .collect(),
    );
    static STATEMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let rows: Vec<(i32, String, Option<i64>)> = sqlx::query_as(STATEMENT.get_or_init(statement))
        .bind(input)
        .bind(now)
        .bind(confirmations)
        .fetch_all(pool)
        .await?;
    for (idx, outcome, call_id) in rows {
        let Some(slot) = usize::try_from(idx).ok().and_then(|i| outcomes.get_mut(i)) else {
            return Err(crate::StoreError::Corrupt(format!("answer index {idx} out of range")));
        };
        *slot = match (outcome.as_str(), call_id) {
            ("answered", Some(call_id)) => CodedOutcome::Answered { call_id },
            ("duplicate", _) => CodedOutcome::Duplicate,
            ("contended", _) => CodedOutcome::Contended,
            (other, _) => return Err(crate::StoreError::Corrupt(format!("answer outcome {other}"))),
        };
    }
    Ok(outcomes)
}
