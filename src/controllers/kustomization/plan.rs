//! What a Kustomization applies, from the objects its build made: post-build
//! substitution and the owner labels. The controller and the CLI's `build` and
//! `diff` call the same step, so the CLI shows what the controller applies.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use serde_json::Value;

use super::error::KustomizationError;
use super::substitute;
use crate::api::kustomize_v1::Kustomization;
use crate::apply::inventory::{self, Owner, OwnerKind};

/// The objects as the controller hands them to the staged apply: substituted
/// (`spec.postBuild`, variables read with `client` from the Kustomization's
/// namespace) and labelled with their owner.
pub(crate) async fn plan(
    client: &kube::Client,
    ks: &Kustomization,
    namespace: &str,
    name: &str,
    mut objects: Vec<Value>,
) -> Result<Vec<Value>, KustomizationError> {
    substitute_all(client, ks, namespace, &mut objects).await?;
    Owner::new(OwnerKind::Kustomization, name, namespace).label(&mut objects);
    Ok(objects)
}

/// The objects apply would write: the skipped ones (`reconcile: disabled`,
/// `ssa: Ignore` in the manifest) left out.
pub(crate) fn applied_only(objects: Vec<Value>) -> Vec<Value> {
    objects
        .into_iter()
        .filter(|o| inventory::apply_skip_reason(o, None).is_none())
        .collect()
}

/// Post-build substitution: variables from ConfigMaps and Secrets in the
/// Kustomization's namespace, then the inline ones.
async fn substitute_all(
    client: &kube::Client,
    ks: &Kustomization,
    namespace: &str,
    objects: &mut [Value],
) -> Result<(), KustomizationError> {
    let Some(post_build) = &ks.spec.post_build else {
        return Ok(());
    };
    let mut sources = Vec::new();
    for reference in post_build.substitute_from.iter().flatten() {
        let kind = match reference.kind.as_str() {
            "Secret" => substitute::SourceKind::Secret,
            _ => substitute::SourceKind::ConfigMap,
        };
        let data = variables_from(client, kind, namespace, &reference.name).await?;
        sources.push(substitute::SubstituteSource {
            kind,
            name: reference.name.clone(),
            optional: reference.optional == Some(true),
            data,
        });
    }
    let variables = substitute::resolve_variables(&sources, post_build.substitute.as_ref())
        .map_err(|e| KustomizationError::Build(e.to_string()))?;
    let options = substitute::SubstituteOptions {
        strict: false,
        strategy: substitute::SubstituteStrategy::from_spec(
            post_build.substitute_strategy.as_deref(),
        ),
    };
    for object in objects.iter_mut() {
        match substitute::substitute_object(object, &variables, &options) {
            Ok(Some(substituted)) => *object = substituted,
            Ok(None) => {}
            // The message names the object and the expression, never a value.
            Err(e) => {
                return Err(KustomizationError::Build(
                    substitute::post_build_error_message(object, &e),
                ))
            }
        }
    }
    Ok(())
}

async fn variables_from(
    client: &kube::Client,
    kind: substitute::SourceKind,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, KustomizationError> {
    let failed = |e: kube::Error| KustomizationError::Build(format!("substitute from {name}: {e}"));
    Ok(match kind {
        substitute::SourceKind::ConfigMap => {
            Api::<ConfigMap>::namespaced(client.clone(), namespace)
                .get_opt(name)
                .await
                .map_err(failed)?
                .map(|cm| cm.data.unwrap_or_default().into_iter().collect())
        }
        substitute::SourceKind::Secret => Api::<Secret>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(failed)?
            .map(|secret| {
                secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect()
            }),
    })
}
