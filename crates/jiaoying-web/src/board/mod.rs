//! The duty officers' board: server-rendered HTML pages (minijinja templates compiled into the
//! binary), one stylesheet and one small script. Pages read the same view models as the officer
//! API and act through it (fetch POSTs with the session's CSRF token), so the board holds no
//! rules of its own.

mod alert;
mod audit;
mod compose;
mod error_page;
mod format;
// The registry pages (issue 7) share the words and the page frame.
pub(crate) mod i18n;
mod now;
pub(crate) mod page;
mod report;
mod svg;
mod users;

pub use error_page::html_errors;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{Environment, UndefinedBehavior};

use crate::state::AppState;

/// The templates, parsed once at start.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("now.html", include_str!("templates/now.html")),
    ("alert.html", include_str!("templates/alert.html")),
    ("alert_live.html", include_str!("templates/alert_live.html")),
    ("report.html", include_str!("templates/report.html")),
    ("compose.html", include_str!("templates/compose.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("users.html", include_str!("templates/users.html")),
    ("error.html", include_str!("templates/error.html")),
];

const CSS: &str = include_str!("static/board.css");
const JS: &str = include_str!("static/board.js");
const USERS_JS: &str = include_str!("static/users.js");

/// Shared state of the board pages, held in [`AppState`].
pub struct State {
    env: Environment<'static>,
}

impl State {
    fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // A misspelt variable or word fails loudly (and in the render tests) instead of
        // rendering as nothing on a night it matters.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_filter("word", filters::word);
        env.add_filter("actor", filters::actor);
        env.add_filter("show", filters::show);
        env.add_filter("datetime", filters::datetime);
        env.add_filter("hm", filters::hm);
        Ok(State { env })
    }
}

impl Default for State {
    fn default() -> Self {
        // The templates are compiled into the binary and parsed by the tests: a failure here is a
        // build defect, found before release, never a runtime condition.
        State::new().expect("the board templates parse")
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(now::show))
        .route("/alerts/{id}", get(alert::show))
        .route("/alerts/{id}/live", get(alert::live))
        .route("/alerts/{id}/report", get(report::show))
        .route("/compose", get(compose::show))
        .route("/audit", get(audit::show))
        .route("/admin/users", get(users::show))
        .route("/static/board.css", get(|| async { asset(CSS, "text/css; charset=utf-8") }))
        .route("/static/board.js", get(|| async { asset(JS, "text/javascript; charset=utf-8") }))
        .route("/static/users.js", get(|| async { asset(USERS_JS, "text/javascript; charset=utf-8") }))
}

/// Template filters: the words for codes in the page's language, and how a call looks.
mod filters {
    use minijinja::{State, Value};

    use super::i18n::{self, Lang};

    fn lang(state: &State) -> Lang {
        state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or(Lang::Zh)
    }

    /// `{{ c.role | word("role") }}`: the word for a code (`role_grid`), or the code itself.
    pub fn word(state: &State, code: Value, prefix: &str) -> String {
        let code = code.as_str().map(str::to_string).unwrap_or_else(|| code.to_string());
        i18n::label(lang(state), prefix, &code)
    }

    /// `{{ e.actor | actor(e.actor_name) }}`: who did it, in words ([`i18n::actor_label`]); the
    /// name is the person's, for a `person:<id>` actor.
    pub fn actor(state: &State, actor: String, person_name: Option<String>) -> String {
        i18n::actor_label(lang(state), &actor, person_name.as_deref())
    }

    /// `{{ call | show }}`: the colour class of a call's cell, worst news first: unreached,
    /// escalated (which may be overdue too: the cell then also carries the `overdue` class and
    /// says how long), overdue, then by state (answered, done, open, pending, closed).
    pub fn show(call: Value) -> &'static str {
        let flag = |k: &str| call.get_attr(k).map(|v| v.is_true()).unwrap_or(false);
        let state = call.get_attr("state").ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        if flag("unreached") {
            return "unreached";
        }
        if state == "escalated" {
            return "escalated";
        }
        if flag("overdue") {
            return "overdue";
        }
        match state.as_str() {
            "answered" => "answered",
            "done" => "done",
            "sent" | "delivered" => "open",
            "pending" => "pending",
            "escalated" => "escalated",
            "failed" | "expired" => "unreached",
            _ => "closed",
        }
    }

    /// `{{ at.ms | hm }}`: `08:05`, China time: enough within one alert's night.
    pub fn hm(ms: i64) -> String {
        super::format::hm(ms)
    }

    /// `{{ at.ms | datetime }}`: `2026-07-01 08:05:07`, China time.
    pub fn datetime(ms: i64) -> String {
        super::format::full_time(ms)
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Short: a new release's assets reach open boards within minutes.
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    #[test]
    fn the_templates_parse() {
        super::State::new().unwrap();
    }

    #[test]
    fn a_cell_shows_the_worst_news_first() {
        use super::filters::show;
        assert_eq!(show(context! { state => "sent", overdue => true, unreached => true }), "unreached");
        assert_eq!(show(context! { state => "sent", overdue => true, unreached => false }), "overdue");
        assert_eq!(show(context! { state => "escalated", overdue => true, unreached => false }), "escalated");
        assert_eq!(show(context! { state => "delivered", overdue => false, unreached => false }), "open");
        assert_eq!(show(context! { state => "answered", overdue => false, unreached => false }), "answered");
        assert_eq!(show(context! { state => "failed", overdue => false, unreached => false }), "unreached");
        assert_eq!(show(context! { state => "cancelled", overdue => false, unreached => false }), "closed");
    }
}
