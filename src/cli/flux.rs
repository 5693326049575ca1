//! The flux CLI's verbs on Flux objects: `get`, `reconcile`, `suspend`, `resume`, with
//! the flux CLI's global flags and output.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, WatchEvent, WatchParams,
};
use serde_json::{json, Value};

/// The flux CLI's global flags.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace scope for this operation.
    #[arg(short = 'n', long, global = true, default_value = "flux-system")]
    pub namespace: String,
    /// Timeout for operations that wait.
    #[arg(long, global = true, default_value = "5m", value_parser = crate::cli::flux::parse_duration_arg)]
    pub timeout: Duration,
}

pub fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::actors::parse_duration(s).map_err(|e| e.to_string())
}

/// A kind the CLI knows, and where its revision is.
#[derive(Debug, Clone, Copy)]
pub struct FluxKind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// The flux CLI's name for it in messages (`GitRepository`, `Kustomization`).
    pub display: &'static str,
    /// JSON pointer of the revision column.
    pub revision: &'static str,
    /// What `reconcile` reports when done: "fetched" (sources) or "applied".
    pub done_verb: &'static str,
    /// `get` shortens hex digests in the revision and message (`sha256:83a3c595`), as
    /// the flux CLI does for HelmRepositories.
    pub truncate_hex: bool,
    /// `reconcile` quotes the Ready message of a failure (the flux CLI's sources do,
    /// the kinds reconciled "with source" do not).
    pub quote_failure: bool,
}

pub const GIT_REPOSITORY: FluxKind = FluxKind {
    group: "source.toolkit.fluxcd.io",
    version: "v1",
    kind: "GitRepository",
    plural: "gitrepositories",
    display: "GitRepository",
    revision: "/status/artifact/revision",
    done_verb: "fetched",
    truncate_hex: false,
    quote_failure: true,
};

pub const HELM_REPOSITORY: FluxKind = FluxKind {
    group: "source.toolkit.fluxcd.io",
    version: "v1",
    kind: "HelmRepository",
    plural: "helmrepositories",
    display: "HelmRepository",
    revision: "/status/artifact/revision",
    done_verb: "fetched",
    truncate_hex: true,
    quote_failure: true,
};

pub const HELM_CHART: FluxKind = FluxKind {
    group: "source.toolkit.fluxcd.io",
    version: "v1",
    kind: "HelmChart",
    plural: "helmcharts",
    display: "HelmChart",
    revision: "/status/artifact/revision",
    done_verb: "fetched",
    truncate_hex: false,
    quote_failure: false,
};

pub const OCI_REPOSITORY: FluxKind = FluxKind {
    group: "source.toolkit.fluxcd.io",
    version: "v1",
    kind: "OCIRepository",
    plural: "ocirepositories",
    display: "OCIRepository",
    revision: "/status/artifact/revision",
    done_verb: "fetched",
    truncate_hex: true,
    quote_failure: false,
};

pub const BUCKET: FluxKind = FluxKind {
    group: "source.toolkit.fluxcd.io",
    version: "v1",
    kind: "Bucket",
    plural: "buckets",
    display: "Bucket",
    revision: "/status/artifact/revision",
    done_verb: "fetched",
    truncate_hex: true,
    quote_failure: false,
};

pub const KUSTOMIZATION: FluxKind = FluxKind {
    group: "kustomize.toolkit.fluxcd.io",
    version: "v1",
    kind: "Kustomization",
    plural: "kustomizations",
    display: "Kustomization",
    revision: "/status/lastAppliedRevision",
    done_verb: "applied",
    truncate_hex: false,
    quote_failure: false,
};

pub const HELM_RELEASE: FluxKind = FluxKind {
    group: "helm.toolkit.fluxcd.io",
    version: "v2",
    kind: "HelmRelease",
    plural: "helmreleases",
    display: "HelmRelease",
    // The chart version of the latest release, as `flux get helmreleases` shows.
    revision: "/status/history/0/chartVersion",
    done_verb: "applied",
    truncate_hex: false,
    quote_failure: false,
};

impl FluxKind {
    fn resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            api_version: format!("{}/{}", self.group, self.version),
            kind: self.kind.to_owned(),
            plural: self.plural.to_owned(),
        }
    }
}

/// A client as the flux CLI builds one: kubeconfig, context, and a User-Agent naming us.
pub async fn client(global: &GlobalArgs) -> anyhow::Result<kube::Client> {
    let options = kube::config::KubeConfigOptions {
        context: global.context.clone(),
        ..Default::default()
    };
    let config = match &global.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None => kube::Config::from_kubeconfig(&options)
            .await
            .context("loading the kubeconfig")?,
    };
    let mut config = config;
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&format!("ferroflux-cli/{}", env!("CARGO_PKG_VERSION")))?,
    ));
    Ok(kube::Client::try_from(config)?)
}

pub(crate) fn api(
    client: &kube::Client,
    kind: &FluxKind,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &kind.resource()),
        None => Api::all_with(client.clone(), &kind.resource()),
    }
}

fn ready_condition(object: &Value) -> Option<&Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// One row of `get`: the flux CLI's columns.
pub fn row(kind: &FluxKind, object: &Value, with_namespace: bool) -> Vec<String> {
    let ready = ready_condition(object);
    let mut cells = Vec::new();
    if with_namespace {
        cells.push(text(object, "/metadata/namespace").to_owned());
    }
    cells.push(text(object, "/metadata/name").to_owned());
    let shorten = |t: &str| {
        if kind.truncate_hex {
            truncate_hex(t)
        } else {
            t.to_owned()
        }
    };
    let static_oci = kind.kind == HELM_REPOSITORY.kind && text(object, "/spec/type") == "oci";
    cells.push(shorten(text(object, kind.revision)));
    let suspended = object
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    cells.push(if suspended { "True" } else { "False" }.to_owned());
    if static_oci {
        // An OCI repository is static: nothing to reconcile, always ready.
        cells.push("True".to_owned());
        cells.push("Helm repository is Ready".to_owned());
        return cells;
    }
    cells.push(
        ready
            .map_or("Unknown", |c| c["status"].as_str().unwrap_or("Unknown"))
            .to_owned(),
    );
    cells.push(shorten(ready.map_or("waiting to be reconciled", |c| {
        c["message"].as_str().unwrap_or("")
    })));
    cells
}

/// The flux CLI's `TruncateHex`: runs of 40 to 128 hex digits cut to 8.
fn truncate_hex(text: &str) -> String {
    static HEX: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(hex) = HEX.get_or_init(|| regex::Regex::new(r"\b[a-f0-9]{40,128}\b").ok()) else {
        return text.to_owned();
    };
    hex.replace_all(text, |c: &regex::Captures<'_>| c[0][..8].to_owned())
        .into_owned()
}

pub fn header(with_namespace: bool) -> Vec<String> {
    let mut h = Vec::new();
    if with_namespace {
        h.push("NAMESPACE".to_owned());
    }
    h.extend(["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"].map(str::to_owned));
    h
}

/// Renders rows as the flux CLI does: columns padded to their width, separated by a tab.
pub fn render_table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        out.push_str(line.join("\t").trim_end());
        out.push('\n');
    }
    out
}

/// `get`: list (or watch) objects of a kind.
pub async fn get(
    global: &GlobalArgs,
    kind: &FluxKind,
    name: Option<&str>,
    all_namespaces: bool,
    watch: bool,
) -> anyhow::Result<()> {
    let client = client(global).await?;
    let api = api(
        &client,
        kind,
        (!all_namespaces).then_some(global.namespace.as_str()),
    );
    let params = match name {
        Some(n) => ListParams::default().fields(&format!("metadata.name={n}")),
        None => ListParams::default(),
    };
    let list = api
        .list(&params)
        .await
        .with_context(|| format!("listing {}", kind.plural))?;
    let mut rows = vec![header(all_namespaces)];
    for item in &list.items {
        rows.push(row(kind, &serde_json::to_value(item)?, all_namespaces));
    }
    if list.items.is_empty() && !watch {
        eprintln!(
            "✗ no {} objects found in {} namespace",
            kind.display,
            if all_namespaces {
                "any"
            } else {
                &global.namespace
            }
        );
        return Ok(());
    }
    print!("{}", render_table(&rows));
    if !watch {
        return Ok(());
    }
    // Watch: one line per change, aligned with the table printed above.
    let widths_source = rows.clone();
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut wp = WatchParams::default();
    if let Some(n) = name {
        wp = wp.fields(&format!("metadata.name={n}"));
    }
    let mut stream = api.watch(&wp, &rv).await?.boxed();
    let mut last: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while let Some(event) = stream.try_next().await? {
        let object = match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => o,
            _ => continue,
        };
        let value = serde_json::to_value(&object)?;
        let r = row(kind, &value, all_namespaces);
        let key = format!(
            "{}/{}",
            text(&value, "/metadata/namespace"),
            text(&value, "/metadata/name")
        );
        if last.get(&key) == Some(&r) {
            continue;
        }
        last.insert(key, r.clone());
        let mut table = widths_source.clone();
        table.push(r);
        let rendered = render_table(&table);
        if let Some(line) = rendered.lines().last() {
            println!("{line}");
        }
    }
    Ok(())
}

/// `reconcile`: sets `reconcile.fluxcd.io/requestedAt` and waits for the controller to
/// echo it in `status.lastHandledReconcileAt`.
pub async fn reconcile(global: &GlobalArgs, kind: &FluxKind, name: &str) -> anyhow::Result<()> {
    reconcile_with(global, kind, name, &[]).await
}

/// `reconcile`, also setting the annotations `also` names (`reconcile.fluxcd.io/forceAt`,
/// `resetAt`) to the request's time, as `--force` and `--reset` do.
pub async fn reconcile_with(
    global: &GlobalArgs,
    kind: &FluxKind,
    name: &str,
    also: &[&str],
) -> anyhow::Result<()> {
    let client = client(global).await?;
    let api = api(&client, kind, Some(&global.namespace));
    let current = api.get(name).await.with_context(|| {
        format!(
            "{} {} not found in {} namespace",
            kind.display, name, global.namespace
        )
    })?;
    if current
        .data
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        == Some(true)
    {
        bail!("resource is suspended");
    }
    if kind.kind == HELM_REPOSITORY.kind
        && current.data.pointer("/spec/type").and_then(Value::as_str) == Some("oci")
    {
        println!("✔ reconciliation not supported by the object");
        return Ok(());
    }
    println!(
        "► annotating {} {} in {} namespace",
        kind.display, name, global.namespace
    );
    let requested_at = request_reconcile(&api, name, also).await?;
    println!("✔ {} annotated", kind.display);
    println!("◎ waiting for {} reconciliation", kind.display);
    let object = wait_for_handled(&api, name, &requested_at, global.timeout).await?;
    let ready = ready_condition(&object).cloned().unwrap_or(json!({}));
    if ready["status"] != "True" {
        let message = ready["message"].as_str().unwrap_or("not ready");
        if kind.quote_failure {
            bail!("{} reconciliation failed: '{message}'", kind.display);
        }
        bail!("{} reconciliation failed: {message}", kind.display);
    }
    match text(&object, kind.revision) {
        "" => println!("✔ {} reconciliation completed", kind.display),
        revision => println!("✔ {} revision {revision}", kind.done_verb),
    }
    Ok(())
}

/// `reconcile helmrelease --with-source`: reconciles the HelmRelease's HelmChart first
/// (the one made from `spec.chart`, or the one `spec.chartRef` names).
pub async fn reconcile_chart_of(global: &GlobalArgs, name: &str) -> anyhow::Result<()> {
    let client = client(global).await?;
    let api = api(&client, &HELM_RELEASE, Some(&global.namespace));
    let object = api.get(name).await.with_context(|| {
        format!(
            "HelmRelease {name} not found in {} namespace",
            global.namespace
        )
    })?;
    let (chart_namespace, chart_name) = if object.data.pointer("/spec/chartRef").is_some() {
        if text(&object.data, "/spec/chartRef/kind") != HELM_CHART.kind {
            bail!(
                "reconciling a {} source is not supported yet",
                text(&object.data, "/spec/chartRef/kind")
            );
        }
        let namespace = match text(&object.data, "/spec/chartRef/namespace") {
            "" => global.namespace.clone(),
            ns => ns.to_owned(),
        };
        (
            namespace,
            text(&object.data, "/spec/chartRef/name").to_owned(),
        )
    } else {
        let namespace = match text(&object.data, "/spec/chart/spec/sourceRef/namespace") {
            "" => global.namespace.clone(),
            ns => ns.to_owned(),
        };
        (namespace, format!("{}-{name}", global.namespace))
    };
    let mut chart_global = global.clone();
    chart_global.namespace = chart_namespace;
    reconcile(&chart_global, &HELM_CHART, &chart_name).await
}

/// `reconcile kustomization --with-source`: reconciles the Kustomization's source first.
pub async fn reconcile_source_of(global: &GlobalArgs, name: &str) -> anyhow::Result<()> {
    let client = client(global).await?;
    let api = api(&client, &KUSTOMIZATION, Some(&global.namespace));
    let object = api.get(name).await.with_context(|| {
        format!(
            "Kustomization {name} not found in {} namespace",
            global.namespace
        )
    })?;
    let source_kind = text(&object.data, "/spec/sourceRef/kind").to_owned();
    let source_name = text(&object.data, "/spec/sourceRef/name").to_owned();
    let source_namespace = match text(&object.data, "/spec/sourceRef/namespace") {
        "" => global.namespace.clone(),
        ns => ns.to_owned(),
    };
    if source_kind != GIT_REPOSITORY.kind {
        bail!("reconciling a {source_kind} source is not supported yet");
    }
    let mut source_global = global.clone();
    source_global.namespace = source_namespace;
    reconcile(&source_global, &GIT_REPOSITORY, &source_name).await
}

async fn request_reconcile(
    api: &Api<DynamicObject>,
    name: &str,
    also: &[&str],
) -> anyhow::Result<String> {
    let requested_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut annotations = serde_json::Map::new();
    for key in std::iter::once(&"reconcile.fluxcd.io/requestedAt").chain(also) {
        annotations.insert((*key).to_owned(), json!(requested_at));
    }
    let patch = json!({"metadata": {"annotations": annotations}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("annotating")?;
    Ok(requested_at)
}

/// Waits until the controller has handled the request and left the Reconciling state.
async fn wait_for_handled(
    api: &Api<DynamicObject>,
    name: &str,
    requested_at: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let object = serde_json::to_value(api.get(name).await?)?;
        let handled = text(&object, "/status/lastHandledReconcileAt") == requested_at;
        let observed = object
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            == object
                .pointer("/metadata/generation")
                .and_then(Value::as_i64);
        let ready_settled = ready_condition(&object).is_some_and(|c| c["status"] != "Unknown");
        if handled && observed && ready_settled {
            return Ok(object);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timeout waiting for reconciliation of {name}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `suspend` / `resume`: sets `spec.suspend`; resume then waits for a reconcile, as
/// the flux CLI does.
pub async fn set_suspended(
    global: &GlobalArgs,
    kind: &FluxKind,
    name: &str,
    suspend: bool,
) -> anyhow::Result<()> {
    let client = client(global).await?;
    let api = api(&client, kind, Some(&global.namespace));
    api.get(name).await.with_context(|| {
        format!(
            "{} {} not found in {} namespace",
            kind.display, name, global.namespace
        )
    })?;
    let verb = if suspend { "suspending" } else { "resuming" };
    println!(
        "► {verb} {} {} in {} namespace",
        kind.display, name, global.namespace
    );
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": suspend}})),
    )
    .await?;
    if suspend {
        println!("✔ {} suspended", kind.display);
        return Ok(());
    }
    println!("✔ {} resumed", kind.display);
    println!("◎ waiting for {} reconciliation", kind.display);
    let requested_at = request_reconcile(&api, name, &[]).await?;
    let object = wait_for_handled(&api, name, &requested_at, global.timeout).await?;
    println!("✔ {} reconciliation completed", kind.display);
    let revision = text(&object, kind.revision);
    if !revision.is_empty() {
        println!("✔ {} revision {revision}", kind.done_verb);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_repository_rows_shorten_digests_and_oci_ones_are_ready() {
        let hex = "83a3c595163a6ff0333e0154c790383b5be441b9db632cb36da11db1c4ece111";
        let repo = json!({
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"url": "https://h"},
            "status": {"artifact": {"revision": format!("sha256:{hex}")}, "conditions": [
                {"type": "Ready", "status": "True", "message": format!("stored artifact: revision 'sha256:{hex}'")},
            ]},
        });
        assert_eq!(
            row(&HELM_REPOSITORY, &repo, false),
            [
                "podinfo",
                "sha256:83a3c595",
                "False",
                "True",
                "stored artifact: revision 'sha256:83a3c595'"
            ]
        );
        let chart = json!({
            "metadata": {"name": "podinfo"},
            "status": {"artifact": {"revision": "6.5.0+1"}},
        });
        assert_eq!(row(&HELM_CHART, &chart, false)[1], "6.5.0+1");
        let oci = json!({"metadata": {"name": "ghcr"}, "spec": {"type": "oci", "url": "oci://ghcr.io/o"}});
        assert_eq!(
            row(&HELM_REPOSITORY, &oci, false),
            ["ghcr", "", "False", "True", "Helm repository is Ready"]
        );
    }

    #[test]
    fn rows_read_like_flux_get() {
        let repo = json!({
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"suspend": false},
            "status": {
                "artifact": {"revision": "master@sha1:132f4e71"},
                "conditions": [{"type": "Ready", "status": "True", "message": "stored artifact for revision 'master@sha1:132f4e71'"}],
            },
        });
        let table = render_table(&[header(false), row(&GIT_REPOSITORY, &repo, false)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0].split('\t').map(str::trim).collect::<Vec<_>>(),
            vec!["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
        );
        assert_eq!(
            lines[1].split('\t').map(str::trim).collect::<Vec<_>>(),
            vec![
                "podinfo",
                "master@sha1:132f4e71",
                "False",
                "True",
                "stored artifact for revision 'master@sha1:132f4e71'"
            ]
        );
        let unreconciled = json!({"metadata": {"name": "new", "namespace": "x"}, "spec": {}});
        assert_eq!(
            row(&GIT_REPOSITORY, &unreconciled, true),
            vec![
                "x",
                "new",
                "",
                "False",
                "Unknown",
                "waiting to be reconciled"
            ]
        );
    }
}
