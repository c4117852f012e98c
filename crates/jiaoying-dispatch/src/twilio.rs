//! Twilio, for numbers the Chinese gateways do not reach and as a fallback: `twilio-sms` sends
//! through the Messages API, `twilio-voice` places a call that reads the warning and asks for a
//! key press (inline TwiML with `<Gather>`), and both authenticate Twilio's signed callbacks
//! (replies, delivery receipts, key presses, call outcomes) and turn them into hook events.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use jiaoying_core::MobileNumber;
use reqwest::{redirect, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use std::sync::Arc;

use crate::build::{missing, parse_http_url, required, timeout, BuildContext};
use crate::channel::{AddressKind, Channel, ChannelConfigError, ChannelSpec, Lookup, Outgoing, SendError, Sent};
use crate::http::describe_request_error;
use crate::inbound::{HookAck, HookError, HookEvent, HookKind, HookRequest, MessageRef, ParsedHook};
use crate::sms_webhook::{excerpt, is_transient_status, read_capped};

/// The REST API base when `url` is not set. Tests point `url` at a loopback server.
pub const DEFAULT_BASE: &str = "https://api.twilio.com";

/// Default request timeout when `timeout_secs` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The header Twilio signs its callbacks with.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The language the call speaks in when `language` is not set.
pub const DEFAULT_LANGUAGE: &str = "zh-CN";

/// Twilio refuses an inline `Twiml` parameter longer than this many characters; a long warning is
/// cut so that the call still goes out (the SMS and the answer link carry the full text).
const TWIML_LIMIT: usize = 4000;

/// How long the phone rings before Twilio gives up with `no-answer`.
const RING_SECONDS: &str = "30";

/// How much of an error response we quote in the outbox row.
const ERROR_BODY_EXCERPT: usize = 200;

/// Twilio's error documents are small JSON objects; we read no more than this of any answer.
const BODY_LIMIT: usize = 64 * 1024;

/// What the person hears after the warning, and the keys the web layer gives meaning to.
const KEY_PROMPT: &str = "，确认收到请按1，已落实请按2，需要上报请按3";
const NO_KEY: &str = "未收到按键，再见";
const KEY_RECORDED: &str = "已记录，谢谢";

/// The TwiML answer to an inbound SMS or a receipt: "do nothing more".
const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

type HmacSha1 = Hmac<Sha1>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sms,
    Voice,
}

pub struct TwilioChannel {
    mode: Mode,
    name: String,
    client: reqwest::Client,
    /// `…/2010-04-01/Accounts/{sid}/Messages.json` or `…/Calls.json`.
    endpoint: Url,
    account_sid: String,
    auth_token: SecretString,
    /// Our sender number, E.164.
    from: String,
    /// `server.public_url`: the base of the callback URLs Twilio calls and signs.
    public_url: Url,
    language: String,
}

impl fmt::Debug for TwilioChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioChannel")
            .field("kind", &self.kind())
            .field("name", &self.name)
            .field("endpoint", &self.endpoint.as_str())
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[REDACTED]")
            .field("from", &self.from)
            .field("public_url", &self.public_url.as_str())
            .field("language", &self.language)
            .finish()
    }
}

/// Builds a `twilio-sms` or `twilio-voice` channel.
pub fn build(name: &str, spec: &ChannelSpec, ctx: &BuildContext) -> Result<Arc<dyn Channel>, ChannelConfigError> {
    Ok(Arc::new(TwilioChannel::from_spec(name, spec, ctx)?))
}

impl TwilioChannel {
    /// The channel of one `[channels.NAME]` table of kind `twilio-sms` or `twilio-voice`.
    pub fn from_spec(name: &str, spec: &ChannelSpec, ctx: &BuildContext) -> Result<Self, ChannelConfigError> {
        let err = |reason: String| ChannelConfigError { name: name.to_string(), reason };
        let kind = spec.kind.as_str();
        let mode = match kind {
            "twilio-sms" => Mode::Sms,
            "twilio-voice" => Mode::Voice,
            other => return Err(err(format!("kind {other:?} is not a Twilio kind"))),
        };
        let account_sid = required(spec.account_sid.as_deref(), kind, "account_sid").map_err(err)?;
        let auth_token = spec
            .auth_token
            .as_ref()
            .filter(|s| !s.expose_secret().trim().is_empty())
            .ok_or_else(|| err(missing(kind, "auth_token")))?;
        let from = required(spec.from.as_deref(), kind, "from").map_err(err)?;
        let from = MobileNumber::parse(from)
            .map_err(|_| err(format!("from = {from:?} is not a phone number in E.164 form like +8613800000001")))?;
        let base = parse_http_url(spec.url.as_deref().map(str::trim).filter(|u| !u.is_empty()).unwrap_or(DEFAULT_BASE))
            .map_err(err)?;
        let resource = match mode {
            Mode::Sms => "Messages.json",
            Mode::Voice => "Calls.json",
        };
        let endpoint = append_path(&base, &["2010-04-01", "Accounts", account_sid, resource])
            .ok_or_else(|| err(format!("url {:?} cannot take a path", base.as_str())))?;
        let public_url = parse_http_url(ctx.public_url.trim())
            .map_err(|e| err(format!("server.public_url is needed for Twilio's callbacks: {e}")))?;
        let language = spec.language.as_deref().map(str::trim).filter(|l| !l.is_empty()).unwrap_or(DEFAULT_LANGUAGE);
        let timeout = timeout(spec, DEFAULT_TIMEOUT).map_err(err)?;
        // One client per channel (connection pooling). Redirects are not followed: they would carry
        // our Basic credentials to a host nobody configured.
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("jiaoying/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| err(format!("cannot set up the HTTP client: {e}")))?;
        Ok(TwilioChannel {
            mode,
            name: name.to_string(),
            client,
            endpoint,
            account_sid: account_sid.to_string(),
            auth_token: auth_token.clone(),
            from: from.as_str().to_string(),
            public_url,
            language: language.to_string(),
        })
    }
}

/// `base` with `segments` appended as path segments (each percent-encoded as needed), keeping
/// any path the base already has. `None` for URLs that cannot have a path.
fn append_path(base: &Url, segments: &[&str]) -> Option<Url> {
    let mut url = base.clone();
    url.path_segments_mut().ok()?.pop_if_empty().extend(segments);
    Some(url)
}

impl TwilioChannel {
    /// `host:port` of the API, for error texts.
    fn target(&self) -> String {
        let host = self.endpoint.host_str().unwrap_or("?");
        match self.endpoint.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// Makes sure an error text never repeats the auth token, even if an answer echoes it.
    fn scrub(&self, text: String) -> String {
        let token = self.auth_token.expose_secret();
        if token.is_empty() || !text.contains(token) {
            text
        } else {
            text.replace(token, "[REDACTED]")
        }
    }

    /// A callback URL under `server.public_url`: `/hooks/{sms|voice}/{name}[/status][?m=id]`.
    fn callback(&self, segments: &[&str], message: Option<i64>) -> String {
        let mut all = vec!["hooks"];
        all.extend_from_slice(segments);
        // `public_url` passed `parse_http_url`, so it always takes a path.
        let mut url = append_path(&self.public_url, &all).unwrap_or_else(|| self.public_url.clone());
        if let Some(id) = message {
            url.set_query(Some(&format!("m={id}")));
        }
        url.into()
    }

    /// The inline TwiML of a call for `msg`: the warning read out inside a one-key `<Gather>`
    /// whose action carries our message id, then a goodbye if no key came.
    fn call_twiml(&self, msg: &Outgoing<'_>) -> String {
        let action = self.callback(&["voice", &self.name], Some(msg.id));
        let lang = xml_escape(&self.language);
        let head = format!(
            r#"<Response><Gather numDigits="1" timeout="10" action="{}" method="POST"><Say language="{lang}">"#,
            xml_escape(&action)
        );
        let tail = format!(
            r#"{}</Say></Gather><Say language="{lang}">{}</Say></Response>"#,
            xml_escape(KEY_PROMPT),
            xml_escape(NO_KEY)
        );
        let budget = TWIML_LIMIT.saturating_sub(head.chars().count() + tail.chars().count());
        let spoken = xml_escape_within(&spoken_text(msg.text, msg.link, msg.code), budget);
        format!("{head}{spoken}{tail}")
    }

    fn form(&self, msg: &Outgoing<'_>, to: &str) -> Vec<(&'static str, String)> {
        match self.mode {
            Mode::Sms => vec![
                ("To", to.to_string()),
                ("From", self.from.clone()),
                ("Body", msg.text.to_string()),
                ("StatusCallback", self.callback(&["sms", &self.name, "status"], None)),
            ],
            Mode::Voice => vec![
                ("To", to.to_string()),
                ("From", self.from.clone()),
                ("Twiml", self.call_twiml(msg)),
                ("StatusCallback", self.callback(&["voice", &self.name, "status"], Some(msg.id))),
                ("StatusCallbackEvent", "completed".to_string()),
                ("StatusCallbackMethod", "POST".to_string()),
                ("Timeout", RING_SECONDS.to_string()),
                // So that a voicemail greeting is reported as `AnsweredBy=machine_*`, never taken
                // for a person who heard the warning.
                ("MachineDetection", "Enable".to_string()),
            ],
        }
    }

    fn error_from_answer(&self, status: StatusCode, body: &[u8]) -> SendError {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let code = parsed.as_ref().and_then(|v| v.get("code")).and_then(serde_json::Value::as_i64);
        let message = parsed.as_ref().and_then(|v| v.get("message")).and_then(serde_json::Value::as_str);
        let detail = match (code, message) {
            (Some(c), Some(m)) => format!("error {c}: {m}"),
            (Some(c), None) => format!("error {c}"),
            _ => String::from_utf8_lossy(body).into_owned(),
        };
        let detail = excerpt(&self.scrub(detail), ERROR_BODY_EXCERPT);
        let mut text = format!("Twilio {} answered {status}", self.target());
        if status.is_redirection() {
            text.push_str(" (redirect not followed)");
        }
        if !detail.is_empty() {
            text.push_str(": ");
            text.push_str(&detail);
        }
        let text = self.scrub(text);
        match classify(status, code) {
            Retry::Later => SendError::Transient(text),
            Retry::Never => SendError::Permanent(text),
        }
    }

    fn parse_sms_reply(&self, params: &[(String, String)]) -> Result<ParsedHook, HookError> {
        let from = param(params, "From").filter(|f| !f.is_empty()).ok_or_else(|| malformed("From"))?;
        let sid = param(params, "MessageSid").filter(|s| !s.is_empty()).ok_or_else(|| malformed("MessageSid"))?;
        // A message with only a picture has an empty Body; it still is a reply (that answers nothing).
        let text = param(params, "Body").unwrap_or_default();
        Ok(ParsedHook {
            events: vec![HookEvent::Reply {
                from: local_number(from),
                text: text.to_string(),
                dedupe: Some(format!("twilio:{sid}")),
            }],
            ack: Some(HookAck::xml(EMPTY_TWIML)),
        })
    }

    fn parse_sms_status(&self, params: &[(String, String)]) -> Result<ParsedHook, HookError> {
        let sid = param(params, "MessageSid").filter(|s| !s.is_empty()).ok_or_else(|| malformed("MessageSid"))?;
        let status = param(params, "MessageStatus").ok_or_else(|| malformed("MessageStatus"))?;
        let message = MessageRef::Provider(sid.to_string());
        let event = match status {
            // `read` (WhatsApp and RCS) comes after delivery and implies it.
            "delivered" | "read" => Some(HookEvent::Receipt { message, delivered: true, error: None }),
            "failed" | "undelivered" | "canceled" => {
                let error = param(params, "ErrorCode").filter(|c| !c.is_empty()).unwrap_or(status);
                Some(HookEvent::Receipt { message, delivered: false, error: Some(error.to_string()) })
            }
            // queued, accepted, scheduled, sending, sent: still on its way; the final status follows.
            _ => None,
        };
        Ok(ParsedHook { events: event.into_iter().collect(), ack: Some(HookAck::xml(EMPTY_TWIML)) })
    }

    fn parse_keypress(&self, query: &str, params: &[(String, String)]) -> Result<ParsedHook, HookError> {
        let id = message_id(query)?;
        let digits = param(params, "Digits").unwrap_or_default().trim();
        let lang = xml_escape(&self.language);
        if digits.is_empty() {
            // Twilio only calls the action with input, but a caller that hung up mid-Gather can
            // reach it empty: nothing was pressed, so nothing is recorded.
            let body = format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="{lang}">{}</Say></Response>"#,
                xml_escape(NO_KEY)
            );
            return Ok(ParsedHook { events: Vec::new(), ack: Some(HookAck::xml(body)) });
        }
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="{lang}">{}</Say></Response>"#,
            xml_escape(KEY_RECORDED)
        );
        Ok(ParsedHook {
            events: vec![HookEvent::Keypress { message: MessageRef::Ours(id), digits: digits.to_string() }],
            ack: Some(HookAck::xml(body)),
        })
    }

    fn parse_call_status(&self, query: &str, params: &[(String, String)]) -> Result<ParsedHook, HookError> {
        let id = message_id(query)?;
        let status = param(params, "CallStatus").filter(|s| !s.is_empty()).ok_or_else(|| malformed("CallStatus"))?;
        let answered_by = param(params, "AnsweredBy").unwrap_or_default();
        let unanswered = match status {
            "busy" | "no-answer" | "failed" | "canceled" => Some(status),
            // Answering machine detection: a voicemail greeting or a fax picked up. Nobody heard
            // the warning, whatever the machine recorded.
            "completed" if answered_by.starts_with("machine") => Some("voicemail"),
            "completed" if answered_by == "fax" => Some("fax"),
            // A person picked up: the key press (or its absence until the deadline) decides.
            // Earlier progress (queued, ringing, in-progress) is not final.
            _ => None,
        };
        let events = unanswered
            .map(|s| HookEvent::VoiceUnanswered { message: MessageRef::Ours(id), status: s.to_string() })
            .into_iter()
            .collect();
        Ok(ParsedHook { events, ack: Some(HookAck::xml(EMPTY_TWIML)) })
    }

    /// Checks `X-Twilio-Signature` over the URL Twilio called and the form parameters.
    fn check_signature(&self, req: &HookRequest<'_>, params: &[(String, String)]) -> Result<(), HookError> {
        let header = req
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| HookError::Unauthorized(format!("{SIGNATURE_HEADER} is missing")))?;
        let token = self.auth_token.expose_secret().as_bytes();
        if url_variants(req.url).iter().any(|url| verify(token, url, params, header)) {
            Ok(())
        } else {
            Err(HookError::Unauthorized(format!("{SIGNATURE_HEADER} does not match")))
        }
    }
}

#[async_trait]
impl Channel for TwilioChannel {
    fn kind(&self) -> &'static str {
        match self.mode {
            Mode::Sms => "twilio-sms",
            Mode::Voice => "twilio-voice",
        }
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Mobile
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError> {
        // Twilio wants E.164; a bad number fails here rather than as error 21211 after a round trip.
        let to = MobileNumber::parse(msg.to).map_err(|_| {
            SendError::Permanent(
                "the recipient is not a phone number Twilio can reach (E.164 or a Chinese mobile)".into(),
            )
        })?;
        let mut resp = self
            .client
            .post(self.endpoint.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&self.form(msg, to.as_str()))
            .send()
            .await
            .map_err(|e| {
                SendError::Transient(self.scrub(describe_request_error(&format!("Twilio {}", self.target()), &e)))
            })?;

        let status = resp.status();
        if status.is_success() {
            // Twilio has taken the message or call: whatever happens while reading its answer,
            // reporting a failure now would make us send it twice.
            let body = read_capped(&mut resp, BODY_LIMIT).await.unwrap_or_default();
            return Ok(Sent { provider_id: sid(&body) });
        }
        // The whole (capped) answer is scrubbed before it is cut to an excerpt, so that a token
        // straddling the cut cannot leak as a prefix.
        let body = read_capped(&mut resp, BODY_LIMIT).await.unwrap_or_default();
        Err(self.error_from_answer(status, &body))
    }

    /// Twilio keeps nothing of ours on a message or call: its list APIs filter by To, From and
    /// date only, and there is no field like Aliyun's OutId to carry our id. A message found to
    /// the same number could be an earlier attempt, so we cannot tell "ours went out" from
    /// "another one did"; sending again (at-least-once) is the safe answer.
    async fn lookup(&self, _msg: &Outgoing<'_>) -> Lookup {
        Lookup::Unknown
    }

    fn parse_hook(&self, req: &HookRequest<'_>) -> Result<ParsedHook, HookError> {
        let ours = match self.mode {
            Mode::Sms => matches!(req.kind, HookKind::Reply | HookKind::Status),
            Mode::Voice => matches!(req.kind, HookKind::Voice | HookKind::VoiceStatus),
        };
        if !ours {
            return Err(HookError::Unauthorized(format!(
                "channel kind {} takes no {:?} callbacks",
                self.kind(),
                req.kind
            )));
        }
        let params = parse_form(req.body);
        // Authenticate before looking at anything in the request.
        self.check_signature(req, &params)?;
        match req.kind {
            HookKind::Reply => self.parse_sms_reply(&params),
            HookKind::Status => self.parse_sms_status(&params),
            HookKind::Voice => self.parse_keypress(req.query, &params),
            HookKind::VoiceStatus => self.parse_call_status(req.query, &params),
        }
    }
}

enum Retry {
    Later,
    Never,
}

/// Twilio's error code decides first where it is one we know; otherwise the HTTP status does
/// (429, 408 and 5xx later; other 4xx, including bad credentials, never).
fn classify(status: StatusCode, code: Option<i64>) -> Retry {
    match code {
        // Too many requests.
        Some(20429) => Retry::Later,
        // Invalid To; cannot receive SMS; recipient sent STOP; landline; trial account and an
        // unverified number. Retrying or the next attempt will not change any of them.
        Some(21211 | 21614 | 21610 | 21635 | 21608) => Retry::Never,
        _ if is_transient_status(status) => Retry::Later,
        _ => Retry::Never,
    }
}

/// The `sid` of Twilio's answer (`SM…` for a message, `CA…` for a call).
fn sid(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("sid")?.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The form parameters of a body, decoded. Never fails: bytes that are not a form just make
/// pairs that will not match the signature.
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn malformed(field: &str) -> HookError {
    HookError::Malformed(format!("the callback has no {field}"))
}

/// Our message id from the `m` query parameter we put on the voice callback URLs.
fn message_id(query: &str) -> Result<i64, HookError> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "m")
        .and_then(|(_, v)| v.trim().parse::<i64>().ok())
        .ok_or_else(|| HookError::Invalid("the callback URL carries no valid message id `m`".to_string()))
}

/// A Chinese number as the registry writes it (13800000001); other countries keep their E.164.
fn local_number(from: &str) -> String {
    match from.strip_prefix("+86") {
        Some(rest) if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
        _ => from.to_string(),
    }
}

/// The base64 HMAC-SHA1 Twilio puts in `X-Twilio-Signature`: the exact URL it called, then each
/// form parameter's name and value, sorted by name, with no separators, keyed by the auth token.
pub fn signature(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(signature_mac(auth_token, url, params).finalize().into_bytes())
}

/// Checks an `X-Twilio-Signature` value in constant time.
pub fn verify(auth_token: &[u8], url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(sig) = BASE64.decode(header.trim()) else {
        return false;
    };
    signature_mac(auth_token, url, params).verify_slice(&sig).is_ok()
}

fn signature_mac(auth_token: &[u8], url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name as Twilio does; a repeated name by value too, as its own libraries do.
    sorted.sort();
    let mut mac = HmacSha1::new_from_slice(auth_token).expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The URL as received, and the same URL with the default port written out or left off: Twilio
/// signs https URLs sometimes with `:443` and sometimes without, and its own validators try both.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The port follows the last ':' after any IPv6 literal's closing bracket.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let after_bracket = host_port.rfind(']').map_or(0, |i| i + 1);
    let variant = match host_port[after_bracket..].rfind(':') {
        Some(i) => {
            let colon = host_start + after_bracket + i;
            if authority[colon + 1..] == *default_port {
                Some(format!("{scheme}://{}{tail}", &authority[..colon]))
            } else {
                None
            }
        }
        None => Some(format!("{scheme}://{authority}:{default_port}{tail}")),
    };
    out.extend(variant);
    out
}

/// The warning as the call reads it: without the answer link (a URL read aloud helps nobody)
/// and with the reply code's characters spaced so that "12" is read as "one two", not "twelve".
fn spoken_text(text: &str, link: Option<&str>, code: Option<&str>) -> String {
    let mut spoken = text.to_string();
    if let Some(link) = link.filter(|l| !l.is_empty()) {
        spoken = spoken.replace(link, " ");
    }
    if let Some(code) = code.filter(|c| c.chars().count() > 1) {
        let spaced = code.chars().map(String::from).collect::<Vec<_>>().join(" ");
        spoken = replace_standalone(&spoken, code, &spaced);
    }
    // Collapse the gaps the removed link leaves.
    spoken.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Replaces `needle` where it stands on its own, not inside a longer run of ASCII letters and
/// digits: code "12" must not touch "2012年".
fn replace_standalone(haystack: &str, needle: &str, with: &str) -> String {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut out = String::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = rest.find(needle) {
        let before = rest[..i].chars().next_back().or_else(|| out.chars().next_back());
        let after = rest[i + needle.len()..].chars().next();
        out.push_str(&rest[..i]);
        if is_word(before) || is_word(after) {
            out.push_str(needle);
        } else {
            out.push_str(with);
        }
        rest = &rest[i + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// Escapes text for XML content and attribute values, and drops the control characters XML 1.0
/// does not allow at all (Twilio would refuse the whole TwiML).
pub(crate) fn xml_escape(text: &str) -> String {
    xml_escape_within(text, usize::MAX)
}

/// [`xml_escape`], stopping before the escaped text would exceed `limit` characters (whole
/// entities only, so the cut never breaks the XML).
fn xml_escape_within(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut count = 0usize;
    for c in text.chars() {
        let piece: std::borrow::Cow<'static, str> = match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => " ".into(),
            c => String::from(c).into(),
        };
        let len = piece.chars().count();
        if count + len > limit {
            break;
        }
        count += len;
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn signature_matches_twilios_published_vector() {
        let p = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(signature(b"12345", url, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        // Order of the received parameters does not matter; the signature sorts them.
        let mut reversed = p.clone();
        reversed.reverse();
        assert!(verify(b"12345", url, &reversed, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify(b"12346", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify(b"12345", url, &p, "not base64 at all!"));
    }

    #[test]
    fn url_variants_add_or_drop_the_default_port_only() {
        assert_eq!(url_variants("https://a.org/x?y=1"), ["https://a.org/x?y=1", "https://a.org:443/x?y=1"]);
        assert_eq!(url_variants("https://a.org:443/x"), ["https://a.org:443/x", "https://a.org/x"]);
        assert_eq!(url_variants("http://a.org:80"), ["http://a.org:80", "http://a.org"]);
        assert_eq!(url_variants("http://127.0.0.1:8080/h"), ["http://127.0.0.1:8080/h"]);
        assert_eq!(url_variants("http://[::1]/h"), ["http://[::1]/h", "http://[::1]:80/h"]);
        assert_eq!(url_variants("http://[::1]:80/h"), ["http://[::1]:80/h", "http://[::1]/h"]);
        assert_eq!(url_variants("garbage"), ["garbage"]);
        assert_eq!(url_variants("ftp://a.org/"), ["ftp://a.org/"]);
        for s in ["", "://", "https://", "https://:", "https://@:443", "http://a:b:c@[", "https://é:443/ü"] {
            let _ = url_variants(s);
        }
    }

    #[test]
    fn spoken_text_drops_the_link_and_spaces_the_code() {
        let text = "2012年以来最强暴雨，请回复 12 或点击 http://x.org/a/t?x=1&y=2 确认收到";
        assert_eq!(
            spoken_text(text, Some("http://x.org/a/t?x=1&y=2"), Some("12")),
            "2012年以来最强暴雨，请回复 1 2 或点击 确认收到"
        );
        assert_eq!(spoken_text("回复7a确认", None, Some("7a")), "回复7 a确认");
        assert_eq!(spoken_text("回复 1", None, Some("1")), "回复 1");
        assert_eq!(spoken_text("", Some(""), Some("")), "");
    }

    #[test]
    fn xml_escape_within_cuts_between_entities() {
        assert_eq!(xml_escape("a<b&\"c'\u{0}>"), "a&lt;b&amp;&quot;c&apos; &gt;");
        assert_eq!(xml_escape_within("a&b", 5), "a");
        assert_eq!(xml_escape_within("a&b", 6), "a&amp;");
        assert_eq!(xml_escape_within("暴雨", 1), "暴");
    }

    #[test]
    fn local_number_strips_only_the_chinese_prefix() {
        assert_eq!(local_number("+8613800000001"), "13800000001");
        assert_eq!(local_number("+12349013030"), "+12349013030");
        assert_eq!(local_number("+86"), "+86");
        assert_eq!(local_number("+86abc"), "+86abc");
    }
}
