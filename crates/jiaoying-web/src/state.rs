//! What every handler shares.

use std::sync::Arc;

use jiaoying_dispatch::outbox::Outbox;
use jiaoying_store::Store;
use jiaoying_tracker::Tracker;
use secrecy::SecretString;

/// An alert source allowed to push: its id, its bearer token (or only the token's SHA-256), and
/// optionally the CAP senders it may speak for.
#[derive(Clone)]
pub struct Source {
    pub id: String,
    pub token: SourceToken,
    /// Empty: any sender.
    pub senders: Vec<String>,
}

#[derive(Clone)]
pub enum SourceToken {
    Plain(SecretString),
    /// Lower-case hex SHA-256 of the token, so the config need not hold the token itself.
    Sha256(String),
}

impl Source {
    pub fn may_send_as(&self, sender: &str) -> bool {
        self.senders.is_empty() || self.senders.iter().any(|s| s == sender)
    }
}

/// What every request handler is given: one `Arc`, so that axum's clone per request and per
/// middleware is a reference count, not a copy of every part (measured: with the parts cloned
/// one by one, a third of the service's CPU under 10 000 SMS replies a second went to malloc and
/// free, the outbox's channel maps among them).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub tracker: Tracker,
    pub outbox: Outbox,
    pub sources: Arc<Vec<Source>>,
    /// `server.public_url` without a trailing slash: the base of the URLs gateways call, which
    /// some of them sign over (Twilio).
    pub public_url: String,
    pub body_limit: usize,
    /// The config's tier and event tables.
    pub normaliser: Arc<jiaoying_ingest::Normaliser>,
    /// The feed poller, when any source polls: its state is shown to duty officers.
    pub feeds: Option<Arc<jiaoying_feeds::FeedPoller>>,
    /// Board sign-in: login throttling and the like (issue 6).
    pub access: Arc<crate::access::State>,
    /// Board pages: templates and the like (issue 6).
    pub board: Arc<crate::board::State>,
    /// Officer API state (issue 6).
    pub officer_api: Arc<crate::officer_api::State>,
    /// Scheduled duties and rosters (issue 7).
    pub duties: jiaoying_tracker::duties::Duties,
    /// Becomes `true` when the server starts shutting down: long-lived responses (the event
    /// stream) end, so the graceful shutdown does not wait on them.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The background loops' heartbeats, for `/readyz` and `/metrics` (issue 8).
    pub liveness: crate::health::Liveness,
    /// The Prometheus recorder's handle and the scrape token (issue 8).
    pub metrics: crate::metrics_route::MetricsEndpoint,
    /// Wakes the event streams when any instance committed call events (issue 8).
    pub events: crate::live::EventSignal,
    /// Outgoing links (issue 8): the feed's settings, the subscribers, their loops' wake-ups.
    pub linking: Arc<jiaoying_linking::Linker>,
}

impl Shared {
    pub fn store(&self) -> &Arc<dyn Store> {
        self.tracker.store()
    }
}
