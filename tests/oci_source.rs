//! OCIRepository end to end: Debian's docker-registry on loopback behind basic auth,
//! artifacts pushed by `ferroflux push artifact` (Flux's media types and annotations),
//! the embedded API server, and `ferroflux run` as a process. A new tag the semver
//! range picks reaches the Kustomization that uses the OCIRepository; wrong
//! credentials and a missing tag are clear conditions.

#[path = "common/registry.rs"]
mod registry;
#[path = "common/replica.rs"]
mod replica;
#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use std::path::Path;
use std::process::Command;

use ferroflux_apiserver::Config;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use registry::Registry;
use replica::{apply, cli, flux_cluster, ks_resource, poll, ready, ready_with, start_replica};
use serde_json::{json, Value};

fn oci_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "OCIRepository"),
        "ocirepositories",
    )
}

/// An artifact command against the test's registry (its credentials, plain HTTP);
/// what it printed, once it succeeded.
fn artifact_command(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferroflux"))
        .args(args)
        .args(["--creds", "flux:s3cr3t", "--insecure-registry"])
        .output()
        .expect("ferroflux");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `ferroflux push artifact` of `dir` as `url`; the manifest digest it reports.
fn push(url: &str, dir: &Path, revision: &str) -> String {
    let dir = dir.to_str().expect("utf-8 path");
    let stdout = artifact_command(&[
        "push",
        "artifact",
        url,
        "--path",
        dir,
        "--source",
        "https://github.com/example/app",
        "--revision",
        revision,
    ]);
    let shown = url.trim_start_matches("oci://");
    assert!(
        stdout.starts_with(&format!("► pushing artifact to {shown}\n")),
        "{stdout}"
    );
    let pushed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("✔ artifact successfully pushed to "))
        .unwrap_or_else(|| panic!("no success line: {stdout}"));
    pushed.split('@').nth(1).expect("a digest").to_owned()
}

fn settings(dir: &Path, version: &str) {
    std::fs::write(
        dir.join("settings.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  version: \"{version}\"\n"),
    )
    .expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_pushed_to_a_registry_reaches_a_kustomization() {
    let registry = Registry::start("flux", "s3cr3t");
    let url = format!("oci://{}/apps/manifests", registry.host());
    let content = tempfile::tempdir().expect("content");
    settings(content.path(), "1");
    let first = push(&format!("{url}:1.0.0"), content.path(), "main@sha1:1111");

    let (server, client) = flux_cluster(Config::default(), &["flux-system", "apps"]).await;
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "flux-system");
    for (name, password) in [("registry", "s3cr3t"), ("wrong", "guess")] {
        let config =
            json!({"auths": {registry.host(): {"username": "flux", "password": password}}});
        secrets
            .create(
                &Default::default(),
                &serde_json::from_value(json!({"metadata": {"name": name},
                    "type": "kubernetes.io/dockerconfigjson",
                    "stringData": {".dockerconfigjson": config.to_string()}}))
                .expect("secret"),
            )
            .await
            .expect("create the registry secret");
    }
    let repositories: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &oci_resource());
    let repository = |name: &str, reference: Value, secret: &str| {
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "10m", "url": url, "ref": reference, "insecure": true,
                "secretRef": {"name": secret}}})
    };
    apply(
        &repositories,
        repository("manifests", json!({"semver": ">=1.0.0"}), "registry"),
    )
    .await;
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &ks_resource());
    apply(
        &kustomizations,
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./", "prune": true, "targetNamespace": "apps",
                "sourceRef": {"kind": "OCIRepository", "name": "manifests"}}}),
    )
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");
    let version = || async {
        config_maps
            .get_opt("settings")
            .await
            .ok()
            .flatten()
            .and_then(|c| c.data)
            .and_then(|d| d.get("version").cloned())
    };
    poll("version 1 applied", || async {
        (version().await.as_deref() == Some("1")).then_some(())
    })
    .await;
    let source = ready_with(&repositories, "manifests", "True", "Succeeded").await;
    assert_eq!(
        source["status"]["artifact"]["revision"],
        format!("1.0.0@{first}"),
        "Flux's revision: the tag and the manifest digest"
    );
    assert_eq!(
        source["status"]["artifact"]["metadata"]["org.opencontainers.image.revision"],
        "main@sha1:1111"
    );

    // A newer tag in the range is the next revision, applied.
    settings(content.path(), "2");
    let second = push(&format!("{url}:1.1.0"), content.path(), "main@sha1:2222");
    let requested = json!({"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": chrono::Utc::now().to_rfc3339()}}});
    repositories
        .patch(
            "manifests",
            &PatchParams::default(),
            &Patch::Merge(requested),
        )
        .await
        .expect("request a reconcile");
    poll("version 2 applied", || async {
        (version().await.as_deref() == Some("2")).then_some(())
    })
    .await;
    let ks = serde_json::to_value(kustomizations.get("apps").await.expect("ks")).expect("json");
    assert_eq!(
        ks["status"]["lastAppliedRevision"],
        format!("1.1.0@{second}")
    );
    let (ok, table, _) = cli(server.kubeconfig_path(), &["get", "sources", "oci"]);
    assert!(ok, "{table}");
    let short = &second["sha256:".len().."sha256:".len() + 8];
    assert!(table.contains(&format!("1.1.0@sha256:{short}")), "{table}");

    // The rest of the artifact commands, against the same registry.
    let listed = artifact_command(&["list", "artifacts", &url, "--semver", ">=1.1.0"]);
    let rows: Vec<&str> = listed.lines().collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows[0].starts_with("ARTIFACT"), "{listed}");
    for expected in [
        format!("{}:1.1.0", url.trim_start_matches("oci://")),
        second.clone(),
        "https://github.com/example/app".to_owned(),
        "main@sha1:2222".to_owned(),
    ] {
        assert!(rows[1].contains(&expected), "{expected} in {listed}");
    }
    let tagged = artifact_command(&[
        "tag",
        "artifact",
        &format!("{url}:1.0.0"),
        "--tag",
        "stable",
    ]);
    assert!(
        tagged.contains(&format!(
            "✔ artifact tagged as {}:stable",
            url.trim_start_matches("oci://")
        )),
        "{tagged}"
    );
    let pulled_dir = tempfile::tempdir().expect("pull");
    let output = pulled_dir.path().join("out");
    let pulled = artifact_command(&[
        "pull",
        "artifact",
        &format!("{url}:stable"),
        "--output",
        output.to_str().expect("utf-8"),
    ]);
    assert!(
        pulled.contains(&format!("✔ digest {first}")),
        "the tag names the same manifest: {pulled}"
    );
    assert!(pulled.contains("✔ revision main@sha1:1111"), "{pulled}");
    let settings_v1 =
        std::fs::read_to_string(output.join("settings.yaml")).expect("the pulled content");
    assert!(settings_v1.contains("version: \"1\""), "{settings_v1}");
    let tarball = pulled_dir.path().join("artifact.tgz");
    let built = Command::new(env!("CARGO_BIN_EXE_ferroflux"))
        .args(["build", "artifact", "--path"])
        .arg(content.path())
        .arg("--output")
        .arg(&tarball)
        .output()
        .expect("build artifact");
    assert!(built.status.success());
    let mut listing = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&tarball).expect("the tarball"),
    ));
    let names: Vec<String> = listing
        .entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["settings.yaml"]);

    // create source oci, as flux's: exported, then applied and waited for.
    let (ok, exported, _) = cli(
        server.kubeconfig_path(),
        &[
            "create",
            "source",
            "oci",
            "apps",
            "--url",
            &url,
            "--tag-semver",
            "1.x",
            "--secret-ref",
            "registry",
            "--insecure",
            "--interval",
            "10m",
            "--export",
        ],
    );
    assert!(ok, "{exported}");
    assert_eq!(
        exported.trim_end(),
        format!("---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  insecure: true\n  interval: 10m0s\n  ref:\n    semver: 1.x\n  secretRef:\n    name: registry\n  url: {url}")
    );
    let (ok, created, err) = cli(
        server.kubeconfig_path(),
        &[
            "create",
            "source",
            "oci",
            "apps",
            "--url",
            &url,
            "--tag-semver",
            "1.x",
            "--secret-ref",
            "registry",
            "--insecure",
        ],
    );
    assert!(ok, "{created}{err}");
    assert!(
        created.ends_with(&format!("✔ fetched revision: 1.1.0@{second}\n")),
        "{created}"
    );

    // Wrong credentials and a tag that is not there: clear conditions.
    apply(
        &repositories,
        repository("denied", json!({"tag": "1.0.0"}), "wrong"),
    )
    .await;
    let denied = ready_with(&repositories, "denied", "False", "AuthenticationFailed").await;
    assert!(
        ready(&denied).is_some_and(|(_, _, m)| m.contains("401")),
        "{}",
        denied["status"]
    );
    apply(
        &repositories,
        repository("missing", json!({"tag": "9.9.9"}), "registry"),
    )
    .await;
    let missing = ready_with(&repositories, "missing", "False", "OCIArtifactPullFailed").await;
    assert!(
        ready(&missing).is_some_and(|(_, _, m)| m.contains(":9.9.9")),
        "{}",
        missing["status"]
    );
}
