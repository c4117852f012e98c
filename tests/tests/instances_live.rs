//! Several instances on one PostgreSQL (issue 8): an answer taken by one instance reaches the
//! event stream (the boards' live view) of another at once, through LISTEN/NOTIFY, not at its
//! backstop poll; and instances starting at once on a fresh database migrate it once, all of
//! them successfully (sqlx's PostgreSQL migrator holds an advisory lock while it migrates).

use std::sync::Arc;
use std::time::Duration;

use jiaoying::Application;
use jiaoying_core::Span;
use jiaoying_tests::app::{API_TOKEN, GRID};
use jiaoying_tests::{red_alert, spawn_app, Backend, TestDb};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// The other instance's backstop poll: far longer than the wait below, so only a NOTIFY can
/// bring the answer in time.
const SLOW_POLL: Duration = Duration::from_secs(10);
const PROMPTLY: Duration = Duration::from_secs(3);

/// Reads `stream` until an SSE `call` event for `person` in `state`; its arrival time.
async fn next_event(
    stream: &mut reqwest::Response,
    buf: &mut String,
    person: &str,
    state: &str,
    until: Instant,
) -> Instant {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else { continue };
            let data: Value = serde_json::from_str(data).expect("event data is JSON");
            if data["person_id"] == person && data["state"] == state {
                return Instant::now();
            }
        }
        let chunk = tokio::time::timeout_at(until, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {state} event for {person} on the other instance's stream"))
            .expect("stream read")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_on_one_instance_reaches_the_stream_of_another_at_once_on_postgres() {
    let Some(mut a) = spawn_app(Backend::Postgres).await else {
        eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
        return;
    };
    // Instance B on the same database, its streams polling only every 10 s.
    let mut settings = a.settings();
    settings.server.events_poll = Span::from_millis(SLOW_POLL.as_millis() as i64);
    let b = Application::build(&settings, Arc::new(a.clock.clone())).await.expect("instance B builds");
    let b_address = format!("http://127.0.0.1:{}", b.port());
    let (stop_b, stopped) = oneshot::channel::<()>();
    let b_task = tokio::spawn(b.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let (status, body) = a.post_alert(&red_alert("live-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sms = a.gateway.wait_for(4).await;
    let code = sms.iter().find(|m| m.to() == GRID.1).and_then(|m| m.code()).expect("the grid's reply code").to_string();

    // A board on B, open from now on.
    let mut stream = a.client.get(format!("{b_address}/api/v1/events")).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut buf = String::new();

    // The answer is taken by A.
    let (status, reply) = a.sms_reply(GRID.1, &code).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let answered = Instant::now();
    let seen = next_event(&mut stream, &mut buf, GRID.0, "answered", answered + SLOW_POLL).await;
    let lag = seen - answered;
    assert!(lag < PROMPTLY, "the answer reached B's stream after {lag:?}: its poll, not a NOTIFY");

    drop(stream);
    let _ = stop_b.send(());
    b_task.await.expect("B's task").expect("B stopped cleanly");
    a.stop().await;
    a.finish().await;
    jiaoying_tests::db::pg_ran(concat!(
        module_path!(),
        "::an_answer_on_one_instance_reaches_the_stream_of_another_at_once_on_postgres"
    ));
}

fn postgres_migrations() -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_migrate_a_fresh_database_once_on_postgres() {
    // A few rounds: a race that a lucky schedule hides in one round shows in another.
    for round in 0..3 {
        let Some(db) = TestDb::fresh(Backend::Postgres).await else {
            eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
            return;
        };
        let mut stores = Vec::new();
        for _ in 0..3 {
            stores.push(jiaoying_store::connect(&db.url).await.expect("connect"));
        }
        let starts: Vec<_> = stores
            .iter()
            .map(|s| {
                let s = s.clone();
                tokio::spawn(async move { s.migrate().await })
            })
            .collect();
        for (i, started) in starts.into_iter().enumerate() {
            started
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("round {round}: instance {i} failed to migrate: {e:?}"));
        }
        for s in &stores {
            assert!(s.ready().await.unwrap(), "every migration applied");
        }
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let (applied, distinct): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!((applied, distinct), (postgres_migrations() as i64, postgres_migrations() as i64));
        let (triggers,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'call_events_notify'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(triggers, 1, "the schema was applied once");
        conn.close().await.ok();
        for s in stores {
            s.close().await;
        }
        db.cleanup().await;
    }
    jiaoying_tests::db::pg_ran(concat!(
        module_path!(),
        "::instances_starting_at_once_migrate_a_fresh_database_once_on_postgres"
    ));
}
