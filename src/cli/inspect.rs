//! Looking at Kustomizations as the flux CLI does: `export`, `tree`, `events` and
//! `build` (a local build of a directory with the Kustomization's own settings).

use std::path::Path;

use anyhow::{bail, Context as _};
use kube::api::{Api, ListParams};
use serde_json::{json, Map, Value};

use super::flux::{self, FluxKind, GlobalArgs, KUSTOMIZATION};
use crate::api::kustomize_v1::Kustomization;
use crate::apply::{Applier, ObjectRef};
use crate::controllers::kustomization::{applied_only, inventory_ref, overlay, plan};

async fn get_object(global: &GlobalArgs, kind: &FluxKind, name: &str) -> anyhow::Result<Value> {
    let client = flux::client(global).await?;
    let object = flux::api(&client, kind, Some(&global.namespace))
        .get(name)
        .await
        .with_context(|| {
            format!(
                "{} {name} not found in {} namespace",
                kind.display, global.namespace
            )
        })?;
    Ok(serde_json::to_value(object)?)
}

async fn get_kustomization(global: &GlobalArgs, name: &str) -> anyhow::Result<Value> {
    get_object(global, &KUSTOMIZATION, name).await
}

/// `export kustomization|helmrelease NAME`: the object as it would be committed to
/// Git: no status, no server-set metadata.
pub async fn export(global: &GlobalArgs, kind: &FluxKind, name: &str) -> anyhow::Result<()> {
    let object = get_object(global, kind, name).await?;
    print!(
        "---\n{}",
        ferroflux_kustomize::to_yaml_stream(&[exportable(&object)])
    );
    Ok(())
}

/// Keeps apiVersion, kind, name, namespace, user labels and annotations, and spec.
pub fn exportable(object: &Value) -> Value {
    let mut metadata = Map::new();
    for field in ["name", "namespace"] {
        if let Some(v) = object.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), v.clone());
        }
    }
    if let Some(labels) = object
        .pointer("/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
    {
        metadata.insert("labels".into(), labels.clone());
    }
    if let Some(Value::Object(annotations)) = object.pointer("/metadata/annotations") {
        let kept: Map<String, Value> = annotations
            .iter()
            .filter(|(k, _)| {
                k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
                    && k.as_str() != "reconcile.fluxcd.io/requestedAt"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            metadata.insert("annotations".into(), Value::Object(kept));
        }
    }
    json!({
        "apiVersion": object["apiVersion"],
        "kind": object["kind"],
        "metadata": metadata,
        "spec": object["spec"],
    })
}

/// `tree kustomization|helmrelease NAME`: what it manages, from its inventory.
pub async fn tree(global: &GlobalArgs, kind: &FluxKind, name: &str) -> anyhow::Result<()> {
    let object = get_object(global, kind, name).await?;
    println!("{}/{}/{name}", kind.display, global.namespace);
    let entries: Vec<crate::api::kustomize_v1::ResourceRef> = object
        .pointer("/status/inventory/entries")
        .cloned()
        .and_then(|e| serde_json::from_value(e).ok())
        .unwrap_or_default();
    let refs: Vec<_> = entries.iter().filter_map(inventory_ref).collect();
    for (i, r) in refs.iter().enumerate() {
        let branch = if i + 1 == refs.len() {
            "└──"
        } else {
            "├──"
        };
        println!("{branch} {}", r.display());
    }
    Ok(())
}

/// `events --for Kustomization/NAME`: the events about one object, oldest first.
pub async fn events(global: &GlobalArgs, target: Option<&str>) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Event;
    let client = flux::client(global).await?;
    let api: Api<Event> = Api::namespaced(client, &global.namespace);
    let (kind, name) = match target {
        Some(t) => match t.split_once('/') {
            Some((kind, name)) => (Some(kind.to_owned()), Some(name.to_owned())),
            None => bail!("--for takes Kind/name, e.g. Kustomization/apps"),
        },
        None => (None, None),
    };
    let mut events: Vec<Event> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            kind.as_ref()
                .is_none_or(|k| e.involved_object.kind.as_ref() == Some(k))
        })
        .filter(|e| {
            name.as_ref()
                .is_none_or(|n| e.involved_object.name.as_ref() == Some(n))
        })
        .collect();
    let when = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default()
    };
    events.sort_by_key(when);
    let mut rows = vec![vec![
        "LAST SEEN".to_owned(),
        "TYPE".into(),
        "REASON".into(),
        "OBJECT".into(),
        "MESSAGE".into(),
    ]];
    let now = chrono::Utc::now();
    for e in &events {
        let age = chrono::DateTime::parse_from_rfc3339(&when(e))
            .map(|t| {
                format!(
                    "{}s",
                    (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0)
                )
            })
            .unwrap_or_default();
        rows.push(vec![
            age,
            e.type_.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            format!(
                "{}/{}",
                e.involved_object.kind.clone().unwrap_or_default(),
                e.involved_object.name.clone().unwrap_or_default()
            ),
            e.message.clone().unwrap_or_default().replace('\n', "; "),
        ]);
    }
    print!("{}", flux::render_table(&rows));
    Ok(())
}

/// The Kustomization `name`, and what it would apply if its source held `path`:
/// built with its overlay, then the controller's own planning step (post-build
/// substitution from the cluster, owner labels), without the objects apply skips.
async fn build_locally(
    global: &GlobalArgs,
    name: &str,
    path: &Path,
) -> anyhow::Result<(Kustomization, Vec<Value>)> {
    let object = get_kustomization(global, name).await?;
    let ks: Kustomization = serde_json::from_value(object)?;
    let root = path
        .canonicalize()
        .with_context(|| format!("{} does not exist", path.display()))?;
    let mut options = ferroflux_kustomize::BuildOptions::flux(&root);
    options.overlay = Some(overlay(&ks));
    let objects = ferroflux_kustomize::build_dir_with(&root, &options)?;
    let client = flux::client(global).await?;
    let objects = plan(&client, &ks, &global.namespace, name, objects)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((ks, applied_only(objects)))
}

/// `build kustomization NAME --path DIR`: builds DIR locally with the
/// Kustomization's overlay, as the controller would, and prints the objects.
pub async fn build(global: &GlobalArgs, name: &str, path: &Path) -> anyhow::Result<()> {
    let (_, objects) = build_locally(global, name, path).await?;
    print!("{}", ferroflux_kustomize::to_yaml_stream(&objects));
    Ok(())
}

/// Metadata the API server manages, left out of a comparison; Secret values masked.
fn comparable(object: &Value) -> Value {
    let mut object = crate::apply::without_server_fields(object);
    // Secret values are never printed.
    if object["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(values)) = object.get_mut(field) {
                for value in values.values_mut() {
                    *value = json!("***");
                }
            }
        }
    }
    object
}

/// A line diff of two texts (longest common subsequence): `-` lines only in
/// `before`, `+` lines only in `after`.
fn line_diff(before: &str, after: &str) -> Vec<String> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as diff tools print a changed line.
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

/// `diff kustomization NAME --path DIR`: what applying DIR would change, one line
/// per object (created, drifted, deleted) and a diff for drifted ones. Returns
/// whether there is any difference.
pub async fn diff(global: &GlobalArgs, name: &str, path: &Path) -> anyhow::Result<bool> {
    let (ks, objects) = build_locally(global, name, path).await?;
    let client = flux::client(global).await?;
    let applier = Applier::new(client);
    let mut changed = false;
    let mut built = std::collections::HashSet::new();
    for object in &objects {
        let r = ObjectRef::of(object)?;
        built.insert((r.kind.clone(), r.namespace.clone(), r.name.clone()));
        let live = applier.get(&r).await?;
        let Some(live) = live else {
            println!("► {} created", r.display());
            changed = true;
            continue;
        };
        let would_be = applier.dry_run(object).await?;
        let (before, after) = (comparable(&live), comparable(&would_be));
        if before != after {
            changed = true;
            println!("► {} drifted", r.display());
            let before = ferroflux_kustomize::to_yaml_stream(&[before]);
            let after = ferroflux_kustomize::to_yaml_stream(&[after]);
            for line in line_diff(&before, &after) {
                println!("  {line}");
            }
        }
    }
    if ks.spec.prune {
        let entries = ks
            .status
            .and_then(|s| s.inventory)
            .map(|i| i.entries)
            .unwrap_or_default();
        for r in entries.iter().filter_map(inventory_ref) {
            if !built.contains(&(r.kind.clone(), r.namespace.clone(), r.name.clone())) {
                println!("► {} deleted", r.display());
                changed = true;
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_marks_only_what_changed() {
        let before = "a: 1\nb: 2\nc: 3\n";
        let after = "a: 1\nb: 5\nc: 3\nd: 4\n";
        assert_eq!(line_diff(before, after), ["- b: 2", "+ b: 5", "+ d: 4"]);
    }

    #[test]
    fn secrets_are_masked_and_server_fields_ignored() {
        let secret = json!({"kind": "Secret", "metadata": {"name": "s", "resourceVersion": "7", "uid": "u"},
            "data": {"password": "c2VjcmV0"}, "status": {}});
        let shown = comparable(&secret);
        assert_eq!(shown["data"]["password"], "***");
        assert!(
            shown["metadata"].get("resourceVersion").is_none() && shown.get("status").is_none()
        );
    }
}
