//! Provider callbacks through the real HTTP layer, on both backends: an Aliyun SmsUp push (secret
//! path token), a Tencent reply callback (secret path token) and a Twilio inbound SMS (signed over
//! the public URL) each answer a call, acknowledged with the exact body the provider expects;
//! the same requests without the token or with a forged signature change nothing.

use base64::Engine;
use hmac::{Hmac, Mac};
use jiaoying_tests::app::GRID;
use jiaoying_tests::{red_alert, spawn_app_with, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

const ALI_TOKEN: &str = "ali-path-token-0123456789";
const TC_TOKEN: &str = "tc-path-token-0123456789";
const TWILIO_AUTH: &str = "twilio-auth-token-0123456789";

/// The gateways are never sent to in these stories (the policy sends on `sms`); replies the
/// service sends back on these channels go to a closed port and are retried harmlessly.
fn extra() -> String {
    format!(
        r#"
[channels.ali]
kind = "aliyun-sms"
url = "http://127.0.0.1:9/"
access_key_id = "ak"
access_key_secret = "sk"
sign_name = "观音桥街道"
template_code = "SMS_1"
path_token = "{ALI_TOKEN}"
[channels.tc]
kind = "tencent-sms"
url = "http://127.0.0.1:9/"
secret_id = "id"
secret_key = "key"
sdk_app_id = "1400000000"
sign_name = "观音桥街道"
template_id = "100"
path_token = "{TC_TOKEN}"
[channels.tw]
kind = "twilio-sms"
url = "http://127.0.0.1:9"
account_sid = "AC00000000000000000000000000000000"
auth_token = "{TWILIO_AUTH}"
from = "+15005550006"
"#
    )
}

async fn grid_code(app: &TestApp, id: &str) -> (i64, String) {
    let (status, body) = app.post_alert(&red_alert(id)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alert_id = body["id"].as_i64().unwrap();
    app.call_reaches(alert_id, GRID.0, "sent").await;
    let sms = app.gateway.received().into_iter().rev().find(|m| m.to() == GRID.1 && m.code().is_some()).expect("sms");
    (alert_id, sms.code().unwrap().to_string())
}

async fn post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: String,
    headers: &[(&str, String)],
) -> (StatusCode, String) {
    let mut req = app.client.post(format!("{}{path}", app.address)).header("content-type", content_type).body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Twilio's signature, written here from the recipe (URL + sorted name/value pairs, HMAC-SHA1,
/// base64), not with the service's code.
fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TWILIO_AUTH.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn story(backend: Backend) -> bool {
    let Some(app) = spawn_app_with(backend, &extra()).await else { return false };
    let mobile = GRID.1.trim_start_matches("+86");

    // Aliyun: without the token, refused and nothing answered.
    let (alert_a, code_a) = grid_code(&app, "ali-1").await;
    let push = json!([{"phone_number": mobile, "send_time": "2026-07-01 08:01:00", "content": code_a,
        "sign_name": "观音桥街道", "dest_code": "", "sequence_id": 1234567}])
    .to_string();
    let (status, _) = post(&app, "/hooks/sms/ali", "application/json", push.clone(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&app, "/hooks/sms/ali?token=wrong", "application/json", push.clone(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call_of(alert_a, GRID.0).await["state"], "sent");
    let (status, ack) =
        post(&app, &format!("/hooks/sms/ali?token={ALI_TOKEN}"), "application/json", push.clone(), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&ack).unwrap(), json!({"code": 0, "msg": "接收成功"}));
    let call = app.call_reaches(alert_a, GRID.0, "answered").await;
    assert_eq!(call["answered_via"], "sms");
    // Aliyun retries a push it thinks failed: the same sequence_id is taken once.
    let (status, _) = post(&app, &format!("/hooks/sms/ali?token={ALI_TOKEN}"), "application/json", push, &[]).await;
    assert_eq!(status, StatusCode::OK);

    // Tencent reply callback.
    let (alert_t, code_t) = grid_code(&app, "tc-1").await;
    let reply = json!({"extend": "", "mobile": mobile, "nationcode": "86", "sign": "观音桥街道", "text": code_t,
        "time": 1782864100})
    .to_string();
    let (status, _) = post(&app, "/hooks/sms/tc?token=nope", "application/json", reply.clone(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ack) = post(&app, &format!("/hooks/sms/tc?token={TC_TOKEN}"), "application/json", reply, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&ack).unwrap(), json!({"result": 0, "errmsg": "OK"}));
    app.call_reaches(alert_t, GRID.0, "answered").await;

    // Twilio inbound SMS, signed over the public URL the service was configured with.
    let (alert_w, code_w) = grid_code(&app, "tw-1").await;
    let params = [("From", GRID.1), ("To", "+15005550006"), ("Body", code_w.as_str()), ("MessageSid", "SM123")];
    let form: String =
        params.iter().map(|(k, v)| format!("{k}={}", urlencoding::encode(v))).collect::<Vec<_>>().join("&");
    let forged = twilio_signature("http://elsewhere.test/hooks/sms/tw", &params);
    let (status, _) = post(
        &app,
        "/hooks/sms/tw",
        "application/x-www-form-urlencoded",
        form.clone(),
        &[("x-twilio-signature", forged)],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a signature over another URL is refused");
    assert_eq!(app.call_of(alert_w, GRID.0).await["state"], "sent");
    let good = twilio_signature("http://jiaoying.test/hooks/sms/tw", &params);
    let (status, ack) =
        post(&app, "/hooks/sms/tw", "application/x-www-form-urlencoded", form, &[("x-twilio-signature", good)]).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert!(ack.contains("<Response"), "TwiML ack: {ack}");
    app.call_reaches(alert_w, GRID.0, "answered").await;

    // A channel name nobody configured looks like a bad credential.
    let (status, _) = post(&app, "/hooks/sms/nope", "application/json", "{}".into(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.finish().await;
    true
}

mod provider_callbacks_answer_calls {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        assert!(super::story(jiaoying_tests::Backend::Sqlite).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        if super::story(jiaoying_tests::Backend::Postgres).await {
            jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
        } else {
            eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
        }
    }
}
