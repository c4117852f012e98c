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
        let start = self.date.and_time(self.shift.start);
        let mut end = self.date.and_time(self.shift.end);
        if end <= start {
            end += chrono::Duration::days(1);
        }
        let local = t.millis() + CST_OFFSET_MS;
        let ms = |dt: chrono::NaiveDateTime| dt.and_utc().timestamp_millis();
        ms(start) <= local && local < ms(end)
    }
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

    #[test]
    fn shifts_parse_and_print() {
        assert_eq!("08:00-20:00".parse::<Shift>().unwrap().to_string(), "08:00-20:00");
        for bad in ["", "8-20", "08:00", "25:00-08:00", "08:00-20:61"] {
            assert!(bad.parse::<Shift>().is_err(), "{bad:?}");
        }
    }
}
