//! Outgoing links (issue 8) on both backends: the Atom feed of our alerts (manual warnings too)
//! read back as a neighbour's jiaoying reads it, each entry's CAP document read back by our own
//! CAP parser, conditional GETs answered 304; and signed webhooks to a subscriber (a real HTTP
//! server on loopback that checks the signature with its own HMAC code), in order, retried while
//! it fails, none lost and none twice, with the per-subscriber log.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use jiaoying_core::{Clock, MsgType, Span};
use jiaoying_tests::app::{API_TOKEN, GRID};
use jiaoying_tests::{app_story_with, red_alert, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Notify;

const HOOK_SECRET: &str = "district-hook-secret-0123456789";
const READER_TOKEN: &str = "neighbour-feed-token-0123456789";
const SENDER: &str = "jiaoying@gyq.test";

// --- a subscriber on loopback ---

#[derive(Debug, Clone)]
struct Received {
    body: Value,
    signature_ok: bool,
    event_header: String,
    delivery: i64,
}

impl Received {
    fn event(&self) -> &str {
        self.body["event"].as_str().unwrap_or("")
    }
    fn id(&self) -> &str {
        self.body["id"].as_str().unwrap_or("")
    }
}

struct HookInner {
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    requests: AtomicUsize,
    status: AtomicU16,
}

#[derive(Clone)]
struct Hook {
    url: String,
    inner: Arc<HookInner>,
}

async fn receive(State(inner): State<Arc<HookInner>>, headers: HeaderMap, body: Bytes) -> AxStatus {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let status = AxStatus::from_u16(inner.status.load(Ordering::SeqCst)).unwrap_or(AxStatus::OK);
    if status.is_success() {
        // The receiver's own check, as the docs tell neighbours to write it.
        let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
        mac.update(&body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        inner.received.lock().unwrap().push(Received {
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            signature_ok: header("x-jiaoying-signature") == want,
            event_header: header("x-jiaoying-event"),
            delivery: header("x-jiaoying-delivery").parse().unwrap_or(-1),
        });
        inner.arrived.notify_waiters();
    }
    status
}

impl Hook {
    async fn start() -> Hook {
        let inner = Arc::new(HookInner {
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            requests: AtomicUsize::new(0),
            status: AtomicU16::new(200),
        });
        let app = Router::new().route("/hook", post(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hook { url, inner }
    }

    fn set_status(&self, status: u16) {
        self.inner.status.store(status, Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until the received events include every one of `events` (in any order), and returns
    /// all received. The timeout is a safety net, not a synchronisation device.
    async fn wait_for_events(&self, events: &[&str]) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let arrived = self.inner.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let got = self.received();
            let mut left: Vec<&str> = events.to_vec();
            for r in &got {
                if let Some(i) = left.iter().position(|e| *e == r.event()) {
                    left.remove(i);
                }
            }
            if left.is_empty() {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let seen: Vec<&str> = got.iter().map(|r| r.event()).collect();
                panic!("subscriber: still waiting for {left:?}; got {seen:?}");
            }
        }
    }

    /// Waits until at least `n` requests came in, accepted or not.
    async fn wait_for_requests(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.requests() < n {
            assert!(tokio::time::Instant::now() < deadline, "subscriber: {} requests, waited for {n}", self.requests());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The feed and the subscriber `hook` configured. Each story runs as
/// `async fn story(app: &mut TestApp, hook: &Hook)` with a fresh subscriber on loopback, through
/// `app_story_with!(let hook = Hook::start().await; link_config(&hook), story)`.
fn link_config(hook: &Hook) -> String {
    format!(
        r#"
[feeds_out]
sender = "{SENDER}"
sender_name = "观音桥街道应急办"
[[feeds_out.readers]]
name = "neighbour"
token = "{READER_TOKEN}"
[[subscribers]]
name = "district"
url = "{url}"
secret = "{HOOK_SECRET}"
"#,
        url = hook.url
    )
}

// --- helpers ---

async fn get_raw(app: &TestApp, path: &str, auth: Option<&str>, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(t) = auth {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn post_json(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app.client.post(format!("{}{path}", app.address)).bearer_auth(API_TOKEN).json(&body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A link on the public URL, on this app's address.
fn local(app: &TestApp, url: &str) -> String {
    format!("{}{}", app.address, url.strip_prefix("http://jiaoying.test").expect("a link on the public URL"))
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Waits until the subscriber's log shows `n` deliveries delivered and none waiting (the hook has
/// a body before the outcome is recorded), and returns its line of `/api/v1/subscribers`.
async fn wait_delivered(app: &TestApp, n: usize) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, subs) = app.get_api("/api/v1/subscribers").await;
        assert_eq!(status, StatusCode::OK, "{subs}");
        let s = subs["subscribers"][0].clone();
        if s["delivered"].as_i64() == Some(n as i64) && s["queued"] == 0 && s["sending"] == 0 {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {n} delivered: {subs}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Posts the red alert and answers the grid worker's call by SMS; returns the alert's id.
async fn alert_and_answer(app: &TestApp, identifier: &str) -> i64 {
    let (status, body) = app.post_alert(&red_alert(identifier)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    let grid = sms.iter().find(|m| m.to() == GRID.1).expect("the grid worker is texted");
    app.call_reaches(alert_id, GRID.0, "sent").await;
    let (_, reply) = app.sms_reply(GRID.1, grid.code().unwrap()).await;
    assert_eq!(reply["result"], "answered", "{reply}");
    alert_id
}

// --- the feed ---

async fn the_feed_lists_alerts_and_manual_warnings_as_cap(app: &mut TestApp, _hook: &Hook) {
    let (_, body) = app.post_alert(&red_alert("cq-feed-1")).await;
    let posted = body["id"].as_i64().unwrap();
    app.clock.advance(Span::from_secs(60));
    let manual = json!({"event": "地质灾害", "tier": "orange", "areas": ["500105002001"], "text": "区规划自然资源局电话通知：地质灾害橙色预警"});
    let (status, body) = post_json(app, "/api/v1/alerts/manual", manual).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let manual_id = body["id"].as_i64().unwrap();

    // Who may read: a reader token (header or query), an API token; nobody else.
    assert_eq!(get_raw(app, "/feeds/alerts.atom", None, &[]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_raw(app, "/feeds/alerts.atom?token=wrong-token", None, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get_raw(app, "/feeds/alerts.atom", Some("wrong-token"), &[]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get_raw(app, "/feeds/alerts.atom", Some(READER_TOKEN), &[]).await.status(), StatusCode::OK);
    assert_eq!(get_raw(app, "/feeds/alerts.atom", Some(API_TOKEN), &[]).await.status(), StatusCode::OK);
    let reader_token_is_not_an_api_token = get_raw(app, "/api/v1/alerts", Some(READER_TOKEN), &[]).await;
    assert_eq!(reader_token_is_not_an_api_token.status(), StatusCode::UNAUTHORIZED);

    let path = format!("/feeds/alerts.atom?token={READER_TOKEN}");
    let r = get_raw(app, &path, None, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("application/atom+xml"), "{}", header(&r, "content-type"));
    let (etag, last_modified) = (header(&r, "etag"), header(&r, "last-modified"));
    assert!(etag.starts_with('"') && !last_modified.is_empty(), "validators: {etag:?} {last_modified:?}");
    let atom = r.bytes().await.unwrap();

    // Read as a neighbour's jiaoying reads a feed: newest first, one entry per alert.
    let base = jiaoying_feeds::Url::parse("http://jiaoying.test/feeds/alerts.atom").unwrap();
    let entries = jiaoying_feeds::parse_index(&atom, &base).unwrap();
    assert_eq!(entries.len(), 2, "{}", String::from_utf8_lossy(&atom));
    assert!(entries[0].url.path().ends_with(&format!("/feeds/alerts/{manual_id}.cap")), "newest first: {entries:?}");
    assert!(entries[1].url.path().ends_with(&format!("/feeds/alerts/{posted}.cap")));
    assert!(entries[0].url.query().unwrap_or("").contains(&format!("token={READER_TOKEN}")), "links carry the token");

    // A repeat conditional GET: 304, no body; by ETag or by date.
    let r = get_raw(app, &path, None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&r, "etag"), etag);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = get_raw(app, &path, None, &[("if-modified-since", &last_modified)]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(get_raw(app, &path, None, &[("if-none-match", "\"other\"")]).await.status(), StatusCode::OK);

    // Each entry's CAP document, read back by our own parser.
    let fetch_cap = |url: &jiaoying_feeds::Url| {
        let url = local(app, url.as_str());
        let client = app.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert!(header(&r, "content-type").starts_with("application/cap+xml"));
            let etag = header(&r, "etag");
            (r.bytes().await.unwrap(), etag)
        }
    };
    let (xml, _) = fetch_cap(&entries[1].url).await;
    let cap = jiaoying_ingest::parse_cap(&xml).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&xml)));
    assert_eq!(cap.identifier, format!("alert-{posted}"));
    assert_eq!(cap.sender, SENDER);
    assert_eq!(cap.status.as_str(), "Actual");
    assert_eq!(cap.msg_type, MsgType::Alert);
    assert_eq!(cap.scope.as_str(), "Public");
    assert_eq!(cap.source.as_deref(), Some("cma"));
    let info = &cap.infos[0];
    assert_eq!(info.event, "暴雨");
    assert_eq!(info.categories[0].as_str(), "Met");
    assert_eq!((info.urgency.as_str(), info.severity.as_str()), ("Immediate", "Extreme"));
    assert_eq!(info.headline.as_deref(), Some("江北区气象台发布暴雨红色预警"));
    assert_eq!(info.sender_name.as_deref(), Some("观音桥街道应急办"));
    assert_eq!(info.areas[0].area_desc, "建新社区", "the registry's name of the area");
    assert_eq!(info.areas[0].geocodes[0].value, "500105002001");
    let back = cap.to_new_alert().unwrap();
    assert_eq!((back.tier.as_str(), back.areas.len()), ("red", 1));

    let (xml, manual_etag) = fetch_cap(&entries[0].url).await;
    let cap = jiaoying_ingest::parse_cap(&xml).unwrap();
    assert_eq!(cap.identifier, format!("alert-{manual_id}"));
    assert_eq!(cap.source.as_deref(), Some("duty_officer"), "a manual warning says so");
    assert_eq!(cap.infos[0].event, "地质灾害");
    assert_eq!(cap.infos[0].categories[0].as_str(), "Geo");
    assert_eq!(cap.to_new_alert().unwrap().tier.as_str(), "orange");
    let cap_path = format!("/feeds/alerts/{manual_id}.cap");
    let r = get_raw(app, &cap_path, Some(READER_TOKEN), &[("if-none-match", &manual_etag)]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(get_raw(app, &cap_path, None, &[]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get_raw(app, "/feeds/alerts/999999.cap", Some(READER_TOKEN), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get_raw(app, "/feeds/alerts/abc.cap", Some(READER_TOKEN), &[]).await.status(), StatusCode::NOT_FOUND);

    // An officer cancels the manual warning: its document becomes a Cancel of the first version,
    // with the reason; the feed changes, and its link names the new version.
    app.clock.advance(Span::from_secs(60));
    let (status, body) =
        post_json(app, &format!("/api/v1/alerts/{manual_id}/cancel"), json!({"reason": "核实为误报"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = get_raw(app, &cap_path, Some(READER_TOKEN), &[("if-none-match", &manual_etag)]).await;
    assert_eq!(r.status(), StatusCode::OK, "the document changed");
    let cap = jiaoying_ingest::parse_cap(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(cap.msg_type, MsgType::Cancel);
    assert_eq!(cap.note.as_deref(), Some("核实为误报"));
    let refs = cap.references_to_others();
    assert_eq!((refs[0].sender.as_str(), refs[0].identifier.clone()), (SENDER, format!("alert-{manual_id}")));
    let r = get_raw(app, &path, None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), StatusCode::OK, "the feed changed");
    let entries2 = jiaoying_feeds::parse_index(&r.bytes().await.unwrap(), &base).unwrap();
    assert_ne!(
        entries2[0].url, entries[0].url,
        "a new version has a new link: readers that take each link once take it"
    );

    // Paging.
    let r = get_raw(app, "/feeds/alerts.atom?limit=1", Some(READER_TOKEN), &[]).await;
    let text = r.text().await.unwrap();
    assert_eq!(jiaoying_feeds::parse_index(text.as_bytes(), &base).unwrap().len(), 1);
    assert!(text.contains("rel=\"next\"") && text.contains("offset=1"), "{text}");
    for bad in ["limit=0", "limit=501", "offset=-1", "limit=x", "nope=1"] {
        let r = get_raw(app, &format!("/feeds/alerts.atom?{bad}"), Some(READER_TOKEN), &[]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}
app_story_with!(let hook = Hook::start().await; link_config(&hook), the_feed_lists_alerts_and_manual_warnings_as_cap);

// --- webhooks ---

async fn a_subscriber_gets_signed_events_in_order(app: &mut TestApp, hook: &Hook) {
    let alert_id = alert_and_answer(app, "cq-hook-1").await;
    let got = hook.wait_for_events(&["alert.taken", "call.answered"]).await;
    assert!(got.iter().all(|r| r.signature_ok), "every body is signed with the subscriber's secret: {got:?}");
    assert!(got.iter().all(|r| r.event_header == r.event()));
    let events: Vec<&str> = got.iter().map(|r| r.event()).collect();
    assert_eq!(events, vec!["alert.taken", "call.answered"], "in order, and no per-message chatter by default");
    assert!(got.windows(2).all(|w| w[0].delivery < w[1].delivery), "delivery ids rise");
    let taken = &got[0].body;
    assert_eq!(taken["sender"], SENDER);
    assert_eq!(taken["alert"]["id"], alert_id);
    assert_eq!(taken["alert"]["tier"], "red");
    assert_eq!(taken["message"]["identifier"], "cq-hook-1");
    assert_eq!(taken["alert"]["cap"], format!("http://jiaoying.test/feeds/alerts/{alert_id}.cap"));
    let answered = &got[1].body;
    assert_eq!(answered["call"]["person_id"], GRID.0);
    assert_eq!(answered["call"]["state"], "answered");
    assert_eq!(answered["call"]["via"], "sms");
    assert!(!answered.to_string().contains(GRID.1), "no phone number leaves");

    // A duty officer cancels: the alert's cancel and the open calls' ends follow.
    let (status, body) = post_json(app, &format!("/api/v1/alerts/{alert_id}/cancel"), json!({"reason": "误报"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let open = app.calls(alert_id).await.iter().filter(|c| c["state"] == "cancelled").count();
    assert!(open >= 1);
    let mut want = vec!["alert.taken", "call.answered", "alert.cancelled"];
    want.extend(std::iter::repeat_n("call.cancelled", open));
    let got = hook.wait_for_events(&want).await;
    let cancelled_at = got.iter().position(|r| r.event() == "alert.cancelled").unwrap();
    assert!(got[cancelled_at..].iter().skip(1).all(|r| r.event() == "call.cancelled"), "{:?}", got);

    // The log: every delivery with its state and attempts.
    let district = &wait_delivered(app, got.len()).await;
    assert_eq!(district["name"], "district");
    assert_eq!(district["configured"], true);
    assert_eq!(district["target"], hook.url.trim_start_matches("http://").trim_end_matches("/hook"));
    assert_eq!(district["failed"], 0);
    assert!(district["head"].is_null(), "nothing waits");
    let (status, log) = app.get_api("/api/v1/subscribers/district/deliveries").await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!(log["total"].as_i64().unwrap() as usize, got.len());
    for d in log["deliveries"].as_array().unwrap() {
        assert_eq!((d["state"].as_str(), d["attempts"].as_i64()), (Some("delivered"), Some(1)), "{d}");
        assert_eq!(d["last_status"], 200);
    }
    assert_eq!(app.get_api("/api/v1/subscribers/nobody/deliveries").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get_api("/api/v1/subscribers/district/deliveries?state=odd").await.0, StatusCode::BAD_REQUEST);
    let anonymous = get_raw(app, "/api/v1/subscribers", None, &[]).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
app_story_with!(let hook = Hook::start().await; link_config(&hook), a_subscriber_gets_signed_events_in_order);

/// Waits until the first subscriber's head delivery shows `tries` failed attempts.
async fn failed_tries_recorded(app: &TestApp, tries: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, subs) = app.get_api("/api/v1/subscribers").await;
        if subs["subscribers"][0]["head"]["attempts"] == tries {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "failed try {tries} never recorded: {subs}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_failing_subscriber_gets_every_event_later_once(app: &mut TestApp, hook: &Hook) {
    hook.set_status(500);
    let alert_id = alert_and_answer(app, "cq-hook-2").await;
    hook.wait_for_requests(1).await;

    // The first delivery waits for its retry (once its outcome is recorded, and the answer is
    // queued behind it); nothing goes out past it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let subs = loop {
        let (_, subs) = app.get_api("/api/v1/subscribers").await;
        let s = &subs["subscribers"][0];
        if s["head"]["last_status"] == 500 && s["queued"] == 2 {
            break subs;
        }
        assert!(tokio::time::Instant::now() < deadline, "the failed try was never recorded: {subs}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let head = &subs["subscribers"][0]["head"];
    assert_eq!(head["event"], "alert.taken", "{subs}");
    assert_eq!(head["attempts"], 1);
    assert!(head["last_error"].as_str().unwrap_or("").contains("HTTP 500"), "{head}");
    assert_eq!(hook.requests(), 1, "the deliveries behind it wait");

    // Two more failed tries, the clock moving past each backoff; then the subscriber is back.
    // Each failure is recorded before the clock moves on: its retry time counts from when it was
    // recorded, and a clock moved first would put the retry past every later step of the test.
    app.clock.advance(Span::from_secs(2));
    hook.wait_for_requests(2).await;
    failed_tries_recorded(app, 2).await;
    app.clock.advance(Span::from_secs(4));
    hook.wait_for_requests(3).await;
    failed_tries_recorded(app, 3).await;
    hook.set_status(200);
    app.clock.advance(Span::from_secs(10));
    let got = hook.wait_for_events(&["alert.taken", "call.answered"]).await;
    let events: Vec<&str> = got.iter().map(|r| r.event()).collect();
    assert_eq!(events, vec!["alert.taken", "call.answered"], "none lost, in order, none twice");
    assert!(got.iter().all(|r| r.signature_ok));
    assert_eq!(got[0].body["alert"]["id"], alert_id);

    // The log shows the attempts; every request the subscriber saw is one of them.
    wait_delivered(app, got.len()).await;
    let (_, log) = app.get_api("/api/v1/subscribers/district/deliveries").await;
    let rows = log["deliveries"].as_array().unwrap().clone();
    assert!(rows.iter().all(|d| d["state"] == "delivered"), "{log}");
    let first = rows.iter().find(|d| d["event"] == "alert.taken").unwrap();
    assert_eq!(first["attempts"], 4, "three refused, then delivered: {first}");
    let attempts: i64 = rows.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert_eq!(attempts as usize, hook.requests(), "no request beyond the recorded attempts");
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), got.len(), "each event once");

    // A restart on the same database keeps the cursor: nothing is queued again, and what
    // happens next still reaches the subscriber (below).
    app.restart().await;
    let (_, subs) = app.get_api("/api/v1/subscribers").await;
    assert_eq!(subs["subscribers"][0]["queued"], 0, "{subs}");
    assert_eq!(hook.received().len(), got.len());

    // A subscriber that refuses (4xx) gets the delivery failed at once, and the queue moves on;
    // an officer can queue the failed ones again.
    hook.set_status(410);
    let (status, body) = post_json(app, &format!("/api/v1/alerts/{alert_id}/cancel"), json!({"reason": "误报"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let (_, subs) = app.get_api("/api/v1/subscribers").await;
        let s = &subs["subscribers"][0];
        if s["queued"] == 0 && s["sending"] == 0 && s["failed"].as_i64().unwrap_or(0) > 0 {
            break s["failed"].as_i64().unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "the refused deliveries never failed: {subs}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (_, log) = app.get_api("/api/v1/subscribers/district/deliveries?state=failed").await;
    assert_eq!(log["total"], failed);
    assert!(log["deliveries"][0]["last_error"].as_str().unwrap().contains("refused: HTTP 410"), "{log}");
    hook.set_status(200);
    let (status, body) = post_json(app, "/api/v1/subscribers/district/redeliver", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requeued"], failed);
    let mut want = vec!["alert.taken", "call.answered", "alert.cancelled"];
    want.extend(std::iter::repeat_n("call.cancelled", failed as usize - 1));
    hook.wait_for_events(&want).await;
}
app_story_with!(let hook = Hook::start().await; link_config(&hook), a_failing_subscriber_gets_every_event_later_once);

// --- ids that commit out of order (PostgreSQL) ---

/// A second follower of the same database, stepped by hand: what it queues for subscriber
/// `probe` shows what a follow step takes.
async fn probe(app: &TestApp, hook: &Hook) -> jiaoying_linking::Linker {
    let spec: jiaoying_linking::SubscriberSpec = toml::from_str(&format!(
        "name = \"probe\"\nurl = \"{}\"\nsecret = \"{HOOK_SECRET}\"\n\
         events = [\"call.answered\", \"call.escalated\", \"call.recalled\"]",
        hook.url
    ))
    .unwrap();
    let config =
        jiaoying_linking::LinkConfig::from_specs(&Default::default(), &[spec], "http://jiaoying.test", "s").unwrap();
    let clock = std::sync::Arc::new(app.clock.clone());
    let linker = jiaoying_linking::Linker::new(app.handle.store.clone(), clock, config).unwrap();
    linker.start().await.unwrap();
    linker
}

async fn probe_keys(app: &TestApp) -> Vec<String> {
    let filter = jiaoying_store::LinkDeliveryFilter { subscriber: "probe".into(), state: None, limit: 1000, offset: 0 };
    let (mut rows, _) = app.handle.store.link_deliveries(&filter).await.unwrap();
    rows.reverse();
    rows.into_iter().map(|r| r.event_key).collect()
}

/// Writes an escalation of `call` into the log on `conn` (inside whatever transaction it has
/// open); returns its id.
async fn log_escalation(conn: &mut sqlx::PgConnection, alert_id: i64, call: i64, at: i64) -> i64 {
    use sqlx::Row;
    sqlx::query(
        "INSERT INTO call_events (alert_id, call_id, at, from_state, to_state, actor) \
         VALUES ($1, $2, $3, 'sent', 'escalated', 'test') RETURNING id",
    )
    .bind(alert_id)
    .bind(call)
    .bind(at)
    .fetch_one(conn)
    .await
    .unwrap()
    .get::<i64, _>(0)
}

async fn a_hole_in_the_ids_is_waited_for_then_passed(app: &mut TestApp, hook: &Hook) {
    use sqlx::Connection;
    let (_, body) = app.post_alert(&red_alert("cq-gap")).await;
    let alert_id = body["id"].as_i64().unwrap();
    let sms = app.gateway.wait_for(4).await;
    app.call_reaches(alert_id, GRID.0, "sent").await;
    let grid_call = app.call_of(alert_id, GRID.0).await["id"].as_i64().unwrap();
    let linker = probe(app, hook).await;
    let grid_code = sms.iter().find(|m| m.to() == GRID.1).unwrap().code().unwrap().to_string();
    if app.db.backend != Backend::Postgres {
        // One writer: ids commit in order, and every visible row is taken at once.
        app.sms_reply(GRID.1, &grid_code).await;
        linker.follow_step().await.unwrap();
        assert_eq!(probe_keys(app).await.len(), 1);
        return;
    }
    let now = app.clock.now().millis();
    // A transaction takes an id and stays open; another commits a later one (an answer).
    let mut held = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut held).await.unwrap();
    let held_id = log_escalation(&mut held, alert_id, grid_call, now).await;
    let (_, reply) = app.sms_reply(GRID.1, &grid_code).await;
    assert_eq!(reply["result"], "answered", "{reply}");
    linker.follow_step().await.unwrap();
    linker.follow_step().await.unwrap();
    assert!(probe_keys(app).await.is_empty(), "nothing is taken past a hole a transaction may still fill");
    // It commits: both are taken, in order, none lost.
    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    linker.follow_step().await.unwrap();
    let keys = probe_keys(app).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], format!("call_event:{held_id}"));

    // A hole that stays (a rolled-back transaction) is passed once every transaction that was
    // in flight when it was seen has ended.
    let mut rolled = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut rolled).await.unwrap();
    log_escalation(&mut rolled, alert_id, grid_call, now).await;
    let head = app.call_of(alert_id, jiaoying_tests::app::HEAD.0).await;
    let (status, body) = post_json(app, &format!("/api/v1/calls/{}/recall", head["id"]), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    linker.follow_step().await.unwrap();
    assert_eq!(probe_keys(app).await.len(), 2, "the recall waits behind the hole");
    sqlx::query("ROLLBACK").execute(&mut rolled).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        linker.follow_step().await.unwrap();
        let keys = probe_keys(app).await;
        if keys.len() == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the hole was never passed: {keys:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
app_story_with!(let hook = Hook::start().await; link_config(&hook), a_hole_in_the_ids_is_waited_for_then_passed);
