//! Requests that are answered rather than stored: access reviews (`kubectl auth
//! can-i`), self-subject reviews (`kubectl auth whoami`) and service account tokens.

use http::Response;
use serde_json::{json, Value};

use crate::api::Target;
use crate::http::{json_response, rbac_snapshot, Body, Shared};
use crate::rbac::{self, Attributes, Decision, UserInfo};
use crate::status::ApiError;

fn attributes_from(spec: &Value) -> Attributes {
    let text = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    if spec.get("nonResourceAttributes").is_some() {
        return Attributes {
            verb: text("/nonResourceAttributes/verb"),
            non_resource_path: Some(text("/nonResourceAttributes/path")),
            ..Attributes::default()
        };
    }
    Attributes {
        verb: text("/resourceAttributes/verb"),
        api_group: text("/resourceAttributes/group"),
        resource: text("/resourceAttributes/resource"),
        subresource: text("/resourceAttributes/subresource"),
        namespace: text("/resourceAttributes/namespace"),
        name: text("/resourceAttributes/name"),
        non_resource_path: None,
    }
}

fn decide(shared: &Shared, user: &UserInfo, attrs: &Attributes) -> Value {
    let state = shared.lock();
    match rbac::authorize(user, attrs, &rbac_snapshot(&state)) {
        Decision::Allow => json!({"allowed": true, "reason": "allowed by RBAC"}),
        Decision::Deny(reason) => {
            let mut status = json!({"allowed": false});
            if !reason.is_empty() {
                status["reason"] = json!(reason);
            }
            status
        }
    }
}

/// Answers a review of `kind` posted by `user`.
pub fn answer(
    shared: &Shared,
    user: &UserInfo,
    kind: &str,
    mut review: Value,
) -> Result<Value, ApiError> {
    let spec = review.get("spec").cloned().unwrap_or(json!({}));
    let status = match kind {
        "SelfSubjectAccessReview" => decide(shared, user, &attributes_from(&spec)),
        "SubjectAccessReview" => {
            let subject = UserInfo {
                name: spec
                    .get("user")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                groups: spec
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|g| {
                        g.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            decide(shared, &subject, &attributes_from(&spec))
        }
        "SelfSubjectRulesReview" => {
            let namespace = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            let state = shared.lock();
            rbac::rules_for(user, namespace, &rbac_snapshot(&state)).to_status()
        }
        "SelfSubjectReview" => json!({"userInfo": {"username": user.name, "groups": user.groups}}),
        other => {
            return Err(ApiError::method_not_allowed(format!(
                "{other} is not supported"
            )))
        }
    };
    review["status"] = status;
    if review.get("metadata").is_none() {
        review["metadata"] = json!({});
    }
    review["metadata"]["creationTimestamp"] = Value::Null;
    Ok(review)
}

/// `serviceaccounts/NAME/token`: issues a bearer token for a service account
/// (what `kubectl create token NAME` asks for).
pub fn token_request(
    shared: &Shared,
    target: &Target,
    name: &str,
    mut request: Value,
) -> Result<Response<Body>, ApiError> {
    let mut state = shared.lock();
    if state
        .store
        .get(&target.info.key(), &target.namespace, name)
        .is_none()
    {
        return Err(ApiError::not_found("", "serviceaccounts", name));
    }
    let token = format!("ffsa.{}", uuid::Uuid::new_v4().simple());
    state.identities.tokens.insert(
        token.clone(),
        UserInfo::service_account(&target.namespace, name),
    );
    drop(state);
    let expiration = request
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let expires = chrono::Utc::now() + chrono::Duration::seconds(expiration);
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["metadata"] =
        json!({"name": name, "namespace": target.namespace, "creationTimestamp": null});
    request["spec"]["expirationSeconds"] = json!(expiration);
    request["status"] =
        json!({"token": token, "expirationTimestamp": crate::util::rfc3339(expires)});
    Ok(json_response(201, &request))
}
