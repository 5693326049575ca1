//! The HelmChart reconciler for charts of a HelmRepository: pick the version from
//! the repository's stored index as Flux picks it, download the chart, merge
//! `spec.valuesFiles` into its values.yaml (packaging it again as `<v>+<generation>`),
//! and store `<chart>-<version>.tgz` for the HelmRelease that uses it.
//!
//! Phases, as source-controller runs them: the source, the build (reference,
//! version, download, values), the artifact; then one status write and the events.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use kube::api::Api;
use serde_json::Value;

use crate::actors::{ObjectKey, ReconcileContext, ReconcileOutcome, Reconciler};
use crate::api::conditions::types::{BUILD_FAILED, FETCH_FAILED, STORAGE_OPERATION_FAILED};
use crate::api::meta::Artifact;
use crate::api::source_v1::{HelmChart, HelmChartStatus, HelmRepository};
use crate::controllers::events::{EventRecorder, EventType};
use crate::controllers::helmrepository::{self, repository_getter};
use crate::controllers::source_status::{self, Failure};
use crate::source::artifact::{ArtifactFileName, ArtifactStore};
use crate::source::helmrepo::{self, MAX_CHART_SIZE};
use ferroflux_helm::repo::IndexFile;

pub const KIND: &str = "HelmChart";
/// How many chart artifacts per HelmChart stay in storage.
const KEEP_ARTIFACTS: usize = 2;
/// Indexes kept parsed: the HelmCharts of one repository reconcile together and
/// each would otherwise read the same (possibly 20 MB) index.
const PARSED_INDEXES: usize = 8;

/// Reconciles HelmCharts into chart archives.
pub struct HelmChartReconciler {
    pub client: kube::Client,
    pub store: Arc<ArtifactStore>,
    pub events: EventRecorder,
    pub http: reqwest::Client,
    /// Parsed repository indexes by artifact digest, most recently used last.
    pub indexes: Mutex<VecDeque<(String, Arc<IndexFile>)>>,
}

/// What a build made: Flux's `chart.Build`.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    pub name: String,
    pub version: String,
    /// Merged into values.yaml, so the archive was packaged again.
    pub packaged: bool,
    pub values_files: Vec<String>,
}

impl Build {
    /// Flux's `Build.Summary()`.
    pub fn summary(&self) -> String {
        let action = if self.packaged { "packaged" } else { "pulled" };
        let mut text = format!(
            "{action} '{}' chart with version '{}'",
            self.name, self.version
        );
        if !self.values_files.is_empty() {
            text.push_str(&format!(
                " and merged values files [{}]",
                self.values_files.join(" ")
            ));
        }
        text
    }

    fn reason(&self) -> &'static str {
        if self.packaged {
            "ChartPackageSucceeded"
        } else {
            "ChartPullSucceeded"
        }
    }
}

/// A failure of the build, with Flux's summary prefix and reason.
fn build_error(kind: BuildErrorKind, message: impl std::fmt::Display) -> Failure {
    let (reason, summary, condition, stalled) = match kind {
        BuildErrorKind::Reference => (
            "InvalidChartReference",
            "invalid chart reference",
            FETCH_FAILED,
            true,
        ),
        BuildErrorKind::Pull => ("ChartPullError", "chart pull error", FETCH_FAILED, false),
        BuildErrorKind::Metadata => (
            "MetadataPatchError",
            "chart metadata patch error",
            BUILD_FAILED,
            true,
        ),
        BuildErrorKind::ValuesFiles => (
            "ValuesFilesError",
            "values files merge error",
            BUILD_FAILED,
            true,
        ),
        BuildErrorKind::Package => (
            "ChartPackageError",
            "chart package error",
            BUILD_FAILED,
            false,
        ),
    };
    Failure {
        condition,
        reason,
        message: format!("{summary}: {message}"),
        stalled,
    }
}

#[derive(Debug, Clone, Copy)]
enum BuildErrorKind {
    Reference,
    Pull,
    Metadata,
    ValuesFiles,
    Package,
}

/// Flux records errors that are not build errors (credentials, the repository URL)
/// as `FetchFailed` with reason `Unknown`, while the event keeps their own reason.
fn not_a_build_error(failure: &Failure) -> Failure {
    Failure {
        condition: FETCH_FAILED,
        reason: "Unknown",
        message: format!("unknown build error: {}", failure.message),
        stalled: failure.stalled,
    }
}

/// The values of a downloaded chart with `files` merged over them, as Flux's
/// `mergeChartValues`: `values.yaml` is the chart's own, other paths name files in
/// the chart; later files win. Returns the values and the files merged.
pub fn merge_values_files(
    chart: &ferroflux_helm::chart::Chart,
    files: &[String],
    ignore_missing: bool,
) -> Result<(BTreeMap<String, ferroflux_gotemplate::Value>, Vec<String>), Failure> {
    let mut merged = BTreeMap::new();
    let mut used = Vec::new();
    for path in files {
        let cleaned = helmrepo::clean_path(path);
        let values = if cleaned == "values.yaml" {
            chart.values.clone()
        } else {
            let Some(bytes) = chart.files.get(&cleaned) else {
                if ignore_missing {
                    continue;
                }
                return Err(build_error(
                    BuildErrorKind::ValuesFiles,
                    format!("failed to merge chart values: no values file found at path '{path}'"),
                ));
            };
            let map = ferroflux_helm::package::read_values(&String::from_utf8_lossy(bytes))
                .map_err(|e| {
                    build_error(
                        BuildErrorKind::ValuesFiles,
                        format!("failed to merge chart values: unmarshaling values from '{path}' failed: {e}"),
                    )
                })?;
            ferroflux_gotemplate::Value::map(map)
        };
        merged = ferroflux_helm::package::merge_maps(&merged, &values);
        used.push(path.clone());
    }
    Ok((merged, used))
}

/// Flux's heuristic: a pull error that reads like refused credentials.
fn looks_like_auth(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "401",
        "unauthorized",
        "authentication required",
        "tls",
        "unknown certificate authority",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// A stored chart and how it was made.
struct Stored {
    build: Build,
    artifact: crate::source::artifact::Artifact,
    url: String,
}

impl HelmChartReconciler {
    /// The repository's index from its artifact: parsed before, read from this
    /// replica's store, or downloaded from the replica that serves it.
    async fn index(&self, artifact: &Artifact) -> Result<Arc<IndexFile>, Failure> {
        if let Ok(cache) = self.indexes.lock() {
            if let Some((_, index)) = cache.iter().find(|(d, _)| *d == artifact.digest) {
                return Ok(index.clone());
            }
        }
        let pull_error = |e: String| {
            build_error(
                BuildErrorKind::Pull,
                format!("failed to get chart version for remote reference: {e}"),
            )
        };
        let local = crate::source::is_plain_relative(std::path::Path::new(&artifact.path))
            .then(|| self.store.root().join(&artifact.path));
        let bytes = match local {
            Some(path) if path.is_file() => tokio::fs::read(&path)
                .await
                .map_err(|e| pull_error(e.to_string()))?,
            _ => {
                let response = self
                    .http
                    .get(&artifact.url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| {
                        pull_error(format!("failed to download the repository index: {e}"))
                    })?;
                response
                    .bytes()
                    .await
                    .map_err(|e| pull_error(e.to_string()))?
                    .to_vec()
            }
        };
        let index = tokio::task::spawn_blocking(move || ferroflux_helm::repo::load_index(&bytes))
            .await
            .map_err(|e| pull_error(e.to_string()))?
            .map_err(|e| pull_error(format!("failed to load index: {e}")))?;
        let index = Arc::new(index);
        if let Ok(mut cache) = self.indexes.lock() {
            cache.push_back((artifact.digest.clone(), index.clone()));
            while cache.len() > PARSED_INDEXES {
                cache.pop_front();
            }
        }
        Ok(index)
    }

    /// The chart of `chart` from `repo`: built and stored, or the stored one when it
    /// is still the one the spec asks for.
    async fn build_from_repository(
        &self,
        chart: &HelmChart,
        repo: &HelmRepository,
        repo_artifact: &Artifact,
        key: &ObjectKey,
    ) -> Result<Stored, Failure> {
        let repo_url = helmrepository::checked_url(repo).map_err(|f| not_a_build_error(&f))?;
        let getter = repository_getter(&self.client, repo, &key.namespace)
            .await
            .map_err(|f| not_a_build_error(&f))?;
        helmrepo::check_chart_name(&chart.spec.chart)
            .map_err(|e| build_error(BuildErrorKind::Reference, e))?;
        let index = self.index(repo_artifact).await?;
        let wanted = chart.spec.version.as_deref().unwrap_or("*");
        let version =
            helmrepo::pick_chart_version(&index, &chart.spec.chart, wanted).map_err(|e| {
                build_error(
                    BuildErrorKind::Reference,
                    format!("failed to get chart version for remote reference: {e}"),
                )
            })?;
        let values_files = helmrepo::effective_values_files(
            chart.spec.values_files.as_deref().unwrap_or_default(),
        );
        let generation = chart.metadata.generation.unwrap_or_default();
        let result_version = if values_files.is_empty() {
            version.version.to_string()
        } else {
            helmrepo::with_metadata(&version.version, &generation.to_string())
                .map_err(|e| build_error(BuildErrorKind::Metadata, e))?
        };
        let status = chart.status.clone().unwrap_or_default();
        let name = version.name.to_string();

        // The stored chart is this version and nothing in the spec changed: no download.
        let force = chart.metadata.generation != status.observed_generation;
        if let Some(current) = status.artifact.as_ref().filter(|a| {
            !force
                && a.revision == result_version
                && status.observed_chart_name.as_deref() == Some(name.as_str())
        }) {
            if let Some(artifact) = source_status::still_stored(&self.store, current) {
                let build = Build {
                    name,
                    version: result_version,
                    packaged: !values_files.is_empty(),
                    values_files: status
                        .observed_values_files
                        .clone()
                        .unwrap_or_else(|| values_files.to_vec()),
                };
                let url = self.link(key, &artifact)?;
                return Ok(Stored {
                    build,
                    artifact,
                    url,
                });
            }
        }

        let chart_url = version.urls.first().ok_or_else(|| {
            build_error(
                BuildErrorKind::Pull,
                format!("failed to download chart for remote reference: chart '{name}' has no downloadable URLs"),
            )
        })?;
        let download_error = |e: String| {
            build_error(
                BuildErrorKind::Pull,
                format!("failed to download chart for remote reference: {e}"),
            )
        };
        let resolved = ferroflux_helm::repo::resolve_reference_url(&repo_url, chart_url)
            .map_err(|e| download_error(e.to_string()))?;
        let bytes = getter
            .get(&resolved, "chart", MAX_CHART_SIZE)
            .await
            .map_err(|e| match e {
                crate::source::http::HttpError::TooLarge { .. } => build_error(
                    BuildErrorKind::Pull,
                    format!("failed to load chart metadata from written chart: size of chart '{name}-{}.tgz' exceeds '{MAX_CHART_SIZE}' bytes limit", version.version),
                ),
                other => download_error(other.to_string()),
            })?;

        let ignore_missing = chart.spec.ignore_missing_values_files == Some(true);
        let values_files = values_files.to_vec();
        let (build, archive) = tokio::task::spawn_blocking(move || {
            let loaded = ferroflux_helm::chart::load_archive(&bytes);
            if values_files.is_empty() {
                loaded.map_err(|e| {
                    build_error(
                        BuildErrorKind::Pull,
                        format!("failed to load chart metadata from written chart: {e}"),
                    )
                })?;
                let build = Build {
                    name,
                    version: result_version,
                    packaged: false,
                    values_files: Vec::new(),
                };
                return Ok((build, bytes));
            }
            let loaded = loaded.map_err(|e| {
                build_error(
                    BuildErrorKind::Package,
                    format!("failed to load downloaded chart: {e}"),
                )
            })?;
            let (merged, used) = merge_values_files(&loaded, &values_files, ignore_missing)?;
            let archive =
                ferroflux_helm::package::repackage(&bytes, &result_version, Some(&merged))
                    .map_err(|e| build_error(BuildErrorKind::Package, e))?;
            let build = Build {
                name,
                version: result_version,
                packaged: true,
                values_files: used,
            };
            Ok((build, archive))
        })
        .await
        .map_err(|e| build_error(BuildErrorKind::Package, e))??;

        let file_name = format!("{}-{}.tgz", build.name, build.version);
        let artifact = self
            .store
            .store_bytes(
                KIND,
                &key.namespace,
                &key.name,
                &build.version,
                ArtifactFileName::Fixed(&file_name),
                &archive,
            )
            .map_err(|e| {
                Failure::retry(
                    STORAGE_OPERATION_FAILED,
                    "ArchiveOperationFailed",
                    format!("unable to copy Helm chart to storage: {e}"),
                )
            })?;
        // Old artifacts going is housekeeping; a failure must not fail the reconcile.
        let _ = self.store.gc(
            KIND,
            &key.namespace,
            &key.name,
            KEEP_ARTIFACTS,
            &artifact.path,
        );
        let url = self.link(key, &artifact)?;
        Ok(Stored {
            build,
            artifact,
            url,
        })
    }

    fn link(
        &self,
        key: &ObjectKey,
        artifact: &crate::source::artifact::Artifact,
    ) -> Result<String, Failure> {
        self.store
            .link(KIND, &key.namespace, &key.name, "latest.tar.gz", artifact)
            .map_err(|e| {
                Failure::retry(
                    STORAGE_OPERATION_FAILED,
                    "SymlinkUpdateFailed",
                    format!("failed to update status URL symlink: {e}"),
                )
            })
    }

    /// The HelmRepository and its artifact, or why the chart cannot be built yet.
    async fn source(
        &self,
        chart: &HelmChart,
        namespace: &str,
    ) -> Result<(HelmRepository, Artifact), Failure> {
        let source = &chart.spec.source_ref;
        match source.kind.as_str() {
            "HelmRepository" => {}
            "GitRepository" | "Bucket" => {
                return Err(Failure::retry(
                    FETCH_FAILED,
                    "SourceUnavailable",
                    format!("charts from a {} source are not supported yet", source.kind),
                ))
            }
            other => {
                return Err(Failure::stalled(
                    FETCH_FAILED,
                    "SourceUnavailable",
                    format!("failed to get source: unsupported source kind '{other}', must be one of: [HelmRepository GitRepository Bucket]"),
                ))
            }
        }
        let api: Api<HelmRepository> = Api::namespaced(self.client.clone(), namespace);
        let repo = api.get(&source.name).await.map_err(|e| {
            let e = match e {
                kube::Error::Api(status) => status.message,
                other => other.to_string(),
            };
            Failure::retry(
                FETCH_FAILED,
                "SourceUnavailable",
                format!("failed to get source: {e}"),
            )
        })?;
        if helmrepository::is_oci(&repo) {
            return Err(Failure::retry(
                FETCH_FAILED,
                "SourceUnavailable",
                format!(
                    "charts from the OCI HelmRepository '{}' are not supported yet",
                    source.name
                ),
            ));
        }
        let artifact = repo
            .status
            .as_ref()
            .and_then(|s| s.artifact.clone())
            .ok_or_else(|| {
                Failure::retry(
                    FETCH_FAILED,
                    "NoSourceArtifact",
                    format!(
                        "no artifact available for HelmRepository source '{}'",
                        source.name
                    ),
                )
            })?;
        Ok((repo, artifact))
    }

    async fn write_status(
        &self,
        key: &ObjectKey,
        status: &HelmChartStatus,
    ) -> Result<(), crate::actors::ReconcileError> {
        let mut value = serde_json::to_value(status).unwrap_or_default();
        // observedValuesFiles comes and goes with ignoreMissingValuesFiles: null clears it.
        if status.observed_values_files.is_none() {
            value["observedValuesFiles"] = Value::Null;
        }
        source_status::patch_status::<HelmChart>(&self.client, key, value).await
    }
}

impl Reconciler for HelmChartReconciler {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// The chart's source: its new artifacts (a new index) rebuild the chart.
    fn dependencies(&self, object: &Value) -> Vec<ObjectKey> {
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object
            .pointer("/spec/sourceRef/kind")
            .and_then(Value::as_str);
        let name = object
            .pointer("/spec/sourceRef/name")
            .and_then(Value::as_str);
        match (kind, name) {
            (Some(kind), Some(name)) => vec![ObjectKey::new(kind, namespace, name)],
            _ => Vec::new(),
        }
    }

    async fn reconcile(&self, object: &Value, ctx: &ReconcileContext) -> ReconcileOutcome {
        let key = ctx.key.clone();
        let chart: HelmChart = match serde_json::from_value(object.clone()) {
            Ok(c) => c,
            Err(e) => {
                return Failure::stalled(FETCH_FAILED, "InvalidSpec", e.to_string()).outcome()
            }
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return source_status::remove_artifacts(&self.store, &key);
        }
        if chart.spec.suspend == Some(true) {
            return ReconcileOutcome::Ready {
                requeue_after: None,
            };
        }
        let generation = chart.metadata.generation;
        let before = chart.status.clone().unwrap_or_default();
        let mut status = before.clone();
        status.last_handled_reconcile_at =
            source_status::requested_at(object).or(status.last_handled_reconcile_at);
        let mut conds = status.conditions.take().unwrap_or_default();
        let was_failing = source_status::was_failing(&conds);

        let result = match self.source(&chart, &key.namespace).await {
            Ok((repo, repo_artifact)) => {
                status.observed_source_artifact_revision = Some(repo_artifact.revision.clone());
                self.build_from_repository(&chart, &repo, &repo_artifact, &key)
                    .await
                    .map_err(|failure| {
                        if failure.condition != STORAGE_OPERATION_FAILED
                            && looks_like_auth(&failure.message)
                        {
                            Failure::retry(
                                FETCH_FAILED,
                                "AuthenticationFailed",
                                format!(
                                    "failed to authenticate with the Helm repository: {}",
                                    failure.message
                                ),
                            )
                        } else {
                            failure
                        }
                    })
            }
            Err(failure) => Err(failure),
        };
        let (outcome, event) = match result {
            Err(failure) => {
                // The condition of an error that is not a build error reads "Unknown".
                let recorded =
                    if ["AuthenticationFailed", "URLInvalid", "Failed"].contains(&failure.reason) {
                        not_a_build_error(&failure)
                    } else {
                        failure.clone()
                    };
                source_status::record_failure(&mut conds, &recorded, generation);
                if failure.stalled {
                    status.observed_generation = generation;
                }
                let event = (EventType::Warning, failure.reason, failure.message.clone());
                (failure.outcome(), Some(event))
            }
            Ok(stored) => {
                let artifact = source_status::status_artifact(&stored.artifact);
                let summary = stored.build.summary();
                let reason = stored.build.reason();
                source_status::record_artifact(&mut conds, reason, &summary, generation);
                let changed = before.artifact.as_ref().map(|a| &a.digest) != Some(&artifact.digest);
                let moved = before.artifact.as_ref().map(|a| &a.url) != Some(&artifact.url);
                let event =
                    (changed || was_failing).then_some((EventType::Normal, reason, summary));
                if changed || moved {
                    ctx.publish_artifact_changed();
                }
                status.artifact = Some(artifact);
                status.url = Some(stored.url);
                status.observed_chart_name = Some(stored.build.name.clone());
                status.observed_values_files = (chart.spec.ignore_missing_values_files
                    == Some(true))
                .then(|| stored.build.values_files.clone());
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
        if status != before {
            if let Err(e) = self.write_status(&key, &status).await {
                return ReconcileOutcome::Transient(e);
            }
        }
        if let Some((kind, reason, message)) = event {
            self.events.record(object, kind, reason, &message).await;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_as_flux_writes_them() {
        let mut build = Build {
            name: "podinfo".into(),
            version: "6.5.0".into(),
            packaged: false,
            values_files: vec![],
        };
        assert_eq!(
            build.summary(),
            "pulled 'podinfo' chart with version '6.5.0'"
        );
        assert_eq!(build.reason(), "ChartPullSucceeded");
        build.packaged = true;
        build.version = "6.5.0+2".into();
        build.values_files = vec!["values.yaml".into(), "values-prod.yaml".into()];
        assert_eq!(
            build.summary(),
            "packaged 'podinfo' chart with version '6.5.0+2' and merged values files [values.yaml values-prod.yaml]"
        );
        assert_eq!(build.reason(), "ChartPackageSucceeded");
    }

    fn chart_with(files: &[(&str, &str)]) -> ferroflux_helm::chart::Chart {
        let mut all = vec![
            (
                "Chart.yaml".to_owned(),
                b"apiVersion: v2\nname: demo\nversion: 1.0.0\n".to_vec(),
            ),
            (
                "values.yaml".to_owned(),
                b"replicas: 1\nimage: {tag: a}\n".to_vec(),
            ),
        ];
        all.extend(
            files
                .iter()
                .map(|(n, c)| ((*n).to_owned(), c.as_bytes().to_vec())),
        );
        let archive = ferroflux_helm::package::write_archive("demo", &all).expect("archive");
        ferroflux_helm::chart::load_archive(&archive).expect("chart")
    }

    #[test]
    fn values_files_merge_over_the_chart_values_in_order() {
        let chart = chart_with(&[
            ("prod.yaml", "image: {tag: b}\n"),
            ("big.yaml", "replicas: 5\n"),
        ]);
        let files = vec![
            "values.yaml".to_owned(),
            "./prod.yaml".to_owned(),
            "big.yaml".to_owned(),
        ];
        let (merged, used) = merge_values_files(&chart, &files, false).expect("merged");
        let text = ferroflux_helm::goyaml::marshal(&ferroflux_gotemplate::Value::map(merged))
            .expect("yaml");
        assert_eq!(text, "image:\n  tag: b\nreplicas: 5\n");
        assert_eq!(used, files);
    }

    #[test]
    fn a_missing_values_file_stalls_unless_ignored() {
        let chart = chart_with(&[]);
        let files = vec!["values.yaml".to_owned(), "missing.yaml".to_owned()];
        let err = merge_values_files(&chart, &files, false).expect_err("missing");
        assert_eq!(err.reason, "ValuesFilesError");
        assert!(err.stalled);
        assert_eq!(
            err.message,
            "values files merge error: failed to merge chart values: no values file found at path 'missing.yaml'"
        );
        let (_, used) = merge_values_files(&chart, &files, true).expect("ignored");
        assert_eq!(used, vec!["values.yaml".to_owned()]);
    }

    #[test]
    fn errors_that_are_not_build_errors_read_unknown() {
        let auth = Failure::retry(
            FETCH_FAILED,
            "AuthenticationFailed",
            "failed to get authentication secret 'ns/x': not found",
        );
        let recorded = not_a_build_error(&auth);
        assert_eq!(recorded.reason, "Unknown");
        assert_eq!(
            recorded.message,
            "unknown build error: failed to get authentication secret 'ns/x': not found"
        );
        assert!(looks_like_auth(
            "failed to fetch http://h/c.tgz : 401 Unauthorized"
        ));
        assert!(!looks_like_auth(
            "failed to fetch http://h/c.tgz : 404 Not Found"
        ));
    }
}
