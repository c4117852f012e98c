//! Answers by key press on a voice call: 1 confirms receipt, 2 reports a directive carried out
//! (where the call carries one; otherwise it confirms), 3 asks for the superior to be called now.
//! The gateway's signature vouches for the channel; the message id it echoes ties the key to the
//! one call that voice call was placed for, so a key can never answer someone else's call.

use serde::Serialize;

use crate::answer::{AnswerOutcome, AnswerRequest, DoneOutcome};
use crate::context::{Tracker, TrackerError};

/// What became of a key press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum VoiceOutcome {
    Answered {
        call_id: i64,
        late: bool,
    },
    AlreadyAnswered {
        call_id: i64,
    },
    Done {
        call_id: i64,
    },
    EscalatedNow {
        call_id: i64,
    },
    Closed {
        call_id: i64,
    },
    /// A key that means nothing here (the caller hears the prompt again or hangs up).
    NotUnderstood,
    /// The message is not ours on this channel, or asked for no answer.
    UnknownMessage,
}

impl Tracker {
    /// `digits` pressed on the voice call placed for our message `message_id` on `channel`.
    pub async fn voice_key(&self, channel: &str, message_id: i64, digits: &str) -> Result<VoiceOutcome, TrackerError> {
        let Some(message) = self.store.message(message_id).await? else {
            return Ok(VoiceOutcome::UnknownMessage);
        };
        let Some(call_id) = message.call_id.filter(|_| message.channel == channel && message.code.is_some()) else {
            return Ok(VoiceOutcome::UnknownMessage);
        };
        let Some(call) = self.store.call(call_id).await? else {
            return Ok(VoiceOutcome::UnknownMessage);
        };
        let req =
            AnswerRequest { call_id, via: "voice".into(), actor: format!("person:{}", call.person_id), note: None };
        // Keypads send one key; a gateway that gathers more sends them all, and the first counts.
        let key = digits.trim().chars().next();
        Ok(match key {
            Some('2') if call.directive.is_some() => match self.mark_done(&req, "").await? {
                DoneOutcome::Done { call_id } => VoiceOutcome::Done { call_id },
                DoneOutcome::AlreadyDone { call_id } => VoiceOutcome::AlreadyAnswered { call_id },
                DoneOutcome::Closed { call_id } => VoiceOutcome::Closed { call_id },
            },
            Some('1') | Some('2') => match self.answer(&req).await? {
                AnswerOutcome::Answered { call_id, late, .. } => VoiceOutcome::Answered { call_id, late },
                AnswerOutcome::AlreadyAnswered { call_id, .. } => VoiceOutcome::AlreadyAnswered { call_id },
                AnswerOutcome::Closed { call_id, .. } => VoiceOutcome::Closed { call_id },
                AnswerOutcome::NotFound { .. } => VoiceOutcome::UnknownMessage,
            },
            Some('3') => {
                if self.escalate_call_now(call_id, &req.actor, "voice", None).await? {
                    VoiceOutcome::EscalatedNow { call_id }
                } else {
                    VoiceOutcome::Closed { call_id }
                }
            }
            _ => VoiceOutcome::NotUnderstood,
        })
    }
}
