//! A release rendered as Helm's install action renders it (action/install.go and
//! renderResources in action/action.go), without a cluster: dependencies
//! processed, values coalesced and checked against the charts' schemas, the
//! chart's kubeVersion checked, templates rendered, NOTES.txt taken out, and the
//! rest split into the manifest (sorted in install order) and the hooks.
//! `helm template`'s printing of a release is here too, as [`template_output`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ferroflux_gotemplate::Value;

use crate::chart::Chart;
use crate::dependencies::{self, DependencyError};
use crate::manifests::{self, Hook, HookEvent, Manifest, ManifestError};
use crate::render::{self, RenderOptions};
use crate::values::{self, ValuesError};

/// Why a release could not be rendered, with Helm's messages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReleaseError {
    #[error("an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: {0}")]
    MissingDependencies(DependencyError),
    #[error("{kind} charts are not installable")]
    NotInstallable { kind: String },
    #[error("chart dependencies processing failed: {0}")]
    Dependencies(ValuesError),
    #[error("{0}")]
    Values(ValuesError),
    /// Helm's "values don't meet the specifications of the schema(s)…" report.
    #[error("{0}")]
    Schema(crate::schema::SchemaError),
    #[error(
        "chart requires kubeVersion: {required} which is incompatible with Kubernetes {actual}"
    )]
    KubeVersion { required: String, actual: String },
    #[error("{0}")]
    Render(String),
    #[error("{0}")]
    Manifest(ManifestError),
}

impl ReleaseError {
    /// Whether Helm had a release in hand when it failed (it then tells the user
    /// about `--debug`).
    pub fn has_release(&self) -> bool {
        matches!(
            self,
            ReleaseError::KubeVersion { .. } | ReleaseError::Render(_) | ReleaseError::Manifest(_)
        )
    }
}

/// What an install is asked to do beyond rendering.
#[derive(Debug, Clone, Default)]
pub struct ReleaseOptions {
    pub render: RenderOptions,
    /// `--include-crds`: the charts' crds/ files head the manifest.
    pub include_crds: bool,
    pub skip_schema_validation: bool,
    /// `--render-subchart-notes`.
    pub subchart_notes: bool,
}

/// A rendered release.
#[derive(Debug, Clone)]
pub struct Release {
    /// The chart after dependency processing (enabled subcharts, aliases).
    pub chart: Chart,
    /// The values the templates saw (`.Values`).
    pub values: Value,
    /// Every non-hook document, as Helm stores it in the release.
    pub manifest: String,
    pub manifests: Vec<Manifest>,
    pub hooks: Vec<Hook>,
    pub notes: String,
}

/// Renders `chart` as `helm install --dry-run=client` (and `helm template`) do.
pub fn render_release(
    chart: &Chart,
    user_values: &Value,
    options: &ReleaseOptions,
) -> Result<Release, ReleaseError> {
    match chart.meta_str("type").as_str() {
        "" | "application" => {}
        other => {
            return Err(ReleaseError::NotInstallable {
                kind: other.to_owned(),
            })
        }
    }
    dependencies::check_dependencies(chart).map_err(ReleaseError::MissingDependencies)?;
    let chart = dependencies::process_dependencies(chart, user_values)
        .map_err(ReleaseError::Dependencies)?;
    let coalesced = values::coalesce_values(&chart, user_values).map_err(ReleaseError::Values)?;
    let coalesced = Value::Map(coalesced);
    if !options.skip_schema_validation {
        crate::schema::validate_chart(&chart, &coalesced).map_err(ReleaseError::Schema)?;
    }
    let required = chart.meta_str("kubeVersion");
    if !required.is_empty() {
        let actual = with_v(&options.render.kube_version);
        if !dependencies::is_compatible_range(&required, &normalized_kube_version(&actual)) {
            return Err(ReleaseError::KubeVersion { required, actual });
        }
    }
    let mut files = render::render_coalesced(&chart, &coalesced, &options.render)
        .map_err(ReleaseError::Render)?;
    let notes = take_notes(&mut files, &chart.name(), options.subchart_notes);
    let (hooks, manifests) = manifests::sort_manifests(&files).map_err(ReleaseError::Manifest)?;
    let mut manifest = String::new();
    if options.include_crds {
        for (file_name, data) in crd_files(&chart, &chart.name()) {
            manifest.push_str(&format!(
                "---\n# Source: {file_name}\n{}\n",
                String::from_utf8_lossy(&data)
            ));
        }
    }
    for m in &manifests {
        manifest.push_str(&format!("---\n# Source: {}\n{}\n", m.name, m.content));
    }
    Ok(Release {
        chart,
        values: coalesced,
        manifest,
        manifests,
        hooks,
        notes,
    })
}

/// NOTES.txt outputs removed from `files`; the root chart's (or, with subchart
/// notes, all of them) joined as the release notes.
fn take_notes(files: &mut BTreeMap<String, String>, chart_name: &str, all: bool) -> String {
    let root_notes = format!("{chart_name}/templates/NOTES.txt");
    let names: Vec<String> = files
        .keys()
        .filter(|k| k.ends_with("NOTES.txt"))
        .cloned()
        .collect();
    let mut notes = String::new();
    for name in names {
        let Some(text) = files.remove(&name) else {
            continue;
        };
        if all || name == root_notes {
            if !notes.is_empty() {
                notes.push('\n');
            }
            notes.push_str(&text);
        }
    }
    notes
}

/// Helm's CRDObjects: every crds/*.yaml|yml|json of the chart and its subcharts,
/// named by its path from the top chart.
pub fn crd_files(chart: &Chart, full_path: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = chart
        .files
        .iter()
        .filter(|(name, _)| {
            let ext = name
                .rsplit('/')
                .next()
                .and_then(|base| base.rfind('.').map(|i| base[i..].to_ascii_lowercase()))
                .unwrap_or_default();
            name.starts_with("crds/") && matches!(ext.as_str(), ".yaml" | ".yml" | ".json")
        })
        .map(|(name, data)| (format!("{full_path}/{name}"), data.clone()))
        .collect();
    for sub in &chart.dependencies {
        out.extend(crd_files(
            sub,
            &format!("{full_path}/charts/{}", sub.name()),
        ));
    }
    out
}

fn with_v(version: &str) -> String {
    if version.starts_with('v') {
        version.to_owned()
    } else {
        format!("v{version}")
    }
}

/// The version Helm checks kubeVersion constraints against: the numeric
/// components only (`v1.33.4-gke.1` → `v1.33.4`).
fn normalized_kube_version(version: &str) -> String {
    let numeric: Vec<&str> = version
        .trim_start_matches('v')
        .split(['-', '+'])
        .next()
        .unwrap_or_default()
        .split('.')
        .collect();
    format!("v{}", numeric.join("."))
}

/// Why `helm template` printed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("could not find template {0} in chart")]
    NotFound(String),
}

/// What `helm template` prints for a release: the manifest, then the hooks
/// (without test hooks when `skip_tests`), or only the documents of the templates
/// that `show_only` globs name.
pub fn template_output(
    release: &Release,
    skip_tests: bool,
    show_only: &[String],
) -> Result<String, TemplateError> {
    let mut out = format!("{}\n", release.manifest.trim());
    for hook in &release.hooks {
        if skip_tests && hook.events.contains(&HookEvent::Test) {
            continue;
        }
        out.push_str(&format!(
            "---\n# Source: {}\n{}\n",
            hook.path, hook.manifest
        ));
    }
    if show_only.is_empty() {
        return Ok(out);
    }
    let documents = manifests::split_manifests(&out);
    let mut shown = String::new();
    for pattern in show_only {
        let mut found = false;
        for doc in &documents {
            let Some(path) = source_path(doc) else {
                continue;
            };
            if crate::chart::shell_match(pattern, path) {
                shown.push_str(&format!("---\n{doc}\n"));
                found = true;
            }
        }
        if !found {
            return Err(TemplateError::NotFound(pattern.clone()));
        }
    }
    Ok(shown)
}

/// The template path of a document's `# Source: CHART/PATH` line, without the
/// chart's name (Helm's pattern, which lets the chart part run over lines).
fn source_path(doc: &str) -> Option<&str> {
    static SOURCE: OnceLock<regex::Regex> = OnceLock::new();
    let pattern = SOURCE.get_or_init(|| {
        regex::Regex::new("# Source: [^/]+/(.+)")
            .unwrap_or_else(|_| unreachable!("a fixed pattern"))
    });
    pattern
        .captures(doc)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_versions_are_normalized_for_constraints() {
        assert_eq!(normalized_kube_version("v1.33.4-gke.1245000"), "v1.33.4");
        assert_eq!(normalized_kube_version("v1.20"), "v1.20");
    }

    #[test]
    fn the_source_path_drops_the_charts_name() {
        assert_eq!(
            source_path("# Source: web/templates/a.yaml\nkind: A\n"),
            Some("templates/a.yaml")
        );
        assert_eq!(source_path("# Source: web\nkind: A\n"), None);
    }
}
