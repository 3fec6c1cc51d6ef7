//! Processes of a run: the gateway (`lipa serve`) and the floor (`lipa-bench floor`) as real processes, so
//! that their peak RSS and a SIGKILL are real; the simulator in this process, so that it outlives them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::db::{self, Kind};

/// A free loopback port (bound and released; good enough on a quiet machine).
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// The simulator, served from this process.
pub struct Sim {
    pub sim: daraja_sim::Simulator,
    pub url: String,
}

pub async fn start_sim(result_delay: Duration) -> anyhow::Result<Sim> {
    let sim = daraja_sim::Simulator::new(daraja_sim::SimConfig { result_delay, ..daraja_sim::SimConfig::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = sim.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Sim { sim, url })
}

/// A child server process.
pub struct Proc {
    child: tokio::process::Child,
    pub pid: u32,
    peak_kib: u64,
}

/// What a run's gateway needs before it starts: a fresh database (`db::fresh`), a free address, and its
/// environment against the simulator.
pub struct Planned {
    pub url: String,
    pub addr: SocketAddr,
    pub env: Vec<(String, String)>,
}

/// Plan a gateway on a fresh database named `name` (under `tmp`, or on the server of `pg_url`), against
/// `sim`, with the `extra` variables.
pub async fn plan_gateway(
    kind: Kind,
    name: &str,
    tmp: &Path,
    pg_url: &str,
    sim: &Sim,
    extra: &[(&str, String)],
) -> anyhow::Result<Planned> {
    let url = db::fresh(kind, name, tmp, pg_url).await?;
    let addr = free_addr()?;
    let env = gateway_env(&url, addr, &sim.url, extra);
    Ok(Planned { url, addr, env })
}

/// The gateway's environment for a run against the simulator at `sim_url`.
fn gateway_env(database_url: &str, addr: SocketAddr, sim_url: &str, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("MPESA_ENV".into(), "sandbox".into()),
        ("MPESA_CONSUMER_KEY".into(), "bench-key".into()),
        ("MPESA_CONSUMER_SECRET".into(), "bench-secret".into()),
        ("MPESA_BASE_URL".into(), sim_url.into()),
        ("LIPA_LISTEN".into(), addr.to_string()),
        ("LIPA_PUBLIC_URL".into(), format!("http://{addr}")),
        ("LIPA_DATABASE_URL".into(), database_url.into()),
        ("LIPA_CONFIG".into(), "/dev/null".into()),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.clone()));
    }
    env
}

/// `lipa keys create` against the run's database: the key is the last line.
pub async fn create_key(lipa: &Path, env: &[(String, String)]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(lipa)
        .args(["keys", "create", "--name", "bench"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .with_context(|| format!("cannot run {}", lipa.display()))?;
    if !out.status.success() {
        bail!("lipa keys create failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(stdout.lines().last().unwrap_or_default().trim().to_string())
}

/// Start `program args` with `env`, its output going to `log`, and wait until `GET /healthz` answers.
pub async fn spawn(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    addr: SocketAddr,
    log: &Path,
) -> anyhow::Result<Proc> {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child.id().context("no pid")?;
    let mut p = Proc { child, pid, peak_kib: 0 };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("http://{addr}/healthz")).send().await {
            if r.status().is_success() {
                return Ok(p);
            }
        }
        if let Some(status) = p.child.try_wait()? {
            bail!("{} exited while starting ({status}); see {}", program.display(), log.display());
        }
        if Instant::now() > deadline {
            bail!("{} did not answer /healthz within 60 s; see {}", program.display(), log.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Proc {
    /// Peak resident set size so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&mut self) -> u64 {
        let now = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0);
        self.peak_kib = self.peak_kib.max(now);
        self.peak_kib
    }

    /// SIGKILL, and wait for it to be gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.peak_rss_kib();
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// Where run files go.
pub fn out_dir() -> PathBuf {
    PathBuf::from("target/bench")
}

/// Where a run keeps its databases and gateway logs (`target/bench/tmp`), made if missing: a PostgreSQL-only
/// run on a fresh checkout has no SQLite file to make it.
pub fn tmp_dir() -> std::io::Result<PathBuf> {
    let tmp = out_dir().join("tmp");
    std::fs::create_dir_all(&tmp)?;
    Ok(tmp)
}
