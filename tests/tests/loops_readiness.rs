//! Background loops and shutdown (issue 8), on both backends: `/readyz` and `/metrics` name the
//! scheduled-duty loop, the outgoing-link loops, the feed poller and (on PostgreSQL) the event
//! relay beside the timers and the outbox, and a loop that has ended makes the instance unready at
//! once; a stopping instance claims no more webhook deliveries and returns those it holds, so they
//! can be claimed again at once, not after their lease.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get as route_get, post};
use axum::Router;
use jiaoying::Application;
use jiaoying_core::{Clock, Span};
use jiaoying_linking::{deliver::LEASE, LinkConfig, Linker, Pulse, SubscriberSpec};
use jiaoying_store::{Backend, LinkDeliveryFilter, LinkDeliveryRow, NewLinkDelivery, Store, INTERRUPTED_DELIVERY};
use jiaoying_tests::{app_story_with, red_alert, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

const HOOK_SECRET: &str = "loops-hook-secret-0123456789";

/// A subscriber on loopback that holds every request until [`SlowHook::let_go`]: a POST that
/// is in flight for as long as a test needs, with its arrival announced. The same server serves
/// an empty Atom feed, for a polled source.
#[derive(Clone)]
struct SlowHook {
    url: String,
    feed_url: String,
    inner: Arc<SlowInner>,
}

const EMPTY_FEED: &str = "<feed xmlns='http://www.w3.org/2005/Atom'><id>urn:loops:empty</id></feed>";

struct SlowInner {
    arrived: AtomicUsize,
    bell: Notify,
    gate: watch::Sender<bool>,
}

async fn hold(State(inner): State<Arc<SlowInner>>) -> axum::http::StatusCode {
    inner.arrived.fetch_add(1, Ordering::SeqCst);
    inner.bell.notify_waiters();
    let mut open = inner.gate.subscribe();
    let _ = open.wait_for(|o| *o).await;
    axum::http::StatusCode::OK
}

impl SlowHook {
    async fn start() -> SlowHook {
        let inner =
            Arc::new(SlowInner { arrived: AtomicUsize::new(0), bell: Notify::new(), gate: watch::channel(false).0 });
        let app = Router::new()
            .route("/slow", post(hold))
            .route("/feed.atom", route_get(|| async { ([("content-type", "application/atom+xml")], EMPTY_FEED) }))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SlowHook { url: format!("{origin}/slow"), feed_url: format!("{origin}/feed.atom"), inner }
    }

    /// Waits until a request is being held. The timeout is a safety net, not a synchronisation.
    async fn wait_for_request(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rang = self.inner.bell.notified();
            tokio::pin!(rang);
            rang.as_mut().enable();
            if self.inner.arrived.load(Ordering::SeqCst) > 0 {
                return;
            }
            tokio::time::timeout_at(deadline, rang).await.expect("the subscriber got no request");
        }
    }

    /// Answers the requests held, and every later one at once.
    fn let_go(&self) {
        self.inner.gate.send_replace(true);
    }
}

/// A scheduled duty, one subscriber, `district`, whose POSTs may take a minute, and a polled
/// source.
fn config(hook: &SlowHook) -> String {
    format!(
        r#"
[[sources]]
id = "feed"
token = "loops-feed-token-0123456789abcdef"
poll = {{ url = "{feed}", schedule = "0 */2 * * * *" }}
[duties.inspection]
schedule = "0 30 9 * * *"
channels = ["sms"]
[[subscribers]]
name = "district"
url = "{url}"
secret = "{HOOK_SECRET}"
timeout = "60s"
"#,
        url = hook.url,
        feed = hook.feed_url,
    )
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = app.client.get(format!("{}{path}", app.address)).send().await.expect("GET");
    let status = r.status();
    (status, r.text().await.unwrap_or_default())
}

/// `/readyz` once it answers `want` with a body that passes `check`; the safety net is long,
/// each look short (the loops end on their own time: nothing to await from outside).
async fn readyz_until(app: &TestApp, want: StatusCode, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(app, "/readyz").await;
        let ready: Value = serde_json::from_str(&body).expect("readyz is JSON");
        if status == want && check(&ready) {
            return ready;
        }
        assert!(Instant::now() < deadline, "/readyz still {status}, not {want}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The loops of this config: the event relay only on PostgreSQL (SQLite has none).
fn loops(app: &TestApp) -> Vec<&'static str> {
    let mut loops =
        vec!["timers", "outbox:sms", "outbox:email", "duties", "links:follow", "links:deliver:district", "feeds"];
    if app.handle.store.backend() == Backend::Postgres {
        loops.push("events:relay");
    }
    loops
}

/// `/readyz` once every loop in `ended` is reported stopped: 503 and not ready, each of them
/// `running: false`, and every other loop still fine.
async fn unready_once_ended(app: &TestApp, ended: &[&str]) {
    let stopped = |r: &Value| ended.iter().all(|name| r["loops"][name]["running"] == false);
    let unready = readyz_until(app, StatusCode::SERVICE_UNAVAILABLE, stopped).await;
    assert_eq!(unready["status"], "not ready", "{unready}");
    assert_eq!(unready["database"], "ok");
    for name in ended {
        let l = &unready["loops"][name];
        assert_eq!((l["ok"].as_bool(), l["running"].as_bool()), (Some(false), Some(false)), "{name}: {unready}");
    }
    for name in loops(app).into_iter().filter(|name| !ended.contains(name)) {
        assert_eq!(unready["loops"][name]["ok"], true, "{name}: {unready}");
    }
}

/// Every loop is named in `/readyz` and `/metrics` (the event relay on PostgreSQL only); when the
/// feed poller ends, and then the link loops (as they would if they died), the instance is
/// unready at once, saying which loops, while the others stay fine.
async fn readiness_names_every_loop_and_an_ended_one_makes_it_unready(app: &mut TestApp, _hook: &SlowHook) {
    let all_named = |r: &Value| loops(app).iter().all(|name| r["loops"].get(name).is_some());
    let ready = readyz_until(app, StatusCode::OK, all_named).await;
    for name in loops(app) {
        let l = &ready["loops"][name];
        assert_eq!((l["ok"].as_bool(), l["running"].as_bool()), (Some(true), Some(true)), "{name}: {ready}");
    }
    let named: Vec<&str> = ready["loops"].as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = loops(app);
    expected.sort();
    assert_eq!(named, expected, "no other loop, and no relay on SQLite");
    let (status, metrics) = get(app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for name in loops(app) {
        let series = format!("jiaoying_loop_last_step_age_seconds{{loop=\"{name}\"}}");
        assert!(metrics.contains(&series), "{series} is not exported:\n{metrics}");
    }

    app.handle.feeds.as_ref().expect("a source is polled").stop();
    unready_once_ended(app, &["feeds"]).await;

    app.handle.linking.stop();
    unready_once_ended(app, &["feeds", "links:follow", "links:deliver:district"]).await;
}
app_story_with!(
    let hook = SlowHook::start().await;
    config(&hook),
    readiness_names_every_loop_and_an_ended_one_makes_it_unready
);

/// The subscriber's deliveries, oldest first.
async fn deliveries(store: &Arc<dyn Store>, subscriber: &str) -> Vec<LinkDeliveryRow> {
    let filter = LinkDeliveryFilter { subscriber: subscriber.into(), state: None, limit: 1000, offset: 0 };
    let (mut rows, _) = store.link_deliveries(&filter).await.expect("deliveries");
    rows.reverse();
    rows
}

/// An instance stopped (as SIGTERM stops it) while a POST hangs past its grace period exits
/// within the grace, and leaves the delivery queued again, marked interrupted: another instance
/// claims it at once, long before its lease would have ended.
async fn a_stopped_instance_returns_the_delivery_it_was_posting(app: &mut TestApp, hook: &SlowHook) {
    // This story's instance: the harness's, with a short grace.
    app.stop().await;
    let mut settings = app.settings();
    settings.server.shutdown_grace = Span::from_millis(1_500);
    let instance = Application::build(&settings, Arc::new(app.clock.clone())).await.expect("instance builds");
    app.address = format!("http://127.0.0.1:{}", instance.port());
    app.handle = instance.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(instance.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let (status, body) = app.post_alert(&red_alert("loops-stop-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    hook.wait_for_request().await;

    let asked = Instant::now();
    let _ = stop.send(());
    running.await.expect("instance task").expect("the instance stops cleanly");
    assert!(asked.elapsed() < Duration::from_secs(10), "it waited {:?} for a POST of up to 60 s", asked.elapsed());

    let store = jiaoying_store::connect(&app.db.url).await.expect("the database again");
    let rows = deliveries(&store, "district").await;
    assert!(!rows.is_empty(), "the alert was queued for the subscriber");
    assert!(rows.iter().all(|d| d.state == "queued" && d.lease_until.is_none()), "{rows:#?}");
    assert_eq!(rows[0].last_error.as_deref(), Some(INTERRUPTED_DELIVERY), "{:#?}", rows[0]);
    assert_eq!(rows[0].attempts, 0, "its outcome is unknown: no attempt counted");

    // Another instance, at the same moment: everything is its to send, in order.
    let now = app.clock.now();
    let claimed = store.claim_link_deliveries("district", now.millis(), now.plus(LEASE).millis(), 50).await.unwrap();
    let ids = |r: &[LinkDeliveryRow]| r.iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(&claimed), ids(&rows));
    hook.let_go();
    store.close().await;
}
app_story_with!(
    let hook = SlowHook::start().await;
    config(&hook),
    a_stopped_instance_returns_the_delivery_it_was_posting
);

/// A linker of its own for subscriber `probe` (the harness's instance does not serve it), with
/// `n` deliveries queued for it.
async fn probe_with_deliveries(app: &TestApp, hook: &SlowHook, n: usize) -> Arc<Linker> {
    let spec: SubscriberSpec = toml::from_str(&format!(
        "name = \"probe\"\nurl = \"{}\"\nsecret = \"{HOOK_SECRET}\"\ntimeout = \"60s\"",
        hook.url
    ))
    .unwrap();
    let config = LinkConfig::from_specs(&Default::default(), &[spec], "http://jiaoying.test", "s").unwrap();
    let linker = Linker::new(app.handle.store.clone(), Arc::new(app.clock.clone()), config).unwrap();
    linker.start().await.unwrap();
    let store = &app.handle.store;
    // The cursor `start` gave it; moved nowhere, only to queue these.
    let heads = store.link_log_heads().await.unwrap();
    let cursor = store.ensure_link_cursor("probe", heads, 0).await.unwrap();
    let queued: Vec<NewLinkDelivery> = (1..=n)
        .map(|i| NewLinkDelivery {
            subscriber: "probe".into(),
            event_key: format!("test:{i}"),
            event: "alert.received".into(),
            alert_id: None,
            call_id: None,
            body: format!("{{\"n\":{i}}}"),
        })
        .collect();
    assert!(store.advance_link_cursor("probe", cursor, cursor, &queued, app.clock.now().millis()).await.unwrap());
    Arc::new(linker)
}

/// Through the linker: a stopping one claims nothing, and returns its claim at once: the
/// delivery it was POSTing interrupted, the rest as never tried; the answer that comes in later
/// does not touch what another instance has claimed since.
async fn a_stopping_linker_returns_its_claim_and_claims_nothing(app: &mut TestApp, hook: &SlowHook) {
    let linker = probe_with_deliveries(app, hook, 3).await;
    let step = tokio::spawn({
        let linker = linker.clone();
        async move {
            let pulse: Pulse = Arc::new(|| {});
            linker.deliver_step("probe", &pulse).await
        }
    });
    hook.wait_for_request().await;
    let store = app.handle.store.clone();
    let rows = deliveries(&store, "probe").await;
    assert!(rows.iter().all(|d| d.state == "sending"), "one claim of the three: {rows:#?}");

    linker.stop();
    assert_eq!(linker.release_held().await.unwrap(), 3);
    let rows = deliveries(&store, "probe").await;
    let summary: Vec<(&str, Option<&str>)> = rows.iter().map(|d| (d.state.as_str(), d.last_error.as_deref())).collect();
    assert_eq!(summary, vec![("queued", Some(INTERRUPTED_DELIVERY)), ("queued", None), ("queued", None)]);

    // Stopping: it claims nothing though everything is due.
    let pulse: Pulse = Arc::new(|| {});
    assert_eq!(linker.deliver_step("probe", &pulse).await.unwrap(), jiaoying_tracker::Step::Empty { next_due: None });
    assert!(deliveries(&store, "probe").await.iter().all(|d| d.state == "queued"));

    // Another instance claims them at once (a second on: the claim's lease is what tells two
    // claims apart), in order; then the held POST is answered.
    app.clock.advance(Span::from_secs(1));
    let now = app.clock.now();
    let lease = now.plus(LEASE).millis();
    let claimed = store.claim_link_deliveries("probe", now.millis(), lease, 50).await.unwrap();
    assert_eq!(claimed.iter().map(|d| d.id).collect::<Vec<_>>(), rows.iter().map(|d| d.id).collect::<Vec<_>>());
    hook.let_go();
    step.await.expect("step task").expect("the first step ends");
    let rows = deliveries(&store, "probe").await;
    assert!(
        rows.iter().all(|d| d.state == "sending" && d.lease_until == Some(lease) && d.attempts == 0),
        "the late answer changed another's claim: {rows:#?}"
    );
}
app_story_with!(
    let hook = SlowHook::start().await;
    config(&hook),
    a_stopping_linker_returns_its_claim_and_claims_nothing
);
