//! The JSON alert form of `POST /api/v1/alerts`.

use chrono::DateTime;
use jiaoying_core::alert::{AlertArea, Reference};
use jiaoying_core::{AlertKey, AlertStatus, AreaCode, MsgType, NewAlert, Tier, Timestamp};
use serde::Deserialize;

/// Largest alert body accepted, checked before parsing.
pub const MAX_ALERT_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Not parseable at all (400): not JSON, or not well-formed XML.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// Parseable, but a field is missing, of the wrong type, or invalid (422).
    #[error("{0}")]
    Invalid(String),
    /// Larger than the limit, refused before parsing (413).
    #[error("too large: {0}")]
    TooLarge(String),
    /// Hostile XML refused before or while parsing (400): a DOCTYPE/DTD, an entity other than the
    /// five predefined ones, nesting deeper than the limit, too many nodes.
    #[error("unsafe input: {0}")]
    Unsafe(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    identifier: String,
    sender: String,
    sent: String,
    #[serde(default)]
    msg_type: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    event: String,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    headline: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    instruction: Option<String>,
    #[serde(default)]
    onset: Option<String>,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    areas: Vec<RawArea>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArea {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    polygon: Option<Vec<[f64; 2]>>,
    #[serde(default)]
    circle: Option<[f64; 3]>,
}

fn invalid(msg: impl Into<String>) -> IngestError {
    IngestError::Invalid(msg.into())
}

fn time(field: &str, s: &str) -> Result<Timestamp, IngestError> {
    DateTime::parse_from_rfc3339(s.trim()).map(|dt| Timestamp::from_datetime(&dt)).map_err(|_| {
        invalid(format!("{field}: {s:?} is not a date-time with offset such as 2026-07-01T08:00:00+08:00"))
    })
}

fn required_text(field: &str, s: &str, max: usize) -> Result<String, IngestError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(format!("{field} must not be empty")));
    }
    if t.chars().count() > max {
        return Err(invalid(format!("{field} is longer than {max} characters")));
    }
    Ok(t.to_string())
}

fn optional_text(field: &str, s: Option<String>, max: usize) -> Result<String, IngestError> {
    let t = s.unwrap_or_default().trim().to_string();
    if t.chars().count() > max {
        return Err(invalid(format!("{field} is longer than {max} characters")));
    }
    Ok(t)
}

/// The tier from the words of the alert when no `tier` is given: the most severe colour named.
fn tier_from_words(texts: &[&str]) -> Option<Tier> {
    let words = [("红色", Tier::Red), ("橙色", Tier::Orange), ("黄色", Tier::Yellow), ("蓝色", Tier::Blue)];
    words.iter().filter(|(w, _)| texts.iter().any(|t| t.contains(w))).map(|(_, t)| *t).max()
}

fn msg_type(s: Option<&str>) -> Result<MsgType, IngestError> {
    Ok(match s.unwrap_or("Alert") {
        "Alert" => MsgType::Alert,
        "Update" => MsgType::Update,
        "Cancel" => MsgType::Cancel,
        "Ack" => MsgType::Ack,
        "Error" => MsgType::Error,
        other => return Err(invalid(format!("msg_type: {other:?} is not one of Alert, Update, Cancel, Ack, Error"))),
    })
}

fn status(s: Option<&str>) -> Result<AlertStatus, IngestError> {
    Ok(match s.unwrap_or("Actual") {
        "Actual" => AlertStatus::Actual,
        "Exercise" => AlertStatus::Exercise,
        "System" => AlertStatus::System,
        "Test" => AlertStatus::Test,
        "Draft" => AlertStatus::Draft,
        other => return Err(invalid(format!("status: {other:?} is not one of Actual, Exercise, System, Test, Draft"))),
    })
}

/// `sender,identifier,sent`, as CAP writes references.
fn reference(s: &str) -> Result<Reference, IngestError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [sender, identifier, sent] if !sender.is_empty() && !identifier.is_empty() => Ok(Reference {
            sender: sender.to_string(),
            identifier: identifier.to_string(),
            sent: Some(time("references", sent)?),
        }),
        _ => Err(invalid(format!("references: {s:?} is not \"sender,identifier,sent\""))),
    }
}

fn area(i: usize, a: RawArea) -> Result<AlertArea, IngestError> {
    let here = |m: &str| invalid(format!("areas[{i}]: {m}"));
    match (a.code, a.polygon, a.circle) {
        (Some(code), None, None) => AreaCode::parse(&code).map(AlertArea::Code).map_err(|e| here(&e.to_string())),
        (None, Some(poly), None) => {
            let valid_point = |[lon, lat]: [f64; 2]| (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat);
            if poly.len() < 4 || poly.first() != poly.last() {
                return Err(here("a polygon needs at least four points, the last equal to the first"));
            }
            if !poly.iter().all(|p| valid_point(*p)) {
                return Err(here("polygon points must be [lon, lat] within range"));
            }
            Ok(AlertArea::Polygon(poly))
        }
        (None, None, Some([lon, lat, r])) => {
            let valid = (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) && r > 0.0 && r <= 1000.0;
            if !valid {
                return Err(here("a circle is [lon, lat, radius in km] with 0 < radius <= 1000"));
            }
            Ok(AlertArea::Circle([lon, lat, r]))
        }
        _ => Err(here("give exactly one of code, polygon or circle")),
    }
}

/// Parses and validates the JSON alert form. Nothing is stored; the caller stores the result.
pub fn parse_json_alert(body: &[u8]) -> Result<NewAlert, IngestError> {
    if body.len() > MAX_ALERT_BYTES {
        return Err(invalid(format!("the alert is larger than {MAX_ALERT_BYTES} bytes")));
    }
    let raw: RawAlert = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => invalid(e.to_string()),
        _ => IngestError::Malformed(e.to_string()),
    })?;
    let key = AlertKey {
        sender: required_text("sender", &raw.sender, 200)?,
        identifier: required_text("identifier", &raw.identifier, 200)?,
        sent: time("sent", &raw.sent)?,
    };
    let event = required_text("event", &raw.event, 100)?;
    let headline = optional_text("headline", raw.headline, 500)?;
    let description = optional_text("description", raw.description, 10_000)?;
    let instruction = optional_text("instruction", raw.instruction, 10_000)?;
    let tier = match raw.tier.as_deref() {
        Some(t) => t.parse::<Tier>().map_err(|e| invalid(format!("tier: {e}")))?,
        None => tier_from_words(&[&event, &headline]).ok_or_else(|| {
            invalid("tier is missing and neither event nor headline names a colour (红色/橙色/黄色/蓝色)")
        })?,
    };
    let msg_type = msg_type(raw.msg_type.as_deref())?;
    let references = raw.references.iter().map(|r| reference(r)).collect::<Result<Vec<_>, _>>()?;
    if matches!(msg_type, MsgType::Update | MsgType::Cancel) && references.is_empty() {
        return Err(invalid("references: an Update or Cancel must name the message it changes"));
    }
    if raw.areas.len() > 1000 {
        return Err(invalid("areas: at most 1000 areas"));
    }
    let areas = raw.areas.into_iter().enumerate().map(|(i, a)| area(i, a)).collect::<Result<Vec<_>, _>>()?;
    let onset = raw.onset.as_deref().map(|s| time("onset", s)).transpose()?;
    let expires = raw.expires.as_deref().map(|s| time("expires", s)).transpose()?;
    Ok(NewAlert {
        key,
        msg_type,
        status: status(raw.status.as_deref())?,
        references,
        event,
        tier,
        headline,
        description,
        instruction,
        onset,
        expires,
        areas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"identifier": "cq-2026-001", "sender": "cq@cma", "sent": "2026-07-01T08:00:00+08:00",
        "event": "暴雨", "tier": "red", "headline": "暴雨红色预警", "areas": [{"code": "500105002"}]}"#;

    #[test]
    fn the_spec_form_parses() {
        let a = parse_json_alert(GOOD.as_bytes()).unwrap();
        assert_eq!(a.key.sender, "cq@cma");
        assert_eq!(a.key.sent, Timestamp(1_782_864_000_000));
        assert_eq!(a.tier, Tier::Red);
        assert_eq!(a.msg_type, MsgType::Alert);
        assert_eq!(a.status, AlertStatus::Actual);
        assert_eq!(a.area_codes(), vec![AreaCode::parse("500105002").unwrap()]);
    }

    #[test]
    fn the_same_instant_in_z_form_is_the_same_key() {
        let z = GOOD.replace("2026-07-01T08:00:00+08:00", "2026-07-01T00:00:00Z");
        assert_eq!(parse_json_alert(z.as_bytes()).unwrap().key, parse_json_alert(GOOD.as_bytes()).unwrap().key);
    }

    #[test]
    fn tier_from_the_words_when_not_given() {
        let s = GOOD.replace(r#""tier": "red", "#, "").replace("暴雨红色预警", "暴雨橙色预警");
        assert_eq!(parse_json_alert(s.as_bytes()).unwrap().tier, Tier::Orange);
    }

    #[test]
    fn malformed_is_not_invalid() {
        assert!(matches!(parse_json_alert(b"{not json"), Err(IngestError::Malformed(_))));
        assert!(matches!(parse_json_alert(b""), Err(IngestError::Malformed(_))));
        assert!(matches!(parse_json_alert(br#"{"identifier": 5}"#), Err(IngestError::Invalid(_))));
    }

    #[test]
    fn invalid_fields_are_named() {
        let cases = [
            (GOOD.replace(r#""red""#, r#""purple""#), "tier"),
            (GOOD.replace("2026-07-01T08:00:00+08:00", "yesterday"), "sent"),
            (GOOD.replace(r#"{"code": "500105002"}"#, r#"{"code": "abc"}"#), "areas[0]"),
            (GOOD.replace(r#"{"code": "500105002"}"#, r#"{"circle": [106.5, 29.5, -1]}"#), "areas[0]"),
            (GOOD.replace(r#"{"code": "500105002"}"#, r#"{"polygon": [[1,2],[3,4],[1,2]]}"#), "areas[0]"),
            (GOOD.replace(r#""event": "暴雨""#, r#""event": " ""#), "event"),
            (GOOD.replace(r#""tier""#, r#""msg_type": "Cancel", "tier""#), "references"),
            (GOOD.replace(r#""tier""#, r#""colour": 1, "tier""#), "colour"),
        ];
        for (body, field) in cases {
            match parse_json_alert(body.as_bytes()) {
                Err(IngestError::Invalid(m)) => assert!(m.contains(field), "{field}: {m}"),
                other => panic!("{field}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn references_are_cap_triples() {
        let s = GOOD.replace(
            r#""tier""#,
            r#""msg_type": "Cancel", "references": ["cq@cma,cq-2026-001,2026-07-01T08:00:00+08:00"], "tier""#,
        );
        let a = parse_json_alert(s.as_bytes()).unwrap();
        assert_eq!(a.references[0].identifier, "cq-2026-001");
    }
}
