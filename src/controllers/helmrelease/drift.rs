//! Drift of a release's objects from what the release applied, as helm-controller's
//! `driftDetection` finds it: a field of ours whose live value differs. Only objects
//! the managed-object watch saw change since the last apply are compared (a
//! server-side dry run against the live object), so an unchanged release costs no
//! requests. `driftDetection.ignore` paths are left out of the comparison and of the
//! correction.

use serde_json::Value;

use crate::api::kustomize_v1::IgnoreRule;

/// `driftDetection.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftMode {
    Disabled,
    /// Report drift (event), change nothing.
    Warn,
    /// Report and correct it with server-side apply.
    Enabled,
}

impl DriftMode {
    pub fn from_spec(mode: Option<&str>) -> Self {
        match mode {
            Some("enabled") => Self::Enabled,
            Some("warn") => Self::Warn,
            _ => Self::Disabled,
        }
    }
}

/// The JSON pointers of `rules` that apply to `object`.
pub fn ignored_paths<'a>(rules: &'a [IgnoreRule], object: &Value) -> Vec<&'a str> {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (group, version) = match text("/apiVersion").split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", text("/apiVersion")),
    };
    rules
        .iter()
        .filter(|rule| {
            rule.target.as_ref().is_none_or(|t| {
                let matches = |want: &Option<String>, have: &str| {
                    want.as_deref().is_none_or(|w| w.is_empty() || w == have)
                };
                matches(&t.group, group)
                    && matches(&t.version, version)
                    && matches(&t.kind, text("/kind"))
                    && matches(&t.name, text("/metadata/name"))
                    && matches(&t.namespace, text("/metadata/namespace"))
            })
        })
        .flat_map(|rule| rule.paths.iter().map(String::as_str))
        .collect()
}

/// Removes the value at a JSON pointer, if there is one.
pub fn remove_path(object: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match object.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < items.len() {
                    items.remove(i);
                }
            }
        }
        _ => {}
    }
}

/// The object without what the API server keeps for itself, and without the
/// ignored paths, for comparing.
pub fn comparable(object: &Value, ignored: &[&str]) -> Value {
    let mut object = crate::apply::without_server_fields(object);
    for path in ignored {
        remove_path(&mut object, path);
    }
    object
}

/// Whether the dry-run result of applying our object differs from the live one,
/// outside the ignored paths.
pub fn has_drifted(live: &Value, would_be: &Value, ignored: &[&str]) -> bool {
    comparable(live, ignored) != comparable(would_be, ignored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps", "resourceVersion": "7", "generation": 3},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
            "status": {"readyReplicas": 1}})
    }

    fn rule(paths: &[&str], kind: Option<&str>) -> IgnoreRule {
        serde_json::from_value(json!({"paths": paths, "target": kind.map(|k| json!({"kind": k}))}))
            .expect("rule")
    }

    #[test]
    fn only_our_fields_count_and_server_fields_do_not() {
        let live = deployment(3, "nginx:1.25");
        let mut would_be = deployment(3, "nginx:1.25");
        would_be["metadata"]["resourceVersion"] = json!("8");
        would_be["status"] = json!({});
        assert!(!has_drifted(&live, &would_be, &[]));
        assert!(has_drifted(&deployment(5, "nginx:1.25"), &would_be, &[]));
    }

    #[test]
    fn ignore_rules_select_by_target_and_drop_their_paths() {
        let live = deployment(5, "nginx:1.25");
        let would_be = deployment(3, "nginx:1.25");
        let rules = [
            rule(&["/spec/replicas"], Some("Deployment")),
            rule(&["/data"], Some("ConfigMap")),
        ];
        let ignored = ignored_paths(&rules, &would_be);
        assert_eq!(ignored, ["/spec/replicas"]);
        assert!(
            !has_drifted(&live, &would_be, &ignored),
            "replicas are someone else's"
        );
        let changed_image = deployment(5, "nginx:evil");
        assert!(has_drifted(&changed_image, &would_be, &ignored));
        let everywhere = [rule(&["/metadata/annotations/a~1b"], None)];
        assert_eq!(
            ignored_paths(&everywhere, &would_be),
            ["/metadata/annotations/a~1b"]
        );
    }

    #[test]
    fn paths_are_removed_with_json_pointer_escapes() {
        let mut object =
            json!({"metadata": {"annotations": {"a/b": "1", "c": "2"}}, "items": [1, 2, 3]});
        remove_path(&mut object, "/metadata/annotations/a~1b");
        remove_path(&mut object, "/items/1");
        remove_path(&mut object, "/missing/path");
        assert_eq!(
            object,
            json!({"metadata": {"annotations": {"c": "2"}}, "items": [1, 3]})
        );
    }

    #[test]
    fn modes_follow_the_spec() {
        assert_eq!(DriftMode::from_spec(None), DriftMode::Disabled);
        assert_eq!(DriftMode::from_spec(Some("warn")), DriftMode::Warn);
        assert_eq!(DriftMode::from_spec(Some("enabled")), DriftMode::Enabled);
    }
}
