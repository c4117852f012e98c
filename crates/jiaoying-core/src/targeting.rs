//! Who is called for an alert: the persons of the reached areas and the three responsible persons
//! of the reached units, filtered by the tier's roles, one call per person.

use std::collections::BTreeMap;

use crate::area::AreaCode;
use crate::ids::{PersonId, UnitId};
use crate::registry::{Registry, Role};

/// One person to call, with every role they are called in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub person: PersonId,
    /// The roles this person is called in, in the order first met; never empty.
    pub roles: Vec<Role>,
    /// The first reached unit this person is responsible for, if any.
    pub unit: Option<UnitId>,
    /// The area of the unit, or else the person's own area.
    pub area: AreaCode,
}

/// Targets for alert area codes. A code reaches the area it names and every area below it, never
/// the areas above it. Output is ordered by person id so the same input calls in the same order.
pub fn target_by_codes(registry: &Registry, codes: &[AreaCode], roles: &[Role]) -> Vec<Target> {
    let reached = |area: &AreaCode| codes.iter().any(|c| c.covers(area));
    let wanted = |role: &str| roles.iter().any(|r| r.is(role));
    let mut by_person: BTreeMap<PersonId, Target> = BTreeMap::new();
    let mut add = |pid: &PersonId, role: Role, unit: Option<&UnitId>, area: &AreaCode| {
        let t = by_person.entry(pid.clone()).or_insert_with(|| Target {
            person: pid.clone(),
            roles: Vec::new(),
            unit: unit.cloned(),
            area: area.clone(),
        });
        if !t.roles.contains(&role) {
            t.roles.push(role);
        }
        if t.unit.is_none() {
            if let Some(u) = unit {
                t.unit = Some(u.clone());
                t.area = area.clone();
            }
        }
    };

    // Units first, so that a person who is both a unit's responsible person and an area's
    // community worker carries the unit on their single call.
    let known: std::collections::HashSet<&PersonId> = registry.persons.iter().map(|p| &p.id).collect();
    for unit in registry.units.iter().filter(|u| reached(&u.area)) {
        for (role, pid) in unit.responsible() {
            if wanted(role) && known.contains(pid) {
                add(pid, Role::named(role), Some(&unit.id), &unit.area);
            }
        }
    }
    for person in registry.persons.iter().filter(|p| reached(&p.area)) {
        for role in person.roles.iter().filter(|r| wanted(r.as_str())) {
            add(&person.id, role.clone(), None, &person.area);
        }
    }
    by_person.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mobile::MobileNumber;
    use crate::registry::{Area, Person, Unit, UnitKind};

    fn code(s: &str) -> AreaCode {
        AreaCode::parse(s).unwrap()
    }
    fn roles(rs: &[&str]) -> Vec<Role> {
        rs.iter().map(|r| Role::parse(r).unwrap()).collect()
    }
    fn person(id: &str, rs: &[&str], area: &str) -> Person {
        Person {
            id: PersonId::parse(id).unwrap(),
            name: id.into(),
            mobile: MobileNumber::parse("13800000001").unwrap(),
            email: None,
            roles: roles(rs),
            area: code(area),
            superior: None,
        }
    }
    fn unit(id: &str, area: &str, adm: &str, reg: &str, own: &str) -> Unit {
        Unit {
            id: UnitId::parse(id).unwrap(),
            name: id.into(),
            kind: UnitKind::School,
            area: code(area),
            location: None,
            administrative: PersonId::parse(adm).unwrap(),
            regulatory: PersonId::parse(reg).unwrap(),
            unit: PersonId::parse(own).unwrap(),
        }
    }

    /// 街道 500105002 with communities 001 and 002; a school in 001.
    fn registry() -> Registry {
        let area =
            |c: &str, p: Option<&str>| Area { code: code(c), name: c.into(), parent: p.map(code), polygon: None };
        Registry {
            areas: vec![
                area("500105002", None),
                area("500105002001", Some("500105002")),
                area("500105002002", Some("500105002")),
            ],
            persons: vec![
                person("leader", &["leader"], "500105002"),
                person("grid-1", &["grid", "community"], "500105002001"),
                person("grid-2", &["grid"], "500105002002"),
                person("adm", &["administrative", "community"], "500105002001"),
                person("reg", &["regulatory"], "500105002"),
                person("own", &["unit"], "500105002001"),
            ],
            units: vec![unit("school", "500105002001", "adm", "reg", "own")],
        }
    }

    fn ids(ts: &[Target]) -> Vec<&str> {
        ts.iter().map(|t| t.person.as_str()).collect()
    }

    #[test]
    fn a_code_reaches_its_area_and_below_never_above() {
        let all = roles(&["leader", "grid", "community", "administrative", "regulatory", "unit"]);
        let t = target_by_codes(&registry(), &[code("500105002001")], &all);
        // The leader and grid-2 are above or beside community 001: not called directly. The
        // regulatory person lives at street level but is called through the reached unit.
        assert_eq!(ids(&t), vec!["adm", "grid-1", "own", "reg"]);
    }

    #[test]
    fn the_street_code_reaches_every_community() {
        let t = target_by_codes(&registry(), &[code("500105002")], &roles(&["grid"]));
        assert_eq!(ids(&t), vec!["grid-1", "grid-2"]);
    }

    #[test]
    fn a_person_with_several_roles_gets_one_target_carrying_all_of_them() {
        let t = target_by_codes(&registry(), &[code("500105002")], &roles(&["administrative", "community", "grid"]));
        let adm = t.iter().find(|t| t.person.as_str() == "adm").unwrap();
        assert_eq!(adm.roles, roles(&["administrative", "community"]));
        assert_eq!(adm.unit.as_ref().map(|u| u.as_str()), Some("school"));
        let grid = t.iter().find(|t| t.person.as_str() == "grid-1").unwrap();
        assert_eq!(grid.roles, roles(&["grid", "community"]));
        assert_eq!(t.iter().filter(|t| t.person.as_str() == "adm").count(), 1);
    }

    #[test]
    fn roles_outside_the_tier_are_not_called() {
        let t = target_by_codes(&registry(), &[code("500105002")], &roles(&["unit"]));
        assert_eq!(ids(&t), vec!["own"]);
    }

    #[test]
    fn an_unregistered_code_reaches_nobody() {
        let t = target_by_codes(&registry(), &[code("110101")], &roles(&["grid", "leader"]));
        assert!(t.is_empty());
    }

    #[test]
    fn overlapping_codes_do_not_call_twice() {
        let t = target_by_codes(&registry(), &[code("500105002"), code("500105002001")], &roles(&["grid"]));
        assert_eq!(ids(&t), vec!["grid-1", "grid-2"]);
    }
}
