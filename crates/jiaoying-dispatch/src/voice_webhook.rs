//! The generic voice webhook: asks a voice gateway we do not otherwise know to call a person and
//! read the warning, as signed JSON, and authenticates the key presses and call outcomes it posts
//! back. The same `X-Jiaoying-Signature` scheme as the generic SMS webhook, both ways.
//!
//! Out: `POST <url>` with `{"id", "to", "text", "code", "link", "callback", "language"}`.
//! Back: `POST {callback}` with `{"call_id", "digits"}` when a key is pressed, and
//! `POST {callback}/status` with `{"call_id", "status"}` when the call ends, where `call_id` is the
//! `id` we sent, echoed (as a string or a number), since the gateway's own call ids mean nothing
//! to us.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{redirect, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use crate::build::{missing, parse_http_url, required, timeout, BuildContext};
use crate::channel::{AddressKind, Channel, ChannelConfigError, ChannelSpec, Outgoing, SendError, Sent};
use crate::http::describe_request_error;
use crate::inbound::{HookError, HookEvent, HookKind, HookRequest, MessageRef, ParsedHook};
use crate::sms_webhook::{excerpt, is_transient_status, provider_id, read_capped, sign, verify, SIGNATURE_HEADER};

/// Default request timeout when `timeout_secs` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The language the call speaks in when `language` is not set.
pub const DEFAULT_LANGUAGE: &str = "zh-CN";

/// How much of an error response we quote.
const ERROR_BODY_EXCERPT: usize = 200;

/// How much of a 2xx body we read looking for the gateway's id.
const ACK_BODY_LIMIT: usize = 64 * 1024;

/// Longest key sequence or status word we accept; anything longer is not a key press.
const FIELD_LIMIT: usize = 64;

/// The JSON body of one call request.
#[derive(Serialize)]
struct Payload<'a> {
    /// A string, so that gateways in languages without 64-bit integers keep it exact; the
    /// gateway echoes it back as `call_id`.
    id: String,
    to: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
    callback: &'a str,
    language: &'a str,
}

pub struct VoiceWebhookChannel {
    client: reqwest::Client,
    url: Url,
    secret: SecretString,
    /// `{server.public_url}/hooks/voice/{name}`.
    callback: String,
    language: String,
}

impl fmt::Debug for VoiceWebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoiceWebhookChannel")
            .field("url", &self.url.as_str())
            .field("secret", &"[REDACTED]")
            .field("callback", &self.callback)
            .field("language", &self.language)
            .finish()
    }
}

/// Builds a `voice-webhook` channel.
pub fn build(name: &str, spec: &ChannelSpec, ctx: &BuildContext) -> Result<Arc<dyn Channel>, ChannelConfigError> {
    Ok(Arc::new(VoiceWebhookChannel::from_spec(name, spec, ctx)?))
}

impl VoiceWebhookChannel {
    /// The channel of one `[channels.NAME]` table of kind `voice-webhook`.
    pub fn from_spec(name: &str, spec: &ChannelSpec, ctx: &BuildContext) -> Result<Self, ChannelConfigError> {
        let err = |reason: String| ChannelConfigError { name: name.to_string(), reason };
        let url = required(spec.url.as_deref(), "voice-webhook", "url").map_err(err)?;
        let url = parse_http_url(url).map_err(err)?;
        let secret = spec
            .secret
            .as_ref()
            .filter(|s| !s.expose_secret().is_empty())
            .ok_or_else(|| err(missing("voice-webhook", "secret")))?;
        let timeout = timeout(spec, DEFAULT_TIMEOUT).map_err(err)?;
        let mut callback = parse_http_url(ctx.public_url.trim())
            .map_err(|e| err(format!("server.public_url is needed for the voice callbacks: {e}")))?;
        callback
            .path_segments_mut()
            .map_err(|()| err("server.public_url cannot take a path".to_string()))?
            .pop_if_empty()
            .extend(["hooks", "voice", name]);
        let language = spec.language.as_deref().map(str::trim).filter(|l| !l.is_empty()).unwrap_or(DEFAULT_LANGUAGE);
        // One client per channel; redirects are not followed, so the signed body only ever goes to
        // the configured host.
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("jiaoying/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| err(format!("cannot set up the HTTP client: {e}")))?;
        Ok(VoiceWebhookChannel {
            client,
            url,
            secret: secret.clone(),
            callback: callback.into(),
            language: language.to_string(),
        })
    }
}

impl VoiceWebhookChannel {
    /// `host:port` of the gateway, for error texts; not the full URL, which may carry a token.
    fn target(&self) -> String {
        format!("voice webhook {}", crate::http::host_port(&self.url))
    }

    fn scrub(&self, text: String) -> String {
        crate::http::scrub_secret(text, self.secret.expose_secret())
    }
}

#[async_trait]
impl Channel for VoiceWebhookChannel {
    fn kind(&self) -> &'static str {
        "voice-webhook"
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
            callback: &self.callback,
            language: &self.language,
        })
        .map_err(|e| SendError::Permanent(format!("encoding the voice webhook body: {e}")))?;
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
            // The gateway has taken the call: a failure to read its answer must not make us call twice.
            let body = read_capped(&mut resp, ACK_BODY_LIMIT).await.unwrap_or_default();
            return Ok(Sent { provider_id: provider_id(&body) });
        }
        // Read a secret's length beyond the cap and scrub before cutting, so that a secret
        // straddling the cut cannot leak as a prefix.
        let body =
            read_capped(&mut resp, ERROR_BODY_EXCERPT + self.secret.expose_secret().len()).await.unwrap_or_default();
        let excerpt = excerpt(&self.scrub(String::from_utf8_lossy(&body).into_owned()), ERROR_BODY_EXCERPT);
        let mut text = format!("{} answered {status}", self.target());
        if status.is_redirection() {
            text.push_str(" (redirect not followed)");
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
        if matches!(req.kind, HookKind::Reply | HookKind::Status) {
            return Err(HookError::Unauthorized("channel kind voice-webhook takes no SMS callbacks".to_string()));
        }
        // Authenticate the raw body before parsing any of it.
        let header = req
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| HookError::Unauthorized(format!("{SIGNATURE_HEADER} is missing")))?;
        if !verify(self.secret.expose_secret().as_bytes(), req.body, header) {
            return Err(HookError::Unauthorized(format!("{SIGNATURE_HEADER} does not match")));
        }
        let value: Value =
            serde_json::from_slice(req.body).map_err(|e| HookError::Malformed(format!("not JSON: {e}")))?;
        let obj = value.as_object().ok_or_else(|| HookError::Malformed("not a JSON object".to_string()))?;
        let message = MessageRef::Ours(call_id(obj.get("call_id"))?);
        let events = if req.kind == HookKind::Voice {
            vec![HookEvent::Keypress { message, digits: digits(obj.get("digits"))? }]
        } else {
            let status = status(obj.get("status"))?;
            // Only a person who picked up heard the warning; and even then the key press, not
            // the pickup, answers the call. Everything else is a failed delivery.
            if status == "answered" {
                Vec::new()
            } else {
                vec![HookEvent::VoiceUnanswered { message, status }]
            }
        };
        Ok(ParsedHook { events, ack: None })
    }
}

/// Our message id as the gateway echoes it: the string we sent, or the same as a JSON number.
fn call_id(value: Option<&Value>) -> Result<i64, HookError> {
    let id = match value {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    id.ok_or_else(|| HookError::Invalid("call_id must be the id we sent with the call".to_string()))
}

/// The keys pressed: 0-9, `*` and `#`. A number is taken as its digits (gateways that send `1`).
fn digits(value: Option<&Value>) -> Result<String, HookError> {
    let digits = match value {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => String::new(),
    };
    let ok = !digits.is_empty()
        && digits.len() <= FIELD_LIMIT
        && digits.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#');
    if ok {
        Ok(digits)
    } else {
        Err(HookError::Invalid("digits must be the keys pressed (0-9, * and #)".to_string()))
    }
}

/// The call's outcome: answered, no-answer, busy, failed, voicemail (others are kept as sent).
fn status(value: Option<&Value>) -> Result<String, HookError> {
    let status = value.and_then(Value::as_str).map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
    let ok = !status.is_empty()
        && status.len() <= FIELD_LIMIT
        && status.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(status)
    } else {
        Err(HookError::Invalid("status must be one of answered, no-answer, busy, failed, voicemail".to_string()))
    }
}
