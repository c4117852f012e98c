//! Test support for jiaoying: fresh databases on both backends, a real HTTP gateway on loopback
//! that records and checks what it receives, a real SMTP server process, and `spawn_app`.

pub mod app;
pub mod browser;
pub mod db;
pub mod gateway;
pub mod proxy;
pub mod smtp;

pub use app::{red_alert, spawn_app, spawn_app_custom, spawn_app_with, TestApp};

/// The CAP samples (a copy of `shared/cap-samples`).
pub fn cap_sample(rel: &str) -> Vec<u8> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/cap-samples").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
pub use db::{Backend, TestDb};
