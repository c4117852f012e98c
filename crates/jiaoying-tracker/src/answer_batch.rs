//! A storm of SMS answers, set-based: answers by reply code that arrive together share one
//! transaction, and the common case — an open call answered in time — is written in a handful of
//! statements for the whole burst (dedupe rows, the calls' compare-and-set, their events, the
//! withdrawn repeats, the confirmations), not six statements per answer. Anything less common (a
//! late answer after escalation, a directive call, a compare-and-set lost to another writer, two
//! answers to one call in the same burst) goes through the one-by-one path inside the same
//! transaction, so the rules live in one place. Each sender gets its own outcome, and only after
//! the burst committed: durability is unchanged.
//!
//! On PostgreSQL the common case does not even need the transaction: one statement finds the
//! calls, records the provider ids and answers, committed on its own (one round trip instead of
//! five); what it leaves goes through the transaction as above (ADR 0022).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use jiaoying_core::message::Reply;
use jiaoying_core::{CallState, Timestamp};
use jiaoying_store::{CallAnswer, CallRow, CodedAnswer, CodedOutcome, NewMessage, StoreError, StoreTx};
use tokio::sync::{mpsc, oneshot};

use crate::answer::{AnswerOutcome, AnswerRequest, ReplyOutcome};
use crate::context::Tracker;

/// The most answers one transaction takes: enough to amortise the commit, few enough that the
/// first sender in a burst does not wait long for the last.
const MAX_BATCH: usize = 256;

/// Alerts whose drill status an instance remembers (then it starts again).
const DRILL_CACHE: usize = 4096;

/// Bursts in flight at once on PostgreSQL. Two measured best on two cores (10 000 replies a
/// second through the hook: p99 15–21 ms with two, 17–23 with three, 35–41 with four, the
/// bursts smaller and the CPU per answer higher the more writers share the queue). Measured again
/// with the one statement (ADR 0022): three and four no better.
const POSTGRES_WRITERS: usize = 2;

/// One SMS answer by code to a known call.
#[derive(Clone)]
pub(crate) struct SmsAnswer {
    pub channel: String,
    /// The sender, who gets the confirmation.
    pub to: String,
    pub code: String,
    /// The gateway's id of the inbound SMS, to take its retries once.
    pub dedupe: Option<String>,
    /// The call answered; `None`: the call `(to, code)` names, found inside the burst (one read
    /// for the burst instead of one per reply).
    pub req: Option<AnswerRequest>,
}

struct Job {
    answer: SmsAnswer,
    reply: oneshot::Sender<Result<Option<ReplyOutcome>, StoreError>>,
}

/// The handle answers are submitted through. The writer task starts on first use.
#[derive(Clone, Default)]
pub(crate) struct AnswerBatcher {
    sender: Arc<OnceLock<mpsc::UnboundedSender<Job>>>,
}

impl AnswerBatcher {
    /// The answer's outcome once its burst committed; `None` when it names its call by code and
    /// no call has that code for that number (nothing was written for it).
    pub(crate) async fn submit(
        &self,
        tracker: &Tracker,
        answer: SmsAnswer,
    ) -> Result<Option<ReplyOutcome>, StoreError> {
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            // SQLite has one writer: one task. PostgreSQL commits concurrent transactions
            // side by side, and a burst there costs round trips and per-row work more than
            // commits: a few tasks, each with its own burst.
            let writers = match tracker.store.backend() {
                jiaoying_store::Backend::Sqlite => 1,
                jiaoying_store::Backend::Postgres => POSTGRES_WRITERS,
            };
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..writers {
                tokio::spawn(writer(tracker.clone(), rx.clone()));
            }
            tx
        });
        let (reply, outcome) = oneshot::channel();
        sender.send(Job { answer, reply }).map_err(|_| StoreError::WriterStopped)?;
        outcome.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn writer(tracker: Tracker, rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let jobs = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        let answers: Vec<SmsAnswer> = jobs.iter().map(|j| j.answer.clone()).collect();
        let outcomes = tracker.take_burst(&answers).await;
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let _ = job.reply.send(outcome);
        }
    }
}

/// A burst's outcomes, in order: each answer's own where the burst's transaction failed.
type BurstOutcomes = Vec<Result<Option<ReplyOutcome>, StoreError>>;

/// What the one statement decided (answer index, outcome) and what it left for the transaction
/// (answer index, the answer as the transaction is to take it).
type AtOnce = (Vec<(usize, ReplyOutcome)>, Vec<(usize, SmsAnswer)>);

impl Tracker {
    /// Takes a burst of SMS answers: on PostgreSQL the common case first, in one statement
    /// ([`jiaoying_store::Store::answer_codes_at_once`]), then the rest (everything, on SQLite)
    /// in one transaction. One outcome per answer, in order.
    async fn take_burst(&self, answers: &[SmsAnswer]) -> BurstOutcomes {
        let mut outcomes: BurstOutcomes = answers.iter().map(|_| Ok(None)).collect();
        let every = || answers.iter().cloned().enumerate().collect::<Vec<_>>();
        let rest = match self.answer_at_once(answers).await {
            Ok(Some((done, rest))) => {
                for (i, outcome) in done {
                    outcomes[i] = Ok(Some(outcome));
                }
                rest
            }
            Ok(None) => every(),
            Err(e) => {
                // The statement is all or nothing: every answer is still to be taken.
                tracing::warn!(error = %e, answers = answers.len(), "answer statement failed; taking the burst in a transaction");
                every()
            }
        };
        if rest.is_empty() {
            return outcomes;
        }
        let rest_answers: Vec<SmsAnswer> = rest.iter().map(|(_, a)| a.clone()).collect();
        match self.answer_sms_burst(&rest_answers).await {
            Ok(done) => {
                for ((i, _), outcome) in rest.iter().zip(done) {
                    outcomes[*i] = Ok(outcome);
                }
            }
            Err(e) => {
                // One bad answer must not fail the others: each again, alone.
                tracing::warn!(error = %e, answers = rest.len(), "answer burst failed; taking its answers one by one");
                for (i, answer) in &rest {
                    outcomes[*i] = self.answer_sms_burst(std::slice::from_ref(answer)).await.map(|mut o| o.remove(0));
                }
            }
        }
        outcomes
    }

    /// PostgreSQL's one statement for the answers it can take: those naming their call by code,
    /// the first of the burst for their number and code and for their provider id (a second
    /// answer to one call, or a gateway's retry within the burst, is for the transaction, which
    /// sees the first committed). `None` on SQLite.
    async fn answer_at_once(&self, answers: &[SmsAnswer]) -> Result<Option<AtOnce>, StoreError> {
        if self.store.backend() != jiaoying_store::Backend::Postgres {
            return Ok(None);
        }
        let now = self.clock.now();
        let composer = &self.config.composer;
        let mut pairs = HashSet::new();
        let mut keys = HashSet::new();
        let (mut coded, mut picked, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for (i, a) in answers.iter().enumerate() {
            let first = a.req.is_none()
                && pairs.insert((a.to.as_str(), a.code.as_str()))
                && a.dedupe.as_ref().is_none_or(|id| keys.insert((a.channel.as_str(), id.as_str())));
            if !first {
                rest.push((i, a.clone()));
                continue;
            }
            let text = composer.reply_text(&Reply::Answered { code: &a.code });
            coded.push(CodedAnswer {
                mobile: a.to.clone(),
                code: a.code.clone(),
                channel: a.channel.clone(),
                provider_id: a.dedupe.clone(),
                drill_text: marked(text.clone(), true),
                confirmation: composer.reply_message(&a.channel, &a.to, text, now),
            });
            picked.push(i);
        }
        let Some(results) = self.store.answer_codes_at_once(&coded, now.millis()).await? else {
            return Ok(None);
        };
        let mut done = Vec::with_capacity(picked.len());
        let mut confirmed = Vec::new();
        for ((i, result), answer) in picked.into_iter().zip(results).zip(&coded) {
            match result {
                CodedOutcome::Answered { call_id } => {
                    done.push((i, ReplyOutcome::Answered { call_id, late: false }));
                    confirmed.push(answer.channel.as_str());
                }
                CodedOutcome::Duplicate => done.push((i, ReplyOutcome::Duplicate)),
                // Its provider id is recorded now: not to be taken as a retry of itself.
                CodedOutcome::Contended => rest.push((i, SmsAnswer { dedupe: None, ..answers[i].clone() })),
                CodedOutcome::Elsewhere => rest.push((i, answers[i].clone())),
            }
        }
        self.wake_channels(confirmed);
        rest.sort_by_key(|(i, _)| *i);
        Ok(Some((done, rest)))
    }
}

impl Tracker {
    /// Takes a burst of SMS answers in one transaction; one outcome per answer, in order (`None`:
    /// named by a code no call of that number has; nothing was written for it).
    pub(crate) async fn answer_sms_burst(
        &self,
        answers: &[SmsAnswer],
    ) -> Result<Vec<Option<ReplyOutcome>>, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let mut outcomes: Vec<Option<ReplyOutcome>> = vec![None; answers.len()];
        let mut replies: Vec<NewMessage> = Vec::new();
        // Confirmations queued with the answers themselves (for the wake-ups after the commit).
        let mut confirmed: Vec<NewMessage> = Vec::new();

        // Answers by code find their calls first, all in one read; those that find none are left
        // untouched (not even their dedupe row) for the caller's careful path.
        let (reqs, mut calls) = resolve_codes(tx.as_mut(), answers).await?;
        let unresolved: Vec<bool> = reqs.iter().map(Option::is_none).collect();

        // A gateway's retry, within the burst or of an earlier one, is taken once.
        let mut keys = Vec::new();
        let mut keyed = Vec::new();
        let mut in_burst = HashSet::new();
        for (i, a) in answers.iter().enumerate() {
            if unresolved[i] {
                continue;
            }
            if let Some(pid) = &a.dedupe {
                let key = (a.channel.clone(), pid.clone());
                if in_burst.insert(key.clone()) {
                    keys.push(key);
                    keyed.push(i);
                } else {
                    outcomes[i] = Some(ReplyOutcome::Duplicate);
                }
            }
        }
        // Rows are locked in a fixed order, so two bursts on PostgreSQL cannot deadlock.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        let keys: Vec<(String, String)> = order.iter().map(|&k| keys[k].clone()).collect();
        let keyed: Vec<usize> = order.iter().map(|&k| keyed[k]).collect();
        for (i, new) in keyed.into_iter().zip(tx.first_sights(&keys, now.millis()).await?) {
            if !new {
                outcomes[i] = Some(ReplyOutcome::Duplicate);
            }
        }

        let ids: Vec<i64> = {
            let mut ids: Vec<i64> = reqs
                .iter()
                .zip(&outcomes)
                .filter_map(|(r, o)| r.as_ref().filter(|_| o.is_none()).map(|r| r.call_id))
                .filter(|id| !calls.contains_key(id))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        calls.extend(tx.calls_by_ids(&ids).await?.into_iter().map(|c| (c.id, c)));
        // A drill's confirmations say so, as every message of a drill does.
        let mut drills: HashMap<i64, bool> = HashMap::new();
        for call in calls.values() {
            if let std::collections::hash_map::Entry::Vacant(e) = drills.entry(call.alert_id) {
                e.insert(self.is_drill(tx.as_mut(), call.alert_id).await?);
            }
        }
        let drill_of = |call_id: i64| calls.get(&call_id).is_some_and(|c| drills.get(&c.alert_id) == Some(&true));

        // The common case goes set-based; the rest one by one below.
        let mut simple: Vec<(usize, CallAnswer)> = Vec::new();
        let mut one_by_one: Vec<usize> = Vec::new();
        let mut taken = HashSet::new();
        for (i, req) in reqs.iter().enumerate() {
            let Some(req) = req.as_ref().filter(|_| outcomes[i].is_none()) else { continue };
            let Some(call) = calls.get(&req.call_id) else {
                outcomes[i] = Some(ReplyOutcome::UnknownCode);
                continue;
            };
            let in_time = matches!(call.state, CallState::Pending | CallState::Sent | CallState::Delivered);
            if in_time && call.directive.is_none() && taken.insert(call.id) {
                simple.push((
                    i,
                    CallAnswer {
                        call_id: call.id,
                        alert_id: call.alert_id,
                        state: call.state.as_str().to_string(),
                        attempts: call.attempts,
                        via: req.via.clone(),
                        actor: req.actor.clone(),
                        note: req.note.clone(),
                    },
                ));
            } else {
                one_by_one.push(i);
            }
        }
        simple.sort_by_key(|(_, c)| c.call_id);
        let rows: Vec<CallAnswer> = simple.iter().map(|(_, c)| c.clone()).collect();
        // The answers, their events, the withdrawn repeats (no longer needed) and the
        // confirmations of those answered, in one go.
        let confirmations: Vec<NewMessage> = simple
            .iter()
            .map(|(i, row)| {
                let a = &answers[*i];
                let text =
                    marked(self.config.composer.reply_text(&Reply::Answered { code: &a.code }), drill_of(row.call_id));
                self.config.composer.reply_message(&a.channel, &a.to, text, now)
            })
            .collect();
        let answered: HashSet<i64> = tx.answer_calls(&rows, &confirmations, now.millis()).await?.into_iter().collect();
        for ((i, row), confirmation) in simple.into_iter().zip(confirmations) {
            if !answered.contains(&row.call_id) {
                // Another writer changed the call since it was read: the careful path decides.
                one_by_one.push(i);
                continue;
            }
            confirmed.push(confirmation);
            outcomes[i] = Some(ReplyOutcome::Answered { call_id: row.call_id, late: false });
        }

        one_by_one.sort_unstable();
        let careful = !one_by_one.is_empty();
        for i in one_by_one {
            let Some(req) = &reqs[i] else { continue };
            let (outcome, reply) = self.answer_sms_alone(tx.as_mut(), &answers[i], req, now).await?;
            outcomes[i] = Some(outcome);
            let drill = drill_of(req.call_id);
            replies.extend(reply.map(|mut m| {
                if drill {
                    m.body = marked(m.body, true);
                    m.subject = m.body.clone();
                }
                m
            }));
        }
        tx.insert_messages(&replies).await?;
        tx.commit().await?;
        replies.extend(confirmed);
        // Once per burst, and only the loops with work: the confirmations' channels; the careful
        // path may also have queued other messages (a superior told) or moved a deadline
        // earlier (a measure's), so then every sending loop and the timers.
        if careful {
            self.timers_wake.notify_one();
            self.outbox_wake.notify_one();
        } else {
            self.wake_channels(replies.iter().map(|m| m.channel.as_str()));
        }
        Ok(outcomes
            .into_iter()
            .zip(unresolved)
            .map(|(o, unresolved)| if unresolved { None } else { Some(o.unwrap_or(ReplyOutcome::UnknownCode)) })
            .collect())
    }

    /// Whether the alert is a drill (演练): its status never changes, so it is read once per
    /// alert and instance, not once per burst.
    async fn is_drill(&self, tx: &mut dyn StoreTx, alert_id: i64) -> Result<bool, StoreError> {
        if let Some(&drill) = self.drill_alerts.lock().unwrap_or_else(|e| e.into_inner()).get(&alert_id) {
            return Ok(drill);
        }
        let drill = tx.alert(alert_id).await?.is_some_and(|a| a.is_drill());
        let mut known = self.drill_alerts.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= DRILL_CACHE {
            known.clear();
        }
        known.insert(alert_id, drill);
        Ok(drill)
    }

    /// One SMS answer the careful way, inside `tx`: the outcome and the confirmation to send.
    async fn answer_sms_alone(
        &self,
        tx: &mut dyn StoreTx,
        a: &SmsAnswer,
        req: &AnswerRequest,
        now: Timestamp,
    ) -> Result<(ReplyOutcome, Option<NewMessage>), StoreError> {
        let mut answered = None;
        // Inside one transaction a lost compare-and-set means another instance changed the call
        // in between: read it again.
        for _ in 0..5 {
            answered = self.answer_in_tx(tx, req, now).await?;
            if answered.is_some() {
                break;
            }
        }
        let composer = &self.config.composer;
        let code = &a.code;
        let (outcome, text) = match answered {
            Some(AnswerOutcome::Answered { call_id, late, .. }) => {
                (ReplyOutcome::Answered { call_id, late }, composer.reply_text(&Reply::Answered { code }))
            }
            Some(AnswerOutcome::AlreadyAnswered { call_id, at }) => {
                let when = Timestamp(at).to_cst_display();
                (
                    ReplyOutcome::AlreadyAnswered { call_id },
                    composer.reply_text(&Reply::AlreadyAnswered { code, when: &when }),
                )
            }
            Some(AnswerOutcome::NotFound { .. }) => return Ok((ReplyOutcome::UnknownCode, None)),
            Some(AnswerOutcome::Closed { .. }) | None => {
                (ReplyOutcome::Closed { call_id: req.call_id }, composer.reply_text(&Reply::Closed { code }))
            }
        };
        Ok((outcome, Some(composer.reply_message(&a.channel, &a.to, text, now))))
    }
}

/// Each answer's request: given, or found by `(to, code)` with the call it names (the answerable
/// one where a number's persons have several with that code); `None` where no call has the code.
/// The calls found come back too, so the burst need not read them again.
async fn resolve_codes(
    tx: &mut dyn StoreTx,
    answers: &[SmsAnswer],
) -> Result<(Vec<Option<AnswerRequest>>, HashMap<i64, CallRow>), StoreError> {
    let mut pairs: Vec<(String, String)> =
        answers.iter().filter(|a| a.req.is_none()).map(|a| (a.to.clone(), a.code.clone())).collect();
    pairs.sort();
    pairs.dedup();
    let mut named: HashMap<(String, String), Vec<CallRow>> = HashMap::new();
    if !pairs.is_empty() {
        for (mobile, call) in tx.calls_by_mobile_and_codes(&pairs).await? {
            named.entry((mobile, call.reply_code.clone())).or_default().push(call);
        }
    }
    let mut calls = HashMap::new();
    let reqs = answers
        .iter()
        .map(|a| match &a.req {
            Some(req) => Some(req.clone()),
            None => {
                let mut found = named.get(&(a.to.clone(), a.code.clone())).cloned().unwrap_or_default();
                // Newest first, as one person's read would give them.
                found.sort_by_key(|c| std::cmp::Reverse(c.id));
                crate::answer::best_call(found).map(|call| {
                    let req = AnswerRequest {
                        call_id: call.id,
                        via: "sms".into(),
                        actor: format!("person:{}", call.person_id),
                        note: None,
                    };
                    calls.insert(call.id, call);
                    req
                })
            }
        })
        .collect();
    Ok((reqs, calls))
}

/// `text` with the drill mark in front when `drill`.
fn marked(text: String, drill: bool) -> String {
    if drill && !text.starts_with(jiaoying_core::message::DRILL_MARK) {
        format!("{}{text}", jiaoying_core::message::DRILL_MARK)
    } else {
        text
    }
}
