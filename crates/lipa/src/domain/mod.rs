//! Pure payment rules: statuses, the transition table and identifiers. No I/O here.

pub mod ids;
pub mod payment;

pub use payment::{
    account_reference, decide, decide_from, Decision, EventType, Outcome, Payment, PaymentDraft, PaymentStatus,
    PushState, Resolution, Source, RESOLVED_FAILED,
};
