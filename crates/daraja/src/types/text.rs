//! Texts Daraja limits: `AccountReference` and `TransactionDesc`.

use std::fmt;

use serde::{Serialize, Serializer};

use super::InvalidInput;

/// The `AccountReference` shown to the customer in the STK prompt.
///
/// Trimmed, then truncated to at most `max_len` characters (Safaricom documents 12,
/// [`AccountReference::MAX_LEN`]; longer prompts fail with result 1025). Empty values and
/// control characters are rejected.
///
/// ```
/// use daraja::AccountReference;
/// let r = AccountReference::new("  INV-2024-000123  ", AccountReference::MAX_LEN)?;
/// assert_eq!(r.as_str(), "INV-2024-000");
/// assert!(AccountReference::new("   ", 12).is_err());
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AccountReference(String);

impl AccountReference {
    /// Maximum length Safaricom documents for STK push (characters).
    pub const MAX_LEN: usize = 12;

    /// Trims `value` and truncates it to `max_len` characters; rejects empty values.
    pub fn new(value: &str, max_len: usize) -> Result<AccountReference, InvalidInput> {
        let err = |reason: &str| InvalidInput::new("account_reference", reason);
        if max_len == 0 {
            return Err(err("maximum length must be at least 1"));
        }
        let trimmed = value.trim();
        if trimmed.chars().any(char::is_control) {
            return Err(err("account reference must not contain control characters"));
        }
        let truncated: String = trimmed.chars().take(max_len).collect();
        let truncated = truncated.trim_end();
        if truncated.is_empty() {
            return Err(err("account reference is empty"));
        }
        Ok(AccountReference(truncated.to_owned()))
    }

    /// The reference as sent to Daraja.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for AccountReference {
    type Error = InvalidInput;
    /// Uses [`AccountReference::MAX_LEN`].
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        AccountReference::new(value, Self::MAX_LEN)
    }
}

impl fmt::Display for AccountReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountReference({:?})", self.0)
    }
}

impl Serialize for AccountReference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// TransactionDesc
// ---------------------------------------------------------------------------

/// The `TransactionDesc` of an STK push: at most 13 characters, never empty.
///
/// Construction never fails: the value is trimmed, control characters are dropped, it is
/// truncated to [`TransactionDesc::MAX_LEN`] characters, and an empty result becomes
/// [`TransactionDesc::DEFAULT`] (`"Payment"`) — Daraja answers `400.002.02 Invalid Remarks`
/// to a missing description.
///
/// ```
/// use daraja::TransactionDesc;
/// assert_eq!(TransactionDesc::new("Order 42 at Angaze").as_str(), "Order 42 at A");
/// assert_eq!(TransactionDesc::new("   ").as_str(), "Payment");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TransactionDesc(String);

impl TransactionDesc {
    /// Maximum length Safaricom documents (characters).
    pub const MAX_LEN: usize = 13;
    /// Used when the given description is empty.
    pub const DEFAULT: &'static str = "Payment";

    /// Normalizes a description (see the type docs); never fails.
    pub fn new(value: &str) -> TransactionDesc {
        let cleaned: String = value.trim().chars().filter(|c| !c.is_control()).take(Self::MAX_LEN).collect();
        let cleaned = cleaned.trim_end();
        if cleaned.is_empty() {
            TransactionDesc(Self::DEFAULT.to_owned())
        } else {
            TransactionDesc(cleaned.to_owned())
        }
    }

    /// The description as sent to Daraja.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TransactionDesc {
    fn default() -> Self {
        TransactionDesc(Self::DEFAULT.to_owned())
    }
}

impl From<&str> for TransactionDesc {
    fn from(value: &str) -> Self {
        TransactionDesc::new(value)
    }
}

impl fmt::Display for TransactionDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TransactionDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionDesc({:?})", self.0)
    }
}

impl Serialize for TransactionDesc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
