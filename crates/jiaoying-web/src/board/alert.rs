//! `/alerts/{id}`: one alert: its text, the matrix of calls (area → unit → role), the answer
//! curve, the map, the timeline, and the officers' actions. `/alerts/{id}/live` is the part that
//! changes, which the page re-fetches on every event of the stream; both read the same view.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiaoying_tracker::board::{AlertView, BoardFilter};
use minijinja::{context, Value};
use serde::Deserialize;
use serde_json::json;

use super::i18n::{self, Lang};
use super::page::{frame, render, PageReq};
use super::{format, svg};
use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::AppState;

/// The query of the alert page: the matrix filters, and `lang` (read by [`PageReq`]).
#[derive(Debug, Default, Deserialize)]
pub struct AlertQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    area: Option<String>,
    #[serde(default)]
    unit_kind: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    lang: Option<String>,
}

impl AlertQuery {
    /// The filter, or why it cannot be used (the page then shows every call and says so).
    fn filter(&self) -> Result<BoardFilter, String> {
        BoardFilter {
            state: self.state.clone(),
            role: self.role.clone(),
            area: self.area.clone(),
            unit_kind: self.unit_kind.clone(),
            q: self.q.clone(),
        }
        .normalised()
    }
}

pub(super) fn alert_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(ApiError::NotFound)
}

/// What the alert page and its live part show.
struct Parts {
    view: AlertView,
    ctx: Value,
}

async fn parts(app: &AppState, id: i64, query: &AlertQuery, lang: Lang) -> Result<Parts, ApiError> {
    let (filter, filter_error) = match query.filter() {
        Ok(f) => (f, None),
        Err(e) => (BoardFilter::default(), Some(e)),
    };
    let tracker = &app.tracker;
    let view = tracker.board_alert(id, &filter).await?.ok_or(ApiError::NotFound)?;
    let curve = tracker.board_curve(id).await?.ok_or(ApiError::NotFound)?;
    let map = tracker.board_map(Some(id)).await?.ok_or(ApiError::NotFound)?;
    let map_note = (!map.areas_without_polygon.is_empty() || map.units_without_location > 0).then(|| {
        format!(
            "{} {} · {} {}",
            i18n::word(lang, "map_no_polygon"),
            map.areas_without_polygon.len(),
            i18n::word(lang, "map_no_location"),
            map.units_without_location
        )
    });
    let ctx = context! {
        v => Value::from_serialize(&view),
        curve_svg => Value::from_safe_string(svg::curve(&curve, lang)),
        map_svg => Value::from_safe_string(svg::map(&map, lang)),
        map_note,
        filter_error,
        as_of => format::clock_time(app.tracker.clock().now().millis()),
    };
    Ok(Parts { view, ctx })
}

fn query(q: Result<Query<AlertQuery>, QueryRejection>) -> Result<AlertQuery, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::BadRequest(e.body_text()))
}

pub async fn show(
    State(app): State<AppState>,
    Viewer(actor): Viewer,
    req: PageReq,
    Path(id): Path<String>,
    q: Result<Query<AlertQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = alert_id(&id)?;
    let p = parts(&app, id, &query(q)?, req.lang).await?;
    let data = json!({ "alert_id": id, "live": true, "active": p.view.alert.state == "active" });
    let ctx = context! { ..frame(&req, &actor, "alert", data), ..p.ctx };
    render(&app, &req, "alert.html", ctx)
}

/// The changing part of the alert page, for the page's script to swap in.
pub async fn live(
    State(app): State<AppState>,
    Viewer(actor): Viewer,
    req: PageReq,
    Path(id): Path<String>,
    q: Result<Query<AlertQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = alert_id(&id)?;
    let p = parts(&app, id, &query(q)?, req.lang).await?;
    let ctx = context! { ..frame(&req, &actor, "alert", json!({})), ..p.ctx };
    render(&app, &req, "alert_live.html", ctx)
}
