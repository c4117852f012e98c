//! What can go wrong with a feed. Messages name the problem and the URL (without its query,
//! user info or fragment, which may carry credentials), never a response body.

use jiaoying_store::StoreError;
use jiaoying_tracker::AcceptError;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A source that cannot be polled as configured: a bad URL or cron schedule.
    #[error("feed source {source_id:?}: {message}")]
    Config { source_id: String, message: String },
    /// The request did not get an answer: connection refused, timeout, TLS, a refused redirect.
    #[error("fetching {url} failed: {message}")]
    Fetch { url: String, message: String },
    /// The server answered with a status other than 2xx (or 304 where it was asked for).
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// The body is larger than the limit; reading stopped at the limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Hostile XML refused: a DOCTYPE/DTD, an unknown entity, nesting or node count over the limit.
    #[error("unsafe feed: {0}")]
    Unsafe(String),
    /// Not well-formed XML in its declared encoding.
    #[error("malformed feed: {0}")]
    Malformed(String),
    /// Well-formed XML that is neither an Atom feed, an RSS channel nor a CAP alert.
    #[error("not a feed: {0}")]
    NotAFeed(String),
    /// The database failed; the feed is not to blame, and its state is left as it was.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tracker could not store an alert (a database failure).
    #[error("storing an alert failed: {0}")]
    Accept(#[from] AcceptError),
}

impl FeedError {
    /// Failures of the service itself (database), as opposed to failures of the feed.
    pub fn is_internal(&self) -> bool {
        matches!(self, FeedError::Store(_) | FeedError::Accept(_))
    }
}
