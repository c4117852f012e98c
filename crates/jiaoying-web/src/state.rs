//! What every handler shares.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiaoying_dispatch::outbox::Outbox;
use jiaoying_store::Store;
use jiaoying_tracker::Tracker;
use secrecy::SecretString;

/// An alert source allowed to push: its id and bearer token.
#[derive(Clone)]
pub struct Source {
    pub id: String,
    pub token: SecretString,
}

#[derive(Clone)]
pub struct AppState {
    pub tracker: Tracker,
    pub outbox: Outbox,
    pub sources: Arc<Vec<Source>>,
    /// Channel name → HMAC secret of its inbound hooks (generic `sms-webhook` channels).
    pub hook_secrets: Arc<BTreeMap<String, SecretString>>,
    pub body_limit: usize,
}

impl AppState {
    pub fn store(&self) -> &Arc<dyn Store> {
        self.tracker.store()
    }
}
