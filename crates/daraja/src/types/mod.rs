//! Validated input types: once one of these values exists, Daraja will accept it.

mod amount;
mod msisdn;
mod text;

pub use self::amount::Amount;
pub use self::msisdn::Msisdn;
pub use self::text::{AccountReference, TransactionDesc};

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

#[cfg(test)]
mod tests {
    use super::msisdn::is_kenyan_mobile;
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
