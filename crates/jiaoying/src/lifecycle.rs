//! The service's lifecycle beyond its loops (issue 8, ADR 0017): a shutdown bounded by the grace
//! period, and the relay that wakes this instance's event streams when any instance commits call
//! events.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiaoying_dispatch::outbox::Outbox;
use jiaoying_linking::Linker;
use jiaoying_store::{EventWakeups, Store, StoreError};
use jiaoying_tracker::Outage;
use jiaoying_web::EventBell;
use tokio::sync::watch;
use tokio::time::Instant;

/// The time a stopping instance has, from the signal on: first to drain (requests and steps in
/// flight finish, sends not started are returned), then a reserve to return whatever a step
/// still holds and to close the database.
pub struct Grace {
    drain_until: Instant,
    deadline: Instant,
}

impl Grace {
    pub fn start(grace: Duration) -> Grace {
        let now = Instant::now();
        let reserve = (grace / 5).min(Duration::from_secs(2));
        Grace { drain_until: now + grace.saturating_sub(reserve), deadline: now + grace }
    }

    /// `work` to its end, or `None` when the drain time ran out first (the work is dropped, or
    /// left running detached when it is a task, and ends with the process).
    pub async fn drain<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::time::timeout_at(self.drain_until, work).await.ok()
    }

    /// Returns to the queue every message and webhook delivery a step still holds (sends and
    /// POSTs started and not recorded: marked interrupted, so the next sender asks the provider
    /// first, and a subscriber may get the delivery twice under one id), then closes the
    /// database; all within the grace period, whatever the database does.
    pub async fn finish(&self, outbox: &Outbox, linking: &Linker, store: &Arc<dyn Store>) {
        // Each on its own: a failure to return one kind must not keep the other.
        let released = async { (outbox.release_held().await.map(|n| n as usize), linking.release_held().await) };
        match tokio::time::timeout_at(self.deadline, released).await {
            Ok((messages, deliveries)) => {
                returned("messages", messages);
                returned("webhook deliveries", deliveries);
            }
            Err(_) => tracing::warn!("no time left to return claims; they are taken over when their lease ends"),
        }
        if tokio::time::timeout_at(self.deadline, store.close()).await.is_err() {
            tracing::warn!("database connections still busy at the end of the grace period");
        }
    }
}

/// Says what [`Grace::finish`] returned of one kind of claim.
fn returned(what: &str, released: Result<usize, StoreError>) {
    match released {
        Ok(0) => {}
        Ok(n) => tracing::warn!(released = n, "grace period over: {what} still claimed returned to the queue"),
        Err(e) => {
            tracing::warn!(error = %e, "could not return claimed {what}; they are taken over when their lease ends")
        }
    }
}

/// Rings `bell` whenever any instance commits call events (PostgreSQL NOTIFY), and once more
/// after every (re)connection, since what was committed meanwhile was not announced. Returns at
/// once on SQLite (nothing to listen to: its streams poll), and when `stop` turns true. While
/// the database is away it retries with the loops' backoff and says so once.
pub async fn relay_event_wakeups(store: Arc<dyn Store>, bell: EventBell, mut stop: watch::Receiver<bool>) {
    let mut wakeups: Option<Box<dyn EventWakeups>> = None;
    let mut outage = Outage::default();
    loop {
        let attempt = async {
            match &mut wakeups {
                Some(w) => w.next().await.map(|()| true),
                None => match store.listen_events().await? {
                    Some(w) => {
                        wakeups = Some(w);
                        Ok(true)
                    }
                    None => Ok(false),
                },
            }
        };
        let result = tokio::select! {
            r = attempt => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match result {
            Ok(false) => return,
            Ok(true) => {
                if let Some(failures) = outage.succeeded() {
                    tracing::info!(failures, "live event wake-ups work again");
                }
                bell.ring();
            }
            Err(e) => {
                // Start over on a fresh connection: a listener that failed may be stuck on a dead one.
                wakeups = None;
                let (backoff, first) = outage.failed();
                if first {
                    tracing::warn!(error = %e, "live event wake-ups lost; boards poll until the database is back");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }
}
