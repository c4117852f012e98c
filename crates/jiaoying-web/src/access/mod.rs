//! Board sign-in: the login form, sign-out, password hashing and sign-in throttling. Who may do
//! what once signed in is decided by the extractors in [`crate::session`].

mod login;
pub mod password;
mod throttle;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State as AxumState};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::error::ApiError;
use crate::session::{self, AuthRejection, SESSION_COOKIE};
use crate::state::AppState;

/// Shared state of this part of the board, held in [`AppState`].
#[derive(Default)]
pub struct State {
    /// Failed sign-ins per name and per address, in this instance's memory.
    throttle: throttle::Throttle,
}

pub fn routes() -> Router<AppState> {
    // Compute the dummy hash now rather than during the first unknown-name sign-in, which would
    // otherwise take twice as long as the rest.
    if tokio::runtime::Handle::try_current().is_ok() {
        password::warm_up();
    }
    Router::new().route("/login", get(login::show).post(login::submit)).route("/logout", post(logout))
}

/// The client's address, when the server was started with connect info (the binary always is;
/// a router driven directly in a test may not be, and then only the per-name limit applies).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// `POST /logout`: ends the session (any role). The CSRF token comes in `X-CSRF-Token` (the
/// board's `fetch()`) or, for a plain HTML form, in a `csrf` form field. A browser form gets a
/// redirect to the sign-in page, a script JSON.
async fn logout(AxumState(app): AxumState<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let form_csrf = match form_field(&parts, body, app.body_limit, "csrf").await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let authenticated = match session::authenticate(&parts, &app, form_csrf.as_deref()).await {
        Ok(a) => a,
        Err(AuthRejection::SignIn { .. }) => return to_login(&app),
        Err(e) => return e.into_response(),
    };
    if let Some(hash) = authenticated.session {
        if let Err(e) = app.store().delete_session(&hash).await {
            return ApiError::from(e).into_response();
        }
        tracing::info!(user = %authenticated.actor.name, "board sign-out");
    }
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/html"));
    if wants_html {
        to_login(&app)
    } else {
        let mut r = Json(json!({"result": "signed_out"})).into_response();
        r.headers_mut().append(header::SET_COOKIE, session::set_cookie(&app, SESSION_COOKIE, "", "/", Some(0)));
        r
    }
}

/// 303 to the sign-in page, deleting the session cookie.
fn to_login(app: &AppState) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/login"));
    r.headers_mut().append(header::SET_COOKIE, session::set_cookie(app, SESSION_COOKIE, "", "/", Some(0)));
    r
}

/// One field of an `application/x-www-form-urlencoded` body; `None` for other bodies.
async fn form_field(parts: &Parts, body: Body, limit: usize, field: &str) -> Result<Option<String>, ApiError> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::TooLarge(limit))?;
    if !is_form {
        return Ok(None);
    }
    Ok(url::form_urlencoded::parse(&bytes).find(|(k, _)| k == field).map(|(_, v)| v.into_owned()))
}
