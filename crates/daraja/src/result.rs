//! The asynchronous `Result` envelope of B2C, Reversal, Transaction Status and Account Balance,
//! parsed tolerantly, with typed readers for what each API reports.

use std::fmt;

use serde_json::Value;

use crate::result_code::ResultCode;

/// Why a body could not be read as a Daraja result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Daraja result: {0}")]
pub struct ResultParseError(&'static str);

/// One `{"Key": …, "Value": …}` item; `Value` may be a string, a number, or absent.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultItem {
    /// The key, as sent.
    pub key: String,
    /// The value, `None` when the item has no `Value`.
    pub value: Option<Value>,
}

/// A result POSTed to a `ResultURL` (or a notice POSTed to a `QueueTimeOutURL`).
///
/// Tolerates every shape seen on the wire: `ResultCode`/`ResultType` as numbers or strings
/// (`0`, `"0"`, `"R000002"`, `"SFC_IC0003"`), `ResultParameter` as one object or a list (and the
/// inverted `ResultParameter.ResultParameters` nesting), items without a `Value`, `ReferenceItem` as
/// one object or a list. Items are looked up by key, never by position.
///
/// ```
/// let body = r#"{"Result":{"ResultType":0,"ResultCode":0,"ResultDesc":"ok",
///   "OriginatorConversationID":"po_1","ConversationID":"AG_1","TransactionID":"TFB7QW3N2K",
///   "ResultParameters":{"ResultParameter":[{"Key":"TransactionAmount","Value":1500},
///   {"Key":"ReceiverPartyPublicName","Value":"254712345678 - JANE WANJIRU"},
///   {"Key":"B2CUtilityAccountAvailableFunds","Value":483120.50}]}}}"#;
/// let r = daraja::DarajaResult::parse(body.as_bytes()).unwrap();
/// assert!(r.is_success());
/// assert_eq!(r.receipt(), Some("TFB7QW3N2K".to_owned()));
/// assert_eq!(r.recipient_name().as_deref(), Some("JANE WANJIRU"));
/// assert_eq!(r.amount_cents("B2CUtilityAccountAvailableFunds"), Some(48_312_050));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DarajaResult {
    /// `0` final, `1` "waiting for further messages" (also seen on queue timeouts).
    pub result_type: i64,
    /// The outcome.
    pub result_code: ResultCode,
    /// Daraja's words.
    pub result_desc: String,
    /// The id the request was sent with (v3) or Daraja gave it.
    pub originator_conversation_id: String,
    /// Daraja's `AG_…` id.
    pub conversation_id: String,
    /// The M-Pesa receipt; a placeholder such as `TFB0000000` on failures and in Transaction Status.
    pub transaction_id: Option<String>,
    /// `ResultParameters`, in the order sent.
    pub parameters: Vec<ResultItem>,
    /// `ReferenceData`.
    pub reference: Vec<ResultItem>,
}

impl DarajaResult {
    /// Parses a JSON body (with or without the outer `{"Result": …}`).
    pub fn parse(body: &[u8]) -> Result<DarajaResult, ResultParseError> {
        let v: Value = serde_json::from_slice(body).map_err(|_| ResultParseError("body is not JSON"))?;
        DarajaResult::from_value(&v)
    }

    /// Reads an already-parsed JSON value.
    pub fn from_value(v: &Value) -> Result<DarajaResult, ResultParseError> {
        let r = v.get("Result").unwrap_or(v);
        if !r.is_object() {
            return Err(ResultParseError("no Result object"));
        }
        let result_code = match r.get("ResultCode") {
            Some(Value::Number(n)) => ResultCode::new(n.to_string()),
            Some(Value::String(s)) if !s.trim().is_empty() => ResultCode::new(s.as_str()),
            _ => return Err(ResultParseError("no ResultCode")),
        };
        let params = r.get("ResultParameters").or_else(|| r.get("ResultParameter"));
        let params = params
            .map(|p| p.get("ResultParameter").or_else(|| p.get("ResultParameters")).unwrap_or(p))
            .map(items)
            .unwrap_or_default();
        let reference = r.get("ReferenceData").map(|d| items(d.get("ReferenceItem").unwrap_or(d))).unwrap_or_default();
        Ok(DarajaResult {
            result_type: text(r.get("ResultType")).and_then(|s| s.parse().ok()).unwrap_or(0),
            result_code,
            result_desc: text(r.get("ResultDesc")).unwrap_or_default(),
            originator_conversation_id: text(r.get("OriginatorConversationID")).unwrap_or_default(),
            conversation_id: text(r.get("ConversationID")).unwrap_or_default(),
            transaction_id: text(r.get("TransactionID")).filter(|s| !s.is_empty()),
            parameters: params,
            reference,
        })
    }

    /// `true` for result code 0.
    pub fn is_success(&self) -> bool {
        self.result_code.is_success()
    }

    /// What went wrong, for anything but a success.
    pub fn failure(&self) -> Option<ResultFailure> {
        (!self.is_success()).then(|| ResultFailure::from_code(&self.result_code))
    }

    /// The raw value of a `ResultParameter` (keys compared ignoring case and spaces, so the 2017
    /// spelling `Originator Conversation ID` is found too).
    pub fn get(&self, key: &str) -> Option<&Value> {
        find(&self.parameters, key)
    }

    /// A `ResultParameter` as text (numbers in their JSON form); `None` when absent or empty.
    pub fn text(&self, key: &str) -> Option<String> {
        text(self.get(key)).filter(|s| !s.is_empty())
    }

    /// A `ReferenceItem` as text.
    pub fn reference(&self, key: &str) -> Option<String> {
        text(find(&self.reference, key)).filter(|s| !s.is_empty())
    }

    /// A money `ResultParameter` (`483120.50`, `"-340.00"`) in integer cents.
    pub fn amount_cents(&self, key: &str) -> Option<i64> {
        parse_cents(&self.text(key)?)
    }

    /// The M-Pesa receipt of the money movement: `TransactionReceipt` (B2C), `ReceiptNo`
    /// (Transaction Status), else the `TransactionID` unless it is a placeholder.
    pub fn receipt(&self) -> Option<String> {
        self.text("TransactionReceipt")
            .or_else(|| self.text("ReceiptNo"))
            .or_else(|| self.transaction_id.clone().filter(|t| !t.ends_with("0000000")))
    }

    /// The recipient's public name without the phone number in front (`"2547… - JANE"` → `"JANE"`),
    /// from `ReceiverPartyPublicName` (B2C), `CreditPartyPublicName` (Reversal) or `CreditPartyName`
    /// (Transaction Status).
    pub fn recipient_name(&self) -> Option<String> {
        let raw = self
            .text("ReceiverPartyPublicName")
            .or_else(|| self.text("CreditPartyPublicName"))
            .or_else(|| self.text("CreditPartyName"))?;
        let name = raw.split_once(" - ").map_or(raw.as_str(), |(_, n)| n).trim();
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// The amount moved, in integer cents: `TransactionAmount` (B2C) or `Amount` (Reversal, Status).
    pub fn amount(&self) -> Option<i64> {
        self.amount_cents("TransactionAmount").or_else(|| self.amount_cents("Amount"))
    }

    /// When the money moved, in East Africa Time as Daraja reports it: B2C's
    /// `TransactionCompletedDateTime` (`dd.MM.yyyy HH:mm:ss`), a reversal's `TransCompletedTime`,
    /// Transaction Status's `FinalisedTime` or Account Balance's `BOCompletedTime` (`YYYYMMDDHHmmss`).
    ///
    /// ```
    /// let r = daraja::DarajaResult::parse(br#"{"Result":{"ResultCode":0,"ResultParameters":{"ResultParameter":
    ///   {"Key":"TransactionCompletedDateTime","Value":"11.06.2025 14:32:09"}}}}"#).unwrap();
    /// assert_eq!(r.completed_at().unwrap().to_string(), "2025-06-11T14:32:09");
    /// ```
    pub fn completed_at(&self) -> Option<jiff::civil::DateTime> {
        if let Some(s) = self.text("TransactionCompletedDateTime") {
            return jiff::civil::DateTime::strptime("%d.%m.%Y %H:%M:%S", s.trim()).ok();
        }
        let compact = ["TransCompletedTime", "FinalisedTime", "BOCompletedTime"].iter().find_map(|k| self.text(k))?;
        jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", compact.trim()).ok()
    }

    /// Transaction Status's `TransactionStatus` (`"Completed"`, `"Cancelled"`, …).
    pub fn transaction_status(&self) -> Option<String> {
        self.text("TransactionStatus")
    }

    /// The accounts of an Account Balance result (`AccountBalance`) or a reversal's
    /// `DebitAccountBalance`.
    pub fn balances(&self) -> Vec<AccountBalance> {
        self.text("AccountBalance")
            .or_else(|| self.text("DebitAccountBalance"))
            .map(|s| parse_balances(&s))
            .unwrap_or_default()
    }
}

/// One account of an Account Balance result: `Name|Currency|current|available|reserved|uncleared`.
///
/// ```
/// let b = daraja::parse_balances("Utility Account|KES|483120.50|483120.50|0.00|0.00&Charges Paid Account|KES|-340.00|-340.00|0.00|0.00");
/// assert_eq!(b[0].name, "Utility Account");
/// assert_eq!(b[0].available_cents, 48_312_050);
/// assert_eq!(b[1].available_cents, -34_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    /// `Working Account`, `Utility Account`, `Charges Paid Account`, …
    pub name: String,
    /// `KES`.
    pub currency: String,
    /// First column.
    pub current_cents: i64,
    /// Second column (what can be spent).
    pub available_cents: i64,
    /// Third column.
    pub reserved_cents: i64,
    /// Fourth column.
    pub uncleared_cents: i64,
}

/// Parses `Name|KES|n1|n2|n3|n4&…`; malformed accounts are skipped, missing columns read as 0.
pub fn parse_balances(s: &str) -> Vec<AccountBalance> {
    s.split('&')
        .filter_map(|acc| {
            let mut cols = acc.split('|').map(str::trim);
            let name = cols.next().filter(|n| !n.is_empty())?.to_owned();
            let currency = cols.next().unwrap_or("KES").to_owned();
            let mut n = [0i64; 4];
            for slot in &mut n {
                if let Some(c) = cols.next() {
                    *slot = parse_cents(c)?;
                }
            }
            Some(AccountBalance {
                name,
                currency,
                current_cents: n[0],
                available_cents: n[1],
                reserved_cents: n[2],
                uncleared_cents: n[3],
            })
        })
        .collect()
}

/// Parses a decimal amount (`"-340.00"`, `"483120.5"`, `"10"`) into integer cents, exactly; `None`
/// for anything else (including more than two decimals that are not zeros).
///
/// ```
/// assert_eq!(daraja::parse_cents("-340.00"), Some(-34_000));
/// assert_eq!(daraja::parse_cents("483120.5"), Some(48_312_050));
/// assert_eq!(daraja::parse_cents("0.001"), None);
/// ```
pub fn parse_cents(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (cents, rest) = frac.split_at(frac.len().min(2));
    if rest.chars().any(|c| c != '0') {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let cents: i64 = format!("{cents:0<2}").parse().ok()?;
    let v = whole.checked_mul(100)?.checked_add(cents)?;
    Some(if neg { -v } else { v })
}

/// What a failed result means for the caller, from its `ResultCode`.
///
/// ```
/// use daraja::{ResultCode, ResultFailure};
/// assert_eq!(ResultFailure::from_code(&ResultCode::from(2001)), ResultFailure::InvalidInitiator);
/// assert_eq!(ResultFailure::from_code(&ResultCode::from(1)).as_reason(), "insufficient_funds");
/// assert_eq!(ResultFailure::from_code(&"R000002".into()), ResultFailure::UnknownOriginalTransaction);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultFailure {
    /// `1`: not enough money in the account paid from (B2C draws from the Utility account).
    InsufficientFunds,
    /// `2001`, `18`, `20`: the initiator name or its encrypted password (or the certificate) is wrong.
    InvalidInitiator,
    /// `8006`: the initiator's credential is locked after repeated failures.
    CredentialLocked,
    /// `21`, `22`, `2028`, `2006`, `11`: the initiator or shortcode may not do this.
    NotPermitted,
    /// `2040`: the recipient is not a registered M-Pesa customer (for this kind of payment).
    UnregisteredRecipient,
    /// `SFC_IC0003`: the receiving party does not exist.
    UnknownRecipient,
    /// `2`, `3`, `4`, `8`: below the minimum, above the maximum, or a limit of the customer.
    Limit,
    /// `15`: a duplicate.
    Duplicate,
    /// `R000001`: the transaction was already reversed.
    AlreadyReversed,
    /// `R000002`: the transaction to reverse does not exist.
    UnknownOriginalTransaction,
    /// Anything else (`17` internal failure, …), with the code.
    Other(ResultCode),
}

impl ResultFailure {
    /// Classifies a (non-zero) result code.
    pub fn from_code(code: &ResultCode) -> ResultFailure {
        match code.as_str() {
            "R000001" => return ResultFailure::AlreadyReversed,
            "R000002" => return ResultFailure::UnknownOriginalTransaction,
            "SFC_IC0003" => return ResultFailure::UnknownRecipient,
            _ => {}
        }
        match code.as_i64() {
            Some(1) => ResultFailure::InsufficientFunds,
            Some(2001 | 18 | 20) => ResultFailure::InvalidInitiator,
            Some(8006) => ResultFailure::CredentialLocked,
            Some(21 | 22 | 2028 | 2006 | 11) => ResultFailure::NotPermitted,
            Some(2040) => ResultFailure::UnregisteredRecipient,
            Some(2 | 3 | 4 | 8) => ResultFailure::Limit,
            Some(15) => ResultFailure::Duplicate,
            _ => ResultFailure::Other(code.clone()),
        }
    }

    /// A stable snake_case reason: `insufficient_funds`, `invalid_initiator`, `unregistered_recipient`,
    /// `limit`, `rejected` (not permitted, unknown recipient, already reversed, unknown original,
    /// duplicate, credential locked) or `error`.
    pub fn as_reason(&self) -> &'static str {
        match self {
            ResultFailure::InsufficientFunds => "insufficient_funds",
            ResultFailure::InvalidInitiator => "invalid_initiator",
            ResultFailure::UnregisteredRecipient => "unregistered_recipient",
            ResultFailure::Limit => "limit",
            ResultFailure::CredentialLocked
            | ResultFailure::NotPermitted
            | ResultFailure::UnknownRecipient
            | ResultFailure::Duplicate
            | ResultFailure::AlreadyReversed
            | ResultFailure::UnknownOriginalTransaction => "rejected",
            ResultFailure::Other(_) => "error",
        }
    }
}

impl fmt::Display for ResultFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_reason())
    }
}

fn items(v: &Value) -> Vec<ResultItem> {
    let one = |o: &Value| {
        let key = text(o.get("Key").or_else(|| o.get("key")))?;
        let value = o.get("Value").or_else(|| o.get("value")).filter(|v| !v.is_null()).cloned();
        Some(ResultItem { key, value })
    };
    match v {
        Value::Array(list) => list.iter().filter_map(one).collect(),
        Value::Object(_) => one(v).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn squash(key: &str) -> String {
    key.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

fn find<'a>(items: &'a [ResultItem], key: &str) -> Option<&'a Value> {
    let want = squash(key);
    items.iter().find(|i| squash(&i.key) == want).and_then(|i| i.value.as_ref())
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents() {
        assert_eq!(parse_cents("483120.50"), Some(48_312_050));
        assert_eq!(parse_cents("483120.5"), Some(48_312_050));
        assert_eq!(parse_cents("-340.00"), Some(-34_000));
        assert_eq!(parse_cents("10"), Some(1000));
        assert_eq!(parse_cents("0.001"), None);
        assert_eq!(parse_cents("1.000"), Some(100));
        assert_eq!(parse_cents("abc"), None);
        assert_eq!(parse_cents(""), None);
        assert_eq!(parse_cents("."), None);
    }
}
