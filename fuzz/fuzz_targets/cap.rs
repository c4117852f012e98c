//! CAP 1.2/1.1 parser on untrusted bytes: `parse_cap` then `to_new_alert` must never panic,
//! whatever the input; errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(alert) = jiaoying_ingest::parse_cap(data) {
        let _ = alert.to_new_alert();
    }
});
