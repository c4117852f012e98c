//! The words people receive. Chinese first; every message that asks for an answer carries the
//! call's reply code and answer link, and SMS texts are cut to fit a fixed number of segments.

use crate::registry::Role;
use crate::tier::Tier;

/// A UCS-2 SMS segment of a multi-part message holds 67 characters (70 for a single one).
pub const SMS_SEGMENT_CHARS: usize = 67;
/// Warnings are held to two segments: one costs too little room once the link is in.
pub const SMS_MAX_CHARS: usize = 2 * SMS_SEGMENT_CHARS;

/// What a message is about.
#[derive(Debug, Clone)]
pub struct AlertText<'a> {
    pub event: &'a str,
    pub tier: Tier,
    pub headline: &'a str,
    pub description: &'a str,
    pub instruction: &'a str,
    pub drill: bool,
    /// The sending office, shown in brackets at the start (SMS signature convention).
    pub signature: &'a str,
}

/// Why this person is being called.
#[derive(Debug, Clone)]
pub enum CallReason<'a> {
    /// First call in the person's own role.
    First,
    /// The same call again; `attempt` counts from 1.
    Repeat { attempt: u32 },
    /// Called again because an Update raised the alert's tier.
    Raised,
    /// Escalated to this person because `name` (in `role`) has not answered.
    Escalated { name: &'a str, role: &'a str },
}

/// A message that asks for an answer.
#[derive(Debug, Clone)]
pub struct CallText<'a> {
    pub alert: AlertText<'a>,
    pub reason: CallReason<'a>,
    pub code: &'a str,
    pub link: &'a str,
    /// A control measure (熔断) the person must carry out and report: (断/禁/停/撤/疏, text).
    pub directive: Option<(&'a str, &'a str)>,
}

pub fn role_zh(role: &str) -> &str {
    match role {
        Role::ADMINISTRATIVE => "行政负责人",
        Role::REGULATORY => "行业监管负责人",
        Role::UNIT => "单位责任人",
        Role::DUTY_OFFICER => "值班员",
        Role::LEADER => "带班领导",
        Role::SUPERIOR => "上级",
        "grid" => "网格员",
        "community" => "社区负责人",
        other => other,
    }
}

fn prefix(a: &AlertText<'_>) -> String {
    let drill = if a.drill { "【演练】" } else { "" };
    format!("{drill}【{}】", a.signature)
}

fn title(a: &AlertText<'_>) -> String {
    format!("{}{}预警", a.tier.zh(), a.event)
}

/// The SMS text of a call: prefix, reason, title, as much headline as fits, then the code and
/// the link, which are never cut.
pub fn sms_call_text(c: &CallText<'_>) -> String {
    let a = &c.alert;
    let reason = match &c.reason {
        CallReason::First => String::new(),
        CallReason::Repeat { attempt } => format!("第{attempt}次提醒："),
        CallReason::Raised => "预警升级：".to_string(),
        CallReason::Escalated { name, role } => format!("{name}（{}）未应答，请督促：", role_zh(role)),
    };
    let mut head = format!("{}{}{}", prefix(a), reason, title(a));
    let tail = match c.directive {
        Some((measure, text)) => {
            head = format!("{head}【熔断·{measure}】{}", clip(text, 40));
            format!("。回复{}确认收到，落实后回复2，或点击 {} ", c.code, c.link)
        }
        None => format!("。回复{}确认收到，或点击 {} ", c.code, c.link),
    };
    let room = SMS_MAX_CHARS.saturating_sub(head.chars().count() + tail.chars().count() + 1);
    let headline = clip(a.headline, room);
    let body = if headline.is_empty() { head } else { format!("{head}：{headline}") };
    format!("{body}{}", tail.trim_end())
}

/// The texts of a notice that asks for nothing (lifted, updated): no code, no link.
pub fn sms_notice_text(a: &AlertText<'_>, what: &str) -> String {
    let text = format!("{}{}{}：{}", prefix(a), title(a), what, a.headline);
    clip(&text, SMS_MAX_CHARS)
}

/// The reply to a bare confirmation from someone with several open calls.
pub fn sms_choose_code_text(signature: &str, open: &[(String, String)]) -> String {
    let list: Vec<String> = open.iter().map(|(code, event)| format!("{code} {event}")).collect();
    clip(&format!("【{signature}】您有{}条待确认预警，请回复对应代码：{}", open.len(), list.join("；")), SMS_MAX_CHARS)
}

pub fn email_subject(c: &CallText<'_>) -> String {
    let drill = if c.alert.drill { "【演练】" } else { "" };
    format!("{drill}{}：{}（回复码 {}）", title(&c.alert), c.alert.headline, c.code)
}

/// The plain-text body of a call e-mail: the full text, then how to answer.
pub fn email_call_text(c: &CallText<'_>) -> String {
    let a = &c.alert;
    let mut out = sms_call_text(c);
    out.push_str("\n\n");
    if let Some((measure, text)) = c.directive {
        out.push_str(&format!(
            "熔断要求（{measure}）：{text}\n落实后请回复短信“2 情况说明”，或点击链接报告已落实。\n\n"
        ));
    }
    if !a.description.is_empty() {
        out.push_str(a.description);
        out.push_str("\n\n");
    }
    if !a.instruction.is_empty() {
        out.push_str("防御指引：");
        out.push_str(a.instruction);
        out.push_str("\n\n");
    }
    out.push_str(&format!("请点击链接确认收到：{}\n或回复短信 {}。\n", c.link, c.code));
    out.push_str(&format!("\nTo confirm receipt, open {} (reply code {}).\n", c.link, c.code));
    out
}

/// Escapes text for HTML element content and attribute values (e-mail bodies, answer pages).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert<'a>(headline: &'a str, drill: bool) -> AlertText<'a> {
        AlertText {
            event: "暴雨",
            tier: Tier::Red,
            headline,
            description: "过去3小时降雨量已达100毫米以上",
            instruction: "停止户外作业",
            drill,
            signature: "观音桥街道",
        }
    }

    const LINK: &str = "http://127.0.0.1:8080/a/123456.1kx3bz.AbCdEfGhIjKlMnOp";

    #[test]
    fn a_call_sms_carries_code_and_link_and_fits_two_segments() {
        for headline in ["江北区气象台发布暴雨红色预警", &"很长的标题".repeat(40), ""] {
            let text = sms_call_text(&CallText {
                alert: alert(headline, false),
                reason: CallReason::First,
                code: "4821",
                link: LINK,
                directive: None,
            });
            assert!(text.contains("回复4821确认"), "{text}");
            assert!(text.ends_with(LINK), "{text}");
            assert!(text.chars().count() <= SMS_MAX_CHARS, "{} chars: {text}", text.chars().count());
            assert!(text.starts_with("【观音桥街道】红色暴雨预警"), "{text}");
        }
    }

    #[test]
    fn drills_repeats_and_escalations_say_so() {
        let t = sms_call_text(&CallText {
            alert: alert("x", true),
            reason: CallReason::Repeat { attempt: 2 },
            code: "1",
            link: LINK,
            directive: None,
        });
        assert!(t.starts_with("【演练】【观音桥街道】第2次提醒：红色暴雨预警"), "{t}");
        let t = sms_call_text(&CallText {
            alert: alert("x", false),
            reason: CallReason::Escalated { name: "网格员甲", role: "grid" },
            code: "1",
            link: LINK,
            directive: None,
        });
        assert!(t.contains("网格员甲（网格员）未应答，请督促"), "{t}");
    }

    #[test]
    fn a_directive_call_names_the_measure_and_how_to_report_it() {
        let t = sms_call_text(&CallText {
            alert: alert("江北区气象台发布暴雨红色预警", false),
            reason: CallReason::First,
            code: "4821",
            link: LINK,
            directive: Some(("停", "立即停止户外作业，撤离危险区域人员")),
        });
        assert!(t.contains("【熔断·停】立即停止户外作业"), "{t}");
        assert!(t.contains("落实后回复2") && t.ends_with(LINK), "{t}");
        assert!(t.chars().count() <= SMS_MAX_CHARS, "{t}");
    }

    #[test]
    fn email_has_full_text_and_both_languages() {
        let c = CallText {
            alert: alert("标题", false),
            reason: CallReason::First,
            code: "4821",
            link: LINK,
            directive: None,
        };
        let body = email_call_text(&c);
        assert!(body.contains("过去3小时降雨量") && body.contains("防御指引：停止户外作业"));
        assert!(body.contains(LINK) && body.contains("reply code 4821"));
        assert!(email_subject(&c).contains("回复码 4821"));
    }

    #[test]
    fn choose_code_lists_every_open_call() {
        let t = sms_choose_code_text("街道", &[("1111".into(), "暴雨".into()), ("2222".into(), "地质灾害".into())]);
        assert_eq!(t, "【街道】您有2条待确认预警，请回复对应代码：1111 暴雨；2222 地质灾害");
    }
}
