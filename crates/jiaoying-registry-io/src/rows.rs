//! Spreadsheet rows (CSV or XLSX, already text) into registry entries. Every problem of a row is
//! reported, not only its first; a row with any problem adds no entry.

use chrono::NaiveDate;
use jiaoying_core::registry::{Area, Person, Role, Table, Unit, UnitKind};
use jiaoying_core::roster::{RosterEntry, Shift};
use jiaoying_core::{AreaCode, MobileNumber, PersonId, UnitId};

use crate::cells;
use crate::columns::{columns, names};
use crate::{Incoming, Location, RowProblem};

/// One table as read from a CSV file or an XLSX sheet: a header and rows of text cells.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    pub file: String,
    /// The sheet's name in a workbook; `None` for CSV.
    pub sheet: Option<String>,
    pub table: Table,
    /// The header's spreadsheet row number (1-based).
    pub header_row: usize,
    pub header: Vec<String>,
    /// `(spreadsheet row number, cells)`; blank rows are left out.
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Grid {
    fn at(&self, row: usize) -> Location {
        Location::row(&self.file, self.sheet.as_deref(), row)
    }
}

enum Entry {
    Area(Area),
    Person(Person),
    Unit(Unit),
    Roster(RosterEntry),
}

/// Reads the grid's rows into `incoming`: entries with their locations, and the problems.
pub(crate) fn read_grid(grid: &Grid, incoming: &mut Incoming) {
    let Some(index) = header_index(grid, incoming) else { return };
    for (row, cells) in &grid.rows {
        let mut reader = RowReader { grid, index: &index, cells, row: *row, problems: Vec::new(), entry: None };
        let key = reader.key();
        let entry = match grid.table {
            Table::Areas => reader.area().map(Entry::Area),
            Table::Persons => reader.person().map(Entry::Person),
            Table::Units => reader.unit().map(Entry::Unit),
            Table::Rosters => reader.roster().map(Entry::Roster),
        };
        match entry {
            Some(entry) if reader.problems.is_empty() => {
                let r = &mut incoming.registry;
                match entry {
                    Entry::Area(a) => r.areas.push(a),
                    Entry::Person(p) => r.persons.push(p),
                    Entry::Unit(u) => r.units.push(u),
                    Entry::Roster(e) => r.rosters.push(e),
                }
                incoming.push(grid.table, grid.at(*row));
            }
            _ => {
                if let Some(key) = key {
                    incoming.broken.insert((grid.table, key));
                }
                incoming.read_problems.append(&mut reader.problems);
            }
        }
    }
}

/// The position of each known column in the header; `None` (and a problem) when a required
/// column is missing or a column is unknown or given twice.
fn header_index(grid: &Grid, incoming: &mut Incoming) -> Option<Vec<Option<usize>>> {
    let cols = columns(grid.table);
    let mut index = vec![None; cols.len()];
    let mut ok = true;
    let mut problem = |reason: String| {
        incoming.read_problems.push(RowProblem { location: grid.at(grid.header_row), entry: None, reason });
    };
    for (pos, name) in grid.header.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        match cols.iter().position(|(c, _)| *c == name) {
            Some(i) if index[i].is_some() => {
                problem(format!("column {name:?} is given twice"));
                ok = false;
            }
            Some(i) => index[i] = Some(pos),
            None => {
                problem(format!("unknown column {name:?}: the {} columns are {}", grid.table, names(grid.table)));
                ok = false;
            }
        }
    }
    for (i, (name, required)) in cols.iter().enumerate() {
        if *required && index[i].is_none() {
            problem(format!(
                "the {} table needs a column {name:?} (its columns are {})",
                grid.table,
                names(grid.table)
            ));
            ok = false;
        }
    }
    ok.then_some(index)
}

struct RowReader<'a> {
    grid: &'a Grid,
    index: &'a [Option<usize>],
    cells: &'a [String],
    row: usize,
    problems: Vec<RowProblem>,
    /// `person p-1`, once the id is known.
    entry: Option<String>,
}

impl RowReader<'_> {
    /// The cell of `column`, trimmed; `None` when empty or absent.
    fn cell(&self, column: &str) -> Option<&str> {
        let i = columns(self.grid.table).iter().position(|(c, _)| *c == column)?;
        let pos = self.index[i]?;
        self.cells.get(pos).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    fn problem(&mut self, reason: String) {
        self.problems.push(RowProblem { location: self.grid.at(self.row), entry: self.entry.clone(), reason });
    }

    /// The row's id (area code, person or unit id) as written, to recognise references to it.
    fn key(&self) -> Option<String> {
        let column = match self.grid.table {
            Table::Areas => "code",
            Table::Persons | Table::Units => "id",
            Table::Rosters => return None,
        };
        self.cell(column).map(str::to_string)
    }

    fn required(&mut self, column: &str) -> Option<String> {
        match self.cell(column) {
            Some(v) => Some(v.to_string()),
            None => {
                self.problem(format!("the {column} cell is empty"));
                None
            }
        }
    }

    fn parsed<T, E: std::fmt::Display>(
        &mut self,
        column: &str,
        parse: impl Fn(&str) -> Result<T, E>,
        value: Option<String>,
    ) -> Option<T> {
        let v = value?;
        match parse(&v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(format!("bad {column}: {e}"));
                None
            }
        }
    }

    fn required_parsed<T, E: std::fmt::Display>(
        &mut self,
        column: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        let v = self.required(column);
        self.parsed(column, parse, v)
    }

    /// An optional cell: `Ok(None)` when empty, `Err(())` (reported) when bad.
    fn optional<T, E: std::fmt::Display>(
        &mut self,
        column: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ()> {
        let v = self.cell(column).map(str::to_string);
        match v {
            None => Ok(None),
            Some(v) => self.parsed(column, parse, Some(v)).map(Some).ok_or(()),
        }
    }

    fn name_entry(&mut self, id_column: &str) {
        if let Some(id) = self.cell(id_column) {
            self.entry = Some(format!("{} {id}", self.grid.table.entry_word()));
        }
    }

    fn area(&mut self) -> Option<Area> {
        self.name_entry("code");
        let code = self.required_parsed("code", AreaCode::parse);
        let name = self.required("name");
        let parent = self.optional("parent", AreaCode::parse);
        let polygon = self.optional("polygon", cells::points);
        Some(Area { code: code?, name: name?, parent: parent.ok()?, polygon: polygon.ok()? })
    }

    fn person(&mut self) -> Option<Person> {
        self.name_entry("id");
        let id = self.required_parsed("id", PersonId::parse);
        let name = self.required("name");
        let mobile = self.required_parsed("mobile", MobileNumber::parse);
        let email = self.cell("email").map(str::to_string);
        let roles = self.roles();
        let area = self.required_parsed("area", AreaCode::parse);
        let superior = self.optional("superior", PersonId::parse);
        Some(Person {
            id: id?,
            name: name?,
            mobile: mobile?,
            email,
            roles: roles?,
            area: area?,
            superior: superior.ok()?,
        })
    }

    /// `duty_officer;leader`: roles separated by `;` (or the full-width `；`).
    fn roles(&mut self) -> Option<Vec<Role>> {
        let Some(cell) = self.cell("roles").map(cells::fold_separators) else {
            self.problem("the roles cell is empty: a person needs at least one role".into());
            return None;
        };
        let mut roles = Vec::new();
        let mut ok = true;
        for r in cell.split(';').map(str::trim).filter(|r| !r.is_empty()) {
            match Role::parse(r) {
                Ok(role) if !roles.contains(&role) => roles.push(role),
                Ok(_) => {}
                Err(e) => {
                    self.problem(format!("bad roles: {e}; separate roles with ';'"));
                    ok = false;
                }
            }
        }
        ok.then_some(roles)
    }

    fn unit(&mut self) -> Option<Unit> {
        self.name_entry("id");
        let id = self.required_parsed("id", UnitId::parse);
        let name = self.required("name");
        let kind = self.required_parsed("kind", |k| {
            UnitKind::parse(k.trim()).ok_or_else(|| {
                format!(
                    "unknown unit kind {k:?}: one of school, hospital, elderly_care, construction, hazchem, \
                     complex, transport_hub, tunnel_bridge, geohazard_site, other"
                )
            })
        });
        let area = self.required_parsed("area", AreaCode::parse);
        let location = self.optional("location", |c| {
            let n = cells::numbers(c)?;
            match n[..] {
                [lon, lat] => Ok([lon, lat]),
                _ => Err("write it as lon,lat (two numbers)".to_string()),
            }
        });
        let mut responsible = Vec::new();
        for role in ["administrative", "regulatory", "unit"] {
            let person = match self.cell(role).map(str::to_string) {
                Some(v) => self.parsed(role, PersonId::parse, Some(v)),
                None => {
                    self.problem(format!(
                        "no {role} responsible person: the {role} cell is empty, and a unit needs all three \
                         (administrative, regulatory, unit)"
                    ));
                    None
                }
            };
            responsible.push(person);
        }
        let [administrative, regulatory, unit]: [Option<PersonId>; 3] = responsible.try_into().ok()?;
        Some(Unit {
            id: id?,
            name: name?,
            kind: kind?,
            area: area?,
            location: location.ok()?,
            administrative: administrative?,
            regulatory: regulatory?,
            unit: unit?,
        })
    }

    fn roster(&mut self) -> Option<RosterEntry> {
        if let (Some(a), Some(d), Some(s)) = (self.cell("area"), self.cell("date"), self.cell("shift")) {
            self.entry = Some(format!("roster {a} {d} {s}"));
        }
        let area = self.required_parsed("area", AreaCode::parse);
        let person = self.required_parsed("person", PersonId::parse);
        let date = self.required_parsed("date", parse_date);
        let shift = self.required_parsed("shift", |s| {
            cells::fold_separators(s).replace(['–', '—', '~', '～'], "-").parse::<Shift>()
        });
        Some(RosterEntry { area: area?, person: person?, date: date?, shift: shift? })
    }
}

/// `2026-07-01` or `2026/7/1` (what spreadsheets write for a date typed as text).
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let t = s.trim();
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
        .ok_or_else(|| format!("{s:?} is not a date: write it as 2026-07-01"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(table: Table, header: &[&str], rows: &[&[&str]]) -> Grid {
        Grid {
            file: "t.csv".into(),
            sheet: None,
            table,
            header_row: 1,
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: rows.iter().enumerate().map(|(i, r)| (i + 2, r.iter().map(|s| s.to_string()).collect())).collect(),
        }
    }

    fn read(g: Grid) -> Incoming {
        let mut incoming = Incoming::default();
        read_grid(&g, &mut incoming);
        incoming
    }

    fn messages(i: &Incoming) -> Vec<String> {
        i.read_problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn a_good_person_row_reads_with_its_list_of_roles() {
        let i = read(grid(
            Table::Persons,
            &["id", "name", "mobile", "email", "roles", "area", "superior"],
            &[&["p-1", "网格员", "138 0000 0001", "", "grid；community", "500105002", ""]],
        ));
        assert!(i.read_problems.is_empty(), "{:?}", messages(&i));
        let p = &i.registry.persons[0];
        assert_eq!(p.mobile.as_str(), "+8613800000001");
        assert_eq!(p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["grid", "community"]);
        assert_eq!((p.email.clone(), p.superior.clone()), (None, None));
        assert_eq!(i.location(Table::Persons, 0).unwrap().to_string(), "t.csv, row 2");
    }

    #[test]
    fn every_problem_of_a_row_is_named_with_its_row() {
        let i = read(grid(
            Table::Persons,
            &["id", "name", "mobile", "roles", "area"],
            &[&["p-1", "甲", "12345", "Grid", "5001x"], &["p-2", "乙", "13800000002", "grid", "500105002"]],
        ));
        let m = messages(&i);
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m.iter().all(|s| s.starts_with("t.csv, row 2: person p-1: bad ")), "{m:?}");
        assert!(m.iter().any(|s| s.contains("bad mobile")), "{m:?}");
        assert_eq!(i.registry.persons.len(), 1, "only the good row is read");
    }

    #[test]
    fn a_unit_without_one_of_its_three_persons_is_refused() {
        let i = read(grid(
            Table::Units,
            &["id", "name", "kind", "area", "location", "administrative", "regulatory", "unit"],
            &[&["u-1", "学校", "school", "500105002", "106.5,29.5", "p-a", "", "p-u"]],
        ));
        let m = messages(&i);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("unit u-1: no regulatory responsible person"), "{m:?}");
    }

    #[test]
    fn unknown_and_missing_columns_are_named_at_the_header() {
        let i = read(grid(Table::Rosters, &["area", "person", "day", "shift"], &[&["500105002", "p", "x", "y"]]));
        let m = messages(&i);
        assert!(m.iter().any(|s| s.contains("row 1: unknown column \"day\"")), "{m:?}");
        assert!(m.iter().any(|s| s.contains("needs a column \"date\"")), "{m:?}");
        assert!(i.registry.rosters.is_empty());
    }

    #[test]
    fn bad_dates_and_shifts_are_named() {
        let i = read(grid(
            Table::Rosters,
            &["area", "person", "date", "shift"],
            &[&["500105002", "p-1", "2026-02-30", "08:00-20:00"], &["500105002", "p-1", "2026/7/1", "8点到20点"]],
        ));
        let m = messages(&i);
        assert!(m.iter().any(|s| s.contains("row 2") && s.contains("bad date")), "{m:?}");
        assert!(m.iter().any(|s| s.contains("row 3") && s.contains("bad shift")), "{m:?}");
        assert_eq!(parse_date("2026/7/1").unwrap().to_string(), "2026-07-01");
    }
}
