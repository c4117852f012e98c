//! `jiaoying import` of TOML, CSV (one file per table, or a folder of them) and XLSX (a real
//! workbook written here by rust_xlsxwriter, with the numbers and dates a spreadsheet program
//! makes), on both backends: every format lands the same registry; every bad row is named with
//! its file, sheet and row and nothing changes; `--dry-run` names what would be added, changed
//! and removed and changes nothing; `--replace` removes what the file lacks; an export imported
//! again changes nothing; `check-config` names each offending unit and person.

use std::path::{Path, PathBuf};

use jiaoying::commands::{self, ImportOptions};
use jiaoying::registry_file::read_registry;
use jiaoying::Settings;
use jiaoying_core::registry::Table;
use jiaoying_core::Registry;
use jiaoying_tests::{both_backends, TestDb};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

fn settings_for(db: &TestDb) -> Settings {
    toml::from_str(&format!(
        "[database]\nurl = \"{}\"\n[channels.console]\nkind = \"console\"\npath = \"/dev/null\"\n",
        db.url
    ))
    .expect("settings")
}

fn demo_toml() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/registry.toml")
}

fn demo() -> Registry {
    read_registry(&demo_toml()).expect("the demo registry is good")
}

/// The registry in the database's order (by key), to compare with a file's.
fn sorted(mut r: Registry) -> Registry {
    r.areas.sort_by(|a, b| a.code.cmp(&b.code));
    r.persons.sort_by(|a, b| a.id.cmp(&b.id));
    r.units.sort_by(|a, b| a.id.cmp(&b.id));
    r.rosters.sort_by_key(|e| (e.date, e.area.clone(), e.shift.to_string(), e.person.clone()));
    r
}

/// Compares without printing two whole registries when they differ.
fn assert_same(a: &Registry, b: &Registry, what: &str) {
    let (a, b) = (sorted(a.clone()), sorted(b.clone()));
    for (x, y) in [
        (format!("{:?}", a.areas), format!("{:?}", b.areas)),
        (format!("{:?}", a.persons), format!("{:?}", b.persons)),
        (format!("{:?}", a.units), format!("{:?}", b.units)),
        (format!("{:?}", a.rosters), format!("{:?}", b.rosters)),
    ] {
        if x != y {
            let at = x.chars().zip(y.chars()).take_while(|(p, q)| p == q).count();
            let near = |s: &str| s.chars().skip(at.saturating_sub(80)).take(200).collect::<String>();
            panic!("{what}: registries differ near\n  {}\n  {}", near(&x), near(&y));
        }
    }
}

async fn stored(db: &TestDb) -> Registry {
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let r = (*store.load_registry().await.unwrap()).clone();
    store.close().await;
    r
}

async fn import(db: &TestDb, path: &Path, dry_run: bool, replace: bool) -> anyhow::Result<String> {
    commands::import_with(&settings_for(db), path, ImportOptions { dry_run, replace }).await
}

/// A cell as a spreadsheet program would store it: numbers for what looks like a number, real
/// dates for dates, text for the rest.
enum Cell {
    Text(String),
    Number(f64),
    Date(u16, u8, u8),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// A sheet: its name, header and rows.
type Sheet<'a> = (&'a str, Vec<&'a str>, Vec<Vec<Cell>>);

/// Writes a workbook with the given sheets and an instructions sheet that the import must leave
/// alone.
fn workbook(path: &Path, sheets: &[Sheet<'_>]) {
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let notes = book.add_worksheet();
    notes.set_name("说明").unwrap();
    notes.write_string(0, 0, "每张表一页：areas, persons, units, rosters").unwrap();
    for (name, header, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name).unwrap();
        for (c, h) in header.iter().enumerate() {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = ((r + 1) as u32, c as u16);
                match cell {
                    Cell::Text(s) if s.is_empty() => {}
                    Cell::Text(s) => {
                        sheet.write_string(r, c, s).unwrap();
                    }
                    Cell::Number(n) => {
                        sheet.write_number(r, c, *n).unwrap();
                    }
                    Cell::Date(y, m, d) => {
                        let dt = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                        sheet.write_datetime_with_format(r, c, &dt, &date).unwrap();
                    }
                }
            }
        }
    }
    book.save(path).unwrap();
}

/// The demo registry as a workbook typed by hand: area codes and bare 11-digit mobiles as
/// numbers, roster dates as date cells, the persons' columns in another order.
fn demo_workbook(path: &Path) {
    let r = demo();
    let code = |c: &jiaoying_core::AreaCode| Cell::Number(c.as_str().parse::<f64>().unwrap());
    let areas = r
        .areas
        .iter()
        .map(|a| {
            let poly = a
                .polygon
                .as_ref()
                .map(|p| p.iter().map(|[x, y]| format!("{x},{y}")).collect::<Vec<_>>().join(";"))
                .unwrap_or_default();
            vec![code(&a.code), text(a.name.clone()), a.parent.as_ref().map(code).unwrap_or(text("")), text(poly)]
        })
        .collect();
    let persons = r
        .persons
        .iter()
        .map(|p| {
            vec![
                text(p.name.clone()),
                text(p.id.to_string()),
                code(&p.area),
                // +8613800000001 typed as the bare number 13800000001.
                Cell::Number(p.mobile.as_str().trim_start_matches("+86").parse::<f64>().unwrap()),
                text(p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("；")),
                text(p.email.clone().unwrap_or_default()),
                text(p.superior.as_ref().map(|s| s.to_string()).unwrap_or_default()),
            ]
        })
        .collect();
    let units = r
        .units
        .iter()
        .map(|u| {
            vec![
                text(u.id.to_string()),
                text(u.name.clone()),
                text(u.kind.as_str()),
                code(&u.area),
                text(u.location.map(|[x, y]| format!("{x},{y}")).unwrap_or_default()),
                text(u.administrative.to_string()),
                text(u.regulatory.to_string()),
                text(u.unit.to_string()),
            ]
        })
        .collect();
    let rosters = r
        .rosters
        .iter()
        .map(|e| {
            let ymd: Vec<u16> = e.date.to_string().split('-').map(|n| n.parse().unwrap()).collect();
            vec![
                code(&e.area),
                text(e.person.to_string()),
                Cell::Date(ymd[0], ymd[1] as u8, ymd[2] as u8),
                text(e.shift.to_string()),
            ]
        })
        .collect();
    workbook(
        path,
        &[
            ("areas", vec!["code", "name", "parent", "polygon"], areas),
            ("persons", vec!["name", "id", "area", "mobile", "roles", "email", "superior"], persons),
            ("units", vec!["id", "name", "kind", "area", "location", "administrative", "regulatory", "unit"], units),
            ("rosters", vec!["area", "person", "date", "shift"], rosters),
        ],
    );
}

/// One CSV record (quoted where needed).
fn csv_line(cells: &[String]) -> String {
    cells
        .iter()
        .map(|c| if c.contains([',', '"', '\n']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.clone() })
        .collect::<Vec<_>>()
        .join(",")
}

/// The demo registry as a folder of CSV files; persons.csv with a byte-order mark and CRLF, as
/// spreadsheet programs save "CSV UTF-8".
fn demo_csv_folder(dir: &Path) {
    let r = demo();
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut areas = vec!["code,name,parent,polygon".to_string()];
    for a in &r.areas {
        let poly = a.polygon.as_ref().map(|p| p.iter().map(|[x, y]| format!("{x},{y}")).collect::<Vec<_>>().join(";"));
        areas.push(csv_line(&[
            a.code.to_string(),
            a.name.clone(),
            opt(a.parent.as_ref().map(|p| p.to_string())),
            opt(poly),
        ]));
    }
    let mut persons = vec!["id,name,mobile,email,roles,area,superior".to_string()];
    for p in &r.persons {
        let roles = p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(";");
        persons.push(csv_line(&[
            p.id.to_string(),
            p.name.clone(),
            p.mobile.to_string(),
            opt(p.email.clone()),
            roles,
            p.area.to_string(),
            opt(p.superior.as_ref().map(|s| s.to_string())),
        ]));
    }
    let mut units = vec!["id,name,kind,area,location,administrative,regulatory,unit".to_string()];
    for u in &r.units {
        units.push(csv_line(&[
            u.id.to_string(),
            u.name.clone(),
            u.kind.as_str().into(),
            u.area.to_string(),
            opt(u.location.map(|[x, y]| format!("{x},{y}"))),
            u.administrative.to_string(),
            u.regulatory.to_string(),
            u.unit.to_string(),
        ]));
    }
    let mut rosters = vec!["area,person,date,shift".to_string()];
    for e in &r.rosters {
        rosters.push(csv_line(&[e.area.to_string(), e.person.to_string(), e.date.to_string(), e.shift.to_string()]));
    }
    std::fs::write(dir.join("areas.csv"), areas.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("persons.csv"), format!("\u{feff}{}\r\n", persons.join("\r\n"))).unwrap();
    std::fs::write(dir.join("units.csv"), units.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("rosters.csv"), rosters.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("README.txt"), "not a table: left alone").unwrap();
}

async fn every_format_lands_the_same_registry(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("名册.xlsx");
    demo_workbook(&xlsx);
    let out = import(db, &xlsx, false, false).await.unwrap();
    assert!(out.contains("30 persons") && out.contains("7 units") && out.contains("0 removed"), "{out}");
    let from_xlsx = stored(db).await;
    assert_same(&from_xlsx, &demo(), "numbers, dates and reordered columns read as the TOML says");

    // The same registry from TOML and from a folder of CSV files changes nothing.
    let again = import(db, &demo_toml(), false, false).await.unwrap();
    assert!(again.contains("0 added, 0 changed"), "{again}");
    let folder = dir.path().join("csv");
    std::fs::create_dir(&folder).unwrap();
    demo_csv_folder(&folder);
    let again = import(db, &folder, false, true).await.unwrap();
    assert!(again.contains("0 added, 0 changed") && again.contains("0 removed"), "{again}");
    assert_same(&stored(db).await, &demo(), "the CSV folder");

    // One CSV file alone is one table, checked against the stored areas.
    let one = dir.path().join("persons.csv");
    std::fs::write(
        &one,
        "id,name,mobile,roles,area,superior\np-new-grid,新网格员,139 0000 1234,grid,500105002001,p-leader-1\n",
    )
    .unwrap();
    let out = import(db, &one, false, false).await.unwrap();
    assert!(out.contains("1 added, 0 changed"), "{out}");
    let reg = stored(db).await;
    assert_eq!(reg.persons.len(), 31, "upserted: the others are kept");
    let new = jiaoying_core::PersonId::parse("p-new-grid").unwrap();
    assert_eq!(reg.person(&new).unwrap().mobile.as_str(), "+8613900001234");

    // Each real import is in the audit log.
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    let log = store.registry_changes("registry", 10).await.unwrap();
    store.close().await;
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log[0].note.as_deref().unwrap().starts_with("persons.csv: 1 added"), "{log:?}");
    assert_eq!((log[0].actor.as_str(), log[0].action.as_str()), ("cli", "registry_import"));
}
both_backends!(every_format_lands_the_same_registry);

/// Asserts that every needle is in the message.
fn assert_names(message: &str, needles: &[&str]) {
    for n in needles {
        assert!(message.contains(n), "{n:?} missing from:\n{message}");
    }
}

async fn every_bad_row_is_named_with_file_sheet_and_row_and_nothing_changes(db: &TestDb) {
    import(db, &demo_toml(), false, false).await.unwrap();
    let before = stored(db).await;
    let dir = tempfile::tempdir().unwrap();

    // A workbook with one problem of each kind, on known rows.
    let xlsx = dir.path().join("bad.xlsx");
    let person = |id: &str, mobile: Cell, area: &str, sup: &str| {
        vec![text(id), text(format!("名{id}")), mobile, text("grid"), text(area), text(sup)]
    };
    workbook(
        &xlsx,
        &[
            (
                "persons",
                vec!["id", "name", "mobile", "roles", "area", "superior"],
                vec![
                    person("p-x1", Cell::Number(13800009001.0), "500105002001", ""), // row 2: good
                    person("p-x2", text("1380000"), "500105002001", ""),             // row 3: bad mobile
                    person("p-x3", text("13800009003"), "500105009999", ""),         // row 4: unknown area
                    person("p-x4", text("13800009004"), "500105002001", "p-nobody"), // row 5: unknown superior
                    person("p-x5", text("13800009005"), "500105002001", "p-x6"),     // row 6: cycle
                    person("p-x6", text("13800009006"), "500105002001", "p-x5"),     // row 7: cycle
                    person("p-x1", text("13800009001"), "500105002001", ""),         // row 8: duplicate
                ],
            ),
            (
                "units",
                vec!["id", "name", "kind", "area", "administrative", "regulatory", "unit"],
                vec![
                    vec![
                        text("u-x1"),
                        text("某工地"),
                        text("construction"),
                        text("500105002001"),
                        text("p-x1"),
                        text(""),
                        text("p-x1"),
                    ], // row 2: missing its regulatory person
                    vec![
                        text("u-x2"),
                        text("某工地二"),
                        text("spaceport"),
                        text("500105002001"),
                        text("p-x1"),
                        text("p-x1"),
                        text("p-ghost"),
                    ], // row 3: bad kind, unknown unit person
                ],
            ),
            (
                "rosters",
                vec!["area", "person", "date", "shift"],
                vec![
                    vec![text("500105002"), text("p-x1"), text("2026-02-30"), text("08:00-20:00")], // row 2
                    vec![text("500105002"), text("p-x1"), Cell::Date(2026, 7, 1), text("8点-20点")], // row 3
                ],
            ),
        ],
    );
    let err = format!("{:#}", import(db, &xlsx, false, false).await.unwrap_err());
    assert_names(
        &err,
        &[
            "nothing was changed",
            "bad.xlsx, sheet persons, row 3: person p-x2: bad mobile",
            "bad.xlsx, sheet persons, row 4: person p-x3: unknown area 500105009999",
            "bad.xlsx, sheet persons, row 5: person p-x4: unknown superior p-nobody",
            "bad.xlsx, sheet persons, row 6: person p-x5: superior chain forms a cycle",
            "bad.xlsx, sheet persons, row 7: person p-x6: superior chain forms a cycle",
            "bad.xlsx, sheet persons, row 8: person p-x1: duplicate person id (first at bad.xlsx, sheet persons, row 2)",
            "bad.xlsx, sheet units, row 2: unit u-x1: no regulatory responsible person",
            "bad.xlsx, sheet units, row 3: unit u-x2: bad kind: unknown unit kind \"spaceport\"",
            "bad.xlsx, sheet rosters, row 2: roster 500105002 2026-02-30 08:00-20:00: bad date",
            "bad.xlsx, sheet rosters, row 3: roster 500105002 2026-07-01 8点-20点: bad shift",
        ],
    );
    assert!(!err.contains("row 2: person p-x1"), "the good row is not blamed: {err}");

    // CSV: one file, its rows named.
    let csv = dir.path().join("units.csv");
    std::fs::write(
        &csv,
        "id,name,kind,area,location,administrative,regulatory,unit\n\
         u-y1,某医院,hospital,500105002001,\"106.5,29.5\",p-adm-1,p-nobody,p-unit-1\n\
         u-y2,某学校,school,500105002001,north,p-adm-1,p-reg-1,\n",
    )
    .unwrap();
    let err = format!("{:#}", import(db, &csv, false, false).await.unwrap_err());
    assert_names(
        &err,
        &[
            "units.csv, row 2: unit u-y1: unknown regulatory responsible person p-nobody",
            "units.csv, row 3: unit u-y2: bad location",
            "units.csv, row 3: unit u-y2: no unit responsible person",
        ],
    );

    // TOML: each bad entry with its number and line.
    let toml = dir.path().join("bad.toml");
    std::fs::write(
        &toml,
        "[[persons]]\nid = \"p-z1\"\nname = \"甲\"\nmobile = \"12\"\nroles = [\"grid\"]\narea = \"500105002001\"\n",
    )
    .unwrap();
    let err = format!("{:#}", import(db, &toml, false, false).await.unwrap_err());
    assert_names(&err, &["bad.toml, [[persons]] #1, line 1: person p-z1: invalid mobile number \"12\""]);

    // A name that is no table, and a folder without tables.
    let odd = dir.path().join("people.csv");
    std::fs::write(&odd, "id\n").unwrap();
    let err = format!("{:#}", import(db, &odd, false, false).await.unwrap_err());
    assert_names(&err, &["people.csv: a CSV file is named after its table"]);

    assert_eq!(stored(db).await, before, "no bad import changed anything");
}
both_backends!(every_bad_row_is_named_with_file_sheet_and_row_and_nothing_changes);

async fn a_dry_run_names_what_would_change_and_changes_nothing(db: &TestDb) {
    import(db, &demo_toml(), false, false).await.unwrap();
    let before = stored(db).await;
    let dir = tempfile::tempdir().unwrap();
    // The demo's persons, with one mobile changed, one person new and the rest left out.
    let keep: Vec<_> = before.persons.iter().take(3).cloned().collect();
    let mut lines = vec!["id,name,mobile,email,roles,area,superior".to_string()];
    for (i, p) in keep.iter().enumerate() {
        let mobile = if i == 1 { "+8613700000777".to_string() } else { p.mobile.to_string() };
        let roles = p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(";");
        let sup = p.superior.as_ref().map(|s| s.to_string()).unwrap_or_default();
        lines.push(csv_line(&[
            p.id.to_string(),
            p.name.clone(),
            mobile,
            p.email.clone().unwrap_or_default(),
            roles,
            p.area.to_string(),
            sup,
        ]));
    }
    lines.push("p-brand-new,新人,13700000888,,grid,500105002001,".into());
    let file = dir.path().join("persons.csv");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let out = import(db, &file, true, false).await.unwrap();
    let kept = before.persons.len() - 3;
    assert_names(
        &out,
        &[
            "dry run",
            "nothing was changed",
            "persons: 1 added (p-brand-new)",
            &format!("1 changed ({})", keep[1].id),
            "2 unchanged",
            &format!("{kept} stored but not in the file, kept ("),
        ],
    );
    assert!(!out.contains("units:") && !out.contains("areas:"), "only the file's table: {out}");

    // With --replace, the dry run names the removals, and the import is refused: the removed
    // persons are still named by units, rosters and superiors (each named as stored).
    let out = import(db, &file, true, true).await.unwrap_err();
    let msg = format!("{out:#}");
    assert_names(&msg, &["stored registry: unit", "(after this import)", "nothing was changed"]);
    assert_eq!(stored(db).await, before, "dry runs and refused imports change nothing");

    // A replace that leaves nothing dangling: the dry run lists what goes, the import does it.
    let units = dir.path().join("units.csv");
    let u = &before.units[0];
    std::fs::write(
        &units,
        format!(
            "id,name,kind,area,location,administrative,regulatory,unit\n{},{},{},{},,{},{},{}\n",
            u.id,
            u.name,
            u.kind.as_str(),
            u.area,
            u.administrative,
            u.regulatory,
            u.unit
        ),
    )
    .unwrap();
    let out = import(db, &units, true, true).await.unwrap();
    let removed: Vec<String> = before.units.iter().skip(1).map(|u| u.id.to_string()).collect();
    assert_names(&out, &[&format!("{} removed ({})", removed.len(), removed.join(", ")), "1 changed"]);
    assert_eq!(stored(db).await, before);
    let out = import(db, &units, false, true).await.unwrap();
    assert!(out.contains(&format!("{} removed", removed.len())), "{out}");
    let after = stored(db).await;
    assert_eq!(after.units.len(), 1);
    assert_eq!(after.units[0].location, None, "the file's empty location is the unit's now");
    assert_eq!(after.persons, before.persons, "other tables are not touched");
}
both_backends!(a_dry_run_names_what_would_change_and_changes_nothing);

async fn an_export_imported_again_changes_nothing(db: &TestDb) {
    import(db, &demo_toml(), false, false).await.unwrap();
    let before = stored(db).await;
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("registry.xlsx");
    let out = commands::export(&settings_for(db), &xlsx).await.unwrap();
    assert!(out.contains("30 persons") && out.contains("7 units"), "{out}");
    assert!(commands::export(&settings_for(db), &dir.path().join("r.csv")).await.is_err(), "XLSX only");

    // The workbook has the import's sheets and columns.
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    assert_eq!(book.sheet_names(), ["areas", "persons", "units", "rosters"]);
    let persons = book.worksheet_range("persons").unwrap();
    let header: Vec<String> = persons.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(header, ["id", "name", "mobile", "email", "roles", "area", "superior"]);
    assert_eq!(persons.rows().count(), 31);

    let out = import(db, &xlsx, true, true).await.unwrap();
    assert!(out.contains("it would change nothing"), "{out}");
    let out = import(db, &xlsx, false, true).await.unwrap();
    assert!(out.contains("0 added, 0 changed") && out.contains("0 removed"), "{out}");
    assert_eq!(stored(db).await, before);
    for t in Table::ALL {
        assert!(out.contains(&format!("{t}: ")), "{t} compared: {out}");
    }
}
both_backends!(an_export_imported_again_changes_nothing);

#[test]
fn check_config_names_each_offending_unit_and_person() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("registry");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("areas.csv"), "code,name\n500105002,街道\n").unwrap();
    std::fs::write(
        folder.join("persons.csv"),
        "id,name,mobile,roles,area,superior\n\
         p-a,甲,13800000001,grid,500105002,p-nobody\n\
         p-b,乙,13800000002,grid,500105009,\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("units.csv"),
        "id,name,kind,area,administrative,regulatory,unit\nu-1,学校,school,500105002,p-a,p-ghost,p-b\nu-2,医院,hospital,500105002,p-a,p-a,\n",
    )
    .unwrap();
    let settings: Settings = toml::from_str(&format!("registry = \"{}\"", folder.display())).unwrap();
    let (report, failed) = commands::check_config(&settings);
    assert!(failed, "{report}");
    let lines: Vec<&str> = report.lines().filter(|l| l.starts_with("error: registry")).collect();
    assert_eq!(lines.len(), 4, "one line per problem: {report}");
    for needle in [
        "persons.csv, row 2: person p-a: unknown superior p-nobody",
        "persons.csv, row 3: person p-b: unknown area 500105009",
        "units.csv, row 2: unit u-1: unknown regulatory responsible person p-ghost",
        "units.csv, row 3: unit u-2: no unit responsible person",
    ] {
        assert!(lines.iter().any(|l| l.contains(needle)), "{needle:?} missing from:\n{report}");
    }

    // The shipped demo registry as a workbook is as good as the TOML.
    let xlsx = dir.path().join("registry.xlsx");
    demo_workbook(&xlsx);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut shipped = Settings::load(Some(&root.join("config/jiaoying.toml"))).unwrap();
    shipped.registry = Some(xlsx);
    let (report, failed) = commands::check_config(&shipped);
    assert!(!failed && report.contains("config OK"), "{report}");
}
