//! Alert ingest: the SPEC's JSON alert form and CAP 1.2 (and 1.1) XML, parsed into the domain's
//! `NewAlert`. Errors say which field or element is wrong and sort into "not parseable at all"
//! (`Malformed`, 400), "parseable but invalid" (`Invalid`, 422), "too large" (`TooLarge`, 413)
//! and "hostile" (`Unsafe`, 400: DTDs, entities, deep nesting).

pub mod cap;
mod json;
mod normaliser;
pub mod xml;

pub use cap::{parse_cap, parse_cap_alert, CapAlert, CapInfo, EventTable, TierTable, MAX_CAP_BYTES};
pub use json::{parse_json_alert, IngestError, MAX_ALERT_BYTES};
pub use normaliser::Normaliser;
