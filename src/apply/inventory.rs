//! The inventory Flux keeps in `status.inventory`, and the per-object annotations
//! that opt an object out of apply or prune.
//!
//! Entries are `{id: "<namespace>_<name>_<group>_<Kind>", v: "<version>"}` (cli-utils
//! `ObjMetadata.String()`); cluster-scoped objects have an empty namespace and core
//! kinds an empty group, so a Namespace is `_apps__Namespace`. Stale objects (in the
//! old inventory, not the new) are pruned in the reverse of the apply order, as
//! fluxcd/pkg ssa `DeleteAll` does, so a Namespace goes after what was in it.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::stages::{compare_for_apply, Action, ChangeSet, ChangeSetEntry};

/// The API group whose annotations and labels steer the Kustomization controller.
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// `disabled`: the object is neither applied nor pruned (`kustomize.toolkit.fluxcd.io/reconcile`).
pub const RECONCILE_KEY: &str = "kustomize.toolkit.fluxcd.io/reconcile";
/// `disabled`: the object is never pruned (`kustomize.toolkit.fluxcd.io/prune`).
pub const PRUNE_KEY: &str = "kustomize.toolkit.fluxcd.io/prune";
/// `Override` (default) | `Merge` | `IfNotPresent` | `Ignore` (`kustomize.toolkit.fluxcd.io/ssa`).
pub const SSA_KEY: &str = "kustomize.toolkit.fluxcd.io/ssa";
/// `enabled`: recreate the object when an immutable field changed (`kustomize.toolkit.fluxcd.io/force`).
pub const FORCE_KEY: &str = "kustomize.toolkit.fluxcd.io/force";
/// Owner labels set on every object a Kustomization applies; prune only deletes
/// objects carrying them.
pub const OWNER_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
pub const OWNER_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
/// The same for objects of a HelmRelease (helm-controller's origin labels).
pub const HELM_OWNER_NAME_LABEL: &str = "helm.toolkit.fluxcd.io/name";
pub const HELM_OWNER_NAMESPACE_LABEL: &str = "helm.toolkit.fluxcd.io/namespace";
/// Every owner-name label: the managed-object watches select on each.
pub const OWNER_NAME_LABELS: [&str; 2] = [OWNER_NAME_LABEL, HELM_OWNER_NAME_LABEL];

pub const DISABLED_VALUE: &str = "disabled";
pub const ENABLED_VALUE: &str = "enabled";

/// RBAC kinds whose names may contain `:`, stored as `__` in the id.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const RBAC_KINDS: [&str; 4] = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InventoryError {
    #[error("unable to parse stored object metadata: {0}")]
    MalformedId(String),
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("unexpected GroupVersion string: {0}")]
    BadApiVersion(String),
}

/// What identifies an object across versions: namespace, name, group and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjMetadata {
    pub namespace: String,
    pub name: String,
    pub group: String,
    pub kind: String,
}

impl ObjMetadata {
    pub fn new(namespace: &str, name: &str, group: &str, kind: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
        }
    }

    /// Parses an inventory id. The namespace is up to the first `_`, kind and group
    /// are the last two fields, and the name is what is left (with `__` read back as
    /// `:`), so names containing `_` survive.
    pub fn parse(id: &str) -> Result<Self, InventoryError> {
        let malformed = || InventoryError::MalformedId(id.to_owned());
        let (namespace, rest) = id.split_once('_').ok_or_else(malformed)?;
        let (rest, kind) = rest.rsplit_once('_').ok_or_else(malformed)?;
        let (name, group) = rest.rsplit_once('_').ok_or_else(malformed)?;
        Ok(Self::new(namespace, &name.replace("__", ":"), group, kind))
    }

    /// The inventory id, `<namespace>_<name>_<group>_<Kind>`.
    pub fn id(&self) -> String {
        let name = if self.is_rbac() {
            self.name.replace(':', "__")
        } else {
            self.name.clone()
        };
        format!("{}_{}_{}_{}", self.namespace, name, self.group, self.kind)
    }

    /// How Flux names the object in events and errors: `Kind/namespace/name`, or
    /// `Kind/name` for cluster-scoped objects.
    pub fn subject(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// Identity of a manifest or live object.
    pub fn from_object(object: &Value) -> Result<Self, InventoryError> {
        Ok(identify(object)?.0)
    }

    fn is_rbac(&self) -> bool {
        self.group == RBAC_GROUP && RBAC_KINDS.contains(&self.kind.as_str())
    }
}

impl fmt::Display for ObjMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// Splits `apiVersion` into group and version as Kubernetes does: `v1` is the core
/// group, `apps/v1` is group `apps`, anything with two slashes is invalid.
pub fn split_api_version(api_version: &str) -> Result<(&str, &str), InventoryError> {
    match api_version.split_once('/') {
        None => Ok(("", api_version)),
        Some((group, version)) if !version.contains('/') => Ok((group, version)),
        Some(_) => Err(InventoryError::BadApiVersion(api_version.to_owned())),
    }
}

/// Joins group and version back into an `apiVersion`.
pub fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// Identity and version of an object.
fn identify(object: &Value) -> Result<(ObjMetadata, String), InventoryError> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    let api_version = text(object.get("apiVersion"));
    let kind = text(object.get("kind"));
    let metadata = object.get("metadata");
    let name = text(metadata.and_then(|m| m.get("name")));
    let namespace = text(metadata.and_then(|m| m.get("namespace")));
    if api_version.is_empty() {
        return Err(InventoryError::MissingField("apiVersion"));
    }
    if kind.is_empty() {
        return Err(InventoryError::MissingField("kind"));
    }
    if name.is_empty() {
        return Err(InventoryError::MissingField("metadata.name"));
    }
    let (group, version) = split_api_version(&api_version)?;
    Ok((
        ObjMetadata::new(&namespace, &name, group, &kind),
        version.to_owned(),
    ))
}

/// One `status.inventory.entries[]` item. Same shape as the API type (`id`, `v`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    pub id: String,
    pub v: String,
}

impl InventoryEntry {
    /// The entry for an applied object.
    pub fn for_object(object: &Value) -> Result<Self, InventoryError> {
        let (meta, version) = identify(object)?;
        Ok(Self {
            id: meta.id(),
            v: version,
        })
    }
}

/// An object named by the inventory: enough to get or delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryObject {
    pub meta: ObjMetadata,
    pub version: String,
}

impl InventoryObject {
    /// `apiVersion` to address the object with (the version it was applied with).
    pub fn api_version(&self) -> String {
        join_api_version(&self.meta.group, &self.version)
    }
}

/// The new inventory from an apply's change set, in change-set (apply) order.
/// Skipped objects stay in: an object the user excluded is still owned, so it must
/// not be pruned as stale on the next reconcile.
pub fn inventory_from_change_set(change_set: &ChangeSet) -> Vec<InventoryEntry> {
    change_set
        .entries
        .iter()
        .map(|entry| InventoryEntry {
            id: entry.object.id(),
            v: entry.version.clone(),
        })
        .collect()
}

/// The inventory's objects in apply order (what Flux's `inventory.List` returns).
pub fn list_objects(entries: &[InventoryEntry]) -> Result<Vec<InventoryObject>, InventoryError> {
    let mut objects = entries
        .iter()
        .map(|entry| {
            Ok(InventoryObject {
                meta: ObjMetadata::parse(&entry.id)?,
                version: entry.v.clone(),
            })
        })
        .collect::<Result<Vec<_>, InventoryError>>()?;
    objects.sort_by(|a, b| compare_for_apply(&a.meta, &b.meta));
    Ok(objects)
}

/// The objects to delete when the Kustomization itself is deleted, in deletion
/// order (reverse apply order).
pub fn deletion_order(entries: &[InventoryEntry]) -> Result<Vec<InventoryObject>, InventoryError> {
    let mut objects = list_objects(entries)?;
    objects.reverse();
    Ok(objects)
}

/// Objects in `old` but not in `new`, in the order they are pruned: the reverse of
/// the apply order. Identity ignores the version, so moving a kind from `v1beta1`
/// to `v1` does not delete it; a stale object keeps the version it was applied with.
pub fn stale_objects(
    old: &[InventoryEntry],
    new: &[InventoryEntry],
) -> Result<Vec<InventoryObject>, InventoryError> {
    let current: HashSet<ObjMetadata> = new
        .iter()
        .map(|entry| ObjMetadata::parse(&entry.id))
        .collect::<Result<_, _>>()?;
    let mut seen = HashSet::new();
    let mut stale = Vec::new();
    for entry in old {
        let meta = ObjMetadata::parse(&entry.id)?;
        if current.contains(&meta) || !seen.insert(meta.clone()) {
            continue;
        }
        stale.push(InventoryObject {
            meta,
            version: entry.v.clone(),
        });
    }
    stale.sort_by(|a, b| compare_for_apply(&b.meta, &a.meta));
    Ok(stale)
}

/// After a failed prune: the stale objects whose deletion was not confirmed (no
/// `deleted` or `skipped` entry). Flux puts them back into the inventory so the next
/// reconcile retries them instead of leaving them as unowned leftovers.
pub fn prune_survivors(
    stale: &[InventoryObject],
    prune_results: &ChangeSet,
) -> Vec<InventoryObject> {
    let settled: HashSet<&ObjMetadata> = prune_results
        .entries
        .iter()
        .filter(|entry| matches!(entry.action, Action::Deleted | Action::Skipped))
        .map(|entry| &entry.object)
        .collect();
    stale
        .iter()
        .filter(|object| !settled.contains(&object.meta))
        .cloned()
        .collect()
}

/// Appends objects to the inventory unless already present.
pub fn merge_into_inventory(entries: &mut Vec<InventoryEntry>, objects: &[InventoryObject]) {
    let mut present: HashSet<String> = entries.iter().map(|entry| entry.id.clone()).collect();
    for object in objects {
        let id = object.meta.id();
        if present.insert(id.clone()) {
            entries.push(InventoryEntry {
                id,
                v: object.version.clone(),
            });
        }
    }
}

// ---------------------------------------------------------------------------------
// Per-object opt-outs
// ---------------------------------------------------------------------------------

/// Flux's `AnyInMetadata`: the key is set, non-empty, to `value` (ignoring case) as a
/// label or as an annotation. Labels count too: `kustomize.toolkit.fluxcd.io/prune:
/// disabled` works either way.
pub fn metadata_matches(object: &Value, key: &str, value: &str) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        object
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(|map| map.get(key))
            .and_then(Value::as_str)
            .is_some_and(|found| !found.is_empty() && found.eq_ignore_ascii_case(value))
    })
}

/// The server-side apply policy an object asks for with `kustomize.toolkit.fluxcd.io/ssa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsaPolicy {
    /// The default: apply, and take over fields other managers (kubectl) set.
    Override,
    /// Apply, but leave fields and metadata owned by other managers alone.
    Merge,
    /// Create when missing, never update afterwards.
    IfNotPresent,
    /// Neither apply nor prune.
    Ignore,
}

impl SsaPolicy {
    pub fn value(self) -> &'static str {
        match self {
            Self::Override => "Override",
            Self::Merge => "Merge",
            Self::IfNotPresent => "IfNotPresent",
            Self::Ignore => "Ignore",
        }
    }
}

/// The single policy an object asks for. The selectors are independent in Flux (an
/// object labelled `Ignore` and annotated `Merge` matches both); the strongest wins
/// here, which is how the apply rules below combine them anyway.
pub fn ssa_policy(object: &Value) -> SsaPolicy {
    [SsaPolicy::Ignore, SsaPolicy::IfNotPresent, SsaPolicy::Merge]
        .into_iter()
        .find(|policy| metadata_matches(object, SSA_KEY, policy.value()))
        .unwrap_or(SsaPolicy::Override)
}

/// `kustomize.toolkit.fluxcd.io/reconcile: disabled`.
pub fn is_reconcile_disabled(object: &Value) -> bool {
    metadata_matches(object, RECONCILE_KEY, DISABLED_VALUE)
}

/// `kustomize.toolkit.fluxcd.io/prune: disabled`.
pub fn is_prune_disabled(object: &Value) -> bool {
    metadata_matches(object, PRUNE_KEY, DISABLED_VALUE)
}

/// `kustomize.toolkit.fluxcd.io/force: enabled`.
pub fn is_force_enabled(object: &Value) -> bool {
    metadata_matches(object, FORCE_KEY, ENABLED_VALUE)
}

/// Why an object is left alone by apply (change-set action `skipped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    ReconcileDisabled,
    SsaIgnore,
    /// `ssa: IfNotPresent` and the object already exists.
    AlreadyPresent,
}

/// Whether apply skips an object. `desired` is the manifest; `live` the cluster
/// object, if it exists. The exclusions count on either side, so annotating the live
/// object with `reconcile: disabled` (kubectl annotate) stops Flux from touching it.
/// Flux builds the `skipped` change-set entry from the live object when there is
/// one, so its inventory id keeps the live namespace (cluster-scoped objects whose
/// manifest carries a stray namespace).
pub fn apply_skip_reason(desired: &Value, live: Option<&Value>) -> Option<SkipReason> {
    let either = |check: fn(&Value) -> bool| check(desired) || live.is_some_and(check);
    if either(is_reconcile_disabled) {
        return Some(SkipReason::ReconcileDisabled);
    }
    if either(|o| metadata_matches(o, SSA_KEY, SsaPolicy::Ignore.value())) {
        return Some(SkipReason::SsaIgnore);
    }
    if live.is_some() && metadata_matches(desired, SSA_KEY, SsaPolicy::IfNotPresent.value()) {
        return Some(SkipReason::AlreadyPresent);
    }
    None
}

/// Whether an object whose apply failed on an immutable field is deleted and
/// recreated: `spec.force`, or `force: enabled` on the manifest or the live object.
pub fn should_recreate_on_immutable_change(
    spec_force: bool,
    desired: &Value,
    live: Option<&Value>,
) -> bool {
    spec_force || is_force_enabled(desired) || live.is_some_and(is_force_enabled)
}

/// Whether Flux skips its metadata cleanup (dropping kubectl's last-applied
/// annotation, taking over fields from `kubectl` managers) for this object:
/// `ssa: Merge` on either side keeps other managers' fields.
pub fn skips_field_takeover(desired: &Value, live: Option<&Value>) -> bool {
    let merge = |o: &Value| metadata_matches(o, SSA_KEY, SsaPolicy::Merge.value());
    merge(desired) || live.is_some_and(merge)
}

/// The Flux kinds that apply objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerKind {
    Kustomization,
    HelmRelease,
}

impl OwnerKind {
    /// The field manager of the controller's server-side applies.
    pub fn field_manager(self) -> &'static str {
        match self {
            Self::Kustomization => "kustomize-controller",
            Self::HelmRelease => "helm-controller",
        }
    }

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::Kustomization => (OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL),
            Self::HelmRelease => (HELM_OWNER_NAME_LABEL, HELM_OWNER_NAMESPACE_LABEL),
        }
    }
}

/// The Kustomization or HelmRelease that applies an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub kind: OwnerKind,
    pub name: String,
    pub namespace: String,
}

impl Owner {
    pub fn new(kind: OwnerKind, name: &str, namespace: &str) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    /// The owner labels Flux sets on every object it applies.
    pub fn labels(&self) -> [(&'static str, String); 2] {
        let (name, namespace) = self.kind.labels();
        [
            (name, self.name.clone()),
            (namespace, self.namespace.clone()),
        ]
    }

    /// Sets the owner labels on every object.
    pub fn label(&self, objects: &mut [Value]) {
        let labels = self.labels();
        for object in objects {
            let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
                continue;
            };
            let entry = metadata
                .entry("labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(map) = entry.as_object_mut() {
                for (key, value) in &labels {
                    map.insert((*key).to_owned(), Value::String(value.clone()));
                }
            }
        }
    }

    /// Whether `live` carries this owner's labels.
    pub fn owns(&self, live: &Value) -> bool {
        let labels = live.get("metadata").and_then(|m| m.get("labels"));
        self.labels().iter().all(|(key, value)| {
            labels.and_then(|l| l.get(*key)).and_then(Value::as_str) == Some(value.as_str())
        })
    }
}

/// What prune does with one stale object, given its live state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneDecision {
    /// Already gone: reported as `deleted`.
    AlreadyDeleted,
    /// Send the delete (background propagation).
    Delete,
    /// Reported as `skipped`: another owner took it over, or it opted out.
    Skip,
}

/// Decides the fate of a stale object. Only objects still labelled as owned by
/// `owner` are deleted; `prune: disabled`, `reconcile: disabled` and `ssa: Ignore` on
/// the live object keep it.
pub fn prune_decision(live: Option<&Value>, owner: &Owner) -> PruneDecision {
    let Some(live) = live else {
        return PruneDecision::AlreadyDeleted;
    };
    if !owner.owns(live)
        || is_prune_disabled(live)
        || is_reconcile_disabled(live)
        || metadata_matches(live, SSA_KEY, SsaPolicy::Ignore.value())
    {
        return PruneDecision::Skip;
    }
    PruneDecision::Delete
}

/// The change-set entry prune reports for a decision (a delete that was sent and
/// accepted counts as `deleted`).
pub fn prune_entry(object: &InventoryObject, decision: PruneDecision) -> ChangeSetEntry {
    let action = match decision {
        PruneDecision::AlreadyDeleted | PruneDecision::Delete => Action::Deleted,
        PruneDecision::Skip => Action::Skipped,
    };
    ChangeSetEntry {
        object: object.meta.clone(),
        version: object.version.clone(),
        action,
    }
}

/// `spec.deletionPolicy`: what happens to applied objects when the Kustomization is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// The default: delete when `spec.prune` is true, orphan otherwise.
    MirrorPrune,
    Delete,
    /// Delete, then wait (up to the timeout) for the objects to be gone.
    WaitForTermination,
    Orphan,
}

impl DeletionPolicy {
    /// The policy named in the spec; unset or empty means `MirrorPrune`.
    pub fn from_spec(value: Option<&str>) -> Option<Self> {
        match value.unwrap_or_default() {
            "" | "MirrorPrune" => Some(Self::MirrorPrune),
            "Delete" => Some(Self::Delete),
            "WaitForTermination" => Some(Self::WaitForTermination),
            "Orphan" => Some(Self::Orphan),
            _ => None,
        }
    }
}

/// Whether deleting the Kustomization deletes what it applied. A suspended
/// Kustomization, or one with an empty inventory, deletes nothing.
pub fn finalizer_deletes_objects(
    policy: DeletionPolicy,
    prune: bool,
    suspended: bool,
    inventory_len: usize,
) -> bool {
    if suspended || inventory_len == 0 {
        return false;
    }
    match policy {
        DeletionPolicy::MirrorPrune => prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: &str, v: &str) -> InventoryEntry {
        InventoryEntry {
            id: id.into(),
            v: v.into(),
        }
    }

    fn ids(objects: &[InventoryObject]) -> Vec<String> {
        objects.iter().map(|o| o.meta.id()).collect()
    }

    #[test]
    fn ids_follow_flux_format() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "podinfo", "namespace": "apps"}});
        assert_eq!(
            InventoryEntry::for_object(&deployment).unwrap(),
            entry("apps_podinfo_apps_Deployment", "v1")
        );

        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
        assert_eq!(
            InventoryEntry::for_object(&namespace).unwrap(),
            entry("_apps__Namespace", "v1")
        );

        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}});
        assert_eq!(
            InventoryEntry::for_object(&service).unwrap().id,
            "default_web__Service"
        );

        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"}});
        assert_eq!(
            InventoryEntry::for_object(&crd).unwrap().id,
            "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition"
        );
    }

    #[test]
    fn rbac_names_with_colons_are_transcoded() {
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:metrics-reader"}});
        let id = InventoryEntry::for_object(&role).unwrap().id;
        assert_eq!(
            id,
            "_system__metrics-reader_rbac.authorization.k8s.io_ClusterRole"
        );
        let parsed = ObjMetadata::parse(&id).unwrap();
        assert_eq!(parsed.name, "system:metrics-reader");
        assert_eq!(parsed.id(), id);
    }

    #[test]
    fn ids_parse_back_including_underscores_in_names() {
        let meta = ObjMetadata::parse("apps_podinfo_apps_Deployment").unwrap();
        assert_eq!(
            meta,
            ObjMetadata::new("apps", "podinfo", "apps", "Deployment")
        );
        let meta = ObjMetadata::parse("_apps__Namespace").unwrap();
        assert_eq!(meta, ObjMetadata::new("", "apps", "", "Namespace"));
        // Custom resources may have underscores in their names.
        let meta = ObjMetadata::parse("ns_my_odd_name_example.com_Widget").unwrap();
        assert_eq!(
            meta,
            ObjMetadata::new("ns", "my_odd_name", "example.com", "Widget")
        );
        assert_eq!(meta.id(), "ns_my_odd_name_example.com_Widget");

        for bad in ["", "nounderscore", "ns_name", "a_b"] {
            assert_eq!(
                ObjMetadata::parse(bad).unwrap_err().to_string(),
                format!("unable to parse stored object metadata: {bad}")
            );
        }
    }

    #[test]
    fn subjects_read_like_flux_events() {
        assert_eq!(
            ObjMetadata::new("apps", "podinfo", "apps", "Deployment").subject(),
            "Deployment/apps/podinfo"
        );
        assert_eq!(
            ObjMetadata::new("", "apps", "", "Namespace").subject(),
            "Namespace/apps"
        );
    }

    #[test]
    fn objects_without_identity_are_refused() {
        let no_kind = json!({"apiVersion": "v1", "metadata": {"name": "x"}});
        assert_eq!(
            InventoryEntry::for_object(&no_kind),
            Err(InventoryError::MissingField("kind"))
        );
        let no_name = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        assert_eq!(
            InventoryEntry::for_object(&no_name),
            Err(InventoryError::MissingField("metadata.name"))
        );
        let bad = json!({"apiVersion": "a/b/c", "kind": "X", "metadata": {"name": "x"}});
        assert!(matches!(
            InventoryEntry::for_object(&bad),
            Err(InventoryError::BadApiVersion(_))
        ));
    }

    #[test]
    fn inventory_objects_rebuild_their_api_version() {
        let objects = list_objects(&[
            entry("apps_web_apps_Deployment", "v1"),
            entry("_apps__Namespace", "v1"),
        ])
        .unwrap();
        let versions: Vec<String> = objects.iter().map(InventoryObject::api_version).collect();
        assert_eq!(versions, ["v1", "apps/v1"]);
    }

    #[test]
    fn entries_serialize_with_flux_field_names() {
        let json = serde_json::to_value(entry("_apps__Namespace", "v1")).unwrap();
        assert_eq!(json, json!({"id": "_apps__Namespace", "v": "v1"}));
    }

    #[test]
    fn stale_objects_are_pruned_in_reverse_apply_order() {
        let old = [
            entry("apps_web_apps_Deployment", "v1"),
            entry("_apps__Namespace", "v1"),
            entry("apps_web__Service", "v1"),
            entry("apps_config__ConfigMap", "v1"),
            entry(
                "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition",
                "v1",
            ),
            entry("apps_w1_example.com_Widget", "v1alpha1"),
            entry(
                "_hook_admissionregistration.k8s.io_ValidatingWebhookConfiguration",
                "v1",
            ),
        ];
        let new = [entry("apps_config__ConfigMap", "v1")];
        let stale = stale_objects(&old, &new).unwrap();
        assert_eq!(
            ids(&stale),
            [
                "_hook_admissionregistration.k8s.io_ValidatingWebhookConfiguration",
                "apps_w1_example.com_Widget",
                "apps_web_apps_Deployment",
                "apps_web__Service",
                "_apps__Namespace",
                "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition",
            ]
        );
        // The stale object keeps the version it was applied with.
        assert_eq!(stale[1].version, "v1alpha1");
        assert_eq!(stale[1].api_version(), "example.com/v1alpha1");
    }

    #[test]
    fn a_version_change_is_not_stale() {
        let old = [entry(
            "apps_hpa_autoscaling_HorizontalPodAutoscaler",
            "v2beta2",
        )];
        let new = [entry("apps_hpa_autoscaling_HorizontalPodAutoscaler", "v2")];
        assert!(stale_objects(&old, &new).unwrap().is_empty());
        assert!(stale_objects(&[], &new).unwrap().is_empty());
        assert_eq!(stale_objects(&new, &[]).unwrap().len(), 1);
    }

    #[test]
    fn malformed_inventory_ids_are_errors() {
        assert!(stale_objects(&[entry("garbage", "v1")], &[]).is_err());
        assert!(stale_objects(&[], &[entry("garbage", "v1")]).is_err());
    }

    #[test]
    fn finalizer_deletes_in_reverse_apply_order() {
        let entries = [
            entry("_apps__Namespace", "v1"),
            entry("apps_web_apps_Deployment", "v1"),
            entry(
                "_crds.example.com_apiextensions.k8s.io_CustomResourceDefinition",
                "v1",
            ),
        ];
        assert_eq!(
            ids(&deletion_order(&entries).unwrap()),
            [
                "apps_web_apps_Deployment",
                "_apps__Namespace",
                "_crds.example.com_apiextensions.k8s.io_CustomResourceDefinition"
            ]
        );
    }

    #[test]
    fn inventory_is_built_from_the_change_set_including_skipped() {
        let mut change_set = ChangeSet::default();
        for (meta, action) in [
            (
                ObjMetadata::new("", "apps", "", "Namespace"),
                Action::Created,
            ),
            (
                ObjMetadata::new("apps", "web", "apps", "Deployment"),
                Action::Unchanged,
            ),
            (
                ObjMetadata::new("apps", "legacy", "", "ConfigMap"),
                Action::Skipped,
            ),
        ] {
            change_set.entries.push(ChangeSetEntry {
                object: meta,
                version: "v1".into(),
                action,
            });
        }
        assert_eq!(
            inventory_from_change_set(&change_set),
            [
                entry("_apps__Namespace", "v1"),
                entry("apps_web_apps_Deployment", "v1"),
                entry("apps_legacy__ConfigMap", "v1"),
            ]
        );
    }

    #[test]
    fn unconfirmed_prunes_go_back_into_the_inventory() {
        let stale = stale_objects(
            &[
                entry("apps_a__ConfigMap", "v1"),
                entry("apps_b__ConfigMap", "v1"),
                entry("apps_c__ConfigMap", "v1"),
            ],
            &[],
        )
        .unwrap();
        let mut results = ChangeSet::default();
        results
            .entries
            .push(prune_entry(&stale[0], PruneDecision::Delete));
        results
            .entries
            .push(prune_entry(&stale[1], PruneDecision::Skip));
        results.entries.push(ChangeSetEntry {
            object: stale[2].meta.clone(),
            version: "v1".into(),
            action: Action::Unknown,
        });
        let survivors = prune_survivors(&stale, &results);
        assert_eq!(ids(&survivors), ["apps_a__ConfigMap"]);

        let mut inventory = vec![
            entry("apps_keep__ConfigMap", "v1"),
            entry("apps_a__ConfigMap", "v1"),
        ];
        merge_into_inventory(&mut inventory, &stale);
        assert_eq!(
            inventory,
            [
                entry("apps_keep__ConfigMap", "v1"),
                entry("apps_a__ConfigMap", "v1"),
                entry("apps_c__ConfigMap", "v1"),
                entry("apps_b__ConfigMap", "v1"),
            ]
        );
    }

    fn with_metadata(labels: Value, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "apps", "labels": labels, "annotations": annotations}})
    }

    #[test]
    fn opt_out_annotations_and_labels_are_recognised_case_insensitively() {
        let annotated = with_metadata(json!({}), json!({RECONCILE_KEY: "Disabled"}));
        assert!(is_reconcile_disabled(&annotated));
        let labelled = with_metadata(json!({PRUNE_KEY: "disabled"}), json!({}));
        assert!(is_prune_disabled(&labelled));
        assert!(!is_reconcile_disabled(&labelled));
        let forced = with_metadata(json!({}), json!({FORCE_KEY: "enabled"}));
        assert!(is_force_enabled(&forced));
        let empty = with_metadata(json!({}), json!({PRUNE_KEY: ""}));
        assert!(!is_prune_disabled(&empty));
        assert!(!is_prune_disabled(
            &json!({"metadata": {"annotations": {PRUNE_KEY: 1}}})
        ));
    }

    #[test]
    fn ssa_policy_annotation_values() {
        assert_eq!(
            ssa_policy(&with_metadata(json!({}), json!({}))),
            SsaPolicy::Override
        );
        assert_eq!(
            ssa_policy(&with_metadata(json!({}), json!({SSA_KEY: "Merge"}))),
            SsaPolicy::Merge
        );
        assert_eq!(
            ssa_policy(&with_metadata(json!({}), json!({SSA_KEY: "ifnotpresent"}))),
            SsaPolicy::IfNotPresent
        );
        assert_eq!(
            ssa_policy(&with_metadata(json!({SSA_KEY: "Ignore"}), json!({}))),
            SsaPolicy::Ignore
        );
        assert_eq!(
            ssa_policy(&with_metadata(json!({}), json!({SSA_KEY: "Override"}))),
            SsaPolicy::Override
        );
        assert_eq!(
            ssa_policy(&with_metadata(json!({}), json!({SSA_KEY: "bogus"}))),
            SsaPolicy::Override
        );
    }

    #[test]
    fn apply_skips_follow_flux_selectors() {
        let plain = with_metadata(json!({}), json!({}));
        assert_eq!(apply_skip_reason(&plain, None), None);
        assert_eq!(apply_skip_reason(&plain, Some(&plain)), None);

        let disabled = with_metadata(json!({}), json!({RECONCILE_KEY: "disabled"}));
        assert_eq!(
            apply_skip_reason(&disabled, None),
            Some(SkipReason::ReconcileDisabled)
        );
        // Disabling on the live object (kubectl annotate) is enough.
        assert_eq!(
            apply_skip_reason(&plain, Some(&disabled)),
            Some(SkipReason::ReconcileDisabled)
        );

        let ignore = with_metadata(json!({}), json!({SSA_KEY: "Ignore"}));
        assert_eq!(
            apply_skip_reason(&ignore, None),
            Some(SkipReason::SsaIgnore)
        );
        assert_eq!(
            apply_skip_reason(&plain, Some(&ignore)),
            Some(SkipReason::SsaIgnore)
        );

        let if_not_present = with_metadata(json!({}), json!({SSA_KEY: "IfNotPresent"}));
        assert_eq!(
            apply_skip_reason(&if_not_present, None),
            None,
            "created when missing"
        );
        assert_eq!(
            apply_skip_reason(&if_not_present, Some(&plain)),
            Some(SkipReason::AlreadyPresent)
        );
        // Only the manifest's IfNotPresent counts.
        assert_eq!(apply_skip_reason(&plain, Some(&if_not_present)), None);
    }

    #[test]
    fn force_and_merge_policies() {
        let plain = with_metadata(json!({}), json!({}));
        let forced = with_metadata(json!({}), json!({FORCE_KEY: "Enabled"}));
        assert!(!should_recreate_on_immutable_change(
            false,
            &plain,
            Some(&plain)
        ));
        assert!(should_recreate_on_immutable_change(true, &plain, None));
        assert!(should_recreate_on_immutable_change(false, &forced, None));
        assert!(should_recreate_on_immutable_change(
            false,
            &plain,
            Some(&forced)
        ));

        let merge = with_metadata(json!({}), json!({SSA_KEY: "merge"}));
        assert!(!skips_field_takeover(&plain, Some(&plain)));
        assert!(skips_field_takeover(&merge, None));
        assert!(skips_field_takeover(&plain, Some(&merge)));
    }

    fn owned(extra_annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps",
            "labels": {OWNER_NAME_LABEL: "apps", OWNER_NAMESPACE_LABEL: "flux-system"},
            "annotations": extra_annotations}})
    }

    fn apps() -> Owner {
        Owner::new(OwnerKind::Kustomization, "apps", "flux-system")
    }

    #[test]
    fn prune_only_deletes_owned_objects_that_did_not_opt_out() {
        assert_eq!(prune_decision(None, &apps()), PruneDecision::AlreadyDeleted);
        assert_eq!(
            prune_decision(Some(&owned(json!({}))), &apps()),
            PruneDecision::Delete
        );
        // Taken over by another Kustomization: labels point elsewhere.
        assert_eq!(
            prune_decision(
                Some(&owned(json!({}))),
                &Owner::new(OwnerKind::Kustomization, "infra", "flux-system")
            ),
            PruneDecision::Skip
        );
        let unlabelled = with_metadata(json!({}), json!({}));
        assert_eq!(
            prune_decision(Some(&unlabelled), &apps()),
            PruneDecision::Skip
        );
        for (key, value) in [
            (PRUNE_KEY, "disabled"),
            (RECONCILE_KEY, "disabled"),
            (SSA_KEY, "Ignore"),
        ] {
            let opted_out = owned(json!({key: value}));
            assert_eq!(
                prune_decision(Some(&opted_out), &apps()),
                PruneDecision::Skip,
                "{key}"
            );
        }
        // Merge and IfNotPresent objects are still pruned.
        let merge = owned(json!({SSA_KEY: "Merge"}));
        assert_eq!(prune_decision(Some(&merge), &apps()), PruneDecision::Delete);
    }

    #[test]
    fn deletion_policy_decides_finalizer_behaviour() {
        assert_eq!(
            DeletionPolicy::from_spec(None),
            Some(DeletionPolicy::MirrorPrune)
        );
        assert_eq!(
            DeletionPolicy::from_spec(Some("")),
            Some(DeletionPolicy::MirrorPrune)
        );
        assert_eq!(
            DeletionPolicy::from_spec(Some("Orphan")),
            Some(DeletionPolicy::Orphan)
        );
        assert_eq!(DeletionPolicy::from_spec(Some("orphan")), None);

        assert!(finalizer_deletes_objects(
            DeletionPolicy::MirrorPrune,
            true,
            false,
            3
        ));
        assert!(!finalizer_deletes_objects(
            DeletionPolicy::MirrorPrune,
            false,
            false,
            3
        ));
        assert!(finalizer_deletes_objects(
            DeletionPolicy::Delete,
            false,
            false,
            3
        ));
        assert!(finalizer_deletes_objects(
            DeletionPolicy::WaitForTermination,
            false,
            false,
            3
        ));
        assert!(!finalizer_deletes_objects(
            DeletionPolicy::Orphan,
            true,
            false,
            3
        ));
        assert!(
            !finalizer_deletes_objects(DeletionPolicy::Delete, true, true, 3),
            "suspended"
        );
        assert!(
            !finalizer_deletes_objects(DeletionPolicy::Delete, true, false, 0),
            "empty inventory"
        );
    }

    #[test]
    fn owner_labels_name_the_kustomization_or_helmrelease() {
        let labels = apps().labels();
        assert_eq!(labels[0], (OWNER_NAME_LABEL, "apps".to_owned()));
        assert_eq!(labels[1], (OWNER_NAMESPACE_LABEL, "flux-system".to_owned()));
        let release = Owner::new(OwnerKind::HelmRelease, "podinfo", "apps");
        let mut objects = vec![json!({"kind": "ConfigMap", "metadata": {"name": "c"}})];
        release.label(&mut objects);
        assert_eq!(
            objects[0]["metadata"]["labels"],
            json!({HELM_OWNER_NAME_LABEL: "podinfo", HELM_OWNER_NAMESPACE_LABEL: "apps"})
        );
        assert!(release.owns(&objects[0]));
        assert!(
            !apps().owns(&objects[0]),
            "a Kustomization does not own a release's objects"
        );
        assert_eq!(OwnerKind::HelmRelease.field_manager(), "helm-controller");
    }
}
