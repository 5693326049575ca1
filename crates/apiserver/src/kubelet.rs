//! The simulated kubelet and workload controllers: given a workload object, the status a
//! real cluster would give it some time after its last change.

use serde_json::Value;

/// Tunables of the simulation.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// How long after a spec change a healthy workload becomes ready.
    pub ready_after: std::time::Duration,
    /// How long a workload that cannot become ready takes to report it.
    pub progress_deadline: std::time::Duration,
}

/// The status `object` (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job) should have
/// now, or None when its kind is not simulated or nothing changes.
/// `generation_seen_at` is when the simulation first saw the object's current
/// `metadata.generation` (the rollout's start).
pub fn desired_status(
    object: &Value,
    config: &KubeletConfig,
    generation_seen_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Value> {
    let _ = (object, config, generation_seen_at, now);
    None
}

/// Whether the object will not change any more (temporary until the module lands).
pub fn is_settled(
    _object: &Value,
    _config: &KubeletConfig,
    _generation_seen_at: chrono::DateTime<chrono::Utc>,
    _now: chrono::DateTime<chrono::Utc>,
) -> bool {
    true
}
