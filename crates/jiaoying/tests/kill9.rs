//! The real binary killed with SIGKILL while deadlines are pending: after a restart every due
//! action happens, once. This test runs on the wall clock (the binary's clock is the system's), so
//! its deadline is two seconds; it waits on the gateway's messages, never on a sleep.

use std::process::Stdio;
use std::time::Duration;

use jiaoying_tests::db::{Backend, TestDb};
use jiaoying_tests::gateway::Gateway;
use tokio::process::{Child, Command};

const SOURCE_TOKEN: &str = "kill9-source-token-0123456789";

fn config(db: &TestDb, gateway: &Gateway, port: u16, dir: &std::path::Path) -> std::path::PathBuf {
    let registry = dir.join("registry.toml");
    std::fs::write(
        &registry,
        r#"
[[areas]]
code = "500105002"
name = "街道"
[[persons]]
id = "p-leader"
name = "街道主任"
mobile = "+8613900000001"
roles = ["leader"]
area = "500105002"
[[persons]]
id = "p-grid"
name = "网格员"
mobile = "+8613900000004"
roles = ["grid"]
area = "500105002"
superior = "p-leader"
"#,
    )
    .unwrap();
    let path = dir.join("jiaoying.toml");
    std::fs::write(
        &path,
        format!(
            r#"
registry = "{registry}"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
[database]
url = "{db}"
[security]
secret = "kill9-secret-for-answer-links"
[tracker]
poll_backstop = "200ms"
[outbox]
lease = "1s"
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
answer_within = "2s"
repeats = 1
escalate = true
"#,
            registry = registry.display(),
            db = db.url,
            gw = gateway.url(),
            secret = jiaoying_tests::app::SMS_SECRET,
        ),
    )
    .unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(config: &std::path::Path, port: u16) -> Child {
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
    // Ready when /readyz says so (the binary migrates and loads the registry first).
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
            if r.status().is_success() {
                return child;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "jiaoying did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn story(backend: Backend) -> Option<TestDb> {
    let db = TestDb::fresh(backend).await?;
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(&db, &gateway, port, dir.path());
    let mut child = start(&cfg, port).await;

    let alert = serde_json::json!({"identifier": "k9", "sender": "cma", "sent": "2026-07-01T08:00:00+08:00",
        "event": "暴雨", "tier": "red", "headline": "暴雨红色预警", "areas": [{"code": "500105002"}]});
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/alerts"))
        .bearer_auth(SOURCE_TOKEN)
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    gateway.wait_for(1).await;
    // Killed after the first message is recorded as sent: this story is about the timers. (A
    // kill between the gateway's acceptance and the record resends it, at-least-once, which
    // `killed_mid_send_the_message_is_sent_after_restart` covers.)
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.messages_of_alert(1).await.unwrap().iter().any(|m| m.state != "sent") {
        assert!(tokio::time::Instant::now() < deadline, "the first message was never recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.close().await;

    // SIGKILL: no shutdown, no flush, pending deadline in the database only.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let mut child = start(&cfg, port).await;

    // The repeat (2 s) and then the escalation to the leader (2 s later) happen after the restart.
    let got = gateway.wait_for(3).await;
    let texts: Vec<&str> = got.iter().map(|m| m.text()).collect();
    assert!(texts[1].contains("第2次提醒"), "{texts:?}");
    assert_eq!(got[2].to(), "+8613900000001", "{texts:?}");
    assert!(got.iter().all(|m| m.signature_ok));
    // Once each: no duplicate of the first message or the repeat after the restart.
    let mut ids: Vec<&str> = got.iter().map(|m| m.id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "a message went out twice: {texts:?}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    Some(db)
}

/// Killed while a message is at the gateway and unanswered (mid-send): after the restart the
/// claim's lease runs out and the message is sent again (the generic webhook cannot be asked
/// whether it took it), recorded as sent, and its call moves on.
async fn mid_send_story(backend: Backend) -> Option<TestDb> {
    let db = TestDb::fresh(backend).await?;
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    gateway.set_hang(true);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(&db, &gateway, port, dir.path());
    let mut child = start(&cfg, port).await;
    let alert = serde_json::json!({"identifier": "k9-mid", "sender": "cma", "sent": "2026-07-01T08:00:00+08:00",
        "event": "暴雨", "tier": "red", "headline": "暴雨红色预警", "areas": [{"code": "500105002"}]});
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/alerts"))
        .bearer_auth(SOURCE_TOKEN)
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    // The request is at the gateway, which holds it unanswered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while gateway.requests() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the message never reached the gateway");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    gateway.set_hang(false);
    let mut child = start(&cfg, port).await;
    let got = gateway.wait_for(1).await;
    assert_eq!(got[0].to(), "+8613900000004");
    assert!(got[0].text().contains("暴雨"), "{got:?}");
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let messages = store.messages_of_alert(1).await.unwrap();
        let first = messages.iter().find(|m| m.id.to_string() == got[0].id()).expect("the message");
        if first.state == "sent" {
            assert_eq!(first.attempts, 2, "claimed once before the kill and once after");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the resent message was never recorded: {first:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    Some(db)
}

mod killed_mid_send_the_message_is_sent_after_restart {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        mid_send_story(Backend::Sqlite).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        let Some(db) = mid_send_story(Backend::Postgres).await else {
            eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
            return;
        };
        db.cleanup().await;
        jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
    }
}

mod after_sigkill_every_due_action_happens_once {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        story(Backend::Sqlite).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        let Some(db) = story(Backend::Postgres).await else {
            eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
            return;
        };
        db.cleanup().await;
        jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
    }
}
