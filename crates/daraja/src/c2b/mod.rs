//! C2B: money a customer sends to a paybill or till from the SIM menu, the M-Pesa app or a QR code.
//!
//! - You call [`Client::c2b_register_urls`](crate::Client::c2b_register_urls) once per shortcode
//!   (v1 or v2, the product your app has: [`C2bVersion`]) and, in the sandbox,
//!   [`Client::c2b_simulate`](crate::Client::c2b_simulate).
//! - Daraja calls you: a validation request (only if Safaricom enabled external validation for the
//!   shortcode; answer with a [`ValidationAnswer`] within about 8 seconds, or the registered
//!   [`ResponseType`] applies) and a confirmation request (store it, then answer
//!   [`ConfirmationAck`]). Both bodies parse into a [`C2bNotification`]; deduplicate by `TransID`.
//!
//! ```
//! use daraja::c2b::{C2bNotification, RejectReason, ValidationAnswer};
//! let body = br#"{"TransactionType":"","TransID":"TFB4K2M7QZ","TransTime":"20250611093015",
//!   "TransAmount":150,"BusinessShortCode":600987,"BillRefNumber":"NOPE","MSISDN":"2547 ***** 678",
//!   "FirstName":"JANE"}"#;
//! let v = C2bNotification::from_slice(body)?;
//! let answer = if v.account() == "INV-10442" {
//!     ValidationAnswer::accept()
//! } else {
//!     ValidationAnswer::Reject(RejectReason::InvalidAccountNumber)
//! };
//! assert_eq!(serde_json::to_value(&answer)?["ResultCode"], "C2B00012");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api;
mod notification;

pub use api::{C2bAccepted, C2bCommand, C2bSimulate, C2bVersion, RegisterUrls, ResponseType};
pub use notification::{
    hash_msisdn, C2bMsisdn, C2bNotification, C2bParseError, C2bTransactionType, ConfirmationAck, RejectReason,
    ValidationAnswer,
};
