//! A TOML registry, entry by entry: each `[[persons]]` (or inline `{...}`) entry is read on its
//! own, so every bad entry is reported (not only the first), each with its number and line.

use jiaoying_core::registry::{Area, Person, Table, Unit};
use jiaoying_core::roster::RosterEntry;
use serde::de::DeserializeOwned;

use crate::{Incoming, Location, RowProblem};

pub(crate) fn read(file: &str, bytes: &[u8], incoming: &mut Incoming) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return file_problem(incoming, file, "not UTF-8 text".into(), None);
    };
    // Two parses of one small file: toml_edit knows where each entry is, toml reads values.
    let doc = match toml_edit::ImDocument::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start));
            let reason = format!("not valid TOML: {}", e.message().trim());
            return file_problem(incoming, file, reason, line);
        }
    };
    let top: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => return file_problem(incoming, file, format!("not valid TOML: {}", e.message().trim()), None),
    };
    for (key, value) in top {
        let key_line = doc.as_table().key(&key).and_then(|k| k.span()).map(|s| line_of(text, s.start));
        let Some(table) = Table::parse(&key) else {
            let reason = format!("unknown table {key:?}: a registry has areas, persons, units and rosters");
            file_problem(incoming, file, reason, key_line);
            continue;
        };
        incoming.tables.insert(table);
        let toml::Value::Array(entries) = value else {
            file_problem(incoming, file, format!("{key} must be a list of tables, written [[{key}]]"), key_line);
            continue;
        };
        for (i, entry) in entries.into_iter().enumerate() {
            let location = Location {
                file: file.to_string(),
                sheet: Some(key.clone()),
                row: entry_line(&doc, text, &key, i),
                entry: Some(i + 1),
                is_line: true,
            };
            read_entry(table, entry, location, incoming);
        }
    }
}

fn file_problem(incoming: &mut Incoming, file: &str, reason: String, line: Option<usize>) {
    let location = Location { row: line, is_line: true, ..Location::file(file) };
    incoming.read_problems.push(RowProblem { location, entry: None, reason });
}

fn read_entry(table: Table, entry: toml::Value, location: Location, incoming: &mut Incoming) {
    let id_key = match table {
        Table::Areas => Some("code"),
        Table::Persons | Table::Units => Some("id"),
        Table::Rosters => None,
    };
    let id = id_key.and_then(|k| entry.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    let label = match (&id, table) {
        (Some(id), _) => Some(format!("{} {id}", table.entry_word())),
        (None, Table::Rosters) => {
            let s = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            Some(format!("roster {} {} {}", s("area"), s("date"), s("shift")))
        }
        (None, _) => None,
    };
    let read = match table {
        Table::Areas => parse::<Area>(entry).map(|a| incoming.registry.areas.push(a)),
        Table::Persons => parse::<Person>(entry).map(|p| incoming.registry.persons.push(p)),
        Table::Units => parse::<Unit>(entry).map(|u| incoming.registry.units.push(u)),
        Table::Rosters => parse::<RosterEntry>(entry).map(|r| incoming.registry.rosters.push(r)),
    };
    match read {
        Ok(()) => incoming.push(table, location),
        Err(reason) => {
            if let Some(id) = id {
                incoming.broken.insert((table, id));
            }
            incoming.read_problems.push(RowProblem { location, entry: label, reason: explain(table, reason) });
        }
    }
}

fn parse<T: DeserializeOwned>(entry: toml::Value) -> Result<T, String> {
    entry.try_into::<T>().map_err(|e| e.message().trim().to_string())
}

/// serde's words for what a person writing the file needs to hear.
fn explain(table: Table, reason: String) -> String {
    if table == Table::Units {
        for role in ["administrative", "regulatory", "unit"] {
            if reason == format!("missing field `{role}`") {
                return format!(
                    "no {role} responsible person: a unit needs all three (administrative, regulatory, unit)"
                );
            }
        }
    }
    reason
}

/// The line of the `i`-th entry of `key`, wherever the parser kept its position.
fn entry_line(doc: &toml_edit::ImDocument<&str>, text: &str, key: &str, i: usize) -> Option<usize> {
    let span = match doc.as_table().get(key)? {
        toml_edit::Item::ArrayOfTables(a) => a.get(i)?.span(),
        toml_edit::Item::Value(toml_edit::Value::Array(a)) => match a.get(i)? {
            toml_edit::Value::InlineTable(t) => t.span(),
            v => v.span(),
        },
        _ => None,
    }?;
    Some(line_of(text, span.start))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
[[areas]]
code = "500105002"
name = "街道"

[[persons]]
id = "p-a"
name = "甲"
mobile = "13800000001"
roles = ["grid"]
area = "500105002"

[[persons]]
id = "p-b"
name = "乙"
mobile = "123"
roles = ["grid"]
area = "500105002"

[[units]]
id = "u-1"
name = "学校"
kind = "school"
area = "500105002"
administrative = "p-a"
unit = "p-a"
"#;

    #[test]
    fn every_bad_entry_is_named_with_its_number_and_line() {
        let mut incoming = Incoming::default();
        read("r.toml", TEXT.as_bytes(), &mut incoming);
        let m: Vec<String> = incoming.read_problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("r.toml, [[persons]] #2, line 13: person p-b: invalid mobile number"), "{m:?}");
        assert!(m[1].starts_with("r.toml, [[units]] #1, line 20: unit u-1: no regulatory responsible person"), "{m:?}");
        assert_eq!(incoming.registry.persons.len(), 1);
        assert_eq!(incoming.location(Table::Persons, 0).unwrap().row, Some(6));
    }

    #[test]
    fn unknown_tables_and_broken_syntax_are_named() {
        let mut incoming = Incoming::default();
        read("r.toml", b"[[person]]\nid = \"p\"\n", &mut incoming);
        let m = incoming.read_problems[0].to_string();
        assert!(m.contains("line 1: unknown table \"person\""), "{m}");
        let mut incoming = Incoming::default();
        read("r.toml", b"[[persons]]\nid = \n", &mut incoming);
        assert!(incoming.read_problems[0].to_string().contains("not valid TOML"), "{:?}", incoming.read_problems);
    }
}
