//! One table from a CSV file (RFC 4180, UTF-8 with or without a byte-order mark). Row numbers
//! are the line each record starts on: what a spreadsheet shows for a file without multi-line
//! cells.

use jiaoying_core::registry::Table;

use crate::rows::Grid;

pub(crate) fn read(file: &str, table: Table, bytes: &[u8]) -> Result<Vec<Grid>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_err() {
        return Err("not UTF-8 text: save it as \"CSV UTF-8\" (a GBK file reads as garbage)".into());
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut header: Option<(usize, Vec<String>)> = None;
    let mut rows = Vec::new();
    let (mut line, mut counted) = (1usize, 0usize);
    for record in reader.records() {
        let record = record.map_err(|e| match e.position() {
            Some(p) => format!("near row {}: not valid CSV: {e}", p.line()),
            None => format!("not valid CSV: {e}"),
        })?;
        // The reader's own line count is off after blank lines and CRLF, and its byte offset is
        // where it began to look (before the line breaks it skipped): count from the record's
        // first byte instead.
        let mut at = record.position().map(|p| p.byte() as usize).unwrap_or(0).min(bytes.len());
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        line += bytes[counted..at].iter().filter(|b| **b == b'\n').count();
        counted = at;
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if header.is_none() {
            header = Some((line, cells));
        } else {
            rows.push((line, cells));
        }
    }
    let Some((header_row, header)) = header else {
        return Err(format!("empty: the first row names the columns ({})", crate::columns::names(table)));
    };
    Ok(vec![Grid { file: file.to_string(), sheet: None, table, header_row, header, rows }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_cells_bom_and_blank_lines() {
        let text = "\u{feff}id,name,roles\r\n\r\np-1,\"甲, \"\"乙\"\"\",grid;leader\r\np-2,\"two\nlines\",grid\r\np-3,丙,grid\r\n";
        let g = &read("persons.csv", Table::Persons, text.as_bytes()).unwrap()[0];
        assert_eq!((g.header_row, g.header.clone()), (1, vec!["id".to_string(), "name".into(), "roles".into()]));
        assert_eq!(g.rows[0], (3, vec!["p-1".to_string(), "甲, \"乙\"".into(), "grid;leader".into()]));
        assert_eq!(g.rows[1].0, 4);
        assert_eq!(g.rows[2].0, 6, "a record after a two-line cell starts on line 6");
    }

    #[test]
    fn gbk_and_empty_files_are_refused_with_a_reason() {
        assert!(read("persons.csv", Table::Persons, b"id,name\n\xd5\xc5\xc8\xfd,x\n").unwrap_err().contains("UTF-8"));
        assert!(read("persons.csv", Table::Persons, b"\n\n").unwrap_err().contains("empty"));
    }
}
