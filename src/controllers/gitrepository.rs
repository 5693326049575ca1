//! The GitRepository reconciler: fetch (git) → include other repositories → filter
//! (ignore rules) → pack a deterministic tarball → store by digest → status, events,
//! and a notice to the objects that use this source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

use crate::actors::{ObjectKey, ReconcileContext, ReconcileError, ReconcileOutcome, Reconciler};
use crate::api::conditions::types::{
    ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, FETCH_FAILED, INCLUDE_UNAVAILABLE,
};
use crate::api::meta::Artifact;
use crate::api::source_v1::{GitRepository, GitRepositoryStatus};
use crate::controllers::conditions::{self, FALSE, READY, RECONCILING, STALLED, TRUE};
use crate::controllers::events::{EventRecorder, EventType};
use crate::source::artifact::ArtifactStore;
use crate::source::git::{self, FetchOptions, GitAuth, GitError, GitRef, ProxySettings};
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
    for include in repo.spec.include.iter().flatten() {
        include_path(
            include.from_path.as_deref().unwrap_or("."),
            "spec.include[].fromPath",
        )?;
        include_path(
            include
                .to_path
                .as_deref()
                .unwrap_or(&include.repository.name),
            "spec.include[].toPath",
        )?;
    }
    let mut options = FetchOptions::new(spec.url.clone(), reference);
    options.timeout = timeout;
    options.recurse_submodules = spec.recurse_submodules.unwrap_or(false);
    Ok((options, timeout))
}

/// An included GitRepository's artifact, ready to be copied into the checkout.
struct Inclusion {
    tarball: PathBuf,
    from_path: String,
    to_path: String,
    artifact: Artifact,
}

/// Checks an include path: relative and inside the artifact. "" means the root.
fn include_path(path: &str, field: &'static str) -> Result<String, InvalidSpec> {
    let trimmed = path.trim_start_matches("./").trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(String::new());
    }
    if crate::source::is_plain_relative(Path::new(trimmed)) {
        Ok(trimmed.to_owned())
    } else {
        Err(InvalidSpec {
            field,
            message: format!("path '{path}' must be relative and stay inside the artifact"),
        })
    }
}

/// Copies the regular files and directories of `from` into `to`; links are skipped,
/// so nothing is ever written through one.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        let existing_link =
            std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink());
        if existing_link {
            std::fs::remove_file(&target)?;
        }
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Copies each inclusion into the checkout at `dir`, as Flux's `spec.include` does.
fn apply_inclusions(dir: &Path, inclusions: &[Inclusion]) -> Result<(), String> {
    for inclusion in inclusions {
        let unpacked = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = std::fs::File::open(&inclusion.tarball)
            .map_err(|e| format!("opening included artifact: {e}"))?;
        crate::source::artifact::extract_tar_gz(std::io::BufReader::new(file), unpacked.path())
            .map_err(|e| e.to_string())?;
        let source = unpacked.path().join(&inclusion.from_path);
        if !source.is_dir() {
            return Err(format!(
                "path '{}' not found in the included artifact of revision '{}'",
                inclusion.from_path, inclusion.artifact.revision
            ));
        }
        let target = crate::source::ensure_real_dir(dir, Path::new(&inclusion.to_path))
            .map_err(|e| e.to_string())?;
        copy_tree(&source, &target).map_err(|e| format!("copying included artifact: {e}"))?;
    }
    Ok(())
}

/// Flux's reason for a failed fetch.
fn fetch_reason(e: &GitError) -> &'static str {
    match e {
        GitError::Auth { .. } | GitError::InvalidAuth(_) | GitError::InvalidProxy(_) => {
            "AuthenticationFailed"
        }
        _ => "GitOperationFailed",
    }
}

/// Why inclusions are not ready: a spec error (Stalled) or a missing artifact (retry).
enum IncludeProblem {
    Invalid(InvalidSpec),
    Unavailable(String),
}

impl GitRepositoryReconciler {
    /// The decoded `data` of a Secret in the object's namespace.
    async fn secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, ReconcileError> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets.get(name).await.map_err(|e| {
            ReconcileError::new(
                "AuthenticationFailed",
                format!("failed to get secret '{namespace}/{name}': {e}"),
            )
        })?;
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect())
    }

    async fn auth(&self, repo: &GitRepository, namespace: &str) -> Result<GitAuth, ReconcileError> {
        let Some(secret_ref) = &repo.spec.secret_ref else {
            return Ok(GitAuth::None);
        };
        let data = self.secret_data(namespace, &secret_ref.name).await?;
        GitAuth::from_secret_data(&data)
            .map_err(|e| ReconcileError::new("AuthenticationFailed", e.to_string()))
    }

    async fn proxy(
        &self,
        repo: &GitRepository,
        namespace: &str,
    ) -> Result<Option<ProxySettings>, ReconcileError> {
        let Some(secret_ref) = &repo.spec.proxy_secret_ref else {
            return Ok(None);
        };
        let data = self.secret_data(namespace, &secret_ref.name).await?;
        ProxySettings::from_secret_data(&data)
            .map(Some)
            .map_err(|e| ReconcileError::new("AuthenticationFailed", e.to_string()))
    }

    /// Finds the artifacts of the GitRepositories this one includes: from local
    /// storage, or downloaded from the replica that serves them.
    async fn inclusions(
        &self,
        repo: &GitRepository,
        namespace: &str,
        workdir: &Path,
    ) -> Result<Vec<Inclusion>, IncludeProblem> {
        let api: Api<GitRepository> = Api::namespaced(self.client.clone(), namespace);
        let mut found = Vec::new();
        for (i, include) in repo.spec.include.iter().flatten().enumerate() {
            let name = &include.repository.name;
            let from_path = include_path(
                include.from_path.as_deref().unwrap_or("."),
                "spec.include[].fromPath",
            )
            .map_err(IncludeProblem::Invalid)?;
            let to_path = include_path(
                include.to_path.as_deref().unwrap_or(name),
                "spec.include[].toPath",
            )
            .map_err(IncludeProblem::Invalid)?;
            let included = api.get_opt(name).await.map_err(|e| {
                IncludeProblem::Unavailable(format!(
                    "getting GitRepository '{namespace}/{name}': {e}"
                ))
            })?;
            let Some(artifact) = included.and_then(|r| r.status).and_then(|s| s.artifact) else {
                return Err(IncludeProblem::Unavailable(format!(
                    "no artifact available for include '{namespace}/{name}'"
                )));
            };
            let local = self.store.root().join(&artifact.path);
            let tarball = if local.is_file() {
                local
            } else {
                let download = async {
                    reqwest::get(&artifact.url)
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await
                };
                let bytes = download.await.map_err(|e| {
                    IncludeProblem::Unavailable(format!(
                        "downloading the artifact of '{namespace}/{name}': {e}"
                    ))
                })?;
                let path = workdir.join(format!("include-{i}.tar.gz"));
                std::fs::write(&path, &bytes)
                    .map_err(|e| IncludeProblem::Unavailable(e.to_string()))?;
                path
            };
            found.push(Inclusion {
                tarball,
                from_path,
                to_path,
                artifact,
            });
        }
        Ok(found)
    }

    /// The stored artifact when the remote's ref still points at its revision and
    /// nothing else in the spec changed since it was made (no includes, whose own
    /// artifacts could have moved); asked with one handshake, no objects fetched.
    async fn unchanged_artifact(
        &self,
        repo: &GitRepository,
        options: &FetchOptions,
    ) -> Result<Option<crate::source::artifact::Artifact>, GitError> {
        let Some(status) = repo.status.as_ref() else {
            return Ok(None);
        };
        let same_spec = status.observed_generation == repo.metadata.generation
            && repo.spec.include.as_ref().is_none_or(Vec::is_empty)
            && status.observed_ignore == repo.spec.ignore
            && status.observed_recurse_submodules == repo.spec.recurse_submodules.filter(|&r| r);
        let Some(current) = status.artifact.as_ref().filter(|_| same_spec) else {
            return Ok(None);
        };
        let Some(stored) = crate::controllers::source_status::still_stored(&self.store, current)
        else {
            return Ok(None);
        };
        let options = options.clone();
        let remote = tokio::task::spawn_blocking(move || git::remote_revision(&options))
            .await
            .map_err(|e| GitError::Other {
                url: String::new(),
                detail: e.to_string(),
            })??;
        Ok(remote.filter(|r| *r == current.revision).map(|_| stored))
    }

    async fn write_status(
        &self,
        namespace: &str,
        name: &str,
        status: &GitRepositoryStatus,
    ) -> Result<(), ReconcileError> {
        let api: Api<GitRepository> = Api::namespaced(self.client.clone(), namespace);
        let params = PatchParams {
            field_manager: Some(CONTROLLER.to_owned()),
            ..PatchParams::default()
        };
        api.patch_status(name, &params, &Patch::Merge(json!({"status": status})))
            .await
            .map(|_| ())
            .map_err(|e| ReconcileError::new("StatusPatchFailed", e.to_string()))
    }

    /// Records a failure in status and events. Returns the outcome to report.
    #[allow(clippy::too_many_arguments)] // the pieces of one status write
    async fn fail(
        &self,
        object: &Value,
        key: &ObjectKey,
        mut status: GitRepositoryStatus,
        mut conds: Vec<Condition>,
        generation: Option<i64>,
        condition: &str,
        reason: &str,
        message: &str,
        stalled: bool,
    ) -> ReconcileOutcome {
        let now = chrono::Utc::now();
        conditions::set(
            &mut conds, condition, TRUE, reason, message, generation, now,
        );
        conditions::set(&mut conds, READY, FALSE, reason, message, generation, now);
        if stalled {
            conditions::remove(&mut conds, RECONCILING);
        } else {
            conditions::set(
                &mut conds,
                RECONCILING,
                TRUE,
                "ProgressingWithRetry",
                &format!("retrying: {message}"),
                generation,
                now,
            );
        }
        status.conditions = Some(conds);
        status.observed_generation = generation;
        if let Err(e) = self.write_status(&key.namespace, &key.name, &status).await {
            tracing::warn!(object = %key, error = %e, "writing status failed");
        }
        self.events
            .record(object, EventType::Warning, reason, message)
            .await;
        let error = ReconcileError::new(reason, message);
        if stalled {
            ReconcileOutcome::Stalled(error)
        } else {
            ReconcileOutcome::Transient(error)
        }
    }
}

impl Reconciler for GitRepositoryReconciler {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// Included GitRepositories: their new artifacts rebuild this one.
    fn dependencies(&self, object: &Value) -> Vec<ObjectKey> {
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        object
            .pointer("/spec/include")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.pointer("/repository/name").and_then(Value::as_str))
            .map(|name| ObjectKey::new(KIND, namespace, name))
            .collect()
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let key = ctx.key.clone();
        let repo: GitRepository = match serde_json::from_value(object.clone()) {
            Ok(r) => r,
            Err(e) => {
                return ReconcileOutcome::Stalled(ReconcileError::new("InvalidSpec", e.to_string()))
            }
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            if let Err(e) = self.store.remove_object(KIND, &key.namespace, &key.name) {
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
                return self
                    .fail(
                        object,
                        &key,
                        status,
                        conds,
                        generation,
                        STALLED,
                        "InvalidSpec",
                        &invalid.to_string(),
                        true,
                    )
                    .await;
            }
        };
        conditions::remove(&mut conds, STALLED);
        let secrets = match self.auth(&repo, &key.namespace).await {
            Ok(auth) => self
                .proxy(&repo, &key.namespace)
                .await
                .map(|proxy| (auth, proxy)),
            Err(e) => Err(e),
        };
        (options.auth, options.proxy) = match secrets {
            Ok(pair) => pair,
            Err(e) => {
                return self
                    .fail(
                        object,
                        &key,
                        status,
                        conds,
                        generation,
                        FETCH_FAILED,
                        &e.reason,
                        &e.message,
                        false,
                    )
                    .await
            }
        };
        // The remote's ref is at the artifact's revision: nothing to fetch or store.
        let unchanged = match self.unchanged_artifact(&repo, &options).await {
            Ok(found) => found,
            Err(e) => {
                let reason = fetch_reason(&e);
                let message = format!("failed to checkout and determine revision: {e}");
                return self
                    .fail(
                        object,
                        &key,
                        status,
                        conds,
                        generation,
                        FETCH_FAILED,
                        reason,
                        &message,
                        false,
                    )
                    .await;
            }
        };
        let (artifact, included_artifacts) = if let Some(artifact) = unchanged {
            (artifact, Vec::new())
        } else {
            let workdir = match tempfile::tempdir() {
                Ok(d) => d,
                Err(e) => {
                    return ReconcileOutcome::Transient(ReconcileError::new(
                        "StorageOperationFailed",
                        e.to_string(),
                    ))
                }
            };
            let inclusions = match self.inclusions(&repo, &key.namespace, workdir.path()).await {
                Ok(found) => found,
                Err(IncludeProblem::Invalid(invalid)) => {
                    return self
                        .fail(
                            object,
                            &key,
                            status,
                            conds,
                            generation,
                            STALLED,
                            "InvalidSpec",
                            &invalid.to_string(),
                            true,
                        )
                        .await;
                }
                Err(IncludeProblem::Unavailable(message)) => {
                    return self
                        .fail(
                            object,
                            &key,
                            status,
                            conds,
                            generation,
                            INCLUDE_UNAVAILABLE,
                            "IncludeUnavailable",
                            &message,
                            false,
                        )
                        .await;
                }
            };
            let included_artifacts: Vec<Artifact> =
                inclusions.iter().map(|i| i.artifact.clone()).collect();

            let store = self.store.clone();
            let ignore_spec = repo.spec.ignore.clone();
            let (ns, name) = (key.namespace.clone(), key.name.clone());
            // git and packing are blocking work: keep them off the async workers.
            let job = tokio::task::spawn_blocking(move || {
                let checkout = workdir.path().join("checkout");
                let result = git::fetch(&options, &checkout).map_err(|e| {
                    (
                        FETCH_FAILED,
                        fetch_reason(&e),
                        format!("failed to checkout and determine revision: {e}"),
                    )
                })?;
                apply_inclusions(&result.dir, &inclusions)
                    .map_err(|e| (INCLUDE_UNAVAILABLE, "IncludeUnavailable", e))?;
                let rules =
                    IgnoreRules::load(&result.dir, ignore_spec.as_deref()).map_err(|e| {
                        (
                            "StorageOperationFailed",
                            "StorageOperationFailed",
                            format!("reading ignore rules: {e}"),
                        )
                    })?;
                let (artifact, _) = store
                    .store_dir(KIND, &ns, &name, &result.revision, &result.dir, &rules)
                    .map_err(|e| {
                        (
                            "StorageOperationFailed",
                            "StorageOperationFailed",
                            e.to_string(),
                        )
                    })?;
                // Old artifacts going is housekeeping; a failure here must not fail the reconcile.
                let _ = store.gc(KIND, &ns, &name, KEEP_ARTIFACTS, &artifact.path);
                Ok(artifact)
            });
            let fetched = match tokio::time::timeout(timeout + Duration::from_secs(30), job).await {
                Ok(Ok(r)) => r,
                Ok(Err(join)) => Err((
                    FETCH_FAILED,
                    "GitOperationFailed",
                    format!("fetch task failed: {join}"),
                )),
                Err(_) => Err((
                    FETCH_FAILED,
                    "GitOperationFailed",
                    format!("timeout after {timeout:?}"),
                )),
            };
            let artifact = match fetched {
                Ok(a) => a,
                Err((condition, reason, message)) => {
                    return self
                        .fail(
                            object, &key, status, conds, generation, condition, reason, &message,
                            false,
                        )
                        .await;
                }
            };
            (artifact, included_artifacts)
        };

        let now = chrono::Utc::now();
        let message = format!("stored artifact for revision '{}'", artifact.revision);
        let changed =
            status.artifact.as_ref().map(|a| a.digest.as_str()) != Some(artifact.digest.as_str());
        // The same content served from another address (a new owner after a
        // failover): consumers that failed to download from the old one retry now.
        let moved = !changed
            && status.artifact.as_ref().map(|a| a.url.as_str()) != Some(artifact.url.as_str());
        status.artifact = Some(crate::controllers::source_status::status_artifact(
            &artifact,
        ));
        status.observed_ignore = repo.spec.ignore.clone();
        status.observed_include = repo.spec.include.clone();
        // Flux omits `false` (omitempty), so only `true` is written.
        status.observed_recurse_submodules = repo.spec.recurse_submodules.filter(|&r| r);
        status.included_artifacts = (!included_artifacts.is_empty()).then_some(included_artifacts);
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
        for stale in [
            RECONCILING,
            FETCH_FAILED,
            ARTIFACT_OUTDATED,
            INCLUDE_UNAVAILABLE,
        ] {
            conditions::remove(&mut conds, stale);
        }
        status.conditions = Some(conds);
        status.observed_generation = generation;
        // A reconcile that changed nothing writes nothing.
        if repo.status.as_ref() != Some(&status) {
            if let Err(e) = self.write_status(&key.namespace, &key.name, &status).await {
                return ReconcileOutcome::Transient(e);
            }
        }
        if changed {
            self.events
                .record(object, EventType::Normal, "NewArtifact", &message)
                .await;
            ctx.publish_artifact_changed();
        } else if moved {
            ctx.publish_artifact_changed();
        }
        ReconcileOutcome::Ready {
            requeue_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(spec: Value) -> GitRepository {
        serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": "flux-system"}, "spec": spec,
        }))
        .expect("valid GitRepository")
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let cases = [
            (
                json!({"interval": "1m", "url": "ftp://example.com/repo"}),
                "spec.url",
            ),
            (
                json!({"interval": "1m", "url": "https://example.com/repo", "timeout": "soon"}),
                "spec.timeout",
            ),
            (
                json!({"interval": "1m", "url": "https://example.com/repo", "ref": {"semver": ">= nope"}}),
                "spec.ref.semver",
            ),
            (
                json!({"interval": "1m", "url": "https://example.com/repo", "include": [{"repository": {"name": "x"}, "toPath": "../out"}]}),
                "spec.include[].toPath",
            ),
        ];
        for (spec, field) in cases {
            let err = fetch_plan(&repo(spec.clone())).expect_err("invalid");
            assert_eq!(err.field, field, "{spec}");
        }
    }

    #[test]
    fn the_plan_follows_flux_ref_precedence() {
        let (options, timeout) = fetch_plan(&repo(json!({
            "interval": "1m", "url": "https://example.com/repo", "timeout": "20s",
            "ref": {"branch": "main", "tag": "v1.0.0"},
        })))
        .expect("valid");
        assert_eq!(options.reference, GitRef::Tag("v1.0.0".into()));
        assert_eq!(timeout, Duration::from_secs(20));
        assert!(!options.recurse_submodules, "submodules are off by default");
        let (options, _) = fetch_plan(&repo(json!({
            "interval": "1m", "url": "https://example.com/repo", "recurseSubmodules": true,
        })))
        .expect("valid");
        assert!(options.recurse_submodules);
    }

    #[test]
    fn inclusions_copy_into_the_checkout_without_leaving_it() {
        let included = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(included.path().join("config/sub")).expect("mkdir");
        std::fs::write(included.path().join("config/sub/a.yaml"), "a: 1\n").expect("write");
        let store =
            ArtifactStore::new(tempfile::tempdir().expect("dir").keep(), "http://localhost");
        let rules = IgnoreRules::load(included.path(), None).expect("rules");
        let (artifact, _) = store
            .store_dir(KIND, "ns", "shared", "main@sha1:0", included.path(), &rules)
            .expect("store");
        let checkout = tempfile::tempdir().expect("dir");
        let inclusion = Inclusion {
            tarball: store.local_path(&artifact),
            from_path: "config".into(),
            to_path: "vendor/shared".into(),
            artifact: crate::controllers::source_status::status_artifact(&artifact),
        };
        apply_inclusions(checkout.path(), &[inclusion]).expect("included");
        assert_eq!(
            std::fs::read_to_string(checkout.path().join("vendor/shared/sub/a.yaml"))
                .expect("copied"),
            "a: 1\n"
        );
    }
}
