//! Liveness and readiness for operators and orchestrators. `/healthz`: the process answers.
//! `/readyz`: the database answers, every migration is applied, and every background loop (the
//! scheduler, each channel's dispatcher, the scheduled duties, the outgoing links, the feed
//! poller, the PostgreSQL event relay) is running and has shown life lately, as its [`Heartbeat`]
//! says.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
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
        .loops()
        .into_iter()
        .map(|l| {
            let body = json!({"ok": l.ok(), "running": l.running, "last_step_ms_ago": l.age.as_millis() as u64});
            (l.name, body)
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
/// and beats its [`Heartbeat`] when a step starts and when it ends (and within long steps, before
/// each slow request); a loop is stale when it has not beaten for its threshold (one step has run
/// far longer than any should, or it hangs), and stopped as soon as its task has ended (returned
/// or panicked: every clone of its heartbeat is dropped with it), without waiting for staleness.
///
/// No loop sleeps longer than its backstop poll between steps, however far its next due time
/// (the duty loop's next cron time may be a month away): `run_loop` caps every wait, so a loop
/// that waits correctly keeps beating and is never reported stale for waiting. A loop whose
/// backstop is longer than the common threshold allows (the feed poller's minute) registers it as
/// its quiet time; one that waits on events from outside for as long as they take (the relay of
/// PostgreSQL notifications) beats on a timer meanwhile ([`Heartbeat::throughout`]).
///
/// Times are the process's monotonic clock, never the service clock (tests move that by hours).
#[derive(Clone)]
pub struct Liveness {
    inner: Arc<LivenessInner>,
}

struct LivenessInner {
    origin: Instant,
    stale_after: Duration,
    loops: Mutex<BTreeMap<String, Registered>>,
}

/// What [`Liveness`] keeps of one loop: its last beat, a handle that dies with the loop's last
/// heartbeat, and its own threshold.
struct Registered {
    last: Arc<AtomicI64>,
    alive: Weak<()>,
    stale_after: Duration,
}

/// One loop's side of [`Liveness`]: cheap to clone and to beat (one atomic store). The loop's
/// task holds it; when the task ends, so does the loop's `running`.
#[derive(Clone)]
pub struct Heartbeat {
    origin: Instant,
    last: Arc<AtomicI64>,
    _alive: Arc<()>,
}

impl Heartbeat {
    /// The loop is alive now.
    pub fn beat(&self) {
        self.last.store(self.origin.elapsed().as_millis() as i64, Ordering::Relaxed);
    }

    /// Runs one step of the loop, beating as it starts and as it ends.
    pub async fn around<T>(&self, step: impl std::future::Future<Output = T>) -> T {
        self.beat();
        let out = step.await;
        self.beat();
        out
    }

    /// Runs `work`, a loop that has no steps to beat around because it waits on events from
    /// outside for as long as they take, beating every `every` until it ends: waiting is never
    /// staleness for it, and its end (the task's) is what `/readyz` can see.
    pub async fn throughout<T>(&self, work: impl std::future::Future<Output = T>, every: Duration) -> T {
        tokio::pin!(work);
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = ticks.tick() => self.beat(),
            }
        }
    }
}

/// One loop as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopHealth {
    pub name: String,
    /// Since the loop last beat.
    pub age: Duration,
    /// Its task has not ended.
    pub running: bool,
    pub stale_after: Duration,
}

impl LoopHealth {
    /// Running and beating lately.
    pub fn ok(&self) -> bool {
        self.running && self.age <= self.stale_after
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
        self.register_quiet_up_to(name, Duration::ZERO)
    }

    /// [`Liveness::register`] for a loop that may rightly stay quiet for up to `quiet` between two
    /// beats (one request to a peer with that timeout): it is stale only past twice that, when
    /// that is longer than the common threshold.
    pub fn register_quiet_up_to(&self, name: impl Into<String>, quiet: Duration) -> Heartbeat {
        let alive = Arc::new(());
        let beat = Heartbeat { origin: self.inner.origin, last: Arc::new(AtomicI64::new(0)), _alive: alive.clone() };
        beat.beat();
        let entry = Registered {
            last: beat.last.clone(),
            alive: Arc::downgrade(&alive),
            stale_after: self.inner.stale_after.max(quiet * 2),
        };
        self.inner.loops.lock().unwrap_or_else(|e| e.into_inner()).insert(name.into(), entry);
        beat
    }

    /// Every registered loop: since when it last beat, whether it still runs, its threshold.
    pub fn loops(&self) -> Vec<LoopHealth> {
        let now = self.inner.origin.elapsed().as_millis() as i64;
        let loops = self.inner.loops.lock().unwrap_or_else(|e| e.into_inner());
        loops
            .iter()
            .map(|(name, l)| LoopHealth {
                name: name.clone(),
                age: Duration::from_millis((now - l.last.load(Ordering::Relaxed)).max(0) as u64),
                running: l.alive.strong_count() > 0,
                stale_after: l.stale_after,
            })
            .collect()
    }

    /// Every registered loop with the time since it last beat.
    pub fn ages(&self) -> Vec<(String, Duration)> {
        self.loops().into_iter().map(|l| (l.name, l.age)).collect()
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

    fn not_ok(l: &Liveness) -> Vec<String> {
        l.loops().into_iter().filter(|h| !h.ok()).map(|h| h.name).collect()
    }

    #[test]
    fn a_loop_that_stops_beating_becomes_stale() {
        let liveness = Liveness::new(Duration::from_secs(60));
        let timers = liveness.register("timers");
        let outbox = liveness.register("outbox:sms");
        assert!(not_ok(&liveness).is_empty());
        // Both last beat two minutes ago (moved back by hand: no sleeping in tests); one beats now.
        for beat in [&timers, &outbox] {
            beat.last.fetch_sub(120_000, Ordering::Relaxed);
        }
        timers.beat();
        assert_eq!(not_ok(&liveness), vec!["outbox:sms".to_string()]);
        assert!(liveness.loops().iter().all(|h| h.running), "stale, not stopped");
    }

    #[tokio::test]
    async fn a_loop_whose_task_ended_is_stopped_at_once() {
        let liveness = Liveness::new(Duration::from_secs(60));
        let duties = liveness.register("duties");
        let links = liveness.register("links:follow");
        let step = duties.clone();
        // A loop that panics drops its heartbeat while unwinding, like one that returns.
        let task = tokio::spawn(async move {
            step.around(async {}).await;
            panic!("a step failed badly");
        });
        drop(duties);
        assert!(task.await.is_err());
        let health = liveness.loops();
        let duties = health.iter().find(|h| h.name == "duties").unwrap();
        assert!(!duties.running && !duties.ok(), "{duties:?}");
        assert!(duties.age < Duration::from_secs(60), "it beat lately: only its end shows");
        assert_eq!(not_ok(&liveness), vec!["duties".to_string()]);
        drop(links);
        assert_eq!(not_ok(&liveness), vec!["duties".to_string(), "links:follow".to_string()]);
    }

    #[tokio::test]
    async fn a_loop_waiting_on_outside_events_keeps_beating_until_it_ends() {
        let liveness = Liveness::new(Duration::from_secs(60));
        let beat = liveness.register("events:relay");
        let last = beat.last.clone();
        let (end, ended) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(async move { beat.throughout(ended, Duration::from_millis(20)).await });
        // Twice: it last beat two minutes ago (moved back by hand), no event comes, and its timer
        // beats again. Looked at every few ms: there is no event to await but the beat itself.
        for _ in 0..2 {
            last.fetch_sub(120_000, Ordering::Relaxed);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !not_ok(&liveness).is_empty() {
                assert!(Instant::now() < deadline, "it did not beat while waiting: {:?}", liveness.loops());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        end.send(()).unwrap();
        relay.await.unwrap().unwrap();
        let health = liveness.loops();
        assert!(!health[0].running && !health[0].ok(), "{health:?}");
    }

    #[test]
    fn a_loop_that_waits_on_a_slow_peer_has_room_for_it() {
        let liveness = Liveness::new(Duration::from_secs(60));
        let quick = liveness.register_quiet_up_to("links:deliver:a", Duration::from_secs(10));
        let slow = liveness.register_quiet_up_to("links:deliver:b", Duration::from_secs(90));
        let thresholds: Vec<u64> = liveness.loops().iter().map(|h| h.stale_after.as_secs()).collect();
        assert_eq!(thresholds, vec![60, 180]);
        for beat in [&quick, &slow] {
            beat.last.fetch_sub(100_000, Ordering::Relaxed);
        }
        assert_eq!(not_ok(&liveness), vec!["links:deliver:a".to_string()], "one request of 100 s is b's right");
    }

    #[test]
    fn the_threshold_is_ten_backstops_and_at_least_a_minute() {
        assert_eq!(Liveness::for_backstop(Duration::from_secs(2)).stale_after(), Duration::from_secs(60));
        assert_eq!(Liveness::for_backstop(Duration::from_secs(30)).stale_after(), Duration::from_secs(300));
    }
}
