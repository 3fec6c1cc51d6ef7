//! Pure payment rules: statuses, the transition table and identifiers. No I/O here.

pub mod c2b;
mod decide;
pub mod failure;
pub mod history;
pub mod ids;
pub mod money_out;
pub mod payment;
pub mod push;

/// The longest merchant reference, in characters.
pub const MAX_REFERENCE: usize = 64;

pub use decide::{decide, decide_from};
pub use failure::FailureReason;
pub use payment::{
    account_reference, Decision, EventType, Outcome, Payment, PaymentDraft, PaymentStatus, PushState, Resolution,
    Source,
};
pub use push::{PushFields, PushTarget};
