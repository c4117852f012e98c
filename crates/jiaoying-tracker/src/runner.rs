//! The one shape of every background loop: a step function that reports whether it did work,
//! and a loop that sleeps until the next due time, a wake-up hint, or a backstop poll.

use std::future::Future;
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

/// Runs `step` until `shutdown` turns true. Between empty steps it sleeps until the next due
/// time, the `wake` hint, or `backstop`, whichever is first; after an error it backs off
/// exponentially up to 30 s and tries again (the database may be restarting).
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
    let mut failures: u32 = 0;
    while !*shutdown.borrow() {
        let wait = match step().await {
            Ok(Step::Done(_)) => {
                failures = 0;
                continue;
            }
            Ok(Step::Empty { next_due }) => {
                failures = 0;
                match next_due {
                    Some(t) => Duration::from_millis((t - now_ms()).max(0) as u64).min(backstop),
                    None => backstop,
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let backoff =
                    Duration::from_millis(200u64.saturating_mul(1 << failures.min(8))).min(Duration::from_secs(30));
                tracing::warn!(loop_name = name, error = %e, retry_in_ms = backoff.as_millis() as u64, "background step failed");
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
