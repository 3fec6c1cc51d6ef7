//! Test harness: a real gateway on 127.0.0.1:0 with the in-process simulator and a fresh database
//! (a temporary SQLite file, or a new PostgreSQL database when `LIPA_TEST_POSTGRES_URL` is set).
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use lipa::config::{Config, Source};
use lipa::startup::Gateway;
use serde_json::Value;

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// SQLite always; PostgreSQL too when `LIPA_TEST_POSTGRES_URL` names a server (CI sets it).
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    match Backend::postgres() {
        Some(pg) => out.push(pg),
        None => eprintln!("skipping the PostgreSQL run of this test: LIPA_TEST_POSTGRES_URL is not set"),
    }
    out
}

impl Backend {
    /// PostgreSQL when `LIPA_TEST_POSTGRES_URL` names a server.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("LIPA_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => None,
        }
    }
}

/// Run a test once per database, with the database in the test's name: after `async fn name(backend:
/// Backend) { … }`, `each_backend!(name);` defines the tests `name::sqlite` and `name::postgres` (which says
/// it skips when `LIPA_TEST_POSTGRES_URL` is not set). Another test attribute may follow the name:
/// `each_backend!(name, #[tokio::test(flavor = "multi_thread")]);`. A test that only means something on
/// PostgreSQL (several instances on one database) is `each_backend!(postgres name, #[tokio::test]);`.
#[macro_export]
macro_rules! each_backend {
    ($name:ident) => {
        $crate::each_backend!($name, #[tokio::test]);
    };
    (postgres $name:ident, #[$test:meta]) => {
        mod $name {
            #[$test]
            async fn postgres() {
                match $crate::common::Backend::postgres() {
                    Some(pg) => super::$name(pg).await,
                    None => eprintln!("skipped: LIPA_TEST_POSTGRES_URL is not set"),
                }
            }
        }
    };
    ($name:ident, #[$test:meta]) => {
        mod $name {
            #[$test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }

            #[$test]
            async fn postgres() {
                match $crate::common::Backend::postgres() {
                    Some(pg) => super::$name(pg).await,
                    None => eprintln!("skipped: LIPA_TEST_POSTGRES_URL is not set"),
                }
            }
        }
    };
}

/// What keeps a test database alive: a SQLite file's temporary directory, and for PostgreSQL the database
/// itself, which is dropped when this is — also when the test panicked.
pub struct DbDir {
    _dir: tempfile::TempDir,
    /// The admin URL and the database's name.
    pg: Option<(String, String)>,
}

impl DbDir {
    /// The temporary directory (a SQLite database's file is in it).
    pub fn path(&self) -> &std::path::Path {
        self._dir.path()
    }
}

impl From<tempfile::TempDir> for DbDir {
    fn from(dir: tempfile::TempDir) -> Self {
        DbDir { _dir: dir, pg: None }
    }
}

impl Drop for DbDir {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else { return };
        // Drop may run inside the test's runtime (or while unwinding from a panic): a thread of its own with
        // its own runtime can block until the database is gone.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(drop_named(&admin, &name));
        });
        let _ = dropped.join();
    }
}

async fn drop_named(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
    }
}

/// A new, empty database for one test; the handle keeps it alive (and drops a PostgreSQL one at the end).
pub async fn fresh_database(backend: &Backend) -> (String, DbDir) {
    let dir = tempfile::tempdir().unwrap();
    match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.path().join("lipa.db").display()), dir.into()),
        Backend::Postgres(admin) => {
            use sqlx::Connection;
            let name = format!("lipa_test_{}", hex::encode(rand::random::<[u8; 6]>()));
            let mut conn = sqlx::PgConnection::connect(admin).await.expect("connect to LIPA_TEST_POSTGRES_URL");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
            let mut url = url::Url::parse(admin).unwrap();
            url.set_path(&name);
            (url.to_string(), DbDir { _dir: dir, pg: Some((admin.clone(), name)) })
        }
    }
}

/// Drop a PostgreSQL test database now (SQLite files go with their temporary directory).
pub async fn drop_database(backend: &Backend, db_url: &str) {
    if let Backend::Postgres(admin) = backend {
        let name = url::Url::parse(db_url).unwrap().path().trim_start_matches('/').to_string();
        drop_named(admin, &name).await;
    }
}

/// Test settings: fast simulator answers, quick reconciliation.
pub fn test_config(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = [
        ("LIPA_DATABASE_URL", database_url),
        ("LIPA_LISTEN", "127.0.0.1:0"),
        ("LIPA_SIM_RESULT_DELAY", "50ms"),
        ("LIPA_SIM_PROMPT_TIMEOUT", "60s"),
        ("LIPA_RECONCILE_AFTER", "1s"),
        ("LIPA_PENDING_MAX_AGE", "30s"),
        ("LIPA_WORKER_TICK", "100ms"),
        ("LIPA_MERCHANT_NAME", "ANGAZE"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_source(&Source::from_maps(env, HashMap::new())).expect("test config")
}

pub struct TestApp {
    pub gw: Gateway,
    pub url: String,
    pub key: String,
    pub http: reqwest::Client,
    pub backend: Backend,
    _dir: DbDir,
}

pub async fn spawn(backend: &Backend) -> TestApp {
    spawn_with(backend, &[]).await
}

pub async fn spawn_with(backend: &Backend, extra: &[(&str, &str)]) -> TestApp {
    let (db, dir) = fresh_database(backend).await;
    spawn_on(backend, &db, dir, extra).await
}

impl TestApp {
    pub fn sim(&self) -> &daraja_sim::Simulator {
        self.gw.simulator.as_ref().expect("simulator mode")
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, serde_json::to_vec(body).unwrap(), &[]).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.key).send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Create a payment and insist on 201.
    pub async fn create(&self, body: Value) -> Value {
        let (status, p) = self.post("/v1/payments", &body).await;
        assert_eq!(status, 201, "create {body}: {p}");
        p
    }

    /// Poll a payment until it is no longer pending.
    pub async fn settled(&self, id: &str) -> Value {
        poll(Duration::from_secs(30), || async {
            let (_, p) = self.get(&format!("/v1/payments/{id}")).await;
            (p["status"] != "pending").then_some(p)
        })
        .await
        .unwrap_or_else(|| panic!("payment {id} still pending after 30 s ({})", self.backend.name()))
    }

    pub async fn events_for(&self, id: &str) -> Vec<Value> {
        let (_, page) = self.get(&format!("/v1/events?payment_id={id}&limit=100")).await;
        page["data"].as_array().cloned().unwrap_or_default()
    }

    /// The callback URL path lipa gave Daraja for this payment.
    pub async fn callback_path(&self, id: &str) -> String {
        let p = self.gw.state.store.get_payment(id).await.unwrap().unwrap();
        format!("/callbacks/stk/{}", p.callback_secret.as_str())
    }

    /// Stop the gateway; its database goes with it.
    pub async fn stop(self) {
        let TestApp { gw, _dir, .. } = self;
        gw.shutdown().await;
        drop(_dir);
    }
}

/// Call `f` until it gives a value or the time is up.
pub async fn poll<T, F, Fut>(within: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Daraja STK callback body.
pub fn success_callback(checkout: &str, amount: i64, phone: &str, receipt: &str) -> Value {
    serde_json::json!({"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": checkout,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [
            {"Name": "Amount", "Value": amount as f64},
            {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": 20261128101500u64},
            {"Name": "PhoneNumber", "Value": phone.parse::<u64>().unwrap()}
        ]}
    }}})
}

pub fn failure_callback(checkout: &str, code: i64, desc: &str) -> Value {
    serde_json::json!({"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": checkout,
        "ResultCode": code,
        "ResultDesc": desc
    }}})
}

/// A gateway on a database that already exists (a restart, or a second instance sharing it). `dir` keeps
/// a SQLite file's directory alive; pass the one from [`TestApp::stop_keep_database`] or a fresh one.
pub async fn spawn_on(backend: &Backend, db: &str, dir: impl Into<DbDir>, extra: &[(&str, &str)]) -> TestApp {
    let cfg = test_config(db, extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = lipa::startup::start(cfg, listener).await.expect("gateway starts");
    TestApp {
        url: gw.url(),
        key: gw.api_key.clone().expect("simulator mode makes a key"),
        gw,
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        backend: backend.clone(),
        _dir: dir.into(),
    }
}

impl TestApp {
    /// Stop the gateway but keep its database, for [`spawn_on`]: the URL and what keeps it alive.
    pub async fn stop_keep_database(self) -> (String, DbDir) {
        let TestApp { gw, _dir, .. } = self;
        let db = gw.state.cfg.database_url.clone();
        gw.shutdown().await;
        (db, _dir)
    }
}

/// An HTTP client that shows redirects instead of following them (forms answer 303).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The CSRF token of the first form on an admin page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..at + 32].to_string()
}

/// The admin login form sent from lipa's own pages (redirects not followed).
pub async fn admin_login_form(app: &TestApp, password: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/admin/login", app.url))
        .header("origin", app.url.clone())
        .form(&[("password", password)])
        .send()
        .await
        .unwrap()
}

/// The cookie an answer sets, as `name=value` for the next request.
pub fn session_cookie(r: &reqwest::Response) -> String {
    let c = r.headers().get("set-cookie").expect("a session cookie").to_str().unwrap();
    c.split(';').next().unwrap().to_string()
}

/// Sign in to the admin dashboard: the session cookie.
pub async fn admin_login(app: &TestApp, password: &str) -> String {
    let r = admin_login_form(app, password).await;
    assert_eq!(r.status().as_u16(), 303);
    session_cookie(&r)
}

/// An admin page as the signed-in operator sees it (200): its HTML.
pub async fn admin_page(app: &TestApp, cookie: &str, path: &str) -> String {
    let r = no_redirects().get(format!("{}{path}", app.url)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.text().await.unwrap()
}
