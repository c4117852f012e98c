//! CAP over HTTP on both backends: every valid sample taken, every invalid and hostile document
//! refused with nothing stored and the server alive; geometry reaching units by location; a
//! polled feed taken once.

use std::time::Duration;

use jiaoying_tests::app::{GRID, HEAD, REG, UNIT};
use jiaoying_tests::{app_story, cap_sample, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::json;

const VALID: [&str; 10] = [
    "01-oasis-a2-thunderstorm-polygon-same.xml",
    "02-oasis-a3-earthquake-update-circle.xml",
    "03-oasis-a4-amber-two-languages.xml",
    "05-taiwan-wra-reservoir-zh-tw.xml",
    "07-ipaws-cancel-no-info-xmldsig.xml",
    "08-ntwc-tsunami-cancellation-update-3refs.xml",
    "10-met-eireann-meteoalarm-emma-geocode.xml",
    "12-icelandic-met-is-en-resource.xml",
    "cn-01-rainstorm-red-jiangbei.xml",
    "cn-02-geohazard-orange-circle.xml",
];

async fn every_valid_sample_is_taken_once(app: &mut TestApp) {
    for name in VALID {
        let xml = cap_sample(&format!("valid/{name}"));
        let (status, body) = app.post_cap(&xml).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        let (status, again) = app.post_cap(&xml).await;
        assert_eq!(status, StatusCode::OK, "{name} again: {again}");
        assert_eq!(again["id"], body["id"], "{name}");
    }
    // The Chongqing rainstorm names the street by its 12-digit CPEAS code: everyone in the red
    // roles of the street is called.
    let (_, cn01) = app.post_cap(&cap_sample("valid/cn-01-rainstorm-red-jiangbei.xml")).await;
    assert_eq!(cn01["tier"], "red");
    assert_eq!(cn01["calls"], 4, "{cn01}");
    // The geohazard circle (1.5 km) holds the school: its three responsible persons.
    let (_, cn02) = app.post_cap(&cap_sample("valid/cn-02-geohazard-orange-circle.xml")).await;
    assert_eq!(cn02["tier"], "orange", "二级 is orange: {cn02}");
    let mut called: Vec<String> = app
        .calls(cn02["id"].as_i64().unwrap())
        .await
        .iter()
        .map(|c| c["person_id"].as_str().unwrap().to_string())
        .collect();
    called.sort();
    assert_eq!(called, vec![HEAD.0, REG.0, UNIT.0]);
    // Foreign alerts reach nobody registered: stored with calls 0.
    let (_, nws) = app.post_cap(&cap_sample("valid/01-oasis-a2-thunderstorm-polygon-same.xml")).await;
    assert_eq!(nws["calls"], 0);
}
app_story!(every_valid_sample_is_taken_once);

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"#;

async fn invalid_and_hostile_documents_store_nothing(app: &mut TestApp) {
    for name in [
        "m1-xxe-xinclude-external-dtd.cap.xml",
        "m3-missing-scope.cap.xml",
        "m4-update-empty-references.cap.xml",
        "m5-cap11-empty-enums-bad-polygon.cap.xml",
    ] {
        let (status, body) = app.post_cap(&cap_sample(&format!("invalid/{name}"))).await;
        assert!(status.is_client_error(), "{name}: {status} {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {body}");
    }
    let (status, body) = app.post_cap(BILLION_LAUGHS.as_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let deep = format!("{}{}", "<a>".repeat(200_000), "</a>".repeat(200_000));
    let (status, _) = app.post_cap(deep.as_bytes()).await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE, "{status}");
    // 20 MB: refused by its Content-Length before it is read. The server may close the
    // connection while the client is still writing, so a broken pipe is the same refusal.
    let huge = vec![b' '; 20 * 1024 * 1024];
    let sent = app
        .client
        .post(format!("{}/api/v1/alerts", app.address))
        .bearer_auth(jiaoying_tests::app::SOURCE_TOKEN)
        .header("content-type", "application/cap+xml")
        .body(huge)
        .send()
        .await;
    if let Ok(r) = sent {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let truncated = cap_sample("valid/cn-01-rainstorm-red-jiangbei.xml");
    let (status, _) = app.post_cap(&truncated[..truncated.len() / 2]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(app.alerts_total().await, 0, "nothing stored");
    let r = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the server is alive");
}
app_story!(invalid_and_hostile_documents_store_nothing);

/// A polygon reaches the units inside it and not those outside; a circle far away reaches none.
async fn geometry_reaches_units_by_location(app: &mut TestApp) {
    let mut inside = red_alert("poly-in");
    inside["areas"] = json!([{"polygon": [[106.535, 29.575], [106.545, 29.575], [106.545, 29.585], [106.535, 29.585], [106.535, 29.575]]}]);
    let (_, body) = app.post_alert(&inside).await;
    let mut called: Vec<String> =
        app.calls(body["id"].as_i64().unwrap()).await.iter().map(|c| c["person_id"].as_str().unwrap().into()).collect();
    called.sort();
    assert_eq!(called, vec![HEAD.0, REG.0, UNIT.0], "the school's three; not the grid worker (no area polygons)");
    assert!(!called.contains(&GRID.0.to_string()));

    let mut outside = red_alert("poly-out");
    outside["areas"] = json!([{"circle": [106.60, 29.58, 1.0]}]);
    let (_, body) = app.post_alert(&outside).await;
    assert_eq!(body["calls"], 0, "{body}");
}
app_story!(geometry_reaches_units_by_location);

/// A source with `poll` is polled at start; each linked CAP document is taken once.
async fn a_polled_feed_is_taken_once(app: &mut TestApp) {
    // The feed server is started by the wrapper below; the app was built with its URL.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.alerts_total().await < 1 {
        assert!(tokio::time::Instant::now() < deadline, "the feed was never polled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, list) = app.get_api("/api/v1/alerts").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["alerts"][0]["source"], "feed");
    assert_eq!(list["alerts"][0]["tier"], "red");
    assert_eq!(list["alerts"][0]["event"], "暴雨");
    app.gateway.wait_for(4).await;
    let (status, feeds) = app.get_api("/api/v1/feeds").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feeds["feeds"][0]["source"], "feed", "{feeds}");
    assert_eq!(feeds["feeds"][0]["failures"], 0, "{feeds}");
    assert_eq!(feeds["silent"].as_array().map(|a| a.len()), Some(0), "{feeds}");
    // A day later with nothing new taken, the feed is reported silent to the duty officers.
    app.clock.advance(jiaoying_core::Span::from_mins(25 * 60));
    let (_, feeds) = app.get_api("/api/v1/feeds").await;
    assert_eq!(feeds["silent"][0]["source"], "feed", "{feeds}");
    assert!(feeds["silent"][0]["warning"].as_str().unwrap().contains("未产生可解析的预警"));
}

async fn feed_server() -> String {
    use axum::routing::get;
    let cap = cap_sample("valid/cn-01-rainstorm-red-jiangbei.xml");
    let index = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>CMA</title><id>urn:test</id><updated>2026-07-01T00:00:00Z</updated>
<entry><id>urn:cn-01</id><title>暴雨红色预警</title><updated>2026-07-01T00:00:00Z</updated>
<link rel="alternate" type="application/cap+xml" href="/cap/cn-01.xml"/></entry></feed>"#;
    let app = axum::Router::new()
        .route("/index.atom", get(move || async move { ([("content-type", "application/atom+xml")], index) }))
        .route("/cap/cn-01.xml", get(move || async move { ([("content-type", "application/cap+xml")], cap) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/index.atom")
}

mod a_polled_feed_is_taken_once {
    use super::*;

    fn extra(url: &str) -> String {
        format!(
            "[[sources]]\nid = \"feed\"\ntoken = \"feed-token-0123456789abcdef\"\npoll = {{ url = \"{url}\", schedule = \"0 */2 * * * *\" }}\n"
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        let url = feed_server().await;
        let mut app = jiaoying_tests::spawn_app_with(jiaoying_tests::Backend::Sqlite, &extra(&url)).await.unwrap();
        super::a_polled_feed_is_taken_once(&mut app).await;
        app.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        let url = feed_server().await;
        let Some(mut app) = jiaoying_tests::spawn_app_with(jiaoying_tests::Backend::Postgres, &extra(&url)).await
        else {
            eprintln!("SKIPPED a_polled_feed_is_taken_once::on_postgres: set JIAOYING_TEST_PG_URL to run it");
            return;
        };
        super::a_polled_feed_is_taken_once(&mut app).await;
        app.finish().await;
        jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
    }
}
