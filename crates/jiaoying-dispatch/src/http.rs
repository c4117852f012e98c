//! What the HTTP-based channels share about failed requests.

/// An operator-readable reason for a request that got no HTTP answer, for `what` (a provider and
/// host, never the URL: reqwest's own text names the full URL, whose path or query often carries
/// a key or a signature, and hides the OS reason in its source chain).
pub fn describe_request_error(what: &str, e: &reqwest::Error) -> String {
    let head = if e.is_timeout() {
        format!("{what} did not answer in time")
    } else if e.is_connect() {
        format!("could not connect to {what}")
    } else {
        format!("request to {what} failed")
    };
    // The innermost cause says what happened on the wire ("Connection refused").
    let mut cause = None;
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        cause = Some(err.to_string());
        source = err.source();
    }
    match cause {
        Some(c) => format!("{head}: {c}"),
        None => head,
    }
}

/// `host:port` of a gateway URL, for error texts: never the full URL, whose path or query may
/// carry a token.
pub(crate) fn host_port(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// `text` with every occurrence of `secret` replaced, so an error never repeats a secret even
/// when a gateway echoes it back.
pub(crate) fn scrub_secret(text: String, secret: &str) -> String {
    if secret.is_empty() || !text.contains(secret) {
        text
    } else {
        text.replace(secret, "[REDACTED]")
    }
}
