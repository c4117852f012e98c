//! `cargo run --release -p jiaoying-bench -- open-calls [--calls N] [--persons N] [--window SECS]
//! [--keep] [--detail FILE.csv]`
//!
//! The scheduler with a full database: 1 000 000 open calls (100 red alerts × 10 000 grid
//! workers, each call's first SMS sent and its timer running), seeded with bulk SQL together with
//! the rows a real run leaves behind (alerts and their received messages, the first message of
//! every call, the `pending` and `sent` events). The calls fall due one after another over the
//! next hours, about 35 a second. Then the real timer loop and the outbox run on the wall clock,
//! sending through an `sms-webhook` channel to a loopback gateway that timestamps each arrival.
//! During a measured window (60 s) a steady trickle of calls falls due at that same rate, plus
//! 300 at one instant; the lateness of each is the repeat's arrival at the gateway minus the
//! call's due time. Resident memory (VmRSS, VmHWM) is read from `/proc/self/status`, with the peak
//! reset after seeding so that it is the service's, not the seed's; each backend runs in a child
//! process of its own, so neither counts the other's memory. Printed besides: the plans of the
//! loops' statements on the full tables, how long each timer and outbox step took, and how long
//! the process waited for a CPU (the machine is shared).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::routing::post;
use jiaoying_core::message::CallReason;
use jiaoying_core::token::TokenSigner;
use jiaoying_core::urgency::{message_priority, MessageKind};
use jiaoying_core::{Clock, PersonId, Registry, Span, SystemClock, Tier, TierPolicy, Timestamp};
use jiaoying_dispatch::outbox::{Outbox, OutboxConfig};
use jiaoying_dispatch::{build_channels, AddressKind, ChannelSpec};
use jiaoying_store::{Backend, Store};
use jiaoying_tracker::{run_loop, Composer, Step, Tracker, TrackerConfig};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, Row};

/// Over how long the open calls fall due, from an hour after the seed.
const SPAN_MS: i64 = 8 * 3600 * 1000;
/// How far after the seed the first of the bulk's calls falls due: after the measure.
const BULK_AFTER_MS: i64 = 3600 * 1000;
/// Calls that fall due at the same instant inside the window.
const BURST: usize = 300;
/// The burst falls due this long after the window opens.
const BURST_AT_MS: i64 = 20_000;
/// A prime that does not divide the number of calls (checked), so `k * STRIDE mod n` spreads
/// consecutive calls over the whole span, each to its own slot.
const STRIDE: i64 = 7919;
/// Each attempt's deadline (the repeat's next deadline falls after the measure).
const ANSWER_WITHIN: Span = Span::from_mins(10);
const SOURCE: &str = "open-calls-bench";

pub struct Options {
    pub calls: usize,
    /// Persons in the registry; every alert calls all of them.
    pub persons: usize,
    pub window_secs: i64,
    /// Keep the databases (for EXPLAIN by hand) instead of dropping them.
    pub keep: bool,
    /// Write each measured call's lateness and each step's duration to this CSV file.
    pub detail: Option<String>,
    /// Run only this backend (`sqlite` or `postgres`) in this process and print its figures as
    /// JSON. Without it, each backend runs in a child process of its own, so that neither's
    /// memory (the allocator keeps what it freed) counts in the other's resident size.
    pub backend: Option<String>,
}

const USAGE: &str =
    "open-calls [--calls N] [--persons N] [--window SECS] [--keep] [--detail FILE.csv] [--backend sqlite|postgres]";

pub fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut o =
        Options { calls: 1_000_000, persons: 10_000, window_secs: 60, keep: false, detail: None, backend: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> anyhow::Result<usize> {
            let v = it.next().ok_or_else(|| anyhow::anyhow!("{name} needs a number"))?;
            v.parse().map_err(|_| anyhow::anyhow!("{name}: {v:?} is not a number"))
        };
        match a.as_str() {
            "--calls" => o.calls = number("--calls")?,
            "--window" => o.window_secs = number("--window")? as i64,
            "--persons" => o.persons = number("--persons")?,
            "--keep" => o.keep = true,
            "--backend" => {
                let b = it.next().ok_or_else(|| anyhow::anyhow!("--backend needs sqlite or postgres"))?;
                anyhow::ensure!(b == "sqlite" || b == "postgres", "--backend: {b:?} is neither sqlite nor postgres");
                o.backend = Some(b.clone());
            }
            "--detail" => o.detail = Some(it.next().ok_or_else(|| anyhow::anyhow!("--detail needs a path"))?.clone()),
            other => anyhow::bail!("unknown argument {other:?}; usage: {USAGE}"),
        }
    }
    anyhow::ensure!(o.persons >= 1 && o.persons <= 9_999_999, "--persons must be 1 to 9 999 999");
    anyhow::ensure!(
        o.calls >= o.persons && o.calls.is_multiple_of(o.persons) && o.calls / o.persons <= 9000,
        "--calls must be a multiple of --persons (one call per person and alert), at most 9000 alerts"
    );
    anyhow::ensure!(!o.calls.is_multiple_of(STRIDE as usize), "--calls must not be a multiple of {STRIDE}");
    anyhow::ensure!(o.window_secs >= 30, "--window must be at least 30 s (the burst falls due 20 s in)");
    Ok(o)
}

fn registry(persons: usize) -> Registry {
    crate::flat::registry(persons, "oc", "1350")
}

/// Milliseconds at the 50th and 99th percentile and the worst, over `n` calls.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
pub struct Late {
    pub n: usize,
    pub p50: i64,
    pub p99: i64,
    pub max: i64,
}

impl Late {
    fn of(mut v: Vec<i64>) -> Late {
        if v.is_empty() {
            return Late::default();
        }
        v.sort_unstable();
        let pct = |p: f64| v[((v.len() as f64 * p).ceil() as usize).saturating_sub(1).min(v.len() - 1)];
        Late { n: v.len(), p50: pct(0.50), p99: pct(0.99), max: v[v.len() - 1] }
    }
}

#[derive(Serialize, Deserialize)]
pub struct Figures {
    pub calls: i64,
    pub registry_ms: u128,
    /// Alerts and calls, messages, events inserted (three transactions).
    pub seed_ms: u128,
    /// SQLite: WAL checkpoint; PostgreSQL: VACUUM ANALYZE.
    pub upkeep_ms: u128,
    pub db_mb: f64,
    pub all: Late,
    pub trickle: Late,
    pub burst: Late,
    /// The trickle's calls not due from 1 s before the burst to 3 s after it.
    pub quiet: Late,
    pub rss_seed_peak_kb: u64,
    pub rss_start_kb: u64,
    pub rss_end_kb: u64,
    pub rss_peak_kb: u64,
    /// Whether the peak is the kernel's VmHWM after a reset (else sampled every 100 ms).
    pub peak_from_kernel: bool,
    /// While the loops ran: seconds on a CPU, seconds runnable but waiting for one, wall seconds.
    pub cpu: (f64, f64, f64),
    pub plans: Vec<(String, String)>,
    /// One `load_registry` (every timer step that has work reads it), median of 5.
    pub registry_read_ms: f64,
    pub timer_steps: Steps,
    pub outbox_steps: Steps,
    /// The timer step that took the burst: calls and duration.
    pub burst_step: (usize, f64),
    /// CSV lines `kind,at_ms,ms,n`: each measured call (due time from the window's opening,
    /// lateness) and each step with work (start, duration, items).
    pub detail: Vec<String>,
}

/// Steps that did work during the measure: how many, items per step, duration.
#[derive(Default, Serialize, Deserialize)]
pub struct Steps {
    pub count: usize,
    pub items: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
}

/// (start, relative to the window's opening, ms; duration, ms; items) of each step with work.
type StepLog = Arc<Mutex<Vec<(i64, f64, usize)>>>;

fn steps_of(log: &StepLog) -> Steps {
    let v = log.lock().expect("lock");
    let mut d: Vec<f64> = v.iter().map(|s| s.1).collect();
    d.sort_by(|a, b| a.total_cmp(b));
    Steps {
        count: v.len(),
        items: v.iter().map(|s| s.2).sum(),
        p50_ms: d.get(d.len() / 2).copied().unwrap_or(0.0),
        max_ms: d.last().copied().unwrap_or(0.0),
    }
}

/// A connection of either backend for the bulk statements the store has no method for.
enum Db {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

#[derive(Clone, Copy)]
enum Arg<'a> {
    I(i64),
    S(&'a str),
}

macro_rules! bound {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query($sql);
        for a in $args {
            q = match *a {
                Arg::I(v) => q.bind(v),
                Arg::S(s) => q.bind(s),
            };
        }
        q
    }};
}

impl Db {
    async fn open(url: &str) -> anyhow::Result<Db> {
        Ok(if url.starts_with("sqlite:") {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(30));
            Db::Sqlite(sqlx::SqliteConnection::connect_with(&opts).await?)
        } else {
            Db::Pg(sqlx::PgConnection::connect(url).await?)
        })
    }

    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<u64> {
        Ok(match self {
            Db::Sqlite(c) => bound!(sql, args).execute(&mut *c).await?.rows_affected(),
            Db::Pg(c) => bound!(sql, args).execute(&mut *c).await?.rows_affected(),
        })
    }

    /// The first column of every row, as i64.
    async fn ints(&mut self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<Vec<i64>> {
        Ok(match self {
            Db::Sqlite(c) => bound!(sql, args).fetch_all(&mut *c).await?.iter().map(|r| r.get::<i64, _>(0)).collect(),
            Db::Pg(c) => bound!(sql, args).fetch_all(&mut *c).await?.iter().map(|r| r.get::<i64, _>(0)).collect(),
        })
    }

    /// `(id, person_id, reply_code)` rows.
    async fn calls(&mut self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<Vec<(i64, String, String)>> {
        fn take<R: Row>(r: &R) -> (i64, String, String)
        where
            usize: sqlx::ColumnIndex<R>,
            i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            (r.get(0), r.get(1), r.get(2))
        }
        Ok(match self {
            Db::Sqlite(c) => bound!(sql, args).fetch_all(&mut *c).await?.iter().map(take).collect(),
            Db::Pg(c) => bound!(sql, args).fetch_all(&mut *c).await?.iter().map(take).collect(),
        })
    }

    /// The plan of `sql` (literal values only): SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's
    /// `EXPLAIN (ANALYZE, BUFFERS)` inside a transaction that is rolled back (a claim locks rows).
    async fn plan(&mut self, sql: &str) -> anyhow::Result<String> {
        Ok(match self {
            Db::Sqlite(c) => {
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(&mut *c).await?;
                let plan = rows.iter().map(|r| r.get::<String, _>(3)).collect::<Vec<_>>().join("; ");
                if sql.starts_with("SELECT") {
                    let started = Instant::now();
                    let n = sqlx::query(sql).fetch_all(&mut *c).await?.len();
                    format!("{plan}; {n} rows in {:.2} ms", started.elapsed().as_secs_f64() * 1000.0)
                } else {
                    plan
                }
            }
            Db::Pg(c) => {
                let mut tx = c.begin().await?;
                let analyze = if sql.starts_with("UPDATE") { "" } else { "ANALYZE, BUFFERS, " };
                let rows = sqlx::query(&format!("EXPLAIN ({analyze}COSTS OFF) {sql}")).fetch_all(&mut *tx).await?;
                tx.rollback().await?;
                rows.iter().map(|r| r.get::<String, _>(0).trim().to_string()).collect::<Vec<_>>().join("; ")
            }
        })
    }

    async fn close(self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(c) => c.close().await?,
            Db::Pg(c) => c.close().await?,
        }
        Ok(())
    }
}

/// VmRSS and VmHWM of this process, in kB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Over this process's threads: nanoseconds on a CPU and nanoseconds runnable but waiting for
/// one (`/proc/self/task/*/schedstat`). The second is what other work on the machine costs us.
fn cpu_ns() -> (u64, u64) {
    let mut total = (0, 0);
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let mut f = stat.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
        total.0 += f.next().unwrap_or(0);
        total.1 += f.next().unwrap_or(0);
    }
    total
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak read later is the measure's.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Inserts the alerts, calls, first messages and events. Returns the number of calls.
async fn seed(
    db: &mut Db,
    store: &Arc<dyn Store>,
    composer: &Composer,
    alerts: usize,
    persons: usize,
    now: i64,
) -> anyhow::Result<i64> {
    let sqlite = matches!(db, Db::Sqlite(_));
    let begin = if sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
    let calls = (alerts * persons) as i64;

    // The alerts and the message each was received in; then one call per alert and person.
    db.exec(begin, &[]).await?;
    for a in 0..alerts {
        let id = db
            .ints(
                "INSERT INTO alerts (source, status, msg_type, event, tier, headline, description, instruction, \
                 onset, expires, areas, state, content_sent, created_at, updated_at) \
                 VALUES ($1, 'Actual', 'Alert', '暴雨', 'red', '暴雨红色预警', \
                 '过去3小时本街道降雨量已达100毫米以上，且降雨仍将持续。', \
                 '请立即组织转移危险区域群众，停止户外作业，做好防范。', NULL, NULL, \
                 '[{\"code\":\"500105002\"}]', 'active', $2, $2, $2) RETURNING id",
                &[Arg::S(SOURCE), Arg::I(now)],
            )
            .await?[0];
        let identifier = format!("open-calls-{a}");
        db.exec(
            "INSERT INTO alert_messages (alert_id, sender, identifier, sent, msg_type, received_at, body) \
             VALUES ($1, 'bench', $2, $3, 'Alert', $3, '{}')",
            &[Arg::I(id), Arg::S(&identifier), Arg::I(now)],
        )
        .await?;
    }
    let first_alert = db.ints("SELECT MIN(id) FROM alerts WHERE source = $1", &[Arg::S(SOURCE)]).await?[0];
    // Call k = alert × persons + person falls due at slot (k × STRIDE mod calls) of the span; the
    // reply code is distinct among each person's open calls, as the tracker keeps it.
    let inserted = db
        .exec(
            "INSERT INTO calls (alert_id, person_id, roles, area, level, state, reply_code, attempts, deadline, \
             next_action_at, created_at, updated_at) \
             SELECT alert_id, person_id, 'grid', area, 0, 'sent', code, 1, due, due, $1, $1 FROM ( \
               SELECT a.id AS alert_id, p.id AS person_id, p.area AS area, \
                      CAST(1000 + (pi * 37 + ai) % 9000 AS TEXT) AS code, \
                      $2 + (((ai * $4 + pi) * $5) % $6) * $7 / $6 AS due \
               FROM (SELECT id, id - $3 AS ai FROM alerts WHERE source = $8) a \
               CROSS JOIN (SELECT id, area, CAST(substr(id, 4) AS BIGINT) AS pi FROM persons WHERE id LIKE 'oc-%') p \
             ) x ORDER BY alert_id, person_id",
            &[
                Arg::I(now),
                Arg::I(now + BULK_AFTER_MS),
                Arg::I(first_alert),
                Arg::I(persons as i64),
                Arg::I(STRIDE),
                Arg::I(calls),
                Arg::I(SPAN_MS),
                Arg::S(SOURCE),
            ],
        )
        .await?;
    anyhow::ensure!(inserted as i64 == calls, "{inserted} calls inserted, expected {calls}");
    db.exec("COMMIT", &[]).await?;

    // The first SMS of every call, as the composer writes it (one real text, reused), sent.
    let alert = store.alert(first_alert).await?.context("seeded alert")?;
    let first_call = db.ints("SELECT MIN(id) FROM calls", &[]).await?[0];
    let call = store.call(first_call).await?.context("seeded call")?;
    let reg = registry(persons);
    let person = reg.person(&PersonId::parse(&call.person_id).map_err(anyhow::Error::msg)?).context("person")?;
    let sample = composer
        .call_messages(&alert, &call, person, CallReason::First, &["sms".to_string()], Timestamp(now))
        .pop()
        .context("no message composed")?;
    let link = sample.link.clone().unwrap_or_default();
    db.exec(begin, &[]).await?;
    db.exec(
        "INSERT INTO messages (alert_id, call_id, channel, recipient, purpose, subject, body, code, link, state, \
         attempts, next_attempt_at, created_at, sent_at, priority) \
         SELECT c.alert_id, c.id, 'sms', p.mobile, 'call', $1, $2, c.reply_code, $3, 'sent', 1, c.created_at, \
                c.created_at, c.created_at, $4 \
         FROM calls c JOIN persons p ON p.id = c.person_id ORDER BY c.id",
        &[
            Arg::S(&sample.subject),
            Arg::S(&sample.body),
            Arg::S(&link),
            Arg::I(message_priority(Some(Tier::Red), MessageKind::FirstCall)),
        ],
    )
    .await?;
    db.exec("COMMIT", &[]).await?;

    // The call log: opened (pending), then sent by the outbox.
    db.exec(begin, &[]).await?;
    db.exec(
        "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note) \
         SELECT alert_id, id, created_at, NULL, 'pending', 'bench', NULL, NULL FROM calls ORDER BY id",
        &[],
    )
    .await?;
    db.exec(
        "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor, via, note) \
         SELECT alert_id, id, created_at, 'pending', 'sent', 'dispatch', NULL, NULL FROM calls ORDER BY id",
        &[],
    )
    .await?;
    db.exec("COMMIT", &[]).await?;
    Ok(calls)
}

pub async fn run(url: &str, opts: &Options) -> anyhow::Result<Figures> {
    let alerts = opts.calls / opts.persons;
    let window_ms = opts.window_secs * 1000;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    // The gateway: the first arrival of each (recipient, reply code), which names one call.
    let arrivals: Arc<Mutex<HashMap<(String, String), i64>>> = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().route(
        "/sms",
        post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let at = SystemClock.now().millis();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let to = v["to"].as_str().unwrap_or("").to_string();
                let code = v["code"].as_str().unwrap_or("").to_string();
                seen.lock().expect("lock").entry((to, code)).or_insert(at);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw = format!("http://{}/sms", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = jiaoying_store::connect(url).await?;
    store.migrate().await?;
    let started = Instant::now();
    store.upsert_registry(&registry(opts.persons), clock.now().millis()).await?;
    let registry_ms = ms(started.elapsed());

    let composer = Composer::new(
        TokenSigner::new(b"bench"),
        "http://bench.example",
        "叫应",
        BTreeMap::from([("sms".to_string(), AddressKind::Mobile)]),
    );
    let mut db = Db::open(url).await?;
    let seed_at = clock.now().millis();
    let started = Instant::now();
    let calls = seed(&mut db, &store, &composer, alerts, opts.persons, seed_at).await?;
    let seed_ms = ms(started.elapsed());
    let (_, rss_seed_peak_kb) = rss();

    // What a running service would have had time to do: SQLite folds the WAL into the database
    // (the first commit after a bulk load would otherwise copy it); PostgreSQL's autovacuum
    // analyses the new tables and sets the visibility map.
    let started = Instant::now();
    match store.backend() {
        Backend::Sqlite => {
            db.exec("PRAGMA wal_checkpoint(TRUNCATE)", &[]).await?;
        }
        Backend::Postgres => {
            db.exec("VACUUM ANALYZE", &[]).await?;
        }
    }
    let upkeep_ms = ms(started.elapsed());
    let db_mb = match &mut db {
        Db::Sqlite(_) => {
            let path = url.trim_start_matches("sqlite://");
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
        }
        Db::Pg(_) => db.ints("SELECT pg_database_size(current_database())", &[]).await?[0] as f64 / 1e6,
    };

    // The measured calls: the earliest of the bulk (spread over the whole table by the stride)
    // are moved into the window: a steady trickle at the bulk's rate, and a burst at one instant.
    let window_start = clock.now().millis() + 30_000;
    let trickle = (opts.window_secs as usize * opts.calls) / (SPAN_MS / 1000) as usize;
    let measured = db
        .calls(
            "SELECT id, person_id, reply_code FROM calls WHERE next_action_at IS NOT NULL \
             ORDER BY next_action_at, id LIMIT $1",
            &[Arg::I((trickle + BURST) as i64)],
        )
        .await?;
    let mut due_of: HashMap<i64, i64> = HashMap::new();
    let begin = if matches!(db, Db::Sqlite(_)) { "BEGIN IMMEDIATE" } else { "BEGIN" };
    db.exec(begin, &[]).await?;
    for (i, (id, _, _)) in measured.iter().enumerate() {
        let due = if i < BURST {
            window_start + BURST_AT_MS
        } else {
            window_start + (i - BURST) as i64 * window_ms / trickle.max(1) as i64
        };
        db.exec("UPDATE calls SET deadline = $2, next_action_at = $2 WHERE id = $1", &[Arg::I(*id), Arg::I(due)])
            .await?;
        due_of.insert(*id, due);
    }
    db.exec("COMMIT", &[]).await?;

    // The plans of the statements the loops run, with the window's values.
    let at = window_start + window_ms;
    let probes = [
        ("next_call_due", "SELECT MIN(next_action_at) FROM calls WHERE next_action_at IS NOT NULL".to_string()),
        (
            "claim_due_calls",
            format!(
                "SELECT id, state, attempts FROM calls WHERE next_action_at IS NOT NULL AND next_action_at <= {at} \
                 ORDER BY next_action_at, id LIMIT 500{}",
                if matches!(db, Db::Pg(_)) { " FOR UPDATE SKIP LOCKED" } else { "" }
            ),
        ),
        (
            "claim_due_calls, 1 h of backlog",
            format!(
                "SELECT id, state, attempts FROM calls WHERE next_action_at IS NOT NULL AND next_action_at <= {} \
                 ORDER BY next_action_at, id LIMIT 500{}",
                seed_at + BULK_AFTER_MS + 3_600_000,
                if matches!(db, Db::Pg(_)) { " FOR UPDATE SKIP LOCKED" } else { "" }
            ),
        ),
        (
            "claim_messages (select)",
            format!(
                "SELECT id FROM messages WHERE channel = 'sms' AND state = 'queued' AND next_attempt_at <= {at} \
                 ORDER BY priority DESC, next_attempt_at, id LIMIT 256"
            ),
        ),
        (
            "reclaim (update)",
            format!(
                "UPDATE messages SET state = 'queued', lease_until = NULL WHERE state = 'sending' \
                 AND lease_until <= {at} AND channel = 'sms'"
            ),
        ),
        (
            "next_message_due (queued)",
            "SELECT MIN(next_attempt_at) FROM messages WHERE channel = 'sms' AND state = 'queued'".to_string(),
        ),
        (
            "next_message_due (sending)",
            "SELECT MIN(lease_until) FROM messages WHERE channel = 'sms' AND state = 'sending'".to_string(),
        ),
    ];
    let mut plans = Vec::new();
    for (name, sql) in &probes {
        plans.push((name.to_string(), db.plan(sql).await?));
    }
    db.close().await?;
    let mut reads = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        store.load_registry().await?;
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    reads.sort_by(|a, b| a.total_cmp(b));
    let registry_read_ms = reads[2];
    anyhow::ensure!(
        clock.now().millis() < window_start - 5_000,
        "setting up the window took too long; the window would open before the loops run"
    );

    // The service: the timer loop and the channel's sending loop, as `Application` wires them.
    let spec: ChannelSpec =
        serde_json::from_value(serde_json::json!({"kind": "sms-webhook", "url": gw, "secret": "bench"}))?;
    let channels =
        build_channels(&BTreeMap::from([("sms".to_string(), spec)])).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // From the config's form, as a deployment writes it (new optional keys keep their defaults).
    let policy: TierPolicy = serde_json::from_value(serde_json::json!({
        "roles": ["grid"], "channels": ["sms"], "answer_within": ANSWER_WITHIN, "repeats": 1, "escalate": false
    }))?;
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

    // What the gateway will see for each measured call; built before the memory measure begins.
    let keys: Vec<(i64, (String, String))> = {
        let reg = registry(opts.persons);
        let mobile_of: HashMap<&str, &str> = reg.persons.iter().map(|p| (p.id.as_str(), p.mobile.as_str())).collect();
        measured
            .iter()
            .map(|(id, person, code)| (*id, (mobile_of[person.as_str()].to_string(), code.clone())))
            .collect()
    };
    let peak_from_kernel = reset_peak();
    let (cpu_start, serving_since) = (cpu_ns(), Instant::now());
    let (rss_start_kb, _) = rss();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sampled_peak = Arc::new(std::sync::atomic::AtomicU64::new(rss_start_kb));
    let sampler = {
        let (peak, mut stop) = (sampled_peak.clone(), stop_rx.clone());
        tokio::spawn(async move {
            while !*stop.borrow() {
                peak.fetch_max(rss().0, std::sync::atomic::Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.changed() => {}
                }
            }
        })
    };
    let backstop = Duration::from_secs(2);
    // Each step with work is logged (start, duration, items), to see where the lateness goes.
    let (timer_log, outbox_log): (StepLog, StepLog) = Default::default();
    let timers = {
        let (t, c, stop, log) = (tracker.clone(), clock.clone(), stop_rx.clone(), timer_log.clone());
        tokio::spawn(async move {
            let wake = t.timers_wake.clone();
            let step = || {
                let (t, c, log) = (t.clone(), c.clone(), log.clone());
                async move {
                    let (at, started) = (c.now().millis(), Instant::now());
                    let r = t.timer_step(c.now()).await;
                    if let Ok(Step::Done(n)) = &r {
                        let d = started.elapsed().as_secs_f64() * 1000.0;
                        log.lock().expect("lock").push((at - window_start, d, *n));
                    }
                    r
                }
            };
            run_loop("timers", step, || c.now().millis(), &wake, backstop, stop).await
        })
    };
    let sender = {
        let (o, c, wake, stop) = (outbox.clone(), clock.clone(), tracker.outbox_wake.clone(), stop_rx.clone());
        let log = outbox_log.clone();
        tokio::spawn(async move {
            let step = || {
                let (o, c, log) = (o.clone(), c.clone(), log.clone());
                async move {
                    let (at, started) = (c.now().millis(), Instant::now());
                    let r = o.step_channel("sms", c.now()).await.map(Step::from);
                    if let Ok(Step::Done(n)) = &r {
                        let d = started.elapsed().as_secs_f64() * 1000.0;
                        log.lock().expect("lock").push((at - window_start, d, *n));
                    }
                    r
                }
            };
            run_loop("outbox", step, || c.now().millis(), &wake, backstop, stop).await
        })
    };

    let give_up = window_start + window_ms + 120_000;
    loop {
        let arrived = {
            let a = arrivals.lock().expect("lock");
            keys.iter().filter(|(_, k)| a.contains_key(k)).count()
        };
        let now = clock.now().millis();
        if arrived == keys.len() && now >= window_start + window_ms {
            break;
        }
        anyhow::ensure!(
            now < give_up,
            "{} of {} measured repeats arrived by 2 min after the window",
            arrived,
            keys.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (rss_end_kb, hwm) = rss();
    let cpu_end = cpu_ns();
    let cpu = (
        cpu_end.0.saturating_sub(cpu_start.0) as f64 / 1e9,
        (cpu_end.1.saturating_sub(cpu_start.1)) as f64 / 1e9,
        serving_since.elapsed().as_secs_f64(),
    );
    let _ = stop_tx.send(true);
    let _ = timers.await;
    let _ = sender.await;
    let _ = sampler.await;
    let rss_peak_kb = if peak_from_kernel { hwm } else { sampled_peak.load(std::sync::atomic::Ordering::Relaxed) };

    // Nothing but the measured calls fell due: every arrival is one of them.
    let extra = arrivals.lock().expect("lock").len() - keys.len();
    anyhow::ensure!(extra == 0, "{extra} repeats of calls outside the window arrived");
    let a = arrivals.lock().expect("lock").clone();
    let (mut all, mut burst, mut steady, mut quiet) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut detail = Vec::new();
    for (i, (id, key)) in keys.iter().enumerate() {
        let late = a[key] - due_of[id];
        detail.push(format!("{},{},{late},1", if i < BURST { "burst" } else { "trickle" }, due_of[id] - window_start));
        all.push(late);
        if i < BURST {
            burst.push(late);
        } else {
            steady.push(late);
            let since_burst = due_of[id] - (window_start + BURST_AT_MS);
            if !(-1_000..=3_000).contains(&since_burst) {
                quiet.push(late);
            }
        }
    }
    store.close().await;
    for (kind, log) in [("timer_step", &timer_log), ("outbox_step", &outbox_log)] {
        detail.extend(log.lock().expect("lock").iter().map(|(at, d, n)| format!("{kind},{at},{d:.1},{n}")));
    }
    let burst_step = timer_log
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| s.0 >= BURST_AT_MS - 1_000)
        .max_by_key(|s| s.2)
        .map(|s| (s.2, s.1))
        .unwrap_or_default();
    Ok(Figures {
        calls,
        registry_ms,
        seed_ms,
        upkeep_ms,
        db_mb,
        all: Late::of(all),
        trickle: Late::of(steady),
        burst: Late::of(burst),
        quiet: Late::of(quiet),
        rss_seed_peak_kb,
        rss_start_kb,
        rss_end_kb,
        rss_peak_kb,
        peak_from_kernel,
        cpu,
        plans,
        registry_read_ms,
        timer_steps: steps_of(&timer_log),
        outbox_steps: steps_of(&outbox_log),
        burst_step,
        detail,
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Marks the line of a child's output that carries its figures.
const FIGURES: &str = "FIGURES ";

/// One backend on a fresh database: a temporary SQLite file, or a new PostgreSQL database
/// (dropped afterwards unless `--keep`).
async fn run_backend(backend: &str, opts: &Options) -> anyhow::Result<Figures> {
    if backend == "sqlite" {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("open.db").display());
        let f = run(&url, opts).await;
        if opts.keep {
            println!("kept: {url}");
            let _ = dir.keep();
        }
        return f;
    }
    let admin = std::env::var("JIAOYING_BENCH_PG_URL")
        .or_else(|_| std::env::var("JIAOYING_TEST_PG_URL"))
        .context("postgres needs JIAOYING_BENCH_PG_URL or JIAOYING_TEST_PG_URL")?;
    let (url, name) = crate::fresh_pg(&admin).await?;
    let f = run(&url, opts).await;
    if opts.keep {
        println!("kept: {url}");
    } else {
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
    }
    f
}

/// `cargo run --release -p jiaoying-bench -- open-calls [options]` (see [`USAGE`])
pub async fn report(args: &[String]) -> anyhow::Result<()> {
    let opts = options(args)?;
    if let Some(backend) = &opts.backend {
        let f = run_backend(backend, &opts).await?;
        println!("{FIGURES}{}", serde_json::to_string(&f)?);
        return Ok(());
    }
    let pg = std::env::var("JIAOYING_BENCH_PG_URL").or_else(|_| std::env::var("JIAOYING_TEST_PG_URL")).is_ok();
    let backends: &[(&str, &str)] =
        if pg { &[("SQLite", "sqlite"), ("PostgreSQL", "postgres")] } else { &[("SQLite", "sqlite")] };
    let mut loads = vec![loadavg()];
    let mut results = Vec::new();
    for (name, arg) in backends {
        let exe = std::env::current_exe()?;
        let child_args: Vec<String> = ["open-calls".to_string()]
            .into_iter()
            .chain(args.iter().cloned())
            .chain(["--backend".into(), arg.to_string()])
            .collect();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(exe).args(child_args).stderr(std::process::Stdio::inherit()).output()
        })
        .await??;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(out.status.success(), "the {name} run failed ({}):\n{stdout}", out.status);
        let mut figures = None;
        for line in stdout.lines() {
            match line.strip_prefix(FIGURES) {
                Some(json) => figures = Some(serde_json::from_str::<Figures>(json)?),
                None => println!("{line}"),
            }
        }
        results.push((*name, figures.context("the run printed no figures")?));
        loads.push(loadavg());
    }
    if let Some(path) = &opts.detail {
        let mut csv = String::from("backend,kind,at_ms,ms,n\n");
        for (name, f) in &results {
            f.detail.iter().for_each(|l| csv.push_str(&format!("{name},{l}\n")));
        }
        std::fs::write(path, csv).with_context(|| format!("writing {path}"))?;
    }

    for (name, f) in &results {
        println!("\n{name}: plans with {} open calls", f.calls);
        for (q, p) in &f.plans {
            println!("  {q}: {p}");
        }
    }
    let mb = |kb: u64| format!("{:.0} MB", kb as f64 / 1024.0);
    println!(
        "\n{} open calls ({} alerts × {} persons), due ~{:.0}/s over {} h; measured window {} s: a steady \
         trickle plus {BURST} due at one instant; lateness = repeat at the gateway − due time\n",
        results[0].1.calls,
        results[0].1.calls / opts.persons as i64,
        opts.persons,
        results[0].1.calls as f64 / (SPAN_MS / 1000) as f64,
        SPAN_MS / 3_600_000,
        opts.window_secs
    );
    println!("| measure | {} |", results.iter().map(|r| r.0).collect::<Vec<_>>().join(" | "));
    println!("| --- |{}", " ---: |".repeat(results.len()));
    let row = |name: &str, f: &dyn Fn(&Figures) -> String| {
        println!("| {name} | {} |", results.iter().map(|r| f(&r.1)).collect::<Vec<_>>().join(" | "));
    };
    row("seed: registry (store API)", &|f| format!("{:.1} s", f.registry_ms as f64 / 1000.0));
    row("seed: alerts, calls, messages, events (bulk SQL)", &|f| format!("{:.1} s", f.seed_ms as f64 / 1000.0));
    row("seed: checkpoint (SQLite) / VACUUM ANALYZE (PostgreSQL)", &|f| {
        format!("{:.1} s", f.upkeep_ms as f64 / 1000.0)
    });
    row("database size", &|f| format!("{:.0} MB", f.db_mb));
    row("calls measured (trickle + burst)", &|f| format!("{} + {}", f.trickle.n, f.burst.n));
    row("lateness, all measured: p50 / p99 / max", &|f| format!("{} / {} / {} ms", f.all.p50, f.all.p99, f.all.max));
    row("lateness, trickle: p50 / p99 / max", &|f| {
        format!("{} / {} / {} ms", f.trickle.p50, f.trickle.p99, f.trickle.max)
    });
    row("lateness, trickle away from the burst: p50 / p99 / max", &|f| {
        format!("{} / {} / {} ms", f.quiet.p50, f.quiet.p99, f.quiet.max)
    });
    row("lateness, burst: p50 / p99 / max", &|f| format!("{} / {} / {} ms", f.burst.p50, f.burst.p99, f.burst.max));
    row("timer steps with work: count, calls per step", &|f| {
        format!("{}, {:.1}", f.timer_steps.count, f.timer_steps.items as f64 / f.timer_steps.count.max(1) as f64)
    });
    row("timer step duration: p50 / max", &|f| format!("{:.0} / {:.0} ms", f.timer_steps.p50_ms, f.timer_steps.max_ms));
    row("timer step of the burst: calls, duration", &|f| format!("{}, {:.0} ms", f.burst_step.0, f.burst_step.1));
    row("registry read (every timer step with work)", &|f| format!("{:.1} ms", f.registry_read_ms));
    row("outbox steps with work: count, messages per step", &|f| {
        format!("{}, {:.1}", f.outbox_steps.count, f.outbox_steps.items as f64 / f.outbox_steps.count.max(1) as f64)
    });
    row("outbox step duration: p50 / max", &|f| {
        format!("{:.0} / {:.0} ms", f.outbox_steps.p50_ms, f.outbox_steps.max_ms)
    });
    row("process while serving: CPU / waiting for a CPU / wall", &|f| {
        format!("{:.1} / {:.1} / {:.0} s", f.cpu.0, f.cpu.1, f.cpu.2)
    });
    row("resident: at start of service / at end", &|f| format!("{} / {}", mb(f.rss_start_kb), mb(f.rss_end_kb)));
    row("resident: peak while serving", &|f| {
        format!("{}{}", mb(f.rss_peak_kb), if f.peak_from_kernel { "" } else { " (sampled)" })
    });
    row("resident: peak during the seed", &|f| mb(f.rss_seed_peak_kb));
    println!("\nload average (1, 5, 15 min) before, between and after the backends: {}", loads.join("; "));
    Ok(())
}
