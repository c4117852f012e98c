//! Directives (熔断 / 断禁停撤疏): control measures that an event of a tier imposes on units of
//! given kinds. A directive call needs both an answer (收到) and a report that it was carried out
//! (已落实) within `done_within`.

use serde::{Deserialize, Serialize};

use crate::registry::UnitKind;
use crate::span::Span;
use crate::tier::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    Cut,
    Ban,
    Stop,
    Evacuate,
    Divert,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Cut => "cut",
            Measure::Ban => "ban",
            Measure::Stop => "stop",
            Measure::Evacuate => "evacuate",
            Measure::Divert => "divert",
        }
    }

    /// 断 禁 停 撤 疏
    pub fn zh(self) -> &'static str {
        match self {
            Measure::Cut => "断",
            Measure::Ban => "禁",
            Measure::Stop => "停",
            Measure::Evacuate => "撤",
            Measure::Divert => "疏",
        }
    }

    pub fn parse(s: &str) -> Option<Measure> {
        [Measure::Cut, Measure::Ban, Measure::Stop, Measure::Evacuate, Measure::Divert]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// One `[[directives]]` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectiveRule {
    /// Normalised event types (暴雨, 地质灾害, ...).
    pub events: Vec<String>,
    pub tiers: Vec<Tier>,
    pub unit_kinds: Vec<UnitKind>,
    pub measure: Measure,
    pub text: String,
    pub done_within: Span,
}

impl DirectiveRule {
    pub fn applies(&self, event: &str, tier: Tier, kind: UnitKind) -> bool {
        self.events.iter().any(|e| e == event) && self.tiers.contains(&tier) && self.unit_kinds.contains(&kind)
    }

    /// How the directive is stored on a call: `<measure>:<text>`.
    pub fn stored(&self) -> String {
        format!("{}:{}", self.measure.as_str(), self.text)
    }
}

/// The first rule that applies, in config order.
pub fn directive_for<'r>(
    rules: &'r [DirectiveRule],
    event: &str,
    tier: Tier,
    kind: UnitKind,
) -> Option<&'r DirectiveRule> {
    rules.iter().find(|r| r.applies(event, tier, kind))
}

/// A stored directive back into its measure and text.
pub fn parse_stored(s: &str) -> Option<(Measure, &str)> {
    let (m, text) = s.split_once(':')?;
    Some((Measure::parse(m)?, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> DirectiveRule {
        DirectiveRule {
            events: vec!["暴雨".into(), "地质灾害".into()],
            tiers: vec![Tier::Red, Tier::Orange],
            unit_kinds: vec![UnitKind::Construction, UnitKind::GeohazardSite],
            measure: Measure::Stop,
            text: "立即停止户外作业".into(),
            done_within: Span::from_mins(30),
        }
    }

    #[test]
    fn a_rule_applies_to_its_events_tiers_and_unit_kinds_only() {
        let r = [rule()];
        assert!(directive_for(&r, "暴雨", Tier::Red, UnitKind::Construction).is_some());
        assert!(directive_for(&r, "地质灾害", Tier::Orange, UnitKind::GeohazardSite).is_some());
        assert!(directive_for(&r, "暴雨", Tier::Yellow, UnitKind::Construction).is_none());
        assert!(directive_for(&r, "大风", Tier::Red, UnitKind::Construction).is_none());
        assert!(directive_for(&r, "暴雨", Tier::Red, UnitKind::School).is_none());
    }

    #[test]
    fn stored_form_round_trips() {
        let s = rule().stored();
        assert_eq!(s, "stop:立即停止户外作业");
        assert_eq!(parse_stored(&s), Some((Measure::Stop, "立即停止户外作业")));
        assert_eq!(parse_stored("nonsense"), None);
    }
}
