//! Who is looking or acting, as axum extractors: a duty officer's board session (cookie) or a
//! script's API token (`Authorization: Bearer`). Handlers take [`Viewer`], [`Officer`] or
//! [`Admin`] and never look at headers themselves.
//!
//! Rules the extractors enforce (so no handler can forget them):
//! - no session and no token: 401 (JSON for `/api`, a redirect to `/login` for pages);
//! - [`Officer`] needs the `officer` or `admin` role, [`Admin`] the `admin` role: 403 otherwise;
//! - a request authenticated by session cookie with an unsafe method (POST, PUT, PATCH, DELETE)
//!   must carry the session's CSRF token in the `X-CSRF-Token` header (403 otherwise). Requests
//!   with an API token need none (a cross-site page cannot set `Authorization`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;

/// A board role, from least to most allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Officer,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "officer" => Some(Role::Officer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Officer => "officer",
            Role::Admin => "admin",
        }
    }
}

/// An authenticated user or script.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token, for pages to embed; `None` when authenticated by API token.
    pub csrf: Option<String>,
}

impl Actor {
    /// How the event log names this actor, e.g. `officer:wang`.
    pub fn label(&self) -> String {
        format!("officer:{}", self.name)
    }

    pub fn may_act(&self) -> bool {
        self.role >= Role::Officer
    }
}

/// Any authenticated role.
pub struct Viewer(pub Actor);
/// `officer` or `admin`.
pub struct Officer(pub Actor);
/// `admin` only.
pub struct Admin(pub Actor);

/// Placeholder until sessions land: API tokens only.
async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Actor, ApiError> {
    let (name, role) = auth::reader(state, &parts.headers).await?;
    let role = Role::parse(&role).unwrap_or(Role::Viewer);
    Ok(Actor { name, role, csrf: None })
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Viewer(authenticate(parts, state).await?))
    }
}

impl FromRequestParts<AppState> for Officer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = authenticate(parts, state).await?;
        if !actor.may_act() {
            return Err(ApiError::Forbidden(format!("the {} role may look but not act", actor.role.as_str())));
        }
        Ok(Officer(actor))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = authenticate(parts, state).await?;
        if actor.role != Role::Admin {
            return Err(ApiError::Forbidden("only an admin may do this".into()));
        }
        Ok(Admin(actor))
    }
}
