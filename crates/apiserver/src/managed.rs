//! Server-side apply and `metadata.managedFields`: which manager owns which field,
//! merging an applied configuration into the live object, and conflicts.

use serde_json::Value;

use crate::listmeta::MergeMeta;

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    /// The field in Kubernetes' notation, e.g. `.spec.replicas`.
    pub field: String,
}

/// Why an apply did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("conflicts with other managers")]
    Conflicts(Vec<Conflict>),
    #[error("{0}")]
    Invalid(String),
}

/// Server-side apply of `applied` by `manager` onto `live` (None when the object does
/// not exist yet). Returns the new object with updated `metadata.managedFields`.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    meta: &dyn MergeMeta,
    now: &str,
) -> Result<Value, ApplyError> {
    let _ = (live, applied, manager, force, meta, now);
    Err(ApplyError::Invalid(
        "server-side apply is not built yet".to_owned(),
    ))
}

/// Records an ordinary write (create, update, patch) by `manager` in
/// `new.metadata.managedFields`: the fields it changed become its own (operation
/// `Update`), and other managers lose them.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    meta: &dyn MergeMeta,
    now: &str,
) {
    let _ = (old, new, manager, meta, now);
}

/// Kubernetes' 409 text for apply conflicts (temporary until the module lands).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    format!("Apply failed with {} conflicts", conflicts.len())
}
