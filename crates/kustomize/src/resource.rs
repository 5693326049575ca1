//! One resource in a build and the ordered map of them (kustomize's Resource and
//! ResMap). Besides the object itself a resource carries what kustomize keeps in its
//! internal build annotations: earlier ids (so references to a renamed object can be
//! found), the prefixes and suffixes applied, and generator options.

use ferroflux_merge::selector::LabelSelector;
use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};
use crate::resid::{Gvk, ResId};

/// What a generator asks for when its output meets an existing object of the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Not generated, or generated with no behavior given.
    #[default]
    Unspecified,
    Create,
    Merge,
    Replace,
}

impl Behavior {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "" => Some(Self::Unspecified),
            "create" => Some(Self::Create),
            "merge" => Some(Self::Merge),
            "replace" => Some(Self::Replace),
            _ => None,
        }
    }
}

/// One object and its build history.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object as it will be printed.
    pub obj: Map<String, Value>,
    /// Earlier ids, oldest first, with namespaces as kustomize compares them.
    prev_ids: Vec<ResId>,
    /// Name prefixes applied, innermost kustomization first.
    pub name_prefixes: Vec<String>,
    /// Name suffixes applied, innermost kustomization first.
    pub name_suffixes: Vec<String>,
    /// Generator behavior, for generated ConfigMaps and Secrets.
    pub behavior: Behavior,
    /// Whether a content hash is appended to the name at the end of the build.
    pub needs_hash: bool,
    /// Ids of the resources whose references to this one were updated.
    pub ref_by: Vec<ResId>,
    /// Names of the vars that read a field of this resource.
    pub ref_var_names: Vec<String>,
    /// The file (relative to the build root) this resource was read or generated from.
    pub source: String,
    /// Where the object holds nulls written as nothing (`key:`), as JSON pointers: a
    /// strategic merge drops those, where it keeps `key: null`.
    pub empty_nulls: Vec<String>,
}

impl Resource {
    /// Wraps an object read from `source`; it must be a map with `kind`.
    pub fn new(obj: Map<String, Value>, source: &str) -> Self {
        Self {
            obj,
            prev_ids: Vec::new(),
            name_prefixes: Vec::new(),
            name_suffixes: Vec::new(),
            behavior: Behavior::Unspecified,
            needs_hash: false,
            ref_by: Vec::new(),
            ref_var_names: Vec::new(),
            source: source.to_owned(),
            empty_nulls: Vec::new(),
        }
    }

    fn str_at(&self, path: &[&str]) -> &str {
        let mut node = self.obj.get(path[0]);
        for key in &path[1..] {
            node = node.and_then(|n| n.get(*key));
        }
        node.and_then(Value::as_str).unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"])
    }
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }
    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }

    fn gvk_is_cluster_scoped(&self) -> bool {
        self.gvk().is_cluster_scoped()
    }

    /// The current id.
    pub fn cur_id(&self) -> ResId {
        ResId::new(self.gvk(), self.name(), self.namespace())
    }

    /// The id this resource had when it entered the build.
    pub fn org_id(&self) -> ResId {
        self.prev_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Earlier ids, oldest first; empty if the resource was never renamed.
    pub fn prev_ids(&self) -> &[ResId] {
        &self.prev_ids
    }

    /// Records the current id before a rename, namespace change or kind change.
    pub fn store_previous_id(&mut self) {
        let id = self.cur_id();
        let namespace = id.effective_namespace().to_owned();
        self.prev_ids.push(ResId::new(id.gvk, &id.name, &namespace));
    }

    /// Whether `id` is this resource's current id or one of its earlier ones.
    pub fn matches_any_id(&self, id: &ResId) -> bool {
        // Names first: cheap, and they rule out nearly every resource.
        if self.name() != id.name && self.prev_ids.iter().all(|prev| prev.name != id.name) {
            return false;
        }
        self.cur_id().equals(id) || self.prev_ids.iter().any(|prev| prev.equals(id))
    }

    fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let metadata = self
            .obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        match metadata {
            Value::Object(map) => map,
            _ => unreachable!("metadata was just made a map"),
        }
    }

    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.to_owned()));
    }

    /// Sets the namespace; an empty one removes the field.
    pub fn set_namespace(&mut self, namespace: &str) {
        let metadata = self.metadata_mut();
        if namespace.is_empty() {
            metadata.remove("namespace");
        } else {
            metadata.insert("namespace".into(), Value::String(namespace.to_owned()));
        }
    }

    pub fn set_kind(&mut self, kind: &str) {
        self.obj
            .insert("kind".into(), Value::String(kind.to_owned()));
    }

    /// The string map at `metadata.<field>` (labels, annotations), empty if absent.
    pub fn string_map(&self, field: &str) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    pub fn labels(&self) -> Map<String, Value> {
        self.string_map("labels")
    }

    pub fn annotations(&self) -> Map<String, Value> {
        self.string_map("annotations")
    }

    /// Replaces `metadata.<field>`; an empty map removes the field.
    pub fn set_string_map(&mut self, field: &str, map: Map<String, Value>) {
        let metadata = self.metadata_mut();
        if map.is_empty() {
            metadata.remove(field);
        } else {
            metadata.insert(field.to_owned(), Value::Object(map));
        }
    }

    /// A copy of the object as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.obj.clone())
    }
}

/// A patch or replacement target: parts left empty match anything; name and namespace
/// are regular expressions matched whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub label_selector: String,
    #[serde(default)]
    pub annotation_selector: String,
}

/// A compiled [`Selector`].
pub struct SelectorMatcher {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

fn whole_match(pattern: &str) -> Result<Option<Regex>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| KustomizeError::transform(format!("invalid regex '{pattern}': {e}")))
}

fn label_selector(input: &str) -> Result<Option<LabelSelector>> {
    if input.is_empty() {
        return Ok(None);
    }
    LabelSelector::parse(input)
        .map(Some)
        .map_err(|e| KustomizeError::transform(format!("invalid selector '{input}': {}", e.0)))
}

impl SelectorMatcher {
    pub fn new(selector: &Selector) -> Result<Self> {
        Ok(Self {
            group: whole_match(&selector.group)?,
            version: whole_match(&selector.version)?,
            kind: whole_match(&selector.kind)?,
            name: whole_match(&selector.name)?,
            namespace: whole_match(&selector.namespace)?,
            labels: label_selector(&selector.label_selector)?,
            annotations: label_selector(&selector.annotation_selector)?,
        })
    }

    /// kustomize matches the original name and namespace, or the current ones.
    pub fn matches(&self, resource: &Resource) -> bool {
        let cur = resource.cur_id();
        let org = resource.org_id();
        if let Some(namespace) = &self.namespace {
            if !namespace.is_match(org.effective_namespace())
                && !namespace.is_match(cur.effective_namespace())
            {
                return false;
            }
        }
        if let Some(name) = &self.name {
            if !name.is_match(&org.name) && !name.is_match(&cur.name) {
                return false;
            }
        }
        // Group, version and kind are regular expressions too (`kind: Deployment|StatefulSet`).
        let gvk_parts = [
            (&self.group, &cur.gvk.group),
            (&self.version, &cur.gvk.version),
            (&self.kind, &cur.gvk.kind),
        ];
        if gvk_parts
            .iter()
            .any(|(pattern, value)| pattern.as_ref().is_some_and(|p| !p.is_match(value)))
        {
            return false;
        }
        if let Some(labels) = &self.labels {
            if !labels.matches(Some(&resource.labels())) {
                return false;
            }
        }
        if let Some(annotations) = &self.annotations {
            if !annotations.matches(Some(&resource.annotations())) {
                return false;
            }
        }
        true
    }
}

/// A resource's current id, borrowed, compared as kustomize compares ids (group,
/// version, kind, name and effective namespace).
#[derive(PartialEq, Eq, Hash)]
struct IdKey<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: &'a str,
}

impl<'a> IdKey<'a> {
    fn of(resource: &'a Resource) -> Self {
        let namespace = if resource.gvk_is_cluster_scoped() {
            crate::resid::NOT_A_NAMESPACE
        } else if resource.namespace().is_empty() {
            "default"
        } else {
            resource.namespace()
        };
        Self {
            api_version: resource.api_version(),
            kind: resource.kind(),
            name: resource.name(),
            namespace,
        }
    }
}

fn duplicate(resource: &Resource, file: &str) -> KustomizeError {
    KustomizeError::Duplicate {
        file: file.to_owned(),
        id: resource.cur_id().to_string(),
    }
}

/// The resources of a build, in order.
#[derive(Debug, Clone, Default)]
pub struct ResMap {
    pub resources: Vec<Resource>,
}

impl ResMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a resource; its current id must be new. `file` names where it was listed.
    pub fn append(&mut self, resource: Resource, file: &str) -> Result<()> {
        let key = IdKey::of(&resource);
        if self.resources.iter().any(|r| IdKey::of(r) == key) {
            return Err(duplicate(&resource, file));
        }
        self.resources.push(resource);
        Ok(())
    }

    /// Adds resources whose current ids must be new (to this map and each other).
    pub fn append_all(&mut self, other: ResMap, file: &str) -> Result<()> {
        // A set of ids instead of a scan per resource: builds add thousands at once.
        let mut seen: std::collections::HashSet<IdKey<'_>> =
            self.resources.iter().map(IdKey::of).collect();
        for resource in &other.resources {
            if !seen.insert(IdKey::of(resource)) {
                return Err(duplicate(resource, file));
            }
        }
        drop(seen);
        self.resources.extend(other.resources);
        Ok(())
    }

    /// The first current id two resources share, if any.
    pub fn first_duplicate(&self) -> Option<ResId> {
        let mut seen = std::collections::HashSet::new();
        self.resources
            .iter()
            .find(|r| !seen.insert(IdKey::of(r)))
            .map(Resource::cur_id)
    }

    /// Indices of the resources `selector` selects.
    pub fn select(&self, selector: &Selector) -> Result<Vec<usize>> {
        let matcher = SelectorMatcher::new(selector)?;
        Ok(self
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| matcher.matches(r))
            .map(|(i, _)| i)
            .collect())
    }

    /// Indices of resources whose current or any earlier id equals `id`.
    pub fn matching_any_id(&self, id: &ResId) -> Vec<usize> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches_any_id(id))
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::testutil::{fixture, res, Fixture};
    use serde_json::json;

    #[test]
    fn selector_matches_original_or_current_name_as_whole_regex() {
        let mut r = res(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app-web", "labels": {"tier": "web"}}}));
        r.store_previous_id();
        r.set_name("prod-app-web");
        let sel = |name: &str| Selector {
            kind: "Deployment".into(),
            name: name.into(),
            ..Default::default()
        };
        let m = |s: &Selector| SelectorMatcher::new(s).expect("valid").matches(&r);
        assert!(m(&sel("app-.*")));
        assert!(m(&sel("prod-app-web")));
        assert!(!m(&sel("app")), "regex must match the whole name");
        let by_label = Selector {
            label_selector: "tier in (web,api)".into(),
            ..Default::default()
        };
        assert!(m(&by_label));
    }

    #[test]
    fn duplicate_ids_are_refused_naming_the_id() {
        let mut map = ResMap::new();
        let cm =
            || res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}));
        map.append(cm(), "k.yaml").expect("first");
        let err = map.append(cm(), "k.yaml").expect_err("duplicate");
        assert!(
            err.to_string().contains("ConfigMap.v1.[noGrp]/a.[noNs]"),
            "{err}"
        );
    }
}
