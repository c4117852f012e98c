//! The HTTP layer of jiaoying: the alert API for sources, the read API for duty officers, the
//! gateway hooks, the answer links people click, and health. Handlers parse, authenticate and
//! call the tracker; they hold no rules of their own.

mod access;
mod actions;
mod answer_page;
mod api;
mod auth;
mod board;
mod drills;
mod duties;
mod error;
mod events;
mod health;
mod hooks;
mod html;
mod linking;
mod live;
mod metrics_route;
mod officer_api;
mod registry_pages;
pub mod session;
mod state;
mod users;

pub use error::ApiError;
pub use health::{Heartbeat, Liveness};
pub use live::{EventBell, EventSignal};
pub use metrics_route::MetricsEndpoint;
pub use state::{AppState, Shared, Source, SourceToken};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

/// The whole router. `body_limit` caps every request body (413 beyond it).
pub fn router(state: AppState) -> Router {
    let limit = state.body_limit;
    Router::new()
        .route("/api/v1/alerts", post(api::post_alert).get(api::list_alerts))
        .route("/api/v1/alerts/{id}", get(api::get_alert))
        .route("/api/v1/alerts/{id}/calls", get(api::list_calls))
        .route("/api/v1/feeds", get(api::list_feeds))
        .route("/api/v1/outbox", get(api::outbox_backlog))
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/calls/{id}/answer", post(actions::answer_on_behalf))
        .route("/api/v1/calls/{id}/escalate", post(actions::escalate_now))
        .route("/hooks/sms/{channel}", post(hooks::sms_reply))
        .route("/hooks/sms/{channel}/status", post(hooks::sms_status))
        .route("/hooks/voice/{channel}", post(hooks::voice_key))
        .route("/hooks/voice/{channel}/status", post(hooks::voice_status))
        .route("/a/{token}", get(answer_page::show).post(answer_page::answer))
        .route("/a/{token}/done", post(answer_page::done))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics_route::render))
        .merge(access::routes())
        .merge(board::routes())
        .merge(officer_api::routes())
        .merge(registry_pages::routes())
        .merge(duties::routes())
        .merge(drills::routes())
        .merge(users::routes())
        .merge(linking::routes())
        .fallback(error::not_found)
        // Pages answer 404 and 403 with an HTML page; the API keeps its JSON errors.
        .layer(axum::middleware::from_fn_with_state(state.clone(), board::html_errors))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
