//! The receiving end of the fan-out benchmark: a fast HTTP server on loopback that plays the SMS
//! gateway (`POST /sms`, jiaoying's signed webhook; `POST /aliyun`, Aliyun's dysmsapi with
//! `SendSms` and `SendBatchSms`, its V3 signature checked by `dysms`) and the Alertmanager webhook
//! receiver (`POST /am`). It runs on its own OS thread with its own single-threaded runtime, so that taking
//! messages in does not compete with the measured service for its runtime's workers.
//!
//! `/sms` recomputes `X-Jiaoying-Signature` with its own HMAC code (not the service's `sign`),
//! answers 401 to a bad one as a gateway would, and counts each message id once. `/am` counts each
//! `person` label once. Every first arrival is time-stamped, so the figures are taken where the
//! message lands, not where the bench happens to wake up.
//!
//! The reliability suite also reads what each message said ([`Sink::messages`]) and takes the
//! gateway down ([`Sink::set_unavailable`]: every `/sms` is answered 503 until it is back).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::{oneshot, Notify};

use super::dysms;

/// What arrived on one route: the distinct keys and when each first came.
#[derive(Default)]
struct Log<K> {
    seen: HashSet<K>,
    arrivals: Vec<Instant>,
}

impl<K: std::hash::Hash + Eq> Log<K> {
    /// True when `key` is new.
    fn record(&mut self, key: K, at: Instant) -> bool {
        if self.seen.insert(key) {
            self.arrivals.push(at);
            true
        } else {
            false
        }
    }
}

struct Inner {
    secret: Vec<u8>,
    sms: Mutex<Log<String>>,
    sms_invalid: AtomicUsize,
    sms_duplicates: AtomicUsize,
    sms_malformed: AtomicUsize,
    /// Each distinct SMS as it first arrived, in arrival order.
    sms_records: Mutex<Vec<SmsRecord>>,
    /// The ids that arrived more than once (each repeat listed).
    sms_duplicate_ids: Mutex<Vec<String>>,
    /// While set, `/sms` answers 503 without looking at the request.
    unavailable: AtomicBool,
    sms_refused: AtomicUsize,
    /// How long `/sms` takes to answer a valid message, in ms (a real gateway's latency).
    sms_delay_ms: AtomicU64,
    /// Requests the Aliyun route accepted.
    aliyun_requests: AtomicUsize,
    am: Mutex<Log<String>>,
    am_posts: AtomicUsize,
    am_duplicates: AtomicUsize,
    am_malformed: AtomicUsize,
    /// Woken on every new distinct arrival, on either route.
    changed: Notify,
}

/// Counters after a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkCounts {
    pub sms: usize,
    pub sms_invalid: usize,
    pub sms_duplicates: usize,
    pub sms_malformed: usize,
    /// Requests answered 503 while the gateway was down.
    pub sms_refused: usize,
    /// Requests the Aliyun route accepted (each one SMS or a batch of up to 100).
    pub aliyun_requests: usize,
    pub am_persons: usize,
    pub am_posts: usize,
    pub am_duplicates: usize,
    pub am_malformed: usize,
}

pub struct Sink {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Deserialize)]
struct SmsBody {
    id: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: Option<String>,
}

/// One distinct SMS as the gateway first received it.
#[derive(Debug, Clone)]
pub struct SmsRecord {
    pub id: String,
    pub to: String,
    pub text: String,
    /// The call's reply code; absent in a notice or a reply.
    pub code: Option<String>,
    pub at: Instant,
}

#[derive(Deserialize)]
struct AmBody {
    alerts: Vec<AmAlert>,
}

#[derive(Deserialize)]
struct AmAlert {
    labels: std::collections::HashMap<String, String>,
}

impl Inner {
    /// Logs each SMS the gateway took, once by id: a new one is kept and wakes the waiters, a
    /// repeat is counted as a duplicate.
    fn take_sms(&self, sms: impl IntoIterator<Item = SmsRecord>) {
        let mut new = false;
        {
            let mut log = self.sms.lock().expect("sink lock");
            let mut records = self.sms_records.lock().expect("sink lock");
            for record in sms {
                if log.record(record.id.clone(), record.at) {
                    new = true;
                    records.push(record);
                } else {
                    self.sms_duplicates.fetch_add(1, Ordering::Relaxed);
                    self.sms_duplicate_ids.lock().expect("sink lock").push(record.id);
                }
            }
        }
        if new {
            self.changed.notify_waiters();
        }
    }
}

/// `sha256=<hex>` checked against HMAC-SHA256(secret, body), written here from the primitives.
fn signature_ok(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.strip_prefix("sha256=")) else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

async fn sms(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let at = Instant::now();
    if inner.unavailable.load(Ordering::Relaxed) {
        inner.sms_refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"gateway down"}"#.into());
    }
    let header = headers.get("x-jiaoying-signature").and_then(|v| v.to_str().ok());
    if !signature_ok(&inner.secret, &body, header) {
        inner.sms_invalid.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::UNAUTHORIZED, r#"{"error":"bad signature"}"#.into());
    }
    let Ok(msg) = serde_json::from_slice::<SmsBody>(&body) else {
        inner.sms_malformed.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::BAD_REQUEST, r#"{"error":"no id"}"#.into());
    };
    let reply = format!(r#"{{"id":"gw-{}"}}"#, msg.id);
    inner.take_sms([SmsRecord { id: msg.id, to: msg.to, text: msg.text, code: msg.code, at }]);
    let delay = inner.sms_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        // Taken (and counted) on arrival, answered after the gateway's latency: a sender that
        // dies meanwhile has had its SMS delivered all the same.
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    (StatusCode::OK, reply)
}

/// Aliyun's dysmsapi (`SendSms`, `SendBatchSms` with up to 100 numbers): each number reached is
/// one SMS, counted once by `number/code` (a batch carries no per-message id). The access key
/// secret is the sink's secret.
async fn aliyun(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let at = Instant::now();
    if inner.unavailable.load(Ordering::Relaxed) {
        inner.sms_refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, r#"{"Code":"isp.SYSTEM_ERROR"}"#.into());
    }
    let params = dysms::query_params(&uri);
    if let Err(why) = dysms::check_v3(&inner.secret, &method, &uri, &headers, &params, &body) {
        inner.sms_invalid.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::BAD_REQUEST, format!(r#"{{"Code":"SignatureDoesNotMatch","Message":"{why}"}}"#));
    }
    let action = headers.get("x-acs-action").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let deliveries = match dysms::deliveries(action, &params) {
        Ok(d) => d,
        Err(why) => {
            inner.sms_malformed.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::BAD_REQUEST, format!(r#"{{"Code":"isv.INVALID_PARAMETERS","Message":"{why}"}}"#));
        }
    };
    inner.take_sms(deliveries.into_iter().map(|d| {
        let code = d.params.get("code").and_then(|c| c.as_str()).map(str::to_string);
        let id = format!("{}/{}", d.phone, code.as_deref().unwrap_or_default());
        SmsRecord { id, to: d.phone, text: serde_json::Value::Object(d.params).to_string(), code, at }
    }));
    let n = inner.aliyun_requests.fetch_add(1, Ordering::Relaxed);
    (StatusCode::OK, format!(r#"{{"Code":"OK","Message":"OK","BizId":"{n}^0","RequestId":"bench-{n}"}}"#))
}

async fn am(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    inner.am_posts.fetch_add(1, Ordering::Relaxed);
    let Ok(msg) = serde_json::from_slice::<AmBody>(&body) else {
        inner.am_malformed.fetch_add(1, Ordering::Relaxed);
        return StatusCode::BAD_REQUEST;
    };
    let mut new = false;
    {
        let mut log = inner.am.lock().expect("sink lock");
        for alert in msg.alerts {
            match alert.labels.get("person") {
                Some(p) if log.record(p.clone(), at) => new = true,
                Some(_) => {
                    inner.am_duplicates.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    inner.am_malformed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    if new {
        inner.changed.notify_waiters();
    }
    StatusCode::OK
}

/// Which route a wait is about.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    Sms,
    Alertmanager,
}

impl Sink {
    /// Starts the sink on 127.0.0.1 (a free port) on its own thread; `secret` is the SMS
    /// channel's secret.
    pub fn start(secret: &str) -> anyhow::Result<Sink> {
        let inner = Arc::new(Inner {
            secret: secret.as_bytes().to_vec(),
            sms: Mutex::default(),
            sms_invalid: AtomicUsize::new(0),
            sms_duplicates: AtomicUsize::new(0),
            sms_malformed: AtomicUsize::new(0),
            sms_records: Mutex::default(),
            sms_duplicate_ids: Mutex::default(),
            unavailable: AtomicBool::new(false),
            sms_refused: AtomicUsize::new(0),
            sms_delay_ms: AtomicU64::new(0),
            aliyun_requests: AtomicUsize::new(0),
            am: Mutex::default(),
            am_posts: AtomicUsize::new(0),
            am_duplicates: AtomicUsize::new(0),
            am_malformed: AtomicUsize::new(0),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route("/sms", post(sms))
            .route("/am", post(am))
            .route("/aliyun", post(aliyun))
            .with_state(inner.clone());
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("bench-sink".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("sink runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("sink listener: {e}");
                        return;
                    }
                };
                // Not a graceful shutdown: idle keep-alive connections from the service and from
                // Alertmanager would hold it open; dropping the runtime closes them.
                tokio::select! {
                    r = axum::serve(listener, app) => if let Err(e) = r { eprintln!("sink stopped: {e}") },
                    _ = stop_rx => {}
                }
            });
        })?;
        Ok(Sink { addr, inner, stop: Some(stop_tx), thread: Some(thread) })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self, route: Route) -> &Mutex<Log<String>> {
        match route {
            Route::Sms => &self.inner.sms,
            Route::Alertmanager => &self.inner.am,
        }
    }

    /// Distinct arrivals so far on `route`.
    pub fn count(&self, route: Route) -> usize {
        self.log(route).lock().expect("sink lock").arrivals.len()
    }

    /// When the `i`-th distinct arrival (from 0) came, if it has.
    pub fn arrival(&self, route: Route, i: usize) -> Option<Instant> {
        self.log(route).lock().expect("sink lock").arrivals.get(i).copied()
    }

    /// Waits until `n` distinct messages have arrived on `route`, or fails at `deadline` saying
    /// how far it got.
    pub async fn wait_for(&self, route: Route, n: usize, deadline: tokio::time::Instant) -> anyhow::Result<()> {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            // Registered before the count is read, so an arrival in between is not missed.
            notified.as_mut().enable();
            if self.count(route) >= n {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let c = self.counts();
                anyhow::bail!("timed out waiting for {n} distinct arrivals on {route:?}; sink counts: {c:?}");
            }
        }
    }

    /// The distinct SMS from the `from`-th (0-based) on, in arrival order.
    pub fn messages(&self, from: usize) -> Vec<SmsRecord> {
        self.inner.sms_records.lock().expect("sink lock").get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// The ids that arrived more than once, one entry per extra arrival.
    pub fn duplicate_ids(&self) -> Vec<String> {
        self.inner.sms_duplicate_ids.lock().expect("sink lock").clone()
    }

    /// Makes `/sms` answer each valid message only after `delay`, as a real gateway would.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.inner.sms_delay_ms.store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Takes the gateway down (every `/sms` answered 503) or brings it back.
    pub fn set_unavailable(&self, down: bool) {
        self.inner.unavailable.store(down, Ordering::Relaxed);
    }

    pub fn counts(&self) -> SinkCounts {
        let i = &self.inner;
        SinkCounts {
            sms: self.count(Route::Sms),
            sms_invalid: i.sms_invalid.load(Ordering::Relaxed),
            sms_duplicates: i.sms_duplicates.load(Ordering::Relaxed),
            sms_malformed: i.sms_malformed.load(Ordering::Relaxed),
            sms_refused: i.sms_refused.load(Ordering::Relaxed),
            aliyun_requests: i.aliyun_requests.load(Ordering::Relaxed),
            am_persons: self.count(Route::Alertmanager),
            am_posts: i.am_posts.load(Ordering::Relaxed),
            am_duplicates: i.am_duplicates.load(Ordering::Relaxed),
            am_malformed: i.am_malformed.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_check_matches_the_spec_recipe_and_rejects_others() {
        // Independent of the service's code: the same recipe computed here by hand.
        let body = br#"{"id":"1","to":"13800000000","text":"x"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_ok(b"k", body, Some(&good)));
        assert!(!signature_ok(b"other", body, Some(&good)));
        assert!(!signature_ok(b"k", b"{}", Some(&good)));
        assert!(!signature_ok(b"k", body, None));
        assert!(!signature_ok(b"k", body, Some("sha256=zz")));
        assert!(!signature_ok(b"k", body, Some(good.trim_start_matches("sha256="))));
        // And it agrees with what the service sends.
        assert!(signature_ok(b"k", body, Some(&jiaoying_dispatch::sms_webhook::sign(b"k", body))));
    }

    #[tokio::test]
    async fn counts_distinct_signed_messages_and_persons() {
        let sink = Sink::start("s").unwrap();
        let client = reqwest::Client::new();
        let send = |id: &str, secret: &[u8]| {
            let body = format!(r#"{{"id":"{id}","to":"1","text":"t"}}"#);
            let sig = jiaoying_dispatch::sms_webhook::sign(secret, body.as_bytes());
            client.post(sink.url("/sms")).header("x-jiaoying-signature", sig).body(body).send()
        };
        assert_eq!(send("1", b"s").await.unwrap().status(), 200);
        assert_eq!(send("1", b"s").await.unwrap().status(), 200);
        assert_eq!(send("2", b"wrong").await.unwrap().status(), 401);
        assert_eq!(send("3", b"s").await.unwrap().status(), 200);
        let am = serde_json::json!({"alerts": [{"labels": {"person": "p-1"}}, {"labels": {"person": "p-2"}}]});
        client.post(sink.url("/am")).json(&am).send().await.unwrap();
        client.post(sink.url("/am")).json(&am).send().await.unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        sink.wait_for(Route::Sms, 2, deadline).await.unwrap();
        sink.wait_for(Route::Alertmanager, 2, deadline).await.unwrap();
        let c = sink.counts();
        assert_eq!((c.sms, c.sms_invalid, c.sms_duplicates), (2, 1, 1));
        assert_eq!((c.am_persons, c.am_posts, c.am_duplicates), (2, 2, 2));
        assert!(sink.arrival(Route::Sms, 0).unwrap() <= sink.arrival(Route::Sms, 1).unwrap());
        let short = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        assert!(sink.wait_for(Route::Sms, 3, short).await.is_err());
        let m = sink.messages(0);
        assert_eq!(m.iter().map(|r| (r.id.as_str(), r.to.as_str())).collect::<Vec<_>>(), [("1", "1"), ("3", "1")]);
        assert_eq!(sink.messages(1).len(), 1);
        assert!(sink.messages(5).is_empty());
        assert_eq!(sink.duplicate_ids(), ["1"]);
        sink.set_unavailable(true);
        assert_eq!(send("4", b"s").await.unwrap().status(), 503);
        sink.set_unavailable(false);
        assert_eq!(send("4", b"s").await.unwrap().status(), 200);
        assert_eq!(sink.counts().sms_refused, 1);
    }
}
