//! End-to-end tests in a real headless Chromium (see tests/src/browser.rs and
//! docs/testing-browser.md). Screenshots land in `target/screenshots/`.

use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use jiaoying_tests::app::GRID;
use jiaoying_tests::browser::{Browser, PHONE};
use jiaoying_tests::{app_story, red_alert, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

fn backend_tag(app: &TestApp) -> &'static str {
    match app.db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// A grid worker opens the answer link from the SMS in a browser: the page shows the warning and
/// a confirm button and opening it answers nothing; the button answers, the page says so, and the
/// API shows the call answered by link. The used link then says it was answered.
async fn the_answer_link_works_in_a_browser(app: &mut TestApp) {
    let Some(browser) = Browser::start().await else { return };
    let tag = backend_tag(app);

    let (status, body) = app.post_alert(&red_alert("cq-browser-001")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alert_id = body["id"].as_i64().expect("alert id");
    let sms = app.gateway.wait_for(4).await;
    let grid_sms = sms.iter().find(|m| m.to() == GRID.1).expect("an SMS to the grid worker").clone();
    let link = grid_sms.link().expect("the SMS carries its answer link").to_string();
    let code = grid_sms.code().expect("the SMS carries its reply code").to_string();
    app.call_reaches(alert_id, GRID.0, "sent").await;

    browser.goto(&app.link_url(&link)).await;
    let title = browser.text("h1").await;
    assert!(title.contains("红色") && title.contains("暴雨预警"), "the heading names tier and event: {title}");
    let page = browser.page_text().await;
    assert!(page.contains("江北区气象台发布暴雨红色预警"), "the headline is shown: {page}");
    assert!(page.contains("防御指引：停止户外作业"), "the instruction is shown: {page}");
    assert!(page.contains(&code), "the page offers the SMS code as an alternative: {page}");
    let button = browser.text("form button[type=submit]").await;
    assert!(button.contains("确认收到"), "a confirm button: {button}");
    let tier_bg = browser.wait_for(".tier.red").await.css_value("background-color").await.expect("css");
    assert_eq!(tier_bg, "rgba(204, 0, 0, 1)", "the red tier badge is red");
    browser.screenshot(&format!("answer-link-{tag}-1-opened")).await;
    assert_eq!(
        app.call_of(alert_id, GRID.0).await["state"],
        "sent",
        "opening the link in a browser must not answer the call"
    );

    browser.click("form button[type=submit]").await;
    let confirmed = browser.wait_for_text(".answered", "已确认收到").await;
    assert!(confirmed.contains("谢谢"), "{confirmed}");
    assert_eq!(browser.count("form").await, 0, "no button once answered");
    browser.screenshot(&format!("answer-link-{tag}-2-answered")).await;
    let call = app.call_of(alert_id, GRID.0).await;
    assert_eq!(call["state"], "answered", "{call}");
    assert_eq!(call["answered_via"], "link", "{call}");

    // The same link later (and on a phone, where these links are opened): answered, no button.
    browser.set_viewport(PHONE).await;
    browser.goto(&app.link_url(&link)).await;
    let answered = browser.wait_for_text(".answered", "已于").await;
    assert!(answered.contains("确认收到"), "{answered}");
    assert_eq!(browser.count("form").await, 0, "a used link offers no button");
    browser.screenshot(&format!("answer-link-{tag}-3-reopened-phone")).await;
    browser.close().await;
}

app_story!(the_answer_link_works_in_a_browser);

/// The harness itself, against a tiny local site: cookies reach the server, a page that changes
/// by itself is waited for, a phone viewport is a phone viewport, and a download is read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_harness_sets_cookies_waits_and_reads_downloads() {
    let Some(browser) = Browser::start().await else { return };
    let site = axum::Router::new()
        .route(
            "/",
            get(|| async {
                Html(
                    "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
                     <p id=state>超时</p><a id=csv href=/calls.csv>CSV</a>\
                     <script>setTimeout(() => document.getElementById('state').textContent = '已应答', 300)</script>",
                )
            }),
        )
        .route(
            "/whoami",
            get(|headers: HeaderMap| async move {
                let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                Html(format!("<!doctype html><p id=cookie>{cookie}</p>"))
            }),
        )
        .route(
            "/calls.csv",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                        (header::CONTENT_DISPOSITION, "attachment; filename=\"calls.csv\""),
                    ],
                    "person,state\n网格员,answered\n",
                )
                    .into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = tokio::spawn(async move { axum::serve(listener, site).await });

    browser.set_cookie(&origin, "jy_session", "s3cr3t").await;
    browser.goto(&format!("{origin}/whoami")).await;
    assert_eq!(browser.text("#cookie").await, "jy_session=s3cr3t");
    assert_eq!(browser.cookie("jy_session").await.as_deref(), Some("s3cr3t"));

    browser.goto(&format!("{origin}/")).await;
    browser.wait_for_text("#state", "已应答").await;

    assert_eq!(browser.js("return window.innerWidth", vec![]).await, json!(1366));
    browser.set_viewport(PHONE).await;
    assert_eq!(browser.js("return window.innerWidth", vec![]).await, json!(PHONE.0));
    browser.reset_viewport().await;

    browser.click("#csv").await;
    let csv = browser.wait_for_download("calls.csv").await;
    assert_eq!(String::from_utf8(csv).unwrap(), "person,state\n网格员,answered\n");
    assert_eq!(browser.downloads(), vec!["calls.csv"]);

    browser.close().await;
    server.abort();
}
