//! The WeCom (企业微信) group robot: `POST .../cgi-bin/webhook/send?key=<KEY>` with a text message
//! that @-mentions the person by mobile. The key in the URL is the only credential; nothing is
//! signed.

use std::fmt;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{carrying_text, fit_text, local_mobile, Answer, Mention, Robot};
use crate::channel::{AddressKind, Channel, Outgoing, SendError, Sent};

/// WeCom's cap on `text.content`, in bytes of UTF-8.
pub const WECOM_TEXT_LIMIT: usize = 2048;

const ANSWER: Answer = Answer { code_fields: &["errcode"], message_fields: &["errmsg"], transient: transient_code };

/// 45009: over the robot's 20 messages a minute. -1: WeCom's global "system busy, retry".
fn transient_code(code: i64) -> Option<&'static str> {
    match code {
        45009 => Some("rate limited: 20 messages a minute per robot"),
        -1 => Some("system busy"),
        _ => None,
    }
}

pub struct WecomChannel {
    robot: Robot,
    mention: Mention,
}

impl fmt::Debug for WecomChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WecomChannel")
            .field("target", &self.robot.target())
            .field("key", &"[REDACTED]")
            .field("mention", &self.mention)
            .finish()
    }
}

impl WecomChannel {
    pub(crate) fn new(robot: Robot, mention: Mention) -> Self {
        WecomChannel { robot, mention }
    }

    /// The JSON body for one message.
    fn body(&self, msg: &Outgoing<'_>) -> Value {
        let text = carrying_text(msg.text, msg.code, msg.link);
        let content = fit_text(&text, msg.code, msg.link, WECOM_TEXT_LIMIT);
        let mobile = local_mobile(msg.to);
        let mentioned: Option<Vec<String>> = match self.mention {
            Mention::Mobile if !mobile.is_empty() => Some(vec![mobile]),
            Mention::All => Some(vec!["@all".to_string()]),
            Mention::Mobile | Mention::None => None,
        };
        let mut text = json!({ "content": content });
        if let Some(list) = mentioned {
            text["mentioned_mobile_list"] = json!(list);
        }
        json!({ "msgtype": "text", "text": text })
    }
}

#[async_trait]
impl Channel for WecomChannel {
    fn kind(&self) -> &'static str {
        "wecom"
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Mobile
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError> {
        self.robot.post(self.robot.url.clone(), &self.body(msg), &ANSWER).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rate_limit_and_busy_are_transient() {
        assert!(transient_code(45009).is_some());
        assert!(transient_code(-1).is_some());
        assert!(transient_code(93000).is_none());
        assert!(transient_code(0).is_none());
    }

    #[test]
    fn debug_redacts_the_key() {
        let url =
            reqwest::Url::parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0f1e2d3c-secret-key").unwrap();
        let robot = Robot::new("WeCom robot", url, None, super::super::DEFAULT_TIMEOUT).unwrap();
        let dbg = format!("{:?}", WecomChannel::new(robot, Mention::All));
        assert!(!dbg.contains("0f1e2d3c") && !dbg.contains("secret-key"), "{dbg}");
        assert!(dbg.contains("qyapi.weixin.qq.com") && dbg.contains("[REDACTED]"), "{dbg}");
    }
}
