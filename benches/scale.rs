//! The scale benchmark: N GitRepositories and 10 x N Kustomizations of 5 objects
//! each on the embedded API server with added per-request latency, reconciled by
//! one replica or a Raft cluster of several `ferroflux run` processes.
//!
//! Reports the time until every Kustomization is Ready, the replicas' API
//! requests (from the audit log) in total and per reconcile, each replica's peak
//! RSS and CPU seconds, and the resync time: every Kustomization asked to
//! reconcile again with nothing to change.
//!
//! With `--helmreleases N`: N HelmReleases of one chart of 5 objects (kept in a
//! GitRepository, so each HelmRelease's HelmChart packages it), the same figures.
//!
//! `cargo bench --bench scale` runs both standard scenarios (1,000 on one
//! replica; 10,000 on three) and the HelmRelease ones (1,000 on one and on three);
//! one scenario:
//! `cargo bench --bench scale -- --kustomizations 1000 --replicas 1 --latency-ms 2`
//! (`--concurrent N`, default 20). The quick check of earlier releases, 100
//! Kustomizations with no added latency, is
//! `cargo bench --bench scale -- --kustomizations 100 --latency-ms 0`.

#[path = "../tests/common/replica.rs"]
mod replica;
#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ferroflux_apiserver::Config;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};

/// Apps per repository: 10 Kustomizations per GitRepository.
const APPS_PER_REPO: usize = 10;

/// Which Flux kind a scenario scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applier {
    Kustomization,
    HelmRelease,
}

impl Applier {
    fn kind(self) -> &'static str {
        match self {
            Self::Kustomization => "Kustomization",
            Self::HelmRelease => "HelmRelease",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    applier: Applier,
    /// How many Kustomizations or HelmReleases.
    kustomizations: usize,
    replicas: usize,
    latency: Duration,
    concurrent: usize,
}

fn app(i: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector: {{app: app-{i}}}\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}-a\ndata: {{k: v}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}-b\ndata: {{k: v}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app-{i}\n"
    )
}

fn arg(args: &[String], name: &str) -> Option<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("scale benchmark: run with `cargo bench --bench scale`");
        return;
    }
    let latency = Duration::from_millis(arg(&args, "--latency-ms").unwrap_or(2) as u64);
    let concurrent = arg(&args, "--concurrent").unwrap_or(20);
    let scenarios = match (
        arg(&args, "--kustomizations"),
        arg(&args, "--helmreleases"),
        arg(&args, "--replicas"),
    ) {
        (None, None, None) => vec![
            (Applier::Kustomization, 1_000, 1),
            (Applier::Kustomization, 10_000, 3),
            (Applier::HelmRelease, 1_000, 1),
            (Applier::HelmRelease, 1_000, 3),
        ],
        (_, Some(h), r) => vec![(Applier::HelmRelease, h, r.unwrap_or(1))],
        (k, None, r) => vec![(Applier::Kustomization, k.unwrap_or(1_000), r.unwrap_or(1))],
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for (applier, kustomizations, replicas) in scenarios {
        runtime.block_on(run(Scenario {
            applier,
            kustomizations,
            replicas,
            latency,
            concurrent,
        }));
    }
}

struct ReplicaProcess {
    child: Child,
    metrics: String,
}

impl Drop for ReplicaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ReplicaProcess {
    fn start(kubeconfig: &Path, dir: &Path, index: usize, scenario: &Scenario) -> Self {
        let id = format!("bench-{index}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferroflux"));
        command
            .args(["run", "--id", &id, "--kubeconfig"])
            .arg(kubeconfig)
            .arg("--storage-path")
            .arg(dir.join(format!("{id}/storage")))
            .args([
                "--storage-addr",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .args(["--concurrent", &scenario.concurrent.to_string()])
            .env("RUST_LOG", "error");
        if scenario.replicas > 1 {
            command
                .args([
                    "--raft-listen",
                    &format!("127.0.0.1:{}", testutil::free_port()),
                ])
                .arg("--data-dir")
                .arg(dir.join(format!("{id}/data")))
                .args(["--lease-namespace", "flux-system"]);
        }
        let (child, first) = replica::spawn_run(&mut command);
        let metrics = first
            .split("metrics on ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .map(|url| url.trim_start_matches("http://"))
            .expect("metrics address")
            .to_owned();
        Self { child, metrics }
    }

    /// Peak resident memory (VmHWM) in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// User plus system CPU seconds so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.child.id().to_string())
    }

    /// Reconciles of `kind` so far, from the replica's metrics.
    async fn reconciles(&self, http: &reqwest::Client, kind: &str) -> u64 {
        let Ok(response) = http
            .get(format!("http://{}/metrics", self.metrics))
            .send()
            .await
        else {
            return 0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| {
                l.starts_with("ferroflux_reconcile_total{")
                    && l.contains(&format!("kind=\"{kind}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

/// User plus system CPU seconds of process `pid` (or `self`) so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn count_ready(list: &[DynamicObject]) -> usize {
    list.iter()
        .filter(|o| {
            let v = serde_json::to_value(o).unwrap_or_default();
            replica::ready(&v).is_some_and(|(s, _, _)| s == "True")
        })
        .count()
}

/// The replicas' requests between `from` and `to`: total, writes, and counts by
/// "verb resource[/subresource]".
fn replica_requests(audit: &Path, from: &str, to: &str) -> (usize, usize, Vec<(String, usize)>) {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    let mut total = 0;
    let mut writes = 0;
    let mut by_kind: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !e["userAgent"]
            .as_str()
            .is_some_and(|ua| ua.contains("replica"))
        {
            continue;
        }
        let at = e["requestReceivedTimestamp"].as_str().unwrap_or_default();
        if at < from || at > to {
            continue;
        }
        total += 1;
        let resource = e["objectRef"]["resource"].as_str().unwrap_or("-");
        let what = match e["objectRef"]["subresource"].as_str() {
            Some(sub) => format!("{} {resource}/{sub}", e["verb"].as_str().unwrap_or("?")),
            None => format!("{} {resource}", e["verb"].as_str().unwrap_or("?")),
        };
        *by_kind.entry(what).or_default() += 1;
        if matches!(
            e["verb"].as_str(),
            Some("create" | "update" | "patch" | "delete")
        ) {
            writes += 1;
        }
    }
    let mut by_kind: Vec<(String, usize)> = by_kind.into_iter().collect();
    by_kind.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (total, writes, by_kind)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

async fn run(scenario: Scenario) {
    let k = scenario.kustomizations;
    let repos = k.div_ceil(APPS_PER_REPO);
    let audit = tempfile::NamedTempFile::new().expect("audit");
    let (server, client) = replica::flux_cluster(
        Config {
            audit_log: Some(audit.path().to_path_buf()),
            ..Config::default()
        },
        &["flux-system", "apps"],
    )
    .await;
    // One repository's content copied N times as bare repositories, each then
    // given a commit of its own that adds a file naming it: every GitRepository
    // has a distinct artifact, as tenants' repositories would.
    let source = testutil::TestRepo::new("fleet-0");
    for i in 0..APPS_PER_REPO {
        source.write(&format!("apps/app-{i}/app.yaml"), &app(i));
    }
    // The same five objects as a chart, named after the release.
    source.write(
        "charts/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 1.0.0\n",
    );
    source.write(
        "charts/app/templates/app.yaml",
        &app(0).replace("app-0", "{{ .Release.Name }}"),
    );
    source.commit("apps");
    for r in 1..repos {
        let status = Command::new("cp")
            .arg("-r")
            .arg(source.git_dir())
            .arg(source.base.path().join(format!("fleet-{r}.git")))
            .status()
            .expect("cp");
        assert!(status.success());
    }
    let script = r#"set -e
for r in $(seq 0 $(($REPOS - 1))); do
  export GIT_DIR="$BASE/fleet-$r.git"
  blob=$(echo "fleet-$r" | git hash-object -w --stdin)
  tree=$( (git ls-tree HEAD; printf '100644 blob %s\trepo.txt\n' "$blob") | git mktree)
  git update-ref refs/heads/main "$(git commit-tree "$tree" -p HEAD -m "fleet-$r")"
done"#;
    let status = Command::new("sh")
        .args(["-c", script])
        .env("REPOS", repos.to_string())
        .env("BASE", source.base.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .status()
        .expect("sh");
    assert!(status.success(), "distinct commits per repository");
    eprintln!("  {repos} repositories written");
    let daemon = testutil::GitDaemon::start(source.base.path());
    let git = replica::git_resource();
    let ks = replica::ks_resource();
    let gits: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &git);
    let kss: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &ks);
    let creates = futures::stream::iter(0..repos).map(|r| {
        let gits = gits.clone();
        let url = daemon.url(&format!("fleet-{r}.git"));
        async move {
            gits.patch(
                &format!("fleet-{r}"),
                &PatchParams::apply("bench"),
                &Patch::Apply(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": format!("fleet-{r}"), "namespace": "flux-system"},
                "spec": {"interval": "60m", "url": url, "ref": {"branch": "main"}}})),
            )
            .await
            .expect("git");
        }
    });
    creates.buffer_unordered(32).collect::<Vec<()>>().await;
    let hr_resource = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    );
    let hrs: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &hr_resource);
    let applier = scenario.applier;
    let creates = futures::stream::iter(0..k).map(|i| {
        let kss = kss.clone();
        let hrs = hrs.clone();
        async move {
            let (r, a) = (i / APPS_PER_REPO, i % APPS_PER_REPO);
            if applier == Applier::HelmRelease {
                hrs.patch(
                    &format!("hr-{i}"),
                    &PatchParams::apply("bench"),
                    &Patch::Apply(json!({
                    "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                    "metadata": {"name": format!("hr-{i}"), "namespace": "flux-system"},
                    "spec": {"interval": "60m", "targetNamespace": "apps",
                        "install": {"disableWait": true}, "upgrade": {"disableWait": true},
                        "chart": {"spec": {"chart": "./charts/app", "interval": "60m",
                            "sourceRef": {"kind": "GitRepository", "name": format!("fleet-{r}")}}}}})),
                )
                .await
                .expect("helmrelease");
                return;
            }
            kss.patch(
                &format!("ks-{i}"),
                &PatchParams::apply("bench"),
                &Patch::Apply(json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": format!("ks-{i}"), "namespace": "flux-system"},
                "spec": {"interval": "60m", "path": format!("./apps/app-{a}"), "prune": true,
                    "targetNamespace": "apps", "namePrefix": format!("r{r}-"),
                    "sourceRef": {"kind": "GitRepository", "name": format!("fleet-{r}")}}})),
            )
            .await
            .expect("kustomization");
        }
    });
    creates.buffer_unordered(32).collect::<Vec<()>>().await;

    let kind = scenario.applier.kind();
    eprintln!("  {repos} GitRepositories and {k} {kind}s created");
    // What is watched for readiness and asked to resync: the scenario's kind.
    let kss = if applier == Applier::HelmRelease {
        hrs.clone()
    } else {
        kss
    };
    server.faults().set_latency(scenario.latency);
    let dir = tempfile::tempdir().expect("replica dirs");
    let started = Instant::now();
    let server_cpu_before = cpu_seconds("self");
    let from = now();
    let replicas: Vec<ReplicaProcess> = (0..scenario.replicas)
        .map(|i| ReplicaProcess::start(server.kubeconfig_path(), dir.path(), i, &scenario))
        .collect();
    // Readiness is followed by a watch, not by listing: a list of 10,000
    // Kustomizations every second would cost the API server more than the
    // replicas' own work and skew every figure.
    let mut ready_names = std::collections::HashSet::new();
    let watch = kube::runtime::watcher(kss.clone(), kube::runtime::watcher::Config::default());
    futures::pin_mut!(watch);
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut last_report = Instant::now();
    while ready_names.len() < k {
        let event = tokio::time::timeout_at(deadline.into(), watch.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {k} Ready after 15 minutes", ready_names.len()))
            .expect("the watch goes on");
        let objects = match event {
            Ok(
                kube::runtime::watcher::Event::Apply(o)
                | kube::runtime::watcher::Event::InitApply(o),
            ) => vec![o],
            _ => Vec::new(),
        };
        for object in objects {
            let name = object.metadata.name.clone().unwrap_or_default();
            if count_ready(std::slice::from_ref(&object)) == 1 {
                ready_names.insert(name);
            } else {
                ready_names.remove(&name);
            }
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {} of {k} Ready after {:.0} s",
                ready_names.len(),
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    let ready_in = started.elapsed();
    let server_cpu = cpu_seconds("self") - server_cpu_before;
    let to = now();
    let http = reqwest::Client::new();
    let mut reconciles = 0;
    for r in &replicas {
        reconciles += r.reconciles(&http, scenario.applier.kind()).await;
    }
    let (requests, writes, by_kind) = replica_requests(audit.path(), &from, &to);

    // Resync: every Kustomization asked to reconcile again, nothing to apply.
    let token = now();
    let resync_from = now();
    let resync_started = Instant::now();
    let asks = futures::stream::iter(0..k).map(|i| {
        let kss = kss.clone();
        let token = token.clone();
        async move {
            let patch =
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
            let name = match applier {
                Applier::HelmRelease => format!("hr-{i}"),
                Applier::Kustomization => format!("ks-{i}"),
            };
            kss.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .expect("annotate");
        }
    });
    asks.buffer_unordered(32).collect::<Vec<()>>().await;
    loop {
        let mut done = 0;
        for r in &replicas {
            done += r.reconciles(&http, scenario.applier.kind()).await;
        }
        if done >= reconciles + k as u64 {
            break;
        }
        assert!(
            resync_started.elapsed() < Duration::from_secs(900),
            "resync did not finish"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let resync_in = resync_started.elapsed();
    let (resync_requests, resync_writes, _) = replica_requests(audit.path(), &resync_from, &now());

    let mut per_replica: HashMap<usize, (f64, f64)> = HashMap::new();
    for (i, r) in replicas.iter().enumerate() {
        per_replica.insert(i, (r.peak_rss_mib(), r.cpu_seconds()));
    }
    println!(
        "\n{} GitRepositories, {k} {kind}s x 5 objects, {} replica(s), --concurrent {}, {} ms added to every API request",
        repos,
        scenario.replicas,
        scenario.concurrent,
        scenario.latency.as_millis()
    );
    println!("  all Ready in {:.1} s", ready_in.as_secs_f64());
    println!("  API server (with this bench's watch) CPU until Ready: {server_cpu:.1} s");
    println!(
        "  replica API requests until Ready: {requests} ({writes} writes), {:.1} per {kind} reconcile ({reconciles} reconciles)",
        requests as f64 / reconciles.max(1) as f64
    );
    let breakdown: Vec<String> = by_kind
        .iter()
        .take(8)
        .map(|(what, n)| format!("{what} {:.2}", *n as f64 / reconciles.max(1) as f64))
        .collect();
    println!("    per reconcile: {}", breakdown.join(", "));
    println!(
        "  resync of all {k} with nothing to apply: {:.1} s, {:.1} API requests per reconcile ({resync_writes} writes: the lastHandledReconcileAt status)",
        resync_in.as_secs_f64(),
        resync_requests as f64 / k as f64
    );
    for i in 0..replicas.len() {
        let (rss, cpu) = per_replica[&i];
        println!("  replica {i}: peak RSS {rss:.0} MiB, CPU {cpu:.1} s");
    }
    drop(replicas);
    drop(server);
}
