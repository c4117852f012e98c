//! `/admin/users`: the admins' page for board users: each with role, creation time and live
//! sessions; a form to add one; per user, a new role or password, or deletion. The page acts
//! through `/api/v1/users` (fetch with the CSRF token), like every board action.

use axum::extract::State;
use axum::response::Response;
use minijinja::{context, Value};
use serde_json::json;

use super::page::{frame, render, PageReq};
use crate::error::ApiError;
use crate::session::Admin;
use crate::state::AppState;

pub async fn show(State(app): State<AppState>, Admin(actor): Admin, req: PageReq) -> Result<Response, ApiError> {
    let users = crate::users::users(&app).await?;
    let ctx = context! {
        ..frame(&req, &actor, "users", json!({})),
        ..context! { users => Value::from_serialize(&users), roles => ["admin", "officer", "viewer"] },
    };
    render(&app, &req, "users.html", ctx)
}
