//! What every scenario sets up: a fresh database (a SQLite file, or a new PostgreSQL database
//! per scenario), a registry, a config file the instances share, and the checks read back from
//! the database once the service has gone quiet.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiaoying_core::{Clock, SystemClock};
use jiaoying_store::{MessageRow, Store};
use sqlx::Connection;

pub const SOURCE_TOKEN: &str = "reliability-source-token-0123456789";
pub const SMS_SECRET: &str = "reliability-sms-secret";
pub const STREET: &str = "500105002";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A fresh database for one scenario; PostgreSQL ones are dropped by [`Db::drop_pg`].
pub struct Db {
    pub url: String,
    pg: Option<(String, String)>,
}

impl Db {
    pub async fn fresh(backend: Backend, pg_admin: Option<&str>, dir: &Path, label: &str) -> anyhow::Result<Db> {
        match backend {
            Backend::Sqlite => {
                Ok(Db { url: format!("sqlite://{}", dir.join(format!("{label}.db")).display()), pg: None })
            }
            Backend::Postgres => {
                let admin = pg_admin.ok_or_else(|| anyhow::anyhow!("no PostgreSQL URL"))?;
                let (url, name) = crate::fresh_pg(admin).await?;
                Ok(Db { url, pg: Some((admin.to_string(), name)) })
            }
        }
    }

    /// Migrates and stores `registry` (in-process, before any instance starts).
    pub async fn seed(&self, registry: &jiaoying_core::Registry) -> anyhow::Result<()> {
        let store = jiaoying_store::connect(&self.url).await?;
        store.migrate().await?;
        store.upsert_registry(registry, SystemClock.now().millis()).await?;
        store.close().await;
        Ok(())
    }

    pub async fn store(&self) -> anyhow::Result<std::sync::Arc<dyn Store>> {
        Ok(jiaoying_store::connect(&self.url).await?)
    }

    pub async fn drop_pg(self) {
        if let Some((admin, name)) = self.pg {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
            }
        }
    }
}

/// A registry written as the TOML an operator would import, parsed by the service's own types.
#[derive(Default)]
pub struct RegistryText(String);

impl RegistryText {
    pub fn area(&mut self, code: &str, parent: Option<&str>) -> &mut Self {
        self.0.push_str(&format!("[[areas]]\ncode = \"{code}\"\nname = \"区域{code}\"\n"));
        if let Some(p) = parent {
            self.0.push_str(&format!("parent = \"{p}\"\n"));
        }
        self
    }

    /// A person; `mobile` is 11 digits.
    pub fn person(&mut self, id: &str, mobile: &str, role: &str, area: &str, superior: Option<&str>) -> &mut Self {
        self.0.push_str(&format!(
            "[[persons]]\nid = \"{id}\"\nname = \"{role}{id}\"\nmobile = \"{mobile}\"\nroles = [\"{role}\"]\narea = \"{area}\"\n"
        ));
        if let Some(s) = superior {
            self.0.push_str(&format!("superior = \"{s}\"\n"));
        }
        self
    }

    pub fn build(&self) -> anyhow::Result<jiaoying_core::Registry> {
        Ok(toml::from_str(&self.0)?)
    }
}

/// The config every instance of a scenario shares. `channels` and `policies` are TOML tables.
/// Short leases so that a killed instance's claims are taken over within seconds; the outbox's
/// claim size is the service's default unless `outbox_batch` says otherwise.
pub fn config(
    dir: &Path,
    db_url: &str,
    channels: &str,
    policies: &str,
    outbox_batch: Option<i64>,
) -> anyhow::Result<PathBuf> {
    let batch = outbox_batch.map(|b| format!("batch = {b}\n")).unwrap_or_default();
    let text = format!(
        r#"# written by jiaoying-bench reliability
[server]
listen = "127.0.0.1:0"
public_url = "http://jiaoying.reliability"
[database]
url = "{db_url}"
[security]
secret = "reliability-secret-that-signs-answer-links"
[messages]
signature = "观音桥街道"
[outbox]
lease = "5s"
{batch}[[sources]]
id = "reliability"
token = "{SOURCE_TOKEN}"
{channels}
{policies}
"#
    );
    let path = dir.join("jiaoying.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// An `sms-webhook` channel table. Its request timeout is 2 s: the outbox starts a send only
/// while the claim (5 s here) outlives the timeout.
pub fn sms_channel(name: &str, url: &str, fallback: &[&str]) -> String {
    let fb = fallback.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ");
    format!(
        "[channels.{name}]\nkind = \"sms-webhook\"\nurl = \"{url}\"\nsecret = \"{SMS_SECRET}\"\n\
         timeout_secs = 2\nfallback = [{fb}]\n"
    )
}

pub fn alert_json(identifier: &str, tier: &str, area: &str) -> String {
    serde_json::json!({
        "identifier": identifier,
        "sender": "cq@cma.gov.cn",
        "sent": "2026-07-01T08:00:00+08:00",
        "event": "暴雨",
        "tier": tier,
        "headline": "江北区气象台发布暴雨预警",
        "areas": [{"code": area}]
    })
    .to_string()
}

/// POSTs an alert; `(status, body)`.
pub async fn post_alert(
    client: &reqwest::Client,
    base: &str,
    body: String,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let r = client
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(SOURCE_TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json::<serde_json::Value>().await.unwrap_or_default()))
}

/// The alert's id from a 201, or an error naming what came back.
pub async fn post_new_alert(client: &reqwest::Client, base: &str, body: String) -> anyhow::Result<(i64, u64)> {
    let (status, v) = post_alert(client, base, body).await?;
    anyhow::ensure!(status == 201, "alert POST answered {status}: {v}");
    Ok((v["id"].as_i64().unwrap_or(0), v["calls"].as_u64().unwrap_or(0)))
}

/// What the database says of some alerts once nothing more is due.
pub struct Settled {
    pub calls: Vec<jiaoying_store::CallRow>,
    pub messages: Vec<MessageRow>,
    pub events: Vec<jiaoying_store::EventRow>,
    /// How long the wait for quiet took.
    pub waited: Duration,
}

/// What must be over for a run to count as settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// No message queued or being sent (calls may still wait for answers).
    Messages,
    /// That, and no call waiting: every repeat and escalation done.
    Everything,
}

/// Waits until nothing of `alerts` is left to do (see [`Quiet`]); an error naming what is left
/// when that has not happened within `within`.
pub async fn settle(store: &dyn Store, alerts: &[i64], quiet: Quiet, within: Duration) -> anyhow::Result<Settled> {
    let started = Instant::now();
    loop {
        // Messages first: a send recorded between the two reads then shows as a call ahead of
        // its message (the next poll sees both), never as a sent message with its call behind.
        let mut messages = Vec::new();
        for &a in alerts {
            messages.extend(store.messages_of_alert(a).await?);
        }
        let mut calls = Vec::new();
        for &a in alerts {
            calls.extend(store.calls_of_alert(a).await?.into_iter().map(|c| c.call));
        }
        let waiting = calls.iter().filter(|c| c.state.is_waiting()).count();
        let busy = messages.iter().filter(|m| m.state == "queued" || m.state == "sending").count();
        if (waiting == 0 || quiet == Quiet::Messages) && busy == 0 {
            let mut events = Vec::new();
            for &a in alerts {
                events.extend(store.events_of_alert(a).await?);
            }
            return Ok(Settled { calls, messages, events, waited: started.elapsed() });
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "not settled within {within:?}: {waiting} calls still waiting, {busy} messages queued or sending"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The "once" checks on a settled set of calls and messages, against what the gateway(s) got.
#[derive(Debug, Default)]
pub struct Audit {
    pub calls: usize,
    pub by_level: BTreeMap<i64, usize>,
    pub by_state: BTreeMap<String, usize>,
    pub messages_sent: usize,
    pub messages_failed: usize,
    pub messages_other: usize,
    /// Calls whose call messages number other than their attempts (a repeat or escalation done
    /// twice, or one missing).
    pub attempts_mismatch: Vec<String>,
    /// Persons with more than one call in one alert (an escalation made twice).
    pub double_calls: Vec<String>,
    /// Sent messages the gateway never got.
    pub sent_not_received: Vec<i64>,
    /// Messages the gateway got that the database does not have as sent (e.g. a send whose
    /// outcome was lost, then retried on another channel).
    pub received_not_sent: usize,
    /// Messages claimed more than once: retried after a failure, or taken over after a lease ran
    /// out.
    pub claimed_again: usize,
}

impl Audit {
    pub fn of(settled: &Settled, received_ids: &HashSet<String>) -> Audit {
        let mut a = Audit { calls: settled.calls.len(), ..Audit::default() };
        for c in &settled.calls {
            *a.by_level.entry(c.level).or_default() += 1;
            *a.by_state.entry(c.state.as_str().to_string()).or_default() += 1;
        }
        let mut call_messages: HashMap<i64, i64> = HashMap::new();
        let mut sent_ids = HashSet::new();
        for m in &settled.messages {
            match m.state.as_str() {
                "sent" | "delivered" => {
                    a.messages_sent += 1;
                    sent_ids.insert(m.id.to_string());
                    if !received_ids.contains(&m.id.to_string()) {
                        a.sent_not_received.push(m.id);
                    }
                }
                "failed" => a.messages_failed += 1,
                _ => a.messages_other += 1,
            }
            if m.attempts > 1 {
                a.claimed_again += 1;
            }
            // A call's message that failed over is counted once: the copy on the fallback.
            if m.purpose == "call" && m.state != "failed" {
                if let Some(call) = m.call_id {
                    *call_messages.entry(call).or_default() += 1;
                }
            }
        }
        a.received_not_sent = received_ids.iter().filter(|id| !sent_ids.contains(*id)).count();
        let mut persons: HashMap<(i64, &str), usize> = HashMap::new();
        for c in &settled.calls {
            *persons.entry((c.alert_id, c.person_id.as_str())).or_default() += 1;
            let n = call_messages.get(&c.id).copied().unwrap_or(0);
            if n != c.attempts {
                a.attempts_mismatch.push(format!(
                    "call {} ({}, level {}): {} attempts, {n} call messages",
                    c.id, c.person_id, c.level, c.attempts
                ));
            }
        }
        a.double_calls = persons
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|((alert, p), n)| format!("{p}: {n} calls in alert {alert}"))
            .collect();
        a
    }

    pub fn once_ok(&self) -> bool {
        self.attempts_mismatch.is_empty() && self.double_calls.is_empty()
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} calls (by level {:?}, by state {:?}); messages {} sent, {} failed, {} other; {} claimed more than once \
             (a retry, or taken over when a lease ran out)",
            self.calls, self.by_level, self.by_state, self.messages_sent, self.messages_failed, self.messages_other, self.claimed_again
        );
        if !self.attempts_mismatch.is_empty() {
            s.push_str(&format!(
                "; {} calls with messages ≠ attempts, e.g. {:?}",
                self.attempts_mismatch.len(),
                &self.attempts_mismatch[..self.attempts_mismatch.len().min(3)]
            ));
        }
        if !self.double_calls.is_empty() {
            s.push_str(&format!(
                "; {} persons called twice in one alert, e.g. {:?}",
                self.double_calls.len(),
                &self.double_calls[..self.double_calls.len().min(3)]
            ));
        }
        if !self.sent_not_received.is_empty() {
            s.push_str(&format!("; {} sent messages never reached the gateway", self.sent_not_received.len()));
        }
        s
    }
}

/// How late each direct call was escalated: from its last deadline to its `escalated` event, in
/// ms, sorted.
pub fn escalation_lateness(settled: &Settled) -> Vec<f64> {
    let deadlines: HashMap<i64, i64> =
        settled.calls.iter().filter(|c| c.level == 0).map(|c| (c.id, c.deadline)).collect();
    let mut late: Vec<f64> = settled
        .events
        .iter()
        .filter(|e| e.to_state == "escalated")
        .filter_map(|e| deadlines.get(&e.call_id).map(|d| (e.at - d) as f64))
        .collect();
    late.sort_by(|a, b| a.total_cmp(b));
    late
}

/// Percentile of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}
