//! Turns the `[channels.*]` tables of the config into ready channels, refusing a config that
//! names a key the kind needs but lacks, so that mistakes surface at startup, not at the first alert.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use reqwest::Url;
use secrecy::ExposeSecret;

use crate::channel::{Channel, ChannelConfigError, ChannelLimits, ChannelSpec, Channels};
use crate::console::ConsoleChannel;
use crate::sms_webhook::{self, SmsWebhookChannel};
use crate::smtp::{self, SmtpChannel, SmtpSettings};

/// The kinds this build can send through.
pub const KNOWN_KINDS: &[&str] = &[
    "console",
    "sms-webhook",
    "smtp",
    "aliyun-sms",
    "tencent-sms",
    "twilio-sms",
    "voice-webhook",
    "twilio-voice",
    "wecom",
    "dingtalk",
    "feishu",
];

/// What channels need to know about the service around them.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// `server.public_url`: the base of callback URLs we hand to providers (Twilio's
    /// StatusCallback and `<Gather action>`).
    pub public_url: String,
}

impl Default for BuildContext {
    fn default() -> Self {
        BuildContext { public_url: "http://127.0.0.1:8080".to_string() }
    }
}

/// Builds one channel from its config table, with the default context.
pub fn build_channel(name: &str, spec: &ChannelSpec) -> Result<Arc<dyn Channel>, ChannelConfigError> {
    build_channel_with(name, spec, &BuildContext::default())
}

/// Builds one channel from its config table.
pub fn build_channel_with(
    name: &str,
    spec: &ChannelSpec,
    ctx: &BuildContext,
) -> Result<Arc<dyn Channel>, ChannelConfigError> {
    let err = |reason: String| ChannelConfigError { name: name.to_string(), reason };
    match spec.kind.as_str() {
        "aliyun-sms" => crate::aliyun::build(name, spec, ctx),
        "tencent-sms" => crate::tencent::build(name, spec, ctx),
        "twilio-sms" | "twilio-voice" => crate::twilio::build(name, spec, ctx),
        "voice-webhook" => crate::voice_webhook::build(name, spec, ctx),
        "wecom" | "dingtalk" | "feishu" => crate::robots::build(name, spec, ctx),
        "console" => Ok(Arc::new(ConsoleChannel::new(spec.path.as_deref().filter(|p| !p.trim().is_empty())))),
        "sms-webhook" => {
            let url = required(spec.url.as_deref(), "sms-webhook", "url").map_err(err)?;
            let url = parse_http_url(url).map_err(err)?;
            let secret = spec
                .secret
                .as_ref()
                .filter(|s| !s.expose_secret().is_empty())
                .ok_or_else(|| err(missing("sms-webhook", "secret")))?;
            let timeout = timeout(spec, sms_webhook::DEFAULT_TIMEOUT).map_err(err)?;
            let channel = SmsWebhookChannel::new(url, secret.clone(), timeout)
                .map_err(|e| err(format!("cannot set up the HTTP client: {e}")))?;
            Ok(Arc::new(channel))
        }
        "smtp" => {
            let host = required(spec.host.as_deref(), "smtp", "host").map_err(err)?;
            let from = required(spec.from.as_deref(), "smtp", "from").map_err(err)?;
            let from: Mailbox = from
                .parse()
                .map_err(|e| err(format!("from = {from:?} is not a mailbox like \"Name <user@example.org>\": {e}")))?;
            let port = match spec.port {
                Some(0) => return Err(err("port must be between 1 and 65535".to_string())),
                Some(p) => p,
                None => smtp::default_port(spec.tls),
            };
            // An empty value counts as absent: env overrides can only blank a key, not remove it.
            let username = spec.username.as_deref().filter(|u| !u.is_empty());
            let password = spec.password.as_ref().filter(|p| !p.expose_secret().is_empty());
            let credentials = match (username, password) {
                (Some(u), Some(p)) => Some((u.to_string(), p.clone())),
                (Some(_), None) => return Err(err("username is set but password is missing".to_string())),
                (None, Some(_)) => return Err(err("password is set but username is missing".to_string())),
                (None, None) => None,
            };
            let settings = SmtpSettings {
                host: host.to_string(),
                port,
                tls: spec.tls,
                from,
                credentials,
                timeout: timeout(spec, smtp::DEFAULT_TIMEOUT).map_err(err)?,
            };
            Ok(Arc::new(SmtpChannel::new(settings).map_err(err)?))
        }
        kind => Err(err(format!("unknown kind {kind:?}; known kinds: {}", KNOWN_KINDS.join(", ")))),
    }
}

/// Builds every configured channel with the default context.
pub fn build_channels(specs: &BTreeMap<String, ChannelSpec>) -> Result<Channels, Vec<ChannelConfigError>> {
    build_channels_with(specs, &BuildContext::default())
}

/// Builds every configured channel, reporting all bad ones at once rather than the first.
pub fn build_channels_with(
    specs: &BTreeMap<String, ChannelSpec>,
    ctx: &BuildContext,
) -> Result<Channels, Vec<ChannelConfigError>> {
    let mut built = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, spec) in specs {
        match build_channel_with(name, spec, ctx).and_then(|c| Ok((c, limits(name, spec)?))) {
            Ok((channel, limits)) => {
                built.insert(name.clone(), (channel, limits));
            }
            Err(e) => errors.push(e),
        }
    }
    // A fallback must name another configured channel that reaches people the same way.
    for (name, (channel, limits)) in &built {
        for fb in &limits.fallback {
            let reason = match built.get(fb) {
                _ if fb == name => Some("a channel cannot be its own fallback".to_string()),
                None if specs.contains_key(fb) => None, // already reported as broken
                None => Some(format!("fallback {fb:?} is not a configured channel")),
                Some((other, _)) if other.address_kind() != channel.address_kind() => {
                    Some(format!("fallback {fb:?} needs a different kind of address ({})", other.kind()))
                }
                Some(_) => None,
            };
            if let Some(reason) = reason {
                errors.push(ChannelConfigError { name: name.clone(), reason });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut channels = Channels::new(built.iter().map(|(n, (c, _))| (n.clone(), c.clone())).collect());
    for (name, (_, limits)) in built {
        channels = channels.with_limits(&name, limits);
    }
    Ok(channels)
}

/// The outbox's limits for one channel: its own settings, else the provider's published limits
/// (group robots), else none.
fn limits(name: &str, spec: &ChannelSpec) -> Result<ChannelLimits, ChannelConfigError> {
    let err = |reason: String| ChannelConfigError { name: name.to_string(), reason };
    let rate_per_sec = match spec.rate_per_sec {
        Some(r) if !(r.is_finite() && r > 0.0) => return Err(err("rate_per_sec must be a number above 0".into())),
        Some(r) => Some(r),
        None => crate::robots::default_rate_per_sec(&spec.kind),
    };
    let concurrency = match spec.concurrency {
        Some(0) => return Err(err("concurrency must be at least 1".into())),
        Some(c) => c,
        None => crate::channel::DEFAULT_CONCURRENCY,
    };
    let request_timeout = timeout(spec, crate::channel::DEFAULT_REQUEST_TIMEOUT).map_err(err)?;
    Ok(ChannelLimits { rate_per_sec, concurrency, request_timeout, fallback: spec.fallback.clone() })
}

pub(crate) fn missing(kind: &str, key: &str) -> String {
    format!("kind {kind} needs `{key}`, which is missing")
}

pub(crate) fn required<'a>(value: Option<&'a str>, kind: &str, key: &str) -> Result<&'a str, String> {
    value.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| missing(kind, key))
}

pub(crate) fn parse_http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("url {raw:?} is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("url {raw:?} must be an http:// or https:// URL with a host"));
    }
    Ok(url)
}

pub(crate) fn timeout(spec: &ChannelSpec, default: Duration) -> Result<Duration, String> {
    match spec.timeout_secs {
        None => Ok(default),
        Some(0) => Err("timeout_secs must be at least 1".to_string()),
        Some(s) => Ok(Duration::from_secs(s)),
    }
}
