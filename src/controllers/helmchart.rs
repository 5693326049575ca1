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
use crate::api::source_v1::{Bucket, GitRepository, HelmChart, HelmChartStatus, HelmRepository};
use crate::controllers::events::{EventRecorder, EventType};
use crate::controllers::helmrepository::{self, repository_getter};
use crate::controllers::source_status::{self, Failure};
use crate::source::artifact::{ArtifactFileName, ArtifactStore};
use crate::source::helmrepo::{self, MAX_CHART_SIZE};
use crate::source::oci;
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
        BuildErrorKind::Dependency => (
            "DependencyBuildError",
            "dependency build error",
            BUILD_FAILED,
            false,
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
    Dependency,
    Package,
}

/// What a chart pulled from a repository becomes: with values files, packaged again
/// as `<version>+<generation>`; without, the archive as it is.
fn plan_remote(chart: &HelmChart, name: &str, version: &str) -> Result<Build, Failure> {
    let values_files =
        helmrepo::effective_values_files(chart.spec.values_files.as_deref().unwrap_or_default());
    let generation = chart.metadata.generation.unwrap_or_default();
    let result_version = if values_files.is_empty() {
        version.to_owned()
    } else {
        helmrepo::with_metadata(version, &generation.to_string())
            .map_err(|e| build_error(BuildErrorKind::Metadata, e))?
    };
    Ok(Build {
        name: name.to_owned(),
        version: result_version,
        packaged: !values_files.is_empty(),
        values_files: values_files.to_vec(),
    })
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

/// The downloaded chart against the index entry's `digest` (the sha256 Helm's
/// `repo index` records). Flux does not check it; ferroflux does, so a chart
/// changed on the server after indexing is refused. No digest, no check.
fn verify_digest(expected: &str, bytes: &[u8]) -> Result<(), String> {
    use sha2::Digest as _;
    let expected = expected.trim();
    if expected.is_empty() {
        return Ok(());
    }
    let actual = crate::source::artifact::to_hex(&sha2::Sha256::digest(bytes));
    let wanted = expected.strip_prefix("sha256:").unwrap_or(expected);
    if wanted.eq_ignore_ascii_case(&actual) {
        Ok(())
    } else {
        Err(format!(
            "chart digest mismatch: the index says '{expected}', the download is 'sha256:{actual}'"
        ))
    }
}

/// Go's words for the common IO errors (`no such file or directory`).
fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// One declared dependency of a chart.
#[derive(Debug, Clone, PartialEq)]
struct Dependency {
    name: String,
    version: String,
    repository: String,
    alias: Option<String>,
}

/// The dependencies a chart wants: Chart.lock's when there is one, else those of
/// Chart.yaml (or requirements.yaml for apiVersion v1 charts).
fn declared_dependencies(
    chart: &ferroflux_helm::chart::Chart,
    files: &[(String, Vec<u8>)],
) -> Vec<Dependency> {
    use ferroflux_gotemplate::Value as V;
    let from_yaml = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, bytes)| {
                ferroflux_helm::yaml::unmarshal(&String::from_utf8_lossy(bytes)).ok()
            })
    };
    let list_of = |document: &V| match document {
        V::Map(map) => map.get("dependencies"),
        _ => None,
    };
    let declared = from_yaml("Chart.lock")
        .as_ref()
        .and_then(list_of)
        .or_else(|| list_of(&chart.metadata))
        .or_else(|| from_yaml("requirements.yaml").as_ref().and_then(list_of));
    let Some(V::List(items)) = declared else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let V::Map(map) = item else { return None };
            let text = |key: &str| map.get(key).and_then(|v| v.as_str().map(str::to_owned));
            Some(Dependency {
                name: text("name")?,
                version: text("version").unwrap_or_default(),
                repository: text("repository").unwrap_or_default(),
                alias: text("alias").filter(|a| !a.is_empty()),
            })
        })
        .collect()
}

/// A dependency from the source itself (`repository: ""` is `charts/<name>`,
/// `file://<path>` relative to the chart), packaged; it must stay inside the source
/// and satisfy the version constraint.
fn local_dependency(
    dep: &Dependency,
    root: &std::path::Path,
    chart_path: &std::path::Path,
) -> Result<(String, Vec<u8>), String> {
    let relative_to_chart = match dep.repository.strip_prefix("file://") {
        Some(path) => path.to_owned(),
        None => format!("charts/{}", dep.name),
    };
    let chart_dir = chart_path.strip_prefix(root).unwrap_or(chart_path);
    let joined = helmrepo::clean_path(&format!("{}/{relative_to_chart}", chart_dir.display()));
    let not_found = || {
        format!(
            "no chart found at '{}' (reference '{}')",
            joined, dep.repository
        )
    };
    if joined.starts_with('/') || joined == ".." || joined.starts_with("../") {
        return Err(not_found());
    }
    let path = root.join(&joined);
    if !path.join("Chart.yaml").is_file() {
        return Err(not_found());
    }
    let files = ferroflux_helm::chart::read_dir_files(&path)
        .map_err(|e| format!("failed to load chart from '{joined}': {e}"))?;
    let loaded = ferroflux_helm::chart::load_files(files.clone())
        .map_err(|e| format!("failed to load chart from '{joined}': {e}"))?;
    let constraint = if dep.version.is_empty() {
        "*"
    } else {
        dep.version.as_str()
    };
    let constraint = ferroflux_gotemplate::semver::Constraints::parse(constraint)
        .map_err(|e| format!("invalid version/constraint format '{}': {e}", dep.version))?;
    let version = ferroflux_gotemplate::semver::Version::parse(&loaded.version()).map_err(|e| {
        format!(
            "invalid version/constraint format '{}': {e}",
            loaded.version()
        )
    })?;
    if !constraint.check(&version) {
        return Err(format!(
            "can't get a valid version for constraint '{}'",
            dep.version
        ));
    }
    let archive = ferroflux_helm::package::write_archive(&loaded.name(), &files)
        .map_err(|e| format!("failed to package chart from '{joined}': {e}"))?;
    Ok((loaded.version(), archive))
}

/// Values files of a chart from a Git or Bucket source: paths relative to the
/// source's root (not the chart's), merged in order, later files winning.
fn merge_file_values(
    root: &std::path::Path,
    files: &[String],
    ignore_missing: bool,
) -> Result<(BTreeMap<String, ferroflux_gotemplate::Value>, Vec<String>), Failure> {
    let mut merged = BTreeMap::new();
    let mut used = Vec::new();
    for path in files {
        let cleaned = helmrepo::clean_path(&format!("/{path}"));
        let file = root.join(cleaned.trim_start_matches('/'));
        let regular = std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file());
        if !regular {
            if ignore_missing && !file.exists() {
                continue;
            }
            return Err(build_error(
                BuildErrorKind::ValuesFiles,
                format!("failed to merge chart values: no values file found at path '{cleaned}' (reference '{path}')"),
            ));
        }
        let text = std::fs::read_to_string(&file).map_err(|e| {
            build_error(
                BuildErrorKind::ValuesFiles,
                format!(
                    "failed to merge chart values: could not read values from file '{path}': {e}"
                ),
            )
        })?;
        let values = ferroflux_helm::package::read_values(&text).map_err(|e| {
            build_error(
                BuildErrorKind::ValuesFiles,
                format!(
                    "failed to merge chart values: unmarshaling values from '{path}' failed: {e}"
                ),
            )
        })?;
        merged =
            ferroflux_helm::package::merge_maps(&merged, &ferroflux_gotemplate::Value::map(values));
        used.push(path.clone());
    }
    Ok((merged, used))
}

/// A build error that reads like refused credentials becomes AuthenticationFailed.
fn auth_heuristic(failure: Failure) -> Failure {
    if failure.condition != STORAGE_OPERATION_FAILED
        && failure.reason != "Unknown"
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

/// Where a chart comes from.
enum Source {
    Repository(Box<HelmRepository>, Artifact),
    /// A GitRepository's (or Bucket's) tarball with the chart at `spec.chart`.
    Tarball(Artifact),
    /// An OCI registry: `<url>/<spec.chart>`.
    Oci(Box<HelmRepository>),
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
        let bytes = source_status::read_artifact(&self.store, &self.http, artifact)
            .await
            .map_err(pull_error)?;
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
        let name = version.name.to_string();
        let expected = plan_remote(chart, &name, &version.version)?;
        if let Some(stored) = self.cached(chart, key, expected.clone()) {
            return stored;
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
        verify_digest(&version.digest, &bytes).map_err(download_error)?;

        self.package_remote(chart, key, expected, bytes).await
    }

    /// A downloaded chart archive made into the build `expected` plans: stored as it
    /// is, or with the values files merged into it and packaged again.
    async fn package_remote(
        &self,
        chart: &HelmChart,
        key: &ObjectKey,
        expected: Build,
        bytes: Vec<u8>,
    ) -> Result<Stored, Failure> {
        let ignore_missing = chart.spec.ignore_missing_values_files == Some(true);
        let (build, archive) = tokio::task::spawn_blocking(move || {
            let loaded = ferroflux_helm::chart::load_archive(&bytes);
            if !expected.packaged {
                loaded.map_err(|e| {
                    build_error(
                        BuildErrorKind::Pull,
                        format!("failed to load chart metadata from written chart: {e}"),
                    )
                })?;
                return Ok((expected, bytes));
            }
            let loaded = loaded.map_err(|e| {
                build_error(
                    BuildErrorKind::Package,
                    format!("failed to load downloaded chart: {e}"),
                )
            })?;
            let (merged, used) =
                merge_values_files(&loaded, &expected.values_files, ignore_missing)?;
            let archive =
                ferroflux_helm::package::repackage(&bytes, &expected.version, Some(&merged))
                    .map_err(|e| build_error(BuildErrorKind::Package, e))?;
            let build = Build {
                values_files: used,
                ..expected
            };
            Ok((build, archive))
        })
        .await
        .map_err(|e| build_error(BuildErrorKind::Package, e))??;
        self.store_chart(key, build, &archive)
    }

    /// A chart from an OCI HelmRepository: its tags, the version picked by Flux's
    /// rule, the chart layer pulled and checked against its digest.
    async fn build_from_oci(
        &self,
        chart: &HelmChart,
        repo: &HelmRepository,
        key: &ObjectKey,
    ) -> Result<Stored, Failure> {
        let url = helmrepo::normalize_url(&repo.spec.url).map_err(|e| {
            not_a_build_error(&Failure::stalled(
                FETCH_FAILED,
                "URLInvalid",
                format!("invalid Helm repository URL: {e}"),
            ))
        })?;
        let auth_failed = |message: String| {
            not_a_build_error(&Failure::retry(
                FETCH_FAILED,
                "AuthenticationFailed",
                message,
            ))
        };
        let (host, _) = oci::split_url(&url).map_err(|e| {
            not_a_build_error(&Failure::stalled(FETCH_FAILED, "URLInvalid", e.to_string()))
        })?;
        let auth = match &repo.spec.secret_ref {
            None => None,
            Some(reference) => {
                let data = helmrepository::secret_data(
                    &self.client,
                    &key.namespace,
                    &reference.name,
                    "authentication",
                )
                .await
                .map_err(|f| not_a_build_error(&f))?;
                let secret = format!("{}/{}", key.namespace, reference.name);
                oci::auth_from_secret(&secret, &data, &host)
                    .map_err(|e| auth_failed(e.to_string()))?
            }
        };
        let timeout = helmrepository::timeout_of(repo).map_err(|f| not_a_build_error(&f))?;
        let client = oci::OciClient::new(&url, repo.spec.insecure == Some(true), auth, timeout)
            .map_err(|e| auth_failed(e.to_string()))?;
        helmrepo::check_chart_name(&chart.spec.chart)
            .map_err(|e| build_error(BuildErrorKind::Reference, e))?;
        let name = chart
            .spec
            .chart
            .rsplit('/')
            .next()
            .unwrap_or(&chart.spec.chart)
            .to_owned();
        let wanted = chart.spec.version.as_deref().unwrap_or("*");
        let reference_error = |e: String| {
            build_error(
                BuildErrorKind::Reference,
                format!("failed to get chart version for remote reference: {e}"),
            )
        };
        // An exact version needs no tag list (Flux asks the registry for it directly).
        let version = match helmrepo::parse_strict_version(wanted) {
            Some(_) => wanted.to_owned(),
            None => {
                let tags = client.tags(&chart.spec.chart).await.map_err(|e| {
                    reference_error(format!(
                        "could not get tags for \"{}\": {e}",
                        chart.spec.chart
                    ))
                })?;
                oci::pick_version(&tags, if wanted == "*" { "" } else { wanted })
                    .map_err(reference_error)?
            }
        };
        let expected = plan_remote(chart, &name, &version)?;
        if let Some(stored) = self.cached(chart, key, expected.clone()) {
            return stored;
        }
        let bytes = client
            .pull(&chart.spec.chart, &version, MAX_CHART_SIZE)
            .await
            .map_err(|e| {
                build_error(
                    BuildErrorKind::Pull,
                    format!("failed to download chart for remote reference: {e}"),
                )
            })?;
        self.package_remote(chart, key, expected, bytes).await
    }

    /// The chart at `spec.chart` in a GitRepository's artifact: packaged (a chart
    /// directory always is, with its missing dependencies added), or a `.tgz` there
    /// stored as it is when nothing changes it.
    async fn build_from_tarball(
        &self,
        chart: &HelmChart,
        artifact: &Artifact,
        key: &ObjectKey,
    ) -> Result<Stored, Failure> {
        let reference = chart.spec.chart.as_str();
        if reference.is_empty() {
            return Err(build_error(
                BuildErrorKind::Reference,
                "no path set for local chart reference",
            ));
        }
        let relative = helmrepo::clean_path(reference);
        if relative.starts_with('/') {
            return Err(build_error(
                BuildErrorKind::Reference,
                "local chart reference path is expected to be relative",
            ));
        }
        if relative == ".." || relative.starts_with("../") {
            return Err(build_error(
                BuildErrorKind::Reference,
                format!("local chart reference path '{reference}' leaves the source"),
            ));
        }
        let tarball = source_status::read_artifact(&self.store, &self.http, artifact)
            .await
            .map_err(|e| {
                Failure::retry(
                    FETCH_FAILED,
                    "ReadOperationFailed",
                    format!("failed to open source artifact: {e}"),
                )
            })?;
        let workdir = tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            crate::source::artifact::extract_tar_gz(tarball.as_slice(), dir.path())
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(dir)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|e| {
            Failure::retry(FETCH_FAILED, "Failed", format!("artifact untar error: {e}"))
        })?;
        let root = workdir.path().to_path_buf();
        let chart_path = root.join(&relative);
        let is_dir = chart_path.is_dir();
        let meta = std::fs::symlink_metadata(&chart_path).map_err(|e| {
            build_error(
                BuildErrorKind::Reference,
                format!("stat {}: {}", chart_path.display(), io_words(&e)),
            )
        })?;
        if meta.file_type().is_symlink() {
            return Err(build_error(
                BuildErrorKind::Reference,
                format!("local chart reference path '{reference}' is a symlink"),
            ));
        }
        // A chart directory is read file by file; a packaged chart stays as it is
        // unless something changes it.
        let (files, archive) = if is_dir {
            let files = ferroflux_helm::chart::read_dir_files(&chart_path).map_err(|e| {
                build_error(
                    BuildErrorKind::Reference,
                    format!("cannot load 'Chart.yaml': {e}"),
                )
            })?;
            (files, None)
        } else {
            let bytes = std::fs::read(&chart_path)
                .map_err(|e| build_error(BuildErrorKind::Reference, e))?;
            let files = ferroflux_helm::chart::read_archive(&bytes).map_err(|e| {
                build_error(
                    BuildErrorKind::Reference,
                    format!("cannot load 'Chart.yaml': {e}"),
                )
            })?;
            (files, Some(bytes))
        };
        let loaded = ferroflux_helm::chart::load_files(files.clone()).map_err(|e| {
            build_error(
                BuildErrorKind::Reference,
                format!("cannot load 'Chart.yaml': {e}"),
            )
        })?;

        let values_files = helmrepo::effective_values_files(
            chart.spec.values_files.as_deref().unwrap_or_default(),
        )
        .to_vec();
        let strategy_revision = (chart.spec.reconcile_strategy.as_deref() == Some("Revision"))
            .then_some(artifact.revision.as_str());
        let metadata = helmrepo::local_version_metadata(
            strategy_revision,
            !values_files.is_empty(),
            chart.metadata.generation.unwrap_or_default(),
        );
        let version = if metadata.is_empty() {
            loaded.version()
        } else {
            helmrepo::with_metadata(&loaded.version(), &metadata)
                .map_err(|e| build_error(BuildErrorKind::Metadata, e))?
        };
        let packaged = is_dir || !metadata.is_empty() || !values_files.is_empty();
        let expected = Build {
            name: loaded.name(),
            version,
            packaged,
            values_files: values_files.clone(),
        };
        if let Some(stored) = self.cached(chart, key, expected.clone()) {
            return stored;
        }
        if let (false, Some(archive)) = (packaged, &archive) {
            return self.store_chart(key, expected, archive);
        }
        let ignore_missing = chart.spec.ignore_missing_values_files == Some(true);
        let (values, used) = merge_file_values(&root, &values_files, ignore_missing)?;
        let mut files = files;
        if is_dir {
            let added = self
                .missing_dependencies(&loaded, &files, &root, &chart_path, &key.namespace)
                .await?;
            files.extend(added);
        }
        let values = (!values_files.is_empty()).then_some(values);
        let build = Build {
            values_files: used,
            ..expected
        };
        let version = build.version.clone();
        let archive = tokio::task::spawn_blocking(move || {
            ferroflux_helm::package::package_files(files, &version, values.as_ref())
        })
        .await
        .map_err(|e| build_error(BuildErrorKind::Package, e))?
        .map_err(|e| build_error(BuildErrorKind::Package, e))?;
        drop(workdir);
        self.store_chart(key, build, &archive)
    }

    /// The dependencies a chart directory declares (Chart.lock's, else Chart.yaml's or
    /// requirements.yaml's) but does not vendor under `charts/`, fetched as Flux's
    /// dependency manager does: local ones from the source, remote ones from the
    /// HelmRepository of the namespace with that URL (its credentials and stored
    /// index), else from the URL without credentials. Each becomes
    /// `charts/<name>-<version>.tgz`.
    async fn missing_dependencies(
        &self,
        loaded: &ferroflux_helm::chart::Chart,
        files: &[(String, Vec<u8>)],
        root: &std::path::Path,
        chart_path: &std::path::Path,
        namespace: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, Failure> {
        let wanted = declared_dependencies(loaded, files);
        if wanted.len() == loaded.dependencies.len() {
            return Ok(Vec::new());
        }
        let existing: Vec<String> = loaded.dependencies.iter().map(|d| d.name()).collect();
        let mut added = Vec::new();
        for dep in wanted.iter().filter(|d| {
            !existing.contains(&d.name) && !d.alias.as_ref().is_some_and(|a| existing.contains(a))
        }) {
            let dependency_error = |local: bool, e: String| {
                let which = if local { "local" } else { "remote" };
                build_error(
                    BuildErrorKind::Dependency,
                    format!("failed to add {which} dependency '{}': {e}", dep.name),
                )
            };
            let (version, archive) = if dep.repository.is_empty()
                || dep.repository.starts_with("file://")
            {
                local_dependency(dep, root, chart_path).map_err(|e| dependency_error(true, e))?
            } else {
                self.remote_dependency(dep, namespace)
                    .await
                    .map_err(|e| dependency_error(false, e))?
            };
            added.push((format!("charts/{}-{version}.tgz", dep.name), archive));
        }
        Ok(added)
    }

    /// A dependency from a chart repository: its version picked and downloaded.
    async fn remote_dependency(
        &self,
        dep: &Dependency,
        namespace: &str,
    ) -> Result<(String, Vec<u8>), String> {
        if let Some(alias) = dep.repository.strip_prefix('@') {
            return Err(format!(
                "aliased repository dependency is not supported: @{alias}"
            ));
        }
        if !(dep.repository.starts_with("http://") || dep.repository.starts_with("https://")) {
            return Err(format!(
                "invalid dependency repository URL: {}",
                dep.repository
            ));
        }
        let url = helmrepo::normalize_url(&dep.repository)?;
        let repositories: Api<HelmRepository> = Api::namespaced(self.client.clone(), namespace);
        let listed = repositories
            .list(&Default::default())
            .await
            .map_err(|e| format!("failed to get chart repository for URL '{url}': {e}"))?;
        let known = listed.items.into_iter().find(|r| {
            !helmrepository::is_oci(r)
                && helmrepo::normalize_url(&r.spec.url).ok().as_deref() == Some(url.as_str())
        });
        let repo_failure = |f: Failure| {
            format!(
                "failed to get chart repository for URL '{url}': {}",
                f.message
            )
        };
        let (getter, index) = match known {
            Some(repo) => {
                let getter = repository_getter(&self.client, &repo, namespace)
                    .await
                    .map_err(repo_failure)?;
                let artifact = repo.status.and_then(|s| s.artifact).ok_or_else(|| {
                    format!("failed to get chart repository for URL '{url}': no artifact available")
                })?;
                let index = self.index(&artifact).await.map_err(repo_failure)?;
                (getter, index)
            }
            None => {
                let getter = crate::source::http::HttpGetter::new(
                    &url,
                    crate::source::http::HttpOptions {
                        auth: None,
                        tls: Default::default(),
                        timeout: std::time::Duration::from_secs(60),
                        pass_credentials: false,
                    },
                )
                .map_err(|e| e.to_string())?;
                let index_url = helmrepo::index_url(&url)?;
                let raw = getter
                    .get(&index_url, "index", helmrepo::MAX_INDEX_SIZE)
                    .await
                    .map_err(|e| format!("failed to get chart repository for URL '{url}': {e}"))?;
                let index = ferroflux_helm::repo::load_index(&raw)
                    .map_err(|e| format!("failed to get chart repository for URL '{url}': {e}"))?;
                (getter, Arc::new(index))
            }
        };
        let version =
            helmrepo::pick_chart_version(&index, &dep.name, &dep.version).map_err(|e| {
                format!(
                    "failed to get chart '{}' version '{}' from '{}': {e}",
                    dep.name, dep.version, dep.repository
                )
            })?;
        let download_failed = |e: String| {
            format!(
                "chart download of version '{}' failed: {e}",
                version.version
            )
        };
        let chart_url = version.urls.first().ok_or_else(|| {
            download_failed(format!("chart '{}' has no downloadable URLs", dep.name))
        })?;
        let resolved = ferroflux_helm::repo::resolve_reference_url(&url, chart_url)
            .map_err(|e| download_failed(e.to_string()))?;
        let bytes = getter
            .get(&resolved, "chart", MAX_CHART_SIZE)
            .await
            .map_err(|e| download_failed(e.to_string()))?;
        verify_digest(&version.digest, &bytes).map_err(download_failed)?;
        ferroflux_helm::chart::load_archive(&bytes).map_err(|e| {
            format!(
                "failed to load downloaded archive of version '{}': {e}",
                version.version
            )
        })?;
        Ok((version.version.to_string(), bytes))
    }

    /// Stores a built chart as `<name>-<version>.tgz` and points `latest.tar.gz` at it.
    fn store_chart(
        &self,
        key: &ObjectKey,
        build: Build,
        archive: &[u8],
    ) -> Result<Stored, Failure> {
        let file_name = format!("{}-{}.tgz", build.name, build.version);
        let artifact = self
            .store
            .store_bytes(
                KIND,
                &key.namespace,
                &key.name,
                &build.version,
                ArtifactFileName::Fixed(&file_name),
                archive,
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

    /// The stored chart, when it is the chart `build` describes and nothing in the spec
    /// changed since it was made (Flux's cache shortcut: no download, no packaging).
    fn cached(
        &self,
        chart: &HelmChart,
        key: &ObjectKey,
        mut build: Build,
    ) -> Option<Result<Stored, Failure>> {
        let status = chart.status.as_ref()?;
        let force = chart.metadata.generation != status.observed_generation;
        let current = status.artifact.as_ref()?;
        if force
            || current.revision != build.version
            || status.observed_chart_name.as_deref() != Some(build.name.as_str())
        {
            return None;
        }
        let artifact = source_status::still_stored(&self.store, current)?;
        if let Some(observed) = &status.observed_values_files {
            build.values_files.clone_from(observed);
        }
        Some(self.link(key, &artifact).map(|url| Stored {
            build,
            artifact,
            url,
        }))
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

    /// The chart's source and its artifact, or why the chart cannot be built yet.
    async fn source(&self, chart: &HelmChart, namespace: &str) -> Result<Source, Failure> {
        let source = &chart.spec.source_ref;
        let not_found = |e: kube::Error| {
            let e = match e {
                kube::Error::Api(status) => status.message,
                other => other.to_string(),
            };
            Failure::retry(
                FETCH_FAILED,
                "SourceUnavailable",
                format!("failed to get source: {e}"),
            )
        };
        let no_artifact = || {
            Failure::retry(
                FETCH_FAILED,
                "NoSourceArtifact",
                format!(
                    "no artifact available for {} source '{}'",
                    source.kind, source.name
                ),
            )
        };
        match source.kind.as_str() {
            "HelmRepository" => {
                let api: Api<HelmRepository> = Api::namespaced(self.client.clone(), namespace);
                let repo = api.get(&source.name).await.map_err(not_found)?;
                if helmrepository::is_oci(&repo) {
                    return Ok(Source::Oci(Box::new(repo)));
                }
                let artifact = repo
                    .status
                    .as_ref()
                    .and_then(|s| s.artifact.clone())
                    .ok_or_else(no_artifact)?;
                Ok(Source::Repository(Box::new(repo), artifact))
            }
            "GitRepository" => {
                let api: Api<GitRepository> = Api::namespaced(self.client.clone(), namespace);
                let repo = api.get(&source.name).await.map_err(not_found)?;
                let artifact = repo
                    .status
                    .and_then(|s| s.artifact)
                    .ok_or_else(no_artifact)?;
                Ok(Source::Tarball(artifact))
            }
            "Bucket" => {
                let api: Api<Bucket> = Api::namespaced(self.client.clone(), namespace);
                let bucket = api.get(&source.name).await.map_err(not_found)?;
                let artifact = bucket
                    .status
                    .and_then(|s| s.artifact)
                    .ok_or_else(no_artifact)?;
                Ok(Source::Tarball(artifact))
            }
            other => Err(Failure::stalled(
                FETCH_FAILED,
                "SourceUnavailable",
                format!("failed to get source: unsupported source kind '{other}', must be one of: [HelmRepository GitRepository Bucket]"),
            )),
        }
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
            Ok(Source::Oci(repo)) => self
                .build_from_oci(&chart, &repo, &key)
                .await
                .map_err(auth_heuristic),
            Ok(Source::Tarball(artifact)) => {
                status.observed_source_artifact_revision = Some(artifact.revision.clone());
                self.build_from_tarball(&chart, &artifact, &key).await
            }
            Ok(Source::Repository(repo, repo_artifact)) => {
                status.observed_source_artifact_revision = Some(repo_artifact.revision.clone());
                self.build_from_repository(&chart, &repo, &repo_artifact, &key)
                    .await
                    .map_err(auth_heuristic)
            }
            Err(failure) => Err(failure),
        };
        let mut publish = false;
        let (outcome, event) = match result {
            Err(failure) => {
                // The condition of an error that is not a build error reads "Unknown".
                let recorded =
                    if ["AuthenticationFailed", "URLInvalid", "Failed"].contains(&failure.reason) {
                        not_a_build_error(&failure)
                    } else {
                        failure.clone()
                    };
                source_status::failed(
                    &mut conds,
                    &failure,
                    &recorded,
                    generation,
                    &mut status.observed_generation,
                )
            }
            Ok(stored) => {
                let artifact = source_status::status_artifact(&stored.artifact);
                let summary = stored.build.summary();
                let reason = stored.build.reason();
                source_status::record_artifact(&mut conds, reason, &summary, generation);
                let (changed, tell_dependents) =
                    source_status::artifact_news(before.artifact.as_ref(), &artifact);
                let event =
                    (changed || was_failing).then_some((EventType::Normal, reason, summary));
                // Told once the status names the new artifact, never before.
                publish = tell_dependents;
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
        source_status::announce(ctx, &self.events, object, publish, event).await;
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
    fn downloads_must_match_the_index_digest() {
        let digest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert!(verify_digest(digest, b"hello").is_ok());
        assert!(verify_digest(&format!("sha256:{digest}"), b"hello").is_ok());
        assert!(verify_digest("", b"anything").is_ok());
        let err = verify_digest(digest, b"changed").unwrap_err();
        assert!(
            err.starts_with("chart digest mismatch: the index says '2cf24dba"),
            "{err}"
        );
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
