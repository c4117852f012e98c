//! Feed polling: a source configured with `poll = { url, schedule }` is fetched on its cron
//! schedule. The document at `url` is an index feed (Atom or RSS) whose entries link to CAP
//! documents, or itself a CAP document. Each linked document is fetched and taken into the
//! tracker once; the index is fetched with a conditional GET, so an unchanged feed costs one
//! request and no parsing.
//!
//! - [`parse_index`]: untrusted index bytes to the entries' document URLs (safe: size checked
//!   first, DTDs refused, nesting and node count bounded).
//! - [`FeedPoller`]: the polling loop's state and its `step`, in the shape of
//!   `jiaoying_tracker::run_loop`; failures back off exponentially, and a feed that has given
//!   nothing parsable for longer than its `silent_after` is reported by [`FeedPoller::silent_feeds`].

mod error;
pub mod index;
pub mod poller;
pub mod schedule;

pub use error::FeedError;
pub use index::{parse_index, FeedEntry, MAX_INDEX_BYTES, MAX_INDEX_DEPTH, MAX_INDEX_ENTRIES, MAX_INDEX_NODES};
pub use poller::{
    FeedPoller, FeedSource, FeedStats, PollReport, PollerConfig, SilentFeed, MAX_DOCUMENT_BYTES, MAX_ERROR_CHARS,
    POLL_BACKSTOP,
};
pub use schedule::{backoff, next_after, parse_schedule, SCHEDULE_OFFSET_SECS};

/// `reqwest`'s URL type, re-exported so that callers need not depend on `url` or `reqwest`.
pub use reqwest::Url;
