//! The HelmRelease controller end to end, judged by the Helm SDK: a chart repository
//! packaged and indexed by the SDK on loopback HTTP, the embedded API server, and
//! `ferroflux run` as a process. A release ferroflux makes is a Helm release (the
//! SDK lists it, shows its history and values), and one the SDK makes ferroflux
//! takes over.

#[path = "common/helm.rs"]
mod helm;
#[path = "common/replica.rs"]
mod replica;

use ferroflux_apiserver::Config;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use replica::{flux_cluster, poll, ready, start_replica};
use serde_json::{json, Value};

use helm::{apply, package, podinfo, resource, sdk, ChartServer};

fn helm_release_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_release_installs_upgrades_and_uninstalls_and_the_helm_sdk_agrees() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system", "apps"]).await;
    let kubeconfig = server.kubeconfig_path();
    let charts_dir = tempfile::tempdir().expect("charts");
    package(charts_dir.path(), &[(&podinfo(), "6.14.1")], None);
    let charts = ChartServer::start(charts_dir.path(), None);
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(kubeconfig, storage.path());

    let repositories: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmRepository", "helmrepositories"),
    );
    apply(
        &repositories,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"interval": "10m", "url": charts.url()}}),
    )
    .await;
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
    assert!(deployments
        .get_opt("apps-podinfo")
        .await
        .expect("get")
        .is_none());
    assert_eq!(helm_says(kubeconfig, "apps", "list", ""), json!([]));
    let helm_charts: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmChart", "helmcharts"),
    );
    assert!(helm_charts
        .get_opt("flux-system-podinfo")
        .await
        .expect("get")
        .is_none());

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
}
