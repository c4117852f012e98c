//! Duty officers' actions on a call (a board session or API token with the `officer` or `admin`
//! role): answer on a person's behalf with a mandatory note, and escalate now. Viewers may only
//! look.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::Json;
use jiaoying_tracker::{AnswerOutcome, AnswerRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::body;
use crate::error::ApiError;
use crate::session::Officer;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    note: Option<String>,
}

fn parse(bytes: &[u8]) -> Result<ActionBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody { note: None });
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable(e.to_string()),
        _ => ApiError::BadRequest(format!("malformed JSON: {e}")),
    })
}

fn call_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// `POST /api/v1/calls/{id}/answer` with `{"note": "..."}`: the officer reached the person by
/// other means; the record shows who answered for them and why.
#[utoipa::path(post, path = "/api/v1/calls/{id}/answer", tag = "actions", params(("id" = i64, Path)),
    request_body(content = serde_json::Value, description = "{\"note\": \"...\"} (required)", content_type = "application/json"),
    responses((status = 200, description = "{\"result\": \"answered\" | \"already_answered\" | \"closed\", ...}", body = serde_json::Value), (status = 401, description = "No session or API token"),
              (status = 403, description = "Viewers may not act"), (status = 404, description = "No such call"), (status = 422, description = "No note")))]
pub async fn answer_on_behalf(
    State(state): State<AppState>,
    Officer(officer): Officer,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = call_id(&id)?;
    let note = parse(&body(raw, state.body_limit)?)?.note.map(|n| n.trim().to_string()).unwrap_or_default();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(ApiError::Unprocessable(
            "note is required (1 to 500 characters): say how the person was reached".into(),
        ));
    }
    let req = AnswerRequest { call_id: id, via: "officer".into(), actor: officer.label(), note: Some(note) };
    match state.tracker.answer(&req).await? {
        AnswerOutcome::NotFound { .. } => Err(ApiError::NotFound),
        outcome => Ok(Json(serde_json::to_value(outcome).unwrap_or(Value::Null))),
    }
}

/// `POST /api/v1/calls/{id}/escalate`: hand the call to the next person up now.
#[utoipa::path(post, path = "/api/v1/calls/{id}/escalate", tag = "actions", params(("id" = i64, Path)),
    responses((status = 200, description = "{\"result\": \"escalating\" | \"not_waiting\", \"call_id\"}", body = serde_json::Value), (status = 401, description = "No session or API token"),
              (status = 403, description = "Viewers may not act"), (status = 404, description = "No such call")))]
pub async fn escalate_now(
    State(state): State<AppState>,
    Officer(officer): Officer,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = call_id(&id)?;
    let note = parse(&body(raw, state.body_limit)?)?.note;
    state.store().call(id).await?.ok_or(ApiError::NotFound)?;
    let done = state.tracker.escalate_call_now(id, &officer.label(), "officer", note).await?;
    Ok(Json(json!({"result": if done { "escalating" } else { "not_waiting" }, "call_id": id})))
}
