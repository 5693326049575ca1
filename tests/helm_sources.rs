//! HelmRepository and HelmChart end to end: a chart repository packaged and indexed
//! by the Helm SDK and served over loopback HTTP (with and without basic auth), the
//! embedded API server, and `ferroflux run` as a process. What the user sees is
//! checked against Flux's wording, and what the controller stores against Helm: a
//! pulled chart is the repository's archive byte for byte, a packaged one renders as
//! Helm renders the original with the same values files.

#[path = "common/helm.rs"]
mod helm;
#[path = "common/registry.rs"]
mod registry;
#[path = "common/replica.rs"]
mod replica;
#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use std::path::{Path, PathBuf};

use ferroflux_apiserver::Config;
use helm::{apply, package, podinfo, repo_root, resource, sdk, ChartServer};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use registry::Registry;
use replica::{cli, flux_cluster, poll, ready, start_replica};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Copies a chart directory of the corpus into a test repository's work tree.
fn copy_chart(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read chart") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_chart(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.expect("get")).expect("json")
}

/// Waits until `name`'s Ready condition is `status` with `reason`; the object.
async fn until_ready(api: &Api<DynamicObject>, name: &str, status: &str, reason: &str) -> Value {
    let what = format!("{name} Ready={status} ({reason})");
    poll(&what, || async {
        let object = get(api, name).await;
        let current = ready(&object)?;
        // A failure that is retried leaves observedGeneration alone (as in Flux); its
        // Ready condition says which generation it is about.
        let condition_generation = object["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?["observedGeneration"]
            .clone();
        (current.0 == status
            && current.1 == reason
            && condition_generation == object["metadata"]["generation"])
            .then_some(object)
    })
    .await
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

async fn download(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.expect("download");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.bytes().await.expect("body").to_vec()
}

/// What Helm's install renders for a chart archive or directory with values files.
fn helm_manifest(chart: &Path, files: &[PathBuf]) -> String {
    let answer = sdk(
        "template_oracle.py",
        &json!({"chart": chart, "name": "podinfo", "namespace": "default", "files": files}),
    );
    answer["manifest"]
        .as_str()
        .unwrap_or_else(|| panic!("Helm rendered nothing: {answer}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_are_pulled_picked_and_packaged_as_flux_does() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system"]).await;
    let charts = tempfile::tempdir().expect("repo dir");
    package(
        charts.path(),
        &[
            (&podinfo(), "6.4.0"),
            (&podinfo(), "6.5.0"),
            (&podinfo(), "7.0.0-rc.1"),
        ],
        None,
    );
    let http = ChartServer::start(charts.path(), None);
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let repos = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmRepository", "helmrepositories"),
    );
    let charts_api = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmChart", "helmcharts"),
    );

    // The guide's HelmRepository, created as a flux user creates it.
    let url = format!("--url={}/", http.url());
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &[
            "create",
            "source",
            "helm",
            "podinfo",
            &url,
            "--interval",
            "5m",
        ],
    );
    assert!(ok, "{err}");
    let index = std::fs::read(charts.path().join("index.yaml")).expect("index");
    let revision = format!("sha256:{}", sha256(&index));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "✚ generating HelmRepository source",
            "► applying HelmRepository source",
            "✔ source created",
            "◎ waiting for HelmRepository source reconciliation",
            "✔ HelmRepository source reconciliation completed",
            &format!("✔ fetched revision: {revision}"),
        ]
    );
    let repo = until_ready(&repos, "podinfo", "True", "Succeeded").await;
    assert_eq!(repo["status"]["artifact"]["revision"], json!(revision));
    assert_eq!(
        ready(&repo).expect("ready").2,
        format!("stored artifact: revision '{revision}'")
    );
    let artifact_url = repo["status"]["artifact"]["url"].as_str().expect("url");
    assert!(
        artifact_url.ends_with(&format!(
            "/helmrepository/flux-system/podinfo/index-{}.yaml",
            sha256(&index)
        )),
        "{artifact_url}"
    );
    // The artifact is the index as Helm loaded it, and status.url always names it.
    let stored = download(artifact_url).await;
    assert_eq!(
        repo["status"]["artifact"]["digest"],
        json!(format!("sha256:{}", sha256(&stored)))
    );
    let status_url = repo["status"]["url"].as_str().expect("status.url");
    assert!(status_url.ends_with("/helmrepository/flux-system/podinfo/index.yaml"));
    assert_eq!(download(status_url).await, stored);
    let loaded = ferroflux_helm::repo::load_index(&stored).expect("the stored index reads");
    let versions: Vec<&str> = loaded.entries["podinfo"]
        .iter()
        .map(|v| &*v.version)
        .collect();
    assert_eq!(versions, ["7.0.0-rc.1", "6.5.0", "6.4.0"]);
    let index_requests: Vec<Value> = http
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/index.yaml")
        .collect();
    assert!(!index_requests.is_empty());
    assert!(
        index_requests.iter().all(|r| r["agent"] == "Helm/4.2"),
        "{index_requests:?}"
    );

    let (ok, out, err) = cli(server.kubeconfig_path(), &["get", "sources", "helm"]);
    assert!(ok, "{err}");
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .expect("a row")
        .split('\t')
        .map(str::trim)
        .collect();
    let short = &revision[..15];
    assert_eq!(
        row,
        [
            "podinfo",
            short,
            "False",
            "True",
            &format!("stored artifact: revision '{short}'")
        ]
    );

    // A HelmChart for `6.x`: the newest stable version, pulled as it is.
    apply(
        &charts_api,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {
                "chart": "podinfo", "version": "6.x", "interval": "5m",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
            },
        }),
    )
    .await;
    let chart = until_ready(&charts_api, "podinfo", "True", "ChartPullSucceeded").await;
    assert_eq!(
        ready(&chart).expect("ready").2,
        "pulled 'podinfo' chart with version '6.5.0'"
    );
    assert_eq!(chart["status"]["artifact"]["revision"], json!("6.5.0"));
    assert_eq!(chart["status"]["observedChartName"], json!("podinfo"));
    assert_eq!(
        chart["status"]["observedSourceArtifactRevision"],
        json!(revision)
    );
    let chart_url = chart["status"]["artifact"]["url"].as_str().expect("url");
    assert!(
        chart_url.ends_with("/helmchart/flux-system/podinfo/podinfo-6.5.0.tgz"),
        "{chart_url}"
    );
    let pulled = download(chart_url).await;
    let original = std::fs::read(charts.path().join("podinfo-6.5.0.tgz")).expect("archive");
    assert_eq!(sha256(&pulled), sha256(&original), "pulled byte for byte");
    let latest = chart["status"]["url"].as_str().expect("status.url");
    assert!(latest.ends_with("/helmchart/flux-system/podinfo/latest.tar.gz"));
    assert_eq!(download(latest).await, pulled);

    // A new version in the repository: the repository's next fetch brings it, and the
    // chart follows without being asked.
    package(charts.path(), &[(&podinfo(), "6.6.0")], None);
    let (ok, _, err) = cli(
        server.kubeconfig_path(),
        &["reconcile", "source", "helm", "podinfo"],
    );
    assert!(ok, "{err}");
    let chart = poll("the chart moves to 6.6.0", || async {
        let c = get(&charts_api, "podinfo").await;
        (c["status"]["artifact"]["revision"] == "6.6.0").then_some(c)
    })
    .await;
    assert_eq!(
        ready(&chart).expect("ready").2,
        "pulled 'podinfo' chart with version '6.6.0'"
    );

    // Values files: merged into values.yaml, the chart packaged again as <v>+<generation>,
    // and the result renders as Helm renders the chart with `-f values-prod.yaml`.
    let mut spec = chart["spec"].clone();
    spec["valuesFiles"] = json!(["values.yaml", "values-prod.yaml"]);
    apply(
        &charts_api,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"}, "spec": spec,
        }),
    )
    .await;
    let chart = until_ready(&charts_api, "podinfo", "True", "ChartPackageSucceeded").await;
    let generation = chart["metadata"]["generation"]
        .as_i64()
        .expect("generation");
    let version = format!("6.6.0+{generation}");
    assert_eq!(
        ready(&chart).expect("ready").2,
        format!("packaged 'podinfo' chart with version '{version}' and merged values files [values.yaml values-prod.yaml]")
    );
    assert_eq!(chart["status"]["artifact"]["revision"], json!(version));
    let packaged = download(chart["status"]["artifact"]["url"].as_str().expect("url")).await;
    let work = tempfile::tempdir().expect("dir");
    let archive = work.path().join(format!("podinfo-{version}.tgz"));
    std::fs::write(&archive, &packaged).expect("write");
    let ours = ferroflux_helm::chart::load_archive(&packaged).expect("our archive loads");
    assert_eq!(ours.version(), version);
    let helm_packaged = tempfile::tempdir().expect("dir");
    let reference = package(helm_packaged.path(), &[(&podinfo(), &version)], None);
    assert_eq!(
        helm_manifest(&archive, &[]),
        helm_manifest(&reference[0], &[podinfo().join("values-prod.yaml")]),
        "the packaged chart renders as Helm renders the chart with -f values-prod.yaml"
    );

    // A values file the chart does not have: Stalled, naming it; the last chart stays.
    let mut spec = chart["spec"].clone();
    spec["valuesFiles"] = json!(["values.yaml", "values-missing.yaml"]);
    apply(
        &charts_api,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"}, "spec": spec,
        }),
    )
    .await;
    let stalled = until_ready(&charts_api, "podinfo", "False", "ValuesFilesError").await;
    assert_eq!(
        ready(&stalled).expect("ready").2,
        "values files merge error: failed to merge chart values: no values file found at path 'values-missing.yaml'"
    );
    let conditions = stalled["status"]["conditions"]
        .as_array()
        .expect("conditions");
    assert!(conditions
        .iter()
        .any(|c| c["type"] == "Stalled" && c["status"] == "True"));
    assert!(conditions
        .iter()
        .any(|c| c["type"] == "BuildFailed" && c["reason"] == "ValuesFilesError"));
    assert_eq!(stalled["status"]["artifact"]["revision"], json!(version));

    // A version the repository does not have.
    let mut spec = chart["spec"].clone();
    spec["version"] = json!("9.*");
    apply(
        &charts_api,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"}, "spec": spec,
        }),
    )
    .await;
    let missing = until_ready(&charts_api, "podinfo", "False", "InvalidChartReference").await;
    assert_eq!(
        ready(&missing).expect("ready").2,
        "invalid chart reference: failed to get chart version for remote reference: no 'podinfo' chart with version matching '9.*' found"
    );

    // An archive changed on the server after it was indexed: its digest no longer
    // matches the index's, and it is refused.
    std::fs::copy(
        charts.path().join("podinfo-6.5.0.tgz"),
        charts.path().join("podinfo-6.6.0.tgz"),
    )
    .expect("swap the archive");
    let mut spec = chart["spec"].clone();
    spec["version"] = json!("6.6.0");
    spec["valuesFiles"] = Value::Null;
    apply(
        &charts_api,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"}, "spec": spec,
        }),
    )
    .await;
    let tampered = until_ready(&charts_api, "podinfo", "False", "ChartPullError").await;
    let message = ready(&tampered).expect("ready").2;
    assert!(
        message.starts_with("chart pull error: failed to download chart for remote reference: chart digest mismatch"),
        "{message}"
    );
    assert_eq!(tampered["status"]["artifact"]["revision"], json!(version));
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_to_the_repository_and_nowhere_else() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system"]).await;
    // The index is behind basic auth; its chart lives on another host:port.
    let elsewhere_dir = tempfile::tempdir().expect("dir");
    let elsewhere = ChartServer::start(elsewhere_dir.path(), None);
    package(
        elsewhere_dir.path(),
        &[(&podinfo(), "6.5.0")],
        Some(&elsewhere.url()),
    );
    let private_dir = tempfile::tempdir().expect("dir");
    std::fs::copy(
        elsewhere_dir.path().join("index.yaml"),
        private_dir.path().join("index.yaml"),
    )
    .expect("index");
    let private = ChartServer::start(private_dir.path(), Some("flux:s3cr3t"));
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let repos = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmRepository", "helmrepositories"),
    );
    let charts_api = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmChart", "helmcharts"),
    );
    let repository = |secret: bool| {
        let mut spec = json!({"interval": "5m", "url": private.url()});
        if secret {
            spec["secretRef"] = json!({"name": "charts-auth"});
        }
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "private", "namespace": "flux-system"}, "spec": spec,
        })
    };

    // Without credentials: Helm's getter error, retried. Applied as the guide writes
    // it, in source.toolkit.fluxcd.io/v1beta2.
    let repos_v1beta2 = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1beta2", "HelmRepository"),
            "helmrepositories",
        ),
    );
    let mut beta = repository(false);
    beta["apiVersion"] = json!("source.toolkit.fluxcd.io/v1beta2");
    apply(&repos_v1beta2, beta).await;
    let refused = until_ready(&repos, "private", "False", "Failed").await;
    assert_eq!(
        ready(&refused).expect("ready").2,
        format!(
            "failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch {}/index.yaml : 401 Unauthorized",
            private.url()
        )
    );

    // A secret that names a missing Secret, then the Secret.
    apply(&repos, repository(true)).await;
    let missing = until_ready(&repos, "private", "False", "AuthenticationFailed").await;
    assert_eq!(
        ready(&missing).expect("ready").2,
        "failed to get authentication secret 'flux-system/charts-auth': secrets \"charts-auth\" not found"
    );
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Secret"), "secrets"),
    );
    apply(
        &secrets,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "charts-auth", "namespace": "flux-system"},
            "stringData": {"username": "flux", "password": "s3cr3t"},
        }),
    )
    .await;
    let (ok, _, err) = cli(
        server.kubeconfig_path(),
        &["reconcile", "source", "helm", "private"],
    );
    assert!(ok, "{err}");
    until_ready(&repos, "private", "True", "Succeeded").await;

    // The chart is pulled from the other host without the repository's credentials.
    let chart = |pass: bool| {
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {
                "chart": "podinfo", "interval": "5m",
                "sourceRef": {"kind": "HelmRepository", "name": "private"},
                "valuesFiles": if pass { json!(["values-prod.yaml"]) } else { json!(null) },
            },
        })
    };
    apply(&charts_api, chart(false)).await;
    until_ready(&charts_api, "podinfo", "True", "ChartPullSucceeded").await;
    let pulls: Vec<Value> = elsewhere
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/podinfo-6.5.0.tgz")
        .collect();
    assert!(!pulls.is_empty());
    assert!(
        pulls.iter().all(|r| r["credentials"] == false),
        "credentials leaked to another host: {pulls:?}"
    );

    // With passCredentials they go along (Flux's opt-in), on the next download.
    let mut with_pass = repository(true);
    with_pass["spec"]["passCredentials"] = json!(true);
    apply(&repos, with_pass).await;
    until_ready(&repos, "private", "True", "Succeeded").await;
    apply(&charts_api, chart(true)).await;
    until_ready(&charts_api, "podinfo", "True", "ChartPackageSucceeded").await;
    let last = elsewhere
        .requests()
        .into_iter()
        .rfind(|r| r["path"] == "/podinfo-6.5.0.tgz")
        .expect("a pull");
    assert_eq!(last["credentials"], json!(true));
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_from_git_are_packaged_with_their_dependencies() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system"]).await;
    // kube-state-metrics in a chart repository; an umbrella chart in Git that depends
    // on it and, by a relative path, on the podinfo chart next to it.
    let repository_dir = tempfile::tempdir().expect("dir");
    let ksm = repo_root().join("../shared/corpus/charts/kube-state-metrics");
    package(repository_dir.path(), &[(&ksm, "8.4.0")], None);
    let http = ChartServer::start(repository_dir.path(), None);
    let git = testutil::TestRepo::new("charts");
    std::fs::create_dir_all(git.work.join("charts/podinfo")).expect("mkdir");
    copy_chart(&podinfo(), &git.work.join("charts/podinfo"));
    git.write(
        "charts/umbrella/Chart.yaml",
        &format!(
            "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n\
             - name: podinfo\n  version: '>=6.0.0'\n  repository: file://../podinfo\n\
             - name: kube-state-metrics\n  version: 8.x\n  repository: {}\n",
            http.url()
        ),
    );
    git.write(
        "charts/umbrella/values.yaml",
        "podinfo:\n  replicaCount: 1\n",
    );
    git.write(
        "charts/umbrella/templates/info.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-info\ndata:\n  replicas: {{ .Values.podinfo.replicaCount | quote }}\n",
    );
    git.write("env/prod.yaml", "podinfo:\n  replicaCount: 3\n");
    let commit = git.commit("charts");
    let daemon = testutil::GitDaemon::start(git.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let git_api = Api::namespaced_with(client.clone(), "flux-system", &replica::git_resource());
    let charts_api = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmChart", "helmcharts"),
    );
    apply(
        &git_api,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "charts", "namespace": "flux-system"},
            "spec": {"interval": "5m", "url": daemon.url("charts.git"), "ref": {"branch": "main"}},
        }),
    )
    .await;
    apply(
        &charts_api,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "umbrella", "namespace": "flux-system"},
            "spec": {
                "chart": "./charts/umbrella", "interval": "5m",
                "sourceRef": {"kind": "GitRepository", "name": "charts"},
                "valuesFiles": ["env/prod.yaml"], "reconcileStrategy": "Revision",
            },
        }),
    )
    .await;
    let chart = until_ready(&charts_api, "umbrella", "True", "ChartPackageSucceeded").await;
    let generation = chart["metadata"]["generation"]
        .as_i64()
        .expect("generation");
    let version = format!("0.1.0+{}.{generation}", &commit[..12]);
    assert_eq!(
        ready(&chart).expect("ready").2,
        format!("packaged 'umbrella' chart with version '{version}' and merged values files [env/prod.yaml]")
    );
    assert_eq!(chart["status"]["artifact"]["revision"], json!(version));
    assert_eq!(
        chart["status"]["observedSourceArtifactRevision"],
        json!(format!("main@sha1:{commit}"))
    );

    // Helm renders our archive as it renders the chart whose dependencies Helm
    // resolved itself (`helm dependency update`) and whose values.yaml is the merged
    // values files (what Flux packages).
    let packaged = download(chart["status"]["artifact"]["url"].as_str().expect("url")).await;
    let work = tempfile::tempdir().expect("dir");
    let archive = work.path().join("umbrella.tgz");
    std::fs::write(&archive, &packaged).expect("write");
    let theirs_dir = work.path().join("checkout");
    copy_chart(&git.work, &{
        std::fs::create_dir_all(&theirs_dir).expect("mkdir");
        theirs_dir.clone()
    });
    let umbrella = theirs_dir.join("charts/umbrella");
    let resolved = sdk("dependency_update.py", &json!({"chart": umbrella}));
    assert!(resolved.get("error").is_none(), "{resolved}");
    // Flux writes the merged values files over the chart's values.yaml.
    std::fs::copy(
        theirs_dir.join("env/prod.yaml"),
        umbrella.join("values.yaml"),
    )
    .expect("values");
    let ours = helm_manifest(&archive, &[]);
    let theirs = helm_manifest(&umbrella, &[]);
    // The chart's own version label differs by the build metadata Flux adds.
    assert_eq!(
        ours.replace(
            &format!("umbrella-{}", version.replace('+', "_")),
            "umbrella-0.1.0"
        ),
        theirs
    );
    assert!(
        ours.contains("replicas: \"3\""),
        "the values file reached the chart"
    );
    assert!(
        ours.contains("kube-state-metrics"),
        "the remote dependency is in"
    );

    // A path out of the source is refused before anything is read.
    let mut spec = chart["spec"].clone();
    spec["chart"] = json!("../outside");
    apply(
        &charts_api,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "umbrella", "namespace": "flux-system"}, "spec": spec,
        }),
    )
    .await;
    let refused = until_ready(&charts_api, "umbrella", "False", "InvalidChartReference").await;
    assert_eq!(
        refused["status"]["artifact"]["revision"],
        json!(version),
        "the last chart stays"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_are_pulled_from_an_oci_registry() {
    let (server, client) = flux_cluster(Config::default(), &["flux-system"]).await;
    let registry = Registry::start("flux", "s3cr3t");
    let packaged_dir = tempfile::tempdir().expect("dir");
    let archives = package(
        packaged_dir.path(),
        &[
            (&podinfo(), "6.4.0"),
            (&podinfo(), "6.5.0"),
            (&podinfo(), "7.0.0-rc.1"),
        ],
        None,
    );
    let pushed = sdk(
        "oci_push.py",
        &json!({
            "host": registry.host(), "username": "flux", "password": "s3cr3t",
            "remote": format!("oci://{}/charts", registry.host()), "charts": archives,
        }),
    );
    assert!(pushed.get("error").is_none(), "{pushed}");
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let repos = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmRepository", "helmrepositories"),
    );
    let charts_api = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmChart", "helmcharts"),
    );
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Secret"), "secrets"),
    );
    let config = json!({"auths": {registry.host(): {"username": "flux", "password": "s3cr3t"}}});
    apply(
        &secrets,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "registry", "namespace": "flux-system"},
            "stringData": {".dockerconfigjson": config.to_string()},
        }),
    )
    .await;
    apply(
        &repos,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "ghcr", "namespace": "flux-system"},
            "spec": {
                "type": "oci", "insecure": true, "interval": "5m",
                "url": format!("oci://{}/charts", registry.host()),
                "secretRef": {"name": "registry"},
            },
        }),
    )
    .await;
    let chart = |version: &str| {
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {
                "chart": "podinfo", "version": version, "interval": "5m",
                "sourceRef": {"kind": "HelmRepository", "name": "ghcr"},
            },
        })
    };
    apply(&charts_api, chart("6.x")).await;
    let pulled = until_ready(&charts_api, "podinfo", "True", "ChartPullSucceeded").await;
    assert_eq!(
        ready(&pulled).expect("ready").2,
        "pulled 'podinfo' chart with version '6.5.0'"
    );
    let bytes = download(pulled["status"]["artifact"]["url"].as_str().expect("url")).await;
    let original = std::fs::read(&archives[1]).expect("archive");
    assert_eq!(
        sha256(&bytes),
        sha256(&original),
        "the pushed archive, byte for byte"
    );

    // The OCI repository is static, as in Flux: no status, always "Ready" to the CLI.
    let repo = get(&repos, "ghcr").await;
    assert!(
        repo.get("status")
            .is_none_or(|s| s.get("conditions").is_none()),
        "{repo}"
    );
    let (ok, out, err) = cli(server.kubeconfig_path(), &["get", "sources", "helm"]);
    assert!(ok, "{err}");
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .expect("a row")
        .split('\t')
        .map(str::trim)
        .collect();
    assert_eq!(
        row,
        ["ghcr", "", "False", "True", "Helm repository is Ready"]
    );

    // A version the registry does not have, then credentials it refuses.
    apply(&charts_api, chart("9.*")).await;
    let missing = until_ready(&charts_api, "podinfo", "False", "InvalidChartReference").await;
    assert_eq!(
        ready(&missing).expect("ready").2,
        "invalid chart reference: failed to get chart version for remote reference: could not locate a version matching provided version string 9.*"
    );
    let wrong = json!({"auths": {registry.host(): {"username": "flux", "password": "wrong"}}});
    apply(
        &secrets,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "registry", "namespace": "flux-system"},
            "stringData": {".dockerconfigjson": wrong.to_string()},
        }),
    )
    .await;
    apply(&charts_api, chart("6.4.0")).await;
    let refused = until_ready(&charts_api, "podinfo", "False", "Unknown").await;
    let message = ready(&refused).expect("ready").2;
    assert!(
        message
            .starts_with("unknown build error: failed to authenticate with the Helm repository:")
            && message.contains("401"),
        "{message}"
    );
    assert_eq!(
        refused["status"]["artifact"]["revision"],
        json!("6.5.0"),
        "the last chart stays"
    );
    drop(server);
}
