//! A big alert's calls are committed in chunks (ADR 0020): the first with the alert, so its
//! messages go out while the rest are written. On both backends, with chunks of two calls over the
//! four persons the test alert reaches: everyone is called once and the alert's pending mark is
//! cleared; a fan-out cut short after its first chunk (as by a crash) is finished at the next
//! start, by a repeat of the alert, or by an Update, and ended by a Cancel.

use jiaoying_tests::app::{GRID, HEAD, REG, UNIT};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

/// The persons the test's red alert reaches (its tier's roles in the community; the head holds two).
const REACHED: usize = 4;

fn persons(calls: &[Value]) -> Vec<String> {
    let mut p: Vec<String> = calls.iter().map(|c| c["person_id"].as_str().unwrap().to_string()).collect();
    p.sort();
    p
}

async fn pending(app: &TestApp) -> Vec<i64> {
    app.handle.store.alerts_with_pending_fanout().await.unwrap()
}

/// Posts the red alert with chunks of two calls, stopping after the first chunk as a crash
/// would; returns the alert's id.
async fn cut_short(app: &TestApp) -> i64 {
    app.handle.tracker.set_fanout_chunk(2);
    app.handle.tracker.stop_fanouts_after_first_chunk(true);
    let (status, body) = app.post_alert(&red_alert("big-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(app.calls(id).await.len(), 2, "only the first chunk was written");
    assert_eq!(pending(app).await, [id], "the alert is marked until its fan-out is complete");
    app.handle.tracker.stop_fanouts_after_first_chunk(false);
    id
}

async fn chunks_reach_everyone_once(app: &mut TestApp) {
    app.handle.tracker.set_fanout_chunk(2);
    let (status, body) = app.post_alert(&red_alert("big-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["calls"], REACHED, "the answer counts every chunk's calls: {body}");
    let id = body["id"].as_i64().unwrap();
    let calls = app.calls(id).await;
    let mut distinct = persons(&calls);
    distinct.dedup();
    assert_eq!(distinct.len(), REACHED, "one call per person: {calls:?}");
    assert!(pending(app).await.is_empty(), "the last chunk clears the mark");
    // Every chunk's messages go out.
    for p in [GRID.0, HEAD.0, REG.0, UNIT.0] {
        app.call_reaches(id, p, "sent").await;
    }
}
app_story!(chunks_reach_everyone_once);

async fn a_fanout_cut_short_is_finished_at_the_next_start(app: &mut TestApp) {
    let id = cut_short(app).await;
    let before = app.calls(id).await;
    app.restart().await;
    // The start finishes it in the background: wait for the mark to go.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !pending(app).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the fan-out was never finished");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let after = app.calls(id).await;
    assert_eq!(after.len(), REACHED, "{after:?}");
    let mut distinct = persons(&after);
    distinct.dedup();
    assert_eq!(distinct.len(), REACHED, "nobody called twice");
    for c in &before {
        let same = after.iter().find(|a| a["person_id"] == c["person_id"]).unwrap();
        assert_eq!(same["attempts"], c["attempts"], "the calls made before the stop are not made again");
    }
    for p in [GRID.0, HEAD.0, REG.0, UNIT.0] {
        app.call_reaches(id, p, "sent").await;
    }
}
app_story!(a_fanout_cut_short_is_finished_at_the_next_start);

async fn a_repeat_of_the_alert_finishes_its_fanout(app: &mut TestApp) {
    let id = cut_short(app).await;
    let (status, body) = app.post_alert(&red_alert("big-1")).await;
    assert_eq!(status, StatusCode::OK, "a repeat: {body}");
    assert_eq!(body["id"], id);
    assert_eq!(body["calls"], REACHED, "the repeat finished the fan-out before answering: {body}");
    assert!(pending(app).await.is_empty());
}
app_story!(a_repeat_of_the_alert_finishes_its_fanout);

fn next_message(identifier: &str, msg_type: &str) -> Value {
    let mut m = red_alert(identifier);
    m["sent"] = Value::from("2026-07-01T09:00:00+08:00");
    m["msg_type"] = Value::from(msg_type);
    m["references"] = serde_json::json!(["cq@cma.gov.cn,big-1,2026-07-01T08:00:00+08:00"]);
    m
}

async fn an_update_calls_those_a_cut_short_fanout_missed(app: &mut TestApp) {
    let id = cut_short(app).await;
    let (status, body) = app.post_alert(&next_message("big-2", "Update")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], id);
    assert_eq!(body["calls"], REACHED, "{body}");
    assert!(pending(app).await.is_empty(), "the Update completed the fan-out");
    // Nothing is left for a start to do.
    assert_eq!(app.handle.tracker.resume_fanouts().await.unwrap(), 0);
    assert_eq!(app.calls(id).await.len(), REACHED);
}
app_story!(an_update_calls_those_a_cut_short_fanout_missed);

async fn a_cancel_ends_a_cut_short_fanout(app: &mut TestApp) {
    let id = cut_short(app).await;
    let (status, body) = app.post_alert(&next_message("big-3", "Cancel")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(pending(app).await.is_empty(), "a cancelled alert has nothing left to call");
    assert_eq!(app.handle.tracker.resume_fanouts().await.unwrap(), 0);
    let calls = app.calls(id).await;
    assert_eq!(calls.len(), 2, "nobody more is called: {calls:?}");
    assert!(calls.iter().all(|c| c["state"] == "cancelled"), "{calls:?}");
}
app_story!(a_cancel_ends_a_cut_short_fanout);

/// A big fan-out writes its messages already claimed for this instance's outbox (`sending`, its
/// lease, the attempt counted) and hands them over, sparing the outbox the claim (ADR 0021). An
/// outbox that stops before taking them returns them to the queue, never tried, and the next
/// start sends every one.
async fn a_big_fanouts_messages_are_written_claimed_and_returned_if_never_taken(app: &mut TestApp) {
    app.handle.tracker.set_fanout_chunk(2);
    // A stopped outbox takes nothing: what is handed over waits.
    app.handle.outbox.stop();
    let (status, body) = app.post_alert(&red_alert("big-claimed")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    let messages = app.handle.store.messages_of_alert(id).await.unwrap();
    assert!(messages.len() >= REACHED, "{messages:?}");
    for m in &messages {
        assert_eq!((m.state.as_str(), m.attempts), ("sending", 1), "written claimed: {m:?}");
        assert!(m.lease_until.is_some(), "{m:?}");
    }
    assert_eq!(app.handle.outbox.release_held().await.unwrap() as usize, messages.len());
    for m in app.handle.store.messages_of_alert(id).await.unwrap() {
        assert_eq!((m.state.as_str(), m.attempts, m.lease_until), ("queued", 0, None), "back in the queue: {m:?}");
    }
    app.restart().await;
    let sms = app.gateway.wait_for(REACHED).await;
    let mut to: Vec<&str> = sms.iter().map(|m| m.to()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), REACHED, "every person reached once: {sms:?}");
    for p in [GRID.0, HEAD.0, REG.0, UNIT.0] {
        app.call_reaches(id, p, "sent").await;
    }
}
app_story!(a_big_fanouts_messages_are_written_claimed_and_returned_if_never_taken);
