//! Dispatch for jiaoying: the channel port, its adapters (console, signed SMS webhook, SMTP,
//! Aliyun, Tencent, Twilio, voice, group robots), the code that builds them from `[channels.*]`,
//! and the outbox worker.

pub mod aliyun;
pub mod build;
pub mod channel;
mod claims;
pub mod console;
mod handoff;
mod hook_guard;
mod http;
pub mod inbound;
pub mod outbox;
pub mod robots;
pub mod sms_webhook;
pub mod smtp;
pub mod tencent;
pub mod twilio;
pub mod voice_webhook;

pub use build::{build_channel, build_channel_with, build_channels, build_channels_with, BuildContext};
pub use channel::*;
pub use handoff::Handoff;
pub use http::describe_request_error;
pub use inbound::*;
