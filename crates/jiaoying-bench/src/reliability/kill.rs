//! Crashes: `kill -9` of one of three instances during a fan-out, `kill -9` of a single instance
//! mid fan-out and again mid escalation, and PostgreSQL restarted under a running instance.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use super::proc::{free_port, Instance};
use super::world::{self, percentile, Audit, Backend, Db, Quiet, RegistryText, STREET};
use super::{Ctx, Finding};
use crate::fanout::sink::{Route, Sink};

/// The street of the few persons a second alert reaches (PostgreSQL restart).
const SECOND_STREET: &str = "500105003";

fn mobile(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:07}")
}

/// `n` grid workers in [`STREET`], no superiors.
fn flat_registry(n: usize) -> anyhow::Result<jiaoying_core::Registry> {
    let mut r = RegistryText::default();
    r.area(STREET, None);
    for i in 0..n {
        r.person(&format!("p-{i}"), &mobile("1380", i), "grid", STREET, None);
    }
    r.build()
}

/// `n` grid workers in [`STREET`] under `s` superiors (community heads, who have none), and
/// `extra` grid workers without superiors in [`SECOND_STREET`].
fn chain_registry(n: usize, s: usize, extra: usize) -> anyhow::Result<jiaoying_core::Registry> {
    let mut r = RegistryText::default();
    r.area(STREET, None).area(SECOND_STREET, None);
    for j in 0..s {
        r.person(&format!("sup-{j}"), &mobile("1390", j), "community", STREET, None);
    }
    for i in 0..n {
        r.person(&format!("g-{i}"), &mobile("1380", i), "grid", STREET, Some(&format!("sup-{}", i % s)));
    }
    for i in 0..extra {
        r.person(&format!("x-{i}"), &mobile("1370", i), "grid", SECOND_STREET, None);
    }
    r.build()
}

/// Whether `to` (as the gateway got it, e.g. `+8613800000001`) is a mobile starting `prefix`.
pub fn mobile_starts(to: &str, prefix: &str) -> bool {
    to.trim_start_matches('+').trim_start_matches("86").starts_with(prefix)
}

/// Distinct recipients at the sink whose mobile starts with `prefix` (`1380`: the grid workers).
fn reached(sink: &Sink, prefix: &str) -> usize {
    sink.messages(0).iter().filter(|m| mobile_starts(&m.to, prefix)).map(|m| m.to.clone()).collect::<HashSet<_>>().len()
}

/// When the last message to mobiles starting `prefix` whose text matches `pred` arrived, after `t0`.
fn last_arrival(sink: &Sink, t0: Instant, prefix: &str, pred: impl Fn(&str) -> bool) -> String {
    sink.messages(0)
        .iter()
        .filter(|m| mobile_starts(&m.to, prefix) && pred(&m.text))
        .map(|m| m.at)
        .max()
        .map(|t| secs(t.saturating_duration_since(t0)))
        .unwrap_or_else(|| "never".into())
}

fn ids(sink: &Sink) -> HashSet<String> {
    sink.messages(0).into_iter().map(|m| m.id).collect()
}

/// Waits until `pred` holds, polling every 5 ms; false at the deadline.
async fn poll_until(within: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if pred() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pred()
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Three instances on one PostgreSQL database, a fan-out posted to the first, the second
/// SIGKILLed when a third of the persons have their message.
pub async fn three_instances(ctx: &Ctx, round: usize) -> anyhow::Result<Finding> {
    let n = ctx.persons;
    let latency = ctx.gateway_latency;
    let tried = format!(
        "3 instances on one PostgreSQL database, one red alert to {n} persons POSTed to instance 1, a gateway \
         answering each SMS in {} ms; instance 2 killed with SIGKILL once a third of the persons had their SMS \
         and at least 2.5 s had passed (every instance's outbox polling); lease 5 s, outbox batch {} (round {round})",
        latency.as_millis(),
        ctx.outbox_batch.map(|b| b.to_string()).unwrap_or_else(|| "default (256)".into())
    );
    println!("\n## kill -9 of one of three instances during a {n}-person fan-out (round {round})\ntried: {tried}");
    let sink = Sink::start(world::SMS_SECRET)?;
    sink.set_delay(latency);
    let db = Db::fresh(Backend::Postgres, ctx.pg_admin.as_deref(), ctx.dir.path(), "three").await?;
    let result = async {
        db.seed(&flat_registry(n)?).await?;
        let channels = world::sms_channel("sms", &sink.url("/sms"), &[]);
        let policies = "[policy.red]\nroles = [\"grid\"]\nchannels = [\"sms\"]\nanswer_within = \"1h\"\nrepeats = 0\nescalate = false\n";
        let dir = ctx.scenario_dir(&format!("three-{round}"))?;
        let cfg = world::config(&dir, &db.url, &channels, policies, ctx.outbox_batch)?;
        let mut instances = Vec::new();
        for i in 1..=3 {
            instances.push(Instance::start(&ctx.bin, &cfg, free_port()?, &dir, &format!("instance-{i}")).await?);
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
        let t0 = Instant::now();
        let (alert, calls) =
            world::post_new_alert(&client, &instances[0].base(), world::alert_json("three", "red", STREET)).await?;
        let accepted = t0.elapsed();
        anyhow::ensure!(calls == n as u64, "the alert made {calls} calls, not {n}");
        let at_third = poll_until(Duration::from_secs(120), || {
            sink.count(Route::Sms) >= n / 3 && t0.elapsed() >= Duration::from_millis(2500)
        })
        .await;
        anyhow::ensure!(at_third, "a third of the persons were never reached: {:?}", sink.counts());
        anyhow::ensure!(sink.count(Route::Sms) < n, "the fan-out was over before the kill: use more --persons");
        instances[1].kill9().await?;
        let killed_at = t0.elapsed();
        let count_at_kill = sink.count(Route::Sms);
        println!("  killed instance-2 at {} after the POST, {count_at_kill}/{n} persons reached", secs(killed_at));
        let all = poll_until(Duration::from_secs(180), || sink.count(Route::Sms) >= n).await;
        let all_at = t0.elapsed();
        let store = db.store().await?;
        let settled = world::settle(store.as_ref(), &[alert], Quiet::Messages, Duration::from_secs(120)).await;
        store.close().await;
        let mut exits = Vec::new();
        for i in [0usize, 2] {
            let status = instances[i].stop(Duration::from_secs(30)).await?;
            exits.push(format!("{}: {status:?}", instances[i].name));
        }
        let c = sink.counts();
        let persons = reached(&sink, "1380");
        let dup_pct = 100.0 * c.sms_duplicates as f64 / n as f64;
        let mut found = vec![
            format!("POST answered in {} ({calls} calls)", secs(accepted)),
            format!("{persons}/{n} persons reached, the last {} after the POST ({} after the kill)", secs(all_at), secs(all_at.saturating_sub(killed_at))),
            format!(
                "{} duplicate first messages at the gateway ({dup_pct:.2} % of {n}; target < 1 %), {} bad signatures",
                c.sms_duplicates, c.sms_invalid
            ),
            format!("survivors stopped by SIGTERM: {}", exits.join(", ")),
        ];
        let mut ok = all && persons == n && c.sms_invalid == 0;
        match settled {
            Ok(s) => {
                let audit = Audit::of(&s, &ids(&sink));
                found.push(format!("database: {}", audit.describe()));
                // Evidence for each duplicate: the message was claimed again after the lease.
                let dups: HashSet<String> = sink.duplicate_ids().into_iter().collect();
                let retaken = s.messages.iter().filter(|m| dups.contains(&m.id.to_string()) && m.attempts > 1).count();
                if !dups.is_empty() {
                    found.push(format!(
                        "the {} duplicated messages: {retaken} of them claimed a second time once the killed \
                         instance's lease ran out (sent by it, not recorded, sent again by a survivor)",
                        dups.len()
                    ));
                }
                ok &= audit.once_ok() && audit.sent_not_received.is_empty() && audit.messages_sent == n;
            }
            Err(e) => {
                found.push(format!("database: {e:#}"));
                ok = false;
            }
        }
        let dup_ok = dup_pct < 1.0;
        let summary = format!(
            "{persons}/{n} reached, {} after the kill; {} duplicates ({dup_pct:.2} %, target < 1 %: {})",
            secs(all_at.saturating_sub(killed_at)),
            c.sms_duplicates,
            if dup_ok { "met" } else { "NOT met" }
        );
        Ok(Finding::new("kill -9 one of three instances", Backend::Postgres, tried, found, ok && dup_ok, summary))
    }
    .await;
    db.drop_pg().await;
    result
}

/// The single-instance world: `n` grid workers under `s` superiors, 2 s to answer, one repeat,
/// then escalation to the superior (whose own call repeats once and ends: nobody above).
const CHAIN_POLICY: &str =
    "[policy.red]\nroles = [\"grid\"]\nchannels = [\"sms\"]\nanswer_within = \"2s\"\nrepeats = 1\nescalate = true\n";

/// How the single instance is disturbed mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disturbance {
    /// SIGKILL mid fan-out, restart; SIGKILL again mid repeats, restart.
    Kill,
    /// `pg_ctlcluster ... restart` mid fan-out; the instance is left alone.
    PostgresRestart,
}

/// One instance, a fan-out that repeats and escalates on short deadlines, disturbed mid-run.
pub async fn single(ctx: &Ctx, backend: Backend, how: Disturbance) -> anyhow::Result<Finding> {
    let (n, s, extra) = (ctx.chain_persons, ctx.chain_persons / 20, 50);
    let name = match how {
        Disturbance::Kill => "kill -9 of a single instance",
        Disturbance::PostgresRestart => "PostgreSQL restarted mid run",
    };
    let tried = match how {
        Disturbance::Kill => format!(
            "1 instance, a red alert to {n} grid workers under {s} superiors (answer within 2 s, 1 repeat, then \
             the superior); SIGKILL when a third had their first SMS, restart; SIGKILL again when a third of the \
             repeats had gone out, restart"
        ),
        Disturbance::PostgresRestart => format!(
            "1 instance, a red alert to {n} grid workers under {s} superiors (answer within 2 s, 1 repeat, then \
             the superior); `pg_ctlcluster restart` of the machine's PostgreSQL when a third had their first SMS; \
             from then on an alert to {extra} other persons POSTed every 250 ms until one is taken after the restart"
        ),
    };
    println!("\n## {name} ({})\ntried: {tried}", backend.name());
    let sink = Sink::start(world::SMS_SECRET)?;
    let db = Db::fresh(backend, ctx.pg_admin.as_deref(), ctx.dir.path(), "single").await?;
    let result = async {
        db.seed(&chain_registry(n, s, extra)?).await?;
        let channels = world::sms_channel("sms", &sink.url("/sms"), &[]);
        let dir = ctx.scenario_dir(&format!("single-{}-{:?}", backend.name(), how))?;
        let cfg = world::config(&dir, &db.url, &channels, CHAIN_POLICY, ctx.outbox_batch)?;
        let mut inst = Instance::start(&ctx.bin, &cfg, free_port()?, &dir, "solo").await?;
        let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
        let t0 = Instant::now();
        let (alert, calls) = world::post_new_alert(&client, &inst.base(), world::alert_json("chain", "red", STREET)).await?;
        anyhow::ensure!(calls == n as u64, "the alert made {calls} calls, not {n}");
        let mut found = Vec::new();
        let mut alerts = vec![alert];
        let mut ok = true;
        let at_third = poll_until(Duration::from_secs(120), || sink.count(Route::Sms) >= n / 3).await;
        anyhow::ensure!(at_third, "a third of the persons were never reached: {:?}", sink.counts());
        match how {
            Disturbance::Kill => {
                inst.kill9().await?;
                let first_kill = format!(
                    "SIGKILL 1 at {} after the POST with {}/{n} first SMS out",
                    secs(t0.elapsed()),
                    sink.count(Route::Sms)
                );
                inst = Instance::start(&ctx.bin, &cfg, inst.port, &dir, "solo").await?;
                found.push(format!("{first_kill}; restarted, ready in {}", secs(inst.ready_after)));
                println!("  {}", found.last().map(String::as_str).unwrap_or(""));
                let repeats = |sink: &Sink| sink.messages(0).iter().filter(|m| m.text.contains("次提醒")).count();
                let mid = poll_until(Duration::from_secs(120), || repeats(&sink) >= n / 3).await;
                inst.kill9().await?;
                found.push(format!(
                    "SIGKILL 2 at {} with {}/{n} repeats out{}",
                    secs(t0.elapsed()),
                    repeats(&sink),
                    if mid { "" } else { " (a third of the repeats never came: killed anyway)" }
                ));
                inst = Instance::start(&ctx.bin, &cfg, inst.port, &dir, "solo").await?;
                if let Some(f) = found.last_mut() {
                    f.push_str(&format!("; restarted, ready in {}", secs(inst.ready_after)));
                }
                println!("  {}", found.last().map(String::as_str).unwrap_or(""));
            }
            Disturbance::PostgresRestart => {
                let (line, taken, recovered) = restart_postgres(&client, &inst, &sink, n).await?;
                found.push(line);
                println!("  {}", found.last().map(String::as_str).unwrap_or(""));
                ok &= recovered;
                found.push(format!("{} alerts taken during and after the restart; all must be kept", taken.len()));
                alerts.extend(taken);
            }
        }
        let store = db.store().await?;
        let settled = world::settle(store.as_ref(), &alerts, Quiet::Everything, Duration::from_secs(300)).await;
        store.close().await;
        let alive = inst.pid().is_some() && inst.rss_kib().is_some();
        let errors = inst.error_lines();
        let exit = inst.stop(Duration::from_secs(30)).await?;
        let c = sink.counts();
        let grid = reached(&sink, "1380");
        let sups = reached(&sink, "1390");
        let extras = reached(&sink, "1370");
        found.push(format!(
            "{grid}/{n} grid workers and {sups}/{s} superiors reached{}; {} duplicate deliveries of one message \
             (at-least-once resends), {} bad signatures",
            if alerts.len() > 1 {
                format!(", {extras}/{extra} persons of the alerts POSTed during the restart")
            } else {
                String::new()
            },
            c.sms_duplicates,
            c.sms_invalid
        ));
        ok &= grid == n && sups == s && c.sms_invalid == 0 && (alerts.len() == 1 || extras == extra);
        let repeat = |t: &str| t.contains("次提醒");
        found.push(format!(
            "timeline after the POST: last first SMS {}, last repeat {}; superiors: last escalated call {}, last repeat {}",
            last_arrival(&sink, t0, "1380", |t| !repeat(t)),
            last_arrival(&sink, t0, "1380", repeat),
            last_arrival(&sink, t0, "1390", |t| !repeat(t)),
            last_arrival(&sink, t0, "1390", repeat)
        ));
        match settled {
            Ok(st) => {
                let audit = Audit::of(&st, &ids(&sink));
                let level0_wrong = st.calls.iter().filter(|c| c.level == 0 && c.attempts != 2).count();
                let not_escalated = st
                    .calls
                    .iter()
                    .filter(|c| c.level == 0 && c.person_id.starts_with("g-") && c.escalated_to.is_none())
                    .count();
                let superior_calls = st.calls.iter().filter(|c| c.person_id.starts_with("sup-")).count();
                found.push(format!(
                    "settled {} after the POST: every call repeated once ({level0_wrong} direct calls without exactly \
                     2 attempts), {not_escalated} grid calls not escalated, {superior_calls} calls to the {s} superiors",
                    secs(t0.elapsed())
                ));
                found.push(format!("database: {}", audit.describe()));
                let late = world::escalation_lateness(&st);
                found.push(format!(
                    "escalation of the {} grid calls, from their last deadline to the escalation: p50 {:.1} s, \
                     p99 {:.1} s, max {:.1} s",
                    late.len(),
                    percentile(&late, 0.5) / 1000.0,
                    percentile(&late, 0.99) / 1000.0,
                    late.last().copied().unwrap_or(f64::NAN) / 1000.0
                ));
                ok &= audit.once_ok()
                    && audit.sent_not_received.is_empty()
                    && audit.messages_failed == 0
                    && level0_wrong == 0
                    && not_escalated == 0
                    && superior_calls == s;
            }
            Err(e) => {
                found.push(format!("database: {e:#}"));
                ok = false;
            }
        }
        found.push(format!(
            "instance {} at the end; stopped by SIGTERM: {exit:?}; {} ERROR lines in its log",
            if alive { "alive" } else { "GONE" },
            errors.len()
        ));
        if let Some(e) = errors.first() {
            found.push(format!("first ERROR line: {e}"));
        }
        ok &= alive;
        let summary = format!(
            "{grid}/{n} + {sups}/{s} reached; repeats and escalations once: {}; {} resent",
            if ok { "yes" } else { "NO" },
            c.sms_duplicates
        );
        Ok(Finding::new(name, backend, tried, found, ok, summary))
    }
    .await;
    db.drop_pg().await;
    result
}

/// Restarts the machine's PostgreSQL cluster while the instance works, watching `/readyz` and
/// POSTing new alerts (each to the same few persons) every 250 ms from the moment the restart
/// begins until one is taken after it has finished. The line for the report, the ids of the
/// alerts taken, and whether the service came back by itself.
async fn restart_postgres(
    client: &reqwest::Client,
    inst: &Instance,
    sink: &Sink,
    n: usize,
) -> anyhow::Result<(String, Vec<i64>, bool)> {
    let version = std::fs::read_dir("/etc/postgresql")?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .next()
        .ok_or_else(|| anyhow::anyhow!("no cluster under /etc/postgresql"))?;
    let base = inst.base();
    let at = sink.count(Route::Sms);
    // Readiness as an orchestrator would see it, every 100 ms, each probe given 1 s.
    let watch_client = client.clone();
    let watch_base = base.clone();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        let started = Instant::now();
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        let mut not_ready: Option<(Duration, Duration)> = None;
        loop {
            let probe_at = started.elapsed();
            let r = watch_client.get(format!("{watch_base}/readyz")).timeout(Duration::from_secs(1)).send().await;
            let outcome = match r {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".into(),
                Err(_) => "refused".into(),
            };
            if outcome != "200" {
                let (first, _) = not_ready.unwrap_or((probe_at, probe_at));
                not_ready = Some((first, started.elapsed()));
            }
            *outcomes.entry(outcome).or_default() += 1;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = &mut stop_rx => break,
            }
        }
        (outcomes, not_ready)
    });
    let t = Instant::now();
    let restart = tokio::spawn(
        tokio::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "restart"])
            .output(),
    );
    // Alerts from the moment the restart begins: refused (503) or slow while the database is
    // away, taken again when it is back. Every one taken must be kept.
    let mut posts: BTreeMap<String, usize> = BTreeMap::new();
    let mut taken = Vec::new();
    let mut restart_took = None;
    let mut first_taken_after = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut k = 0;
    while Instant::now() < deadline {
        if restart_took.is_none() && restart.is_finished() {
            restart_took = Some(t.elapsed());
        }
        let body = world::alert_json(&format!("during-restart-{k}"), "red", SECOND_STREET);
        k += 1;
        let r = client
            .post(format!("{base}/api/v1/alerts"))
            .bearer_auth(world::SOURCE_TOKEN)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(5))
            .body(body)
            .send()
            .await;
        let outcome = match r {
            Ok(r) if r.status().as_u16() == 201 => {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                taken.extend(v["id"].as_i64());
                "201".to_string()
            }
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) if e.is_timeout() => "timeout".into(),
            Err(e) => format!("error: {e}"),
        };
        let ok = outcome == "201";
        *posts.entry(outcome).or_default() += 1;
        if ok && restart_took.is_some() {
            first_taken_after = Some(t.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let out = restart.await??;
    let restart_took = restart_took.unwrap_or_else(|| t.elapsed());
    anyhow::ensure!(out.status.success(), "pg_ctlcluster restart failed: {}", String::from_utf8_lossy(&out.stderr));
    let ready_again = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if matches!(client.get(format!("{base}/readyz")).send().await, Ok(r) if r.status().is_success()) {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = stop_tx.send(());
    let (probes, not_ready) = watcher.await?;
    let line = format!(
        "PostgreSQL {version} restarted at {at}/{n} first SMS out (the restart command took {}); /readyz probes {probes:?}, \
         not ready {}; alerts POSTed every 250 ms from the restart on: {posts:?}, the first taken after the restart \
         {}; ready again: {ready_again}",
        secs(restart_took),
        match not_ready {
            Some((f, l)) => format!("from {} to {} after the restart began", secs(f), secs(l)),
            None => "never seen".into(),
        },
        first_taken_after.map(|d| format!("{} after it began", secs(d))).unwrap_or_else(|| "NEVER".into()),
    );
    Ok((line, taken, first_taken_after.is_some() && ready_again))
}
