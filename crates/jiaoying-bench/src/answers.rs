//! Answer throughput: SMS replies with reply codes through the tracker (the path behind the
//! generic reply hook, without HTTP), from N concurrent senders (each sends its next reply when
//! the previous one was answered), one reply per open call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use jiaoying_core::token::TokenSigner;
use jiaoying_core::{Clock, Registry, SystemClock};
use jiaoying_dispatch::AddressKind;
use jiaoying_tracker::{Composer, Tracker, TrackerConfig};

/// What a run sends: `calls` open calls, answered by `senders` concurrent senders.
#[derive(Clone, Copy)]
pub struct Load {
    pub calls: usize,
    pub senders: usize,
}

pub struct Answers {
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

fn registry(calls: usize) -> Registry {
    crate::flat::registry(calls, "a", "1360")
}

pub async fn run(url: &str, load: Load) -> anyhow::Result<Answers> {
    let Load { calls, senders } = load;
    let store = jiaoying_store::connect(url).await?;
    store.migrate().await?;
    let reg = registry(calls);
    store.upsert_registry(&reg, SystemClock.now().millis()).await?;
    let composer = Composer::new(
        TokenSigner::new(b"bench"),
        "http://bench",
        "叫应",
        BTreeMap::from([("sms".to_string(), AddressKind::Mobile)]),
    );
    let tracker = Tracker::new(
        store.clone(),
        Arc::new(SystemClock),
        TrackerConfig {
            policies: jiaoying_core::Policies::new(BTreeMap::new(), &["sms".into()]),
            composer,
            batch: 500,
            late_answer_closes_escalation: true,
            directives: vec![],
        },
        Arc::new(tokio::sync::Notify::new()),
    );
    let body = r#"{"identifier": "ans", "sender": "bench", "sent": "2026-07-01T08:00:00+08:00", "event": "暴雨",
        "tier": "red", "areas": [{"code": "500105002"}]}"#;
    let alert = jiaoying_ingest::parse_json_alert(body.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let accepted = tracker.accept(&alert, "bench", body).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mobile: BTreeMap<String, String> =
        reg.persons.iter().map(|p| (p.id.as_str().to_string(), p.mobile.as_str().to_string())).collect();
    let replies: Vec<(String, String)> = store
        .calls_of_alert(accepted.id)
        .await?
        .into_iter()
        .map(|c| (mobile[&c.call.person_id].clone(), c.call.reply_code.clone()))
        .collect();
    let replies = Arc::new(replies);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let (t, replies) = (tracker.clone(), replies.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for (i, (from, code)) in replies.iter().enumerate().filter(|(i, _)| i % senders == s) {
                let t0 = Instant::now();
                t.sms_reply("sms", from, code, Some(&format!("in-{i}"))).await.expect("reply");
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    store.close().await;
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    Ok(Answers { per_sec: lat.len() as f64 / elapsed, p50_ms: pct(0.5), p99_ms: pct(0.99) })
}
