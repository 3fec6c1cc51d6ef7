//! The parts of an STK push that M-Pesa checks, as validated types.

use super::Payment;

/// Phone and amount of a push as a request gave them, validated. The account reference joins them once
/// the payment is stored: it is derived then (unique among pending payments, see `payments::create`).
#[derive(Debug, Clone)]
pub struct PushTarget {
    pub phone: daraja::Msisdn,
    pub amount: daraja::Amount,
}

impl PushTarget {
    /// The push's fields for the stored payment `p`, with its account reference.
    pub fn with_reference_of(self, p: &Payment, reference_max_len: usize) -> Result<PushFields, String> {
        Ok(PushFields { phone: self.phone, amount: self.amount, reference: stored_reference(p, reference_max_len)? })
    }
}

/// Phone, amount and account reference of a push, each already valid for Daraja.
#[derive(Debug, Clone)]
pub struct PushFields {
    pub phone: daraja::Msisdn,
    pub amount: daraja::Amount,
    pub reference: daraja::AccountReference,
}

impl PushFields {
    /// Read back from a stored payment (its values were validated when it was made; this only fails on a
    /// row that was changed by hand). `None` while it has no phone.
    pub fn of(p: &Payment, reference_max_len: usize) -> Result<Option<Self>, String> {
        let Some(phone) = p.phone.as_deref() else { return Ok(None) };
        Ok(Some(PushFields {
            phone: daraja::Msisdn::parse(phone).map_err(|e| format!("stored phone is invalid: {e}"))?,
            amount: daraja::Amount::try_from(p.amount).map_err(|e| format!("stored amount is invalid: {e}"))?,
            reference: stored_reference(p, reference_max_len)?,
        }))
    }
}

/// What Daraja gets as `AccountReference`: the payment's derived `account_reference` (never the whole
/// merchant reference, which may be longer).
fn stored_reference(p: &Payment, reference_max_len: usize) -> Result<daraja::AccountReference, String> {
    daraja::AccountReference::new(&p.account_reference, reference_max_len)
        .map_err(|e| format!("stored account reference is invalid: {e}"))
}
