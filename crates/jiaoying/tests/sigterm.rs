//! The real binary stopped with SIGTERM in the middle of a fan-out through a slow gateway
//! (issue 8): it exits 0 within `server.shutdown_grace`, leaves no message `sending` (what it had
//! claimed and not sent is back in the queue), and after a restart every person gets their
//! message exactly once. And when a send hangs past the grace period, the process exits anyway,
//! the hung message goes back to the queue marked interrupted, and the restart sends it.

use std::process::Stdio;
use std::time::Duration;

use jiaoying_store::INTERRUPTED_SEND;
use jiaoying_tests::db::{Backend, TestDb};
use jiaoying_tests::gateway::Gateway;
use tokio::process::{Child, Command};
use tokio::time::Instant;

const SOURCE_TOKEN: &str = "sigterm-source-token-0123456789";
const PERSONS: usize = 30;

fn mobile(i: usize) -> String {
    format!("+86139000{i:05}")
}

fn config(db: &TestDb, gateway: &Gateway, port: u16, grace: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let registry = dir.join("registry.toml");
    let mut reg = String::from("[[areas]]\ncode = \"500105002\"\nname = \"街道\"\n");
    for i in 0..PERSONS {
        reg.push_str(&format!(
            "[[persons]]\nid = \"p-{i}\"\nname = \"网格员{i}\"\nmobile = \"{}\"\nroles = [\"grid\"]\narea = \"500105002\"\n",
            mobile(i)
        ));
    }
    std::fs::write(&registry, reg).unwrap();
    let path = dir.join("jiaoying.toml");
    std::fs::write(
        &path,
        format!(
            r#"
registry = "{registry}"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
shutdown_grace = "{grace}"
[database]
url = "{db}"
[security]
secret = "sigterm-secret-for-answer-links"
[tracker]
poll_backstop = "200ms"
[outbox]
# Long: a claim left behind would hold its message past the test's patience, so the restart
# reaching everyone shows the claims were returned, not waited out.
lease = "5m"
[[sources]]
id = "cma"
token = "{SOURCE_TOKEN}"
[channels.sms]
kind = "sms-webhook"
url = "{gw}"
secret = "{secret}"
concurrency = 2
[policy.red]
roles = ["grid"]
channels = ["sms"]
answer_within = "1h"
repeats = 0
escalate = false
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
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
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

async fn post_alert(port: u16) {
    let alert = serde_json::json!({"identifier": "term-1", "sender": "cma", "sent": "2026-07-01T08:00:00+08:00",
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

/// SIGTERM, then the time until the process is gone and whether it exited 0.
async fn terminate(child: &mut Child) -> (Duration, bool) {
    let pid = child.id().expect("running").to_string();
    let sent = Instant::now();
    let ok = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success();
    assert!(ok, "kill -TERM {pid} failed");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("exited").expect("wait");
    (sent.elapsed(), status.success())
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every person got exactly one message.
fn assert_everyone_once(gateway: &Gateway) {
    let mut to: Vec<String> = gateway.received().iter().map(|m| m.to().to_string()).collect();
    to.sort();
    let mut want: Vec<String> = (0..PERSONS).map(mobile).collect();
    want.sort();
    assert_eq!(to, want, "each person once, nobody missing, nobody twice");
}

async fn slow_gateway_story(backend: Backend) -> Option<TestDb> {
    let db = TestDb::fresh(backend).await?;
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    // 30 messages, two at a time, 400 ms each: some 6 s of sending; stopped after the first few.
    gateway.set_delay(Duration::from_millis(400));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(&db, &gateway, port, "5s", dir.path());
    let mut child = start(&cfg, port).await;
    post_alert(port).await;
    wait_until("the fan-out is under way", || gateway.received().len() >= 4).await;

    let (took, ok) = terminate(&mut child).await;
    assert!(ok, "exit status 0 after SIGTERM");
    assert!(took < Duration::from_secs(5) + Duration::from_secs(2), "gone within the grace period: {took:?}");

    let store = jiaoying_store::connect(&db.url).await.unwrap();
    let messages = store.messages_of_alert(1).await.unwrap();
    assert_eq!(messages.len(), PERSONS);
    let by_state = |s: &str| messages.iter().filter(|m| m.state == s).count();
    assert_eq!(by_state("sending"), 0, "claims returned: {messages:#?}");
    assert!(by_state("queued") > 0, "stopped mid fan-out, not after it: {messages:#?}");
    // What reached the gateway was recorded (sends in flight were finished, not dropped), and
    // nothing else was.
    assert_eq!(by_state("sent"), gateway.received().len(), "{messages:#?}");
    assert_eq!(by_state("sent") + by_state("queued"), PERSONS, "{messages:#?}");
    store.close().await;

    let mut child = start(&cfg, port).await;
    wait_until("every person has a message", || gateway.received().len() >= PERSONS).await;
    let store = jiaoying_store::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = store.messages_of_alert(1).await.unwrap();
        if messages.iter().all(|m| m.state == "sent") {
            // Returned unsent, a message's claim did not count as an attempt.
            assert!(messages.iter().all(|m| m.attempts == 1), "{messages:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "not all recorded sent: {messages:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;
    let (_, ok) = terminate(&mut child).await;
    assert!(ok);
    assert_everyone_once(&gateway);
    Some(db)
}

async fn hung_gateway_story(backend: Backend) -> Option<TestDb> {
    let db = TestDb::fresh(backend).await?;
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    gateway.set_hang(true);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The channel's request timeout (10 s) is longer than the grace period.
    let cfg = config(&db, &gateway, port, "2s", dir.path());
    let mut child = start(&cfg, port).await;
    post_alert(port).await;
    wait_until("two sends hang at the gateway", || gateway.requests() >= 2).await;

    let (took, ok) = terminate(&mut child).await;
    assert!(ok, "exit status 0 after SIGTERM, even past the grace period");
    assert!(took < Duration::from_secs(2) + Duration::from_secs(2), "gone soon after the grace period: {took:?}");

    let store = jiaoying_store::connect(&db.url).await.unwrap();
    let messages = store.messages_of_alert(1).await.unwrap();
    assert_eq!(messages.iter().filter(|m| m.state == "sending").count(), 0, "claims returned: {messages:#?}");
    let interrupted = messages.iter().filter(|m| m.last_error.as_deref() == Some(INTERRUPTED_SEND)).count();
    assert_eq!(interrupted, 2, "the two hung sends are marked for a provider check: {messages:#?}");
    assert!(messages.iter().all(|m| m.state == "queued"), "{messages:#?}");
    store.close().await;

    gateway.set_hang(false);
    let mut child = start(&cfg, port).await;
    wait_until("every person has a message", || gateway.received().len() >= PERSONS).await;
    let (_, ok) = terminate(&mut child).await;
    assert!(ok);
    assert_everyone_once(&gateway);
    Some(db)
}

mod sigterm_mid_fan_out_returns_claims_and_loses_nobody {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        slow_gateway_story(Backend::Sqlite).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        let Some(db) = slow_gateway_story(Backend::Postgres).await else {
            eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
            return;
        };
        db.cleanup().await;
        jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
    }
}

mod sigterm_with_a_hung_send_exits_after_the_grace_period {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        hung_gateway_story(Backend::Sqlite).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        let Some(db) = hung_gateway_story(Backend::Postgres).await else {
            eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
            return;
        };
        db.cleanup().await;
        jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
    }
}
