//! `CapAlert` → the domain's `NewAlert`.

use jiaoying_core::alert::AlertArea;
use jiaoying_core::{AlertKey, AlertStatus, AreaCode, MsgType, NewAlert, Tier, Timestamp};

use super::event::{normalise_event, EventTable};
use super::model::{CapAlert, CapArea, ValuePair};
use super::tier::{combine_tiers, normalise_tier, TierDecision, TierInput, TierTable};
use crate::IngestError;

/// Geocode schemes whose values are 行政区划代码 (GB/T 2260 codes, or the 12-digit CPEAS codes of
/// the CMA feed). A geocode's `valueName` is compared ignoring case, spaces, `/`, `-`, `_` and
/// `.`, and matches when it starts with one of these (`CPEAS Geographic Code` matches `CPEAS`).
pub const AREA_CODE_SCHEMES: &[&str] = &["GB/T 2260", "GB2260", "CPEAS", "AREACODE", "行政区划代码", "ADCODE"];

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace() && !matches!(c, '/' | '-' | '_' | '.')).collect::<String>().to_lowercase()
}

/// Whether a geocode of this `valueName` carries an administrative area code.
pub fn is_area_code_scheme(value_name: &str) -> bool {
    let name = squash(value_name);
    AREA_CODE_SCHEMES.iter().any(|s| name.starts_with(&squash(s)))
}

/// The area code of a geocode, when its scheme is one of [`AREA_CODE_SCHEMES`] and its value
/// parses with [`AreaCode::parse`]. Other geocodes (UGC, FIPS, SAME, EMMA_ID) stay in `CapAlert`.
pub fn geocode_area(g: &ValuePair) -> Option<AreaCode> {
    if is_area_code_scheme(&g.value_name) {
        AreaCode::parse(&g.value).ok()
    } else {
        None
    }
}

/// A CAP area's shapes in the domain's form: polygons and circles turned from `lat,lon` to
/// `[lon, lat]`, and geocodes that are area codes.
pub fn domain_areas(area: &CapArea) -> Vec<AlertArea> {
    let polygons = area.polygons.iter().map(|ring| AlertArea::Polygon(ring.iter().map(|p| [p.lon, p.lat]).collect()));
    let circles = area.circles.iter().map(|c| AlertArea::Circle([c.center.lon, c.center.lat, c.radius_km]));
    let codes = area.geocodes.iter().filter_map(geocode_area).map(AlertArea::Code);
    polygons.chain(circles).chain(codes).collect()
}

impl CapAlert {
    /// The tier of the message: each info block's tier from its own words, its awareness level
    /// or its severity ([`normalise_tier`]); the most explicit of these wins across blocks, and
    /// among equally explicit ones the most severe. `None` without info.
    pub fn tier_decision(&self, table: &TierTable) -> Option<TierDecision> {
        combine_tiers(self.infos.iter().map(|i| normalise_tier(table, &TierInput::from_info(i))))
    }

    /// The domain alert, with the built-in tier and event tables.
    pub fn to_new_alert(&self) -> Result<NewAlert, IngestError> {
        // The built-in tables, built once: rebuilding them per alert cost a sixth of the time.
        static TIERS: std::sync::LazyLock<TierTable> = std::sync::LazyLock::new(TierTable::default);
        static EVENTS: std::sync::LazyLock<EventTable> = std::sync::LazyLock::new(EventTable::default);
        self.to_new_alert_with(&TIERS, &EVENTS)
    }

    /// The domain alert:
    /// - key from sender, identifier and `sent` (as an instant, so `Z` and `+08:00` forms match);
    /// - references without the ones naming this message itself;
    /// - event (normalised), headline, description, instruction, onset and expires from the
    ///   preferred info ([`CapAlert::preferred_info`]: `zh-CN`, `zh`, `zh-*`, else the first);
    ///   onset falls back to `effective` when the info has no onset;
    /// - tier from [`CapAlert::tier_decision`];
    /// - areas from every info (languages repeat them; bands differ), duplicates dropped.
    ///
    /// A message without info (a Cancel, Ack or Error usually, or a Test/System message) gets an
    /// empty event and texts (a Cancel's `note`, if any, as description), no areas, and
    /// `Tier::Blue`: it names no tier of its own, and the tracker acts on the alert it references.
    /// An Actual or Exercise `Alert` or `Update` without info is refused: it would call people
    /// about nothing.
    pub fn to_new_alert_with(&self, tiers: &TierTable, events: &EventTable) -> Result<NewAlert, IngestError> {
        let key = AlertKey {
            sender: self.sender.clone(),
            identifier: self.identifier.clone(),
            sent: Timestamp::from_datetime(&self.sent),
        };
        let mut alert = NewAlert {
            key,
            msg_type: self.msg_type,
            status: self.status,
            references: self.references_to_others(),
            event: String::new(),
            tier: Tier::Blue,
            headline: String::new(),
            description: String::new(),
            instruction: String::new(),
            onset: None,
            expires: None,
            areas: Vec::new(),
        };
        let Some(info) = self.preferred_info() else {
            let calls = matches!(self.status, AlertStatus::Actual | AlertStatus::Exercise)
                && matches!(self.msg_type, MsgType::Alert | MsgType::Update);
            if calls {
                return Err(IngestError::Invalid(format!(
                    "alert.info: an {} {} needs at least one info block (event, urgency, severity, certainty)",
                    self.status.as_str(),
                    self.msg_type.as_str()
                )));
            }
            alert.description = self.note.clone().unwrap_or_default();
            return Ok(alert);
        };
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        alert.event = normalise_event(events, &info.event);
        alert.headline = text(&info.headline);
        alert.description = text(&info.description);
        alert.instruction = text(&info.instruction);
        alert.onset = info.onset.or(info.effective).map(|t| Timestamp::from_datetime(&t));
        alert.expires = info.expires.map(|t| Timestamp::from_datetime(&t));
        alert.tier = self.tier_decision(tiers).map(|d| d.tier).unwrap_or(Tier::Blue);
        for area in self.infos.iter().flat_map(|i| &i.areas) {
            for a in domain_areas(area) {
                if !alert.areas.contains(&a) {
                    alert.areas.push(a);
                }
            }
        }
        Ok(alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_code_schemes() {
        for name in [
            "GB/T 2260",
            "gb/t2260",
            "GB2260",
            "CPEAS",
            "CPEAS Geographic Code",
            "AREACODE",
            "areaCode",
            "行政区划代码",
            "adcode",
            "GB_T_2260",
        ] {
            assert!(is_area_code_scheme(name), "{name}");
        }
        for name in ["UGC", "FIPS6", "SAME", "EMMA_ID", "Taiwan_Geocode_100", "profile:CAP-CP:Location:0.3", ""] {
            assert!(!is_area_code_scheme(name), "{name}");
        }
        let g = |n: &str, v: &str| geocode_area(&ValuePair { value_name: n.into(), value: v.into() });
        assert_eq!(g("CPEAS Geographic Code", "500105002000").unwrap().as_str(), "500105002");
        assert_eq!(g("ADCODE", "500105").unwrap().as_str(), "500105");
        assert_eq!(g("ADCODE", "abc"), None);
        assert_eq!(g("FIPS6", "032013"), None);
    }
}
