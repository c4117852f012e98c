//! Answers by key press on a voice call, black-box on both backends: the generic voice webhook
//! places the call (a real loopback gateway checks its signature), the gateway reports how the
//! call went and which key was pressed, and the call is answered only by a key, never by a
//! missed call or voicemail.

use jiaoying_tests::app::{GRID, SMS_SECRET};
use jiaoying_tests::gateway::Gateway;
use jiaoying_tests::{red_alert, spawn_app_with, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const VOICE_SECRET: &str = "voice-shared-secret-for-tests";

async fn post_voice(app: &TestApp, path: &str, body: &Value, secret: &str) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let sig = jiaoying_dispatch::sms_webhook::sign(secret.as_bytes(), &bytes);
    let r = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .header("x-jiaoying-signature", sig)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn story(backend: Backend) -> bool {
    let voice = Gateway::start(VOICE_SECRET).await;
    let extra = format!(
        r#"
[channels.voice]
kind = "voice-webhook"
url = "{}"
secret = "{VOICE_SECRET}"
[policy.blue]
roles = ["grid"]
channels = ["voice"]
answer_within = "5m"
repeats = 0
escalate = false
"#,
        voice.url()
    );
    let Some(app) = spawn_app_with(backend, &extra).await else { return false };
    let mut alert = red_alert("voice-1");
    alert["tier"] = json!("blue");
    let (status, body) = app.post_alert(&alert).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alert_id = body["id"].as_i64().unwrap();

    let calls = voice.wait_for(1).await;
    let placed = &calls[0];
    assert!(placed.signature_ok);
    assert_eq!(placed.to(), GRID.1);
    assert_eq!(placed.body["callback"], json!("http://jiaoying.test/hooks/voice/voice"));
    let message_id = placed.id().to_string();
    app.call_reaches(alert_id, GRID.0, "sent").await;

    // Nobody picked up: recorded, not an answer.
    let (status, body) = post_voice(
        &app,
        "/hooks/voice/voice/status",
        &json!({"call_id": message_id, "status": "no-answer"}),
        VOICE_SECRET,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "recorded");
    assert_eq!(app.call_of(alert_id, GRID.0).await["state"], "sent");

    // A forged key press (the SMS channel's secret is not the voice channel's) changes nothing.
    let (status, _) =
        post_voice(&app, "/hooks/voice/voice", &json!({"call_id": message_id, "digits": "1"}), SMS_SECRET).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A key press for a message that is not this channel's answers nothing.
    let (status, body) =
        post_voice(&app, "/hooks/voice/voice", &json!({"call_id": "999999", "digits": "1"}), VOICE_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "unknown_message");
    // A key that means nothing.
    let (_, body) =
        post_voice(&app, "/hooks/voice/voice", &json!({"call_id": message_id, "digits": "9"}), VOICE_SECRET).await;
    assert_eq!(body["result"], "not_understood");
    assert_eq!(app.call_of(alert_id, GRID.0).await["state"], "sent");

    // Key 1 answers, by voice.
    let (status, body) =
        post_voice(&app, "/hooks/voice/voice", &json!({"call_id": message_id, "digits": "1"}), VOICE_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "answered", "{body}");
    let call = app.call_reaches(alert_id, GRID.0, "answered").await;
    assert_eq!(call["answered_via"], "voice", "{call}");
    // Pressed again: already answered, nothing changes.
    let (_, body) =
        post_voice(&app, "/hooks/voice/voice", &json!({"call_id": message_id, "digits": "1"}), VOICE_SECRET).await;
    assert_eq!(body["result"], "already_answered");
    app.finish().await;
    true
}

mod a_key_press_answers_and_a_missed_call_does_not {
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
