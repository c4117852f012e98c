//! Atom/RSS index parser on untrusted bytes, resolved against a fixed feed URL: must never panic.
#![no_main]

use std::sync::OnceLock;

use jiaoying_feeds::{parse_index, Url};
use libfuzzer_sys::fuzz_target;

fn base() -> &'static Url {
    static BASE: OnceLock<Url> = OnceLock::new();
    BASE.get_or_init(|| Url::parse("https://alerts.example.org/feeds/cap/index.atom").expect("valid base URL"))
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_index(data, base());
});
