//! The registry: areas, persons and units, and the checks that make it safe to call from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::area::AreaCode;
use crate::ids::{PersonId, UnitId};
use crate::mobile::MobileNumber;

/// A role a person holds. The set is open (`grid`, `community`, ... are local words), so it is a
/// validated lower-case word rather than an enum; the roles the service itself acts on are
/// constants here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    pub const DUTY_OFFICER: &'static str = "duty_officer";
    pub const LEADER: &'static str = "leader";
    pub const ADMINISTRATIVE: &'static str = "administrative";
    pub const REGULATORY: &'static str = "regulatory";
    pub const UNIT: &'static str = "unit";
    /// Not a registry role: the role of a call made to someone's superior by escalation.
    pub const SUPERIOR: &'static str = "superior";

    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if !t.is_empty() && t.len() <= 32 && t.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
        {
            Ok(Role(t.to_string()))
        } else {
            Err(format!("invalid role {s:?}: use a lower-case word such as duty_officer, leader, grid"))
        }
    }

    pub fn named(s: &'static str) -> Self {
        Role(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is(&self, s: &str) -> bool {
        self.0 == s
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    School,
    Hospital,
    ElderlyCare,
    Construction,
    Hazchem,
    Complex,
    TransportHub,
    TunnelBridge,
    GeohazardSite,
    Other,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::School => "school",
            UnitKind::Hospital => "hospital",
            UnitKind::ElderlyCare => "elderly_care",
            UnitKind::Construction => "construction",
            UnitKind::Hazchem => "hazchem",
            UnitKind::Complex => "complex",
            UnitKind::TransportHub => "transport_hub",
            UnitKind::TunnelBridge => "tunnel_bridge",
            UnitKind::GeohazardSite => "geohazard_site",
            UnitKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value_str(s)
    }
}

// A tiny private helper so `UnitKind::parse` reuses the serde names instead of a second table.
mod serde_json {
    use serde::de::value::{Error, StrDeserializer};
    use serde::de::IntoDeserializer;
    use serde::Deserialize;

    pub fn from_value_str<T: for<'de> Deserialize<'de>>(s: &str) -> Option<T> {
        let d: StrDeserializer<'_, Error> = s.into_deserializer();
        T::deserialize(d).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub code: AreaCode,
    pub name: String,
    #[serde(default)]
    pub parent: Option<AreaCode>,
    /// lon/lat pairs; the first and last point are equal.
    #[serde(default)]
    pub polygon: Option<Vec<[f64; 2]>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub id: PersonId,
    pub name: String,
    pub mobile: MobileNumber,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub area: AreaCode,
    #[serde(default)]
    pub superior: Option<PersonId>,
}

impl Person {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.is(role))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    pub kind: UnitKind,
    pub area: AreaCode,
    #[serde(default)]
    pub location: Option<[f64; 2]>,
    pub administrative: PersonId,
    pub regulatory: PersonId,
    pub unit: PersonId,
}

impl Unit {
    /// The three responsible persons (三个责任人) with the role each is called in.
    pub fn responsible(&self) -> [(&'static str, &PersonId); 3] {
        [(Role::ADMINISTRATIVE, &self.administrative), (Role::REGULATORY, &self.regulatory), (Role::UNIT, &self.unit)]
    }
}

/// The whole registry, as read from `registry.toml` or from the database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    #[serde(default)]
    pub areas: Vec<Area>,
    #[serde(default)]
    pub persons: Vec<Person>,
    #[serde(default)]
    pub units: Vec<Unit>,
    /// The duty roster: who is on duty for which area, by date and shift.
    #[serde(default)]
    pub rosters: Vec<crate::roster::RosterEntry>,
}

/// One thing wrong with a registry, naming the entry it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryProblem {
    /// `area 500105002`, `person p-adm-1`, `unit u-school-1`.
    pub entry: String,
    pub reason: String,
}

impl fmt::Display for RegistryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.entry, self.reason)
    }
}

/// The four tables of a registry, in the order an import reads them (and a workbook shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Areas,
    Persons,
    Units,
    Rosters,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Areas, Table::Persons, Table::Units, Table::Rosters];

    /// The table's name: the TOML key, the XLSX sheet, the CSV file's stem.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Areas => "areas",
            Table::Persons => "persons",
            Table::Units => "units",
            Table::Rosters => "rosters",
        }
    }

    /// What one entry of the table is called in a problem (`person p-1`).
    pub fn entry_word(self) -> &'static str {
        match self {
            Table::Areas => "area",
            Table::Persons => "person",
            Table::Units => "unit",
            Table::Rosters => "roster",
        }
    }

    pub fn parse(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem with the entry it is about: `registry.<table>[index]`. Importers map the index back
/// to the file, sheet and row the entry came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedProblem {
    pub table: Table,
    pub index: usize,
    pub problem: RegistryProblem,
}

/// Why an e-mail address cannot be used, if it cannot: one `@` between a local part and a
/// domain with a dot, no spaces or control characters, at most 254 characters. Deliberately
/// loose (mail servers decide the rest); it catches typing slips such as a missing `@` or a
/// mobile number typed into the e-mail column.
pub fn email_problem(email: &str) -> Option<String> {
    let bad = || Some(format!("bad e-mail {email:?}: write it as name@example.org"));
    if email.is_empty() || email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad();
    }
    let Some((local, domain)) = email.split_once('@') else { return bad() };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || !domain_ok {
        return bad();
    }
    None
}

impl Registry {
    pub fn person(&self, id: &PersonId) -> Option<&Person> {
        self.persons.iter().find(|p| &p.id == id)
    }

    pub fn index_persons(&self) -> HashMap<&PersonId, &Person> {
        self.persons.iter().map(|p| (&p.id, p)).collect()
    }

    /// Every problem that would make a call go wrong: duplicate ids, unknown areas and persons,
    /// superior cycles, children whose code does not extend their parent's, empty names, bad
    /// e-mail addresses, duplicate roster entries.
    pub fn problems(&self) -> Vec<RegistryProblem> {
        self.problems_located().into_iter().map(|p| p.problem).collect()
    }

    /// [`Registry::problems`], each with the table and index of the entry it is about.
    pub fn problems_located(&self) -> Vec<LocatedProblem> {
        let mut out = Vec::new();
        let mut push = |table: Table, index: usize, entry: String, reason: String| {
            out.push(LocatedProblem { table, index, problem: RegistryProblem { entry, reason } })
        };

        let mut area_codes = BTreeSet::new();
        for (i, a) in self.areas.iter().enumerate() {
            if !area_codes.insert(&a.code) {
                push(Table::Areas, i, format!("area {}", a.code), "duplicate area code".into());
            }
        }
        for (i, a) in self.areas.iter().enumerate() {
            let entry = || format!("area {}", a.code);
            if a.name.trim().is_empty() {
                push(Table::Areas, i, entry(), "has no name".into());
            }
            if let Some(parent) = &a.parent {
                if !area_codes.contains(parent) {
                    push(Table::Areas, i, entry(), format!("unknown parent area {parent}"));
                } else if !(parent.covers(&a.code) && parent != &a.code) {
                    push(Table::Areas, i, entry(), format!("code does not extend its parent's code {parent}"));
                }
            }
            if let Some(poly) = &a.polygon {
                if let Some(reason) = polygon_problem(poly) {
                    push(Table::Areas, i, entry(), reason);
                }
            }
        }

        let mut person_ids = BTreeSet::new();
        for (i, p) in self.persons.iter().enumerate() {
            if !person_ids.insert(&p.id) {
                push(Table::Persons, i, format!("person {}", p.id), "duplicate person id".into());
            }
        }
        for (i, p) in self.persons.iter().enumerate() {
            let entry = || format!("person {}", p.id);
            if p.name.trim().is_empty() {
                push(Table::Persons, i, entry(), "has no name".into());
            }
            if !area_codes.contains(&p.area) {
                push(Table::Persons, i, entry(), format!("unknown area {}", p.area));
            }
            if let Some(s) = &p.superior {
                if !person_ids.contains(s) {
                    push(Table::Persons, i, entry(), format!("unknown superior {s}"));
                }
            }
            if p.roles.is_empty() {
                push(Table::Persons, i, entry(), "has no role".into());
            }
            if let Some(reason) = p.email.as_deref().and_then(email_problem) {
                push(Table::Persons, i, entry(), reason);
            }
        }
        for id in self.superior_cycles() {
            let i = self.persons.iter().position(|p| p.id == id).unwrap_or(0);
            push(Table::Persons, i, format!("person {id}"), "superior chain forms a cycle".into());
        }

        let mut unit_ids = BTreeSet::new();
        for (i, u) in self.units.iter().enumerate() {
            let entry = || format!("unit {}", u.id);
            if !unit_ids.insert(&u.id) {
                push(Table::Units, i, entry(), "duplicate unit id".into());
            }
            if u.name.trim().is_empty() {
                push(Table::Units, i, entry(), "has no name".into());
            }
            if !area_codes.contains(&u.area) {
                push(Table::Units, i, entry(), format!("unknown area {}", u.area));
            }
            for (role, pid) in u.responsible() {
                if !person_ids.contains(pid) {
                    push(Table::Units, i, entry(), format!("unknown {role} responsible person {pid}"));
                }
            }
            if let Some([lon, lat]) = u.location {
                if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
                    push(Table::Units, i, entry(), "location is not a valid lon/lat".into());
                }
            }
        }
        let mut roster_entries = BTreeSet::new();
        for (i, r) in self.rosters.iter().enumerate() {
            let entry = || format!("roster {} {} {} {}", r.area, r.date, r.shift, r.person);
            if !roster_entries.insert((&r.area, r.date, r.shift.to_string(), &r.person)) {
                push(Table::Rosters, i, entry(), "duplicate roster entry".into());
            }
            if !area_codes.contains(&r.area) {
                push(Table::Rosters, i, entry(), format!("unknown area {}", r.area));
            }
            if !person_ids.contains(&r.person) {
                push(Table::Rosters, i, entry(), format!("unknown person {}", r.person));
            }
        }
        out
    }

    /// Persons whose superior chain loops back on itself, each named once.
    fn superior_cycles(&self) -> Vec<PersonId> {
        let sup: BTreeMap<&PersonId, &PersonId> =
            self.persons.iter().filter_map(|p| p.superior.as_ref().map(|s| (&p.id, s))).collect();
        let mut in_cycle = BTreeSet::new();
        for start in sup.keys() {
            let mut seen = BTreeSet::new();
            let mut cur = *start;
            while let Some(next) = sup.get(cur) {
                if !seen.insert(cur) {
                    break;
                }
                if next == start {
                    in_cycle.insert((*start).clone());
                    break;
                }
                cur = next;
            }
        }
        in_cycle.into_iter().collect()
    }
}

fn polygon_problem(poly: &[[f64; 2]]) -> Option<String> {
    if poly.len() < 4 {
        return Some("polygon needs at least four points (the first repeated at the end)".into());
    }
    if poly.first() != poly.last() {
        return Some("polygon is not closed: its last point must equal its first".into());
    }
    if poly.iter().any(|[lon, lat]| !(-180.0..=180.0).contains(lon) || !(-90.0..=90.0).contains(lat)) {
        return Some("polygon has a point that is not a valid lon/lat".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A street, one community, a leader and an administrative person who answers to them.
    fn demo() -> Registry {
        let area = |code: &str, parent: Option<&str>| Area {
            code: AreaCode::parse(code).unwrap(),
            name: code.into(),
            parent: parent.map(|p| AreaCode::parse(p).unwrap()),
            polygon: None,
        };
        let person = |id: &str, roles: &[&str], area: &str, sup: Option<&str>| Person {
            id: PersonId::parse(id).unwrap(),
            name: id.into(),
            mobile: MobileNumber::parse("13800000001").unwrap(),
            email: None,
            roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
            area: AreaCode::parse(area).unwrap(),
            superior: sup.map(|s| PersonId::parse(s).unwrap()),
        };
        Registry {
            rosters: vec![],
            areas: vec![area("500105002", None), area("500105002001", Some("500105002"))],
            persons: vec![
                person("p-leader", &["leader"], "500105002", None),
                person("p-adm", &["administrative"], "500105002001", Some("p-leader")),
            ],
            units: vec![Unit {
                id: UnitId::parse("u-1").unwrap(),
                name: "学校".into(),
                kind: UnitKind::School,
                area: AreaCode::parse("500105002001").unwrap(),
                location: None,
                administrative: PersonId::parse("p-adm").unwrap(),
                regulatory: PersonId::parse("p-adm").unwrap(),
                unit: PersonId::parse("p-adm").unwrap(),
            }],
        }
    }

    #[test]
    fn a_consistent_registry_has_no_problems() {
        assert_eq!(demo().problems(), vec![]);
    }

    #[test]
    fn names_unknown_superiors_areas_and_responsible_persons() {
        let mut r = demo();
        r.persons[1].superior = Some(PersonId::parse("p-nobody").unwrap());
        r.units[0].regulatory = PersonId::parse("p-ghost").unwrap();
        r.persons[0].area = AreaCode::parse("500105009").unwrap();
        let text: Vec<String> = r.problems().iter().map(|p| p.to_string()).collect();
        assert!(text.contains(&"person p-adm: unknown superior p-nobody".to_string()), "{text:?}");
        assert!(text.contains(&"unit u-1: unknown regulatory responsible person p-ghost".to_string()), "{text:?}");
        assert!(text.contains(&"person p-leader: unknown area 500105009".to_string()), "{text:?}");
    }

    #[test]
    fn finds_superior_cycles_and_duplicates() {
        let mut r = demo();
        r.persons[0].superior = Some(PersonId::parse("p-adm").unwrap());
        r.persons.push(r.persons[1].clone());
        let text: Vec<String> = r.problems().iter().map(|p| p.to_string()).collect();
        assert!(text.contains(&"person p-leader: superior chain forms a cycle".to_string()), "{text:?}");
        assert!(text.contains(&"person p-adm: duplicate person id".to_string()), "{text:?}");
    }

    #[test]
    fn located_problems_point_at_the_entry_they_are_about() {
        let mut r = demo();
        r.persons[1].email = Some("not-an-address".into());
        r.units[0].name = " ".into();
        let located = r.problems_located();
        let find = |needle: &str| located.iter().find(|p| p.problem.to_string().contains(needle)).cloned();
        let email = find("bad e-mail").expect("bad e-mail found");
        assert_eq!((email.table, email.index), (Table::Persons, 1));
        let name = find("has no name").expect("empty name found");
        assert_eq!((name.table, name.index, name.problem.entry.as_str()), (Table::Units, 0, "unit u-1"));
        assert_eq!(r.problems().len(), located.len(), "problems() is the same list");
    }

    #[test]
    fn a_roster_entry_twice_is_a_problem() {
        let mut r = demo();
        let entry = crate::roster::RosterEntry {
            area: AreaCode::parse("500105002").unwrap(),
            person: PersonId::parse("p-leader").unwrap(),
            date: "2026-07-01".parse().unwrap(),
            shift: "08:00-20:00".parse().unwrap(),
        };
        r.rosters = vec![entry.clone(), entry];
        let located = r.problems_located();
        assert_eq!(located.len(), 1, "{located:?}");
        assert_eq!((located[0].table, located[0].index), (Table::Rosters, 1));
        assert!(located[0].problem.reason.contains("duplicate roster entry"));
    }

    #[test]
    fn e_mail_addresses_are_checked_loosely() {
        for good in ["a@example.org", "duty.officer+x@jb.cq.gov.cn"] {
            assert_eq!(email_problem(good), None, "{good}");
        }
        for bad in ["", "13800000001", "a@b", "@example.org", "a b@example.org", "a@example..org", "a@.org", "a@@b.org"]
        {
            assert!(email_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn tables_are_named_as_the_file_keys() {
        for t in Table::ALL {
            assert_eq!(Table::parse(t.as_str()), Some(t));
        }
        assert_eq!(Table::parse("people"), None);
    }

    #[test]
    fn unit_kind_names_match_serde() {
        assert_eq!(UnitKind::parse("elderly_care"), Some(UnitKind::ElderlyCare));
        assert_eq!(UnitKind::parse("spaceport"), None);
        assert_eq!(UnitKind::GeohazardSite.as_str(), "geohazard_site");
    }
}
