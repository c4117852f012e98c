//! The one shape of every background loop: a step function that reports whether it did work,
//! and a loop that sleeps until the next due time, a wake-up hint, or a backstop poll.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Work was done; step again at once.
    Done(usize),
    /// Nothing is due; the earliest due time (Unix ms) if any.
    Empty { next_due: Option<i64> },
}

/// The outbox's step in the loop's terms, so every loop is wired the same way.
impl From<jiaoying_dispatch::outbox::OutboxStep> for Step {
    fn from(s: jiaoying_dispatch::outbox::OutboxStep) -> Self {
        match s {
            jiaoying_dispatch::outbox::OutboxStep::Sent(n) => Step::Done(n),
            jiaoying_dispatch::outbox::OutboxStep::Empty { next_due } => Step::Empty { next_due },
        }
    }
}

/// How a loop shows that it is alive (the service's `/readyz`): called as each step starts and
/// ends, and within a long step before each slow request (a POST, a feed fetch), so that a step
/// busy with slow peers is not taken for a stuck loop. A library loop takes it as a callback
/// rather than the web layer's heartbeat type.
pub type Pulse = Arc<dyn Fn() + Send + Sync>;

/// `step`, with `pulse` called as it starts and as it ends.
pub async fn beaten<T>(pulse: &Pulse, step: impl Future<Output = T>) -> T {
    pulse();
    let out = step.await;
    pulse();
    out
}

/// The longest wait between two tries while steps keep failing: a loop resumes within this of
/// the database coming back.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A run of failed steps (the database down or restarting, usually): how long to wait before
/// the next try, and whether to say so. One warning when the outage starts and one line when
/// it ends, not one per try: a long outage must not flood the log.
#[derive(Debug, Default)]
pub struct Outage {
    failures: u32,
}

impl Outage {
    /// A step failed: the wait before the next try (200 ms doubling, at most [`MAX_BACKOFF`]),
    /// and whether this failure starts the outage (the one to warn about).
    pub fn failed(&mut self) -> (Duration, bool) {
        self.failures = self.failures.saturating_add(1);
        let backoff = Duration::from_millis(200u64.saturating_mul(1 << self.failures.min(8))).min(MAX_BACKOFF);
        (backoff, self.failures == 1)
    }

    /// A step succeeded: how many had failed in a row before it, if any (the outage is over).
    pub fn succeeded(&mut self) -> Option<u32> {
        let failures = std::mem::take(&mut self.failures);
        (failures > 0).then_some(failures)
    }
}

/// Runs `step` until `shutdown` turns true. Between empty steps it sleeps until the next due
/// time, the `wake` hint, or `backstop`, whichever is first; after an error it backs off
/// exponentially (see [`Outage`]) and tries again, by itself, until the database is back.
pub async fn run_loop<F, Fut, E>(
    name: &'static str,
    mut step: F,
    now_ms: impl Fn() -> i64,
    wake: &Notify,
    backstop: Duration,
    mut shutdown: watch::Receiver<bool>,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Step, E>>,
    E: std::fmt::Display,
{
    let mut outage = Outage::default();
    while !*shutdown.borrow() {
        let result = step().await;
        if result.is_ok() {
            if let Some(failures) = outage.succeeded() {
                tracing::info!(loop_name = name, failures, "background step works again");
            }
        }
        let wait = match result {
            Ok(Step::Done(_)) => continue,
            Ok(Step::Empty { next_due }) => match next_due {
                Some(t) => Duration::from_millis((t - now_ms()).max(0) as u64).min(backstop),
                None => backstop,
            },
            Err(e) => {
                let (backoff, first) = outage.failed();
                if first {
                    tracing::warn!(loop_name = name, error = %e, "background step failed; retrying with backoff until it works");
                } else {
                    tracing::debug!(loop_name = name, error = %e, retry_in_ms = backoff.as_millis() as u64, "background step failed again");
                }
                backoff
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::debug!(loop_name = name, "stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_announced_once_and_backs_off_to_a_cap() {
        let mut outage = Outage::default();
        assert_eq!(outage.succeeded(), None, "no outage, nothing to say");
        let tries: Vec<(Duration, bool)> = (0..12).map(|_| outage.failed()).collect();
        assert_eq!(tries.iter().filter(|(_, warn)| *warn).count(), 1, "{tries:?}");
        assert!(tries[0].1, "the first failure is the one announced");
        assert_eq!(tries[0].0, Duration::from_millis(400));
        assert!(tries.windows(2).all(|w| w[1].0 >= w[0].0), "never shorter: {tries:?}");
        assert_eq!(tries.last().unwrap().0, MAX_BACKOFF);
        assert_eq!(outage.succeeded(), Some(12), "the end of the outage is told with its length");
        assert_eq!(outage.succeeded(), None);
        assert!(outage.failed().1, "a new outage is announced again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_resumes_by_itself_after_failures() {
        let (_stop_tx, stop) = watch::channel(false);
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let done = std::sync::Arc::new(Notify::new());
        let wake = Notify::new();
        let task = {
            let calls = calls.clone();
            let done = done.clone();
            async move {
                run_loop(
                    "test",
                    || {
                        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let done = done.clone();
                        async move {
                            match n {
                                0..=4 => Err("database unavailable"),
                                5 => Ok(Step::Done(1)),
                                _ => {
                                    done.notify_one();
                                    Ok(Step::Empty { next_due: None })
                                }
                            }
                        }
                    },
                    || 0,
                    &wake,
                    Duration::from_secs(3600),
                    stop,
                )
                .await
            }
        };
        let handle = tokio::spawn(task);
        // Five failures back off 0.4 + 0.8 + 1.6 + 3.2 + 6.4 s; nobody wakes the loop.
        tokio::time::timeout(Duration::from_secs(20), done.notified()).await.expect("the loop resumed by itself");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 7);
        handle.abort();
    }
}
