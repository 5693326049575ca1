//! Server-side apply and `metadata.managedFields`: which manager owns which field,
//! merging an applied configuration into the live object, and conflicts.
//!
//! Ownership follows structured-merge-diff, the library kube-apiserver uses: a field set
//! is a tree of path elements (`f:<field>`, `k:<json keys>` for list-map items,
//! `v:<json value>` for set items, `i:<index>`), and a node can be a member of the set
//! itself (written `.` in FieldsV1 when it also has members below it).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::listmeta::{ListType, MergeMeta};

/// The manager Kubernetes credits with the content of an object nobody owned yet when
/// the first apply arrives.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";
/// The manager into which the oldest `Update` entries are folded past the cap.
const ANCIENT_CHANGES: &str = "ancient-changes";
/// How many `Update` entries Kubernetes keeps before folding the oldest ones.
const MAX_UPDATE_MANAGERS: usize = 10;
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// kube-apiserver's limit on the total size of an object's annotations.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Fields the real server never records as owned (its "strip meta" list). Removing them
/// from a set drops only these exact members: `metadata.labels` stays owned.
const UNTRACKED_FIELDS: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "creationTimestamp"],
    &["metadata", "selfLink"],
    &["metadata", "uid"],
    &["metadata", "clusterName"],
    &["metadata", "generation"],
    &["metadata", "managedFields"],
    &["metadata", "resourceVersion"],
];

/// Fields that Go always serializes in built-in kinds (non-pointer structs, and slices
/// without `omitempty`, which come out as null), so kube-apiserver sees them as present
/// on both sides of an update even when the JSON omits them. Without this, a create would
/// mark `spec` or `containers` itself as owned (`.`), which the real server does only for
/// custom resources.
const GO_ALWAYS_SERIALIZED: &[(&[&str], GoZero)] = &[
    (&["metadata"], GoZero::Struct),
    (&["spec"], GoZero::Struct),
    (&["status"], GoZero::Struct),
    (&["spec", "containers"], GoZero::Null),
    (&["spec", "template"], GoZero::Struct),
    (&["spec", "template", "metadata"], GoZero::Struct),
    (&["spec", "template", "spec"], GoZero::Struct),
    (&["spec", "template", "spec", "containers"], GoZero::Null),
    (&["spec", "strategy"], GoZero::Struct),
    (&["spec", "updateStrategy"], GoZero::Struct),
    (&["spec", "jobTemplate"], GoZero::Struct),
    (&["spec", "jobTemplate", "metadata"], GoZero::Struct),
    (&["spec", "jobTemplate", "spec"], GoZero::Struct),
    (&["spec", "jobTemplate", "spec", "template"], GoZero::Struct),
    (
        &["spec", "jobTemplate", "spec", "template", "metadata"],
        GoZero::Struct,
    ),
    (
        &["spec", "jobTemplate", "spec", "template", "spec"],
        GoZero::Struct,
    ),
    (
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ],
        GoZero::Null,
    ),
    (&["status", "loadBalancer"], GoZero::Struct),
];

/// How Go serializes an unset field.
#[derive(Debug, Clone, Copy)]
enum GoZero {
    Struct,
    Null,
}

/// The kind of write a managedFields entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    /// The field in Kubernetes' notation, e.g. `.spec.replicas` or
    /// `.spec.template.spec.containers[name="app"].image`.
    pub field: String,
    /// The operation of the other manager's entry.
    pub operation: Operation,
    /// The apiVersion of the other manager's entry.
    pub api_version: String,
    /// The subresource the other manager wrote through (`scale`, `status`), if any.
    pub subresource: Option<String>,
}

impl Conflict {
    /// The manager as Kubernetes names it in conflict messages:
    /// `"kubectl" with subresource "scale" using apps/v1`, or `"helm"` for an applier.
    pub fn manager_description(&self) -> String {
        let mut description = go_quote(&self.manager);
        if let Some(subresource) = &self.subresource {
            description.push_str(&format!(" with subresource {}", go_quote(subresource)));
        }
        if self.operation == Operation::Update {
            description.push_str(&format!(" using {}", self.api_version));
        }
        description
    }

    /// The manager identifier Kubernetes sorts conflicts by.
    fn identifier(&self) -> String {
        manager_identifier(
            &self.manager,
            self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }
}

/// The message of the 409 Conflict Status kube-apiserver returns for a refused apply,
/// e.g. `Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [conflict] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflict.manager_description(),
            conflict.field
        );
    }
    let mut by_manager: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for conflict in conflicts {
        by_manager
            .entry(conflict.identifier())
            .or_insert_with(|| (conflict.manager_description(), Vec::new()))
            .1
            .push(&conflict.field);
    }
    let mut lines = Vec::new();
    for (description, fields) in by_manager.values() {
        lines.push(format!("conflicts with {description}:"));
        lines.extend(fields.iter().map(|field| format!("- {field}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The `details.causes` of that 409 Status, one per conflicting field.
pub fn conflict_causes(conflicts: &[Conflict]) -> Vec<Value> {
    conflicts
        .iter()
        .map(|conflict| {
            serde_json::json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", conflict.manager_description()),
                "field": conflict.field,
            })
        })
        .collect()
}

/// Why an apply did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Another manager owns fields this apply would change (HTTP 409).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration cannot be applied (HTTP 400/422), e.g. duplicate list keys.
    #[error("{0}")]
    Invalid(String),
}

/// Server-side apply of `applied` by `manager` onto `live` (None when the object does
/// not exist yet). Returns the new object with updated `metadata.managedFields`.
///
/// `live` is the stored object including its managedFields; `now` is an RFC 3339 UTC
/// time with seconds (`2024-05-01T10:00:00Z`), as Kubernetes writes `time`. The result
/// is the merge only: server-set metadata, defaults and status resets are the caller's.
/// For kinds with a status subresource, pass `applied` without `status` (the real server
/// ignores it there, and the applier must not come to own it). When `live` has no
/// managedFields at all, its content is credited to [`BEFORE_FIRST_APPLY`] first.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    meta: &dyn MergeMeta,
    now: &str,
) -> Result<Value, ApplyError> {
    apply_impl(live, applied, manager, None, force, meta, now)
}

/// Server-side apply through a subresource (`kubectl apply --subresource=status`): the
/// manager's entry carries `subresource`.
pub fn apply_subresource(
    live: &Value,
    applied: &Value,
    manager: &str,
    subresource: &str,
    force: bool,
    meta: &dyn MergeMeta,
    now: &str,
) -> Result<Value, ApplyError> {
    apply_impl(
        Some(live),
        applied,
        manager,
        Some(subresource),
        force,
        meta,
        now,
    )
}

/// Records an ordinary write (create, update, patch) by `manager` in
/// `new.metadata.managedFields`: the fields it changed become its own (operation
/// `Update`), and other managers lose them.
///
/// The entries to start from are those in `new` when the client sent some (a patch or a
/// PUT carries them; this is how clients rewrite ownership), else those of `old`.
/// `[]` or `[{}]` in `new` clears them, and an existing object without entries stays
/// untracked, as in Kubernetes. Call it after defaulting and after resetting status.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    meta: &dyn MergeMeta,
    now: &str,
) {
    record_update_impl(old, new, manager, None, meta, now);
}

/// Records a write through a subresource (`status`, `scale`): like [`record_update`], but
/// the entry carries `subresource`, and managedFields sent in the request are ignored.
pub fn record_subresource_update(
    old: &Value,
    new: &mut Value,
    manager: &str,
    subresource: &str,
    meta: &dyn MergeMeta,
    now: &str,
) {
    record_update_impl(Some(old), new, manager, Some(subresource), meta, now);
}

fn apply_impl(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    subresource: Option<&str>,
    force: bool,
    meta: &dyn MergeMeta,
    now: &str,
) -> Result<Value, ApplyError> {
    let schema = Schema { meta };
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".to_owned(),
        ));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".to_owned(),
        ));
    }
    let api_version = api_version_of(Some(applied))
        .or_else(|| api_version_of(live))
        .unwrap_or_default();

    let mut entries = live.map(decode_entries).unwrap_or_default();
    let live_object = live
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    if live.is_some() && entries.is_empty() {
        // Nobody has claimed this object yet; its content is credited to a placeholder
        // manager so that this apply conflicts with it instead of silently taking over.
        let fields = schema.update_fields(&Value::Object(Map::new()), &live_object);
        if !fields.is_empty() {
            entries.push(Entry {
                manager: BEFORE_FIRST_APPLY.to_owned(),
                operation: Operation::Update,
                api_version: api_version_of(live).unwrap_or_else(|| api_version.clone()),
                time: Some(now.to_owned()),
                subresource: None,
                fields,
            });
        }
    }

    let config_fields = schema.field_set_of(applied).map_err(ApplyError::Invalid)?;
    let mut merged = schema
        .merge_at(Some(&live_object), applied, &mut Vec::new())
        .map_err(ApplyError::Invalid)?
        .unwrap_or_else(|| Value::Object(Map::new()));
    let own = entries
        .iter()
        .position(|e| e.is(manager, Operation::Apply, &api_version, subresource));

    // Fields the applier applied last time and dropped now go away, unless someone
    // (including this very config) still owns them.
    if let Some(own) = own {
        let mut owned = config_fields.clone();
        for (index, entry) in entries.iter().enumerate() {
            if index != own {
                owned.union_with(&entry.fields);
            }
        }
        let to_remove = entries[own]
            .fields
            .with_fields_as_members()
            .difference(&owned.with_fields_as_members());
        schema.remove_items(&mut merged, &to_remove, &mut Vec::new());
    }

    let comparison = schema.compare(&live_object, &merged);
    let changed = comparison.modified.union(&comparison.added);
    let conflicts: Vec<(usize, FieldSet)> = entries
        .iter()
        .enumerate()
        .filter(|(index, _)| Some(*index) != own)
        .map(|(index, entry)| (index, entry.fields.intersection(&changed)))
        .filter(|(_, set)| !set.is_empty())
        .collect();
    if !conflicts.is_empty() && !force {
        // kubectl upgrading an object from client-side apply: fields whose live value
        // still matches the last-applied annotation were kubectl's, so they transfer.
        let forgiven = manager == "kubectl"
            && schema
                .fields_from_last_applied(&live_object, &api_version)
                .is_some_and(|allowed| {
                    conflicts
                        .iter()
                        .all(|(_, set)| set.difference(&allowed).is_empty())
                });
        if !forgiven {
            return Err(ApplyError::Conflicts(describe_conflicts(
                &entries, &conflicts,
            )));
        }
    }
    for (index, set) in &conflicts {
        entries[*index].fields = entries[*index].fields.difference(set);
    }
    for (index, entry) in entries.iter_mut().enumerate() {
        if Some(index) != own {
            entry.fields = entry.fields.difference(&comparison.removed);
        }
    }

    let new_fields = without_untracked(&config_fields);
    let object_changed = merged != live_object;
    match own {
        Some(own) => {
            let entry = &mut entries[own];
            if object_changed || entry.fields != new_fields || entry.api_version != api_version {
                entry.time = Some(now.to_owned());
            }
            entry.fields = new_fields;
            entry.api_version = api_version;
        }
        None => entries.push(Entry {
            manager: manager.to_owned(),
            operation: Operation::Apply,
            api_version,
            time: Some(now.to_owned()),
            subresource: subresource.map(str::to_owned),
            fields: new_fields,
        }),
    }

    if manager == "kubectl" {
        sync_last_applied(&mut merged, applied);
    }
    write_entries(&mut merged, finish_entries(entries));
    Ok(merged)
}

fn record_update_impl(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    meta: &dyn MergeMeta,
    now: &str,
) {
    let schema = Schema { meta };
    let mut entries = if subresource.is_some() {
        old.map(decode_entries).unwrap_or_default()
    } else {
        match new.pointer("/metadata/managedFields") {
            // `[]` or `[{}]` is how a client clears managedFields on purpose.
            Some(Value::Array(list))
                if list.is_empty()
                    || (list.len() == 1 && list[0].as_object().is_some_and(Map::is_empty)) =>
            {
                Vec::new()
            }
            _ => {
                let sent = decode_entries(new);
                if sent.is_empty() {
                    old.map(decode_entries).unwrap_or_default()
                } else {
                    sent
                }
            }
        }
    };
    remove_managed_fields(new);
    // Kubernetes does not start tracking an existing object on an ordinary update.
    if entries.is_empty() && old.is_some() {
        return;
    }

    let old_object = old
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let comparison = schema.compare(
        &with_go_zero_fields(&old_object, new),
        &with_go_zero_fields(new, new),
    );
    let changed = comparison.modified.union(&comparison.added);
    for entry in &mut entries {
        entry.fields = entry
            .fields
            .difference(&changed)
            .difference(&comparison.removed);
    }
    let gained = without_untracked(&changed.difference(&comparison.removed));
    if !gained.is_empty() {
        let api_version = api_version_of(Some(new))
            .or_else(|| api_version_of(old))
            .unwrap_or_default();
        match entries
            .iter_mut()
            .find(|e| e.is(manager, Operation::Update, &api_version, subresource))
        {
            Some(entry) => {
                entry.fields.union_with(&gained);
                entry.time = Some(now.to_owned());
            }
            None => entries.push(Entry {
                manager: manager.to_owned(),
                operation: Operation::Update,
                api_version,
                time: Some(now.to_owned()),
                subresource: subresource.map(str::to_owned),
                fields: gained,
            }),
        }
    }
    write_entries(new, finish_entries(entries));
}

// ---------------------------------------------------------------------------------------
// Field sets

/// A set of field paths, as a tree keyed by encoded path elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldSet {
    /// Whether the path leading here is itself in the set.
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    fn insert(&mut self, path: &[String]) {
        let mut node = self;
        for element in path {
            node = node.children.entry(element.clone()).or_default();
        }
        node.member = true;
    }

    fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (element, child) in &other.children {
            self.children
                .entry(element.clone())
                .or_default()
                .union_with(child);
        }
    }

    fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// The members of `self` that are not members of `other`.
    fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            let rest = match other.children.get(element) {
                Some(other_child) => child.difference(other_child),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(element.clone(), rest);
            }
        }
        out
    }

    fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            if let Some(other_child) = other.children.get(element) {
                let common = child.intersection(other_child);
                if !common.is_empty() {
                    out.children.insert(element.clone(), common);
                }
            }
        }
        out
    }

    /// Marks every field with members below it as a member too: owning anything inside
    /// a field means owning the field, which keeps it from being pruned.
    fn with_fields_as_members(&self) -> FieldSet {
        FieldSet {
            member: self.member,
            children: self
                .children
                .iter()
                .map(|(element, child)| {
                    let mut child_out = child.with_fields_as_members();
                    if element.starts_with("f:") && !child.children.is_empty() {
                        child_out.member = true;
                    }
                    (element.clone(), child_out)
                })
                .collect(),
        }
    }

    /// Every member path, members of a level before what lies below it (the order in
    /// which Kubernetes lists conflicts).
    fn member_paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect_member_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_member_paths(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for (element, child) in &self.children {
            if child.member {
                let mut path = prefix.clone();
                path.push(element.clone());
                out.push(path);
            }
        }
        for (element, child) in &self.children {
            if !child.children.is_empty() {
                prefix.push(element.clone());
                child.collect_member_paths(prefix, out);
                prefix.pop();
            }
        }
    }

    /// The FieldsV1 encoding: `{}` for a member leaf, `".": {}` for a member with
    /// members below it.
    fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            map.insert(element.clone(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    fn from_fields_v1(value: &Value) -> Option<FieldSet> {
        let mut set = FieldSet::default();
        for (element, child) in value.as_object()? {
            if element == "." {
                set.member = true;
                continue;
            }
            let mut child_set = FieldSet::from_fields_v1(child)?;
            if child_set.children.is_empty() {
                child_set.member = true;
            }
            set.children.insert(element.clone(), child_set);
        }
        Some(set)
    }
}

fn field_element(name: &str) -> String {
    format!("f:{name}")
}

fn untracked_set() -> FieldSet {
    let mut set = FieldSet::default();
    for path in UNTRACKED_FIELDS {
        let path: Vec<String> = path.iter().map(|name| field_element(name)).collect();
        set.insert(&path);
    }
    set
}

fn without_untracked(set: &FieldSet) -> FieldSet {
    set.difference(&untracked_set())
}

/// A path in Kubernetes' notation: `.spec.containers[name="app"].ports[containerPort=80,protocol="TCP"]`.
fn path_string(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(keys) = element.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
            let parts: Vec<String> = keys
                .iter()
                .map(|(name, value)| format!("{name}={}", value_string(value)))
                .collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            let value: Value = serde_json::from_str(value).unwrap_or(Value::Null);
            out.push_str(&format!("[={}]", value_string(&value)));
        } else if let Some(index) = element.strip_prefix("i:") {
            out.push_str(&format!("[{index}]"));
        }
    }
    out
}

fn value_string(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        other => other.to_string(),
    }
}

/// Go's `%q`, close enough for manager names and field values.
fn go_quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

// ---------------------------------------------------------------------------------------
// Walking objects with their merge metadata

/// How a value at some path is merged and tracked.
enum Shape<'v> {
    /// Compared and owned as a whole: scalars, null, atomic lists and maps.
    Leaf,
    Map(&'v Map<String, Value>),
    List(&'v [Value], ListType),
}

#[derive(Debug, Default)]
struct Comparison {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

struct Schema<'m> {
    meta: &'m dyn MergeMeta,
}

impl Schema<'_> {
    fn list_type(&self, names: &[String]) -> ListType {
        let path: Vec<&str> = names.iter().map(String::as_str).collect();
        match self.meta.list_type(&path) {
            // A keyed list without keys can only be a set of values.
            ListType::Map { keys } if keys.is_empty() => ListType::Set,
            other => other,
        }
    }

    fn map_is_atomic(&self, names: &[String]) -> bool {
        if names.is_empty() {
            return false;
        }
        let path: Vec<&str> = names.iter().map(String::as_str).collect();
        self.meta.map_is_atomic(&path)
    }

    fn shape<'v>(&self, value: &'v Value, names: &[String]) -> Shape<'v> {
        match value {
            Value::Object(map) if !self.map_is_atomic(names) => Shape::Map(map),
            Value::Array(items) => match self.list_type(names) {
                ListType::Atomic => Shape::Leaf,
                list_type => Shape::List(items, list_type),
            },
            _ => Shape::Leaf,
        }
    }

    /// The set of fields a configuration specifies (what an applier comes to own).
    fn field_set_of(&self, value: &Value) -> Result<FieldSet, String> {
        let mut set = FieldSet::default();
        self.collect_fields(value, &mut Vec::new(), &mut Vec::new(), &mut set)?;
        Ok(set)
    }

    fn collect_fields(
        &self,
        value: &Value,
        names: &mut Vec<String>,
        path: &mut Vec<String>,
        set: &mut FieldSet,
    ) -> Result<(), String> {
        match self.shape(value, names) {
            Shape::Leaf => {
                if !path.is_empty() {
                    set.insert(path);
                }
            }
            Shape::Map(map) => {
                for (key, child) in map {
                    names.push(key.clone());
                    path.push(field_element(key));
                    self.collect_fields(child, names, path, set)?;
                    // An empty map says "this exists" and is owned as such.
                    if child.as_object().is_some_and(Map::is_empty) {
                        set.insert(path);
                    }
                    names.pop();
                    path.pop();
                }
            }
            Shape::List(items, list_type) => {
                let mut seen = HashSet::new();
                for (index, item) in items.iter().enumerate() {
                    let element = checked_item_element(&list_type, item, index, path)?;
                    if !seen.insert(element.clone()) {
                        return Err(format!(
                            "{}: duplicate entries for key {}",
                            path_string(path),
                            path_string(std::slice::from_ref(&element))
                        ));
                    }
                    path.push(element);
                    self.collect_fields(item, names, path, set)?;
                    set.insert(path);
                    path.pop();
                }
            }
        }
        Ok(())
    }

    /// What changed between two versions of an object: leaves that changed value, and
    /// every node (leaf or not) that appeared or disappeared.
    fn compare(&self, old: &Value, new: &Value) -> Comparison {
        let mut comparison = Comparison::default();
        self.compare_at(
            Some(old),
            Some(new),
            &mut Vec::new(),
            &mut Vec::new(),
            &mut comparison,
        );
        comparison
    }

    fn compare_at(
        &self,
        old: Option<&Value>,
        new: Option<&Value>,
        names: &mut Vec<String>,
        path: &mut Vec<String>,
        comparison: &mut Comparison,
    ) {
        enum Pair<'v> {
            Leaf,
            Maps(
                Option<&'v Map<String, Value>>,
                Option<&'v Map<String, Value>>,
            ),
            Lists(Option<&'v [Value]>, Option<&'v [Value]>, ListType),
        }
        let empty_map = Map::new();
        let old_is_null = old.is_some_and(Value::is_null);
        let new_is_null = new.is_some_and(Value::is_null);
        let pair = match (
            old.map(|v| self.shape(v, names)),
            new.map(|v| self.shape(v, names)),
        ) {
            (Some(Shape::Map(a)), Some(Shape::Map(b))) => Pair::Maps(Some(a), Some(b)),
            (Some(Shape::Map(a)), None) => Pair::Maps(Some(a), None),
            (None, Some(Shape::Map(b))) => Pair::Maps(None, Some(b)),
            (Some(Shape::List(a, list_type)), Some(Shape::List(b, _))) => {
                Pair::Lists(Some(a), Some(b), list_type)
            }
            (Some(Shape::List(a, list_type)), None) => Pair::Lists(Some(a), None, list_type),
            (None, Some(Shape::List(b, list_type))) => Pair::Lists(None, Some(b), list_type),
            // A null facing a map or list is an empty one that is present, as Go's nil
            // maps and slices are.
            (Some(Shape::Leaf), Some(Shape::Map(b))) if old_is_null => {
                Pair::Maps(Some(&empty_map), Some(b))
            }
            (Some(Shape::Map(a)), Some(Shape::Leaf)) if new_is_null => {
                Pair::Maps(Some(a), Some(&empty_map))
            }
            (Some(Shape::Leaf), Some(Shape::List(b, list_type))) if old_is_null => {
                Pair::Lists(Some(&[]), Some(b), list_type)
            }
            (Some(Shape::List(a, list_type)), Some(Shape::Leaf)) if new_is_null => {
                Pair::Lists(Some(a), Some(&[]), list_type)
            }
            _ => Pair::Leaf,
        };
        // Empty or absent on both sides compares as a leaf, keeping `{}` apart from absent.
        let pair = match pair {
            Pair::Maps(a, b) if a.is_none_or(Map::is_empty) && b.is_none_or(Map::is_empty) => {
                Pair::Leaf
            }
            Pair::Lists(a, b, _)
                if a.is_none_or(<[Value]>::is_empty) && b.is_none_or(<[Value]>::is_empty) =>
            {
                Pair::Leaf
            }
            other => other,
        };
        match pair {
            Pair::Leaf => {
                if path.is_empty() {
                    return;
                }
                match (old, new) {
                    (None, Some(_)) => comparison.added.insert(path),
                    (Some(_), None) => comparison.removed.insert(path),
                    (Some(a), Some(b)) if a != b => comparison.modified.insert(path),
                    _ => {}
                }
                return;
            }
            Pair::Maps(a, b) => {
                let empty = Map::new();
                let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
                let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
                for key in keys {
                    names.push(key.clone());
                    path.push(field_element(key));
                    self.compare_at(a.get(key), b.get(key), names, path, comparison);
                    names.pop();
                    path.pop();
                }
            }
            Pair::Lists(a, b, list_type) => {
                let a = index_items(&list_type, a.unwrap_or_default());
                let b = index_items(&list_type, b.unwrap_or_default());
                let b_lookup: HashMap<&str, &Value> =
                    b.iter().map(|(e, v)| (e.as_str(), *v)).collect();
                let a_lookup: HashMap<&str, &Value> =
                    a.iter().map(|(e, v)| (e.as_str(), *v)).collect();
                let elements = a.iter().map(|(e, _)| e).chain(
                    b.iter()
                        .map(|(e, _)| e)
                        .filter(|e| !a_lookup.contains_key(e.as_str())),
                );
                for element in elements {
                    path.push(element.clone());
                    self.compare_at(
                        a_lookup.get(element.as_str()).copied(),
                        b_lookup.get(element.as_str()).copied(),
                        names,
                        path,
                        comparison,
                    );
                    path.pop();
                }
            }
        }
        if !path.is_empty() {
            if old.is_none() {
                comparison.added.insert(path);
            } else if new.is_none() {
                comparison.removed.insert(path);
            }
        }
    }

    /// The fields an Update writer comes to own going from `old` to `new`.
    fn update_fields(&self, old: &Value, new: &Value) -> FieldSet {
        let comparison = self.compare(
            &with_go_zero_fields(old, new),
            &with_go_zero_fields(new, new),
        );
        without_untracked(
            &comparison
                .modified
                .union(&comparison.added)
                .difference(&comparison.removed),
        )
    }

    /// Merges an applied configuration into a live value: maps key by key, keyed lists
    /// item by item, sets by value; atomic values and scalars are replaced. A `null`
    /// in the configuration clears the field (None).
    fn merge_at(
        &self,
        live: Option<&Value>,
        applied: &Value,
        names: &mut Vec<String>,
    ) -> Result<Option<Value>, String> {
        if applied.is_null() {
            return Ok(None);
        }
        match (
            live.map(|v| self.shape(v, names)),
            self.shape(applied, names),
        ) {
            (Some(Shape::Map(live_map)), Shape::Map(applied_map)) => {
                let mut out = live_map.clone();
                for (key, value) in applied_map {
                    names.push(key.clone());
                    let merged = self.merge_at(live_map.get(key), value, names)?;
                    names.pop();
                    match merged {
                        Some(merged) => {
                            out.insert(key.clone(), merged);
                        }
                        None => {
                            out.shift_remove(key);
                        }
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            (Some(Shape::List(live_items, list_type)), Shape::List(applied_items, _))
                if !live_items.is_empty() && !applied_items.is_empty() =>
            {
                let merged = self.merge_list(live_items, applied_items, &list_type, names)?;
                Ok(Some(Value::Array(merged)))
            }
            _ => Ok(Some(without_nulls(applied))),
        }
    }

    /// Merges keyed or set lists. Items only in the live list keep their place; items in
    /// the configuration come in the configuration's order (structured-merge-diff's
    /// ordering rules).
    fn merge_list(
        &self,
        live: &[Value],
        applied: &[Value],
        list_type: &ListType,
        names: &mut Vec<String>,
    ) -> Result<Vec<Value>, String> {
        let applied_elements: Vec<String> = applied
            .iter()
            .map(|item| item_element(list_type, item))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{}: an item cannot be identified", names.join(".")))?;
        let live_elements: Vec<Option<String>> = live
            .iter()
            .map(|item| item_element(list_type, item))
            .collect();
        let applied_lookup: HashMap<&str, &Value> = applied_elements
            .iter()
            .map(String::as_str)
            .zip(applied)
            .collect();
        // A duplicated live item is not merged with anything (None).
        let mut live_lookup: HashMap<&str, Option<&Value>> = HashMap::new();
        for (element, item) in live_elements.iter().zip(live) {
            if let Some(element) = element {
                live_lookup
                    .entry(element.as_str())
                    .and_modify(|seen| *seen = None)
                    .or_insert(Some(item));
            }
        }
        let shared: Vec<&str> = applied_elements
            .iter()
            .map(String::as_str)
            .filter(|e| live_lookup.contains_key(e))
            .collect();
        let mut next_shared = 0;
        let mut merged_applied: HashSet<&str> = HashSet::new();
        let mut out = Vec::with_capacity(live.len().max(applied.len()));
        let (mut li, mut ai) = (0, 0);
        while li < live.len() || ai < applied.len() {
            if li < live.len() && ai < applied.len() {
                if live_elements[li].as_deref() == Some(applied_elements[ai].as_str()) {
                    let element = applied_elements[ai].as_str();
                    merged_applied.insert(element);
                    let live_item = live_lookup.get(element).copied().flatten();
                    if let Some(item) = self.merge_at(live_item, &applied[ai], names)? {
                        out.push(item);
                    }
                    li += 1;
                    ai += 1;
                    next_shared += 1;
                    continue;
                }
                // A shared item, but not the next one in the configuration's order: it
                // is emitted when the configuration reaches it.
                if let Some(element) = live_elements[li].as_deref() {
                    if applied_lookup.contains_key(element)
                        && shared.get(next_shared).is_some_and(|next| *next != element)
                    {
                        li += 1;
                        continue;
                    }
                }
            }
            if li < live.len() {
                match live_elements[li].as_deref() {
                    Some(element) if applied_lookup.contains_key(element) => {
                        if merged_applied.contains(element) {
                            li += 1;
                        } else if ai >= applied.len() {
                            // Cannot happen (every applied item was merged); never loop.
                            li += 1;
                        }
                    }
                    _ => {
                        out.push(live[li].clone());
                        li += 1;
                        continue;
                    }
                }
            }
            if ai < applied.len() {
                let element = applied_elements[ai].as_str();
                merged_applied.insert(element);
                let live_item = live_lookup.get(element).copied().flatten();
                if let Some(item) = self.merge_at(live_item, &applied[ai], names)? {
                    out.push(item);
                }
                ai += 1;
                if shared.get(next_shared) == Some(&element) {
                    next_shared += 1;
                }
            }
        }
        Ok(out)
    }

    /// Removes the members of `set` from `value`. Returns true when `value` had content
    /// and lost all of it this way (the caller then drops it, as Kubernetes does).
    fn remove_items(&self, value: &mut Value, set: &FieldSet, names: &mut Vec<String>) -> bool {
        if set.children.is_empty() {
            return false;
        }
        match value {
            Value::Object(map) if !map.is_empty() && !self.map_is_atomic(names) => {
                let mut to_drop = Vec::new();
                for (element, child_set) in &set.children {
                    let Some(key) = element.strip_prefix("f:") else {
                        continue;
                    };
                    if child_set.member {
                        to_drop.push(key.to_owned());
                    } else if let Some(child) = map.get_mut(key) {
                        names.push(key.to_owned());
                        if self.remove_items(child, child_set, names) {
                            to_drop.push(key.to_owned());
                        }
                        names.pop();
                    }
                }
                for key in to_drop {
                    map.shift_remove(&key);
                }
                map.is_empty()
            }
            Value::Array(items) if !items.is_empty() => {
                let list_type = self.list_type(names);
                if list_type == ListType::Atomic {
                    return false;
                }
                let mut kept = Vec::with_capacity(items.len());
                for mut item in items.drain(..) {
                    let child_set =
                        item_element(&list_type, &item).and_then(|e| set.children.get(&e));
                    match child_set {
                        Some(child_set) if child_set.member => {}
                        Some(child_set) => {
                            self.remove_items(&mut item, child_set, names);
                            kept.push(item);
                        }
                        None => kept.push(item),
                    }
                }
                *items = kept;
                items.is_empty()
            }
            _ => false,
        }
    }

    /// The fields of the last client-side-applied configuration whose value is still
    /// live, or None when there is no usable annotation.
    fn fields_from_last_applied(&self, live: &Value, api_version: &str) -> Option<FieldSet> {
        let text = live
            .get("metadata")?
            .get("annotations")?
            .get(LAST_APPLIED_ANNOTATION)?
            .as_str()?;
        let last_applied: Value = serde_json::from_str(text).ok()?;
        if api_version_of(Some(&last_applied))? != api_version {
            return None;
        }
        let fields = self.field_set_of(&last_applied).ok()?;
        let comparison = self.compare(&last_applied, live);
        Some(
            fields
                .difference(&comparison.modified)
                .difference(&comparison.added)
                .difference(&comparison.removed),
        )
    }
}

/// The path element of one item of a non-atomic list, or None when the item cannot be
/// identified (a keyed item with none of its keys, or not an object).
fn item_element(list_type: &ListType, item: &Value) -> Option<String> {
    match list_type {
        ListType::Map { keys } if !keys.is_empty() => {
            let object = item.as_object()?;
            let mut sorted: Vec<&String> = keys.iter().collect();
            sorted.sort();
            sorted.dedup();
            let mut key_values = Map::new();
            for key in sorted {
                match object.get(key.as_str()) {
                    Some(value) => {
                        key_values.insert(key.clone(), value.clone());
                    }
                    // Kubernetes' schemas default `protocol` of ports to TCP, and the
                    // identity of a port uses that default when it is left out.
                    None if key == "protocol" => {
                        key_values.insert(key.clone(), Value::String("TCP".to_owned()));
                    }
                    None => {}
                }
            }
            if key_values.is_empty() {
                return None;
            }
            Some(format!("k:{}", Value::Object(key_values)))
        }
        _ => Some(format!("v:{item}")),
    }
}

fn checked_item_element(
    list_type: &ListType,
    item: &Value,
    index: usize,
    path: &[String],
) -> Result<String, String> {
    item_element(list_type, item).ok_or_else(|| {
        let reason = match list_type {
            ListType::Map { keys } if item.is_object() => format!(
                "associative list with keys has an element that omits all key fields {keys:?} \
                 (and doesn't have default values for any key fields)"
            ),
            _ => "associative list with keys may not have non-map elements".to_owned(),
        };
        format!("{}: element {index}: {reason}", path_string(path))
    })
}

/// The identifiable items of a list, first occurrence of each identity only.
fn index_items<'v>(list_type: &ListType, items: &'v [Value]) -> Vec<(String, &'v Value)> {
    let mut seen = HashSet::new();
    items
        .iter()
        .filter_map(|item| item_element(list_type, item).map(|e| (e, item)))
        .filter(|(element, _)| seen.insert(element.clone()))
        .collect()
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn api_version_of(object: Option<&Value>) -> Option<String> {
    object?
        .get("apiVersion")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn is_builtin_api_version(api_version: &str) -> bool {
    match api_version.split_once('/') {
        None => true,
        Some((group, _)) => !group.contains('.') || group.ends_with(".k8s.io"),
    }
}

/// A copy of `object` with the fields Go always serializes present, when `kind_of` (the
/// object being written) is of a built-in kind.
fn with_go_zero_fields(object: &Value, kind_of: &Value) -> Value {
    let mut out = object.clone();
    let builtin = api_version_of(Some(kind_of)).is_none_or(|v| is_builtin_api_version(&v));
    if !builtin {
        return out;
    }
    for (path, zero) in GO_ALWAYS_SERIALIZED {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let pointer: String = parents.iter().map(|name| format!("/{name}")).collect();
        if let Some(map) = out.pointer_mut(&pointer).and_then(Value::as_object_mut) {
            map.entry(*last).or_insert_with(|| match zero {
                GoZero::Struct => Value::Object(Map::new()),
                GoZero::Null => Value::Null,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// managedFields entries

#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: Operation,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Entry {
    /// Whether this entry is the one a write by `manager` goes to. Appliers keep one
    /// entry whatever apiVersion they use; updaters get one per apiVersion.
    fn is(
        &self,
        manager: &str,
        operation: Operation,
        api_version: &str,
        subresource: Option<&str>,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    fn identifier(&self) -> String {
        manager_identifier(
            &self.manager,
            self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }

    fn from_json(value: &Value) -> Option<Entry> {
        let operation = match value.get("operation")?.as_str()? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        if text("fieldsType").is_some_and(|t| t != "FieldsV1") {
            return None;
        }
        let mut fields = match value.get("fieldsV1") {
            Some(fields) => FieldSet::from_fields_v1(fields)?,
            None => FieldSet::default(),
        };
        fields.member = false;
        Some(Entry {
            manager: text("manager").unwrap_or_default(),
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            fields,
        })
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("manager".to_owned(), Value::String(self.manager.clone()));
        map.insert(
            "operation".to_owned(),
            Value::String(self.operation.as_str().to_owned()),
        );
        map.insert(
            "apiVersion".to_owned(),
            Value::String(self.api_version.clone()),
        );
        if let Some(time) = &self.time {
            map.insert("time".to_owned(), Value::String(time.clone()));
        }
        map.insert(
            "fieldsType".to_owned(),
            Value::String("FieldsV1".to_owned()),
        );
        map.insert("fieldsV1".to_owned(), self.fields.to_fields_v1());
        if let Some(subresource) = &self.subresource {
            map.insert("subresource".to_owned(), Value::String(subresource.clone()));
        }
        Value::Object(map)
    }
}

/// Kubernetes' manager identifier (the entry's identity as JSON), used for ordering.
fn manager_identifier(
    manager: &str,
    operation: Operation,
    api_version: &str,
    subresource: Option<&str>,
) -> String {
    let mut map = Map::new();
    map.insert("manager".to_owned(), Value::String(manager.to_owned()));
    map.insert(
        "operation".to_owned(),
        Value::String(operation.as_str().to_owned()),
    );
    if operation == Operation::Update && !api_version.is_empty() {
        map.insert(
            "apiVersion".to_owned(),
            Value::String(api_version.to_owned()),
        );
    }
    if let Some(subresource) = subresource {
        map.insert(
            "subresource".to_owned(),
            Value::String(subresource.to_owned()),
        );
    }
    Value::Object(map).to_string()
}

fn decode_entries(object: &Value) -> Vec<Entry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

fn describe_conflicts(entries: &[Entry], conflicts: &[(usize, FieldSet)]) -> Vec<Conflict> {
    let mut sorted: Vec<&(usize, FieldSet)> = conflicts.iter().collect();
    sorted.sort_by_key(|(index, _)| entries[*index].identifier());
    sorted
        .into_iter()
        .flat_map(|(index, set)| {
            let entry = &entries[*index];
            set.member_paths().into_iter().map(move |path| Conflict {
                manager: entry.manager.clone(),
                field: path_string(&path),
                operation: entry.operation,
                api_version: entry.api_version.clone(),
                subresource: entry.subresource.clone(),
            })
        })
        .collect()
}

/// Drops empty entries, folds old updaters past the cap, and orders entries as
/// Kubernetes does: appliers first, then oldest first.
fn finish_entries(entries: Vec<Entry>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .collect();
    cap_update_entries(&mut entries);
    // RFC 3339 UTC timestamps in one format order correctly as strings.
    entries.sort_by(|a, b| {
        (
            a.operation,
            a.time.as_deref().unwrap_or(""),
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                b.time.as_deref().unwrap_or(""),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    entries
}

fn cap_update_entries(entries: &mut Vec<Entry>) {
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == Operation::Update)
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by_key(|&i| {
        (
            entries[i].time.clone().unwrap_or_default(),
            entries[i].identifier(),
        )
    });
    let mut slots: Vec<Option<Entry>> = std::mem::take(entries).into_iter().map(Some).collect();
    let mut first_of_version: HashMap<String, usize> = HashMap::new();
    let mut remaining = updaters.len();
    for index in updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(entry) = slots[index].take() else {
            continue;
        };
        let version = entry.api_version.clone();
        let Some(&first) = first_of_version.get(&version) else {
            first_of_version.insert(version, index);
            slots[index] = Some(entry);
            continue;
        };
        let bucket = slots.iter().position(|slot| {
            slot.as_ref()
                .is_some_and(|e| e.is(ANCIENT_CHANGES, Operation::Update, &version, None))
        });
        let bucket = match bucket {
            Some(bucket) => bucket,
            None => {
                // The first entry of this version becomes the bucket.
                if let Some(first_entry) = slots[first].as_mut() {
                    first_entry.manager = ANCIENT_CHANGES.to_owned();
                    first_entry.subresource = None;
                }
                first
            }
        };
        if let Some(bucket_entry) = slots[bucket].as_mut() {
            bucket_entry.fields.union_with(&entry.fields);
            bucket_entry.time = entry.time.clone();
        }
        remaining -= 1;
    }
    *entries = slots.into_iter().flatten().collect();
}

fn write_entries(object: &mut Value, entries: Vec<Entry>) {
    if entries.is_empty() {
        remove_managed_fields(object);
        return;
    }
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(metadata) = metadata.as_object_mut() {
        metadata.insert(
            "managedFields".to_owned(),
            Value::Array(entries.iter().map(Entry::to_json).collect()),
        );
    }
}

fn remove_managed_fields(object: &mut Value) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.shift_remove("managedFields");
    }
}

fn without_managed_fields(object: &Value) -> Value {
    let mut out = object.clone();
    remove_managed_fields(&mut out);
    out
}

/// Keeps kubectl's client-side-apply annotation in step when kubectl applies server-side,
/// so a later client-side apply computes the right diff.
fn sync_last_applied(result: &mut Value, applied: &Value) {
    let has_annotation = result
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_annotation {
        return;
    }
    let mut config = applied.clone();
    if let Some(annotations) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.shift_remove(LAST_APPLIED_ANNOTATION);
    }
    let text = format!("{}\n", go_json(&config));
    let Some(annotations) = result
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    annotations.insert(LAST_APPLIED_ANNOTATION.to_owned(), Value::String(text));
    let total: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    // Kubernetes drops the annotation rather than fail the apply when it is too big.
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        annotations.shift_remove(LAST_APPLIED_ANNOTATION);
    }
}

/// JSON as Go's encoder writes an unstructured object: keys sorted, HTML characters escaped.
fn go_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k.as_str()])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::listmeta::{builtin, NoMergeMeta};

    const T1: &str = "2024-05-01T10:00:00Z";
    const T2: &str = "2024-05-01T10:05:00Z";
    const T3: &str = "2024-05-01T10:10:00Z";
    const T4: &str = "2024-05-01T10:15:00Z";

    /// Deployment merge metadata, with the label selector atomic as in Kubernetes.
    struct Workloads;

    impl MergeMeta for Workloads {
        fn list_type(&self, path: &[&str]) -> ListType {
            builtin("apps", "Deployment").list_type(path)
        }
        fn map_is_atomic(&self, path: &[&str]) -> bool {
            matches!(path, ["spec", "selector"])
        }
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [
                        {"name": "web", "image": image, "ports": [{"containerPort": 80}]}
                    ]}
                }
            }
        })
    }

    fn config_map(data: Value) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": "default"},
            "data": data
        })
    }

    fn entries(object: &Value) -> Vec<Value> {
        object
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// (manager, operation, subresource) of every entry, in stored order.
    fn owners(object: &Value) -> Vec<(String, String, Option<String>)> {
        entries(object)
            .iter()
            .map(|e| {
                (
                    e["manager"].as_str().unwrap().to_owned(),
                    e["operation"].as_str().unwrap().to_owned(),
                    e.get("subresource").map(|s| s.as_str().unwrap().to_owned()),
                )
            })
            .collect()
    }

    fn fields_of(object: &Value, manager: &str, operation: &str) -> Value {
        entries(object)
            .into_iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
            .map(|e| e["fieldsV1"].clone())
            .unwrap_or(Value::Null)
    }

    fn conflicts_of(result: Result<Value, ApplyError>) -> Vec<Conflict> {
        match result {
            Err(ApplyError::Conflicts(conflicts)) => conflicts,
            other => panic!("expected conflicts, got {other:?}"),
        }
    }

    fn spec_replicas(object: &Value) -> i64 {
        object["spec"]["replicas"].as_i64().unwrap()
    }

    #[test]
    fn create_by_apply_makes_the_applier_the_only_manager() {
        let created = apply(
            None,
            &deployment(2, "nginx:1.25"),
            "kubectl",
            false,
            &Workloads,
            T1,
        )
        .unwrap();
        assert_eq!(owners(&created), [("kubectl".into(), "Apply".into(), None)]);
        let entry = &entries(&created)[0];
        assert_eq!(entry["apiVersion"], "apps/v1");
        assert_eq!(entry["time"], T1);
        assert_eq!(entry["fieldsType"], "FieldsV1");
        assert_eq!(spec_replicas(&created), 2);
    }

    #[test]
    fn apply_fields_v1_of_a_deployment_matches_kubernetes() {
        let created = apply(
            None,
            &deployment(2, "nginx:1.25"),
            "kubectl",
            false,
            &Workloads,
            T1,
        )
        .unwrap();
        // What `kubectl get deploy web -o json --show-managed-fields` shows after
        // `kubectl apply --server-side` of that manifest.
        let expected = json!([{
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                ".": {},
                                "f:containerPort": {}
                            }}
                        }}}
                    }
                }
            }
        }]);
        assert_eq!(created["metadata"]["managedFields"], expected);
    }

    #[test]
    fn fields_v1_serializes_with_sorted_keys_and_dot_first() {
        let created = apply(
            None,
            &deployment(2, "nginx"),
            "kubectl",
            false,
            &Workloads,
            T1,
        )
        .unwrap();
        let text = entries(&created)[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"].to_string();
        assert_eq!(
            text,
            r#"{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}"#
        );
    }

    #[test]
    fn create_by_update_fields_v1_matches_kubectl_create() {
        let mut created = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "default", "uid": "0b1c", "resourceVersion": "1",
                "generation": 1, "creationTimestamp": T1, "labels": {"app": "web"}
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
                },
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "nginx", "image": "nginx", "resources": {}}],
                        "restartPolicy": "Always"
                    }
                }
            },
            "status": {}
        });
        record_update(None, &mut created, "kubectl-create", &Workloads, T1);
        // Maps and items that appear are owned themselves ("."), Go struct fields such
        // as spec and template are not; server-set metadata is not tracked.
        let expected = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:strategy": {
                    "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                    "f:type": {}
                },
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:name": {}, "f:resources": {}
                        }},
                        "f:restartPolicy": {}
                    }
                }
            }
        });
        assert_eq!(fields_of(&created, "kubectl-create", "Update"), expected);
        assert_eq!(
            owners(&created),
            [("kubectl-create".into(), "Update".into(), None)]
        );
    }

    #[test]
    fn custom_resource_created_by_update_owns_spec_itself() {
        let mut widget = json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 3}
        });
        record_update(None, &mut widget, "kubectl-create", &NoMergeMeta, T1);
        assert_eq!(
            fields_of(&widget, "kubectl-create", "Update"),
            json!({"f:spec": {".": {}, "f:size": {}}})
        );
    }

    #[test]
    fn reapply_without_a_field_removes_it() {
        let mut config = config_map(json!({"a": "1", "b": "2"}));
        config["metadata"]["labels"] = json!({"team": "x", "tier": "web"});
        let meta = builtin("", "ConfigMap");
        let live = apply(None, &config, "ci", false, &meta, T1).unwrap();
        config["data"] = json!({"a": "1"});
        config["metadata"]["labels"] = json!({"team": "x"});
        let live = apply(Some(&live), &config, "ci", false, &meta, T2).unwrap();
        assert_eq!(live["data"], json!({"a": "1"}));
        assert_eq!(live["metadata"]["labels"], json!({"team": "x"}));
        assert_eq!(
            fields_of(&live, "ci", "Apply"),
            json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:team": {}}}})
        );
    }

    #[test]
    fn reapply_without_anything_in_a_map_drops_the_map() {
        let meta = builtin("", "ConfigMap");
        let live = apply(None, &config_map(json!({"a": "1"})), "ci", false, &meta, T1).unwrap();
        let mut config = config_map(json!({}));
        config.as_object_mut().unwrap().remove("data");
        let live = apply(Some(&live), &config, "ci", false, &meta, T2).unwrap();
        assert!(live.get("data").is_none(), "{live}");
        assert!(live["metadata"].get("managedFields").is_none());
        assert_eq!(live["metadata"]["name"], "cm");
    }

    #[test]
    fn field_dropped_by_one_applier_stays_while_another_owns_it() {
        let meta = builtin("", "ConfigMap");
        let live = apply(
            None,
            &config_map(json!({"shared": "v", "mine": "m"})),
            "a",
            false,
            &meta,
            T1,
        )
        .unwrap();
        let live = apply(
            Some(&live),
            &config_map(json!({"shared": "v"})),
            "b",
            false,
            &meta,
            T2,
        )
        .unwrap();
        let live = apply(
            Some(&live),
            &config_map(json!({"other": "o"})),
            "a",
            false,
            &meta,
            T3,
        )
        .unwrap();
        assert_eq!(live["data"], json!({"shared": "v", "other": "o"}));
        assert_eq!(
            fields_of(&live, "b", "Apply"),
            json!({"f:data": {"f:shared": {}}})
        );
        assert_eq!(
            fields_of(&live, "a", "Apply"),
            json!({"f:data": {"f:other": {}}})
        );
    }

    #[test]
    fn appliers_with_equal_values_share_a_field_without_conflict() {
        let first = apply(None, &deployment(2, "nginx"), "argo", false, &Workloads, T1).unwrap();
        let mut other = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2}
        });
        let shared = apply(Some(&first), &other, "flux", false, &Workloads, T2).unwrap();
        assert_eq!(
            fields_of(&shared, "flux", "Apply"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            fields_of(&shared, "argo", "Apply")["f:spec"]["f:replicas"],
            json!({})
        );
        // Now that both own it, either one changing it conflicts with the other.
        other["spec"]["replicas"] = json!(4);
        let conflicts = conflicts_of(apply(Some(&shared), &other, "flux", false, &Workloads, T3));
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 1 conflict: conflict with \"argo\": .spec.replicas"
        );
    }

    #[test]
    fn different_value_conflicts_and_force_takes_ownership() {
        let live = apply(None, &deployment(2, "nginx"), "argo", false, &Workloads, T1).unwrap();
        let mine = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 5}
        });
        let conflicts = conflicts_of(apply(Some(&live), &mine, "flux", false, &Workloads, T2));
        assert_eq!(
            conflicts,
            [Conflict {
                manager: "argo".into(),
                field: ".spec.replicas".into(),
                operation: Operation::Apply,
                api_version: "apps/v1".into(),
                subresource: None,
            }]
        );
        let forced = apply(Some(&live), &mine, "flux", true, &Workloads, T2).unwrap();
        assert_eq!(spec_replicas(&forced), 5);
        assert_eq!(
            fields_of(&forced, "flux", "Apply"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert!(fields_of(&forced, "argo", "Apply")["f:spec"]
            .get("f:replicas")
            .is_none());
        // The old owner re-applying its old value now conflicts with the new owner.
        let conflicts = conflicts_of(apply(
            Some(&forced),
            &deployment(2, "nginx"),
            "argo",
            false,
            &Workloads,
            T3,
        ));
        assert_eq!(conflicts[0].manager, "flux");
    }

    #[test]
    fn kubectl_scale_then_apply_conflicts_on_replicas() {
        let live = apply(
            None,
            &deployment(2, "nginx"),
            "kubectl",
            false,
            &Workloads,
            T1,
        )
        .unwrap();
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_subresource_update(&live, &mut scaled, "kubectl", "scale", &Workloads, T2);
        assert_eq!(
            owners(&scaled),
            [
                ("kubectl".into(), "Apply".into(), None),
                ("kubectl".into(), "Update".into(), Some("scale".into())),
            ]
        );
        assert_eq!(
            fields_of(&scaled, "kubectl", "Update"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        let conflicts = conflicts_of(apply(
            Some(&scaled),
            &deployment(2, "nginx"),
            "kubectl",
            false,
            &Workloads,
            T3,
        ));
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"
        );
        // Leaving replicas out of the manifest is the documented way to live with an
        // autoscaler: the scaled value stays.
        let mut without_replicas = deployment(2, "nginx:2");
        without_replicas["spec"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
        let applied = apply(
            Some(&scaled),
            &without_replicas,
            "kubectl",
            false,
            &Workloads,
            T3,
        )
        .unwrap();
        assert_eq!(spec_replicas(&applied), 5);
    }

    #[test]
    fn client_side_apply_owner_conflicts_with_another_applier() {
        let mut live = deployment(2, "nginx");
        record_update(None, &mut live, "kubectl-client-side-apply", &Workloads, T1);
        let mut mine = deployment(3, "nginx");
        mine["metadata"].as_object_mut().unwrap().remove("labels");
        let conflicts = conflicts_of(apply(Some(&live), &mine, "helm", false, &Workloads, T2));
        let error = ApplyError::Conflicts(conflicts.clone());
        assert_eq!(
            error.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        assert_eq!(
            conflict_causes(&conflicts),
            [json!({
                "reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
                "field": ".spec.replicas"
            })]
        );
    }

    #[test]
    fn conflicts_with_several_managers_are_grouped_by_manager() {
        let meta = builtin("", "ConfigMap");
        let live = apply(
            None,
            &config_map(json!({"x": "1", "y": "1"})),
            "a",
            false,
            &meta,
            T1,
        )
        .unwrap();
        let mut updated = live.clone();
        updated["data"]["y"] = json!("2");
        record_update(Some(&live), &mut updated, "b", &meta, T2);
        let conflicts = conflicts_of(apply(
            Some(&updated),
            &config_map(json!({"x": "3", "y": "3"})),
            "c",
            false,
            &meta,
            T3,
        ));
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.x\nconflicts with \"b\" using v1:\n- .data.y"
        );
    }

    #[test]
    fn conflict_inside_a_container_names_the_item_by_key() {
        let live = apply(None, &deployment(2, "nginx:1"), "a", false, &Workloads, T1).unwrap();
        let conflicts = conflicts_of(apply(
            Some(&live),
            &deployment(2, "nginx:2"),
            "b",
            false,
            &Workloads,
            T2,
        ));
        assert_eq!(
            conflicts
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>(),
            [".spec.template.spec.containers[name=\"web\"].image"]
        );
    }

    #[test]
    fn two_managers_own_different_containers() {
        let live = apply(
            None,
            &deployment(2, "nginx:1"),
            "app",
            false,
            &Workloads,
            T1,
        )
        .unwrap();
        let sidecar = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}}}
        });
        let live = apply(Some(&live), &sidecar, "mesh", false, &Workloads, T2).unwrap();
        let names = |o: &Value| -> Vec<String> {
            o["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names(&live), ["web", "proxy"]);
        assert_eq!(
            fields_of(&live, "mesh", "Apply"),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"proxy\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}})
        );
        // The app's own changes do not touch the sidecar, and vice versa.
        let live = apply(
            Some(&live),
            &deployment(2, "nginx:2"),
            "app",
            false,
            &Workloads,
            T3,
        )
        .unwrap();
        assert_eq!(names(&live), ["web", "proxy"]);
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        let mut no_sidecar = sidecar.clone();
        no_sidecar["spec"] = json!({"replicas": 2});
        let live = apply(Some(&live), &no_sidecar, "mesh", false, &Workloads, T4).unwrap();
        assert_eq!(names(&live), ["web"]);
    }

    #[test]
    fn reapply_without_a_container_removes_it() {
        let mut two = deployment(1, "nginx");
        two["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "debug", "image": "busybox"}));
        let live = apply(None, &two, "ci", false, &Workloads, T1).unwrap();
        let live = apply(
            Some(&live),
            &deployment(1, "nginx"),
            "ci",
            false,
            &Workloads,
            T2,
        )
        .unwrap();
        let containers = live["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["name"], "web");
    }

    #[test]
    fn keyed_items_follow_the_applied_order_and_live_only_items_keep_their_place() {
        let meta = builtin("apps", "Deployment");
        let env = |names: &[&str]| {
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"template": {"spec": {"containers": [{
                    "name": "web",
                    "env": names.iter().map(|n| json!({"name": n, "value": "1"})).collect::<Vec<_>>()
                }]}}}
            })
        };
        let live = apply(None, &env(&["A", "B"]), "x", false, &meta, T1).unwrap();
        let live = apply(Some(&live), &env(&["C", "A"]), "y", false, &meta, T2).unwrap();
        let order: Vec<&str> = live["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(order, ["C", "A", "B"]);
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let meta = builtin("", "ConfigMap");
        let mut config = config_map(json!({}));
        config["metadata"]["finalizers"] = json!(["example.com/a"]);
        let live = apply(None, &config, "x", false, &meta, T1).unwrap();
        config["metadata"]["finalizers"] = json!(["example.com/b"]);
        let live = apply(Some(&live), &config, "y", false, &meta, T2).unwrap();
        assert_eq!(
            live["metadata"]["finalizers"],
            json!(["example.com/a", "example.com/b"])
        );
        assert_eq!(
            fields_of(&live, "y", "Apply")["f:metadata"],
            json!({"f:finalizers": {"v:\"example.com/b\"": {}}})
        );
    }

    #[test]
    fn atomic_lists_are_owned_and_replaced_whole() {
        let with_args = |args: Value| {
            let mut d = deployment(1, "nginx");
            d["spec"]["template"]["spec"]["containers"][0]["args"] = args;
            d
        };
        let live = apply(
            None,
            &with_args(json!(["--a", "--b"])),
            "x",
            false,
            &Workloads,
            T1,
        )
        .unwrap();
        let container_fields = &fields_of(&live, "x", "Apply")["f:spec"]["f:template"]["f:spec"]
            ["f:containers"]["k:{\"name\":\"web\"}"];
        assert_eq!(container_fields["f:args"], json!({}));
        let conflicts = conflicts_of(apply(
            Some(&live),
            &with_args(json!(["--c"])),
            "y",
            false,
            &Workloads,
            T2,
        ));
        assert_eq!(
            conflicts[0].field,
            ".spec.template.spec.containers[name=\"web\"].args"
        );
        let forced = apply(
            Some(&live),
            &with_args(json!(["--c"])),
            "y",
            true,
            &Workloads,
            T2,
        )
        .unwrap();
        assert_eq!(
            forced["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--c"])
        );
    }

    #[test]
    fn untracked_metadata_is_never_owned_but_labels_annotations_finalizers_owners_are() {
        let config = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "cm", "namespace": "default", "resourceVersion": "7", "uid": "u",
                "generation": 3, "creationTimestamp": T1,
                "labels": {"l": "1"},
                "annotations": {"a": "1"},
                "finalizers": ["example.com/x"],
                "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-1"}]
            }
        });
        let live = apply(None, &config, "x", false, &builtin("", "ConfigMap"), T1).unwrap();
        assert_eq!(
            fields_of(&live, "x", "Apply"),
            json!({"f:metadata": {
                "f:annotations": {"f:a": {}},
                "f:finalizers": {"v:\"example.com/x\"": {}},
                "f:labels": {"f:l": {}},
                // OwnerReference is an atomic struct: the item is owned whole.
                "f:ownerReferences": {"k:{\"uid\":\"u-1\"}": {}}
            }})
        );
    }

    #[test]
    fn status_is_tracked_only_when_present() {
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"a": 1}});
        let live = apply(None, &widget, "x", false, &NoMergeMeta, T1).unwrap();
        assert!(fields_of(&live, "x", "Apply").get("f:status").is_none());
        let mut with_status = widget.clone();
        with_status["status"] = json!({"ready": true});
        let live = apply(Some(&live), &with_status, "x", false, &NoMergeMeta, T2).unwrap();
        assert_eq!(
            fields_of(&live, "x", "Apply")["f:status"],
            json!({"f:ready": {}})
        );
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let mut duplicate = deployment(1, "nginx");
        duplicate["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]);
        match apply(None, &duplicate, "x", false, &Workloads, T1) {
            Err(ApplyError::Invalid(message)) => assert!(
                message.contains("duplicate entries for key [name=\"a\"]"),
                "{message}"
            ),
            other => panic!("expected invalid, got {other:?}"),
        }
        let mut with_managed_fields = deployment(1, "nginx");
        with_managed_fields["metadata"]["managedFields"] = json!([]);
        assert!(matches!(
            apply(None, &with_managed_fields, "x", false, &Workloads, T1),
            Err(ApplyError::Invalid(m)) if m == "metadata.managedFields must be nil"
        ));
    }

    #[test]
    fn update_moves_changed_fields_to_the_writer() {
        let meta = builtin("", "ConfigMap");
        let mut live = config_map(json!({"x": "1", "y": "1"}));
        record_update(None, &mut live, "creator", &meta, T1);
        let mut edited = live.clone();
        edited["data"]["x"] = json!("2");
        record_update(Some(&live), &mut edited, "kubectl-edit", &meta, T2);
        assert_eq!(
            fields_of(&edited, "creator", "Update"),
            json!({"f:data": {".": {}, "f:y": {}}})
        );
        assert_eq!(
            fields_of(&edited, "kubectl-edit", "Update"),
            json!({"f:data": {"f:x": {}}})
        );
        assert_eq!(
            owners(&edited),
            [
                ("creator".into(), "Update".into(), None),
                ("kubectl-edit".into(), "Update".into(), None)
            ]
        );
    }

    #[test]
    fn update_removing_fields_takes_them_from_every_manager_and_drops_empty_entries() {
        let meta = builtin("", "ConfigMap");
        let live = apply(None, &config_map(json!({"x": "1"})), "ci", false, &meta, T1).unwrap();
        let mut edited = live.clone();
        edited["data"] = json!({"z": "1"});
        record_update(Some(&live), &mut edited, "kubectl-edit", &meta, T2);
        assert_eq!(
            owners(&edited),
            [("kubectl-edit".into(), "Update".into(), None)]
        );
        assert_eq!(
            fields_of(&edited, "kubectl-edit", "Update"),
            json!({"f:data": {"f:z": {}}})
        );
    }

    #[test]
    fn updates_by_one_manager_accumulate_in_one_entry() {
        let meta = builtin("", "ConfigMap");
        let mut live = config_map(json!({"x": "1"}));
        record_update(None, &mut live, "creator", &meta, T1);
        let mut first = live.clone();
        first["data"]["a"] = json!("1");
        record_update(Some(&live), &mut first, "ctl", &meta, T2);
        let mut second = first.clone();
        second["data"]["b"] = json!("1");
        record_update(Some(&first), &mut second, "ctl", &meta, T3);
        let ctl: Vec<Value> = entries(&second)
            .into_iter()
            .filter(|e| e["manager"] == "ctl")
            .collect();
        assert_eq!(ctl.len(), 1);
        assert_eq!(ctl[0]["time"], T3);
        assert_eq!(
            ctl[0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        // A write that changes nothing tracked leaves the entries alone.
        let mut bump = second.clone();
        bump["metadata"]["resourceVersion"] = json!("99");
        record_update(Some(&second), &mut bump, "ctl", &meta, T4);
        assert_eq!(entries(&bump), entries(&second));
    }

    #[test]
    fn managed_fields_sent_as_a_single_empty_entry_are_reset() {
        let meta = builtin("", "ConfigMap");
        let mut live = config_map(json!({"x": "1"}));
        record_update(None, &mut live, "creator", &meta, T1);
        let mut reset = live.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        record_update(Some(&live), &mut reset, "ctl", &meta, T2);
        assert!(reset["metadata"].get("managedFields").is_none());
        // Until someone applies, ordinary updates do not start tracking again.
        let mut later = reset.clone();
        later["data"]["y"] = json!("1");
        record_update(Some(&reset), &mut later, "ctl", &meta, T3);
        assert!(later["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn first_apply_to_an_untracked_object_conflicts_with_before_first_apply() {
        let live = deployment(3, "nginx");
        let conflicts = conflicts_of(apply(
            Some(&live),
            &deployment(1, "nginx"),
            "ci",
            false,
            &Workloads,
            T1,
        ));
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
        );
        let shared = apply(
            Some(&live),
            &deployment(3, "nginx"),
            "ci",
            false,
            &Workloads,
            T1,
        )
        .unwrap();
        assert_eq!(
            owners(&shared),
            [
                ("ci".into(), "Apply".into(), None),
                ("before-first-apply".into(), "Update".into(), None)
            ]
        );
    }

    #[test]
    fn kubectl_server_side_apply_takes_over_from_client_side_apply() {
        let mut live = deployment(2, "nginx");
        live["metadata"]["annotations"] =
            json!({LAST_APPLIED_ANNOTATION: go_json(&deployment(2, "nginx")) + "\n"});
        record_update(None, &mut live, "kubectl-client-side-apply", &Workloads, T1);
        let upgraded = apply(
            Some(&live),
            &deployment(3, "nginx"),
            "kubectl",
            false,
            &Workloads,
            T2,
        )
        .unwrap();
        assert_eq!(spec_replicas(&upgraded), 3);
        assert!(
            fields_of(&upgraded, "kubectl-client-side-apply", "Update")["f:spec"]
                .get("f:replicas")
                .is_none()
        );
        let annotation = upgraded["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
            .as_str()
            .unwrap();
        assert!(annotation.ends_with('\n'));
        let recorded: Value = serde_json::from_str(annotation).unwrap();
        assert_eq!(recorded["spec"]["replicas"], 3);
        // Another manager would still conflict.
        assert!(apply(
            Some(&live),
            &deployment(3, "nginx"),
            "helm",
            false,
            &Workloads,
            T2
        )
        .is_err());
    }

    #[test]
    fn kubectl_upgrade_still_conflicts_when_someone_else_changed_the_field() {
        let mut live = deployment(2, "nginx");
        live["metadata"]["annotations"] =
            json!({LAST_APPLIED_ANNOTATION: go_json(&deployment(2, "nginx"))});
        record_update(None, &mut live, "kubectl-client-side-apply", &Workloads, T1);
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(Some(&live), &mut scaled, "hpa", &Workloads, T2);
        let conflicts = conflicts_of(apply(
            Some(&scaled),
            &deployment(3, "nginx"),
            "kubectl",
            false,
            &Workloads,
            T3,
        ));
        assert_eq!(conflicts[0].manager, "hpa");
    }

    #[test]
    fn update_entries_beyond_ten_fold_into_ancient_changes() {
        let meta = builtin("", "ConfigMap");
        let mut live = config_map(json!({}));
        live.as_object_mut().unwrap().remove("data");
        for i in 0..11 {
            let mut next = live.clone();
            next["data"] = next.get("data").cloned().unwrap_or_else(|| json!({}));
            next["data"][format!("k{i:02}")] = json!("v");
            let now = format!("2024-05-01T10:00:{i:02}Z");
            let old = if i == 0 { None } else { Some(&live) };
            record_update(old, &mut next, &format!("m{i:02}"), &meta, &now);
            live = next;
        }
        let list = entries(&live);
        assert_eq!(list.len(), 10);
        assert_eq!(list[0]["manager"], "ancient-changes");
        assert_eq!(list[0]["time"], "2024-05-01T10:00:01Z");
        assert_eq!(
            list[0]["fieldsV1"]["f:data"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with("f:"))
                .collect::<Vec<_>>(),
            ["f:k00", "f:k01"]
        );
        assert_eq!(list[1]["manager"], "m02");
    }

    #[test]
    fn appliers_are_listed_before_updaters_then_oldest_first() {
        let meta = builtin("", "ConfigMap");
        let mut live = config_map(json!({"x": "1"}));
        record_update(None, &mut live, "creator", &meta, T1);
        let live = apply(
            Some(&live),
            &config_map(json!({"y": "1"})),
            "late",
            false,
            &meta,
            T3,
        )
        .unwrap();
        let live = apply(
            Some(&live),
            &config_map(json!({"z": "1"})),
            "early",
            false,
            &meta,
            T2,
        )
        .unwrap();
        let names: Vec<String> = owners(&live).into_iter().map(|(m, _, _)| m).collect();
        assert_eq!(names, ["early", "late", "creator"]);
    }

    #[test]
    fn repeating_an_apply_changes_nothing() {
        let live = apply(None, &deployment(2, "nginx"), "ci", false, &Workloads, T1).unwrap();
        let again = apply(
            Some(&live),
            &deployment(2, "nginx"),
            "ci",
            false,
            &Workloads,
            T2,
        )
        .unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn null_in_an_applied_configuration_clears_the_field() {
        let meta = builtin("", "ConfigMap");
        let live = apply(
            None,
            &config_map(json!({"x": "1", "y": "1"})),
            "a",
            false,
            &meta,
            T1,
        )
        .unwrap();
        let live = apply(
            Some(&live),
            &config_map(json!({"x": "1", "y": null})),
            "a",
            false,
            &meta,
            T2,
        )
        .unwrap();
        assert_eq!(live["data"], json!({"x": "1"}));
    }

    /// A custom resource whose `items` list is a set.
    struct SetList;

    impl MergeMeta for SetList {
        fn list_type(&self, path: &[&str]) -> ListType {
            match path {
                ["items"] => ListType::Set,
                _ => ListType::Atomic,
            }
        }
    }

    #[test]
    fn set_items_merge_in_the_order_kubernetes_produces() {
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&["a", "b", "c"], &["a", "b"], &["a", "b", "c"]),
            (&["a", "b"], &["b", "a"], &["b", "a"]),
            (
                &["a", "b", "c", "g", "f"],
                &["c", "d", "e", "f"],
                &["a", "b", "c", "g", "d", "e", "f"],
            ),
            (
                &["c", "d", "e", "f"],
                &["a", "c", "e"],
                &["a", "c", "d", "e", "f"],
            ),
            (
                &["a", "b", "c", "d"],
                &["d", "e", "f", "a"],
                &["b", "c", "d", "e", "f", "a"],
            ),
            (
                &["c", "d", "e", "f", "g", "h", "i", "j"],
                &["2", "h", "3", "e", "4", "k", "l"],
                &[
                    "c", "d", "f", "g", "2", "h", "i", "j", "3", "e", "4", "k", "l",
                ],
            ),
        ];
        for (live_items, applied_items, expected) in cases {
            let object = |items: &[&str]| json!({"apiVersion": "example.com/v1", "kind": "Bag", "metadata": {"name": "b"}, "items": items});
            let merged = apply(
                Some(&object(live_items)),
                &object(applied_items),
                "x",
                true,
                &SetList,
                T1,
            )
            .unwrap();
            assert_eq!(
                merged["items"],
                json!(expected),
                "{live_items:?} + {applied_items:?}"
            );
        }
    }
}
