//! The columns of each table: the TOML keys, in the order the export writes them.

use jiaoying_core::registry::Table;

/// `(column, required)` of a table, in export order.
pub fn columns(table: Table) -> &'static [(&'static str, bool)] {
    match table {
        Table::Areas => &[("code", true), ("name", true), ("parent", false), ("polygon", false)],
        Table::Persons => &[
            ("id", true),
            ("name", true),
            ("mobile", true),
            ("email", false),
            ("roles", true),
            ("area", true),
            ("superior", false),
        ],
        Table::Units => &[
            ("id", true),
            ("name", true),
            ("kind", true),
            ("area", true),
            ("location", false),
            ("administrative", true),
            ("regulatory", true),
            ("unit", true),
        ],
        Table::Rosters => &[("area", true), ("person", true), ("date", true), ("shift", true)],
    }
}

/// The column names of a table, for messages: `id, name, mobile, ...`.
pub(crate) fn names(table: Table) -> String {
    columns(table).iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}
