//! The duty roster as the board and the API show it: who is on duty now in each area, and the
//! times ahead when an area that keeps a roster has nobody on duty (a `check-config` warning and
//! a board warning).
//!
//! Swaps (换班) need no record of their own: a later import that lists an area and date replaces
//! every stored entry of that area and date, so a clerk changes the name in that day's rows of
//! the roster sheet and imports it again (the whole sheet or only that day's rows).

use jiaoying_core::roster::{on_duty, RosterEntry};
use jiaoying_core::{AreaCode, Registry, Role, Span, Timestamp};
use serde::Serialize;

use super::{area_name, person_ref, Duties};
use crate::board::{At, Dur, PersonRef};
use crate::context::TrackerError;

/// An area and who is on duty for it now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OnDutyView {
    pub area: String,
    pub area_name: String,
    /// `roster`: the roster names them; `role`: the roster names nobody now (or the area keeps
    /// none), so escalation calls the area's `duty_officer` persons, listed; `none`: nobody.
    pub source: &'static str,
    pub persons: Vec<OnDutyPerson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OnDutyPerson {
    pub person: PersonRef,
    /// The shift, `20:00-08:00`, when the roster names them.
    pub shift: Option<String>,
    pub from: Option<At>,
    pub until: Option<At>,
}

/// A time when an area that keeps a roster has nobody on duty.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RosterGapView {
    pub area: String,
    pub area_name: String,
    pub from: At,
    pub until: At,
    pub length: Dur,
}

/// Every area that keeps a roster or has persons with the `duty_officer` role, in code order,
/// with who is on duty at `now`.
pub fn on_duty_now(registry: &Registry, now: Timestamp) -> Vec<OnDutyView> {
    let mut areas: Vec<&AreaCode> = registry.rosters.iter().map(|r| &r.area).collect();
    areas.extend(registry.persons.iter().filter(|p| p.has_role(Role::DUTY_OFFICER)).map(|p| &p.area));
    areas.sort();
    areas.dedup();
    areas
        .into_iter()
        .map(|area| {
            let rostered: Vec<&RosterEntry> = on_duty(&registry.rosters, area, now)
                .into_iter()
                .filter(|r| registry.person(&r.person).is_some())
                .collect();
            let (source, persons) = if !rostered.is_empty() {
                let persons = rostered
                    .into_iter()
                    .map(|r| {
                        let (from, until) = r.span();
                        OnDutyPerson {
                            person: person_ref(registry, r.person.as_str()),
                            shift: Some(r.shift.to_string()),
                            from: Some(At::new(from.millis())),
                            until: Some(At::new(until.millis())),
                        }
                    })
                    .collect();
                ("roster", persons)
            } else {
                let by_role: Vec<OnDutyPerson> = registry
                    .persons
                    .iter()
                    .filter(|p| &p.area == area && p.has_role(Role::DUTY_OFFICER))
                    .map(|p| OnDutyPerson {
                        person: person_ref(registry, p.id.as_str()),
                        shift: None,
                        from: None,
                        until: None,
                    })
                    .collect();
                (if by_role.is_empty() { "none" } else { "role" }, by_role)
            };
            OnDutyView {
                area: area.as_str().to_string(),
                area_name: area_name(registry, area.as_str()),
                source,
                persons,
            }
        })
        .collect()
}

/// Roster gaps in the `days` days from `from`.
pub fn roster_gaps(registry: &Registry, from: Timestamp, days: u32) -> Vec<RosterGapView> {
    let until = from.plus(Span::from_mins(i64::from(days) * 24 * 60));
    jiaoying_core::roster::roster_gaps(&registry.rosters, from, until)
        .into_iter()
        .map(|g| RosterGapView {
            area: g.area.as_str().to_string(),
            area_name: area_name(registry, g.area.as_str()),
            from: At::new(g.from.millis()),
            until: At::new(g.until.millis()),
            length: Dur::new(g.until.millis() - g.from.millis()),
        })
        .collect()
}

/// The gaps as `check-config` warns of them, one line each.
pub fn gap_warnings(registry: &Registry, now: Timestamp, days: u32) -> Vec<String> {
    roster_gaps(registry, now, days)
        .into_iter()
        .map(|g| {
            format!(
                "roster gap: nobody on duty for area {} ({}) from {} to {} China time ({}); escalation falls back \
                 to the area's duty_officer persons",
                g.area, g.area_name, g.from.local, g.until.local, g.length.en
            )
        })
        .collect()
}

impl Duties {
    /// Who is on duty now, per area.
    pub async fn rosters_now(&self, now: Timestamp) -> Result<Vec<OnDutyView>, TrackerError> {
        let registry = self.tracker().store.load_registry().await?;
        Ok(on_duty_now(&registry, now))
    }

    /// Roster gaps in the next `days` days (the configured number when `None`).
    pub async fn roster_gaps(&self, now: Timestamp, days: Option<u32>) -> Result<Vec<RosterGapView>, TrackerError> {
        let registry = self.tracker().store.load_registry().await?;
        Ok(roster_gaps(&registry, now, days.unwrap_or(self.config().roster_gap_days)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiaoying_core::registry::{Area, Person};
    use jiaoying_core::{MobileNumber, PersonId};

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    fn registry() -> Registry {
        let code = |s: &str| AreaCode::parse(s).unwrap();
        let person = |id: &str, roles: &[&str]| Person {
            id: PersonId::parse(id).unwrap(),
            name: id.into(),
            mobile: MobileNumber::parse("13900000001").unwrap(),
            email: None,
            roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
            area: code("500105002"),
            superior: None,
        };
        let entry = |who: &str, date: &str, shift: &str| RosterEntry {
            area: code("500105002"),
            person: PersonId::parse(who).unwrap(),
            date: date.parse().unwrap(),
            shift: shift.parse().unwrap(),
        };
        Registry {
            areas: vec![Area { code: code("500105002"), name: "观音桥街道".into(), parent: None, polygon: None }],
            persons: vec![person("duty-a", &["duty_officer"]), person("duty-b", &["duty_officer"])],
            units: vec![],
            rosters: vec![entry("duty-a", "2026-01-31", "08:00-20:00"), entry("duty-b", "2026-01-31", "20:00-08:00")],
        }
    }

    #[test]
    fn on_duty_now_follows_the_roster_across_midnight_then_falls_back_to_the_role() {
        let r = registry();
        let who = |t: &str| {
            let v = on_duty_now(&r, at(t));
            (v[0].source, v[0].persons.iter().map(|p| p.person.id.clone()).collect::<Vec<_>>())
        };
        assert_eq!(who("2026-01-31T12:00:00+08:00"), ("roster", vec!["duty-a".to_string()]));
        assert_eq!(who("2026-02-01T07:59:00+08:00"), ("roster", vec!["duty-b".to_string()]));
        assert_eq!(who("2026-02-01T08:00:00+08:00"), ("role", vec!["duty-a".to_string(), "duty-b".to_string()]));
    }

    #[test]
    fn gaps_are_warned_of_in_china_time() {
        let w = gap_warnings(&registry(), at("2026-01-31T08:00:00+08:00"), 2);
        assert_eq!(
            w,
            vec!["roster gap: nobody on duty for area 500105002 (观音桥街道) from 02-01 08:00 to 02-02 08:00 China time \
                  (24 h); escalation falls back to the area's duty_officer persons"
                .to_string()]
        );
    }
}
