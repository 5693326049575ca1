//! `replicas:`: set the replica count of objects named in the entry.

use serde_json::Value;

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{apply_fieldspec, CreateKind, FieldSpec};
use crate::kustomization::Replica;
use crate::resource::ResMap;

pub fn transform(
    resources: &mut ResMap,
    replicas: &[Replica],
    specs: &[FieldSpec],
    file: &str,
) -> Result<()> {
    for replica in replicas {
        let mut found = false;
        for spec in specs {
            let gvk = spec.gvk();
            for resource in &mut resources.resources {
                // The name may be the original or the current one.
                let named = resource.cur_id().name == replica.name
                    || resource.prev_ids().iter().any(|id| id.name == replica.name);
                if !named || !resource.gvk().is_selected_by(&gvk) {
                    continue;
                }
                found = true;
                apply_fieldspec(resource, spec, Some(CreateKind::Scalar), &mut |node| {
                    *node = Value::from(replica.count);
                    Ok(())
                })?;
            }
        }
        if !found {
            let kinds: Vec<String> = specs
                .iter()
                .map(|s| {
                    let or = |v: &str, empty: &str| {
                        if v.is_empty() {
                            empty.to_owned()
                        } else {
                            v.to_owned()
                        }
                    };
                    format!(
                        "{}.{}.{}",
                        s.kind,
                        or(&s.version, "[noVer]"),
                        or(&s.group, "[noGrp]")
                    )
                })
                .collect();
            return Err(KustomizeError::field(
                file,
                "replicas",
                format!(
                    "resource with name {} does not match a config with the following GVK [{}]",
                    replica.name,
                    kinds.join(" ")
                ),
            ));
        }
    }
    Ok(())
}
