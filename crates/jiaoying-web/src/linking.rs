//! Outgoing links over HTTP (issue 8): the Atom feed of jiaoying's alerts and their CAP 1.2
//! documents, for neighbours and the district platform; and the subscribers' delivery log, for
//! duty officers.
//!
//! - `GET /feeds/alerts.atom?limit=50&offset=0`: newest first; `ETag` and `Last-Modified`, and
//!   `304` to a conditional GET that matches.
//! - `GET /feeds/alerts/{id}.cap`: the alert's current CAP version, with the same validators.
//! - `GET /api/v1/subscribers`, `GET /api/v1/subscribers/{name}/deliveries?state=&limit=&offset=`,
//!   `POST /api/v1/subscribers/{name}/redeliver` (queue its failed deliveries again): officers.
//!
//! Who may read the feed: anyone with `[feeds_out] public = true`; otherwise (the default) a
//! reader token of `[[feeds_out.readers]]` (as `Authorization: Bearer` or `?token=`, for feed
//! readers that cannot set headers), an API token, or a board session.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiaoying_core::Timestamp;
use jiaoying_linking::feed::{Rendered, DEFAULT_PAGE, MAX_PAGE};
use jiaoying_store::{LinkDeliveryFilter, LinkDeliveryRow};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::session::{authenticate, Officer};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/feeds/alerts.atom", get(feed))
        .route("/feeds/alerts/{file}", get(cap_document))
        .route("/api/v1/subscribers", get(list_subscribers))
        .route("/api/v1/subscribers/{name}/deliveries", get(list_deliveries))
        .route("/api/v1/subscribers/{name}/redeliver", post(redeliver))
}

/// A request allowed to read the feed; `token` is the `?token=` it came with, if that is how it
/// was let in (the feed's links carry it on).
pub struct FeedReader {
    token: Option<String>,
}

fn query_token(parts: &Parts) -> Option<String> {
    url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .filter(|t| !t.is_empty())
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Whether `token` is one of the feed's reader tokens (every one compared, in constant time).
fn is_reader(state: &AppState, token: &str) -> bool {
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let mut found = false;
    for (_, h) in &state.linking.config().feed.readers {
        found |= bool::from(h.as_bytes().ct_eq(hash.as_bytes()));
    }
    found
}

impl FromRequestParts<AppState> for FeedReader {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.linking.config().feed.public {
            return Ok(FeedReader { token: None });
        }
        let query = query_token(parts);
        if let Some(t) = &query {
            if is_reader(state, t) {
                return Ok(FeedReader { token: query });
            }
            // An API token in the query, for the same feed readers.
            let hash = hex::encode(Sha256::digest(t.as_bytes()));
            if state.store().api_token(&hash).await.map_err(|e| ApiError::from(e).into_response())?.is_some() {
                return Ok(FeedReader { token: query });
            }
            return Err(ApiError::Unauthorized("the feed token is not valid".into()).into_response());
        }
        if bearer(parts).is_some_and(|t| is_reader(state, t)) {
            return Ok(FeedReader { token: None });
        }
        // An API token or a board session, as for the rest of the read API.
        authenticate(parts, state, None).await.map_err(IntoResponse::into_response)?;
        Ok(FeedReader { token: None })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
    /// Read by [`FeedReader`]; allowed here so that `deny_unknown_fields` lets it through.
    #[serde(default)]
    #[allow(dead_code)]
    token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapQuery {
    /// The version the feed linked to (it only makes each version's link distinct); the current
    /// version is served.
    #[serde(default)]
    #[allow(dead_code)]
    v: Option<i64>,
    #[serde(default)]
    #[allow(dead_code)]
    token: Option<String>,
}

/// `Tue, 01 Jul 2026 00:00:00 GMT`.
fn http_date(ms: i64) -> String {
    Timestamp(ms).to_datetime().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Whether the request's validators match: `If-None-Match` (it wins when present), else
/// `If-Modified-Since` at or after the last change (to the second, as HTTP dates go).
fn not_modified(headers: &HeaderMap, etag: &str, last_modified: i64) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        return inm.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == etag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .is_some_and(|since| since.timestamp() >= last_modified.div_euclid(1000))
}

/// The document with `ETag` (a hash of its bytes) and `Last-Modified`, or `304` when the client
/// already has it.
fn conditional(headers: &HeaderMap, doc: Rendered, content_type: &'static str, public: bool) -> Response {
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&doc.body))[..32]);
    let mut out = HeaderMap::new();
    out.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header"));
    if let Ok(v) = HeaderValue::from_str(&http_date(doc.last_modified)) {
        out.insert(header::LAST_MODIFIED, v);
    }
    // Readers revalidate every time (cheap with the validators); shared caches keep a
    // token-protected feed to themselves.
    let cache = if public { "public, no-cache" } else { "private, no-cache" };
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if not_modified(headers, &etag, doc.last_modified) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (StatusCode::OK, out, doc.body).into_response()
}

/// `GET /feeds/alerts.atom`.
pub async fn feed(
    State(state): State<AppState>,
    reader: FeedReader,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must not be negative".into()));
    }
    let doc = state.linking.feed_page(limit, offset, reader.token.as_deref()).await?;
    let public = state.linking.config().feed.public;
    Ok(conditional(&headers, doc, "application/atom+xml; charset=utf-8", public))
}

/// `GET /feeds/alerts/{id}.cap`.
pub async fn cap_document(
    State(state): State<AppState>,
    _reader: FeedReader,
    headers: HeaderMap,
    Path(file): Path<String>,
    query: Result<Query<CapQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id: i64 = file.strip_suffix(".cap").and_then(|id| id.parse().ok()).ok_or(ApiError::NotFound)?;
    let doc = state.linking.cap_document(id).await?.ok_or(ApiError::NotFound)?;
    let public = state.linking.config().feed.public;
    Ok(conditional(&headers, doc, "application/cap+xml; charset=utf-8", public))
}

fn time(ms: Option<i64>) -> Value {
    ms.map(|m| Value::String(Timestamp(m).to_rfc3339())).unwrap_or(Value::Null)
}

fn delivery_json(d: &LinkDeliveryRow) -> Value {
    json!({
        "id": d.id,
        "event": d.event,
        "event_key": d.event_key,
        "alert_id": d.alert_id,
        "call_id": d.call_id,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": time(Some(d.created_at)),
        "updated_at": time(Some(d.updated_at)),
        "next_attempt_at": if d.state == "queued" { time(Some(d.next_attempt_at)) } else { Value::Null },
        "delivered_at": time(d.delivered_at),
    })
}

#[utoipa::path(get, path = "/api/v1/subscribers", tag = "links",
    responses((status = 200, description = "{\"subscribers\": [{\"name\", \"configured\", \"target\", \"events\", \"queued\", \"sending\", \"delivered\", \"failed\", \"last_delivered_at\", \"oldest_waiting_at\", \"head\"}], \"total\"}", body = serde_json::Value),
              (status = 401, description = "No session or API token"), (status = 403, description = "Not an officer")))]
/// `GET /api/v1/subscribers`: each configured subscriber (and any that has deliveries but is no
/// longer configured) with its deliveries by state and the one the others wait behind.
pub async fn list_subscribers(State(state): State<AppState>, _officer: Officer) -> Result<Json<Value>, ApiError> {
    let stats = state.store().link_subscriber_stats().await?;
    let mut names: Vec<String> = state.linking.config().subscribers.iter().map(|s| s.name.clone()).collect();
    names.extend(stats.iter().map(|s| s.subscriber.clone()).filter(|n| state.linking.subscriber(n).is_none()));
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let st = stats.iter().find(|s| s.subscriber == name);
        let head = state.store().link_queue_head(&name).await?;
        let sub = state.linking.subscriber(&name);
        out.push(json!({
            "name": name,
            "configured": sub.is_some(),
            "target": sub.map(|s| s.target()),
            "events": sub.map(|s| s.filter.patterns().to_vec()),
            "queued": st.map_or(0, |s| s.queued),
            "sending": st.map_or(0, |s| s.sending),
            "delivered": st.map_or(0, |s| s.delivered),
            "failed": st.map_or(0, |s| s.failed),
            "last_delivered_at": time(st.and_then(|s| s.last_delivered_at)),
            "oldest_waiting_at": time(st.and_then(|s| s.oldest_waiting_at)),
            "head": head.as_ref().map(delivery_json),
        }));
    }
    let total = out.len();
    Ok(Json(json!({"subscribers": out, "total": total})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

fn known_subscriber(state: &AppState, name: &str, has_rows: bool) -> Result<(), ApiError> {
    if state.linking.subscriber(name).is_some() || has_rows {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

#[utoipa::path(get, path = "/api/v1/subscribers/{name}/deliveries", tag = "links",
    params(("name" = String, Path, description = "The subscriber"),
           ("state" = Option<String>, Query, description = "queued, sending, delivered or failed"),
           ("limit" = Option<i64>, Query, description = "1..=1000, default 100"),
           ("offset" = Option<i64>, Query, description = "default 0")),
    responses((status = 200, description = "{\"subscriber\", \"deliveries\": [{\"id\", \"event\", \"event_key\", \"alert_id\", \"call_id\", \"state\", \"attempts\", \"last_status\", \"last_error\", \"created_at\", \"updated_at\", \"next_attempt_at\", \"delivered_at\"}], \"total\"}", body = serde_json::Value),
              (status = 400, description = "Bad state, limit or offset"), (status = 401, description = "No session or API token"),
              (status = 403, description = "Not an officer"), (status = 404, description = "No such subscriber")))]
/// `GET /api/v1/subscribers/{name}/deliveries`: newest first.
pub async fn list_deliveries(
    State(state): State<AppState>,
    _officer: Officer,
    Path(name): Path<String>,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = q.state.as_deref() {
        if !matches!(s, "queued" | "sending" | "delivered" | "failed") {
            return Err(ApiError::BadRequest("state must be queued, sending, delivered or failed".into()));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must not be negative".into()));
    }
    let filter = LinkDeliveryFilter { subscriber: name.clone(), state: q.state, limit, offset };
    let (rows, total) = state.store().link_deliveries(&filter).await?;
    known_subscriber(&state, &name, total > 0)?;
    Ok(Json(json!({
        "subscriber": name,
        "deliveries": rows.iter().map(delivery_json).collect::<Vec<_>>(),
        "total": total,
    })))
}

#[utoipa::path(post, path = "/api/v1/subscribers/{name}/redeliver", tag = "links",
    params(("name" = String, Path, description = "The subscriber")),
    responses((status = 200, description = "{\"subscriber\", \"requeued\"}", body = serde_json::Value),
              (status = 401, description = "No session or API token"), (status = 403, description = "Not an officer"),
              (status = 404, description = "No such subscriber")))]
/// `POST /api/v1/subscribers/{name}/redeliver`: its failed deliveries go back in the queue, first
/// in line (they are the oldest), and are tried again with their few attempts.
pub async fn redeliver(
    State(state): State<AppState>,
    Officer(actor): Officer,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    known_subscriber(&state, &name, false)?;
    let now = state.tracker.clock().now().millis();
    let n = state.store().requeue_failed_link_deliveries(&name, now).await?;
    tracing::info!(subscriber = %name, requeued = n, actor = %actor.label(), "failed deliveries queued again");
    state.linking.wake(&name);
    Ok(Json(json!({"subscriber": name, "requeued": n})))
}
