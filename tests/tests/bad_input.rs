//! Bad input gets a clear 4xx with the SPEC's error body and changes nothing, on both backends.

use jiaoying_core::Span;
use jiaoying_tests::app::{API_TOKEN, GRID, HASHED_SOURCE_SENDER, HASHED_SOURCE_TOKEN, SMS_SECRET, SOURCE_TOKEN};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

fn assert_error_body(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// Every refused alert leaves the database as it was.
async fn refused_alerts_store_nothing(app: &mut TestApp) {
    let good = serde_json::to_vec(&red_alert("cq-bad")).unwrap();

    let (status, body) = app.post_alert_raw(good.clone(), "application/json", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_body(&body, "unauthorized");

    let (status, body) = app.post_alert_raw(good.clone(), "application/json", Some("not-the-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_body(&body, "unauthorized");

    // An API token is not a source token.
    let (status, _) = app.post_alert_raw(good.clone(), "application/json", Some(API_TOKEN)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) =
        app.post_alert_raw(b"{\"identifier\": ".to_vec(), "application/json", Some(SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&body, "bad_request");

    let mut wrong = red_alert("cq-bad");
    wrong["areas"] = Value::from("500105002");
    let (status, body) =
        app.post_alert_raw(serde_json::to_vec(&wrong).unwrap(), "application/json", Some(SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_body(&body, "invalid");

    let mut bad_tier = red_alert("cq-bad");
    bad_tier["tier"] = Value::from("purple");
    let (status, body) =
        app.post_alert_raw(serde_json::to_vec(&bad_tier).unwrap(), "application/json", Some(SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"].as_str().unwrap().contains("tier"), "{body}");

    let mut huge = red_alert("cq-bad");
    huge["description"] = Value::from("雨".repeat(30_000)); // 90 kB > the 64 kB test limit
    let (status, body) =
        app.post_alert_raw(serde_json::to_vec(&huge).unwrap(), "application/json", Some(SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_body(&body, "too_large");

    let (status, body) = app.post_alert_raw(good.clone(), "text/plain", Some(SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error_body(&body, "unsupported_media_type");

    // A source known only by its token's hash, limited to one sender, may not speak for another.
    let (status, body) = app.post_alert_raw(good.clone(), "application/json", Some(HASHED_SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_body(&body, "forbidden");

    assert_eq!(app.alerts_total().await, 0, "nothing may be stored by refused requests");
    assert!(app.gateway.received().is_empty(), "nobody may be called by refused requests");

    // The good one still works afterwards.
    let (status, _) = app.post_alert_raw(good, "application/json", Some(SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut district = red_alert("d-1");
    district["sender"] = Value::from(HASHED_SOURCE_SENDER);
    let (status, body) =
        app.post_alert_raw(serde_json::to_vec(&district).unwrap(), "application/json", Some(HASHED_SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
app_story!(refused_alerts_store_nothing);

/// Replies with a bad signature, forged or expired answer links, and strangers answer nothing.
async fn forged_answers_answer_nothing(app: &mut TestApp) {
    let (_, body) = app.post_alert(&red_alert("cq-forge")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    let grid = sms.iter().find(|m| m.to() == GRID.1).unwrap().clone();
    let code = grid.code().unwrap();

    let (status, body) = app.sms_reply_signed(GRID.1, code, "x1", "the-wrong-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_body(&body, "unauthorized");
    // A hook for a channel that does not exist looks the same as a bad signature.
    let r = app
        .client
        .post(format!("{}/hooks/sms/nosuch", app.address))
        .header("x-jiaoying-signature", jiaoying_dispatch::sms_webhook::sign(SMS_SECRET.as_bytes(), b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Malformed and ill-typed hook bodies, correctly signed.
    let (status, _) = post_signed_hook(app, "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post_signed_hook(app, r#"{"from": 13900000004, "text": "1"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A stranger's reply answers nothing and is not texted back.
    let before = app.gateway.received().len();
    let (status, body) = app.sms_reply("+8613700000000", code).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], "unknown_sender");

    // Tampered link: another call id with this signature, or a flipped MAC.
    let link = grid.link().unwrap();
    let (prefix, token) = link.rsplit_once('/').unwrap();
    let (id, rest) = token.split_once('.').unwrap();
    let moved = format!("{prefix}/{}.{rest}", id.parse::<i64>().unwrap() + 1);
    for bad in [moved, format!("{link}x"), format!("{prefix}/garbage")] {
        let (status, page) = app.open_link(&bad).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}: {page}");
        let (status, _) = app.click_confirm(&bad).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
    assert_ne!(app.call_of(alert_id, GRID.0).await["state"], "answered");

    // An expired link: the alert had no expiry, so links live 7 days from the alert.
    app.advance(Span::from_mins(8 * 24 * 60));
    let (status, page) = app.click_confirm(link).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("过期"), "{page}");
    assert_ne!(app.call_of(alert_id, GRID.0).await["state"], "answered");

    // None of the above sent anything back to the stranger.
    assert!(app.gateway.received()[before..].iter().all(|m| m.to() != "+8613700000000"));
}
app_story!(forged_answers_answer_nothing);

async fn post_signed_hook(app: &TestApp, body: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .post(format!("{}/hooks/sms/sms", app.address))
        .header("x-jiaoying-signature", jiaoying_dispatch::sms_webhook::sign(SMS_SECRET.as_bytes(), body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The read API wants an API token and sane paging.
async fn reads_need_a_token_and_sane_paging(app: &mut TestApp) {
    let r = app.client.get(format!("{}/api/v1/alerts", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.client.get(format!("{}/api/v1/alerts", app.address)).bearer_auth(SOURCE_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a source token does not read");
    let (status, body) = app.get_api("/api/v1/alerts?limit=5000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&body, "bad_request");
    let (status, _) = app.get_api("/api/v1/alerts?limit=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get_api("/api/v1/alerts/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get_api("/api/v1/alerts/abc/calls").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get_api("/api/v1/alerts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 0);
}
app_story!(reads_need_a_token_and_sane_paging);
