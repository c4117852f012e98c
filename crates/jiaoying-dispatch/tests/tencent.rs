//! The tencent-sms channel against a loopback gateway that recomputes TC3-HMAC-SHA256 itself (from
//! the HMAC and SHA-256 primitives, not with the crate's signing code) and answers the way Tencent
//! does: `AuthFailure.SignatureFailure` on a bad signature, otherwise one status per number, which
//! each test scripts. Plus the callback parser: reports, replies, the token guard, garbage.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use jiaoying_dispatch::{
    build_channel, AddressKind, Channel, ChannelSpec, HookError, HookEvent, HookKind, HookRequest, Lookup, MessageRef,
    Outgoing, SendError, Sent,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const SECRET_ID: &str = "AKIDjiaoyingtest0000000000000000";
const SECRET_KEY: &str = "tencent-secret-key-do-not-leak";
const TOKEN: &str = "hook-token-do-not-leak";
const APP_ID: &str = "1400123456";
const SIGN: &str = "观音桥街道";
const TEMPLATE: &str = "2233445";
const LINK: &str = "http://127.0.0.1:8080/a/tok123?x=1";
const RATE_LIMITED_PREFIX: &str = "rate-limited by provider for this number:";

fn spec(value: Value) -> ChannelSpec {
    serde_json::from_value(value).expect("a valid channel table")
}

fn msg<'a>(id: i64, to: &'a str, code: Option<&'a str>) -> Outgoing<'a> {
    Outgoing {
        id,
        to,
        subject: "",
        text: "【红色预警】观音桥街道暴雨红色预警，请回复 7a 或点击链接确认收到。",
        code,
        link: Some(LINK),
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway's own TC3, written from the primitives.

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// UTC calendar date of Unix seconds (Howard Hinnant's civil_from_days), independent of chrono.
fn utc_date(ts: i64) -> String {
    let z = ts.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Authorization header Tencent would expect for this request.
fn expected_authorization(secret_key: &str, host: &str, content_type: &str, body: &[u8], ts: i64) -> String {
    let date = utc_date(ts);
    let canonical = format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{}",
        hex::encode(Sha256::digest(body))
    );
    let scope = format!("{date}/sms/tc3_request");
    let to_sign = format!("TC3-HMAC-SHA256\n{ts}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let k = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k = hmac(&k, b"sms");
    let k = hmac(&k, b"tc3_request");
    let sig = hex::encode(hmac(&k, to_sign.as_bytes()));
    format!("TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, SignedHeaders=content-type;host, Signature={sig}")
}

#[test]
fn the_gateways_own_tc3_matches_the_published_vector_too() {
    // The checker is only worth something if it is right: feed it the CVM example, service aside.
    assert_eq!(utc_date(1551113065), "2019-02-25");
    assert_eq!(utc_date(0), "1970-01-01");
    assert_eq!(utc_date(1709310600), "2024-03-01");
    let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n{}",
        hex::encode(Sha256::digest(body))
    );
    let to_sign = format!(
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(b"TC3Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", b"2019-02-25");
    let k = hmac(&hmac(&k, b"cvm"), b"tc3_request");
    assert_eq!(
        hex::encode(hmac(&k, to_sign.as_bytes())),
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    );
}

// ---------------------------------------------------------------------------------------------
// The loopback gateway.

/// How the gateway answers a correctly signed request.
#[derive(Clone)]
enum Mode {
    /// One status per number: the scripted code, or "Ok".
    PerNumber,
    /// `Response.Error` with this code, for the whole request.
    WholeError(&'static str),
    Http(StatusCode),
    Garbage,
    Hang,
}

#[derive(Clone)]
struct Script {
    mode: Mode,
    codes: HashMap<String, &'static str>,
    /// Numbers the answer leaves out.
    omit: Vec<String>,
}

/// One request as the gateway saw it, with its verdict on the signature.
#[derive(Debug)]
struct Received {
    signature_ok: bool,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone)]
struct Gateway {
    tx: mpsc::UnboundedSender<Received>,
    script: Arc<Mutex<Script>>,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn tencent_error(code: &str, message: &str) -> Response {
    axum::Json(json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "req-err-1"}}))
        .into_response()
}

async fn sms_api(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let ts: i64 = header(&headers, "x-tc-timestamp").parse().unwrap_or(0);
    let expected =
        expected_authorization(SECRET_KEY, header(&headers, "host"), header(&headers, "content-type"), &body, ts);
    let signature_ok = header(&headers, "authorization") == expected;
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    gw.tx.send(Received { signature_ok, headers: headers.clone(), body: parsed.clone() }).unwrap();

    // Tencent answers errors with 200 and Response.Error.
    if !signature_ok {
        return tencent_error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    if (now - ts).abs() > 300 {
        return tencent_error("AuthFailure.SignatureExpire", "Signature expired.");
    }
    if header(&headers, "x-tc-action") != "SendSms" || header(&headers, "x-tc-version") != "2021-01-11" {
        return tencent_error("InvalidAction", "no such action");
    }
    if header(&headers, "x-tc-region").is_empty() {
        return tencent_error("MissingParameter", "The request is missing a required parameter `Region`.");
    }

    let script = gw.script.lock().unwrap().clone();
    match script.mode {
        Mode::WholeError(code) => tencent_error(code, &format!("whole request failed; key was {SECRET_KEY}")),
        Mode::Http(status) => (status, format!("gateway says no {SECRET_KEY}")).into_response(),
        Mode::Garbage => (StatusCode::OK, "<html>captive portal</html>").into_response(),
        Mode::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Mode::PerNumber => {
            let session = parsed["SessionContext"].clone();
            let statuses: Vec<Value> = parsed["PhoneNumberSet"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .filter(|n| !script.omit.iter().any(|o| o == n))
                .map(|n| {
                    let code = script.codes.get(n).copied().unwrap_or("Ok");
                    json!({
                        "SerialNo": if code == "Ok" { format!("sn-{n}") } else { String::new() },
                        "PhoneNumber": n,
                        "Fee": if code == "Ok" { 1 } else { 0 },
                        "SessionContext": session,
                        "Code": code,
                        "Message": if code == "Ok" { "send success".to_string() } else { format!("{code} for {n}") },
                        "IsoCode": "CN",
                    })
                })
                .collect();
            axum::Json(json!({"Response": {"SendStatusSet": statuses, "RequestId": "req-ok-1"}})).into_response()
        }
    }
}

struct TestGateway {
    base: String,
    rx: mpsc::UnboundedReceiver<Received>,
    script: Arc<Mutex<Script>>,
}

impl TestGateway {
    /// The handler records before it answers, so once `send` returns the request is queued.
    fn take(&mut self) -> Received {
        self.rx.try_recv().expect("the gateway received a request")
    }

    fn take_all(&mut self) -> Vec<Received> {
        let mut all = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            all.push(r);
        }
        all
    }

    fn set_mode(&self, mode: Mode) {
        self.script.lock().unwrap().mode = mode;
    }

    fn set_code(&self, number: &str, code: &'static str) {
        self.script.lock().unwrap().codes.insert(number.to_string(), code);
    }

    fn table(&self) -> Value {
        json!({
            "kind": "tencent-sms",
            "url": format!("{}/", self.base),
            "secret_id": SECRET_ID,
            "secret_key": SECRET_KEY,
            "sdk_app_id": APP_ID,
            "sign_name": SIGN,
            "template_id": TEMPLATE,
            "template_params": ["code", "token"],
        })
    }

    fn channel_with(&self, extra: Value) -> Arc<dyn Channel> {
        let mut table = self.table();
        for (k, v) in extra.as_object().unwrap() {
            table[k] = v.clone();
        }
        build_channel("tx", &spec(table)).expect("a valid tencent-sms channel")
    }

    fn channel(&self) -> Arc<dyn Channel> {
        self.channel_with(json!({}))
    }
}

async fn spawn_gateway() -> TestGateway {
    let (tx, rx) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(Script { mode: Mode::PerNumber, codes: HashMap::new(), omit: Vec::new() }));
    let app = Router::new().route("/", post(sms_api)).with_state(Gateway { tx, script: script.clone() });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestGateway { base: format!("http://{addr}"), rx, script }
}

fn expect_transient(r: &Result<Sent, SendError>) -> &str {
    match r {
        Err(SendError::Transient(t)) => t,
        other => panic!("expected Transient, got {other:?}"),
    }
}

fn expect_permanent(r: &Result<Sent, SendError>) -> &str {
    match r {
        Err(SendError::Permanent(t)) => t,
        other => panic!("expected Permanent, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Sending

#[tokio::test]
async fn send_signs_with_tc3_and_carries_our_id_as_session_context() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel();
    assert_eq!(channel.kind(), "tencent-sms");
    assert_eq!(channel.address_kind(), AddressKind::Mobile);
    assert_eq!(channel.max_batch(), 1);

    let sent = channel.send(&msg(42, "13800000001", Some("7a"))).await.expect("Ok is sent");
    assert_eq!(sent.provider_id.as_deref(), Some("sn-+8613800000001"));

    let req = gw.take();
    assert!(req.signature_ok, "the gateway's own TC3 check failed: {:?}", req.headers);
    assert_eq!(header(&req.headers, "content-type"), "application/json; charset=utf-8");
    assert_eq!(header(&req.headers, "x-tc-action"), "SendSms");
    assert_eq!(header(&req.headers, "x-tc-version"), "2021-01-11");
    assert_eq!(header(&req.headers, "x-tc-region"), "ap-guangzhou");
    assert!(header(&req.headers, "authorization").contains("/sms/tc3_request"));
    assert_eq!(
        req.body,
        json!({
            "PhoneNumberSet": ["+8613800000001"],
            "SmsSdkAppId": APP_ID,
            "TemplateId": TEMPLATE,
            "SignName": SIGN,
            "TemplateParamSet": ["7a", "tok123"],
            "SessionContext": "42",
        })
    );
    assert!(!req.body.to_string().contains(SECRET_KEY));
    assert!(!header(&req.headers, "authorization").contains(SECRET_KEY));
    assert!(gw.take_all().is_empty());
}

#[tokio::test]
async fn region_and_template_params_follow_the_config() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel_with(json!({"region": "ap-beijing", "template_params": ["link", "text", "code"]}));
    let m = msg(7, "+8613800000009", Some("3c"));
    channel.send(&m).await.expect("sent");
    let req = gw.take();
    assert!(req.signature_ok);
    assert_eq!(header(&req.headers, "x-tc-region"), "ap-beijing");
    assert_eq!(req.body["TemplateParamSet"], json!([LINK, m.text, "3c"]));

    // Default: the reply code alone.
    let mut table = gw.table();
    table.as_object_mut().unwrap().remove("template_params");
    build_channel("tx", &spec(table)).unwrap().send(&m).await.expect("sent");
    assert_eq!(gw.take().body["TemplateParamSet"], json!(["3c"]));
}

#[tokio::test]
async fn a_wrong_secret_key_gets_signature_failure_which_is_permanent() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel_with(json!({"secret_key": "not-the-right-key"}));
    let result = channel.send(&msg(1, "13800000001", Some("7a"))).await;
    let text = expect_permanent(&result);
    assert!(text.contains("AuthFailure.SignatureFailure"), "{text}");
    assert!(!gw.take().signature_ok);
}

#[tokio::test]
async fn one_answer_with_ok_rate_limited_and_blacklisted_numbers_gives_each_message_its_own_result() {
    let mut gw = spawn_gateway().await;
    gw.set_code("+8613800000002", "LimitExceeded.PhoneNumberThirtySecondLimit");
    gw.set_code("+8613800000003", "FailedOperation.PhoneNumberInBlacklist");
    let channel = gw.channel_with(json!({"batch_size": 10}));
    assert_eq!(channel.max_batch(), 10);

    let msgs =
        [msg(1, "13800000001", Some("7a")), msg(2, "13800000002", Some("7a")), msg(3, "13800000003", Some("7a"))];
    let results = channel.send_batch(&msgs).await;
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], Ok(Sent { provider_id: Some("sn-+8613800000001".into()) }));
    let limited = expect_transient(&results[1]);
    assert!(limited.starts_with(RATE_LIMITED_PREFIX), "{limited}");
    assert!(limited.contains("PhoneNumberThirtySecondLimit"), "{limited}");
    let blacklisted = expect_permanent(&results[2]);
    assert!(blacklisted.contains("FailedOperation.PhoneNumberInBlacklist"), "{blacklisted}");

    // All three went out in one request, carrying all three ids.
    let req = gw.take();
    assert!(req.signature_ok);
    assert_eq!(req.body["PhoneNumberSet"], json!(["+8613800000001", "+8613800000002", "+8613800000003"]));
    assert_eq!(req.body["SessionContext"], json!("1,2,3"));
    assert!(gw.take_all().is_empty(), "expected a single request");
}

#[tokio::test]
async fn batches_split_on_differing_params_repeated_numbers_and_batch_size() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel_with(json!({"batch_size": 3}));
    let msgs = [
        msg(1, "13800000001", Some("7a")),
        msg(2, "13800000002", Some("7a")),
        msg(3, "13800000003", Some("8b")),
        msg(4, "13800000001", Some("7a")),
        msg(5, "13800000004", Some("7a")),
        msg(6, "13800000005", Some("7a")),
        msg(7, "+14155550100", Some("7a")),
    ];
    let results = channel.send_batch(&msgs).await;
    for (r, m) in results.iter().zip(&msgs) {
        let want = format!("sn-{}", if m.to.starts_with('+') { m.to.to_string() } else { format!("+86{}", m.to) });
        assert_eq!(r.as_ref().map(|s| s.provider_id.clone()), Ok(Some(want)), "message {}", m.id);
    }
    let requests: Vec<(Value, Value, Value)> = gw
        .take_all()
        .into_iter()
        .map(|r| {
            assert!(r.signature_ok);
            (r.body["PhoneNumberSet"].clone(), r.body["TemplateParamSet"].clone(), r.body["SessionContext"].clone())
        })
        .collect();
    assert_eq!(
        requests,
        vec![
            (json!(["+8613800000001", "+8613800000002", "+8613800000004"]), json!(["7a", "tok123"]), json!("1,2,5")),
            (json!(["+8613800000003"]), json!(["8b", "tok123"]), json!("3")),
            // The same number twice never shares a request.
            (json!(["+8613800000001", "+8613800000005"]), json!(["7a", "tok123"]), json!("4,6")),
            // Mainland and foreign numbers cannot share one either.
            (json!(["+14155550100"]), json!(["7a", "tok123"]), json!("7")),
        ]
    );
}

#[tokio::test]
async fn a_whole_request_error_applies_to_every_number() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel_with(json!({"batch_size": 5}));
    let msgs = [msg(1, "13800000001", Some("7a")), msg(2, "13800000002", Some("7a"))];

    gw.set_mode(Mode::WholeError("InternalError.Timeout"));
    for r in channel.send_batch(&msgs).await {
        let t = expect_transient(&r).to_string();
        assert!(t.contains("InternalError.Timeout") && t.contains("req-err-1"), "{t}");
        assert!(!t.starts_with(RATE_LIMITED_PREFIX));
    }
    gw.set_mode(Mode::WholeError("FailedOperation.InsufficientBalanceInSmsPackage"));
    for r in channel.send_batch(&msgs).await {
        assert!(expect_permanent(&r).contains("InsufficientBalance"));
    }
    gw.set_mode(Mode::WholeError("LimitExceeded.PhoneNumberDailyLimit"));
    for r in channel.send_batch(&msgs).await {
        assert!(expect_transient(&r).starts_with(RATE_LIMITED_PREFIX));
    }
    gw.set_mode(Mode::WholeError("FailedOperation.TemplateIncorrectOrUnapproved"));
    for r in channel.send_batch(&msgs).await {
        let t = expect_permanent(&r);
        // The gateway echoed our key back; it must not reach the outbox row or the log.
        assert!(!t.contains(SECRET_KEY), "{t}");
        assert!(t.contains("[REDACTED]"), "{t}");
    }
    assert_eq!(gw.take_all().len(), 4, "one request per batch");
}

#[tokio::test]
async fn http_errors_are_transient_for_5xx_and_429_and_permanent_otherwise() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel();
    let m = msg(1, "13800000001", Some("7a"));
    for (status, transient) in [
        (StatusCode::SERVICE_UNAVAILABLE, true),
        (StatusCode::BAD_GATEWAY, true),
        (StatusCode::TOO_MANY_REQUESTS, true),
        (StatusCode::BAD_REQUEST, false),
        (StatusCode::NOT_FOUND, false),
    ] {
        gw.set_mode(Mode::Http(status));
        let r = channel.send(&m).await;
        let text = if transient { expect_transient(&r) } else { expect_permanent(&r) };
        assert!(text.contains(status.as_str()), "{text}");
        assert!(!text.contains(SECRET_KEY), "{text}");
        gw.take();
    }
}

#[tokio::test]
async fn an_unreadable_200_or_a_missing_status_is_transient() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel_with(json!({"batch_size": 2}));
    gw.set_mode(Mode::Garbage);
    assert!(expect_transient(&channel.send(&msg(1, "13800000001", Some("7a"))).await).contains("not its JSON"));
    gw.take();

    gw.set_mode(Mode::PerNumber);
    gw.script.lock().unwrap().omit.push("+8613800000002".into());
    let results = channel.send_batch(&[msg(1, "13800000001", Some("7a")), msg(2, "13800000002", Some("7a"))]).await;
    assert!(results[0].is_ok());
    assert!(expect_transient(&results[1]).contains("without a status"));
}

#[tokio::test]
async fn a_gateway_that_never_answers_is_transient() {
    let mut gw = spawn_gateway().await;
    gw.set_mode(Mode::Hang);
    let channel = gw.channel_with(json!({"timeout_secs": 1}));
    let r = channel.send(&msg(1, "13800000001", Some("7a"))).await;
    assert!(expect_transient(&r).contains("did not answer in time"), "{r:?}");
    assert!(gw.take().signature_ok);
}

#[tokio::test]
async fn a_bad_number_or_a_missing_template_value_fails_at_once_without_a_request() {
    let mut gw = spawn_gateway().await;
    let channel = gw.channel_with(json!({"batch_size": 5}));
    let no_link = Outgoing { link: None, ..msg(3, "13800000003", Some("7a")) };
    let results = channel
        .send_batch(&[
            msg(1, "12345", Some("7a")),
            msg(2, "13800000002", None),
            no_link,
            msg(4, "13800000004", Some("7a")),
        ])
        .await;
    assert!(expect_permanent(&results[0]).contains("12345"));
    assert!(expect_permanent(&results[1]).contains("`code`"));
    assert!(expect_permanent(&results[2]).contains("`token`"));
    assert!(results[3].is_ok());
    let requests = gw.take_all();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body["PhoneNumberSet"], json!(["+8613800000004"]));
}

#[tokio::test]
async fn lookup_cannot_ask_tencent_and_says_unknown() {
    let mut gw = spawn_gateway().await;
    assert_eq!(gw.channel().lookup(&msg(1, "13800000001", Some("7a"))).await, Lookup::Unknown);
    assert!(gw.take_all().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Configuration

fn full_table() -> Value {
    json!({
        "kind": "tencent-sms",
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sdk_app_id": APP_ID,
        "sign_name": SIGN,
        "template_id": TEMPLATE,
    })
}

fn config_error(change: impl FnOnce(&mut Value)) -> String {
    let mut table = full_table();
    change(&mut table);
    match build_channel("tx", &spec(table)) {
        Ok(_) => panic!("expected a config error"),
        Err(e) => {
            let text = e.to_string();
            assert!(text.starts_with("channel tx:"), "{text}");
            assert!(!text.contains(SECRET_KEY) && !text.contains(TOKEN), "{text}");
            text
        }
    }
}

#[test]
fn config_needs_credentials_app_sign_and_template() {
    assert!(build_channel("tx", &spec(full_table())).is_ok());
    for key in ["secret_id", "secret_key", "sdk_app_id", "sign_name", "template_id"] {
        let text = config_error(|t| {
            t.as_object_mut().unwrap().remove(key);
        });
        assert!(text.contains(key), "{text}");
        let text = config_error(|t| t[key] = json!(" "));
        assert!(text.contains(key), "{text}");
    }
}

#[test]
fn config_refuses_bad_params_batch_sizes_urls_timeouts_and_allow_lists() {
    assert!(config_error(|t| t["template_params"] = json!(["code", "phone"])).contains("\"phone\""));
    assert!(config_error(|t| t["batch_size"] = json!(0)).contains("batch_size"));
    assert!(config_error(|t| t["batch_size"] = json!(201)).contains("batch_size"));
    assert!(config_error(|t| t["url"] = json!("ftp://sms.example/")).contains("url"));
    assert!(config_error(|t| t["timeout_secs"] = json!(0)).contains("timeout_secs"));
    assert!(config_error(|t| {
        t["path_token"] = json!(TOKEN);
        t["allow_from"] = json!(["10.0.0.0/8", "10.0.0.0/40"]);
    })
    .contains("10.0.0.0/40"));
    let mut table = full_table();
    table["batch_size"] = json!(200);
    assert_eq!(build_channel("tx", &spec(table)).unwrap().max_batch(), 200);
}

// ---------------------------------------------------------------------------------------------
// Callbacks

fn hook_channel(extra: Value) -> Arc<dyn Channel> {
    let mut table = full_table();
    table["path_token"] = json!(TOKEN);
    for (k, v) in extra.as_object().unwrap() {
        table[k] = v.clone();
    }
    build_channel("tx", &spec(table)).unwrap()
}

fn hook(
    channel: &dyn Channel,
    kind: HookKind,
    query: &str,
    remote: Option<&str>,
    body: &[u8],
) -> Result<jiaoying_dispatch::ParsedHook, HookError> {
    let headers = reqwest::header::HeaderMap::new();
    let url = format!("http://127.0.0.1:8080/hooks/sms/tx?{query}");
    let remote: Option<IpAddr> = remote.map(|r| r.parse().unwrap());
    channel.parse_hook(&HookRequest { kind, url: &url, query, headers: &headers, body, remote })
}

fn token_query() -> String {
    format!("token={TOKEN}")
}

const REPORTS: &str = r#"[
  {"user_receive_time": "2015-10-17 08:03:04", "nationcode": "86", "mobile": "13900000000",
   "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功", "sid": "3:xyz-1"},
  {"user_receive_time": "2015-10-17 08:03:05", "nationcode": "86", "mobile": "13900000001",
   "report_status": "FAIL", "errmsg": "MK:0001", "description": "用户关机", "sid": "3:xyz-2"}
]"#;

#[test]
fn status_reports_become_receipts_by_serial_number_with_the_exact_ack() {
    let ch = hook_channel(json!({}));
    let parsed = hook(&*ch, HookKind::Status, &token_query(), None, REPORTS.as_bytes()).expect("accepted");
    assert_eq!(
        parsed.events,
        vec![
            HookEvent::Receipt { message: MessageRef::Provider("3:xyz-1".into()), delivered: true, error: None },
            HookEvent::Receipt {
                message: MessageRef::Provider("3:xyz-2".into()),
                delivered: false,
                error: Some("MK:0001: 用户关机".into()),
            },
        ]
    );
    let ack = parsed.ack.expect("Tencent needs its ack");
    assert_eq!(ack.body, r#"{"result":0,"errmsg":"OK"}"#);
    assert_eq!(ack.content_type, "application/json");
}

#[test]
fn a_report_batch_keeps_its_good_entries_and_refuses_only_when_none_is_usable() {
    let ch = hook_channel(json!({}));
    let body = r#"[{"sid": "s1", "report_status": "SUCCESS"}, {"report_status": "SUCCESS"}, 17,
                   {"sid": "s2", "report_status": "MAYBE"}, {"sid": "s3", "report_status": "FAIL"}]"#;
    let parsed = hook(&*ch, HookKind::Status, &token_query(), None, body.as_bytes()).unwrap();
    assert_eq!(
        parsed.events,
        vec![
            HookEvent::Receipt { message: MessageRef::Provider("s1".into()), delivered: true, error: None },
            HookEvent::Receipt {
                message: MessageRef::Provider("s3".into()),
                delivered: false,
                error: Some("FAIL".into())
            },
        ]
    );
    let none = r#"[{"sid": "", "report_status": "SUCCESS"}, {"mobile": "1"}]"#;
    assert!(matches!(hook(&*ch, HookKind::Status, &token_query(), None, none.as_bytes()), Err(HookError::Invalid(_))));
}

fn dedupe_key(mobile: &str, time: &str, text: &str) -> String {
    format!("tencent:{mobile}:{time}:{}", &hex::encode(Sha256::digest(text.as_bytes()))[..16])
}

#[test]
fn replies_become_replies_with_a_dedupe_key_from_mobile_time_and_text() {
    let ch = hook_channel(json!({}));
    let one = r#"{"extend": "", "mobile": "13800000001", "nationcode": "86", "sign": "观音桥街道",
                  "text": "7a 收到", "time": 1700000000}"#;
    let parsed = hook(&*ch, HookKind::Reply, &token_query(), None, one.as_bytes()).expect("accepted");
    let expected = HookEvent::Reply {
        from: "+8613800000001".into(),
        text: "7a 收到".into(),
        dedupe: Some(dedupe_key("13800000001", "1700000000", "7a 收到")),
    };
    assert_eq!(parsed.events, vec![expected.clone()]);
    assert_eq!(parsed.ack.unwrap().body, r#"{"result":0,"errmsg":"OK"}"#);

    // An array works too; a retry gives the same key, another text or time a different one.
    let many = r#"[{"mobile": "13800000001", "nationcode": "86", "text": "7a 收到", "time": "1700000000"},
                   {"mobile": "13800000001", "nationcode": "86", "text": "1", "time": 1700000000},
                   {"mobile": "4155550100", "nationcode": "1", "text": "ok", "time": 1700000001}]"#;
    let events = hook(&*ch, HookKind::Reply, &token_query(), None, many.as_bytes()).unwrap().events;
    assert_eq!(events[0], expected);
    let HookEvent::Reply { dedupe: Some(other), .. } = &events[1] else { panic!("{:?}", events[1]) };
    assert_ne!(other, &dedupe_key("13800000001", "1700000000", "7a 收到"));
    assert_eq!(other, &dedupe_key("13800000001", "1700000000", "1"));
    let HookEvent::Reply { from, .. } = &events[2] else { panic!() };
    assert_eq!(from, "+14155550100");
}

#[test]
fn callbacks_need_the_right_token() {
    let ch = hook_channel(json!({}));
    let body = REPORTS.as_bytes();
    for query in [
        String::new(),
        "token=".to_string(),
        "token=wrong".to_string(),
        format!("token={}", &TOKEN[..TOKEN.len() - 1]),
        format!("token={TOKEN}x"),
        format!("other={TOKEN}"),
        format!("TOKEN={TOKEN}"),
    ] {
        for kind in [HookKind::Status, HookKind::Reply] {
            match hook(&*ch, kind, &query, None, body) {
                Err(HookError::Unauthorized(reason)) => assert!(!reason.contains(TOKEN), "{reason}"),
                other => panic!("query {query:?} on {kind:?}: {other:?}"),
            }
        }
    }
    // Other parameters around it, and percent-encoding, are fine.
    assert!(hook(&*ch, HookKind::Status, &format!("a=1&token={TOKEN}&b=2"), None, body).is_ok());
    let encoded = format!("token={}", TOKEN.replace('-', "%2D"));
    assert!(hook(&*ch, HookKind::Status, &encoded, None, body).is_ok());
    // The token is checked before the body is even read.
    assert!(matches!(hook(&*ch, HookKind::Status, "token=x", None, b"garbage"), Err(HookError::Unauthorized(_))));
}

#[test]
fn a_channel_without_a_path_token_refuses_every_callback() {
    let ch = build_channel("tx", &spec(full_table())).unwrap();
    for query in ["", "token=", "token=anything"] {
        assert!(matches!(
            hook(&*ch, HookKind::Status, query, None, REPORTS.as_bytes()),
            Err(HookError::Unauthorized(_))
        ));
        assert!(matches!(hook(&*ch, HookKind::Reply, query, None, b"{}"), Err(HookError::Unauthorized(_))));
    }
}

#[test]
fn allow_from_limits_the_source_addresses() {
    let ch = hook_channel(json!({"allow_from": ["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"]}));
    let body = REPORTS.as_bytes();
    for ok in ["10.1.2.3", "203.0.113.7", "::ffff:10.9.9.9", "2001:db8::1"] {
        assert!(hook(&*ch, HookKind::Status, &token_query(), Some(ok), body).is_ok(), "{ok}");
    }
    for bad in ["11.0.0.1", "203.0.113.8", "127.0.0.1", "2001:db9::1"] {
        assert!(
            matches!(hook(&*ch, HookKind::Status, &token_query(), Some(bad), body), Err(HookError::Unauthorized(_))),
            "{bad}"
        );
    }
    assert!(matches!(hook(&*ch, HookKind::Status, &token_query(), None, body), Err(HookError::Unauthorized(_))));
    // The allow-list does not replace the token.
    assert!(matches!(hook(&*ch, HookKind::Status, "", Some("10.1.2.3"), body), Err(HookError::Unauthorized(_))));
}

#[test]
fn voice_callbacks_are_refused() {
    let ch = hook_channel(json!({}));
    for kind in [HookKind::Voice, HookKind::VoiceStatus] {
        assert!(matches!(hook(&*ch, kind, &token_query(), None, REPORTS.as_bytes()), Err(HookError::Unauthorized(_))));
    }
}

#[test]
fn garbage_is_malformed_or_invalid_and_never_panics() {
    let ch = hook_channel(json!({}));
    let q = token_query();
    for kind in [HookKind::Status, HookKind::Reply] {
        for body in [&b""[..], b"not json", b"{", b"[", b"\xff\xfe\x00", b"[{\"sid\":\"a\"", b"{\"mobile\":\"1\"}}"] {
            assert!(matches!(hook(&*ch, kind, &q, None, body), Err(HookError::Malformed(_))), "{body:?}");
        }
        for body in [&b"null"[..], b"42", b"\"text\"", b"true", b"[1, 2]", b"[null]", b"[[]]", b"{}"] {
            assert!(matches!(hook(&*ch, kind, &q, None, body), Err(HookError::Invalid(_))), "{body:?}");
        }
    }
    let odd = [
        r#"{"mobile": 13800000001, "text": 5, "time": null}"#,
        r#"{"mobile": "", "text": "1"}"#,
        r#"{"mobile": {"a": 1}, "text": "1", "time": 1}"#,
        r#"[{"sid": 1e400, "report_status": "SUCCESS"}]"#,
        r#"[{"sid": [], "report_status": 1}]"#,
        r#"{"mobile": "1", "text": "1", "nationcode": "+٨٦", "time": 99999999999999999999999}"#,
    ];
    for body in odd {
        for kind in [HookKind::Status, HookKind::Reply] {
            let _ = hook(&*ch, kind, &q, None, body.as_bytes());
        }
    }
    // Deep nesting hits serde_json's recursion limit, not our stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(hook(&*ch, HookKind::Status, &q, None, deep.as_bytes()).is_err());
    // Pseudo-random bytes, with and without a JSON-looking start.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..2000 {
        let len = (round % 64) + 1;
        let mut body = if round % 2 == 0 { b"[{\"sid\":".to_vec() } else { Vec::new() };
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            body.push((x >> 24) as u8);
        }
        let kind = if round % 3 == 0 { HookKind::Reply } else { HookKind::Status };
        assert!(hook(&*ch, kind, &q, None, &body).is_err(), "{body:?}");
    }
}
