//! A real SMS gateway on loopback: an HTTP server that takes the generic signed webhook, checks
//! the signature with its own HMAC code (not the service's), and records every message.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct GatewaySms {
    pub body: Value,
    pub signature_ok: bool,
}

impl GatewaySms {
    pub fn to(&self) -> &str {
        self.body["to"].as_str().unwrap_or("")
    }
    pub fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or("")
    }
    pub fn code(&self) -> Option<&str> {
        self.body["code"].as_str()
    }
    pub fn link(&self) -> Option<&str> {
        self.body["link"].as_str()
    }
    pub fn id(&self) -> &str {
        self.body["id"].as_str().unwrap_or("")
    }
}

struct Inner {
    secret: String,
    received: Mutex<Vec<GatewaySms>>,
    arrived: Notify,
    /// The status the gateway answers with (200 by default; set 503 to test retries).
    status: AtomicU16,
    /// Requests seen, accepted or not.
    requests: AtomicUsize,
    /// Fault: answer 500 to 3 requests in every 10 (the 1st, 4th and 7th of each ten).
    flaky: AtomicBool,
    /// Fault: never answer (the sender's timeout decides).
    hang: AtomicBool,
    /// Fault: answer every request this many milliseconds late (a slow gateway).
    delay_ms: AtomicU64,
    /// Requests whose text is this are held (taken, not answered) until released.
    hold_text: Mutex<Option<String>>,
    held: AtomicUsize,
    released: tokio::sync::watch::Sender<bool>,
}

#[derive(Clone)]
pub struct Gateway {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let n = inner.requests.fetch_add(1, Ordering::SeqCst);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let hold = inner.hold_text.lock().unwrap().as_deref().is_some_and(|t| json["text"] == t);
    if hold {
        let mut released = inner.released.subscribe();
        inner.held.fetch_add(1, Ordering::SeqCst);
        inner.arrived.notify_waiters();
        let _ = released.wait_for(|r| *r).await;
    }
    if inner.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let delay = inner.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if inner.flaky.load(Ordering::SeqCst) && matches!(n % 10, 0 | 3 | 6) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":\"flaky\"}".into());
    }
    let sig = headers.get("x-jiaoying-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut mac = Hmac::<Sha256>::new_from_slice(inner.secret.as_bytes()).expect("any key");
    mac.update(&body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let status = StatusCode::from_u16(inner.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK);
    if status.is_success() {
        inner.received.lock().unwrap().push(GatewaySms { body: json.clone(), signature_ok: sig == want });
        inner.arrived.notify_waiters();
    }
    (status, serde_json::json!({"id": format!("gw-{}", json["id"].as_str().unwrap_or(""))}).to_string())
}

impl Gateway {
    pub async fn start(secret: &str) -> Gateway {
        let inner = Arc::new(Inner {
            secret: secret.to_string(),
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            status: AtomicU16::new(200),
            requests: AtomicUsize::new(0),
            flaky: AtomicBool::new(false),
            hang: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            hold_text: Mutex::new(None),
            held: AtomicUsize::new(0),
            released: tokio::sync::watch::Sender::new(false),
        });
        let app = Router::new().route("/sms", post(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind gateway");
        let addr = listener.local_addr().expect("gateway address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("gateway serves") });
        Gateway { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}/sms", self.addr)
    }

    pub fn set_status(&self, status: u16) {
        self.inner.status.store(status, Ordering::SeqCst);
    }

    /// 30 % of requests answered with 500.
    pub fn set_flaky(&self, on: bool) {
        self.inner.flaky.store(on, Ordering::SeqCst);
    }

    /// Requests are taken and never answered.
    pub fn set_hang(&self, on: bool) {
        self.inner.hang.store(on, Ordering::SeqCst);
    }

    /// Every request is answered `delay` late (and recorded only then).
    pub fn set_delay(&self, delay: Duration) {
        self.inner.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests whose text is `text` are taken and answered only after [`Gateway::release_held`]
    /// (a gateway slow for one message, to see what the sender does meanwhile).
    pub fn hold_text(&self, text: &str) {
        *self.inner.hold_text.lock().unwrap() = Some(text.to_string());
    }

    /// Answers the held requests, and any that come later.
    pub fn release_held(&self) {
        self.inner.released.send_replace(true);
    }

    /// Waits until `n` requests are being held.
    pub async fn wait_held(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.inner.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if self.inner.held.load(Ordering::SeqCst) >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("gateway: waited for {n} held requests");
            }
        }
    }

    /// Requests seen, whatever the answer.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<GatewaySms> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages have arrived in all, and returns them all. The timeout
    /// is a safety net against a hung test, not a synchronisation device.
    pub async fn wait_for(&self, n: usize) -> Vec<GatewaySms> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.inner.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("gateway: waited for {n} messages, got {}: {:#?}", got.len(), got);
            }
        }
    }
}
