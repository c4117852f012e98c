//! 通联测试: a test message to every person that needs an answer, the report of who answered
//! and how fast (per area, unit and role), one optional reminder, and at the window's end the
//! list of the unreached for the duty officers.
//!
//! The test is an alert of status `Test` from [`REACHABILITY_SOURCE`] with one call per person,
//! so a reply code, a bare `1` or the answer link answer it as they answer any call, and the
//! board shows its progress live. Its calls wait for the whole window (their deadline and the
//! alert's expiry are the window's end): nothing repeats them but the duty's own reminder, and
//! nothing escalates them (see the timer step's guard for duty alerts).

use std::collections::{HashMap, HashSet};

use jiaoying_core::message::{CallReason, Language};
use jiaoying_core::{CallState, Person, PersonId, Registry, Role, Tier, TierPolicy, Timestamp};
use jiaoying_store::{CallListRow, DutyRunRow, DutyRunSetup, NewAlertRow, NewDutyRun, StoreError};
use serde::Serialize;

use super::{
    area_name, person_ref, Duties, DutyText, ReachabilityConfig, RunOutcome, REACHABILITY_EVENT, REACHABILITY_SOURCE,
};
use crate::answer_stats::{call_roles, GroupTallies, Outcome, Tally};
use crate::board::{role_zh, unit_kind_zh, At, Dur, PersonRef};
use crate::calls::{change_call, open_calls, CallSpec, Deferred};
use crate::context::TrackerError;

/// Most names of unreached persons a report message lists (the rest are counted).
const NAMES_IN_MESSAGE: usize = 10;

/// Starts a test for the scheduled time of `claim`, unless another instance has.
pub(super) async fn start(
    d: &Duties,
    cfg: &ReachabilityConfig,
    claim: &NewDutyRun,
    now: Timestamp,
) -> Result<RunOutcome, TrackerError> {
    let tracker = d.tracker();
    // Read before the transaction: on SQLite it holds the only writer.
    let registry = tracker.store.load_registry().await?;
    let tested: Vec<&Person> = registry
        .persons
        .iter()
        .filter(|p| cfg.roles.is_empty() || p.roles.iter().any(|r| cfg.roles.contains(r)))
        .collect();
    let window_ends = now.plus(cfg.answer_within);
    let mut tx = tracker.store.begin().await?;
    let Some(run_id) = tx.claim_duty_run(claim).await? else {
        return Ok(RunOutcome::AlreadyRun);
    };
    let (headline, description) = match d.language() {
        Language::Zh => (
            format!("{}通联测试，请确认能收到预警信息", Timestamp(claim.scheduled_for).to_cst_display()),
            "这是定期通联测试，不是预警。请回复短信中的代码或点击链接确认收到。".to_string(),
        ),
        Language::En => (
            format!(
                "Reachability test of {}: please confirm you receive warnings",
                Timestamp(claim.scheduled_for).to_cst_display()
            ),
            "This is a scheduled reachability test, not a warning. Reply with the code or open the link to confirm."
                .to_string(),
        ),
    };
    let alert_id = tx
        .insert_alert(&NewAlertRow {
            source: REACHABILITY_SOURCE.to_string(),
            status: "Test".into(),
            msg_type: "Alert".into(),
            event: REACHABILITY_EVENT.into(),
            // The lowest tier: the test's messages never overtake a warning's in the outbox.
            tier: Tier::Blue,
            headline,
            description,
            instruction: String::new(),
            onset: None,
            expires: Some(window_ends.millis()),
            areas: "[]".into(),
            state: "active".into(),
            content_sent: now.millis(),
            now: now.millis(),
        })
        .await?;
    let alert = tx.alert(alert_id).await?.ok_or(StoreError::NotFound)?;
    // The test's own policy: its channels, one attempt that waits the whole window.
    let policy = TierPolicy {
        roles: Vec::new(),
        channels: cfg.channels.clone(),
        answer_within: cfg.answer_within,
        repeats: 0,
        escalate: false,
        repeat_channels: None,
        escalation_channels: None,
        max_levels: None,
        repeat_intervals: Vec::new(),
        level_delays: Vec::new(),
    };
    let specs = tested
        .iter()
        .map(|p| CallSpec {
            person: p,
            roles: p.roles.iter().map(Role::as_str).collect::<Vec<_>>().join(";"),
            unit_id: None,
            area: p.area.as_str().to_string(),
            level: 0,
            escalated_from: None,
            reason: CallReason::First,
            actor: "system",
            directive: None,
        })
        .collect();
    let mut deferred = Deferred::default();
    let rows = open_calls(tx.as_mut(), tracker.composer(), &alert, &policy, specs, now, &mut deferred).await?;
    deferred.flush(tx.as_mut()).await?;
    // A person no channel reaches is unreached at once; the call ends so that no timer step
    // takes it anywhere (a warning's call would escalate; a test's must not).
    let mut no_contact = 0;
    for row in rows.iter().filter(|r| r.unreached) {
        let mut after = row.clone();
        after.state = CallState::Expired;
        after.next_action_at = None;
        after.updated_at = now.millis();
        change_call(tx.as_mut(), row, &after, "system", Some("reachability"), Some("通联测试：无可用联系方式".into()))
            .await?;
        no_contact += 1;
    }
    let remind_at = cfg.remind_after.map(|r| now.plus(r)).filter(|t| *t < window_ends);
    let summary = serde_json::json!({"persons": rows.len(), "no_contact": no_contact}).to_string();
    tx.set_duty_run(
        run_id,
        &DutyRunSetup {
            alert_id: Some(alert_id),
            window_ends_at: Some(window_ends.millis()),
            remind_at: remind_at.map(Timestamp::millis),
            summary: Some(summary),
        },
    )
    .await?;
    tx.commit().await?;
    tracker.wake_all();
    Ok(RunOutcome::Ran { run_id })
}

/// The one reminder to those who have not answered; false when another instance sent it.
pub(super) async fn remind(d: &Duties, run: &DutyRunRow, now: Timestamp) -> Result<bool, TrackerError> {
    let tracker = d.tracker();
    let Some(alert_id) = run.alert_id else { return Ok(false) };
    let channels = d.config().reachability.as_ref().map(|c| c.channels.clone()).unwrap_or_else(|| d.default_channels());
    let registry = tracker.store.load_registry().await?;
    let mut tx = tracker.store.begin().await?;
    if !tx.mark_duty_run_reminded(run.id, now.millis()).await? {
        return Ok(false);
    }
    let alert = tx.alert(alert_id).await?.ok_or(StoreError::NotFound)?;
    let mut reminded = 0;
    if alert.state == "active" {
        for call in tx.calls_of_alert(alert_id).await? {
            if !call.state.is_waiting() {
                continue;
            }
            let Some(person) = PersonId::parse(&call.person_id).ok().and_then(|id| registry.person(&id)) else {
                continue;
            };
            let mut after = call.clone();
            after.attempts += 1;
            after.updated_at = now.millis();
            let note = Some(format!("通联测试提醒 (reminder, attempt {})", after.attempts));
            if !change_call(tx.as_mut(), &call, &after, "system", Some("reminder"), note).await? {
                continue;
            }
            let reason = CallReason::Repeat { attempt: after.attempts as u32 };
            for m in tracker.composer().call_messages(&alert, &after, person, reason, &channels, now) {
                tx.insert_message(&m).await?;
            }
            reminded += 1;
        }
    }
    tx.commit().await?;
    tracing::info!(run_id = run.id, reminded, "reachability test: reminder sent");
    tracker.wake_all();
    Ok(true)
}

/// The window has ended: the report goes to the duty officers (those the roster has on duty
/// now, and every person with the `duty_officer` role). False when another instance did it.
pub(super) async fn finish(d: &Duties, run: &DutyRunRow, now: Timestamp) -> Result<bool, TrackerError> {
    let tracker = d.tracker();
    let registry = tracker.store.load_registry().await?;
    let calls = match run.alert_id {
        Some(id) => tracker.store.calls_of_alert(id).await?,
        None => Vec::new(),
    };
    let report = build_report(run, &calls, &registry, now);
    let (subject, text) = report_text(&report, d.signature(), d.language());
    let channels = d.config().reachability.as_ref().map(|c| c.channels.clone()).unwrap_or_else(|| d.default_channels());
    let mut officers: Vec<&Person> = Vec::new();
    let mut seen = HashSet::new();
    for r in registry.rosters.iter().filter(|r| r.on_duty_at(now)) {
        if let Some(p) = registry.person(&r.person) {
            if seen.insert(&p.id) {
                officers.push(p);
            }
        }
    }
    for p in registry.persons.iter().filter(|p| p.has_role(Role::DUTY_OFFICER)) {
        if seen.insert(&p.id) {
            officers.push(p);
        }
    }
    let summary = serde_json::json!({
        "persons": report.total, "answered": report.answered, "unreached": report.unreached,
        "reported_to": officers.len(),
    })
    .to_string();
    let mut tx = tracker.store.begin().await?;
    if !tx.mark_duty_run_finished(run.id, now.millis(), Some(&summary)).await? {
        return Ok(false);
    }
    let words = DutyText { subject: &subject, sms: &text, email: &text, link: None };
    for p in officers {
        for m in d.person_messages(p, &channels, &words, now) {
            tx.insert_message(&m).await?;
        }
    }
    tx.commit().await?;
    tracker.outbox_wake.notify_one();
    Ok(true)
}

impl Duties {
    /// The report of a reachability test: run `run`, or the latest when `None`. `None` when there
    /// is no such run.
    pub async fn reachability_report(
        &self,
        run: Option<i64>,
        now: Timestamp,
    ) -> Result<Option<ReachabilityReport>, TrackerError> {
        let store = &self.tracker().store;
        let run = match run {
            Some(id) => store.duty_run(id).await?.filter(|r| r.duty == super::Duty::Reachability.as_str()),
            None => store.duty_runs(Some(super::Duty::Reachability.as_str()), 1).await?.into_iter().next(),
        };
        let Some(run) = run else { return Ok(None) };
        let calls = match run.alert_id {
            Some(id) => store.calls_of_alert(id).await?,
            None => Vec::new(),
        };
        let registry = store.load_registry().await?;
        Ok(Some(build_report(&run, &calls, &registry, now)))
    }

    /// Runs of `duty` (of all when `None`), newest scheduled time first.
    pub async fn runs(&self, duty: Option<super::Duty>, limit: i64) -> Result<Vec<RunView>, TrackerError> {
        let rows = self.tracker().store.duty_runs(duty.map(super::Duty::as_str), limit).await?;
        Ok(rows.iter().map(RunView::new).collect())
    }
}

/// A run as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: i64,
    pub duty: String,
    pub scheduled_for: At,
    pub started_at: At,
    /// The instance that ran it.
    pub claimed_by: String,
    pub alert_id: Option<i64>,
    pub window_ends_at: Option<At>,
    pub reminded_at: Option<At>,
    pub finished_at: Option<At>,
    /// What the run did, as recorded (JSON).
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

impl RunView {
    pub fn new(run: &DutyRunRow) -> Self {
        RunView {
            id: run.id,
            duty: run.duty.clone(),
            scheduled_for: At::new(run.scheduled_for),
            started_at: At::new(run.started_at),
            claimed_by: run.claimed_by.clone(),
            alert_id: run.alert_id,
            window_ends_at: At::opt(run.window_ends_at),
            reminded_at: At::opt(run.reminded_at),
            finished_at: At::opt(run.finished_at),
            summary: run.summary.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default(),
        }
    }
}

/// The report of one reachability test.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReachabilityReport {
    pub run: RunView,
    /// The window is still open: the not yet answered are `waiting`, not `unreached`.
    pub open: bool,
    pub total: usize,
    pub answered: usize,
    pub waiting: usize,
    pub unreached: usize,
    /// Answered share, 0..1; `None` when nobody was tested.
    pub answer_rate: Option<f64>,
    pub median_answer: Option<Dur>,
    pub slowest_answer: Option<Dur>,
    pub by_area: Vec<GroupStats>,
    pub by_unit: Vec<UnitResult>,
    pub by_role: Vec<GroupStats>,
    /// Everyone tested, by area then name.
    pub persons: Vec<PersonResult>,
    /// The unreached, for the duty officers to follow up.
    pub unreached_persons: Vec<PersonResult>,
}

/// Answers of one group (an area or a role).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupStats {
    /// The area code or the role.
    pub key: String,
    /// The area's name or the role's Chinese name.
    pub name: String,
    pub total: usize,
    pub answered: usize,
    pub waiting: usize,
    pub unreached: usize,
    pub answer_rate: Option<f64>,
    pub average_answer: Option<Dur>,
    pub slowest_answer: Option<Dur>,
}

/// One tested person's result.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PersonResult {
    pub person: PersonRef,
    pub call_id: i64,
    pub roles: Vec<String>,
    pub area: String,
    pub area_name: String,
    /// `answered`, `waiting` (window open) or `unreached`.
    pub status: &'static str,
    pub answered_at: Option<At>,
    /// `sms`, `link`, `voice`, `officer`.
    pub answered_via: Option<String>,
    /// How fast: from the test's message to the answer.
    pub answer_after: Option<Dur>,
    /// No channel of the test reaches this person (no address).
    pub no_contact: bool,
    /// Units the person is a responsible person of.
    pub units: Vec<String>,
}

/// A unit and the results of its three responsible persons.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UnitResult {
    pub unit_id: String,
    pub name: String,
    pub kind: String,
    pub kind_zh: &'static str,
    pub area: String,
    pub area_name: String,
    pub responsible: Vec<UnitPersonResult>,
    /// All of its tested responsible persons answered.
    pub all_answered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UnitPersonResult {
    /// `administrative`, `regulatory`, `unit`.
    pub role: &'static str,
    pub role_zh: String,
    pub person: PersonRef,
    /// As [`PersonResult::status`], or `not_tested` (the test's roles left them out).
    pub status: &'static str,
    pub answer_after: Option<Dur>,
}

impl GroupStats {
    fn new(key: String, name: String, t: Tally) -> GroupStats {
        GroupStats {
            answer_rate: t.answer_rate(),
            average_answer: t.average_answer(),
            slowest_answer: t.slowest_answer(),
            key,
            name,
            total: t.called,
            answered: t.answered,
            waiting: t.waiting,
            unreached: t.unreached,
        }
    }
}

/// The report from the run, its calls and the registry (pure: tests build it from rows).
pub fn build_report(
    run: &DutyRunRow,
    calls: &[CallListRow],
    registry: &Registry,
    now: Timestamp,
) -> ReachabilityReport {
    let open = run.window_ends_at.is_some_and(|t| now.millis() < t) && run.finished_at.is_none();
    // Units each person is responsible for.
    let mut units_of: HashMap<&str, Vec<String>> = HashMap::new();
    for u in &registry.units {
        for (_, pid) in u.responsible() {
            let list = units_of.entry(pid.as_str()).or_default();
            if !list.contains(&u.id.as_str().to_string()) {
                list.push(u.id.as_str().to_string());
            }
        }
    }
    // Units are shown by their responsible persons below, not tallied by the calls' unit.
    let mut tallies = GroupTallies::default();
    let mut persons: Vec<PersonResult> = calls
        .iter()
        // A test's calls are all direct; an escalated one (none are made) would not be a person tested.
        .filter(|c| c.call.level == 0)
        .map(|c| {
            let o = Outcome::of(&c.call, open);
            tallies.add(&c.call, o);
            let answered = matches!(o, Outcome::Answered(_));
            PersonResult {
                person: person_ref(registry, &c.call.person_id),
                call_id: c.call.id,
                roles: call_roles(&c.call),
                area: c.call.area.clone(),
                area_name: area_name(registry, &c.call.area),
                status: o.status(),
                answered_at: if answered { At::opt(c.call.answered_at) } else { None },
                answered_via: if answered { c.call.answered_via.clone() } else { None },
                answer_after: match o {
                    Outcome::Answered(after) => after.map(Dur::new),
                    _ => None,
                },
                // Flagged when opened: its deadline was set to its creation (nobody to wait for).
                no_contact: c.call.unreached && !answered && c.call.deadline == c.call.created_at,
                units: units_of.get(c.call.person_id.as_str()).cloned().unwrap_or_default(),
            }
        })
        .collect();
    persons.sort_by(|a, b| {
        a.area.cmp(&b.area).then(a.person.name.cmp(&b.person.name)).then(a.person.id.cmp(&b.person.id))
    });

    let by_area = tallies
        .by_area
        .into_iter()
        .map(|(code, t)| GroupStats::new(code.clone(), area_name(registry, &code), t))
        .collect();
    let by_role =
        tallies.by_role.into_iter().map(|(role, t)| GroupStats::new(role.clone(), role_zh(&role), t)).collect();

    let by_person: HashMap<&str, &PersonResult> = persons.iter().map(|p| (p.person.id.as_str(), p)).collect();
    let mut by_unit: Vec<UnitResult> = registry
        .units
        .iter()
        .filter_map(|u| {
            let responsible: Vec<UnitPersonResult> = u
                .responsible()
                .into_iter()
                .map(|(role, pid)| {
                    let result = by_person.get(pid.as_str());
                    UnitPersonResult {
                        role,
                        role_zh: role_zh(role),
                        person: person_ref(registry, pid.as_str()),
                        status: result.map_or("not_tested", |r| r.status),
                        answer_after: result.and_then(|r| r.answer_after.clone()),
                    }
                })
                .collect();
            let tested: Vec<&UnitPersonResult> = responsible.iter().filter(|r| r.status != "not_tested").collect();
            if tested.is_empty() {
                return None;
            }
            Some(UnitResult {
                unit_id: u.id.as_str().to_string(),
                name: u.name.clone(),
                kind: u.kind.as_str().to_string(),
                kind_zh: unit_kind_zh(u.kind.as_str()),
                area: u.area.as_str().to_string(),
                area_name: area_name(registry, u.area.as_str()),
                all_answered: tested.iter().all(|r| r.status == "answered"),
                responsible,
            })
        })
        .collect();
    by_unit.sort_by(|a, b| a.area.cmp(&b.area).then(a.unit_id.cmp(&b.unit_id)));

    let mut all = tallies.all;
    let unreached_persons: Vec<PersonResult> = persons.iter().filter(|p| p.status == "unreached").cloned().collect();
    ReachabilityReport {
        run: RunView::new(run),
        open,
        total: all.called,
        answered: all.answered,
        waiting: all.waiting,
        unreached: all.unreached,
        answer_rate: all.answer_rate(),
        median_answer: all.median_answer(),
        slowest_answer: all.slowest_answer(),
        by_area,
        by_unit,
        by_role,
        persons,
        unreached_persons,
    }
}

/// The message to the duty officers at the end of the window: subject and text.
fn report_text(r: &ReachabilityReport, signature: &str, lang: Language) -> (String, String) {
    let when = &r.run.scheduled_for.local;
    let pct = r.answer_rate.map(|x| (x * 100.0).round() as i64).unwrap_or(0);
    let names: Vec<String> = r
        .unreached_persons
        .iter()
        .take(NAMES_IN_MESSAGE)
        .map(|p| {
            let role = p.roles.first().map(String::as_str).unwrap_or("");
            match lang {
                Language::Zh => {
                    format!("{}（{}，{}）", p.person.name, jiaoying_core::message::role_zh(role), p.area_name)
                }
                Language::En => {
                    format!("{} ({}, {})", p.person.name, jiaoying_core::message::role_en(role), p.area_name)
                }
            }
        })
        .collect();
    let more = r.unreached_persons.len().saturating_sub(NAMES_IN_MESSAGE);
    match lang {
        Language::Zh => {
            let mut text = format!("【{signature}】通联测试（{when}）结束：应答{}/{}人（{pct}%）", r.answered, r.total);
            if names.is_empty() {
                text.push_str("，全部叫应。");
            } else {
                text.push_str(&format!("，未应答{}人：{}", r.unreached, names.join("、")));
                if more > 0 {
                    text.push_str(&format!("等{}人", r.unreached_persons.len()));
                }
                text.push_str("。请逐一电话核实，详见值班台。");
            }
            (format!("通联测试结果（{when}）"), text)
        }
        Language::En => {
            let mut text = format!(
                "【{signature}】Reachability test of {when} ended: {}/{} answered ({pct}%)",
                r.answered, r.total
            );
            if names.is_empty() {
                text.push_str(", everyone reached.");
            } else {
                text.push_str(&format!("; {} unreached: {}", r.unreached, names.join(", ")));
                if more > 0 {
                    text.push_str(&format!(" and {more} more"));
                }
                text.push_str(". Please call them; details on the board.");
            }
            (format!("Reachability test results ({when})"), text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer_stats::call_row;
    use jiaoying_core::registry::{Area, Unit, UnitKind};
    use jiaoying_core::{AreaCode, MobileNumber, UnitId};
    use jiaoying_store::CallRow;

    fn registry() -> Registry {
        let code = |s: &str| AreaCode::parse(s).unwrap();
        let person = |id: &str, role: &str, area: &str| Person {
            id: PersonId::parse(id).unwrap(),
            name: id.to_uppercase(),
            mobile: MobileNumber::parse("13900000001").unwrap(),
            email: None,
            roles: vec![Role::parse(role).unwrap()],
            area: code(area),
            superior: None,
        };
        Registry {
            areas: vec![
                Area { code: code("500105002"), name: "街道".into(), parent: None, polygon: None },
                Area {
                    code: code("500105002001"),
                    name: "社区".into(),
                    parent: Some(code("500105002")),
                    polygon: None,
                },
            ],
            persons: vec![
                person("adm", "administrative", "500105002"),
                person("reg", "regulatory", "500105002"),
                person("unit", "unit", "500105002001"),
                person("grid", "grid", "500105002001"),
            ],
            units: vec![Unit {
                id: UnitId::parse("u-1").unwrap(),
                name: "学校".into(),
                kind: UnitKind::School,
                area: code("500105002001"),
                location: None,
                administrative: PersonId::parse("adm").unwrap(),
                regulatory: PersonId::parse("reg").unwrap(),
                unit: PersonId::parse("unit").unwrap(),
            }],
            rosters: vec![],
        }
    }

    fn call(
        id: i64,
        person: &str,
        role: &str,
        area: &str,
        state: CallState,
        answered_after_ms: Option<i64>,
    ) -> CallListRow {
        let call = CallRow { deadline: 10_000_000, ..call_row(id, person, role, area, state, answered_after_ms) };
        CallListRow { call, name: None }
    }

    fn run(window_ends_at: i64) -> DutyRunRow {
        DutyRunRow {
            id: 7,
            duty: "reachability".into(),
            scheduled_for: 1_000,
            claimed_by: "a".into(),
            started_at: 1_000,
            alert_id: Some(1),
            window_ends_at: Some(window_ends_at),
            remind_at: None,
            reminded_at: None,
            finished_at: None,
            summary: None,
        }
    }

    fn calls() -> Vec<CallListRow> {
        vec![
            call(1, "adm", "administrative", "500105002", CallState::Answered, Some(60_000)),
            call(2, "reg", "regulatory", "500105002", CallState::Delivered, None),
            call(3, "unit", "unit", "500105002001", CallState::Answered, Some(180_000)),
            call(4, "grid", "grid", "500105002001", CallState::Sent, None),
        ]
    }

    #[test]
    fn an_open_test_counts_the_unanswered_as_waiting() {
        let r = build_report(&run(10_000_000), &calls(), &registry(), Timestamp(5_000));
        assert!(r.open);
        assert_eq!((r.total, r.answered, r.waiting, r.unreached), (4, 2, 2, 0));
        assert_eq!(r.answer_rate, Some(0.5));
        assert_eq!(r.slowest_answer.map(|d| d.ms), Some(180_000));
    }

    #[test]
    fn after_the_window_the_unanswered_are_unreached_per_area_unit_and_role() {
        let r = build_report(&run(10_000_000), &calls(), &registry(), Timestamp(10_000_000));
        assert!(!r.open);
        assert_eq!((r.answered, r.waiting, r.unreached), (2, 0, 2));
        let ids: Vec<&str> = r.unreached_persons.iter().map(|p| p.person.id.as_str()).collect();
        assert_eq!(ids, ["reg", "grid"]);
        let street = r.by_area.iter().find(|a| a.key == "500105002").unwrap();
        assert_eq!((street.name.as_str(), street.total, street.answered, street.unreached), ("街道", 2, 1, 1));
        assert_eq!(street.average_answer.as_ref().map(|d| d.ms), Some(60_000));
        let grid = r.by_role.iter().find(|g| g.key == "grid").unwrap();
        assert_eq!((grid.total, grid.unreached), (1, 1));
        let school = &r.by_unit[0];
        assert_eq!(school.unit_id, "u-1");
        let statuses: Vec<(&str, &str)> = school.responsible.iter().map(|p| (p.role, p.status)).collect();
        assert_eq!(statuses, [("administrative", "answered"), ("regulatory", "unreached"), ("unit", "answered")]);
        assert!(!school.all_answered);
        let (_, text) = report_text(&r, "街道", Language::Zh);
        assert!(
            text.contains("应答2/4人（50%）")
                && text.contains("未应答2人：REG（行业监管负责人，街道）、GRID（网格员，社区）"),
            "{text}"
        );
    }
}
