//! Configuration in layers: built-in defaults, then the TOML file, then environment variables
//! `JIAOYING_<SECTION>__<KEY>` (last, so they win). Durations, tiers and channel kinds are
//! parsed here, at load; secrets are `SecretString`s whose `Debug` is redacted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use jiaoying_core::{Span, Tier, TierPolicy};
use jiaoying_dispatch::ChannelSpec;
use secrecy::SecretString;
use serde::Deserialize;

pub const DEFAULT_CONFIG: &str = "config/jiaoying.toml";
/// The placeholder secret of the sample config; running with it is warned about.
pub const PLACEHOLDER_SECRET: &str = "change-me";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The registry file loaded (upserted) at start when present.
    #[serde(default)]
    pub registry: Option<PathBuf>,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    #[serde(default)]
    pub sources: Vec<SourceSettings>,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelSpec>,
    #[serde(default)]
    pub policy: BTreeMap<Tier, TierPolicy>,
    #[serde(default)]
    pub directives: Vec<jiaoying_core::directive::DirectiveRule>,
    #[serde(default)]
    pub messages: MessageSettings,
    #[serde(default)]
    pub log: LogSettings,
    /// `[metrics]`: who may read `/metrics` (issue 8).
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub tracker: TrackerSettings,
    #[serde(default)]
    pub answers: AnswerSettings,
    #[serde(default)]
    pub outbox: OutboxSettings,
    /// Tier and event tables (provinces differ); the built-in ones when absent.
    #[serde(default)]
    pub normalise: jiaoying_ingest::Normaliser,
    /// Scheduled duties (issue 7): reachability tests, inspection reminders, daily summary.
    #[serde(default)]
    pub duties: crate::duty_settings::DutiesSettings,
    /// `[feeds_out]`: the Atom feed of our alerts as CAP 1.2, for neighbours (issue 8).
    #[serde(default)]
    pub feeds_out: jiaoying_linking::FeedsOutSpec,
    /// `[[subscribers]]`: signed webhooks of every state change (issue 8).
    #[serde(default)]
    pub subscribers: Vec<jiaoying_linking::SubscriberSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default = "default_public_url")]
    pub public_url: String,
    /// Largest request body in bytes.
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
    /// On SIGTERM: how long to finish requests and sends in flight before exiting anyway (what
    /// is left is returned to the queue for another instance).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Span,
    /// The longest an open event stream (the boards' live view) waits before reading the log
    /// again; on PostgreSQL every instance is also woken at once by NOTIFY.
    #[serde(default = "default_events_poll")]
    pub events_poll: Span,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_public_url() -> String {
    "http://127.0.0.1:8080".into()
}
fn default_body_limit() -> usize {
    1024 * 1024
}
fn default_shutdown_grace() -> Span {
    Span::from_secs(10)
}
fn default_events_poll() -> Span {
    Span::from_millis(250)
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: default_listen(),
            public_url: default_public_url(),
            body_limit: default_body_limit(),
            shutdown_grace: default_shutdown_grace(),
            events_poll: default_events_poll(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(default = "default_db_url")]
    pub url: String,
}

fn default_db_url() -> String {
    "sqlite://data/jiaoying.db".into()
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings { url: default_db_url() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Signs answer links.
    #[serde(default = "placeholder_secret")]
    pub secret: SecretString,
}

fn placeholder_secret() -> SecretString {
    SecretString::from(PLACEHOLDER_SECRET)
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings { secret: placeholder_secret() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub id: String,
    /// The bearer token; or give `token_sha256` (hex SHA-256 of the token) to keep it out of the file.
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// CAP senders this source may send as; empty means any.
    #[serde(default)]
    pub senders: Vec<String>,
    /// A feed to poll: `poll = { url = "...", schedule = "0 */2 * * * *" }`.
    #[serde(default)]
    pub poll: Option<PollSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSettings {
    pub url: String,
    /// Cron syntax with seconds (6 or 7 fields), read in China Standard Time.
    pub schedule: String,
    /// Raise a feed-silent warning when nothing parsable came for this long.
    #[serde(default = "default_silent_after")]
    pub silent_after: Span,
}

fn default_silent_after() -> Span {
    Span::from_mins(24 * 60)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSettings {
    /// The office name that opens every SMS (短信签名), e.g. 观音桥街道.
    #[serde(default = "default_signature")]
    pub signature: String,
    /// `zh` (default) or `en`: the language of every message.
    #[serde(default)]
    pub language: jiaoying_core::message::Language,
    /// A templates file (see `config/templates.toml`) over the built-in texts; none: built-in.
    #[serde(default)]
    pub templates: Option<PathBuf>,
    /// The most SMS segments a message may take (70 characters each for Chinese, 67 in a
    /// longer message); longer free texts are shortened, the code and link never.
    #[serde(default = "default_max_segments")]
    pub max_segments: usize,
}

fn default_signature() -> String {
    "叫应".into()
}
fn default_max_segments() -> usize {
    jiaoying_tracker::templates::DEFAULT_MAX_SEGMENTS
}

impl Default for MessageSettings {
    fn default() -> Self {
        MessageSettings {
            signature: default_signature(),
            language: Default::default(),
            templates: None,
            max_segments: default_max_segments(),
        }
    }
}

impl MessageSettings {
    /// The templates in use: compiled and checked, or the error naming file and line.
    pub fn load_templates(&self) -> Result<jiaoying_tracker::Templates, jiaoying_tracker::TemplateError> {
        jiaoying_tracker::Templates::load(self.templates.as_deref(), self.language, self.max_segments)
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.signature.trim().is_empty() {
            out.push("messages.signature must not be empty: carriers require a signature (短信签名)".into());
        }
        match self.load_templates() {
            Ok(_) => {}
            Err(e @ jiaoying_tracker::TemplateError::Budget(_)) => out.push(e.to_string()),
            Err(e) => out.push(format!("messages.templates: {e}")),
        }
        out
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (default) or `json` (one object per line, with the spans' `alert_id`, `call_id`,
    /// `message_id`).
    #[serde(default)]
    pub format: crate::telemetry::LogFormat,
    /// A tracing filter, e.g. `info,jiaoying=debug`. `RUST_LOG` wins when set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_log_level() -> String {
    "info".into()
}

/// `[metrics]`: `/metrics` is open unless `token` is set; then Prometheus must send
/// `Authorization: Bearer <token>` (set it where the listener is reachable from outside, or
/// through a reverse proxy). The series carry no person, number or secret either way.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    #[serde(default)]
    pub token: Option<SecretString>,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { format: Default::default(), level: default_log_level() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerSettings {
    /// An answer that arrives after escalation closes the calls the escalation opened and tells
    /// their persons (the superior need not chase any more).
    #[serde(default = "yes")]
    pub late_answer_closes_escalation: bool,
}

fn yes() -> bool {
    true
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings { late_answer_closes_escalation: true }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackerSettings {
    /// The longest the timer and outbox loops sleep without looking at the database.
    #[serde(default = "default_backstop")]
    pub poll_backstop: Span,
}

fn default_backstop() -> Span {
    Span::from_secs(2)
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings { poll_backstop: default_backstop() }
    }
}

/// `[outbox]`: how sending retries and protects itself. Per-channel limits live in each channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// How long a claimed message is ours before another instance may take it over (a sender
    /// that died mid-send is noticed after this long).
    #[serde(default = "default_lease")]
    pub lease: Span,
    /// Messages claimed per step and channel.
    #[serde(default = "default_outbox_batch")]
    pub batch: i64,
    /// Attempts before a transiently failing message is given up (and moved to the fallback).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
    /// Consecutive gateway failures that open a channel's circuit breaker.
    #[serde(default = "default_breaker_threshold")]
    pub breaker_threshold: u32,
    /// How long an open breaker keeps a channel out of use.
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown: Span,
}

fn default_lease() -> Span {
    Span::from_secs(30)
}
fn default_outbox_batch() -> i64 {
    256
}
fn default_max_attempts() -> i64 {
    8
}
fn default_breaker_threshold() -> u32 {
    5
}
fn default_breaker_cooldown() -> Span {
    Span::from_secs(30)
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            lease: default_lease(),
            batch: default_outbox_batch(),
            max_attempts: default_max_attempts(),
            breaker_threshold: default_breaker_threshold(),
            breaker_cooldown: default_breaker_cooldown(),
        }
    }
}

impl OutboxSettings {
    pub fn config(&self) -> jiaoying_dispatch::outbox::OutboxConfig {
        jiaoying_dispatch::outbox::OutboxConfig {
            lease: self.lease,
            batch: self.batch.max(1),
            max_attempts: self.max_attempts.max(1),
            breaker_threshold: self.breaker_threshold.max(1),
            breaker_cooldown: self.breaker_cooldown,
            ..jiaoying_dispatch::outbox::OutboxConfig::default()
        }
    }
}

/// The environment variables that are settings: `JIAOYING_<SECTION>__<KEY>` and the top-level
/// `JIAOYING_REGISTRY`. Others with the prefix (`JIAOYING_PASSWORD` for `user add`, the tests'
/// `JIAOYING_TEST_PG_URL`) are not settings and must not trip the unknown-key check.
fn setting_overrides(vars: impl Iterator<Item = (String, String)>) -> config::Map<String, String> {
    vars.filter(|(k, _)| {
        k.strip_prefix("JIAOYING_").is_some_and(|rest| rest.contains("__") || rest.eq_ignore_ascii_case("REGISTRY"))
    })
    .collect()
}

impl Settings {
    /// Loads `path` (which must exist when given explicitly) with environment overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        let (file, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        if required && !file.exists() {
            anyhow::bail!("config file {} does not exist", file.display());
        }
        let built = config::Config::builder()
            .add_source(config::File::from(file.clone()).format(config::FileFormat::Toml).required(required))
            .add_source(
                config::Environment::with_prefix("JIAOYING")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(setting_overrides(std::env::vars()))),
            )
            .build()
            .with_context(|| format!("reading config {}", file.display()))?;
        let settings: Settings =
            built.try_deserialize().with_context(|| format!("invalid config {}", file.display()))?;
        Ok(settings)
    }

    /// The policy of every tier: configured tables as given, the rest defaulted to all channels.
    pub fn policies(&self) -> jiaoying_core::Policies {
        let channels: Vec<String> = self.channels.keys().cloned().collect();
        jiaoying_core::Policies::new(self.policy.clone(), &channels)
    }

    /// Problems that make the config unusable, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match jiaoying_dispatch::build_channels(&self.channels) {
            Err(errors) => out.extend(errors.into_iter().map(|e| e.to_string())),
            Ok(channels) => {
                // A send starts only while its claim outlives the request's timeout.
                for name in channels.names() {
                    let timeout = channels.limits(name).request_timeout;
                    if self.outbox.lease.millis() <= i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX) {
                        out.push(format!(
                            "outbox.lease ({} s) must be longer than channels.{name} timeout_secs ({} s): \
                             a message is sent only while its claim outlasts the request",
                            self.outbox.lease.millis() / 1000,
                            timeout.as_secs()
                        ));
                    }
                }
            }
        }
        for (tier, p) in &self.policy {
            for ch in p.all_channels() {
                if !self.channels.contains_key(ch) {
                    out.push(format!("policy.{tier}: channel {ch:?} is not configured under [channels]"));
                }
            }
            out.extend(p.problems().into_iter().map(|m| format!("policy.{tier}: {m}")));
        }
        if self.channels.is_empty() {
            out.push("no [channels] configured: nobody could be called".into());
        }
        out.extend(self.messages.problems());
        let mut ids = std::collections::BTreeSet::new();
        for s in &self.sources {
            if !ids.insert(&s.id) {
                out.push(format!("sources: duplicate source id {:?}", s.id));
            }
            use secrecy::ExposeSecret;
            match (&s.token, &s.token_sha256) {
                (Some(t), None) if t.expose_secret().len() < 16 => {
                    out.push(format!("sources.{}: token must be at least 16 characters", s.id))
                }
                (Some(_), None) => {}
                (None, Some(h)) if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) => {
                    out.push(format!("sources.{}: token_sha256 must be 64 hex digits", s.id))
                }
                (None, Some(_)) => {}
                _ => out.push(format!("sources.{}: give exactly one of token and token_sha256", s.id)),
            }
        }
        if let Err(e) = self.feed_sources() {
            out.push(e.to_string());
        }
        if self.metrics.token.as_ref().is_some_and(|t| secrecy::ExposeSecret::expose_secret(t).len() < 16) {
            out.push("metrics.token must be at least 16 characters".into());
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            out.push(format!(
                "log.level: {:?} is not a tracing filter such as info,jiaoying=debug: {e}",
                self.log.level
            ));
        }
        out.extend(self.duties.problems(&self.channels.keys().cloned().collect::<Vec<_>>()));
        for s in self.sources.iter().filter(|s| s.id.starts_with(jiaoying_tracker::duties::DUTY_SOURCE_PREFIX)) {
            out.push(format!("sources.{}: ids starting with \"duty:\" are kept for scheduled duties", s.id));
        }
        if url::Url::parse(&self.server.public_url).is_err() {
            out.push(format!("server.public_url: {:?} is not a URL", self.server.public_url));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            out.push(format!("server.listen: {:?} is not an address such as 127.0.0.1:8080", self.server.listen));
        }
        if let Err(problems) = self.link_config() {
            out.extend(problems);
        }
        out
    }

    /// `[feeds_out]` and `[[subscribers]]`, checked (issue 8).
    pub fn link_config(&self) -> Result<jiaoying_linking::LinkConfig, Vec<String>> {
        jiaoying_linking::LinkConfig::from_specs(
            &self.feeds_out,
            &self.subscribers,
            &self.server.public_url,
            &self.messages.signature,
        )
    }

    /// `[duties]`, parsed: every duty sends on the red policy's channels unless it names its own.
    pub fn duties_config(&self) -> Result<jiaoying_tracker::duties::DutiesConfig, String> {
        let red = self.policies().for_tier(Tier::Red).channels.clone();
        self.duties.config(&self.server.public_url, &red)
    }

    /// The sources that poll a feed, parsed.
    pub fn feed_sources(&self) -> Result<Vec<jiaoying_feeds::FeedSource>, jiaoying_feeds::FeedError> {
        self.sources
            .iter()
            .filter_map(|s| s.poll.as_ref().map(|p| (s, p)))
            .map(|(s, p)| jiaoying_feeds::FeedSource::new(s.id.clone(), &p.url, &p.schedule, p.silent_after))
            .collect()
    }

    /// Things that work but should not stay so in production.
    pub fn warnings(&self) -> Vec<String> {
        use secrecy::ExposeSecret;
        let mut out = Vec::new();
        if self.security.secret.expose_secret() == PLACEHOLDER_SECRET {
            out.push("security.secret is the placeholder; set JIAOYING_SECURITY__SECRET to a long random value".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s: Settings = toml::from_str(
            r#"
            [security]
            secret = "super-secret-value"
            [[sources]]
            id = "cma"
            token = "another-secret-token"
            [channels.sms]
            kind = "sms-webhook"
            url = "http://127.0.0.1:9/"
            secret = "third-secret"
            "#,
        )
        .unwrap();
        let dbg = format!("{s:?}");
        for secret in ["super-secret-value", "another-secret-token", "third-secret"] {
            assert!(!dbg.contains(secret), "{secret} leaked in {dbg}");
        }
    }

    #[test]
    fn policy_channels_must_exist() {
        let s: Settings = toml::from_str(
            r#"
            [channels.console]
            kind = "console"
            [policy.red]
            roles = ["grid"]
            channels = ["sms"]
            answer_within = "5m"
            "#,
        )
        .unwrap();
        let p = s.problems();
        assert!(p.iter().any(|m| m.contains("policy.red") && m.contains("\"sms\"")), "{p:?}");
    }

    #[test]
    fn only_section_key_variables_are_settings() {
        let vars = [
            ("JIAOYING_DATABASE__URL", "x"),
            ("JIAOYING_REGISTRY", "r.toml"),
            ("JIAOYING_PASSWORD", "p"),
            ("JIAOYING_TEST_PG_URL", "y"),
            ("OTHER__KEY", "z"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let mut kept: Vec<String> = setting_overrides(vars).into_keys().collect();
        kept.sort();
        assert_eq!(kept, vec!["JIAOYING_DATABASE__URL", "JIAOYING_REGISTRY"]);
    }

    #[test]
    fn bad_durations_are_refused_at_load() {
        let r: Result<Settings, _> = toml::from_str(
            r#"
            [policy.red]
            roles = ["grid"]
            channels = []
            answer_within = "5 minutes"
            "#,
        );
        assert!(r.unwrap_err().to_string().contains("invalid duration"));
    }

    #[test]
    fn messages_choose_language_templates_and_segment_budget() {
        use jiaoying_core::message::Language;
        let s: Settings =
            toml::from_str("[messages]\nsignature = \"街道\"\nlanguage = \"en\"\nmax_segments = 3\n").unwrap();
        let t = s.messages.load_templates().unwrap();
        assert_eq!((t.language(), t.max_segments()), (Language::En, 3));
        let d = toml::from_str::<Settings>("").unwrap();
        assert_eq!((d.messages.language, d.messages.max_segments, d.messages.templates), (Language::Zh, 2, None));
        assert!(toml::from_str::<Settings>("[messages]\nlanguage = \"fr\"\n").is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("templates.toml");
        std::fs::write(&path, "[zh]\ncall = \"\"\"\n{{ code }} {{ link }}\n{% if headline %}\n\"\"\"\n").unwrap();
        let mut s = toml::from_str::<Settings>("").unwrap();
        s.messages.templates = Some(path.clone());
        let want = format!("messages.templates: {}:4: template zh.call: syntax error", path.display());
        assert!(s.problems().iter().any(|p| p.starts_with(&want)), "{:?}", s.problems());

        s.messages.templates = None;
        s.messages.max_segments = 0;
        assert!(
            s.problems().iter().any(|p| p.starts_with("messages.max_segments must be between 1")),
            "{:?}",
            s.problems()
        );
    }
}
