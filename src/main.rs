//! The ferroflux binary: parse the command line and hand off.

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("✗ {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
