//! What the config file says about outgoing links (`[feeds_out]`, `[[subscribers]]`), and the
//! checked form the service runs with. Problems are reported all at once, each naming its key.

use jiaoying_core::Span;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::events::EventFilter;

/// `[feeds_out]`: the Atom feed of jiaoying's alerts and their CAP documents.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsOutSpec {
    /// `true`: anyone may read the feed. `false` (the default): a reader token or an API token.
    #[serde(default)]
    pub public: bool,
    /// CAP `<sender>` of this subdistrict; default `jiaoying@<host of server.public_url>`.
    #[serde(default)]
    pub sender: Option<String>,
    /// CAP `<senderName>`; default `messages.signature`.
    #[serde(default)]
    pub sender_name: Option<String>,
    /// Tokens that may read the feed and nothing else (neighbours' feed readers).
    #[serde(default)]
    pub readers: Vec<ReaderSpec>,
}

/// A feed reader: its name and its token, or the token's SHA-256 (hex) to keep it out of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderSpec {
    pub name: String,
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_sha256: Option<String>,
}

/// `[[subscribers]]`: a neighbour or platform that gets a signed POST for every event it wants.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberSpec {
    /// Unique; letters, digits, `-` and `_` (it names the subscriber in URLs and in the log).
    pub name: String,
    pub url: String,
    /// Signs every body: `X-Jiaoying-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
    pub secret: SecretString,
    /// Event names or patterns (`alert.*`, `*`); default [`crate::events::DEFAULT_EVENTS`].
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// How long one POST may take.
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// How long a delivery that keeps failing (network, 5xx, 408, 429) is retried.
    #[serde(default = "default_retry_for")]
    pub retry_for: Span,
}

fn default_timeout() -> Span {
    Span::from_secs(10)
}
fn default_retry_for() -> Span {
    Span::from_mins(24 * 60)
}

/// A checked subscriber. Its `Debug` shows the host, not the URL (paths and queries carry
/// tokens), and never the secret.
#[derive(Clone)]
pub struct Subscriber {
    pub name: String,
    pub url: Url,
    pub secret: SecretString,
    pub filter: EventFilter,
    pub timeout: Span,
    pub retry_for: Span,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("name", &self.name)
            .field("target", &self.target())
            .field("filter", &self.filter)
            .field("timeout", &self.timeout)
            .field("retry_for", &self.retry_for)
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// `host:port` of its URL, for pages and logs: never the full URL, whose path or query may
    /// carry a token.
    pub fn target(&self) -> String {
        let host = self.url.host_str().unwrap_or("?");
        match self.url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }
}

/// The checked feed settings.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub public: bool,
    pub sender: String,
    pub sender_name: String,
    /// `server.public_url` without a trailing slash: the base of the links in the feed.
    pub public_url: String,
    /// `(name, lower-case hex SHA-256 of the token)`.
    pub readers: Vec<(String, String)>,
}

/// Everything outgoing links run with.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub feed: FeedConfig,
    pub subscribers: Vec<Subscriber>,
}

impl LinkConfig {
    /// Checks the specs; `public_url` and `signature` (`messages.signature`) give the defaults.
    /// Every problem is returned, each naming its key.
    pub fn from_specs(
        feeds_out: &FeedsOutSpec,
        subscribers: &[SubscriberSpec],
        public_url: &str,
        signature: &str,
    ) -> Result<LinkConfig, Vec<String>> {
        let mut problems = Vec::new();
        let public_url = public_url.trim_end_matches('/').to_string();
        let sender = match &feeds_out.sender {
            Some(s) => s.trim().to_string(),
            None => {
                let host = Url::parse(&public_url).ok().and_then(|u| u.host_str().map(str::to_string));
                format!("jiaoying@{}", host.unwrap_or_else(|| "localhost".into()))
            }
        };
        // CAP 1.2 §3.2.1: no spaces, commas, '<' or '&' (they would break references).
        if sender.is_empty() || sender.chars().any(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&')) {
            problems
                .push(format!("feeds_out.sender: {sender:?} must be non-empty, without spaces, commas, '<' or '&'"));
        }
        let sender_name = feeds_out.sender_name.clone().unwrap_or_else(|| signature.to_string());
        let mut readers = Vec::new();
        for (i, r) in feeds_out.readers.iter().enumerate() {
            let key = format!("feeds_out.readers[{i}] ({})", r.name);
            match (&r.token, &r.token_sha256) {
                (Some(t), None) if t.expose_secret().len() < 16 => {
                    problems.push(format!("{key}: token must be at least 16 characters"))
                }
                (Some(t), None) => readers.push((r.name.clone(), token_sha256(t.expose_secret()))),
                (None, Some(h)) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
                    readers.push((r.name.clone(), h.to_ascii_lowercase()))
                }
                (None, Some(_)) => problems.push(format!("{key}: token_sha256 must be 64 hex digits")),
                _ => problems.push(format!("{key}: give exactly one of token and token_sha256")),
            }
        }
        let mut checked = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in subscribers.iter().enumerate() {
            let key = format!("subscribers[{i}] ({})", s.name);
            let mut ok = true;
            let mut bad = |m: String| {
                problems.push(format!("{key}: {m}"));
                ok = false;
            };
            if s.name.is_empty() || !s.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
                bad("name must be letters, digits, '-' or '_'".into());
            }
            if !names.insert(s.name.clone()) {
                bad("the name is used twice".into());
            }
            let url = match Url::parse(&s.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
                _ => {
                    bad("url must be an http(s) URL".into());
                    None
                }
            };
            if s.secret.expose_secret().len() < 16 {
                bad("secret must be at least 16 characters".into());
            }
            let filter = match &s.events {
                None => Some(EventFilter::default()),
                Some(patterns) => match EventFilter::parse(patterns) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        bad(format!("events: {e}"));
                        None
                    }
                },
            };
            if s.timeout.millis() <= 0 {
                bad("timeout must be more than 0".into());
            }
            if s.retry_for.millis() < 0 {
                bad("retry_for must not be negative".into());
            }
            if let (true, Some(url), Some(filter)) = (ok, url, filter) {
                checked.push(Subscriber {
                    name: s.name.clone(),
                    url,
                    secret: s.secret.clone(),
                    filter,
                    timeout: s.timeout,
                    retry_for: s.retry_for,
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(LinkConfig {
            feed: FeedConfig { public: feeds_out.public, sender, sender_name, public_url, readers },
            subscribers: checked,
        })
    }
}

/// Lower-case hex SHA-256 of a token, as reader tokens are kept and compared.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, url: &str, secret: &str, events: Option<Vec<&str>>) -> SubscriberSpec {
        SubscriberSpec {
            name: name.into(),
            url: url.into(),
            secret: SecretString::from(secret),
            events: events.map(|e| e.into_iter().map(String::from).collect()),
            timeout: default_timeout(),
            retry_for: default_retry_for(),
        }
    }

    #[test]
    fn defaults_come_from_the_public_url_and_the_signature() {
        let c = LinkConfig::from_specs(&FeedsOutSpec::default(), &[], "https://jy.example.org/", "观音桥街道").unwrap();
        assert_eq!(c.feed.sender, "jiaoying@jy.example.org");
        assert_eq!(c.feed.sender_name, "观音桥街道");
        assert_eq!(c.feed.public_url, "https://jy.example.org");
        assert!(!c.feed.public, "the feed needs a token unless said otherwise");
    }

    #[test]
    fn every_problem_is_named() {
        let feeds = FeedsOutSpec {
            sender: Some("a b".into()),
            readers: vec![ReaderSpec {
                name: "x".into(),
                token: Some(SecretString::from("short")),
                token_sha256: None,
            }],
            ..FeedsOutSpec::default()
        };
        let subs = [
            spec("ok-1", "http://127.0.0.1:9/h", "0123456789abcdef", None),
            spec("ok-1", "ftp://x/", "short", Some(vec!["call.nope"])),
            spec("bad name", "http://x/", "0123456789abcdef", None),
        ];
        let problems = LinkConfig::from_specs(&feeds, &subs, "http://x", "s").unwrap_err();
        let all = problems.join("\n");
        for want in [
            "feeds_out.sender",
            "feeds_out.readers[0] (x): token must be at least 16",
            "subscribers[1] (ok-1): the name is used twice",
            "subscribers[1] (ok-1): url must be an http(s) URL",
            "subscribers[1] (ok-1): secret must be at least 16",
            "subscribers[1] (ok-1): events: unknown event \"call.nope\"",
            "subscribers[2] (bad name): name must be",
        ] {
            assert!(all.contains(want), "{want} missing in:\n{all}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_and_targets() {
        let c = LinkConfig::from_specs(
            &FeedsOutSpec::default(),
            &[spec("d", "https://user:pw@district.example/hook?key=k123", "a-very-secret-value", None)],
            "http://x",
            "s",
        )
        .unwrap();
        let dbg = format!("{c:?}");
        for secret in ["a-very-secret-value", "k123", "pw@"] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
        assert_eq!(c.subscribers[0].target(), "district.example:443");
    }
}
