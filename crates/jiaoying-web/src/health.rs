//! Liveness and readiness for operators and orchestrators. `/healthz`: the process answers.
//! `/readyz`: the database answers, every migration is applied, and every background loop (the
//! scheduler and each channel's dispatcher) has shown life lately, as its [`Heartbeat`] says.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers, every migration is applied, no loop is stale and the
/// process is not shutting down.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let loops: serde_json::Map<String, Value> = state
        .liveness
        .ages()
        .into_iter()
        .map(|(name, age)| {
            let ok = age <= state.liveness.stale_after();
            (name, json!({"ok": ok, "last_step_ms_ago": age.as_millis() as u64}))
        })
        .collect();
    let loops_ok = loops.values().all(|l| l["ok"] == true);
    let (database, migrations) = match state.store().ready().await {
        Ok(true) => ("ok", "applied"),
        Ok(false) => ("ok", "pending"),
        Err(e) => {
            // Debug: probes come every few seconds, and the loops already say it once at warn.
            tracing::debug!(error = %e, "readiness check: the database does not answer");
            ("unreachable", "unknown")
        }
    };
    // Once shutdown has begun, traffic should go elsewhere.
    let stopping = *state.shutdown.borrow();
    let ready = database == "ok" && migrations == "applied" && loops_ok && !stopping;
    let body = json!({
        "status": if ready { "ready" } else if stopping { "stopping" } else { "not ready" },
        "database": database,
        "migrations": migrations,
        "loops": loops,
    });
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

/// The background loops' signs of life, for `/readyz` and `/metrics`. Each loop registers once
/// and beats its [`Heartbeat`] when a step starts and when it ends; a loop is stale when it has
/// not beaten for `stale_after` (it died, or one step has run far longer than any should).
/// Times are the process's monotonic clock, never the service clock (tests move that by hours).
#[derive(Clone)]
pub struct Liveness {
    inner: Arc<LivenessInner>,
}

struct LivenessInner {
    origin: Instant,
    stale_after: Duration,
    loops: Mutex<BTreeMap<String, Arc<AtomicI64>>>,
}

/// One loop's side of [`Liveness`]: cheap to clone and to beat (one atomic store).
#[derive(Clone)]
pub struct Heartbeat {
    origin: Instant,
    last: Arc<AtomicI64>,
}

impl Heartbeat {
    /// The loop is alive now.
    pub fn beat(&self) {
        self.last.store(self.origin.elapsed().as_millis() as i64, Ordering::Relaxed);
    }
}

impl Liveness {
    pub fn new(stale_after: Duration) -> Liveness {
        Liveness {
            inner: Arc::new(LivenessInner { origin: Instant::now(), stale_after, loops: Mutex::new(BTreeMap::new()) }),
        }
    }

    /// The threshold for a deployment whose loops poll at least every `backstop`: ten of them,
    /// and never under a minute (the outbox lease), so one slow gateway request or a database
    /// back-off does not flap readiness, while a loop that died is noticed within a minute or so.
    pub fn for_backstop(backstop: Duration) -> Liveness {
        Liveness::new((backstop * 10).max(Duration::from_secs(60)))
    }

    pub fn stale_after(&self) -> Duration {
        self.inner.stale_after
    }

    /// Registers the loop `name` (alive from now) and returns the heartbeat it beats. Registering
    /// a name again (a restarted loop) replaces the old heartbeat.
    pub fn register(&self, name: impl Into<String>) -> Heartbeat {
        let beat = Heartbeat { origin: self.inner.origin, last: Arc::new(AtomicI64::new(0)) };
        beat.beat();
        self.inner.loops.lock().unwrap_or_else(|e| e.into_inner()).insert(name.into(), beat.last.clone());
        beat
    }

    /// Every registered loop with the time since it last beat.
    pub fn ages(&self) -> Vec<(String, Duration)> {
        let now = self.inner.origin.elapsed().as_millis() as i64;
        let loops = self.inner.loops.lock().unwrap_or_else(|e| e.into_inner());
        loops
            .iter()
            .map(|(name, last)| {
                let ms = (now - last.load(Ordering::Relaxed)).max(0) as u64;
                (name.clone(), Duration::from_millis(ms))
            })
            .collect()
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness::for_backstop(Duration::from_secs(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_becomes_stale() {
        let liveness = Liveness::new(Duration::from_secs(60));
        let timers = liveness.register("timers");
        let outbox = liveness.register("outbox:sms");
        let stale = |l: &Liveness| -> Vec<String> {
            l.ages().into_iter().filter(|(_, age)| *age > l.stale_after()).map(|(n, _)| n).collect()
        };
        assert!(stale(&liveness).is_empty());
        // Both last beat two minutes ago (moved back by hand: no sleeping in tests); one beats now.
        for beat in [&timers, &outbox] {
            beat.last.fetch_sub(120_000, Ordering::Relaxed);
        }
        timers.beat();
        assert_eq!(stale(&liveness), vec!["outbox:sms".to_string()]);
    }

    #[test]
    fn the_threshold_is_ten_backstops_and_at_least_a_minute() {
        assert_eq!(Liveness::for_backstop(Duration::from_secs(2)).stale_after(), Duration::from_secs(60));
        assert_eq!(Liveness::for_backstop(Duration::from_secs(30)).stale_after(), Duration::from_secs(300));
    }
}
