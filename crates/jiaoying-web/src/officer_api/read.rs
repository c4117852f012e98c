//! The board's views as JSON: `Now`, an alert, its answer curve, the map, the audit log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::DateTime;
use jiaoying_store::AuditFilter;
use jiaoying_tracker::board::{AlertView, AuditPage, BoardFilter, CurveView, MapView, NowView};
use serde::Deserialize;

use super::{board_health, path_id};
use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::AppState;

/// Most audit entries one JSON page carries.
pub(crate) const AUDIT_PAGE_MAX: i64 = 1000;

/// `GET /api/v1/board/now`: active alerts with their counts, silent feeds, gateway backlogs.
#[utoipa::path(get, path = "/api/v1/board/now", tag = "board",
    responses((status = 200, description = "Active alerts (most severe, then newest first), silent feeds, gateway backlogs", body = NowView),
              (status = 401, description = "No session or API token")))]
pub async fn now(State(state): State<AppState>, Viewer(_): Viewer) -> Result<Json<NowView>, ApiError> {
    let health = board_health(&state).await?;
    Ok(Json(state.tracker.board_now(health).await?))
}

/// A query string turned into its value, or a 400 saying what is wrong with it.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// `GET /api/v1/alerts/{id}/board?state=&role=&area=&unit_kind=&q=`: the alert page's data.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/board", tag = "board",
    params(("id" = i64, Path, description = "Alert id"), BoardFilter),
    responses((status = 200, description = "The alert, its timeline and its calls grouped area → unit → role", body = AlertView),
              (status = 400, description = "A filter value is not valid"),
              (status = 401, description = "No session or API token"),
              (status = 404, description = "No such alert")))]
pub async fn alert(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    Path(id): Path<String>,
    filter: Result<Query<BoardFilter>, QueryRejection>,
) -> Result<Json<AlertView>, ApiError> {
    let id = path_id(&id)?;
    let filter = query(filter)?.normalised().map_err(ApiError::BadRequest)?;
    state.tracker.board_alert(id, &filter).await?.map(Json).ok_or(ApiError::NotFound)
}

/// `GET /api/v1/alerts/{id}/curve`: answered share over time, and the tier's target.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/curve", tag = "board",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, description = "Answered share over time and the tier's target", body = CurveView),
              (status = 401, description = "No session or API token"),
              (status = 404, description = "No such alert")))]
pub async fn curve(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    Path(id): Path<String>,
) -> Result<Json<CurveView>, ApiError> {
    let id = path_id(&id)?;
    state.tracker.board_curve(id).await?.map(Json).ok_or(ApiError::NotFound)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MapQuery {
    /// An alert id: areas get its answer rates, units its calls.
    #[serde(default)]
    alert: Option<String>,
}

/// `GET /api/v1/map?alert={id}`: area polygons with answer rates, units with their calls.
#[utoipa::path(get, path = "/api/v1/map", tag = "board", params(MapQuery),
    responses((status = 200, description = "Area polygons and unit locations from the registry", body = MapView),
              (status = 400, description = "alert is not an id"),
              (status = 401, description = "No session or API token"),
              (status = 404, description = "No such alert")))]
pub async fn map(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    q: Result<Query<MapQuery>, QueryRejection>,
) -> Result<Json<MapView>, ApiError> {
    let q = query(q)?;
    let alert = match q.alert.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(raw.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("alert {raw:?} is not an id")))?),
    };
    state.tracker.board_map(alert).await?.map(Json).ok_or(ApiError::NotFound)
}

/// The audit log's filters, as the query string gives them (empty values filter nothing).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[serde(default)]
    pub alert: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    /// A call state or an alert action (`cancel`, `manual`).
    #[serde(default)]
    pub kind: Option<String>,
    /// RFC 3339, or Unix milliseconds.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub offset: Option<String>,
    /// `en` for English headers in the CSV export; the JSON ignores it.
    #[serde(default)]
    pub lang: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn number(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    present(v)
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("{field} {s:?} is not a whole number"))))
        .transpose()
}

fn time(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    present(v)
        .map(|s| {
            s.parse::<i64>()
                .ok()
                .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp_millis()))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{field} {s:?} is not a time: use RFC 3339 (2026-07-01T08:00:00+08:00) or Unix milliseconds"
                    ))
                })
        })
        .transpose()
}

impl AuditQuery {
    /// The store's filter; `max` bounds the limit (the JSON page, or an export).
    pub(crate) fn filter(&self, default_limit: i64, max: i64) -> Result<AuditFilter, ApiError> {
        let limit = number("limit", &self.limit)?.unwrap_or(default_limit);
        if !(1..=max).contains(&limit) {
            return Err(ApiError::BadRequest(format!("limit must be between 1 and {max}")));
        }
        let offset = number("offset", &self.offset)?.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::BadRequest("offset must not be negative".into()));
        }
        let kind = present(&self.kind).map(str::to_string);
        if let Some(k) = &kind {
            let known = k.parse::<jiaoying_core::CallState>().is_ok()
                || k == "cancel"
                || k == "manual"
                || crate::users::AUDIT_KINDS.contains(&k.as_str());
            if !known {
                return Err(ApiError::BadRequest(format!(
                    "kind {k:?} is not a call state (pending, sent, delivered, answered, done, escalated, expired, \
                     cancelled, failed), an alert action (cancel, manual) nor a user change (user_add, user_update, \
                     user_delete)"
                )));
            }
        }
        let (from, to) = (time("from", &self.from)?, time("to", &self.to)?);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(ApiError::BadRequest("from must not be after to".into()));
            }
        }
        let actor = present(&self.actor).map(str::to_string);
        if actor.as_deref().is_some_and(|a| a.chars().count() > 200) {
            return Err(ApiError::BadRequest("actor is longer than 200 characters".into()));
        }
        Ok(AuditFilter { alert_id: number("alert", &self.alert)?, actor, kind, from, to, limit, offset })
    }
}

/// `GET /api/v1/audit?alert=&actor=&kind=&from=&to=&limit=&offset=`: the append-only log, newest
/// first, paged.
#[utoipa::path(get, path = "/api/v1/audit", tag = "board", params(AuditQuery),
    responses((status = 200, description = "Call events and officers' alert actions, newest first", body = AuditPage),
              (status = 400, description = "A filter value is not valid"),
              (status = 401, description = "No session or API token")))]
pub async fn audit(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let filter = query(q)?.filter(100, AUDIT_PAGE_MAX)?;
    Ok(Json(state.tracker.board_audit(&filter).await?))
}
