//! The Twilio channels against a loopback "Twilio" that checks Basic auth, reads the form, parses
//! the inline TwiML as XML and answers the way Twilio does; and their callbacks, signed here with
//! HMAC-SHA1 code written independently of the crate's.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use jiaoying_dispatch::twilio::TwilioChannel;
use jiaoying_dispatch::{
    build_channel_with, AddressKind, BuildContext, Channel, ChannelSpec, HookError, HookEvent, HookKind, HookRequest,
    Lookup, MessageRef, Outgoing, ParsedHook, SendError,
};
use serde_json::{json, Value};
use sha1::Sha1;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-do-not-leak";
const FROM: &str = "+15017122661";
const PUBLIC: &str = "https://jy.example.org/base";

fn spec(value: Value) -> ChannelSpec {
    serde_json::from_value(value).expect("a valid channel table")
}

fn ctx() -> BuildContext {
    BuildContext { public_url: PUBLIC.to_string() }
}

const LINK: &str = "http://127.0.0.1:8080/a/tok?x=1&y=2";
/// Chinese text with the characters XML must escape, the reply code and the answer link.
const TEXT: &str =
    "【红色预警】A&B社区：水位<警戒线>\"超\"，请回复 7a 或点击 http://127.0.0.1:8080/a/tok?x=1&y=2 确认收到。";

fn message(to: &str) -> Outgoing<'_> {
    Outgoing { id: 42, to, subject: "", text: TEXT, code: Some("7a"), link: Some(LINK) }
}

// ---------------------------------------------------------------------------------------------
// Independent Twilio request signing (gateways.md §3), from the HMAC-SHA1 primitive.

fn twilio_sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

fn form(params: &[(&str, &str)]) -> Vec<u8> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

fn published_vector_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
}

#[test]
fn signature_function_matches_twilios_published_vector() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let params: Vec<(String, String)> =
        published_vector_params().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(jiaoying_dispatch::twilio::signature(b"12345", url, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    assert!(jiaoying_dispatch::twilio::verify(b"12345", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    assert!(!jiaoying_dispatch::twilio::verify(
        b"12345",
        "https://mycompany.com/myapp.php",
        &params,
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    ));
    // The signature sorts the parameters itself, whatever order they arrived in.
    let mut reversed = params.clone();
    reversed.reverse();
    assert_eq!(jiaoying_dispatch::twilio::signature(b"12345", url, &reversed), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    // The helper these tests sign with agrees with the vector too, so it is a fair judge.
    assert_eq!(twilio_sign("12345", url, &published_vector_params()), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
}

// ---------------------------------------------------------------------------------------------
// The loopback Twilio.

#[derive(Debug)]
struct Received {
    resource: String,
    auth_ok: bool,
    content_type: Option<String>,
    form: BTreeMap<String, String>,
}

#[derive(Clone)]
struct Twilio {
    tx: mpsc::UnboundedSender<Received>,
}

fn basic_auth_ok(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else { return false };
    let Some(encoded) = value.strip_prefix("Basic ") else { return false };
    BASE64.decode(encoded).ok().as_deref() == Some(format!("{SID}:{TOKEN}").as_bytes())
}

fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    let body = json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()});
    (status, axum::Json(body)).into_response()
}

/// How the fake answers, chosen by the `To` number (as Twilio's own test credentials do).
async fn answer_for(to: &str) -> Option<Response> {
    Some(match to {
        "+15005550001" => twilio_error(400, 21211, "The 'To' number +15005550001 is not a valid phone number."),
        "+15005550002" => twilio_error(400, 21614, "'To' number is not a valid mobile number"),
        "+15005550003" => twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
        "+15005550004" => twilio_error(400, 21635, "'To' number cannot be a landline"),
        "+15005550005" => twilio_error(400, 21608, "The number is unverified. Trial accounts cannot send"),
        "+15005550006" => twilio_error(400, 21604, "A 'To' phone number is required."),
        // Twilio's rate limit answers 429 with code 20429; a proxy in front may turn it into 400.
        "+15005550007" => twilio_error(429, 20429, "Too Many Requests"),
        "+15005550008" => twilio_error(400, 20429, "Too Many Requests"),
        "+15005550010" => (StatusCode::SERVICE_UNAVAILABLE, "<html>upstream down</html>").into_response(),
        "+15005550011" => twilio_error(500, 20500, "Internal Server Error"),
        "+15005550012" => (StatusCode::FOUND, [("location", "https://elsewhere.example/")], "").into_response(),
        "+15005550013" => {
            // Never answers: the channel's timeout must fire.
            std::future::pending::<()>().await;
            unreachable!()
        }
        _ => return None,
    })
}

async fn resource(
    State(tw): State<Twilio>,
    Path((sid, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let auth_ok = basic_auth_ok(&headers) && sid == SID;
    tw.tx
        .send(Received {
            resource: resource.clone(),
            auth_ok,
            content_type: headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string),
            form: form.clone(),
        })
        .unwrap();
    if !auth_ok {
        // What Twilio answers to a bad token; it echoes nothing secret, but this one does, to
        // check the channel scrubs it.
        return twilio_error(401, 20003, &format!("Authenticate (token {TOKEN} rejected)"));
    }
    let to = form.get("To").cloned().unwrap_or_default();
    if let Some(resp) = answer_for(&to).await {
        return resp;
    }
    match resource.as_str() {
        "Messages.json" => {
            if form.get("Body").is_none_or(|b| b.is_empty()) {
                return twilio_error(400, 21602, "Message body is required.");
            }
            (StatusCode::CREATED, axum::Json(json!({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"})))
                .into_response()
        }
        "Calls.json" => {
            // Twilio parses the TwiML when the call is created and refuses one that is not XML.
            let Some(twiml) = form.get("Twiml") else { return twilio_error(400, 21205, "Url or Twiml required") };
            if roxmltree::Document::parse(twiml).is_err() || twiml.chars().count() > 4000 {
                return twilio_error(400, 12100, "Document parse failure");
            }
            (StatusCode::CREATED, axum::Json(json!({"sid": "CA0123456789abcdef0123456789abcdef", "status": "queued"})))
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

struct TestTwilio {
    base: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl TestTwilio {
    /// The handler records before it answers, so once `send` returned the request is queued.
    fn take(&mut self) -> Received {
        self.rx.try_recv().expect("Twilio received a request")
    }

    fn channel(&self, kind: &str, extra: Value) -> Arc<dyn Channel> {
        let mut table = json!({"kind": kind, "url": self.base, "account_sid": SID, "auth_token": TOKEN, "from": FROM});
        for (k, v) in extra.as_object().unwrap() {
            table[k] = v.clone();
        }
        build_channel_with("tw", &spec(table), &ctx()).expect("a valid Twilio channel")
    }
}

async fn spawn_twilio() -> TestTwilio {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route("/2010-04-01/Accounts/{sid}/{resource}", post(resource)).with_state(Twilio { tx });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestTwilio { base: format!("http://{addr}"), rx }
}

// ---------------------------------------------------------------------------------------------
// twilio-sms: sending.

#[tokio::test]
async fn twilio_sms_posts_the_form_with_basic_auth_and_the_status_callback() {
    let mut tw = spawn_twilio().await;
    let channel = tw.channel("twilio-sms", json!({}));
    assert_eq!(channel.kind(), "twilio-sms");
    assert_eq!(channel.address_kind(), AddressKind::Mobile);

    let sent = channel.send(&message("13800000001")).await.expect("Twilio took it");
    assert_eq!(sent.provider_id.as_deref(), Some("SM0123456789abcdef0123456789abcdef"));

    let req = tw.take();
    assert_eq!(req.resource, "Messages.json");
    assert!(req.auth_ok, "Basic auth with sid:token expected");
    assert_eq!(req.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    let expected: BTreeMap<String, String> = [
        ("To", "+8613800000001"),
        ("From", FROM),
        ("Body", TEXT),
        ("StatusCallback", "https://jy.example.org/base/hooks/sms/tw/status"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(req.form, expected);
}

#[tokio::test]
async fn twilio_sms_keeps_a_number_already_in_e164() {
    let mut tw = spawn_twilio().await;
    tw.channel("twilio-sms", json!({})).send(&message("+447700900123")).await.unwrap();
    assert_eq!(tw.take().form["To"], "+447700900123");
}

#[tokio::test]
async fn twilio_sms_refuses_a_number_that_is_not_a_phone_number_without_calling_twilio() {
    let mut tw = spawn_twilio().await;
    let err = tw.channel("twilio-sms", json!({})).send(&message("not-a-number")).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    assert!(tw.rx.try_recv().is_err(), "nothing should have been sent");
}

#[tokio::test]
async fn twilio_error_codes_map_to_transient_or_permanent() {
    let mut tw = spawn_twilio().await;
    let channel = tw.channel("twilio-sms", json!({}));
    let table = [
        ("+15005550001", false, "21211"),
        ("+15005550002", false, "21614"),
        ("+15005550003", false, "21610"),
        ("+15005550004", false, "21635"),
        ("+15005550005", false, "21608"),
        ("+15005550006", false, "21604"),
        ("+15005550007", true, "20429"),
        ("+15005550008", true, "20429"),
        ("+15005550010", true, "503"),
        ("+15005550011", true, "20500"),
        ("+15005550012", false, "302"),
    ];
    for (to, transient, mention) in table {
        let err = channel.send(&message(to)).await.unwrap_err();
        let text = match (&err, transient) {
            (SendError::Transient(t), true) | (SendError::Permanent(t), false) => t,
            _ => panic!("{to}: expected transient={transient}, got {err:?}"),
        };
        assert!(text.contains(mention), "{to}: {text}");
        assert!(text.len() < 400, "{to}: {text}");
        tw.take();
    }
}

#[tokio::test]
async fn twilio_wrong_credentials_are_permanent_and_the_token_never_shows() {
    let mut tw = spawn_twilio().await;
    let table =
        json!({"kind": "twilio-sms", "url": tw.base, "account_sid": SID, "auth_token": "wrong-token", "from": FROM});
    let wrong = build_channel_with("tw", &spec(table), &ctx()).unwrap();
    let err = wrong.send(&message("13800000001")).await.unwrap_err();
    let SendError::Permanent(text) = &err else { panic!("expected Permanent, got {err:?}") };
    assert!(text.contains("401") && text.contains("20003"), "{text}");
    assert!(!tw.take().auth_ok);

    // The right token, echoed back by the server in an error, is scrubbed.
    let channel = tw.channel("twilio-sms", json!({"account_sid": "ACother"}));
    let err = channel.send(&message("13800000001")).await.unwrap_err();
    assert!(!err.to_string().contains(TOKEN), "the token leaked: {err}");
    assert!(err.to_string().contains("[REDACTED]"), "{err}");
}

#[tokio::test]
async fn twilio_timeouts_and_refused_connections_are_transient() {
    let mut tw = spawn_twilio().await;
    let err = tw.channel("twilio-sms", json!({"timeout_secs": 1})).send(&message("+15005550013")).await.unwrap_err();
    let SendError::Transient(text) = &err else { panic!("expected Transient, got {err:?}") };
    assert!(text.contains("did not answer in time"), "{text}");
    tw.take();

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let table = json!({"kind": "twilio-voice", "url": format!("http://127.0.0.1:{port}"), "account_sid": SID, "auth_token": TOKEN, "from": FROM});
    let err = build_channel_with("tw", &spec(table), &ctx()).unwrap().send(&message("13800000001")).await.unwrap_err();
    let SendError::Transient(text) = &err else { panic!("expected Transient, got {err:?}") };
    assert!(text.contains("could not connect"), "{text}");
}

#[tokio::test]
async fn twilio_cannot_look_up_a_message_by_our_id() {
    let tw = spawn_twilio().await;
    assert_eq!(tw.channel("twilio-sms", json!({})).lookup(&message("13800000001")).await, Lookup::Unknown);
}

// ---------------------------------------------------------------------------------------------
// twilio-voice: placing the call.

/// The parts of the call's TwiML, read with a real XML parser.
#[derive(Debug)]
struct CallTwiml {
    gather_attrs: BTreeMap<String, String>,
    gather_say_language: String,
    gather_say: String,
    after_say_language: String,
    after_say: String,
}

fn parse_call_twiml(twiml: &str) -> CallTwiml {
    let doc = roxmltree::Document::parse(twiml).expect("the TwiML is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    let children: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(children.len(), 2, "Gather then Say: {twiml}");
    let gather = children[0];
    assert_eq!(gather.tag_name().name(), "Gather");
    let gather_attrs = gather.attributes().map(|a| (a.name().to_string(), a.value().to_string())).collect();
    let says: Vec<_> = gather.children().filter(|n| n.is_element()).collect();
    assert_eq!(says.len(), 1);
    assert_eq!(says[0].tag_name().name(), "Say");
    assert_eq!(children[1].tag_name().name(), "Say");
    CallTwiml {
        gather_attrs,
        gather_say_language: says[0].attribute("language").unwrap_or_default().to_string(),
        gather_say: says[0].text().unwrap_or_default().to_string(),
        after_say_language: children[1].attribute("language").unwrap_or_default().to_string(),
        after_say: children[1].text().unwrap_or_default().to_string(),
    }
}

#[tokio::test]
async fn twilio_voice_places_a_call_whose_twiml_gathers_one_key_for_our_message() {
    let mut tw = spawn_twilio().await;
    let channel = tw.channel("twilio-voice", json!({}));
    assert_eq!(channel.kind(), "twilio-voice");
    let sent = channel.send(&message("13800000001")).await.expect("Twilio took the call");
    assert_eq!(sent.provider_id.as_deref(), Some("CA0123456789abcdef0123456789abcdef"));

    let req = tw.take();
    assert_eq!(req.resource, "Calls.json");
    assert!(req.auth_ok);
    assert_eq!(req.form["To"], "+8613800000001");
    assert_eq!(req.form["From"], FROM);
    assert_eq!(req.form["StatusCallback"], "https://jy.example.org/base/hooks/voice/tw/status?m=42");
    assert_eq!(req.form["StatusCallbackEvent"], "completed");
    assert_eq!(req.form["Timeout"], "30");
    assert_eq!(req.form["MachineDetection"], "Enable");
    assert!(!req.form.contains_key("Body"));

    let raw = &req.form["Twiml"];
    // Escaped in the document, so that the parser gives the characters back.
    assert!(raw.contains("A&amp;B") && raw.contains("&lt;警戒线&gt;"), "{raw}");
    let twiml = parse_call_twiml(raw);
    let attrs: Vec<(&str, &str)> = twiml.gather_attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        attrs,
        [
            ("action", "https://jy.example.org/base/hooks/voice/tw?m=42"),
            ("method", "POST"),
            ("numDigits", "1"),
            ("timeout", "10"),
        ]
    );
    assert_eq!(twiml.gather_say_language, "zh-CN");
    assert_eq!(
        twiml.gather_say,
        "【红色预警】A&B社区：水位<警戒线>\"超\"，请回复 7 a 或点击 确认收到。，确认收到请按1，已落实请按2，需要上报请按3"
    );
    assert!(!twiml.gather_say.contains("http"), "the link is not read out");
    assert_eq!(twiml.after_say_language, "zh-CN");
    assert_eq!(twiml.after_say, "未收到按键，再见");
}

#[tokio::test]
async fn twilio_voice_speaks_the_configured_language_and_escapes_it() {
    let mut tw = spawn_twilio().await;
    tw.channel("twilio-voice", json!({"language": "en-US\"x"})).send(&message("13800000001")).await.unwrap();
    let twiml = parse_call_twiml(&tw.take().form["Twiml"]);
    assert_eq!(twiml.gather_say_language, "en-US\"x");
    assert_eq!(twiml.after_say_language, "en-US\"x");
}

#[tokio::test]
async fn twilio_voice_cuts_a_long_warning_to_fit_twilios_twiml_limit() {
    let mut tw = spawn_twilio().await;
    let long = format!("{}&<", "暴雨".repeat(3000));
    let msg = Outgoing { id: 7, to: "13800000001", subject: "", text: &long, code: None, link: None };
    tw.channel("twilio-voice", json!({})).send(&msg).await.expect("a cut TwiML is still accepted");
    let raw = tw.take().form["Twiml"].clone();
    assert!(raw.chars().count() <= 4000, "{} chars", raw.chars().count());
    let twiml = parse_call_twiml(&raw);
    assert!(twiml.gather_say.starts_with("暴雨暴雨"));
    assert!(twiml.gather_say.ends_with("需要上报请按3"), "the key prompt survives the cut");
}

// ---------------------------------------------------------------------------------------------
// Callbacks.

fn channel_offline(kind: &str) -> Arc<dyn Channel> {
    let table = json!({"kind": kind, "account_sid": SID, "auth_token": TOKEN, "from": FROM});
    build_channel_with("tw", &spec(table), &ctx()).unwrap()
}

fn signed_headers(url: &str, params: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-twilio-signature", HeaderValue::from_str(&twilio_sign(TOKEN, url, params)).unwrap());
    headers.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded"));
    headers
}

fn call_hook(
    channel: &dyn Channel,
    kind: HookKind,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ParsedHook, HookError> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    channel.parse_hook(&HookRequest { kind, url, query, headers, body, remote: None })
}

/// A correctly signed callback.
fn signed_hook(
    channel: &dyn Channel,
    kind: HookKind,
    url: &str,
    params: &[(&str, &str)],
) -> Result<ParsedHook, HookError> {
    call_hook(channel, kind, url, &signed_headers(url, params), &form(params))
}

const REPLY_URL: &str = "https://jy.example.org/base/hooks/sms/tw";
const STATUS_URL: &str = "https://jy.example.org/base/hooks/sms/tw/status";
const VOICE_URL: &str = "https://jy.example.org/base/hooks/voice/tw?m=42";
const VOICE_STATUS_URL: &str = "https://jy.example.org/base/hooks/voice/tw/status?m=42";

fn inbound_sms(from: &str) -> Vec<(&str, &str)> {
    vec![
        ("MessageSid", "SM11111111111111111111111111111111"),
        ("SmsSid", "SM11111111111111111111111111111111"),
        ("AccountSid", SID),
        ("From", from),
        ("To", FROM),
        ("Body", "7a 收到 & <ok>"),
        ("NumMedia", "0"),
        ("ApiVersion", "2010-04-01"),
    ]
}

#[test]
fn an_inbound_sms_becomes_a_reply_from_the_local_number_with_a_twiml_ack() {
    let channel = channel_offline("twilio-sms");
    let parsed = signed_hook(&*channel, HookKind::Reply, REPLY_URL, &inbound_sms("+8613800000001")).unwrap();
    assert_eq!(
        parsed.events,
        [HookEvent::Reply {
            from: "13800000001".to_string(),
            text: "7a 收到 & <ok>".to_string(),
            dedupe: Some("twilio:SM11111111111111111111111111111111".to_string()),
        }]
    );
    let ack = parsed.ack.expect("Twilio expects TwiML back");
    assert_eq!(ack.body, r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#);
    assert!(ack.content_type.starts_with("text/xml"));

    // A number outside China keeps its E.164 form.
    let parsed = signed_hook(&*channel, HookKind::Reply, REPLY_URL, &inbound_sms("+447700900123")).unwrap();
    assert!(matches!(&parsed.events[..], [HookEvent::Reply { from, .. }] if from == "+447700900123"));
}

#[test]
fn a_signature_over_the_url_with_or_without_the_default_port_is_accepted() {
    let channel = channel_offline("twilio-sms");
    let params = inbound_sms("+8613800000001");
    let body = form(&params);
    let with_port = "https://jy.example.org:443/base/hooks/sms/tw";
    // Signed with the port, received without (and the other way round).
    assert!(call_hook(&*channel, HookKind::Reply, REPLY_URL, &signed_headers(with_port, &params), &body).is_ok());
    assert!(call_hook(&*channel, HookKind::Reply, with_port, &signed_headers(REPLY_URL, &params), &body).is_ok());
}

#[test]
fn a_tampered_param_a_wrong_url_or_a_missing_signature_is_unauthorized() {
    let channel = channel_offline("twilio-sms");
    let params = inbound_sms("+8613800000001");
    let headers = signed_headers(REPLY_URL, &params);

    let mut tampered = params.clone();
    tampered[5] = ("Body", "8b 收到");
    let r = call_hook(&*channel, HookKind::Reply, REPLY_URL, &headers, &form(&tampered));
    assert!(matches!(r, Err(HookError::Unauthorized(_))), "{r:?}");

    // An extra parameter Twilio did not send.
    let mut extra = params.clone();
    extra.push(("Injected", "1"));
    let r = call_hook(&*channel, HookKind::Reply, REPLY_URL, &headers, &form(&extra));
    assert!(matches!(r, Err(HookError::Unauthorized(_))), "{r:?}");

    for url in [
        "https://jy.example.org/base/hooks/sms/other",
        "http://jy.example.org/base/hooks/sms/tw",
        "https://jy.example.org/base/hooks/sms/tw?x=1",
        "https://jy.example.org:8443/base/hooks/sms/tw",
    ] {
        let r = call_hook(&*channel, HookKind::Reply, url, &headers, &form(&params));
        assert!(matches!(r, Err(HookError::Unauthorized(_))), "{url}: {r:?}");
    }

    let r = call_hook(&*channel, HookKind::Reply, REPLY_URL, &HeaderMap::new(), &form(&params));
    assert!(matches!(r, Err(HookError::Unauthorized(_))), "{r:?}");

    let mut wrong_key = HeaderMap::new();
    wrong_key.insert("x-twilio-signature", HeaderValue::from_str(&twilio_sign("other", REPLY_URL, &params)).unwrap());
    let r = call_hook(&*channel, HookKind::Reply, REPLY_URL, &wrong_key, &form(&params));
    assert!(matches!(r, Err(HookError::Unauthorized(_))), "{r:?}");

    for garbage in ["", "!!!", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "AAAA"] {
        let mut h = HeaderMap::new();
        h.insert("x-twilio-signature", HeaderValue::from_str(garbage).unwrap());
        let r = call_hook(&*channel, HookKind::Reply, REPLY_URL, &h, &form(&params));
        assert!(matches!(r, Err(HookError::Unauthorized(_))), "{garbage:?}: {r:?}");
    }
}

#[test]
fn each_sms_status_maps_to_a_receipt_or_to_nothing() {
    let channel = channel_offline("twilio-sms");
    let sid = "SM0123456789abcdef0123456789abcdef";
    let status = |s: &'static str, code: Option<&'static str>| {
        let mut p =
            vec![("MessageSid", sid), ("SmsSid", sid), ("MessageStatus", s), ("SmsStatus", s), ("AccountSid", SID)];
        if let Some(c) = code {
            p.push(("ErrorCode", c));
        }
        signed_hook(&*channel, HookKind::Status, STATUS_URL, &p).expect("a valid receipt")
    };
    let provider = MessageRef::Provider(sid.to_string());
    assert_eq!(
        status("delivered", None).events,
        [HookEvent::Receipt { message: provider.clone(), delivered: true, error: None }]
    );
    assert_eq!(
        status("failed", Some("30003")).events,
        [HookEvent::Receipt { message: provider.clone(), delivered: false, error: Some("30003".to_string()) }]
    );
    assert_eq!(
        status("undelivered", Some("30007")).events,
        [HookEvent::Receipt { message: provider.clone(), delivered: false, error: Some("30007".to_string()) }]
    );
    assert_eq!(
        status("undelivered", None).events,
        [HookEvent::Receipt { message: provider, delivered: false, error: Some("undelivered".to_string()) }]
    );
    for pending in ["queued", "sending", "sent", "accepted"] {
        let parsed = status(pending, None);
        assert!(parsed.events.is_empty(), "{pending}: {:?}", parsed.events);
        assert!(parsed.ack.is_some(), "{pending}: still answered 200 with TwiML");
    }
}

#[test]
fn a_signed_sms_callback_without_its_ids_is_malformed() {
    let channel = channel_offline("twilio-sms");
    let r = signed_hook(&*channel, HookKind::Status, STATUS_URL, &[("MessageStatus", "delivered")]);
    assert!(matches!(r, Err(HookError::Malformed(_))), "{r:?}");
    let r = signed_hook(&*channel, HookKind::Status, STATUS_URL, &[("MessageSid", "SM1")]);
    assert!(matches!(r, Err(HookError::Malformed(_))), "{r:?}");
    let r = signed_hook(&*channel, HookKind::Reply, REPLY_URL, &[("From", "+8613800000001"), ("Body", "1")]);
    assert!(matches!(r, Err(HookError::Malformed(_))), "{r:?}");
}

fn gather_params(digits: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("AccountSid", SID),
        ("From", FROM),
        ("To", "+8613800000001"),
        ("Direction", "outbound-api"),
        ("Digits", digits),
        ("FinishedOnKey", ""),
    ]
}

#[test]
fn a_key_pressed_on_the_call_is_a_keypress_for_our_message_with_a_spoken_ack() {
    let channel = channel_offline("twilio-voice");
    let parsed = signed_hook(&*channel, HookKind::Voice, VOICE_URL, &gather_params("2")).unwrap();
    assert_eq!(parsed.events, [HookEvent::Keypress { message: MessageRef::Ours(42), digits: "2".to_string() }]);
    let ack = parsed.ack.expect("TwiML back");
    let doc = roxmltree::Document::parse(&ack.body).expect("XML");
    let say = doc.root_element().first_element_child().expect("a Say");
    assert_eq!(say.tag_name().name(), "Say");
    assert_eq!(say.attribute("language"), Some("zh-CN"));
    assert_eq!(say.text(), Some("已记录，谢谢"));
}

#[test]
fn the_message_id_in_the_callback_url_is_covered_by_the_signature() {
    let channel = channel_offline("twilio-voice");
    let params = gather_params("1");
    let headers = signed_headers(VOICE_URL, &params);
    // Someone replays a signed key press against another message.
    let other = "https://jy.example.org/base/hooks/voice/tw?m=43";
    let r = call_hook(&*channel, HookKind::Voice, other, &headers, &form(&params));
    assert!(matches!(r, Err(HookError::Unauthorized(_))), "{r:?}");
}

#[test]
fn a_voice_callback_without_a_valid_message_id_is_invalid() {
    let channel = channel_offline("twilio-voice");
    for url in [
        "https://jy.example.org/base/hooks/voice/tw",
        "https://jy.example.org/base/hooks/voice/tw?m=",
        "https://jy.example.org/base/hooks/voice/tw?m=abc",
        "https://jy.example.org/base/hooks/voice/tw?m=99999999999999999999999",
        "https://jy.example.org/base/hooks/voice/tw?n=42",
    ] {
        let r = signed_hook(&*channel, HookKind::Voice, url, &gather_params("1"));
        assert!(matches!(r, Err(HookError::Invalid(_))), "{url}: {r:?}");
        let status_url = url.replace("/tw", "/tw/status");
        let r = signed_hook(&*channel, HookKind::VoiceStatus, &status_url, &[("CallStatus", "busy")]);
        assert!(matches!(r, Err(HookError::Invalid(_))), "{status_url}: {r:?}");
    }
}

#[test]
fn each_call_outcome_but_a_human_pickup_is_unanswered() {
    let channel = channel_offline("twilio-voice");
    let outcome = |status: &'static str, answered_by: Option<&'static str>| {
        let mut p = vec![("CallSid", "CA01"), ("AccountSid", SID), ("CallStatus", status), ("CallDuration", "12")];
        if let Some(a) = answered_by {
            p.push(("AnsweredBy", a));
        }
        signed_hook(&*channel, HookKind::VoiceStatus, VOICE_STATUS_URL, &p).expect("a valid status").events
    };
    let unanswered =
        |s: &str| vec![HookEvent::VoiceUnanswered { message: MessageRef::Ours(42), status: s.to_string() }];
    assert_eq!(outcome("busy", None), unanswered("busy"));
    assert_eq!(outcome("no-answer", None), unanswered("no-answer"));
    assert_eq!(outcome("failed", None), unanswered("failed"));
    assert_eq!(outcome("canceled", None), unanswered("canceled"));
    for machine in ["machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"] {
        assert_eq!(outcome("completed", Some(machine)), unanswered("voicemail"), "{machine}");
    }
    assert_eq!(outcome("completed", Some("human")), []);
    assert_eq!(outcome("completed", Some("unknown")), []);
    assert_eq!(outcome("completed", None), []);
    assert_eq!(outcome("in-progress", None), []);
    assert_eq!(outcome("ringing", None), []);
}

#[test]
fn each_twilio_kind_refuses_the_other_kinds_hooks() {
    let sms = channel_offline("twilio-sms");
    for (kind, url) in [(HookKind::Voice, VOICE_URL), (HookKind::VoiceStatus, VOICE_STATUS_URL)] {
        let r = signed_hook(&*sms, kind, url, &gather_params("1"));
        assert!(matches!(r, Err(HookError::Unauthorized(_))), "{kind:?}: {r:?}");
    }
    let voice = channel_offline("twilio-voice");
    for (kind, url) in [(HookKind::Reply, REPLY_URL), (HookKind::Status, STATUS_URL)] {
        let r = signed_hook(&*voice, kind, url, &inbound_sms("+8613800000001"));
        assert!(matches!(r, Err(HookError::Unauthorized(_))), "{kind:?}: {r:?}");
    }
}

#[test]
fn garbage_callbacks_never_panic() {
    let bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"%%%%".to_vec(),
        b"=&=&&==".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        b"MessageSid=%E4%B8&From=%ZZ".to_vec(),
        "{\"json\": true}".as_bytes().to_vec(),
        "Digits=".repeat(10_000).into_bytes(),
    ];
    let urls = ["", "garbage", "https://", "http://[::1", "https://jy.example.org/base/hooks/voice/tw?m=%FF"];
    for kind_name in ["twilio-sms", "twilio-voice"] {
        let channel = channel_offline(kind_name);
        for kind in [HookKind::Reply, HookKind::Status, HookKind::Voice, HookKind::VoiceStatus] {
            for url in urls {
                for body in &bodies {
                    let mut headers = HeaderMap::new();
                    let r = call_hook(&*channel, kind, url, &headers, body);
                    assert!(matches!(r, Err(HookError::Unauthorized(_))));
                    // Correctly signed garbage gets past the signature and must still not panic.
                    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
                    let sig = jiaoying_dispatch::twilio::signature(TOKEN.as_bytes(), url, &params);
                    headers.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
                    let _ = call_hook(&*channel, kind, url, &headers, body);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Config.

#[test]
fn twilio_config_names_the_missing_key_and_never_the_token() {
    let base = json!({"kind": "twilio-sms", "account_sid": SID, "auth_token": TOKEN, "from": FROM});
    for (key, value) in [
        ("account_sid", Value::Null),
        ("auth_token", Value::Null),
        ("auth_token", json!("")),
        ("from", Value::Null),
        ("from", json!("sender")),
        ("url", json!("ftp://api.twilio.com")),
        ("timeout_secs", json!(0)),
    ] {
        let mut table = base.clone();
        if value.is_null() {
            table.as_object_mut().unwrap().remove(key);
        } else {
            table[key] = value;
        }
        let err = TwilioChannel::from_spec("tw", &spec(table), &ctx()).unwrap_err();
        assert_eq!(err.name, "tw");
        let text = err.to_string();
        assert!(text.contains(key), "{key}: {text}");
        assert!(!text.contains(TOKEN), "{text}");
    }
    let bad_public = BuildContext { public_url: "not a url".to_string() };
    let err = TwilioChannel::from_spec("tw", &spec(base.clone()), &bad_public).unwrap_err();
    assert!(err.to_string().contains("public_url"), "{err}");

    let channel = TwilioChannel::from_spec("tw", &spec(base), &ctx()).unwrap();
    let debug = format!("{channel:?}");
    assert!(!debug.contains(TOKEN) && debug.contains("[REDACTED]"), "{debug}");
}
