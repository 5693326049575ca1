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
    let ignore = match std::fs::read_to_string(dir.join(".helmignore")) {
        Ok(text) => Ignore::parse(&text),
        Err(_) => Ignore::default(),
    };
    let mut paths = Vec::new();
    walk(dir, dir, &ignore, &mut paths)?;
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

/// `.helmignore` as Helm reads it: shell globs, `!` to negate, a trailing `/` for
/// directories only; a pattern without `/` matches a base name, one with `/` the
/// path from the chart's root.
#[derive(Debug, Default)]
struct Ignore {
    patterns: Vec<IgnorePattern>,
}

#[derive(Debug)]
struct IgnorePattern {
    glob: String,
    negate: bool,
    dir_only: bool,
    /// Matched against the whole relative path (else against the base name).
    whole_path: bool,
}

impl Ignore {
    fn parse(text: &str) -> Self {
        let mut patterns = Vec::new();
        // Helm always leaves out dot files in templates/.
        for line in std::iter::once("templates/.?*").chain(text.lines()) {
            let mut rule = line.trim();
            if rule.is_empty() || rule.starts_with('#') || rule.starts_with("**") {
                continue;
            }
            let negate = rule.starts_with('!');
            if negate {
                rule = &rule[1..];
            }
            let dir_only = rule.ends_with('/');
            let rule = rule.trim_end_matches('/');
            let whole_path = rule.contains('/');
            patterns.push(IgnorePattern {
                glob: rule.trim_start_matches('/').to_owned(),
                negate,
                dir_only,
                whole_path,
            });
        }
        Ignore { patterns }
    }

    /// Helm's Rules.Ignore.
    fn ignores(&self, path: &str, is_dir: bool) -> bool {
        for p in &self.patterns {
            let subject = if p.whole_path {
                path
            } else {
                path.rsplit('/').next().unwrap_or(path)
            };
            let matched = shell_match(&p.glob, subject);
            if p.negate {
                if p.dir_only && !is_dir {
                    return true;
                }
                if !matched {
                    return true;
                }
                continue;
            }
            if p.dir_only && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }
}

/// Go's filepath.Match: `*` and `?` within one path segment, `[...]` classes, `\`
/// escapes.
fn shell_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len())
                .take_while(|i| *i == 0 || s[i - 1] != '/')
                .any(|i| go(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && s[0] != '/' && go(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                let Some(&c) = s.first() else {
                    return false;
                };
                let class = &p[1..end];
                let (negated, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negated && go(&p[end + 1..], &s[1..])
            }
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && go(&p[2..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    go(&p, &s)
}

/// Every file under `dir` that `.helmignore` keeps, with its path relative to `root`
/// (`/`-separated).
fn walk(
    root: &Path,
    dir: &Path,
    ignore: &Ignore,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), ChartError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_symlink() {
            // A chart's files stay inside it: symlinks are not followed.
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default();
        if ignore.ignores(&relative, file_type.is_dir()) {
            continue;
        }
        if file_type.is_dir() {
            walk(root, &path, ignore, out)?;
        } else if file_type.is_file() {
            out.push((relative, path));
        }
    }
    Ok(())
}
