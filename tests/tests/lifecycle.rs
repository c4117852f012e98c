//! Alert lifecycle on both backends: Update and Cancel chains in order and out of order, updates
//! that raise the tier or only change the text, and expiry.

use jiaoying_core::Span;
use jiaoying_tests::app::{GRID, HEAD, REG, UNIT};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SENDER: &str = "cq@cma.gov.cn";

fn msg(identifier: &str, sent: &str, msg_type: &str, tier: &str, refs: &[(&str, &str)]) -> Value {
    let mut a = red_alert(identifier);
    a["sent"] = Value::from(sent);
    a["msg_type"] = Value::from(msg_type);
    a["tier"] = Value::from(tier);
    a["headline"] = Value::from(format!("暴雨{tier}预警 {identifier}"));
    a["references"] = refs.iter().map(|(id, sent)| Value::from(format!("{SENDER},{id},{sent}"))).collect();
    a
}

const T1: &str = "2026-07-01T08:00:00+08:00";
const T2: &str = "2026-07-01T09:00:00+08:00";
const T3: &str = "2026-07-01T10:00:00+08:00";

fn states(calls: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = calls
        .iter()
        .map(|c| (c["person_id"].as_str().unwrap().to_string(), c["state"].as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

/// yellow → Update red → Cancel, in order.
async fn yellow_then_red_then_cancel(app: &mut TestApp) {
    let (status, a) = app.post_alert(&msg("A1", T1, "Alert", "yellow", &[])).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    assert_eq!(a["calls"], 2, "yellow calls community and unit roles: {a}");
    let id = a["id"].as_i64().unwrap();
    app.gateway.wait_for(2).await;

    let (status, u) = app.post_alert(&msg("U1", T2, "Update", "red", &[("A1", T1)])).await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!(u["id"], id, "an Update answers with its alert's id");
    assert_eq!(u["tier"], "red");
    assert_eq!(u["calls"], 4, "the newly reached (grid, regulatory) are called: {u}");
    let sms = app.gateway.wait_for(2 + 2 + 2).await;
    let raised: Vec<&str> =
        sms[2..].iter().filter(|m| m.text().contains("预警升级")).map(|m| m.to()).collect::<Vec<_>>();
    let mut raised = raised;
    raised.sort();
    assert_eq!(raised, vec![HEAD.1, UNIT.1], "open calls are called again under the new tier");
    assert!(sms[2..].iter().any(|m| m.to() == GRID.1) && sms[2..].iter().any(|m| m.to() == REG.1));
    let (_, alert) = app.get_api(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["tier"], "red");
    assert_eq!(alert["headline"], "暴雨red预警 U1");

    let (status, c) = app.post_alert(&msg("C1", T3, "Cancel", "red", &[("U1", T2)])).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["id"], id);
    let calls = app.calls(id).await;
    assert!(calls.iter().all(|c| c["state"] == "cancelled"), "{:?}", states(&calls));
    let (_, alert) = app.get_api(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["status"], "cancelled");
    let sms = app.gateway.wait_for(6 + 4).await;
    let lifted: Vec<&str> = sms[6..].iter().filter(|m| m.text().contains("已解除")).map(|m| m.to()).collect();
    assert_eq!(lifted.len(), 4, "everyone called is told it is lifted: {lifted:?}");
    assert!(sms[6..].iter().all(|m| m.code().is_none()), "a lifted notice asks for no answer");

    // Nothing fires after the cancel.
    app.advance(Span::from_mins(30));
    app.handle.tracker.timer_step(app.clock.now().plus(Span::ZERO)).await.unwrap();
    assert_eq!(app.gateway.received().len(), 10);
}
app_story!(yellow_then_red_then_cancel);

use jiaoying_core::Clock;

/// The Update arrives before its Alert, then the Cancel: one alert throughout.
async fn an_update_before_its_alert_still_works(app: &mut TestApp) {
    let (status, u) = app.post_alert(&msg("U1", T2, "Update", "red", &[("A1", T1)])).await;
    assert_eq!(status, StatusCode::CREATED, "an Update of an unknown alert is taken: {u}");
    assert_eq!(u["calls"], 4);
    let id = u["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;

    let (status, a) = app.post_alert(&msg("A1", T1, "Alert", "yellow", &[])).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(a["id"], id, "the late Alert joins the Update that referenced it");
    assert_eq!(a["tier"], "red", "an older message does not override a newer one");
    assert_eq!(a["calls"], 4);

    let (_, c) = app.post_alert(&msg("C1", T3, "Cancel", "red", &[("A1", T1)])).await;
    assert_eq!(c["id"], id);
    assert!(app.calls(id).await.iter().all(|c| c["state"] == "cancelled"));
    let (_, list) = app.get_api("/api/v1/alerts").await;
    assert_eq!(list["total"], 1, "one alert, not three");
}
app_story!(an_update_before_its_alert_still_works);

/// An Update that raises nothing sends the new text to those already called, with no new
/// deadline; references naming the message itself are ignored.
async fn an_update_without_a_rise_only_informs(app: &mut TestApp) {
    let (_, a) = app.post_alert(&msg("A1", T1, "Alert", "red", &[])).await;
    let id = a["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;
    let before = app.calls(id).await;
    let (status, u) = app.post_alert(&msg("U1", T2, "Update", "red", &[("A1", T1), ("U1", T2)])).await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!(u["id"], id);
    assert_eq!(u["calls"], 4);
    let sms = app.gateway.wait_for(8).await;
    assert!(sms[4..].iter().all(|m| m.text().contains("更新") && m.code().is_none()), "{:?}", &sms[4..]);
    let after = app.calls(id).await;
    for (b, a) in before.iter().zip(after.iter()) {
        assert_eq!(b["deadline"], a["deadline"], "no new deadline");
        assert_eq!(b["attempts"], a["attempts"]);
    }
}
app_story!(an_update_without_a_rise_only_informs);

/// At `expires` the open calls end quietly: no repeat, no escalation, nobody flagged.
async fn expiry_ends_open_calls_quietly(app: &mut TestApp) {
    let mut a = msg("A1", T1, "Alert", "red", &[]);
    // The clock starts at 2026-07-01T00:00Z; the alert expires 3 minutes later, before its deadline.
    a["expires"] = json!("2026-07-01T08:03:00+08:00");
    let (_, body) = app.post_alert(&a).await;
    let id = body["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;
    let sms = app.gateway.received();
    let grid = sms.iter().find(|m| m.to() == GRID.1).unwrap().clone();
    app.sms_reply(GRID.1, grid.code().unwrap()).await;
    app.gateway.wait_for(5).await;

    app.advance(Span::from_mins(3));
    for (person, _) in [HEAD, REG, UNIT] {
        app.call_reaches(id, person, "expired").await;
    }
    let calls = app.calls(id).await;
    let mut expected = vec![
        (GRID.0.to_string(), "answered".to_string()),
        (HEAD.0.to_string(), "expired".to_string()),
        (REG.0.to_string(), "expired".to_string()),
        (UNIT.0.to_string(), "expired".to_string()),
    ];
    expected.sort();
    assert_eq!(states(&calls), expected);
    assert!(calls.iter().all(|c| c["unreached"] == false), "expiry flags nobody");
    let (_, alert) = app.get_api(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["status"], "expired");
    let messages = app.handle.store.messages_of_alert(id).await.unwrap().len();
    app.advance(Span::from_mins(30));
    app.handle.tracker.timer_step(app.clock.now()).await.unwrap();
    let after = app.handle.store.messages_of_alert(id).await.unwrap();
    assert_eq!(after.len(), messages, "no repeat or escalation after expiry");
    assert!(after.iter().all(|m| !m.body.contains("第2次提醒") && !m.body.contains("未应答")));
}
app_story!(expiry_ends_open_calls_quietly);
