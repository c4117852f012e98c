//! What an import would do to the stored registry, checked as a whole before anything is written.
//!
//! Semantics (docs/adr/0013-registry-import.md): entries of the file are upserted by key (area
//! code, person id, unit id); a roster entry replaces the stored entries of its area and date;
//! stored entries the file does not have are kept, and only listed ("not in the file"), unless
//! the import replaces: then every table the file has is made exactly the file's. Tables the file
//! does not have are never touched. The result (stored entries with the file's over them) must
//! pass the domain's checks: a file of persons alone is checked against the stored areas.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Display;

use jiaoying_core::registry::Table;
use jiaoying_core::roster::RosterEntry;
use jiaoying_core::{AreaCode, PersonId, Registry, UnitId};

use crate::{Incoming, Location, RowProblem};

/// What an import does to one table; ids name the entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
    /// Stored entries the import removes: with `--replace`, those not in the file; for rosters,
    /// also the stored entries of a day the file gives anew.
    pub removed: Vec<String>,
    /// Stored entries not in the file that an import without `--replace` keeps.
    pub kept: Vec<String>,
}

impl TableDiff {
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Stored entries an import removes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Removal {
    pub areas: Vec<AreaCode>,
    pub persons: Vec<PersonId>,
    pub units: Vec<UnitId>,
    pub rosters: Vec<RosterEntry>,
}

/// An import worked out: what to write, what to remove, and what it changes per table.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    /// The file's entries, to upsert.
    pub upsert: Registry,
    pub remove: Removal,
    /// Per table the file has.
    pub diff: BTreeMap<Table, TableDiff>,
    /// The registry as it will be stored.
    pub merged: Registry,
    pub replace: bool,
}

impl ImportPlan {
    /// Nothing would be added, changed or removed.
    pub fn is_noop(&self) -> bool {
        self.diff.values().all(TableDiff::is_noop)
    }

    /// One line per table the file has, naming at most `max_ids` ids per list:
    /// `persons: 1 added (p-9), 2 changed (p-1, p-2), 27 unchanged, 1 not in the file (kept: p-old)`.
    pub fn describe(&self, max_ids: usize) -> Vec<String> {
        let list = |ids: &[String]| {
            let mut s = ids.iter().take(max_ids).cloned().collect::<Vec<_>>().join(", ");
            if ids.len() > max_ids {
                s.push_str(&format!(", … and {} more", ids.len() - max_ids));
            }
            s
        };
        self.diff
            .iter()
            .map(|(table, d)| {
                let mut parts = Vec::new();
                if !d.added.is_empty() {
                    parts.push(format!("{} added ({})", d.added.len(), list(&d.added)));
                }
                if !d.changed.is_empty() {
                    parts.push(format!("{} changed ({})", d.changed.len(), list(&d.changed)));
                }
                parts.push(format!("{} unchanged", d.unchanged));
                if !d.removed.is_empty() {
                    parts.push(format!("{} removed ({})", d.removed.len(), list(&d.removed)));
                }
                if !d.kept.is_empty() {
                    parts.push(format!(
                        "{} stored but not in the file, kept ({}; --replace would remove them)",
                        d.kept.len(),
                        list(&d.kept)
                    ));
                }
                format!("{table}: {}", parts.join(", "))
            })
            .collect()
    }
}

/// Where an entry of the merged registry comes from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    File(usize),
    Stored,
}

/// Works out the import of `incoming` over `current` and checks the result: every problem of
/// the files' rows and of the registry they would make, each located, or the plan.
pub fn plan(current: &Registry, incoming: &Incoming, replace: bool) -> Result<ImportPlan, Vec<RowProblem>> {
    let mut problems = incoming.read_problems.clone();
    problems.extend(duplicates(incoming));

    let file = &incoming.registry;
    let has = |t: Table| incoming.tables.contains(&t);
    let mut diff = BTreeMap::new();
    let mut remove = Removal::default();
    let mut merged = Registry::default();
    let mut origins: BTreeMap<Table, Vec<Origin>> = BTreeMap::new();

    let (areas, o, d, r) = merge_keyed(&current.areas, &file.areas, |a| a.code.clone(), has(Table::Areas), replace);
    (merged.areas, remove.areas) = (areas, r);
    record(Table::Areas, o, d, has(Table::Areas), &mut origins, &mut diff);
    let (persons, o, d, r) =
        merge_keyed(&current.persons, &file.persons, |p| p.id.clone(), has(Table::Persons), replace);
    (merged.persons, remove.persons) = (persons, r);
    record(Table::Persons, o, d, has(Table::Persons), &mut origins, &mut diff);
    let (units, o, d, r) = merge_keyed(&current.units, &file.units, |u| u.id.clone(), has(Table::Units), replace);
    (merged.units, remove.units) = (units, r);
    record(Table::Units, o, d, has(Table::Units), &mut origins, &mut diff);
    let (rosters, o, d, r) = merge_rosters(&current.rosters, &file.rosters, has(Table::Rosters), replace);
    (merged.rosters, remove.rosters) = (rosters, r);
    record(Table::Rosters, o, d, has(Table::Rosters), &mut origins, &mut diff);

    // Problems the stored registry already had are not this import's to answer for (a check
    // added in a later release must not block every import until someone fixes old data).
    let old: HashSet<String> = current.problems().iter().map(|p| p.to_string()).collect();
    for p in merged.problems_located() {
        if incoming.is_cascade(&p) {
            continue;
        }
        let origin = origins.get(&p.table).and_then(|o| o.get(p.index)).copied().unwrap_or(Origin::Stored);
        let location = match origin {
            Origin::File(i) => incoming.location(p.table, i).cloned().unwrap_or_else(|| Location::file("?")),
            Origin::Stored if old.contains(&p.problem.to_string()) => continue,
            Origin::Stored => Location::stored(),
        };
        let reason = match origin {
            Origin::Stored => format!("{} (after this import)", p.problem.reason),
            Origin::File(_) => p.problem.reason,
        };
        problems.push(RowProblem { location, entry: Some(p.problem.entry), reason });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ImportPlan { upsert: file.clone(), remove, diff, merged, replace })
}

fn record(
    table: Table,
    origins: Vec<Origin>,
    diff: TableDiff,
    present: bool,
    all: &mut BTreeMap<Table, Vec<Origin>>,
    diffs: &mut BTreeMap<Table, TableDiff>,
) {
    all.insert(table, origins);
    if present {
        diffs.insert(table, diff);
    }
}

/// Stored entries with the file's upserted over them (in stored order, new ones after, in file
/// order); with `replace` and the table in the file, exactly the file's entries.
fn merge_keyed<T: Clone + PartialEq, K: Ord + Clone + Display + std::hash::Hash>(
    current: &[T],
    file: &[T],
    key: impl Fn(&T) -> K,
    present: bool,
    replace: bool,
) -> (Vec<T>, Vec<Origin>, TableDiff, Vec<K>) {
    // The last of duplicate keys wins, as the database's upsert would have it (duplicates are
    // refused anyway).
    let in_file: HashMap<K, usize> = file.iter().enumerate().map(|(i, e)| (key(e), i)).collect();
    let stored: HashSet<K> = current.iter().map(&key).collect();
    let (mut out, mut origins, mut diff, mut removed) = (Vec::new(), Vec::new(), TableDiff::default(), Vec::new());
    for c in current {
        let k = key(c);
        match in_file.get(&k) {
            Some(&i) => {
                if &file[i] == c {
                    diff.unchanged += 1;
                } else {
                    diff.changed.push(k.to_string());
                }
                out.push(file[i].clone());
                origins.push(Origin::File(i));
            }
            None if present && replace => {
                diff.removed.push(k.to_string());
                removed.push(k);
            }
            None => {
                if present {
                    diff.kept.push(k.to_string());
                }
                out.push(c.clone());
                origins.push(Origin::Stored);
            }
        }
    }
    let mut added = HashSet::new();
    for (i, e) in file.iter().enumerate() {
        let k = key(e);
        if !stored.contains(&k) && in_file[&k] == i && added.insert(k.clone()) {
            diff.added.push(k.to_string());
            out.push(e.clone());
            origins.push(Origin::File(i));
        }
    }
    (out, origins, diff, removed)
}

fn roster_key(r: &RosterEntry) -> String {
    format!("{} {} {} {}", r.area, r.date, r.shift, r.person)
}

/// Rosters: an entry of the file replaces the stored entries of its area and date (a swap is an
/// edit of the file); with `replace`, the stored roster becomes the file's.
fn merge_rosters(
    current: &[RosterEntry],
    file: &[RosterEntry],
    present: bool,
    replace: bool,
) -> (Vec<RosterEntry>, Vec<Origin>, TableDiff, Vec<RosterEntry>) {
    let in_file: HashMap<&RosterEntry, usize> = file.iter().enumerate().map(|(i, e)| (e, i)).collect();
    let days: HashSet<(&AreaCode, chrono::NaiveDate)> = file.iter().map(|r| (&r.area, r.date)).collect();
    let (mut out, mut origins, mut diff, mut removed) = (Vec::new(), Vec::new(), TableDiff::default(), Vec::new());
    let mut seen = HashSet::new();
    for c in current {
        if let Some(&i) = in_file.get(c) {
            diff.unchanged += 1;
            out.push(c.clone());
            origins.push(Origin::File(i));
            seen.insert(c);
        } else if (present && replace) || days.contains(&(&c.area, c.date)) {
            diff.removed.push(roster_key(c));
            removed.push(c.clone());
        } else {
            if present {
                diff.kept.push(roster_key(c));
            }
            out.push(c.clone());
            origins.push(Origin::Stored);
        }
    }
    for (i, e) in file.iter().enumerate() {
        if seen.insert(e) {
            diff.added.push(roster_key(e));
            out.push(e.clone());
            origins.push(Origin::File(i));
        }
    }
    (out, origins, diff, removed)
}

/// An id given twice in the files: named at its second row, pointing at the first.
fn duplicates(incoming: &Incoming) -> Vec<RowProblem> {
    let r = &incoming.registry;
    let mut out = Vec::new();
    let mut check = |table: Table, keys: Vec<String>, what: &str| {
        let mut first: HashMap<&String, usize> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(&j) = first.get(k) {
                let at = incoming.location(table, j).map(|l| l.to_string()).unwrap_or_default();
                out.push(RowProblem {
                    location: incoming.location(table, i).cloned().unwrap_or_else(|| Location::file("?")),
                    entry: Some(format!("{} {k}", table.entry_word())),
                    reason: format!("duplicate {what} (first at {at})"),
                });
            } else {
                first.insert(k, i);
            }
        }
    };
    check(Table::Areas, r.areas.iter().map(|a| a.code.to_string()).collect(), "area code");
    check(Table::Persons, r.persons.iter().map(|p| p.id.to_string()).collect(), "person id");
    check(Table::Units, r.units.iter().map(|u| u.id.to_string()).collect(), "unit id");
    check(Table::Rosters, r.rosters.iter().map(roster_key).collect(), "roster entry");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read, Source};

    const STORED: &str = r#"
[[areas]]
code = "500105002"
name = "街道"
[[areas]]
code = "500105002001"
name = "社区"
parent = "500105002"
[[persons]]
id = "p-leader"
name = "主任"
mobile = "13800000001"
roles = ["leader"]
area = "500105002"
[[persons]]
id = "p-grid"
name = "网格员"
mobile = "13800000002"
roles = ["grid"]
area = "500105002001"
superior = "p-leader"
[[persons]]
id = "p-old"
name = "退休"
mobile = "13800000009"
roles = ["grid"]
area = "500105002001"
[[units]]
id = "u-1"
name = "学校"
kind = "school"
area = "500105002001"
administrative = "p-leader"
regulatory = "p-leader"
unit = "p-grid"
"#;

    fn stored() -> Registry {
        crate::read_checked(&[Source { name: "s.toml".into(), bytes: STORED.as_bytes().to_vec() }]).unwrap().registry
    }

    fn csv(name: &str, text: &str) -> Incoming {
        read(&[Source { name: name.into(), bytes: text.as_bytes().to_vec() }])
    }

    #[test]
    fn a_table_alone_is_checked_against_the_stored_registry() {
        let file = csv(
            "persons.csv",
            "id,name,mobile,roles,area,superior\n\
             p-grid,网格员,13800000022,grid,500105002001,p-leader\n\
             p-new,新人,13800000003,grid,500105002001,p-grid\n",
        );
        let plan = plan(&stored(), &file, false).unwrap();
        let d = &plan.diff[&Table::Persons];
        assert_eq!((d.added.clone(), d.changed.clone(), d.unchanged), (vec!["p-new".into()], vec!["p-grid".into()], 0));
        assert_eq!(d.kept, vec!["p-leader".to_string(), "p-old".into()]);
        assert!(d.removed.is_empty() && plan.remove.persons.is_empty(), "upsert keeps what the file lacks");
        assert_eq!(plan.diff.len(), 1, "only the file's tables are compared");
        assert_eq!(plan.merged.persons.len(), 4);
        let lines = plan.describe(10);
        assert!(
            lines[0].starts_with("persons: 1 added (p-new), 1 changed (p-grid), 0 unchanged, 2 stored"),
            "{lines:?}"
        );
    }

    #[test]
    fn replace_removes_what_the_file_lacks_and_refuses_dangling_references() {
        let file = csv("persons.csv", "id,name,mobile,roles,area\np-leader,主任,13800000001,leader,500105002\n");
        let problems = plan(&stored(), &file, true).unwrap_err();
        let m: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            m.contains(
                &"stored registry: unit u-1: unknown unit responsible person p-grid (after this import)".to_string()
            ),
            "{m:?}"
        );
        let file = csv(
            "persons.csv",
            "id,name,mobile,roles,area\np-leader,主任,13800000001,leader,500105002\np-grid,网格员,13800000002,grid,500105002001\n",
        );
        let plan = plan(&stored(), &file, true).unwrap();
        assert_eq!(plan.remove.persons, vec![PersonId::parse("p-old").unwrap()]);
        assert_eq!(plan.diff[&Table::Persons].changed, vec!["p-grid".to_string()], "its superior is gone");
    }

    #[test]
    fn problems_name_the_file_row_and_do_not_cascade() {
        let file = csv(
            "persons.csv",
            "id,name,mobile,roles,area,superior\n\
             p-a,甲,123,grid,500105002001,\n\
             p-b,乙,13800000004,grid,500105009,p-a\n\
             p-c,丙,13800000005,grid,500105002,p-b\n\
             p-c,丙,13800000005,grid,500105002,p-c\n",
        );
        let m: Vec<String> = plan(&stored(), &file, false).unwrap_err().iter().map(|p| p.to_string()).collect();
        assert!(m.iter().any(|s| s.starts_with("persons.csv, row 2: person p-a: bad mobile")), "{m:?}");
        assert!(m.contains(&"persons.csv, row 3: person p-b: unknown area 500105009".to_string()), "{m:?}");
        assert!(!m.iter().any(|s| s.contains("unknown superior p-a")), "p-a's bad row is reported once: {m:?}");
        assert!(
            m.contains(
                &"persons.csv, row 5: person p-c: duplicate person id (first at persons.csv, row 4)".to_string()
            ),
            "{m:?}"
        );
    }

    #[test]
    fn a_roster_day_in_the_file_replaces_the_stored_one() {
        let mut current = stored();
        let entry = |person: &str, date: &str| RosterEntry {
            area: AreaCode::parse("500105002").unwrap(),
            person: PersonId::parse(person).unwrap(),
            date: date.parse().unwrap(),
            shift: "08:00-20:00".parse().unwrap(),
        };
        current.rosters = vec![entry("p-leader", "2026-07-01"), entry("p-leader", "2026-07-02")];
        let file = csv("rosters.csv", "area,person,date,shift\n500105002,p-grid,2026-07-01,08:00-20:00\n");
        let plan = plan(&current, &file, false).unwrap();
        let d = &plan.diff[&Table::Rosters];
        assert_eq!(d.added, vec!["500105002 2026-07-01 08:00-20:00 p-grid".to_string()]);
        assert_eq!(d.removed, vec!["500105002 2026-07-01 08:00-20:00 p-leader".to_string()]);
        assert_eq!(d.kept, vec!["500105002 2026-07-02 08:00-20:00 p-leader".to_string()]);
        assert_eq!(plan.remove.rosters.len(), 1);
    }

    #[test]
    fn the_same_file_again_changes_nothing() {
        let file = read(&[Source { name: "s.toml".into(), bytes: STORED.as_bytes().to_vec() }]);
        let plan = plan(&stored(), &file, true).unwrap();
        assert!(plan.is_noop(), "{:?}", plan.diff);
        assert_eq!(plan.merged, stored());
    }
}
