//! The hosted pages over HTTP (no browser): what the checkout reveals and refuses, "Try again", the event
//! stream, the admin login, CSRF, and resolving a review — on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{csrf_of, no_redirects, poll, spawn_with, Backend, TestApp};
use lipa::domain::{Outcome, Source};
use serde_json::{json, Value};

const PASSWORD: &str = "pages-test-admin-pass";

async fn page(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = no_redirects().get(format!("{}{path}", app.url)).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

async fn form(app: &TestApp, path: &str, fields: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
    let mut req = no_redirects().post(format!("{}{path}", app.url)).form(fields).header("origin", app.url.clone());
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn state_of(app: &TestApp, id: &str) -> String {
    let v: Value = app.http.get(format!("{}/pay/{id}/status", app.url)).send().await.unwrap().json().await.unwrap();
    v["state"].as_str().unwrap_or_default().to_string()
}

async fn checkout_shows_little_escapes_all_and_sends_one_push(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_ADMIN_PASSWORD", PASSWORD)]).await;
    let p = app
        .create(json!({"amount": 1250, "reference": "ORD-<b>1</b>", "description": "Tea <script>alert(1)</script>",
                       "metadata": {"internal": "do-not-show-7731"}, "return_url": "https://shop.example/orders/1"}))
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let checkout = p["checkout_url"].as_str().expect("a payment without phone has a checkout_url");
    assert!(checkout.ends_with(&format!("/pay/{id}")));

    let (status, html, headers) = page(&app, &format!("/pay/{id}")).await;
    assert_eq!(status, 200);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(html.contains("KES 1,250") && html.contains("ANGAZE"));
    assert!(
        html.contains("Tea &#60;script&#62;alert(1)&#60;/script&#62;") && !html.contains("<script>alert"),
        "escaped"
    );
    assert!(!html.contains("do-not-show-7731"), "metadata is not shown to customers");
    assert!(!html.contains("type=\"password\""), "never a PIN field");
    assert!(html.contains("name=\"phone\""));

    // A bad number: a clear error and nothing sent. The answer is a redirect to the page (POST-redirect-GET:
    // reloading the error page does not send the form again); what was typed comes back, escaped.
    let r = form(&app, &format!("/pay/{id}/phone"), &[("phone", "0812 <345>")], None).await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, format!("/pay/{id}?error=phone_invalid")));
    let typed = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let again = no_redirects()
        .get(format!("{}/pay/{id}?error=phone_invalid", app.url))
        .header("cookie", &typed)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    let body = again.text().await.unwrap();
    assert!(body.contains("not a Kenyan mobile number") && body.contains("0812 &#60;345&#62;"), "{body}");
    assert!(body.contains("aria-invalid=\"true\""), "the field is marked invalid");
    let r = form(&app, &format!("/pay/{id}/phone"), &[("phone", "  ")], None).await;
    assert_eq!(location(&r), format!("/pay/{id}?error=phone_empty"));
    assert_eq!(state_of(&app, &id).await, "enter_phone");

    // Another site cannot submit the form.
    let r = no_redirects()
        .post(format!("{}/pay/{id}/phone", app.url))
        .header("origin", "https://evil.example")
        .form(&[("phone", "0708374149")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // The event stream starts with the current panel.
    let mut sse = app.http.get(format!("{}/pay/{id}/events", app.url)).send().await.unwrap();
    assert!(sse.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let first = String::from_utf8_lossy(&sse.chunk().await.unwrap().unwrap()).to_string();
    assert!(first.contains("event: status") && first.contains("enter_phone"), "{first}");

    // The sandbox test number pays by itself; a second submit sends no second prompt.
    let r = form(&app, &format!("/pay/{id}/phone"), &[("phone", "0708 374 149")], None).await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, format!("/pay/{id}")));
    let r = form(&app, &format!("/pay/{id}/phone"), &[("phone", "0700001032")], None).await;
    assert_eq!(r.status().as_u16(), 303);
    // The stream follows the payment to its end and then closes.
    let mut seen = first;
    let streamed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(chunk)) = sse.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(streamed.is_ok(), "the stream ends after the final state");
    assert!(seen.contains("\"state\":\"succeeded\""), "{seen}");
    let paid = app.settled(&id).await;
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(paid["phone"], "254708374149");
    let log = app.gw.state.store.payment_log(&id).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.kind == "push").count(), 1, "one push: {log:?}");
    let (_, html, _) = page(&app, &format!("/pay/{id}")).await;
    assert!(html.contains("Payment received") && html.contains("href=\"https://shop.example/orders/1\""));
    assert!(!html.contains(paid["checkout_request_id"].as_str().unwrap()), "Daraja ids stay private");

    assert_eq!(page(&app, "/pay/pay_ffffffffffffffffffffffff").await.0, 404);
    assert_eq!(page(&app, "/pay/%3Cscript%3E").await.0, 404);
    app.stop().await;
}
each_backend!(checkout_shows_little_escapes_all_and_sends_one_push);

async fn try_again_makes_one_new_payment_per_failure(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    let p = app.create(json!({"amount": 800, "reference": "RETRY-1", "return_url": "https://shop.example/r"})).await;
    let id = p["id"].as_str().unwrap().to_string();
    // Try again is only for failed payments.
    let r = form(&app, &format!("/pay/{id}/retry"), &[], None).await;
    assert_eq!(location(&r), format!("/pay/{id}"));

    form(&app, &format!("/pay/{id}/phone"), &[("phone", "0700001032")], None).await;
    assert_eq!(app.settled(&id).await["failure_reason"], "cancelled");
    let (_, html, _) = page(&app, &format!("/pay/{id}")).await;
    assert!(html.contains("cancelled on the phone") && html.contains("Try again"));

    let r = form(&app, &format!("/pay/{id}/retry"), &[], None).await;
    assert_eq!(r.status().as_u16(), 303);
    let next = location(&r);
    assert!(next.starts_with("/pay/pay_") && next != format!("/pay/{id}"), "{next}");
    let again = form(&app, &format!("/pay/{id}/retry"), &[], None).await;
    assert_eq!(location(&again), next, "a double click leads to the same new payment");

    let new_id = next.trim_start_matches("/pay/");
    let (_, n) = app.get(&format!("/v1/payments/{new_id}")).await;
    assert_eq!(
        (n["status"].as_str(), n["reference"].as_str(), n["amount"].as_i64()),
        (Some("pending"), Some("RETRY-1"), Some(800))
    );
    assert_eq!(n["return_url"], "https://shop.example/r");
    assert_eq!(state_of(&app, new_id).await, "enter_phone");
    // The new attempt is pending: the guard stops a third one for the reference.
    let (status, _) =
        app.post("/v1/payments", &json!({"amount": 800, "reference": "RETRY-1", "phone": "0708374149"})).await;
    assert_eq!(status, 409);
    app.stop().await;
}
each_backend!(try_again_makes_one_new_payment_per_failure);

async fn login(app: &TestApp) -> String {
    let r = form(app, "/admin/login", &[("password", PASSWORD)], None).await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/admin".to_string()));
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(part), "{set}");
    }
    set.split(';').next().unwrap().to_string()
}

async fn admin_page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = no_redirects().get(format!("{}{path}", app.url)).header("cookie", cookie).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn admin_login_csrf_chart_and_resolving_a_review(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_ADMIN_PASSWORD", PASSWORD)]).await;
    assert!(!format!("{:?}", app.gw.state.cfg).contains(PASSWORD));
    assert!(app.gw.state.cfg.admin_password.is_none(), "the plain password is not kept");

    // Not signed in: to the login page. Wrong password: refused.
    let (status, _, headers) = page(&app, "/admin").await;
    assert_eq!((status, headers["location"].to_str().unwrap()), (303, "/admin/login"));
    let started = std::time::Instant::now();
    let r = form(&app, "/admin/login", &[("password", "nope")], None).await;
    eprintln!(
        "a refused login took {:?} (PBKDF2, {} rounds)",
        started.elapsed(),
        lipa::auth::password::PBKDF2_ITERATIONS
    );
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let (status, _) =
        admin_page(&app, "lipa_admin=0000000000000000000000000000000000000000000000000000000000000000", "/admin").await;
    assert_eq!(status, 303, "a made-up session is no session");

    let cookie = login(&app).await;
    let paid = app.create(json!({"amount": 800, "phone": "0708374149", "reference": "ADM-1"})).await;
    let failed = app.create(json!({"amount": 500, "phone": "0700000001", "reference": "ADM-2"})).await;
    let review = app.create(json!({"amount": 900, "reference": "ADM-<3>"})).await;
    app.settled(paid["id"].as_str().unwrap()).await;
    app.settled(failed["id"].as_str().unwrap()).await;
    let review_id = review["id"].as_str().unwrap().to_string();
    let now = lipa::app::now_ms();
    let outcome = Outcome::Unresolved { why: "test: fate unknown".into() };
    app.gw.state.store.apply_outcome(&review_id, Source::Timer, &outcome, now).await.unwrap();

    let (status, html) = admin_page(&app, &cookie, "/admin").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<svg class=\"chart\"")
            && html.contains("class=\"bar-ok\"")
            && html.contains("class=\"bar-bad\"")
    );
    assert!(html.contains("KES 800") && html.contains("ADM-&#60;3&#62;") && !html.contains("ADM-<3>"));
    let (_, html) = admin_page(&app, &cookie, "/admin?q=ADM-1").await;
    assert!(html.contains("ADM-1") && !html.contains("ADM-2"));
    let (_, html) = admin_page(&app, &cookie, "/admin?q=%2B254%20700%20000%20001").await;
    assert!(html.contains("ADM-2") && !html.contains("ADM-1<"), "search by phone in another format");
    let (_, html) = admin_page(&app, &cookie, "/admin?status=needs_review").await;
    assert!(html.contains(&review_id) && !html.contains("ADM-1"));
    let (_, html) = admin_page(&app, &cookie, "/admin?range=24h").await;
    assert!(html.contains("Last 24 hours") && html.contains("class=\"bar-ok\""));

    // Resolve the review: without the CSRF token nothing happens; with it, one event.
    let (_, html) = admin_page(&app, &cookie, &format!("/admin/payments/{review_id}")).await;
    assert!(html.contains("Resolve the review") && html.contains("test: fate unknown"));
    let csrf = csrf_of(&html);
    let path = format!("/admin/payments/{review_id}/resolve");
    let r = form(&app, &path, &[("csrf", "x"), ("decision", "succeeded"), ("note", "seen")], Some(&cookie)).await;
    assert_eq!(r.status().as_u16(), 403);
    let r = no_redirects()
        .post(format!("{}{path}", app.url))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("decision", "succeeded"), ("note", "seen")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "another origin is refused even with the token");
    assert_eq!(app.get(&format!("/v1/payments/{review_id}")).await.1["status"], "needs_review");
    let r = form(
        &app,
        &path,
        &[("csrf", &csrf), ("decision", "succeeded"), ("note", "receipt TX1 in the portal")],
        Some(&cookie),
    )
    .await;
    assert_eq!(location(&r), format!("/admin/payments/{review_id}?done=resolved"));
    assert_eq!(app.get(&format!("/v1/payments/{review_id}")).await.1["status"], "succeeded");
    let types: Vec<String> =
        app.events_for(&review_id).await.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(types, ["payment.succeeded", "payment.needs_review"], "newest first");
    // Only from needs_review: a second decision changes nothing.
    let r = form(&app, &path, &[("csrf", &csrf), ("decision", "failed"), ("note", "oops")], Some(&cookie)).await;
    assert_eq!(location(&r), format!("/admin/payments/{review_id}?done=not_in_review"));
    assert_eq!(app.events_for(&review_id).await.len(), 2);
    let (_, html) = admin_page(&app, &cookie, &format!("/admin/payments/{review_id}")).await;
    assert!(html.contains("resolved by an operator as succeeded: receipt TX1 in the portal"));

    // Redeliver an event.
    let event_id = app.events_for(&review_id).await[0]["id"].as_str().unwrap().to_string();
    let r = form(&app, &format!("/admin/events/{event_id}/redeliver"), &[("csrf", &csrf)], Some(&cookie)).await;
    assert_eq!(location(&r), format!("/admin/payments/{review_id}?done=redelivered"));

    // Sign out: the session is gone (also for another instance sharing the database).
    let r = form(&app, "/admin/logout", &[("csrf", &csrf)], Some(&cookie)).await;
    assert_eq!(location(&r), "/admin/login");
    assert_eq!(admin_page(&app, &cookie, "/admin").await.0, 303);
    app.stop().await;
}
each_backend!(admin_login_csrf_chart_and_resolving_a_review);

#[tokio::test]
async fn shop_makes_a_payment_and_pages_are_off_outside_the_simulator_where_they_should_be() {
    let app = spawn_with(&common::Backend::Sqlite, &[]).await;
    let r = form(&app, "/shop/buy", &[], None).await;
    assert_eq!(r.status().as_u16(), 303);
    let to = location(&r);
    assert!(to.starts_with("/pay/pay_"), "{to}");
    let id = to.trim_start_matches("/pay/");
    let (_, p) = app.get(&format!("/v1/payments/{id}")).await;
    assert_eq!((p["amount"].as_i64(), p["status"].as_str()), (Some(800), Some("pending")));
    assert!(p["reference"].as_str().unwrap().starts_with("SHOP-"));
    assert!(p["checkout_url"].as_str().unwrap().ends_with(&to));
    let banner = app.gw.banner();
    assert!(banner.contains("/shop") && banner.contains("/admin  (password: "), "{banner}");
    let pw = app.gw.admin_password.clone().expect("simulator mode makes an admin password");
    let r = form(&app, "/admin/login", &[("password", &pw)], None).await;
    assert_eq!(r.status().as_u16(), 303);
    let found =
        poll(Duration::from_secs(5), || async { (page(&app, "/assets/lipa.css").await.0 == 200).then_some(()) }).await;
    assert!(found.is_some());
    app.stop().await;
}

async fn page_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, String, reqwest::header::HeaderMap) {
    let mut req = no_redirects().get(format!("{}{path}", app.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let (status, h) = (r.status().as_u16(), r.headers().clone());
    (status, r.text().await.unwrap(), h)
}

async fn checkout_speaks_swahili_shows_the_contact_and_a_receipt_and_changes_the_number_safely(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_MERCHANT_CONTACT", "0712 000 111")]).await;
    let p = app.create(json!({"amount": 1500, "reference": "SW-1", "description": "Chai"})).await;
    let id = p["id"].as_str().unwrap().to_string();

    // The browser's language chooses; the switch (a link, remembered in a cookie) overrides.
    let sw = [("accept-language", "sw-KE,sw;q=0.9,en;q=0.5")];
    let (_, html, _) = page_with(&app, &format!("/pay/{id}"), &sw).await;
    assert!(html.contains("<html lang=\"sw\">") && html.contains("Lipa kwa M-Pesa"), "{html}");
    assert!(html.contains("Tuma ombi la malipo") && html.contains("Kumbukumbu") && !html.contains("Send payment"));
    assert!(html.contains("href=\"/pay/{id}?lang=en\"".replace("{id}", &id).as_str()), "a switch to English");
    let (_, html, headers) = page_with(&app, &format!("/pay/{id}?lang=en"), &sw).await;
    assert!(html.contains("<html lang=\"en\">") && html.contains("Pay with M-Pesa"));
    let chosen = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert_eq!(chosen, "lipa_lang=en");
    let (_, html, _) = page_with(&app, &format!("/pay/{id}"), &[sw[0], ("cookie", &chosen)]).await;
    assert!(html.contains("Pay with M-Pesa"), "the choice beats the browser");
    let (_, html, _) = page_with(&app, &format!("/pay/{id}"), &[]).await;
    assert!(html.contains("Pay with M-Pesa"), "English when the browser names neither");
    // The live panel comes in the page's language too.
    let v: Value =
        app.http.get(format!("{}/pay/{id}/status?lang=sw", app.url)).send().await.unwrap().json().await.unwrap();
    assert!(v["html"].as_str().unwrap().contains("Lipa kwa M-Pesa"), "{v}");
    // The merchant's contact line, a phone with a WhatsApp link.
    assert!(html.contains("href=\"tel:+254712000111\"") && html.contains("https://wa.me/254712000111"), "{html}");
    let (_, html, _) = page_with(&app, &format!("/pay/{id}"), &sw).await;
    assert!(html.contains("Una swali kuhusu malipo haya? Wasiliana na ANGAZE"));

    // A number that waits on the handset: "Wrong number?" explains; Try again does nothing while the prompt
    // is out (never two prompts at once).
    let r = form(&app, &format!("/pay/{id}/phone"), &[("phone", "0712 345 678")], None).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html, _) = page(&app, &format!("/pay/{id}")).await;
    assert!(html.contains("Wrong number?") && html.contains("never send two at once"), "{html}");
    assert!(html.contains("0712 ••• 678"));
    assert!(html.contains("id=\"next-number\""), "the right number can be typed while waiting");
    let r = form(&app, &format!("/pay/{id}/retry"), &[("phone", "0708374149")], None).await;
    assert_eq!(location(&r), format!("/pay/{id}?error=still_waiting"), "no new payment while the first is out");
    assert_eq!(app.sim().transactions().len(), 1, "one prompt");
    let (_, html, _) = page(&app, &format!("/pay/{id}?error=still_waiting")).await;
    assert!(html.contains("The first request is still open on that phone, so nothing was sent."), "{html}");
    // The customer cancels on the wrong phone; the failure panel takes the right number and sends the new
    // payment's one prompt there.
    let checkout = app.sim().transactions()[0].checkout_request_id.clone();
    app.sim().complete(&checkout, 1032).unwrap();
    assert_eq!(app.settled(&id).await["status"], "failed");
    let (_, html, _) = page_with(&app, &format!("/pay/{id}"), &sw).await;
    assert!(html.contains("Malipo yalighairiwa kwenye simu.") && html.contains("Jaribu tena"), "{html}");
    assert!(html.contains("name=\"phone\""), "another number can be given");
    let r = form(&app, &format!("/pay/{id}/retry"), &[("phone", "0708374149")], None).await;
    let next = location(&r);
    let new_id = next.trim_start_matches("/pay/").to_string();
    assert!(new_id.starts_with("pay_") && new_id != id, "{next}");
    let again = form(&app, &format!("/pay/{id}/retry"), &[("phone", "0708374149")], None).await;
    assert_eq!(location(&again), next, "a double click: the same payment, no second prompt");
    let paid = app.settled(&new_id).await;
    assert_eq!((paid["status"].as_str(), paid["phone"].as_str()), (Some("succeeded"), Some("254708374149")));
    assert_eq!(app.sim().transactions().len(), 2, "one prompt per payment");

    // The receipt: date and time on the page, and a page of its own to print or share.
    let (_, html, _) = page(&app, &format!("/pay/{new_id}")).await;
    assert!(html.contains("Date and time") && html.contains(&format!("href=\"/pay/{new_id}/receipt\"")), "{html}");
    let (status, html, _) = page_with(&app, &format!("/pay/{new_id}/receipt"), &sw).await;
    assert_eq!(status, 200);
    let receipt = paid["mpesa_receipt"].as_str().unwrap();
    assert!(html.contains("Risiti ya malipo") && html.contains(receipt) && html.contains("KES 1,500"), "{html}");
    assert!(html.contains("data-print") && html.contains("Tarehe na saa"), "{html}");
    let today =
        jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(3))).strftime("%d/%m/%Y");
    assert!(html.contains(&today.to_string()), "the date, the Kenyan way: {html}");
    let (_, html, _) = page(&app, &format!("/pay/{id}/receipt")).await;
    assert!(html.contains("there is no receipt"), "a failed payment has none");
    // A wrong link: the error page is in the customer's language too.
    let (status, html, _) = page_with(&app, "/pay/pay_ffffffffffffffffffffffff", &sw).await;
    assert_eq!(status, 404);
    assert!(html.contains("<html lang=\"sw\">") && html.contains("Hakuna malipo hapa"), "{html}");
    app.stop().await;
}
each_backend!(checkout_speaks_swahili_shows_the_contact_and_a_receipt_and_changes_the_number_safely);

async fn admin_alert_dates_csv_reasons_whole_callbacks_and_docs(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_ADMIN_PASSWORD", PASSWORD)]).await;
    let cookie = login(&app).await;
    let paid = app.create(json!({"amount": 800, "phone": "0708374149", "reference": "CSV-1"})).await;
    let failed = app.create(json!({"amount": 500, "phone": "0700000001", "reference": "CSV,=2"})).await;
    let paid_id = paid["id"].as_str().unwrap().to_string();
    app.settled(&paid_id).await;
    app.settled(failed["id"].as_str().unwrap()).await;

    let (_, html) = admin_page(&app, &cookie, "/admin").await;
    assert!(!html.contains("id=\"review-alert\""), "nothing to review yet");
    assert!(html.contains("insufficient funds") && !html.contains(">insufficient_funds<"), "reasons in words");
    // One day of data: the chart shows hours, each bar with its number.
    assert!(html.contains("Last 24 hours") && html.contains("class=\"value\""), "{html}");
    let review = app.create(json!({"amount": 900, "reference": "CSV-3"})).await;
    let review_id = review["id"].as_str().unwrap().to_string();
    let outcome = Outcome::Unresolved { why: "test: fate unknown".into() };
    app.gw.state.store.apply_outcome(&review_id, Source::Timer, &outcome, lipa::app::now_ms()).await.unwrap();
    let (_, html) = admin_page(&app, &cookie, "/admin").await;
    assert!(html.contains("id=\"review-alert\"") && html.contains("1 payment needs review"), "{html}");

    // Dates (Nairobi days).
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(3))).date();
    let tomorrow = today.tomorrow().unwrap();
    let (_, html) = admin_page(&app, &cookie, &format!("/admin?from={today}&to={today}")).await;
    assert!(html.contains("CSV-1") && html.contains("CSV-3"), "today's payments");
    let (_, html) = admin_page(&app, &cookie, &format!("/admin?from={tomorrow}")).await;
    assert!(html.contains("No payments match.") && !html.contains("CSV-1"));
    let (_, html) = admin_page(&app, &cookie, &format!("/admin?to={}", today.yesterday().unwrap())).await;
    assert!(html.contains("No payments match."));

    // CSV of the filtered list.
    let (_, html) = admin_page(&app, &cookie, "/admin?status=failed").await;
    assert!(html.contains("href=\"/admin/payments.csv?status=failed\""), "{html}");
    let r = no_redirects()
        .get(format!("{}/admin/payments.csv?status=failed&from={today}", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("id,created_eat,reference,phone,amount_kes,status"));
    assert!(lines[1].contains("\"CSV,=2\",254700000001,500,failed,,insufficient funds"), "{csv}");
    let r = no_redirects().get(format!("{}/admin/payments.csv", app.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "signed-in operators only");

    // The whole callback body as received.
    let (_, html) = admin_page(&app, &cookie, &format!("/admin/payments/{paid_id}")).await;
    assert!(html.contains("Callback body as received") && html.contains("stkCallback"), "{html}");
    assert!(html.contains("PhoneNumber") && html.contains("TransactionDate"), "the body in full: {html}");

    // /docs: the guide first, merchant endpoints in the order of a payment's life, Markdown rendered.
    let (status, html, headers) = page(&app, "/docs").await;
    assert_eq!(status, 200);
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("{needle} is on /docs"));
    assert!(at("id=\"guide\"") < at("id=\"op-createPayment\""));
    let order = [
        "op-createPayment",
        "op-getPayment",
        "op-listPayments",
        "op-listEvents",
        "op-getEvent",
        "op-redeliverEvent",
        "op-healthz",
    ];
    for pair in order.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{} before {}", pair[0], pair[1]);
    }
    assert!(html.contains("<pre><code class=\"language-sh\">curl"), "example requests");
    assert!(html.contains("<pre><code class=\"language-json\">{\"id\": \"pay_"), "example answers");
    assert!(html.contains("<code>Authorization: Bearer &lt;api key&gt;</code>"), "Markdown in descriptions");
    app.stop().await;
}
each_backend!(admin_alert_dates_csv_reasons_whole_callbacks_and_docs);
