//! The duty officers' board through `/api/v1`, on both backends: the view models of a real alert
//! (answered, open, overdue; the curve, the map), the officers' actions and their refusals (bad
//! input changes nothing), the exports parsed back, the audit log's filters, and the OpenAPI
//! document.

use std::io::Cursor;

use jiaoying_core::Span;
use jiaoying_tests::app::{API_TOKEN, GRID, HEAD, START, UNIT};
use jiaoying_tests::{app_story_with, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

const VIEWER_TOKEN: &str = "jy_board_viewer_token";

/// The timer loop looks only when woken or when its earliest deadline comes in real time, never
/// on a short backstop: a test that moves the clock past a deadline without waking it sees the
/// calls overdue, as a duty officer would in the seconds before the timer acts.
const SLOW_TIMERS: &str = "[tracker]\npoll_backstop = \"1h\"\n";

async fn add_viewer(app: &TestApp) {
    let hash = hex::encode(sha2::Sha256::digest(VIEWER_TOKEN.as_bytes()));
    app.handle.store.put_api_token("board-viewer", "viewer", &hash, 0).await.unwrap();
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    app.get_api(path).await
}

async fn get_raw(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(format!("{}{path}", app.address)).bearer_auth(API_TOKEN).send().await.unwrap()
}

async fn post(app: &TestApp, token: Option<&str>, path: &str, body: &str) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Posts the red alert, waits for its four SMS, and returns its id and the SMS.
async fn alert_with_sms(app: &TestApp, identifier: &str) -> (i64, Vec<jiaoying_tests::gateway::GatewaySms>) {
    let (status, body) = app.post_alert(&red_alert(identifier)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(body["calls"], 4, "{body}");
    (id, app.gateway.wait_for(4).await)
}

fn code_for(sms: &[jiaoying_tests::gateway::GatewaySms], mobile: &str) -> String {
    sms.iter().find(|m| m.to() == mobile).and_then(|m| m.code()).unwrap().to_string()
}

/// Every call of an alert view, in matrix order.
fn calls_of(view: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for area in view["groups"].as_array().unwrap() {
        for unit in area["units"].as_array().unwrap() {
            for role in unit["roles"].as_array().unwrap() {
                out.extend(role["calls"].as_array().unwrap().iter().cloned());
            }
        }
    }
    out
}

fn call_of_person(view: &Value, person: &str) -> Value {
    calls_of(view).into_iter().find(|c| c["person"]["id"] == person).unwrap_or_else(|| panic!("no {person}: {view}"))
}

async fn the_board_shows_answers_open_calls_and_overdue(app: &mut TestApp) {
    let r = app.client.get(format!("{}/api/v1/board/now", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the board needs a session or token");
    let (id, sms) = alert_with_sms(app, "cq-board").await;
    let (_, reply) = app.sms_reply(GRID.1, &code_for(&sms, GRID.1)).await;
    assert_eq!(reply["result"], "answered");

    let (status, now) = get(app, "/api/v1/board/now").await;
    assert_eq!(status, StatusCode::OK, "{now}");
    let summary = now["alerts"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(summary["tier"], "red");
    assert_eq!(summary["tier_zh"], "红色");
    assert_eq!((summary["answered"].as_i64(), summary["total"].as_i64()), (Some(1), Some(4)), "{summary}");
    assert_eq!(summary["overdue"], 0);
    assert_eq!(summary["counts"]["answered"], 1);
    assert_eq!(summary["areas"][0]["code"], "500105002001");
    assert_eq!(summary["areas"][0]["name"], "建新社区");
    let bar = summary["bar"].as_array().unwrap();
    assert_eq!(bar[0]["state"], "answered", "the bar starts with the answered: {bar:?}");
    assert_eq!(bar.iter().map(|s| s["n"].as_i64().unwrap()).sum::<i64>(), 4);
    assert!(now["backlogs"].as_array().unwrap().iter().any(|b| b["channel"] == "sms"), "{now}");

    let (status, view) = get(app, &format!("/api/v1/alerts/{id}/board")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["alert"]["headline"], "江北区气象台发布暴雨红色预警");
    assert_eq!(view["alert"]["description"], "预计未来3小时降雨量将达100毫米以上");
    assert_eq!(
        (view["answered"].as_i64(), view["total"].as_i64(), view["shown"].as_i64()),
        (Some(1), Some(4), Some(4))
    );
    let grid = call_of_person(&view, GRID.0);
    assert_eq!(grid["state"], "answered");
    assert_eq!(grid["answered_via"], "sms");
    assert_eq!(grid["answered_by"], "person:p-grid");
    assert_eq!(grid["person"]["name"], "网格员");
    assert_eq!(grid["person"]["mobile_masked"], "+86139****0004", "the middle digits are hidden");
    assert!(grid["next_step"].is_null() && !grid["can_recall"].as_bool().unwrap());
    for person in [HEAD.0, UNIT.0, "p-reg"] {
        let c = call_of_person(&view, person);
        assert!(["pending", "sent", "delivered"].contains(&c["state"].as_str().unwrap()), "{c}");
        assert_eq!(c["overdue"], false);
        // Red repeats once before it escalates: the next step is the same person again.
        assert_eq!(c["next_step"]["action"], "repeat", "{c}");
        assert_eq!(c["next_step"]["attempt"], 2);
        assert_eq!(c["next_step"]["at"]["ms"], START.millis() + 5 * 60_000);
        assert!(c["can_recall"].as_bool().unwrap());
    }
    let timeline = view["timeline"].as_array().unwrap();
    assert!(timeline.iter().any(|e| e["kind"] == "message" && e["what"] == "Alert"), "{timeline:?}");
    assert!(timeline.iter().any(|e| e["kind"] == "call" && e["what"] == "answered" && e["person"] == "网格员"));
    assert_eq!(view["alert"]["answer_within"]["ms"], 300_000);

    // Filters and search.
    let shown =
        |v: &Value| calls_of(v).iter().map(|c| c["person"]["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (_, v) = get(app, &format!("/api/v1/alerts/{id}/board?state=answered")).await;
    assert_eq!(shown(&v), vec![GRID.0]);
    assert_eq!(v["total"], 4, "counts stay over all calls");
    let (_, v) = get(app, &format!("/api/v1/alerts/{id}/board?state=open")).await;
    assert_eq!(v["shown"], 3);
    let (_, v) = get(app, &format!("/api/v1/alerts/{id}/board?q={}", urlencoding::encode("网格"))).await;
    assert_eq!(shown(&v), vec![GRID.0]);
    let (_, v) = get(app, &format!("/api/v1/alerts/{id}/board?q=0005")).await;
    assert_eq!(shown(&v), vec![UNIT.0], "search by number");
    let (_, v) = get(app, &format!("/api/v1/alerts/{id}/board?role=regulatory")).await;
    assert_eq!(shown(&v), vec!["p-reg"]);
    let (_, v) = get(app, &format!("/api/v1/alerts/{id}/board?state=&role=&q=")).await;
    assert_eq!(v["shown"], 4, "empty filters filter nothing");
    for bad in ["state=sleeping", "area=abc", "unit_kind=castle", "colour=red"] {
        let (status, body) = get(app, &format!("/api/v1/alerts/{id}/board?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(get(app, "/api/v1/alerts/999999/board").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(app, "/api/v1/alerts/abc/board").await.0, StatusCode::NOT_FOUND);

    // Past the deadline, before the timer acts: three calls overdue, by one minute.
    app.clock.advance(Span::from_mins(6));
    let (_, view) = get(app, &format!("/api/v1/alerts/{id}/board")).await;
    assert_eq!(view["overdue"], 3, "{view}");
    let head = call_of_person(&view, HEAD.0);
    assert_eq!(head["overdue"], true);
    assert_eq!(head["overdue_for"]["ms"], 60_000);
    assert_eq!(head["overdue_for"]["zh"], "1分钟");
    assert_eq!(call_of_person(&view, GRID.0)["overdue"], false, "an answered call is never overdue");
    let (_, v) = get(app, &format!("/api/v1/alerts/{id}/board?state=overdue")).await;
    assert_eq!(v["shown"], 3);
    let (_, now) = get(app, "/api/v1/board/now").await;
    assert_eq!(now["alerts"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap()["overdue"], 3);

    // The answer curve: from (0, 0) to a quarter answered, with the red target of 5 minutes.
    let (status, curve) = get(app, &format!("/api/v1/alerts/{id}/curve")).await;
    assert_eq!(status, StatusCode::OK, "{curve}");
    assert_eq!((curve["total"].as_i64(), curve["answered"].as_i64()), (Some(4), Some(1)));
    let points = curve["points"].as_array().unwrap();
    assert_eq!(points[0]["share"], 0.0);
    assert_eq!(points[1]["share"], 0.25);
    assert_eq!(points.last().unwrap()["t_ms"], 6 * 60_000, "the curve runs to now while active");
    assert_eq!(curve["target"]["within"]["ms"], 300_000);
    assert_eq!(curve["target"]["share"], 1.0);
    assert_eq!(get(app, "/api/v1/alerts/999999/curve").await.0, StatusCode::NOT_FOUND);

    // The map: the test registry has no polygons, so no area is drawn; the school is a dot.
    let (status, map) = get(app, &format!("/api/v1/map?alert={id}")).await;
    assert_eq!(status, StatusCode::OK, "{map}");
    assert_eq!(map["areas"].as_array().unwrap().len(), 0);
    assert_eq!(map["areas_without_polygon"].as_array().unwrap().len(), 3);
    let school = &map["units"][0];
    assert_eq!(school["id"], "u-school");
    assert_eq!(school["location"], json!([106.54, 29.58]));
    assert_eq!(school["status"], "overdue", "{school}");
    assert!(school["calls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["state"] == "sent" || c["state"] == "delivered" || c["state"] == "pending"));
    let (_, plain) = get(app, "/api/v1/map").await;
    assert_eq!(plain["units"][0]["status"], "none");
    assert_eq!(get(app, "/api/v1/map?alert=999999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(app, "/api/v1/map?alert=x").await.0, StatusCode::BAD_REQUEST);

    // Once woken the timer repeats them, each with a fresh deadline: still overdue, since overdue
    // counts from the person's first call, not from the current deadline.
    app.advance(Span::ZERO);
    app.gateway.wait_for(4 + 1 + 3).await;
    let view = board_when(app, id, |v| calls_of(v).iter().filter(|c| c["attempts"] == 2).count() == 3).await;
    assert_eq!(view["overdue"], 3, "{view}");
    let head = call_of_person(&view, HEAD.0);
    assert_eq!((head["overdue"].as_bool(), head["overdue_for"]["ms"].as_i64()), (Some(true), Some(60_000)), "{head}");
    assert_eq!(head["deadline"]["ms"], START.millis() + 11 * 60_000, "the repeat's deadline is ahead");

    // Past the repeat's deadline the timer escalates them: shown escalated, and still overdue;
    // the persons they went up to were called just now, and are not.
    app.advance(Span::from_mins(5));
    let view = board_when(app, id, |v| call_of_person(v, HEAD.0)["state"] == "escalated").await;
    let head = call_of_person(&view, HEAD.0);
    assert_eq!(head["overdue"], true, "{head}");
    assert_eq!(head["overdue_for"]["ms"], 6 * 60_000);
    let up: Vec<Value> = calls_of(&view).into_iter().filter(|c| c["level"].as_i64() > Some(0)).collect();
    assert!(!up.is_empty(), "{view}");
    assert!(up.iter().all(|c| c["overdue"] == false), "{up:?}");
    let escalated = calls_of(&view).iter().filter(|c| c["state"] == "escalated").count() as i64;
    assert_eq!(view["overdue"].as_i64(), Some(escalated), "the escalated, overdue: {view}");
    let (_, v) = get(app, &format!("/api/v1/alerts/{id}/board?state=overdue")).await;
    assert!(calls_of(&v).iter().any(|c| c["person"]["id"] == HEAD.0), "the filter keeps them");
    let (_, now) = get(app, "/api/v1/board/now").await;
    let summary = now["alerts"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(summary["overdue"], view["overdue"], "Now counts the same: {summary}");
}

/// The alert's board once `ready` holds (the timer loop works on its own time).
async fn board_when(app: &TestApp, id: i64, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, view) = get(app, &format!("/api/v1/alerts/{id}/board")).await;
        if ready(&view) {
            return view;
        }
        assert!(tokio::time::Instant::now() < deadline, "the timer never got there: {view}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
app_story_with!(SLOW_TIMERS, the_board_shows_answers_open_calls_and_overdue);

async fn re_call_now_sends_again_and_refuses_answered_calls(app: &mut TestApp) {
    add_viewer(app).await;
    let (id, sms) = alert_with_sms(app, "cq-recall").await;
    let head = app.call_of(id, HEAD.0).await;
    let path = format!("/api/v1/calls/{}/recall", head["id"]);
    assert_eq!(post(app, None, &path, "").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(app, Some(VIEWER_TOKEN), &path, "").await.0, StatusCode::FORBIDDEN, "viewers only look");
    assert_eq!(post(app, Some(API_TOKEN), &path, "{").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post(app, Some(API_TOKEN), &path, r#"{"x":1}"#).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.call_of(id, HEAD.0).await["attempts"], 1, "refused requests changed nothing");

    let (status, body) = post(app, Some(API_TOKEN), &path, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "recalled");
    assert_eq!(body["attempt"], 2);
    assert_eq!(body["deadline"], START.millis() + 5 * 60_000, "a fresh deadline from now");
    let got = app.gateway.wait_for(5).await;
    let again: Vec<_> = got.iter().filter(|m| m.to() == HEAD.1).collect();
    assert_eq!(again.len(), 2, "the head got the message again at once");
    assert_eq!(again[1].code(), Some(code_for(&sms, HEAD.1).as_str()), "with the same reply code");
    assert_eq!(app.call_of(id, HEAD.0).await["attempts"], 2);
    let events = app.handle.store.events_of_alert(id).await.unwrap();
    assert!(
        events.iter().any(|e| e.call_id == head["id"].as_i64().unwrap()
            && e.actor == "officer:tests"
            && e.via.as_deref() == Some("recall")),
        "the log shows who re-called"
    );

    // An answered call is not re-called.
    app.sms_reply(GRID.1, &code_for(&sms, GRID.1)).await;
    let grid = app.call_of(id, GRID.0).await;
    let sent_before = app.gateway.wait_for(6).await.len();
    let (status, body) = post(app, Some(API_TOKEN), &format!("/api/v1/calls/{}/recall", grid["id"]), "{}").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["result"], "refused");
    assert_eq!(body["state"], "answered");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(app.call_of(id, GRID.0).await["attempts"], 1);
    app.handle.outbox.step(jiaoying_core::Clock::now(&app.clock)).await.unwrap();
    assert_eq!(app.gateway.received().len(), sent_before, "nothing was sent");
    assert_eq!(post(app, Some(API_TOKEN), "/api/v1/calls/999999/recall", "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(post(app, Some(API_TOKEN), "/api/v1/calls/abc/recall", "").await.0, StatusCode::NOT_FOUND);
}
app_story_with!(SLOW_TIMERS, re_call_now_sends_again_and_refuses_answered_calls);

async fn cancelling_ends_open_calls_and_tells_those_called(app: &mut TestApp) {
    add_viewer(app).await;
    let (id, sms) = alert_with_sms(app, "cq-cancel").await;
    app.sms_reply(GRID.1, &code_for(&sms, GRID.1)).await;
    let answered_reply = app.gateway.wait_for(5).await.len();
    let path = format!("/api/v1/alerts/{id}/cancel");
    for (token, body, want) in [
        (Some(API_TOKEN), "", StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), r#"{"reason": "   "}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), r#"{"reason": 5}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), r#"{"reason": "#, StatusCode::BAD_REQUEST),
        (Some(VIEWER_TOKEN), r#"{"reason": "误报"}"#, StatusCode::FORBIDDEN),
        (None, r#"{"reason": "误报"}"#, StatusCode::UNAUTHORIZED),
    ] {
        let (status, b) = post(app, token, &path, body).await;
        assert_eq!(status, want, "{body}: {b}");
    }
    let (_, alert) = get(app, &format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["status"], "active", "refused requests changed nothing");

    let (status, body) = post(app, Some(API_TOKEN), &path, r#"{"reason": "气象台电话告知：误发，预警解除"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "cancelled");
    assert_eq!(body["calls_ended"], 3);
    let (_, alert) = get(app, &format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["status"], "cancelled");
    for c in app.calls(id).await {
        let want = if c["person_id"] == GRID.0 { "answered" } else { "cancelled" };
        assert_eq!(c["state"], want, "{c}");
    }
    // Everyone already called hears it is lifted (解除), the answered grid worker too.
    let got = app.gateway.wait_for(answered_reply + 4).await;
    let lifted: Vec<_> = got[answered_reply..].iter().filter(|m| m.text().contains("解除")).collect();
    assert_eq!(lifted.len(), 4, "{:?}", got.iter().map(|m| m.text()).collect::<Vec<_>>());

    let (_, view) = get(app, &format!("/api/v1/alerts/{id}/board")).await;
    assert_eq!(view["alert"]["cancel_reason"], "气象台电话告知：误发，预警解除");
    assert_eq!(view["alert"]["cancelled_by"], "officer:tests");
    assert!(view["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "action" && e["what"] == "cancel"));
    let (_, audit) = get(app, &format!("/api/v1/audit?alert={id}&kind=cancel")).await;
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["entries"][0]["actor"], "officer:tests");
    assert_eq!(audit["entries"][0]["note"], "气象台电话告知：误发，预警解除");
    let (_, now) = get(app, "/api/v1/board/now").await;
    assert!(now["alerts"].as_array().unwrap().iter().all(|a| a["id"] != id), "no longer on the Now page");
    // Each call it ended names the officer and carries the reason, not an anonymous `system`.
    let ended: Vec<_> =
        app.handle.store.events_of_alert(id).await.unwrap().into_iter().filter(|e| e.to_state == "cancelled").collect();
    assert_eq!(ended.len(), 3, "{ended:?}");
    for e in &ended {
        assert_eq!(e.actor, "officer:tests", "{e:?}");
        assert_eq!(e.via.as_deref(), Some("cancel"), "{e:?}");
        assert!(e.note.as_deref().unwrap_or("").contains("气象台电话告知：误发，预警解除"), "{e:?}");
    }
    let (_, audit) = get(app, &format!("/api/v1/audit?alert={id}&kind=cancelled")).await;
    assert_eq!(audit["total"], 3, "{audit}");
    assert!(audit["entries"].as_array().unwrap().iter().all(|e| e["actor"] == "officer:tests"), "{audit}");

    let (status, body) = post(app, Some(API_TOKEN), &path, r#"{"reason": "again"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["result"], "not_active");
    assert_eq!(
        post(app, Some(API_TOKEN), "/api/v1/alerts/999999/cancel", r#"{"reason": "x"}"#).await.0,
        StatusCode::NOT_FOUND
    );
}
app_story_with!(SLOW_TIMERS, cancelling_ends_open_calls_and_tells_those_called);

async fn a_manual_warning_becomes_an_alert_from_the_duty_officer(app: &mut TestApp) {
    add_viewer(app).await;
    let good =
        json!({"event": "暴雨", "tier": "orange", "areas": ["500105002001"], "text": "区气象台电话通知：暴雨橙色预警"});
    let with = |key: &str, v: Value| {
        let mut b = good.clone();
        b[key] = v;
        b.to_string()
    };
    for (token, body, want) in [
        (Some(API_TOKEN), with("tier", json!("purple")), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), with("areas", json!(["500105009"])), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), with("areas", json!(["500105002001", "abc"])), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), with("areas", json!([])), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), with("text", json!(" ")), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), with("event", json!("")), StatusCode::UNPROCESSABLE_ENTITY),
        (Some(API_TOKEN), with("sender", json!("x")), StatusCode::UNPROCESSABLE_ENTITY),
        (
            Some(API_TOKEN),
            r#"{"event": "暴雨", "tier": "red", "areas": ["500105002001"]}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (Some(API_TOKEN), "{".into(), StatusCode::BAD_REQUEST),
        (Some(API_TOKEN), "".into(), StatusCode::BAD_REQUEST),
        (Some(VIEWER_TOKEN), good.to_string(), StatusCode::FORBIDDEN),
        (None, good.to_string(), StatusCode::UNAUTHORIZED),
    ] {
        let (status, b) = post(app, token, "/api/v1/alerts/manual", &body).await;
        assert_eq!(status, want, "{body}: {b}");
    }
    assert_eq!(app.alerts_total().await, 0, "nothing was created");

    let (status, body) = post(app, Some(API_TOKEN), "/api/v1/alerts/manual", &good.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["tier"], "orange");
    assert_eq!(body["calls"], 4);
    let id = body["id"].as_i64().unwrap();
    let (_, alert) = get(app, &format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["source"], "duty_officer");
    assert_eq!(alert["event"], "暴雨");
    assert_eq!(alert["description"], "区气象台电话通知：暴雨橙色预警");
    assert_eq!(alert["headline"], "暴雨橙色预警（值班员录入）");
    let got = app.gateway.wait_for(4).await;
    assert!(got.iter().any(|m| m.to() == GRID.1), "it calls like any other alert");
    let (_, audit) = get(app, "/api/v1/audit?kind=manual").await;
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["entries"][0]["alert_id"], id);
    assert_eq!(audit["entries"][0]["actor"], "officer:tests");
    // A second one of the same minute is a new alert, not a repeat.
    let (status, second) = post(app, Some(API_TOKEN), "/api/v1/alerts/manual", &good.to_string()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(second["id"], id);
    // The Now page: most severe first, newest first within a tier.
    app.advance(Span::from_secs(1));
    let (status, blue) = post(app, Some(API_TOKEN), "/api/v1/alerts/manual", &with("tier", json!("blue"))).await;
    assert_eq!(status, StatusCode::CREATED, "{blue}");
    let (_, now) = get(app, "/api/v1/board/now").await;
    let order: Vec<&Value> = now["alerts"].as_array().unwrap().iter().map(|a| &a["id"]).collect();
    assert_eq!(order, vec![&second["id"], &json!(id), &blue["id"]], "{now}");
}
app_story_with!(SLOW_TIMERS, a_manual_warning_becomes_an_alert_from_the_duty_officer);

/// Cells of a CSV body (BOM stripped; RFC 4180 quoting).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').expect("a UTF-8 BOM for spreadsheet programs");
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows
}

async fn exports_download_and_parse_back(app: &mut TestApp) {
    let (id, _) = alert_with_sms(app, "cq-export").await;
    let grid = app.call_of(id, GRID.0).await;
    let note = "=HYPERLINK(\"http://evil\",\"x\"), 电话确认";
    let (status, body) =
        post(app, Some(API_TOKEN), &format!("/api/v1/calls/{}/answer", grid["id"]), &json!({"note": note}).to_string())
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let r = get_raw(app, &format!("/api/v1/alerts/{id}/calls.csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["content-disposition"], format!("attachment; filename=\"alert-{id}-calls.csv\""));
    let rows = parse_csv(&r.text().await.unwrap());
    assert_eq!(rows[0][..8], ["区域代码", "区域", "单位", "单位类型", "角色", "责任人", "手机号", "状态"]);
    assert_eq!(rows.len(), 5, "a header and four calls: {rows:?}");
    assert!(rows.iter().all(|r| r.len() == rows[0].len()));
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let grid_row = rows.iter().find(|r| r[col("责任人")] == "网格员").unwrap();
    assert_eq!(grid_row[col("状态")], "已应答");
    assert_eq!(grid_row[col("应答方式")], "officer");
    assert_eq!(grid_row[col("应答人")], "officer:tests");
    assert_eq!(grid_row[col("备注")], format!("'{note}"), "a formula is defused");
    assert_eq!(grid_row[col("手机号")], "'+86139****0004");
    assert!(grid_row[col("应答时间")].starts_with("2026-07-01 08:00"), "China time: {grid_row:?}");
    let r = get_raw(app, &format!("/api/v1/alerts/{id}/calls.csv?lang=en")).await;
    assert_eq!(parse_csv(&r.text().await.unwrap())[0][0], "area code");

    let r = get_raw(app, &format!("/api/v1/alerts/{id}/calls.xlsx")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert_eq!(r.headers()["content-disposition"], format!("attachment; filename=\"alert-{id}-calls.xlsx\""));
    let bytes = r.bytes().await.unwrap();
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("a real XLSX");
    assert_eq!(book.sheet_names(), vec!["叫应记录".to_string()]);
    let range = book.worksheet_range("叫应记录").unwrap();
    let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert!(rows[0][0].contains("江北区气象台发布暴雨红色预警"), "{:?}", rows[0]);
    let header = rows.iter().position(|r| r.first().map(String::as_str) == Some("区域代码")).expect("the header row");
    assert_eq!(rows.len() - header - 1, 4, "four calls: {rows:?}");
    let note_col = rows[header].iter().position(|h| h == "备注").unwrap();
    assert!(rows.iter().any(|r| r[note_col] == note), "kept as text, not a formula");
    let formulas = book.worksheet_formula("叫应记录").unwrap();
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "no cell is a formula");

    let r = get_raw(app, &format!("/api/v1/audit.csv?alert={id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"audit.csv\"");
    let rows = parse_csv(&r.text().await.unwrap());
    assert_eq!(rows[0][0], "时间");
    let actor = rows[0].iter().position(|h| h == "操作者").unwrap();
    assert!(rows.iter().any(|r| r[actor] == "officer:tests"));
    assert!(rows.len() > 5, "{rows:?}");

    assert_eq!(get_raw(app, "/api/v1/alerts/999999/calls.csv").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get_raw(app, "/api/v1/alerts/999999/calls.xlsx").await.status(), StatusCode::NOT_FOUND);
    let r = app.client.get(format!("{}/api/v1/alerts/{id}/calls.xlsx", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
app_story_with!(SLOW_TIMERS, exports_download_and_parse_back);

async fn the_audit_log_filters_and_pages(app: &mut TestApp) {
    let (first, _) = alert_with_sms(app, "cq-audit-1").await;
    // Every event of the first alert is logged at START before the clock moves on.
    for person in [HEAD.0, GRID.0, UNIT.0, "p-reg"] {
        app.call_reaches(first, person, "sent").await;
    }
    app.advance(Span::from_secs(30));
    let mut second_alert = red_alert("cq-audit-2");
    second_alert["sent"] = json!("2026-07-01T08:00:30+08:00");
    let (status, body) = app.post_alert(&second_alert).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second = body["id"].as_i64().unwrap();
    let grid = app.call_of(second, GRID.0).await;
    post(app, Some(API_TOKEN), &format!("/api/v1/calls/{}/answer", grid["id"]), r#"{"note": "电话确认"}"#).await;
    // The log is still while the test reads it.
    for person in [HEAD.0, UNIT.0, "p-reg"] {
        app.call_reaches(second, person, "sent").await;
    }

    let (status, all) = get(app, "/api/v1/audit").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let entries = all["entries"].as_array().unwrap();
    assert_eq!(all["total"].as_i64().unwrap() as usize, entries.len());
    let at: Vec<i64> = entries.iter().map(|e| e["at"]["ms"].as_i64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] >= w[1]), "newest first: {at:?}");

    let (_, one) = get(app, &format!("/api/v1/audit?alert={first}")).await;
    assert!(one["total"].as_i64().unwrap() >= 4);
    assert!(one["entries"].as_array().unwrap().iter().all(|e| e["alert_id"] == first));
    let (_, officer) = get(app, "/api/v1/audit?actor=officer:tests").await;
    assert_eq!(officer["total"], 1, "{officer}");
    assert_eq!(officer["entries"][0]["kind"], "answered");
    assert_eq!(officer["entries"][0]["name"], "网格员");
    assert_eq!(officer["entries"][0]["note"], "电话确认");
    let (_, answered) = get(app, "/api/v1/audit?kind=answered").await;
    assert_eq!(answered["total"], 1);
    // Time range: [from, to) — the first alert's events were all at START.
    let start = "2026-07-01T00:00:00Z";
    let (_, early) = get(app, &format!("/api/v1/audit?to={}", urlencoding::encode("2026-07-01T08:00:10+08:00"))).await;
    assert!(
        early["entries"].as_array().unwrap().iter().all(|e| e["alert_id"] == first && e["at"]["ms"] == START.millis()),
        "{early}"
    );
    let (_, none) = get(app, &format!("/api/v1/audit?to={start}")).await;
    assert_eq!(none["total"], 0, "to is exclusive");
    let (_, late) = get(app, &format!("/api/v1/audit?from={}", START.millis() + 1)).await;
    assert!(late["entries"].as_array().unwrap().iter().all(|e| e["alert_id"] == second));
    let (_, page) = get(app, "/api/v1/audit?limit=2&offset=1").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    assert_eq!(page["total"], all["total"]);
    assert_eq!(page["entries"][0], entries[1]);
    for bad in [
        "kind=sleeping",
        "limit=0",
        "limit=1001",
        "offset=-1",
        "from=yesterday",
        "alert=x",
        "from=2026-07-02T00:00:00Z&to=2026-07-01T00:00:00Z",
        "colour=red",
    ] {
        let (status, body) = get(app, &format!("/api/v1/audit?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let r = app.client.get(format!("{}/api/v1/audit", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
app_story_with!(SLOW_TIMERS, the_audit_log_filters_and_pages);

async fn the_openapi_document_lists_the_api(app: &mut TestApp) {
    let r = app.client.get(format!("{}/api/v1/openapi.json", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the document needs no credentials");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).expect("valid JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/alerts", "post"),
        ("/api/v1/alerts", "get"),
        ("/api/v1/alerts/{id}", "get"),
        ("/api/v1/alerts/{id}/calls", "get"),
        ("/api/v1/feeds", "get"),
        ("/api/v1/outbox", "get"),
        ("/api/v1/events", "get"),
        ("/api/v1/calls/{id}/answer", "post"),
        ("/api/v1/calls/{id}/escalate", "post"),
        ("/api/v1/calls/{id}/recall", "post"),
        ("/api/v1/alerts/{id}/cancel", "post"),
        ("/api/v1/alerts/manual", "post"),
        ("/api/v1/board/now", "get"),
        ("/api/v1/alerts/{id}/board", "get"),
        ("/api/v1/alerts/{id}/curve", "get"),
        ("/api/v1/map", "get"),
        ("/api/v1/audit", "get"),
        ("/api/v1/audit.csv", "get"),
        ("/api/v1/alerts/{id}/calls.csv", "get"),
        ("/api/v1/alerts/{id}/calls.xlsx", "get"),
        ("/api/v1/openapi.json", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing: {:?}", paths.keys());
    }
    assert!(paths.keys().all(|p| p.starts_with("/api/v1/")), "{:?}", paths.keys());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in ["NowView", "AlertView", "CallView", "CurveView", "MapView", "AuditPage", "ManualBody", "CancelBody"] {
        assert!(schemas.contains_key(s), "schema {s} missing: {:?}", schemas.keys());
    }
    // Every schema a path refers to is in the document.
    let text = doc.to_string();
    for r in text.split("\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling reference to {name}");
    }
    let params = doc["paths"]["/api/v1/alerts/{id}/board"]["get"]["parameters"].as_array().unwrap();
    let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
    for n in ["id", "state", "role", "area", "unit_kind", "q"] {
        assert!(names.contains(&n), "{names:?}");
    }
}
app_story_with!(SLOW_TIMERS, the_openapi_document_lists_the_api);

async fn an_open_event_stream_does_not_hold_up_shutdown(app: &mut TestApp) {
    // A board page's live connection, as the browser holds it open.
    let mut stream =
        app.client.get(format!("{}/api/v1/events", app.address)).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    // It is live: an event arrives on it.
    let (status, _) = app.post_alert(&red_alert("cq-sse-stop")).await;
    assert_eq!(status, StatusCode::CREATED);
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk()).await;
    let first = first.expect("an event within 10 s").unwrap().expect("a chunk");
    assert!(String::from_utf8_lossy(&first).contains("event: call"), "{first:?}");

    // Stopping the app ends the stream instead of waiting for the browser to go away.
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), app.stop()).await;
    assert!(stopped.is_ok(), "the app did not stop within 5 s while an event stream was open");
    let rest = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream was ended");
}
app_story_with!(SLOW_TIMERS, an_open_event_stream_does_not_hold_up_shutdown);
