//! Inspections (已检查): each administrative and regulatory responsible person inspects their
//! units at least once a calendar month, and every unit is inspected at least every six months.
//! The reminder goes, on its schedule, to those who have not inspected this month, listing their
//! units numbered (by unit id) and marking those not inspected for six months; they answer by SMS
//! `已检查 <report>` (`已检查 2 <report>` names unit 2, `已检查 全部 <report>` all of them) or on
//! the reminder's link page. Coverage per person and unit is read from the `inspections` log.

use std::collections::HashMap;

use jiaoying_core::message::Language;
use jiaoying_core::token::{AnswerToken, TokenError};
use jiaoying_core::{MobileNumber, Person, PersonId, Registry, Role, Timestamp, Unit};
use jiaoying_store::{DutyRunSetup, InspectionRow, LastInspection, NewDutyRun, NewInspection};
use serde::Serialize;

use super::{area_name, month_and_half_year_start, person_ref, Duties, DutyText, RunOutcome};
use crate::answer::ReplyOutcome;
use crate::board::{unit_kind_zh, At, PersonRef};
use crate::context::{Tracker, TrackerError};

/// Longest report kept (characters), as for a directive's report.
const MAX_REPORT_CHARS: usize = 200;
/// How long a reminder's link works.
const LINK_DAYS: i64 = 35;
/// Inspections listed as "recent" in the coverage view.
const RECENT: i64 = 50;

/// Which of the person's units a reply names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitChoice {
    /// None named: the only unit, or (several) the person's inspection without a unit.
    Unnamed,
    /// The n-th (from 1) of the person's units as the reminder numbered them.
    Number(usize),
    /// `全部` / `all`.
    All,
}

/// An SMS `已检查 [n|全部] <report>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedReply {
    pub unit: UnitChoice,
    pub report: String,
}

const SEPARATORS: [char; 6] = [' ', ',', '，', ':', '：', '-'];

/// Full-width ASCII forms (what Chinese input methods type) as ASCII, the ideographic space as a
/// space: the reply parser's folding.
fn fold_fullwidth(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Reads an inspection answer: `已检查`, `检查完毕` or `inspected` first, then optionally a unit
/// number (followed by a separator or nothing, so "3号楼…" stays report) or `全部`/`all`, then
/// the report. `None` for any other text (it is an answer to a call, or not understood).
pub fn parse_inspected(text: &str) -> Option<InspectedReply> {
    // Full-width digits and letters folded, so a phone's ４ reads as 4; the report keeps the
    // person's own characters otherwise.
    let folded: String = text.chars().map(fold_fullwidth).collect();
    let t = folded.trim();
    let rest = ["已检查", "检查完毕", "inspected"]
        .iter()
        .find_map(|w| t.get(..w.len()).filter(|p| p.eq_ignore_ascii_case(w)).map(|_| &t[w.len()..]))?;
    let rest = rest.trim_start_matches(SEPARATORS);
    let (unit, rest) = if let Some(r) = rest.strip_prefix("全部") {
        (UnitChoice::All, r)
    } else if rest.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("all"))
        && !rest[3..].starts_with(|c: char| c.is_alphanumeric())
    {
        (UnitChoice::All, &rest[3..])
    } else {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let after = &rest[digits..];
        if (1..=3).contains(&digits) && (after.is_empty() || after.starts_with(SEPARATORS)) {
            (UnitChoice::Number(rest[..digits].parse().ok()?), after)
        } else {
            (UnitChoice::Unnamed, rest)
        }
    };
    let report: String = rest.trim_start_matches(SEPARATORS).trim().chars().take(MAX_REPORT_CHARS).collect();
    Some(InspectedReply { unit, report })
}

/// The units a person inspects (is the administrative or regulatory person of), by unit id: the
/// numbering of reminders and answers.
pub(crate) fn units_of<'r>(registry: &'r Registry, person: &str) -> Vec<&'r Unit> {
    let mut units: Vec<&Unit> = registry
        .units
        .iter()
        .filter(|u| u.administrative.as_str() == person || u.regulatory.as_str() == person)
        .collect();
    units.sort_by(|a, b| a.id.cmp(&b.id));
    units
}

/// Coverage of inspections: per person (monthly) and per unit (half-yearly).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InspectionCoverage {
    pub generated_at: At,
    /// The start of this calendar month (China time): a person inspected since then is covered.
    pub month_start: At,
    /// Six months ago: a unit inspected since then is covered.
    pub half_year_start: At,
    pub persons: Vec<PersonCoverage>,
    pub units: Vec<UnitCoverage>,
    /// Persons with no inspection this month.
    pub persons_due: usize,
    /// Units not inspected for six months (or never).
    pub units_overdue: usize,
    /// The newest inspections, newest first.
    pub recent: Vec<InspectionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PersonCoverage {
    pub person: PersonRef,
    /// `administrative` and/or `regulatory`: what they are for their units.
    pub roles: Vec<&'static str>,
    /// Their units, by id (the numbering of their reminders).
    pub units: Vec<String>,
    pub last_inspection: Option<At>,
    /// Inspections this month.
    pub this_month: i64,
    /// No inspection this month.
    pub due: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UnitCoverage {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub kind_zh: &'static str,
    pub area: String,
    pub area_name: String,
    pub administrative: PersonRef,
    pub regulatory: PersonRef,
    pub last_inspection: Option<At>,
    /// Not inspected for six months, or never.
    pub overdue: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InspectionView {
    pub id: i64,
    pub at: At,
    pub person: PersonRef,
    pub unit_id: Option<String>,
    pub unit_name: Option<String>,
    /// `sms` or `link`.
    pub via: String,
    pub report: String,
}

/// Coverage from the latest inspection of each person (with this month's count) and unit.
pub fn coverage(
    registry: &Registry,
    by_person: &[LastInspection],
    by_unit: &[LastInspection],
    recent: &[InspectionRow],
    now: Timestamp,
) -> InspectionCoverage {
    let (month_start, half_year_start) = month_and_half_year_start(now);
    let person_last: HashMap<&str, &LastInspection> = by_person.iter().map(|l| (l.key.as_str(), l)).collect();
    let unit_last: HashMap<&str, i64> = by_unit.iter().map(|l| (l.key.as_str(), l.at)).collect();
    let mut responsible: Vec<&str> =
        registry.units.iter().flat_map(|u| [u.administrative.as_str(), u.regulatory.as_str()]).collect();
    responsible.sort_unstable();
    responsible.dedup();
    let persons: Vec<PersonCoverage> = responsible
        .into_iter()
        .map(|pid| {
            let units = units_of(registry, pid);
            let mut roles = Vec::new();
            if units.iter().any(|u| u.administrative.as_str() == pid) {
                roles.push(Role::ADMINISTRATIVE);
            }
            if units.iter().any(|u| u.regulatory.as_str() == pid) {
                roles.push(Role::REGULATORY);
            }
            let last = person_last.get(pid);
            // `since` counts from the month's start, so it is this month's inspections.
            let this_month = last.filter(|l| l.at >= month_start.millis()).map_or(0, |l| l.since);
            PersonCoverage {
                person: person_ref(registry, pid),
                roles,
                units: units.iter().map(|u| u.id.as_str().to_string()).collect(),
                last_inspection: last.map(|l| At::new(l.at)),
                this_month,
                due: this_month == 0,
            }
        })
        .collect();
    let units: Vec<UnitCoverage> = registry
        .units
        .iter()
        .map(|u| {
            let last = unit_last.get(u.id.as_str()).copied();
            UnitCoverage {
                id: u.id.as_str().to_string(),
                name: u.name.clone(),
                kind: u.kind.as_str().to_string(),
                kind_zh: unit_kind_zh(u.kind.as_str()),
                area: u.area.as_str().to_string(),
                area_name: area_name(registry, u.area.as_str()),
                administrative: person_ref(registry, u.administrative.as_str()),
                regulatory: person_ref(registry, u.regulatory.as_str()),
                last_inspection: At::opt(last),
                overdue: last.is_none_or(|t| t < half_year_start.millis()),
            }
        })
        .collect();
    let recent = recent
        .iter()
        .map(|i| InspectionView {
            id: i.id,
            at: At::new(i.at),
            person: person_ref(registry, &i.person_id),
            unit_id: i.unit_id.clone(),
            unit_name: i
                .unit_id
                .as_deref()
                .and_then(|id| registry.units.iter().find(|u| u.id.as_str() == id))
                .map(|u| u.name.clone()),
            via: i.via.clone(),
            report: i.report.clone(),
        })
        .collect();
    InspectionCoverage {
        generated_at: At::new(now.millis()),
        month_start: At::new(month_start.millis()),
        half_year_start: At::new(half_year_start.millis()),
        persons_due: persons.iter().filter(|p| p.due).count(),
        units_overdue: units.iter().filter(|u| u.overdue).count(),
        persons,
        units,
        recent,
    }
}

/// The reminders of one scheduled time: to every responsible person with no inspection this month.
pub(super) async fn remind(d: &Duties, claim: &NewDutyRun, now: Timestamp) -> Result<RunOutcome, TrackerError> {
    let tracker = d.tracker();
    let cov = d.inspection_coverage(now).await?;
    let registry = tracker.store.load_registry().await?;
    let channels = if d.config().inspection.channels.is_empty() {
        d.default_channels()
    } else {
        d.config().inspection.channels.clone()
    };
    let overdue: HashMap<&str, bool> = cov.units.iter().map(|u| (u.id.as_str(), u.overdue)).collect();
    let mut tx = tracker.store.begin().await?;
    let Some(run_id) = tx.claim_duty_run(claim).await? else {
        return Ok(RunOutcome::AlreadyRun);
    };
    let mut reminded = 0;
    for p in cov.persons.iter().filter(|p| p.due) {
        let Some(person) = PersonId::parse(&p.person.id).ok().and_then(|id| registry.person(&id)) else { continue };
        let request = tx.insert_inspection_request(run_id, person.id.as_str(), now.millis()).await?;
        let link = d.inspection_link(request, now);
        let units: Vec<(String, bool)> = units_of(&registry, person.id.as_str())
            .iter()
            .map(|u| (u.name.clone(), overdue.get(u.id.as_str()).copied().unwrap_or(true)))
            .collect();
        let (subject, sms, email) = reminder_text(d.signature(), d.language(), &units, &link);
        let words = DutyText { subject: &subject, sms: &sms, email: &email, link: Some(&link) };
        let messages = d.person_messages(person, &channels, &words, now);
        for m in &messages {
            tx.insert_message(m).await?;
        }
        reminded += usize::from(!messages.is_empty());
    }
    let summary = serde_json::json!({"due": cov.persons_due, "reminded": reminded, "units_overdue": cov.units_overdue});
    tx.set_duty_run(run_id, &DutyRunSetup { summary: Some(summary.to_string()), ..DutyRunSetup::default() }).await?;
    tx.commit().await?;
    tracker.outbox_wake.notify_one();
    Ok(RunOutcome::Ran { run_id })
}

/// The reminder's subject, SMS and e-mail: units numbered, those six months uninspected marked.
fn reminder_text(signature: &str, lang: Language, units: &[(String, bool)], link: &str) -> (String, String, String) {
    let one = units.len() == 1;
    match lang {
        Language::Zh => {
            let list: Vec<String> = units
                .iter()
                .enumerate()
                .map(|(i, (name, overdue))| {
                    let mark = if *overdue { "（半年未检查）" } else { "" };
                    if one {
                        format!("{name}{mark}")
                    } else {
                        format!("{}.{name}{mark}", i + 1)
                    }
                })
                .collect();
            let how = if one { "已检查 情况" } else { "已检查 编号 情况" };
            let sms = format!(
                "【{signature}】检查提醒：本月请检查您负责的单位：{}。检查后回复“{how}”，或点击 {link}",
                list.join("；")
            );
            let email = format!(
                "【{signature}】检查提醒\n\n按工作要求，您每月至少检查一次负责的单位，每个单位至少每半年检查一次。本月请检查：\n\n{}\n\n\
                 检查后回复短信“{how}”，或打开链接填写检查情况：{link}\n",
                list.join("\n")
            );
            ("检查提醒".into(), sms, email)
        }
        Language::En => {
            let list: Vec<String> = units
                .iter()
                .enumerate()
                .map(|(i, (name, overdue))| {
                    let mark = if *overdue { " (not inspected for 6 months)" } else { "" };
                    if one {
                        format!("{name}{mark}")
                    } else {
                        format!("{}. {name}{mark}", i + 1)
                    }
                })
                .collect();
            let how = if one { "inspected <report>" } else { "inspected <number> <report>" };
            let sms = format!(
                "【{signature}】Inspection reminder: please inspect your units this month: {}. Then reply \"{how}\" or open {link}",
                list.join("; ")
            );
            let email = format!(
                "【{signature}】Inspection reminder\n\nYou inspect your units at least once a month, and each unit at least every \
                 six months. Please inspect this month:\n\n{}\n\nThen reply \"{how}\" by SMS, or report it at {link}\n",
                list.join("\n")
            );
            ("Inspection reminder".into(), sms, email)
        }
    }
}

/// Why an inspection link cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InspectionLinkError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the link names no reminder")]
    Unknown,
    #[error(transparent)]
    Tracker(#[from] TrackerError),
}

/// What the link page shows: the person and their units, each with its last inspection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectionPage {
    pub person: PersonRef,
    pub units: Vec<UnitCoverage>,
    pub last_inspection: Option<At>,
    pub this_month: i64,
}

impl Duties {
    /// The coverage view at `now`.
    pub async fn inspection_coverage(&self, now: Timestamp) -> Result<InspectionCoverage, TrackerError> {
        let store = &self.tracker().store;
        let registry = store.load_registry().await?;
        let (month_start, _) = month_and_half_year_start(now);
        let (by_person, by_unit) = store.last_inspections(month_start.millis()).await?;
        let recent = store.recent_inspections(RECENT).await?;
        Ok(coverage(&registry, &by_person, &by_unit, &recent, now))
    }

    /// The signed link of an inspection reminder.
    pub fn inspection_link(&self, request_id: i64, now: Timestamp) -> String {
        let expires_secs = now.millis() / 1000 + LINK_DAYS * 86_400;
        let token = self.0.links.sign(AnswerToken { call_id: request_id, expires_secs });
        format!("{}/i/{token}", self.config().public_url)
    }

    /// The reminder a link names, and the person it went to.
    async fn link_request(&self, token: &str, now: Timestamp) -> Result<(i64, String), InspectionLinkError> {
        let t = self.0.links.verify(token, now)?;
        let store = &self.tracker().store;
        let request = store.inspection_request(t.call_id).await.map_err(TrackerError::from)?;
        let request = request.ok_or(InspectionLinkError::Unknown)?;
        Ok((request.id, request.person_id))
    }

    /// What the link page shows.
    pub async fn inspection_page(&self, token: &str, now: Timestamp) -> Result<InspectionPage, InspectionLinkError> {
        let (_, person_id) = self.link_request(token, now).await?;
        let cov = self.inspection_coverage(now).await?;
        let mine = cov.persons.into_iter().find(|p| p.person.id == person_id);
        let registry = self.tracker().store.load_registry().await.map_err(TrackerError::from)?;
        let units = cov.units.into_iter().filter(|u| mine.as_ref().is_some_and(|p| p.units.contains(&u.id))).collect();
        Ok(InspectionPage {
            person: person_ref(&registry, &person_id),
            units,
            last_inspection: mine.as_ref().and_then(|p| p.last_inspection.clone()),
            this_month: mine.as_ref().map_or(0, |p| p.this_month),
        })
    }

    /// Records the link page's answer: one inspection per ticked unit (of the person's), or one
    /// without a unit when none is ticked. Returns how many were recorded.
    pub async fn record_inspection_by_link(
        &self,
        token: &str,
        units: &[String],
        report: &str,
        now: Timestamp,
    ) -> Result<usize, InspectionLinkError> {
        let (request_id, person_id) = self.link_request(token, now).await?;
        let registry = self.tracker().store.load_registry().await.map_err(TrackerError::from)?;
        let mine: Vec<String> = units_of(&registry, &person_id).iter().map(|u| u.id.as_str().to_string()).collect();
        let chosen: Vec<Option<String>> = {
            let picked: Vec<Option<String>> = mine.iter().filter(|u| units.contains(u)).cloned().map(Some).collect();
            if picked.is_empty() {
                vec![None]
            } else {
                picked
            }
        };
        let report: String = report.trim().chars().take(MAX_REPORT_CHARS).collect();
        let mut tx = self.tracker().store.begin().await.map_err(TrackerError::from)?;
        for unit in &chosen {
            tx.insert_inspection(&NewInspection {
                person_id: person_id.clone(),
                unit_id: unit.clone(),
                at: now.millis(),
                via: "link".into(),
                report: report.clone(),
                request_id: Some(request_id),
            })
            .await
            .map_err(TrackerError::from)?;
        }
        tx.commit().await.map_err(TrackerError::from)?;
        Ok(chosen.len())
    }
}

impl Tracker {
    /// An SMS `已检查 …` from the persons of one mobile: recorded, and answered on the channel
    /// it came in on. `provider_id` makes a gateway's retry change nothing.
    pub(crate) async fn inspected_by_sms(
        &self,
        channel: &str,
        mobile: &MobileNumber,
        persons: &[Person],
        reply: InspectedReply,
        provider_id: Option<&str>,
    ) -> Result<ReplyOutcome, TrackerError> {
        let now = self.clock.now();
        let registry = self.store.load_registry().await?;
        let lang = self.config.composer.templates().language();
        let signature = self.config.composer.signature().to_string();
        // The first of the number's persons who has units to inspect.
        let found = persons.iter().find_map(|p| {
            let units = units_of(&registry, p.id.as_str());
            (!units.is_empty()).then_some((p, units))
        });
        let (records, text): (Vec<NewInspection>, String) = match found {
            None => (Vec::new(), words(lang, &signature, Said::NotResponsible)),
            Some((person, units)) => {
                let record = |unit: Option<&Unit>| NewInspection {
                    person_id: person.id.as_str().to_string(),
                    unit_id: unit.map(|u| u.id.as_str().to_string()),
                    at: now.millis(),
                    via: "sms".into(),
                    report: reply.report.clone(),
                    request_id: None,
                };
                let list = || numbered(&units);
                match reply.unit {
                    UnitChoice::Number(n) if (1..=units.len()).contains(&n) => {
                        let u = units[n - 1];
                        (vec![record(Some(u))], words(lang, &signature, Said::Unit(&u.name)))
                    }
                    UnitChoice::Number(n) => (Vec::new(), words(lang, &signature, Said::NoSuchNumber(n, &list()))),
                    UnitChoice::All => (
                        units.iter().map(|u| record(Some(u))).collect(),
                        words(lang, &signature, Said::All(units.len())),
                    ),
                    UnitChoice::Unnamed if units.len() == 1 => {
                        (vec![record(Some(units[0]))], words(lang, &signature, Said::Unit(&units[0].name)))
                    }
                    UnitChoice::Unnamed => (vec![record(None)], words(lang, &signature, Said::Unnamed(&list()))),
                }
            }
        };
        let mut tx = self.store.begin().await?;
        if let Some(pid) = provider_id.filter(|p| !p.is_empty()) {
            if !tx.first_sight(channel, pid, now.millis()).await? {
                return Ok(ReplyOutcome::Duplicate);
            }
        }
        for r in &records {
            tx.insert_inspection(r).await?;
        }
        tx.insert_message(&self.config.composer.reply_message(channel, mobile.as_str(), text, now)).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(ReplyOutcome::Inspected { recorded: records.len() })
    }
}

/// `1 某小学；2 某工地`: the person's units as reminders number them.
fn numbered(units: &[&Unit]) -> String {
    units.iter().enumerate().map(|(i, u)| format!("{} {}", i + 1, u.name)).collect::<Vec<_>>().join("；")
}

/// What the service says back to an inspection SMS.
enum Said<'a> {
    Unit(&'a str),
    All(usize),
    Unnamed(&'a str),
    NoSuchNumber(usize, &'a str),
    NotResponsible,
}

fn words(lang: Language, sig: &str, said: Said<'_>) -> String {
    match (lang, said) {
        (Language::Zh, Said::Unit(name)) => format!("【{sig}】已记录对{name}的检查，谢谢。"),
        (Language::Zh, Said::All(n)) => format!("【{sig}】已记录对您负责的{n}个单位的检查，谢谢。"),
        (Language::Zh, Said::Unnamed(list)) => {
            format!("【{sig}】已记录您的检查。如需记入具体单位，请回复“已检查 编号 情况”：{list}")
        }
        (Language::Zh, Said::NoSuchNumber(n, list)) => {
            format!("【{sig}】编号{n}不存在，未记录。请回复“已检查 编号 情况”：{list}")
        }
        (Language::Zh, Said::NotResponsible) => {
            format!("【{sig}】您不是任何单位的行政或监管责任人，无需报告检查。")
        }
        (Language::En, Said::Unit(name)) => format!("【{sig}】Inspection of {name} recorded. Thank you."),
        (Language::En, Said::All(n)) => format!("【{sig}】Inspection of your {n} units recorded. Thank you."),
        (Language::En, Said::Unnamed(list)) => format!(
            "【{sig}】Your inspection is recorded. To record it for a unit, reply \"inspected <number> <report>\": {list}"
        ),
        (Language::En, Said::NoSuchNumber(n, list)) => {
            format!("【{sig}】There is no unit {n}; nothing recorded. Reply \"inspected <number> <report>\": {list}")
        }
        (Language::En, Said::NotResponsible) => {
            format!("【{sig}】You are not the administrative or regulatory person of any unit; no report is needed.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(unit: UnitChoice, report: &str) -> Option<InspectedReply> {
        Some(InspectedReply { unit, report: report.into() })
    }

    #[test]
    fn inspection_answers_name_a_unit_all_or_none() {
        assert_eq!(parse_inspected("已检查"), reply(UnitChoice::Unnamed, ""));
        assert_eq!(parse_inspected(" 已检查 消防通道畅通。"), reply(UnitChoice::Unnamed, "消防通道畅通。"));
        assert_eq!(parse_inspected("已检查2 围挡完好"), reply(UnitChoice::Number(2), "围挡完好"));
        assert_eq!(parse_inspected("已检查：２，围挡完好"), reply(UnitChoice::Number(2), "围挡完好"));
        assert_eq!(parse_inspected("已检查 全部 正常"), reply(UnitChoice::All, "正常"));
        assert_eq!(parse_inspected("Inspected all fine"), reply(UnitChoice::All, "fine"));
        assert_eq!(parse_inspected("inspected 1"), reply(UnitChoice::Number(1), ""));
        // A number that is part of the report is not a unit number.
        assert_eq!(parse_inspected("已检查 3号楼消防通道畅通"), reply(UnitChoice::Unnamed, "3号楼消防通道畅通"));
        assert_eq!(parse_inspected("检查完毕 allright"), reply(UnitChoice::Unnamed, "allright"));
        for other in ["1", "4821", "收到", "2 已落实", "检查", "未检查", ""] {
            assert_eq!(parse_inspected(other), None, "{other:?}");
        }
        let long = format!("已检查 {}", "好".repeat(300));
        assert_eq!(parse_inspected(&long).unwrap().report.chars().count(), MAX_REPORT_CHARS);
    }

    #[test]
    fn reminders_number_units_and_mark_the_overdue() {
        let units = vec![("某小学".to_string(), true), ("某工地".to_string(), false)];
        let (_, sms, email) = reminder_text("街道", Language::Zh, &units, "http://x/i/t");
        assert_eq!(
            sms,
            "【街道】检查提醒：本月请检查您负责的单位：1.某小学（半年未检查）；2.某工地。检查后回复“已检查 编号 情况”，或点击 http://x/i/t"
        );
        assert!(email.contains("http://x/i/t"));
        let (_, one, _) = reminder_text("街道", Language::Zh, &units[1..], "L");
        assert!(one.contains("某工地。检查后回复“已检查 情况”"), "{one}");
    }
}
