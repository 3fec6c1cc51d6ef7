//! The C2B calls you make: register URLs (v1 or v2) and simulate (sandbox).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

use crate::client::{rejected, Client};
use crate::error::Error;
use crate::types::{Amount, InvalidInput, Msisdn};
use crate::wire::{as_number, string_or_number, string_or_number_opt};

/// Which C2B product the app has on the Daraja portal: it decides the paths called and how the payer's
/// number arrives in validation and confirmation requests (v1: SHA-256 hash, v2: masked).
///
/// ```
/// use daraja::c2b::C2bVersion;
/// assert_eq!(C2bVersion::default(), C2bVersion::V2);
/// assert_eq!("v1".parse::<C2bVersion>().unwrap().register_path(), "/mpesa/c2b/v1/registerurl");
/// assert!("v3".parse::<C2bVersion>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum C2bVersion {
    /// `/mpesa/c2b/v1/…`: callbacks carry a SHA-256 of the payer's number.
    V1,
    /// `/mpesa/c2b/v2/…` (default): callbacks carry a masked number (`2547 ***** 678`).
    #[default]
    V2,
}

impl C2bVersion {
    /// `"v1"` or `"v2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            C2bVersion::V1 => "v1",
            C2bVersion::V2 => "v2",
        }
    }

    /// The other version (what to configure after a `401.003.01`).
    pub fn other(self) -> C2bVersion {
        match self {
            C2bVersion::V1 => C2bVersion::V2,
            C2bVersion::V2 => C2bVersion::V1,
        }
    }

    /// `/mpesa/c2b/{v}/registerurl`.
    pub fn register_path(self) -> &'static str {
        match self {
            C2bVersion::V1 => "/mpesa/c2b/v1/registerurl",
            C2bVersion::V2 => "/mpesa/c2b/v2/registerurl",
        }
    }

    /// `/mpesa/c2b/{v}/simulate`.
    pub fn simulate_path(self) -> &'static str {
        match self {
            C2bVersion::V1 => "/mpesa/c2b/v1/simulate",
            C2bVersion::V2 => "/mpesa/c2b/v2/simulate",
        }
    }
}

impl fmt::Display for C2bVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `v1`/`v2` (also `1`/`2`), case-insensitive.
impl FromStr for C2bVersion {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => Ok(C2bVersion::V1),
            "v2" | "2" => Ok(C2bVersion::V2),
            _ => Err(InvalidInput::new("c2b_version", "expected v1 or v2")),
        }
    }
}

/// What Safaricom does with a payment when your validation URL does not answer in time
/// (`ResponseType`, sent at registration). Exactly `Completed` or `Cancelled` on the wire.
///
/// ```
/// use daraja::c2b::ResponseType;
/// assert_eq!(serde_json::to_string(&ResponseType::Cancelled).unwrap(), r#""Cancelled""#);
/// assert_eq!("completed".parse::<ResponseType>().unwrap(), ResponseType::Completed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ResponseType {
    /// Take the money anyway (default).
    #[default]
    Completed,
    /// Refuse the payment.
    Cancelled,
}

impl ResponseType {
    /// `"Completed"` or `"Cancelled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Completed => "Completed",
            ResponseType::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `Completed`/`Cancelled`, case-insensitive (the wire value is always sentence case).
impl FromStr for ResponseType {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "completed" => Ok(ResponseType::Completed),
            "cancelled" => Ok(ResponseType::Cancelled),
            _ => Err(InvalidInput::new("response_type", "expected Completed or Cancelled")),
        }
    }
}

/// Register the validation and confirmation URLs of a shortcode (`POST /mpesa/c2b/{v}/registerurl`).
///
/// Sandbox lets you register again at will (the last one wins); production registers once and then
/// answers [`Error::C2bUrlsAlreadyRegistered`].
///
/// ```
/// use daraja::c2b::{C2bVersion, RegisterUrls, ResponseType};
/// let reg = RegisterUrls {
///     version: C2bVersion::V2,
///     short_code: "600987".into(),
///     response_type: ResponseType::Completed,
///     confirmation_url: "https://pay.example.co.ke/hooks/c2b/7Qx2/confirmation".into(),
///     validation_url: "https://pay.example.co.ke/hooks/c2b/7Qx2/validation".into(),
/// };
/// # let _ = reg;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterUrls {
    /// Which product (path) to call.
    pub version: C2bVersion,
    /// The paybill or till (for a till, the store number) that receives the money.
    pub short_code: String,
    /// What happens when validation does not answer in time.
    pub response_type: ResponseType,
    /// Where confirmations go.
    pub confirmation_url: String,
    /// Where validations go (required even when external validation is off).
    pub validation_url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterUrlsBody<'a> {
    short_code: &'a str,
    response_type: ResponseType,
    #[serde(rename = "ConfirmationURL")]
    confirmation_url: &'a str,
    #[serde(rename = "ValidationURL")]
    validation_url: &'a str,
}

/// Which C2B payment a simulation makes (`CommandID`).
///
/// ```
/// use daraja::c2b::C2bCommand;
/// assert_eq!(serde_json::to_string(&C2bCommand::BuyGoods).unwrap(), r#""CustomerBuyGoodsOnline""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum C2bCommand {
    /// `CustomerPayBillOnline`: pay a paybill with an account number.
    #[serde(rename = "CustomerPayBillOnline")]
    PayBill,
    /// `CustomerBuyGoodsOnline`: pay a till.
    #[serde(rename = "CustomerBuyGoodsOnline")]
    BuyGoods,
}

/// A sandbox C2B payment (`POST /mpesa/c2b/{v}/simulate`): Daraja then sends validation and
/// confirmation to the URLs registered for `short_code`. Production has no simulate.
///
/// ```
/// use daraja::c2b::{C2bCommand, C2bSimulate, C2bVersion};
/// use daraja::{Amount, Msisdn};
/// let sim = C2bSimulate {
///     version: C2bVersion::V2,
///     short_code: "600987".into(),
///     command: C2bCommand::PayBill,
///     amount: Amount::new(150)?,
///     msisdn: Msisdn::parse("0708374149")?,
///     bill_ref_number: Some("INV-10442".into()),
/// };
/// # let _ = sim;
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct C2bSimulate {
    /// Which product (path) to call.
    pub version: C2bVersion,
    /// The receiving paybill or till.
    pub short_code: String,
    /// Pay bill or buy goods.
    pub command: C2bCommand,
    /// Whole KES.
    pub amount: Amount,
    /// The payer.
    pub msisdn: Msisdn,
    /// Account number for a paybill; `None` for a till.
    pub bill_ref_number: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SimulateBody<'a> {
    #[serde(serialize_with = "as_number")]
    short_code: &'a str,
    #[serde(rename = "CommandID")]
    command_id: C2bCommand,
    amount: u32,
    #[serde(serialize_with = "as_number")]
    msisdn: &'a str,
    #[serde(serialize_with = "null_if_empty")]
    bill_ref_number: &'a str,
}

fn null_if_empty<S: Serializer>(v: &&str, s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        s.serialize_str(v)
    }
}

/// Daraja's synchronous answer to register URLs and simulate. Reads both spellings of the
/// originator id (C2B answers `OriginatorCoversationID`, missing an "n").
///
/// ```
/// let a: daraja::c2b::C2bAccepted = serde_json::from_str(r#"{"OriginatorCoversationID":"8d1f-4c3a",
///   "ResponseCode":"0","ResponseDescription":"Success"}"#).unwrap();
/// assert_eq!(a.originator_conversation_id, "8d1f-4c3a");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct C2bAccepted {
    /// `OriginatorCoversationID` (sic) or `OriginatorConversationID`.
    #[serde(rename = "OriginatorCoversationID", alias = "OriginatorConversationID", default)]
    pub originator_conversation_id: String,
    /// `ConversationID`, present (often empty) in older answers.
    #[serde(rename = "ConversationID", default, deserialize_with = "string_or_number_opt")]
    pub conversation_id: Option<String>,
    /// `ResponseCode` (`"0"`).
    #[serde(rename = "ResponseCode", deserialize_with = "string_or_number")]
    pub response_code: String,
    /// `ResponseDescription`.
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: String,
}

const REFUSED_URL_WORDS: &[&str] = &["m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query"];

impl Client {
    /// Registers the C2B validation and confirmation URLs of a shortcode.
    ///
    /// Errors to expect: [`Error::WrongApiVersion`] when the app has the other C2B product (configure
    /// the version it names), [`Error::C2bUrlsAlreadyRegistered`] in production after the first
    /// registration.
    ///
    /// ```no_run
    /// use daraja::c2b::{C2bVersion, RegisterUrls, ResponseType};
    /// # async fn run(client: daraja::Client) -> Result<(), daraja::Error> {
    /// let ok = client
    ///     .c2b_register_urls(&RegisterUrls {
    ///         version: C2bVersion::V2,
    ///         short_code: "600987".into(),
    ///         response_type: ResponseType::Completed,
    ///         confirmation_url: "https://pay.example.co.ke/callbacks/c2b/7Qx2/confirmation".into(),
    ///         validation_url: "https://pay.example.co.ke/callbacks/c2b/7Qx2/validation".into(),
    ///     })
    ///     .await?;
    /// println!("registered: {}", ok.response_description);
    /// # Ok(()) }
    /// ```
    pub async fn c2b_register_urls(&self, reg: &RegisterUrls) -> Result<C2bAccepted, Error> {
        let short_code = check_short_code(&reg.short_code)?;
        self.check_c2b_url("confirmation_url", &reg.confirmation_url)?;
        self.check_c2b_url("validation_url", &reg.validation_url)?;
        let body = RegisterUrlsBody {
            short_code,
            response_type: reg.response_type,
            confirmation_url: reg.confirmation_url.trim(),
            validation_url: reg.validation_url.trim(),
        };
        self.c2b_call(reg.version, reg.version.register_path(), short_code, &body).await
    }

    /// Simulates a customer paying a paybill or till (sandbox and simulators only).
    ///
    /// ```no_run
    /// use daraja::c2b::{C2bCommand, C2bSimulate, C2bVersion};
    /// use daraja::{Amount, Msisdn};
    /// # async fn run(client: daraja::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client
    ///     .c2b_simulate(&C2bSimulate {
    ///         version: C2bVersion::V2,
    ///         short_code: "600987".into(),
    ///         command: C2bCommand::PayBill,
    ///         amount: Amount::new(150)?,
    ///         msisdn: Msisdn::parse("254708374149")?,
    ///         bill_ref_number: Some("INV-10442".into()),
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn c2b_simulate(&self, sim: &C2bSimulate) -> Result<C2bAccepted, Error> {
        if self.config().environment().is_production() {
            return Err(Error::InvalidInput {
                field: "environment",
                reason: "C2B simulate exists only in the sandbox (and simulators), not in production".into(),
            });
        }
        let short_code = check_short_code(&sim.short_code)?;
        let bill_ref = sim.bill_ref_number.as_deref().map(str::trim).unwrap_or_default();
        if bill_ref.chars().count() > 20 || bill_ref.chars().any(char::is_control) {
            return Err(Error::InvalidInput {
                field: "bill_ref_number",
                reason: "the account number has at most 20 printable characters".into(),
            });
        }
        let body = SimulateBody {
            short_code,
            command_id: sim.command,
            amount: sim.amount.get(),
            msisdn: sim.msisdn.as_str(),
            bill_ref_number: bill_ref,
        };
        self.c2b_call(sim.version, sim.version.simulate_path(), short_code, &body).await
    }

    async fn c2b_call(
        &self,
        version: C2bVersion,
        path: &str,
        short_code: &str,
        body: &impl Serialize,
    ) -> Result<C2bAccepted, Error> {
        let body =
            serde_json::to_value(body).map_err(|e| Error::InvalidInput { field: "body", reason: e.to_string() })?;
        let (status, bytes) = self.post_with_token(path, &body).await?;
        if !(200..300).contains(&status) {
            return Err(c2b_error(self.error_from_answer(status, &bytes), version, short_code));
        }
        let accepted: C2bAccepted = self.answer_as(status, &bytes)?;
        if !accepted.response_code.trim().chars().all(|c| c == '0') || accepted.response_code.trim().is_empty() {
            return Err(rejected(status, accepted.response_code, accepted.response_description));
        }
        Ok(accepted)
    }

    fn check_c2b_url(&self, field: &'static str, raw: &str) -> Result<(), InvalidInput> {
        let url = url::Url::parse(raw.trim()).map_err(|_| InvalidInput::new(field, "not a valid URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(InvalidInput::new(field, "must be an http(s) URL with a host"));
        }
        if self.config().environment().is_production() {
            if url.scheme() != "https" {
                return Err(InvalidInput::new(field, "production C2B URLs must use https"));
            }
            let lower = raw.to_ascii_lowercase();
            if let Some(word) = REFUSED_URL_WORDS.iter().find(|w| lower.contains(*w)) {
                return Err(InvalidInput::new(field, format!("Safaricom refuses C2B URLs containing {word:?}")));
            }
        }
        Ok(())
    }
}

fn check_short_code(raw: &str) -> Result<&str, InvalidInput> {
    let s = raw.trim();
    if (5..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s)
    } else {
        Err(InvalidInput::new("short_code", "a paybill or till number has 5 to 8 digits"))
    }
}

/// Turns the product-mismatch and already-registered answers into their own errors.
fn c2b_error(e: Error, version: C2bVersion, short_code: &str) -> Error {
    match e {
        Error::Rejected { error_code, message, request_id, .. }
            if error_code == "500.003.1001" && message.to_ascii_lowercase().contains("already registered") =>
        {
            Error::C2bUrlsAlreadyRegistered { short_code: short_code.to_owned(), message, request_id }
        }
        Error::Rejected { error_code, message, .. }
            if error_code == "401.003.01"
                || message.to_ascii_lowercase().contains("apiproduct")
                // The API gateway's answer for a path that does not exist (e.g. sandbox v1 simulate).
                || error_code.contains("ApplicationNotFound") =>
        {
            Error::WrongApiVersion {
                api: "C2B",
                tried: version.as_str(),
                configure: version.other().as_str(),
                error_code,
                message,
            }
        }
        other => other,
    }
}

impl fmt::Display for C2bCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            C2bCommand::PayBill => "CustomerPayBillOnline",
            C2bCommand::BuyGoods => "CustomerBuyGoodsOnline",
        })
    }
}
