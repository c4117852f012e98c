//! `/alerts/{id}/report`: the printable after-action report: what came in, how fast each area,
//! unit and role answered, who never did, and the timeline, with a print stylesheet. Built from
//! the alert view (every call, no filter); the figures are sums over its cells.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use jiaoying_tracker::board::{AlertView, BoardFilter, CallView};
use minijinja::{context, Value};
use serde::Serialize;
use serde_json::json;

use super::alert::alert_id;
use super::format;
use super::i18n::{self, Lang};
use super::page::{frame, render, PageReq};
use super::svg;
use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::AppState;

/// One line of a "per area / unit / role" table.
#[derive(Debug, Default, Serialize, PartialEq)]
struct Line {
    key: String,
    label: String,
    total: i64,
    answered: i64,
    late: i64,
    unreached: i64,
    /// Answered share in whole percent.
    rate: i64,
    /// Median and longest time from the alert to an answer, as text.
    median: Option<String>,
    longest: Option<String>,
}

#[derive(Default)]
struct Tally {
    label: String,
    total: i64,
    late: i64,
    unreached: i64,
    /// Milliseconds from the alert to each answer.
    times: Vec<i64>,
}

impl Tally {
    fn add(&mut self, c: &CallView, start: i64) {
        self.total += 1;
        self.late += c.late as i64;
        self.unreached += c.unreached as i64;
        if let Some(at) = &c.answered_at {
            self.times.push((at.ms - start).max(0));
        }
    }

    fn line(mut self, key: String, lang: Lang) -> Line {
        self.times.sort_unstable();
        let answered = self.times.len() as i64;
        let median = (!self.times.is_empty()).then(|| format::span(lang, self.times[self.times.len() / 2]));
        let longest = self.times.last().map(|t| format::span(lang, *t));
        Line {
            key,
            label: self.label,
            total: self.total,
            answered,
            late: self.late,
            unreached: self.unreached,
            rate: if self.total > 0 { (answered * 100 + self.total / 2) / self.total } else { 0 },
            median,
            longest,
        }
    }
}

fn table<F>(view: &AlertView, lang: Lang, key: F) -> Vec<Line>
where
    F: Fn(&CallView) -> (String, String),
{
    let start = view.alert.created_at.ms;
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for c in view.calls() {
        let (k, label) = key(c);
        let t = tallies.entry(k).or_default();
        t.label = label;
        t.add(c, start);
    }
    tallies.into_iter().map(|(k, t)| t.line(k, lang)).collect()
}

/// The calls never answered: those nobody could reach first, then the others that ended or wait
/// unanswered.
fn unanswered(view: &AlertView) -> Vec<&CallView> {
    let mut out: Vec<&CallView> =
        view.calls().filter(|c| c.answered_at.is_none() && !matches!(c.state.as_str(), "answered" | "done")).collect();
    out.sort_by_key(|c| (!c.unreached, c.area.clone(), c.id));
    out
}

pub async fn show(
    State(app): State<AppState>,
    Viewer(actor): Viewer,
    req: PageReq,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = alert_id(&id)?;
    let lang = req.lang;
    let view = app.tracker.board_alert(id, &BoardFilter::default()).await?.ok_or(ApiError::NotFound)?;
    let curve = app.tracker.board_curve(id).await?.ok_or(ApiError::NotFound)?;
    let all = table(&view, lang, |_| (String::new(), String::new())).pop().unwrap_or_default();
    let areas = table(&view, lang, |c| {
        (c.area.clone(), if c.area_name.is_empty() { c.area.clone() } else { c.area_name.clone() })
    });
    let units = table(&view, lang, |c| match (&c.unit_id, &c.unit_name) {
        (Some(id), name) => (
            id.clone(),
            format!(
                "{} ({})",
                name.clone().unwrap_or_else(|| id.clone()),
                i18n::kind_label(lang, c.unit_kind.unwrap_or("other"))
            ),
        ),
        (None, _) => ("~".into(), i18n::word(lang, "area_persons").to_string()),
    });
    let roles = table(&view, lang, |c| (c.role.clone(), i18n::label(lang, "role", &c.role)));
    let unreached = unanswered(&view);
    let mut timeline = view.timeline.clone();
    timeline.reverse();
    let ctx = context! {
        ..frame(&req, &actor, "report", json!({})),
        ..context! {
            v => Value::from_serialize(&view),
            all, areas, units, roles,
            unreached => Value::from_serialize(&unreached),
            timeline => Value::from_serialize(&timeline),
            curve_svg => Value::from_safe_string(svg::curve(&curve, lang)),
            generated => format::full_time(app.tracker.clock().now().millis()),
        },
    };
    render(&app, &req, "report.html", ctx)
}
