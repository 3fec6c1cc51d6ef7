//! The hosted pages in a real browser: headless Chromium driven over the W3C WebDriver protocol (plain
//! HTTP to chromedriver, with reqwest). The whole seed loop — demo shop, checkout, virtual handset, live
//! success — and the admin dashboard. Screenshots of every step go to `target/browser-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian: /usr/bin/chromium, /usr/bin/chromedriver; `.ci/run`
//! installs them). Without chromedriver the test says it is skipped and passes. `CHROMEDRIVER` and
//! `CHROME_BIN` override the paths.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "browser-test-admin-pass";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    shots: PathBuf,
    _child: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Driver {
    /// `languages`: the browser's `Accept-Language` (Chrome's `intl.accept_languages`).
    async fn start(chromedriver: &str, chrome: &str, languages: &str) -> Driver {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let ready = common::poll(Duration::from_secs(20), || async {
            let r = http.get(format!("{base}/status")).send().await.ok()?;
            let v: Value = r.json().await.ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r)
        })
        .await;
        assert!(ready.is_some(), "chromedriver did not become ready on port {port}");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome,
                "prefs": { "intl.accept_languages": languages },
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--hide-scrollbars", format!("--user-data-dir={}", profile.path().display())
                ]
            }
        }}});
        let v: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Driver { http, base, session, shots, _child: child, _profile: profile }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "WebDriver {path} answered {status}: {v}");
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or_default().to_string()
    }

    async fn js(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] })).await
    }

    async fn find(&self, css: &str) -> String {
        let v = self.post("/element", json!({ "using": "css selector", "value": css })).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{e}/clear"), json!({})).await;
        self.post(&format!("/element/{e}/value"), json!({ "text": text })).await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    /// Wait until `script` (an expression) is truthy.
    async fn wait_for(&self, what: &str, script: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let v = self.js(&format!("return !!({script});")).await;
            if v.as_bool() == Some(true) {
                return;
            }
            if Instant::now() > deadline {
                self.shot(&format!("FAILED-{}", what.replace(' ', "-"))).await;
                let text = self.js("return document.body ? document.body.innerText : ''").await;
                panic!(
                    "timed out waiting for {what} at {}; page text:\n{}",
                    self.url().await,
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let v =
            self.js(&format!("var e = document.querySelector({}); return e ? e.innerText : null;", json!(css))).await;
        v.as_str().unwrap_or_default().to_string()
    }

    async fn size(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height })).await;
    }

    async fn shot(&self, name: &str) {
        let v = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).unwrap_or_default();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    async fn quit(self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
    }
}

fn tool(env: &str, default: &str) -> Option<String> {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_string());
    std::path::Path::new(&path).exists().then_some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_checkout_handset_and_admin_in_a_browser() {
    let (Some(chromedriver), Some(chrome)) =
        (tool("CHROMEDRIVER", "/usr/bin/chromedriver"), tool("CHROME_BIN", "/usr/bin/chromium"))
    else {
        eprintln!(
            "SKIPPED: the browser test needs chromedriver and chromium (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let app = common::spawn_with(&common::Backend::Sqlite, &[("LIPA_ADMIN_PASSWORD", ADMIN_PASSWORD)]).await;
    let d = Driver::start(&chromedriver, &chrome, "en-GB,en").await;
    let url = app.url.clone();

    // A phone-sized window for the customer's side.
    d.size(390, 844).await;
    d.goto(&format!("{url}/")).await;
    d.wait_for("the shop", "document.querySelector('form[action=\"/shop/buy\"] button')", Duration::from_secs(10))
        .await;
    assert!(d.url().await.ends_with("/shop"), "/ leads to the shop in simulator mode");
    d.shot("01-shop-mobile").await;

    d.click("form[action=\"/shop/buy\"] button").await;
    d.wait_for(
        "the checkout phone form",
        "document.querySelector('#live[data-state=enter_phone] input#phone')",
        Duration::from_secs(10),
    )
    .await;
    let checkout_url = d.url().await;
    assert!(checkout_url.contains("/pay/pay_"), "{checkout_url}");
    let page_text = d.text("main").await;
    assert!(page_text.contains("KES 800") && page_text.contains("ANGAZE"), "{page_text}");
    d.shot("02-checkout-phone-mobile").await;

    // A number that is not Kenyan: a clear error, no push.
    d.type_into("#phone", "12345").await;
    d.click("#live form button[type=submit]").await;
    d.wait_for("the phone error", "document.querySelector('#phone-error')", Duration::from_secs(10)).await;
    assert!(d.text("#phone-error").await.contains("not a Kenyan mobile number"));
    d.shot("03-checkout-phone-error-mobile").await;

    d.type_into("#phone", "0712345678").await;
    d.click("#live form button[type=submit]").await;
    d.wait_for("check your phone", "document.querySelector('#live[data-state=waiting]')", Duration::from_secs(15))
        .await;
    assert_eq!(d.url().await, checkout_url, "after the phone the customer is back on the checkout page");
    let waiting = d.text("#live").await;
    assert!(
        waiting.contains("Check your phone")
            && waiting.contains("Enter your M-Pesa PIN on your phone to pay KES 800 to ANGAZE"),
        "{waiting}"
    );
    assert_eq!(
        d.js("return document.querySelectorAll('input[type=password]').length").await,
        json!(0),
        "never a PIN field"
    );
    // A marker that only survives if the page is not reloaded or navigated.
    d.js("window.__lipaMarker = 'still-here'; return true;").await;
    d.shot("04-checkout-check-your-phone-mobile").await;
    let checkout_window = d.get("/window").await.as_str().unwrap().to_string();

    // The customer's "phone": the virtual handset, in another tab of the same browser.
    let tab = d.post("/window/new", json!({ "type": "tab" })).await;
    d.post("/window", json!({ "handle": tab["handle"] })).await;
    d.goto(&format!("{url}/sim/handset?phone=0712345678")).await;
    d.wait_for(
        "the prompt on the handset",
        "document.querySelector('form.prompt input[type=password]')",
        Duration::from_secs(15),
    )
    .await;
    assert!(d.text("form.prompt").await.contains("800"), "the prompt names the amount");
    // The countdown runs (it is not frozen at its first value).
    let first_countdown = d.text("form.prompt .expires").await;
    d.wait_for(
        "the countdown to move",
        &format!("document.querySelector('form.prompt .expires').innerText !== {}", json!(first_countdown)),
        Duration::from_secs(5),
    )
    .await;
    d.type_into("form.prompt input[type=password]", "1234").await;
    d.shot("05-handset-prompt-mobile").await;
    d.click("form.prompt button[type=submit]").await;
    d.wait_for("the handset's receipt", "document.querySelector('#status.ok')", Duration::from_secs(15)).await;
    // After the answer the prompt leaves the screen (no live buttons, no countdown), and stays gone.
    d.wait_for(
        "the answered prompt to leave the handset",
        "document.querySelectorAll('form.prompt').length === 0 \
         && document.getElementById('prompts').innerText.indexOf('No pending prompts') >= 0",
        Duration::from_secs(5),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(d.js("return document.querySelectorAll('form.prompt, form.prompt button').length").await, json!(0));
    assert!(d.text("#recent").await.contains("800"), "the answer is among the recent results");
    d.shot("06-handset-paid-mobile").await;

    // Back on the checkout tab: the success screen arrives by itself.
    d.post("/window", json!({ "handle": checkout_window })).await;
    d.wait_for("the success screen", "document.querySelector('#live[data-state=succeeded]')", Duration::from_secs(30))
        .await;
    assert_eq!(d.js("return window.__lipaMarker || null").await, json!("still-here"), "the page was reloaded");
    assert_eq!(d.url().await, checkout_url);
    let done = d.text("#live").await;
    assert!(done.contains("Payment received") && done.contains("M-Pesa receipt"), "{done}");
    assert!(done.contains("Back to ANGAZE"), "a link back to the shop: {done}");
    d.shot("07-checkout-success-mobile").await;
    let reference = d.text("dl.facts").await.lines().last().unwrap_or_default().trim().to_string();
    assert!(reference.starts_with("SHOP-"), "{reference}");

    // The link back: the shop knows the order is paid.
    d.click("#live a.button").await;
    d.wait_for("the shop's order notice", "document.querySelector('.notice')", Duration::from_secs(10)).await;
    assert!(d.text(".notice").await.contains("is paid"));

    // Admin: sign in, find the payment, its history has the callback, the chart has bars.
    d.goto(&format!("{url}/admin")).await;
    d.wait_for("the login page", "document.querySelector('#password')", Duration::from_secs(10)).await;
    d.type_into("#password", "wrong password").await;
    d.click("form[action=\"/admin/login\"] button").await;
    d.wait_for("the login error", "document.querySelector('#login-error')", Duration::from_secs(20)).await;
    d.type_into("#password", ADMIN_PASSWORD).await;
    d.click("form[action=\"/admin/login\"] button").await;
    d.wait_for("the dashboard", "document.querySelector('svg.chart')", Duration::from_secs(20)).await;
    let bars = d.js("return document.querySelectorAll('svg.chart rect.bar-ok').length").await;
    assert!(bars.as_u64().unwrap_or(0) >= 1, "the chart shows the succeeded payment: {bars}");
    assert!(d.text("#payments").await.contains(&reference), "the payment is listed");
    // At 390 px the list is readable: each payment's amount and status are on screen without scrolling
    // sideways.
    let fits = d
        .js("var row = document.querySelector('#payments tbody tr'); var w = window.innerWidth; \
             function inside(e) { var r = e.getBoundingClientRect(); \
               return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= w; } \
             return { width: w, scroll: document.documentElement.scrollWidth, \
                      amount: inside(row.querySelector('.c-amount')), status: inside(row.querySelector('.c-status')), \
                      amountText: row.querySelector('.c-amount').innerText, \
                      statusText: row.querySelector('.c-status').innerText };")
        .await;
    assert_eq!(fits["width"], json!(390), "{fits}");
    assert_eq!((fits["amount"].as_bool(), fits["status"].as_bool()), (Some(true), Some(true)), "{fits}");
    assert!(fits["scroll"].as_u64() <= fits["width"].as_u64(), "no sideways scrolling: {fits}");
    assert_eq!((fits["amountText"].as_str(), fits["statusText"].as_str()), (Some("KES 800"), Some("succeeded")));
    d.shot("08-admin-dashboard-mobile").await;

    d.size(1280, 900).await;
    d.shot("09-admin-dashboard-desktop").await;
    d.type_into("#q", &reference).await;
    d.click("form[role=search] button").await;
    d.wait_for("the search result", &format!("location.search.indexOf('{reference}') >= 0"), Duration::from_secs(10))
        .await;
    assert_eq!(d.js("return document.querySelectorAll('#payments tbody tr').length").await, json!(1));
    d.click("#payments tbody tr a").await;
    d.wait_for("the payment's history", "document.querySelector('.timeline')", Duration::from_secs(10)).await;
    let history = d.text(".timeline").await;
    assert!(history.contains("callback") && history.contains("stkCallback"), "{history}");
    assert!(history.contains("payment.succeeded"), "{history}");
    d.shot("10-admin-payment-desktop").await;

    d.goto(&checkout_url).await;
    d.wait_for("the success screen", "document.querySelector('#live[data-state=succeeded]')", Duration::from_secs(10))
        .await;
    d.shot("11-checkout-success-desktop").await;
    d.goto(&format!("{url}/shop")).await;
    d.wait_for("the shop", "document.querySelector('.product')", Duration::from_secs(10)).await;
    d.shot("12-shop-desktop").await;

    d.quit().await;

    // A Swahili-speaking customer: the browser asks for sw-KE, and the checkout speaks Swahili throughout.
    let d = Driver::start(&chromedriver, &chrome, "sw-KE,sw,en;q=0.5").await;
    d.size(390, 844).await;
    d.goto(&format!("{url}/shop")).await;
    d.wait_for("the shop", "document.querySelector('form[action=\"/shop/buy\"] button')", Duration::from_secs(10))
        .await;
    d.click("form[action=\"/shop/buy\"] button").await;
    d.wait_for(
        "the Swahili phone form",
        "document.querySelector('#live[data-state=enter_phone]')",
        Duration::from_secs(10),
    )
    .await;
    let sw_url = d.url().await;
    assert_eq!(d.js("return document.documentElement.lang").await, json!("sw"));
    let live = d.text("#live").await;
    assert!(live.contains("Lipa kwa M-Pesa") && live.contains("Namba yako ya simu ya M-Pesa"), "{live}");
    assert!(d.text("dl.facts").await.contains("Kumbukumbu"));
    d.shot("13-checkout-swahili-mobile").await;
    // A wrong number: the error in Swahili, on a page reached by GET (reloading it sends nothing again).
    d.type_into("#phone", "12345").await;
    d.click("#live form button[type=submit]").await;
    d.wait_for("the Swahili phone error", "document.querySelector('#phone-error')", Duration::from_secs(10)).await;
    assert!(d.text("#phone-error").await.contains("Hiyo si namba ya simu ya Kenya"));
    assert!(d.url().await.ends_with("?error=phone_invalid"), "POST-redirect-GET: {}", d.url().await);
    assert_eq!(d.js("return document.querySelector('#phone').value").await, json!("12345"), "what was typed stays");
    d.post("/refresh", json!({})).await;
    d.wait_for(
        "the page after a reload",
        "document.querySelector('#live[data-state=enter_phone]')",
        Duration::from_secs(10),
    )
    .await;
    d.shot("14-checkout-swahili-error-mobile").await;
    // The sandbox test number pays by itself: "Angalia simu yako", then the receipt, in Swahili.
    d.type_into("#phone", "0708374149").await;
    d.click("#live form button[type=submit]").await;
    d.wait_for("the Swahili success", "document.querySelector('#live[data-state=succeeded]')", Duration::from_secs(30))
        .await;
    let done = d.text("#live").await;
    assert!(done.contains("Malipo yamepokelewa") && done.contains("Risiti ya M-Pesa"), "{done}");
    assert!(done.contains("Tarehe na saa"), "the date and time of the payment: {done}");
    d.shot("15-checkout-swahili-success-mobile").await;
    d.click("#receipt-link").await;
    d.wait_for("the receipt page", "document.querySelector('.receipt-facts')", Duration::from_secs(10)).await;
    let receipt = d.text("main").await;
    assert!(
        receipt.contains("Risiti ya malipo") && receipt.contains("KES 800") && receipt.contains("ANGAZE"),
        "{receipt}"
    );
    assert!(d.js("return !!document.querySelector('button[data-print]')").await.as_bool().unwrap());
    d.shot("16-receipt-swahili-mobile").await;
    // The switch: English on request, remembered for the checkout page too.
    d.click(".lang-switch a").await;
    d.wait_for("the English receipt", "document.documentElement.lang === 'en'", Duration::from_secs(10)).await;
    assert!(d.text("main").await.contains("Payment receipt"));
    d.goto(&sw_url).await;
    d.wait_for(
        "the English checkout",
        "document.querySelector('#live[data-state=succeeded]')",
        Duration::from_secs(10),
    )
    .await;
    assert!(d.text("#live").await.contains("Payment received"), "the choice is kept");

    // "Wrong number?": the right number is typed while the first prompt is out; the page sends the new
    // prompt only once the first one has ended (cancelled on the wrong phone), never two at once.
    d.goto(&format!("{url}/shop")).await;
    d.wait_for("the shop", "document.querySelector('form[action=\"/shop/buy\"] button')", Duration::from_secs(10))
        .await;
    d.click("form[action=\"/shop/buy\"] button").await;
    d.wait_for("the phone form", "document.querySelector('#live[data-state=enter_phone]')", Duration::from_secs(10))
        .await;
    let first_url = d.url().await;
    d.type_into("#phone", "0712 345 679").await;
    d.click("#live form button[type=submit]").await;
    d.wait_for("check your phone", "document.querySelector('#live[data-state=waiting]')", Duration::from_secs(15))
        .await;
    d.click("details.wrong-number summary").await;
    d.type_into("#next-phone", "0700000000").await;
    d.click("#next-number button[type=submit]").await;
    d.wait_for(
        "the queued number",
        "!document.getElementById('next-phone-status').hidden \
         && document.getElementById('next-phone-status').innerText.indexOf('0700000000') >= 0",
        Duration::from_secs(5),
    )
    .await;
    d.shot("17-checkout-wrong-number-mobile").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let to = |phone: &str| app.sim().transactions().into_iter().filter(|t| t.phone == phone).collect::<Vec<_>>();
    assert!(to("254700000000").iter().all(|t| t.reference != to("254712345679")[0].reference), "nothing sent yet");
    assert_eq!(d.url().await, first_url, "still on the first payment");
    let wrong = to("254712345679").remove(0);
    app.sim().complete(&wrong.checkout_request_id, 1032).unwrap();
    d.wait_for(
        "the new payment, paid",
        &format!("location.href !== {} && !!document.querySelector('#live[data-state=succeeded]')", json!(first_url)),
        Duration::from_secs(30),
    )
    .await;
    let right: Vec<_> = to("254700000000").into_iter().filter(|t| t.reference == wrong.reference).collect();
    assert_eq!(right.len(), 1, "one prompt to the right number");
    let ended = app.sim().transaction(&wrong.checkout_request_id).unwrap().completed_at_ms.unwrap();
    assert!(right[0].created_at_ms >= ended, "the second prompt only after the first ended");
    d.shot("18-checkout-right-number-paid-mobile").await;
    d.quit().await;
    app.stop().await;
}

/// WebDriver's Enter key.
const ENTER: &str = "\u{E007}";

/// Issue 13: a checkout page of a payment with no phone, paid by hand from the handset's SIM menu (Pay Bill,
/// the page's account number), turns to success by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_paid_from_the_sim_menu_turns_to_success_without_reload() {
    let (Some(chromedriver), Some(chrome)) =
        (tool("CHROMEDRIVER", "/usr/bin/chromedriver"), tool("CHROME_BIN", "/usr/bin/chromium"))
    else {
        eprintln!("SKIPPED: the browser test needs chromedriver and chromium");
        return;
    };
    let app = common::spawn_with(&common::Backend::Sqlite, &[]).await;
    let p = app.create(json!({"amount": 75, "reference": "ORDER-C2B-9"})).await;
    let account = p["account_reference"].as_str().unwrap().to_string();
    let d = Driver::start(&chromedriver, &chrome, "en-GB,en").await;
    d.size(390, 844).await;
    d.goto(p["checkout_url"].as_str().unwrap()).await;
    d.wait_for(
        "the checkout page",
        "document.querySelector('#live[data-state=enter_phone] #c2b-line')",
        Duration::from_secs(10),
    )
    .await;
    let line = d.text("#c2b-line").await;
    assert_eq!(line, format!("Pay Bill 174379, account {account}, KES 75"));
    d.wait_for("the QR code", "document.querySelector('img.qr').naturalWidth > 0", Duration::from_secs(10)).await;
    d.js("window.__lipaMarker = 'still-here'; return true;").await;
    d.shot("c2b-01-checkout-paybill-mobile").await;
    let checkout_window = d.get("/window").await.as_str().unwrap().to_string();

    // The customer's phone: the SIM menu on the virtual handset, typed by hand.
    let tab = d.post("/window/new", json!({ "type": "tab" })).await;
    d.post("/window", json!({ "handle": tab["handle"] })).await;
    d.goto(&format!("{}/sim/handset", app.url)).await;
    d.wait_for("the handset", "document.querySelector('#phone')", Duration::from_secs(10)).await;
    d.type_into("#phone", &format!("0712345678{ENTER}")).await;
    d.click("button[data-choice=lipa]").await;
    d.click("button[data-choice=paybill]").await;
    d.type_into("#simmenu-number", &format!("174379{ENTER}")).await;
    d.type_into("#simmenu-account", &format!("{account}{ENTER}")).await;
    d.type_into("#simmenu-amount", &format!("75{ENTER}")).await;
    d.wait_for("the PIN step", "document.querySelector('#simmenu-pin')", Duration::from_secs(10)).await;
    d.type_into("#simmenu-pin", &format!("1234{ENTER}")).await;
    d.wait_for("the confirmation SMS", "document.querySelector('#simmenu-sms')", Duration::from_secs(15)).await;
    assert!(d.text("#simmenu-sms").await.contains("Confirmed. Ksh75.00"));
    d.shot("c2b-02-handset-sim-menu-mobile").await;

    d.post("/window", json!({ "handle": checkout_window })).await;
    d.wait_for("the success screen", "document.querySelector('#live[data-state=succeeded]')", Duration::from_secs(30))
        .await;
    assert_eq!(d.js("return window.__lipaMarker || null").await, json!("still-here"), "the page was reloaded");
    let done = d.text("#live").await;
    assert!(done.contains("Payment received"), "{done}");
    d.shot("c2b-03-checkout-paid-by-paybill-mobile").await;
    let (_, paid) = app.get(&format!("/v1/payments/{}", p["id"].as_str().unwrap())).await;
    assert_eq!((paid["status"].as_str(), paid["channel"].as_str()), (Some("succeeded"), Some("c2b")), "{paid}");
    d.quit().await;
    app.stop().await;
}
