//! `GET /api/v1/events`: every change of a call's state, live, as Server-Sent Events. The stream
//! reads the append-only event log, so it shows what every instance wrote; a reconnecting client
//! sends `Last-Event-ID` and resumes exactly where it left off.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use jiaoying_core::Timestamp;
use serde_json::json;

use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::AppState;

/// How often an idle stream looks at the log; answers appear within this.
const POLL: Duration = Duration::from_millis(250);

#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, description = "Server-Sent Events: `event: call` with {\"alert_id\", \"call_id\", \"person_id\", \"state\", \"at\"}; resume with Last-Event-ID", content_type = "text/event-stream", body = String), (status = 401, description = "No session or API token")))]
pub async fn stream(
    State(state): State<AppState>,
    _viewer: Viewer,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last: i64 =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(-1);
    // A new client starts from now; a reconnecting one from its last event.
    let start = if last >= 0 { last } else { latest_id(&state).await? };
    let stream =
        futures_util::stream::unfold((state, start, Vec::new()), |(state, mut last, mut pending)| async move {
            loop {
                if let Some(e) = pending.pop() {
                    return Some((Ok(e), (state, last, pending)));
                }
                match state.store().events_after(last, 200).await {
                    Ok(rows) if !rows.is_empty() => {
                        last = rows.last().map(|r| r.id).unwrap_or(last);
                        pending = rows
                            .iter()
                            .rev()
                            .map(|r| {
                                let data = json!({
                                    "alert_id": r.alert_id,
                                    "call_id": r.call_id,
                                    "person_id": r.person_id,
                                    "state": r.to_state,
                                    "at": Timestamp(r.at).to_rfc3339(),
                                });
                                Event::default().event("call").id(r.id.to_string()).data(data.to_string())
                            })
                            .collect();
                    }
                    Ok(_) => tokio::time::sleep(POLL).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream cannot read the log; retrying");
                        tokio::time::sleep(POLL * 4).await;
                    }
                }
            }
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn latest_id(state: &AppState) -> Result<i64, ApiError> {
    // Walk to the end of the log in pages; cheap, and only at connect.
    let mut last = 0;
    loop {
        let rows = state.store().events_after(last, 1000).await?;
        match rows.last() {
            Some(r) => last = r.id,
            None => return Ok(last),
        }
    }
}
