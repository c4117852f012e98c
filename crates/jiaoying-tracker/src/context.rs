//! The tracker's shared context: the store, the clock, the policies, and the wake-up hints.

use std::sync::Arc;

use jiaoying_core::{Clock, Policies};
use jiaoying_store::{Store, StoreError};
use tokio::sync::Notify;

use crate::compose::Composer;

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Settings the tracker needs, already parsed.
#[derive(Clone)]
pub struct TrackerConfig {
    pub policies: Policies,
    pub composer: Composer,
    /// Calls handled per timer step (one transaction).
    pub batch: i64,
    /// A late answer closes the calls its escalation opened and tells their persons (default).
    pub late_answer_closes_escalation: bool,
    /// `[[directives]]`: control measures imposed on reached units.
    pub directives: Vec<jiaoying_core::directive::DirectiveRule>,
}

/// Everything the tracker's operations share. Cheap to clone.
#[derive(Clone)]
pub struct Tracker {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Arc<TrackerConfig>,
    /// Wakes the timer loop when a new deadline may be earlier than the one it sleeps for.
    pub timers_wake: Arc<Notify>,
    /// Wakes the outbox worker when messages were queued (every channel's sending loop).
    pub outbox_wake: Arc<Notify>,
    /// Per channel, the wake-up of its own sending loop, where the service registered one: work
    /// queued for one channel need not wake the others (each wake is a claim on the database).
    channel_wakes: Arc<std::sync::RwLock<std::collections::HashMap<String, Arc<Notify>>>>,
    /// Per number: the start of its hour and the help replies sent in it. In memory, per
    /// instance: the cap bounds cost, it need not be exact across instances or restarts.
    pub(crate) useless_replies: Arc<std::sync::Mutex<std::collections::HashMap<String, (i64, u32)>>>,
    /// SMS answers by code share transactions through it, set-based.
    pub(crate) answers: crate::answer_batch::AnswerBatcher,
    /// How a big fan-out is cut into transactions (ADR 0020); tests make the chunks small.
    pub(crate) fanout: Arc<FanoutChunks>,
    /// Per alert: whether it is a drill (never changes once stored), for the answer bursts.
    pub(crate) drill_alerts: Arc<std::sync::Mutex<std::collections::HashMap<i64, bool>>>,
    /// Set while the planner's statistics are being refreshed after a big fan-out.
    pub(crate) refreshing_statistics: Arc<std::sync::atomic::AtomicBool>,
}

impl Tracker {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: TrackerConfig, outbox_wake: Arc<Notify>) -> Self {
        Tracker {
            answers: Default::default(),
            refreshing_statistics: Arc::default(),
            store,
            clock,
            config: Arc::new(config),
            timers_wake: Arc::new(Notify::new()),
            outbox_wake,
            channel_wakes: Arc::default(),
            drill_alerts: Arc::default(),
            useless_replies: Arc::default(),
            fanout: Arc::new(FanoutChunks::default()),
        }
    }

    /// Calls per transaction of a big fan-out (default [`crate::accept::FANOUT_CHUNK`]), for
    /// every clone of this tracker.
    pub fn set_fanout_chunk(&self, calls: usize) {
        self.fanout.chunk.store(calls.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// For tests of the resume path: while set, an accept stops after the first chunk has
    /// committed, leaving the alert marked, as a crash at that moment would.
    #[doc(hidden)]
    pub fn stop_fanouts_after_first_chunk(&self, stop: bool) {
        self.fanout.stop_after_first.store(stop, std::sync::atomic::Ordering::Relaxed);
    }

    /// Big fan-outs write their messages already claimed for this instance's outbox and hand
    /// them over through `handoff` (ADR 0021). Without it they are queued.
    pub fn set_handoff(&self, handoff: Arc<jiaoying_dispatch::Handoff>) {
        let _ = self.fanout.handoff.set(handoff);
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn composer(&self) -> &Composer {
        &self.config.composer
    }

    /// Registers the wake-up of `channel`'s sending loop.
    pub fn register_channel_wake(&self, channel: &str, wake: Arc<Notify>) {
        self.channel_wakes.write().unwrap_or_else(|e| e.into_inner()).insert(channel.to_string(), wake);
    }

    /// Wakes the sending loops of these channels (all of them when one has no loop registered).
    pub(crate) fn wake_channels<'a>(&self, channels: impl IntoIterator<Item = &'a str>) {
        let wakes = self.channel_wakes.read().unwrap_or_else(|e| e.into_inner());
        let mut seen = std::collections::HashSet::new();
        for channel in channels {
            if !seen.insert(channel) {
                continue;
            }
            match wakes.get(channel) {
                Some(wake) => wake.notify_one(),
                None => {
                    self.outbox_wake.notify_one();
                    return;
                }
            }
        }
    }

    pub(crate) fn wake_all(&self) {
        self.timers_wake.notify_one();
        self.outbox_wake.notify_one();
    }
}

/// How a big fan-out is cut into transactions.
pub(crate) struct FanoutChunks {
    pub(crate) chunk: std::sync::atomic::AtomicUsize,
    pub(crate) stop_after_first: std::sync::atomic::AtomicBool,
    /// The outbox's hand-over of messages written already claimed (ADR 0021), once registered.
    pub(crate) handoff: std::sync::OnceLock<Arc<jiaoying_dispatch::Handoff>>,
}

impl Default for FanoutChunks {
    fn default() -> Self {
        FanoutChunks {
            chunk: std::sync::atomic::AtomicUsize::new(crate::accept::FANOUT_CHUNK),
            stop_after_first: std::sync::atomic::AtomicBool::new(false),
            handoff: std::sync::OnceLock::new(),
        }
    }
}
