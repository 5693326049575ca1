//! The GitRepository reconciler: fetch (git) → filter (ignore rules) → pack a
//! deterministic tarball → store by digest → status, events, and a notice to the
//! objects that use this source.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

use crate::actors::{ReconcileContext, ReconcileError, ReconcileOutcome, Reconciler};
use crate::api::conditions::types::{ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, FETCH_FAILED};
use crate::api::meta::Artifact;
use crate::api::source_v1::{GitRepository, GitRepositoryStatus};
use crate::controllers::conditions::{self, FALSE, READY, RECONCILING, STALLED, TRUE};
use crate::controllers::events::{EventRecorder, EventType};
use crate::source::artifact::ArtifactStore;
use crate::source::git::{self, FetchOptions, GitAuth, GitError, GitRef};
use crate::source::ignore::IgnoreRules;

/// The field manager of our status writes, Flux's controller name.
pub const CONTROLLER: &str = "source-controller";
const KIND: &str = "GitRepository";
/// How many artifacts per object stay in storage (the current one and older ones a
/// consumer may still be downloading).
const KEEP_ARTIFACTS: usize = 2;

/// Reconciles GitRepositories into artifacts.
pub struct GitRepositoryReconciler {
    pub client: kube::Client,
    pub store: Arc<ArtifactStore>,
    pub events: EventRecorder,
}

/// A spec that can never work as written: the field and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid spec: {field}: {message}")]
pub struct InvalidSpec {
    pub field: &'static str,
    pub message: String,
}

/// Reads what a fetch needs from the spec; errors name the field (Stalled).
pub fn fetch_plan(repo: &GitRepository) -> Result<(FetchOptions, Duration), InvalidSpec> {
    let spec = &repo.spec;
    let scheme_ok = ["http://", "https://", "ssh://", "git://", "file://"]
        .iter()
        .any(|p| spec.url.starts_with(p));
    if !scheme_ok {
        return Err(InvalidSpec {
            field: "spec.url",
            message: format!(
                "unsupported URL scheme in '{}': use http(s)://, ssh://, git:// or file://",
                git::redact_url(&spec.url)
            ),
        });
    }
    let timeout = match spec.timeout.as_deref() {
        None => Duration::from_secs(60),
        Some(t) => crate::actors::parse_duration(t).map_err(|e| InvalidSpec {
            field: "spec.timeout",
            message: e.to_string(),
        })?,
    };
    let r = spec.reference.as_ref();
    let reference = GitRef::from_flux(
        r.and_then(|r| r.branch.as_deref()),
        r.and_then(|r| r.tag.as_deref()),
        r.and_then(|r| r.semver.as_deref()),
        r.and_then(|r| r.name.as_deref()),
        r.and_then(|r| r.commit.as_deref()),
    );
    if let GitRef::SemVer(range) = &reference {
        if let Err(e) = git::Constraint::parse(range) {
            return Err(InvalidSpec {
                field: "spec.ref.semver",
                message: e.to_string(),
            });
        }
    }
    let mut options = FetchOptions::new(spec.url.clone(), reference);
    options.timeout = timeout;
    Ok((options, timeout))
}

/// Flux's reason for a failed fetch.
fn fetch_reason(e: &GitError) -> &'static str {
    match e {
        GitError::Auth { .. } | GitError::InvalidAuth(_) => "AuthenticationFailed",
        _ => "GitOperationFailed",
    }
}

fn to_status_artifact(a: &crate::source::artifact::Artifact) -> Artifact {
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

impl GitRepositoryReconciler {
    async fn auth(&self, repo: &GitRepository, namespace: &str) -> Result<GitAuth, ReconcileError> {
        let Some(secret_ref) = &repo.spec.secret_ref else {
            return Ok(GitAuth::None);
        };
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets.get(&secret_ref.name).await.map_err(|e| {
            ReconcileError::new(
                "AuthenticationFailed",
                format!(
                    "failed to get secret '{namespace}/{}': {e}",
                    secret_ref.name
                ),
            )
        })?;
        let data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        GitAuth::from_secret_data(&data)
            .map_err(|e| ReconcileError::new("AuthenticationFailed", e.to_string()))
    }

    async fn write_status(
        &self,
        namespace: &str,
        name: &str,
        status: &GitRepositoryStatus,
    ) -> Result<(), ReconcileError> {
        let api: Api<GitRepository> = Api::namespaced(self.client.clone(), namespace);
        let patch = json!({"status": status});
        api.patch_status(
            name,
            &PatchParams {
                field_manager: Some(CONTROLLER.to_owned()),
                ..PatchParams::default()
            },
            &Patch::Merge(patch),
        )
        .await
        .map(|_| ())
        .map_err(|e| ReconcileError::new("StatusPatchFailed", e.to_string()))
    }
}

impl Reconciler for GitRepositoryReconciler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let namespace = ctx.key.namespace.clone();
        let name = ctx.key.name.clone();
        let repo: GitRepository = match serde_json::from_value(object.clone()) {
            Ok(r) => r,
            Err(e) => {
                return ReconcileOutcome::Stalled(ReconcileError::new("InvalidSpec", e.to_string()))
            }
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            if let Err(e) = self.store.remove_object(KIND, &namespace, &name) {
                return ReconcileOutcome::Transient(ReconcileError::new(
                    "StorageOperationFailed",
                    e.to_string(),
                ));
            }
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        }
        if repo.spec.suspend == Some(true) {
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        }
        let generation = repo.metadata.generation;
        let now = chrono::Utc::now();
        let mut status = repo.status.clone().unwrap_or_default();
        status.last_handled_reconcile_at = object
            .pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(status.last_handled_reconcile_at);
        let mut conds = status.conditions.take().unwrap_or_default();

        let (mut options, timeout) = match fetch_plan(&repo) {
            Ok(plan) => plan,
            Err(invalid) => {
                let message = invalid.to_string();
                conditions::set(
                    &mut conds,
                    STALLED,
                    TRUE,
                    "InvalidSpec",
                    &message,
                    generation,
                    now,
                );
                conditions::set(
                    &mut conds,
                    READY,
                    FALSE,
                    "InvalidSpec",
                    &message,
                    generation,
                    now,
                );
                conditions::remove(&mut conds, RECONCILING);
                status.conditions = Some(conds);
                status.observed_generation = generation;
                let _ = self.write_status(&namespace, &name, &status).await;
                self.events
                    .record(object, EventType::Warning, "InvalidSpec", &message)
                    .await;
                return ReconcileOutcome::Stalled(ReconcileError::new("InvalidSpec", message));
            }
        };
        conditions::remove(&mut conds, STALLED);

        let fetched = match self.auth(&repo, &namespace).await {
            Err(e) => Err((e.reason.clone(), e.message.clone())),
            Ok(auth) => {
                options.auth = auth;
                let workdir = match tempfile::tempdir() {
                    Ok(d) => d,
                    Err(e) => {
                        return ReconcileOutcome::Transient(ReconcileError::new(
                            "StorageOperationFailed",
                            e.to_string(),
                        ))
                    }
                };
                let store = self.store.clone();
                let ignore_spec = repo.spec.ignore.clone();
                let ns = namespace.clone();
                let nm = name.clone();
                // git and packing are blocking work: keep them off the async workers.
                let job = tokio::task::spawn_blocking(move || {
                    let checkout = workdir.path().join("checkout");
                    let result = git::fetch(&options, &checkout).map_err(|e| {
                        (
                            fetch_reason(&e).to_owned(),
                            format!("failed to checkout and determine revision: {e}"),
                        )
                    })?;
                    let rules =
                        IgnoreRules::load(&result.dir, ignore_spec.as_deref()).map_err(|e| {
                            (
                                "StorageOperationFailed".to_owned(),
                                format!("reading ignore rules: {e}"),
                            )
                        })?;
                    let (artifact, _) = store
                        .store_dir(KIND, &ns, &nm, &result.revision, &result.dir, &rules)
                        .map_err(|e| ("StorageOperationFailed".to_owned(), e.to_string()))?;
                    let _ = store.gc(KIND, &ns, &nm, KEEP_ARTIFACTS, &artifact.path);
                    Ok::<_, (String, String)>(artifact)
                });
                match tokio::time::timeout(timeout + Duration::from_secs(30), job).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(join)) => Err((
                        "GitOperationFailed".to_owned(),
                        format!("fetch task failed: {join}"),
                    )),
                    Err(_) => Err((
                        "GitOperationFailed".to_owned(),
                        format!("timeout after {timeout:?}"),
                    )),
                }
            }
        };

        match fetched {
            Ok(artifact) => {
                let message = format!("stored artifact for revision '{}'", artifact.revision);
                let previous = status.artifact.as_ref().map(|a| a.digest.clone());
                let changed = previous.as_deref() != Some(artifact.digest.as_str());
                status.artifact = Some(to_status_artifact(&artifact));
                status.observed_ignore = repo.spec.ignore.clone();
                conditions::set(
                    &mut conds,
                    READY,
                    TRUE,
                    "Succeeded",
                    &message,
                    generation,
                    now,
                );
                conditions::set(
                    &mut conds,
                    ARTIFACT_IN_STORAGE,
                    TRUE,
                    "Succeeded",
                    &message,
                    generation,
                    now,
                );
                for stale in [RECONCILING, FETCH_FAILED, ARTIFACT_OUTDATED] {
                    conditions::remove(&mut conds, stale);
                }
                status.conditions = Some(conds);
                status.observed_generation = generation;
                if repo.status.as_ref() != Some(&status) {
                    if let Err(e) = self.write_status(&namespace, &name, &status).await {
                        return ReconcileOutcome::Transient(e);
                    }
                }
                if changed {
                    self.events
                        .record(object, EventType::Normal, "NewArtifact", &message)
                        .await;
                    ctx.publish_artifact_changed();
                }
                metrics::gauge!("gotk_reconcile_condition", "kind" => KIND, "name" => name.clone(), "namespace" => namespace.clone(), "type" => READY, "status" => TRUE).set(1.0);
                ReconcileOutcome::Ready {
                    requeue_after: None,
                }
            }
            Err((reason, message)) => {
                conditions::set(
                    &mut conds,
                    FETCH_FAILED,
                    TRUE,
                    &reason,
                    &message,
                    generation,
                    now,
                );
                conditions::set(&mut conds, READY, FALSE, &reason, &message, generation, now);
                conditions::set(
                    &mut conds,
                    RECONCILING,
                    TRUE,
                    "ProgressingWithRetry",
                    &format!("retrying: {message}"),
                    generation,
                    now,
                );
                status.conditions = Some(conds);
                status.observed_generation = generation;
                let _ = self.write_status(&namespace, &name, &status).await;
                self.events
                    .record(object, EventType::Warning, &reason, &message)
                    .await;
                ReconcileOutcome::Transient(ReconcileError::new(reason, message))
            }
        }
    }
}
