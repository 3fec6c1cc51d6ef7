//! Pure payment rules: statuses, the transition table and identifiers. No I/O here.

pub mod ids;
pub mod payment;
pub mod push;

pub use payment::{
    decide, decide_from, Decision, EventType, Outcome, Payment, PaymentDraft, PaymentStatus, PushState, Source,
};
pub use push::PushFields;
