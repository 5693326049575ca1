//! commonLabels, labels and commonAnnotations: set keys in maps at field specs
//! (metadata, and for selector-including labels, selectors and pod templates).

use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{apply_fieldspec, merge_specs, CreateKind, FieldSpec, TransformerConfig};
use crate::kustomization::{Kustomization, StringMap};
use crate::resource::ResMap;

/// The `labels:` entries, then `commonLabels` (kustomize's LabelTransformer order).
pub fn transform_labels(
    resources: &mut ResMap,
    k: &Kustomization,
    config: &TransformerConfig,
) -> Result<()> {
    for (i, label) in k.labels.iter().enumerate() {
        if let Some(key) = label
            .pairs
            .keys()
            .find(|key| k.common_labels.contains_key(*key))
        {
            return Err(KustomizeError::field(
                "",
                format!("labels[{i}]"),
                format!("label name '{key}' exists in both commonLabels and labels"),
            ));
        }
        let conflict =
            |_| KustomizeError::field("", format!("labels[{i}]"), "conflicting fieldspecs");
        let mut specs = label.fields.clone();
        merge_specs(&mut specs, &config.labels).map_err(conflict)?;
        if label.include_selectors {
            merge_specs(&mut specs, &config.common_labels).map_err(conflict)?;
        } else {
            if label.include_templates {
                merge_specs(&mut specs, &config.template_labels).map_err(conflict)?;
            }
            merge_specs(
                &mut specs,
                &[FieldSpec::new("", "", "", "metadata/labels", true)],
            )
            .map_err(conflict)?;
        }
        set_entries(resources, &label.pairs, &specs)?;
    }
    set_entries(resources, &k.common_labels, &config.common_labels)
}

pub fn add_annotations(
    resources: &mut ResMap,
    annotations: &StringMap,
    specs: &[FieldSpec],
) -> Result<()> {
    set_entries(resources, annotations, specs)
}

/// Sets every pair in the maps at `specs` of every resource, creating maps where a
/// spec says so.
pub fn set_entries(resources: &mut ResMap, pairs: &StringMap, specs: &[FieldSpec]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for resource in &mut resources.resources {
        for spec in specs {
            apply_fieldspec(resource, spec, Some(CreateKind::Map), &mut |node| {
                if node.is_null() {
                    *node = Value::Object(Map::new());
                }
                let Value::Object(map) = node else {
                    return Err(KustomizeError::transform(format!(
                        "wrong node kind: expected a map at '{}'",
                        spec.path
                    )));
                };
                for (key, value) in pairs {
                    map.insert(key.clone(), Value::String(value.clone()));
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}
