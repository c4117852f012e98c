//! The generic SMS webhook channel: POSTs each message as signed JSON to a gateway we do not
//! otherwise know, and the signature helpers the inbound hooks share with it.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::{redirect, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::channel::{AddressKind, Channel, Outgoing, SendError, Sent};
use crate::inbound::{HookError, HookEvent, HookKind, HookRequest, MessageRef, ParsedHook};

/// The header that carries `sha256=<hex>` on outgoing bodies and on inbound hooks.
pub const SIGNATURE_HEADER: &str = "X-Jiaoying-Signature";

/// Default request timeout when `timeout_secs` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error response we quote: enough to see the gateway's reason, not enough to
/// flood the log or the outbox row.
const ERROR_BODY_EXCERPT: usize = 200;

/// How much of a 2xx body we read looking for the provider's id; anything larger is not the
/// small JSON acknowledgement we expect, so we do not buffer it.
const ACK_BODY_LIMIT: usize = 64 * 1024;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`, the value of [`SIGNATURE_HEADER`].
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a [`SIGNATURE_HEADER`] value against `body`. The comparison is constant-time, so a
/// caller probing signatures learns nothing from how long a rejection takes.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The JSON body of one outgoing message, as SPEC "Generic SMS webhook" fixes it.
#[derive(Serialize)]
struct Payload<'a> {
    /// A string, so that gateways in languages without 64-bit integers keep it exact.
    id: String,
    to: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
}

pub struct SmsWebhookChannel {
    client: reqwest::Client,
    url: Url,
    secret: SecretString,
}

impl fmt::Debug for SmsWebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsWebhookChannel").field("url", &self.url.as_str()).field("secret", &"[REDACTED]").finish()
    }
}

impl SmsWebhookChannel {
    /// One client per channel, reused for every send (connection pooling). Redirects are not
    /// followed: a gateway that moved must be reconfigured, and following a redirect would send
    /// the signed body to a host nobody configured.
    pub fn new(url: Url, secret: SecretString, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("jiaoying/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(SmsWebhookChannel { client, url, secret })
    }

    /// `host:port` of the gateway, for error texts. Not the full URL: paths and queries often
    /// carry tokens.
    fn target(&self) -> String {
        crate::http::host_port(&self.url)
    }

    /// Makes sure an error text never repeats the secret, even when a gateway echoes it back.
    fn scrub(&self, text: String) -> String {
        crate::http::scrub_secret(text, self.secret.expose_secret())
    }
}

#[async_trait]
impl Channel for SmsWebhookChannel {
    fn kind(&self) -> &'static str {
        "sms-webhook"
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Mobile
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError> {
        let body = serde_json::to_vec(&Payload {
            id: msg.id.to_string(),
            to: msg.to,
            text: msg.text,
            code: msg.code,
            link: msg.link,
        })
        .map_err(|e| SendError::Permanent(format!("encoding the webhook body: {e}")))?;
        let signature = sign(self.secret.expose_secret().as_bytes(), &body);

        let mut resp = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(self.scrub(describe_request_error(&self.target(), &e))))?;

        let status = resp.status();
        if status.is_success() {
            // The gateway has accepted the message: whatever happens while reading its answer,
            // reporting a failure now would make us send it twice.
            let body = read_capped(&mut resp, ACK_BODY_LIMIT).await.unwrap_or_default();
            return Ok(Sent { provider_id: provider_id(&body) });
        }

        let location =
            status.is_redirection().then(|| resp.headers().get(reqwest::header::LOCATION).cloned()).flatten();
        // Read a secret's length beyond the cap and scrub before cutting, so that a secret
        // straddling the cut cannot leak as a prefix.
        let body =
            read_capped(&mut resp, ERROR_BODY_EXCERPT + self.secret.expose_secret().len()).await.unwrap_or_default();
        let excerpt = excerpt(&self.scrub(String::from_utf8_lossy(&body).into_owned()), ERROR_BODY_EXCERPT);
        let mut text = format!("SMS webhook {} answered {status}", self.target());
        if let Some(loc) = location.as_ref().and_then(|l| l.to_str().ok()) {
            text.push_str(&format!(" (redirect to {loc} not followed)"));
        }
        if !excerpt.is_empty() {
            text.push_str(": ");
            text.push_str(&excerpt);
        }
        let text = self.scrub(text);
        if is_transient_status(status) {
            Err(SendError::Transient(text))
        } else {
            Err(SendError::Permanent(text))
        }
    }

    fn parse_hook(&self, req: &HookRequest<'_>) -> Result<ParsedHook, HookError> {
        parse_generic_sms_hook(&self.secret, req)
    }
}

/// The longest reply text we take: far beyond any SMS, short enough to log and store.
const MAX_REPLY_CHARS: usize = 1000;

/// Checks the [`SIGNATURE_HEADER`] of an inbound request with `secret`.
pub(crate) fn authenticate(secret: &SecretString, req: &HookRequest<'_>) -> Result<(), HookError> {
    let sig = req.headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if verify(secret.expose_secret().as_bytes(), req.body, sig) {
        Ok(())
    } else {
        Err(HookError::Unauthorized(format!("missing or invalid {SIGNATURE_HEADER}")))
    }
}

/// Parses a JSON body: not JSON at all is malformed (400), the wrong shape is invalid (422).
pub(crate) fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, HookError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => HookError::Invalid(e.to_string()),
        _ => HookError::Malformed(format!("malformed JSON: {e}")),
    })
}

/// Our message id as a gateway echoes it back: a string (as we sent it) or a number.
pub(crate) fn our_id(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[derive(Deserialize)]
struct InboundSms {
    from: String,
    text: String,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct InboundReceipt {
    id: serde_json::Value,
    status: String,
    #[serde(default)]
    error: Option<String>,
}

/// The SPEC's generic inbound hooks, authenticated with the channel's secret.
pub(crate) fn parse_generic_sms_hook(secret: &SecretString, req: &HookRequest<'_>) -> Result<ParsedHook, HookError> {
    authenticate(secret, req)?;
    let event = match req.kind {
        HookKind::Reply => {
            let sms: InboundSms = parse_json(req.body)?;
            if sms.text.chars().count() > MAX_REPLY_CHARS {
                return Err(HookError::Invalid(format!("text is longer than {MAX_REPLY_CHARS} characters")));
            }
            HookEvent::Reply { from: sms.from, text: sms.text, dedupe: sms.id.filter(|i| !i.is_empty()) }
        }
        HookKind::Status => {
            let r: InboundReceipt = parse_json(req.body)?;
            let id = our_id(&r.id).ok_or_else(|| HookError::Invalid("id must be the message id we sent".into()))?;
            let delivered = match r.status.as_str() {
                "delivered" => true,
                "failed" => false,
                other => return Err(HookError::Invalid(format!("status {other:?} is not delivered or failed"))),
            };
            HookEvent::Receipt { message: MessageRef::Ours(id), delivered, error: r.error }
        }
        HookKind::Voice | HookKind::VoiceStatus => {
            return Err(HookError::Unauthorized("an SMS channel takes no voice callbacks".into()))
        }
    };
    Ok(ParsedHook { events: vec![event], ack: None })
}

/// 429 and 5xx say "later"; 408 is the server timing us out, the same as our own timeout.
pub(crate) fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
}

/// Reads at most `limit` bytes of the body, so a hostile or broken gateway cannot make us buffer
/// an unbounded answer.
pub(crate) async fn read_capped(resp: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match resp.chunk().await? {
            Some(chunk) => {
                let room = limit - buf.len();
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            None => break,
        }
    }
    Ok(buf)
}

/// The `id` of a JSON acknowledgement, as a string whether the gateway sent a string or a number.
pub(crate) fn provider_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get("id")? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// At most `limit` bytes of `text`, cut on a character boundary, on one line.
pub(crate) fn excerpt(text: &str, limit: usize) -> String {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// Why a request got no HTTP answer, naming the gateway's host only (paths carry tokens).
fn describe_request_error(target: &str, e: &reqwest::Error) -> String {
    crate::http::describe_request_error(&format!("SMS webhook {target}"), e)
}
