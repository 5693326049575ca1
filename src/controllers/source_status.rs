//! The status shape the source kinds share (Flux's source-controller summarize
//! step): a failed step sets its own condition (FetchFailed, BuildFailed,
//! StorageOperationFailed) and Ready=False with the same reason and message, and is
//! either retried (Reconciling, ProgressingWithRetry) or Stalled; a stored artifact
//! sets ArtifactInStorage and Ready=True and clears the failures.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::Value;

use crate::actors::{ObjectKey, ReconcileContext, ReconcileError, ReconcileOutcome};
use crate::api::conditions::types::{
    ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, BUILD_FAILED, FETCH_FAILED, STORAGE_OPERATION_FAILED,
};
use crate::api::meta::Artifact;
use crate::controllers::conditions::{self, FALSE, READY, RECONCILING, STALLED, TRUE};
use crate::controllers::events::{EventRecorder, EventType};
use crate::source::artifact::ArtifactStore;

/// A failed reconcile step: the condition it sets, Flux's reason and message, and
/// whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub condition: &'static str,
    pub reason: &'static str,
    pub message: String,
    pub stalled: bool,
}

impl Failure {
    pub fn retry(
        condition: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Failure {
            condition,
            reason,
            message: message.into(),
            stalled: false,
        }
    }

    pub fn stalled(
        condition: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Failure {
            stalled: true,
            ..Failure::retry(condition, reason, message)
        }
    }

    /// What the runtime does next: back off and retry, or wait for a new spec.
    pub fn outcome(&self) -> ReconcileOutcome {
        let error = ReconcileError::new(self.reason, &self.message);
        if self.stalled {
            ReconcileOutcome::Stalled(error)
        } else {
            ReconcileOutcome::Transient(error)
        }
    }
}

/// The failure conditions a stored artifact clears.
const FAILURES: [&str; 3] = [FETCH_FAILED, BUILD_FAILED, STORAGE_OPERATION_FAILED];

/// Records `failure` in the conditions: its own condition and Ready=False, then
/// Stalled (no retry) or Reconciling with retry.
pub fn record_failure(conds: &mut Vec<Condition>, failure: &Failure, generation: Option<i64>) {
    let now = chrono::Utc::now();
    let (reason, message) = (failure.reason, failure.message.as_str());
    // One failure at a time: a fetch that fails after a build failure is the news.
    for other in FAILURES.iter().filter(|c| **c != failure.condition) {
        conditions::remove(conds, other);
    }
    conditions::set(
        conds,
        failure.condition,
        TRUE,
        reason,
        message,
        generation,
        now,
    );
    conditions::set(conds, READY, FALSE, reason, message, generation, now);
    if failure.stalled {
        conditions::set(conds, STALLED, TRUE, reason, message, generation, now);
        conditions::remove(conds, RECONCILING);
    } else {
        conditions::remove(conds, STALLED);
        conditions::set(
            conds,
            RECONCILING,
            TRUE,
            "ProgressingWithRetry",
            message,
            generation,
            now,
        );
    }
}

/// Records a stored artifact: ArtifactInStorage and Ready=True with `reason` and
/// `message`; failures, Stalled and Reconciling go.
pub fn record_artifact(
    conds: &mut Vec<Condition>,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    let now = chrono::Utc::now();
    conditions::set(
        conds,
        ARTIFACT_IN_STORAGE,
        TRUE,
        reason,
        message,
        generation,
        now,
    );
    conditions::set(conds, READY, TRUE, reason, message, generation, now);
    for stale in FAILURES
        .iter()
        .chain(&[RECONCILING, STALLED, ARTIFACT_OUTDATED])
    {
        conditions::remove(conds, stale);
    }
}

/// An event to record once the status is written.
pub type Note = (EventType, &'static str, String);

/// A failed reconcile: `recorded` in the conditions (Flux words some failures there
/// differently from their event), observedGeneration set when stalled (the spec is
/// handled as far as it can be), and the warning with `failure`'s own words.
pub fn failed(
    conds: &mut Vec<Condition>,
    failure: &Failure,
    recorded: &Failure,
    generation: Option<i64>,
    observed_generation: &mut Option<i64>,
) -> (ReconcileOutcome, Option<Note>) {
    record_failure(conds, recorded, generation);
    if failure.stalled {
        *observed_generation = generation;
    }
    let note = (EventType::Warning, failure.reason, failure.message.clone());
    (failure.outcome(), Some(note))
}

/// What a new status artifact is against the old one: new content (a digest the
/// dependents have not seen), and new content or a new address (a failover) that
/// dependents must be told of.
pub fn artifact_news(before: Option<&Artifact>, after: &Artifact) -> (bool, bool) {
    let changed = before.map(|a| &a.digest) != Some(&after.digest);
    let moved = before.map(|a| &a.url) != Some(&after.url);
    (changed, changed || moved)
}

/// After the status write, never before it: the dependents told of a new artifact,
/// then the event.
pub async fn announce(
    ctx: &ReconcileContext,
    events: &EventRecorder,
    object: &Value,
    publish: bool,
    note: Option<Note>,
) {
    if publish {
        ctx.publish_artifact_changed();
    }
    if let Some((kind, reason, message)) = note {
        events.record(object, kind, reason, &message).await;
    }
}

/// Whether the last reconcile failed (a success now is a recovery Flux reports).
pub fn was_failing(conds: &[Condition]) -> bool {
    FAILURES.iter().any(|c| conditions::is_true(conds, c))
}

/// `reconcile.fluxcd.io/requestedAt`, which the status echoes as handled.
pub fn requested_at(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A stored artifact as a status shows it.
pub fn status_artifact(a: &crate::source::artifact::Artifact) -> Artifact {
    Artifact {
        digest: a.digest.clone(),
        last_update_time: a.last_update_time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        metadata: None,
        path: a.path.clone(),
        revision: a.revision.clone(),
        size: i64::try_from(a.size).ok(),
        url: a.url.clone(),
    }
}

/// The status artifact as this replica stores it, when it still has the file (a
/// reconcile that finds nothing new reuses it).
pub fn still_stored(
    store: &ArtifactStore,
    current: &Artifact,
) -> Option<crate::source::artifact::Artifact> {
    let path = std::path::Path::new(&current.path);
    if !crate::source::is_plain_relative(path) || !store.root().join(path).is_file() {
        return None;
    }
    Some(crate::source::artifact::Artifact {
        path: current.path.clone(),
        url: format!("{}/{}", store.base_url, current.path),
        revision: current.revision.clone(),
        digest: current.digest.clone(),
        size: current
            .size
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or_default(),
        last_update_time: chrono::DateTime::parse_from_rfc3339(&current.last_update_time)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now()),
    })
}

/// The bytes of another object's artifact: from this replica's store when it has
/// the file, else downloaded from the replica that serves it; checked against the
/// status digest either way.
pub async fn read_artifact(
    store: &ArtifactStore,
    http: &reqwest::Client,
    artifact: &Artifact,
) -> Result<Vec<u8>, String> {
    use sha2::Digest as _;
    let local = crate::source::is_plain_relative(std::path::Path::new(&artifact.path))
        .then(|| store.root().join(&artifact.path));
    let from_disk = match &local {
        Some(path) => tokio::fs::read(path).await.ok(),
        None => None,
    };
    let bytes = match from_disk {
        Some(bytes) => bytes,
        None => {
            let failed = |e: reqwest::Error| format!("failed to download artifact: {e}");
            let response = http
                .get(&artifact.url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(failed)?;
            response.bytes().await.map_err(failed)?.to_vec()
        }
    };
    let digest = format!(
        "sha256:{}",
        crate::source::artifact::to_hex(&sha2::Sha256::digest(&bytes))
    );
    if digest != artifact.digest {
        return Err(format!(
            "failed to verify artifact: computed digest {digest} does not match {}",
            artifact.digest
        ));
    }
    Ok(bytes)
}

/// A deleted object's artifacts go with it.
pub fn remove_artifacts(store: &ArtifactStore, key: &ObjectKey) -> ReconcileOutcome {
    match store.remove_object(&key.kind, &key.namespace, &key.name) {
        Ok(()) => ReconcileOutcome::Ready {
            requeue_after: None,
        },
        Err(e) => Failure::retry(
            STORAGE_OPERATION_FAILED,
            "GarbageCollectionFailed",
            e.to_string(),
        )
        .outcome(),
    }
}

/// Merge-patches the status of a namespaced object as source-controller.
pub async fn patch_status<K>(
    client: &kube::Client,
    key: &ObjectKey,
    status: Value,
) -> Result<(), ReconcileError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + serde::de::DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let api: kube::Api<K> = kube::Api::namespaced(client.clone(), &key.namespace);
    let params = kube::api::PatchParams {
        field_manager: Some(crate::controllers::gitrepository::CONTROLLER.to_owned()),
        ..kube::api::PatchParams::default()
    };
    let patch = serde_json::json!({ "status": status });
    api.patch_status(&key.name, &params, &kube::api::Patch::Merge(patch))
        .await
        .map(|_| ())
        .map_err(|e| ReconcileError::new("StatusPatchFailed", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependents_hear_of_new_content_and_new_addresses() {
        let artifact = |digest: &str, url: &str| Artifact {
            digest: digest.into(),
            url: url.into(),
            ..Artifact::default()
        };
        let old = artifact("sha256:a", "http://r0/x");
        assert_eq!(artifact_news(None, &old), (true, true));
        assert_eq!(
            artifact_news(Some(&old), &artifact("sha256:a", "http://r0/x")),
            (false, false)
        );
        assert_eq!(
            artifact_news(Some(&old), &artifact("sha256:a", "http://r1/x")),
            (false, true)
        );
        assert_eq!(
            artifact_news(Some(&old), &artifact("sha256:b", "http://r0/x")),
            (true, true)
        );
    }

    #[test]
    fn a_failure_then_a_success() {
        let mut conds = Vec::new();
        record_failure(
            &mut conds,
            &Failure::retry(FETCH_FAILED, "Failed", "failed to fetch"),
            Some(1),
        );
        assert!(conditions::is_true(&conds, FETCH_FAILED));
        assert!(conditions::is_true(&conds, RECONCILING));
        assert_eq!(
            conditions::get(&conds, READY).map(|c| c.status.as_str()),
            Some(FALSE)
        );
        assert!(was_failing(&conds));
        record_failure(
            &mut conds,
            &Failure::stalled(BUILD_FAILED, "ValuesFilesError", "no values file"),
            Some(2),
        );
        assert!(
            conditions::get(&conds, FETCH_FAILED).is_none(),
            "one failure at a time"
        );
        assert!(conditions::is_true(&conds, STALLED));
        assert!(conditions::get(&conds, RECONCILING).is_none());
        record_artifact(&mut conds, "Succeeded", "stored artifact", Some(2));
        assert!(!was_failing(&conds));
        let types: Vec<&str> = conds.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, ARTIFACT_IN_STORAGE]);
    }
}
