//! The Kustomization reconciler, in phases as kustomize-controller runs them:
//! spec check → dependencies → source artifact → build (native kustomize, Flux's
//! overlay) → decryption → plan (post-build substitution, owner labels) → staged
//! server-side apply → prune → health; then one status write and the events.
//! Each phase fails with a [`KustomizationError`]; the status is written once, at
//! the end, from the outcome.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

use super::error::KustomizationError;
use super::{plan, sops, spec_check};
use crate::actors::{ObjectKey, ReconcileContext, ReconcileError, ReconcileOutcome, Reconciler};
use crate::api::kustomize_v1::{
    Kustomization, KustomizationStatus, ResourceInventory, ResourceRef,
};
use crate::api::meta::Artifact;
use crate::api::source_v1::{Bucket, GitRepository, OCIRepository};
use crate::apply::inventory::{self, DeletionPolicy, InventoryEntry, Owner, OwnerKind};
use crate::apply::stages::{Action, ChangeSet, ChangeSetEntry, GroupKind};
use crate::apply::{self as ssa, Applier, Impersonator, ObjectRef, Seen};
use crate::controllers::conditions::{self, FALSE, READY, RECONCILING, STALLED, TRUE};
use crate::controllers::events::{EventRecorder, EventType};
use crate::controllers::finalizer;
use crate::controllers::source_status::read_artifact;
use crate::health;
use crate::source::artifact::{extract_tar_gz, ArtifactStore};
use crate::source::unpacked::{UnpackError, Unpacked, UnpackedArtifacts};

/// The field manager of our status writes, Flux's controller name.
pub const CONTROLLER: &str = "kustomize-controller";
const KIND: &str = "Kustomization";
/// Flux's health condition, present when the Kustomization waits for something.
const HEALTHY: &str = "Healthy";

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
    /// Acts as `spec.serviceAccountName` (or `--default-service-account`).
    pub impersonator: Impersonator,
    /// `--no-cross-namespace-refs`: sources and dependencies stay in the namespace.
    pub no_cross_namespace_refs: bool,
    /// Per Kustomization, what its last successful apply did (for cheap no-ops).
    pub last: std::sync::Mutex<std::collections::HashMap<ObjectKey, LastApply>>,
}

/// What a successful apply left behind: the desired state's digest and the state
/// each applied object had afterwards.
#[derive(Debug, Clone)]
pub struct LastApply {
    desired: u64,
    versions: Vec<(ObjectRef, String)>,
}

/// What a successful reconcile did, for the status and the events.
struct Reconciled {
    revision: String,
    /// The changed objects, one `Kind/namespace/name action` per line.
    summary: String,
    /// The Healthy message, when something was waited for.
    health: Option<String>,
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
    ) -> Result<Artifact, KustomizationError> {
        let source = &ks.spec.source_ref;
        let source_namespace = source
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.to_owned());
        let unable =
            |e: kube::Error| KustomizationError::artifact(format!("unable to get source: {e}"));
        let artifact = match source.kind.as_str() {
            "GitRepository" => {
                Api::<GitRepository>::namespaced(self.client.clone(), &source_namespace)
                    .get_opt(&source.name)
                    .await
                    .map_err(unable)?
                    .map(|r| r.status.and_then(|s| s.artifact))
            }
            "OCIRepository" => {
                Api::<OCIRepository>::namespaced(self.client.clone(), &source_namespace)
                    .get_opt(&source.name)
                    .await
                    .map_err(unable)?
                    .map(|r| r.status.and_then(|s| s.artifact))
            }
            "Bucket" => Api::<Bucket>::namespaced(self.client.clone(), &source_namespace)
                .get_opt(&source.name)
                .await
                .map_err(unable)?
                .map(|r| r.status.and_then(|s| s.artifact)),
            other => {
                return Err(KustomizationError::Artifact {
                    message: format!("source kind '{other}' is not supported yet"),
                    stalled: true,
                })
            }
        };
        let Some(artifact) = artifact else {
            return Err(KustomizationError::artifact(format!(
                "Source '{}/{}/{}' not found",
                source.kind, source_namespace, source.name
            )));
        };
        artifact.ok_or_else(|| KustomizationError::artifact("Source artifact not found, retrying"))
    }

    /// The artifact unpacked: shared with every other build of the same digest,
    /// or, when the build decrypts files in place, a private copy.
    async fn fetch(
        &self,
        artifact: &Artifact,
        private: bool,
    ) -> Result<Workdir, KustomizationError> {
        let download = || async {
            read_artifact(&self.store, &self.http, artifact)
                .await
                .map_err(KustomizationError::artifact)
        };
        if !private {
            return self
                .unpacked
                .get_or_unpack(&artifact.digest, download)
                .await
                .map(Workdir::Shared)
                .map_err(|e| match e {
                    UnpackError::Download(failure) => failure,
                    UnpackError::Extract(message) => KustomizationError::artifact(message),
                });
        }
        let bytes = download().await?;
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            extract_tar_gz(bytes.as_slice(), dir.path()).map_err(|e| e.to_string())?;
            Ok::<_, String>(dir)
        })
        .await
        .map_err(|e| KustomizationError::artifact(e.to_string()))?
        .map(Workdir::Private)
        .map_err(|e| KustomizationError::artifact(format!("failed to extract artifact: {e}")))
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

/// Flux's `patches` as the kustomize engine takes them (shared with the
/// HelmRelease post-renderers).
pub(crate) fn overlay_patches(
    patches: &[crate::api::kustomize_v1::Patch],
) -> Vec<(String, Option<ferroflux_kustomize::Selector>)> {
    let selector = |s: &crate::api::kustomize_v1::Selector| ferroflux_kustomize::Selector {
        group: s.group.clone().unwrap_or_default(),
        version: s.version.clone().unwrap_or_default(),
        kind: s.kind.clone().unwrap_or_default(),
        name: s.name.clone().unwrap_or_default(),
        namespace: s.namespace.clone().unwrap_or_default(),
        label_selector: s.label_selector.clone().unwrap_or_default(),
        annotation_selector: s.annotation_selector.clone().unwrap_or_default(),
    };
    patches
        .iter()
        .map(|p| (p.patch.clone(), p.target.as_ref().map(selector)))
        .collect()
}

/// Flux's `images` as the kustomize engine takes them.
pub(crate) fn overlay_images(
    images: &[crate::api::kustomize_v1::Image],
) -> Vec<ferroflux_kustomize::FluxImage> {
    images
        .iter()
        .map(|i| ferroflux_kustomize::FluxImage {
            name: i.name.clone(),
            new_name: i.new_name.clone().unwrap_or_default(),
            new_tag: i.new_tag.clone().unwrap_or_default(),
            digest: i.digest.clone().unwrap_or_default(),
        })
        .collect()
}

/// The Flux overlay a Kustomization's spec asks for.
pub(crate) fn overlay(ks: &Kustomization) -> ferroflux_kustomize::FluxOverlay {
    let spec = &ks.spec;
    ferroflux_kustomize::FluxOverlay {
        target_namespace: spec.target_namespace.clone().unwrap_or_default(),
        name_prefix: spec.name_prefix.clone().unwrap_or_default(),
        name_suffix: spec.name_suffix.clone().unwrap_or_default(),
        patches: overlay_patches(spec.patches.as_deref().unwrap_or_default()),
        images: overlay_images(spec.images.as_deref().unwrap_or_default()),
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
fn build_dir(root: &Path, path: Option<&str>) -> Result<PathBuf, KustomizationError> {
    let rel = path.unwrap_or("./").trim_start_matches('/');
    let mut dir = root.to_path_buf();
    for part in Path::new(rel).components() {
        match part {
            std::path::Component::Normal(p) => dir.push(p),
            std::path::Component::CurDir => {}
            _ => {
                return Err(KustomizationError::Artifact {
                    message: format!("spec.path '{rel}' must stay inside the source artifact"),
                    stalled: true,
                })
            }
        }
    }
    if !dir.is_dir() {
        return Err(KustomizationError::artifact(format!(
            "kustomization path not found: {rel}"
        )));
    }
    Ok(dir)
}

/// Builds the objects to apply.
async fn build(ks: &Kustomization, root: PathBuf) -> Result<Vec<Value>, KustomizationError> {
    let dir = build_dir(&root, ks.spec.path.as_deref())?;
    let mut options = ferroflux_kustomize::BuildOptions::flux(&root);
    options.overlay = Some(overlay(ks));
    tokio::task::spawn_blocking(move || ferroflux_kustomize::build_dir_with(&dir, &options))
        .await
        .map_err(|e| KustomizationError::Build(e.to_string()))?
        .map_err(|e| KustomizationError::Build(e.to_string()))
}

/// The object an inventory entry names.
pub(crate) fn inventory_ref(entry: &ResourceRef) -> Option<ObjectRef> {
    let meta = inventory::ObjMetadata::parse(&entry.id).ok()?;
    Some(ObjectRef::from_inventory(&inventory::InventoryObject {
        meta,
        version: entry.v.clone(),
    }))
}

fn to_entries(refs: &[ResourceRef]) -> Vec<InventoryEntry> {
    refs.iter()
        .map(|r| InventoryEntry {
            id: r.id.clone(),
            v: r.v.clone(),
        })
        .collect()
}

fn to_refs(entries: Vec<InventoryEntry>) -> Vec<ResourceRef> {
    entries
        .into_iter()
        .map(|e| ResourceRef { id: e.id, v: e.v })
        .collect()
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

fn timeout_of(ks: &Kustomization) -> Duration {
    let parse = |s: &str| crate::actors::parse_duration(s).ok();
    ks.spec
        .timeout
        .as_deref()
        .and_then(parse)
        .or_else(|| parse(&ks.spec.interval))
        .unwrap_or(Duration::from_secs(300))
}

/// The change set as Flux prints it: one `Kind/namespace/name action` per line,
/// only the objects that changed.
fn change_summary(changes: &ChangeSet) -> String {
    changes
        .entries
        .iter()
        .filter(|e| e.action.has_changed())
        .map(ChangeSetEntry::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The inventory read back as a change set of unchanged objects (a no-op
/// reconcile: nothing was applied, everything is as the last apply left it).
fn unchanged_change_set(entries: &[InventoryEntry]) -> ChangeSet {
    ChangeSet {
        entries: inventory::list_objects(entries)
            .unwrap_or_default()
            .into_iter()
            .map(|o| ChangeSetEntry {
                object: o.meta,
                version: o.version,
                action: Action::Unchanged,
            })
            .collect(),
    }
}

impl KustomizationReconciler {
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

    /// Deletes what the inventory lists when the Kustomization is deleted, as
    /// `spec.deletionPolicy` says, then lets the object go.
    async fn finalize(
        &self,
        applier: &Applier,
        ks: &Kustomization,
        key: &ObjectKey,
    ) -> Result<(), ReconcileError> {
        let entries = to_entries(
            ks.status
                .as_ref()
                .and_then(|s| s.inventory.as_ref())
                .map(|i| i.entries.as_slice())
                .unwrap_or_default(),
        );
        // An invalid policy was refused by the spec check; deleting then mirrors prune.
        let policy = DeletionPolicy::from_spec(ks.spec.deletion_policy.as_deref())
            .unwrap_or(DeletionPolicy::MirrorPrune);
        let suspended = ks.spec.suspend == Some(true);
        if inventory::finalizer_deletes_objects(policy, ks.spec.prune, suspended, entries.len()) {
            let owner = Owner::new(OwnerKind::Kustomization, &key.name, &key.namespace);
            let wait = (policy == DeletionPolicy::WaitForTermination).then(|| timeout_of(ks));
            ssa::delete_all(
                applier,
                &entries,
                &owner,
                wait,
                kube::api::PropagationPolicy::Background,
            )
            .await
            .map_err(|e| ReconcileError::new("PruneFailed", e.to_string()))?;
        }
        self.set_finalizer(key, false).await
    }

    async fn set_finalizer(&self, key: &ObjectKey, present: bool) -> Result<(), ReconcileError> {
        let api: Api<Kustomization> = Api::namespaced(self.client.clone(), &key.namespace);
        finalizer::set(&api, &key.name, present).await
    }
}

impl KustomizationReconciler {
    /// Who applies for `ks`: its service account impersonated, so it gets no more
    /// than that account's rights; the controller itself when there is none.
    fn applier_for(
        &self,
        ks: &Kustomization,
        namespace: &str,
    ) -> Result<Applier, KustomizationError> {
        self.impersonator
            .applier(
                &self.applier,
                &self.client,
                namespace,
                ks.spec.service_account_name.as_deref(),
            )
            .map_err(KustomizationError::Impersonation)
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
fn decrypt_objects(
    objects: &mut [Value],
    keys: Option<&[String]>,
) -> Result<(), KustomizationError> {
    match keys {
        None => {
            if let Some(encrypted) = objects.iter().find(|o| sops::is_encrypted(o)) {
                let meta = inventory::ObjMetadata::from_object(encrypted)
                    .map_err(|e| KustomizationError::decryption(e.to_string()))?;
                return Err(KustomizationError::decryption(
                    crate::apply::stages::encrypted_secret_error(&meta),
                ));
            }
            Ok(())
        }
        Some(keys) => {
            let identities = parse_identities(keys).map_err(KustomizationError::decryption)?;
            for object in objects.iter_mut() {
                if sops::is_encrypted(object) {
                    sops::decrypt_document(object, &identities)
                        .map_err(|e| KustomizationError::decryption(e.to_string()))?;
                }
                sops::decrypt_secret_values(object, &identities)
                    .map_err(|e| KustomizationError::decryption(e.to_string()))?;
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
    ) -> Result<Option<Vec<String>>, KustomizationError> {
        let Some(decryption) = &ks.spec.decryption else {
            return Ok(None);
        };
        if decryption.provider != "sops" {
            return Err(KustomizationError::Decryption {
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
            KustomizationError::decryption(format!(
                "cannot get decryption Secret '{}': {e}",
                secret_ref.name
            ))
        })?;
        let Some(secret) = secret else {
            return Err(KustomizationError::decryption(format!(
                "decryption Secret '{namespace}/{}' not found",
                secret_ref.name
            )));
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

impl KustomizationReconciler {
    /// Runs every phase; fills in `status` (attempted revision, inventory) as it goes.
    async fn run_phases(
        &self,
        ks: &Kustomization,
        object: &Value,
        key: &ObjectKey,
        applier: &Applier,
        status: &mut KustomizationStatus,
    ) -> Result<Reconciled, KustomizationError> {
        self.check_spec(object, key)?;
        self.dependencies_ready(ks, &key.namespace)
            .await
            .map_err(KustomizationError::DependencyNotReady)?;
        let artifact = self.source_artifact(ks, &key.namespace).await?;
        status.last_attempted_revision = Some(artifact.revision.clone());
        let objects = self.build_objects(ks, key, &artifact).await?;
        let objects = plan::plan(&self.client, ks, &key.namespace, &key.name, objects).await?;
        let change_set = self
            .apply_and_prune(ks, key, applier, objects, status)
            .await?;
        let health = self.check_health(ks, key, applier, &change_set).await?;
        Ok(Reconciled {
            revision: artifact.revision,
            summary: change_summary(&change_set),
            health,
        })
    }

    fn check_spec(&self, object: &Value, key: &ObjectKey) -> Result<(), KustomizationError> {
        let context = spec_check::SpecCheckContext {
            namespace: key.namespace.clone(),
            no_cross_namespace_refs: self.no_cross_namespace_refs,
            ..Default::default()
        };
        spec_check::check_spec(object.get("spec").unwrap_or(&Value::Null), &context)
            .map(|_| ())
            .map_err(|errors| KustomizationError::InvalidSpec {
                reason: errors
                    .first()
                    .map(spec_check::SpecError::reason)
                    .unwrap_or(spec_check::INVALID_SPEC_REASON),
                message: spec_check::spec_errors_message(&errors),
            })
    }

    /// The artifact fetched, SOPS files decrypted, built, and encrypted values in
    /// the built objects decrypted.
    async fn build_objects(
        &self,
        ks: &Kustomization,
        key: &ObjectKey,
        artifact: &Artifact,
    ) -> Result<Vec<Value>, KustomizationError> {
        // SOPS decrypts files in place: such builds get a private copy.
        let workdir = self.fetch(artifact, ks.spec.decryption.is_some()).await?;
        let identities = self.decryption_keys(ks, &key.namespace).await?;
        if let Some(identities) = &identities {
            let root = workdir.path().to_path_buf();
            let identities = identities.clone();
            tokio::task::spawn_blocking(move || {
                let identities = parse_identities(&identities)?;
                sops::decrypt_tree(&root, &identities)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(KustomizationError::decryption)?;
        }
        let mut objects = build(ks, workdir.path().to_path_buf()).await?;
        drop(workdir);
        decrypt_objects(&mut objects, identities.as_deref())?;
        Ok(objects)
    }

    /// The staged apply and the prune, skipped when nothing changed in Git and
    /// nobody touched what the last apply wrote: no reads, no writes (DESIGN.md §5).
    async fn apply_and_prune(
        &self,
        ks: &Kustomization,
        key: &ObjectKey,
        applier: &Applier,
        objects: Vec<Value>,
        status: &mut KustomizationStatus,
    ) -> Result<ChangeSet, KustomizationError> {
        let old_inventory = to_entries(
            status
                .inventory
                .as_ref()
                .map(|i| i.entries.as_slice())
                .unwrap_or_default(),
        );
        let desired = digest(&objects, ks);
        let unchanged = self.last.lock().ok().is_some_and(|last| {
            last.get(key).is_some_and(|last| {
                last.desired == desired
                    && last
                        .versions
                        .iter()
                        .all(|(r, v)| applier.tracker.seen(r) == Seen::Version(v.clone()))
            })
        });
        if unchanged {
            return Ok(unchanged_change_set(&old_inventory));
        }
        let owner = Owner::new(OwnerKind::Kustomization, &key.name, &key.namespace);
        let no_custom_stages = HashSet::<GroupKind>::new();
        let options = ssa::ApplyOptions {
            owner: &owner,
            force: ks.spec.force == Some(true),
            timeout: timeout_of(ks),
            custom_stage_kinds: &no_custom_stages,
        };
        let applied = ssa::apply_staged(applier, objects, &options).await?;
        let mut new_inventory = applied.inventory();
        let mut change_set = applied.change_set.clone();
        let mut pruned = Ok(());
        if ks.spec.prune {
            match ssa::prune(applier, &old_inventory, &new_inventory, &owner).await {
                Ok(deleted) => change_set.entries.extend(deleted.entries),
                Err(ssa::StagedError::Prune { error, survivors }) => {
                    // Not confirmed deleted: still ours, retried next time.
                    inventory::merge_into_inventory(&mut new_inventory, &survivors);
                    pruned = Err(KustomizationError::Prune(error.to_string()));
                }
                Err(other) => pruned = Err(other.into()),
            }
        }
        status.inventory = Some(ResourceInventory {
            entries: to_refs(new_inventory),
        });
        pruned?;
        if let Ok(mut last) = self.last.lock() {
            last.insert(
                key.clone(),
                LastApply {
                    desired,
                    versions: applied.versions,
                },
            );
        }
        Ok(change_set)
    }

    /// Waits for what `spec.wait` or `spec.healthChecks` names; the Healthy message.
    async fn check_health(
        &self,
        ks: &Kustomization,
        key: &ObjectKey,
        applier: &Applier,
        change_set: &ChangeSet,
    ) -> Result<Option<String>, KustomizationError> {
        let checks: Vec<health::HealthCheckRef> = ks
            .spec
            .health_checks
            .iter()
            .flatten()
            .map(|c| health::HealthCheckRef {
                api_version: c.api_version.clone().unwrap_or_default(),
                kind: c.kind.clone(),
                name: c.name.clone(),
                namespace: c.namespace.clone().unwrap_or_default(),
            })
            .collect();
        let targets: Vec<ObjectRef> = health::health_check_targets(
            ks.spec.wait == Some(true),
            &checks,
            change_set,
            &key.name,
            &key.namespace,
        )
        .iter()
        .map(ObjectRef::from_inventory)
        .collect();
        if targets.is_empty() {
            return Ok(None);
        }
        let started = tokio::time::Instant::now();
        match health::wait_for(applier, &targets, timeout_of(ks), &[]).await {
            Ok(elapsed) => Ok(Some(health::health_check_passed_message(elapsed))),
            Err(failure) => Err(KustomizationError::HealthCheck {
                message: health::health_check_failed_message(started.elapsed(), &failure),
                failure,
            }),
        }
    }

    /// The single status write and the events of a reconcile, and its outcome.
    async fn finish(
        &self,
        object: &Value,
        ks: &Kustomization,
        key: &ObjectKey,
        mut status: KustomizationStatus,
        result: Result<Reconciled, KustomizationError>,
        ctx: &ReconcileContext,
    ) -> ReconcileOutcome {
        let generation = ks.metadata.generation;
        let stored = ks.status.clone().unwrap_or_default();
        let now = chrono::Utc::now();
        let mut conds: Vec<Condition> = status.conditions.take().unwrap_or_default();
        status.observed_generation = generation;
        let done = match result {
            Ok(done) => done,
            Err(failure) => {
                let (reason, message) = (failure.reason(), failure.to_string());
                conditions::set(&mut conds, READY, FALSE, reason, &message, generation, now);
                if let KustomizationError::HealthCheck { failure, .. } = &failure {
                    conditions::set(&mut conds, HEALTHY, FALSE, reason, failure, generation, now);
                }
                if failure.stalled() {
                    conditions::set(&mut conds, STALLED, TRUE, reason, &message, generation, now);
                    conditions::remove(&mut conds, RECONCILING);
                } else {
                    conditions::remove(&mut conds, STALLED);
                    let retrying = format!("retrying: {message}");
                    conditions::set(
                        &mut conds,
                        RECONCILING,
                        TRUE,
                        "ProgressingWithRetry",
                        &retrying,
                        generation,
                        now,
                    );
                }
                status.conditions = Some(conds);
                if status != stored {
                    if let Err(e) = self.write_status(key, &status).await {
                        tracing::warn!(object = %key, error = %e, "writing status failed");
                    }
                }
                self.events
                    .record(object, EventType::Warning, reason, &message)
                    .await;
                return self.failed_outcome(object, failure);
            }
        };
        let message = format!("Applied revision: {}", done.revision);
        status.last_applied_revision = Some(done.revision);
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
        match &done.health {
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
        // The status as stored: a reconcile that changes nothing in it writes nothing.
        let status_changed = status != stored;
        if status_changed {
            if let Err(e) = self.write_status(key, &status).await {
                return ReconcileOutcome::Transient(e);
            }
        }
        if !done.summary.is_empty() {
            self.events
                .record(
                    object,
                    EventType::Normal,
                    "ReconciliationSucceeded",
                    &done.summary,
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

    /// When a failed Kustomization is tried again: never when stalled; after
    /// `--requeue-dependency` for a dependency; else after spec.retryInterval, which
    /// defaults to spec.interval, as Flux does.
    fn failed_outcome(&self, object: &Value, failure: KustomizationError) -> ReconcileOutcome {
        let stalled = failure.stalled();
        let dependency = matches!(failure, KustomizationError::DependencyNotReady(_));
        let error = ReconcileError::new(failure.reason(), failure.to_string());
        if stalled {
            return ReconcileOutcome::Stalled(error);
        }
        if dependency {
            return ReconcileOutcome::RetryAfter(error, self.requeue_dependency);
        }
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
            Err(failure) => {
                let status = ks.status.clone().unwrap_or_default();
                return self
                    .finish(object, &ks, &key, status, Err(failure), ctx)
                    .await;
            }
        };
        if let Some(outcome) = finalizer::prologue(
            object,
            self.finalize(&applier, &ks, &key),
            self.set_finalizer(&key, true),
        )
        .await
        {
            return outcome;
        }
        let mut status = ks.status.clone().unwrap_or_default();
        status.last_handled_reconcile_at =
            finalizer::requested_at(object).or(status.last_handled_reconcile_at);
        let result = self
            .run_phases(&ks, object, &key, &applier, &mut status)
            .await;
        self.finish(object, &ks, &key, status, result, ctx).await
    }
}
