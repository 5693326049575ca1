//! The HelmRepository reconciler (type `default`): download the repository's
//! `index.yaml`, read it as Helm does, and store it as the artifact HelmCharts pick
//! their versions from. Type `oci` repositories are static (Flux keeps no status for
//! them: the HelmChart talks to the registry itself).
//!
//! Phases, as source-controller runs them: the spec, the credentials, the download,
//! the index, the artifact; then one status write and the events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::actors::{ObjectKey, ReconcileContext, ReconcileOutcome, Reconciler};
use crate::api::conditions::types::{FETCH_FAILED, STORAGE_OPERATION_FAILED};
use crate::api::source_v1::{HelmRepository, HelmRepositoryStatus};
use crate::controllers::events::{EventRecorder, EventType};
use crate::controllers::source_status::{self, Failure};
use crate::source::artifact::{ArtifactFileName, ArtifactStore};
use crate::source::helmrepo::{self, MAX_INDEX_SIZE};
use crate::source::http::{self, HttpError, HttpGetter, HttpOptions, TlsMaterial};

pub const KIND: &str = "HelmRepository";
/// How many index artifacts per repository stay in storage.
const KEEP_ARTIFACTS: usize = 2;
/// `spec.interval` when a repository has none (Flux's `GetRequeueAfter`).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Reconciles HelmRepositories into index artifacts.
pub struct HelmRepositoryReconciler {
    pub client: kube::Client,
    pub store: Arc<ArtifactStore>,
    pub events: EventRecorder,
}

/// Whether a repository is an OCI registry (`spec.type: oci`), which Flux never
/// reconciles.
pub fn is_oci(repo: &HelmRepository) -> bool {
    repo.spec.type_.as_deref() == Some("oci")
}

/// `spec.interval`, one minute when absent; OCI repositories are never reconciled.
fn repository_interval(object: &Value) -> Option<Duration> {
    if object.pointer("/spec/type").and_then(Value::as_str) == Some("oci") {
        return None;
    }
    let text = object.pointer("/spec/interval").and_then(Value::as_str);
    Some(
        text.and_then(|t| crate::actors::parse_duration(t).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_INTERVAL),
    )
}

/// The download timeout: `spec.timeout`, 60s by default.
pub(crate) fn timeout_of(repo: &HelmRepository) -> Result<Duration, Failure> {
    match repo.spec.timeout.as_deref() {
        None => Ok(Duration::from_secs(60)),
        Some(t) => crate::actors::parse_duration(t).map_err(|e| {
            Failure::stalled(
                FETCH_FAILED,
                "InvalidSpec",
                format!("invalid spec.timeout '{t}': {e}"),
            )
        }),
    }
}

/// The repository URL checked as Flux checks it before any download, normalized.
pub fn checked_url(repo: &HelmRepository) -> Result<String, Failure> {
    let invalid = |message: String| {
        Failure::stalled(
            FETCH_FAILED,
            "URLInvalid",
            format!("invalid Helm repository URL: {message}"),
        )
    };
    let url = &repo.spec.url;
    if url.starts_with("oci://") {
        return Err(invalid(
            "'oci' URL scheme cannot be used with 'default' HelmRepository type".to_owned(),
        ));
    }
    let normalized = helmrepo::normalize_url(url).map_err(invalid)?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        let scheme = url.split("://").next().unwrap_or_default();
        return Err(Failure::stalled(
            FETCH_FAILED,
            "Failed",
            format!("failed to construct Helm client: scheme \"{scheme}\" not supported"),
        ));
    }
    Ok(normalized)
}

pub(crate) async fn secret_data(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    what: &str,
) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = secrets.get(name).await.map_err(|e| {
        let e = match e {
            kube::Error::Api(status) => status.message,
            other => other.to_string(),
        };
        Failure::retry(
            FETCH_FAILED,
            "AuthenticationFailed",
            format!("failed to get {what} secret '{namespace}/{name}': {e}"),
        )
    })?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// The HTTP client for a repository, with its Secrets' credentials and TLS
/// (Flux's `GetClientOpts`): `certSecretRef` for TLS first, then TLS data in the
/// deprecated `secretRef`, whose `username`/`password` are the basic auth.
pub async fn repository_getter(
    client: &kube::Client,
    repo: &HelmRepository,
    namespace: &str,
) -> Result<HttpGetter, Failure> {
    let auth_failed =
        |e: HttpError| Failure::retry(FETCH_FAILED, "AuthenticationFailed", e.to_string());
    let mut tls = TlsMaterial::default();
    if let Some(reference) = &repo.spec.cert_secret_ref {
        let data = secret_data(client, namespace, &reference.name, "TLS authentication").await?;
        let secret = format!("{namespace}/{}", reference.name);
        tls = http::tls_from_secret(&secret, &data).map_err(|e| {
            Failure::retry(
                FETCH_FAILED,
                "AuthenticationFailed",
                format!("failed to construct Helm client's TLS config: {e}"),
            )
        })?;
        if tls.ca.is_none() && tls.cert_and_key.is_none() {
            return Err(Failure::retry(
                FETCH_FAILED,
                "AuthenticationFailed",
                format!("failed to construct Helm client's TLS config: secret '{secret}' must contain either 'ca.crt' or both 'tls.crt' and 'tls.key'"),
            ));
        }
    }
    let mut auth = None;
    if let Some(reference) = &repo.spec.secret_ref {
        let data = secret_data(client, namespace, &reference.name, "authentication").await?;
        let secret = format!("{namespace}/{}", reference.name);
        auth = http::basic_auth_from_secret(&secret, &data).map_err(auth_failed)?;
        if tls == TlsMaterial::default() {
            // Incomplete TLS data in secretRef is ignored, as in Flux.
            if let Ok(legacy) = http::tls_from_secret(&secret, &data) {
                if legacy != TlsMaterial::default() {
                    tracing::warn!(
                        repository = %format!("{namespace}/{}", repo.metadata.name.as_deref().unwrap_or_default()),
                        "warning: specifying TLS authentication data via `.spec.secretRef` is deprecated, please use `.spec.certSecretRef` instead"
                    );
                }
                tls = legacy;
            }
        }
    }
    let options = HttpOptions {
        auth,
        tls,
        timeout: timeout_of(repo)?,
        pass_credentials: repo.spec.pass_credentials == Some(true),
    };
    HttpGetter::new(
        &helmrepo::normalize_url(&repo.spec.url).unwrap_or_default(),
        options,
    )
    .map_err(|e| {
        Failure::retry(
            FETCH_FAILED,
            "AuthenticationFailed",
            format!("failed to construct Helm client's TLS config: {e}"),
        )
    })
}

/// What a successful fetch stored.
struct Stored {
    artifact: crate::source::artifact::Artifact,
    url: String,
}

impl HelmRepositoryReconciler {
    /// Download, read and store the index; `current` is the artifact the status
    /// holds, reused when the download is byte for byte the same.
    async fn fetch_and_store(
        &self,
        repo: &HelmRepository,
        key: &ObjectKey,
        current: Option<&crate::api::meta::Artifact>,
    ) -> Result<Stored, Failure> {
        checked_url(repo)?;
        let getter = repository_getter(&self.client, repo, &key.namespace).await?;
        let index_url = helmrepo::index_url(&repo.spec.url).map_err(|e| {
            Failure::stalled(
                FETCH_FAILED,
                "URLInvalid",
                format!("invalid Helm repository URL: {e}"),
            )
        })?;
        let raw = getter
            .get(&index_url, "index", MAX_INDEX_SIZE)
            .await
            .map_err(|e| {
                let message = match e {
                    HttpError::TooLarge { .. } => format!(
                        "index exceeds the maximum index file size of {MAX_INDEX_SIZE} bytes"
                    ),
                    other => other.to_string(),
                };
                Failure::retry(
                    FETCH_FAILED,
                    "Failed",
                    format!("failed to fetch Helm repository index: failed to cache index to temporary file: {message}"),
                )
            })?;
        let hex = crate::source::artifact::to_hex(&sha2::Sha256::digest(&raw));
        let revision = format!("sha256:{hex}");
        let link = |artifact: &crate::source::artifact::Artifact| {
            self.store
                .link(KIND, &key.namespace, &key.name, "index.yaml", artifact)
                .map_err(|e| {
                    Failure::retry(
                        STORAGE_OPERATION_FAILED,
                        "SymlinkUpdateFailed",
                        format!("failed to update status URL symlink: {e}"),
                    )
                })
        };
        // The same bytes as the stored index: nothing to read or write again.
        if let Some(existing) = current.filter(|a| a.revision == revision) {
            if let Some(artifact) = source_status::still_stored(&self.store, existing) {
                let url = link(&artifact)?;
                return Ok(Stored { artifact, url });
            }
        }
        let store = self.store.clone();
        let (ns, name) = (key.namespace.clone(), key.name.clone());
        // Reading a big index is CPU work: off the async workers.
        let stored = tokio::task::spawn_blocking(move || {
            let index = ferroflux_helm::repo::load_index(&raw).map_err(|e| {
                Failure::retry(
                    FETCH_FAILED,
                    "IndexationFailed",
                    format!(
                        "failed to load Helm repository from index YAML: failed to load index: {e}"
                    ),
                )
            })?;
            let file_name = format!("index-{hex}.yaml");
            let artifact = store
                .store_bytes(
                    KIND,
                    &ns,
                    &name,
                    &revision,
                    ArtifactFileName::Fixed(&file_name),
                    index.to_flux_json().as_bytes(),
                )
                .map_err(|e| {
                    Failure::retry(
                        STORAGE_OPERATION_FAILED,
                        "ArchiveOperationFailed",
                        format!("unable to save artifact to storage: {e}"),
                    )
                })?;
            // Old artifacts going is housekeeping; a failure must not fail the reconcile.
            let _ = store.gc(KIND, &ns, &name, KEEP_ARTIFACTS, &artifact.path);
            Ok::<_, Failure>(artifact)
        })
        .await
        .map_err(|e| Failure::retry(FETCH_FAILED, "IndexationFailed", e.to_string()))??;
        let url = link(&stored)?;
        Ok(Stored {
            artifact: stored,
            url,
        })
    }

    async fn write_status(
        &self,
        key: &ObjectKey,
        status: &Value,
    ) -> Result<(), crate::actors::ReconcileError> {
        source_status::patch_status::<HelmRepository>(&self.client, key, status.clone()).await
    }

    /// An OCI repository keeps no status and no artifacts (Flux's static object):
    /// whatever an earlier `default` type left is removed.
    async fn make_static(&self, repo: &HelmRepository, key: &ObjectKey) -> ReconcileOutcome {
        let Some(status) = &repo.status else {
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        };
        if *status == HelmRepositoryStatus::default() {
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        }
        if let Err(e) = self.store.remove_object(KIND, &key.namespace, &key.name) {
            return Failure::retry(
                STORAGE_OPERATION_FAILED,
                "GarbageCollectionFailed",
                e.to_string(),
            )
            .outcome();
        }
        let cleared = json!({
            "observedGeneration": null, "conditions": null, "url": null,
            "artifact": null, "lastHandledReconcileAt": null,
        });
        match self.write_status(key, &cleared).await {
            Ok(()) => ReconcileOutcome::Ready {
                requeue_after: None,
            },
            Err(e) => ReconcileOutcome::Transient(e),
        }
    }
}

impl Reconciler for HelmRepositoryReconciler {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// `spec.interval`, one minute when absent; OCI repositories are never reconciled
    /// on a timer.
    fn interval(&self, object: &Value) -> Option<Duration> {
        repository_interval(object)
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let key = ctx.key.clone();
        let repo: HelmRepository = match serde_json::from_value(object.clone()) {
            Ok(r) => r,
            Err(e) => {
                return Failure::stalled(FETCH_FAILED, "InvalidSpec", e.to_string()).outcome()
            }
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return source_status::remove_artifacts(&self.store, &key);
        }
        if is_oci(&repo) {
            return self.make_static(&repo, &key).await;
        }
        if repo.spec.suspend == Some(true) {
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        }
        let generation = repo.metadata.generation;
        let before = repo.status.clone().unwrap_or_default();
        let mut status = before.clone();
        status.last_handled_reconcile_at =
            source_status::requested_at(object).or(status.last_handled_reconcile_at);
        let mut conds = status.conditions.take().unwrap_or_default();
        let was_failing = source_status::was_failing(&conds);

        let result = self
            .fetch_and_store(&repo, &key, before.artifact.as_ref())
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
            Ok(stored) => {
                let artifact = source_status::status_artifact(&stored.artifact);
                let message = format!("stored artifact: revision '{}'", artifact.revision);
                source_status::record_artifact(&mut conds, "Succeeded", &message, generation);
                let (changed, tell_dependents) =
                    source_status::artifact_news(before.artifact.as_ref(), &artifact);
                let size = match artifact.size {
                    Some(size) => format!("of size {}", helmrepo::human_size(size.max(0) as u64)),
                    None => "of unknown size".to_owned(),
                };
                let news = format!("stored fetched index {size} from '{}'", repo.spec.url);
                let event = if changed {
                    Some((EventType::Normal, "NewArtifact", news))
                } else if was_failing {
                    Some((EventType::Normal, "Succeeded", news))
                } else {
                    None
                };
                // Told once the status names the new artifact, never before.
                publish = tell_dependents;
                status.artifact = Some(artifact);
                status.url = Some(stored.url);
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
            if let Err(e) = self.write_status(&key, &value).await {
                return ReconcileOutcome::Transient(e);
            }
        }
        source_status::announce(ctx, &self.events, object, publish, event).await;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(spec: Value) -> HelmRepository {
        serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": "flux-system"}, "spec": spec,
        }))
        .expect("valid HelmRepository")
    }

    #[test]
    fn urls_are_checked_as_flux_checks_them() {
        let oci = checked_url(&repo(json!({"url": "oci://ghcr.io/org"}))).unwrap_err();
        assert_eq!(
            oci.message,
            "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type"
        );
        assert!(oci.stalled);
        assert_eq!(oci.reason, "URLInvalid");
        let scheme = checked_url(&repo(json!({"url": "ftp://example.com/charts"}))).unwrap_err();
        assert_eq!(
            scheme.message,
            "failed to construct Helm client: scheme \"ftp\" not supported"
        );
        assert_eq!(scheme.reason, "Failed");
        assert_eq!(
            checked_url(&repo(json!({"url": "https://example.com/charts"}))).unwrap(),
            "https://example.com/charts/"
        );
    }

    #[test]
    fn the_interval_defaults_to_a_minute_and_oci_has_none() {
        let interval = |spec: Value| repository_interval(&json!({ "spec": spec }));
        assert_eq!(
            interval(json!({"url": "https://h"})),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            interval(json!({"url": "https://h", "interval": "5m"})),
            Some(Duration::from_secs(300))
        );
        assert_eq!(interval(json!({"url": "oci://h", "type": "oci"})), None);
    }
}
