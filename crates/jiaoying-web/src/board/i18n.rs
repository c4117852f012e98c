//! The board's words in Chinese (first) and English, and how a request picks its language:
//! `?lang=en|zh` (remembered in a `lang` cookie), else the cookie, else Chinese.
//!
//! Every string lives in one table of (key, 中文, English) rows, so no string can exist in one
//! language only; templates read them as `t.key` (strict undefined: a typo fails the render test).

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The value of `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The language asked for in the query (`lang=`), if any and valid.
    pub fn from_query(query: Option<&str>) -> Option<Lang> {
        query?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v))
    }

    /// The language remembered in the `lang` cookie, if any.
    pub fn from_cookie(headers: &HeaderMap) -> Option<Lang> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v))
    }

    /// Picks the value of this language from a (中文, English) pair.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// The whole vocabulary of the board for one language, for the templates.
pub fn strings(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    STRINGS.iter().map(|(k, zh, en)| (*k, lang.pick(zh, en))).collect()
}

/// One string by key; the key itself when unknown (a missing word must not break a page).
pub fn word(lang: Lang, key: &str) -> &'static str {
    STRINGS.iter().find(|(k, _, _)| *k == key).map(|(_, zh, en)| lang.pick(zh, en)).unwrap_or("?")
}

/// The word for a code of some kind (`state`, `role`, `kind`, `what`), e.g. `role_grid`; codes
/// the board has no word for (a registry's own roles) are shown as written.
pub fn label(lang: Lang, prefix: &str, code: &str) -> String {
    let key = format!("{prefix}_{code}");
    match STRINGS.iter().find(|(k, _, _)| *k == key) {
        Some((_, zh, en)) => lang.pick(zh, en).to_string(),
        None => code.to_string(),
    }
}

pub fn kind_label(lang: Lang, kind: &str) -> String {
    label(lang, "kind", kind)
}

pub fn state_word(lang: Lang, state: &str) -> String {
    label(lang, "state", state)
}

/// Who did something, as the event log names them (`actor`), in words: `officer:<name>` as
/// "值班员 <name>", `person:<id>` as the person's name (`person_name`, from the registry; the id
/// when unknown), `source:<sender>` as the feed, and the service's own parts (`system`,
/// `dispatch`, `gateway`, ...) by their word; anything else as written.
pub fn actor_label(lang: Lang, actor: &str, person_name: Option<&str>) -> String {
    if let Some(name) = actor.strip_prefix("officer:") {
        return format!("{}{name}", word(lang, "actor_officer_pre"));
    }
    if let Some(id) = actor.strip_prefix("person:") {
        return person_name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(id).to_string();
    }
    if let Some(sender) = actor.strip_prefix("source:") {
        return format!("{}{sender}", word(lang, "actor_source_pre"));
    }
    label(lang, "actor", actor)
}

/// (key, 中文, English).
pub const STRINGS: &[(&str, &str, &str)] = &[
    // frame
    ("service", "叫应 · 值班台", "Jiaoying · Duty board"),
    ("nav_now", "当前", "Now"),
    ("nav_audit", "审计", "Audit"),
    ("nav_drills", "演练", "Drills"),
    ("nav_registry", "名册管理", "Registry"),
    ("nav_compose", "人工发布预警", "Compose"),
    ("logout", "退出", "Log out"),
    ("other_lang_name", "English", "中文"),
    ("role_viewer", "只读", "viewer"),
    ("role_officer", "值班员", "officer"),
    ("role_admin", "管理员", "admin"),
    // tiers
    ("tier_red", "红色预警", "Red warning"),
    ("tier_orange", "橙色预警", "Orange warning"),
    ("tier_yellow", "黄色预警", "Yellow warning"),
    ("tier_blue", "蓝色预警", "Blue warning"),
    // what a cell shows (state as seen by the officer)
    ("show_answered", "已应答", "answered"),
    ("show_done", "已落实", "done"),
    ("show_open", "待应答", "open"),
    ("show_pending", "待发送", "pending"),
    ("show_overdue", "超时未应答", "overdue"),
    ("show_escalated", "已上报", "escalated"),
    ("show_unreached", "未联系上", "unreached"),
    ("show_closed", "已结束", "closed"),
    // call states as stored
    ("state_pending", "待发送", "pending"),
    ("state_sent", "已发送", "sent"),
    ("state_delivered", "已送达", "delivered"),
    ("state_answered", "已应答", "answered"),
    ("state_done", "已落实", "done"),
    ("state_escalated", "已上报", "escalated"),
    ("state_expired", "已过期", "expired"),
    ("state_cancelled", "已取消", "cancelled"),
    ("state_failed", "发送失败", "failed"),
    ("state_none", "—", "—"),
    // registry roles and unit kinds
    ("role_grid", "网格员", "grid worker"),
    ("role_community", "社区负责人", "community head"),
    ("role_administrative", "行政责任人", "administrative"),
    ("role_regulatory", "监管责任人", "regulatory"),
    ("role_unit", "单位责任人", "unit head"),
    ("role_leader", "领导", "leader"),
    ("role_duty_officer", "值班员", "duty officer"),
    ("role_superior", "上级", "superior"),
    ("kind_school", "学校", "school"),
    ("kind_hospital", "医院", "hospital"),
    ("kind_elderly_care", "养老机构", "elderly care"),
    ("kind_construction", "建筑工地", "construction site"),
    ("kind_hazchem", "危化企业", "hazardous chemicals"),
    ("kind_complex", "商业综合体", "commercial complex"),
    ("kind_transport_hub", "交通枢纽", "transport hub"),
    ("kind_tunnel_bridge", "隧道桥梁", "tunnel or bridge"),
    ("kind_geohazard_site", "地灾隐患点", "geohazard site"),
    ("kind_other", "其他单位", "other unit"),
    ("kind_none", "（无单位）", "(no unit)"),
    // Now page
    ("active_alerts", "正在叫应的预警", "Active alerts"),
    ("no_active_alerts", "当前没有正在叫应的预警。", "No active alerts."),
    ("areas", "区域", "Areas"),
    ("answered_of_total", "已应答", "answered"),
    ("overdue", "超时", "overdue"),
    ("drill", "演练", "drill"),
    ("feed_silent", "数据源静默", "Feed silent"),
    ("silent_for", "已静默", "silent for"),
    ("last_error", "最近错误", "last error"),
    ("breaker_open", "通道熔断", "channel circuit open"),
    ("gateways", "发送通道积压", "Gateway backlogs"),
    ("channel", "通道", "Channel"),
    ("queued", "排队", "Queued"),
    ("sending", "发送中", "Sending"),
    ("rate", "近1分钟发送（条）", "Sent in last min"),
    ("rate_limit_pre", "上限", "max"),
    ("rate_limit_post", "/分", "/min"),
    ("drain", "预计清空", "Drains in"),
    ("oldest_wait", "最久等待", "Oldest wait"),
    ("status", "状态", "Status"),
    ("backlogged", "积压", "backlog"),
    ("ok", "正常", "OK"),
    ("no_channels", "没有发送通道。", "No channels."),
    ("feeds", "数据源", "Feeds"),
    ("source", "来源", "Source"),
    ("last_taken", "最近取得预警", "Last alert taken"),
    ("failures", "失败次数", "Failures"),
    ("no_feeds", "没有轮询的数据源。", "No polled feeds."),
    ("unknown", "未知", "unknown"),
    ("on_duty_now", "当前值班", "On duty now"),
    ("on_duty_person", "值班人员", "On duty"),
    ("shift", "班次", "Shift"),
    ("shift_until", "交班时间", "Until"),
    ("on_duty_by_role", "按值班员角色（未排班）", "by the duty officer role (not rostered)"),
    ("on_duty_nobody", "无人值班", "nobody on duty"),
    ("no_on_duty", "没有排班或设有值班员的区域。", "No area keeps a roster or has duty officers."),
    ("roster_gaps", "值班表空档", "Roster gaps"),
    (
        "roster_gaps_help",
        "以下时段无人排班，上报的最后一级将改为呼叫该区域的值班员角色：",
        "nobody is rostered at these times; escalation's last step falls back to the area's duty officers:",
    ),
    // alert page
    ("received", "收到于", "received"),
    ("answer_within", "应答时限", "answer within"),
    ("instruction", "防御指引", "Instruction"),
    ("onset", "生效", "onset"),
    ("expires", "失效", "expires"),
    ("cancelled_because", "解除原因", "Cancelled because"),
    ("report", "处置报告", "Report"),
    ("download_csv", "下载 CSV", "Download CSV"),
    ("download_xlsx", "下载 Excel", "Download XLSX"),
    ("cancel_alert", "解除预警", "Cancel alert"),
    ("filter_state", "状态", "State"),
    ("filter_role", "角色", "Role"),
    ("filter_area", "区域", "Area"),
    ("filter_kind", "单位类型", "Unit kind"),
    ("filter_invalid", "筛选条件无效，已显示全部", "Filter not usable, showing all"),
    ("all", "全部", "all"),
    ("search_placeholder", "搜索姓名或号码", "Name or number"),
    ("apply", "筛选", "Apply"),
    ("clear", "清除", "Clear"),
    ("shown", "显示", "shown"),
    ("reconnecting", "连接中断，正在重连…", "Connection lost, reconnecting…"),
    ("answer_on_behalf", "代为应答", "Answer on their behalf"),
    ("note_label", "说明（必填）：如何联系到本人", "Note (required): how the person was reached"),
    ("note_placeholder", "如：电话联系本人，已确认收到", "e.g. reached by phone, confirmed receipt"),
    ("close", "取消", "Cancel"),
    ("confirm_answer", "确认代为应答", "Answer for them"),
    ("reason_label", "解除原因（必填）", "Reason (required)"),
    ("confirm_cancel", "确认解除", "Cancel the alert"),
    ("as_of", "更新于", "as of"),
    ("answer_curve", "应答曲线", "Answer curve"),
    ("since_alert", "自预警起", "since the alert"),
    ("escalation_starts", "开始上报", "escalation starts"),
    ("map", "地图", "Map"),
    ("map_empty", "登记册中没有区域边界或单位位置，无法绘图。", "The registry has no area outlines or unit locations to draw."),
    ("map_no_polygon", "无边界区域", "areas without outline"),
    ("map_no_location", "无位置单位", "units without location"),
    ("calls", "叫应明细", "Calls"),
    ("area_persons", "区域责任人", "Area's own persons"),
    ("level_pre", "上报第", "level "),
    ("level_post", "级", ""),
    ("late", "迟到应答", "late"),
    ("attempt_pre", "第", "attempt "),
    ("attempt_post", "次", ""),
    ("overdue_by", "已超时", "overdue by"),
    ("deadline", "时限", "due"),
    ("escalated_from", "由此上报：", "escalated from"),
    ("next", "下一步", "next"),
    ("next_repeat", "再次提醒", "repeat"),
    ("next_expire", "到期结束（无人可上报）", "ends unanswered (nobody further)"),
    ("next_alert_expires", "预警到期", "alert expires"),
    ("directive_done", "已落实", "done"),
    ("directive_overdue", "逾期未报告落实", "overdue: not reported done"),
    ("directive_due", "须报告落实于", "report done by"),
    ("directive_pending", "待应答后落实", "to carry out after answering"),
    ("act_answer", "代应答", "Answer"),
    ("act_recall", "重新呼叫", "Re-call"),
    ("act_escalate", "立即上报", "Escalate"),
    ("no_calls", "此预警未呼叫任何人（没有登记的区域或单位被覆盖）。", "This alert called nobody (it covers no registered area or unit)."),
    ("no_calls_match", "没有符合筛选条件的呼叫。", "No call matches the filter."),
    ("timeline", "时间线", "Timeline"),
    ("latest", "最近", "latest"),
    ("time", "时间", "Time"),
    ("what", "事件", "What"),
    ("person", "人员", "Person"),
    ("by", "操作者", "By"),
    ("note", "说明", "Note"),
    ("change", "变化", "Change"),
    // report
    ("report_title", "预警叫应处置报告", "After-action report"),
    ("back_to_alert", "返回预警", "Back to the alert"),
    ("print", "打印", "Print"),
    ("report_generated", "报告生成", "Report generated"),
    ("summary", "概况", "Summary"),
    ("by_area", "按区域", "By area"),
    ("by_unit", "按单位", "By unit"),
    ("by_role", "按角色", "By role"),
    ("area", "区域", "Area"),
    ("unit", "单位", "Unit"),
    ("role", "角色", "Role"),
    ("total", "呼叫数", "Calls"),
    ("answer_rate", "应答率", "Answer rate"),
    ("median_time", "应答用时中位数", "Median time to answer"),
    ("longest_time", "最长应答用时", "Longest time to answer"),
    ("unreached_list", "未应答名单", "Never answered"),
    ("mobile", "手机", "Mobile"),
    ("attempts", "呼叫次数", "Attempts"),
    ("escalated_to", "已上报给", "Escalated to"),
    ("everyone_answered", "全部已应答。", "Everyone answered."),
    ("timeline_cut", "时间线只列出最近", "The timeline lists only the latest"),
    // compose
    ("compose_title", "人工发布预警", "Compose a warning"),
    ("compose_help", "用于电话、传真收到的预警：提交后与其他预警一样呼叫，来源记为“值班员”。", "For warnings received by phone or fax: once sent it calls people like any other alert, from the source \"duty officer\"."),
    ("event", "灾害类型", "Event"),
    ("tier", "预警级别", "Tier"),
    ("headline", "标题", "Headline"),
    ("headline_optional", "可不填", "optional"),
    ("text", "预警内容", "Text"),
    ("no_areas", "登记册中没有区域。", "The registry has no areas."),
    ("compose_submit", "发布并开始叫应", "Issue and start calling"),
    // audit
    ("audit_title", "审计日志", "Audit log"),
    ("alert_no", "预警编号", "Alert"),
    ("actor", "操作者", "Actor"),
    ("kind", "类型", "Kind"),
    ("from_day", "从", "From"),
    ("to_day", "到", "To"),
    ("nothing_found", "没有符合条件的记录。", "Nothing matches."),
    ("prev_page", "上一页", "Previous"),
    ("next_page", "下一页", "Next"),
    ("page", "页", "Page"),
    // codes shown with `word`
    ("alert_active", "叫应中", "active"),
    ("alert_cancelled", "已解除", "cancelled"),
    ("alert_expired", "已过期", "expired"),
    ("alert_stored", "仅存档", "stored only"),
    ("what_cancel", "值班员解除预警", "cancelled by an officer"),
    ("what_manual", "值班员录入预警", "entered by an officer"),
    ("what_Alert", "收到预警", "alert received"),
    ("what_Update", "预警更新", "update received"),
    ("what_Cancel", "预警解除", "cancel received"),
    ("what_Ack", "确认", "acknowledgement"),
    ("what_Error", "错误", "error"),
    ("source_duty_officer", "值班员", "duty officer"),
    ("actor_system", "系统", "system"),
    ("actor_dispatch", "发送程序", "dispatcher"),
    ("actor_gateway", "发送网关", "gateway"),
    ("actor_cancel", "预警解除", "alert cancel"),
    ("actor_timer", "计时器", "timer"),
    ("actor_cli", "命令行", "command line"),
    ("actor_officer_pre", "值班员 ", "Officer "),
    ("actor_source_pre", "数据源 ", "feed "),
    ("via_sms", "短信", "SMS"),
    ("via_link", "链接", "link"),
    ("via_voice", "语音", "voice"),
    ("via_officer", "值班员代答", "officer"),
    ("via_email", "邮件", "e-mail"),
    ("via_update", "预警更新", "update"),
    ("via_repeat", "重复提醒", "repeat"),
    ("via_escalation", "上报", "escalation"),
    ("via_timer", "计时", "timer"),
    ("via_recall", "重新呼叫", "re-call"),
    ("via_expiry", "到期", "expiry"),
    ("via_directive", "管控措施", "directive"),
    ("via_contact", "联系", "contact"),
    ("via_cancel", "解除", "cancel"),
    ("shape_polygon", "多边形区域", "polygon"),
    ("shape_circle", "圆形区域", "circle"),
    ("measure_cut", "断", "cut off"),
    ("measure_ban", "禁", "ban"),
    ("measure_stop", "停", "stop"),
    ("measure_evacuate", "撤", "evacuate"),
    ("measure_divert", "疏", "divert"),
    ("state_open", "待应答（含已上报）", "open (incl. escalated)"),
    ("state_overdue", "超时未应答", "overdue"),
    ("state_unreached", "未联系上", "unreached"),
    ("state_late", "迟到应答", "answered late"),
    // users (admins) and error pages
    ("nav_users", "用户管理", "Users"),
    ("users_title", "用户管理", "Board users"),
    (
        "users_help",
        "添加用户，修改角色或密码，删除用户。改密码或删除用户会立即结束其登录；每次修改都记入审计日志。",
        "Add users, change a role or a password, delete users. A new password or a deletion ends the user's \
         sessions at once; every change is kept in the audit log.",
    ),
    ("user_add", "添加用户", "Add a user"),
    ("user_name", "用户名", "Name"),
    ("user_role", "角色", "Role"),
    ("user_password", "密码（至少10个字符）", "Password (at least 10 characters)"),
    ("user_add_submit", "添加", "Add"),
    ("users_list", "现有用户", "Users"),
    ("user_created", "创建时间", "Created"),
    ("user_updated", "最近修改", "Last changed"),
    ("user_sessions", "在线会话", "Sessions"),
    ("user_change", "修改", "Change"),
    ("user_new_password", "新密码（可不填）", "New password (optional)"),
    ("user_save", "保存", "Save"),
    ("user_delete", "删除", "Delete"),
    ("user_you", "本人", "you"),
    ("what_user_add", "管理员添加用户", "user added by an admin"),
    ("what_user_update", "管理员修改用户", "user changed by an admin"),
    ("what_user_delete", "管理员删除用户", "user deleted by an admin"),
    ("what_registry_contact", "管理员修改责任人联系方式", "contacts changed by an admin"),
    ("what_registry_import", "导入名册", "registry imported"),
    ("error_not_found_title", "页面不存在", "Page not found"),
    (
        "error_not_found_text",
        "没有这个页面，或者它所指的预警、呼叫已不存在。",
        "There is no such page, or the alert or call it names does not exist.",
    ),
    ("error_forbidden_title", "无权访问", "Forbidden"),
    (
        "error_forbidden_text",
        "您的角色不能打开此页面。如需权限，请联系管理员。",
        "Your role may not open this page. Ask an admin if you need it.",
    ),
    ("error_detail", "详情", "Detail"),
    ("error_back", "返回值班台", "Back to the board"),
    ("js_confirm_delete_user", "删除用户并结束其登录", "Delete the user and end their sessions"),
    ("js_user_nothing", "请选择新角色或填写新密码", "Pick a new role or type a new password"),
    ("js_user_missing", "请填写用户名和密码", "Give a name and a password"),
    // what the script says
    ("js_network", "网络错误，请重试", "Network error, try again"),
    ("js_signed_out", "登录已失效，请重新登录", "Signed out: log in again"),
    ("js_forbidden", "无权执行此操作", "Not allowed"),
    ("js_failed", "操作失败", "Failed"),
    ("js_confirm_recall", "立即重新呼叫", "Re-call now"),
    ("js_confirm_escalate", "立即上报", "Escalate now"),
    ("js_recalled", "已重新呼叫", "Re-called"),
    ("js_escalated", "已上报", "Escalated"),
    ("js_answered", "已代为应答", "Answered on their behalf"),
    ("js_note_required", "请填写说明", "A note is required"),
    ("js_reason_required", "请填写解除原因", "A reason is required"),
    ("js_compose_missing", "请填写灾害类型、预警内容并选择区域", "Give the event and the text and pick the areas"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_has_both_languages() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in STRINGS {
            assert!(seen.insert(*k), "duplicate key {k}");
            // A word after a number (`第3次`) may be nothing in English (`attempt 3`).
            assert!(!zh.is_empty() && (!en.is_empty() || k.ends_with("_post")), "{k} lacks a language");
        }
    }

    #[test]
    fn actors_read_as_words_and_names() {
        assert_eq!(actor_label(Lang::Zh, "officer:zhao", None), "值班员 zhao");
        assert_eq!(actor_label(Lang::En, "officer:zhao", None), "Officer zhao");
        assert_eq!(actor_label(Lang::Zh, "person:p-grid", Some("王网格")), "王网格");
        assert_eq!(actor_label(Lang::En, "person:p-grid", None), "p-grid", "unknown person: the id");
        assert_eq!(actor_label(Lang::En, "source:cma", None), "feed cma");
        for (code, zh, en) in
            [("system", "系统", "system"), ("dispatch", "发送程序", "dispatcher"), ("gateway", "发送网关", "gateway")]
        {
            assert_eq!(
                (actor_label(Lang::Zh, code, None).as_str(), actor_label(Lang::En, code, None).as_str()),
                (zh, en)
            );
        }
        assert_eq!(actor_label(Lang::Zh, "robot-7", None), "robot-7", "unknown actors as written");
    }

    #[test]
    fn the_query_wins_over_the_cookie_and_chinese_is_the_default() {
        assert_eq!(Lang::from_query(Some("a=1&lang=en")), Some(Lang::En));
        assert_eq!(Lang::from_query(Some("lang=xx")), None);
        assert_eq!(Lang::from_query(None), None);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "sid=abc; lang=en".parse().unwrap());
        assert_eq!(Lang::from_cookie(&h), Some(Lang::En));
        assert_eq!(Lang::from_cookie(&HeaderMap::new()), None);
    }
}
