//! The admin's money-out pages on both databases: the refund button of a succeeded payment, the payouts
//! and refunds lists, and the balances read from M-Pesa.

mod common;

use std::time::Duration;

use common::{admin_login, admin_page, csrf_of, no_redirects, poll, spawn_with, Backend};
use serde_json::json;

const PASSWORD: &str = "money-out-admin-pass";

async fn admin_refunds_and_lists_money_out(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_ADMIN_PASSWORD", PASSWORD), ("LIPA_REFUND_METHOD", "b2c")]).await;
    let cookie = admin_login(&app, PASSWORD).await;
    let p = app.create(json!({"amount": 600, "phone": "0708374149", "reference": "ADMIN-REFUND"})).await;
    let id = p["id"].as_str().unwrap();
    app.settled(id).await;
    let html = admin_page(&app, &cookie, &format!("/admin/payments/{id}")).await;
    assert!(html.contains(&format!("action=\"/admin/payments/{id}/refund\"")), "a refund button");
    let csrf = csrf_of(&html);
    let csrf = csrf.as_str();
    let post = |amount: &'static str| {
        no_redirects()
            .post(format!("{}/admin/payments/{id}/refund", app.url))
            .header("cookie", cookie.clone())
            .header("origin", app.url.clone())
            .form(&[("csrf", csrf), ("amount", amount), ("reason", "returned goods")])
            .send()
    };
    let r = post("250").await.unwrap();
    assert_eq!(r.headers()["location"], format!("/admin/payments/{id}?done=refund_created").as_str());
    let r = post("400").await.unwrap();
    assert_eq!(r.headers()["location"], format!("/admin/payments/{id}?done=refund_exceeds_payment").as_str());
    // Without the CSRF token nothing happens.
    let r = no_redirects()
        .post(format!("{}/admin/payments/{id}/refund", app.url))
        .header("cookie", cookie.clone())
        .header("origin", app.url.clone())
        .form(&[("amount", "10")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let refunded = poll(Duration::from_secs(20), || async {
        let (_, p) = app.get(&format!("/v1/payments/{id}")).await;
        (p["refunded_amount"] == 250).then_some(())
    })
    .await;
    assert!(refunded.is_some(), "the refund succeeded");
    let (status, _) = app.post("/v1/payouts", &json!({"amount": 75, "phone": "0712345678"})).await;
    assert_eq!(status, 201);
    let refunds = admin_page(&app, &cookie, "/admin/refunds").await;
    assert!(refunds.contains("re_") && refunds.contains(&format!("/admin/payments/{id}")), "{refunds}");
    let payouts = admin_page(&app, &cookie, "/admin/payouts").await;
    assert!(payouts.contains("po_") && payouts.contains("254712345678"), "{payouts}");
    let balance = admin_page(&app, &cookie, "/admin/balance").await;
    assert!(balance.contains("Utility Account") && balance.contains("Read from M-Pesa"), "{balance}");
    // Signed out, the pages are not shown.
    let r = no_redirects().get(format!("{}/admin/payouts", app.url)).send().await.unwrap();
    assert_ne!(r.status().as_u16(), 200);
    app.stop().await;
}
each_backend!(admin_refunds_and_lists_money_out);
