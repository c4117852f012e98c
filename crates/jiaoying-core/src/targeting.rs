//! Who is called for an alert: the persons of the reached areas and the three responsible persons
//! of the reached units, filtered by the tier's roles, one call per person.
//!
//! Which areas an alert reaches (SPEC, "Which alerts call whom"):
//!
//! - By code, the area it names and every area below it (every code that extends it).
//! - By geometry (polygon or circle), starting from the root areas (no parent, or a parent not in
//!   the registry): an area whose polygon lies wholly inside the geometry is reached with everything
//!   below it; where the geometry only overlaps an area's polygon, the same rule is applied to that
//!   area's children that have polygons, and the area itself is reached (with everything below it)
//!   when none of them has one. An area without a polygon is reached only through an ancestor (or a
//!   code); on the way down it is looked through, so that a polygon-less district or community does
//!   not hide the polygons of the areas below it. How geometry is compared, boundaries included, is
//!   in [`crate::geo_area`].
//! - An alert with several areas reaches the union.
//!
//! Units are reached by their area being reached or by their location lying in one of the alert's
//! polygons or circles.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::alert::AlertArea;
use crate::area::AreaCode;
use crate::geo_area::{AlertShape, AreaPolygon, Coverage};
use crate::ids::{PersonId, UnitId};
use crate::registry::{Registry, Role, Unit};

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
    let areas: Vec<AlertArea> = codes.iter().cloned().map(AlertArea::Code).collect();
    target(registry, &areas, roles)
}

/// Targets for an alert's areas: codes, polygons and circles (see the module doc for the rules).
/// Output is ordered by person id so the same input calls in the same order. Geometry that cannot
/// be used (see [`crate::geo_area`]) reaches nothing.
pub fn target(registry: &Registry, areas: &[AlertArea], roles: &[Role]) -> Vec<Target> {
    let shapes: Vec<AlertShape> = areas.iter().filter_map(AlertShape::from_alert_area).collect();
    // Codes that head a reached subtree: the alert's own codes and the areas its geometry reaches.
    let mut heads: HashSet<&str> = areas
        .iter()
        .filter_map(|a| match a {
            AlertArea::Code(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    if !shapes.is_empty() {
        heads.extend(reached_by_geometry(registry, &shapes).into_iter().map(AreaCode::as_str));
    }
    // `AreaCode::covers` by lookup: an area is reached when its code extends a head's code, so
    // when its prefix of a head's length is a head.
    let mut lengths: Vec<usize> = heads.iter().map(|h| h.len()).collect();
    lengths.sort_unstable();
    lengths.dedup();
    let area_reached = |area: &AreaCode| {
        let s = area.as_str();
        lengths.iter().take_while(|&&n| n <= s.len()).any(|&n| s.is_char_boundary(n) && heads.contains(&s[..n]))
    };
    let unit_reached = |unit: &Unit| {
        area_reached(&unit.area) || unit.location.is_some_and(|p| shapes.iter().any(|s| s.contains_point(p)))
    };
    collect(registry, &area_reached, &unit_reached, roles)
}

/// The areas an alert's geometry reaches with everything below them (the heads of reached
/// subtrees), each shape walked down from the roots. Area polygons are built once.
fn reached_by_geometry<'r>(registry: &'r Registry, shapes: &[AlertShape]) -> Vec<&'r AreaCode> {
    let areas = &registry.areas;
    let n = areas.len();
    let mut index: HashMap<&AreaCode, usize> = HashMap::with_capacity(n);
    for (i, a) in areas.iter().enumerate() {
        index.entry(&a.code).or_insert(i);
    }
    let polygons: Vec<Option<AreaPolygon>> =
        areas.iter().map(|a| a.polygon.as_deref().and_then(AreaPolygon::new)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for (i, a) in areas.iter().enumerate() {
        match a.parent.as_ref().and_then(|p| index.get(p)) {
            Some(&p) if p != i => children[p].push(i),
            Some(_) => {}
            None => roots.push(i),
        }
    }
    // Whether an area has polygons below it, looking through polygon-less children. Children have
    // longer codes than their parent in a valid registry, so longest codes first sees every child
    // before its parent; an invalid registry gets an answer, never a loop.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(areas[i].code.as_str().len()));
    let mut polygons_below = vec![false; n];
    for &i in &order {
        polygons_below[i] = children[i].iter().any(|&c| polygons[c].is_some() || polygons_below[c]);
    }

    let mut reached = vec![false; n];
    let mut seen = vec![false; n];
    let mut stack = Vec::new();
    for shape in shapes {
        seen.iter_mut().for_each(|s| *s = false);
        stack.clear();
        stack.extend(roots.iter().copied());
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) || reached[i] {
                continue;
            }
            let Some(polygon) = &polygons[i] else {
                // No polygon: look through it to the areas below.
                stack.extend(children[i].iter().copied());
                continue;
            };
            match shape.coverage(polygon) {
                Coverage::Disjoint => {}
                Coverage::Whole => reached[i] = true,
                Coverage::Partial if polygons_below[i] => {
                    // Children without a polygon (and nothing with one below them) stay unreached.
                    stack.extend(children[i].iter().copied().filter(|&c| polygons[c].is_some() || polygons_below[c]));
                }
                Coverage::Partial => reached[i] = true,
            }
        }
    }
    areas.iter().zip(reached).filter(|(_, r)| *r).map(|(a, _)| &a.code).collect()
}

/// One target per person: the responsible persons of reached units, then the persons of reached
/// areas, each filtered by the tier's roles.
fn collect(
    registry: &Registry,
    area_reached: &dyn Fn(&AreaCode) -> bool,
    unit_reached: &dyn Fn(&Unit) -> bool,
    roles: &[Role],
) -> Vec<Target> {
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
    let known: HashSet<&PersonId> = registry.persons.iter().map(|p| &p.id).collect();
    for unit in registry.units.iter().filter(|u| unit_reached(u)) {
        for (role, pid) in unit.responsible() {
            if wanted(role) && known.contains(pid) {
                add(pid, Role::named(role), Some(&unit.id), &unit.area);
            }
        }
    }
    for person in registry.persons.iter().filter(|p| area_reached(&p.area)) {
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
            rosters: vec![],
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

    /// Geographic targeting. Coordinates near 106.5°E 29.5°N: 0.01° is about 1.1 km of latitude
    /// and 0.97 km of longitude.
    mod geometry {
        use super::*;
        use proptest::prelude::*;

        const ALL: &[&str] = &["leader", "community", "grid", "administrative", "regulatory", "unit"];
        const DISTRICT: &str = "500105";
        const STREET: &str = "500105002";

        fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
            vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        }
        fn area(c: &str, parent: Option<&str>, polygon: Option<Vec<[f64; 2]>>) -> Area {
            Area { code: code(c), name: c.into(), parent: parent.map(code), polygon }
        }
        fn located(id: &str, area: &str, at: [f64; 2]) -> (Unit, Vec<Person>) {
            let (adm, reg, own) = (format!("{id}-adm"), format!("{id}-reg"), format!("{id}-own"));
            let mut u = unit(id, area, &adm, &reg, &own);
            u.location = Some(at);
            let persons = vec![
                person(&adm, &["administrative"], DISTRICT),
                person(&reg, &["regulatory"], DISTRICT),
                person(&own, &["unit"], DISTRICT),
            ];
            (u, persons)
        }

        /// District 500105 (no polygon) > street 500105002 over x 106.50..106.58, y 29.50..29.52 >
        /// communities 001, 002, 003 side by side (0.02° wide), each with a south and a north grid
        /// polygon, and community 004 (x 106.56..106.58) whose one grid has no polygon. One person
        /// per area (`d-leader`, `s-leader`, `c1`.., `g11`..); units with their own three persons:
        /// `u1` in grid 11, `u2` in grid 21, `uout` registered in grid 11 but located outside the
        /// street, and `ustray`, `unear` (2 km east of it) and `uedge` registered at the district
        /// and located east of the street.
        fn registry() -> Registry {
            let mut areas = vec![
                area(DISTRICT, None, None),
                area(STREET, Some(DISTRICT), Some(rect(106.50, 29.50, 106.58, 29.52))),
            ];
            let mut persons = vec![person("d-leader", &["leader"], DISTRICT), person("s-leader", &["leader"], STREET)];
            for c in 1..=4 {
                let cc = format!("{STREET}00{c}");
                let x0 = 106.50 + 0.02 * (c - 1) as f64;
                areas.push(area(&cc, Some(STREET), Some(rect(x0, 29.50, x0 + 0.02, 29.52))));
                persons.push(person(&format!("c{c}"), &["community"], &cc));
                for g in 1..=(if c == 4 { 1 } else { 2 }) {
                    let gc = format!("{cc}00{g}");
                    let y0 = 29.50 + 0.01 * (g - 1) as f64;
                    let polygon = (c != 4).then(|| rect(x0, y0, x0 + 0.02, y0 + 0.01));
                    areas.push(area(&gc, Some(&cc), polygon));
                    persons.push(person(&format!("g{c}{g}"), &["grid"], &gc));
                }
            }
            let mut units = Vec::new();
            for (id, area, at) in [
                ("u1", "500105002001001", [106.505, 29.505]),
                ("u2", "500105002002001", [106.525, 29.505]),
                ("uout", "500105002001001", [106.45, 29.45]),
                ("ustray", DISTRICT, [106.62, 29.51]),
                ("unear", DISTRICT, [106.6407, 29.51]),
                ("uedge", DISTRICT, [106.60, 29.51]),
            ] {
                let (u, ps) = located(id, area, at);
                units.push(u);
                persons.extend(ps);
            }
            assert_eq!(
                Registry { areas: areas.clone(), persons: persons.clone(), units: units.clone(), rosters: vec![] }
                    .problems(),
                vec![]
            );
            Registry { areas, persons, units, rosters: vec![] }
        }

        fn poly(x0: f64, y0: f64, x1: f64, y1: f64) -> AlertArea {
            AlertArea::Polygon(rect(x0, y0, x1, y1))
        }
        fn of_unit(id: &str) -> [String; 3] {
            [format!("{id}-adm"), format!("{id}-own"), format!("{id}-reg")]
        }
        fn names(ts: &[Target]) -> Vec<String> {
            ts.iter().map(|t| t.person.as_str().to_string()).collect()
        }

        #[test]
        fn geometry_reaches_areas_and_units_by_the_rules() {
            let u = |id: &str| of_unit(id).to_vec();
            let p = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
            // (what, alert areas, tier roles, persons called)
            type Case = (&'static str, Vec<AlertArea>, &'static [&'static str], Vec<String>);
            let cases: Vec<Case> = vec![
                (
                    "a polygon holding community 1 wholly reaches it and its grids, not its neighbours",
                    vec![poly(106.49, 29.49, 106.52, 29.53)],
                    ALL,
                    [p(&["c1", "g11", "g12"]), u("u1"), u("uout")].concat(),
                ),
                (
                    "a unit outside the polygon is still reached through its reached area",
                    vec![poly(106.49, 29.49, 106.52, 29.53)],
                    &["unit"],
                    p(&["u1-own", "uout-own"]),
                ),
                (
                    "a polygon across communities 1 and 2 reaches grid 11 (partly covered leaf) and grid 21 \
                     (wholly inside), not the grids it only touches nor the communities",
                    vec![poly(106.515, 29.50, 106.54, 29.51)],
                    ALL,
                    [p(&["g11", "g21"]), u("u1"), u("u2"), u("uout")].concat(),
                ),
                (
                    "a polygon overlapping community 4, whose grid has no polygon, reaches community 4",
                    vec![poly(106.57, 29.505, 106.59, 29.515)],
                    ALL,
                    p(&["c4", "g41"]),
                ),
                (
                    "a polygon holding the whole street calls the street's persons, never the district's",
                    vec![poly(106.49, 29.49, 106.59, 29.53)],
                    ALL,
                    [
                        p(&["c1", "c2", "c3", "c4", "g11", "g12", "g21", "g22", "g31", "g32", "g41", "s-leader"]),
                        u("u1"),
                        u("u2"),
                        u("uout"),
                    ]
                    .concat(),
                ),
                (
                    "a circle around a unit reaches its three persons, not the unit 2 km away",
                    vec![AlertArea::Circle([106.62, 29.51, 0.5])],
                    ALL,
                    u("ustray"),
                ),
                (
                    "a circle inside grid 11 reaches that grid (a partly covered leaf) and its units",
                    vec![AlertArea::Circle([106.505, 29.505, 0.3])],
                    ALL,
                    [p(&["g11"]), u("u1"), u("uout")].concat(),
                ),
                (
                    "a code and a polygon reach the union",
                    vec![AlertArea::Code(code("500105002003")), poly(106.57, 29.505, 106.59, 29.515)],
                    ALL,
                    p(&["c3", "c4", "g31", "g32", "g41"]),
                ),
                ("a polygon far away reaches nobody", vec![poly(110.0, 30.0, 110.1, 30.1)], ALL, vec![]),
                (
                    "a unit exactly on the polygon's edge is inside",
                    vec![poly(106.60, 29.50, 106.61, 29.52)],
                    ALL,
                    u("uedge"),
                ),
                (
                    "a unit exactly on the polygon's corner is inside",
                    vec![poly(106.59, 29.50, 106.60, 29.51)],
                    ALL,
                    u("uedge"),
                ),
                (
                    "unusable geometry reaches nothing, and the alert's codes still do",
                    vec![
                        AlertArea::Code(code("500105002001")),
                        AlertArea::Polygon(vec![[106.5, 29.5], [f64::NAN, 29.51], [106.52, 29.5]]),
                        AlertArea::Circle([106.62, 29.51, -1.0]),
                    ],
                    ALL,
                    [p(&["c1", "g11", "g12"]), u("u1"), u("uout")].concat(),
                ),
            ];
            let registry = registry();
            for (name, areas, rs, mut want) in cases {
                want.sort();
                assert_eq!(names(&target(&registry, &areas, &roles(rs))), want, "{name}");
            }
        }

        #[test]
        fn a_person_reached_through_a_located_unit_and_an_area_gets_one_target() {
            let mut registry = registry();
            // g11 is also the unit person of u1.
            registry.units[0].unit = PersonId::parse("g11").unwrap();
            let t = target(&registry, &[AlertArea::Circle([106.505, 29.505, 0.3])], &roles(&["grid", "unit"]));
            let g11: Vec<&Target> = t.iter().filter(|t| t.person.as_str() == "g11").collect();
            assert_eq!(g11.len(), 1);
            assert_eq!(g11[0].roles, roles(&["unit", "grid"]));
            assert_eq!(g11[0].unit.as_ref().map(|u| u.as_str()), Some("u1"));
        }

        #[test]
        fn polygon_less_roots_and_areas_are_looked_through_on_the_way_down() {
            // Street without a polygon: its communities' polygons still decide.
            let mut registry = registry();
            registry.areas[1].polygon = None;
            let t = target(&registry, &[poly(106.49, 29.49, 106.52, 29.53)], &roles(&["community", "grid"]));
            assert_eq!(names(&t), vec!["c1", "g11", "g12"]);
        }

        #[test]
        fn target_by_codes_is_target_with_codes() {
            let registry = registry();
            for c in [DISTRICT, STREET, "500105002001", "500105002004001", "11"] {
                assert_eq!(
                    target_by_codes(&registry, &[code(c)], &roles(ALL)),
                    target(&registry, &[AlertArea::Code(code(c))], &roles(ALL)),
                    "{c}"
                );
            }
        }

        /// 1011 areas (a city, 10 districts, 100 streets, 900 communities, all with polygons) and
        /// 5000 located units with three persons each, targeted by a 20 km circle and a 64-point
        /// star polygon, both crossing hundreds of area edges.
        fn big_registry() -> Registry {
            let mut areas = vec![area("5001", None, Some(rect(106.0, 29.0, 107.0, 30.0)))];
            let mut persons = Vec::new();
            let mut community_cells = Vec::new();
            for d in 1..=10 {
                let dc = format!("5001{d:02}");
                let x0 = 106.0 + 0.1 * (d - 1) as f64;
                areas.push(area(&dc, Some("5001"), Some(rect(x0, 29.0, x0 + 0.1, 30.0))));
                persons.push(person(&format!("p{dc}"), &["leader"], &dc));
                for s in 1..=10 {
                    let sc = format!("{dc}{s:03}");
                    let y0 = 29.0 + 0.1 * (s - 1) as f64;
                    areas.push(area(&sc, Some(&dc), Some(rect(x0, y0, x0 + 0.1, y0 + 0.1))));
                    persons.push(person(&format!("p{sc}"), &["leader"], &sc));
                    for c in 0..9 {
                        let cc = format!("{sc}{:03}", c + 1);
                        let (cx, cy) = (x0 + 0.1 / 3.0 * (c % 3) as f64, y0 + 0.1 / 3.0 * (c / 3) as f64);
                        areas.push(area(&cc, Some(&sc), Some(rect(cx, cy, cx + 0.1 / 3.0, cy + 0.1 / 3.0))));
                        persons.push(person(&format!("p{cc}"), &["grid"], &cc));
                        community_cells.push((cc, cx, cy));
                    }
                }
            }
            let mut units = Vec::new();
            let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 11) as f64 / (1u64 << 53) as f64
            };
            for i in 0..5000 {
                let at = [106.0 + next(), 29.0 + next()];
                let (cc, _, _) = community_cells
                    .iter()
                    .find(|(_, cx, cy)| {
                        (*cx..cx + 0.1 / 3.0).contains(&at[0]) && (*cy..cy + 0.1 / 3.0).contains(&at[1])
                    })
                    .unwrap_or(&community_cells[0]);
                let (u, ps) = located(&format!("u{i}"), cc, at);
                units.push(u);
                persons.extend(ps);
            }
            Registry { areas, persons, units, rosters: vec![] }
        }

        #[test]
        fn a_large_registry_targets_quickly() {
            let registry = big_registry();
            assert_eq!(registry.areas.len(), 1011);
            let star: Vec<[f64; 2]> = (0..64)
                .map(|i| {
                    let a = std::f64::consts::TAU * i as f64 / 64.0;
                    let r = if i % 2 == 0 { 0.3 } else { 0.15 };
                    [106.45 + r * a.cos(), 29.55 + r * a.sin()]
                })
                .collect();
            let alerts = [vec![AlertArea::Circle([106.5, 29.5, 20.0])], vec![AlertArea::Polygon(star.clone())]];
            for areas in &alerts {
                let mut best = std::time::Duration::MAX;
                let mut t = Vec::new();
                for _ in 0..3 {
                    let start = std::time::Instant::now();
                    t = target(&registry, areas, &roles(ALL));
                    best = best.min(start.elapsed());
                }
                eprintln!("target over 1011 areas and 5000 units: {best:?}, {} targets", t.len());
                let limit = if cfg!(debug_assertions) { 5_000 } else { 50 };
                assert!(best.as_millis() < limit, "took {best:?}");
                // Every unit located inside the geometry is called.
                let called: HashSet<&str> = t.iter().map(|t| t.person.as_str()).collect();
                let shape = crate::geo_area::AlertShape::from_alert_area(&areas[0]).unwrap();
                let inside = registry.units.iter().filter(|u| shape.contains_point(u.location.unwrap()));
                let mut n = 0;
                for unit in inside {
                    assert!(called.contains(unit.unit.as_str()), "{}", unit.id);
                    n += 1;
                }
                assert!(n > 100, "only {n} units inside");
            }
        }

        fn units_strategy() -> impl Strategy<Value = Vec<(f64, f64, usize)>> {
            prop::collection::vec((106.44..106.66f64, 29.48..29.54f64, 0usize..14), 1..40)
        }

        fn with_units(units: &[(f64, f64, usize)]) -> Registry {
            let mut registry = registry();
            registry.units.clear();
            registry.persons.retain(|p| !p.id.as_str().starts_with('u'));
            let codes: Vec<String> = registry.areas.iter().map(|a| a.code.to_string()).collect();
            for (i, &(x, y, a)) in units.iter().enumerate() {
                let (u, ps) = located(&format!("u{i}"), &codes[a % codes.len()], [x, y]);
                registry.units.push(u);
                registry.persons.extend(ps);
            }
            registry
        }

        proptest! {
            #[test]
            fn every_unit_strictly_inside_a_rectangle_is_targeted(
                x0 in 106.44..106.66f64, y0 in 29.48..29.54f64,
                w in 0.0005..0.12f64, h in 0.0005..0.05f64,
                units in units_strategy(),
            ) {
                let registry = with_units(&units);
                let (x1, y1) = (x0 + w, y0 + h);
                let t = target(&registry, &[poly(x0, y0, x1, y1)], &roles(&["unit"]));
                let called: HashSet<String> = names(&t).into_iter().collect();
                for (i, &(x, y, _)) in units.iter().enumerate() {
                    if x0 < x && x < x1 && y0 < y && y < y1 {
                        prop_assert!(called.contains(&format!("u{i}-own")), "unit u{i} at {x},{y}");
                    }
                }
            }

            #[test]
            fn a_larger_rectangle_never_calls_fewer_persons(
                x0 in 106.44..106.66f64, y0 in 29.48..29.54f64,
                w in 0.0005..0.12f64, h in 0.0005..0.05f64,
                grow in (0.0..0.05f64, 0.0..0.05f64, 0.0..0.05f64, 0.0..0.05f64),
            ) {
                let registry = registry();
                let small = names(&target(&registry, &[poly(x0, y0, x0 + w, y0 + h)], &roles(ALL)));
                let large = poly(x0 - grow.0, y0 - grow.1, x0 + w + grow.2, y0 + h + grow.3);
                let large: HashSet<String> = names(&target(&registry, &[large], &roles(ALL))).into_iter().collect();
                for p in small {
                    prop_assert!(large.contains(&p), "{p}");
                }
            }

            #[test]
            fn any_polygon_targets_without_panicking(
                points in prop::collection::vec((106.44..106.66f64, 29.48..29.54f64), 0..12),
                snap in any::<bool>(),
            ) {
                // Snapping to the registry's 0.01° grid makes shared edges and vertices likely.
                let points: Vec<[f64; 2]> = points
                    .into_iter()
                    .map(|(x, y)| if snap { [(x * 100.0).round() / 100.0, (y * 100.0).round() / 100.0] } else { [x, y] })
                    .collect();
                let registry = registry();
                let t = target(&registry, &[AlertArea::Polygon(points)], &roles(ALL));
                prop_assert!(t.iter().all(|t| t.person.as_str() != "d-leader"));
            }
        }
    }
}
