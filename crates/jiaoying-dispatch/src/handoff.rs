//! Messages claimed as they are written (ADR 0021). A big fan-out's chunk inserts its messages
//! already leased to this instance (`sending`, with the outbox's lease) and hands them here after
//! its commit; the channel's next step sends them as if it had claimed them, without the claim's
//! write and read of every message. What waits here is bounded per channel by what two steps send,
//! so a crash leaves no more leased-and-unsent messages than a claim does: they go out again when
//! their lease runs out, like any claim of a stopped sender. A message whose lease would end
//! before its request could finish is not sent from here but returned to the queue (the step's
//! usual check), and a stopping outbox returns whatever still waits.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use jiaoying_core::{Span, Timestamp};
use jiaoying_store::MessageRow;

pub struct Handoff {
    /// Per channel, the most that may wait; a channel not named here takes nothing.
    limits: HashMap<String, usize>,
    /// The outbox's lease, which a message handed over is written with.
    lease: Span,
    waiting: Mutex<HashMap<String, VecDeque<MessageRow>>>,
}

impl Handoff {
    pub fn new(limits: impl IntoIterator<Item = (String, usize)>, lease: Span) -> Self {
        Handoff { limits: limits.into_iter().collect(), lease, waiting: Mutex::default() }
    }

    /// The lease a message written at `now` to be handed over holds.
    pub fn lease_until(&self, now: Timestamp) -> i64 {
        now.plus(self.lease).millis()
    }

    /// How many more of `channel`'s messages may be handed over now.
    pub fn room(&self, channel: &str) -> usize {
        let limit = self.limits.get(channel).copied().unwrap_or(0);
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        limit.saturating_sub(waiting.get(channel).map_or(0, VecDeque::len))
    }

    /// Takes messages already `sending` under this instance's lease (committed), for their
    /// channels' steps.
    pub fn give(&self, rows: Vec<MessageRow>) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        for row in rows {
            waiting.entry(row.channel.clone()).or_default().push_back(row);
        }
    }

    /// Up to `max` of `channel`'s waiting messages, the most urgent first (then oldest).
    pub(crate) fn take(&self, channel: &str, max: usize) -> Vec<MessageRow> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = waiting.get_mut(channel) else { return Vec::new() };
        if queue.is_empty() || max == 0 {
            return Vec::new();
        }
        let queue = queue.make_contiguous();
        queue.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
        let n = max.min(queue.len());
        waiting.get_mut(channel).map(|q| q.drain(..n).collect()).unwrap_or_default()
    }

    /// Everything still waiting (a stopping outbox returns it to the queue).
    pub(crate) fn drain(&self) -> Vec<MessageRow> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.values_mut().flat_map(|q| q.drain(..)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, channel: &str, priority: i64) -> MessageRow {
        MessageRow {
            id,
            alert_id: Some(1),
            call_id: Some(id),
            channel: channel.into(),
            recipient: "+8613800000001".into(),
            purpose: "call".into(),
            subject: String::new(),
            body: String::new(),
            code: None,
            link: None,
            state: "sending".into(),
            attempts: 1,
            next_attempt_at: 0,
            lease_until: Some(30_000),
            provider_id: None,
            last_error: None,
            created_at: 0,
            sent_at: None,
            delivered_at: None,
            priority,
            tried_channels: String::new(),
        }
    }

    #[test]
    fn room_is_the_channels_limit_less_what_waits() {
        let h = Handoff::new([("sms".to_string(), 3)], Span::from_secs(30));
        assert_eq!(h.room("sms"), 3);
        assert_eq!(h.room("email"), 0, "a channel without a limit takes nothing");
        h.give(vec![row(1, "sms", 0), row(2, "sms", 0)]);
        assert_eq!(h.room("sms"), 1);
        assert_eq!(h.take("sms", 1).len(), 1);
        assert_eq!(h.room("sms"), 2);
    }

    #[test]
    fn a_channel_takes_its_own_most_urgent_first_then_oldest() {
        let h = Handoff::new([("sms".to_string(), 10), ("voice".to_string(), 10)], Span::from_secs(30));
        h.give(vec![row(5, "sms", 0), row(3, "sms", 2), row(4, "voice", 9), row(1, "sms", 0)]);
        let ids: Vec<i64> = h.take("sms", 2).iter().map(|m| m.id).collect();
        assert_eq!(ids, [3, 1]);
        assert_eq!(h.take("sms", 0), Vec::<MessageRow>::new());
        let ids: Vec<i64> = h.take("sms", 10).iter().map(|m| m.id).collect();
        assert_eq!(ids, [5]);
        assert!(h.take("sms", 10).is_empty());
        let left: Vec<i64> = h.drain().iter().map(|m| m.id).collect();
        assert_eq!(left, [4], "what waits on other channels is drained at the stop");
        assert!(h.drain().is_empty());
    }
}
