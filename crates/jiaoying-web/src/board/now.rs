//! `/`: what needs attention now: the active alerts (most severe, then newest, first) with their
//! answer figures, the feed-silent and roster-gap warnings, who is on duty and the gateway backlogs.

use axum::extract::State;
use axum::response::Response;
use minijinja::{context, Value};
use serde_json::json;

use super::page::{frame, render, PageReq};
use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::AppState;

pub async fn show(State(app): State<AppState>, Viewer(actor): Viewer, req: PageReq) -> Result<Response, ApiError> {
    let health = crate::officer_api::board_health(&app).await?;
    let now = app.tracker.board_now(health).await?;
    let ctx = context! {
        ..frame(&req, &actor, "now", json!({"live": true})),
        ..context! { now => Value::from_serialize(&now) },
    };
    render(&app, &req, "now.html", ctx)
}
