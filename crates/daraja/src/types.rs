//! Validated input types: once one of these values exists, Daraja will accept it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value handed to this crate did not pass validation.
///
/// Converts into [`Error::InvalidInput`](crate::Error::InvalidInput) with `?`.
///
/// ```
/// let err = daraja::Msisdn::parse("0612 345 678").unwrap_err();
/// assert_eq!(err.field, "phone");
/// assert!(!err.reason.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidInput {
    /// Which input was wrong (`"phone"`, `"amount"`, `"account_reference"`, …).
    pub field: &'static str,
    /// Human-readable explanation, safe to show to the person who typed the value.
    pub reason: String,
}

impl InvalidInput {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

// ---------------------------------------------------------------------------
// Msisdn
// ---------------------------------------------------------------------------

/// A Kenyan mobile number, normalized to `254XXXXXXXXX` (12 digits, no `+`).
///
/// [`Msisdn::parse`] first removes spaces (any whitespace), dashes, dots and brackets, and one
/// leading `+`. It then accepts exactly these shapes (N = the 9-digit national number):
///
/// | input | example |
/// |---|---|
/// | `0N` | `0712345678`, `0112 345 678` |
/// | `N` | `712345678` |
/// | `254N` / `+254N` | `254712345678`, `+254 712 345 678` |
/// | `2540N` / `+2540N` | `+254 (0)712 345678` — the "(0)" written in international notation |
/// | `00254N` | `00254712345678` — international dialling prefix |
///
/// N must match the Kenyan mobile numbering plan
/// `(?:1(?:0[0-8]|[18]\d|2[014]|30|4[0-5])|7\d\d)\d{6}` (libphonenumber). Anything else —
/// other characters, a `+` that is not leading, another country code, a landline — is rejected
/// with a reason. The carrier is not checked: number portability means a prefix proves nothing.
///
/// ```
/// use daraja::Msisdn;
/// let m = Msisdn::parse("+254 (0)712-345-678")?;
/// assert_eq!(m.as_str(), "254712345678");
/// assert_eq!(Msisdn::parse("0712345678")?, m);
/// assert_eq!(m.national(), "712345678");
/// assert!(Msisdn::parse("0212345678").is_err());
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn(String);

impl Msisdn {
    /// Parses and normalizes a phone number as typed by a person (see the type docs).
    pub fn parse(input: &str) -> Result<Msisdn, InvalidInput> {
        let err = |reason: &str| InvalidInput::new("phone", reason);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err("phone number is empty"));
        }
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                '+' => return Err(err("'+' is only allowed at the start")),
                c if c.is_whitespace() => {}
                '-' | '.' | '(' | ')' | '[' | ']' => {}
                _ => {
                    return Err(err(
                        "phone number may contain only digits, spaces, dashes, dots, brackets and a leading '+'",
                    ))
                }
            }
            // Bound the work done on absurd input; no valid form is this long.
            if digits.len() > 20 {
                return Err(err("phone number is too long"));
            }
        }
        // "+254 (0)7…" writes the trunk prefix inside brackets: drop that single 0.
        let after_country_code = |rest: &'_ str| -> String {
            match rest.strip_prefix('0') {
                Some(r) if rest.len() == 10 => r.to_owned(),
                _ => rest.to_owned(),
            }
        };
        let owned;
        let national: &str = if plus {
            match digits.strip_prefix("254") {
                Some(rest) => {
                    owned = after_country_code(rest);
                    &owned
                }
                None => return Err(err("only Kenyan (+254) numbers are supported")),
            }
        } else if let Some(rest) = digits.strip_prefix("00254") {
            owned = after_country_code(rest);
            &owned
        } else if digits.starts_with("00") {
            return Err(err("only Kenyan (+254) numbers are supported"));
        } else if digits.len() >= 12 && digits.starts_with("254") {
            owned = after_country_code(&digits[3..]);
            &owned
        } else if let Some(rest) = digits.strip_prefix('0') {
            rest
        } else {
            &digits
        };
        if national.len() != 9 {
            return Err(err("expected a Kenyan mobile number such as 0712345678 or +254712345678"));
        }
        if !is_kenyan_mobile(national) {
            return Err(err("not a Kenyan mobile number (expected 07XX or 01XX)"));
        }
        Ok(Msisdn(format!("254{national}")))
    }

    /// The normalized form `254XXXXXXXXX`, as Daraja wants it in `PartyA`/`PhoneNumber`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 9-digit national number (without `254` or a leading `0`).
    pub fn national(&self) -> &str {
        &self.0[3..]
    }
}

/// `(?:1(?:0[0-8]|[18]\d|2[014]|30|4[0-5])|7\d\d)\d{6}` over exactly 9 ASCII digits.
fn is_kenyan_mobile(n: &str) -> bool {
    let b = n.as_bytes();
    if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    match b[0] {
        b'7' => true,
        b'1' => matches!(
            (b[1], b[2]),
            (b'0', b'0'..=b'8')
                | (b'1', _)
                | (b'8', _)
                | (b'2', b'0' | b'1' | b'4')
                | (b'3', b'0')
                | (b'4', b'0'..=b'5')
        ),
        _ => false,
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msisdn({})", self.0)
    }
}

impl FromStr for Msisdn {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Msisdn::parse(s)
    }
}

impl TryFrom<&str> for Msisdn {
    type Error = InvalidInput;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Msisdn::parse(s)
    }
}

impl AsRef<str> for Msisdn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Msisdn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Msisdn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Msisdn::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Amount
// ---------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdn_forms() {
        for input in [
            "0712345678",
            "712345678",
            "254712345678",
            "+254712345678",
            "+254 712 345 678",
            "0712-345-678",
            "(0712) 345.678",
            "00254712345678",
            "+254 (0)712 345678",
            "2540712345678",
        ] {
            assert_eq!(Msisdn::parse(input).map(|m| m.to_string()), Ok("254712345678".to_owned()), "{input}");
        }
        assert_eq!(Msisdn::parse("0110000000").unwrap().as_str(), "254110000000");
    }

    #[test]
    fn msisdn_rejects() {
        for input in [
            "",
            "   ",
            "0612345678",
            "071234567",
            "07123456789",
            "+255712345678",
            "0044712345678",
            "07123a5678",
            "0712+345678",
            "0150000000",
            "0109000000",
            "0123000000",
            "0131000000",
            "0146000000",
            "++254712345678",
            "254812345678",
        ] {
            assert!(Msisdn::parse(input).is_err(), "{input:?} accepted");
        }
    }

    #[test]
    fn pattern_by_hand() {
        assert!(is_kenyan_mobile("100000000"));
        assert!(is_kenyan_mobile("108000000"));
        assert!(!is_kenyan_mobile("109000000"));
        assert!(is_kenyan_mobile("119999999"));
        assert!(is_kenyan_mobile("189999999"));
        assert!(is_kenyan_mobile("120000000"));
        assert!(is_kenyan_mobile("121000000"));
        assert!(!is_kenyan_mobile("122000000"));
        assert!(is_kenyan_mobile("124000000"));
        assert!(is_kenyan_mobile("130000000"));
        assert!(!is_kenyan_mobile("131000000"));
        assert!(is_kenyan_mobile("145000000"));
        assert!(!is_kenyan_mobile("146000000"));
        assert!(!is_kenyan_mobile("150000000"));
        assert!(is_kenyan_mobile("799999999"));
        assert!(!is_kenyan_mobile("899999999"));
    }

    #[test]
    fn amount_bounds() {
        assert!(Amount::new(0).is_err());
        assert_eq!(Amount::new(1).unwrap().get(), 1);
        assert_eq!(Amount::new(250_000).unwrap().get(), 250_000);
        assert!(Amount::new(250_001).is_err());
        assert!(Amount::try_from(-5_i64).is_err());
        assert!(Amount::try_from(i64::MAX).is_err());
    }

    #[test]
    fn reference_and_desc() {
        let r = AccountReference::new("ÄÖÜäöüÄÖÜäöüXYZ", 12).unwrap();
        assert_eq!(r.as_str().chars().count(), 12);
        assert!(AccountReference::new("a\nb", 12).is_err());
        assert_eq!(AccountReference::new("ab   cd", 4).unwrap().as_str(), "ab");
        assert_eq!(TransactionDesc::new("").as_str(), "Payment");
        assert_eq!(TransactionDesc::new("a\u{7}b").as_str(), "ab");
        assert_eq!(serde_json::to_string(&TransactionDesc::new("x")).unwrap(), "\"x\"");
    }
}
