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
//!
//! A page that posts actions embeds [`Actor::csrf`] (e.g. `<meta name="csrf-token">`) and sends it
//! back in `X-CSRF-Token` from `fetch()`.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;

/// Password hashing for `jiaoying user add` (the same argon2id parameters the sign-in checks).
pub use crate::access::password::{hash_password, PasswordError, MIN_PASSWORD_CHARS};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "jy_session";
/// The header carrying the session's CSRF token on unsafe requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_MS: i64 = 12 * 3600 * 1000;
/// ... or this long after its last use.
pub const IDLE_MS: i64 = 2 * 3600 * 1000;
/// The idle expiry is written at most this often, not on every request (the SQLite writer is
/// busy with answers in a storm).
const TOUCH_EVERY_MS: i64 = 60 * 1000;

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

/// Why a request was turned away: JSON for the API and scripts, a redirect to the sign-in page
/// (or an HTML 403) for a browser asking for a page.
#[derive(Debug)]
pub enum AuthRejection {
    Api(ApiError),
    /// To `/login?next=<the page asked for>`.
    SignIn {
        next: String,
    },
    PageForbidden(String),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Api(e) => e.into_response(),
            AuthRejection::SignIn { next } => {
                let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                Redirect::to(&format!("/login?next={next}")).into_response()
            }
            AuthRejection::PageForbidden(why) => {
                let body = format!(
                    "<h1>无权访问</h1><p>您的角色不能执行此操作。</p><p class=\"en\">Forbidden: {}</p>\
                     <p><a href=\"/\">返回 / Back</a></p>",
                    crate::html::escape(&why)
                );
                (StatusCode::FORBIDDEN, axum::response::Html(crate::html::page("无权访问 / Forbidden", &body)))
                    .into_response()
            }
        }
    }
}

impl From<ApiError> for AuthRejection {
    fn from(e: ApiError) -> Self {
        AuthRejection::Api(e)
    }
}

/// The path (and query) the client asked for, before any nesting stripped it.
fn requested_path(parts: &Parts) -> String {
    let uri = parts.extensions.get::<OriginalUri>().map(|o| &o.0).unwrap_or(&parts.uri);
    uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into())
}

/// A browser navigating to a page (as opposed to the API, a hook, or a script's or `fetch()`'s
/// request): it gets redirects and HTML rather than JSON.
fn wants_page(parts: &Parts) -> bool {
    let path = parts.extensions.get::<OriginalUri>().map(|o| o.0.path()).unwrap_or(parts.uri.path());
    let is_machine_path = path == "/api" || path.starts_with("/api/") || path.starts_with("/hooks/");
    let accepts_html = parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"));
    (parts.method == Method::GET || parts.method == Method::HEAD) && !is_machine_path && accepts_html
}

/// Turns an authentication or role refusal into the response the client can use.
fn reject(parts: &Parts, e: ApiError) -> AuthRejection {
    match e {
        ApiError::Unauthorized(_) if wants_page(parts) => AuthRejection::SignIn { next: requested_path(parts) },
        ApiError::Forbidden(why) if wants_page(parts) => AuthRejection::PageForbidden(why),
        e => AuthRejection::Api(e),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for a board cookie: HttpOnly, SameSite=Strict, and Secure when the board
/// is served over HTTPS. `max_age` 0 deletes the cookie; `None` makes it last until the browser
/// closes.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if state.public_url.starts_with("https://") {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    // Names are constants and values are hex or empty: always a valid header value.
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("jy_invalid=; Max-Age=0"))
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// An authenticated request: the actor, and the session's token hash when it came by cookie.
pub(crate) struct Authenticated {
    pub actor: Actor,
    pub session: Option<String>,
}

/// Authenticates a request by API token (`Authorization: Bearer`) or, without one, by session
/// cookie, and checks the CSRF token of unsafe session requests: the `X-CSRF-Token` header or,
/// for forms that cannot set headers (sign-out), `form_csrf`.
pub(crate) async fn authenticate(
    parts: &Parts,
    state: &AppState,
    form_csrf: Option<&str>,
) -> Result<Authenticated, AuthRejection> {
    if parts.headers.contains_key(header::AUTHORIZATION) {
        let (name, role) = auth::reader(state, &parts.headers).await.map_err(|e| reject(parts, e))?;
        let role = Role::parse(&role).unwrap_or(Role::Viewer);
        return Ok(Authenticated { actor: Actor { name, role, csrf: None }, session: None });
    }
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Err(reject(
            parts,
            ApiError::Unauthorized("sign in at /login, or send Authorization: Bearer <API token>".into()),
        ));
    };
    let hash = auth::token_hash(token);
    let now = state.tracker.clock().now().millis();
    let Some(session) = state.store().live_session(&hash, now).await.map_err(ApiError::from)? else {
        return Err(reject(parts, ApiError::Unauthorized("the session has ended; sign in again at /login".into())));
    };
    if is_unsafe(&parts.method) {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).or(form_csrf).unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
            return Err(reject(
                parts,
                ApiError::Forbidden("missing or wrong CSRF token: send the page's token in X-CSRF-Token".into()),
            ));
        }
    }
    // Sliding idle expiry, written at most once a minute per session.
    if session.idle_expires_at - now < IDLE_MS - TOUCH_EVERY_MS {
        if let Err(e) = state.store().touch_session(&hash, now + IDLE_MS).await {
            // The request is authenticated either way; the session just ends a little sooner.
            tracing::warn!(error = %e, "could not extend a board session");
        }
    }
    let role = Role::parse(&session.role).unwrap_or(Role::Viewer);
    Ok(Authenticated { actor: Actor { name: session.name, role, csrf: Some(session.csrf) }, session: Some(hash) })
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Viewer(authenticate(parts, state, None).await?.actor))
    }
}

impl FromRequestParts<AppState> for Officer {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = authenticate(parts, state, None).await?.actor;
        if !actor.may_act() {
            let why = format!("the {} role may look but not act", actor.role.as_str());
            return Err(reject(parts, ApiError::Forbidden(why)));
        }
        Ok(Officer(actor))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = authenticate(parts, state, None).await?.actor;
        if actor.role != Role::Admin {
            return Err(reject(parts, ApiError::Forbidden("only an admin may do this".into())));
        }
        Ok(Admin(actor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, path: &str, accept: Option<&str>) -> Parts {
        let mut b = axum::http::Request::builder().method(method).uri(path);
        if let Some(a) = accept {
            b = b.header(header::ACCEPT, a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_browser_page_navigations_are_redirected() {
        let html = Some("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");
        assert!(wants_page(&parts(Method::GET, "/alerts/3", html)));
        assert!(!wants_page(&parts(Method::GET, "/api/v1/alerts", html)));
        assert!(!wants_page(&parts(Method::GET, "/hooks/sms/x", html)));
        assert!(!wants_page(&parts(Method::GET, "/alerts/3", Some("*/*"))));
        assert!(!wants_page(&parts(Method::POST, "/alerts/3", html)));
        match reject(&parts(Method::GET, "/alerts/3?x=1", html), ApiError::Unauthorized("x".into())) {
            AuthRejection::SignIn { next } => assert_eq!(next, "/alerts/3?x=1"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; xjy_session=no; jy_session=abc"));
        h.append(header::COOKIE, HeaderValue::from_static("lang=en"));
        assert_eq!(cookie(&h, "jy_session"), Some("abc"));
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
