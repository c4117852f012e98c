//! Sign-in throttling: after [`MAX_FAILURES`] failed sign-ins within [`WINDOW_MS`] for one user
//! name, or from one client address, further attempts for that name or from that address are
//! refused until the oldest failure leaves the window. Both keys count, so neither guessing many
//! passwords for one name from many addresses nor many names from one address gets far.
//!
//! Held in memory (per instance, lost on restart): each instance limits separately (ADR 0012).
//! Times are the service clock's milliseconds, so tests move them by hand.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

pub const MAX_FAILURES: usize = 5;
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Beyond this many tracked keys, stale ones are swept on the next failure (bounds memory when
/// someone tries thousands of names).
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Name(String),
    Addr(IpAddr),
}

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, VecDeque<i64>>>,
}

fn keys(name: &str, addr: Option<IpAddr>) -> impl Iterator<Item = Key> {
    // Names are compared as users type them in a hurry: case and surrounding space do not make a
    // new budget.
    std::iter::once(Key::Name(name.trim().to_lowercase())).chain(addr.map(Key::Addr))
}

impl Throttle {
    /// `Some(ms)` until the next attempt may be made when the name or the address is over the
    /// limit at `now`; `None` when an attempt may go ahead.
    pub fn blocked_for(&self, name: &str, addr: Option<IpAddr>, now: i64) -> Option<i64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        keys(name, addr)
            .filter_map(|k| {
                let recent: Vec<i64> = map.get(&k)?.iter().copied().filter(|t| now - t < WINDOW_MS).collect();
                // The attempt is free again when enough failures have aged out of the window.
                (recent.len() >= MAX_FAILURES).then(|| recent[recent.len() - MAX_FAILURES] + WINDOW_MS - now)
            })
            .max()
    }

    pub fn record_failure(&self, name: &str, addr: Option<IpAddr>, now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, times| times.back().is_some_and(|t| now - t < WINDOW_MS));
        }
        for k in keys(name, addr) {
            let times = map.entry(k).or_default();
            times.retain(|t| now - t < WINDOW_MS);
            times.push_back(now);
            // Only the last MAX_FAILURES matter for the decision.
            while times.len() > MAX_FAILURES {
                times.pop_front();
            }
        }
    }

    /// A successful sign-in clears the name's failures (not the address's: one valid account must
    /// not reset the budget for guessing others from the same place).
    pub fn record_success(&self, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Key::Name(name.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn five_failures_block_the_name_until_the_oldest_leaves_the_window() {
        let t = Throttle::default();
        for i in 0..MAX_FAILURES as i64 {
            assert_eq!(t.blocked_for("wang", ip("10.0.0.1"), i * 1000), None);
            t.record_failure("wang", ip(&format!("10.0.0.{}", i + 1)), i * 1000);
        }
        // Blocked from any address, and whatever the case of the name.
        assert_eq!(t.blocked_for(" WANG ", ip("10.9.9.9"), 5_000), Some(WINDOW_MS - 5_000));
        assert_eq!(t.blocked_for("li", ip("10.9.9.9"), 5_000), None, "other names are not affected");
        assert_eq!(t.blocked_for("wang", None, WINDOW_MS), None, "the first failure has aged out");
    }

    #[test]
    fn five_failures_from_one_address_block_it_for_every_name() {
        let t = Throttle::default();
        for i in 0..MAX_FAILURES {
            t.record_failure(&format!("user{i}"), ip("192.0.2.7"), 0);
        }
        assert!(t.blocked_for("someone-else", ip("192.0.2.7"), 1).is_some());
        assert_eq!(t.blocked_for("someone-else", ip("192.0.2.8"), 1), None);
        t.record_success("someone-else");
        assert!(t.blocked_for("someone-else", ip("192.0.2.7"), 1).is_some(), "success does not clear the address");
    }

    #[test]
    fn success_clears_the_name() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES {
            t.record_failure("wang", None, 0);
        }
        assert!(t.blocked_for("wang", None, 1).is_some());
        t.record_success("Wang");
        assert_eq!(t.blocked_for("wang", None, 1), None);
    }
}
