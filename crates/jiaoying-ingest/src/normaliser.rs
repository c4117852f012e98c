//! The normalisation tables in one value: every ingest path (pushed CAP, pushed JSON, polled
//! feeds) turns bytes into a `NewAlert` through the same tables, which come from the config.

use jiaoying_core::NewAlert;
use serde::Deserialize;

use crate::cap::{normalise_event, parse_cap, EventTable, TierTable};
use crate::json::{parse_json_alert, IngestError};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normaliser {
    /// Colour and level words, English words, awareness levels, severities → tier.
    #[serde(default)]
    pub tiers: TierTable,
    /// Event names and aliases → the normalised event type (暴雨, 台风, 地质灾害, ...).
    #[serde(default)]
    pub events: EventTable,
}

impl Normaliser {
    pub fn cap_alert(&self, bytes: &[u8]) -> Result<NewAlert, IngestError> {
        parse_cap(bytes)?.to_new_alert_with(&self.tiers, &self.events)
    }

    /// The JSON form maps onto the same model: its event is normalised like a CAP event.
    pub fn json_alert(&self, bytes: &[u8]) -> Result<NewAlert, IngestError> {
        let mut alert = parse_json_alert(bytes)?;
        alert.event = normalise_event(&self.events, &alert.event);
        Ok(alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_events_are_normalised_too() {
        let body = r#"{"identifier": "x", "sender": "s", "sent": "2026-07-01T08:00:00+08:00",
            "event": "暴雨红色预警信号", "tier": "red", "areas": []}"#;
        assert_eq!(Normaliser::default().json_alert(body.as_bytes()).unwrap().event, "暴雨");
    }
}
