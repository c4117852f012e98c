//! The events subscribers get: their names, which log row makes which event, the subscriber's
//! filter, and the JSON body. Pure: no I/O, so every mapping is tested here.
//!
//! The body (version 1) is one JSON object per event:
//! `{"id", "event", "at", "sender", "alert": {...}, "call": {...} | "message": {...}}`, where `id`
//! names the event (the same for every subscriber, so a receiver can drop a repeat), `at` is when
//! it happened, `alert` is the alert as it stood when the event was queued, `call` the call's
//! fields (no name or phone number: neighbours need roles and areas, not personal data), and
//! `message` the key of the received alert message (`alert.*` events).

use jiaoying_core::Timestamp;
use jiaoying_store::{AlertRow, LinkAlertMessage, LinkCallEvent};
use serde_json::{json, Value};

pub const ALERT_TAKEN: &str = "alert.taken";
pub const ALERT_UPDATED: &str = "alert.updated";
pub const ALERT_CANCELLED: &str = "alert.cancelled";
pub const CALL_OPENED: &str = "call.opened";
pub const CALL_SENT: &str = "call.sent";
pub const CALL_DELIVERED: &str = "call.delivered";
pub const CALL_FAILED: &str = "call.failed";
pub const CALL_ANSWERED: &str = "call.answered";
pub const CALL_DONE: &str = "call.done";
pub const CALL_ESCALATED: &str = "call.escalated";
pub const CALL_UNREACHED: &str = "call.unreached";
pub const CALL_EXPIRED: &str = "call.expired";
pub const CALL_CANCELLED: &str = "call.cancelled";
pub const CALL_REPEATED: &str = "call.repeated";
pub const CALL_RECALLED: &str = "call.recalled";
pub const CALL_DIRECTIVE_OVERDUE: &str = "call.directive_overdue";

/// Every event name, in a stable order (documentation and validation).
pub const ALL_EVENTS: &[&str] = &[
    ALERT_TAKEN,
    ALERT_UPDATED,
    ALERT_CANCELLED,
    CALL_OPENED,
    CALL_SENT,
    CALL_DELIVERED,
    CALL_FAILED,
    CALL_ANSWERED,
    CALL_DONE,
    CALL_ESCALATED,
    CALL_UNREACHED,
    CALL_EXPIRED,
    CALL_CANCELLED,
    CALL_REPEATED,
    CALL_RECALLED,
    CALL_DIRECTIVE_OVERDUE,
];

/// What a subscriber gets without an `events` list: the alert's lifecycle and the calls' changes
/// that matter to a neighbour (taken, answered, escalated, unreached, cancelled), not the
/// per-message chatter of a fan-out (opened, sent, delivered).
pub const DEFAULT_EVENTS: &[&str] =
    &["alert.*", CALL_ANSWERED, CALL_DONE, CALL_ESCALATED, CALL_UNREACHED, CALL_CANCELLED];

/// The events a subscriber wants: exact names, `alert.*`/`call.*`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Vec<String>);

impl Default for EventFilter {
    fn default() -> Self {
        EventFilter(DEFAULT_EVENTS.iter().map(|s| s.to_string()).collect())
    }
}

impl EventFilter {
    pub fn parse(patterns: &[String]) -> Result<EventFilter, String> {
        if patterns.is_empty() {
            return Err("name at least one event (or leave the list out for the default)".into());
        }
        for p in patterns {
            let known = p == "*"
                || p.strip_suffix(".*")
                    .is_some_and(|kind| ALL_EVENTS.iter().any(|e| e.starts_with(&format!("{kind}."))))
                || ALL_EVENTS.contains(&p.as_str());
            if !known {
                return Err(format!("unknown event {p:?}; known: {} (or alert.*, call.*, *)", ALL_EVENTS.join(", ")));
            }
        }
        Ok(EventFilter(patterns.to_vec()))
    }

    pub fn wants(&self, event: &str) -> bool {
        self.0.iter().any(|p| {
            p == "*"
                || p == event
                || p.strip_suffix('*').is_some_and(|prefix| prefix.ends_with('.') && event.starts_with(prefix))
        })
    }

    pub fn patterns(&self) -> &[String] {
        &self.0
    }
}

/// The event a call-log row is, or `None` for a row that is no state change worth reporting.
pub fn call_event_name(e: &LinkCallEvent) -> Option<&'static str> {
    let via = e.via.as_deref().unwrap_or("");
    if e.from_state.as_deref() == Some(e.to_state.as_str()) {
        // Same state, a note: some are news (a person no channel reaches, a re-call).
        return match via {
            "contact" => Some(CALL_UNREACHED),
            "recall" => Some(CALL_RECALLED),
            "repeat" => Some(CALL_REPEATED),
            "directive" => Some(CALL_DIRECTIVE_OVERDUE),
            _ => None,
        };
    }
    Some(match e.to_state.as_str() {
        "pending" if e.from_state.is_none() => CALL_OPENED,
        "pending" => return None,
        "sent" => CALL_SENT,
        "delivered" => CALL_DELIVERED,
        "failed" => CALL_FAILED,
        "answered" => CALL_ANSWERED,
        "done" => CALL_DONE,
        "escalated" => CALL_ESCALATED,
        "cancelled" => CALL_CANCELLED,
        // The alert ran out: its calls end quietly. Otherwise nobody was left to call: 未叫醒.
        "expired" if via == "expiry" => CALL_EXPIRED,
        "expired" => CALL_UNREACHED,
        _ => return None,
    })
}

/// The event a received alert message is: the one that created the alert is `alert.taken`; a
/// later Cancel `alert.cancelled`; any later other message `alert.updated`.
pub fn alert_event_name(m: &LinkAlertMessage) -> &'static str {
    if m.first {
        ALERT_TAKEN
    } else if m.msg_type == "Cancel" {
        ALERT_CANCELLED
    } else {
        ALERT_UPDATED
    }
}

/// Where the body's links point and who it says sends it.
#[derive(Debug, Clone)]
pub struct BodyContext<'a> {
    pub sender: &'a str,
    pub public_url: &'a str,
}

fn rfc3339(ms: i64) -> String {
    Timestamp(ms).to_rfc3339()
}

fn alert_json(ctx: &BodyContext<'_>, a: &AlertRow) -> Value {
    json!({
        "id": a.id,
        "status": a.status,
        "state": a.state,
        "tier": a.tier.as_str(),
        "event": a.event,
        "headline": a.headline,
        "source": a.source,
        "onset": a.onset.map(rfc3339),
        "expires": a.expires.map(rfc3339),
        "created_at": rfc3339(a.created_at),
        "cap": format!("{}/feeds/alerts/{}.cap", ctx.public_url, a.id),
    })
}

/// The body of a call event.
pub fn call_body(ctx: &BodyContext<'_>, name: &str, e: &LinkCallEvent, alert: &AlertRow) -> String {
    json!({
        "id": format!("call_event:{}", e.id),
        "event": name,
        "at": rfc3339(e.at),
        "sender": ctx.sender,
        "alert": alert_json(ctx, alert),
        "call": {
            "id": e.call_id,
            "person_id": e.person_id,
            "role": e.roles.split(';').next().unwrap_or(""),
            "area": e.area,
            "unit_id": e.unit_id,
            "level": e.level,
            "attempts": e.attempts,
            "from_state": e.from_state,
            "state": e.to_state,
            "via": e.via,
            "unreached": e.unreached,
            "escalated_from": e.escalated_from,
            "escalated_to": e.escalated_to,
        },
    })
    .to_string()
}

/// The body of an alert message event.
pub fn alert_body(ctx: &BodyContext<'_>, name: &str, m: &LinkAlertMessage, alert: &AlertRow) -> String {
    json!({
        "id": format!("alert_message:{}", m.id),
        "event": name,
        "at": rfc3339(m.received_at),
        "sender": ctx.sender,
        "alert": alert_json(ctx, alert),
        "message": {
            "sender": m.sender,
            "identifier": m.identifier,
            "sent": rfc3339(m.sent),
            "msg_type": m.msg_type,
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(from: Option<&str>, to: &str, via: Option<&str>) -> LinkCallEvent {
        LinkCallEvent {
            id: 7,
            alert_id: 1,
            call_id: 3,
            at: 1_782_864_000_000,
            from_state: from.map(String::from),
            to_state: to.into(),
            via: via.map(String::from),
            person_id: "p-grid".into(),
            roles: "grid;community".into(),
            area: "500105002001001".into(),
            unit_id: None,
            level: 0,
            attempts: 1,
            unreached: false,
            escalated_from: None,
            escalated_to: None,
        }
    }

    #[test]
    fn call_log_rows_become_events() {
        let cases = [
            (None, "pending", None, Some(CALL_OPENED)),
            (Some("pending"), "sent", Some("sms"), Some(CALL_SENT)),
            (Some("sent"), "delivered", None, Some(CALL_DELIVERED)),
            (Some("sent"), "answered", Some("sms"), Some(CALL_ANSWERED)),
            (Some("answered"), "done", Some("link"), Some(CALL_DONE)),
            (Some("sent"), "escalated", Some("escalation"), Some(CALL_ESCALATED)),
            (Some("sent"), "expired", Some("timer"), Some(CALL_UNREACHED)),
            (Some("escalated"), "expired", Some("escalation"), Some(CALL_UNREACHED)),
            (Some("sent"), "expired", Some("expiry"), Some(CALL_EXPIRED)),
            (Some("sent"), "cancelled", Some("cancel"), Some(CALL_CANCELLED)),
            (Some("pending"), "failed", None, Some(CALL_FAILED)),
            (Some("pending"), "pending", Some("contact"), Some(CALL_UNREACHED)),
            (Some("sent"), "sent", Some("repeat"), Some(CALL_REPEATED)),
            (Some("sent"), "sent", Some("recall"), Some(CALL_RECALLED)),
            (Some("answered"), "answered", Some("directive"), Some(CALL_DIRECTIVE_OVERDUE)),
            (Some("sent"), "sent", Some("something"), None),
        ];
        for (from, to, via, want) in cases {
            assert_eq!(call_event_name(&ev(from, to, via)), want, "{from:?} -> {to} via {via:?}");
        }
    }

    #[test]
    fn messages_become_alert_events() {
        let m = |first: bool, t: &str| LinkAlertMessage {
            id: 1,
            alert_id: 1,
            sender: "s".into(),
            identifier: "i".into(),
            sent: 0,
            msg_type: t.into(),
            received_at: 0,
            first,
        };
        assert_eq!(alert_event_name(&m(true, "Alert")), ALERT_TAKEN);
        assert_eq!(alert_event_name(&m(true, "Update")), ALERT_TAKEN, "an Update that arrived first created it");
        assert_eq!(alert_event_name(&m(false, "Update")), ALERT_UPDATED);
        assert_eq!(alert_event_name(&m(false, "Alert")), ALERT_UPDATED);
        assert_eq!(alert_event_name(&m(false, "Cancel")), ALERT_CANCELLED);
    }

    #[test]
    fn filters_take_names_kinds_and_everything() {
        let default = EventFilter::default();
        for yes in [ALERT_TAKEN, ALERT_CANCELLED, CALL_ANSWERED, CALL_ESCALATED, CALL_UNREACHED, CALL_CANCELLED] {
            assert!(default.wants(yes), "{yes}");
        }
        for no in [CALL_OPENED, CALL_SENT, CALL_DELIVERED] {
            assert!(!default.wants(no), "{no}");
        }
        let calls = EventFilter::parse(&["call.*".into()]).unwrap();
        assert!(calls.wants(CALL_SENT) && !calls.wants(ALERT_TAKEN));
        let all = EventFilter::parse(&["*".into()]).unwrap();
        assert!(ALL_EVENTS.iter().all(|e| all.wants(e)));
        assert!(EventFilter::parse(&["call.nope".into()]).is_err());
        assert!(EventFilter::parse(&["nope.*".into()]).is_err());
        assert!(EventFilter::parse(&[]).is_err());
        assert!(!EventFilter::parse(&["alert.taken".into()]).unwrap().wants("alert.taken.more"));
    }
}
