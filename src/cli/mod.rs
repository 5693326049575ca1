//! The command line: one module per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod apiserver;
pub mod flux;

/// A GitOps operator for Kubernetes that speaks the FluxCD v2 API.
#[derive(Debug, Parser)]
#[command(name = "ferroflux", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version of ferroflux.
    Version,
    /// Run the embedded, in-memory Kubernetes API server.
    Apiserver(apiserver::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!("ferroflux {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Apiserver(args) => apiserver::run(args),
    }
}
