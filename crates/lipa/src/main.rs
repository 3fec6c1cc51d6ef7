//! The `lipa` command.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use lipa::config::Config;

#[derive(Parser)]
#[command(
    name = "lipa",
    version,
    about = "Self-hosted M-Pesa payment gateway",
    long_about = "lipa sends Daraja STK pushes for your website, follows each payment to its end (callbacks, \
STK Query reconciliation) and tells your website what happened through its API and signed webhooks.\n\n\
With no M-Pesa credentials configured, `lipa serve` runs in simulator mode: a faithful Daraja simulator with a \
virtual handset runs in the same process, so the whole loop works on a laptop with no Safaricom account. It does \
so only on a loopback LIPA_LISTEN address, or anywhere with MPESA_ENV=simulator.\n\n\
Configuration comes from the environment (MPESA_ENV, MPESA_CONSUMER_KEY, MPESA_CONSUMER_SECRET, MPESA_SHORTCODE, \
MPESA_PASSKEY, MPESA_TILL_NUMBER, MPESA_BASE_URL, LIPA_PUBLIC_URL, LIPA_DATABASE_URL, LIPA_LISTEN, ...) or lipa.toml; \
the environment wins. See the README."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum C2bCommand {
    /// Show the C2B URLs ({LIPA_PUBLIC_URL}/callbacks/c2b/<secret>/validation and /confirmation), the
    /// shortcode (MPESA_TILL_NUMBER or MPESA_SHORTCODE), MPESA_C2B_VERSION and LIPA_C2B_DEFAULT_ACTION, then
    /// register them. Production registers once: on "already registered" it says how to change them.
    Register,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (simulator mode when no credentials are configured).
    Serve,
    /// Run a standalone Daraja simulator that any M-Pesa client can point its base URL at.
    #[cfg(feature = "sim")]
    Sim(Box<daraja_sim::SimArgs>),
    /// Manage merchant API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Ask a running gateway for a payment and follow it live to its end.
    Pay(PayArgs),
    /// Payments on a running gateway.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// Check the configuration end to end (database, Daraja credentials, shortcode + passkey, clock,
    /// callback URL, webhooks) and explain each problem with its fix. Exits non-zero on any error.
    Doctor,
    /// C2B (paybill, till, QR): register the validation and confirmation URLs with Daraja.
    C2b {
        #[command(subcommand)]
        command: C2bCommand,
    },
    /// Copy the configured SQLite database to a new file while the gateway keeps running (a consistent
    /// snapshot, checked after it is written). For PostgreSQL it prints how to use pg_dump instead.
    Backup {
        /// The backup file to write; it must not exist yet (e.g. backups/lipa-2026-11-30.db).
        path: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new API key in the configured database. The key is printed once, as the last line; only its
    /// hash is stored.
    Create {
        /// A name to remember the key by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List the API keys in the configured database: id, name, when made, and whether revoked (the keys
    /// themselves are not stored and cannot be shown).
    List,
    /// Revoke an API key by its id (from `lipa keys list`): it stops working at once on new requests, and
    /// within seconds on every running instance.
    Revoke {
        /// The key's id, e.g. key_0123456789ab.
        id: String,
    },
}

#[derive(Args)]
struct ApiArgs {
    /// The gateway's base URL.
    #[arg(long, env = "LIPA_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An API key (`lipa keys create`, or the one `lipa serve` prints in simulator mode).
    #[arg(long, env = "LIPA_API_KEY", hide_env_values = true)]
    api_key: String,
}

#[derive(Args)]
struct PayArgs {
    /// The customer's phone, any common Kenyan format (0712 345 678, +254712345678, ...).
    /// In simulator mode 0708374149 pays, 0700001032 cancels, 0700000001 lacks funds.
    #[arg(long)]
    phone: String,
    /// Whole KES, 1 to 250000.
    #[arg(long)]
    amount: i64,
    /// Your order reference (up to 64 characters, kept whole; lipa derives the at most 12-character account
    /// reference that M-Pesa shows).
    #[arg(long)]
    reference: String,
    #[arg(long)]
    description: Option<String>,
    /// Give up following after this many seconds (the payment itself goes on).
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// List payments, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        reference: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        api: ApiArgs,
    },
}

fn init_tracing(json_logs: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LIPA_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json_logs {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve => serve().await,
        #[cfg(feature = "sim")]
        Command::Sim(args) => {
            init_tracing(false);
            daraja_sim::run(*args).await
        }
        Command::Keys { command: KeysCommand::Create { name } } => keys_create(&name).await,
        Command::Keys { command: KeysCommand::List } => keys_list().await,
        Command::Keys { command: KeysCommand::Revoke { id } } => keys_revoke(&id).await,
        Command::Pay(args) => pay(args).await,
        Command::Doctor => doctor().await,
        Command::Backup { path } => backup(&path).await,
        Command::C2b { command: C2bCommand::Register } => c2b_register().await,
        Command::Payments { command: PaymentsCommand::List { status, reference, limit, api } } => {
            payments_list(status, reference, limit, api).await
        }
    };
    if let Err(e) = result {
        eprintln!("lipa: {e:#}");
        std::process::exit(1);
    }
}

async fn serve() -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    init_tracing(cfg.json_logs);
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {} (LIPA_LISTEN)", cfg.listen))?;
    let gateway = lipa::startup::start(cfg, listener).await?;
    println!("{}", gateway.banner());
    tracing::info!(addr = %gateway.addr, mode = gateway.state.cfg.mode.as_str(), "lipa is serving");
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    gateway.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn doctor() -> anyhow::Result<()> {
    let src = lipa::config::Source::load()?;
    let report = lipa::doctor::run(&src).await;
    print!("{report}");
    if report.has_errors() {
        bail!("the configuration has errors (see above)");
    }
    Ok(())
}

async fn backup(path: &std::path::Path) -> anyhow::Result<()> {
    // Only the database URL matters here: a backup is taken even when other settings have problems.
    let cfg = Config::from_source_unchecked(&lipa::config::Source::load()?)?;
    if cfg.database_url.starts_with("postgres://") || cfg.database_url.starts_with("postgresql://") {
        bail!("{}", lipa::backup::postgres_advice(&cfg.database_url, path));
    }
    let s = lipa::backup::sqlite_backup(&cfg.database_url, path).await?;
    println!(
        "Backed up {} to {} ({} bytes: {} payments, {} events; integrity check ok).",
        lipa::config::redact_url(&cfg.database_url),
        path.display(),
        s.bytes,
        s.payments,
        s.events
    );
    println!(
        "To restore: stop lipa, replace the database file with this copy (remove its -wal and -shm files), start lipa."
    );
    Ok(())
}

async fn keys_create(name: &str) -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    let store = lipa::store::open(&cfg.database_url).await?;
    let key = lipa::startup::create_api_key(store.as_ref(), name).await?;
    println!("Created an API key for {} ({} mode).", lipa::config::redact_url(&cfg.database_url), cfg.mode.as_str());
    println!("Its id is {} (lipa keys list, lipa keys revoke {}).", key_id_of(&key), key_id_of(&key));
    println!("It is shown only this once; lipa keeps only its hash. Send it as: Authorization: Bearer <key>");
    println!("{key}");
    Ok(())
}

async fn c2b_register() -> anyhow::Result<()> {
    lipa::c2b::register_command(&Config::from_env()?).await
}

fn key_id_of(key: &str) -> String {
    lipa::domain::ids::key_id(&lipa::domain::ids::hash_key(key))
}

fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
}

async fn keys_list() -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    let store = lipa::store::open(&cfg.database_url).await?;
    let keys = store.list_api_keys().await?;
    if keys.is_empty() {
        println!("No API keys in {}. Make one with: lipa keys create", lipa::config::redact_url(&cfg.database_url));
        return Ok(());
    }
    println!("{:<18} {:<24} {:<25} STATUS", "ID", "NAME", "CREATED");
    for k in keys {
        let status = match k.revoked_at {
            Some(at) => format!("revoked {}", when(at)),
            None => "active".to_string(),
        };
        println!("{:<18} {:<24} {:<25} {status}", k.id, k.name, when(k.created_at));
    }
    Ok(())
}

async fn keys_revoke(id: &str) -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    let store = lipa::store::open(&cfg.database_url).await?;
    match store.revoke_api_key(id, lipa::app::now_ms()).await? {
        lipa::store::upkeep::Revoked::Now => {
            println!("Revoked {id}: it no longer works (running instances stop accepting it within seconds).");
            Ok(())
        }
        lipa::store::upkeep::Revoked::Already => {
            println!("{id} was already revoked.");
            Ok(())
        }
        lipa::store::upkeep::Revoked::NoSuchKey => bail!("no API key {id} (see lipa keys list)"),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client")
}

async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let resp = req.send().await.context("cannot reach the gateway (is `lipa serve` running? see --url)")?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let msg = body["error"]["message"].as_str().unwrap_or("no details");
        bail!("the gateway answered {status}: {msg}");
    }
    Ok(body)
}

async fn pay(args: PayArgs) -> anyhow::Result<()> {
    let http = client();
    let base = args.api.url.trim_end_matches('/');
    let mut body = json!({ "amount": args.amount, "phone": args.phone, "reference": args.reference });
    if let Some(d) = &args.description {
        body["description"] = d.clone().into();
    }
    let p = call(http.post(format!("{base}/v1/payments")).bearer_auth(&args.api.api_key).json(&body)).await?;
    let id = p["id"].as_str().unwrap_or_default().to_string();
    println!(
        "payment {id}: KES {} to {} — ask the customer to enter their M-Pesa PIN",
        p["amount"],
        p["phone"].as_str().unwrap_or("?")
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut last = String::new();
    loop {
        let p = call(http.get(format!("{base}/v1/payments/{id}")).bearer_auth(&args.api.api_key)).await?;
        let status = p["status"].as_str().unwrap_or("?").to_string();
        if status != last {
            println!("  status: {status}");
            last = status.clone();
        }
        if status != "pending" {
            match status.as_str() {
                "succeeded" => println!("paid: receipt {}", p["mpesa_receipt"].as_str().unwrap_or("(not reported)")),
                "failed" => println!(
                    "not paid: {} ({})",
                    p["failure_reason"].as_str().unwrap_or("?"),
                    p["result_desc"].as_str().unwrap_or("")
                ),
                _ => println!("needs review: {}", p["review_reason"].as_str().unwrap_or("")),
            }
            println!("{}", serde_json::to_string_pretty(&p)?);
            return if status == "succeeded" { Ok(()) } else { bail!("payment {id} ended {status}") };
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "payment {id} is still pending after {} s; it goes on — check it with `lipa payments list`",
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn payments_list(
    status: Option<String>,
    reference: Option<String>,
    limit: u32,
    api: ApiArgs,
) -> anyhow::Result<()> {
    let base = api.url.trim_end_matches('/');
    let mut query = vec![("limit", limit.to_string())];
    if let Some(s) = status {
        query.push(("status", s));
    }
    if let Some(r) = reference {
        query.push(("reference", r));
    }
    let page = call(client().get(format!("{base}/v1/payments")).query(&query).bearer_auth(&api.api_key)).await?;
    println!(
        "{:<28} {:<13} {:>8}  {:<13} {:<13} {:<11} created",
        "id", "status", "KES", "phone", "reference", "receipt"
    );
    for p in page["data"].as_array().into_iter().flatten() {
        let s = |k: &str| p[k].as_str().unwrap_or("-").to_string();
        println!(
            "{:<28} {:<13} {:>8}  {:<13} {:<13} {:<11} {}",
            s("id"),
            s("status"),
            p["amount"],
            s("phone"),
            s("reference"),
            s("mpesa_receipt"),
            s("created_at")
        );
    }
    if page["has_more"].as_bool() == Some(true) {
        println!("(more: use --limit)");
    }
    Ok(())
}
