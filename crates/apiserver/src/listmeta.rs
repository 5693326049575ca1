//! How lists and maps inside an object merge: the merge keys and list types of the
//! built-in kinds (what Kubernetes declares with `patchMergeKey`/`patchStrategy` and
//! `+listType`/`+listMapKey`), and of custom resources (read from their OpenAPI schema).
//!
//! Strategic merge patch and server-side apply both ask this module the same question:
//! "at this field path of this kind, how are list items identified?"

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

/// The merge metadata for one kind: a question answered per field path.
///
/// `path` lists the field names from the object root down to the list field, with list
/// indices left out: the containers of a Deployment are at
/// `["spec", "template", "spec", "containers"]`.
pub trait MergeMeta: Send + Sync {
    /// How the list at `path` merges.
    fn list_type(&self, path: &[&str]) -> ListType;
    /// Whether the map at `path` is replaced as a whole rather than merged key by key
    /// (`x-kubernetes-map-type: atomic`, `patchStrategy: replace`).
    fn map_is_atomic(&self, path: &[&str]) -> bool {
        let _ = path;
        false
    }
    /// Whether strategic merge patch may use `$retainKeys` at `path` (`patchStrategy: retainKeys`).
    fn retains_keys(&self, path: &[&str]) -> bool {
        let _ = path;
        false
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

/// Merge metadata of a built-in kind, from the table of Kubernetes' declarations.
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
        builtin_list_type(self.group, self.kind, path)
    }
    fn retains_keys(&self, path: &[&str]) -> bool {
        builtin_retains_keys(self.group, self.kind, path)
    }
}

/// Paths below a pod template, shared by every workload kind.
fn pod_spec_list_type(path: &[&str]) -> ListType {
    let map = |keys: &[&str]| ListType::Map {
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
    };
    match path {
        ["containers"] | ["initContainers"] | ["ephemeralContainers"] => map(&["name"]),
        ["containers" | "initContainers" | "ephemeralContainers", "ports"] => {
            map(&["containerPort", "protocol"])
        }
        ["containers" | "initContainers" | "ephemeralContainers", "env"] => map(&["name"]),
        ["containers" | "initContainers" | "ephemeralContainers", "volumeMounts"] => {
            map(&["mountPath"])
        }
        ["containers" | "initContainers" | "ephemeralContainers", "volumeDevices"] => {
            map(&["devicePath"])
        }
        ["volumes"] => map(&["name"]),
        ["imagePullSecrets"] => map(&["name"]),
        ["hostAliases"] => map(&["ip"]),
        ["tolerations"] => ListType::Atomic,
        _ => ListType::Atomic,
    }
}

fn builtin_list_type(group: &str, kind: &str, path: &[&str]) -> ListType {
    let pod_spec_at =
        |prefix: &[&str]| -> Option<ListType> { path.strip_prefix(prefix).map(pod_spec_list_type) };
    // Every object: ownerReferences by uid, finalizers as a set.
    match path {
        ["metadata", "ownerReferences"] => {
            return ListType::Map {
                keys: vec!["uid".to_owned()],
            }
        }
        ["metadata", "finalizers"] => return ListType::Set,
        _ => {}
    }
    match (group, kind) {
        ("", "Pod") => pod_spec_at(&["spec"]).unwrap_or(ListType::Atomic),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job")
        | ("", "ReplicationController") => {
            pod_spec_at(&["spec", "template", "spec"]).unwrap_or(ListType::Atomic)
        }
        ("batch", "CronJob") => pod_spec_at(&["spec", "jobTemplate", "spec", "template", "spec"])
            .unwrap_or(ListType::Atomic),
        ("", "Service") => match path {
            ["spec", "ports"] => ListType::Map {
                keys: vec!["port".to_owned(), "protocol".to_owned()],
            },
            _ => ListType::Atomic,
        },
        _ => ListType::Atomic,
    }
}

fn builtin_retains_keys(_group: &str, _kind: &str, _path: &[&str]) -> bool {
    false
}
