//! `images:`: rewrite container images by name (new name, tag, digest).
//!
//! Like kustomize, every `containers` and `initContainers` list anywhere in an object
//! is updated, and then the configured image field specs; CustomResourceDefinitions
//! are left alone (their schemas mention `containers`).

use regex::Regex;
use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{apply_fieldspec, FieldSpec};
use crate::kustomization::Image;
use crate::resource::ResMap;

pub fn transform(resources: &mut ResMap, images: &[Image], specs: &[FieldSpec]) -> Result<()> {
    for image in images {
        let matcher = image_matcher(&image.name)?;
        for resource in &mut resources.resources {
            if resource.kind() == "CustomResourceDefinition" {
                continue;
            }
            let mut root = Value::Object(std::mem::take(&mut resource.obj));
            let result = update_container_lists(&mut root, image, &matcher);
            if let Value::Object(map) = root {
                resource.obj = map;
            }
            result?;
            for spec in specs {
                apply_fieldspec(resource, spec, None, &mut |node| {
                    set_image(node, image, &matcher)
                })?;
            }
        }
    }
    Ok(())
}

/// kustomize's match: the whole image is the name, optionally with a tag and digest.
fn image_matcher(name: &str) -> Result<Regex> {
    Regex::new(&format!(
        "^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$"
    ))
    .map_err(|e| KustomizeError::field("", "images", format!("invalid image name '{name}': {e}")))
}

fn update_container_lists(node: &mut Value, image: &Image, matcher: &Regex) -> Result<()> {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                update_container_lists(value, image, matcher)?;
                if key == "containers" || key == "initContainers" {
                    if let Value::Array(items) = value {
                        for item in items {
                            if let Some(field) = item.get_mut("image") {
                                set_image(field, image, matcher)?;
                            }
                        }
                    }
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                update_container_lists(item, image, matcher)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn set_image(node: &mut Value, image: &Image, matcher: &Regex) -> Result<()> {
    let current = match node {
        Value::String(s) => s.clone(),
        Value::Null => return Ok(()),
        _ => {
            return Err(KustomizeError::transform(
                "wrong node kind: an image must be a string",
            ))
        }
    };
    if !matcher.is_match(&current) {
        return Ok(());
    }
    *node = Value::String(rewrite(&current, image));
    Ok(())
}

/// The new reference for `current` under `image`.
fn rewrite(current: &str, image: &Image) -> String {
    let (mut name, mut tag, mut digest) = split(current);
    if !image.new_name.is_empty() {
        name = image.new_name.clone();
    }
    if !image.new_tag.is_empty() && !image.digest.is_empty() {
        tag = image.new_tag.clone();
        digest = image.digest.clone();
    } else if !image.new_tag.is_empty() {
        tag = image.new_tag.clone();
        digest.clear();
    } else if !image.digest.is_empty() {
        tag.clear();
        digest = image.digest.clone();
    } else if !image.tag_suffix.is_empty() {
        tag.push_str(&image.tag_suffix);
        digest.clear();
    }
    if !tag.is_empty() {
        name.push(':');
        name.push_str(&tag);
    }
    if !digest.is_empty() {
        name.push('@');
        name.push_str(&digest);
    }
    name
}

/// Splits an image reference into name, tag and digest. A `:` before the first `/`
/// is a registry port, not a tag.
fn split(reference: &str) -> (String, String, String) {
    let offset = match reference.find('/') {
        Some(i) if i > 0 => i,
        _ => 0,
    };
    let search = &reference[offset..];
    let at = search.find('@').map(|i| i + offset);
    let colon = search.find(':').map(|i| i + offset);
    match (colon, at) {
        (None, None) => (reference.to_owned(), String::new(), String::new()),
        (colon, Some(at)) if colon.is_none_or(|c| at < c) => (
            reference[..at].to_owned(),
            String::new(),
            reference[at + 1..].to_owned(),
        ),
        (Some(colon), Some(at)) => (
            reference[..colon].to_owned(),
            reference[colon + 1..at].to_owned(),
            reference[at + 1..].to_owned(),
        ),
        (Some(colon), None) => (
            reference[..colon].to_owned(),
            reference[colon + 1..].to_owned(),
            String::new(),
        ),
        (None, Some(_)) => unreachable!("handled by the guard above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, new_name: &str, new_tag: &str, digest: &str) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.into(),
            new_tag: new_tag.into(),
            digest: digest.into(),
            ..Default::default()
        }
    }

    #[test]
    fn registry_ports_are_not_tags() {
        assert_eq!(
            split("registry:5000/team/app:1.2@sha256:ab"),
            (
                "registry:5000/team/app".into(),
                "1.2".into(),
                "sha256:ab".into()
            )
        );
        assert_eq!(
            split("nginx"),
            ("nginx".into(), String::new(), String::new())
        );
    }

    #[test]
    fn a_new_tag_drops_the_old_digest_and_a_digest_drops_the_tag() {
        assert_eq!(
            rewrite("nginx@sha256:aa", &image("nginx", "", "1.25", "")),
            "nginx:1.25"
        );
        assert_eq!(
            rewrite("nginx:1.0", &image("nginx", "my/nginx", "", "sha256:bb")),
            "my/nginx@sha256:bb"
        );
        assert_eq!(
            rewrite("nginx", &image("nginx", "", "1.25", "sha256:cc")),
            "nginx:1.25@sha256:cc"
        );
    }

    #[test]
    fn only_the_whole_name_matches() {
        let m = image_matcher("nginx").expect("regex");
        assert!(m.is_match("nginx:1.0"));
        assert!(!m.is_match("nginx-exporter:1.0"));
        assert!(!m.is_match("my/nginx"));
    }
}
