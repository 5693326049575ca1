//! Strategic merge as kustomize applies patches (kyaml's merge2 with lists growing at
//! the front). It differs from the API server's strategic merge patch: items of a
//! merged list come out in the patch's order, followed by the target's items the
//! patch did not mention; lists of kinds without a schema (custom resources) are
//! replaced; `$setElementOrder` and `$retainKeys` mean nothing.

use ferroflux_merge::listmeta::ListType;
use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};

const DIRECTIVE: &str = "$patch";

/// Where merge keys come from: the built-in kinds' declarations, or an OpenAPI
/// document a kustomization names with `openapi: {path: ...}`, which (as in kustomize)
/// replaces the built-in schema for every kind.
pub enum MergeSchema<'a> {
    /// kyaml's built-in Kubernetes schema, looked up by apiVersion and kind.
    Builtin { api_version: &'a str, kind: &'a str },
    Custom {
        definitions: &'a Value,
        root: Option<&'a Value>,
    },
}

impl<'a> MergeSchema<'a> {
    /// The custom schema's definition for a kind, if the document declares one.
    pub fn custom(document: &'a Value, group: &str, version: &str, kind: &str) -> Self {
        let definitions = document.get("definitions").unwrap_or(&Value::Null);
        let root = definitions.as_object().and_then(|defs| {
            defs.values().find(|def| {
                def.get("x-kubernetes-group-version-kind")
                    .and_then(Value::as_array)
                    .is_some_and(|gvks| {
                        gvks.iter().any(|gvk| {
                            gvk.get("group").and_then(Value::as_str).unwrap_or("") == group
                                && gvk.get("version").and_then(Value::as_str).unwrap_or("")
                                    == version
                                && gvk.get("kind").and_then(Value::as_str).unwrap_or("") == kind
                        })
                    })
            })
        });
        Self::Custom { definitions, root }
    }

    fn list_type(&self, path: &[String]) -> ListType {
        match self {
            Self::Builtin { api_version, kind } => {
                crate::kyaml_schema::list_type(api_version, kind, path)
            }
            Self::Custom { definitions, root } => {
                let Some(mut node) = *root else {
                    return ListType::Atomic;
                };
                for field in path {
                    node = resolve_ref(definitions, node);
                    while node.get("type").and_then(Value::as_str) == Some("array") {
                        match node.get("items") {
                            Some(items) => node = resolve_ref(definitions, items),
                            None => return ListType::Atomic,
                        }
                    }
                    match node.get("properties").and_then(|p| p.get(field.as_str())) {
                        Some(next) => node = next,
                        None => return ListType::Atomic,
                    }
                }
                let strategy = node
                    .get("x-kubernetes-patch-strategy")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !strategy.split(',').any(|s| s == "merge") {
                    return ListType::Atomic;
                }
                match node
                    .get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str)
                {
                    Some(key) => ListType::Map {
                        keys: vec![key.to_owned()],
                    },
                    None => ListType::Set,
                }
            }
        }
    }
}

/// Follows a `$ref: #/definitions/NAME`.
fn resolve_ref<'v>(definitions: &'v Value, node: &'v Value) -> &'v Value {
    match node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
    {
        Some(name) => definitions.get(name).unwrap_or(node),
        None => node,
    }
}

/// Merges `patch` into `target`. `None`: the patch deletes the object (`$patch: delete`).
pub fn merge(target: Value, patch: Value, schema: &MergeSchema<'_>) -> Result<Option<Value>> {
    let mut path = Vec::new();
    walk(Some(target), Some(patch), &mut path, schema)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

fn node_kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

fn same_kind(a: &Value, b: &Value) -> bool {
    node_kind(a) == node_kind(b)
}

fn walk(
    dest: Option<Value>,
    patch: Option<Value>,
    path: &mut Vec<String>,
    schema: &MergeSchema<'_>,
) -> Result<Option<Value>> {
    // A null written as nothing goes when the patch leaves it alone; kyaml keeps only
    // nulls with text (`null`, `~`). Against a patch value it is an ordinary null.
    let dest = match dest {
        Some(v) if crate::yaml::is_empty_null(&v) => match patch {
            None => return Ok(None),
            Some(_) => Some(Value::Null),
        },
        other => other,
    };
    let present = |v: &Option<Value>| v.as_ref().filter(|v| !v.is_null()).cloned();
    let first = present(&dest).or_else(|| present(&patch));
    let Some(first) = first else {
        // Both missing or null: a null in the patch clears the field.
        return Ok(match (&dest, &patch) {
            (_, Some(Value::Null)) => None,
            (d, None) => d.clone(),
            (None, p) => p.clone(),
            _ => None,
        });
    };
    for side in [&dest, &patch].into_iter().flatten() {
        if !side.is_null() && !same_kind(side, &first) {
            return Err(KustomizeError::transform(format!(
                "wrong node kind at '{}': expected {} but got {}",
                path.join("."),
                node_kind(&first),
                node_kind(side)
            )));
        }
    }
    match first {
        Value::Object(_) => walk_map(dest, patch, path, schema),
        Value::Array(_) => walk_list(dest, patch, path, schema),
        _ => Ok(match patch {
            Some(Value::Null) => None,
            Some(p) => Some(p),
            None => dest,
        }),
    }
}

/// The strategy a `$patch` value names.
fn parse_directive(value: &Value) -> Result<Directive> {
    match value.as_str() {
        Some("delete") => Ok(Directive::Delete),
        Some("replace") => Ok(Directive::Replace),
        Some("merge") => Ok(Directive::Merge),
        _ => Err(KustomizeError::transform(format!(
            "unknown patch strategy '{}'",
            scalar_text(value)
        ))),
    }
}

fn map_directive(map: &mut Map<String, Value>) -> Result<Directive> {
    let Some(value) = map.get(DIRECTIVE) else {
        return Ok(Directive::Merge);
    };
    let directive = parse_directive(value)?;
    map.remove(DIRECTIVE);
    Ok(directive)
}

fn walk_map(
    dest: Option<Value>,
    patch: Option<Value>,
    path: &mut Vec<String>,
    schema: &MergeSchema<'_>,
) -> Result<Option<Value>> {
    let mut patch = match patch {
        Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    let directive = match &mut patch {
        Some(map) => map_directive(map)?,
        None => Directive::Merge,
    };
    let dest = match dest {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    let patch = match (patch, &dest) {
        (Some(patch), _) => patch,
        // Nothing to merge in, but kyaml still walks every field of the target.
        (None, Some(_)) => Map::new(),
        (None, None) => return Ok(None),
    };
    let mut result = match (dest, directive) {
        (_, Directive::Delete) => return Ok(None),
        (None, _) | (_, Directive::Replace) => {
            // New content: the patch itself, cleaned of directives and nulls.
            return Ok(Some(clean(Value::Object(patch), path, schema)?));
        }
        (Some(dest), Directive::Merge) => dest,
    };
    let target_only: Vec<String> = result
        .keys()
        .filter(|key| !patch.contains_key(key.as_str()))
        .cloned()
        .collect();
    for (key, patch_value) in patch {
        // Taken out in place (a null stays as placeholder) so a merged field keeps
        // its position in the target.
        let existing = result.get_mut(&key).map(std::mem::take);
        path.push(key.clone());
        let merged = walk(existing, Some(patch_value), path, schema);
        path.pop();
        match merged? {
            Some(value) if !value.is_null() => {
                result.insert(key, value);
            }
            _ => {
                result.shift_remove(&key);
            }
        }
    }
    // Fields only the target has are walked too, as kyaml walks every field: nulls
    // written as nothing go, and associative lists are merged with nothing (which
    // folds duplicate keys).
    for key in target_only {
        let existing = result.get_mut(&key).map(std::mem::take);
        path.push(key.clone());
        let walked = walk(existing, None, path, schema);
        path.pop();
        match walked? {
            Some(value) => {
                result.insert(key, value);
            }
            None => {
                result.shift_remove(&key);
            }
        }
    }
    Ok(Some(Value::Object(result)))
}

/// Patch content with no target counterpart: merged with itself, which drops
/// directives and null fields.
fn clean(value: Value, path: &mut Vec<String>, schema: &MergeSchema<'_>) -> Result<Value> {
    match value {
        Value::Object(mut map) => {
            map.remove(DIRECTIVE);
            let mut out = Map::new();
            for (key, child) in map {
                if child.is_null() {
                    continue;
                }
                path.push(key.clone());
                let cleaned = clean(child, path, schema);
                path.pop();
                out.insert(key, cleaned?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            if matches!(schema.list_type(path), ListType::Atomic) {
                return Ok(Value::Array(items));
            }
            let mut out = Vec::new();
            for item in items {
                if is_list_directive(&item) {
                    continue;
                }
                out.push(clean(item, path, schema)?);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other),
    }
}

/// A list item that only carries `$patch`.
fn is_list_directive(item: &Value) -> bool {
    item.as_object()
        .is_some_and(|m| m.len() == 1 && m.contains_key(DIRECTIVE))
}

fn list_directive(items: &mut Vec<Value>) -> Result<Directive> {
    let Some(index) = items.iter().position(is_list_directive) else {
        return Ok(Directive::Merge);
    };
    let directive = parse_directive(&items[index][DIRECTIVE])?;
    items.remove(index);
    Ok(directive)
}

/// A scalar as YAML text, the way kyaml compares merge-key values.
fn scalar_text(value: &Value) -> String {
    match value {
        v if crate::yaml::is_empty_null(v) => String::new(),
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn walk_list(
    dest: Option<Value>,
    patch: Option<Value>,
    path: &mut Vec<String>,
    schema: &MergeSchema<'_>,
) -> Result<Option<Value>> {
    let list_type = schema.list_type(path);
    if matches!(list_type, ListType::Atomic) {
        return Ok(match patch {
            Some(Value::Null) => None,
            Some(p) => Some(p),
            None => dest,
        });
    }
    let dest_items = match dest {
        Some(Value::Array(items)) => Some(items),
        _ => None,
    };
    let (dest_items, mut patch_items) = match (dest_items, patch) {
        (_, Some(Value::Null)) => return Ok(None),
        (dest_items, Some(Value::Array(items))) => (dest_items, items),
        // No patch: kyaml still merges the target's list, with nothing.
        (Some(items), None) => (Some(items), Vec::new()),
        (dest_items, _) => return Ok(dest_items.map(Value::Array)),
    };
    let directive = list_directive(&mut patch_items)?;
    let dest_items = match (dest_items, directive) {
        (_, Directive::Delete) => return Ok(None),
        (None, _) | (_, Directive::Replace) => {
            return Ok(Some(clean(Value::Array(patch_items), path, schema)?));
        }
        (Some(items), Directive::Merge) => items,
    };
    match list_type {
        ListType::Map { keys } => merge_associative(dest_items, patch_items, &keys, path, schema)
            .map(|v| Some(Value::Array(v))),
        _ => Ok(Some(Value::Array(merge_set(dest_items, patch_items)))),
    }
}

/// Scalars merged as a set: the patch's first, then the target's others.
fn merge_set(dest: Vec<Value>, patch: Vec<Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    patch
        .into_iter()
        .chain(dest)
        .filter(|item| seen.insert(scalar_text(item)))
        .collect()
}

/// The text kyaml compares for a key: a field's scalar text, "" when the field is
/// missing, null or empty (and for a map or list value).
fn key_text(item: &Value, key: &str) -> String {
    match item.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(v) if crate::yaml::is_empty_null(v) => String::new(),
        Some(Value::Object(_) | Value::Array(_)) => String::new(),
        Some(v) => scalar_text(v),
    }
}

/// kyaml's validateKeys: the keys some entry of `values_list` has a value for (all of
/// `keys` when none has), and `values` cut down to those keys.
fn valid_keys(
    values_list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let valid: Vec<bool> = (0..keys.len())
        .map(|i| {
            values_list
                .iter()
                .any(|v| v.get(i).is_some_and(|s| !s.is_empty()))
        })
        .collect();
    if !valid.iter().any(|v| *v) {
        return (keys.to_vec(), values.to_vec());
    }
    let chosen = |list: &[String]| -> Vec<String> {
        list.iter()
            .zip(&valid)
            .filter(|(_, ok)| **ok)
            .map(|(s, _)| s.clone())
            .collect()
    };
    (chosen(keys), chosen(values))
}

/// kyaml's mergeValues: key tuples that agree where both have a value and share at
/// least one are completed from each other (`[80, ""]` and `[80, TCP]` both become
/// `[80, TCP]`).
fn merge_values(values_list: &mut [Vec<String>]) {
    for i in 0..values_list.len() {
        for j in 0..values_list.len() {
            let (a, b) = (&values_list[i], &values_list[j]);
            if a.len() != b.len() {
                continue;
            }
            let mut common = false;
            let mut merged = Vec::with_capacity(a.len());
            let mut conflict = false;
            for (x, y) in a.iter().zip(b) {
                if x == y {
                    common = true;
                    merged.push(x.clone());
                } else if !x.is_empty() && !y.is_empty() {
                    conflict = true;
                    break;
                } else if !x.is_empty() {
                    merged.push(x.clone());
                } else {
                    merged.push(y.clone());
                }
            }
            if common && !conflict {
                values_list[i] = merged.clone();
                values_list[j] = merged;
            }
        }
    }
}

/// kyaml's MatchElementList: the first map item whose `keys` hold exactly `values`.
fn find_element(items: &[Value], keys: &[String], values: &[String]) -> Option<usize> {
    items.iter().position(|item| {
        item.is_object()
            && keys
                .iter()
                .zip(values)
                .all(|(key, value)| match item.get(key.as_str()) {
                    None => false,
                    Some(field) => raw_text(field) == *value,
                })
    })
}

/// A field's text as kyaml reads it off the YAML node (a map or list has none).
fn raw_text(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => String::new(),
        other => scalar_text(other),
    }
}

/// kyaml's ElementSetter on a list of maps: every item whose `keys` match `values`
/// (an empty value matches any present field) is replaced by `element`, or removed
/// when there is none; `element` is appended when nothing matched. Null and empty-map
/// items are dropped on the way, and with no values nothing matches and every map
/// item goes.
fn set_element(items: &mut Vec<Value>, element: Option<Value>, keys: &[String], values: &[String]) {
    let mapping_setter =
        !keys.is_empty() && !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
    let mut kept = Vec::with_capacity(items.len() + 1);
    let mut matched = false;
    for item in items.drain(..) {
        if item.is_null() || item.as_object().is_some_and(|m| m.is_empty()) {
            continue;
        }
        if !item.is_object() && mapping_setter {
            kept.push(item);
            continue;
        }
        // Go keeps the last field matched when there are more keys than values.
        let mut found = false;
        for (j, key) in keys.iter().enumerate() {
            if let Some(value) = values.get(j) {
                found = match item.get(key.as_str()) {
                    None => false,
                    Some(field) => value.is_empty() || raw_text(field) == *value,
                };
            }
            if !found {
                break;
            }
        }
        if !found {
            if !values.is_empty() {
                kept.push(item);
            }
            continue;
        }
        matched = true;
        if let Some(element) = &element {
            kept.push(element.clone());
        }
    }
    *items = kept;
    if let Some(element) = element.filter(|e| !e.is_null()) {
        if !matched {
            items.push(element);
        }
    }
}

/// A list merged by `keys`, as kyaml's walker merges an associative list with the
/// patch's items first: the key tuples of the patch's items and then the target's
/// each give one merged item, and then every item of the target is set into the result
/// again by its keys. Two quirks of kyaml's follow from that last step and are kept:
/// of target items sharing a key, the last one's content stands at the first one's
/// place; and keys the patch item lacks (a port's protocol) are taken from the
/// target, so the patch item may then match nothing.
fn merge_associative(
    mut dest: Vec<Value>,
    patch: Vec<Value>,
    keys: &[String],
    path: &mut Vec<String>,
    schema: &MergeSchema<'_>,
) -> Result<Vec<Value>> {
    let mut values_list: Vec<Vec<String>> = Vec::new();
    for item in patch.iter().chain(dest.iter()) {
        let values: Vec<String> = keys.iter().map(|k| key_text(item, k)).collect();
        if !values.is_empty() && !values_list.contains(&values) {
            values_list.push(values);
        }
    }
    if keys.len() > 1 {
        merge_values(&mut values_list);
    }
    if values_list.is_empty() {
        return Ok(dest);
    }
    let mut merged_items: Vec<Value> = Vec::new();
    let mut last_keys = keys.to_vec();
    for values in values_list.clone() {
        let (item_keys, item_values) = valid_keys(&values_list, &values, keys);
        last_keys.clone_from(&item_keys);
        // An item is looked up by the keys it has values for.
        let (match_keys, match_values) =
            valid_keys(std::slice::from_ref(&item_values), &item_values, &item_keys);
        let dest_index = find_element(&dest, &match_keys, &match_values);
        let patch_item = find_element(&patch, &match_keys, &match_values).map(|i| patch[i].clone());
        // kyaml merges into the target's item in place, except when the patch replaces it.
        let replaces = patch_item
            .as_ref()
            .and_then(|p| p.get(DIRECTIVE))
            .and_then(Value::as_str)
            == Some("replace");
        let dest_item = dest_index.map(|i| dest[i].clone());
        let merged = walk(dest_item, patch_item, path, schema)?;
        let mut merged = match merged {
            Some(value) if !value.is_null() && value.as_object().is_none_or(|m| !m.is_empty()) => {
                value
            }
            _ => {
                set_element(&mut dest, None, &item_keys, &item_values);
                continue;
            }
        };
        if let Value::Object(map) = &mut merged {
            for (key, value) in item_keys.iter().zip(&item_values) {
                if !map.contains_key(key.as_str()) && !value.is_empty() {
                    map.insert(key.clone(), crate::replacements::resolve_plain(value));
                }
            }
        }
        if let (Some(i), false) = (dest_index, replaces) {
            dest[i] = merged.clone();
        }
        set_element(&mut merged_items, Some(merged), &item_keys, &item_values);
    }
    // kyaml's appendListNode: the target's items set into the result by their keys.
    for item in dest {
        let mut values = Vec::new();
        for key in &last_keys {
            match item.get(key.as_str()) {
                None => merged_items.push(item.clone()),
                Some(field) => values.push(raw_text(field)),
            }
        }
        if last_keys.len() > 1 {
            set_element(&mut merged_items, None, &last_keys, &values);
        }
        set_element(&mut merged_items, Some(item), &last_keys, &values);
    }
    Ok(merged_items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment_schema() -> MergeSchema<'static> {
        MergeSchema::Builtin {
            api_version: "apps/v1",
            kind: "Deployment",
        }
    }

    fn merged(target: Value, patch: Value, schema: &MergeSchema<'_>) -> Value {
        merge(target, patch, schema).expect("merge").expect("kept")
    }

    #[test]
    fn containers_merge_by_name_with_patched_items_first() {
        // What kubectl kustomize prints for this patch: c, b, then a.
        let target = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            {"name": "b", "image": "b"}
        ]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "c"},
            {"name": "b", "image": "b2"},
            {"name": "a", "env": [{"name": "Z", "value": "3"}, {"name": "X", "value": "9"}]}
        ]}}}});
        let out = merged(target, patch, &deployment_schema());
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0], json!({"name": "c", "image": "c"}));
        assert_eq!(containers[1]["image"], "b2");
        assert_eq!(containers[2]["image"], "a");
        let env: Vec<_> = containers[2]["env"]
            .as_array()
            .expect("env")
            .iter()
            .map(|e| e["name"].clone())
            .collect();
        assert_eq!(env, [json!("Z"), json!("X"), json!("Y")]);
        assert_eq!(containers[2]["env"][1]["value"], "9");
    }

    #[test]
    fn custom_resource_lists_are_replaced() {
        let schema = MergeSchema::Builtin {
            api_version: "example.com/v1",
            kind: "Thing",
        };
        let out = merged(
            json!({"spec": {"items": [{"name": "a"}, {"name": "b", "v": 1}]}}),
            json!({"spec": {"items": [{"name": "b", "v": 2}]}}),
            &schema,
        );
        assert_eq!(out["spec"]["items"], json!([{"name": "b", "v": 2}]));
    }

    #[test]
    fn directives_delete_items_replace_lists_and_nulls_clear_fields() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
            "spec": {"template": {"spec": {
                "containers": [{"name": "a"}, {"name": "b"}],
                "volumes": [{"name": "v1"}, {"name": "v2"}]}}}});
        let patch = json!({"metadata": {"labels": {"a": null}},
            "spec": {"template": {"spec": {
                "containers": [{"name": "a", "$patch": "delete"}],
                "volumes": [{"$patch": "replace"}, {"name": "v3"}]}}}});
        let out = merged(target, patch, &deployment_schema());
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b"}])
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "v3"}])
        );
    }

    #[test]
    fn a_patch_can_delete_the_whole_object() {
        let out = merge(
            json!({"kind": "ConfigMap"}),
            json!({"$patch": "delete"}),
            &deployment_schema(),
        )
        .expect("merge");
        assert!(out.is_none());
    }
}
