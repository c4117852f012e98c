//! The order the outbox sends in when it cannot send everything at once: the most severe tier
//! first, and within a tier a person not yet warned before a reminder to someone already called.

use crate::tier::Tier;

/// What a message is for, as far as its urgency goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The first call to a person (including the first call to a superior after escalation).
    FirstCall,
    /// A repeat of an unanswered call.
    Repeat,
    /// An answer to something the person sent us (confirmation, list of codes).
    Reply,
    /// A notice that asks for nothing (lifted, updated, no longer needed).
    Notice,
}

/// Higher goes out sooner. Tiers are ten apart, so no kind of message of a lower tier ever
/// overtakes any message of a higher one.
pub fn message_priority(tier: Option<Tier>, kind: MessageKind) -> i64 {
    let tier_rank = match tier {
        Some(Tier::Red) => 4,
        Some(Tier::Orange) => 3,
        Some(Tier::Yellow) => 2,
        Some(Tier::Blue) => 1,
        None => 0,
    };
    let kind_rank = match kind {
        MessageKind::FirstCall => 3,
        MessageKind::Repeat => 2,
        MessageKind::Reply => 1,
        MessageKind::Notice => 0,
    };
    tier_rank * 10 + kind_rank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_before_blue_and_first_calls_before_repeats() {
        let all_kinds = [MessageKind::FirstCall, MessageKind::Repeat, MessageKind::Reply, MessageKind::Notice];
        let tiers = [Tier::Blue, Tier::Yellow, Tier::Orange, Tier::Red];
        for pair in tiers.windows(2) {
            for lower in all_kinds {
                for higher in all_kinds {
                    assert!(
                        message_priority(Some(pair[1]), higher) > message_priority(Some(pair[0]), lower),
                        "{:?} {higher:?} must go before {:?} {lower:?}",
                        pair[1],
                        pair[0]
                    );
                }
            }
        }
        for tier in tiers {
            let p = |k| message_priority(Some(tier), k);
            assert!(p(MessageKind::FirstCall) > p(MessageKind::Repeat));
            assert!(p(MessageKind::Repeat) > p(MessageKind::Notice));
        }
        assert!(
            message_priority(Some(Tier::Blue), MessageKind::Notice) > message_priority(None, MessageKind::FirstCall)
        );
    }
}
