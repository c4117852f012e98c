//! The jiaoying binary's library half: settings, the buildable application, and the CLI
//! commands, so that tests can build and run the same application the binary runs.

pub mod app;
pub mod commands;
pub mod registry_file;
pub mod settings;
pub mod telemetry;

pub use app::{AppHandle, Application};
pub use settings::Settings;
