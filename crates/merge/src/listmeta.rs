//! How lists and maps inside an object merge: the merge keys and list types of the
//! built-in kinds (what Kubernetes declares with `patchMergeKey`/`patchStrategy` and
//! `+listType`/`+listMapKey`), and of custom resources (read from their OpenAPI schema).
//!
//! Strategic merge patch and server-side apply both ask this module the same question:
//! "at this field path of this kind, how are list items identified?" They do not always
//! get the same answer: strategic merge patch follows the Go struct tags
//! (`patchStrategy`, a single `patchMergeKey`), server-side apply the `+listType` /
//! `+listMapKey` markers. Container ports, for instance, merge by `containerPort` in a
//! strategic merge patch but are keyed by `[containerPort, protocol]` for apply.
//! [`MergeMeta::list_type`] gives the apply view, [`MergeMeta::patch_list_type`] the
//! strategic-merge-patch view.

use serde_json::Value;

/// How the items of one list field are identified when two versions are merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// The list is replaced as a whole (the default for lists with no declaration).
    Atomic,
    /// Scalars, merged as a set (`patchStrategy: merge` on a list of scalars, `listType: set`).
    Set,
    /// Objects identified by the values of these keys (`patchMergeKey`, `listMapKeys`).
    Map { keys: Vec<String> },
}

/// Which of Kubernetes' two sets of merge declarations to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeFlavor {
    /// `patchStrategy`/`patchMergeKey` struct tags, used by strategic merge patch.
    StrategicPatch,
    /// `+listType`/`+listMapKey`/`+mapType`/`+structType` markers, used by server-side apply.
    ServerSideApply,
}

/// The merge metadata for one kind: a question answered per field path.
///
/// `path` lists the field names from the object root down to the list field, with list
/// indices left out: the containers of a Deployment are at
/// `["spec", "template", "spec", "containers"]`. The items of a list share the list's
/// path, so asking whether the map at a list's path is atomic asks about its items.
pub trait MergeMeta: Send + Sync {
    /// How the list at `path` merges under server-side apply (`listType`, `listMapKeys`).
    fn list_type(&self, path: &[&str]) -> ListType;
    /// Whether the map at `path` is replaced as a whole rather than merged key by key
    /// by server-side apply (`x-kubernetes-map-type: atomic`, `+structType=atomic`).
    fn map_is_atomic(&self, path: &[&str]) -> bool {
        let _ = path;
        false
    }
    /// Whether strategic merge patch may use `$retainKeys` at `path` (`patchStrategy: retainKeys`).
    fn retains_keys(&self, path: &[&str]) -> bool {
        let _ = path;
        false
    }
    /// How the list at `path` merges in a strategic merge patch (`patchStrategy: merge`
    /// and `patchMergeKey`). Only the first key of a `Map` is used there. Defaults to
    /// [`MergeMeta::list_type`] for sources that declare only one view.
    fn patch_list_type(&self, path: &[&str]) -> ListType {
        self.list_type(path)
    }
    /// Whether a strategic merge patch replaces the map at `path` instead of merging it
    /// (`patchStrategy: replace` on a struct or map field).
    fn patch_replaces_map(&self, path: &[&str]) -> bool {
        let _ = path;
        false
    }
    /// The list type at `path` in the requested flavour.
    fn list_type_for(&self, flavor: MergeFlavor, path: &[&str]) -> ListType {
        match flavor {
            MergeFlavor::StrategicPatch => self.patch_list_type(path),
            MergeFlavor::ServerSideApply => self.list_type(path),
        }
    }
}

/// Merge metadata for a kind with no declarations: every list is atomic.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMergeMeta;

impl MergeMeta for NoMergeMeta {
    fn list_type(&self, _path: &[&str]) -> ListType {
        ListType::Atomic
    }
}

/// Merge metadata read from a custom resource's structural OpenAPI v3 schema
/// (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`).
#[derive(Debug, Clone)]
pub struct SchemaMergeMeta {
    pub schema: Value,
}

impl SchemaMergeMeta {
    fn node<'a>(&'a self, path: &[&str]) -> Option<&'a Value> {
        let mut node = &self.schema;
        for field in path {
            // Walk through list items transparently: paths leave indices out.
            while node.get("type").and_then(Value::as_str) == Some("array") {
                node = node.get("items")?;
            }
            node = node
                .get("properties")?
                .get(*field)
                .or_else(|| node.get("additionalProperties").filter(|v| v.is_object()))?;
        }
        Some(node)
    }
}

impl MergeMeta for SchemaMergeMeta {
    fn list_type(&self, path: &[&str]) -> ListType {
        let Some(node) = self.node(path) else {
            return ListType::Atomic;
        };
        match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map {
                keys: node
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(|k| k.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            _ => ListType::Atomic,
        }
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        self.node(path)
            .and_then(|n| n.get("x-kubernetes-map-type"))
            .and_then(Value::as_str)
            == Some("atomic")
    }
}

/// Merge metadata of a built-in kind, from the table of Kubernetes' declarations
/// (k8s.io/api types: struct tags for strategic merge patch, markers for apply).
#[derive(Debug, Clone, Copy)]
pub struct BuiltinMergeMeta {
    pub group: &'static str,
    pub kind: &'static str,
}

/// The merge metadata for a kind: built-in table, or the CRD schema, or nothing.
pub fn builtin(group: &'static str, kind: &'static str) -> BuiltinMergeMeta {
    BuiltinMergeMeta { group, kind }
}

impl MergeMeta for BuiltinMergeMeta {
    fn list_type(&self, path: &[&str]) -> ListType {
        builtin_list_decl(self.group, self.kind, path).apply
    }
    fn patch_list_type(&self, path: &[&str]) -> ListType {
        builtin_list_decl(self.group, self.kind, path).patch
    }
    fn retains_keys(&self, path: &[&str]) -> bool {
        builtin_retains_keys(self.group, self.kind, path)
    }
    fn patch_replaces_map(&self, path: &[&str]) -> bool {
        // The only `patchStrategy: replace` on a struct among the served kinds.
        matches!(
            (self.group, self.kind, path),
            ("policy", "PodDisruptionBudget", ["spec", "selector"])
        )
    }
    fn map_is_atomic(&self, path: &[&str]) -> bool {
        builtin_map_is_atomic(self.group, self.kind, path)
    }
}

/// How the list at `path` of a built-in kind merges in a strategic merge patch, for
/// callers that know the kind only at run time (kustomize patches). Unknown kinds and
/// undeclared lists are atomic.
pub fn builtin_patch_list_type(group: &str, kind: &str, path: &[&str]) -> ListType {
    builtin_list_decl(group, kind, path).patch
}

/// One list field's declarations in both flavours.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListDecl {
    /// From `patchStrategy`/`patchMergeKey`.
    patch: ListType,
    /// From `+listType`/`+listMapKey`.
    apply: ListType,
}

fn keys(names: &[&str]) -> ListType {
    ListType::Map {
        keys: names.iter().map(|k| (*k).to_owned()).collect(),
    }
}

/// Merged by the same single key in both flavours.
fn by(key: &str) -> ListDecl {
    ListDecl {
        patch: keys(&[key]),
        apply: keys(&[key]),
    }
}

/// Merged by `patch_key` in a strategic merge patch, by `apply_keys` in apply.
fn by_keys(patch_key: &str, apply_keys: &[&str]) -> ListDecl {
    ListDecl {
        patch: keys(&[patch_key]),
        apply: keys(apply_keys),
    }
}

fn atomic() -> ListDecl {
    ListDecl {
        patch: ListType::Atomic,
        apply: ListType::Atomic,
    }
}

/// Declared only with `+listType` markers: replaced by a strategic merge patch.
fn apply_only(apply: ListType) -> ListDecl {
    ListDecl {
        patch: ListType::Atomic,
        apply,
    }
}

/// Declared with struct tags but `+listType=atomic` for apply.
fn patch_only(patch: ListType) -> ListDecl {
    ListDecl {
        patch,
        apply: ListType::Atomic,
    }
}

fn is_container_list(field: &str) -> bool {
    matches!(
        field,
        "containers" | "initContainers" | "ephemeralContainers"
    )
}

/// Lists below a PodSpec (core/v1 PodSpec, Container, EphemeralContainerCommon).
fn pod_spec_list_decl(path: &[&str]) -> ListDecl {
    match path {
        [c] if is_container_list(c) => by("name"),
        [c, "ports"] if is_container_list(c) => {
            by_keys("containerPort", &["containerPort", "protocol"])
        }
        [c, "env"] if is_container_list(c) => by("name"),
        [c, "volumeMounts"] if is_container_list(c) => by("mountPath"),
        [c, "volumeDevices"] if is_container_list(c) => by("devicePath"),
        [c, "resources", "claims"] if is_container_list(c) => apply_only(keys(&["name"])),
        [c, "volumeMounts", "bindMountOptions"] if is_container_list(c) => {
            apply_only(ListType::Set)
        }
        ["volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims"] => by("name"),
        ["evictionResponders"] => by("name"),
        ["hostAliases"] => by("ip"),
        ["topologySpreadConstraints"] => {
            by_keys("topologyKey", &["topologyKey", "whenUnsatisfiable"])
        }
        // tolerations, readinessGates, envFrom, command, args, sysctls, supplementalGroups,
        // dnsConfig lists, affinity terms, ...: declared atomic.
        _ => atomic(),
    }
}

/// Lists below a PodStatus.
fn pod_status_list_decl(path: &[&str]) -> ListDecl {
    match path {
        ["conditions"] => by("type"),
        ["podIPs"] => by("ip"),
        ["hostIPs"] => patch_only(keys(&["ip"])),
        ["resourceClaimStatuses"] => by("name"),
        ["nodeAllocatableResourceClaimStatuses"] => by("resourceClaimName"),
        ["nodeAllocatableResourceClaimStatuses", "mapping" | "overhead"] => by("name"),
        ["nodeAllocatableResourceClaimStatuses", "containers"] => apply_only(ListType::Set),
        ["volumeHealth"] => apply_only(keys(&["name"])),
        ["volumeHealth", "healthConditions"] => by_keys("status", &["status", "reason"]),
        // Container statuses are declared atomic.
        _ => atomic(),
    }
}

/// Where the PodSpec sits in objects of this kind, if they have one.
fn pod_spec_prefix(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Pod") => Some(&["spec"]),
        ("", "PodTemplate") => Some(&["template", "spec"]),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job")
        | ("", "ReplicationController") => Some(&["spec", "template", "spec"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// Kinds whose `status.conditions` is declared `patchMergeKey: type` and `listMapKey: type`.
fn has_keyed_conditions(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "",
            "Service" | "Namespace" | "PersistentVolumeClaim" | "ReplicationController" | "Node"
        ) | (
            "apps",
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        ) | ("policy", "PodDisruptionBudget")
            | ("autoscaling", "HorizontalPodAutoscaler")
    )
}

fn builtin_list_decl(group: &str, kind: &str, path: &[&str]) -> ListDecl {
    // ObjectMeta, wherever it appears (object, pod templates, job templates).
    match path {
        [.., "metadata", "ownerReferences"] => return by("uid"),
        [.., "metadata", "finalizers"] => {
            return ListDecl {
                patch: ListType::Set,
                apply: ListType::Set,
            }
        }
        _ => {}
    }
    if let Some(rest) = pod_spec_prefix(group, kind).and_then(|prefix| path.strip_prefix(prefix)) {
        return pod_spec_list_decl(rest);
    }
    match (group, kind, path) {
        ("", "Pod", ["status", rest @ ..]) => pod_status_list_decl(rest),
        (_, _, ["status", "conditions"]) if has_keyed_conditions(group, kind) => by("type"),
        // Job conditions merge by type in a patch but are atomic for apply.
        ("batch", "Job", ["status", "conditions"]) => patch_only(keys(&["type"])),
        ("batch", "Job", ["status", "uncountedTerminatedPods", "succeeded" | "failed"]) => {
            apply_only(ListType::Set)
        }
        ("", "Service", ["spec", "ports"]) => by_keys("port", &["port", "protocol"]),
        ("", "ServiceAccount", ["secrets"]) => by("name"),
        ("", "Node", ["status", "addresses"]) => by("type"),
        ("", "Node", ["spec", "podCIDRs"]) => ListDecl {
            patch: ListType::Set,
            apply: ListType::Set,
        },
        // Everything else the served kinds declare is atomic: ServiceAccount
        // imagePullSecrets, Namespace spec.finalizers, StatefulSet volumeClaimTemplates,
        // Ingress rules/tls, NetworkPolicy rules, HPA metrics, RBAC rules and subjects, ...
        _ => atomic(),
    }
}

fn builtin_retains_keys(group: &str, kind: &str, path: &[&str]) -> bool {
    if let Some(rest) = pod_spec_prefix(group, kind).and_then(|prefix| path.strip_prefix(prefix)) {
        // patchStrategy "merge,retainKeys": each volume holds exactly one source.
        return matches!(rest, ["volumes"] | ["resourceClaims"]);
    }
    matches!(
        (group, kind, path),
        ("", "Pod", ["status", "resourceClaimStatuses"])
            | ("apps", "Deployment", ["spec", "strategy"])
    )
}

/// `+mapType=atomic` and `+structType=atomic` (LabelSelector, object references, key
/// selectors, NodeSelector) at the places the served kinds use them.
fn builtin_map_is_atomic(group: &str, kind: &str, path: &[&str]) -> bool {
    // OwnerReference is an atomic struct: each item of ownerReferences.
    if let [.., "metadata", "ownerReferences"] = path {
        return true;
    }
    if let Some(rest) = pod_spec_prefix(group, kind).and_then(|prefix| path.strip_prefix(prefix)) {
        return match rest {
            ["nodeSelector"] | ["imagePullSecrets"] => true,
            ["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"] => true,
            ["topologySpreadConstraints", "labelSelector"] => true,
            [c, "env", "valueFrom", reference] if is_container_list(c) => matches!(
                *reference,
                "configMapKeyRef" | "secretKeyRef" | "fieldRef" | "resourceFieldRef" | "fileKeyRef"
            ),
            ["volumes", .., "secretRef" | "nodePublishSecretRef" | "dataSource"] => true,
            _ => false,
        };
    }
    matches!(
        (group, kind, path),
        (
            "apps",
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet",
            ["spec", "selector"],
        ) | ("batch", "Job", ["spec", "selector"])
            | (
                "batch",
                "CronJob",
                ["spec", "jobTemplate", "spec", "selector"]
            )
            | ("policy", "PodDisruptionBudget", ["spec", "selector"])
            | (
                "networking.k8s.io",
                "NetworkPolicy",
                ["spec", "podSelector"]
            )
            | (
                "",
                "Service" | "ReplicationController",
                ["spec", "selector"]
            )
            | ("", "ServiceAccount", ["secrets" | "imagePullSecrets"])
            | ("", "PersistentVolumeClaim", ["spec", "dataSource"])
            | ("", "Event", ["involvedObject" | "related"])
            | ("events.k8s.io", "Event", ["regarding" | "related"])
            | ("batch", "CronJob", ["status", "active"])
            | (
                "networking.k8s.io",
                "Ingress",
                ["spec", "defaultBackend", "service", "port"]
            )
            | (
                "rbac.authorization.k8s.io",
                "RoleBinding" | "ClusterRoleBinding",
                ["roleRef"]
            )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT_CONTAINERS: [&str; 4] = ["spec", "template", "spec", "containers"];

    #[test]
    fn container_ports_key_differs_between_patch_and_apply() {
        let meta = builtin("apps", "Deployment");
        let ports = ["spec", "template", "spec", "containers", "ports"];
        assert_eq!(meta.patch_list_type(&ports), keys(&["containerPort"]));
        assert_eq!(meta.list_type(&ports), keys(&["containerPort", "protocol"]));
        assert_eq!(
            meta.list_type_for(MergeFlavor::StrategicPatch, &ports),
            keys(&["containerPort"])
        );
    }

    #[test]
    fn service_ports_merge_by_port_in_a_patch() {
        let meta = builtin("", "Service");
        assert_eq!(meta.patch_list_type(&["spec", "ports"]), keys(&["port"]));
        assert_eq!(
            meta.list_type(&["spec", "ports"]),
            keys(&["port", "protocol"])
        );
    }

    #[test]
    fn pod_template_lists_are_found_in_every_workload_kind() {
        for (group, kind, prefix) in [
            ("", "Pod", &["spec"][..]),
            ("apps", "StatefulSet", &["spec", "template", "spec"][..]),
            (
                "batch",
                "CronJob",
                &["spec", "jobTemplate", "spec", "template", "spec"][..],
            ),
        ] {
            let meta = builtin(group, kind);
            let mut env = prefix.to_vec();
            env.extend(["initContainers", "env"]);
            assert_eq!(meta.patch_list_type(&env), keys(&["name"]), "{kind}");
            let mut tolerations = prefix.to_vec();
            tolerations.push("tolerations");
            assert_eq!(meta.patch_list_type(&tolerations), ListType::Atomic);
            let mut volumes = prefix.to_vec();
            volumes.push("volumes");
            assert!(meta.retains_keys(&volumes), "{kind}");
        }
        let meta = builtin("apps", "Deployment");
        assert_eq!(meta.list_type(&DEPLOYMENT_CONTAINERS), keys(&["name"]));
    }

    #[test]
    fn metadata_lists_apply_to_templates_too() {
        let meta = builtin("apps", "Deployment");
        assert_eq!(
            meta.patch_list_type(&["metadata", "finalizers"]),
            ListType::Set
        );
        assert_eq!(
            meta.list_type(&["spec", "template", "metadata", "ownerReferences"]),
            keys(&["uid"])
        );
        assert!(meta.map_is_atomic(&["metadata", "ownerReferences"]));
    }

    #[test]
    fn conditions_are_keyed_by_type_where_declared() {
        assert_eq!(
            builtin("apps", "Deployment").list_type(&["status", "conditions"]),
            keys(&["type"])
        );
        assert_eq!(
            builtin("", "Pod").patch_list_type(&["status", "conditions"]),
            keys(&["type"])
        );
        // Job declares listType=atomic alongside its merge key.
        let job = builtin("batch", "Job");
        assert_eq!(
            job.patch_list_type(&["status", "conditions"]),
            keys(&["type"])
        );
        assert_eq!(job.list_type(&["status", "conditions"]), ListType::Atomic);
        // Lease has no lists at all.
        assert_eq!(
            builtin("coordination.k8s.io", "Lease").list_type(&["spec", "holderIdentity"]),
            ListType::Atomic
        );
    }

    #[test]
    fn rbac_and_service_account_declarations() {
        assert_eq!(
            builtin("rbac.authorization.k8s.io", "ClusterRole").patch_list_type(&["rules"]),
            ListType::Atomic
        );
        assert_eq!(
            builtin("rbac.authorization.k8s.io", "RoleBinding").list_type(&["subjects"]),
            ListType::Atomic
        );
        let sa = builtin("", "ServiceAccount");
        assert_eq!(sa.patch_list_type(&["secrets"]), keys(&["name"]));
        assert_eq!(sa.patch_list_type(&["imagePullSecrets"]), ListType::Atomic);
    }

    #[test]
    fn selectors_are_atomic_for_apply_and_pdb_selector_is_replaced_by_patch() {
        let pdb = builtin("policy", "PodDisruptionBudget");
        assert!(pdb.patch_replaces_map(&["spec", "selector"]));
        assert!(pdb.map_is_atomic(&["spec", "selector"]));
        let deploy = builtin("apps", "Deployment");
        assert!(!deploy.patch_replaces_map(&["spec", "selector"]));
        assert!(deploy.map_is_atomic(&["spec", "selector"]));
        assert!(deploy.map_is_atomic(&["spec", "template", "spec", "nodeSelector"]));
        assert!(!deploy.map_is_atomic(&["spec", "template", "metadata", "labels"]));
        assert!(deploy.retains_keys(&["spec", "strategy"]));
    }
}
