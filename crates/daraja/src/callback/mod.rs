//! The STK callback Daraja POSTs to your `CallBackURL`, parsed defensively.
//!
//! Real callbacks differ in small ways that break strict parsers (reference §3): metadata items
//! come in any order, `{"Name":"Balance"}` has no `Value`, `ResultCode` is a number or a string,
//! `Amount` is `1`, `1.0`, `1.00` or `"1"`, `TransactionDate` and `PhoneNumber` are numbers or
//! strings, and old `ResultDesc` values carry a `[STK_CB - ]` prefix. [`StkCallback::from_slice`]
//! accepts all of these.
//!
//! Decisions:
//! - `amount` is whole KES (`Option<i64>`). A value that is not a whole number (`"1.50"`), or is
//!   missing, gives `None`; what was reported is always kept in `amount_raw`, so a caller
//!   cross-checking the amount treats `None` as a mismatch.
//! - A callback with result code 0 is a [`CallbackOutcome::Success`] even if some metadata is
//!   missing (the fields are `Option`s): never trust a callback alone — confirm by STK Query.
//! - Result code 4999 ("still processing", reported by integrators) is *not* final; see
//!   [`ResultCode::is_still_processing`]. It parses as a `Failure` with reason `error`, so check
//!   [`StkCallback::is_final`] before acting on an outcome.
//!
//! ```
//! use daraja::callback::{CallbackOutcome, StkCallback};
//! let body = br#"{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1",
//!   "CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":0,
//!   "ResultDesc":"The service request is processed successfully.",
//!   "CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.00},
//!   {"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"Balance"},
//!   {"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254708374149}]}}}}"#;
//! let cb = StkCallback::from_slice(body)?;
//! match &cb.outcome {
//!     CallbackOutcome::Success(paid) => {
//!         assert_eq!(paid.amount, Some(1));
//!         assert_eq!(paid.receipt.as_deref(), Some("NLJ7RT61SV"));
//!         assert_eq!(paid.phone.as_deref(), Some("254708374149"));
//!         assert_eq!(paid.balance, None);
//!     }
//!     CallbackOutcome::Failure { reason, .. } => panic!("failed: {reason}"),
//! }
//! # Ok::<(), daraja::callback::CallbackParseError>(())
//! ```

mod wire;

use serde_json::{json, Map, Value};

use self::wire::*;
use crate::result_code::{FailureReason, ResultCode};
use crate::types::Msisdn;

/// The JSON body to answer Daraja with once a callback is stored:
/// `{"ResultCode":0,"ResultDesc":"Accepted"}`.
///
/// ```
/// assert_eq!(daraja::callback::acknowledgement()["ResultCode"], 0);
/// ```
pub fn acknowledgement() -> Value {
    json!({"ResultCode": 0, "ResultDesc": "Accepted"})
}

/// A parsed STK callback.
///
/// ```
/// use daraja::callback::{CallbackOutcome, StkCallback};
/// use daraja::FailureReason;
/// let cb = StkCallback::from_slice(br#"{"Body":{"stkCallback":{"MerchantRequestID":"1",
///   "CheckoutRequestID":"ws_CO_1","ResultCode":"1032","ResultDesc":"[STK_CB - ]Request cancelled by user"}}}"#)?;
/// assert_eq!(cb.result_desc, "Request cancelled by user");
/// assert_eq!(cb.raw_result_desc, "[STK_CB - ]Request cancelled by user");
/// assert!(matches!(cb.outcome, CallbackOutcome::Failure { reason: FailureReason::Cancelled, .. }));
/// # Ok::<(), daraja::callback::CallbackParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StkCallback {
    /// `MerchantRequestID` (empty if Daraja left it out).
    pub merchant_request_id: String,
    /// `CheckoutRequestID`: the key to the payment this callback is about.
    pub checkout_request_id: String,
    /// `ResultCode`, number or string as reported.
    pub result_code: ResultCode,
    /// `ResultDesc` with a `[STK_CB - ]`-style prefix removed.
    pub result_desc: String,
    /// `ResultDesc` exactly as received.
    pub raw_result_desc: String,
    /// What happened to the payment.
    pub outcome: CallbackOutcome,
}

/// Paid or not.
///
/// ```
/// use daraja::callback::CallbackOutcome;
/// use daraja::{FailureReason, ResultCode};
/// let o = CallbackOutcome::Failure { code: ResultCode::from(1), description: "no money".into(), reason: FailureReason::InsufficientFunds };
/// assert!(!o.is_success());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackOutcome {
    /// Result code 0: the customer paid.
    Success(PaymentDetails),
    /// Any other result code.
    Failure {
        /// The result code.
        code: ResultCode,
        /// The description, prefix removed.
        description: String,
        /// Classification of the code.
        reason: FailureReason,
    },
}

impl CallbackOutcome {
    /// `true` for [`CallbackOutcome::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, CallbackOutcome::Success(_))
    }
}

/// `CallbackMetadata` of a successful payment. Every field is optional because Daraja has been
/// seen to leave items out; cross-check against the payment you stored.
///
/// ```
/// let d = daraja::callback::PaymentDetails {
///     amount: Some(800), amount_raw: Some("800.0".into()), receipt: Some("LGR019G3J2".into()),
///     transaction_date: Some("20170727154800".into()), phone: Some("254712345678".into()), balance: None,
/// };
/// assert_eq!(d.transaction_time().unwrap().to_string(), "2017-07-27T12:48:00Z");
/// assert_eq!(d.msisdn().unwrap().as_str(), "254712345678");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentDetails {
    /// Whole KES paid; `None` if missing or not a whole number (see `amount_raw`).
    pub amount: Option<i64>,
    /// The `Amount` value as reported (`"1.00"`, `"1"`, `"800.0"`).
    pub amount_raw: Option<String>,
    /// `MpesaReceiptNumber`, e.g. `NLJ7RT61SV`.
    pub receipt: Option<String>,
    /// `TransactionDate` as reported, `YYYYMMDDHHmmss` in East Africa Time.
    pub transaction_date: Option<String>,
    /// `PhoneNumber` as reported (digits, usually `2547…`).
    pub phone: Option<String>,
    /// `Balance`, usually absent (the item comes without `Value`).
    pub balance: Option<String>,
}

impl PaymentDetails {
    /// `transaction_date` read as East Africa Time, if it is a valid `YYYYMMDDHHmmss`.
    pub fn transaction_time(&self) -> Option<jiff::Timestamp> {
        parse_eat(self.transaction_date.as_deref()?)
    }

    /// `phone` as an [`Msisdn`], if it is a valid Kenyan mobile number.
    pub fn msisdn(&self) -> Option<Msisdn> {
        Msisdn::parse(self.phone.as_deref()?).ok()
    }
}

pub(crate) fn parse_eat(s: &str) -> Option<jiff::Timestamp> {
    let s = s.trim();
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i16>().ok();
    let dt = jiff::civil::DateTime::new(
        n(0..4)?,
        i8::try_from(n(4..6)?).ok()?,
        i8::try_from(n(6..8)?).ok()?,
        i8::try_from(n(8..10)?).ok()?,
        i8::try_from(n(10..12)?).ok()?,
        i8::try_from(n(12..14)?).ok()?,
        0,
    )
    .ok()?;
    Some(dt.to_zoned_datetime(crate::clock::nairobi().clone()).ok()?.timestamp())
}

/// The body is not an STK callback this parser can make sense of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackParseError {
    /// Not JSON.
    #[error("callback is not valid JSON: {0}")]
    Json(String),
    /// A required field is missing or null.
    #[error("callback lacks {0}")]
    Missing(&'static str),
    /// A field has a shape that cannot be interpreted.
    #[error("callback field {field} is invalid: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl StkCallback {
    /// Parses the body of an STK callback request (see the module docs for what is tolerated).
    pub fn from_slice(body: &[u8]) -> Result<StkCallback, CallbackParseError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| CallbackParseError::Json(e.to_string()))?;
        Self::from_value(&v)
    }

    /// Like [`from_slice`](Self::from_slice), from an already parsed JSON value.
    pub fn from_value(v: &Value) -> Result<StkCallback, CallbackParseError> {
        let cb = v
            .get("Body")
            .and_then(|b| b.get("stkCallback"))
            .or_else(|| v.get("stkCallback"))
            .and_then(Value::as_object)
            .ok_or(CallbackParseError::Missing("Body.stkCallback"))?;

        let checkout_request_id = text(cb.get("CheckoutRequestID"))
            .filter(|s| !s.is_empty())
            .ok_or(CallbackParseError::Missing("CheckoutRequestID"))?;
        let merchant_request_id = text(cb.get("MerchantRequestID")).unwrap_or_default();
        let result_code = match cb.get("ResultCode") {
            None | Some(Value::Null) => return Err(CallbackParseError::Missing("ResultCode")),
            Some(raw) => serde_json::from_value::<ResultCode>(raw.clone())
                .map_err(|e| CallbackParseError::Invalid { field: "ResultCode", reason: e.to_string() })?,
        };
        if result_code.as_str().is_empty() {
            return Err(CallbackParseError::Missing("ResultCode"));
        }
        let raw_result_desc = text(cb.get("ResultDesc")).unwrap_or_default();
        let result_desc = strip_desc_prefix(&raw_result_desc).to_owned();

        let outcome = if result_code.is_success() {
            CallbackOutcome::Success(details(cb.get("CallbackMetadata")))
        } else {
            CallbackOutcome::Failure {
                code: result_code.clone(),
                description: result_desc.clone(),
                reason: result_code.reason(),
            }
        };
        Ok(StkCallback { merchant_request_id, checkout_request_id, result_code, result_desc, raw_result_desc, outcome })
    }

    /// `false` only for result codes that mean "still processing" (4999): wait for another
    /// callback or query the payment.
    pub fn is_final(&self) -> bool {
        !self.result_code.is_still_processing()
    }

    /// A success callback as Daraja would send it (for simulators and tests).
    ///
    /// ```
    /// use daraja::callback::StkCallback;
    /// let phone = daraja::Msisdn::parse("0708374149").unwrap();
    /// let cb = StkCallback::success("m-1", "ws_CO_1", 800, "NLJ7RT61SV", "20240605101545", &phone);
    /// let wire = serde_json::to_vec(&cb.to_json()).unwrap();
    /// assert_eq!(StkCallback::from_slice(&wire).unwrap(), cb);
    /// ```
    pub fn success(
        merchant_request_id: &str,
        checkout_request_id: &str,
        amount: i64,
        receipt: &str,
        transaction_date: &str,
        phone: &Msisdn,
    ) -> StkCallback {
        let desc = "The service request is processed successfully.".to_owned();
        StkCallback {
            merchant_request_id: merchant_request_id.to_owned(),
            checkout_request_id: checkout_request_id.to_owned(),
            result_code: ResultCode::from(0),
            result_desc: desc.clone(),
            raw_result_desc: desc,
            outcome: CallbackOutcome::Success(PaymentDetails {
                amount: Some(amount),
                amount_raw: Some(amount.to_string()),
                receipt: Some(receipt.to_owned()),
                transaction_date: Some(transaction_date.to_owned()),
                phone: Some(phone.as_str().to_owned()),
                balance: None,
            }),
        }
    }

    /// A failure callback as Daraja would send it (for simulators and tests).
    ///
    /// ```
    /// use daraja::callback::StkCallback;
    /// let cb = StkCallback::failure("m-1", "ws_CO_1", 1032.into(), "Request cancelled by user");
    /// assert_eq!(cb.to_json()["Body"]["stkCallback"]["ResultCode"], 1032);
    /// ```
    pub fn failure(
        merchant_request_id: &str,
        checkout_request_id: &str,
        code: ResultCode,
        description: &str,
    ) -> StkCallback {
        let result_desc = strip_desc_prefix(description).to_owned();
        StkCallback {
            merchant_request_id: merchant_request_id.to_owned(),
            checkout_request_id: checkout_request_id.to_owned(),
            outcome: CallbackOutcome::Failure {
                code: code.clone(),
                description: result_desc.clone(),
                reason: code.reason(),
            },
            result_code: code,
            result_desc,
            raw_result_desc: description.to_owned(),
        }
    }

    /// The callback in Daraja's wire format: numeric codes, amounts, dates and phone numbers as
    /// JSON numbers, `Balance` without `Value` when unknown.
    pub fn to_json(&self) -> Value {
        let mut cb = Map::new();
        cb.insert("MerchantRequestID".into(), json!(self.merchant_request_id));
        cb.insert("CheckoutRequestID".into(), json!(self.checkout_request_id));
        cb.insert("ResultCode".into(), number_or_string(self.result_code.as_str()));
        cb.insert("ResultDesc".into(), json!(self.raw_result_desc));
        if let CallbackOutcome::Success(d) = &self.outcome {
            let mut items = Vec::new();
            if let Some(raw) = d.amount_raw.as_deref() {
                items.push(json!({"Name": "Amount", "Value": number_or_string(raw)}));
            } else if let Some(a) = d.amount {
                items.push(json!({"Name": "Amount", "Value": a}));
            }
            if let Some(r) = &d.receipt {
                items.push(json!({"Name": "MpesaReceiptNumber", "Value": r}));
            }
            match &d.balance {
                Some(b) => items.push(json!({"Name": "Balance", "Value": number_or_string(b)})),
                None => items.push(json!({"Name": "Balance"})),
            }
            if let Some(t) = &d.transaction_date {
                items.push(json!({"Name": "TransactionDate", "Value": number_or_string(t)}));
            }
            if let Some(p) = &d.phone {
                items.push(json!({"Name": "PhoneNumber", "Value": number_or_string(p)}));
            }
            cb.insert("CallbackMetadata".into(), json!({ "Item": items }));
        }
        json!({"Body": {"stkCallback": Value::Object(cb)}})
    }
}

impl ResultCode {
    /// `true` for 4999, which integrators report as "still processing" rather than a failure.
    ///
    /// ```
    /// assert!(daraja::ResultCode::from(4999).is_still_processing());
    /// ```
    pub fn is_still_processing(&self) -> bool {
        self.as_i64() == Some(4999)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(strip_desc_prefix("[STK_CB - ]Request cancelled by user"), "Request cancelled by user");
        assert_eq!(
            strip_desc_prefix("[MpesaCB - ]The initiator information is invalid."),
            "The initiator information is invalid."
        );
        assert_eq!(strip_desc_prefix("[not a tag] x"), "[not a tag] x");
        assert_eq!(strip_desc_prefix("plain"), "plain");
    }

    fn success_with_amounts(items: &[Value]) -> PaymentDetails {
        let mut all: Vec<Value> = items.iter().map(|v| json!({"Name": "Amount", "Value": v})).collect();
        all.push(json!({"Name": "MpesaReceiptNumber", "Value": "LGR019G3J2"}));
        details(Some(&json!({ "Item": all })))
    }

    #[test]
    fn an_amount_that_is_not_whole_kes_is_none() {
        // Issue 15: each of these must count as a mismatch for a caller cross-checking the amount.
        for bad in [json!(-800), json!("abc"), json!(799.99), json!(true), json!(null), json!(1e30), json!({})] {
            assert_eq!(success_with_amounts(std::slice::from_ref(&bad)).amount, None, "{bad}");
        }
        assert_eq!(success_with_amounts(&[]).amount, None, "omitted");
        assert_eq!(success_with_amounts(&[json!(800)]).amount, Some(800));
        assert_eq!(success_with_amounts(&[json!("800.00")]).amount, Some(800));
        // Two Amount items: read only when they agree; `amount_raw` is the first.
        let two = success_with_amounts(&[json!(800), json!(1)]);
        assert_eq!((two.amount, two.amount_raw.as_deref()), (None, Some("800")));
        assert_eq!(success_with_amounts(&[json!(800), json!("800")]).amount, Some(800));
    }

    #[test]
    fn decimals() {
        assert_eq!(whole_decimal("1"), Some(1));
        assert_eq!(whole_decimal("1.00"), Some(1));
        assert_eq!(whole_decimal("1.50"), None);
        assert_eq!(whole_decimal("."), None);
        assert_eq!(whole_decimal("x"), None);
        assert_eq!(whole_kes(&json!(1.0)), Some(1));
        assert_eq!(whole_kes(&json!(1.5)), None);
        assert_eq!(whole_kes(&json!("800.0")), Some(800));
        // Found by the fuzz test: a negative amount is never "paid".
        assert_eq!(whole_kes(&json!(-2278107982645000033_i64)), None);
        assert_eq!(whole_kes(&json!(-5.0)), None);
        assert_eq!(whole_kes(&json!("-800")), None);
    }
}
