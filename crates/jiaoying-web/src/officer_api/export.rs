//! Downloads for reports: an alert's calls as CSV and as a real XLSX workbook, and the audit log
//! as CSV. CSV is UTF-8 with a byte-order mark (so spreadsheet programs read the Chinese), and
//! every cell that a spreadsheet would take for a formula is defused with a leading quote.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use jiaoying_core::Timestamp;
use jiaoying_tracker::board::{AlertView, AuditEntry, BoardFilter, CallView};
use serde::Deserialize;

use super::path_id;
use super::read::{query, AuditQuery};
use crate::error::ApiError;
use crate::session::Viewer;
use crate::state::AppState;

/// Most audit rows one CSV export carries.
const AUDIT_EXPORT_MAX: i64 = 100_000;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `en` for English column headers; Chinese otherwise.
    #[serde(default)]
    lang: Option<String>,
}

fn english(lang: &Option<String>) -> bool {
    lang.as_deref().is_some_and(|l| l.eq_ignore_ascii_case("en"))
}

/// China wall time with the date, as a report shows it.
fn cst(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return String::new() };
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    Timestamp(ms).to_datetime().with_timezone(&cst).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The columns of the calls export: (Chinese header, English header).
const CALL_COLUMNS: [(&str, &str); 21] = [
    ("区域代码", "area code"),
    ("区域", "area"),
    ("单位", "unit"),
    ("单位类型", "unit kind"),
    ("角色", "role"),
    ("责任人", "person"),
    ("手机号", "mobile"),
    ("状态", "state"),
    ("呼叫次数", "attempts"),
    ("截止时间", "deadline"),
    ("超时", "overdue for"),
    ("应答时间", "answered at"),
    ("应答方式", "answered via"),
    ("应答人", "answered by"),
    ("备注", "note"),
    ("迟应答", "late"),
    ("未叫醒", "unreached"),
    ("升级至", "escalated to"),
    ("熔断措施", "directive"),
    ("落实时间", "done at"),
    ("落实报告", "done report"),
];

fn yes_no(v: bool, en: bool) -> String {
    match (v, en) {
        (true, false) => "是".into(),
        (true, true) => "yes".into(),
        (false, _) => String::new(),
    }
}

fn call_row(c: &CallView, en: bool) -> Vec<String> {
    let state = if en { c.state.as_str().to_string() } else { c.state_zh.to_string() };
    let role = if en { c.role.clone() } else { c.role_zh.clone() };
    let kind = match (c.unit_kind, en) {
        (Some(k), true) => k.to_string(),
        (Some(k), false) => jiaoying_tracker::board::unit_kind_zh(k).to_string(),
        (None, _) => String::new(),
    };
    vec![
        c.area.clone(),
        c.area_name.clone(),
        c.unit_name.clone().unwrap_or_default(),
        kind,
        role,
        c.person.name.clone(),
        c.person.mobile_masked.clone(),
        state,
        c.attempts.to_string(),
        cst(Some(c.deadline.ms)),
        c.overdue_for.as_ref().map(|d| if en { d.en.clone() } else { d.zh.clone() }).unwrap_or_default(),
        cst(c.answered_at.as_ref().map(|a| a.ms)),
        c.answered_via.clone().unwrap_or_default(),
        c.answered_by.clone().unwrap_or_default(),
        c.answer_note.clone().unwrap_or_default(),
        yes_no(c.late, en),
        yes_no(c.unreached, en),
        c.escalated_to.as_ref().map(|l| l.name.clone()).unwrap_or_default(),
        c.directive
            .as_ref()
            .map(|d| format!("{}：{}", if en { d.measure } else { d.measure_zh }, d.text))
            .unwrap_or_default(),
        cst(c.directive.as_ref().and_then(|d| d.done_at.as_ref().map(|a| a.ms))),
        c.directive.as_ref().and_then(|d| d.done_report.clone()).unwrap_or_default(),
    ]
}

/// A cell a spreadsheet would run as a formula (or a DDE command) is kept as text: a leading
/// `'` (OWASP's advice for CSV injection).
pub(crate) fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// One CSV record (RFC 4180: quoted where needed, quotes doubled, CRLF).
fn csv_line(out: &mut String, cells: impl IntoIterator<Item = impl AsRef<str>>) {
    let mut first = true;
    for cell in cells {
        if !first {
            out.push(',');
        }
        first = false;
        let cell = defuse(cell.as_ref());
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

fn download(body: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

async fn alert_view(state: &AppState, raw_id: &str) -> Result<AlertView, ApiError> {
    let id = path_id(raw_id)?;
    state.tracker.board_alert(id, &BoardFilter::default()).await?.ok_or(ApiError::NotFound)
}

/// `GET /api/v1/alerts/{id}/calls.csv[?lang=en]`.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/calls.csv", tag = "exports",
    params(("id" = i64, Path, description = "Alert id"), ExportQuery),
    responses((status = 200, description = "The calls as CSV (UTF-8 with BOM; formula cells defused)", content_type = "text/csv", body = String),
              (status = 401, description = "No session or API token"),
              (status = 404, description = "No such alert")))]
pub async fn calls_csv(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    Path(id): Path<String>,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let en = english(&query(q)?.lang);
    let view = alert_view(&state, &id).await?;
    let mut out = String::from("\u{feff}");
    csv_line(&mut out, CALL_COLUMNS.iter().map(|(zh, e)| if en { *e } else { *zh }));
    for c in view.calls() {
        csv_line(&mut out, call_row(c, en));
    }
    Ok(download(out.into_bytes(), "text/csv; charset=utf-8", &format!("alert-{}-calls.csv", view.alert.id)))
}

/// `GET /api/v1/alerts/{id}/calls.xlsx[?lang=en]`: one sheet of the calls, with the alert's
/// headline above the table.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/calls.xlsx", tag = "exports",
    params(("id" = i64, Path, description = "Alert id"), ExportQuery),
    responses((status = 200, description = "The calls as an XLSX workbook",
               content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
              (status = 401, description = "No session or API token"),
              (status = 404, description = "No such alert")))]
pub async fn calls_xlsx(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    Path(id): Path<String>,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let en = english(&query(q)?.lang);
    let view = alert_view(&state, &id).await?;
    let alert_id = view.alert.id;
    // Building the workbook is CPU work: off the async workers.
    let bytes = tokio::task::spawn_blocking(move || workbook(&view, en))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("alert-{alert_id}-calls.xlsx"),
    ))
}

fn workbook(view: &AlertView, en: bool) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name(if en { "calls" } else { "叫应记录" })?;
    let title = format!("#{} {} {}", view.alert.id, view.alert.tier_zh, view.alert.headline);
    sheet.write_string_with_format(0, 0, &title, &bold)?;
    let summary = if en {
        format!("answered {}/{}; overdue {}; unreached {}", view.answered, view.total, view.overdue, view.unreached)
    } else {
        format!("已应答 {}/{}；超时 {}；未叫醒 {}", view.answered, view.total, view.overdue, view.unreached)
    };
    sheet.write_string(1, 0, &summary)?;
    const HEADER_ROW: u32 = 3;
    for (col, (zh, e)) in CALL_COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(HEADER_ROW, col as u16, if en { *e } else { *zh }, &bold)?;
        sheet.set_column_width(col as u16, 14)?;
    }
    let mut row = HEADER_ROW;
    for c in view.calls() {
        row += 1;
        for (col, cell) in call_row(c, en).iter().enumerate() {
            // Written as strings: a cell never becomes a formula, whatever it starts with.
            sheet.write_string(row, col as u16, cell)?;
        }
    }
    sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;
    if row > HEADER_ROW {
        sheet.autofilter(HEADER_ROW, 0, row, (CALL_COLUMNS.len() - 1) as u16)?;
    }
    book.save_to_buffer()
}

const AUDIT_COLUMNS: [(&str, &str); 11] = [
    ("时间", "time"),
    ("预警", "alert"),
    ("呼叫", "call"),
    ("类别", "origin"),
    ("原状态", "from state"),
    ("事件", "event"),
    ("责任人", "person"),
    ("操作者", "actor"),
    ("方式", "via"),
    ("备注", "note"),
    ("编号", "id"),
];

fn audit_row(e: &AuditEntry, en: bool) -> Vec<String> {
    vec![
        cst(Some(e.at.ms)),
        e.alert_id.map(|a| a.to_string()).unwrap_or_default(),
        e.call_id.map(|c| c.to_string()).unwrap_or_default(),
        e.origin.clone(),
        e.from_state.clone().unwrap_or_default(),
        if en { e.kind.clone() } else { e.kind_zh.clone() },
        e.name.clone().or_else(|| e.person_id.clone()).unwrap_or_default(),
        e.actor.clone(),
        e.via.clone().unwrap_or_default(),
        e.note.clone().unwrap_or_default(),
        format!("{}-{}", e.origin, e.id),
    ]
}

/// `GET /api/v1/audit.csv?...`: the audit log with the same filters as `/api/v1/audit`, up to
/// 100 000 rows.
#[utoipa::path(get, path = "/api/v1/audit.csv", tag = "exports", params(AuditQuery),
    responses((status = 200, description = "The audit log as CSV", content_type = "text/csv", body = String),
              (status = 400, description = "A filter value is not valid"),
              (status = 401, description = "No session or API token")))]
pub async fn audit_csv(
    State(state): State<AppState>,
    Viewer(_): Viewer,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let en = english(&q.lang);
    let filter = q.filter(AUDIT_EXPORT_MAX, AUDIT_EXPORT_MAX)?;
    let page = state.tracker.board_audit(&filter).await?;
    let mut out = String::from("\u{feff}");
    csv_line(&mut out, AUDIT_COLUMNS.iter().map(|(zh, e)| if en { *e } else { *zh }));
    for e in &page.entries {
        csv_line(&mut out, audit_row(e, en));
    }
    Ok(download(out.into_bytes(), "text/csv; charset=utf-8", "audit.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_quoted() {
        let mut out = String::new();
        csv_line(&mut out, ["=1+1", "+86139", "-2", "@SUM(A1)", "plain", "a,b", "say \"hi\"", "\tx"]);
        assert_eq!(out, "'=1+1,'+86139,'-2,'@SUM(A1),plain,\"a,b\",\"say \"\"hi\"\"\",'\tx\r\n");
    }
}
