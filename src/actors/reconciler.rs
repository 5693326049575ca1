//! What a controller implements to plug a kind into the actor runtime.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use ractor::ActorRef;
use serde_json::Value;

use super::router::RouterMsg;
use super::timing::parse_duration;

/// Identity of one Kubernetes object: the unit of ownership, of actors and of
/// fair scheduling. `namespace` is empty for cluster-scoped objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of a watched object, from its `kind` and `metadata`.
    pub fn of(object: &Value) -> Option<Self> {
        let kind = object.get("kind")?.as_str()?;
        let metadata = object.get("metadata")?;
        let name = metadata.get("name")?.as_str()?;
        let namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        Some(Self::new(kind, namespace, name))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// Why a reconcile was started; given to the reconciler and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileReason {
    /// The actor just started (object created, ownership gained, replica start).
    Started,
    /// The actor was restarted after a reconcile panicked.
    Restarted,
    /// The spec (generation), the requestedAt annotation or the deletion mark changed.
    SpecChanged,
    /// The periodic `spec.interval` timer fired.
    Interval,
    /// The reconciler asked for `Ready { requeue_after: Some(_) }`.
    Requeue,
    /// Retry after a transient failure.
    Backoff,
    /// A source this object depends on published a new artifact.
    ArtifactChanged(ObjectKey),
    /// An object this object depends on became ready.
    DependencyReady(ObjectKey),
    /// Someone asked explicitly (webhook receiver, CLI).
    Requested(String),
}

/// A failed reconcile, as the runtime sees it. `reason` is a bounded Flux reason
/// string (used as a log field, never as a metric label); `message` is free text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct ReconcileError {
    pub reason: String,
    pub message: String,
}

impl ReconcileError {
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The result of one reconcile, which decides when the next one happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileOutcome {
    /// Success; reconcile again after `requeue_after`, or after the spec's
    /// jittered interval when `None`. Resets the backoff.
    Ready { requeue_after: Option<Duration> },
    /// Retry with per-object exponential backoff (capped).
    Transient(ReconcileError),
    /// A failure to retry after a fixed delay (Flux's `spec.retryInterval`).
    RetryAfter(ReconcileError, Duration),
    /// The spec cannot succeed as written: no retry until the spec changes.
    Stalled(ReconcileError),
}

/// What the runtime hands the reconciler besides the object.
#[derive(Debug, Clone)]
pub struct ReconcileContext {
    pub key: ObjectKey,
    pub reason: ReconcileReason,
    /// Consecutive failed attempts before this one (0 after a success).
    pub failures: u32,
    pub(crate) router: ActorRef<RouterMsg>,
}

impl ReconcileContext {
    /// Tells every object that lists this one in its `dependencies` that a new
    /// artifact is available; each gets `ArtifactChanged`, nobody polls.
    pub fn publish_artifact_changed(&self) {
        // The router only goes away when the replica shuts down; then nobody is
        // left to notify.
        let _ = self
            .router
            .send_message(RouterMsg::ArtifactChanged(self.key.clone()));
    }
}

/// One kind's controller logic. The runtime owns actors, timers, queues,
/// backoff and metrics; the reconciler only turns an object into an outcome.
pub trait Reconciler: Send + Sync + 'static {
    /// The Kubernetes kind this reconciler handles, e.g. "GitRepository".
    fn kind(&self) -> &'static str;

    /// Brings the cluster towards the object's spec. A panic here restarts
    /// only this object's actor.
    fn reconcile(
        &self,
        object: &Value,
        ctx: &ReconcileContext,
    ) -> impl Future<Output = ReconcileOutcome> + Send;

    /// The periodic reconcile interval; Flux kinds keep it in `spec.interval`.
    /// `None` means no periodic reconcile.
    fn interval(&self, object: &Value) -> Option<Duration> {
        let text = object.pointer("/spec/interval")?.as_str()?;
        parse_duration(text).ok().filter(|d| !d.is_zero())
    }

    /// Objects whose changes this object must hear about (its sourceRef, its
    /// dependsOn). They send it `ArtifactChanged` / `DependencyReady`.
    fn dependencies(&self, _object: &Value) -> Vec<ObjectKey> {
        Vec::new()
    }
}

/// Does this update of a cached object call for a reconcile? Status-only
/// writes (our own) must not, or every reconcile would trigger the next. This
/// is Flux's predicate set: generation changed, `reconcile.fluxcd.io/requestedAt`
/// changed, or deletion started.
pub fn needs_reconcile(old: &Value, new: &Value) -> bool {
    let generation = |v: &Value| v.pointer("/metadata/generation").cloned();
    let requested_at = |v: &Value| {
        v.pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
            .cloned()
    };
    let deleting = |v: &Value| v.pointer("/metadata/deletionTimestamp").is_some();
    let generation_changed = match (generation(old), generation(new)) {
        (Some(a), Some(b)) => a != b,
        // Objects without a generation (tests, some built-ins): compare specs.
        _ => old.get("spec") != new.get("spec"),
    };
    generation_changed
        || requested_at(old) != requested_at(new)
        || (deleting(new) && !deleting(old))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_of_namespaced_and_cluster_scoped_objects() {
        let repo =
            json!({"kind": "GitRepository", "metadata": {"name": "app", "namespace": "team-a"}});
        assert_eq!(
            ObjectKey::of(&repo),
            Some(ObjectKey::new("GitRepository", "team-a", "app"))
        );
        let ns = json!({"kind": "Namespace", "metadata": {"name": "team-a"}});
        assert_eq!(
            ObjectKey::of(&ns).map(|k| k.to_string()),
            Some("Namespace//team-a".into())
        );
        assert_eq!(ObjectKey::of(&json!({"metadata": {"name": "x"}})), None);
    }

    #[test]
    fn status_only_updates_do_not_trigger_a_reconcile() {
        let old = json!({"metadata": {"generation": 1}, "spec": {"interval": "1m"}});
        let status = json!({"metadata": {"generation": 1}, "spec": {"interval": "1m"},
                            "status": {"observedGeneration": 1}});
        assert!(!needs_reconcile(&old, &status));
        let new_gen = json!({"metadata": {"generation": 2}, "spec": {"interval": "2m"}});
        assert!(needs_reconcile(&old, &new_gen));
        let requested = json!({"metadata": {"generation": 1,
            "annotations": {"reconcile.fluxcd.io/requestedAt": "2024-01-01T00:00:00Z"}},
            "spec": {"interval": "1m"}});
        assert!(needs_reconcile(&old, &requested));
        let deleting = json!({"metadata": {"generation": 1, "deletionTimestamp": "2024-01-01T00:00:00Z"},
                              "spec": {"interval": "1m"}});
        assert!(needs_reconcile(&old, &deleting));
        assert!(!needs_reconcile(&deleting, &deleting));
    }
}
