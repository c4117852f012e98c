//! HTML error pages. A page request (GET or HEAD, not under `/api`, `/hooks` or the answer links
//! `/a/`) that ends in 404 or 403 gets a small page in the board's style and the request's
//! language instead of the API's JSON error body, so a mistyped address or a page above one's
//! role reads as a page. The API and the hooks keep their JSON; answer links keep their own pages.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;

use super::i18n::{self, Lang};
use crate::state::AppState;

/// Most of an error body read to find its message (error bodies are small).
const BODY_MAX: usize = 16 * 1024;

/// The middleware (see the module doc).
pub async fn html_errors(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let page = is_page(request.method(), request.uri().path());
    let lang =
        Lang::from_query(request.uri().query()).or_else(|| Lang::from_cookie(request.headers())).unwrap_or(Lang::Zh);
    let response = next.run(request).await;
    let status = response.status();
    if !page || !(status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN) {
        return response;
    }
    let detail = json_message(response).await;
    render(&app, lang, status, detail)
}

/// A browser's page address, as opposed to the API, a gateway hook or a public answer link.
fn is_page(method: &Method, path: &str) -> bool {
    let machine = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    (method == Method::GET || method == Method::HEAD) && !machine("/api") && !machine("/hooks") && !machine("/a")
}

/// The `message` of a JSON error body (`{"error": {"message"}}`); these are written for clients.
async fn json_message(response: Response) -> Option<String> {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return None;
    }
    let bytes = axum::body::to_bytes(response.into_body(), BODY_MAX).await.ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["error"]["message"].as_str().map(str::to_string)
}

fn render(app: &AppState, lang: Lang, status: StatusCode, detail: Option<String>) -> Response {
    let (title, text) = if status == StatusCode::FORBIDDEN {
        ("error_forbidden_title", "error_forbidden_text")
    } else {
        ("error_not_found_title", "error_not_found_text")
    };
    let ctx = context! {
        t => i18n::strings(lang),
        lang => lang.code(),
        lang_tag => lang.tag(),
        other_lang => lang.other().code(),
        status => status.as_u16(),
        title => i18n::word(lang, title),
        text => i18n::word(lang, text),
        detail,
    };
    let html = app.board.env.get_template("error.html").and_then(|t| t.render(ctx));
    let mut response = match html {
        Ok(html) => super::page::html_response(html),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "the error page failed to render");
            Html(crate::html::page(i18n::word(lang, title), &crate::html::escape(i18n::word(lang, text))))
                .into_response()
        }
    };
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_page_addresses_get_html_errors() {
        for path in ["/", "/alerts/9", "/admin/users", "/nowhere", "/static/x.css", "/apis", "/about"] {
            assert!(is_page(&Method::GET, path), "{path}");
        }
        for path in ["/api", "/api/v1/alerts/9", "/hooks/sms/x", "/a/1.abc", "/a"] {
            assert!(!is_page(&Method::GET, path), "{path}");
        }
        assert!(!is_page(&Method::POST, "/alerts/9"), "actions keep their JSON answers");
    }
}
