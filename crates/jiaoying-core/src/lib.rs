//! The pure domain of jiaoying: who is called for an alert, what a call may become, and what
//! happens to it at its deadline. Nothing here does I/O; every function that depends on time
//! takes `now` as an argument, so it can be tested table-driven without a runtime.

pub mod alert;
pub mod area;
pub mod call;
pub mod clock;
pub mod directive;
pub mod geo_area;
pub mod ids;
pub mod message;
pub mod metric_names;
pub mod mobile;
pub mod planner;
pub mod policy;
pub mod registry;
pub mod reply;
pub mod roster;
pub mod segments;
pub mod span;
pub mod targeting;
pub mod tier;
pub mod token;
pub mod urgency;

pub use alert::{AlertKey, AlertStatus, MsgType, NewAlert};
pub use area::AreaCode;
pub use call::CallState;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use ids::{PersonId, UnitId};
pub use mobile::{mask_mobile, mask_numbers_in, mask_recipient, MobileNumber};
pub use policy::{Policies, TierPolicy};
pub use registry::{Area, Person, Registry, Role, Unit, UnitKind};
pub use span::Span;
pub use tier::Tier;
