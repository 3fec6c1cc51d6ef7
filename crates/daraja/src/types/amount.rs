//! `Amount`: whole Kenya shillings, as Daraja takes them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::InvalidInput;

/// A whole number of Kenyan shillings that one STK push may collect: 1 to 250,000.
///
/// ```
/// use daraja::Amount;
/// let a = Amount::new(800)?;
/// assert_eq!(a.get(), 800);
/// assert!(Amount::new(0).is_err());
/// assert!(Amount::try_from(250_001_i64).is_err());
/// assert_eq!(serde_json::to_string(&a).unwrap(), "800");
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Amount(u32);

impl Amount {
    /// Smallest amount Daraja accepts (KES).
    pub const MIN: u32 = 1;
    /// Largest amount per transaction (KES).
    pub const MAX: u32 = 250_000;

    /// Validates a whole-KES amount.
    pub fn new(kes: u32) -> Result<Amount, InvalidInput> {
        if (Self::MIN..=Self::MAX).contains(&kes) {
            Ok(Amount(kes))
        } else {
            Err(InvalidInput::new(
                "amount",
                format!("amount must be between {} and {} KES, got {kes}", Self::MIN, Self::MAX),
            ))
        }
    }

    /// The amount in whole KES.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Amount {
    type Error = InvalidInput;
    fn try_from(kes: i64) -> Result<Self, Self::Error> {
        match u32::try_from(kes) {
            Ok(v) => Amount::new(v),
            Err(_) => Err(InvalidInput::new(
                "amount",
                format!("amount must be between {} and {} KES, got {kes}", Self::MIN, Self::MAX),
            )),
        }
    }
}

impl TryFrom<u32> for Amount {
    type Error = InvalidInput;
    fn try_from(kes: u32) -> Result<Self, Self::Error> {
        Amount::new(kes)
    }
}

impl From<Amount> for u32 {
    fn from(a: Amount) -> u32 {
        a.0
    }
}

impl From<Amount> for i64 {
    fn from(a: Amount) -> i64 {
        i64::from(a.0)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({} KES)", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        Amount::try_from(v).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// AccountReference
// ---------------------------------------------------------------------------
