//! Board users, managed by admins (`/api/v1/users`; the page is `/admin/users`): list them, add
//! one, change a role or a password, delete one. Every handler takes [`Admin`]; a session needs
//! its CSRF token as for any action. Each change is one transaction with its entry in the audit
//! log (`admin_actions`), and no answer ever carries a password or its hash.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use jiaoying_store::{NewAdminAction, StoreError, UserChange, UserInfo};
use jiaoying_tracker::board::At;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::body;
use crate::error::ApiError;
use crate::session::{hash_password, Actor, Admin, PasswordError, Role};
use crate::state::AppState;

/// The audit kinds of admins' changes to users.
pub const AUDIT_KINDS: [&str; 3] = ["user_add", "user_update", "user_delete"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list).post(add))
        .route("/api/v1/users/{name}", patch(update).delete(remove))
}

/// A board user as the API and the page show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub name: String,
    /// `admin`, `officer` or `viewer`.
    pub role: String,
    pub created_at: At,
    pub updated_at: At,
    /// Sessions signed in now.
    pub sessions: i64,
}

impl From<UserInfo> for UserView {
    fn from(u: UserInfo) -> Self {
        UserView {
            name: u.name,
            role: u.role,
            created_at: At::new(u.created_at),
            updated_at: At::new(u.updated_at),
            sessions: u.sessions,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

/// Every user, by name.
pub async fn users(state: &AppState) -> Result<Vec<UserView>, ApiError> {
    let now = state.tracker.clock().now().millis();
    Ok(state.store().list_users(now).await?.into_iter().map(UserView::from).collect())
}

/// `GET /api/v1/users`.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, description = "Every board user by name (never a password hash)", body = UserList),
              (status = 401, description = "No session or API token"),
              (status = 403, description = "Not an admin")))]
pub async fn list(State(state): State<AppState>, Admin(_): Admin) -> Result<Json<UserList>, ApiError> {
    Ok(Json(UserList { users: users(&state).await? }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// 1 to 64 characters, no control characters.
    name: String,
    /// `admin`, `officer` or `viewer`.
    role: String,
    /// At least 10 characters.
    #[schema(format = Password)]
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChangeBody {
    /// A new role (`admin`, `officer` or `viewer`).
    #[serde(default)]
    role: Option<String>,
    /// A new password (at least 10 characters); the user's sessions end.
    #[serde(default)]
    #[schema(format = Password)]
    password: Option<String>,
}

/// A JSON body: malformed is 400, a missing or ill-typed field 422.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable(e.to_string()),
        _ => ApiError::BadRequest(format!("malformed JSON: {e}")),
    })
}

/// The same rule as `jiaoying user add`.
fn valid_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable("name must be 1 to 64 characters, without control characters".into()));
    }
    Ok(name.to_string())
}

fn valid_role(raw: &str) -> Result<Role, ApiError> {
    Role::parse(raw.trim())
        .ok_or_else(|| ApiError::Unprocessable(format!("role {raw:?} is not one of admin, officer, viewer")))
}

/// argon2id off the runtime; a password outside the rules is 422 (and never echoed).
async fn hash(password: String) -> Result<String, ApiError> {
    let hashed = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    hashed.map_err(|e| match e {
        PasswordError::TooShort | PasswordError::TooLong => ApiError::Unprocessable(format!("password: {e}")),
        e => ApiError::Internal(Box::new(e)),
    })
}

fn audit(state: &AppState, admin: &Actor, action: &str, target: &str, note: Option<String>) -> NewAdminAction {
    NewAdminAction {
        at: state.tracker.clock().now().millis(),
        actor: admin.label(),
        action: action.into(),
        target: target.into(),
        note,
    }
}

/// 409 with the SPEC's error body.
fn conflict(message: &str) -> Response {
    (StatusCode::CONFLICT, Json(json!({"error": {"code": "conflict", "message": message}}))).into_response()
}

const LAST_ADMIN: &str = "这是最后一个管理员，不能删除或降级 (the board must keep an admin: add another first)";

/// `POST /api/v1/users` with `{"name", "role", "password"}`.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, description = "{\"result\": \"added\", \"name\", \"role\"}", body = serde_json::Value),
              (status = 400, description = "Malformed JSON"),
              (status = 401, description = "No session or API token"),
              (status = 403, description = "Not an admin; or a session without its CSRF token"),
              (status = 409, description = "The name is taken"),
              (status = 422, description = "A bad name, role or password: nothing stored")))]
pub async fn add(
    State(state): State<AppState>,
    Admin(admin): Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: NewUserBody = parse(&body(raw, state.body_limit)?)?;
    let name = valid_name(&b.name)?;
    let role = valid_role(&b.role)?;
    let password_hash = hash(b.password).await?;
    let entry = audit(&state, &admin, "user_add", &name, Some(format!("角色 {0} (role {0})", role.as_str())));
    match state.store().insert_user(&name, role.as_str(), &password_hash, &entry).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(conflict(&format!("用户 {name} 已存在 (user {name:?} exists)"))),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %name, role = role.as_str(), admin = %admin.name, "board user added");
    Ok((StatusCode::CREATED, Json(json!({"result": "added", "name": name, "role": role.as_str()}))).into_response())
}

/// `PATCH /api/v1/users/{name}` with `{"role"?, "password"?}`.
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "users", request_body = UserChangeBody,
    params(("name" = String, Path, description = "The user's name")),
    responses((status = 200, description = "{\"result\": \"updated\", \"name\"}", body = serde_json::Value),
              (status = 400, description = "Malformed JSON"),
              (status = 401, description = "No session or API token"),
              (status = 403, description = "Not an admin; or a session without its CSRF token"),
              (status = 404, description = "No such user"),
              (status = 409, description = "It would demote the last admin"),
              (status = 422, description = "Nothing to change, or a bad role or password")))]
pub async fn update(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: UserChangeBody = parse(&body(raw, state.body_limit)?)?;
    let role = b.role.as_deref().map(valid_role).transpose()?;
    let password = b.password.filter(|p| !p.is_empty());
    if role.is_none() && password.is_none() {
        return Err(ApiError::Unprocessable("send a new role, a new password, or both".into()));
    }
    let password_hash = match password {
        Some(p) => Some(hash(p).await?),
        None => None,
    };
    let mut what = Vec::new();
    if let Some(r) = role {
        what.push(format!("角色改为 {0} (role set to {0})", r.as_str()));
    }
    if password_hash.is_some() {
        what.push("密码已更改，会话已结束 (password changed, sessions ended)".to_string());
    }
    let entry = audit(&state, &admin, "user_update", &name, Some(what.join("; ")));
    let change = state.store().update_user(&name, role.map(Role::as_str), password_hash.as_deref(), &entry).await?;
    Ok(match change {
        UserChange::Done => {
            tracing::info!(user = %name, admin = %admin.name, "board user changed");
            Json(json!({"result": "updated", "name": name})).into_response()
        }
        UserChange::NotFound => return Err(ApiError::NotFound),
        UserChange::LastAdmin => conflict(LAST_ADMIN),
    })
}

/// `DELETE /api/v1/users/{name}`: the user and every session of theirs end at once.
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "The user's name")),
    responses((status = 200, description = "{\"result\": \"deleted\", \"name\"}", body = serde_json::Value),
              (status = 401, description = "No session or API token"),
              (status = 403, description = "Not an admin; or a session without its CSRF token"),
              (status = 404, description = "No such user"),
              (status = 409, description = "The last admin")))]
pub async fn remove(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let entry =
        audit(&state, &admin, "user_delete", &name, Some("用户已删除，会话已结束 (deleted, sessions ended)".into()));
    Ok(match state.store().delete_user(&name, &entry).await? {
        UserChange::Done => {
            tracing::info!(user = %name, admin = %admin.name, "board user deleted");
            Json(json!({"result": "deleted", "name": name})).into_response()
        }
        UserChange::NotFound => return Err(ApiError::NotFound),
        UserChange::LastAdmin => conflict(LAST_ADMIN),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles_follow_the_cli_rules() {
        assert_eq!(valid_name("  王值班 ").unwrap(), "王值班");
        assert!(valid_name("").is_err() && valid_name("a\nb").is_err() && valid_name(&"x".repeat(65)).is_err());
        assert_eq!(valid_role("officer").unwrap(), Role::Officer);
        assert!(valid_role("root").is_err());
    }
}
