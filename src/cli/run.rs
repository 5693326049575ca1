//! `ferroflux run`: one controller replica against a cluster (or the embedded API server).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::api::ApiResource;

use crate::actors::{KindConfig, KindRegistration, Ownership, Replica};
use crate::apply::{Applier, Impersonator};
use crate::controllers::bucket::BucketReconciler;
use crate::controllers::events::EventRecorder;
use crate::controllers::gitrepository::{GitRepositoryReconciler, CONTROLLER};
use crate::controllers::helmchart::HelmChartReconciler;
use crate::controllers::helmrelease::{self, HelmReleaseReconciler};
use crate::controllers::helmrepository::HelmRepositoryReconciler;
use crate::controllers::kustomization::{self, KustomizationReconciler};
use crate::controllers::ocirepository::OciRepositoryReconciler;
use crate::raft::{Cluster, ClusterOptions, LeaseConfig, SlotOwnership};
use crate::source::artifact::ArtifactStore;
use crate::source::unpacked::UnpackedArtifacts;

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
    /// Where this replica serves Raft; with it, replicas form a cluster and share
    /// the objects out. Without it, the replica is a cluster of one on loopback
    /// and reconciles everything.
    #[arg(long)]
    raft_listen: Option<SocketAddr>,
    /// The host:port the other replicas reach this one's Raft server at (default:
    /// the --raft-listen address).
    #[arg(long)]
    advertise: Option<String>,
    /// Replicas (host:port) to ask for the cluster when joining, e.g. the pods
    /// behind the headless Service.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// Where the Raft log and state live; a restarted replica keeps its identity
    /// and log from here [default with --raft-listen: /data/raft; without it, a
    /// temporary directory].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How long the leader waits to hear from a replica before removing it and
    /// handing its objects to the others.
    #[arg(long, default_value = "10s", value_parser = crate::cli::flux::parse_duration_arg)]
    member_timeout: Duration,
    /// The namespace of the bootstrap Lease that the first replica takes to start the
    /// cluster and the leader keeps pointing at itself.
    #[arg(long, env = "POD_NAMESPACE", default_value = "flux-system")]
    lease_namespace: String,
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
    match (&args.raft_listen, &args.data_dir) {
        (Some(raft), dir) => println!(
            "► Raft on {raft}, data in {}",
            dir.as_deref().unwrap_or(Path::new("/data/raft")).display()
        ),
        (None, _) => println!("► a cluster of one: Raft on loopback"),
    }
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
    /// Cluster membership; `None` is a cluster of one on loopback.
    pub cluster: Option<ClusterArgs>,
    /// The Raft log of a cluster of one (`None`: a temporary directory).
    pub data_dir: Option<PathBuf>,
}

/// The Raft flags of `ferroflux run`.
pub(crate) struct ClusterArgs {
    pub raft_listen: SocketAddr,
    pub advertise: Option<String>,
    pub peers: Vec<String>,
    pub data_dir: PathBuf,
    pub member_timeout: Duration,
    pub lease_namespace: String,
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
            data_dir: self.data_dir.clone(),
            cluster: self.raft_listen.map(|raft_listen| ClusterArgs {
                raft_listen,
                advertise: self.advertise.clone(),
                peers: self.peers.clone(),
                data_dir: self
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/data/raft")),
                member_timeout: self.member_timeout,
                lease_namespace: self.lease_namespace.clone(),
            }),
        }
    }
}

/// A replica started by [`start`].
pub(crate) struct RunningReplica {
    pub metrics_addr: SocketAddr,
    /// The advertised artifact server address.
    pub artifacts_addr: String,
    replica: Replica,
    cluster: Cluster,
    /// The temporary Raft directory of a cluster of one, removed on exit.
    _raft_dir: Option<tempfile::TempDir>,
    readiness: crate::telemetry::Readiness,
    pumps: Vec<tokio::task::JoinHandle<()>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningReplica {
    pub async fn stop(self) {
        self.readiness.set(false);
        self.cluster.leave().await;
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

    // One applier, so the watches of managed objects are shared by both appliers.
    let applier = Arc::new(Applier::new(client.clone()));
    let kind_config = KindConfig {
        concurrency: args.concurrent.max(1),
        ..KindConfig::default()
    };
    let git = GitRepositoryReconciler {
        client: client.clone(),
        store: store.clone(),
        events: EventRecorder::new(client.clone(), CONTROLLER, args.id.clone()),
    };
    let helm_repositories = HelmRepositoryReconciler {
        client: client.clone(),
        store: store.clone(),
        events: EventRecorder::new(client.clone(), CONTROLLER, args.id.clone()),
    };
    let oci_repositories = OciRepositoryReconciler {
        client: client.clone(),
        store: store.clone(),
        events: EventRecorder::new(client.clone(), CONTROLLER, args.id.clone()),
    };
    let buckets = BucketReconciler {
        client: client.clone(),
        store: store.clone(),
        events: EventRecorder::new(client.clone(), CONTROLLER, args.id.clone()),
    };
    let helm_charts = HelmChartReconciler {
        client: client.clone(),
        store: store.clone(),
        events: EventRecorder::new(client.clone(), CONTROLLER, args.id.clone()),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the artifact HTTP client")?,
        indexes: Default::default(),
    };
    let helm_releases = HelmReleaseReconciler {
        client: client.clone(),
        applier: applier.clone(),
        store: store.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the artifact HTTP client")?,
        events: EventRecorder::new(client.clone(), helmrelease::CONTROLLER, args.id.clone()),
        impersonator: Impersonator::new(config.clone(), args.default_service_account.clone()),
        no_cross_namespace_refs: args.no_cross_namespace_refs,
        requeue_dependency: args.requeue_dependency,
        last: Default::default(),
    };
    let kustomizations = KustomizationReconciler {
        client: client.clone(),
        applier,
        store,
        // Enough for every build in flight to share, and for a source's
        // Kustomizations (reconciled together) to find theirs still unpacked.
        unpacked: Arc::new(
            UnpackedArtifacts::new((args.concurrent * 4).max(64))
                .context("creating the directory for unpacked artifacts")?,
        ),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the artifact HTTP client")?,
        events: EventRecorder::new(client.clone(), kustomization::CONTROLLER, args.id.clone()),
        requeue_dependency: args.requeue_dependency,
        no_cross_namespace_refs: args.no_cross_namespace_refs,
        impersonator: Impersonator::new(config, args.default_service_account.clone()),
        last: Default::default(),
    };
    // Nothing is owned until the ring says so, alone or not (DESIGN.md §4).
    let ownership: Arc<dyn Ownership> = Arc::new(SlotOwnership::none());
    let replica = Replica::start(
        vec![
            KindRegistration::new(git, kind_config.clone()),
            KindRegistration::new(helm_repositories, kind_config.clone()),
            KindRegistration::new(oci_repositories, kind_config.clone()),
            KindRegistration::new(buckets, kind_config.clone()),
            KindRegistration::new(helm_charts, kind_config.clone()),
            KindRegistration::new(helm_releases, kind_config.clone()),
            KindRegistration::new(kustomizations, kind_config),
        ],
        ownership,
    )
    .await?;
    let mut raft_dir = None;
    let options = match &args.cluster {
        Some(cluster) => ClusterOptions {
            id: args.id.clone(),
            raft_listen: cluster.raft_listen,
            advertise: cluster
                .advertise
                .clone()
                .unwrap_or_else(|| cluster.raft_listen.to_string()),
            peers: cluster.peers.clone(),
            data_dir: cluster.data_dir.clone(),
            member_timeout: cluster.member_timeout,
            lease: Some(LeaseConfig {
                client: client.clone(),
                namespace: cluster.lease_namespace.clone(),
                name: super::replicas::LEASE_NAME.into(),
            }),
        },
        // A replica alone is a cluster of one: the same Raft, ring and fenced
        // handoff as with peers, on a loopback port no one else uses, with no
        // Lease to contend for.
        None => {
            let data_dir = match &args.data_dir {
                Some(dir) => dir.clone(),
                None => {
                    let dir = tempfile::Builder::new()
                        .prefix("ferroflux-raft-")
                        .tempdir()
                        .context("creating the Raft directory")?;
                    let path = dir.path().to_path_buf();
                    raft_dir = Some(dir);
                    path
                }
            };
            ClusterOptions {
                id: args.id.clone(),
                raft_listen: "127.0.0.1:0".parse()?,
                advertise: String::new(),
                peers: Vec::new(),
                data_dir,
                member_timeout: Duration::from_secs(10),
                lease: None,
            }
        }
    };
    let cluster = Cluster::start(options, Arc::new(replica.router.clone())).await?;
    let watched = [
        (
            "source.toolkit.fluxcd.io",
            "v1",
            "GitRepository",
            "gitrepositories",
        ),
        (
            "source.toolkit.fluxcd.io",
            "v1",
            "HelmRepository",
            "helmrepositories",
        ),
        ("source.toolkit.fluxcd.io", "v1", "HelmChart", "helmcharts"),
        (
            "source.toolkit.fluxcd.io",
            "v1",
            "OCIRepository",
            "ocirepositories",
        ),
        ("source.toolkit.fluxcd.io", "v1", "Bucket", "buckets"),
        (
            "helm.toolkit.fluxcd.io",
            "v2",
            "HelmRelease",
            "helmreleases",
        ),
        (
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            "kustomizations",
        ),
    ];
    let pumps: Vec<_> = watched
        .into_iter()
        .map(|(group, version, kind, plural)| {
            let resource = ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: format!("{group}/{version}"),
                kind: kind.into(),
                plural: plural.into(),
            };
            tokio::spawn(crate::controllers::watch::pump(
                client.clone(),
                resource,
                replica.router.clone(),
            ))
        })
        .collect();
    let mut pumps = pumps;
    // ConfigMaps and Secrets in HelmReleases' valuesFrom, when labelled to be watched.
    for (kind, plural) in [("ConfigMap", "configmaps"), ("Secret", "secrets")] {
        let resource = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        pumps.push(tokio::spawn(crate::controllers::watch::pump_referenced(
            client.clone(),
            resource,
            crate::controllers::watch::WATCH_LABEL_SELECTOR,
            replica.router.clone(),
        )));
    }
    readiness.set(true);
    Ok(RunningReplica {
        metrics_addr,
        artifacts_addr: advertised,
        replica,
        cluster,
        _raft_dir: raft_dir,
        readiness,
        pumps,
        servers: vec![telemetry, artifacts],
    })
}
