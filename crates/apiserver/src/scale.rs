//! The scale subresource (`autoscaling/v1` Scale) of workloads and custom resources.

use http::{HeaderMap, Response};
use serde_json::{json, Value};

use crate::api::{PatchType, Target, WriteOptions};
use crate::http::{json_response, Body, Shared};
use crate::request::RequestInfo;
use crate::selector::LabelSelector;
use crate::status::ApiError;

fn to_scale(target: &Target, object: &Value) -> Value {
    let spec = target
        .info
        .scale_spec(&target.version)
        .expect("scale is only served where a scale spec exists");
    let selector = match spec.label_selector.as_deref() {
        // Built-in workloads keep a structured selector in spec.selector.
        Some("/status/selector") if !target.info.is_custom() => object
            .pointer("/spec/selector")
            .and_then(|s| LabelSelector::from_object(s).ok())
            .map(|s| s.to_query())
            .unwrap_or_default(),
        Some(pointer) => object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        None => String::new(),
    };
    let meta = &object["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object.pointer(&spec.spec_replicas).cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": object.pointer(&spec.status_replicas).cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

pub fn serve(
    shared: &Shared,
    target: &Target,
    info: &RequestInfo,
    headers: &HeaderMap,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Response<Body>, ApiError> {
    let spec = target
        .info
        .scale_spec(&target.version)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&target.info.group, &target.info.plural, &info.name))?;
    let mut state = shared.lock();
    let current = state.get(target, &info.name)?;
    let replicas = match info.verb.as_str() {
        "get" => return Ok(json_response(200, &to_scale(target, &current))),
        "update" => {
            let scale: Value =
                serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let sent_rv = scale
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !sent_rv.is_empty()
                && Some(sent_rv)
                    != current
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
            {
                return Err(ApiError::conflict(&target.info.group, &target.info.plural, &info.name, "the object has been modified; please apply your changes to the latest version and try again"));
            }
            scale.pointer("/spec/replicas").cloned()
        }
        "patch" => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let mut scale = to_scale(target, &current);
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if content_type.starts_with("application/json-patch+json") {
                let ops: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                json_patch::patch(&mut scale, &ops)
                    .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
            } else {
                json_patch::merge(&mut scale, &patch);
            }
            scale.pointer("/spec/replicas").cloned()
        }
        other => {
            return Err(ApiError::method_not_allowed(format!(
                "{other} is not supported on scale"
            )))
        }
    };
    let Some(replicas) = replicas.filter(Value::is_i64) else {
        return Err(ApiError::invalid(
            "Scale.autoscaling",
            &info.name,
            vec![(
                "FieldValueRequired".into(),
                "spec.replicas".into(),
                "Required value".into(),
            )],
        ));
    };
    // Scaling is a merge patch of the replicas field by the caller's field manager.
    let mut patch = json!({});
    crate::objects::set_default(&mut patch, &spec.spec_replicas, replicas);
    let written = state.patch(
        target,
        &info.name,
        PatchType::Merge,
        patch,
        "scale",
        false,
        opts,
    )?;
    drop(state);
    shared.wake.notify_one();
    Ok(json_response(200, &to_scale(target, &written.object)))
}
