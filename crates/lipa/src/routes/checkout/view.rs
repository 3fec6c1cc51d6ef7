//! What the checkout templates show, worked out from a payment: the live status panel (also sent alone
//! to the page's script), the whole page and the receipt page. Nothing here writes HTML: the templates
//! under `templates/checkout/` do, and they escape every value.

use askama::Template;

use super::strings::{fill, Lang, Texts};
use crate::app::AppState;
use crate::config::Mode;
use crate::domain::{Payment, PaymentStatus, PushState};
use crate::routes::pages::{kes, url_component};

/// What the customer sees, as one word (also the `data-state` the script compares).
pub fn view_state(p: &Payment) -> &'static str {
    match (p.status, p.push_state) {
        (PaymentStatus::Pending, PushState::AwaitingPhone) => "enter_phone",
        (PaymentStatus::Pending, PushState::Sending) => "sending",
        (PaymentStatus::Pending, _) => "waiting",
        (PaymentStatus::Succeeded, _) => "succeeded",
        (PaymentStatus::Failed, _) => "failed",
        (PaymentStatus::NeedsReview, _) => "needs_review",
    }
}

/// `254712345678` → `0712 ••• 678`: enough for the customer to recognise their number.
pub fn masked_phone(phone: &str) -> Option<String> {
    let local = phone.strip_prefix("254").map(|r| format!("0{r}")).unwrap_or_else(|| phone.to_string());
    (local.len() >= 7).then(|| format!("{} ••• {}", &local[..4], &local[local.len() - 3..]))
}

/// Unix ms as Nairobi wall time the Kenyan way, `30/11/2026 13:15:02`.
pub fn local_time(ms: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return String::new();
    };
    let tz = jiff::tz::TimeZone::get("Africa/Nairobi").unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned_datetime(tz).strftime("%d/%m/%Y %H:%M:%S").to_string()
}

/// A link back to the shop, only for http(s) URLs (validated when the payment was made; checked again).
fn return_url(p: &Payment) -> Option<String> {
    let u = p.return_url.as_deref()?;
    let parsed = url::Url::parse(u).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| u.to_string())
}

/// The live part of the page, ready for `templates/checkout/panel.html`.
pub struct PanelView {
    pub t: &'static Texts,
    pub id: String,
    pub view: &'static str,
    /// `enter_phone`: the message of a refused number and what was typed.
    pub phone_error: Option<String>,
    pub typed: String,
    /// `sending`/`waiting`: "Enter your PIN…" and "We sent the request to 0712 ••• 678."
    pub prompt: String,
    pub sent_to: String,
    /// Simulator mode: the handset link's `phone=` value.
    pub sim_phone: Option<String>,
    /// `succeeded`.
    pub paid_text: String,
    pub receipt: Option<String>,
    pub paid_at: Option<String>,
    /// `failed`.
    pub failure: &'static str,
    /// `needs_review`.
    pub review_text: String,
    pub back_to: Option<(String, String)>,
    /// While open: how to pay the paybill or till instead, and the QR code.
    pub c2b: Option<C2bView>,
}

/// "Pay Bill 174379, account INV-1, KES 150", the steps in the M-Pesa menu, and the QR code.
pub struct C2bView {
    pub line: String,
    pub steps: String,
    pub qr_src: String,
    pub qr_alt: String,
    /// Simulator mode: the handset's SIM menu.
    pub sim: bool,
}

impl C2bView {
    fn new(state: &AppState, p: &Payment, t: &'static Texts) -> C2bView {
        let collect = crate::c2b::Collect::of(&state.cfg);
        let amount = kes(p.amount);
        let values =
            [("number", collect.number()), ("account", p.account_reference.as_str()), ("amount", amount.as_str())];
        let (line, steps) = if collect.is_paybill() {
            (t.c2b_paybill, t.c2b_steps_paybill)
        } else {
            (t.c2b_buygoods, t.c2b_steps_buygoods)
        };
        C2bView {
            line: fill(line, &values),
            steps: fill(steps, &values),
            qr_src: format!("/pay/{}/qr.png", p.id),
            qr_alt: fill(t.c2b_qr_alt, &[("amount", &amount), ("merchant", &state.cfg.merchant_name)]),
            sim: state.cfg.mode == Mode::Simulator,
        }
    }
}

impl PanelView {
    pub fn new(state: &AppState, p: &Payment, lang: Lang, phone_error: Option<(String, String)>) -> PanelView {
        let t = Texts::for_lang(lang);
        let merchant = state.cfg.merchant_name.as_str();
        let amount = kes(p.amount);
        let view = view_state(p);
        let to = p.phone.as_deref().and_then(masked_phone).unwrap_or_else(|| t.your_phone.to_string());
        let (phone_error, typed) = phone_error.unzip();
        PanelView {
            t,
            id: p.id.clone(),
            view,
            phone_error,
            typed: typed.unwrap_or_default(),
            prompt: fill(t.enter_pin, &[("amount", &amount), ("merchant", merchant)]),
            sent_to: fill(if view == "sending" { t.sending_to } else { t.sent_to }, &[("phone", &to)]),
            sim_phone: match (state.cfg.mode, p.phone.as_deref()) {
                (Mode::Simulator, Some(phone)) => Some(url_component(phone)),
                _ => None,
            },
            paid_text: fill(t.paid_text, &[("amount", &amount), ("merchant", merchant)]),
            receipt: p.mpesa_receipt.clone(),
            paid_at: p.completed_at.map(local_time),
            failure: t.failure(p.failure_reason.map(|r| r.as_str())),
            review_text: fill(t.review_text, &[("merchant", merchant)]),
            back_to: return_url(p).map(|u| (u, fill(t.back_to, &[("merchant", merchant)]))),
            c2b: (p.status == PaymentStatus::Pending).then(|| C2bView::new(state, p, t)),
        }
    }
}

/// The panel alone: what `/pay/{id}/status` and `/pay/{id}/events` send for the script to swap in.
#[derive(Template)]
#[template(path = "checkout/panel.html")]
pub struct PanelAlone<'a> {
    pub v: &'a PanelView,
}

/// How to reach the merchant: an email, a phone (with a WhatsApp link) or plain text.
pub enum Contact {
    Email(String),
    Phone { shown: String, tel: String, whatsapp: String },
    Text(String),
}

impl Contact {
    pub fn parse(raw: &str) -> Contact {
        let raw = raw.trim();
        if raw.contains('@') && !raw.contains(' ') {
            return Contact::Email(raw.to_string());
        }
        match daraja::Msisdn::parse(raw) {
            Ok(m) => Contact::Phone {
                shown: raw.to_string(),
                tel: format!("+{}", m.as_str()),
                whatsapp: format!("https://wa.me/{}", m.as_str()),
            },
            Err(_) => Contact::Text(raw.to_string()),
        }
    }
}

/// The whole checkout page.
#[derive(Template)]
#[template(path = "checkout/page.html")]
pub struct CheckoutPage<'a> {
    pub v: &'a PanelView,
    pub title: String,
    pub merchant: &'a str,
    pub amount: String,
    pub description: Option<&'a str>,
    pub reference: &'a str,
    pub notice: Option<&'static str>,
    pub contact: Option<(String, Contact)>,
}

impl<'a> CheckoutPage<'a> {
    pub fn new(state: &'a AppState, p: &'a Payment, v: &'a PanelView, notice: Option<&'static str>) -> Self {
        let merchant = state.cfg.merchant_name.as_str();
        let amount = kes(p.amount);
        CheckoutPage {
            v,
            title: fill(v.t.title, &[("amount", &amount), ("merchant", merchant)]),
            merchant,
            amount,
            description: (p.description != p.reference).then_some(p.description.as_str()),
            reference: &p.reference,
            notice,
            contact: state
                .cfg
                .merchant_contact
                .as_deref()
                .map(|c| (fill(v.t.contact, &[("merchant", merchant)]), Contact::parse(c))),
        }
    }
}

/// `/pay/{id}/receipt`: a page to print, save or share.
#[derive(Template)]
#[template(path = "checkout/receipt.html")]
pub struct ReceiptPage<'a> {
    pub t: &'static Texts,
    pub id: &'a str,
    pub paid: bool,
    pub merchant: &'a str,
    pub amount: String,
    pub receipt: Option<&'a str>,
    pub paid_at: Option<String>,
    pub reference: &'a str,
    pub description: Option<&'a str>,
    pub phone: Option<String>,
}

impl<'a> ReceiptPage<'a> {
    pub fn new(state: &'a AppState, p: &'a Payment, lang: Lang) -> Self {
        ReceiptPage {
            t: Texts::for_lang(lang),
            id: &p.id,
            paid: p.status == PaymentStatus::Succeeded,
            merchant: &state.cfg.merchant_name,
            amount: kes(p.amount),
            receipt: p.mpesa_receipt.as_deref(),
            paid_at: p.completed_at.map(local_time),
            reference: &p.reference,
            description: (p.description != p.reference).then_some(p.description.as_str()),
            phone: p.phone.as_deref().and_then(masked_phone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked() {
        assert_eq!(masked_phone("254712345678").as_deref(), Some("0712 ••• 678"));
        assert_eq!(masked_phone("2547"), None);
    }

    #[test]
    fn contacts() {
        assert!(matches!(Contact::parse("orders@angaze.example"), Contact::Email(_)));
        match Contact::parse("0712 345 678") {
            Contact::Phone { tel, whatsapp, .. } => {
                assert_eq!(tel, "+254712345678");
                assert_eq!(whatsapp, "https://wa.me/254712345678");
            }
            _ => panic!("a phone"),
        }
        assert!(matches!(Contact::parse("Shop 4, Moi Avenue"), Contact::Text(_)));
    }
}
