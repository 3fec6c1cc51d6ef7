//! Background work. Each job claims what is due from the store (with a lease, so several instances can run
//! it), does it, and writes the result back.

pub mod money_out;
pub mod reconcile;
pub mod upkeep;
pub mod webhooks;
