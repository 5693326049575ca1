//! Releases as Helm's Secret driver stores them, so that the `helm` CLI and SDK read
//! what ferroflux writes and the other way round: one Secret per revision, named
//! `sh.helm.release.v1.NAME.vN`, of type `helm.sh/release.v1`, labelled `name`,
//! `owner=helm`, `status`, `version` and `modifiedAt`, whose `release` key holds
//! base64(gzip(JSON of the release)) in Helm's field names.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::chart::Chart;
use crate::manifests::Hook;

/// The Secret type of a stored release.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";
/// Go's zero time, as encoding/json prints it: what a never-set timestamp reads as.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("release data is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("release data is not gzip: {0}")]
    Gzip(#[from] std::io::Error),
    #[error("release data is not a release: {0}")]
    Json(#[from] serde_json::Error),
}

/// A release's lifecycle states, as Helm names them.
pub mod status {
    pub const DEPLOYED: &str = "deployed";
    pub const UNINSTALLED: &str = "uninstalled";
    pub const SUPERSEDED: &str = "superseded";
    pub const FAILED: &str = "failed";
    pub const UNINSTALLING: &str = "uninstalling";
    pub const PENDING_INSTALL: &str = "pending-install";
    pub const PENDING_UPGRADE: &str = "pending-upgrade";
    pub const PENDING_ROLLBACK: &str = "pending-rollback";

    /// Whether an action on the release was under way (and, found later, died).
    pub fn is_pending(status: &str) -> bool {
        matches!(status, PENDING_INSTALL | PENDING_UPGRADE | PENDING_ROLLBACK)
    }
}

/// Helm's release record (pkg/release/v1 `Release`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRelease {
    pub name: String,
    pub info: Info,
    /// The chart as Helm serializes it (metadata, templates, values, files, ...).
    pub chart: Json,
    /// The values the user supplied (not the chart's defaults).
    #[serde(default, skip_serializing_if = "is_empty_object")]
    pub config: Json,
    #[serde(default)]
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<StoredHook>,
    pub version: i64,
    pub namespace: String,
    /// `ssa` (server-side apply) or `csa`; Helm 4 writes it, Helm 3 did not.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub apply_method: String,
}

fn is_empty_object(value: &Json) -> bool {
    value.is_null() || value.as_object().is_some_and(|m| m.is_empty())
}

/// `Info`: when and how the revision was deployed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Info {
    #[serde(default = "zero_time")]
    pub first_deployed: String,
    #[serde(default = "zero_time")]
    pub last_deployed: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deleted: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

fn zero_time() -> String {
    ZERO_TIME.to_owned()
}

/// A hook as stored with its release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredHook {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub manifest: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub last_run: HookRun,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_log_policies: Vec<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The last run of a hook: `phase` is `Running`, `Succeeded`, `Failed` or empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HookRun {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completed_at: String,
    #[serde(default)]
    pub phase: String,
}

impl StoredHook {
    pub fn from_hook(hook: &Hook) -> Self {
        Self {
            name: hook.name.clone(),
            kind: hook.kind.clone(),
            path: hook.path.clone(),
            manifest: hook.manifest.clone(),
            events: hook.events.iter().map(|e| e.as_str().to_owned()).collect(),
            last_run: HookRun::default(),
            weight: hook.weight,
            delete_policies: hook.delete_policies.clone(),
            output_log_policies: hook.output_log_policies.clone(),
        }
    }
}

/// `sh.helm.release.v1.NAME.vVERSION`.
pub fn secret_name(release: &str, version: i64) -> String {
    format!("sh.helm.release.v1.{release}.v{version}")
}

/// The chart as Helm stores it in a release: its metadata, templates, values,
/// schema and files (subcharts are not stored; Helm leaves them out too).
pub fn chart_json(chart: &Chart) -> Json {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let file =
        |name: &str, bytes: &[u8]| json!({"name": name, "data": b64(bytes), "modtime": ZERO_TIME});
    json!({
        "metadata": to_json(&chart.metadata),
        "lock": Json::Null,
        "templates": chart
            .templates
            .iter()
            .map(|(name, text)| file(name, text.as_bytes()))
            .collect::<Vec<_>>(),
        "values": to_json(&chart.values),
        "schema": chart.schema.as_deref().map(b64),
        "schemamodtime": ZERO_TIME,
        "files": chart
            .files
            .iter()
            .map(|(name, bytes)| file(name, bytes))
            .collect::<Vec<_>>(),
        "modtime": ZERO_TIME,
    })
}

/// A template value as JSON (the form values and metadata take in a release).
pub fn to_json(value: &ferroflux_gotemplate::Value) -> Json {
    ferroflux_gotemplate::gojson::marshal(value, false)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Json::Null)
}

/// base64(gzip(JSON)): the Secret driver's encoding of a release.
pub fn encode(release: &StoredRelease) -> Result<String, StorageError> {
    let json = serde_json::to_vec(release)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(gz.finish()?))
}

/// Reads a release back from the Secret driver's encoding; data that is not
/// gzipped is read as plain JSON, as Helm does.
pub fn decode(data: &str) -> Result<StoredRelease, StorageError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim())?;
    let json = if bytes.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut out)?;
        out
    } else {
        bytes
    };
    Ok(serde_json::from_slice(&json)?)
}

/// The labels Helm's Secret driver sets; `modified_at` is Unix seconds.
pub fn secret_labels(release: &StoredRelease, modified_at: i64) -> Json {
    json!({
        "name": release.name,
        "owner": "helm",
        "status": release.info.status,
        "version": release.version.to_string(),
        "modifiedAt": modified_at.to_string(),
    })
}

/// The whole Secret for a release (its `data.release` is what [`encode`] made,
/// base64 once more as Secret data is).
pub fn secret(release: &StoredRelease, modified_at: i64) -> Result<Json, StorageError> {
    let encoded = encode(release)?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(&release.name, release.version),
            "namespace": release.namespace,
            "labels": secret_labels(release, modified_at),
        },
        "type": SECRET_TYPE,
        "data": {"release": base64::engine::general_purpose::STANDARD.encode(encoded)},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredRelease {
        StoredRelease {
            name: "podinfo".into(),
            info: Info {
                first_deployed: "2026-12-03T14:34:35.974962251Z".into(),
                last_deployed: "2026-12-03T14:34:35.974962251Z".into(),
                deleted: String::new(),
                description: "Install complete".into(),
                status: status::DEPLOYED.into(),
                notes: "hello".into(),
            },
            chart: json!({"metadata": {"name": "podinfo", "version": "6.14.1"}}),
            config: json!({"replicaCount": 2}),
            manifest: "---\n# Source: podinfo/templates/service.yaml\n".into(),
            hooks: Vec::new(),
            version: 1,
            namespace: "default".into(),
            apply_method: "ssa".into(),
        }
    }

    #[test]
    fn releases_read_back_from_their_encoding() {
        let release = sample();
        let encoded = encode(&release).expect("encode");
        let gz = base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .expect("base64");
        assert!(gz.starts_with(&GZIP_MAGIC), "gzip inside base64");
        assert_eq!(decode(&encoded).expect("decode"), release);
    }

    #[test]
    fn plain_json_is_read_as_helm_reads_it() {
        let json = serde_json::to_vec(&sample()).expect("json");
        let plain = base64::engine::general_purpose::STANDARD.encode(json);
        assert_eq!(decode(&plain).expect("decode").name, "podinfo");
    }

    #[test]
    fn field_names_are_helms() {
        let value = serde_json::to_value(sample()).expect("json");
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "name",
                "info",
                "chart",
                "config",
                "manifest",
                "version",
                "namespace",
                "apply_method"
            ]
        );
        assert!(
            value["info"].get("deleted").is_none(),
            "zero times left out"
        );
    }

    #[test]
    fn secrets_are_named_typed_and_labelled_as_helm_does() {
        let secret = secret(&sample(), 1_796_308_476).expect("secret");
        assert_eq!(secret["metadata"]["name"], "sh.helm.release.v1.podinfo.v1");
        assert_eq!(secret["type"], "helm.sh/release.v1");
        assert_eq!(
            secret["metadata"]["labels"],
            json!({"name": "podinfo", "owner": "helm", "status": "deployed", "version": "1",
                "modifiedAt": "1796308476"})
        );
        let outer = secret["data"]["release"].as_str().expect("data");
        let inner = base64::engine::general_purpose::STANDARD
            .decode(outer)
            .expect("secret data is base64");
        let inner = String::from_utf8(inner).expect("text");
        assert_eq!(decode(&inner).expect("release").version, 1);
    }

    #[test]
    fn pending_states_are_recognised() {
        assert!(status::is_pending("pending-upgrade"));
        assert!(!status::is_pending("deployed"));
    }
}
