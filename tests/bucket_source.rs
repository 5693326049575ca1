//! Bucket end to end: moto's S3 server on loopback checking SigV4 signatures,
//! objects put with boto3 (AWS's SDK), the embedded API server, and `ferroflux run`
//! as a process. The revision is Flux's digest of the object index, the artifact
//! holds the prefix's objects minus the ignored ones, a change downloads only the
//! changed objects and reaches the Kustomization, bad credentials and a missing
//! bucket are clear conditions, and a HelmChart packages a chart from a bucket.

#[path = "common/replica.rs"]
mod replica;
#[path = "common/s3.rs"]
mod s3;
#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use std::collections::BTreeMap;

use ferroflux_apiserver::Config;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use replica::{apply, cli, flux_cluster, ks_resource, poll, ready, ready_with, start_replica};
use s3::S3Server;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const BUCKET: &str = "flux-bucket";

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind),
        plural,
    )
}

fn config_map(name: &str, version: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  version: \"{version}\"\n")
}

/// Flux's revision of an index, computed here from the ETags boto3 reported.
fn index_digest(index: &BTreeMap<&str, String>) -> String {
    let mut hasher = Sha256::new();
    for (key, etag) in index {
        hasher.update(format!("{key} {etag}\n"));
    }
    format!("sha256:{:x}", hasher.finalize())
}

/// The file names in a stored artifact.
fn artifact_files(storage: &std::path::Path, object: &Value) -> Vec<String> {
    let path = object["status"]["artifact"]["path"].as_str().expect("path");
    let file = std::fs::File::open(storage.join(path)).expect("the stored artifact");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut names: Vec<String> = archive
        .entries()
        .expect("entries")
        .filter_map(|e| {
            let e = e.expect("entry");
            e.header()
                .entry_type()
                .is_file()
                .then(|| e.path().expect("path").display().to_string())
        })
        .collect();
    names.sort();
    names
}

async fn request_reconcile(api: &Api<DynamicObject>, name: &str) {
    let requested = json!({"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": chrono::Utc::now().to_rfc3339()}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(requested))
        .await
        .expect("request a reconcile");
}

/// The object once it has handled the reconcile requested last.
async fn handled(api: &Api<DynamicObject>, name: &str) -> Value {
    poll(&format!("{name} handles the request"), || async {
        let o = serde_json::to_value(api.get(name).await.ok()?).ok()?;
        let asked = o.pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")?;
        (o.pointer("/status/lastHandledReconcileAt") == Some(asked)).then_some(o)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_is_indexed_fetched_by_change_and_applied() {
    let s3 = S3Server::start();
    s3.admin(&[json!({"op": "create_bucket", "bucket": BUCKET})]);
    let mut etags: BTreeMap<&str, String> = BTreeMap::new();
    s3.put(BUCKET, ".sourceignore", "*.md\n");
    etags.insert(
        "apps/settings.yaml",
        s3.put(BUCKET, "apps/settings.yaml", &config_map("settings", "1")),
    );
    etags.insert(
        "apps/stable.yaml",
        s3.put(BUCKET, "apps/stable.yaml", &config_map("stable", "1")),
    );
    // Left out: by the bucket's .sourceignore, by spec.ignore, by the prefix.
    s3.put(BUCKET, "apps/README.md", "# not a manifest\n");
    s3.put(BUCKET, "apps/notes.txt", "not a manifest\n");
    s3.put(
        BUCKET,
        "other/elsewhere.yaml",
        &config_map("elsewhere", "1"),
    );

    let (server, client) = flux_cluster(Config::default(), &["flux-system", "apps"]).await;
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "flux-system");
    for (name, secret_key) in [("s3-keys", s3.secret_key.as_str()), ("wrong", "guess")] {
        secrets
            .create(
                &Default::default(),
                &serde_json::from_value(json!({"metadata": {"name": name},
                    "stringData": {"accesskey": s3.access_key, "secretkey": secret_key}}))
                .expect("secret"),
            )
            .await
            .expect("create the credentials");
    }
    let buckets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("Bucket", "buckets"),
    );
    let bucket = |name: &str, bucket_name: &str, secret: &str| {
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "10m", "provider": "generic", "bucketName": bucket_name,
                "endpoint": s3.endpoint(), "insecure": true, "prefix": "apps/",
                "ignore": "*.txt", "secretRef": {"name": secret}}})
    };
    apply(&buckets, bucket("manifests", BUCKET, "s3-keys")).await;
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &ks_resource());
    apply(
        &kustomizations,
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./apps", "prune": true, "targetNamespace": "apps",
                "sourceRef": {"kind": "Bucket", "name": "manifests"}}}),
    )
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");
    let version = |name: &'static str| {
        let config_maps = config_maps.clone();
        async move {
            config_maps
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .and_then(|c| c.data)
                .and_then(|d| d.get("version").cloned())
        }
    };
    poll("settings 1 applied", || async {
        (version("settings").await.as_deref() == Some("1")).then_some(())
    })
    .await;
    let source = ready_with(&buckets, "manifests", "True", "Succeeded").await;
    let revision = index_digest(&etags);
    assert_eq!(source["status"]["artifact"]["revision"], revision);
    assert_eq!(
        ready(&source).expect("ready").2,
        format!("stored artifact: revision '{revision}'")
    );
    assert_eq!(
        artifact_files(storage.path(), &source),
        ["apps/settings.yaml", "apps/stable.yaml"]
    );
    assert!(
        source["status"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/bucket/flux-system/manifests/latest.tar.gz")),
        "{}",
        source["status"]
    );

    // One object changes and one is added: only those two are downloaded again.
    etags.insert(
        "apps/settings.yaml",
        s3.put(BUCKET, "apps/settings.yaml", &config_map("settings", "2")),
    );
    etags.insert(
        "apps/extra.yaml",
        s3.put(BUCKET, "apps/extra.yaml", &config_map("extra", "1")),
    );
    request_reconcile(&buckets, "manifests").await;
    poll("settings 2 and extra applied", || async {
        (version("settings").await.as_deref() == Some("2")
            && version("extra").await.as_deref() == Some("1"))
        .then_some(())
    })
    .await;
    let source = handled(&buckets, "manifests").await;
    assert_eq!(
        source["status"]["artifact"]["revision"],
        index_digest(&etags)
    );
    assert_eq!(s3.downloads(BUCKET, "apps/settings.yaml"), 2);
    assert_eq!(s3.downloads(BUCKET, "apps/extra.yaml"), 1);
    assert_eq!(
        s3.downloads(BUCKET, "apps/stable.yaml"),
        1,
        "an unchanged object is not downloaded again"
    );
    // A removed object leaves the artifact and, pruned, the cluster.
    s3.admin(&[json!({"op": "delete", "bucket": BUCKET, "key": "apps/extra.yaml"})]);
    request_reconcile(&buckets, "manifests").await;
    poll("extra pruned", || async {
        version("extra").await.is_none().then_some(())
    })
    .await;
    let source = handled(&buckets, "manifests").await;
    assert_eq!(
        artifact_files(storage.path(), &source),
        ["apps/settings.yaml", "apps/stable.yaml"]
    );
    // Nothing new: nothing downloaded.
    request_reconcile(&buckets, "manifests").await;
    handled(&buckets, "manifests").await;
    assert_eq!(s3.downloads(BUCKET, "apps/settings.yaml"), 2);

    // The wrong secret key is refused by the server's signature check; the right
    // one recovers.
    apply(&buckets, bucket("denied", BUCKET, "wrong")).await;
    let denied = ready_with(&buckets, "denied", "False", "BucketOperationFailed").await;
    let message = ready(&denied).expect("ready").2;
    assert!(
        message.starts_with(&format!(
            "failed to confirm existence of '{BUCKET}' bucket: "
        )),
        "{message}"
    );
    assert!(
        !message.contains("guess"),
        "no secret in a condition: {message}"
    );
    apply(&buckets, bucket("denied", BUCKET, "s3-keys")).await;
    ready_with(&buckets, "denied", "True", "Succeeded").await;
    apply(&buckets, bucket("missing", "no-such-bucket", "s3-keys")).await;
    let missing = ready_with(&buckets, "missing", "False", "BucketOperationFailed").await;
    assert_eq!(
        ready(&missing).expect("ready").2,
        "failed to confirm existence of 'no-such-bucket' bucket: bucket 'no-such-bucket' not found"
    );
    let mut no_keys = bucket("nokeys", BUCKET, "s3-keys");
    no_keys["spec"]["secretRef"] = json!({"name": "absent"});
    apply(&buckets, no_keys).await;
    let no_keys = ready_with(&buckets, "nokeys", "False", "AuthenticationFailed").await;
    assert!(
        ready(&no_keys)
            .is_some_and(|(_, _, m)| m.starts_with("failed to get secret 'flux-system/absent'")),
        "{}",
        no_keys["status"]
    );

    // create source bucket, as flux's: exported, then applied (the keys in a Secret
    // named after the Bucket) and waited for; get sources bucket lists it.
    let endpoint = s3.endpoint();
    let create = |export: bool| {
        let mut args = vec![
            "create",
            "source",
            "bucket",
            "cli",
            "--bucket-name",
            BUCKET,
            "--endpoint",
            endpoint.as_str(),
            "--insecure",
            "--interval",
            "10m",
            "--access-key",
            s3.access_key.as_str(),
            "--secret-key",
            s3.secret_key.as_str(),
        ];
        if export {
            args.push("--export");
        }
        cli(server.kubeconfig_path(), &args)
    };
    let (ok, exported, err) = create(true);
    assert!(ok, "{exported}{err}");
    assert_eq!(
        exported.trim_end(),
        format!("---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: Bucket\nmetadata:\n  name: cli\n  namespace: flux-system\nspec:\n  bucketName: {BUCKET}\n  endpoint: {endpoint}\n  insecure: true\n  interval: 10m0s\n  provider: generic")
    );
    let (ok, created, err) = create(false);
    assert!(ok, "{created}{err}");
    assert!(
        created.contains("✔ authentication configured\n"),
        "{created}"
    );
    assert!(created.contains("✔ fetched revision: sha256:"), "{created}");
    let stored = secrets.get("cli").await.expect("the Secret of the keys");
    assert!(stored
        .data
        .is_some_and(|d| d.contains_key("accesskey") && d.contains_key("secretkey")));
    let (ok, table, _) = cli(server.kubeconfig_path(), &["get", "sources", "bucket"]);
    assert!(ok, "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("cli ") && l.contains("True")),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_chart_is_packaged_from_a_bucket() {
    let chart =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/charts/podinfo");
    assert!(chart.is_dir(), "the corpus is missing: {}", chart.display());
    let s3 = S3Server::start();
    s3.admin(&[
        json!({"op": "create_bucket", "bucket": BUCKET}),
        json!({"op": "put_dir", "bucket": BUCKET, "prefix": "charts/podinfo/", "dir": chart}),
    ]);
    let (server, client) = flux_cluster(Config::default(), &["flux-system"]).await;
    let storage = tempfile::tempdir().expect("storage");
    let _replica = start_replica(server.kubeconfig_path(), storage.path());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "flux-system");
    secrets
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "s3-keys"},
                "stringData": {"accesskey": s3.access_key, "secretkey": s3.secret_key}}))
            .expect("secret"),
        )
        .await
        .expect("create the credentials");
    let buckets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("Bucket", "buckets"),
    );
    apply(
        &buckets,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
            "metadata": {"name": "charts", "namespace": "flux-system"},
            "spec": {"interval": "10m", "bucketName": BUCKET, "endpoint": s3.endpoint(),
                "insecure": true, "secretRef": {"name": "s3-keys"}}}),
    )
    .await;
    let charts: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource("HelmChart", "helmcharts"),
    );
    apply(
        &charts,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"chart": "charts/podinfo", "interval": "10m",
                "sourceRef": {"kind": "Bucket", "name": "charts"}}}),
    )
    .await;
    let packaged = ready_with(&charts, "podinfo", "True", "ChartPackageSucceeded").await;
    assert_eq!(packaged["status"]["artifact"]["revision"], "6.14.1");
    let bucket = serde_json::to_value(buckets.get("charts").await.expect("bucket")).expect("json");
    assert_eq!(
        packaged["status"]["observedSourceArtifactRevision"],
        bucket["status"]["artifact"]["revision"]
    );
}
