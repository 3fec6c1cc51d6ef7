//! The payout, refund and balance objects and the bodies that create payouts and refunds.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::payments::{metadata, object, phone, Kes};
use super::{constant, Invalid, ListObject};
use crate::domain::money_out::{MoneyOut, Object, KINDS, MAX_AMOUNT, MIN_AMOUNT};
use crate::domain::payment::rfc3339;
use crate::domain::PaymentStatus;

constant!(PayoutObject, "payout");
constant!(RefundObject, "refund");
constant!(BalanceObject, "balance");

/// Why a payout or refund failed.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoneyOutFailure {
    InsufficientFunds,
    UnregisteredRecipient,
    InvalidInitiator,
    Limit,
    Rejected,
    Error,
}

/// Money sent to a phone (B2C).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Payout {
    #[schema(pattern = "^po_[0-9a-f]+$")]
    pub id: String,
    #[schema(inline)]
    pub object: PayoutObject,
    pub status: PaymentStatus,
    /// Whole KES.
    #[schema(minimum = 10, maximum = 250000)]
    pub amount: i64,
    #[schema(inline)]
    pub currency: Kes,
    /// The recipient, 2547…/2541….
    pub phone: String,
    /// business, salary or promotion.
    pub kind: String,
    pub remarks: String,
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[schema(required = true)]
    pub mpesa_receipt: Option<String>,
    /// The name M-Pesa gives for the recipient.
    #[schema(required = true)]
    pub recipient_name: Option<String>,
    #[schema(required = true)]
    pub result_code: Option<String>,
    #[schema(required = true)]
    pub result_desc: Option<String>,
    #[schema(required = true, value_type = Option<MoneyOutFailure>)]
    pub failure_reason: Option<String>,
    #[schema(required = true)]
    pub review_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
}

/// Money given back for a payment: a reversal of its receipt, or a B2C payment to the payer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refund {
    #[schema(pattern = "^re_[0-9a-f]+$")]
    pub id: String,
    #[schema(inline)]
    pub object: RefundObject,
    pub payment_id: String,
    pub status: PaymentStatus,
    /// Whole KES.
    #[schema(minimum = 1)]
    pub amount: i64,
    #[schema(inline)]
    pub currency: Kes,
    /// reversal or b2c.
    pub method: String,
    pub reason: String,
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(required = true)]
    pub mpesa_receipt: Option<String>,
    #[schema(required = true)]
    pub result_code: Option<String>,
    #[schema(required = true)]
    pub result_desc: Option<String>,
    #[schema(required = true, value_type = Option<MoneyOutFailure>)]
    pub failure_reason: Option<String>,
    #[schema(required = true)]
    pub review_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
}

impl Payout {
    pub fn of(m: &MoneyOut) -> Self {
        let (d, o) = (&m.draft, &m.outcome);
        Payout {
            id: m.id.clone(),
            object: PayoutObject::Value,
            status: o.status,
            amount: d.amount,
            currency: Kes::Value,
            phone: d.phone.clone().unwrap_or_default(),
            kind: d.kind.clone(),
            remarks: d.remarks.clone(),
            metadata: d.metadata.clone(),
            mpesa_receipt: o.mpesa_receipt.clone(),
            recipient_name: o.recipient_name.clone(),
            result_code: o.result_code.clone(),
            result_desc: o.result_desc.clone(),
            failure_reason: o.failure_reason.clone(),
            review_reason: o.review_reason.clone(),
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
            completed_at: o.completed_at.map(rfc3339),
        }
    }
}

impl Refund {
    pub fn of(m: &MoneyOut) -> Self {
        let (d, o) = (&m.draft, &m.outcome);
        Refund {
            id: m.id.clone(),
            object: RefundObject::Value,
            payment_id: d.payment_id.clone().unwrap_or_default(),
            status: o.status,
            amount: d.amount,
            currency: Kes::Value,
            method: d.method.as_str().to_string(),
            reason: d.remarks.clone(),
            metadata: d.metadata.clone(),
            phone: d.phone.clone(),
            mpesa_receipt: o.mpesa_receipt.clone(),
            result_code: o.result_code.clone(),
            result_desc: o.result_desc.clone(),
            failure_reason: o.failure_reason.clone(),
            review_reason: o.review_reason.clone(),
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
            completed_at: o.completed_at.map(rfc3339),
        }
    }
}

/// A payout or refund as the API shows it (and its events carry it).
pub fn object_json(m: &MoneyOut) -> Value {
    match m.draft.object {
        Object::Payout => super::to_json(&Payout::of(m)),
        Object::Refund => super::to_json(&Refund::of(m)),
    }
}

/// A page of payouts, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayoutList {
    #[schema(inline)]
    pub object: ListObject,
    pub data: Vec<Payout>,
    pub has_more: bool,
}

/// A page of refunds, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundList {
    #[schema(inline)]
    pub object: ListObject,
    pub data: Vec<Refund>,
    pub has_more: bool,
}

/// The balances of the M-Pesa accounts of the shortcode, as Account Balance reported them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Balance {
    #[schema(inline)]
    pub object: BalanceObject,
    #[schema(format = DateTime)]
    pub read_at: String,
    pub accounts: Vec<BalanceAccount>,
}

/// One account (Working, Utility, Charges Paid, …); money in integer cents.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceAccount {
    pub name: String,
    pub currency: String,
    pub available_cents: i64,
    pub current_cents: i64,
    pub reserved_cents: i64,
    pub uncleared_cents: i64,
}

impl BalanceAccount {
    pub fn of(a: &daraja::AccountBalance) -> Self {
        BalanceAccount {
            name: a.name.clone(),
            currency: a.currency.clone(),
            available_cents: a.available_cents,
            current_cents: a.current_cents,
            reserved_cents: a.reserved_cents,
            uncleared_cents: a.uncleared_cents,
        }
    }
}

/// `POST /v1/payouts`.
#[derive(Debug, Clone, ToSchema)]
#[allow(dead_code)]
pub struct CreatePayout {
    /// Whole KES, 10 to 250000.
    #[schema(minimum = 10, maximum = 250000, example = 1500)]
    amount: i64,
    /// Any common Kenyan format.
    #[schema(example = "0712 345 678")]
    phone: String,
    /// business (default), salary or promotion.
    #[schema(example = "business")]
    kind: Option<String>,
    /// Up to 100 characters (Daraja's Remarks).
    #[schema(max_length = 100)]
    remarks: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// `POST /v1/payments/{id}/refunds`.
#[derive(Debug, Clone, ToSchema)]
#[allow(dead_code)]
pub struct CreateRefund {
    /// Whole KES; default: what is left of the payment.
    #[schema(minimum = 1)]
    amount: Option<i64>,
    /// Up to 100 characters.
    #[schema(max_length = 100)]
    reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// A validated payout request.
#[derive(Debug, Clone)]
pub struct PayoutRequest {
    pub amount: i64,
    pub phone: String,
    pub kind: String,
    pub remarks: String,
    pub metadata: Value,
}

/// A validated refund request.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub amount: Option<i64>,
    pub reason: String,
    pub metadata: Value,
}

fn whole(v: &Value, field: &'static str, min: i64, max: i64) -> Result<i64, Invalid> {
    let range = format!("whole KES from {min} to {max}");
    match v.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(Invalid::field("invalid_amount", field, format!("{field} {n} is out of range: {range}"))),
        None => Err(Invalid::field("invalid_amount", field, format!("{field} must be a JSON number of {range}"))),
    }
}

fn text(
    map: &Map<String, Value>,
    field: &'static str,
    code: &'static str,
    max: usize,
) -> Result<Option<String>, Invalid> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max || s.chars().any(char::is_control) {
                return Err(Invalid::field(
                    code,
                    field,
                    format!("{field} must be at most {max} characters, no control characters"),
                ));
            }
            Ok(Some(s.to_string()).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(Invalid::field(code, field, format!("{field} must be a string"))),
    }
}

impl PayoutRequest {
    /// Read and check a `POST /v1/payouts` body; the first problem names its field.
    pub fn parse(body: &[u8]) -> Result<Self, Invalid> {
        let map = object(body)?;
        let amount = match map.get("amount") {
            None | Some(Value::Null) => {
                return Err(Invalid::field(
                    "missing_amount",
                    "amount",
                    "amount is required: whole KES from 10 to 250000",
                ))
            }
            Some(v) => whole(v, "amount", MIN_AMOUNT, MAX_AMOUNT)?,
        };
        let phone = match map.get("phone") {
            None | Some(Value::Null) => return Err(Invalid::field("missing_phone", "phone", "phone is required")),
            Some(v) => phone(v)?.as_str().to_string(),
        };
        let kind = text(&map, "kind", "invalid_kind", 20)?.unwrap_or_else(|| "business".into());
        if !KINDS.contains(&kind.as_str()) {
            return Err(Invalid::field("invalid_kind", "kind", "kind must be business, salary or promotion"));
        }
        let remarks = text(&map, "remarks", "invalid_remarks", 100)?.unwrap_or_else(|| "Payout".into());
        Ok(PayoutRequest { amount, phone, kind, remarks, metadata: metadata(map.get("metadata"))? })
    }
}

impl RefundRequest {
    /// Read and check a `POST /v1/payments/{id}/refunds` body (an empty body refunds what is left).
    pub fn parse(body: &[u8]) -> Result<Self, Invalid> {
        let map = if body.iter().all(u8::is_ascii_whitespace) { Map::new() } else { object(body)? };
        let amount = match map.get("amount") {
            None | Some(Value::Null) => None,
            Some(v) => Some(whole(v, "amount", 1, MAX_AMOUNT)?),
        };
        let reason = text(&map, "reason", "invalid_reason", 100)?.unwrap_or_else(|| "Refund".into());
        Ok(RefundRequest { amount, reason, metadata: metadata(map.get("metadata"))? })
    }
}
