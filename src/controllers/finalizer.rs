//! Flux's finalizer, `finalizers.fluxcd.io`: set on an object before it applies
//! anything, removed once deleting it has cleaned up what it applied.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::actors::ReconcileError;

pub const FINALIZER: &str = "finalizers.fluxcd.io";

/// Adds (`present`) or removes the finalizer of the object `name`, guarded by its
/// resourceVersion; nothing when it is already so, or the object is gone.
pub async fn set<K>(api: &Api<K>, name: &str, present: bool) -> Result<(), ReconcileError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let failed = |e: kube::Error| ReconcileError::new("FinalizerFailed", e.to_string());
    let Some(current) = api.get_opt(name).await.map_err(failed)? else {
        return Ok(());
    };
    let meta = current.meta();
    let mut finalizers = meta.finalizers.clone().unwrap_or_default();
    if finalizers.iter().any(|f| f == FINALIZER) == present {
        return Ok(());
    }
    if present {
        finalizers.push(FINALIZER.to_owned());
    } else {
        finalizers.retain(|f| f != FINALIZER);
    }
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(|_| ())
        .map_err(failed)
}
