//! Scheduled duties and rosters over HTTP (issue 7): who is on duty now and the roster's gaps,
//! the runs of the scheduled duties, a reachability test's report, inspection coverage (all
//! `/api/v1`, for any signed-in viewer or API token), and the inspection reminder's link page
//! (`/i/{token}`: the signed token is the capability, as on the answer link).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use jiaoying_core::token::TokenError;
use jiaoying_tracker::board::At;
use jiaoying_tracker::duties::{
    Duty, InspectionCoverage, InspectionLinkError, OnDutyView, ReachabilityReport, RosterGapView, RunView,
};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::html::{escape, page};
use crate::session::Viewer;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rosters/now", get(rosters_now))
        .route("/api/v1/rosters/gaps", get(roster_gaps))
        .route("/api/v1/duties/runs", get(runs))
        .route("/api/v1/duties/reachability/latest", get(reachability_latest))
        .route("/api/v1/duties/reachability/{run}", get(reachability_run))
        .route("/api/v1/duties/inspections", get(inspections))
        .route("/i/{token}", get(inspection_page).post(inspection_answer))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| ApiError::BadRequest(e.body_text()))
}

#[derive(Serialize)]
pub struct RostersNow {
    generated_at: At,
    areas: Vec<OnDutyView>,
}

/// `GET /api/v1/rosters/now`: per area, who is on duty now (by the roster, else by role).
pub async fn rosters_now(State(state): State<AppState>, Viewer(_): Viewer) -> Result<Json<RostersNow>, ApiError> {
    let now = state.tracker.clock().now();
    let areas = state.duties.rosters_now(now).await?;
    Ok(Json(RostersNow { generated_at: At::new(now.millis()), areas }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapsQuery {
    #[serde(default)]
    days: Option<u32>,
}

#[derive(Serialize)]
pub struct RosterGaps {
    from: At,
    until: At,
    days: u32,
    gaps: Vec<RosterGapView>,
}

/// `GET /api/v1/rosters/gaps?days=N`: times in the next N days (default `duties.roster_gap_days`)
/// when an area that keeps a roster has nobody on duty.
pub async fn roster_gaps(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    q: Result<Query<GapsQuery>, QueryRejection>,
) -> Result<Json<RosterGaps>, ApiError> {
    let q = query(q)?;
    let days = q.days.unwrap_or(state.duties.config().roster_gap_days);
    if !(1..=366).contains(&days) {
        return Err(ApiError::BadRequest("days must be between 1 and 366".into()));
    }
    let now = state.tracker.clock().now();
    let gaps = state.duties.roster_gaps(now, Some(days)).await?;
    let until = now.millis() + i64::from(days) * 86_400_000;
    Ok(Json(RosterGaps { from: At::new(now.millis()), until: At::new(until), days, gaps }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    #[serde(default)]
    duty: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Serialize)]
pub struct Runs {
    runs: Vec<RunView>,
}

/// `GET /api/v1/duties/runs?duty=reachability|inspection|daily_summary&limit=100`: newest first.
pub async fn runs(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    q: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Runs>, ApiError> {
    let q = query(q)?;
    let duty = match q.duty.as_deref().filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(Duty::parse(d).ok_or_else(|| {
            ApiError::BadRequest(format!("duty {d:?} is not one of reachability, inspection, daily_summary"))
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(Json(Runs { runs: state.duties.runs(duty, limit).await? }))
}

/// `GET /api/v1/duties/reachability/latest`: the newest test's report.
pub async fn reachability_latest(
    State(state): State<AppState>,
    Viewer(_): Viewer,
) -> Result<Json<ReachabilityReport>, ApiError> {
    let now = state.tracker.clock().now();
    state.duties.reachability_report(None, now).await?.map(Json).ok_or(ApiError::NotFound)
}

/// `GET /api/v1/duties/reachability/{run}`: one test's report, per area, unit and role, with
/// the unreached listed.
pub async fn reachability_run(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    Path(run): Path<String>,
) -> Result<Json<ReachabilityReport>, ApiError> {
    let run: i64 = run.parse().map_err(|_| ApiError::NotFound)?;
    let now = state.tracker.clock().now();
    state.duties.reachability_report(Some(run), now).await?.map(Json).ok_or(ApiError::NotFound)
}

/// `GET /api/v1/duties/inspections`: coverage per person (this month) and unit (six months).
pub async fn inspections(
    State(state): State<AppState>,
    Viewer(_): Viewer,
) -> Result<Json<InspectionCoverage>, ApiError> {
    let now = state.tracker.clock().now();
    Ok(Json(state.duties.inspection_coverage(now).await?))
}

// ---------------------------------------------------------------------------------------------
// The inspection link page
// ---------------------------------------------------------------------------------------------

type PageResult = (StatusCode, Html<String>);

fn refusal(status: StatusCode, zh: &str, en: &str) -> PageResult {
    (status, Html(page("检查", &format!("<h1>{}</h1><p class=\"en\">{}</p>", escape(zh), escape(en)))))
}

fn link_refusal(e: InspectionLinkError) -> PageResult {
    match e {
        InspectionLinkError::Token(TokenError::Expired) => refusal(
            StatusCode::GONE,
            "链接已过期，请回复短信“已检查 情况”。",
            "This link has expired; reply by SMS instead.",
        ),
        InspectionLinkError::Token(_) | InspectionLinkError::Unknown => {
            refusal(StatusCode::NOT_FOUND, "链接无效，请使用短信或邮件中的完整链接。", "This link is not valid.")
        }
        InspectionLinkError::Tracker(err) => {
            tracing::error!(error = %err, "inspection page failed");
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "系统繁忙，请稍后再试或回复短信。",
                "Please try again shortly, or reply by SMS.",
            )
        }
    }
}

/// `GET /i/{token}`: the person's units, each with its last inspection, and the form. It records
/// nothing by itself (mail scanners open links).
pub async fn inspection_page(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    let now = state.tracker.clock().now();
    let p = match state.duties.inspection_page(&token, now).await {
        Ok(p) => p,
        Err(e) => return link_refusal(e),
    };
    let units: String = p
        .units
        .iter()
        .map(|u| {
            let last = u.last_inspection.as_ref().map_or_else(|| "从未检查 / never".to_string(), |a| a.local.clone());
            let mark = if u.overdue { " <strong>（半年未检查 / overdue）</strong>" } else { "" };
            let checked = if p.units.len() == 1 { " checked" } else { "" };
            format!(
                "<p><label><input type=\"checkbox\" name=\"unit\" value=\"{id}\"{checked}> {name}（{kind}）</label>\
                 <br><small>上次检查 / last: {last}</small>{mark}</p>",
                id = escape(&u.id),
                name = escape(&u.name),
                kind = escape(u.kind_zh),
                last = escape(&last),
            )
        })
        .collect();
    let this_month = if p.this_month > 0 {
        format!("<p>本月已报告{}次 / reported {} time(s) this month.</p>", p.this_month, p.this_month)
    } else {
        "<p>本月尚未报告检查 / no inspection reported this month.</p>".to_string()
    };
    let body = format!(
        "<h1>检查报告 / Inspection report</h1><p>{name}</p>{this_month}\
         <form method=\"post\" action=\"/i/{token}\">{units}\
         <p>检查情况 / What you found:</p>\
         <textarea name=\"report\" maxlength=\"200\" rows=\"3\" style=\"width:100%\"></textarea>\
         <button type=\"submit\">已检查 / Inspected</button></form>",
        name = escape(&p.person.name),
        token = escape(&token),
    );
    (StatusCode::OK, Html(page("检查报告", &body)))
}

/// `POST /i/{token}`: the form (`unit` repeated, `report`); records one inspection per ticked
/// unit of the person's, or one without a unit when none is ticked.
pub async fn inspection_answer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> PageResult {
    let Ok(body) = body else {
        return refusal(StatusCode::BAD_REQUEST, "表单无效。", "The form could not be read.");
    };
    let mut units = Vec::new();
    let mut report = String::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "unit" => units.push(v.into_owned()),
            "report" => report = v.into_owned(),
            _ => {}
        }
    }
    let now = state.tracker.clock().now();
    match state.duties.record_inspection_by_link(&token, &units, &report, now).await {
        Ok(n) => (
            StatusCode::OK,
            Html(page(
                "已检查",
                &format!(
                    "<p class=\"answered\">已记录检查情况（{n}条），谢谢。</p><p class=\"en\">Inspection recorded ({n}). Thank you.</p>"
                ),
            )),
        ),
        Err(e) => link_refusal(e),
    }
}
