//! `GET /api/v1/events`: every change of a call's state, live, as Server-Sent Events. The stream
//! reads the append-only event log, so it shows what every instance wrote; a reconnecting client
//! sends `Last-Event-ID` and resumes exactly where it left off. The stream ends when the server
//! shuts down (a graceful shutdown waits for open responses, and an open board would otherwise
//! hold it forever); browsers reconnect to the next instance by themselves.
//!
//! An idle stream reads the log again when any instance commits call events (`crate::live`,
//! PostgreSQL NOTIFY) or at its backstop poll (`server.events_poll`).

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

/// How long a stream waits after failing to read the log (the database may be down).
const RETRY: Duration = Duration::from_secs(1);

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
    let shutdown = state.shutdown.clone();
    let signal = state.events.clone();
    let stream = futures_util::stream::unfold(
        (state, start, Vec::new(), shutdown, signal),
        |(state, mut last, mut pending, mut shutdown, mut signal)| async move {
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                if let Some(e) = pending.pop() {
                    return Some((Ok(e), (state, last, pending, shutdown, signal)));
                }
                // Rings until now are answered by this read; a ring during it is not lost.
                signal.seen();
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
                    Ok(_) => {
                        // Until some instance commits events (NOTIFY rings), or the backstop poll.
                        if stopping(signal.poll(), &mut shutdown, signal.rung()).await {
                            return None;
                        }
                    }
                    Err(e) => {
                        // Debug: the background loops already warn once per outage, and every
                        // open board retrying each second must not flood the log.
                        tracing::debug!(error = %e, "event stream cannot read the log; retrying");
                        if stopping(RETRY, &mut shutdown, std::future::pending()).await {
                            return None;
                        }
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Sleeps for `d` or until `wake`; true at once when the server starts shutting down (or is
/// gone: the sender dropped), and the stream should end.
async fn stopping(
    d: Duration,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    wake: impl std::future::Future<Output = ()>,
) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = wake => false,
        changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
    }
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
