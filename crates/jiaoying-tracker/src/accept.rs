//! Accepting an alert: one transaction stores the message, the alert, its calls and their first
//! due actions (timers and queued messages); only after it commits does the API answer `201`.

use jiaoying_core::message::CallReason;
use jiaoying_core::targeting::target_by_codes;
use jiaoying_core::{CallState, MsgType, NewAlert, Tier, Timestamp};
use jiaoying_store::{AlertRow, NewAlertRow, StoreError, StoreTx};
use serde::Serialize;

use crate::calls::{change_call, open_call, CallSpec};
use crate::context::{Tracker, TrackerError};

/// The API's answer to an accepted (or repeated) message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The alert the message belongs to.
    pub id: i64,
    pub tier: Tier,
    /// The alert's calls, all of them.
    pub calls: usize,
    /// False when the same (sender, identifier, sent) was taken before: nothing was done.
    #[serde(skip)]
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Tracker(#[from] TrackerError),
}

impl From<StoreError> for AcceptError {
    fn from(e: StoreError) -> Self {
        AcceptError::Tracker(TrackerError::Store(e))
    }
}

impl Tracker {
    /// Accepts one parsed alert message from `source`. `body` is the message as received, kept
    /// for the record.
    pub async fn accept(&self, alert: &NewAlert, source: &str, body: &str) -> Result<Accepted, AcceptError> {
        // A uniqueness race with a concurrent identical post is a repeat: look again.
        for _ in 0..2 {
            match self.accept_once(alert, source, body).await {
                Err(AcceptError::Tracker(TrackerError::Store(StoreError::Conflict(_)))) => continue,
                other => return other,
            }
        }
        self.accept_once(alert, source, body).await
    }

    async fn accept_once(&self, alert: &NewAlert, source: &str, body: &str) -> Result<Accepted, AcceptError> {
        // Read the registry before taking the writer: on SQLite the transaction holds the only
        // write connection, so it should do nothing but write.
        let registry = self.store.load_registry().await?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if let Some(id) = tx.alert_id_for_key(&alert.key).await? {
            drop(tx);
            return self.summary(id, false).await;
        }
        let referenced = self.referenced_alert(tx.as_mut(), alert).await?;
        let alert_id = match (alert.msg_type, referenced) {
            (MsgType::Update | MsgType::Cancel | MsgType::Ack | MsgType::Error, Some(existing)) => existing,
            _ => {
                let state = if alert.calls_people() && alert.msg_type != MsgType::Cancel { "active" } else { "stored" };
                tx.insert_alert(&new_alert_row(alert, source, state, now)).await?
            }
        };
        tx.insert_alert_message(alert_id, &alert.key, alert.msg_type.as_str(), body, now.millis()).await?;
        let row = tx.alert(alert_id).await?.ok_or(StoreError::NotFound)?;
        if alert.calls_people() {
            match alert.msg_type {
                MsgType::Cancel if row.state == "active" => {
                    self.cancel_calls(tx.as_mut(), &row, &registry, now).await?
                }
                MsgType::Alert | MsgType::Update if row.state == "active" => {
                    self.call_targets(tx.as_mut(), &row, alert, &registry, now).await?
                }
                _ => {}
            }
        }
        tx.commit().await?;
        self.wake_all();
        self.summary(alert_id, true).await
    }

    /// The alert an Update, Cancel, Ack or Error belongs to: the first of its references that
    /// we hold.
    async fn referenced_alert(&self, tx: &mut dyn StoreTx, alert: &NewAlert) -> Result<Option<i64>, StoreError> {
        for r in &alert.references {
            let Some(sent) = r.sent else { continue };
            let key = jiaoying_core::AlertKey { sender: r.sender.clone(), identifier: r.identifier.clone(), sent };
            if let Some(id) = tx.alert_id_for_key(&key).await? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Calls every target not yet called in this alert (for an Update: the newly reached).
    async fn call_targets(
        &self,
        tx: &mut dyn StoreTx,
        row: &AlertRow,
        alert: &NewAlert,
        registry: &jiaoying_core::Registry,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let policy = self.config.policies.for_tier(alert.tier);
        let persons = registry.index_persons();
        for t in target_by_codes(registry, &alert.area_codes(), &policy.roles) {
            if tx.call_of_person(row.id, t.person.as_str()).await?.is_some() {
                continue;
            }
            let Some(person) = persons.get(&t.person) else { continue };
            let roles: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
            let spec = CallSpec {
                person,
                roles: roles.join(";"),
                unit_id: t.unit.as_ref().map(|u| u.as_str().to_string()),
                area: t.area.as_str().to_string(),
                level: 0,
                escalated_from: None,
                reason: CallReason::First,
                actor: "system",
            };
            open_call(tx, &self.config.composer, row, policy, spec, now).await?;
        }
        Ok(())
    }

    /// A Cancel: every open call ends, and everyone already messaged is told it is lifted (解除).
    async fn cancel_calls(
        &self,
        tx: &mut dyn StoreTx,
        row: &AlertRow,
        registry: &jiaoying_core::Registry,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let policy = self.config.policies.for_tier(row.tier);
        let persons = registry.index_persons();
        for call in tx.calls_of_alert(row.id).await? {
            let withdrawn = if call.state.can_become(CallState::Cancelled) {
                let mut after = call.clone();
                after.state = CallState::Cancelled;
                after.next_action_at = None;
                after.updated_at = now.millis();
                change_call(tx, &call, &after, "system", Some("cancel"), Some("预警解除".into())).await?;
                tx.cancel_queued_messages(call.id).await?
            } else {
                0
            };
            // A call whose only message was withdrawn before it went out was never heard of.
            let was_told = !(call.state == CallState::Pending && call.attempts == 1 && withdrawn > 0);
            let person = jiaoying_core::PersonId::parse(&call.person_id).ok().and_then(|id| persons.get(&id).copied());
            if let (true, Some(person)) = (was_told, person) {
                for m in self.config.composer.notice_messages(row, &call, person, "已解除", &policy.channels, now) {
                    tx.insert_message(&m).await?;
                }
            }
        }
        tx.set_alert_state(row.id, "cancelled", now.millis()).await?;
        Ok(())
    }

    async fn summary(&self, id: i64, created: bool) -> Result<Accepted, AcceptError> {
        let alert = self.store.alert(id).await?.ok_or(StoreError::NotFound)?;
        let counts = self.store.call_counts(&[id]).await?;
        let calls = counts.iter().map(|c| c.n as usize).sum();
        Ok(Accepted { id, tier: alert.tier, calls, created })
    }
}

fn new_alert_row(a: &NewAlert, source: &str, state: &str, now: Timestamp) -> NewAlertRow {
    NewAlertRow {
        source: source.to_string(),
        status: a.status.as_str().to_string(),
        msg_type: a.msg_type.as_str().to_string(),
        event: a.event.clone(),
        tier: a.tier,
        headline: a.headline.clone(),
        description: a.description.clone(),
        instruction: a.instruction.clone(),
        onset: a.onset.map(|t| t.millis()),
        expires: a.expires.map(|t| t.millis()),
        areas: serde_json::to_string(&a.areas).unwrap_or_else(|_| "[]".into()),
        state: state.to_string(),
        now: now.millis(),
    }
}
