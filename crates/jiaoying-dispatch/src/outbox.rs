//! The outbox worker: claims due messages under a lease and commits, sends them outside any
//! transaction, then records each outcome with compare-and-set on the lease. A message whose
//! sender died mid-send is claimed again when its lease runs out (at-least-once; our message id
//! goes to the provider so it can deduplicate).

use std::sync::Arc;

use jiaoying_core::{CallState, Clock, Span, Timestamp};
use jiaoying_store::{MessageRow, NewEvent, SendResult, Store, StoreError};
use rand::Rng;
use tokio::task::JoinSet;

use crate::channel::{Channels, Outgoing, SendError};

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// How long a claim lasts before another worker may take the message over.
    pub lease: Span,
    /// Messages claimed per step; they are sent concurrently.
    pub batch: i64,
    /// Attempts before a transiently failing message is given up as failed.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt, with ±20 % jitter, up to `max_backoff`.
    pub base_backoff: Span,
    pub max_backoff: Span,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            lease: Span::from_secs(60),
            batch: 64,
            max_attempts: 8,
            base_backoff: Span::from_secs(2),
            max_backoff: Span::from_mins(5),
        }
    }
}

/// What one step did: messages handled, or nothing due (with the next due time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStep {
    Sent(usize),
    Empty { next_due: Option<i64> },
}

#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    channels: Channels,
    config: OutboxConfig,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, channels: Channels, config: OutboxConfig) -> Self {
        Outbox { store, clock, channels, config }
    }

    pub async fn step(&self, now: Timestamp) -> Result<OutboxStep, StoreError> {
        let lease_until = now.plus(self.config.lease).millis();
        let claimed = self.store.claim_messages(now.millis(), lease_until, self.config.batch).await?;
        if claimed.is_empty() {
            return Ok(OutboxStep::Empty { next_due: self.store.next_message_due().await? });
        }
        let n = claimed.len();
        let mut sends = JoinSet::new();
        for msg in claimed {
            let this = self.clone();
            sends.spawn(async move { this.send_one(msg, lease_until).await });
        }
        while let Some(joined) = sends.join_next().await {
            match joined {
                Ok(Err(e)) => return Err(e),
                Err(e) => tracing::error!(error = %e, "send task panicked"),
                Ok(Ok(())) => {}
            }
        }
        Ok(OutboxStep::Sent(n))
    }

    #[tracing::instrument(skip_all, fields(message_id = msg.id, call_id = msg.call_id, channel = %msg.channel))]
    async fn send_one(&self, msg: MessageRow, lease_until: i64) -> Result<(), StoreError> {
        let result = match self.channels.get(&msg.channel) {
            None => SendResult::Failed { error: format!("no channel named {:?} is configured", msg.channel) },
            Some(channel) => {
                let out = Outgoing {
                    id: msg.id,
                    to: &msg.recipient,
                    subject: &msg.subject,
                    text: &msg.body,
                    code: msg.code.as_deref(),
                    link: msg.link.as_deref(),
                };
                match channel.send(&out).await {
                    Ok(sent) => SendResult::Sent { provider_id: sent.provider_id },
                    Err(SendError::Permanent(error)) => SendResult::Failed { error },
                    Err(SendError::Transient(error)) if msg.attempts >= self.config.max_attempts => {
                        SendResult::Failed { error: format!("gave up after {} attempts: {error}", msg.attempts) }
                    }
                    Err(SendError::Transient(error)) => SendResult::Retry {
                        error,
                        retry_at: self.clock.now().plus(self.backoff(msg.attempts)).millis(),
                    },
                }
            }
        };
        match &result {
            SendResult::Sent { .. } => tracing::info!("message sent"),
            SendResult::Retry { error, .. } => {
                tracing::warn!(error = %error, attempts = msg.attempts, "send failed; will retry")
            }
            SendResult::Failed { error } => tracing::warn!(error = %error, "send failed for good"),
        }
        let now = self.clock.now();
        let recorded = self.store.finish_message(msg.id, lease_until, &result, now.millis()).await?;
        if !recorded {
            // Our lease ran out and another worker took the message over; its outcome stands.
            tracing::warn!("lease lost before the outcome was recorded");
            return Ok(());
        }
        if let (SendResult::Sent { .. }, Some(call_id)) = (&result, msg.call_id) {
            self.advance_call(call_id, CallState::Sent, "dispatch", now).await?;
        }
        Ok(())
    }

    fn backoff(&self, attempts: i64) -> Span {
        let exp = (attempts - 1).clamp(0, 20) as u32;
        let base = self.config.base_backoff.millis().saturating_mul(1i64 << exp).min(self.config.max_backoff.millis());
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        Span::from_millis((base as f64 * jitter) as i64)
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
        if let (true, Some(MessageRow { call_id: Some(call_id), .. })) = (delivered, &row) {
            self.advance_call(*call_id, CallState::Delivered, "gateway", now).await?;
        }
        Ok(row)
    }

    /// Moves a call forward (pending → sent, sent → delivered) when that is a legal step; a call
    /// already further on (answered, escalated) is left alone.
    async fn advance_call(&self, call_id: i64, to: CallState, actor: &str, now: Timestamp) -> Result<(), StoreError> {
        // Retry a lost compare-and-set: a timer step may have repeated the call meanwhile.
        for _ in 0..3 {
            if self.try_advance_call(call_id, to, actor, now).await? {
                break;
            }
        }
        Ok(())
    }

    /// One attempt; false when the call changed under us.
    async fn try_advance_call(
        &self,
        call_id: i64,
        to: CallState,
        actor: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.store.begin().await?;
        let Some(call) = tx.call(call_id).await? else { return Ok(true) };
        if call.state == to || !call.state.can_become(to) || !matches!(call.state, CallState::Pending | CallState::Sent)
        {
            return Ok(true);
        }
        let mut after = call.clone();
        after.state = to;
        after.updated_at = now.millis();
        if !tx.update_call(&call, &after).await? {
            return Ok(false);
        }
        {
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
        }
        tx.commit().await?;
        Ok(true)
    }
}
