//! `/api/v1`: alerts in from sources; alerts and calls out to duty officers and scripts.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use jiaoying_core::metric_names::ALERTS_TOTAL;
use jiaoying_core::{CallState, Timestamp};
use jiaoying_ingest::IngestError;
use jiaoying_store::{AlertFilter, AlertRow, CallListRow, StateCount};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth;
use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::{AppState, Source};

/// Reads a body extracted as bytes, turning the limit into 413 and anything else into 400.
pub(crate) fn body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(limit)
        } else {
            ApiError::BadRequest(format!("could not read the request body: {}", r.body_text()))
        }
    })
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Each ingest refusal to its status: unparseable or unsafe 400, too large 413, invalid 422.
fn ingest_error(e: IngestError, limit: usize) -> ApiError {
    match e {
        IngestError::Malformed(m) | IngestError::Unsafe(m) => ApiError::BadRequest(m),
        IngestError::TooLarge(_) => ApiError::TooLarge(limit),
        IngestError::Invalid(m) => ApiError::Unprocessable(m),
    }
}

/// `POST /api/v1/alerts`: `201` for a new message, `200` for a repeat of one already taken.
#[utoipa::path(post, path = "/api/v1/alerts", tag = "alerts", security(("api_token" = [])),
    request_body(content = String, description = "A CAP 1.2 document (application/cap+xml) or the JSON alert form (application/json)", content_type = "application/cap+xml"),
    responses((status = 201, description = "{\"id\", \"tier\", \"calls\"} for a new message", body = serde_json::Value), (status = 200, description = "The same for a repeat", body = serde_json::Value),
              (status = 400, description = "Malformed or unsafe"), (status = 401, description = "No valid source token"), (status = 413, description = "Too large"),
              (status = 415, description = "Unsupported content type"), (status = 422, description = "Invalid")))]
pub async fn post_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let source = auth::source(&state, &headers)?;
    take_alert(&state, &source, &headers, raw).await.inspect_err(|e| count_rejected(&source.id, e))
}

/// Counts a message refused after its source was known (issue 8); failures of ours (5xx) are
/// not the message's fault and are not counted as refusals.
fn count_rejected(source: &str, e: &ApiError) {
    let refused = matches!(
        e,
        ApiError::BadRequest(_)
            | ApiError::Forbidden(_)
            | ApiError::TooLarge(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::Unprocessable(_)
    );
    if refused {
        metrics::counter!(ALERTS_TOTAL, "source" => source.to_string(), "tier" => "unknown", "result" => "rejected")
            .increment(1);
    }
}

/// [`post_alert`] once the source is known.
async fn take_alert(
    state: &AppState,
    source: &Source,
    headers: &HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = body(raw, state.body_limit)?;
    let alert = match media_type(headers).as_str() {
        "application/json" | "" => {
            state.normaliser.json_alert(&bytes).map_err(|e| ingest_error(e, state.body_limit))?
        }
        "application/cap+xml" | "application/xml" | "text/xml" => {
            // XML parsing is CPU work: keep it off the async workers.
            let (normaliser, body) = (state.normaliser.clone(), bytes.clone());
            tokio::task::spawn_blocking(move || normaliser.cap_alert(&body))
                .await
                .map_err(|e| ApiError::Internal(Box::new(e)))?
                .map_err(|e| ingest_error(e, state.body_limit))?
        }
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content type {other:?} is not accepted; send application/cap+xml or application/json"
            )))
        }
    };
    if !source.may_send_as(&alert.key.sender) {
        return Err(ApiError::Forbidden(format!(
            "source {} may not send alerts as sender {:?}",
            source.id, alert.key.sender
        )));
    }
    let text = String::from_utf8_lossy(&bytes);
    let accepted = state.tracker.accept(&alert, &source.id, &text).await.map_err(|e| match e {
        jiaoying_tracker::AcceptError::Tracker(t) => ApiError::from(t),
    })?;
    tracing::info!(alert_id = accepted.id, source = %source.id, created = accepted.created, calls = accepted.calls, "alert taken");
    let status = if accepted.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"id": accepted.id, "tier": accepted.tier, "calls": accepted.calls}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

fn time(ms: Option<i64>) -> Value {
    ms.map(|m| Value::String(Timestamp(m).to_rfc3339())).unwrap_or(Value::Null)
}

fn counts_json(counts: &[StateCount], alert_id: i64) -> Value {
    let mut map: BTreeMap<&str, i64> = CallState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut total = 0;
    for c in counts.iter().filter(|c| c.alert_id == alert_id) {
        *map.entry(c.state.as_str()).or_default() += c.n;
        total += c.n;
    }
    let mut v = json!(map);
    v["total"] = json!(total);
    v
}

fn alert_json(a: &AlertRow, counts: &[StateCount]) -> Value {
    json!({
        "id": a.id,
        "tier": a.tier,
        "event": a.event,
        "headline": a.headline,
        "status": a.state,
        "cap_status": a.status,
        "msg_type": a.msg_type,
        "source": a.source,
        "created_at": time(Some(a.created_at)),
        "counts": counts_json(counts, a.id),
    })
}

/// `GET /api/v1/alerts?status=active&limit=100&offset=0`, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    params(("status" = Option<String>, Query, description = "active, cancelled, expired, stored or all"), ("limit" = Option<i64>, Query, description = "1 to 1000, default 100"), ("offset" = Option<i64>, Query)),
    responses((status = 200, description = "{\"alerts\": [...], \"total\"}, newest first", body = serde_json::Value), (status = 400, description = "Bad query"), (status = 401, description = "No session or API token")))]
pub async fn list_alerts(
    State(state): State<AppState>,
    _viewer: Viewer,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must not be negative".into()));
    }
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s @ ("active" | "cancelled" | "expired" | "stored")) => Some(s.to_string()),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status {other:?} is not one of active, cancelled, expired, stored, all"
            )))
        }
    };
    let (alerts, total) = state.store().list_alerts(&AlertFilter { state: status, limit, offset }).await?;
    let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();
    let counts = state.store().call_counts(&ids).await?;
    Ok(Json(json!({
        "alerts": alerts.iter().map(|a| alert_json(a, &counts)).collect::<Vec<_>>(),
        "total": total,
    })))
}

/// `GET /api/v1/alerts/{id}`: the alert with its full text and counts per call state.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, description = "The alert with counts per call state", body = serde_json::Value), (status = 401, description = "No session or API token"), (status = 404, description = "No such alert")))]
pub async fn get_alert(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let a = state.store().alert(id).await?.ok_or(ApiError::NotFound)?;
    let counts = state.store().call_counts(&[id]).await?;
    let mut v = alert_json(&a, &counts);
    v["description"] = json!(a.description);
    v["instruction"] = json!(a.instruction);
    v["onset"] = time(a.onset);
    v["expires"] = time(a.expires);
    v["areas"] = serde_json::from_str(&a.areas).unwrap_or(Value::Null);
    Ok(Json(v))
}

fn call_json(c: &CallListRow) -> Value {
    let call = &c.call;
    json!({
        "id": call.id,
        "person_id": call.person_id,
        "name": c.name,
        "role": call.roles.split(';').next().unwrap_or(""),
        "roles": call.roles.split(';').collect::<Vec<_>>(),
        "unit_id": call.unit_id,
        "area": call.area,
        "level": call.level,
        "state": call.state,
        "deadline": time(Some(call.deadline)),
        "attempts": call.attempts,
        "answered_at": time(call.answered_at),
        "answered_via": call.answered_via,
        "answered_by": call.answered_by,
        "late": call.late,
        "unreached": call.unreached,
        "escalated_from": call.escalated_from,
        "escalated_to": call.escalated_to,
        "directive": call.directive,
        "done_at": time(call.done_at),
        "done_report": call.done_report,
    })
}

/// `GET /api/v1/alerts/{id}/calls`: one row per call.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/calls", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, description = "{\"calls\": [...], \"total\"}", body = serde_json::Value), (status = 401, description = "No session or API token"), (status = 404, description = "No such alert")))]
pub async fn list_calls(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    state.store().alert(id).await?.ok_or(ApiError::NotFound)?;
    let calls = state.store().calls_of_alert(id).await?;
    Ok(Json(json!({"calls": calls.iter().map(call_json).collect::<Vec<_>>(), "total": calls.len()})))
}

/// `GET /api/v1/feeds`: each polled source's state, and the feed-silent warnings (a feed that has
/// produced nothing parsable for longer than its `silent_after`).
#[utoipa::path(get, path = "/api/v1/feeds", tag = "board",
    responses((status = 200, description = "Polled sources and feed-silent warnings", body = serde_json::Value), (status = 401, description = "No session or API token")))]
pub async fn list_feeds(State(state): State<AppState>, _viewer: Viewer) -> Result<Json<Value>, ApiError> {
    let Some(poller) = &state.feeds else {
        return Ok(Json(json!({"feeds": [], "silent": [], "total": 0})));
    };
    let now = state.tracker.clock().now();
    let mut feeds = Vec::new();
    for source in poller.sources() {
        let f = state.store().feed_state(&source.id).await?.unwrap_or_default();
        feeds.push(json!({
            "source": source.id,
            "url": source.url.as_str().split('?').next().unwrap_or(""),
            "last_poll_at": time(f.last_poll_at),
            "last_success_at": time(f.last_success_at),
            "last_taken_at": time(f.last_taken_at),
            "next_poll_at": time(f.next_poll_at),
            "failures": f.failures,
            "last_error": f.last_error,
        }));
    }
    let silent = poller.silent_feeds(now).await.map_err(|e| match e {
        jiaoying_feeds::FeedError::Store(s) => ApiError::from(s),
        other => ApiError::Internal(Box::new(other)),
    })?;
    let silent: Vec<Value> = silent
        .iter()
        .map(|s| {
            json!({
                "source": s.source,
                "silent_for": s.silent_for.to_string(),
                "last_taken_at": time(s.last_taken_at.map(|t| t.millis())),
                "failures": s.failures,
                "last_error": s.last_error,
                "warning": format!("数据源 {} 已 {} 未产生可解析的预警 / feed silent for {}", s.source, s.silent_for, s.silent_for),
            })
        })
        .collect();
    Ok(Json(json!({"total": feeds.len(), "feeds": feeds, "silent": silent})))
}

/// `GET /api/v1/outbox`: per channel, the messages waiting and in flight, the oldest wait, the
/// recent send rate, the configured limit, the estimated time to drain, and whether the channel's
/// circuit breaker is open: what duty officers need to know whether warnings are going out.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "board",
    responses((status = 200, description = "Backlog per channel with drain estimates", body = serde_json::Value), (status = 401, description = "No session or API token")))]
pub async fn outbox_backlog(State(state): State<AppState>, _viewer: Viewer) -> Result<Json<Value>, ApiError> {
    let channels = state.outbox.backlog().await?;
    let channels: Vec<Value> = channels
        .into_iter()
        .map(|b| {
            json!({
                "channel": b.channel,
                "queued": b.queued,
                "sending": b.sending,
                "oldest_due": time(b.oldest_due),
                "recent_rate": b.recent_rate,
                "rate_limit": b.rate_limit,
                "drain_secs": b.drain_secs,
                "breaker_open": b.breaker_open,
            })
        })
        .collect();
    Ok(Json(json!({ "channels": channels })))
}
