//! The kustomization file: its fields, read strictly (an unknown field is an error,
//! as in kustomize), with the deprecated spellings folded into the current ones.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::FieldSpec;
use crate::resource::Selector;

/// The file names kustomize recognises, in the order it tries them.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

pub type StringMap = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    /// Accepted and unused, as in kustomize.
    #[serde(default, rename = "metadata")]
    pub _metadata: Option<Value>,
    #[serde(default, rename = "openapi")]
    pub open_api: BTreeMap<String, String>,
    #[serde(default)]
    pub name_prefix: String,
    #[serde(default)]
    pub name_suffix: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub common_labels: StringMap,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub common_annotations: StringMap,
    /// Each entry is a file path or an inline patch.
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub patches_json6902: Vec<Patch>,
    #[serde(default)]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub image_tags: Vec<Image>,
    /// Replacement entries (inline, or `path:` to a file of them); read by the
    /// replacements transformer.
    #[serde(default)]
    pub replacements: Vec<Value>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    /// Var entries; read by the vars module.
    #[serde(default)]
    pub vars: Vec<Value>,
    #[serde(default)]
    pub sort_options: Option<SortOptions>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub crds: Vec<String>,
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub secret_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub helm_globals: Option<Value>,
    #[serde(default)]
    pub helm_charts: Vec<Value>,
    #[serde(default)]
    pub helm_chart_inflation_generator: Vec<Value>,
    #[serde(default)]
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub configurations: Vec<String>,
    #[serde(default)]
    pub generators: Vec<String>,
    #[serde(default)]
    pub transformers: Vec<String>,
    #[serde(default)]
    pub validators: Vec<String>,
    #[serde(default)]
    pub build_metadata: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Label {
    #[serde(default)]
    pub pairs: StringMap,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub patch: String,
    #[serde(default)]
    pub target: Option<Selector>,
    #[serde(default)]
    pub options: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub new_name: String,
    #[serde(default)]
    pub tag_suffix: String,
    #[serde(default)]
    pub new_tag: String,
    #[serde(default)]
    pub digest: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replica {
    #[serde(default)]
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    #[serde(default)]
    pub order: String,
    #[serde(default)]
    pub legacy_sort_options: Option<LegacySortOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

/// One configMapGenerator or secretGenerator entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorArgs {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub behavior: String,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    /// Deprecated single env file; folded into `envs`.
    #[serde(default)]
    pub env: String,
    #[serde(default)]
    pub options: Option<GeneratorOptions>,
    /// Secret type (secretGenerator only).
    #[serde(default, rename = "type")]
    pub secret_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    #[serde(default)]
    pub labels: StringMap,
    #[serde(default)]
    pub annotations: StringMap,
    #[serde(default)]
    pub disable_name_suffix_hash: bool,
    #[serde(default)]
    pub immutable: bool,
}

impl GeneratorOptions {
    /// kustomize's MergeGlobalOptionsIntoLocal: the entry's own options win per key;
    /// the booleans are set if either sets them.
    pub fn merged(local: Option<&GeneratorOptions>, global: Option<&GeneratorOptions>) -> Self {
        let mut result = global.cloned().unwrap_or_default();
        if let Some(local) = local {
            result.labels.extend(local.labels.clone());
            result.annotations.extend(local.annotations.clone());
            result.disable_name_suffix_hash |= local.disable_name_suffix_hash;
            result.immutable |= local.immutable;
        }
        result
    }
}

/// Fields whose values are maps of strings: Go reads a null value there as "".
/// (`labels` is a list at the top and a map in generator options.)
const STRING_MAP_FIELDS: [&str; 6] = [
    "commonLabels",
    "commonAnnotations",
    "pairs",
    "labels",
    "annotations",
    "openapi",
];

/// kustomize reads the file into Go structs, where a null is the zero value: a field
/// given as null (`components:` with every entry commented out) is as if absent, and a
/// null in a map of strings is "". Nulls are taken out here so the strict reading
/// below sees what Go sees.
fn go_zero_nulls(value: &mut Value, in_string_map: bool) {
    match value {
        Value::Object(map) => {
            if in_string_map {
                for entry in map.values_mut() {
                    if entry.is_null() {
                        *entry = Value::String(String::new());
                    }
                }
                return;
            }
            map.retain(|_, v| !v.is_null());
            for (key, entry) in map.iter_mut() {
                go_zero_nulls(entry, STRING_MAP_FIELDS.contains(&key.as_str()));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| go_zero_nulls(item, false)),
        _ => {}
    }
}

/// The kustomization file's top-level fields, as the struct below spells them.
const FIELDS: [&str; 34] = [
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
];

/// Go's JSON decoding, which kustomize's goes through, matches field names without
/// regard to case (`nameprefix` is namePrefix); so does this, at the top level.
fn match_field_case(value: &mut Value) {
    let Value::Object(map) = value else {
        return;
    };
    let renames: Vec<(String, &str)> = map
        .keys()
        .filter(|key| !FIELDS.contains(&key.as_str()))
        .filter_map(|key| {
            FIELDS
                .iter()
                .find(|field| field.eq_ignore_ascii_case(key))
                .map(|field| (key.clone(), *field))
        })
        .collect();
    for (key, field) in renames {
        if map.contains_key(field) {
            continue;
        }
        if let Some(v) = map.shift_remove(&key) {
            map.insert(field.to_owned(), v);
        }
    }
}

/// kustomize's CheckEmpty: apart from apiVersion and kind, every field holds Go's zero
/// value. An empty list or map is not zero (it is a non-nil slice or map).
fn is_empty_kustomization(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map
            .iter()
            .all(|(key, v)| key == "apiVersion" || key == "kind" || v.as_str() == Some("")),
        _ => false,
    }
}

impl Kustomization {
    /// Parses a kustomization file; `file` names it in errors.
    pub fn parse(content: &str, file: &str) -> Result<Self> {
        if content.trim().is_empty() {
            return Err(KustomizeError::field(
                file,
                "",
                "kustomization.yaml is empty",
            ));
        }
        // Through JSON values, as kustomize reads it: a field meant as text given as a
        // number (`newTag: 1.20`) is refused rather than guessed at.
        let mut value = crate::yaml::parse_documents_last_key_wins(content, file)?
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        go_zero_nulls(&mut value, false);
        match_field_case(&mut value);
        if is_empty_kustomization(&value) {
            return Err(KustomizeError::field(
                file,
                "",
                "kustomization.yaml is empty",
            ));
        }
        let mut kustomization: Kustomization =
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                KustomizeError::field(
                    file,
                    path,
                    format!("invalid Kustomization: {}", e.into_inner()),
                )
            })?;
        kustomization.fix();
        let wanted_version = if kustomization.is_component() {
            "kustomize.config.k8s.io/v1alpha1"
        } else {
            "kustomize.config.k8s.io/v1beta1"
        };
        if !kustomization.api_version.is_empty() && kustomization.api_version != wanted_version {
            return Err(KustomizeError::field(
                file,
                "apiVersion",
                format!(
                    "apiVersion for {} should be {wanted_version}",
                    kustomization.kind
                ),
            ));
        }
        match kustomization.kind.as_str() {
            "Kustomization" | "Component" => Ok(kustomization),
            other => Err(KustomizeError::field(
                file,
                "kind",
                format!("kind should be Kustomization or Component, not '{other}'"),
            )),
        }
    }

    pub fn is_component(&self) -> bool {
        self.kind == "Component"
    }

    /// kustomize's FixKustomization: defaults and deprecated spellings.
    fn fix(&mut self) {
        if self.kind.is_empty() {
            self.kind = "Kustomization".into();
        }
        self.resources.append(&mut self.bases);
        self.images.append(&mut self.image_tags);
        for generator in self
            .config_map_generator
            .iter_mut()
            .chain(self.secret_generator.iter_mut())
        {
            if !generator.env.is_empty() {
                generator.envs.push(std::mem::take(&mut generator.env));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = Kustomization::parse(
            "resources: [a.yaml]\nresorces: [b.yaml]\n",
            "k/kustomization.yaml",
        )
        .expect_err("typo");
        assert!(err.to_string().contains("resorces"), "{err}");
        assert!(err.to_string().contains("k/kustomization.yaml"), "{err}");
    }

    #[test]
    fn a_number_where_text_belongs_is_refused_naming_the_field() {
        let err = Kustomization::parse(
            "images: [{name: nginx, newTag: 1.20}]\n",
            "kustomization.yaml",
        )
        .expect_err("numeric tag");
        assert!(err.to_string().contains("images[0].newTag"), "{err}");
    }

    #[test]
    fn bases_and_image_tags_fold_into_current_fields() {
        let k = Kustomization::parse(
            "bases: [../base]\nresources: [a.yaml]\nimageTags: [{name: nginx, newTag: '1.10'}]\n",
            "kustomization.yaml",
        )
        .expect("parse");
        assert_eq!(k.resources, ["a.yaml", "../base"]);
        assert_eq!(k.images[0].new_tag, "1.10");
        assert_eq!(k.kind, "Kustomization");
    }
}
