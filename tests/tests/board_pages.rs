//! The duty officers' board pages, server-rendered, on both backends: each page shows a real
//! alert (one call answered by SMS reply, the others past their deadline), viewers see no action
//! buttons, `?lang=en` switches the words, hostile alert text is shown escaped, and nobody
//! unauthenticated gets a page.

use jiaoying::commands;
use jiaoying_core::Span;
use jiaoying_tests::app::{API_TOKEN, DUTY, GRID, HEAD, REG, UNIT};
use jiaoying_tests::{app_story, app_story_with, red_alert, TestApp};
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

const VIEWER_TOKEN: &str = "jy_board_viewer_token";

/// The timer loop sleeps until the first deadline as the manual clock saw it (five real
/// minutes) unless woken: moving the clock without waking it leaves the calls waiting past their
/// deadline (overdue) for as long as the test looks at them.
const SLEEPY_TIMERS: &str = "[tracker]\npoll_backstop = \"1h\"\n";

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    /// Every `href` on the page, unescaped.
    fn hrefs(&self) -> Vec<String> {
        self.body
            .split("href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(|h| h.replace("&#x2f;", "/").replace("&amp;", "&"))
            .collect()
    }

    /// The element with this id, from its opening tag to the next element of the same kind: enough
    /// to look at one cell's attributes and text.
    fn element(&self, id: &str) -> &str {
        let at = self.body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element #{id}"));
        let open = self.body[..at].rfind('<').unwrap();
        let rest = &self.body[at..];
        let end = rest.find("class=\"cell ").unwrap_or(rest.len().min(4000));
        &self.body[open..at + end]
    }

    /// The element with this id, from its opening tag to the first `close` after it (`</table>`).
    fn block(&self, id: &str, close: &str) -> &str {
        let at = self.body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element #{id}"));
        let open = self.body[..at].rfind('<').unwrap();
        let end = self.body[at..].find(close).unwrap_or_else(|| panic!("#{id} has no {close}"));
        &self.body[open..at + end + close.len()]
    }
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Page {
    get_with(app, path, token, None).await
}

async fn get_with(app: &TestApp, path: &str, token: Option<&str>, cookie: Option<&str>) -> Page {
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let r = req.send().await.expect("get page");
    Page { status: r.status(), headers: r.headers().clone(), body: r.text().await.unwrap_or_default() }
}

async fn officer_page(app: &TestApp, path: &str) -> Page {
    let p = get(app, path, Some(API_TOKEN)).await;
    assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
    p
}

async fn add_viewer(app: &TestApp) {
    let hash = hex::encode(sha2::Sha256::digest(VIEWER_TOKEN.as_bytes()));
    app.handle.store.put_api_token("board-viewer", "viewer", &hash, 0).await.unwrap();
}

/// A red alert; the grid worker answers by SMS reply; every call has been sent. Returns the alert
/// id and the calls by person.
async fn an_alert_with_one_answer(app: &TestApp, identifier: &str) -> (i64, Vec<Value>) {
    let (status, body) = app.post_alert(&red_alert(identifier)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    for person in [GRID.0, HEAD.0, UNIT.0, REG.0] {
        app.call_reaches(alert_id, person, "sent").await;
    }
    let code = sms.iter().find(|m| m.to() == GRID.1).unwrap().code().unwrap().to_string();
    let (_, reply) = app.sms_reply(GRID.1, &code).await;
    assert_eq!(reply["result"], "answered", "{reply}");
    app.gateway.wait_for(5).await; // the grid worker's confirmation
    (alert_id, app.calls(alert_id).await)
}

fn call_id(calls: &[Value], person: &str) -> i64 {
    calls.iter().find(|c| c["person_id"] == person).unwrap()["id"].as_i64().unwrap()
}

async fn every_page_shows_the_answered_and_the_overdue(app: &mut TestApp) {
    let (alert_id, calls) = an_alert_with_one_answer(app, "cq-board-001").await;
    // Past the five-minute deadline, the timer loop asleep: three calls wait overdue.
    app.clock.advance(Span::from_mins(7));
    let (grid, unit) = (call_id(&calls, GRID.0), call_id(&calls, UNIT.0));

    // The alert page.
    let page = officer_page(app, &format!("/alerts/{alert_id}")).await;
    assert!(page.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let b = &page.body;
    assert!(b.contains("<html lang=\"zh-CN\">"), "Chinese first");
    assert!(b.contains("江北区气象台发布暴雨红色预警") && b.contains("预计未来3小时降雨量将达100毫米以上"));
    assert!(b.contains("停止户外作业，转移危险区域人员"), "the instruction is shown");
    assert!(b.contains("tier tier-red") && b.contains("红色预警"));
    let answered = page.element(&format!("call-{grid}"));
    assert!(answered.contains("data-state=\"answered\"") && answered.contains("s-answered"), "{answered}");
    assert!(answered.contains("data-overdue=\"false\"") && answered.contains("网格员"), "{answered}");
    assert!(answered.contains("短信"), "answered via SMS: {answered}");
    let overdue = page.element(&format!("call-{unit}"));
    assert!(overdue.contains("data-overdue=\"true\"") && overdue.contains("s-overdue"), "{overdue}");
    assert!(overdue.contains("已超时 2分钟"), "how long overdue: {overdue}");
    assert!(overdue.contains("data-next=\"repeat\"") && overdue.contains("再次提醒"), "who next, when: {overdue}");
    assert!(overdue.contains("校长") && overdue.contains("+86139****0005"), "name and masked number: {overdue}");
    assert!(!b.contains("+8613900000005"), "full numbers are not put on the page");
    for act in ["answer", "recall", "escalate"] {
        assert!(overdue.contains(&format!("data-act=\"{act}\" data-call-id=\"{unit}\"")), "{act}: {overdue}");
    }
    assert!(b.contains("id=\"cancel-alert\"") && b.contains("id=\"answer-dialog\""));
    assert!(b.contains("data-answered=\"1\" data-total=\"4\" data-overdue=\"3\""), "the summary");
    assert!(b.contains("id=\"curve-svg\" data-answered=\"1\" data-total=\"4\"") && b.contains("id=\"curve-line\""));
    assert!(b.contains("id=\"map-svg\"") && b.contains("data-unit-id=\"u-school\" data-status=\"overdue\""), "map");
    assert!(b.contains(&format!("href=\"/api/v1/alerts/{alert_id}/calls.csv\"")));
    assert!(b.contains(&format!("href=\"/api/v1/alerts/{alert_id}/calls.xlsx\"")));
    assert!(b.contains(&format!("href=\"/alerts/{alert_id}/report\"")));
    assert!(b.contains("<td><strong>已应答</strong></td><td>网格员</td>"), "the timeline shows the answer");
    assert!(b.contains("\"alert_id\":") && b.contains("/static/board.js"), "the script knows its alert");

    // Filters run on the server: overdue only, then a search by name.
    let only_overdue = officer_page(app, &format!("/alerts/{alert_id}?state=overdue")).await;
    assert!(only_overdue.body.contains("<div id=\"matrix\" data-shown=\"3\">"), "three overdue");
    assert!(!only_overdue.body.contains(&format!("id=\"call-{grid}\"")));
    assert!(only_overdue.body.contains("<option value=\"overdue\" selected>"), "the filter stays selected");
    let by_name = officer_page(app, &format!("/alerts/{alert_id}?q=%E6%A0%A1%E9%95%BF")).await; // 校长
    assert!(by_name.body.contains("data-shown=\"1\"") && by_name.body.contains(&format!("id=\"call-{unit}\"")));
    let by_number = officer_page(app, &format!("/alerts/{alert_id}?q=0000005")).await;
    assert!(by_number.body.contains("data-shown=\"1\"") && by_number.body.contains(&format!("id=\"call-{unit}\"")));
    let bad = officer_page(app, &format!("/alerts/{alert_id}?state=bogus")).await;
    assert!(
        bad.body.contains("id=\"filter-error\"") && bad.body.contains("data-shown=\"4\""),
        "a bad filter shows all"
    );

    // The live part the page swaps in on every event: the same cells, no frame.
    let live = officer_page(app, &format!("/alerts/{alert_id}/live")).await;
    assert!(!live.body.contains("<html") && live.body.contains(&format!("id=\"call-{grid}\"")));
    assert!(live.element(&format!("call-{unit}")).contains("data-overdue=\"true\""));

    // Now: the alert with its figures, and the gateway backlog.
    let now = officer_page(app, "/").await;
    let card = &now.body[now.body.find(&format!("id=\"alert-{alert_id}\"")).expect("the alert is listed")..];
    assert!(card.contains("data-tier=\"red\" data-answered=\"1\" data-total=\"4\" data-overdue=\"3\""), "{card}");
    assert!(card.contains("建新社区") && card.contains("3 超时"), "areas and overdue count");
    assert!(card.contains("class=\"s-answered\""), "a bar of states");
    assert!(now.body.contains("<tr data-channel=\"sms\""), "the gateway backlog");

    // The printable report: rates per area, unit and role, and who never answered.
    let report = officer_page(app, &format!("/alerts/{alert_id}/report")).await;
    let r = &report.body;
    assert!(r.contains("预警叫应处置报告") && r.contains("江北区气象台发布暴雨红色预警"));
    assert!(r.contains("1 / 4") && r.contains("(25%)"), "the overall rate");
    assert!(r.contains("按区域") && r.contains("按单位") && r.contains("按角色") && r.contains("某小学"));
    let unreached = report.block("unreached", "</table>");
    assert!(
        unreached.contains("校长") && unreached.contains("社区书记") && !unreached.contains("网格员"),
        "{unreached}"
    );
    let css = get(app, "/static/board.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.contains("@media print") && css.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));
    let js = get(app, "/static/board.js", None).await;
    assert!(js.body.contains("EventSource") && js.body.contains("X-CSRF-Token"));

    // The audit log, filtered, with its export.
    let audit = officer_page(app, &format!("/audit?alert={alert_id}&kind=answered")).await;
    assert!(
        audit.body.contains("data-kind=\"answered\"") && audit.body.contains(&format!("href=\"/alerts/{alert_id}\""))
    );
    assert!(!audit.body.contains("data-kind=\"sent\""), "the filter holds");
    let export = format!("/api/v1/audit.csv?alert={alert_id}&kind=answered");
    assert!(audit.hrefs().contains(&export), "the export keeps the filter");
    let csv = officer_page(app, &export).await;
    assert_eq!(csv.body.trim().lines().count(), 2, "a header and the one answer: {}", csv.body);
    assert!(csv.body.contains("person:p-grid"), "{}", csv.body);
    let bad = officer_page(app, "/audit?alert=abc").await;
    assert!(bad.body.contains("id=\"filter-error\""));

    // Unknown alerts are not found.
    assert_eq!(get(app, "/alerts/999999", Some(API_TOKEN)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(app, "/alerts/abc", Some(API_TOKEN)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(app, "/alerts/999999/report", Some(API_TOKEN)).await.status, StatusCode::NOT_FOUND);
}
app_story_with!(SLEEPY_TIMERS, every_page_shows_the_answered_and_the_overdue);

async fn viewers_see_no_action_buttons(app: &mut TestApp) {
    add_viewer(app).await;
    let (_, body) = app.post_alert(&red_alert("cq-board-viewer")).await;
    let alert_id = body["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;

    let viewer = get(app, &format!("/alerts/{alert_id}"), Some(VIEWER_TOKEN)).await;
    assert_eq!(viewer.status, StatusCode::OK);
    assert!(viewer.body.contains("data-call-id=") && viewer.body.contains("只读"), "a viewer sees the calls");
    for absent in ["data-act=", "answer-dialog", "cancel-dialog", "id=\"nav-compose\""] {
        assert!(!viewer.body.contains(absent), "a viewer sees no {absent}");
    }
    let now = get(app, "/", Some(VIEWER_TOKEN)).await;
    assert_eq!(now.status, StatusCode::OK);
    assert!(!now.body.contains("id=\"nav-compose\""));
    assert_eq!(get(app, "/compose", Some(VIEWER_TOKEN)).await.status, StatusCode::FORBIDDEN);

    let officer = officer_page(app, &format!("/alerts/{alert_id}")).await;
    assert!(officer.body.contains("data-act=\"answer\"") && officer.body.contains("id=\"nav-compose\""));
    let compose = officer_page(app, "/compose").await;
    assert!(compose.body.contains("id=\"compose-form\"") && compose.body.contains("value=\"500105002001\""));
    assert!(compose.body.contains("建新社区") && compose.body.contains("<option value=\"red\">红色预警</option>"));
}
app_story!(viewers_see_no_action_buttons);

async fn the_english_switch_changes_the_words(app: &mut TestApp) {
    let (_, body) = app.post_alert(&red_alert("cq-board-en")).await;
    let alert_id = body["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;

    let zh = officer_page(app, "/").await;
    assert!(zh.body.contains("正在叫应的预警") && zh.body.contains("退出") && !zh.body.contains("Active alerts"));
    // (minijinja writes `/` in attribute values as `&#x2f;`.)
    assert!(zh.body.contains("id=\"lang-switch\" href=\"&#x2f;?lang=en\""));

    let en = officer_page(app, "/?lang=en").await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains("Active alerts") && en.body.contains("Log out") && en.body.contains("Red warning"));
    assert!(!en.body.contains("正在叫应的预警") && !en.body.contains("退出"));
    let cookie = en.headers[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("lang=en;"), "{cookie}");

    // The cookie keeps English on the next page; the alert page's words follow.
    let page = get_with(app, &format!("/alerts/{alert_id}"), Some(API_TOKEN), Some("lang=en")).await;
    assert_eq!(page.status, StatusCode::OK);
    for word in ["Answer curve", "Timeline", "Re-call", "Escalate", "Cancel alert", "Download CSV"] {
        assert!(page.body.contains(word), "{word}");
    }
    assert!(!page.body.contains("应答曲线") && !page.body.contains("时间线"));
    assert!(page.body.contains("江北区气象台发布暴雨红色预警"), "the alert's own text stays as written");
    assert!(page.body.contains(&format!("href=\"&#x2f;alerts&#x2f;{alert_id}?lang=zh\"")), "and back to Chinese");
    let audit = get_with(app, "/audit", Some(API_TOKEN), Some("lang=en")).await;
    assert!(audit.body.contains("Audit log"));
    let back = get_with(app, "/?lang=zh", Some(API_TOKEN), Some("lang=en")).await;
    assert!(back.body.contains("正在叫应的预警"), "the query wins over the cookie");
}
app_story!(the_english_switch_changes_the_words);

async fn hostile_alert_text_is_shown_escaped(app: &mut TestApp) {
    let mut alert = red_alert("cq-board-xss");
    alert["headline"] = json!("<script>alert('headline')</script>暴雨");
    alert["description"] = json!("\"><img src=x onerror=alert(1)>");
    alert["instruction"] = json!("</textarea><b>bold</b>");
    let (status, body) = app.post_alert(&alert).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alert_id = body["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;

    for path in [
        format!("/alerts/{alert_id}"),
        format!("/alerts/{alert_id}/live"),
        format!("/alerts/{alert_id}/report"),
        "/".to_string(),
    ] {
        let page = officer_page(app, &path).await;
        let b = &page.body;
        assert!(!b.contains("<script>alert"), "{path}: a headline's script is not a script");
        assert!(!b.contains("<img src=x"), "{path}");
        assert!(!b.contains("<b>bold"), "{path}");
        if path != format!("/alerts/{alert_id}/live") {
            assert!(b.contains("&lt;script&gt;alert("), "{path}: the headline is shown, escaped");
        }
    }
    let page = officer_page(app, &format!("/alerts/{alert_id}")).await;
    assert!(page.body.contains("&lt;img src=x onerror=alert(1)&gt;") && page.body.contains("&lt;b&gt;bold"));
}
app_story!(hostile_alert_text_is_shown_escaped);

async fn nobody_unauthenticated_gets_a_page(app: &mut TestApp) {
    let (_, body) = app.post_alert(&red_alert("cq-board-anon")).await;
    let alert_id = body["id"].as_i64().unwrap();
    for path in [
        "/".to_string(),
        format!("/alerts/{alert_id}"),
        format!("/alerts/{alert_id}/live"),
        format!("/alerts/{alert_id}/report"),
        "/audit".to_string(),
        "/compose".to_string(),
    ] {
        for token in [None, Some("not-a-token")] {
            let page = get(app, &path, token).await;
            assert!(
                page.status == StatusCode::UNAUTHORIZED || page.status.is_redirection(),
                "{path} with {token:?}: {}",
                page.status
            );
            if page.status.is_redirection() {
                assert!(page.headers["location"].to_str().unwrap().starts_with("/login"), "{path}");
            }
            assert!(!page.body.contains("江北区气象台") && !page.body.contains("值班台"), "{path}: {}", page.body);
        }
    }
}
app_story!(nobody_unauthenticated_gets_a_page);

/// Signs in through the login form as a browser would; returns the session cookie's value.
async fn sign_in(app: &TestApp, name: &str, password: &str) -> String {
    app.sign_in_form(name, password).await.cookie
}

async fn a_signed_in_page_carries_the_csrf_token_for_its_script(app: &mut TestApp) {
    commands::user_add(&app.settings(), "zhao", "officer", "board-pages-password").await.expect("user add");
    let (_, body) = app.post_alert(&red_alert("cq-board-session")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let session = sign_in(app, "zhao", "board-pages-password").await;
    let hash = hex::encode(sha2::Sha256::digest(session.as_bytes()));
    let now = app.clock.advance(Span::ZERO).millis();
    let csrf = app.handle.store.live_session(&hash, now).await.unwrap().expect("the session").csrf;

    let cookie = format!("jy_session={session}");
    let page = get_with(app, &format!("/alerts/{alert_id}"), None, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("<meta name=\"csrf-token\" content=\"{csrf}\">")), "the script's token");
    assert!(
        page.body.contains("zhao · 值班员") && page.body.contains("id=\"logout\""),
        "who is signed in, and a way out"
    );
    assert!(!page.body.contains(&session), "the session id never appears in a page");
    // The page's own live part and the event stream open with the same cookie.
    assert_eq!(get_with(app, &format!("/alerts/{alert_id}/live"), None, Some(&cookie)).await.status, StatusCode::OK);
}
app_story!(a_signed_in_page_carries_the_csrf_token_for_its_script);

async fn pages_answer_errors_with_an_html_page_and_the_api_with_json(app: &mut TestApp) {
    add_viewer(app).await;
    let is_html = |p: &Page| p.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html");

    // A page that names no alert: a page in the board's style, Chinese first.
    let missing = get(app, "/alerts/999999", Some(API_TOKEN)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(is_html(&missing), "{:?}", missing.headers);
    assert_eq!(missing.headers["cache-control"], "no-store");
    let b = &missing.body;
    assert!(b.contains("<html lang=\"zh-CN\">") && b.contains("href=\"/static/board.css\""), "{b}");
    assert!(b.contains("class=\"topbar\"") && b.contains("id=\"error\" data-status=\"404\""), "{b}");
    assert!(b.contains("页面不存在") && !b.contains("Page not found") && !b.contains("\"error\":{"), "{b}");
    // English by the query or by the cookie.
    let en = get(app, "/alerts/999999?lang=en", Some(API_TOKEN)).await;
    assert!(en.body.contains("<html lang=\"en\">") && en.body.contains("Page not found"), "{}", en.body);
    let en = get_with(app, "/alerts/abc/report", Some(API_TOKEN), Some("lang=en")).await;
    assert_eq!(en.status, StatusCode::NOT_FOUND);
    assert!(en.body.contains("Page not found") && !en.body.contains("页面不存在"), "{}", en.body);
    // An address nothing serves, signed in or not.
    for token in [Some(API_TOKEN), None] {
        let nowhere = get(app, "/no/such/page", token).await;
        assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
        assert!(is_html(&nowhere) && nowhere.body.contains("页面不存在"), "{}", nowhere.body);
    }

    // A page above the viewer's role: 403, the same style, whatever the client accepts.
    for accept in ["text/html", "*/*"] {
        let r = app
            .client
            .get(format!("{}/compose", app.address))
            .bearer_auth(VIEWER_TOKEN)
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{accept}");
        let body = r.text().await.unwrap();
        assert!(body.contains("无权访问") && body.contains("id=\"error\" data-status=\"403\""), "{body}");
        assert!(body.contains("class=\"topbar\""), "{body}");
    }
    let admin_page = get(app, "/admin/users", Some(VIEWER_TOKEN)).await;
    assert_eq!(admin_page.status, StatusCode::FORBIDDEN);
    assert!(is_html(&admin_page) && admin_page.body.contains("无权访问"));

    // The API and the hooks keep their JSON errors.
    for (path, token, want) in [
        ("/api/v1/alerts/999999", Some(API_TOKEN), StatusCode::NOT_FOUND),
        ("/api/v1/alerts/999999/board", Some(API_TOKEN), StatusCode::NOT_FOUND),
        ("/api/v1/nowhere", Some(API_TOKEN), StatusCode::NOT_FOUND),
        ("/api/v1/users", Some(VIEWER_TOKEN), StatusCode::FORBIDDEN),
        ("/hooks/nowhere", None, StatusCode::NOT_FOUND),
    ] {
        let r = get(app, path, token).await;
        assert_eq!(r.status, want, "{path}");
        assert!(r.headers[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"), "{path}");
        let body: Value = serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("{path}: {}", r.body));
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}
app_story!(pages_answer_errors_with_an_html_page_and_the_api_with_json);

// --- the duty roster on Now (issue 7) ---

/// Imports `[[rosters]]` of the street (`500105002`) as a clerk would: (person, date, shift).
async fn import_street_roster(app: &TestApp, shifts: &[(&str, &str, &str)]) {
    let toml: String = shifts
        .iter()
        .map(|(person, date, shift)| {
            format!(
                "[[rosters]]\narea = \"500105002\"\nperson = \"{person}\"\ndate = \"{date}\"\nshift = \"{shift}\"\n\n"
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.toml");
    std::fs::write(&path, toml).unwrap();
    commands::import(&app.settings(), &path).await.expect("roster import");
}

/// The row of the on-duty table for this person.
fn on_duty_row<'p>(now: &'p Page, person: &str) -> &'p str {
    let b = &now.body;
    let at = b.find(&format!("data-person-id=\"{person}\"")).unwrap_or_else(|| panic!("{person} not on duty: {b}"));
    let open = b[..at].rfind("<tr").unwrap();
    &b[open..at + b[at..].find("</tr>").unwrap()]
}

/// Gaps are looked for two days ahead: July 1 08:00 to July 3 08:00, China time.
const TWO_DAYS_OF_GAPS: &str = "[duties]\nroster_gap_days = 2\n";

async fn now_shows_who_is_on_duty_and_warns_of_a_roster_gap(app: &mut TestApp) {
    // No roster yet: the street's duty officer by role, and nothing to warn of.
    let now = officer_page(app, "/").await;
    let row = on_duty_row(&now, "p-duty");
    assert!(row.contains("data-source=\"role\"") && row.contains("街道值班员"), "{row}");
    assert!(row.contains("按值班员角色"), "{row}");
    assert!(!now.body.contains("id=\"roster-gaps\"") && !now.body.contains("值班表空档"), "no roster, no gap");

    // July 1 day and night, then July 2 only 08:00-14:00 and from 20:00: nobody 14:00-20:00.
    import_street_roster(
        app,
        &[
            ("p-duty", "2026-07-01", "08:00-20:00"),
            ("p-head", "2026-07-01", "20:00-08:00"),
            ("p-leader", "2026-07-02", "08:00-14:00"),
            ("p-leader", "2026-07-02", "20:00-08:00"),
        ],
    )
    .await;
    let now = officer_page(app, "/").await;
    let gaps = now.block("roster-gaps", "</ul>");
    assert!(gaps.contains("class=\"notice warn\"") && gaps.contains("值班表空档"), "a warning: {gaps}");
    assert_eq!(gaps.matches("class=\"roster-gap\"").count(), 1, "one gap: {gaps}");
    assert!(
        gaps.contains(
            "data-area=\"500105002\" data-from=\"2026-07-02T06:00:00.000Z\" data-until=\"2026-07-02T12:00:00.000Z\""
        ),
        "{gaps}"
    );
    assert!(
        gaps.contains("观音桥街道 — 07-02 14:00 – 07-02 20:00") && gaps.contains("6小时"),
        "area and times: {gaps}"
    );
    // The roster's person now, with the shift and its end; the number masked as on every page.
    let row = on_duty_row(&now, "p-duty");
    assert!(row.contains("data-area=\"500105002\" data-source=\"roster\"") && row.contains("观音桥街道"), "{row}");
    assert!(row.contains("街道值班员") && row.contains("08:00-20:00") && row.contains("07-01 20:00"), "{row}");
    assert!(row.contains("+86139****0002"), "{row}");
    assert!(!now.body.contains(DUTY.1) && !now.body.contains("13900000002"), "no full number on the page");
    assert!(!now.body.contains("data-person-id=\"p-head\""), "the night shift is not on duty yet");

    // The same in English.
    let en = officer_page(app, "/?lang=en").await;
    let gaps = en.block("roster-gaps", "</ul>");
    assert!(
        gaps.contains("Roster gaps") && gaps.contains("07-02 14:00 – 07-02 20:00") && gaps.contains("6 h"),
        "{gaps}"
    );
    assert!(en.body.contains("On duty now") && !en.body.contains("值班表空档") && !en.body.contains("当前值班"));

    // Everyone signed in may open the drills; the nav leads there, for viewers too.
    add_viewer(app).await;
    for token in [API_TOKEN, VIEWER_TOKEN] {
        let now = get(app, "/", Some(token)).await;
        assert_eq!(now.status, StatusCode::OK);
        assert!(now.body.contains("<a href=\"/drills\" id=\"nav-drills\">演练</a>"), "the nav leads to the drills");
        assert!(now.body.contains("id=\"roster-gaps\""), "viewers are warned too");
        assert_eq!(get(app, "/drills", Some(token)).await.status, StatusCode::OK);
    }
    let drills = officer_page(app, "/drills").await;
    assert!(drills.body.contains("id=\"nav-drills\" class=\"current\""), "the drills page is the current one");
}
app_story_with!(TWO_DAYS_OF_GAPS, now_shows_who_is_on_duty_and_warns_of_a_roster_gap);

/// Gaps are looked for one day ahead: July 1 08:00 to July 2 08:00, China time.
const ONE_DAY_OF_GAPS: &str = "[duties]\nroster_gap_days = 1\n";

async fn a_roster_that_covers_every_hour_shows_no_gap(app: &mut TestApp) {
    import_street_roster(app, &[("p-duty", "2026-07-01", "08:00-20:00"), ("p-head", "2026-07-01", "20:00-08:00")])
        .await;
    let now = officer_page(app, "/").await;
    assert!(!now.body.contains("id=\"roster-gaps\"") && !now.body.contains("值班表空档"), "covered: no warning");
    assert!(on_duty_row(&now, "p-duty").contains("data-source=\"roster\""));

    // At 20:30 the night shift is on, until 08:00; the day ahead now runs past the roster's end.
    app.clock.advance(Span::from_mins(12 * 60 + 30));
    let now = officer_page(app, "/").await;
    let row = on_duty_row(&now, "p-head");
    assert!(row.contains("社区书记") && row.contains("20:00-08:00") && row.contains("07-02 08:00"), "{row}");
    assert!(!now.body.contains("data-person-id=\"p-duty\""), "the day shift is over");
    let gaps = now.block("roster-gaps", "</ul>");
    assert!(gaps.contains("观音桥街道 — 07-02 08:00 – 07-02 20:30"), "the roster runs out: {gaps}");
}
app_story_with!(ONE_DAY_OF_GAPS, a_roster_that_covers_every_hour_shows_no_gap);
