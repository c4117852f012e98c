//! Drills (演练, issue 7): the list of drills and each drill's after-action report, as JSON
//! (`/api/v1/drills`, `/api/v1/drills/{id}/report`) and as a board page (`/drills`,
//! `/drills/{id}`). The figures come from [`jiaoying_tracker::drill_report`]; a drill's answers
//! are only ever added up here, apart from real alerts'.
//!
//! The pages use the board's layout and frame; their words are kept here so the board's word
//! table stays the board's.

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use jiaoying_tracker::drill_report::{DrillReport, DrillSummary};
use minijinja::{context, Environment, UndefinedBehavior, Value};
use serde_json::json;

use crate::board::i18n::Lang;
use crate::board::page::{frame, render_in, PageReq};
use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::AppState;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../board/templates/layout.html")),
    ("drills.html", include_str!("templates/drills.html")),
    ("drill.html", include_str!("templates/drill.html")),
];

/// The pages' words: key, Chinese, English.
const WORDS: &[(&str, &str, &str)] = &[
    ("drills", "演练", "Drills"),
    ("drill_report", "演练总结", "Drill report"),
    ("no_drills", "尚无演练", "No drills yet"),
    ("started", "开始", "Started"),
    ("state", "状态", "State"),
    ("called", "呼叫人数", "Called"),
    ("answered", "已应答", "Answered"),
    ("waiting", "等待中", "Waiting"),
    ("unreached", "未叫应", "Unreached"),
    ("answer_rate", "应答率", "Answer rate"),
    ("median", "应答时间中位数", "Median time to answer"),
    ("max", "最长应答时间", "Longest time to answer"),
    ("by_area", "按区域", "By area"),
    ("by_unit", "按单位", "By unit"),
    ("by_role", "按角色", "By role"),
    ("area", "区域", "Area"),
    ("unit", "单位", "Unit"),
    ("role", "角色", "Role"),
    ("person", "人员", "Person"),
    ("mobile", "手机", "Mobile"),
    ("call_state", "呼叫状态", "Call state"),
    ("unreached_list", "未叫应人员", "Not reached"),
    ("everyone_answered", "全部已应答", "Everyone answered"),
    ("previous", "与上次演练比较", "Compared with the previous drill"),
    ("no_previous", "这是第一次演练，无可比较", "The first drill: nothing to compare with"),
    ("change", "变化", "Change"),
    ("back", "返回演练列表", "Back to the drills"),
    ("alert_page", "呼叫详情", "Calls"),
    ("state_active", "进行中", "running"),
    ("state_expired", "已结束", "ended"),
    ("state_cancelled", "已解除", "cancelled"),
    ("state_stored", "已存档", "stored"),
    ("status_waiting", "等待中", "waiting"),
    ("status_unreached", "未叫应", "unreached"),
];

fn words(lang: Lang) -> Value {
    Value::from_iter(WORDS.iter().map(|(k, zh, en)| (*k, lang.pick(zh, en))))
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // As on the board: a misspelt word fails the render test rather than showing nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    env.add_filter("pct", |rate: Option<f64>| rate.map_or("—".to_string(), |r| format!("{:.0}%", r * 100.0)));
    // A signed change of a rate, in percentage points.
    env.add_filter("pp", |d: Option<f64>| d.map_or("—".to_string(), |d| format!("{:+.0}", d * 100.0)));
    env.add_filter("signed", |n: i64| format!("{n:+}"));
    // A signed change of a time, in seconds.
    env.add_filter("secs", |ms: Option<i64>| ms.map_or("—".to_string(), |ms| format!("{:+} s", ms / 1000)));
    Ok(env)
}

/// Parsed once; compiled into the binary and parsed by the tests.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| environment().expect("the drill templates parse"));

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/drills", get(list))
        .route("/api/v1/drills/{id}/report", get(report))
        .route("/drills", get(list_page))
        .route("/drills/{id}", get(report_page))
}

fn drill_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(ApiError::NotFound)
}

async fn list(State(app): State<AppState>, Viewer(_): Viewer) -> Result<Json<Vec<DrillSummary>>, ApiError> {
    Ok(Json(app.tracker.drills().await?))
}

async fn report(
    State(app): State<AppState>,
    Viewer(_): Viewer,
    Path(id): Path<String>,
) -> Result<Json<DrillReport>, ApiError> {
    let id = drill_id(&id)?;
    Ok(Json(app.tracker.drill_report(id).await?.ok_or(ApiError::NotFound)?))
}

async fn list_page(State(app): State<AppState>, Viewer(actor): Viewer, req: PageReq) -> Result<Response, ApiError> {
    let drills = app.tracker.drills().await?;
    let ctx = context! {
        ..frame(&req, &actor, "drills", json!({})),
        ..context! { d => words(req.lang), drills => Value::from_serialize(&drills) },
    };
    render_in(&ENV, &req, "drills.html", ctx)
}

async fn report_page(
    State(app): State<AppState>,
    Viewer(actor): Viewer,
    req: PageReq,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = drill_id(&id)?;
    let report = app.tracker.drill_report(id).await?.ok_or(ApiError::NotFound)?;
    let ctx = context! {
        ..frame(&req, &actor, "drills", json!({})),
        ..context! { d => words(req.lang), r => Value::from_serialize(&report) },
    };
    render_in(&ENV, &req, "drill.html", ctx)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_templates_parse() {
        super::environment().unwrap();
    }
}
