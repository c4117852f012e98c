//! The answer tracker: turns an accepted alert into calls, takes answers, and runs the timers
//! that repeat and escalate unanswered calls. All state lives in the database; this crate holds
//! the rules for changing it, each change one short transaction.

mod accept;
mod answer;
mod answer_batch;
/// Answer rates and times per area, unit and role, for the drill and reachability reports.
mod answer_stats;
pub mod board;
mod calls;
mod compose;
mod context;
/// The after-action report of drills (issue 7).
pub mod drill_report;
/// Scheduled duties (issue 7).
pub mod duties;
pub mod officer;
mod runner;
pub mod templates;
mod timers;
mod voice;

pub use accept::{AcceptError, Accepted};
pub use answer::{AnswerOutcome, AnswerRequest, DoneOutcome, ReplyOutcome};
pub use compose::Composer;
pub use context::{Tracker, TrackerConfig, TrackerError};
pub use officer::{CancelOutcome, ManualError, RecallOutcome, MANUAL_SOURCE};
pub use runner::{beaten, run_loop, Outage, Pulse, Step};
pub use templates::{TemplateError, Templates};
pub use voice::VoiceOutcome;
