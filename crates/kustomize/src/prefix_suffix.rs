//! namePrefix and nameSuffix, as kustomize's PrefixTransformer and SuffixTransformer.
//!
//! Each renamed resource remembers its previous id and the prefix or suffix applied,
//! which name reference fixing uses to find it and to tell apart same-named
//! resources from different kustomizations.

use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{apply_fieldspec, CreateKind, FieldSpec};
use crate::resid::Gvk;
use crate::resource::{ResMap, Resource};

/// Kinds kustomize never prefixes or suffixes: their names are fixed by what they
/// are (a CRD's name is `<plural>.<group>`, an APIService's `<version>.<group>`) or
/// by the namespace transformer. (group, kind); an empty group matches any.
const NEVER_RENAMED: [(&str, &str); 3] = [
    ("", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("", "Namespace"),
];

/// The spec path of the object's own name: applying it is what renames a resource.
const OWN_NAME: &str = "metadata/name";

#[derive(Clone, Copy)]
enum Affix {
    Prefix,
    Suffix,
}

/// Prepends `prefix` to the names at `specs`, recording the previous id.
pub fn add_prefix(resources: &mut ResMap, prefix: &str, specs: &[FieldSpec]) -> Result<()> {
    add(resources, prefix, specs, Affix::Prefix)
}

/// Appends `suffix` to the names at `specs`, recording the previous id.
pub fn add_suffix(resources: &mut ResMap, suffix: &str, specs: &[FieldSpec]) -> Result<()> {
    add(resources, suffix, specs, Affix::Suffix)
}

fn never_renamed(gvk: &Gvk) -> bool {
    NEVER_RENAMED
        .iter()
        .any(|(group, kind)| gvk.is_selected_by(&Gvk::new(group, "", kind)))
}

fn add(resources: &mut ResMap, affix: &str, specs: &[FieldSpec], which: Affix) -> Result<()> {
    // kustomize does not run the transformer for an empty prefix or suffix.
    if affix.is_empty() {
        return Ok(());
    }
    for resource in &mut resources.resources {
        // kustomize decides by the kind the resource had when it entered the build.
        let original = resource.org_id().gvk;
        if never_renamed(&original) {
            continue;
        }
        for spec in specs {
            if !spec.applies_to(&original) {
                continue;
            }
            if spec.path == OWN_NAME {
                record(resource, affix, which);
            }
            let mut set = |node: &mut Value| affix_scalar(node, affix, which);
            apply_fieldspec(resource, spec, Some(CreateKind::Scalar), &mut set)?;
        }
    }
    Ok(())
}

fn record(resource: &mut Resource, affix: &str, which: Affix) {
    match which {
        Affix::Prefix => resource.name_prefixes.push(affix.to_owned()),
        Affix::Suffix => resource.name_suffixes.push(affix.to_owned()),
    }
    resource.store_previous_id();
}

fn affix_scalar(node: &mut Value, affix: &str, which: Affix) -> Result<()> {
    let current = match node {
        Value::String(s) => std::mem::take(s),
        Value::Null => String::new(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(_) | Value::Array(_) => {
            return Err(KustomizeError::transform(
                "a name prefix or suffix can only be added to a scalar",
            ))
        }
    };
    *node = Value::String(match which {
        Affix::Prefix => format!("{affix}{current}"),
        Affix::Suffix => format!("{current}{affix}"),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldspecs_builtin::default_config;
    use crate::testutil::resmap;
    use serde_json::json;

    fn names(map: &ResMap) -> Vec<&str> {
        map.resources.iter().map(Resource::name).collect()
    }

    #[test]
    fn prefix_and_suffix_rename_all_but_crds_api_services_and_namespaces() {
        let mut map = resmap(json!([
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"}},
            {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"}},
            {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.foo"}},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}},
        ]));
        let config = default_config();
        add_prefix(&mut map, "p-", &config.name_prefix).expect("prefix");
        add_suffix(&mut map, "-s", &config.name_suffix).expect("suffix");
        assert_eq!(
            names(&map),
            ["p-cfg-s", "p-cr-s", "widgets.example.com", "v1.foo", "ns"]
        );
    }

    #[test]
    fn each_rename_is_recorded_for_name_references() {
        let mut map =
            resmap(json!([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}}]));
        let config = default_config();
        add_prefix(&mut map, "base-", &config.name_prefix).expect("prefix");
        add_prefix(&mut map, "prod-", &config.name_prefix).expect("prefix");
        add_suffix(&mut map, "-v2", &config.name_suffix).expect("suffix");
        let secret = &map.resources[0];
        assert_eq!(secret.name(), "prod-base-db-v2");
        assert_eq!(secret.name_prefixes, ["base-", "prod-"]);
        assert_eq!(secret.name_suffixes, ["-v2"]);
        let previous: Vec<&str> = secret
            .prev_ids()
            .iter()
            .map(|id| id.name.as_str())
            .collect();
        assert_eq!(previous, ["db", "base-db", "prod-base-db"]);
    }

    #[test]
    fn an_empty_prefix_records_nothing() {
        let mut map =
            resmap(json!([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}}]));
        add_prefix(&mut map, "", &default_config().name_prefix).expect("prefix");
        assert!(map.resources[0].prev_ids().is_empty());
        assert!(map.resources[0].name_prefixes.is_empty());
    }

    #[test]
    fn extra_specs_from_configurations_are_prefixed_too() {
        let mut map = resmap(json!([{"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"target": "t"}}]));
        let mut specs = default_config().name_prefix;
        specs.push(FieldSpec::new("", "", "Widget", "spec/target", false));
        add_prefix(&mut map, "p-", &specs).expect("prefix");
        assert_eq!(map.resources[0].obj["spec"]["target"], "p-t");
        assert_eq!(
            map.resources[0].prev_ids().len(),
            1,
            "only the own name is a rename"
        );
    }
}
