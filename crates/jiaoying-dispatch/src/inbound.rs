//! The inbound half of a channel: what a gateway's callback (a reply, a delivery receipt, a key
//! pressed on a voice call) means, in one provider-neutral form. Each channel kind authenticates
//! and parses its provider's own payload; the web layer routes by channel name and acts on the
//! events, so that no provider format leaks past its adapter.

use std::net::IpAddr;

use reqwest::header::HeaderMap;

/// Which hook path the request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// `POST /hooks/sms/{channel}`: replies from persons (上行).
    Reply,
    /// `POST /hooks/sms/{channel}/status`: delivery receipts.
    Status,
    /// `POST /hooks/voice/{channel}`: a key pressed on a call.
    Voice,
    /// `POST /hooks/voice/{channel}/status`: a voice call's progress (answered, no-answer, ...).
    VoiceStatus,
}

/// One inbound HTTP request, as the adapter needs it to authenticate and parse.
#[derive(Debug, Clone, Copy)]
pub struct HookRequest<'a> {
    pub kind: HookKind,
    /// The URL the gateway called, as it called it: `server.public_url` joined with the path and
    /// query as received (Twilio signs over it).
    pub url: &'a str,
    /// The query string as received, without `?` (may be empty).
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The peer address, for allow-lists.
    pub remote: Option<IpAddr>,
}

/// Which of our messages a receipt or key press is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// Our message id (Aliyun `out_id`, the generic hooks, our own callback URLs).
    Ours(i64),
    /// The provider's id as returned when we sent (Tencent `sid`, Twilio `MessageSid`).
    Provider(String),
}

/// What a callback says, provider-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookEvent {
    /// A text a person sent us. `dedupe` is the provider's unique id for it, when it has one
    /// (Aliyun `sequence_id`, Twilio `MessageSid`); otherwise the adapter builds one from fields
    /// that identify a retry (Tencent: mobile + time + text).
    Reply { from: String, text: String, dedupe: Option<String> },
    /// A delivery receipt.
    Receipt { message: MessageRef, delivered: bool, error: Option<String> },
    /// Keys pressed on a voice call we placed for `message`.
    Keypress { message: MessageRef, digits: String },
    /// A voice call ended without anyone pressing a key: busy, no-answer, voicemail, failed.
    /// Never an answer; recorded as a failed delivery of that message.
    VoiceUnanswered { message: MessageRef, status: String },
}

/// The exact response a provider expects back (Aliyun `{"code":0,"msg":"接收成功"}`, Tencent
/// `{"result":0,"errmsg":"OK"}`, TwiML for Twilio, JSON for the generic hooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookAck {
    pub content_type: &'static str,
    pub body: String,
}

impl HookAck {
    pub fn json(body: impl Into<String>) -> Self {
        HookAck { content_type: "application/json", body: body.into() }
    }
    pub fn xml(body: impl Into<String>) -> Self {
        HookAck { content_type: "text/xml; charset=utf-8", body: body.into() }
    }
}

#[derive(Debug, Clone)]
pub struct ParsedHook {
    pub events: Vec<HookEvent>,
    /// `None`: the web layer answers with its own JSON summary of what it did (generic hooks).
    pub ack: Option<HookAck>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// Bad or missing signature or path token, address not allowed, or a channel that takes no
    /// callbacks of this kind: 401, the same answer for all so a prober learns nothing.
    #[error("not authenticated: {0}")]
    Unauthorized(String),
    /// The body is not the provider's format at all (400).
    #[error("malformed: {0}")]
    Malformed(String),
    /// Well-formed but not acceptable (422).
    #[error("invalid: {0}")]
    Invalid(String),
}
