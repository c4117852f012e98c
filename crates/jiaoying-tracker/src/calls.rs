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
    /// Takes the messages `handoff` has room for, per channel, in the order held; the rest stay
    /// to be queued.
    pub(crate) fn take_for_handoff(&mut self, handoff: &jiaoying_dispatch::Handoff) -> Vec<jiaoying_store::NewMessage> {
        let mut room: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let (mut taken, mut kept) = (Vec::new(), Vec::new());
        for m in std::mem::take(&mut self.messages) {
            let left = room.entry(m.channel.clone()).or_insert_with(|| handoff.room(&m.channel));
            if *left > 0 {
                *left -= 1;
                taken.push(m);
            } else {
                kept.push(m);
            }
        }
        self.messages = kept;
        taken
    }

    /// Writes what was held back, in the order it was opened.
    pub(crate) async fn flush(&mut self, tx: &mut dyn StoreTx) -> StoreResult<()> {
        tx.insert_messages(&std::mem::take(&mut self.messages)).await?;
        tx.insert_events(&std::mem::take(&mut self.events)).await
    }
}

/// A 4-digit code not in `taken`, so a reply of it is unambiguous among the person's open calls.
fn fresh_reply_code(taken: &[String]) -> String {
    let mut rng = rand::thread_rng();
    loop {
        // 1000..=9999: never a leading zero (some handsets and gateways strip it).
        let code = rng.gen_range(1000..=9999).to_string();
        if !taken.contains(&code) {
            return code;
        }
    }
}

/// Inserts the call and queues its first attempt. Returns the new row. A person none of the
/// channels can reach is flagged unreached and made due at once. With `deferred`, the messages
/// and the creation event are held back for the caller to write together with others.
pub(crate) async fn open_call(
    tx: &mut dyn StoreTx,
    composer: &Composer,
    alert: &AlertRow,
    policy: &TierPolicy,
    spec: CallSpec<'_>,
    now: Timestamp,
    deferred: Option<&mut Deferred>,
) -> StoreResult<CallRow> {
    let mut own = Deferred::default();
    let held = deferred.is_some();
    let d = deferred.unwrap_or(&mut own);
    let mut rows = open_calls(tx, composer, alert, policy, vec![spec], now, d).await?;
    if !held {
        own.flush(tx).await?;
    }
    Ok(rows.pop().expect("one spec, one call"))
}

/// Opens many calls of one alert (a fan-out) in a few statements: the persons' open reply codes in
/// one read, the calls in multi-row inserts, their messages and creation events held in
/// `deferred`. Returns the rows in the order of `specs`.
pub(crate) async fn open_calls(
    tx: &mut dyn StoreTx,
    composer: &Composer,
    alert: &AlertRow,
    policy: &TierPolicy,
    specs: Vec<CallSpec<'_>>,
    now: Timestamp,
    deferred: &mut Deferred,
) -> StoreResult<Vec<CallRow>> {
    let persons: Vec<&str> = specs.iter().map(|s| s.person.id.as_str()).collect();
    let mut taken = taken_codes(tx.open_reply_codes_of(&persons).await?);
    let new_calls: Vec<NewCall> = specs.iter().map(|spec| new_call(alert, policy, spec, &mut taken, now)).collect();
    let ids = tx.insert_calls(&new_calls).await?;
    let mut rows = Vec::with_capacity(specs.len());
    for ((spec, new), id) in specs.iter().zip(&new_calls).zip(ids) {
        let call = new.row(id);
        let (messages, event) = opening(composer, alert, policy, spec, &call, now);
        rows.push(record_opening(tx, policy, spec, call, messages, event, now, deferred).await?);
    }
    Ok(rows)
}

/// Per person, the reply codes their open calls hold (and, as a batch is opened, the new ones).
type TakenCodes = std::collections::HashMap<String, Vec<String>>;

fn taken_codes(open: Vec<(String, String)>) -> TakenCodes {
    let mut taken = TakenCodes::new();
    for (person, code) in open {
        taken.entry(person).or_default().push(code);
    }
    taken
}

/// The row of a new call for `spec`, with a reply code not in the person's `taken` codes (and
/// added to them, so two calls of one person in the same batch get different codes too).
fn new_call(
    alert: &AlertRow,
    policy: &TierPolicy,
    spec: &CallSpec<'_>,
    taken: &mut TakenCodes,
    now: Timestamp,
) -> NewCall {
    let person = spec.person.id.as_str();
    let codes = taken.entry(person.to_string()).or_default();
    let code = fresh_reply_code(codes);
    codes.push(code.clone());
    // An escalated call's first attempt waits its level's delay; a direct one the first repeat
    // interval (or `answer_within`).
    let deadline = now.plus(policy.wait_after(spec.level.max(0) as u32, 1)).millis();
    NewCall {
        alert_id: alert.id,
        person_id: person.to_string(),
        roles: spec.roles.clone(),
        unit_id: spec.unit_id.clone(),
        area: spec.area.clone(),
        level: spec.level,
        reply_code: code,
        deadline,
        next_action_at: alert.expires.map_or(deadline, |e| e.min(deadline)),
        escalated_from: spec.escalated_from,
        directive: spec.directive.as_ref().map(|d| d.0.clone()),
        done_within: spec.directive.as_ref().map(|d| d.1),
        now: now.millis(),
    }
}

/// The channels a call for `spec` goes out on.
fn channels_of<'p>(policy: &'p TierPolicy, spec: &CallSpec<'_>) -> &'p [String] {
    if spec.escalated_from.is_some() {
        policy.escalation_channels()
    } else {
        &policy.channels
    }
}

/// A new call's first messages (none when no channel reaches the person) and its creation event.
fn opening(
    composer: &Composer,
    alert: &AlertRow,
    policy: &TierPolicy,
    spec: &CallSpec<'_>,
    call: &CallRow,
    now: Timestamp,
) -> (Vec<jiaoying_store::NewMessage>, NewEvent) {
    let messages = composer.call_messages(alert, call, spec.person, spec.reason, channels_of(policy, spec), now);
    let opened = NewEvent {
        alert_id: alert.id,
        call_id: call.id,
        at: now.millis(),
        from_state: None,
        to_state: CallState::Pending,
        actor: spec.actor.to_string(),
        via: None,
        note: spec.escalated_from.map(|f| format!("escalated from call {f}")),
    };
    (messages, opened)
}

/// Records a call just inserted: its messages and creation event held in `deferred`, or, where no
/// channel of the policy reaches the person, the call flagged unreached. Returns its row.
#[allow(clippy::too_many_arguments)]
async fn record_opening(
    tx: &mut dyn StoreTx,
    policy: &TierPolicy,
    spec: &CallSpec<'_>,
    call: CallRow,
    messages: Vec<jiaoying_store::NewMessage>,
    opened: NewEvent,
    now: Timestamp,
    deferred: &mut Deferred,
) -> StoreResult<CallRow> {
    if !messages.is_empty() {
        deferred.messages.extend(messages);
        deferred.events.push(opened);
        return Ok(call);
    }
    // No channel of the policy reaches this person (no e-mail on an e-mail-only policy): flagged
    // unreached at once for the duty officers, and due now, so the timer step escalates (or ends)
    // it without waiting out a deadline for nobody. Its creation is logged now, so the log keeps
    // its order (creation before the flag).
    tx.insert_event(&opened).await?;
    let mut after = call.clone();
    after.unreached = true;
    after.deadline = now.millis();
    after.next_action_at = Some(now.millis());
    after.updated_at = now.millis();
    let note =
        format!("无可用联系方式：未叫醒 (no contact on {} reaches this person)", channels_of(policy, spec).join(", "));
    change_call(tx, &call, &after, "system", Some("contact"), Some(note)).await?;
    Ok(after)
}

/// A chunk of a big fan-out made ready before its transaction (ADR 0021): call ids reserved, reply
/// codes chosen against the persons' open codes as committed, every message composed. Composing
/// is the chunk's CPU work; done inside the transaction it held the database's only writer
/// (SQLite) idle while the outbox waited for it.
pub(crate) struct PreparedCalls<'a> {
    specs: Vec<CallSpec<'a>>,
    calls: Vec<NewCall>,
    ids: Vec<i64>,
    openings: Vec<(Vec<jiaoying_store::NewMessage>, NewEvent)>,
}

impl<'a> PreparedCalls<'a> {
    /// Composes `specs` under `ids` (one each), codes kept apart from `open_codes`.
    pub(crate) fn prepare(
        composer: &Composer,
        alert: &AlertRow,
        policy: &TierPolicy,
        specs: Vec<CallSpec<'a>>,
        ids: Vec<i64>,
        open_codes: Vec<(String, String)>,
        now: Timestamp,
    ) -> Self {
        let mut taken = taken_codes(open_codes);
        let calls: Vec<NewCall> = specs.iter().map(|spec| new_call(alert, policy, spec, &mut taken, now)).collect();
        let openings = specs
            .iter()
            .zip(&calls)
            .zip(&ids)
            .map(|((spec, new), id)| opening(composer, alert, policy, spec, &new.row(*id), now))
            .collect();
        PreparedCalls { specs, calls, ids, openings }
    }

    /// Keeps the calls of the persons `keep` accepts.
    pub(crate) fn retain_persons(&mut self, keep: impl Fn(&str) -> bool) {
        let kept: Vec<bool> = self.calls.iter().map(|c| keep(&c.person_id)).collect();
        // The four lists are parallel (the store takes the calls and ids as slices of their own).
        fn retain<T>(v: &mut Vec<T>, kept: &[bool]) {
            let mut k = kept.iter();
            v.retain(|_| *k.next().unwrap_or(&false));
        }
        retain(&mut self.specs, &kept);
        retain(&mut self.calls, &kept);
        retain(&mut self.ids, &kept);
        retain(&mut self.openings, &kept);
    }

    pub(crate) fn persons(&self) -> Vec<&str> {
        self.calls.iter().map(|c| c.person_id.as_str()).collect()
    }

    /// Writes the chunk in `tx`: a code another call of the person took since it was chosen is
    /// chosen again (and its messages composed again); then the calls under their reserved ids,
    /// their messages and creation events held in `deferred`. Returns how many calls it opened.
    pub(crate) async fn write(
        mut self,
        tx: &mut dyn StoreTx,
        composer: &Composer,
        alert: &AlertRow,
        policy: &TierPolicy,
        now: Timestamp,
        deferred: &mut Deferred,
    ) -> StoreResult<usize> {
        let persons = self.persons();
        let mut taken = taken_codes(tx.open_reply_codes_of(&persons).await?);
        drop(persons);
        let clashing: Vec<usize> = (0..self.calls.len())
            .filter(|&i| {
                taken.get(&self.calls[i].person_id).is_some_and(|codes| codes.contains(&self.calls[i].reply_code))
            })
            .collect();
        if !clashing.is_empty() {
            // The chunk's own codes are taken too, so a person's calls in it stay apart.
            for c in &self.calls {
                taken.entry(c.person_id.clone()).or_default().push(c.reply_code.clone());
            }
            for i in clashing {
                self.calls[i] = new_call(alert, policy, &self.specs[i], &mut taken, now);
                self.openings[i] =
                    opening(composer, alert, policy, &self.specs[i], &self.calls[i].row(self.ids[i]), now);
            }
        }
        tx.insert_calls_with_ids(&self.calls, &self.ids).await?;
        let n = self.calls.len();
        for (((spec, new), id), (messages, event)) in
            self.specs.iter().zip(&self.calls).zip(&self.ids).zip(self.openings)
        {
            record_opening(tx, policy, spec, new.row(*id), messages, event, now, deferred).await?;
        }
        Ok(n)
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jiaoying_core::{AreaCode, MobileNumber, PersonId, Policies, Role, Tier};
    use jiaoying_dispatch::AddressKind;
    use jiaoying_store::{NewAlertRow, Store};

    use super::*;

    fn person(id: &str, mobile: &str) -> Person {
        Person {
            id: PersonId::parse(id).unwrap(),
            name: format!("网格员{id}"),
            mobile: MobileNumber::parse(mobile).unwrap(),
            email: None,
            roles: vec![Role::parse("grid").unwrap()],
            area: AreaCode::parse("500105002").unwrap(),
            superior: None,
        }
    }

    fn spec(p: &Person) -> CallSpec<'_> {
        CallSpec {
            person: p,
            roles: "grid".into(),
            unit_id: None,
            area: "500105002".into(),
            level: 0,
            escalated_from: None,
            reason: CallReason::First,
            actor: "system",
            directive: None,
        }
    }

    async fn alert(store: &dyn Store, identifier: &str, now: i64) -> AlertRow {
        let mut tx = store.begin().await.unwrap();
        let id = tx
            .insert_alert(&NewAlertRow {
                source: "test".into(),
                status: "Actual".into(),
                msg_type: "Alert".into(),
                event: "暴雨".into(),
                tier: Tier::Red,
                headline: format!("暴雨红色预警 {identifier}"),
                description: "".into(),
                instruction: "".into(),
                onset: None,
                expires: None,
                areas: "[]".into(),
                state: "active".into(),
                content_sent: now,
                now,
            })
            .await
            .unwrap();
        let row = tx.alert(id).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        row
    }

    /// A chunk composed before its transaction chose its codes against the open codes as they
    /// were; a call of the same person that took the chosen code in between (another alert's,
    /// committed meanwhile) makes the chunk choose again inside the transaction, and compose the
    /// messages again with the new code.
    #[tokio::test]
    async fn a_code_taken_after_composing_is_chosen_again_inside_the_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = jiaoying_store::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        store.migrate().await.unwrap();
        let now = Timestamp::from_millis(1_700_000_000_000);
        let composer = Composer::new(
            jiaoying_core::token::TokenSigner::new(b"test-secret-test-secret"),
            "https://jy.example.org",
            "观音桥街道",
            BTreeMap::from([("sms".to_string(), AddressKind::Mobile)]),
        );
        let policies = Policies::new(BTreeMap::new(), &["sms".to_string()]);
        let policy = policies.for_tier(Tier::Red);
        let (a, b) = (person("p-a", "13800000001"), person("p-b", "13800000002"));
        let first = alert(store.as_ref(), "one", now.millis()).await;
        let second = alert(store.as_ref(), "two", now.millis()).await;

        let mut tx = store.begin().await.unwrap();
        let ids = tx.reserve_call_ids(2).await.unwrap();
        tx.commit().await.unwrap();
        let ready =
            PreparedCalls::prepare(&composer, &second, policy, vec![spec(&a), spec(&b)], ids.clone(), vec![], now);
        let chosen = ready.calls[0].reply_code.clone();
        assert!(ready.openings[0].0[0].body.contains(&chosen), "{}", ready.openings[0].0[0].body);

        // Meanwhile another alert's call of the same person takes that very code.
        let mut clash = new_call(&first, policy, &spec(&a), &mut TakenCodes::new(), now);
        clash.reply_code = chosen.clone();
        let mut tx = store.begin().await.unwrap();
        tx.insert_calls(&[clash]).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let mut deferred = Deferred::default();
        let n = ready.write(tx.as_mut(), &composer, &second, policy, now, &mut deferred).await.unwrap();
        let messages = deferred.messages.clone();
        deferred.flush(tx.as_mut()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(n, 2);
        let call = store.call(ids[0]).await.unwrap().expect("the call is under its reserved id");
        assert_ne!(call.reply_code, chosen, "the code is chosen again");
        let message = messages.iter().find(|m| m.call_id == Some(ids[0])).unwrap();
        assert_eq!(message.code.as_deref(), Some(call.reply_code.as_str()));
        assert!(message.body.contains(&call.reply_code), "{}", message.body);
        // The other person's call kept its code.
        let other = store.call(ids[1]).await.unwrap().unwrap();
        assert_eq!(
            messages.iter().find(|m| m.call_id == Some(ids[1])).unwrap().code.as_deref(),
            Some(other.reply_code.as_str())
        );
        store.close().await;
    }
}
