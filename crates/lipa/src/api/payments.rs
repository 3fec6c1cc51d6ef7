//! The payment object, the create request and its validation.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Invalid;
use super::{constant, ListObject};
use crate::domain::payment::rfc3339;
use crate::domain::{self, PaymentDraft, PaymentStatus, PushTarget};

constant!(PaymentObject, "payment");
constant!(Kes, "KES");

/// How the customer paid: `stk` (a prompt on the phone) or `c2b` (the paybill or till, from the SIM menu or
/// by scanning the QR code).
pub use crate::domain::c2b::Channel;

/// The schema of `failure_reason`: the API names of [`domain::FailureReason`], read from it (the value
/// itself is a `domain::FailureReason`, written as its name).
pub struct FailureReason;

impl utoipa::PartialSchema for FailureReason {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(domain::FailureReason::ALL.iter().map(|r| r.as_str())))
            .description(Some(
                "cancelled 1032; timeout 1037/1019/1036; insufficient_funds 1; wrong_pin 2001; limit 2/3/4/8/17; \
                 rejected: Daraja refused the push; error: any other code; resolved_failed: an operator resolved \
                 a payment under review as failed (see resolution).",
            ))
            .into()
    }
}

impl ToSchema for FailureReason {}

/// What an operator decided about a payment under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionOutcome {
    Succeeded,
    Failed,
}

/// An operator's decision about a payment under review.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Resolution {
    pub outcome: ResolutionOutcome,
    /// Who decided (the admin dashboard: admin).
    #[schema(example = "admin")]
    pub by: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// Why, as the operator wrote it.
    pub note: String,
}

impl Resolution {
    /// The API's view of a resolution (the dismissed receipt stays out of it).
    pub fn of(r: &domain::Resolution) -> Self {
        Resolution {
            outcome: if r.outcome == PaymentStatus::Succeeded {
                ResolutionOutcome::Succeeded
            } else {
                ResolutionOutcome::Failed
            },
            by: r.by.clone(),
            at: rfc3339(r.at),
            note: r.note.clone(),
        }
    }
}

/// Daraja's ResultCode: a number for all STK codes (Daraja's rare alphanumeric codes stay strings).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ResultCode {
    Number(i64),
    Text(String),
}

impl ResultCode {
    fn of(code: &str) -> Self {
        code.parse::<i64>().map(Self::Number).unwrap_or_else(|_| Self::Text(code.to_string()))
    }
}

/// A payment — asked of one phone, or paid to the paybill or till — and what became of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Payment {
    #[schema(pattern = "^pay_[0-9a-f]+$", example = "pay_5f0c3e1a9b2d4c6e8f0a1b2c")]
    pub id: String,
    #[schema(inline)]
    pub object: PaymentObject,
    pub status: PaymentStatus,
    pub channel: Channel,
    /// Whole KES.
    #[schema(minimum = 1, maximum = 250000)]
    pub amount: i64,
    #[schema(inline)]
    pub currency: Kes,
    /// What the succeeded refunds of this payment gave back, whole KES (0 when none).
    #[schema(minimum = 0)]
    pub refunded_amount: i64,
    /// Normalized 2547…/2541…; null until the customer types it on the checkout page.
    #[schema(required = true, example = "254708374149")]
    pub phone: Option<String>,
    /// Your order reference, whole (at most 64 characters), as you sent it.
    pub reference: String,
    /// What lipa sent to Daraja as AccountReference (at most LIPA_REFERENCE_MAX_LEN characters, default 12):
    /// the reference itself when it fits, otherwise its first letters and digits followed by a 4-character
    /// code. Unique (case-insensitively) among pending payments; the account number a customer types for a
    /// paybill payment.
    #[schema(max_length = 100, examples("ORDER-A1042", "WNJ20240K7QX"))]
    pub account_reference: String,
    pub description: String,
    /// Your own JSON object, returned as given (at most 4096 bytes).
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    #[schema(required = true, format = "uri")]
    pub return_url: Option<String>,
    /// Set while the payment waits for the customer to type a phone number on lipa's checkout page. In
    /// /v1/payments answers only (null otherwise); an event's data omits it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "uri")]
    pub checkout_url: Option<Option<String>>,
    /// Daraja's CheckoutRequestID once the push was accepted.
    #[schema(required = true)]
    pub checkout_request_id: Option<String>,
    #[schema(required = true)]
    pub merchant_request_id: Option<String>,
    /// The M-Pesa receipt of a successful payment (absent when it was settled by STK Query, and on a payment
    /// resolved as failed).
    #[schema(required = true)]
    pub mpesa_receipt: Option<String>,
    #[schema(required = true)]
    pub result_code: Option<ResultCode>,
    #[schema(required = true)]
    pub result_desc: Option<String>,
    #[schema(required = true, value_type = Option<FailureReason>)]
    pub failure_reason: Option<&'static str>,
    /// Why the payment needs a human look (status needs_review).
    #[schema(required = true)]
    pub review_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    /// The payer's name as Daraja gives it (C2B payments; null otherwise).
    #[schema(required = true, example = "JANE WANJIRU MUTHONI")]
    pub payer_name: Option<String>,
    /// The whole KES actually received (C2B payments; null otherwise). On a payment in needs_review with
    /// review_reason amount_mismatch it differs from amount.
    #[schema(required = true)]
    pub paid_amount: Option<i64>,
    /// Set when an operator settled the payment from needs_review on the admin dashboard. A payment resolved
    /// as failed carries no mpesa_receipt and no success result; what Daraja said stays in its history.
    #[schema(required = true)]
    pub resolution: Option<Resolution>,
}

impl Payment {
    /// The payment object as events carry it (no `checkout_url`).
    pub fn of(p: &domain::Payment) -> Self {
        Payment {
            id: p.id.clone(),
            object: PaymentObject::Value,
            status: p.status,
            channel: p.channel,
            amount: p.amount,
            currency: Kes::Value,
            refunded_amount: p.refunded_amount,
            phone: p.phone.clone(),
            reference: p.reference.clone(),
            account_reference: p.account_reference.clone(),
            description: p.description.clone(),
            metadata: p.metadata.clone(),
            return_url: p.return_url.clone(),
            checkout_url: None,
            checkout_request_id: p.checkout_request_id.clone(),
            merchant_request_id: p.merchant_request_id.clone(),
            mpesa_receipt: p.mpesa_receipt.clone(),
            result_code: p.result_code.as_deref().map(ResultCode::of),
            result_desc: p.result_desc.clone(),
            failure_reason: p.failure_reason.map(|r| r.as_str()),
            review_reason: p.review_reason.clone(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            completed_at: p.completed_at.map(rfc3339),
            resolution: p.resolution.as_ref().map(Resolution::of),
            payer_name: p.payer_name.clone(),
            paid_amount: p.paid_amount,
        }
    }

    /// The payment object of `/v1/payments` answers: with `checkout_url` (null unless the customer still
    /// has to type a phone number there).
    pub fn with_checkout_url(p: &domain::Payment, checkout_url: Option<String>) -> Self {
        Payment { checkout_url: Some(checkout_url), ..Self::of(p) }
    }
}

/// A page of payments, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentList {
    #[schema(inline)]
    pub object: ListObject,
    pub data: Vec<Payment>,
    /// Pass the last id as starting_after for the next page.
    pub has_more: bool,
}

/// A field as the client sent it: of the expected JSON type, or something else (named in the error).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Sent<T> {
    Ok(T),
    Other(serde_json::Value),
}

/// `POST /v1/payments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreatePayment {
    /// Whole KES.
    #[schema(value_type = i64, required = true, minimum = 1, maximum = 250000, example = 800)]
    #[serde(default)]
    pub amount: Option<Sent<i64>>,
    /// Any common Kenyan format (0712 345 678, +254712345678, 712345678). Without it the answer carries a
    /// checkout_url where the customer types it.
    #[schema(value_type = Option<String>, example = "0712 345 678")]
    #[serde(default)]
    pub phone: Option<serde_json::Value>,
    /// Your order number, kept whole (trimmed, at most 64 characters): the pending guard, idempotency,
    /// search and webhooks use all of it. lipa derives the account_reference sent to Daraja from it.
    #[schema(value_type = String, required = true, max_length = 64, example = "ORDER-A1042")]
    #[serde(default)]
    pub reference: Option<Sent<String>>,
    #[schema(value_type = Option<String>, max_length = 200, example = "Order A1042")]
    #[serde(default)]
    pub description: Option<Sent<String>>,
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Where the checkout page links back to.
    #[schema(value_type = Option<String>, format = "uri")]
    #[serde(default)]
    pub return_url: Option<Sent<String>>,
}

pub const MAX_METADATA: usize = 4096;
pub use crate::domain::MAX_REFERENCE;

/// A `phone` given (not null) in a request body: any common Kenyan format.
pub(super) fn phone(v: &serde_json::Value) -> Result<daraja::Msisdn, Invalid> {
    match v {
        serde_json::Value::String(s) => daraja::Msisdn::parse(s).map_err(|e| {
            Invalid::field("invalid_phone", "phone", format!("phone {s:?} is not a Kenyan mobile number: {e}"))
        }),
        _ => Err(Invalid::field("invalid_phone", "phone", "phone must be a string such as \"0712 345 678\"")),
    }
}

/// `metadata` of a request body: a JSON object of at most [`MAX_METADATA`] bytes (absent or null: `{}`).
pub(super) fn metadata(v: Option<&serde_json::Value>) -> Result<serde_json::Value, Invalid> {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) => Ok(Value::Object(serde_json::Map::new())),
        Some(v @ Value::Object(_)) if v.to_string().len() <= MAX_METADATA => Ok(v.clone()),
        Some(Value::Object(_)) => {
            Err(Invalid::field("invalid_metadata", "metadata", format!("metadata is larger than {MAX_METADATA} bytes")))
        }
        Some(_) => Err(Invalid::field("invalid_metadata", "metadata", "metadata must be a JSON object")),
    }
}

/// A request body that must be a JSON object (`invalid_json` otherwise).
pub(super) fn object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Invalid> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid_json("the body must be a JSON object".into())),
        Err(e) => Err(invalid_json(format!("the body is not valid JSON: {e}"))),
    }
}

fn invalid_json(message: String) -> Invalid {
    Invalid { code: "invalid_json", message, field: None }
}

impl CreatePayment {
    /// Read a request body; the first problem names its field.
    pub fn parse(body: &[u8]) -> Result<Self, Invalid> {
        let map = object(body)?;
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| invalid_json(format!("the body cannot be read: {e}")))
    }

    /// Check every field before anything is stored or sent to Daraja; the first problem names its field.
    pub fn validate(self, reference_max_len: usize) -> Result<PaymentDraft, Invalid> {
        self.validate_for_push(reference_max_len).map(|(draft, _)| draft)
    }

    /// [`CreatePayment::validate`], and the push's phone and amount as validated types when a phone was given
    /// (the account reference is derived when the payment is stored).
    pub fn validate_for_push(self, reference_max_len: usize) -> Result<(PaymentDraft, Option<PushTarget>), Invalid> {
        let amount = match self.amount {
            None => {
                return Err(Invalid::field(
                    "missing_amount",
                    "amount",
                    "amount is required: whole KES from 1 to 250000",
                ))
            }
            Some(Sent::Ok(a)) => a,
            Some(Sent::Other(serde_json::Value::Number(n))) => {
                return Err(Invalid::field(
                    "invalid_amount",
                    "amount",
                    format!("amount {n} is not a whole number: M-Pesa takes whole KES from 1 to 250000"),
                ))
            }
            Some(Sent::Other(_)) => {
                return Err(Invalid::field("invalid_amount", "amount", "amount must be a JSON number of whole KES"))
            }
        };
        let amount = daraja::Amount::try_from(amount).map_err(|_| {
            Invalid::field(
                "invalid_amount",
                "amount",
                format!("amount {amount} is out of range: whole KES from 1 to 250000"),
            )
        })?;
        let phone = self.phone.as_ref().map(phone).transpose()?;
        let reference = match self.reference {
            None => {
                return Err(Invalid::field(
                    "missing_reference",
                    "reference",
                    "reference is required (your order number)",
                ))
            }
            // Kept whole: the pending guard, idempotency, search and webhooks use all of it. What Daraja gets
            // (`account_reference`, at most `reference_max_len` characters) is derived from it when it is stored.
            Some(Sent::Ok(s)) => {
                let r = s.trim();
                if r.is_empty() {
                    return Err(Invalid::field("invalid_reference", "reference", "reference is empty"));
                }
                if r.chars().any(char::is_control) {
                    return Err(Invalid::field(
                        "invalid_reference",
                        "reference",
                        "reference must not contain control characters",
                    ));
                }
                if r.chars().count() > MAX_REFERENCE {
                    return Err(Invalid::field(
                        "invalid_reference",
                        "reference",
                        format!(
                            "reference is longer than {MAX_REFERENCE} characters (lipa derives the at most \
                             {reference_max_len}-character account reference M-Pesa shows from it)"
                        ),
                    ));
                }
                r.to_string()
            }
            Some(Sent::Other(_)) => {
                return Err(Invalid::field("invalid_reference", "reference", "reference must be a string"))
            }
        };
        let description = match self.description {
            None => None,
            Some(Sent::Ok(s)) if s.trim().is_empty() => None,
            Some(Sent::Ok(s)) if s.chars().count() > 200 => {
                return Err(Invalid::field(
                    "invalid_description",
                    "description",
                    "description is longer than 200 characters",
                ))
            }
            Some(Sent::Ok(s)) => Some(s.trim().to_string()),
            Some(Sent::Other(_)) => {
                return Err(Invalid::field("invalid_description", "description", "description must be a string"))
            }
        };
        let metadata = metadata(self.metadata.as_ref())?;
        let return_url = match self.return_url {
            None => None,
            Some(Sent::Ok(s)) => match url::Url::parse(&s) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && s.len() <= 2048 => Some(s),
                _ => {
                    return Err(Invalid::field("invalid_return_url", "return_url", "return_url must be an http(s) URL"))
                }
            },
            Some(Sent::Other(_)) => {
                return Err(Invalid::field("invalid_return_url", "return_url", "return_url must be a string"))
            }
        };
        let description = description.unwrap_or_else(|| reference.clone());
        let draft = PaymentDraft {
            amount: i64::from(amount),
            phone: phone.as_ref().map(|p| p.as_str().to_string()),
            reference,
            description,
            metadata,
            return_url,
        };
        Ok((draft, phone.map(|phone| PushTarget { phone, amount })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> domain::Payment {
        let draft = CreatePayment::parse(br#"{"amount":8,"reference":"A"}"#).and_then(|c| c.validate(12)).unwrap();
        domain::Payment::new_pending(draft, 0, 1, 2)
    }

    #[test]
    fn failure_reasons_keep_their_api_names() {
        for r in domain::FailureReason::ALL {
            let p = crate::domain::Payment { failure_reason: Some(r), ..sample() };
            assert_eq!(crate::api::to_json(&Payment::of(&p))["failure_reason"], r.as_str(), "{r:?}");
        }
    }

    #[test]
    fn each_field_error_names_its_field() {
        let err = |body: &str| match CreatePayment::parse(body.as_bytes()).and_then(|c| c.validate(12)) {
            Err(Invalid { code, field, .. }) => (code, field),
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(err("[]"), ("invalid_json", None));
        assert_eq!(err(r#"{"reference":"A"}"#), ("missing_amount", Some("amount")));
        assert_eq!(err(r#"{"amount":null,"reference":"A"}"#), ("missing_amount", Some("amount")));
        assert_eq!(err(r#"{"amount":"800","reference":"A"}"#), ("invalid_amount", Some("amount")));
        assert_eq!(err(r#"{"amount":8.5,"reference":"A"}"#), ("invalid_amount", Some("amount")));
        assert_eq!(err(r#"{"amount":0,"reference":"A"}"#), ("invalid_amount", Some("amount")));
        assert_eq!(err(r#"{"amount":8,"reference":"A","phone":7}"#), ("invalid_phone", Some("phone")));
        assert_eq!(err(r#"{"amount":8}"#), ("missing_reference", Some("reference")));
        assert_eq!(err(r#"{"amount":8,"reference":" "}"#), ("invalid_reference", Some("reference")));
        let long = format!(r#"{{"amount":8,"reference":"{}"}}"#, "R".repeat(MAX_REFERENCE + 1));
        assert_eq!(err(&long), ("invalid_reference", Some("reference")));
        assert_eq!(err(r#"{"amount":8,"reference":"A","metadata":[]}"#), ("invalid_metadata", Some("metadata")));
        assert_eq!(
            err(r#"{"amount":8,"reference":"A","return_url":"ftp://x"}"#),
            ("invalid_return_url", Some("return_url"))
        );
        let ok = CreatePayment::parse(br#"{"amount":8,"reference":" A ","phone":"0708374149","description":" "}"#)
            .and_then(|c| c.validate(12))
            .unwrap();
        assert_eq!((ok.amount, ok.phone.as_deref(), ok.description.as_str()), (8, Some("254708374149"), "A"));
        // Kept whole (the account reference is derived when the payment is stored).
        let whole = "WNJ-2024-000123-LONG-REFERENCE";
        let ok = CreatePayment::parse(format!(r#"{{"amount":8,"reference":"{whole}"}}"#).as_bytes())
            .and_then(|c| c.validate(12))
            .unwrap();
        assert_eq!(ok.reference, whole);
    }
}
