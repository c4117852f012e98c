//! What every board page shares: the language of the request, the frame's context (user, CSRF
//! token, words, the language switch), and turning a template into a response with the headers a
//! page needs.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};
use serde_json::json;

use super::i18n::{self, Lang};
use crate::error::ApiError;
use crate::session::Actor;
use crate::state::AppState;

/// The language of a page request and where it was asked for.
pub struct PageReq {
    pub lang: Lang,
    /// `?lang=` was given: remember it in the cookie.
    remember: bool,
    path: String,
    query: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageReq {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().map(str::to_string);
        let asked = Lang::from_query(query.as_deref());
        let lang = asked.or_else(|| Lang::from_cookie(&parts.headers)).unwrap_or(Lang::Zh);
        Ok(PageReq { lang, remember: asked.is_some(), path: parts.uri.path().to_string(), query })
    }
}

impl PageReq {
    /// This page in the other language, keeping the rest of the query (filters and the like).
    fn switch_href(&self) -> String {
        let mut parts: Vec<&str> = self
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("lang"))
            .collect();
        let lang = format!("lang={}", self.lang.other().code());
        parts.push(&lang);
        format!("{}?{}", self.path, parts.join("&"))
    }
}

/// The words the script shows (errors, confirmations), in the page's language.
fn script_words(lang: Lang) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = i18n::STRINGS
        .iter()
        .filter_map(|(k, zh, en)| k.strip_prefix("js_").map(|k| (k.to_string(), json!(lang.pick(zh, en)))))
        .collect();
    serde_json::Value::Object(map)
}

/// JSON to embed in a `<script type="application/json">`: nothing in it can close the element
/// or start markup (`<`, `>`, `&` and `'` written as `\u` escapes, which JSON reads back as is).
fn script_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\'' => out.push_str("\\u0027"),
            c => out.push(c),
        }
    }
    out
}

/// The context every template gets: `t` (the words), `lang`, `user`, `csrf`, `page`, and
/// `board_data` (what the script reads, embedded as JSON).
pub fn frame(req: &PageReq, actor: &Actor, page: &str, mut board_data: serde_json::Value) -> Value {
    board_data["page"] = json!(page);
    board_data["msg"] = script_words(req.lang);
    context! {
        t => i18n::strings(req.lang),
        lang => req.lang.code(),
        lang_tag => req.lang.tag(),
        other_lang => req.lang.other().code(),
        lang_switch_href => req.switch_href(),
        user => context! {
            name => actor.name.clone(),
            role => actor.role.as_str(),
            may_act => actor.may_act(),
        },
        csrf => actor.csrf.clone(),
        page => page,
        board_data => Value::from_safe_string(script_json(&board_data)),
    }
}

/// Renders a page or fragment into an HTML response.
pub fn render(app: &AppState, req: &PageReq, template: &str, ctx: Value) -> Result<Response, ApiError> {
    render_in(&app.board.env, req, template, ctx)
}

/// [`render`] from another set of templates that extends the same `layout.html` (the registry
/// pages keep theirs apart).
pub fn render_in(
    env: &minijinja::Environment<'_>,
    req: &PageReq,
    template: &str,
    ctx: Value,
) -> Result<Response, ApiError> {
    let html = env.get_template(template).and_then(|t| t.render(ctx)).map_err(|e| {
        // minijinja's alternate form names the template, line and variables: what a
        // maintainer needs, and never sent to the client.
        tracing::error!(template, error = format!("{e:#}"), "a board page failed to render");
        ApiError::Internal(Box::new(e))
    })?;
    let mut response = html_response(html);
    if req.remember {
        let cookie = format!("lang={}; Path=/; Max-Age=31536000; SameSite=Lax", req.lang.code());
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

pub(super) fn html_response(html: String) -> Response {
    let mut r = html.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // Pages show live data and names: never cached, never framed, scripts only from us.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let v = json!({"h": "</script><script>alert('x')</script>&"});
        let s = script_json(&v);
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&') && !s.contains('\''));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap(), v, "it reads back the same");
    }

    #[test]
    fn the_language_switch_keeps_the_rest_of_the_query() {
        let req = PageReq {
            lang: Lang::En,
            remember: true,
            path: "/alerts/3".into(),
            query: Some("state=overdue&lang=en".into()),
        };
        assert_eq!(req.switch_href(), "/alerts/3?state=overdue&lang=zh");
        let req = PageReq { lang: Lang::Zh, remember: false, path: "/".into(), query: None };
        assert_eq!(req.switch_href(), "/?lang=en");
    }
}
