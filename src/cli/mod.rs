//! The command line: one module per command.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

mod apiserver;
mod artifact;
mod create;
mod dev;
pub mod flux;
mod helm;
mod inspect;
mod kustomize;
mod replicas;
mod run;

/// A GitOps operator for Kubernetes that speaks the FluxCD v2 API.
#[derive(Debug, Parser)]
#[command(name = "ferroflux", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start-up; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Print the version of ferroflux.
    Version,
    /// Run the embedded, in-memory Kubernetes API server.
    Apiserver(apiserver::Args),
    /// Run one controller replica.
    Run(run::Args),
    /// Try the whole GitOps loop on this machine: an embedded API server, one replica,
    /// and a Git repository served locally (default: a bundled example app).
    Dev(dev::Args),
    /// Export a Flux resource as YAML, ready to commit to Git.
    Export {
        #[command(subcommand)]
        what: NamedKustomization,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Print the objects a Kustomization or HelmRelease manages, from its inventory.
    Tree {
        #[command(subcommand)]
        what: NamedKustomization,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Print the events of Flux resources.
    Events {
        /// Only events about this object, as Kind/name (e.g. Kustomization/apps).
        #[arg(long = "for")]
        for_object: Option<String>,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Build a Kustomization locally with its own settings, as the controller would.
    Build {
        #[command(subcommand)]
        what: BuildWhat,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Show what applying a local directory would change, as a Kustomization would
    /// apply it. Exits 0 with no differences, 1 with differences, 2 or more on errors.
    Diff {
        #[command(subcommand)]
        what: BuildCommand,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Render Helm charts with the native Helm engine.
    Helm {
        #[command(subcommand)]
        command: helm::Command,
    },
    /// Build kustomizations with the native kustomize engine.
    Kustomize {
        #[command(subcommand)]
        command: kustomize::Command,
    },
    /// Create or update a Flux resource from flags (or print it with --export).
    Create {
        #[command(subcommand)]
        what: CreateCommand,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Get the status of Flux resources.
    Get {
        #[command(subcommand)]
        what: GetCommand,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Trigger a reconcile of a Flux resource and wait for it.
    Reconcile {
        #[command(subcommand)]
        what: ReconcileCommand,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Suspend the reconciliation of a Flux resource.
    Suspend {
        #[command(subcommand)]
        what: SourceCommand,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
    /// Push an artifact to an OCI registry, as `flux push artifact` does.
    Push {
        #[command(subcommand)]
        what: PushCommand,
    },
    /// Pull an artifact from an OCI registry.
    Pull {
        #[command(subcommand)]
        what: PullCommand,
    },
    /// Tag an artifact in an OCI registry.
    Tag {
        #[command(subcommand)]
        what: TagCommand,
    },
    /// List artifacts in an OCI registry.
    List {
        #[command(subcommand)]
        what: ListCommand,
    },
    /// Resume a suspended Flux resource.
    Resume {
        #[command(subcommand)]
        what: SourceCommand,
        #[command(flatten)]
        global: flux::GlobalArgs,
    },
}

#[derive(Debug, Subcommand)]
enum PushCommand {
    /// Pack a directory and push it as a Flux OCI artifact.
    Artifact(artifact::PushArgs),
}

#[derive(Debug, Subcommand)]
enum PullCommand {
    /// Pull a Flux OCI artifact and extract its content.
    Artifact(artifact::PullArgs),
}

#[derive(Debug, Subcommand)]
enum TagCommand {
    /// Give an artifact in a registry more tags.
    Artifact(artifact::TagArgs),
}

#[derive(Debug, Subcommand)]
enum ListCommand {
    /// List the artifacts of a repository: tag, digest, source and revision.
    Artifacts(artifact::ListArgs),
}

#[derive(Debug, Subcommand)]
enum GetCommand {
    /// Get source statuses.
    Sources {
        #[command(subcommand)]
        kind: GetSourceKind,
    },
    /// Get Kustomization statuses.
    #[command(visible_aliases = ["kustomization", "ks"])]
    Kustomizations {
        /// Only this Kustomization.
        name: Option<String>,
        /// List in all namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// After listing, watch for changes.
        #[arg(short = 'w', long)]
        watch: bool,
    },
    /// Get HelmRelease statuses.
    #[command(visible_aliases = ["helmrelease", "hr"])]
    Helmreleases(GetArgs),
    /// Get the replicas of a Raft cluster: role, ring epoch and objects owned.
    /// The cluster is found from its Lease in the namespace, or at --server.
    #[command(visible_aliases = ["replica", "stats"])]
    Replicas {
        /// A replica's Raft address (host:port) to ask.
        #[arg(long)]
        server: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum CreateCommand {
    /// Create a source.
    Source {
        #[command(subcommand)]
        kind: CreateSourceKind,
    },
    /// Create a HelmRelease.
    #[command(visible_alias = "hr")]
    Helmrelease(create::HelmReleaseArgs),
}

#[derive(Debug, Subcommand)]
enum CreateSourceKind {
    /// A HelmRepository.
    Helm(create::HelmRepositoryArgs),
    /// An OCIRepository.
    Oci(create::OciRepositoryArgs),
    /// A Bucket (S3-compatible object storage).
    Bucket(create::BucketArgs),
}

#[derive(Debug, Subcommand)]
enum NamedKustomization {
    /// A Kustomization.
    #[command(visible_alias = "ks")]
    Kustomization { name: String },
    /// A HelmRelease.
    #[command(visible_alias = "hr")]
    Helmrelease { name: String },
}

impl NamedKustomization {
    fn split(self) -> (&'static flux::FluxKind, String) {
        match self {
            NamedKustomization::Kustomization { name } => (&flux::KUSTOMIZATION, name),
            NamedKustomization::Helmrelease { name } => (&flux::HELM_RELEASE, name),
        }
    }
}

#[derive(Debug, Subcommand)]
enum BuildCommand {
    /// Build a Kustomization from a local directory.
    #[command(visible_alias = "ks")]
    Kustomization {
        name: String,
        /// The directory to build (a checkout of the source at spec.path).
        #[arg(long)]
        path: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BuildWhat {
    /// Build a Kustomization from a local directory.
    #[command(visible_alias = "ks")]
    Kustomization {
        name: String,
        /// The directory to build (a checkout of the source at spec.path).
        #[arg(long)]
        path: std::path::PathBuf,
    },
    /// Pack a directory as a Flux artifact tarball (what `push artifact` pushes).
    Artifact(artifact::BuildArgs),
}

#[derive(Debug, Subcommand)]
enum ReconcileCommand {
    /// Reconcile a source.
    Source {
        #[command(subcommand)]
        kind: NamedSourceKind,
    },
    /// Reconcile a Kustomization.
    #[command(visible_alias = "ks")]
    Kustomization {
        name: String,
        /// Reconcile its source first.
        #[arg(long)]
        with_source: bool,
    },
    /// Reconcile a HelmRelease.
    #[command(visible_alias = "hr")]
    Helmrelease {
        name: String,
        /// Reconcile its HelmChart first.
        #[arg(long)]
        with_source: bool,
        /// Run a Helm upgrade even when nothing changed.
        #[arg(long)]
        force: bool,
        /// Reset the failure counters, so the remediation retries start again.
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GetSourceKind {
    /// Get GitRepository statuses.
    Git(GetArgs),
    /// Get HelmRepository statuses.
    Helm(GetArgs),
    /// Get HelmChart statuses.
    Chart(GetArgs),
    /// Get OCIRepository statuses.
    Oci(GetArgs),
    /// Get Bucket statuses.
    Bucket(GetArgs),
}

#[derive(Debug, clap::Args)]
struct GetArgs {
    /// Only this object.
    name: Option<String>,
    /// List in all namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    watch: bool,
}

#[derive(Debug, Subcommand)]
enum SourceCommand {
    /// Act on a source.
    Source {
        #[command(subcommand)]
        kind: NamedSourceKind,
    },
    /// Act on a Kustomization.
    #[command(visible_alias = "ks")]
    Kustomization { name: String },
    /// Act on a HelmRelease.
    #[command(visible_alias = "hr")]
    Helmrelease { name: String },
}

#[derive(Debug, Subcommand)]
enum NamedSourceKind {
    /// A GitRepository.
    Git { name: String },
    /// A HelmRepository.
    Helm { name: String },
    /// A HelmChart.
    Chart { name: String },
    /// An OCIRepository.
    Oci { name: String },
    /// A Bucket.
    Bucket { name: String },
}

impl NamedSourceKind {
    fn split(self) -> (&'static flux::FluxKind, String) {
        match self {
            NamedSourceKind::Git { name } => (&flux::GIT_REPOSITORY, name),
            NamedSourceKind::Helm { name } => (&flux::HELM_REPOSITORY, name),
            NamedSourceKind::Chart { name } => (&flux::HELM_CHART, name),
            NamedSourceKind::Oci { name } => (&flux::OCI_REPOSITORY, name),
            NamedSourceKind::Bucket { name } => (&flux::BUCKET, name),
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!("ferroflux {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Apiserver(args) => apiserver::run(args),
        Command::Run(args) => run::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Kustomize { command } => kustomize::run(command),
        Command::Helm { command } => helm::run(command),
        Command::Push {
            what: PushCommand::Artifact(args),
        } => artifact::push(args).map(|()| ExitCode::SUCCESS),
        Command::Pull {
            what: PullCommand::Artifact(args),
        } => artifact::pull(args).map(|()| ExitCode::SUCCESS),
        Command::Tag {
            what: TagCommand::Artifact(args),
        } => artifact::tag(args).map(|()| ExitCode::SUCCESS),
        Command::List {
            what: ListCommand::Artifacts(args),
        } => artifact::list(args).map(|()| ExitCode::SUCCESS),
        Command::Export { what, global } => {
            let (kind, name) = what.split();
            block_on(inspect::export(&global, kind, &name))
        }
        Command::Tree { what, global } => {
            let (kind, name) = what.split();
            block_on(inspect::tree(&global, kind, &name))
        }
        Command::Events { for_object, global } => {
            block_on(inspect::events(&global, for_object.as_deref()))
        }
        Command::Build {
            what: BuildWhat::Kustomization { name, path },
            global,
        } => block_on(inspect::build(&global, &name, &path)),
        Command::Build {
            what: BuildWhat::Artifact(args),
            ..
        } => artifact::build(args).map(|()| ExitCode::SUCCESS),
        Command::Diff {
            what: BuildCommand::Kustomization { name, path },
            global,
        } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            match runtime.block_on(inspect::diff(&global, &name, &path)) {
                Ok(false) => Ok(ExitCode::SUCCESS),
                Ok(true) => Ok(ExitCode::from(1)),
                Err(e) => {
                    eprintln!("✗ {e:#}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Create {
            what:
                CreateCommand::Source {
                    kind: CreateSourceKind::Helm(args),
                },
            global,
        } => block_on(create::source_helm(&global, &args)),
        Command::Create {
            what:
                CreateCommand::Source {
                    kind: CreateSourceKind::Oci(args),
                },
            global,
        } => block_on(create::source_oci(&global, &args)),
        Command::Create {
            what:
                CreateCommand::Source {
                    kind: CreateSourceKind::Bucket(args),
                },
            global,
        } => block_on(create::source_bucket(&global, &args)),
        Command::Create {
            what: CreateCommand::Helmrelease(args),
            global,
        } => block_on(create::helmrelease(&global, &args)),
        Command::Get {
            what: GetCommand::Sources { kind },
            global,
        } => {
            let (kind, args) = match kind {
                GetSourceKind::Git(args) => (&flux::GIT_REPOSITORY, args),
                GetSourceKind::Helm(args) => (&flux::HELM_REPOSITORY, args),
                GetSourceKind::Chart(args) => (&flux::HELM_CHART, args),
                GetSourceKind::Oci(args) => (&flux::OCI_REPOSITORY, args),
                GetSourceKind::Bucket(args) => (&flux::BUCKET, args),
            };
            block_on(flux::get(
                &global,
                kind,
                args.name.as_deref(),
                args.all_namespaces,
                args.watch,
            ))
        }
        Command::Get {
            what:
                GetCommand::Kustomizations {
                    name,
                    all_namespaces,
                    watch,
                },
            global,
        } => block_on(flux::get(
            &global,
            &flux::KUSTOMIZATION,
            name.as_deref(),
            all_namespaces,
            watch,
        )),
        Command::Get {
            what: GetCommand::Helmreleases(args),
            global,
        } => block_on(flux::get(
            &global,
            &flux::HELM_RELEASE,
            args.name.as_deref(),
            args.all_namespaces,
            args.watch,
        )),
        Command::Get {
            what: GetCommand::Replicas { server },
            global,
        } => block_on(replicas::get(&global, server.as_deref())),
        Command::Reconcile { what, global } => block_on(async move {
            match what {
                ReconcileCommand::Source { kind } => {
                    let (kind, name) = kind.split();
                    flux::reconcile(&global, kind, &name).await
                }
                ReconcileCommand::Kustomization { name, with_source } => {
                    if with_source {
                        flux::reconcile_source_of(&global, &name).await?;
                    }
                    flux::reconcile(&global, &flux::KUSTOMIZATION, &name).await
                }
                ReconcileCommand::Helmrelease {
                    name,
                    with_source,
                    force,
                    reset,
                } => {
                    if with_source {
                        flux::reconcile_chart_of(&global, &name).await?;
                    }
                    let mut also = Vec::new();
                    if force {
                        also.push("reconcile.fluxcd.io/forceAt");
                    }
                    if reset {
                        also.push("reconcile.fluxcd.io/resetAt");
                    }
                    flux::reconcile_with(&global, &flux::HELM_RELEASE, &name, &also).await
                }
            }
        }),
        Command::Suspend { what, global } => {
            let (kind, name) = named(what);
            block_on(flux::set_suspended(&global, kind, &name, true))
        }
        Command::Resume { what, global } => {
            let (kind, name) = named(what);
            block_on(flux::set_suspended(&global, kind, &name, false))
        }
    }
}

fn named(what: SourceCommand) -> (&'static flux::FluxKind, String) {
    match what {
        SourceCommand::Source { kind } => kind.split(),
        SourceCommand::Kustomization { name } => (&flux::KUSTOMIZATION, name),
        SourceCommand::Helmrelease { name } => (&flux::HELM_RELEASE, name),
    }
}

fn block_on(f: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(f)?;
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr, `RUST_LOG` filtering (default: info for ferroflux, warnings else).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ferroflux=info"));
    // A second call (tests running commands in-process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Waits for SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT"),
        _ = term.recv() => Ok(()),
    }
}
