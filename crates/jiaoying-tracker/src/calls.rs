//! Opening a call inside a transaction: the row, a reply code distinct among the person's open
//! calls, the first attempt's messages, and the event that records it.

use jiaoying_core::message::CallReason;
use jiaoying_core::{CallState, Person, TierPolicy, Timestamp};
use jiaoying_store::{AlertRow, CallRow, NewCall, NewEvent, StoreResult, StoreTx};
use rand::Rng;

use crate::compose::Composer;

pub(crate) struct CallSpec<'a> {
    pub person: &'a Person,
    pub roles: String,
    pub unit_id: Option<String>,
    pub area: String,
    pub level: i64,
    pub escalated_from: Option<i64>,
    pub reason: CallReason<'a>,
    pub actor: &'a str,
    /// A control measure the person must carry out: stored form and its time to report done.
    pub directive: Option<(String, i64)>,
}

/// Writes held back to be done together: a fan-out's first messages and creation events go in a
/// few multi-row statements instead of two statements per person.
#[derive(Default)]
pub(crate) struct Deferred {
    messages: Vec<jiaoying_store::NewMessage>,
    events: Vec<NewEvent>,
}

impl Deferred {
    /// Writes what was held back, in the order it was opened.
    pub(crate) async fn flush(&mut self, tx: &mut dyn StoreTx) -> StoreResult<()> {
        tx.insert_messages(&std::mem::take(&mut self.messages)).await?;
        tx.insert_events(&std::mem::take(&mut self.events)).await
    }
}

/// A 4-digit code the person has on no other open call, so a reply of it is unambiguous.
async fn fresh_reply_code(tx: &mut dyn StoreTx, person_id: &str) -> StoreResult<String> {
    let taken = tx.open_reply_codes(person_id).await?;
    let mut rng = rand::thread_rng();
    loop {
        // 1000..=9999: never a leading zero (some handsets and gateways strip it).
        let code = rng.gen_range(1000..=9999).to_string();
        if !taken.contains(&code) {
            return Ok(code);
        }
    }
}

/// Inserts the call and queues its first attempt. Returns the new row. A person none of the
/// channels can reach is flagged unreached and made due at once.
pub(crate) async fn open_call(
    tx: &mut dyn StoreTx,
    composer: &Composer,
    alert: &AlertRow,
    policy: &TierPolicy,
    spec: CallSpec<'_>,
    now: Timestamp,
    deferred: Option<&mut Deferred>,
) -> StoreResult<CallRow> {
    let code = fresh_reply_code(tx, spec.person.id.as_str()).await?;
    // An escalated call's first attempt waits its level's delay; a direct one the first repeat
    // interval (or `answer_within`).
    let deadline = now.plus(policy.wait_after(spec.level.max(0) as u32, 1)).millis();
    let new = NewCall {
        alert_id: alert.id,
        person_id: spec.person.id.as_str().to_string(),
        roles: spec.roles,
        unit_id: spec.unit_id,
        area: spec.area,
        level: spec.level,
        reply_code: code,
        deadline,
        next_action_at: alert.expires.map_or(deadline, |e| e.min(deadline)),
        escalated_from: spec.escalated_from,
        directive: spec.directive.as_ref().map(|d| d.0.clone()),
        done_within: spec.directive.as_ref().map(|d| d.1),
        now: now.millis(),
    };
    let id = tx.insert_call(&new).await?;
    let call = new.row(id);
    let channels = if spec.escalated_from.is_some() { policy.escalation_channels() } else { &policy.channels };
    let messages = composer.call_messages(alert, &call, spec.person, spec.reason, channels, now);
    let opened = NewEvent {
        alert_id: alert.id,
        call_id: id,
        at: now.millis(),
        from_state: None,
        to_state: CallState::Pending,
        actor: spec.actor.to_string(),
        via: None,
        note: spec.escalated_from.map(|f| format!("escalated from call {f}")),
    };
    match deferred {
        // Held back only when nothing else is written for this call now, so the log keeps its
        // order (an unreached call's flag is logged after its creation).
        Some(d) if !messages.is_empty() => {
            d.messages.extend(messages);
            d.events.push(opened);
            return Ok(call);
        }
        _ => {
            for m in &messages {
                tx.insert_message(m).await?;
            }
            tx.insert_event(&opened).await?;
        }
    }
    if messages.is_empty() {
        // No channel of the policy reaches this person (no e-mail on an e-mail-only policy):
        // flagged unreached at once for the duty officers, and due now, so the timer step
        // escalates (or ends) it without waiting out a deadline for nobody.
        let mut after = call.clone();
        after.unreached = true;
        after.deadline = now.millis();
        after.next_action_at = Some(now.millis());
        after.updated_at = now.millis();
        let note = format!("无可用联系方式：未叫醒 (no contact on {} reaches this person)", channels.join(", "));
        change_call(tx, &call, &after, "system", Some("contact"), Some(note)).await?;
        return Ok(after);
    }
    Ok(call)
}

/// Writes `after` over `before` (compare-and-set) and logs the transition when the state moved.
pub(crate) async fn change_call(
    tx: &mut dyn StoreTx,
    before: &CallRow,
    after: &CallRow,
    actor: &str,
    via: Option<&str>,
    note: Option<String>,
) -> StoreResult<bool> {
    if !tx.update_call(before, after).await? {
        return Ok(false);
    }
    if before.state != after.state || note.is_some() {
        tx.insert_event(&NewEvent {
            alert_id: after.alert_id,
            call_id: after.id,
            at: after.updated_at,
            from_state: Some(before.state),
            to_state: after.state,
            actor: actor.to_string(),
            via: via.map(str::to_string),
            note,
        })
        .await?;
    }
    Ok(true)
}
