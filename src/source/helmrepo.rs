//! What Flux's source-controller decides about Helm repositories and charts, apart
//! from any IO: the repository URL as Flux normalizes it, where its index lives, the
//! chart version a HelmChart's `spec.version` picks (Flux's own rule, not Helm's
//! `IndexFile.Get`), the version with build metadata of a packaged chart, and the
//! sizes its events print.

use std::cmp::Ordering;

use ferroflux_gotemplate::semver::{Constraints, Version};
use ferroflux_helm::repo::{ChartVersion, IndexFile};

/// source-controller's `--helm-index-max-size` default.
pub const MAX_INDEX_SIZE: u64 = 50 << 20;
/// source-controller's `--helm-chart-max-size` default.
pub const MAX_CHART_SIZE: u64 = 10 << 20;

/// Flux's `NormalizeURL`: an http(s) repository URL ends in exactly one `/`, an
/// `oci://` one in none.
pub fn normalize_url(url: &str) -> Result<String, String> {
    if url.is_empty() {
        return Ok(String::new());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("parse \"{url}\": {e}"))?;
    if parsed.scheme() == "oci" {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let (before_query, query) = match url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (url, None),
    };
    let mut normalized = format!("{}/", before_query.trim_end_matches('/'));
    if let Some(query) = query {
        normalized.push('?');
        normalized.push_str(query);
    }
    Ok(normalized)
}

/// The index address of a repository: `index.yaml` joined to the URL's path (Go's
/// `path.Join`, which cleans it), the query kept.
pub fn index_url(url: &str) -> Result<String, String> {
    let mut parsed = reqwest::Url::parse(url).map_err(|e| format!("parse \"{url}\": {e}"))?;
    let joined = join_clean(parsed.path(), "index.yaml");
    parsed.set_path(&joined);
    Ok(parsed.to_string())
}

/// Go's `path.Join(base, name)` for a URL path.
fn join_clean(base: &str, name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(std::iter::once(name)) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Why no chart version could be picked (Flux's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    #[error("no chart name found")]
    NoChartName,
    #[error("no chart version found")]
    NoChartVersion,
    #[error("{0}")]
    Constraint(String),
    #[error("no '{name}' chart with version matching '{version}' found")]
    NoMatch { name: String, version: String },
}

/// fluxcd/pkg `version.ParseVersion`: a strict `major.minor.patch` (a `v` allowed)
/// with optional pre-release and metadata.
pub fn parse_strict_version(text: &str) -> Option<Version> {
    let bare = text.strip_prefix('v').unwrap_or(text);
    let core = bare.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let strict = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        });
    if !strict {
        return None;
    }
    Version::parse(text).ok()
}

/// The version of chart `name` a HelmChart's `spec.version` picks, as Flux's
/// `ChartRepository.GetChartVersion`: a version written exactly so wins; otherwise the
/// highest version satisfying the constraint (`*` when empty, which leaves out
/// pre-releases), and among versions that differ only in build metadata the one
/// created last.
pub fn pick_chart_version<'a>(
    index: &'a IndexFile,
    name: &str,
    version: &str,
) -> Result<&'a ChartVersion, PickError> {
    let versions = index.entries.get(name).ok_or(PickError::NoChartName)?;
    if versions.is_empty() {
        return Err(PickError::NoChartVersion);
    }
    if let Some(exact) = versions.iter().find(|v| &*v.version == version) {
        return Ok(exact);
    }
    let constraint = if version.is_empty() { "*" } else { version };
    let constraint = Constraints::parse(constraint).map_err(PickError::Constraint)?;
    let mut best: Option<(&ChartVersion, Version)> = None;
    for candidate in versions {
        let Some(parsed) = parse_strict_version(&candidate.version) else {
            continue;
        };
        if !constraint.check(&parsed) {
            continue;
        }
        let better = match &best {
            None => true,
            Some((current, current_version)) => match parsed.compare(current_version) {
                Ordering::Greater => true,
                // RFC 3339 times in one index compare as text; the later one wins a tie.
                Ordering::Equal => *candidate.created >= *current.created,
                Ordering::Less => false,
            },
        };
        if better {
            best = Some((candidate, parsed));
        }
    }
    best.map(|(v, _)| v).ok_or_else(|| PickError::NoMatch {
        name: name.to_owned(),
        version: version.to_owned(),
    })
}

/// Masterminds `SetMetadata` then `String()`: the normalized version with `metadata`
/// as its build metadata (replacing any).
pub fn with_metadata(version: &str, metadata: &str) -> Result<String, String> {
    let parsed = Version::parse(version)
        .map_err(|e| format!("failed to parse version from chart metadata as SemVer: {e}"))?;
    let valid = !metadata.is_empty()
        && metadata
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !valid {
        return Err(
            "failed to set SemVer metadata on chart version: invalid metadata string".to_owned(),
        );
    }
    let mut text = format!("{}.{}.{}", parsed.major, parsed.minor, parsed.patch);
    if !parsed.pre.is_empty() {
        text.push('-');
        text.push_str(&parsed.pre);
    }
    text.push('+');
    text.push_str(metadata);
    Ok(text)
}

/// The build metadata `reconcileStrategy: Revision` gives a chart from a Git or
/// Bucket source: the hash of the source revision (`main@sha1:<hex>` → `<hex>`),
/// its first 12 characters.
pub fn revision_metadata(revision: &str) -> String {
    let hash = revision.rsplit('@').next().unwrap_or(revision);
    let hex = hash.split_once(':').map_or(hash, |(_, hex)| hex);
    hex.chars().take(12).collect()
}

/// The build metadata of a chart from a Git or Bucket source: the revision's hash
/// with `reconcileStrategy: Revision`, then `.<generation>` when values files are
/// merged (Flux's `6.0.3+4e5cbb7b97d0.3`, `6.0.3+3`).
pub fn local_version_metadata(
    revision: Option<&str>,
    values_files: bool,
    generation: i64,
) -> String {
    let mut metadata = revision.map(revision_metadata).unwrap_or_default();
    if values_files {
        if !metadata.is_empty() {
            metadata.push('.');
        }
        metadata.push_str(&generation.to_string());
    }
    metadata
}

/// Flux's chart name rule for a chart in a repository.
pub fn check_chart_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("no name set for remote chart reference".to_owned());
    }
    let valid = regex::Regex::new(r"^([-a-z0-9]+/?\.?)+$").is_ok_and(|re| re.is_match(name));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid chart name '{name}': a valid name must be lower case letters and numbers and MAY be separated with dashes (-), slashes (/) or periods (.)"
        ))
    }
}

/// The values files a HelmChart merges: none when the list is just the chart's own
/// `values.yaml` (Flux's `GetValuesFiles`).
pub fn effective_values_files(files: &[String]) -> &[String] {
    if files.len() == 1 && clean_path(&files[0]) == "values.yaml" {
        &[]
    } else {
        files
    }
}

/// Go's `filepath.Clean` for the relative paths of values files.
pub fn clean_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// go-units `HumanSize`: decimal units, four significant digits (`40.9kB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g4(size), UNITS[unit])
}

/// `%.4g` for 0 <= v < 1000 (no exponent form is needed there).
fn format_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalize_as_flux_does() {
        assert_eq!(
            normalize_url("https://charts.example.com/stable//").unwrap(),
            "https://charts.example.com/stable/"
        );
        assert_eq!(
            normalize_url("https://h/charts?token=1").unwrap(),
            "https://h/charts/?token=1"
        );
        assert_eq!(
            normalize_url("oci://ghcr.io/org/charts/").unwrap(),
            "oci://ghcr.io/org/charts"
        );
        assert!(normalize_url("http://[::1").is_err());
    }

    #[test]
    fn the_index_is_joined_to_the_path_and_keeps_the_query() {
        assert_eq!(
            index_url("https://h/charts/?t=1").unwrap(),
            "https://h/charts/index.yaml?t=1"
        );
        assert_eq!(
            index_url("http://127.0.0.1:80/a//b/").unwrap(),
            "http://127.0.0.1/a/b/index.yaml"
        );
        assert_eq!(index_url("https://h").unwrap(), "https://h/index.yaml");
    }

    fn index(text: &str) -> IndexFile {
        ferroflux_helm::repo::load_index(text.as_bytes()).expect("index")
    }

    const INDEX: &str = "apiVersion: v1
entries:
  podinfo:
  - {name: podinfo, version: 6.5.0, urls: [podinfo-6.5.0.tgz], created: '2024-01-01T00:00:00Z'}
  - {name: podinfo, version: 6.5.0+b, urls: [b.tgz], created: '2024-03-01T00:00:00Z'}
  - {name: podinfo, version: 6.5.0+a, urls: [a.tgz], created: '2024-02-01T00:00:00Z'}
  - {name: podinfo, version: 6.6.0-rc.1, urls: [rc.tgz]}
  - {name: podinfo, version: '6.4', urls: [short.tgz]}
  - {name: podinfo, version: 6.4.1, urls: [podinfo-6.4.1.tgz]}
";

    #[test]
    fn versions_are_picked_as_flux_picks_them() {
        let index = index(INDEX);
        let pick =
            |v: &str| pick_chart_version(&index, "podinfo", v).map(|c| c.urls[0].to_string());
        // Equal precedence: the one created last.
        assert_eq!(pick("*").unwrap(), "b.tgz");
        assert_eq!(pick("").unwrap(), "b.tgz");
        assert_eq!(pick("6.4.x").unwrap(), "podinfo-6.4.1.tgz");
        // The guide's range form: space-separated constraints, all of them.
        assert_eq!(pick(">=6.0.0 <6.5.0").unwrap(), "podinfo-6.4.1.tgz");
        // Written exactly so: even a pre-release or a short version.
        assert_eq!(pick("6.6.0-rc.1").unwrap(), "rc.tgz");
        assert_eq!(pick("6.4").unwrap(), "short.tgz");
        assert_eq!(pick(">=6.6.0-0").unwrap(), "rc.tgz");
        assert_eq!(
            pick("9.*").unwrap_err().to_string(),
            "no 'podinfo' chart with version matching '9.*' found"
        );
        assert!(matches!(pick(">= nope"), Err(PickError::Constraint(_))));
        assert_eq!(
            pick_chart_version(&index, "nginx", "*").unwrap_err(),
            PickError::NoChartName
        );
    }

    #[test]
    fn metadata_replaces_build_metadata() {
        assert_eq!(with_metadata("6.0.3", "1").unwrap(), "6.0.3+1");
        assert_eq!(with_metadata("v6.0.3-rc.1+x", "2").unwrap(), "6.0.3-rc.1+2");
        assert!(with_metadata("six", "1").is_err());
    }

    #[test]
    fn local_charts_take_the_revision_and_generation_as_metadata() {
        let revision = "main@sha1:4e5cbb7b97d00a8bd2ad8ec1e4e0c6e0ff3b1c2d";
        assert_eq!(revision_metadata(revision), "4e5cbb7b97d0");
        assert_eq!(revision_metadata("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(
            local_version_metadata(Some(revision), true, 3),
            "4e5cbb7b97d0.3"
        );
        assert_eq!(local_version_metadata(None, true, 3), "3");
        assert_eq!(local_version_metadata(None, false, 3), "");
    }

    #[test]
    fn chart_names_follow_flux_rule() {
        assert!(check_chart_name("podinfo").is_ok());
        assert!(check_chart_name("org/chart.v2").is_ok());
        assert!(check_chart_name("").is_err());
        assert!(check_chart_name("Podinfo").is_err());
    }

    #[test]
    fn the_default_values_file_alone_is_no_values_file() {
        assert!(effective_values_files(&["./values.yaml".into()]).is_empty());
        assert_eq!(
            effective_values_files(&["values-prod.yaml".into()]).len(),
            1
        );
        assert_eq!(
            effective_values_files(&["values.yaml".into(), "values-prod.yaml".into()]).len(),
            2
        );
    }

    #[test]
    fn sizes_print_as_go_units() {
        assert_eq!(human_size(40898), "40.9kB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(52_428_800), "52.43MB");
    }
}
