//! The outbox under gateway faults, black-box on both backends: a gateway that fails 30 % of
//! requests, one that never answers, one that is down. Every person must still be reached
//! (through retries or the fallback channel), nothing lost, and nothing the gateway accepted sent
//! to it again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiaoying_core::Span;
use jiaoying_tests::app::{GRID, HEAD, REG, UNIT};
use jiaoying_tests::gateway::{Gateway, GatewaySms};
use jiaoying_tests::{red_alert, spawn_app_custom, Backend, TestApp};
use reqwest::StatusCode;

/// The persons the test red alert calls, by mobile as the gateway sees it.
const CALLED: [(&str, &str); 4] = [GRID, HEAD, REG, UNIT];

fn mobile_digits(m: &str) -> String {
    m.trim_start_matches("+86").to_string()
}

/// Moves the clock in steps until every called person has an SMS at one of `gateways`, and
/// returns what each gateway received. The loop waits on the gateways' arrivals and on the
/// database, never on wall-clock sleeps alone; the overall limit only stops a hung test.
async fn drive_until_everyone_reached(app: &TestApp, gateways: &[&Gateway]) -> Vec<Vec<GatewaySms>> {
    let want: BTreeSet<String> = CALLED.iter().map(|(_, m)| mobile_digits(m)).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got: Vec<Vec<GatewaySms>> = gateways.iter().map(|g| g.received()).collect();
        let reached: BTreeSet<String> = got.iter().flatten().map(|s| mobile_digits(s.to())).collect();
        if want.is_subset(&reached) {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not everyone reached: want {want:?}, reached {reached:?}; sms gateway saw {} requests",
            gateways[0].requests()
        );
        // Retries are due a few (clock) seconds on; the breaker cools down in 30.
        app.advance(Span::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each message id the gateway accepted, accepted once.
fn assert_no_message_twice(received: &[GatewaySms]) {
    let mut seen = BTreeMap::new();
    for sms in received {
        assert!(sms.signature_ok, "every accepted message is signed: {sms:?}");
        *seen.entry(sms.id().to_string()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "messages the gateway had accepted were sent again: {twice:?}");
}

async fn post_red(app: &TestApp, id: &str) -> i64 {
    let (status, body) = app.post_alert(&red_alert(id)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().expect("alert id")
}

async fn a_flaky_gateway_still_reaches_everyone_once(backend: Backend) -> bool {
    let Some(app) = spawn_app_custom(backend, "", "").await else { return false };
    app.gateway.set_flaky(true);
    let alert_id = post_red(&app, "flaky-1").await;
    let got = drive_until_everyone_reached(&app, &[&app.gateway]).await;
    assert_no_message_twice(&got[0]);
    assert!(app.gateway.requests() > got[0].len(), "some requests failed and were retried");
    // The gateway has them; the outbox records each batch just after (polled briefly).
    for (person, _) in CALLED {
        app.call_reaches(alert_id, person, "sent").await;
    }
    app.finish().await;
    true
}

async fn a_hanging_gateway_trips_the_breaker_and_the_fallback_reaches_everyone(backend: Backend) -> bool {
    let backup = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    let extra = format!(
        "[channels.backup]\nkind = \"sms-webhook\"\nurl = \"{}\"\nsecret = \"{}\"\n",
        backup.url(),
        jiaoying_tests::app::SMS_SECRET
    );
    let Some(app) = spawn_app_custom(backend, "timeout_secs = 1\nfallback = [\"backup\"]", &extra).await else {
        return false;
    };
    app.gateway.set_hang(true);
    let alert_id = post_red(&app, "hang-1").await;
    let got = drive_until_everyone_reached(&app, &[&backup]).await;
    assert_no_message_twice(&got[0]);
    assert!(app.gateway.received().is_empty(), "the hanging gateway accepted nothing");
    for (person, _) in CALLED {
        app.call_reaches(alert_id, person, "sent").await;
    }
    // The failed messages say why, and their copies went through the fallback.
    let messages = app.handle.store.messages_of_alert(alert_id).await.unwrap();
    let failed_sms: Vec<_> = messages.iter().filter(|m| m.channel == "sms" && m.state == "failed").collect();
    assert!(!failed_sms.is_empty());
    for m in &failed_sms {
        let e = m.last_error.as_deref().unwrap_or("");
        assert!(e.contains("circuit open") || e.contains("gave up"), "{e}");
    }
    // Duty officers see every channel's queue: nothing left waiting on SMS or its fallback.
    let (status, body) = app.get_api("/api/v1/outbox").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let channels = body["channels"].as_array().expect("channels");
    for c in channels.iter().filter(|c| c["channel"] != "email") {
        assert_eq!(c["queued"], 0, "{body}");
    }
    let names: Vec<&str> = channels.iter().filter_map(|c| c["channel"].as_str()).collect();
    assert_eq!(names, ["backup", "email", "sms"], "{body}");
    app.finish().await;
    true
}

async fn a_gateway_that_is_down_fails_over(backend: Backend) -> bool {
    let backup = Gateway::start(jiaoying_tests::app::SMS_SECRET).await;
    // A port that was free a moment ago and now has nobody listening: connection refused.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let extra = format!(
        "[channels.backup]\nkind = \"sms-webhook\"\nurl = \"{}\"\nsecret = \"{}\"\n\
         [channels.down]\nkind = \"sms-webhook\"\nurl = \"http://{down}/sms\"\nsecret = \"x\"\nfallback = [\"backup\"]\n",
        backup.url(),
        jiaoying_tests::app::SMS_SECRET
    );
    let Some(app) = spawn_app_custom(backend, "", &extra).await else { return false };
    // One message per person queued on the down channel, as the tracker queues them.
    let mut tx = app.handle.store.begin().await.unwrap();
    for (i, (_, mobile)) in CALLED.iter().enumerate() {
        tx.insert_message(&jiaoying_store::NewMessage {
            alert_id: None,
            call_id: None,
            channel: "down".into(),
            recipient: mobile_digits(mobile),
            purpose: jiaoying_store::Purpose::Test,
            subject: format!("测试 {i}"),
            body: format!("【观音桥街道】通联测试 {i}"),
            code: None,
            link: None,
            now: jiaoying_core::Clock::now(&app.clock).millis(),
            priority: 0,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    app.handle.wake();
    let got = drive_until_everyone_reached(&app, &[&backup]).await;
    assert_no_message_twice(&got[0]);
    let texts: BTreeSet<&str> = got[0].iter().map(|s| s.text()).collect();
    assert_eq!(texts.len(), CALLED.len(), "each message arrived through the fallback: {texts:?}");
    app.finish().await;
    true
}

macro_rules! fault_story {
    ($story:ident) => {
        mod $story {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                assert!(super::$story(jiaoying_tests::Backend::Sqlite).await);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if super::$story(jiaoying_tests::Backend::Postgres).await {
                    jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
                } else {
                    eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
                }
            }
        }
    };
}

fault_story!(a_flaky_gateway_still_reaches_everyone_once);
fault_story!(a_hanging_gateway_trips_the_breaker_and_the_fallback_reaches_everyone);
fault_story!(a_gateway_that_is_down_fails_over);
