//! `ferroflux kustomize build DIR`: a drop-in for `kubectl kustomize DIR`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use ferroflux_kustomize::{build_dir_with, to_yaml_stream, BuildOptions, LoadRestriction};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Build a kustomization directory and print the objects as YAML, as `kubectl
    /// kustomize DIR` does. Nothing is fetched from the network: remote resources and
    /// Helm charts are refused.
    Build(BuildArgs),
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The directory to build (default: the current directory).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Which files a kustomization may read: `LoadRestrictionsRootOnly` (only under its
    /// own directory, kubectl's default) or `LoadRestrictionsNone`.
    #[arg(long, default_value = "LoadRestrictionsRootOnly", value_parser = ["LoadRestrictionsRootOnly", "LoadRestrictionsNone"])]
    load_restrictor: String,
    /// Build a directory without a kustomization file from every manifest under it,
    /// as Flux does.
    #[arg(long)]
    generate_missing: bool,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::Build(args) = command;
    let options = BuildOptions {
        fence: None,
        restriction: if args.load_restrictor == "LoadRestrictionsNone" {
            LoadRestriction::None
        } else {
            LoadRestriction::RootOnly
        },
        generate_missing: args.generate_missing,
        overlay: None,
    };
    match build_dir_with(&args.dir, &options) {
        Ok(objects) => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(to_yaml_stream(&objects).as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("Error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
