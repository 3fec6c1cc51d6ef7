//! Serde helpers for Daraja's loose JSON: numbers that come as strings and strings as numbers.

use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;

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

pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Digits go out as a JSON number (as in Safaricom's samples); anything else as a string.
pub(crate) fn as_number<S: Serializer>(v: &&str, s: S) -> Result<S::Ok, S::Error> {
    match v.parse::<u64>() {
        Ok(n) if !v.starts_with('0') => s.serialize_u64(n),
        _ => s.serialize_str(v),
    }
}
