//! Inbound gateway hooks. Each request is handed to the named channel's adapter, which
//! authenticates it (signature, secret path token, address allow-list) and turns the provider's
//! payload into provider-neutral events; this module acts on the events and answers with the body
//! the provider expects. Unknown channels and failed authentication look the same (401), so a
//! prober learns nothing about which channels exist.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiaoying_dispatch::{HookError, HookEvent, HookKind, HookRequest, MessageRef};
use jiaoying_store::MessageRow;
use serde_json::{json, Value};

use crate::api::body;
use crate::error::ApiError;
use crate::state::AppState;

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        match e {
            HookError::Unauthorized(m) => ApiError::Unauthorized(m),
            HookError::Malformed(m) => ApiError::BadRequest(m),
            HookError::Invalid(m) => ApiError::Unprocessable(m),
        }
    }
}

/// One axum handler per hook path, each handing its kind of callback to [`handle`].
macro_rules! hook_handler {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        pub async fn $name(
            state: State<AppState>,
            Path(channel): Path<String>,
            peer: Option<Extension<ConnectInfo<SocketAddr>>>,
            uri: Uri,
            headers: HeaderMap,
            raw: Result<Bytes, BytesRejection>,
        ) -> Result<Response, ApiError> {
            handle(state, $kind, channel, peer, uri, headers, raw).await
        }
    };
}

hook_handler!(
    /// `POST /hooks/sms/{channel}`: replies from persons (上行).
    sms_reply,
    HookKind::Reply
);
hook_handler!(
    /// `POST /hooks/sms/{channel}/status`: delivery receipts.
    sms_status,
    HookKind::Status
);
hook_handler!(
    /// `POST /hooks/voice/{channel}`: a key pressed on a call.
    voice_key,
    HookKind::Voice
);
hook_handler!(
    /// `POST /hooks/voice/{channel}/status`: how a voice call ended.
    voice_status,
    HookKind::VoiceStatus
);

async fn handle(
    State(state): State<AppState>,
    kind: HookKind,
    channel: String,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body(raw, state.body_limit)?;
    let Some(adapter) = state.outbox.channels().get(&channel).cloned() else {
        return Err(ApiError::Unauthorized("unknown channel or bad credentials".into()));
    };
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or_else(|| uri.path());
    let url = format!("{}{}", state.public_url, path_and_query);
    let req = HookRequest {
        kind,
        url: &url,
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &bytes,
        remote: peer.map(|Extension(ConnectInfo(addr))| addr.ip()),
    };
    let parsed = adapter.parse_hook(&req).map_err(|e| {
        tracing::info!(channel = %channel, error = %e, "gateway callback refused");
        ApiError::from(e)
    })?;
    let mut results = Vec::with_capacity(parsed.events.len());
    for event in parsed.events {
        results.push(act(&state, &channel, event).await?);
    }
    Ok(match parsed.ack {
        Some(ack) => ([(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response(),
        // The generic hooks carry one event each and answer with what became of it.
        None => match results.len() {
            1 => Json(results.remove(0)).into_response(),
            _ => Json(json!({ "results": results })).into_response(),
        },
    })
}

/// Acts on one event; the value says what became of it (for the generic hooks' answer and logs).
async fn act(state: &AppState, channel: &str, event: HookEvent) -> Result<Value, ApiError> {
    match event {
        HookEvent::Reply { from, text, dedupe } => {
            let outcome = state.tracker.sms_reply(channel, &from, &text, dedupe.as_deref()).await?;
            tracing::info!(channel = %channel, outcome = ?outcome, "SMS reply handled");
            Ok(serde_json::to_value(outcome).unwrap_or(Value::Null))
        }
        HookEvent::Receipt { message, delivered, error } => {
            let row = match ours(state, channel, &message).await? {
                Some(m) => state.outbox.receipt(m.id, delivered, error.as_deref()).await?,
                None => None,
            };
            Ok(json!({"result": if row.is_some() { "recorded" } else { "ignored" }}))
        }
        HookEvent::Keypress { message, digits } => {
            let outcome = match ours(state, channel, &message).await? {
                Some(m) => state.tracker.voice_key(channel, m.id, &digits).await?,
                None => jiaoying_tracker::VoiceOutcome::UnknownMessage,
            };
            tracing::info!(channel = %channel, outcome = ?outcome, "voice key handled");
            Ok(serde_json::to_value(outcome).unwrap_or(Value::Null))
        }
        HookEvent::VoiceUnanswered { message, status } => {
            // Busy, no-answer, voicemail: the call was not taken, so the message failed; the
            // person's call stays open and its timer repeats and escalates it.
            let row = match ours(state, channel, &message).await? {
                Some(m) => {
                    state.outbox.receipt(m.id, false, Some(&format!("voice call not answered: {status}"))).await?
                }
                None => None,
            };
            Ok(json!({"result": if row.is_some() { "recorded" } else { "ignored" }}))
        }
    }
}

/// The message an event names, if it went out on this channel: a channel's credentials vouch only
/// for that channel's messages.
async fn ours(state: &AppState, channel: &str, message: &MessageRef) -> Result<Option<MessageRow>, ApiError> {
    let row = match message {
        MessageRef::Ours(id) => state.store().message(*id).await?,
        MessageRef::Provider(pid) => state.store().message_by_provider_id(channel, pid).await?,
    };
    Ok(row.filter(|m| m.channel == channel))
}
