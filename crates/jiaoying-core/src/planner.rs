//! The escalation planner: what an unanswered call needs at time `now`, and whom it goes to next.
//! Pure functions of `(now, call, policy, registry)`; the tracker applies their decisions.

use crate::area::AreaCode;
use crate::call::CallState;
use crate::clock::Timestamp;
use crate::ids::PersonId;
use crate::policy::TierPolicy;
use crate::registry::{Registry, Role};

/// What the planner needs to know of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTimer {
    pub state: CallState,
    /// Attempts made so far; the first message is attempt 1.
    pub attempts: u32,
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do: the call is answered, ended, or already escalated.
    Settled,
    /// Not yet: look again at this time.
    WaitUntil(Timestamp),
    /// Call the same person again; the new attempt's deadline.
    Repeat { attempt: u32, deadline: Timestamp },
    /// Hand the call on to whoever is next up.
    Escalate,
    /// No repeats left and escalation is off: the call ends unanswered (未叫醒).
    Expire,
}

pub fn decide(now: Timestamp, call: CallTimer, policy: &TierPolicy) -> Decision {
    if !call.state.is_waiting() {
        return Decision::Settled;
    }
    if now < call.deadline {
        return Decision::WaitUntil(call.deadline);
    }
    if call.attempts < policy.attempts() {
        return Decision::Repeat { attempt: call.attempts + 1, deadline: now.plus(policy.answer_within) };
    }
    if policy.escalate {
        Decision::Escalate
    } else {
        Decision::Expire
    }
}

/// Who an escalated call goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextUp {
    /// `superior` or `duty_officer`: the role the new calls are made in.
    pub role: &'static str,
    pub persons: Vec<PersonId>,
}

/// The next people up from `person` for a call about `area` at `now`: their superior if they
/// have one, else the duty officers on duty now for the nearest area at or above `area` (by the
/// roster; where the roster names nobody on duty now, the persons with the `duty_officer` role),
/// never the person themselves. `climb: false` skips the superior (the policy's last level). `None` when the chain has run out, so the caller flags the call
/// unreached at once instead of waiting out a delay for nobody.
pub fn next_up(registry: &Registry, person: &PersonId, area: &AreaCode, now: Timestamp, climb: bool) -> Option<NextUp> {
    if let Some(sup) = registry.person(person).and_then(|p| p.superior.clone()).filter(|_| climb) {
        if registry.person(&sup).is_some() {
            return Some(NextUp { role: Role::SUPERIOR, persons: vec![sup] });
        }
    }
    let rostered = registry
        .rosters
        .iter()
        .filter(|r| {
            r.area.covers(area) && &r.person != person && r.on_duty_at(now) && registry.person(&r.person).is_some()
        })
        .map(|r| (&r.area, &r.person));
    let by_role = registry
        .persons
        .iter()
        .filter(|p| p.has_role(Role::DUTY_OFFICER) && &p.id != person && p.area.covers(area))
        .map(|p| (&p.area, &p.id));
    nearest(rostered).or_else(|| nearest(by_role)).map(|persons| NextUp { role: Role::DUTY_OFFICER, persons })
}

/// The persons of the deepest area among `(area, person)` pairs, each once, in order met.
fn nearest<'a>(pairs: impl Iterator<Item = (&'a AreaCode, &'a PersonId)>) -> Option<Vec<PersonId>> {
    let mut best: Option<(usize, Vec<PersonId>)> = None;
    for (area, pid) in pairs {
        let depth = area.as_str().len();
        match &mut best {
            Some((d, ids)) if *d == depth => {
                if !ids.contains(pid) {
                    ids.push(pid.clone())
                }
            }
            Some((d, _)) if *d > depth => {}
            _ => best = Some((depth, vec![pid.clone()])),
        }
    }
    best.map(|(_, ids)| ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallState::*;
    use crate::mobile::MobileNumber;
    use crate::registry::{Area, Person};
    use crate::span::Span;

    fn policy(repeats: u32, escalate: bool) -> TierPolicy {
        TierPolicy {
            roles: vec![],
            channels: vec![],
            answer_within: Span::from_mins(5),
            repeats,
            escalate,
            repeat_channels: None,
            escalation_channels: None,
            max_levels: None,
        }
    }
    fn t(mins: i64) -> Timestamp {
        Timestamp(mins * 60_000)
    }
    fn timer(state: CallState, attempts: u32, deadline_min: i64) -> CallTimer {
        CallTimer { state, attempts, deadline: t(deadline_min) }
    }

    #[test]
    fn decisions_at_chosen_nows() {
        let p = policy(2, true);
        let cases = [
            // before the deadline: wait for it
            (t(4), timer(Sent, 1, 5), Decision::WaitUntil(t(5))),
            // at the deadline with repeats left: repeat, new deadline from now
            (t(5), timer(Sent, 1, 5), Decision::Repeat { attempt: 2, deadline: t(10) }),
            (t(12), timer(Delivered, 2, 10), Decision::Repeat { attempt: 3, deadline: t(17) }),
            // repeats used up: escalate
            (t(15), timer(Sent, 3, 15), Decision::Escalate),
            // answered, escalated and ended calls need nothing
            (t(99), timer(Answered, 1, 5), Decision::Settled),
            (t(99), timer(Escalated, 3, 15), Decision::Settled),
            (t(99), timer(Cancelled, 1, 5), Decision::Settled),
        ];
        for (now, call, want) in cases {
            assert_eq!(decide(now, call, &p), want, "now={now:?} call={call:?}");
        }
    }

    #[test]
    fn without_escalation_an_exhausted_call_expires() {
        assert_eq!(decide(t(5), timer(Sent, 1, 5), &policy(0, false)), Decision::Expire);
        assert_eq!(decide(t(5), timer(Sent, 1, 5), &policy(0, true)), Decision::Escalate);
    }

    fn reg() -> Registry {
        let code = |s: &str| AreaCode::parse(s).unwrap();
        let person = |id: &str, roles: &[&str], area: &str, sup: Option<&str>| Person {
            id: PersonId::parse(id).unwrap(),
            name: id.into(),
            mobile: MobileNumber::parse("13800000001").unwrap(),
            email: None,
            roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
            area: code(area),
            superior: sup.map(|s| PersonId::parse(s).unwrap()),
        };
        Registry {
            rosters: vec![],
            areas: vec![
                Area { code: code("500105002"), name: "s".into(), parent: None, polygon: None },
                Area { code: code("500105002001"), name: "c".into(), parent: Some(code("500105002")), polygon: None },
            ],
            persons: vec![
                person("leader", &["leader"], "500105002", None),
                person("head", &["community"], "500105002001", Some("leader")),
                person("grid", &["grid"], "500105002001", Some("head")),
                person("duty-street-1", &["duty_officer"], "500105002", None),
                person("duty-street-2", &["duty_officer"], "500105002", None),
                person("duty-comm", &["duty_officer"], "500105002001", None),
            ],
            units: vec![],
        }
    }

    fn pid(s: &str) -> PersonId {
        PersonId::parse(s).unwrap()
    }

    #[test]
    fn next_up_is_the_superior_while_there_is_one() {
        let r = reg();
        let a = AreaCode::parse("500105002001").unwrap();
        assert_eq!(
            next_up(&r, &pid("grid"), &a, t(0), true),
            Some(NextUp { role: "superior", persons: vec![pid("head")] })
        );
        assert_eq!(
            next_up(&r, &pid("head"), &a, t(0), true),
            Some(NextUp { role: "superior", persons: vec![pid("leader")] })
        );
    }

    #[test]
    fn after_the_chain_the_nearest_duty_officers() {
        let r = reg();
        let comm = AreaCode::parse("500105002001").unwrap();
        let street = AreaCode::parse("500105002").unwrap();
        assert_eq!(next_up(&r, &pid("leader"), &comm, t(0), true).unwrap().persons, vec![pid("duty-comm")]);
        assert_eq!(
            next_up(&r, &pid("leader"), &street, t(0), true).unwrap().persons,
            vec![pid("duty-street-1"), pid("duty-street-2")]
        );
        // A duty officer does not escalate to themselves; the street's officers are next.
        assert_eq!(
            next_up(&r, &pid("duty-comm"), &comm, t(0), true).unwrap().persons,
            vec![pid("duty-street-1"), pid("duty-street-2")]
        );
    }

    #[test]
    fn the_roster_picks_who_is_on_duty_now_and_gaps_fall_back_to_the_role() {
        use crate::roster::RosterEntry;
        let mut r = reg();
        let street = AreaCode::parse("500105002").unwrap();
        let entry = |who: &str, shift: &str| RosterEntry {
            area: street.clone(),
            person: pid(who),
            date: "1970-01-01".parse().unwrap(),
            shift: shift.parse().unwrap(),
        };
        r.rosters = vec![entry("duty-street-1", "08:00-20:00"), entry("duty-street-2", "20:00-08:00")];
        // t(0) is 08:00 in China; 12 hours later the night shift is on.
        assert_eq!(next_up(&r, &pid("leader"), &street, t(0), true).unwrap().persons, vec![pid("duty-street-1")]);
        assert_eq!(next_up(&r, &pid("leader"), &street, t(12 * 60), true).unwrap().persons, vec![pid("duty-street-2")]);
        // A day later nobody is rostered: every duty officer of the street is called.
        assert_eq!(
            next_up(&r, &pid("leader"), &street, t(36 * 60), true).unwrap().persons,
            vec![pid("duty-street-1"), pid("duty-street-2")]
        );
    }

    #[test]
    fn past_the_last_level_the_chain_skips_to_the_duty_officers() {
        let r = reg();
        let a = AreaCode::parse("500105002001").unwrap();
        assert_eq!(next_up(&r, &pid("grid"), &a, t(0), false).unwrap().persons, vec![pid("duty-comm")]);
    }

    #[test]
    fn a_chain_that_runs_out_is_none() {
        let mut r = reg();
        r.persons.retain(|p| !p.has_role("duty_officer"));
        assert_eq!(next_up(&r, &pid("leader"), &AreaCode::parse("500105002").unwrap(), t(0), true), None);
    }
}
