//! Dynamic QR (`POST /mpesa/qrcode/v1/generate`): a PNG the M-Pesa app scans to pay.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::Error;
use crate::types::Amount;
use crate::wire::string_or_number;

const QR_PATH: &str = "/mpesa/qrcode/v1/generate";

/// What the QR code pays (`TrxCode`). Serializes to the two-letter wire code.
///
/// ```
/// assert_eq!(serde_json::to_string(&daraja::QrTrxCode::PayBill).unwrap(), r#""PB""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QrTrxCode {
    /// `BG`: buy goods (CPI is a till).
    #[serde(rename = "BG")]
    BuyGoods,
    /// `WA`: withdraw cash at an agent till.
    #[serde(rename = "WA")]
    Withdraw,
    /// `PB`: pay bill (CPI is a paybill, RefNo the account).
    #[serde(rename = "PB")]
    PayBill,
    /// `SM`: send money (CPI is a phone number).
    #[serde(rename = "SM")]
    SendMoney,
    /// `SB`: send to a business (CPI in MSISDN format).
    #[serde(rename = "SB")]
    SendToBusiness,
}

/// A Dynamic QR request.
///
/// ```
/// use daraja::{Amount, DynamicQr, QrTrxCode};
/// let qr = DynamicQr {
///     merchant_name: "EXAMPLE DUKA".into(),
///     ref_no: "INV-10442".into(),
///     amount: Amount::new(150)?,
///     trx_code: QrTrxCode::PayBill,
///     cpi: "600987".into(),
///     size: 300,
/// };
/// # let _ = qr;
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicQr {
    /// `MerchantName`, shown in the app.
    pub merchant_name: String,
    /// `RefNo`: the account number / reference.
    pub ref_no: String,
    /// `Amount`, whole KES.
    pub amount: Amount,
    /// `TrxCode`.
    pub trx_code: QrTrxCode,
    /// `CPI`: the till, paybill, agent or phone number paid.
    pub cpi: String,
    /// `Size`: side of the square image in pixels (sent as a string).
    pub size: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QrBody<'a> {
    merchant_name: &'a str,
    ref_no: &'a str,
    amount: u32,
    trx_code: QrTrxCode,
    #[serde(rename = "CPI")]
    cpi: &'a str,
    size: String,
}

/// Daraja's answer: the QR code as a base64 PNG.
///
/// ```
/// let qr: daraja::QrCodeImage = serde_json::from_str(r#"{"ResponseCode":"00","RequestID":"c1d2",
///   "ResponseDescription":"QR Code Successfully Generated.","QRCode":"iVBORw0KGgo="}"#).unwrap();
/// assert!(qr.png().unwrap().starts_with(b"\x89PNG"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrCodeImage {
    /// `ResponseCode` (`"00"` or `"0"`).
    #[serde(rename = "ResponseCode", deserialize_with = "string_or_number")]
    pub response_code: String,
    /// `RequestID`.
    #[serde(rename = "RequestID", default)]
    pub request_id: String,
    /// `ResponseDescription`.
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: String,
    /// `QRCode`: base64 of the image.
    #[serde(rename = "QRCode", default)]
    pub qr_code: String,
}

impl QrCodeImage {
    /// The PNG bytes, or `None` if `QRCode` is not base64 of a PNG.
    pub fn png(&self) -> Option<Vec<u8>> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(self.qr_code.trim()).ok()?;
        bytes.starts_with(b"\x89PNG").then_some(bytes)
    }
}

impl Client {
    /// Generates a Dynamic QR code the M-Pesa app scans to pay.
    ///
    /// ```no_run
    /// use daraja::{Amount, DynamicQr, QrTrxCode};
    /// # async fn run(client: daraja::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let qr = client
    ///     .dynamic_qr(&DynamicQr {
    ///         merchant_name: "EXAMPLE DUKA".into(),
    ///         ref_no: "INV-10442".into(),
    ///         amount: Amount::new(150)?,
    ///         trx_code: QrTrxCode::PayBill,
    ///         cpi: "600987".into(),
    ///         size: 300,
    ///     })
    ///     .await?;
    /// std::fs::write("pay.png", qr.png().unwrap_or_default())?;
    /// # Ok(()) }
    /// ```
    pub async fn dynamic_qr(&self, qr: &DynamicQr) -> Result<QrCodeImage, Error> {
        let invalid = |field, reason: &str| Error::InvalidInput { field, reason: reason.to_owned() };
        let name = qr.merchant_name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("merchant_name", "the merchant name has 1 to 100 characters"));
        }
        let cpi = qr.cpi.trim();
        if cpi.is_empty() || cpi.len() > 12 || !cpi.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("cpi", "the CPI is a till, paybill or phone number (digits)"));
        }
        if !(100..=1000).contains(&qr.size) {
            return Err(invalid("size", "the image side is 100 to 1000 pixels"));
        }
        let body = QrBody {
            merchant_name: name,
            ref_no: qr.ref_no.trim(),
            amount: qr.amount.get(),
            trx_code: qr.trx_code,
            cpi,
            size: qr.size.to_string(),
        };
        let body = serde_json::to_value(&body).map_err(|e| invalid("body", &e.to_string()))?;
        let (status, bytes) = self.post_with_token(QR_PATH, &body).await?;
        if !(200..300).contains(&status) {
            return Err(self.error_from_answer(status, &bytes));
        }
        let unexpected = || Error::UnexpectedResponse { http_status: status, excerpt: self.excerpt(&bytes) };
        let image: QrCodeImage = serde_json::from_slice(&bytes).map_err(|_| unexpected())?;
        let code = image.response_code.trim();
        if code.is_empty() || !code.bytes().all(|b| b == b'0') {
            return Err(Error::Rejected {
                http_status: status,
                error_code: image.response_code,
                message: image.response_description,
                request_id: Some(image.request_id).filter(|r| !r.is_empty()),
            });
        }
        if image.png().is_none() {
            return Err(unexpected());
        }
        Ok(image)
    }
}
