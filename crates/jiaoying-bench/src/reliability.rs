//! `cargo run --release -p jiaoying-bench -- reliability [--quick] [--restart-postgres] [...]`
//!
//! The reliability suite: the real binary (`target/release/jiaoying`, built first unless
//! `--no-build`) as child processes against SQLite and PostgreSQL (a fresh database per scenario,
//! from `JIAOYING_BENCH_PG_URL` or `JIAOYING_TEST_PG_URL`), SMS to loopback gateways that check
//! every signature (the fan-out bench's sink). Per scenario it prints what it tried and what it
//! found, then a table of all of them; it exits 1 when any scenario failed its checks.
//!
//! - `kill -9` of one of three instances during a fan-out (PostgreSQL): everyone reached, and the
//!   duplicate first messages counted (target < 1 %);
//! - `kill -9` of a single instance mid fan-out and again mid escalation (both backends): every
//!   person reached, every repeat and escalation made once;
//! - PostgreSQL restarted mid run (`--restart-postgres` only: it restarts the machine's cluster,
//!   which briefly disturbs anyone else using it): the service recovers by itself;
//! - a gateway down (60 s; 10 s with `--quick`): failover to the second channel, catch-up after;
//! - sustained load (10 min; 1 min with `--quick`): no error response, memory flat.

mod gateway;
mod kill;
mod proc;
mod soak;
mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use world::Backend;

const USAGE: &str = "usage: reliability [--quick] [--restart-postgres] [--only three,kill,gateway,soak,pg-restart] \
                     [--backend sqlite|postgres] [--persons N] [--rounds N] [--gateway-latency-ms N] [--outbox-batch N] \
                     [--outage SECS] [--soak SECS] [--no-build] [--keep]";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Three,
    Kill,
    PgRestart,
    Gateway,
    Soak,
}

impl Scenario {
    fn parse(s: &str) -> anyhow::Result<Scenario> {
        Ok(match s {
            "three" => Scenario::Three,
            "kill" => Scenario::Kill,
            "pg-restart" => Scenario::PgRestart,
            "gateway" => Scenario::Gateway,
            "soak" => Scenario::Soak,
            other => anyhow::bail!("unknown scenario {other:?}; {USAGE}"),
        })
    }
}

#[derive(Debug)]
struct Options {
    quick: bool,
    restart_postgres: bool,
    only: Option<Vec<Scenario>>,
    backend: Option<Backend>,
    persons: usize,
    rounds: usize,
    gateway_latency: Duration,
    outbox_batch: Option<i64>,
    outage: Duration,
    soak: Duration,
    build: bool,
    keep: bool,
}

fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        quick: false,
        restart_postgres: false,
        only: None,
        backend: None,
        persons: 3000,
        rounds: 1,
        gateway_latency: Duration::from_millis(50),
        outbox_batch: None,
        outage: Duration::from_secs(60),
        soak: Duration::from_secs(600),
        build: true,
        keep: false,
    };
    let (mut outage, mut soak) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| anyhow::anyhow!("{name} needs a value; {USAGE}"));
        let number = |name: &str, v: String| -> anyhow::Result<u64> {
            v.parse().map_err(|_| anyhow::anyhow!("{name}: {v:?} is not a number"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--restart-postgres" => o.restart_postgres = true,
            "--no-build" => o.build = false,
            "--keep" => o.keep = true,
            "--only" => o.only = Some(value("--only")?.split(',').map(Scenario::parse).collect::<anyhow::Result<_>>()?),
            "--backend" => {
                o.backend = Some(match value("--backend")?.as_str() {
                    "sqlite" => Backend::Sqlite,
                    "postgres" => Backend::Postgres,
                    other => anyhow::bail!("--backend: {other:?} is not sqlite or postgres"),
                })
            }
            "--persons" => o.persons = number("--persons", value("--persons")?)? as usize,
            "--rounds" => o.rounds = number("--rounds", value("--rounds")?)? as usize,
            "--gateway-latency-ms" => {
                o.gateway_latency =
                    Duration::from_millis(number("--gateway-latency-ms", value("--gateway-latency-ms")?)?)
            }
            "--outbox-batch" => {
                o.outbox_batch = Some(number("--outbox-batch", value("--outbox-batch")?)?.max(1) as i64)
            }
            "--outage" => outage = Some(Duration::from_secs(number("--outage", value("--outage")?)?)),
            "--soak" => soak = Some(Duration::from_secs(number("--soak", value("--soak")?)?)),
            other => anyhow::bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    if o.quick {
        o.outage = Duration::from_secs(10);
        o.soak = Duration::from_secs(60);
    }
    o.outage = outage.unwrap_or(o.outage);
    o.soak = soak.unwrap_or(o.soak);
    anyhow::ensure!(o.persons >= 3, "--persons must be at least 3");
    anyhow::ensure!(o.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(!o.outage.is_zero() && !o.soak.is_zero(), "--outage and --soak must be at least 1 s");
    Ok(o)
}

/// What every scenario gets.
pub struct Ctx {
    bin: proc::Binary,
    dir: tempfile::TempDir,
    pg_admin: Option<String>,
    /// The three-instance fan-out's persons.
    persons: usize,
    /// How long the three-instance fan-out's gateway takes to answer each SMS.
    gateway_latency: Duration,
    /// `[outbox] batch` for the service under test (its default when `None`).
    outbox_batch: Option<i64>,
    /// The single-instance fan-out's grid workers (a twentieth of them are their superiors).
    chain_persons: usize,
    outage: Duration,
    soak: Duration,
}

impl Ctx {
    /// A folder for one scenario's config and instance logs.
    fn scenario_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let d = self.dir.path().join(name.to_lowercase());
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }
}

/// What one scenario tried and found.
pub struct Finding {
    scenario: &'static str,
    backend: Backend,
    tried: String,
    found: Vec<String>,
    ok: bool,
    summary: String,
}

impl Finding {
    fn new(
        scenario: &'static str,
        backend: Backend,
        tried: String,
        found: Vec<String>,
        ok: bool,
        summary: String,
    ) -> Finding {
        Finding { scenario, backend, tried, found, ok, summary }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub async fn report(args: &[String]) -> anyhow::Result<()> {
    let o = options(args)?;
    let pg_admin = std::env::var("JIAOYING_BENCH_PG_URL").or_else(|_| std::env::var("JIAOYING_TEST_PG_URL")).ok();
    let bin = proc::Binary::locate(o.build)?;
    let ctx = Ctx {
        bin,
        dir: tempfile::Builder::new().prefix("jiaoying-reliability-").tempdir()?,
        pg_admin: pg_admin.clone(),
        persons: o.persons,
        gateway_latency: o.gateway_latency,
        outbox_batch: o.outbox_batch,
        chain_persons: 2000,
        outage: o.outage,
        soak: o.soak,
    };
    let wanted = |s: Scenario| o.only.as_ref().is_none_or(|only| only.contains(&s));
    let backends: Vec<Backend> =
        [Backend::Sqlite, Backend::Postgres].into_iter().filter(|b| o.backend.is_none_or(|want| want == *b)).collect();
    let has_pg = pg_admin.is_some();
    println!(
        "# jiaoying reliability suite\nbinary: {}\nPostgreSQL: {}\nload average at start: {}\nlogs and configs: {}",
        ctx.bin.path.display(),
        if has_pg { "yes (a fresh database per scenario)" } else { "no: set JIAOYING_BENCH_PG_URL" },
        load_average(),
        ctx.dir.path().display()
    );
    let started = Instant::now();
    let mut findings: Vec<Finding> = Vec::new();
    let mut not_run: Vec<String> = Vec::new();
    let mut failed_to_run: Vec<String> = Vec::new();
    let mut record = |name: String, r: anyhow::Result<Finding>, findings: &mut Vec<Finding>| match r {
        Ok(f) => {
            println!("found:");
            for line in &f.found {
                println!("- {line}");
            }
            println!("verdict: {}", if f.ok { "PASS" } else { "FAIL" });
            findings.push(f);
        }
        Err(e) => {
            println!("could not complete: {e:#}");
            failed_to_run.push(format!("{name}: {e:#}"));
        }
    };
    let pg_wanted = backends.contains(&Backend::Postgres);

    if wanted(Scenario::Three) {
        if has_pg && pg_wanted {
            for round in 1..=o.rounds {
                let r = kill::three_instances(&ctx, round).await;
                record(format!("kill -9 of one of three instances (round {round})"), r, &mut findings);
            }
        } else {
            not_run.push("kill -9 of one of three instances: needs PostgreSQL (JIAOYING_BENCH_PG_URL)".into());
        }
    }
    if wanted(Scenario::Kill) {
        for &b in &backends {
            if b == Backend::Postgres && !has_pg {
                not_run.push("kill -9 of a single instance on PostgreSQL: no JIAOYING_BENCH_PG_URL".into());
                continue;
            }
            let r = kill::single(&ctx, b, kill::Disturbance::Kill).await;
            record(format!("kill -9 of a single instance ({})", b.name()), r, &mut findings);
        }
    }
    if wanted(Scenario::PgRestart) || o.restart_postgres {
        if !o.restart_postgres {
            if o.only.is_some() {
                not_run.push("PostgreSQL restart: add --restart-postgres (it restarts the machine's cluster)".into());
            }
        } else if has_pg && pg_wanted {
            let r = kill::single(&ctx, Backend::Postgres, kill::Disturbance::PostgresRestart).await;
            record("PostgreSQL restarted mid run".into(), r, &mut findings);
        } else {
            not_run.push("PostgreSQL restart: needs PostgreSQL (JIAOYING_BENCH_PG_URL)".into());
        }
    }
    if !o.restart_postgres && o.only.is_none() {
        not_run.push(
            "PostgreSQL restarted mid run: opt-in with --restart-postgres (it restarts the machine's PostgreSQL, \
             briefly disturbing anyone else using it)"
                .into(),
        );
    }
    if wanted(Scenario::Gateway) {
        for &b in &backends {
            if b == Backend::Postgres && !has_pg {
                not_run.push("gateway down on PostgreSQL: no JIAOYING_BENCH_PG_URL".into());
                continue;
            }
            let r = gateway::gateway_down(&ctx, b).await;
            record(format!("gateway down ({})", b.name()), r, &mut findings);
        }
    }
    if wanted(Scenario::Soak) {
        for &b in &backends {
            if b == Backend::Postgres && !has_pg {
                not_run.push("sustained load on PostgreSQL: no JIAOYING_BENCH_PG_URL".into());
                continue;
            }
            let r = soak::sustained(&ctx, b).await;
            record(format!("sustained load ({})", b.name()), r, &mut findings);
        }
    }

    println!("\n# Summary ({:.0} s, load average at the end {})\n", started.elapsed().as_secs_f64(), load_average());
    println!("| scenario | backend | result | figures |");
    println!("| --- | --- | --- | --- |");
    for f in &findings {
        println!(
            "| {} | {} | {} | {} |",
            f.scenario,
            f.backend.name(),
            if f.ok { "pass" } else { "**FAIL**" },
            f.summary
        );
    }
    for f in &findings {
        if !f.ok {
            println!("\nFAILED: {} ({}): tried {}", f.scenario, f.backend.name(), f.tried);
        }
    }
    for n in &not_run {
        println!("not run: {n}");
    }
    for n in &failed_to_run {
        println!("could not complete: {n}");
    }
    let failed = findings.iter().any(|f| !f.ok) || !failed_to_run.is_empty();
    if o.keep || failed {
        let kept = ctx.dir.keep();
        println!("logs and configs kept in {}", kept.display());
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn options_parse_and_refuse_nonsense() {
        let d = options(&[]).unwrap();
        assert_eq!((d.quick, d.restart_postgres, d.persons, d.rounds, d.build), (false, false, 3000, 1, true));
        assert_eq!((d.outage.as_secs(), d.soak.as_secs(), d.gateway_latency.as_millis()), (60, 600, 50));
        assert_eq!(options(&args(&["--gateway-latency-ms", "0"])).unwrap().gateway_latency, Duration::ZERO);
        assert_eq!(options(&args(&["--outbox-batch", "32"])).unwrap().outbox_batch, Some(32));
        let q = options(&args(&["--quick", "--restart-postgres"])).unwrap();
        assert_eq!((q.outage.as_secs(), q.soak.as_secs(), q.restart_postgres), (10, 60, true));
        let q = options(&args(&["--soak", "30", "--quick"])).unwrap();
        assert_eq!(q.soak.as_secs(), 30, "an explicit --soak wins over --quick");
        let only = options(&args(&["--only", "three,soak", "--backend", "postgres"])).unwrap();
        assert_eq!(only.only, Some(vec![Scenario::Three, Scenario::Soak]));
        assert_eq!(only.backend, Some(Backend::Postgres));
        for bad in [
            &["--only", "everything"][..],
            &["--backend", "mysql"],
            &["--persons", "2"],
            &["--persons"],
            &["--outage", "x"],
            &["--rounds", "0"],
            &["--what"],
        ] {
            assert!(options(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn registries_and_config_are_what_the_service_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = world::RegistryText::default();
        r.area("500105002", None).person("p-1", "13800000001", "grid", "500105002", None);
        let reg = r.build().unwrap();
        assert!(reg.problems().is_empty(), "{:?}", reg.problems());
        let channels = [
            world::sms_channel("sms", "http://127.0.0.1:9/sms", &["sms-backup"]),
            world::sms_channel("sms-backup", "http://127.0.0.1:9/sms", &[]),
        ]
        .join("\n");
        let policy = "[policy.red]\nroles = [\"grid\"]\nchannels = [\"sms\"]\nanswer_within = \"2s\"\nrepeats = 1\n";
        let path = world::config(dir.path(), "sqlite::memory:", &channels, policy, Some(32)).unwrap();
        let s = jiaoying::Settings::load(Some(&path)).unwrap();
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        assert_eq!(s.outbox.batch, 32);
    }
}
