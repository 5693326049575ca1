//! `patches`, and the deprecated `patchesStrategicMerge` and `patchesJson6902`.
//!
//! A patch is a strategic merge patch (YAML objects) or a JSON 6902 patch (a list of
//! operations, in YAML or JSON). Without a target, a strategic merge patch applies to
//! the one resource with its kind and name (original or current); with a target, to
//! every resource the target selects.

use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::kustomization::Patch;
use crate::loader::{KustDir, Loader};
use crate::resid::{Gvk, ResId};
use crate::resource::{ResMap, Resource, Selector};
use crate::smp::{self, MergeSchema};
use crate::yaml;

/// A parsed patch.
enum Parsed {
    Strategic(Vec<Value>),
    Json6902(json_patch::Patch),
}

/// The `patches:` entries, in order.
pub fn patches(
    resources: &mut ResMap,
    loader: &Loader,
    dir: &KustDir,
    entries: &[Patch],
    openapi: Option<&Value>,
) -> Result<()> {
    for (i, entry) in entries.iter().enumerate() {
        patch(
            resources,
            loader,
            dir,
            entry,
            &format!("patches[{i}]"),
            openapi,
        )?;
    }
    Ok(())
}

/// One patch entry (a `patches:` item or a PatchTransformer); `field` names it in errors.
pub fn patch(
    resources: &mut ResMap,
    loader: &Loader,
    dir: &KustDir,
    entry: &Patch,
    field: &str,
    openapi: Option<&Value>,
) -> Result<()> {
    let text = patch_text(loader, dir, entry, field)?;
    let options = PatchOptions {
        allow_name_change: entry
            .options
            .get("allowNameChange")
            .copied()
            .unwrap_or(false),
        allow_kind_change: entry
            .options
            .get("allowKindChange")
            .copied()
            .unwrap_or(false),
    };
    match parse(&text, &dir.file, field)? {
        Parsed::Strategic(patches) => match &entry.target {
            Some(target) => {
                let [patch] = patches.as_slice() else {
                    return Err(KustomizeError::field(
                        dir.file.clone(),
                        format!("{field}.target"),
                        "multiple strategic merge patches in one entry may not have a target",
                    ));
                };
                let selected = select(resources, target, &dir.file, field)?;
                apply_strategic_to(
                    resources, &selected, patch, options, openapi, &dir.file, field,
                )
            }
            None => {
                for patch in &patches {
                    let index = unique_target(resources, patch, &dir.file, field)?;
                    apply_strategic_to(
                        resources,
                        &[index],
                        patch,
                        options,
                        openapi,
                        &dir.file,
                        field,
                    )?;
                }
                Ok(())
            }
        },
        Parsed::Json6902(ops) => {
            let Some(target) = &entry.target else {
                return Err(KustomizeError::field(
                    dir.file.clone(),
                    format!("{field}.target"),
                    "a JSON 6902 patch needs a target",
                ));
            };
            let selected = select(resources, target, &dir.file, field)?;
            apply_json_to(resources, &selected, &ops, &dir.file, field)
        }
    }
}

/// `patchesStrategicMerge:` entries: file paths or inline patches.
pub fn strategic_merge_legacy(
    resources: &mut ResMap,
    loader: &Loader,
    dir: &KustDir,
    entries: &[String],
    openapi: Option<&Value>,
) -> Result<()> {
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("patchesStrategicMerge[{i}]");
        strategic_merge_entry(resources, loader, dir, entry, &field, openapi)?;
    }
    Ok(())
}

/// One strategic merge entry: a file path, or patches inline; `field` names it in errors.
pub fn strategic_merge_entry(
    resources: &mut ResMap,
    loader: &Loader,
    dir: &KustDir,
    entry: &str,
    field: &str,
    openapi: Option<&Value>,
) -> Result<()> {
    // An entry that parses as objects is an inline patch; otherwise it is a path.
    let patches = match yaml::parse_documents(entry, &dir.file) {
        Ok(docs) if !docs.is_empty() && docs.iter().all(Value::is_object) => docs,
        _ => {
            let text = loader.read_file(dir, entry, field)?;
            yaml::parse_documents(&text, entry)?
        }
    };
    for patch in &patches {
        if !patch.is_object() {
            return Err(KustomizeError::field(
                dir.file.clone(),
                field,
                "a patch must be an object",
            ));
        }
        let index = unique_target(resources, patch, &dir.file, field)?;
        apply_strategic_to(
            resources,
            &[index],
            patch,
            PatchOptions::default(),
            openapi,
            &dir.file,
            field,
        )?;
    }
    Ok(())
}

/// `patchesJson6902:` entries: a target and operations inline or from a file.
pub fn json6902_legacy(
    resources: &mut ResMap,
    loader: &Loader,
    dir: &KustDir,
    entries: &[Patch],
) -> Result<()> {
    for (i, entry) in entries.iter().enumerate() {
        json6902_entry(
            resources,
            loader,
            dir,
            entry,
            &format!("patchesJson6902[{i}]"),
        )?;
    }
    Ok(())
}

/// One JSON 6902 entry (a `patchesJson6902:` item or a PatchJson6902Transformer).
pub fn json6902_entry(
    resources: &mut ResMap,
    loader: &Loader,
    dir: &KustDir,
    entry: &Patch,
    field: &str,
) -> Result<()> {
    let Some(target) = &entry.target else {
        return Err(KustomizeError::field(
            dir.file.clone(),
            format!("{field}.target"),
            "a target is required",
        ));
    };
    let text = patch_text(loader, dir, entry, field)?;
    let ops = parse_json6902(&text).map_err(|e| {
        KustomizeError::field(
            dir.file.clone(),
            field,
            format!("invalid JSON 6902 patch: {e}"),
        )
    })?;
    let selected = select(resources, target, &dir.file, field)?;
    apply_json_to(resources, &selected, &ops, &dir.file, field)
}

#[derive(Debug, Clone, Copy, Default)]
struct PatchOptions {
    allow_name_change: bool,
    allow_kind_change: bool,
}

fn patch_text(loader: &Loader, dir: &KustDir, entry: &Patch, field: &str) -> Result<String> {
    let inline = entry.patch.trim();
    match (inline.is_empty(), entry.path.is_empty()) {
        (true, true) => Err(KustomizeError::field(
            dir.file.clone(),
            field,
            "must specify one of patch and path",
        )),
        (false, false) => Err(KustomizeError::field(
            dir.file.clone(),
            field,
            "patch and path can't be set at the same time",
        )),
        (false, true) => Ok(inline.to_owned()),
        (true, false) => loader.read_file(dir, &entry.path, &format!("{field}.path")),
    }
}

fn parse(text: &str, file: &str, field: &str) -> Result<Parsed> {
    let docs = yaml::parse_documents(text, file).map_err(|e| {
        KustomizeError::field(
            file,
            field,
            format!("unable to parse SM or JSON patch: {e}"),
        )
    })?;
    if !docs.is_empty() && docs.iter().all(Value::is_object) {
        return Ok(Parsed::Strategic(docs));
    }
    parse_json6902(text).map(Parsed::Json6902).map_err(|e| {
        KustomizeError::field(
            file,
            field,
            format!("unable to parse SM or JSON patch: {e}"),
        )
    })
}

fn parse_json6902(text: &str) -> std::result::Result<json_patch::Patch, String> {
    let docs = yaml::parse_documents(text, "").map_err(|e| e.to_string())?;
    let [ops] = docs.as_slice() else {
        return Err("expected one list of operations".into());
    };
    serde_json::from_value(ops.clone()).map_err(|e| e.to_string())
}

fn select(resources: &ResMap, target: &Selector, file: &str, field: &str) -> Result<Vec<usize>> {
    resources
        .select(target)
        .map_err(|e| KustomizeError::field(file, format!("{field}.target"), e.to_string()))
}

/// The id a patch names: its kind, name and namespace.
fn patch_id(patch: &Value) -> ResId {
    let text = |path: &[&str]| {
        let mut node = Some(patch);
        for key in path {
            node = node.and_then(|n| n.get(*key));
        }
        node.and_then(Value::as_str).unwrap_or_default().to_owned()
    };
    ResId::new(
        Gvk::from_api_version(&text(&["apiVersion"]), &text(&["kind"])),
        &text(&["metadata", "name"]),
        &text(&["metadata", "namespace"]),
    )
}

fn unique_target(resources: &ResMap, patch: &Value, file: &str, field: &str) -> Result<usize> {
    let id = patch_id(patch);
    match resources.matching_any_id(&id).as_slice() {
        [index] => Ok(*index),
        [] => Err(KustomizeError::field(
            file,
            field,
            format!("no resource matches strategic merge patch \"{id}\": no matches for Id {id}; failed to find unique target for patch {id}"),
        )),
        _ => Err(KustomizeError::field(
            file,
            field,
            format!("multiple matches for Id {id}; failed to find unique target for patch {id}"),
        )),
    }
}

fn apply_strategic_to(
    resources: &mut ResMap,
    indices: &[usize],
    patch: &Value,
    options: PatchOptions,
    openapi: Option<&Value>,
    file: &str,
    field: &str,
) -> Result<()> {
    let mut deleted = Vec::new();
    for &index in indices {
        let resource = &mut resources.resources[index];
        if !apply_strategic(resource, patch, options, openapi)
            .map_err(|e| KustomizeError::field(file, field, e.to_string()))?
        {
            deleted.push(index);
        }
    }
    for index in deleted.into_iter().rev() {
        resources.resources.remove(index);
    }
    Ok(())
}

/// Applies one strategic merge patch; `false` when the patch deleted the resource.
fn apply_strategic(
    resource: &mut Resource,
    patch: &Value,
    options: PatchOptions,
    openapi: Option<&Value>,
) -> Result<bool> {
    let (name, namespace, kind) = (
        resource.name().to_owned(),
        resource.namespace().to_owned(),
        resource.kind().to_owned(),
    );
    if options.allow_name_change || options.allow_kind_change {
        resource.store_previous_id();
    }
    // The patch takes the target's apiVersion: a targeted patch may be written for any.
    let mut patch = patch.clone();
    if let Some(map) = patch.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            Value::String(resource.api_version().to_owned()),
        );
    }
    let gvk = resource.gvk();
    let api_version = resource.api_version().to_owned();
    let schema = match openapi {
        Some(document) => MergeSchema::custom(document, &gvk.group, &gvk.version, &gvk.kind),
        None => MergeSchema::Builtin {
            api_version: &api_version,
            kind: &gvk.kind,
        },
    };
    let mut target = Value::Object(std::mem::take(&mut resource.obj));
    yaml::mark_empty_nulls(&mut target, &resource.empty_nulls);
    match smp::merge(target, patch, &schema)? {
        Some(Value::Object(mut map)) if !map.is_empty() => {
            // What the merge kept of them (inside lists it replaced whole) stays empty.
            resource.empty_nulls = yaml::take_object_empty_nulls(&mut map);
            resource.obj = map;
        }
        _ => return Ok(false),
    }
    if !options.allow_kind_change {
        resource.set_kind(&kind);
    }
    if !options.allow_name_change {
        resource.set_name(&name);
    }
    resource.set_namespace(&namespace);
    Ok(true)
}

/// Applies JSON 6902 operations as kustomize's JSON patch library (evanphx/json-patch
/// v4) does, which departs from RFC 6902 in one way users rely on: `replace` of a key
/// missing from an existing object adds it.
fn apply_json_ops(
    doc: &mut Value,
    ops: &[json_patch::PatchOperation],
) -> std::result::Result<(), json_patch::PatchError> {
    for op in ops {
        let op = match op {
            json_patch::PatchOperation::Replace(replace) if replaces_missing_key(doc, replace) => {
                json_patch::PatchOperation::Add(json_patch::AddOperation {
                    path: replace.path.clone(),
                    value: replace.value.clone(),
                })
            }
            other => other.clone(),
        };
        json_patch::patch(doc, std::slice::from_ref(&op))?;
    }
    Ok(())
}

/// Whether `replace` names a key its parent object does not have.
fn replaces_missing_key(doc: &Value, replace: &json_patch::ReplaceOperation) -> bool {
    let path = replace.path.as_str();
    let Some((parent, _)) = path.rsplit_once('/') else {
        return false;
    };
    doc.pointer(parent).is_some_and(Value::is_object) && doc.pointer(path).is_none()
}

fn apply_json_to(
    resources: &mut ResMap,
    indices: &[usize],
    ops: &json_patch::Patch,
    file: &str,
    field: &str,
) -> Result<()> {
    for &index in indices {
        let resource = &mut resources.resources[index];
        resource.store_previous_id();
        let id = resource.cur_id();
        // kustomize carries internal annotations on every object while it patches, so
        // `metadata.annotations` always exists then; adding under it must work.
        let had_annotations = resource
            .obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .is_some();
        if !had_annotations {
            resource.set_string_map("annotations", serde_json::Map::new());
            if let Some(Value::Object(metadata)) = resource.obj.get_mut("metadata") {
                metadata.insert("annotations".into(), Value::Object(serde_json::Map::new()));
            }
        }
        let mut doc = Value::Object(std::mem::take(&mut resource.obj));
        let applied = apply_json_ops(&mut doc, ops);
        if let Value::Object(map) = doc {
            resource.obj = map;
        }
        if !had_annotations && resource.annotations().is_empty() {
            resource.set_string_map("annotations", serde_json::Map::new());
        }
        applied.map_err(|e| {
            KustomizeError::field(
                file,
                field,
                format!("applying JSON 6902 patch to {id}: {e}"),
            )
        })?;
    }
    Ok(())
}
