//! Duty officers on both backends: answering on a person's behalf (note required, the record shows
//! who), escalating now, viewers refused, and the live event stream.

use std::time::Duration;

use jiaoying_tests::app::{API_TOKEN, GRID, HEAD, LEADER};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

const VIEWER_TOKEN: &str = "jy_viewer_token_for_tests";

async fn act(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app.client.post(format!("{}{path}", app.address)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn an_officer_answers_on_behalf_and_escalates_now(app: &mut TestApp) {
    let hash = hex::encode(sha2::Sha256::digest(VIEWER_TOKEN.as_bytes()));
    app.handle.store.put_api_token("viewer", "viewer", &hash, 0).await.unwrap();
    let (_, body) = app.post_alert(&red_alert("cq-officer")).await;
    let alert_id = body["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;
    let grid = app.call_of(alert_id, GRID.0).await;
    let path = format!("/api/v1/calls/{}/answer", grid["id"]);

    let (status, _) = act(app, VIEWER_TOKEN, &path, json!({"note": "电话联系"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers only look");
    let r = app.client.post(format!("{}{path}", app.address)).json(&json!({"note": "x"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = act(app, API_TOKEN, &path, json!({"note": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a note is required: {body}");
    assert_ne!(app.call_of(alert_id, GRID.0).await["state"], "answered");

    let (status, body) = act(app, API_TOKEN, &path, json!({"note": "电话联系本人，已确认收到"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "answered");
    let grid = app.call_of(alert_id, GRID.0).await;
    assert_eq!(grid["state"], "answered");
    assert_eq!(grid["answered_via"], "officer");
    assert_eq!(grid["answered_by"], "officer:tests", "the record shows who answered");
    let events = app.handle.store.events_of_alert(alert_id).await.unwrap();
    assert!(events.iter().any(|e| e.actor == "officer:tests" && e.note.as_deref() == Some("电话联系本人，已确认收到")));
    let (_, again) = act(app, API_TOKEN, &path, json!({"note": "again"})).await;
    assert_eq!(again["result"], "already_answered");

    // Escalate the head's call now: the leader is called without waiting for the deadline.
    let head = app.call_of(alert_id, HEAD.0).await;
    let (status, body) = act(app, API_TOKEN, &format!("/api/v1/calls/{}/escalate", head["id"]), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "escalating");
    // The running timer loop was woken by the action and escalates it.
    app.call_reaches(alert_id, HEAD.0, "escalated").await;
    assert_eq!(app.call_of(alert_id, LEADER.0).await["role"], "superior");
    let (_, body) = act(app, API_TOKEN, &format!("/api/v1/calls/{}/escalate", grid["id"]), json!({})).await;
    assert_eq!(body["result"], "not_waiting", "an answered call is not escalated");
}
app_story!(an_officer_answers_on_behalf_and_escalates_now);

/// The SSE stream sends each call state change as `event: call`; a client resuming with
/// Last-Event-ID gets what it missed.
async fn the_event_stream_shows_state_changes(app: &mut TestApp) {
    let mut stream =
        app.client.get(format!("{}/api/v1/events", app.address)).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let (_, body) = app.post_alert(&red_alert("cq-sse")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while text.matches("event: call").count() < 4 {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("events arrive").unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first = text.split("\n\n").find(|e| e.contains("event: call")).unwrap();
    let data: Value = serde_json::from_str(first.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(data["alert_id"], alert_id);
    assert_eq!(data["state"], "pending");
    assert!(data["person_id"].as_str().is_some() && data["at"].as_str().is_some());
    let first_id: i64 = first.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().parse().unwrap();
    drop(stream);

    // Resume after the first event: the next ones come again, the first does not.
    let mut resumed = app
        .client
        .get(format!("{}/api/v1/events", app.address))
        .bearer_auth(API_TOKEN)
        .header("last-event-id", first_id.to_string())
        .send()
        .await
        .unwrap();
    let chunk = tokio::time::timeout_at(deadline, resumed.chunk()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&chunk);
    let ids: Vec<i64> = text.lines().filter_map(|l| l.strip_prefix("id: ")).map(|v| v.parse().unwrap()).collect();
    assert!(!ids.is_empty() && ids.iter().all(|&i| i > first_id), "{text}");

    let r = app.client.get(format!("{}/api/v1/events", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
app_story!(the_event_stream_shows_state_changes);

/// An answer after escalation still counts (late), and by default closes the call its escalation
/// opened, telling that person they need not chase any more.
async fn a_late_answer_closes_the_escalation_it_caused(app: &mut TestApp) {
    let mut alert = red_alert("cq-late");
    alert["tier"] = Value::from("orange"); // no repeats: straight to the superior
    let (_, body) = app.post_alert(&alert).await;
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    app.advance(jiaoying_core::Span::from_mins(5));
    app.gateway.wait_for(5).await;
    // Both the head and the regulator answer to the leader; whichever escalated first opened the
    // leader's call. That person now answers late.
    let leader = app.call_of(alert_id, LEADER.0).await;
    let opener = app.calls(alert_id).await.into_iter().find(|c| c["id"] == leader["escalated_from"]).unwrap();
    let mobile = if opener["person_id"] == HEAD.0 { HEAD.1 } else { jiaoying_tests::app::REG.1 };
    let code = sms.iter().find(|m| m.to() == mobile).unwrap().code().unwrap().to_string();
    let (_, reply) = app.sms_reply(mobile, &code).await;
    assert_eq!(reply["result"], "answered");
    assert_eq!(reply["late"], true);
    let leader = app.call_of(alert_id, LEADER.0).await;
    assert_eq!(leader["state"], "cancelled", "{leader}");
    let got = app.gateway.wait_for(7).await;
    assert!(
        got.iter().any(|m| m.to() == LEADER.1 && m.text().contains("已应答，无需督促")),
        "the leader is told: {:?}",
        got.iter().map(|m| m.text()).collect::<Vec<_>>()
    );
}
app_story!(a_late_answer_closes_the_escalation_it_caused);

/// Useless replies get a polite help text, but at most five an hour per number.
async fn useless_replies_are_answered_at_most_five_times_an_hour(app: &mut TestApp) {
    app.post_alert(&red_alert("cq-spam")).await;
    app.gateway.wait_for(4).await;
    for _ in 0..8 {
        let (_, r) = app.sms_reply(GRID.1, "自动回复：我正在开会").await;
        assert_eq!(r["result"], "not_understood");
    }
    app.gateway.wait_for(4 + 5).await;
    // Every reply was handled synchronously and its help text queued; drain what is queued.
    app.handle.outbox.step(jiaoying_core::Clock::now(&app.clock)).await.unwrap();
    let help: Vec<_> = app.gateway.received().into_iter().filter(|m| m.text().contains("未能识别")).collect();
    assert_eq!(help.len(), 5, "{help:?}");
    // An hour later the number is answered again.
    app.advance(jiaoying_core::Span::from_mins(61));
    app.sms_reply(GRID.1, "？").await;
    // The deadline passed too, so repeats arrive as well: wait for the sixth help text.
    let mut seen = app.gateway.received().len();
    while app.gateway.received().iter().filter(|m| m.text().contains("未能识别")).count() < 6 {
        seen = app.gateway.wait_for(seen + 1).await.len();
    }
}
app_story!(useless_replies_are_answered_at_most_five_times_an_hour);
