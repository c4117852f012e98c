//! Composing the outbox rows for one attempt of one call: one message per channel of the tier's
//! policy that can reach the person, each carrying the call's reply code and signed answer link.

use std::collections::BTreeMap;

use jiaoying_core::message::{self, AlertText, CallReason, CallText};
use jiaoying_core::token::{AnswerToken, TokenSigner};
use jiaoying_core::{Person, Span, Timestamp};
use jiaoying_dispatch::AddressKind;
use jiaoying_store::{AlertRow, CallRow, NewMessage, Purpose};

/// How long an answer link works when the alert names no expiry.
const LINK_LIFETIME_WITHOUT_EXPIRY: Span = Span::from_mins(7 * 24 * 60);
/// An answer link always works at least this long after it is sent, even for an alert whose
/// stated expiry is near or past: a late answer is still worth recording.
const LINK_MIN_LIFETIME: Span = Span::from_mins(24 * 60);

#[derive(Clone)]
pub struct Composer {
    signer: TokenSigner,
    /// Base of answer links, without a trailing slash.
    public_url: String,
    /// The office name in brackets at the start of every SMS (短信签名).
    signature: String,
    /// Channel name → the address it needs.
    channels: BTreeMap<String, AddressKind>,
}

impl Composer {
    pub fn new(
        signer: TokenSigner,
        public_url: &str,
        signature: &str,
        channels: BTreeMap<String, AddressKind>,
    ) -> Self {
        Composer {
            signer,
            public_url: public_url.trim_end_matches('/').to_string(),
            signature: signature.to_string(),
            channels,
        }
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The signed answer link of a call.
    pub fn answer_link(&self, alert: &AlertRow, call_id: i64, now: Timestamp) -> String {
        let by_alert = match alert.expires {
            Some(e) => Timestamp(e),
            None => Timestamp(alert.created_at).plus(LINK_LIFETIME_WITHOUT_EXPIRY),
        };
        let expires = by_alert.max(now.plus(LINK_MIN_LIFETIME));
        let token = self.signer.sign(AnswerToken { call_id, expires_secs: expires.millis() / 1000 });
        format!("{}/a/{token}", self.public_url)
    }

    pub(crate) fn alert_text<'a>(&'a self, alert: &'a AlertRow) -> AlertText<'a> {
        AlertText {
            event: &alert.event,
            tier: alert.tier,
            headline: &alert.headline,
            description: &alert.description,
            instruction: &alert.instruction,
            drill: alert.is_drill(),
            signature: &self.signature,
        }
    }

    fn address(&self, channel: &str, person: &Person) -> Option<String> {
        match self.channels.get(channel)? {
            AddressKind::Mobile => Some(person.mobile.as_str().to_string()),
            AddressKind::Email => person.email.clone().filter(|e| !e.trim().is_empty()),
        }
    }

    /// The messages of one attempt of `call` on `channels`. Empty when no channel can reach the
    /// person (no such channel, no e-mail address): the caller flags the call.
    pub fn call_messages(
        &self,
        alert: &AlertRow,
        call: &CallRow,
        person: &Person,
        reason: CallReason<'_>,
        channels: &[String],
        now: Timestamp,
    ) -> Vec<NewMessage> {
        let link = self.answer_link(alert, call.id, now);
        let directive = call
            .directive
            .as_deref()
            .and_then(jiaoying_core::directive::parse_stored)
            .map(|(measure, text)| (measure.zh(), text));
        let text = CallText { alert: self.alert_text(alert), reason, code: &call.reply_code, link: &link, directive };
        channels
            .iter()
            .filter_map(|ch| {
                let to = self.address(ch, person)?;
                let email = self.channels.get(ch) == Some(&AddressKind::Email);
                Some(NewMessage {
                    alert_id: Some(alert.id),
                    call_id: Some(call.id),
                    channel: ch.clone(),
                    recipient: to,
                    purpose: Purpose::Call,
                    subject: message::email_subject(&text),
                    body: if email { message::email_call_text(&text) } else { message::sms_call_text(&text) },
                    code: Some(call.reply_code.clone()),
                    link: Some(link.clone()),
                    now: now.millis(),
                })
            })
            .collect()
    }

    /// A notice (lifted, updated) about `alert` to `person`, asking for nothing.
    pub fn notice_messages(
        &self,
        alert: &AlertRow,
        call: &CallRow,
        person: &Person,
        what: &str,
        channels: &[String],
        now: Timestamp,
    ) -> Vec<NewMessage> {
        let a = self.alert_text(alert);
        let text = message::sms_notice_text(&a, what);
        channels
            .iter()
            .filter_map(|ch| {
                Some(NewMessage {
                    alert_id: Some(alert.id),
                    call_id: Some(call.id),
                    channel: ch.clone(),
                    recipient: self.address(ch, person)?,
                    purpose: Purpose::Notice,
                    subject: text.clone(),
                    body: text.clone(),
                    code: None,
                    link: None,
                    now: now.millis(),
                })
            })
            .collect()
    }

    /// A reply to an inbound SMS, on the channel it came in on.
    pub fn reply_message(&self, channel: &str, to: &str, text: String, now: Timestamp) -> NewMessage {
        NewMessage {
            alert_id: None,
            call_id: None,
            channel: channel.to_string(),
            recipient: to.to_string(),
            purpose: Purpose::Reply,
            subject: text.clone(),
            body: text,
            code: None,
            link: None,
            now: now.millis(),
        }
    }
}
