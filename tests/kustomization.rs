//! The Kustomization controller end to end, the GitOps loop as the guide walks it:
//! the embedded API server, a real `git daemon`, `ferroflux run` as a process, and the
//! ferroflux CLI. Commit to Git and the cluster follows: deploy, update, correct
//! drift, prune, and clean up when the Kustomization goes.

#[path = "common/replica.rs"]
mod replica;
#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use ferroflux_apiserver::{ApiServer, Config};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use replica::{cli, flux_cluster, git_resource, ks_resource, poll, ready, start_replica};
use serde_json::{json, Value};
use testutil::{GitDaemon, TestRepo};

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

const KUSTOMIZATION_YAML: &str = "resources:\n- deployment.yaml\n- settings.yaml\n";
const SETTINGS: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n";

/// An API server with the Flux CRDs and the namespaces the tests use.
async fn cluster(config: Config) -> (ApiServer, kube::Client) {
    flux_cluster(config, &["flux-system", "apps"]).await
}

async fn apply_flux(client: &kube::Client, resource: &ApiResource, manifest: Value) {
    let name = manifest["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", resource);
    api.patch(
        &name,
        &PatchParams::apply("kubectl"),
        &Patch::Apply(manifest),
    )
    .await
    .expect("apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_reconcile_writes_nothing_and_reads_at_most_once() {
    let audit = tempfile::NamedTempFile::new().expect("audit file");
    let (server, client) = cluster(Config {
        audit_log: Some(audit.path().to_path_buf()),
        ..Config::default()
    })
    .await;
    // 50 objects: a Deployment, a Service and 48 ConfigMaps.
    let repo = TestRepo::new("big");
    let mut resources = String::from("resources:\n- deployment.yaml\n- service.yaml\n");
    repo.write("app/deployment.yaml", &deployment("nginx:1.25"));
    repo.write(
        "app/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n",
    );
    for i in 0..48 {
        repo.write(
            &format!("app/cm-{i}.yaml"),
            &SETTINGS.replace("name: settings", &format!("name: settings-{i}")),
        );
        resources.push_str(&format!("- cm-{i}.yaml\n"));
    }
    repo.write("app/kustomization.yaml", &resources);
    repo.commit("fifty objects");
    let daemon = GitDaemon::start(repo.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    apply_flux(
        &client,
        &git_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "big", "namespace": "flux-system"},
        "spec": {"interval": "10m", "url": daemon.url("big.git"), "ref": {"branch": "main"}}}),
    )
    .await;
    apply_flux(
        &client,
        &ks_resource(),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "big", "namespace": "flux-system"},
        "spec": {"interval": "1s", "path": "./app", "prune": true, "targetNamespace": "apps",
            "sourceRef": {"kind": "GitRepository", "name": "big"}}}),
    )
    .await;
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &ks_resource());
    poll("50 objects applied", || async {
        let o = serde_json::to_value(kustomizations.get("big").await.ok()?).ok()?;
        let entries = o.pointer("/status/inventory/entries")?.as_array()?.len();
        (ready(&o).is_some_and(|(s, _, _)| s == "True") && entries == 50).then_some(())
    })
    .await;

    let replica_requests = |from: &str| {
        std::fs::read_to_string(audit.path())
            .expect("audit log")
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| {
                e["userAgent"]
                    .as_str()
                    .is_some_and(|ua| ua.contains("replica"))
            })
            .filter(|e| {
                e["requestReceivedTimestamp"]
                    .as_str()
                    .is_some_and(|t| t > from)
            })
            .filter(|e| e["verb"].as_str() != Some("watch"))
            .collect::<Vec<Value>>()
    };
    // The simulated kubelet writes the Deployment's status for a while; a status
    // write is not drift, but wait it out so the window holds only no-op reconciles.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "apps");
    poll("the Deployment available", || async {
        let d = deployments.get("web").await.ok()?;
        (d.status?.available_replicas? == 3).then_some(())
    })
    .await;
    let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let window = std::time::Duration::from_secs(5);
    // The measurement window: the Kustomization reconciles every second meanwhile.
    tokio::time::sleep(window).await;
    let seen = replica_requests(&start);
    let writes: Vec<&Value> = seen
        .iter()
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete")
            )
        })
        .collect();
    let reads = seen.len() - writes.len();
    let reconciles = window.as_secs() as usize;
    eprintln!(
        "no-op reconciles of a 50-object Kustomization over {window:?}: {} writes, {reads} reads (about {reconciles} reconciles)",
        writes.len()
    );
    assert!(
        writes.is_empty(),
        "a no-op reconcile writes nothing: {writes:#?}"
    );
    assert!(
        reads >= 1,
        "the Kustomization kept reconciling on its interval"
    );
    assert!(
        reads <= reconciles + 1,
        "at most one read per no-op reconcile: {reads} reads: {seen:#?}"
    );

    // Drift is still noticed: change a ConfigMap behind Flux's back.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");
    config_maps
        .patch(
            "settings-7",
            &PatchParams {
                field_manager: Some("kubectl".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"color": "red"}})),
        )
        .await
        .expect("drift");
    poll("the drift put back", || async {
        let cm = config_maps.get("settings-7").await.ok()?;
        (cm.data?.get("color")? == "blue").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gitops_loop_deploys_updates_corrects_drift_and_prunes() {
    let (server, client) = cluster(Config::default()).await;

    let repo = TestRepo::new("fleet");
    repo.write("apps/kustomization.yaml", KUSTOMIZATION_YAML);
    repo.write("apps/deployment.yaml", &deployment("nginx:1.25"));
    repo.write("apps/settings.yaml", SETTINGS);
    let first = repo.commit("initial sync");
    let daemon = GitDaemon::start(repo.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());

    let apply = |resource: ApiResource, manifest: Value| {
        let client = client.clone();
        async move {
            let name = manifest["metadata"]["name"]
                .as_str()
                .expect("name")
                .to_owned();
            let api: Api<DynamicObject> = Api::namespaced_with(client, "flux-system", &resource);
            api.patch(
                &name,
                &PatchParams::apply("kubectl"),
                &Patch::Apply(manifest),
            )
            .await
            .expect("apply");
        }
    };
    apply(
        git_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": daemon.url("fleet.git"), "ref": {"branch": "main"}}}),
    )
    .await;
    apply(
        ks_resource(),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./apps", "prune": true, "targetNamespace": "apps",
                "wait": true, "timeout": "60s",
                "sourceRef": {"kind": "GitRepository", "name": "fleet"}}}),
    )
    .await;
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &ks_resource());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "apps");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");

    // Phase 1: initial sync.
    let revision = format!("main@sha1:{first}");
    let ks = poll("the Kustomization Ready at the first revision", || async {
        let o = serde_json::to_value(kustomizations.get("apps").await.ok()?).ok()?;
        (ready(&o).is_some_and(|(s, _, _)| s == "True")
            && o.pointer("/status/lastAppliedRevision") == Some(&json!(revision)))
        .then_some(o)
    })
    .await;
    let (_, reason, message) = ready(&ks).expect("ready");
    assert_eq!(reason, "ReconciliationSucceeded");
    assert_eq!(message, format!("Applied revision: {revision}"));
    let mut ids: Vec<&str> = ks
        .pointer("/status/inventory/entries")
        .and_then(Value::as_array)
        .expect("inventory")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["apps_settings__ConfigMap", "apps_web_apps_Deployment"]
    );
    // Phase 2: with `wait`, Ready means the Deployment's 3 replicas are available.
    let healthy = condition(&ks, "Healthy").expect("a Healthy condition");
    assert_eq!(healthy["status"], "True");
    assert!(
        healthy["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Health check passed in")),
        "{healthy}"
    );
    let web = deployments
        .get("web")
        .await
        .expect("the Deployment was applied");
    assert_eq!(
        web.status.as_ref().and_then(|s| s.available_replicas),
        Some(3)
    );
    let labels = web.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("kustomize.toolkit.fluxcd.io/name")
            .map(String::as_str),
        Some("apps")
    );
    assert_eq!(
        labels
            .get("kustomize.toolkit.fluxcd.io/namespace")
            .map(String::as_str),
        Some("flux-system")
    );
    let managers: Vec<String> = web
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"kustomize-controller".to_owned()),
        "{managers:?}"
    );
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &["get", "kustomizations", "-n", "flux-system"],
    );
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .next()
            .is_some_and(|h| h.split_whitespace().collect::<Vec<_>>()
                == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]),
        "{out}"
    );
    assert!(out.contains(&revision) && out.contains("True"), "{out}");
    // The flux CLI's ways of looking at it: tree, export, events, build.
    let kubeconfig = server.kubeconfig_path();
    let (ok, out, err) = cli(
        kubeconfig,
        &["tree", "kustomization", "apps", "-n", "flux-system"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "Kustomization/flux-system/apps",
            "├── ConfigMap/apps/settings",
            "└── Deployment/apps/web"
        ]
    );
    let (ok, out, err) = cli(
        kubeconfig,
        &["export", "kustomization", "apps", "-n", "flux-system"],
    );
    assert!(ok, "{err}");
    let exported: Value =
        serde_yaml_ng::from_str(out.trim_start_matches("---\n")).expect("export is YAML");
    assert_eq!(exported["spec"]["path"], "./apps");
    assert!(
        exported.get("status").is_none() && exported["metadata"].get("uid").is_none(),
        "{out}"
    );
    let (ok, out, err) = cli(
        kubeconfig,
        &["events", "--for", "Kustomization/apps", "-n", "flux-system"],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("ReconciliationSucceeded") && out.contains("Deployment/apps/web created"),
        "{out}"
    );
    let path = repo.work.join("apps");
    let (ok, out, err) = cli(
        kubeconfig,
        &[
            "build",
            "kustomization",
            "apps",
            "--path",
            path.to_str().expect("utf8"),
            "-n",
            "flux-system",
        ],
    );
    assert!(ok, "{err}");
    let built: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect();
    assert_eq!(built.len(), 2);
    assert!(
        built.iter().all(|o| o["metadata"]["namespace"] == "apps"
            && o["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"),
        "{out}"
    );

    // Phase 3: the image tag changes in Git and the cluster follows.
    repo.write("apps/deployment.yaml", &deployment("nginx:1.27"));
    let second = repo.commit("bump nginx");
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &[
            "reconcile",
            "kustomization",
            "apps",
            "--with-source",
            "-n",
            "flux-system",
        ],
    );
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("applied revision main@sha1:{second}")),
        "{out}"
    );
    let image = |d: &Deployment| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| p.containers[0].image.clone().unwrap_or_default())
    };
    assert_eq!(
        image(&deployments.get("web").await.expect("web")).as_deref(),
        Some("nginx:1.27")
    );

    // Phase 4: `kubectl scale --replicas=5` is drift; the next reconcile puts 3 back.
    let scaled = std::process::Command::new("kubectl")
        .args([
            "scale",
            "deployment/web",
            "--replicas=5",
            "-n",
            "apps",
            "--kubeconfig",
        ])
        .arg(server.kubeconfig_path())
        .output()
        .expect("kubectl is installed (a missing tool is a failure)");
    assert!(
        scaled.status.success(),
        "{}",
        String::from_utf8_lossy(&scaled.stderr)
    );
    assert_eq!(
        deployments
            .get("web")
            .await
            .expect("web")
            .spec
            .and_then(|s| s.replicas),
        Some(5),
        "kubectl scaled it"
    );
    // `diff` sees the drift (exit 1) before the controller puts it back.
    let diff = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ferroflux"))
            .args(["diff", "kustomization", "apps", "--path"])
            .arg(path)
            .args(["-n", "flux-system", "--kubeconfig"])
            .arg(server.kubeconfig_path())
            .output()
            .expect("ferroflux diff")
    };
    let out = diff(&repo.work.join("apps"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("► Deployment/apps/web drifted"), "{text}");
    assert!(
        text.contains("replicas: 5") && text.contains("replicas: 3"),
        "{text}"
    );
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &["reconcile", "kustomization", "apps", "-n", "flux-system"],
    );
    assert!(ok, "{out}\n{err}");
    let replicas = deployments
        .get("web")
        .await
        .expect("web")
        .spec
        .and_then(|s| s.replicas);
    assert_eq!(replicas, Some(3), "drift corrected");
    let managers: Vec<String> = deployments
        .get("web")
        .await
        .expect("web")
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        !managers.contains(&"kubectl".to_owned()),
        "kubectl's fields are taken over: {managers:?}"
    );
    let out = diff(&repo.work.join("apps"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "no differences left: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Phase 5: the manifest is deleted from Git and the Deployment is pruned.
    repo.remove("apps/deployment.yaml");
    repo.write("apps/kustomization.yaml", "resources:\n- settings.yaml\n");
    repo.commit("retire web");
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &[
            "reconcile",
            "kustomization",
            "apps",
            "--with-source",
            "-n",
            "flux-system",
        ],
    );
    assert!(ok, "{out}\n{err}");
    poll("the Deployment pruned", || async {
        deployments
            .get_opt("web")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        config_maps
            .get_opt("settings")
            .await
            .expect("get")
            .is_some(),
        "what is still in Git stays"
    );

    // Suspended, it is left alone; resumed, it reconciles again.
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &["suspend", "kustomization", "apps", "-n", "flux-system"],
    );
    assert!(ok, "{out}\n{err}");
    let (ok, _, err) = cli(
        server.kubeconfig_path(),
        &["reconcile", "kustomization", "apps", "-n", "flux-system"],
    );
    assert!(!ok && err.contains("resource is suspended"), "{err}");
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &["resume", "kustomization", "apps", "-n", "flux-system"],
    );
    assert!(ok, "{out}\n{err}");

    // Deleting the Kustomization garbage-collects what it applied (prune: true).
    kustomizations
        .delete("apps", &Default::default())
        .await
        .expect("delete");
    poll("the ConfigMap garbage-collected", || async {
        config_maps
            .get_opt("settings")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    poll("the Kustomization gone", || async {
        kustomizations
            .get_opt("apps")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}

fn condition(object: &Value, type_: &str) -> Option<Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_substitution_failing_health_and_broken_manifests() {
    let (server, client) = cluster(Config::default()).await;
    let repo = TestRepo::new("platform");
    // Infrastructure, then an application that depends on it.
    repo.write("infra/kustomization.yaml", "resources:\n- settings.yaml\n");
    repo.write(
        "infra/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: infra-marker\n  namespace: apps\ndata:\n  ready: \"yes\"\n",
    );
    // The application takes its color from a ConfigMap of variables (postBuild).
    repo.write("app/kustomization.yaml", "resources:\n- app.yaml\n");
    repo.write(
        "app/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: apps\ndata:\n  color: ${color}\n  region: ${region:=eu-west-1}\n",
    );
    // A workload that never becomes ready.
    repo.write("bad/kustomization.yaml", "resources:\n- deployment.yaml\n");
    repo.write(
        "bad/deployment.yaml",
        &deployment("nginx:fail").replace("name: web", "name: bad"),
    );
    let first = repo.commit("platform");
    let daemon = GitDaemon::start(repo.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    apply_flux(
        &client,
        &git_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "platform", "namespace": "flux-system"},
            "spec": {"interval": "10m", "url": daemon.url("platform.git"), "ref": {"branch": "main"}}}),
    )
    .await;
    let kustomization = |name: &str, mut spec: Value| {
        spec["interval"] = json!("10m");
        spec["sourceRef"] = json!({"kind": "GitRepository", "name": "platform"});
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec})
    };
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "flux-system");
    config_maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "app-vars"}, "data": {"color": "green"}}),
            )
            .expect("cm"),
        )
        .await
        .expect("variables for the substitution");
    // The application first: it must wait for its dependency.
    apply_flux(
        &client,
        &ks_resource(),
        kustomization(
            "app",
            json!({"path": "./app", "prune": true, "dependsOn": [{"name": "infra"}],
                "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "app-vars"}]}}),
        ),
    )
    .await;
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &ks_resource());
    let get = |name: &'static str| {
        let api = kustomizations.clone();
        async move { serde_json::to_value(api.get(name).await.ok()?).ok() }
    };
    let waiting = poll("app waiting for infra", || async {
        let o = get("app").await?;
        ready(&o).filter(|(s, r, _)| s == "False" && r == "DependencyNotReady")
    })
    .await;
    assert_eq!(waiting.2, "dependency 'flux-system/infra' is not ready");
    let app_objects: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");
    assert!(
        app_objects.get_opt("app").await.expect("get").is_none(),
        "nothing applied before infra is ready"
    );

    // Once infra is Ready the app follows, told by infra rather than polling it.
    apply_flux(
        &client,
        &ks_resource(),
        kustomization("infra", json!({"path": "./infra", "prune": true})),
    )
    .await;
    poll("app Ready after infra", || async {
        let o = get("app").await?;
        ready(&o).filter(|(s, _, _)| s == "True")
    })
    .await;
    let data = app_objects
        .get("app")
        .await
        .expect("app applied")
        .data
        .unwrap_or_default();
    assert_eq!(
        data.get("color").map(String::as_str),
        Some("green"),
        "substituted from the ConfigMap"
    );
    assert_eq!(
        data.get("region").map(String::as_str),
        Some("eu-west-1"),
        "the default applies"
    );

    // A workload that never becomes ready: Ready=False, HealthCheckFailed, naming it.
    apply_flux(
        &client,
        &ks_resource(),
        kustomization("bad", json!({"path": "./bad", "prune": true, "targetNamespace": "apps", "wait": true, "timeout": "3s"})),
    )
    .await;
    let (_, reason, message) = poll("bad reports its health check", || async {
        let o = get("bad").await?;
        ready(&o).filter(|(s, _, _)| s == "False")
    })
    .await;
    assert_eq!(reason, "HealthCheckFailed", "{message}");
    assert!(message.contains("Deployment/apps/bad"), "{message}");
    let bad = get("bad").await.expect("bad");
    assert_eq!(
        condition(&bad, "Healthy").expect("Healthy")["status"],
        "False"
    );

    // A broken manifest: the build fails, Ready says so, the last good state stays.
    repo.write(
        "app/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: apps\ndata: [unclosed\n",
    );
    repo.commit("broken");
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &[
            "reconcile",
            "source",
            "git",
            "platform",
            "-n",
            "flux-system",
        ],
    );
    assert!(ok, "{out}\n{err}");
    let (_, _, message) = poll("app reports the broken build", || async {
        let o = get("app").await?;
        ready(&o).filter(|(s, r, _)| s == "False" && r == "BuildFailed")
    })
    .await;
    assert!(
        message.contains("app.yaml"),
        "the error names the file: {message}"
    );
    let app = get("app").await.expect("app");
    assert_eq!(
        app.pointer("/status/lastAppliedRevision"),
        Some(&json!(format!("main@sha1:{first}")))
    );
    let still = app_objects
        .get("app")
        .await
        .expect("the last good state stays applied");
    assert_eq!(
        still
            .data
            .unwrap_or_default()
            .get("color")
            .map(String::as_str),
        Some("green")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_service_account_is_confined_to_its_namespace() {
    let (server, client) = cluster(Config::default()).await;
    let create = |resource: ApiResource, namespace: Option<&'static str>, manifest: Value| {
        let client = client.clone();
        async move {
            let api: Api<DynamicObject> = match namespace {
                Some(ns) => Api::namespaced_with(client, ns, &resource),
                None => Api::all_with(client, &resource),
            };
            api.create(
                &PostParams::default(),
                &serde_json::from_value(manifest).expect("object"),
            )
            .await
            .expect("create");
        }
    };
    let core = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", kind), plural)
    };
    for ns in ["team-a", "team-b"] {
        create(
            core("Namespace", "namespaces"),
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
    }
    create(
        core("ServiceAccount", "serviceaccounts"),
        Some("team-a"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tenant"}}),
    )
    .await;
    create(
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", "RoleBinding"), "rolebindings"),
        Some("team-a"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "tenant-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": "team-a"}]}),
    )
    .await;

    let repo = TestRepo::new("tenants");
    repo.write("own/kustomization.yaml", "resources:\n- cm.yaml\n");
    repo.write(
        "own/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\n  namespace: team-a\n",
    );
    repo.write("other/kustomization.yaml", "resources:\n- cm.yaml\n");
    repo.write(
        "other/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: intruder\n  namespace: team-b\n",
    );
    repo.commit("tenants");
    let daemon = GitDaemon::start(repo.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    apply_flux(
        &client,
        &git_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "tenants", "namespace": "flux-system"},
        "spec": {"interval": "10m", "url": daemon.url("tenants.git"), "ref": {"branch": "main"}}}),
    )
    .await;
    let team_a: Api<DynamicObject> = Api::namespaced_with(client.clone(), "team-a", &ks_resource());
    for (name, path) in [("own", "./own"), ("other", "./other")] {
        team_a
            .patch(name, &PatchParams::apply("kubectl"), &Patch::Apply(json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": name, "namespace": "team-a"},
                "spec": {"interval": "10m", "path": path, "prune": true, "serviceAccountName": "tenant",
                    "sourceRef": {"kind": "GitRepository", "name": "tenants", "namespace": "flux-system"}}})))
            .await
            .expect("tenant Kustomization");
    }
    let get = |name: &'static str| {
        let api = team_a.clone();
        async move { serde_json::to_value(api.get(name).await.ok()?).ok() }
    };
    poll("the tenant's own namespace applied", || async {
        ready(&get("own").await?).filter(|(s, _, _)| s == "True")
    })
    .await;
    let (_, _, message) = poll("the other namespace refused", || async {
        ready(&get("other").await?).filter(|(s, _, _)| s == "False")
    })
    .await;
    assert!(
        message.contains("forbidden") || message.contains("Forbidden"),
        "{message}"
    );
    assert!(
        message.contains("ConfigMap/team-b/intruder"),
        "the refused object is named: {message}"
    );
    let team_b: Api<ConfigMap> = Api::namespaced(client.clone(), "team-b");
    assert!(
        team_b.get_opt("intruder").await.expect("get").is_none(),
        "nothing applied beyond the account's rights"
    );
    let mine: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
    let applied = mine.get("mine").await.expect("applied as the tenant");
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"kustomize-controller".to_owned()),
        "{managers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sops_encrypted_secrets_are_decrypted_with_the_age_key_and_refused_without_it() {
    let (server, client) = cluster(Config::default()).await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops");
    let read = |name: &str| std::fs::read_to_string(fixtures.join(name)).expect("fixture");
    let repo = TestRepo::new("secure");
    repo.write("secure/secret.enc.yaml", &read("secret.enc.yaml"));
    repo.write("secure/db.enc.env", &read("db.enc.env"));
    repo.write(
        "secure/kustomization.yaml",
        "resources:\n- secret.enc.yaml\nsecretGenerator:\n- name: db\n  namespace: apps\n  envs:\n  - db.enc.env\n",
    );
    repo.commit("encrypted");
    let daemon = GitDaemon::start(repo.base.path());
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "flux-system");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "sops-age"}, "stringData": {"age.agekey": read("age.agekey")}}))
                .expect("secret"),
        )
        .await
        .expect("decryption key");
    apply_flux(
        &client,
        &git_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "secure", "namespace": "flux-system"},
        "spec": {"interval": "10m", "url": daemon.url("secure.git"), "ref": {"branch": "main"}}}),
    )
    .await;
    let kustomization = |name: &str, decryption: Option<Value>| {
        let mut spec = json!({"interval": "10m", "path": "./secure", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "secure"}});
        if let Some(d) = decryption {
            spec["decryption"] = d;
        }
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec})
    };
    // Without decryption configured, the encrypted Secret is refused.
    apply_flux(&client, &ks_resource(), kustomization("plain", None)).await;
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &ks_resource());
    let get = |name: &'static str| {
        let api = kustomizations.clone();
        async move { serde_json::to_value(api.get(name).await.ok()?).ok() }
    };
    let (_, reason, message) = poll("the encrypted Secret refused", || async {
        ready(&get("plain").await?).filter(|(s, r, _)| s == "False" && r != "ArtifactFailed")
    })
    .await;
    assert_eq!(reason, "DecryptionFailed", "{message}");
    assert!(
        message.contains("is SOPS encrypted, configuring decryption is required"),
        "{message}"
    );
    let apps: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "apps");
    assert!(
        apps.get_opt("app-secret").await.expect("get").is_none(),
        "nothing encrypted is applied"
    );

    // With the age key, the Secret and the Secret generated from the dotenv file are
    // applied decrypted.
    apply_flux(
        &client,
        &ks_resource(),
        kustomization(
            "secure",
            Some(json!({"provider": "sops", "secretRef": {"name": "sops-age"}})),
        ),
    )
    .await;
    poll("decrypted and applied", || async {
        ready(&get("secure").await?).filter(|(s, _, _)| s == "True")
    })
    .await;
    let secret = apps.get("app-secret").await.expect("the Secret");
    let value = |s: &k8s_openapi::api::core::v1::Secret, key: &str| {
        s.data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    assert_eq!(value(&secret, "password").as_deref(), Some("hunter2"));
    assert!(secret
        .metadata
        .annotations
        .unwrap_or_default()
        .keys()
        .all(|k| !k.contains("sops")));
    let generated = apps
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .find(|s| {
            s.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("db-"))
        })
        .expect("the generated Secret");
    assert_eq!(value(&generated, "PASSWORD").as_deref(), Some("s3cret"));
    // Decrypted values appear nowhere in status or events.
    let status = get("secure").await.expect("secure")["status"].to_string();
    assert!(!status.contains("hunter2") && !status.contains("s3cret"));
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(client.clone(), "flux-system");
    let all_events = serde_json::to_string(
        &events
            .list(&Default::default())
            .await
            .expect("events")
            .items,
    )
    .expect("json");
    assert!(!all_events.contains("hunter2") && !all_events.contains("s3cret"));
}

/// Regressions of the shared apply module, as a user meets them: an RBAC name with
/// `:` keeps Flux's inventory id (`__`), an object marked `reconcile: disabled` is
/// left alone yet stays owned, `ferroflux build` shows what the controller applies
/// (substituted, without the disabled object), and `deletionPolicy:
/// WaitForTermination` deletes everything even with `prune: false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_apply_rules_inventory_ids_disabled_objects_build_and_wait_for_termination() {
    let (server, client) = cluster(Config::default()).await;
    let repo = TestRepo::new("rules");
    repo.write(
        "app/kustomization.yaml",
        "resources:\n- role.yaml\n- frozen.yaml\n- settings.yaml\n",
    );
    repo.write(
        "app/role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:ferroflux-reader\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n",
    );
    repo.write(
        "app/frozen.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n  annotations:\n    kustomize.toolkit.fluxcd.io/reconcile: disabled\ndata:\n  owner: git\n",
    );
    repo.write(
        "app/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: ${COLOR}\n",
    );
    repo.commit("rules");
    let daemon = GitDaemon::start(repo.base.path());
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");
    // Made by hand before Flux: `reconcile: disabled` in Git must not overwrite it.
    config_maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "frozen"}, "data": {"owner": "hand"}}),
            )
            .expect("configmap"),
        )
        .await
        .expect("create frozen");
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    apply_flux(
        &client,
        &git_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "rules", "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": daemon.url("rules.git"), "ref": {"branch": "main"}}}),
    )
    .await;
    apply_flux(
        &client,
        &ks_resource(),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "rules", "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./app", "prune": false, "targetNamespace": "apps",
                "deletionPolicy": "WaitForTermination", "timeout": "30s",
                "postBuild": {"substitute": {"COLOR": "green"}},
                "sourceRef": {"kind": "GitRepository", "name": "rules"}}}),
    )
    .await;
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &ks_resource());
    let ks = poll("the Kustomization Ready", || async {
        let o = serde_json::to_value(kustomizations.get("rules").await.ok()?).ok()?;
        ready(&o).is_some_and(|(s, _, _)| s == "True").then_some(o)
    })
    .await;
    let mut ids: Vec<&str> = ks
        .pointer("/status/inventory/entries")
        .and_then(Value::as_array)
        .expect("inventory")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "_system__ferroflux-reader_rbac.authorization.k8s.io_ClusterRole",
            "apps_frozen__ConfigMap",
            "apps_settings__ConfigMap",
        ],
        "Flux's ids: `:` as `__` in RBAC names; the skipped object stays in"
    );
    let frozen = config_maps.get("frozen").await.expect("frozen");
    assert_eq!(
        frozen
            .data
            .unwrap_or_default()
            .get("owner")
            .map(String::as_str),
        Some("hand"),
        "a `reconcile: disabled` object is not applied"
    );
    let settings = config_maps.get("settings").await.expect("settings");
    assert_eq!(
        settings
            .data
            .unwrap_or_default()
            .get("color")
            .map(String::as_str),
        Some("green")
    );

    let dir = repo.work.join("app");
    let (ok, out, err) = cli(
        server.kubeconfig_path(),
        &[
            "build",
            "kustomization",
            "rules",
            "-n",
            "flux-system",
            "--path",
            dir.to_str().expect("path"),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("color: green"),
        "build substitutes as the controller does:\n{out}"
    );
    assert!(
        !out.contains("name: frozen"),
        "build leaves out what apply skips:\n{out}"
    );
    assert!(out.contains("name: system:ferroflux-reader"), "{out}");

    // Deleting with WaitForTermination deletes what it applied, prune or not, and
    // only then lets the Kustomization go; what it never applied stays.
    kustomizations
        .delete("rules", &Default::default())
        .await
        .expect("delete");
    poll("the Kustomization gone", || async {
        kustomizations
            .get_opt("rules")
            .await
            .ok()
            .and_then(|o| o.is_none().then_some(()))
    })
    .await;
    assert!(
        config_maps
            .get_opt("settings")
            .await
            .expect("get")
            .is_none(),
        "deleted before the Kustomization went"
    );
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    assert!(roles
        .get_opt("system:ferroflux-reader")
        .await
        .expect("get")
        .is_none());
    assert!(config_maps.get_opt("frozen").await.expect("get").is_some());
}

/// The managed-object watches that make no-op reconciles free and find drift see
/// the objects a HelmRelease applies (helm-controller's owner labels), not only a
/// Kustomization's; and such objects are applied with helm-controller's field manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drift_watch_follows_objects_applied_for_helm_releases() {
    use ferroflux::apply::inventory::{Owner, OwnerKind};
    use ferroflux::apply::{Applier, ObjectRef, Seen};
    let (_server, client) = cluster(Config::default()).await;
    let applier = Applier::new(client.clone()).applying_for(OwnerKind::HelmRelease);
    let mut objects = vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "podinfo", "namespace": "apps"}, "data": {"color": "blue"}})];
    Owner::new(OwnerKind::HelmRelease, "podinfo", "apps").label(&mut objects);
    let r = ObjectRef::of(&objects[0]).expect("ref");
    let (before, opted_out) = applier.before_apply(&r).await.expect("before");
    assert!(!opted_out);
    let (_, version) = applier
        .apply(&objects[0], &before, false)
        .await
        .expect("apply");
    poll("the watch to see the applied state", || async {
        (applier.tracker.seen(&r) == Seen::Version(version.clone())).then_some(())
    })
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");
    let live = config_maps.get("podinfo").await.expect("get");
    let managers: Vec<String> = live
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["helm-controller"]);
    // Somebody edits it: the watch notices without the controller reading it.
    config_maps
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"color": "red"}})),
        )
        .await
        .expect("edit");
    poll("the watch to see the edit", || async {
        matches!(applier.tracker.seen(&r), Seen::Version(v) if v != version).then_some(())
    })
    .await;
    // And `kubectl annotate … reconcile=disabled` is known before the next apply.
    config_maps
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}}})),
        )
        .await
        .expect("annotate");
    poll("the watch to see the opt-out", || async {
        applier.tracker.opted_out(&r).then_some(())
    })
    .await;
}
