//! Fails closed: without M-Pesa credentials `lipa serve` runs its simulator only on a loopback address or
//! when `MPESA_ENV=simulator` says so; anywhere else it refuses and names both fixes. (A build without the
//! `sim` feature refuses simulator mode altogether: see `config::tests` and `.ci/run`.)

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn serve(dir: &std::path::Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lipa"));
    c.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LIPA_DATABASE_URL", format!("sqlite://{}", dir.join("lipa.db").display()))
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

#[tokio::test]
async fn no_credentials_on_a_public_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let out = tokio::time::timeout(Duration::from_secs(30), serve(dir.path(), &[("LIPA_LISTEN", listen)]).output())
            .await
            .expect("lipa serve refuses at once")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{listen}: lipa served a simulator on a public address: {stderr}");
        assert!(stderr.contains("MPESA_CONSUMER_KEY"), "names the credentials fix: {stderr}");
        assert!(stderr.contains("MPESA_ENV=simulator"), "names the simulator fix: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("SIMULATOR MODE"));
    }
}

/// Start `lipa serve`, wait for the banner's API line, and say whether the banner says SIMULATOR MODE.
async fn banner(dir: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut child = serve(dir, env).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let read = async {
        while let Ok(Some(l)) = lines.next_line().await {
            seen.push_str(&l);
            seen.push('\n');
            if l.trim().starts_with("API:") {
                return;
            }
        }
    };
    let started = tokio::time::timeout(Duration::from_secs(30), read).await.is_ok();
    let _ = child.kill().await;
    assert!(started && seen.contains("API:"), "lipa serve did not start: {seen}");
    seen
}

#[tokio::test]
async fn simulator_on_loopback_or_on_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let out = banner(dir.path(), &[("LIPA_LISTEN", "127.0.0.1:0")]).await;
    assert!(out.contains("SIMULATOR MODE"), "{out}");
    let out = banner(dir.path(), &[("LIPA_LISTEN", "0.0.0.0:0"), ("MPESA_ENV", "simulator")]).await;
    assert!(out.contains("SIMULATOR MODE"), "{out}");
}
