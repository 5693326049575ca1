//! `create source helm`: a HelmRepository from flags, as the flux CLI makes one:
//! printed with `--export` (YAML to commit), or applied and waited for.

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
    if args.export {
        println!("{}", export_yaml(&object));
        return Ok(());
    }
    println!("✚ generating HelmRepository source");
    let client = flux::client(global).await?;
    let api = flux::api(&client, &flux::HELM_REPOSITORY, Some(&global.namespace));
    println!("► applying HelmRepository source");
    let existed = api.get_opt(&args.name).await?.is_some();
    let applied = api
        .patch(
            &args.name,
            &PatchParams::apply("flux-client-side-apply").force(),
            &Patch::Apply(&object),
        )
        .await
        .context("applying the HelmRepository")?;
    println!("✔ source {}", if existed { "updated" } else { "created" });
    if object.pointer("/spec/type") == Some(&json!("oci")) {
        return Ok(());
    }
    println!("◎ waiting for HelmRepository source reconciliation");
    let generation = applied.metadata.generation;
    let deadline = tokio::time::Instant::now() + global.timeout;
    loop {
        let current = serde_json::to_value(api.get(&args.name).await?)?;
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
                    println!("✔ HelmRepository source reconciliation completed");
                    let revision = current
                        .pointer("/status/artifact/revision")
                        .and_then(Value::as_str);
                    let Some(revision) = revision else {
                        bail!("HelmRepository source reconciliation completed but no artifact was found");
                    };
                    println!("✔ fetched revision: {revision}");
                    return Ok(());
                }
                Some("False") => {
                    bail!("{}", ready["message"].as_str().unwrap_or("not ready"));
                }
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timeout waiting for HelmRepository source reconciliation");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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
