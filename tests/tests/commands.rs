//! The CLI commands behind `import`, `check-config` and `token add`, on both backends.

use std::path::PathBuf;

use jiaoying::commands;
use jiaoying::Settings;
use jiaoying_tests::{both_backends, TestDb};

fn settings_for(db: &TestDb, extra: &str) -> Settings {
    toml::from_str(&format!(
        "[database]\nurl = \"{}\"\n[channels.console]\nkind = \"console\"\npath = \"/dev/null\"\n{extra}",
        db.url
    ))
    .expect("settings")
}

fn demo_registry() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/registry.toml")
}

/// A registry with one problem of each kind the importer must name.
const BAD_REGISTRY: &str = r#"
[[areas]]
code = "500105002"
name = "街道"
[[persons]]
id = "p-a"
name = "甲"
mobile = "13800000001"
roles = ["grid"]
area = "500105002"
superior = "p-nobody"
[[persons]]
id = "p-b"
name = "乙"
mobile = "13800000002"
roles = ["grid"]
area = "500105009"
[[units]]
id = "u-1"
name = "学校"
kind = "school"
area = "500105002"
administrative = "p-a"
regulatory = "p-ghost"
unit = "p-b"
"#;

async fn import_is_all_or_nothing(db: &TestDb) {
    let settings = settings_for(db, "");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, BAD_REGISTRY).unwrap();
    let err = format!("{:#}", commands::import(&settings, &bad).await.unwrap_err());
    for needle in [
        "person p-a: unknown superior p-nobody",
        "person p-b: unknown area 500105009",
        "unit u-1: unknown regulatory responsible person p-ghost",
        "bad.toml",
        "nothing was changed",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.load_registry().await.unwrap().persons.is_empty(), "a bad import changes nothing");

    let out = commands::import(&settings, &demo_registry()).await.unwrap();
    assert!(out.contains("30 persons") && out.contains("7 units"), "{out}");
    let reg = store.load_registry().await.unwrap();
    assert_eq!(reg.persons.len(), 30);
    // Importing the same file again changes nothing.
    let again = commands::import(&settings, &demo_registry()).await.unwrap();
    assert!(again.contains("0 added, 0 changed"), "{again}");
    store.close().await;
}
both_backends!(import_is_all_or_nothing);

async fn a_token_is_printed_once_and_stored_only_as_a_hash(db: &TestDb) {
    let settings = settings_for(db, "");
    let out = commands::token_add(&settings, "script", "viewer").await.unwrap();
    let token = out.lines().last().unwrap().trim().to_string();
    assert!(token.starts_with("jy_") && token.len() > 40, "{out}");
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    let info = store.api_token(&hash).await.unwrap().expect("stored by hash");
    assert_eq!((info.name.as_str(), info.role.as_str()), ("script", "viewer"));
    assert!(store.api_token(&token).await.unwrap().is_none(), "the token itself is not a key");
    assert!(commands::token_add(&settings, "x", "superuser").await.is_err());
    store.close().await;
}
both_backends!(a_token_is_printed_once_and_stored_only_as_a_hash);

#[test]
fn check_config_accepts_the_shipped_config_and_names_each_problem() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut shipped = Settings::load(Some(&root.join("config/jiaoying.toml"))).unwrap();
    shipped.registry = Some(demo_registry());
    let (report, failed) = commands::check_config(&shipped);
    assert!(!failed, "{report}");
    assert!(report.contains("config OK") && report.contains("security.secret is the placeholder"), "{report}");

    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("registry.toml");
    std::fs::write(&reg, BAD_REGISTRY).unwrap();
    let bad: Settings = toml::from_str(&format!(
        r#"
        registry = "{}"
        [[sources]]
        id = "cma"
        token = "short"
        [channels.sms]
        kind = "sms-webhook"
        secret = "do-not-print-this-secret"
        [policy.red]
        roles = ["grid"]
        channels = ["voice"]
        answer_within = "5m"
        "#,
        reg.display()
    ))
    .unwrap();
    let (report, failed) = commands::check_config(&bad);
    assert!(failed);
    for needle in ["channel sms", "url", "policy.red", "\"voice\"", "sources.cma", "unknown superior p-nobody"] {
        assert!(report.contains(needle), "{needle:?} missing from: {report}");
    }
    assert!(!report.contains("do-not-print-this-secret"), "{report}");
}

/// `serve` starts without a registry file that is not there (it is loaded when present), so
/// `check-config` warns about it and, nothing else being wrong, passes.
#[test]
fn check_config_warns_of_a_missing_registry_file_and_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut settings = Settings::load(Some(&root.join("config/jiaoying.toml"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("registry.toml");
    settings.registry = Some(missing.clone());
    let (report, failed) = commands::check_config(&settings);
    assert!(!failed, "{report}");
    let warning = format!("warning: registry file {} does not exist", missing.display());
    assert!(report.contains(&warning) && report.contains("config OK"), "{report}");
    assert!(!report.contains("error:"), "{report}");
}
