//! Escalation levels on both backends: repeats spaced by `repeat_intervals`, escalated calls
//! waiting their level's `level_delays`, the chain going superior → duty officers → leader, and a
//! person no channel can reach flagged unreached and escalated at once, without the clock moving.
//! Each story defines its own `[policy.blue]` (the base test config has none).

use jiaoying_core::{Clock, Span, Tier, TierPolicy, Timestamp};
use jiaoying_store::CallRow;
use jiaoying_tests::app::{DUTY, GRID, HEAD, LEADER, REG, UNIT};
use jiaoying_tests::{red_alert, TestApp};
use jiaoying_tracker::Step;
use reqwest::StatusCode;
use serde_json::Value;

const MIN: i64 = 60_000;

/// A blue alert on the community (建新社区), as a source would send it.
fn blue_alert(identifier: &str) -> Value {
    let mut alert = red_alert(identifier);
    alert["tier"] = Value::from("blue");
    alert["headline"] = Value::from("江北区气象台发布暴雨蓝色预警");
    alert
}

async fn post_blue(app: &TestApp, identifier: &str, calls: i64) -> i64 {
    let (status, body) = app.post_alert(&blue_alert(identifier)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["calls"], calls, "{body}");
    body["id"].as_i64().unwrap()
}

/// The stored row of a person's call (exact deadlines in ms, which the API shows as text).
async fn call_row(app: &TestApp, alert_id: i64, person: &str) -> CallRow {
    let id = app.call_of(alert_id, person).await["id"].as_i64().unwrap();
    app.handle.store.call(id).await.unwrap().unwrap()
}

/// Moves the clock to `at` and proves nothing is due yet: a timer step at `at` finds no work
/// and names `due` as the next due time, and the gateway has got nothing new.
async fn nothing_before(app: &TestApp, at: Timestamp, due: i64, sms_so_far: usize) {
    let now = app.clock.now();
    app.advance(Span::from_millis(at.millis() - now.millis()));
    let step = app.handle.tracker.timer_step(app.clock.now()).await.unwrap();
    assert_eq!(step, Step::Empty { next_due: Some(due) }, "nothing may be due before {due}");
    assert_eq!(app.gateway.received().len(), sms_so_far, "nothing new at the gateway before {due}");
}

/// Moves the clock to `at`.
fn advance_to(app: &TestApp, at: i64) {
    let now = app.clock.now().millis();
    app.advance(Span::from_millis(at - now));
}

const INTERVALS: &str = r#"
[policy.blue]
roles = ["grid"]
channels = ["sms"]
answer_within = "5m"
repeats = 2
repeat_intervals = ["1m", "3m"]
escalate = false
"#;

/// repeats = 2 with intervals 1m, 3m: attempt 2 exactly 1 minute after the first, attempt 3
/// 3 minutes after that, and the last attempt waits answer_within (5m) before the call ends.
async fn repeats_come_after_the_configured_intervals(app: &mut TestApp) {
    let t0 = app.clock.now().millis();
    let alert_id = post_blue(app, "cq-intervals", 1).await;
    app.gateway.wait_for(1).await;
    let call = call_row(app, alert_id, GRID.0).await;
    assert_eq!((call.attempts, call.deadline), (1, t0 + MIN), "the first wait is the first interval");

    nothing_before(app, Timestamp(t0 + MIN - 1000), t0 + MIN, 1).await;
    assert_eq!(call_row(app, alert_id, GRID.0).await.attempts, 1);
    advance_to(app, t0 + MIN);
    let sms = app.gateway.wait_for(2).await;
    assert_eq!(sms[1].to(), GRID.1);
    assert!(sms[1].text().contains("第2次提醒"), "{}", sms[1].text());
    let call = call_row(app, alert_id, GRID.0).await;
    assert_eq!((call.attempts, call.deadline), (2, t0 + 4 * MIN), "the second wait is the second interval");

    nothing_before(app, Timestamp(t0 + 4 * MIN - 1000), t0 + 4 * MIN, 2).await;
    advance_to(app, t0 + 4 * MIN);
    let sms = app.gateway.wait_for(3).await;
    assert!(sms[2].text().contains("第3次提醒"), "{}", sms[2].text());
    let call = call_row(app, alert_id, GRID.0).await;
    assert_eq!((call.attempts, call.deadline), (3, t0 + 9 * MIN), "the last attempt waits answer_within");

    nothing_before(app, Timestamp(t0 + 9 * MIN - 1000), t0 + 9 * MIN, 3).await;
    advance_to(app, t0 + 9 * MIN);
    let call = app.call_reaches(alert_id, GRID.0, "expired").await;
    assert_eq!(call["unreached"], true, "{call}");
    assert_eq!(app.gateway.received().len(), 3, "no fourth attempt");
}

const LEVELS: &str = r#"
[policy.blue]
roles = ["grid"]
channels = ["sms"]
answer_within = "5m"
repeats = 0
escalate = true
max_levels = 0
level_delays = ["2m", "7m"]
"#;

/// max_levels = 0: the grid worker's call goes straight to the duty officers (level 1, 2 minutes
/// to answer), then to the leader (level 2, 7 minutes), then runs out.
async fn escalated_calls_wait_their_level_delay_and_reach_the_leader_after_the_duty_officer(app: &mut TestApp) {
    let t0 = app.clock.now().millis();
    let alert_id = post_blue(app, "cq-levels", 1).await;
    app.gateway.wait_for(1).await;
    assert_eq!(call_row(app, alert_id, GRID.0).await.deadline, t0 + 5 * MIN, "a direct call waits answer_within");

    nothing_before(app, Timestamp(t0 + 5 * MIN - 1000), t0 + 5 * MIN, 1).await;
    advance_to(app, t0 + 5 * MIN);
    let sms = app.gateway.wait_for(2).await;
    assert_eq!(sms[1].to(), DUTY.1, "the duty officer is next: {:?}", sms[1]);
    let grid = app.call_reaches(alert_id, GRID.0, "escalated").await;
    let duty = app.call_of(alert_id, DUTY.0).await;
    assert_eq!((duty["role"].as_str(), duty["level"].as_i64()), (Some("duty_officer"), Some(1)), "{duty}");
    assert_eq!(grid["escalated_to"], duty["id"]);
    assert_eq!(grid["unreached"], false, "{grid}");
    assert_eq!(call_row(app, alert_id, DUTY.0).await.deadline, t0 + 7 * MIN, "level 1 waits 2 minutes");

    nothing_before(app, Timestamp(t0 + 7 * MIN - 1000), t0 + 7 * MIN, 2).await;
    assert!(app.calls(alert_id).await.iter().all(|c| c["person_id"] != LEADER.0), "no leader call before the delay");
    advance_to(app, t0 + 7 * MIN);
    let sms = app.gateway.wait_for(3).await;
    assert_eq!(sms[2].to(), LEADER.1, "the leader comes after the duty officer: {:?}", sms[2]);
    assert!(sms[2].text().contains("未应答"), "the leader hears who did not answer: {}", sms[2].text());
    let duty = app.call_reaches(alert_id, DUTY.0, "escalated").await;
    let leader = app.call_of(alert_id, LEADER.0).await;
    assert_eq!((leader["role"].as_str(), leader["level"].as_i64()), (Some("leader"), Some(2)), "{leader}");
    assert_eq!(duty["escalated_to"], leader["id"]);
    assert_eq!(call_row(app, alert_id, LEADER.0).await.deadline, t0 + 14 * MIN, "level 2 waits 7 minutes");

    // After the leader nobody is left: flagged unreached at once at the leader's deadline.
    nothing_before(app, Timestamp(t0 + 14 * MIN - 1000), t0 + 14 * MIN, 3).await;
    advance_to(app, t0 + 14 * MIN);
    let leader = app.call_reaches(alert_id, LEADER.0, "expired").await;
    assert_eq!(leader["unreached"], true, "{leader}");
    assert_eq!(app.calls(alert_id).await.len(), 3, "nobody else was called");
    assert_eq!(app.gateway.received().len(), 3);
}

const EMAIL_ONLY: &str = r#"
[policy.blue]
roles = ["unit", "regulatory"]
channels = ["email"]
answer_within = "30m"
repeats = 2
escalate = true
"#;

/// An e-mail-only policy: the school's head (unit role) and the regulator have no e-mail. Each is
/// flagged unreached and escalated at once, the clock never moving: the head's superior (the
/// community head, who has an address) gets the e-mail; the regulator's chain (leader, duty
/// officer: no addresses either) runs out, every call in it flagged unreached.
async fn a_person_no_channel_reaches_is_flagged_and_escalated_at_once(app: &mut TestApp) {
    let t0 = app.clock.now().millis();
    let alert_id = post_blue(app, "cq-email-only", 2).await;
    let mails = app.smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec!["head@example.org"]);
    assert!(mails[0].decoded().contains("未应答"), "the head hears the school did not answer");

    let unit = app.call_reaches(alert_id, UNIT.0, "escalated").await;
    assert_eq!(unit["unreached"], true, "{unit}");
    let head = app.call_of(alert_id, HEAD.0).await;
    assert_eq!(unit["escalated_to"], head["id"]);
    assert_eq!((head["role"].as_str(), head["level"].as_i64()), (Some("superior"), Some(1)), "{head}");
    assert_eq!(head["unreached"], false, "{head}");
    assert_eq!(call_row(app, alert_id, HEAD.0).await.deadline, t0 + 30 * MIN);

    // The regulator → the leader → the duty officer → (the leader, already called): run out.
    let duty = app.call_reaches(alert_id, DUTY.0, "escalated").await;
    assert_eq!(duty["unreached"], true, "{duty}");
    for person in [REG.0, LEADER.0] {
        let c = app.call_reaches(alert_id, person, "escalated").await;
        assert_eq!(c["unreached"], true, "{c}");
    }
    assert_eq!(app.clock.now().millis(), t0, "nothing waited for the clock");
    assert_eq!(app.calls(alert_id).await.len(), 5, "nobody is called twice");
    assert!(app.gateway.received().is_empty(), "an e-mail-only policy sends no SMS");
    assert_eq!(app.handle.store.messages_of_alert(alert_id).await.unwrap().len(), 1, "one e-mail, to the head");

    // The duty officers see why: each unreachable call has its event.
    let events = app.handle.store.events_of_alert(alert_id).await.unwrap();
    for person in [UNIT.0, REG.0, LEADER.0, DUTY.0] {
        let id = app.call_of(alert_id, person).await["id"].as_i64().unwrap();
        assert!(
            events.iter().any(|e| e.call_id == id && e.note.as_deref().is_some_and(|n| n.contains("无可用联系方式"))),
            "no unreached event for {person}: {events:?}"
        );
    }
    // Only the head is left waiting.
    let waiting: Vec<Value> =
        app.calls(alert_id).await.into_iter().filter(|c| c["state"] == "pending" || c["state"] == "sent").collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["person_id"], HEAD.0);
}

/// The new keys parse from a `[policy.*]` table and are checked by check-config's problems().
async fn the_new_keys_are_checked_in_config(app: &mut TestApp) {
    let parse = |toml_text: &str| toml::from_str::<TierPolicy>(toml_text).unwrap();
    let base = "roles = [\"grid\"]\nchannels = [\"sms\"]\nanswer_within = \"5m\"\n";
    let ok = parse(&format!("{base}repeats = 2\nrepeat_intervals = [\"1m\", \"90s\"]\nlevel_delays = [\"3m\"]"));
    assert_eq!(ok.repeat_intervals, vec![Span::from_mins(1), Span::from_secs(90)]);
    assert_eq!(ok.level_delays, vec![Span::from_mins(3)]);
    assert!(toml::from_str::<TierPolicy>(&format!("{base}level_delays = [\"soon\"]")).is_err());

    let mut settings = app.settings();
    assert!(settings.problems().is_empty(), "{:?}", settings.problems());
    let cases = [
        (
            "repeats = 1\nrepeat_intervals = [\"1m\", \"2m\"]",
            "policy.blue: repeat_intervals names 2 waits but repeats = 1",
        ),
        ("repeats = 1\nrepeat_intervals = [\"0s\"]", "policy.blue: repeat_intervals[0] must be positive"),
        ("level_delays = [\"3m\", \"0m\"]", "policy.blue: level_delays[1] must be positive"),
        ("max_levels = 1\nlevel_delays = [\"3m\", \"3m\", \"3m\", \"3m\"]", "policy.blue: level_delays names 4 levels"),
    ];
    for (keys, want) in cases {
        settings.policy.insert(Tier::Blue, parse(&format!("{base}{keys}")));
        let problems = settings.problems();
        assert!(problems.iter().any(|p| p.starts_with(want)), "{want:?} not in {problems:?}");
    }
    settings.policy.insert(Tier::Blue, parse(&format!("{base}repeats = 3\nmax_levels = 1\nrepeat_intervals = [\"1m\", \"2m\", \"2m\"]\nlevel_delays = [\"3m\", \"3m\", \"3m\"]")));
    assert!(settings.problems().is_empty(), "local practice is a valid policy: {:?}", settings.problems());
}

mod stories {
    use super::*;

    /// `story` against a fresh application with `toml` appended to the config, on each backend;
    /// PostgreSQL runs only when `JIAOYING_TEST_PG_URL` is set, and is marked as run.
    macro_rules! story_with {
        ($story:ident, $toml:expr) => {
            mod $story {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    let mut app = jiaoying_tests::spawn_app_with(jiaoying_tests::Backend::Sqlite, $toml).await.unwrap();
                    super::super::$story(&mut app).await;
                    app.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    let Some(mut app) = jiaoying_tests::spawn_app_with(jiaoying_tests::Backend::Postgres, $toml).await
                    else {
                        eprintln!("SKIPPED {}::on_postgres: set JIAOYING_TEST_PG_URL to run it", stringify!($story));
                        return;
                    };
                    super::super::$story(&mut app).await;
                    app.finish().await;
                    jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
                }
            }
        };
    }

    story_with!(repeats_come_after_the_configured_intervals, INTERVALS);
    story_with!(escalated_calls_wait_their_level_delay_and_reach_the_leader_after_the_duty_officer, LEVELS);
    story_with!(a_person_no_channel_reaches_is_flagged_and_escalated_at_once, EMAIL_ONLY);
    story_with!(the_new_keys_are_checked_in_config, INTERVALS);
}
