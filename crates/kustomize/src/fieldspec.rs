//! Field specs: "at this path of objects of this kind" (kustomize's FieldSpec), the
//! walk that visits the values at such a path, and the transformer configuration that
//! lists, per transformer, the field specs it touches (built in, plus any a
//! kustomization adds with `configurations:`).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};
use crate::resid::Gvk;
use crate::resource::Resource;

/// A path in objects of a kind; parts of the kind left empty match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    /// Slash-separated; `\/` escapes a slash inside a field name; a trailing `[]` on
    /// a part says the field is a list. Lists are walked through implicitly.
    pub path: String,
    /// Whether missing fields along the path are created.
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            path: path.to_owned(),
            create,
        }
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::new(&self.group, &self.version, &self.kind)
    }

    /// Whether this spec applies to objects of `gvk`.
    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(&self.gvk())
    }

    /// The path split into field names (escapes resolved).
    pub fn path_parts(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits a field spec path on `/`, honouring `\/` inside a field name.
pub fn split_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                current.push('/');
                chars.next();
            }
            '/' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// What to create at a missing leaf when a spec says `create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateKind {
    /// Create a map (labels, annotations, selectors).
    Map,
    /// Create an empty string (names, namespaces).
    Scalar,
}

/// Calls `set` on every value at `spec`'s path in `resource`, if the spec applies to
/// its kind. With `spec.create` and a `create` kind, missing fields are created
/// (intermediate ones as maps, the leaf as `create`), and a null leaf becomes one.
pub fn apply_fieldspec(
    resource: &mut Resource,
    spec: &FieldSpec,
    create: Option<CreateKind>,
    set: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    if !spec.applies_to(&resource.gvk()) {
        return Ok(());
    }
    let parts = spec.path_parts();
    let create = if spec.create { create } else { None };
    let id = resource.cur_id();
    let mut root = Value::Object(std::mem::take(&mut resource.obj));
    let result = walk(&mut root, &parts, create, set);
    if let Value::Object(map) = root {
        resource.obj = map;
    }
    result.map_err(|e| {
        KustomizeError::transform(format!(
            "considering field '{}' of object {id}: {e}",
            spec.path
        ))
    })
}

/// Visits the values at `path` under `node`. Lists on the way are walked through.
pub fn walk(
    node: &mut Value,
    path: &[String],
    create: Option<CreateKind>,
    set: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    let Some((first, rest)) = path.split_first() else {
        return set(node);
    };
    match node {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                walk(item, path, create, set)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let (field, is_list) = match first.strip_suffix("[]") {
                Some(field) => (field, true),
                None => (first.as_str(), false),
            };
            if field.is_empty() {
                return Err(KustomizeError::transform(
                    "cannot set or create an empty field name",
                ));
            }
            let create_here = match create {
                Some(kind) if !is_list => Some(if rest.is_empty() {
                    kind
                } else {
                    CreateKind::Map
                }),
                _ => None,
            };
            let fresh = |kind: CreateKind| match kind {
                CreateKind::Map => Value::Object(Map::new()),
                CreateKind::Scalar => Value::String(String::new()),
            };
            let child = match (map.get_mut(field), create_here) {
                (Some(child), Some(kind)) => {
                    if child.is_null() {
                        *child = fresh(kind);
                    }
                    child
                }
                (Some(child), None) => child,
                (None, Some(kind)) => map.entry(field.to_owned()).or_insert(fresh(kind)),
                (None, None) => return Ok(()),
            };
            walk(child, rest, create, set)
        }
        _ => Err(KustomizeError::transform(
            "expected sequence or mapping node",
        )),
    }
}

/// A kind whose name other objects refer to, and the fields that refer to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NameBackReference {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default, rename = "fieldSpecs")]
    pub referrers: Vec<FieldSpec>,
}

impl NameBackReference {
    pub fn gvk(&self) -> Gvk {
        Gvk::new(&self.group, &self.version, &self.kind)
    }
}

/// Per transformer, the field specs it touches (kustomize's TransformerConfig).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TransformerConfig {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub name_reference: Vec<NameBackReference>,
    pub var_reference: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
}

/// A field spec that says `create` where an equal one already there does not (or the
/// other way round): kustomize refuses to merge them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConflictingFieldSpecs;

/// Adds `other`'s specs to `specs`, skipping any whose path is already there for a
/// kind the new spec's filter selects (kustomize's FsSlice merge).
pub fn merge_specs(
    specs: &mut Vec<FieldSpec>,
    other: &[FieldSpec],
) -> std::result::Result<(), ConflictingFieldSpecs> {
    for spec in other {
        match specs
            .iter()
            .find(|s| s.path == spec.path && s.gvk().is_selected_by(&spec.gvk()))
        {
            Some(existing) if existing.create != spec.create => return Err(ConflictingFieldSpecs),
            Some(_) => {}
            None => specs.push(spec.clone()),
        }
    }
    Ok(())
}

impl TransformerConfig {
    /// The configuration kustomize starts from, before any `configurations:`.
    pub fn builtin() -> Self {
        crate::fieldspecs_builtin::default_config()
    }

    /// This configuration with `other`'s specs added, as kustomize's
    /// TransformerConfig.Merge: each list merged, then sorted by kind. The sort is
    /// what makes a later merge drop a kind-less spec that a kind-specific one with
    /// the same path now precedes (a `configurations:` file that names
    /// `namePrefix: [{path: metadata/name, kind: X}]` limits the prefix to X).
    pub fn merged(&self, other: &TransformerConfig) -> std::result::Result<Self, String> {
        let mut merged = self.clone();
        for ((name, list), incoming) in merged.spec_lists_mut().into_iter().zip(other.spec_lists())
        {
            merge_specs(list, incoming)
                .map_err(|_| format!("failed to merge {name} fieldSpec: conflicting fieldspecs"))?;
        }
        for backref in &other.name_reference {
            match merged
                .name_reference
                .iter_mut()
                .find(|b| b.gvk() == backref.gvk())
            {
                Some(existing) => merge_specs(&mut existing.referrers, &backref.referrers)
                    .map_err(|_| {
                        "failed to merge NameReference fieldSpec: conflicting fieldspecs".to_owned()
                    })?,
                None => merged.name_reference.push(backref.clone()),
            }
        }
        merged.sort();
        Ok(merged)
    }

    /// The field spec lists (all but name references), with kustomize's names for
    /// them in merge errors.
    fn spec_lists_mut(&mut self) -> [(&'static str, &mut Vec<FieldSpec>); 10] {
        [
            ("NamePrefix", &mut self.name_prefix),
            ("NameSuffix", &mut self.name_suffix),
            ("NameSpace", &mut self.namespace),
            ("CommonAnnotations", &mut self.common_annotations),
            ("CommonLabels", &mut self.common_labels),
            ("Labels", &mut self.labels),
            ("TemplateLabels", &mut self.template_labels),
            ("VarReference", &mut self.var_reference),
            ("Images", &mut self.images),
            ("Replicas", &mut self.replicas),
        ]
    }

    /// [`Self::spec_lists_mut`], read only, in the same order.
    fn spec_lists(&self) -> [&Vec<FieldSpec>; 10] {
        [
            &self.name_prefix,
            &self.name_suffix,
            &self.namespace,
            &self.common_annotations,
            &self.common_labels,
            &self.labels,
            &self.template_labels,
            &self.var_reference,
            &self.images,
            &self.replicas,
        ]
    }

    /// kustomize's sortFields: every list by kind (a stable sort here; Go's is not,
    /// but entries of one kind differ in path, so their order changes nothing).
    fn sort(&mut self) {
        for (_, list) in self.spec_lists_mut() {
            list.sort_by(|a, b| crate::namereference::compare_gvk(&a.gvk(), &b.gvk()));
        }
        crate::namereference::sort_backrefs(&mut self.name_reference);
    }

    /// Adds one name reference without sorting (kustomize's nbrSlice.mergeOne), as a
    /// `crds:` file's references are gathered before they are merged.
    fn add_name_reference(&mut self, backref: NameBackReference) {
        match self
            .name_reference
            .iter_mut()
            .find(|b| b.gvk() == backref.gvk())
        {
            Some(existing) => add_spec(&mut existing.referrers, &backref.referrers),
            None => self.name_reference.push(backref),
        }
    }
}

/// [`merge_specs`] for specs gathered from CRD schemas: none says `create`, so none
/// can conflict with another.
fn add_spec(list: &mut Vec<FieldSpec>, specs: &[FieldSpec]) {
    if merge_specs(list, specs).is_err() {
        debug_assert!(false, "specs without `create` cannot conflict");
    }
}

/// The field specs a `crds:` file adds: OpenAPI definitions (name → `{Schema: ...}`)
/// whose `x-kubernetes-*` extensions mark references to other objects, label
/// selectors, annotations and names of custom resources (kustomize's
/// LoadConfigFromCRDs). Only definitions with apiVersion, kind and metadata count.
pub fn config_from_crd_definitions(definitions: &Value) -> TransformerConfig {
    let mut config = TransformerConfig::default();
    let Some(map) = definitions.as_object() else {
        return config;
    };
    for (name, definition) in map {
        let properties = definition.pointer("/Schema/properties");
        let is_object_type = properties.is_some_and(|p| {
            ["kind", "apiVersion", "metadata"]
                .iter()
                .all(|k| p.get(*k).is_some())
        });
        if !is_object_type {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        let mut path = Vec::new();
        add_crd_fields(&mut config, kind, map, name, &mut path, 0);
    }
    config
}

fn add_crd_fields(
    config: &mut TransformerConfig,
    kind: &str,
    definitions: &Map<String, Value>,
    type_name: &str,
    path: &mut Vec<String>,
    depth: usize,
) {
    // References may be recursive; kustomize's inputs are shallow, so stop early.
    if depth > 16 {
        return;
    }
    let Some(properties) = definitions
        .get(type_name)
        .and_then(|d| d.pointer("/Schema/properties"))
        .and_then(Value::as_object)
    else {
        return;
    };
    let spec_at = |path: &[String], extra: &[&str]| {
        let mut parts: Vec<&str> = path.iter().map(String::as_str).collect();
        parts.extend_from_slice(extra);
        FieldSpec::new("", "", kind, &parts.join("/"), false)
    };
    for (property, schema) in properties {
        path.push(property.clone());
        let has = |key: &str| schema.get(key).is_some_and(Value::is_string);
        if has("x-kubernetes-annotation") {
            add_spec(&mut config.common_annotations, &[spec_at(path, &[])]);
        }
        if has("x-kubernetes-label-selector") {
            add_spec(&mut config.common_labels, &[spec_at(path, &[])]);
        }
        if has("x-kubernetes-identity") {
            add_spec(&mut config.name_prefix, &[spec_at(path, &[])]);
        }
        let text = |key: &str| schema.get(key).and_then(Value::as_str);
        if let (Some(version), Some(ref_kind)) = (
            text("x-kubernetes-object-ref-api-version"),
            text("x-kubernetes-object-ref-kind"),
        ) {
            let name_key = text("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let backref = NameBackReference {
                group: String::new(),
                version: version.to_owned(),
                kind: ref_kind.to_owned(),
                referrers: vec![spec_at(path, &[name_key])],
            };
            config.add_name_reference(backref);
        }
        if let Some(reference) = text("$ref") {
            add_crd_fields(config, kind, definitions, reference, path, depth + 1);
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_kind_specific_spec_displaces_the_kind_less_one_after_the_second_merge() {
        let custom = TransformerConfig {
            name_prefix: vec![FieldSpec::new("", "", "Deployment", "metadata/name", false)],
            ..Default::default()
        };
        let config = TransformerConfig::builtin().merged(&custom).expect("merge");
        // The first merge keeps both, sorted with the kind first ...
        assert_eq!(config.name_prefix.len(), 2);
        assert_eq!(config.name_prefix[0].gvk().kind, "Deployment");
        // ... and merging that into the accumulation drops the kind-less spec.
        let accumulated = TransformerConfig::default().merged(&config).expect("merge");
        assert_eq!(accumulated.name_prefix, custom.name_prefix);
    }

    #[test]
    fn specs_that_disagree_on_create_do_not_merge() {
        let custom = TransformerConfig {
            common_labels: vec![FieldSpec::new(
                "",
                "",
                "ConfigMap",
                "metadata/labels",
                false,
            )],
            ..Default::default()
        };
        let accumulated = TransformerConfig::default().merged(&custom).expect("merge");
        let error = accumulated
            .merged(&TransformerConfig::builtin())
            .expect_err("metadata/labels is created by the built-in spec");
        assert_eq!(
            error,
            "failed to merge CommonLabels fieldSpec: conflicting fieldspecs"
        );
    }

    fn deployment() -> Resource {
        let Value::Object(obj) = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}
            ]}}}
        }) else {
            panic!("map")
        };
        Resource::new(obj, "d.yaml")
    }

    #[test]
    fn walks_through_lists_and_skips_other_kinds() {
        let mut r = deployment();
        let mut seen = Vec::new();
        let spec = FieldSpec::new(
            "apps",
            "",
            "Deployment",
            "spec/template/spec/containers/image",
            false,
        );
        apply_fieldspec(&mut r, &spec, None, &mut |v| {
            seen.push(v.as_str().unwrap_or_default().to_owned());
            Ok(())
        })
        .expect("walk");
        assert_eq!(seen, ["nginx", "redis"]);
        let other = FieldSpec::new(
            "",
            "",
            "StatefulSet",
            "spec/template/spec/containers/image",
            false,
        );
        apply_fieldspec(&mut r, &other, None, &mut |_| panic!("not a StatefulSet")).expect("skip");
    }

    #[test]
    fn creates_missing_maps_only_when_asked() {
        let mut r = deployment();
        let spec = FieldSpec::new("", "", "", "spec/selector/matchLabels", true);
        apply_fieldspec(&mut r, &spec, Some(CreateKind::Map), &mut |v| {
            v.as_object_mut()
                .expect("map")
                .insert("app".into(), json!("web"));
            Ok(())
        })
        .expect("create");
        assert_eq!(
            r.obj["spec"]["selector"]["matchLabels"],
            json!({"app": "web"})
        );
    }

    #[test]
    fn escaped_slashes_stay_in_field_names() {
        assert_eq!(
            split_path(r"metadata/annotations/config.kubernetes.io\/local-config"),
            [
                "metadata",
                "annotations",
                "config.kubernetes.io/local-config"
            ]
        );
    }

    #[test]
    fn a_scalar_in_the_way_is_an_error_naming_the_object() {
        let mut r = deployment();
        let spec = FieldSpec::new("", "", "", "metadata/name/x", false);
        let err = apply_fieldspec(&mut r, &spec, None, &mut |_| Ok(())).expect_err("scalar");
        assert!(err.to_string().contains("Deployment.v1.apps/web"), "{err}");
    }
}
