//! How event streams learn of new call events without waiting for their poll (issue 8): a
//! counter bumped whenever any instance committed some (the binary relays PostgreSQL NOTIFY, see
//! `jiaoying_store::EventWakeups`), and a backstop poll for what a wake-up missed and for SQLite,
//! which has none. Idle streams wait on both.

use std::time::Duration;

use tokio::sync::watch;

#[derive(Clone)]
pub struct EventSignal {
    changed: watch::Receiver<u64>,
    poll: Duration,
}

/// Rings an [`EventSignal`]: every idle stream reads the log now.
pub struct EventBell(watch::Sender<u64>);

impl EventBell {
    pub fn ring(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl EventSignal {
    /// A signal whose streams read the log every `poll` at the latest, and the bell that wakes
    /// them sooner.
    pub fn new(poll: Duration) -> (EventBell, EventSignal) {
        let (tx, changed) = watch::channel(0);
        (EventBell(tx), EventSignal { changed, poll })
    }

    /// Marks every ring so far as seen: call it just before reading the log, so that a ring
    /// during the read is not lost.
    pub(crate) fn seen(&mut self) {
        self.changed.borrow_and_update();
    }

    /// The longest an idle stream waits before reading the log again.
    pub(crate) fn poll(&self) -> Duration {
        self.poll
    }

    /// Waits until the bell rings (after the last [`EventSignal::seen`]); forever when the bell
    /// is gone (no relay: SQLite), so callers race it against [`EventSignal::poll`].
    pub(crate) async fn rung(&mut self) {
        if self.changed.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    #[cfg(test)]
    async fn wait(&mut self) {
        let poll = self.poll;
        let _ = tokio::time::timeout(poll, self.rung()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ring_wakes_a_waiting_stream_before_its_poll() {
        let (bell, mut signal) = EventSignal::new(Duration::from_secs(3600));
        signal.seen();
        let started = tokio::time::Instant::now();
        let waiter = tokio::spawn(async move {
            signal.wait().await;
            signal
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        bell.ring();
        waiter.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(30), "woken by the bell, not the hour's poll");
    }

    #[tokio::test]
    async fn a_ring_during_the_read_is_not_lost() {
        let (bell, mut signal) = EventSignal::new(Duration::from_secs(3600));
        signal.seen();
        bell.ring(); // while the stream reads the log
        let started = tokio::time::Instant::now();
        signal.wait().await;
        assert!(started.elapsed() < Duration::from_secs(30), "woken at once, not after the hour's poll");
    }

    #[tokio::test]
    async fn without_a_bell_the_poll_still_comes() {
        let (bell, mut signal) = EventSignal::new(Duration::from_millis(100));
        drop(bell);
        let started = tokio::time::Instant::now();
        signal.wait().await;
        assert!(started.elapsed() >= Duration::from_millis(100), "a gone bell does not end the wait");
    }
}
