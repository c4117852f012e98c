//! Dispatch for jiaoying: the channel port, its adapters (console, signed SMS webhook, SMTP) and
//! the code that builds them from `[channels.*]`.

pub mod build;
pub mod channel;
pub mod console;
pub mod outbox;
pub mod sms_webhook;
pub mod smtp;

pub use build::{build_channel, build_channels};
pub use channel::*;
