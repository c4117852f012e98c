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
    /// The call's escalation level (0: called directly); picks the wait before each repeat.
    pub level: u32,
    /// Flagged unreached while still waiting: no channel of the policy could reach the person,
    /// so neither the deadline nor a repeat is worth waiting for.
    pub unreached: bool,
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
    let give_up = if policy.escalate { Decision::Escalate } else { Decision::Expire };
    if call.unreached {
        // Nobody to wait for: no step waits out a delay for nobody.
        return give_up;
    }
    if now < call.deadline {
        return Decision::WaitUntil(call.deadline);
    }
    if call.attempts < policy.attempts() {
        let attempt = call.attempts + 1;
        return Decision::Repeat { attempt, deadline: now.plus(policy.wait_after(call.level, attempt)) };
    }
    give_up
}

/// The levels of the escalation chain, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The person's superior, climbing while the policy's `max_levels` allows.
    Superior,
    /// The duty officers on duty now for the nearest area (the roster; the role where it has a gap).
    DutyOfficers,
    /// The leader of the nearest area at or above the call's area.
    Leader,
}

/// An unanswered call about to be handed on.
#[derive(Debug, Clone, Copy)]
pub struct Escalating<'a> {
    pub person: &'a PersonId,
    pub area: &'a AreaCode,
    /// The role the call was made in (the first, when several).
    pub role: &'a str,
    /// The call's escalation level (0: called directly).
    pub level: u32,
    /// Whether the chain may still climb to a superior (below the policy's `max_levels`).
    pub climb: bool,
}

impl Escalating<'_> {
    /// The first level to try after this call: a call the escalation made to the duty officers
    /// goes on to the leader, one made to the leader is the end of the chain, and any other call
    /// climbs to the superior (or, past the last level, skips to the duty officers).
    pub fn next_level(&self) -> Option<Level> {
        match (self.level, self.role) {
            (0, _) => Some(Level::Superior),
            (_, Role::DUTY_OFFICER) => Some(Level::Leader),
            (_, Role::LEADER) => None,
            _ => Some(Level::Superior),
        }
    }
}

/// Who an escalated call goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextUp {
    /// `superior`, `duty_officer` or `leader`: the role the new calls are made in.
    pub role: &'static str,
    pub persons: Vec<PersonId>,
}

/// The next people up from the escalating call `from` at `now`, never its own person, in the
/// order superior → duty officers on duty now → leader (see [`Escalating::next_level`] for where
/// a call starts). `called` tells who already has a call in this alert: nobody is called twice.
///
/// - The superior is returned even when already called: their own call carries the chain on, so
///   the tracker links to it (and tells them if they have answered) rather than skipping past
///   them to their superior while they are still being called.
/// - At the duty officer and leader levels the already called are skipped, and a level that offers
///   nobody new is passed over for the next. When no level offers anyone new, the already called
///   of the first level that had anyone are returned for the tracker to link to, so the call is
///   flagged unreached at once unless one of them is still being called or has answered.
///
/// `None` when the chain has run out, so the caller flags the call unreached at once instead of
/// waiting out a delay for nobody.
pub fn next_up(
    registry: &Registry,
    from: &Escalating<'_>,
    now: Timestamp,
    called: impl Fn(&PersonId) -> bool,
) -> Option<NextUp> {
    let first = from.next_level()?;
    if first == Level::Superior && from.climb {
        let sup = registry.person(from.person).and_then(|p| p.superior.as_ref());
        if let Some(sup) = sup.filter(|s| *s != from.person && registry.person(s).is_some()) {
            return Some(NextUp { role: Role::SUPERIOR, persons: vec![sup.clone()] });
        }
    }
    let mut levels: Vec<(&'static str, Vec<Vec<PersonId>>)> = Vec::new();
    if first <= Level::DutyOfficers {
        levels.push((Role::DUTY_OFFICER, duty_officers(registry, from, now)));
    }
    levels.push((Role::LEADER, leaders(registry, from)));
    for (role, groups) in &levels {
        for group in groups {
            let new: Vec<PersonId> = group.iter().filter(|p| !called(p)).cloned().collect();
            if !new.is_empty() {
                return Some(NextUp { role, persons: new });
            }
        }
    }
    levels
        .into_iter()
        .find_map(|(role, groups)| groups.into_iter().find(|g| !g.is_empty()).map(|persons| NextUp { role, persons }))
}

/// The duty officers for the call's area, nearest area first: those the roster has on duty now,
/// or, where the roster names nobody on duty now, the persons with the `duty_officer` role.
fn duty_officers(registry: &Registry, from: &Escalating<'_>, now: Timestamp) -> Vec<Vec<PersonId>> {
    let rostered = nearest_first(registry.rosters.iter().filter_map(|r| {
        (r.area.covers(from.area)
            && &r.person != from.person
            && r.on_duty_at(now)
            && registry.person(&r.person).is_some())
        .then_some((&r.area, &r.person))
    }));
    if !rostered.is_empty() {
        return rostered;
    }
    nearest_first(registry.persons.iter().filter_map(|p| {
        (p.has_role(Role::DUTY_OFFICER) && &p.id != from.person && p.area.covers(from.area)).then_some((&p.area, &p.id))
    }))
}

/// The leaders of the call's area or its ancestors, nearest area first.
fn leaders(registry: &Registry, from: &Escalating<'_>) -> Vec<Vec<PersonId>> {
    nearest_first(registry.persons.iter().filter_map(|p| {
        (p.has_role(Role::LEADER) && &p.id != from.person && p.area.covers(from.area)).then_some((&p.area, &p.id))
    }))
}

/// `(area, person)` pairs grouped by area depth, deepest (nearest) first; each person once, in
/// the group of their nearest area, in the order met.
fn nearest_first<'a>(pairs: impl Iterator<Item = (&'a AreaCode, &'a PersonId)>) -> Vec<Vec<PersonId>> {
    let mut by_depth: Vec<(usize, Vec<PersonId>)> = Vec::new();
    let mut pairs: Vec<(usize, &PersonId)> = pairs.map(|(a, p)| (a.as_str().len(), p)).collect();
    // Stable: within one depth the order met is kept.
    pairs.sort_by_key(|p| std::cmp::Reverse(p.0));
    let mut seen = std::collections::HashSet::new();
    for (depth, pid) in pairs {
        if !seen.insert(pid) {
            continue;
        }
        match by_depth.last_mut() {
            Some((d, ids)) if *d == depth => ids.push(pid.clone()),
            _ => by_depth.push((depth, vec![pid.clone()])),
        }
    }
    by_depth.into_iter().map(|(_, ids)| ids).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallState::*;
    use crate::mobile::MobileNumber;
    use crate::registry::{Area, Person};
    use crate::roster::RosterEntry;
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
            repeat_intervals: vec![],
            level_delays: vec![],
        }
    }
    fn t(mins: i64) -> Timestamp {
        Timestamp(mins * 60_000)
    }
    fn timer(state: CallState, attempts: u32, deadline_min: i64) -> CallTimer {
        CallTimer { state, attempts, deadline: t(deadline_min), level: 0, unreached: false }
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
    fn repeats_wait_the_configured_intervals_at_each_level() {
        let mut p = policy(3, true);
        p.repeat_intervals = vec![Span::from_mins(1), Span::from_mins(2)];
        p.level_delays = vec![Span::from_mins(3)];
        let at = |level: u32, attempts: u32, deadline: i64| CallTimer { level, ..timer(Sent, attempts, deadline) };
        let cases = [
            // The first repeat after attempt 2 waits the second interval, the third attempt
            // (not listed) the answer window, then escalation.
            (t(1), at(0, 1, 1), Decision::Repeat { attempt: 2, deadline: t(3) }),
            (t(3), at(0, 2, 3), Decision::Repeat { attempt: 3, deadline: t(8) }),
            (t(8), at(0, 3, 8), Decision::Repeat { attempt: 4, deadline: t(13) }),
            (t(13), at(0, 4, 13), Decision::Escalate),
            // An escalated call's repeats: spaced the same, the last waits its level's window.
            (t(3), at(1, 1, 3), Decision::Repeat { attempt: 2, deadline: t(5) }),
            (t(5), at(1, 2, 5), Decision::Repeat { attempt: 3, deadline: t(8) }),
            (t(5), at(2, 2, 5), Decision::Repeat { attempt: 3, deadline: t(10) }),
            // Before the interval is up nothing happens.
            (t(0), at(0, 1, 1), Decision::WaitUntil(t(1))),
        ];
        for (now, call, want) in cases {
            assert_eq!(decide(now, call, &p), want, "now={now:?} call={call:?}");
        }
    }

    #[test]
    fn an_unreached_call_gives_up_at_once() {
        let unreached = CallTimer { unreached: true, ..timer(Pending, 1, 5) };
        // Long before the deadline and with repeats left: nobody to wait for.
        assert_eq!(decide(t(0), unreached, &policy(2, true)), Decision::Escalate);
        assert_eq!(decide(t(0), unreached, &policy(2, false)), Decision::Expire);
        // Once escalated it needs nothing more.
        assert_eq!(decide(t(0), CallTimer { state: Escalated, ..unreached }, &policy(2, true)), Decision::Settled);
    }

    #[test]
    fn without_escalation_an_exhausted_call_expires() {
        assert_eq!(decide(t(5), timer(Sent, 1, 5), &policy(0, false)), Decision::Expire);
        assert_eq!(decide(t(5), timer(Sent, 1, 5), &policy(0, true)), Decision::Escalate);
    }

    const DISTRICT: &str = "500105";
    const STREET: &str = "500105002";
    const COMM: &str = "500105002001";

    fn code(s: &str) -> AreaCode {
        AreaCode::parse(s).unwrap()
    }
    fn pid(s: &str) -> PersonId {
        PersonId::parse(s).unwrap()
    }
    fn pids(list: &[&str]) -> Vec<PersonId> {
        list.iter().map(|s| pid(s)).collect()
    }

    /// District > street > community. grid → head → leader is the superior chain; two duty
    /// officers at the street and one at the community; leaders at the street and the district.
    fn reg() -> Registry {
        let person = |id: &str, roles: &[&str], area: &str, sup: Option<&str>| Person {
            id: pid(id),
            name: id.into(),
            mobile: MobileNumber::parse("13800000001").unwrap(),
            email: None,
            roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
            area: code(area),
            superior: sup.map(pid),
        };
        Registry {
            rosters: vec![],
            areas: vec![
                Area { code: code(DISTRICT), name: "d".into(), parent: None, polygon: None },
                Area { code: code(STREET), name: "s".into(), parent: Some(code(DISTRICT)), polygon: None },
                Area { code: code(COMM), name: "c".into(), parent: Some(code(STREET)), polygon: None },
            ],
            persons: vec![
                person("leader-district", &["leader"], DISTRICT, None),
                person("leader", &["leader"], STREET, None),
                person("head", &["community"], COMM, Some("leader")),
                person("grid", &["grid"], COMM, Some("head")),
                person("duty-street-1", &["duty_officer"], STREET, None),
                person("duty-street-2", &["duty_officer"], STREET, None),
                person("duty-comm", &["duty_officer"], COMM, None),
            ],
            units: vec![],
        }
    }

    /// One escalation: from whom (person, role, level, climb), about which area, with whom
    /// already called in the alert, and what comes next.
    struct Case {
        person: &'static str,
        role: &'static str,
        level: u32,
        climb: bool,
        area: &'static str,
        called: &'static [&'static str],
        want: Option<(&'static str, &'static [&'static str])>,
    }

    fn check(r: &Registry, now: Timestamp, cases: &[Case]) {
        for (i, c) in cases.iter().enumerate() {
            let (person, area) = (pid(c.person), code(c.area));
            let from = Escalating { person: &person, area: &area, role: c.role, level: c.level, climb: c.climb };
            let called = pids(c.called);
            let got = next_up(r, &from, now, |p| called.contains(p) || p == &person);
            let want = c.want.map(|(role, persons)| NextUp { role, persons: pids(persons) });
            assert_eq!(got, want, "case {i}: from {} ({}, level {})", c.person, c.role, c.level);
        }
    }

    #[test]
    fn the_chain_climbs_then_duty_officers_then_the_leader_then_runs_out() {
        let r = reg();
        let case =
            |person, role, level, called, want| Case { person, role, level, climb: true, area: COMM, called, want };
        check(
            &r,
            t(0),
            &[
                // The superior chain, one level at a time.
                case("grid", "grid", 0, &[], Some(("superior", &["head"]))),
                case("head", "superior", 1, &["grid"], Some(("superior", &["leader"]))),
                // No superior above: the nearest duty officers.
                case("leader", "superior", 2, &["grid", "head"], Some(("duty_officer", &["duty-comm"]))),
                // After the duty officers, the nearest leader.
                case("duty-comm", "duty_officer", 3, &["grid", "head"], Some(("leader", &["leader"]))),
                // The street's leader already called (as the superior above): the district's.
                case(
                    "duty-comm",
                    "duty_officer",
                    3,
                    &["grid", "head", "leader"],
                    Some(("leader", &["leader-district"])),
                ),
                // After the leader nobody is left.
                case("leader-district", "leader", 4, &["grid", "head", "leader", "duty-comm"], None),
                // Every leader already called: their calls are linked, nobody is called again.
                case("duty-comm", "duty_officer", 3, &["leader", "leader-district"], Some(("leader", &["leader"]))),
                // A direct call of a duty officer climbs first (none above) then goes to the other
                // duty officers: the street's, as the community's only one is themselves.
                case("duty-comm", "duty_officer", 0, &[], Some(("duty_officer", &["duty-street-1", "duty-street-2"]))),
                // A direct call of a leader skips themselves at the leader step.
                case(
                    "leader",
                    "leader",
                    0,
                    &["duty-comm", "duty-street-1", "duty-street-2"],
                    Some(("leader", &["leader-district"])),
                ),
            ],
        );
    }

    #[test]
    fn past_the_last_level_the_chain_skips_to_the_duty_officers() {
        let r = reg();
        let case = |person, role, level| Case {
            person,
            role,
            level,
            climb: false,
            area: COMM,
            called: &[],
            want: Some(("duty_officer", &["duty-comm"])),
        };
        check(&r, t(0), &[case("grid", "grid", 0), case("head", "superior", 1)]);
    }

    #[test]
    fn already_called_persons_are_skipped_and_a_level_of_them_passed_over() {
        let r = reg();
        let case =
            |called, want| Case { person: "leader", role: "superior", level: 2, climb: true, area: COMM, called, want };
        check(
            &r,
            t(0),
            &[
                // The community's duty officer already called: the street's are next.
                case(&["duty-comm"], Some(("duty_officer", &["duty-street-1", "duty-street-2"]))),
                // Only those not yet called of a level.
                case(&["duty-comm", "duty-street-1"], Some(("duty_officer", &["duty-street-2"]))),
                // Every duty officer called: on to the leader (the street's leader is the one escalating).
                case(&["duty-comm", "duty-street-1", "duty-street-2"], Some(("leader", &["leader-district"]))),
                // Nobody new anywhere: the first duty officers are linked, nobody called twice.
                case(
                    &["duty-comm", "duty-street-1", "duty-street-2", "leader-district"],
                    Some(("duty_officer", &["duty-comm"])),
                ),
            ],
        );
        // A superior already called is still the next level: the call links to theirs.
        check(
            &r,
            t(0),
            &[Case {
                person: "grid",
                role: "grid",
                level: 0,
                climb: true,
                area: COMM,
                called: &["head"],
                want: Some(("superior", &["head"])),
            }],
        );
    }

    #[test]
    fn the_roster_picks_who_is_on_duty_now_and_gaps_fall_back_to_the_role() {
        let mut r = reg();
        let entry = |who: &str, shift: &str| RosterEntry {
            area: code(STREET),
            person: pid(who),
            date: "1970-01-01".parse().unwrap(),
            shift: shift.parse().unwrap(),
        };
        r.rosters = vec![entry("duty-street-1", "08:00-20:00"), entry("duty-street-2", "20:00-08:00")];
        let case =
            |area, called, want| Case { person: "leader", role: "superior", level: 2, climb: true, area, called, want };
        // t(0) is 08:00 in China: the day shift.
        check(
            &r,
            t(0),
            &[
                // Rostered officers come before the community's unrostered one.
                case(COMM, &[], Some(("duty_officer", &["duty-street-1"]))),
                case(STREET, &[], Some(("duty_officer", &["duty-street-1"]))),
                // The one on duty already called: the off-duty one is not, the leader is next.
                case(STREET, &["duty-street-1"], Some(("leader", &["leader-district"]))),
            ],
        );
        // 12 hours later the night shift is on.
        check(&r, t(12 * 60), &[case(STREET, &[], Some(("duty_officer", &["duty-street-2"])))]);
        // A day later the roster has a gap: every duty officer by role, nearest first.
        check(
            &r,
            t(36 * 60),
            &[
                case(STREET, &[], Some(("duty_officer", &["duty-street-1", "duty-street-2"]))),
                case(COMM, &[], Some(("duty_officer", &["duty-comm"]))),
            ],
        );
    }

    #[test]
    fn a_chain_that_runs_out_is_none() {
        let mut r = reg();
        r.persons.retain(|p| !p.has_role("duty_officer") && p.id.as_str() != "leader-district");
        let case =
            |person, role, level| Case { person, role, level, climb: true, area: STREET, called: &[], want: None };
        // The street's leader has no superior, no duty officer exists, and the only leader is themselves.
        check(&r, t(0), &[case("leader", "superior", 1), case("leader", "leader", 0)]);
        // After the leader step nothing follows, whoever is registered.
        check(&reg(), t(0), &[case("leader", "leader", 3)]);
    }
}
