//! `cargo run --release -p jiaoying-bench -- answers [--calls N] [--senders S] [--rate R] [--seconds T] [--series]`
//!
//! Answers through the generic reply hook, end to end: the real service (`jiaoying::Application`:
//! its HTTP listener, hook authentication, the tracker, every background loop) takes signed
//! `POST /hooks/sms/{channel}` replies by reply code, one per call (each already sent, as the
//! fan-out leaves them: the benchmark waits for it), from a loopback client in
//! the same process. Two phases, on SQLite and (when `JIAOYING_BENCH_PG_URL` or
//! `JIAOYING_TEST_PG_URL` is set) PostgreSQL:
//!
//! - **offered load** (open loop): replies leave at a fixed rate (default 10 000 a second, for 3
//!   seconds) whatever the service does, each timed from the moment it was due to leave, so a
//!   service that falls behind shows it in the latency (no coordinated omission; 512 connections,
//!   a reply due while all are busy waits for one). This is the
//!   target's measure: that rate sustained, p99 ≤ 20 ms.
//! - **capacity** (closed loop): S senders each send their next reply when the previous one was
//!   answered; the rate they reach is the most the machine gives.
//!
//! The client is a lean HTTP/1.1 one (`raw_http`, requests built once as bytes, as `wrk` does), so
//! the two cores go to the service rather than to a general client's work.
//!
//! The confirmations the answers queue are held back by the channel's rate limit (one a second),
//! so the figures are of the answer path; sending messages is the fan-out benchmark's subject.
//! Every reply must come back `answered`, and afterwards every call must be answered.

mod raw_http;

use raw_http::Connection;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use jiaoying::{Application, Settings};
use jiaoying_core::{CallState, Clock, SystemClock};
use sha2::Sha256;
use sqlx::Connection as _;

const HOOK_SECRET: &str = "bench-hook-secret";

/// What a run sends.
#[derive(Clone, Copy)]
pub struct Load {
    /// Replies in the closed-loop phase.
    pub calls: usize,
    pub senders: usize,
    /// The open-loop phase's offered rate (replies a second) and length.
    pub rate: f64,
    pub seconds: f64,
    /// Print the offered phase's latency by quarter second (`--series`).
    pub series: bool,
    /// Which backends to run (`--only sqlite|postgres`): both by default.
    pub sqlite: bool,
    pub postgres: bool,
}

impl Default for Load {
    fn default() -> Self {
        Load { calls: 20_000, senders: 128, rate: 10_000.0, seconds: 3.0, series: false, sqlite: true, postgres: true }
    }
}

impl Load {
    fn open_replies(&self) -> usize {
        (self.rate * self.seconds).round() as usize
    }
}

/// One phase's figures.
pub struct Phase {
    pub replies: usize,
    /// Replies answered per second: all of them over the time from the first due to the last done.
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// CPU time per answer (service, database and the rest, load generator).
    pub cpu: Option<crate::cpu::PerUnit>,
    /// The open loop's latency by quarter second (empty for the closed loop).
    pub series: Vec<Window>,
}

/// A quarter second of the offered phase, by when its replies were due.
pub struct Window {
    pub from_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub struct Answers {
    pub offered: Phase,
    pub capacity: Phase,
}

fn settings(db_url: &str, sink_url: &str) -> anyhow::Result<Settings> {
    let toml = format!(
        r#"{}
# The calls go out at full speed before the answers start, as they would.
[channels.sms]
kind = "sms-webhook"
url = "{sink_url}"
secret = "{HOOK_SECRET}"
concurrency = 32
# The replies come in here, so their confirmations queue here and trickle out: the figures are
# of the answer path (sending is the fan-out benchmark's subject).
[channels.replies]
kind = "sms-webhook"
url = "{sink_url}"
secret = "{HOOK_SECRET}"
rate_per_sec = 1
[policy.red]
roles = ["grid"]
channels = ["sms"]
answer_within = "1h"
repeats = 0
escalate = false
"#,
        crate::fanout::service_toml(db_url)
    );
    Ok(toml::from_str(&toml)?)
}

/// A reply as a gateway posts it to the generic hook: body and its signature header.
fn signed_reply(from: &str, code: &str, id: usize) -> (String, String) {
    let body = serde_json::json!({"from": from, "text": code, "id": format!("in-{id}")}).to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    (body, format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
}

/// Posts one reply; Ok only when the service answered it as an answer to its call.
async fn reply(conn: &mut Connection, request: &[u8]) -> anyhow::Result<()> {
    let (status, body) = conn.exchange(request).await?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    anyhow::ensure!(status == 200 && v["result"] == "answered", "reply answered {status}: {v}");
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

fn phase(mut lat: Vec<f64>, elapsed: Duration) -> Phase {
    lat.sort_by(|a, b| a.total_cmp(b));
    Phase {
        replies: lat.len(),
        per_sec: lat.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        cpu: None,
        series: Vec::new(),
    }
}

/// Each reply as the request bytes a gateway sends.
type Replies = Arc<Vec<Vec<u8>>>;

/// Closed loop: `senders` connections, each with every `senders`-th reply, one after another.
async fn closed_loop(addr: SocketAddr, replies: Replies, senders: usize) -> anyhow::Result<Phase> {
    let mut conns = Vec::with_capacity(senders);
    for _ in 0..senders {
        conns.push(Connection::open(addr).await?);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (s, mut conn) in conns.into_iter().enumerate() {
        let replies = replies.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            for (i, request) in replies.iter().enumerate().filter(|(i, _)| i % senders == s) {
                let t0 = Instant::now();
                reply(&mut conn, request).await.map_err(|e| e.context(format!("reply {i}")))?;
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::new();
    while let Some(t) = tasks.join_next().await {
        lat.extend(t??);
    }
    Ok(phase(lat, started.elapsed()))
}

/// Connections of the open loop: a reply due while all are busy waits for one, its wait counted
/// in its latency.
const OPEN_CONNECTIONS: usize = 512;

/// Open loop: reply `i` is due at `start + i / rate` and leaves then (on the first free
/// connection), whatever came back before; its latency counts from when it was due.
async fn open_loop(addr: SocketAddr, replies: Replies, rate: f64) -> anyhow::Result<Phase> {
    let mut conns = Vec::with_capacity(OPEN_CONNECTIONS);
    for _ in 0..OPEN_CONNECTIONS.min(replies.len()) {
        conns.push(Connection::open(addr).await?);
    }
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let (replies, next) = (replies.clone(), next.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(request) = replies.get(i) else { break };
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due).await;
                reply(&mut conn, request).await.map_err(|e| e.context(format!("reply {i}")))?;
                lat.push((i, due.elapsed().as_secs_f64() * 1000.0));
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::with_capacity(replies.len());
    while let Some(t) = tasks.join_next().await {
        lat.extend(t??);
    }
    let series = series(&lat, rate);
    let mut phase = phase(lat.into_iter().map(|(_, l)| l).collect(), start.elapsed());
    phase.series = series;
    Ok(phase)
}

/// The offered phase in quarter seconds by when each reply was due: where in the run the tail
/// comes from (a checkpoint, the first seconds, all along).
fn series(lat: &[(usize, f64)], rate: f64) -> Vec<Window> {
    let per_window = ((rate / 4.0) as usize).max(1);
    let mut windows: Vec<Vec<f64>> = Vec::new();
    for &(i, ms) in lat {
        let w = i / per_window;
        if windows.len() <= w {
            windows.resize(w + 1, Vec::new());
        }
        windows[w].push(ms);
    }
    windows
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(|(w, mut v)| {
            v.sort_by(|a, b| a.total_cmp(b));
            Window {
                from_s: w as f64 / 4.0,
                p50_ms: percentile(&v, 0.5),
                p99_ms: percentile(&v, 0.99),
                max_ms: v[v.len() - 1],
            }
        })
        .collect()
}

/// Runs the load on its own OS thread and single-threaded runtime, as a gateway would be its own
/// process: the service's runtime schedules only the service's tasks.
async fn on_own_thread<F>(load: F) -> anyhow::Result<Phase>
where
    F: std::future::Future<Output = anyhow::Result<Phase>> + Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("bench-load".into()).spawn(move || {
        let (start, own_start) = (crate::cpu::Ticks::now(), crate::cpu::this_thread());
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(load))
            .map(|mut phase| {
                let own = crate::cpu::this_thread().saturating_sub(own_start);
                phase.cpu = crate::cpu::PerUnit::between(start, crate::cpu::Ticks::now(), own, phase.replies);
                phase
            });
        let _ = done.send(outcome);
    })?;
    result.await?
}

pub async fn run(db_url: &str, load: Load) -> anyhow::Result<Answers> {
    let total = load.calls + load.open_replies();
    let sink = crate::fanout::sink::Sink::start(HOOK_SECRET)?;
    let store = jiaoying_store::connect(db_url).await?;
    store.migrate().await?;
    let reg = crate::flat::registry(total, "a", "1360");
    store.upsert_registry(&reg, SystemClock.now().millis()).await?;
    let app =
        Application::build_with_store(&settings(db_url, &sink.url("/sms"))?, store, Arc::new(SystemClock)).await?;
    let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
    let handle = app.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let result = measure(addr, &handle, &sink, &reg, load).await;
    let _ = stop.send(());
    task.await??;
    result
}

async fn measure(
    addr: SocketAddr,
    handle: &jiaoying::AppHandle,
    sink: &crate::fanout::sink::Sink,
    reg: &jiaoying_core::Registry,
    load: Load,
) -> anyhow::Result<Answers> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let alert = crate::fanout::alert("answers-1", "500105002");
    let accepted = crate::fanout::post(&client, &format!("http://{addr}"), alert).await?;
    let alert_id = accepted["id"].as_i64().ok_or_else(|| anyhow::anyhow!("no alert id in {accepted}"))?;
    let mobile: std::collections::HashMap<&str, &str> =
        reg.persons.iter().map(|p| (p.id.as_str(), p.mobile.as_str())).collect();
    // Everyone has had the call (the outbox recorded it sent) before anyone answers.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    sink.wait_for(crate::fanout::sink::Route::Sms, reg.persons.len(), deadline).await?;
    loop {
        let counts = handle.store.call_counts(&[alert_id]).await?;
        if counts.iter().filter(|c| c.state == CallState::Sent).map(|c| c.n).sum::<i64>() as usize == reg.persons.len()
        {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "calls not all sent: {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = handle.store.calls_of_alert(alert_id).await?;
    anyhow::ensure!(calls.len() == reg.persons.len(), "{} calls for {} persons", calls.len(), reg.persons.len());
    let mut replies: Vec<Vec<u8>> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (body, signature) = signed_reply(mobile[c.call.person_id.as_str()], &c.call.reply_code, i);
            raw_http::post_json("/hooks/sms/replies", &[("X-Jiaoying-Signature", &signature)], &body)
        })
        .collect();
    let open = Arc::new(replies.split_off(load.calls));
    let closed = Arc::new(replies);
    let capacity = on_own_thread(closed_loop(addr, closed, load.senders)).await?;
    let offered = on_own_thread(open_loop(addr, open, load.rate)).await?;
    let counts = handle.store.call_counts(&[alert_id]).await?;
    let answered: i64 = counts.iter().filter(|c| c.state == CallState::Answered).map(|c| c.n).sum();
    anyhow::ensure!(answered as usize == calls.len(), "{answered} of {} calls answered", calls.len());
    Ok(Answers { offered, capacity })
}

/// The report: both phases on each backend.
pub async fn report(args: &[String]) -> anyhow::Result<()> {
    let load = options(args)?;
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    if load.sqlite {
        rows.push(("SQLite", run(&format!("sqlite://{}", dir.path().join("ans.db").display()), load).await?));
    }
    let pg_admin = std::env::var("JIAOYING_BENCH_PG_URL").or_else(|_| std::env::var("JIAOYING_TEST_PG_URL")).ok();
    if let (Some(admin), true) = (&pg_admin, load.postgres) {
        let (url, name) = crate::fresh_pg(admin).await?;
        let f = run(&url, load).await;
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
        rows.push(("PostgreSQL", f?));
    } else if load.postgres {
        eprintln!("note: JIAOYING_BENCH_PG_URL / JIAOYING_TEST_PG_URL not set; PostgreSQL skipped");
    }
    println!(
        "SMS replies by reply code through POST /hooks/sms/replies (signed, generic form), to calls already sent, the whole service; \
         load average {}\n",
        load_average()
    );
    println!(
        "| backend | phase | replies | answered/s | p50 | p99 | max | CPU µs/answer: service + database and rest + load = all |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (name, a) in &rows {
        for (label, p) in [
            (format!("offered {:.0}/s for {:.0} s", load.rate, load.seconds), &a.offered),
            (format!("capacity, {} senders", load.senders), &a.capacity),
        ] {
            println!(
                "| {name} | {label} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
                p.replies,
                p.per_sec,
                p.p50_ms,
                p.p99_ms,
                p.max_ms,
                p.cpu.map_or("—".to_string(), |c| format!(
                    "{:.0} + {:.0} + {:.0} = {:.0}",
                    c.service_us,
                    c.rest_us,
                    c.load_us,
                    c.total_us()
                ))
            );
        }
    }
    if load.series {
        for (name, a) in &rows {
            println!("\n{name}, offered phase by quarter second (when the replies were due):\n");
            println!("| from | p50 | p99 | max |\n| ---: | ---: | ---: | ---: |");
            for w in &a.offered.series {
                println!("| {:.2} s | {:.1} ms | {:.1} ms | {:.1} ms |", w.from_s, w.p50_ms, w.p99_ms, w.max_ms);
            }
        }
    }
    println!("\nTarget (issue 5): 10 000 answers a second sustained, p99 ≤ 20 ms, on each backend:");
    for (name, a) in &rows {
        let o = &a.offered;
        let ok = load.rate >= 10_000.0 && o.per_sec >= 0.98 * load.rate && o.p99_ms <= 20.0;
        println!(
            "- {name}: offered {:.0}/s, answered {:.0}/s, p99 {:.1} ms — {}",
            load.rate,
            o.per_sec,
            o.p99_ms,
            if ok { "met" } else { "NOT met" }
        );
    }
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

const USAGE: &str =
    "usage: answers [--calls N] [--senders N] [--rate R] [--seconds T] [--series] [--only sqlite|postgres]";

fn options(args: &[String]) -> anyhow::Result<Load> {
    let mut load = Load::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> anyhow::Result<f64> {
            it.next()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| anyhow::anyhow!("{name} takes a positive number; {USAGE}"))
        };
        match a.as_str() {
            "--calls" => load.calls = number("--calls")? as usize,
            "--senders" => load.senders = number("--senders")? as usize,
            "--rate" => load.rate = number("--rate")?,
            "--seconds" => load.seconds = number("--seconds")?,
            "--series" => load.series = true,
            "--only" => match it.next().map(String::as_str) {
                Some("sqlite") => load.postgres = false,
                Some("postgres") => load.sqlite = false,
                _ => anyhow::bail!("--only takes sqlite or postgres; {USAGE}"),
            },
            other => anyhow::bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    anyhow::ensure!(load.calls > 0 && load.senders > 0 && load.open_replies() > 0, "nothing to send; {USAGE}");
    Ok(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_groups_replies_by_when_they_were_due() {
        // 8 a second: two replies a quarter second; the third window has a slow one.
        let lat = [(0, 1.0), (1, 3.0), (2, 2.0), (3, 2.0), (4, 40.0), (5, 4.0)];
        let s = series(&lat, 8.0);
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().map(|w| w.from_s).collect::<Vec<_>>(), [0.0, 0.25, 0.5]);
        assert_eq!((s[2].max_ms, s[2].p99_ms), (40.0, 40.0));
        assert_eq!(s[1].max_ms, 2.0);
    }

    #[test]
    fn options_parse_and_refuse_nonsense() {
        let args = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let l = options(&args(&["--calls", "50", "--senders", "4", "--rate", "200", "--seconds", "0.5"])).unwrap();
        assert_eq!((l.calls, l.senders, l.open_replies()), (50, 4, 100));
        assert!(!l.series && options(&args(&["--series"])).unwrap().series);
        let d = options(&[]).unwrap();
        assert_eq!((d.calls, d.senders, d.open_replies()), (20_000, 128, 30_000));
        assert!(options(&args(&["--rate", "0"])).is_err());
        assert!(options(&args(&["--calls"])).is_err());
        assert!(options(&args(&["--what"])).is_err());
        let pg = options(&args(&["--only", "postgres"])).unwrap();
        assert!(pg.postgres && !pg.sqlite);
        assert!(options(&args(&["--only", "mysql"])).is_err());
    }

    /// Both phases on a small registry: every reply answered through the hook, every call
    /// answered afterwards (the run fails otherwise), latencies measured.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_answers_every_call_through_the_hook() {
        let dir = tempfile::tempdir().unwrap();
        let load = Load { calls: 30, senders: 3, rate: 200.0, seconds: 0.2, ..Load::default() };
        let a = run(&format!("sqlite://{}", dir.path().join("t.db").display()), load).await.unwrap();
        assert_eq!((a.capacity.replies, a.offered.replies), (30, 40));
        assert!(a.capacity.p50_ms > 0.0 && a.offered.p99_ms >= a.offered.p50_ms);
    }
}
