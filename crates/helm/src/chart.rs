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
    /// values.schema.json, as written.
    pub schema: Option<Vec<u8>>,
    pub dependencies: Vec<Chart>,
}

impl Default for Chart {
    /// A chart with nothing in it (empty Chart.yaml and values).
    fn default() -> Self {
        Chart {
            metadata: Value::map(BTreeMap::new()),
            values: Value::map(BTreeMap::new()),
            templates: Vec::new(),
            files: BTreeMap::new(),
            schema: None,
            dependencies: Vec::new(),
        }
    }
}

impl Chart {
    pub fn name(&self) -> String {
        self.meta_str("name")
    }

    pub fn version(&self) -> String {
        self.meta_str("version")
    }

    pub(crate) fn meta_str(&self, key: &str) -> String {
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

/// The largest chart archive Helm unpacks, and the largest file in one.
pub const MAX_DECOMPRESSED_CHART_SIZE: u64 = 100 * 1024 * 1024;
pub const MAX_DECOMPRESSED_FILE_SIZE: u64 = 5 * 1024 * 1024;

/// Loads the chart in `dir` (its `.helmignore` applies to every file, subcharts'
/// included, as in Helm).
pub fn load_dir(dir: &Path) -> Result<Chart, ChartError> {
    from_files(read_dir_files(dir)?)
}

/// The files of the chart in `dir` that `.helmignore` keeps, by path within the
/// chart, sorted; symlinks are not followed.
pub fn read_dir_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, ChartError> {
    let ignore = match std::fs::read_to_string(dir.join(".helmignore")) {
        Ok(text) => Ignore::parse(&text),
        Err(_) => Ignore::default(),
    };
    let mut paths = Vec::new();
    walk(dir, dir, &ignore, &mut paths)?;
    paths.sort();
    let mut files = Vec::new();
    for (relative, path) in paths {
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        files.push((relative, bytes));
    }
    Ok(files)
}

fn invalid(message: impl Into<String>) -> ChartError {
    ChartError::Invalid {
        file: "chart archive".to_owned(),
        message: message.into(),
    }
}

/// Loads a packaged chart (`.tgz`), refusing what Helm refuses: paths outside the
/// chart, and more than 100 MiB unpacked or a file over 5 MiB.
pub fn load_archive(bytes: &[u8]) -> Result<Chart, ChartError> {
    from_files(read_archive(bytes)?)
}

/// The files of a packaged chart, by path within the chart, in archive order, with
/// Helm's checks of [`load_archive`].
pub fn read_archive(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ChartError> {
    use std::io::Read as _;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut remaining = MAX_DECOMPRESSED_CHART_SIZE;
    let mut files = Vec::new();
    let too_large = || {
        invalid(format!(
            "decompressed chart is larger than the maximum size {MAX_DECOMPRESSED_CHART_SIZE}"
        ))
    };
    for entry in archive.entries().map_err(|e| invalid(e.to_string()))? {
        let mut entry = entry.map_err(|e| invalid(e.to_string()))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let delimiter = if raw.contains('\\') { '\\' } else { '/' };
        let parts: Vec<&str> = raw.split(delimiter).collect();
        let name = parts[1..].join("/");
        if name.starts_with('/') {
            return Err(invalid("chart illegally contains absolute paths"));
        }
        let name = clean(&name);
        if name == "." {
            return Err(invalid(format!(
                "chart illegally contains content outside the base directory: {raw:?}"
            )));
        }
        if name.starts_with("..") {
            return Err(invalid("chart illegally references parent directory"));
        }
        if name.len() > 1 && name.as_bytes()[1] == b':' && name.as_bytes()[0].is_ascii_alphabetic()
        {
            return Err(invalid("chart contains illegally named files"));
        }
        if parts[0] == "Chart.yaml" {
            return Err(invalid("chart yaml not in base directory"));
        }
        let size = entry.header().size().map_err(|e| invalid(e.to_string()))?;
        if size > remaining {
            return Err(too_large());
        }
        if size > MAX_DECOMPRESSED_FILE_SIZE {
            return Err(invalid(format!(
                "decompressed chart file {raw:?} is larger than the maximum file size {MAX_DECOMPRESSED_FILE_SIZE}"
            )));
        }
        let mut data = Vec::new();
        let written = (&mut entry)
            .take(remaining)
            .read_to_end(&mut data)
            .map_err(|e| invalid(e.to_string()))? as u64;
        remaining = remaining.saturating_sub(written);
        if written < size || remaining == 0 {
            return Err(too_large());
        }
        let data = data
            .strip_prefix(b"\xef\xbb\xbf".as_slice())
            .map(<[u8]>::to_vec)
            .unwrap_or(data);
        files.push((name, data));
    }
    if files.is_empty() {
        return Err(invalid("no files in chart archive"));
    }
    Ok(files)
}

/// Go's path.Clean for the relative paths of an archive.
pub(crate) fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// A chart from its files, by path within the chart (what [`read_dir_files`] and
/// [`read_archive`] return).
pub fn load_files(files: Vec<(String, Vec<u8>)>) -> Result<Chart, ChartError> {
    from_files(files)
}

/// A chart from its files (Helm's LoadFiles): subcharts are the directories and
/// `.tgz` archives under `charts/`.
fn from_files(files: Vec<(String, Vec<u8>)>) -> Result<Chart, ChartError> {
    let read_yaml = |name: &str, bytes: &[u8]| {
        yaml::unmarshal(&String::from_utf8_lossy(bytes)).map_err(|e| ChartError::Invalid {
            file: name.to_owned(),
            message: e.to_string(),
        })
    };
    let mut metadata = None;
    let mut values = Value::map(BTreeMap::new());
    let mut templates = Vec::new();
    let mut other = BTreeMap::new();
    let mut subcharts: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut archives = Vec::new();
    let mut schema = None;
    for (name, bytes) in files {
        match name.as_str() {
            "Chart.yaml" => metadata = Some(read_yaml("Chart.yaml", &bytes)?),
            "values.yaml" => {
                values = match read_yaml("values.yaml", &bytes)? {
                    Value::Nil => Value::map(BTreeMap::new()),
                    v => v,
                }
            }
            "values.schema.json" => schema = Some(bytes),
            "Chart.lock" | "requirements.yaml" | "requirements.lock" => {}
            _ => {
                if let Some(rest) = name.strip_prefix("charts/") {
                    match rest.split_once('/') {
                        Some((sub, inner)) => subcharts
                            .entry(sub.to_owned())
                            .or_default()
                            .push((inner.to_owned(), bytes)),
                        None if rest.ends_with(".tgz") || rest.ends_with(".tar.gz") => {
                            archives.push(bytes)
                        }
                        None => {
                            other.insert(name, bytes);
                        }
                    }
                } else if name.starts_with("templates/") {
                    templates.push((name, String::from_utf8_lossy(&bytes).into_owned()));
                } else {
                    other.insert(name, bytes);
                }
            }
        }
    }
    let metadata = metadata.ok_or_else(|| ChartError::Invalid {
        file: "Chart.yaml".to_owned(),
        message: "Chart.yaml file is missing".to_owned(),
    })?;
    let mut dependencies = Vec::new();
    for (_, files) in subcharts {
        if files.iter().any(|(n, _)| n == "Chart.yaml") {
            dependencies.push(from_files(files)?);
        }
    }
    for archive in archives {
        dependencies.push(load_archive(&archive)?);
    }
    dependencies.sort_by_key(Chart::name);
    templates.sort();
    Ok(Chart {
        metadata,
        values,
        templates,
        files: other,
        schema,
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
pub(crate) fn shell_match(pattern: &str, name: &str) -> bool {
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
