//! The parts of an STK push that M-Pesa checks, as validated types.

use super::Payment;

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
            reference: daraja::AccountReference::new(&p.reference, reference_max_len)
                .map_err(|e| format!("stored reference is invalid: {e}"))?,
        }))
    }
}
