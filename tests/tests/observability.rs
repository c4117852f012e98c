//! Observability, black-box on both backends: `/metrics` counts what the service did (alerts,
//! sends, answers, timer lateness) and reads what its database holds (calls by state, outbox
//! backlog, pool use); `/readyz` follows the database; the logs are JSON lines when asked and
//! name no whole phone number at info level.
//!
//! The metrics recorder is one per process, and the tests of this file run in parallel in one
//! process: the stories that compare counters hold [`COUNTERS`] and compare before and after, so
//! another test's alerts and sends cannot be counted as theirs. Gauges read on scrape come from
//! each app's own database and are compared as they are.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use jiaoying::telemetry::{self, CapturedLogs, LogFormat};
use jiaoying_core::Span;
use jiaoying_tests::app::{API_TOKEN, DUTY, GRID, HEAD, LEADER, REG, SOURCE_TOKEN, UNIT};
use jiaoying_tests::{app_story, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Mutex;

/// Held by the stories that compare counters (see the module comment).
static COUNTERS: Mutex<()> = Mutex::const_new(());

/// Every log line of this process at info and above, and the outbox's at debug (where each send
/// is logged), as JSON: installed before the first app starts logging what it sends (each story
/// calls it first).
fn logs() -> CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let filter = "info,jiaoying_dispatch::outbox=debug";
        assert!(telemetry::init_with(LogFormat::Json, filter, logs.clone()), "no other logger in this test binary");
        logs
    })
    .clone()
}

/// One scrape, parsed: `(name, labels, value)` per sample line.
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|e| panic!("bad value in {line}: {e}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                    let labels = body
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            samples.push((name, labels, value));
        }
        Scrape(samples)
    }

    /// The sum of the samples of `name` whose labels include every pair of `labels` (0 if none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
            .map(|(_, _, v)| *v)
            .sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.0
            .iter()
            .any(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let r = app.client.get(format!("{}/metrics", app.address)).send().await.expect("GET /metrics");
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    Scrape::parse(&r.text().await.expect("metrics text"))
}

/// Scrapes until `check` holds: counters are recorded just after a gateway answers, so a test
/// that saw the message polls briefly for the count (a safety timeout, not a sleep).
async fn scrape_until(app: &TestApp, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = scrape(app).await;
        if check(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "metrics never showed {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until this app's outbox is empty: every send it started has been counted (a send is
/// counted before its outcome is written), so the next story's counts are its own.
async fn settle(app: &TestApp) {
    scrape_until(app, "an empty outbox", |s| {
        s.value("jiaoying_outbox_queued_messages", &[]) + s.value("jiaoying_outbox_sending_messages", &[]) == 0.0
    })
    .await;
}

const ALERTS: &str = "jiaoying_alerts_total";
const MESSAGES: &str = "jiaoying_messages_total";
const ANSWERS: &str = "jiaoying_answers_total";

/// Alerts in, messages out, three answers by three paths, a repeat: every count moves by what
/// happened, and the gauges show this database's calls, outbox and pools.
async fn metrics_count_what_happened(app: &mut TestApp) {
    let _logs = logs();
    let _counters = COUNTERS.lock().await;
    let before = scrape(app).await;
    let accepted = [("source", "cma"), ("tier", "red"), ("result", "accepted")];
    let duplicate = [("source", "cma"), ("tier", "red"), ("result", "duplicate")];
    let rejected = [("source", "cma"), ("tier", "unknown"), ("result", "rejected")];
    let sms_sent = [("channel", "sms"), ("outcome", "sent")];
    let mail_sent = [("channel", "email"), ("outcome", "sent")];

    let (status, body) = app.post_alert(&red_alert("obs-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alert_id = body["id"].as_i64().unwrap();
    let (status, _) = app.post_alert(&red_alert("obs-1")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.post_alert_raw(b"{not json".to_vec(), "application/json", Some(SOURCE_TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Four calls by SMS, two of them also by e-mail.
    app.gateway.wait_for(4).await;
    app.smtp.wait_for(2).await;
    let s = scrape_until(app, "the first sends", |s| {
        s.value(MESSAGES, &sms_sent) - before.value(MESSAGES, &sms_sent) >= 4.0
            && s.value(MESSAGES, &mail_sent) - before.value(MESSAGES, &mail_sent) >= 2.0
    })
    .await;
    let delta = |name: &str, labels: &[(&str, &str)]| s.value(name, labels) - before.value(name, labels);
    assert_eq!(delta(ALERTS, &accepted), 1.0);
    assert_eq!(delta(ALERTS, &duplicate), 1.0);
    assert_eq!(delta(ALERTS, &rejected), 1.0);
    assert_eq!(delta(MESSAGES, &sms_sent), app.gateway.received().len() as f64);
    assert_eq!(delta(MESSAGES, &mail_sent), 2.0);
    assert_eq!(delta(MESSAGES, &[("outcome", "retry")]) + delta(MESSAGES, &[("outcome", "failed")]), 0.0);
    assert!(delta("jiaoying_gateway_request_duration_seconds_count", &[("channel", "sms")]) >= 1.0);
    assert!(s.has("jiaoying_gateway_request_duration_seconds_bucket", &[("channel", "sms"), ("le", "+Inf")]));

    // Answers by SMS reply, by link, and by an officer on the person's behalf.
    let sms = app.gateway.received();
    let grid = sms.iter().find(|m| m.to() == GRID.1).expect("SMS to the grid worker");
    let (status, reply) = app.sms_reply(GRID.1, grid.code().unwrap()).await;
    assert_eq!((status, reply["result"].as_str()), (StatusCode::OK, Some("answered")), "{reply}");
    let head = sms.iter().find(|m| m.to() == HEAD.1).expect("SMS to the community head");
    let (status, _) = app.click_confirm(head.link().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let unit_call = app.call_of(alert_id, UNIT.0).await;
    let r = app
        .client
        .post(format!("{}/api/v1/calls/{}/answer", app.address, unit_call["id"]))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({"note": "电话联系上了"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Five minutes on, the unanswered call (the regulatory officer's) is repeated.
    app.call_reaches(alert_id, REG.0, "sent").await;
    app.advance(Span::from_mins(5));
    let repeated = app.gateway.wait_for(sms.len() + 2).await; // the confirmation and the repeat
    assert!(repeated.iter().filter(|m| m.to() == REG.1).count() >= 2, "{repeated:#?}");

    let s = scrape_until(app, "the confirmation and the repeat", |s| {
        s.value(MESSAGES, &sms_sent) - before.value(MESSAGES, &sms_sent) >= app.gateway.received().len() as f64
    })
    .await;
    let delta = |name: &str, labels: &[(&str, &str)]| s.value(name, labels) - before.value(name, labels);
    assert_eq!(delta(MESSAGES, &sms_sent), app.gateway.received().len() as f64, "one count per message received");
    for path in ["sms", "link", "officer"] {
        assert_eq!(delta(ANSWERS, &[("path", path)]), 1.0, "answers by {path}");
    }
    assert_eq!(delta(ANSWERS, &[("path", "voice")]), 0.0);
    assert!(delta("jiaoying_scheduler_lateness_seconds_count", &[]) >= 1.0, "the repeat was timed");
    assert!(s.has("jiaoying_scheduler_lateness_seconds_bucket", &[("le", "0.01")]));

    // Gauges read from this app's database: its four calls, three answered (counted afresh: the
    // clock moved five minutes since the count of the first scrape).
    assert_eq!(s.value("jiaoying_calls", &[("state", "answered")]), 3.0);
    assert_eq!(s.value("jiaoying_calls", &[]), 4.0, "every call counted once, by its state");
    assert!(s.has("jiaoying_calls", &[("state", "escalated")]), "every state is shown, zeros too");
    for channel in ["sms", "email"] {
        assert!(s.has("jiaoying_outbox_queued_messages", &[("channel", channel)]));
        assert!(s.has("jiaoying_outbox_drain_estimate_seconds", &[("channel", channel)]));
    }
    let pools: &[&str] =
        if app.handle.store.backend() == jiaoying_store::Backend::Sqlite { &["write", "read"] } else { &["main"] };
    for pool in pools {
        assert!(s.value("jiaoying_db_pool_max_connections", &[("pool", pool)]) >= 1.0, "pool {pool}");
        assert!(s.has("jiaoying_db_pool_connections", &[("pool", pool), ("state", "idle")]));
    }
    assert!(s.value("jiaoying_loop_last_step_age_seconds", &[("loop", "timers")]) < 60.0);
    assert!(s.has("jiaoying_loop_last_step_age_seconds", &[("loop", "outbox:sms")]));
    assert_eq!(s.value("jiaoying_database_up", &[]), 1.0);
    settle(app).await;
}
app_story!(metrics_count_what_happened);

/// The calls by state are a count over every call: a scrape within five seconds (of the
/// service's clock) of the last count is answered with that count, a later one counts again.
async fn the_calls_gauge_is_counted_at_most_every_five_seconds(app: &mut TestApp) {
    let _logs = logs();
    // It sends too: not while another story counts sends.
    let _counters = COUNTERS.lock().await;
    assert_eq!(scrape(app).await.value("jiaoying_calls", &[]), 0.0, "a fresh database");
    let (status, body) = app.post_alert(&red_alert("obs-calls-count")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let s = scrape(app).await;
    assert_eq!(s.value("jiaoying_calls", &[]), 0.0, "the count made just before the alert, reused");
    assert_eq!(s.value("jiaoying_database_up", &[]), 1.0);
    app.advance(Span::from_secs(4));
    assert_eq!(scrape(app).await.value("jiaoying_calls", &[]), 0.0, "reused for five seconds");
    app.advance(Span::from_secs(1));
    let s = scrape(app).await;
    assert_eq!(s.value("jiaoying_calls", &[]), 4.0, "counted again after five seconds");
    settle(app).await;
}
app_story!(the_calls_gauge_is_counted_at_most_every_five_seconds);

/// Ready while the database answers and the loops run; 503 once the database is gone, while
/// the process stays alive and `/metrics` still answers.
async fn readiness_follows_the_database(app: &mut TestApp) {
    let get = |path: &'static str| {
        let (client, url) = (app.client.clone(), format!("{}{path}", app.address));
        async move {
            let r = client.get(url).send().await.expect("GET");
            let status = r.status();
            (status, r.text().await.unwrap_or_default())
        }
    };
    let (status, body) = get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((ready["database"].as_str(), ready["migrations"].as_str()), (Some("ok"), Some("applied")));
    for name in ["timers", "outbox:sms", "outbox:email"] {
        assert_eq!(ready["loops"][name]["ok"], true, "{body}");
    }

    app.handle.store.close().await;
    let (status, body) = get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((ready["status"].as_str(), ready["database"].as_str()), (Some("not ready"), Some("unreachable")));
    assert_eq!(get("/healthz").await.0, StatusCode::OK);
    let (status, text) = get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(Scrape::parse(&text).value("jiaoying_database_up", &[]), 0.0, "{text}");
}
app_story!(readiness_follows_the_database);

/// What a send logs (at debug: one line per message is too many for info) names the number
/// masked, with the message's ids, as one JSON object per line; no log line of this process holds
/// a whole number of the test registry.
async fn logs_are_json_and_mask_numbers(app: &mut TestApp) {
    let logs = logs();
    // It sends too: not while another story counts sends.
    let _counters = COUNTERS.lock().await;
    let (status, body) = app.post_alert(&red_alert("obs-logs")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alert_id = body["id"].as_i64().unwrap();
    app.gateway.wait_for(4).await;
    let masked = "+86139****0004"; // the grid worker, +8613900000004
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let sent = loop {
        let lines: Vec<Value> = logs
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l}")))
            .collect();
        let found = lines
            .into_iter()
            .find(|l| l["message"] == "message sent" && l["to"] == masked && l["alert_id"].as_i64() == Some(alert_id));
        if let Some(line) = found {
            break line;
        }
        assert!(tokio::time::Instant::now() < deadline, "no debug line for the send to {masked}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(sent["level"], "DEBUG", "failures are warnings; a send is routine");
    assert_eq!(sent["channel"], "sms");
    assert!(sent["message_id"].as_i64().is_some() && sent["call_id"].as_i64().is_some(), "{sent}");

    settle(app).await;
    let text = logs.text();
    for (person, mobile) in [LEADER, DUTY, HEAD, GRID, UNIT, REG] {
        let bare = mobile.trim_start_matches("+86");
        assert!(!text.contains(bare), "{person}'s number {mobile} is in the logs:\n{text}");
    }
}
app_story!(logs_are_json_and_mask_numbers);

/// With `[metrics] token` set, a scrape without it is refused and one with it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_guards_the_scrape() {
    const TOKEN: &str = "metrics-token-for-the-tests";
    let app =
        jiaoying_tests::spawn_app_with(jiaoying_tests::Backend::Sqlite, &format!("[metrics]\ntoken = \"{TOKEN}\"\n"))
            .await
            .unwrap();
    let url = format!("{}/metrics", app.address);
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let r = app.client.get(&url).bearer_auth("not-the-token").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("jiaoying_database_up 1"));
    // Probes stay open: orchestrators send no token.
    assert_eq!(app.client.get(format!("{}/readyz", app.address)).send().await.unwrap().status(), StatusCode::OK);
    app.finish().await;
}

/// The Grafana dashboard reads only metrics the service exports, and shows each panel the issue
/// asks for.
#[test]
fn the_dashboard_reads_exported_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut used = std::collections::BTreeSet::new();
    for expr in panels.iter().flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default()) {
        let expr = expr["expr"].as_str().expect("a PromQL expression");
        let mut rest = expr;
        while let Some(at) = rest.find("jiaoying_") {
            let name: String =
                rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit()).collect();
            rest = &rest[at + name.len()..];
            let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
            assert!(jiaoying_core::metric_names::ALL.contains(&base), "{name} in {expr} is not exported");
            used.insert(base.to_string());
        }
    }
    for name in jiaoying_core::metric_names::ALL {
        assert!(used.contains(*name), "the dashboard does not show {name}");
    }
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for want in [
        "Alerts per minute",
        "Calls by state",
        "Answer rate",
        "Messages per minute",
        "Gateway latency",
        "Outbox backlog",
        "drain estimate",
        "Scheduler lateness",
        "Feed",
        "Database pool",
    ] {
        assert!(titles.iter().any(|t| t.contains(want)), "no panel for {want}: {titles:?}");
    }
}
