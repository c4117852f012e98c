//! The registry as files: TOML, CSV (one file per table) and XLSX (one sheet per table) read into
//! a [`Registry`] with every bad row located by file, sheet and row; an import's [`plan`] against
//! the stored registry (what it adds, changes and removes, checked as a whole); and the XLSX
//! export in the same layout, so that a round trip changes nothing.
//!
//! Bytes in, bytes out: reading files and folders and talking to the database are the caller's.
//! The checks themselves are the domain's ([`Registry::problems_located`]); this crate only maps
//! each problem back to the row it came from.

mod cells;
mod columns;
mod csv_file;
mod export;
mod plan;
mod rows;
mod toml_file;
mod xlsx_file;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiaoying_core::registry::{LocatedProblem, Table};
use jiaoying_core::Registry;

pub use columns::columns;
pub use export::{write_xlsx, ExportError};
pub use plan::{plan, ImportPlan, Removal, TableDiff};

/// The formats a registry file can have, told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    /// One table, named by the file's stem (`persons.csv`).
    Csv(Table),
    Xlsx,
}

impl Format {
    /// The format of a file by its name: `*.toml`, `*.xlsx`, or `<table>.csv`.
    pub fn of(file_name: &str) -> Result<Format, String> {
        let lower = file_name.to_ascii_lowercase();
        let (stem, ext) = lower.rsplit_once('.').unwrap_or((lower.as_str(), ""));
        match ext {
            "toml" => Ok(Format::Toml),
            "xlsx" | "xlsm" => Ok(Format::Xlsx),
            "csv" => Table::parse(stem).map(Format::Csv).ok_or_else(|| {
                format!(
                    "{file_name}: a CSV file is named after its table: areas.csv, persons.csv, units.csv or rosters.csv"
                )
            }),
            _ => Err(format!(
                "{file_name}: not a registry file: use .toml, .xlsx (sheets areas, persons, units, rosters) \
                 or CSV files named after their table (persons.csv, ...)"
            )),
        }
    }
}

/// One file's bytes and the name it is reported under.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Where an entry came from: a file's sheet (XLSX) or table (TOML), and its row (the
/// spreadsheet's 1-based row number; for TOML the entry's number and line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub sheet: Option<String>,
    pub row: Option<usize>,
    /// TOML: the `n`-th `[[table]]` entry (1-based).
    pub entry: Option<usize>,
    /// `row` is a line of a text file (TOML), not a spreadsheet row.
    pub is_line: bool,
}

impl Location {
    pub fn file(file: &str) -> Location {
        Location { file: file.to_string(), sheet: None, row: None, entry: None, is_line: false }
    }

    pub(crate) fn row(file: &str, sheet: Option<&str>, row: usize) -> Location {
        Location {
            file: file.to_string(),
            sheet: sheet.map(str::to_string),
            row: Some(row),
            entry: None,
            is_line: false,
        }
    }

    /// An entry already in the database (its problem comes from what the import changes).
    pub fn stored() -> Location {
        Location::file("stored registry")
    }

    pub fn is_stored(&self) -> bool {
        self.file == "stored registry" && self.row.is_none()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        match (&self.sheet, self.entry) {
            (Some(t), Some(n)) => write!(f, ", [[{t}]] #{n}")?,
            (Some(s), None) => write!(f, ", sheet {s}")?,
            (None, _) => {}
        }
        match self.row {
            Some(r) if self.is_line => write!(f, ", line {r}"),
            Some(r) => write!(f, ", row {r}"),
            None => Ok(()),
        }
    }
}

/// One thing wrong with an import, where it is and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub location: Location,
    /// `person p-1` when the row got that far.
    pub entry: Option<String>,
    pub reason: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(e) => write!(f, "{}: {e}: {}", self.location, self.reason),
            None => write!(f, "{}: {}", self.location, self.reason),
        }
    }
}

/// What a set of files holds: the entries read (in file order), which tables the files have,
/// where each entry came from, and the problems found reading them.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub registry: Registry,
    /// The tables the files have (a sheet or CSV file, or a TOML key), even if empty: an import
    /// with `--replace` replaces exactly these.
    pub tables: BTreeSet<Table>,
    locations: BTreeMap<Table, Vec<Location>>,
    /// Problems of single rows and cells (bad mobile, bad date, missing column, ...).
    pub read_problems: Vec<RowProblem>,
    /// Keys of rows that could not be read: other rows' references to them are not reported
    /// again as unknown.
    broken: BTreeSet<(Table, String)>,
}

impl Incoming {
    pub fn location(&self, table: Table, index: usize) -> Option<&Location> {
        self.locations.get(&table).and_then(|l| l.get(index))
    }

    /// Every problem of the files taken alone (as `check-config` and loading at start see them):
    /// the rows that could not be read, then the domain's checks of what was read.
    pub fn problems(&self) -> Vec<RowProblem> {
        let mut out = self.read_problems.clone();
        for p in self.registry.problems_located() {
            if self.is_cascade(&p) {
                continue;
            }
            let location = self.location(p.table, p.index).cloned().unwrap_or_else(|| Location::file("?"));
            out.push(RowProblem { location, entry: Some(p.problem.entry), reason: p.problem.reason });
        }
        out
    }

    /// A reference to a row that could not be read ("unknown area X" where X's row was bad):
    /// reported once, at the bad row.
    fn is_cascade(&self, p: &LocatedProblem) -> bool {
        let reason = &p.problem.reason;
        if !reason.starts_with("unknown ") {
            return false;
        }
        let Some(id) = reason.rsplit(' ').next() else { return false };
        let table = if reason.contains("area") { Table::Areas } else { Table::Persons };
        self.broken.contains(&(table, id.to_string()))
    }

    fn push(&mut self, table: Table, location: Location) {
        self.locations.entry(table).or_default().push(location);
    }
}

/// Reads registry files (one TOML or XLSX file, or CSV files of distinct tables) into what they
/// hold. Row problems are collected in [`Incoming::read_problems`], not returned as an error, so
/// that the caller can report them together with the checks of the whole; a file that cannot be
/// read at all is one problem naming the file.
pub fn read(sources: &[Source]) -> Incoming {
    let mut incoming = Incoming::default();
    for source in sources {
        let format = match Format::of(&source.name) {
            Ok(f) => f,
            Err(reason) => {
                incoming.read_problems.push(RowProblem { location: Location::file(&source.name), entry: None, reason });
                continue;
            }
        };
        let grids = match format {
            Format::Toml => {
                toml_file::read(&source.name, &source.bytes, &mut incoming);
                continue;
            }
            Format::Csv(table) => csv_file::read(&source.name, table, &source.bytes),
            Format::Xlsx => xlsx_file::read(&source.name, &source.bytes),
        };
        match grids {
            Ok(grids) => {
                for grid in grids {
                    if !incoming.tables.insert(grid.table) {
                        incoming.read_problems.push(RowProblem {
                            location: Location::file(&source.name),
                            entry: None,
                            reason: format!("a second {} table: give each table once", grid.table),
                        });
                        continue;
                    }
                    rows::read_grid(&grid, &mut incoming);
                }
            }
            Err(reason) => {
                incoming.read_problems.push(RowProblem { location: Location::file(&source.name), entry: None, reason })
            }
        }
    }
    incoming
}

/// [`read`], then the files' own checks: the registry when nothing is wrong, else every problem.
pub fn read_checked(sources: &[Source]) -> Result<Incoming, Vec<RowProblem>> {
    let incoming = read(sources);
    let problems = incoming.problems();
    if problems.is_empty() {
        Ok(incoming)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_name() {
        assert_eq!(Format::of("registry.toml"), Ok(Format::Toml));
        assert_eq!(Format::of("Registry.XLSX"), Ok(Format::Xlsx));
        assert_eq!(Format::of("persons.csv"), Ok(Format::Csv(Table::Persons)));
        assert!(Format::of("people.csv").unwrap_err().contains("named after its table"));
        assert!(Format::of("registry.json").is_err());
    }

    #[test]
    fn locations_read_as_a_person_would_say_them() {
        assert_eq!(Location::row("persons.csv", None, 3).to_string(), "persons.csv, row 3");
        assert_eq!(Location::row("r.xlsx", Some("persons"), 7).to_string(), "r.xlsx, sheet persons, row 7");
        let toml = Location {
            file: "r.toml".into(),
            sheet: Some("persons".into()),
            row: Some(12),
            entry: Some(2),
            is_line: true,
        };
        assert_eq!(toml.to_string(), "r.toml, [[persons]] #2, line 12");
    }
}
