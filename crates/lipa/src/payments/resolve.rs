//! An operator's decision on a payment in `needs_review`.

use super::PaymentError;
use crate::app::{now_ms, AppState};
use crate::domain::Outcome;

/// Resolve a review as succeeded or failed, with the operator's note. `Ok(false)` when the payment was not
/// in review (nothing changed).
pub async fn resolve(
    state: &AppState,
    id: &str,
    succeeded: bool,
    note: String,
    by: String,
) -> Result<bool, PaymentError> {
    let applied = state.store.resolve_review(id, &Outcome::Resolved { succeeded, note, by }, now_ms()).await?;
    let resolved = applied.decision.is_some();
    let done = if resolved { "resolved" } else { "not_in_review" };
    tracing::info!(payment_id = %id, succeeded, done, "admin resolved a review");
    Ok(resolved)
}
