//! `Msisdn`: a Kenyan mobile number in the `2547…`/`2541…` form Daraja wants.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::InvalidInput;

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
pub(super) fn is_kenyan_mobile(n: &str) -> bool {
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
