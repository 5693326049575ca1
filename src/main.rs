//! The ferroflux binary: parse the command line and hand off.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = ferroflux::cli::Cli::parse();
    match ferroflux::cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("✗ {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
