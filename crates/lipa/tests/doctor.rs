//! `lipa doctor` against a Daraja simulator on its own port: each finding, its fix, and the exit code.

use std::collections::HashMap;

use lipa::config::{Source, SANDBOX_PASSKEY};
use lipa::doctor::{run, Level, Report};

const KEY: &str = "doctor-consumer-key";
const SECRET: &str = "doctor-consumer-secret";

struct Env {
    base: String,
    _dir: tempfile::TempDir,
    db: String,
}

async fn simulator() -> Env {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = daraja_sim::SimConfig {
        consumer_key: Some(KEY.into()),
        consumer_secret: Some(SECRET.into()),
        ..daraja_sim::SimConfig::default()
    };
    tokio::spawn(daraja_sim::serve(listener, config));
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("doctor.db").display());
    Env { base, _dir: dir, db }
}

impl Env {
    /// A good sandbox configuration pointed at the simulator, with `changes` applied ("" removes).
    fn vars(&self, changes: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = [
            ("MPESA_ENV", "sandbox"),
            ("MPESA_BASE_URL", self.base.as_str()),
            ("MPESA_CONSUMER_KEY", KEY),
            ("MPESA_CONSUMER_SECRET", SECRET),
            ("MPESA_SHORTCODE", "174379"),
            ("MPESA_PASSKEY", SANDBOX_PASSKEY),
            ("LIPA_PUBLIC_URL", "https://pay.example.com"),
            ("LIPA_DATABASE_URL", self.db.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in changes {
            if v.is_empty() {
                env.remove(*k);
            } else {
                env.insert(k.to_string(), v.to_string());
            }
        }
        env
    }

    async fn doctor(&self, changes: &[(&str, &str)]) -> Report {
        run(&Source::from_maps(self.vars(changes), HashMap::new())).await
    }
}

fn error_about<'a>(r: &'a Report, check: &str) -> &'a lipa::doctor::Finding {
    r.about(check)
        .into_iter()
        .find(|f| f.level == Level::Error)
        .unwrap_or_else(|| panic!("no error about {check}:\n{r}"))
}

#[tokio::test]
async fn good_configuration_is_all_green() {
    let env = simulator().await;
    let r = env.doctor(&[]).await;
    assert!(r.findings.iter().all(|f| f.level == Level::Ok), "{r}");
    for check in
        ["configuration", "database", "credentials", "shortcode and passkey", "clock", "callback URL", "webhooks"]
    {
        assert_eq!(r.about(check).len(), 1, "one finding about {check}:\n{r}");
    }
    let text = r.to_string();
    assert!(text.contains("All checks passed."), "{text}");
    assert!(!text.contains(SECRET) && !text.contains(SANDBOX_PASSKEY), "no secret is printed:\n{text}");
}

#[tokio::test]
async fn wrong_passkey_is_wrong_credentials_with_the_fix() {
    let env = simulator().await;
    let r = env.doctor(&[("MPESA_PASSKEY", "not-the-passkey-for-174379")]).await;
    assert!(r.has_errors());
    let f = error_about(&r, "shortcode and passkey");
    assert!(f.message.contains("Wrong credentials"), "{r}");
    assert!(f.fix.as_deref().unwrap().contains("MPESA_PASSKEY"), "{r}");
    assert_eq!(r.about("credentials")[0].level, Level::Ok, "the token still works:\n{r}");
    assert!(!r.to_string().contains("not-the-passkey-for-174379"), "the passkey is not printed");
}

#[tokio::test]
async fn wrong_consumer_secret_is_an_auth_finding() {
    let env = simulator().await;
    let r = env.doctor(&[("MPESA_CONSUMER_SECRET", "wrong-secret")]).await;
    let f = error_about(&r, "credentials");
    assert!(f.message.contains("refused the consumer key and secret"), "{r}");
    assert!(f.fix.as_deref().unwrap().contains("MPESA_CONSUMER_SECRET"), "{r}");
    assert!(r.about("shortcode and passkey").is_empty(), "no passkey verdict without a token:\n{r}");
    assert!(!r.to_string().contains("wrong-secret"));
}

#[tokio::test]
async fn unknown_shortcode_is_named() {
    let env = simulator().await;
    let r = env.doctor(&[("MPESA_SHORTCODE", "600999")]).await;
    let f = error_about(&r, "shortcode and passkey");
    assert!(f.message.contains("Merchant does not exist") && f.message.contains("600999"), "{r}");
}

#[tokio::test]
async fn unreachable_daraja_and_database_are_explained() {
    let env = simulator().await;
    let r = env
        .doctor(&[
            ("MPESA_BASE_URL", "http://127.0.0.1:9"),
            ("LIPA_DATABASE_URL", "postgres://lipa:pw@127.0.0.1:9/lipa"),
        ])
        .await;
    let f = error_about(&r, "credentials");
    assert!(f.fix.as_deref().unwrap().contains("reach Daraja"), "{r}");
    let f = error_about(&r, "database");
    assert!(f.message.contains("postgres://lipa:redacted@127.0.0.1:9/lipa"), "password hidden: {r}");
    assert!(!r.to_string().contains(":pw@"));
}

#[tokio::test]
async fn callback_url_findings() {
    let env = simulator().await;
    let r = env.doctor(&[("LIPA_PUBLIC_URL", "")]).await;
    assert!(error_about(&r, "callback URL").message.contains("LIPA_PUBLIC_URL is not set"), "{r}");
    // A loopback callback URL with Daraja on the internet: Daraja cannot reach it.
    let r =
        env.doctor(&[("LIPA_PUBLIC_URL", "http://127.0.0.1:8080"), ("MPESA_BASE_URL", "https://daraja.invalid")]).await;
    assert!(error_about(&r, "callback URL").message.contains("cannot reach"), "{r}");
    assert!(r.about("callback URL").iter().any(|f| f.level == Level::Warn && f.message.contains("not HTTPS")), "{r}");
    // With Daraja a local simulator (issue 15 item 10), the same URL is reachable: said, not an error.
    let r = env.doctor(&[("LIPA_PUBLIC_URL", "http://127.0.0.1:8080")]).await;
    assert!(!r.about("callback URL").iter().any(|f| f.level == Level::Error), "{r}");
    assert!(r.about("callback URL").iter().any(|f| f.message.contains("can call back")), "{r}");
    let r = env.doctor(&[("LIPA_PUBLIC_URL", "https://pay.example.com/mpesa")]).await;
    assert!(error_about(&r, "callback URL").message.contains("\"mpesa\""), "{r}");
}

#[tokio::test]
async fn sandbox_values_in_production_and_webhook_pairs() {
    let env = simulator().await;
    let r = env.doctor(&[("MPESA_ENV", "production")]).await;
    let f = error_about(&r, "sandbox values in production");
    assert!(f.fix.as_deref().unwrap().contains("MPESA_PASSKEY"), "{r}");
    assert!(r.about("metrics").iter().any(|f| f.level == Level::Warn), "{r}");
    // The configuration check also names each problem (here the sandbox values and MPESA_BASE_URL).
    let config: Vec<_> = r.about("configuration").iter().map(|f| f.message.clone()).collect();
    assert!(config.iter().any(|m| m.contains("sandbox shortcode")), "{config:?}");
    assert!(config.iter().any(|m| m.contains("MPESA_BASE_URL")), "{config:?}");

    let r = env.doctor(&[("LIPA_WEBHOOK_URL", "https://shop.example.com/hooks")]).await;
    assert!(error_about(&r, "configuration").message.contains("LIPA_WEBHOOK_SECRET"), "{r}");
    let r = env.doctor(&[("LIPA_WEBHOOK_SECRET", "0123456789abcdef0123456789abcdef")]).await;
    assert!(
        r.about("webhooks").iter().any(|f| f.level == Level::Warn && f.message.contains("LIPA_WEBHOOK_URL")),
        "{r}"
    );
    assert!(!r.has_errors(), "a warning is not an error:\n{r}");
}

// Several threads: the subprocess is waited for synchronously while the simulator answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_exits_non_zero_on_errors() {
    let env = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |changes: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lipa"))
            .arg("doctor")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.vars(changes))
            .current_dir(dir.path())
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, text) = run(&[]);
    assert!(ok, "{text}");
    assert!(text.contains("All checks passed."), "{text}");
    let (ok, text) = run(&[("MPESA_PASSKEY", "bad-passkey")]);
    assert!(!ok, "{text}");
    assert!(text.contains("[ERROR] shortcode and passkey") && text.contains("fix: set MPESA_PASSKEY"), "{text}");
}

/// The initiator check: a running gateway on the same database receives the Account Balance result the
/// doctor asked for, so the doctor can tell whether Daraja accepted the initiator and its password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initiator_accepted_or_refused() {
    let env = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("sim.pem");
    std::fs::write(&cert, daraja_sim::SIM_CERTIFICATE_PEM).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let initiator = [
        ("MPESA_INITIATOR_NAME", "testapi"),
        ("MPESA_INITIATOR_PASSWORD", "Safaricom999!*!"),
        ("MPESA_CERTIFICATE", cert.to_str().unwrap()),
        ("LIPA_PUBLIC_URL", public.as_str()),
    ];
    let vars = env.vars(&initiator);
    let cfg = lipa::config::Config::from_source(&Source::from_maps(vars, HashMap::new())).unwrap();
    let gw = lipa::startup::start(cfg, listener).await.unwrap();
    let r = env.doctor(&initiator).await;
    let found = r.about("initiator");
    assert!(found.iter().all(|f| f.level == Level::Ok) && found.len() == 1, "{r}");
    assert!(found[0].message.contains("accepted"), "{r}");
    let mut wrong = initiator.to_vec();
    wrong[1] = ("MPESA_INITIATOR_PASSWORD", "not-the-password");
    let r = env.doctor(&wrong).await;
    let e = error_about(&r, "initiator");
    assert!(e.message.contains("2001") && !r.to_string().contains("not-the-password"), "{r}");
    gw.shutdown().await;
}
