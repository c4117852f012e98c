//! The real binary as an operator runs it, for the tests that stop it from outside (`sigterm.rs`,
//! `kill9.rs`): a config and a registry written to a temp dir, `jiaoying serve` started on a free
//! port and waited on until `/readyz` says ready, an alert posted, and the messages watched in
//! the database. Each story's config is the base here with its own settings merged over it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use jiaoying_store::MessageRow;
use jiaoying_tests::db::TestDb;
use jiaoying_tests::gateway::Gateway;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The bearer token of the one alert source, `cma`.
pub const SOURCE_TOKEN: &str = "binary-source-token-0123456789";

/// How long the helpers wait for what the binary should do soon.
const PATIENCE: Duration = Duration::from_secs(30);

/// Writes `registry` (TOML) and the config into `dir` and returns the config's path. The config
/// is the base (the database, the gateway as channel `sms`, one source, a red policy calling the
/// `grid` role by SMS) with `overrides` (TOML: a story's grace period, lease and timings) merged
/// over it, table by table.
pub fn write_config(dir: &Path, db: &TestDb, gateway: &Gateway, port: u16, registry: &str, overrides: &str) -> PathBuf {
    let registry_path = dir.join("registry.toml");
    std::fs::write(&registry_path, registry).unwrap();
    let base = format!(
        r#"
registry = "{registry}"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
[database]
url = "{db}"
[security]
secret = "binary-test-secret-for-answer-links"
[tracker]
poll_backstop = "200ms"
[[sources]]
id = "cma"
token = "{SOURCE_TOKEN}"
[channels.sms]
kind = "sms-webhook"
url = "{gw}"
secret = "{secret}"
[policy.red]
roles = ["grid"]
channels = ["sms"]
"#,
        registry = registry_path.display(),
        db = db.url,
        gw = gateway.url(),
        secret = jiaoying_tests::app::SMS_SECRET,
    );
    let mut config: toml::Table = base.parse().expect("the base config");
    merge(&mut config, overrides.parse().expect("the story's config"));
    let path = dir.join("jiaoying.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path
}

/// `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `jiaoying serve --config CONFIG` and returns once `/readyz` on `port` says ready (the
/// binary migrates and loads the registry first).
pub async fn start(config: &Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_jiaoying"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start jiaoying");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
            if r.status().is_success() {
                return child;
            }
        }
        assert!(Instant::now() < deadline, "jiaoying did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts a red rainstorm alert for area 500105002 as source `cma`; it must be accepted.
pub async fn post_alert(port: u16, identifier: &str) {
    let alert = serde_json::json!({"identifier": identifier, "sender": "cma", "sent": "2026-07-01T08:00:00+08:00",
        "event": "暴雨", "tier": "red", "headline": "暴雨红色预警", "areas": [{"code": "500105002"}]});
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/alerts"))
        .bearer_auth(SOURCE_TOKEN)
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
}

/// Waits until `cond` holds (what the gateway has seen), failing after a while with `what`.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The messages of the first alert once `done` holds for them, read from the database the binary
/// writes; fails after a while with `what`.
pub async fn messages_when(db: &TestDb, what: &str, done: impl Fn(&[MessageRow]) -> bool) -> Vec<MessageRow> {
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let messages = store.messages_of_alert(1).await.unwrap();
        if done(&messages) {
            store.close().await;
            return messages;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}: {messages:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A module `$name` with the story `$story(backend) -> Option<TestDb>` run on SQLite and on
/// PostgreSQL (skipped, loudly, when `JIAOYING_TEST_PG_URL` is not set), on two worker threads
/// so that the loopback gateway keeps answering while a test blocks briefly (sending a signal).
macro_rules! binary_story {
    ($name:ident, $story:ident) => {
        mod $name {
            use jiaoying_tests::db::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$story(Backend::Sqlite).await.unwrap();
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let Some(db) = super::$story(Backend::Postgres).await else {
                    eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
                    return;
                };
                db.cleanup().await;
                jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
            }
        }
    };
}
pub(crate) use binary_story;
