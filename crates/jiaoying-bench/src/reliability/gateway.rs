//! A gateway down: the primary SMS gateway answers 503 to everything for a while. Red alerts go
//! out on a channel with a fallback (a second gateway); orange alerts on a channel to the same
//! primary gateway without one, so they must wait and catch up when it returns.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::kill::mobile_starts;
use super::proc::{free_port, Instance};
use super::world::{self, Audit, Backend, Db, Quiet, RegistryText};
use super::{Ctx, Finding};
use crate::fanout::sink::Sink;

/// Streets: red alert at the start, orange alert at the start, red alert half-way through.
const RED: &str = "500105002";
const ORANGE: &str = "500105003";
const RED_LATER: &str = "500105004";
const PERSONS: usize = 500;

fn registry() -> anyhow::Result<jiaoying_core::Registry> {
    let mut r = RegistryText::default();
    for (street, prefix) in [(RED, "1380"), (ORANGE, "1381"), (RED_LATER, "1382")] {
        r.area(street, None);
        for i in 0..PERSONS {
            r.person(&format!("p{prefix}-{i}"), &format!("{prefix}{i:07}"), "grid", street, None);
        }
    }
    r.build()
}

const POLICIES: &str = "\
[policy.red]
roles = [\"grid\"]
channels = [\"sms\"]
answer_within = \"1h\"
repeats = 0
escalate = false
[policy.orange]
roles = [\"grid\"]
channels = [\"sms-direct\"]
answer_within = \"1h\"
repeats = 0
escalate = false
";

fn recipients(sinks: &[&Sink], prefix: &str) -> HashSet<String> {
    sinks.iter().flat_map(|s| s.messages(0)).filter(|m| mobile_starts(&m.to, prefix)).map(|m| m.to).collect()
}

pub async fn gateway_down(ctx: &Ctx, backend: Backend) -> anyhow::Result<Finding> {
    let outage = ctx.outage;
    let tried = format!(
        "primary SMS gateway answering 503 for {} s; red alerts on channel `sms` (fallback: `sms-backup`, a second \
         gateway), orange on `sms-direct` (same primary gateway, no fallback); {PERSONS} persons each: red and \
         orange at the start of the outage, another red half-way",
        outage.as_secs()
    );
    println!("\n## gateway down ({})\ntried: {tried}", backend.name());
    let primary = Sink::start(world::SMS_SECRET)?;
    let backup = Sink::start(world::SMS_SECRET)?;
    let db = Db::fresh(backend, ctx.pg_admin.as_deref(), ctx.dir.path(), "gateway").await?;
    let result = async {
        db.seed(&registry()?).await?;
        let channels = [
            world::sms_channel("sms", &primary.url("/sms"), &["sms-backup"]),
            world::sms_channel("sms-backup", &backup.url("/sms"), &[]),
            world::sms_channel("sms-direct", &primary.url("/sms"), &[]),
        ]
        .join("\n");
        let dir = ctx.scenario_dir(&format!("gateway-{}", backend.name()))?;
        let cfg = world::config(&dir, &db.url, &channels, POLICIES, ctx.outbox_batch)?;
        let mut inst = Instance::start(&ctx.bin, &cfg, free_port()?, &dir, "solo").await?;
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;

        primary.set_unavailable(true);
        let down_at = Instant::now();
        let (red, _) = world::post_new_alert(&client, &inst.base(), world::alert_json("down-red", "red", RED)).await?;
        let (orange, _) =
            world::post_new_alert(&client, &inst.base(), world::alert_json("down-orange", "orange", ORANGE)).await?;
        // Red persons reached through the backup while the primary is down.
        let mut red_all_at = None;
        let mut red_later = None;
        let mut red_later_all_at = None;
        while down_at.elapsed() < outage {
            if red_all_at.is_none() && recipients(&[&primary, &backup], "1380").len() >= PERSONS {
                red_all_at = Some(down_at.elapsed());
            }
            if red_later.is_none() && down_at.elapsed() >= outage / 2 {
                let posted = down_at.elapsed();
                let (id, _) =
                    world::post_new_alert(&client, &inst.base(), world::alert_json("down-red-2", "red", RED_LATER)).await?;
                red_later = Some((id, posted));
            }
            if let (Some((_, posted)), None) = (red_later, red_later_all_at) {
                if recipients(&[&primary, &backup], "1382").len() >= PERSONS {
                    red_later_all_at = Some(down_at.elapsed().saturating_sub(posted));
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let orange_during = recipients(&[&primary, &backup], "1381").len();
        primary.set_unavailable(false);
        let up_at = Instant::now();
        let mut orange_all_after = None;
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if recipients(&[&primary], "1381").len() >= PERSONS {
                // When the last of them landed at the gateway, not when this loop looked.
                let last = primary.messages(0).iter().filter(|m| mobile_starts(&m.to, "1381")).map(|m| m.at).max();
                orange_all_after = last.map(|t| t.saturating_duration_since(up_at));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut alerts = vec![red, orange];
        alerts.extend(red_later.map(|(id, _)| id));
        let store = db.store().await?;
        let settled = world::settle(store.as_ref(), &alerts, Quiet::Messages, Duration::from_secs(120)).await;
        store.close().await;
        let exit = inst.stop(Duration::from_secs(30)).await?;

        let (p, b) = (primary.counts(), backup.counts());
        let red_on_backup = recipients(&[&backup], "1380").len();
        let red_total = recipients(&[&primary, &backup], "1380").len();
        let later_total = recipients(&[&primary, &backup], "1382").len();
        let orange_on_primary = recipients(&[&primary], "1381").len();
        let orange_on_backup = recipients(&[&backup], "1381").len();
        let fmt = |d: Option<Duration>| d.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "never".into());
        let mut found = vec![
            format!(
                "red at the start: {red_total}/{PERSONS} reached during the outage ({red_on_backup} through the backup), \
                 all within {} of the outage starting",
                fmt(red_all_at)
            ),
            format!(
                "red half-way: {later_total}/{PERSONS} reached, all within {} of its POST",
                fmt(red_later_all_at)
            ),
            format!(
                "orange (no fallback): {orange_during} reached during the outage; after the gateway came back \
                 {orange_on_primary}/{PERSONS} through it, the last {} after it came back; {orange_on_backup} on the backup",
                fmt(orange_all_after)
            ),
            format!(
                "primary gateway: {} requests refused with 503, {} distinct SMS, {} duplicates; backup: {} distinct, {} duplicates",
                p.sms_refused, p.sms, p.sms_duplicates, b.sms, b.sms_duplicates
            ),
            format!("stopped by SIGTERM: {exit:?}"),
        ];
        let mut ok = red_total == PERSONS
            && red_all_at.is_some()
            && later_total == PERSONS
            && orange_on_primary == PERSONS
            && orange_on_backup == 0
            && p.sms_invalid + b.sms_invalid == 0;
        match settled {
            Ok(s) => {
                let received: HashSet<String> =
                    primary.messages(0).into_iter().chain(backup.messages(0)).map(|m| m.id).collect();
                let audit = Audit::of(&s, &received);
                let failed_over = s.messages.iter().filter(|m| m.state == "failed").count();
                found.push(format!(
                    "database: {}; {failed_over} messages failed on the primary and were sent again on the backup",
                    audit.describe()
                ));
                ok &= audit.once_ok() && audit.sent_not_received.is_empty() && audit.received_not_sent == 0;
            }
            Err(e) => {
                found.push(format!("database: {e:#}"));
                ok = false;
            }
        }
        let summary = format!(
            "red {red_total}/{PERSONS} + {later_total}/{PERSONS} via failover (all within {}); orange {orange_on_primary}/{PERSONS} caught up {} after the gateway returned",
            fmt(red_all_at),
            fmt(orange_all_after)
        );
        Ok(Finding::new("gateway down", backend, tried, found, ok, summary))
    }
    .await;
    db.drop_pg().await;
    result
}
