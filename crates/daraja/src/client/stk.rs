//! STK push (M-Pesa Express) and STK query: the requests, their answers, and the calls.

use super::wire::*;
use super::*;

/// One STK push (M-Pesa Express) request. All fields are already validated by their types,
/// except `callback_url`, which [`Client::stk_push`] checks (http(s); in production https and
/// none of the words Safaricom refuses).
///
/// ```
/// use daraja::{AccountReference, Amount, Msisdn, StkPush, TransactionDesc};
/// let push = StkPush {
///     phone: Msisdn::parse("0708 374 149")?,
///     amount: Amount::new(800)?,
///     reference: AccountReference::new("ORDER-42", AccountReference::MAX_LEN)?,
///     description: TransactionDesc::new("Order 42"),
///     callback_url: "https://shop.example/hooks/cb/4f9c2e".to_owned(),
/// };
/// # let _ = push;
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StkPush {
    /// Who pays and gets the prompt (`PartyA` and `PhoneNumber`).
    pub phone: Msisdn,
    /// Whole KES.
    pub amount: Amount,
    /// Shown in the prompt (`AccountReference`).
    pub reference: AccountReference,
    /// `TransactionDesc`.
    pub description: TransactionDesc,
    /// Where Daraja POSTs the result (`CallBackURL`).
    pub callback_url: String,
}

/// Daraja accepted an STK push: the prompt is on its way to the phone. The result comes later,
/// by callback or [`Client::stk_query`] with `checkout_request_id`.
///
/// (De)serializes in Daraja's wire format (`MerchantRequestID`, `CheckoutRequestID`, …).
///
/// ```
/// let a: daraja::StkPushAccepted = serde_json::from_str(r#"{"MerchantRequestID":"2654-4b64-97ff-b827b542881d3130",
///   "CheckoutRequestID":"ws_CO_1007202409152617172396192","ResponseCode":"0",
///   "ResponseDescription":"Success. Request accepted for processing",
///   "CustomerMessage":"Success. Request accepted for processing"}"#).unwrap();
/// assert_eq!(a.checkout_request_id, "ws_CO_1007202409152617172396192");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StkPushAccepted {
    /// `MerchantRequestID`.
    #[serde(rename = "MerchantRequestID")]
    pub merchant_request_id: String,
    /// `CheckoutRequestID`: store it, it identifies the payment from now on.
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
    /// `ResponseCode` (`"0"`).
    #[serde(rename = "ResponseCode", deserialize_with = "string_or_number")]
    pub response_code: String,
    /// `ResponseDescription`.
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: String,
    /// `CustomerMessage`.
    #[serde(rename = "CustomerMessage", default)]
    pub customer_message: String,
}

impl Acknowledgement for StkPushAccepted {
    fn response(&self) -> (&str, &str) {
        (&self.response_code, &self.response_description)
    }
}

/// The answer of [`Client::stk_query`].
///
/// ```
/// use daraja::StkQueryStatus;
/// let s = StkQueryStatus::Pending;
/// assert!(!s.is_final());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StkQueryStatus {
    /// The customer has not answered yet (Daraja's HTTP 500 "The transaction is being
    /// processed", a missing `ResultCode`, or result 4999).
    Pending,
    /// The payment has an outcome.
    Final {
        /// `ResultCode` (0 = paid). Use [`ResultCode::reason`] for failures.
        result_code: ResultCode,
        /// `ResultDesc`.
        result_desc: String,
        /// `MerchantRequestID`, if present.
        merchant_request_id: Option<String>,
        /// `CheckoutRequestID`.
        checkout_request_id: String,
    },
}

impl StkQueryStatus {
    /// `true` for [`StkQueryStatus::Final`].
    pub fn is_final(&self) -> bool {
        matches!(self, StkQueryStatus::Final { .. })
    }
}

impl Client {
    /// A `Timestamp`/`Password` pair for this client's shortcode and passkey, from one read of
    /// the configured clock.
    pub fn stk_credentials(&self) -> StkCredentials {
        let c = &self.inner.config;
        StkCredentials::at(c.clock.now(), &c.shortcode, &c.passkey)
    }

    /// Sends an STK push: the customer gets a prompt to enter their M-Pesa PIN.
    ///
    /// Paybill (`CustomerPayBillOnline`, `PartyB` = shortcode) unless a till number is
    /// configured (`CustomerBuyGoodsOnline`, `PartyB` = till). On [`Error::OutcomeUnknown`] or
    /// [`Error::UnexpectedResponse`] do not push again: the prompt may already be on the phone.
    pub async fn stk_push(&self, push: &StkPush) -> Result<StkPushAccepted, Error> {
        self.check_callback_url(&push.callback_url)?;
        let c = &self.inner.config;
        let creds = self.stk_credentials();
        let (transaction_type, party_b) = match &c.till_number {
            Some(till) => ("CustomerBuyGoodsOnline", till.as_str()),
            None => ("CustomerPayBillOnline", c.shortcode.as_str()),
        };
        // Numeric fields go out as JSON numbers, as in Safaricom's own sample request.
        let body = json!({
            "BusinessShortCode": digits_as_number(&c.shortcode),
            "Password": creds.password.expose_secret(),
            "Timestamp": creds.timestamp,
            "TransactionType": transaction_type,
            "Amount": push.amount.get(),
            "PartyA": digits_as_number(push.phone.as_str()),
            "PartyB": digits_as_number(party_b),
            "PhoneNumber": digits_as_number(push.phone.as_str()),
            "CallBackURL": push.callback_url,
            "AccountReference": push.reference.as_str(),
            "TransactionDesc": push.description.as_str(),
        });
        self.post_for_acceptance(STK_PUSH_PATH, &body).await
    }

    /// Asks Daraja what became of an STK push.
    ///
    /// "The transaction is being processed" (HTTP 500, `500.001.1001`) is
    /// [`StkQueryStatus::Pending`]; the same error code with any other message (e.g. "Wrong
    /// credentials") is an [`Error::Rejected`].
    pub async fn stk_query(&self, checkout_request_id: &str) -> Result<StkQueryStatus, Error> {
        let id = checkout_request_id.trim();
        if id.is_empty() || id.len() > 100 || id.chars().any(char::is_control) {
            return Err(Error::InvalidInput {
                field: "checkout_request_id",
                reason: "checkout request id must be 1 to 100 printable characters".into(),
            });
        }
        let c = &self.inner.config;
        let creds = self.stk_credentials();
        let body = json!({
            "BusinessShortCode": digits_as_number(&c.shortcode),
            "Password": creds.password.expose_secret(),
            "Timestamp": creds.timestamp,
            "CheckoutRequestID": id,
        });
        let (status, bytes) = self.post_with_token(STK_QUERY_PATH, &body).await?;
        if !(200..300).contains(&status) {
            if let Some(env) = ErrorEnvelope::parse(&bytes) {
                if env.code == "500.001.1001" && env.message.to_ascii_lowercase().contains("being processed") {
                    return Ok(StkQueryStatus::Pending);
                }
            }
            return Err(self.error_from_answer(status, &bytes));
        }
        let unexpected = || Error::UnexpectedResponse { http_status: status, excerpt: self.excerpt(&bytes) };
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| unexpected())?;
        if !v.is_object() {
            return Err(unexpected());
        }
        if let Some(code) = text(v.get("ResponseCode")) {
            if code != "0" {
                return Err(Error::Rejected {
                    http_status: status,
                    error_code: code,
                    message: text(v.get("ResponseDescription")).unwrap_or_default(),
                    request_id: None,
                });
            }
        }
        let result_code = match v.get("ResultCode") {
            None | Some(Value::Null) => return Ok(StkQueryStatus::Pending),
            Some(raw) => serde_json::from_value::<ResultCode>(raw.clone()).map_err(|_| unexpected())?,
        };
        if result_code.is_still_processing() || result_code.as_str().is_empty() {
            return Ok(StkQueryStatus::Pending);
        }
        Ok(StkQueryStatus::Final {
            result_code,
            result_desc: text(v.get("ResultDesc")).unwrap_or_default(),
            merchant_request_id: text(v.get("MerchantRequestID")).filter(|s| !s.is_empty()),
            checkout_request_id: text(v.get("CheckoutRequestID"))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| id.to_owned()),
        })
    }
}
