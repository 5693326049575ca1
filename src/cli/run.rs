//! `ferroflux run`: one controller replica against a cluster (or the embedded API server).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::api::ApiResource;

use crate::actors::{KindConfig, KindRegistration, OwnAll, Replica};
use crate::controllers::events::EventRecorder;
use crate::controllers::gitrepository::{GitRepositoryReconciler, CONTROLLER};
use crate::controllers::kustomization::applier::Applier;
use crate::controllers::kustomization::{self, KustomizationReconciler};
use crate::source::artifact::ArtifactStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
    /// This replica's identity (defaults to the host name).
    #[arg(long, env = "HOSTNAME", default_value = "ferroflux-0")]
    id: String,
    /// Where artifacts are stored.
    #[arg(long, default_value = "/data")]
    storage_path: PathBuf,
    /// The address the artifact server listens on.
    #[arg(long, default_value = "0.0.0.0:9090")]
    storage_addr: SocketAddr,
    /// The host:port other replicas and consumers reach the artifact server at (default:
    /// the bound storage address).
    #[arg(long)]
    storage_adv_addr: Option<String>,
    /// The address of /metrics, /livez and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_listen: SocketAddr,
    /// Reconciles in flight per kind.
    #[arg(long, default_value_t = 4)]
    concurrent: usize,
    /// The service account Kustomizations that name none are applied as (impersonated).
    #[arg(long)]
    default_service_account: Option<String>,
    /// Refuse references to sources and dependencies in other namespaces.
    #[arg(long)]
    no_cross_namespace_refs: bool,
    /// How long a dependent waits before checking a dependency that is not ready.
    #[arg(long, default_value = "30s", value_parser = crate::cli::flux::parse_duration_arg)]
    requeue_dependency: Duration,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn client_config(args: &Args) -> anyhow::Result<kube::Config> {
    let options = kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None => kube::Config::infer()
            .await
            .context("finding a kubeconfig or in-cluster configuration")?,
    };
    // Requests name us, our version and the replica, so audit logs tell replicas apart.
    let agent = format!(
        "ferroflux/{} (replica {})",
        env!("CARGO_PKG_VERSION"),
        args.id
    );
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&agent).context("replica id in the User-Agent")?,
    ));
    Ok(config)
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    crate::cli::init_logging();
    let config = client_config(&args).await?;
    let running = start(config, &args.replica_options()).await?;
    println!(
        "► replica {} running: metrics on http://{}, artifacts on http://{}",
        args.id, running.metrics_addr, running.artifacts_addr
    );
    crate::cli::wait_for_signal().await?;
    println!("► stopping");
    running.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// What a replica needs besides its API client.
pub(crate) struct ReplicaOptions {
    pub id: String,
    pub storage_path: PathBuf,
    pub storage_addr: SocketAddr,
    pub storage_adv_addr: Option<String>,
    pub metrics_listen: SocketAddr,
    pub concurrent: usize,
    pub requeue_dependency: Duration,
    pub no_cross_namespace_refs: bool,
    pub default_service_account: Option<String>,
}

impl Args {
    fn replica_options(&self) -> ReplicaOptions {
        ReplicaOptions {
            id: self.id.clone(),
            storage_path: self.storage_path.clone(),
            storage_addr: self.storage_addr,
            storage_adv_addr: self.storage_adv_addr.clone(),
            metrics_listen: self.metrics_listen,
            concurrent: self.concurrent,
            requeue_dependency: self.requeue_dependency,
            no_cross_namespace_refs: self.no_cross_namespace_refs,
            default_service_account: self.default_service_account.clone(),
        }
    }
}

/// A replica started by [`start`].
pub(crate) struct RunningReplica {
    pub metrics_addr: SocketAddr,
    /// The advertised artifact server address.
    pub artifacts_addr: String,
    replica: Replica,
    readiness: crate::telemetry::Readiness,
    pumps: Vec<tokio::task::JoinHandle<()>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningReplica {
    pub async fn stop(self) {
        self.readiness.set(false);
        for task in self.pumps.iter().chain(&self.servers) {
            task.abort();
        }
        self.replica.shutdown().await;
    }
}

/// Starts one controller replica: telemetry, the artifact server, the reconcilers of
/// every kind and the watches that feed them.
pub(crate) async fn start(
    config: kube::Config,
    args: &ReplicaOptions,
) -> anyhow::Result<RunningReplica> {
    let client = kube::Client::try_from(config.clone()).context("creating the API client")?;
    let metrics = crate::telemetry::install_recorder()?;
    let readiness = crate::telemetry::Readiness::default();
    let (metrics_addr, telemetry) =
        crate::telemetry::serve(args.metrics_listen, metrics, readiness.clone()).await?;
    std::fs::create_dir_all(&args.storage_path)
        .with_context(|| format!("creating {}", args.storage_path.display()))?;
    let (storage_addr, artifacts) =
        crate::storage_http::serve(args.storage_addr, args.storage_path.clone()).await?;
    let advertised = args
        .storage_adv_addr
        .clone()
        .unwrap_or_else(|| storage_addr.to_string());
    let store = Arc::new(ArtifactStore::new(
        args.storage_path.clone(),
        format!("http://{advertised}"),
    ));

    let kind_config = KindConfig {
        concurrency: args.concurrent.max(1),
        ..KindConfig::default()
    };
    let git = GitRepositoryReconciler {
        client: client.clone(),
        store: store.clone(),
        events: EventRecorder::new(client.clone(), CONTROLLER, args.id.clone()),
    };
    let kustomizations = KustomizationReconciler {
        client: client.clone(),
        applier: Arc::new(Applier::new(client.clone())),
        store,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the artifact HTTP client")?,
        events: EventRecorder::new(client.clone(), kustomization::CONTROLLER, args.id.clone()),
        requeue_dependency: args.requeue_dependency,
        no_cross_namespace_refs: args.no_cross_namespace_refs,
        config,
        default_service_account: args.default_service_account.clone(),
        impersonated: Default::default(),
        last: Default::default(),
    };
    let replica = Replica::start(
        vec![
            KindRegistration::new(git, kind_config.clone()),
            KindRegistration::new(kustomizations, kind_config),
        ],
        Arc::new(OwnAll),
    )
    .await?;
    let git_repositories = ApiResource {
        group: "source.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: "GitRepository".into(),
        plural: "gitrepositories".into(),
    };
    let kustomization_resource = ApiResource {
        group: "kustomize.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        plural: "kustomizations".into(),
    };
    let pumps = [
        tokio::spawn(crate::controllers::watch::pump(
            client.clone(),
            git_repositories,
            replica.router.clone(),
        )),
        tokio::spawn(crate::controllers::watch::pump(
            client,
            kustomization_resource,
            replica.router.clone(),
        )),
    ];
    readiness.set(true);
    Ok(RunningReplica {
        metrics_addr,
        artifacts_addr: advertised,
        replica,
        readiness,
        pumps: pumps.into_iter().collect(),
        servers: vec![telemetry, artifacts],
    })
}
