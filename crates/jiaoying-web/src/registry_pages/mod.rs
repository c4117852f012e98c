//! The registry for admins (issue 7): pages to search persons and units, a person's page with
//! their contacts (editable: mobile and e-mail), a unit's page with its three responsible
//! persons, and the matching `/api/v1/registry` endpoints, plus the registry as an XLSX workbook.
//!
//! Everything here takes [`Admin`](crate::session::Admin): the registry holds every responsible
//! person's mobile. A contact edit is one store transaction that also logs it in the audit log and
//! bumps the registry generation, so every instance calls the new number from the next alert on.
//! The pages use the board's layout, words and frame; their own templates live here.

mod api;
mod i18n;
mod pages;
mod views;

use std::sync::LazyLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{Environment, UndefinedBehavior};

use crate::board::i18n::{label, Lang};
use crate::state::AppState;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../board/templates/layout.html")),
    ("registry.html", include_str!("templates/registry.html")),
    ("person.html", include_str!("templates/person.html")),
    ("unit.html", include_str!("templates/unit.html")),
];

const JS: &str = include_str!("static/registry.js");

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // As on the board: a misspelt word fails the render test rather than showing nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    env.add_filter("word", |state: &minijinja::State, code: String, prefix: &str| {
        let lang = state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or(Lang::Zh);
        label(lang, prefix, &code)
    });
    env.add_filter("datetime", |ms: i64| {
        let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
        jiaoying_core::Timestamp(ms).to_datetime().with_timezone(&cst).format("%Y-%m-%d %H:%M:%S").to_string()
    });
    Ok(env)
}

/// The templates, parsed once. They are compiled into the binary and parsed by the tests: a
/// failure here is a build defect, never a runtime condition.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| environment().expect("the registry templates parse"));

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/registry", get(pages::search))
        .route("/registry/persons/{id}", get(pages::person))
        .route("/registry/units/{id}", get(pages::unit))
        .route("/api/v1/registry/persons", get(api::persons))
        .route("/api/v1/registry/persons/{id}", get(api::person).patch(api::update_person))
        .route("/api/v1/registry/units", get(api::units))
        .route("/api/v1/registry/units/{id}", get(api::unit))
        .route("/api/v1/registry.xlsx", get(api::export_xlsx))
        .route("/static/registry.js", get(|| async { script() }))
}

fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        JS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_templates_parse() {
        super::environment().unwrap();
    }
}
