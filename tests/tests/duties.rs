//! Scheduled duties (issue 7) end to end, on both backends, with the hand-moved clock: each duty
//! runs at its scheduled time; a run missed while the service was down runs once; two instances
//! on one database run each scheduled time once; the reachability test's report after some
//! answer; an inspection answer recorded by SMS and by link, and the coverage it changes; the
//! daily summary reaching a leader; the roster's "on duty now", its gaps, and a swap by import.

use std::sync::Arc;
use std::time::Duration;

use jiaoying::{commands, Application};
use jiaoying_core::{Clock, Span, Timestamp};
use jiaoying_tests::app::{DUTY, GRID, HEAD, LEADER, REG, START, UNIT};
use jiaoying_tests::gateway::GatewaySms;
use jiaoying_tests::{spawn_app_with, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Polls `check` until it gives a value; panics with `what` after 20 s (a safety net, not a wait).
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn runs(app: &TestApp, duty: &str) -> Vec<Value> {
    let (status, body) = app.get_api(&format!("/api/v1/duties/runs?duty={duty}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["runs"].as_array().cloned().unwrap_or_default()
}

/// Waits until `duty` has `n` runs, and returns them (newest first).
async fn runs_reach(app: &TestApp, duty: &str, n: usize) -> Vec<Value> {
    until(&format!("{n} runs of {duty}"), || async {
        let r = runs(app, duty).await;
        (r.len() >= n).then_some(r)
    })
    .await
}

/// Messages the gateway received for `to` whose text contains `needle`.
fn sms_to(app: &TestApp, to: &str, needle: &str) -> Vec<GatewaySms> {
    app.gateway.received().into_iter().filter(|m| m.to() == to && m.text().contains(needle)).collect()
}

/// Waits until `to` has received `n` messages containing `needle`.
async fn sms_reach(app: &TestApp, to: &str, needle: &str, n: usize) -> Vec<GatewaySms> {
    until(&format!("{n} message(s) with {needle:?} to {to}"), || async {
        let got = sms_to(app, to, needle);
        (got.len() >= n).then_some(got)
    })
    .await
}

/// July `day`, `h:m` China time (the clock starts on July 1 at 08:00 China time).
fn at(day: i64, h: i64, m: i64) -> Timestamp {
    Timestamp(START.millis() + (day - 1) * 86_400_000 + (h - 8) * 3_600_000 + m * 60_000)
}

/// The same as the API writes it (`iso` of an `At`).
fn iso(day: i64, h: i64, m: i64) -> String {
    at(day, h, m).to_rfc3339()
}

const ALL: [(&str, &str); 6] = [LEADER, DUTY, HEAD, GRID, UNIT, REG];

/// Runs `async fn story(app: &mut TestApp)` on a fresh app of each backend with `extra` TOML (the
/// `[duties]` of the story) appended to the test config.
macro_rules! duty_story {
    ($story:ident, $extra:expr) => {
        mod $story {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let mut app = spawn_app_with(Backend::Sqlite, $extra).await.unwrap();
                super::$story(&mut app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let Some(mut app) = spawn_app_with(Backend::Postgres, $extra).await else {
                    eprintln!("SKIPPED {}::on_postgres: set JIAOYING_TEST_PG_URL to run it", stringify!($story));
                    return;
                };
                super::$story(&mut app).await;
                app.finish().await;
                jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------

const EVERY_DUTY: &str = r#"
[duties]
catch_up = "10m"
[duties.daily_summary]
schedule = "0 30 8 * * *"
channels = ["sms"]
[duties.reachability]
schedule = "0 0 9 * * *"
channels = ["sms"]
answer_within = "2h"
[duties.inspection]
schedule = "0 30 9 * * *"
channels = ["sms"]
"#;

async fn each_duty_runs_at_its_scheduled_time(app: &mut TestApp) {
    let duties = app.handle.duties.clone();
    // 08:29: nothing is due yet (the clock started at 08:00 China time).
    app.advance(Span::from_mins(29));
    assert_eq!(
        duties.step(app.clock.now()).await.unwrap(),
        jiaoying_tracker::Step::Empty { next_due: Some(START.millis() + 30 * 60_000) }
    );
    for duty in ["daily_summary", "reachability", "inspection"] {
        assert!(runs(app, duty).await.is_empty(), "{duty} ran early");
    }

    // 08:30: the daily summary, to the leader.
    app.advance(Span::from_mins(1));
    let r = runs_reach(app, "daily_summary", 1).await;
    assert_eq!(r[0]["scheduled_for"]["iso"], iso(1, 8, 30));
    assert_eq!(r[0]["claimed_by"], duties.instance());
    sms_reach(app, LEADER.1, "每日汇总", 1).await;

    // 09:00: the reachability test, to everyone.
    app.advance(Span::from_mins(30));
    let r = runs_reach(app, "reachability", 1).await;
    assert_eq!(r[0]["scheduled_for"]["iso"], iso(1, 9, 0));
    for (_, mobile) in ALL {
        let m = sms_reach(app, mobile, "通联测试", 1).await;
        assert!(m[0].code().is_some() && m[0].link().is_some(), "a test asks for an answer: {:?}", m[0].body);
    }

    // 09:30: inspection reminders, to the school's administrative and regulatory persons.
    app.advance(Span::from_mins(30));
    runs_reach(app, "inspection", 1).await;
    sms_reach(app, HEAD.1, "检查提醒", 1).await;
    sms_reach(app, REG.1, "检查提醒", 1).await;
    assert!(sms_to(app, GRID.1, "检查提醒").is_empty(), "the grid worker inspects no unit");

    // Each ran once; another step changes nothing.
    duties.step(app.clock.now()).await.unwrap();
    let (_, all) = app.get_api("/api/v1/duties/runs").await;
    assert_eq!(all["runs"].as_array().unwrap().len(), 3, "{all}");
}
duty_story!(each_duty_runs_at_its_scheduled_time, EVERY_DUTY);

// ---------------------------------------------------------------------------------------------

const HOURLY_SUMMARY: &str = r#"
[duties]
catch_up = "20m"
[duties.daily_summary]
schedule = "0 30 * * * *"
channels = ["sms"]
"#;

async fn a_run_missed_during_downtime_runs_once(app: &mut TestApp) {
    // At 08:00 the latest time, 07:30, is older than the catch-up allowance: not run.
    app.handle.duties.step(app.clock.now()).await.unwrap();
    assert!(runs(app, "daily_summary").await.is_empty());
    app.advance(Span::from_mins(30));
    runs_reach(app, "daily_summary", 1).await;

    // Down from 08:30 to 13:35: 09:30, 10:30, 11:30, 12:30 and 13:30 pass.
    app.stop().await;
    app.clock.advance(Span::from_mins(5 * 60 + 5));
    app.restart().await;
    let r = runs_reach(app, "daily_summary", 2).await;
    assert_eq!(r[0]["scheduled_for"]["iso"], iso(1, 13, 30), "only the latest missed time");
    // Steps after the start find nothing more to do.
    for _ in 0..3 {
        app.handle.duties.step(app.clock.now()).await.unwrap();
    }
    assert_eq!(runs(app, "daily_summary").await.len(), 2);
    sms_reach(app, LEADER.1, "每日汇总", 2).await;

    // And the schedule goes on from there: 14:30.
    app.advance(Span::from_mins(55));
    let r = runs_reach(app, "daily_summary", 3).await;
    assert_eq!(r[0]["scheduled_for"]["iso"], iso(1, 14, 30));
}

duty_story!(a_run_missed_during_downtime_runs_once, HOURLY_SUMMARY);

// ---------------------------------------------------------------------------------------------

const SUMMARY_AT_0830: &str = r#"
[duties]
catch_up = "10m"
[duties.daily_summary]
schedule = "0 30 8 * * *"
channels = ["sms"]
"#;

async fn two_instances_run_each_duty_once(app: &mut TestApp) {
    // A second instance of the same config on the same database and clock.
    let second = Application::build(&app.settings(), Arc::new(app.clock.clone())).await.expect("second instance");
    let other = second.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(second.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    assert_ne!(other.duties.instance(), app.handle.duties.instance());

    app.advance(Span::from_mins(30));
    other.wake();
    // Both loops are awake; both instances also step at once here.
    let now = app.clock.now();
    let (a, b) = tokio::join!(app.handle.duties.step(now), other.duties.step(now));
    a.unwrap();
    b.unwrap();
    let r = runs_reach(app, "daily_summary", 1).await;
    assert_eq!(r.len(), 1, "one run: {r:?}");
    let who = r[0]["claimed_by"].as_str().unwrap().to_string();
    assert!(who == app.handle.duties.instance() || who == other.duties.instance());

    // One message: wait for it, let both outboxes send anything left, and count again.
    sms_reach(app, LEADER.1, "每日汇总", 1).await;
    for handle in [&app.handle, &other] {
        while let jiaoying_dispatch::outbox::OutboxStep::Sent(_) = handle.outbox.step(app.clock.now()).await.unwrap() {}
    }
    assert_eq!(sms_to(app, LEADER.1, "每日汇总").len(), 1);
    assert_eq!(runs(app, "daily_summary").await.len(), 1);

    let _ = stop.send(());
    task.await.expect("second instance task").expect("second instance stopped cleanly");
}
duty_story!(two_instances_run_each_duty_once, SUMMARY_AT_0830);

// ---------------------------------------------------------------------------------------------

const REACHABILITY: &str = r#"
[duties]
catch_up = "10m"
[duties.reachability]
schedule = "0 0 9 * * *"
channels = ["sms"]
answer_within = "2h"
remind_after = "1h"
"#;

fn person<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["persons"].as_array().unwrap().iter().find(|p| p["person"]["id"] == id).unwrap_or_else(|| panic!("{id}"))
}

async fn the_reachability_report_shows_who_answered_how_fast_and_the_unreached(app: &mut TestApp) {
    let (status, _) = app.get_api("/api/v1/duties/reachability/latest").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no test yet");

    app.advance(Span::from_mins(60));
    let run = runs_reach(app, "reachability", 1).await.remove(0);
    let grid = sms_reach(app, GRID.1, "通联测试", 1).await.remove(0);
    let head = sms_reach(app, HEAD.1, "通联测试", 1).await.remove(0);
    sms_reach(app, UNIT.1, "通联测试", 1).await;

    // Three answer, by code, by link and by a bare "1", three and five minutes in.
    app.advance(Span::from_mins(3));
    let (_, r) = app.sms_reply(GRID.1, grid.code().unwrap()).await;
    assert_eq!(r["result"], "answered", "{r}");
    app.advance(Span::from_mins(2));
    let (status, _) = app.click_confirm(head.link().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, r) = app.sms_reply(UNIT.1, "1").await;
    assert_eq!(r["result"], "answered", "{r}");

    let (status, report) = app.get_api("/api/v1/duties/reachability/latest").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["run"]["id"], run["id"]);
    assert_eq!(report["open"], true);
    assert_eq!(
        (report["total"].as_i64(), report["answered"].as_i64(), report["waiting"].as_i64()),
        (Some(6), Some(3), Some(3))
    );
    assert_eq!(person(&report, "p-grid")["answer_after"]["ms"], 3 * 60_000);
    assert_eq!(person(&report, "p-grid")["answered_via"], "sms");
    assert_eq!(person(&report, "p-head")["answer_after"]["ms"], 5 * 60_000);
    assert_eq!(person(&report, "p-head")["answered_via"], "link");

    // 10:00: one reminder to the three who have not answered.
    app.advance(Span::from_mins(55));
    for (_, mobile) in [LEADER, DUTY, REG] {
        sms_reach(app, mobile, "再次提醒", 1).await;
    }
    assert!(sms_to(app, GRID.1, "再次提醒").is_empty(), "who answered is not reminded");

    // 11:00: the window ends. The unanswered are unreached, and the duty officer is told who.
    app.advance(Span::from_mins(60));
    let report = until("the report to be final", || async {
        let (_, r) = app.get_api(&format!("/api/v1/duties/reachability/{}", run["id"])).await;
        (!r["run"]["finished_at"].is_null()).then_some(r)
    })
    .await;
    assert_eq!(report["open"], false);
    assert_eq!(
        (report["answered"].as_i64(), report["unreached"].as_i64(), report["waiting"].as_i64()),
        (Some(3), Some(3), Some(0))
    );
    assert_eq!(report["answer_rate"], 0.5);
    let mut unreached: Vec<&str> =
        report["unreached_persons"].as_array().unwrap().iter().map(|p| p["person"]["id"].as_str().unwrap()).collect();
    unreached.sort_unstable();
    assert_eq!(unreached, ["p-duty", "p-leader", "p-reg"]);
    // Per unit: the school's three responsible persons.
    let school = &report["by_unit"].as_array().unwrap()[0];
    assert_eq!(school["unit_id"], "u-school");
    let statuses: Vec<(String, String)> = school["responsible"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["role"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("administrative".into(), "answered".into()),
            ("regulatory".into(), "unreached".into()),
            ("unit".into(), "answered".into())
        ]
    );
    // Per area and role.
    let grid_area = report["by_area"].as_array().unwrap().iter().find(|a| a["key"] == "500105002001001").unwrap();
    assert_eq!(
        (grid_area["name"].as_str(), grid_area["answered"].as_i64(), grid_area["total"].as_i64()),
        (Some("第一网格"), Some(2), Some(2))
    );
    let street = report["by_area"].as_array().unwrap().iter().find(|a| a["key"] == "500105002").unwrap();
    assert_eq!((street["unreached"].as_i64(), street["total"].as_i64()), (Some(3), Some(3)));
    let leader_role = report["by_role"].as_array().unwrap().iter().find(|g| g["key"] == "leader").unwrap();
    assert_eq!(leader_role["unreached"], 1);

    let told = sms_reach(app, DUTY.1, "通联测试（07-01 09:00）结束", 1).await.remove(0);
    assert!(told.text().contains("应答3/6人（50%）") && told.text().contains("未应答3人"), "{}", told.text());
    assert!(told.text().contains("教委安全科长"), "{}", told.text());

    // Nothing escalated: every call of the test is its person's own, and all have ended.
    let alert_id = report["run"]["alert_id"].as_i64().unwrap();
    let calls = app.handle.store.calls_of_alert(alert_id).await.unwrap();
    assert_eq!(calls.len(), 6);
    assert!(calls.iter().all(|c| c.call.level == 0 && c.call.escalated_to.is_none()), "{calls:?}");
    until("the test's calls to end", || async {
        let calls = app.handle.store.calls_of_alert(alert_id).await.unwrap();
        calls.iter().all(|c| !c.call.state.is_waiting()).then_some(())
    })
    .await;
    assert!(sms_to(app, LEADER.1, "未应答，请督促").is_empty(), "no superior was chased");
}
duty_story!(the_reachability_report_shows_who_answered_how_fast_and_the_unreached, REACHABILITY);

// ---------------------------------------------------------------------------------------------

const INSPECTION: &str = r#"
[duties]
catch_up = "10m"
[duties.inspection]
schedule = "0 30 8 * * *"
channels = ["sms"]
"#;

async fn coverage(app: &TestApp) -> Value {
    let (status, body) = app.get_api("/api/v1/duties/inspections").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn covered<'a>(c: &'a Value, id: &str) -> &'a Value {
    c["persons"].as_array().unwrap().iter().find(|p| p["person"]["id"] == id).unwrap_or_else(|| panic!("{id}: {c}"))
}

async fn an_inspection_answer_is_recorded_and_coverage_updated(app: &mut TestApp) {
    let c = coverage(app).await;
    assert_eq!((c["persons_due"].as_i64(), c["units_overdue"].as_i64()), (Some(2), Some(1)), "{c}");

    app.advance(Span::from_mins(30));
    let to_head = sms_reach(app, HEAD.1, "检查提醒", 1).await.remove(0);
    assert!(
        to_head.text().contains("某小学（半年未检查）") && to_head.text().contains("已检查 情况"),
        "{}",
        to_head.text()
    );
    let to_reg = sms_reach(app, REG.1, "检查提醒", 1).await.remove(0);
    let link = to_reg.link().expect("the reminder's link").to_string();
    assert!(link.starts_with("http://jiaoying.test/i/"), "{link}");

    // By SMS.
    app.advance(Span::from_mins(5));
    let (status, r) = app.sms_reply(HEAD.1, "已检查 消防通道畅通").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((r["result"].as_str(), r["recorded"].as_i64()), (Some("inspected"), Some(1)), "{r}");
    sms_reach(app, HEAD.1, "已记录对某小学的检查", 1).await;
    let c = coverage(app).await;
    assert_eq!(
        (covered(&c, "p-head")["due"].as_bool(), covered(&c, "p-head")["this_month"].as_i64()),
        (Some(false), Some(1))
    );
    assert_eq!(c["persons_due"], 1);
    let school = &c["units"].as_array().unwrap()[0];
    assert_eq!((school["id"].as_str(), school["overdue"].as_bool()), (Some("u-school"), Some(false)));
    assert_eq!(school["last_inspection"]["ms"], app.clock.now().millis());

    // By the link: the page lists the unit and records nothing by itself.
    let (status, page) = app.open_link(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("某小学") && page.contains("value=\"u-school\""), "{page}");
    assert_eq!(coverage(app).await["persons_due"], 1);
    let r = app
        .client
        .post(app.link_url(&link))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("unit=u-school&report=%E5%AE%89%E5%85%A8%E5%8F%B0%E8%B4%A6%E9%BD%90%E5%85%A8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("已记录检查情况（1条）"));
    let c = coverage(app).await;
    assert_eq!(c["persons_due"], 0, "{c}");
    let recent: Vec<(String, String, String)> = c["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["person"]["id"].as_str().unwrap().into(),
                i["via"].as_str().unwrap().into(),
                i["report"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        recent,
        [
            ("p-reg".into(), "link".into(), "安全台账齐全".into()),
            ("p-head".into(), "sms".into(), "消防通道畅通".into())
        ]
    );

    // A forged link is refused; someone with no unit to inspect is told so, and nothing is stored.
    let forged = format!("{}x", link.trim_end_matches(|c: char| c.is_ascii_alphanumeric()));
    assert_eq!(app.open_link(&forged).await.0, StatusCode::NOT_FOUND);
    let (_, r) = app.sms_reply(GRID.1, "已检查").await;
    assert_eq!((r["result"].as_str(), r["recorded"].as_i64()), (Some("inspected"), Some(0)), "{r}");
    sms_reach(app, GRID.1, "无需报告检查", 1).await;
    assert_eq!(coverage(app).await["recent"].as_array().unwrap().len(), 2);
}
duty_story!(an_inspection_answer_is_recorded_and_coverage_updated, INSPECTION);

// ---------------------------------------------------------------------------------------------

const DAILY_SUMMARY: &str = r#"
[duties]
catch_up = "10m"
[duties.daily_summary]
schedule = "0 0 8 * * *"
channels = ["sms"]
"#;

async fn the_daily_summary_reaches_a_leader_with_answer_rates_and_the_unreached(app: &mut TestApp) {
    // The service starts at 08:00 on the dot: that day's summary runs at once (a quiet day).
    runs_reach(app, "daily_summary", 1).await;
    let quiet = sms_reach(app, LEADER.1, "每日汇总", 1).await.remove(0);
    assert!(quiet.text().contains("无预警"), "{}", quiet.text());

    // A blue warning for the street: the community head and the duty officer are called; the
    // head answers, the duty officer does not (blue does not escalate: unreached after an hour).
    app.advance(Span::from_mins(1));
    let (status, accepted) = app
        .post_alert(&json!({
            "identifier": "blue-1", "sender": "cq@cma.gov.cn", "sent": "2026-07-01T08:01:00+08:00",
            "event": "暴雨", "tier": "blue", "headline": "暴雨蓝色预警", "areas": [{"code": "500105002"}]
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    let alert_id = accepted["id"].as_i64().unwrap();
    assert_eq!(accepted["calls"], 2);
    let to_head = sms_reach(app, HEAD.1, "暴雨", 1).await.remove(0);
    app.sms_reply(HEAD.1, to_head.code().unwrap()).await;
    app.call_reaches(alert_id, "p-head", "answered").await;
    app.advance(Span::from_mins(60));
    app.call_reaches(alert_id, "p-duty", "expired").await;

    // July 2, 08:00: the day's summary.
    app.advance(Span::from_mins(22 * 60 + 59));
    runs_reach(app, "daily_summary", 2).await;
    let day = sms_reach(app, LEADER.1, "每日汇总", 2).await;
    let text = day.iter().map(GatewaySms::text).find(|t| !t.contains("无预警")).expect("the second summary");
    assert_eq!(
        text,
        "【观音桥街道】每日汇总（07-01 08:00至07-02 08:00）：预警1条（蓝色暴雨），叫应2人，已应答1人（50%），\
         未叫醒1人：街道值班员（值班员，观音桥街道）。"
    );
    // Only leaders receive it.
    assert!(sms_to(app, DUTY.1, "每日汇总").is_empty());
}
duty_story!(the_daily_summary_reaches_a_leader_with_answer_rates_and_the_unreached, DAILY_SUMMARY);

// ---------------------------------------------------------------------------------------------

/// A roster file as a clerk would import it.
fn roster_file(dir: &std::path::Path, name: &str, day: &str, night: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[[rosters]]\narea = \"500105002\"\nperson = \"{day}\"\ndate = \"2026-07-01\"\nshift = \"08:00-20:00\"\n\n\
             [[rosters]]\narea = \"500105002\"\nperson = \"{night}\"\ndate = \"2026-07-01\"\nshift = \"20:00-08:00\"\n"
        ),
    )
    .unwrap();
    path
}

async fn on_duty(app: &TestApp) -> (String, Vec<String>) {
    let (status, body) = app.get_api("/api/v1/rosters/now").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let street =
        body["areas"].as_array().unwrap().iter().find(|a| a["area"] == "500105002").expect("the street").clone();
    let ids =
        street["persons"].as_array().unwrap().iter().map(|p| p["person"]["id"].as_str().unwrap().to_string()).collect();
    (street["source"].as_str().unwrap().to_string(), ids)
}

async fn the_roster_shows_who_is_on_duty_its_gaps_and_a_swap(app: &mut TestApp) {
    // No roster yet: the street's duty officer by role, and no gaps.
    assert_eq!(on_duty(app).await, ("role".to_string(), vec!["p-duty".to_string()]));
    let (_, gaps) = app.get_api("/api/v1/rosters/gaps").await;
    assert_eq!(gaps["gaps"], json!([]), "{gaps}");

    let dir = tempfile::tempdir().unwrap();
    let settings = app.settings();
    commands::import(&settings, &roster_file(dir.path(), "roster.toml", "p-duty", "p-head")).await.expect("import");
    assert_eq!(on_duty(app).await, ("roster".to_string(), vec!["p-duty".to_string()]));
    // The roster covers July 1 08:00 to July 2 08:00: two days ahead, the second is a gap.
    let (_, gaps) = app.get_api("/api/v1/rosters/gaps?days=2").await;
    let g = gaps["gaps"].as_array().unwrap();
    assert_eq!(g.len(), 1, "{gaps}");
    assert_eq!((g[0]["area"].as_str(), g[0]["from"]["iso"].as_str()), (Some("500105002"), Some(iso(2, 8, 0).as_str())));
    assert_eq!(g[0]["until"]["iso"], iso(3, 8, 0));
    assert_eq!(app.get_api("/api/v1/rosters/gaps?days=0").await.0, StatusCode::BAD_REQUEST);
    // The board's Now view carries both.
    let (_, now) = app.get_api("/api/v1/board/now").await;
    assert_eq!(now["roster_gaps"].as_array().map(Vec::len), Some(1), "{now}");
    assert!(now["on_duty"].as_array().unwrap().iter().any(|a| a["source"] == "roster"), "{now}");

    // A swap: the day's rows again with another name; the import replaces that day.
    commands::import(&settings, &roster_file(dir.path(), "swap.toml", "p-leader", "p-head"))
        .await
        .expect("import swap");
    assert_eq!(on_duty(app).await, ("roster".to_string(), vec!["p-leader".to_string()]));

    // The night shift holds across midnight, until 08:00; then the role again.
    app.advance(Span::from_mins(12 * 60 + 30));
    assert_eq!(on_duty(app).await, ("roster".to_string(), vec!["p-head".to_string()]));
    app.clock.set(at(2, 7, 59));
    assert_eq!(on_duty(app).await, ("roster".to_string(), vec!["p-head".to_string()]));
    app.clock.set(at(2, 8, 0));
    assert_eq!(on_duty(app).await, ("role".to_string(), vec!["p-duty".to_string()]));
}
duty_story!(the_roster_shows_who_is_on_duty_its_gaps_and_a_swap, "");
