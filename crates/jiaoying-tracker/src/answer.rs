//! Answers: a call is answered once, by compare-and-set; repeats are harmless and say so. SMS
//! replies are matched to a call by reply code, or, bare, to the sender's only open call.

use jiaoying_core::message::{Notice, Reply};
use jiaoying_core::metric_names::ANSWERS_TOTAL;
use jiaoying_core::reply::{parse_reply, AnswerKind};
use jiaoying_core::{CallState, MobileNumber, Timestamp};
use jiaoying_store::{CallRow, StoreError, StoreTx};
use serde::Serialize;

use crate::calls::change_call;
use crate::context::{Tracker, TrackerError};

/// Help replies (to useless messages) sent to one number per hour, at most.
pub const HELP_REPLIES_PER_HOUR: u32 = 5;

/// Who answered, and how.
#[derive(Debug, Clone)]
pub struct AnswerRequest {
    pub call_id: i64,
    /// `sms`, `link`, `voice`, `officer`.
    pub via: String,
    /// `person:<id>` or `officer:<name>`.
    pub actor: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AnswerOutcome {
    /// Recorded now. `late` when the call had already been escalated.
    Answered {
        call_id: i64,
        at: i64,
        late: bool,
    },
    /// Recorded before; nothing changed.
    AlreadyAnswered {
        call_id: i64,
        at: i64,
    },
    /// The call ended (cancelled, expired) and takes no answer.
    Closed {
        call_id: i64,
        state: CallState,
    },
    NotFound {
        call_id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DoneOutcome {
    Done {
        call_id: i64,
    },
    AlreadyDone {
        call_id: i64,
    },
    /// The call ended (cancelled, expired) or carries no answerable state.
    Closed {
        call_id: i64,
    },
}

/// What became of an inbound SMS, for the gateway's response and the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReplyOutcome {
    Answered {
        call_id: i64,
        late: bool,
    },
    AlreadyAnswered {
        call_id: i64,
    },
    Closed {
        call_id: i64,
    },
    /// A directive reported carried out (已落实).
    Done {
        call_id: i64,
    },
    /// A reply of `3`: the call goes to the next person up now.
    EscalatedNow {
        call_id: i64,
    },
    /// `已检查 …`: an inspection answer (scheduled duties); `recorded` inspections were stored.
    Inspected {
        recorded: usize,
    },
    /// A bare reply from someone with several open calls: they were sent the list of codes.
    Ambiguous {
        open_calls: usize,
    },
    NoOpenCall,
    UnknownCode,
    NotUnderstood,
    UnknownSender,
    Duplicate,
}

/// Counts a committed answer for `/metrics` (issue 8), by its path (`sms`, `voice`, `link`,
/// `officer`: fixed strings of the code, never input).
fn count_answer(path: &str) {
    metrics::counter!(ANSWERS_TOTAL, "path" => path.to_string()).increment(1);
}

impl Tracker {
    #[tracing::instrument(name = "answer", skip_all, fields(call_id = req.call_id, via = %req.via))]
    pub async fn answer(&self, req: &AnswerRequest) -> Result<AnswerOutcome, TrackerError> {
        // A compare-and-set can lose to a concurrent harmless step (the outbox marking the call
        // sent, a timer repeating it); read again and retry. Only a state that takes no answer
        // ends the loop without one.
        for _ in 0..5 {
            if let Some(outcome) = self.try_answer(req).await? {
                return Ok(outcome);
            }
        }
        match self.store.call(req.call_id).await? {
            Some(c) => Ok(AnswerOutcome::Closed { call_id: c.id, state: c.state }),
            None => Ok(AnswerOutcome::NotFound { call_id: req.call_id }),
        }
    }

    /// One attempt; `None` when the call changed under us.
    async fn try_answer(&self, req: &AnswerRequest) -> Result<Option<AnswerOutcome>, TrackerError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let outcome = self.answer_in_tx(tx.as_mut(), req, now).await?;
        if matches!(outcome, Some(AnswerOutcome::Answered { .. })) {
            tx.commit().await?;
            count_answer(&req.via);
            self.timers_wake.notify_one();
        }
        Ok(outcome)
    }

    /// The answer's reads and writes inside `tx` (committed by the caller); `None` when the call
    /// changed under us and nothing was written.
    pub(crate) async fn answer_in_tx(
        &self,
        tx: &mut dyn StoreTx,
        req: &AnswerRequest,
        now: Timestamp,
    ) -> Result<Option<AnswerOutcome>, StoreError> {
        let Some(call) = tx.call(req.call_id).await? else {
            return Ok(Some(AnswerOutcome::NotFound { call_id: req.call_id }));
        };
        match call.state {
            CallState::Answered | CallState::Done => {
                let at = call.answered_at.unwrap_or(call.updated_at);
                return Ok(Some(AnswerOutcome::AlreadyAnswered { call_id: call.id, at }));
            }
            s if !s.can_become(CallState::Answered) => {
                return Ok(Some(AnswerOutcome::Closed { call_id: call.id, state: s }))
            }
            _ => {}
        }
        let mut after = call.clone();
        after.state = CallState::Answered;
        after.answered_at = Some(now.millis());
        after.answered_via = Some(req.via.clone());
        after.answered_by = Some(req.actor.clone());
        after.answer_note = req.note.clone();
        after.late = call.state == CallState::Escalated;
        // A directive call waits on: its measure must be reported done in time.
        after.next_action_at = call.done_within.filter(|_| call.directive.is_some()).map(|w| now.millis() + w);
        after.updated_at = now.millis();
        if !change_call(tx, &call, &after, &req.actor, Some(&req.via), req.note.clone()).await? {
            return Ok(None);
        }
        // Repeats not yet sent are no longer needed.
        tx.cancel_queued_messages(call.id).await?;
        if after.late && self.config.late_answer_closes_escalation {
            self.close_escalations_of(tx, &after, now).await?;
        }
        Ok(Some(AnswerOutcome::Answered { call_id: call.id, at: now.millis(), late: after.late }))
    }

    /// An SMS answer by code, its dedupe row and its confirmation, in one transaction shared
    /// with the other answers arriving at the same time (see `answer_batch`): the hot path of a
    /// storm of replies.
    #[tracing::instrument(name = "answer", skip_all, fields(call_id = call.id, alert_id = call.alert_id, via = "sms"))]
    async fn answer_by_sms(
        &self,
        channel: &str,
        mobile: &MobileNumber,
        call: &CallRow,
        note: Option<String>,
        provider_id: Option<&str>,
    ) -> Result<ReplyOutcome, TrackerError> {
        let req =
            AnswerRequest { call_id: call.id, via: "sms".into(), actor: format!("person:{}", call.person_id), note };
        let answer = crate::answer_batch::SmsAnswer {
            channel: channel.to_string(),
            to: mobile.as_str().to_string(),
            code: call.reply_code.clone(),
            dedupe: provider_id.filter(|p| !p.is_empty()).map(str::to_string),
            req: Some(req),
        };
        let outcome = self.answers.submit(self, answer).await?.unwrap_or(ReplyOutcome::UnknownCode);
        Ok(self.answered_by_sms(outcome))
    }

    /// Counts an SMS answer (its burst has woken the loops it gave work to).
    fn answered_by_sms(&self, outcome: ReplyOutcome) -> ReplyOutcome {
        if matches!(outcome, ReplyOutcome::Answered { .. }) {
            count_answer("sms");
        }
        outcome
    }

    /// 已落实: the directive of the call was carried out, with the person's short report. A call
    /// not yet answered is answered first (the report implies receipt).
    #[tracing::instrument(name = "done", skip_all, fields(call_id = req.call_id, via = %req.via))]
    pub async fn mark_done(&self, req: &AnswerRequest, report: &str) -> Result<DoneOutcome, TrackerError> {
        for _ in 0..5 {
            let mut answered_now = false;
            let now = self.clock.now();
            let mut tx = self.store.begin().await?;
            let Some(mut call) = tx.call(req.call_id).await? else {
                return Ok(DoneOutcome::Closed { call_id: req.call_id });
            };
            if call.state == CallState::Done {
                return Ok(DoneOutcome::AlreadyDone { call_id: call.id });
            }
            if call.state.can_become(CallState::Answered) {
                let mut answered = call.clone();
                answered.state = CallState::Answered;
                answered.answered_at = Some(now.millis());
                answered.answered_via = Some(req.via.clone());
                answered.answered_by = Some(req.actor.clone());
                answered.late = call.state == CallState::Escalated;
                answered.updated_at = now.millis();
                if !change_call(tx.as_mut(), &call, &answered, &req.actor, Some(&req.via), None).await? {
                    continue;
                }
                tx.cancel_queued_messages(call.id).await?;
                call = answered;
                answered_now = true;
            }
            if call.state != CallState::Answered {
                return Ok(DoneOutcome::Closed { call_id: call.id });
            }
            let mut done = call.clone();
            done.state = CallState::Done;
            done.done_at = Some(now.millis());
            done.done_report = Some(report.chars().take(200).collect());
            done.next_action_at = None;
            done.updated_at = now.millis();
            let note = Some(if report.is_empty() { "已落实".to_string() } else { format!("已落实：{report}") });
            if change_call(tx.as_mut(), &call, &done, &req.actor, Some(&req.via), note).await? {
                tx.commit().await?;
                if answered_now {
                    count_answer(&req.via);
                }
                self.timers_wake.notify_one();
                return Ok(DoneOutcome::Done { call_id: call.id });
            }
        }
        Ok(DoneOutcome::Closed { call_id: req.call_id })
    }

    /// A late answer: the calls its escalation opened (to the superior, the duty officers) are
    /// no longer needed. They are closed and their persons told the person below has answered.
    async fn close_escalations_of(
        &self,
        tx: &mut dyn StoreTx,
        answered: &CallRow,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let alert = tx.alert(answered.alert_id).await?.ok_or(StoreError::NotFound)?;
        let policy = self.config.policies.for_tier(alert.tier);
        let registry = self.store.load_registry().await?;
        let who = jiaoying_core::PersonId::parse(&answered.person_id)
            .ok()
            .and_then(|id| registry.person(&id).map(|p| p.name.clone()))
            .unwrap_or_else(|| answered.person_id.clone());
        let closable = |call: &CallRow| {
            call.escalated_from == Some(answered.id)
                && call.state.can_become(CallState::Cancelled)
                && call.state != CallState::Escalated
        };
        for mut call in tx.calls_of_alert(answered.alert_id).await? {
            // A compare-and-set lost to a concurrent change of that call (a timer step on another
            // connection) is tried again on the call as it now is, not given up.
            let mut closed = false;
            for _ in 0..5 {
                if !closable(&call) {
                    break;
                }
                let mut after = call.clone();
                after.state = CallState::Cancelled;
                after.next_action_at = None;
                after.updated_at = now.millis();
                let note = Some(format!("{who} 已应答，升级呼叫关闭 (the person below answered)"));
                if change_call(tx, &call, &after, "system", Some("late-answer"), note).await? {
                    closed = true;
                    break;
                }
                match tx.call(call.id).await? {
                    Some(now_is) => call = now_is,
                    None => break,
                }
            }
            if closed {
                tx.cancel_queued_messages(call.id).await?;
                let person =
                    jiaoying_core::PersonId::parse(&call.person_id).ok().and_then(|id| registry.person(&id).cloned());
                if let Some(person) = person {
                    let notice = Notice::Answered { name: &who };
                    for m in self.config.composer.notice_messages(&alert, &call, &person, notice, &policy.channels, now)
                    {
                        tx.insert_message(&m).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles an SMS reply from `from` that came in on `channel`. `provider_id` deduplicates a
    /// gateway's retries. Replies to the sender are queued on the same channel.
    pub async fn sms_reply(
        &self,
        channel: &str,
        from: &str,
        text: &str,
        provider_id: Option<&str>,
    ) -> Result<ReplyOutcome, TrackerError> {
        let now = self.clock.now();
        // A gateway's retry of a reply already taken is recognised by the write that settles it
        // (the dedupe row goes with whatever the reply changes), so a reply is acted on once even
        // when its retry arrives while it is being handled.
        let provider_id = provider_id.filter(|p| !p.is_empty());
        let Ok(mobile) = MobileNumber::parse(from) else {
            return Ok(ReplyOutcome::UnknownSender);
        };
        // The hot path of a storm: a bare reply code goes straight to the answer burst, which
        // finds the calls of all the codes it holds in one read.
        if let Some(reply) = parse_reply(text) {
            if let (Some(code), AnswerKind::Received) = (&reply.code, &reply.kind) {
                let answer = crate::answer_batch::SmsAnswer {
                    channel: channel.to_string(),
                    to: mobile.as_str().to_string(),
                    code: code.clone(),
                    dedupe: provider_id.map(str::to_string),
                    req: None,
                };
                if let Some(outcome) = self.answers.submit(self, answer).await? {
                    return Ok(self.answered_by_sms(outcome));
                }
            } else if let Some(code) = &reply.code {
                if let Some(call) = best_call(self.store.calls_by_mobile_and_code(&mobile, code).await?) {
                    return self.act_on_reply(channel, &mobile, call, &reply, provider_id, now).await;
                }
            }
        }
        let first = |this: &Tracker| {
            let this = this.clone();
            let channel = channel.to_string();
            async move {
                match provider_id {
                    Some(pid) => this.store.first_sight(&channel, pid, now.millis()).await,
                    None => Ok(true),
                }
            }
        };
        let persons = self.store.persons_by_mobile(&mobile).await?;
        if persons.is_empty() {
            // Never text strangers back: a forged sender would make us spam a third party.
            tracing::info!(from = %mobile.masked(), "SMS reply from a number not in the registry");
            return Ok(ReplyOutcome::UnknownSender);
        }
        let composer = &self.config.composer;
        if let Some(inspected) = crate::duties::parse_inspected(text) {
            return self.inspected_by_sms(channel, &mobile, &persons, inspected, provider_id).await;
        }
        let Some(reply) = parse_reply(text) else {
            if !first(self).await? {
                return Ok(ReplyOutcome::Duplicate);
            }
            self.send_help_reply(channel, &mobile, composer.reply_text(&Reply::NotUnderstood), now).await?;
            return Ok(ReplyOutcome::NotUnderstood);
        };
        let call = match &reply.code {
            Some(code) => {
                // The hot path above found no call with this code for this number.
                if !first(self).await? {
                    return Ok(ReplyOutcome::Duplicate);
                }
                self.send_help_reply(channel, &mobile, composer.reply_text(&Reply::UnknownCode { code }), now).await?;
                return Ok(ReplyOutcome::UnknownCode);
            }
            None => {
                let mut open = Vec::new();
                for p in &persons {
                    open.extend(self.store.answerable_calls_of_person(p.id.as_str()).await?);
                }
                match open.len() {
                    0 => {
                        if !first(self).await? {
                            return Ok(ReplyOutcome::Duplicate);
                        }
                        self.send_help_reply(channel, &mobile, composer.reply_text(&Reply::NoOpenCall), now).await?;
                        return Ok(ReplyOutcome::NoOpenCall);
                    }
                    1 => open.remove(0),
                    n => {
                        if !first(self).await? {
                            return Ok(ReplyOutcome::Duplicate);
                        }
                        let mut list = Vec::new();
                        for c in &open {
                            let event = self.store.alert(c.alert_id).await?.map(|a| a.event).unwrap_or_default();
                            list.push((c.reply_code.clone(), event));
                        }
                        let text = composer.reply_text(&Reply::ChooseCode { open: &list });
                        self.send_reply(channel, &mobile, text, now).await?;
                        return Ok(ReplyOutcome::Ambiguous { open_calls: n });
                    }
                }
            }
        };
        self.act_on_reply(channel, &mobile, call, &reply, provider_id, now).await
    }

    /// A reply that names `call`: answer it, report its directive done, or escalate it now.
    async fn act_on_reply(
        &self,
        channel: &str,
        mobile: &MobileNumber,
        call: CallRow,
        reply: &jiaoying_core::reply::Reply,
        provider_id: Option<&str>,
        now: Timestamp,
    ) -> Result<ReplyOutcome, TrackerError> {
        let composer = &self.config.composer;
        let note = match &reply.kind {
            AnswerKind::Done { report } if !report.is_empty() => Some(report.clone()),
            _ => None,
        };
        let answers_only = match &reply.kind {
            AnswerKind::Received => true,
            AnswerKind::Done { .. } => call.directive.is_none(),
            AnswerKind::EscalateNow => false,
        };
        if !answers_only {
            if let Some(pid) = provider_id {
                if !self.store.first_sight(channel, pid, now.millis()).await? {
                    return Ok(ReplyOutcome::Duplicate);
                }
            }
        }
        if reply.kind == AnswerKind::EscalateNow {
            return self.escalate_now(&call, channel, mobile, now).await;
        }
        if let (AnswerKind::Done { report }, Some(_)) = (&reply.kind, &call.directive) {
            let req = AnswerRequest {
                call_id: call.id,
                via: "sms".into(),
                actor: format!("person:{}", call.person_id),
                note: None,
            };
            let code = &call.reply_code;
            return Ok(match self.mark_done(&req, report).await? {
                DoneOutcome::Done { call_id } => {
                    self.send_reply(channel, mobile, composer.reply_text(&Reply::Done { code }), now).await?;
                    ReplyOutcome::Done { call_id }
                }
                DoneOutcome::AlreadyDone { call_id } => {
                    self.send_reply(channel, mobile, composer.reply_text(&Reply::AlreadyDone { code }), now).await?;
                    ReplyOutcome::AlreadyAnswered { call_id }
                }
                DoneOutcome::Closed { call_id } => ReplyOutcome::Closed { call_id },
            });
        }
        // 收到, or 已落实 on a call without a directive (taken as a confirmation of receipt).
        self.answer_by_sms(channel, mobile, &call, note, provider_id).await
    }

    /// Reply `3`: the person asks for their superior to be called now.
    async fn escalate_now(
        &self,
        call: &CallRow,
        channel: &str,
        mobile: &MobileNumber,
        now: Timestamp,
    ) -> Result<ReplyOutcome, TrackerError> {
        if !self.escalate_call_now(call.id, &format!("person:{}", call.person_id), "sms", None).await? {
            return Ok(ReplyOutcome::Closed { call_id: call.id });
        }
        let text = self.config.composer.reply_text(&Reply::EscalatedNow);
        self.send_reply(channel, mobile, text, now).await?;
        Ok(ReplyOutcome::EscalatedNow { call_id: call.id })
    }

    /// "Escalate now" (a reply of `3`, or a duty officer's action): the call's timer is made due
    /// with its repeats used up, so the next timer step escalates it. False when the call is no
    /// longer waiting for its person.
    pub async fn escalate_call_now(
        &self,
        call_id: i64,
        actor: &str,
        via: &str,
        note: Option<String>,
    ) -> Result<bool, TrackerError> {
        for _ in 0..5 {
            let now = self.clock.now();
            let mut tx = self.store.begin().await?;
            let Some(call) = tx.call(call_id).await? else { return Ok(false) };
            if !call.state.is_waiting() {
                return Ok(false);
            }
            let alert = tx.alert(call.alert_id).await?.ok_or(StoreError::NotFound)?;
            let policy = self.config.policies.for_tier(alert.tier);
            let mut after = call.clone();
            after.attempts = after.attempts.max(policy.attempts() as i64);
            after.deadline = now.millis();
            after.next_action_at = Some(now.millis());
            after.updated_at = now.millis();
            let note = Some(note.clone().unwrap_or_else(|| "要求立即升级 (escalate now)".into()));
            if change_call(tx.as_mut(), &call, &after, actor, Some(via), note).await? {
                tx.commit().await?;
                self.timers_wake.notify_one();
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A reply to a useless message (not understood, unknown code, nothing open). At most
    /// [`HELP_REPLIES_PER_HOUR`] per number an hour: a confused handset or an auto-responder must
    /// not turn the service into an SMS loop that costs money and buries real replies.
    async fn send_help_reply(
        &self,
        channel: &str,
        to: &MobileNumber,
        text: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let allowed = {
            let mut seen = self.useless_replies.lock().unwrap_or_else(|e| e.into_inner());
            let entry = seen.entry(to.as_str().to_string()).or_insert((now.millis(), 0));
            if now.millis() - entry.0 >= 3_600_000 {
                *entry = (now.millis(), 0);
            }
            entry.1 += 1;
            entry.1 <= HELP_REPLIES_PER_HOUR
        };
        if allowed {
            self.send_reply(channel, to, text, now).await
        } else {
            tracing::info!(from = %to.masked(), "useless SMS reply over the hourly cap; not answered");
            Ok(())
        }
    }

    async fn send_reply(
        &self,
        channel: &str,
        to: &MobileNumber,
        text: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        tx.insert_message(&self.config.composer.reply_message(channel, to.as_str(), text, now)).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}

/// Of the calls a reply code names, the one to act on: one that can still be answered, else the
/// newest (to say it is answered or closed). `calls` come newest first.
pub(crate) fn best_call(calls: Vec<CallRow>) -> Option<CallRow> {
    let mut found: Option<CallRow> = None;
    for c in calls {
        let better = match &found {
            None => true,
            Some(f) => !CallState::ANSWERABLE.contains(&f.state) && CallState::ANSWERABLE.contains(&c.state),
        };
        if better {
            found = Some(c);
        }
    }
    found
}
