//! `herald-bench`: herald's benchmarks, printing figures (never asserted).
//!
//! ```sh
//! cargo run --release --bin herald-bench            # everything
//! cargo run --release --bin herald-bench -- throughput --endpoints 1,100
//! cargo run --release --bin herald-bench -- windows --plans 100000
//! ```
//!
//! Each benchmark creates a throwaway database on the PostgreSQL at
//! `HERALD_BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and drops it afterwards; receivers listen on loopback only.

mod bench_db;
mod ceiling;
mod receiver;
mod throughput;
mod windows;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "herald-bench",
    about = "herald's benchmarks: figures, not assertions"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Bench>,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// End-to-end deliveries per second: commit → signed POST received → recorded delivered.
    Throughput {
        /// Endpoint counts to measure, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,100")]
        endpoints: Vec<usize>,
        /// Deliveries per run (events = deliveries / endpoints).
        #[arg(long, default_value_t = 20_000)]
        deliveries: usize,
    },
    /// Latency from the committing write to arrival, at a fixed offered rate.
    Latency {
        /// Events per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Seconds of load.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Endpoints the events are spread over (one event → one endpoint).
        #[arg(long, default_value_t = 10)]
        endpoints: usize,
    },
    /// PostgreSQL's own ceiling for herald's per-delivery write pattern (no HTTP).
    Ceiling {
        #[arg(long, default_value_t = 20_000)]
        deliveries: usize,
        /// Concurrent writers.
        #[arg(long, default_value_t = 4)]
        writers: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    actix::System::new().block_on(async move {
        match cli.command {
            Some(Bench::Throughput {
                endpoints,
                deliveries,
            }) => {
                for count in endpoints {
                    throughput::throughput(count, deliveries).await?;
                }
            }
            Some(Bench::Latency {
                rate,
                seconds,
                endpoints,
            }) => throughput::latency(rate, seconds, endpoints).await?,
            Some(Bench::Ceiling {
                deliveries,
                writers,
            }) => ceiling::ceiling(deliveries, writers).await?,
            None => {
                for count in [1, 100] {
                    throughput::throughput(count, 20_000).await?;
                }
                throughput::latency(1000, 10, 10).await?;
                ceiling::ceiling(20_000, 4).await?;
            }
        }
        Ok(())
    })
}
