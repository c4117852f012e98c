//! The order and pace of the outbox, on both backends: the most urgent messages go first (red
//! before blue, a first call before a repeat), a channel's rate limit holds, and the backlog with
//! its drain estimate is there for duty officers.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiaoying_core::urgency::{message_priority, MessageKind};
use jiaoying_core::{Clock, ManualClock, Span, Tier};
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

async fn queue(store: &dyn Store, label: &str, priority: i64, now: i64) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_message(&NewMessage {
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

both_backends!(the_most_urgent_messages_go_first);
both_backends!(a_channel_rate_limit_holds_and_the_backlog_shows_the_drain_time);
