//! Flux's OCI artifacts: what `flux push artifact` writes (a tarball layer of media type
//! `application/vnd.cncf.flux.content.v1.tar+gzip`, an empty config of type
//! `application/vnd.cncf.flux.config.v1+json`, and the source and revision as OCI
//! annotations) and how an OCIRepository picks what to pull: the reference (digest over
//! semver over tag, `latest` by default), the layer, and the revision it reports
//! (`TAG@sha256:DIGEST`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::oci::{pick_version, OciClient, OciError};
use crate::api::source_v1::{OciLayerSelector, OciRepositoryRef};

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
pub const REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// What the spec's `ref` asks for, before asking the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Digest(String),
    /// A semver range over the tags, those matching the filter only.
    Semver {
        range: String,
        filter: Option<String>,
    },
    Tag(String),
}

/// Flux's precedence: digest, then semver, then tag, else `latest`.
pub fn wanted(reference: Option<&OciRepositoryRef>) -> Wanted {
    let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let Some(r) = reference else {
        return Wanted::Tag("latest".into());
    };
    if let Some(digest) = non_empty(&r.digest) {
        return Wanted::Digest(digest);
    }
    if let Some(range) = non_empty(&r.semver) {
        return Wanted::Semver {
            range,
            filter: non_empty(&r.semver_filter),
        };
    }
    Wanted::Tag(non_empty(&r.tag).unwrap_or_else(|| "latest".into()))
}

/// The tag a semver range picks among `tags` (after `filter`), as Flux picks it.
pub fn pick_tag(tags: &[String], range: &str, filter: Option<&str>) -> Result<String, String> {
    let filtered: Vec<String> = match filter {
        Some(pattern) => {
            let regex = regex::Regex::new(pattern)
                .map_err(|e| format!("failed to parse spec.ref.semverFilter '{pattern}': {e}"))?;
            tags.iter().filter(|t| regex.is_match(t)).cloned().collect()
        }
        None => tags.to_vec(),
    };
    let version = pick_version(&filtered, range).map_err(|_| {
        format!("failed to determine artifact tag: no match found for semver: {range}")
    })?;
    // pick_version reads `_` as `+`; the tag is what the registry has.
    Ok(filtered
        .iter()
        .find(|t| t.replace('_', "+") == version)
        .cloned()
        .unwrap_or(version))
}

/// The revision an OCIRepository reports: `TAG@sha256:HEX`, or the digest alone when
/// it was asked for by digest.
pub fn revision(tag: Option<&str>, digest: &str) -> String {
    match tag {
        Some(tag) => format!("{tag}@{digest}"),
        None => digest.to_owned(),
    }
}

/// One layer of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// How the chosen layer becomes the artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerOperation {
    /// Unpack the tarball and store its files (the default).
    Extract,
    /// Store the blob as it is.
    Copy,
}

/// The layer `layerSelector` picks: the first of its media type, else the first one.
pub fn select_layer(
    manifest: &Value,
    selector: Option<&OciLayerSelector>,
) -> Result<(Layer, LayerOperation), String> {
    let layers: Vec<Layer> = manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| {
            Some(Layer {
                digest: l.get("digest")?.as_str()?.to_owned(),
                media_type: l
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                size: l.get("size").and_then(Value::as_u64).unwrap_or(0),
            })
        })
        .collect();
    let media_type = selector
        .and_then(|s| s.media_type.as_deref())
        .filter(|m| !m.is_empty());
    let layer = match media_type {
        Some(wanted) => layers
            .into_iter()
            .find(|l| l.media_type == wanted)
            .ok_or_else(|| {
                format!("failed to find layer with media type '{wanted}' in artifact")
            })?,
        None => layers
            .into_iter()
            .next()
            .ok_or_else(|| "no layers found in artifact".to_owned())?,
    };
    let operation = match selector.and_then(|s| s.operation.as_deref()) {
        Some("copy") => LayerOperation::Copy,
        _ => LayerOperation::Extract,
    };
    Ok((layer, operation))
}

/// The manifest's annotations (Flux keeps them as the artifact's metadata).
pub fn annotations(manifest: &Value) -> BTreeMap<String, String> {
    manifest
        .get("annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

/// The image manifest of a Flux artifact: the config and content blobs by digest and
/// size, with the annotations.
pub fn manifest_for(
    config: (&str, usize),
    content: (&str, usize),
    annotations: &BTreeMap<String, String>,
) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config.0, "size": config.1},
        "layers": [{"mediaType": CONTENT_MEDIA_TYPE, "digest": content.0, "size": content.1}],
        "annotations": annotations,
    })
}

/// Pushes a Flux artifact (`content`: a tar.gz) as `tag`; the manifest's digest.
pub async fn push(
    client: &OciClient,
    tag: &str,
    content: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<String, OciError> {
    let config = b"{}";
    let config_digest = client.push_blob(config).await?;
    let content_digest = client.push_blob(content).await?;
    let manifest = manifest_for(
        (&config_digest, config.len()),
        (&content_digest, content.len()),
        annotations,
    );
    let bytes = serde_json::to_vec(&manifest)
        .map_err(|e| OciError::Manifest(format!("cannot encode the manifest: {e}")))?;
    client.push_manifest(tag, &bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(value: Value) -> OciRepositoryRef {
        serde_json::from_value(value).expect("ref")
    }

    #[test]
    fn digest_wins_over_semver_over_tag_and_latest_is_the_default() {
        assert_eq!(wanted(None), Wanted::Tag("latest".into()));
        assert_eq!(
            wanted(Some(&reference(
                json!({"tag": "v1", "semver": ">=1.0.0", "digest": "sha256:ab"})
            ))),
            Wanted::Digest("sha256:ab".into())
        );
        assert_eq!(
            wanted(Some(&reference(
                json!({"tag": "v1", "semver": "1.x", "semverFilter": "^1"})
            ))),
            Wanted::Semver {
                range: "1.x".into(),
                filter: Some("^1".into())
            }
        );
        assert_eq!(
            wanted(Some(&reference(json!({"tag": "v1"})))),
            Wanted::Tag("v1".into())
        );
        assert_eq!(
            wanted(Some(&reference(json!({})))),
            Wanted::Tag("latest".into())
        );
    }

    #[test]
    fn semver_picks_the_highest_tag_the_filter_lets_through() {
        let tags: Vec<String> = [
            "1.0.0",
            "1.2.0",
            "1.3.0-rc.1",
            "2.0.0",
            "latest",
            "1.2.0-dev",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        assert_eq!(pick_tag(&tags, "1.x", None).unwrap(), "1.2.0");
        assert_eq!(pick_tag(&tags, "*", None).unwrap(), "2.0.0");
        assert_eq!(
            pick_tag(&tags, ">=1.0.0-0", Some("-dev$")).unwrap(),
            "1.2.0-dev"
        );
        assert_eq!(
            pick_tag(&tags, "3.x", None).unwrap_err(),
            "failed to determine artifact tag: no match found for semver: 3.x"
        );
        assert!(pick_tag(&tags, "1.x", Some("("))
            .unwrap_err()
            .contains("semverFilter"));
    }

    #[test]
    fn revisions_read_as_flux_writes_them() {
        assert_eq!(revision(Some("latest"), "sha256:abc"), "latest@sha256:abc");
        assert_eq!(revision(None, "sha256:abc"), "sha256:abc");
    }

    #[test]
    fn layers_are_chosen_by_media_type_or_first() {
        let manifest = manifest_for(
            ("sha256:c", 2),
            ("sha256:d", 10),
            &BTreeMap::from([(REVISION_ANNOTATION.to_owned(), "main@sha1:1".to_owned())]),
        );
        let (layer, operation) = select_layer(&manifest, None).unwrap();
        assert_eq!(
            (
                layer.digest.as_str(),
                layer.media_type.as_str(),
                layer.size,
                operation
            ),
            ("sha256:d", CONTENT_MEDIA_TYPE, 10, LayerOperation::Extract)
        );
        let copy = OciLayerSelector {
            media_type: Some(CONTENT_MEDIA_TYPE.into()),
            operation: Some("copy".into()),
        };
        assert_eq!(
            select_layer(&manifest, Some(&copy)).unwrap().1,
            LayerOperation::Copy
        );
        let other = OciLayerSelector {
            media_type: Some("application/x-other".into()),
            operation: None,
        };
        assert_eq!(
            select_layer(&manifest, Some(&other)).unwrap_err(),
            "failed to find layer with media type 'application/x-other' in artifact"
        );
        assert_eq!(
            select_layer(&json!({"layers": []}), None).unwrap_err(),
            "no layers found in artifact"
        );
        assert_eq!(annotations(&manifest)[REVISION_ANNOTATION], "main@sha1:1");
    }
}
