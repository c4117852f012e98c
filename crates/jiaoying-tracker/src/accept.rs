//! Accepting an alert: one transaction stores the message, the alert, its calls and their first
//! due actions (timers and queued messages); only after it commits does the API answer `201`.
//! An alert reaching more than a chunk of persons (2 000) commits its first chunk with the alert
//! and the rest in one transaction per chunk, so its first messages go out while the rest are
//! written; the alert stays marked until the last chunk, and a fan-out a stop cut short is
//! finished at the next start (ADR 0020). The API answers after the last chunk.

use jiaoying_core::alert::AlertArea;
use jiaoying_core::alert::Reference;
use jiaoying_core::directive::directive_for;
use jiaoying_core::message::CallReason;
use jiaoying_core::metric_names::ALERTS_TOTAL;
use jiaoying_core::targeting::target;
use jiaoying_core::{AlertKey, CallState, MsgType, NewAlert, PersonId, Tier, Timestamp};
use jiaoying_store::{AlertContent, AlertRow, NewAlertRow, StoreError, StoreTx};
use serde::Serialize;

use crate::calls::{change_call, open_calls, CallSpec, PreparedCalls};
use crate::context::{Tracker, TrackerError};

/// An alert with this many calls is a bulk change: the planner's statistics are refreshed after it.
const BULK_CALLS: usize = 1000;

/// Calls committed per transaction of a big fan-out: the first chunk commits with the alert and
/// goes out while the next are written (ADR 0020). Small enough that the first SMS leaves within
/// tens of milliseconds, big enough that a chunk's fixed cost is small.
pub(crate) const FANOUT_CHUNK: usize = 2000;

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

/// Who ends the calls when a `Cancel` is accepted, as the calls' event log names it: the
/// source's own CAP Cancel (`system`), or a duty officer, with the reason they gave.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CancelledBy<'a> {
    pub actor: &'a str,
    pub reason: Option<&'a str>,
}

impl CancelledBy<'_> {
    /// A Cancel a source sent.
    pub const SOURCE: CancelledBy<'static> = CancelledBy { actor: "system", reason: None };

    /// The note on each ended call: 预警解除, and the officer's reason when there is one.
    fn note(&self) -> String {
        match self.reason {
            Some(r) => format!("预警解除：{r}"),
            None => "预警解除".to_string(),
        }
    }
}

/// Counts an accepted (or repeated) message for `/metrics` (issue 8). Sources are the
/// configured ones (and the board's manual source), so the label set stays small.
fn count_alert(source: &str, a: &Accepted) {
    let result = if a.created { "accepted" } else { "duplicate" };
    tracing::Span::current().record("alert_id", a.id);
    metrics::counter!(ALERTS_TOTAL, "source" => source.to_string(), "tier" => a.tier.as_str(), "result" => result)
        .increment(1);
}

impl Tracker {
    /// Accepts one parsed alert message from `source`. `body` is the message as received, kept
    /// for the record.
    pub async fn accept(&self, alert: &NewAlert, source: &str, body: &str) -> Result<Accepted, AcceptError> {
        self.accept_by(alert, source, body, CancelledBy::SOURCE).await
    }

    /// [`Tracker::accept`], naming who ends the calls if the message is a `Cancel`.
    #[tracing::instrument(name = "accept", skip_all, fields(source = %source, alert_id = tracing::field::Empty))]
    pub(crate) async fn accept_by(
        &self,
        alert: &NewAlert,
        source: &str,
        body: &str,
        by: CancelledBy<'_>,
    ) -> Result<Accepted, AcceptError> {
        // A uniqueness race with a concurrent identical post is a repeat: look again.
        for _ in 0..2 {
            match self.accept_once(alert, source, body, by).await {
                Err(AcceptError::Tracker(TrackerError::Store(StoreError::Conflict(_)))) => continue,
                other => return other,
            }
        }
        self.accept_once(alert, source, body, by).await
    }

    async fn accept_once(
        &self,
        alert: &NewAlert,
        source: &str,
        body: &str,
        by: CancelledBy<'_>,
    ) -> Result<Accepted, AcceptError> {
        // Read the registry before taking the writer: on SQLite the transaction holds the only
        // write connection, so it should do nothing but write.
        let registry = self.store.load_registry().await?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if let Some(id) = tx.alert_id_for_key(&alert.key).await? {
            drop(tx);
            // A source repeating a message whose fan-out a crash cut short: finish it first, so
            // the answer counts every call.
            if self.store.alerts_with_pending_fanout().await?.contains(&id) {
                self.resume_fanout(id).await?;
            }
            return self.summary(id, false).await.inspect(|a| count_alert(source, a));
        }
        // The message's place in the graph: the alerts of the messages it references, and the
        // alerts of messages that referenced it before it came (an Update ahead of its Alert).
        let references: Vec<_> = alert.references.iter().filter(|r| !refers_to(r, &alert.key)).cloned().collect();
        let mut linked = self.referenced_alerts(tx.as_mut(), &references).await?;
        for id in tx.alerts_referencing(&alert.key).await? {
            if !linked.contains(&id) {
                linked.push(id);
            }
        }
        let (alert_id, new_group) = match linked.first() {
            Some(&id) => (id, false),
            None => {
                let state = if alert.calls_people() && alert.msg_type != MsgType::Cancel { "active" } else { "stored" };
                (tx.insert_alert(&new_alert_row(alert, source, state, now)).await?, true)
            }
        };
        // The persons a big fan-out calls after its first chunk has committed.
        let mut rest = Vec::new();
        let mut first_ids = Vec::new();
        let message_id =
            tx.insert_alert_message(alert_id, &alert.key, alert.msg_type.as_str(), body, now.millis()).await?;
        tx.insert_message_references(message_id, &references).await?;
        if alert.calls_people() {
            match alert.msg_type {
                // A Cancel ends every alert it references, not only the one it is filed under.
                MsgType::Cancel => {
                    for id in &linked {
                        let row = tx.lock_alert(*id).await?.ok_or(StoreError::NotFound)?;
                        if row.state == "active" {
                            self.cancel_calls(tx.as_mut(), &row, &registry, now, by).await?;
                            tx.set_fanout_pending(*id, false).await?;
                        }
                    }
                }
                MsgType::Alert | MsgType::Update => {
                    let row = tx.alert(alert_id).await?.ok_or(StoreError::NotFound)?;
                    if new_group {
                        let specs = self.uncalled_specs(tx.as_mut(), &row, &alert.areas, &registry).await?;
                        if specs.len() > self.fanout_chunk() {
                            // A big fan-out: the alert commits first, marked, and every chunk of
                            // calls follows in its own transaction (ADR 0020, 0021).
                            first_ids = tx.reserve_call_ids(self.fanout_chunk()).await?;
                            rest = specs;
                            tx.set_fanout_pending(alert_id, true).await?;
                        } else {
                            self.open_specs(tx.as_mut(), &row, specs, now).await?;
                        }
                    } else if row.state == "active" && alert.key.sent.millis() >= row.content_sent {
                        // The Update calls everyone its content reaches who has no call yet,
                        // which finishes any fan-out still under way.
                        self.apply_update(tx.as_mut(), &row, alert, &registry, now).await?;
                        tx.set_fanout_pending(alert_id, false).await?;
                    }
                    // Else an older message arriving late: kept, and changes nothing.
                }
                _ => {}
            }
        }
        // Counted before the commit: once committed, the timer loop may at once escalate a call
        // nobody can reach, and the answer must say what this message did.
        let mut calls = tx.count_calls(alert_id).await? as usize;
        let tier = tx.alert(alert_id).await?.ok_or(StoreError::NotFound)?.tier;
        tx.commit().await?;
        self.wake_all();
        if !rest.is_empty() {
            let content_sent = alert.key.sent.millis();
            calls += self.continue_fanout(alert_id, content_sent, rest, first_ids, now).await?;
        }
        if calls >= BULK_CALLS {
            self.refresh_statistics_soon();
        }
        let accepted = Accepted { id: alert_id, tier, calls, created: true };
        count_alert(source, &accepted);
        Ok(accepted)
    }

    /// After a big fan-out, the planner's statistics are refreshed in the background (at most one
    /// refresh at a time): the storm of answers that follows must not run on plans made for
    /// empty tables (measured: 808 → 2 546 answers/s on PostgreSQL at 20 000 calls).
    fn refresh_statistics_soon(&self) {
        if self.refreshing_statistics.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.store.refresh_statistics().await {
                tracing::warn!(error = %e, "could not refresh the planner's statistics");
            }
            this.refreshing_statistics.store(false, std::sync::atomic::Ordering::Release);
        });
    }

    /// The alerts holding the referenced messages, in reference order, each once.
    async fn referenced_alerts(&self, tx: &mut dyn StoreTx, refs: &[Reference]) -> Result<Vec<i64>, StoreError> {
        let mut out = Vec::new();
        for r in refs {
            let Some(sent) = r.sent else { continue };
            let key = AlertKey { sender: r.sender.clone(), identifier: r.identifier.clone(), sent };
            if let Some(id) = tx.alert_id_for_key(&key).await? {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    /// An Update of an active alert: its content replaces the alert's; where the tier rose or
    /// the area grew, the newly reached are called and open calls are called again under the
    /// new tier; where nothing rose, those already called get the new text without a deadline.
    async fn apply_update(
        &self,
        tx: &mut dyn StoreTx,
        row: &AlertRow,
        alert: &NewAlert,
        registry: &jiaoying_core::Registry,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let rose = alert.tier > row.tier;
        tx.set_alert_content(
            row.id,
            &AlertContent {
                event: alert.event.clone(),
                tier: alert.tier,
                headline: alert.headline.clone(),
                description: alert.description.clone(),
                instruction: alert.instruction.clone(),
                onset: alert.onset.map(|t| t.millis()),
                expires: alert.expires.map(|t| t.millis()),
                areas: serde_json::to_string(&alert.areas).unwrap_or_else(|_| "[]".into()),
                content_sent: alert.key.sent.millis(),
                now: now.millis(),
            },
        )
        .await?;
        let updated = tx.alert(row.id).await?.ok_or(StoreError::NotFound)?;
        let policy = self.config.policies.for_tier(updated.tier);
        let persons = registry.index_persons();
        let targeted: std::collections::HashSet<String> =
            target(registry, &alert.areas, &policy.roles).into_iter().map(|t| t.person.as_str().to_string()).collect();
        for call in tx.calls_of_alert(row.id).await? {
            // Re-read inside the loop is not needed for notices; for a re-call, a lost
            // compare-and-set (the outbox marked it sent meanwhile) is retried below.
            let Some(person) = PersonId::parse(&call.person_id).ok().and_then(|id| persons.get(&id).copied()) else {
                continue;
            };
            if rose
                && (call.state.is_waiting() || call.state == CallState::Escalated)
                && targeted.contains(&call.person_id)
            {
                // Called again under the new tier: a fresh deadline and its repeats.
                let mut after = call.clone();
                if call.state == CallState::Escalated {
                    // An escalated call stays escalated; its person still hears the new tier.
                    for m in
                        self.config.composer.notice_messages(&updated, &call, person, "升级", &policy.channels, now)
                    {
                        tx.insert_message(&m).await?;
                    }
                    continue;
                }
                after.attempts = 1;
                after.deadline = now.plus(policy.wait_after(call.level as u32, 1)).millis();
                after.next_action_at = Some(after.deadline);
                after.updated_at = now.millis();
                let note = Some(format!("预警升级为{} (tier rose to {})", updated.tier.zh(), updated.tier));
                let mut recalled = change_call(tx, &call, &after, "system", Some("update"), note.clone()).await?;
                if !recalled {
                    if let Some(current) = tx.call(call.id).await?.filter(|c| c.state.is_waiting()) {
                        let mut again = current.clone();
                        again.attempts = 1;
                        again.deadline = after.deadline;
                        again.next_action_at = after.next_action_at;
                        again.updated_at = after.updated_at;
                        recalled = change_call(tx, &current, &again, "system", Some("update"), note).await?;
                        after = again;
                    }
                }
                if recalled {
                    let reason = CallReason::Raised;
                    for m in self.config.composer.call_messages(&updated, &after, person, reason, &policy.channels, now)
                    {
                        tx.insert_message(&m).await?;
                    }
                }
            } else if !rose && !matches!(call.state, CallState::Cancelled | CallState::Expired | CallState::Failed) {
                for m in self.config.composer.notice_messages(&updated, &call, person, "更新", &policy.channels, now)
                {
                    tx.insert_message(&m).await?;
                }
            }
        }
        // The newly reached (a grown area, or roles a higher tier adds).
        self.call_targets(tx, &updated, alert, registry, now).await
    }

    /// The unit persons of reached units that a `[[directives]]` rule binds to a measure.
    fn directive_targets(
        &self,
        registry: &jiaoying_core::Registry,
        areas: &[AlertArea],
        row: &AlertRow,
    ) -> std::collections::HashMap<PersonId, DirectiveTarget> {
        let mut out = std::collections::HashMap::new();
        if self.config.directives.is_empty() {
            return out;
        }
        let unit_role = [jiaoying_core::Role::named(jiaoying_core::Role::UNIT)];
        for t in target(registry, areas, &unit_role) {
            let Some(unit) = t.unit.as_ref().and_then(|u| registry.units.iter().find(|x| &x.id == u)) else { continue };
            if let Some(rule) = directive_for(&self.config.directives, &row.event, row.tier, unit.kind) {
                let target = t.clone();
                out.insert(
                    t.person.clone(),
                    DirectiveTarget { target, stored: rule.stored(), done_within: rule.done_within.millis() },
                );
            }
        }
        out
    }

    /// Calls every target not yet called in this alert, in this transaction.
    async fn call_targets(
        &self,
        tx: &mut dyn StoreTx,
        row: &AlertRow,
        alert: &NewAlert,
        registry: &jiaoying_core::Registry,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let specs = self.uncalled_specs(tx, row, &alert.areas, registry).await?;
        self.open_specs(tx, row, specs, now).await.map(|_| ())
    }

    /// Whom the alert (its tier's roles in `areas`, and the units' persons owed a measure) reaches
    /// and has not called yet.
    async fn uncalled_specs<'r>(
        &self,
        tx: &mut dyn StoreTx,
        row: &AlertRow,
        areas: &[AlertArea],
        registry: &'r jiaoying_core::Registry,
    ) -> Result<Vec<CallSpec<'r>>, StoreError> {
        let policy = self.config.policies.for_tier(row.tier);
        let persons = registry.index_persons();
        let directives = self.directive_targets(registry, areas, row);
        let mut targets = target(registry, areas, &policy.roles);
        // A unit's own responsible person owed a measure is called for it even when the tier's
        // roles would not call them.
        for (pid, d) in &directives {
            if !targets.iter().any(|t| &t.person == pid) {
                targets.push(d.target.clone());
            }
        }
        // Who already has a call in this alert (an Update that widens it): one read, not one per
        // person.
        let mut called: std::collections::HashSet<String> =
            tx.calls_of_alert(row.id).await?.into_iter().map(|c| c.person_id).collect();
        let mut specs = Vec::with_capacity(targets.len());
        for t in targets {
            if !called.insert(t.person.as_str().to_string()) {
                continue;
            }
            let Some(person) = persons.get(&t.person).copied() else { continue };
            let roles: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
            specs.push(CallSpec {
                person,
                roles: roles.join(";"),
                unit_id: t.unit.as_ref().map(|u| u.as_str().to_string()),
                area: t.area.as_str().to_string(),
                level: 0,
                escalated_from: None,
                reason: CallReason::First,
                actor: "system",
                directive: directives.get(&t.person).map(|d| (d.stored.clone(), d.done_within)),
            });
        }
        Ok(specs)
    }

    /// Opens the calls of `specs` (first calls of the alert `row`) in this transaction; returns
    /// how many.
    async fn open_specs(
        &self,
        tx: &mut dyn StoreTx,
        row: &AlertRow,
        specs: Vec<CallSpec<'_>>,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let n = specs.len();
        let policy = self.config.policies.for_tier(row.tier);
        let mut deferred = crate::calls::Deferred::default();
        open_calls(tx, &self.config.composer, row, policy, specs, now, &mut deferred).await?;
        deferred.flush(tx).await?;
        Ok(n)
    }

    /// A big fan-out, a chunk per transaction, each woken out at once. Each chunk is made ready
    /// before its transaction (call ids reserved, codes chosen, messages composed: ADR 0021), so
    /// the writer serves the outbox meanwhile. Stops where an Update (which calls everyone it
    /// reaches itself) or a Cancel took the alert over; skips persons another instance resuming
    /// the same fan-out called first. The last chunk clears the alert's pending mark. Returns how
    /// many calls it opened.
    async fn continue_fanout(
        &self,
        alert_id: i64,
        content_sent: i64,
        specs: Vec<CallSpec<'_>>,
        first_ids: Vec<i64>,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut opened = 0;
        let size = self.fanout_chunk();
        let mut specs = specs.into_iter().peekable();
        // Each chunk's ids were reserved by the transaction before it.
        let mut ids = first_ids;
        while specs.peek().is_some() {
            if ids.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "alert {alert_id}: a fan-out chunk without reserved call ids"
                )));
            }
            let chunk: Vec<CallSpec<'_>> = specs.by_ref().take(size.min(ids.len())).collect();
            let mut ids_of_chunk = std::mem::take(&mut ids);
            ids_of_chunk.truncate(chunk.len());
            let next = specs.len().min(size);
            let taken_over = |row: &AlertRow| row.state != "active" || row.content_sent != content_sent;
            let Some(row) = self.store.alert(alert_id).await? else { return Ok(opened) };
            if taken_over(&row) {
                return Ok(opened);
            }
            let policy = self.config.policies.for_tier(row.tier);
            let persons: Vec<&str> = chunk.iter().map(|c| c.person.id.as_str()).collect();
            let open_codes = self.store.open_reply_codes_now(&persons).await?;
            drop(persons);
            let mut ready =
                PreparedCalls::prepare(&self.config.composer, &row, policy, chunk, ids_of_chunk, open_codes, now);

            let mut tx = self.store.begin().await?;
            let Some(row) = tx.lock_alert(alert_id).await? else { return Ok(opened) };
            if taken_over(&row) {
                return Ok(opened);
            }
            let called: std::collections::HashSet<String> =
                tx.called_persons(alert_id, &ready.persons()).await?.into_iter().collect();
            ready.retain_persons(|p| !called.contains(p));
            let mut deferred = crate::calls::Deferred::default();
            opened += ready.write(tx.as_mut(), &self.config.composer, &row, policy, now, &mut deferred).await?;
            // As many as the outbox has room for are written claimed for it and handed over
            // after the commit, sparing it the claim (ADR 0021); the rest are queued.
            let handoff = self.fanout.handoff.get();
            let claimed = match handoff {
                Some(h) => {
                    let messages = deferred.take_for_handoff(h);
                    tx.insert_messages_claimed(&messages, h.lease_until(now)).await?
                }
                None => Vec::new(),
            };
            deferred.flush(tx.as_mut()).await?;
            if next == 0 {
                tx.set_fanout_pending(alert_id, false).await?;
            } else {
                ids = tx.reserve_call_ids(next).await?;
            }
            tx.commit().await?;
            if let (Some(h), false) = (handoff, claimed.is_empty()) {
                h.give(claimed);
            }
            self.wake_all();
            if self.fanout.stop_after_first.load(std::sync::atomic::Ordering::Relaxed) {
                // Tests: a stop between chunks, as a crash would leave it.
                return Ok(opened);
            }
        }
        Ok(opened)
    }

    fn fanout_chunk(&self) -> usize {
        self.fanout.chunk.load(std::sync::atomic::Ordering::Relaxed).max(1)
    }

    /// Finishes the fan-out of an alert a crash cut short: everyone its stored content reaches
    /// who has no call yet is called now.
    pub async fn resume_fanout(&self, alert_id: i64) -> Result<usize, StoreError> {
        let registry = self.store.load_registry().await?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let Some(row) = tx.lock_alert(alert_id).await? else { return Ok(0) };
        let areas: Vec<AlertArea> = serde_json::from_str(&row.areas)
            .map_err(|e| StoreError::Corrupt(format!("alert {alert_id}'s stored areas: {e}")))?;
        let specs = if row.state == "active" {
            self.uncalled_specs(tx.as_mut(), &row, &areas, &registry).await?
        } else {
            Vec::new()
        };
        if specs.is_empty() {
            tx.set_fanout_pending(alert_id, false).await?;
            tx.commit().await?;
            return Ok(0);
        }
        let first_ids = tx.reserve_call_ids(specs.len().min(self.fanout_chunk())).await?;
        tx.commit().await?;
        tracing::warn!(alert_id, persons = specs.len(), "finishing a fan-out a stop cut short");
        self.continue_fanout(alert_id, row.content_sent, specs, first_ids, now).await
    }

    /// Finishes every fan-out a crash cut short (at start).
    pub async fn resume_fanouts(&self) -> Result<usize, StoreError> {
        let mut opened = 0;
        for id in self.store.alerts_with_pending_fanout().await? {
            opened += self.resume_fanout(id).await?;
        }
        Ok(opened)
    }

    /// A Cancel: every open call ends (each ending logged as `by`'s, with its reason), and
    /// everyone already messaged is told it is lifted (解除).
    async fn cancel_calls(
        &self,
        tx: &mut dyn StoreTx,
        row: &AlertRow,
        registry: &jiaoying_core::Registry,
        now: Timestamp,
        by: CancelledBy<'_>,
    ) -> Result<(), StoreError> {
        let note = by.note();
        let policy = self.config.policies.for_tier(row.tier);
        let persons = registry.index_persons();
        for mut call in tx.calls_of_alert(row.id).await? {
            // Compare-and-set can lose to the outbox marking the call sent meanwhile; the state
            // only moves forward, so re-reading and trying again ends.
            let withdrawn = loop {
                if !call.state.can_become(CallState::Cancelled) {
                    break 0;
                }
                let mut after = call.clone();
                after.state = CallState::Cancelled;
                after.next_action_at = None;
                after.updated_at = now.millis();
                if change_call(tx, &call, &after, by.actor, Some("cancel"), Some(note.clone())).await? {
                    break tx.cancel_queued_messages(call.id).await?;
                }
                match tx.call(call.id).await? {
                    Some(c) => call = c,
                    None => break 0,
                }
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
        content_sent: a.key.sent.millis(),
        now: now.millis(),
    }
}

/// A person owed a control measure, and the measure.
struct DirectiveTarget {
    target: jiaoying_core::targeting::Target,
    stored: String,
    done_within: i64,
}

/// A reference naming the message itself (real feeds do this) is not a link.
fn refers_to(r: &Reference, key: &AlertKey) -> bool {
    r.sender == key.sender && r.identifier == key.identifier && r.sent.is_none_or(|s| s == key.sent)
}
