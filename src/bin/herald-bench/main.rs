//! `herald-bench`: herald's benchmarks, printing figures (never asserted).
//!
//! ```sh
//! cargo run --release --bin herald-bench            # everything
//! cargo run --release --bin herald-bench -- throughput --endpoints 1,100
//! cargo run --release --bin herald-bench -- windows --plans 100000
//! cargo run --release --bin herald-bench -- scale --tasks 1000,10000
//! cargo run --release --bin herald-bench -- history --plans 200,2000,20000
//! cargo run --release --bin herald-bench -- retention --rate 1000 --seconds 180
//! ```
//!
//! Each benchmark creates a throwaway database on the PostgreSQL at
//! `HERALD_BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and drops it afterwards; receivers listen on loopback only.

mod bench_db;
mod bytebase;
mod ceiling;
mod chaos;
mod history;
mod pg_crash;
mod receiver;
mod retention;
mod scale;
mod stats;
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
    /// Throughput before and after VACUUM (ANALYZE) at an idle moment, and the rows an idle herald rewrites (an hour of sweeps).
    Stats {
        /// Endpoint counts to measure, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,100")]
        endpoints: Vec<usize>,
        /// Deliveries per round.
        #[arg(long, default_value_t = 20_000)]
        deliveries: usize,
        /// Idle sweeps (720: an hour at the default 5 s), run at 50 ms.
        #[arg(long, default_value_t = 720)]
        sweeps: u32,
    },
    /// End-to-end deliveries per second: commit → signed POST received → recorded delivered.
    Throughput {
        /// Endpoint counts to measure, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,100")]
        endpoints: Vec<usize>,
        /// Deliveries per run (events = deliveries / endpoints).
        #[arg(long, default_value_t = 20_000)]
        deliveries: usize,
        /// Make the endpoints `ordering: none` with this concurrency.
        #[arg(long)]
        unordered: Option<u16>,
        /// Give every endpoint a filter and a mute window, and store a
        /// silence: the gate's whole work on every delivery, muting none.
        #[arg(long)]
        routed: bool,
        /// Give every endpoint a body template (docs/templates.md): the
        /// template's whole work — context, render, signing — on every delivery.
        #[arg(long)]
        templated: bool,
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
    /// Replicas, a steady stream and a fault (kill -9, graceful restart, a replica joining): lost, duplicates, takeover time.
    Chaos {
        #[arg(long, default_value_t = 3000)]
        events: u64,
        /// Events per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        lease_ttl: std::time::Duration,
        /// The fault: kill (kill -9), restart (SIGTERM, then a new replica), join (a third replica joins two).
        #[arg(long, value_enum, default_value = "kill")]
        fault: chaos::Fault,
    },
    /// Chaos on the database side: PostgreSQL crashed (`pg_ctl stop -m
    /// immediate` of a private cluster) and restarted under load.
    PgCrash {
        #[arg(long, default_value_t = 3000)]
        events: u64,
        /// Events per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// How long PostgreSQL stays down.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        down_for: std::time::Duration,
    },
    /// Resident memory of N plan supervisors holding open failure windows.
    Windows {
        /// Plans, each with one failed task (an open window) and the rest running.
        #[arg(long, default_value_t = 100_000)]
        plans: u32,
        /// Tasks per plan (at least 2, so the plan is not terminal).
        #[arg(long, default_value_t = 2)]
        tasks: u32,
        /// Give up waiting for the windows after this long.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// One plan of N tasks finishing one by one: rows read per task-run
    /// change and the time from the last commit to PIPELINE_COMPLETED.
    Scale {
        /// Plan sizes to measure, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        tasks: Vec<u32>,
    },
    /// An idle herald over a long history: rows read per second, one
    /// reconciliation pass (and the history scans it replaced), and the
    /// time to settle a backlog of unclaimed finished plans on start.
    History {
        /// Finished plans, comma-separated sizes.
        #[arg(long, value_delimiter = ',', default_value = "200,2000,20000")]
        plans: Vec<u32>,
        /// Tasks per plan (one DONE run each).
        #[arg(long, default_value_t = 100)]
        tasks: u32,
        /// How long to watch the idle herald per size.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        idle: std::time::Duration,
        /// The idle herald's reconcile interval.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        reconcile_interval: std::time::Duration,
    },
    /// The Bytebase source over a long history: follow lag (Bytebase commit
    /// → PIPELINE_COMPLETED) p50/p99 and the cost of an idle pass.
    Bytebase {
        /// Finished task runs of history in the Bytebase database.
        #[arg(long, default_value_t = 1_000_000)]
        runs: u32,
        /// Running one-task plans finished one at a time (lag samples).
        #[arg(long, default_value_t = 200)]
        changes: u32,
        /// How long to watch the idle follower.
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        idle: std::time::Duration,
    },
    /// Retention under sustained load: the outbox's size over time with a
    /// short `--retain`.
    Retention {
        /// Deliveries per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Seconds of load.
        #[arg(long, default_value_t = 180)]
        seconds: u32,
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        retain: std::time::Duration,
    },
    /// (internal) run herald itself, as a chaos replica: `replica run …`.
    #[command(hide = true)]
    Replica {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// PostgreSQL's own ceiling for herald's per-delivery write pattern (no HTTP).
    Ceiling {
        #[arg(long, default_value_t = 20_000)]
        deliveries: usize,
        /// Endpoints, each drained by its own writer (as herald's delivery actors).
        #[arg(long = "endpoints", default_value_t = 100)]
        writers: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Bench::Replica { args }) = &cli.command {
        return replica(args);
    }
    actix::System::new().block_on(async move {
        match cli.command {
            Some(Bench::Throughput {
                endpoints,
                deliveries,
                unordered,
                routed,
                templated,
            }) => {
                for count in endpoints {
                    let options = throughput::Options {
                        unordered,
                        routed,
                        templated,
                    };
                    throughput::throughput(count, deliveries, options).await?;
                }
            }
            Some(Bench::Stats {
                endpoints,
                deliveries,
                sweeps,
            }) => {
                for &count in &endpoints {
                    stats::analyze_stability(count, deliveries).await?;
                }
                stats::idle_churn(*endpoints.last().unwrap_or(&100), sweeps).await?;
            }
            Some(Bench::Latency {
                rate,
                seconds,
                endpoints,
            }) => throughput::latency(rate, seconds, endpoints).await?,
            Some(Bench::Chaos {
                events,
                rate,
                lease_ttl,
                fault,
            }) => chaos::chaos(events, rate, lease_ttl, fault).await?,
            Some(Bench::PgCrash {
                events,
                rate,
                down_for,
            }) => pg_crash::pg_crash(events, rate, down_for).await?,
            Some(Bench::Windows {
                plans,
                tasks,
                timeout,
            }) => {
                bytebase::bytebase(1_000_000, 200, std::time::Duration::from_secs(20)).await?;
                windows::windows(windows::WindowsArgs {
                    plans,
                    tasks,
                    timeout,
                })
                .await?
            }
            Some(Bench::Scale { tasks }) => {
                for count in tasks {
                    scale::scale(count).await?;
                }
            }
            Some(Bench::History {
                plans,
                tasks,
                idle,
                reconcile_interval,
            }) => {
                history::history(&history::HistoryArgs {
                    plans,
                    tasks,
                    idle,
                    reconcile_interval,
                })
                .await?
            }
            Some(Bench::Bytebase {
                runs,
                changes,
                idle,
            }) => bytebase::bytebase(runs, changes, idle).await?,
            Some(Bench::Retention {
                rate,
                seconds,
                retain,
            }) => retention::retention(rate, seconds, retain).await?,
            Some(Bench::Replica { .. }) => anyhow::bail!("`replica` runs before the system starts"),
            Some(Bench::Ceiling {
                deliveries,
                writers,
            }) => ceiling::ceiling(deliveries, writers).await?,
            None => {
                for count in [1, 100] {
                    throughput::throughput(count, 20_000, Default::default()).await?;
                }
                throughput::throughput(
                    1,
                    20_000,
                    throughput::Options {
                        unordered: Some(64),
                        ..Default::default()
                    },
                )
                .await?;
                throughput::latency(1000, 10, 10).await?;
                ceiling::ceiling(20_000, 100).await?;
                for count in [1, 100] {
                    stats::analyze_stability(count, 20_000).await?;
                }
                stats::idle_churn(100, 720).await?;
                scale::scale(1_000).await?;
                scale::scale(10_000).await?;
                history::history(&history::HistoryArgs {
                    plans: vec![200, 2_000, 20_000],
                    tasks: 100,
                    idle: std::time::Duration::from_secs(30),
                    reconcile_interval: std::time::Duration::from_secs(5),
                })
                .await?;
                for fault in [
                    chaos::Fault::Kill,
                    chaos::Fault::Restart,
                    chaos::Fault::Join,
                ] {
                    chaos::chaos(3000, 100, std::time::Duration::from_secs(3), fault).await?;
                }
                pg_crash::pg_crash(3000, 100, std::time::Duration::from_secs(3)).await?;
                windows::windows(windows::WindowsArgs {
                    plans: 100_000,
                    tasks: 2,
                    timeout: std::time::Duration::from_secs(600),
                })
                .await?;
            }
        }
        Ok(())
    })
}

/// Run herald's own command line (the chaos replicas).
fn replica(args: &[String]) -> anyhow::Result<()> {
    use herald::cli::{Cli as HeraldCli, Command};
    let cli = HeraldCli::try_parse_from(
        std::iter::once("herald".to_owned()).chain(args.iter().cloned()),
    )?;
    herald::logging::init(cli.log_format, "info");
    actix::System::new().block_on(async move {
        match cli.command {
            Command::Run(args) => herald::commands::run::run(*args).await,
            _ => anyhow::bail!("a replica only runs `run`"),
        }
    })
}
