//! The channel port: one way of getting a message to a person (SMS gateway, e-mail, console).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: timeouts, connection errors, 429 and 5xx, SMTP 4xx.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help: bad address, rejected credentials, 4xx.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The config `kind` this channel implements.
    fn kind(&self) -> &'static str;
    fn address_kind(&self) -> AddressKind;
    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError>;
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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel {name}: {reason}")]
pub struct ChannelConfigError {
    pub name: String,
    pub reason: String,
}

/// The configured channels by name.
#[derive(Clone, Default)]
pub struct Channels(BTreeMap<String, Arc<dyn Channel>>);

impl Channels {
    pub fn new(map: BTreeMap<String, Arc<dyn Channel>>) -> Self {
        Channels(map)
    }
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.0.get(name)
    }
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
}
