//! Strategic merge patch (`application/strategic-merge-patch+json`), as the Kubernetes
//! API server applies it to built-in kinds (k8s.io/apimachinery `strategicpatch`).
//!
//! Maps merge key by key and `null` deletes a key. Lists declared `patchStrategy: merge`
//! merge item by item (by `patchMergeKey`) or as a set of scalars; every other list is
//! replaced. The patch may carry directives: `$patch: replace|delete` in maps and list
//! items, `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` and
//! `$retainKeys`.
//!
//! Ordering follows Kubernetes exactly, including its surprises: items a patch adds to
//! a merged list without `$setElementOrder` land *before* the existing items.

use serde_json::{Map, Value};

use crate::listmeta::{ListType, MergeMeta};

const DIRECTIVE: &str = "$patch";
const REPLACE: &str = "replace";
const DELETE: &str = "delete";
const MERGE: &str = "merge";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Why a strategic merge patch could not be applied. The messages are Kubernetes' own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategicPatchError {
    /// A malformed patch that Kubernetes answers with 400 Bad Request.
    #[error("{0}")]
    BadRequest(String),
    /// A patch Kubernetes answers with 422 Unprocessable Entity (lists of lists).
    #[error("{0}")]
    Unprocessable(String),
    /// Any other failure: Kubernetes passes these on unclassified, as 500 with the message.
    #[error("{0}")]
    Invalid(String),
}

impl StrategicPatchError {
    /// The HTTP status a Kubernetes API server answers this error with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unprocessable(_) => 422,
            Self::Invalid(_) => 500,
        }
    }

    fn bad_request(message: &str) -> Self {
        Self::BadRequest(message.to_owned())
    }
}

type Result<T> = std::result::Result<T, StrategicPatchError>;

/// Applies `patch` to `original` with the merge rules in `meta`, returning the result.
///
/// `meta` is asked for the strategic-merge-patch view ([`MergeMeta::patch_list_type`],
/// [`MergeMeta::patch_replaces_map`]). `$retainKeys` is honoured wherever it appears,
/// as Kubernetes does; [`MergeMeta::retains_keys`] only says where clients send it.
pub fn apply(original: &Value, patch: &Value, meta: &dyn MergeMeta) -> Result<Value> {
    let patch = match patch {
        Value::Object(patch) => patch.clone(),
        // Go decodes a `null` document into an empty map: nothing changes.
        Value::Null => Map::new(),
        _ => return Err(StrategicPatchError::bad_request("invalid JSON document")),
    };
    let original = match original {
        Value::Object(original) => original.clone(),
        Value::Null => Map::new(),
        _ => return Err(StrategicPatchError::bad_request("invalid JSON document")),
    };
    let patcher = Patcher { meta };
    let merged = patcher.merge_map(original, patch, &mut Vec::new())?;
    Ok(Value::Object(merged))
}

struct Patcher<'a> {
    meta: &'a dyn MergeMeta,
}

/// How list items are told apart when a merged list is ordered.
#[derive(Clone, Copy)]
enum Identity<'k> {
    /// Objects, by the value of their merge key.
    Key(&'k str),
    /// Scalars, by value.
    Whole,
}

impl Identity<'_> {
    fn of(self, item: &Value) -> Option<&Value> {
        match self {
            Identity::Key(key) => item.get(key),
            Identity::Whole => Some(item),
        }
    }
}

impl Patcher<'_> {
    fn patch_list_type(&self, path: &[String]) -> ListType {
        self.meta.patch_list_type(&as_strs(path))
    }

    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Map<String, Value>> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some(REPLACE) => {
                    patch.shift_remove(DIRECTIVE);
                    Ok(as_decoded_map(patch))
                }
                Some(DELETE) => Ok(Map::new()),
                _ => Err(unknown_patch_type(directive, &patch)),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_ordered_lists(&mut original, &mut patch, path)?;

        for (key, patch_value) in patch {
            let (field, is_delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                Some(rest) => match rest.strip_prefix('/') {
                    // `$deleteFromPrimitiveList/` names no field: nothing to do.
                    Some("") => continue,
                    Some(field) => (field.to_owned(), true),
                    None => {
                        return Err(StrategicPatchError::bad_request(
                            "invalid patch format of primitive list",
                        ))
                    }
                },
                None => (key, false),
            };
            // null deletes the field (for a deletion list, the list itself).
            if patch_value.is_null() {
                original.shift_remove(&field);
                continue;
            }
            let Some(current) = original.get_mut(&field) else {
                if !is_delete_list {
                    if let Some(value) = without_directives(patch_value) {
                        original.insert(field, value);
                    }
                }
                continue;
            };
            if ValueType::of(current) != ValueType::of(&patch_value) {
                if !is_delete_list {
                    match without_directives(patch_value) {
                        Some(value) => *current = value,
                        None => {
                            original.shift_remove(&field);
                        }
                    }
                }
                continue;
            }
            match (current, patch_value) {
                (Value::Object(current), Value::Object(patch_map)) => {
                    path.push(field);
                    let merged = if self.meta.patch_replaces_map(&as_strs(path)) {
                        as_decoded_map(patch_map)
                    } else {
                        self.merge_map(std::mem::take(current), patch_map, path)?
                    };
                    path.pop();
                    *current = merged;
                }
                (Value::Array(current), Value::Array(patch_list)) => {
                    path.push(field);
                    let list_type = self.patch_list_type(path);
                    let merged = self.merge_list_field(
                        std::mem::take(current),
                        patch_list,
                        &list_type,
                        is_delete_list,
                        path,
                    )?;
                    path.pop();
                    *current = merged.items;
                }
                (current, patch_value) => *current = patch_value,
            }
        }
        Ok(original)
    }

    /// Merges or replaces a list, by its declared strategy. Deletion lists always merge.
    fn merge_list_field(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        list_type: &ListType,
        is_delete_list: bool,
        path: &mut Vec<String>,
    ) -> Result<MergedList> {
        if is_delete_list || *list_type != ListType::Atomic {
            self.merge_list(original, patch, list_type, is_delete_list, path)
        } else {
            Ok(MergedList {
                original_view: original,
                items: patch.into_iter().map(as_decoded).collect(),
            })
        }
    }

    fn merge_list(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        list_type: &ListType,
        is_delete_list: bool,
        path: &mut Vec<String>,
    ) -> Result<MergedList> {
        if original.is_empty() && patch.is_empty() {
            return Ok(MergedList {
                items: Vec::new(),
                original_view: original,
            });
        }
        if element_type(&[&original, &patch])? != ValueType::Object {
            let items = if is_delete_list {
                original
                    .iter()
                    .filter(|item| !patch.iter().any(|gone| go_eq(item, gone)))
                    .cloned()
                    .collect()
            } else {
                let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
                for item in original.iter().chain(&patch) {
                    if !merged.iter().any(|seen| go_eq(seen, item)) {
                        merged.push(item.clone());
                    }
                }
                let (in_patch, server_only) = partition(merged, &patch, Identity::Whole)?;
                normalize_element_order(in_patch, server_only, &patch, &original, Identity::Whole)?
            };
            return Ok(MergedList {
                items,
                original_view: original,
            });
        }

        let Some(key) = merge_key(list_type) else {
            return Err(StrategicPatchError::Invalid(format!(
                "cannot merge lists without merge key for {}",
                path.join(".")
            )));
        };
        let mut view = AliasedView::new(original);
        let plain_patch = apply_list_directives(&mut view, patch, key)?;
        let remaining = view.current.clone();
        self.merge_items(&mut view, &plain_patch, key, path)?;
        let identity = Identity::Key(key);
        let (in_patch, server_only) = partition(view.current, &plain_patch, identity)?;
        let items =
            normalize_element_order(in_patch, server_only, &plain_patch, &remaining, identity)?;
        Ok(MergedList {
            items,
            original_view: view.original_view,
        })
    }

    /// Merges each patch item into the current item with the same key, or adds it.
    fn merge_items(
        &self,
        view: &mut AliasedView,
        patch: &[Value],
        key: &str,
        path: &mut Vec<String>,
    ) -> Result<()> {
        for item in patch {
            let Value::Object(item_map) = item else {
                return Err(bad_arg_type("map[string]interface {}", item));
            };
            let Some(key_value) = item_map.get(key) else {
                return Err(no_merge_key(item_map, key));
            };
            let found = view
                .current
                .iter()
                .position(|existing| existing.get(key).is_some_and(|v| go_eq(v, key_value)));
            match found {
                Some(index) => {
                    let existing = match std::mem::take(&mut view.current[index]) {
                        Value::Object(existing) => existing,
                        other => return Err(bad_arg_type("map[string]interface {}", &other)),
                    };
                    let merged = self.merge_map(existing, item_map.clone(), path)?;
                    view.set(index, Value::Object(merged));
                }
                None => view.push(as_decoded(item.clone())),
            }
        }
        Ok(())
    }

    /// Handles every `$setElementOrder/<field>` of `patch`: merges `<field>` (taking it out
    /// of the patch) and orders the result as the directive lists, keeping items only the
    /// server has near their old neighbours.
    fn merge_ordered_lists(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<()> {
        let directives: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
            .cloned()
            .collect();
        for directive in directives {
            let Some(order) = patch.shift_remove(&directive) else {
                continue;
            };
            let Value::Array(order) = order else {
                return Err(bad_arg_type("[]interface {}", &order));
            };
            let field = match directive
                .strip_prefix(SET_ELEMENT_ORDER)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                Some(field) => field.to_owned(),
                None => {
                    return Err(StrategicPatchError::bad_request(
                        "invalid patch format of setElementOrder list",
                    ))
                }
            };
            let original_list = list_at(original, &field)?;
            let patch_list = list_at(patch, &field)?;

            path.push(field.clone());
            let list_type = self.patch_list_type(path);
            let key = merge_key(&list_type);
            validate_order(patch_list.as_deref().unwrap_or_default(), &order, key)?;

            let sent_patch = patch_list.clone().unwrap_or_default();
            let stored = original_list.clone().unwrap_or_default();
            let merged = match (original_list, patch_list) {
                (None, None) => {
                    path.pop();
                    continue;
                }
                (Some(original_list), None) => MergedList {
                    items: original_list.clone(),
                    original_view: original_list,
                },
                (None, Some(patch_list)) => MergedList {
                    items: patch_list
                        .into_iter()
                        .filter_map(without_directives)
                        .collect(),
                    original_view: Vec::new(),
                },
                (Some(original_list), Some(patch_list)) => {
                    self.merge_list_field(original_list, patch_list, &list_type, false, path)?
                }
            };
            path.pop();
            let by_key = key.map_or(Identity::Whole, Identity::Key);
            let (in_order, server_only) = partition(merged.items, &order, by_key)?;
            // Kubernetes takes the element type from what was sent and stored, so an
            // empty list on both sides fails here.
            let identity = match element_type(&[&stored, &sent_patch])? {
                ValueType::Object => Identity::Key(key.unwrap_or_default()),
                _ => Identity::Whole,
            };
            let ordered = normalize_element_order(
                in_order,
                server_only,
                &order,
                &merged.original_view,
                identity,
            )?;
            original.insert(field.clone(), Value::Array(ordered));
            patch.shift_remove(&field);
        }
        Ok(())
    }
}

/// A merged list, and what the caller's view of the original list holds afterwards.
struct MergedList {
    items: Vec<Value>,
    /// Kubernetes edits the original slice in place while merging (deleting shifts items
    /// left, added items fill the freed slots), and `$setElementOrder` then orders
    /// server-only items by that edited view. Replaying it keeps the order identical.
    original_view: Vec<Value>,
}

/// The list being merged, with the in-place edits mirrored into the original's view.
struct AliasedView {
    current: Vec<Value>,
    original_view: Vec<Value>,
    /// Once replaced by `$patch: replace`, the list no longer shares the original's storage.
    detached: bool,
}

impl AliasedView {
    fn new(original: Vec<Value>) -> Self {
        Self {
            current: original.clone(),
            original_view: original,
            detached: false,
        }
    }

    fn mirror(&mut self, index: usize) {
        if self.detached {
            return;
        }
        if let (Some(slot), Some(value)) =
            (self.original_view.get_mut(index), self.current.get(index))
        {
            *slot = value.clone();
        }
    }

    /// Removing shifts the tail left; the last slot of the old length keeps its value.
    fn remove(&mut self, index: usize) {
        self.current.remove(index);
        for shifted in index..self.current.len() {
            self.mirror(shifted);
        }
    }

    fn set(&mut self, index: usize, value: Value) {
        self.current[index] = value;
        self.mirror(index);
    }

    fn push(&mut self, value: Value) {
        self.current.push(value);
        self.mirror(self.current.len() - 1);
    }

    fn replace_all(&mut self, items: Vec<Value>) {
        self.current = items;
        self.detached = true;
    }
}

fn as_strs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

fn merge_key(list_type: &ListType) -> Option<&str> {
    match list_type {
        ListType::Map { keys } => keys.first().map(String::as_str),
        ListType::Set | ListType::Atomic => None,
    }
}

/// The list under `field`, if the map has one; any other value there is an error.
fn list_at(map: &Map<String, Value>, field: &str) -> Result<Option<Vec<Value>>> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list.clone())),
        Some(other) => Err(bad_arg_type("[]interface {}", other)),
    }
}

/// `$retainKeys`: drops every original field the list does not name. The patch itself
/// may only set fields the list names.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retained) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retained) = retained else {
        return Err(StrategicPatchError::bad_request(
            "invalid patch format of retainKeys",
        ));
    };
    let is_retained = |key: &str| retained.iter().any(|k| k.as_str() == Some(key));
    let sets_unlisted_field = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            && !key.starts_with(SET_ELEMENT_ORDER)
            && !is_retained(key)
    });
    if sets_unlisted_field {
        return Err(StrategicPatchError::bad_request(
            "invalid patch format of retainKeys",
        ));
    }
    original.retain(|key, _| is_retained(key));
    Ok(())
}

/// Applies the `$patch` items of a merged list of objects: `delete` removes the current
/// items with that key, `replace` makes the other patch items the whole list. Returns the
/// patch items left to merge.
fn apply_list_directives(
    view: &mut AliasedView,
    patch: Vec<Value>,
    key: &str,
) -> Result<Vec<Value>> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(item_map) = &item else {
            return Err(bad_arg_type("map[string]interface {}", &item));
        };
        let Some(directive) = item_map.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => {
                let Some(doomed) = item_map.get(key) else {
                    return Err(no_merge_key(item_map, key));
                };
                while let Some(index) = view
                    .current
                    .iter()
                    .position(|existing| existing.get(key).is_some_and(|v| go_eq(v, doomed)))
                {
                    view.remove(index);
                }
            }
            // Other `$patch` items are still pruned, so keep going.
            Some(REPLACE) => replace = true,
            Some(MERGE) => {
                return Err(StrategicPatchError::Invalid(
                    "merging lists cannot yet be specified in the patch".to_owned(),
                ))
            }
            _ => return Err(unknown_patch_type(directive, item_map)),
        }
    }
    if replace {
        view.replace_all(plain.into_iter().map(as_decoded).collect());
        Ok(Vec::new())
    } else {
        Ok(plain)
    }
}

/// Checks that the patch list names its items in the same relative order as the
/// `$setElementOrder` list, and names no item that list leaves out.
fn validate_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<()> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let mut remaining: Vec<&Value> = Vec::with_capacity(patch.len());
    for item in patch {
        if key.is_some() {
            let Value::Object(item_map) = item else {
                return Err(bad_arg_type("map[string]interface {}", item));
            };
            if item_map.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
                continue;
            }
        }
        remaining.push(item);
    }
    let (mut in_patch, mut in_order) = (0, 0);
    while in_patch < remaining.len() && in_order < order.len() {
        let item = remaining[in_patch];
        if item.get(DIRECTIVE).is_some() {
            in_patch += 1;
            continue;
        }
        if same_item(item, &order[in_order], key)? {
            in_patch += 1;
        }
        in_order += 1;
    }
    if in_patch < remaining.len() {
        return Err(StrategicPatchError::Invalid(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_fmt_list(patch),
            go_fmt_list(order)
        )));
    }
    Ok(())
}

fn same_item(left: &Value, right: &Value, key: Option<&str>) -> Result<bool> {
    let Some(key) = key else {
        return Ok(go_eq(left, right));
    };
    let key_of = |item: &Value| -> Result<Value> {
        let Value::Object(map) = item else {
            return Err(bad_arg_type("map[string]interface {}", item));
        };
        map.get(key).cloned().ok_or_else(|| no_merge_key(map, key))
    };
    Ok(go_eq(&key_of(left)?, &key_of(right)?))
}

/// Splits `items` into those `reference` names and the rest, keeping their order.
fn partition(
    items: Vec<Value>,
    reference: &[Value],
    identity: Identity<'_>,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut named = Vec::new();
    let mut others = Vec::new();
    for item in items {
        if let Identity::Key(key) = identity {
            let Value::Object(map) = &item else {
                return Err(bad_arg_type("map[string]interface {}", &item));
            };
            if !map.contains_key(key) {
                return Err(no_merge_key(map, key));
            }
        }
        if index_of(reference, &item, identity).is_some() {
            named.push(item);
        } else {
            others.push(item);
        }
    }
    Ok((named, others))
}

fn index_of(list: &[Value], item: &Value, identity: Identity<'_>) -> Option<usize> {
    let wanted = identity.of(item);
    list.iter()
        .position(|candidate| match (identity.of(candidate), wanted) {
            (Some(a), Some(b)) => go_eq(a, b),
            (None, None) => true,
            _ => false,
        })
}

/// Orders `patch_items` as `patch_order` and `server_only` as `server_order`, then
/// interleaves them: a server-only item goes before a patch item only when both are in
/// `server_order` and it came first there. Patch items unknown to the server therefore
/// come first.
fn normalize_element_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    identity: Identity<'_>,
) -> Result<Vec<Value>> {
    if let Identity::Key(key) = identity {
        for item in patch_items
            .iter()
            .chain(patch_order)
            .chain(&server_only)
            .chain(server_order)
        {
            let Value::Object(map) = item else {
                return Err(bad_arg_type("map[string]interface {}", item));
            };
            if !map.contains_key(key) {
                return Err(no_merge_key(map, key));
            }
        }
    }
    let rank =
        |order: &[Value], item: &Value| index_of(order, item, identity).unwrap_or(usize::MAX);
    patch_items.sort_by_key(|item| rank(patch_order, item));
    server_only.sort_by_key(|item| rank(server_order, item));

    let mut merged = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut server_only = server_only.into_iter().peekable();
    let mut patch_items = patch_items.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), patch_items.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(server), Some(patch)) => {
                match (
                    index_of(server_order, server, identity),
                    index_of(server_order, patch, identity),
                ) {
                    (Some(s), Some(p)) => s < p,
                    _ => false,
                }
            }
        };
        let next = if take_server {
            server_only.next()
        } else {
            patch_items.next()
        };
        merged.extend(next);
    }
    Ok(merged)
}

/// The JSON type of a value, as Kubernetes' decoder distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueType {
    Null,
    Bool,
    Int,
    Float,
    String,
    Array,
    Object,
}

impl ValueType {
    fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(n) if n.is_f64() => Self::Float,
            Value::Number(_) => Self::Int,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }

    fn go_name(self) -> &'static str {
        match self {
            // What Go's `%s` makes of a nil type.
            Self::Null => "%!s(<nil>)",
            Self::Bool => "bool",
            Self::Int => "int64",
            Self::Float => "float64",
            Self::String => "string",
            Self::Array => "[]interface {}",
            Self::Object => "map[string]interface {}",
        }
    }
}

/// The one element type shared by the items of `lists`. Lists of lists and mixed lists
/// cannot be merged.
fn element_type(lists: &[&[Value]]) -> Result<ValueType> {
    let mut seen: Option<ValueType> = None;
    for item in lists.iter().flat_map(|list| list.iter()) {
        let this = ValueType::of(item);
        match seen {
            None if this == ValueType::Array => {
                return Err(StrategicPatchError::Unprocessable(
                    "lists of lists are not supported".to_owned(),
                ))
            }
            None => seen = Some(this),
            Some(previous) if previous != this => {
                let shown: Vec<String> = lists.iter().map(|l| go_fmt_list(l)).collect();
                return Err(StrategicPatchError::Invalid(format!(
                    "list element types are not identical: [{}]",
                    shown.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    seen.ok_or_else(|| {
        StrategicPatchError::Invalid("no elements in any of the given slices".to_owned())
    })
}

/// Equality as Go's `==` on decoded JSON. Kubernetes decodes whole numbers as int64 and
/// others as float64, so `80` and `80.0` differ, exactly as serde_json's numbers do.
fn go_eq(left: &Value, right: &Value) -> bool {
    left == right
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// A patch value taken where the original has nothing to merge with: nulls are dropped,
/// objects carrying `$patch` vanish (Kubernetes does this even for `$patch: replace`),
/// other directive keys are ignored.
fn without_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            let cleaned = map
                .into_iter()
                .filter(|(key, value)| !value.is_null() && !is_directive_key(key))
                .filter_map(|(key, value)| without_directives(value).map(|v| (key, v)))
                .collect();
            Some(Value::Object(cleaned))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(without_directives).collect(),
        )),
        other => Some(other),
    }
}

/// A patch value stored as sent (replaced lists, `$patch: replace` maps, new list items),
/// as it reads back once decoded into the typed object: directive keys and null fields
/// are gone.
fn as_decoded(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(as_decoded_map(map)),
        Value::Array(items) => Value::Array(items.into_iter().map(as_decoded).collect()),
        other => other,
    }
}

fn as_decoded_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(key, value)| !value.is_null() && !is_directive_key(key))
        .map(|(key, value)| (key, as_decoded(value)))
        .collect()
}

fn unknown_patch_type(directive: &Value, map: &Map<String, Value>) -> StrategicPatchError {
    let shown = match directive {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".to_owned(),
        other => format!("%!s({}={})", ValueType::of(other).go_name(), go_fmt(other)),
    };
    StrategicPatchError::Invalid(format!(
        "unknown patch type: {shown} in map: {}",
        go_fmt_map(map)
    ))
}

fn no_merge_key(map: &Map<String, Value>, key: &str) -> StrategicPatchError {
    StrategicPatchError::Invalid(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt_map(map)
    ))
}

fn bad_arg_type(expected: &str, actual: &Value) -> StrategicPatchError {
    StrategicPatchError::Invalid(format!(
        "expected a {expected}, but received a {}",
        ValueType::of(actual).go_name()
    ))
}

/// A value as Go's `%v` prints decoded JSON, for error messages.
fn go_fmt(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => go_fmt_list(items),
        Value::Object(map) => go_fmt_map(map),
    }
}

fn go_fmt_list(items: &[Value]) -> String {
    let shown: Vec<String> = items.iter().map(go_fmt).collect();
    format!("[{}]", shown.join(" "))
}

fn go_fmt_map(map: &Map<String, Value>) -> String {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let shown: Vec<String> = entries
        .into_iter()
        .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
        .collect();
    format!("map[{}]", shown.join(" "))
}

#[cfg(test)]
mod tests {
    //! Expected results were checked against Kubernetes' own implementation
    //! (`kubectl patch --local --type strategic`, k8s.io/apimachinery v0.32).
    use serde_json::json;

    use super::*;
    use crate::listmeta::builtin;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "labels": {"app": "web", "tier": "fe"},
                "finalizers": ["a/x", "b/y"],
            },
            "spec": {
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                    "spec": {
                        "containers": [
                            {"name": "app", "image": "nginx:1",
                             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                             "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]},
                            {"name": "side", "image": "busybox", "args": ["a", "b"]},
                        ],
                        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
                        "tolerations": [{"key": "k", "operator": "Exists"}],
                    },
                },
            },
        })
    }

    fn patch_deployment(patch: Value) -> Result<Value> {
        apply(&deployment(), &patch, &builtin("apps", "Deployment"))
    }

    fn patched(patch: Value) -> Value {
        patch_deployment(patch).expect("patch applies")
    }

    fn pod_spec(patch: Value) -> Value {
        json!({"spec": {"template": {"spec": patch}}})
    }

    fn containers(result: &Value) -> &Value {
        &result["spec"]["template"]["spec"]["containers"]
    }

    fn error_of(patch: Value) -> (u16, String) {
        let err = patch_deployment(patch).expect_err("patch is rejected");
        (err.status_code(), err.to_string())
    }

    #[test]
    fn env_var_added_to_one_container_keeps_the_others_and_goes_first() {
        let result = patched(pod_spec(json!({"containers": [
            {"name": "app", "env": [{"name": "C", "value": "3"}]}
        ]})));
        assert_eq!(
            containers(&result)[0]["env"],
            json!([{"name": "C", "value": "3"}, {"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(
            containers(&result)[1],
            deployment()["spec"]["template"]["spec"]["containers"][1]
        );
    }

    #[test]
    fn image_replaced_in_one_container_only() {
        let result = patched(pod_spec(
            json!({"containers": [{"name": "side", "image": "busybox:2"}]}),
        ));
        assert_eq!(containers(&result)[1]["image"], "busybox:2");
        assert_eq!(containers(&result)[1]["args"], json!(["a", "b"]));
        assert_eq!(
            containers(&result)[0],
            deployment()["spec"]["template"]["spec"]["containers"][0]
        );
        // Untouched fields, even null ones, stay as stored.
        assert_eq!(
            result["spec"]["template"]["metadata"]["creationTimestamp"],
            Value::Null
        );
    }

    #[test]
    fn container_deleted_with_patch_delete() {
        let result = patched(pod_spec(
            json!({"containers": [{"name": "side", "$patch": "delete"}]}),
        ));
        let names: Vec<&Value> = containers(&result)
            .as_array()
            .expect("list")
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(names, [&json!("app")]);
        // Deleting a container that is not there changes nothing.
        let result = patched(pod_spec(
            json!({"containers": [{"name": "nope", "$patch": "delete"}]}),
        ));
        assert_eq!(result, deployment());
    }

    #[test]
    fn added_container_lands_before_existing_ones() {
        let result = patched(pod_spec(json!({"containers": [
            {"name": "new", "image": "x"}, {"name": "side", "image": "z"}
        ]})));
        let names: Vec<&str> = containers(&result)
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["new", "app", "side"]);
    }

    #[test]
    fn container_list_replaced_with_patch_replace() {
        let result = patched(pod_spec(json!({"containers": [
            {"name": "only", "image": "x", "env": [{"name": "E", "value": null}]}, {"$patch": "replace"}
        ]})));
        assert_eq!(
            containers(&result),
            &json!([{"name": "only", "image": "x", "env": [{"name": "E"}]}])
        );
    }

    #[test]
    fn tolerations_are_replaced_not_merged() {
        let result = patched(pod_spec(
            json!({"tolerations": [{"key": "other", "operator": "Equal", "value": "v"}]}),
        ));
        assert_eq!(
            result["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "other", "operator": "Equal", "value": "v"}])
        );
    }

    #[test]
    fn labels_merge_and_null_deletes() {
        let result =
            patched(json!({"metadata": {"labels": {"new": "1", "tier": null, "gone": null}}}));
        assert_eq!(
            result["metadata"]["labels"],
            json!({"app": "web", "new": "1"})
        );
        let result = patched(json!({"spec": {"strategy": {"rollingUpdate": null}}}));
        assert_eq!(result["spec"]["strategy"], json!({"type": "RollingUpdate"}));
    }

    #[test]
    fn map_directives_replace_or_empty_the_map() {
        let result = patched(json!({"metadata": {"labels": {"$patch": "replace", "only": "x"}}}));
        assert_eq!(result["metadata"]["labels"], json!({"only": "x"}));
        let result = patched(json!({"spec": {"strategy": {"$patch": "delete"}}}));
        assert_eq!(result["spec"]["strategy"], json!({}));
    }

    #[test]
    fn new_field_carrying_a_directive_is_dropped_like_kubernetes_does() {
        let result = patched(pod_spec(
            json!({"securityContext": {"$patch": "replace", "runAsUser": 1}}),
        ));
        assert!(result["spec"]["template"]["spec"]
            .get("securityContext")
            .is_none());
    }

    #[test]
    fn bad_directives_fail_with_kubernetes_messages() {
        assert_eq!(
            error_of(json!({"metadata": {"labels": {"$patch": "merge", "x": "y"}}})),
            (
                500,
                "unknown patch type: merge in map: map[$patch:merge x:y]".to_owned()
            )
        );
        assert_eq!(
            error_of(pod_spec(json!({"containers": [{"$patch": "merge"}]}))),
            (
                500,
                "merging lists cannot yet be specified in the patch".to_owned()
            )
        );
        assert_eq!(
            error_of(pod_spec(
                json!({"containers": [{"name": "app", "$patch": "frob"}]})
            )),
            (
                500,
                "unknown patch type: frob in map: map[$patch:frob name:app]".to_owned()
            )
        );
        assert_eq!(
            error_of(pod_spec(json!({"containers": [{"image": "x"}]}))),
            (
                500,
                "map: map[image:x] does not contain declared merge key: name".to_owned()
            )
        );
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let result = patched(json!({"metadata": {"finalizers": ["c/z", "a/x"]}}));
        assert_eq!(
            result["metadata"]["finalizers"],
            json!(["c/z", "a/x", "b/y"])
        );
    }

    #[test]
    fn delete_from_primitive_list_removes_items_even_from_atomic_lists() {
        let result = patched(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/x"]}}));
        assert_eq!(result["metadata"]["finalizers"], json!(["b/y"]));
        let result = patched(pod_spec(json!({"containers": [
            {"name": "side", "$deleteFromPrimitiveList/args": ["a"]}
        ]})));
        assert_eq!(containers(&result)[1]["args"], json!(["b"]));
        // A missing list is not created.
        let result = patched(json!({"metadata": {"$deleteFromPrimitiveList/nothing": ["a"]}}));
        assert!(result["metadata"].get("nothing").is_none());
        assert_eq!(
            error_of(json!({"metadata": {"$deleteFromPrimitiveListX/finalizers": ["a"]}})),
            (400, "invalid patch format of primitive list".to_owned())
        );
    }

    #[test]
    fn set_element_order_reorders_and_places_new_items() {
        let result = patched(pod_spec(json!({
            "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}]
        })));
        assert_eq!(containers(&result)[0]["name"], "side");
        assert_eq!(containers(&result)[1]["name"], "app");

        let result = patched(pod_spec(json!({
            "$setElementOrder/containers": [{"name": "app"}, {"name": "new"}, {"name": "side"}],
            "containers": [{"name": "new", "image": "n"}],
        })));
        let names: Vec<&str> = containers(&result)
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["app", "new", "side"]);
    }

    #[test]
    fn set_element_order_with_deletions_keeps_server_items_where_kubernetes_does() {
        let original = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
            {"name": "D", "value": "oD"}, {"name": "H", "value": "oH"}, {"name": "B", "value": "oB"}
        ]}]}}}});
        let patch = pod_spec(json!({"containers": [{
            "name": "app",
            "$setElementOrder/env": [{"name": "D"}, {"name": "A"}, {"name": "G"}, {"name": "F"}],
            "env": [
                {"name": "B", "$patch": "delete"}, {"name": "D", "value": "pD"},
                {"name": "A", "value": "pA"}, {"name": "G", "value": "pG"}
            ],
        }]}));
        let result = apply(&original, &patch, &builtin("apps", "Deployment")).expect("applies");
        assert_eq!(
            containers(&result)[0]["env"],
            json!([
                {"name": "D", "value": "pD"}, {"name": "H", "value": "oH"},
                {"name": "A", "value": "pA"}, {"name": "G", "value": "pG"}
            ])
        );
    }

    #[test]
    fn set_element_order_must_match_the_patch_list() {
        let (status, message) = error_of(pod_spec(json!({
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [{"name": "side", "image": "n"}, {"name": "app", "image": "m"}],
        })));
        assert_eq!(status, 500);
        assert!(
            message.starts_with("The order in patch list:\n"),
            "{message}"
        );
        assert_eq!(
            error_of(json!({"metadata": {"$setElementOrderX/finalizers": ["a"]}})),
            (
                400,
                "invalid patch format of setElementOrder list".to_owned()
            )
        );
    }

    #[test]
    fn retain_keys_clears_fields_of_the_old_strategy() {
        let result =
            patched(json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}));
        assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            error_of(
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}})
            ),
            (400, "invalid patch format of retainKeys".to_owned())
        );
    }

    #[test]
    fn volume_source_switched_with_retain_keys() {
        let result = patched(pod_spec(json!({"volumes": [
            {"name": "cfg", "$retainKeys": ["name", "secret"], "secret": {"secretName": "s"}}
        ]})));
        assert_eq!(
            result["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "data", "emptyDir": {}}, {"name": "cfg", "secret": {"secretName": "s"}}])
        );
        // Without it both sources remain (and validation would reject the volume).
        let result = patched(pod_spec(
            json!({"volumes": [{"name": "cfg", "secret": {"secretName": "s"}}]}),
        ));
        assert_eq!(
            result["spec"]["template"]["spec"]["volumes"][1],
            json!({"name": "cfg", "configMap": {"name": "c"}, "secret": {"secretName": "s"}})
        );
    }

    #[test]
    fn container_ports_merge_by_container_port_alone() {
        let result = patched(pod_spec(json!({"containers": [
            {"name": "app", "ports": [{"containerPort": 80, "protocol": "UDP"}]}
        ]})));
        assert_eq!(
            containers(&result)[0]["ports"],
            json!([{"containerPort": 80, "protocol": "UDP"}, {"containerPort": 443}])
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {
            "selector": {"app": "a"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "dns", "port": 53, "protocol": "UDP"}],
        }});
        let meta = builtin("", "Service");
        let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443, "name": "https"}]}});
        let result = apply(&service, &patch, &meta).expect("applies");
        assert_eq!(
            result["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "targetPort": 9090},
                {"port": 443, "name": "https"},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ])
        );
        let patch = json!({"spec": {"ports": [{"port": 53, "$patch": "delete"}]}});
        let result = apply(&service, &patch, &meta).expect("applies");
        assert_eq!(
            result["spec"]["ports"],
            json!([{"name": "http", "port": 80, "targetPort": 8080}])
        );
    }

    #[test]
    fn pdb_selector_is_replaced_whole() {
        let pdb =
            json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "1", "b": "2"}}}});
        let patch = json!({"spec": {"selector": {"matchLabels": {"c": "3"}}}});
        let result =
            apply(&pdb, &patch, &builtin("policy", "PodDisruptionBudget")).expect("applies");
        assert_eq!(
            result["spec"],
            json!({"minAvailable": 1, "selector": {"matchLabels": {"c": "3"}}})
        );
    }

    #[test]
    fn service_account_secrets_merge_but_image_pull_secrets_are_replaced() {
        let account = json!({"secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "x"}]});
        let patch = json!({"secrets": [{"name": "b"}], "imagePullSecrets": [{"name": "y"}]});
        let result = apply(&account, &patch, &builtin("", "ServiceAccount")).expect("applies");
        assert_eq!(
            result,
            json!({"secrets": [{"name": "b"}, {"name": "a"}], "imagePullSecrets": [{"name": "y"}]})
        );
    }

    #[test]
    fn status_conditions_merge_by_type() {
        let job = json!({"status": {"conditions": [{"type": "Complete", "status": "False"}]}});
        let patch = json!({"status": {"conditions": [
            {"type": "Failed", "status": "True"}, {"type": "Complete", "status": "True"}
        ]}});
        let result = apply(&job, &patch, &builtin("batch", "Job")).expect("applies");
        assert_eq!(
            result["status"]["conditions"],
            json!([{"type": "Failed", "status": "True"}, {"type": "Complete", "status": "True"}])
        );
    }

    #[test]
    fn rbac_rules_are_replaced() {
        let role = json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        let patch =
            json!({"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]});
        let result =
            apply(&role, &patch, &builtin("rbac.authorization.k8s.io", "Role")).expect("applies");
        assert_eq!(result, patch);
    }

    #[test]
    fn malformed_lists_are_rejected() {
        let empty = json!({"metadata": {"finalizers": []}});
        let err = apply(
            &empty,
            &json!({"metadata": {"finalizers": [["a"]]}}),
            &builtin("", "Pod"),
        )
        .expect_err("lists of lists");
        assert_eq!(
            (err.status_code(), err.to_string().as_str()),
            (422, "lists of lists are not supported")
        );
        assert_eq!(
            error_of(json!({"metadata": {"finalizers": ["a", 1]}})),
            (
                500,
                "list element types are not identical: [[a/x b/y] [a 1]]".to_owned()
            )
        );
    }

    #[test]
    fn whole_document_edge_cases() {
        assert_eq!(patched(Value::Null), deployment());
        assert_eq!(
            error_of(json!([1])),
            (400, "invalid JSON document".to_owned())
        );
        let result = patched(json!({"spec": {"strategy": "x", "paused": true}}));
        assert_eq!(result["spec"]["strategy"], "x");
        assert_eq!(result["spec"]["paused"], true);
    }
}
