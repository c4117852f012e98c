//! `cargo run --release -p jiaoying-bench`: the spine's throughput on both backends in one run.
//!
//! A synthetic subdistrict (20 communities, 100 grids, 200 units, 625 persons) gets red alerts
//! that reach everyone. Measured, per backend: accepting (alert + calls + messages + timers in one
//! transaction), draining the outbox through a console channel writing to /dev/null (claim, send,
//! record, advance the call), and one timer step repeating every call. PostgreSQL runs when
//! `JIAOYING_BENCH_PG_URL` (or `JIAOYING_TEST_PG_URL`) names a server; its figures are shown as a
//! ratio to SQLite's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use jiaoying_core::registry::{Area, Person, Role, Unit, UnitKind};
use jiaoying_core::token::TokenSigner;
use jiaoying_core::{AreaCode, Clock, ManualClock, MobileNumber, PersonId, Registry, Span, Timestamp, UnitId};
use jiaoying_dispatch::outbox::{Outbox, OutboxConfig, OutboxStep};
use jiaoying_dispatch::{build_channels, AddressKind, ChannelSpec};
use jiaoying_store::Store;
use jiaoying_tracker::{Composer, Step, Tracker, TrackerConfig};
use sqlx::Connection;

/// mimalloc instead of the system allocator: a profile of 10 000 answers a second showed glibc's
/// malloc and free (with its consolidation of freed chunks) at a seventh of the service's CPU;
/// ADR 0022.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod answers;
mod cpu;
mod fanout;
mod flat;
mod lateness;
mod open_calls;
mod reliability;

const ALERTS: usize = 5;

fn code(s: &str) -> AreaCode {
    AreaCode::parse(s).expect("code")
}

fn registry() -> Registry {
    let mut r = Registry::default();
    let street = "500105002";
    r.areas.push(Area { code: code(street), name: "街道".into(), parent: None, polygon: None });
    let mut n = 0u32;
    let mut person = |r: &mut Registry, id: String, role: &str, area: &str, sup: Option<&str>| {
        n += 1;
        r.persons.push(Person {
            id: PersonId::parse(&id).expect("id"),
            name: id.clone(),
            mobile: MobileNumber::parse(&format!("1380{n:07}")).expect("mobile"),
            email: None,
            roles: vec![Role::parse(role).expect("role")],
            area: code(area),
            superior: sup.map(|s| PersonId::parse(s).expect("sup")),
        });
    };
    person(&mut r, "leader".into(), "leader", street, None);
    person(&mut r, "duty".into(), "duty_officer", street, Some("leader"));
    for g in 0..5 {
        person(&mut r, format!("reg-{g}"), "regulatory", street, Some("leader"));
    }
    for c in 1..=20 {
        let comm = format!("{street}{c:03}");
        r.areas.push(Area { code: code(&comm), name: comm.clone(), parent: Some(code(street)), polygon: None });
        let head = format!("head-{c}");
        person(&mut r, head.clone(), "community", &comm, Some("leader"));
        for g in 1..=5 {
            let grid = format!("{comm}{g:03}");
            r.areas.push(Area { code: code(&grid), name: grid.clone(), parent: Some(code(&comm)), polygon: None });
            for w in 0..2 {
                person(&mut r, format!("grid-{c}-{g}-{w}"), "grid", &grid, Some(&head));
            }
            for u in 0..2 {
                let own = format!("own-{c}-{g}-{u}");
                person(&mut r, own.clone(), "unit", &grid, Some(&head));
                r.units.push(Unit {
                    id: UnitId::parse(&format!("u-{c}-{g}-{u}")).expect("unit"),
                    name: own.clone(),
                    kind: UnitKind::School,
                    area: code(&grid),
                    location: None,
                    administrative: PersonId::parse(&head).expect("id"),
                    regulatory: PersonId::parse(&format!("reg-{}", (c + g) % 5)).expect("id"),
                    unit: PersonId::parse(&own).expect("id"),
                });
            }
        }
    }
    r
}

struct Figures {
    calls_per_sec: f64,
    accept_ms: f64,
    messages_per_sec: f64,
    repeats_per_sec: f64,
    calls: usize,
}

async fn run(url: &str) -> anyhow::Result<Figures> {
    let store: Arc<dyn Store> = jiaoying_store::connect(url).await?;
    store.migrate().await?;
    let clock = ManualClock::new(Timestamp(1_782_864_000_000));
    store.upsert_registry(&registry(), clock.now().millis()).await?;

    let mut specs = BTreeMap::new();
    let console: ChannelSpec = serde_json::from_value(serde_json::json!({"kind": "console", "path": "/dev/null"}))?;
    specs.insert("console".to_string(), console);
    let channels = build_channels(&specs).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let addressing = BTreeMap::from([("console".to_string(), AddressKind::Mobile)]);
    let composer = Composer::new(TokenSigner::new(b"bench"), "http://bench", "叫应", addressing);
    let policies = jiaoying_core::Policies::new(BTreeMap::new(), &["console".to_string()]);
    let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
    let tracker = Tracker::new(
        store.clone(),
        clock_arc.clone(),
        TrackerConfig { policies, composer, batch: 500, late_answer_closes_escalation: true, directives: vec![] },
        Arc::new(tokio::sync::Notify::new()),
    );
    let outbox =
        Outbox::new(store.clone(), clock_arc, channels, OutboxConfig { batch: 256, ..OutboxConfig::default() });

    // Accept: alerts reaching the whole street.
    let started = Instant::now();
    let mut calls = 0;
    for i in 0..ALERTS {
        let body = serde_json::json!({
            "identifier": format!("bench-{i}"), "sender": "bench", "sent": "2026-07-01T08:00:00+08:00",
            "event": "暴雨", "tier": "red", "headline": "暴雨红色预警", "areas": [{"code": "500105002"}]
        })
        .to_string();
        let alert = jiaoying_ingest::parse_json_alert(body.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
        calls += tracker.accept(&alert, "bench", &body).await.map_err(|e| anyhow::anyhow!("{e}"))?.calls;
    }
    let accept = started.elapsed();

    // Drain the outbox.
    let started = Instant::now();
    let mut sent = 0;
    while let OutboxStep::Sent(n) = outbox.step(clock.now()).await? {
        sent += n;
    }
    let drain = started.elapsed();

    // One deadline: every call is repeated.
    clock.advance(Span::from_mins(6));
    let started = Instant::now();
    let mut repeated = 0;
    while let Step::Done(n) = tracker.timer_step(clock.now()).await.map_err(|e| anyhow::anyhow!("{e}"))? {
        repeated += n;
    }
    let repeats = started.elapsed();
    store.close().await;
    anyhow::ensure!(sent >= calls && repeated == calls, "sent {sent}, repeated {repeated}, calls {calls}");
    Ok(Figures {
        calls_per_sec: calls as f64 / accept.as_secs_f64(),
        accept_ms: accept.as_secs_f64() * 1000.0 / ALERTS as f64,
        messages_per_sec: sent as f64 / drain.as_secs_f64(),
        repeats_per_sec: repeated as f64 / repeats.as_secs_f64(),
        calls: calls / ALERTS,
    })
}

async fn fresh_pg(admin: &str) -> anyhow::Result<(String, String)> {
    let name = format!("jy_bench_{}", rand::random::<u32>());
    let mut conn = sqlx::PgConnection::connect(admin).await.context("connecting to PostgreSQL")?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
    let mut url = url::Url::parse(admin)?;
    url.set_path(&format!("/{name}"));
    Ok((url.to_string(), name))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As the service's own binary does (ADR 0023), so that the service measured here is the one
    // that runs.
    jiaoying::memory::without_transparent_huge_pages()?;
    match std::env::args().nth(1).as_deref() {
        Some("lateness") => return lateness_report().await,
        Some("answers") => return answers::report(&std::env::args().skip(2).collect::<Vec<_>>()).await,
        Some("fanout") => return fanout::report(&std::env::args().skip(2).collect::<Vec<_>>()).await,
        Some("open-calls") => return open_calls::report(&std::env::args().skip(2).collect::<Vec<_>>()).await,
        Some("reliability") => return reliability::report(&std::env::args().skip(2).collect::<Vec<_>>()).await,
        _ => {}
    }
    let dir = tempfile::tempdir()?;
    let sqlite = run(&format!("sqlite://{}", dir.path().join("bench.db").display())).await?;
    let pg_admin = std::env::var("JIAOYING_BENCH_PG_URL").or_else(|_| std::env::var("JIAOYING_TEST_PG_URL")).ok();
    let pg = match &pg_admin {
        Some(admin) => {
            let (url, name) = fresh_pg(admin).await?;
            let f = run(&url).await?;
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
            Some(f)
        }
        None => None,
    };
    println!("{ALERTS} red alerts, each reaching {} persons; one machine, one run\n", sqlite.calls);
    println!("| measure | SQLite | PostgreSQL | PostgreSQL / SQLite |");
    println!("| --- | ---: | ---: | ---: |");
    let row = |name: &str, s: f64, p: Option<f64>, unit: &str| {
        let (pv, ratio) = match p {
            Some(p) => (format!("{p:.0} {unit}"), format!("{:.2}", p / s)),
            None => ("-".into(), "-".into()),
        };
        println!("| {name} | {s:.0} {unit} | {pv} | {ratio} |");
    };
    row("accept: calls created per second", sqlite.calls_per_sec, pg.as_ref().map(|p| p.calls_per_sec), "calls/s");
    row("accept: one alert, all its calls", sqlite.accept_ms, pg.as_ref().map(|p| p.accept_ms), "ms");
    row(
        "outbox: messages sent and recorded per second",
        sqlite.messages_per_sec,
        pg.as_ref().map(|p| p.messages_per_sec),
        "msg/s",
    );
    row("timers: calls repeated per second", sqlite.repeats_per_sec, pg.as_ref().map(|p| p.repeats_per_sec), "calls/s");
    Ok(())
}

/// `cargo run --release -p jiaoying-bench -- lateness`
async fn lateness_report() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sqlite = lateness::run(&format!("sqlite://{}", dir.path().join("late.db").display())).await?;
    let pg_admin = std::env::var("JIAOYING_BENCH_PG_URL").or_else(|_| std::env::var("JIAOYING_TEST_PG_URL")).ok();
    let pg = match &pg_admin {
        Some(admin) => {
            let (url, name) = fresh_pg(admin).await?;
            let f = lateness::run(&url).await?;
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
            Some(f)
        }
        None => None,
    };
    println!("{} calls due at the same instant; lateness of the repeat at the gateway (ms)\n", lateness::CALLS);
    println!("| backend | p50 | p99 | max |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| SQLite | {} | {} | {} |", sqlite.p50, sqlite.p99, sqlite.max);
    if let Some(p) = pg {
        println!("| PostgreSQL | {} | {} | {} |", p.p50, p.p99, p.max);
    }
    Ok(())
}
