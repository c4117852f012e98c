//! When a duty is due: its cron schedule read in China Standard Time, and the one pure rule that
//! decides which scheduled time to run now, so that a run missed while the service was down runs
//! once (the latest missed time), never once per missed time.
//!
//! Schedules use the `cron` crate's syntax, as the feed poller's: six fields (second minute hour
//! day-of-month month day-of-week) or seven (then a year), or a shorthand such as `@daily`. Where
//! both day fields are restricted, a time must match both, so `"0 0 9 1-7 * Mon"` is the first
//! Monday of each month at 09:00.

use std::str::FromStr;

use chrono::{FixedOffset, TimeZone};
use cron::Schedule;
use jiaoying_core::{Span, Timestamp};

/// The zone schedules are read in: UTC+8, the zone of the people who write them.
fn zone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// A parsed schedule, with the text it came from (for messages and the API).
#[derive(Debug, Clone)]
pub struct DutySchedule {
    expr: String,
    schedule: Schedule,
}

impl DutySchedule {
    /// Parses a cron schedule, saying what is wrong in words a person writing config understands.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let trimmed = expr.trim();
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && !(6..=7).contains(&fields) {
            return Err(format!(
                "the schedule {expr:?} has {fields} fields; write 6 (second minute hour day month weekday) or 7 \
                 (then a year), e.g. \"0 0 9 1-7 * Mon\" for 09:00 on the first Monday of each month"
            ));
        }
        let schedule =
            Schedule::from_str(trimmed).map_err(|e| format!("the schedule {expr:?} is not valid cron syntax: {e}"))?;
        Ok(DutySchedule { expr: trimmed.to_string(), schedule })
    }

    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first time of the schedule strictly after `now`; `None` when it has no more.
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let local = now.to_datetime().with_timezone(&zone());
        self.schedule.after(&local).next().map(|t| Timestamp::from_datetime(&t))
    }

    /// The latest time of the schedule at or before `now`; `None` when it has none.
    pub fn latest_at_or_before(&self, now: Timestamp) -> Option<Timestamp> {
        // Schedules have whole seconds; the iterator's backward step gives the time strictly
        // before its start, so start one second after `now` rounded down.
        let probe = now.millis().div_euclid(1000) + 1;
        let start = zone().timestamp_opt(probe, 0).single()?;
        self.schedule.after(&start).next_back().map(|t| Timestamp::from_datetime(&t))
    }
}

/// What to do about one duty at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Run the time `.0` (claiming it; another instance may have run it already).
    Run(Timestamp),
    /// The latest time `.0` was missed by more than the catch-up allowance: it is not run, and
    /// not looked at again.
    TooLate(Timestamp),
    /// Nothing new is due.
    Nothing,
}

/// The rule: only the latest scheduled time at or before `now` is ever a candidate, so however
/// many times passed while the service was down, at most one runs. It runs when it is later
/// than the last time this process handled (`handled`) and at most `catch_up` old; a time the
/// database shows as run is refused by the claim, not here.
pub fn due(schedule: &DutySchedule, now: Timestamp, handled: Option<Timestamp>, catch_up: Span) -> Due {
    let Some(latest) = schedule.latest_at_or_before(now) else {
        return Due::Nothing;
    };
    if handled.is_some_and(|h| h >= latest) {
        return Due::Nothing;
    }
    if now.millis() - latest.millis() > catch_up.millis() {
        Due::TooLate(latest)
    } else {
        Due::Run(latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    #[test]
    fn first_monday_of_each_month_in_china_time() {
        let s = DutySchedule::parse("0 0 9 1-7 * Mon").unwrap();
        // 2026-07-01 is a Wednesday: the first Monday is July 6; then August 3, September 7.
        let mut t = at("2026-07-01T00:00:00+08:00");
        let mut got = Vec::new();
        for _ in 0..4 {
            t = s.next_after(t).unwrap();
            got.push(t);
        }
        assert_eq!(
            got,
            vec![
                at("2026-07-06T09:00:00+08:00"),
                at("2026-08-03T09:00:00+08:00"),
                at("2026-09-07T09:00:00+08:00"),
                at("2026-10-05T09:00:00+08:00"),
            ]
        );
    }

    #[test]
    fn the_latest_time_at_or_before_now() {
        let s = DutySchedule::parse("0 0 8 * * *").unwrap();
        let eight = at("2026-07-01T08:00:00+08:00");
        assert_eq!(s.latest_at_or_before(eight), Some(eight), "at the instant itself");
        assert_eq!(s.latest_at_or_before(Timestamp(eight.millis() + 500)), Some(eight));
        assert_eq!(s.latest_at_or_before(at("2026-07-01T23:59:59+08:00")), Some(eight));
        assert_eq!(s.latest_at_or_before(Timestamp(eight.millis() - 1)), Some(at("2026-06-30T08:00:00+08:00")));
        // Across a month end.
        assert_eq!(s.latest_at_or_before(at("2026-03-01T07:00:00+08:00")), Some(at("2026-02-28T08:00:00+08:00")));
        let past = DutySchedule::parse("0 0 0 1 1 * 2099").unwrap();
        assert_eq!(past.latest_at_or_before(eight), None);
    }

    #[test]
    fn only_the_latest_missed_time_runs_and_only_once() {
        let hourly = DutySchedule::parse("0 0 * * * *").unwrap();
        let day = Span::from_mins(24 * 60);
        let down_from = at("2026-07-01T08:00:00+08:00");
        // Up again at 13:20 after five missed hours: only 13:00 is run.
        let now = at("2026-07-01T13:20:00+08:00");
        assert_eq!(due(&hourly, now, Some(down_from), day), Due::Run(at("2026-07-01T13:00:00+08:00")));
        // Once handled, nothing more until 14:00.
        let handled = Some(at("2026-07-01T13:00:00+08:00"));
        assert_eq!(due(&hourly, at("2026-07-01T13:59:59+08:00"), handled, day), Due::Nothing);
        assert_eq!(
            due(&hourly, at("2026-07-01T14:00:00+08:00"), handled, day),
            Due::Run(at("2026-07-01T14:00:00+08:00"))
        );
        // A fresh start (nothing handled in this process) considers the latest time too.
        assert_eq!(due(&hourly, now, None, day), Due::Run(at("2026-07-01T13:00:00+08:00")));
    }

    #[test]
    fn a_time_missed_by_more_than_the_catch_up_is_not_run() {
        let monthly = DutySchedule::parse("0 0 9 1-7 * Mon").unwrap();
        let day = Span::from_mins(24 * 60);
        // Down over the whole first Monday, up again on the Tuesday morning: still run.
        assert_eq!(
            due(&monthly, at("2026-07-07T08:00:00+08:00"), None, day),
            Due::Run(at("2026-07-06T09:00:00+08:00"))
        );
        // Up again a week later: too late to test reachability "this Monday".
        assert_eq!(
            due(&monthly, at("2026-07-13T08:00:00+08:00"), None, day),
            Due::TooLate(at("2026-07-06T09:00:00+08:00"))
        );
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        assert!(DutySchedule::parse("0 9 * * 1").unwrap_err().contains("5 fields"));
        assert!(DutySchedule::parse("0 0 9 * * Funday").unwrap_err().contains("not valid cron"));
        assert_eq!(DutySchedule::parse(" @daily ").unwrap().as_str(), "@daily");
    }
}
