//! CAP 1.2 (and 1.1) XML alerts.
//!
//! Two steps, so that a caller can keep the whole message and still hand the domain its form:
//! [`parse_cap`] turns bytes into a [`CapAlert`] that keeps every element of the standard, and
//! [`CapAlert::to_new_alert`] turns that into the domain's `NewAlert` (event and tier normalised).
//! [`parse_cap_alert`] does both, for callers that need only the `NewAlert`.
//!
//! What is refused, and how (the HTTP status is the web layer's mapping of `IngestError`):
//! - more than [`MAX_CAP_BYTES`]: `TooLarge` (413), before anything else is done;
//! - a DOCTYPE/DTD, an entity other than the five predefined ones, nesting deeper than
//!   [`MAX_CAP_DEPTH`], more than [`MAX_CAP_NODES`] nodes: `Unsafe` (400). Nothing is ever
//!   fetched; XInclude and other foreign elements are ignored, never processed;
//! - bytes that are not well-formed XML in their declared encoding: `Malformed` (400);
//! - well-formed XML that is not a valid CAP alert: `Invalid` (422), listing every problem found
//!   with the path of its element, e.g. `alert.info[0].area[0].polygon[0]: ...`.
//!
//! What real feeds send and is accepted: a UTF-8 BOM; a declared `encoding` other than UTF-8
//! (`ISO-8859-1` as the WHATWG Encoding Standard reads it, i.e. windows-1252, GB18030, Big5,
//! ...); UTF-16 with a BOM; any namespace prefix (`<cap:alert>`); the CAP 1.1 namespace; `Z`
//! and fractional seconds in times; polygon points separated by newlines and tabs; empty
//! optional elements (absent) and empty `<value>`s; enumerations in any ASCII case; CAP 1.0's
//! `Very Likely` (as `Likely`) and `sender,identifier` references; references that name the
//! message itself (kept in `CapAlert`, dropped from `NewAlert`); a Cancel without info; an
//! unverified `<ds:Signature>` (kept as raw XML); unknown elements (ignored).

mod convert;
mod decode;
mod event;
mod model;
mod parse;
mod tier;
mod validate;

pub use convert::{domain_areas, geocode_area, is_area_code_scheme, AREA_CODE_SCHEMES};
pub use decode::{MAX_CAP_BYTES, MAX_CAP_DEPTH, MAX_CAP_NODES};
pub use event::{normalise_event, EventAlias, EventTable};
pub use model::{
    CapAlert, CapArea, CapCircle, CapInfo, CapResource, CapVersion, Category, Certainty, LatLon, ResponseType, Scope,
    Severity, Urgency, ValuePair, CAP_1_1_NS, CAP_1_2_NS, XMLDSIG_NS,
};
pub use tier::{
    awareness_tier, combine_tiers, normalise_tier, tier_in_parameter, tier_in_text, SeverityTiers, TierDecision,
    TierInput, TierSource, TierTable, TierWord,
};
pub use validate::{parse_circle, parse_point, parse_polygon, parse_reference, parse_time};

use jiaoying_core::NewAlert;

use crate::IngestError;

/// Parses and validates a CAP document. Nothing is stored; the caller stores the result.
pub fn parse_cap(bytes: &[u8]) -> Result<CapAlert, IngestError> {
    let text = decode::to_utf8(bytes)?;
    decode::prescan(&text)?;
    let doc = decode::parse_tree(&text)?;
    parse::alert(&doc, &text)
}

/// [`parse_cap`] then [`CapAlert::to_new_alert`]: the CAP counterpart of `parse_json_alert`.
pub fn parse_cap_alert(bytes: &[u8]) -> Result<NewAlert, IngestError> {
    parse_cap(bytes)?.to_new_alert()
}
