//! The real binary killed with SIGKILL while deadlines are pending: after a restart every due
//! action happens, once. This test runs on the wall clock (the binary's clock is the system's), so
//! its deadline is two seconds; it waits on the gateway's messages, never on a sleep.

mod common;

use common::{binary_story, free_port, messages_when, post_alert, start, wait_until, write_config};
use jiaoying_tests::db::{Backend, TestDb};
use jiaoying_tests::gateway::Gateway;
use tokio::process::Child;

/// A grid worker and the leader above: the red call repeats once after 2 s, then escalates.
fn config(db: &TestDb, gateway: &Gateway, port: u16, dir: &std::path::Path) -> std::path::PathBuf {
    let registry = r#"
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
"#;
    let overrides = r#"
[outbox]
# Short, so that the claim a kill leaves behind runs out soon after the restart; longer than a
# request to the gateway may take, as the config requires.
lease = "4s"
[channels.sms]
timeout_secs = 3
[policy.red]
answer_within = "2s"
repeats = 1
escalate = true
"#;
    write_config(dir, db, gateway, port, registry, overrides)
}

/// SIGKILL: no shutdown, no flush.
async fn kill(child: &mut Child) {
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

async fn story(backend: Backend) -> Option<TestDb> {
    let db = TestDb::fresh(backend).await?;
    let gateway = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(&db, &gateway, port, dir.path());
    let mut child = start(&cfg, port).await;

    post_alert(port, "k9").await;
    gateway.wait_for(1).await;
    // Killed after the first message is recorded as sent: this story is about the timers. (A
    // kill between the gateway's acceptance and the record resends it, at-least-once, which
    // `killed_mid_send_the_message_is_sent_after_restart` covers.)
    messages_when(&db, "the first message is recorded", |ms| ms.iter().all(|m| m.state == "sent")).await;

    // The pending deadline is in the database only.
    kill(&mut child).await;
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
    kill(&mut child).await;
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
    post_alert(port, "k9-mid").await;
    // The request is at the gateway, which holds it unanswered.
    wait_until("the message reaches the gateway", || gateway.requests() > 0).await;
    kill(&mut child).await;
    // The message at the gateway: claimed, its outcome never recorded. (The call's repeat, due
    // at its deadline, may go out before this claim's lease runs out: it is not the one.)
    let claimed = messages_when(&db, "the message is claimed", |ms| ms.iter().any(|m| m.state == "sending")).await;
    let held = claimed.iter().find(|m| m.state == "sending").expect("the claimed message").id;
    gateway.set_hang(false);
    let mut child = start(&cfg, port).await;
    wait_until("the message is sent again", || gateway.received().iter().any(|m| m.id() == held.to_string())).await;
    let got = gateway.received();
    let again = got.iter().find(|m| m.id() == held.to_string()).expect("sent again");
    assert_eq!(again.to(), "+8613900000004");
    assert!(again.text().contains("暴雨"), "{got:?}");
    let messages =
        messages_when(&db, "the resent message is recorded", |ms| ms.iter().any(|m| m.id == held && m.state == "sent"))
            .await;
    let first = messages.iter().find(|m| m.id == held).expect("the message");
    assert_eq!(first.attempts, 2, "claimed once before the kill and once after: {first:?}");
    kill(&mut child).await;
    Some(db)
}

binary_story!(killed_mid_send_the_message_is_sent_after_restart, mid_send_story);
binary_story!(after_sigkill_every_due_action_happens_once, story);
