//! The generic voice webhook against a loopback voice gateway that checks the HMAC-SHA256
//! signature with its own code, and its signed key-press and call-outcome hooks.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use jiaoying_dispatch::voice_webhook::VoiceWebhookChannel;
use jiaoying_dispatch::{
    build_channel_with, AddressKind, BuildContext, Channel, ChannelSpec, HookError, HookEvent, HookKind, HookRequest,
    MessageRef, Outgoing, ParsedHook, SendError,
};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const SECRET: &str = "voice-hmac-secret-do-not-leak";
const PUBLIC: &str = "https://jy.example.org";
const TEXT: &str = "【红色预警】观音桥街道暴雨红色预警，请回复 7a 或点击 http://127.0.0.1:8080/a/tok 确认收到。";
const LINK: &str = "http://127.0.0.1:8080/a/tok";

fn spec(value: Value) -> ChannelSpec {
    serde_json::from_value(value).expect("a valid channel table")
}

fn ctx() -> BuildContext {
    BuildContext { public_url: PUBLIC.to_string() }
}

fn message(code: Option<&'static str>, link: Option<&'static str>) -> Outgoing<'static> {
    Outgoing { id: 9_007_199_254_740_993, to: "13800000001", subject: "", text: TEXT, code, link }
}

/// `sha256=<hex>` computed here from the primitive, not with the crate's `sign`.
fn independent_sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// ---------------------------------------------------------------------------------------------
// The loopback voice gateway.

#[derive(Debug)]
struct Received {
    signature_ok: bool,
    content_type: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct Gateway {
    tx: mpsc::UnboundedSender<Received>,
}

async fn record(gw: &Gateway, headers: &HeaderMap, body: &Bytes) -> bool {
    let header = headers.get("x-jiaoying-signature").and_then(|v| v.to_str().ok());
    let signature_ok = header == Some(independent_sign(SECRET, body).as_str());
    gw.tx
        .send(Received {
            signature_ok,
            content_type: headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
        })
        .unwrap();
    signature_ok
}

async fn call(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    if !record(&gw, &headers, &body).await {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    (StatusCode::ACCEPTED, axum::Json(json!({"id": 7781, "state": "dialing"}))).into_response()
}

async fn busy(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    record(&gw, &headers, &body).await;
    (StatusCode::SERVICE_UNAVAILABLE, "all lines busy").into_response()
}

async fn bad(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    record(&gw, &headers, &body).await;
    (StatusCode::BAD_REQUEST, format!("bad number; secret was {SECRET} {}", "x".repeat(1000))).into_response()
}

struct TestGateway {
    base: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl TestGateway {
    fn take(&mut self) -> Received {
        self.rx.try_recv().expect("the gateway received a request")
    }

    fn channel(&self, path: &str, extra: Value) -> Arc<dyn Channel> {
        let mut table = json!({"kind": "voice-webhook", "url": format!("{}{path}", self.base), "secret": SECRET});
        for (k, v) in extra.as_object().unwrap() {
            table[k] = v.clone();
        }
        build_channel_with("voice", &spec(table), &ctx()).expect("a valid voice-webhook channel")
    }
}

async fn spawn_gateway() -> TestGateway {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/call", post(call))
        .route("/busy", post(busy))
        .route("/bad", post(bad))
        .with_state(Gateway { tx });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestGateway { base: format!("http://{addr}"), rx }
}

// ---------------------------------------------------------------------------------------------
// Sending.

#[tokio::test]
async fn voice_webhook_posts_signed_json_with_the_callback_and_language() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel("/call", json!({}));
    assert_eq!(channel.kind(), "voice-webhook");
    assert_eq!(channel.address_kind(), AddressKind::Mobile);

    let sent = channel.send(&message(Some("7a"), Some(LINK))).await.expect("any 2xx is accepted");
    assert_eq!(sent.provider_id.as_deref(), Some("7781"));

    let req = gw.take();
    assert!(req.signature_ok, "the gateway's own HMAC check failed");
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        req.body,
        json!({
            // A string: the id is beyond 2^53, which a JavaScript gateway would round as a number.
            "id": "9007199254740993",
            "to": "13800000001",
            "text": TEXT,
            "code": "7a",
            "link": LINK,
            "callback": "https://jy.example.org/hooks/voice/voice",
            "language": "zh-CN",
        })
    );
}

#[tokio::test]
async fn voice_webhook_sends_the_configured_language_and_omits_absent_code_and_link() {
    let mut gw = spawn_gateway().await;
    gw.channel("/call", json!({"language": "yue-HK"})).send(&message(None, None)).await.unwrap();
    let req = gw.take();
    assert!(req.signature_ok);
    assert_eq!(req.body["language"], "yue-HK");
    let mut keys: Vec<&str> = req.body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["callback", "id", "language", "text", "to"]);
}

#[tokio::test]
async fn voice_webhook_503_is_transient_and_400_permanent_without_the_secret() {
    let mut gw = spawn_gateway().await;
    let err = gw.channel("/busy", json!({})).send(&message(None, None)).await.unwrap_err();
    let SendError::Transient(text) = &err else { panic!("expected Transient, got {err:?}") };
    assert!(text.contains("503") && text.contains("all lines busy"), "{text}");
    assert!(gw.take().signature_ok);

    let err = gw.channel("/bad", json!({})).send(&message(None, None)).await.unwrap_err();
    let SendError::Permanent(text) = &err else { panic!("expected Permanent, got {err:?}") };
    assert!(text.contains("400") && text.contains("bad number"), "{text}");
    assert!(!text.contains(SECRET), "the secret leaked: {text}");
    assert!(text.len() < 400, "{text}");
    gw.take();
}

#[tokio::test]
async fn voice_webhook_wrong_secret_is_refused_by_the_gateway() {
    let mut gw = spawn_gateway().await;
    let table = json!({"kind": "voice-webhook", "url": format!("{}/call", gw.base), "secret": "not-the-secret"});
    let channel = build_channel_with("voice", &spec(table), &ctx()).unwrap();
    let err = channel.send(&message(None, None)).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent(ref t) if t.contains("401")), "{err:?}");
    assert!(!gw.take().signature_ok);
}

// ---------------------------------------------------------------------------------------------
// Hooks.

fn offline() -> Arc<dyn Channel> {
    let table = json!({"kind": "voice-webhook", "url": "http://127.0.0.1:9/call", "secret": SECRET});
    build_channel_with("voice", &spec(table), &ctx()).unwrap()
}

fn hook(channel: &dyn Channel, kind: HookKind, headers: &HeaderMap, body: &[u8]) -> Result<ParsedHook, HookError> {
    let url = match kind {
        HookKind::VoiceStatus => "https://jy.example.org/hooks/voice/voice/status",
        _ => "https://jy.example.org/hooks/voice/voice",
    };
    channel.parse_hook(&HookRequest { kind, url, query: "", headers, body, remote: None })
}

fn signed(channel: &dyn Channel, kind: HookKind, body: &Value) -> Result<ParsedHook, HookError> {
    let body = serde_json::to_vec(body).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-jiaoying-signature", HeaderValue::from_str(&independent_sign(SECRET, &body)).unwrap());
    hook(channel, kind, &headers, &body)
}

#[test]
fn a_signed_key_press_is_a_keypress_for_the_echoed_message_id() {
    let channel = offline();
    for call_id in [json!("42"), json!(42), json!(" 42 ")] {
        let parsed = signed(&*channel, HookKind::Voice, &json!({"call_id": call_id, "digits": "1"})).unwrap();
        assert_eq!(parsed.events, [HookEvent::Keypress { message: MessageRef::Ours(42), digits: "1".to_string() }]);
        assert!(parsed.ack.is_none(), "the web layer answers with its own JSON");
    }
    let parsed = signed(&*channel, HookKind::Voice, &json!({"call_id": "9007199254740993", "digits": 3})).unwrap();
    assert_eq!(
        parsed.events,
        [HookEvent::Keypress { message: MessageRef::Ours(9_007_199_254_740_993), digits: "3".to_string() }]
    );
}

#[test]
fn each_call_outcome_but_answered_is_unanswered() {
    let channel = offline();
    let outcome = |status: &str| signed(&*channel, HookKind::VoiceStatus, &json!({"call_id": "42", "status": status}));
    assert_eq!(outcome("answered").unwrap().events, []);
    for status in ["no-answer", "busy", "failed", "voicemail"] {
        let parsed = outcome(status).unwrap();
        assert_eq!(
            parsed.events,
            [HookEvent::VoiceUnanswered { message: MessageRef::Ours(42), status: status.to_string() }],
            "{status}"
        );
        assert!(parsed.ack.is_none());
    }
    assert!(matches!(
        &outcome("Voicemail").unwrap().events[..],
        [HookEvent::VoiceUnanswered { status, .. }] if status == "voicemail"
    ));
}

#[test]
fn a_bad_or_missing_signature_is_unauthorized() {
    let channel = offline();
    let body = serde_json::to_vec(&json!({"call_id": "42", "digits": "1"})).unwrap();
    let r = hook(&*channel, HookKind::Voice, &HeaderMap::new(), &body);
    assert!(matches!(r, Err(HookError::Unauthorized(_))), "{r:?}");
    for header in [
        independent_sign("other-secret", &body),
        independent_sign(SECRET, b"{\"call_id\":\"43\",\"digits\":\"1\"}"),
        "sha256=zz".to_string(),
        "garbage".to_string(),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert("x-jiaoying-signature", HeaderValue::from_str(&header).unwrap());
        let r = hook(&*channel, HookKind::Voice, &headers, &body);
        assert!(matches!(r, Err(HookError::Unauthorized(_))), "{header}: {r:?}");
    }
}

#[test]
fn sms_hooks_are_refused_even_when_signed() {
    let channel = offline();
    for kind in [HookKind::Reply, HookKind::Status] {
        let r = signed(&*channel, kind, &json!({"from": "13800000001", "text": "1", "id": "42"}));
        assert!(matches!(r, Err(HookError::Unauthorized(_))), "{kind:?}: {r:?}");
    }
}

#[test]
fn signed_but_unusable_bodies_are_malformed_or_invalid_and_never_panic() {
    let channel = offline();
    for (kind, body) in [
        (HookKind::Voice, json!({"digits": "1"})),
        (HookKind::Voice, json!({"call_id": "abc", "digits": "1"})),
        (HookKind::Voice, json!({"call_id": 4.5, "digits": "1"})),
        (HookKind::Voice, json!({"call_id": "99999999999999999999", "digits": "1"})),
        (HookKind::Voice, json!({"call_id": null, "digits": "1"})),
        (HookKind::Voice, json!({"call_id": "42"})),
        (HookKind::Voice, json!({"call_id": "42", "digits": ""})),
        (HookKind::Voice, json!({"call_id": "42", "digits": "1; drop"})),
        (HookKind::Voice, json!({"call_id": "42", "digits": -1})),
        (HookKind::Voice, json!({"call_id": "42", "digits": "1".repeat(100)})),
        (HookKind::VoiceStatus, json!({"call_id": "42"})),
        (HookKind::VoiceStatus, json!({"call_id": "42", "status": ""})),
        (HookKind::VoiceStatus, json!({"call_id": "42", "status": 3})),
        (HookKind::VoiceStatus, json!({"call_id": "42", "status": "no answer\n"})),
    ] {
        let r = signed(&*channel, kind, &body);
        assert!(matches!(r, Err(HookError::Invalid(_))), "{body}: {r:?}");
    }
    for body in [json!([1, 2]), json!("call"), json!(null)] {
        let r = signed(&*channel, HookKind::Voice, &body);
        assert!(matches!(r, Err(HookError::Malformed(_))), "{body}: {r:?}");
    }
    for raw in [&b""[..], b"{", b"\xff\xfe", b"call_id=42&digits=1"] {
        let mut headers = HeaderMap::new();
        headers.insert("x-jiaoying-signature", HeaderValue::from_str(&independent_sign(SECRET, raw)).unwrap());
        for kind in [HookKind::Voice, HookKind::VoiceStatus] {
            let r = hook(&*channel, kind, &headers, raw);
            assert!(matches!(r, Err(HookError::Malformed(_))), "{raw:?}: {r:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Config.

#[test]
fn voice_webhook_config_names_the_missing_key_and_never_the_secret() {
    for table in [
        json!({"kind": "voice-webhook", "secret": SECRET}),
        json!({"kind": "voice-webhook", "url": "http://127.0.0.1:9/call"}),
        json!({"kind": "voice-webhook", "url": "http://127.0.0.1:9/call", "secret": ""}),
        json!({"kind": "voice-webhook", "url": "mailto:x@y", "secret": SECRET}),
    ] {
        let err = VoiceWebhookChannel::from_spec("voice", &spec(table.clone()), &ctx()).unwrap_err();
        assert_eq!(err.name, "voice");
        assert!(err.to_string().contains("url") || err.to_string().contains("secret"), "{err}");
        assert!(!err.to_string().contains(SECRET), "{err}");
    }
    let table = json!({"kind": "voice-webhook", "url": "http://127.0.0.1:9/call", "secret": SECRET});
    let channel = VoiceWebhookChannel::from_spec("voice", &spec(table), &ctx()).unwrap();
    let debug = format!("{channel:?}");
    assert!(!debug.contains(SECRET) && debug.contains("[REDACTED]"), "{debug}");
}
