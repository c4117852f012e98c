//! Test support for jiaoying: fresh databases on both backends, a real HTTP gateway on loopback
//! that records and checks what it receives, a real SMTP server process, and `spawn_app`.

pub mod app;
pub mod db;
pub mod gateway;
pub mod smtp;

pub use app::{red_alert, spawn_app, TestApp};
pub use db::{Backend, TestDb};
