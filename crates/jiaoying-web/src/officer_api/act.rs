//! Officers' actions: re-call now, cancel an alert with a reason, a manual warning. Bad input
//! gets a 4xx and changes nothing; an action the call's or alert's state refuses gets 409 with
//! the state it found.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiaoying_core::{AreaCode, Tier, Timestamp};
use jiaoying_ingest::IngestError;
use jiaoying_tracker::{CancelOutcome, ManualError, RecallOutcome};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::path_id;
use crate::api::body;
use crate::error::ApiError;
use crate::session::Officer;
use crate::state::AppState;

/// A JSON body; an empty body is `{}`. Malformed JSON is 400, a field of the wrong type 422.
fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable(e.to_string()),
        _ => ApiError::BadRequest(format!("malformed JSON: {e}")),
    })
}

/// 409: the action does not apply to what the call or alert has become. The body is the SPEC's
/// error with the outcome beside it, so a page can say what it found.
fn conflict(message: String, outcome: Value) -> Response {
    let mut body = json!({"error": {"code": "conflict", "message": message}});
    if let (Some(b), Some(o)) = (body.as_object_mut(), outcome.as_object()) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    (StatusCode::CONFLICT, Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecallBody {}

/// `POST /api/v1/calls/{id}/recall`: send the call's message again now, as a repeat would.
#[utoipa::path(post, path = "/api/v1/calls/{id}/recall", tag = "actions",
    params(("id" = i64, Path, description = "Call id")),
    responses((status = 200, description = "Re-called: {\"result\": \"recalled\", \"call_id\", \"attempt\", \"deadline\", \"messages\"}", body = serde_json::Value),
              (status = 401, description = "No session or API token"),
              (status = 403, description = "Viewers may not act; or a session without its CSRF token"),
              (status = 404, description = "No such call"),
              (status = 409, description = "Answered, ended, or the alert ended: nothing sent (result refused, alert_ended, no_contact)")))]
pub async fn recall(
    State(state): State<AppState>,
    Officer(actor): Officer,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let _: RecallBody = parse_body(&body(raw, state.body_limit)?)?;
    let outcome = state.tracker.recall_now(id, &actor.label()).await?;
    let value = serde_json::to_value(&outcome).unwrap_or(Value::Null);
    Ok(match outcome {
        RecallOutcome::Recalled { .. } => {
            tracing::info!(call_id = id, actor = %actor.label(), "call re-called by an officer");
            Json(value).into_response()
        }
        RecallOutcome::NotFound { .. } => return Err(ApiError::NotFound),
        RecallOutcome::Refused { state: s, .. } => {
            conflict(format!("该呼叫已{}，不能重新呼叫 (the call is {s}: nothing to re-call)", s.zh()), value)
        }
        RecallOutcome::AlertEnded { ref alert_state, .. } => {
            conflict(format!("预警已结束，不能重新呼叫 (the alert is {alert_state})"), value)
        }
        RecallOutcome::NoContact { .. } => {
            conflict("没有可用的联系方式 (no channel of the policy reaches this person)".into(), value)
        }
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    /// Why it is lifted (required, 1 to 500 characters).
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/alerts/{id}/cancel` with `{"reason"}`: every open call ends and those already
/// called are told the alert is lifted (解除), as a CAP Cancel does.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/cancel", tag = "actions",
    params(("id" = i64, Path, description = "Alert id")),
    request_body = CancelBody,
    responses((status = 200, description = "{\"result\": \"cancelled\", \"alert_id\", \"calls_ended\"}", body = serde_json::Value),
              (status = 401, description = "No session or API token"),
              (status = 403, description = "Viewers may not act; or a session without its CSRF token"),
              (status = 404, description = "No such alert"),
              (status = 409, description = "The alert is not active (result not_active)"),
              (status = 422, description = "No reason")))]
pub async fn cancel(
    State(state): State<AppState>,
    Officer(actor): Officer,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let b: CancelBody = parse_body(&body(raw, state.body_limit)?)?;
    let reason = b.reason.map(|r| r.trim().to_string()).unwrap_or_default();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::Unprocessable("reason is required (1 to 500 characters): say why it is lifted".into()));
    }
    let outcome = state.tracker.cancel_alert(id, &actor.label(), &reason).await?;
    let value = serde_json::to_value(&outcome).unwrap_or(Value::Null);
    Ok(match outcome {
        CancelOutcome::Cancelled { calls_ended, .. } => {
            tracing::info!(alert_id = id, actor = %actor.label(), calls_ended, "alert cancelled by an officer");
            Json(value).into_response()
        }
        CancelOutcome::NotFound { .. } => return Err(ApiError::NotFound),
        CancelOutcome::NotActive { ref state, .. } => {
            conflict(format!("预警不在生效中，无法解除 (the alert is {state}, not active)"), value)
        }
    })
}

/// An area of a manual warning: a code, bare or as `{"code": ...}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ManualArea {
    Code(String),
    Object { code: String },
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ManualBody {
    /// The event, e.g. 暴雨.
    event: String,
    /// red, orange, yellow or blue (红色/橙色/黄色/蓝色 and I–IV accepted).
    tier: String,
    /// Registered area codes (strings, or {"code": ...}).
    #[schema(value_type = Vec<String>)]
    areas: Vec<ManualArea>,
    #[serde(default)]
    headline: Option<String>,
    text: String,
    /// A drill (演练): the same calls, marked, kept apart.
    #[serde(default)]
    drill: bool,
}

/// `POST /api/v1/alerts/manual`: a warning received by phone or fax becomes an alert like any
/// other, from the source `duty_officer`, through the JSON ingest and accept path.
#[utoipa::path(post, path = "/api/v1/alerts/manual", tag = "actions",
    request_body = ManualBody,
    responses((status = 201, description = "{\"id\", \"tier\", \"calls\"}", body = serde_json::Value),
              (status = 400, description = "Malformed JSON or an empty body"),
              (status = 401, description = "No session or API token"),
              (status = 403, description = "Viewers may not act; or a session without its CSRF token"),
              (status = 422, description = "Unknown tier or area, missing text: nothing stored")))]
pub async fn manual(
    State(state): State<AppState>,
    Officer(actor): Officer,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = body(raw, state.body_limit)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("send {\"event\", \"tier\", \"areas\", \"text\"} as JSON".into()));
    }
    let m: ManualBody = parse_body(&bytes)?;
    let tier: Tier =
        m.tier.parse().map_err(|e: jiaoying_core::tier::TierError| ApiError::Unprocessable(e.to_string()))?;
    let event = m.event.trim();
    if event.is_empty() || event.chars().count() > 64 {
        return Err(ApiError::Unprocessable("event is required (1 to 64 characters), e.g. 暴雨".into()));
    }
    let text = m.text.trim();
    if text.is_empty() || text.chars().count() > 4000 {
        return Err(ApiError::Unprocessable("text is required (1 to 4000 characters): the warning as received".into()));
    }
    if m.areas.is_empty() {
        return Err(ApiError::Unprocessable("areas: name at least one area code".into()));
    }
    let mut areas = Vec::new();
    for a in &m.areas {
        let raw = match a {
            ManualArea::Code(c) | ManualArea::Object { code: c } => c,
        };
        let code = AreaCode::parse(raw).map_err(|e| ApiError::Unprocessable(format!("areas: {e}")))?;
        areas.push(json!({"code": code.as_str()}));
    }
    let headline = m
        .headline
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("{event}{}预警（值班员录入）", tier.zh()));
    let now = state.tracker.clock().now();
    // The JSON alert form, so the manual warning goes through the ingest path every source uses
    // (its checks, its event normalisation) and is kept as received.
    let form = json!({
        "identifier": format!("manual-{}-{:08x}", now.millis(), rand_suffix()),
        "sender": actor.label(),
        "sent": Timestamp(now.millis()).to_rfc3339(),
        "msg_type": "Alert",
        "status": if m.drill { "Exercise" } else { "Actual" },
        "event": event,
        "tier": tier.as_str(),
        "headline": headline,
        "description": text,
        "areas": areas,
    })
    .to_string();
    let alert = state.normaliser.json_alert(form.as_bytes()).map_err(|e| match e {
        IngestError::Malformed(m) | IngestError::Unsafe(m) => ApiError::BadRequest(m),
        IngestError::TooLarge(_) => ApiError::TooLarge(state.body_limit),
        IngestError::Invalid(m) => ApiError::Unprocessable(m),
    })?;
    let accepted = state.tracker.manual_alert(&alert, &actor.label(), &form).await.map_err(|e| match e {
        ManualError::Invalid(m) => ApiError::Unprocessable(m),
        ManualError::Tracker(t) => ApiError::from(t),
    })?;
    tracing::info!(alert_id = accepted.id, actor = %actor.label(), calls = accepted.calls, "manual alert entered");
    Ok((StatusCode::CREATED, Json(json!({"id": accepted.id, "tier": accepted.tier, "calls": accepted.calls}))))
}

/// A random suffix that keeps two manual warnings of the same millisecond apart.
fn rand_suffix() -> u32 {
    rand::random()
}
