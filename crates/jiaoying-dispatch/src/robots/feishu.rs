//! The Feishu/Lark (飞书) custom bot: `POST .../open-apis/bot/v2/hook/<token>` with a text message,
//! signed (when the bot has a secret) by `timestamp` and `sign` in the JSON body. Feishu mentions
//! by user id only, never by mobile, so `mentions` maps mobiles to open_ids.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{carrying_text, fit_text, local_mobile, unix_now, Answer, Mention, Robot};
use crate::channel::{AddressKind, Channel, Outgoing, SendError, Sent};

/// Our cap on the text: Feishu takes bodies up to 20 KB, and the JSON around the text (and its
/// escapes) needs some of that.
const TEXT_LIMIT: usize = 16 * 1024;

/// `code` is the current answer field; `StatusCode` the older one, which some tenants still get.
const ANSWER: Answer = Answer {
    code_fields: &["code", "StatusCode"],
    message_fields: &["msg", "StatusMessage"],
    transient: transient_code,
};

/// 11232: over 5 a second or 100 a minute (Feishu suggests avoiding :00 and :30). 9499 (bad
/// request), 19021 (signature or timestamp), 19022 (IP), 19024 (keyword) and the rest are
/// permanent.
fn transient_code(code: i64) -> Option<&'static str> {
    match code {
        11232 => Some("rate limited: 5 a second and 100 a minute per bot"),
        _ => None,
    }
}

/// The signature of a Feishu request at `timestamp_secs`: base64 of HMAC-SHA256 keyed with
/// `"{timestamp_secs}\n{secret}"` over an empty message (the reverse of DingTalk's recipe).
pub fn feishu_sign(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub struct FeishuChannel {
    robot: Robot,
    secret: Option<SecretString>,
    mention: Mention,
    /// Bare 11-digit mobile → open_id.
    mentions: BTreeMap<String, String>,
}

impl fmt::Debug for FeishuChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeishuChannel")
            .field("target", &self.robot.target())
            .field("token", &"[REDACTED]")
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("mention", &self.mention)
            .field("mentions", &self.mentions.len())
            .finish()
    }
}

impl FeishuChannel {
    pub(crate) fn new(
        robot: Robot,
        secret: Option<SecretString>,
        mention: Mention,
        mentions: BTreeMap<String, String>,
    ) -> Self {
        FeishuChannel { robot, secret, mention, mentions }
    }

    /// The JSON body for one message at `now_secs`.
    fn body(&self, msg: &Outgoing<'_>, now_secs: i64) -> Value {
        let prefix = match self.mention {
            Mention::Mobile => match self.mentions.get(&local_mobile(msg.to)) {
                Some(open_id) => format!("<at user_id=\"{open_id}\"></at> "),
                None => String::new(),
            },
            Mention::All => "<at user_id=\"all\">所有人</at> ".to_string(),
            Mention::None => String::new(),
        };
        let text = carrying_text(msg.text, msg.code, msg.link);
        let text = prefix.clone() + &fit_text(&text, msg.code, msg.link, TEXT_LIMIT - prefix.len());
        let mut body = json!({ "msg_type": "text", "content": { "text": text } });
        if let Some(secret) = &self.secret {
            // Feishu wants the timestamp as a string.
            body["timestamp"] = json!(now_secs.to_string());
            body["sign"] = json!(feishu_sign(secret.expose_secret(), now_secs));
        }
        body
    }
}

#[async_trait]
impl Channel for FeishuChannel {
    fn kind(&self) -> &'static str {
        "feishu"
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Mobile
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError> {
        let now_secs = i64::try_from(unix_now().as_secs()).unwrap_or(i64::MAX);
        self.robot.post(self.robot.url.clone(), &self.body(msg, now_secs), &ANSWER).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with Python's hmac/hashlib/base64 (no published vector exists):
    /// `base64(hmac.new(f"{ts}\n{s}".encode(), b"", sha256))`.
    #[test]
    fn sign_matches_an_independently_computed_vector() {
        assert_eq!(feishu_sign("feishu-signing-secret", 1_700_000_000), "NgRjKpbVvglmhYtghJqSGy1Bn9RBAcQV0XePujxQEAM=");
    }

    #[test]
    fn only_the_rate_limit_is_transient() {
        assert!(transient_code(11232).is_some());
        for code in [9499, 19021, 19022, 19024] {
            assert!(transient_code(code).is_none(), "{code}");
        }
    }

    fn channel(secret: Option<&str>, mention: Mention) -> FeishuChannel {
        let url = reqwest::Url::parse("https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-feishu-token").unwrap();
        let secret = secret.map(|s| SecretString::from(s.to_string()));
        let robot = Robot::new("Feishu robot", url, secret.clone(), super::super::DEFAULT_TIMEOUT).unwrap();
        let mentions = BTreeMap::from([("13800000001".to_string(), "ou_abc".to_string())]);
        FeishuChannel::new(robot, secret, mention, mentions)
    }

    fn msg(to: &str) -> Outgoing<'_> {
        Outgoing {
            id: 1, to, subject: "", text: "请点击 https://x/a/t 确认", code: None, link: Some("https://x/a/t")
        }
    }

    #[test]
    fn body_is_signed_with_a_string_timestamp_and_mentions_by_open_id() {
        let body = channel(Some("feishu-signing-secret"), Mention::Mobile).body(&msg("+8613800000001"), 1_700_000_000);
        assert_eq!(body["timestamp"], json!("1700000000"));
        assert_eq!(body["sign"], json!("NgRjKpbVvglmhYtghJqSGy1Bn9RBAcQV0XePujxQEAM="));
        assert_eq!(body["content"]["text"], json!("<at user_id=\"ou_abc\"></at> 请点击 https://x/a/t 确认"));

        let body = channel(None, Mention::Mobile).body(&msg("13900000009"), 1_700_000_000);
        assert!(body.get("sign").is_none() && body.get("timestamp").is_none());
        assert_eq!(body["content"]["text"], json!("请点击 https://x/a/t 确认"));

        let body = channel(None, Mention::All).body(&msg("13800000001"), 0);
        assert!(body["content"]["text"].as_str().unwrap().starts_with("<at user_id=\"all\">所有人</at> "));
        let body = channel(None, Mention::None).body(&msg("13800000001"), 0);
        assert!(!body["content"]["text"].as_str().unwrap().contains("<at"));
    }

    #[test]
    fn debug_redacts_token_and_secret() {
        let dbg = format!("{:?}", channel(Some("feishu-signing-secret"), Mention::Mobile));
        assert!(!dbg.contains("feishu-token") && !dbg.contains("feishu-signing-secret"), "{dbg}");
        assert!(dbg.contains("open.feishu.cn"), "{dbg}");
    }
}
