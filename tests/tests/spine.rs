//! The whole spine, black-box, on both backends: a real server on a loopback port, a real SMS
//! gateway that checks signatures, a real SMTP server, and a clock moved by hand.

use jiaoying_core::{Clock, Span};
use jiaoying_tests::app::{DUTY, GRID, HEAD, LEADER, REG, UNIT};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

fn sms_to<'a>(
    sms: &'a [jiaoying_tests::gateway::GatewaySms],
    mobile: &str,
) -> Vec<&'a jiaoying_tests::gateway::GatewaySms> {
    sms.iter().filter(|m| m.to() == mobile).collect()
}

/// Post → SMS and e-mail with code and link → a reply answers → the others repeat, then
/// escalate to their superiors → the same post again is a 200 that calls nobody.
async fn an_alert_is_called_answered_repeated_and_escalated(app: &mut TestApp) {
    let (status, body) = app.post_alert(&red_alert("cq-001")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["tier"], "red");
    // grid, head (community + administrative of the school), unit, regulatory: one call each.
    assert_eq!(body["calls"], 4, "{body}");
    let alert_id = body["id"].as_i64().unwrap();

    let sms = app.gateway.wait_for(4).await;
    assert_eq!(sms.len(), 4);
    for m in &sms {
        assert!(m.signature_ok, "gateway saw a bad signature: {:?}", m.body);
        let code = m.code().expect("a call SMS carries its code");
        let link = m.link().expect("a call SMS carries its link");
        assert!(m.text().contains(code) && m.text().contains(link), "{}", m.text());
        assert!(m.text().starts_with("【观音桥街道】红色暴雨预警"), "{}", m.text());
        assert!(m.text().chars().count() <= 134, "{}", m.text());
    }
    let mut called: Vec<&str> = sms.iter().map(|m| m.to()).collect();
    called.sort();
    assert_eq!(called, vec![HEAD.1, GRID.1, UNIT.1, REG.1]);

    // E-mail goes to those with an address: the grid worker and the community head.
    let mails = app.smtp.wait_for(2).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec!["grid@example.org", "head@example.org"]);
    let grid_sms = sms_to(&sms, GRID.1)[0].clone();
    let grid_mail = mails.iter().find(|m| m.to == vec!["grid@example.org"]).unwrap();
    let decoded = grid_mail.decoded();
    assert!(decoded.contains(grid_sms.link().unwrap()), "the mail carries the same answer link: {decoded}");
    assert!(decoded.contains(&format!("回复码 {}", grid_sms.code().unwrap())), "{decoded}");
    assert!(decoded.contains("text/html") || decoded.contains("<a href"), "{decoded}");

    // Sent calls: the outbox moved them from pending to sent.
    app.call_reaches(alert_id, GRID.0, "sent").await;

    // The grid worker replies with the code: answered, and told so.
    let (status, reply) = app.sms_reply(GRID.1, grid_sms.code().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["result"], "answered", "{reply}");
    let grid_call = app.call_of(alert_id, GRID.0).await;
    assert_eq!(grid_call["state"], "answered");
    assert_eq!(grid_call["answered_via"], "sms");
    let confirmations = app.gateway.wait_for(5).await;
    assert!(sms_to(&confirmations, GRID.1).iter().any(|m| m.text().contains("已确认收到")));

    // A second reply of the same code changes nothing and says so.
    let (_, again) = app.sms_reply(GRID.1, grid_sms.code().unwrap()).await;
    assert_eq!(again["result"], "already_answered", "{again}");

    // The "already answered" reply reaches the gateway before the clock moves on (the count
    // below would otherwise depend on whether it arrived yet): 4 calls, the confirmation, it.
    let replied = app.gateway.wait_for(6).await;
    assert!(sms_to(&replied, GRID.1).iter().any(|m| m.text().contains("无需重复回复")), "{replied:?}");

    // Deadline: everyone unanswered is called again (repeats = 1); the grid worker is not.
    let before = app.gateway.received().len();
    app.advance(Span::from_mins(5));
    let after = app.gateway.wait_for(before + 3).await;
    let repeats: Vec<_> = after[before..].iter().filter(|m| m.text().contains("第2次提醒")).collect();
    let mut repeated: Vec<&str> = repeats.iter().map(|m| m.to()).collect();
    repeated.sort();
    assert_eq!(repeated, vec![HEAD.1, UNIT.1, REG.1]);
    assert_eq!(app.call_of(alert_id, UNIT.0).await["attempts"], 2);
    // The red policy repeats on SMS only (`repeat_channels`): no second e-mail.
    let emails = app
        .handle
        .store
        .messages_of_alert(alert_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.channel == "email")
        .count();
    assert_eq!(emails, 2, "repeats go out on the repeat channels only");

    // Second deadline: repeats used up, so each escalates to their superior. The unit's
    // superior (the head) and the regulator's (the leader) are already being called, so only
    // the leader gets a new call, once.
    let before = app.gateway.received().len();
    app.advance(Span::from_mins(5));
    let after = app.gateway.wait_for(before + 1).await;
    let to_leader = sms_to(&after[before..], LEADER.1);
    assert_eq!(to_leader.len(), 1, "{:?}", &after[before..]);
    assert!(to_leader[0].text().contains("未应答，请督促"), "{}", to_leader[0].text());
    let unit_call = app.call_of(alert_id, UNIT.0).await;
    assert_eq!(unit_call["state"], "escalated", "{unit_call}");
    let head_call = app.call_of(alert_id, HEAD.0).await;
    assert_eq!(unit_call["escalated_to"], head_call["id"]);
    let leader_call = app.call_of(alert_id, LEADER.0).await;
    assert_eq!(leader_call["role"], "superior");
    assert_eq!(leader_call["level"], 1);
    assert_eq!(head_call["escalated_to"], leader_call["id"]);

    // The leader answers through the link: GET shows, never answers; POST answers.
    let link = to_leader[0].link().unwrap().to_string();
    let (status, page) = app.open_link(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("确认收到") && page.contains("暴雨"), "{page}");
    app.call_reaches(alert_id, LEADER.0, "sent").await;
    let (_, page) = app.open_link(&link).await;
    assert!(page.contains("<form"), "{page}");
    assert_eq!(app.call_of(alert_id, LEADER.0).await["state"], "sent", "GET must not answer");
    let (status, page) = app.click_confirm(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("已确认收到"), "{page}");
    let leader_call = app.call_of(alert_id, LEADER.0).await;
    assert_eq!(leader_call["state"], "answered");
    assert_eq!(leader_call["answered_via"], "link");
    let (_, page) = app.open_link(&link).await;
    assert!(page.contains("已于"), "a used link says when it was answered: {page}");

    // A late answer from someone escalated still counts, marked late.
    let unit_sms = sms_to(&app.gateway.received(), UNIT.1)[0].clone();
    let (_, reply) = app.sms_reply(UNIT.1, unit_sms.code().unwrap()).await;
    assert_eq!(reply["result"], "answered");
    assert_eq!(reply["late"], true);

    // The same alert again: 200, same id, nobody called.
    let messages_before = app.handle.store.messages_of_alert(alert_id).await.unwrap().len();
    let (status, body) = app.post_alert(&red_alert("cq-001")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], alert_id);
    assert_eq!(app.handle.store.messages_of_alert(alert_id).await.unwrap().len(), messages_before);
    assert_eq!(app.alerts_total().await, 1);

    // The read API reports the counts.
    let (status, list) = app.get_api("/api/v1/alerts?status=active").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1);
    let counts = &list["alerts"][0]["counts"];
    assert_eq!(counts["answered"], 3, "{counts}");
    assert_eq!(counts["total"], 5, "{counts}");
}
app_story!(an_alert_is_called_answered_repeated_and_escalated);

/// A bare "1" answers the only open call; with two open calls it answers none and lists codes.
async fn bare_replies_answer_only_an_unambiguous_call(app: &mut TestApp) {
    let (_, first) = app.post_alert(&red_alert("cq-a")).await;
    app.gateway.wait_for(4).await;
    let (status, reply) = app.sms_reply(REG.1, "收到").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["result"], "answered", "{reply}");

    let mut second = red_alert("cq-b");
    second["event"] = Value::from("大风");
    app.post_alert(&second).await;
    app.gateway.wait_for(4 + 1 + 4).await;
    let before = app.gateway.received().len();
    let (_, reply) = app.sms_reply(HEAD.1, "1").await;
    assert_eq!(reply["result"], "ambiguous", "{reply}");
    assert_eq!(reply["open_calls"], 2);
    let got = app.gateway.wait_for(before + 1).await;
    let list = sms_to(&got[before..], HEAD.1)[0].text().to_string();
    assert!(list.contains("暴雨") && list.contains("大风"), "{list}");
    app.call_reaches(first["id"].as_i64().unwrap(), HEAD.0, "sent").await;
}
app_story!(bare_replies_answer_only_an_unambiguous_call);

/// Stop the server between the first message and the deadline; after a restart the timer,
/// which lives in the database, still fires.
async fn an_escalation_survives_a_restart(app: &mut TestApp) {
    let mut alert = red_alert("cq-restart");
    alert["tier"] = Value::from("orange"); // orange: no repeats, straight to escalation
    alert["headline"] = Value::from("暴雨橙色预警");
    let (status, body) = app.post_alert(&alert).await;
    assert_eq!(status, StatusCode::CREATED);
    let alert_id = body["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;

    app.stop().await;
    app.clock.advance(Span::from_mins(6));
    app.restart().await;
    app.handle.wake();

    let got = app.gateway.wait_for(5).await;
    assert_eq!(sms_to(&got, LEADER.1).len(), 1, "the leader is called after the restart");
    assert_eq!(app.call_of(alert_id, GRID.0).await["state"], "escalated");
}
app_story!(an_escalation_survives_a_restart);

/// When the chain runs out (the leader has no superior and the duty officer does not answer),
/// the call is flagged unreached at once rather than waiting for nobody.
async fn a_chain_that_runs_out_is_flagged_unreached(app: &mut TestApp) {
    let mut alert = red_alert("cq-chain");
    alert["tier"] = Value::from("orange");
    alert["areas"] = serde_json::json!([{"code": "500105002"}]);
    let (_, body) = app.post_alert(&alert).await;
    let alert_id = body["id"].as_i64().unwrap();
    // orange policy roles do not include leader or duty officer: 4 direct calls.
    assert_eq!(body["calls"], 4);
    app.gateway.wait_for(4).await;
    app.advance(Span::from_mins(5)); // → superiors: head (exists), leader (new)
    app.gateway.wait_for(5).await;
    app.advance(Span::from_mins(5)); // leader → duty officer (new); head → leader (exists)
    let got = app.gateway.wait_for(6).await;
    assert_eq!(sms_to(&got, DUTY.1).len(), 1);
    app.advance(Span::from_mins(5)); // duty officer → leader, already called: nobody new
    let duty = loop {
        let c = app.call_of(alert_id, DUTY.0).await;
        if c["state"] != "sent" && c["state"] != "pending" {
            break c;
        }
        app.handle.tracker.timer_step(app.clock.now()).await.unwrap();
    };
    assert_eq!(duty["state"], "escalated", "{duty}");
    assert_eq!(duty["unreached"], true, "{duty}");
}
app_story!(a_chain_that_runs_out_is_flagged_unreached);

/// A delivery receipt moves the message and its call to delivered; a receipt naming a message
/// of another channel, or in an unknown state, changes nothing.
async fn delivery_receipts_mark_calls_delivered(app: &mut TestApp) {
    let (_, body) = app.post_alert(&red_alert("cq-receipt")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    let grid = sms.iter().find(|m| m.to() == GRID.1).unwrap();
    app.call_reaches(alert_id, GRID.0, "sent").await;

    let post = |body: Value| {
        let text = body.to_string();
        let sig = jiaoying_dispatch::sms_webhook::sign(jiaoying_tests::app::SMS_SECRET.as_bytes(), text.as_bytes());
        app.client
            .post(format!("{}/hooks/sms/sms/status", app.address))
            .header("x-jiaoying-signature", sig)
            .body(text)
            .send()
    };
    let r = post(serde_json::json!({"id": grid.id(), "status": "bogus"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The e-mail of the grid worker went out on the smtp channel: the sms channel cannot vouch for it.
    let email_id = app
        .handle
        .store
        .messages_of_alert(alert_id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.channel == "email")
        .unwrap()
        .id;
    let r = post(serde_json::json!({"id": email_id.to_string(), "status": "delivered"})).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["result"], "ignored");

    let r = post(serde_json::json!({"id": grid.id(), "status": "delivered"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["result"], "recorded");
    assert_eq!(app.call_of(alert_id, GRID.0).await["state"], "delivered");
    let msg = app.handle.store.message(grid.id().parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(msg.state, "delivered");
    assert_eq!(msg.provider_id.as_deref(), Some(format!("gw-{}", grid.id()).as_str()), "the gateway's id is kept");
}
app_story!(delivery_receipts_mark_calls_delivered);
