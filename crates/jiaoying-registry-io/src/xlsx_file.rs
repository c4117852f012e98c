//! Tables from an XLSX workbook: one sheet per table, named after it (`persons`); other sheets
//! (instructions, say) are left alone. Row numbers are the spreadsheet's.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use jiaoying_core::registry::Table;

use crate::cells;
use crate::rows::Grid;

pub(crate) fn read(file: &str, bytes: &[u8]) -> Result<Vec<Grid>, String> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("not a readable XLSX workbook: {e}"))?;
    let names = book.sheet_names();
    let mut grids = Vec::new();
    for name in &names {
        let Some(table) = Table::parse(&name.trim().to_ascii_lowercase()) else { continue };
        let range = book.worksheet_range(name).map_err(|e| format!("sheet {name}: cannot be read: {e}"))?;
        // The used range may start below row 1 or right of column A: rows are numbered as the
        // spreadsheet shows them.
        let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
        let mut header = None;
        let mut rows = Vec::new();
        for (i, row) in range.rows().enumerate() {
            let number = first_row + i + 1;
            let cells: Vec<String> = row.iter().map(text).collect();
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            if header.is_none() {
                header = Some((number, cells));
            } else {
                rows.push((number, cells));
            }
        }
        // An empty sheet is an empty table: present (so `--replace` empties it), with no rows.
        let (header_row, header) =
            header.unwrap_or_else(|| (1, crate::columns::columns(table).iter().map(|(c, _)| c.to_string()).collect()));
        grids.push(Grid { file: file.to_string(), sheet: Some(name.clone()), table, header_row, header, rows });
    }
    if grids.is_empty() {
        return Err(format!(
            "no sheet named areas, persons, units or rosters (the workbook has: {})",
            names.join(", ")
        ));
    }
    Ok(grids)
}

/// A cell as the text a person sees in it.
fn text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => cells::number(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if d.is_datetime() && t.time() == chrono::NaiveTime::MIN => t.date().format("%Y-%m-%d").to_string(),
            // A time of day alone sits on Excel's day zero.
            Some(t) if d.is_datetime() && d.as_f64() < 1.0 => t.time().format("%H:%M").to_string(),
            Some(t) if d.is_datetime() => t.format("%Y-%m-%d %H:%M").to_string(),
            _ => cells::number(d.as_f64()),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}
