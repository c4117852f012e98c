//! Time as the domain sees it: Unix milliseconds, and a clock that tests can move by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::span::Span;

/// A point in time as Unix milliseconds (UTC). Stored as an integer in both databases, because
/// SQLite compares text as text and has no timestamp type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus(self, span: Span) -> Self {
        Timestamp(self.0.saturating_add(span.millis()))
    }

    pub fn from_datetime<Tz: TimeZone>(dt: &DateTime<Tz>) -> Self {
        Timestamp(dt.timestamp_millis())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0).single().unwrap_or_default()
    }

    /// RFC 3339 in UTC with a `Z`, the form used in every API response.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime().to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Local wall time in China (UTC+8), the form shown to people in messages.
    pub fn to_cst_display(self) -> String {
        let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
        self.to_datetime().with_timezone(&cst).format("%m-%d %H:%M").to_string()
    }
}

/// Where the service reads the time. Production uses [`SystemClock`]; tests use [`ManualClock`]
/// so that deadlines can be crossed without waiting.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(Utc::now().timestamp_millis())
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.0)))
    }

    pub fn advance(&self, span: Span) -> Timestamp {
        Timestamp(self.0.fetch_add(span.millis(), Ordering::SeqCst) + span.millis())
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let c = ManualClock::new(Timestamp(1_000));
        let d = c.clone();
        assert_eq!(c.now(), Timestamp(1_000));
        c.advance(Span::from_secs(5));
        assert_eq!(d.now(), Timestamp(6_000));
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(0).to_cst_display(), "01-01 08:00");
    }
}
