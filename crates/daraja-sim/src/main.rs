//! `daraja-sim`: the standalone simulator.

use clap::Parser;

#[derive(Parser)]
#[command(name = "daraja-sim", version)]
struct Cli {
    #[command(flatten)]
    sim: daraja_sim::SimArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    daraja_sim::run(Cli::parse().sim).await
}
