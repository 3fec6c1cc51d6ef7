//! Money out in the simulator: the organisation's accounts, the simulator's TEST key pair that
//! SecurityCredentials are checked with, and the record of every B2C / Reversal / Transaction Status /
//! Account Balance request with its result.

pub use crate::config::{SANDBOX_INITIATOR_NAME, SANDBOX_INITIATOR_PASSWORD};
pub use crate::sim::money::{AccountView, MoneyOutKind, MoneyOutView, ACCOUNT_NAMES, SIM_CERTIFICATE_PEM};
pub(crate) use crate::sim::money::{CHARGES, UTILITY};
use crate::sim::Simulator;

/// What a B2C payment of `amount` shillings costs the organisation in charges, in cents (a
/// simplified tariff: free up to 100, then 5 / 9 / 11 / 13 shillings by band).
pub fn b2c_charge_cents(amount: u64) -> i64 {
    let kes = match amount {
        0..=100 => 0,
        101..=1_500 => 5,
        1_501..=5_000 => 9,
        5_001..=20_000 => 11,
        _ => 13,
    };
    kes * 100
}

impl Simulator {
    /// The simulator's certificate (PEM): what a client encrypts the initiator password with.
    pub fn certificate_pem(&self) -> &'static str {
        SIM_CERTIFICATE_PEM
    }

    /// The organisation's accounts now.
    pub fn accounts(&self) -> Vec<AccountView> {
        let state = self.inner.money.lock();
        ACCOUNT_NAMES
            .iter()
            .zip(state.balances)
            .map(|(name, cents)| AccountView {
                name: (*name).to_owned(),
                currency: "KES".into(),
                available_cents: cents,
            })
            .collect()
    }

    /// Sets one account's balance (cents); `false` for an unknown account name.
    pub fn set_account_balance(&self, name: &str, cents: i64) -> bool {
        let Some(i) = ACCOUNT_NAMES.iter().position(|n| n.eq_ignore_ascii_case(name.trim())) else {
            return false;
        };
        self.inner.money.lock().balances[i] = cents;
        true
    }

    /// Every money-out request remembered, newest first.
    pub fn money_out(&self) -> Vec<MoneyOutView> {
        self.inner.money.lock().newest_first()
    }

    /// One money-out request by its OriginatorConversationID.
    pub fn money_out_request(&self, originator_conversation_id: &str) -> Option<MoneyOutView> {
        self.inner.money.lock().by_id.get(originator_conversation_id).cloned()
    }

    /// Successful B2C payments to `phone` (`2547…`), newest first: the money the handset shows arriving.
    pub fn received(&self, phone: &str) -> Vec<MoneyOutView> {
        self.money_out()
            .into_iter()
            .filter(|m| m.kind == MoneyOutKind::B2c && m.phone == phone && m.result_code.as_deref() == Some("0"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges() {
        assert_eq!(b2c_charge_cents(10), 0);
        assert_eq!(b2c_charge_cents(1_500), 500);
        assert_eq!(b2c_charge_cents(250_000), 1_300);
    }
}
