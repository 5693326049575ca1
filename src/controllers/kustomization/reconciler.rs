//! The Kustomization reconciler: source artifact → build (native kustomize, Flux's
//! overlay) → post-build substitution → staged server-side apply → prune → health →
//! status and events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

use super::applier::{
    Action, Applier, ApplyError, ObjectRef, Seen, OWNER_NAMESPACE_LABEL, OWNER_NAME_LABEL,
};
use super::{health, inventory, sops, spec_check, substitute};
use crate::actors::{ObjectKey, ReconcileContext, ReconcileError, ReconcileOutcome, Reconciler};
use crate::api::kustomize_v1::{
    Kustomization, KustomizationStatus, ResourceInventory, ResourceRef,
};
use crate::api::meta::Artifact;
use crate::api::source_v1::GitRepository;
use crate::controllers::conditions::{self, FALSE, READY, RECONCILING, STALLED, TRUE};
use crate::controllers::events::{EventRecorder, EventType};
use crate::source::artifact::{extract_tar_gz, ArtifactStore};
use crate::source::unpacked::{UnpackError, Unpacked, UnpackedArtifacts};

/// The field manager of our status writes, Flux's controller name.
pub const CONTROLLER: &str = "kustomize-controller";
const KIND: &str = "Kustomization";

/// Reconciles Kustomizations.
pub struct KustomizationReconciler {
    pub client: kube::Client,
    pub applier: Arc<Applier>,
    /// The replica's own artifact store: artifacts it serves are read from disk.
    pub store: Arc<ArtifactStore>,
    /// Artifacts unpacked once and shared by the builds that use them.
    pub unpacked: Arc<UnpackedArtifacts>,
    pub http: reqwest::Client,
    pub events: EventRecorder,
    /// How long to wait before checking a dependency again (`--requeue-dependency`).
    pub requeue_dependency: Duration,
    /// The controller's own client configuration, the base of impersonating ones.
    pub config: kube::Config,
    /// `--default-service-account`: the account of Kustomizations that name none.
    pub default_service_account: Option<String>,
    /// Clients impersonating service accounts, by `system:serviceaccount:NS:NAME`.
    pub impersonated: std::sync::Mutex<std::collections::HashMap<String, kube::Client>>,
    /// `--no-cross-namespace-refs`: sources and dependencies stay in the namespace.
    pub no_cross_namespace_refs: bool,
    /// Per Kustomization, what its last successful apply did (for cheap no-ops).
    pub last: std::sync::Mutex<std::collections::HashMap<ObjectKey, LastApply>>,
}

/// What a successful apply left behind: the desired state's digest and the
/// resourceVersion each object had afterwards.
#[derive(Debug, Clone)]
pub struct LastApply {
    desired: u64,
    versions: Vec<(ObjectRef, String)>,
}

/// A failed step: the Flux reason and message, and whether retrying can help.
struct Failure {
    reason: &'static str,
    message: String,
    stalled: bool,
}

impl Failure {
    fn retry(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            stalled: false,
        }
    }
}

/// What one successful apply did.
struct Applied {
    changes: Vec<(ObjectRef, Action)>,
    inventory: Vec<ResourceRef>,
    versions: Vec<(ObjectRef, String)>,
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl KustomizationReconciler {
    async fn write_status(
        &self,
        key: &ObjectKey,
        status: &KustomizationStatus,
    ) -> Result<(), ReconcileError> {
        let api: Api<Kustomization> = Api::namespaced(self.client.clone(), &key.namespace);
        let params = PatchParams {
            field_manager: Some(CONTROLLER.to_owned()),
            ..PatchParams::default()
        };
        api.patch_status(&key.name, &params, &Patch::Merge(json!({"status": status})))
            .await
            .map(|_| ())
            .map_err(|e| ReconcileError::new("StatusPatchFailed", e.to_string()))
    }

    /// The artifact of the source, or why there is none.
    async fn source_artifact(
        &self,
        ks: &Kustomization,
        namespace: &str,
    ) -> Result<Artifact, Failure> {
        let source = &ks.spec.source_ref;
        if source.kind != "GitRepository" {
            return Err(Failure {
                reason: "ArtifactFailed",
                message: format!("source kind '{}' is not supported yet", source.kind),
                stalled: true,
            });
        }
        let source_namespace = source
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.to_owned());
        let api: Api<GitRepository> = Api::namespaced(self.client.clone(), &source_namespace);
        let repo = api
            .get_opt(&source.name)
            .await
            .map_err(|e| Failure::retry("ArtifactFailed", format!("unable to get source: {e}")))?;
        let Some(repo) = repo else {
            return Err(Failure::retry(
                "ArtifactFailed",
                format!(
                    "Source '{}/{}/{}' not found",
                    source.kind, source_namespace, source.name
                ),
            ));
        };
        repo.status
            .and_then(|s| s.artifact)
            .ok_or_else(|| Failure::retry("ArtifactFailed", "Source artifact not found, retrying"))
    }

    /// The artifact's tarball, from the local store or downloaded, verified
    /// against its digest.
    async fn download(&self, artifact: &Artifact) -> Result<Vec<u8>, Failure> {
        // An artifact this replica serves is read from its store; the path comes from
        // a status, so it must be a plain relative path inside the store.
        let local = Path::new(&artifact.path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            .then(|| self.store.root.join(&artifact.path));
        let from_disk = match &local {
            Some(path) => tokio::fs::read(path).await.ok(),
            None => None,
        };
        let bytes = match from_disk {
            Some(bytes) => bytes,
            None => {
                let failed = |e: reqwest::Error| {
                    Failure::retry(
                        "ArtifactFailed",
                        format!("failed to download artifact: {e}"),
                    )
                };
                let response = self
                    .http
                    .get(&artifact.url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(failed)?;
                response.bytes().await.map_err(failed)?.to_vec()
            }
        };
        let digest = {
            use sha2::Digest as _;
            let hash = sha2::Sha256::digest(&bytes);
            format!(
                "sha256:{}",
                hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        };
        if digest != artifact.digest {
            return Err(Failure::retry(
                "ArtifactFailed",
                format!(
                    "failed to verify artifact: computed digest {digest} does not match {}",
                    artifact.digest
                ),
            ));
        }
        Ok(bytes)
    }

    /// The artifact unpacked: shared with every other build of the same digest,
    /// or, when the build decrypts files in place, a private copy.
    async fn fetch(&self, artifact: &Artifact, private: bool) -> Result<Workdir, Failure> {
        if !private {
            return self
                .unpacked
                .get_or_unpack(&artifact.digest, || self.download(artifact))
                .await
                .map(Workdir::Shared)
                .map_err(|e| match e {
                    UnpackError::Download(failure) => failure,
                    UnpackError::Extract(message) => Failure::retry("ArtifactFailed", message),
                });
        }
        let bytes = self.download(artifact).await?;
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            extract_tar_gz(bytes.as_slice(), dir.path()).map_err(|e| e.to_string())?;
            Ok::<_, String>(dir)
        })
        .await
        .map_err(|e| Failure::retry("ArtifactFailed", e.to_string()))?
        .map(Workdir::Private)
        .map_err(|e| Failure::retry("ArtifactFailed", format!("failed to extract artifact: {e}")))
    }
}

/// Where a build reads its artifact from.
enum Workdir {
    Shared(Arc<Unpacked>),
    Private(tempfile::TempDir),
}

impl Workdir {
    fn path(&self) -> &Path {
        match self {
            Self::Shared(unpacked) => unpacked.path(),
            Self::Private(dir) => dir.path(),
        }
    }
}

/// The Flux overlay a Kustomization's spec asks for.
pub(crate) fn overlay(ks: &Kustomization) -> ferroflux_kustomize::FluxOverlay {
    let spec = &ks.spec;
    let selector = |s: &crate::api::kustomize_v1::Selector| ferroflux_kustomize::Selector {
        group: s.group.clone().unwrap_or_default(),
        version: s.version.clone().unwrap_or_default(),
        kind: s.kind.clone().unwrap_or_default(),
        name: s.name.clone().unwrap_or_default(),
        namespace: s.namespace.clone().unwrap_or_default(),
        label_selector: s.label_selector.clone().unwrap_or_default(),
        annotation_selector: s.annotation_selector.clone().unwrap_or_default(),
    };
    ferroflux_kustomize::FluxOverlay {
        target_namespace: spec.target_namespace.clone().unwrap_or_default(),
        name_prefix: spec.name_prefix.clone().unwrap_or_default(),
        name_suffix: spec.name_suffix.clone().unwrap_or_default(),
        patches: spec
            .patches
            .iter()
            .flatten()
            .map(|p| (p.patch.clone(), p.target.as_ref().map(selector)))
            .collect(),
        images: spec
            .images
            .iter()
            .flatten()
            .map(|i| ferroflux_kustomize::FluxImage {
                name: i.name.clone(),
                new_name: i.new_name.clone().unwrap_or_default(),
                new_tag: i.new_tag.clone().unwrap_or_default(),
                digest: i.digest.clone().unwrap_or_default(),
            })
            .collect(),
        components: spec.components.clone().unwrap_or_default(),
        common_labels: spec
            .common_metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
        common_annotations: spec
            .common_metadata
            .as_ref()
            .and_then(|m| m.annotations.clone())
            .unwrap_or_default(),
    }
}

/// `spec.path` inside the artifact: relative, no way out (the build is fenced too).
fn build_dir(root: &Path, path: Option<&str>) -> Result<PathBuf, Failure> {
    let rel = path.unwrap_or("./").trim_start_matches('/');
    let mut dir = root.to_path_buf();
    for part in Path::new(rel).components() {
        match part {
            std::path::Component::Normal(p) => dir.push(p),
            std::path::Component::CurDir => {}
            _ => {
                return Err(Failure {
                    reason: "ArtifactFailed",
                    message: format!("spec.path '{rel}' must stay inside the source artifact"),
                    stalled: true,
                })
            }
        }
    }
    if !dir.is_dir() {
        return Err(Failure::retry(
            "ArtifactFailed",
            format!("kustomization path not found: {rel}"),
        ));
    }
    Ok(dir)
}

/// Builds the objects to apply.
async fn build(ks: &Kustomization, root: PathBuf) -> Result<Vec<Value>, Failure> {
    let dir = build_dir(&root, ks.spec.path.as_deref())?;
    let mut options = ferroflux_kustomize::BuildOptions::flux(&root);
    options.overlay = Some(overlay(ks));
    tokio::task::spawn_blocking(move || ferroflux_kustomize::build_dir_with(&dir, &options))
        .await
        .map_err(|e| Failure::retry("BuildFailed", e.to_string()))?
        .map_err(|e| Failure::retry("BuildFailed", e.to_string()))
}

/// Labels every object with its owner, as Flux does (prune deletes only objects
/// that carry them).
pub(crate) fn label_owner(objects: &mut [Value], name: &str, namespace: &str) {
    for object in objects {
        let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            continue;
        };
        let labels = metadata.entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(OWNER_NAME_LABEL.into(), json!(name));
            labels.insert(OWNER_NAMESPACE_LABEL.into(), json!(namespace));
        }
    }
}

/// Objects that define kinds or scopes go first: CRDs, Namespaces, and the
/// cluster-wide RBAC they may need.
fn is_first_stage(object: &Value) -> bool {
    matches!(
        text(object, "/kind"),
        "CustomResourceDefinition" | "Namespace" | "ClusterRole" | "ClusterRoleBinding"
    )
}

/// `NAMESPACE_NAME_GROUP_Kind` and version, as Flux keeps its inventory.
fn inventory_entry(r: &ObjectRef) -> ResourceRef {
    let (group, version) = match r.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", r.api_version.as_str()),
    };
    ResourceRef {
        id: format!("{}_{}_{}_{}", r.namespace, r.name, group, r.kind),
        v: version.to_owned(),
    }
}

/// The object an inventory entry names.
pub(crate) fn inventory_ref(entry: &ResourceRef) -> Option<ObjectRef> {
    let (namespace, rest) = entry.id.split_once('_')?;
    let (rest, kind) = rest.rsplit_once('_')?;
    let (name, group) = rest.rsplit_once('_')?;
    Some(ObjectRef {
        api_version: if group.is_empty() {
            entry.v.clone()
        } else {
            format!("{group}/{}", entry.v)
        },
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

fn disabled(object: &Value, key: &str) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        object
            .pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
    })
}

impl KustomizationReconciler {
    /// Applies in stages and prunes what the old inventory had and the new lacks.
    async fn apply_all(
        &self,
        applier: &Applier,
        ks: &Kustomization,
        objects: Vec<Value>,
        old_inventory: &[ResourceRef],
        key: &ObjectKey,
    ) -> Result<Applied, Failure> {
        let (first, rest): (Vec<Value>, Vec<Value>) = objects.into_iter().partition(is_first_stage);
        let mut changes = Vec::new();
        let mut inventory = Vec::new();
        let mut versions = Vec::new();
        for stage in [first, rest] {
            for object in &stage {
                let r = ObjectRef::of(object)
                    .map_err(|e| Failure::retry("ReconciliationFailed", e.to_string()))?;
                let before = applier.before_apply(&r).await.map_err(apply_failure)?;
                let policy = inventory::ssa_policy(object);
                let skip = match policy {
                    inventory::SsaPolicy::Ignore => true,
                    inventory::SsaPolicy::IfNotPresent => matches!(before, Seen::Version(_)),
                    _ => false,
                };
                if skip {
                    inventory.push(inventory_entry(&r));
                    changes.push((r, Action::Skipped));
                    continue;
                }
                let force = ks.spec.force == Some(true) || inventory::is_force_enabled(object);
                let (action, version) = applier
                    .apply(object, &before, force)
                    .await
                    .map_err(apply_failure)?;
                inventory.push(inventory_entry(&r));
                versions.push((r.clone(), version));
                changes.push((r, action));
            }
            // The next stage may use kinds this one defined: wait until served.
            for object in stage
                .iter()
                .filter(|o| text(o, "/kind") == "CustomResourceDefinition")
            {
                self.wait_established(applier, object, ks).await?;
            }
        }
        if ks.spec.prune {
            let current: std::collections::HashSet<&str> =
                inventory.iter().map(|e| e.id.as_str()).collect();
            for entry in old_inventory.iter().rev() {
                if current.contains(entry.id.as_str()) {
                    continue;
                }
                let Some(r) = inventory_ref(entry) else {
                    continue;
                };
                let live = applier.get(&r).await.unwrap_or(None);
                let Some(live) = live else { continue };
                let owned = text(
                    &live,
                    &format!("/metadata/labels/{}", OWNER_NAME_LABEL.replace('/', "~1")),
                ) == key.name
                    && text(
                        &live,
                        &format!(
                            "/metadata/labels/{}",
                            OWNER_NAMESPACE_LABEL.replace('/', "~1")
                        ),
                    ) == key.namespace;
                if !owned
                    || inventory::is_prune_disabled(&live)
                    || inventory::ssa_policy(&live) == inventory::SsaPolicy::Ignore
                {
                    continue;
                }
                let action = applier
                    .delete(&r)
                    .await
                    .map_err(|e| Failure::retry("PruneFailed", e.to_string()))?;
                changes.push((r, action));
            }
        }
        Ok(Applied {
            changes,
            inventory,
            versions,
        })
    }

    async fn wait_established(
        &self,
        applier: &Applier,
        crd: &Value,
        ks: &Kustomization,
    ) -> Result<(), Failure> {
        let r = ObjectRef::of(crd)
            .map_err(|e| Failure::retry("ReconciliationFailed", e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout_of(ks);
        loop {
            let live = applier.get(&r).await.map_err(apply_failure)?;
            let established = live
                .as_ref()
                .and_then(|l| l.pointer("/status/conditions"))
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
            if established {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Failure::retry(
                    "ReconciliationFailed",
                    format!("{} is not established", r.display()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A digest of what is about to be applied and of the spec fields that change how.
fn digest(objects: &[Value], ks: &Kustomization) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for object in objects {
        object.to_string().hash(&mut hasher);
    }
    ks.spec.prune.hash(&mut hasher);
    ks.spec.force.hash(&mut hasher);
    hasher.finish()
}

fn apply_failure(e: ApplyError) -> Failure {
    Failure::retry("ReconciliationFailed", e.to_string())
}

fn timeout_of(ks: &Kustomization) -> Duration {
    let parse = |s: &str| crate::actors::parse_duration(s).ok();
    ks.spec
        .timeout
        .as_deref()
        .and_then(parse)
        .or_else(|| parse(&ks.spec.interval))
        .unwrap_or(Duration::from_secs(300))
}

impl KustomizationReconciler {
    /// Records a failure: Ready=False with Flux's reason, events, and the outcome.
    async fn fail(
        &self,
        object: &Value,
        key: &ObjectKey,
        mut status: KustomizationStatus,
        generation: Option<i64>,
        failure: Failure,
    ) -> ReconcileOutcome {
        let now = chrono::Utc::now();
        let mut conds: Vec<Condition> = status.conditions.take().unwrap_or_default();
        conditions::set(
            &mut conds,
            READY,
            FALSE,
            failure.reason,
            &failure.message,
            generation,
            now,
        );
        if failure.stalled {
            conditions::set(
                &mut conds,
                STALLED,
                TRUE,
                failure.reason,
                &failure.message,
                generation,
                now,
            );
            conditions::remove(&mut conds, RECONCILING);
        } else {
            conditions::remove(&mut conds, STALLED);
            conditions::set(
                &mut conds,
                RECONCILING,
                TRUE,
                "ProgressingWithRetry",
                &format!("retrying: {}", failure.message),
                generation,
                now,
            );
        }
        status.conditions = Some(conds);
        status.observed_generation = generation;
        if let Err(e) = self.write_status(key, &status).await {
            tracing::warn!(object = %key, error = %e, "writing status failed");
        }
        self.events
            .record(object, EventType::Warning, failure.reason, &failure.message)
            .await;
        let error = ReconcileError::new(failure.reason, failure.message);
        if failure.stalled {
            return ReconcileOutcome::Stalled(error);
        }
        // Flux retries a failed Kustomization after spec.retryInterval, which
        // defaults to spec.interval.
        let retry = object
            .pointer("/spec/retryInterval")
            .or_else(|| object.pointer("/spec/interval"))
            .and_then(Value::as_str)
            .and_then(|d| crate::actors::parse_duration(d).ok())
            .filter(|d| !d.is_zero());
        match retry {
            Some(delay) => ReconcileOutcome::RetryAfter(error, delay),
            None => ReconcileOutcome::Transient(error),
        }
    }

    /// Whether every dependency is Ready at its current generation; the first that
    /// is not, named as Flux names it.
    async fn dependencies_ready(&self, ks: &Kustomization, namespace: &str) -> Result<(), String> {
        for dependency in ks.spec.depends_on.iter().flatten() {
            let dep_namespace = dependency
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.to_owned());
            let api: Api<Kustomization> = Api::namespaced(self.client.clone(), &dep_namespace);
            let not_ready = || {
                format!(
                    "dependency '{dep_namespace}/{}' is not ready",
                    dependency.name
                )
            };
            let Ok(Some(dep)) = api.get_opt(&dependency.name).await else {
                return Err(not_ready());
            };
            let status = dep.status.clone().unwrap_or_default();
            let ready = status
                .conditions
                .as_deref()
                .is_some_and(|c| conditions::is_true(c, READY));
            if !ready || status.observed_generation != dep.metadata.generation {
                return Err(not_ready());
            }
            // Ready at an older revision than its source has now is not ready yet:
            // it is about to apply the new one.
            if let Ok(artifact) = self.source_artifact(&dep, &dep_namespace).await {
                if status.last_applied_revision.as_deref() != Some(artifact.revision.as_str()) {
                    return Err(format!(
                        "dependency '{dep_namespace}/{}' revision is not up to date",
                        dependency.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Deletes what the inventory lists when a pruning Kustomization is deleted.
    async fn finalize(
        &self,
        applier: &Applier,
        ks: &Kustomization,
        key: &ObjectKey,
    ) -> Result<(), ReconcileError> {
        let inventory = ks
            .status
            .as_ref()
            .and_then(|s| s.inventory.as_ref())
            .map(|i| i.entries.clone())
            .unwrap_or_default();
        let policy = ks.spec.deletion_policy.as_deref().unwrap_or("MirrorPrune");
        let delete = match policy {
            "Delete" => true,
            "Orphan" => false,
            _ => ks.spec.prune,
        };
        if delete && ks.spec.suspend != Some(true) {
            for entry in inventory.iter().rev() {
                let Some(r) = inventory_ref(entry) else {
                    continue;
                };
                if let Ok(Some(live)) = applier.get(&r).await {
                    if disabled(&live, "kustomize.toolkit.fluxcd.io/prune") {
                        continue;
                    }
                    applier
                        .delete(&r)
                        .await
                        .map_err(|e| ReconcileError::new("PruneFailed", e.to_string()))?;
                }
            }
        }
        self.set_finalizer(key, false).await
    }

    async fn set_finalizer(&self, key: &ObjectKey, present: bool) -> Result<(), ReconcileError> {
        let api: Api<Kustomization> = Api::namespaced(self.client.clone(), &key.namespace);
        let Some(current) = api
            .get_opt(&key.name)
            .await
            .map_err(|e| ReconcileError::new("FinalizerFailed", e.to_string()))?
        else {
            return Ok(());
        };
        let mut finalizers = current.metadata.finalizers.clone().unwrap_or_default();
        let has = finalizers.iter().any(|f| f == FINALIZER);
        if has == present {
            return Ok(());
        }
        if present {
            finalizers.push(FINALIZER.to_owned());
        } else {
            finalizers.retain(|f| f != FINALIZER);
        }
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": current.metadata.resource_version}});
        api.patch(&key.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(|_| ())
            .map_err(|e| ReconcileError::new("FinalizerFailed", e.to_string()))
    }
}

impl KustomizationReconciler {
    /// Who applies for `ks`: its service account (`spec.serviceAccountName`, else
    /// `--default-service-account`) impersonated, so it gets no more than that
    /// account's rights; the controller itself when there is none.
    fn applier_for(&self, ks: &Kustomization, namespace: &str) -> Result<Applier, Failure> {
        let account = ks
            .spec
            .service_account_name
            .clone()
            .filter(|a| !a.is_empty())
            .or_else(|| self.default_service_account.clone());
        let Some(account) = account else {
            return Ok(self.applier.impersonating(self.client.clone()));
        };
        let user = format!("system:serviceaccount:{namespace}:{account}");
        let cached = self
            .impersonated
            .lock()
            .ok()
            .and_then(|c| c.get(&user).cloned());
        let client = match cached {
            Some(client) => client,
            None => {
                let mut config = self.config.clone();
                config.auth_info.impersonate = Some(user.clone());
                let client = kube::Client::try_from(config).map_err(|e| {
                    Failure::retry("ReconciliationFailed", format!("impersonating {user}: {e}"))
                })?;
                if let Ok(mut cache) = self.impersonated.lock() {
                    cache.insert(user, client.clone());
                }
                client
            }
        };
        Ok(self.applier.impersonating(client))
    }
}

/// The age keys text of a decryption Secret, parsed (off the async runtime's threads
/// is fine: it is quick).
fn parse_identities(keys: &[String]) -> std::result::Result<Vec<sops::AgeIdentity>, String> {
    let mut identities = Vec::new();
    for text in keys {
        // Never echo key material: the error says which kind of problem only.
        identities.extend(sops::AgeIdentity::parse_all(text).map_err(|e| e.to_string())?);
    }
    Ok(identities)
}

/// Decrypts sops values nested in built Secrets; refuses encrypted objects when no
/// decryption is configured, naming the object.
fn decrypt_objects(objects: &mut [Value], keys: Option<&[String]>) -> Result<(), Failure> {
    match keys {
        None => {
            if let Some(encrypted) = objects.iter().find(|o| sops::is_encrypted(o)) {
                let meta = inventory::ObjMetadata::from_object(encrypted)
                    .map_err(|e| Failure::retry("DecryptionFailed", e.to_string()))?;
                return Err(Failure::retry(
                    "DecryptionFailed",
                    super::stages::encrypted_secret_error(&meta),
                ));
            }
            Ok(())
        }
        Some(keys) => {
            let identities =
                parse_identities(keys).map_err(|e| Failure::retry("DecryptionFailed", e))?;
            for object in objects.iter_mut() {
                if sops::is_encrypted(object) {
                    sops::decrypt_document(object, &identities)
                        .map_err(|e| Failure::retry("DecryptionFailed", e.to_string()))?;
                }
                sops::decrypt_secret_values(object, &identities)
                    .map_err(|e| Failure::retry("DecryptionFailed", e.to_string()))?;
            }
            Ok(())
        }
    }
}

impl KustomizationReconciler {
    /// The age keys of `spec.decryption` (Secret values whose key ends in `.agekey`),
    /// or `None` without decryption.
    async fn decryption_keys(
        &self,
        ks: &Kustomization,
        namespace: &str,
    ) -> Result<Option<Vec<String>>, Failure> {
        let Some(decryption) = &ks.spec.decryption else {
            return Ok(None);
        };
        if decryption.provider != "sops" {
            return Err(Failure {
                reason: "DecryptionFailed",
                message: format!("unsupported decryption provider '{}'", decryption.provider),
                stalled: true,
            });
        }
        let Some(secret_ref) = &decryption.secret_ref else {
            return Ok(Some(Vec::new()));
        };
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.client.clone(), namespace);
        let secret = api.get_opt(&secret_ref.name).await.map_err(|e| {
            Failure::retry(
                "DecryptionFailed",
                format!("cannot get decryption Secret '{}': {e}", secret_ref.name),
            )
        })?;
        let Some(secret) = secret else {
            return Err(Failure::retry(
                "DecryptionFailed",
                format!(
                    "decryption Secret '{namespace}/{}' not found",
                    secret_ref.name
                ),
            ));
        };
        Ok(Some(
            secret
                .data
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| k.ends_with(".agekey"))
                .map(|(_, v)| String::from_utf8_lossy(&v.0).into_owned())
                .collect(),
        ))
    }
}

/// Flux's health condition, present when the Kustomization waits for something.
const HEALTHY: &str = "Healthy";

impl KustomizationReconciler {
    /// Post-build substitution (`spec.postBuild`): variables from ConfigMaps and
    /// Secrets in the Kustomization's namespace, then the inline ones.
    async fn substitute(
        &self,
        ks: &Kustomization,
        namespace: &str,
        objects: &mut [Value],
    ) -> Result<(), Failure> {
        let Some(post_build) = &ks.spec.post_build else {
            return Ok(());
        };
        let mut sources = Vec::new();
        for reference in post_build.substitute_from.iter().flatten() {
            let kind = match reference.kind.as_str() {
                "Secret" => substitute::SourceKind::Secret,
                _ => substitute::SourceKind::ConfigMap,
            };
            let data = self
                .variables_from(kind, namespace, &reference.name)
                .await?;
            sources.push(substitute::SubstituteSource {
                kind,
                name: reference.name.clone(),
                optional: reference.optional == Some(true),
                data,
            });
        }
        let variables = substitute::resolve_variables(&sources, post_build.substitute.as_ref())
            .map_err(|e| Failure::retry("BuildFailed", e.to_string()))?;
        let options = substitute::SubstituteOptions {
            strict: false,
            strategy: substitute::SubstituteStrategy::from_spec(
                post_build.substitute_strategy.as_deref(),
            ),
        };
        for object in objects.iter_mut() {
            match substitute::substitute_object(object, &variables, &options) {
                Ok(Some(substituted)) => *object = substituted,
                Ok(None) => {}
                // The message names the object and the expression, never a value.
                Err(e) => {
                    return Err(Failure::retry(
                        "BuildFailed",
                        substitute::post_build_error_message(object, &e),
                    ))
                }
            }
        }
        Ok(())
    }

    async fn variables_from(
        &self,
        kind: substitute::SourceKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, Failure> {
        use k8s_openapi::api::core::v1::{ConfigMap, Secret};
        let failed =
            |e: kube::Error| Failure::retry("BuildFailed", format!("substitute from {name}: {e}"));
        Ok(match kind {
            substitute::SourceKind::ConfigMap => {
                Api::<ConfigMap>::namespaced(self.client.clone(), namespace)
                    .get_opt(name)
                    .await
                    .map_err(failed)?
                    .map(|cm| cm.data.unwrap_or_default().into_iter().collect())
            }
            substitute::SourceKind::Secret => {
                Api::<Secret>::namespaced(self.client.clone(), namespace)
                    .get_opt(name)
                    .await
                    .map_err(failed)?
                    .map(|secret| {
                        secret
                            .data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                            .collect()
                    })
            }
        })
    }

    /// What to wait for: every applied object with `spec.wait`, else `spec.healthChecks`.
    fn health_targets(
        &self,
        ks: &Kustomization,
        key: &ObjectKey,
        status: &KustomizationStatus,
    ) -> Vec<ObjectRef> {
        if ks.spec.wait == Some(true) {
            return status
                .inventory
                .iter()
                .flat_map(|i| i.entries.iter())
                .filter_map(inventory_ref)
                .collect();
        }
        ks.spec
            .health_checks
            .iter()
            .flatten()
            .filter(|c| !(c.kind == KIND && c.name == key.name))
            .map(|c| ObjectRef {
                api_version: c.api_version.clone().unwrap_or_else(|| "apps/v1".into()),
                kind: c.kind.clone(),
                namespace: c.namespace.clone().unwrap_or_default(),
                name: c.name.clone(),
            })
            .collect()
    }

    /// Polls the targets' kstatus until all are Current, one Failed, or the timeout.
    /// Ok: Flux's "Health check passed in …"; Err: why not, naming the objects.
    async fn wait_healthy(
        &self,
        applier: &Applier,
        targets: &[ObjectRef],
        timeout: Duration,
    ) -> Result<String, String> {
        let started = tokio::time::Instant::now();
        let meta = |r: &ObjectRef| {
            let (group, _) = r.group_version();
            inventory::ObjMetadata::new(&r.namespace, &r.name, group, &r.kind)
        };
        loop {
            let mut observed = Vec::with_capacity(targets.len());
            for r in targets {
                let (status, error) = match applier.get(r).await {
                    Ok(live) => (
                        Some(health::status_of(live.as_ref(), chrono::Utc::now()).status),
                        None,
                    ),
                    Err(e) => (None, Some(e.to_string())),
                };
                observed.push(health::ObservedStatus {
                    object: meta(r),
                    status,
                    error,
                });
            }
            let timed_out = started.elapsed() >= timeout;
            if health::wait_is_over(&observed, true, &[]) || timed_out {
                return match health::wait_failure_message(&observed, timed_out, &[]) {
                    None => Ok(health::health_check_passed_message(started.elapsed())),
                    Some(failure) => Err(health::health_check_failed_message(
                        started.elapsed(),
                        &failure,
                    )),
                };
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Flux's finalizer: deleting a Kustomization first garbage-collects what it applied.
const FINALIZER: &str = "finalizers.fluxcd.io";

/// The change set as Flux prints it: one `Kind/namespace/name action` per line,
/// only the objects that changed.
fn change_summary(changes: &[(ObjectRef, Action)]) -> String {
    changes
        .iter()
        .filter(|(_, a)| !matches!(a, Action::Unchanged | Action::Skipped))
        .map(|(r, a)| format!("{} {}", r.display(), a.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Reconciler for KustomizationReconciler {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// The source (its new artifacts) and the dependencies (their readiness).
    fn dependencies(&self, object: &Value) -> Vec<ObjectKey> {
        let namespace = text(object, "/metadata/namespace");
        let mut keys = Vec::new();
        if let Some(source) = object.pointer("/spec/sourceRef") {
            let source_namespace = match text(source, "/namespace") {
                "" => namespace,
                ns => ns,
            };
            keys.push(ObjectKey::new(
                text(source, "/kind"),
                source_namespace,
                text(source, "/name"),
            ));
        }
        for dependency in object
            .pointer("/spec/dependsOn")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let dep_namespace = match text(dependency, "/namespace") {
                "" => namespace,
                ns => ns,
            };
            keys.push(ObjectKey::new(
                KIND,
                dep_namespace,
                text(dependency, "/name"),
            ));
        }
        keys
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let key = ctx.key.clone();
        let ks: Kustomization = match serde_json::from_value(object.clone()) {
            Ok(ks) => ks,
            Err(e) => {
                return ReconcileOutcome::Stalled(ReconcileError::new("InvalidSpec", e.to_string()))
            }
        };
        let applier = match self.applier_for(&ks, &key.namespace) {
            Ok(applier) => applier,
            Err(f) => {
                let status = ks.status.clone().unwrap_or_default();
                return self
                    .fail(object, &key, status, ks.metadata.generation, f)
                    .await;
            }
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return match self.finalize(&applier, &ks, &key).await {
                Ok(()) => ReconcileOutcome::Ready {
                    requeue_after: None,
                },
                Err(e) => ReconcileOutcome::Transient(e),
            };
        }
        if ks.spec.suspend == Some(true) {
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        }
        let has_finalizer = ks
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == FINALIZER);
        if !has_finalizer {
            if let Err(e) = self.set_finalizer(&key, true).await {
                return ReconcileOutcome::Transient(e);
            }
        }
        let generation = ks.metadata.generation;
        let mut status = ks.status.clone().unwrap_or_default();
        status.last_handled_reconcile_at = object
            .pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(status.last_handled_reconcile_at);

        let context = spec_check::SpecCheckContext {
            namespace: key.namespace.clone(),
            no_cross_namespace_refs: self.no_cross_namespace_refs,
            ..Default::default()
        };
        if let Err(errors) =
            spec_check::check_spec(object.get("spec").unwrap_or(&Value::Null), &context)
        {
            let reason = errors
                .first()
                .map(spec_check::SpecError::reason)
                .unwrap_or("InvalidSpec");
            let failure = Failure {
                reason,
                message: spec_check::spec_errors_message(&errors),
                stalled: true,
            };
            return self.fail(object, &key, status, generation, failure).await;
        }
        if let Err(message) = self.dependencies_ready(&ks, &key.namespace).await {
            let outcome = self
                .fail(
                    object,
                    &key,
                    status,
                    generation,
                    Failure::retry("DependencyNotReady", message),
                )
                .await;
            return match outcome {
                ReconcileOutcome::Transient(e) | ReconcileOutcome::RetryAfter(e, _) => {
                    ReconcileOutcome::RetryAfter(e, self.requeue_dependency)
                }
                other => other,
            };
        }
        let artifact = match self.source_artifact(&ks, &key.namespace).await {
            Ok(a) => a,
            Err(f) => return self.fail(object, &key, status, generation, f).await,
        };
        status.last_attempted_revision = Some(artifact.revision.clone());
        // SOPS decrypts files in place: such builds get a private copy.
        let workdir = match self.fetch(&artifact, ks.spec.decryption.is_some()).await {
            Ok(dir) => dir,
            Err(f) => return self.fail(object, &key, status, generation, f).await,
        };
        let identities = match self.decryption_keys(&ks, &key.namespace).await {
            Ok(identities) => identities,
            Err(f) => return self.fail(object, &key, status, generation, f).await,
        };
        if let Some(identities) = &identities {
            let root = workdir.path().to_path_buf();
            let identities = identities.clone();
            let decrypted = tokio::task::spawn_blocking(move || {
                let identities = parse_identities(&identities)?;
                sops::decrypt_tree(&root, &identities)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            if let Err(message) = decrypted {
                let f = Failure::retry("DecryptionFailed", message);
                return self.fail(object, &key, status, generation, f).await;
            }
        }
        let mut objects = match build(&ks, workdir.path().to_path_buf()).await {
            Ok(objects) => objects,
            Err(f) => return self.fail(object, &key, status, generation, f).await,
        };
        drop(workdir);
        if let Err(f) = decrypt_objects(&mut objects, identities.as_deref()) {
            return self.fail(object, &key, status, generation, f).await;
        }
        if let Err(f) = self.substitute(&ks, &key.namespace, &mut objects).await {
            return self.fail(object, &key, status, generation, f).await;
        }
        label_owner(&mut objects, &key.name, &key.namespace);
        objects.retain(|o| !disabled(o, "kustomize.toolkit.fluxcd.io/reconcile"));
        let desired = digest(&objects, &ks);
        // The status as stored: a reconcile that changes nothing in it writes nothing.
        let previous_status = ks.status.clone().unwrap_or_default();

        // Nothing changed in Git and nobody touched what we applied: no reads, no
        // writes (DESIGN.md §5).
        let unchanged = self.last.lock().ok().is_some_and(|last| {
            last.get(&key).is_some_and(|last| {
                last.desired == desired
                    && last
                        .versions
                        .iter()
                        .all(|(r, v)| applier.tracker.seen(r) == Seen::Version(v.clone()))
            })
        });
        let changes = if unchanged {
            Vec::new()
        } else {
            let old_inventory = status
                .inventory
                .as_ref()
                .map(|i| i.entries.clone())
                .unwrap_or_default();
            let applied = match self
                .apply_all(&applier, &ks, objects, &old_inventory, &key)
                .await
            {
                Ok(applied) => applied,
                Err(f) => return self.fail(object, &key, status, generation, f).await,
            };
            status.inventory = Some(ResourceInventory {
                entries: applied.inventory,
            });
            if let Ok(mut last) = self.last.lock() {
                last.insert(
                    key.clone(),
                    LastApply {
                        desired,
                        versions: applied.versions,
                    },
                );
            }
            applied.changes
        };
        let summary = change_summary(&changes);
        let targets = self.health_targets(&ks, &key, &status);
        let health = if targets.is_empty() {
            None
        } else {
            match self.wait_healthy(&applier, &targets, timeout_of(&ks)).await {
                Ok(message) => Some(message),
                Err(message) => {
                    let mut failed = status.clone();
                    let now = chrono::Utc::now();
                    let mut conds = failed.conditions.take().unwrap_or_default();
                    conditions::set(
                        &mut conds,
                        HEALTHY,
                        FALSE,
                        "HealthCheckFailed",
                        &message,
                        generation,
                        now,
                    );
                    failed.conditions = Some(conds);
                    return self
                        .fail(
                            object,
                            &key,
                            failed,
                            generation,
                            Failure::retry("HealthCheckFailed", message),
                        )
                        .await;
                }
            }
        };
        status.last_applied_revision = Some(artifact.revision.clone());
        status.observed_generation = generation;
        let message = format!("Applied revision: {}", artifact.revision);
        let now = chrono::Utc::now();
        let mut conds = status.conditions.take().unwrap_or_default();
        conditions::set(
            &mut conds,
            READY,
            TRUE,
            "ReconciliationSucceeded",
            &message,
            generation,
            now,
        );
        conditions::remove(&mut conds, RECONCILING);
        conditions::remove(&mut conds, STALLED);
        match &health {
            Some(message) => conditions::set(
                &mut conds,
                HEALTHY,
                TRUE,
                "Succeeded",
                message,
                generation,
                now,
            ),
            None => conditions::remove(&mut conds, HEALTHY),
        }
        status.conditions = Some(conds);
        let status_changed = status != previous_status;
        if status_changed {
            if let Err(e) = self.write_status(&key, &status).await {
                return ReconcileOutcome::Transient(e);
            }
        }
        if !summary.is_empty() {
            self.events
                .record(
                    object,
                    EventType::Normal,
                    "ReconciliationSucceeded",
                    &summary,
                )
                .await;
        }
        // Dependants waiting on this one hear about it without polling.
        if status_changed {
            ctx.publish_artifact_changed();
        }
        ReconcileOutcome::Ready {
            requeue_after: None,
        }
    }
}
