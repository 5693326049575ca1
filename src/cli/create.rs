//! `create source helm|oci` and `create helmrelease`: Flux objects from flags, as the
//! flux CLI makes them: printed with `--export` (YAML to commit), or applied and
//! waited for.

use std::time::Duration;

use anyhow::{bail, Context as _};
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use crate::cli::flux::{self, GlobalArgs};
use crate::controllers::kustomization::spec_check::format_go_duration;

#[derive(Debug, clap::Args)]
pub struct HelmRepositoryArgs {
    /// The name of the HelmRepository.
    name: String,
    /// The repository's address: http(s):// index or oci:// registry.
    #[arg(long)]
    url: Option<String>,
    /// How often the index is downloaded.
    #[arg(long, default_value = "1m", value_parser = flux::parse_duration_arg)]
    interval: Duration,
    /// A Secret in the namespace with `username`/`password` (and TLS keys).
    #[arg(long)]
    secret_ref: Option<String>,
    /// Send the credentials to hosts other than the repository's.
    #[arg(long)]
    pass_credentials: bool,
    /// The download timeout.
    #[arg(long, value_parser = flux::parse_duration_arg)]
    fetch_timeout: Option<Duration>,
    /// The OIDC provider of an OCI registry (generic, aws, azure, gcp).
    #[arg(long)]
    oci_provider: Option<String>,
    /// Print the HelmRepository as YAML instead of applying it.
    #[arg(long)]
    export: bool,
}

/// The HelmRepository the flags describe, or the flux CLI's complaint about the URL.
pub fn helm_repository(args: &HelmRepositoryArgs, namespace: &str) -> anyhow::Result<Value> {
    let Some(url) = args.url.as_deref().filter(|u| !u.is_empty()) else {
        bail!("url is required");
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("url parse failed: {e}"))?;
    let scheme = parsed.scheme();
    if !["http", "https", "oci"].contains(&scheme) {
        bail!("url scheme '{scheme}' not supported, can be: http, https and oci");
    }
    if parsed.host_str().unwrap_or_default().is_empty() {
        bail!("url host is required");
    }
    // Keys in the order sigs.k8s.io/yaml prints them (sorted), as flux's export.
    let mut spec = serde_json::Map::new();
    spec.insert("interval".into(), json!(format_go_duration(args.interval)));
    if let Some(secret) = &args.secret_ref {
        if args.pass_credentials {
            spec.insert("passCredentials".into(), json!(true));
        }
        spec.insert("secretRef".into(), json!({ "name": secret }));
    }
    if let Some(timeout) = args.fetch_timeout {
        spec.insert("timeout".into(), json!(format_go_duration(timeout)));
    }
    if scheme == "oci" {
        if let Some(provider) = args.oci_provider.as_deref().filter(|p| !p.is_empty()) {
            spec.insert("provider".into(), json!(provider));
        }
        spec.insert("type".into(), json!("oci"));
    }
    spec.insert("url".into(), json!(url));
    let mut sorted: Vec<(String, Value)> = spec.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": args.name, "namespace": namespace},
        "spec": Value::Object(sorted.into_iter().collect()),
    }))
}

/// The object as `--export` prints it.
pub fn export_yaml(object: &Value) -> String {
    let text = ferroflux_helm::yaml::from_json(&object.to_string())
        .and_then(|value| ferroflux_helm::goyaml::marshal(&value))
        .unwrap_or_default();
    format!("---\n{}", text.trim_end())
}

pub async fn source_helm(global: &GlobalArgs, args: &HelmRepositoryArgs) -> anyhow::Result<()> {
    let object = helm_repository(args, &global.namespace)?;
    // An OCI HelmRepository has no status to wait for (Flux's static object).
    let wait = object.pointer("/spec/type") != Some(&json!("oci"));
    create_source(
        global,
        &flux::HELM_REPOSITORY,
        &object,
        None,
        args.export,
        wait,
    )
    .await
}

#[derive(Debug, clap::Args)]
pub struct OciRepositoryArgs {
    /// The name of the OCIRepository.
    name: String,
    /// The repository, oci://HOST/REPOSITORY.
    #[arg(long)]
    url: Option<String>,
    /// The tag to pull.
    #[arg(long)]
    tag: Option<String>,
    /// The semver range the pulled tag must be in (the highest is pulled).
    #[arg(long = "tag-semver")]
    tag_semver: Option<String>,
    /// The manifest digest to pull.
    #[arg(long)]
    digest: Option<String>,
    /// How often the registry is asked.
    #[arg(long, default_value = "1m", value_parser = flux::parse_duration_arg)]
    interval: Duration,
    /// A Secret in the namespace with the registry credentials (dockerconfigjson).
    #[arg(long)]
    secret_ref: Option<String>,
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    insecure: bool,
    /// Paths to leave out of the artifact, in .gitignore format, comma separated.
    #[arg(long = "ignore-paths", value_delimiter = ',')]
    ignore_paths: Vec<String>,
    /// Print the OCIRepository as YAML instead of applying it.
    #[arg(long)]
    export: bool,
}

/// The OCIRepository the flags describe.
pub fn oci_repository(args: &OciRepositoryArgs, namespace: &str) -> anyhow::Result<Value> {
    let Some(url) = args.url.as_deref().filter(|u| !u.is_empty()) else {
        bail!("url is required");
    };
    crate::source::oci::split_url(url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut reference = serde_json::Map::new();
    for (key, value) in [
        ("digest", &args.digest),
        ("semver", &args.tag_semver),
        ("tag", &args.tag),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            reference.insert(key.into(), json!(value));
        }
    }
    if reference.is_empty() {
        bail!("one of --tag, --tag-semver or --digest is required");
    }
    // Keys in the order sigs.k8s.io/yaml prints them (sorted), as flux's export.
    let mut spec = serde_json::Map::new();
    if !args.ignore_paths.is_empty() {
        spec.insert("ignore".into(), json!(args.ignore_paths.join("\n")));
    }
    if args.insecure {
        spec.insert("insecure".into(), json!(true));
    }
    spec.insert("interval".into(), json!(format_go_duration(args.interval)));
    spec.insert("ref".into(), Value::Object(reference));
    if let Some(secret) = &args.secret_ref {
        spec.insert("secretRef".into(), json!({ "name": secret }));
    }
    spec.insert("url".into(), json!(url));
    Ok(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": args.name, "namespace": namespace},
        "spec": Value::Object(spec),
    }))
}

pub async fn source_oci(global: &GlobalArgs, args: &OciRepositoryArgs) -> anyhow::Result<()> {
    let object = oci_repository(args, &global.namespace)?;
    create_source(
        global,
        &flux::OCI_REPOSITORY,
        &object,
        None,
        args.export,
        true,
    )
    .await
}

#[derive(Debug, clap::Args)]
pub struct BucketArgs {
    /// The name of the Bucket.
    name: String,
    /// The S3 API: generic (any S3-compatible storage), aws, gcp or azure.
    #[arg(long, default_value = "generic",
          value_parser = ["generic", "aws", "gcp", "azure"])]
    provider: String,
    /// The name of the bucket.
    #[arg(long = "bucket-name")]
    bucket_name: Option<String>,
    /// The object storage endpoint, host[:port].
    #[arg(long)]
    endpoint: Option<String>,
    /// The bucket's region.
    #[arg(long)]
    region: Option<String>,
    /// Talk plain HTTP to the endpoint.
    #[arg(long)]
    insecure: bool,
    /// The access key; with --secret-key, stored in a Secret named after the Bucket.
    #[arg(long = "access-key")]
    access_key: Option<String>,
    /// The secret key (see --access-key).
    #[arg(long = "secret-key")]
    secret_key: Option<String>,
    /// A Secret in the namespace with `accesskey` and `secretkey`.
    #[arg(long)]
    secret_ref: Option<String>,
    /// Paths to leave out of the artifact, in .gitignore format, comma separated.
    #[arg(long = "ignore-paths", value_delimiter = ',')]
    ignore_paths: Vec<String>,
    /// How often the bucket is listed.
    #[arg(long, default_value = "1m", value_parser = flux::parse_duration_arg)]
    interval: Duration,
    /// Print the Bucket as YAML instead of applying it.
    #[arg(long)]
    export: bool,
}

/// The Bucket the flags describe.
pub fn bucket(args: &BucketArgs, namespace: &str) -> anyhow::Result<Value> {
    let Some(bucket_name) = args.bucket_name.as_deref().filter(|b| !b.is_empty()) else {
        bail!("bucket-name is required");
    };
    let Some(endpoint) = args.endpoint.as_deref().filter(|e| !e.is_empty()) else {
        bail!("endpoint is required");
    };
    // Keys in the order sigs.k8s.io/yaml prints them (sorted), as flux's export.
    let mut spec = serde_json::Map::new();
    spec.insert("bucketName".into(), json!(bucket_name));
    spec.insert("endpoint".into(), json!(endpoint));
    if !args.ignore_paths.is_empty() {
        spec.insert("ignore".into(), json!(args.ignore_paths.join("\n")));
    }
    if args.insecure {
        spec.insert("insecure".into(), json!(true));
    }
    spec.insert("interval".into(), json!(format_go_duration(args.interval)));
    spec.insert("provider".into(), json!(args.provider));
    if let Some(region) = args.region.as_deref().filter(|r| !r.is_empty()) {
        spec.insert("region".into(), json!(region));
    }
    if let Some(secret) = &args.secret_ref {
        spec.insert("secretRef".into(), json!({ "name": secret }));
    }
    Ok(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "Bucket",
        "metadata": {"name": args.name, "namespace": namespace},
        "spec": Value::Object(spec),
    }))
}

pub async fn source_bucket(global: &GlobalArgs, args: &BucketArgs) -> anyhow::Result<()> {
    let mut object = bucket(args, &global.namespace)?;
    // As flux does: keys given on the command line go into a Secret named after
    // the Bucket, which the Bucket then names (--export prints the Bucket only).
    let secret = match (&args.secret_ref, &args.access_key, &args.secret_key) {
        (None, Some(access), Some(secret)) if !args.export => Some(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": args.name, "namespace": global.namespace},
            "stringData": {"accesskey": access, "secretkey": secret},
        })),
        _ => None,
    };
    if secret.is_some() {
        object["spec"]["secretRef"] = json!({ "name": args.name });
    }
    create_source(
        global,
        &flux::BUCKET,
        &object,
        secret.as_ref(),
        args.export,
        true,
    )
    .await
}

/// Prints (`export`) or applies a source and, with `wait`, waits until it has an
/// artifact, with the flux CLI's progress lines.
async fn create_source(
    global: &GlobalArgs,
    kind: &flux::FluxKind,
    object: &Value,
    credentials: Option<&Value>,
    export: bool,
    wait: bool,
) -> anyhow::Result<()> {
    if export {
        println!("{}", export_yaml(object));
        return Ok(());
    }
    let display = kind.display;
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    println!("✚ generating {display} source");
    let client = flux::client(global).await?;
    if let Some(secret) = credentials {
        println!(
            "► applying secret with the {} credentials",
            display.to_lowercase()
        );
        let secrets: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
            client.clone(),
            &global.namespace,
            &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        );
        apply_object(
            &secrets,
            secret["metadata"]["name"].as_str().unwrap_or_default(),
            secret,
        )
        .await?;
        println!("✔ authentication configured");
    }
    let api = flux::api(&client, kind, Some(&global.namespace));
    println!("► applying {display} source");
    let (existed, generation) = apply_object(&api, name, object).await?;
    println!("✔ source {}", if existed { "updated" } else { "created" });
    if !wait {
        return Ok(());
    }
    println!("◎ waiting for {display} source reconciliation");
    let revision = wait_ready(global, &api, name, generation, "/status/artifact/revision")
        .await
        .map_err(|e| match e {
            WaitError::Failed(message) => anyhow::anyhow!("{message}"),
            WaitError::Timeout => {
                anyhow::anyhow!("timeout waiting for {display} source reconciliation")
            }
            WaitError::Other(e) => e,
        })?;
    println!("✔ {display} source reconciliation completed");
    let Some(revision) = revision else {
        bail!("{display} source reconciliation completed but no artifact was found");
    };
    println!("✔ fetched revision: {revision}");
    Ok(())
}

/// Applies `object` as the flux CLI does (its field manager, conflicts forced):
/// whether it existed before, and its generation now.
async fn apply_object(
    api: &kube::Api<kube::api::DynamicObject>,
    name: &str,
    object: &Value,
) -> anyhow::Result<(bool, Option<i64>)> {
    let existed = api.get_opt(name).await?.is_some();
    let applied = api
        .patch(
            name,
            &PatchParams::apply("flux-client-side-apply").force(),
            &Patch::Apply(object),
        )
        .await
        .with_context(|| {
            format!(
                "applying {}",
                object["kind"].as_str().unwrap_or("the object")
            )
        })?;
    Ok((existed, applied.metadata.generation))
}

enum WaitError {
    Failed(String),
    Timeout,
    Other(anyhow::Error),
}

/// Waits until the object is Ready at `generation`: its revision (at `revision`),
/// or why not.
async fn wait_ready(
    global: &GlobalArgs,
    api: &kube::Api<kube::api::DynamicObject>,
    name: &str,
    generation: Option<i64>,
    revision: &str,
) -> Result<Option<String>, WaitError> {
    let deadline = tokio::time::Instant::now() + global.timeout;
    loop {
        let current = api
            .get(name)
            .await
            .map_err(|e| WaitError::Other(e.into()))
            .and_then(|o| serde_json::to_value(o).map_err(|e| WaitError::Other(e.into())))?;
        let observed = current
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        let ready = current
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .cloned();
        if let Some(ready) = ready.filter(|_| observed == generation) {
            match ready["status"].as_str() {
                Some("True") => {
                    return Ok(current
                        .pointer(revision)
                        .and_then(Value::as_str)
                        .map(str::to_owned))
                }
                Some("False") => {
                    return Err(WaitError::Failed(
                        ready["message"].as_str().unwrap_or("not ready").to_owned(),
                    ))
                }
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(WaitError::Timeout);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[derive(Debug, clap::Args)]
pub struct HelmReleaseArgs {
    /// The name of the HelmRelease.
    name: String,
    /// The chart's source: `HelmRepository/NAME`, `GitRepository/NAME` or
    /// `Bucket/NAME`, optionally `.NAMESPACE`.
    #[arg(long)]
    source: Option<String>,
    /// The chart's name (in a repository) or path (in Git).
    #[arg(long)]
    chart: Option<String>,
    /// A semver range of chart versions.
    #[arg(long)]
    chart_version: Option<String>,
    /// The namespace the release's objects go to.
    #[arg(long)]
    target_namespace: Option<String>,
    /// Create the target namespace if missing.
    #[arg(long)]
    create_target_namespace: bool,
    /// The Helm release name (default: TARGET_NAMESPACE-NAME or NAME).
    #[arg(long)]
    release_name: Option<String>,
    /// Where Helm keeps the release records.
    #[arg(long)]
    storage_namespace: Option<String>,
    /// Values files, merged in order.
    #[arg(long = "values")]
    values: Vec<std::path::PathBuf>,
    /// `Kind/name` of a ConfigMap or Secret with values (key values.yaml).
    #[arg(long)]
    values_from: Vec<String>,
    /// HelmReleases this one waits for, as `NAME` or `NAMESPACE/NAME`.
    #[arg(long)]
    depends_on: Vec<String>,
    /// The service account to act as.
    #[arg(long)]
    service_account: Option<String>,
    /// CRD policy on install and upgrade: Skip, Create, CreateReplace.
    #[arg(long)]
    crds: Option<String>,
    /// How the chart is re-fetched: ChartVersion or Revision.
    #[arg(long, default_value = "ChartVersion")]
    reconcile_strategy: String,
    #[arg(long, default_value = "1m", value_parser = flux::parse_duration_arg)]
    interval: Duration,
    /// Print the HelmRelease as YAML instead of applying it.
    #[arg(long)]
    export: bool,
}

/// The HelmRelease the flags describe, or the flux CLI's complaint.
pub fn helm_release(args: &HelmReleaseArgs, namespace: &str) -> anyhow::Result<Value> {
    let Some(chart) = args.chart.as_deref().filter(|c| !c.is_empty()) else {
        bail!("chart name or path is required");
    };
    let Some(source) = args.source.as_deref().filter(|s| !s.is_empty()) else {
        bail!("source is required");
    };
    let (kind, rest) = source.split_once('/').ok_or_else(|| {
        anyhow::anyhow!("invalid source '{source}', must be in format <kind>/<name>")
    })?;
    let kinds = ["HelmRepository", "GitRepository", "Bucket"];
    let Some(kind) = kinds.iter().find(|k| k.eq_ignore_ascii_case(kind)) else {
        bail!(
            "source kind '{kind}' is not supported, must be one of: {}",
            kinds.join(", ")
        );
    };
    let (source_name, source_namespace) = match rest.split_once('.') {
        Some((name, ns)) => (name, Some(ns)),
        None => (rest, None),
    };
    let mut source_ref = json!({"kind": kind, "name": source_name});
    if let Some(ns) = source_namespace {
        source_ref["namespace"] = json!(ns);
    }
    let mut chart_spec = json!({"chart": chart, "reconcileStrategy": args.reconcile_strategy, "sourceRef": source_ref});
    if let Some(version) = &args.chart_version {
        chart_spec["version"] = json!(version);
    }
    let mut spec = serde_json::Map::new();
    spec.insert("chart".into(), json!({"spec": chart_spec}));
    if !args.depends_on.is_empty() {
        let deps: Vec<Value> = args
            .depends_on
            .iter()
            .map(|d| match d.split_once('/') {
                Some((ns, name)) => json!({"name": name, "namespace": ns}),
                None => json!({"name": d}),
            })
            .collect();
        spec.insert("dependsOn".into(), json!(deps));
    }
    if args.create_target_namespace || args.crds.is_some() {
        let mut install = serde_json::Map::new();
        if args.create_target_namespace {
            install.insert("createNamespace".into(), json!(true));
        }
        if let Some(crds) = &args.crds {
            install.insert("crds".into(), json!(crds));
            spec.insert("upgrade".into(), json!({"crds": crds}));
        }
        spec.insert("install".into(), Value::Object(install));
    }
    spec.insert("interval".into(), json!(format_go_duration(args.interval)));
    if let Some(release) = &args.release_name {
        spec.insert("releaseName".into(), json!(release));
    }
    if let Some(account) = &args.service_account {
        spec.insert("serviceAccountName".into(), json!(account));
    }
    if let Some(storage) = &args.storage_namespace {
        spec.insert("storageNamespace".into(), json!(storage));
    }
    if let Some(target) = &args.target_namespace {
        spec.insert("targetNamespace".into(), json!(target));
    }
    if !args.values.is_empty() {
        let mut values = std::collections::BTreeMap::new();
        for path in &args.values {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading values from {}", path.display()))?;
            let parsed = ferroflux_helm::package::read_values(&text).map_err(|e| {
                anyhow::anyhow!("unable to parse values from {}: {e}", path.display())
            })?;
            values = ferroflux_helm::package::merge_maps(
                &values,
                &ferroflux_gotemplate::Value::map(parsed),
            );
        }
        spec.insert(
            "values".into(),
            ferroflux_helm::storage::to_json(&ferroflux_gotemplate::Value::map(values)),
        );
    }
    if !args.values_from.is_empty() {
        let mut refs = Vec::new();
        for reference in &args.values_from {
            let Some((kind, name)) = reference.split_once('/') else {
                bail!("invalid values-from '{reference}', must be in format <kind>/<name>");
            };
            let kind = match kind.to_ascii_lowercase().as_str() {
                "configmap" => "ConfigMap",
                "secret" => "Secret",
                _ => bail!(
                    "values-from kind '{kind}' is not supported, must be one of: ConfigMap, Secret"
                ),
            };
            refs.push(json!({"kind": kind, "name": name}));
        }
        spec.insert("valuesFrom".into(), json!(refs));
    }
    Ok(json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": args.name, "namespace": namespace},
        "spec": Value::Object(spec),
    }))
}

/// `create helmrelease NAME …`.
pub async fn helmrelease(global: &GlobalArgs, args: &HelmReleaseArgs) -> anyhow::Result<()> {
    let object = helm_release(args, &global.namespace)?;
    if args.export {
        println!("{}", export_yaml(&object));
        return Ok(());
    }
    println!("✚ generating HelmRelease");
    let client = flux::client(global).await?;
    let api = flux::api(&client, &flux::HELM_RELEASE, Some(&global.namespace));
    println!("► applying HelmRelease");
    let (existed, generation) = apply_object(&api, &args.name, &object).await?;
    println!(
        "✔ HelmRelease {}",
        if existed { "updated" } else { "created" }
    );
    println!("◎ waiting for HelmRelease reconciliation");
    let revision = wait_ready(
        global,
        &api,
        &args.name,
        generation,
        flux::HELM_RELEASE.revision,
    )
    .await
    .map_err(|e| match e {
        WaitError::Failed(message) => {
            anyhow::anyhow!("HelmRelease reconciliation failed: {message}")
        }
        WaitError::Timeout => anyhow::anyhow!("timeout waiting for HelmRelease reconciliation"),
        WaitError::Other(e) => e,
    })?;
    println!("✔ HelmRelease {} is ready", args.name);
    if let Some(revision) = revision {
        println!("✔ applied revision {revision}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: HelmRepositoryArgs,
    }

    #[derive(clap::Parser)]
    struct ReleaseWrapper {
        #[command(flatten)]
        args: HelmReleaseArgs,
    }

    fn exported_release(argv: &[&str]) -> anyhow::Result<String> {
        let mut full = vec!["create"];
        full.extend_from_slice(argv);
        let wrapper = ReleaseWrapper::try_parse_from(full).expect("flags parse");
        helm_release(&wrapper.args, "flux-system").map(|o| export_yaml(&o))
    }

    #[test]
    fn helm_releases_export_as_the_flux_cli_prints_them() {
        assert_eq!(
            exported_release(&[
                "podinfo",
                "--source=HelmRepository/podinfo",
                "--chart=podinfo",
                "--chart-version=>4.0.0",
                "--target-namespace=apps",
                "--export"
            ])
            .unwrap(),
            "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  chart:\n    spec:\n      chart: podinfo\n      reconcileStrategy: ChartVersion\n      sourceRef:\n        kind: HelmRepository\n        name: podinfo\n      version: '>4.0.0'\n  interval: 1m0s\n  targetNamespace: apps"
        );
        assert_eq!(
            exported_release(&["podinfo", "--chart=podinfo"])
                .unwrap_err()
                .to_string(),
            "source is required"
        );
        assert_eq!(
            exported_release(&["podinfo", "--chart=podinfo", "--source=OCIRepository/x"])
                .unwrap_err()
                .to_string(),
            "source kind 'OCIRepository' is not supported, must be one of: HelmRepository, GitRepository, Bucket"
        );
    }

    fn exported(argv: &[&str]) -> anyhow::Result<String> {
        let mut full = vec!["create"];
        full.extend_from_slice(argv);
        let wrapper = Wrapper::try_parse_from(full).expect("flags parse");
        helm_repository(&wrapper.args, "flux-system").map(|o| export_yaml(&o))
    }

    #[test]
    fn exports_read_as_the_flux_cli_goldens() {
        assert_eq!(
            exported(&[
                "podinfo",
                "--url=https://stefanprodan.github.io/charts/podinfo",
                "--interval",
                "5m",
                "--export"
            ])
            .unwrap(),
            "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 5m0s\n  url: https://stefanprodan.github.io/charts/podinfo"
        );
        assert_eq!(
            exported(&["podinfo", "--url=oci://ghcr.io/stefanprodan/charts", "--secret-ref=creds", "--pass-credentials"]).unwrap(),
            "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 1m0s\n  passCredentials: true\n  secretRef:\n    name: creds\n  type: oci\n  url: oci://ghcr.io/stefanprodan/charts"
        );
    }

    #[test]
    fn bad_urls_get_the_flux_cli_words() {
        assert_eq!(exported(&["x"]).unwrap_err().to_string(), "url is required");
        assert_eq!(
            exported(&["x", "--url=ftp://h/charts"])
                .unwrap_err()
                .to_string(),
            "url scheme 'ftp' not supported, can be: http, https and oci"
        );
        assert!(exported(&["x", "--url=not a url"])
            .unwrap_err()
            .to_string()
            .starts_with("url parse failed:"));
    }
}
