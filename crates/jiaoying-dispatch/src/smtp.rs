//! The SMTP channel: sends each message as a plain-text + HTML e-mail through one pooled
//! connection to a relay, with a Message-ID we choose so that replies and bounces can be matched.

use jiaoying_core::message::escape_html;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::channel::{AddressKind, Channel, Outgoing, SendError, SmtpTls};

/// Default SMTP command timeout when `timeout_secs` is not set. lettre's own default is 60 s, too
/// long for a warning that should fall back to another channel quickly.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The port each transport security mode uses when the config names none.
pub fn default_port(tls: SmtpTls) -> u16 {
    match tls {
        SmtpTls::None => 25,
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
    }
}

/// Everything an [`SmtpChannel`] needs, already parsed.
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub from: Mailbox,
    /// Sent only when both are configured.
    pub credentials: Option<(String, SecretString)>,
    pub timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of `from`, for our Message-IDs: ids under our own domain cannot collide with
    /// anyone else's.
    domain: String,
    /// `host:port`, for error texts.
    server: String,
    timeout: Duration,
    /// Kept only to scrub it from error texts, should a server ever echo it.
    password: Option<SecretString>,
}

impl fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpChannel {
    /// Builds the transport; no connection is made until the first send, so a relay that is down
    /// at startup delays mail instead of stopping the service.
    pub fn new(settings: SmtpSettings) -> Result<Self, String> {
        let SmtpSettings { host, port, tls, from, credentials, timeout } = settings;
        let builder = match tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str()),
            // Required STARTTLS: lettre refuses to continue in clear rather than downgrade.
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .map_err(|e| format!("cannot set up STARTTLS for {host}: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)
                .map_err(|e| format!("cannot set up TLS for {host}: {e}"))?,
        };
        let mut builder = builder.port(port).timeout(Some(timeout)).pool_config(PoolConfig::new());
        let mut password = None;
        if let Some((user, pass)) = credentials {
            builder = builder.credentials(Credentials::new(user, pass.expose_secret().to_string()));
            password = Some(pass);
        }
        let domain = from.email.domain().to_string();
        Ok(SmtpChannel {
            transport: builder.build(),
            from,
            domain,
            server: format!("{host}:{port}"),
            timeout,
            password,
        })
    }

    /// The Message-ID of our message `id`: ours, so that a reply's In-Reply-To names the message.
    pub fn message_id(&self, id: i64) -> String {
        format!("<jiaoying-{id}@{}>", self.domain)
    }

    fn build_message(&self, msg: &Outgoing<'_>, message_id: &str) -> Result<Message, SendError> {
        let to: Mailbox =
            msg.to.parse().map_err(|e| SendError::Permanent(format!("invalid e-mail address {:?}: {e}", msg.to)))?;
        let html = html_body(msg.text, msg.link);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(msg.subject)
            .message_id(Some(message_id.to_string()))
            .header(AutoSubmitted)
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(msg.text.to_string()))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html)),
            )
            .map_err(|e| SendError::Permanent(format!("cannot build the e-mail: {e}")))
    }

    /// Turns a lettre error into retry-or-not plus a sentence an operator can act on.
    fn classify(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let server = &self.server;
        let detail = self.scrub(e.to_string());
        if e.is_permanent() {
            return SendError::Permanent(format!("SMTP server {server} rejected the message: {detail}"));
        }
        if e.is_transient() {
            return SendError::Transient(format!("SMTP server {server} deferred the message: {detail}"));
        }
        if e.is_timeout() {
            return SendError::Transient(format!(
                "SMTP server {server} did not answer within {} s",
                self.timeout.as_secs()
            ));
        }
        if let Some(io) = io_cause(e) {
            use std::io::ErrorKind::*;
            let text = match io.kind() {
                ConnectionRefused => format!("SMTP server {server} refused the connection"),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    format!("SMTP server {server} closed the connection: {io}")
                }
                TimedOut => format!("SMTP server {server} did not answer in time"),
                _ => format!("cannot reach SMTP server {server}: {io}"),
            };
            return SendError::Transient(text);
        }
        if e.is_tls() {
            // Usually a certificate or protocol mismatch the operator must fix, but also what a
            // flaky middlebox looks like; retrying is harmless and keeps the message queued.
            return SendError::Transient(format!("TLS with SMTP server {server} failed: {detail}"));
        }
        if e.is_client() {
            // Our side cannot proceed (for example no authentication mechanism in common with
            // the server): retrying will not change it.
            return SendError::Permanent(format!("cannot talk to SMTP server {server}: {detail}"));
        }
        SendError::Transient(format!("SMTP server {server}: {detail}"))
    }

    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(p) if !p.expose_secret().is_empty() && text.contains(p.expose_secret()) => {
                text.replace(p.expose_secret(), "[REDACTED]")
            }
            _ => text,
        }
    }
}

#[async_trait]
impl Channel for SmtpChannel {
    fn kind(&self) -> &'static str {
        "smtp"
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Email
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<crate::channel::Sent, SendError> {
        let message_id = self.message_id(msg.id);
        let email = self.build_message(msg, &message_id)?;
        self.transport.send(email).await.map_err(|e| self.classify(&e))?;
        Ok(crate::channel::Sent { provider_id: Some(message_id) })
    }
}

/// The innermost I/O error under a lettre error, which says what actually went wrong on the wire.
fn io_cause(e: &lettre::transport::smtp::Error) -> Option<&std::io::Error> {
    let mut found = None;
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            found = Some(io);
        }
        source = err.source();
    }
    found
}

/// The HTML alternative: the same text, escaped, with the answer link clickable. The link sits
/// inside the text already (SPEC), so it is turned into an anchor where it stands, or appended
/// when the text does not contain it.
pub fn html_body(text: &str, link: Option<&str>) -> String {
    let mut body = escape_html(text);
    // Only web links become anchors: a `javascript:` href from a bad config must stay inert.
    if let Some(link) = link.filter(|l| l.starts_with("https://") || l.starts_with("http://")) {
        let escaped = escape_html(link);
        let anchor = format!("<a href=\"{escaped}\">{escaped}</a>");
        if body.contains(&escaped) {
            body = body.replace(&escaped, &anchor);
        } else {
            body.push_str("\n\n");
            body.push_str(&anchor);
        }
    }
    let body = body.replace("\r\n", "\n").replace('\n', "<br>\n");
    format!("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body><p>{body}</p></body></html>\n")
}

/// `Auto-Submitted: auto-generated` (RFC 3834): tells mail servers and vacation responders this
/// mail was sent by a program, so they do not answer it automatically.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}
