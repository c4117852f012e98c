//! The SPEC's JSON alert form on untrusted bytes: `parse_json_alert` must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = jiaoying_ingest::parse_json_alert(data);
});
