//! Reading registry files from disk: a TOML file, an XLSX workbook, a CSV file named after its
//! table (`persons.csv`), or a folder of such CSV files. The formats themselves are
//! `jiaoying_registry_io`'s; this module only finds and reads the bytes.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context};
use jiaoying_core::Registry;
use jiaoying_registry_io::{Format, Incoming, RowProblem, Source};

/// Files larger than this are refused: a registry of a whole district is a few megabytes.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A registry refused because of what is in it; each problem names its file, sheet and row.
#[derive(Debug)]
pub struct RegistryProblems {
    pub path: String,
    pub problems: Vec<RowProblem>,
}

impl fmt::Display for RegistryProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the registry {}, nothing was changed:", self.problems.len(), self.path)?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RegistryProblems {}

fn read_file(path: &Path) -> anyhow::Result<Source> {
    let len = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if len > MAX_FILE_BYTES {
        bail!("{}: {len} bytes is more than a registry file may have ({MAX_FILE_BYTES})", path.display());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    Ok(Source { name, bytes })
}

/// The files a path names: the file itself, or the CSV files of a folder (other files in it are
/// left alone, so a folder can keep a README beside its tables).
pub fn sources(path: &Path) -> anyhow::Result<Vec<Source>> {
    if !path.is_dir() {
        return Ok(vec![read_file(path)?]);
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no CSV files in the folder (areas.csv, persons.csv, units.csv, rosters.csv)", path.display());
    }
    // Areas first, then persons, units, rosters: problems read in the order a person fixes them.
    files.sort_by_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match Format::of(&name) {
            Ok(Format::Csv(t)) => t as usize,
            _ => usize::MAX,
        }
    });
    files.iter().map(|p| read_file(p)).collect()
}

/// What the files at `path` hold, not yet checked (an import checks it against the stored
/// registry).
pub fn read_incoming(path: &Path) -> anyhow::Result<Incoming> {
    Ok(jiaoying_registry_io::read(&sources(path)?))
}

/// Reads and checks a registry file (or folder) on its own, as loading at start and
/// `check-config` do. Every problem is reported, naming its file, sheet and row; a registry with
/// any problem is refused whole (the error is a [`RegistryProblems`]).
pub fn read_registry(path: &Path) -> anyhow::Result<Registry> {
    match jiaoying_registry_io::read_checked(&sources(path)?) {
        Ok(incoming) => Ok(incoming.registry),
        Err(problems) => Err(RegistryProblems { path: path.display().to_string(), problems }.into()),
    }
}

/// What to tell an operator whose configured registry file is not there: `serve` starts without
/// loading it (the registry is loaded at start only when present), and `check-config` warns.
pub fn missing_registry(path: &Path) -> String {
    format!(
        "registry file {} does not exist: nothing is loaded at start, and the service uses the registry \
         its database holds (empty until `jiaoying import` or the registry pages fill it)",
        path.display()
    )
}
