//! When a feed is polled: its cron schedule, pushed out by exponential backoff after failures.
//!
//! Schedules use the `cron` crate's syntax, the one of the SPEC's example `"0 */2 * * * *"`:
//! six fields (second minute hour day-of-month month day-of-week) or seven (then a year), or a
//! shorthand such as `@hourly`. They are read in China Standard Time (UTC+8), the zone of the
//! people who write them: `"0 0 8 * * *"` is 08:00 in Beijing. Schedules that repeat every few
//! seconds or minutes are the same in any zone.

use std::str::FromStr;

use chrono::FixedOffset;
use cron::Schedule;
use jiaoying_core::{Span, Timestamp};

/// The offset from UTC in which schedules are read: UTC+8.
pub const SCHEDULE_OFFSET_SECS: i32 = 8 * 3600;

/// Parses a cron schedule, saying what is wrong in terms a person writing config understands.
pub fn parse_schedule(expr: &str) -> Result<Schedule, String> {
    let trimmed = expr.trim();
    let fields = trimmed.split_whitespace().count();
    if !trimmed.starts_with('@') && !(6..=7).contains(&fields) {
        return Err(format!(
            "the schedule {expr:?} has {fields} fields; write 6 (second minute hour day month weekday) or 7 \
             (then a year), e.g. \"0 */2 * * * *\" for every two minutes"
        ));
    }
    Schedule::from_str(trimmed).map_err(|e| format!("the schedule {expr:?} is not valid cron syntax: {e}"))
}

/// The first time of `schedule` strictly after `now`, or `None` when it has no more (a schedule
/// whose years are past).
pub fn next_after(schedule: &Schedule, now: Timestamp) -> Option<Timestamp> {
    let zone = FixedOffset::east_opt(SCHEDULE_OFFSET_SECS).expect("UTC+8 is a valid offset");
    let local = now.to_datetime().with_timezone(&zone);
    schedule.after(&local).next().map(|t| Timestamp::from_datetime(&t))
}

/// The wait after the `failures`-th failure in a row: `base · 2^(failures − 1)`, at most `cap`
/// (with the defaults 30 s, 1 min, 2 min, ... up to 1 h). Zero when nothing failed.
pub fn backoff(base: Span, cap: Span, failures: i64) -> Span {
    if failures <= 0 {
        return Span::ZERO;
    }
    let doubled = base.millis().saturating_mul(1i64 << (failures - 1).min(40));
    Span::from_millis(doubled.min(cap.millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    #[test]
    fn next_time_of_the_spec_example_is_the_next_even_minute() {
        let s = parse_schedule("0 */2 * * * *").unwrap();
        assert_eq!(next_after(&s, at("2026-07-01T08:00:00+08:00")), Some(at("2026-07-01T08:02:00+08:00")));
        assert_eq!(next_after(&s, at("2026-07-01T08:00:59.999+08:00")), Some(at("2026-07-01T08:02:00+08:00")));
        assert_eq!(next_after(&s, at("2026-07-01T08:01:30+08:00")), Some(at("2026-07-01T08:02:00+08:00")));
        // Strictly after: a poll at a scheduled instant waits for the next one.
        assert_eq!(next_after(&s, at("2026-07-01T08:02:00+08:00")), Some(at("2026-07-01T08:04:00+08:00")));
    }

    #[test]
    fn schedules_are_read_in_china_standard_time() {
        let s = parse_schedule("0 0 8 * * *").unwrap();
        assert_eq!(next_after(&s, at("2026-07-01T00:30:00Z")), Some(at("2026-07-02T00:00:00Z")));
        assert_eq!(next_after(&s, at("2026-06-30T23:30:00Z")), Some(at("2026-07-01T00:00:00Z")));
    }

    #[test]
    fn seven_fields_and_shorthands_are_accepted_and_past_years_end() {
        let s = parse_schedule("0 30 9 * * * 2027").unwrap();
        assert_eq!(next_after(&s, at("2026-07-01T08:00:00+08:00")), Some(at("2027-01-01T09:30:00+08:00")));
        let past = parse_schedule("0 0 0 1 1 * 2020").unwrap();
        assert_eq!(next_after(&past, at("2026-07-01T08:00:00+08:00")), None);
        let hourly = parse_schedule("@hourly").unwrap();
        assert_eq!(next_after(&hourly, at("2026-07-01T08:10:00+08:00")), Some(at("2026-07-01T09:00:00+08:00")));
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        let five = parse_schedule("*/2 * * * *").unwrap_err();
        assert!(five.contains("5 fields"), "{five}");
        let bad = parse_schedule("0 */2 * * * nonsense").unwrap_err();
        assert!(bad.contains("not valid cron"), "{bad}");
    }

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_an_hour() {
        let (base, cap) = (Span::from_secs(30), Span::from_mins(60));
        assert_eq!(backoff(base, cap, 0), Span::ZERO);
        assert_eq!(backoff(base, cap, 1), Span::from_secs(30));
        assert_eq!(backoff(base, cap, 2), Span::from_secs(60));
        assert_eq!(backoff(base, cap, 4), Span::from_secs(240));
        assert_eq!(backoff(base, cap, 8), Span::from_mins(60));
        assert_eq!(backoff(base, cap, 1_000), Span::from_mins(60));
    }
}
