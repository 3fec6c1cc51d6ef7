//! A typed, async client for Safaricom's Daraja (M-Pesa) API that gets the details right.
//!
//! - [`Client`]: OAuth with a shared, single-flight token cache (pluggable via [`TokenStore`]),
//!   STK push (paybill and buy goods) and STK query, with an [`Error`] that says whether a retry
//!   is safe.
//! - Validated inputs: [`Msisdn`], [`Amount`], [`AccountReference`], [`TransactionDesc`].
//! - `Timestamp` in East Africa Time and `Password` from one clock read ([`StkCredentials`],
//!   [`Clock`]).
//! - [`callback`]: defensive parsing of the STK callback.
//! - Money out: [`Client::b2c_payment`] (B2C v3 and v1), [`Client::reversal`],
//!   [`Client::transaction_status`], [`Client::account_balance`]; [`Certificate`] makes the
//!   `SecurityCredential` in pure Rust ([`certificates`] ships Safaricom's); [`DarajaResult`] reads
//!   every shape of their asynchronous results; [`ResultFailure`] says what a failure means.
//! - [`c2b`]: C2B register URLs (v1/v2), simulate, and the validation/confirmation bodies and answers;
//!   [`Client::dynamic_qr`] for Dynamic QR codes.
//!
//! ```no_run
//! use daraja::{AccountReference, Amount, Client, Config, Environment, Msisdn, StkPush, TransactionDesc};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(Config::new(Environment::Sandbox, "key", "secret", "174379", "passkey"))?;
//! let accepted = client
//!     .stk_push(&StkPush {
//!         phone: Msisdn::parse("0708 374 149")?,
//!         amount: Amount::new(800)?,
//!         reference: AccountReference::new("ORDER-42", AccountReference::MAX_LEN)?,
//!         description: TransactionDesc::new("Order 42"),
//!         callback_url: "https://example.com/cb/4f9c2e".into(),
//!     })
//!     .await?;
//! println!("store this: {}", accepted.checkout_request_id);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod c2b;
pub mod callback;
pub mod certificates;
mod client;
mod client_money_out;
mod clock;
mod config;
mod error;
mod money_out;
mod qr;
mod result;
mod result_code;
mod security_credential;
pub mod token;
mod types;
mod wire;

pub use client::{Client, StkPush, StkPushAccepted, StkQueryStatus};
pub use clock::{daraja_timestamp, stk_password, Clock, StkCredentials, SystemClock};
pub use config::{Config, Environment};
pub use error::{BoxError, Error};
pub use money_out::{
    Accepted, AccountBalanceRequest, B2cCommand, B2cRequest, Initiator, ReversalRequest, TransactionStatusRequest,
};
pub use qr::{DynamicQr, QrCodeImage, QrTrxCode};
pub use result::{
    parse_balances, parse_cents, AccountBalance, DarajaResult, ResultFailure, ResultItem, ResultParseError,
};
pub use result_code::{FailureReason, ResultCode, UnknownFailureReason};
pub use secrecy::{ExposeSecret, SecretString};
pub use security_credential::{Certificate, CertificateError};
pub use token::{BoxFuture, CachedToken, InMemoryTokenStore, TokenStore, TokenStoreResult};
pub use types::{AccountReference, Amount, InvalidInput, Msisdn, TransactionDesc};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
