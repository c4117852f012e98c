//! Cell values as text, whatever the file held: what a spreadsheet shows is what is read.

/// A number as a person typed it: `13800000001`, not `13800000001.0` or `1.38e10`.
pub(crate) fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Separators a Chinese keyboard types in place of ASCII ones.
pub(crate) fn fold_separators(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '；' => ';',
            '，' => ',',
            '：' => ':',
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// The numbers of a coordinate cell: `106.5,29.5;106.6,29.5` or `[[106.5, 29.5], ...]` or
/// `106.5 29.5`, read as a flat list.
pub(crate) fn numbers(cell: &str) -> Result<Vec<f64>, String> {
    fold_separators(cell)
        .split(|c: char| matches!(c, ',' | ';' | '[' | ']') || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<f64>().map_err(|_| format!("{s:?} is not a number")))
        .collect()
}

/// `[lon, lat]` pairs of a polygon cell.
pub(crate) fn points(cell: &str) -> Result<Vec<[f64; 2]>, String> {
    let n = numbers(cell)?;
    if n.len() % 2 != 0 {
        return Err("an odd count of numbers: write lon,lat pairs separated by ';'".into());
    }
    Ok(n.chunks(2).map(|p| [p[0], p[1]]).collect())
}

/// The text of a list cell (`duty_officer;leader`), or of a polygon (`lon,lat;lon,lat`).
pub(crate) fn join_points(points: &[[f64; 2]]) -> String {
    points.iter().map(|[x, y]| format!("{x},{y}")).collect::<Vec<_>>().join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_as_typed() {
        assert_eq!(number(13800000001.0), "13800000001");
        assert_eq!(number(500105002.0), "500105002");
        assert_eq!(number(106.541), "106.541");
    }

    #[test]
    fn coordinates_in_any_common_spelling() {
        let want = vec![[106.53, 29.57], [106.55, 29.57]];
        assert_eq!(points("106.53,29.57;106.55,29.57").unwrap(), want);
        assert_eq!(points("[[106.53, 29.57], [106.55, 29.57]]").unwrap(), want);
        assert_eq!(points("106.53，29.57；106.55，29.57").unwrap(), want);
        assert!(points("106.53,29.57;106.55").is_err());
        assert!(points("east,north").is_err());
        assert_eq!(points(&join_points(&want)).unwrap(), want, "the export's spelling reads back");
    }
}
