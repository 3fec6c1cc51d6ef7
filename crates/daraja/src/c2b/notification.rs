//! What Daraja POSTs to your validation and confirmation URLs, and what you answer.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::types::Msisdn;
use crate::wire::{string_or_number, text_or_empty};

/// A C2B validation or confirmation request (the same body for both), parsed leniently: amounts and
/// codes as strings or numbers, a masked (v2), hashed (v1) or plain (old) `MSISDN`, an empty
/// `TransactionType`, missing optional fields. Only `TransID` is required.
///
/// ```
/// use daraja::c2b::{C2bNotification, C2bTransactionType};
/// use daraja::Msisdn;
/// let n = C2bNotification::from_slice(br#"{"TransactionType":"Pay Bill","TransID":"TFB4K2M7QZ",
///   "TransTime":"20250611093015","TransAmount":"150.00","BusinessShortCode":"600987",
///   "BillRefNumber":" inv-10442 ","InvoiceNumber":"","OrgAccountBalance":"","ThirdPartyTransID":"",
///   "MSISDN":"7132104d6aae9c3fac82095a42c2817952bca48e09d98d5bf4ac08218982fb90",
///   "FirstName":"JANE","MiddleName":"WANJIRU","LastName":"MUTHONI"}"#)?;
/// assert_eq!(n.transaction_type, C2bTransactionType::PayBill);
/// assert_eq!(n.amount_kes(), Some(150));
/// assert_eq!(n.account(), "inv-10442");
/// assert!(n.msisdn.is(&Msisdn::parse("0712345678")?));
/// assert_eq!(n.payer_name().as_deref(), Some("JANE WANJIRU MUTHONI"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct C2bNotification {
    /// `TransactionType`: `Pay Bill`, `Buy Goods`, or something else (even empty).
    #[serde(default)]
    pub transaction_type: C2bTransactionType,
    /// `TransID`: the M-Pesa receipt, the idempotency key.
    #[serde(rename = "TransID", deserialize_with = "string_or_number")]
    pub trans_id: String,
    /// `TransTime`: `YYYYMMDDHHmmss`, East Africa Time. See [`C2bNotification::transaction_time`].
    #[serde(default, deserialize_with = "text_or_empty")]
    pub trans_time: String,
    /// `TransAmount` as sent (`"150.00"`, `"150"`, `150`). See [`C2bNotification::amount_kes`].
    #[serde(default, deserialize_with = "text_or_empty")]
    pub trans_amount: String,
    /// `BusinessShortCode`: the paybill or till paid.
    #[serde(default, deserialize_with = "text_or_empty")]
    pub business_short_code: String,
    /// `BillRefNumber`: the account number typed by the payer (empty for a till).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub bill_ref_number: String,
    /// `InvoiceNumber` (usually empty).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub invoice_number: String,
    /// `OrgAccountBalance`: empty in validation, the balance after the payment in confirmation.
    #[serde(default, deserialize_with = "text_or_empty")]
    pub org_account_balance: String,
    /// `ThirdPartyTransID`: empty, or what you answered in validation (echoed in confirmation).
    #[serde(rename = "ThirdPartyTransID", default, deserialize_with = "text_or_empty")]
    pub third_party_trans_id: String,
    /// `MSISDN`: masked (v2), SHA-256 (v1) or plain.
    #[serde(rename = "MSISDN", default)]
    pub msisdn: C2bMsisdn,
    /// `FirstName` (may be empty).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub first_name: String,
    /// `MiddleName` (may be empty or missing).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub middle_name: String,
    /// `LastName` (may be empty or missing).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub last_name: String,
}

/// Why a C2B request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a C2B validation/confirmation body: {0}")]
pub struct C2bParseError(String);

impl C2bNotification {
    /// Parses a request body; refuses one that is not JSON, not an object or has no `TransID`.
    pub fn from_slice(body: &[u8]) -> Result<C2bNotification, C2bParseError> {
        let n: C2bNotification = serde_json::from_slice(body).map_err(|e| C2bParseError(e.to_string()))?;
        if n.trans_id.is_empty() {
            return Err(C2bParseError("TransID is empty".into()));
        }
        Ok(n)
    }

    /// The amount in whole KES: `"150"`, `"150.00"` and `150` are 150; a fraction (`"150.50"`), a
    /// negative or unreadable amount is `None` (keep [`trans_amount`](Self::trans_amount) for the record).
    pub fn amount_kes(&self) -> Option<u64> {
        let s = self.trans_amount.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b == b'0') {
            return None;
        }
        whole.parse().ok()
    }

    /// The account number, trimmed (compare it case-insensitively).
    pub fn account(&self) -> &str {
        self.bill_ref_number.trim()
    }

    /// `TransTime` read as East Africa Time (UTC+3), if it is a valid `YYYYMMDDHHmmss`.
    pub fn transaction_time(&self) -> Option<jiff::Timestamp> {
        crate::callback::parse_eat(&self.trans_time)
    }

    /// The payer's name as Daraja gives it (the non-empty name parts joined), if any.
    pub fn payer_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.middle_name, &self.last_name]
            .into_iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// `TransactionType` of a C2B request.
///
/// ```
/// use daraja::c2b::C2bTransactionType;
/// let t: C2bTransactionType = serde_json::from_str(r#""Buy Goods""#).unwrap();
/// assert_eq!(t, C2bTransactionType::BuyGoods);
/// let t: C2bTransactionType = serde_json::from_str(r#""""#).unwrap();
/// assert_eq!(t, C2bTransactionType::Other(String::new()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum C2bTransactionType {
    /// `Pay Bill` (also `CustomerPayBillOnline` in old bodies).
    PayBill,
    /// `Buy Goods` (also `CustomerBuyGoodsOnline`).
    BuyGoods,
    /// Anything else, as sent; empty in some validation requests.
    Other(String),
}

impl Default for C2bTransactionType {
    fn default() -> Self {
        C2bTransactionType::Other(String::new())
    }
}

impl C2bTransactionType {
    /// The wire text.
    pub fn as_str(&self) -> &str {
        match self {
            C2bTransactionType::PayBill => "Pay Bill",
            C2bTransactionType::BuyGoods => "Buy Goods",
            C2bTransactionType::Other(s) => s,
        }
    }
}

impl Serialize for C2bTransactionType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for C2bTransactionType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = text_or_empty(d)?;
        let squashed: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        Ok(match squashed.as_str() {
            "paybill" | "customerpaybillonline" => C2bTransactionType::PayBill,
            "buygoods" | "customerbuygoodsonline" => C2bTransactionType::BuyGoods,
            _ => C2bTransactionType::Other(s),
        })
    }
}

/// The payer's number as a C2B request carries it.
///
/// ```
/// use daraja::c2b::C2bMsisdn;
/// use daraja::Msisdn;
/// let me = Msisdn::parse("0712345678")?;
/// assert!(C2bMsisdn::from_wire(&daraja::c2b::hash_msisdn(&me)).is(&me));
/// let masked = C2bMsisdn::from_wire("2547 ***** 678");
/// assert!(!masked.is(&me)); // a mask never proves who paid
/// assert!(masked.could_be(&me));
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum C2bMsisdn {
    /// v2: some digits hidden, e.g. `2547 ***** 678` or `25470****149`.
    Masked(String),
    /// v1: lowercase hex SHA-256 of the 12-digit `2547…` number (see [`hash_msisdn`]).
    Hashed(String),
    /// Old bodies (before 2021): the number itself.
    Plain(Msisdn),
    /// Anything else, as sent.
    Other(String),
    /// Missing or empty.
    #[default]
    Absent,
}

impl C2bMsisdn {
    /// Classifies the wire value.
    pub fn from_wire(raw: &str) -> C2bMsisdn {
        let s = raw.trim();
        if s.is_empty() {
            C2bMsisdn::Absent
        } else if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            C2bMsisdn::Hashed(s.to_ascii_lowercase())
        } else if s.contains('*') {
            C2bMsisdn::Masked(s.to_owned())
        } else if let Ok(m) = Msisdn::parse(s) {
            C2bMsisdn::Plain(m)
        } else {
            C2bMsisdn::Other(s.to_owned())
        }
    }

    /// The wire text.
    pub fn as_wire(&self) -> &str {
        match self {
            C2bMsisdn::Masked(s) | C2bMsisdn::Hashed(s) | C2bMsisdn::Other(s) => s,
            C2bMsisdn::Plain(m) => m.as_str(),
            C2bMsisdn::Absent => "",
        }
    }

    /// `true` only when this certainly is `phone`: the plain number, or its SHA-256.
    pub fn is(&self, phone: &Msisdn) -> bool {
        match self {
            C2bMsisdn::Plain(m) => m == phone,
            C2bMsisdn::Hashed(h) => *h == hash_msisdn(phone),
            _ => false,
        }
    }

    /// `true` when this may be `phone`: [`is`](Self::is), or a mask whose visible digits fit it.
    pub fn could_be(&self, phone: &Msisdn) -> bool {
        let C2bMsisdn::Masked(mask) = self else {
            return self.is(phone);
        };
        let compact: String = mask.chars().filter(|c| !c.is_whitespace()).collect();
        let head: String = compact.chars().take_while(char::is_ascii_digit).collect();
        let tail: String = {
            let rev: String = compact.chars().rev().take_while(char::is_ascii_digit).collect();
            rev.chars().rev().collect()
        };
        let number = phone.as_str();
        !head.is_empty() && !tail.is_empty() && number.starts_with(&head) && number.ends_with(&tail)
    }
}

impl Serialize for C2bMsisdn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_wire())
    }
}

impl<'de> Deserialize<'de> for C2bMsisdn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(C2bMsisdn::from_wire(&text_or_empty(d)?))
    }
}

/// What a C2B v1 request carries instead of the payer's number: the lowercase hex SHA-256 of the
/// 12-digit `2547…` form. Hash a known customer's number to match it.
///
/// ```
/// let m = daraja::Msisdn::parse("0705912645")?;
/// assert!(daraja::c2b::hash_msisdn(&m).starts_with("94c392c3"));
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
pub fn hash_msisdn(phone: &Msisdn) -> String {
    Sha256::digest(phone.as_str().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a validation refuses a payment: each is a `ResultCode` that drives the SMS the payer gets.
///
/// ```
/// use daraja::c2b::RejectReason;
/// assert_eq!(RejectReason::InvalidAccountNumber.code(), "C2B00012");
/// assert_eq!(RejectReason::from_code("C2B00013"), Some(RejectReason::InvalidAmount));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// `C2B00011` Invalid MSISDN.
    InvalidMsisdn,
    /// `C2B00012` Invalid Account Number.
    InvalidAccountNumber,
    /// `C2B00013` Invalid Amount.
    InvalidAmount,
    /// `C2B00014` Invalid KYC Details.
    InvalidKycDetails,
    /// `C2B00015` Invalid Shortcode.
    InvalidShortcode,
    /// `C2B00016` Other Error.
    OtherError,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [RejectReason; 6] = [
        RejectReason::InvalidMsisdn,
        RejectReason::InvalidAccountNumber,
        RejectReason::InvalidAmount,
        RejectReason::InvalidKycDetails,
        RejectReason::InvalidShortcode,
        RejectReason::OtherError,
    ];

    /// `C2B00011` … `C2B00016`.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::InvalidMsisdn => "C2B00011",
            RejectReason::InvalidAccountNumber => "C2B00012",
            RejectReason::InvalidAmount => "C2B00013",
            RejectReason::InvalidKycDetails => "C2B00014",
            RejectReason::InvalidShortcode => "C2B00015",
            RejectReason::OtherError => "C2B00016",
        }
    }

    /// The reason of a code (exact, case-insensitive).
    pub fn from_code(code: &str) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.code().eq_ignore_ascii_case(code.trim()))
    }

    /// Safaricom's meaning, e.g. `Invalid Account Number`.
    pub fn meaning(self) -> &'static str {
        match self {
            RejectReason::InvalidMsisdn => "Invalid MSISDN",
            RejectReason::InvalidAccountNumber => "Invalid Account Number",
            RejectReason::InvalidAmount => "Invalid Amount",
            RejectReason::InvalidKycDetails => "Invalid KYC Details",
            RejectReason::InvalidShortcode => "Invalid Shortcode",
            RejectReason::OtherError => "Other Error",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.meaning())
    }
}

/// Your answer to a validation request. Serializes to Daraja's shape:
/// `{"ResultCode":"0","ResultDesc":"Accepted"}` (with `ThirdPartyTransID` when given) or
/// `{"ResultCode":"C2B00012","ResultDesc":"Rejected"}`. Deserializes leniently (`0` or `"0"`).
///
/// ```
/// use daraja::c2b::{RejectReason, ValidationAnswer};
/// let no = ValidationAnswer::Reject(RejectReason::InvalidAccountNumber);
/// assert_eq!(serde_json::to_value(&no).unwrap(), serde_json::json!({"ResultCode":"C2B00012","ResultDesc":"Rejected"}));
/// let yes: ValidationAnswer = serde_json::from_str(r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#).unwrap();
/// assert_eq!(yes, ValidationAnswer::accept());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationAnswer {
    /// Take the payment; `third_party_trans_id` comes back in the confirmation.
    Accept {
        /// Your own id for the payment (optional).
        third_party_trans_id: Option<String>,
    },
    /// Refuse it.
    Reject(RejectReason),
}

impl ValidationAnswer {
    /// Accept without an id of your own.
    pub fn accept() -> ValidationAnswer {
        ValidationAnswer::Accept { third_party_trans_id: None }
    }

    /// `true` for [`ValidationAnswer::Accept`].
    pub fn is_accept(&self) -> bool {
        matches!(self, ValidationAnswer::Accept { .. })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnswerWire {
    #[serde(deserialize_with = "string_or_number")]
    result_code: String,
    #[serde(default)]
    result_desc: String,
    #[serde(rename = "ThirdPartyTransID", default, skip_serializing_if = "Option::is_none")]
    third_party_trans_id: Option<String>,
}

impl Serialize for ValidationAnswer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match self {
            ValidationAnswer::Accept { third_party_trans_id } => AnswerWire {
                result_code: "0".into(),
                result_desc: "Accepted".into(),
                third_party_trans_id: third_party_trans_id.clone().filter(|t| !t.is_empty()),
            },
            ValidationAnswer::Reject(r) => {
                AnswerWire { result_code: r.code().into(), result_desc: "Rejected".into(), third_party_trans_id: None }
            }
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ValidationAnswer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = AnswerWire::deserialize(d)?;
        let code = wire.result_code.trim();
        if !code.is_empty() && code.bytes().all(|b| b == b'0') {
            return Ok(ValidationAnswer::Accept {
                third_party_trans_id: wire.third_party_trans_id.filter(|t| !t.trim().is_empty()),
            });
        }
        RejectReason::from_code(code)
            .map(ValidationAnswer::Reject)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown validation ResultCode {code:?}")))
    }
}

/// Your answer to a confirmation once it is stored: `{"ResultCode":0,"ResultDesc":"Success"}`.
///
/// ```
/// let ack = serde_json::to_value(daraja::c2b::ConfirmationAck::default()).unwrap();
/// assert_eq!(ack, serde_json::json!({"ResultCode": 0, "ResultDesc": "Success"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfirmationAck {
    /// `0`.
    pub result_code: i64,
    /// `Success`.
    pub result_desc: String,
}

impl Default for ConfirmationAck {
    fn default() -> Self {
        ConfirmationAck { result_code: 0, result_desc: "Success".into() }
    }
}
