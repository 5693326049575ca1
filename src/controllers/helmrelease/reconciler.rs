//! The HelmRelease reconciler, in helm-controller's phases: spec check →
//! dependencies → the HelmChart (made from `spec.chart`, or `spec.chartRef`) and its
//! artifact → values → the stored releases → the action (install, upgrade, or none)
//! → render with the native engine → staged server-side apply of the release's
//! objects, prune of what the previous revision had → wait → release record, status
//! and events, written once at the end.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ferroflux_gotemplate::Value as TemplateValue;
use ferroflux_helm::release::{self as helm_release, ReleaseOptions};
use ferroflux_helm::render::{ClusterLookup, RenderOptions};
use ferroflux_helm::storage::{self as helm_storage, status, StoredHook, StoredRelease};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{json, Value};

use super::drift::{self, DriftMode};
use super::error::HelmReleaseError;
use super::hooks;
use super::plan::{self, Desired, ReleaseAction, ValuesSource};
use super::storage::ReleaseStorage;
use crate::actors::{ObjectKey, ReconcileContext, ReconcileError, ReconcileOutcome, Reconciler};
use crate::api::helm_v2::{HelmRelease, HelmReleaseSnapshot, HelmReleaseStatus, TestHookStatus};
use crate::api::kustomize_v1::{ResourceInventory, ResourceRef};
use crate::api::meta::Artifact;
use crate::apply::inventory::{InventoryEntry, Owner, OwnerKind};
use crate::apply::stages::GroupKind;
use crate::apply::{self as ssa, Applier, Impersonator, ObjectRef, Seen};
use crate::controllers::conditions::{self, FALSE, READY, RECONCILING, STALLED, TRUE};
use crate::controllers::events::{EventRecorder, EventType};
use crate::controllers::finalizer;
use crate::controllers::source_status::read_artifact;
use crate::health;
use crate::source::artifact::ArtifactStore;

/// helm-controller's name: field manager and event source.
pub const CONTROLLER: &str = "helm-controller";
const KIND: &str = "HelmRelease";
/// The condition of the last Helm action's outcome.
const RELEASED: &str = "Released";
/// The outcome of the release's tests (`spec.test.enable`).
const TEST_SUCCESS: &str = "TestSuccess";
/// Set when a failed release was remediated (rolled back or uninstalled).
const REMEDIATED: &str = "Remediated";
/// Flux's default `spec.maxHistory`.
const DEFAULT_MAX_HISTORY: usize = 5;

/// Reconciles HelmReleases.
pub struct HelmReleaseReconciler {
    pub client: kube::Client,
    pub applier: Arc<Applier>,
    /// The replica's own artifact store: charts it serves are read from disk.
    pub store: Arc<ArtifactStore>,
    pub http: reqwest::Client,
    pub events: EventRecorder,
    /// Acts as `spec.serviceAccountName` (or `--default-service-account`).
    pub impersonator: Impersonator,
    /// `--no-cross-namespace-refs`.
    pub no_cross_namespace_refs: bool,
    /// `--requeue-dependency`.
    pub requeue_dependency: Duration,
    /// Per HelmRelease, the state each object had after our last apply: drift
    /// detection compares only what the watch saw change since.
    pub last: std::sync::Mutex<std::collections::HashMap<ObjectKey, Vec<(ObjectRef, String)>>>,
}

/// What a successful reconcile did.
struct Reconciled {
    /// The condition reason and message of the release as it now stands.
    reason: &'static str,
    message: String,
    /// Whether a Helm action ran (an event is due).
    acted: bool,
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn parse_duration(text: Option<&str>) -> Option<Duration> {
    text.and_then(|t| crate::actors::parse_duration(t).ok())
}

/// The namespace the release's objects go to.
fn target_namespace(hr: &HelmRelease, namespace: &str) -> String {
    hr.spec
        .target_namespace
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| namespace.to_owned())
}

/// Where the release records are kept.
fn storage_namespace(hr: &HelmRelease, namespace: &str) -> String {
    hr.spec
        .storage_namespace
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| target_namespace(hr, namespace))
}

/// The release records of `hr`, read and written as the applier's account.
fn release_storage(hr: &HelmRelease, namespace: &str, applier: &Applier) -> ReleaseStorage {
    ReleaseStorage::new(
        applier.client(),
        &storage_namespace(hr, namespace),
        &plan::release_name(hr),
    )
}

fn timeout_of(hr: &HelmRelease) -> Duration {
    plan::release_timeout(hr)
}

/// The chart as a user reads it in messages: `podinfo@6.5.0`.
fn chart_label(chart: &ferroflux_helm::chart::Chart) -> String {
    format!("{}@{}", chart.name(), chart.version())
}

/// Values as JSON (the form a release's `config` takes).
fn values_json(values: &BTreeMap<String, TemplateValue>) -> Value {
    helm_storage::to_json(&TemplateValue::map(values.clone()))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl HelmReleaseReconciler {
    async fn write_status(
        &self,
        key: &ObjectKey,
        status: &HelmReleaseStatus,
    ) -> Result<(), ReconcileError> {
        let api: Api<HelmRelease> = Api::namespaced(self.client.clone(), &key.namespace);
        let params = PatchParams {
            field_manager: Some(CONTROLLER.to_owned()),
            ..PatchParams::default()
        };
        api.patch_status(&key.name, &params, &Patch::Merge(json!({"status": status})))
            .await
            .map(|_| ())
            .map_err(|e| ReconcileError::new("StatusPatchFailed", e.to_string()))
    }

    fn check_spec(&self, hr: &HelmRelease, namespace: &str) -> Result<(), HelmReleaseError> {
        let invalid = |message: String| HelmReleaseError::InvalidSpec {
            reason: "InvalidChartReference",
            message,
        };
        match (&hr.spec.chart, &hr.spec.chart_ref) {
            (None, None) => {
                return Err(invalid(
                    "one of spec.chart or spec.chartRef must be set".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "spec.chart and spec.chartRef are mutually exclusive".into(),
                ))
            }
            _ => {}
        }
        let source_namespace = hr
            .spec
            .chart
            .as_ref()
            .and_then(|c| c.spec.source_ref.namespace.clone())
            .or_else(|| hr.spec.chart_ref.as_ref().and_then(|c| c.namespace.clone()));
        if self.no_cross_namespace_refs
            && source_namespace
                .as_deref()
                .is_some_and(|ns| ns != namespace)
        {
            return Err(HelmReleaseError::InvalidSpec {
                reason: "AccessDenied",
                message: format!(
                    "cross-namespace references are not allowed: source namespace '{}'",
                    source_namespace.unwrap_or_default()
                ),
            });
        }
        if let Some(chart_ref) = &hr.spec.chart_ref {
            if !matches!(chart_ref.kind.as_str(), "HelmChart" | "OCIRepository") {
                return Err(invalid(format!(
                    "spec.chartRef.kind '{}' is not supported yet",
                    chart_ref.kind
                )));
            }
        }
        Ok(())
    }

    async fn dependencies_ready(&self, hr: &HelmRelease, namespace: &str) -> Result<(), String> {
        let api_resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", KIND),
            "helmreleases",
        );
        for dependency in hr.spec.depends_on.iter().flatten() {
            let dep_namespace = dependency
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.to_owned());
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), &dep_namespace, &api_resource);
            let not_ready = || {
                format!(
                    "dependency '{dep_namespace}/{}' is not ready",
                    dependency.name
                )
            };
            let Ok(Some(dep)) = api.get_opt(&dependency.name).await else {
                return Err(not_ready());
            };
            let dep = serde_json::to_value(dep).unwrap_or_default();
            let ready = dep
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|c| c["type"] == READY && c["status"] == TRUE));
            let observed =
                dep.pointer("/status/observedGeneration") == dep.pointer("/metadata/generation");
            if !ready || !observed {
                return Err(not_ready());
            }
        }
        Ok(())
    }

    /// The HelmChart `spec.chart` asks for, applied as helm-controller does
    /// (`<namespace>-<name>` in the source's namespace); or the one `chartRef`
    /// names. Returns its namespace and name.
    async fn ensure_chart(
        &self,
        hr: &HelmRelease,
        namespace: &str,
    ) -> Result<(String, String, Value), HelmReleaseError> {
        if let Some(chart_ref) = &hr.spec.chart_ref {
            let ns = chart_ref
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.to_owned());
            let subject = format!("{} '{ns}/{}'", chart_ref.kind, chart_ref.name);
            let api = if chart_ref.kind == "OCIRepository" {
                self.oci_repositories(&ns)
            } else {
                self.helm_charts(&ns)
            };
            let live = api
                .get_opt(&chart_ref.name)
                .await
                .map_err(|e| HelmReleaseError::Artifact(format!("could not get {subject}: {e}")))?
                .ok_or_else(|| HelmReleaseError::Artifact(format!("{subject} not found")))?;
            let live = serde_json::to_value(live).unwrap_or_default();
            return Ok((ns, chart_ref.name.clone(), live));
        }
        let Some(template) = &hr.spec.chart else {
            return Err(HelmReleaseError::Artifact("no chart".into()));
        };
        let spec = &template.spec;
        let source_namespace = spec
            .source_ref
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.to_owned());
        let name = plan::chart_name(hr);
        let mut chart_spec = json!({
            "chart": spec.chart,
            "version": spec.version.clone().unwrap_or_else(|| "*".into()),
            "sourceRef": {"kind": spec.source_ref.kind, "name": spec.source_ref.name},
            "interval": spec.interval.clone().unwrap_or_else(|| hr.spec.interval.clone()),
            "reconcileStrategy": spec.reconcile_strategy.clone().unwrap_or_else(|| "ChartVersion".into()),
        });
        if let Some(files) = &spec.values_files {
            chart_spec["valuesFiles"] = json!(files);
        }
        if let Some(ignore) = spec.ignore_missing_values_files {
            chart_spec["ignoreMissingValuesFiles"] = json!(ignore);
        }
        let mut metadata = json!({"name": name, "namespace": source_namespace});
        if let Some(common) = &template.metadata {
            if let Some(labels) = &common.labels {
                metadata["labels"] = json!(labels);
            }
            if let Some(annotations) = &common.annotations {
                metadata["annotations"] = json!(annotations);
            }
        }
        let chart = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmChart",
            "metadata": metadata,
            "spec": chart_spec,
        });
        let api = self.helm_charts(&source_namespace);
        let failed = |e: kube::Error| {
            HelmReleaseError::Artifact(format!(
                "failed to create HelmChart '{source_namespace}/{name}': {e}"
            ))
        };
        let live = api
            .get_opt(&name)
            .await
            .map_err(failed)?
            .map(|o| serde_json::to_value(o).unwrap_or_default());
        // Applied only when it differs: an unchanged HelmRelease writes nothing.
        if let Some(live) = live.filter(|live| contains(live, &chart)) {
            return Ok((source_namespace, name, live));
        }
        let applied = api
            .patch(
                &name,
                &PatchParams::apply(CONTROLLER).force(),
                &Patch::Apply(&chart),
            )
            .await
            .map_err(failed)?;
        Ok((
            source_namespace,
            name,
            serde_json::to_value(applied).unwrap_or_default(),
        ))
    }

    fn oci_repositories(&self, namespace: &str) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "OCIRepository"),
            "ocirepositories",
        );
        Api::namespaced_with(self.client.clone(), namespace, &resource)
    }

    fn helm_charts(&self, namespace: &str) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "HelmChart"),
            "helmcharts",
        );
        Api::namespaced_with(self.client.clone(), namespace, &resource)
    }

    /// The chart source's artifact (a HelmChart's, or an OCIRepository's holding a
    /// chart) once it is Ready for its current spec.
    fn chart_artifact(
        &self,
        namespace: &str,
        name: &str,
        chart: &Value,
    ) -> Result<Artifact, HelmReleaseError> {
        let kind = chart
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("HelmChart");
        let subject = format!("{kind} '{namespace}/{name}'");
        let ready = chart
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == READY).cloned());
        let observed =
            chart.pointer("/status/observedGeneration") == chart.pointer("/metadata/generation");
        let artifact: Option<Artifact> = chart
            .pointer("/status/artifact")
            .cloned()
            .and_then(|a| serde_json::from_value(a).ok());
        match (ready, artifact) {
            (Some(ready), Some(artifact)) if ready["status"] == TRUE && observed => Ok(artifact),
            (ready, _) => Err(HelmReleaseError::Artifact(format!(
                "{subject} is not ready: {}",
                ready
                    .as_ref()
                    .map(|r| text(r, "/message"))
                    .filter(|m| !m.is_empty())
                    .unwrap_or("latest generation of object has not been reconciled")
            ))),
        }
    }

    async fn load_chart(
        &self,
        artifact: &Artifact,
    ) -> Result<ferroflux_helm::chart::Chart, HelmReleaseError> {
        let bytes = read_artifact(&self.store, &self.http, artifact)
            .await
            .map_err(HelmReleaseError::Artifact)?;
        tokio::task::spawn_blocking(move || ferroflux_helm::chart::load_archive(&bytes))
            .await
            .map_err(|e| HelmReleaseError::Artifact(e.to_string()))?
            .map_err(|e| HelmReleaseError::Artifact(format!("failed to load chart: {e}")))
    }

    /// `valuesFrom` read from the HelmRelease's namespace, then `values` on top.
    async fn values(
        &self,
        hr: &HelmRelease,
        namespace: &str,
    ) -> Result<BTreeMap<String, TemplateValue>, HelmReleaseError> {
        let mut sources = Vec::new();
        for reference in hr.spec.values_from.iter().flatten() {
            let reference = &reference.reference;
            let key = reference
                .values_key
                .clone()
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "values.yaml".into());
            let subject = format!("{} '{namespace}/{}'", reference.kind, reference.name);
            let failed =
                |e: kube::Error| HelmReleaseError::Values(format!("could not get {subject}: {e}"));
            let data: Option<BTreeMap<String, String>> = match reference.kind.as_str() {
                "Secret" => Api::<Secret>::namespaced(self.client.clone(), namespace)
                    .get_opt(&reference.name)
                    .await
                    .map_err(failed)?
                    .map(|s| {
                        s.data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                            .collect()
                    }),
                _ => Api::<ConfigMap>::namespaced(self.client.clone(), namespace)
                    .get_opt(&reference.name)
                    .await
                    .map_err(failed)?
                    .map(|cm| cm.data.unwrap_or_default().into_iter().collect()),
            };
            sources.push(ValuesSource {
                found: data.is_some(),
                data: data.and_then(|mut d| d.remove(&key)),
                subject,
                key,
                target_path: reference.target_path.clone(),
                optional: reference.optional == Some(true),
            });
        }
        plan::compose_values(&sources, hr.spec.values.as_ref()).map_err(HelmReleaseError::Values)
    }

    /// The release's documents as objects to apply: namespaced ones without a
    /// namespace get the release's; each carries Flux's origin labels.
    async fn objects_of(
        &self,
        applier: &Applier,
        documents: &[String],
        namespace: &str,
        owner: Option<&Owner>,
    ) -> Result<Vec<Value>, String> {
        let mut objects = Vec::new();
        for document in documents {
            let object: Value = serde_yaml_ng::from_str(document).map_err(|e| e.to_string())?;
            if !object.is_object() {
                continue;
            }
            objects.push(object);
        }
        for object in &mut objects {
            let r = ObjectRef::of(object).map_err(|e| e.to_string())?;
            if r.namespace.is_empty() {
                let (_, namespaced) = applier.resolve(&r).await.map_err(|e| e.to_string())?;
                if namespaced {
                    object["metadata"]["namespace"] = json!(namespace);
                }
            }
        }
        if let Some(owner) = owner {
            owner.label(&mut objects);
        }
        Ok(objects)
    }

    /// Installs or upgrades: renders, records the pending release, applies, prunes
    /// what the previous revision had, waits, and records the outcome.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        hr: &HelmRelease,
        key: &ObjectKey,
        applier: &Applier,
        chart: ferroflux_helm::chart::Chart,
        values: &BTreeMap<String, TemplateValue>,
        action: ReleaseAction,
        history: &[StoredRelease],
        status: &mut HelmReleaseStatus,
    ) -> Result<StoredRelease, HelmReleaseError> {
        let install = action == ReleaseAction::Install;
        let settings = plan::action_settings(hr, install);
        let release_name = plan::release_name(hr);
        let namespace = target_namespace(hr, &key.namespace);
        let storage = release_storage(hr, &key.namespace, applier);
        let version = history.last().map_or(1, |r| r.version + 1);
        let label = chart_label(&chart);
        let fail = |message: String| {
            let text = format!(
                "Helm {} failed for release {namespace}/{release_name} with chart {label}: {message}",
                if install { "install" } else { "upgrade" }
            );
            if install {
                HelmReleaseError::Install(text)
            } else {
                HelmReleaseError::Upgrade(text)
            }
        };
        let options = ReleaseOptions {
            render: RenderOptions {
                name: release_name.clone(),
                namespace: namespace.clone(),
                revision: version,
                is_upgrade: !install,
                lookup: Some(cluster_lookup(
                    applier.client().clone(),
                    tokio::runtime::Handle::current(),
                )),
                ..RenderOptions::default()
            },
            skip_schema_validation: settings.disable_schema_validation,
            ..ReleaseOptions::default()
        };
        let user_values = TemplateValue::map(values.clone());
        let render_chart = chart.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            helm_release::render_release(&render_chart, &user_values, &options)
        })
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))?;

        let owner = Owner::new(OwnerKind::HelmRelease, &key.name, &key.namespace);
        let documents: Vec<String> = rendered
            .manifests
            .iter()
            .map(|m| m.content.clone())
            .collect();
        let mut objects = self
            .objects_of(applier, &documents, &namespace, Some(&owner))
            .await
            .map_err(&fail)?;
        if let Some(post_renderers) = hr.spec.post_renderers.clone().filter(|p| !p.is_empty()) {
            objects = post_render(objects, post_renderers)
                .await
                .map_err(|e| fail(format!("error while running post render on files: {e}")))?;
        }
        // The stored manifest is the post-rendered one, as Helm stores it.
        let manifest: String = rendered
            .manifests
            .iter()
            .zip(&objects)
            .map(|(m, o)| {
                format!(
                    "---\n# Source: {}\n{}",
                    m.name,
                    serde_yaml_ng::to_string(o).unwrap_or_default()
                )
            })
            .collect();
        plan::apply_common_metadata(&mut objects, hr);
        if settings.crds != "Skip" {
            let crds: Vec<String> = helm_release::crd_files(&chart, &chart.name())
                .into_iter()
                .map(|(_, data)| String::from_utf8_lossy(&data).into_owned())
                .flat_map(|text| text.split("\n---").map(str::to_owned).collect::<Vec<_>>())
                .filter(|doc| !doc.trim().is_empty())
                .collect();
            let crds = self
                .objects_of(applier, &crds, &namespace, None)
                .await
                .map_err(&fail)?;
            objects.splice(0..0, crds);
        }
        ownership_metadata(&mut objects, &release_name, &namespace);

        let now = now_rfc3339();
        let first_deployed = history
            .iter()
            .find(|r| !r.info.first_deployed.is_empty())
            .map(|r| r.info.first_deployed.clone())
            .filter(|_| !install)
            .unwrap_or_else(|| now.clone());
        let mut record = StoredRelease {
            name: release_name.clone(),
            info: helm_storage::Info {
                first_deployed,
                last_deployed: now,
                deleted: String::new(),
                description: if install {
                    "Initial install underway"
                } else {
                    "Preparing upgrade"
                }
                .into(),
                status: if install {
                    status::PENDING_INSTALL
                } else {
                    status::PENDING_UPGRADE
                }
                .into(),
                notes: rendered.notes.clone(),
            },
            chart: helm_storage::chart_json(&chart),
            config: values_json(values),
            manifest,
            hooks: rendered.hooks.iter().map(StoredHook::from_hook).collect(),
            version,
            namespace: namespace.clone(),
            // We apply with server-side apply and force, as helm-controller does;
            // recorded as client-side, so the `helm` CLI's next action on this release
            // merges instead of failing on helm-controller's field ownership
            // (Helm 4 does not force conflicts by default).
            apply_method: "csa".into(),
        };
        if install
            && hr
                .spec
                .install
                .as_ref()
                .and_then(|i| i.create_namespace)
                .unwrap_or(false)
        {
            // `install.createNamespace`: the target namespace, made as Helm's
            // `--create-namespace` makes it (not part of the release), before the
            // release's first record is stored there.
            ensure_namespace(applier, &namespace).await.map_err(&fail)?;
        }
        storage
            .write(&record)
            .await
            .map_err(HelmReleaseError::Storage)?;
        status.last_attempted_release_action =
            Some(if install { "install" } else { "upgrade" }.into());

        let verb = if install { "install" } else { "upgrade" };
        let timeout = settings.timeout;
        // What this action creates (not what it adopts or updates): a failed upgrade
        // with `cleanupOnFail` deletes exactly that.
        let mut created = Vec::new();
        let outcome = async {
            if !settings.disable_hooks {
                let event = format!("pre-{verb}");
                hooks::run(applier, &mut record.hooks, &event, &namespace, timeout)
                    .await
                    .map_err(|e| format!("failed {event}: {e}"))?;
            }
            self.apply_release(
                applier,
                objects,
                &owner,
                history,
                &namespace,
                &settings,
                status,
                &mut created,
            )
            .await?;
            if !settings.disable_hooks {
                let event = format!("post-{verb}");
                hooks::run(applier, &mut record.hooks, &event, &namespace, timeout)
                    .await
                    .map_err(|e| format!("failed {event}: {e}"))?;
            }
            Ok::<(), String>(())
        }
        .await;
        match outcome {
            Ok(()) => {
                record.info.status = status::DEPLOYED.into();
                record.info.description = if install {
                    "Install complete"
                } else {
                    "Upgrade complete"
                }
                .into();
                storage
                    .write(&record)
                    .await
                    .map_err(HelmReleaseError::Storage)?;
                for old in history.iter().filter(|r| r.info.status == status::DEPLOYED) {
                    let mut superseded = old.clone();
                    superseded.info.status = status::SUPERSEDED.into();
                    superseded.info.description = "Superseded".into();
                    storage
                        .write(&superseded)
                        .await
                        .map_err(HelmReleaseError::Storage)?;
                }
                let max = hr
                    .spec
                    .max_history
                    .map_or(DEFAULT_MAX_HISTORY, |m| m.max(0) as usize);
                if max > 0 && history.len() + 1 > max {
                    for old in &history[..history.len() + 1 - max] {
                        storage
                            .delete(old.version)
                            .await
                            .map_err(HelmReleaseError::Storage)?;
                    }
                }
                Ok(record)
            }
            Err(message) => {
                if settings.cleanup_on_fail && !created.is_empty() {
                    // Helm's cleanup: what the failed upgrade created goes again; the
                    // inventory keeps what is left.
                    tracing::info!(release = %release_name, objects = created.len(), "cleanup on fail: deleting what the upgrade created");
                    ssa::delete_all(
                        applier,
                        &created,
                        &owner,
                        None,
                        PropagationPolicy::Background,
                    )
                    .await
                    .map_err(|e| fail(format!("{message}; cleanup on fail: {e}")))?;
                    if let Some(inventory) = status.inventory.as_mut() {
                        inventory
                            .entries
                            .retain(|e| !created.iter().any(|c| c.id == e.id));
                    }
                }
                record.info.status = status::FAILED.into();
                record.info.description = format!("Release \"{release_name}\" failed: {message}");
                storage
                    .write(&record)
                    .await
                    .map_err(HelmReleaseError::Storage)?;
                status.history = Some(snapshots(&record, status.history.take()));
                Err(fail(message))
            }
        }
    }

    /// Applies the release's objects, deletes what the previous revision had and
    /// this one lacks, and waits for them unless told not to.
    #[allow(clippy::too_many_arguments)]
    async fn apply_release(
        &self,
        applier: &Applier,
        objects: Vec<Value>,
        owner: &Owner,
        history: &[StoredRelease],
        namespace: &str,
        settings: &plan::ActionSettings,
        status: &mut HelmReleaseStatus,
        created: &mut Vec<InventoryEntry>,
    ) -> Result<(), String> {
        let no_custom_stages = HashSet::<GroupKind>::new();
        let timeout = settings.timeout;
        let options = ssa::ApplyOptions {
            owner,
            force: settings.force,
            timeout,
            custom_stage_kinds: &no_custom_stages,
        };
        let applied = match ssa::apply_staged(applier, objects, &options).await {
            Ok(applied) => applied,
            Err(error) => {
                if let ssa::StagedError::Apply { applied, .. } = &error {
                    created.extend(created_entries(applied));
                }
                return Err(error.to_string());
            }
        };
        created.extend(created_entries(&applied.change_set));
        self.remember(owner, applied.versions.clone());
        let new_inventory = applied.inventory();
        let mut old_inventory = status_inventory(Some(status));
        if let Some(previous) = history.last() {
            old_inventory.extend(
                self.manifest_inventory(applier, &previous.manifest, namespace)
                    .await,
            );
        }
        ssa::prune(applier, &old_inventory, &new_inventory, owner)
            .await
            .map_err(|e| e.to_string())?;
        status.inventory = Some(ResourceInventory {
            entries: new_inventory
                .into_iter()
                .map(|e| ResourceRef { id: e.id, v: e.v })
                .collect(),
        });
        if settings.disable_wait {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let targets: Vec<ObjectRef> = applied.versions.iter().map(|(r, _)| r.clone()).collect();
        health::wait_for(applier, &targets, timeout, &[])
            .await
            .map_err(|failure| format!("context deadline exceeded: {failure}"))?;
        // kstatus calls a running Job ready; helm-controller (Helm's
        // `--wait-for-jobs`) waits until it is complete, unless told not to.
        if !settings.disable_wait_for_jobs {
            for job in targets
                .iter()
                .filter(|r| r.kind == "Job" && r.api_version.starts_with("batch/"))
            {
                hooks::wait_finished(applier, job, deadline)
                    .await
                    .map_err(|e| format!("context deadline exceeded: {}: {e}", job.display()))?;
            }
        }
        Ok(())
    }

    /// `spec.test.enable`: runs the release's test hooks (minus `filters` that
    /// exclude), records their runs with the release and in `TestSuccess`. A failure
    /// fails the release unless `ignoreFailures`.
    async fn test_release(
        &self,
        hr: &HelmRelease,
        key: &ObjectKey,
        applier: &Applier,
        record: &mut StoredRelease,
        status: &mut HelmReleaseStatus,
    ) -> Result<(), String> {
        let Some(test) = hr.spec.test.as_ref().filter(|t| t.enable == Some(true)) else {
            return Ok(());
        };
        let excluded: Vec<&str> = test
            .filters
            .iter()
            .flatten()
            .filter(|f| f.exclude == Some(true))
            .map(|f| f.name.as_str())
            .collect();
        let namespace = target_namespace(hr, &key.namespace);
        let timeout = parse_duration(test.timeout.as_deref()).unwrap_or_else(|| timeout_of(hr));
        let mut tests: Vec<StoredHook> = record
            .hooks
            .iter()
            .filter(|h| {
                h.events.iter().any(|e| e == "test") && !excluded.contains(&h.name.as_str())
            })
            .cloned()
            .collect();
        let result = hooks::run(applier, &mut tests, "test", &namespace, timeout).await;
        for run in &tests {
            if let Some(hook) = record.hooks.iter_mut().find(|h| h.name == run.name) {
                hook.last_run = run.last_run.clone();
            }
        }
        let storage = release_storage(hr, &key.namespace, applier);
        storage.write(record).await?;
        let subject = format!(
            "release {namespace}/{}.v{} with chart {}@{}",
            record.name,
            record.version,
            record
                .chart
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            record
                .chart
                .pointer("/metadata/version")
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
        let (state, reason, message) = match &result {
            Ok(()) => (
                TRUE,
                "TestSucceeded",
                format!(
                    "Helm test succeeded for {subject}: {} test hooks completed successfully",
                    tests.len()
                ),
            ),
            Err(e) => (
                FALSE,
                "TestFailed",
                format!("Helm test failed for {subject}: {e}"),
            ),
        };
        let mut conds = status.conditions.take().unwrap_or_default();
        conditions::set(
            &mut conds,
            TEST_SUCCESS,
            state,
            reason,
            &message,
            hr.metadata.generation,
            chrono::Utc::now(),
        );
        status.conditions = Some(conds);
        match result {
            Err(_) if test.ignore_failures != Some(true) => Err(message),
            _ => Ok(()),
        }
    }

    fn remember(&self, owner: &Owner, versions: Vec<(ObjectRef, String)>) {
        if let Ok(mut last) = self.last.lock() {
            last.insert(
                ObjectKey::new(KIND, &owner.namespace, &owner.name),
                versions,
            );
        }
    }

    /// Drift detection on an up-to-date release: the objects the watch saw change
    /// since our last apply (all of them after a restart) are compared with what
    /// applying the release would make of them; drifted ones are corrected
    /// (`enabled`) or only reported (`warn`). Returns the report, if any drifted.
    async fn check_drift(
        &self,
        hr: &HelmRelease,
        key: &ObjectKey,
        applier: &Applier,
        latest: &StoredRelease,
        mode: DriftMode,
    ) -> Result<Option<String>, HelmReleaseError> {
        let rules = hr
            .spec
            .drift_detection
            .as_ref()
            .and_then(|d| d.ignore.clone())
            .unwrap_or_default();
        let namespace = target_namespace(hr, &key.namespace);
        let owner = Owner::new(OwnerKind::HelmRelease, &key.name, &key.namespace);
        let documents = split_manifest(&latest.manifest);
        let mut objects = self
            .objects_of(applier, &documents, &namespace, Some(&owner))
            .await
            .map_err(HelmReleaseError::Drift)?;
        ownership_metadata(&mut objects, &latest.name, &namespace);
        let known: std::collections::HashMap<ObjectRef, String> = self
            .last
            .lock()
            .ok()
            .and_then(|l| l.get(key).cloned())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut drifted = Vec::new();
        let mut versions = Vec::new();
        for mut object in objects {
            let r = ObjectRef::of(&object).map_err(|e| HelmReleaseError::Drift(e.to_string()))?;
            let seen = applier.tracker.seen(&r);
            if let (Seen::Version(now), Some(then)) = (&seen, known.get(&r)) {
                if now == then {
                    versions.push((r, now.clone()));
                    continue;
                }
            }
            let ignored = drift::ignored_paths(&rules, &object);
            let live = applier
                .get(&r)
                .await
                .map_err(|e| HelmReleaseError::Drift(e.to_string()))?;
            let changed = match &live {
                None => Some(format!("{} removed", r.display())),
                Some(live) => {
                    let would_be = applier
                        .dry_run(&object)
                        .await
                        .map_err(|e| HelmReleaseError::Drift(e.to_string()))?;
                    drift::has_drifted(live, &would_be, &ignored)
                        .then(|| format!("{} changed", r.display()))
                }
            };
            let Some(change) = changed else {
                if let Seen::Version(now) = seen {
                    versions.push((r, now));
                }
                continue;
            };
            drifted.push(change);
            if mode == DriftMode::Enabled {
                for path in &ignored {
                    drift::remove_path(&mut object, path);
                }
                let (before, _) = applier
                    .before_apply(&r)
                    .await
                    .map_err(|e| HelmReleaseError::Drift(e.to_string()))?;
                let (_, version) = applier
                    .apply(&object, &before, false)
                    .await
                    .map_err(|e| HelmReleaseError::Drift(e.to_string()))?;
                versions.push((r, version));
            }
        }
        if mode == DriftMode::Enabled || drifted.is_empty() {
            self.remember(&owner, versions);
        }
        Ok((!drifted.is_empty()).then(|| {
            format!(
                "Cluster state of release {namespace}/{}.v{} has drifted from the desired state:\n{}",
                latest.name,
                latest.version,
                drifted.join("\n")
            )
        }))
    }

    /// Uninstalls the release when the HelmRelease goes (unless suspended), and the
    /// HelmChart made for it.
    async fn finalize(
        &self,
        hr: &HelmRelease,
        key: &ObjectKey,
        applier: &Applier,
    ) -> Result<(), ReconcileError> {
        let failed = |e: String| ReconcileError::new("UninstallFailed", e);
        if hr.spec.suspend != Some(true) {
            let keep_history = hr
                .spec
                .uninstall
                .as_ref()
                .and_then(|u| u.keep_history)
                .unwrap_or(false);
            self.uninstall(hr, key, applier, keep_history)
                .await
                .map_err(failed)?;
            if hr.spec.chart.is_some() {
                let source_namespace = hr
                    .spec
                    .chart
                    .as_ref()
                    .and_then(|c| c.spec.source_ref.namespace.clone())
                    .unwrap_or_else(|| key.namespace.clone());
                match self
                    .helm_charts(&source_namespace)
                    .delete(&plan::chart_name(hr), &DeleteParams::default())
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(failed(e.to_string())),
                }
            }
        }
        self.set_finalizer(key, false).await
    }

    /// Helm's uninstall: the release's objects deleted (those its latest revision
    /// lists and those in `status.inventory`), then its records, or with
    /// `keep_history` the latest marked uninstalled.
    async fn uninstall(
        &self,
        hr: &HelmRelease,
        key: &ObjectKey,
        applier: &Applier,
        keep_history: bool,
    ) -> Result<(), String> {
        let namespace = target_namespace(hr, &key.namespace);
        let storage = release_storage(hr, &key.namespace, applier);
        let history = storage.history().await?;
        let owner = Owner::new(OwnerKind::HelmRelease, &key.name, &key.namespace);
        let mut entries = status_inventory(hr.status.as_ref());
        if let Some(latest) = history.last() {
            for entry in self
                .manifest_inventory(applier, &latest.manifest, &namespace)
                .await
            {
                if !entries.iter().any(|e| e.id == entry.id) {
                    entries.push(entry);
                }
            }
        }
        let disable_hooks = hr
            .spec
            .uninstall
            .as_ref()
            .and_then(|u| u.disable_hooks)
            .unwrap_or(false);
        let timeout = hr
            .spec
            .uninstall
            .as_ref()
            .and_then(|u| parse_duration(u.timeout.as_deref()))
            .unwrap_or_else(|| timeout_of(hr));
        let mut delete_hooks = history.last().map(|r| r.hooks.clone()).unwrap_or_default();
        if !disable_hooks {
            hooks::run(
                applier,
                &mut delete_hooks,
                "pre-delete",
                &namespace,
                timeout,
            )
            .await
            .map_err(|e| format!("failed pre-delete: {e}"))?;
        }
        ssa::delete_all(
            applier,
            &entries,
            &owner,
            None,
            plan::deletion_propagation(hr),
        )
        .await
        .map_err(|e| e.to_string())?;
        if !disable_hooks {
            hooks::run(
                applier,
                &mut delete_hooks,
                "post-delete",
                &namespace,
                timeout,
            )
            .await
            .map_err(|e| format!("failed post-delete: {e}"))?;
        }
        for release in &history {
            if keep_history && Some(release.version) == history.last().map(|r| r.version) {
                let mut uninstalled = release.clone();
                uninstalled.info.status = status::UNINSTALLED.into();
                uninstalled.info.deleted = now_rfc3339();
                uninstalled.info.description = "Uninstallation complete".into();
                storage.write(&uninstalled).await?;
            } else if !keep_history {
                storage.delete(release.version).await?;
            }
        }
        Ok(())
    }

    /// The objects a stored manifest lists, as inventory entries.
    async fn manifest_inventory(
        &self,
        applier: &Applier,
        manifest: &str,
        namespace: &str,
    ) -> Vec<InventoryEntry> {
        let documents = split_manifest(manifest);
        self.objects_of(applier, &documents, namespace, None)
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|o| InventoryEntry::for_object(o).ok())
            .collect()
    }

    /// Helm's rollback after a failed upgrade: the last release that was deployed
    /// before it, applied again as a new revision, which becomes the deployed one.
    async fn rollback(
        &self,
        hr: &HelmRelease,
        key: &ObjectKey,
        applier: &Applier,
        status: &mut HelmReleaseStatus,
    ) -> Result<StoredRelease, String> {
        let release_name = plan::release_name(hr);
        let namespace = target_namespace(hr, &key.namespace);
        let storage = release_storage(hr, &key.namespace, applier);
        let history = storage.history().await?;
        let target = history
            .iter()
            .rev()
            .find(|r| {
                matches!(
                    r.info.status.as_str(),
                    status::DEPLOYED | status::SUPERSEDED
                )
            })
            .cloned()
            .ok_or_else(|| "no previous release to roll back to".to_owned())?;
        let owner = Owner::new(OwnerKind::HelmRelease, &key.name, &key.namespace);
        let documents = split_manifest(&target.manifest);
        let mut objects = self
            .objects_of(applier, &documents, &namespace, Some(&owner))
            .await?;
        ownership_metadata(&mut objects, &release_name, &namespace);
        let mut record = target.clone();
        record.version = history.last().map_or(1, |r| r.version + 1);
        record.info.last_deployed = now_rfc3339();
        record.info.status = status::PENDING_ROLLBACK.into();
        record.info.description = format!("Rollback to {}", target.version);
        storage.write(&record).await?;
        let settings = plan::rollback_settings(hr);
        let (timeout, disable_hooks) = (settings.timeout, settings.disable_hooks);
        if !disable_hooks {
            hooks::run(
                applier,
                &mut record.hooks,
                "pre-rollback",
                &namespace,
                timeout,
            )
            .await
            .map_err(|e| format!("failed pre-rollback: {e}"))?;
        }
        let mut created = Vec::new();
        self.apply_release(
            applier,
            objects,
            &owner,
            &history,
            &namespace,
            &settings,
            status,
            &mut created,
        )
        .await?;
        if !disable_hooks {
            hooks::run(
                applier,
                &mut record.hooks,
                "post-rollback",
                &namespace,
                timeout,
            )
            .await
            .map_err(|e| format!("failed post-rollback: {e}"))?;
        }
        record.info.status = status::DEPLOYED.into();
        storage.write(&record).await?;
        for old in history.iter().filter(|r| r.info.status == status::DEPLOYED) {
            let mut superseded = old.clone();
            superseded.info.status = status::SUPERSEDED.into();
            storage.write(&superseded).await?;
        }
        Ok(record)
    }

    /// After a failed install or upgrade: counts the failure and remediates as
    /// `spec.install|upgrade.remediation` says (uninstall a failed install, roll a
    /// failed upgrade back), unless the retries are exhausted and the last failure is
    /// not to be remediated. Returns the error to report.
    async fn remediate(
        &self,
        hr: &HelmRelease,
        key: &ObjectKey,
        applier: &Applier,
        install: bool,
        error: HelmReleaseError,
        status: &mut HelmReleaseStatus,
    ) -> HelmReleaseError {
        let counter = if install {
            &mut status.install_failures
        } else {
            &mut status.upgrade_failures
        };
        let failures = counter.unwrap_or(0) + 1;
        *counter = Some(failures);
        status.failures = Some(status.failures.unwrap_or(0) + 1);
        let (retries, remediate_last, strategy) = remediation(hr, install);
        let exhausted = retries >= 0 && failures > i64::from(retries);
        if exhausted && !remediate_last {
            return error;
        }
        let release_name = plan::release_name(hr);
        let namespace = target_namespace(hr, &key.namespace);
        let remediated = if strategy == "uninstall" || install {
            self.uninstall(hr, key, applier, false).await.map(|()| {
                status.inventory = None;
                (
                    "UninstallSucceeded",
                    format!("Helm uninstall for release {namespace}/{release_name} succeeded"),
                )
            })
        } else {
            self.rollback(hr, key, applier, status).await.map(|record| {
                status.last_release_revision = Some(record.version as i32);
                let previous = status.history.take();
                status.history = Some(snapshots(&record, previous));
                (
                    "RollbackSucceeded",
                    format!(
                        "Helm rollback to previous release {namespace}/{release_name}.v{} succeeded",
                        record.version
                    ),
                )
            })
        };
        let (state, reason, message) = match remediated {
            Ok((reason, message)) => (TRUE, reason, message),
            Err(e) => (
                FALSE,
                if install {
                    "UninstallFailed"
                } else {
                    "RollbackFailed"
                },
                e,
            ),
        };
        let mut conds = status.conditions.take().unwrap_or_default();
        conditions::set(
            &mut conds,
            REMEDIATED,
            state,
            reason,
            &message,
            hr.metadata.generation,
            chrono::Utc::now(),
        );
        status.conditions = Some(conds);
        error
    }

    async fn set_finalizer(&self, key: &ObjectKey, present: bool) -> Result<(), ReconcileError> {
        let api: Api<HelmRelease> = Api::namespaced(self.client.clone(), &key.namespace);
        finalizer::set(&api, &key.name, present).await
    }

    /// Every phase; fills in `status` as it goes.
    async fn run_phases(
        &self,
        hr: &HelmRelease,
        key: &ObjectKey,
        applier: &Applier,
        status: &mut HelmReleaseStatus,
    ) -> Result<Reconciled, HelmReleaseError> {
        self.check_spec(hr, &key.namespace)?;
        self.dependencies_ready(hr, &key.namespace)
            .await
            .map_err(HelmReleaseError::DependencyNotReady)?;
        let (chart_namespace, chart_name, live_chart) =
            self.ensure_chart(hr, &key.namespace).await?;
        if live_chart.get("kind").and_then(Value::as_str) != Some("OCIRepository") {
            status.helm_chart = Some(format!("{chart_namespace}/{chart_name}"));
        }
        let artifact = self.chart_artifact(&chart_namespace, &chart_name, &live_chart)?;
        let chart = self.load_chart(&artifact).await?;
        let values = self.values(hr, &key.namespace).await?;
        let release_name = plan::release_name(hr);
        let storage_ns = storage_namespace(hr, &key.namespace);
        status.storage_namespace = Some(storage_ns.clone());
        let storage = ReleaseStorage::new(applier.client(), &storage_ns, &release_name);
        let mut history = storage.history().await.map_err(HelmReleaseError::Storage)?;
        // One actor runs each HelmRelease: a release still pending now was left so by
        // a reconcile that died (a crash, a lost replica). Helm would refuse to act on
        // it; as helm-controller does, it is marked failed and remediated from there.
        if let Some(stuck) = history
            .last_mut()
            .filter(|r| status::is_pending(&r.info.status))
        {
            stuck.info.description = format!(
                "Release was left {} by an interrupted reconcile; marked failed",
                stuck.info.status
            );
            stuck.info.status = status::FAILED.into();
            storage
                .write(stuck)
                .await
                .map_err(HelmReleaseError::Storage)?;
        }
        let latest = history.last();
        let values = plan::effective_values(
            plan::action_settings(hr, false).preserve_values,
            latest,
            values,
        );
        let config_digest = plan::config_digest(&values);
        let deployed_digest = latest.map(|r| {
            let values =
                ferroflux_helm::package::read_values(&r.config.to_string()).unwrap_or_default();
            plan::config_digest(&values)
        });
        let force_at = hr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("reconcile.fluxcd.io/forceAt"))
            .cloned();
        let forced = force_at.is_some() && force_at != status.last_handled_force_at;
        let (chart_name_text, chart_version) = (chart.name(), chart.version());
        let desired = Desired {
            chart_name: &chart_name_text,
            chart_version: &chart_version,
            config_digest: &config_digest,
            forced,
        };
        let post_renderers_digest = plan::digest_of(
            serde_json::to_string(&hr.spec.post_renderers)
                .unwrap_or_default()
                .as_bytes(),
        );
        let common_metadata_digest = plan::digest_of(
            serde_json::to_string(&hr.spec.common_metadata)
                .unwrap_or_default()
                .as_bytes(),
        );
        let mut action = plan::next_action(latest, deployed_digest.as_deref(), &desired);
        // Changed post-renderers or common metadata change what is applied: an
        // upgrade, as in Flux.
        let changed = |observed: &Option<String>, digest: &str| {
            observed.as_deref().is_some_and(|d| d != digest)
        };
        if action == ReleaseAction::UpToDate
            && (changed(
                &status.observed_post_renderers_digest,
                &post_renderers_digest,
            ) || changed(
                &status.observed_common_metadata_digest,
                &common_metadata_digest,
            ))
        {
            action = ReleaseAction::Upgrade;
        }
        let generation = hr.metadata.generation;
        let reset_at = hr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("reconcile.fluxcd.io/resetAt"))
            .cloned();
        let reset = reset_at.is_some() && reset_at != status.last_handled_reset_at;
        if reset {
            status.last_handled_reset_at = reset_at;
        }
        if reset || status.last_attempted_generation != generation {
            // A new spec gets fresh remediation attempts.
            status.install_failures = None;
            status.upgrade_failures = None;
            status.failures = None;
        }
        status.last_attempted_generation = generation;
        status.last_attempted_revision = Some(chart_version.clone());
        status.last_attempted_revision_digest = Some(artifact.digest.clone());
        status.last_attempted_config_digest = Some(config_digest.clone());
        if forced {
            status.last_handled_force_at = force_at;
        }
        let namespace = target_namespace(hr, &key.namespace);
        if action == ReleaseAction::UpToDate {
            status
                .observed_post_renderers_digest
                .get_or_insert(post_renderers_digest);
            status
                .observed_common_metadata_digest
                .get_or_insert(common_metadata_digest);
            let latest = latest
                .cloned()
                .ok_or_else(|| HelmReleaseError::Storage("no release".into()))?;
            let mode = DriftMode::from_spec(
                hr.spec
                    .drift_detection
                    .as_ref()
                    .and_then(|d| d.mode.as_deref()),
            );
            if mode != DriftMode::Disabled {
                if let Some(report) = self.check_drift(hr, key, applier, &latest, mode).await? {
                    let (kind, reason) = match mode {
                        DriftMode::Enabled => (EventType::Normal, "DriftCorrected"),
                        _ => (EventType::Warning, "DriftDetected"),
                    };
                    let object = serde_json::to_value(hr).unwrap_or_default();
                    self.events.record(&object, kind, reason, &report).await;
                }
            }
            status.last_release_revision = Some(latest.version as i32);
            let verb = if latest.version == 1 {
                "install"
            } else {
                "upgrade"
            };
            return Ok(Reconciled {
                reason: if latest.version == 1 { "InstallSucceeded" } else { "UpgradeSucceeded" },
                message: format!(
                    "Helm {verb} succeeded for release {namespace}/{release_name}.v{} with chart {}",
                    latest.version,
                    chart_label(&chart)
                ),
                acted: false,
            });
        }
        let install = action == ReleaseAction::Install;
        let failures = if install {
            status.install_failures
        } else {
            status.upgrade_failures
        }
        .unwrap_or(0);
        let (retries, _, _) = remediation(hr, install);
        if retries >= 0 && failures > 0 && failures > i64::from(retries) {
            return Err(HelmReleaseError::RetriesExhausted(format!(
                "Failed to {} after {failures} attempt(s)",
                if install { "install" } else { "upgrade" }
            )));
        }
        let label = chart_label(&chart);
        match self
            .act(hr, key, applier, chart, &values, action, &history, status)
            .await
        {
            Ok(mut record) => {
                status.last_release_revision = Some(record.version as i32);
                status.observed_post_renderers_digest = Some(post_renderers_digest);
                status.observed_common_metadata_digest = Some(common_metadata_digest);
                let tested = self
                    .test_release(hr, key, applier, &mut record, status)
                    .await;
                let previous = status.history.take();
                status.history = Some(snapshots(&record, previous));
                if let Err(failure) = tested {
                    let error = if install {
                        HelmReleaseError::Install(failure)
                    } else {
                        HelmReleaseError::Upgrade(failure)
                    };
                    return Err(self
                        .remediate(hr, key, applier, install, error, status)
                        .await);
                }
                let verb = if install { "install" } else { "upgrade" };
                Ok(Reconciled {
                    reason: if install { "InstallSucceeded" } else { "UpgradeSucceeded" },
                    message: format!(
                        "Helm {verb} succeeded for release {namespace}/{release_name}.v{} with chart {label}",
                        record.version
                    ),
                    acted: true,
                })
            }
            Err(error @ (HelmReleaseError::Install(_) | HelmReleaseError::Upgrade(_))) => Err(self
                .remediate(hr, key, applier, install, error, status)
                .await),
            Err(error) => Err(error),
        }
    }

    /// The single status write, the events, and the outcome.
    async fn finish(
        &self,
        object: &Value,
        hr: &HelmRelease,
        key: &ObjectKey,
        mut status: HelmReleaseStatus,
        result: Result<Reconciled, HelmReleaseError>,
        ctx: &ReconcileContext,
    ) -> ReconcileOutcome {
        let generation = hr.metadata.generation;
        let stored = hr.status.clone().unwrap_or_default();
        let now = chrono::Utc::now();
        let mut conds: Vec<Condition> = status.conditions.take().unwrap_or_default();
        let outcome = match &result {
            Ok(done) => {
                status.observed_generation = generation;
                conditions::set(
                    &mut conds,
                    READY,
                    TRUE,
                    done.reason,
                    &done.message,
                    generation,
                    now,
                );
                conditions::set(
                    &mut conds,
                    RELEASED,
                    TRUE,
                    done.reason,
                    &done.message,
                    generation,
                    now,
                );
                conditions::remove(&mut conds, RECONCILING);
                conditions::remove(&mut conds, STALLED);
                if done.acted {
                    conditions::remove(&mut conds, REMEDIATED);
                }
                ReconcileOutcome::Ready {
                    requeue_after: None,
                }
            }
            Err(failure) => {
                let (reason, message) = (failure.reason(), failure.to_string());
                conditions::set(&mut conds, READY, FALSE, reason, &message, generation, now);
                if matches!(
                    failure,
                    HelmReleaseError::Install(_) | HelmReleaseError::Upgrade(_)
                ) {
                    conditions::set(
                        &mut conds, RELEASED, FALSE, reason, &message, generation, now,
                    );
                }
                let error = ReconcileError::new(reason, message.clone());
                if failure.stalled() {
                    status.observed_generation = generation;
                    conditions::set(&mut conds, STALLED, TRUE, reason, &message, generation, now);
                    conditions::remove(&mut conds, RECONCILING);
                    ReconcileOutcome::Stalled(error)
                } else {
                    conditions::remove(&mut conds, STALLED);
                    conditions::set(
                        &mut conds,
                        RECONCILING,
                        TRUE,
                        "ProgressingWithRetry",
                        &format!("retrying: {message}"),
                        generation,
                        now,
                    );
                    match failure {
                        HelmReleaseError::DependencyNotReady(_) => {
                            ReconcileOutcome::RetryAfter(error, self.requeue_dependency)
                        }
                        // A failed action is retried (with backoff) while the
                        // remediation allows.
                        HelmReleaseError::Install(_) | HelmReleaseError::Upgrade(_) => {
                            ReconcileOutcome::Transient(error)
                        }
                        _ => ReconcileOutcome::RetryAfter(
                            error,
                            parse_duration(Some(&hr.spec.interval))
                                .unwrap_or(Duration::from_secs(60)),
                        ),
                    }
                }
            }
        };
        status.conditions = Some(conds);
        let status_changed = status != stored;
        if status_changed {
            if let Err(e) = self.write_status(key, &status).await {
                return ReconcileOutcome::Transient(e);
            }
            // Dependants waiting on this one hear about it without polling.
            if result.is_ok() {
                ctx.publish_artifact_changed();
            }
        }
        match &result {
            Ok(done) if done.acted => {
                self.events
                    .record(object, EventType::Normal, done.reason, &done.message)
                    .await
            }
            Ok(_) => {}
            Err(failure) => {
                self.events
                    .record(
                        object,
                        EventType::Warning,
                        failure.reason(),
                        &failure.to_string(),
                    )
                    .await
            }
        }
        outcome
    }
}

/// Whether `live` already has every field `desired` sets (the API server may add
/// more: defaults, status).
fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(live), Value::Object(desired)) => desired
            .iter()
            .all(|(k, v)| live.get(k).is_some_and(|l| contains(l, v))),
        (live, desired) => live == desired,
    }
}

/// `spec.postRenderers`, in order: each a kustomize build of the rendered objects
/// with its `patches` and `images`, as helm-controller's kustomize post-renderer.
async fn post_render(
    objects: Vec<Value>,
    post_renderers: Vec<crate::api::helm_v2::PostRenderer>,
) -> Result<Vec<Value>, String> {
    tokio::task::spawn_blocking(move || {
        let mut objects = objects;
        for renderer in post_renderers {
            let Some(kustomize) = renderer.kustomize else {
                continue;
            };
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            std::fs::write(
                dir.path().join("resources.yaml"),
                ferroflux_kustomize::to_yaml_stream(&objects),
            )
            .map_err(|e| e.to_string())?;
            std::fs::write(
                dir.path().join("kustomization.yaml"),
                "resources:\n- resources.yaml\n",
            )
            .map_err(|e| e.to_string())?;
            let mut options = ferroflux_kustomize::BuildOptions::flux(dir.path());
            options.overlay = Some(ferroflux_kustomize::FluxOverlay {
                patches: crate::controllers::kustomization::overlay_patches(
                    kustomize.patches.as_deref().unwrap_or_default(),
                ),
                images: crate::controllers::kustomization::overlay_images(
                    kustomize.images.as_deref().unwrap_or_default(),
                ),
                ..Default::default()
            });
            objects = ferroflux_kustomize::build_dir_with(dir.path(), &options)
                .map_err(|e| e.to_string())?;
        }
        Ok(objects)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Creates `namespace` unless it exists.
async fn ensure_namespace(applier: &Applier, namespace: &str) -> Result<(), String> {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    let r = ObjectRef::of(&ns).map_err(|e| e.to_string())?;
    let (before, _) = applier.before_apply(&r).await.map_err(|e| e.to_string())?;
    if matches!(before, Seen::Version(_)) {
        return Ok(());
    }
    applier
        .apply(&ns, &before, false)
        .await
        .map(|_| ())
        .map_err(|e| format!("failed to create namespace: {e}"))
}

/// `status.inventory` as inventory entries.
/// Helm's `lookup` during an install or upgrade: the live cluster as the applier's
/// account reads it (the impersonated one when the spec names a service account).
/// The render runs on its own thread, which waits here for the API server.
fn cluster_lookup(client: kube::Client, runtime: tokio::runtime::Handle) -> ClusterLookup {
    ClusterLookup(Arc::new(move |api_version, kind, namespace, name| {
        runtime.block_on(lookup_live(
            client.clone(),
            api_version,
            kind,
            namespace,
            name,
        ))
    }))
}

/// One `lookup`: the object, the list of them when `name` is empty, `{}` when the
/// object does not exist (Helm's answer), an error otherwise.
async fn lookup_live(
    client: kube::Client,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Value, String> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(&client, &gvk)
        .await
        .map_err(|e| format!("lookup {api_version} {kind}: {e}"))?;
    let api: Api<DynamicObject> =
        if capabilities.scope == kube::discovery::Scope::Namespaced && !namespace.is_empty() {
            Api::namespaced_with(client, namespace, &resource)
        } else {
            Api::all_with(client, &resource)
        };
    let failed = |e: kube::Error| format!("lookup {api_version} {kind} {namespace}/{name}: {e}");
    if name.is_empty() {
        let list = api
            .list(&kube::api::ListParams::default())
            .await
            .map_err(failed)?;
        let items: Vec<Value> = list
            .items
            .into_iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect();
        return Ok(
            json!({"apiVersion": api_version, "kind": format!("{kind}List"),
            "metadata": {"resourceVersion": list.metadata.resource_version}, "items": items}),
        );
    }
    match api.get_opt(name).await.map_err(failed)? {
        Some(object) => serde_json::to_value(object).map_err(|e| e.to_string()),
        None => Ok(json!({})),
    }
}

/// The objects a change set created, as inventory entries.
fn created_entries(change_set: &ssa::stages::ChangeSet) -> Vec<InventoryEntry> {
    let created = ssa::stages::ChangeSet {
        entries: change_set
            .entries
            .iter()
            .filter(|e| e.action == ssa::stages::Action::Created)
            .cloned()
            .collect(),
    };
    ssa::inventory::inventory_from_change_set(&created)
}

fn status_inventory(status: Option<&HelmReleaseStatus>) -> Vec<InventoryEntry> {
    status
        .and_then(|s| s.inventory.as_ref())
        .map(|i| {
            i.entries
                .iter()
                .map(|e| InventoryEntry {
                    id: e.id.clone(),
                    v: e.v.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Helm's ownership metadata, which `helm upgrade` checks before adopting an object.
fn ownership_metadata(objects: &mut [Value], release_name: &str, namespace: &str) {
    for object in objects {
        let metadata = &mut object["metadata"];
        metadata["labels"]["app.kubernetes.io/managed-by"] = json!("Helm");
        metadata["annotations"]["meta.helm.sh/release-name"] = json!(release_name);
        metadata["annotations"]["meta.helm.sh/release-namespace"] = json!(namespace);
    }
}

/// `spec.install|upgrade.remediation`: retries (-1: without end), whether the last
/// failure is remediated (by default only when there are retries), and the strategy
/// of an upgrade (`rollback` unless `uninstall`).
fn remediation(hr: &HelmRelease, install: bool) -> (i32, bool, String) {
    let (retries, last, strategy) = if install {
        let r = hr
            .spec
            .install
            .as_ref()
            .and_then(|i| i.remediation.as_ref());
        (
            r.and_then(|r| r.retries),
            r.and_then(|r| r.remediate_last_failure),
            None,
        )
    } else {
        let r = hr
            .spec
            .upgrade
            .as_ref()
            .and_then(|u| u.remediation.as_ref());
        (
            r.and_then(|r| r.retries),
            r.and_then(|r| r.remediate_last_failure),
            r.and_then(|r| r.strategy.clone()),
        )
    };
    let retries = retries.unwrap_or(0);
    (
        retries,
        last.unwrap_or(retries != 0),
        strategy.unwrap_or_else(|| "rollback".into()),
    )
}

/// A release's manifest split into its documents.
fn split_manifest(manifest: &str) -> Vec<String> {
    manifest
        .split("\n---")
        .map(|doc| doc.trim_start_matches("---").to_owned())
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// `status.history` with `record` as the newest snapshot (replacing one of the same
/// version), newest first, at most Flux's five.
fn snapshots(
    record: &StoredRelease,
    existing: Option<Vec<HelmReleaseSnapshot>>,
) -> Vec<HelmReleaseSnapshot> {
    let meta = |key: &str| {
        record
            .chart
            .pointer(&format!("/metadata/{key}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let config =
        ferroflux_helm::package::read_values(&record.config.to_string()).unwrap_or_default();
    let snapshot = HelmReleaseSnapshot {
        api_version: None,
        digest: plan::digest_of(&serde_json::to_vec(record).unwrap_or_default()),
        name: record.name.clone(),
        namespace: record.namespace.clone(),
        version: record.version as i32,
        status: record.info.status.clone(),
        chart_name: meta("name"),
        chart_version: meta("version"),
        app_version: Some(meta("appVersion")).filter(|v| !v.is_empty()),
        config_digest: plan::config_digest(&config),
        first_deployed: record.info.first_deployed.clone(),
        last_deployed: record.info.last_deployed.clone(),
        deleted: None,
        test_hooks: Some(
            record
                .hooks
                .iter()
                .filter(|h| {
                    h.events.iter().any(|e| e == "test") && !h.last_run.started_at.is_empty()
                })
                .map(|h| {
                    (
                        h.name.clone(),
                        TestHookStatus {
                            last_started: Some(h.last_run.started_at.clone()),
                            last_completed: Some(h.last_run.completed_at.clone())
                                .filter(|c| !c.is_empty()),
                            phase: Some(h.last_run.phase.clone()),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        )
        .filter(|m| !m.is_empty()),
        oci_digest: None,
        action: None,
    };
    let mut history = vec![snapshot];
    history.extend(
        existing
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !(s.name == record.name && i64::from(s.version) == record.version))
            .map(|mut s| {
                if s.status == status::DEPLOYED && record.info.status == status::DEPLOYED {
                    s.status = status::SUPERSEDED.into();
                }
                s
            }),
    );
    history.truncate(DEFAULT_MAX_HISTORY);
    history
}

impl Reconciler for HelmReleaseReconciler {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// The HelmChart (its new artifacts), the watched values objects and the
    /// dependencies (their readiness).
    fn dependencies(&self, object: &Value) -> Vec<ObjectKey> {
        let namespace = text(object, "/metadata/namespace");
        // A reference's namespace, defaulting to the HelmRelease's.
        let namespace_of = |reference: &Value| match text(reference, "/namespace") {
            "" => namespace.to_owned(),
            ns => ns.to_owned(),
        };
        let list = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut keys = Vec::new();
        if let Some(source) = object.pointer("/spec/chart/spec/sourceRef") {
            let name = format!("{namespace}-{}", text(object, "/metadata/name"));
            keys.push(ObjectKey::new("HelmChart", namespace_of(source), &name));
        }
        if let Some(chart_ref) = object.pointer("/spec/chartRef") {
            let kind = text(chart_ref, "/kind");
            keys.push(ObjectKey::new(
                kind,
                namespace_of(chart_ref),
                text(chart_ref, "/name"),
            ));
        }
        // A change to a values ConfigMap or Secret (when watched) reconciles.
        for reference in list("/spec/valuesFrom") {
            keys.push(ObjectKey::new(
                text(&reference, "/kind"),
                namespace,
                text(&reference, "/name"),
            ));
        }
        for dependency in list("/spec/dependsOn") {
            keys.push(ObjectKey::new(
                KIND,
                namespace_of(&dependency),
                text(&dependency, "/name"),
            ));
        }
        keys
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let key = ctx.key.clone();
        let mut current = object.clone();
        plan::read_legacy_fields(&mut current);
        let hr: HelmRelease = match serde_json::from_value(current) {
            Ok(hr) => hr,
            Err(e) => {
                return ReconcileOutcome::Stalled(ReconcileError::new("InvalidSpec", e.to_string()))
            }
        };
        let applier = match self.impersonator.applier(
            &self.applier,
            &self.client,
            &key.namespace,
            hr.spec.service_account_name.as_deref(),
        ) {
            Ok(applier) => applier.applying_for(OwnerKind::HelmRelease),
            Err(e) => {
                return ReconcileOutcome::Transient(ReconcileError::new("ImpersonationFailed", e))
            }
        };
        if let Some(outcome) = finalizer::prologue(
            object,
            self.finalize(&hr, &key, &applier),
            self.set_finalizer(&key, true),
        )
        .await
        {
            return outcome;
        }
        let mut status = hr.status.clone().unwrap_or_default();
        status.last_handled_reconcile_at =
            finalizer::requested_at(object).or(status.last_handled_reconcile_at);
        let result = self.run_phases(&hr, &key, &applier, &mut status).await;
        self.finish(object, &hr, &key, status, result, ctx).await
    }
}
