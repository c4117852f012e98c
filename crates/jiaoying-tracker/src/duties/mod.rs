//! Scheduled duties (issue 7): the monthly reachability test (通联测试), inspection reminders, the
//! daily summary to leaders, and the duty roster's "on duty now" and gaps.
//!
//! Each duty has a cron schedule (China Standard Time). One loop per instance calls
//! [`Duties::step`] with the service clock's `now`; the step decides from the schedule alone
//! which time is due ([`schedule::due`]: only the latest one, so a service that was down runs a
//! missed duty once), then claims that `(duty, time)` by inserting its `duty_runs` row in the
//! same transaction as the run's work. Several instances on one PostgreSQL all try; the unique
//! row lets exactly one of them do it. Follow-ups of a run (a reachability test's reminder and,
//! when its window ends, the report to the duty officers) are timestamps on that row, claimed by
//! compare-and-set like every other timer.
//!
//! A reachability test rides on the call machinery: an alert of status `Test` from source
//! `duty:reachability`, one call per person, answered by reply code, bare `1` or link as any call.
//! It never escalates (the timer turns an escalation of a duty alert into "unreached"); its
//! window ending expires the alert and its open calls. See docs/adr/0014-scheduled-duties.md.

mod inspection;
mod reachability;
mod rosters;
mod schedule;
mod summary;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiaoying_core::message::Language;
use jiaoying_core::token::TokenSigner;
use jiaoying_core::urgency::{message_priority, MessageKind};
use jiaoying_core::{Person, Registry, Role, Span, Timestamp};
use jiaoying_store::{AlertRow, NewDutyRun, NewMessage, Purpose};
use serde::Serialize;
use tokio::sync::Notify;

use crate::board::PersonRef;
use crate::context::{Tracker, TrackerError};
use crate::runner::Step;

pub use inspection::{
    parse_inspected, InspectedReply, InspectionCoverage, InspectionLinkError, InspectionPage, InspectionView,
    PersonCoverage, UnitChoice, UnitCoverage,
};
pub use reachability::{GroupStats, PersonResult, ReachabilityReport, RunView, UnitPersonResult, UnitResult};
pub use rosters::{gap_warnings, on_duty_now, roster_gaps, OnDutyPerson, OnDutyView, RosterGapView};
pub use schedule::{due, Due, DutySchedule};

/// The source of every alert a duty makes: the rest of the service tells them from warnings by it.
pub const DUTY_SOURCE_PREFIX: &str = "duty:";
/// The source and event of a reachability test's alert.
pub const REACHABILITY_SOURCE: &str = "duty:reachability";
pub const REACHABILITY_EVENT: &str = "通联测试";

/// Whether an alert was made by a scheduled duty (a reachability test), not received.
pub fn is_duty_alert(alert: &AlertRow) -> bool {
    alert.source.starts_with(DUTY_SOURCE_PREFIX)
}

/// The scheduled duties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Duty {
    /// 通联测试: a test message to everyone, who must answer.
    Reachability,
    /// Reminders to inspect units (已检查).
    Inspection,
    /// The daily summary to leaders.
    DailySummary,
}

impl Duty {
    pub const ALL: [Duty; 3] = [Duty::Reachability, Duty::Inspection, Duty::DailySummary];

    pub fn as_str(self) -> &'static str {
        match self {
            Duty::Reachability => "reachability",
            Duty::Inspection => "inspection",
            Duty::DailySummary => "daily_summary",
        }
    }

    pub fn parse(s: &str) -> Option<Duty> {
        Duty::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// `[duties.reachability]`, parsed.
#[derive(Debug, Clone)]
pub struct ReachabilityConfig {
    pub schedule: DutySchedule,
    pub channels: Vec<String>,
    /// Whom to test: persons with any of these roles; every person when empty.
    pub roles: Vec<Role>,
    /// The test's window: an answer after it does not count, and the unanswered are unreached.
    pub answer_within: Span,
    /// One reminder to those who have not answered, this long after the test; none when absent.
    pub remind_after: Option<Span>,
}

/// `[duties.inspection]`, parsed. Answers (SMS `已检查`, the link page) are taken whether or not
/// reminders are scheduled.
#[derive(Debug, Clone, Default)]
pub struct InspectionConfig {
    pub schedule: Option<DutySchedule>,
    pub channels: Vec<String>,
}

/// `[duties.daily_summary]`, parsed.
#[derive(Debug, Clone)]
pub struct SummaryConfig {
    pub schedule: DutySchedule,
    pub channels: Vec<String>,
    /// Who receives it: persons with any of these roles (default `leader`).
    pub roles: Vec<Role>,
}

/// `[duties]`, parsed.
#[derive(Debug, Clone)]
pub struct DutiesConfig {
    pub reachability: Option<ReachabilityConfig>,
    pub inspection: InspectionConfig,
    pub daily_summary: Option<SummaryConfig>,
    /// A scheduled time missed (the service was down) is run once when it is at most this old.
    pub catch_up: Span,
    /// How far ahead roster gaps are looked for (board, API, `check-config`).
    pub roster_gap_days: u32,
    /// `server.public_url` without a trailing slash: the base of inspection links.
    pub public_url: String,
}

impl DutiesConfig {
    /// Nothing scheduled, gaps a week ahead, links on `public_url`.
    pub fn unscheduled(public_url: &str) -> Self {
        DutiesConfig {
            reachability: None,
            inspection: InspectionConfig::default(),
            daily_summary: None,
            catch_up: Span::from_mins(24 * 60),
            roster_gap_days: 7,
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    pub fn schedule(&self, duty: Duty) -> Option<&DutySchedule> {
        match duty {
            Duty::Reachability => self.reachability.as_ref().map(|r| &r.schedule),
            Duty::Inspection => self.inspection.schedule.as_ref(),
            Duty::DailySummary => self.daily_summary.as_ref().map(|s| &s.schedule),
        }
    }

    /// Whether any duty has a schedule (else no loop is needed).
    pub fn any_scheduled(&self) -> bool {
        Duty::ALL.iter().any(|d| self.schedule(*d).is_some())
    }
}

/// What became of an attempt to run a duty at a scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// This instance claimed and ran it.
    Ran { run_id: i64 },
    /// Another instance (or this one before a restart) has run it.
    AlreadyRun,
}

/// The scheduled duties of one instance. Cheap to clone.
#[derive(Clone)]
pub struct Duties(Arc<Inner>);

struct Inner {
    tracker: Tracker,
    config: DutiesConfig,
    /// Signs inspection links, with a key of their own: a link to an inspection request can
    /// never pass as an answer link to a call of the same number.
    links: TokenSigner,
    /// Names this instance in the runs it claims.
    instance: String,
    /// The latest scheduled time of each duty this process has handled (run, found run, or
    /// skipped as too old): in memory, as the claim in the database is what prevents repeats.
    handled: Mutex<HashMap<Duty, Timestamp>>,
    wake: Arc<Notify>,
}

impl Duties {
    /// `link_secret` is the service secret; the inspection links' key is derived from it apart
    /// from the answer links' key.
    pub fn new(tracker: Tracker, config: DutiesConfig, link_secret: &[u8]) -> Self {
        let mut key = link_secret.to_vec();
        key.extend_from_slice(b"\x1fjiaoying inspection-link v1");
        let instance = format!("{:016x}", rand::random::<u64>());
        Duties(Arc::new(Inner {
            tracker,
            config,
            links: TokenSigner::new(&key),
            instance,
            handled: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
        }))
    }

    pub fn config(&self) -> &DutiesConfig {
        &self.0.config
    }

    pub fn tracker(&self) -> &Tracker {
        &self.0.tracker
    }

    /// Wakes the duty loop (after moving a test clock).
    pub fn wake(&self) -> &Arc<Notify> {
        &self.0.wake
    }

    /// The name this instance claims runs under.
    pub fn instance(&self) -> &str {
        &self.0.instance
    }

    /// One step of the duty loop: every duty whose latest scheduled time is due runs (or is
    /// found run by another instance), then follow-ups due at `now`. Tests call it directly.
    pub async fn step(&self, now: Timestamp) -> Result<Step, TrackerError> {
        let mut done = 0;
        for duty in Duty::ALL {
            let Some(schedule) = self.config().schedule(duty) else { continue };
            let handled = self.handled(duty);
            match due(schedule, now, handled, self.config().catch_up) {
                Due::Nothing => {}
                Due::TooLate(t) => {
                    tracing::warn!(
                        duty = duty.as_str(),
                        scheduled_for = %t.to_rfc3339(),
                        catch_up = %self.config().catch_up,
                        "a scheduled duty was missed by more than the catch-up allowance; not run"
                    );
                    self.set_handled(duty, t);
                }
                Due::Run(t) => {
                    match self.run(duty, t, now).await? {
                        RunOutcome::Ran { run_id } => {
                            tracing::info!(duty = duty.as_str(), run_id, scheduled_for = %t.to_rfc3339(), "duty ran");
                            done += 1;
                        }
                        RunOutcome::AlreadyRun => {
                            tracing::debug!(duty = duty.as_str(), scheduled_for = %t.to_rfc3339(), "duty already run");
                        }
                    }
                    self.set_handled(duty, t);
                }
            }
        }
        done += self.follow_ups(now).await?;
        if done > 0 {
            return Ok(Step::Done(done));
        }
        let next_scheduled = Duty::ALL
            .iter()
            .filter_map(|d| self.config().schedule(*d).and_then(|s| s.next_after(now)))
            .map(Timestamp::millis)
            .min();
        let next_followup = self.tracker().store.next_duty_followup().await?;
        let next_due = match (next_scheduled, next_followup) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Step::Empty { next_due })
    }

    /// Runs `duty` for its time `scheduled_for` if no instance has: the claim and the run's
    /// writes are one transaction. Tests call it to run a duty on demand.
    pub async fn run(&self, duty: Duty, scheduled_for: Timestamp, now: Timestamp) -> Result<RunOutcome, TrackerError> {
        let claim = NewDutyRun {
            duty: duty.as_str().to_string(),
            scheduled_for: scheduled_for.millis(),
            claimed_by: self.0.instance.clone(),
            now: now.millis(),
        };
        match duty {
            Duty::Reachability => match &self.config().reachability {
                Some(cfg) => reachability::start(self, cfg, &claim, now).await,
                None => Ok(RunOutcome::AlreadyRun),
            },
            Duty::Inspection => inspection::remind(self, &claim, now).await,
            Duty::DailySummary => match &self.config().daily_summary {
                Some(cfg) => summary::send(self, cfg, &claim, now).await,
                None => Ok(RunOutcome::AlreadyRun),
            },
        }
    }

    /// Reminders and end-of-window reports due at `now`; how many were done.
    async fn follow_ups(&self, now: Timestamp) -> Result<usize, TrackerError> {
        let mut done = 0;
        for run in self.tracker().store.duty_followups_due(now.millis()).await? {
            if run.remind_at.is_some_and(|t| t <= now.millis()) && run.reminded_at.is_none() {
                done += reachability::remind(self, &run, now).await? as usize;
            }
            if run.window_ends_at.is_some_and(|t| t <= now.millis()) && run.finished_at.is_none() {
                done += reachability::finish(self, &run, now).await? as usize;
            }
        }
        Ok(done)
    }

    fn handled(&self, duty: Duty) -> Option<Timestamp> {
        self.0.handled.lock().unwrap_or_else(|e| e.into_inner()).get(&duty).copied()
    }

    fn set_handled(&self, duty: Duty, t: Timestamp) {
        self.0.handled.lock().unwrap_or_else(|e| e.into_inner()).insert(duty, t);
    }

    /// The language of messages (`[messages] language`).
    fn language(&self) -> Language {
        self.tracker().composer().templates().language()
    }

    fn signature(&self) -> &str {
        self.tracker().composer().signature()
    }

    /// The channels of the red policy: where a duty sends when its own channels are not set.
    pub fn default_channels(&self) -> Vec<String> {
        self.tracker().config.policies.for_tier(jiaoying_core::Tier::Red).channels.clone()
    }

    /// One message per channel that can reach `person`, for a duty's own words (a reminder, a
    /// report, a summary): not about a call, lowest priority so no warning waits behind it.
    fn person_messages(
        &self,
        person: &Person,
        channels: &[String],
        text: &DutyText<'_>,
        now: Timestamp,
    ) -> Vec<NewMessage> {
        let composer = self.tracker().composer();
        channels
            .iter()
            .filter_map(|ch| {
                let to = composer.address(ch, person)?;
                let body = if composer.is_email(ch) { text.email } else { text.sms };
                Some(NewMessage {
                    alert_id: None,
                    call_id: None,
                    channel: ch.clone(),
                    recipient: to,
                    purpose: Purpose::Notice,
                    subject: text.subject.to_string(),
                    body: body.to_string(),
                    code: None,
                    link: text.link.map(str::to_string),
                    now: now.millis(),
                    priority: message_priority(None, MessageKind::Notice),
                })
            })
            .collect()
    }
}

/// A duty's own message in its three forms.
struct DutyText<'a> {
    subject: &'a str,
    sms: &'a str,
    email: &'a str,
    link: Option<&'a str>,
}

/// A person as the board names them; an id the registry no longer has keeps its id as name.
pub(crate) fn person_ref(registry: &Registry, id: &str) -> PersonRef {
    let person = jiaoying_core::PersonId::parse(id).ok().and_then(|pid| registry.person(&pid).cloned());
    PersonRef {
        id: id.to_string(),
        name: person.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| id.to_string()),
        mobile_masked: person.map(|p| p.mobile.masked()).unwrap_or_default(),
    }
}

/// The registry's name of an area code, or the code.
pub(crate) fn area_name(registry: &Registry, code: &str) -> String {
    registry.areas.iter().find(|a| a.code.as_str() == code).map(|a| a.name.clone()).unwrap_or_else(|| code.to_string())
}

/// Start of the China-time day of `t`'s month, and the same day six months before `t`'s day.
pub(crate) fn month_and_half_year_start(t: Timestamp) -> (Timestamp, Timestamp) {
    use chrono::{Datelike, Months};
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let day = t.to_datetime().with_timezone(&cst).date_naive();
    let midnight = |d: chrono::NaiveDate| {
        Timestamp(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis() - 8 * 3_600_000)
    };
    let month_start = day.with_day(1).expect("the first exists");
    let half_year = day.checked_sub_months(Months::new(6)).unwrap_or(day);
    (midnight(month_start), midnight(half_year))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    #[test]
    fn month_and_half_year_start_in_china_time() {
        // 2026-07-01 03:00 China time is still June 30 in UTC: the month is July.
        assert_eq!(
            month_and_half_year_start(at("2026-07-01T03:00:00+08:00")),
            (at("2026-07-01T00:00:00+08:00"), at("2026-01-01T00:00:00+08:00"))
        );
        // August 31 minus six months is the last day of February.
        assert_eq!(
            month_and_half_year_start(at("2026-08-31T12:00:00+08:00")),
            (at("2026-08-01T00:00:00+08:00"), at("2026-02-28T00:00:00+08:00"))
        );
    }

    #[test]
    fn duties_name_themselves() {
        for d in Duty::ALL {
            assert_eq!(Duty::parse(d.as_str()), Some(d));
        }
        assert_eq!(Duty::parse("laundry"), None);
    }
}
