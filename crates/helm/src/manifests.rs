//! What Helm does with rendered templates before it applies them
//! (release/v1/util/manifest_sorter.go, manifest.go, kind_sorter.go): each file
//! split into YAML documents, documents annotated `helm.sh/hook` set aside as
//! hooks, and both lists ordered by kind for installing.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ferroflux_gotemplate::Value;

use crate::yaml;

/// Why rendered output could not be sorted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("YAML parse error on {path}: {message}")]
    Parse { path: String, message: String },
}

/// The parts of a document Helm reads (its SimpleHead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub annotations: BTreeMap<String, String>,
}

/// One document of a template's output that is not a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The template it came from (`chart/templates/deployment.yaml`).
    pub name: String,
    pub content: String,
    pub head: Head,
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HookEvent {
    PreInstall,
    PostInstall,
    PreDelete,
    PostDelete,
    PreUpgrade,
    PostUpgrade,
    PreRollback,
    PostRollback,
    Test,
}

impl HookEvent {
    /// Helm's name for the event (as stored in a release).
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::PreInstall => "pre-install",
            HookEvent::PostInstall => "post-install",
            HookEvent::PreDelete => "pre-delete",
            HookEvent::PostDelete => "post-delete",
            HookEvent::PreUpgrade => "pre-upgrade",
            HookEvent::PostUpgrade => "post-upgrade",
            HookEvent::PreRollback => "pre-rollback",
            HookEvent::PostRollback => "post-rollback",
            HookEvent::Test => "test",
        }
    }

    /// The event an annotation value names (`test-success` is the old `test`).
    pub fn parse(name: &str) -> Option<HookEvent> {
        Some(match name {
            "pre-install" => HookEvent::PreInstall,
            "post-install" => HookEvent::PostInstall,
            "pre-delete" => HookEvent::PreDelete,
            "post-delete" => HookEvent::PostDelete,
            "pre-upgrade" => HookEvent::PreUpgrade,
            "post-upgrade" => HookEvent::PostUpgrade,
            "pre-rollback" => HookEvent::PreRollback,
            "post-rollback" => HookEvent::PostRollback,
            "test" | "test-success" => HookEvent::Test,
            _ => return None,
        })
    }
}

pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
pub const HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
pub const HOOK_DELETE_ANNOTATION: &str = "helm.sh/hook-delete-policy";
pub const HOOK_OUTPUT_LOG_ANNOTATION: &str = "helm.sh/hook-output-log-policy";

/// A document annotated as a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub manifest: String,
    pub events: Vec<HookEvent>,
    pub weight: i64,
    pub delete_policies: Vec<String>,
    pub output_log_policies: Vec<String>,
}

/// The order Helm installs kinds in; kinds not listed come after, by name.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Helm's SplitManifests (4.2): the documents of `text`, split at `---` that
/// starts the text or a line (with the white space around it, blank lines before
/// included), each without its leading white space, blank ones dropped.
pub fn split_manifests(text: &str) -> Vec<String> {
    static SEPARATOR: OnceLock<regex::Regex> = OnceLock::new();
    let separator = SEPARATOR.get_or_init(|| {
        regex::Regex::new(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*")
            .unwrap_or_else(|_| unreachable!("a fixed pattern"))
    });
    separator
        .split(text.trim_start())
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| doc.trim_start().to_owned())
        .collect()
}

/// Helm's SortManifests with InstallOrder: templates by path (partials and blank
/// output left out), each split into documents; hooks and the rest, each ordered
/// by kind (stable, so a template's documents keep their order).
pub fn sort_manifests(
    files: &BTreeMap<String, String>,
) -> Result<(Vec<Hook>, Vec<Manifest>), ManifestError> {
    let mut hooks = Vec::new();
    let mut generic = Vec::new();
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(content) {
            let head = read_head(&doc).map_err(|message| ManifestError::Parse {
                path: path.clone(),
                message,
            })?;
            let Some(events) = head.annotations.get(HOOK_ANNOTATION) else {
                generic.push(Manifest {
                    name: path.clone(),
                    content: doc,
                    head,
                });
                continue;
            };
            let Some(events) = events
                .split(',')
                .map(|e| HookEvent::parse(&e.trim().to_lowercase()))
                .collect::<Option<Vec<_>>>()
            else {
                // Helm skips (and logs) a document with an unknown hook event.
                continue;
            };
            let policies = |annotation: &str| -> Vec<String> {
                head.annotations
                    .get(annotation)
                    .map(|v| v.split(',').map(|p| p.trim().to_lowercase()).collect())
                    .unwrap_or_default()
            };
            hooks.push(Hook {
                name: head.name.clone(),
                kind: head.kind.clone(),
                path: path.clone(),
                weight: head
                    .annotations
                    .get(HOOK_WEIGHT_ANNOTATION)
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0),
                delete_policies: policies(HOOK_DELETE_ANNOTATION),
                output_log_policies: policies(HOOK_OUTPUT_LOG_ANNOTATION),
                events,
                manifest: doc,
            });
        }
    }
    hooks.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    generic.sort_by(|a, b| kind_order(&a.head.kind, &b.head.kind));
    Ok((hooks, generic))
}

/// Helm's lessByKind over InstallOrder, as an ordering.
fn kind_order(a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |kind: &str| INSTALL_ORDER.iter().position(|k| *k == kind);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// A document's head as sigs.k8s.io/yaml decodes it into Helm's SimpleHead: the
/// fields must have the types the struct declares.
fn read_head(doc: &str) -> Result<Head, String> {
    let value = yaml::unmarshal(doc).map_err(|e| e.to_string())?;
    let mismatch = |value: &Value, field: &str, want: &str| {
        format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go {field} of type {want}",
            json_kind(value)
        )
    };
    let top = match &value {
        Value::Nil => return Ok(Head::default()),
        Value::Map(map) => map.snapshot(),
        other => return Err(mismatch(other, "value", "util.SimpleHead")),
    };
    let text = |value: Option<&Value>, field: &str| match value {
        None | Some(Value::Nil) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.to_string()),
        Some(other) => Err(mismatch(
            other,
            &format!("struct field SimpleHead.{field}"),
            "string",
        )),
    };
    let mut head = Head {
        api_version: text(top.get("apiVersion"), "apiVersion")?,
        kind: text(top.get("kind"), "kind")?,
        ..Head::default()
    };
    match top.get("metadata") {
        None | Some(Value::Nil) => {}
        Some(Value::Map(meta)) => {
            head.name = text(meta.get("name").as_ref(), "metadata.name")?;
            match meta.get("annotations") {
                None | Some(Value::Nil) => {}
                Some(Value::Map(annotations)) => {
                    for (key, value) in annotations.entries() {
                        match value {
                            Value::String(s) => {
                                head.annotations.insert(key, s.to_string());
                            }
                            // A null value decodes as "" into a map of strings.
                            Value::Nil => {
                                head.annotations.insert(key, String::new());
                            }
                            other => {
                                return Err(mismatch(
                                    &other,
                                    "struct field .metadata.annotations",
                                    "string",
                                ))
                            }
                        }
                    }
                }
                Some(other) => {
                    return Err(mismatch(
                        &other,
                        "struct field .metadata.annotations",
                        "map[string]string",
                    ))
                }
            }
        }
        Some(other) => {
            return Err(mismatch(
                other,
                "struct field SimpleHead.metadata",
                "struct { Name string \"json:\\\"name\\\"\"; Annotations map[string]string \"json:\\\"annotations\\\"\" }",
            ))
        }
    }
    Ok(head)
}

/// How encoding/json names a JSON value's kind in its errors.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Int64(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "array",
        Value::Map(_) => "object",
        _ => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_dashes_at_line_start_only() {
        let docs = split_manifests(
            "\n\n---\na: 1\n\n\n--- # second\nb: 2\n  ---\n---\n\n---\t\nc: 3\n----d: 4",
        );
        // The white space after a separator is part of it, so a separator right
        // after another is not one (as in Helm).
        assert_eq!(
            docs,
            ["a: 1", "# second\nb: 2\n  ---", "---\t\nc: 3", "-d: 4"]
        );
    }

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn kinds_in_install_order_unknown_last_by_name_and_hooks_apart() {
        let (hooks, manifests) = sort_manifests(&files(&[
            ("c/templates/b.yaml", "kind: Deployment\nmetadata: {name: d}\n---\nkind: Zeta\n---\nkind: Alpha\n"),
            ("c/templates/a.yaml", "kind: Service\n---\nkind: Namespace\n"),
            ("c/templates/_helpers.tpl", "kind: Secret\n"),
            ("c/templates/hook.yaml", "kind: Job\nmetadata:\n  name: migrate\n  annotations:\n    helm.sh/hook: pre-install, Post-Upgrade\n    helm.sh/hook-weight: \"-5\"\n    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n---\nkind: Pod\nmetadata: {annotations: {helm.sh/hook: crash}}\n"),
            ("c/templates/empty.yaml", "  \n"),
        ]))
        .unwrap();
        let kinds: Vec<&str> = manifests.iter().map(|m| m.head.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["Namespace", "Service", "Deployment", "Alpha", "Zeta"]
        );
        assert_eq!(hooks.len(), 1, "the unknown hook event is skipped");
        assert_eq!(
            hooks[0].events,
            [HookEvent::PreInstall, HookEvent::PostUpgrade]
        );
        assert_eq!(hooks[0].weight, -5);
        assert_eq!(
            hooks[0].delete_policies,
            ["before-hook-creation", "hook-succeeded"]
        );
        assert_eq!(hooks[0].name, "migrate");
    }

    #[test]
    fn a_document_that_is_not_yaml_names_its_template() {
        let err = sort_manifests(&files(&[("c/templates/x.yaml", "a: [\n")])).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "YAML parse error on c/templates/x.yaml: error converting YAML to JSON: yaml: "
            ),
            "{err}"
        );
        let err = sort_manifests(&files(&[(
            "c/templates/x.yaml",
            "kind: Job\nmetadata: {annotations: {helm.sh/hook-weight: 5}}\n",
        )]))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot unmarshal number into Go struct field"),
            "{err}"
        );
    }
}
