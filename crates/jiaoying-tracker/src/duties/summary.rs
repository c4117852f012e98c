//! The daily summary to leaders: the warnings of the 24 hours before the scheduled time, how many
//! of those called answered, and who was not reached, as one message on their channels.
//! Reachability tests are not warnings and are left out; drills are counted apart.

use std::collections::HashMap;

use jiaoying_core::message::{role_en, role_zh, Language};
use jiaoying_core::{CallState, Timestamp};
use jiaoying_store::{AlertFilter, AlertRow, CallListRow, DutyRunSetup, NewDutyRun, StateCount};

use super::{area_name, is_duty_alert, person_ref, Duties, DutyText, RunOutcome, SummaryConfig};
use crate::context::TrackerError;

/// The window a summary covers, before its scheduled time.
const WINDOW_MS: i64 = 24 * 3_600_000;
/// Alerts of the window looked at, at most (a day has far fewer).
const MAX_ALERTS: i64 = 1000;
/// Names of unreached persons in the message, at most; the rest are counted.
const NAMES: usize = 10;

/// One warning of the day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AlertLine {
    pub tier_zh: &'static str,
    pub tier: &'static str,
    pub event: String,
    pub answered: i64,
    pub total: i64,
}

/// Someone a warning did not reach.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unreached {
    pub name: String,
    pub role: String,
    pub area_name: String,
}

/// What the summary says.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DailyStats {
    pub alerts: Vec<AlertLine>,
    pub calls: i64,
    pub answered: i64,
    pub unreached: Vec<Unreached>,
    pub drills: usize,
}

/// Sends the summary for the scheduled time of `claim`, unless another instance has.
pub(super) async fn send(
    d: &Duties,
    cfg: &SummaryConfig,
    claim: &NewDutyRun,
    now: Timestamp,
) -> Result<RunOutcome, TrackerError> {
    let tracker = d.tracker();
    let store = &tracker.store;
    let registry = store.load_registry().await?;
    let (to, from) = (claim.scheduled_for, claim.scheduled_for - WINDOW_MS);
    let (alerts, _) = store.list_alerts(&AlertFilter { state: None, limit: MAX_ALERTS, offset: 0 }).await?;
    let alerts: Vec<AlertRow> = alerts
        .into_iter()
        .filter(|a| a.created_at > from && a.created_at <= to && a.state != "stored" && !is_duty_alert(a))
        .collect();
    let ids: Vec<i64> = alerts.iter().filter(|a| !a.is_drill()).map(|a| a.id).collect();
    let counts = store.call_counts(&ids).await?;
    let mut calls = HashMap::new();
    for id in &ids {
        calls.insert(*id, store.calls_of_alert(*id).await?);
    }
    let stats = stats(&alerts, &counts, &calls, &registry);
    let (subject, text) = summary_text(&stats, d.signature(), d.language(), Timestamp(from), Timestamp(to));
    let leaders: Vec<_> = registry.persons.iter().filter(|p| p.roles.iter().any(|r| cfg.roles.contains(r))).collect();
    let channels = if cfg.channels.is_empty() { d.default_channels() } else { cfg.channels.clone() };

    let mut tx = store.begin().await?;
    let Some(run_id) = tx.claim_duty_run(claim).await? else {
        return Ok(RunOutcome::AlreadyRun);
    };
    let words = DutyText { subject: &subject, sms: &text, email: &text, link: None };
    let mut sent_to = 0;
    for p in &leaders {
        let messages = d.person_messages(p, &channels, &words, now);
        for m in &messages {
            tx.insert_message(m).await?;
        }
        sent_to += usize::from(!messages.is_empty());
    }
    let summary = serde_json::json!({
        "alerts": stats.alerts.len(), "calls": stats.calls, "answered": stats.answered,
        "unreached": stats.unreached.len(), "drills": stats.drills, "leaders": sent_to,
    });
    tx.set_duty_run(run_id, &DutyRunSetup { summary: Some(summary.to_string()), ..DutyRunSetup::default() }).await?;
    tx.commit().await?;
    tracker.outbox_wake.notify_one();
    Ok(RunOutcome::Ran { run_id })
}

/// The day's numbers from its alerts (oldest first in the result), their counts and their calls.
pub(crate) fn stats(
    alerts: &[AlertRow],
    counts: &[StateCount],
    calls: &HashMap<i64, Vec<CallListRow>>,
    registry: &jiaoying_core::Registry,
) -> DailyStats {
    let mut out = DailyStats::default();
    let mut ordered: Vec<&AlertRow> = alerts.iter().collect();
    ordered.sort_by_key(|a| (a.created_at, a.id));
    for a in ordered {
        if a.is_drill() {
            out.drills += 1;
            continue;
        }
        let of = |states: &[CallState]| -> i64 {
            counts.iter().filter(|c| c.alert_id == a.id && states.contains(&c.state)).map(|c| c.n).sum()
        };
        let total = of(&CallState::ALL);
        let answered = of(&[CallState::Answered, CallState::Done]);
        out.calls += total;
        out.answered += answered;
        out.alerts.push(AlertLine {
            tier_zh: a.tier.zh(),
            tier: a.tier.as_str(),
            event: a.event.clone(),
            answered,
            total,
        });
        for c in calls.get(&a.id).into_iter().flatten().filter(|c| c.call.unreached) {
            out.unreached.push(Unreached {
                name: person_ref(registry, &c.call.person_id).name,
                role: c.call.roles.split(';').next().unwrap_or("").to_string(),
                area_name: area_name(registry, &c.call.area),
            });
        }
    }
    out
}

/// The summary's subject and text (SMS and e-mail alike).
pub(crate) fn summary_text(
    s: &DailyStats,
    sig: &str,
    lang: Language,
    from: Timestamp,
    to: Timestamp,
) -> (String, String) {
    let (from, to) = (from.to_cst_display(), to.to_cst_display());
    let pct = if s.calls > 0 { (s.answered * 100 + s.calls / 2) / s.calls } else { 0 };
    let more = s.unreached.len().saturating_sub(NAMES);
    let day = to.split(' ').next().unwrap_or("").to_string();
    match lang {
        Language::Zh => {
            let mut t = format!("【{sig}】每日汇总（{from}至{to}）：");
            if s.alerts.is_empty() {
                t.push_str("无预警");
            } else {
                let list: Vec<String> = s.alerts.iter().map(|a| format!("{}{}", a.tier_zh, a.event)).collect();
                t.push_str(&format!(
                    "预警{}条（{}），叫应{}人，已应答{}人（{pct}%）",
                    s.alerts.len(),
                    list.join("、"),
                    s.calls,
                    s.answered
                ));
                if s.unreached.is_empty() {
                    t.push_str("，无未叫醒");
                } else {
                    let names: Vec<String> = s
                        .unreached
                        .iter()
                        .take(NAMES)
                        .map(|u| format!("{}（{}，{}）", u.name, role_zh(&u.role), u.area_name))
                        .collect();
                    t.push_str(&format!("，未叫醒{}人：{}", s.unreached.len(), names.join("、")));
                    if more > 0 {
                        t.push('等');
                    }
                }
            }
            if s.drills > 0 {
                t.push_str(&format!("；另有演练{}次", s.drills));
            }
            t.push('。');
            (format!("每日汇总 {day}"), t)
        }
        Language::En => {
            let mut t = format!("【{sig}】Daily summary ({from} to {to}): ");
            if s.alerts.is_empty() {
                t.push_str("no warnings");
            } else {
                let list: Vec<String> = s.alerts.iter().map(|a| format!("{} {}", a.tier, a.event)).collect();
                t.push_str(&format!(
                    "{} warnings ({}), {} called, {} answered ({pct}%)",
                    s.alerts.len(),
                    list.join(", "),
                    s.calls,
                    s.answered
                ));
                if s.unreached.is_empty() {
                    t.push_str(", nobody unreached");
                } else {
                    let names: Vec<String> = s
                        .unreached
                        .iter()
                        .take(NAMES)
                        .map(|u| format!("{} ({}, {})", u.name, role_en(&u.role), u.area_name))
                        .collect();
                    t.push_str(&format!("; {} unreached: {}", s.unreached.len(), names.join(", ")));
                    if more > 0 {
                        t.push_str(&format!(" and {more} more"));
                    }
                }
            }
            if s.drills > 0 {
                t.push_str(&format!("; {} drills besides", s.drills));
            }
            t.push('.');
            (format!("Daily summary {day}"), t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    #[test]
    fn a_day_with_warnings_names_the_unreached() {
        let s = DailyStats {
            alerts: vec![
                AlertLine { tier_zh: "红色", tier: "red", event: "暴雨".into(), answered: 5, total: 6 },
                AlertLine { tier_zh: "橙色", tier: "orange", event: "大风".into(), answered: 2, total: 2 },
            ],
            calls: 8,
            answered: 7,
            unreached: vec![Unreached {
                name: "网格员".into(), role: "grid".into(), area_name: "第一网格".into()
            }],
            drills: 1,
        };
        let (subject, text) = summary_text(
            &s,
            "观音桥街道",
            Language::Zh,
            at("2026-06-30T08:00:00+08:00"),
            at("2026-07-01T08:00:00+08:00"),
        );
        assert_eq!(subject, "每日汇总 07-01");
        assert_eq!(
            text,
            "【观音桥街道】每日汇总（06-30 08:00至07-01 08:00）：预警2条（红色暴雨、橙色大风），叫应8人，已应答7人（88%），\
             未叫醒1人：网格员（网格员，第一网格）；另有演练1次。"
        );
        let (_, en) =
            summary_text(&s, "S", Language::En, at("2026-06-30T08:00:00+08:00"), at("2026-07-01T08:00:00+08:00"));
        assert!(en.contains("2 warnings (red 暴雨, orange 大风), 8 called, 7 answered (88%); 1 unreached"), "{en}");
    }

    #[test]
    fn a_quiet_day_says_so() {
        let (_, text) = summary_text(
            &DailyStats::default(),
            "街道",
            Language::Zh,
            at("2026-06-30T08:00:00+08:00"),
            at("2026-07-01T08:00:00+08:00"),
        );
        assert_eq!(text, "【街道】每日汇总（06-30 08:00至07-01 08:00）：无预警。");
    }
}
