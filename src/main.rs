//! The `herald` binary: parse the command line, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;
use herald::cli::{Cli, Command};
use herald::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; its logs only say what went wrong.
    let default_filter = match cli.command {
        Command::Demo(_) => "warn",
        _ => "info",
    };
    herald::logging::init(cli.log_format, default_filter);
    let result = actix::System::new().block_on(async move {
        match cli.command {
            Command::Run(args) => commands::run::run(*args).await,
            Command::Migrate(args) => commands::migrate::migrate(args).await,
            Command::Deliveries(args) => commands::deliveries::list(args).await,
            Command::Replay(args) => commands::deliveries::replay(args).await,
            Command::Demo(args) => commands::demo::demo(args).await,
            Command::CheckConfig(args) => commands::check_config::check_config(args),
            Command::Sink(args) => commands::sink::sink(args).await,
            Command::Secret(herald::cli::SecretCommand::Generate) => {
                println!("{}", herald::signing::generate_secret().expose());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(event = "herald.failed", error = %format!("{error:#}"));
            eprintln!("herald: {error:#}");
            ExitCode::FAILURE
        }
    }
}
