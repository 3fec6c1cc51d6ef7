//! Putting a gateway together: store, Daraja client, in-process simulator (simulator mode), routes and
//! workers, on one listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
#[cfg(feature = "sim")]
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{now_ms, AppState};
use crate::config::{Config, Mode};
use crate::domain::ids;
use crate::routes::router;
use crate::store::{self, Store};

/// A running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    pub state: AppState,
    #[cfg(feature = "sim")]
    pub simulator: Option<daraja_sim::Simulator>,
    #[cfg(not(feature = "sim"))]
    pub simulator: Option<std::convert::Infallible>,
    /// Simulator mode: a fresh API key made at start, to print once.
    pub api_key: Option<String>,
    /// Simulator mode without `LIPA_ADMIN_PASSWORD`: the admin password made at start, to print once.
    pub admin_password: Option<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Make a new API key and store its hash. Returns the key, to be shown once.
pub async fn create_api_key(store: &dyn Store, name: &str) -> anyhow::Result<String> {
    let key = ids::api_key();
    let hash = ids::hash_key(&key);
    store.create_api_key(&ids::key_id(&hash), &hash, name, now_ms()).await?;
    Ok(key)
}

pub async fn start(mut cfg: Config, listener: TcpListener) -> anyhow::Result<Gateway> {
    // The plain admin password leaves the configuration here; only its hash is kept.
    let configured_admin_password = cfg.admin_password.clone();
    let (admin, admin_password) = crate::auth::admin::setup(&mut cfg);
    let addr = listener.local_addr()?;
    let store = store::open(&cfg.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", crate::config::redact_url(&cfg.database_url)))?;
    // Sessions made under another password, or while the admin was on, end here (see `sessions`).
    crate::auth::admin::on_start(store.as_ref(), configured_admin_password.as_ref(), admin.is_some()).await?;
    drop(configured_admin_password);
    let local = format!("http://{addr}");
    let public_base: Arc<str> = cfg.public_url.clone().unwrap_or_else(|| local.clone()).into();

    let (simulator, environment, key, secret) = match cfg.mode {
        #[cfg(feature = "sim")]
        Mode::Simulator => {
            let sim = daraja_sim::Simulator::new(daraja_sim::SimConfig {
                shortcode: cfg.shortcode.clone(),
                passkey: cfg.passkey.expose_secret().to_string(),
                till_number: cfg.till_number.clone(),
                // lipa's own client must pass Daraja's strictest reading.
                strict: true,
                result_delay: cfg.sim_result_delay,
                prompt_timeout: cfg.sim_prompt_timeout,
                merchant_name: cfg.merchant_name.clone(),
                ..daraja_sim::SimConfig::default()
            });
            let base = cfg.base_url.clone().unwrap_or_else(|| local.clone());
            let env = daraja::Environment::Custom(url::Url::parse(&base).context("MPESA_BASE_URL")?);
            let key = cfg.consumer_key.clone().unwrap_or_else(|| SecretString::from("lipa-simulator"));
            let secret = cfg.consumer_secret.clone().unwrap_or_else(|| SecretString::from("lipa-simulator"));
            (Some(sim), env, key, secret)
        }
        #[cfg(not(feature = "sim"))]
        Mode::Simulator => anyhow::bail!("this lipa was built without the simulator (cargo feature `sim`)"),
        mode => {
            let env = match (&cfg.base_url, mode) {
                (Some(url), _) => daraja::Environment::Custom(url::Url::parse(url).context("MPESA_BASE_URL")?),
                (None, Mode::Production) => daraja::Environment::Production,
                (None, _) => daraja::Environment::Sandbox,
            };
            let key = cfg.consumer_key.clone().context("MPESA_CONSUMER_KEY is missing")?;
            let secret = cfg.consumer_secret.clone().context("MPESA_CONSUMER_SECRET is missing")?;
            (None, env, key, secret)
        }
    };
    let credentials = format!("{}|{}|{}", environment.base_url(), key.expose_secret(), secret.expose_secret());
    let b2c_client = crate::money_out::b2c_client(&cfg, &environment, &store)?;
    let mut dcfg = daraja::Config::new(environment, key, secret, cfg.shortcode.clone(), cfg.passkey.clone())
        .with_timeouts(std::time::Duration::from_secs(5), cfg.daraja_timeout)
        // One token for every instance on this database (a new token may invalidate the previous one).
        .with_token_store(Arc::new(crate::token::DbTokenStore::new(store.clone(), &credentials)));
    if let Some(till) = &cfg.till_number {
        dcfg = dcfg.with_till_number(till.clone());
    }
    let daraja = daraja::Client::new(dcfg).context("the Daraja client configuration is invalid")?;

    let api_key = match cfg.mode {
        Mode::Simulator => Some(create_api_key(store.as_ref(), "simulator mode").await?),
        _ => None,
    };

    let limits = Arc::new(crate::limits::Limits::new(&cfg.security).with_admin_login(&cfg.hardening));
    let metrics = Arc::new(crate::metrics::Metrics::default());
    // SQLite has one writer, on a thread of its own. PostgreSQL has two, so that one batch is being decided
    // while the other commits (measured: more writers make smaller batches and more commits, and were
    // slower at 32 and 64 connections); LIPA_INGEST_WRITERS overrides the PostgreSQL figure.
    let ingest = if cfg.database_url.starts_with("postgres") {
        crate::ingest::Ingest::start_callbacks(store.clone(), 2)
    } else {
        crate::ingest::Ingest::start_callbacks_dedicated(store.clone())
            .context("cannot start the callback writer thread")?
    };
    let c2b = crate::c2b::start_queue(store.clone(), cfg.database_url.starts_with("postgres"))
        .context("cannot start the C2B confirmation writer")?;
    let c2b_secret = crate::c2b::secret(store.as_ref()).await.context("cannot read the C2B callback secret")?.into();
    let keys = Arc::default();
    let money_out = crate::money_out::Outbound::new(&cfg, b2c_client.unwrap_or_else(|| daraja.clone()), store.clone())
        .context("money out (payouts, refunds, balance) cannot be set up")?;
    let money_out = Arc::new(money_out);
    let state = AppState::new(crate::app::Shared {
        store,
        daraja,
        cfg: Arc::new(cfg),
        public_base,
        admin,
        limits,
        metrics,
        ingest,
        c2b,
        c2b_secret,
        keys,
        money_out,
    });
    #[cfg_attr(not(feature = "sim"), allow(unused_mut))]
    let mut app = router(state.clone());
    #[cfg(feature = "sim")]
    if let Some(sim) = &simulator {
        app = app.merge(sim.router());
    }
    // Input checks and security headers for every route, the simulator's and the 404 fallback included.
    let app = crate::boundary::apply(app);
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = vec![
        // Header, idle and body timeouts and a connection cap (see `serve`).
        tokio::spawn(crate::serve::run(listener, app, state.cfg.hardening.clone(), stop_rx.clone())),
        tokio::spawn(crate::jobs::upkeep::run(state.clone(), stop_rx.clone())),
        tokio::spawn(crate::jobs::reconcile::run(state.clone(), stop_rx.clone())),
        tokio::spawn(crate::jobs::money_out::run(state.clone(), stop_rx.clone())),
    ];
    if state.cfg.webhook_url.is_some() {
        tasks.push(tokio::spawn(crate::jobs::webhooks::run(state.clone(), stop_rx.clone())));
    }
    // Outside production the C2B URLs are registered at every start (production registers once, on purpose:
    // `lipa c2b register`).
    if state.cfg.mode != Mode::Production {
        register_c2b(&state).await;
    }
    Ok(Gateway { addr, state, simulator, api_key, admin_password, stop, tasks })
}

/// Register the C2B URLs; a failure is logged with its fix and does not stop the gateway.
async fn register_c2b(state: &AppState) {
    let reg = crate::c2b::registration(&state.cfg, &state.public_base, &state.c2b_secret);
    let register = crate::c2b::register(state.store.as_ref(), &state.daraja, &reg);
    match tokio::time::timeout(std::time::Duration::from_secs(15), register).await {
        Ok(Ok(_)) => tracing::info!(short_code = %reg.short_code, version = %reg.version, "C2B URLs registered"),
        Ok(Err(e)) => tracing::warn!(problem = %crate::c2b::explain(&e, &reg), "C2B URLs not registered"),
        Err(_) => tracing::warn!("C2B URL registration got no answer in 15 s"),
    }
}

/// The database as the banner shows it: a SQLite file with its absolute path (so a newcomer sees which
/// file a relative `sqlite://lipa.db` is), anything else with its password hidden.
fn shown_database(url: &str) -> String {
    let shown = crate::config::redact_url(url);
    if url.starts_with("postgres") {
        return shown;
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    match std::fs::canonicalize(path) {
        Ok(abs) if abs.as_os_str() != path => format!("{shown} ({})", abs.display()),
        _ => shown,
    }
}

impl Gateway {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop taking requests, let those in flight finish, stop the workers.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
        }
    }

    /// The banner `lipa serve` prints.
    pub fn banner(&self) -> String {
        let base = self.state.public_base.to_string();
        let local = self.url();
        let cfg = &self.state.cfg;
        let mut out = String::new();
        let rule = "=".repeat(72);
        match cfg.mode {
            Mode::Simulator => {
                out.push_str(&format!(
                    "{rule}\n  lipa is running in SIMULATOR MODE: no Safaricom account, no real money.\n"
                ));
                out.push_str("  The built-in Daraja simulator answers on this same port; callbacks come back here.\n");
            }
            mode => out.push_str(&format!("{rule}\n  lipa is running in {} mode.\n", mode.as_str().to_uppercase())),
        }
        out.push_str(&format!("  API:             {local}/v1/payments\n"));
        out.push_str(&format!("  Callbacks:       {base}/callbacks/stk/<secret>\n"));
        out.push_str(&format!("  C2B callbacks:   {base}/callbacks/c2b/<secret>/validation, /confirmation\n"));
        if self.simulator.is_some() {
            out.push_str(&format!("  Demo shop:       {local}/shop\n"));
            out.push_str(&format!("  Virtual handset: {local}/sim/handset\n"));
            out.push_str(&format!("  Simulator API:   {local}/sim/api/transactions\n"));
        }
        match (&self.state.admin, &self.admin_password) {
            (Some(_), Some(pw)) => out.push_str(&format!("  Admin:           {local}/admin  (password: {pw})\n")),
            (Some(_), None) => {
                out.push_str(&format!("  Admin:           {local}/admin  (password: LIPA_ADMIN_PASSWORD)\n"))
            }
            (None, _) => out.push_str("  Admin:           off (set LIPA_ADMIN_PASSWORD)\n"),
        }
        out.push_str(&format!("  Health:          {local}/healthz\n"));
        out.push_str(&format!("  API reference:   {local}/docs (OpenAPI: {local}/openapi.json)\n"));
        if let Some(url) = &cfg.webhook_url {
            out.push_str(&format!("  Webhooks to:     {}\n", crate::jobs::webhooks::shown_url(url)));
        }
        out.push_str(&format!("  Database:        {}\n", shown_database(&cfg.database_url)));
        if self.simulator.is_some() {
            out.push_str(
                "  Test numbers: 0708374149 pays; 0700001032 cancels; 0700000001 lacks funds; 0700002001 wrong PIN;\n",
            );
            out.push_str("  0700001037 unreachable; other numbers wait for you on the virtual handset.\n");
        }
        if let Some(key) = &self.api_key {
            out.push_str("  Try it:\n");
            out.push_str(&format!(
                "    curl -s {local}/v1/payments -H \"Authorization: Bearer $LIPA_API_KEY\" \\\n      -H 'Content-Type: application/json' -d '{{\"amount\":800,\"phone\":\"0708374149\",\"reference\":\"ORDER-1\"}}'\n"
            ));
            out.push_str(
                "  The API key below is the current one: simulator mode makes a new key at every start and keeps\n  \
                 only its hash, in the database above. Keys from earlier runs on that same database keep working;\n  \
                 a key printed by a run on another database (lipa.db is relative to the directory lipa starts in)\n  \
                 is unknown here and gets 401. Use this one (or `lipa keys create` for a key you keep).\n",
            );
            out.push_str(&format!("{rule}\nAPI key: {key}\n"));
        } else {
            out.push_str(&format!("  Make an API key with: lipa keys create\n{rule}\n"));
        }
        out
    }
}
