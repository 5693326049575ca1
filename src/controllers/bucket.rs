//! The Bucket reconciler, in Flux's steps: credentials → does the bucket exist →
//! index its objects (the root `.sourceignore` and `spec.ignore` applied) → the
//! revision is the index's digest; when it is the stored artifact's, nothing is
//! downloaded → otherwise only the changed objects are fetched into this replica's
//! object cache, which is packed and stored → status, events, and a notice to the
//! objects that use this source.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::Value;

use crate::actors::{ObjectKey, ReconcileContext, ReconcileOutcome, Reconciler};
use crate::api::conditions::types::{FETCH_FAILED, STORAGE_OPERATION_FAILED};
use crate::api::source_v1::{Bucket, BucketStatus};
use crate::controllers::events::{EventRecorder, EventType};
use crate::controllers::source_status::{self, Failure};
use crate::source::artifact::ArtifactStore;
use crate::source::bucket::{self, ObjectCache};
use crate::source::http;
use crate::source::ignore::{parse_patterns, IgnoreRules};
use crate::source::s3::{self, Credentials, S3Client, S3Options};

pub const KIND: &str = "Bucket";
/// How many artifacts per object stay in storage.
const KEEP_ARTIFACTS: usize = 2;
/// The largest object downloaded (manifests, not media).
const MAX_OBJECT_SIZE: u64 = 256 << 20;
/// `spec.timeout` by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Flux's reasons.
const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
const BUCKET_OPERATION_FAILED: &str = "BucketOperationFailed";

/// Reconciles Buckets into artifacts.
pub struct BucketReconciler {
    pub client: kube::Client,
    pub store: Arc<ArtifactStore>,
    pub events: EventRecorder,
}

/// What a reconcile stored.
struct Stored {
    artifact: crate::source::artifact::Artifact,
    /// Objects downloaded, or None when the artifact already was this revision.
    fetched: Option<usize>,
}

fn stalled(reason: &'static str, message: impl Into<String>) -> Failure {
    Failure::stalled(FETCH_FAILED, reason, message)
}

fn storage_failed(e: impl std::fmt::Display) -> Failure {
    Failure::retry(
        STORAGE_OPERATION_FAILED,
        "ArchiveOperationFailed",
        e.to_string(),
    )
}

/// The keys of a Bucket's `secretRef`, as Flux's minio provider reads them.
pub fn credentials_from_secret(
    secret: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Credentials, String> {
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    match (text("accesskey"), text("secretkey")) {
        (Some(access_key), Some(secret_key)) => Ok(Credentials {
            access_key,
            secret_key,
            session_token: None,
        }),
        _ => Err(format!(
            "invalid '{secret}' secret data: required fields 'accesskey' and 'secretkey'"
        )),
    }
}

/// Credentials from the environment, as AWS's SDKs read them first.
fn aws_env_credentials() -> Option<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(Credentials {
        access_key: var("AWS_ACCESS_KEY_ID")?,
        secret_key: var("AWS_SECRET_ACCESS_KEY")?,
        session_token: var("AWS_SESSION_TOKEN"),
    })
}

impl BucketReconciler {
    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets.get(name).await.map_err(|e| {
            let e = match e {
                kube::Error::Api(status) => status.message,
                other => other.to_string(),
            };
            Failure::retry(
                FETCH_FAILED,
                AUTHENTICATION_FAILED,
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

    /// A client for the bucket with the spec's provider, credentials and TLS.
    async fn s3_client(&self, spec_bucket: &Bucket, namespace: &str) -> Result<S3Client, Failure> {
        let spec = &spec_bucket.spec;
        let provider = spec.provider.as_deref().unwrap_or("generic");
        match provider {
            "generic" | "aws" | "gcp" => {}
            "azure" => {
                return Err(stalled(
                    "InvalidProvider",
                    "spec.provider: 'azure' is not supported by ferroflux yet (Azure Blob \
                     Storage has no S3 API); use generic, aws or gcp",
                ))
            }
            other => {
                return Err(stalled(
                    "InvalidProvider",
                    format!("spec.provider: unsupported provider '{other}'"),
                ))
            }
        }
        if spec.sts.is_some() {
            return Err(stalled(
                "InvalidSTSConfiguration",
                "spec.sts: a Security Token Service is not supported by ferroflux yet",
            ));
        }
        let credentials = match &spec.secret_ref {
            Some(reference) => {
                let data = self.secret(namespace, &reference.name).await?;
                let name = format!("{namespace}/{}", reference.name);
                Some(
                    credentials_from_secret(&name, &data)
                        .map_err(|e| Failure::retry(FETCH_FAILED, AUTHENTICATION_FAILED, e))?,
                )
            }
            None if provider == "aws" => aws_env_credentials(),
            None => None,
        };
        let tls = match &spec.cert_secret_ref {
            Some(reference) => {
                let data = self.secret(namespace, &reference.name).await?;
                let name = format!("{namespace}/{}", reference.name);
                http::tls_from_secret(&name, &data).map_err(|e| {
                    Failure::retry(FETCH_FAILED, AUTHENTICATION_FAILED, e.to_string())
                })?
            }
            None => http::TlsMaterial::default(),
        };
        let timeout = match spec.timeout.as_deref() {
            None => DEFAULT_TIMEOUT,
            Some(text) => crate::actors::parse_duration(text)
                .map_err(|e| stalled("InvalidSpec", format!("spec.timeout: {e}")))?,
        };
        S3Client::new(S3Options {
            endpoint: spec.endpoint.clone(),
            bucket: spec.bucket_name.clone(),
            region: spec
                .region
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| s3::DEFAULT_REGION.to_owned()),
            insecure: spec.insecure == Some(true),
            credentials,
            tls,
            timeout,
        })
        .map_err(|e| match e {
            s3::S3Error::Endpoint(_) => stalled("InvalidSpec", format!("spec.endpoint: {e}")),
            other => Failure::retry(FETCH_FAILED, BUCKET_OPERATION_FAILED, other.to_string()),
        })
    }

    /// The rules Flux matches keys with: the bucket's root `.sourceignore`, then
    /// `spec.ignore`.
    async fn ignore_rules(
        &self,
        s3: &S3Client,
        spec_ignore: Option<&str>,
    ) -> Result<IgnoreRules, s3::S3Error> {
        let dir = tempfile::tempdir().map_err(|source| s3::S3Error::Io {
            key: bucket::IGNORE_FILE.into(),
            source,
        })?;
        let path = dir.path().join(bucket::IGNORE_FILE);
        let mut patterns = match s3.get_to_file(bucket::IGNORE_FILE, &path, 1 << 20).await {
            Ok(_) => {
                let text =
                    tokio::fs::read_to_string(&path)
                        .await
                        .map_err(|source| s3::S3Error::Io {
                            key: bucket::IGNORE_FILE.into(),
                            source,
                        })?;
                parse_patterns(&text, &[])
            }
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        if let Some(text) = spec_ignore {
            patterns.extend(parse_patterns(text, &[]));
        }
        Ok(IgnoreRules::only(patterns))
    }

    async fn fetch_and_store(
        &self,
        object: &Bucket,
        key: &ObjectKey,
        current: Option<&crate::api::meta::Artifact>,
    ) -> Result<Stored, Failure> {
        let name = &object.spec.bucket_name;
        let s3 = self.s3_client(object, &key.namespace).await?;
        let operation =
            |message: String| Failure::retry(FETCH_FAILED, BUCKET_OPERATION_FAILED, message);
        match s3.bucket_exists().await {
            Ok(true) => {}
            Ok(false) => {
                return Err(operation(format!(
                    "failed to confirm existence of '{name}' bucket: bucket '{name}' not found"
                )))
            }
            Err(e) => {
                return Err(operation(format!(
                    "failed to confirm existence of '{name}' bucket: {e}"
                )))
            }
        }
        let indexation = |e: s3::S3Error| {
            operation(format!(
                "indexation of objects from bucket '{name}' failed: {e}"
            ))
        };
        let rules = self
            .ignore_rules(&s3, object.spec.ignore.as_deref())
            .await
            .map_err(indexation)?;
        let listed = s3
            .list(object.spec.prefix.as_deref().unwrap_or_default())
            .await
            .map_err(indexation)?;
        let index = bucket::index(listed, &rules);
        let revision = bucket::revision(&index);
        let unchanged_spec = object
            .status
            .as_ref()
            .is_some_and(|s| s.observed_ignore == object.spec.ignore);
        if let Some(stored) = current
            .filter(|a| a.revision == revision && unchanged_spec)
            .and_then(|a| source_status::still_stored(&self.store, a))
        {
            return Ok(Stored {
                artifact: stored,
                fetched: None,
            });
        }
        let cache_dir = self
            .store
            .cache_dir(KIND, &key.namespace, &key.name)
            .map_err(storage_failed)?;
        let cache = ObjectCache::new(cache_dir);
        let stats = cache
            .sync(&s3, &index, MAX_OBJECT_SIZE)
            .await
            .map_err(|e| operation(format!("fetch from bucket '{name}' failed: {e}")))?;
        let store = Arc::clone(&self.store);
        let (ns, object_name) = (key.namespace.clone(), key.name.clone());
        let files = cache.files();
        // Packing is blocking work: keep it off the async workers.
        let artifact = tokio::task::spawn_blocking(move || -> Result<_, Failure> {
            std::fs::create_dir_all(&files).map_err(storage_failed)?;
            // The index is filtered already; Flux archives what it fetched unfiltered.
            let (artifact, _) = store
                .store_dir(
                    KIND,
                    &ns,
                    &object_name,
                    &revision,
                    &files,
                    &IgnoreRules::none(),
                )
                .map_err(storage_failed)?;
            // Old artifacts going is housekeeping; a failure here must not fail the reconcile.
            let _ = store.gc(KIND, &ns, &object_name, KEEP_ARTIFACTS, &artifact.path);
            Ok(artifact)
        })
        .await
        .map_err(storage_failed)??;
        Ok(Stored {
            artifact,
            fetched: Some(stats.fetched),
        })
    }
}

impl Reconciler for BucketReconciler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let key = ctx.key.clone();
        let bucket_object: Bucket = match serde_json::from_value(object.clone()) {
            Ok(b) => b,
            Err(e) => {
                return Failure::stalled(FETCH_FAILED, "InvalidSpec", e.to_string()).outcome()
            }
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            if let Ok(dir) = self.store.cache_dir(KIND, &key.namespace, &key.name) {
                // The cache is this replica's working copy; the artifacts are what count.
                let _ = ObjectCache::new(dir).remove();
            }
            return source_status::remove_artifacts(&self.store, &key);
        }
        if bucket_object.spec.suspend == Some(true) {
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        }
        let generation = bucket_object.metadata.generation;
        let before: BucketStatus = bucket_object.status.clone().unwrap_or_default();
        let mut status = before.clone();
        status.last_handled_reconcile_at =
            source_status::requested_at(object).or(status.last_handled_reconcile_at);
        let mut conds = status.conditions.take().unwrap_or_default();
        let was_failing = source_status::was_failing(&conds);

        let result = self
            .fetch_and_store(&bucket_object, &key, before.artifact.as_ref())
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
                let event = match stored.fetched {
                    Some(fetched) if changed => Some((
                        EventType::Normal,
                        "NewArtifact",
                        format!(
                            "stored artifact with {fetched} fetched files from '{}' bucket",
                            bucket_object.spec.bucket_name
                        ),
                    )),
                    _ if was_failing => Some((EventType::Normal, "Succeeded", message.clone())),
                    _ => None,
                };
                publish = tell_dependents;
                // The stable URL of the newest artifact, on a best-effort basis as in Flux.
                if let Ok(url) = self.store.link(
                    KIND,
                    &key.namespace,
                    &key.name,
                    "latest.tar.gz",
                    &stored.artifact,
                ) {
                    status.url = Some(url);
                }
                status.artifact = Some(artifact);
                status.observed_ignore = bucket_object.spec.ignore.clone();
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
            if let Err(e) = source_status::patch_status::<Bucket>(&self.client, &key, value).await {
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

    #[test]
    fn the_secret_must_hold_both_keys() {
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect()
        };
        let creds = credentials_from_secret(
            "flux-system/minio",
            &data(&[("accesskey", "AK"), ("secretkey", "SK\n")]),
        )
        .expect("both keys");
        assert_eq!(
            (creds.access_key.as_str(), creds.secret_key.as_str()),
            ("AK", "SK")
        );
        assert_eq!(
            credentials_from_secret("flux-system/minio", &data(&[("accesskey", "AK")])),
            Err("invalid 'flux-system/minio' secret data: required fields 'accesskey' and 'secretkey'".into())
        );
        // The secret value is never printed, even in a debug dump.
        assert!(!format!("{creds:?}").contains("SK"));
    }
}
