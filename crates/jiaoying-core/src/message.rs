//! What a message says, before it is words: the alert, why this person is called, the reply code
//! and link, a notice or a reply to an SMS. The words themselves come from templates (see the
//! tracker's `templates` module and `config/templates.toml`); this module gives them their
//! variables ([`Vars`], [`ReplyVars`]) and the Chinese and English names of tiers, roles,
//! events and measures. Chinese first: it is the default language, English the alternative.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::directive::Measure;
use crate::registry::Role;
use crate::segments::Free;
use crate::tier::Tier;

/// The language messages are written in (`[messages] language`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Zh,
    En,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Zh, Language::En];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// The mark every message of a drill (演练) carries, in every language (SPEC).
pub const DRILL_MARK: &str = "【演练】";

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

/// Who receives it: the person's name, the role they are called in (`grid`, `unit`, ...) and
/// the area code of the call.
#[derive(Debug, Clone, Default)]
pub struct Recipient<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub area: &'a str,
}

/// Why this person is being called.
#[derive(Debug, Clone, Copy)]
pub enum CallReason<'a> {
    /// First call in the person's own role.
    First,
    /// The same call again; `attempt` counts from 1 (the first repeat is attempt 2).
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
    /// A control measure (熔断) the person must carry out and report, with its text.
    pub directive: Option<(Measure, &'a str)>,
    pub recipient: Recipient<'a>,
}

/// A message about an alert that asks for nothing: no code, no link.
#[derive(Debug, Clone)]
pub enum Notice<'a> {
    /// The alert's tier rose (to a person whose call is already escalated).
    Raised,
    /// The alert was updated without rising.
    Updated,
    /// The alert was cancelled (已解除).
    Lifted,
    /// `name` (in `role`) below the recipient has not answered; the recipient should chase.
    Unanswered { name: &'a str, role: &'a str },
    /// `name` below the recipient has answered after all; no need to chase any more.
    Answered { name: &'a str },
    /// A unit has not reported its measure carried out.
    DirectiveOverdue { unit: &'a str, measure: Measure, text: &'a str },
    /// Other words, shown as they are.
    Other(&'a str),
}

impl Notice<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Raised => "raised",
            Notice::Updated => "updated",
            Notice::Lifted => "lifted",
            Notice::Unanswered { .. } => "unanswered",
            Notice::Answered { .. } => "answered",
            Notice::DirectiveOverdue { .. } => "directive_overdue",
            Notice::Other(_) => "other",
        }
    }
}

/// The words callers used before notices had kinds: the three plain ones get their kind (and so
/// their English text); anything else is shown as it is.
impl<'a> From<&'a str> for Notice<'a> {
    fn from(what: &'a str) -> Self {
        match what {
            "升级" => Notice::Raised,
            "更新" => Notice::Updated,
            "已解除" => Notice::Lifted,
            other => Notice::Other(other),
        }
    }
}

impl<'a> From<&'a String> for Notice<'a> {
    fn from(what: &'a String) -> Self {
        Notice::from(what.as_str())
    }
}

/// A notice about an alert, to one person.
#[derive(Debug, Clone)]
pub struct NoticeText<'a> {
    pub alert: AlertText<'a>,
    pub notice: Notice<'a>,
    pub recipient: Recipient<'a>,
}

/// The service's answer to an SMS reply.
#[derive(Debug, Clone)]
pub enum Reply<'a> {
    Answered {
        code: &'a str,
    },
    /// `when` is the time of the first answer, as people read it (`07-01 08:05`).
    AlreadyAnswered {
        code: &'a str,
        when: &'a str,
    },
    /// The alert of the call has ended.
    Closed {
        code: &'a str,
    },
    /// A directive reported carried out.
    Done {
        code: &'a str,
    },
    AlreadyDone {
        code: &'a str,
    },
    UnknownCode {
        code: &'a str,
    },
    NotUnderstood,
    NoOpenCall,
    /// A reply of `3`: the superior is called now.
    EscalatedNow,
    /// A bare confirmation from someone with several open calls: (code, event) of each.
    ChooseCode {
        open: &'a [(String, String)],
    },
}

impl Reply<'_> {
    /// The template that words it.
    pub fn purpose(&self) -> &'static str {
        match self {
            Reply::Answered { .. } => "reply_answered",
            Reply::AlreadyAnswered { .. } => "reply_already_answered",
            Reply::Closed { .. } => "reply_closed",
            Reply::Done { .. } => "reply_done",
            Reply::AlreadyDone { .. } => "reply_already_done",
            Reply::UnknownCode { .. } => "reply_unknown_code",
            Reply::NotUnderstood => "reply_not_understood",
            Reply::NoOpenCall => "reply_no_open_call",
            Reply::EscalatedNow => "reply_escalated_now",
            Reply::ChooseCode { .. } => "reply_choose_code",
        }
    }

    /// Every reply purpose, for checking templates.
    pub const PURPOSES: [&'static str; 10] = [
        "reply_answered",
        "reply_already_answered",
        "reply_closed",
        "reply_done",
        "reply_already_done",
        "reply_unknown_code",
        "reply_not_understood",
        "reply_no_open_call",
        "reply_escalated_now",
        "reply_choose_code",
    ];
}

/// The variables of every template about an alert (call, email_subject, email_body, notice).
/// Every variable is always present: text that does not apply is empty, so a template tests it
/// with `{% if directive %}`. Names of roles and measures are in the message's language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vars<'a> {
    /// `zh` or `en`.
    pub language: &'static str,
    /// The office name (短信签名), without brackets.
    pub signature: &'a str,
    /// `【演练】` for a drill, else empty.
    pub drill: &'static str,
    /// `red`, `orange`, `yellow`, `blue`.
    pub tier: &'static str,
    /// 红色 橙色 黄色 蓝色.
    pub tier_zh: &'static str,
    /// Red Orange Yellow Blue.
    pub tier_en: &'static str,
    /// The event type (暴雨, 台风, ...), as normalised.
    pub event: &'a str,
    /// Its English name where known, else the event as it is.
    pub event_en: &'a str,
    /// Free texts: in an SMS they are shortened (…) to fit its segments.
    pub headline: Cow<'a, str>,
    pub description: Cow<'a, str>,
    pub instruction: Cow<'a, str>,
    /// The recipient's name, the role they are called in, and the call's area code.
    pub name: &'a str,
    pub role: &'a str,
    pub area: &'a str,
    /// Calls: `first`, `repeat`, `raised` or `escalated`. Empty in notices.
    pub reason: &'static str,
    /// Calls: the attempt (1 for the first call, 2 for the first repeat, ...). 0 in notices.
    pub attempt: u32,
    /// Escalated calls and the notices `unanswered`/`answered`: who below has (not) answered.
    pub from_name: &'a str,
    pub from_role: &'a str,
    /// Calls: the reply code and the answer link. Empty in notices.
    pub code: &'a str,
    pub link: &'a str,
    /// The control measure (熔断): its word (停, or `stop work` in English) and text (free).
    pub measure: &'static str,
    pub directive: Cow<'a, str>,
    /// Notices: `raised`, `updated`, `lifted`, `unanswered`, `answered`, `directive_overdue`,
    /// `other`. Empty in calls.
    pub notice: &'static str,
    /// Notices of kind `other`: the words given (free).
    pub what: Cow<'a, str>,
    /// Notices `directive_overdue`: the unit that has not reported.
    pub unit: &'a str,
}

/// The free texts of [`Vars`], in the order [`Vars::with_free`] takes them back.
pub const FREE_VARS: [&str; 5] = ["headline", "description", "instruction", "directive", "what"];
/// A measure's text is never cut below its first words: without them the SMS would ask for a
/// report on a measure it does not name.
pub const DIRECTIVE_KEEP: usize = 8;
/// A notice's own words are what it is for: never cut below this.
pub const WHAT_KEEP: usize = 24;

impl<'a> Vars<'a> {
    fn of_alert(a: &AlertText<'a>, r: &Recipient<'a>, lang: Language) -> Vars<'a> {
        Vars {
            language: lang.as_str(),
            signature: a.signature,
            drill: if a.drill { DRILL_MARK } else { "" },
            tier: a.tier.as_str(),
            tier_zh: a.tier.zh(),
            tier_en: tier_en(a.tier),
            event: a.event,
            event_en: event_en(a.event),
            headline: Cow::Borrowed(a.headline),
            description: Cow::Borrowed(a.description),
            instruction: Cow::Borrowed(a.instruction),
            name: r.name,
            role: role_name(r.role, lang),
            area: r.area,
            reason: "",
            attempt: 0,
            from_name: "",
            from_role: "",
            code: "",
            link: "",
            measure: "",
            directive: Cow::Borrowed(""),
            notice: "",
            what: Cow::Borrowed(""),
            unit: "",
        }
    }

    pub fn call(c: &CallText<'a>, lang: Language) -> Vars<'a> {
        let mut v = Vars::of_alert(&c.alert, &c.recipient, lang);
        (v.reason, v.attempt) = match &c.reason {
            CallReason::First => ("first", 1),
            CallReason::Repeat { attempt } => ("repeat", *attempt),
            CallReason::Raised => ("raised", 1),
            CallReason::Escalated { name, role } => {
                v.from_name = name;
                v.from_role = role_name(role, lang);
                ("escalated", 1)
            }
        };
        v.code = c.code;
        v.link = c.link;
        if let Some((measure, text)) = c.directive {
            v.measure = measure_name(measure, lang);
            v.directive = Cow::Borrowed(text);
        }
        v
    }

    pub fn notice(n: &NoticeText<'a>, lang: Language) -> Vars<'a> {
        let mut v = Vars::of_alert(&n.alert, &n.recipient, lang);
        v.notice = n.notice.kind();
        match &n.notice {
            Notice::Raised | Notice::Updated | Notice::Lifted => {}
            Notice::Unanswered { name, role } => {
                v.from_name = name;
                v.from_role = role_name(role, lang);
            }
            Notice::Answered { name } => v.from_name = name,
            Notice::DirectiveOverdue { unit, measure, text } => {
                v.unit = unit;
                v.measure = measure_name(*measure, lang);
                v.directive = Cow::Borrowed(text);
            }
            Notice::Other(what) => v.what = Cow::Borrowed(what),
        }
        v
    }

    /// The free texts, in [`FREE_VARS`] order, each with how short it may become.
    pub fn free(&self) -> [Free<'_>; 5] {
        [
            Free::new(&self.headline),
            Free::new(&self.description),
            Free::new(&self.instruction),
            Free::keeping(&self.directive, DIRECTIVE_KEEP),
            Free::keeping(&self.what, WHAT_KEEP),
        ]
    }

    /// A copy with the free texts replaced (shortened), in [`FREE_VARS`] order.
    pub fn with_free<'b>(&self, free: &[Cow<'b, str>]) -> Vars<'b>
    where
        'a: 'b,
    {
        let get = |i: usize| free.get(i).cloned().unwrap_or(Cow::Borrowed(""));
        Vars {
            headline: get(0),
            description: get(1),
            instruction: get(2),
            directive: get(3),
            what: get(4),
            ..self.clone()
        }
    }
}

/// One open call in a reply that lists them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenCode<'a> {
    pub code: &'a str,
    pub event: &'a str,
    pub event_en: &'a str,
}

/// The variables of the reply templates. As in [`Vars`], all are always present.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplyVars<'a> {
    pub language: &'static str,
    pub signature: &'a str,
    /// The reply code the reply is about (empty when none).
    pub code: &'a str,
    /// `reply_already_answered`: when the first answer came.
    pub when: &'a str,
    /// `reply_choose_code`: the open calls, their number, and a ready list `1111 暴雨；2222 大风`
    /// (free: shortened to fit when very long).
    pub codes: Vec<OpenCode<'a>>,
    pub count: usize,
    pub list: Cow<'a, str>,
}

impl<'a> ReplyVars<'a> {
    pub fn new(signature: &'a str, reply: &Reply<'a>, lang: Language) -> ReplyVars<'a> {
        let mut v = ReplyVars {
            language: lang.as_str(),
            signature,
            code: "",
            when: "",
            codes: Vec::new(),
            count: 0,
            list: Cow::Borrowed(""),
        };
        match reply {
            Reply::Answered { code }
            | Reply::Closed { code }
            | Reply::Done { code }
            | Reply::AlreadyDone { code }
            | Reply::UnknownCode { code } => v.code = code,
            Reply::AlreadyAnswered { code, when } => (v.code, v.when) = (code, when),
            Reply::NotUnderstood | Reply::NoOpenCall | Reply::EscalatedNow => {}
            Reply::ChooseCode { open } => {
                v.codes =
                    open.iter().map(|(code, event)| OpenCode { code, event, event_en: event_en(event) }).collect();
                v.count = open.len();
                let (pair, sep) = match lang {
                    Language::Zh => (" ", "；"),
                    Language::En => (" ", "; "),
                };
                let items: Vec<String> = v
                    .codes
                    .iter()
                    .map(|c| format!("{}{pair}{}", c.code, if lang == Language::En { c.event_en } else { c.event }))
                    .collect();
                v.list = Cow::Owned(items.join(sep));
            }
        }
        v
    }

    pub fn with_list<'b>(&self, list: Cow<'b, str>) -> ReplyVars<'b>
    where
        'a: 'b,
    {
        ReplyVars { list, ..self.clone() }
    }
}

pub fn tier_en(tier: Tier) -> &'static str {
    match tier {
        Tier::Red => "Red",
        Tier::Orange => "Orange",
        Tier::Yellow => "Yellow",
        Tier::Blue => "Blue",
    }
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

pub fn role_en(role: &str) -> &str {
    match role {
        Role::ADMINISTRATIVE => "administrative lead",
        Role::REGULATORY => "regulatory lead",
        Role::UNIT => "unit lead",
        Role::DUTY_OFFICER => "duty officer",
        Role::LEADER => "leader on duty",
        Role::SUPERIOR => "superior",
        "grid" => "grid worker",
        "community" => "community lead",
        other => other,
    }
}

pub fn role_name(role: &str, lang: Language) -> &str {
    match lang {
        Language::Zh => role_zh(role),
        Language::En => role_en(role),
    }
}

pub fn measure_name(measure: Measure, lang: Language) -> &'static str {
    match lang {
        Language::Zh => measure.zh(),
        Language::En => match measure {
            Measure::Cut => "cut off",
            Measure::Ban => "ban",
            Measure::Stop => "stop work",
            Measure::Evacuate => "evacuate",
            Measure::Divert => "divert",
        },
    }
}

/// The English name of a normalised event type (the ingest's built-in table), or the event as
/// it is when unknown.
pub fn event_en(event: &str) -> &str {
    match event {
        "台风" => "Typhoon",
        "暴雨" => "Rainstorm",
        "暴雪" => "Snowstorm",
        "寒潮" => "Cold wave",
        "大风" => "Gale",
        "沙尘暴" => "Sandstorm",
        "高温" => "Heat wave",
        "干旱" => "Drought",
        "雷电" => "Lightning",
        "冰雹" => "Hail",
        "霜冻" => "Frost",
        "大雾" => "Fog",
        "霾" => "Haze",
        "道路结冰" => "Road icing",
        "地质灾害" => "Geologic hazard",
        "森林火险" => "Forest fire",
        "山洪" => "Flash flood",
        "洪水" => "Flood",
        "地震" => "Earthquake",
        other => other,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn alert<'a>(drill: bool) -> AlertText<'a> {
        AlertText {
            event: "暴雨",
            tier: Tier::Red,
            headline: "江北区气象台发布暴雨红色预警",
            description: "过去3小时降雨量已达100毫米以上",
            instruction: "停止户外作业",
            drill,
            signature: "观音桥街道",
        }
    }

    #[test]
    fn call_variables_carry_reason_code_link_and_directive_in_the_language() {
        let c = CallText {
            alert: alert(true),
            reason: CallReason::Escalated { name: "网格员甲", role: "grid" },
            code: "4821",
            link: "http://x/a/1",
            directive: Some((Measure::Stop, "立即停止户外作业")),
            recipient: Recipient { name: "社区书记", role: "community", area: "500105002" },
        };
        let zh = Vars::call(&c, Language::Zh);
        assert_eq!((zh.reason, zh.from_name, zh.from_role), ("escalated", "网格员甲", "网格员"));
        assert_eq!((zh.code, zh.link, zh.measure, &*zh.directive), ("4821", "http://x/a/1", "停", "立即停止户外作业"));
        assert_eq!((zh.drill, zh.tier_zh, zh.tier_en, zh.event_en), ("【演练】", "红色", "Red", "Rainstorm"));
        assert_eq!((zh.role, zh.area, zh.notice), ("社区负责人", "500105002", ""));
        let en = Vars::call(&c, Language::En);
        assert_eq!(
            (en.from_role, en.measure, en.role, en.drill),
            ("grid worker", "stop work", "community lead", "【演练】")
        );
    }

    #[test]
    fn free_texts_go_out_and_back_in_order() {
        let n = NoticeText { alert: alert(false), notice: Notice::from("自定义"), recipient: Recipient::default() };
        let v = Vars::notice(&n, Language::Zh);
        assert_eq!(v.notice, "other");
        let texts = |v: &Vars<'_>| v.free().map(|f| f.text.to_string());
        assert_eq!(
            texts(&v),
            ["江北区气象台发布暴雨红色预警", "过去3小时降雨量已达100毫米以上", "停止户外作业", "", "自定义"]
        );
        let short: Vec<Cow<'_, str>> = FREE_VARS.iter().map(|n| Cow::Owned(n.to_uppercase())).collect();
        let w = v.with_free(&short);
        assert_eq!(texts(&w), ["HEADLINE", "DESCRIPTION", "INSTRUCTION", "DIRECTIVE", "WHAT"]);
        assert_eq!(w.event, "暴雨");
    }

    #[test]
    fn the_old_notice_words_get_their_kinds() {
        assert_eq!(Notice::from("升级").kind(), "raised");
        assert_eq!(Notice::from("更新").kind(), "updated");
        assert_eq!(Notice::from(&"已解除".to_string()).kind(), "lifted");
    }

    #[test]
    fn the_choose_code_list_names_every_open_call() {
        let open = [("1111".to_string(), "暴雨".to_string()), ("2222".to_string(), "地质灾害".to_string())];
        let zh = ReplyVars::new("街道", &Reply::ChooseCode { open: &open }, Language::Zh);
        assert_eq!((zh.count, &*zh.list), (2, "1111 暴雨；2222 地质灾害"));
        let en = ReplyVars::new("街道", &Reply::ChooseCode { open: &open }, Language::En);
        assert_eq!(&*en.list, "1111 Rainstorm; 2222 Geologic hazard");
        assert!(Reply::PURPOSES.contains(&Reply::NoOpenCall.purpose()));
    }

    #[test]
    fn unknown_names_pass_through() {
        assert_eq!(role_zh("grid"), "网格员");
        assert_eq!(role_en("custom_role"), "custom_role");
        assert_eq!(event_en("龙卷风"), "龙卷风");
        assert_eq!(Language::parse("en"), Some(Language::En));
        assert_eq!(Language::parse("fr"), None);
    }
}
