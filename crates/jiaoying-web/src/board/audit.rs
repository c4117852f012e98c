//! `/audit`: the append-only event log (call events and officers' actions on alerts), newest
//! first, filtered by alert, actor, kind and day, a page at a time, with a CSV export of the same
//! filter.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{NaiveDate, TimeZone};
use jiaoying_core::CallState;
use jiaoying_store::AuditFilter;
use minijinja::{context, Value};
use serde::Deserialize;
use serde_json::json;

use super::i18n::Lang;
use super::page::{frame, render, PageReq};
use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::AppState;

/// Entries per page.
const PAGE: i64 = 100;

/// The audit page's query as typed into its form: every field may be empty.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    /// `YYYY-MM-DD`, China time, inclusive.
    #[serde(default)]
    from: Option<String>,
    /// `YYYY-MM-DD`, China time, inclusive (the whole day).
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    lang: Option<String>,
}

fn clean(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Midnight of a China-time day, in Unix ms.
fn day_start(day: &str) -> Result<i64, String> {
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| format!("{day:?} is not a date (YYYY-MM-DD)"))?;
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let midnight = d.and_hms_opt(0, 0, 0).ok_or_else(|| format!("{day:?} is not a date"))?;
    cst.from_local_datetime(&midnight)
        .single()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| format!("{day:?} is not a date"))
}

/// The kinds an entry can have: a call's new state, an action on an alert, or an admin's change
/// to a board user.
fn kinds() -> Vec<&'static str> {
    let mut k: Vec<&'static str> = CallState::ALL.iter().map(|s| s.as_str()).collect();
    k.extend(["cancel", "manual"]);
    k.extend(crate::users::AUDIT_KINDS);
    k
}

impl AuditQuery {
    fn filter(&self) -> Result<(AuditFilter, i64), String> {
        let page = match clean(&self.page) {
            Some(p) => {
                p.parse::<i64>().ok().filter(|p| (1..=100_000).contains(p)).ok_or("page must be a positive number")?
            }
            None => 1,
        };
        let alert_id = match clean(&self.alert) {
            Some(a) => Some(a.parse::<i64>().map_err(|_| format!("alert {a:?} is not an alert number"))?),
            None => None,
        };
        let kind = clean(&self.kind);
        if let Some(k) = &kind {
            if !kinds().contains(&k.as_str()) {
                return Err(format!("kind {k:?} is not one of {}", kinds().join(", ")));
            }
        }
        let actor = clean(&self.actor);
        if actor.as_deref().is_some_and(|a| a.chars().count() > 200) {
            return Err("actor is longer than 200 characters".into());
        }
        let from = clean(&self.from).map(|d| day_start(&d)).transpose()?;
        let to = clean(&self.to).map(|d| day_start(&d).map(|t| t + 86_400_000)).transpose()?;
        Ok((AuditFilter { alert_id, actor, kind, from, to, limit: PAGE, offset: (page - 1) * PAGE }, page))
    }

    /// The query string of this filter (without the page), for the export link and paging.
    fn query_string(&self) -> String {
        let pairs = [
            ("alert", clean(&self.alert)),
            ("actor", clean(&self.actor)),
            ("kind", clean(&self.kind)),
            ("from", clean(&self.from)),
            ("to", clean(&self.to)),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencoding::encode(v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The export of the same filter, in the page's language: the API takes times as RFC 3339.
fn csv_href(f: &AuditFilter, lang: Lang) -> String {
    let time = |ms: i64| jiaoying_core::Timestamp(ms).to_rfc3339();
    let pairs = [
        ("alert", f.alert_id.map(|a| a.to_string())),
        ("actor", f.actor.clone()),
        ("kind", f.kind.clone()),
        ("from", f.from.map(time)),
        ("to", f.to.map(time)),
        ("lang", (lang == Lang::En).then(|| "en".to_string())),
    ];
    let qs: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencoding::encode(v)))).collect();
    if qs.is_empty() {
        "/api/v1/audit.csv".into()
    } else {
        format!("/api/v1/audit.csv?{}", qs.join("&"))
    }
}

pub async fn show(
    State(app): State<AppState>,
    Viewer(actor): Viewer,
    req: PageReq,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (filter, page, error) = match q.filter() {
        Ok((f, page)) => (f, page, None),
        Err(e) => (AuditFilter { limit: PAGE, ..Default::default() }, 1, Some(e)),
    };
    let log = app.tracker.board_audit(&filter).await?;
    let qs = q.query_string();
    let sep = if qs.is_empty() { "" } else { "&" };
    let pages = ((log.total + PAGE - 1) / PAGE).max(1);
    let ctx = context! {
        ..frame(&req, &actor, "audit", json!({})),
        ..context! {
            log => Value::from_serialize(&log),
            error,
            kinds => kinds(),
            form => context! {
                alert => clean(&q.alert), actor => clean(&q.actor), kind => clean(&q.kind),
                from => clean(&q.from), to => clean(&q.to),
            },
            page, pages,
            prev_href => (page > 1).then(|| format!("/audit?{qs}{sep}page={}", page - 1)),
            next_href => (page < pages).then(|| format!("/audit?{qs}{sep}page={}", page + 1)),
            csv_href => csv_href(&filter, req.lang),
        },
    };
    render(&app, &req, "audit.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_china_days_and_bad_input_is_named() {
        // 2026-07-01 00:00 in China is 2026-06-30T16:00Z.
        assert_eq!(day_start("2026-07-01").unwrap(), 1_782_864_000_000 - 8 * 3_600_000);
        let q = AuditQuery { alert: Some("x".into()), ..Default::default() };
        assert!(q.filter().unwrap_err().contains("alert"));
        let q = AuditQuery { kind: Some("answered".into()), to: Some("2026-07-01".into()), ..Default::default() };
        let (f, page) = q.filter().unwrap();
        assert_eq!((f.kind.as_deref(), f.to, page), (Some("answered"), Some(1_782_864_000_000 + 16 * 3_600_000), 1));
        assert_eq!(q.query_string(), "kind=answered&to=2026-07-01");
        assert_eq!(csv_href(&AuditFilter::default(), Lang::Zh), "/api/v1/audit.csv");
        assert_eq!(
            csv_href(&AuditFilter { alert_id: Some(3), ..f }, Lang::En),
            "/api/v1/audit.csv?alert=3&kind=answered&to=2026-07-01T16%3A00%3A00.000Z&lang=en"
        );
    }
}
