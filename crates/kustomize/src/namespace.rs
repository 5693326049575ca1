//! The namespace transformer (`namespace:`), as kustomize v5.5's NamespaceTransformer
//! with its defaults (every field set, binding subjects named `default` only).
//!
//! Binding subjects that name a ServiceAccount of the build are not set here: name
//! reference fixing at the end of the build gives them the account's namespace.

use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{apply_fieldspec, CreateKind, FieldSpec};
use crate::resource::{ResMap, Resource};

/// The transformer sets `metadata/namespace` itself, on namespaced kinds only.
const METADATA_NAMESPACE: &str = "metadata/namespace";
/// Applies only to core (`v1`) objects: a Namespace takes the namespace as its name.
const METADATA_NAME: &str = "metadata/name";
/// Replaced by the transformer's own rule for binding subjects.
const SUBJECTS_NAMESPACE: &str = "subjects/namespace";

fn is_role_binding(kind: &str) -> bool {
    kind == "RoleBinding" || kind == "ClusterRoleBinding"
}

/// Which (Cluster)RoleBinding subjects take the namespace (`setRoleBindingSubjects`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubjectMode {
    /// Subjects named `default`, of any kind (`defaultOnly`, what `namespace:` does).
    #[default]
    DefaultOnly,
    /// Every ServiceAccount subject (`allServiceAccounts`).
    AllServiceAccounts,
    /// None (`none`).
    None,
}

impl SubjectMode {
    /// The mode a NamespaceTransformer config names; empty is the default.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "" | "defaultOnly" => Some(Self::DefaultOnly),
            "allServiceAccounts" => Some(Self::AllServiceAccounts),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// The NamespaceTransformer's options beyond the namespace and field specs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NamespaceOptions {
    /// Set the namespace only where none is set yet (`unsetOnly`).
    pub unset_only: bool,
    pub subjects: SubjectMode,
}

/// Sets `namespace` on every namespaced resource and at every field in `specs`
/// (e.g. RoleBinding subjects), as kustomize's NamespaceTransformer does.
pub fn transform(resources: &mut ResMap, namespace: &str, specs: &[FieldSpec]) -> Result<()> {
    transform_with(resources, namespace, specs, NamespaceOptions::default())
}

/// [`transform`] with a NamespaceTransformer config's options.
pub fn transform_with(
    resources: &mut ResMap,
    namespace: &str,
    specs: &[FieldSpec],
    options: NamespaceOptions,
) -> Result<()> {
    if namespace.is_empty() {
        return Ok(());
    }
    for index in 0..resources.resources.len() {
        let resource = &mut resources.resources[index];
        // kustomize records the id of every resource here, renamed or not; name
        // reference fixing only considers resources with earlier ids, so this matters.
        resource.store_previous_id();
        set_namespace(resource, namespace, specs, options)?;
    }
    match resources.first_duplicate() {
        Some(id) => Err(KustomizeError::transform(format!(
            "namespace transformation produces ID conflict: two resources would be {id}"
        ))),
        None => Ok(()),
    }
}

fn set_namespace(
    resource: &mut Resource,
    namespace: &str,
    specs: &[FieldSpec],
    options: NamespaceOptions,
) -> Result<()> {
    let gvk = resource.gvk();
    let unset_only = options.unset_only;
    if !gvk.is_cluster_scoped() {
        let mut set = |node: &mut Value| set_scalar(node, namespace, unset_only);
        let spec = FieldSpec::new("", "", "", METADATA_NAMESPACE, true);
        apply_fieldspec(resource, &spec, Some(CreateKind::Scalar), &mut set).map_err(failed)?;
    }
    let binding = is_role_binding(&gvk.kind);
    if binding {
        set_subjects(resource, namespace, options)?;
    }
    let is_core = resource.api_version() == "v1";
    for spec in specs {
        let skip = spec.path == METADATA_NAMESPACE
            || (spec.path == METADATA_NAME && !is_core)
            || (binding && is_role_binding(&spec.kind) && spec.path == SUBJECTS_NAMESPACE);
        if skip {
            continue;
        }
        let mut set = |node: &mut Value| set_scalar(node, namespace, unset_only);
        apply_fieldspec(resource, spec, Some(CreateKind::Scalar), &mut set).map_err(failed)?;
    }
    Ok(())
}

fn failed(e: KustomizeError) -> KustomizeError {
    KustomizeError::transform(format!("namespace transformation failed: {e}"))
}

/// Namespace fields hold a name: anything but a scalar there is a config error. With
/// `unset_only`, a field that already holds a namespace keeps it.
fn set_scalar(node: &mut Value, namespace: &str, unset_only: bool) -> Result<()> {
    if node.is_object() || node.is_array() {
        return Err(KustomizeError::transform(
            "namespace field specs must target scalar nodes",
        ));
    }
    let is_set = match node {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    };
    if !(unset_only && is_set) {
        *node = Value::String(namespace.to_owned());
    }
    Ok(())
}

/// The binding subjects moved into the namespace: by default only those named
/// `default` (of any kind), or every ServiceAccount, or none.
fn set_subjects(resource: &mut Resource, namespace: &str, options: NamespaceOptions) -> Result<()> {
    if options.subjects == SubjectMode::None {
        return Ok(());
    }
    let Some(subjects) = resource.obj.get_mut("subjects") else {
        return Ok(());
    };
    let items = match subjects {
        Value::Null => return Ok(()),
        Value::Array(items) => items,
        _ => {
            return Err(KustomizeError::transform(format!(
                "setting namespace on (cluster)role binding subjects of {}: subjects is not a list",
                resource.name()
            )))
        }
    };
    for subject in items.iter_mut() {
        let Value::Object(subject) = subject else {
            continue;
        };
        let chosen = match options.subjects {
            SubjectMode::DefaultOnly => {
                subject.get("name").and_then(Value::as_str) == Some("default")
            }
            SubjectMode::AllServiceAccounts => {
                subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
            }
            SubjectMode::None => false,
        };
        if chosen {
            let value = subject.entry("namespace").or_insert(Value::Null);
            set_scalar(value, namespace, options.unset_only)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldspecs_builtin::default_config;
    use crate::testutil::resmap;
    use serde_json::json;

    fn run(objects: Value, namespace: &str) -> Vec<Value> {
        let mut map = resmap(objects);
        transform(&mut map, namespace, &default_config().namespace).expect("transform");
        map.resources.iter().map(Resource::to_value).collect()
    }

    #[test]
    fn namespaced_objects_move_and_cluster_scoped_ones_do_not() {
        let out = run(
            json!([
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "old"}},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}},
                {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
            ]),
            "prod",
        );
        assert_eq!(out[0]["metadata"]["namespace"], "prod");
        assert!(out[1]["metadata"].get("namespace").is_none());
        assert_eq!(
            out[2]["metadata"]["namespace"], "prod",
            "custom kinds are namespaced"
        );
    }

    #[test]
    fn a_namespace_object_takes_the_namespace_as_its_name() {
        let out = run(
            json!([
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}},
                {"apiVersion": "example.com/v1", "kind": "Namespace", "metadata": {"name": "bar"}},
            ]),
            "prod",
        );
        assert_eq!(out[0]["metadata"], json!({"name": "prod"}));
        assert_eq!(
            out[1]["metadata"]["name"], "bar",
            "only the core Namespace kind"
        );
    }

    #[test]
    fn only_binding_subjects_named_default_are_moved() {
        let out = run(
            json!([{
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "rb"},
                "subjects": [
                    {"kind": "ServiceAccount", "name": "default"},
                    {"kind": "ServiceAccount", "name": "app", "namespace": "other"},
                    {"kind": "User", "name": "default", "namespace": "x"},
                ],
            }]),
            "prod",
        );
        let subjects = &out[0]["subjects"];
        assert_eq!(subjects[0]["namespace"], "prod");
        assert_eq!(subjects[1]["namespace"], "other");
        assert_eq!(subjects[2]["namespace"], "prod");
    }

    #[test]
    fn api_service_gets_a_service_namespace_even_without_a_service() {
        let out = run(
            json!([{
                "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                "metadata": {"name": "v1.foo"}, "spec": {"group": "foo"},
            }]),
            "prod",
        );
        assert_eq!(out[0]["spec"]["service"], json!({"namespace": "prod"}));
        assert!(out[0]["metadata"].get("namespace").is_none());
    }

    #[test]
    fn every_resource_records_its_previous_id() {
        let mut map = resmap(json!([
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
            {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"}},
        ]));
        transform(&mut map, "prod", &[]).expect("transform");
        assert_eq!(map.resources[0].prev_ids()[0].namespace, "default");
        assert_eq!(map.resources[1].prev_ids().len(), 1);
    }

    #[test]
    fn empty_namespace_changes_nothing() {
        let mut map =
            resmap(json!([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]));
        transform(&mut map, "", &default_config().namespace).expect("transform");
        assert!(map.resources[0].prev_ids().is_empty());
        assert!(map.resources[0].obj["metadata"].get("namespace").is_none());
    }

    #[test]
    fn two_objects_collapsing_into_one_id_is_an_error() {
        let mut map = resmap(json!([
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "b"}},
        ]));
        let err = transform(&mut map, "prod", &[]).expect_err("conflict");
        assert!(err.to_string().contains("ID conflict"), "{err}");
        assert!(
            err.to_string().contains("ConfigMap.v1.[noGrp]/c.prod"),
            "{err}"
        );
    }
}
