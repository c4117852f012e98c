//! `GET /login` and `POST /login`: the sign-in form and its check.
//!
//! The form is protected by a double-submit token: `GET /login` puts a random value both in a
//! `jy_login` cookie (HttpOnly, SameSite=Strict, path /login) and in a hidden field, and `POST
//! /login` accepts only when the two agree, so another site cannot sign a browser in to an account
//! of its choosing. A failure never says whether the name or the password was wrong, and an
//! unknown name costs the same argon2 time as a wrong password.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use jiaoying_store::NewSession;
use minijinja::{context, Environment};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::password::{verify_off_runtime, MAX_PASSWORD_BYTES};
use super::ClientAddr;
use crate::auth::token_hash;
use crate::session::{cookie, set_cookie, Role, ABSOLUTE_MS, IDLE_MS, SESSION_COOKIE};
use crate::state::AppState;

/// The pre-sign-in cookie holding the form's double-submit token.
pub(super) const LOGIN_COOKIE: &str = "jy_login";
/// Longest user name (the CLI refuses longer ones too).
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    Zh,
    En,
}

impl Lang {
    fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// `?lang=` (or the form's `lang`), else the board's `lang` cookie, else Chinese.
    fn pick(asked: Option<&str>, headers: &HeaderMap) -> Lang {
        asked.and_then(Lang::parse).or_else(|| cookie(headers, "lang").and_then(Lang::parse)).unwrap_or(Lang::Zh)
    }
}

/// (key, 中文, English): every word of the page in both languages.
const WORDS: &[(&str, &str, &str)] = &[
    ("service", "叫应 · 值班看板", "Jiaoying · duty board"),
    ("title", "登录", "Sign in"),
    ("name", "用户名", "Name"),
    ("password", "密码", "Password"),
    ("submit", "登录", "Sign in"),
    ("other_lang_name", "English", "中文"),
    ("wrong", "用户名或密码错误。", "Wrong name or password."),
    ("empty", "请输入用户名和密码。", "Enter your name and password."),
    ("expired", "登录页面已过期，请重新输入。", "The sign-in form expired; please try again."),
    ("unreadable", "无法读取登录表单，请重试。", "The sign-in form could not be read; please try again."),
    ("unavailable", "数据库暂时不可用，请稍后再试。", "The database is unavailable; please try again shortly."),
];

fn words(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    WORDS.iter().map(|(k, zh, en)| (*k, if lang == Lang::Zh { *zh } else { *en })).collect()
}

fn word(lang: Lang, key: &str) -> String {
    words(lang).get(key).copied().unwrap_or(key).to_string()
}

fn throttled_text(lang: Lang, wait_ms: i64) -> String {
    let minutes = (wait_ms + 59_999) / 60_000;
    match lang {
        Lang::Zh => format!("登录失败次数过多，请 {minutes} 分钟后再试。"),
        Lang::En => format!("Too many failed sign-ins; try again in {minutes} minutes."),
    }
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Compiled into the binary and rendered by the tests: a parse error is a build defect.
    env.add_template("login.html", include_str!("login.html")).expect("the login template parses");
    env
});

/// Where to go after signing in: a local path only. Anything that a browser could read as
/// another host (`//host`, `/\host`, `https://...`) or that carries control characters becomes
/// `/`, so the sign-in page cannot be used to bounce a user to another site.
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 2000
        && !next.starts_with("/login")
        && !next.starts_with("/logout");
    if ok {
        next.to_string()
    } else {
        "/".to_string()
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

fn is_token(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

struct LoginPage {
    lang: Lang,
    /// Set the `lang` cookie (the language was chosen in the query).
    remember_lang: bool,
    next: String,
    name: String,
    error: Option<String>,
}

/// The sign-in page with a double-submit token (the browser's current one, or a new one).
fn render(app: &AppState, headers: &HeaderMap, status: StatusCode, f: LoginPage) -> Response {
    let csrf = cookie(headers, LOGIN_COOKIE).filter(|v| is_token(v)).map(str::to_string).unwrap_or_else(random_hex);
    let switch_query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("lang", f.lang.other().code())
        .append_pair("next", &f.next)
        .finish();
    let html = TEMPLATES.get_template("login.html").and_then(|t| {
        t.render(context! {
            lang => f.lang.code(),
            lang_tag => if f.lang == Lang::Zh { "zh-CN" } else { "en" },
            other_lang => f.lang.other().code(),
            lang_switch_href => format!("/login?{switch_query}"),
            t => words(f.lang),
            csrf => &csrf,
            next => &f.next,
            name => &f.name,
            error => f.error,
        })
    });
    let html = match html {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "the sign-in page does not render");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(app, LOGIN_COOKIE, &csrf, "/login", Some(3600)));
    if f.remember_lang {
        let lang = format!("lang={}; Path=/; Max-Age=31536000; SameSite=Lax", f.lang.code());
        if let Ok(v) = HeaderValue::from_str(&lang) {
            h.append(header::SET_COOKIE, v);
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// `GET /login?next=/alerts/3&lang=en`
pub async fn show(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    // Already signed in (e.g. the back button): straight on.
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let now = app.tracker.clock().now().millis();
        if let Ok(Some(_)) = app.store().live_session(&token_hash(token), now).await {
            return see_other(&next);
        }
    }
    let lang = Lang::pick(q.lang.as_deref(), &headers);
    let remember_lang = q.lang.as_deref().and_then(Lang::parse).is_some();
    render(&app, &headers, StatusCode::OK, LoginPage { lang, remember_lang, next, name: String::new(), error: None })
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    lang: String,
}

/// `POST /login` (form: name, password, csrf, next, lang).
pub async fn submit(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        let lang = Lang::pick(None, &headers);
        let f = LoginPage {
            lang,
            remember_lang: false,
            next: "/".into(),
            name: String::new(),
            error: Some(word(lang, "unreadable")),
        };
        return render(&app, &headers, StatusCode::BAD_REQUEST, f);
    };
    let lang = Lang::pick(Some(&form.lang), &headers);
    let name = form.name.trim().to_string();
    let again = |status: StatusCode, error: String| {
        let shown_name = if name.chars().count() <= MAX_NAME_CHARS { name.clone() } else { String::new() };
        let f =
            LoginPage { lang, remember_lang: false, next: safe_next(&form.next), name: shown_name, error: Some(error) };
        render(&app, &headers, status, f)
    };

    // The double-submit check: the hidden field must equal the cookie set with the form.
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !is_token(expected) || !bool::from(form.csrf.as_bytes().ct_eq(expected.as_bytes())) {
        return again(StatusCode::FORBIDDEN, word(lang, "expired"));
    }
    if name.is_empty() || form.password.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, word(lang, "empty"));
    }

    let now = app.tracker.clock().now().millis();
    if let Some(wait_ms) = app.access.throttle.blocked_for(&name, addr, now) {
        tracing::warn!(client = ?addr, "board sign-in refused: too many failures");
        let mut r = again(StatusCode::TOO_MANY_REQUESTS, throttled_text(lang, wait_ms));
        if let Ok(v) = HeaderValue::from_str(&((wait_ms + 999) / 1000).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }

    let user = if name.chars().count() <= MAX_NAME_CHARS && form.password.len() <= MAX_PASSWORD_BYTES {
        match app.store().user(&name).await {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "board sign-in cannot read users");
                return again(StatusCode::SERVICE_UNAVAILABLE, word(lang, "unavailable"));
            }
        }
    } else {
        None
    };
    // Always run argon2, against a dummy hash when there is no such user: same time either way.
    let verified = verify_off_runtime(form.password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let user = match user {
        Some(u) if verified => u,
        _ => {
            // The name is not logged: people type passwords into it.
            tracing::warn!(client = ?addr, "board sign-in failed");
            app.access.throttle.record_failure(&name, addr, now);
            return again(StatusCode::UNAUTHORIZED, word(lang, "wrong"));
        }
    };

    let token = random_hex();
    let session = NewSession {
        token_hash: token_hash(&token),
        user_id: user.id,
        csrf: random_hex(),
        created_at: now,
        idle_expires_at: now + IDLE_MS,
        expires_at: now + ABSOLUTE_MS,
    };
    if let Err(e) = app.store().delete_expired_sessions(now).await {
        tracing::warn!(error = %e, "could not sweep expired board sessions");
    }
    if let Err(e) = app.store().insert_session(&session).await {
        tracing::error!(error = %e, "board sign-in cannot store the session");
        return again(StatusCode::SERVICE_UNAVAILABLE, word(lang, "unavailable"));
    }
    app.access.throttle.record_success(&name);
    let role = Role::parse(&user.role).map(Role::as_str).unwrap_or("viewer");
    tracing::info!(user = %user.name, role, "board sign-in");

    let mut r = see_other(&safe_next(&form.next));
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, &token, "/", None));
    h.append(header::SET_COOKIE, set_cookie(&app, LOGIN_COOKIE, "", "/login", Some(0)));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_or_the_board() {
        assert_eq!(safe_next("/alerts/3?state=overdue"), "/alerts/3?state=overdue");
        assert_eq!(safe_next("/"), "/");
        for evil in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/\tevil",
            "/ok\r\nSet-Cookie: x=1",
            "",
            "/login?next=//evil.example",
        ] {
            assert_eq!(safe_next(evil), "/", "{evil:?}");
        }
    }

    #[test]
    fn the_page_renders_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            let t = TEMPLATES.get_template("login.html").unwrap();
            let html = t
                .render(context! {
                    lang => lang.code(), lang_tag => "x", other_lang => lang.other().code(),
                    lang_switch_href => "/login?lang=en", t => words(lang), csrf => "c",
                    next => "/\"><script>", name => "<b>", error => Some("e"),
                })
                .unwrap();
            assert!(html.contains(if lang == Lang::Zh { "用户名" } else { "Name" }));
            assert!(!html.contains("<script>") && !html.contains("<b>"), "values are escaped");
        }
    }
}
