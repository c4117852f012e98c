//! Drills (演练, issue 7) end to end on both backends: `jiaoying drill FILE` turns a real alert
//! file into an Exercise; its calls, repeats and escalations go out like a real alert's, every
//! message marked 【演练】; some persons answer by SMS, the others are escalated; the
//! after-action report counts them per area, unit and role and lists the unreached; a second drill
//! (a CAP-style `status=Exercise` post) is compared with the first.

use std::sync::Arc;

use jiaoying_core::Span;
use jiaoying_tests::app::{API_TOKEN, GRID, HEAD, LEADER, REG, UNIT};
use jiaoying_tests::gateway::GatewaySms;
use jiaoying_tests::{red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

const MARK: &str = "【演练】";

/// Waits until the gateway's messages satisfy `done`, and returns them all.
async fn sms_until(app: &TestApp, done: impl Fn(&[GatewaySms]) -> bool) -> Vec<GatewaySms> {
    let mut n = 0;
    loop {
        let got = app.gateway.wait_for(n).await;
        if done(&got) {
            return got;
        }
        n = got.len() + 1;
    }
}

/// The reply code of the newest message to `mobile` that carries one.
fn code_to(sms: &[GatewaySms], mobile: &str) -> String {
    sms.iter()
        .rev()
        .find(|m| m.to() == mobile && m.code().is_some())
        .and_then(|m| m.code())
        .expect("a code")
        .to_string()
}

fn group<'a>(report: &'a Value, table: &str, key: &str) -> &'a Value {
    report[table]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["key"] == key))
        .unwrap_or_else(|| panic!("no {key} in {table}: {report:#}"))
}

async fn report(app: &TestApp, id: i64) -> Value {
    let (status, body) = app.get_api(&format!("/api/v1/drills/{id}/report")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn a_drill_is_called_escalated_reported_and_compared(app: &mut TestApp) {
    // A real alert file (status Actual) made a drill by the command.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("real-alert.json");
    let mut real = red_alert("cq-real-1");
    real["status"] = Value::from("Actual");
    std::fs::write(&file, real.to_string()).unwrap();
    let (_, accepted) =
        jiaoying::drill::start_drill(&app.settings(), &file, Arc::new(app.clock.clone())).await.expect("drill");
    let first = accepted.id;
    assert!(accepted.calls >= 4, "grid, community, unit and regulatory persons are called: {}", accepted.calls);
    let row = app.handle.store.alert(first).await.unwrap().unwrap();
    assert!(row.is_drill(), "status forced to Exercise: {}", row.status);
    app.handle.wake();

    // Every person called gets the first message.
    let direct = accepted.calls;
    let sms = sms_until(app, |m| m.len() >= direct).await;
    // The grid worker answers with the reply code, the community head with a bare 1.
    let (status, body) = app.sms_reply(GRID.1, &code_to(&sms, GRID.1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.call_reaches(first, GRID.0, "answered").await;
    let (status, body) = app.sms_reply(HEAD.1, "1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.call_reaches(first, HEAD.0, "answered").await;

    // Five minutes: the unanswered are called again; five more: escalated to their superiors.
    app.advance(Span::from_millis(5 * 60_000));
    sms_until(app, |m| m.iter().filter(|m| m.text().contains("第2次提醒")).count() >= 2).await;
    app.advance(Span::from_millis(5 * 60_000));
    sms_until(app, |m| {
        [HEAD.1, LEADER.1].iter().all(|to| m.iter().any(|m| m.to() == *to && m.text().contains("未应答")))
    })
    .await;
    app.call_reaches(first, UNIT.0, "escalated").await;
    app.call_reaches(first, REG.0, "escalated").await;

    // Every message of the drill says so: first calls, repeats, escalations, the confirmations of
    // answers (SMS and e-mail). The confirmations leave on the outbox's next step, which under load
    // can come after the escalations went out, so they are waited for rather than assumed there.
    let sms = sms_until(app, |m| m.iter().any(|m| m.text().contains("已确认收到"))).await;
    for m in &sms {
        assert!(m.text().contains(MARK), "a drill message without {MARK}: {}", m.text());
    }
    for mail in app.smtp.mails() {
        assert!(mail.decoded().contains(MARK), "a drill e-mail without {MARK}: {}", mail.decoded());
    }

    // The after-action report: two of the persons answered, the others are listed unreached.
    let r1 = report(app, first).await;
    let f = &r1["drill"]["figures"];
    assert_eq!(f["called"], direct as i64, "{r1:#}");
    assert_eq!(f["answered"], 2, "{r1:#}");
    assert_eq!(f["unreached"], direct as i64 - 2, "{r1:#}");
    assert!(f["median_answer"]["ms"].as_i64().is_some(), "{r1:#}");
    assert_eq!(group(&r1, "by_role", "grid")["figures"]["answer_rate"], 1.0);
    assert_eq!(group(&r1, "by_role", "regulatory")["figures"]["answered"], 0);
    let unreached: Vec<&str> =
        r1["unreached"].as_array().unwrap().iter().filter_map(|u| u["person"]["id"].as_str()).collect();
    assert!(unreached.contains(&UNIT.0) && unreached.contains(&REG.0), "{unreached:?}");
    assert!(!unreached.contains(&GRID.0) && !unreached.contains(&HEAD.0), "{unreached:?}");
    assert!(r1["previous"].is_null() && r1["delta"].is_null(), "the first drill has nothing to compare with");
    assert!(!r1["by_area"].as_array().unwrap().is_empty());

    // A second drill, posted by a source as a CAP-style Exercise: three answer this time.
    let before = app.gateway.received().len();
    let mut exercise = red_alert("cq-drill-2");
    exercise["status"] = Value::from("Exercise");
    let (status, body) = app.post_alert(&exercise).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second = body["id"].as_i64().unwrap();
    let sms = sms_until(app, |m| m.len() >= before + direct).await;
    let new = &sms[before..];
    assert!(new.iter().all(|m| m.text().contains(MARK)), "{new:#?}");
    for who in [GRID, HEAD, UNIT] {
        let (status, body) = app.sms_reply(who.1, &code_to(new, who.1)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        app.call_reaches(second, who.0, "answered").await;
    }
    let r2 = report(app, second).await;
    assert_eq!(r2["drill"]["figures"]["answered"], 3, "{r2:#}");
    assert_eq!(r2["drill"]["figures"]["waiting"], direct as i64 - 3, "the regulatory person may still answer");
    assert_eq!(r2["previous"]["alert_id"], first, "{r2:#}");
    assert_eq!(r2["delta"]["answered"], 1, "{r2:#}");
    assert_eq!(group(&r2, "by_role", "unit")["delta"]["answered"], 1, "{r2:#}");

    // The drills list, newest first, and the board page.
    let (status, list) = app.get_api("/api/v1/drills").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<i64> = list.as_array().unwrap().iter().filter_map(|d| d["alert_id"].as_i64()).collect();
    assert_eq!(ids, [second, first]);
    let page = app.client.get(format!("{}/drills/{second}", app.address)).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(MARK) && html.contains("未叫应人员") && html.contains(&format!("/drills/{first}")), "{html}");

    // A real alert is no drill: its report is not found.
    let (status, body) = app.post_alert(&red_alert("cq-real-2")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app.get_api(&format!("/api/v1/drills/{}/report", body["id"])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

jiaoying_tests::app_story!(a_drill_is_called_escalated_reported_and_compared);
