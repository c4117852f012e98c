//! The board's data and the duty officers' actions as `/api/v1` endpoints: the view models of
//! `jiaoying_tracker::board` as JSON (every page's data), the exports (CSV, XLSX), and the
//! actions re-call now, cancel an alert, and a manual warning. Reads take [`Viewer`], actions
//! [`Officer`]; every action is logged under `actor.label()`.
//!
//! [`Viewer`]: crate::session::Viewer
//! [`Officer`]: crate::session::Officer

mod act;
mod export;
mod openapi;
mod read;

use axum::routing::{get, post};
use axum::Router;
use jiaoying_tracker::board::{BoardHealth, FeedWarning};

use crate::error::ApiError;
use crate::state::AppState;

/// Shared state of this part of the board, held in [`AppState`].
#[derive(Default)]
pub struct State {}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/board/now", get(read::now))
        .route("/api/v1/alerts/{id}/board", get(read::alert))
        .route("/api/v1/alerts/{id}/curve", get(read::curve))
        .route("/api/v1/map", get(read::map))
        .route("/api/v1/audit", get(read::audit))
        .route("/api/v1/audit.csv", get(export::audit_csv))
        .route("/api/v1/alerts/{id}/calls.csv", get(export::calls_csv))
        .route("/api/v1/alerts/{id}/calls.xlsx", get(export::calls_xlsx))
        .route("/api/v1/calls/{id}/recall", post(act::recall))
        .route("/api/v1/alerts/{id}/cancel", post(act::cancel))
        .route("/api/v1/alerts/manual", post(act::manual))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
}

/// What the `Now` view needs from outside the tracker: the feed poller's silent feeds and the
/// outbox's backlog per channel. The board pages call this too.
pub async fn board_health(state: &AppState) -> Result<BoardHealth, ApiError> {
    let backlogs = state.outbox.backlog().await?;
    let silent_feeds = match &state.feeds {
        None => Vec::new(),
        Some(poller) => poller
            .silent_feeds(state.tracker.clock().now())
            .await
            .map_err(|e| match e {
                jiaoying_feeds::FeedError::Store(s) => ApiError::from(s),
                other => ApiError::Internal(Box::new(other)),
            })?
            .into_iter()
            .map(|s| {
                FeedWarning::new(
                    &s.source,
                    s.silent_for.millis(),
                    s.last_taken_at.map(|t| t.millis()),
                    s.failures,
                    s.last_error,
                )
            })
            .collect(),
    };
    let roster_gaps = state.duties.roster_gaps(state.tracker.clock().now(), None).await?;
    Ok(BoardHealth { silent_feeds, backlogs, roster_gaps })
}

/// A path id; anything not a number names no alert or call.
pub(crate) fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}
