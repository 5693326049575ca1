//! The HelmRelease controller end to end, judged by the Helm SDK: a chart repository
//! packaged and indexed by the SDK on loopback HTTP, the embedded API server, and
//! `ferroflux run` as a process. A release ferroflux makes is a Helm release (the
//! SDK lists it, shows its history and values), and one the SDK makes ferroflux
//! takes over.

#[path = "common/helm.rs"]
mod helm;
#[path = "common/registry.rs"]
mod registry;
#[path = "common/replica.rs"]
mod replica;
#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use ferroflux_apiserver::Config;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use replica::{cli, flux_cluster, poll, ready, start_replica};
use serde_json::{json, Value};

use helm::{apply, package, podinfo, resource, sdk, ChartServer};

fn helm_release_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    )
}

/// Whether `name` is not there (any other answer than "not found" fails the test).
async fn absent<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.expect("get").is_none()
}

/// What the Helm SDK says about releases in `namespace`.
fn helm_says(kubeconfig: &std::path::Path, namespace: &str, op: &str, name: &str) -> Value {
    sdk(
        "release_sdk.py",
        &json!({"kubeconfig": kubeconfig, "namespace": namespace, "op": op, "name": name}),
    )
}

fn revisions(history: &Value) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = history
        .as_array()
        .unwrap_or_else(|| panic!("a history: {history}"))
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().expect("revision"),
                r["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The HelmRelease once Ready at release revision `revision`.
async fn ready_at(releases: &Api<DynamicObject>, name: &str, revision: i64) -> Value {
    poll(&format!("{name} Ready at revision {revision}"), || async {
        let o = serde_json::to_value(releases.get(name).await.ok()?).ok()?;
        (ready(&o).is_some_and(|(s, _, _)| s == "True")
            && o.pointer("/status/lastReleaseRevision") == Some(&json!(revision)))
        .then_some(o)
    })
    .await
}

/// What every test here starts from: the embedded API server, a chart repository
/// with one chart packaged by the Helm SDK, a replica, and a HelmRepository for it.
struct World {
    server: ferroflux_apiserver::ApiServer,
    client: kube::Client,
    _charts: ChartServer,
    _replica: replica::Replica,
    _storage: tempfile::TempDir,
    _charts_dir: tempfile::TempDir,
}

impl World {
    async fn start(chart: &std::path::Path, version: &str, repository: &str) -> World {
        let (server, client) = flux_cluster(Config::default(), &["flux-system", "apps"]).await;
        let charts_dir = tempfile::tempdir().expect("charts");
        package(charts_dir.path(), &[(chart, version)], None);
        let charts = ChartServer::start(charts_dir.path(), None);
        let storage = tempfile::tempdir().expect("storage");
        let replica = start_replica(server.kubeconfig_path(), storage.path());
        let repositories: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            "flux-system",
            &resource("HelmRepository", "helmrepositories"),
        );
        apply(
            &repositories,
            json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                "metadata": {"name": repository, "namespace": "flux-system"},
                "spec": {"interval": "10m", "url": charts.url()}}),
        )
        .await;
        World {
            server,
            client,
            _charts: charts,
            _replica: replica,
            _storage: storage,
            _charts_dir: charts_dir,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_release_installs_upgrades_and_uninstalls_and_the_helm_sdk_agrees() {
    let world = World::start(&podinfo(), "6.14.1", "podinfo").await;
    let (client, kubeconfig) = (world.client.clone(), world.server.kubeconfig_path());
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &helm_release_resource());
    let manifest = |replicas: i64| {
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"interval": "10m", "targetNamespace": "apps", "timeout": "60s",
                "chart": {"spec": {"chart": "podinfo", "version": ">=6.0.0 <7.0.0",
                    "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
                "values": {"replicaCount": replicas}}})
    };

    // Install.
    apply(&releases, manifest(2)).await;
    let hr = ready_at(&releases, "podinfo", 1).await;
    let (_, reason, message) = ready(&hr).expect("ready");
    assert_eq!(reason, "InstallSucceeded");
    assert_eq!(
        message,
        "Helm install succeeded for release apps/apps-podinfo.v1 with chart podinfo@6.14.1"
    );
    assert_eq!(hr["status"]["helmChart"], "flux-system/flux-system-podinfo");
    assert_eq!(hr["status"]["history"][0]["status"], "deployed");
    assert_eq!(hr["status"]["history"][0]["chartVersion"], "6.14.1");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "apps");
    let web = deployments
        .get("apps-podinfo")
        .await
        .expect("the Deployment");
    assert_eq!(web.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let labels = web.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("helm.toolkit.fluxcd.io/name")
            .map(String::as_str),
        Some("podinfo")
    );
    let annotations = web.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("meta.helm.sh/release-name")
            .map(String::as_str),
        Some("apps-podinfo")
    );
    // The Helm SDK sees a Helm release.
    let listed = helm_says(kubeconfig, "apps", "list", "");
    assert_eq!(listed[0]["name"], "apps-podinfo", "{listed}");
    assert_eq!(listed[0]["status"], "deployed");
    assert_eq!(listed[0]["chart_version"], "6.14.1");
    assert_eq!(
        helm_says(kubeconfig, "apps", "get_values", "apps-podinfo"),
        json!({"replicaCount": 2})
    );

    // A values change upgrades: Helm history 2, the first superseded.
    apply(&releases, manifest(3)).await;
    let hr = ready_at(&releases, "podinfo", 2).await;
    assert_eq!(ready(&hr).expect("ready").1, "UpgradeSucceeded");
    let web = deployments
        .get("apps-podinfo")
        .await
        .expect("the Deployment");
    assert_eq!(web.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        revisions(&helm_says(kubeconfig, "apps", "history", "apps-podinfo")),
        [(1, "superseded".to_owned()), (2, "deployed".to_owned())]
    );

    // The Helm SDK rolls back behind Flux's back (revision 3, two replicas); the
    // next reconcile takes the release back to what the HelmRelease says.
    let rolled_back = sdk(
        "release_sdk.py",
        &json!({"kubeconfig": kubeconfig, "namespace": "apps", "op": "rollback",
            "name": "apps-podinfo", "revision": 1}),
    );
    assert_eq!(
        revisions(&rolled_back),
        [
            (1, "superseded".to_owned()),
            (2, "superseded".to_owned()),
            (3, "deployed".to_owned())
        ],
        "{rolled_back}"
    );
    releases
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}}),
            ),
        )
        .await
        .expect("request a reconcile");
    ready_at(&releases, "podinfo", 4).await;
    let web = deployments
        .get("apps-podinfo")
        .await
        .expect("the Deployment");
    assert_eq!(web.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        helm_says(kubeconfig, "apps", "get_values", "apps-podinfo"),
        json!({"replicaCount": 3})
    );

    // Deleting the HelmRelease uninstalls: objects, release records, the HelmChart.
    releases
        .delete("podinfo", &Default::default())
        .await
        .expect("delete");
    poll("the HelmRelease gone", || async {
        releases
            .get_opt("podinfo")
            .await
            .ok()
            .and_then(|o| o.is_none().then_some(()))
    })
    .await;
    assert!(absent(&deployments, "apps-podinfo").await);
    assert_eq!(helm_says(kubeconfig, "apps", "list", ""), json!([]));
    let helm_charts: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmChart", "helmcharts"),
    );
    assert!(absent(&helm_charts, "flux-system-podinfo").await);

    // A release the Helm SDK installed is taken over and upgraded.
    let installed = sdk(
        "release_sdk.py",
        &json!({"kubeconfig": kubeconfig, "namespace": "apps", "op": "install",
            "name": "apps-podinfo", "chart": podinfo(), "values": {"replicaCount": 1}}),
    );
    assert_eq!(installed["revision"], 1, "{installed}");
    apply(&releases, manifest(3)).await;
    ready_at(&releases, "podinfo", 2).await;
    let web = deployments
        .get("apps-podinfo")
        .await
        .expect("the Deployment");
    assert_eq!(web.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        revisions(&helm_says(kubeconfig, "apps", "history", "apps-podinfo")),
        [(1, "superseded".to_owned()), (2, "deployed".to_owned())]
    );

    // The operator's CLI, as `flux` has it for HelmReleases.
    let run = |args: &[&str]| {
        let (ok, out, err) = cli(kubeconfig, args);
        assert!(ok, "{args:?}: {err}");
        out
    };
    let table = run(&["get", "helmreleases", "-n", "flux-system"]);
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("a row")
        .split('\t')
        .map(str::trim)
        .collect();
    assert_eq!(
        row,
        [
            "podinfo",
            "6.14.1",
            "False",
            "True",
            "Helm upgrade succeeded for release apps/apps-podinfo.v2 with chart podinfo@6.14.1"
        ],
        "{table}"
    );
    let out = run(&[
        "reconcile",
        "helmrelease",
        "podinfo",
        "-n",
        "flux-system",
        "--with-source",
        "--force",
    ]);
    assert!(out.contains("✔ applied revision 6.14.1"), "{out}");
    assert!(
        out.contains("► annotating HelmChart flux-system-podinfo in flux-system namespace"),
        "{out}"
    );
    let hr = ready_at(&releases, "podinfo", 3).await;
    assert_eq!(
        ready(&hr).expect("ready").1,
        "UpgradeSucceeded",
        "--force upgrades without a change"
    );
    let tree = run(&["tree", "helmrelease", "podinfo", "-n", "flux-system"]);
    assert!(
        tree.starts_with("HelmRelease/flux-system/podinfo\n"),
        "{tree}"
    );
    assert!(tree.contains("Deployment/apps/apps-podinfo"), "{tree}");
    let events = run(&[
        "events",
        "--for",
        "HelmRelease/podinfo",
        "-n",
        "flux-system",
    ]);
    assert!(events.contains("UpgradeSucceeded"), "{events}");
    let exported = run(&["export", "helmrelease", "podinfo", "-n", "flux-system"]);
    assert!(
        exported.contains("kind: HelmRelease") && !exported.contains("status:"),
        "{exported}"
    );
    let out = run(&["suspend", "helmrelease", "podinfo", "-n", "flux-system"]);
    assert!(out.contains("✔ HelmRelease suspended"), "{out}");
    let out = run(&["resume", "hr", "podinfo", "-n", "flux-system"]);
    assert!(out.contains("✔ applied revision 6.14.1"), "{out}");
    let exported = run(&[
        "create",
        "helmrelease",
        "other",
        "-n",
        "flux-system",
        "--source=HelmRepository/podinfo",
        "--chart=podinfo",
        "--target-namespace=apps",
        "--export",
    ]);
    assert!(exported.contains("targetNamespace: apps"), "{exported}");
}

/// The HelmRelease once Stalled (retries exhausted).
async fn stalled(releases: &Api<DynamicObject>, name: &str) -> Value {
    poll(&format!("{name} Stalled"), || async {
        let o = serde_json::to_value(releases.get(name).await.ok()?).ok()?;
        o.pointer("/status/conditions")?
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Stalled" && c["status"] == "True")
            .then_some(o)
    })
    .await
}

fn condition(object: &Value, type_: &str) -> Value {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or_else(|| panic!("no {type_} condition: {object}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upgrade_is_rolled_back_and_a_failing_install_uninstalled() {
    let world = World::start(&podinfo(), "6.14.1", "podinfo").await;
    let (client, kubeconfig) = (world.client.clone(), world.server.kubeconfig_path());
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &helm_release_resource());
    let manifest = |name: &str, tag: &str| {
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "10m", "targetNamespace": "apps", "timeout": "3s",
                "chart": {"spec": {"chart": "podinfo",
                    "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
                "install": {"remediation": {"retries": 1}},
                "upgrade": {"remediation": {"retries": 1}},
                "values": {"image": {"tag": tag}}}})
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "apps");

    // A good install, then an upgrade to an image that never becomes ready: it
    // times out, is rolled back, retried once, rolled back again, and stalls.
    apply(&releases, manifest("web", "6.14.1")).await;
    ready_at(&releases, "web", 1).await;
    apply(&releases, manifest("web", "fail")).await;
    let hr = stalled(&releases, "web").await;
    let (status, reason, message) = ready(&hr).expect("ready");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "RetriesExhausted"),
        "{message}"
    );
    assert_eq!(message, "Failed to upgrade after 2 attempt(s)");
    let remediated = condition(&hr, "Remediated");
    assert_eq!(remediated["status"], "True");
    assert_eq!(remediated["reason"], "RollbackSucceeded");
    assert_eq!(hr["status"]["upgradeFailures"], 2);
    assert_eq!(
        revisions(&helm_says(kubeconfig, "apps", "history", "apps-web")),
        [
            (1, "superseded".to_owned()),
            (2, "failed".to_owned()),
            (3, "superseded".to_owned()),
            (4, "failed".to_owned()),
            (5, "deployed".to_owned())
        ],
        "Helm history shows the failed revisions and the rollbacks"
    );
    let web = deployments
        .get("apps-web-podinfo")
        .await
        .expect("the Deployment");
    let image = web
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers[0].image.clone().unwrap_or_default())
        .unwrap_or_default();
    assert!(
        image.ends_with(":6.14.1"),
        "rolled back to the good image: {image}"
    );

    // An install that keeps failing is uninstalled (install remediation), retried
    // once, uninstalled again, and stalls with nothing left behind.
    apply(&releases, manifest("broken", "fail")).await;
    let hr = stalled(&releases, "broken").await;
    let (_, reason, message) = ready(&hr).expect("ready");
    assert_eq!(reason, "RetriesExhausted", "{message}");
    assert_eq!(message, "Failed to install after 2 attempt(s)");
    assert_eq!(condition(&hr, "Remediated")["reason"], "UninstallSucceeded");
    assert_eq!(hr["status"]["installFailures"], 2);
    let listed = helm_says(kubeconfig, "apps", "list", "");
    assert!(
        listed
            .as_array()
            .is_some_and(|l| l.iter().all(|r| r["name"] != "apps-broken")),
        "{listed}"
    );
    assert!(absent(&deployments, "apps-broken-podinfo").await);
}

/// The guide's own HelmRelease (helm.toolkit.fluxcd.io/v2beta1, a version range,
/// a LoadBalancer Service, remediation retries), applied unchanged against its
/// v1beta2 HelmRepository, here served by the Helm SDK's repository on loopback with
/// Bitnami's nginx chart of the corpus packaged as 1.5.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_v2beta1_helm_release_becomes_ready_unchanged() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system"]).await;
    let kubeconfig = server.kubeconfig_path();
    let nginx = helm::repo_root().join("../shared/corpus/charts/nginx");
    assert!(nginx.is_dir(), "the corpus is missing: {}", nginx.display());
    let charts_dir = tempfile::tempdir().expect("charts");
    package(
        charts_dir.path(),
        &[(&nginx, "1.5.0"), (&nginx, "2.0.0")],
        None,
    );
    let charts = ChartServer::start(charts_dir.path(), None);
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(kubeconfig, storage.path());

    let v1beta2 = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1beta2", "HelmRepository"),
        "helmrepositories",
    );
    apply(
        &Api::namespaced_with(client.clone(), "flux-system", &v1beta2),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "HelmRepository",
            "metadata": {"name": "bitnami", "namespace": "flux-system"},
            "spec": {"interval": "30m", "url": charts.url()}}),
    )
    .await;
    let v2beta1 = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2beta1", "HelmRelease"),
        "helmreleases",
    );
    apply(
        &Api::namespaced_with(client.clone(), "flux-system", &v2beta1),
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2beta1", "kind": "HelmRelease",
            "metadata": {"name": "nginx", "namespace": "flux-system"},
            "spec": {"interval": "30m",
                "chart": {"spec": {"chart": "nginx", "version": ">=1.0.0 <2.0.0",
                    "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}},
                "values": {"replicaCount": 3, "service": {"type": "LoadBalancer"}},
                "install": {"remediation": {"retries": 3}},
                "upgrade": {"remediation": {"retries": 3, "remediateLastFailure": true}}}}),
    )
    .await;
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &helm_release_resource());
    let hr = ready_at(&releases, "nginx", 1).await;
    assert_eq!(
        ready(&hr).expect("ready").2,
        "Helm install succeeded for release flux-system/nginx.v1 with chart nginx@1.5.0",
        "the range picks 1.5.0, not 2.0.0"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "flux-system");
    let web = deployments.get("nginx").await.expect("the Deployment");
    assert_eq!(web.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        web.status.as_ref().and_then(|s| s.ready_replicas),
        Some(3),
        "Ready means the rollout finished"
    );
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(client.clone(), "flux-system");
    let service = services.get("nginx").await.expect("the Service");
    assert!(
        service
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .is_some_and(|i| !i.is_empty()),
        "the LoadBalancer has an address"
    );
    let history = helm_says(kubeconfig, "flux-system", "history", "nginx");
    assert_eq!(revisions(&history), [(1, "deployed".to_owned())]);
    assert_eq!(history[0]["chart_version"], "1.5.0");
}

/// `ferroflux dev`'s example shows both kinds: its Kustomization applies a
/// HelmRelease of a chart kept in the same repository, and the release installs.
#[test]
fn the_dev_quickstart_installs_its_example_helm_release() {
    use std::io::BufRead as _;
    let state = tempfile::tempdir().expect("state");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferroflux"))
        .args(["dev", "--state-dir"])
        .arg(state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ferroflux dev starts");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut output = Vec::new();
    let installed = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) => {
                let done = line.starts_with(
                    "✔ HelmRelease hello: Helm install succeeded for release default/hello.v1 with chart hello@0.1.0",
                );
                output.push(line);
                if done {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    // SIGTERM, so dev stops its replica and its git daemon as a user's Ctrl-C does.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stop_deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() {
        if std::time::Instant::now() > stop_deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.wait();
    assert!(installed, "{}", output.join("\n"));
    assert!(
        output
            .iter()
            .any(|l| l.starts_with("✔ Kustomization dev: Applied revision")),
        "{}",
        output.join("\n")
    );
}

async fn request_reconcile(releases: &Api<DynamicObject>, name: &str, at: &str) {
    releases
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": at}}}),
            ),
        )
        .await
        .expect("request a reconcile");
}

async fn handled(releases: &Api<DynamicObject>, name: &str, at: &str) -> Value {
    poll(&format!("{name} to handle {at}"), || async {
        let o = serde_json::to_value(releases.get(name).await.ok()?).ok()?;
        (o.pointer("/status/lastHandledReconcileAt") == Some(&json!(at))).then_some(o)
    })
    .await
}

/// Drift: an edit behind Flux's back is put right with `driftDetection.mode:
/// enabled`, only reported with `warn`; a ConfigMap in `valuesFrom` labelled to be
/// watched upgrades the release when it changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_or_reported_and_values_from_changes_upgrade() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let world = World::start(&podinfo(), "6.14.1", "podinfo").await;
    let (client, kubeconfig) = (world.client.clone(), world.server.kubeconfig_path());
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "flux-system");
    config_maps
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "podinfo-values",
                "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
                "data": {"values.yaml": "replicaCount: 2\n"}}))
            .expect("configmap"),
        )
        .await
        .expect("create values");
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &helm_release_resource());
    for (name, mode) in [("fixed", "enabled"), ("watched", "warn")] {
        apply(
            &releases,
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": name, "namespace": "flux-system"},
                "spec": {"interval": "10m", "targetNamespace": "apps", "releaseName": format!("{name}-podinfo"),
                    "chart": {"spec": {"chart": "podinfo",
                        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
                    "driftDetection": {"mode": mode},
                    "valuesFrom": [{"kind": "ConfigMap", "name": "podinfo-values"}]}}),
        )
        .await;
        ready_at(&releases, name, 1).await;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "apps");
    let replicas = |name: &'static str| {
        let deployments = deployments.clone();
        async move {
            deployments
                .get(name)
                .await
                .expect("deployment")
                .spec
                .and_then(|s| s.replicas)
        }
    };
    assert_eq!(replicas("fixed-podinfo").await, Some(2));
    for name in ["fixed-podinfo", "watched-podinfo"] {
        deployments
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 7}})),
            )
            .await
            .expect("an edit behind Flux's back");
    }
    request_reconcile(&releases, "fixed", "drift-1").await;
    handled(&releases, "fixed", "drift-1").await;
    assert_eq!(replicas("fixed-podinfo").await, Some(2), "corrected");
    request_reconcile(&releases, "watched", "drift-1").await;
    let hr = handled(&releases, "watched", "drift-1").await;
    assert_eq!(replicas("watched-podinfo").await, Some(7), "only reported");
    assert_eq!(
        hr["status"]["lastReleaseRevision"], 1,
        "no upgrade for drift"
    );
    let (ok, events, err) = cli(
        kubeconfig,
        &[
            "events",
            "--for",
            "HelmRelease/watched",
            "-n",
            "flux-system",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        events.contains("DriftDetected")
            && events.contains("Deployment/apps/watched-podinfo changed"),
        "{events}"
    );

    // The values ConfigMap changes: both releases upgrade without being asked.
    config_maps
        .patch(
            "podinfo-values",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"values.yaml": "replicaCount: 4\n"}})),
        )
        .await
        .expect("change the values");
    ready_at(&releases, "fixed", 2).await;
    assert_eq!(replicas("fixed-podinfo").await, Some(4));
    assert_eq!(
        helm_says(kubeconfig, "apps", "get_values", "fixed-podinfo"),
        json!({"replicaCount": 4})
    );

    // Post-renderers (kustomize images and patches) change what is applied: an
    // upgrade, and the stored manifest is the post-rendered one.
    releases
        .patch(
            "fixed",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"postRenderers": [{"kustomize": {
                "images": [{"name": "ghcr.io/stefanprodan/podinfo", "newName": "registry.local/podinfo", "newTag": "6.14.1-patched"}],
                "patches": [{"target": {"kind": "Deployment"},
                    "patch": "- op: add\n  path: /metadata/annotations/post-rendered\n  value: \"yes\"\n"}]}}]}})),
        )
        .await
        .expect("add post-renderers");
    ready_at(&releases, "fixed", 3).await;
    let web = deployments.get("fixed-podinfo").await.expect("deployment");
    let image = web
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers[0].image.clone().unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(image, "registry.local/podinfo:6.14.1-patched");
    assert_eq!(
        web.metadata
            .annotations
            .unwrap_or_default()
            .get("post-rendered")
            .map(String::as_str),
        Some("yes")
    );
}

/// Hooks and tests: pre- and post-install Jobs run around the release (a
/// `hook-succeeded` one deleted after), the test hook runs with `test.enable` and
/// is recorded; a failing test fails the upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_around_the_release_and_tests_pass_and_fail() {
    use k8s_openapi::api::batch::v1::Job;
    let chart = helm::repo_root().join("tests/fixtures/charts/hooked");
    let world = World::start(&chart, "0.1.0", "fixtures").await;
    let (client, kubeconfig) = (world.client.clone(), world.server.kubeconfig_path());
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &helm_release_resource());
    let manifest = |test_image: &str| {
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "hooked", "namespace": "flux-system"},
            "spec": {"interval": "10m", "targetNamespace": "hooked", "releaseName": "hooked", "timeout": "30s",
                "install": {"createNamespace": true},
                "chart": {"spec": {"chart": "hooked",
                    "sourceRef": {"kind": "HelmRepository", "name": "fixtures"}}},
                "test": {"enable": true},
                "values": {"testImage": test_image}}})
    };
    apply(&releases, manifest("busybox:1.36")).await;
    let hr = ready_at(&releases, "hooked", 1).await;
    let tested = condition(&hr, "TestSuccess");
    assert_eq!(tested["status"], "True", "{tested}");
    assert_eq!(
        tested["message"],
        "Helm test succeeded for release hooked/hooked.v1 with chart hooked@0.1.0: 1 test hooks completed successfully",
        "installed into the namespace install.createNamespace made"
    );
    assert_eq!(
        hr["status"]["history"][0]["testHooks"]["hooked-smoke"]["phase"],
        "Succeeded"
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), "hooked");
    let migrate = jobs
        .get("hooked-migrate")
        .await
        .expect("the pre-install hook ran");
    assert!(
        migrate.status.and_then(|s| s.conditions).is_some_and(|c| c
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")),
        "the hook was waited for until complete"
    );
    assert!(
        absent(&jobs, "hooked-announce").await,
        "hook-succeeded deletes the hook after it ran"
    );
    let status = helm_says(kubeconfig, "hooked", "status", "hooked");
    assert_eq!(status["status"], "deployed", "{status}");

    // A test that fails fails the upgrade (no retries: no remediation either).
    apply(&releases, manifest("busybox:fail")).await;
    let hr = poll("the failed test", || async {
        let o = serde_json::to_value(releases.get("hooked").await.ok()?).ok()?;
        let test = o
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "TestSuccess")?
            .clone();
        (test["status"] == "False").then_some(o)
    })
    .await;
    let (status, reason, message) = ready(&hr).expect("ready");
    assert_eq!(status, "False", "{message}");
    assert!(
        matches!(reason.as_str(), "UpgradeFailed" | "RetriesExhausted"),
        "{reason}: {message}"
    );
    assert_eq!(condition(&hr, "TestSuccess")["reason"], "TestFailed");
}

/// A tenant's HelmRelease acts as its service account: it installs where the
/// account may write (release records included) and is refused elsewhere, with
/// nothing written there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_helm_release_is_confined_to_its_namespace() {
    use k8s_openapi::api::core::v1::Secret;
    let world = World::start(&podinfo(), "6.14.1", "podinfo").await;
    let (client, kubeconfig) = (world.client.clone(), world.server.kubeconfig_path());
    let core = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", kind), plural)
    };
    for ns in ["team-a", "team-b"] {
        apply(
            &Api::all_with(client.clone(), &core("Namespace", "namespaces")),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
    }
    apply(
        &Api::namespaced_with(client.clone(), "team-a", &core("ServiceAccount", "serviceaccounts")),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tenant", "namespace": "team-a"}}),
    )
    .await;
    apply(
        &Api::namespaced_with(
            client.clone(),
            "team-a",
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", "RoleBinding"),
                "rolebindings",
            ),
        ),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "tenant-edit", "namespace": "team-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": "team-a"}]}),
    )
    .await;
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "team-a", &helm_release_resource());
    for (name, target) in [("own", "team-a"), ("other", "team-b")] {
        apply(
            &releases,
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": name, "namespace": "team-a"},
                "spec": {"interval": "10m", "targetNamespace": target, "serviceAccountName": "tenant",
                    "releaseName": name, "timeout": "30s",
                    "chart": {"spec": {"chart": "podinfo",
                        "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}}}}),
        )
        .await;
    }
    ready_at(&releases, "own", 1).await;
    let listed = helm_says(kubeconfig, "team-a", "list", "");
    assert_eq!(listed[0]["name"], "own", "{listed}");
    let other = poll("the other namespace refused", || async {
        let o = serde_json::to_value(releases.get("other").await.ok()?).ok()?;
        ready(&o).filter(|(s, _, _)| s == "False")
    })
    .await;
    assert!(other.2.contains("forbidden"), "{other:?}");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "team-b");
    assert!(
        secrets
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .iter()
            .all(|s| s.type_.as_deref() != Some("helm.sh/release.v1")),
        "no release records written beyond the account's rights"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "team-b");
    assert!(absent(&deployments, "other-podinfo").await);
}

/// What a spec asks of an install and an upgrade beyond the chart: `lookup` reads
/// the live cluster, Jobs are waited for unless `disableWaitForJobs`,
/// `commonMetadata` marks every object, `preserveValues` keeps the previous values
/// under the new ones (as the Helm SDK then reports them), and `cleanupOnFail`
/// deletes what a failed upgrade created and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_common_metadata_preserved_values_and_cleanup_on_fail() {
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::ConfigMap;
    let chart = helm::repo_root().join("tests/fixtures/charts/settings");
    let world = World::start(&chart, "0.1.0", "fixtures").await;
    let (client, kubeconfig) = (world.client.clone(), world.server.kubeconfig_path());
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &helm_release_resource());
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");
    config_maps
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "greeting"},
                "data": {"greeting": "hello from the cluster"}}))
            .expect("configmap"),
        )
        .await
        .expect("create the greeting");
    let manifest = |values: Value, upgrade_timeout: &str| {
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "settings", "namespace": "flux-system"},
            "spec": {"interval": "10m", "targetNamespace": "apps", "releaseName": "settings",
                "timeout": "30s",
                "chart": {"spec": {"chart": "settings",
                    "sourceRef": {"kind": "HelmRepository", "name": "fixtures"}}},
                "install": {"disableWaitForJobs": true},
                "upgrade": {"preserveValues": true, "cleanupOnFail": true,
                    "timeout": upgrade_timeout},
                "commonMetadata": {"labels": {"team": "platform"}},
                "values": values}})
    };
    // The batch Job never completes: the install is Ready only because Jobs are
    // not waited for.
    apply(
        &releases,
        manifest(
            json!({"settings": {"first": "1"}, "batch": {"enabled": true, "image": "busybox:fail"}}),
            "30s",
        ),
    )
    .await;
    ready_at(&releases, "settings", 1).await;
    let settings = config_maps
        .get("settings-settings")
        .await
        .expect("settings");
    let data = settings.data.clone().unwrap_or_default();
    assert_eq!(
        data.get("greeting").map(String::as_str),
        Some("hello from the cluster"),
        "lookup read the live ConfigMap"
    );
    assert_eq!(data.get("first").map(String::as_str), Some("1"));
    let team = |labels: Option<std::collections::BTreeMap<String, String>>| {
        labels.unwrap_or_default().get("team").cloned()
    };
    assert_eq!(team(settings.metadata.labels), Some("platform".into()));
    let deployment = Api::<Deployment>::namespaced(client.clone(), "apps")
        .get("settings")
        .await
        .expect("deployment");
    assert_eq!(team(deployment.metadata.labels), Some("platform".into()));
    let batch = Api::<Job>::namespaced(client.clone(), "apps")
        .get("settings-batch-1")
        .await
        .expect("the batch Job");
    assert!(
        !batch.status.and_then(|s| s.conditions).is_some_and(|c| c
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")),
        "the Job is not complete, and the release is Ready regardless"
    );

    // An upgrade with other values keeps the earlier ones under them; its Job is
    // waited for until complete (the upgrade does not disable that).
    apply(
        &releases,
        manifest(
            json!({"settings": {"second": "2"}, "batch": {"image": "busybox:1.36"}}),
            "30s",
        ),
    )
    .await;
    ready_at(&releases, "settings", 2).await;
    let batch = Api::<Job>::namespaced(client.clone(), "apps")
        .get("settings-batch-2")
        .await
        .expect("the upgrade's batch Job");
    assert!(
        batch.status.and_then(|s| s.conditions).is_some_and(|c| c
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")),
        "Ready only once the Job completed"
    );
    let data = config_maps
        .get("settings-settings")
        .await
        .expect("settings")
        .data
        .unwrap_or_default();
    assert_eq!(
        (
            data.get("first").map(String::as_str),
            data.get("second").map(String::as_str)
        ),
        (Some("1"), Some("2")),
        "{data:?}"
    );
    let values = helm_says(kubeconfig, "apps", "get_values", "settings");
    assert_eq!(
        values["settings"],
        json!({"first": "1", "second": "2"}),
        "{values}"
    );
    assert_eq!(
        values["batch"],
        json!({"enabled": true, "image": "busybox:1.36"}),
        "{values}"
    );

    // An upgrade that adds a ConfigMap (and its own Job) with a Deployment that
    // never becomes ready fails; cleanupOnFail deletes what it created, the rest
    // stays.
    apply(
        &releases,
        manifest(json!({"extra": true, "image": "nginx:fail"}), "3s"),
    )
    .await;
    let failed = poll("the failed upgrade", || async {
        let o = serde_json::to_value(releases.get("settings").await.ok()?).ok()?;
        let (status, reason, _) = ready(&o)?;
        (status == "False" && reason == "UpgradeFailed").then_some(o)
    })
    .await;
    assert!(
        failed["status"]["history"][0]["status"] == "failed",
        "{}",
        failed["status"]["history"]
    );
    assert!(
        absent(&config_maps, "settings-extra").await,
        "what the failed upgrade created is deleted"
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), "apps");
    assert!(absent(&jobs, "settings-batch-3").await);
    assert!(
        !absent(&config_maps, "settings-settings").await,
        "what it only updated stays"
    );
    let history = revisions(&helm_says(kubeconfig, "apps", "history", "settings"));
    assert_eq!(
        history,
        [
            (1, "superseded".to_owned()),
            (2, "deployed".to_owned()),
            (3, "failed".to_owned())
        ]
    );
}

/// `chartRef` to an OCIRepository: a chart the Helm SDK pushed to a registry, pulled as
/// the layer of Helm's chart media type and copied as it is, is installed as from a
/// HelmChart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_from_an_oci_repository_is_installed() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system", "apps"]).await;
    let registry = registry::Registry::start("flux", "s3cr3t");
    let packaged = tempfile::tempdir().expect("dir");
    let archives = package(packaged.path(), &[(&podinfo(), "6.14.1")], None);
    let pushed = sdk(
        "oci_push.py",
        &json!({"host": registry.host(), "username": "flux", "password": "s3cr3t",
            "remote": format!("oci://{}/charts", registry.host()), "charts": archives}),
    );
    assert!(pushed.get("error").is_none(), "{pushed}");
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let config = json!({"auths": {registry.host(): {"username": "flux", "password": "s3cr3t"}}});
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "flux-system")
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "registry"},
                "type": "kubernetes.io/dockerconfigjson",
                "stringData": {".dockerconfigjson": config.to_string()}}))
            .expect("secret"),
        )
        .await
        .expect("create the registry secret");
    let repositories: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "OCIRepository"),
            "ocirepositories",
        ),
    );
    apply(
        &repositories,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"interval": "10m", "url": format!("oci://{}/charts/podinfo", registry.host()),
                "ref": {"semver": ">=6.0.0"}, "insecure": true, "secretRef": {"name": "registry"},
                "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "operation": "copy"}}}),
    )
    .await;
    let releases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &helm_release_resource());
    apply(
        &releases,
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"interval": "10m", "targetNamespace": "apps", "releaseName": "podinfo",
                "chartRef": {"kind": "OCIRepository", "name": "podinfo"},
                "install": {"disableWait": true}}}),
    )
    .await;
    let hr = ready_at(&releases, "podinfo", 1).await;
    let (_, reason, message) = ready(&hr).expect("ready");
    assert_eq!(reason, "InstallSucceeded", "{message}");
    assert!(message.ends_with("with chart podinfo@6.14.1"), "{message}");
    let status = helm_says(server.kubeconfig_path(), "apps", "status", "podinfo");
    assert_eq!(status["status"], "deployed", "{status}");
}
