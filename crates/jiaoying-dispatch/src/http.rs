//! What the HTTP-based channels share about failed requests.

/// An operator-readable reason for a request that got no HTTP answer, for `what` (a provider and
/// host, never the URL: reqwest's own text names the full URL, whose path or query often carries
/// a key or a signature, and hides the OS reason in its source chain).
pub(crate) fn describe_request_error(what: &str, e: &reqwest::Error) -> String {
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
