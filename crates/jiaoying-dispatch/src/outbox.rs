//! The outbox worker. Per channel: claim due messages (most urgent first) under a lease and
//! commit; send them outside any transaction, within the channel's rate and concurrency limits;
//! then record the outcomes as the requests return, with the call steps they cause, a group per
//! transaction with compare-and-set on the lease. A message whose sender died mid-send is claimed again when its
//! lease runs out (at-least-once; our message id goes to the provider so it can deduplicate, and
//! the provider is asked first where it can be).
//!
//! A message that fails for good, or that the provider refuses for this number's frequency limit,
//! moves to the channel's next fallback channel; a channel that keeps failing trips its circuit
//! breaker and, while open, its messages move to the fallback at once (or wait, without one).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiaoying_core::metric_names::{GATEWAY_REQUEST_SECONDS, MESSAGES_TOTAL};
use jiaoying_core::{mask_numbers_in, mask_recipient, CallState, Clock, Span, Timestamp};
use jiaoying_store::{MessageRow, NewEvent, Purpose, SendResult, Store, StoreError, StoreTx, INTERRUPTED_SEND};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::channel::{Channel, ChannelLimits, Channels, Lookup, Outgoing, SendError, Sent};
use crate::claims::Claims;
use crate::handoff::Handoff;

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// How long a claim lasts before another worker may take the message over.
    pub lease: Span,
    /// Messages claimed per step and channel; they are sent concurrently.
    pub batch: i64,
    /// Attempts before a transiently failing message is given up as failed.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt, with ±20 % jitter, up to `max_backoff`.
    pub base_backoff: Span,
    pub max_backoff: Span,
    /// Consecutive gateway failures that open a channel's circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker keeps the channel out of use before one trial step.
    pub breaker_cooldown: Span,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            lease: Span::from_secs(30),
            batch: 256,
            max_attempts: 8,
            base_backoff: Span::from_secs(2),
            max_backoff: Span::from_mins(5),
            breaker_threshold: 5,
            breaker_cooldown: Span::from_secs(30),
        }
    }
}

/// A send task's messages and their results (`None`: not started).
/// A send task's messages, their results (`None`: not started), and its share of the budget of
/// messages sent and not yet recorded, given back once their outcomes are committed.
type SendTask = (Vec<MessageRow>, Option<Vec<Result<Sent, SendError>>>, Option<OwnedSemaphorePermit>);

/// What one step did: messages handled, or nothing due (with the next due time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStep {
    Sent(usize),
    Empty { next_due: Option<i64> },
}

impl OutboxStep {
    fn merge(self, other: OutboxStep) -> OutboxStep {
        match (self, other) {
            (OutboxStep::Sent(a), OutboxStep::Sent(b)) => OutboxStep::Sent(a + b),
            (s @ OutboxStep::Sent(_), _) | (_, s @ OutboxStep::Sent(_)) => s,
            (OutboxStep::Empty { next_due: a }, OutboxStep::Empty { next_due: b }) => {
                OutboxStep::Empty { next_due: min_due(a, b) }
            }
        }
    }
}

fn min_due(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One channel's queue as duty officers see it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelBacklog {
    pub channel: String,
    pub queued: i64,
    pub sending: i64,
    /// When the oldest queued message became due (Unix ms).
    pub oldest_due: Option<i64>,
    /// Messages per second this instance has recently sent through the channel.
    pub recent_rate: f64,
    /// Messages this instance sent through the channel in the last minute (service clock): a
    /// steady figure for the board, zero once the channel has been idle for a minute.
    pub sent_last_minute: i64,
    /// The configured limit, if any.
    pub rate_limit: Option<f64>,
    /// Seconds until the queue is empty at the faster of the recent rate and the limit; `None`
    /// when nothing has been sent lately and no limit says how fast it could go.
    pub drain_secs: Option<f64>,
    pub breaker_open: bool,
}

/// A token bucket: `rate` tokens a second, holding at most one second's worth (at least one).
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: i64,
}

impl Bucket {
    fn new(rate: f64, now: i64) -> Self {
        Bucket { rate, tokens: rate.max(1.0), at: now }
    }
    fn refill(&mut self, now: i64) {
        let elapsed = (now - self.at).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate.max(1.0));
        self.at = now;
    }
    /// Whole tokens available now.
    fn available(&mut self, now: i64) -> usize {
        self.refill(now);
        self.tokens.floor().max(0.0) as usize
    }
    fn take(&mut self, n: usize) {
        self.tokens -= n as f64;
    }
    /// When the next whole token is there.
    fn next_token_at(&self) -> i64 {
        let missing = (1.0 - self.tokens).max(0.0);
        self.at + (missing / self.rate * 1000.0).ceil() as i64
    }
}

/// Consecutive gateway failures; open means "do not use this channel until `open_until`".
#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<i64>,
}

/// What the outbox remembers about a channel between steps (per instance, in memory: a breaker
/// or a rate estimate lost in a restart is rebuilt within seconds).
#[derive(Debug)]
struct ChannelState {
    bucket: Option<Bucket>,
    breaker: Breaker,
    /// Exponentially weighted messages per second.
    recent_rate: f64,
    last_step: Option<Instant>,
    /// (when, how many) of the steps that sent something in the last [`SENT_WINDOW_MS`].
    sent_window: VecDeque<(i64, usize)>,
}

/// The window of [`ChannelBacklog::sent_last_minute`].
const SENT_WINDOW_MS: i64 = 60_000;

#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    channels: Channels,
    config: OutboxConfig,
    state: Arc<Mutex<BTreeMap<String, ChannelState>>>,
    /// What this instance has claimed and not yet recorded, and whether it is stopping.
    claims: Claims,
    /// Messages written already claimed by this instance, waiting for their channel's step.
    handoff: Arc<Handoff>,
}

/// One message and what became of sending it.
struct Outcome {
    msg: MessageRow,
    result: SendResult,
    /// Send it through this channel instead.
    failover_to: Option<String>,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, channels: Channels, config: OutboxConfig) -> Self {
        // A channel may have two steps' worth handed over; none where a rate limit would keep
        // them waiting (and their lease running) in memory.
        let limits: Vec<(String, usize)> = channels
            .names()
            .map(|name| {
                let limits = channels.limits(name);
                let per_request = channels.get(name).map_or(1, |a| a.max_batch().max(1));
                let room = if limits.rate_per_sec.is_some() {
                    0
                } else {
                    2 * claim_size(config.batch, limits.concurrency, per_request)
                };
                (name.clone(), room)
            })
            .collect();
        Outbox {
            store,
            clock,
            channels,
            state: Arc::new(Mutex::new(BTreeMap::new())),
            claims: Claims::default(),
            handoff: Arc::new(Handoff::new(limits, config.lease)),
            config,
        }
    }

    /// Where whoever writes messages already claimed for this instance hands them over.
    pub fn handoff(&self) -> Arc<Handoff> {
        self.handoff.clone()
    }

    /// Shutdown (issue 8): claim nothing more, and start no send not yet started; those of a
    /// step in progress go back to the queue when it ends.
    pub fn stop(&self) {
        self.claims.stop();
    }

    /// Shutdown, at the end of the grace period: every claim a step still holds goes back to the
    /// queue, so another instance takes it at once; marked interrupted where its send had
    /// started (the next sender asks the provider first). Returns how many went back.
    pub async fn release_held(&self) -> Result<u64, StoreError> {
        let now = self.clock.now().millis();
        let mut released = 0;
        for ((lease_until, started), ids) in self.claims.held() {
            released += self.store.release_messages(&ids, lease_until, started, now).await?;
        }
        // Handed over and never taken by a step: never tried.
        let mut waiting: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for m in self.handoff.drain() {
            waiting.entry(m.lease_until.unwrap_or(0)).or_default().push(m.id);
        }
        for (lease_until, ids) in waiting {
            released += self.store.release_messages(&ids, lease_until, false, now).await?;
        }
        Ok(released)
    }

    /// The configured channels (the hooks parse callbacks with them).
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// One step over every channel, including queued messages whose channel is no longer
    /// configured (they fail, and move to no fallback: nothing is configured to take them).
    pub async fn step(&self, now: Timestamp) -> Result<OutboxStep, StoreError> {
        let mut total = OutboxStep::Empty { next_due: None };
        let names: Vec<String> = self.channels.names().cloned().collect();
        for name in &names {
            total = total.merge(self.step_channel(name, now).await?);
        }
        for row in self.store.outbox_backlog().await? {
            if self.channels.get(&row.channel).is_none() && row.queued > 0 {
                total = total.merge(self.step_channel(&row.channel, now).await?);
            }
        }
        Ok(total)
    }

    /// Fails the queued messages of channels no longer in the config (at startup: the per-channel
    /// loops never claim them).
    pub async fn fail_unconfigured(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut failed = 0;
        for row in self.store.outbox_backlog().await? {
            if self.channels.get(&row.channel).is_some() {
                continue;
            }
            while let OutboxStep::Sent(n) = self.step_channel(&row.channel, now).await? {
                failed += n;
            }
        }
        Ok(failed)
    }

    /// One step for one channel: what the service runs in a loop per channel, so that a slow or
    /// hanging gateway holds up only its own messages.
    pub async fn step_channel(&self, name: &str, now: Timestamp) -> Result<OutboxStep, StoreError> {
        let limits = self.channels.limits(name);
        let adapter = self.channels.get(name).cloned();
        let per_request = adapter.as_ref().map_or(1, |a| a.max_batch().max(1));
        let (room, breaker_open, throttled_until) = self.room(name, &limits, per_request, now);
        if self.claims.is_stopping() {
            return Ok(OutboxStep::Empty { next_due: None });
        }
        if breaker_open.is_some() && limits.fallback.is_empty() {
            // Nowhere else to send: wait for the breaker's trial step.
            return Ok(OutboxStep::Empty { next_due: breaker_open });
        }
        if room == 0 {
            return Ok(OutboxStep::Empty { next_due: throttled_until });
        }
        // Messages written already claimed come first (they are a big alert's first calls);
        // then the queue.
        let handed = self.handoff.take(name, room);
        let (claimed, lease_until) = if handed.is_empty() {
            let lease_until = now.plus(self.config.lease).millis();
            (self.store.claim_messages(now.millis(), lease_until, room as i64, Some(name)).await?, lease_until)
        } else {
            // One lease for the step: the earliest, so no send starts after any of them ends.
            let lease_until = handed.iter().filter_map(|m| m.lease_until).min().unwrap_or(now.millis());
            (handed, lease_until)
        };
        if claimed.is_empty() {
            let due = self.store.next_message_due(Some(name)).await?;
            return Ok(OutboxStep::Empty { next_due: due });
        }
        let n = claimed.len();
        let _held = self.claims.hold(claimed.iter().map(|m| m.id).collect(), lease_until);
        let started = Instant::now();
        self.take_tokens(name, n);
        let (sent, unsent) = match (adapter, breaker_open) {
            (Some(channel), None) => self.send_all(name, channel, &limits, claimed, lease_until).await?,
            // Nothing to send through: each message fails here, moving to a fallback where the
            // channel exists and has one.
            (adapter, _) => {
                let error = match adapter {
                    None => format!("no channel named {name:?} is configured"),
                    Some(_) => format!("channel {name} is failing (circuit open)"),
                };
                let mut outcomes: Vec<Outcome> = claimed
                    .into_iter()
                    .map(|msg| Outcome {
                        failover_to: if adapter.is_some() { self.fallback_for(name, &msg) } else { None },
                        result: SendResult::Failed { error: error.clone() },
                        msg,
                    })
                    .collect();
                self.finish(&mut outcomes, lease_until).await?;
                self.record_outcomes(name, &outcomes);
                (0, Vec::new())
            }
        };
        self.record_rate(name, sent, started);
        if !unsent.is_empty() {
            // Stopping, or the claim would not outlive another request: what was claimed and
            // never sent goes back to the queue now, its attempt not counted.
            let released = self.store.release_messages(&unsent, lease_until, false, self.clock.now().millis()).await?;
            tracing::info!(
                channel = name,
                released,
                stopping = self.claims.is_stopping(),
                "claimed messages not sent in this step returned to the queue"
            );
        }
        Ok(OutboxStep::Sent(n))
    }

    /// How many messages this step may claim, whether the breaker is open (until when), and when
    /// the rate limit lets the next one go. A channel whose requests carry `per_request` messages
    /// (a provider batch API) claims enough to fill every request it may have in flight: a claim
    /// and its recording cost a fixed part per step, which small claims pay over and over.
    fn room(
        &self,
        name: &str,
        limits: &ChannelLimits,
        per_request: usize,
        now: Timestamp,
    ) -> (usize, Option<i64>, Option<i64>) {
        let mut states = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = states.entry(name.to_string()).or_insert_with(|| ChannelState {
            bucket: limits.rate_per_sec.map(|r| Bucket::new(r, now.millis())),
            breaker: Breaker::default(),
            recent_rate: 0.0,
            last_step: None,
            sent_window: VecDeque::new(),
        });
        let breaker_open = st.breaker.open_until.filter(|&t| t > now.millis());
        let mut room = claim_size(self.config.batch, limits.concurrency, per_request);
        let mut throttled_until = None;
        if let Some(bucket) = st.bucket.as_mut() {
            room = room.min(bucket.available(now.millis()));
            if room == 0 {
                throttled_until = Some(bucket.next_token_at());
            }
        }
        (room, breaker_open, throttled_until)
    }

    fn take_tokens(&self, name: &str, n: usize) {
        let mut states = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = states.get_mut(name).and_then(|s| s.bucket.as_mut()) {
            bucket.take(n);
        }
    }

    /// Counts outcomes as they are recorded and updates the breaker and the last minute's sends.
    fn record_outcomes(&self, name: &str, outcomes: &[Outcome]) {
        count_outcomes(name, outcomes);
        let now = self.clock.now();
        let mut states = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(st) = states.get_mut(name) else { return };
        let sent = outcomes.iter().filter(|o| matches!(o.result, SendResult::Sent { .. })).count();
        let gateway_failures = outcomes.iter().filter(|o| matches!(o.result, SendResult::Retry { .. })).count();
        if sent > 0 {
            st.breaker = Breaker::default();
        } else if gateway_failures > 0 {
            st.breaker.failures = st.breaker.failures.saturating_add(gateway_failures as u32);
            if st.breaker.failures >= self.config.breaker_threshold {
                let until = now.plus(self.config.breaker_cooldown).millis();
                if st.breaker.open_until.is_none_or(|t| t <= now.millis()) {
                    tracing::warn!(
                        channel = name,
                        failures = st.breaker.failures,
                        "channel keeps failing; circuit open"
                    );
                }
                st.breaker.open_until = Some(until);
            }
        }
        if sent > 0 {
            st.sent_window.push_back((now.millis(), sent));
        }
        while st.sent_window.front().is_some_and(|(t, _)| *t <= now.millis() - SENT_WINDOW_MS) {
            st.sent_window.pop_front();
        }
    }

    /// Updates the channel's recent send rate from a whole step.
    fn record_rate(&self, name: &str, sent: usize, started: Instant) {
        let mut states = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(st) = states.get_mut(name) else { return };
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let rate = sent as f64 / secs;
        st.recent_rate = if st.last_step.is_some() { 0.7 * st.recent_rate + 0.3 * rate } else { rate };
        st.last_step = Some(Instant::now());
    }

    /// Sends the claimed messages, `limits.concurrency` requests at a time, in provider batches
    /// where the channel has them, and records outcomes as their requests return: whatever has
    /// come back while the previous group was being written goes in the next transaction (group
    /// commit). So a crash leaves unrecorded only the requests in flight at that moment, not the
    /// whole claim, and the database write overlaps the sends.
    ///
    /// A send is not started once the outbox is stopping, once recording has failed, or when the
    /// claim would end before the request's timeout; those messages come back second, to be
    /// returned to the queue. First: how many were recorded sent.
    async fn send_all(
        &self,
        name: &str,
        channel: Arc<dyn Channel>,
        limits: &ChannelLimits,
        claimed: Vec<MessageRow>,
        lease_until: i64,
    ) -> Result<(usize, Vec<i64>), StoreError> {
        let permits = Arc::new(Semaphore::new(limits.concurrency.max(1)));
        let chunk = channel.max_batch().max(1);
        // What a crash would send again is what has been sent and not yet recorded. Requests in
        // flight are bounded by `permits`; those returned while a commit is under way (many, with
        // a fast gateway and a slow disk) by this budget: twice the requests in flight.
        let unrecorded = Arc::new(Semaphore::new(2 * limits.concurrency.max(1) * chunk));
        let last_start = lease_until - i64::try_from(limits.request_timeout.as_millis()).unwrap_or(i64::MAX / 2);
        let halted = Arc::new(AtomicBool::new(false));
        let mut sends = JoinSet::new();
        let mut rows = claimed.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<MessageRow> = rows.by_ref().take(chunk).collect();
            let channel = channel.clone();
            let permits = permits.clone();
            let unrecorded = unrecorded.clone();
            let claims = self.claims.clone();
            let clock = self.clock.clone();
            let halted = halted.clone();
            let span = send_span(name, &batch);
            let latency = metrics::histogram!(GATEWAY_REQUEST_SECONDS, "channel" => name.to_string());
            sends.spawn(
                async move {
                    let budget = unrecorded.acquire_many_owned(batch.len() as u32).await.ok();
                    let _permit = permits.acquire_owned().await;
                    if claims.is_stopping() || halted.load(Ordering::SeqCst) || clock.now().millis() > last_start {
                        return (batch, None, None);
                    }
                    claims.started(batch.iter().map(|m| m.id));
                    let request = Instant::now();
                    let results = send_batch(channel.as_ref(), &batch).await;
                    latency.record(request.elapsed().as_secs_f64());
                    (batch, Some(results), budget)
                }
                .instrument(span),
            );
        }
        let mut ready: Vec<Outcome> = Vec::new();
        let mut budget: Vec<OwnedSemaphorePermit> = Vec::new();
        let mut unsent = Vec::new();
        let mut sent = 0;
        let mut failure = None;
        while let Some(joined) = sends.join_next().await {
            budget.extend(self.collect(name, joined, &mut ready, &mut unsent));
            while let Some(joined) = sends.try_join_next() {
                budget.extend(self.collect(name, joined, &mut ready, &mut unsent));
            }
            if failure.is_some() {
                // Recording failed: keep what comes back for one last try below; the budget
                // goes back so that waiting tasks see the halt.
                budget.clear();
                continue;
            }
            match self.finish(&mut ready, lease_until).await {
                Ok(n) => {
                    self.record_outcomes(name, &ready);
                    sent += n;
                    ready.clear();
                    budget.clear();
                }
                Err(e) => {
                    tracing::warn!(channel = name, error = %e, "cannot record send outcomes; no more sends this step");
                    halted.store(true, Ordering::SeqCst);
                    // Tasks waiting for budget must get it to see the halt and end.
                    budget.clear();
                    failure = Some(e);
                }
            }
        }
        if let Some(e) = failure {
            // The sends in flight have returned; one more try before their outcomes are left
            // to the lease (the database may be back, as after a restart). Those not started
            // because of the failure are returned by the caller.
            sent += self.finish(&mut ready, lease_until).await.map_err(|_| e)?;
            self.record_outcomes(name, &ready);
        }
        Ok((sent, unsent))
    }

    /// Turns one finished send task into outcomes (or, not started, into ids to return); gives
    /// back the task's budget permit, to be dropped once the outcomes are committed.
    fn collect(
        &self,
        name: &str,
        joined: Result<SendTask, tokio::task::JoinError>,
        ready: &mut Vec<Outcome>,
        unsent: &mut Vec<i64>,
    ) -> Option<OwnedSemaphorePermit> {
        match joined {
            // A panicking adapter: its messages stay `sending` and are retried when the lease
            // runs out.
            Err(_) => {
                tracing::error!(channel = name, "send task panicked");
                None
            }
            Ok((batch, None, budget)) => {
                unsent.extend(batch.iter().map(|m| m.id));
                budget
            }
            Ok((batch, Some(results), budget)) => {
                for (msg, result) in batch.into_iter().zip(results) {
                    ready.push(self.outcome(name, msg, result));
                }
                budget
            }
        }
    }

    /// Classifies one send's result.
    fn outcome(&self, name: &str, msg: MessageRow, result: Result<Sent, SendError>) -> Outcome {
        let (result, failover_to) = match result {
            Ok(sent) => (SendResult::Sent { provider_id: sent.provider_id }, None),
            Err(e) if e.is_number_rate_limited() => match self.fallback_for(name, &msg) {
                // Waiting out the provider's per-number limit would delay a repeat by minutes.
                Some(fb) => (SendResult::Failed { error: e.to_string() }, Some(fb)),
                None => (self.retry(&msg, e.to_string()), None),
            },
            Err(SendError::Permanent(error)) => {
                let failover_to = self.fallback_for(name, &msg);
                (SendResult::Failed { error }, failover_to)
            }
            Err(SendError::Transient(error)) if msg.attempts >= self.config.max_attempts => {
                let failover_to = self.fallback_for(name, &msg);
                (SendResult::Failed { error: format!("gave up after {} attempts: {error}", msg.attempts) }, failover_to)
            }
            Err(SendError::Transient(error)) => (self.retry(&msg, error), None),
        };
        // Logs name the recipient masked and mask any number a gateway's error echoes.
        let (id, call_id, alert_id, to) = (msg.id, msg.call_id, msg.alert_id, mask_recipient(&msg.recipient));
        match &result {
            SendResult::Sent { .. } => {
                tracing::debug!(message_id = id, call_id, alert_id, channel = name, to = %to, "message sent")
            }
            SendResult::Retry { error, .. } => {
                tracing::warn!(message_id = id, call_id, alert_id, channel = name, to = %to, error = %mask_numbers_in(error),
                    attempts = msg.attempts, "send failed; will retry")
            }
            SendResult::Failed { error } => {
                tracing::warn!(message_id = id, call_id, alert_id, channel = name, to = %to, error = %mask_numbers_in(error),
                    failover = ?failover_to, "send failed for good")
            }
        }
        Outcome { msg, result, failover_to }
    }

    fn retry(&self, msg: &MessageRow, error: String) -> SendResult {
        SendResult::Retry { error, retry_at: self.clock.now().plus(self.backoff(msg.attempts)).millis() }
    }

    /// The first fallback of `name` this message has not been through yet.
    fn fallback_for(&self, name: &str, msg: &MessageRow) -> Option<String> {
        let tried: Vec<&str> = msg.tried_channels.split(',').filter(|s| !s.is_empty()).collect();
        self.channels.limits(name).fallback.into_iter().find(|fb| {
            fb != name && fb != &msg.channel && !tried.contains(&fb.as_str()) && self.channels.get(fb).is_some()
        })
    }

    fn backoff(&self, attempts: i64) -> Span {
        let exp = (attempts - 1).clamp(0, 20) as u32;
        let base = self.config.base_backoff.millis().saturating_mul(1i64 << exp).min(self.config.max_backoff.millis());
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        Span::from_millis((base as f64 * jitter) as i64)
    }

    /// Records a step's outcomes, moves the calls they sent forward and queues failovers, all in
    /// one transaction: one commit (one fsync on SQLite) per batch instead of per message.
    /// Returns how many were recorded sent.
    async fn finish(&self, outcomes: &mut [Outcome], lease_until: i64) -> Result<usize, StoreError> {
        if outcomes.is_empty() {
            return Ok(0);
        }
        // Calls in a fixed order, so two instances finishing overlapping batches cannot deadlock.
        outcomes.sort_by_key(|o| (o.msg.call_id.unwrap_or(0), o.msg.id));
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        // The common case, sent, in a few set-based statements; the rest one by one.
        let sent: Vec<(i64, Option<String>)> = outcomes
            .iter()
            .filter_map(|o| match &o.result {
                SendResult::Sent { provider_id } => Some((o.msg.id, provider_id.clone())),
                _ => None,
            })
            .collect();
        let ours: std::collections::HashSet<i64> =
            tx.finish_sent(&sent, lease_until, now.millis()).await?.into_iter().collect();
        let mut sent_calls = Vec::new();
        for o in outcomes.iter() {
            let recorded = match &o.result {
                SendResult::Sent { .. } => ours.contains(&o.msg.id),
                _ => tx.finish_message(o.msg.id, lease_until, &o.result, now.millis()).await?,
            };
            if !recorded {
                // Our lease ran out and another worker took the message over; its outcome stands.
                tracing::warn!(message_id = o.msg.id, "lease lost before the outcome was recorded");
                continue;
            }
            match (&o.result, o.msg.call_id, &o.failover_to) {
                // Only the call's own message moves it: a notice or a confirmation about the same
                // call says nothing of whether the call itself went out.
                (SendResult::Sent { .. }, Some(call_id), _) if o.msg.purpose == Purpose::Call.as_str() => {
                    sent_calls.push(call_id)
                }
                (SendResult::Failed { .. }, _, Some(fallback)) => {
                    let id = tx.insert_failover(o.msg.id, fallback, now.millis()).await?;
                    tracing::info!(message_id = o.msg.id, failover_id = id, channel = %fallback, "message moved to fallback channel");
                }
                _ => {}
            }
        }
        // Calls still pending are now sent: one statement for the batch, and one for the events.
        sent_calls.dedup();
        tx.advance_calls(&sent_calls, CallState::Pending, CallState::Sent, "dispatch", now.millis()).await?;
        tx.commit().await?;
        Ok(ours.len())
    }

    /// A delivery receipt from a gateway for our message `id`.
    pub async fn receipt(
        &self,
        id: i64,
        delivered: bool,
        error: Option<&str>,
    ) -> Result<Option<MessageRow>, StoreError> {
        let now = self.clock.now();
        let row = self.store.message_receipt(id, delivered, error, now.millis()).await?;
        let own = row.as_ref().is_some_and(|m| m.purpose == Purpose::Call.as_str());
        if let (true, true, Some(MessageRow { call_id: Some(call_id), .. })) = (delivered, own, &row) {
            for _ in 0..5 {
                let mut tx = self.store.begin().await?;
                if advance_call(tx.as_mut(), *call_id, CallState::Delivered, "gateway", now).await? {
                    tx.commit().await?;
                    break;
                }
            }
        }
        Ok(row)
    }

    /// Per channel: what waits, how fast it has been going, and when it will be done.
    pub async fn backlog(&self) -> Result<Vec<ChannelBacklog>, StoreError> {
        let mut rows = self.store.outbox_backlog().await?;
        // Every configured channel appears, an idle one with zeros.
        for name in self.channels.names() {
            if !rows.iter().any(|r| &r.channel == name) {
                rows.push(jiaoying_store::BacklogRow {
                    channel: name.clone(),
                    queued: 0,
                    sending: 0,
                    oldest_due: None,
                });
            }
        }
        rows.sort_by(|a, b| a.channel.cmp(&b.channel));
        let now = self.clock.now().millis();
        let states = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(rows
            .into_iter()
            .map(|r| {
                let st = states.get(&r.channel);
                let recent_rate = st.map(|s| s.recent_rate).unwrap_or(0.0);
                let rate_limit = self.channels.limits(&r.channel).rate_per_sec;
                let speed = match rate_limit {
                    Some(limit) if recent_rate > 0.0 => recent_rate.min(limit),
                    Some(limit) => limit,
                    None => recent_rate,
                };
                let waiting = (r.queued + r.sending) as f64;
                let drain_secs = if waiting == 0.0 {
                    Some(0.0)
                } else if speed > 0.0 {
                    Some(waiting / speed)
                } else {
                    None
                };
                ChannelBacklog {
                    breaker_open: st.and_then(|s| s.breaker.open_until).is_some_and(|t| t > now),
                    channel: r.channel,
                    queued: r.queued,
                    sending: r.sending,
                    oldest_due: r.oldest_due,
                    recent_rate,
                    sent_last_minute: st.map_or(0, |s| {
                        s.sent_window.iter().filter(|(t, _)| *t > now - SENT_WINDOW_MS).map(|(_, n)| *n as i64).sum()
                    }),
                    rate_limit,
                    drain_secs,
                }
            })
            .collect())
    }
}

/// Counts a step's outcomes for `/metrics` (issue 8): `failover` is a failure moved to a
/// fallback channel, `failed` one with nowhere else to go; the four add up to the attempts.
/// Messages one step claims: `[outbox] batch`, or enough to fill every request a channel may have
/// in flight when its requests carry several messages (a provider batch API).
fn claim_size(batch: i64, concurrency: usize, per_request: usize) -> usize {
    (batch.max(1) as usize).max(concurrency.max(1) * per_request.max(1))
}

fn count_outcomes(channel: &str, outcomes: &[Outcome]) {
    let mut counts = [0u64; 4];
    for o in outcomes {
        counts[match (&o.result, &o.failover_to) {
            (SendResult::Sent { .. }, _) => 0,
            (SendResult::Retry { .. }, _) => 1,
            (SendResult::Failed { .. }, None) => 2,
            (SendResult::Failed { .. }, Some(_)) => 3,
        }] += 1;
    }
    for (outcome, n) in ["sent", "retry", "failed", "failover"].into_iter().zip(counts) {
        if n > 0 {
            metrics::counter!(MESSAGES_TOTAL, "channel" => channel.to_string(), "outcome" => outcome).increment(n);
        }
    }
}

/// The span of one gateway request: the message's ids when it carries one message, the first
/// message's and the count for a provider batch.
fn send_span(channel: &str, batch: &[MessageRow]) -> tracing::Span {
    let first = batch.first();
    tracing::info_span!(
        "send",
        channel,
        message_id = first.map(|m| m.id),
        call_id = first.and_then(|m| m.call_id),
        alert_id = first.and_then(|m| m.alert_id),
        messages = batch.len(),
    )
}

/// Sends one provider batch (or one message), asking the provider first about messages whose
/// earlier sender was interrupted mid-send.
async fn send_batch(channel: &dyn Channel, batch: &[MessageRow]) -> Vec<Result<Sent, SendError>> {
    let outgoing: Vec<Outgoing<'_>> = batch
        .iter()
        .map(|m| Outgoing {
            id: m.id,
            to: &m.recipient,
            subject: &m.subject,
            text: &m.body,
            code: m.code.as_deref(),
            link: m.link.as_deref(),
        })
        .collect();
    let mut known: Vec<Option<Sent>> = vec![None; batch.len()];
    for (i, m) in batch.iter().enumerate() {
        if m.last_error.as_deref() == Some(INTERRUPTED_SEND) {
            if let Lookup::Sent(sent) = channel.lookup(&outgoing[i]).await {
                known[i] = Some(sent);
            }
        }
    }
    if known.iter().all(Option::is_none) {
        return if outgoing.len() == 1 {
            vec![channel.send(&outgoing[0]).await]
        } else {
            channel.send_batch(&outgoing).await
        };
    }
    let unsent: Vec<Outgoing<'_>> =
        outgoing.iter().zip(&known).filter(|(_, k)| k.is_none()).map(|(o, _)| o.clone()).collect();
    let mut sent_now = channel.send_batch(&unsent).await.into_iter();
    known
        .into_iter()
        .map(|k| match k {
            Some(sent) => Ok(sent),
            None => sent_now
                .next()
                .unwrap_or_else(|| Err(SendError::Transient("the channel returned too few results".into()))),
        })
        .collect()
}

/// Moves a call forward (pending → sent, sent → delivered) when that is a legal step; a call
/// already further on (answered, escalated) is left alone. False when a concurrent change won
/// the compare-and-set (the caller may try again).
async fn advance_call(
    tx: &mut dyn StoreTx,
    call_id: i64,
    to: CallState,
    actor: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(call) = tx.call(call_id).await? else { return Ok(true) };
    if call.state == to || !call.state.can_become(to) || !matches!(call.state, CallState::Pending | CallState::Sent) {
        return Ok(true);
    }
    let mut after = call.clone();
    after.state = to;
    after.updated_at = now.millis();
    if !tx.update_call(&call, &after).await? {
        return Ok(false);
    }
    tx.insert_event(&NewEvent {
        alert_id: call.alert_id,
        call_id,
        at: now.millis(),
        from_state: Some(call.state),
        to_state: to,
        actor: actor.to_string(),
        via: None,
        note: None,
    })
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::claim_size;

    #[test]
    fn a_batch_channel_claims_enough_to_fill_its_requests() {
        // One message a request: the configured batch.
        assert_eq!(claim_size(256, 32, 1), 256);
        // SendBatchSms, 100 numbers a request, 10 requests in flight: 1 000, not 256.
        assert_eq!(claim_size(256, 10, 100), 1000);
        // Never below the configured batch, never zero.
        assert_eq!(claim_size(256, 1, 100), 256);
        assert_eq!(claim_size(0, 0, 0), 1);
    }
}
