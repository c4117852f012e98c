//! `cargo run --release -p jiaoying-bench -- fanout [--persons N] [--latency-alerts M] [--runs R]`
//!
//! Dispatch fan-out, end to end: the real service (`jiaoying::Application`, its HTTP listener,
//! outbox and timer loops) with one SMS channel pointing at a loopback sink that checks every
//! signature: the SPEC's `sms-webhook` (one request a message) and `aliyun-sms` through
//! SendBatchSms (100 numbers a request, V3-signed), `--gateway webhook|aliyun|both`. One red JSON
//! alert is POSTed to `/api/v1/alerts` and reaches N grid workers (a generated registry); measured
//! are the POST's answer (accept: the alert and every chunk of its calls and messages committed)
//! and the time until the sink has N distinct, validly signed messages. Then M small
//! alerts (5 persons each), one after another, give POST → first SMS at the gateway. On SQLite and,
//! when `JIAOYING_BENCH_PG_URL` or `JIAOYING_TEST_PG_URL` is set, PostgreSQL. In the same run
//! Prometheus Alertmanager delivers N webhooks (one group per person) to the same kind of sink.

mod alertmanager;
mod dysms;
pub(crate) mod sink;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiaoying::{Application, Settings};
use jiaoying_core::registry::{Area, Person, Role};
use jiaoying_core::{AreaCode, Clock, MobileNumber, PersonId, SystemClock};
use sink::{Route, Sink};
use sqlx::Connection;

const SMS_SECRET: &str = "bench-sms-secret";
pub(crate) const SOURCE_TOKEN: &str = "bench-source-token-0123456789";
/// The street every fan-out person is in (flat::registry's).
const STREET: &str = "500105002";
/// A second street with the few persons the latency alerts reach.
const LATENCY_STREET: &str = "500105003";
const LATENCY_PERSONS: usize = 5;

struct Options {
    persons: usize,
    latency_alerts: usize,
    /// Runs of each jiaoying row (backends alternating); the median by total time is reported.
    runs: usize,
    jiaoying: bool,
    alertmanager: bool,
    gateways: Vec<Gateway>,
}

/// How the service hands SMS to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gateway {
    /// The SPEC's generic signed webhook: one HTTP request per message.
    Webhook,
    /// Aliyun's SendBatchSms, V3-signed: up to 100 numbers (each with its own code) a request.
    AliyunBatch,
}

impl Gateway {
    fn label(self) -> &'static str {
        match self {
            Gateway::Webhook => "sms-webhook",
            Gateway::AliyunBatch => "aliyun-sms, 100 a request",
        }
    }
}

const USAGE: &str = "usage: fanout [--persons N] [--latency-alerts M] [--runs R] [--gateway webhook|aliyun|both] \
                     [--no-alertmanager | --only-alertmanager]";

fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        persons: 20_000,
        latency_alerts: 200,
        runs: 1,
        jiaoying: true,
        alertmanager: true,
        gateways: vec![Gateway::Webhook, Gateway::AliyunBatch],
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> anyhow::Result<usize> {
            let v = it.next().ok_or_else(|| anyhow::anyhow!("{name} needs a number"))?;
            v.parse().map_err(|_| anyhow::anyhow!("{name}: {v:?} is not a number"))
        };
        match a.as_str() {
            "--persons" => o.persons = number("--persons")?,
            "--latency-alerts" => o.latency_alerts = number("--latency-alerts")?,
            "--runs" => o.runs = number("--runs")?,
            "--gateway" => {
                o.gateways = match it.next().map(String::as_str) {
                    Some("webhook") => vec![Gateway::Webhook],
                    Some("aliyun") => vec![Gateway::AliyunBatch],
                    Some("both") => vec![Gateway::Webhook, Gateway::AliyunBatch],
                    other => anyhow::bail!("--gateway takes webhook, aliyun or both, not {other:?}"),
                }
            }
            "--no-alertmanager" => o.alertmanager = false,
            "--only-alertmanager" => o.jiaoying = false,
            other => anyhow::bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    anyhow::ensure!(o.persons > 0, "--persons must be at least 1");
    anyhow::ensure!(o.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(o.jiaoying || o.alertmanager, "nothing to run; {USAGE}");
    Ok(o)
}

fn registry(persons: usize) -> anyhow::Result<jiaoying_core::Registry> {
    let mut r = crate::flat::registry(persons, "p", "1380");
    let street = AreaCode::parse(LATENCY_STREET).map_err(anyhow::Error::msg)?;
    r.areas.push(Area { code: street.clone(), name: "另一街道".into(), parent: None, polygon: None });
    for i in 0..LATENCY_PERSONS {
        r.persons.push(Person {
            id: PersonId::parse(&format!("lat-{i}")).map_err(anyhow::Error::msg)?,
            name: format!("值守网格员{i}"),
            mobile: MobileNumber::parse(&format!("1390{i:07}")).map_err(anyhow::Error::msg)?,
            email: None,
            roles: vec![Role::parse("grid").map_err(anyhow::Error::msg)?],
            area: street.clone(),
            superior: None,
        });
    }
    Ok(r)
}

/// The part of a benchmark service's config every benchmark shares: loopback listener, database,
/// secret, the alert source; the benchmark adds its channels and policy.
pub(crate) fn service_toml(db_url: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://jiaoying.bench"
[database]
url = "{db_url}"
[security]
secret = "bench-secret-that-signs-answer-links"
[messages]
signature = "观音桥街道"
[[sources]]
id = "bench"
token = "{SOURCE_TOKEN}"
"#
    )
}

/// The SMS channel's table for `gateway` at the sink `sink_base` (`http://host:port`).
fn channel_toml(gateway: Gateway, sink_base: &str) -> String {
    match gateway {
        Gateway::Webhook => format!(
            r#"kind = "sms-webhook"
url = "{sink_base}/sms"
secret = "{SMS_SECRET}"
# A deployment built for big fast fan-outs raises the default (12) and accepts that a crash may
# repeat up to twice this many messages (docs/adr/0018); the figures since 2026-11-28 use 32.
concurrency = 32"#
        ),
        // Aliyun refuses URLs in template values: the template holds the link's fixed part and
        // takes the call's token, with its reply code.
        Gateway::AliyunBatch => format!(
            r#"kind = "aliyun-sms"
url = "{sink_base}/aliyun"
access_key_id = "{}"
access_key_secret = "{SMS_SECRET}"
sign_name = "观音桥街道"
template_code = "SMS_153055065"
template_params = ["code", "token"]
batch_size = 100
concurrency = 10"#,
            dysms::ACCESS_KEY_ID
        ),
    }
}

fn settings(db_url: &str, sink_base: &str, gateway: Gateway) -> anyhow::Result<Settings> {
    // Nobody answers during the run, and no deadline falls inside it: the timers stay quiet.
    let toml = format!(
        r#"{}
[channels.sms]
{}
[policy.red]
roles = ["grid"]
channels = ["sms"]
answer_within = "1h"
repeats = 0
escalate = false
"#,
        service_toml(db_url),
        channel_toml(gateway, sink_base)
    );
    Ok(toml::from_str(&toml)?)
}

pub(crate) fn alert(identifier: &str, area: &str) -> String {
    serde_json::json!({
        "identifier": identifier,
        "sender": "cq@cma.gov.cn",
        "sent": "2026-07-01T08:00:00+08:00",
        "msg_type": "Alert",
        "event": "暴雨",
        "tier": "red",
        "headline": "江北区气象台发布暴雨红色预警",
        "description": "预计未来3小时降雨量将达100毫米以上",
        "instruction": "停止户外作业，转移危险区域人员",
        "areas": [{"code": area}]
    })
    .to_string()
}

/// One backend's figures.
struct JyFigures {
    /// POST sent → its answer (the alert, its calls and messages committed).
    accept: Duration,
    /// POST sent → first SMS at the sink.
    first: Duration,
    /// POST sent → the N-th distinct SMS at the sink.
    all: Duration,
    /// Per small alert: POST → answer, POST → first SMS (ms).
    latency_post: Vec<f64>,
    latency_first: Vec<f64>,
    /// One read of the whole registry (what every accept does first), median of 5, after the run.
    registry_read: Duration,
    counts: sink::SinkCounts,
}

impl JyFigures {
    fn rate(&self, persons: usize) -> f64 {
        persons as f64 / self.all.as_secs_f64()
    }
    fn drain(&self) -> Duration {
        self.all.saturating_sub(self.accept)
    }
}

pub(crate) async fn post(client: &reqwest::Client, base: &str, body: String) -> anyhow::Result<serde_json::Value> {
    let r = client
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(SOURCE_TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    anyhow::ensure!(status.as_u16() == 201, "alert POST answered {status}: {v}");
    Ok(v)
}

async fn run_jiaoying(db_url: &str, o: &Options, gateway: Gateway) -> anyhow::Result<JyFigures> {
    let sink = Sink::start(SMS_SECRET)?;
    let store = jiaoying_store::connect(db_url).await?;
    store.migrate().await?;
    store.upsert_registry(&registry(o.persons)?, SystemClock.now().millis()).await?;
    let app =
        Application::build_with_store(&settings(db_url, &sink.url(""), gateway)?, store, Arc::new(SystemClock)).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = app.handle();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let result = measure(&base, &sink, o).await;
    // Where the small alerts' time goes: every accept reads the whole registry first.
    let mut reads = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        handle.store.load_registry().await?;
        reads.push(t0.elapsed());
    }
    reads.sort();
    let _ = stop.send(());
    task.await??;
    let (accept, first, all, latency_post, latency_first) = result?;
    Ok(JyFigures {
        accept,
        first,
        all,
        latency_post,
        latency_first,
        registry_read: reads[reads.len() / 2],
        counts: sink.counts(),
    })
}

type Measured = (Duration, Duration, Duration, Vec<f64>, Vec<f64>);

async fn measure(base: &str, sink: &Sink, o: &Options) -> anyhow::Result<Measured> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(900)).build()?;
    let since = |t0: Instant, i: usize| sink.arrival(Route::Sms, i).map(|t| t.saturating_duration_since(t0));

    // The fan-out.
    let t0 = Instant::now();
    let v = post(&client, base, alert("fanout-1", STREET)).await?;
    let accept = t0.elapsed();
    anyhow::ensure!(v["calls"].as_u64() == Some(o.persons as u64), "the alert made {} calls", v["calls"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    sink.wait_for(Route::Sms, o.persons, deadline).await?;
    let first = since(t0, 0).unwrap_or_default();
    let all = since(t0, o.persons - 1).unwrap_or_default();

    // Latency: small alerts one after another, each waited for in full before the next, so the
    // next distinct arrival after the count taken before a POST is that alert's first SMS.
    let mut latency_post = Vec::with_capacity(o.latency_alerts);
    let mut latency_first = Vec::with_capacity(o.latency_alerts);
    for i in 0..o.latency_alerts {
        let before = sink.count(Route::Sms);
        let t0 = Instant::now();
        let v = post(&client, base, alert(&format!("latency-{i}"), LATENCY_STREET)).await?;
        latency_post.push(t0.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(v["calls"].as_u64() == Some(LATENCY_PERSONS as u64), "latency alert made {}", v["calls"]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        sink.wait_for(Route::Sms, before + LATENCY_PERSONS, deadline).await?;
        latency_first.push(since(t0, before).unwrap_or_default().as_secs_f64() * 1000.0);
    }
    Ok((accept, first, all, latency_post, latency_first))
}

async fn fresh_pg_run(admin: &str, o: &Options, gateway: Gateway) -> anyhow::Result<JyFigures> {
    let (url, name) = crate::fresh_pg(admin).await?;
    let result = run_jiaoying(&url, o, gateway).await;
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
    result
}

/// Adds a run to the `slot`-th row (created by the first round).
fn push_run(runs: &mut Vec<(String, Vec<JyFigures>)>, slot: usize, name: String, figures: JyFigures) {
    match runs.get_mut(slot) {
        Some((_, all)) => all.push(figures),
        None => runs.push((name, vec![figures])),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

pub async fn report(args: &[String]) -> anyhow::Result<()> {
    let o = options(args)?;
    let load_before = load_average();
    let dir = tempfile::tempdir()?;
    let mut rows: Vec<(String, JyFigures)> = Vec::new();
    let pg_admin = std::env::var("JIAOYING_BENCH_PG_URL").or_else(|_| std::env::var("JIAOYING_TEST_PG_URL")).ok();
    if o.jiaoying && pg_admin.is_none() {
        eprintln!("note: JIAOYING_BENCH_PG_URL / JIAOYING_TEST_PG_URL not set; PostgreSQL skipped");
    }
    // Each row's runs, the backends taking turns, so that a noisy moment of the machine does not
    // fall on one row's every run.
    let mut runs: Vec<(String, Vec<JyFigures>)> = Vec::new();
    for round in 0..o.runs {
        let mut slot = 0;
        for &gateway in o.gateways.iter().filter(|_| o.jiaoying) {
            let db = dir.path().join(format!("fanout-{round}-{slot}.db"));
            let sqlite = run_jiaoying(&format!("sqlite://{}", db.display()), &o, gateway).await?;
            push_run(&mut runs, slot, format!("jiaoying, SQLite, {}", gateway.label()), sqlite);
            slot += 1;
            if let Some(admin) = &pg_admin {
                let pg = fresh_pg_run(admin, &o, gateway).await?;
                push_run(&mut runs, slot, format!("jiaoying, PostgreSQL, {}", gateway.label()), pg);
                slot += 1;
            }
        }
    }
    let mut totals: Vec<(String, Vec<Duration>)> = Vec::new();
    for (name, mut figures) in runs {
        figures.sort_by_key(|f| f.all);
        totals.push((name.clone(), figures.iter().map(|f| f.all).collect()));
        rows.push((name, figures.swap_remove(figures.len() / 2)));
    }
    let am = if o.alertmanager { alertmanager::run(o.persons).await? } else { None };
    let load_after = load_average();

    let n = o.persons;
    println!("One red alert reaching {n} persons → {n} signed SMS at a loopback sink; one machine, one run");
    if o.runs > 1 {
        println!(
            "jiaoying rows: the median of {} runs by total time (backends taking turns); each run's total:",
            o.runs
        );
        for (name, all) in &totals {
            println!("- {name}: {}", all.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", "));
        }
    }
    println!("load average before / after: {load_before} / {load_after}\n");
    println!(
        "| system | accept (POST answered) | first message at sink | drain after accept | all {n} at sink | msg/s | \
         / Alertmanager |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let am_rate = am.as_ref().map(|a| n as f64 / a.all.as_secs_f64());
    let ratio = |r: f64| am_rate.map(|a| format!("{:.2}", r / a)).unwrap_or_else(|| "-".into());
    for (name, f) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} | {:.0} | {} |",
            ms(f.accept),
            ms(f.first),
            ms(f.drain()),
            ms(f.all),
            f.rate(n),
            ratio(f.rate(n))
        );
    }
    if let Some(a) = &am {
        println!(
            "| {} (memory only) | {} (all {} batches posted) | {} | {} | {} | {:.0} | 1.00 |",
            a.version,
            ms(a.post),
            n.div_ceil(alertmanager::BATCH),
            ms(a.first),
            ms(a.all.saturating_sub(a.post)),
            ms(a.all),
            n as f64 / a.all.as_secs_f64()
        );
    }

    if !rows.is_empty() {
        println!("\nThe two phases of jiaoying's fan-out, each as a rate of its own:\n");
        println!("| backend | accept: calls created per second | drain: messages per second after accept |");
        println!("| --- | ---: | ---: |");
        for (name, f) in &rows {
            println!(
                "| {name} | {:.0} calls/s | {:.0} msg/s |",
                n as f64 / f.accept.as_secs_f64(),
                n as f64 / f.drain().as_secs_f64()
            );
        }
    }

    println!("\nChecks at the sink:");
    for (name, f) in &rows {
        let c = f.counts;
        let requests = if c.aliyun_requests > 0 {
            format!(" in {} SendBatchSms/SendSms requests", c.aliyun_requests)
        } else {
            String::new()
        };
        println!(
            "- {name}: {} distinct validly signed SMS (fan-out and latency alerts){requests}, {} bad signatures, \
             {} duplicates, {} malformed",
            c.sms, c.sms_invalid, c.sms_duplicates, c.sms_malformed
        );
    }
    if let Some(a) = &am {
        println!(
            "- Alertmanager: {} distinct persons in {} webhooks, {} duplicates, {} malformed",
            a.persons, a.webhooks, a.duplicates, a.malformed
        );
    }

    if o.latency_alerts > 0 && !rows.is_empty() {
        println!(
            "\n{} alerts of {LATENCY_PERSONS} persons each, one after another (after the fan-out): \
             alert POST → its answer, and → first SMS at the sink; and one read of the registry \
             ({} persons), which every accept does first\n",
            o.latency_alerts,
            n + LATENCY_PERSONS
        );
        println!("| backend | POST answered p50 | p99 | first SMS p50 | p99 | max | registry read |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (name, f) in &rows {
            let mut post = f.latency_post.clone();
            let mut first = f.latency_first.clone();
            post.sort_by(|a, b| a.total_cmp(b));
            first.sort_by(|a, b| a.total_cmp(b));
            println!(
                "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
                percentile(&post, 0.5),
                percentile(&post, 0.99),
                percentile(&first, 0.5),
                percentile(&first, 0.99),
                first.last().copied().unwrap_or(f64::NAN),
                f.registry_read.as_secs_f64() * 1000.0
            );
        }
    }

    println!("\nTargets:");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    for (name, f) in &rows {
        let sqlite = name.contains("SQLite");
        let (rate, want) = if sqlite { (f.rate(n), 25_000.0) } else { (f.rate(n), 20_000.0) };
        println!("- {name} ≥ {want:.0} msg/s: {rate:.0} — {}", verdict(rate >= want));
        if let (Some(a), true) = (am_rate, sqlite) {
            println!("- {name} ≥ 3 × Alertmanager: {:.2} × — {}", rate / a, verdict(rate >= 3.0 * a));
        }
        if o.latency_alerts > 0 {
            let mut first = f.latency_first.clone();
            first.sort_by(|a, b| a.total_cmp(b));
            let p99 = percentile(&first, 0.99);
            println!("- {name}: alert POST → first SMS p99 < 50 ms: {p99:.1} ms — {}", verdict(p99 < 50.0));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_refuse_nonsense() {
        let args = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let o = options(&args(&["--persons", "500", "--latency-alerts", "10", "--no-alertmanager", "--runs", "3"]))
            .unwrap();
        assert_eq!((o.persons, o.latency_alerts, o.jiaoying, o.alertmanager, o.runs), (500, 10, true, false, 3));
        assert!(options(&args(&["--runs", "0"])).is_err());
        assert_eq!(o.gateways, [Gateway::Webhook, Gateway::AliyunBatch]);
        assert_eq!(options(&args(&["--gateway", "aliyun"])).unwrap().gateways, [Gateway::AliyunBatch]);
        assert!(options(&args(&["--gateway", "smoke-signal"])).is_err());
        let d = options(&[]).unwrap();
        assert_eq!((d.persons, d.latency_alerts, d.jiaoying, d.alertmanager, d.runs), (20_000, 200, true, true, 1));
        assert!(!options(&args(&["--only-alertmanager"])).unwrap().jiaoying);
        assert!(options(&args(&["--only-alertmanager", "--no-alertmanager"])).is_err());
        assert!(options(&args(&["--persons"])).is_err());
        assert!(options(&args(&["--persons", "x"])).is_err());
        assert!(options(&args(&["--persons", "0"])).is_err());
        assert!(options(&args(&["--what"])).is_err());
    }

    #[test]
    fn settings_are_valid_and_registry_has_both_streets() {
        for gateway in [Gateway::Webhook, Gateway::AliyunBatch] {
            let s = settings("sqlite::memory:", "http://127.0.0.1:1", gateway).unwrap();
            assert!(s.problems().is_empty(), "{gateway:?}: {:?}", s.problems());
        }
        let r = registry(3).unwrap();
        assert_eq!(r.persons.len(), 3 + LATENCY_PERSONS);
        assert_eq!(r.areas.len(), 2);
    }

    /// The whole measure on a small registry: every person's SMS arrives once, validly signed,
    /// and every latency alert is timed; through the webhook and through Aliyun's batch API.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_fanout_reaches_everyone_once() {
        for gateway in [Gateway::Webhook, Gateway::AliyunBatch] {
            small_fanout(gateway).await;
        }
    }

    async fn small_fanout(gateway: Gateway) {
        let dir = tempfile::tempdir().unwrap();
        let o =
            Options { persons: 240, latency_alerts: 3, runs: 1, jiaoying: true, alertmanager: false, gateways: vec![] };
        let f = run_jiaoying(&format!("sqlite://{}", dir.path().join("t.db").display()), &o, gateway).await.unwrap();
        assert_eq!(f.counts.sms, 240 + 3 * LATENCY_PERSONS, "{gateway:?}");
        match gateway {
            Gateway::Webhook => assert_eq!(f.counts.aliyun_requests, 0),
            // 240 numbers in batches of up to 100 (a claim may split one), then one per small alert.
            Gateway::AliyunBatch => assert!((6..=12).contains(&f.counts.aliyun_requests), "{:?}", f.counts),
        }
        assert_eq!((f.counts.sms_invalid, f.counts.sms_duplicates, f.counts.sms_malformed), (0, 0, 0));
        assert!(f.first <= f.all && f.accept <= f.all, "{:?} {:?} {:?}", f.accept, f.first, f.all);
        assert_eq!((f.latency_post.len(), f.latency_first.len()), (3, 3));
        assert!(f.latency_first.iter().all(|ms| *ms > 0.0));
        assert!(f.registry_read > Duration::ZERO);
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v[..1], 0.99), 1.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
