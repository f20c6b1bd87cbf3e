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
    let log_format = cli.log_format;
    herald::logging::init(log_format, default_filter);
    let result = actix::System::new().block_on(async move {
        match cli.command {
            Command::Run(args) => commands::run::run(*args).await,
            Command::Migrate(args) => commands::migrate::migrate(args).await,
            Command::Deliveries(args) => commands::deliveries::list(args).await,
            Command::Replay(args) => commands::deliveries::replay(args).await,
            Command::Delivery(herald::cli::DeliveryCommand::Show(args)) => {
                commands::deliveries::show(args).await
            }
            Command::Endpoints(command) => commands::endpoints::endpoints(command).await,
            Command::Reload(args) => commands::endpoints::reload(args).await,
            Command::Silence(command) => commands::silences::silence(command).await,
            Command::Demo(args) => commands::demo::demo(args).await,
            Command::CheckConfig(args) => commands::check_config::check_config(args),
            Command::Routes(herald::cli::RoutesCommand::Test(args)) => {
                commands::routes::test(args).await
            }
            Command::Template(herald::cli::TemplateCommand::Render(args)) => {
                commands::template::render(args)
            }
            Command::Sink(args) => commands::sink::sink(args).await,
            Command::Completions(args) => {
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(args.shell, &mut command, "herald", &mut std::io::stdout());
                Ok(())
            }
            Command::Man(args) => commands::man::man(args),
            Command::Secret(herald::cli::SecretCommand::Generate) => {
                println!("{}", herald::signing::generate_secret().expose());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Said once: as a log line for a log shipper, else as plain text.
        Err(error) => {
            match log_format {
                herald::logging::LogFormat::Json => {
                    tracing::error!(event = "herald.failed", error = %format!("{error:#}"))
                }
                herald::logging::LogFormat::Text => eprintln!("herald: {error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
