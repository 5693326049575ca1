//! The audit log: one JSON line per request in the shape of `audit.k8s.io/v1` Event, so
//! tests and benchmarks can count and order API requests.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::json;

use crate::rbac::UserInfo;

/// One finished request, as the audit log records it.
pub struct AuditRecord<'a> {
    pub verb: &'a str,
    pub request_uri: &'a str,
    pub user: &'a UserInfo,
    pub impersonated: Option<&'a UserInfo>,
    pub user_agent: &'a str,
    pub source_ip: String,
    pub api_group: &'a str,
    pub api_version: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub code: u16,
    pub received: chrono::DateTime<chrono::Utc>,
    pub finished: chrono::DateTime<chrono::Utc>,
}

/// Appends audit events to a file.
pub struct AuditLog {
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AuditLog {
            file: Mutex::new(file),
        })
    }

    pub fn record(&self, r: &AuditRecord<'_>) {
        let mut event = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": uuid::Uuid::new_v4().to_string(),
            "stage": "ResponseComplete",
            "requestURI": r.request_uri,
            "verb": r.verb,
            "user": {"username": r.user.name, "groups": r.user.groups},
            "sourceIPs": [r.source_ip],
            "userAgent": r.user_agent,
            "responseStatus": {"metadata": {}, "code": r.code},
            "requestReceivedTimestamp": crate::util::rfc3339_micro(r.received),
            "stageTimestamp": crate::util::rfc3339_micro(r.finished),
        });
        if let Some(i) = r.impersonated {
            event["impersonatedUser"] = json!({"username": i.name, "groups": i.groups});
        }
        if !r.resource.is_empty() {
            let mut object_ref = json!({"resource": r.resource, "apiVersion": r.api_version});
            for (k, v) in [
                ("apiGroup", r.api_group),
                ("subresource", r.subresource),
                ("namespace", r.namespace),
                ("name", r.name),
            ] {
                if !v.is_empty() {
                    object_ref[k] = json!(v);
                }
            }
            event["objectRef"] = object_ref;
        }
        let mut line = event.to_string();
        line.push('\n');
        // A poisoned lock only means another request panicked mid-write; keep logging.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "audit log write failed");
        }
    }
}
