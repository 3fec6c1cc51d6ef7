//! Daraja result codes and what they mean for a payment.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Daraja `ResultCode`, kept exactly as reported.
///
/// Daraja sends result codes as JSON numbers (STK callback), as strings (STK Query) and, in some
/// APIs, as alphanumeric strings (`R000002`, `SFC_IC0003`); this type deserializes from all of
/// them. Numeric codes are stored in canonical decimal form (`"1032"`), so `ResultCode` values
/// from a callback and from a query compare equal.
///
/// ```
/// use daraja::{FailureReason, ResultCode};
/// let from_number: ResultCode = serde_json::from_str("1032").unwrap();
/// let from_string: ResultCode = serde_json::from_str("\"1032\"").unwrap();
/// assert_eq!(from_number, from_string);
/// assert_eq!(from_number.as_i64(), Some(1032));
/// assert_eq!(from_number.reason(), FailureReason::Cancelled);
/// assert!(ResultCode::from(0).is_success());
/// assert_eq!(ResultCode::new("SFC_IC0003").as_i64(), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResultCode(String);

impl ResultCode {
    /// Wraps a code as reported; surrounding whitespace is trimmed, numeric codes are canonicalized.
    pub fn new(code: impl Into<String>) -> ResultCode {
        let code = code.into();
        let trimmed = code.trim();
        match trimmed.parse::<i64>() {
            Ok(n) => ResultCode(n.to_string()),
            Err(_) => ResultCode(trimmed.to_owned()),
        }
    }

    /// The code as text (`"0"`, `"1032"`, `"R000002"`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The numeric value, if the code is a number.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// `true` for result code 0: the customer paid.
    pub fn is_success(&self) -> bool {
        self.as_i64() == Some(0)
    }

    /// Why a payment with this result failed. Meaningless for code 0 (returns [`FailureReason::Error`]).
    pub fn reason(&self) -> FailureReason {
        match self.as_i64() {
            Some(1032) => FailureReason::Cancelled,
            Some(1037 | 1019 | 1036) => FailureReason::Timeout,
            Some(1) => FailureReason::InsufficientFunds,
            Some(2001) => FailureReason::WrongPin,
            Some(2 | 3 | 4 | 8 | 17) => FailureReason::Limit,
            _ => FailureReason::Error,
        }
    }
}

impl From<i64> for ResultCode {
    fn from(code: i64) -> Self {
        ResultCode(code.to_string())
    }
}

impl From<&str> for ResultCode {
    fn from(code: &str) -> Self {
        ResultCode::new(code)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResultCode({})", self.0)
    }
}

/// Serializes as a string (`"1032"`), the form STK Query uses.
impl Serialize for ResultCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ResultCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ResultCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a result code as number or string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ResultCode, E> {
                Ok(ResultCode::from(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ResultCode, E> {
                Ok(ResultCode(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ResultCode, E> {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    // Whole and far inside i64's range: the cast is exact.
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(ResultCode::from(v as i64))
                } else {
                    Err(E::custom("result code is not a whole number"))
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ResultCode, E> {
                Ok(ResultCode::new(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Why a payment failed, in the snake_case vocabulary of the gateway's API.
///
/// | variant | `as_str()` | result codes |
/// |---|---|---|
/// | `Cancelled` | `cancelled` | 1032 |
/// | `Timeout` | `timeout` | 1037, 1019, 1036 |
/// | `InsufficientFunds` | `insufficient_funds` | 1 |
/// | `WrongPin` | `wrong_pin` | 2001 |
/// | `Limit` | `limit` | 2, 3, 4, 8, 17 |
/// | `Rejected` | `rejected` | none: Daraja refused the request itself (no prompt was shown) |
/// | `Error` | `error` | anything else (1001, 1025, 9999, 2028, alphanumeric codes…) |
///
/// [`ResultCode::reason`] never returns `Rejected`; callers use it when a push is refused with
/// [`Error::Rejected`](crate::Error::Rejected).
///
/// ```
/// use daraja::FailureReason;
/// assert_eq!(FailureReason::InsufficientFunds.as_str(), "insufficient_funds");
/// assert_eq!("wrong_pin".parse::<FailureReason>(), Ok(FailureReason::WrongPin));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The customer pressed Cancel (1032).
    Cancelled,
    /// The phone could not be reached or the customer did not answer in time (1037, 1019, 1036).
    Timeout,
    /// Not enough money in the customer's M-Pesa account (1).
    InsufficientFunds,
    /// The customer entered a wrong PIN (2001).
    WrongPin,
    /// A transaction limit rule refused the payment (2, 3, 4, 8, 17).
    Limit,
    /// Daraja refused the request before any prompt was shown.
    Rejected,
    /// Any other failure.
    Error,
}

impl FailureReason {
    /// All variants, in declaration order.
    pub const ALL: [FailureReason; 7] = [
        FailureReason::Cancelled,
        FailureReason::Timeout,
        FailureReason::InsufficientFunds,
        FailureReason::WrongPin,
        FailureReason::Limit,
        FailureReason::Rejected,
        FailureReason::Error,
    ];

    /// The stable snake_case name used in the gateway's API.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Cancelled => "cancelled",
            FailureReason::Timeout => "timeout",
            FailureReason::InsufficientFunds => "insufficient_funds",
            FailureReason::WrongPin => "wrong_pin",
            FailureReason::Limit => "limit",
            FailureReason::Rejected => "rejected",
            FailureReason::Error => "error",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of [`FailureReason::as_str`]'s values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure reason {0:?}")]
pub struct UnknownFailureReason(pub String);

impl FromStr for FailureReason {
    type Err = UnknownFailureReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureReason::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownFailureReason(s.to_owned()))
    }
}

impl Serialize for FailureReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons() {
        let cases = [
            (0, "error"),
            (1032, "cancelled"),
            (1037, "timeout"),
            (1019, "timeout"),
            (1036, "timeout"),
            (1, "insufficient_funds"),
            (2001, "wrong_pin"),
            (2, "limit"),
            (3, "limit"),
            (4, "limit"),
            (8, "limit"),
            (17, "limit"),
            (1001, "error"),
            (1025, "error"),
            (9999, "error"),
            (2028, "error"),
        ];
        for (code, want) in cases {
            assert_eq!(ResultCode::from(code).reason().as_str(), want, "{code}");
        }
        assert_eq!(ResultCode::new("R000002").reason(), FailureReason::Error);
        for r in FailureReason::ALL {
            assert_eq!(r.as_str().parse::<FailureReason>(), Ok(r));
        }
    }

    #[test]
    fn code_forms() {
        let c: ResultCode = serde_json::from_str("\" 0 \"").unwrap();
        assert!(c.is_success());
        let c: ResultCode = serde_json::from_str("1032.0").unwrap();
        assert_eq!(c, ResultCode::from(1032));
        assert!(serde_json::from_str::<ResultCode>("1.5").is_err());
        assert_eq!(serde_json::to_string(&ResultCode::from(17)).unwrap(), "\"17\"");
    }
}
