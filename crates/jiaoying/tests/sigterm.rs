//! The real binary stopped with SIGTERM in the middle of a fan-out through a slow gateway
//! (issue 8): it exits 0 within `server.shutdown_grace`, leaves no message `sending` (what it had
//! claimed and not sent is back in the queue), and after a restart every person gets their
//! message exactly once. And when a send hangs past the grace period, the process exits anyway,
//! the hung message goes back to the queue marked interrupted, and the restart sends it.

mod common;

use std::time::Duration;

use common::{binary_story, free_port, messages_when, post_alert, start, wait_until, write_config};
use jiaoying_store::INTERRUPTED_SEND;
use jiaoying_tests::db::{Backend, TestDb};
use jiaoying_tests::gateway::Gateway;
use tokio::process::Child;
use tokio::time::Instant;

const PERSONS: usize = 30;

fn mobile(i: usize) -> String {
    format!("+86139000{i:05}")
}

/// PERSONS grid workers, messaged two at a time, none repeated; `grace` to finish on SIGTERM.
fn config(db: &TestDb, gateway: &Gateway, port: u16, grace: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let mut registry = String::from("[[areas]]\ncode = \"500105002\"\nname = \"街道\"\n");
    for i in 0..PERSONS {
        registry.push_str(&format!(
            "[[persons]]\nid = \"p-{i}\"\nname = \"网格员{i}\"\nmobile = \"{}\"\nroles = [\"grid\"]\narea = \"500105002\"\n",
            mobile(i)
        ));
    }
    let overrides = format!(
        r#"
[server]
shutdown_grace = "{grace}"
[outbox]
# Long: a claim left behind would hold its message past the test's patience, so the restart
# reaching everyone shows the claims were returned, not waited out.
lease = "5m"
[channels.sms]
concurrency = 2
[policy.red]
answer_within = "1h"
repeats = 0
escalate = false
"#
    );
    write_config(dir, db, gateway, port, &registry, &overrides)
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
    post_alert(port, "term-1").await;
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
    let messages = messages_when(&db, "all are recorded sent", |ms| ms.iter().all(|m| m.state == "sent")).await;
    // Returned unsent, a message's claim did not count as an attempt.
    assert!(messages.iter().all(|m| m.attempts == 1), "{messages:#?}");
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
    post_alert(port, "term-1").await;
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

binary_story!(sigterm_mid_fan_out_returns_claims_and_loses_nobody, slow_gateway_story);
binary_story!(sigterm_with_a_hung_send_exits_after_the_grace_period, hung_gateway_story);
