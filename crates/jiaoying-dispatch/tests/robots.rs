//! Group robot tests (wecom, dingtalk, feishu) against one loopback server that plays all three
//! providers: it checks the webhook key or token, recomputes the DingTalk and Feishu signatures
//! with its own code (from the HMAC primitives, not the crate's signing functions) and refuses a
//! bad one or a stale timestamp with the provider's error code, records every body, and answers
//! with whatever the path's first segment (the "mode") asks for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use jiaoying_dispatch::robots::{default_rate_per_sec, WECOM_TEXT_LIMIT};
use jiaoying_dispatch::{
    build_channel, AddressKind, Channel, ChannelSpec, HookError, HookKind, HookRequest, Outgoing, SendError,
};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const WECOM_KEY: &str = "693a91f6-7aaa-4bc4-97a0-0ec2a1fa5aaa";
const DING_TOKEN: &str = "d1a2b3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
const DING_SECRET: &str = "SEC7f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff";
const FEISHU_TOKEN: &str = "2f8e9d7c-6b5a-4938-8271-605f4e3d2c1b";
const FEISHU_SECRET: &str = "Fs9qX2kLmN4pR7tVwY1z";

const CODE: &str = "7a";
/// The token holds the code's letters too, so a test sees the code survive outside the link.
const LINK: &str = "http://127.0.0.1:8080/a/tok7aXYZ0123";
const MOBILE: &str = "+8613800000001";

fn spec(value: Value) -> ChannelSpec {
    serde_json::from_value(value).expect("a valid channel table")
}

fn text() -> String {
    format!("【红色预警】观音桥街道暴雨红色预警，请回复 {CODE} 或点击 {LINK} 确认收到。")
}

fn message(text: &str) -> Outgoing<'_> {
    Outgoing { id: 42, to: MOBILE, subject: "【红色预警】暴雨", text, code: Some(CODE), link: Some(LINK) }
}

/// Every robot message must let the person answer: the link whole, and the code outside it.
fn assert_carries_code_and_link(text: &str) {
    assert!(text.contains(LINK), "no answer link in {text}");
    assert!(text.replace(LINK, "").contains(CODE), "no reply code in {text}");
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

// ---------------------------------------------------------------------------------------------
// The loopback server.

#[derive(Debug)]
struct Received {
    robot: &'static str,
    mode: String,
    /// The query as the provider decodes it (form encoding: `+` is a space).
    query: HashMap<String, String>,
    /// The server's own verdict on the signature (`None`: none was expected).
    signature_ok: Option<bool>,
    body: Value,
}

#[derive(Clone)]
struct Server {
    tx: mpsc::UnboundedSender<Received>,
}

fn parse_query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()).into_owned().collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// DingTalk's check: timestamp within an hour, sign = base64(HMAC-SHA256(secret, "ts\nsecret")).
fn dingtalk_signature_ok(query: &HashMap<String, String>) -> bool {
    let (Some(ts), Some(sign)) = (query.get("timestamp"), query.get("sign")) else { return false };
    let Ok(ts_ms) = ts.parse::<i64>() else { return false };
    if (now_ms() - ts_ms).abs() > 3_600_000 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(DING_SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}\n{DING_SECRET}").as_bytes());
    *sign == b64(&mac.finalize().into_bytes())
}

/// Feishu's check: a string timestamp within an hour, sign = base64(HMAC-SHA256(key = "ts\nsecret", "")).
fn feishu_signature_ok(body: &Value) -> bool {
    let (Some(ts), Some(sign)) = (body["timestamp"].as_str(), body["sign"].as_str()) else { return false };
    let Ok(ts_secs) = ts.parse::<i64>() else { return false };
    if (now_ms() / 1000 - ts_secs).abs() > 3600 {
        return false;
    }
    let mac = Hmac::<Sha256>::new_from_slice(format!("{ts}\n{FEISHU_SECRET}").as_bytes()).unwrap();
    sign == b64(&mac.finalize().into_bytes())
}

fn full_url(headers: &HeaderMap, uri: &OriginalUri) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("?");
    format!("http://{host}{}", uri.0)
}

/// Answers shared by all three robots, by mode; `None` lets the robot's own handler answer.
async fn common_answer(mode: &str, url: &str) -> Option<Response> {
    match mode {
        "busy" => Some((StatusCode::SERVICE_UNAVAILABLE, "upstream busy").into_response()),
        "http429" => Some((StatusCode::TOO_MANY_REQUESTS, "slow down").into_response()),
        // A proxy's error page that repeats the URL it was asked for, key and all.
        "echo500" => {
            Some((StatusCode::INTERNAL_SERVER_ERROR, format!("<html>error fetching {url}</html>")).into_response())
        }
        "moved" => {
            Some((StatusCode::FOUND, [("location", url.to_string())], format!("moved to {url}")).into_response())
        }
        "html" => Some((StatusCode::OK, "<html>portal login</html>").into_response()),
        "hang" => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        _ => None,
    }
}

async fn wecom(
    State(server): State<Server>,
    Path(mode): Path<String>,
    RawQuery(raw): RawQuery,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = parse_query(raw.as_deref());
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let content_len = body["text"]["content"].as_str().map(str::len).unwrap_or(0);
    server
        .tx
        .send(Received { robot: "wecom", mode: mode.clone(), query: query.clone(), signature_ok: None, body })
        .unwrap();
    let url = full_url(&headers, &uri);
    if let Some(answer) = common_answer(&mode, &url).await {
        return answer;
    }
    if query.get("key").map(String::as_str) != Some(WECOM_KEY) {
        return Json(json!({"errcode": 93000, "errmsg": "invalid webhook url"})).into_response();
    }
    if content_len > 2048 {
        return Json(json!({"errcode": 40058, "errmsg": "content exceed max length 2048"})).into_response();
    }
    let answer = match mode.as_str() {
        "ok" => json!({"errcode": 0, "errmsg": "ok"}),
        "rate" => json!({"errcode": 45009, "errmsg": "api freq out of limit"}),
        "busyerr" => json!({"errcode": -1, "errmsg": "system busy"}),
        // A refusal that quotes the URL it was called on.
        "bad" => {
            json!({"errcode": 93000, "errmsg": format!("invalid webhook url {url}, hint: [key {WECOM_KEY} expired]")})
        }
        other => panic!("unknown mode {other}"),
    };
    Json(answer).into_response()
}

async fn dingtalk(
    State(server): State<Server>,
    Path(mode): Path<String>,
    RawQuery(raw): RawQuery,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = parse_query(raw.as_deref());
    // "plain" robots have no signing secret: a signature there is a test failure too.
    let signed = mode != "plain";
    let signature_ok = if signed {
        dingtalk_signature_ok(&query)
    } else {
        !query.contains_key("sign") && !query.contains_key("timestamp")
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    server
        .tx
        .send(Received {
            robot: "dingtalk",
            mode: mode.clone(),
            query: query.clone(),
            signature_ok: Some(signature_ok),
            body,
        })
        .unwrap();
    let url = full_url(&headers, &uri);
    if let Some(answer) = common_answer(&mode, &url).await {
        return answer;
    }
    if query.get("access_token").map(String::as_str) != Some(DING_TOKEN) {
        return Json(json!({"errcode": 300001, "errmsg": "token is not exist"})).into_response();
    }
    if !signature_ok {
        return Json(json!({"errcode": 310000, "errmsg": format!("sign not match, more: {url}")})).into_response();
    }
    let answer = match mode.as_str() {
        "signed" | "plain" => json!({"errcode": 0, "errmsg": "ok"}),
        "blocked" => json!({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
        "keyword" => json!({"errcode": 310000, "errmsg": format!("keywords not in content, more: {url}")}),
        other => panic!("unknown mode {other}"),
    };
    Json(answer).into_response()
}

async fn feishu(
    State(server): State<Server>,
    Path((mode, token)): Path<(String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let signed = mode != "plain";
    let signature_ok =
        if signed { feishu_signature_ok(&body) } else { body.get("sign").is_none() && body.get("timestamp").is_none() };
    server
        .tx
        .send(Received {
            robot: "feishu",
            mode: mode.clone(),
            query: HashMap::new(),
            signature_ok: Some(signature_ok),
            body: body.clone(),
        })
        .unwrap();
    let url = full_url(&headers, &uri);
    if let Some(answer) = common_answer(&mode, &url).await {
        return answer;
    }
    if token != FEISHU_TOKEN {
        return Json(json!({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}))
            .into_response();
    }
    if raw.len() > 20 * 1024 || body["msg_type"] != "text" || !body["content"]["text"].is_string() {
        return Json(json!({"code": 9499, "msg": "Bad Request", "data": {}})).into_response();
    }
    if !signature_ok {
        return Json(
            json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}),
        )
        .into_response();
    }
    let answer = match mode.as_str() {
        "signed" | "plain" => json!({"code": 0, "msg": "success", "data": {}}),
        "legacy" => json!({"Extra": null, "StatusCode": 0, "StatusMessage": "success"}),
        "rate" => json!({"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"}),
        "keyword" => json!({"code": 19024, "msg": "Key Words Not Found"}),
        "bad" => json!({"code": 9499, "msg": format!("Bad Request: {url}"), "data": {}}),
        other => panic!("unknown mode {other}"),
    };
    Json(answer).into_response()
}

struct TestServer {
    base: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl TestServer {
    /// The request the server recorded. Handlers record before answering, so once `send` has
    /// returned the request is queued: no waiting needed.
    fn take(&mut self) -> Received {
        self.rx.try_recv().expect("the server received a request")
    }

    fn nothing_more(&mut self) {
        assert!(self.rx.try_recv().is_err(), "no further request expected");
    }

    fn wecom_url(&self, mode: &str) -> String {
        format!("{}/{mode}/cgi-bin/webhook/send?key={WECOM_KEY}", self.base)
    }

    fn dingtalk_url(&self, mode: &str) -> String {
        format!("{}/{mode}/robot/send?access_token={DING_TOKEN}", self.base)
    }

    fn feishu_url(&self, mode: &str) -> String {
        format!("{}/{mode}/open-apis/bot/v2/hook/{FEISHU_TOKEN}", self.base)
    }

    fn wecom(&self, mode: &str, extra: Value) -> Arc<dyn Channel> {
        robot(json!({"kind": "wecom", "url": self.wecom_url(mode)}), extra)
    }

    fn dingtalk(&self, mode: &str, extra: Value) -> Arc<dyn Channel> {
        let mut table = json!({"kind": "dingtalk", "url": self.dingtalk_url(mode)});
        if mode != "plain" {
            table["secret"] = json!(DING_SECRET);
        }
        robot(table, extra)
    }

    fn feishu(&self, mode: &str, extra: Value) -> Arc<dyn Channel> {
        let mut table = json!({"kind": "feishu", "url": self.feishu_url(mode),
            "mentions": {"13800000001": "ou_7d8a6e6df7621556ce0d21922b676706ccs"}});
        if mode != "plain" {
            table["secret"] = json!(FEISHU_SECRET);
        }
        robot(table, extra)
    }
}

/// Builds a robot from `table` with the keys of `extra` added or replaced.
fn robot(mut table: Value, extra: Value) -> Arc<dyn Channel> {
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            table[k] = v;
        }
    }
    build_channel("robot", &spec(table)).expect("a valid robot channel")
}

async fn spawn_server() -> TestServer {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/{mode}/cgi-bin/webhook/send", post(wecom))
        .route("/{mode}/robot/send", post(dingtalk))
        .route("/{mode}/open-apis/bot/v2/hook/{token}", post(feishu))
        .with_state(Server { tx });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestServer { base: format!("http://{addr}"), rx }
}

/// Neither the error's Display nor its Debug may hold any robot credential.
fn assert_no_secrets(err: &SendError) {
    for shown in [err.to_string(), format!("{err:?}")] {
        for secret in [WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET] {
            assert!(!shown.contains(secret), "a secret leaked: {shown}");
        }
    }
}

fn transient(err: SendError) -> String {
    assert_no_secrets(&err);
    match err {
        SendError::Transient(text) => text,
        other => panic!("expected Transient, got {other:?}"),
    }
}

fn permanent(err: SendError) -> String {
    assert_no_secrets(&err);
    match err {
        SendError::Permanent(text) => text,
        other => panic!("expected Permanent, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// WeCom

#[tokio::test]
async fn wecom_posts_text_mentioning_the_person_by_mobile_with_code_and_link() {
    let mut server = spawn_server().await;
    let channel = server.wecom("ok", json!({}));
    assert_eq!(channel.kind(), "wecom");
    assert_eq!(channel.address_kind(), AddressKind::Mobile);
    let text = text();
    let sent = channel.send(&message(&text)).await.expect("errcode 0 is sent");
    assert_eq!(sent.provider_id, None);

    let req = server.take();
    assert_eq!((req.robot, req.mode.as_str()), ("wecom", "ok"));
    assert_eq!(req.query.get("key").map(String::as_str), Some(WECOM_KEY));
    assert_eq!(req.body["msgtype"], json!("text"));
    assert_eq!(req.body["text"]["content"], json!(text));
    // WeCom knows its members by the bare 11-digit mobile.
    assert_eq!(req.body["text"]["mentioned_mobile_list"], json!(["13800000001"]));
    assert_carries_code_and_link(req.body["text"]["content"].as_str().unwrap());
    server.nothing_more();
}

#[tokio::test]
async fn wecom_mentions_everyone_or_nobody_as_configured() {
    let mut server = spawn_server().await;
    let text = text();
    server.wecom("ok", json!({"mention": "all"})).send(&message(&text)).await.unwrap();
    let req = server.take();
    assert_eq!(req.body["text"]["mentioned_mobile_list"], json!(["@all"]));
    assert_carries_code_and_link(req.body["text"]["content"].as_str().unwrap());

    server.wecom("ok", json!({"mention": "none"})).send(&message(&text)).await.unwrap();
    let req = server.take();
    assert!(req.body["text"].get("mentioned_mobile_list").is_none(), "{}", req.body);
    assert_carries_code_and_link(req.body["text"]["content"].as_str().unwrap());
}

#[tokio::test]
async fn wecom_cuts_a_very_long_chinese_text_to_2048_bytes_keeping_code_and_link() {
    let mut server = spawn_server().await;
    let description = "受强降雨影响，嘉陵江沿线水位持续上涨，".repeat(150);
    let text = format!("【红色预警】观音桥街道暴雨红色预警。{description}请回复 {CODE} 或点击 {LINK} 确认收到。");
    assert!(text.len() > 3 * WECOM_TEXT_LIMIT);
    server.wecom("ok", json!({})).send(&message(&text)).await.expect("the cut text is accepted");

    let req = server.take();
    let content = req.body["text"]["content"].as_str().unwrap();
    assert!(content.len() <= WECOM_TEXT_LIMIT, "{} bytes", content.len());
    assert!(content.len() > WECOM_TEXT_LIMIT - 10, "room wasted: {} bytes", content.len());
    assert_carries_code_and_link(content);
    // The beginning (the headline) and the end (what to do) stay; the middle goes.
    assert!(content.starts_with("【红色预警】观音桥街道暴雨红色预警。受强降雨影响"), "{content}");
    assert!(content.ends_with(&format!("…请回复 {CODE} 或点击 {LINK} 确认收到。")), "{content}");
}

#[tokio::test]
async fn wecom_adds_the_link_and_code_when_the_text_lacks_them() {
    let mut server = spawn_server().await;
    server.wecom("ok", json!({})).send(&message("【红色预警】观音桥街道暴雨红色预警")).await.unwrap();
    let req = server.take();
    assert_carries_code_and_link(req.body["text"]["content"].as_str().unwrap());
}

#[tokio::test]
async fn wecom_rate_limit_45009_and_busy_are_transient() {
    let mut server = spawn_server().await;
    let text = text();
    let why = transient(server.wecom("rate", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("45009") && why.contains("api freq out of limit"), "{why}");
    server.take();
    let why = transient(server.wecom("busyerr", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("-1"), "{why}");
    server.take();
}

#[tokio::test]
async fn wecom_other_errcodes_are_permanent_and_the_echoed_key_is_scrubbed() {
    let mut server = spawn_server().await;
    let text = text();
    let why = permanent(server.wecom("bad", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("93000") && why.contains("invalid webhook url"), "{why}");
    assert!(why.contains("[REDACTED]"), "{why}");
    server.take();

    // A wrong key: the server's own refusal.
    let channel = robot(
        json!({"kind": "wecom", "url": format!("{}/ok/cgi-bin/webhook/send?key=wrong-key-0000", server.base)}),
        json!({}),
    );
    let why = permanent(channel.send(&message(&text)).await.unwrap_err());
    assert!(why.contains("93000"), "{why}");
    assert!(!why.contains("wrong-key-0000"), "{why}");
    server.take();
}

#[tokio::test]
async fn wecom_http_5xx_429_and_a_non_json_200_are_transient_and_scrubbed() {
    let mut server = spawn_server().await;
    let text = text();
    for mode in ["busy", "http429", "echo500", "html"] {
        let why = transient(server.wecom(mode, json!({})).send(&message(&text)).await.unwrap_err());
        assert!(why.contains(&server.base.replace("http://", "")), "{mode}: the host is named: {why}");
        server.take();
    }
    let why = transient(server.wecom("echo500", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("500") && why.contains("error fetching") && why.contains("[REDACTED]"), "{why}");
    server.take();
}

#[tokio::test]
async fn wecom_redirect_is_not_followed_and_its_location_is_scrubbed() {
    let mut server = spawn_server().await;
    let text = text();
    let why = permanent(server.wecom("moved", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("302"), "{why}");
    assert_eq!(server.take().mode, "moved");
    server.nothing_more();
}

#[tokio::test]
async fn wecom_timeout_and_refused_connection_are_transient() {
    let mut server = spawn_server().await;
    let text = text();
    let why = transient(server.wecom("hang", json!({"timeout_secs": 1})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("in time"), "{why}");
    server.take();

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let channel = robot(
        json!({"kind": "wecom", "url": format!("http://127.0.0.1:{port}/cgi-bin/webhook/send?key={WECOM_KEY}")}),
        json!({}),
    );
    let why = transient(channel.send(&message(&text)).await.unwrap_err());
    assert!(why.contains(&format!("127.0.0.1:{port}")) && why.to_lowercase().contains("refused"), "{why}");
}

// ---------------------------------------------------------------------------------------------
// DingTalk

#[tokio::test]
async fn dingtalk_signs_the_url_and_mentions_the_person_in_at_and_text() {
    let mut server = spawn_server().await;
    let channel = server.dingtalk("signed", json!({}));
    assert_eq!(channel.kind(), "dingtalk");
    assert_eq!(channel.address_kind(), AddressKind::Mobile);
    let text = text();
    // Several sends, so that signatures holding `+`, `/` and `=` (which must be percent-encoded
    // or the provider decodes `+` as a space) are very likely among them.
    for _ in 0..8 {
        channel.send(&message(&text)).await.expect("a signed request is accepted");
        let req = server.take();
        assert_eq!(req.signature_ok, Some(true), "the server's own signature check failed: {:?}", req.query);
        assert_eq!(req.query.get("access_token").map(String::as_str), Some(DING_TOKEN));
        let ts: i64 = req.query["timestamp"].parse().unwrap();
        assert!((now_ms() - ts).abs() < 60_000, "timestamp in milliseconds: {ts}");
        assert_eq!(req.body["msgtype"], json!("text"));
        assert_eq!(req.body["at"], json!({"atMobiles": ["13800000001"], "isAtAll": false}));
        let content = req.body["text"]["content"].as_str().unwrap();
        assert_eq!(content, format!("{text} @13800000001"));
        assert_carries_code_and_link(content);
    }
    server.nothing_more();
}

#[tokio::test]
async fn dingtalk_without_a_secret_sends_no_signature_and_can_mention_everyone() {
    let mut server = spawn_server().await;
    let text = text();
    server.dingtalk("plain", json!({"mention": "all"})).send(&message(&text)).await.expect("unsigned is accepted");
    let req = server.take();
    assert_eq!(req.signature_ok, Some(true), "no timestamp or sign expected: {:?}", req.query);
    assert_eq!(req.body["at"], json!({"atMobiles": [], "isAtAll": true}));
    assert_eq!(req.body["text"]["content"], json!(text));

    server.dingtalk("plain", json!({"mention": "none"})).send(&message(&text)).await.unwrap();
    let req = server.take();
    assert_eq!(req.body["at"], json!({"atMobiles": [], "isAtAll": false}));
    assert_carries_code_and_link(req.body["text"]["content"].as_str().unwrap());
}

#[tokio::test]
async fn dingtalk_wrong_secret_is_refused_310000_permanent_without_leaking() {
    let mut server = spawn_server().await;
    let text = text();
    let channel = server.dingtalk("signed", json!({"secret": "SECwrongwrongwrongwrong"}));
    let why = permanent(channel.send(&message(&text)).await.unwrap_err());
    assert!(why.contains("310000") && why.contains("sign not match"), "{why}");
    // The server quoted the URL with the token; it is gone.
    assert!(why.contains("[REDACTED]"), "{why}");
    assert!(!why.contains("SECwrongwrongwrongwrong"), "{why}");
    assert_eq!(server.take().signature_ok, Some(false));

    let why = permanent(server.dingtalk("keyword", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("310000"), "{why}");
    server.take();
}

#[tokio::test]
async fn dingtalk_ten_minute_block_130101_and_http_errors_are_transient() {
    let mut server = spawn_server().await;
    let text = text();
    let why = transient(server.dingtalk("blocked", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("130101") && why.contains("10 minutes"), "{why}");
    assert_eq!(server.take().signature_ok, Some(true));
    for mode in ["busy", "http429", "echo500"] {
        transient(server.dingtalk(mode, json!({})).send(&message(&text)).await.unwrap_err());
        server.take();
    }
}

// ---------------------------------------------------------------------------------------------
// Feishu

#[tokio::test]
async fn feishu_signs_the_body_and_mentions_the_person_by_open_id() {
    let mut server = spawn_server().await;
    let channel = server.feishu("signed", json!({}));
    assert_eq!(channel.kind(), "feishu");
    assert_eq!(channel.address_kind(), AddressKind::Mobile);
    let text = text();
    channel.send(&message(&text)).await.expect("a signed request is accepted");
    let req = server.take();
    assert_eq!(req.signature_ok, Some(true), "the server's own signature check failed: {}", req.body);
    assert!(req.body["timestamp"].is_string(), "the timestamp is a string: {}", req.body);
    assert_eq!(req.body["msg_type"], json!("text"));
    let content = req.body["content"]["text"].as_str().unwrap();
    assert_eq!(content, format!("<at user_id=\"ou_7d8a6e6df7621556ce0d21922b676706ccs\"></at> {text}"));
    assert_carries_code_and_link(content);
}

#[tokio::test]
async fn feishu_mentions_nobody_for_an_unmapped_mobile_and_signs_nothing_without_a_secret() {
    let mut server = spawn_server().await;
    let text = text();
    let msg = Outgoing { to: "13900000009", ..message(&text) };
    server.feishu("plain", json!({})).send(&msg).await.expect("unsigned is accepted");
    let req = server.take();
    assert_eq!(req.signature_ok, Some(true), "no timestamp or sign expected: {}", req.body);
    assert_eq!(req.body["content"]["text"], json!(text));

    server.feishu("plain", json!({"mention": "all"})).send(&message(&text)).await.unwrap();
    let content = server.take().body["content"]["text"].as_str().unwrap().to_string();
    assert!(content.starts_with("<at user_id=\"all\">所有人</at> "), "{content}");
    assert_carries_code_and_link(&content);
}

#[tokio::test]
async fn feishu_accepts_the_older_status_code_answer() {
    let mut server = spawn_server().await;
    let text = text();
    server.feishu("legacy", json!({})).send(&message(&text)).await.expect("StatusCode 0 is sent");
    server.take();
}

#[tokio::test]
async fn feishu_rate_limit_11232_is_transient_and_other_codes_permanent() {
    let mut server = spawn_server().await;
    let text = text();
    let why = transient(server.feishu("rate", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("11232"), "{why}");
    server.take();

    let why = permanent(server.feishu("keyword", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("19024") && why.contains("Key Words Not Found"), "{why}");
    server.take();

    let why = permanent(server.feishu("bad", json!({})).send(&message(&text)).await.unwrap_err());
    assert!(why.contains("9499") && why.contains("[REDACTED]"), "{why}");
    server.take();

    for mode in ["busy", "http429", "echo500", "html"] {
        transient(server.feishu(mode, json!({})).send(&message(&text)).await.unwrap_err());
        server.take();
    }
}

#[tokio::test]
async fn feishu_wrong_secret_is_refused_19021_permanent_without_leaking() {
    let mut server = spawn_server().await;
    let text = text();
    let channel = server.feishu("signed", json!({"secret": "not-the-feishu-secret"}));
    let why = permanent(channel.send(&message(&text)).await.unwrap_err());
    assert!(why.contains("19021"), "{why}");
    assert!(!why.contains("not-the-feishu-secret"), "{why}");
    assert_eq!(server.take().signature_ok, Some(false));
}

#[tokio::test]
async fn feishu_keeps_a_huge_text_under_the_body_limit_with_code_and_link() {
    let mut server = spawn_server().await;
    let text = format!("【红色预警】{}请回复 {CODE} 或点击 {LINK} 确认收到。", "暴雨".repeat(10_000));
    server.feishu("signed", json!({})).send(&message(&text)).await.expect("the cut text is accepted");
    let req = server.take();
    assert_carries_code_and_link(req.body["content"]["text"].as_str().unwrap());
}

// ---------------------------------------------------------------------------------------------
// All three

#[test]
fn robots_default_to_their_published_rates() {
    assert_eq!(default_rate_per_sec("wecom"), Some(20.0 / 60.0));
    assert_eq!(default_rate_per_sec("dingtalk"), Some(20.0 / 60.0));
    assert_eq!(default_rate_per_sec("feishu"), Some(5.0));
    assert_eq!(default_rate_per_sec("smtp"), None);
}

#[test]
fn robots_take_no_callbacks() {
    let headers = HeaderMap::new();
    let req = HookRequest {
        kind: HookKind::Reply,
        url: "http://127.0.0.1:8080/hooks/sms/robot",
        query: "",
        headers: &headers,
        body: b"{}",
        remote: None,
    };
    let tables = [
        json!({"kind": "wecom", "url": format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}")}),
        json!({"kind": "dingtalk", "url": format!("https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}")}),
        json!({"kind": "feishu", "url": format!("https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}")}),
    ];
    for table in tables {
        let channel = build_channel("robot", &spec(table)).unwrap();
        assert!(matches!(channel.parse_hook(&req), Err(HookError::Unauthorized(_))), "{}", channel.kind());
    }
}

#[test]
fn robot_config_errors_name_the_key_and_never_the_secret() {
    let wecom_url = format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}");
    let ding_url = format!("https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}");
    let feishu_url = format!("https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}");
    let cases = [
        (json!({"kind": "wecom"}), "`url`"),
        (json!({"kind": "dingtalk", "url": "  "}), "`url`"),
        (json!({"kind": "feishu"}), "`url`"),
        (json!({"kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}), "`url`"),
        (json!({"kind": "wecom", "url": format!("ftp://qyapi.weixin.qq.com/send?key={WECOM_KEY}")}), "`url`"),
        (json!({"kind": "wecom", "url": format!("not a url {WECOM_KEY}")}), "`url`"),
        (json!({"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send"}), "`url`"),
        (json!({"kind": "dingtalk", "url": format!("{ding_url}&timestamp=1&sign=x")}), "`url`"),
        (json!({"kind": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/"}), "`url`"),
        (json!({"kind": "wecom", "url": wecom_url, "mention": "everyone"}), "`mention`"),
        (json!({"kind": "dingtalk", "url": ding_url, "secret": DING_SECRET, "mention": "boss"}), "`mention`"),
        (json!({"kind": "wecom", "url": wecom_url, "secret": DING_SECRET}), "`secret`"),
        (json!({"kind": "dingtalk", "url": ding_url, "mentions": {"13800000001": "ou_x"}}), "`mentions`"),
        (
            json!({"kind": "feishu", "url": feishu_url, "mentions": {"13800000001": "ou_x\"></at><at user_id=\"all"}}),
            "`mentions`",
        ),
        (json!({"kind": "feishu", "url": feishu_url, "secret": FEISHU_SECRET, "timeout_secs": 0}), "timeout_secs"),
    ];
    for (table, key) in cases {
        let err = build_channel("robot", &spec(table.clone())).map(|_| ()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("robot") && text.contains(key), "{table}: {text}");
        for secret in [WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET] {
            assert!(!text.contains(secret), "{table}: a secret leaked: {text}");
        }
    }
    // And the good ones build.
    for table in [
        json!({"kind": "wecom", "url": wecom_url, "mention": "none"}),
        json!({"kind": "dingtalk", "url": ding_url, "secret": ""}),
        json!({"kind": "feishu", "url": feishu_url, "mentions": {"+86 138 0000 0001": "ou_abc-1_x"}}),
    ] {
        build_channel("robot", &spec(table.clone())).unwrap_or_else(|e| panic!("{table}: {e}"));
    }
}
