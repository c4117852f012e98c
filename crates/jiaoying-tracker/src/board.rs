//! The duty officers' board as data: view models built from the store, the registry, the tier
//! policies and the clock. The HTML pages and the JSON API both render these, so a page never
//! knows something the API does not. Every builder reads; none writes.
//!
//! Times are [`At`] (Unix ms, RFC 3339 UTC, and China wall time for display); durations are
//! [`Dur`] (ms and a short text in Chinese and English). States and roles are given as their
//! codes (`answered`, `grid`) with a Chinese label beside them; English pages show the code's
//! English words.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiaoying_core::alert::AlertArea;
use jiaoying_core::directive::parse_stored;
use jiaoying_core::planner::{decide, next_up, CallTimer, Decision, Escalating};
use jiaoying_core::{AreaCode, CallState, PersonId, Registry, Tier, Timestamp};
use jiaoying_dispatch::outbox::ChannelBacklog;
use jiaoying_store::{AlertFilter, AlertRow, AuditFilter, AuditRow, CallListRow, StateCount};
use serde::{Deserialize, Serialize};

use crate::context::{Tracker, TrackerError};

// ---------------------------------------------------------------------------------------------
// Small shared pieces
// ---------------------------------------------------------------------------------------------

/// A point in time, in the three forms a page or a script needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct At {
    /// Unix milliseconds.
    pub ms: i64,
    /// RFC 3339 in UTC, e.g. `2026-07-01T00:05:00.000Z`.
    pub iso: String,
    /// China wall time for display, e.g. `07-01 08:05`.
    pub local: String,
}

impl At {
    pub fn new(ms: i64) -> Self {
        let t = Timestamp(ms);
        At { ms, iso: t.to_rfc3339(), local: t.to_cst_display() }
    }

    pub fn opt(ms: Option<i64>) -> Option<Self> {
        ms.map(At::new)
    }
}

/// A length of time: milliseconds and a short text (`12分钟` / `12 min`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Dur {
    pub ms: i64,
    pub zh: String,
    pub en: String,
}

impl Dur {
    pub fn new(ms: i64) -> Self {
        let ms = ms.max(0);
        let secs = ms / 1000;
        let (zh, en) = if secs < 60 {
            (format!("{secs}秒"), format!("{secs} s"))
        } else if secs < 3600 {
            (format!("{}分钟", secs / 60), format!("{} min", secs / 60))
        } else {
            let (h, m) = (secs / 3600, (secs % 3600) / 60);
            if m == 0 {
                (format!("{h}小时"), format!("{h} h"))
            } else {
                (format!("{h}小时{m}分"), format!("{h} h {m} min"))
            }
        };
        Dur { ms, zh, en }
    }
}

/// A person as the board names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PersonRef {
    pub id: String,
    pub name: String,
    /// The mobile with its middle digits hidden (`+86139****0004`).
    pub mobile_masked: String,
}

/// One of the areas an alert names, as received: a registry code (with its name when known), a
/// polygon or a circle.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AreaRef {
    /// `code`, `polygon` or `circle`.
    pub kind: &'static str,
    pub code: Option<String>,
    /// The registry's name for a code; for a shape, a short description.
    pub name: String,
}

/// Calls of an alert per state, and the total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StateCounts {
    pub pending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub answered: i64,
    pub done: i64,
    pub escalated: i64,
    pub expired: i64,
    pub cancelled: i64,
    pub failed: i64,
    pub total: i64,
}

impl StateCounts {
    pub fn add(&mut self, state: CallState, n: i64) {
        let slot = match state {
            CallState::Pending => &mut self.pending,
            CallState::Sent => &mut self.sent,
            CallState::Delivered => &mut self.delivered,
            CallState::Answered => &mut self.answered,
            CallState::Done => &mut self.done,
            CallState::Escalated => &mut self.escalated,
            CallState::Expired => &mut self.expired,
            CallState::Cancelled => &mut self.cancelled,
            CallState::Failed => &mut self.failed,
        };
        *slot += n;
        self.total += n;
    }

    pub fn get(&self, state: CallState) -> i64 {
        match state {
            CallState::Pending => self.pending,
            CallState::Sent => self.sent,
            CallState::Delivered => self.delivered,
            CallState::Answered => self.answered,
            CallState::Done => self.done,
            CallState::Escalated => self.escalated,
            CallState::Expired => self.expired,
            CallState::Cancelled => self.cancelled,
            CallState::Failed => self.failed,
        }
    }

    /// Answered, with or without a directive done.
    pub fn answered_any(&self) -> i64 {
        self.answered + self.done
    }

    /// The segments of a stacked bar, best first, empty states left out.
    pub fn bar(&self) -> Vec<BarSegment> {
        self.bar_with_overdue(&StateCounts::default())
    }

    /// [`Self::bar`] with the overdue calls as a segment of their own (state `overdue`, right
    /// after the answered ones), taken out of the states they are in (`overdue` counts them by
    /// state), so the bar's red share is the overdue figure shown beside it.
    pub fn bar_with_overdue(&self, overdue: &StateCounts) -> Vec<BarSegment> {
        let pct = |n: i64| if self.total > 0 { n as f64 * 100.0 / self.total as f64 } else { 0.0 };
        let late = |s: CallState| overdue.get(s).clamp(0, self.get(s));
        let late_total: i64 = BAR_ORDER.iter().map(|&s| late(s)).sum();
        let mut out = Vec::new();
        for &s in &BAR_ORDER {
            if s == CallState::Delivered && late_total > 0 {
                out.push(BarSegment { state: "overdue", zh: "超时未应答", n: late_total, pct: pct(late_total) });
            }
            let n = self.get(s) - late(s);
            if n > 0 {
                out.push(BarSegment { state: s.as_str(), zh: s.zh(), n, pct: pct(n) });
            }
        }
        out
    }
}

/// An alert's overdue calls by state when only their number is known (the Now page): escalation
/// comes after the answer window, so an escalated call has nearly always waited past it and is
/// counted first; the rest are waiting calls.
fn overdue_spread(counts: &StateCounts, overdue: i64) -> StateCounts {
    let mut left = overdue;
    let mut out = StateCounts::default();
    for s in [CallState::Escalated, CallState::Sent, CallState::Delivered, CallState::Pending] {
        let n = left.min(counts.get(s));
        if n > 0 {
            out.add(s, n);
            left -= n;
        }
    }
    out
}

/// The order of states along a bar: done and answered first, ended-unanswered last.
const BAR_ORDER: [CallState; 9] = [
    CallState::Done,
    CallState::Answered,
    CallState::Delivered,
    CallState::Sent,
    CallState::Pending,
    CallState::Escalated,
    CallState::Expired,
    CallState::Failed,
    CallState::Cancelled,
];

/// One segment of a state bar.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BarSegment {
    pub state: &'static str,
    pub zh: &'static str,
    pub n: i64,
    /// Share of the alert's calls, 0–100.
    pub pct: f64,
}

/// Chinese label of a role code (the code itself for local roles).
pub fn role_zh(role: &str) -> String {
    match role {
        "administrative" => "行政负责人",
        "regulatory" => "行业监管部门负责人",
        "unit" => "单位责任人",
        "grid" => "网格员",
        "community" => "社区负责人",
        "duty_officer" => "值班员",
        "leader" => "领导",
        "superior" => "上级",
        other => other,
    }
    .to_string()
}

/// Chinese label of a unit kind code.
pub fn unit_kind_zh(kind: &str) -> &'static str {
    match kind {
        "school" => "学校",
        "hospital" => "医院",
        "elderly_care" => "养老机构",
        "construction" => "建筑工地",
        "hazchem" => "危化品场所",
        "complex" => "大型综合体",
        "transport_hub" => "交通枢纽",
        "tunnel_bridge" => "隧道桥梁",
        "geohazard_site" => "地质灾害点",
        _ => "其他",
    }
}

/// Roles in the order the matrix shows them; others follow, by name.
const ROLE_ORDER: [&str; 8] =
    ["administrative", "regulatory", "unit", "grid", "community", "duty_officer", "leader", "superior"];

fn role_rank(role: &str) -> usize {
    ROLE_ORDER.iter().position(|r| *r == role).unwrap_or(ROLE_ORDER.len())
}

fn alert_areas(raw: &str, registry: &Registry) -> Vec<AreaRef> {
    let areas: Vec<AlertArea> = serde_json::from_str(raw).unwrap_or_default();
    areas
        .iter()
        .map(|a| match a {
            AlertArea::Code(c) => AreaRef {
                kind: "code",
                code: Some(c.as_str().to_string()),
                name: registry.areas.iter().find(|x| &x.code == c).map(|x| x.name.clone()).unwrap_or_default(),
            },
            AlertArea::Polygon(p) => {
                AreaRef { kind: "polygon", code: None, name: format!("多边形（{}点）", p.len()) }
            }
            AlertArea::Circle([lon, lat, r]) => {
                AreaRef { kind: "circle", code: None, name: format!("圆形 {lon:.4},{lat:.4} 半径{r}km") }
            }
        })
        .collect()
}

/// The registry indexed once per view: a view of thousands of calls looks persons and areas up
/// by id for each.
pub(crate) struct Lookup<'r> {
    registry: &'r Registry,
    persons: HashMap<&'r str, &'r jiaoying_core::Person>,
    areas: HashMap<&'r str, &'r jiaoying_core::Area>,
}

impl<'r> Lookup<'r> {
    fn new(registry: &'r Registry) -> Self {
        Lookup {
            registry,
            persons: registry.persons.iter().map(|p| (p.id.as_str(), p)).collect(),
            areas: registry.areas.iter().map(|a| (a.code.as_str(), a)).collect(),
        }
    }

    fn person(&self, id: &str) -> Option<&'r jiaoying_core::Person> {
        self.persons.get(id).copied()
    }
}

fn area_name(reg: &Lookup<'_>, code: &str) -> String {
    reg.areas.get(code).map(|a| a.name.clone()).unwrap_or_default()
}

fn person_ref(reg: &Lookup<'_>, id: &str, fallback_name: Option<&str>) -> PersonRef {
    let person = reg.person(id);
    PersonRef {
        id: id.to_string(),
        name: person
            .map(|p| p.name.clone())
            .or_else(|| fallback_name.map(str::to_string))
            .unwrap_or_else(|| id.to_string()),
        mobile_masked: person.map(|p| p.mobile.masked()).unwrap_or_default(),
    }
}

/// The name of the person an actor `person:<id>` stands for: the registry's, else the name the
/// record kept when it is about the same person (`own_id`, `own_name`); `None` for other actors.
fn actor_person_name(reg: &Lookup<'_>, actor: &str, own_id: Option<&str>, own_name: Option<&str>) -> Option<String> {
    let id = actor.strip_prefix("person:")?;
    let fallback = own_name.filter(|_| own_id == Some(id));
    Some(person_ref(reg, id, fallback).name)
}

// ---------------------------------------------------------------------------------------------
// Now: the active alerts and the health of the feeds and gateways
// ---------------------------------------------------------------------------------------------

/// What the web layer knows and the tracker does not: the feed poller's silent feeds and the
/// outbox's backlog per channel. Passed in to [`Tracker::board_now`].
#[derive(Debug, Clone, Default)]
pub struct BoardHealth {
    pub silent_feeds: Vec<FeedWarning>,
    pub backlogs: Vec<ChannelBacklog>,
    /// Times ahead with nobody on duty in a rostered area (issue 7; the web layer reads them
    /// through `Duties::roster_gaps`, which knows how far ahead to look).
    pub roster_gaps: Vec<crate::duties::RosterGapView>,
}

/// A polled feed that has produced nothing parsable for longer than its `silent_after`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeedWarning {
    pub source: String,
    pub silent_for: Dur,
    pub last_taken_at: Option<At>,
    pub failures: i64,
    pub last_error: Option<String>,
}

impl FeedWarning {
    pub fn new(
        source: &str,
        silent_for_ms: i64,
        last_taken_at: Option<i64>,
        failures: i64,
        last_error: Option<String>,
    ) -> Self {
        FeedWarning {
            source: source.to_string(),
            silent_for: Dur::new(silent_for_ms),
            last_taken_at: At::opt(last_taken_at),
            failures,
            last_error,
        }
    }
}

/// One channel's outbox queue and how long it will take to drain.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BacklogView {
    pub channel: String,
    pub queued: i64,
    pub sending: i64,
    /// How long the oldest queued message has waited.
    pub oldest_wait: Option<Dur>,
    /// Messages a second recently sent through the channel (while sending: the speed of the
    /// recent steps, which the drain estimate uses).
    pub recent_rate: f64,
    /// Messages this instance sent through the channel in the last minute: what the board shows.
    pub sent_last_minute: i64,
    pub rate_limit: Option<f64>,
    /// `None` when nothing waits, or when nothing was sent lately and no limit says how fast it
    /// could go.
    pub drain: Option<Dur>,
    pub breaker_open: bool,
    /// Something waits, or the breaker is open: worth a warning colour.
    pub warn: bool,
}

/// The `Now` page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NowView {
    pub generated_at: At,
    /// Active alerts, most severe first, newest first within a tier.
    pub alerts: Vec<AlertSummary>,
    pub silent_feeds: Vec<FeedWarning>,
    pub backlogs: Vec<BacklogView>,
    /// Who is on duty now, per area (the roster, else the `duty_officer` role) (issue 7).
    pub on_duty: Vec<crate::duties::OnDutyView>,
    /// A warning: times ahead when a rostered area has nobody on duty (issue 7).
    pub roster_gaps: Vec<crate::duties::RosterGapView>,
}

/// An alert as the `Now` page lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertSummary {
    pub id: i64,
    #[schema(value_type = String)]
    pub tier: Tier,
    pub tier_zh: &'static str,
    pub event: String,
    pub headline: String,
    pub source: String,
    /// `active`, `cancelled`, `expired`, `stored`.
    pub state: String,
    /// An exercise (演练).
    pub drill: bool,
    pub created_at: At,
    pub expires: Option<At>,
    pub areas: Vec<AreaRef>,
    /// Answered (with or without a directive done).
    pub answered: i64,
    pub total: i64,
    /// Open calls (waiting or escalated) whose person was first called longer ago than the
    /// tier's answer window: see [`CallView::overdue`].
    pub overdue: i64,
    pub unreached: i64,
    pub counts: StateCounts,
    pub bar: Vec<BarSegment>,
}

// ---------------------------------------------------------------------------------------------
// An alert: the matrix of calls
// ---------------------------------------------------------------------------------------------

/// The filters of the alert page (query parameters). Empty fields filter nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BoardFilter {
    /// A call state (`pending`, ..., `failed`), or `open` (waiting or escalated), `overdue`,
    /// `unreached`, `late`.
    #[serde(default)]
    pub state: Option<String>,
    /// A role the call was made in (`grid`, `unit`, `superior`, ...).
    #[serde(default)]
    pub role: Option<String>,
    /// An area code: calls in it and in the areas below it.
    #[serde(default)]
    pub area: Option<String>,
    /// A unit kind (`school`, ...); `none` for calls not about a unit.
    #[serde(default)]
    pub unit_kind: Option<String>,
    /// Part of a name, or digits of a mobile number.
    #[serde(default)]
    pub q: Option<String>,
}

/// Pseudo-states the state filter takes besides the call states.
pub const FILTER_STATES: [&str; 4] = ["open", "overdue", "unreached", "late"];

impl BoardFilter {
    /// Empty strings are no filter; what is left is checked. `Err` says what is wrong.
    pub fn normalised(&self) -> Result<BoardFilter, String> {
        let clean = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let f = BoardFilter {
            state: clean(&self.state),
            role: clean(&self.role),
            area: clean(&self.area),
            unit_kind: clean(&self.unit_kind),
            q: clean(&self.q),
        };
        if let Some(s) = &f.state {
            if s.parse::<CallState>().is_err() && !FILTER_STATES.contains(&s.as_str()) {
                return Err(format!(
                    "state {s:?} is not a call state (pending, sent, delivered, answered, done, escalated, expired, \
                     cancelled, failed) nor one of open, overdue, unreached, late"
                ));
            }
        }
        if let Some(a) = &f.area {
            AreaCode::parse(a).map_err(|e| e.to_string())?;
        }
        if let Some(k) = &f.unit_kind {
            if k != "none" && jiaoying_core::UnitKind::parse(k).is_none() {
                return Err(format!("unit_kind {k:?} is not a unit kind (school, hospital, ...) nor none"));
            }
        }
        if f.q.as_deref().is_some_and(|q| q.chars().count() > 64) {
            return Err("q is longer than 64 characters".into());
        }
        Ok(f)
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_none()
            && self.role.is_none()
            && self.area.is_none()
            && self.unit_kind.is_none()
            && self.q.is_none()
    }
}

/// The alert page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub alert: AlertDetail,
    /// Over all calls, whatever the filter.
    pub counts: StateCounts,
    pub bar: Vec<BarSegment>,
    pub answered: i64,
    pub total: i64,
    pub overdue: i64,
    pub unreached: i64,
    /// Newest first, at most [`TIMELINE_MAX`] entries.
    pub timeline: Vec<TimelineEntry>,
    /// Entries in the whole timeline (more than shown when it was cut).
    pub timeline_total: usize,
    /// The filter applied (normalised).
    pub filter: BoardFilter,
    /// Values the filter controls can offer, from this alert's calls.
    pub filter_options: FilterOptions,
    /// Calls shown after the filter.
    pub shown: usize,
    /// Area → unit → role → calls, of the calls the filter keeps.
    pub groups: Vec<AreaGroup>,
}

/// Most timeline entries the alert view carries.
pub const TIMELINE_MAX: usize = 300;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertDetail {
    pub id: i64,
    #[schema(value_type = String)]
    pub tier: Tier,
    pub tier_zh: &'static str,
    pub event: String,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub source: String,
    /// `active`, `cancelled`, `expired`, `stored`.
    pub state: String,
    /// CAP status (`Actual`, `Exercise`, ...).
    pub cap_status: String,
    pub drill: bool,
    pub created_at: At,
    pub updated_at: At,
    pub onset: Option<At>,
    pub expires: Option<At>,
    pub areas: Vec<AreaRef>,
    /// The tier's answer window (`answer_within`).
    pub answer_within: Dur,
    /// Why it was cancelled and by whom, when an officer cancelled it.
    pub cancelled_by: Option<String>,
    pub cancel_reason: Option<String>,
}

/// One line of an alert's timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: At,
    /// `message` (a message received: Alert, Update, Cancel), `action` (an officer's action on
    /// the alert), `call` (a call event).
    pub kind: &'static str,
    pub actor: String,
    /// The person's name when `actor` is `person:<id>` (someone answering for themselves).
    pub actor_name: Option<String>,
    /// For `call`: the new state; for `action`: `cancel`/`manual`; for `message`: the CAP
    /// msgType.
    pub what: String,
    /// Chinese label of `what`.
    pub what_zh: String,
    pub call_id: Option<i64>,
    pub person: Option<String>,
    pub via: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct FilterOptions {
    pub states: Vec<&'static str>,
    pub roles: Vec<String>,
    /// `(code, name)` of the areas the calls are in.
    #[schema(value_type = Vec<Vec<String>>)]
    pub areas: Vec<(String, String)>,
    pub unit_kinds: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AreaGroup {
    pub code: String,
    pub name: String,
    pub answered: i64,
    pub total: i64,
    pub overdue: i64,
    pub units: Vec<UnitGroup>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitGroup {
    /// `None`: persons called for the area itself, not for a unit.
    pub unit_id: Option<String>,
    pub name: String,
    pub kind: Option<&'static str>,
    pub kind_zh: Option<&'static str>,
    pub roles: Vec<RoleGroup>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleGroup {
    pub role: String,
    pub role_zh: String,
    pub calls: Vec<CallView>,
}

/// One call, as a cell of the matrix.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallView {
    pub id: i64,
    pub person: PersonRef,
    /// The role the call was made in (the first, when several).
    pub role: String,
    pub role_zh: String,
    pub roles: Vec<String>,
    pub unit_id: Option<String>,
    pub unit_name: Option<String>,
    pub unit_kind: Option<&'static str>,
    pub area: String,
    pub area_name: String,
    /// 0 for a direct call, n for the n-th step of escalation.
    pub level: i64,
    #[schema(value_type = String)]
    pub state: CallState,
    pub state_zh: &'static str,
    pub attempts: i64,
    pub deadline: At,
    /// Overdue as a duty officer means it: still unanswered (waiting, or escalated and still
    /// answerable) and the tier's answer window (`answer_within`) has passed since this person
    /// was first called in this alert. It stays overdue through repeats and escalation (an
    /// escalated call is shown as escalated, and overdue) until answered or ended.
    pub overdue: bool,
    /// How long past the answer window.
    pub overdue_for: Option<Dur>,
    pub next_action_at: Option<At>,
    /// What happens next if nobody answers; `None` when nothing will.
    pub next_step: Option<NextStep>,
    /// The call this one was escalated from / to.
    pub escalated_from: Option<CallLink>,
    pub escalated_to: Option<CallLink>,
    pub answered_at: Option<At>,
    /// `sms`, `link`, `voice`, `officer`.
    pub answered_via: Option<String>,
    /// `person:<id>` or `officer:<name>`.
    pub answered_by: Option<String>,
    pub answer_note: Option<String>,
    /// Answered after the call had been escalated.
    pub late: bool,
    /// No channel reached the person, or the escalation chain ran out (未叫醒).
    pub unreached: bool,
    pub directive: Option<DirectiveView>,
    /// Whether an officer may re-call, escalate or answer it now.
    pub can_recall: bool,
    pub can_escalate: bool,
    pub can_answer: bool,
}

/// A link to another call of the same alert.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallLink {
    pub call_id: i64,
    pub name: String,
    #[schema(value_type = String)]
    pub state: CallState,
}

/// The escalation path's next step of a waiting call.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NextStep {
    /// `repeat` (the same person again), `escalate` (to `persons` in `role`), `expire` (the call
    /// ends unanswered: no escalation, or nobody left), `alert_expires`.
    pub action: &'static str,
    pub at: At,
    /// For `repeat`: the attempt it will be.
    pub attempt: Option<u32>,
    /// For `escalate`: the role of the next call (`superior`, `duty_officer`, `leader`).
    pub role: Option<String>,
    pub role_zh: Option<String>,
    pub persons: Vec<PersonRef>,
}

/// A control measure (熔断) a call carries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DirectiveView {
    /// `cut`, `ban`, `stop`, `evacuate`, `divert`.
    pub measure: &'static str,
    pub measure_zh: &'static str,
    pub text: String,
    pub done: bool,
    pub done_at: Option<At>,
    pub done_report: Option<String>,
    /// When it must be reported done (after the answer).
    pub due_at: Option<At>,
    /// Answered, not done, past `due_at`.
    pub overdue: bool,
}

impl AlertView {
    /// Every shown call, in matrix order (area, unit, role).
    pub fn calls(&self) -> impl Iterator<Item = &CallView> {
        self.groups.iter().flat_map(|a| a.units.iter().flat_map(|u| u.roles.iter().flat_map(|r| r.calls.iter())))
    }
}

// ---------------------------------------------------------------------------------------------
// The answer curve
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CurveView {
    pub alert_id: i64,
    #[schema(value_type = String)]
    pub tier: Tier,
    /// When the alert was taken: the curve's zero.
    pub start: At,
    pub now: At,
    pub total: i64,
    pub answered: i64,
    /// A step curve: (0, 0), then one point per answer, then (now, last share) while the alert is
    /// active.
    pub points: Vec<CurvePoint>,
    pub target: TargetLine,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CurvePoint {
    /// Since the start.
    pub t_ms: i64,
    pub at: At,
    pub answered: i64,
    /// `answered / total`, 0–1.
    pub share: f64,
}

/// The tier's target: everyone answered within `answer_within` of the alert.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetLine {
    pub within: Dur,
    /// The share to reach by then (1.0: all).
    pub share: f64,
    /// The last deadline the policy allows before escalation (`answer_within` × attempts).
    pub escalates_after: Dur,
    pub label_zh: String,
    pub label_en: String,
}

// ---------------------------------------------------------------------------------------------
// The map
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MapView {
    pub alert_id: Option<i64>,
    /// `[min_lon, min_lat, max_lon, max_lat]` of every polygon and unit shown; `None` when there
    /// is nothing to draw.
    #[schema(value_type = Option<Vec<f64>>)]
    pub bbox: Option<[f64; 4]>,
    /// Areas with a polygon in the registry; areas without one are left out (see
    /// `areas_without_polygon`).
    pub areas: Vec<MapArea>,
    pub areas_without_polygon: Vec<String>,
    /// Units with a location; units without one are counted in `units_without_location`.
    pub units: Vec<MapUnit>,
    pub units_without_location: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MapArea {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    /// `[lon, lat]` points, closed.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub polygon: Vec<[f64; 2]>,
    /// The alert's calls in this area and below it.
    pub answered: i64,
    pub total: i64,
    /// `answered / total` (0–1); `None` without calls (or without an alert).
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MapUnit {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub kind_zh: &'static str,
    pub area: String,
    /// `[lon, lat]`.
    #[schema(value_type = Vec<f64>)]
    pub location: [f64; 2],
    /// The worst of its calls: `unreached`, `overdue`, `open`, `escalated`, `answered`, `ended`,
    /// or `none` (no call).
    pub status: &'static str,
    pub calls: Vec<MapUnitCall>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MapUnitCall {
    pub call_id: i64,
    pub name: String,
    pub role: String,
    #[schema(value_type = String)]
    pub state: CallState,
    pub overdue: bool,
    pub unreached: bool,
}

// ---------------------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// `call` (a call event), `alert` (an officer's action on an alert) or `admin` (an admin's
    /// change to a board user; `name` is the user's).
    pub origin: String,
    pub id: i64,
    /// `None` for an admin's change.
    pub alert_id: Option<i64>,
    pub call_id: Option<i64>,
    pub at: At,
    pub from_state: Option<String>,
    /// The call's new state, the alert action (`cancel`, `manual`), or the admin's change
    /// (`user_add`, `user_update`, `user_delete`).
    pub kind: String,
    pub kind_zh: String,
    pub actor: String,
    /// The person's name when `actor` is `person:<id>`.
    pub actor_name: Option<String>,
    pub via: Option<String>,
    pub note: Option<String>,
    pub person_id: Option<String>,
    pub name: Option<String>,
}

/// Chinese label of an audit kind or a timeline `what`.
pub fn kind_zh(kind: &str) -> String {
    if let Ok(s) = kind.parse::<CallState>() {
        return s.zh().to_string();
    }
    match kind {
        "cancel" => "值班员解除预警",
        "manual" => "值班员录入预警",
        "user_add" => "管理员添加用户",
        "user_update" => "管理员修改用户",
        "user_delete" => "管理员删除用户",
        "Alert" => "收到预警",
        "Update" => "预警更新",
        "Cancel" => "预警解除",
        "Ack" => "确认",
        "Error" => "错误",
        other => other,
    }
    .to_string()
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            kind_zh: kind_zh(&r.kind),
            origin: r.origin,
            id: r.id,
            alert_id: r.alert_id,
            call_id: r.call_id,
            at: At::new(r.at),
            from_state: r.from_state,
            kind: r.kind,
            actor: r.actor,
            actor_name: None,
            via: r.via,
            note: r.note,
            person_id: r.person_id,
            name: r.name,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The builders
// ---------------------------------------------------------------------------------------------

/// Most alerts the `Now` page lists.
const NOW_MAX_ALERTS: i64 = 1000;

fn counts_of(counts: &[StateCount], alert_id: i64) -> StateCounts {
    let mut out = StateCounts::default();
    for c in counts.iter().filter(|c| c.alert_id == alert_id) {
        out.add(c.state, c.n);
    }
    out
}

/// How long past the tier's answer window (`within`, ms) a call is at `now`, if it is overdue:
/// still unanswered (waiting, or escalated) and its person first called (`created_at`: repeats
/// and re-calls keep the call) longer than `within` ago. Not the current deadline: the timer
/// acts on that within seconds, so an officer would hardly ever see it.
fn overdue_by(call: &jiaoying_store::CallRow, within: i64, now: i64) -> Option<i64> {
    let open = call.state.is_waiting() || call.state == CallState::Escalated;
    let past = now - call.created_at - within;
    (open && past > 0).then_some(past)
}

impl Tracker {
    /// The `Now` page: active alerts, most severe first and newest first within a tier, with their
    /// counts; plus the health the caller gathered (silent feeds, gateway backlogs).
    pub async fn board_now(&self, health: BoardHealth) -> Result<NowView, TrackerError> {
        let now = self.clock.now().millis();
        let registry = self.store.load_registry().await?;
        let (mut alerts, _) = self
            .store
            .list_alerts(&AlertFilter { state: Some("active".into()), limit: NOW_MAX_ALERTS, offset: 0 })
            .await?;
        // Drills (issue 7) come after every real alert, each marked 演练: their figures are
        // their own and must not be read as a real warning's.
        alerts.sort_by(|a, b| {
            (a.is_drill().cmp(&b.is_drill()))
                .then(b.tier.cmp(&a.tier))
                .then(b.created_at.cmp(&a.created_at))
                .then(b.id.cmp(&a.id))
        });
        let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();
        let counts = self.store.call_counts(&ids).await?;
        // Overdue: first called before now minus the tier's answer window.
        let cutoffs: Vec<(i64, i64)> = alerts
            .iter()
            .map(|a| (a.id, now.saturating_sub(self.config.policies.for_tier(a.tier).answer_within.millis())))
            .collect();
        let stats: HashMap<i64, _> =
            self.store.alert_call_stats(&cutoffs).await?.into_iter().map(|s| (s.alert_id, s)).collect();
        let alerts = alerts
            .iter()
            .map(|a| {
                let counts = counts_of(&counts, a.id);
                let st = stats.get(&a.id).cloned().unwrap_or_default();
                AlertSummary {
                    id: a.id,
                    tier: a.tier,
                    tier_zh: a.tier.zh(),
                    event: a.event.clone(),
                    headline: a.headline.clone(),
                    source: a.source.clone(),
                    state: a.state.clone(),
                    drill: a.is_drill(),
                    created_at: At::new(a.created_at),
                    expires: At::opt(a.expires),
                    areas: alert_areas(&a.areas, &registry),
                    answered: counts.answered_any(),
                    total: counts.total,
                    overdue: st.overdue,
                    unreached: st.unreached,
                    bar: counts.bar_with_overdue(&overdue_spread(&counts, st.overdue)),
                    counts,
                }
            })
            .collect();
        let backlogs = health
            .backlogs
            .into_iter()
            .map(|b| BacklogView {
                warn: b.queued > 0 || b.breaker_open,
                oldest_wait: b.oldest_due.filter(|_| b.queued > 0).map(|d| Dur::new(now - d)),
                drain: b.drain_secs.filter(|_| b.queued + b.sending > 0).map(|s| Dur::new((s * 1000.0) as i64)),
                channel: b.channel,
                queued: b.queued,
                sending: b.sending,
                recent_rate: b.recent_rate,
                sent_last_minute: b.sent_last_minute,
                rate_limit: b.rate_limit,
                breaker_open: b.breaker_open,
            })
            .collect();
        Ok(NowView {
            generated_at: At::new(now),
            alerts,
            silent_feeds: health.silent_feeds,
            backlogs,
            on_duty: crate::duties::on_duty_now(&registry, Timestamp(now)),
            roster_gaps: health.roster_gaps,
        })
    }

    /// The alert page; `None` when there is no such alert. The filter must be normalised
    /// ([`BoardFilter::normalised`]); counts are over all calls, the matrix over those it keeps.
    pub async fn board_alert(&self, alert_id: i64, filter: &BoardFilter) -> Result<Option<AlertView>, TrackerError> {
        let Some(alert) = self.store.alert(alert_id).await? else { return Ok(None) };
        let now = self.clock.now().millis();
        let registry = self.store.load_registry().await?;
        let registry: &Registry = &registry;
        let reg = Lookup::new(registry);
        let calls = self.store.calls_of_alert(alert_id).await?;
        let events = self.store.events_of_alert(alert_id).await?;
        let messages = self.store.alert_messages_of(alert_id).await?;
        let actions = self.store.alert_actions_of(alert_id).await?;
        let policy = self.config.policies.for_tier(alert.tier);
        let within = policy.answer_within.millis();

        let mut counts = StateCounts::default();
        let mut overdue_counts = StateCounts::default();
        let mut unreached = 0;
        for c in &calls {
            counts.add(c.call.state, 1);
            if overdue_by(&c.call, within, now).is_some() {
                overdue_counts.add(c.call.state, 1);
            }
            unreached += c.call.unreached as i64;
        }
        let overdue = overdue_counts.total;

        let by_id: HashMap<i64, &CallListRow> = calls.iter().map(|c| (c.call.id, c)).collect();
        let called: HashSet<&str> = calls.iter().map(|c| c.call.person_id.as_str()).collect();
        let units: HashMap<&str, &jiaoying_core::Unit> = registry.units.iter().map(|u| (u.id.as_str(), u)).collect();

        // The filter options come from every call, so a filter never hides its own way back.
        let mut options = FilterOptions::default();
        {
            let mut roles = std::collections::BTreeSet::new();
            let mut areas = BTreeMap::new();
            let mut kinds = std::collections::BTreeSet::new();
            let mut states = HashSet::new();
            for c in &calls {
                roles.insert(c.call.roles.split(';').next().unwrap_or("").to_string());
                areas.insert(c.call.area.clone(), area_name(&reg, &c.call.area));
                states.insert(c.call.state);
                kinds.insert(
                    c.call.unit_id.as_deref().and_then(|u| units.get(u)).map(|u| u.kind.as_str()).unwrap_or("none"),
                );
            }
            options.states = CallState::ALL.iter().filter(|s| states.contains(s)).map(|s| s.as_str()).collect();
            options.states.extend(FILTER_STATES);
            let mut roles: Vec<String> = roles.into_iter().collect();
            roles.sort_by_key(|r| (role_rank(r), r.clone()));
            options.roles = roles;
            options.areas = areas.into_iter().collect();
            options.unit_kinds = kinds.into_iter().collect();
        }

        let mut views: Vec<CallView> = Vec::new();
        for c in &calls {
            let unit = c.call.unit_id.as_deref().and_then(|u| units.get(u)).copied();
            if !keeps(filter, c, unit, &reg, now, within) {
                continue;
            }
            views.push(self.call_view(&alert, c, unit, &reg, &by_id, &called, now, within));
        }
        let shown = views.len();
        let groups = group_calls(views, &reg, &units);

        let timeline = timeline(&reg, &events, &messages, &actions, &by_id);
        let timeline_total = timeline.len();
        let cancel = actions.iter().rev().find(|a| a.action == "cancel");
        Ok(Some(AlertView {
            alert: AlertDetail {
                id: alert.id,
                tier: alert.tier,
                tier_zh: alert.tier.zh(),
                event: alert.event.clone(),
                headline: alert.headline.clone(),
                description: alert.description.clone(),
                instruction: alert.instruction.clone(),
                source: alert.source.clone(),
                state: alert.state.clone(),
                cap_status: alert.status.clone(),
                drill: alert.is_drill(),
                created_at: At::new(alert.created_at),
                updated_at: At::new(alert.updated_at),
                onset: At::opt(alert.onset),
                expires: At::opt(alert.expires),
                areas: alert_areas(&alert.areas, registry),
                answer_within: Dur::new(policy.answer_within.millis()),
                cancelled_by: cancel.map(|a| a.actor.clone()),
                cancel_reason: cancel.and_then(|a| a.note.clone()),
            },
            answered: counts.answered_any(),
            total: counts.total,
            bar: counts.bar_with_overdue(&overdue_counts),
            counts,
            overdue,
            unreached,
            timeline: timeline.into_iter().take(TIMELINE_MAX).collect(),
            timeline_total,
            filter: filter.clone(),
            filter_options: options,
            shown,
            groups,
        }))
    }

    #[allow(clippy::too_many_arguments)]
    fn call_view(
        &self,
        alert: &AlertRow,
        c: &CallListRow,
        unit: Option<&jiaoying_core::Unit>,
        registry: &Lookup<'_>,
        by_id: &HashMap<i64, &CallListRow>,
        called: &HashSet<&str>,
        now: i64,
        within: i64,
    ) -> CallView {
        let call = &c.call;
        let role = call.roles.split(';').next().unwrap_or("").to_string();
        let overdue = overdue_by(call, within, now);
        let link = |id: Option<i64>| {
            id.and_then(|i| by_id.get(&i)).map(|o| CallLink {
                call_id: o.call.id,
                name: person_ref(registry, &o.call.person_id, o.name.as_deref()).name,
                state: o.call.state,
            })
        };
        let directive = call.directive.as_deref().and_then(parse_stored).map(|(m, text)| {
            let due = call.answered_at.zip(call.done_within).map(|(a, w)| a + w);
            DirectiveView {
                measure: m.as_str(),
                measure_zh: m.zh(),
                text: text.to_string(),
                done: call.state == CallState::Done,
                done_at: At::opt(call.done_at),
                done_report: call.done_report.clone(),
                due_at: At::opt(due),
                overdue: call.state == CallState::Answered && due.is_some_and(|d| d <= now),
            }
        });
        CallView {
            id: call.id,
            person: person_ref(registry, &call.person_id, c.name.as_deref()),
            role_zh: role_zh(&role),
            role,
            roles: call.roles.split(';').map(str::to_string).collect(),
            unit_id: call.unit_id.clone(),
            unit_name: unit.map(|u| u.name.clone()),
            unit_kind: unit.map(|u| u.kind.as_str()),
            area: call.area.clone(),
            area_name: area_name(registry, &call.area),
            level: call.level,
            state: call.state,
            state_zh: call.state.zh(),
            attempts: call.attempts,
            deadline: At::new(call.deadline),
            overdue: overdue.is_some(),
            overdue_for: overdue.map(Dur::new),
            next_action_at: At::opt(call.next_action_at),
            next_step: self.next_step(alert, call, registry, called, now),
            escalated_from: link(call.escalated_from),
            escalated_to: link(call.escalated_to),
            answered_at: At::opt(call.answered_at),
            answered_via: call.answered_via.clone(),
            answered_by: call.answered_by.clone(),
            answer_note: call.answer_note.clone(),
            late: call.late,
            unreached: call.unreached,
            directive,
            can_recall: alert.state == "active" && crate::officer::recallable(call.state),
            can_escalate: alert.state == "active" && call.state.is_waiting(),
            can_answer: call.state.can_become(CallState::Answered),
        }
    }

    /// What the timer will do with a waiting call if nobody answers: the planner's decision at
    /// the call's next due time, and for an escalation the persons `next_up` names now.
    fn next_step(
        &self,
        alert: &AlertRow,
        call: &jiaoying_store::CallRow,
        registry: &Lookup<'_>,
        called: &HashSet<&str>,
        now: i64,
    ) -> Option<NextStep> {
        if alert.state != "active" || !call.state.is_waiting() {
            return None;
        }
        let policy = self.config.policies.for_tier(alert.tier);
        let at = call.next_action_at.unwrap_or(call.deadline).max(now);
        let step = |action, attempt, role: Option<String>, persons| NextStep {
            action,
            at: At::new(at),
            attempt,
            role_zh: role.as_deref().map(role_zh),
            role,
            persons,
        };
        if alert.expires.is_some_and(|e| e <= at) {
            return Some(step("alert_expires", None, None, vec![]));
        }
        let timer = CallTimer {
            state: call.state,
            attempts: call.attempts.max(0) as u32,
            deadline: Timestamp(call.deadline),
            level: call.level.max(0) as u32,
            unreached: call.unreached,
        };
        match decide(Timestamp(at.max(call.deadline)), timer, policy) {
            Decision::Settled | Decision::WaitUntil(_) => None,
            Decision::Repeat { attempt, .. } => {
                Some(step("repeat", Some(attempt), None, vec![person_ref(registry, &call.person_id, None)]))
            }
            Decision::Expire => Some(step("expire", None, None, vec![])),
            Decision::Escalate => {
                let (Ok(pid), Ok(area)) = (PersonId::parse(&call.person_id), AreaCode::parse(&call.area)) else {
                    return Some(step("expire", None, None, vec![]));
                };
                let level = call.level.max(0) as u32;
                let from = Escalating {
                    person: &pid,
                    area: &area,
                    role: call.roles.split(';').next().unwrap_or(""),
                    level,
                    climb: policy.max_levels.is_none_or(|max| level < max),
                };
                match next_up(registry.registry, &from, Timestamp(at), |p| called.contains(p.as_str())) {
                    Some(next) => Some(step(
                        "escalate",
                        None,
                        Some(next.role.to_string()),
                        next.persons.iter().map(|p| person_ref(registry, p.as_str(), None)).collect(),
                    )),
                    None => Some(step("expire", None, None, vec![])),
                }
            }
        }
    }

    /// The answer curve of an alert; `None` when there is no such alert.
    pub async fn board_curve(&self, alert_id: i64) -> Result<Option<CurveView>, TrackerError> {
        let Some(alert) = self.store.alert(alert_id).await? else { return Ok(None) };
        let now = self.clock.now().millis();
        let total = self.store.call_counts(&[alert_id]).await?.iter().map(|c| c.n).sum::<i64>();
        let events = self.store.events_of_alert(alert_id).await?;
        let start = alert.created_at;
        let share = |n: i64| if total > 0 { n as f64 / total as f64 } else { 0.0 };
        let point =
            |at: i64, n: i64| CurvePoint { t_ms: (at - start).max(0), at: At::new(at), answered: n, share: share(n) };
        let mut points = vec![point(start, 0)];
        let mut seen = HashSet::new();
        let mut answered = 0;
        for e in &events {
            // An answer is recorded once per call; `done` after it is not a second answer.
            if e.to_state == CallState::Answered.as_str() && seen.insert(e.call_id) {
                answered += 1;
                points.push(point(e.at, answered));
            }
        }
        if alert.state == "active" && now > points.last().map_or(start, |p| p.at.ms) {
            points.push(point(now, answered));
        }
        let policy = self.config.policies.for_tier(alert.tier);
        let within = policy.answer_within;
        let escalates_after = Dur::new((1..=policy.attempts()).map(|a| policy.wait_after(0, a).millis()).sum::<i64>());
        let target = TargetLine {
            within: Dur::new(within.millis()),
            share: 1.0,
            label_zh: format!("{}预警目标：{}内全部应答", alert.tier.zh(), Dur::new(within.millis()).zh),
            label_en: format!("{} target: all answered within {}", alert.tier, Dur::new(within.millis()).en),
            escalates_after,
        };
        Ok(Some(CurveView {
            alert_id,
            tier: alert.tier,
            start: At::new(start),
            now: At::new(now),
            total,
            answered,
            points,
            target,
        }))
    }

    /// The map: registry areas with polygons and units with locations; with an alert, each
    /// area's answer rate and each unit's calls. `None` when the alert named does not exist.
    pub async fn board_map(&self, alert_id: Option<i64>) -> Result<Option<MapView>, TrackerError> {
        let now = self.clock.now().millis();
        let (calls, within) = match alert_id {
            Some(id) => {
                let Some(alert) = self.store.alert(id).await? else { return Ok(None) };
                (self.store.calls_of_alert(id).await?, self.config.policies.for_tier(alert.tier).answer_within.millis())
            }
            None => (Vec::new(), 0),
        };
        let registry = self.store.load_registry().await?;
        let registry: &Registry = &registry;
        let reg = Lookup::new(registry);
        let mut bbox: Option<[f64; 4]> = None;
        let mut grow = |[lon, lat]: [f64; 2]| {
            let b = bbox.get_or_insert([lon, lat, lon, lat]);
            b[0] = b[0].min(lon);
            b[1] = b[1].min(lat);
            b[2] = b[2].max(lon);
            b[3] = b[3].max(lat);
        };
        let mut areas = Vec::new();
        let mut areas_without_polygon = Vec::new();
        for a in &registry.areas {
            let Some(polygon) = a.polygon.as_ref().filter(|p| p.len() >= 3) else {
                areas_without_polygon.push(a.code.as_str().to_string());
                continue;
            };
            polygon.iter().copied().for_each(&mut grow);
            let mine = calls.iter().filter(|c| AreaCode::parse(&c.call.area).is_ok_and(|code| a.code.covers(&code)));
            let (mut answered, mut total) = (0, 0);
            for c in mine {
                total += 1;
                answered += matches!(c.call.state, CallState::Answered | CallState::Done) as i64;
            }
            areas.push(MapArea {
                code: a.code.as_str().to_string(),
                name: a.name.clone(),
                parent: a.parent.as_ref().map(|p| p.as_str().to_string()),
                polygon: polygon.clone(),
                answered,
                total,
                rate: (total > 0).then(|| answered as f64 / total as f64),
            });
        }
        let mut units = Vec::new();
        let mut units_without_location = 0;
        for u in &registry.units {
            let Some(location) = u.location else {
                units_without_location += 1;
                continue;
            };
            grow(location);
            let calls: Vec<MapUnitCall> = calls
                .iter()
                .filter(|c| c.call.unit_id.as_deref() == Some(u.id.as_str()))
                .map(|c| MapUnitCall {
                    call_id: c.call.id,
                    name: person_ref(&reg, &c.call.person_id, c.name.as_deref()).name,
                    role: c.call.roles.split(';').next().unwrap_or("").to_string(),
                    state: c.call.state,
                    overdue: overdue_by(&c.call, within, now).is_some(),
                    unreached: c.call.unreached,
                })
                .collect();
            units.push(MapUnit {
                id: u.id.as_str().to_string(),
                name: u.name.clone(),
                kind: u.kind.as_str(),
                kind_zh: unit_kind_zh(u.kind.as_str()),
                area: u.area.as_str().to_string(),
                location,
                status: unit_status(&calls),
                calls,
            });
        }
        Ok(Some(MapView { alert_id, bbox, areas, areas_without_polygon, units, units_without_location }))
    }

    /// A page of the audit log, newest first.
    pub async fn board_audit(&self, filter: &AuditFilter) -> Result<AuditPage, TrackerError> {
        let (rows, total) = self.store.audit(filter).await?;
        let registry = self.store.load_registry().await?;
        let reg = Lookup::new(&registry);
        Ok(AuditPage {
            entries: rows
                .into_iter()
                .map(|r| {
                    let actor_name = actor_person_name(&reg, &r.actor, r.person_id.as_deref(), r.name.as_deref());
                    AuditEntry { actor_name, ..AuditEntry::from(r) }
                })
                .collect(),
            total,
            limit: filter.limit,
            offset: filter.offset,
        })
    }
}

/// The worst state among a unit's calls, for its dot's colour.
fn unit_status(calls: &[MapUnitCall]) -> &'static str {
    if calls.is_empty() {
        return "none";
    }
    if calls.iter().any(|c| c.unreached) {
        return "unreached";
    }
    if calls.iter().any(|c| c.overdue) {
        return "overdue";
    }
    if calls.iter().any(|c| c.state.is_waiting()) {
        return "open";
    }
    if calls.iter().any(|c| c.state == CallState::Escalated) {
        return "escalated";
    }
    if calls.iter().any(|c| matches!(c.state, CallState::Answered | CallState::Done)) {
        return "answered";
    }
    "ended"
}

/// Whether the filter keeps a call.
fn keeps(
    f: &BoardFilter,
    c: &CallListRow,
    unit: Option<&jiaoying_core::Unit>,
    registry: &Lookup<'_>,
    now: i64,
    within: i64,
) -> bool {
    let call = &c.call;
    if let Some(s) = &f.state {
        let ok = match s.as_str() {
            "open" => call.state.is_waiting() || call.state == CallState::Escalated,
            "overdue" => overdue_by(call, within, now).is_some(),
            "unreached" => call.unreached,
            "late" => call.late,
            other => call.state.as_str() == other,
        };
        if !ok {
            return false;
        }
    }
    if let Some(r) = &f.role {
        if !call.roles.split(';').any(|x| x == r) {
            return false;
        }
    }
    if let Some(a) = &f.area {
        let covered = AreaCode::parse(a)
            .ok()
            .zip(AreaCode::parse(&call.area).ok())
            .is_some_and(|(filter, area)| filter.covers(&area));
        if !covered {
            return false;
        }
    }
    if let Some(k) = &f.unit_kind {
        let kind = unit.map(|u| u.kind.as_str()).unwrap_or("none");
        if kind != k {
            return false;
        }
    }
    if let Some(q) = &f.q {
        let person = registry.person(&call.person_id);
        let name = person.map(|p| p.name.as_str()).or(c.name.as_deref()).unwrap_or("");
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        let by_name = !q.is_empty() && name.to_lowercase().contains(&q.to_lowercase());
        let by_number = digits.len() >= 3
            && digits.len() == q.chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != '+').count()
            && person.is_some_and(|p| p.mobile.as_str().contains(&digits));
        if !(by_name || by_number) {
            return false;
        }
    }
    true
}

/// Area → unit → role, each level in a stable order: areas by code, the area's own persons
/// before its units, units by name, roles in the order of the three responsible persons.
fn group_calls(
    views: Vec<CallView>,
    registry: &Lookup<'_>,
    units: &HashMap<&str, &jiaoying_core::Unit>,
) -> Vec<AreaGroup> {
    /// (unit id, unit name) → (role rank, role) → calls.
    type Units = BTreeMap<(Option<String>, String), BTreeMap<(usize, String), Vec<CallView>>>;
    let mut tree: BTreeMap<String, Units> = BTreeMap::new();
    for v in views {
        let unit_key = (v.unit_id.clone(), v.unit_name.clone().unwrap_or_default());
        tree.entry(v.area.clone())
            .or_default()
            .entry(unit_key)
            .or_default()
            .entry((role_rank(&v.role), v.role.clone()))
            .or_default()
            .push(v);
    }
    tree.into_iter()
        .map(|(code, unit_map)| {
            let mut unit_groups: Vec<UnitGroup> = unit_map
                .into_iter()
                .map(|((unit_id, name), roles)| {
                    let unit = unit_id.as_deref().and_then(|u| units.get(u));
                    UnitGroup {
                        name: if unit_id.is_some() { name } else { String::new() },
                        kind: unit.map(|u| u.kind.as_str()),
                        kind_zh: unit.map(|u| unit_kind_zh(u.kind.as_str())),
                        unit_id,
                        roles: roles
                            .into_iter()
                            .map(|((_, role), calls)| RoleGroup { role_zh: role_zh(&role), role, calls })
                            .collect(),
                    }
                })
                .collect();
            unit_groups.sort_by(|a, b| {
                a.unit_id.is_some().cmp(&b.unit_id.is_some()).then(a.name.cmp(&b.name)).then(a.unit_id.cmp(&b.unit_id))
            });
            let all = unit_groups.iter().flat_map(|u| u.roles.iter().flat_map(|r| r.calls.iter()));
            let (mut answered, mut total, mut overdue) = (0, 0, 0);
            for c in all {
                total += 1;
                answered += matches!(c.state, CallState::Answered | CallState::Done) as i64;
                overdue += c.overdue as i64;
            }
            AreaGroup { name: area_name(registry, &code), code, answered, total, overdue, units: unit_groups }
        })
        .collect()
}

/// The alert's timeline, newest first: messages received, officers' actions, call events.
fn timeline(
    registry: &Lookup<'_>,
    events: &[jiaoying_store::EventRow],
    messages: &[jiaoying_store::AlertMessageInfo],
    actions: &[jiaoying_store::AlertActionRow],
    calls: &HashMap<i64, &CallListRow>,
) -> Vec<TimelineEntry> {
    let mut out: Vec<(i64, u8, i64, TimelineEntry)> = Vec::new();
    for m in messages {
        out.push((
            m.received_at,
            0,
            m.id,
            TimelineEntry {
                at: At::new(m.received_at),
                kind: "message",
                actor: format!("source:{}", m.sender),
                actor_name: None,
                what_zh: kind_zh(&m.msg_type),
                what: m.msg_type.clone(),
                call_id: None,
                person: None,
                via: None,
                note: None,
            },
        ));
    }
    for a in actions {
        out.push((
            a.at,
            1,
            a.id,
            TimelineEntry {
                at: At::new(a.at),
                kind: "action",
                actor: a.actor.clone(),
                actor_name: actor_person_name(registry, &a.actor, None, None),
                what_zh: kind_zh(&a.action),
                what: a.action.clone(),
                call_id: None,
                person: None,
                via: None,
                note: a.note.clone(),
            },
        ));
    }
    for e in events {
        let call = calls.get(&e.call_id);
        let person = call.map(|c| person_ref(registry, &c.call.person_id, c.name.as_deref()).name);
        let actor_name = actor_person_name(
            registry,
            &e.actor,
            call.map(|c| c.call.person_id.as_str()),
            call.and_then(|c| c.name.as_deref()),
        );
        out.push((
            e.at,
            2,
            e.id,
            TimelineEntry {
                at: At::new(e.at),
                kind: "call",
                actor: e.actor.clone(),
                actor_name,
                what_zh: kind_zh(&e.to_state),
                what: e.to_state.clone(),
                call_id: Some(e.call_id),
                person,
                via: e.via.clone(),
                note: e.note.clone(),
            },
        ));
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    out.into_iter().map(|(_, _, _, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(state: CallState, created_at: i64) -> jiaoying_store::CallRow {
        jiaoying_store::CallRow {
            reply_code: "1".into(),
            attempts: 2,
            // The current deadline (a repeat's) is still ahead: it does not matter.
            deadline: created_at + 20 * 60_000,
            created_at,
            updated_at: created_at,
            ..crate::answer_stats::call_row(1, "p", "grid", "500105002", state, None)
        }
    }

    #[test]
    fn overdue_counts_from_the_first_call_and_covers_the_escalated() {
        let within = 5 * 60_000;
        let t0 = 1_000_000;
        for (state, at, want) in [
            (CallState::Sent, t0 + within, None),
            (CallState::Sent, t0 + within + 1, Some(1)),
            (CallState::Delivered, t0 + 7 * 60_000, Some(2 * 60_000)),
            (CallState::Pending, t0 + 6 * 60_000, Some(60_000)),
            (CallState::Escalated, t0 + 6 * 60_000, Some(60_000)),
            (CallState::Answered, t0 + 60 * 60_000, None),
            (CallState::Done, t0 + 60 * 60_000, None),
            (CallState::Expired, t0 + 60 * 60_000, None),
            (CallState::Cancelled, t0 + 60 * 60_000, None),
            (CallState::Failed, t0 + 60 * 60_000, None),
        ] {
            assert_eq!(overdue_by(&call(state, t0), within, at), want, "{state:?} at +{}ms", at - t0);
        }
    }

    #[test]
    fn the_bar_shows_the_overdue_as_their_own_segment() {
        let mut counts = StateCounts::default();
        for (s, n) in [(CallState::Answered, 2), (CallState::Sent, 3), (CallState::Escalated, 1)] {
            counts.add(s, n);
        }
        let seg = |bar: &[BarSegment]| bar.iter().map(|b| (b.state, b.n)).collect::<Vec<_>>();
        // Only the number known (Now): the escalated call first, then the waiting ones.
        let spread = overdue_spread(&counts, 2);
        assert_eq!((spread.escalated, spread.sent, spread.total), (1, 1, 2));
        let bar = counts.bar_with_overdue(&spread);
        assert_eq!(seg(&bar), [("answered", 2), ("overdue", 2), ("sent", 2)]);
        assert!((bar.iter().map(|b| b.pct).sum::<f64>() - 100.0).abs() < 1e-9);
        // Nothing overdue: the bar by state, as before.
        assert_eq!(seg(&counts.bar()), [("answered", 2), ("sent", 3), ("escalated", 1)]);
        // More overdue than could be: never a negative segment.
        let mut odd = StateCounts::default();
        odd.add(CallState::Sent, 9);
        assert_eq!(seg(&counts.bar_with_overdue(&odd)), [("answered", 2), ("overdue", 3), ("escalated", 1)]);
    }
}
