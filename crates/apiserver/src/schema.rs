//! Structural OpenAPI v3 schemas of custom resources: validation (errors naming the
//! field, as a 422 Invalid lists them), defaulting and pruning of unknown fields.

use serde_json::Value;

/// One invalid field, as Kubernetes reports it in `status.details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `Unsupported value`, `Required value`, `Invalid value`, ...: Kubernetes' reason type.
    pub reason: &'static str,
    /// The field path in Kubernetes' notation, e.g. `spec.interval`, `spec.ref.branch`, `spec.items[0].name`.
    pub field: String,
    /// The message, e.g. `Invalid value: "integer": spec.interval in body must be of type string: "integer"`.
    pub message: String,
}

/// Validates `object` against `schema` (the CRD version's `openAPIV3Schema`).
pub fn validate(schema: &Value, object: &Value) -> Vec<FieldError> {
    let _ = (schema, object);
    Vec::new()
}

/// Applies the schema's `default` values to `object`, as the API server does on create,
/// update and read.
pub fn apply_defaults(schema: &Value, object: &mut Value) {
    let _ = (schema, object);
}

/// Drops fields the schema does not declare, unless `x-kubernetes-preserve-unknown-fields`
/// allows them. `apiVersion`, `kind` and `metadata` at the root are always kept.
pub fn prune(schema: &Value, object: &mut Value) {
    let _ = (schema, object);
}
