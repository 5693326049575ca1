//! `ferroflux dev [DIR]`: the whole GitOps loop on one machine, no cluster needed.
//! It starts the embedded API server, installs the CRDs, runs one replica, serves DIR
//! (a Git repository; default: a bundled example app) with `git daemon`, creates a
//! GitRepository and a Kustomization for it, and reports progress until Ready; then
//! it keeps reconciling, so commits to DIR reach the cluster.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _};
use ferroflux_apiserver::{ApiServer, Config};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{json, Value};

/// The example deployed when no directory is given: the guide's `my-app`, and a
/// HelmRelease of a chart kept in the same repository.
const EXAMPLE: [(&str, &str); 11] = [
    (
        "kustomization.yaml",
        include_str!("../../examples/dev/kustomization.yaml"),
    ),
    (
        "deployment.yaml",
        include_str!("../../examples/dev/deployment.yaml"),
    ),
    (
        "service.yaml",
        include_str!("../../examples/dev/service.yaml"),
    ),
    (
        "helmrelease.yaml",
        include_str!("../../examples/dev/helmrelease.yaml"),
    ),
    (
        "charts/hello/Chart.yaml",
        include_str!("../../examples/dev/charts/hello/Chart.yaml"),
    ),
    (
        "charts/hello/values.yaml",
        include_str!("../../examples/dev/charts/hello/values.yaml"),
    ),
    (
        "charts/hello/templates/_helpers.tpl",
        include_str!("../../examples/dev/charts/hello/templates/_helpers.tpl"),
    ),
    (
        "charts/hello/templates/configmap.yaml",
        include_str!("../../examples/dev/charts/hello/templates/configmap.yaml"),
    ),
    (
        "charts/hello/templates/deployment.yaml",
        include_str!("../../examples/dev/charts/hello/templates/deployment.yaml"),
    ),
    (
        "charts/hello/templates/service.yaml",
        include_str!("../../examples/dev/charts/hello/templates/service.yaml"),
    ),
    (
        "charts/hello/templates/NOTES.txt",
        include_str!("../../examples/dev/charts/hello/templates/NOTES.txt"),
    ),
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A Git repository to deploy (default: a bundled example app).
    dir: Option<PathBuf>,
    /// The path inside the repository to build and apply.
    #[arg(long, default_value = "./")]
    path: String,
    /// The branch to follow (default: the repository's current branch).
    #[arg(long)]
    branch: Option<String>,
    /// How often the source and the Kustomization reconcile.
    #[arg(long, default_value = "1m")]
    interval: String,
    /// Where state lives: the kubeconfig, artifacts, the example repository.
    #[arg(long, default_value = ".ferroflux")]
    state_dir: PathBuf,
    /// The API server's address (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

/// A `git daemon` serving one directory's repositories, stopped on drop.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn start_git_daemon(base: &Path) -> anyhow::Result<GitDaemon> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // Run git-daemon itself: the `git` wrapper would be the child we stop, leaving the
    // server running.
    let exec_path = git(base, &["--exec-path"])?;
    let child = Command::new(Path::new(&exec_path).join("git-daemon"))
        .args([
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            "--informative-errors",
        ])
        .arg(format!("--base-path={}", base.display()))
        .arg(format!("--port={port}"))
        .arg(base)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting git daemon")?;
    let daemon = GitDaemon { child, port };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            bail!("git daemon did not start listening on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(daemon)
}

/// The repository to serve: DIR, or the example written into the state directory.
fn repository(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.dir {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("{} does not exist", dir.display()))?;
        git(&dir, &["rev-parse", "--git-dir"])
            .with_context(|| format!("{} is not a Git repository", dir.display()))?;
        return Ok(dir);
    }
    let dir = args.state_dir.join("example");
    if !dir.join(".git").is_dir() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, content) in EXAMPLE {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, content)?;
        }
        git(&dir, &["init", "-q", "-b", "main"])?;
        git(&dir, &["add", "-A"])?;
        git(
            &dir,
            &[
                "-c",
                "user.name=ferroflux",
                "-c",
                "user.email=dev@ferroflux.invalid",
                "commit",
                "-q",
                "-m",
                "example app",
            ],
        )?;
    }
    Ok(dir.canonicalize()?)
}

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    let version = if group == "helm.toolkit.fluxcd.io" {
        "v2"
    } else {
        "v1"
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

async fn apply(
    client: &kube::Client,
    resource: &ApiResource,
    namespace: Option<&str>,
    manifest: Value,
) -> anyhow::Result<()> {
    let name = manifest["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    };
    // A CRD installed a moment ago may not be served yet: retry for a few seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match api
            .patch(
                &name,
                &PatchParams::apply("ferroflux-dev").force(),
                &Patch::Apply(&manifest),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status))
                if status.code == 404 && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("applying {name}")),
        }
    }
}

fn ready_line(object: &Value) -> Option<(String, String)> {
    let ready = object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        ready["status"].as_str()?.to_owned(),
        ready["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    crate::cli::init_logging();
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating {}", args.state_dir.display()))?;
    let repo = repository(&args)?;
    let branch = match &args.branch {
        Some(b) => b.clone(),
        None => git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"])?,
    };
    let base = repo
        .parent()
        .context("the repository has no parent directory")?;
    let repo_name = repo
        .file_name()
        .and_then(|n| n.to_str())
        .context("the repository directory name is not UTF-8")?
        .to_owned();
    let daemon = start_git_daemon(base)?;
    let url = format!("git://127.0.0.1:{}/{repo_name}", daemon.port);

    let kubeconfig = args.state_dir.join("kubeconfig");
    let server = ApiServer::start(Config {
        listen: args.listen,
        kubeconfig: Some(kubeconfig.clone()),
        ..Config::default()
    })
    .await
    .context("starting the API server")?;
    let kubeconfig_path = server.kubeconfig_path().canonicalize()?;
    println!("► Kubernetes API at {} (embedded)", server.url());
    println!(
        "► kubeconfig: export KUBECONFIG={}",
        kubeconfig_path.display()
    );
    let client = server
        .client()
        .await
        .context("connecting to the API server")?;

    println!("► installing the Flux CRDs");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::api::all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply("ferroflux-dev").force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("installing {name}"))?;
    }
    apply(
        &client,
        &resource("", "Namespace", "namespaces"),
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}),
    )
    .await?;

    let running = super::run::start(
        server
            .client_config()
            .await
            .context("the API server's client configuration")?,
        &super::run::ReplicaOptions {
            id: "dev-0".into(),
            storage_path: args.state_dir.join("storage"),
            storage_addr: "127.0.0.1:0".parse()?,
            storage_adv_addr: None,
            metrics_listen: "127.0.0.1:0".parse()?,
            concurrent: 4,
            requeue_dependency: Duration::from_secs(5),
            no_cross_namespace_refs: false,
            default_service_account: None,
            cluster: None,
            data_dir: None,
        },
    )
    .await?;
    println!(
        "► replica running (metrics on http://{})",
        running.metrics_addr
    );

    println!("► serving {} at {url} (branch {branch})", repo.display());
    let git_repositories = resource(
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
    );
    let kustomizations = resource(
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    );
    apply(
        &client,
        &git_repositories,
        Some("flux-system"),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "dev", "namespace": "flux-system"},
            "spec": {"interval": args.interval, "url": url, "ref": {"branch": branch}}}),
    )
    .await?;
    apply(
        &client,
        &kustomizations,
        Some("flux-system"),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "dev", "namespace": "flux-system"},
            "spec": {"interval": args.interval, "path": args.path, "prune": true, "timeout": "2m",
                "sourceRef": {"kind": "GitRepository", "name": "dev"}}}),
    )
    .await?;
    println!("◎ waiting for the source and the Kustomization to be ready (Ctrl-C stops)");

    let sources: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &git_repositories);
    let kustomization: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &kustomizations);
    // The example's HelmRelease, applied by the Kustomization from Git.
    let helm_releases: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &resource("helm.toolkit.fluxcd.io", "HelmRelease", "helmreleases"),
    );
    let progress = async {
        let (mut source_seen, mut ks_seen, mut hr_seen) =
            (String::new(), String::new(), String::new());
        loop {
            for (api, label, name, seen) in [
                (&sources, "GitRepository", "dev", &mut source_seen),
                (&kustomization, "Kustomization", "dev", &mut ks_seen),
                (&helm_releases, "HelmRelease", "hello", &mut hr_seen),
            ] {
                if let Ok(object) = api.get(name).await {
                    let object = serde_json::to_value(object).unwrap_or_default();
                    if let Some((status, message)) = ready_line(&object) {
                        let line = format!("{status}: {message}");
                        if *seen != line {
                            let mark = if status == "True" { "✔" } else { "✗" };
                            println!("{mark} {label} {name}: {message}");
                            *seen = line;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        () = progress => {}
        signal = crate::cli::wait_for_signal() => signal?,
    }
    println!("► stopping");
    running.stop().await;
    server.stop().await;
    drop(daemon);
    Ok(ExitCode::SUCCESS)
}
