//! Timer lateness: 300 calls due at the same instant, on the wall clock, through the real loops
//! (timer step, outbox, signed webhook to a loopback gateway). Lateness is the time from each
//! call's deadline to the gateway receiving its repeat.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use jiaoying_core::registry::Role;
use jiaoying_core::token::TokenSigner;
use jiaoying_core::{Clock, Registry, Span, SystemClock, Tier, TierPolicy};
use jiaoying_dispatch::outbox::{Outbox, OutboxConfig};
use jiaoying_dispatch::{build_channels, AddressKind, ChannelSpec};
use jiaoying_tracker::{run_loop, Composer, Step, Tracker, TrackerConfig};

pub const CALLS: usize = 300;

fn registry() -> Registry {
    crate::flat::registry(CALLS, "g", "1370")
}

/// Lateness in milliseconds at the 50th and 99th percentile and the worst.
pub struct Lateness {
    pub p50: i64,
    pub p99: i64,
    pub max: i64,
}

pub async fn run(url: &str) -> anyhow::Result<Lateness> {
    // The gateway: records when each repeat arrives, by recipient.
    let arrivals: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().route(
        "/sms",
        post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if v["text"].as_str().is_some_and(|t| t.contains("第2次提醒")) {
                    let to = v["to"].as_str().unwrap_or("").to_string();
                    seen.lock().expect("lock").insert(to, SystemClock.now().millis());
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw = format!("http://{}/sms", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = jiaoying_store::connect(url).await?;
    store.migrate().await?;
    store.upsert_registry(&registry(), SystemClock.now().millis()).await?;
    let spec: ChannelSpec =
        serde_json::from_value(serde_json::json!({"kind": "sms-webhook", "url": gw, "secret": "bench"}))?;
    let channels =
        build_channels(&BTreeMap::from([("sms".to_string(), spec)])).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let composer = Composer::new(
        TokenSigner::new(b"bench"),
        "http://bench",
        "叫应",
        BTreeMap::from([("sms".to_string(), AddressKind::Mobile)]),
    );
    let policy = TierPolicy {
        roles: vec![Role::parse("grid").map_err(anyhow::Error::msg)?],
        channels: vec!["sms".into()],
        answer_within: Span::from_secs(3),
        repeats: 1,
        escalate: false,
        repeat_channels: None,
        escalation_channels: None,
        max_levels: None,
        repeat_intervals: vec![],
        level_delays: vec![],
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tracker = Tracker::new(
        store.clone(),
        clock.clone(),
        TrackerConfig {
            policies: jiaoying_core::Policies::new(BTreeMap::from([(Tier::Red, policy)]), &["sms".into()]),
            composer,
            batch: 500,
            late_answer_closes_escalation: true,
            directives: vec![],
        },
        Arc::new(tokio::sync::Notify::new()),
    );
    let outbox = Outbox::new(store.clone(), clock.clone(), channels, OutboxConfig::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let backstop = Duration::from_secs(2);
    let timers = {
        let (t, c, stop) = (tracker.clone(), clock.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let wake = t.timers_wake.clone();
            run_loop("timers", || t.timer_step(c.now()), || c.now().millis(), &wake, backstop, stop).await
        })
    };
    let sender = {
        let (o, c, wake, stop) = (outbox.clone(), clock.clone(), tracker.outbox_wake.clone(), stop_rx.clone());
        tokio::spawn(async move {
            run_loop(
                "outbox",
                || async { o.step(c.now()).await.map(Step::from) },
                || c.now().millis(),
                &wake,
                backstop,
                stop,
            )
            .await
        })
    };

    let body = r#"{"identifier": "late", "sender": "bench", "sent": "2026-07-01T08:00:00+08:00", "event": "暴雨",
        "tier": "red", "areas": [{"code": "500105002"}]}"#;
    let alert = jiaoying_ingest::parse_json_alert(body.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let accepted = tracker.accept(&alert, "bench", body).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(accepted.calls == CALLS, "{} calls", accepted.calls);

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while arrivals.lock().expect("lock").len() < CALLS {
        anyhow::ensure!(std::time::Instant::now() < deadline, "repeats did not all arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let _ = timers.await;
    let _ = sender.await;

    let registry = registry();
    let mobile_of: HashMap<&str, &str> = registry.persons.iter().map(|p| (p.id.as_str(), p.mobile.as_str())).collect();
    let arrivals = arrivals.lock().expect("lock").clone();
    let mut late: Vec<i64> = Vec::new();
    for c in store.calls_of_alert(accepted.id).await? {
        // The repeat was due at the first attempt's deadline, which is `created_at + answer_within`.
        let due = c.call.created_at + 3_000;
        let at = arrivals[mobile_of[c.call.person_id.as_str()]];
        late.push(at - due);
    }
    store.close().await;
    late.sort();
    let pct = |p: f64| late[((late.len() as f64 * p).ceil() as usize).saturating_sub(1).min(late.len() - 1)];
    Ok(Lateness { p50: pct(0.50), p99: pct(0.99), max: *late.last().unwrap_or(&0) })
}
