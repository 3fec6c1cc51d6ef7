//! `lipa-bench`: benchmarks and chaos runs for the lipa gateway. See BENCHMARKS.md.

mod abuse;
mod api;
mod bench;
mod c2b_bench;
mod chaos;
mod chaos_c2b;
mod chaos_money_out;
mod chart;
mod db;
mod floor;
mod load;
mod procs;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lipa-bench", about = "Benchmarks and chaos runs for the lipa gateway (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the gateway beside its floor: callbacks ingested and payments created per second, p50/p99,
    /// OAuth requests and peak RSS, on SQLite and PostgreSQL. Prints a table, writes JSON and an SVG chart.
    Bench(bench::BenchArgs),
    /// C2B confirmations ingested per second with group commit, beside one commit per request, same run.
    C2b(c2b_bench::C2bBenchArgs),
    /// Payments under load with callback faults, spike arrests and SIGKILLs; checks every payment against
    /// the simulator. Exits non-zero on FAIL.
    Chaos(chaos::ChaosArgs),
    /// Payouts and refunds under load with dropped, doubled and late results, queue timeouts (the
    /// `--spike-arrest` share) and SIGKILLs; checks every one against the simulator's ledger. Exits non-zero
    /// on FAIL.
    ChaosMoneyOut(chaos::ChaosArgs),
    /// The anonymous attacks of issue 15, a few seconds each and bounded in count, on 127.0.0.1, while real
    /// payments go on: RSS, database size, /healthz and payment latency per phase. Exits non-zero when a real
    /// payment failed or an attack got a 500.
    Abuse(abuse::AbuseArgs),
    /// Redraw the chart from a JSON report.
    Chart {
        json: std::path::PathBuf,
        #[arg(long, default_value = "target/bench/bench.svg")]
        svg: std::path::PathBuf,
    },
    /// The floor server (started by `bench`).
    #[command(hide = true)]
    Floor {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        listen: String,
        #[arg(long)]
        sim_url: String,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(args, chart::svg).await.map(|_| true),
        Command::Chaos(args) => chaos::run(args).await,
        Command::C2b(args) => c2b_bench::run(args).await,
        Command::ChaosMoneyOut(args) => chaos_money_out::run(args).await,
        Command::Abuse(args) => abuse::run(args).await,
        Command::Chart { json, svg } => (|| {
            let report: bench::Report = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
            bench::print_table(&report);
            std::fs::write(&svg, chart::svg(&report))?;
            println!("wrote {}", svg.display());
            anyhow::Ok(true)
        })(),
        Command::Floor { database_url, listen, sim_url } => {
            floor::serve(&database_url, &listen, &sim_url).await.map(|_| true)
        }
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("lipa-bench: {e:#}");
            std::process::exit(2);
        }
    }
}
