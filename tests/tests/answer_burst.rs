//! A burst of SMS answers arriving together, on both backends: answers that share a transaction
//! (set-based) must come out exactly as if taken one by one — a gateway's retry taken once, two
//! replies to one call answering it once, a late answer after escalation marked late, an unknown
//! code told so — with one answer event per answered call and one confirmation per reply acted on.

use jiaoying_tests::app::{GRID, HEAD, REG, SMS_SECRET, UNIT};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

async fn a_burst_of_answers_is_taken_as_if_one_by_one(app: &mut TestApp) {
    let (_, body) = app.post_alert(&red_alert("cq-burst")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    let code_of = |mobile: &str| sms.iter().find(|m| m.to() == mobile).and_then(|m| m.code()).unwrap().to_string();
    for p in [GRID, HEAD, UNIT, REG] {
        app.call_reaches(alert_id, p.0, "sent").await;
    }
    // The regulatory person's call is escalated first: their answer below comes late.
    let reg_call = app.call_of(alert_id, REG.0).await;
    let r = app
        .client
        .post(format!("{}/api/v1/calls/{}/escalate", app.address, reg_call["id"]))
        .bearer_auth(jiaoying_tests::app::API_TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.call_reaches(alert_id, REG.0, "escalated").await;
    let before = app.gateway.received().len();

    let replies = [
        (GRID.1, code_of(GRID.1), "burst-1"),
        (GRID.1, code_of(GRID.1), "burst-1"), // the gateway's retry of the same SMS
        (GRID.1, code_of(GRID.1), "burst-2"), // the person sent it twice
        (HEAD.1, code_of(HEAD.1), "burst-3"),
        (UNIT.1, "1111".to_string(), "burst-4"), // nobody's code
        (REG.1, code_of(REG.1), "burst-5"),      // after escalation: late
    ];
    let send = |i: usize| app.sms_reply_signed(replies[i].0, &replies[i].1, replies[i].2, SMS_SECRET);
    let (a, b, c, d, e, f) = tokio::join!(send(0), send(1), send(2), send(3), send(4), send(5));
    let results: Vec<(StatusCode, Value)> = vec![a, b, c, d, e, f];
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let result = |i: usize| results[i].1["result"].as_str().unwrap().to_string();
    let mut grid: Vec<String> = (0..3).map(result).collect();
    grid.sort();
    assert_eq!(grid, vec!["already_answered", "answered", "duplicate"], "{results:?}");
    assert_eq!(result(3), "answered");
    assert_eq!(result(4), "unknown_code");
    assert_eq!(result(5), "answered");
    assert_eq!(results[5].1["late"], true, "{results:?}");

    for p in [GRID, HEAD, REG] {
        let call = app.call_of(alert_id, p.0).await;
        assert_eq!(call["state"], "answered", "{call}");
        assert_eq!(call["answered_via"], "sms");
    }
    assert_eq!(app.call_of(alert_id, REG.0).await["late"], true);
    assert_ne!(app.call_of(alert_id, UNIT.0).await["state"], "answered");

    // One answer event per answered call, however many replies named it.
    let events = app.handle.store.events_of_alert(alert_id).await.unwrap();
    for p in [GRID, HEAD, REG] {
        let id = app.call_of(alert_id, p.0).await["id"].as_i64().unwrap();
        let answered = events.iter().filter(|e| e.call_id == id && e.to_state == "answered").count();
        assert_eq!(answered, 1, "{} answered once: {events:?}", p.0);
    }
    // A confirmation for every reply acted on (5: not the retry), each to its sender.
    let ours = |m: &&jiaoying_tests::gateway::GatewaySms| [GRID.1, HEAD.1, UNIT.1, REG.1].contains(&m.to());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let confirmations = loop {
        let got: Vec<_> = app.gateway.received().split_off(before).into_iter().collect();
        if got.iter().filter(ours).count() >= 5 || std::time::Instant::now() > deadline {
            break got;
        }
        app.gateway.wait_for(got.len() + before + 1).await;
    };
    let confirmations: Vec<_> = confirmations.iter().filter(ours).collect();
    let mut to: Vec<&str> = confirmations.iter().map(|m| m.to()).collect();
    to.sort();
    let mut want = vec![GRID.1, GRID.1, HEAD.1, UNIT.1, REG.1];
    want.sort();
    assert_eq!(to, want, "{:?}", confirmations.iter().map(|m| m.text()).collect::<Vec<_>>());
}
app_story!(a_burst_of_answers_is_taken_as_if_one_by_one);

/// The burst finds calls by `(number, code)` itself: a code is only its own person's. Another
/// person's code from a registered number answers nothing and is told so; a lower-case code and
/// one with spaces around it still answer the sender's own call.
async fn a_code_answers_only_the_call_of_its_own_number(app: &mut TestApp) {
    let (_, body) = app.post_alert(&red_alert("cq-codes")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    let code_of = |mobile: &str| sms.iter().find(|m| m.to() == mobile).and_then(|m| m.code()).unwrap().to_string();
    let (grid_code, head_code) = (code_of(GRID.1), code_of(HEAD.1));
    let (status, stolen) = app.sms_reply_signed(GRID.1, &head_code, "codes-1", SMS_SECRET).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stolen["result"], "unknown_code", "{stolen}");
    assert_ne!(app.call_of(alert_id, HEAD.0).await["state"], "answered");
    let (_, own) =
        app.sms_reply_signed(GRID.1, &format!("  {}  ", grid_code.to_lowercase()), "codes-2", SMS_SECRET).await;
    assert_eq!(own["result"], "answered", "{own}");
    assert_eq!(app.call_of(alert_id, GRID.0).await["state"], "answered");
    assert_ne!(app.call_of(alert_id, HEAD.0).await["state"], "answered");
}
app_story!(a_code_answers_only_the_call_of_its_own_number);
