//! The registry as an XLSX workbook in the import's layout: sheets `areas`, `persons`, `units`,
//! `rosters`, a header row of the TOML keys, one entry per row. Every cell is written as text, so
//! a mobile stays `+8613800000001` (not a number) and nothing can become a formula; importing the
//! workbook again changes nothing.

use jiaoying_core::registry::Table;
use jiaoying_core::Registry;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::cells::join_points;
use crate::columns::columns;

#[derive(Debug, thiserror::Error)]
#[error("writing the workbook: {0}")]
pub struct ExportError(#[from] XlsxError);

/// The rows of a table as text cells, in [`columns`] order.
fn rows(registry: &Registry, table: Table) -> Vec<Vec<String>> {
    let opt = |v: Option<&str>| v.unwrap_or("").to_string();
    match table {
        Table::Areas => registry
            .areas
            .iter()
            .map(|a| {
                vec![
                    a.code.to_string(),
                    a.name.clone(),
                    opt(a.parent.as_ref().map(|p| p.as_str())),
                    a.polygon.as_deref().map(join_points).unwrap_or_default(),
                ]
            })
            .collect(),
        Table::Persons => registry
            .persons
            .iter()
            .map(|p| {
                vec![
                    p.id.to_string(),
                    p.name.clone(),
                    p.mobile.to_string(),
                    opt(p.email.as_deref()),
                    p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(";"),
                    p.area.to_string(),
                    opt(p.superior.as_ref().map(|s| s.as_str())),
                ]
            })
            .collect(),
        Table::Units => registry
            .units
            .iter()
            .map(|u| {
                vec![
                    u.id.to_string(),
                    u.name.clone(),
                    u.kind.as_str().to_string(),
                    u.area.to_string(),
                    u.location.map(|l| join_points(&[l])).unwrap_or_default(),
                    u.administrative.to_string(),
                    u.regulatory.to_string(),
                    u.unit.to_string(),
                ]
            })
            .collect(),
        Table::Rosters => registry
            .rosters
            .iter()
            .map(|r| vec![r.area.to_string(), r.person.to_string(), r.date.to_string(), r.shift.to_string()])
            .collect(),
    }
}

/// The registry as XLSX bytes.
pub fn write_xlsx(registry: &Registry) -> Result<Vec<u8>, ExportError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    for table in Table::ALL {
        let sheet = book.add_worksheet();
        sheet.set_name(table.as_str())?;
        for (col, (name, _)) in columns(table).iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, *name, &bold)?;
            sheet.set_column_width(col as u16, if *name == "polygon" { 40 } else { 16 })?;
        }
        for (i, cells) in rows(registry, table).iter().enumerate() {
            for (col, cell) in cells.iter().enumerate() {
                if !cell.is_empty() {
                    sheet.write_string((i + 1) as u32, col as u16, cell)?;
                }
            }
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    Ok(book.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{plan, read, read_checked, Source};

    const REGISTRY: &str = r#"
[[areas]]
code = "500105002"
name = "观音桥街道"
polygon = [[106.53, 29.57], [106.55, 29.57], [106.55, 29.59], [106.53, 29.57]]
[[areas]]
code = "500105002001"
name = "建新社区"
parent = "500105002"
[[persons]]
id = "p-leader"
name = "街道主任"
mobile = "+8613900000001"
email = "leader@example.org"
roles = ["leader", "duty_officer"]
area = "500105002"
[[persons]]
id = "p-grid"
name = "网格员, \"一组\""
mobile = "13900000004"
roles = ["grid"]
area = "500105002001"
superior = "p-leader"
[[units]]
id = "u-school"
name = "=某小学"
kind = "school"
area = "500105002001"
location = [106.541, 29.5801]
administrative = "p-leader"
regulatory = "p-leader"
unit = "p-grid"
[[rosters]]
area = "500105002"
person = "p-leader"
date = "2026-07-01"
shift = "20:00-08:00"
"#;

    #[test]
    fn a_round_trip_through_xlsx_changes_nothing() {
        let original =
            read_checked(&[Source { name: "r.toml".into(), bytes: REGISTRY.as_bytes().to_vec() }]).unwrap().registry;
        let bytes = write_xlsx(&original).unwrap();
        let back = read(&[Source { name: "export.xlsx".into(), bytes }]);
        assert!(back.problems().is_empty(), "{:?}", back.problems());
        assert_eq!(back.registry, original);
        let plan = plan(&original, &back, true).unwrap();
        assert!(plan.is_noop(), "{:?}", plan.diff);
    }
}
