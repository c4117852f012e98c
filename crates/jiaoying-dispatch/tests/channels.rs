//! Channel tests against real counterparts: an HTTP gateway on loopback that checks signatures
//! itself, a real SMTP server process, and a real file.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use jiaoying_dispatch::sms_webhook::{sign, verify};
use jiaoying_dispatch::{build_channel, build_channels, AddressKind, Channel, ChannelSpec, Outgoing, SendError};
use jiaoying_tests::smtp::SmtpServer;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const SECRET: &str = "shared-hmac-secret-do-not-leak";

fn spec(value: Value) -> ChannelSpec {
    serde_json::from_value(value).expect("a valid channel table")
}

fn message<'a>(to: &'a str, code: Option<&'a str>, link: Option<&'a str>) -> Outgoing<'a> {
    Outgoing {
        id: 42,
        to,
        subject: "【红色预警】暴雨 请确认",
        text: "【红色预警】观音桥街道暴雨红色预警，请回复 7a 或点击 http://127.0.0.1:8080/a/tok?x=1&y=2 确认收到。",
        code,
        link,
    }
}

// ---------------------------------------------------------------------------------------------
// sms-webhook: a loopback gateway that records each request and checks its signature itself.

/// One request as the fake gateway saw it, with its own verdict on the signature.
#[derive(Debug)]
struct Received {
    path: String,
    content_type: Option<String>,
    signature_ok: bool,
    body: Value,
}

#[derive(Clone)]
struct Gateway {
    tx: mpsc::UnboundedSender<Received>,
}

/// The signature check the gateway does, written from the HMAC primitives rather than with the
/// crate's `sign`, so a bug there cannot hide here.
fn independent_check(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(value) = header else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    value == expected
}

async fn record(gw: &Gateway, path: &str, headers: &HeaderMap, body: &Bytes) {
    let header = headers.get("x-jiaoying-signature").and_then(|v| v.to_str().ok());
    let received = Received {
        path: path.to_string(),
        content_type: headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string),
        signature_ok: independent_check(SECRET.as_bytes(), body, header),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    };
    gw.tx.send(received).unwrap();
}

async fn ok(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    record(&gw, "/ok", &headers, &body).await;
    // A real gateway would refuse a bad signature; so does this one.
    if !independent_check(SECRET.as_bytes(), &body, headers.get("x-jiaoying-signature").and_then(|v| v.to_str().ok())) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    axum::Json(json!({"id": "gw-msg-1", "status": "queued"})).into_response()
}

async fn busy(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    record(&gw, "/busy", &headers, &body).await;
    (StatusCode::SERVICE_UNAVAILABLE, "upstream carrier down").into_response()
}

async fn bad(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    record(&gw, "/bad", &headers, &body).await;
    // A long body, echoing the secret, to check both the cap and the scrubbing.
    let text = format!("invalid number {SECRET} {}", "x".repeat(1000));
    (StatusCode::BAD_REQUEST, text).into_response()
}

async fn moved(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    record(&gw, "/moved", &headers, &body).await;
    (StatusCode::FOUND, [("location", "/ok")], "moved").into_response()
}

async fn hang(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    record(&gw, "/hang", &headers, &body).await;
    std::future::pending::<()>().await;
    unreachable!()
}

struct TestGateway {
    base: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl TestGateway {
    /// The request the gateway recorded. The handler records before it answers, so by the time
    /// `send` has returned the request is already queued: no waiting needed.
    fn take(&mut self) -> Received {
        self.rx.try_recv().expect("the gateway received a request")
    }

    fn nothing_more(&mut self) {
        assert!(self.rx.try_recv().is_err(), "no further request expected");
    }

    fn channel(&self, path: &str, timeout_secs: Option<u64>) -> Arc<dyn Channel> {
        let mut table = json!({"kind": "sms-webhook", "url": format!("{}{path}", self.base), "secret": SECRET});
        if let Some(t) = timeout_secs {
            table["timeout_secs"] = json!(t);
        }
        build_channel("sms", &spec(table)).expect("a valid sms-webhook channel")
    }
}

async fn spawn_gateway() -> TestGateway {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/ok", post(ok))
        .route("/busy", post(busy))
        .route("/bad", post(bad))
        .route("/moved", post(moved))
        .route("/hang", post(hang))
        .with_state(Gateway { tx });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestGateway { base: format!("http://{addr}"), rx }
}

#[test]
fn sign_matches_the_published_hmac_sha256_vector() {
    assert_eq!(
        sign(b"key", b"The quick brown fox jumps over the lazy dog"),
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}

#[test]
fn verify_accepts_only_the_right_signature_for_the_exact_body() {
    let body = br#"{"from":"+8613800000001","text":"1"}"#;
    let header = sign(b"secret", body);
    assert!(verify(b"secret", body, &header));
    assert!(verify(b"secret", body, &header.to_uppercase().replace("SHA256=", "sha256=")));
    assert!(!verify(b"other", body, &header));
    assert!(!verify(b"secret", b"{\"from\":\"+8613800000002\",\"text\":\"1\"}", &header));
    assert!(!verify(b"secret", body, header.trim_start_matches("sha256=")));
    assert!(!verify(b"secret", body, "sha256=zz"));
    assert!(!verify(b"secret", body, ""));
}

#[tokio::test]
async fn sms_webhook_posts_signed_json_with_code_and_link() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel("/ok", None);
    assert_eq!(channel.kind(), "sms-webhook");
    assert_eq!(channel.address_kind(), AddressKind::Mobile);

    let link = "http://127.0.0.1:8080/a/tok?x=1&y=2";
    let sent = channel.send(&message("+8613800000001", Some("7a"), Some(link))).await.expect("2xx is sent");
    assert_eq!(sent.provider_id.as_deref(), Some("gw-msg-1"));

    let req = gw.take();
    assert_eq!(req.path, "/ok");
    assert!(req.signature_ok, "the gateway's own HMAC check failed");
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    assert_eq!(req.body["id"], json!("42"));
    assert_eq!(req.body["to"], json!("+8613800000001"));
    assert_eq!(req.body["text"], json!(message("", None, None).text));
    assert_eq!(req.body["code"], json!("7a"));
    assert_eq!(req.body["link"], json!(link));
    assert!(!req.body.to_string().contains(SECRET));
    gw.nothing_more();
}

#[tokio::test]
async fn sms_webhook_omits_code_and_link_when_the_message_has_none() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel("/ok", None);
    channel.send(&message("+8613800000002", None, None)).await.expect("2xx is sent");
    let req = gw.take();
    assert!(req.signature_ok);
    let obj = req.body.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "text", "to"]);
}

#[tokio::test]
async fn sms_webhook_503_is_transient() {
    let mut gw = spawn_gateway().await;
    let err = gw.channel("/busy", None).send(&message("+8613800000001", None, None)).await.unwrap_err();
    let SendError::Transient(text) = &err else { panic!("expected Transient, got {err:?}") };
    assert!(text.contains("503"), "{text}");
    assert!(text.contains("upstream carrier down"), "{text}");
    assert!(gw.take().signature_ok);
}

#[tokio::test]
async fn sms_webhook_400_is_permanent_with_a_capped_scrubbed_excerpt() {
    let mut gw = spawn_gateway().await;
    let err = gw.channel("/bad", None).send(&message("+8613800000001", None, None)).await.unwrap_err();
    let SendError::Permanent(text) = &err else { panic!("expected Permanent, got {err:?}") };
    assert!(text.contains("400"), "{text}");
    assert!(text.contains("invalid number"), "{text}");
    assert!(!text.contains(SECRET), "the secret leaked: {text}");
    assert!(!err.to_string().contains(SECRET));
    // The status line plus at most 200 bytes of the body.
    assert!(!text.contains(&"x".repeat(201)), "{text}");
    assert!(text.len() < 400, "{} bytes: {text}", text.len());
    gw.take();
}

#[tokio::test]
async fn sms_webhook_does_not_follow_a_redirect() {
    let mut gw = spawn_gateway().await;
    let err = gw.channel("/moved", None).send(&message("+8613800000001", None, None)).await.unwrap_err();
    let SendError::Permanent(text) = &err else { panic!("expected Permanent, got {err:?}") };
    assert!(text.contains("302"), "{text}");
    assert_eq!(gw.take().path, "/moved");
    // Had the redirect been followed, /ok would have recorded a second request.
    gw.nothing_more();
}

#[tokio::test]
async fn sms_webhook_connection_refused_is_transient() {
    // A port that was free a moment ago and that nobody listens on now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let channel = build_channel(
        "sms",
        &spec(json!({"kind": "sms-webhook", "url": format!("http://127.0.0.1:{port}/sms"), "secret": SECRET})),
    )
    .unwrap();
    let err = channel.send(&message("+8613800000001", None, None)).await.unwrap_err();
    let SendError::Transient(text) = &err else { panic!("expected Transient, got {err:?}") };
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains(SECRET));
}

#[tokio::test]
async fn sms_webhook_timeout_is_transient() {
    let mut gw = spawn_gateway().await;
    let err = gw.channel("/hang", Some(1)).send(&message("+8613800000001", None, None)).await.unwrap_err();
    let SendError::Transient(text) = &err else { panic!("expected Transient, got {err:?}") };
    assert!(text.contains("in time"), "{text}");
    gw.take();
}

// ---------------------------------------------------------------------------------------------
// smtp: the real smtp_sink.py server.

/// A running smtp_sink.py (the shared test server of `jiaoying-tests`), read message by message.
struct SmtpSink {
    server: SmtpServer,
    port: u16,
    taken: usize,
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        let server = SmtpServer::start().await;
        SmtpSink { port: server.port, server, taken: 0 }
    }

    /// The next message the server accepted.
    async fn next_message(&mut self) -> Value {
        let mails = self.server.wait_for(self.taken + 1).await;
        let m = &mails[self.taken];
        self.taken += 1;
        json!({"from": m.from, "to": m.to, "data": m.data})
    }

    fn channel(&self) -> Arc<dyn Channel> {
        build_channel(
            "email",
            &spec(json!({
                "kind": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "tls": "none",
                "from": "观音桥街道应急办 <noreply@example.org>",
            })),
        )
        .expect("a valid smtp channel")
    }
}

/// Splits a raw message (or part) into unfolded headers and body. smtpd hands us LF line ends.
fn split_message(raw: &str) -> (Vec<(String, String)>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().expect("a continuation follows a header");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> &'h str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

/// Decodes RFC 2047 encoded-words (`=?utf-8?b?...?=`, B or Q), joining adjacent ones as the RFC
/// says, so that a character split across two words still decodes.
fn decode_rfc2047(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    for token in value.split_whitespace() {
        let word = token.strip_prefix("=?").and_then(|t| t.strip_suffix("?=")).and_then(|t| {
            let mut it = t.splitn(3, '?');
            Some((it.next()?, it.next()?, it.next()?))
        });
        match word {
            Some((charset, enc, text)) => {
                assert!(charset.eq_ignore_ascii_case("utf-8"), "charset {charset}");
                if enc.eq_ignore_ascii_case("b") {
                    pending.extend(base64::engine::general_purpose::STANDARD.decode(text).unwrap());
                } else {
                    pending.extend(decode_qp(&text.replace('_', " ")));
                }
            }
            None => {
                out.push_str(&String::from_utf8(std::mem::take(&mut pending)).unwrap());
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token);
            }
        }
    }
    out.push_str(&String::from_utf8(pending).unwrap());
    out
}

fn decode_qp(s: &str) -> Vec<u8> {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hexpair = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hexpair, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The decoded text of a MIME body, by its Content-Transfer-Encoding.
fn decode_body(headers: &[(String, String)], body: &str) -> String {
    let encoding = headers
        .iter()
        .find(|(n, _)| n == "content-transfer-encoding")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_else(|| "7bit".to_string());
    let bytes = match encoding.as_str() {
        "base64" => {
            base64::engine::general_purpose::STANDARD.decode(body.split_whitespace().collect::<String>()).unwrap()
        }
        "quoted-printable" => decode_qp(body),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).unwrap().replace("\r\n", "\n")
}

/// The parts of a multipart body, each as (headers, decoded text).
fn parts(content_type: &str, body: &str) -> Vec<(Vec<(String, String)>, String)> {
    let boundary =
        content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=")).expect("a boundary").trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for chunk in body.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        let chunk = chunk.strip_suffix('\n').unwrap_or(chunk);
        let (h, b) = split_message(chunk);
        let text = decode_body(&h, &b);
        out.push((h, text));
    }
    out
}

#[tokio::test]
async fn smtp_sends_a_multipart_mail_with_our_message_id_to_a_real_server() {
    let mut sink = SmtpSink::start().await;
    let channel = sink.channel();
    assert_eq!(channel.kind(), "smtp");
    assert_eq!(channel.address_kind(), AddressKind::Email);

    let link = "http://127.0.0.1:8080/a/tok?x=1&y=2";
    let msg = message("duty@example.org", Some("7a"), Some(link));
    let sent = channel.send(&msg).await.expect("the sink accepts mail");
    assert_eq!(sent.provider_id.as_deref(), Some("<jiaoying-42@example.org>"));

    let got = sink.next_message().await;
    assert_eq!(got["from"], json!("noreply@example.org"));
    assert_eq!(got["to"], json!(["duty@example.org"]));
    let raw = got["data"].as_str().unwrap();
    let (headers, body) = split_message(raw);

    assert_eq!(header(&headers, "message-id"), "<jiaoying-42@example.org>");
    assert_eq!(header(&headers, "auto-submitted"), "auto-generated", "vacation responders must not answer");
    assert_eq!(decode_rfc2047(header(&headers, "subject")), msg.subject);
    let from = decode_rfc2047(header(&headers, "from"));
    assert!(from.contains("观音桥街道应急办"), "{from}");
    assert!(from.contains("<noreply@example.org>"), "{from}");
    assert!(header(&headers, "to").contains("duty@example.org"));

    let content_type = header(&headers, "content-type");
    assert!(content_type.starts_with("multipart/alternative"), "{content_type}");
    let parts = parts(content_type, &body);
    assert_eq!(parts.len(), 2, "{parts:?}");
    let (plain_h, plain) = &parts[0];
    let (html_h, html) = &parts[1];
    assert!(header(plain_h, "content-type").starts_with("text/plain"));
    assert!(header(html_h, "content-type").starts_with("text/html"));
    assert_eq!(plain.trim_end(), msg.text);
    assert!(html.contains(r#"<a href="http://127.0.0.1:8080/a/tok?x=1&amp;y=2">"#), "{html}");
    assert!(html.contains("观音桥街道暴雨红色预警"), "{html}");
}

#[tokio::test]
async fn smtp_html_part_escapes_markup_in_the_text() {
    let mut sink = SmtpSink::start().await;
    let msg = Outgoing {
        id: 7,
        to: "duty@example.org",
        subject: "test",
        text: "<script>alert(1)</script> & more",
        code: None,
        link: None,
    };
    sink.channel().send(&msg).await.unwrap();
    let got = sink.next_message().await;
    let (headers, body) = split_message(got["data"].as_str().unwrap());
    assert_eq!(header(&headers, "message-id"), "<jiaoying-7@example.org>");
    let parts = parts(header(&headers, "content-type"), &body);
    let html = &parts[1].1;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
}

#[tokio::test]
async fn smtp_rejected_recipient_is_permanent_and_deferred_is_transient() {
    let sink = SmtpSink::start().await;
    let channel = sink.channel();

    let err = channel.send(&message("reject-me@example.org", None, None)).await.unwrap_err();
    let SendError::Permanent(text) = &err else { panic!("expected Permanent, got {err:?}") };
    assert!(text.contains(&format!("127.0.0.1:{}", sink.port)), "{text}");
    assert!(text.contains("550"), "{text}");

    let err = channel.send(&message("defer-me@example.org", None, None)).await.unwrap_err();
    let SendError::Transient(text) = &err else { panic!("expected Transient, got {err:?}") };
    assert!(text.contains("451"), "{text}");
}

#[tokio::test]
async fn smtp_to_a_port_nobody_listens_on_is_transient() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let channel = build_channel(
        "email",
        &spec(json!({
            "kind": "smtp", "host": "127.0.0.1", "port": port,
            "from": "noreply@example.org", "username": "u", "password": "smtp-password-do-not-leak",
        })),
    )
    .unwrap();
    let err = channel.send(&message("duty@example.org", None, None)).await.unwrap_err();
    let SendError::Transient(text) = &err else { panic!("expected Transient, got {err:?}") };
    assert_eq!(text, &format!("SMTP server 127.0.0.1:{port} refused the connection"));
    assert!(!text.contains("smtp-password-do-not-leak"));
}

// ---------------------------------------------------------------------------------------------
// console

#[tokio::test]
async fn console_appends_one_line_per_message_to_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/console.log");
    let channel = build_channel("console", &spec(json!({"kind": "console", "path": path.to_str().unwrap()}))).unwrap();
    assert_eq!(channel.kind(), "console");

    let link = "http://127.0.0.1:8080/a/tok";
    let first = Outgoing {
        id: 1,
        to: "+8613800000001",
        subject: "ignored",
        text: "请回复 7a 确认",
        code: Some("7a"),
        link: Some(link),
    };
    let second =
        Outgoing { id: 2, to: "+8613800000002", subject: "ignored", text: "解除预警", code: None, link: None };
    assert_eq!(channel.send(&first).await.unwrap().provider_id, None);
    channel.send(&second).await.unwrap();

    let written = tokio::fs::read_to_string(&path).await.unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 2, "{written}");
    assert_eq!(lines[0], format!("[console] to=+8613800000001 id=1 code=7a link={link} | 请回复 7a 确认"));
    assert_eq!(lines[1], "[console] to=+8613800000002 id=2 code=- link=- | 解除预警");

    // A second channel on the same file appends rather than truncating.
    let again = build_channel("console", &spec(json!({"kind": "console", "path": path.to_str().unwrap()}))).unwrap();
    again.send(&second).await.unwrap();
    let written = tokio::fs::read_to_string(&path).await.unwrap();
    assert_eq!(written.lines().count(), 3);
}

// ---------------------------------------------------------------------------------------------
// build

fn reason(name: &str, value: Value) -> String {
    match build_channel(name, &spec(value)) {
        Ok(_) => panic!("expected a config error"),
        Err(e) => {
            assert_eq!(e.name, name);
            e.reason
        }
    }
}

#[test]
fn build_names_the_missing_key() {
    let r = reason("sms", json!({"kind": "sms-webhook", "secret": "s"}));
    assert!(r.contains("url"), "{r}");
    let r = reason("sms", json!({"kind": "sms-webhook", "url": "http://127.0.0.1:9001/sms"}));
    assert!(r.contains("secret"), "{r}");
    let r = reason("email", json!({"kind": "smtp", "host": "127.0.0.1"}));
    assert!(r.contains("from"), "{r}");
    let r = reason("email", json!({"kind": "smtp", "from": "a@example.org"}));
    assert!(r.contains("host"), "{r}");
}

#[test]
fn build_refuses_bad_values() {
    let r = reason("sms", json!({"kind": "sms-webhook", "url": "ftp://example.org/x", "secret": "s"}));
    assert!(r.contains("http"), "{r}");
    let r = reason("sms", json!({"kind": "sms-webhook", "url": "not a url", "secret": "s"}));
    assert!(r.contains("url"), "{r}");
    let r = reason("email", json!({"kind": "smtp", "host": "h", "from": "not an address"}));
    assert!(r.contains("from"), "{r}");
    let r = reason("email", json!({"kind": "smtp", "host": "h", "from": "a@example.org", "username": "u"}));
    assert!(r.contains("password"), "{r}");
}

#[test]
fn build_refuses_unknown_kinds_and_lists_the_known_ones() {
    let r = reason("x", json!({"kind": "pigeon"}));
    assert!(r.contains("pigeon"), "{r}");
    for known in jiaoying_dispatch::build::KNOWN_KINDS {
        assert!(r.contains(known), "{r}");
    }
    // Every kind the SPEC names is built: none is refused as unknown.
    for kind in
        ["aliyun-sms", "tencent-sms", "twilio-sms", "twilio-voice", "voice-webhook", "wecom", "dingtalk", "feishu"]
    {
        let r = reason("c", json!({ "kind": kind }));
        assert!(!r.contains("unknown kind"), "{kind}: {r}");
    }
}

#[tokio::test]
async fn build_accepts_every_smtp_tls_mode_with_its_default_port() {
    use jiaoying_dispatch::smtp::default_port;
    use jiaoying_dispatch::SmtpTls;
    assert_eq!(default_port(SmtpTls::None), 25);
    assert_eq!(default_port(SmtpTls::Starttls), 587);
    assert_eq!(default_port(SmtpTls::Tls), 465);
    // Built lazily: none of these connects anywhere.
    for tls in ["none", "starttls", "tls"] {
        build_channel(
            "email",
            &spec(json!({"kind": "smtp", "host": "smtp.example.org", "tls": tls, "from": "a@example.org"})),
        )
        .unwrap_or_else(|e| panic!("tls = {tls}: {e}"));
    }
}

#[test]
fn build_channels_reports_every_bad_channel() {
    let mut specs = BTreeMap::new();
    specs.insert("console".to_string(), spec(json!({"kind": "console"})));
    specs.insert("sms".to_string(), spec(json!({"kind": "sms-webhook"})));
    specs.insert("bot".to_string(), spec(json!({"kind": "dingtalk"})));
    let errors = match build_channels(&specs) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    };
    let names: Vec<&str> = errors.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["bot", "sms"]);

    specs.remove("sms");
    specs.remove("bot");
    let channels = build_channels(&specs).unwrap();
    assert_eq!(channels.names().collect::<Vec<_>>(), ["console"]);
    assert!(channels.get("console").is_some());
}

#[test]
fn debug_of_a_spec_never_shows_its_secrets() {
    let s = spec(json!({
        "kind": "sms-webhook", "url": "http://127.0.0.1:9001/sms", "secret": SECRET,
        "password": "smtp-password-do-not-leak",
    }));
    let shown = format!("{s:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains("smtp-password-do-not-leak"), "{shown}");
    assert!(shown.contains("sms-webhook"), "{shown}");
}
