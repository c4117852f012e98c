//! The timer step: every call whose `next_action_at` has come is repeated, escalated or ended,
//! as the planner decides, in one transaction per batch. The database is the only record of
//! timers, so a restart or a second instance picks up exactly where the last step left off.

use std::collections::{HashMap, HashSet};

use jiaoying_core::message::CallReason;
use jiaoying_core::metric_names::SCHEDULER_LATENESS_SECONDS;
use jiaoying_core::planner::{decide, next_up, CallTimer, Decision, Escalating};
use jiaoying_core::{AreaCode, CallState, PersonId, Registry, TierPolicy, Timestamp};
use jiaoying_store::{AlertRow, CallRow, StoreError, StoreTx};
use tracing::Instrument;

use crate::calls::{change_call, open_call, CallSpec};
use crate::context::{Tracker, TrackerError};
use crate::runner::Step;

impl Tracker {
    /// Handles the calls due at `now`. Tests call this directly with a chosen `now`.
    pub async fn timer_step(&self, now: Timestamp) -> Result<Step, TrackerError> {
        // Idle polls (every backstop interval) cost one indexed MIN, not a registry read.
        let next_due = self.store.next_call_due().await?;
        if next_due.is_none_or(|t| t > now.millis()) {
            return Ok(Step::Empty { next_due });
        }
        // The registry is read before the transaction (SQLite: keep the writer short); it is
        // small, and an escalation needs it.
        let registry = self.store.load_registry().await?;
        let mut tx = self.store.begin().await?;
        let due = tx.claim_due_calls(now.millis(), self.config.batch).await?;
        if due.is_empty() {
            drop(tx);
            return Ok(Step::Empty { next_due: self.store.next_call_due().await? });
        }
        let mut alerts: HashMap<i64, AlertRow> = HashMap::new();
        let mut step = DueStep { registry: &registry, called: CalledPersons::default(), now };
        let n = due.len();
        for call in due {
            if let std::collections::hash_map::Entry::Vacant(slot) = alerts.entry(call.alert_id) {
                slot.insert(tx.alert(call.alert_id).await?.ok_or(StoreError::NotFound)?);
            }
            let alert = &alerts[&call.alert_id];
            // How late this call is handled (issue 8): a backlog or a stalled loop shows here.
            let late_ms = (now.millis() - call.next_action_at.unwrap_or(now.millis())).max(0);
            metrics::histogram!(SCHEDULER_LATENESS_SECONDS).record(late_ms as f64 / 1000.0);
            let span = tracing::info_span!("timer_step", call_id = call.id, alert_id = call.alert_id);
            self.handle_due_call(tx.as_mut(), alert, &call, &mut step).instrument(span).await?;
        }
        tx.commit().await?;
        self.wake_all();
        Ok(Step::Done(n))
    }

    async fn handle_due_call(
        &self,
        tx: &mut dyn StoreTx,
        alert: &AlertRow,
        call: &CallRow,
        step: &mut DueStep<'_>,
    ) -> Result<(), StoreError> {
        let (registry, now) = (step.registry, step.now);
        let policy = self.config.policies.for_tier(alert.tier);
        let mut after = call.clone();
        after.updated_at = now.millis();
        let timer = CallTimer {
            state: call.state,
            attempts: call.attempts as u32,
            deadline: Timestamp(call.deadline),
            level: call.level.max(0) as u32,
            unreached: call.unreached,
        };
        let expired = alert.state == "expired" || alert.expires.is_some_and(|e| now.millis() >= e);
        if expired && alert.state == "active" {
            tx.set_alert_state(alert.id, "expired", now.millis()).await?;
        }
        if expired && call.state.can_become(CallState::Expired) {
            // The warning is over: its open calls end quietly, nobody is told, nobody flagged.
            after.state = CallState::Expired;
            after.next_action_at = None;
            change_call(tx, call, &after, "system", Some("expiry"), Some("预警已过期 (alert expired)".into())).await?;
            tx.cancel_queued_messages(call.id).await?;
            return Ok(());
        }
        if alert.state == "active"
            && call.state == CallState::Answered
            && call.directive.is_some()
            && call.done_at.is_none()
        {
            return self.directive_overdue(tx, alert, call, after, registry, now).await;
        }
        let decision = match if alert.state == "active" { decide(now, timer, policy) } else { Decision::Settled } {
            // A scheduled duty's test (通联测试) is never escalated: its unanswered call is unreached.
            Decision::Escalate if crate::duties::is_duty_alert(alert) => Decision::Expire,
            d => d,
        };
        match decision {
            Decision::Settled => {
                after.next_action_at = None;
                tx.update_call(call, &after).await?;
            }
            Decision::WaitUntil(t) => {
                after.next_action_at = Some(t.millis());
                tx.update_call(call, &after).await?;
            }
            Decision::Repeat { attempt, deadline } => {
                after.attempts = attempt as i64;
                after.deadline = deadline.millis();
                after.next_action_at = Some(alert.expires.map_or(deadline.millis(), |e| e.min(deadline.millis())));
                let note = Some(format!("第{attempt}次呼叫 (attempt {attempt})"));
                if change_call(tx, call, &after, "system", Some("repeat"), note).await? {
                    let messages = person_of(registry, &call.person_id)
                        .map(|person| {
                            let compose = |channels: &[String]| {
                                let reason = CallReason::Repeat { attempt };
                                self.config.composer.call_messages(alert, &after, person, reason, channels, now)
                            };
                            // Repeat channels that cannot reach the person (no e-mail for an
                            // e-mail repeat): repeat where the first attempt went instead.
                            let first = compose(policy.repeat_channels());
                            if first.is_empty() {
                                compose(first_channels(policy, call))
                            } else {
                                first
                            }
                        })
                        .unwrap_or_default();
                    for m in &messages {
                        tx.insert_message(m).await?;
                    }
                    if messages.is_empty() {
                        // The person is gone from the registry or has no contact left: no
                        // step waits out a delay for nobody.
                        let mut now_due = after.clone();
                        now_due.deadline = now.millis();
                        now_due.next_action_at = Some(now.millis());
                        let note = Some("重复呼叫无可用联系方式，不再等待 (repeat reaches nobody)".to_string());
                        change_call(tx, &after, &now_due, "system", Some("repeat"), note).await?;
                    }
                }
            }
            Decision::Escalate => self.escalate(tx, alert, call, after, step).await?,
            Decision::Expire => {
                after.state = CallState::Expired;
                after.unreached = true;
                after.next_action_at = None;
                change_call(tx, call, &after, "system", Some("timer"), Some("未应答，不再升级：未叫醒".into())).await?;
            }
        }
        Ok(())
    }

    /// A directive answered but not reported done in time: the unit's administrative and
    /// regulatory responsible persons are told to see it carried out.
    async fn directive_overdue(
        &self,
        tx: &mut dyn StoreTx,
        alert: &AlertRow,
        call: &CallRow,
        mut after: CallRow,
        registry: &Registry,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        after.next_action_at = None;
        let note = Some("熔断措施逾期未报告落实 (directive overdue)".to_string());
        if !change_call(tx, call, &after, "system", Some("directive"), note).await? {
            return Ok(());
        }
        let Some(unit) = call.unit_id.as_deref().and_then(|u| registry.units.iter().find(|x| x.id.as_str() == u))
        else {
            return Ok(());
        };
        let Some((measure, text)) = call.directive.as_deref().and_then(jiaoying_core::directive::parse_stored) else {
            return Ok(());
        };
        let policy = self.config.policies.for_tier(alert.tier);
        let what = jiaoying_core::message::Notice::DirectiveOverdue { unit: &unit.name, measure, text };
        for pid in [&unit.administrative, &unit.regulatory] {
            let Some(person) = registry.person(pid) else { continue };
            for m in self.config.composer.notice_messages(alert, call, person, what.clone(), &policy.channels, now) {
                tx.insert_message(&m).await?;
            }
        }
        Ok(())
    }

    /// Hands an unanswered call on: to the person's superior, else the duty officers on duty now,
    /// else the area's leader (see `next_up`). A person already called in this alert is not
    /// called twice; the call links to theirs.
    async fn escalate(
        &self,
        tx: &mut dyn StoreTx,
        alert: &AlertRow,
        call: &CallRow,
        mut after: CallRow,
        step: &mut DueStep<'_>,
    ) -> Result<(), StoreError> {
        let (registry, now) = (step.registry, step.now);
        let policy = self.config.policies.for_tier(alert.tier);
        after.next_action_at = None;
        let called = step.called.of_alert(tx, alert.id).await?;
        let next = match (PersonId::parse(&call.person_id), AreaCode::parse(&call.area)) {
            (Ok(pid), Ok(area)) => {
                let level = call.level.max(0) as u32;
                let from = Escalating {
                    person: &pid,
                    area: &area,
                    role: call.roles.split(';').next().unwrap_or(""),
                    level,
                    // Past the policy's last level, the chain skips to the duty officers.
                    climb: policy.max_levels.is_none_or(|max| level < max),
                };
                next_up(registry, &from, now, |p| called.contains(p.as_str()))
            }
            _ => None,
        };
        let Some(next) = next else {
            after.state = CallState::Expired;
            after.unreached = true;
            change_call(
                tx,
                call,
                &after,
                "system",
                Some("escalation"),
                Some("无人可升级：未叫醒 (no one left to escalate to)".into()),
            )
            .await?;
            return Ok(());
        };
        // Claim the escalation first: if another step already moved this call, do nothing.
        after.state = CallState::Escalated;
        let who: Vec<&str> = next.persons.iter().map(|p| p.as_str()).collect();
        let note = Some(format!("升级至 {} ({})", who.join(", "), next.role));
        if !change_call(tx, call, &after, "system", Some("escalation"), note).await? {
            return Ok(());
        }
        let caller = person_of(registry, &call.person_id);
        let caller_name = caller.map(|p| p.name.as_str()).unwrap_or(call.person_id.as_str());
        let caller_role = call.roles.split(';').next().unwrap_or("");
        let mut first_target: Option<i64> = None;
        let mut reached = Vec::new();
        for pid in &next.persons {
            let Some(person) = registry.person(pid) else { continue };
            let target = match tx.call_of_person(alert.id, pid.as_str()).await? {
                Some(existing) => {
                    // Already called in this alert: no second call. If they have answered, they
                    // still must hear that someone below them has not.
                    if matches!(existing.state, CallState::Answered | CallState::Done) {
                        let what = jiaoying_core::message::Notice::Unanswered { name: caller_name, role: caller_role };
                        for m in
                            self.config.composer.notice_messages(alert, &existing, person, what, &policy.channels, now)
                        {
                            tx.insert_message(&m).await?;
                        }
                    }
                    existing
                }
                None => {
                    let spec = CallSpec {
                        person,
                        roles: next.role.to_string(),
                        unit_id: call.unit_id.clone(),
                        area: call.area.clone(),
                        level: call.level + 1,
                        escalated_from: Some(call.id),
                        reason: CallReason::Escalated { name: caller_name, role: caller_role },
                        actor: "system",
                        directive: None,
                    };
                    let opened = open_call(tx, &self.config.composer, alert, policy, spec, now, None).await?;
                    called.insert(pid.as_str().to_string());
                    opened
                }
            };
            first_target.get_or_insert(target.id);
            reached.push(target.id);
        }
        let mut linked = after.clone();
        linked.escalated_to = first_target;
        // A call whose own person could not be reached stays flagged, whoever takes it on.
        linked.unreached = call.unreached || !chain_alive(tx, &reached).await?;
        tx.update_call(&after, &linked).await?;
        Ok(())
    }
}

/// What the calls of one timer step share.
struct DueStep<'r> {
    registry: &'r Registry,
    called: CalledPersons,
    now: Timestamp,
}

/// The persons already called in each alert, read once per alert and timer step rather than once
/// per escalation (a storm of escalations in one big alert would otherwise read the alert's every
/// call for each one), and kept up to date with the calls the step opens.
#[derive(Default)]
struct CalledPersons(HashMap<i64, HashSet<String>>);

impl CalledPersons {
    async fn of_alert(&mut self, tx: &mut dyn StoreTx, alert_id: i64) -> Result<&mut HashSet<String>, StoreError> {
        Ok(match self.0.entry(alert_id) {
            std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(tx.calls_of_alert(alert_id).await?.into_iter().map(|c| c.person_id).collect())
            }
        })
    }
}

/// Whether following the escalation links from `start` reaches anyone who is still being called
/// or who has answered (and so knows). When not, the chain has run out: 未叫醒.
async fn chain_alive(tx: &mut dyn StoreTx, start: &[i64]) -> Result<bool, StoreError> {
    let mut seen = std::collections::HashSet::new();
    let mut queue: Vec<i64> = start.to_vec();
    while let Some(id) = queue.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(c) = tx.call(id).await? else { continue };
        if c.state.is_waiting() || matches!(c.state, CallState::Answered | CallState::Done) {
            return Ok(true);
        }
        if let Some(next) = c.escalated_to {
            queue.push(next);
        }
    }
    Ok(false)
}

/// The channels the call's first attempt went out on.
fn first_channels<'p>(policy: &'p TierPolicy, call: &CallRow) -> &'p [String] {
    if call.escalated_from.is_some() {
        policy.escalation_channels()
    } else {
        &policy.channels
    }
}

fn person_of<'r>(registry: &'r Registry, id: &str) -> Option<&'r jiaoying_core::Person> {
    PersonId::parse(id).ok().and_then(|pid| registry.person(&pid))
}
