//! The duty roster (值班表): who is on duty for which area, by date and shift. Escalation's last
//! step calls the duty officers on duty now; without a roster for an area, its persons with the
//! `duty_officer` role are called.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::area::AreaCode;
use crate::clock::Timestamp;
use crate::ids::PersonId;

/// China Standard Time: shifts are written in local time.
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// A shift such as `08:00-20:00`; one that ends at or before its start (`20:00-08:00`) ends the
/// next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shift {
    start: NaiveTime,
    end: NaiveTime,
}

impl FromStr for Shift {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("invalid shift {s:?}: write it as HH:MM-HH:MM, e.g. 08:00-20:00");
        let (a, b) = s.trim().split_once('-').ok_or_else(err)?;
        let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| err());
        Ok(Shift { start: t(a)?, end: t(b)? })
    }
}

impl fmt::Display for Shift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start.format("%H:%M"), self.end.format("%H:%M"))
    }
}

impl Serialize for Shift {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shift {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// One person on duty for one area for one shift of one date.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    pub area: AreaCode,
    pub person: PersonId,
    /// The date the shift starts, `2026-07-01`.
    pub date: NaiveDate,
    pub shift: Shift,
}

impl RosterEntry {
    /// Whether the shift covers `t`.
    pub fn on_duty_at(&self, t: Timestamp) -> bool {
        let (start, end) = self.span();
        start <= t && t < end
    }

    /// When the shift starts and ends: `[start, end)`. A shift that ends at or before its start
    /// ends the next day; the calendar does the counting, so Jan 31 20:00 runs to Feb 1 08:00
    /// and Feb 28 20:00 to Feb 29 or Mar 1 as the year has it.
    pub fn span(&self) -> (Timestamp, Timestamp) {
        let start = self.date.and_time(self.shift.start);
        let mut end = self.date.and_time(self.shift.end);
        if end <= start {
            end += chrono::Duration::days(1);
        }
        let ms = |dt: chrono::NaiveDateTime| Timestamp(dt.and_utc().timestamp_millis() - CST_OFFSET_MS);
        (ms(start), ms(end))
    }
}

/// The persons the roster has on duty for `area` itself at `t`, in roster order, each once.
pub fn on_duty<'r>(rosters: &'r [RosterEntry], area: &AreaCode, t: Timestamp) -> Vec<&'r RosterEntry> {
    let mut seen = std::collections::HashSet::new();
    rosters.iter().filter(|r| &r.area == area && r.on_duty_at(t) && seen.insert(&r.person)).collect()
}

/// A time when an area that keeps a roster has nobody on duty: `[from, until)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterGap {
    pub area: AreaCode,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// Every time in `[from, until)` when an area that keeps a roster (has any entry at all) has
/// nobody on duty, per area in code order, earliest first. An area whose entries stop within the
/// window has a gap from its last shift to `until`: the roster has run out. Areas without a
/// roster have no gaps here: escalation calls their `duty_officer` persons by role.
pub fn roster_gaps(rosters: &[RosterEntry], from: Timestamp, until: Timestamp) -> Vec<RosterGap> {
    let mut by_area: std::collections::BTreeMap<&AreaCode, Vec<(Timestamp, Timestamp)>> = Default::default();
    for r in rosters {
        by_area.entry(&r.area).or_default().push(r.span());
    }
    let mut out = Vec::new();
    for (area, mut spans) in by_area {
        spans.sort();
        // Walk the shifts in start order, carrying the end of what is covered so far.
        let mut covered_to = from;
        for (start, end) in spans {
            if end <= covered_to {
                continue;
            }
            if start > covered_to && covered_to < until {
                out.push(RosterGap { area: area.clone(), from: covered_to, until: start.min(until) });
            }
            covered_to = covered_to.max(end);
            if covered_to >= until {
                break;
            }
        }
        if covered_to < until {
            out.push(RosterGap { area: area.clone(), from: covered_to, until });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(date: &str, shift: &str) -> RosterEntry {
        RosterEntry {
            area: AreaCode::parse("500105002").unwrap(),
            person: PersonId::parse("p").unwrap(),
            date: date.parse().unwrap(),
            shift: shift.parse().unwrap(),
        }
    }

    /// 2026-07-01 hh:mm China Standard Time.
    fn cst(day: u32, h: u32, m: u32) -> Timestamp {
        let dt = NaiveDate::from_ymd_opt(2026, 7, day).unwrap().and_hms_opt(h, m, 0).unwrap();
        Timestamp(dt.and_utc().timestamp_millis() - CST_OFFSET_MS)
    }

    #[test]
    fn day_and_night_shifts_cover_their_hours_in_china_time() {
        let day = entry("2026-07-01", "08:00-20:00");
        let night = entry("2026-07-01", "20:00-08:00");
        assert!(day.on_duty_at(cst(1, 8, 0)) && day.on_duty_at(cst(1, 19, 59)));
        assert!(!day.on_duty_at(cst(1, 20, 0)) && !day.on_duty_at(cst(1, 7, 59)));
        assert!(night.on_duty_at(cst(1, 20, 0)) && night.on_duty_at(cst(2, 7, 59)));
        assert!(!night.on_duty_at(cst(2, 8, 0)) && !night.on_duty_at(cst(1, 19, 0)));
    }

    /// `y-m-d hh:mm` China Standard Time.
    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        let dt = NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap();
        Timestamp(dt.and_utc().timestamp_millis() - CST_OFFSET_MS)
    }

    fn on(area: &str, person: &str, date: &str, shift: &str) -> RosterEntry {
        RosterEntry {
            area: AreaCode::parse(area).unwrap(),
            person: PersonId::parse(person).unwrap(),
            date: date.parse().unwrap(),
            shift: shift.parse().unwrap(),
        }
    }

    #[test]
    fn night_shifts_end_the_next_day_across_month_and_year_ends() {
        // (date, shift) → (start, end) in China time.
        let cases = [
            ("2026-01-31", "20:00-08:00", at(2026, 1, 31, 20, 0), at(2026, 2, 1, 8, 0)),
            ("2026-02-28", "20:00-08:00", at(2026, 2, 28, 20, 0), at(2026, 3, 1, 8, 0)),
            ("2028-02-28", "20:00-08:00", at(2028, 2, 28, 20, 0), at(2028, 2, 29, 8, 0)),
            ("2028-02-29", "20:00-08:00", at(2028, 2, 29, 20, 0), at(2028, 3, 1, 8, 0)),
            ("2026-12-31", "20:00-08:00", at(2026, 12, 31, 20, 0), at(2027, 1, 1, 8, 0)),
            ("2026-04-30", "00:00-00:00", at(2026, 4, 30, 0, 0), at(2026, 5, 1, 0, 0)),
            ("2026-07-01", "08:00-20:00", at(2026, 7, 1, 8, 0), at(2026, 7, 1, 20, 0)),
        ];
        for (date, shift, start, end) in cases {
            let e = on("500105002", "p", date, shift);
            assert_eq!(e.span(), (start, end), "{date} {shift}");
            assert!(e.on_duty_at(start) && !e.on_duty_at(end), "{date} {shift}");
        }
        // Feb 28's night shift in a common year covers 07:59 on Mar 1, not on Feb 29 (no such day).
        let feb = on("500105002", "p", "2026-02-28", "20:00-08:00");
        assert!(feb.on_duty_at(at(2026, 3, 1, 7, 59)));
        assert!(!feb.on_duty_at(at(2026, 3, 1, 8, 0)));
    }

    #[test]
    fn on_duty_names_who_the_roster_has_now_for_that_area() {
        let r = vec![
            on("500105002", "day", "2026-01-31", "08:00-20:00"),
            on("500105002", "night", "2026-01-31", "20:00-08:00"),
            on("500105002001", "community", "2026-02-01", "00:00-00:00"),
        ];
        let street = AreaCode::parse("500105002").unwrap();
        let who = |t| on_duty(&r, &street, t).iter().map(|e| e.person.as_str().to_string()).collect::<Vec<_>>();
        assert_eq!(who(at(2026, 1, 31, 12, 0)), ["day"]);
        assert_eq!(who(at(2026, 1, 31, 23, 0)), ["night"]);
        // After midnight, into the next month, the night shift of Jan 31 still holds.
        assert_eq!(who(at(2026, 2, 1, 3, 0)), ["night"]);
        assert!(who(at(2026, 2, 1, 9, 0)).is_empty(), "the community's roster is not the street's");
    }

    #[test]
    fn day_and_night_shifts_leave_no_gap_across_midnight_and_month_ends() {
        let mut r = Vec::new();
        for date in ["2028-02-27", "2028-02-28", "2028-02-29", "2028-03-01"] {
            r.push(on("500105002", "day", date, "08:00-20:00"));
            r.push(on("500105002", "night", date, "20:00-08:00"));
        }
        assert_eq!(roster_gaps(&r, at(2028, 2, 27, 8, 0), at(2028, 3, 2, 8, 0)), vec![]);
        // Feb 29 taken out (a leap day forgotten): a gap of exactly that day's two shifts.
        r.retain(|e| e.date.to_string() != "2028-02-29");
        let area = AreaCode::parse("500105002").unwrap();
        assert_eq!(
            roster_gaps(&r, at(2028, 2, 27, 8, 0), at(2028, 3, 2, 8, 0)),
            vec![RosterGap { area, from: at(2028, 2, 29, 8, 0), until: at(2028, 3, 1, 8, 0) }]
        );
    }

    #[test]
    fn gaps_between_shifts_before_the_first_and_after_the_roster_runs_out() {
        let r = vec![
            // Jan 31: a day shift that ends early and a night shift into February.
            on("500105002", "a", "2026-01-31", "08:00-18:00"),
            on("500105002", "b", "2026-01-31", "20:00-08:00"),
            // Overlapping shifts of two officers count once.
            on("500105002", "c", "2026-02-01", "08:00-14:00"),
            on("500105002", "d", "2026-02-01", "12:00-20:00"),
            // Another area, rostered only by day.
            on("500105002001", "e", "2026-02-01", "08:00-20:00"),
        ];
        let (from, until) = (at(2026, 1, 31, 0, 0), at(2026, 2, 2, 0, 0));
        let g: Vec<(String, Timestamp, Timestamp)> =
            roster_gaps(&r, from, until).into_iter().map(|g| (g.area.as_str().to_string(), g.from, g.until)).collect();
        let s = "500105002".to_string();
        let c = "500105002001".to_string();
        assert_eq!(
            g,
            vec![
                (s.clone(), from, at(2026, 1, 31, 8, 0)),
                (s.clone(), at(2026, 1, 31, 18, 0), at(2026, 1, 31, 20, 0)),
                (s, at(2026, 2, 1, 20, 0), until),
                (c.clone(), from, at(2026, 2, 1, 8, 0)),
                (c, at(2026, 2, 1, 20, 0), until),
            ]
        );
        // A window inside one shift has no gap; an area without a roster never has one.
        assert_eq!(roster_gaps(&r, at(2026, 1, 31, 21, 0), at(2026, 2, 1, 7, 0)).len(), 1, "only the community");
        assert_eq!(roster_gaps(&[], from, until), vec![]);
    }

    #[test]
    fn shifts_parse_and_print() {
        assert_eq!("08:00-20:00".parse::<Shift>().unwrap().to_string(), "08:00-20:00");
        for bad in ["", "8-20", "08:00", "25:00-08:00", "08:00-20:61"] {
            assert!(bad.parse::<Shift>().is_err(), "{bad:?}");
        }
    }
}
