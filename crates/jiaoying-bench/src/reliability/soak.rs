//! Sustained load: alerts every few seconds, most calls answered by SMS reply through the reply
//! hook (the rest repeat and escalate), board readers with an API token, and the instance's
//! resident memory sampled from `/proc`. Every response is checked; any error is reported.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::proc::{free_port, Instance};
use super::world::{self, percentile, Backend, Db, Quiet, RegistryText, STREET};
use super::{Ctx, Finding};
use crate::fanout::sink::Sink;

const COMMUNITIES: usize = 5;
const PER_COMMUNITY: usize = 40;
const ALERT_EVERY: Duration = Duration::from_secs(5);
const READERS: usize = 3;

fn registry() -> anyhow::Result<jiaoying_core::Registry> {
    let mut r = RegistryText::default();
    r.area(STREET, None);
    for c in 1..=COMMUNITIES {
        let comm = format!("{STREET}{c:03}");
        r.area(&comm, Some(STREET));
        let head = format!("head-{c}");
        r.person(&head, &format!("1390{c:07}"), "community", &comm, None);
        for i in 0..PER_COMMUNITY {
            r.person(&format!("g-{c}-{i}"), &format!("1380{:07}", c * 1000 + i), "grid", &comm, Some(&head));
        }
    }
    r.build()
}

const POLICY: &str =
    "[policy.red]\nroles = [\"grid\"]\nchannels = [\"sms\"]\nanswer_within = \"20s\"\nrepeats = 1\nescalate = true\n";

/// Responses of one kind of request: count, latency, and the errors (status or transport).
#[derive(Default)]
struct Tally {
    ok: usize,
    latencies_ms: Vec<f64>,
    errors: Vec<String>,
}

#[derive(Default)]
struct Tallies(Mutex<BTreeMap<&'static str, Tally>>);

impl Tallies {
    fn record(&self, kind: &'static str, started: Instant, outcome: Result<u16, String>, want: &[u16]) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut all = self.0.lock().expect("tally lock");
        let t = all.entry(kind).or_default();
        t.latencies_ms.push(ms);
        match outcome {
            Ok(s) if want.contains(&s) => t.ok += 1,
            Ok(s) => t.errors.push(format!("status {s}")),
            Err(e) => t.errors.push(e),
        }
    }
}

/// Answers the call of a message, or leaves it to repeat and escalate: one message in ten is left
/// (by a hash of its id, so a run is repeatable).
fn answer_it(id: &str) -> bool {
    id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32)) % 10 != 0
}

pub async fn sustained(ctx: &Ctx, backend: Backend) -> anyhow::Result<Finding> {
    let duration = ctx.soak;
    let tried = format!(
        "{} s of load on one instance: a red alert every {} s to one of {COMMUNITIES} communities ({PER_COMMUNITY} \
         grid workers each; 20 s to answer, 1 repeat, then the community head); 9 in 10 messages with a reply code \
         answered by signed SMS reply to /hooks/sms/sms (a call skipped at its first message may be answered at \
         its repeat); {READERS} board readers (viewer API token from `jiaoying token add`) reading \
         /, /alerts/ID, /api/v1/board/now, /api/v1/alerts, /api/v1/alerts/ID/calls; VmRSS every 5 s",
        duration.as_secs(),
        ALERT_EVERY.as_secs()
    );
    println!("\n## sustained load ({})\ntried: {tried}", backend.name());
    let sink = Arc::new(Sink::start(world::SMS_SECRET)?);
    let db = Db::fresh(backend, ctx.pg_admin.as_deref(), ctx.dir.path(), "soak").await?;
    let result = async {
        db.seed(&registry()?).await?;
        let channels = world::sms_channel("sms", &sink.url("/sms"), &[]);
        let dir = ctx.scenario_dir(&format!("soak-{}", backend.name()))?;
        let cfg = world::config(&dir, &db.url, &channels, POLICY, ctx.outbox_batch)?;
        let token = ctx.bin.token_add(&cfg, "reliability-reader", "viewer").await?;
        let mut inst = Instance::start(&ctx.bin, &cfg, free_port()?, &dir, "solo").await?;
        let base = inst.base();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let tallies = Arc::new(Tallies::default());
        let latest = Arc::new(AtomicI64::new(0));
        let end = Instant::now() + duration;
        let mut tasks = tokio::task::JoinSet::new();

        // Alerts.
        {
            let (client, base, tallies, latest) = (client.clone(), base.clone(), tallies.clone(), latest.clone());
            tasks.spawn(async move {
                let mut i = 0usize;
                while Instant::now() < end {
                    let area = format!("{STREET}{:03}", i % COMMUNITIES + 1);
                    let body = world::alert_json(&format!("soak-{i}"), "red", &area);
                    let t = Instant::now();
                    let outcome = match world::post_alert(&client, &base, body).await {
                        Ok((s, v)) => {
                            if s == 201 {
                                latest.store(v["id"].as_i64().unwrap_or(0), Ordering::Relaxed);
                            }
                            Ok(s)
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    tallies.record("POST /api/v1/alerts", t, outcome, &[201]);
                    i += 1;
                    tokio::time::sleep(ALERT_EVERY).await;
                }
            });
        }
        // Answers, through the reply hook, as a gateway would forward them.
        {
            let (client, base, tallies, sink) = (client.clone(), base.clone(), tallies.clone(), sink.clone());
            tasks.spawn(async move {
                let mut seen = 0usize;
                let mut answered = HashSet::new();
                while Instant::now() < end {
                    let new = sink.messages(seen);
                    seen += new.len();
                    for m in new {
                        let Some(code) = m.code else { continue };
                        if !answer_it(&m.id) || !answered.insert((m.to.clone(), code.clone())) {
                            continue;
                        }
                        let body = serde_json::json!({"from": m.to, "text": code, "id": format!("r-{}", m.id)}).to_string();
                        let sig = jiaoying_dispatch::sms_webhook::sign(world::SMS_SECRET.as_bytes(), body.as_bytes());
                        let t = Instant::now();
                        let r = client
                            .post(format!("{base}/hooks/sms/sms"))
                            .header("x-jiaoying-signature", sig)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await;
                        let outcome = r.map(|r| r.status().as_u16()).map_err(|e| e.to_string());
                        tallies.record("POST /hooks/sms/sms (answer)", t, outcome, &[200]);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
        // Board readers.
        for reader in 0..READERS {
            let (client, base, tallies, latest, token) =
                (client.clone(), base.clone(), tallies.clone(), latest.clone(), token.clone());
            tasks.spawn(async move {
                let mut round = reader;
                while Instant::now() < end {
                    let id = latest.load(Ordering::Relaxed);
                    let (kind, path): (&'static str, String) = match round % 5 {
                        0 => ("GET / (board page)", "/".into()),
                        1 => ("GET /api/v1/board/now", "/api/v1/board/now".into()),
                        2 => ("GET /api/v1/alerts", "/api/v1/alerts?limit=20".into()),
                        3 if id > 0 => ("GET /alerts/ID (page)", format!("/alerts/{id}")),
                        4 if id > 0 => ("GET /api/v1/alerts/ID/calls", format!("/api/v1/alerts/{id}/calls")),
                        _ => ("GET /api/v1/alerts", "/api/v1/alerts?limit=20".into()),
                    };
                    let t = Instant::now();
                    let r = client.get(format!("{base}{path}")).bearer_auth(&token).send().await;
                    let outcome = match r {
                        // Read the whole body: a reader that stops early is not a reader.
                        Ok(r) => {
                            let s = r.status().as_u16();
                            r.bytes().await.map(|_| s).map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    tallies.record(kind, t, outcome, &[200]);
                    round += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
        }
        // Memory.
        let mut rss: Vec<(Duration, u64)> = Vec::new();
        let started = Instant::now();
        while Instant::now() < end {
            if let Some(kib) = inst.rss_kib() {
                rss.push((started.elapsed(), kib));
            }
            tokio::time::sleep(Duration::from_secs(5).min(end.saturating_duration_since(Instant::now()))).await;
        }
        if let Some(kib) = inst.rss_kib() {
            rss.push((started.elapsed(), kib));
        }
        while let Some(r) = tasks.join_next().await {
            r?;
        }
        // The last calls still wait for their deadlines; let them play out, then check them all.
        let store = db.store().await?;
        let (alerts, _) = store.list_alerts(&jiaoying_store::AlertFilter { state: None, limit: 1_000_000, offset: 0 }).await?;
        let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();
        let settled = world::settle(store.as_ref(), &ids, Quiet::Everything, Duration::from_secs(300)).await;
        store.close().await;
        let alive = inst.rss_kib().is_some();
        let errors_logged = inst.error_lines();
        let exit = inst.stop(Duration::from_secs(30)).await?;

        let mut found = Vec::new();
        let mut ok = alive;
        let mut error_total = 0;
        {
            let all = tallies.0.lock().expect("tally lock");
            for (kind, t) in all.iter() {
                let mut l = t.latencies_ms.clone();
                l.sort_by(|a, b| a.total_cmp(b));
                error_total += t.errors.len();
                let mut line = format!(
                    "{kind}: {} ok, {} errors, p50 {:.1} ms, p99 {:.1} ms",
                    t.ok,
                    t.errors.len(),
                    percentile(&l, 0.5),
                    percentile(&l, 0.99)
                );
                if !t.errors.is_empty() {
                    line.push_str(&format!(" (e.g. {:?})", &t.errors[..t.errors.len().min(3)]));
                }
                found.push(line);
            }
        }
        ok &= error_total == 0;
        let (first, last) = (rss.first().map(|r| r.1).unwrap_or(0), rss.last().map(|r| r.1).unwrap_or(0));
        let max = rss.iter().map(|r| r.1).max().unwrap_or(0);
        // Flat: after the first quarter (warm-up: caches, pools, the first alerts' rows) the
        // resident set grows by less than 10 % or 8 MiB, whichever is larger.
        let quarter = rss.iter().find(|r| r.0 >= duration / 4).map(|r| r.1).unwrap_or(first);
        let growth = last.saturating_sub(quarter);
        let flat = growth as f64 <= (quarter as f64 * 0.10).max(8.0 * 1024.0);
        ok &= flat;
        let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
        found.push(format!(
            "VmRSS ({} samples): first {}, at a quarter {}, last {}, max {}; after the first quarter {} {} — {}",
            rss.len(),
            mib(first),
            mib(quarter),
            mib(last),
            mib(max),
            if last >= quarter { "grew" } else { "shrank" },
            mib(last.abs_diff(quarter)),
            if flat { "flat" } else { "NOT flat" }
        ));
        let c = sink.counts();
        found.push(format!(
            "gateway: {} distinct SMS, {} duplicates, {} bad signatures",
            c.sms, c.sms_duplicates, c.sms_invalid
        ));
        ok &= c.sms_invalid == 0;
        match settled {
            Ok(s) => {
                let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
                for call in &s.calls {
                    *by_state.entry(call.state.as_str()).or_default() += 1;
                }
                let unsent = s.messages.iter().filter(|m| m.state != "sent" && m.state != "delivered").count();
                found.push(format!(
                    "{} alerts, {} calls by state {by_state:?}; {unsent} messages not sent; settled {:.1} s after the load stopped",
                    ids.len(),
                    s.calls.len(),
                    s.waited.as_secs_f64()
                ));
                ok &= unsent == 0;
            }
            Err(e) => {
                found.push(format!("database: {e:#}"));
                ok = false;
            }
        }
        found.push(format!(
            "instance {} at the end; stopped by SIGTERM: {exit:?}; {} ERROR lines in its log{}",
            if alive { "alive" } else { "GONE" },
            errors_logged.len(),
            errors_logged.first().map(|l| format!(" (first: {l})")).unwrap_or_default()
        ));
        let summary = format!(
            "{error_total} error responses; RSS first {} / last {} / max {} ({})",
            mib(first),
            mib(last),
            mib(max),
            if flat { "flat" } else { "NOT flat" }
        );
        Ok(Finding::new("sustained load", backend, tried, found, ok, summary))
    }
    .await;
    db.drop_pg().await;
    result
}
