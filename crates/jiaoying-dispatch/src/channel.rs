//! The channel port: one way of getting a message to a person (SMS gateway, e-mail, console).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;

use crate::inbound::{HookError, HookRequest, ParsedHook};

/// One message as a channel sends it.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// Our message id: passed to the provider wherever it takes one (idempotency, receipts).
    pub id: i64,
    pub to: &'a str,
    /// E-mail subject; SMS channels ignore it.
    pub subject: &'a str,
    pub text: &'a str,
    /// The call's reply code and answer link, when the message asks for an answer.
    pub code: Option<&'a str>,
    pub link: Option<&'a str>,
}

/// What a channel needs as the recipient's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Mobile,
    Email,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for the message, if it returned one.
    pub provider_id: Option<String>,
}

/// How an adapter starts a transient error's text when the provider refused the message because
/// of its per-number frequency limit (Aliyun BUSINESS_LIMIT_CONTROL, Tencent
/// LimitExceeded.PhoneNumber*): waiting would delay the repeat, so the outbox switches channel.
pub const NUMBER_RATE_LIMITED: &str = "rate-limited by provider for this number:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: timeouts, connection errors, 429 and 5xx, SMTP 4xx.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help: bad address, rejected credentials, 4xx.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl SendError {
    /// The provider's per-number frequency limit (see [`NUMBER_RATE_LIMITED`]).
    pub fn is_number_rate_limited(&self) -> bool {
        matches!(self, SendError::Transient(t) if t.starts_with(NUMBER_RATE_LIMITED))
    }
}

/// What a provider says about a message we may or may not have sent (after a crash mid-send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The provider cannot be asked, or does not know: send again (at-least-once).
    Unknown,
    /// The provider has it: record it as sent, do not send again.
    Sent(Sent),
}

#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The config `kind` this channel implements.
    fn kind(&self) -> &'static str;
    fn address_kind(&self) -> AddressKind;
    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError>;

    /// How many messages one provider request may carry (Aliyun SendBatchSms: 100). The outbox
    /// hands `send_batch` at most this many.
    fn max_batch(&self) -> usize {
        1
    }

    /// Sends several messages, one result per message in the same order. Providers with a batch
    /// API override this; a 200 that holds per-number failures becomes per-message errors.
    async fn send_batch(&self, msgs: &[Outgoing<'_>]) -> Vec<Result<Sent, SendError>> {
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            out.push(self.send(m).await);
        }
        out
    }

    /// Asks the provider whether a message we were sending when we crashed went out, by our id
    /// where the provider keeps it. The default cannot ask.
    async fn lookup(&self, _msg: &Outgoing<'_>) -> Lookup {
        Lookup::Unknown
    }

    /// Authenticates and parses a callback for this channel. The default takes none (401).
    fn parse_hook(&self, _req: &HookRequest<'_>) -> Result<ParsedHook, HookError> {
        Err(HookError::Unauthorized(format!("channel kind {} takes no callbacks", self.kind())))
    }
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    #[default]
    None,
    Starttls,
    Tls,
}

/// One `[channels.NAME]` table. Which keys apply depends on `kind`; `build` checks them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    pub kind: String,
    /// sms-webhook: where to POST.
    #[serde(default)]
    pub url: Option<String>,
    /// sms-webhook: the HMAC key for outgoing bodies and inbound hooks.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// smtp
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    /// console: a file to append to instead of stdout.
    #[serde(default)]
    pub path: Option<String>,
    /// Request timeout in seconds for network channels (default 10).
    #[serde(default)]
    pub timeout_secs: Option<u64>,

    // ---- Limits the outbox applies to every kind. ----
    /// Requests per second to this gateway (default: unlimited; robots default to their limits).
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    /// Requests in flight at once (default 32).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Messages per provider request, where the provider has a batch API (default 1).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Channels to try, in order, when this one fails a message for good or its breaker is open.
    #[serde(default)]
    pub fallback: Vec<String>,

    // ---- Inbound protection for providers whose callbacks are unsigned (Aliyun, Tencent). ----
    /// A secret the callback URL must carry as `?token=...`.
    #[serde(default)]
    pub path_token: Option<SecretString>,
    /// Source addresses or CIDR blocks callbacks may come from (empty: any).
    #[serde(default)]
    pub allow_from: Vec<String>,

    // ---- Provider credentials and templates. ----
    /// aliyun-sms
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub access_key_secret: Option<SecretString>,
    /// aliyun-sms: "v3" (ACS3-HMAC-SHA256, default) or "v1" (HMAC-SHA1).
    #[serde(default)]
    pub signature_version: Option<String>,
    /// tencent-sms
    #[serde(default)]
    pub secret_id: Option<String>,
    #[serde(default)]
    pub secret_key: Option<SecretString>,
    #[serde(default)]
    pub sdk_app_id: Option<String>,
    /// aliyun-sms, tencent-sms: the provider region (cn-hangzhou, ap-guangzhou).
    #[serde(default)]
    pub region: Option<String>,
    /// aliyun-sms, tencent-sms: the approved signature text, e.g. 观音桥街道.
    #[serde(default)]
    pub sign_name: Option<String>,
    /// aliyun-sms: the approved template code (SMS_...).
    #[serde(default)]
    pub template_code: Option<String>,
    /// tencent-sms: the approved template id.
    #[serde(default)]
    pub template_id: Option<String>,
    /// aliyun-sms, tencent-sms: which of our values fill the template's variables, in order
    /// (Tencent {1}, {2}, ...) and by name (Aliyun ${code}): each one of code, token, link, text.
    #[serde(default)]
    pub template_params: Vec<String>,
    /// twilio-sms, twilio-voice
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub auth_token: Option<SecretString>,
    /// wecom, dingtalk: whom to @ in the group: "mobile" (the person, default), "all" or "none".
    #[serde(default)]
    pub mention: Option<String>,
    /// feishu: mobile number → Feishu user id (open_id), since Feishu @-mentions by id only.
    #[serde(default)]
    pub mentions: BTreeMap<String, String>,
    /// voice-webhook, twilio-voice: the language the call speaks in (default zh-CN).
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel {name}: {reason}")]
pub struct ChannelConfigError {
    pub name: String,
    pub reason: String,
}

/// What the outbox respects when sending through one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelLimits {
    /// Requests per second; `None` is unlimited.
    pub rate_per_sec: Option<f64>,
    /// Requests in flight at once. Also the most one instance can send twice after a crash: an
    /// outcome is recorded as soon as its request returns, so only requests in flight at the
    /// moment of a crash have an unknown outcome and are sent again (docs/reliability.md).
    pub concurrency: usize,
    /// The longest one request may take (the channel's `timeout_secs`). The outbox starts a send
    /// only while its claim outlives this, so a slow send never runs past its lease into another
    /// instance's re-send.
    pub request_timeout: Duration,
    /// Channels to send through instead, in order, when this one fails a message for good, the
    /// provider limits this number, or this channel's circuit breaker is open.
    pub fallback: Vec<String>,
}

/// In-flight requests per channel when the config does not say. A crash can repeat at most the
/// requests in flight and those returned but not yet committed: twice this, 24 messages per
/// channel and instance, under 1 % of a 3 000-person fan-out (ADR 0018). At a gateway's usual
/// 50–100 ms that is 120–240 messages a second per instance; raise it for faster fan-outs.
pub const DEFAULT_CONCURRENCY: usize = 12;

/// A request's timeout when the channel's config does not say (every adapter's default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ChannelLimits {
    fn default() -> Self {
        ChannelLimits {
            rate_per_sec: None,
            concurrency: DEFAULT_CONCURRENCY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            fallback: Vec::new(),
        }
    }
}

/// The configured channels by name, with their limits.
#[derive(Clone, Default)]
pub struct Channels {
    channels: BTreeMap<String, Arc<dyn Channel>>,
    limits: BTreeMap<String, ChannelLimits>,
}

impl Channels {
    /// Channels with the default limits.
    pub fn new(map: BTreeMap<String, Arc<dyn Channel>>) -> Self {
        Channels { channels: map, limits: BTreeMap::new() }
    }
    pub fn with_limits(mut self, name: &str, limits: ChannelLimits) -> Self {
        self.limits.insert(name.to_string(), limits);
        self
    }
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.channels.get(name)
    }
    pub fn limits(&self, name: &str) -> ChannelLimits {
        self.limits.get(name).cloned().unwrap_or_default()
    }
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.channels.keys()
    }
}
