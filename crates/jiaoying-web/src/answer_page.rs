//! The answer link: `GET /a/{token}` shows the warning and a confirm button and never answers by
//! itself (mail scanners and link previews open links); `POST /a/{token}` answers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use jiaoying_core::token::TokenError;
use jiaoying_core::Timestamp;
use jiaoying_store::{AlertRow, CallRow};
use jiaoying_tracker::{AnswerOutcome, AnswerRequest, DoneOutcome};

use crate::html::{escape, page};
use crate::state::AppState;

type PageResult = (StatusCode, Html<String>);

fn refusal(status: StatusCode, zh: &str, en: &str) -> PageResult {
    (status, Html(page("叫应", &format!("<h1>{}</h1><p class=\"en\">{}</p>", escape(zh), escape(en)))))
}

fn token_refusal(e: TokenError) -> PageResult {
    match e {
        TokenError::Expired => refusal(StatusCode::GONE, "链接已过期。", "This answer link has expired."),
        TokenError::BadSignature | TokenError::Malformed => {
            refusal(StatusCode::NOT_FOUND, "链接无效，请使用短信或邮件中的完整链接。", "This answer link is not valid.")
        }
    }
}

fn server_error() -> PageResult {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "系统繁忙，请稍后再试或回复短信代码。",
        "Please try again shortly, or reply with the SMS code.",
    )
}

async fn load(state: &AppState, token: &str) -> Result<(CallRow, AlertRow), PageResult> {
    let now = state.tracker.clock().now();
    let t = state.tracker.composer().signer().verify(token, now).map_err(token_refusal)?;
    let store = state.store();
    let call = match store.call(t.call_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(token_refusal(TokenError::BadSignature)),
        Err(_) => return Err(server_error()),
    };
    match store.alert(call.alert_id).await {
        Ok(Some(a)) => Ok((call, a)),
        Ok(None) => Err(token_refusal(TokenError::BadSignature)),
        Err(_) => Err(server_error()),
    }
}

fn directive_block(call: &CallRow) -> String {
    match call.directive.as_deref().and_then(jiaoying_core::directive::parse_stored) {
        Some((measure, text)) => format!(
            "<p class=\"directive\"><strong>【熔断·{}】{}</strong></p>{}",
            measure.zh(),
            escape(text),
            call.done_report.as_deref().map(|r| format!("<p>已报告落实：{}</p>", escape(r))).unwrap_or_default()
        ),
        None => String::new(),
    }
}

fn alert_block(a: &AlertRow) -> String {
    let drill =
        if a.is_drill() { "<p><strong>【演练】本条为演练信息 / This is a drill.</strong></p>" } else { "" };
    format!(
        "{drill}<h1><span class=\"tier {tier}\">{tier_zh}</span> {event}预警</h1><p><strong>{headline}</strong></p><p>{desc}</p>{instr}",
        tier = a.tier.as_str(),
        tier_zh = a.tier.zh(),
        event = escape(&a.event),
        headline = escape(&a.headline),
        desc = escape(&a.description),
        instr = if a.instruction.is_empty() { String::new() } else { format!("<p>防御指引：{}</p>", escape(&a.instruction)) },
    )
}

fn answered_block(at: i64) -> String {
    let when = Timestamp(at).to_cst_display();
    format!(
        "<p class=\"answered\">已于 {when} 确认收到。</p><p class=\"en\">Already answered at {} (UTC).</p>",
        escape(&Timestamp(at).to_rfc3339())
    )
}

pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    let (call, alert) = match load(&state, &token).await {
        Ok(x) => x,
        Err(p) => return p,
    };
    let action = match (call.state, call.answered_at) {
        (jiaoying_core::CallState::Answered, Some(at)) if call.directive.is_some() => format!(
            "{}<form method=\"post\" action=\"/a/{}/done\"><p>熔断措施落实情况 / What was done:</p>\
             <textarea name=\"report\" maxlength=\"200\" rows=\"3\" style=\"width:100%\"></textarea>\
             <button type=\"submit\">已落实 / Carried out</button></form>",
            answered_block(at),
            escape(&token)
        ),
        (jiaoying_core::CallState::Answered | jiaoying_core::CallState::Done, Some(at)) => answered_block(at),
        (s, _) if s.can_become(jiaoying_core::CallState::Answered) => format!(
            "<form method=\"post\" action=\"/a/{}\"><button type=\"submit\">确认收到 / Confirm receipt</button></form>\
             <p class=\"en\">也可回复短信代码 {} 确认。Or reply to the SMS with code {}.</p>",
            escape(&token),
            escape(&call.reply_code),
            escape(&call.reply_code)
        ),
        (s, _) => format!(
            "<p>此呼叫已结束（{}），无需确认。</p><p class=\"en\">This call has ended ({}).</p>",
            s.zh(),
            s.as_str()
        ),
    };
    let title = format!("{}{}预警", alert.tier.zh(), alert.event);
    (StatusCode::OK, Html(page(&title, &format!("{}{}{action}", alert_block(&alert), directive_block(&call)))))
}

pub async fn answer(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    let (call, alert) = match load(&state, &token).await {
        Ok(x) => x,
        Err(p) => return p,
    };
    let req =
        AnswerRequest { call_id: call.id, via: "link".into(), actor: format!("person:{}", call.person_id), note: None };
    let outcome = match state.tracker.answer(&req).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, call_id = call.id, "answer by link failed");
            return server_error();
        }
    };
    let body = match outcome {
        AnswerOutcome::Answered { at, .. } => format!(
            "<p class=\"answered\">已确认收到，谢谢。（{}）</p><p class=\"en\">Receipt confirmed. Thank you.</p>",
            Timestamp(at).to_cst_display()
        ),
        AnswerOutcome::AlreadyAnswered { at, .. } => answered_block(at),
        AnswerOutcome::Closed { state: s, .. } => {
            format!(
                "<p>此呼叫已结束（{}），无需确认。</p><p class=\"en\">This call has ended ({}).</p>",
                s.zh(),
                s.as_str()
            )
        }
        AnswerOutcome::NotFound { .. } => return token_refusal(TokenError::BadSignature),
    };
    (StatusCode::OK, Html(page("已确认", &format!("{}{body}", alert_block(&alert)))))
}

#[derive(serde::Deserialize)]
pub struct DoneForm {
    #[serde(default)]
    report: String,
}

/// `POST /a/{token}/done`: the directive was carried out (已落实), with a short report.
pub async fn done(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<axum::Form<DoneForm>, axum::extract::rejection::FormRejection>,
) -> PageResult {
    let (call, alert) = match load(&state, &token).await {
        Ok(x) => x,
        Err(p) => return p,
    };
    let Ok(axum::Form(form)) = form else {
        return refusal(StatusCode::BAD_REQUEST, "表单无效。", "The form could not be read.");
    };
    if call.directive.is_none() {
        return refusal(StatusCode::NOT_FOUND, "此呼叫没有熔断措施。", "This call carries no directive.");
    }
    let req =
        AnswerRequest { call_id: call.id, via: "link".into(), actor: format!("person:{}", call.person_id), note: None };
    let body = match state.tracker.mark_done(&req, form.report.trim()).await {
        Ok(DoneOutcome::Done { .. }) => {
            "<p class=\"answered\">已记录落实情况，谢谢。</p><p class=\"en\">Recorded as carried out. Thank you.</p>"
        }
        Ok(DoneOutcome::AlreadyDone { .. }) => "<p>已报告落实，无需重复。</p><p class=\"en\">Already reported.</p>",
        Ok(DoneOutcome::Closed { .. }) => "<p>此呼叫已结束。</p><p class=\"en\">This call has ended.</p>",
        Err(e) => {
            tracing::error!(error = %e, call_id = call.id, "done by link failed");
            return server_error();
        }
    };
    (StatusCode::OK, Html(page("已落实", &format!("{}{body}", alert_block(&alert)))))
}
