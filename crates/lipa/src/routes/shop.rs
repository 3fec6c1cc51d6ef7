//! The demo shop (simulator mode only): one product and "Pay with M-Pesa", which makes a payment with
//! the store directly (no API key; the shop is lipa itself) without a phone, so the checkout page asks for
//! it. With the virtual handset this is the whole loop in a browser: shop → checkout → phone → paid.
//!
//! - `GET  /`          → `/shop` (simulator mode)
//! - `GET  /shop`      the product; `?order=REF` shows what became of that order
//! - `POST /shop/buy`  make the payment and go to its checkout page

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::checkout::checkout_draft;
use super::checkout::strings::{Lang, Texts};
use super::pages::{kes, render, same_origin, see_other, url_component, PageError};
use crate::app::AppState;
use crate::config::Mode;
use crate::domain::PaymentStatus;
use crate::store::PaymentFilter;

const PRODUCT: &str = "Kenyan AA coffee, 500 g";
const PRODUCT_BLURB: &str = "Single-origin beans from Nyeri, roasted this week. (A demo: no real money moves.)";
const PRICE: i64 = 800;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home)).route("/shop", get(shop)).route("/shop/buy", post(buy))
}

fn simulator_only(state: &AppState) -> Result<(), PageError> {
    if state.cfg.mode == Mode::Simulator {
        Ok(())
    } else {
        Err(PageError::NotFound)
    }
}

async fn home(State(state): State<AppState>) -> Result<Response, PageError> {
    simulator_only(&state)?;
    Ok(see_other("/shop"))
}

#[derive(serde::Deserialize)]
struct ShopQuery {
    order: Option<String>,
}

#[derive(Template)]
#[template(path = "shop.html")]
struct ShopPage<'a> {
    merchant: &'a str,
    order: Option<String>,
    product: &'a str,
    blurb: &'a str,
    price: String,
}

async fn shop(State(state): State<AppState>, Query(q): Query<ShopQuery>) -> Result<Response, PageError> {
    simulator_only(&state)?;
    let mut order = None;
    if let Some(reference) = q.order.filter(|o| !o.is_empty() && o.len() <= 100) {
        let filter = PaymentFilter { reference: Some(reference.clone()), limit: 1, ..PaymentFilter::default() };
        let latest = state.store.list_payments(&filter).await?.data.into_iter().next();
        order = Some(match latest {
            None => format!("There is no order {}.", reference),
            Some(p) => match p.status {
                PaymentStatus::Succeeded => format!(
                    "Order {} is paid{}. Your coffee is on its way!",
                    p.reference,
                    p.mpesa_receipt.map(|r| format!(" (M-Pesa receipt {r})")).unwrap_or_default()
                ),
                PaymentStatus::Failed => {
                    let why = Texts::for_lang(Lang::En).failure(p.failure_reason.map(|r| r.as_str()));
                    format!("Order {} is not paid: {why}", p.reference)
                }
                PaymentStatus::NeedsReview => {
                    format!("Order {}: we are confirming the payment with M-Pesa.", p.reference)
                }
                PaymentStatus::Pending => format!("Order {} is waiting for payment.", p.reference),
            },
        });
    }
    let page = ShopPage {
        merchant: &state.cfg.merchant_name,
        order,
        product: PRODUCT,
        blurb: PRODUCT_BLURB,
        price: kes(PRICE),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn buy(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    simulator_only(&state)?;
    if !same_origin(&headers) {
        return Err(PageError::Forbidden("This form must be sent from the shop page itself."));
    }
    let order = format!("SHOP-{}", hex::encode_upper(rand::random::<[u8; 3]>()));
    let reference = daraja::AccountReference::new(&order, state.cfg.reference_max_len)
        .map(|r| r.as_str().to_string())
        .map_err(|e| PageError::Internal(format!("shop reference: {e}")))?;
    let return_url = format!("{}/shop?order={}", state.public_base, url_component(&reference));
    let draft =
        checkout_draft(PRICE, reference, PRODUCT.to_string(), json!({ "source": "demo shop" }), Some(return_url));
    let origin = crate::payments::Origin::Shop;
    let created =
        crate::payments::create(&state, crate::payments::PaymentRequest { draft, push: None, origin }).await?;
    Ok(see_other(&format!("/pay/{}", created.payment.id)).into_response())
}
