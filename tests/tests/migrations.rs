//! The two migration folders move in lockstep: every version exists for both backends under the
//! same name, so a schema change cannot land on one database and be forgotten on the other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn migrations_dir(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("migrations").join(backend)
}

fn file_names(backend: &str) -> BTreeSet<String> {
    let dir = migrations_dir(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.file_type().expect("file type").is_file())
        .map(|entry| entry.file_name().into_string().expect("UTF-8 file name"))
        .collect()
}

/// The version prefix sqlx reads from `NNNN_name.sql`.
fn version(name: &str) -> Option<i64> {
    let (v, rest) = name.split_once('_')?;
    if rest.ends_with(".sql") && rest.len() > ".sql".len() {
        v.parse().ok()
    } else {
        None
    }
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_versions_and_names() {
    let sqlite = file_names("sqlite");
    let postgres = file_names("postgres");

    assert!(!sqlite.is_empty(), "no migrations in {}", migrations_dir("sqlite").display());
    assert!(!postgres.is_empty(), "no migrations in {}", migrations_dir("postgres").display());

    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "migration folders differ: only in sqlite {only_sqlite:?}, only in postgres {only_postgres:?}"
    );

    // Every file is a migration sqlx will run, and no version is used twice.
    let mut versions = BTreeSet::new();
    for name in &sqlite {
        let v = version(name).unwrap_or_else(|| panic!("{name} is not named VERSION_description.sql"));
        assert!(versions.insert(v), "version {v} is used by more than one migration ({name})");
    }
}
