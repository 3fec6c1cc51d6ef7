//! Command-line options shared by the `daraja-sim` binary and `lipa sim`.

use std::time::Duration;

use anyhow::Context as _;

use crate::config::{Faults, SimConfig, SANDBOX_PASSKEY, SANDBOX_SHORTCODE};
use crate::sim::Simulator;
pub use crate::util::parse_duration;

/// The test-number table as printed by `--help`.
pub const TEST_NUMBERS_HELP: &str = "\
Simulator test numbers (shown local; on the Daraja API send them as 2547…):

  number                      outcome (callback ResultCode)
  0708374149, 0700000000      0 success, receipt issued, after --result-delay
  07000CCCCC                  result code CCCCC after --result-delay, e.g.
    0700000001                  1     insufficient balance
    0700000017                  17    rule limited
    0700001019                  1019  transaction expired
    0700001032                  1032  cancelled by user
    0700001037                  1037  DS timeout, user cannot be reached
    0700002001                  2001  wrong PIN
    0700009999                  9999  error sending the push
    0700002040                  2040  (B2C payouts) recipient not registered
  any other valid number      waits on the virtual handset (/sim/handset):
                              PIN 1234 (any 4 digits but 0000) = success,
                              0000 = 2001 wrong PIN, Cancel = 1032,
                              no answer = 1037 after --prompt-timeout
                              (or --auto-outcome CODE after --result-delay)

Point a client at http://<listen>/ as its Daraja base URL: /oauth/v1/generate,
/mpesa/stkpush/v1/processrequest and /mpesa/stkpushquery/v1/query answer like Daraja.
Control API for tests: /sim/api/transactions, /sim/api/prompts?phone=,
/sim/api/log, /sim/api/faults.
Money out: /mpesa/b2c/v1|v3/paymentrequest, /mpesa/reversal/v1/request,
/mpesa/transactionstatus/v1/query and /mpesa/accountbalance/v1/query; initiator
--initiator-name / --initiator-password, SecurityCredential encrypted with
/sim/certificate.pem; balances at /sim/api/accounts, requests at /sim/api/money-out.

C2B: /mpesa/c2b/v1|v2/registerurl and /simulate send validation, then
confirmation, to the registered URLs (v1: SHA-256 MSISDN, v2: masked);
/mpesa/qrcode/v1/generate makes a QR code linking to the handset. Pay a
paybill or till by hand on the handset's SIM menu (Lipa na M-PESA), or with
POST /sim/api/c2b/pay; see /sim/api/c2b/payments and /sim/api/c2b/registrations.";

/// Options of the standalone simulator (`daraja-sim`, `lipa sim`).
#[derive(clap::Args, Clone, Debug)]
#[command(
    about = "A local Safaricom Daraja (M-Pesa Express) simulator with a virtual handset",
    long_about = "A local Safaricom Daraja (M-Pesa Express) simulator with a virtual handset.\n\n\
        Same paths, JSON and error codes as Daraja, real asynchronous callbacks, a handset page \
        where you type the PIN or press Cancel, scripted outcomes and fault injection.",
    after_help = TEST_NUMBERS_HELP
)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090", env = "SIM_LISTEN")]
    pub listen: String,

    /// Refuse (400.002.02) what is only a warning otherwise: a Timestamp not in EAT, a fractional
    /// Amount, an AccountReference over 12 or a TransactionDesc over 13 characters, a forbidden word
    /// in the CallBackURL.
    #[arg(long)]
    pub strict: bool,

    /// The only BusinessShortCode that exists.
    #[arg(long, env = "MPESA_SHORTCODE", default_value = SANDBOX_SHORTCODE)]
    pub shortcode: String,

    /// The passkey Passwords must be made with (default: the public sandbox passkey).
    #[arg(long, env = "MPESA_PASSKEY", hide_env_values = true, hide_default_value = true, default_value = SANDBOX_PASSKEY)]
    pub passkey: String,

    /// Accept only this consumer key (default: any).
    #[arg(long, env = "MPESA_CONSUMER_KEY", hide_env_values = true)]
    pub consumer_key: Option<String>,

    /// Accept only this consumer secret (default: any).
    #[arg(long, env = "MPESA_CONSUMER_SECRET", hide_env_values = true)]
    pub consumer_secret: Option<String>,

    /// Till number that CustomerBuyGoodsOnline pushes must give as PartyB.
    #[arg(long, env = "MPESA_TILL_NUMBER")]
    pub till_number: Option<String>,

    /// Merchant name shown in the handset prompt.
    #[arg(long, env = "LIPA_MERCHANT_NAME", default_value = crate::DEFAULT_MERCHANT_NAME)]
    pub merchant_name: String,

    /// How long test numbers take to answer (e.g. 1s, 250ms).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub result_delay: Duration,

    /// How long a handset prompt waits before failing with 1037 (e.g. 60s, 2m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub prompt_timeout: Duration,

    /// Lifetime of access tokens.
    #[arg(long, default_value = "3599s", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// Decide non-test numbers with this result code after --result-delay instead of waiting on the handset.
    #[arg(long, value_name = "CODE", allow_negative_numbers = true)]
    pub auto_outcome: Option<i64>,

    /// Fault: extra latency on every Daraja API answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub fault_latency_ms: u64,

    /// Fault: share (0.0-1.0) of pushes refused with 500.003.02 Spike Arrest Violation.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub fault_spike_arrest: f64,

    /// Fault: share of pushes recorded but never answered (the client times out).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub fault_hang: f64,

    /// Fault: share of callbacks never sent.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub fault_drop_callback: f64,

    /// Fault: share of callbacks sent twice.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub fault_duplicate_callback: f64,

    /// Fault: share of callbacks sent late (after --fault-late-delay).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub fault_late_callback: f64,

    /// Fault: extra delay of late callbacks.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub fault_late_delay: Duration,

    /// Fault: share of money-out requests that time out in the queue (a notice to QueueTimeOutURL, no result).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub fault_queue_timeout: f64,

    /// Seed of the fault random generator (reproducible runs).
    #[arg(long)]
    pub seed: Option<u64>,

    /// A new OAuth token invalidates every earlier one (as Safaricom's portal says Daraja does).
    #[arg(long)]
    pub single_token: bool,

    /// The initiator name B2C, Reversal, Transaction Status and Account Balance requests must give.
    #[arg(long, env = "MPESA_INITIATOR_NAME", default_value = crate::config::SANDBOX_INITIATOR_NAME)]
    pub initiator_name: String,

    /// The password their SecurityCredential must decrypt to (with the simulator's TEST key; its
    /// certificate is served at /sim/certificate.pem). Default: the sandbox's `Safaricom999!*!`.
    #[arg(long, env = "MPESA_INITIATOR_PASSWORD", hide_env_values = true, hide_default_value = true,
          default_value = crate::config::SANDBOX_INITIATOR_PASSWORD)]
    pub initiator_password: String,

    /// A B2C shortcode accepted as PartyA besides --shortcode.
    #[arg(long, default_value = "600000")]
    pub b2c_shortcode: String,

    /// Opening balance of the Utility account that B2C payments draw from, in whole shillings.
    #[arg(long, value_name = "KES", default_value_t = 1_000_000)]
    pub utility_balance: i64,
    /// C2B options.
    #[command(flatten)]
    pub c2b: crate::c2b::C2bArgs,
}

impl SimArgs {
    /// The simulator configuration these options describe.
    pub fn to_config(&self) -> SimConfig {
        SimConfig {
            shortcode: self.shortcode.clone(),
            passkey: self.passkey.clone(),
            consumer_key: self.consumer_key.clone().filter(|s| !s.is_empty()),
            consumer_secret: self.consumer_secret.clone().filter(|s| !s.is_empty()),
            till_number: self.till_number.clone().filter(|s| !s.is_empty()),
            strict: self.strict,
            result_delay: self.result_delay,
            prompt_timeout: self.prompt_timeout,
            token_ttl: self.token_ttl,
            merchant_name: self.merchant_name.clone(),
            auto_outcome: self.auto_outcome,
            faults: Faults {
                latency_ms: self.fault_latency_ms,
                spike_arrest: self.fault_spike_arrest,
                hang: self.fault_hang,
                drop_callback: self.fault_drop_callback,
                duplicate_callback: self.fault_duplicate_callback,
                late_callback: self.fault_late_callback,
                late_callback_ms: self.fault_late_delay.as_millis() as u64,
                seed: self.seed,
                queue_timeout: self.fault_queue_timeout,
            },
            single_token: self.single_token,
            initiator_name: self.initiator_name.clone(),
            initiator_password: self.initiator_password.clone(),
            b2c_shortcode: self.b2c_shortcode.clone(),
            utility_balance_cents: self.utility_balance.saturating_mul(100),
            c2b: self.c2b.to_config(),
        }
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share between 0.0 and 1.0")),
    }
}

/// Runs the standalone simulator until Ctrl-C.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = args.to_config();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let sim = Simulator::new(config);
    let c = sim.config();
    println!("daraja-sim: a local Daraja simulator (no real money moves)");
    println!("  Daraja base URL : http://{addr}");
    println!("  virtual handset : http://{addr}/sim/handset");
    println!("  control API     : http://{addr}/sim/api/transactions");
    println!(
        "  shortcode {} ({}), consumer key/secret: {}, strict: {}",
        c.shortcode,
        if c.passkey == SANDBOX_PASSKEY { "sandbox passkey" } else { "custom passkey" },
        if c.consumer_key.is_some() || c.consumer_secret.is_some() { "configured" } else { "any" },
        c.strict
    );
    tracing::info!(%addr, "daraja-sim listening");
    axum::serve(listener, sim.router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("simulator server failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
    }
}
