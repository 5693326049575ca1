//! API errors as Kubernetes `Status` objects: the code, reason and message real
//! clients switch on (`IsNotFound`, `IsConflict`, ...).

use serde_json::{json, Value};

/// An API error that becomes a `Status` response.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// Boxed: errors travel through every Result of the server, so keep them small.
    pub details: Option<Box<Value>>,
    /// Seconds a client should wait before retrying (429, some 5xx).
    pub retry_after: Option<u64>,
}

/// The `group` + `resource` name real errors use: `deployments.apps`, `pods`.
pub fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

fn details(group: &str, plural: &str, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": plural});
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        ApiError {
            details: Some(Box::new(details(group, plural, name))),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{}\" not found", qualified(group, plural), name),
            )
        }
    }

    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        ApiError {
            details: Some(Box::new(details(group, plural, name))),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{} \"{}\" already exists", qualified(group, plural), name),
            )
        }
    }

    /// Optimistic concurrency failure.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        ApiError {
            details: Some(Box::new(details(group, plural, name))),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": {}",
                    qualified(group, plural),
                    name,
                    why
                ),
            )
        }
    }

    /// 422 with one cause per invalid field.
    pub fn invalid(kind_group: &str, name: &str, causes: Vec<(String, String, String)>) -> Self {
        let messages: Vec<String> = causes
            .iter()
            .map(|(_, field, message)| format!("{field}: {message}"))
            .collect();
        let joined = if messages.len() == 1 {
            messages[0].clone()
        } else {
            format!("[{}]", messages.join(", "))
        };
        let (kind, group) = kind_group.split_once('.').unwrap_or((kind_group, ""));
        let mut d = json!({
            "name": name,
            "kind": kind,
            "causes": causes.iter().map(|(reason, field, message)| json!({
                "reason": reason, "message": message, "field": field,
            })).collect::<Vec<_>>(),
        });
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        ApiError {
            details: Some(Box::new(d)),
            ..Self::new(
                422,
                "Invalid",
                format!("{kind_group} \"{name}\" is invalid: {joined}"),
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"),
        )
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            details: Some(Box::new(json!({"retryAfterSeconds": retry_after}))),
            ..Self::new(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            status["details"] = (**d).clone();
        }
        status
    }
}

/// The `Status` a successful delete of a collection or a gone object returns.
pub fn success_status(details: Option<Value>) -> Value {
    let mut status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
    });
    if let Some(d) = details {
        status["details"] = d;
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_reads_like_kubectl_expects() {
        let e = ApiError::not_found("apps", "deployments", "web");
        assert_eq!(e.message, "deployments.apps \"web\" not found");
        let s = e.to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn invalid_joins_several_causes() {
        let e = ApiError::invalid(
            "GitRepository.source.toolkit.fluxcd.io",
            "podinfo",
            vec![
                (
                    "FieldValueRequired".into(),
                    "spec.url".into(),
                    "Required value".into(),
                ),
                (
                    "FieldValueInvalid".into(),
                    "spec.interval".into(),
                    "Invalid value: \"x\"".into(),
                ),
            ],
        );
        assert_eq!(
            e.message,
            "GitRepository.source.toolkit.fluxcd.io \"podinfo\" is invalid: [spec.url: Required value, spec.interval: Invalid value: \"x\"]"
        );
        assert_eq!(e.to_status()["details"]["kind"], "GitRepository");
    }
}
