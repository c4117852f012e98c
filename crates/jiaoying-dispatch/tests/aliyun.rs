//! The aliyun-sms channel against a loopback dysmsapi that recomputes the V3 (ACS3-HMAC-SHA256)
//! and V1 (HMAC-SHA1) signatures itself, with code written here from the hmac/sha1/sha2
//! primitives, answers the way Aliyun does, and records what it was asked to send; and the
//! parser of Aliyun's SmsUp/SmsReport pushes.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use jiaoying_dispatch::{
    build_channel, AddressKind, Channel, ChannelSpec, HookError, HookEvent, HookKind, HookRequest, Lookup, MessageRef,
    Outgoing, SendError,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const AK_ID: &str = "LTAI5tTestAccessKeyId";
const AK_SECRET: &str = "aliyun-access-key-secret-do-not-leak";
const TOKEN: &str = "hook-path-token-7f3a9c";
const SIGN_NAME: &str = "观音桥街道";
const TEMPLATE: &str = "SMS_153055065";
const ACK: &str = r#"{"code":0,"msg":"接收成功"}"#;

// Numbers the fake dysmsapi answers with an error, as Aliyun would for such a number.
const ILLEGAL: &str = "13900000011";
const RATE_LIMITED: &str = "13900000012";
const SYSTEM_ERROR: &str = "13900000013";
const NO_BALANCE: &str = "13900000014";
const DOWN_503: &str = "13900000015";
const ECHO_SECRET: &str = "13900000016";
const HANG: &str = "13900000017";
const THROTTLED_429: &str = "13900000018";
const DAY_LIMIT: &str = "13900000019";
const BAD_TEMPLATE: &str = "13900000020";

fn spec(value: Value) -> ChannelSpec {
    serde_json::from_value(value).expect("a valid channel table")
}

fn message<'a>(id: i64, to: &'a str, code: Option<&'a str>, link: Option<&'a str>) -> Outgoing<'a> {
    Outgoing {
        id,
        to,
        subject: "",
        text: "【红色预警】观音桥街道暴雨红色预警，请回复 7a 或点击链接确认收到。",
        code,
        link,
    }
}

// ---------------------------------------------------------------------------------------------
// The fake dysmsapi. Its signature checks are written from the primitives, independently of the
// crate's signing code, so a bug there cannot hide here.

/// RFC 3986 percent-encoding as Aliyun's POP signing wants it, written as a lookup of the
/// unreserved set rather than the crate's byte loop.
fn aliyun_encode(s: &str) -> String {
    const UNRESERVED: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    s.bytes()
        .map(|b| if UNRESERVED.as_bytes().contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Decodes a received query into its parameters (the server's view, before re-encoding).
fn decode_query(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Re-encodes and sorts parameters the way the signer must have.
fn canonical(params: &[(String, String)]) -> String {
    let mut pairs: Vec<String> =
        params.iter().map(|(k, v)| format!("{}={}", aliyun_encode(k), aliyun_encode(v))).collect();
    pairs.sort();
    pairs.join("&")
}

/// A request as the fake recorded it, once its signature checked out.
#[derive(Debug, Clone)]
struct Received {
    version: &'static str,
    action: String,
    params: BTreeMap<String, String>,
    biz_id: Option<String>,
}

#[derive(Clone)]
struct Dysms {
    tx: mpsc::UnboundedSender<Received>,
    nonces: Arc<Mutex<HashSet<String>>>,
    next_biz: Arc<AtomicU64>,
}

fn aliyun_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"Code": code, "Message": message, "RequestId": "A1B2-C3D4"}))).into_response()
}

/// A signature check's refusal, turned into Aliyun's error answer by the handler.
struct Refusal(StatusCode, &'static str, String);

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: &str) -> Self {
        Refusal(status, code, message.to_string())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        aliyun_error(self.0, self.1, &self.2)
    }
}

fn fresh_timestamp(t: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_minutes().abs() <= 15)
        .unwrap_or(false)
        && t.ends_with('Z')
}

/// Checks an ACS3-HMAC-SHA256 request. `Err` is the answer Aliyun would give.
fn check_v3(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), Refusal> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let auth = header("authorization").unwrap_or_default();
    let Some(rest) = auth.strip_prefix("ACS3-HMAC-SHA256 ") else {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "MissingAuthorization", "no ACS3 Authorization"));
    };
    let fields: BTreeMap<&str, &str> = rest.split(',').filter_map(|p| p.split_once('=')).collect();
    if fields.get("Credential") != Some(&AK_ID) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    let signed: Vec<&str> = fields.get("SignedHeaders").copied().unwrap_or_default().split(';').collect();
    for needed in
        ["host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"]
    {
        if !signed.contains(&needed) {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "SignatureDoesNotMatch", "header not signed"));
        }
    }
    let body_hash = hex::encode(Sha256::digest(body));
    if header("x-acs-content-sha256") != Some(body_hash.as_str()) {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "ContentSHA256NotMatch", "body hash mismatch"));
    }
    if !fresh_timestamp(header("x-acs-date").unwrap_or_default()) {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "InvalidTimeStamp.Expired", "timestamp expired"));
    }
    let mut canonical_headers = String::new();
    for name in &signed {
        canonical_headers.push_str(&format!("{name}:{}\n", header(name).unwrap_or_default()));
    }
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{body_hash}",
        uri.path(),
        canonical(&decode_query(uri.query().unwrap_or_default())),
        signed.join(";")
    );
    let string_to_sign = format!("ACS3-HMAC-SHA256\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let mut mac = Hmac::<Sha256>::new_from_slice(AK_SECRET.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    if fields.get("Signature").copied() != Some(hex::encode(mac.finalize().into_bytes()).as_str()) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            &format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    Ok(())
}

/// Checks an HMAC-SHA1 RPC request.
fn check_v1(method: &Method, params: &[(String, String)]) -> Result<(), Refusal> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("AccessKeyId") != Some(AK_ID) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    if get("SignatureMethod") != Some("HMAC-SHA1") || get("SignatureVersion") != Some("1.0") {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "InvalidSignatureMethod", "bad signature method"));
    }
    if get("Version") != Some("2017-05-25") || get("RegionId").is_none() || get("Format") != Some("JSON") {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "MissingParameter", "common parameter missing"));
    }
    if !fresh_timestamp(get("Timestamp").unwrap_or_default()) {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "InvalidTimeStamp.Expired", "timestamp expired"));
    }
    let Some(given) = get("Signature") else {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "MissingSignature", "no Signature"));
    };
    let unsigned: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "Signature").cloned().collect();
    let string_to_sign = format!("{method}&%2F&{}", aliyun_encode(&canonical(&unsigned)));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{AK_SECRET}&").as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if given != expected {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            &format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    Ok(())
}

/// Aliyun's answer for one number, when it is one of the error numbers.
fn error_for(phone: &str) -> Option<Response> {
    let e = |code: &str, msg: &str| Some(aliyun_error(StatusCode::OK, code, msg));
    match phone {
        ILLEGAL => e("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
        RATE_LIMITED => e("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5"),
        SYSTEM_ERROR => e("isp.SYSTEM_ERROR", "系统错误"),
        NO_BALANCE => e("isv.AMOUNT_NOT_ENOUGH", "账户余额不足"),
        DAY_LIMIT => e("isv.DAY_LIMIT_CONTROL", "触发日发送限额"),
        BAD_TEMPLATE => e("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板"),
        ECHO_SECRET => e("isv.SMS_SIGNATURE_ILLEGAL", &format!("signature rejected for key {AK_SECRET}")),
        DOWN_503 => Some((StatusCode::SERVICE_UNAVAILABLE, "<html>upstream down</html>").into_response()),
        THROTTLED_429 => Some(aliyun_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Throttling.User",
            "Request was denied due to user flow control.",
        )),
        _ => None,
    }
}

fn string_values_only(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.values().all(Value::is_string))
}

async fn dysmsapi(State(state): State<Dysms>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let params = decode_query(uri.query().unwrap_or_default());
    let v3 = headers.contains_key("authorization");
    let checked = if v3 { check_v3(&method, &uri, &headers, &body) } else { check_v1(&method, &params) };
    if let Err(refusal) = checked {
        return refusal.into_response();
    }
    let nonce = if v3 {
        headers.get("x-acs-signature-nonce").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    } else {
        params.iter().find(|(k, _)| k == "SignatureNonce").map(|(_, v)| v.clone()).unwrap_or_default()
    };
    if nonce.is_empty() || !state.nonces.lock().unwrap().insert(nonce) {
        return aliyun_error(
            StatusCode::BAD_REQUEST,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        );
    }
    let (action, version) = if v3 {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        (h("x-acs-action"), h("x-acs-version"))
    } else {
        let p = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
        (p("Action"), p("Version"))
    };
    if version != "2017-05-25" {
        return aliyun_error(StatusCode::BAD_REQUEST, "InvalidVersion", "bad version");
    }
    let business: BTreeMap<String, String> = params.into_iter().collect();
    let get = |k: &str| business.get(k).cloned().unwrap_or_default();
    let phones: Vec<String> = match action.as_str() {
        "SendSms" => {
            if !string_values_only(&serde_json::from_str(&get("TemplateParam")).unwrap_or(Value::Null)) {
                return aliyun_error(StatusCode::OK, "isv.INVALID_JSON_PARAM", "JSON参数不合法");
            }
            get("PhoneNumbers").split(',').map(str::to_string).collect()
        }
        "SendBatchSms" => {
            let phones: Vec<String> = serde_json::from_str(&get("PhoneNumberJson")).unwrap_or_default();
            let signs: Vec<String> = serde_json::from_str(&get("SignNameJson")).unwrap_or_default();
            let params: Vec<Value> = serde_json::from_str(&get("TemplateParamJson")).unwrap_or_default();
            if phones.is_empty() || phones.len() > 100 {
                return aliyun_error(StatusCode::OK, "isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制");
            }
            if signs.len() != phones.len() || params.len() != phones.len() || !params.iter().all(string_values_only) {
                return aliyun_error(StatusCode::OK, "isv.INVALID_JSON_PARAM", "JSON参数不合法");
            }
            phones
        }
        _ => return aliyun_error(StatusCode::NOT_FOUND, "InvalidAction.NotFound", "no such action"),
    };
    // Aliyun records the request before it answers; so does this fake, so that a test can read
    // what was sent as soon as `send` returns.
    let mut received = Received { version: if v3 { "v3" } else { "v1" }, action, params: business, biz_id: None };
    if phones.iter().any(|p| p == HANG) {
        state.tx.send(received).unwrap();
        return std::future::pending::<Response>().await;
    }
    if let Some(refusal) = phones.iter().find_map(|p| error_for(p)) {
        state.tx.send(received).unwrap();
        return refusal;
    }
    let biz_id = format!("{}^0", state.next_biz.fetch_add(1, Ordering::SeqCst));
    received.biz_id = Some(biz_id.clone());
    state.tx.send(received).unwrap();
    axum::Json(json!({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": "F655A8D5-B967-440B-8683"}))
        .into_response()
}

struct FakeDysms {
    base: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl FakeDysms {
    fn take(&mut self) -> Received {
        self.rx.try_recv().expect("dysmsapi received a request")
    }

    fn nothing_more(&mut self) {
        if let Ok(r) = self.rx.try_recv() {
            panic!("no further request expected, got {r:?}");
        }
    }

    fn table(&self, extra: Value) -> Value {
        let mut table = json!({
            "kind": "aliyun-sms",
            "url": format!("{}/", self.base),
            "access_key_id": AK_ID,
            "access_key_secret": AK_SECRET,
            "sign_name": SIGN_NAME,
            "template_code": TEMPLATE,
            "path_token": TOKEN,
        });
        for (k, v) in extra.as_object().unwrap() {
            table[k] = v.clone();
        }
        table
    }

    fn channel(&self, extra: Value) -> Arc<dyn Channel> {
        build_channel("aliyun", &spec(self.table(extra))).expect("a valid aliyun-sms channel")
    }
}

async fn spawn_dysms() -> FakeDysms {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Dysms { tx, nonces: Arc::default(), next_biz: Arc::new(AtomicU64::new(900619746936498440)) };
    let app = Router::new().fallback(dysmsapi).with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeDysms { base: format!("http://{addr}"), rx }
}

fn template_param(r: &Received) -> Value {
    serde_json::from_str(&r.params["TemplateParam"]).expect("TemplateParam is JSON")
}

fn error_text(e: &SendError) -> &str {
    match e {
        SendError::Transient(t) | SendError::Permanent(t) => t,
    }
}

// ---------------------------------------------------------------------------------------------
// Sending.

#[tokio::test]
async fn v3_send_is_accepted_by_the_independent_signature_check_and_carries_number_template_and_out_id() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({}));
    assert_eq!(channel.kind(), "aliyun-sms");
    assert_eq!(channel.address_kind(), AddressKind::Mobile);
    assert_eq!(channel.max_batch(), 1);

    let sent = channel.send(&message(42, "+8613800000001", Some("7a"), None)).await.expect("Code OK is sent");
    let req = dysms.take();
    assert_eq!(req.version, "v3");
    assert_eq!(req.action, "SendSms");
    assert_eq!(req.params["PhoneNumbers"], "13800000001");
    assert_eq!(req.params["SignName"], SIGN_NAME);
    assert_eq!(req.params["TemplateCode"], TEMPLATE);
    assert_eq!(req.params["OutId"], "42");
    assert_eq!(template_param(&req), json!({"code": "7a"}));
    // The provider id names the BizId and the number, which is what a receipt without OutId has.
    let biz_id = req.biz_id.expect("the fake answered with a BizId");
    assert_eq!(sent.provider_id, Some(format!("{biz_id}/13800000001")));
    dysms.nothing_more();
}

#[tokio::test]
async fn v1_send_is_accepted_by_the_independent_hmac_sha1_check() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"signature_version": "v1", "region": "cn-shanghai"}));
    let sent = channel.send(&message(7, "13800000002", Some("3b"), None)).await.expect("Code OK is sent");
    let req = dysms.take();
    assert_eq!(req.version, "v1");
    assert_eq!(req.action, "SendSms");
    assert_eq!(req.params["RegionId"], "cn-shanghai");
    assert_eq!(req.params["PhoneNumbers"], "13800000002");
    assert_eq!(req.params["OutId"], "7");
    assert_eq!(template_param(&req), json!({"code": "3b"}));
    assert_eq!(sent.provider_id, Some(format!("{}/13800000002", req.biz_id.unwrap())));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_as_signature_mismatch_permanently_in_both_versions() {
    let mut dysms = spawn_dysms().await;
    for version in ["v3", "v1"] {
        let wrong = "not-the-right-secret-either";
        let channel = dysms.channel(json!({"signature_version": version, "access_key_secret": wrong}));
        let err = channel.send(&message(1, "13800000003", Some("1a"), None)).await.expect_err("bad signature");
        assert!(matches!(err, SendError::Permanent(_)), "{version}: {err:?}");
        let text = error_text(&err);
        assert!(text.contains("SignatureDoesNotMatch"), "{version}: {text}");
        assert!(!text.contains(wrong) && !text.contains(AK_SECRET), "{version}: {text}");
        dysms.nothing_more();
    }
}

#[tokio::test]
async fn template_params_fill_code_token_link_and_text_as_strings() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"template_params": ["code", "token", "link", "text"]}));
    let link = "https://jy.example.org/a/Tk-9_x?src=sms";
    let msg = message(5, "13800000004", Some("12a"), Some(link));
    channel.send(&msg).await.expect("sent");
    let req = dysms.take();
    assert_eq!(template_param(&req), json!({"code": "12a", "token": "Tk-9_x", "link": link, "text": msg.text}));
}

#[tokio::test]
async fn a_message_missing_a_template_value_fails_permanently_without_a_request() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"template_params": ["code", "token"]}));
    let err = channel.send(&message(5, "13800000004", Some("12a"), None)).await.expect_err("no link for ${token}");
    assert!(matches!(&err, SendError::Permanent(t) if t.contains("${token}")), "{err:?}");
    let err = channel.send(&message(5, "13800000004", None, Some("https://x/a/t"))).await.expect_err("no code");
    assert!(matches!(&err, SendError::Permanent(t) if t.contains("${code}")), "{err:?}");
    dysms.nothing_more();
}

#[tokio::test]
async fn a_recipient_that_is_not_one_number_is_refused_before_any_request() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({}));
    for to in ["13800000001,13800000002", "ops@example.org", ""] {
        let err = channel.send(&message(1, to, Some("1a"), None)).await.expect_err("not a number");
        assert!(matches!(err, SendError::Permanent(_)), "{to:?}: {err:?}");
    }
    dysms.nothing_more();
}

#[tokio::test]
async fn error_codes_map_to_transient_or_permanent() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({}));
    let cases = [
        (ILLEGAL, false, "isv.MOBILE_NUMBER_ILLEGAL"),
        (RATE_LIMITED, true, "isv.BUSINESS_LIMIT_CONTROL"),
        (SYSTEM_ERROR, true, "isp.SYSTEM_ERROR"),
        (DAY_LIMIT, true, "isv.DAY_LIMIT_CONTROL"),
        (NO_BALANCE, false, "isv.AMOUNT_NOT_ENOUGH"),
        (BAD_TEMPLATE, false, "isv.SMS_TEMPLATE_ILLEGAL"),
        (THROTTLED_429, true, "Throttling.User"),
        (DOWN_503, true, "503"),
    ];
    for (phone, transient, needle) in cases {
        let err = channel.send(&message(9, phone, Some("1a"), None)).await.expect_err("an error number");
        assert_eq!(matches!(err, SendError::Transient(_)), transient, "{phone}: {err:?}");
        assert!(error_text(&err).contains(needle), "{phone}: {err:?}");
        // Only the per-number frequency limit carries the prefix the outbox switches channel on.
        assert_eq!(
            error_text(&err).starts_with("rate-limited by provider for this number:"),
            phone == RATE_LIMITED,
            "{phone}: {err:?}"
        );
        assert_eq!(dysms.take().params["PhoneNumbers"], phone);
    }
    assert_eq!(jiaoying_dispatch::aliyun::RATE_LIMITED_PREFIX, "rate-limited by provider for this number:");
}

#[tokio::test]
async fn the_secret_never_appears_in_error_text_even_when_echoed() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({}));
    let err = channel.send(&message(9, ECHO_SECRET, Some("1a"), None)).await.expect_err("refused");
    let text = error_text(&err);
    assert!(text.contains("isv.SMS_SIGNATURE_ILLEGAL") && text.contains("[REDACTED]"), "{text}");
    assert!(!text.contains(AK_SECRET), "{text}");
    assert!(!format!("{err:?}").contains(AK_SECRET));
    dysms.take();
}

#[tokio::test]
async fn a_gateway_that_does_not_answer_in_time_is_transient() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"timeout_secs": 1}));
    let err = channel.send(&message(9, HANG, Some("1a"), None)).await.expect_err("timed out");
    assert!(matches!(&err, SendError::Transient(t) if t.contains("did not answer in time")), "{err:?}");
    assert!(!error_text(&err).contains(AK_SECRET));
    dysms.take();
}

#[tokio::test]
async fn an_unreachable_gateway_is_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let dysms = FakeDysms { base: format!("http://{addr}"), rx: mpsc::unbounded_channel().1 };
    let err = dysms.channel(json!({})).send(&message(1, "13800000001", Some("1a"), None)).await.expect_err("refused");
    assert!(matches!(&err, SendError::Transient(t) if t.contains("could not connect")), "{err:?}");
}

#[tokio::test]
async fn a_batch_of_three_goes_out_as_one_send_batch_sms() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"batch_size": 100}));
    assert_eq!(channel.max_batch(), 100);
    let msgs = [
        message(1, "+8613800000001", Some("1a"), None),
        message(2, "13800000002", Some("2a"), None),
        message(3, "13800000003", Some("3a"), None),
    ];
    let results = channel.send_batch(&msgs).await;
    let req = dysms.take();
    dysms.nothing_more();
    assert_eq!(req.action, "SendBatchSms");
    assert_eq!(req.version, "v3");
    let json_param = |k: &str| serde_json::from_str::<Value>(&req.params[k]).unwrap();
    assert_eq!(json_param("PhoneNumberJson"), json!(["13800000001", "13800000002", "13800000003"]));
    assert_eq!(json_param("SignNameJson"), json!([SIGN_NAME, SIGN_NAME, SIGN_NAME]));
    assert_eq!(json_param("TemplateParamJson"), json!([{"code": "1a"}, {"code": "2a"}, {"code": "3a"}]));
    assert_eq!(req.params["TemplateCode"], TEMPLATE);
    let biz_id = req.biz_id.unwrap();
    let ids: Vec<Option<String>> = results.into_iter().map(|r| r.expect("sent").provider_id).collect();
    assert_eq!(
        ids,
        ["13800000001", "13800000002", "13800000003"].map(|p| Some(format!("{biz_id}/{p}"))).to_vec(),
        "one BizId for all, told apart by number"
    );
}

#[tokio::test]
async fn a_batch_receipt_without_out_id_names_the_message_the_batch_send_recorded() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"batch_size": 10}));
    let msgs = [message(1, "13800000001", Some("1a"), None), message(2, "13800000002", Some("2a"), None)];
    let results = channel.send_batch(&msgs).await;
    let biz_id = dysms.take().biz_id.unwrap();
    let second = results[1].clone().unwrap().provider_id.unwrap();
    let body = json!([{
        "phone_number": "13800000002", "send_time": "2026-07-01 08:00:00", "report_time": "2026-07-01 08:00:05",
        "success": true, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1", "biz_id": biz_id
    }]);
    let events =
        channel.parse_hook(&hook(HookKind::Status, &format!("token={TOKEN}"), &body.to_string(), None)).unwrap();
    assert_eq!(
        events.events,
        vec![HookEvent::Receipt { message: MessageRef::Provider(second), delivered: true, error: None }]
    );
}

#[tokio::test]
async fn a_whole_batch_error_applies_to_every_message() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"batch_size": 10}));
    let msgs = [
        message(1, "13800000001", Some("1a"), None),
        message(2, SYSTEM_ERROR, Some("2a"), None),
        message(3, "13800000003", Some("3a"), None),
    ];
    let results = channel.send_batch(&msgs).await;
    assert_eq!(dysms.take().action, "SendBatchSms");
    dysms.nothing_more();
    assert_eq!(results.len(), 3);
    for r in &results {
        assert!(matches!(r, Err(SendError::Transient(t)) if t.contains("isp.SYSTEM_ERROR")), "{r:?}");
    }
}

#[tokio::test]
async fn a_batch_refused_for_one_bad_number_is_resent_one_by_one() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"batch_size": 10}));
    let msgs = [
        message(1, "13800000001", Some("1a"), None),
        message(2, ILLEGAL, Some("2a"), None),
        message(3, RATE_LIMITED, Some("3a"), None),
        message(4, "13800000004", Some("4a"), None),
    ];
    let results = channel.send_batch(&msgs).await;
    assert_eq!(dysms.take().action, "SendBatchSms");
    let singles: Vec<(String, String)> = (0..4)
        .map(|_| {
            let r = dysms.take();
            assert_eq!(r.action, "SendSms");
            (r.params["PhoneNumbers"].clone(), r.params["OutId"].clone())
        })
        .collect();
    dysms.nothing_more();
    assert_eq!(
        singles,
        [("13800000001", "1"), (ILLEGAL, "2"), (RATE_LIMITED, "3"), ("13800000004", "4")]
            .map(|(p, i)| (p.to_string(), i.to_string()))
            .to_vec()
    );
    assert!(results[0].is_ok() && results[3].is_ok(), "{results:?}");
    assert!(matches!(&results[1], Err(SendError::Permanent(t)) if t.contains("isv.MOBILE_NUMBER_ILLEGAL")));
    assert!(matches!(&results[2], Err(SendError::Transient(t)) if t.starts_with("rate-limited by provider")));
}

#[tokio::test]
async fn a_batch_keeps_a_second_message_to_the_same_number_apart_and_bad_messages_out() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"batch_size": 10}));
    let msgs = [
        message(1, "13800000001", Some("1a"), None),
        message(2, "13800000002", Some("2a"), None),
        message(3, "13800000001", Some("3a"), None),
        message(4, "not a number", Some("4a"), None),
    ];
    let results = channel.send_batch(&msgs).await;
    let batch = dysms.take();
    assert_eq!(batch.action, "SendBatchSms");
    assert_eq!(batch.params["PhoneNumberJson"], r#"["13800000001","13800000002"]"#);
    let single = dysms.take();
    assert_eq!((single.action.as_str(), single.params["OutId"].as_str()), ("SendSms", "3"));
    dysms.nothing_more();
    assert!(results[..3].iter().all(Result::is_ok), "{results:?}");
    assert!(matches!(results[3], Err(SendError::Permanent(_))));
}

#[tokio::test]
async fn batches_larger_than_batch_size_are_split() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({"batch_size": 2}));
    let phones = ["13800000001", "13800000002", "13800000003", "13800000004", "13800000005"];
    let msgs: Vec<Outgoing> = phones.iter().map(|p| message(1, p, Some("1a"), None)).collect();
    let results = channel.send_batch(&msgs).await;
    assert!(results.iter().all(Result::is_ok));
    let actions: Vec<String> = (0..3).map(|_| dysms.take().action).collect();
    assert_eq!(actions, ["SendBatchSms", "SendBatchSms", "SendSms"]);
    dysms.nothing_more();
}

#[tokio::test]
async fn lookup_cannot_ask_aliyun_by_our_id() {
    let mut dysms = spawn_dysms().await;
    let channel = dysms.channel(json!({}));
    assert_eq!(channel.lookup(&message(1, "13800000001", Some("1a"), None)).await, Lookup::Unknown);
    dysms.nothing_more();
}

#[test]
fn config_errors_name_the_key_and_never_the_secret() {
    let base = json!({
        "kind": "aliyun-sms", "access_key_id": AK_ID, "access_key_secret": AK_SECRET,
        "sign_name": SIGN_NAME, "template_code": TEMPLATE,
    });
    assert!(build_channel("ali", &spec(base.clone())).is_ok(), "defaults suffice");
    let cases: [(&str, Value, &str); 11] = [
        ("access_key_id", Value::Null, "access_key_id"),
        ("access_key_secret", Value::Null, "access_key_secret"),
        ("sign_name", json!(" "), "sign_name"),
        ("template_code", Value::Null, "template_code"),
        ("signature_version", json!("v2"), "signature_version"),
        ("template_params", json!(["code", "name"]), "template_params"),
        ("template_params", json!(["code", "code"]), "template_params"),
        ("batch_size", json!(0), "batch_size"),
        ("batch_size", json!(101), "batch_size"),
        ("allow_from", json!(["10.0.0.0/40"]), "allow_from"),
        ("url", json!("ftp://dysmsapi.aliyuncs.com/"), "url"),
    ];
    for (key, value, needle) in cases {
        let mut table = base.clone();
        if value.is_null() {
            table.as_object_mut().unwrap().remove(key);
        } else {
            table[key] = value.clone();
        }
        let err = build_channel("ali", &spec(table)).err().unwrap_or_else(|| panic!("{key} = {value} accepted"));
        let text = err.to_string();
        assert!(text.starts_with("channel ali:") && text.contains(needle), "{key}: {text}");
        assert!(!text.contains(AK_SECRET), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Pushes.

fn hook<'a>(kind: HookKind, query: &'a str, body: &'a str, remote: Option<IpAddr>) -> HookRequest<'a> {
    static HEADERS: std::sync::OnceLock<reqwest::header::HeaderMap> = std::sync::OnceLock::new();
    HookRequest {
        kind,
        url: "https://jy.example.org/hooks/sms/aliyun",
        query,
        headers: HEADERS.get_or_init(reqwest::header::HeaderMap::new),
        body: body.as_bytes(),
        remote,
    }
}

fn hook_channel(extra: Value) -> Arc<dyn Channel> {
    let dysms = FakeDysms { base: "http://127.0.0.1:9".to_string(), rx: mpsc::unbounded_channel().1 };
    dysms.channel(extra)
}

const SMS_UP: &str = r#"[
  {"phone_number": "+8613800000001", "send_time": "2026-07-01 08:01:02", "content": "7a",
   "sign_name": "观音桥街道", "dest_code": "1234", "sequence_id": 1234567890},
  {"phone_number": "8613800000002", "send_time": "20260701080203", "content": "收到",
   "sign_name": "观音桥街道", "dest_code": "", "sequence_id": "1234567891"},
  {"phone_number": "13800000003", "send_time": "20260701080304", "content": " 1 ", "dest_code": "",
   "sequence_id": 1234567892}
]"#;

const SMS_REPORT: &str = r#"[
  {"phone_number": "13800000001", "send_time": "2026-07-01 08:00:00", "report_time": "2026-07-01 08:00:05",
   "success": true, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
   "biz_id": "900619746936498440^0", "out_id": "42"},
  {"phone_number": "13800000002", "send_time": "20260701080000", "report_time": "20260701080009",
   "success": false, "err_code": "MK:0001", "err_msg": "关机", "sms_size": "2",
   "biz_id": "900619746936498441^0", "out_id": "43"},
  {"phone_number": "+8613800000003", "send_time": "2026-07-01 08:00:00", "report_time": "2026-07-01 08:00:07",
   "success": false, "err_code": "UNDELIV", "err_msg": "UNDELIV", "sms_size": "1",
   "biz_id": "900619746936498442^0", "out_id": ""},
  {"phone_number": "13800000004", "send_time": "2026-07-01 08:00:00", "report_time": "2026-07-01 08:00:08",
   "success": false, "sms_size": "1", "biz_id": "900619746936498443^0", "out_id": "abc"}
]"#;

#[test]
fn sms_up_pushes_in_both_time_formats_become_replies() {
    let channel = hook_channel(json!({}));
    let parsed = channel.parse_hook(&hook(HookKind::Reply, &format!("token={TOKEN}"), SMS_UP, None)).unwrap();
    assert_eq!(
        parsed.events,
        vec![
            HookEvent::Reply {
                from: "13800000001".into(),
                text: "7a".into(),
                dedupe: Some("aliyun:1234567890".into())
            },
            HookEvent::Reply {
                from: "13800000002".into(),
                text: "收到".into(),
                dedupe: Some("aliyun:1234567891".into())
            },
            HookEvent::Reply {
                from: "13800000003".into(),
                text: " 1 ".into(),
                dedupe: Some("aliyun:1234567892".into())
            },
        ]
    );
    let ack = parsed.ack.expect("Aliyun wants its ack");
    assert_eq!(ack.body, ACK);
    assert_eq!(ack.content_type, "application/json");
}

#[test]
fn sms_report_pushes_become_receipts_by_our_id_or_biz_id() {
    let channel = hook_channel(json!({}));
    let parsed = channel.parse_hook(&hook(HookKind::Status, &format!("a=b&token={TOKEN}"), SMS_REPORT, None)).unwrap();
    assert_eq!(
        parsed.events,
        vec![
            HookEvent::Receipt { message: MessageRef::Ours(42), delivered: true, error: None },
            HookEvent::Receipt {
                message: MessageRef::Ours(43), delivered: false, error: Some("MK:0001: 关机".into())
            },
            HookEvent::Receipt {
                message: MessageRef::Provider("900619746936498442^0/13800000003".into()),
                delivered: false,
                error: Some("UNDELIV".into())
            },
            HookEvent::Receipt {
                message: MessageRef::Provider("900619746936498443^0/13800000004".into()),
                delivered: false,
                error: Some("not delivered (no error code given)".into())
            },
        ]
    );
    assert_eq!(parsed.ack.unwrap().body, ACK);
}

#[test]
fn an_empty_push_is_acknowledged_with_no_events() {
    let channel = hook_channel(json!({}));
    let parsed = channel.parse_hook(&hook(HookKind::Status, &format!("token={TOKEN}"), "[]", None)).unwrap();
    assert!(parsed.events.is_empty());
    assert_eq!(parsed.ack.unwrap().body, ACK);
}

#[test]
fn a_missing_or_wrong_token_is_unauthorized() {
    let channel = hook_channel(json!({}));
    let wrong_token = format!("token={TOKEN}x");
    let prefix_token = format!("token={}", &TOKEN[..TOKEN.len() - 1]);
    let other_name = format!("tok={TOKEN}");
    for query in ["", "token=", wrong_token.as_str(), prefix_token.as_str(), other_name.as_str(), "token=%ZZ"] {
        for kind in [HookKind::Reply, HookKind::Status] {
            let err = channel.parse_hook(&hook(kind, query, SMS_UP, None)).unwrap_err();
            assert!(matches!(err, HookError::Unauthorized(_)), "{query:?}: {err:?}");
            assert!(!err.to_string().contains(TOKEN));
        }
    }
    // A token with characters that need encoding matches once decoded.
    let channel = hook_channel(json!({"path_token": "a b+c/d"}));
    assert!(channel.parse_hook(&hook(HookKind::Reply, "token=a%20b%2Bc%2Fd", SMS_UP, None)).is_ok());
}

#[test]
fn without_a_path_token_every_callback_is_refused() {
    let channel = hook_channel(json!({"path_token": null}));
    for query in ["", "token=", "token=anything"] {
        let err = channel.parse_hook(&hook(HookKind::Reply, query, SMS_UP, None)).unwrap_err();
        assert!(matches!(err, HookError::Unauthorized(_)), "{query:?}: {err:?}");
    }
    let channel = hook_channel(json!({"path_token": ""}));
    assert!(matches!(
        channel.parse_hook(&hook(HookKind::Reply, "token=", SMS_UP, None)),
        Err(HookError::Unauthorized(_))
    ));
}

#[test]
fn allow_from_is_enforced_after_the_token() {
    let channel = hook_channel(json!({"allow_from": ["100.64.0.0/10", "192.0.2.7", "2001:db8::/32"]}));
    let q = format!("token={TOKEN}");
    let ok = |ip: &str| channel.parse_hook(&hook(HookKind::Status, &q, SMS_REPORT, Some(ip.parse().unwrap())));
    for ip in ["100.64.0.1", "100.127.255.254", "192.0.2.7", "::ffff:192.0.2.7", "2001:db8::1"] {
        assert!(ok(ip).is_ok(), "{ip}");
    }
    for ip in ["100.128.0.1", "192.0.2.8", "127.0.0.1", "2001:db9::1"] {
        assert!(matches!(ok(ip), Err(HookError::Unauthorized(_))), "{ip}");
    }
    assert!(matches!(
        channel.parse_hook(&hook(HookKind::Status, &q, SMS_REPORT, None)),
        Err(HookError::Unauthorized(_))
    ));
    // Without the token even an allowed address is refused.
    let allowed = Some("192.0.2.7".parse().unwrap());
    assert!(matches!(
        channel.parse_hook(&hook(HookKind::Status, "", SMS_REPORT, allowed)),
        Err(HookError::Unauthorized(_))
    ));
}

#[test]
fn voice_hooks_are_unauthorized() {
    let channel = hook_channel(json!({}));
    let q = format!("token={TOKEN}");
    for kind in [HookKind::Voice, HookKind::VoiceStatus] {
        assert!(matches!(channel.parse_hook(&hook(kind, &q, SMS_UP, None)), Err(HookError::Unauthorized(_))));
    }
}

#[test]
fn malformed_bodies_are_malformed_and_wrong_shapes_invalid() {
    let channel = hook_channel(json!({}));
    let q = format!("token={TOKEN}");
    for body in ["", "[", "not json", "[{\"phone_number\": }]", "\u{feff}[]"] {
        let err = channel.parse_hook(&hook(HookKind::Reply, &q, body, None)).unwrap_err();
        assert!(matches!(err, HookError::Malformed(_)), "{body:?}: {err:?}");
    }
    let invalid_up = [
        r#"{"phone_number": "13800000001"}"#,
        r#"[1]"#,
        r#"[{"send_time": "2026-07-01 08:00:00", "content": "1", "sequence_id": 1}]"#,
        r#"[{"phone_number": "13800000001", "send_time": "2026-07-01 08:00:00", "sequence_id": 1}]"#,
        r#"[{"phone_number": "13800000001", "send_time": "2026-07-01 08:00:00", "content": "1"}]"#,
        r#"[{"phone_number": "13800000001", "send_time": "07/01/2026", "content": "1", "sequence_id": 1}]"#,
        r#"[{"phone_number": ["13800000001"], "send_time": "2026-07-01 08:00:00", "content": "1", "sequence_id": 1}]"#,
    ];
    for body in invalid_up {
        let err = channel.parse_hook(&hook(HookKind::Reply, &q, body, None)).unwrap_err();
        assert!(matches!(err, HookError::Invalid(_)), "{body}: {err:?}");
    }
    let invalid_report = [
        r#"{}"#,
        r#"[{"phone_number": "13800000001", "biz_id": "1^0", "out_id": "1"}]"#,
        r#"[{"phone_number": "13800000001", "success": "maybe", "out_id": "1"}]"#,
        r#"[{"phone_number": "13800000001", "success": true}]"#,
        r#"[{"success": true, "out_id": "1"}]"#,
        r#"[{"phone_number": "13800000001", "success": true, "out_id": "1", "report_time": "soon"}]"#,
    ];
    for body in invalid_report {
        let err = channel.parse_hook(&hook(HookKind::Status, &q, body, None)).unwrap_err();
        assert!(matches!(err, HookError::Invalid(_)), "{body}: {err:?}");
    }
    // One bad item refuses the push, so that Aliyun retries rather than the item being dropped.
    let mixed = r#"[{"phone_number": "13800000001", "success": true, "out_id": "1"}, {"success": true}]"#;
    assert!(matches!(channel.parse_hook(&hook(HookKind::Status, &q, mixed, None)), Err(HookError::Invalid(_))));
}

#[test]
fn deeply_nested_and_huge_inputs_do_not_panic() {
    let channel = hook_channel(json!({}));
    let q = format!("token={TOKEN}");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let long_item = format!(
        r#"[{{"phone_number": "{}", "send_time": "20260701080000", "content": "{}", "sequence_id": {}}}]"#,
        "9".repeat(10_000),
        "字".repeat(100_000),
        "1".repeat(400)
    );
    for body in [deep.as_str(), long_item.as_str(), "[null]", "[[]]", "[{}]", "[true, 1, \"x\"]", "1e999999"] {
        for kind in [HookKind::Reply, HookKind::Status] {
            let _ = channel.parse_hook(&hook(kind, &q, body, None));
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "(20[0-9]{12})|(20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 8, |inner| {
        let keys = prop_oneof![
            Just("phone_number".to_string()),
            Just("send_time".to_string()),
            Just("report_time".to_string()),
            Just("content".to_string()),
            Just("sequence_id".to_string()),
            Just("success".to_string()),
            Just("err_code".to_string()),
            Just("err_msg".to_string()),
            Just("biz_id".to_string()),
            Just("out_id".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_push_parser(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let channel = hook_channel(json!({}));
        let q = format!("token={TOKEN}");
        for kind in [HookKind::Reply, HookKind::Status] {
            let req = HookRequest { body: &body, ..hook(kind, &q, "", None) };
            let _ = channel.parse_hook(&req);
        }
    }

    #[test]
    fn arbitrary_json_arrays_never_panic_and_ack_only_when_accepted(items in prop::collection::vec(arbitrary_json(), 0..4)) {
        let channel = hook_channel(json!({}));
        let q = format!("token={TOKEN}");
        let body = Value::Array(items).to_string();
        for kind in [HookKind::Reply, HookKind::Status] {
            if let Ok(parsed) = channel.parse_hook(&hook(kind, &q, &body, None)) {
                prop_assert_eq!(parsed.ack.map(|a| a.body), Some(ACK.to_string()));
            }
        }
    }

    #[test]
    fn arbitrary_queries_without_the_token_are_unauthorized(query in "[a-z=&%0-9]{0,40}") {
        let channel = hook_channel(json!({}));
        let result = channel.parse_hook(&hook(HookKind::Reply, &query, SMS_UP, None));
        prop_assert!(matches!(result, Err(HookError::Unauthorized(_))));
    }
}
