//! A chart directory as Helm's loader reads it: Chart.yaml, values.yaml, the templates
//! and the other files, and subcharts under `charts/` (directories).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferroflux_gotemplate::Value;

use crate::yaml;

/// Why a chart could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// One loaded chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Chart.yaml as read (keys as written).
    pub metadata: Value,
    /// values.yaml (an empty map when there is none).
    pub values: Value,
    /// Templates by path within the chart (`templates/deployment.yaml`), sorted.
    pub templates: Vec<(String, String)>,
    /// The other files, by path, for `.Files`.
    pub files: BTreeMap<String, Vec<u8>>,
    pub dependencies: Vec<Chart>,
}

impl Chart {
    pub fn name(&self) -> String {
        self.meta_str("name")
    }

    fn meta_str(&self, key: &str) -> String {
        match &self.metadata {
            Value::Map(map) => map
                .get(key)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// `type: library`.
    pub fn is_library(&self) -> bool {
        self.meta_str("type") == "library"
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ChartError + '_ {
    move |source| ChartError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Loads the chart in `dir`.
pub fn load_dir(dir: &Path) -> Result<Chart, ChartError> {
    let chart_yaml = dir.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).map_err(io(&chart_yaml))?;
    let metadata = yaml::unmarshal(&text).map_err(|e| ChartError::Invalid {
        file: "Chart.yaml".to_owned(),
        message: e.to_string(),
    })?;
    let values = match std::fs::read_to_string(dir.join("values.yaml")) {
        Ok(text) => match yaml::unmarshal(&text).map_err(|e| ChartError::Invalid {
            file: "values.yaml".to_owned(),
            message: e.to_string(),
        })? {
            Value::Nil => Value::map(BTreeMap::new()),
            other => other,
        },
        Err(_) => Value::map(BTreeMap::new()),
    };
    let mut templates = Vec::new();
    let mut files = BTreeMap::new();
    let mut dependencies = Vec::new();
    let mut paths = Vec::new();
    walk(dir, dir, &mut paths)?;
    paths.sort();
    for (relative, path) in paths {
        match relative.as_str() {
            "Chart.yaml" | "Chart.lock" | "values.yaml" | "values.schema.json"
            | "requirements.yaml" | "requirements.lock" => continue,
            _ => {}
        }
        if relative.starts_with("charts/") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        if relative.starts_with("templates/") {
            templates.push((relative, String::from_utf8_lossy(&bytes).into_owned()));
        } else {
            files.insert(relative, bytes);
        }
    }
    let charts = dir.join("charts");
    if charts.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&charts)
            .map_err(io(&charts))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("Chart.yaml").is_file())
            .collect();
        entries.sort();
        for entry in entries {
            dependencies.push(load_dir(&entry)?);
        }
    }
    Ok(Chart {
        metadata,
        values,
        templates,
        files,
        dependencies,
    })
}

/// Every file under `dir`, with its path relative to `root` (`/`-separated).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), ChartError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_symlink() {
            // A chart's files stay inside it: symlinks are not followed.
            continue;
        }
        if file_type.is_dir() {
            walk(root, &path, out)?;
        } else if file_type.is_file() {
            let relative = path
                .strip_prefix(root)
                .map(|p| {
                    p.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            out.push((relative, path));
        }
    }
    Ok(())
}
