//! Alert ingest: the SPEC's JSON alert form parsed into the domain's `NewAlert`. (CAP 1.2 XML
//! comes in its own module with the ingest issue.) Errors say which field is wrong and sort into
//! "not JSON at all" (400) and "JSON of the wrong shape" (422).

mod json;

pub use json::{parse_json_alert, IngestError, MAX_ALERT_BYTES};
