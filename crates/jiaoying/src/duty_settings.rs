//! `[duties]`: scheduled duties (issue 7). Every duty is off until its table is present; the
//! schedules are cron (6 or 7 fields, or `@daily`), read in China Standard Time.
//!
//! ```toml
//! [duties]
//! catch_up = "24h"              # a run missed while down is run once at start if at most this old
//! roster_gap_days = 7           # roster gaps are warned of this many days ahead
//!
//! [duties.reachability]         # 通联测试
//! schedule = "0 0 9 1-7 * Mon"  # the first Monday of each month, 09:00
//! channels = ["sms"]            # default: the red policy's channels
//! roles = []                    # whom to test; every person when empty
//! answer_within = "24h"
//! remind_after = "4h"           # optional: one reminder to those who have not answered
//!
//! [duties.inspection]
//! schedule = "0 0 9 20 * *"     # reminders to those who have not inspected this month
//!
//! [duties.daily_summary]
//! schedule = "0 0 8 * * *"
//! roles = ["leader"]
//! ```

use jiaoying_core::{Role, Span};
use jiaoying_tracker::duties::{DutiesConfig, DutySchedule, InspectionConfig, ReachabilityConfig, SummaryConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutiesSettings {
    /// A scheduled time missed while the service was down runs once at start if at most this old.
    #[serde(default = "default_catch_up")]
    pub catch_up: Span,
    /// How far ahead roster gaps are looked for (board, API, `check-config`).
    #[serde(default = "default_gap_days")]
    pub roster_gap_days: u32,
    #[serde(default)]
    pub reachability: Option<ReachabilitySettings>,
    #[serde(default)]
    pub inspection: Option<InspectionSettings>,
    #[serde(default)]
    pub daily_summary: Option<SummarySettings>,
}

fn default_catch_up() -> Span {
    Span::from_mins(24 * 60)
}
fn default_gap_days() -> u32 {
    7
}

impl Default for DutiesSettings {
    fn default() -> Self {
        DutiesSettings {
            catch_up: default_catch_up(),
            roster_gap_days: default_gap_days(),
            reachability: None,
            inspection: None,
            daily_summary: None,
        }
    }
}

/// `[duties.reachability]`: 通联测试.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReachabilitySettings {
    pub schedule: String,
    /// Channel names; the red policy's channels when absent.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Whom to test: persons with any of these roles; every person when empty.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Answers after this count as unreached.
    #[serde(default = "default_test_window")]
    pub answer_within: Span,
    /// One reminder this long after the test to those who have not answered; none when absent.
    #[serde(default)]
    pub remind_after: Option<Span>,
}

fn default_test_window() -> Span {
    Span::from_mins(24 * 60)
}

/// `[duties.inspection]`: reminders to inspect units.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionSettings {
    pub schedule: String,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
}

/// `[duties.daily_summary]`: to leaders.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummarySettings {
    pub schedule: String,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Who receives it: persons with any of these roles.
    #[serde(default = "leaders")]
    pub roles: Vec<Role>,
}

fn leaders() -> Vec<Role> {
    vec![Role::named(Role::LEADER)]
}

impl DutiesSettings {
    /// What is wrong, each naming its key. `channels` are the configured channel names.
    pub fn problems(&self, channels: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |table: &str, schedule: &str, chosen: Option<&Vec<String>>| {
            if let Err(e) = DutySchedule::parse(schedule) {
                out.push(format!("duties.{table}.schedule: {e}"));
            }
            for ch in chosen.into_iter().flatten() {
                if !channels.contains(ch) {
                    out.push(format!("duties.{table}.channels: channel {ch:?} is not configured under [channels]"));
                }
            }
        };
        if let Some(r) = &self.reachability {
            check("reachability", &r.schedule, r.channels.as_ref());
        }
        if let Some(i) = &self.inspection {
            check("inspection", &i.schedule, i.channels.as_ref());
        }
        if let Some(s) = &self.daily_summary {
            check("daily_summary", &s.schedule, s.channels.as_ref());
        }
        if let Some(r) = &self.reachability {
            if r.answer_within.millis() <= 0 {
                out.push("duties.reachability.answer_within must be positive".into());
            }
            if r.remind_after.is_some_and(|s| s.millis() <= 0 || s >= r.answer_within) {
                out.push("duties.reachability.remind_after must be positive and shorter than answer_within".into());
            }
        }
        if self.catch_up.millis() < 0 {
            out.push("duties.catch_up must not be negative".into());
        }
        if self.roster_gap_days == 0 || self.roster_gap_days > 366 {
            out.push("duties.roster_gap_days must be between 1 and 366".into());
        }
        out
    }

    /// The parsed config. `red_channels` are the red policy's, the default of every duty.
    pub fn config(&self, public_url: &str, red_channels: &[String]) -> Result<DutiesConfig, String> {
        let channels = |c: &Option<Vec<String>>| c.clone().unwrap_or_else(|| red_channels.to_vec());
        let schedule =
            |table: &str, s: &str| DutySchedule::parse(s).map_err(|e| format!("duties.{table}.schedule: {e}"));
        let mut config = DutiesConfig::unscheduled(public_url);
        config.catch_up = self.catch_up;
        config.roster_gap_days = self.roster_gap_days;
        if let Some(r) = &self.reachability {
            config.reachability = Some(ReachabilityConfig {
                schedule: schedule("reachability", &r.schedule)?,
                channels: channels(&r.channels),
                roles: r.roles.clone(),
                answer_within: r.answer_within,
                remind_after: r.remind_after,
            });
        }
        config.inspection = match &self.inspection {
            Some(i) => InspectionConfig {
                schedule: Some(schedule("inspection", &i.schedule)?),
                channels: channels(&i.channels),
            },
            None => InspectionConfig { schedule: None, channels: red_channels.to_vec() },
        };
        if let Some(s) = &self.daily_summary {
            config.daily_summary = Some(SummaryConfig {
                schedule: schedule("daily_summary", &s.schedule)?,
                channels: channels(&s.channels),
                roles: s.roles.clone(),
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duties_are_off_unless_configured_and_checked_when_they_are() {
        let none: DutiesSettings = toml::from_str("").unwrap();
        let c = none.config("http://x/", &["sms".into()]).unwrap();
        assert!(!c.any_scheduled());
        assert_eq!((c.public_url.as_str(), c.roster_gap_days), ("http://x", 7));

        let s: DutiesSettings = toml::from_str(
            r#"
            [reachability]
            schedule = "0 0 9 1-7 * Mon"
            answer_within = "2h"
            remind_after = "1h"
            [daily_summary]
            schedule = "0 0 8 * * *"
            channels = ["email"]
            "#,
        )
        .unwrap();
        assert_eq!(
            s.problems(&["sms".into()]),
            vec!["duties.daily_summary.channels: channel \"email\" is not configured under [channels]".to_string()]
        );
        let c = s.config("http://x", &["sms".into()]).unwrap();
        let r = c.reachability.unwrap();
        assert_eq!(
            (r.channels, r.answer_within, r.remind_after),
            (vec!["sms".to_string()], Span::from_mins(120), Some(Span::from_mins(60)))
        );
        assert_eq!(c.daily_summary.unwrap().roles, vec![Role::named(Role::LEADER)]);

        let bad: DutiesSettings = toml::from_str(
            "[inspection]\nschedule = \"0 9 * * 1\"\n[reachability]\nschedule = \"@daily\"\nremind_after = \"2d\"\n",
        )
        .unwrap();
        let p = bad.problems(&[]);
        assert!(
            p.iter().any(|m| m.starts_with("duties.inspection.schedule: the schedule") && m.contains("5 fields")),
            "{p:?}"
        );
        assert!(p.iter().any(|m| m.contains("remind_after must be positive and shorter")), "{p:?}");
        assert!(toml::from_str::<DutiesSettings>("[reachability]\nschedule = \"@daily\"\nwhen = 1\n").is_err());
    }
}
