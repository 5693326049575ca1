//! The built-in field specs of each transformer. STUB: being written.

use crate::fieldspec::{FieldSpec, TransformerConfig};

/// kustomize's default transformer configuration.
pub fn default_config() -> TransformerConfig {
    TransformerConfig {
        name_prefix: vec![FieldSpec::new("", "", "", "metadata/name", false)],
        name_suffix: vec![FieldSpec::new("", "", "", "metadata/name", false)],
        namespace: vec![FieldSpec::new("", "", "", "metadata/namespace", true)],
        common_labels: vec![FieldSpec::new("", "", "", "metadata/labels", true)],
        common_annotations: vec![FieldSpec::new("", "", "", "metadata/annotations", true)],
        ..Default::default()
    }
}
