//! The DingTalk (钉钉) custom robot: `POST .../robot/send?access_token=<T>` with a text message that
//! @-mentions the person by mobile, signed when the robot's security setting is "加签" (a `SEC...`
//! secret): `&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256>` on the URL.

use std::fmt;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{carrying_text, fit_text, local_mobile, unix_now, Answer, Mention, Robot};
use crate::channel::{AddressKind, Channel, Outgoing, SendError, Sent};

/// Our cap on the text. DingTalk's own is not in our reference; a warning longer than this does
/// not belong in a group chat anyway, and the code and link survive the cut.
const TEXT_LIMIT: usize = 16 * 1024;

const ANSWER: Answer = Answer { code_fields: &["errcode"], message_fields: &["errmsg"], transient: transient_code };

/// 130101: over 20 messages a minute, the robot is blocked for 10 minutes. -1: "system busy".
/// 310000 (bad signature, missing keyword, IP not allowed) and the rest are permanent.
fn transient_code(code: i64) -> Option<&'static str> {
    match code {
        130101 => Some("rate limited: over 20 messages a minute blocks the robot for 10 minutes"),
        -1 => Some("system busy"),
        _ => None,
    }
}

/// The signature of a DingTalk request at `timestamp_ms`: base64 of HMAC-SHA256 keyed with the
/// secret over `"{timestamp_ms}\n{secret}"`. It goes on the URL URL-encoded.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The webhook URL with `timestamp` and `sign` appended (the query serializer percent-encodes the
/// base64's `+`, `/` and `=`, which DingTalk's "urlencode" step asks for).
fn signed_url(url: &Url, secret: &str, timestamp_ms: i64) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &dingtalk_sign(secret, timestamp_ms));
    url
}

pub struct DingtalkChannel {
    robot: Robot,
    secret: Option<SecretString>,
    mention: Mention,
}

impl fmt::Debug for DingtalkChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DingtalkChannel")
            .field("target", &self.robot.target())
            .field("access_token", &"[REDACTED]")
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("mention", &self.mention)
            .finish()
    }
}

impl DingtalkChannel {
    pub(crate) fn new(robot: Robot, secret: Option<SecretString>, mention: Mention) -> Self {
        DingtalkChannel { robot, secret, mention }
    }

    /// The JSON body for one message. The `at` field makes the mention notify; the `@mobile` in
    /// the text makes it show (DingTalk wants both).
    fn body(&self, msg: &Outgoing<'_>) -> Value {
        let mobile = local_mobile(msg.to);
        let at_mobile = self.mention == Mention::Mobile && !mobile.is_empty();
        let suffix = if at_mobile { format!(" @{mobile}") } else { String::new() };
        let text = carrying_text(msg.text, msg.code, msg.link);
        let content = fit_text(&text, msg.code, msg.link, TEXT_LIMIT - suffix.len()) + &suffix;
        let at_mobiles: Vec<String> = if at_mobile { vec![mobile] } else { Vec::new() };
        json!({
            "msgtype": "text",
            "text": { "content": content },
            "at": { "atMobiles": at_mobiles, "isAtAll": self.mention == Mention::All },
        })
    }
}

#[async_trait]
impl Channel for DingtalkChannel {
    fn kind(&self) -> &'static str {
        "dingtalk"
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Mobile
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError> {
        let url = match &self.secret {
            Some(secret) => {
                let now_ms = i64::try_from(unix_now().as_millis()).unwrap_or(i64::MAX);
                signed_url(&self.robot.url, secret.expose_secret(), now_ms)
            }
            None => self.robot.url.clone(),
        };
        self.robot.post(url, &self.body(msg), &ANSWER).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "SECb0a8c6a1f4e2d3c4b5a6978877665544332211ffeeddccbbaa0099887766554433";

    /// Computed with Python's hmac/hashlib/base64/urllib (no published vector exists):
    /// `base64(hmac.new(s, f"{ts}\n{s}", sha256))`, `quote_plus` of it.
    #[test]
    fn sign_matches_an_independently_computed_vector() {
        assert_eq!(dingtalk_sign(SECRET, 1_700_000_000_000), "oD++ZYE8mGHZX/OcJ7qlKcwJ8KwcboYiEm35rInhLsI=");
    }

    #[test]
    fn signed_url_keeps_the_token_and_percent_encodes_the_signature() {
        let url = Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abc123").unwrap();
        let signed = signed_url(&url, SECRET, 1_700_000_000_000);
        assert_eq!(
            signed.query(),
            Some(
                "access_token=abc123&timestamp=1700000000000&sign=oD%2B%2BZYE8mGHZX%2FOcJ7qlKcwJ8KwcboYiEm35rInhLsI%3D"
            )
        );
    }

    #[test]
    fn only_the_ten_minute_block_and_busy_are_transient() {
        assert!(transient_code(130101).is_some());
        assert!(transient_code(-1).is_some());
        assert!(transient_code(310000).is_none());
        assert!(transient_code(300001).is_none());
    }

    #[test]
    fn debug_redacts_token_and_secret() {
        let url = Url::parse("https://oapi.dingtalk.com/robot/send?access_token=tok-0123456789abcdef").unwrap();
        let secret = SecretString::from(SECRET.to_string());
        let robot = Robot::new("DingTalk robot", url, Some(secret.clone()), super::super::DEFAULT_TIMEOUT).unwrap();
        let dbg = format!("{:?}", DingtalkChannel::new(robot, Some(secret), Mention::Mobile));
        assert!(!dbg.contains("0123456789abcdef") && !dbg.contains(SECRET), "{dbg}");
        assert!(dbg.contains("oapi.dingtalk.com"), "{dbg}");
    }
}
