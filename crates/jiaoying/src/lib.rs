//! The jiaoying binary's library half: settings, the buildable application, and the CLI
//! commands, so that tests can build and run the same application the binary runs.

pub mod app;
pub mod commands;
/// `jiaoying drill FILE` (issue 7).
pub mod drill;
pub mod duty_settings;
pub mod lifecycle;
pub mod memory;
pub mod registry_file;
pub mod settings;
pub mod telemetry;

pub use app::{AppHandle, Application};
pub use settings::Settings;
