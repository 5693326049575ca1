//! The OCIRepository reconciler: resolve the reference in the registry (digest,
//! semver over the tags, or a tag) → skip when the artifact already is that
//! manifest → pull the selected layer → extract it (Flux's ignore rules applied) or
//! copy it → store by digest → status, events, and a notice to the objects that use
//! this source.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::actors::{ObjectKey, ReconcileContext, ReconcileOutcome, Reconciler};
use crate::api::conditions::types::{FETCH_FAILED, STORAGE_OPERATION_FAILED};
use crate::api::source_v1::{OCIRepository, OciRepositoryStatus};
use crate::controllers::events::{EventRecorder, EventType};
use crate::controllers::helmrepository;
use crate::controllers::source_status::{self, Failure};
use crate::source::artifact::{ArtifactFileName, ArtifactStore};
use crate::source::ignore::IgnoreRules;
use crate::source::oci::{self, OciClient, OciError};
use crate::source::ociartifact::{self, LayerOperation, Wanted};

pub const KIND: &str = "OCIRepository";
/// How many artifacts per object stay in storage.
const KEEP_ARTIFACTS: usize = 2;
/// The largest layer pulled (Flux's default `--storage-adv-addr`-side limit is the
/// same order).
const MAX_LAYER_SIZE: u64 = 512 << 20;
/// `spec.timeout` by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Reconciles OCIRepositories into artifacts.
pub struct OciRepositoryReconciler {
    pub client: kube::Client,
    pub store: Arc<ArtifactStore>,
    pub events: EventRecorder,
}

/// A stored artifact and where it came from.
struct Pulled {
    artifact: crate::source::artifact::Artifact,
    metadata: std::collections::BTreeMap<String, String>,
    /// False when the artifact already was this revision (nothing was pulled).
    fetched: bool,
}

fn fetch_failed(reason: &'static str, e: impl std::fmt::Display) -> Failure {
    Failure::retry(FETCH_FAILED, reason, e.to_string())
}

fn oci_failure(e: OciError) -> Failure {
    let reason = if e.is_auth() {
        "AuthenticationFailed"
    } else {
        "OCIArtifactPullFailed"
    };
    fetch_failed(reason, e)
}

impl OciRepositoryReconciler {
    /// A client for the repository, with the credentials of `secretRef`.
    async fn registry(&self, repo: &OCIRepository, key: &ObjectKey) -> Result<OciClient, Failure> {
        let url = &repo.spec.url;
        let (host, _) = oci::split_url(url)
            .map_err(|e| Failure::stalled(FETCH_FAILED, "URLInvalid", format!("spec.url: {e}")))?;
        let auth = match &repo.spec.secret_ref {
            None => None,
            Some(reference) => {
                let data = helmrepository::secret_data(
                    &self.client,
                    &key.namespace,
                    &reference.name,
                    "authentication",
                )
                .await?;
                let secret = format!("{}/{}", key.namespace, reference.name);
                oci::auth_from_secret(&secret, &data, &host)
                    .map_err(|e| fetch_failed("AuthenticationFailed", e))?
            }
        };
        let timeout = match repo.spec.timeout.as_deref() {
            None => DEFAULT_TIMEOUT,
            Some(text) => crate::actors::parse_duration(text).map_err(|e| {
                Failure::stalled(FETCH_FAILED, "InvalidSpec", format!("spec.timeout: {e}"))
            })?,
        };
        OciClient::new(url, repo.spec.insecure == Some(true), auth, timeout)
            .map_err(|e| fetch_failed("OCIArtifactPullFailed", e))
    }

    async fn pull_and_store(
        &self,
        repo: &OCIRepository,
        key: &ObjectKey,
        current: Option<&crate::api::meta::Artifact>,
    ) -> Result<Pulled, Failure> {
        let registry = self.registry(repo, key).await?;
        let (tag, reference) = match ociartifact::wanted(repo.spec.reference.as_ref()) {
            Wanted::Digest(digest) => (None, digest),
            Wanted::Tag(tag) => (Some(tag.clone()), tag),
            Wanted::Semver { range, filter } => {
                let tags = registry.repository_tags().await.map_err(oci_failure)?;
                let tag = ociartifact::pick_tag(&tags, &range, filter.as_deref())
                    .map_err(|e| fetch_failed("ReadOperationFailed", e))?;
                (Some(tag.clone()), tag)
            }
        };
        let (digest, manifest) = registry.manifest(&reference).await.map_err(|e| {
            let message = format!(
                "failed to determine artifact digest: {}:{reference}: {e}",
                repo.spec.url
            );
            if e.is_auth() {
                fetch_failed("AuthenticationFailed", message)
            } else {
                fetch_failed("OCIArtifactPullFailed", message)
            }
        })?;
        let revision = ociartifact::revision(tag.as_deref(), &digest);
        let metadata = ociartifact::annotations(&manifest);
        let unchanged_spec = repo.status.as_ref().is_some_and(|s| {
            s.observed_ignore == repo.spec.ignore
                && s.observed_layer_selector == repo.spec.layer_selector
        });
        // The same manifest with the same selection is the same artifact: nothing to pull.
        if let Some(stored) = current
            .filter(|a| a.revision == revision && unchanged_spec)
            .and_then(|a| source_status::still_stored(&self.store, a))
        {
            return Ok(Pulled {
                artifact: stored,
                metadata,
                fetched: false,
            });
        }
        let (layer, operation) =
            ociartifact::select_layer(&manifest, repo.spec.layer_selector.as_ref())
                .map_err(|e| fetch_failed("OCILayerOperationFailed", e))?;
        if layer.size > MAX_LAYER_SIZE {
            return Err(fetch_failed(
                "OCILayerOperationFailed",
                format!(
                    "layer {} is {} bytes, over the limit of {MAX_LAYER_SIZE} bytes",
                    layer.digest, layer.size
                ),
            ));
        }
        let blob = registry
            .blob(&layer.digest, MAX_LAYER_SIZE)
            .await
            .map_err(oci_failure)?;
        let store = Arc::clone(&self.store);
        let ignore = repo.spec.ignore.clone();
        let (ns, name) = (key.namespace.clone(), key.name.clone());
        let stored_revision = revision.clone();
        // Extracting and packing are blocking work: keep them off the async workers.
        let job = tokio::task::spawn_blocking(move || -> Result<_, Failure> {
            let storage = |e: crate::source::artifact::ArtifactError| {
                Failure::retry(
                    STORAGE_OPERATION_FAILED,
                    "ArchiveOperationFailed",
                    e.to_string(),
                )
            };
            let artifact = match operation {
                LayerOperation::Copy => store
                    .store_bytes(
                        KIND,
                        &ns,
                        &name,
                        &stored_revision,
                        ArtifactFileName::Digested {
                            stem: "layer",
                            extension: "tar.gz",
                        },
                        &blob,
                    )
                    .map_err(storage)?,
                LayerOperation::Extract => {
                    let dir = tempfile::tempdir().map_err(|e| {
                        Failure::retry(
                            STORAGE_OPERATION_FAILED,
                            "ArchiveOperationFailed",
                            e.to_string(),
                        )
                    })?;
                    crate::source::artifact::extract_tar_gz(&blob[..], dir.path()).map_err(
                        |e| {
                            fetch_failed(
                                "OCILayerOperationFailed",
                                format!("failed to extract layer contents from artifact: {e}"),
                            )
                        },
                    )?;
                    let rules = IgnoreRules::load(dir.path(), ignore.as_deref()).map_err(|e| {
                        Failure::retry(
                            STORAGE_OPERATION_FAILED,
                            "ArchiveOperationFailed",
                            format!("reading ignore rules: {e}"),
                        )
                    })?;
                    store
                        .store_dir(KIND, &ns, &name, &stored_revision, dir.path(), &rules)
                        .map_err(storage)?
                        .0
                }
            };
            // Old artifacts going is housekeeping; a failure here must not fail the reconcile.
            let _ = store.gc(KIND, &ns, &name, KEEP_ARTIFACTS, &artifact.path);
            Ok(artifact)
        });
        let artifact = job.await.map_err(|e| {
            Failure::retry(
                STORAGE_OPERATION_FAILED,
                "ArchiveOperationFailed",
                e.to_string(),
            )
        })??;
        Ok(Pulled {
            artifact,
            metadata,
            fetched: true,
        })
    }
}

impl Reconciler for OciRepositoryReconciler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let key = ctx.key.clone();
        let repo: OCIRepository = match serde_json::from_value(object.clone()) {
            Ok(r) => r,
            Err(e) => {
                return Failure::stalled(FETCH_FAILED, "InvalidSpec", e.to_string()).outcome()
            }
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return source_status::remove_artifacts(&self.store, &key);
        }
        if repo.spec.suspend == Some(true) {
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        }
        let generation = repo.metadata.generation;
        let before: OciRepositoryStatus = repo.status.clone().unwrap_or_default();
        let mut status = before.clone();
        status.last_handled_reconcile_at =
            source_status::requested_at(object).or(status.last_handled_reconcile_at);
        let mut conds = status.conditions.take().unwrap_or_default();
        let was_failing = source_status::was_failing(&conds);

        let result = self
            .pull_and_store(&repo, &key, before.artifact.as_ref())
            .await;
        let mut publish = false;
        let (outcome, event) = match result {
            Err(failure) => source_status::failed(
                &mut conds,
                &failure,
                &failure,
                generation,
                &mut status.observed_generation,
            ),
            Ok(pulled) => {
                let mut artifact = source_status::status_artifact(&pulled.artifact);
                artifact.metadata = (!pulled.metadata.is_empty()).then_some(pulled.metadata);
                let message = format!("stored artifact for digest '{}'", artifact.revision);
                source_status::record_artifact(&mut conds, "Succeeded", &message, generation);
                let (changed, tell_dependents) =
                    source_status::artifact_news(before.artifact.as_ref(), &artifact);
                let event = if changed && pulled.fetched {
                    Some((EventType::Normal, "NewArtifact", message.clone()))
                } else if was_failing {
                    Some((EventType::Normal, "Succeeded", message.clone()))
                } else {
                    None
                };
                publish = tell_dependents;
                status.artifact = Some(artifact);
                status.url = Some(repo.spec.url.clone());
                status.observed_ignore = repo.spec.ignore.clone();
                status.observed_layer_selector = repo.spec.layer_selector.clone();
                status.observed_generation = generation;
                (
                    ReconcileOutcome::Ready {
                        requeue_after: None,
                    },
                    event,
                )
            }
        };
        status.conditions = Some(conds);
        // A reconcile that changed nothing writes nothing.
        if status != before {
            let value = serde_json::to_value(&status).unwrap_or_default();
            if let Err(e) =
                source_status::patch_status::<OCIRepository>(&self.client, &key, value).await
            {
                return ReconcileOutcome::Transient(e);
            }
        }
        source_status::announce(ctx, &self.events, object, publish, event).await;
        outcome
    }
}
