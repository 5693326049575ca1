//! Time until N Kustomizations are Ready on one replica, and the API requests it
//! took, on the embedded API server with a real git daemon. Run with
//! `cargo bench --bench kustomizations` (`FERROFLUX_BENCH_KUSTOMIZATIONS=N`, default
//! 100; each applies 5 objects).

#[path = "../tests/common/replica.rs"]
mod replica;
#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use std::time::{Duration, Instant};

use ferroflux_apiserver::Config;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::{json, Value};

fn app(i: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector: {{app: app-{i}}}\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}-a\ndata: {{k: v}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}-b\ndata: {{k: v}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app-{i}\n"
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("kustomizations benchmark: run with `cargo bench --bench kustomizations`");
        return;
    }
    let n: usize = std::env::var("FERROFLUX_BENCH_KUSTOMIZATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run(n));
}

async fn run(n: usize) {
    let audit = tempfile::NamedTempFile::new().expect("audit");
    let (server, client) = replica::flux_cluster(
        Config {
            audit_log: Some(audit.path().to_path_buf()),
            ..Config::default()
        },
        &["flux-system", "apps"],
    )
    .await;
    let repo = testutil::TestRepo::new("fleet");
    for i in 0..n {
        repo.write(&format!("apps/app-{i}/app.yaml"), &app(i));
    }
    repo.commit("apps");
    let daemon = testutil::GitDaemon::start(repo.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = replica::start_replica(server.kubeconfig_path(), storage.path());

    let started = Instant::now();
    let git = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    let ks = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    );
    let gits: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &git);
    gits.patch(
        "fleet",
        &PatchParams::apply("bench"),
        &Patch::Apply(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {"interval": "10m", "url": daemon.url("fleet.git"), "ref": {"branch": "main"}}})),
    )
    .await
    .expect("git");
    let kss: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &ks);
    for i in 0..n {
        let name = format!("app-{i}");
        kss.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": format!("./apps/app-{i}"), "prune": true,
                "targetNamespace": "apps", "sourceRef": {"kind": "GitRepository", "name": "fleet"}}})))
            .await
            .expect("kustomization");
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let list = kss.list(&ListParams::default()).await.expect("list");
        let ready = list
            .items
            .iter()
            .filter(|o| {
                let v = serde_json::to_value(o).unwrap_or_default();
                replica::ready(&v).is_some_and(|(s, _, _)| s == "True")
            })
            .count();
        if ready == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {ready} of {n} Ready after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let requests: Vec<Value> = std::fs::read_to_string(audit.path())
        .expect("audit")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &Value| {
            e["userAgent"]
                .as_str()
                .is_some_and(|ua| ua.contains("replica"))
        })
        .collect();
    let writes = requests
        .iter()
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete")
            )
        })
        .count();
    println!(
        "{n} Kustomizations x 5 objects on one replica (embedded API server, no added latency)"
    );
    println!("all Ready in {:.2} s", elapsed.as_secs_f64());
    println!(
        "replica API requests: {} ({writes} writes, {} reads/watches), {:.1} per Kustomization",
        requests.len(),
        requests.len() - writes,
        requests.len() as f64 / n as f64
    );
}
