//! The duty officers' board end to end, in a real headless Chromium, on both backends (see
//! tests/src/browser.rs and docs/testing-browser.md):
//! - an officer signs in through the real form, finds the alert on Now and opens it; a call shown
//!   overdue turns answered in place when the person's SMS reply arrives (no reload); the officer
//!   answers another call on the person's behalf (an empty note is refused) and downloads the CSV;
//! - a viewer sees the same page without any action, and the server refuses their actions too;
//! - a tour of the main pages at 1366×768 (and the alert page at phone width) for screenshots.
//!
//! The timer loop is left asleep where a test needs calls to stay overdue while it looks at them
//! (`[tracker] poll_backstop = "1h"` and the clock moved without waking the loop): see
//! [`SLEEPY_TIMERS`].

use std::collections::HashMap;

use jiaoying_core::{Clock, Span};
use jiaoying_tests::app::{API_TOKEN, GRID, HEAD, REG, UNIT};
use jiaoying_tests::browser::{eventually, Browser, LAPTOP, PHONE, TIMEOUT};
use jiaoying_tests::{app_story, app_story_with, red_alert, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The timer loop sleeps until the first deadline as the manual clock saw it (five real
/// minutes) unless something wakes it: moving the clock without waking it leaves the calls
/// waiting past their deadline (overdue) for as long as the test looks at them. An answer wakes
/// the loop, which then acts on every call that is due.
const SLEEPY_TIMERS: &str = "[tracker]\npoll_backstop = \"1h\"\n";

const PASSWORD: &str = "duty-board-password-2026";

/// The columns of the calls CSV, in order (Chinese headers, the default).
const CSV_HEADER: &str = "区域代码,区域,单位,单位类型,角色,责任人,手机号,状态,呼叫次数,截止时间,超时,\
                          应答时间,应答方式,应答人,备注,迟应答,未叫醒,升级至,熔断措施,落实时间,落实报告";

fn backend_tag(app: &TestApp) -> &'static str {
    match app.db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// A board user with a password, as `jiaoying user add` makes one.
async fn add_user(app: &TestApp, name: &str, role: &str) {
    let hash = tokio::task::spawn_blocking(|| jiaoying_web::session::hash_password(PASSWORD))
        .await
        .unwrap()
        .expect("the password is acceptable");
    let created = app.handle.store.put_user(name, role, &hash, app.clock.now().millis()).await.expect("put user");
    assert!(created, "a new user {name}");
}

/// Opens `path` without a session, which lands on the sign-in form, signs in through it as a
/// person would (typing name and password, pressing the button) and waits for the page `path`
/// asked for. `shot` names a screenshot of the form, taken before typing.
async fn sign_in(browser: &Browser, app: &TestApp, name: &str, path: &str, shot: Option<(&str, Option<&str>)>) {
    browser.goto(&format!("{}{path}", app.address)).await;
    browser.wait_for("#login-form").await;
    let url = browser.current_url().await;
    assert_eq!(url.path(), "/login", "no session: the board sends the browser to sign in first ({url})");
    assert!(browser.cookie("jy_session").await.is_none(), "no session yet");
    if let Some((name, docs)) = shot {
        browser.publish_screenshot(name, docs).await;
    }
    browser.fill("#name", name).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-submit").await;
    browser.wait_for_text("#user", name).await;
    let url = browser.current_url().await;
    assert_eq!(url.path(), path.split('?').next().unwrap(), "back where the browser was going ({url})");
    assert!(browser.cookie("jy_session").await.is_some(), "a session cookie");
    let page = browser.page_text().await;
    assert!(!page.contains(PASSWORD), "the password is never shown");
}

/// A red alert on the community, every call sent. Returns the alert id, call ids and SMS reply
/// codes by person id.
struct Posted {
    id: i64,
    call: HashMap<String, i64>,
    code: HashMap<String, String>,
}

async fn post_red_alert(app: &TestApp, identifier: &str) -> Posted {
    let before = app.gateway.received().len();
    let (status, body) = app.post_alert(&red_alert(identifier)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().expect("alert id");
    let sms = app.gateway.wait_for(before + 4).await;
    let mut call = HashMap::new();
    let mut code = HashMap::new();
    for (person, mobile) in [GRID, HEAD, UNIT, REG] {
        let c = app.call_reaches(id, person, "sent").await;
        call.insert(person.to_string(), c["id"].as_i64().expect("call id"));
        let m = sms[before..].iter().find(|m| m.to() == mobile).unwrap_or_else(|| panic!("an SMS to {person}"));
        code.insert(person.to_string(), m.code().expect("the SMS carries its reply code").to_string());
    }
    Posted { id, call, code }
}

/// Waits until the call of `person` is on attempt `attempts` and in `state` (the timer's repeat
/// is recorded, and its SMS sent).
async fn call_settles(app: &TestApp, alert_id: i64, person: &str, attempts: i64, state: &str) -> Value {
    eventually(&format!("{person}'s call at attempt {attempts}, {state}"), TIMEOUT, || async {
        let c = app.call_of(alert_id, person).await;
        (c["attempts"] == attempts && c["state"] == state).then_some(c)
    })
    .await
}

/// The call as the board API shows it (with its note, which the calls list leaves out).
async fn board_call(app: &TestApp, alert_id: i64, call_id: i64) -> Value {
    let (status, view) = app.get_api(&format!("/api/v1/alerts/{alert_id}/board")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["units"].as_array().cloned().unwrap_or_default())
        .flat_map(|u| u["roles"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["calls"].as_array().cloned().unwrap_or_default())
        .find(|c| c["id"] == call_id)
        .unwrap_or_else(|| panic!("call {call_id} on the board: {view}"))
}

/// The live connection is up: from here on, a change reaches the page by itself.
async fn live_is_open(browser: &Browser) {
    browser.wait_for("body[data-live=open]").await;
}

/// Signs in, finds the alert on Now, opens it; sees a call overdue turn answered live when the
/// SMS reply arrives; answers another call on the person's behalf (an empty note is refused);
/// downloads the CSV and finds every call in it with its state.
async fn an_officer_follows_an_alert_live_answers_on_behalf_and_exports(app: &mut TestApp) {
    let Some(browser) = Browser::start().await else { return };
    add_user(app, "zhao", "officer").await;
    let alert = post_red_alert(app, "cq-e2e-live").await;
    let (grid, unit) = (alert.call[GRID.0], alert.call[UNIT.0]);
    // Two minutes past the five-minute deadline, the timer asleep: all four calls wait overdue.
    app.clock.advance(Span::from_mins(7));

    // 1. Sign in through the form, land on Now, the alert is listed with its figures.
    sign_in(&browser, app, "zhao", "/", None).await;
    browser.wait_for("body[data-page=now]").await;
    assert_eq!(browser.attr("#user", "data-role").await.as_deref(), Some("officer"));
    let card = format!("a#alert-{}", alert.id);
    browser.wait_for(&format!("{card}[data-tier=red][data-answered='0'][data-total='4'][data-overdue='4']")).await;
    let text = browser.text(&card).await;
    assert!(text.contains("暴雨") && text.contains("江北区气象台发布暴雨红色预警"), "{text}");
    assert!(browser.count("#nav-compose").await == 1, "an officer may compose");

    // ... and open it.
    browser.click(&card).await;
    browser.wait_for(&format!("#alert[data-alert-id='{}'][data-status=active]", alert.id)).await;
    assert_eq!(browser.current_url().await.path(), format!("/alerts/{}", alert.id));
    let overdue_cell = format!("#call-{grid}[data-state=sent][data-show=overdue][data-overdue=true]");
    browser.wait_for(&overdue_cell).await;
    let overdue_for = browser.text(&format!("#call-{grid} .overdue-for")).await;
    assert!(overdue_for.contains("已超时 2分钟"), "how long overdue: {overdue_for}");
    let next = browser.text(&format!("#call-{grid} .next-step")).await;
    assert!(next.contains("再次提醒"), "who next, when: {next}");
    browser.wait_for("#summary[data-answered='0'][data-total='4'][data-overdue='4']").await;

    // 2. The grid worker's SMS reply arrives through the gateway hook: the cell turns answered
    // in place, without a reload or navigation.
    live_is_open(&browser).await;
    let mark = browser.mark_page().await;
    let (status, reply) = app.sms_reply(GRID.1, &alert.code[GRID.0]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["result"], "answered", "{reply}");
    browser.wait_for(&format!("#call-{grid}[data-state=answered][data-show=answered][data-overdue=false]")).await;
    assert_eq!(browser.count(&format!("#call-{grid} .overdue-for")).await, 0, "no longer overdue");
    let answered = browser.text(&format!("#call-{grid}")).await;
    assert!(answered.contains("网格员") && answered.contains("短信"), "answered by SMS: {answered}");
    browser.wait_for("#summary[data-answered='1'][data-total='4']").await;
    assert!(browser.same_page(mark).await, "the page changed in place: no reload, no navigation");
    assert_eq!(browser.current_url().await.path(), format!("/alerts/{}", alert.id));
    assert!(browser.attr("body", "data-synced").await.is_some(), "a live refresh happened");

    // The timer's sleep ends (here the test clock moved past the deadline while it slept): the
    // three others get their second attempt. They stay overdue (counted from the first call)
    // until answered. An answer itself moves no deadline earlier, so it does not wake the timer.
    app.handle.wake();
    for person in [HEAD.0, UNIT.0, REG.0] {
        call_settles(app, alert.id, person, 2, "sent").await;
    }
    browser.wait_for_text(&format!("#call-{unit} .state"), "第2次").await;
    browser.wait_for(&format!("#call-{unit}[data-state=sent][data-show=overdue]")).await;
    browser.wait_for("#summary[data-answered='1'][data-total='4'][data-overdue='3']").await;
    let unit_before = app.call_of(alert.id, UNIT.0).await;

    // 3. Answer on the headmaster's behalf: an empty note is refused and changes nothing.
    let answer_button = format!("#call-{unit} button[data-act=answer][data-call-id='{unit}']");
    browser.click(&answer_button).await;
    browser.wait_for("#answer-dialog[open]").await;
    assert_eq!(browser.text("#answer-dialog .dialog-who").await, "校长");
    browser.click("#answer-submit").await;
    browser.wait_for_text("#answer-dialog .error-text", "请填写说明").await;
    assert_eq!(browser.count("#answer-dialog[open]").await, 1, "the dialog stays open");
    assert_eq!(app.call_of(alert.id, UNIT.0).await, unit_before, "a refused answer changes nothing");
    assert_eq!(browser.attr(&format!("#call-{unit}"), "data-state").await.as_deref(), Some("sent"));

    let note = "已电话联系校长，学校已停课";
    browser.fill("#answer-note", note).await;
    browser.click("#answer-submit").await;
    browser.wait_gone("#answer-dialog[open]").await;
    browser.wait_for(&format!("#call-{unit}[data-state=answered][data-show=answered]")).await;
    browser.wait_for_text(&format!("#call-{unit}"), note).await;
    browser.wait_for("#summary[data-answered='2'][data-total='4'][data-overdue='2']").await;
    assert!(browser.same_page(mark).await, "answering did not reload the page");
    let call = app.call_of(alert.id, UNIT.0).await;
    assert_eq!(call["state"], "answered", "{call}");
    assert_eq!(call["answered_via"], "officer", "{call}");
    assert_eq!(call["answered_by"], "officer:zhao", "the record says which officer: {call}");
    assert_eq!(board_call(app, alert.id, unit).await["answer_note"], note);

    // 4. The CSV download: a header row and one row per call, in the states the board shows.
    browser.click("#csv-link").await;
    let csv = browser.wait_for_download(&format!("alert-{}-calls.csv", alert.id)).await;
    let csv = String::from_utf8(csv).expect("UTF-8");
    let csv = csv.strip_prefix('\u{feff}').expect("a byte-order mark, for spreadsheet programs");
    assert!(csv.ends_with("\r\n"), "CRLF records");
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines[0], CSV_HEADER);
    assert_eq!(lines.len(), 5, "a header and one row per call:\n{csv}");
    assert!(!csv.contains('"'), "nothing here needs quoting:\n{csv}");
    let rows: HashMap<&str, Vec<&str>> =
        lines[1..].iter().map(|l| l.split(',').collect::<Vec<_>>()).map(|cells| (cells[5], cells)).collect();
    assert_eq!(rows.len(), 4, "one row per person:\n{csv}");
    for cells in rows.values() {
        assert_eq!(cells.len(), 21, "{cells:?}");
    }
    let (state, attempts, via, by, note_col) = (7, 8, 12, 13, 14);
    let g = &rows["网格员"];
    assert_eq!((g[state], g[via], g[by]), ("已应答", "sms", "person:p-grid"), "{g:?}");
    assert_eq!(g[6], "'+86139****0004", "a masked mobile, defused against formulas");
    assert!(g[11].starts_with("2026-07-01 08:07:"), "answered at, China time: {g:?}");
    let u = &rows["校长"];
    assert_eq!((u[state], u[via], u[by], u[note_col]), ("已应答", "officer", "officer:zhao", note), "{u:?}");
    assert_eq!((u[2], u[4]), ("某小学", "单位责任人"), "{u:?}");
    for name in ["社区书记", "教委安全科长"] {
        let r = &rows[name];
        assert_eq!((r[state], r[attempts], r[via]), ("已发送", "2", ""), "{name} still waits: {r:?}");
    }
    for (_, mobile) in [GRID, HEAD, UNIT, REG] {
        assert!(!csv.contains(mobile), "full mobile numbers stay out of exports");
    }
    assert!(browser.same_page(mark).await, "a download is not a navigation");
    browser.close().await;
}
app_story_with!(SLEEPY_TIMERS, an_officer_follows_an_alert_live_answers_on_behalf_and_exports);

/// A viewer signs in and sees the alert, its calls and the downloads, but no button to act; and
/// the server refuses an action sent from the viewer's page anyway, token and all.
async fn a_viewer_sees_the_board_but_cannot_act(app: &mut TestApp) {
    let Some(browser) = Browser::start().await else { return };
    add_user(app, "qian", "viewer").await;
    let alert = post_red_alert(app, "cq-e2e-viewer").await;
    let grid = alert.call[GRID.0];

    sign_in(&browser, app, "qian", &format!("/alerts/{}", alert.id), None).await;
    browser.wait_for(&format!("#alert[data-alert-id='{}']", alert.id)).await;
    assert_eq!(browser.attr("#user", "data-role").await.as_deref(), Some("viewer"));
    browser.wait_for(&format!("#call-{grid}[data-state=sent]")).await;
    assert_eq!(browser.count(".cell[data-call-id]").await, 4, "a viewer sees every call");
    for absent in ["button[data-act]", "#cancel-alert", "#answer-dialog", "#cancel-dialog", "#nav-compose"] {
        assert_eq!(browser.count(absent).await, 0, "a viewer sees no {absent}");
    }
    for present in ["#csv-link", "#xlsx-link", "#report-link", "#curve-svg", "#map-svg"] {
        browser.wait_for(present).await;
    }

    // Live updates reach a viewer too.
    live_is_open(&browser).await;
    let (_, reply) = app.sms_reply(GRID.1, &alert.code[GRID.0]).await;
    assert_eq!(reply["result"], "answered", "{reply}");
    browser.wait_for(&format!("#call-{grid}[data-state=answered]")).await;
    assert_eq!(browser.count("button[data-act]").await, 0, "still no buttons after a refresh");

    // The page's own script, the session and its CSRF token: still refused, nothing changes.
    let head = alert.call[HEAD.0];
    let result = browser
        .js(
            "const token = document.querySelector('meta[name=csrf-token]').content;
             return Promise.all(arguments[0].map((path) => fetch(path, {
               method: 'POST', credentials: 'same-origin',
               headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
               body: JSON.stringify({note: '越权'}),
             }).then((r) => r.status)));",
            vec![json!([
                format!("/api/v1/calls/{head}/answer"),
                format!("/api/v1/calls/{head}/recall"),
                format!("/api/v1/calls/{head}/escalate"),
                format!("/api/v1/alerts/{}/cancel", alert.id),
            ])],
        )
        .await;
    assert_eq!(result, json!([403, 403, 403, 403]), "a viewer's session may not act");
    let head_call = app.call_of(alert.id, HEAD.0).await;
    assert_eq!((head_call["state"].as_str(), head_call["attempts"].as_i64()), (Some("sent"), Some(1)), "{head_call}");
    let (_, detail) = app.get_api(&format!("/api/v1/alerts/{}", alert.id)).await;
    assert_eq!(detail["status"], "active", "not cancelled: {detail}");
    browser.close().await;
}
app_story!(a_viewer_sees_the_board_but_cannot_act);

/// The test registry's areas, with polygons around the school, so the map has something to draw
/// (the registry `spawn_app` writes has none).
async fn draw_the_areas(app: &TestApp) {
    let mut registry = (*app.handle.store.load_registry().await.expect("registry")).clone();
    let square = |w: f64, s: f64, e: f64, n: f64| Some(vec![[w, s], [e, s], [e, n], [w, n], [w, s]]);
    for area in &mut registry.areas {
        area.polygon = match area.code.as_str() {
            "500105002" => square(106.512, 29.563, 106.566, 29.603),
            "500105002001" => square(106.520, 29.568, 106.562, 29.598),
            // The school (106.54, 29.58) off the middle, so its dot leaves the name readable.
            "500105002001001" => square(106.536, 29.574, 106.560, 29.594),
            _ => None,
        };
    }
    registry.persons.clear();
    registry.units.clear();
    registry.rosters.clear();
    let changes = app.handle.store.upsert_registry(&registry, app.clock.now().millis()).await.expect("upsert");
    assert_eq!(changes.changed, 3, "three areas now have a shape");
}

/// A tour of the main pages at 1366×768 with an alert in a telling state, for screenshots (and
/// the alert page at phone width): the red alert has one answer by SMS, one by an officer, two
/// calls overdue on their second attempt; a yellow alert has two calls overdue on their first.
/// Each page is checked for its key parts before its picture is taken. The SQLite run publishes
/// its pictures to docs/screenshots/ when JIAOYING_PUBLISH_SCREENSHOTS=1.
async fn the_main_pages_at_laptop_and_phone_size(app: &mut TestApp) {
    let Some(browser) = Browser::start().await else { return };
    let tag = backend_tag(app);
    let sqlite = app.db.backend == Backend::Sqlite;
    let publish = |docs: &'static str| sqlite.then_some(docs);
    add_user(app, "zhao", "officer").await;
    draw_the_areas(app).await;

    let red = post_red_alert(app, "cq-e2e-tour").await;
    app.advance(Span::from_mins(1));
    let (_, reply) = app.sms_reply(GRID.1, &red.code[GRID.0]).await;
    assert_eq!(reply["result"], "answered", "{reply}");
    app.clock.advance(Span::from_mins(6));
    let r = app
        .client
        .post(format!("{}/api/v1/calls/{}/answer", app.address, red.call[HEAD.0]))
        .bearer_auth(API_TOKEN)
        .json(&json!({"note": "值班室电话确认，已组织巡查"}))
        .send()
        .await
        .expect("answer on behalf");
    assert_eq!(r.status(), StatusCode::OK);
    for person in [UNIT.0, REG.0] {
        call_settles(app, red.id, person, 2, "sent").await;
    }
    let mut yellow = red_alert("cq-e2e-tour-yellow");
    yellow["tier"] = json!("yellow");
    yellow["event"] = json!("大风");
    yellow["headline"] = json!("江北区气象台发布大风黄色预警");
    yellow["description"] = json!("预计未来6小时将出现8级以上阵风");
    yellow["instruction"] = json!("加固临时搭建物，停止高空作业");
    let (status, body) = app.post_alert(&yellow).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let yellow_id = body["id"].as_i64().unwrap();
    for person in [HEAD.0, UNIT.0] {
        app.call_reaches(yellow_id, person, "sent").await;
    }
    // 08:13: the red alert's second attempts and the yellow alert's first are a minute overdue.
    app.clock.advance(Span::from_mins(6));

    browser.set_viewport(LAPTOP).await;
    sign_in(&browser, app, "zhao", "/", Some((&format!("board-{tag}-1-login"), publish("login")))).await;

    // Now: the red alert above the yellow one, each with its figures and bar.
    browser.wait_for(&format!("a#alert-{}[data-answered='2'][data-total='4'][data-overdue='2']", red.id)).await;
    browser.wait_for(&format!("a#alert-{yellow_id}[data-answered='0'][data-total='2'][data-overdue='2']")).await;
    let order =
        browser.js("return [...document.querySelectorAll('a[data-alert-id]')].map(a => a.dataset.tier)", vec![]);
    assert_eq!(order.await, json!(["red", "yellow"]), "most severe first");
    browser.wait_for("#backlog tr[data-channel=sms]").await;
    browser.publish_screenshot(&format!("board-{tag}-2-now"), publish("now")).await;

    // The alert page: matrix, curve, map.
    browser.goto(&format!("{}/alerts/{}", app.address, red.id)).await;
    browser.wait_for("#summary[data-answered='2'][data-total='4'][data-overdue='2']").await;
    let unit = red.call[UNIT.0];
    browser.wait_for(&format!("#call-{unit}[data-show=overdue] .next-step[data-next=escalate]")).await;
    browser.wait_for("#curve-svg").await;
    assert_eq!(browser.count("#map-svg polygon.map-area").await, 3, "the three areas are drawn");
    browser.wait_for("#map-svg circle.map-unit[data-unit-id=u-school][data-status=overdue]").await;
    live_is_open(&browser).await;
    browser.publish_screenshot(&format!("board-{tag}-3-alert"), None).await;
    browser.publish_full_page_screenshot(&format!("board-{tag}-3-alert-full"), publish("alert")).await;

    // The printable report.
    browser.click("#report-link").await;
    browser.wait_for(&format!("#report[data-alert-id='{}']", red.id)).await;
    assert_eq!(browser.count("#unreached tr[data-call-id]").await, 2, "two not answered");
    browser.publish_screenshot(&format!("board-{tag}-4-report"), publish("report")).await;

    // The audit log.
    browser.click("#nav-audit").await;
    browser.wait_for("body[data-page=audit]").await;
    assert!(browser.count("#audit-log tr[data-kind]").await >= 10, "the events so far");
    browser.wait_for("#audit-log tr[data-kind=answered]").await;
    browser.publish_screenshot(&format!("board-{tag}-5-audit"), publish("audit")).await;

    // Compose a manual warning.
    browser.click("#nav-compose").await;
    browser.wait_for("#compose-form").await;
    browser.wait_for("#c-areas").await;
    browser.publish_screenshot(&format!("board-{tag}-6-compose"), publish("compose")).await;

    // The alert page in English, through the switch.
    browser.goto(&format!("{}/alerts/{}", app.address, red.id)).await;
    browser.wait_for("body[data-page=alert][data-lang=zh]").await;
    browser.click("#lang-switch").await;
    browser.wait_for("body[data-page=alert][data-lang=en]").await;
    let text = browser.page_text().await;
    for word in ["Answer curve", "Timeline", "Download CSV", "overdue by"] {
        assert!(text.contains(word), "{word} in English");
    }
    browser.wait_for(&format!("#call-{unit}[data-show=overdue]")).await;
    browser.publish_screenshot(&format!("board-{tag}-7-alert-en"), publish("alert-en")).await;

    // And at phone width, back in Chinese.
    browser.set_viewport(PHONE).await;
    browser.click("#lang-switch").await;
    browser.wait_for("body[data-page=alert][data-lang=zh]").await;
    browser.wait_for(&format!("#call-{unit}[data-show=overdue]")).await;
    let overflow = browser.js("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await;
    assert!(overflow.as_i64().is_some_and(|px| px <= 0), "no sideways scrolling on a phone: {overflow}px too wide");
    browser.publish_screenshot(&format!("board-{tag}-8-alert-phone"), publish("alert-phone")).await;
    browser.full_page_screenshot(&format!("board-{tag}-8-alert-phone-full")).await;
    browser.close().await;
}
app_story_with!(SLEEPY_TIMERS, the_main_pages_at_laptop_and_phone_size);
