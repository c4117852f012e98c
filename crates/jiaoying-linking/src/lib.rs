//! Outgoing links: neighbouring subdistricts and the district platform follow what jiaoying does
//! (跨街镇联动, reporting upward).
//!
//! - The feed ([`atom`], [`cap_out`]): jiaoying's alerts, including duty officers' manual
//!   warnings, as an Atom feed of CAP 1.2 documents, served by the web layer.
//! - Webhooks ([`follow`], [`deliver`]): every state change (alert taken, updated, cancelled; call
//!   answered, escalated, unreached, cancelled, ...) POSTed as signed JSON to each configured
//!   subscriber that wants it, durably: a cursor per subscriber over the append-only logs, moved
//!   in the same transaction that queues the deliveries, and a delivery outbox claimed under a
//!   lease, sent in order, retried with backoff. See `docs/adr/0016-outgoing-links.md`.

pub mod atom;
pub mod cap_out;
pub mod config;
pub mod deliver;
pub mod events;
pub mod feed;
pub mod follow;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiaoying_core::Clock;
use jiaoying_store::{LinkCursor, Store, StoreResult};
use jiaoying_tracker::{beaten, run_loop};
use tokio::sync::{watch, Notify};

pub use config::{FeedConfig, FeedsOutSpec, LinkConfig, ReaderSpec, Subscriber, SubscriberSpec};

/// How often the follow loop looks at the logs when nothing woke it: state changes reach
/// subscribers within about this long.
pub const FOLLOW_POLL: Duration = Duration::from_millis(500);
/// The longest a delivery loop sleeps without looking (retries due, other instances' claims).
pub const DELIVER_POLL: Duration = Duration::from_millis(500);

/// How a loop shows that it is alive (the service's `/readyz`): here called as each step starts
/// and ends, and around each POST, which may take up to the subscriber's timeout.
pub use jiaoying_tracker::Pulse;

/// Outgoing links of one instance: the config, the store, and what each loop remembers between
/// steps (cursors and id gaps; all of it rebuilt from the database after a restart).
pub struct Linker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: LinkConfig,
    clients: HashMap<String, reqwest::Client>,
    /// Each subscriber's delivery loop, woken when deliveries are queued for it.
    wakes: HashMap<String, Arc<Notify>>,
    cursors: Mutex<HashMap<String, LinkCursor>>,
    gaps: Mutex<HashMap<(String, follow::Log), follow::Gap>>,
    /// `true` once [`Linker::stop`] was called: the loops end, nothing more is claimed or POSTed.
    stopping: watch::Sender<bool>,
    /// The claim each subscriber's delivery step holds now, for [`Linker::release_held`].
    claims: Mutex<HashMap<String, deliver::Claim>>,
}

impl Linker {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: LinkConfig) -> Result<Linker, reqwest::Error> {
        let mut clients = HashMap::new();
        let mut wakes = HashMap::new();
        for s in &config.subscribers {
            clients.insert(s.name.clone(), deliver::client(s.timeout.as_std())?);
            wakes.insert(s.name.clone(), Arc::new(Notify::new()));
        }
        Ok(Linker {
            store,
            clock,
            config,
            clients,
            wakes,
            cursors: Mutex::new(HashMap::new()),
            gaps: Mutex::new(HashMap::new()),
            stopping: watch::channel(false).0,
            claims: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn subscriber(&self, name: &str) -> Option<&Subscriber> {
        self.config.subscribers.iter().find(|s| s.name == name)
    }

    /// Gives every subscriber a cursor: a new one starts at the end of the logs (it follows from
    /// now on, it does not get the history). Call before serving, so that nothing accepted after
    /// start-up is missed.
    pub async fn start(&self) -> StoreResult<()> {
        if self.config.subscribers.is_empty() {
            return Ok(());
        }
        let heads = self.store.link_log_heads().await?;
        let now = self.clock.now().millis();
        for s in &self.config.subscribers {
            let cursor = self.store.ensure_link_cursor(&s.name, heads, now).await?;
            self.cursors.lock().expect("cursor lock").insert(s.name.clone(), cursor);
        }
        Ok(())
    }

    /// Tells the subscriber's delivery loop to look now (after queuing or re-queuing).
    pub fn wake(&self, subscriber: &str) {
        if let Some(w) = self.wakes.get(subscriber) {
            w.notify_one();
        }
    }

    /// Shutdown (issue 8): claim nothing more and start no POST not yet started; the loops end
    /// after their current step, which returns what it did not send to the queue.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Shutdown, at the end of the grace period: every claim a delivery step still holds is
    /// settled now rather than when its lease ends: what was delivered (or refused) is recorded,
    /// the delivery being POSTed goes back to the queue first in line marked interrupted (its
    /// outcome is unknown), the rest as never tried. Another instance sends them at once, in
    /// order. Returns how many claimed deliveries were settled.
    pub async fn release_held(&self) -> StoreResult<usize> {
        let claims: Vec<_> = self.claims.lock().expect("claim lock").values().map(|c| c.settled()).collect();
        let now = self.clock.now().millis();
        let mut settled = 0;
        for (lease_until, outcomes) in claims {
            settled += self.store.finish_link_deliveries(&outcomes, lease_until, now).await?;
        }
        Ok(settled)
    }

    /// Runs the follow loop and one delivery loop per subscriber until [`Linker::stop`]. Each
    /// loop asks `pulse` for its heartbeat by name (`links:follow`, `links:deliver:<subscriber>`)
    /// and the longest it may rightly stay quiet (one POST, up to the subscriber's timeout).
    pub async fn run(self: Arc<Self>, pulse: impl Fn(&str, Duration) -> Pulse) {
        if self.config.subscribers.is_empty() {
            return;
        }
        let mut tasks = tokio::task::JoinSet::new();
        {
            let linker = self.clone();
            let stop = self.stopping.subscribe();
            let beat = pulse("links:follow", Duration::ZERO);
            tasks.spawn(async move {
                let idle = Notify::new();
                let clock = linker.clock.clone();
                let (linker, beat) = (&linker, &beat);
                run_loop(
                    "links-follow",
                    move || beaten(beat, linker.follow_step()),
                    || clock.now().millis(),
                    &idle,
                    FOLLOW_POLL,
                    stop,
                )
                .await
            });
        }
        for s in &self.config.subscribers {
            let linker = self.clone();
            let name = s.name.clone();
            let stop = self.stopping.subscribe();
            let beat = pulse(&format!("links:deliver:{name}"), s.timeout.as_std());
            tasks.spawn(async move {
                let wake = linker.wakes[&name].clone();
                let clock = linker.clock.clone();
                let (linker, name, beat) = (&linker, &name, &beat);
                run_loop(
                    "links-deliver",
                    move || beaten(beat, linker.deliver_step(name, beat)),
                    || clock.now().millis(),
                    &wake,
                    DELIVER_POLL,
                    stop,
                )
                .await
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}
