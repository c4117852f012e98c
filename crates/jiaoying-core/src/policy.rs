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
    }
}
