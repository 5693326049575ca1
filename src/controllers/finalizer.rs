//! Flux's finalizer, `finalizers.fluxcd.io`: set on an object before it applies
//! anything, removed once deleting it has cleaned up what it applied.

use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

use crate::actors::{ReconcileError, ReconcileOutcome};

pub const FINALIZER: &str = "finalizers.fluxcd.io";

/// Where an object stands before its reconcile does any work, as every Flux
/// controller decides it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// Being deleted: clean up, then drop the finalizer.
    Deleting,
    /// `spec.suspend`: nothing is done.
    Suspended,
    /// Reconcile; `add_finalizer` when it is not there yet.
    Active { add_finalizer: bool },
}

/// The object's [`Lifecycle`].
pub fn lifecycle(object: &Value) -> Lifecycle {
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return Lifecycle::Deleting;
    }
    if object.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
        return Lifecycle::Suspended;
    }
    let has_finalizer = object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER));
    Lifecycle::Active {
        add_finalizer: !has_finalizer,
    }
}

/// The start every Flux reconcile shares: a deleted object is cleaned up by
/// `finalize`, a suspended one left alone, an active one gets the finalizer (`add`)
/// before anything is applied. `Some` is the outcome to return at once. (Futures
/// run only when awaited: the one not needed costs nothing.)
pub async fn prologue(
    object: &Value,
    finalize: impl std::future::Future<Output = Result<(), ReconcileError>>,
    add: impl std::future::Future<Output = Result<(), ReconcileError>>,
) -> Option<ReconcileOutcome> {
    match lifecycle(object) {
        Lifecycle::Deleting => Some(match finalize.await {
            Ok(()) => ReconcileOutcome::Ready {
                requeue_after: None,
            },
            Err(e) => ReconcileOutcome::Transient(e),
        }),
        Lifecycle::Suspended => Some(ReconcileOutcome::Ready {
            requeue_after: None,
        }),
        Lifecycle::Active { add_finalizer } => match add_finalizer {
            true => add.await.err().map(ReconcileOutcome::Transient),
            false => None,
        },
    }
}

/// `reconcile.fluxcd.io/requestedAt`: what `status.lastHandledReconcileAt` becomes
/// once this reconcile handles it.
pub fn requested_at(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_comes_before_suspension_and_the_finalizer_is_added_once() {
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"suspend": true}});
        assert_eq!(lifecycle(&deleting), Lifecycle::Deleting);
        assert_eq!(
            lifecycle(&json!({"spec": {"suspend": true}})),
            Lifecycle::Suspended
        );
        assert_eq!(
            lifecycle(&json!({"spec": {"suspend": false}})),
            Lifecycle::Active {
                add_finalizer: true
            }
        );
        assert_eq!(
            lifecycle(&json!({"metadata": {"finalizers": [FINALIZER]}, "spec": {}})),
            Lifecycle::Active {
                add_finalizer: false
            }
        );
        let requested =
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}});
        assert_eq!(requested_at(&requested).as_deref(), Some("now"));
        assert_eq!(requested_at(&json!({})), None);
    }
}
