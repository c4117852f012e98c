//! What this instance holds (issue 8): the messages it has claimed and not yet recorded, whether
//! their send has started, and whether the outbox is stopping. A stopping outbox claims nothing
//! more and does not start sends it has not started; whatever a step still holds when the grace
//! period ends goes back to the queue, so another instance takes it at once instead of after the
//! lease: marked interrupted if its send had started (the outcome is unknown), as never tried if
//! not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub(crate) struct Claims {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Message id → the claim's `lease_until`, and whether its send has started.
    held: Mutex<HashMap<i64, (i64, bool)>>,
    stopping: AtomicBool,
}

impl Claims {
    /// Remembers a step's claim until the returned guard is dropped (the step ended, recorded
    /// or failed).
    pub(crate) fn hold(&self, ids: Vec<i64>, lease_until: i64) -> Hold {
        let mut held = self.inner.held.lock().unwrap_or_else(|e| e.into_inner());
        held.extend(ids.iter().map(|&id| (id, (lease_until, false))));
        Hold { claims: self.clone(), ids, lease_until }
    }

    /// These messages are being handed to a gateway now.
    pub(crate) fn started(&self, ids: impl Iterator<Item = i64>) {
        let mut held = self.inner.held.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            if let Some((_, started)) = held.get_mut(&id) {
                *started = true;
            }
        }
    }

    pub(crate) fn stop(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// What is held now, grouped by claim and by whether the send started:
    /// `((lease_until, started), message ids)`.
    pub(crate) fn held(&self) -> Vec<((i64, bool), Vec<i64>)> {
        let held = self.inner.held.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_lease: HashMap<(i64, bool), Vec<i64>> = HashMap::new();
        for (&id, &claim) in held.iter() {
            by_lease.entry(claim).or_default().push(id);
        }
        let mut out: Vec<((i64, bool), Vec<i64>)> = by_lease.into_iter().collect();
        out.iter_mut().for_each(|(_, ids)| ids.sort_unstable());
        out.sort_unstable();
        out
    }
}

/// A step's claim, forgotten when dropped.
pub(crate) struct Hold {
    claims: Claims,
    ids: Vec<i64>,
    lease_until: i64,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut held = self.claims.inner.held.lock().unwrap_or_else(|e| e.into_inner());
        for id in &self.ids {
            // Only this claim's entry: the message may have been claimed again since.
            if held.get(id).is_some_and(|&(lease, _)| lease == self.lease_until) {
                held.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_held_until_its_step_ends() {
        let claims = Claims::default();
        let first = claims.hold(vec![3, 1, 4], 100);
        let second = claims.hold(vec![2], 200);
        claims.started([1, 4].into_iter());
        assert_eq!(claims.held(), vec![((100, false), vec![3]), ((100, true), vec![1, 4]), ((200, false), vec![2])]);
        drop(first);
        assert_eq!(claims.held(), vec![((200, false), vec![2])]);
        drop(second);
        assert!(claims.held().is_empty());
    }

    #[test]
    fn an_old_guard_does_not_forget_a_newer_claim_of_the_same_message() {
        let claims = Claims::default();
        let old = claims.hold(vec![7], 100);
        let _new = claims.hold(vec![7], 300);
        drop(old);
        assert_eq!(claims.held(), vec![((300, false), vec![7])]);
    }

    #[test]
    fn stopping_is_seen_by_every_clone() {
        let claims = Claims::default();
        let other = claims.clone();
        assert!(!other.is_stopping());
        claims.stop();
        assert!(other.is_stopping());
    }
}
