//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of `/api/v1`, generated from the
//! handlers' `#[utoipa::path]` attributes and the view models' schemas, so it cannot drift from
//! the code. Served without authentication: it describes, it holds no data.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jiaoying (叫应) API",
        description = "Alerts in from sources; alerts, calls, the duty officers' board and their actions out. \
                       Reads need a board session (cookie) or `Authorization: Bearer <API token>` of any role; \
                       actions need the officer or admin role, and with a session cookie the `X-CSRF-Token` header. \
                       Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        crate::api::post_alert,
        crate::api::list_alerts,
        crate::api::get_alert,
        crate::api::list_calls,
        crate::api::list_feeds,
        crate::api::outbox_backlog,
        crate::events::stream,
        crate::actions::answer_on_behalf,
        crate::actions::escalate_now,
        super::read::now,
        super::read::alert,
        super::read::curve,
        super::read::map,
        super::read::audit,
        super::export::calls_csv,
        super::export::calls_xlsx,
        super::export::audit_csv,
        super::act::recall,
        super::act::cancel,
        super::act::manual,
        crate::users::list,
        crate::users::add,
        crate::users::update,
        crate::users::remove,
        openapi_json,
    ),
    modifiers(&Security),
    tags(
        (name = "alerts", description = "Alerts and their calls"),
        (name = "board", description = "The duty officers' board: every page's data"),
        (name = "actions", description = "Duty officers' actions (officer or admin role)"),
        (name = "exports", description = "Spreadsheets for reports"),
        (name = "events", description = "Live call state changes"),
        (name = "users", description = "Board users (admin role)"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The two ways in: a script's API token, a board session cookie; and a source's token for
/// posting alerts.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`jiaoying token add`), or for POST /api/v1/alerts a source token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::SESSION_COOKIE,
                "A board session (sign in at /login); unsafe methods also need X-CSRF-Token",
            ))),
        );
        openapi.security = Some(vec![
            utoipa::openapi::security::SecurityRequirement::new("api_token", Vec::<String>::new()),
            utoipa::openapi::security::SecurityRequirement::new("session", Vec::<String>::new()),
        ]);
    }
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This OpenAPI document", body = serde_json::Value)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
