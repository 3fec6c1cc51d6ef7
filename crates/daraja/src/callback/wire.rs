//! Reading the loose parts of a callback: numbers that come as strings or floats, items that may be
//! missing, Safaricom's prefixes on descriptions.

use serde_json::{json, Value};

use super::PaymentDetails;

pub(super) fn number_or_string(s: &str) -> Value {
    if let Ok(n) = s.parse::<u64>() {
        return json!(n);
    }
    if let Ok(n) = s.parse::<i64>() {
        return json!(n);
    }
    if s.contains('.') {
        if let Ok(n) = serde_json::from_str::<serde_json::Number>(s) {
            return Value::Number(n);
        }
    }
    json!(s)
}

/// String or number as text; null, objects and arrays give `None`.
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(number_text(n)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_u64() {
        return i.to_string();
    }
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    match n.as_f64() {
        // A whole float like 254708374149.0 is an integer someone serialized as a double.
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

pub(super) fn whole_kes(v: &Value) -> Option<i64> {
    // Nobody pays a negative amount: such a value is reported in `amount_raw` only, like "1.50".
    whole_kes_signed(v).filter(|a| *a >= 0)
}

pub(super) fn whole_kes_signed(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Some(i);
            }
            let f = n.as_f64()?;
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                // Whole and inside the range where f64 holds integers exactly.
                #[allow(clippy::cast_possible_truncation)]
                Some(f as i64)
            } else {
                None
            }
        }
        Value::String(s) => whole_decimal(s.trim()),
        _ => None,
    }
}

/// `"800"`, `"800.0"`, `"800.00"` → 800; `"800.50"`, `"abc"` → None. No floats involved.
pub(super) fn whole_decimal(s: &str) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if !frac.bytes().all(|b| b == b'0') {
        return None;
    }
    if int.is_empty() || !int.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    int.parse().ok()
}

pub(super) fn details(meta: Option<&Value>) -> PaymentDetails {
    let items: &[Value] = match meta.and_then(|m| m.get("Item")) {
        Some(Value::Array(a)) => a,
        Some(single @ Value::Object(_)) => std::slice::from_ref(single),
        _ => &[],
    };
    let find = |name: &str| -> Option<&Value> {
        items
            .iter()
            .find(|it| it.get("Name").and_then(Value::as_str).is_some_and(|n| n.trim().eq_ignore_ascii_case(name)))
            .and_then(|it| it.get("Value"))
            .filter(|v| !v.is_null())
    };
    let amount_value = find("Amount");
    // Two `Amount` items: the first is the one reported in `amount_raw`, and `amount` is whole KES only
    // when every one of them says the same whole amount (otherwise nobody can say what was paid).
    let amounts: Vec<Option<i64>> = items
        .iter()
        .filter(|it| it.get("Name").and_then(Value::as_str).is_some_and(|n| n.trim().eq_ignore_ascii_case("Amount")))
        .map(|it| it.get("Value").and_then(whole_kes))
        .collect();
    let amount = match amounts.split_first() {
        Some((first, rest)) if rest.iter().all(|a| a == first) => *first,
        _ => None,
    };
    PaymentDetails {
        amount,
        // As reported: `1.0` stays "1.0", `"1"` stays "1".
        amount_raw: amount_value.map(|v| match v {
            Value::String(s) => s.trim().to_owned(),
            other => other.to_string(),
        }),
        receipt: text(find("MpesaReceiptNumber")).filter(|s| !s.is_empty()),
        transaction_date: text(find("TransactionDate")).filter(|s| !s.is_empty()),
        phone: text(find("PhoneNumber")).filter(|s| !s.is_empty()),
        balance: text(find("Balance")).filter(|s| !s.is_empty()),
    }
}

/// Removes a leading tag such as `[STK_CB - ]` or `[MpesaCB - ]`.
pub(super) fn strip_desc_prefix(desc: &str) -> &str {
    let t = desc.trim_start();
    if let Some(rest) = t.strip_prefix('[') {
        if let Some((tag, after)) = rest.split_once(']') {
            if tag.len() <= 32 && tag.trim_end().ends_with('-') {
                return after.trim();
            }
        }
    }
    desc.trim()
}
