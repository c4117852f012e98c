//! The follow step: for each subscriber, the log rows after its cursor become deliveries (those
//! it wants), queued in the same transaction that moves the cursor (compare-and-set, so two
//! instances never queue an event twice, and a crash between the two cannot happen).
//!
//! Ids are not commit order on PostgreSQL: a transaction can take id 10, another id 11 and commit
//! first. A cursor moved past 11 would lose 10 for good. So a step takes only the rows up to the
//! first hole in the ids; a hole is either still being written (a transaction in flight) or
//! permanent (a rolled-back transaction, a sequence jump after a crash). To tell which, the step
//! notes the snapshot's `xmax` when it first sees the hole; once every transaction older than
//! that has ended (a later snapshot's `xmin` has passed it), whatever is still missing below the
//! rows seen then will never come, and the step takes those rows. On SQLite one writer commits
//! ids in order, and every visible row is taken at once.
//!
//! The two logs are merged by time (alert messages first at equal times), so a subscriber hears
//! that an alert was taken before it hears about its calls. When one log had more rows than a
//! step reads, or stops at a hole, the other is taken only up to the same time.

use std::collections::HashMap;

use jiaoying_store::{AlertRow, LinkAlertMessage, LinkCallEvent, LinkCursor, NewLinkDelivery, StoreError, StoreResult};
use jiaoying_tracker::Step;

use crate::config::Subscriber;
use crate::events::{alert_body, alert_event_name, call_body, call_event_name, BodyContext};
use crate::Linker;

/// Rows read from each log per subscriber and step.
pub const FOLLOW_BATCH: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Log {
    Calls,
    Messages,
}

/// A hole in a log's ids, first seen when the rows went up to `max_id` and the snapshot's `xmax`
/// was `xmax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub max_id: i64,
    pub xmax: i64,
}

/// How many of `ids` (ascending, all above `after`) follow `after` without a hole.
pub fn contiguous(after: i64, ids: impl IntoIterator<Item = i64>) -> usize {
    (after + 1..).zip(ids).take_while(|(expected, id)| id == expected).count()
}

/// How far each log may be taken: the rows settled (no hole below them), and whether the log
/// was read to its end. The other log is taken only up to the time of the last settled row of a
/// log read partly.
pub fn cutoff(logs: &[(&[i64], bool)]) -> i64 {
    logs.iter()
        .filter(|(_, complete)| !complete)
        .map(|(ats, _)| ats.iter().copied().max().unwrap_or(i64::MIN))
        .min()
        .unwrap_or(i64::MAX)
}

enum Item<'a> {
    Message(&'a LinkAlertMessage),
    Call(&'a LinkCallEvent),
}

impl Linker {
    /// One step over every subscriber; `Done` when any log rows were taken.
    pub async fn follow_step(&self) -> StoreResult<Step> {
        let mut taken = 0;
        for s in &self.config.subscribers {
            taken += self.follow_one(s).await?;
        }
        Ok(if taken > 0 { Step::Done(taken) } else { Step::Empty { next_due: None } })
    }

    async fn cursor_of(&self, s: &Subscriber) -> StoreResult<LinkCursor> {
        if let Some(c) = self.cursors.lock().expect("cursor lock").get(&s.name) {
            return Ok(*c);
        }
        let heads = self.store.link_log_heads().await?;
        let c = self.store.ensure_link_cursor(&s.name, heads, self.clock.now().millis()).await?;
        self.cursors.lock().expect("cursor lock").insert(s.name.clone(), c);
        Ok(c)
    }

    fn gap(&self, s: &Subscriber, log: Log) -> Option<Gap> {
        self.gaps.lock().expect("gap lock").get(&(s.name.clone(), log)).copied()
    }

    /// How many of `ids` (read after `after`) are settled: below them no transaction in flight
    /// can still add a row. `before` is the horizon taken before the rows were read.
    async fn settled(
        &self,
        s: &Subscriber,
        log: Log,
        after: i64,
        ids: &[i64],
        before: Option<(i64, i64)>,
    ) -> StoreResult<usize> {
        let n = contiguous(after, ids.iter().copied());
        let key = (s.name.clone(), log);
        if n == ids.len() {
            self.gaps.lock().expect("gap lock").remove(&key);
            return Ok(n);
        }
        if let (Some(gap), Some((xmin, _))) = (self.gap(s, log), before) {
            if xmin >= gap.xmax {
                // Every transaction in flight when the hole was seen had ended before these rows
                // were read: what is missing up to `max_id` will never come.
                self.gaps.lock().expect("gap lock").remove(&key);
                return Ok(ids.iter().take_while(|&&id| id <= gap.max_id).count().max(n));
            }
            return Ok(n);
        }
        match self.store.link_horizon().await? {
            // One writer (SQLite): ids commit in order, a hole is never filled later.
            None => Ok(ids.len()),
            Some((_, xmax)) => {
                let max_id = ids.last().copied().unwrap_or(after);
                self.gaps.lock().expect("gap lock").entry(key).or_insert(Gap { max_id, xmax });
                Ok(n)
            }
        }
    }

    /// Takes the subscriber's new log rows; returns how many.
    async fn follow_one(&self, s: &Subscriber) -> StoreResult<usize> {
        let from = self.cursor_of(s).await?;
        let before = if self.gap(s, Log::Calls).is_some() || self.gap(s, Log::Messages).is_some() {
            self.store.link_horizon().await?
        } else {
            None
        };
        let calls = self.store.link_call_events_after(from.calls_after, FOLLOW_BATCH).await?;
        let messages = self.store.link_alert_messages_after(from.messages_after, FOLLOW_BATCH).await?;
        if calls.is_empty() && messages.is_empty() {
            return Ok(0);
        }
        let call_ids: Vec<i64> = calls.iter().map(|c| c.id).collect();
        let message_ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
        let nc = self.settled(s, Log::Calls, from.calls_after, &call_ids, before).await?;
        let nm = self.settled(s, Log::Messages, from.messages_after, &message_ids, before).await?;
        let call_ats: Vec<i64> = calls[..nc].iter().map(|c| c.at).collect();
        let message_ats: Vec<i64> = messages[..nm].iter().map(|m| m.received_at).collect();
        let limit = cutoff(&[
            (&call_ats, nc == calls.len() && (calls.len() as i64) < FOLLOW_BATCH),
            (&message_ats, nm == messages.len() && (messages.len() as i64) < FOLLOW_BATCH),
        ]);
        let calls = &calls[..call_ats.iter().take_while(|&&at| at <= limit).count()];
        let messages = &messages[..message_ats.iter().take_while(|&&at| at <= limit).count()];
        if calls.is_empty() && messages.is_empty() {
            return Ok(0);
        }
        let to = LinkCursor {
            calls_after: calls.last().map_or(from.calls_after, |c| c.id),
            messages_after: messages.last().map_or(from.messages_after, |m| m.id),
        };

        let mut items: Vec<(i64, u8, i64, Item<'_>)> = messages
            .iter()
            .map(|m| (m.received_at, 0, m.id, Item::Message(m)))
            .chain(calls.iter().map(|c| (c.at, 1, c.id, Item::Call(c))))
            .collect();
        items.sort_by_key(|(at, rank, id, _)| (*at, *rank, *id));
        let ctx = BodyContext { sender: &self.config.feed.sender, public_url: &self.config.feed.public_url };
        let mut alerts: HashMap<i64, Option<AlertRow>> = HashMap::new();
        let mut deliveries = Vec::new();
        for (_, _, _, item) in &items {
            let (name, alert_id) = match item {
                Item::Message(m) => (Some(alert_event_name(m)), m.alert_id),
                Item::Call(c) => (call_event_name(c), c.alert_id),
            };
            let Some(name) = name.filter(|n| s.filter.wants(n)) else { continue };
            if let std::collections::hash_map::Entry::Vacant(slot) = alerts.entry(alert_id) {
                slot.insert(self.store.alert(alert_id).await?);
            }
            let Some(alert) = alerts[&alert_id].as_ref() else {
                tracing::warn!(alert_id, subscriber = %s.name, "an event names an alert that is not stored; skipped");
                continue;
            };
            deliveries.push(match item {
                Item::Message(m) => NewLinkDelivery {
                    subscriber: s.name.clone(),
                    event_key: format!("alert_message:{}", m.id),
                    event: name.to_string(),
                    alert_id: Some(alert_id),
                    call_id: None,
                    body: alert_body(&ctx, name, m, alert),
                },
                Item::Call(c) => NewLinkDelivery {
                    subscriber: s.name.clone(),
                    event_key: format!("call_event:{}", c.id),
                    event: name.to_string(),
                    alert_id: Some(alert_id),
                    call_id: Some(c.call_id),
                    body: call_body(&ctx, name, c, alert),
                },
            });
        }
        let now = self.clock.now().millis();
        match self.store.advance_link_cursor(&s.name, from, to, &deliveries, now).await {
            Ok(true) => {}
            Ok(false) => {
                // Another instance moved the cursor (and queued these): read where it is now.
                self.cursors.lock().expect("cursor lock").remove(&s.name);
                return Ok(0);
            }
            Err(StoreError::Conflict(_)) => {
                self.cursors.lock().expect("cursor lock").remove(&s.name);
                return Ok(0);
            }
            Err(e) => return Err(e),
        }
        self.cursors.lock().expect("cursor lock").insert(s.name.clone(), to);
        if !deliveries.is_empty() {
            tracing::debug!(subscriber = %s.name, queued = deliveries.len(), "deliveries queued");
            self.wake(&s.name);
        }
        Ok(items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_taken_up_to_the_first_hole() {
        assert_eq!(contiguous(0, [1, 2, 3]), 3);
        assert_eq!(contiguous(0, [1, 2, 4, 5]), 2);
        assert_eq!(contiguous(10, [12, 13]), 0);
        assert_eq!(contiguous(10, []), 0);
    }

    #[test]
    fn a_log_read_partly_holds_the_other_back_to_its_time() {
        // Both read to the end: everything goes.
        assert_eq!(cutoff(&[(&[5, 9], true), (&[7], true)]), i64::MAX);
        // Calls stopped (a hole, or a full page) at time 9: messages up to 9 only.
        assert_eq!(cutoff(&[(&[5, 9], false), (&[7, 12], true)]), 9);
        // A log stopped before any settled row holds everything back.
        assert_eq!(cutoff(&[(&[], false), (&[7], true)]), i64::MIN);
        assert_eq!(cutoff(&[(&[5, 20], false), (&[3, 8], false)]), 8);
    }
}
