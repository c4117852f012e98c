//! Who answered and how fast, added up per area, unit and role: the figures a drill's
//! after-action report and a reachability test's report both show. Pure: the reports build
//! their own views (and names) from these tallies.

use std::collections::BTreeMap;

use jiaoying_core::CallState;
use jiaoying_store::CallRow;

use crate::board::Dur;

/// What a direct call tells of its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered (or answered and done), this many milliseconds after the call was made.
    Answered(Option<i64>),
    /// Not answered, and still waiting: the drill or the test's window is still open.
    Waiting,
    /// Not answered and no longer waiting: repeated and escalated in vain, expired, or no channel
    /// reaches the person.
    Unreached,
}

impl Outcome {
    /// The outcome of `call`; `open` while the drill runs or the test's window is open.
    pub(crate) fn of(call: &CallRow, open: bool) -> Outcome {
        match call.state {
            // Never negative: a clock set back between the call and its answer is not a speed.
            CallState::Answered | CallState::Done => {
                Outcome::Answered(call.answered_at.map(|a| (a - call.created_at).max(0)))
            }
            s if open && s.is_waiting() && !call.unreached => Outcome::Waiting,
            _ => Outcome::Unreached,
        }
    }

    /// `answered`, `waiting` or `unreached`, as the reports name a person's status.
    pub(crate) fn status(self) -> &'static str {
        match self {
            Outcome::Answered(_) => "answered",
            Outcome::Waiting => "waiting",
            Outcome::Unreached => "unreached",
        }
    }
}

/// The roles a call was made in (stored `;`-separated).
pub(crate) fn call_roles(call: &CallRow) -> Vec<String> {
    call.roles.split(';').filter(|r| !r.is_empty()).map(str::to_string).collect()
}

/// Counts and answer times of a group of calls; each report shows the figures it names.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub called: usize,
    pub answered: usize,
    pub waiting: usize,
    pub unreached: usize,
    /// From the call to its answer, of those answered (sorted by [`Tally::median_answer`]).
    times: Vec<i64>,
}

impl Tally {
    pub(crate) fn add(&mut self, o: Outcome) {
        self.called += 1;
        match o {
            Outcome::Answered(after) => {
                self.answered += 1;
                self.times.extend(after);
            }
            Outcome::Waiting => self.waiting += 1,
            Outcome::Unreached => self.unreached += 1,
        }
    }

    /// Answered share, 0..1; `None` when nobody was called.
    pub(crate) fn answer_rate(&self) -> Option<f64> {
        (self.called > 0).then(|| self.answered as f64 / self.called as f64)
    }

    pub(crate) fn median_answer(&mut self) -> Option<Dur> {
        self.times.sort_unstable();
        self.times.get(self.times.len() / 2).map(|m| Dur::new(*m))
    }

    pub(crate) fn average_answer(&self) -> Option<Dur> {
        let n = self.times.len() as i64;
        (n > 0).then(|| Dur::new(self.times.iter().sum::<i64>() / n))
    }

    pub(crate) fn slowest_answer(&self) -> Option<Dur> {
        self.times.iter().max().map(|m| Dur::new(*m))
    }
}

/// The tallies of everyone and of each area, unit and role (keyed by area code, unit id, role).
#[derive(Debug, Default)]
pub(crate) struct GroupTallies {
    pub all: Tally,
    pub by_area: BTreeMap<String, Tally>,
    pub by_unit: BTreeMap<String, Tally>,
    pub by_role: BTreeMap<String, Tally>,
}

impl GroupTallies {
    /// Counts `call` with outcome `o` in every group it belongs to.
    pub(crate) fn add(&mut self, call: &CallRow, o: Outcome) {
        self.all.add(o);
        self.by_area.entry(call.area.clone()).or_default().add(o);
        if let Some(u) = &call.unit_id {
            self.by_unit.entry(u.clone()).or_default().add(o);
        }
        for r in call_roles(call) {
            self.by_role.entry(r).or_default().add(o);
        }
    }
}

/// A direct call made at 1 000 ms, answered `answered_after` ms later by SMS when `Some`: the
/// row the crate's unit tests start from.
#[cfg(test)]
pub(crate) fn call_row(
    id: i64,
    person: &str,
    roles: &str,
    area: &str,
    state: CallState,
    answered_after: Option<i64>,
) -> CallRow {
    CallRow {
        id,
        alert_id: 1,
        person_id: person.into(),
        roles: roles.into(),
        unit_id: None,
        area: area.into(),
        level: 0,
        state,
        reply_code: "1234".into(),
        attempts: 1,
        deadline: 301_000,
        next_action_at: None,
        answered_at: answered_after.map(|a| 1_000 + a),
        answered_via: answered_after.map(|_| "sms".into()),
        answered_by: None,
        answer_note: None,
        late: false,
        unreached: false,
        escalated_from: None,
        escalated_to: None,
        created_at: 1_000,
        updated_at: 1_000,
        directive: None,
        done_within: None,
        done_at: None,
        done_report: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(state: CallState, answered_after: Option<i64>) -> CallRow {
        CallRow {
            roles: "grid;;leader".into(),
            unit_id: Some("u-1".into()),
            ..call_row(1, "p", "", "A", state, answered_after)
        }
    }

    #[test]
    fn an_unanswered_call_waits_only_while_open_and_reachable() {
        assert_eq!(Outcome::of(&call(CallState::Done, Some(5)), false), Outcome::Answered(Some(5)));
        assert_eq!(Outcome::of(&call(CallState::Answered, Some(-5)), true), Outcome::Answered(Some(0)));
        assert_eq!(Outcome::of(&call(CallState::Sent, None), true), Outcome::Waiting);
        assert_eq!(Outcome::of(&call(CallState::Sent, None), false), Outcome::Unreached);
        let mut no_contact = call(CallState::Pending, None);
        no_contact.unreached = true;
        assert_eq!(Outcome::of(&no_contact, true).status(), "unreached");
    }

    #[test]
    fn figures_per_group_with_median_average_and_slowest() {
        let mut t = GroupTallies::default();
        for (state, after) in [
            (CallState::Answered, Some(10)),
            (CallState::Answered, Some(40)),
            (CallState::Done, Some(100)),
            (CallState::Escalated, None),
        ] {
            let c = call(state, after);
            t.add(&c, Outcome::of(&c, false));
        }
        let mut f = t.all;
        assert_eq!((f.called, f.answered, f.waiting, f.unreached), (4, 3, 0, 1));
        assert_eq!(f.answer_rate(), Some(0.75));
        let ms = |d: Option<Dur>| d.map(|d| d.ms);
        assert_eq!(
            (ms(f.median_answer()), ms(f.average_answer()), ms(f.slowest_answer())),
            (Some(40), Some(50), Some(100))
        );
        assert_eq!(t.by_role.keys().collect::<Vec<_>>(), ["grid", "leader"], "empty roles are none");
        assert_eq!(t.by_unit["u-1"].called, 4);
        assert_eq!((Tally::default().answer_rate(), Tally::default().median_answer()), (None, None));
    }
}
