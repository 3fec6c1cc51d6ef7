//! `daraja-sim`: a faithful local Safaricom Daraja (M-Pesa Express) simulator with a virtual handset.
//!
//! It answers Daraja's own paths (`/oauth/v1/generate`, `/mpesa/stkpush/v1/processrequest`,
//! `/mpesa/stkpushquery/v1/query`; C2B `registerurl`/`simulate` v1 and v2 and Dynamic QR
//! `/mpesa/qrcode/v1/generate`) with Daraja's JSON and error codes, POSTs real asynchronous
//! callbacks, and serves everything else under `/sim/…`: the virtual handset page, a JSON control API
//! for tests, the request log and fault injection.
//!
//! Money out too: B2C v1/v3, Reversal, Transaction Status and Account Balance, with the initiator and
//! its SecurityCredential checked against the simulator's TEST key (certificate at
//! `/sim/certificate.pem`, [`SIM_CERTIFICATE_PEM`]), duplicate `OriginatorConversationID`s refused,
//! and accounts whose balances move ([`Simulator::accounts`], [`Simulator::money_out`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use daraja_sim::{SimConfig, Simulator};
//! let sim = Simulator::new(SimConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let base_url = format!("http://{}", listener.local_addr()?);
//! let app = sim.router();
//! tokio::spawn(async move { axum::serve(listener, app).await });
//! // point a Daraja client at `base_url` …
//! # let _ = base_url; Ok(()) }
//! ```

mod accounts;
mod api;
mod c2b;
mod cli;
mod config;
mod control;
mod qr;
mod router;
mod settle;
mod sim;
mod util;

pub use accounts::{
    b2c_charge_cents, AccountView, MoneyOutKind, MoneyOutView, ACCOUNT_NAMES, SANDBOX_INITIATOR_NAME,
    SANDBOX_INITIATOR_PASSWORD, SIM_CERTIFICATE_PEM,
};
pub use c2b::{C2bArgs, C2bPaymentView, C2bRegistration, C2bSimConfig, C2bStatus, C2bVersion};
pub use cli::{parse_duration, run, SimArgs, TEST_NUMBERS_HELP};
pub use config::{Faults, SimConfig, DEFAULT_MERCHANT_NAME, SANDBOX_PASSKEY, SANDBOX_SHORTCODE};
pub use settle::QUEUE_TIMEOUT;
pub use sim::{CallbackAttempt, CompleteError, Decider, LogEntry, LogKind, Simulator, TransactionView, TxState};
pub use util::normalize_msisdn;

/// Serve the simulator on `listener` until the server fails.
pub async fn serve(listener: tokio::net::TcpListener, config: SimConfig) -> std::io::Result<()> {
    let sim = Simulator::new(config);
    axum::serve(listener, sim.router()).await
}
