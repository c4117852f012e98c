//! Tier policy: for each tier, whom to call, on which channels, how long to wait, and what next.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::registry::Role;
use crate::span::Span;
use crate::tier::Tier;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierPolicy {
    /// Roles called directly for an alert of this tier.
    pub roles: Vec<Role>,
    /// Channel names; every attempt goes out on all of them.
    pub channels: Vec<String>,
    /// The deadline of each attempt.
    pub answer_within: Span,
    /// Attempts to the same person after the first.
    #[serde(default)]
    pub repeats: u32,
    /// After the repeats: the superior, then the area's duty officers.
    #[serde(default = "yes")]
    pub escalate: bool,
    /// Channels for the repeats (e.g. voice on the repeat); `channels` when absent.
    #[serde(default)]
    pub repeat_channels: Option<Vec<String>>,
    /// Channels for the calls escalation opens; `channels` when absent.
    #[serde(default)]
    pub escalation_channels: Option<Vec<String>>,
    /// How many superiors up the chain escalation climbs before it goes to the duty officers;
    /// unlimited when absent.
    #[serde(default)]
    pub max_levels: Option<u32>,
    /// The wait after attempt 1, 2, ... before the next repeat (e.g. `["1m", "2m"]`). At most
    /// `repeats` entries; an attempt the list does not name waits the call's answer window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeat_intervals: Vec<Span>,
    /// The answer window of a call opened by escalation, per level (entry 0 is level 1: the first
    /// superior, or the duty officers when the chain does not climb). Levels the list does not
    /// name wait `answer_within`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub level_delays: Vec<Span>,
}

fn yes() -> bool {
    true
}

impl TierPolicy {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.is(role))
    }

    pub fn repeat_channels(&self) -> &[String] {
        self.repeat_channels.as_deref().unwrap_or(&self.channels)
    }

    pub fn escalation_channels(&self) -> &[String] {
        self.escalation_channels.as_deref().unwrap_or(&self.channels)
    }

    /// Every channel the policy names, for checking them against the config.
    pub fn all_channels(&self) -> impl Iterator<Item = &String> {
        self.channels
            .iter()
            .chain(self.repeat_channels.iter().flatten())
            .chain(self.escalation_channels.iter().flatten())
    }

    /// Total attempts to one person: the first and its repeats.
    pub fn attempts(&self) -> u32 {
        1 + self.repeats
    }

    /// The answer window of a call at escalation `level` (0: called directly): the level's
    /// delay where `level_delays` names it, else `answer_within`.
    pub fn answer_window(&self, level: u32) -> Span {
        level.checked_sub(1).and_then(|i| self.level_delays.get(i as usize)).copied().unwrap_or(self.answer_within)
    }

    /// How long attempt `attempt` (1 = the first message) of a call at escalation `level` waits
    /// for an answer before the next repeat or escalation. The first attempt of an escalated call
    /// waits its level's delay (where named), so a level is called within its time; a wait
    /// before a repeat is `repeat_intervals[attempt - 1]` where named; anything else waits the
    /// call's answer window.
    pub fn wait_after(&self, level: u32, attempt: u32) -> Span {
        let level_delay = level.checked_sub(1).and_then(|i| self.level_delays.get(i as usize)).copied();
        if attempt <= 1 {
            if let Some(d) = level_delay {
                return d;
            }
        }
        let repeat_follows = attempt < self.attempts();
        attempt
            .checked_sub(1)
            .filter(|_| repeat_follows)
            .and_then(|i| self.repeat_intervals.get(i as usize))
            .copied()
            .unwrap_or_else(|| self.answer_window(level))
    }

    /// The escalation levels a call can pass through: the superiors `max_levels` allows, then the
    /// duty officers, then the leader. `None` when the superior chain is unlimited.
    pub fn escalation_levels(&self) -> Option<u32> {
        self.max_levels.map(|m| m.saturating_add(2))
    }

    /// What is wrong with this policy, each problem naming its key (the caller adds the table).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.answer_within.millis() <= 0 {
            out.push("answer_within must be positive".to_string());
        }
        for (key, spans) in [("repeat_intervals", &self.repeat_intervals), ("level_delays", &self.level_delays)] {
            for (i, s) in spans.iter().enumerate() {
                if s.millis() <= 0 {
                    out.push(format!("{key}[{i}] must be positive, not {s}"));
                }
            }
        }
        if self.repeat_intervals.len() > self.repeats as usize {
            out.push(format!(
                "repeat_intervals names {} waits but repeats = {}: there is one wait before each repeat",
                self.repeat_intervals.len(),
                self.repeats
            ));
        }
        if let Some(levels) = self.escalation_levels() {
            if self.level_delays.len() > levels as usize {
                out.push(format!(
                    "level_delays names {} levels but max_levels = {} allows {levels} ({} superiors, the duty \
                     officers, the leader)",
                    self.level_delays.len(),
                    self.max_levels.unwrap_or(0),
                    self.max_levels.unwrap_or(0)
                ));
            }
        }
        out
    }
}

/// A policy for every tier. Tiers not configured get the defaults below, so a config can name
/// only what it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies(BTreeMap<Tier, TierPolicy>);

impl Policies {
    pub fn new(configured: BTreeMap<Tier, TierPolicy>, default_channels: &[String]) -> Self {
        let mut map = BTreeMap::new();
        for tier in Tier::ALL {
            let p = configured.get(&tier).cloned().unwrap_or_else(|| default_policy(tier, default_channels));
            map.insert(tier, p);
        }
        Policies(map)
    }

    pub fn for_tier(&self, tier: Tier) -> &TierPolicy {
        // `new` fills every tier, so this cannot miss.
        &self.0[&tier]
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Tier, &TierPolicy)> {
        self.0.iter()
    }
}

/// Defaults after local practice: red calls everyone and waits 5 minutes, retried twice (three
/// calls within about 15 minutes); lower tiers reach fewer roles and wait longer.
pub fn default_policy(tier: Tier, channels: &[String]) -> TierPolicy {
    let roles: &[&str] = match tier {
        Tier::Red | Tier::Orange => {
            &["administrative", "regulatory", "unit", "grid", "community", "duty_officer", "leader"]
        }
        Tier::Yellow => &["administrative", "regulatory", "unit", "community", "duty_officer"],
        Tier::Blue => &["community", "duty_officer"],
    };
    let (within, repeats) = match tier {
        Tier::Red => (Span::from_mins(5), 2),
        Tier::Orange => (Span::from_mins(10), 2),
        Tier::Yellow => (Span::from_mins(30), 1),
        Tier::Blue => (Span::from_mins(60), 0),
    };
    TierPolicy {
        roles: roles.iter().map(|r| Role::parse(r).expect("static role")).collect(),
        channels: channels.to_vec(),
        answer_within: within,
        repeats,
        escalate: tier != Tier::Blue,
        repeat_channels: None,
        escalation_channels: None,
        max_levels: None,
        repeat_intervals: Vec::new(),
        level_delays: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(list: &[&str]) -> Vec<Span> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn policy(repeats: u32, intervals: &[&str], delays: &[&str], max_levels: Option<u32>) -> TierPolicy {
        TierPolicy {
            roles: vec![],
            channels: vec!["sms".into()],
            answer_within: Span::from_mins(5),
            repeats,
            escalate: true,
            repeat_channels: None,
            escalation_channels: None,
            max_levels,
            repeat_intervals: spans(intervals),
            level_delays: spans(delays),
        }
    }

    #[test]
    fn the_wait_after_each_attempt_at_each_level() {
        let m = Span::from_mins;
        let plain = policy(2, &[], &[], None);
        // Local practice: retried 3 times within 5 minutes, every level called within 3.
        let practice = policy(3, &["1m", "2m", "2m"], &["3m", "3m", "3m"], None);
        let some = policy(2, &["1m"], &["2m"], None);
        let cases: &[(&TierPolicy, u32, u32, Span)] = &[
            // Without the keys: answer_within everywhere, as before.
            (&plain, 0, 1, m(5)),
            (&plain, 0, 3, m(5)),
            (&plain, 4, 1, m(5)),
            (&plain, 4, 2, m(5)),
            // Repeats spaced as listed; the last attempt waits the answer window.
            (&practice, 0, 1, m(1)),
            (&practice, 0, 2, m(2)),
            (&practice, 0, 3, m(2)),
            (&practice, 0, 4, m(5)),
            // An escalated call's first attempt waits its level's delay; its repeats are spaced
            // as listed and its last attempt waits the level's window.
            (&practice, 1, 1, m(3)),
            (&practice, 1, 2, m(2)),
            (&practice, 1, 4, m(3)),
            (&practice, 3, 1, m(3)),
            // A level past the list waits answer_within.
            (&practice, 4, 1, m(1)),
            (&practice, 4, 4, m(5)),
            // Short lists: what is not named falls back.
            (&some, 0, 1, m(1)),
            (&some, 0, 2, m(5)),
            (&some, 0, 3, m(5)),
            (&some, 1, 1, m(2)),
            (&some, 1, 2, m(2)),
            (&some, 2, 1, m(1)),
            (&some, 2, 3, m(5)),
        ];
        for (i, (p, level, attempt, want)) in cases.iter().enumerate() {
            assert_eq!(p.wait_after(*level, *attempt), *want, "case {i}: level {level} attempt {attempt}");
        }
        assert_eq!(practice.answer_window(0), m(5));
        assert_eq!(practice.answer_window(2), m(3));
        assert_eq!(practice.answer_window(9), m(5));
    }

    #[test]
    fn delays_are_checked() {
        let cases: &[(TierPolicy, &[&str])] = &[
            (policy(2, &[], &[], None), &[]),
            (policy(2, &["1m", "2m"], &["3m", "3m", "5m", "9m"], None), &[]),
            (policy(1, &["1m"], &["3m", "3m", "5m"], Some(1)), &[]),
            (policy(1, &["1m", "2m"], &[], None), &["repeat_intervals names 2 waits but repeats = 1"]),
            (policy(0, &["1m"], &[], None), &["repeat_intervals names 1 waits but repeats = 0"]),
            (policy(1, &["0s"], &[], None), &["repeat_intervals[0] must be positive"]),
            (policy(1, &[], &["3m", "0m"], None), &["level_delays[1] must be positive"]),
            (
                policy(1, &[], &["3m", "3m", "3m"], Some(0)),
                &["level_delays names 3 levels but max_levels = 0 allows 2"],
            ),
        ];
        for (p, want) in cases {
            let got = p.problems();
            assert_eq!(got.len(), want.len(), "{p:?}: {got:?}");
            for w in *want {
                assert!(got.iter().any(|g| g.starts_with(w)), "{w:?} not in {got:?}");
            }
        }
        let mut zero = policy(0, &[], &[], None);
        zero.answer_within = Span::ZERO;
        assert_eq!(zero.problems(), vec!["answer_within must be positive".to_string()]);
    }
}
