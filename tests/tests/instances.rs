//! Several instances on one database split the work safely: two trackers and two outboxes, each
//! with its own connection pool, run their steps at the same time over 1 000 due calls; every
//! repeat is made once and every message reaches the gateway once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiaoying_core::registry::{Area, Person, Role};
use jiaoying_core::token::TokenSigner;
use jiaoying_core::{AreaCode, Clock, ManualClock, MobileNumber, PersonId, Registry, Span};
use jiaoying_dispatch::outbox::{Outbox, OutboxConfig, OutboxStep};
use jiaoying_dispatch::{build_channels, AddressKind, ChannelSpec};
use jiaoying_store::Store;
use jiaoying_tests::app::START;
use jiaoying_tests::gateway::Gateway;
use jiaoying_tests::{both_backends, TestDb};
use jiaoying_tracker::{Composer, Step, Tracker, TrackerConfig};

const PERSONS: usize = 1000;

fn registry() -> Registry {
    let code = |s: &str| AreaCode::parse(s).unwrap();
    let mut r = Registry::default();
    r.areas.push(Area { code: code("500105002"), name: "街道".into(), parent: None, polygon: None });
    for i in 0..PERSONS {
        r.persons.push(Person {
            id: PersonId::parse(&format!("grid-{i}")).unwrap(),
            name: format!("网格员{i}"),
            mobile: MobileNumber::parse(&format!("1390{i:07}")).unwrap(),
            email: None,
            roles: vec![Role::parse("grid").unwrap()],
            area: code("500105002"),
            superior: None,
        });
    }
    r
}

struct Instance {
    tracker: Tracker,
    outbox: Outbox,
    store: Arc<dyn Store>,
}

async fn instance(db: &TestDb, clock: &ManualClock, gateway: &Gateway) -> Instance {
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let spec: ChannelSpec = serde_json::from_value(
        serde_json::json!({"kind": "sms-webhook", "url": gateway.url(), "secret": jiaoying_tests::app::SMS_SECRET}),
    )
    .unwrap();
    let channels = build_channels(&BTreeMap::from([("sms".to_string(), spec)])).unwrap();
    let composer = Composer::new(
        TokenSigner::new(b"k"),
        "http://jiaoying.test",
        "叫应",
        BTreeMap::from([("sms".to_string(), AddressKind::Mobile)]),
    );
    let mut policies = BTreeMap::new();
    policies.insert(
        jiaoying_core::Tier::Red,
        jiaoying_core::TierPolicy {
            roles: vec![Role::parse("grid").unwrap()],
            channels: vec!["sms".into()],
            answer_within: Span::from_mins(5),
            repeats: 1,
            escalate: false,
            repeat_channels: None,
            escalation_channels: None,
            max_levels: None,
            repeat_intervals: vec![],
            level_delays: vec![],
        },
    );
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let tracker = Tracker::new(
        store.clone(),
        clock.clone(),
        TrackerConfig {
            policies: jiaoying_core::Policies::new(policies, &["sms".into()]),
            composer,
            batch: 100,
            late_answer_closes_escalation: true,
            directives: vec![],
        },
        Arc::new(tokio::sync::Notify::new()),
    );
    let outbox = Outbox::new(store.clone(), clock, channels, OutboxConfig { batch: 50, ..OutboxConfig::default() });
    Instance { tracker, outbox, store }
}

async fn drain_timers(i: &Instance, clock: &ManualClock) -> usize {
    let mut n = 0;
    while let Step::Done(k) = i.tracker.timer_step(clock.now()).await.unwrap() {
        n += k;
    }
    n
}

async fn drain_outbox(i: &Instance, clock: &ManualClock) -> usize {
    let mut n = 0;
    while let OutboxStep::Sent(k) = i.outbox.step(clock.now()).await.unwrap() {
        n += k;
    }
    n
}

async fn two_instances_repeat_each_call_once(db: &TestDb) {
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    let clock = ManualClock::new(START);
    let a = instance(db, &clock, &gateway).await;
    let b = instance(db, &clock, &gateway).await;
    a.store.upsert_registry(&registry(), START.millis()).await.unwrap();
    let body = r#"{"identifier": "many", "sender": "s", "sent": "2026-07-01T08:00:00+08:00", "event": "暴雨",
        "tier": "red", "areas": [{"code": "500105002"}]}"#;
    let alert = jiaoying_ingest::parse_json_alert(body.as_bytes()).unwrap();
    let accepted = a.tracker.accept(&alert, "s", body).await.unwrap();
    assert_eq!(accepted.calls, PERSONS);

    // Both instances send the first messages at once.
    let (sa, sb) = tokio::join!(drain_outbox(&a, &clock), drain_outbox(&b, &clock));
    assert_eq!(sa + sb, PERSONS, "each first message claimed by exactly one instance");

    // The deadline passes; both instances fire timers at once.
    clock.advance(Span::from_mins(5));
    let (ta, tb) = tokio::join!(drain_timers(&a, &clock), drain_timers(&b, &clock));
    assert_eq!(ta + tb, PERSONS, "each due call handled once ({ta} + {tb})");
    let (ra, rb) = tokio::join!(drain_outbox(&a, &clock), drain_outbox(&b, &clock));
    assert_eq!(ra + rb, PERSONS, "each repeat claimed once");

    let got = gateway.received();
    assert_eq!(got.len(), 2 * PERSONS);
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for m in &got {
        *per_message.entry(m.id().to_string()).or_default() += 1;
    }
    assert!(per_message.values().all(|&n| n == 1), "a message reached the gateway twice");
    let mut per_person: HashMap<String, usize> = HashMap::new();
    for m in &got {
        *per_person.entry(m.to().to_string()).or_default() += 1;
    }
    assert_eq!(per_person.len(), PERSONS);
    assert!(per_person.values().all(|&n| n == 2), "each person: one call and one repeat");
    let calls = a.store.calls_of_alert(accepted.id).await.unwrap();
    assert!(calls.iter().all(|c| c.call.attempts == 2));
    a.store.close().await;
    b.store.close().await;
}
both_backends!(two_instances_repeat_each_call_once);
