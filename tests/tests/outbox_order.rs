//! The order and pace of the outbox, on both backends: the most urgent messages go first (red
//! before blue, a first call before a repeat), a channel's rate limit holds, the backlog with
//! its drain estimate is there for duty officers, outcomes are recorded as requests return (so a
//! crash can repeat only the sends in flight), and no send starts that could outlive its claim.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiaoying_core::urgency::{message_priority, MessageKind};
use jiaoying_core::{CallState, Clock, ManualClock, Span, Tier};
use jiaoying_dispatch::outbox::{Outbox, OutboxConfig, OutboxStep};
use jiaoying_dispatch::{build_channels, ChannelSpec};
use jiaoying_store::{NewMessage, Purpose, Store};
use jiaoying_tests::app::START;
use jiaoying_tests::gateway::Gateway;
use jiaoying_tests::{both_backends, TestDb};

async fn setup(
    db: &TestDb,
    gateway: &Gateway,
    extra: serde_json::Value,
    batch: i64,
) -> (Arc<dyn Store>, Outbox, ManualClock) {
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let mut table =
        serde_json::json!({"kind": "sms-webhook", "url": gateway.url(), "secret": jiaoying_tests::app::SMS_SECRET});
    for (k, v) in extra.as_object().unwrap() {
        table[k] = v.clone();
    }
    let spec: ChannelSpec = serde_json::from_value(table).unwrap();
    let channels = build_channels(&BTreeMap::from([("sms".to_string(), spec)])).unwrap();
    let clock = ManualClock::new(START);
    let outbox = Outbox::new(
        store.clone(),
        Arc::new(clock.clone()),
        channels,
        OutboxConfig { batch, ..OutboxConfig::default() },
    );
    (store, outbox, clock)
}

async fn queue(store: &dyn Store, label: &str, priority: i64, now: i64) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let id = tx
        .insert_message(&NewMessage {
            alert_id: None,
            call_id: None,
            channel: "sms".into(),
            recipient: "13900000009".into(),
            purpose: Purpose::Test,
            subject: label.into(),
            body: label.into(),
            code: None,
            link: None,
            now,
            priority,
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn the_most_urgent_messages_go_first(db: &TestDb) {
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    // One message per step, so the order of steps is the order of sending.
    let (store, outbox, clock) = setup(db, &gateway, serde_json::json!({}), 1).await;
    let now = clock.now().millis();
    // Queued least urgent first, so that queue order alone would get it wrong.
    queue(store.as_ref(), "blue-notice", message_priority(Some(Tier::Blue), MessageKind::Notice), now).await;
    queue(store.as_ref(), "blue-first", message_priority(Some(Tier::Blue), MessageKind::FirstCall), now).await;
    queue(store.as_ref(), "red-repeat", message_priority(Some(Tier::Red), MessageKind::Repeat), now).await;
    queue(store.as_ref(), "orange-first", message_priority(Some(Tier::Orange), MessageKind::FirstCall), now).await;
    queue(store.as_ref(), "red-first", message_priority(Some(Tier::Red), MessageKind::FirstCall), now).await;
    while let OutboxStep::Sent(_) = outbox.step(clock.now()).await.unwrap() {}
    let order: Vec<String> = gateway.received().iter().map(|s| s.text().to_string()).collect();
    assert_eq!(order, ["red-first", "red-repeat", "orange-first", "blue-first", "blue-notice"]);
}

async fn a_channel_rate_limit_holds_and_the_backlog_shows_the_drain_time(db: &TestDb) {
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    let (store, outbox, clock) = setup(db, &gateway, serde_json::json!({"rate_per_sec": 2.0}), 100).await;
    for i in 0..7 {
        queue(store.as_ref(), &format!("m{i}"), 0, clock.now().millis()).await;
    }
    // A full bucket holds one second's worth: two messages.
    assert_eq!(outbox.step(clock.now()).await.unwrap(), OutboxStep::Sent(2));
    let next = match outbox.step(clock.now()).await.unwrap() {
        OutboxStep::Empty { next_due: Some(t) } => t,
        other => panic!("the rate limit must hold the rest back: {other:?}"),
    };
    assert_eq!(next, clock.now().millis() + 500, "the next token comes in half a second");
    assert_eq!(gateway.received().len(), 2);

    let backlog = outbox.backlog().await.unwrap();
    let sms = backlog.iter().find(|b| b.channel == "sms").expect("sms backlog");
    assert_eq!(sms.queued, 5);
    assert_eq!(sms.rate_limit, Some(2.0));
    let drain = sms.drain_secs.expect("a drain estimate");
    assert!(drain >= 2.5 - 1e-9, "five messages at two a second take at least 2.5 s: {drain}");

    // Half a second later exactly one more may go.
    clock.advance(Span::from_millis(500));
    assert_eq!(outbox.step(clock.now()).await.unwrap(), OutboxStep::Sent(1));
    // Three seconds later the bucket holds at most a second's worth again, not three.
    clock.advance(Span::from_secs(3));
    assert_eq!(outbox.step(clock.now()).await.unwrap(), OutboxStep::Sent(2));
    assert_eq!(gateway.received().len(), 5);
}

/// One outbox step at the clock's now, running while the test watches the gateway.
fn spawn_step(outbox: &Outbox, clock: &ManualClock) -> tokio::task::JoinHandle<OutboxStep> {
    let (outbox, now) = (outbox.clone(), clock.now());
    tokio::spawn(async move { outbox.step(now).await.unwrap() })
}

/// The states of these messages, in order.
async fn states(store: &dyn Store, ids: &[i64]) -> Vec<String> {
    let mut out = Vec::new();
    for &id in ids {
        out.push(store.message(id).await.unwrap().expect("message").state);
    }
    out
}

async fn outcomes_are_recorded_as_requests_return(db: &TestDb) {
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    let (store, outbox, clock) = setup(db, &gateway, serde_json::json!({"concurrency": 2}), 10).await;
    let now = clock.now().millis();
    // The slow one first, so it holds one of the two request slots for the whole step.
    let slow = queue(store.as_ref(), "slow", 1, now).await;
    let mut quick = Vec::new();
    for i in 0..9 {
        quick.push(queue(store.as_ref(), &format!("quick-{i}"), 0, now).await);
    }
    gateway.hold_text("slow");
    let step = spawn_step(&outbox, &clock);
    gateway.wait_held(1).await;
    gateway.wait_for(9).await;
    // The step is still waiting for the slow request, yet the nine that came back are recorded
    // sent: killed now, this instance would leave only the slow one to be sent again.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while states(store.as_ref(), &quick).await.iter().any(|s| s != "sent") {
        assert!(tokio::time::Instant::now() < deadline, "quick messages not recorded while one is in flight");
        tokio::task::yield_now().await;
    }
    assert!(!step.is_finished(), "the step waits for its slow request");
    assert_eq!(states(store.as_ref(), &[slow]).await, ["sending"]);
    gateway.release_held();
    assert_eq!(step.await.unwrap(), OutboxStep::Sent(10));
    assert_eq!(states(store.as_ref(), &[slow]).await, ["sent"]);
    assert_eq!(gateway.received().len(), 10, "each sent once");
}

async fn no_send_starts_that_could_outlive_its_claim(db: &TestDb) {
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    // One request at a time, 10 s timeout, the default 30 s lease: a send may start up to 20 s
    // after the claim.
    let (store, outbox, clock) =
        setup(db, &gateway, serde_json::json!({"concurrency": 1, "timeout_secs": 10}), 10).await;
    let now = clock.now().millis();
    let first = queue(store.as_ref(), "first", 2, now).await;
    let rest = [queue(store.as_ref(), "second", 1, now).await, queue(store.as_ref(), "third", 0, now).await];
    gateway.hold_text("first");
    let step = spawn_step(&outbox, &clock);
    gateway.wait_held(1).await;
    // The first request took 25 s: starting another now could run past the lease, into a
    // second instance sending the same message.
    clock.advance(Span::from_secs(25));
    gateway.release_held();
    assert_eq!(step.await.unwrap(), OutboxStep::Sent(3));
    assert_eq!(states(store.as_ref(), &[first]).await, ["sent"]);
    assert_eq!(states(store.as_ref(), &rest).await, ["queued", "queued"], "returned to the queue, not left claimed");
    for id in rest {
        assert_eq!(store.message(id).await.unwrap().unwrap().attempts, 0, "an unstarted claim is no attempt");
    }
    assert_eq!(gateway.received().len(), 1);
    // The next step sends them at once.
    assert_eq!(outbox.step(clock.now()).await.unwrap(), OutboxStep::Sent(2));
    let texts: Vec<String> = gateway.received().iter().map(|s| s.text().to_string()).collect();
    assert_eq!(texts, ["first", "second", "third"]);
}

/// Another connection that holds the outbox's writes back: SQLite's write lock, or PostgreSQL
/// row locks on every message. Dropped (rolled back) to let them through.
enum WriteBlocker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteBlocker {
    async fn hold(db: &TestDb) -> WriteBlocker {
        use sqlx::Connection;
        match db.backend {
            jiaoying_tests::Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
                WriteBlocker::Sqlite(conn)
            }
            jiaoying_tests::Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::raw_sql("BEGIN; SELECT id FROM messages FOR UPDATE").execute(&mut conn).await.unwrap();
                WriteBlocker::Postgres(conn)
            }
        }
    }

    async fn release(self) {
        match self {
            WriteBlocker::Sqlite(mut c) => drop(sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap()),
            WriteBlocker::Postgres(mut c) => drop(sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap()),
        }
    }
}

async fn sent_and_unrecorded_stays_within_twice_the_requests_in_flight(db: &TestDb) {
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    let (store, outbox, clock) = setup(db, &gateway, serde_json::json!({"concurrency": 1}), 10).await;
    let now = clock.now().millis();
    queue(store.as_ref(), "first", 1, now).await;
    for i in 0..9 {
        queue(store.as_ref(), &format!("m{i}"), 0, now).await;
    }
    gateway.hold_text("first");
    let step = spawn_step(&outbox, &clock);
    // Claimed and sending: now the database stops taking the outbox's writes, as a slow disk
    // or a busy database would.
    gateway.wait_held(1).await;
    let blocker = WriteBlocker::hold(db).await;
    gateway.release_held();
    // The gateway answers at once, so only the budget stops the sender: one request in flight,
    // at most two messages sent and not recorded. Nothing is awaited that could tell us a third
    // did not come, so the test gives it a generous moment.
    gateway.wait_for(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(gateway.received().len(), 2, "sent while nothing could be recorded: what a crash would repeat");
    blocker.release().await;
    assert_eq!(step.await.unwrap(), OutboxStep::Sent(10));
    assert_eq!(gateway.received().len(), 10);
}

/// A call moves to `sent` and `delivered` with its own message only: a notice about the same call
/// (an Update's, which may leave first) or a confirmation of its answer says nothing of whether
/// the call itself went out, and neither do their receipts.
async fn only_a_calls_own_message_moves_it_on(db: &TestDb) {
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    let (store, outbox, clock) = setup(db, &gateway, serde_json::json!({}), 10).await;
    let now = clock.now().millis();
    let mut tx = store.begin().await.unwrap();
    let alert_id = tx
        .insert_alert(&jiaoying_store::NewAlertRow {
            source: "test".into(),
            status: "Actual".into(),
            msg_type: "Alert".into(),
            event: "暴雨".into(),
            tier: Tier::Red,
            headline: "暴雨红色预警".into(),
            description: String::new(),
            instruction: String::new(),
            onset: None,
            expires: None,
            areas: "[]".into(),
            state: "active".into(),
            content_sent: now,
            now,
        })
        .await
        .unwrap();
    let call_id = tx
        .insert_call(&jiaoying_store::NewCall {
            alert_id,
            person_id: "p-1".into(),
            roles: "grid".into(),
            unit_id: None,
            area: "500105002".into(),
            level: 0,
            reply_code: "1234".into(),
            deadline: now + 300_000,
            next_action_at: now + 300_000,
            escalated_from: None,
            directive: None,
            done_within: None,
            now,
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let message = |purpose: Purpose, text: &str| NewMessage {
        alert_id: Some(alert_id),
        call_id: Some(call_id),
        channel: "sms".into(),
        recipient: "13900000009".into(),
        purpose,
        subject: text.into(),
        body: text.into(),
        code: None,
        link: None,
        now,
        priority: 0,
    };
    let state = || async { store.call(call_id).await.unwrap().unwrap().state };

    let mut tx = store.begin().await.unwrap();
    let notice = tx.insert_message(&message(Purpose::Notice, "更新")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outbox.step(clock.now()).await.unwrap(), OutboxStep::Sent(1));
    assert_eq!(gateway.received().len(), 1);
    assert_eq!(state().await, CallState::Pending, "a notice does not send the call");
    outbox.receipt(notice, true, None).await.unwrap();
    assert_eq!(state().await, CallState::Pending, "nor does its receipt deliver it");

    let mut tx = store.begin().await.unwrap();
    let own = tx.insert_message(&message(Purpose::Call, "请回复1234")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outbox.step(clock.now()).await.unwrap(), OutboxStep::Sent(1));
    assert_eq!(state().await, CallState::Sent, "the call's own message does");
    outbox.receipt(own, true, None).await.unwrap();
    assert_eq!(state().await, CallState::Delivered);
}
both_backends!(only_a_calls_own_message_moves_it_on);

both_backends!(the_most_urgent_messages_go_first);
both_backends!(sent_and_unrecorded_stays_within_twice_the_requests_in_flight);
both_backends!(outcomes_are_recorded_as_requests_return);
both_backends!(no_send_starts_that_could_outlive_its_claim);
both_backends!(a_channel_rate_limit_holds_and_the_backlog_shows_the_drain_time);
