//! Duty officers' actions beyond answering and escalating a call: re-call now, cancel an alert
//! with a reason, and a manual warning (received by phone or fax). Each is recorded with the
//! officer's label: on the call's event log, or, for a whole alert, in `alert_actions`.

use jiaoying_core::alert::{AlertArea, Reference};
use jiaoying_core::message::CallReason;
use jiaoying_core::{AlertKey, AlertStatus, CallState, MsgType, NewAlert, PersonId, Registry, Timestamp};
use jiaoying_store::{NewAlertAction, StoreError};
use serde::Serialize;

use crate::accept::{AcceptError, CancelledBy};
use crate::calls::change_call;
use crate::context::{Tracker, TrackerError};

/// The source of alerts a duty officer enters by hand.
pub const MANUAL_SOURCE: &str = "duty_officer";

/// Whether a call in `state` can be called again: still waiting for its person, or escalated
/// (its person may still answer late).
pub fn recallable(state: CallState) -> bool {
    state.is_waiting() || state == CallState::Escalated
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RecallOutcome {
    /// The messages are queued; `attempt` is the attempt they make, `deadline` the new one.
    Recalled {
        call_id: i64,
        attempt: i64,
        deadline: i64,
        messages: usize,
    },
    /// Answered, done, or ended: nothing was sent.
    Refused {
        call_id: i64,
        state: CallState,
    },
    /// The alert is no longer active (cancelled, expired).
    AlertEnded {
        call_id: i64,
        alert_state: String,
    },
    /// No channel of the policy reaches the person any more.
    NoContact {
        call_id: i64,
    },
    NotFound {
        call_id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CancelOutcome {
    /// Every open call ended; those already called are told it is lifted.
    Cancelled {
        alert_id: i64,
        calls_ended: usize,
    },
    /// Already cancelled, expired or never calling anyone: nothing changed.
    NotActive {
        alert_id: i64,
        state: String,
    },
    NotFound {
        alert_id: i64,
    },
}

/// Why a manual warning was refused (nothing is stored).
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Tracker(#[from] TrackerError),
}

impl From<StoreError> for ManualError {
    fn from(e: StoreError) -> Self {
        ManualError::Tracker(TrackerError::Store(e))
    }
}

impl From<AcceptError> for ManualError {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::Tracker(t) => ManualError::Tracker(t),
        }
    }
}

impl Tracker {
    /// Re-call now: the call's message goes out again at once, as the timer's repeat would (the
    /// next attempt, its deadline from now), without waiting for the timer. `actor` is the
    /// officer's label.
    pub async fn recall_now(&self, call_id: i64, actor: &str) -> Result<RecallOutcome, TrackerError> {
        let registry = self.store.load_registry().await?;
        let registry: &Registry = &registry;
        // A lost compare-and-set (the outbox marked the call sent meanwhile) is read again.
        for _ in 0..5 {
            let now = self.clock.now();
            let mut tx = self.store.begin().await?;
            let Some(call) = tx.call(call_id).await? else { return Ok(RecallOutcome::NotFound { call_id }) };
            if !recallable(call.state) {
                return Ok(RecallOutcome::Refused { call_id, state: call.state });
            }
            let alert = tx.alert(call.alert_id).await?.ok_or(StoreError::NotFound)?;
            if alert.state != "active" {
                return Ok(RecallOutcome::AlertEnded { call_id, alert_state: alert.state });
            }
            let Some(person) = PersonId::parse(&call.person_id).ok().and_then(|p| registry.person(&p)) else {
                return Ok(RecallOutcome::NoContact { call_id });
            };
            let policy = self.config.policies.for_tier(alert.tier);
            let attempt = call.attempts + 1;
            let mut after = call.clone();
            after.attempts = attempt;
            after.updated_at = now.millis();
            if call.state.is_waiting() {
                // A waiting call gets the repeat's fresh deadline; an escalated one has handed
                // its timer on and keeps none.
                let deadline = now.plus(policy.wait_after(call.level.max(0) as u32, attempt as u32)).millis();
                after.deadline = deadline;
                after.next_action_at = Some(alert.expires.map_or(deadline, |e| e.min(deadline)));
            }
            let reason = CallReason::Repeat { attempt: attempt as u32 };
            let compose =
                |channels: &[String]| self.config.composer.call_messages(&alert, &after, person, reason, channels, now);
            let mut messages = compose(policy.repeat_channels());
            if messages.is_empty() {
                let first = if call.escalated_from.is_some() { policy.escalation_channels() } else { &policy.channels };
                messages = compose(first);
            }
            if messages.is_empty() {
                return Ok(RecallOutcome::NoContact { call_id });
            }
            let note = Some(format!("值班员重新呼叫，第{attempt}次 (re-called by a duty officer, attempt {attempt})"));
            if !change_call(tx.as_mut(), &call, &after, actor, Some("recall"), note).await? {
                continue;
            }
            for m in &messages {
                tx.insert_message(m).await?;
            }
            tx.commit().await?;
            self.wake_all();
            return Ok(RecallOutcome::Recalled {
                call_id,
                attempt,
                deadline: after.deadline,
                messages: messages.len(),
            });
        }
        match self.store.call(call_id).await? {
            Some(c) => Ok(RecallOutcome::Refused { call_id, state: c.state }),
            None => Ok(RecallOutcome::NotFound { call_id }),
        }
    }

    /// Cancels an alert as a CAP `Cancel` would (the same path: every open call ends and those
    /// already called are told it is lifted, 解除), and records who did it and why.
    pub async fn cancel_alert(&self, alert_id: i64, actor: &str, reason: &str) -> Result<CancelOutcome, TrackerError> {
        let Some(alert) = self.store.alert(alert_id).await? else { return Ok(CancelOutcome::NotFound { alert_id }) };
        if alert.state != "active" {
            return Ok(CancelOutcome::NotActive { alert_id, state: alert.state });
        }
        let messages = self.store.alert_messages_of(alert_id).await?;
        let Some(first) = messages.first() else {
            return Ok(CancelOutcome::NotActive { alert_id, state: alert.state });
        };
        let open_before = self.open_calls(alert_id).await?;
        let now = self.clock.now();
        let status = if alert.is_drill() { AlertStatus::Exercise } else { AlertStatus::Actual };
        let cancel = NewAlert {
            key: AlertKey {
                sender: actor.to_string(),
                identifier: format!("cancel-{alert_id}-{}-{}", now.millis(), rand::random::<u32>()),
                sent: now,
            },
            msg_type: MsgType::Cancel,
            status,
            references: vec![Reference {
                sender: first.sender.clone(),
                identifier: first.identifier.clone(),
                sent: Some(Timestamp(first.sent)),
            }],
            event: alert.event.clone(),
            tier: alert.tier,
            headline: alert.headline.clone(),
            description: reason.to_string(),
            instruction: String::new(),
            onset: None,
            expires: None,
            areas: Vec::new(),
        };
        let body = serde_json::json!({"cancel": alert_id, "by": actor, "reason": reason}).to_string();
        // Each call it ends is logged as the officer's, with the reason.
        let by = CancelledBy { actor, reason: Some(reason) };
        self.accept_by(&cancel, MANUAL_SOURCE, &body, by).await.map_err(|e| match e {
            AcceptError::Tracker(t) => t,
        })?;
        self.store
            .insert_alert_action(&NewAlertAction {
                alert_id,
                at: now.millis(),
                actor: actor.to_string(),
                action: "cancel".into(),
                note: Some(reason.to_string()),
            })
            .await?;
        let open_after = self.open_calls(alert_id).await?;
        Ok(CancelOutcome::Cancelled { alert_id, calls_ended: open_before.saturating_sub(open_after) })
    }

    async fn open_calls(&self, alert_id: i64) -> Result<usize, StoreError> {
        let counts = self.store.call_counts(&[alert_id]).await?;
        Ok(counts.iter().filter(|c| c.state.can_become(CallState::Cancelled)).map(|c| c.n as usize).sum())
    }

    /// A manual warning (by phone or fax): checked against the registry (every area code must be
    /// registered), then accepted like any alert from [`MANUAL_SOURCE`], and recorded as the
    /// officer's action. `alert` comes from the JSON ingest path; `body` is kept as received.
    pub async fn manual_alert(
        &self,
        alert: &NewAlert,
        actor: &str,
        body: &str,
    ) -> Result<crate::Accepted, ManualError> {
        if alert.areas.is_empty() {
            return Err(ManualError::Invalid("areas: name at least one registered area code".into()));
        }
        let registry = self.store.load_registry().await?;
        let registry: &Registry = &registry;
        for a in &alert.areas {
            match a {
                AlertArea::Code(c) if registry.areas.iter().any(|x| &x.code == c) => {}
                AlertArea::Code(c) => {
                    return Err(ManualError::Invalid(format!("areas: {c} is not an area of the registry")))
                }
                _ => return Err(ManualError::Invalid("areas: a manual warning names registered area codes".into())),
            }
        }
        let accepted = self.accept(alert, MANUAL_SOURCE, body).await?;
        if accepted.created {
            self.store
                .insert_alert_action(&NewAlertAction {
                    alert_id: accepted.id,
                    at: self.clock.now().millis(),
                    actor: actor.to_string(),
                    action: "manual".into(),
                    note: Some(alert.headline.clone()),
                })
                .await?;
        }
        Ok(accepted)
    }
}
