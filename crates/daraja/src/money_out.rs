//! Request bodies of the asynchronous "money out" APIs (B2C, Reversal, Transaction Status, Account
//! Balance), as typed PascalCase structs, and the synchronous acknowledgement they all share.
//!
//! Every one of them is answered twice: at once with an [`Accepted`] ("accepted for processing", not
//! "done"), and later with a [`DarajaResult`](crate::DarajaResult) POSTed to its `ResultURL` (or a
//! timeout notice to `QueueTimeOutURL`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::wire::{as_number, text, whole_number};

/// Which kind of B2C payment (`CommandID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum B2cCommand {
    /// `BusinessPayment`: to a registered M-Pesa customer.
    BusinessPayment,
    /// `SalaryPayment`: salaries.
    SalaryPayment,
    /// `PromotionPayment`: prizes; the customer gets a congratulatory SMS.
    PromotionPayment,
}

/// A B2C payment request (`/mpesa/b2c/v3/paymentrequest`, or v1 without an
/// `OriginatorConversationID`).
///
/// With v3 the caller chooses the `OriginatorConversationID`; Daraja refuses a second request with
/// the same one (`500.002.1001 Duplicate OriginatorConversationID`), so a resend after a crash can
/// never pay twice — see [`Error::DuplicateOriginatorConversationId`](crate::Error::DuplicateOriginatorConversationId).
///
/// ```
/// use daraja::{B2cCommand, B2cRequest};
/// let req = B2cRequest {
///     originator_conversation_id: Some("po_2Xc9".into()),
///     initiator_name: "testapi".into(),
///     security_credential: "base64…".into(),
///     command_id: B2cCommand::BusinessPayment,
///     amount: 1500,
///     party_a: "600987".into(),
///     party_b: "254712345678".into(),
///     remarks: "Rider payout".into(),
///     queue_time_out_url: "https://pay.example.com/callbacks/timeout/s3cr3t".into(),
///     result_url: "https://pay.example.com/callbacks/result/s3cr3t".into(),
///     occasion: None,
/// };
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["PartyA"], 600987); // numbers go out as JSON numbers, as in Daraja's samples
/// assert_eq!(json["QueueTimeOutURL"], "https://pay.example.com/callbacks/timeout/s3cr3t");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct B2cRequest {
    /// Caller-chosen unique id (v3). `None` sends the request to v1.
    #[serde(rename = "OriginatorConversationID", default, skip_serializing_if = "Option::is_none")]
    pub originator_conversation_id: Option<String>,
    /// The API operator ("ORG B2C API Initiator" role).
    pub initiator_name: String,
    /// [`Certificate::security_credential`](crate::Certificate::security_credential) of the
    /// initiator's password.
    pub security_credential: String,
    /// The kind of payment.
    #[serde(rename = "CommandID")]
    pub command_id: B2cCommand,
    /// Whole shillings, 10 to 250,000.
    #[serde(deserialize_with = "de_u64")]
    pub amount: u64,
    /// The B2C shortcode paying.
    #[serde(serialize_with = "as_number", deserialize_with = "de_text")]
    pub party_a: String,
    /// The recipient, `2547XXXXXXXX`.
    #[serde(serialize_with = "as_number", deserialize_with = "de_text")]
    pub party_b: String,
    /// 2 to 100 characters.
    pub remarks: String,
    /// Where Daraja says the request timed out in its queue.
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    /// Where the result goes.
    #[serde(rename = "ResultURL")]
    pub result_url: String,
    /// Optional note, echoed nowhere useful (Daraja's v3 page spells it `Occassion`; both are taken).
    #[serde(default, alias = "Occassion", skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
}

impl B2cRequest {
    /// The Daraja path this request goes to: v3 with an `OriginatorConversationID`, else v1.
    pub fn path(&self) -> &'static str {
        if self.originator_conversation_id.is_some() {
            "/mpesa/b2c/v3/paymentrequest"
        } else {
            "/mpesa/b2c/v1/paymentrequest"
        }
    }
}

/// The three fields that open every initiator-signed request but B2C (whose operator field is
/// `InitiatorName`): who sends it, their encrypted password, and the command. Flattened into
/// [`ReversalRequest`], [`TransactionStatusRequest`] and [`AccountBalanceRequest`], so the wire keys
/// stay `Initiator`, `SecurityCredential` and `CommandID` at the top level.
///
/// ```
/// let i = daraja::Initiator::new("testapi", "cred…", "AccountBalance");
/// let json = serde_json::to_value(&i).unwrap();
/// assert_eq!(json["Initiator"], "testapi");
/// assert_eq!(json["CommandID"], "AccountBalance");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Initiator {
    /// The API operator (the role the API needs).
    pub initiator: String,
    /// [`Certificate::security_credential`](crate::Certificate::security_credential) of the
    /// initiator's password.
    pub security_credential: String,
    /// The command; each of these APIs has exactly one.
    #[serde(rename = "CommandID")]
    pub command_id: String,
}

impl Initiator {
    /// `name`, signing with `security_credential`, asking for `command`.
    pub fn new(name: impl Into<String>, security_credential: impl Into<String>, command: &str) -> Initiator {
        Initiator {
            initiator: name.into(),
            security_credential: security_credential.into(),
            command_id: command.into(),
        }
    }
}

/// A Transaction Reversal request (`/mpesa/reversal/v1/request`): takes back a payment received.
///
/// The wire key is Daraja's misspelled `RecieverIdentifierType` (the correct spelling is refused
/// with `400.002.02`).
///
/// ```
/// let req = daraja::ReversalRequest::new("testapi", "cred…", "TFB4K2M7QZ", 150, "600987",
///     "https://pay.example.com/r", "https://pay.example.com/t", "Duplicate payment");
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["RecieverIdentifierType"], "11");
/// assert_eq!(json["CommandID"], "TransactionReversal");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReversalRequest {
    /// The "Org Reversals Initiator" operator; `CommandID` is always `TransactionReversal`.
    #[serde(flatten)]
    pub initiator: Initiator,
    /// The M-Pesa receipt of the payment to reverse.
    #[serde(rename = "TransactionID")]
    pub transaction_id: String,
    /// The amount of that payment, whole shillings.
    #[serde(deserialize_with = "de_u64")]
    pub amount: u64,
    /// Your own shortcode (the one that received the payment).
    #[serde(serialize_with = "as_number", deserialize_with = "de_text")]
    pub receiver_party: String,
    /// `"11"`, under Daraja's spelling.
    #[serde(rename = "RecieverIdentifierType", deserialize_with = "de_text")]
    pub reciever_identifier_type: String,
    /// Where the result goes.
    #[serde(rename = "ResultURL")]
    pub result_url: String,
    /// Where a queue timeout is reported.
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    /// 2 to 100 characters.
    pub remarks: String,
    /// Optional note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
}

impl ReversalRequest {
    /// Daraja's path for reversals.
    pub const PATH: &'static str = "/mpesa/reversal/v1/request";

    /// A reversal of `receipt` (of `amount` shillings, received on `shortcode`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        initiator: impl Into<String>,
        security_credential: impl Into<String>,
        receipt: impl Into<String>,
        amount: u64,
        shortcode: impl Into<String>,
        result_url: impl Into<String>,
        queue_time_out_url: impl Into<String>,
        remarks: impl Into<String>,
    ) -> ReversalRequest {
        ReversalRequest {
            initiator: Initiator::new(initiator, security_credential, "TransactionReversal"),
            transaction_id: receipt.into(),
            amount,
            receiver_party: shortcode.into(),
            reciever_identifier_type: "11".into(),
            result_url: result_url.into(),
            queue_time_out_url: queue_time_out_url.into(),
            remarks: remarks.into(),
            occasion: None,
        }
    }
}

/// A Transaction Status query (`/mpesa/transactionstatus/v1/query`), by receipt or by the
/// `OriginatorConversationID` of a B2C v3 request whose result never came.
///
/// Daraja's documentation names the second field `OriginalConversationID`, two SDKs send
/// `OriginatorConversationID`; a query by id sends both.
///
/// ```
/// let q = daraja::TransactionStatusRequest::by_originator_conversation_id(
///     "testapi", "cred…", "po_2Xc9", "600987", "https://pay.example.com/r", "https://pay.example.com/t");
/// let json = serde_json::to_value(&q).unwrap();
/// assert_eq!(json["OriginalConversationID"], "po_2Xc9");
/// assert_eq!(json["CommandID"], "TransactionStatusQuery");
/// assert!(json.get("TransactionID").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransactionStatusRequest {
    /// The "Transaction Status query ORG API" operator; `CommandID` is always `TransactionStatusQuery`.
    #[serde(flatten)]
    pub initiator: Initiator,
    /// The M-Pesa receipt, when known.
    #[serde(rename = "TransactionID", default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The B2C v3 `OriginatorConversationID`, when the receipt is not known.
    #[serde(rename = "OriginalConversationID", default, skip_serializing_if = "Option::is_none")]
    pub original_conversation_id: Option<String>,
    /// The same id under the other name some SDKs use.
    #[serde(rename = "OriginatorConversationID", default, skip_serializing_if = "Option::is_none")]
    pub originator_conversation_id: Option<String>,
    /// Your shortcode.
    #[serde(serialize_with = "as_number", deserialize_with = "de_text")]
    pub party_a: String,
    /// `"4"` for a shortcode.
    #[serde(deserialize_with = "de_text")]
    pub identifier_type: String,
    /// Where the result goes.
    #[serde(rename = "ResultURL")]
    pub result_url: String,
    /// Where a queue timeout is reported.
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    /// Up to 100 characters.
    pub remarks: String,
    /// Optional; comes back in the result's `ReferenceData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
}

impl TransactionStatusRequest {
    /// Daraja's path for Transaction Status.
    pub const PATH: &'static str = "/mpesa/transactionstatus/v1/query";

    /// A query by M-Pesa receipt.
    pub fn by_receipt(
        initiator: impl Into<String>,
        security_credential: impl Into<String>,
        receipt: impl Into<String>,
        shortcode: impl Into<String>,
        result_url: impl Into<String>,
        queue_time_out_url: impl Into<String>,
    ) -> TransactionStatusRequest {
        TransactionStatusRequest {
            transaction_id: Some(receipt.into()),
            ..Self::base(initiator, security_credential, shortcode, result_url, queue_time_out_url)
        }
    }

    /// A query by the `OriginatorConversationID` a B2C v3 request was sent with.
    pub fn by_originator_conversation_id(
        initiator: impl Into<String>,
        security_credential: impl Into<String>,
        id: impl Into<String>,
        shortcode: impl Into<String>,
        result_url: impl Into<String>,
        queue_time_out_url: impl Into<String>,
    ) -> TransactionStatusRequest {
        let id = id.into();
        TransactionStatusRequest {
            original_conversation_id: Some(id.clone()),
            originator_conversation_id: Some(id),
            ..Self::base(initiator, security_credential, shortcode, result_url, queue_time_out_url)
        }
    }

    fn base(
        initiator: impl Into<String>,
        security_credential: impl Into<String>,
        shortcode: impl Into<String>,
        result_url: impl Into<String>,
        queue_time_out_url: impl Into<String>,
    ) -> TransactionStatusRequest {
        TransactionStatusRequest {
            initiator: Initiator::new(initiator, security_credential, "TransactionStatusQuery"),
            transaction_id: None,
            original_conversation_id: None,
            originator_conversation_id: None,
            party_a: shortcode.into(),
            identifier_type: "4".into(),
            result_url: result_url.into(),
            queue_time_out_url: queue_time_out_url.into(),
            remarks: "Transaction status".into(),
            occasion: None,
        }
    }
}

/// An Account Balance query (`/mpesa/accountbalance/v1/query`).
///
/// ```
/// let q = daraja::AccountBalanceRequest::new("testapi", "cred…", "600987",
///     "https://pay.example.com/r", "https://pay.example.com/t");
/// assert_eq!(serde_json::to_value(&q).unwrap()["CommandID"], "AccountBalance");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountBalanceRequest {
    /// The "Balance Query ORG API" operator; `CommandID` is always `AccountBalance`.
    #[serde(flatten)]
    pub initiator: Initiator,
    /// Your shortcode.
    #[serde(serialize_with = "as_number", deserialize_with = "de_text")]
    pub party_a: String,
    /// `"4"` for a shortcode.
    #[serde(deserialize_with = "de_text")]
    pub identifier_type: String,
    /// Up to 100 characters.
    pub remarks: String,
    /// Where a queue timeout is reported.
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    /// Where the result goes.
    #[serde(rename = "ResultURL")]
    pub result_url: String,
}

impl AccountBalanceRequest {
    /// Daraja's path for Account Balance.
    pub const PATH: &'static str = "/mpesa/accountbalance/v1/query";

    /// A balance query for `shortcode`.
    pub fn new(
        initiator: impl Into<String>,
        security_credential: impl Into<String>,
        shortcode: impl Into<String>,
        result_url: impl Into<String>,
        queue_time_out_url: impl Into<String>,
    ) -> AccountBalanceRequest {
        AccountBalanceRequest {
            initiator: Initiator::new(initiator, security_credential, "AccountBalance"),
            party_a: shortcode.into(),
            identifier_type: "4".into(),
            remarks: "Account balance".into(),
            queue_time_out_url: queue_time_out_url.into(),
            result_url: result_url.into(),
        }
    }
}

/// Daraja's synchronous "accepted for processing" answer to an asynchronous request. The money has
/// not moved yet: wait for the result.
///
/// ```
/// let a: daraja::Accepted = serde_json::from_str(r#"{"OriginatorConversationID":"po_1",
///   "ConversationID":"AG_20250611_2010581c7d3e9a4b6f21","ResponseCode":"0",
///   "ResponseDescription":"Accept the service request successfully."}"#).unwrap();
/// assert_eq!(a.originator_conversation_id, "po_1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Your id (v3) or Daraja's (other APIs). C2B's spelling `OriginatorCoversationID` is accepted.
    #[serde(
        rename = "OriginatorConversationID",
        alias = "OriginatorCoversationID",
        default,
        deserialize_with = "de_text"
    )]
    pub originator_conversation_id: String,
    /// Daraja's id, `AG_YYYYMMDD_…`.
    #[serde(rename = "ConversationID", default, deserialize_with = "de_text")]
    pub conversation_id: String,
    /// `"0"` when accepted.
    #[serde(rename = "ResponseCode", deserialize_with = "de_text")]
    pub response_code: String,
    /// Daraja's words.
    #[serde(rename = "ResponseDescription", default, deserialize_with = "de_text")]
    pub response_description: String,
}

/// A string or a number, as text (trimmed); `null` is `""`.
fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(String::new()),
        v => text(&v).ok_or_else(|| serde::de::Error::custom("expected a string or a number")),
    }
}

/// Whole shillings, as a number or a string.
fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole_number(&Value::deserialize(d)?, 1e15)
        .ok_or_else(|| serde::de::Error::custom("expected a whole number of shillings"))
}
