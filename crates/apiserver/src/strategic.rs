//! Strategic merge patch (`application/strategic-merge-patch+json`), as the Kubernetes
//! API server applies it to built-in kinds.

use serde_json::Value;

use crate::listmeta::MergeMeta;

/// Why a strategic merge patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum StrategicPatchError {
    #[error("{0}")]
    Invalid(String),
}

/// Applies `patch` to `original` with the merge rules in `meta`, returning the result.
pub fn apply(
    original: &Value,
    patch: &Value,
    meta: &dyn MergeMeta,
) -> Result<Value, StrategicPatchError> {
    let _ = (original, patch, meta);
    Err(StrategicPatchError::Invalid(
        "strategic merge patch is not built yet".to_owned(),
    ))
}
