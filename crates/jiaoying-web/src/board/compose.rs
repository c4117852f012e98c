//! `/compose`: a duty officer types in a warning received by phone or fax (event, tier, areas,
//! text). The form posts to `/api/v1/alerts/manual` by fetch; the alert it becomes is called
//! like any other, from the source "duty officer".

use axum::extract::State;
use axum::response::Response;
use minijinja::context;
use serde::Serialize;
use serde_json::json;

use super::page::{frame, render, PageReq};
use crate::error::ApiError;
use crate::session::Officer;
use crate::state::AppState;

/// Events offered as suggestions; any other may be typed.
const EVENTS: &[&str] = &[
    "暴雨",
    "地质灾害",
    "大风",
    "雷电",
    "冰雹",
    "高温",
    "寒潮",
    "大雾",
    "道路结冰",
    "暴雪",
    "干旱",
    "台风",
    "山洪",
    "森林火险",
];

#[derive(Serialize)]
struct AreaOption {
    code: String,
    name: String,
    /// How many of the registry's areas contain it: the indent in the list.
    depth: usize,
}

pub async fn show(State(app): State<AppState>, Officer(actor): Officer, req: PageReq) -> Result<Response, ApiError> {
    let registry = app.store().load_registry().await?;
    // Areas in code order: a parent comes before its children, which the form indents.
    let mut areas: Vec<AreaOption> = registry
        .areas
        .iter()
        .map(|a| AreaOption {
            code: a.code.as_str().to_string(),
            name: a.name.clone(),
            depth: registry.areas.iter().filter(|p| p.code != a.code && p.code.covers(&a.code)).count(),
        })
        .collect();
    areas.sort_by(|a, b| a.code.cmp(&b.code));
    let ctx = context! {
        ..frame(&req, &actor, "compose", json!({})),
        ..context! { areas, events => EVENTS, tiers => ["red", "orange", "yellow", "blue"] },
    };
    render(&app, &req, "compose.html", ctx)
}
