//! Serde helpers for Daraja's loose JSON: numbers that come as strings and strings as numbers.

use serde::{Deserialize, Deserializer, Serializer};
use serde_json::{json, Value};

/// A field given as a string or a JSON number, as text (trimmed); `null` or missing is `""`.
pub(crate) fn text_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(text(&Option::<Value>::deserialize(d)?.unwrap_or(Value::Null)).unwrap_or_default())
}

/// Like [`text_or_empty`], but required to be a string or a number.
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    text(&v).ok_or_else(|| serde::de::Error::custom("expected a string or a number"))
}

/// Optional string-or-number; empty text is `None`.
pub(crate) fn string_or_number_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    Ok(text(&v).filter(|s| !s.is_empty()))
}

/// A string (trimmed) or a number, as text; anything else is `None`.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A whole non-negative number below `limit`, given as a JSON number (`1500`, `1500.0`) or as a
/// string of digits (`" 1500 "`).
pub(crate) fn whole_number(v: &Value, limit: f64) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64()?;
            // Whole, non-negative and below the limit: the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (f >= 0.0 && f.fract() == 0.0 && f < limit).then_some(f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// All digits without a leading zero: the value to send as a JSON number.
fn digits(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().filter(|_| !s.starts_with('0'))
}

/// Digits go out as a JSON number (as in Safaricom's samples); anything else as a string.
pub(crate) fn as_number<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    match digits(v) {
        Some(n) => s.serialize_u64(n),
        None => s.serialize_str(v),
    }
}

/// [`as_number`] for a body built with `json!`.
pub(crate) fn digits_as_number(s: &str) -> Value {
    match digits(s) {
        Some(n) => json!(n),
        None => json!(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(digits_as_number("174379"), json!(174379));
        assert_eq!(digits_as_number("254708374149"), json!(254_708_374_149_u64));
        assert_eq!(digits_as_number("0712345678"), json!("0712345678"));
        assert_eq!(digits_as_number("0"), json!("0"));
        assert_eq!(digits_as_number("60098a"), json!("60098a"));
    }
}
