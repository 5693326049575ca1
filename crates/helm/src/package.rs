//! A chart archive rewritten as Flux's source-controller rewrites a chart it
//! "packages": values files merged over values.yaml (`spec.valuesFiles`) and a new
//! version with build metadata (`6.5.0+2`), saved as Helm's `chartutil.Save` writes
//! archives (`<name>/…` entries, a gzip header that says Helm).

use std::collections::BTreeMap;
use std::io::Write as _;

use ferroflux_gotemplate::Value;

use crate::chart::{self, ChartError};
use crate::{goyaml, yaml};

/// Why an archive could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{0}")]
    Chart(#[from] ChartError),
    #[error("failed to locate values file: values.yaml")]
    NoValuesFile,
    #[error("no 'Chart.yaml' found")]
    NoChartYaml,
    #[error("cannot load 'Chart.yaml': {0}")]
    ChartYaml(String),
    #[error("failed to package chart: {0}")]
    Write(String),
}

/// fluxcd/pkg `transform.MergeMaps`: `overlay` over `base`, maps merged key by key
/// at every depth, anything else (lists, scalars, null) replacing what was there.
pub fn merge_maps(base: &BTreeMap<String, Value>, overlay: &Value) -> BTreeMap<String, Value> {
    let mut out = base.clone();
    let Value::Map(overlay) = overlay else {
        return out;
    };
    for (key, value) in overlay.entries() {
        let merged = match (&value, out.get(&key)) {
            (Value::Map(_), Some(Value::Map(existing))) => {
                Value::map(merge_maps(&existing.snapshot(), &value))
            }
            _ => value,
        };
        out.insert(key, merged);
    }
    out
}

/// The values of a values file as sigs.k8s.io/yaml reads them: a document that is
/// not a map (or is empty) is an empty map, as Go's Unmarshal into a map leaves it.
pub fn read_values(text: &str) -> Result<BTreeMap<String, Value>, String> {
    match yaml::unmarshal(text).map_err(|e| e.to_string())? {
        Value::Map(map) => Ok(map.snapshot()),
        Value::Nil | Value::NoValue => Ok(BTreeMap::new()),
        other => Err(format!(
            "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            other.type_name()
        )),
    }
}

/// The files of `archive` with Chart.yaml's version set to `version` and, when given,
/// values.yaml replaced by `values` (sigs.k8s.io/yaml's encoding of the map; nothing
/// at all for an empty one), packaged again.
pub fn repackage(
    archive: &[u8],
    version: &str,
    values: Option<&BTreeMap<String, Value>>,
) -> Result<Vec<u8>, PackageError> {
    package_files(chart::read_archive(archive)?, version, values)
}

/// The chart made of `files` (paths within the chart) packaged with Chart.yaml's
/// version set to `version` and, when given, values.yaml replaced by `values`.
pub fn package_files(
    mut files: Vec<(String, Vec<u8>)>,
    version: &str,
    values: Option<&BTreeMap<String, Value>>,
) -> Result<Vec<u8>, PackageError> {
    let chart_yaml = files
        .iter_mut()
        .find(|(name, _)| name == "Chart.yaml")
        .ok_or(PackageError::NoChartYaml)?;
    let metadata = yaml::unmarshal(&String::from_utf8_lossy(&chart_yaml.1))
        .map_err(|e| PackageError::ChartYaml(e.to_string()))?;
    let Value::Map(metadata) = metadata else {
        return Err(PackageError::ChartYaml("not a map".to_owned()));
    };
    let name = metadata
        .get("name")
        .and_then(|n| n.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut updated = metadata.snapshot();
    updated.insert("version".to_owned(), Value::string(version));
    chart_yaml.1 = goyaml::marshal(&Value::map(updated))
        .map_err(PackageError::ChartYaml)?
        .into_bytes();
    if let Some(values) = values {
        let file = files
            .iter_mut()
            .find(|(name, _)| name == "values.yaml")
            .ok_or(PackageError::NoValuesFile)?;
        file.1 = if values.is_empty() {
            Vec::new()
        } else {
            goyaml::marshal(&Value::map(values.clone()))
                .map_err(PackageError::Write)?
                .into_bytes()
        };
    }
    write_archive(&name, &files).map_err(|e| PackageError::Write(e.to_string()))
}

/// Writes `files` under `<name>/` as a gzipped tarball the way Helm's Save does:
/// regular files of mode 0644 and the gzip header's `Helm` comment and extra field.
pub fn write_archive(name: &str, files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    // The extra field Helm puts in every chart archive (a base64 link, kept as is).
    const HELM_GZIP_EXTRA: &[u8] = b"+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=";
    let encoder = flate2::GzBuilder::new()
        .comment("Helm")
        .extra(HELM_GZIP_EXTRA)
        .write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        tar.append_data(&mut header, format!("{name}/{path}"), data.as_slice())?;
    }
    let mut encoder = tar.into_inner()?;
    encoder.flush()?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> BTreeMap<String, Value> {
        read_values(text).expect("values")
    }

    fn to_text(map: &BTreeMap<String, Value>) -> String {
        goyaml::marshal(&Value::map(map.clone())).expect("yaml")
    }

    #[test]
    fn maps_merge_deeply_and_everything_else_is_replaced() {
        let base = values("a:\n  b: 1\n  c: [1, 2]\nd: x\ne: {f: 1}\n");
        let overlay =
            yaml::unmarshal("a:\n  c: [3]\n  g: true\nd: {h: 1}\ne: null\n").expect("yaml");
        assert_eq!(
            to_text(&merge_maps(&base, &overlay)),
            "a:\n  b: 1\n  c:\n  - 3\n  g: true\nd:\n  h: 1\ne: null\n"
        );
    }

    #[test]
    fn non_map_values_files_are_refused() {
        assert!(read_values("- a\n").is_err());
        assert!(read_values("").expect("empty").is_empty());
    }

    #[test]
    fn repackaging_sets_the_version_and_values() {
        let files = vec![
            (
                "Chart.yaml".to_owned(),
                b"apiVersion: v2\nname: demo\nversion: 1.0.0\n".to_vec(),
            ),
            ("values.yaml".to_owned(), b"replicas: 1\n".to_vec()),
            (
                "templates/cm.yaml".to_owned(),
                b"kind: ConfigMap\n".to_vec(),
            ),
        ];
        let archive = write_archive("demo", &files).expect("archive");
        let merged = values("replicas: 3\n");
        let packaged = repackage(&archive, "1.0.0+2", Some(&merged)).expect("repackaged");
        let chart = chart::load_archive(&packaged).expect("loads");
        assert_eq!(chart.version(), "1.0.0+2");
        assert_eq!(chart.name(), "demo");
        let files = chart::read_archive(&packaged).expect("files");
        let values_yaml = files
            .iter()
            .find(|(n, _)| n == "values.yaml")
            .expect("values.yaml");
        assert_eq!(values_yaml.1, b"replicas: 3\n");
        assert!(files.iter().any(|(n, _)| n == "templates/cm.yaml"));
    }

    #[test]
    fn a_chart_without_values_yaml_cannot_take_values_files() {
        let files = vec![(
            "Chart.yaml".to_owned(),
            b"apiVersion: v2\nname: demo\nversion: 1.0.0\n".to_vec(),
        )];
        let archive = write_archive("demo", &files).expect("archive");
        let err = repackage(&archive, "1.0.0+1", Some(&BTreeMap::new())).expect_err("no values");
        assert_eq!(err.to_string(), "failed to locate values file: values.yaml");
    }
}
