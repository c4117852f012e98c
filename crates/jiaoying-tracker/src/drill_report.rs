//! The after-action report of a drill (演练, an alert of CAP status `Exercise`): who was called,
//! who answered and how fast, per area, unit and role; who was not reached; and the same figures
//! set against the previous drill.
//!
//! The population is the drill's direct calls (level 0): the persons the warning was for.
//! Escalation calls to superiors and duty officers are the machinery that chased them, not people
//! being drilled, so they do not count. A drill's answers live on its own calls, so they never
//! mix with a real alert's figures; this report is the only place they are added up.

use std::collections::BTreeMap;

use jiaoying_core::{Registry, Tier};
use jiaoying_store::{AlertRow, CallListRow};
use serde::Serialize;

use crate::answer_stats::{call_roles, GroupTallies, Outcome, Tally};
use crate::board::{role_zh, At, Dur, PersonRef};
use crate::context::{Tracker, TrackerError};
use crate::duties::{area_name, person_ref};

/// Most drills the list shows.
pub const DRILLS_LISTED: i64 = 50;

/// Answer figures of a drill or of one of its groups.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DrillFigures {
    /// Persons called directly.
    pub called: usize,
    pub answered: usize,
    /// Not answered and still waiting (the drill is still running).
    pub waiting: usize,
    /// Not answered and no longer waiting (repeated and escalated in vain, or no contact).
    pub unreached: usize,
    /// Answered share, 0..1; `None` when nobody was called.
    pub answer_rate: Option<f64>,
    /// From the call to its answer.
    pub median_answer: Option<Dur>,
    pub max_answer: Option<Dur>,
}

/// The change of each figure since the previous drill (this minus previous).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FiguresDelta {
    pub called: i64,
    pub answered: i64,
    pub unreached: i64,
    /// `None` when either drill called nobody in the group.
    pub answer_rate: Option<f64>,
    /// Milliseconds; negative is faster.
    pub median_answer_ms: Option<i64>,
    pub max_answer_ms: Option<i64>,
}

/// One area, unit or role of a drill.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DrillGroup {
    /// The area code, unit id or role.
    pub key: String,
    /// Its name (the role's Chinese name).
    pub name: String,
    pub figures: DrillFigures,
    /// Against the same group in the previous drill; `None` when there is no previous drill or
    /// it did not call this group.
    pub delta: Option<FiguresDelta>,
}

/// A drill as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DrillSummary {
    pub alert_id: i64,
    pub event: String,
    #[schema(value_type = String)]
    pub tier: Tier,
    pub tier_zh: &'static str,
    pub headline: String,
    /// `active` while it runs, then `cancelled` or `expired`.
    pub state: String,
    pub started_at: At,
    pub figures: DrillFigures,
}

/// A person called and not (yet) answered.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UnreachedPerson {
    pub person: PersonRef,
    pub call_id: i64,
    pub roles: Vec<String>,
    pub area: String,
    pub area_name: String,
    pub unit_id: Option<String>,
    pub unit_name: Option<String>,
    /// `waiting` (the drill still runs) or `unreached`.
    pub status: &'static str,
    /// The call's state (`escalated`, `expired`, ...).
    pub state: String,
}

/// The after-action report of one drill.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DrillReport {
    pub drill: DrillSummary,
    pub by_area: Vec<DrillGroup>,
    pub by_unit: Vec<DrillGroup>,
    pub by_role: Vec<DrillGroup>,
    /// Not answered, by area then name.
    pub unreached: Vec<UnreachedPerson>,
    /// The drill before this one, if any.
    pub previous: Option<DrillSummary>,
    /// The overall figures against the previous drill's.
    pub delta: Option<FiguresDelta>,
}

impl From<Tally> for DrillFigures {
    fn from(mut t: Tally) -> Self {
        DrillFigures {
            median_answer: t.median_answer(),
            max_answer: t.slowest_answer(),
            answer_rate: t.answer_rate(),
            called: t.called,
            answered: t.answered,
            waiting: t.waiting,
            unreached: t.unreached,
        }
    }
}

/// This drill's figures minus the previous one's.
pub fn delta(now: &DrillFigures, before: &DrillFigures) -> FiguresDelta {
    let ms = |a: &Option<Dur>, b: &Option<Dur>| Some(a.as_ref()?.ms - b.as_ref()?.ms);
    FiguresDelta {
        called: now.called as i64 - before.called as i64,
        answered: now.answered as i64 - before.answered as i64,
        unreached: now.unreached as i64 - before.unreached as i64,
        answer_rate: now.answer_rate.zip(before.answer_rate).map(|(a, b)| a - b),
        median_answer_ms: ms(&now.median_answer, &before.median_answer),
        max_answer_ms: ms(&now.max_answer, &before.max_answer),
    }
}

fn unit_name(registry: &Registry, id: &str) -> Option<String> {
    registry.units.iter().find(|u| u.id.as_str() == id).map(|u| u.name.clone())
}

fn summary(alert: &AlertRow, figures: DrillFigures) -> DrillSummary {
    DrillSummary {
        alert_id: alert.id,
        event: alert.event.clone(),
        tier: alert.tier,
        tier_zh: alert.tier.zh(),
        headline: alert.headline.clone(),
        state: alert.state.clone(),
        started_at: At::new(alert.created_at),
        figures,
    }
}

/// The overall figures of a drill from its calls.
pub fn drill_summary(alert: &AlertRow, calls: &[CallListRow]) -> DrillSummary {
    let running = alert.state == "active";
    let mut all = Tally::default();
    for c in calls.iter().filter(|c| c.call.level == 0) {
        all.add(Outcome::of(&c.call, running));
    }
    summary(alert, all.into())
}

/// The report of `alert` from its calls, set against `previous` (the previous drill's report,
/// built without a previous one of its own). Pure: tests build it from rows.
pub fn build_drill_report(
    alert: &AlertRow,
    calls: &[CallListRow],
    registry: &Registry,
    previous: Option<&DrillReport>,
) -> DrillReport {
    let running = alert.state == "active";
    let mut tallies = GroupTallies::default();
    let mut unreached = Vec::new();
    for c in calls.iter().filter(|c| c.call.level == 0) {
        let call = &c.call;
        let o = Outcome::of(call, running);
        tallies.add(call, o);
        if !matches!(o, Outcome::Answered(_)) {
            unreached.push(UnreachedPerson {
                person: person_ref(registry, &call.person_id),
                call_id: call.id,
                roles: call_roles(call),
                area: call.area.clone(),
                area_name: area_name(registry, &call.area),
                unit_id: call.unit_id.clone(),
                unit_name: call.unit_id.as_deref().and_then(|u| unit_name(registry, u)),
                status: o.status(),
                state: call.state.as_str().to_string(),
            });
        }
    }
    unreached
        .sort_by(|a, b| a.area.cmp(&b.area).then(a.person.name.cmp(&b.person.name)).then(a.call_id.cmp(&b.call_id)));

    let groups = |tallies: BTreeMap<String, Tally>,
                  name: &dyn Fn(&str) -> String,
                  before: Option<&Vec<DrillGroup>>|
     -> Vec<DrillGroup> {
        tallies
            .into_iter()
            .map(|(key, t)| {
                let figures = DrillFigures::from(t);
                let delta = before.and_then(|b| b.iter().find(|g| g.key == key)).map(|g| delta(&figures, &g.figures));
                DrillGroup { name: name(&key), key, figures, delta }
            })
            .collect()
    };
    let by_area = groups(tallies.by_area, &|k| area_name(registry, k), previous.map(|p| &p.by_area));
    let by_unit = groups(
        tallies.by_unit,
        &|k| unit_name(registry, k).unwrap_or_else(|| k.to_string()),
        previous.map(|p| &p.by_unit),
    );
    let by_role = groups(tallies.by_role, &role_zh, previous.map(|p| &p.by_role));
    let drill = summary(alert, tallies.all.into());
    DrillReport {
        delta: previous.map(|p| delta(&drill.figures, &p.drill.figures)),
        previous: previous.map(|p| p.drill.clone()),
        drill,
        by_area,
        by_unit,
        by_role,
        unreached,
    }
}

impl Tracker {
    /// Drills, newest first, with their overall figures.
    pub async fn drills(&self) -> Result<Vec<DrillSummary>, TrackerError> {
        let alerts = self.store.alerts_with_status("Exercise", DRILLS_LISTED).await?;
        let mut out = Vec::with_capacity(alerts.len());
        for a in &alerts {
            let calls = self.store.calls_of_alert(a.id).await?;
            out.push(drill_summary(a, &calls));
        }
        Ok(out)
    }

    /// The after-action report of drill `alert_id`; `None` when it is not a drill.
    pub async fn drill_report(&self, alert_id: i64) -> Result<Option<DrillReport>, TrackerError> {
        let Some(alert) = self.store.alert(alert_id).await?.filter(AlertRow::is_drill) else { return Ok(None) };
        let registry = self.store.load_registry().await?;
        // The previous drill: the newest one started before this one.
        let drills = self.store.alerts_with_status("Exercise", DRILLS_LISTED).await?;
        let before = drills
            .into_iter()
            .filter(|d| (d.created_at, d.id) < (alert.created_at, alert.id))
            .max_by_key(|d| (d.created_at, d.id));
        let previous = match before {
            Some(p) => {
                let calls = self.store.calls_of_alert(p.id).await?;
                Some(build_drill_report(&p, &calls, &registry, None))
            }
            None => None,
        };
        let calls = self.store.calls_of_alert(alert_id).await?;
        Ok(Some(build_drill_report(&alert, &calls, &registry, previous.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use jiaoying_core::CallState;
    use jiaoying_store::CallRow;

    use super::*;
    use crate::answer_stats::call_row;

    fn alert(id: i64, state: &str) -> AlertRow {
        AlertRow {
            id,
            source: "drill".into(),
            status: "Exercise".into(),
            msg_type: "Alert".into(),
            event: "暴雨".into(),
            tier: Tier::Red,
            headline: "演练".into(),
            description: String::new(),
            instruction: String::new(),
            onset: None,
            expires: None,
            areas: "[]".into(),
            state: state.into(),
            created_at: 1_000,
            updated_at: 1_000,
            content_sent: 1_000,
        }
    }

    /// A direct call made at 1 000 ms; `after` in ms when answered.
    fn call(
        id: i64,
        person: &str,
        roles: &str,
        area: &str,
        unit: Option<&str>,
        state: CallState,
        after: Option<i64>,
    ) -> CallListRow {
        let call = CallRow { unit_id: unit.map(str::to_string), ..call_row(id, person, roles, area, state, after) };
        CallListRow { call, name: None }
    }

    #[test]
    fn figures_per_area_unit_and_role_with_the_unreached_and_the_change_since_the_previous_drill() {
        let registry = Registry::default();
        let first_calls = vec![
            call(1, "p-a", "grid", "A", None, CallState::Answered, Some(60_000)),
            call(2, "p-b", "grid", "A", None, CallState::Escalated, None),
            call(3, "p-c", "unit", "B", Some("u-1"), CallState::Escalated, None),
        ];
        let first = build_drill_report(&alert(1, "expired"), &first_calls, &registry, None);
        assert_eq!(
            (first.drill.figures.called, first.drill.figures.answered, first.drill.figures.unreached),
            (3, 1, 2)
        );
        assert_eq!(first.previous, None);
        assert_eq!(first.unreached.iter().map(|u| u.person.id.as_str()).collect::<Vec<_>>(), ["p-b", "p-c"]);

        let mut second_calls = vec![
            call(11, "p-a", "grid", "A", None, CallState::Answered, Some(30_000)),
            call(12, "p-b", "grid", "A", None, CallState::Done, Some(90_000)),
            call(13, "p-c", "unit", "B", Some("u-1"), CallState::Sent, None),
        ];
        // An escalation call to a superior is not a person drilled.
        let mut up = call(14, "p-boss", "leader", "A", None, CallState::Answered, Some(1_000));
        up.call.level = 1;
        second_calls.push(up);
        let mut second_alert = alert(2, "active");
        second_alert.created_at = 2_000;
        let second = build_drill_report(&second_alert, &second_calls, &registry, Some(&first));
        let f = &second.drill.figures;
        assert_eq!((f.called, f.answered, f.waiting, f.unreached), (3, 2, 1, 0));
        assert_eq!(f.median_answer.as_ref().map(|d| d.ms), Some(90_000));
        assert_eq!(f.max_answer.as_ref().map(|d| d.ms), Some(90_000));
        let area_a = second.by_area.iter().find(|g| g.key == "A").expect("area A");
        assert_eq!(area_a.figures.answer_rate, Some(1.0));
        let d = area_a.delta.as_ref().expect("area A was drilled before");
        assert_eq!((d.answered, d.answer_rate), (1, Some(0.5)));
        assert_eq!(d.max_answer_ms, Some(30_000));
        let unit = second.by_unit.iter().find(|g| g.key == "u-1").expect("unit u-1");
        assert_eq!((unit.figures.called, unit.figures.waiting), (1, 1));
        assert_eq!(second.by_role.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(), ["grid", "unit"]);
        assert_eq!(second.unreached.len(), 1);
        assert_eq!((second.unreached[0].person.id.as_str(), second.unreached[0].status), ("p-c", "waiting"));
        assert_eq!(second.previous.as_ref().map(|p| p.alert_id), Some(1));
        let overall = second.delta.as_ref().expect("delta");
        assert_eq!((overall.answered, overall.unreached), (1, -2));
    }
}
