//! What the registry pages and API show, worked out from the registry (held in memory by the
//! store): persons found by a search, one person with their superior, subordinates and the units
//! they answer for, one unit with its three responsible persons. Pure functions, no I/O.

use std::collections::HashMap;

use jiaoying_core::registry::{Person, Unit};
use jiaoying_core::{AreaCode, Registry};
use serde::Serialize;

/// A person as a list row shows them.
#[derive(Debug, Clone, Serialize)]
pub struct PersonRow {
    pub id: String,
    pub name: String,
    pub mobile: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    pub area: String,
    pub area_name: Option<String>,
    pub superior: Option<String>,
}

/// Another person named on a page: enough to reach them and to link to them.
#[derive(Debug, Clone, Serialize)]
pub struct PersonBrief {
    pub id: String,
    pub name: String,
    pub mobile: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
}

/// A unit a person answers for, and in which of the three roles.
#[derive(Debug, Clone, Serialize)]
pub struct UnitDuty {
    pub unit_id: String,
    pub unit_name: String,
    pub kind: String,
    /// `administrative`, `regulatory` or `unit`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PersonDetail {
    #[serde(flatten)]
    pub person: PersonRow,
    pub superior_person: Option<PersonBrief>,
    pub subordinates: Vec<PersonBrief>,
    pub units: Vec<UnitDuty>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub area: String,
    pub area_name: Option<String>,
}

/// One of a unit's three responsible persons (三个责任人); `person` is `None` only if the stored
/// registry names someone it does not have (imports refuse that).
#[derive(Debug, Clone, Serialize)]
pub struct Responsible {
    pub role: String,
    pub person_id: String,
    pub person: Option<PersonBrief>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitDetail {
    #[serde(flatten)]
    pub unit: UnitRow,
    /// `[lon, lat]`.
    pub location: Option<[f64; 2]>,
    pub responsible: Vec<Responsible>,
}

fn area_name(r: &Registry, code: &AreaCode) -> Option<String> {
    r.areas.iter().find(|a| &a.code == code).map(|a| a.name.clone())
}

fn roles(p: &Person) -> Vec<String> {
    p.roles.iter().map(|r| r.as_str().to_string()).collect()
}

pub fn person_row(r: &Registry, p: &Person) -> PersonRow {
    PersonRow {
        id: p.id.to_string(),
        name: p.name.clone(),
        mobile: p.mobile.to_string(),
        email: p.email.clone(),
        roles: roles(p),
        area: p.area.to_string(),
        area_name: area_name(r, &p.area),
        superior: p.superior.as_ref().map(|s| s.to_string()),
    }
}

fn brief(p: &Person) -> PersonBrief {
    PersonBrief {
        id: p.id.to_string(),
        name: p.name.clone(),
        mobile: p.mobile.to_string(),
        email: p.email.clone(),
        roles: roles(p),
    }
}

fn unit_row(r: &Registry, u: &Unit) -> UnitRow {
    UnitRow {
        id: u.id.to_string(),
        name: u.name.clone(),
        kind: u.kind.as_str().to_string(),
        area: u.area.to_string(),
        area_name: area_name(r, &u.area),
    }
}

/// A search of persons: free text (name, id, e-mail, area name, or digits of the mobile), an
/// area (that area and every area below it) and a role, all optional.
#[derive(Debug, Clone, Default)]
pub struct PersonSearch {
    pub q: Option<String>,
    pub area: Option<AreaCode>,
    pub role: Option<String>,
}

impl PersonSearch {
    fn matches(&self, area_names: &HashMap<&AreaCode, &str>, p: &Person) -> bool {
        if let Some(area) = &self.area {
            if !area.covers(&p.area) {
                return false;
            }
        }
        if let Some(role) = &self.role {
            if !p.has_role(role) {
                return false;
            }
        }
        match &self.q {
            None => true,
            Some(q) => {
                let q = q.to_lowercase();
                let text = |s: &str| s.to_lowercase().contains(&q);
                // `138 0000 0001` and `0001` both find +8613800000001.
                let digits: String = q.chars().filter(char::is_ascii_digit).collect();
                let by_mobile = digits.len() >= 3
                    && q.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+'))
                    && p.mobile.as_str().contains(&digits);
                text(&p.name)
                    || text(p.id.as_str())
                    || p.email.as_deref().is_some_and(text)
                    || area_names.get(&p.area).is_some_and(|n| text(n))
                    || by_mobile
            }
        }
    }
}

/// The persons a search finds, in registry order (by id), a page at a time, and how many it
/// finds in all.
pub fn search_persons(r: &Registry, s: &PersonSearch, limit: usize, offset: usize) -> (Vec<PersonRow>, usize) {
    let area_names: HashMap<&AreaCode, &str> = r.areas.iter().map(|a| (&a.code, a.name.as_str())).collect();
    let found: Vec<&Person> = r.persons.iter().filter(|p| s.matches(&area_names, p)).collect();
    let total = found.len();
    (found.into_iter().skip(offset).take(limit).map(|p| person_row(r, p)).collect(), total)
}

/// Units by free text (name, id, kind) within an area, as [`search_persons`].
pub fn search_units(
    r: &Registry,
    q: Option<&str>,
    area: Option<&AreaCode>,
    limit: usize,
    offset: usize,
) -> (Vec<UnitRow>, usize) {
    let q = q.map(str::to_lowercase);
    let found: Vec<&Unit> = r
        .units
        .iter()
        .filter(|u| area.is_none_or(|a| a.covers(&u.area)))
        .filter(|u| {
            q.as_deref().is_none_or(|q| {
                u.name.to_lowercase().contains(q) || u.id.as_str().to_lowercase().contains(q) || u.kind.as_str() == q
            })
        })
        .collect();
    let total = found.len();
    (found.into_iter().skip(offset).take(limit).map(|u| unit_row(r, u)).collect(), total)
}

pub fn person_detail(r: &Registry, id: &str) -> Option<PersonDetail> {
    let p = r.persons.iter().find(|p| p.id.as_str() == id)?;
    let superior_person = p.superior.as_ref().and_then(|s| r.persons.iter().find(|q| &q.id == s)).map(brief);
    let subordinates = r.persons.iter().filter(|q| q.superior.as_ref() == Some(&p.id)).map(brief).collect();
    let units = r
        .units
        .iter()
        .flat_map(|u| {
            u.responsible().into_iter().filter(|(_, pid)| **pid == p.id).map(move |(role, _)| UnitDuty {
                unit_id: u.id.to_string(),
                unit_name: u.name.clone(),
                kind: u.kind.as_str().to_string(),
                role: role.to_string(),
            })
        })
        .collect();
    Some(PersonDetail { person: person_row(r, p), superior_person, subordinates, units })
}

pub fn unit_detail(r: &Registry, id: &str) -> Option<UnitDetail> {
    let u = r.units.iter().find(|u| u.id.as_str() == id)?;
    let responsible = u
        .responsible()
        .into_iter()
        .map(|(role, pid)| Responsible {
            role: role.to_string(),
            person_id: pid.to_string(),
            person: r.persons.iter().find(|p| &p.id == pid).map(brief),
        })
        .collect();
    Some(UnitDetail { unit: unit_row(r, u), location: u.location, responsible })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        serde_json::from_value(serde_json::json!({
            "areas": [
                {"code": "500105002", "name": "观音桥街道"},
                {"code": "500105002001", "name": "建新社区", "parent": "500105002"}
            ],
            "persons": [
                {"id": "p-leader", "name": "街道主任", "mobile": "+8613900000001", "roles": ["leader"],
                 "area": "500105002"},
                {"id": "p-grid", "name": "网格员", "mobile": "13900000004", "email": "grid@example.org",
                 "roles": ["grid"], "area": "500105002001", "superior": "p-leader"}
            ],
            "units": [
                {"id": "u-school", "name": "某小学", "kind": "school", "area": "500105002001",
                 "administrative": "p-leader", "regulatory": "p-leader", "unit": "p-grid"}
            ]
        }))
        .unwrap()
    }

    fn ids(s: &PersonSearch) -> Vec<String> {
        search_persons(&registry(), s, 100, 0).0.into_iter().map(|p| p.id).collect()
    }

    #[test]
    fn persons_are_found_by_name_mobile_area_and_role() {
        let q = |q: &str| PersonSearch { q: Some(q.into()), ..Default::default() };
        assert_eq!(ids(&q("网格")), ["p-grid"]);
        assert_eq!(ids(&q("139 0000 0004")), ["p-grid"]);
        assert_eq!(ids(&q("0001")), ["p-leader"]);
        assert_eq!(ids(&q("建新")), ["p-grid"], "by area name");
        assert_eq!(ids(&q("GRID@")), ["p-grid"], "by e-mail, any case");
        let area = PersonSearch { area: Some(AreaCode::parse("500105002001").unwrap()), ..Default::default() };
        assert_eq!(ids(&area), ["p-grid"]);
        let role = PersonSearch { role: Some("leader".into()), ..Default::default() };
        assert_eq!(ids(&role), ["p-leader"]);
        assert_eq!(ids(&PersonSearch::default()).len(), 2);
    }

    #[test]
    fn a_unit_shows_its_three_responsible_persons_and_a_person_their_units() {
        let r = registry();
        let u = unit_detail(&r, "u-school").unwrap();
        let roles: Vec<(&str, &str)> =
            u.responsible.iter().map(|x| (x.role.as_str(), x.person.as_ref().unwrap().name.as_str())).collect();
        assert_eq!(roles, [("administrative", "街道主任"), ("regulatory", "街道主任"), ("unit", "网格员")]);
        let leader = person_detail(&r, "p-leader").unwrap();
        assert_eq!(leader.units.iter().map(|d| d.role.as_str()).collect::<Vec<_>>(), ["administrative", "regulatory"]);
        assert_eq!(leader.subordinates[0].id, "p-grid");
        assert_eq!(person_detail(&r, "p-grid").unwrap().superior_person.unwrap().id, "p-leader");
        assert!(person_detail(&r, "p-nobody").is_none() && unit_detail(&r, "u-none").is_none());
    }
}
