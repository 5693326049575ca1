//! Server-side apply as Flux's controllers apply: the controller's field manager
//! (`kustomize-controller`, `helm-controller`), conflicts forced (Flux owns what it
//! applies), and each object reported as created, configured or unchanged. Watches of
//! the objects Flux owns (either owner label) tell a reconcile, without reading
//! them, whether anybody changed them since its last apply.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt as _;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy,
};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde_json::Value;

use super::inventory::{self, OwnerKind, OWNER_NAME_LABELS};
pub use super::stages::Action;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server does not serve the kind (its CRD is missing).
    #[error("{kind}/{name}: no matches for kind \"{kind}\" in version \"{api_version}\"")]
    NoMatch {
        api_version: String,
        kind: String,
        name: String,
    },
    #[error("{kind}/{name} namespace not specified")]
    NoNamespace { kind: String, name: String },
    #[error("{id}: {message}")]
    Api {
        id: String,
        message: String,
        code: u16,
    },
    #[error("invalid object: {0}")]
    Invalid(String),
}

impl ApplyError {
    /// Whether the API server refused for lack of rights (RBAC, impersonation).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Api { code: 403, .. })
    }
}

/// The parts of an object that identify it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn of(object: &Value) -> Result<Self, ApplyError> {
        let text = |ptr: &str| {
            object
                .pointer(ptr)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let r = Self {
            api_version: text("/apiVersion"),
            kind: text("/kind"),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
        };
        if r.kind.is_empty() || r.api_version.is_empty() || r.name.is_empty() {
            return Err(ApplyError::Invalid(
                "apiVersion, kind and metadata.name are required".into(),
            ));
        }
        Ok(r)
    }

    /// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects, as Flux
    /// prints objects in events and logs.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// The object an inventory entry names, at the version it was applied with.
    pub fn from_inventory(object: &inventory::InventoryObject) -> Self {
        Self {
            api_version: object.api_version(),
            kind: object.meta.kind.clone(),
            namespace: object.meta.namespace.clone(),
            name: object.meta.name.clone(),
        }
    }

    /// Its identity, as the inventory keeps it.
    pub fn meta(&self) -> inventory::ObjMetadata {
        let (group, _) = self.group_version();
        inventory::ObjMetadata::new(&self.namespace, &self.name, group, &self.kind)
    }

    pub fn group_version(&self) -> (&str, &str) {
        match self.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", self.api_version.as_str()),
        }
    }
}

/// Field ownership kubectl records when it writes without server-side apply.
fn is_kubectl_update(
    entry: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry,
) -> bool {
    let manager = entry.manager.as_deref().unwrap_or_default();
    entry.operation.as_deref() == Some("Update")
        && (manager == "kubectl"
            || manager == "kubectl-client-side-apply"
            || manager == "kubectl-edit"
            || manager == "before-first-apply")
}

/// What the managed-object watches last saw of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The kind's watch has not finished its first list: nothing is known.
    Unknown,
    Absent,
    /// The object exists in this state (see [`fingerprint`]).
    Version(String),
}

/// What identifies an object's state for drift: its generation plus its labels and
/// annotations when it has a generation (so status writes by other controllers are
/// not drift), else its resourceVersion (ConfigMaps, Secrets: no status).
pub fn fingerprint(meta: &kube::core::ObjectMeta) -> String {
    match meta.generation {
        Some(generation) => {
            use std::hash::{Hash as _, Hasher as _};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            meta.labels.hash(&mut hasher);
            meta.annotations.hash(&mut hasher);
            format!("g{generation}/{:x}", hasher.finish())
        }
        None => format!("rv{}", meta.resource_version.as_deref().unwrap_or_default()),
    }
}

/// The state of every object we manage, kept current by metadata-only watches per
/// kind, one per owner label (a label selector cannot say "either"). A reconcile
/// compares it with what its last apply returned: equal means nobody touched the
/// object, so there is nothing to read and nothing to apply (DESIGN.md §5).
#[derive(Default)]
pub struct Tracker {
    /// (watch, group, kind, namespace, name) → what the watch last saw.
    objects: Mutex<HashMap<TrackerKey, Tracked>>,
    /// (watch, group, kind) of the watches that have listed everything at least once.
    synced: Mutex<HashSet<(usize, String, String)>>,
}

type TrackerKey = (usize, String, String, String, String);

#[derive(Debug, Clone)]
struct Tracked {
    fingerprint: String,
    /// The live object opts out of apply (`reconcile: disabled`, `ssa: Ignore`),
    /// as `kubectl annotate` can make it.
    opted_out: bool,
}

/// Whether live metadata opts the object out of apply.
fn opts_out(meta: &kube::core::ObjectMeta) -> bool {
    let value =
        serde_json::json!({"metadata": {"labels": meta.labels, "annotations": meta.annotations}});
    inventory::is_reconcile_disabled(&value)
        || inventory::metadata_matches(
            &value,
            inventory::SSA_KEY,
            inventory::SsaPolicy::Ignore.value(),
        )
}

impl Tracker {
    fn key(watch: usize, group: &str, kind: &str, namespace: &str, name: &str) -> TrackerKey {
        (
            watch,
            group.to_owned(),
            kind.to_owned(),
            namespace.to_owned(),
            name.to_owned(),
        )
    }

    fn tracked(&self, r: &ObjectRef) -> Result<Option<Tracked>, ()> {
        let (group, _) = r.group_version();
        let synced = self.synced.lock().map_err(|_| ())?;
        let objects = self.objects.lock().map_err(|_| ())?;
        let mut all_synced = true;
        for watch in 0..OWNER_NAME_LABELS.len() {
            let key = Self::key(watch, group, &r.kind, &r.namespace, &r.name);
            if let Some(found) = objects.get(&key) {
                return Ok(Some(found.clone()));
            }
            all_synced &= synced.contains(&(watch, group.to_owned(), r.kind.clone()));
        }
        if all_synced {
            Ok(None)
        } else {
            Err(())
        }
    }

    /// The last seen state of `r`.
    pub fn seen(&self, r: &ObjectRef) -> Seen {
        match self.tracked(r) {
            Ok(Some(tracked)) => Seen::Version(tracked.fingerprint),
            Ok(None) => Seen::Absent,
            Err(()) => Seen::Unknown,
        }
    }

    /// Whether the live object, as last seen, opts out of apply.
    pub fn opted_out(&self, r: &ObjectRef) -> bool {
        matches!(self.tracked(r), Ok(Some(tracked)) if tracked.opted_out)
    }

    fn record(
        &self,
        watch: usize,
        group: &str,
        kind: &str,
        meta: &kube::core::ObjectMeta,
        deleted: bool,
    ) {
        let key = Self::key(
            watch,
            group,
            kind,
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        );
        if let Ok(mut objects) = self.objects.lock() {
            if deleted {
                objects.remove(&key);
            } else {
                objects.insert(
                    key,
                    Tracked {
                        fingerprint: fingerprint(meta),
                        opted_out: opts_out(meta),
                    },
                );
            }
        }
    }

    /// Follows one kind's objects carrying owner label `OWNER_NAME_LABELS[watch]`
    /// until the task is dropped; restarts with backoff on errors.
    async fn follow(self: Arc<Self>, client: kube::Client, resource: ApiResource, watch: usize) {
        let api: Api<kube::core::PartialObjectMeta<DynamicObject>> =
            Api::all_with(client, &resource);
        let config = watcher::Config::default().labels(OWNER_NAME_LABELS[watch]);
        let (group, kind) = (resource.group.clone(), resource.kind.clone());
        let mut listed: Vec<kube::core::ObjectMeta> = Vec::new();
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Apply(o)) => self.record(watch, &group, &kind, &o.metadata, false),
                Ok(Event::Delete(o)) => self.record(watch, &group, &kind, &o.metadata, true),
                Ok(Event::Init) => listed.clear(),
                Ok(Event::InitApply(o)) => listed.push(o.metadata),
                Ok(Event::InitDone) => {
                    // The list replaces what this watch knew of the kind.
                    if let Ok(mut objects) = self.objects.lock() {
                        objects.retain(|k, _| !(k.0 == watch && k.1 == group && k.2 == kind));
                    }
                    for meta in listed.drain(..) {
                        self.record(watch, &group, &kind, &meta, false);
                    }
                    if let Ok(mut synced) = self.synced.lock() {
                        synced.insert((watch, group.clone(), kind.clone()));
                    }
                }
                Err(e) => {
                    tracing::debug!(kind = %resource.kind, error = %e, "managed-object watch restarting")
                }
            }
        }
    }
}

/// Discovered kinds: (apiVersion, kind) → the API resource and whether namespaced.
type KindCache = HashMap<(String, String), (ApiResource, bool)>;

/// Applies and deletes objects of any kind, discovering each kind once.
pub struct Applier {
    /// Who applies: the controller, or a tenant's service account it impersonates.
    client: kube::Client,
    /// The controller whose field manager applies.
    field_manager: &'static str,
    /// Who watches managed objects: always the controller.
    watch_client: kube::Client,
    kinds: Arc<Mutex<KindCache>>,
    pub tracker: Arc<Tracker>,
    watches: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Drop for Applier {
    fn drop(&mut self) {
        // Views made by `impersonating` share the watches; the last one stops them.
        if Arc::strong_count(&self.watches) > 1 {
            return;
        }
        if let Ok(watches) = self.watches.lock() {
            for watch in watches.iter() {
                watch.abort();
            }
        }
    }
}

impl Applier {
    pub fn new(client: kube::Client) -> Self {
        Self {
            watch_client: client.clone(),
            client,
            field_manager: OwnerKind::Kustomization.field_manager(),
            kinds: Arc::new(Mutex::new(HashMap::new())),
            tracker: Arc::new(Tracker::default()),
            watches: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The same applier acting as another identity (`client` impersonates a
    /// service account): what it may do is what that account may do. Discovery,
    /// and the watches of managed objects, stay shared.
    pub fn impersonating(&self, client: kube::Client) -> Self {
        Self {
            client,
            field_manager: self.field_manager,
            watch_client: self.watch_client.clone(),
            kinds: self.kinds.clone(),
            tracker: self.tracker.clone(),
            watches: self.watches.clone(),
        }
    }

    /// Who this applier acts as: the client to do anything else the owner does in
    /// its name (a release's records, for instance) with.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The same applier applying as `owner`'s controller (its field manager).
    pub fn applying_for(mut self, owner: OwnerKind) -> Self {
        self.field_manager = owner.field_manager();
        self
    }

    /// The API resource for a kind and whether it is namespaced. Kinds not yet known
    /// are discovered (a CRD applied in an earlier stage becomes known here), and
    /// from then on their managed objects are watched.
    pub async fn resolve(&self, r: &ObjectRef) -> Result<(ApiResource, bool), ApplyError> {
        let key = (r.api_version.clone(), r.kind.clone());
        if let Some(found) = self
            .kinds
            .lock()
            .map(|k| k.get(&key).cloned())
            .ok()
            .flatten()
        {
            return Ok(found);
        }
        let (group, version) = r.group_version();
        let gvk = GroupVersionKind::gvk(group, version, &r.kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|_| ApplyError::NoMatch {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
            })?;
        let namespaced = capabilities.scope == Scope::Namespaced;
        let first_of_kind = self
            .kinds
            .lock()
            .map(|mut kinds| {
                let first = !kinds.keys().any(|(api_version, kind)| {
                    kind == &r.kind
                        && api_version.split_once('/').map(|(g, _)| g).unwrap_or("") == group
                });
                kinds.insert(key, (resource.clone(), namespaced));
                first
            })
            .unwrap_or(false);
        if first_of_kind {
            for watch in 0..OWNER_NAME_LABELS.len() {
                let task = tokio::spawn(self.tracker.clone().follow(
                    self.watch_client.clone(),
                    resource.clone(),
                    watch,
                ));
                if let Ok(mut watches) = self.watches.lock() {
                    watches.push(task);
                }
            }
        }
        Ok((resource, namespaced))
    }

    async fn api(&self, r: &ObjectRef) -> Result<Api<DynamicObject>, ApplyError> {
        let (resource, namespaced) = self.resolve(r).await?;
        if namespaced {
            if r.namespace.is_empty() {
                return Err(ApplyError::NoNamespace {
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                });
            }
            Ok(Api::namespaced_with(
                self.client.clone(),
                &r.namespace,
                &resource,
            ))
        } else {
            Ok(Api::all_with(self.client.clone(), &resource))
        }
    }

    fn api_error(r: &ObjectRef, error: kube::Error) -> ApplyError {
        let (message, code) = match &error {
            kube::Error::Api(status) => (status.message.clone(), status.code),
            other => (other.to_string(), 0),
        };
        ApplyError::Api {
            id: r.display(),
            message,
            code,
        }
    }

    /// The live object, if it exists.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ApplyError> {
        let api = self.api(r).await?;
        let found = api
            .get_opt(&r.name)
            .await
            .map_err(|e| Self::api_error(r, e))?;
        Ok(found.and_then(|o| serde_json::to_value(o).ok()))
    }

    /// Server-side applies `object`. `existing` says whether it existed before, and
    /// in which state; returns what happened and the state it is in now.
    /// With `recreate`, an object whose immutable fields changed is deleted and
    /// created again (`spec.force`, `kustomize.toolkit.fluxcd.io/force: enabled`).
    pub async fn apply(
        &self,
        object: &Value,
        existing: &Seen,
        recreate: bool,
    ) -> Result<(Action, String), ApplyError> {
        let r = ObjectRef::of(object)?;
        let api = self.api(&r).await?;
        let params = PatchParams::apply(self.field_manager).force();
        let applied = match api.patch(&r.name, &params, &Patch::Apply(object)).await {
            Ok(applied) => applied,
            Err(kube::Error::Api(status))
                if recreate
                    && super::stages::is_immutable_error(
                        Some(status.code),
                        &status.reason,
                        &status.message,
                    ) =>
            {
                self.delete(&r).await?;
                // The old object may linger with finalizers; wait until it is gone.
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
                while self.get(&r).await?.is_some() {
                    if tokio::time::Instant::now() > deadline {
                        return Err(ApplyError::Api {
                            id: r.display(),
                            message: "timed out waiting for the old object to be deleted".into(),
                            code: 0,
                        });
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                api.patch(&r.name, &params, &Patch::Apply(object))
                    .await
                    .map_err(|e| Self::api_error(&r, e))?
            }
            Err(e) => return Err(Self::api_error(&r, e)),
        };
        // Fields kubectl wrote (client-side apply, edit, scale) are taken over, as
        // Flux does: drop kubectl's field ownership, then apply again, so the next
        // `kubectl apply` cannot quietly revert what Git says.
        let applied = if applied
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .any(is_kubectl_update)
        {
            let kept: Vec<_> = applied
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .filter(|m| !is_kubectl_update(m))
                .cloned()
                .collect();
            let patch = serde_json::json!({"metadata": {"managedFields": kept}});
            api.patch(&r.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| Self::api_error(&r, e))?;
            api.patch(&r.name, &params, &Patch::Apply(object))
                .await
                .map_err(|e| Self::api_error(&r, e))?
        } else {
            applied
        };
        let version = fingerprint(&applied.metadata);
        let action = match existing {
            Seen::Absent | Seen::Unknown => Action::Created,
            Seen::Version(before) if *before == version => Action::Unchanged,
            Seen::Version(_) => Action::Configured,
        };
        Ok((action, version))
    }

    /// What the API server would make of `object` if it were applied now (a
    /// server-side dry run), without changing anything.
    pub async fn dry_run(&self, object: &Value) -> Result<Value, ApplyError> {
        let r = ObjectRef::of(object)?;
        let api = self.api(&r).await?;
        let params = PatchParams::apply(self.field_manager).force().dry_run();
        let result = api
            .patch(&r.name, &params, &Patch::Apply(object))
            .await
            .map_err(|e| Self::api_error(&r, e))?;
        serde_json::to_value(result).map_err(|e| ApplyError::Invalid(e.to_string()))
    }

    /// What is known of `r` before applying it, and whether the live object opts out
    /// of apply: from the watch when it has listed the kind, else from a read.
    pub async fn before_apply(&self, r: &ObjectRef) -> Result<(Seen, bool), ApplyError> {
        self.resolve(r).await?;
        match self.tracker.seen(r) {
            Seen::Unknown => Ok(match self.get(r).await? {
                Some(live) => {
                    let meta: kube::core::ObjectMeta = live
                        .get("metadata")
                        .cloned()
                        .and_then(|m| serde_json::from_value(m).ok())
                        .unwrap_or_default();
                    (Seen::Version(fingerprint(&meta)), opts_out(&meta))
                }
                None => (Seen::Absent, false),
            }),
            seen => Ok((seen, self.tracker.opted_out(r))),
        }
    }

    /// Deletes an object (background propagation); a missing object counts as deleted.
    pub async fn delete(&self, r: &ObjectRef) -> Result<Action, ApplyError> {
        self.delete_with(r, PropagationPolicy::Background).await
    }

    /// Deletes an object, its dependents as `propagation` says; a missing object
    /// counts as deleted.
    pub async fn delete_with(
        &self,
        r: &ObjectRef,
        propagation: PropagationPolicy,
    ) -> Result<Action, ApplyError> {
        let api = match self.api(r).await {
            Ok(api) => api,
            // The kind is gone (CRD deleted): so are its objects.
            Err(ApplyError::NoMatch { .. }) => return Ok(Action::Deleted),
            Err(e) => return Err(e),
        };
        let params = DeleteParams {
            propagation_policy: Some(propagation),
            ..DeleteParams::default()
        };
        match api.delete(&r.name, &params).await {
            Ok(_) => Ok(Action::Deleted),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::Deleted),
            Err(e) => Err(Self::api_error(r, e)),
        }
    }
}
