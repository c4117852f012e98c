//! The call state machine: what a call may become, and nothing else.
//!
//! ```text
//! pending → sent → delivered → answered → done
//!    └────────┴────────┴──→ escalated ─→ answered (late)
//! any open state → expired | cancelled | failed
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Pending,
    Sent,
    Delivered,
    Answered,
    Done,
    Escalated,
    Expired,
    Cancelled,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a call cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: CallState,
    pub to: CallState,
}

impl CallState {
    pub const ALL: [CallState; 9] = [
        CallState::Pending,
        CallState::Sent,
        CallState::Delivered,
        CallState::Answered,
        CallState::Done,
        CallState::Escalated,
        CallState::Expired,
        CallState::Cancelled,
        CallState::Failed,
    ];

    /// States in which a call still waits for its person and its timer runs.
    pub const WAITING: [CallState; 3] = [CallState::Pending, CallState::Sent, CallState::Delivered];

    /// States from which an answer is still accepted (an escalated call can be answered late).
    pub const ANSWERABLE: [CallState; 4] =
        [CallState::Pending, CallState::Sent, CallState::Delivered, CallState::Escalated];

    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Pending => "pending",
            CallState::Sent => "sent",
            CallState::Delivered => "delivered",
            CallState::Answered => "answered",
            CallState::Done => "done",
            CallState::Escalated => "escalated",
            CallState::Expired => "expired",
            CallState::Cancelled => "cancelled",
            CallState::Failed => "failed",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            CallState::Pending => "待发送",
            CallState::Sent => "已发送",
            CallState::Delivered => "已送达",
            CallState::Answered => "已应答",
            CallState::Done => "已落实",
            CallState::Escalated => "已升级",
            CallState::Expired => "未叫醒",
            CallState::Cancelled => "已解除",
            CallState::Failed => "发送失败",
        }
    }

    pub fn is_waiting(self) -> bool {
        Self::WAITING.contains(&self)
    }

    /// The one place that says which transitions exist. The databases enforce the same set of
    /// states with CHECK constraints and the same transitions with a trigger (a test compares
    /// the two), and every update is a compare-and-set from a legal source.
    pub fn can_become(self, to: CallState) -> bool {
        use CallState::*;
        matches!(
            (self, to),
            (Pending, Sent | Delivered)
                | (Sent, Delivered)
                | (Pending | Sent | Delivered | Escalated, Answered)
                | (Answered, Done)
                | (Pending | Sent | Delivered, Escalated)
                | (Pending | Sent | Delivered | Escalated, Expired | Cancelled)
                | (Pending | Sent, Failed)
        )
    }

    pub fn transition(self, to: CallState) -> Result<CallState, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// Every state from which `to` can be reached, for compare-and-set updates.
    pub fn sources_of(to: CallState) -> Vec<CallState> {
        Self::ALL.into_iter().filter(|s| s.can_become(to)).collect()
    }
}

impl fmt::Display for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CallState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| format!("unknown call state {s:?}"))
    }
}

impl TryFrom<String> for CallState {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::CallState::*;
    use super::*;

    #[test]
    fn legal_transitions_are_allowed() {
        for (from, to) in [
            (Pending, Sent),
            (Sent, Delivered),
            (Delivered, Answered),
            (Pending, Answered),
            (Answered, Done),
            (Sent, Escalated),
            (Escalated, Answered),
            (Delivered, Expired),
            (Escalated, Cancelled),
            (Pending, Failed),
        ] {
            assert_eq!(from.transition(to), Ok(to), "{from} -> {to}");
        }
    }

    #[test]
    fn illegal_transitions_are_refused() {
        for (from, to) in [
            (Answered, Pending),
            (Answered, Answered),
            (Done, Answered),
            (Cancelled, Answered),
            (Expired, Answered),
            (Delivered, Sent),
            (Escalated, Escalated),
            (Pending, Done),
            (Failed, Sent),
        ] {
            assert!(from.transition(to).is_err(), "{from} -> {to} must be refused");
        }
    }

    #[test]
    fn terminal_states_go_nowhere_but_answered_to_done() {
        for from in [Done, Expired, Cancelled, Failed] {
            for to in CallState::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in CallState::ALL {
            assert_eq!(s.as_str().parse::<CallState>().unwrap(), s);
        }
        assert_eq!(CallState::sources_of(Answered), vec![Pending, Sent, Delivered, Escalated]);
    }
}
