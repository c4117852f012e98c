//! Composing the outbox rows for one attempt of one call: one message per channel of the tier's
//! policy that can reach the person, each carrying the call's reply code and signed answer link.
//! The words come from the templates (built in, or `[messages] templates`); SMS texts are fitted
//! to the segment budget there.

use std::collections::BTreeMap;

use jiaoying_core::message::{AlertText, CallReason, CallText, Notice, NoticeText, Recipient, Reply};
use jiaoying_core::token::{AnswerToken, TokenSigner};
use jiaoying_core::urgency::{message_priority, MessageKind};
use jiaoying_core::{Person, Span, Timestamp};
use jiaoying_dispatch::AddressKind;
use jiaoying_store::{AlertRow, CallRow, NewMessage, Purpose};

use crate::templates::Templates;

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
    /// The words, their language and the SMS budget; compiled once, shared.
    templates: Templates,
}

impl Composer {
    /// A composer with the built-in templates (Chinese, two segments an SMS).
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
            templates: Templates::builtin(),
        }
    }

    /// Uses `templates` (loaded from the config's templates file) instead of the built-in ones.
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
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

    /// The address `person` has on `channel`, if the channel can reach them.
    pub(crate) fn address(&self, channel: &str, person: &Person) -> Option<String> {
        match self.channels.get(channel)? {
            AddressKind::Mobile => Some(person.mobile.as_str().to_string()),
            AddressKind::Email => person.email.clone().filter(|e| !e.trim().is_empty()),
        }
    }

    pub(crate) fn is_email(&self, channel: &str) -> bool {
        self.channels.get(channel) == Some(&AddressKind::Email)
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
        let directive = call.directive.as_deref().and_then(jiaoying_core::directive::parse_stored);
        let kind = match reason {
            CallReason::Repeat { .. } => MessageKind::Repeat,
            _ => MessageKind::FirstCall,
        };
        let text = CallText {
            alert: self.alert_text(alert),
            reason,
            code: &call.reply_code,
            link: &link,
            directive,
            recipient: recipient(call, person),
        };
        let targets: Vec<(&String, String)> =
            channels.iter().filter_map(|ch| Some((ch, self.address(ch, person)?))).collect();
        if targets.is_empty() {
            return Vec::new();
        }
        // Each text once per attempt, whatever the number of channels.
        let subject = self.templates.email_subject(&text);
        let sms = targets.iter().any(|(ch, _)| !self.is_email(ch)).then(|| self.templates.sms_call(&text));
        let email = targets.iter().any(|(ch, _)| self.is_email(ch)).then(|| self.templates.email_body(&text));
        targets
            .into_iter()
            .map(|(ch, to)| NewMessage {
                alert_id: Some(alert.id),
                call_id: Some(call.id),
                channel: ch.clone(),
                recipient: to,
                purpose: Purpose::Call,
                subject: subject.clone(),
                body: if self.is_email(ch) { email.clone() } else { sms.clone() }.unwrap_or_default(),
                code: Some(call.reply_code.clone()),
                link: Some(link.clone()),
                now: now.millis(),
                priority: message_priority(Some(alert.tier), kind),
            })
            .collect()
    }

    /// A notice about `alert` to `person`, asking for nothing: no code, no link. `notice` is a
    /// [`Notice`], or plain words (升级, 更新 and 已解除 are understood as their kinds).
    pub fn notice_messages<'n>(
        &self,
        alert: &AlertRow,
        call: &CallRow,
        person: &Person,
        notice: impl Into<Notice<'n>>,
        channels: &[String],
        now: Timestamp,
    ) -> Vec<NewMessage> {
        let n = NoticeText { alert: self.alert_text(alert), notice: notice.into(), recipient: recipient(call, person) };
        let targets: Vec<(&String, String)> =
            channels.iter().filter_map(|ch| Some((ch, self.address(ch, person)?))).collect();
        if targets.is_empty() {
            return Vec::new();
        }
        let sms = targets.iter().any(|(ch, _)| !self.is_email(ch)).then(|| self.templates.sms_notice(&n));
        let email = self.templates.email_notice(&n);
        targets
            .into_iter()
            .map(|(ch, to)| NewMessage {
                alert_id: Some(alert.id),
                call_id: Some(call.id),
                channel: ch.clone(),
                recipient: to,
                purpose: Purpose::Notice,
                subject: email.clone(),
                body: if self.is_email(ch) { Some(email.clone()) } else { sms.clone() }.unwrap_or_default(),
                code: None,
                link: None,
                now: now.millis(),
                priority: message_priority(Some(alert.tier), MessageKind::Notice),
            })
            .collect()
    }

    /// The words of the service's answer to an SMS reply.
    pub fn reply_text(&self, reply: &Reply<'_>) -> String {
        self.templates.reply(&self.signature, reply)
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
            priority: message_priority(None, MessageKind::Reply),
        }
    }
}

/// The person a message goes to, in the role their call is for (the first, when several).
fn recipient<'a>(call: &'a CallRow, person: &'a Person) -> Recipient<'a> {
    Recipient { name: &person.name, role: call.roles.split(';').next().unwrap_or(""), area: &call.area }
}
