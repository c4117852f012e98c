//! Directives (熔断) on both backends: the unit's own responsible person is told the measure, answers,
//! reports it done with `2 <report>`; one not reported in time goes to the unit's administrative
//! and regulatory persons.

use jiaoying_core::Span;
use jiaoying_tests::app::{HEAD, REG, UNIT};
use jiaoying_tests::{red_alert, TestApp};

const DIRECTIVES: &str = r#"
[[directives]]
events = ["暴雨"]
tiers = ["red", "orange"]
unit_kinds = ["school"]
measure = "stop"
text = "立即停课，学生留校避险"
done_within = "30m"
"#;

async fn a_directive_is_answered_then_reported_done(app: &mut TestApp) {
    let (_, body) = app.post_alert(&red_alert("cq-dir")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    let to_unit = sms.iter().find(|m| m.to() == UNIT.1).unwrap().clone();
    assert!(to_unit.text().contains("【熔断·停】立即停课"), "{}", to_unit.text());
    assert!(to_unit.text().contains("落实后回复2"), "{}", to_unit.text());
    let to_head = sms.iter().find(|m| m.to() == HEAD.1).unwrap();
    assert!(!to_head.text().contains("熔断"), "only the unit's own person carries the measure");
    let call = app.call_of(alert_id, UNIT.0).await;
    assert_eq!(call["directive"], "stop:立即停课，学生留校避险");

    let code = to_unit.code().unwrap().to_string();
    let (_, r) = app.sms_reply(UNIT.1, &code).await;
    assert_eq!(r["result"], "answered");
    assert_eq!(app.call_of(alert_id, UNIT.0).await["state"], "answered");
    let (_, r) = app.sms_reply(UNIT.1, &format!("{code} 2 已停课，312名学生留校")).await;
    assert_eq!(r["result"], "done", "{r}");
    let call = app.call_of(alert_id, UNIT.0).await;
    assert_eq!(call["state"], "done");
    assert_eq!(call["done_report"], "已停课，312名学生留校");
    let (_, r) = app.sms_reply(UNIT.1, &format!("{code} 已落实")).await;
    assert_eq!(r["result"], "already_answered", "a second report changes nothing: {r}");

    // The link shows the measure and the report.
    let (_, page) = app.open_link(to_unit.link().unwrap()).await;
    assert!(page.contains("【熔断·停】立即停课") && page.contains("已报告落实：已停课"), "{page}");

    // Past the time to report, nothing more happens for a done directive.
    let before = app.gateway.received().len();
    app.advance(Span::from_mins(31));
    app.handle.tracker.timer_step(jiaoying_core::Clock::now(&app.clock)).await.unwrap();
    assert!(app.gateway.received()[before..].iter().all(|m| !m.text().contains("熔断逾期")));
}

async fn an_overdue_directive_goes_to_the_units_other_responsible_persons(app: &mut TestApp) {
    let (_, body) = app.post_alert(&red_alert("cq-dir-late")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    let code = sms.iter().find(|m| m.to() == UNIT.1).unwrap().code().unwrap().to_string();
    // Answered, but never reported done.
    let (_, r) = app.sms_reply(UNIT.1, &code).await;
    assert_eq!(r["result"], "answered");
    app.advance(Span::from_mins(30));
    let mut seen = app.gateway.received().len();
    while !app.gateway.received().iter().any(|m| m.text().contains("熔断逾期")) {
        seen = app.gateway.wait_for(seen + 1).await.len();
    }
    // Let the outbox finish the batch it is on.
    let mut told: Vec<String> = Vec::new();
    while told.len() < 2 {
        told = app
            .gateway
            .received()
            .iter()
            .filter(|m| m.text().contains("【熔断逾期·停】某小学未报告落实"))
            .map(|m| m.to().to_string())
            .collect();
        if told.len() < 2 {
            seen = app.gateway.wait_for(seen + 1).await.len();
        }
    }
    told.sort();
    assert_eq!(told, vec![HEAD.1.to_string(), REG.1.to_string()]);
    let call = app.call_of(alert_id, UNIT.0).await;
    assert_eq!(call["state"], "answered", "still owed: {call}");

    // Reported late through the link's form: recorded.
    let link = sms.iter().find(|m| m.to() == UNIT.1).unwrap().link().unwrap().to_string();
    let (_, page) = app.open_link(&link).await;
    assert!(page.contains("已落实 / Carried out"), "{page}");
    let r =
        app.client.post(format!("{}/done", app.link_url(&link))).form(&[("report", "已停课")]).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert!(r.text().await.unwrap().contains("已记录落实情况"));
    let call = app.call_of(alert_id, UNIT.0).await;
    assert_eq!(call["state"], "done");
    assert_eq!(call["done_report"], "已停课");
}

mod stories {
    use super::*;

    macro_rules! with_directives {
        ($story:ident) => {
            mod $story {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    let mut app =
                        jiaoying_tests::spawn_app_with(jiaoying_tests::Backend::Sqlite, DIRECTIVES).await.unwrap();
                    super::super::$story(&mut app).await;
                    app.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    let Some(mut app) =
                        jiaoying_tests::spawn_app_with(jiaoying_tests::Backend::Postgres, DIRECTIVES).await
                    else {
                        eprintln!("SKIPPED: set JIAOYING_TEST_PG_URL to run it");
                        return;
                    };
                    super::super::$story(&mut app).await;
                    app.finish().await;
                    jiaoying_tests::db::pg_ran(concat!(module_path!(), "::on_postgres"));
                }
            }
        };
    }

    with_directives!(a_directive_is_answered_then_reported_done);
    with_directives!(an_overdue_directive_goes_to_the_units_other_responsible_persons);
}
