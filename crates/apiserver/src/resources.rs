//! The resource registry: every kind the server serves, built-in or from a CRD, with
//! what discovery, routing and the storage layer need to know about it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::table::PrinterColumn;

/// Where the scale subresource reads and writes replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSpec {
    /// JSON pointer of the desired replicas, e.g. `/spec/replicas`.
    pub spec_replicas: String,
    /// JSON pointer of the observed replicas, e.g. `/status/replicas`.
    pub status_replicas: String,
    /// JSON pointer of the label selector string, if any.
    pub label_selector: Option<String>,
}

/// One served version of a custom resource.
#[derive(Debug, Clone)]
pub struct CrdVersion {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub schema: Option<Value>,
    pub printer_columns: Vec<PrinterColumn>,
    pub status_subresource: bool,
    pub scale: Option<ScaleSpec>,
}

/// A kind the server serves.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub scale: Option<ScaleSpec>,
    /// Whether `metadata.generation` counts spec changes for this kind.
    pub tracks_generation: bool,
    /// Set for custom resources: the versions as the CRD declares them.
    pub crd_versions: Option<Vec<CrdVersion>>,
    /// Create-only kinds (reviews) that are answered rather than stored.
    pub virtual_create: bool,
}

impl ResourceInfo {
    /// The storage key: one store per group and resource, shared by all versions.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn crd_version(&self, version: &str) -> Option<&CrdVersion> {
        self.crd_versions
            .as_ref()
            .and_then(|vs| vs.iter().find(|v| v.name == version))
    }

    pub fn is_custom(&self) -> bool {
        self.crd_versions.is_some()
    }

    pub fn has_status(&self, version: &str) -> bool {
        match self.crd_version(version) {
            Some(v) => v.status_subresource,
            None => self.status_subresource,
        }
    }

    pub fn scale_spec(&self, version: &str) -> Option<&ScaleSpec> {
        match self.crd_version(version) {
            Some(v) => v.scale.as_ref(),
            None => self.scale.as_ref(),
        }
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        if self.virtual_create {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
}

const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short_names: &[],
        categories: &[],
        status: false,
        scale: false,
        generation: false,
    }
}

impl Builtin {
    const fn short(mut self, names: &'static [&'static str]) -> Self {
        self.short_names = names;
        self
    }
    const fn cat(mut self, cats: &'static [&'static str]) -> Self {
        self.categories = cats;
        self
    }
    const fn status(mut self) -> Self {
        self.status = true;
        self.generation = true;
        self
    }
    const fn scale(mut self) -> Self {
        self.scale = true;
        self
    }
}

const ALL: &[&str] = &["all"];

fn builtins() -> Vec<Builtin> {
    vec![
        b("", "v1", "Namespace", "namespaces", false)
            .short(&["ns"])
            .status(),
        b("", "v1", "ConfigMap", "configmaps", true).short(&["cm"]),
        b("", "v1", "Secret", "secrets", true),
        b("", "v1", "Service", "services", true)
            .short(&["svc"])
            .cat(ALL)
            .status(),
        b("", "v1", "ServiceAccount", "serviceaccounts", true).short(&["sa"]),
        b("", "v1", "Pod", "pods", true)
            .short(&["po"])
            .cat(ALL)
            .status(),
        b("", "v1", "Event", "events", true).short(&["ev"]),
        b(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        )
        .short(&["pvc"])
        .status(),
        b("apps", "v1", "Deployment", "deployments", true)
            .short(&["deploy"])
            .cat(ALL)
            .status()
            .scale(),
        b("apps", "v1", "StatefulSet", "statefulsets", true)
            .short(&["sts"])
            .cat(ALL)
            .status()
            .scale(),
        b("apps", "v1", "DaemonSet", "daemonsets", true)
            .short(&["ds"])
            .cat(ALL)
            .status(),
        b("apps", "v1", "ReplicaSet", "replicasets", true)
            .short(&["rs"])
            .cat(ALL)
            .status()
            .scale(),
        b("batch", "v1", "Job", "jobs", true).cat(ALL).status(),
        b("batch", "v1", "CronJob", "cronjobs", true)
            .short(&["cj"])
            .cat(ALL)
            .status(),
        b("networking.k8s.io", "v1", "Ingress", "ingresses", true)
            .short(&["ing"])
            .status(),
        b(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        )
        .short(&["netpol"])
        .status(),
        b(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .short(&["pdb"])
        .status(),
        b(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        )
        .short(&["hpa"])
        .cat(ALL)
        .status(),
        b("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        b("coordination.k8s.io", "v1", "Lease", "leases", true),
        b("events.k8s.io", "v1", "Event", "events", true).short(&["ev"]),
        b(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .short(&["crd", "crds"])
        .status(),
    ]
}

fn from_builtin(def: &Builtin) -> ResourceInfo {
    ResourceInfo {
        group: def.group.to_owned(),
        versions: vec![def.version.to_owned()],
        kind: def.kind.to_owned(),
        list_kind: format!("{}List", def.kind),
        plural: def.plural.to_owned(),
        singular: def.kind.to_lowercase(),
        namespaced: def.namespaced,
        short_names: def.short_names.iter().map(|s| (*s).to_owned()).collect(),
        categories: def.categories.iter().map(|s| (*s).to_owned()).collect(),
        status_subresource: def.status,
        scale: def.scale.then(|| ScaleSpec {
            spec_replicas: "/spec/replicas".to_owned(),
            status_replicas: "/status/replicas".to_owned(),
            label_selector: Some("/status/selector".to_owned()),
        }),
        tracks_generation: def.generation,
        crd_versions: None,
        virtual_create: false,
    }
}

fn review(group: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceInfo {
    ResourceInfo {
        group: group.to_owned(),
        versions: vec!["v1".to_owned()],
        kind: kind.to_owned(),
        list_kind: format!("{kind}List"),
        plural: plural.to_owned(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: vec![],
        categories: vec![],
        status_subresource: false,
        scale: None,
        tracks_generation: false,
        crd_versions: None,
        virtual_create: true,
    }
}

/// Why a CRD cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("{field}: Required value")]
    Required { field: &'static str },
    #[error("spec.versions: Invalid value: exactly one version must be the storage version")]
    StorageVersion,
}

/// Reads a CustomResourceDefinition (apiextensions.k8s.io/v1) into a served resource.
pub fn from_crd(crd: &Value) -> Result<ResourceInfo, CrdError> {
    let spec = crd
        .get("spec")
        .ok_or(CrdError::Required { field: "spec" })?;
    let text = |ptr: &str| spec.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
    let strings = |ptr: &str| -> Vec<String> {
        spec.pointer(ptr)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let group = text("/group").ok_or(CrdError::Required {
        field: "spec.group",
    })?;
    let kind = text("/names/kind").ok_or(CrdError::Required {
        field: "spec.names.kind",
    })?;
    let plural = text("/names/plural").ok_or(CrdError::Required {
        field: "spec.names.plural",
    })?;
    let mut versions = Vec::new();
    for v in spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or(CrdError::Required {
            field: "spec.versions",
        })?
    {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            return Err(CrdError::Required {
                field: "spec.versions[].name",
            });
        };
        let scale = v.pointer("/subresources/scale").map(|s| ScaleSpec {
            spec_replicas: json_path_to_pointer(
                s.get("specReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".spec.replicas"),
            ),
            status_replicas: json_path_to_pointer(
                s.get("statusReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".status.replicas"),
            ),
            label_selector: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(json_path_to_pointer),
        });
        versions.push(CrdVersion {
            name: name.to_owned(),
            served: v.get("served").and_then(Value::as_bool).unwrap_or(true),
            storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            printer_columns: v
                .get("additionalPrinterColumns")
                .and_then(|c| serde_json::from_value(c.clone()).ok())
                .unwrap_or_default(),
            status_subresource: v.pointer("/subresources/status").is_some(),
            scale,
        });
    }
    if versions.iter().filter(|v| v.storage).count() != 1 {
        return Err(CrdError::StorageVersion);
    }
    // Discovery lists versions by Kubernetes' version priority (GA > beta > alpha, then
    // by number), which is also the preferred version clients pick.
    let mut served: Vec<String> = versions
        .iter()
        .filter(|v| v.served)
        .map(|v| v.name.clone())
        .collect();
    served.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    Ok(ResourceInfo {
        group,
        versions: served,
        list_kind: text("/names/listKind").unwrap_or_else(|| format!("{kind}List")),
        singular: text("/names/singular").unwrap_or_else(|| kind.to_lowercase()),
        kind,
        plural,
        namespaced: text("/scope").as_deref() != Some("Cluster"),
        short_names: strings("/names/shortNames"),
        categories: strings("/names/categories"),
        status_subresource: false,
        scale: None,
        tracks_generation: true,
        crd_versions: Some(versions),
        virtual_create: false,
    })
}

/// Kubernetes' version ordering key: `v1` > `v1beta2` > `v1beta1` > `v1alpha1`, anything
/// not shaped like a Kubernetes version last.
pub fn version_priority(version: &str) -> (u8, u32, u32) {
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    for (stage, prefix) in [(2u8, "beta"), (1u8, "alpha")] {
        if let Some(n) = tail.strip_prefix(prefix) {
            if let Ok(minor) = n.parse::<u32>() {
                return (stage, major, minor);
            }
        }
    }
    (0, 0, 0)
}

/// `.spec.replicas` → `/spec/replicas`.
fn json_path_to_pointer(path: &str) -> String {
    path.split('.')
        .filter(|s| !s.is_empty())
        .fold(String::new(), |acc, seg| format!("{acc}/{seg}"))
}

/// Every served kind, looked up by group, version and plural (or kind).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// By storage key `group/plural`.
    by_key: BTreeMap<String, Arc<ResourceInfo>>,
    /// Counts changes to the served kinds, so derived documents (OpenAPI) know when
    /// to rebuild.
    pub generation: u64,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let mut registry = Registry::default();
        for def in builtins() {
            registry.insert(from_builtin(&def));
        }
        registry.insert(review(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        ));
        registry.insert(review(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "subjectaccessreviews",
            false,
        ));
        registry.insert(review(
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            false,
        ));
        registry.insert(review(
            "authentication.k8s.io",
            "SelfSubjectReview",
            "selfsubjectreviews",
            false,
        ));
        registry
    }

    pub fn insert(&mut self, info: ResourceInfo) {
        self.generation += 1;
        self.by_key.insert(info.key(), Arc::new(info));
    }

    pub fn remove(&mut self, key: &str) -> Option<Arc<ResourceInfo>> {
        self.generation += 1;
        self.by_key.remove(key)
    }

    pub fn get_key(&self, key: &str) -> Option<Arc<ResourceInfo>> {
        self.by_key.get(key).cloned()
    }

    /// The resource served at `group/version/plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.by_key
            .get(&format!("{group}/{plural}"))
            .filter(|r| r.versions.iter().any(|v| v == version))
            .cloned()
    }

    /// The resource of `kind` in `group` (any version).
    pub fn by_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.by_key
            .values()
            .find(|r| r.group == group && r.kind == kind)
            .cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceInfo>> {
        self.by_key.values()
    }

    /// Served groups with their versions, in discovery order: the legacy core group
    /// is not listed here, built-in groups first, then custom groups by name.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.by_key.values().filter(|r| !r.group.is_empty()) {
            let entry = match groups.iter_mut().find(|(g, _)| *g == r.group) {
                Some(entry) => entry,
                None => {
                    groups.push((r.group.clone(), Vec::new()));
                    let last = groups.len() - 1;
                    &mut groups[last]
                }
            };
            for v in &r.versions {
                if !entry.1.contains(v) {
                    entry.1.push(v.clone());
                }
            }
        }
        for (_, versions) in &mut groups {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        groups.sort_by_key(|(g, _)| (!g.contains(".k8s.io") && g.contains('.'), g.clone()));
        groups
    }

    /// The resources served in one group version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.by_key
            .values()
            .filter(|r| r.group == group && r.versions.iter().any(|v| v == version))
            .cloned()
            .collect()
    }
}

/// The APIResourceList of one group version, as discovery serves it.
pub fn api_resource_list(
    group_version: &str,
    resources: &[Arc<ResourceInfo>],
    version: &str,
) -> Value {
    let mut list = Vec::new();
    for r in resources {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        if r.versions.len() > 1 || r.is_custom() {
            entry["storageVersionHash"] = json!(storage_version_hash(r));
        }
        list.push(entry);
        if r.has_status(version) {
            list.push(json!({
                "name": format!("{}/status", r.plural), "singularName": "",
                "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"],
            }));
        }
        if r.scale_spec(version).is_some() {
            list.push(json!({
                "name": format!("{}/scale", r.plural), "singularName": "",
                "namespaced": r.namespaced, "group": "autoscaling", "version": "v1",
                "kind": "Scale", "verbs": ["get", "patch", "update"],
            }));
        }
        if r.group.is_empty() && r.plural == "serviceaccounts" {
            list.push(json!({
                "name": "serviceaccounts/token", "singularName": "",
                "namespaced": true, "group": "authentication.k8s.io", "version": "v1",
                "kind": "TokenRequest", "verbs": ["create"],
            }));
        }
    }
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    })
}

fn storage_version_hash(r: &ResourceInfo) -> String {
    use base64::Engine as _;
    let digest = crate::util::fnv64(format!("{}/{}", r.group, r.kind).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest.to_be_bytes()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority_orders_like_kubernetes() {
        let mut versions = vec!["v1beta1", "v1alpha1", "v2", "v1", "v1beta2", "foo"];
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(
            versions,
            vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn crd_with_two_versions_serves_both_and_prefers_ga() {
        let crd = json!({"spec": {
            "group": "source.toolkit.fluxcd.io",
            "names": {"kind": "GitRepository", "plural": "gitrepositories", "shortNames": ["gitrepo"]},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1beta2", "served": true, "storage": false},
                {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
            ]
        }});
        let info = from_crd(&crd).expect("valid crd");
        assert_eq!(info.versions, vec!["v1", "v1beta2"]);
        assert!(info.has_status("v1"));
        assert!(!info.has_status("v1beta2"));
        assert_eq!(info.singular, "gitrepository");
        assert_eq!(info.list_kind, "GitRepositoryList");
    }

    #[test]
    fn crd_without_single_storage_version_is_refused() {
        let crd = json!({"spec": {
            "group": "g.example.com", "names": {"kind": "K", "plural": "ks"},
            "versions": [{"name": "v1", "served": true, "storage": false}]
        }});
        assert!(matches!(from_crd(&crd), Err(CrdError::StorageVersion)));
    }
}
