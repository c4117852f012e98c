//! Inbound gateway hooks: SMS replies and delivery receipts in the SPEC's generic form, each body
//! authenticated by `X-Jiaoying-Signature` with the channel's secret before it is parsed.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use jiaoying_dispatch::sms_webhook::verify;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::body;
use crate::error::ApiError;
use crate::state::AppState;

const SIGNATURE_HEADER: &str = "x-jiaoying-signature";

/// Checks the body's signature; unknown channels and bad signatures look the same (401), so a
/// prober learns nothing about which channels exist.
fn authenticate(state: &AppState, channel: &str, headers: &HeaderMap, bytes: &[u8]) -> Result<(), ApiError> {
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ok =
        state.hook_secrets.get(channel).is_some_and(|secret| verify(secret.expose_secret().as_bytes(), bytes, sig));
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("missing or invalid X-Jiaoying-Signature".into()))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable(e.to_string()),
        _ => ApiError::BadRequest(format!("malformed JSON: {e}")),
    })
}

#[derive(Deserialize)]
struct InboundSms {
    from: String,
    text: String,
    #[serde(default)]
    id: Option<String>,
}

/// `POST /hooks/sms/{channel}`: a reply from a person.
pub async fn sms_reply(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bytes = body(raw, state.body_limit)?;
    authenticate(&state, &channel, &headers, &bytes)?;
    let sms: InboundSms = parse(&bytes)?;
    if sms.text.chars().count() > 1000 {
        return Err(ApiError::Unprocessable("text is longer than 1000 characters".into()));
    }
    let outcome = state.tracker.sms_reply(&channel, &sms.from, &sms.text, sms.id.as_deref()).await?;
    tracing::info!(channel = %channel, outcome = ?outcome, "SMS reply handled");
    Ok(Json(serde_json::to_value(outcome).unwrap_or(Value::Null)))
}

#[derive(Deserialize)]
struct Receipt {
    id: serde_json::Value,
    status: String,
    #[serde(default)]
    error: Option<String>,
}

/// `POST /hooks/sms/{channel}/status`: a delivery receipt for one of our messages.
pub async fn sms_status(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bytes = body(raw, state.body_limit)?;
    authenticate(&state, &channel, &headers, &bytes)?;
    let r: Receipt = parse(&bytes)?;
    // Our id went out as a string; accept it back as a string or a number.
    let id = match &r.id {
        Value::String(s) => s.parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| ApiError::Unprocessable("id must be the message id we sent".into()))?;
    let delivered = match r.status.as_str() {
        "delivered" => true,
        "failed" => false,
        other => return Err(ApiError::Unprocessable(format!("status {other:?} is not delivered or failed"))),
    };
    // A channel's secret vouches only for that channel's messages.
    let ours = state.store().message(id).await?.is_some_and(|m| m.channel == channel);
    let row = if ours { state.outbox.receipt(id, delivered, r.error.as_deref()).await? } else { None };
    Ok(Json(json!({"result": if row.is_some() { "recorded" } else { "ignored" }})))
}
