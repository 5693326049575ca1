//! The schema kustomize's strategic merge consults: which lists of which kinds merge
//! by key, by which keys, and which merge as sets. kustomize does not ask the cluster
//! or today's Kubernetes types; it asks the Kubernetes v1.21.2 OpenAPI document built
//! into kyaml, by apiVersion and kind. So `apps/v1beta1` Deployments (gone by 1.21)
//! have no schema and their lists are replaced, lists added to Kubernetes after 1.21
//! are replaced, and where a list declares `x-kubernetes-list-map-keys` (container
//! ports: `containerPort` and `protocol`) every key counts, not just the patch merge
//! key. The table is generated (see `kyaml_schema_v1_21_2.txt`).

use std::collections::HashMap;
use std::sync::OnceLock;

use ferroflux_merge::listmeta::ListType;

const TABLE: &str = include_str!("kyaml_schema_v1_21_2.txt");

/// One field of a definition that a merge needs to know about.
#[derive(Debug)]
struct Field {
    /// The definition of the field's value (or of its items, for a list).
    target: Option<&'static str>,
    /// For a list merged by key (or as a set when empty), its keys.
    merge_keys: Option<Vec<String>>,
}

#[derive(Debug, Default)]
struct Schema {
    /// Per kind, its apiVersions and their definitions.
    kinds: HashMap<&'static str, Vec<(&'static str, &'static str)>>,
    /// Per definition, its fields.
    fields: HashMap<&'static str, HashMap<&'static str, Field>>,
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = Schema::default();
        for line in TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let parts: Vec<&'static str> = line.split(' ').collect();
            match parts.as_slice() {
                ["kind", api_version, kind, definition] => {
                    schema
                        .kinds
                        .entry(kind)
                        .or_default()
                        .push((api_version, definition));
                }
                [definition, field, target, keys] => {
                    let merge_keys = match *keys {
                        "-" => None,
                        "[]" => Some(Vec::new()),
                        keys => Some(keys.split(',').map(str::to_owned).collect()),
                    };
                    let target = (*target != "-").then_some(*target);
                    schema
                        .fields
                        .entry(definition)
                        .or_default()
                        .insert(field, Field { target, merge_keys });
                }
                // The table is generated; a malformed line is a bug caught by the tests.
                _ => {}
            }
        }
        schema
    })
}

fn field_of<'s>(schema: &'s Schema, definition: &str, name: &str) -> Option<&'s Field> {
    let fields = schema.fields.get(definition)?;
    fields.get(name).or_else(|| fields.get("*"))
}

/// How the list at `path` (field names from the object's root, list indices left out)
/// of an `api_version`/`kind` object merges in kustomize's strategic merge.
pub fn list_type(api_version: &str, kind: &str, path: &[String]) -> ListType {
    let schema = schema();
    let Some(mut definition) = schema
        .kinds
        .get(kind)
        .and_then(|versions| versions.iter().find(|(v, _)| *v == api_version))
        .map(|(_, d)| *d)
    else {
        return ListType::Atomic;
    };
    let Some((last, parents)) = path.split_last() else {
        return ListType::Atomic;
    };
    let field = |definition: &str, name: &str| field_of(schema, definition, name);
    for name in parents {
        match field(definition, name).and_then(|f| f.target) {
            Some(next) => definition = next,
            None => return ListType::Atomic,
        }
    }
    match field(definition, last).and_then(|f| f.merge_keys.as_ref()) {
        Some(keys) if keys.is_empty() => ListType::Set,
        Some(keys) => ListType::Map { keys: keys.clone() },
        None => ListType::Atomic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    fn keys(k: &[&str]) -> ListType {
        ListType::Map {
            keys: k.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn every_line_of_the_table_is_read() {
        let lines = TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        let schema = schema();
        let fields: usize = schema.fields.values().map(HashMap::len).sum();
        let kinds: usize = schema.kinds.values().map(Vec::len).sum();
        assert_eq!(kinds + fields, lines);
        assert!(kinds > 100, "{kinds}");
    }

    #[test]
    fn pod_template_lists_merge_by_their_keys() {
        let containers = "spec.template.spec.containers";
        assert_eq!(
            list_type("apps/v1", "Deployment", &path(containers)),
            keys(&["name"])
        );
        assert_eq!(
            list_type(
                "apps/v1",
                "Deployment",
                &path(&format!("{containers}.ports"))
            ),
            keys(&["containerPort", "protocol"])
        );
        assert_eq!(
            list_type(
                "batch/v1beta1",
                "CronJob",
                &path("spec.jobTemplate.spec.template.spec.volumes")
            ),
            keys(&["name"])
        );
        assert_eq!(
            list_type("v1", "Service", &path("spec.ports")),
            keys(&["port", "protocol"])
        );
        assert_eq!(
            list_type("apps/v1", "Deployment", &path("metadata.finalizers")),
            ListType::Set
        );
    }

    #[test]
    fn webhooks_merge_by_name() {
        for kind in [
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ] {
            assert_eq!(
                list_type("admissionregistration.k8s.io/v1", kind, &path("webhooks")),
                keys(&["name"])
            );
        }
    }

    #[test]
    fn what_the_schema_does_not_know_is_replaced() {
        // Removed before 1.21, a custom resource, an atomic list, a field added later.
        assert_eq!(
            list_type(
                "apps/v1beta1",
                "Deployment",
                &path("spec.template.spec.containers")
            ),
            ListType::Atomic
        );
        assert_eq!(
            list_type("example.com/v1", "Thing", &path("spec.items")),
            ListType::Atomic
        );
        assert_eq!(
            list_type(
                "apps/v1",
                "Deployment",
                &path("spec.template.spec.tolerations")
            ),
            ListType::Atomic
        );
        assert_eq!(
            list_type(
                "apps/v1",
                "Deployment",
                &path("spec.template.spec.schedulingGates")
            ),
            ListType::Atomic
        );
    }
}
