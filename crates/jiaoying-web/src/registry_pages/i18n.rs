//! The registry pages' own words, (key, 中文, English) as the board's table; templates see them
//! beside the board's under `t`, so keys start with `reg_` to stay apart.

use std::collections::BTreeMap;

use crate::board::i18n::{self as board, Lang};

pub const STRINGS: &[(&str, &str, &str)] = &[
    ("reg_title", "名册管理", "Registry"),
    ("reg_help", "责任人和重点单位：搜索、查看联系方式、修改手机号和邮箱。每次修改都记入审计日志。", "Persons and key units: search, see contacts, change a mobile or an e-mail. Every change goes into the audit log."),
    ("reg_search", "搜索", "Search"),
    ("reg_q_placeholder", "姓名、手机号、编号、邮箱或区域", "name, mobile, id, e-mail or area"),
    ("reg_area", "区域", "Area"),
    ("reg_any_area", "全部区域", "all areas"),
    ("reg_role", "角色", "Role"),
    ("reg_any_role", "全部角色", "all roles"),
    ("reg_persons", "责任人", "Persons"),
    ("reg_units", "重点单位", "Key units"),
    ("reg_id", "编号", "ID"),
    ("reg_name", "姓名", "Name"),
    ("reg_unit_name", "单位名称", "Unit"),
    ("reg_mobile", "手机号", "Mobile"),
    ("reg_email", "邮箱", "E-mail"),
    ("reg_roles", "角色", "Roles"),
    ("reg_superior", "上级", "Superior"),
    ("reg_subordinates", "下级", "Reports to them"),
    ("reg_kind", "类型", "Kind"),
    ("reg_none", "没有找到", "Nothing found"),
    ("reg_export", "导出名册 (XLSX)", "Export the registry (XLSX)"),
    ("reg_contacts", "联系方式", "Contacts"),
    ("reg_save", "保存", "Save"),
    ("reg_email_hint", "留空则删除邮箱", "leave it empty to remove the e-mail"),
    ("reg_saved", "已保存，新的联系方式即时生效", "Saved: the next calls use the new contacts"),
    ("reg_unchanged", "没有变化", "Nothing changed"),
    ("reg_units_of", "负责的重点单位", "Units they answer for"),
    ("reg_history", "修改记录", "Change history"),
    ("reg_at", "时间", "Time"),
    ("reg_actor", "操作人", "By"),
    ("reg_change", "变更", "Change"),
    ("reg_responsible", "三个责任人", "The three responsible persons"),
    ("reg_location", "位置", "Location"),
    ("reg_missing", "（名册中没有此人）", "(not in the registry)"),
    ("reg_back", "返回名册", "Back to the registry"),
    ("reg_prev", "上一页", "Previous"),
    ("reg_next", "下一页", "Next"),
    ("reg_of", "共", "of"),
];

/// The board's words and these, for one language.
pub fn strings(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    let mut all = board::strings(lang);
    all.extend(STRINGS.iter().map(|(k, zh, en)| (*k, lang.pick(zh, en))));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_new_unique_and_in_both_languages() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in STRINGS {
            assert!(k.starts_with("reg_") && seen.insert(*k), "duplicate or unprefixed key {k}");
            assert!(!board::STRINGS.iter().any(|(b, _, _)| b == k), "{k} is the board's already");
            assert!(!zh.is_empty() && !en.is_empty(), "{k} lacks a language");
        }
    }
}
