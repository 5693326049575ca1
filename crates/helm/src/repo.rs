//! Chart repository index files (`index.yaml`) read as Helm 4 reads them
//! (`pkg/repo/v1/index.go`), into a compact form a controller keeps in memory, plus
//! the version resolution of `IndexFile.Get` and the chart URL resolution of
//! `ResolveReferenceURL`.
//!
//! Helm reads an index with sigs.k8s.io/yaml's `UnmarshalStrict` (or encoding/json when
//! the text is valid JSON): go-yaml v2 builds a generic tree (YAML 1.1 scalars, repeated
//! keys are errors, merge keys), the tree is converted to JSON (scalars become strings
//! only where the Go field is a string and is not promoted from the embedded chart
//! metadata), and encoding/json decodes that into the Go structs, rejecting unknown
//! fields and reporting the first type mismatch in its (sorted-key) order. Entries that
//! fail chart metadata validation are then dropped, versions sorted newest first.
//!
//! Big repositories publish indexes of 15,000 entries and more, so nothing here builds a
//! value tree: one decoder ([`Decoder`]) pulls events from one of three sources and
//! keeps only the fields below.
//! - [`BlockSource`]: a scanner for the block YAML that Helm (go-yaml's emitter)
//!   writes, borrowing scalars from the input. It recognises a deliberately narrow
//!   subset and gives up ([`SourceError::Bail`]) on anything else (flow collections,
//!   anchors, tags, tabs, folded scalars, ...), never guessing.
//! - [`YamlSource`]: yaml-rust2's parser for any other YAML, with alias replay.
//! - [`JsonSource`]: a JSON scanner; text it rejects is read as YAML, as `json.Valid`
//!   decides in Helm.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use ferroflux_gotemplate::gofmt::quote;
use ferroflux_gotemplate::semver::{Constraints, Version};
use yaml_rust2::parser::{Event as YamlEvent, Parser};
use yaml_rust2::scanner::TScalarStyle;

// ---------------------------------------------------------------------------------
// The index

/// A chart repository's index, as Helm's `repo.IndexFile` after `loadIndex`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexFile {
    pub api_version: String,
    /// `generated` as written (RFC 3339); empty when absent or null.
    pub generated: String,
    /// Chart name to its valid versions, newest first (Helm's `SortEntries`). A name
    /// whose versions were all invalid, or null, stays with no versions, as in Helm.
    pub entries: BTreeMap<String, Vec<ChartVersion>>,
    /// The index's own `annotations`.
    pub annotations: BTreeMap<String, String>,
    pub public_keys: Vec<String>,
    /// Helm's warnings for the entries it dropped ("skipping loading invalid entry ...").
    pub skipped: Vec<String>,
}

/// One chart version of the index: what a controller needs to pick and fetch it.
/// (Description, maintainers, keywords and the like are checked as Helm checks them
/// but not kept; an index's entries are mostly those.)
#[derive(Debug, Clone, PartialEq)]
pub struct ChartVersion {
    /// The chart's `name` (shared between the versions of one chart).
    pub name: Arc<str>,
    /// The version as written: `version` strings are compared exactly by [`IndexFile::get`].
    pub version: Box<str>,
    pub app_version: Box<str>,
    /// `apiVersion` of the chart, `v1` when absent (as Helm fills it in).
    pub api_version: Arc<str>,
    pub urls: Box<[Box<str>]>,
    pub digest: Box<str>,
    /// `created` as written (RFC 3339); empty when absent or null.
    pub created: Box<str>,
    pub deprecated: bool,
    pub removed: bool,
}

/// Why an index could not be read, or a version not found: Helm's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("empty index.yaml file")]
    Empty,
    #[error("no API version specified")]
    NoApiVersion,
    #[error("no chart name found")]
    NoChartName,
    #[error("no chart version found")]
    NoChartVersion,
    #[error("no chart version found for {name}-{version}")]
    VersionNotFound { name: String, version: String },
    /// `get`'s constraint is not a Masterminds constraint.
    #[error("{0}")]
    Constraint(String),
    /// The YAML could not be read (go-yaml's message, `yaml: ...`), or converted to JSON.
    #[error("error converting YAML to JSON: {0}")]
    Yaml(String),
    /// encoding/json rejected the converted YAML (unknown field, wrong type, bad time).
    #[error("error unmarshaling JSON: while decoding JSON: {0}")]
    Decode(String),
    /// encoding/json rejected a JSON index.
    #[error("{0}")]
    Json(String),
    /// A URL that Go's net/url does not parse.
    #[error("{0}")]
    Url(String),
}

/// Reads an index file, JSON or YAML, as Helm's `loadIndex`: invalid entries are dropped
/// (and listed in [`IndexFile::skipped`]), versions sorted newest first.
pub fn load_index(bytes: &[u8]) -> Result<IndexFile, IndexError> {
    if bytes.is_empty() {
        return Err(IndexError::Empty);
    }
    let index = read(bytes)?;
    if index.api_version.is_empty() {
        return Err(IndexError::NoApiVersion);
    }
    Ok(index)
}

/// Picks the reader as `jsonOrYamlUnmarshal` does: JSON when the whole text is valid
/// JSON, else YAML, through the fast block scanner when it can.
fn read(bytes: &[u8]) -> Result<IndexFile, IndexError> {
    if looks_like_json(bytes) {
        match decode(|| JsonSource::new(bytes), Mode::Json) {
            Err(Abort::Source(SourceError::NotJson)) => {}
            other => return finish_read(other),
        }
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| IndexError::Yaml("yaml: invalid leading UTF-8 octet".to_owned()))?;
    match check_characters(text) {
        Characters::Block if text.len() >= SPLIT_AT => {
            if let Some(index) = read_halves(text) {
                return Ok(index);
            }
            match decode(|| BlockSource::new(text), Mode::Yaml) {
                Err(Abort::Source(SourceError::Bail)) => {}
                other => return finish_read(other),
            }
        }
        Characters::Block => match decode(|| BlockSource::new(text), Mode::Yaml) {
            Err(Abort::Source(SourceError::Bail)) => {}
            other => return finish_read(other),
        },
        Characters::Other => {}
        Characters::Invalid => {
            return Err(IndexError::Yaml(
                "yaml: control characters are not allowed".to_owned(),
            ))
        }
    }
    finish_read(decode(|| YamlSource::new(text), Mode::Yaml))
}

/// Indexes this large are read in two halves at once (the big public repositories'
/// indexes are 10 to 30 MB).
const SPLIT_AT: usize = 4 << 20;

/// A big index in Helm's own layout read on two threads: the charts of `entries` are
/// cut in two at a chart key (a line `  <name>:`), the second half read as an index
/// of its own while the rest of the document is read here, and the entries joined.
/// Anything that could make the halves mean something else than the whole (a chart
/// key of another shape at that indentation, a second `entries`, a chart in both
/// halves) or any error or skipped entry in a half gives `None`, and the whole text
/// is read in one go, so errors and warnings are exactly the sequential ones.
fn read_halves(text: &str) -> Option<IndexFile> {
    let (head, charts, tail) = split_entries(text)?;
    let (first, second, rest) = std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            Decoder::new(BlockSource::new(charts), Mode::Yaml)
                .run_root(true)
                .ok()
        });
        let first = read_whole_block(head);
        let rest = read_whole_block(tail);
        (first, other.join().ok().flatten(), rest)
    });
    let (mut first, second, rest) = (first?, second?, rest?);
    if !first.skipped.is_empty() || !second.skipped.is_empty() || !rest.entries.is_empty() {
        return None;
    }
    for (name, versions) in second.entries {
        if first.entries.insert(name, versions).is_some() {
            return None;
        }
    }
    // The keys after `entries` (Helm writes `generated` there); one set twice is not
    // a case for halves.
    let taken = |a: &str, b: &str| !a.is_empty() && !b.is_empty();
    if taken(&first.api_version, &rest.api_version)
        || taken(&first.generated, &rest.generated)
        || (!first.annotations.is_empty() && !rest.annotations.is_empty())
        || (!first.public_keys.is_empty() && !rest.public_keys.is_empty())
    {
        return None;
    }
    if first.api_version.is_empty() {
        first.api_version = rest.api_version;
    }
    if first.generated.is_empty() {
        first.generated = rest.generated;
    }
    if first.annotations.is_empty() {
        first.annotations = rest.annotations;
    }
    if first.public_keys.is_empty() {
        first.public_keys = rest.public_keys;
    }
    Some(first)
}

/// One text through the block scanner, `None` on any error or hand-over.
fn read_whole_block(text: &str) -> Option<IndexFile> {
    decode(|| BlockSource::new(text), Mode::Yaml).ok()
}

/// The document up to the chart key in the middle of `entries`, the charts from
/// there to the end of `entries`, and the rest of the document; `None` unless the
/// layout is plainly Helm's.
fn split_entries(text: &str) -> Option<(&str, &str, &str)> {
    let mut entries_start = None;
    let mut entries_end = text.len();
    let mut chart_keys = Vec::new();
    for pos in structural_lines(text) {
        let end = memchr_newline(text, pos);
        let line = &text[pos..end];
        let next = (end + 1).min(text.len());
        let bytes = line.as_bytes();
        let in_entries = entries_start.is_some() && entries_end == text.len();
        match bytes.first() {
            None => {}
            Some(b' ') if !in_entries => {}
            Some(b' ') => {
                if bytes.get(1) != Some(&b' ') {
                    // Indentation 1 inside entries: not Helm's layout.
                    return None;
                }
                // Indentation 2 (structural_lines leaves out list items and deeper
                // lines): a chart key.
                let name = line[2..].strip_suffix(':')?;
                let plain = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                if !plain {
                    return None;
                }
                chart_keys.push(pos);
            }
            Some(_) => {
                let key = line.split(':').next().unwrap_or_default();
                if key.eq_ignore_ascii_case("entries") {
                    if entries_start.is_some() || line != "entries:" {
                        return None;
                    }
                    entries_start = Some(next);
                } else if in_entries {
                    entries_end = pos;
                }
            }
        }
    }
    entries_start?;
    if chart_keys.len() < 2 {
        return None;
    }
    let cut = chart_keys[chart_keys.len() / 2];
    Some((&text[..cut], &text[cut..entries_end], &text[entries_end..]))
}

/// The starts of the lines that can matter to the split: every line but the list
/// items (`  -`) and lines indented three or more, which are nearly all of an index.
fn structural_lines(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for i in memchr::memchr_iter(b'\n', bytes) {
        let rest = &bytes[i + 1..];
        let deep =
            rest.len() >= 3 && rest[0] == b' ' && rest[1] == b' ' && matches!(rest[2], b' ' | b'-');
        if !deep && !rest.is_empty() {
            starts.push(i + 1);
        }
    }
    starts
}

/// The end of the line starting at `pos` (the `\n`, or the end of the text).
fn memchr_newline(text: &str, pos: usize) -> usize {
    memchr::memchr(b'\n', &text.as_bytes()[pos..]).map_or(text.len(), |i| pos + i)
}

fn finish_read(result: Result<IndexFile, Abort>) -> Result<IndexFile, IndexError> {
    match result {
        Ok(index) => Ok(index),
        Err(Abort::Source(error)) => Err(error.into_error()),
        Err(Abort::Fatal(error)) => Err(error),
    }
}

/// Decodes the events of the source `make` builds. (Scanning on a second thread while
/// decoding was measured slower: the events' text is then freed on another thread.)
fn decode<'a, S: Source<'a>>(make: impl FnOnce() -> S, mode: Mode) -> Result<IndexFile, Abort> {
    Decoder::new(make(), mode).run()
}

/// Only text whose first non-blank byte may start JSON is tried as JSON.
fn looks_like_json(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| {
            matches!(
                b,
                b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
            )
        })
}

enum Characters {
    /// Only what the block scanner accepts: printable text and line feeds.
    Block,
    /// Tabs, carriage returns, Unicode line breaks or a byte order mark: valid YAML the
    /// block scanner leaves to yaml-rust2.
    Other,
    /// A character go-yaml refuses.
    Invalid,
}

/// libyaml's character check (which yaml-rust2 does not make), and whether the block
/// scanner can take the text.
fn check_characters(text: &str) -> Characters {
    let mut result = Characters::Block;
    // Branch-free over chunks, so that it vectorizes: this runs over every byte.
    let special = text.as_bytes().chunks(64).any(|chunk| {
        chunk.iter().fold(false, |acc, &b| {
            acc | ((b < b' ') & (b != b'\n')) | (b >= 0x7f)
        })
    });
    if special {
        for (i, c) in text.char_indices() {
            match c {
                '\n' | ' '..='~' => {}
                '\t' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => result = Characters::Other,
                '\u{feff}' if i == 0 => result = Characters::Other,
                '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..
                    if c != '\u{feff}' => {}
                _ => return Characters::Invalid,
            }
        }
    }
    result
}

/// `loadIndex`'s loop for one chart: nil entries and entries that fail validation go
/// (with Helm's warning), the rest are sorted newest first.
fn finish_entries(
    key: &str,
    versions: Vec<Option<RawEntry<'_>>>,
    names: &mut Interner,
    skipped: &mut Vec<String>,
) -> Vec<ChartVersion> {
    let mut kept: Vec<(Version, ChartVersion)> = Vec::with_capacity(versions.len());
    let mut warnings = Vec::new();
    for raw in versions {
        let Some(raw) = raw else {
            warnings.push(format!(
                "skipping loading invalid entry for chart {}: empty entry",
                quote(key)
            ));
            continue;
        };
        match validate(raw, names) {
            Ok(entry) => kept.push(entry),
            Err((version, why)) => warnings.push(format!(
                "skipping loading invalid entry for chart {} {}: validation: {why}",
                quote(key),
                quote(&version)
            )),
        }
    }
    // Helm walks each list backwards, so its warnings come in that order.
    warnings.reverse();
    skipped.extend(warnings);
    // sort.Sort(sort.Reverse(versions)): Less(i, j) is versions[j] < versions[i].
    go_sort(&mut kept, |a, b| b.0.compare(&a.0) == Ordering::Less);
    kept.into_iter().map(|(_, entry)| entry).collect()
}

/// Shares the text of repeated chart names and API versions.
#[derive(Default)]
struct Interner(HashMap<Box<str>, Arc<str>>);

impl Interner {
    fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Box::from(text), shared.clone());
        shared
    }
}

fn boxed(text: Option<Cow<'_, str>>) -> Box<str> {
    match text {
        Some(Cow::Borrowed(s)) => Box::from(s),
        Some(Cow::Owned(s)) => s.into_boxed_str(),
        None => Box::from(""),
    }
}

/// chart.Metadata's `Validate` as `loadIndex` applies it (after defaulting apiVersion to
/// v1): the entry with its parsed version, or its version and the validation message.
fn validate(
    raw: RawEntry<'_>,
    names: &mut Interner,
) -> Result<(Version, ChartVersion), (String, String)> {
    let version = raw.version.unwrap_or_default();
    let name = sanitize(raw.name.unwrap_or_default());
    let fail = |why: String| Err((version.to_string(), why));
    if name.is_empty() {
        return fail("chart.metadata.name is required".to_owned());
    }
    if name == "." || name == ".." {
        return fail(format!(
            "chart.metadata.name {} is not allowed",
            quote(&name)
        ));
    }
    if go_base(&name) != name {
        return fail(format!("chart.metadata.name {} is invalid", quote(&name)));
    }
    if version.is_empty() {
        return fail("chart.metadata.version is required".to_owned());
    }
    let Some(parsed) = parse_version(&version) else {
        return fail(format!(
            "chart.metadata.version {} is invalid",
            quote(&version)
        ));
    };
    if !matches!(
        raw.chart_type.as_deref(),
        None | Some("" | "application" | "library")
    ) {
        return fail("chart.metadata.type must be application or library".to_owned());
    }
    if raw.null_maintainer {
        return fail("maintainers must not contain empty or null nodes".to_owned());
    }
    let mut seen = HashSet::new();
    for dependency in raw.dependencies {
        let Some((dep_name, alias)) = dependency else {
            return fail("dependencies must not contain empty or null nodes".to_owned());
        };
        let dep_name = sanitize(dep_name);
        if !alias.is_empty()
            && !alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return fail(format!(
                "dependency {} has disallowed characters in the alias",
                quote(&dep_name)
            ));
        }
        let key = if alias.is_empty() { dep_name } else { alias };
        if !seen.insert(key) {
            // "more than one dependency with name or alias": the one validation error
            // loadIndex lets through (JFrog strips aliases); Validate stops there.
            break;
        }
    }
    let api_version = match raw.api_version.as_deref() {
        Some(v) if !v.is_empty() => names.get(v),
        _ => names.get("v1"),
    };
    let entry = ChartVersion {
        name: names.get(&name),
        version: boxed(Some(version)),
        app_version: boxed(raw.app_version.map(sanitize)),
        api_version,
        urls: raw
            .urls
            .unwrap_or_default()
            .into_iter()
            .map(|u| boxed(Some(u)))
            .collect(),
        digest: boxed(raw.digest),
        created: boxed(raw.created),
        deprecated: raw.deprecated,
        removed: raw.removed,
    };
    Ok((parsed, entry))
}

/// Masterminds' NewVersion. The plain `MAJOR.MINOR.PATCH` of nearly every index entry
/// is read directly (the regular expression costs more than the rest of an entry);
/// anything else goes through the workspace's Masterminds port.
fn parse_version(text: &str) -> Option<Version> {
    let mut parts = text.split('.');
    let mut numbers = [0u64; 3];
    let mut simple = true;
    for slot in &mut numbers {
        match parts.next() {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => match p.parse() {
                Ok(n) => *slot = n,
                Err(_) => return None,
            },
            _ => {
                simple = false;
                break;
            }
        }
    }
    if simple && parts.next().is_none() {
        let [major, minor, patch] = numbers;
        return Some(Version {
            major,
            minor,
            patch,
            pre: String::new(),
            metadata: String::new(),
            original: String::new(),
        });
    }
    Version::parse(text).ok()
}

/// Go's `filepath.Base` on Unix.
fn go_base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// chart.Metadata's sanitizeString: white space becomes a space, what Go does not print
/// is dropped.
fn sanitize(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return text;
    }
    let clean: String = text
        .chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if crate::strvals::is_go_print(c) {
                Some(c)
            } else {
                None
            }
        })
        .collect();
    Cow::Owned(clean)
}

impl IndexFile {
    /// Helm's `IndexFile.Get`: the version of chart `name` for `version_constraint`.
    /// An empty constraint is `*` (the newest stable version); a version string equal
    /// to the constraint wins; otherwise the first (newest) version that satisfies it.
    pub fn get(&self, name: &str, version_constraint: &str) -> Result<&ChartVersion, IndexError> {
        let versions = self.entries.get(name).ok_or(IndexError::NoChartName)?;
        if versions.is_empty() {
            return Err(IndexError::NoChartVersion);
        }
        let constraint = Constraints::parse(if version_constraint.is_empty() {
            "*"
        } else {
            version_constraint
        })
        .map_err(IndexError::Constraint)?;
        if !version_constraint.is_empty() {
            if let Some(exact) = versions.iter().find(|v| &*v.version == version_constraint) {
                return Ok(exact);
            }
        }
        versions
            .iter()
            .find(|v| parse_version(&v.version).is_some_and(|parsed| constraint.check(&parsed)))
            .ok_or_else(|| IndexError::VersionNotFound {
                name: name.to_owned(),
                version: version_constraint.to_owned(),
            })
    }

    /// The index as Flux's source-controller stores it for a HelmRepository: Go's
    /// `json.MarshalIndent` of the loaded index (fields in Helm's struct order, empty
    /// optional ones left out), holding the fields this reader keeps.
    pub fn to_flux_json(&self) -> String {
        use serde_json::{json, Map, Value as Json};
        const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
        let time = |t: &str| Json::from(if t.is_empty() { ZERO_TIME } else { t });
        let mut entries = Map::new();
        for (name, versions) in &self.entries {
            let versions: Vec<Json> = versions
                .iter()
                .map(|v| {
                    let mut out = Map::new();
                    out.insert("name".into(), json!(&*v.name));
                    out.insert("version".into(), json!(&*v.version));
                    out.insert("apiVersion".into(), json!(&*v.api_version));
                    if !v.app_version.is_empty() {
                        out.insert("appVersion".into(), json!(&*v.app_version));
                    }
                    if v.deprecated {
                        out.insert("deprecated".into(), json!(true));
                    }
                    let urls: Vec<&str> = v.urls.iter().map(|u| &**u).collect();
                    out.insert("urls".into(), json!(urls));
                    out.insert("created".into(), time(&v.created));
                    if v.removed {
                        out.insert("removed".into(), json!(true));
                    }
                    if !v.digest.is_empty() {
                        out.insert("digest".into(), json!(&*v.digest));
                    }
                    Json::Object(out)
                })
                .collect();
            entries.insert(name.clone(), Json::Array(versions));
        }
        let mut out = Map::new();
        out.insert("apiVersion".into(), json!(self.api_version));
        out.insert("generated".into(), time(&self.generated));
        out.insert("entries".into(), Json::Object(entries));
        if !self.public_keys.is_empty() {
            out.insert("publicKeys".into(), json!(self.public_keys));
        }
        if !self.annotations.is_empty() {
            out.insert("annotations".into(), json!(self.annotations));
        }
        serde_json::to_string_pretty(&Json::Object(out)).unwrap_or_default()
    }

    /// Whether the index has chart `name` at exactly `version` (Helm's `Has`).
    pub fn has(&self, name: &str, version: &str) -> bool {
        self.get(name, version).is_ok()
    }
}

/// Go's `sort.Sort` (pattern-defeating quicksort, Go 1.19 and later), step for step, so
/// that versions of equal precedence (`1.0.0+a`, `1.0.0+b`) end in Helm's order.
fn go_sort<T>(data: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = data.len();
    if n <= 1 {
        return;
    }
    let limit = usize::BITS - n.leading_zeros();
    let mut sorter = GoSort { data, less };
    sorter.pdqsort(0, n, limit);
}

struct GoSort<'d, T, L> {
    data: &'d mut [T],
    less: L,
}

#[derive(PartialEq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

impl<T, L: Fn(&T, &T) -> bool> GoSort<'_, T, L> {
    fn less(&self, i: usize, j: usize) -> bool {
        (self.less)(&self.data[i], &self.data[j])
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.data.swap(i, j);
    }

    fn insertion_sort(&mut self, a: usize, b: usize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.less(j, j - 1) {
                self.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    fn sift_down(&mut self, lo: usize, hi: usize, first: usize) {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                return;
            }
            if child + 1 < hi && self.less(first + child, first + child + 1) {
                child += 1;
            }
            if !self.less(first + root, first + child) {
                return;
            }
            self.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort(&mut self, a: usize, b: usize) {
        let first = a;
        let hi = b - a;
        for i in (0..=(hi - 1) / 2).rev() {
            self.sift_down(i, hi, first);
        }
        for i in (0..hi).rev() {
            self.swap(first, first + i);
            self.sift_down(0, i, first);
        }
    }

    fn pdqsort(&mut self, mut a: usize, mut b: usize, mut limit: u32) {
        const MAX_INSERTION: usize = 12;
        let (mut was_balanced, mut was_partitioned) = (true, true);
        loop {
            let length = b - a;
            if length <= MAX_INSERTION {
                self.insertion_sort(a, b);
                return;
            }
            if limit == 0 {
                self.heap_sort(a, b);
                return;
            }
            if !was_balanced {
                self.break_patterns(a, b);
                limit -= 1;
            }
            let (mut pivot, mut hint) = self.choose_pivot(a, b);
            if hint == Hint::Decreasing {
                self.reverse_range(a, b);
                pivot = (b - 1) - (pivot - a);
                hint = Hint::Increasing;
            }
            if was_balanced
                && was_partitioned
                && hint == Hint::Increasing
                && self.partial_insertion_sort(a, b)
            {
                return;
            }
            if a > 0 && !self.less(a - 1, pivot) {
                a = self.partition_equal(a, b, pivot);
                continue;
            }
            let (mid, already) = self.partition(a, b, pivot);
            was_partitioned = already;
            let (left, right) = (mid - a, b - mid);
            let balance_threshold = length / 8;
            if left < right {
                was_balanced = left >= balance_threshold;
                self.pdqsort(a, mid, limit);
                a = mid + 1;
            } else {
                was_balanced = right >= balance_threshold;
                self.pdqsort(mid + 1, b, limit);
                b = mid;
            }
        }
    }

    fn partition(&mut self, a: usize, b: usize, pivot: usize) -> (usize, bool) {
        self.swap(a, pivot);
        let (mut i, mut j) = (a + 1, b - 1);
        while i <= j && self.less(i, a) {
            i += 1;
        }
        while i <= j && !self.less(j, a) {
            j -= 1;
        }
        if i > j {
            self.swap(j, a);
            return (j, true);
        }
        self.swap(i, j);
        i += 1;
        j -= 1;
        loop {
            while i <= j && self.less(i, a) {
                i += 1;
            }
            while i <= j && !self.less(j, a) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
        self.swap(j, a);
        (j, false)
    }

    fn partition_equal(&mut self, a: usize, b: usize, pivot: usize) -> usize {
        self.swap(a, pivot);
        let (mut i, mut j) = (a + 1, b - 1);
        loop {
            while i <= j && !self.less(a, i) {
                i += 1;
            }
            while i <= j && self.less(a, j) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
        i
    }

    fn partial_insertion_sort(&mut self, a: usize, b: usize) -> bool {
        const MAX_STEPS: usize = 5;
        const SHORTEST_SHIFTING: usize = 50;
        let mut i = a + 1;
        for _ in 0..MAX_STEPS {
            while i < b && !self.less(i, i - 1) {
                i += 1;
            }
            if i == b {
                return true;
            }
            if b - a < SHORTEST_SHIFTING {
                return false;
            }
            self.swap(i, i - 1);
            if i - a >= 2 {
                let mut j = i - 1;
                while j >= 1 {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j -= 1;
                }
            }
            if b - i >= 2 {
                let mut j = i + 1;
                while j < b {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j += 1;
                }
            }
        }
        false
    }

    fn break_patterns(&mut self, a: usize, b: usize) {
        let length = b - a;
        if length >= 8 {
            let mut random = length as u64;
            let modulus = 1usize << (usize::BITS - length.leading_zeros());
            let idx = a + (length / 4) * 2 - 1;
            for i in 0..3 {
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                let mut other = (random as usize) & (modulus - 1);
                if other >= length {
                    other -= length;
                }
                self.swap(idx - 1 + i, a + other);
            }
        }
    }

    fn choose_pivot(&mut self, a: usize, b: usize) -> (usize, Hint) {
        const SHORTEST_NINTHER: usize = 50;
        const MAX_SWAPS: usize = 4 * 3;
        let l = b - a;
        let mut swaps = 0;
        let mut i = a + l / 4;
        let mut j = a + l / 4 * 2;
        let mut k = a + l / 4 * 3;
        if l >= 8 {
            if l >= SHORTEST_NINTHER {
                i = self.median_adjacent(i, &mut swaps);
                j = self.median_adjacent(j, &mut swaps);
                k = self.median_adjacent(k, &mut swaps);
            }
            j = self.median(i, j, k, &mut swaps);
        }
        match swaps {
            0 => (j, Hint::Increasing),
            MAX_SWAPS => (j, Hint::Decreasing),
            _ => (j, Hint::Unknown),
        }
    }

    fn order2(&self, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
        if self.less(b, a) {
            *swaps += 1;
            return (b, a);
        }
        (a, b)
    }

    fn median(&self, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
        let (a, b) = self.order2(a, b, swaps);
        let (b, c) = self.order2(b, c, swaps);
        let (_, b) = self.order2(a, b, swaps);
        let _ = c;
        b
    }

    fn median_adjacent(&self, a: usize, swaps: &mut usize) -> usize {
        self.median(a - 1, a, a + 1, swaps)
    }

    fn reverse_range(&mut self, a: usize, b: usize) {
        let (mut i, mut j) = (a, b - 1);
        while i < j {
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
    }
}

// ---------------------------------------------------------------------------------
// Events: what every source gives the decoder

/// How go-yaml v2 resolves a scalar (JSON sources give `Str`, `Null`, `Bool`, `Float`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Null,
    Bool(bool),
    Int,
    Float,
}

#[derive(Debug, Clone)]
struct Scalar<'a> {
    text: Cow<'a, str>,
    kind: Kind,
    /// Plain style without a tag: only such a `<<` is a merge key.
    plain: bool,
}

#[derive(Debug, Clone)]
enum Ev<'a> {
    MapStart,
    MapEnd,
    SeqStart,
    SeqEnd,
    Scalar(Scalar<'a>),
    /// The end of the first document.
    End,
}

#[derive(Debug, Clone)]
struct Event<'a> {
    ev: Ev<'a>,
    /// 1-based line of the node's start, for go-yaml's repeated-key messages.
    line: usize,
}

#[derive(Debug)]
enum SourceError {
    /// The block scanner met something outside its subset: read the text again with
    /// yaml-rust2.
    Bail,
    /// Not valid JSON: read the text as YAML.
    NotJson,
    /// Invalid YAML (`yaml: line N: ...`).
    Yaml(String),
}

impl SourceError {
    fn into_error(self) -> IndexError {
        match self {
            SourceError::Yaml(message) => IndexError::Yaml(message),
            SourceError::Bail | SourceError::NotJson => {
                IndexError::Yaml("yaml: the document could not be read".to_owned())
            }
        }
    }
}

trait Source<'a> {
    fn next(&mut self) -> Result<Event<'a>, SourceError>;
}

enum Abort {
    Source(SourceError),
    Fatal(IndexError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// sigs.k8s.io/yaml's UnmarshalStrict: repeated keys and unknown fields are errors,
    /// scalars become strings for (non-promoted) string fields, errors in sorted-key order.
    Yaml,
    /// encoding/json's Unmarshal: unknown fields ignored, document order.
    Json,
}

// ---------------------------------------------------------------------------------
// Positions, for encoding/json's error context and its error order

/// Where a value is: a stack-allocated chain up to the document root.
#[derive(Clone, Copy)]
struct At<'p> {
    up: Option<&'p At<'p>>,
    seg: Seg<'p>,
    /// The Go field this value fills (`entries`, `Metadata.version`), if a field.
    field: &'static str,
    /// The Go struct of that field.
    strukt: &'static str,
}

#[derive(Clone, Copy)]
enum Seg<'p> {
    Root,
    Key(&'p str),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum OwnedSeg {
    Key(String),
    Index(usize),
}

const ROOT: At<'static> = At {
    up: None,
    seg: Seg::Root,
    field: "",
    strukt: "",
};

impl<'p> At<'p> {
    fn key(&'p self, key: &'p str) -> At<'p> {
        At {
            up: Some(self),
            seg: Seg::Key(key),
            field: "",
            strukt: "",
        }
    }

    fn field(&'p self, key: &'p str, field: &'static str, strukt: &'static str) -> At<'p> {
        At {
            up: Some(self),
            seg: Seg::Key(key),
            field,
            strukt,
        }
    }

    fn index(&'p self, i: usize) -> At<'p> {
        At {
            up: Some(self),
            seg: Seg::Index(i),
            field: "",
            strukt: "",
        }
    }

    fn chain(&self) -> Vec<&At<'p>> {
        let mut chain = vec![self];
        let mut at = self;
        while let Some(up) = at.up {
            chain.push(up);
            at = up;
        }
        chain.reverse();
        chain
    }

    /// The keys and indexes from the root: encoding/json meets the values of a
    /// converted YAML document in this order (object keys sorted).
    fn path(&self) -> Vec<OwnedSeg> {
        self.chain()
            .into_iter()
            .filter_map(|at| match at.seg {
                Seg::Root => None,
                Seg::Key(k) => Some(OwnedSeg::Key(k.to_owned())),
                Seg::Index(i) => Some(OwnedSeg::Index(i)),
            })
            .collect()
    }

    /// `Struct.field.field` as encoding/json's UnmarshalTypeError names the place.
    fn go_context(&self) -> Option<String> {
        let chain = self.chain();
        let strukt = chain.iter().rev().find(|at| !at.strukt.is_empty())?.strukt;
        let fields: Vec<&str> = chain
            .iter()
            .filter(|at| !at.field.is_empty())
            .map(|at| at.field)
            .collect();
        Some(format!("{strukt}.{}", fields.join(".")))
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Path(Vec<OwnedSeg>),
    Order(u64),
}

struct Ranked {
    rank: Rank,
    message: String,
}

// ---------------------------------------------------------------------------------
// Keys

/// A mapping key as go-yaml compares keys for repetition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyValue<'a> {
    Str(Cow<'a, str>),
    Bool(bool),
    Int(i128),
    Float(u64),
    Null,
}

/// The keys of one mapping: a few inline (no allocation for the many small mappings of
/// an index), then a list, then a hash set.
#[derive(Default)]
struct KeySet<'a> {
    inline: [Option<KeyValue<'a>>; 6],
    count: usize,
    more: Vec<KeyValue<'a>>,
    large: Option<HashSet<KeyValue<'a>>>,
}

impl<'a> KeySet<'a> {
    /// False when the key was there already.
    fn insert(&mut self, key: KeyValue<'a>) -> bool {
        if let Some(large) = &mut self.large {
            return large.insert(key);
        }
        if self.inline.iter().flatten().any(|k| *k == key) || self.more.contains(&key) {
            return false;
        }
        if self.count < self.inline.len() {
            self.inline[self.count] = Some(key);
        } else {
            self.more.push(key);
            if self.more.len() > 32 {
                let mut all: HashSet<KeyValue<'a>> = self.more.drain(..).collect();
                all.extend(self.inline.iter_mut().filter_map(Option::take));
                self.large = Some(all);
            }
        }
        self.count += 1;
        true
    }
}

fn key_value<'a>(scalar: &Scalar<'a>) -> Option<KeyValue<'a>> {
    Some(match scalar.kind {
        Kind::Str => KeyValue::Str(scalar.text.clone()),
        Kind::Null => KeyValue::Null,
        Kind::Bool(b) => KeyValue::Bool(b),
        Kind::Int => match go_parse_int(&scalar.text.replace('_', "")) {
            Some(GoInt::I(n)) => KeyValue::Int(i128::from(n)),
            Some(GoInt::U(n)) => KeyValue::Int(i128::from(n)),
            None => KeyValue::Str(scalar.text.clone()),
        },
        Kind::Float => {
            let f = yaml_float(&scalar.text);
            if f.is_nan() {
                return None; // NaN is never equal to itself
            }
            KeyValue::Float(if f == 0.0 { 0 } else { f.to_bits() })
        }
    })
}

/// A key as Go's `%#v` prints it in go-yaml's "already set" message.
fn go_sharp_v(scalar: &Scalar<'_>) -> String {
    match scalar.kind {
        Kind::Str => quote(&scalar.text),
        Kind::Null => "<nil>".to_owned(),
        Kind::Bool(b) => b.to_string(),
        Kind::Int => match go_parse_int(&scalar.text.replace('_', "")) {
            Some(GoInt::I(n)) => n.to_string(),
            Some(GoInt::U(n)) => format!("0x{n:x}"),
            None => scalar.text.to_string(),
        },
        Kind::Float => go_format_g(yaml_float(&scalar.text), false),
    }
}

/// Go's json field matching when no name matches exactly: case-insensitive, with the
/// Unicode letters whose case folds to ASCII (Kelvin sign, long s, dotted and dotless i).
fn go_fold_eq(key: &str, name: &str) -> bool {
    if key.is_ascii() {
        return key.eq_ignore_ascii_case(name);
    }
    let mut folded = key.chars().map(|c| match c {
        '\u{212a}' => 'K',
        '\u{17f}' => 'S',
        '\u{130}' | '\u{131}' => 'I',
        c => c.to_ascii_uppercase(),
    });
    let mut expected = name.chars().map(|c| c.to_ascii_uppercase());
    loop {
        match (folded.next(), expected.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Which of a struct's fields are set, and by which key: with keys differing only in
/// case, encoding/json assigns in its order and the last assignment stays.
#[derive(Default)]
struct Assigned {
    set: u64,
    folded: Vec<(u8, String)>,
}

impl Assigned {
    /// Whether the value under `key` for field `id` (JSON name `name`) replaces what
    /// an earlier key set.
    fn claim(&mut self, id: u8, key: &str, name: &str, mode: Mode) -> bool {
        let bit = 1u64 << id;
        if self.set & bit == 0 {
            self.set |= bit;
            if key != name {
                self.folded.push((id, key.to_owned()));
            }
            return true;
        }
        let slot = self.folded.iter().position(|(f, _)| *f == id);
        let previous = slot.map_or(name, |i| self.folded[i].1.as_str());
        let wins = mode == Mode::Json || key > previous;
        if wins {
            if let Some(i) = slot {
                self.folded.remove(i);
            }
            if key != name {
                self.folded.push((id, key.to_owned()));
            }
        }
        wins
    }
}

// ---------------------------------------------------------------------------------
// The Go structs' fields

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexField {
    ServerInfo,
    ApiVersion,
    Generated,
    Entries,
    PublicKeys,
    Annotations,
}

const INDEX_FIELDS: [(&str, IndexField); 6] = [
    ("serverInfo", IndexField::ServerInfo),
    ("apiVersion", IndexField::ApiVersion),
    ("generated", IndexField::Generated),
    ("entries", IndexField::Entries),
    ("publicKeys", IndexField::PublicKeys),
    ("annotations", IndexField::Annotations),
];

/// ChartVersion's fields: its own, then those promoted from the embedded
/// `*chart.Metadata` (their Go path goes through `Metadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CvField {
    Urls,
    Created,
    Removed,
    Digest,
    Checksum,
    Engine,
    TillerVersion,
    Url,
    Name,
    Home,
    Sources,
    Version,
    Description,
    Keywords,
    Maintainers,
    Icon,
    ApiVersion,
    Condition,
    Tags,
    AppVersion,
    Deprecated,
    Annotations,
    KubeVersion,
    Dependencies,
    Type,
}

/// (JSON name, Go field path, field)
const CV_FIELDS: [(&str, &str, CvField); 25] = [
    ("urls", "urls", CvField::Urls),
    ("created", "created", CvField::Created),
    ("removed", "removed", CvField::Removed),
    ("digest", "digest", CvField::Digest),
    ("checksum", "checksum", CvField::Checksum),
    ("engine", "engine", CvField::Engine),
    ("tillerVersion", "tillerVersion", CvField::TillerVersion),
    ("url", "url", CvField::Url),
    ("name", "Metadata.name", CvField::Name),
    ("home", "Metadata.home", CvField::Home),
    ("sources", "Metadata.sources", CvField::Sources),
    ("version", "Metadata.version", CvField::Version),
    ("description", "Metadata.description", CvField::Description),
    ("keywords", "Metadata.keywords", CvField::Keywords),
    ("maintainers", "Metadata.maintainers", CvField::Maintainers),
    ("icon", "Metadata.icon", CvField::Icon),
    ("apiVersion", "Metadata.apiVersion", CvField::ApiVersion),
    ("condition", "Metadata.condition", CvField::Condition),
    ("tags", "Metadata.tags", CvField::Tags),
    ("appVersion", "Metadata.appVersion", CvField::AppVersion),
    ("deprecated", "Metadata.deprecated", CvField::Deprecated),
    ("annotations", "Metadata.annotations", CvField::Annotations),
    ("kubeVersion", "Metadata.kubeVersion", CvField::KubeVersion),
    (
        "dependencies",
        "Metadata.dependencies",
        CvField::Dependencies,
    ),
    ("type", "Metadata.type", CvField::Type),
];

/// The exact-name lookup, by far the common case (a `match` on the key beats a scan).
fn cv_field_exact(key: &str) -> Option<usize> {
    // By length first: one comparison of bytes, not a string compare per field.
    let candidates: &[usize] = match key.len() {
        3 => &[7],
        4 => &[0, 8, 9, 15, 18, 24],
        6 => &[3, 5],
        7 => &[1, 2, 10, 11],
        8 => &[4, 13],
        9 => &[17],
        10 => &[16, 19, 20],
        11 => &[12, 14, 21, 22],
        12 => &[23],
        13 => &[6],
        _ => return None,
    };
    candidates
        .iter()
        .copied()
        .find(|&i| CV_FIELDS[i].0.as_bytes() == key.as_bytes())
}

/// chart.Metadata's string fields: sigs.k8s.io/yaml looks chart annotation keys up
/// among these (the promoted-field quirk) and so turns their scalar values into strings.
const METADATA_STRING_FIELDS: [&str; 11] = [
    "name",
    "home",
    "version",
    "description",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "kubeVersion",
    "type",
];

const MAINTAINER_FIELDS: [&str; 3] = ["name", "email", "url"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepField {
    Name,
    Version,
    Repository,
    Condition,
    Tags,
    Enabled,
    ImportValues,
    Alias,
}

const DEPENDENCY_FIELDS: [(&str, DepField); 8] = [
    ("name", DepField::Name),
    ("version", DepField::Version),
    ("repository", DepField::Repository),
    ("condition", DepField::Condition),
    ("tags", DepField::Tags),
    ("enabled", DepField::Enabled),
    ("import-values", DepField::ImportValues),
    ("alias", DepField::Alias),
];

fn lookup<T: Copy>(fields: &[(&'static str, T)], key: &str) -> Option<(&'static str, T)> {
    fields
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| fields.iter().find(|(name, _)| go_fold_eq(key, name)))
        .copied()
}

// ---------------------------------------------------------------------------------
// The decoder

/// sigs.k8s.io/yaml + encoding/json over an event source, keeping only what
/// [`IndexFile`] holds, with their errors and their precedence: go-yaml's repeated keys
/// first (all of them), then a key JSON cannot have, then encoding/json's first error
/// that stops decoding (a bad time), then its first saved one (type, unknown field).
struct Decoder<'a, S> {
    src: S,
    mode: Mode,
    repeated: Vec<String>,
    conversion: Option<String>,
    immediate: Option<Ranked>,
    saved: Option<Ranked>,
    order: u64,
    names: Interner,
    _text: std::marker::PhantomData<&'a str>,
}

/// One decoded entry, before `Validate`.
#[derive(Default)]
struct RawEntry<'a> {
    name: Option<Cow<'a, str>>,
    version: Option<Cow<'a, str>>,
    app_version: Option<Cow<'a, str>>,
    api_version: Option<Cow<'a, str>>,
    chart_type: Option<Cow<'a, str>>,
    urls: Option<Vec<Cow<'a, str>>>,
    digest: Option<Cow<'a, str>>,
    created: Option<Cow<'a, str>>,
    deprecated: bool,
    removed: bool,
    /// A null among the maintainers.
    null_maintainer: bool,
    /// The dependencies' names and aliases (None for a null one), for `Validate`.
    dependencies: Vec<Option<(Cow<'a, str>, Cow<'a, str>)>>,
}

#[derive(Default)]
struct RawIndex<'a> {
    api_version: Option<Cow<'a, str>>,
    generated: Option<Cow<'a, str>>,
    entries: BTreeMap<String, Vec<Option<RawEntry<'a>>>>,
    annotations: BTreeMap<String, String>,
    public_keys: Vec<String>,
}

impl<'a, S: Source<'a>> Decoder<'a, S> {
    fn new(src: S, mode: Mode) -> Self {
        Decoder {
            src,
            mode,
            repeated: Vec::new(),
            conversion: None,
            immediate: None,
            saved: None,
            order: 0,
            names: Interner::default(),
            _text: std::marker::PhantomData,
        }
    }

    fn next(&mut self) -> Result<Event<'a>, Abort> {
        self.src.next().map_err(Abort::Source)
    }

    /// Decodes the whole document, then reports the error Helm would.
    fn run(self) -> Result<IndexFile, Abort> {
        self.run_root(false)
    }

    /// With `entries_only`, the document is the value of an index's `entries` (the
    /// charts of a big index read on a thread of their own, see [`read_halves`]).
    fn run_root(mut self, entries_only: bool) -> Result<IndexFile, Abort> {
        let first = self.next()?;
        let empty = matches!(first.ev, Ev::End);
        let mut raw = RawIndex::default();
        match first.ev {
            Ev::End => {}
            Ev::Scalar(s) if s.kind == Kind::Null => {}
            Ev::MapStart if entries_only => {
                let here = ROOT.field("entries", "entries", "IndexFile");
                self.entries(Ev::MapStart, &here, &mut raw.entries, true)?
            }
            Ev::MapStart => self.index(&mut raw)?,
            other => self.mistyped(other, &ROOT, "repo.IndexFile")?,
        }
        if !empty {
            let end = self.next()?;
            if !matches!(end.ev, Ev::End) {
                return Err(Abort::Fatal(IndexError::Yaml(
                    "yaml: did not find expected <document end>".to_owned(),
                )));
            }
        }
        if !self.repeated.is_empty() {
            return Err(Abort::Fatal(IndexError::Yaml(format!(
                "yaml: unmarshal errors:\n  {}",
                self.repeated.join("\n  ")
            ))));
        }
        if let Some(message) = self.conversion.take() {
            return Err(Abort::Fatal(IndexError::Yaml(message)));
        }
        if let Some(error) = self.immediate.take().or(self.saved.take()) {
            return Err(Abort::Fatal(match self.mode {
                Mode::Yaml => IndexError::Decode(error.message),
                Mode::Json => IndexError::Json(error.message),
            }));
        }
        Ok(self.finish(raw))
    }

    /// `loadIndex` after the unmarshal: drop and sort.
    fn finish(mut self, raw: RawIndex<'a>) -> IndexFile {
        let mut index = IndexFile {
            api_version: raw.api_version.map(Cow::into_owned).unwrap_or_default(),
            generated: raw.generated.map(Cow::into_owned).unwrap_or_default(),
            annotations: raw.annotations,
            public_keys: raw.public_keys,
            ..IndexFile::default()
        };
        for (name, versions) in raw.entries {
            let kept = finish_entries(&name, versions, &mut self.names, &mut index.skipped);
            index.entries.insert(name, kept);
        }
        index
    }

    // -- errors ------------------------------------------------------------------

    fn rank(&mut self, at: &At) -> Rank {
        match self.mode {
            Mode::Yaml => Rank::Path(at.path()),
            Mode::Json => {
                self.order += 1;
                Rank::Order(self.order)
            }
        }
    }

    /// An error encoding/json saves and reports if nothing stops it first.
    fn save(&mut self, at: &At, message: String) {
        if self.mode == Mode::Json && self.saved.is_some() {
            return;
        }
        let rank = self.rank(at);
        if self.saved.as_ref().is_none_or(|s| rank < s.rank) {
            self.saved = Some(Ranked { rank, message });
        }
    }

    /// An error that stops encoding/json where it happens.
    fn stop(&mut self, at: &At, message: String) {
        if self.mode == Mode::Json && self.immediate.is_some() {
            return;
        }
        let rank = self.rank(at);
        if self.immediate.as_ref().is_none_or(|s| rank < s.rank) {
            self.immediate = Some(Ranked { rank, message });
        }
    }

    fn type_error(&mut self, at: &At, value: &str, go_type: &str) {
        let message = match at.go_context() {
            Some(place) => {
                format!(
                    "json: cannot unmarshal {value} into Go struct field {place} of type {go_type}"
                )
            }
            None => format!("json: cannot unmarshal {value} into Go value of type {go_type}"),
        };
        self.save(at, message);
    }

    fn unknown_field(&mut self, at: &At, key: &str) {
        if self.mode == Mode::Yaml {
            self.save(at, format!("json: unknown field {}", quote(key)));
        }
    }

    /// A value of the wrong JSON kind for its Go type: the error, and the value skipped.
    fn mistyped(&mut self, ev: Ev<'a>, at: &At, go_type: &str) -> Result<(), Abort> {
        let value = match &ev {
            Ev::MapStart => "object",
            Ev::SeqStart => "array",
            Ev::Scalar(s) => json_kind(s.kind),
            Ev::MapEnd | Ev::SeqEnd | Ev::End => return Err(self.broken()),
        };
        self.type_error(at, value, go_type);
        self.skip(ev)
    }

    /// An error go-yaml stops on; the rest of the text is still read, since a syntax
    /// error anywhere comes first.
    fn fatal(&mut self, error: IndexError) -> Abort {
        loop {
            match self.src.next() {
                Ok(Event { ev: Ev::End, .. }) => return Abort::Fatal(error),
                Ok(_) => {}
                Err(e) => return Abort::Source(e),
            }
        }
    }

    /// Events out of order: a source bug, reported rather than trusted.
    fn broken(&mut self) -> Abort {
        Abort::Source(SourceError::Bail)
    }

    // -- mappings ------------------------------------------------------------------

    /// The next key of a mapping (merge keys, `<<`, splice the merged mappings in, as
    /// go-yaml does), or None at its end.
    fn map_key(&mut self, merges: &mut Vec<bool>) -> Result<Option<Event<'a>>, Abort> {
        loop {
            let event = self.next()?;
            let in_merge_list = merges.last() == Some(&true);
            match event.ev {
                Ev::MapEnd if !in_merge_list => {
                    if merges.pop().is_none() {
                        return Ok(None);
                    }
                }
                Ev::SeqEnd if in_merge_list => {
                    merges.pop();
                }
                Ev::MapStart if in_merge_list => merges.push(false),
                _ if in_merge_list => return Err(self.fatal(merge_error())),
                Ev::Scalar(ref s) if self.mode == Mode::Yaml && s.plain && s.text == "<<" => {
                    let value = self.next()?;
                    match value.ev {
                        Ev::MapStart => merges.push(false),
                        Ev::SeqStart => merges.push(true),
                        _ => return Err(self.fatal(merge_error())),
                    }
                }
                Ev::Scalar(_) => return Ok(Some(event)),
                Ev::MapStart | Ev::SeqStart => {
                    return Err(self.fatal(IndexError::Yaml("yaml: invalid map key".to_owned())))
                }
                Ev::MapEnd | Ev::SeqEnd | Ev::End => return Err(self.broken()),
            }
        }
    }

    /// The key as text, as sigs.k8s.io/yaml writes it into JSON (a conversion error
    /// for a key JSON cannot have).
    fn key_text(&mut self, key: &Scalar<'a>) -> Cow<'a, str> {
        match key.kind {
            Kind::Str => key.text.clone(),
            kind => {
                if kind == Kind::Null
                    || matches!(go_parse_int(&key.text.replace('_', "")), Some(GoInt::U(_)))
                        && kind == Kind::Int
                {
                    let go_type = if kind == Kind::Null {
                        "%!s(<nil>)"
                    } else {
                        "uint64"
                    };
                    if self.conversion.is_none() {
                        self.conversion = Some(format!(
                            "unsupported map key of type: {go_type}, key: {}, value: …",
                            go_sharp_v(key)
                        ));
                    }
                    return Cow::Borrowed("");
                }
                Cow::Owned(yaml_to_string(&key.text, kind))
            }
        }
    }

    /// go-yaml's strict check that a key is not repeated.
    fn check_repeated(&mut self, keys: &mut KeySet<'a>, key: &Scalar<'a>, value_line: usize) {
        if self.mode == Mode::Yaml {
            if let Some(k) = key_value(key) {
                if !keys.insert(k) {
                    self.repeat(key, value_line);
                }
            }
        }
    }

    fn repeat(&mut self, key: &Scalar<'a>, value_line: usize) {
        self.repeated.push(format!(
            "line {value_line}: key {} already set in map",
            go_sharp_v(key)
        ));
    }

    /// Consumes the rest of a node that is not kept, checking its keys as go-yaml does.
    fn skip(&mut self, first: Ev<'a>) -> Result<(), Abort> {
        match first {
            Ev::Scalar(_) => Ok(()),
            Ev::SeqStart => loop {
                let event = self.next()?;
                if matches!(event.ev, Ev::SeqEnd) {
                    return Ok(());
                }
                self.skip(event.ev)?;
            },
            Ev::MapStart => {
                let mut keys = KeySet::default();
                let mut merges = Vec::new();
                while let Some(key) = self.map_key(&mut merges)? {
                    let value = self.next()?;
                    if let Ev::Scalar(k) = &key.ev {
                        self.key_text(k);
                        self.check_repeated(&mut keys, k, value.line);
                    }
                    self.skip(value.ev)?;
                }
                Ok(())
            }
            Ev::MapEnd | Ev::SeqEnd | Ev::End => Err(self.broken()),
        }
    }

    // -- values ------------------------------------------------------------------

    /// A Go string: the text, None for null or a mistyped value (recorded). `convert`
    /// says sigs.k8s.io/yaml makes YAML numbers and booleans strings here.
    fn string(
        &mut self,
        ev: Ev<'a>,
        at: &At,
        convert: bool,
    ) -> Result<Option<Cow<'a, str>>, Abort> {
        match ev {
            Ev::Scalar(s) => Ok(match s.kind {
                Kind::Str => Some(s.text),
                Kind::Null => None,
                kind if convert && self.mode == Mode::Yaml => {
                    Some(Cow::Owned(yaml_to_string(&s.text, kind)))
                }
                kind => {
                    self.type_error(at, json_kind(kind), "string");
                    None
                }
            }),
            other => {
                self.mistyped(other, at, "string")?;
                Ok(None)
            }
        }
    }

    fn boolean(&mut self, ev: Ev<'a>, at: &At) -> Result<Option<bool>, Abort> {
        match ev {
            Ev::Scalar(Scalar {
                kind: Kind::Bool(b),
                ..
            }) => Ok(Some(b)),
            Ev::Scalar(Scalar {
                kind: Kind::Null, ..
            }) => Ok(None),
            other => {
                self.mistyped(other, at, "bool")?;
                Ok(None)
            }
        }
    }

    /// A `time.Time`: RFC 3339 text (kept as written), checked as Go parses it.
    fn time(&mut self, ev: Ev<'a>, at: &At) -> Result<Option<Cow<'a, str>>, Abort> {
        match ev {
            Ev::Scalar(s) if s.kind == Kind::Null => Ok(None),
            Ev::Scalar(s) if s.kind == Kind::Str => {
                if let Some(message) = rfc3339_error(&s.text) {
                    self.stop(at, message);
                }
                Ok(Some(s.text))
            }
            other => {
                self.stop(
                    at,
                    "Time.UnmarshalJSON: input is not a JSON string".to_owned(),
                );
                self.skip(other)?;
                Ok(None)
            }
        }
    }

    /// A `[]string` (a null item is an empty string, as Go leaves it).
    fn strings(
        &mut self,
        ev: Ev<'a>,
        at: &At,
        convert: bool,
    ) -> Result<Option<Vec<Cow<'a, str>>>, Abort> {
        match ev {
            Ev::SeqStart => {
                let mut items = Vec::new();
                loop {
                    let event = self.next()?;
                    if matches!(event.ev, Ev::SeqEnd) {
                        return Ok(Some(items));
                    }
                    let here = at.index(items.len());
                    let item = self.string(event.ev, &here, convert)?;
                    items.push(item.unwrap_or_default());
                }
            }
            Ev::Scalar(s) if s.kind == Kind::Null => Ok(None),
            other => {
                self.mistyped(other, at, "[]string")?;
                Ok(None)
            }
        }
    }

    /// A `map[string]string`; `convert(key)` says whether that key's value becomes a
    /// string when it is a YAML number or boolean. Entries go to `keep` when given.
    fn string_map(
        &mut self,
        ev: Ev<'a>,
        at: &At,
        convert: fn(&str) -> bool,
        mut keep: Option<&mut BTreeMap<String, String>>,
        wins: bool,
    ) -> Result<(), Abort> {
        match ev {
            Ev::MapStart => {
                let mut keys = KeySet::default();
                let mut merges = Vec::new();
                while let Some(key) = self.map_key(&mut merges)? {
                    let value = self.next()?;
                    let Ev::Scalar(k) = key.ev else {
                        return Err(self.broken());
                    };
                    let text = self.key_text(&k);
                    self.check_repeated(&mut keys, &k, value.line);
                    let here = at.key(&text);
                    let v = self.string(value.ev, &here, convert(&text))?;
                    if let (Some(map), Some(v)) = (keep.as_deref_mut(), v) {
                        if wins || !map.contains_key(&*text) {
                            map.insert(text.to_string(), v.into_owned());
                        }
                    }
                }
                Ok(())
            }
            Ev::Scalar(s) if s.kind == Kind::Null => Ok(()),
            other => self.mistyped(other, at, "map[string]string"),
        }
    }

    /// A `map[string]any` or `[]any`: anything goes, only its keys are checked.
    fn anything(&mut self, ev: Ev<'a>, at: &At, map: bool) -> Result<(), Abort> {
        match ev {
            Ev::MapStart if map => self.skip(Ev::MapStart),
            Ev::SeqStart if !map => self.skip(Ev::SeqStart),
            Ev::Scalar(s) if s.kind == Kind::Null => Ok(()),
            other => self.mistyped(
                other,
                at,
                if map {
                    "map[string]interface {}"
                } else {
                    "[]interface {}"
                },
            ),
        }
    }

    // -- the structs ---------------------------------------------------------------

    fn index(&mut self, raw: &mut RawIndex<'a>) -> Result<(), Abort> {
        let mut assigned = Assigned::default();
        let mut keys = KeySet::default();
        let mut merges = Vec::new();
        while let Some(key) = self.map_key(&mut merges)? {
            let value = self.next()?;
            let Ev::Scalar(k) = key.ev else {
                return Err(self.broken());
            };
            let text = self.key_text(&k);
            self.check_repeated(&mut keys, &k, value.line);
            let Some((name, field)) = lookup(&INDEX_FIELDS, &text) else {
                self.unknown_field(&ROOT.key(&text), &text);
                self.skip(value.ev)?;
                continue;
            };
            let here = ROOT.field(&text, name, "IndexFile");
            let wins = assigned.claim(field as u8, &text, name, self.mode);
            match field {
                IndexField::ApiVersion => {
                    if let Some(v) = self.string(value.ev, &here, true)? {
                        if wins {
                            raw.api_version = Some(v);
                        }
                    }
                }
                IndexField::Generated => {
                    if let Some(v) = self.time(value.ev, &here)? {
                        if wins {
                            raw.generated = Some(v);
                        }
                    }
                }
                IndexField::Entries => self.entries(value.ev, &here, &mut raw.entries, wins)?,
                IndexField::PublicKeys => {
                    if let Some(v) = self.strings(value.ev, &here, true)? {
                        if wins {
                            raw.public_keys = v.into_iter().map(Cow::into_owned).collect();
                        }
                    }
                }
                IndexField::Annotations => {
                    self.string_map(value.ev, &here, |_| true, Some(&mut raw.annotations), wins)?
                }
                IndexField::ServerInfo => self.anything(value.ev, &here, true)?,
            }
        }
        Ok(())
    }

    fn entries(
        &mut self,
        ev: Ev<'a>,
        at: &At,
        entries: &mut BTreeMap<String, Vec<Option<RawEntry<'a>>>>,
        wins: bool,
    ) -> Result<(), Abort> {
        match ev {
            Ev::MapStart => {}
            Ev::Scalar(s) if s.kind == Kind::Null => return Ok(()),
            other => return self.mistyped(other, at, "map[string]repo.ChartVersions"),
        }
        let mut keys = KeySet::default();
        let mut merges = Vec::new();
        while let Some(key) = self.map_key(&mut merges)? {
            let value = self.next()?;
            let Ev::Scalar(k) = key.ev else {
                return Err(self.broken());
            };
            let text = self.key_text(&k);
            self.check_repeated(&mut keys, &k, value.line);
            let here = at.key(&text);
            let versions = match value.ev {
                Ev::Scalar(s) if s.kind == Kind::Null => Vec::new(),
                Ev::SeqStart => {
                    let mut versions = Vec::new();
                    loop {
                        let event = self.next()?;
                        let item = here.index(versions.len());
                        match event.ev {
                            Ev::SeqEnd => break,
                            Ev::Scalar(s) if s.kind == Kind::Null => versions.push(None),
                            Ev::MapStart => versions.push(Some(self.chart_version(&item)?)),
                            other => {
                                self.mistyped(other, &item, "repo.ChartVersion")?;
                                versions.push(None);
                            }
                        }
                    }
                    versions
                }
                other => {
                    self.mistyped(other, &here, "repo.ChartVersions")?;
                    continue;
                }
            };
            if wins || !entries.contains_key(&*text) {
                entries.insert(text.into_owned(), versions);
            }
        }
        Ok(())
    }

    fn chart_version(&mut self, at: &At) -> Result<RawEntry<'a>, Abort> {
        let mut entry = RawEntry::default();
        let mut assigned = Assigned::default();
        // Keys that are exactly a field's name can only repeat each other: a bit each.
        let mut exact_seen = 0u64;
        let mut keys = KeySet::default();
        let mut merges = Vec::new();
        while let Some(key) = self.map_key(&mut merges)? {
            let value = self.next()?;
            let Ev::Scalar(k) = key.ev else {
                return Err(self.broken());
            };
            let text = self.key_text(&k);
            let exact = if k.kind == Kind::Str {
                cv_field_exact(&text)
            } else {
                None
            };
            match exact {
                Some(i) if self.mode == Mode::Yaml => {
                    if exact_seen & (1 << i) != 0 {
                        self.repeat(&k, value.line);
                    }
                    exact_seen |= 1 << i;
                }
                Some(_) => {}
                None => self.check_repeated(&mut keys, &k, value.line),
            }
            let index =
                exact.or_else(|| CV_FIELDS.iter().position(|(n, _, _)| go_fold_eq(&text, n)));
            let Some(index) = index else {
                self.unknown_field(&at.key(&text), &text);
                self.skip(value.ev)?;
                continue;
            };
            let (name, go_field, field) = CV_FIELDS[index];
            let here = at.field(&text, go_field, "ChartVersion");
            let wins = assigned.claim(index as u8, &text, name, self.mode);
            macro_rules! set {
                ($slot:expr, $value:expr) => {
                    if let Some(v) = $value {
                        if wins {
                            $slot = Some(v);
                        }
                    }
                };
            }
            match field {
                CvField::Name => set!(entry.name, self.string(value.ev, &here, false)?),
                CvField::Version => set!(entry.version, self.string(value.ev, &here, false)?),
                CvField::AppVersion => {
                    set!(entry.app_version, self.string(value.ev, &here, false)?)
                }
                CvField::ApiVersion => {
                    set!(entry.api_version, self.string(value.ev, &here, false)?)
                }
                CvField::Type => set!(entry.chart_type, self.string(value.ev, &here, false)?),
                CvField::Digest => set!(entry.digest, self.string(value.ev, &here, true)?),
                CvField::Created => set!(entry.created, self.time(value.ev, &here)?),
                CvField::Urls => set!(entry.urls, self.strings(value.ev, &here, true)?),
                CvField::Home
                | CvField::Description
                | CvField::Icon
                | CvField::Condition
                | CvField::Tags
                | CvField::KubeVersion => {
                    self.string(value.ev, &here, false)?;
                }
                CvField::Checksum | CvField::Engine | CvField::TillerVersion | CvField::Url => {
                    self.string(value.ev, &here, true)?;
                }
                CvField::Sources | CvField::Keywords => {
                    self.strings(value.ev, &here, false)?;
                }
                CvField::Deprecated => {
                    if let Some(b) = self.boolean(value.ev, &here)? {
                        if wins {
                            entry.deprecated = b;
                        }
                    }
                }
                CvField::Removed => {
                    if let Some(b) = self.boolean(value.ev, &here)? {
                        if wins {
                            entry.removed = b;
                        }
                    }
                }
                CvField::Annotations => {
                    let convert =
                        |key: &str| METADATA_STRING_FIELDS.iter().any(|f| go_fold_eq(key, f));
                    self.string_map(value.ev, &here, convert, None, wins)?;
                }
                CvField::Maintainers => {
                    if let Some(null) = self.maintainers(value.ev, &here)? {
                        if wins {
                            entry.null_maintainer = null;
                        }
                    }
                }
                CvField::Dependencies => {
                    if let Some(deps) = self.dependencies(value.ev, &here)? {
                        if wins {
                            entry.dependencies = deps;
                        }
                    }
                }
            }
        }
        Ok(entry)
    }

    /// `[]*Maintainer`: whether one is null (None when the list is null or mistyped).
    fn maintainers(&mut self, ev: Ev<'a>, at: &At) -> Result<Option<bool>, Abort> {
        match ev {
            Ev::SeqStart => {}
            Ev::Scalar(s) if s.kind == Kind::Null => return Ok(None),
            other => {
                self.mistyped(other, at, "[]*v2.Maintainer")?;
                return Ok(None);
            }
        }
        let mut null = false;
        let mut i = 0;
        loop {
            let event = self.next()?;
            let item = at.index(i);
            i += 1;
            match event.ev {
                Ev::SeqEnd => return Ok(Some(null)),
                Ev::Scalar(s) if s.kind == Kind::Null => null = true,
                Ev::MapStart => {
                    let mut keys = KeySet::default();
                    let mut merges = Vec::new();
                    while let Some(key) = self.map_key(&mut merges)? {
                        let value = self.next()?;
                        let Ev::Scalar(k) = key.ev else {
                            return Err(self.broken());
                        };
                        let text = self.key_text(&k);
                        self.check_repeated(&mut keys, &k, value.line);
                        let found = MAINTAINER_FIELDS
                            .iter()
                            .find(|n| **n == &*text)
                            .or_else(|| MAINTAINER_FIELDS.iter().find(|n| go_fold_eq(&text, n)));
                        match found {
                            Some(name) => {
                                let here = item.field(&text, name, "Maintainer");
                                self.string(value.ev, &here, false)?;
                            }
                            None => {
                                self.unknown_field(&item.key(&text), &text);
                                self.skip(value.ev)?;
                            }
                        }
                    }
                }
                other => self.mistyped(other, &item, "v2.Maintainer")?,
            }
        }
    }

    /// `[]*Dependency`: each one's name and alias (None for a null one).
    #[allow(clippy::type_complexity)]
    fn dependencies(
        &mut self,
        ev: Ev<'a>,
        at: &At,
    ) -> Result<Option<Vec<Option<(Cow<'a, str>, Cow<'a, str>)>>>, Abort> {
        match ev {
            Ev::SeqStart => {}
            Ev::Scalar(s) if s.kind == Kind::Null => return Ok(None),
            other => {
                self.mistyped(other, at, "[]*v2.Dependency")?;
                return Ok(None);
            }
        }
        let mut deps = Vec::new();
        loop {
            let event = self.next()?;
            let item = at.index(deps.len());
            match event.ev {
                Ev::SeqEnd => return Ok(Some(deps)),
                Ev::Scalar(s) if s.kind == Kind::Null => deps.push(None),
                Ev::MapStart => {
                    let (mut name, mut alias) = (Cow::Borrowed(""), Cow::Borrowed(""));
                    let mut keys = KeySet::default();
                    let mut merges = Vec::new();
                    while let Some(key) = self.map_key(&mut merges)? {
                        let value = self.next()?;
                        let Ev::Scalar(k) = key.ev else {
                            return Err(self.broken());
                        };
                        let text = self.key_text(&k);
                        self.check_repeated(&mut keys, &k, value.line);
                        let Some((field_name, field)) = lookup(&DEPENDENCY_FIELDS, &text) else {
                            self.unknown_field(&item.key(&text), &text);
                            self.skip(value.ev)?;
                            continue;
                        };
                        let here = item.field(&text, field_name, "Dependency");
                        match field {
                            DepField::Name => {
                                if let Some(v) = self.string(value.ev, &here, false)? {
                                    name = v;
                                }
                            }
                            DepField::Alias => {
                                if let Some(v) = self.string(value.ev, &here, false)? {
                                    alias = v;
                                }
                            }
                            DepField::Version | DepField::Repository | DepField::Condition => {
                                self.string(value.ev, &here, false)?;
                            }
                            DepField::Tags => {
                                self.strings(value.ev, &here, false)?;
                            }
                            DepField::Enabled => {
                                self.boolean(value.ev, &here)?;
                            }
                            DepField::ImportValues => self.anything(value.ev, &here, false)?,
                        }
                    }
                    deps.push(Some((name, alias)));
                }
                other => {
                    self.mistyped(other, &item, "v2.Dependency")?;
                    deps.push(Some((Cow::Borrowed(""), Cow::Borrowed(""))));
                }
            }
        }
    }
}

fn merge_error() -> IndexError {
    IndexError::Yaml("yaml: map merge requires map or sequence of maps as the value".to_owned())
}

/// The JSON kind encoding/json names in a type error.
fn json_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "string",
        Kind::Null => "null",
        Kind::Bool(_) => "bool",
        Kind::Int | Kind::Float => "number",
    }
}

// ---------------------------------------------------------------------------------
// Scalars as go-yaml v2 and Go's strconv and time see them

/// go-yaml v2's resolution of a plain scalar: null, YAML 1.1 booleans (`yes`, `on`),
/// integers (`0x1F`, `017`, `1_000`), floats, or a string (timestamps stay strings
/// when decoded into `interface{}`).
fn resolve_plain(text: &str) -> Kind {
    let Some(&first) = text.as_bytes().first() else {
        return Kind::Null;
    };
    match first {
        b'~' | b'n' | b'N' | b'y' | b'Y' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' => match text {
            "~" | "null" | "Null" | "NULL" => Kind::Null,
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                Kind::Bool(true)
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => Kind::Bool(false),
            _ => Kind::Str,
        },
        b'.' | b'+' | b'-' | b'0'..=b'9' => {
            if matches!(
                text,
                ".nan"
                    | ".NaN"
                    | ".NAN"
                    | ".inf"
                    | ".Inf"
                    | ".INF"
                    | "+.inf"
                    | "+.Inf"
                    | "+.INF"
                    | "-.inf"
                    | "-.Inf"
                    | "-.INF"
            ) {
                return Kind::Float;
            }
            let plain = if text.contains('_') {
                Cow::Owned(text.replace('_', ""))
            } else {
                Cow::Borrowed(text)
            };
            if go_parse_int(&plain).is_some() {
                Kind::Int
            } else if is_yaml_float(&plain) && plain.parse::<f64>().is_ok() {
                Kind::Float
            } else {
                Kind::Str
            }
        }
        _ => Kind::Str,
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, go-yaml's float syntax.
fn is_yaml_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum GoInt {
    I(i64),
    U(u64),
}

/// strconv.ParseInt(text, 0, 64), else strconv.ParseUint(text, 0, 64).
fn go_parse_int(text: &str) -> Option<GoInt> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = |s: &str, p: &str| s.len() > 2 && s[..2].eq_ignore_ascii_case(p);
    let (radix, digits) = if lower(unsigned, "0x") {
        (16, &unsigned[2..])
    } else if lower(unsigned, "0b") {
        (2, &unsigned[2..])
    } else if lower(unsigned, "0o") {
        (8, &unsigned[2..])
    } else if unsigned.len() > 1 && unsigned.starts_with('0') {
        (8, &unsigned[1..])
    } else {
        (10, unsigned)
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            return Some(GoInt::I((magnitude as i128).wrapping_neg() as i64));
        }
        return None;
    }
    if text.starts_with('+') {
        return i64::try_from(magnitude).ok().map(GoInt::I);
    }
    Some(match i64::try_from(magnitude) {
        Ok(n) => GoInt::I(n),
        Err(_) => GoInt::U(magnitude),
    })
}

/// The float64 go-yaml makes of a float scalar.
fn yaml_float(text: &str) -> f64 {
    match text {
        ".nan" | ".NaN" | ".NAN" => f64::NAN,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => f64::INFINITY,
        "-.inf" | "-.Inf" | "-.INF" => f64::NEG_INFINITY,
        _ => text.replace('_', "").parse().unwrap_or(0.0),
    }
}

/// The string sigs.k8s.io/yaml writes for a YAML number or boolean headed for a Go
/// string: `strconv.FormatInt`, or `FormatFloat(f, 'g', -1, 32)` (so `1.10` is "1.1").
fn yaml_to_string(text: &str, kind: Kind) -> String {
    match kind {
        Kind::Bool(b) => b.to_string(),
        Kind::Int => match go_parse_int(&text.replace('_', "")) {
            Some(GoInt::I(n)) => n.to_string(),
            Some(GoInt::U(n)) => n.to_string(),
            None => text.to_owned(),
        },
        Kind::Float => {
            let f = yaml_float(text);
            if f.is_nan() {
                ".nan".to_owned()
            } else if f as f32 == f32::INFINITY {
                ".inf".to_owned()
            } else if f as f32 == f32::NEG_INFINITY {
                "-.inf".to_owned()
            } else {
                go_format_g(f, true)
            }
        }
        Kind::Str | Kind::Null => text.to_owned(),
    }
}

/// strconv.FormatFloat(f, 'g', -1, 32 or 64): the shortest digits, in exponent form
/// below 1e-4 and from 1e6 (`1e+07`).
fn go_format_g(f: f64, bits32: bool) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let e = if bits32 {
        format!("{:e}", f as f32)
    } else {
        format!("{f:e}")
    };
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
    } else {
        let dp = exp + 1;
        if dp <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-dp) as usize));
            out.push_str(&digits);
        } else if dp as usize >= digits.len() {
            out.push_str(&digits);
            out.push_str(&"0".repeat(dp as usize - digits.len()));
        } else {
            out.push_str(&digits[..dp as usize]);
            out.push('.');
            out.push_str(&digits[dp as usize..]);
        }
    }
    out
}

/// Go's `time.Parse(time.RFC3339, value)` (what `Time.UnmarshalJSON` does here): None
/// when it parses, else Go's message.
fn rfc3339_error(value: &str) -> Option<String> {
    const LAYOUT: &str = "2006-01-02T15:04:05Z07:00";
    let b = value.as_bytes();
    let mut pos = 0;
    let bad = |at: usize, elem: &str| {
        Some(format!(
            "parsing time {} as {}: cannot parse {} as {}",
            time_quote(b),
            time_quote(LAYOUT.as_bytes()),
            time_quote(&b[at..]),
            time_quote(elem.as_bytes())
        ))
    };
    let range = |what: &str| {
        Some(format!(
            "parsing time {}: {what} out of range",
            time_quote(b)
        ))
    };
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    // getnum: one or two digits (exactly two when fixed).
    let getnum = |at: usize, fixed: bool| -> Option<(u32, usize)> {
        if !digit(at) {
            return None;
        }
        if !digit(at + 1) {
            return (!fixed).then(|| (u32::from(b[at] - b'0'), at + 1));
        }
        Some((
            u32::from(b[at] - b'0') * 10 + u32::from(b[at + 1] - b'0'),
            at + 2,
        ))
    };
    let literal = |at: usize, c: u8| b.get(at) == Some(&c);

    if b.len() < 4 || !digit(0) || !b[..4].iter().all(u8::is_ascii_digit) {
        return bad(0, "2006");
    }
    let year: u32 = value[..4].parse().unwrap_or(0);
    pos += 4;
    if !literal(pos, b'-') {
        return bad(pos, "-");
    }
    pos += 1;
    let Some((month, next)) = getnum(pos, true) else {
        return bad(pos, "01");
    };
    if !(1..=12).contains(&month) {
        return range("month");
    }
    pos = next;
    if !literal(pos, b'-') {
        return bad(pos, "-");
    }
    pos += 1;
    let Some((day, next)) = getnum(pos, true) else {
        return bad(pos, "02");
    };
    pos = next;
    if !literal(pos, b'T') {
        return bad(pos, "T");
    }
    pos += 1;
    let Some((hour, next)) = getnum(pos, false) else {
        return bad(pos, "15");
    };
    if hour >= 24 {
        return range("hour");
    }
    pos = next;
    if !literal(pos, b':') {
        return bad(pos, ":");
    }
    pos += 1;
    let Some((minute, next)) = getnum(pos, true) else {
        return bad(pos, "04");
    };
    if minute >= 60 {
        return range("minute");
    }
    pos = next;
    if !literal(pos, b':') {
        return bad(pos, ":");
    }
    pos += 1;
    let Some((second, next)) = getnum(pos, true) else {
        return bad(pos, "05");
    };
    if second >= 60 {
        return range("second");
    }
    pos = next;
    // A fractional second the layout does not name is still read.
    if matches!(b.get(pos), Some(b'.' | b',')) && digit(pos + 1) {
        pos += 2;
        while digit(pos) {
            pos += 1;
        }
    }
    if literal(pos, b'Z') {
        pos += 1;
    } else {
        let zone = pos;
        if b.len() - pos < 6 || b[pos + 3] != b':' {
            return bad(zone, "Z07:00");
        }
        let hh = getnum(pos + 1, true).filter(|(_, n)| *n == pos + 3);
        let mm = getnum(pos + 4, true).filter(|(_, n)| *n == pos + 6);
        let (Some((hh, _)), Some((mm, _))) = (hh, mm) else {
            return bad(zone, "Z07:00");
        };
        if mm > 60 {
            return range("time zone offset minute");
        }
        if hh > 24 {
            return range("time zone offset hour");
        }
        if !matches!(b[pos], b'+' | b'-') {
            return bad(zone, "Z07:00");
        }
        pos += 6;
    }
    if pos < b.len() {
        return Some(format!(
            "parsing time {}: extra text: {}",
            time_quote(b),
            time_quote(&b[pos..])
        ));
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > days {
        return range("day");
    }
    None
}

/// The time package's quote: ASCII as is (with `"` and `\` escaped), other bytes `\xNN`.
fn time_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &byte in bytes {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(byte as char);
            }
            b' '..=b'~' => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------
// JSON

/// encoding/json's grammar (what `json.Valid` accepts), as events. Strings decode as
/// Go decodes them: invalid UTF-8 and lone surrogates become U+FFFD.
struct JsonSource<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Open containers: true for an object.
    stack: Vec<bool>,
    state: JsonState,
}

#[derive(Clone, Copy, PartialEq)]
enum JsonState {
    Value,
    FirstValueOrEnd,
    Key,
    FirstKeyOrEnd,
    AfterValue,
    Done,
}

impl<'a> JsonSource<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        JsonSource {
            bytes,
            pos: 0,
            stack: Vec::new(),
            state: JsonState::Value,
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn event(ev: Ev<'a>) -> Result<Event<'a>, SourceError> {
        Ok(Event { ev, line: 0 })
    }

    fn scalar(text: Cow<'a, str>, kind: Kind) -> Result<Event<'a>, SourceError> {
        Self::event(Ev::Scalar(Scalar {
            text,
            kind,
            plain: false,
        }))
    }

    fn value(&mut self) -> Result<Event<'a>, SourceError> {
        self.state = JsonState::AfterValue;
        match self.bytes.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                self.stack.push(true);
                self.state = JsonState::FirstKeyOrEnd;
                Self::event(Ev::MapStart)
            }
            Some(b'[') => {
                self.pos += 1;
                self.stack.push(false);
                self.state = JsonState::FirstValueOrEnd;
                Self::event(Ev::SeqStart)
            }
            Some(b'"') => {
                let text = self.string()?;
                Self::scalar(text, Kind::Str)
            }
            Some(b't') => self.literal("true", Kind::Bool(true)),
            Some(b'f') => self.literal("false", Kind::Bool(false)),
            Some(b'n') => self.literal("null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                let text = std::str::from_utf8(&self.bytes[start..self.pos])
                    .map_err(|_| SourceError::NotJson)?;
                Self::scalar(Cow::Borrowed(text), Kind::Float)
            }
            _ => Err(SourceError::NotJson),
        }
    }

    fn literal(&mut self, word: &'static str, kind: Kind) -> Result<Event<'a>, SourceError> {
        if !self.bytes[self.pos..].starts_with(word.as_bytes()) {
            return Err(SourceError::NotJson);
        }
        self.pos += word.len();
        Self::scalar(Cow::Borrowed(word), kind)
    }

    fn number(&mut self) -> Result<(), SourceError> {
        let digits = |s: &mut Self| {
            let start = s.pos;
            while s.bytes.get(s.pos).is_some_and(u8::is_ascii_digit) {
                s.pos += 1;
            }
            s.pos > start
        };
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(SourceError::NotJson),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(SourceError::NotJson);
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(SourceError::NotJson);
            }
        }
        Ok(())
    }

    /// A string at `pos` (the opening quote): borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, SourceError> {
        let start = self.pos + 1;
        let mut i = start;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'"' => {
                    self.pos = i + 1;
                    let raw = &self.bytes[start..i];
                    return Ok(match std::str::from_utf8(raw) {
                        Ok(text) => Cow::Borrowed(text),
                        Err(_) => Cow::Owned(go_lossy(raw)),
                    });
                }
                b'\\' => break,
                0..=0x1f => return Err(SourceError::NotJson),
                _ => i += 1,
            }
        }
        // With escapes: decode into a buffer of bytes, then as Go does.
        let mut out: Vec<u8> = self.bytes[start..i].to_vec();
        loop {
            let Some(&b) = self.bytes.get(i) else {
                return Err(SourceError::NotJson);
            };
            match b {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(Cow::Owned(go_lossy(&out)));
                }
                0..=0x1f => return Err(SourceError::NotJson),
                b'\\' => {
                    let escape = *self.bytes.get(i + 1).ok_or(SourceError::NotJson)?;
                    i += 2;
                    let simple = match escape {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(8),
                        b'f' => Some(12),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return Err(SourceError::NotJson),
                    };
                    if let Some(c) = simple {
                        out.push(c);
                        continue;
                    }
                    let first = self.hex4(i)?;
                    i += 4;
                    let mut c = char::from_u32(first);
                    if (0xd800..0xdc00).contains(&first)
                        && self.bytes.get(i) == Some(&b'\\')
                        && self.bytes.get(i + 1) == Some(&b'u')
                    {
                        if let Ok(second) = self.hex4(i + 2) {
                            if (0xdc00..0xe000).contains(&second) {
                                c = char::from_u32(
                                    0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00),
                                );
                                i += 6;
                            }
                        }
                    }
                    let c = c.unwrap_or('\u{fffd}');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
    }

    fn hex4(&self, at: usize) -> Result<u32, SourceError> {
        let digits = self.bytes.get(at..at + 4).ok_or(SourceError::NotJson)?;
        let text = std::str::from_utf8(digits).map_err(|_| SourceError::NotJson)?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SourceError::NotJson);
        }
        u32::from_str_radix(text, 16).map_err(|_| SourceError::NotJson)
    }
}

/// Bytes as Go's decoder makes them a string: each invalid byte one U+FFFD.
fn go_lossy(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len());
                for _ in 0..bad {
                    out.push('\u{fffd}');
                }
                bytes = &rest[bad..];
            }
        }
    }
}

impl<'a> Source<'a> for JsonSource<'a> {
    fn next(&mut self) -> Result<Event<'a>, SourceError> {
        loop {
            self.skip_space();
            match self.state {
                JsonState::Done => return Self::event(Ev::End),
                JsonState::Value => return self.value(),
                JsonState::FirstValueOrEnd => {
                    if self.bytes.get(self.pos) == Some(&b']') {
                        self.pos += 1;
                        self.stack.pop();
                        self.state = JsonState::AfterValue;
                        return Self::event(Ev::SeqEnd);
                    }
                    return self.value();
                }
                JsonState::Key | JsonState::FirstKeyOrEnd => {
                    match self.bytes.get(self.pos) {
                        Some(b'}') if self.state == JsonState::FirstKeyOrEnd => {
                            self.pos += 1;
                            self.stack.pop();
                            self.state = JsonState::AfterValue;
                            return Self::event(Ev::MapEnd);
                        }
                        Some(b'"') => {}
                        _ => return Err(SourceError::NotJson),
                    }
                    let key = self.string()?;
                    self.skip_space();
                    if self.bytes.get(self.pos) != Some(&b':') {
                        return Err(SourceError::NotJson);
                    }
                    self.pos += 1;
                    self.state = JsonState::Value;
                    return Self::scalar(key, Kind::Str);
                }
                JsonState::AfterValue => {
                    let Some(&object) = self.stack.last() else {
                        if self.pos != self.bytes.len() {
                            return Err(SourceError::NotJson);
                        }
                        self.state = JsonState::Done;
                        continue;
                    };
                    match self.bytes.get(self.pos) {
                        Some(b',') => {
                            self.pos += 1;
                            self.state = if object {
                                JsonState::Key
                            } else {
                                JsonState::Value
                            };
                        }
                        Some(b'}') if object => {
                            self.pos += 1;
                            self.stack.pop();
                            return Self::event(Ev::MapEnd);
                        }
                        Some(b']') if !object => {
                            self.pos += 1;
                            self.stack.pop();
                            return Self::event(Ev::SeqEnd);
                        }
                        _ => return Err(SourceError::NotJson),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Any YAML: yaml-rust2

/// yaml-rust2's events for the first document, aliases replayed (go-yaml copies the
/// anchored node), with go-yaml's limit on alias expansion.
struct YamlSource<'a> {
    parser: Parser<std::str::Chars<'a>>,
    done: bool,
    anchors: HashMap<usize, std::rc::Rc<Vec<Event<'static>>>>,
    /// Anchored nodes being recorded: anchor, depth, events so far.
    recording: Vec<(usize, usize, Vec<Event<'static>>)>,
    replay: Vec<(std::rc::Rc<Vec<Event<'static>>>, usize)>,
    nodes: u64,
    aliased: u64,
}

impl<'a> YamlSource<'a> {
    fn new(text: &'a str) -> Self {
        YamlSource {
            parser: Parser::new_from_str(text),
            done: false,
            anchors: HashMap::new(),
            recording: Vec::new(),
            replay: Vec::new(),
            nodes: 0,
            aliased: 0,
        }
    }

    fn pull(&mut self) -> Result<Option<(Event<'static>, usize)>, SourceError> {
        loop {
            let (event, mark) = self.parser.next_token().map_err(|e| {
                SourceError::Yaml(format!("yaml: line {}: {}", e.marker().line(), e.info()))
            })?;
            let line = mark.line();
            let (ev, anchor) = match event {
                YamlEvent::StreamStart | YamlEvent::DocumentStart | YamlEvent::Nothing => continue,
                YamlEvent::DocumentEnd | YamlEvent::StreamEnd => return Ok(None),
                YamlEvent::Alias(id) => {
                    let Some(events) = self.anchors.get(&id).cloned() else {
                        return Err(SourceError::Yaml(format!(
                            "yaml: line {line}: unknown anchor referenced"
                        )));
                    };
                    self.replay.push((events, 0));
                    return self.replayed().map(|e| e.map(|e| (e, 0)));
                }
                YamlEvent::Scalar(text, style, anchor, tag) => {
                    let tag = tag.as_ref().map(|t| t.suffix.as_str());
                    let plain = style == TScalarStyle::Plain && tag.is_none();
                    let kind = match tag {
                        Some("str" | "binary") => Kind::Str,
                        Some(_) if style == TScalarStyle::Plain => resolve_plain(&text),
                        Some(_) => Kind::Str,
                        None if plain => resolve_plain(&text),
                        None => Kind::Str,
                    };
                    let scalar = Scalar {
                        text: Cow::Owned(text),
                        kind,
                        plain,
                    };
                    (Ev::Scalar(scalar), anchor)
                }
                YamlEvent::SequenceStart(anchor, _) => (Ev::SeqStart, anchor),
                YamlEvent::MappingStart(anchor, _) => (Ev::MapStart, anchor),
                YamlEvent::SequenceEnd => (Ev::SeqEnd, 0),
                YamlEvent::MappingEnd => (Ev::MapEnd, 0),
            };
            if anchor > 0 {
                self.recording.push((anchor, 0, Vec::new()));
            }
            return Ok(Some((Event { ev, line }, anchor)));
        }
    }

    fn replayed(&mut self) -> Result<Option<Event<'static>>, SourceError> {
        while let Some((events, pos)) = self.replay.last_mut() {
            if let Some(event) = events.get(*pos) {
                *pos += 1;
                return Ok(Some(event.clone()));
            }
            self.replay.pop();
        }
        Ok(None)
    }

    /// Adds the event to the anchored nodes being recorded, storing those it completes.
    fn record(&mut self, event: &Event<'static>) {
        let mut finished = Vec::new();
        for (i, (_, depth, events)) in self.recording.iter_mut().enumerate() {
            events.push(event.clone());
            match event.ev {
                Ev::MapStart | Ev::SeqStart => *depth += 1,
                Ev::MapEnd | Ev::SeqEnd => *depth -= 1,
                _ => {}
            }
            if *depth == 0 {
                finished.push(i);
            }
        }
        for i in finished.into_iter().rev() {
            let (anchor, _, events) = self.recording.remove(i);
            self.anchors.insert(anchor, std::rc::Rc::new(events));
        }
    }
}

impl<'a> Source<'a> for YamlSource<'a> {
    fn next(&mut self) -> Result<Event<'a>, SourceError> {
        if self.done {
            return Ok(Event {
                ev: Ev::End,
                line: 0,
            });
        }
        let event = match self.replayed()? {
            Some(event) => {
                self.aliased += 1;
                Some(event)
            }
            None => self.pull()?.map(|(event, _)| event),
        };
        let Some(event) = event else {
            self.done = true;
            return Ok(Event {
                ev: Ev::End,
                line: 0,
            });
        };
        if !matches!(event.ev, Ev::MapEnd | Ev::SeqEnd) {
            self.nodes += 1;
        }
        // go-yaml's guard against alias bombs (allowedAliasRatio).
        if self.aliased > 100 && self.nodes > 1000 {
            let ratio = match self.nodes {
                0..=400_000 => 0.99,
                4_000_000.. => 0.10,
                n => 0.99 - 0.89 * (n - 400_000) as f64 / 3_600_000.0,
            };
            if self.aliased as f64 / self.nodes as f64 > ratio {
                return Err(SourceError::Yaml(
                    "yaml: document contains excessive aliasing".to_owned(),
                ));
            }
        }
        self.record(&event);
        Ok(event)
    }
}

// ---------------------------------------------------------------------------------
// Helm's block YAML, fast

/// The block YAML go-yaml's emitter writes (`helm repo index`, ChartMuseum, Harbor,
/// GitHub Pages charts): block mappings and sequences (a sequence may sit at its key's
/// indentation), plain scalars (folded over lines), single- and double-quoted scalars,
/// literal block scalars (`|`, `|-`, `|+`), `[]` and `{}`, comments. Scalars are
/// borrowed from the text unless folded or escaped.
///
/// Anything else — flow collections, anchors and aliases, tags, folded (`>`) scalars,
/// indentation indicators, complex keys, several documents, odd indentation, and any
/// line that would be a YAML error — makes it give up with [`SourceError::Bail`], and
/// the whole text is read again by yaml-rust2: this scanner never has to be right about
/// what it does not take. (Tabs, carriage returns and Unicode line breaks never reach
/// it: see [`check_characters`].)
struct BlockSource<'a> {
    text: &'a str,
    /// Byte offset of the next unread line.
    pos: usize,
    /// 1-based number of that line.
    line: usize,
    levels: Vec<Level>,
    queue: VecDeque<Event<'a>>,
    /// A `key:` or `-` whose value starts on a later line (or is null).
    pending: Option<Pending>,
    started: bool,
    done: bool,
    /// The last `peek_line` answer, with the position it was asked at.
    peeked: Option<(usize, Option<Peeked<'a>>)>,
}

/// A line with content ahead: the line, where the text after it starts, and whether
/// blank lines came before it.
#[derive(Clone, Copy)]
struct Peeked<'a> {
    line: Line<'a>,
    next: usize,
    blank_before: bool,
}

#[derive(Clone, Copy)]
struct Level {
    indent: usize,
    seq: bool,
}

#[derive(Clone, Copy)]
struct Pending {
    /// The indentation of the mapping or sequence the value belongs to.
    owner: usize,
    /// A mapping value (which may be a sequence at the key's indentation).
    in_map: bool,
    line: usize,
}

/// One line with content: its indentation, the text after it, its number.
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    content: &'a str,
    number: usize,
}

type Scan<T> = Result<T, SourceError>;

fn is_dash(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// The text of a line from `pos`, and where the next one starts.
fn raw_line(text: &str, pos: usize) -> Option<(&str, usize)> {
    if pos >= text.len() {
        return None;
    }
    let rest = &text[pos..];
    Some(match memchr::memchr(b'\n', rest.as_bytes()) {
        Some(i) => (&rest[..i], pos + i + 1),
        None => (rest, text.len()),
    })
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Where a plain scalar on one line stops: at ` #` (a comment); and whether it contains
/// `: ` or ends in `:`, which would make it a mapping (an error in a value).
fn plain_extent(text: &str) -> (usize, bool) {
    let b = text.as_bytes();
    let mut end = b.len();
    let mut colon = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'#' if i > 0 && b[i - 1] == b' ' => {
                end = i;
                break;
            }
            b':' if i + 1 == b.len() || b[i + 1] == b' ' => colon = true,
            _ => {}
        }
    }
    (text[..end].trim_end_matches(' ').len(), colon)
}

/// Whether a plain scalar may start with this text in block context.
fn plain_start_ok(text: &str) -> bool {
    let b = text.as_bytes();
    match b.first() {
        None => false,
        Some(b'-' | b'?' | b':') => b.get(1).is_some_and(|c| *c != b' '),
        Some(
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`',
        ) => false,
        Some(_) => true,
    }
}

impl<'a> BlockSource<'a> {
    fn new(text: &'a str) -> Self {
        BlockSource {
            text,
            pos: 0,
            line: 1,
            levels: Vec::new(),
            queue: VecDeque::new(),
            pending: None,
            started: false,
            done: false,
            peeked: None,
        }
    }

    fn push(&mut self, ev: Ev<'a>, line: usize) {
        self.queue.push_back(Event { ev, line });
    }

    fn push_scalar(&mut self, text: Cow<'a, str>, kind: Kind, plain: bool, line: usize) {
        self.push(Ev::Scalar(Scalar { text, kind, plain }), line);
    }

    /// The next line with content (blank and comment lines skipped), consumed.
    fn content_line(&mut self) -> Scan<Option<Line<'a>>> {
        // The line was usually just peeked at, to see whether a scalar continues.
        if let Some((at, Some(p))) = self.peeked {
            if at == self.pos && !p.line.content.starts_with('#') {
                self.pos = p.next;
                self.line = p.line.number + 1;
                let (indent, content) = (p.line.indent, p.line.content);
                if indent == 0
                    && (content.starts_with("---")
                        || content.starts_with("...")
                        || content.starts_with('%'))
                {
                    return Err(SourceError::Bail);
                }
                return Ok(Some(p.line));
            }
        }
        while let Some((raw, next)) = raw_line(self.text, self.pos) {
            let number = self.line;
            self.pos = next;
            self.line += 1;
            let indent = indent_of(raw);
            let content = &raw[indent..];
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if indent == 0
                && (content.starts_with("---")
                    || content.starts_with("...")
                    || content.starts_with('%'))
            {
                return Err(SourceError::Bail);
            }
            return Ok(Some(Line {
                indent,
                content,
                number,
            }));
        }
        Ok(None)
    }

    /// The next non-blank line (a comment line too), not consumed.
    fn peek_line(&mut self) -> Option<(Line<'a>, usize, bool)> {
        if let Some((at, peeked)) = self.peeked {
            if at == self.pos {
                return peeked.map(|p| (p.line, p.next, p.blank_before));
            }
        }
        let found = self.scan_ahead();
        self.peeked = Some((
            self.pos,
            found.map(|(line, next, blank_before)| Peeked {
                line,
                next,
                blank_before,
            }),
        ));
        found
    }

    fn scan_ahead(&self) -> Option<(Line<'a>, usize, bool)> {
        let mut pos = self.pos;
        let mut number = self.line;
        let mut blank_before = false;
        while let Some((raw, next)) = raw_line(self.text, pos) {
            let indent = indent_of(raw);
            let content = &raw[indent..];
            if !content.is_empty() {
                return Some((
                    Line {
                        indent,
                        content,
                        number,
                    },
                    next,
                    blank_before,
                ));
            }
            blank_before = true;
            pos = next;
            number += 1;
        }
        None
    }

    fn open(&mut self, indent: usize, seq: bool, line: usize) {
        self.levels.push(Level { indent, seq });
        self.push(if seq { Ev::SeqStart } else { Ev::MapStart }, line);
    }

    fn close(&mut self, line: usize) {
        if let Some(level) = self.levels.pop() {
            self.push(if level.seq { Ev::SeqEnd } else { Ev::MapEnd }, line);
        }
    }

    /// Reads one line (or the end) into the queue.
    fn advance(&mut self) -> Scan<()> {
        let Some(l) = self.content_line()? else {
            if let Some(p) = self.pending.take() {
                self.push_scalar(Cow::Borrowed(""), Kind::Null, true, p.line);
            }
            while !self.levels.is_empty() {
                self.close(self.line);
            }
            self.push(Ev::End, self.line);
            self.done = true;
            return Ok(());
        };
        if let Some(p) = self.pending.take() {
            if l.indent > p.owner {
                return self.node(l, Some(p.owner));
            }
            if p.in_map && l.indent == p.owner && is_dash(l.content) {
                self.open(l.indent, true, l.number);
                return self.seq_item(l);
            }
            self.push_scalar(Cow::Borrowed(""), Kind::Null, true, p.line);
        }
        if self.levels.is_empty() {
            if self.started {
                return Err(SourceError::Bail); // more after the root node
            }
            self.started = true;
            return self.node(l, None);
        }
        while self.levels.last().is_some_and(|top| top.indent > l.indent) {
            self.close(l.number);
        }
        // A sequence at its key's indentation ends at the next key.
        if self
            .levels
            .last()
            .is_some_and(|top| top.seq && top.indent == l.indent && !is_dash(l.content))
        {
            self.close(l.number);
        }
        match self.levels.last().copied() {
            Some(top) if top.indent == l.indent => {
                if top.seq {
                    if !is_dash(l.content) {
                        return Err(SourceError::Bail);
                    }
                    self.seq_item(l)
                } else {
                    self.map_entry(l)
                }
            }
            _ => Err(SourceError::Bail),
        }
    }

    /// A node starting at the beginning of line `l`, belonging to the collection at
    /// indentation `owner` (None for the root).
    fn node(&mut self, l: Line<'a>, owner: Option<usize>) -> Scan<()> {
        if is_dash(l.content) {
            self.open(l.indent, true, l.number);
            return self.seq_item(l);
        }
        if let Some((key, rest)) = self.split_key(l.content)? {
            self.open(l.indent, false, l.number);
            self.queue.push_back(Event {
                ev: Ev::Scalar(key),
                line: l.number,
            });
            return self.value(rest, l.number, l.indent, true);
        }
        match owner {
            Some(owner) => self.value(l.content, l.number, owner, false),
            None => Err(SourceError::Bail), // a scalar document
        }
    }

    fn map_entry(&mut self, l: Line<'a>) -> Scan<()> {
        let Some((key, rest)) = self.split_key(l.content)? else {
            return Err(SourceError::Bail);
        };
        self.queue.push_back(Event {
            ev: Ev::Scalar(key),
            line: l.number,
        });
        self.value(rest, l.number, l.indent, true)
    }

    /// `- ...` at `l.indent`, the open sequence's indentation.
    fn seq_item(&mut self, l: Line<'a>) -> Scan<()> {
        let after = &l.content[1..];
        let item = after.trim_start_matches(' ');
        if item.is_empty() || item.starts_with('#') {
            self.pending = Some(Pending {
                owner: l.indent,
                in_map: false,
                line: l.number,
            });
            return Ok(());
        }
        if is_dash(item) {
            return Err(SourceError::Bail); // `- - x`
        }
        let column = l.indent + 1 + (after.len() - item.len());
        if let Some((key, rest)) = self.split_key(item)? {
            self.open(column, false, l.number);
            self.queue.push_back(Event {
                ev: Ev::Scalar(key),
                line: l.number,
            });
            return self.value(rest, l.number, column, true);
        }
        self.value(item, l.number, l.indent, false)
    }

    /// A mapping key at the start of `content`, and the text after its `:`; None when
    /// the line is not a key.
    fn split_key(&mut self, content: &'a str) -> Scan<Option<(Scalar<'a>, &'a str)>> {
        let b = content.as_bytes();
        match b[0] {
            b'"' | b'\'' => {
                let Some((text, after)) = quoted_one_line(content)? else {
                    return Err(SourceError::Bail);
                };
                let rest = after.trim_start_matches(' ');
                if let Some(value) = rest.strip_prefix(':') {
                    if value.is_empty() || value.starts_with(' ') {
                        let key = Scalar {
                            text,
                            kind: Kind::Str,
                            plain: false,
                        };
                        return Ok(Some((key, value)));
                    }
                }
                Ok(None)
            }
            b'?' if b.len() == 1 || b[1] == b' ' => Err(SourceError::Bail),
            _ => {
                // One pass over the (short) key: its `: ` or final `:`, unless a
                // comment comes first.
                for i in 0..b.len() {
                    match b[i] {
                        b':' if i + 1 == b.len() || b[i + 1] == b' ' => {
                            let key = content[..i].trim_end_matches(' ');
                            if !plain_start_ok(key) {
                                return Err(SourceError::Bail);
                            }
                            let scalar = Scalar {
                                text: Cow::Borrowed(key),
                                kind: resolve_plain(key),
                                plain: true,
                            };
                            return Ok(Some((scalar, &content[i + 1..])));
                        }
                        b'#' if i > 0 && b[i - 1] == b' ' => return Ok(None),
                        _ => {}
                    }
                }
                Ok(None)
            }
        }
    }

    /// The value after `key:` or `- ` (`rest`), on line `number`, of the collection at
    /// indentation `owner`.
    fn value(&mut self, rest: &'a str, number: usize, owner: usize, in_map: bool) -> Scan<()> {
        let v = rest.trim_start_matches(' ');
        if v.is_empty() || v.starts_with('#') {
            self.pending = Some(Pending {
                owner,
                in_map,
                line: number,
            });
            return Ok(());
        }
        match v.as_bytes()[0] {
            b'"' | b'\'' => self.quoted(v, number, owner),
            b'|' => self.literal_block(v, number, owner),
            b'[' | b'{' => {
                let (ev_start, ev_end, empty) = if v.starts_with('[') {
                    (Ev::SeqStart, Ev::SeqEnd, "[]")
                } else {
                    (Ev::MapStart, Ev::MapEnd, "{}")
                };
                if v.trim_end_matches(' ') != empty {
                    return Err(SourceError::Bail);
                }
                self.push(ev_start, number);
                self.push(ev_end, number);
                self.no_continuation(owner)
            }
            _ if !plain_start_ok(v) => Err(SourceError::Bail),
            _ => self.plain(v, number, owner),
        }
    }

    /// After a value that cannot continue on the next lines: a more indented line would
    /// be an error (or something this scanner does not take).
    fn no_continuation(&mut self, owner: usize) -> Scan<()> {
        match self.peek_line() {
            Some((l, _, _)) if l.indent > owner && !l.content.starts_with('#') => {
                Err(SourceError::Bail)
            }
            _ => Ok(()),
        }
    }

    fn plain(&mut self, v: &'a str, number: usize, owner: usize) -> Scan<()> {
        let (end, colon) = plain_extent(v);
        if colon && v[..end].contains(':') {
            return Err(SourceError::Bail);
        }
        let first = &v[..end];
        if end < v.trim_end_matches(' ').len() {
            // Ended by a comment: nothing may continue it.
            self.push_scalar(Cow::Borrowed(first), resolve_plain(first), true, number);
            return self.no_continuation(owner);
        }
        let mut folded: Option<String> = None;
        while let Some((l, next, blank_before)) = self.peek_line() {
            if l.indent <= owner || l.content.starts_with('#') {
                break;
            }
            if blank_before {
                return Err(SourceError::Bail); // a folded line break
            }
            let (end, colon) = plain_extent(l.content);
            if colon {
                return Err(SourceError::Bail);
            }
            let part = &l.content[..end];
            let text = folded.get_or_insert_with(|| first.to_owned());
            text.push(' ');
            text.push_str(part);
            self.pos = next;
            self.line = l.number + 1;
            if end < l.content.trim_end_matches(' ').len() {
                break; // a comment ends it
            }
        }
        let text = match folded {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(first),
        };
        let kind = resolve_plain(&text);
        self.push_scalar(text, kind, true, number);
        Ok(())
    }

    /// A quoted scalar starting at `v`, folded over lines when it has to be.
    fn quoted(&mut self, v: &'a str, number: usize, owner: usize) -> Scan<()> {
        if let Some((text, after)) = quoted_one_line(v)? {
            let after = after.trim_start_matches(' ');
            if !(after.is_empty() || after.starts_with('#') && after.len() < v.len()) {
                return Err(SourceError::Bail);
            }
            self.push_scalar(text, Kind::Str, false, number);
            return self.no_continuation(owner);
        }
        // Over several lines: each line break folds to a space (none after an escaped
        // break), leading and trailing spaces of the lines dropped.
        let double = v.starts_with('"');
        let mut out = String::new();
        let mut chunk = &v[1..];
        loop {
            match scan_quoted(chunk, double, &mut out)? {
                QuotedEnd::Closed(after) => {
                    let after = after.trim_start_matches(' ');
                    if !(after.is_empty() || after.starts_with('#')) {
                        return Err(SourceError::Bail);
                    }
                    break;
                }
                QuotedEnd::LineEnd { escaped } => {
                    if !escaped {
                        let kept = out.trim_end_matches(' ').len();
                        out.truncate(kept);
                        out.push(' ');
                    }
                    let Some((raw, next)) = raw_line(self.text, self.pos) else {
                        return Err(SourceError::Bail);
                    };
                    let indent = indent_of(raw);
                    if indent <= owner || raw.len() == indent {
                        return Err(SourceError::Bail);
                    }
                    self.pos = next;
                    self.line += 1;
                    chunk = &raw[indent..];
                }
            }
        }
        self.push_scalar(Cow::Owned(out), Kind::Str, false, number);
        self.no_continuation(owner)
    }

    /// `|`, `|-` or `|+` and the more indented lines under it.
    fn literal_block(&mut self, v: &'a str, number: usize, owner: usize) -> Scan<()> {
        let chomp = match v.trim_end_matches(' ') {
            "|" => Chomp::Clip,
            "|-" => Chomp::Strip,
            "|+" => Chomp::Keep,
            _ => return Err(SourceError::Bail), // indentation indicator or comment
        };
        // The content's indentation is that of its first non-blank line.
        let mut indent = None;
        let mut pos = self.pos;
        let mut leading_blank_max = 0;
        while let Some((raw, next)) = raw_line(self.text, pos) {
            let spaces = indent_of(raw);
            if spaces < raw.len() {
                indent = Some(spaces);
                break;
            }
            leading_blank_max = leading_blank_max.max(spaces);
            pos = next;
        }
        let Some(indent) = indent.filter(|i| *i > owner && *i >= leading_blank_max) else {
            return Err(SourceError::Bail);
        };
        let mut out = String::new();
        while let Some((raw, next)) = raw_line(self.text, self.pos) {
            let spaces = indent_of(raw);
            if spaces < raw.len() && spaces < indent {
                break; // a less indented line ends the scalar
            }
            if next == self.text.len() && !self.text.ends_with('\n') {
                return Err(SourceError::Bail); // no final line break
            }
            if spaces >= indent {
                out.push_str(&raw[indent..]);
            }
            out.push('\n');
            self.pos = next;
            self.line += 1;
        }
        match chomp {
            Chomp::Clip => {
                let kept = out.trim_end_matches('\n').len();
                out.truncate(kept);
                if kept > 0 {
                    out.push('\n');
                }
            }
            Chomp::Strip => {
                let kept = out.trim_end_matches('\n').len();
                out.truncate(kept);
            }
            Chomp::Keep => {}
        }
        self.push_scalar(Cow::Owned(out), Kind::Str, false, number);
        Ok(())
    }
}

enum Chomp {
    Clip,
    Strip,
    Keep,
}

enum QuotedEnd<'a> {
    /// The closing quote, and the text after it.
    Closed(&'a str),
    /// The line ended inside the scalar (after a `\` for an escaped line break).
    LineEnd { escaped: bool },
}

/// A quoted scalar that closes on its line: its text (borrowed when nothing is
/// escaped) and what follows; None when it goes on to the next line.
fn quoted_one_line(v: &str) -> Scan<Option<(Cow<'_, str>, &str)>> {
    let double = v.starts_with('"');
    let body = &v[1..];
    let found = if double {
        memchr::memchr2(b'"', b'\\', body.as_bytes())
    } else {
        memchr::memchr(b'\'', body.as_bytes())
    };
    if let Some(i) = found {
        let closes = if double {
            body.as_bytes()[i] == b'"'
        } else {
            body.as_bytes().get(i + 1) != Some(&b'\'')
        };
        if closes {
            return Ok(Some((Cow::Borrowed(&body[..i]), &body[i + 1..])));
        }
    }
    let mut out = String::new();
    match scan_quoted(body, double, &mut out)? {
        QuotedEnd::Closed(after) => Ok(Some((Cow::Owned(out), after))),
        QuotedEnd::LineEnd { .. } => Ok(None),
    }
}

/// Decodes a quoted scalar's text from `chunk` (one line) into `out`.
fn scan_quoted<'a>(chunk: &'a str, double: bool, out: &mut String) -> Scan<QuotedEnd<'a>> {
    let mut chars = chunk.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if double => return Ok(QuotedEnd::Closed(&chunk[i + 1..])),
            '\'' if !double => {
                if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Ok(QuotedEnd::Closed(&chunk[i + 1..]));
                }
            }
            '\\' if double => {
                let Some((_, e)) = chars.next() else {
                    return Ok(QuotedEnd::LineEnd { escaped: true });
                };
                let hex = |n: usize, chars: &mut std::iter::Peekable<std::str::CharIndices>| {
                    let mut value = 0u32;
                    for _ in 0..n {
                        let digit = chars.next().and_then(|(_, d)| d.to_digit(16));
                        value = value * 16 + digit.ok_or(SourceError::Bail)?;
                    }
                    char::from_u32(value).ok_or(SourceError::Bail)
                };
                out.push(match e {
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    't' => '\t',
                    'n' => '\n',
                    'v' => '\u{b}',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(2, &mut chars)?,
                    'u' => hex(4, &mut chars)?,
                    'U' => hex(8, &mut chars)?,
                    _ => return Err(SourceError::Bail),
                });
            }
            c => out.push(c),
        }
    }
    Ok(QuotedEnd::LineEnd { escaped: false })
}

impl<'a> Source<'a> for BlockSource<'a> {
    fn next(&mut self) -> Result<Event<'a>, SourceError> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(event);
            }
            if self.done {
                return Ok(Event {
                    ev: Ev::End,
                    line: self.line,
                });
            }
            self.advance()?;
        }
    }
}

// ---------------------------------------------------------------------------------
// Chart URLs

/// Helm's `ResolveReferenceURL`: a chart URL from the index resolved against the
/// repository URL, which is taken as a directory (a trailing `/` added); the result
/// keeps the repository URL's query (signed-URL repositories need it) and drops the
/// chart URL's. An absolute chart URL is returned as it is.
pub fn resolve_reference_url(repo_url: &str, chart_url: &str) -> Result<String, IndexError> {
    let parse = |url: &str| {
        GoUrl::parse(url).map_err(|e| {
            IndexError::Url(format!(
                "failed to parse {url} as URL: parse {}: {e}",
                quote(url)
            ))
        })
    };
    let reference = parse(chart_url)?;
    if !reference.scheme.is_empty() {
        return Ok(chart_url.to_owned());
    }
    let mut base = parse(repo_url)?;
    base.raw_path = format!("{}/", base.raw_path.trim_end_matches_once('/'));
    base.path = format!("{}/", base.path.trim_end_matches_once('/'));
    let mut resolved = base.resolve_reference(&reference);
    resolved.raw_query = base.raw_query.clone();
    Ok(resolved.to_string())
}

trait TrimOnce {
    fn trim_end_matches_once(&self, suffix: char) -> &str;
}

impl TrimOnce for String {
    /// strings.TrimSuffix: one suffix, not all of them.
    fn trim_end_matches_once(&self, suffix: char) -> &str {
        self.strip_suffix(suffix).unwrap_or(self)
    }
}

/// The parts of Go's `url.URL` that parsing, `ResolveReference` and `String` use.
#[derive(Debug, Clone, Default)]
struct GoUrl {
    scheme: String,
    opaque: String,
    /// Username and optional password, decoded.
    user: Option<(String, Option<String>)>,
    host: String,
    path: String,
    raw_path: String,
    omit_host: bool,
    force_query: bool,
    raw_query: String,
    fragment: String,
    raw_fragment: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Path,
    Host,
    UserPassword,
    Fragment,
}

fn should_escape(c: u8, mode: Encoding) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Encoding::Host
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Encoding::Path => c == b'?',
                Encoding::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Encoding::Fragment => false,
                Encoding::Host => true,
            }
        }
        _ => {}
    }
    !(mode == Encoding::Fragment && matches!(c, b'!' | b'(' | b')' | b'*'))
}

fn go_escape(s: &str, mode: Encoding) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if should_escape(b, mode) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn go_unescape(s: &str, mode: Encoding) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    let end = (i + 3).min(b.len());
                    return Err(format!(
                        "invalid URL escape {}",
                        quote(&String::from_utf8_lossy(&b[i..end]))
                    ));
                };
                if mode == Encoding::Host && hi < 8 && &s[i..i + 3] != "%25" {
                    return Err(format!("invalid URL escape {}", quote(&s[i..i + 3])));
                }
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            c => {
                if mode == Encoding::Host && c < 0x80 && should_escape(c, mode) {
                    return Err(format!(
                        "invalid character {} in host name",
                        quote(&(c as char).to_string())
                    ));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Whether `s` is a valid escaped form (what `EscapedPath` keeps as written).
fn valid_encoded(s: &str, mode: Encoding) -> bool {
    s.bytes().all(|b| {
        matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(b, mode)
    })
}

impl GoUrl {
    fn parse(raw: &str) -> Result<GoUrl, String> {
        if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err("net/url: invalid control character in URL".to_owned());
        }
        let (rest, fragment) = match raw.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (raw, None),
        };
        let mut url = GoUrl::default();
        url.parse_without_fragment(rest)?;
        if let Some(fragment) = fragment {
            url.fragment = go_unescape(fragment, Encoding::Fragment)?;
            if go_escape(&url.fragment, Encoding::Fragment) != fragment {
                url.raw_fragment = fragment.to_owned();
            }
        }
        Ok(url)
    }

    fn parse_without_fragment(&mut self, raw: &str) -> Result<(), String> {
        if raw == "*" {
            self.path = "*".to_owned();
            return Ok(());
        }
        let (scheme, rest) = get_scheme(raw)?;
        self.scheme = scheme.to_ascii_lowercase();
        let mut rest = rest;
        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            self.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else if let Some((r, q)) = rest.split_once('?') {
            rest = r;
            self.raw_query = q.to_owned();
        }
        if !rest.starts_with('/') {
            if !self.scheme.is_empty() {
                self.opaque = rest.to_owned();
                return Ok(());
            }
            if rest.split('/').next().is_some_and(|s| s.contains(':')) {
                return Err("first path segment in URL cannot contain colon".to_owned());
            }
        }
        if (!self.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let after = &rest[2..];
            let (authority, path) = match after.find('/') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            };
            self.parse_authority(authority)?;
            rest = path;
        } else if !self.scheme.is_empty() && rest.starts_with('/') {
            self.omit_host = true;
        }
        self.set_path(rest)
    }

    fn parse_authority(&mut self, authority: &str) -> Result<(), String> {
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        self.host = parse_host(host)?;
        if let Some(userinfo) = userinfo {
            let valid = userinfo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
            if !valid {
                return Err("net/url: invalid userinfo".to_owned());
            }
            self.user = Some(match userinfo.split_once(':') {
                Some((u, p)) => (
                    go_unescape(u, Encoding::UserPassword)?,
                    Some(go_unescape(p, Encoding::UserPassword)?),
                ),
                None => (go_unescape(userinfo, Encoding::UserPassword)?, None),
            });
        }
        Ok(())
    }

    fn set_path(&mut self, escaped: &str) -> Result<(), String> {
        self.path = go_unescape(escaped, Encoding::Path)?;
        self.raw_path = if go_escape(&self.path, Encoding::Path) == escaped {
            String::new()
        } else {
            escaped.to_owned()
        };
        Ok(())
    }

    fn escaped_path(&self) -> String {
        if !self.raw_path.is_empty()
            && valid_encoded(&self.raw_path, Encoding::Path)
            && go_unescape(&self.raw_path, Encoding::Path).as_deref() == Ok(self.path.as_str())
        {
            return self.raw_path.clone();
        }
        if self.path == "*" {
            return "*".to_owned();
        }
        go_escape(&self.path, Encoding::Path)
    }

    fn escaped_fragment(&self) -> String {
        if !self.raw_fragment.is_empty()
            && valid_encoded(&self.raw_fragment, Encoding::Fragment)
            && go_unescape(&self.raw_fragment, Encoding::Fragment).as_deref()
                == Ok(self.fragment.as_str())
        {
            return self.raw_fragment.clone();
        }
        go_escape(&self.fragment, Encoding::Fragment)
    }

    fn resolve_reference(&self, reference: &GoUrl) -> GoUrl {
        let mut url = reference.clone();
        if reference.scheme.is_empty() {
            url.scheme = self.scheme.clone();
        }
        if !reference.scheme.is_empty() || !reference.host.is_empty() || reference.user.is_some() {
            let _ = url.set_path(&resolve_path(&reference.escaped_path(), ""));
            return url;
        }
        if !reference.opaque.is_empty() {
            url.user = None;
            url.host.clear();
            url.path.clear();
            return url;
        }
        if reference.path.is_empty() && !reference.force_query && reference.raw_query.is_empty() {
            url.raw_query = self.raw_query.clone();
            if reference.fragment.is_empty() {
                url.fragment = self.fragment.clone();
                url.raw_fragment = self.raw_fragment.clone();
            }
        }
        if reference.path.is_empty() && !self.opaque.is_empty() {
            url.opaque = self.opaque.clone();
            url.user = None;
            url.host.clear();
            url.path.clear();
            return url;
        }
        url.host = self.host.clone();
        url.user = self.user.clone();
        let _ = url.set_path(&resolve_path(
            &self.escaped_path(),
            &reference.escaped_path(),
        ));
        url
    }
}

impl std::fmt::Display for GoUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else {
            let no_authority = self.host.is_empty() && self.user.is_none();
            // An authority is written unless there is none to write (or OmitHost).
            if !no_authority || !self.scheme.is_empty() && !self.omit_host {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    out.push_str("//");
                }
                if let Some((user, password)) = &self.user {
                    out.push_str(&go_escape(user, Encoding::UserPassword));
                    if let Some(password) = password {
                        out.push(':');
                        out.push_str(&go_escape(password, Encoding::UserPassword));
                    }
                    out.push('@');
                }
                out.push_str(&go_escape(&self.host, Encoding::Host));
            }
            let path = self.escaped_path();
            if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            if out.is_empty() && path.split('/').next().is_some_and(|s| s.contains(':')) {
                out.push_str("./");
            }
            out.push_str(&path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&self.escaped_fragment());
        }
        f.write_str(&out)
    }
}

fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".to_owned()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_host(host: &str) -> Result<String, String> {
    let port_ok = |port: &str| {
        port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
    };
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".to_owned());
        };
        if !port_ok(&host[i + 1..]) {
            return Err(format!("invalid port {} after host", quote(&host[i + 1..])));
        }
        return Ok(host.to_owned());
    }
    if let Some(i) = host.rfind(':') {
        if !port_ok(&host[i..]) {
            return Err(format!("invalid port {} after host", quote(&host[i..])));
        }
    }
    go_unescape(host, Encoding::Host)
}

/// RFC 3986's merge and dot-segment removal, as Go's `resolvePath`.
fn resolve_path(base: &str, reference: &str) -> String {
    let full = if reference.is_empty() {
        base.to_owned()
    } else if !reference.starts_with('/') {
        let i = base.rfind('/').map_or(0, |i| i + 1);
        format!("{}{reference}", &base[..i])
    } else {
        reference.to_owned()
    };
    if full.is_empty() {
        return String::new();
    }
    let mut dst = String::from("/");
    let mut first = true;
    let mut last = "";
    for elem in full.split('/') {
        last = elem;
        match elem {
            "." => first = false,
            ".." => {
                let index = dst[1..].rfind('/');
                match index {
                    None => {
                        dst.truncate(1);
                        first = true;
                    }
                    Some(i) => dst.truncate(i + 1),
                }
            }
            _ => {
                if !first {
                    dst.push('/');
                }
                dst.push_str(elem);
                first = false;
            }
        }
    }
    if last == "." || last == ".." {
        dst.push('/');
    }
    if dst.len() > 1 && dst.as_bytes()[1] == b'/' {
        dst.remove(0);
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flux_json_form_reads_back_to_the_same_index() {
        let mut index = load_index(LOCAL_INDEX.as_bytes()).expect("index");
        let stored = index.to_flux_json();
        // Go writes a missing time as its zero time, which then reads back.
        const ZERO: &str = "0001-01-01T00:00:00Z";
        index.generated = ZERO.to_owned();
        for version in index.entries.values_mut().flatten() {
            version.created = ZERO.into();
        }
        assert!(
            stored.starts_with("{\n  \"apiVersion\": \"v1\","),
            "{stored}"
        );
        let mut reread = load_index(stored.as_bytes()).expect("stored index reads");
        reread.skipped.clone_from(&index.skipped);
        assert_eq!(reread, index);
    }

    /// A generated index in Helm's layout of `charts` charts with three versions each.
    fn generated_index(charts: usize) -> String {
        let mut text = String::from("apiVersion: v1\nentries:\n");
        for c in 0..charts {
            text.push_str(&format!("  chart-{c}:\n"));
            for v in 0..3 {
                text.push_str(&format!(
                    "  - apiVersion: v2\n    created: \"2024-01-0{}T00:00:00Z\"\n    description: |\n      line one\n        indented: {c}\n    name: chart-{c}\n    urls:\n    - chart-{c}-1.{v}.0.tgz\n    version: 1.{v}.0\n",
                    v + 1
                ));
            }
        }
        text.push_str("generated: \"2024-02-01T00:00:00Z\"\n");
        text
    }

    #[test]
    fn big_indexes_read_in_halves_read_as_in_one_go() {
        let text = generated_index(40);
        let (head, charts, tail) = split_entries(&text).expect("Helm's layout splits");
        assert!(head.starts_with("apiVersion: v1\nentries:\n") && !head.contains("chart-20:"));
        assert!(charts.starts_with("  chart-20:\n") && charts.contains("chart-39:"));
        assert_eq!(tail, "generated: \"2024-02-01T00:00:00Z\"\n");
        let halves = read_halves(&text).expect("read in halves");
        let whole = read_whole_block(&text).expect("read whole");
        assert_eq!(halves, whole);
        assert_eq!(halves.entries.len(), 40);
        assert_eq!(halves.generated, "2024-02-01T00:00:00Z");
    }

    #[test]
    fn anything_unusual_is_read_in_one_go() {
        // A chart key of another shape, a chart in both halves, an invalid entry (its
        // warning must come in Helm's order), an error: no halves.
        let quoted = generated_index(10).replace("  chart-7:\n", "  \"chart-7\":\n");
        assert!(split_entries(&quoted).is_none());
        let repeated = generated_index(10).replace("  chart-8:\n", "  chart-1:\n");
        assert!(read_halves(&repeated).is_none());
        let err = load_index(repeated.as_bytes()).expect_err("a repeated key");
        assert!(err.to_string().contains("already set"), "{err}");
        let invalid = generated_index(10).replace("version: 1.2.0\n", "version: nope\n");
        assert!(read_halves(&invalid).is_none());
        assert_eq!(
            load_index(invalid.as_bytes()).expect("loads").skipped.len(),
            10
        );
    }

    /// An index in Helm's layout (the shape of Helm's testdata/local-index.yaml).
    const LOCAL_INDEX: &str = "apiVersion: v1
entries:
  nginx:
    - urls:
        - https://charts.helm.sh/stable/nginx-0.2.0.tgz
      name: nginx
      description: string
      version: 0.2.0
      home: https://github.com/something/else
      digest: \"sha256:1234567890abcdef\"
      keywords:
        - popular
        - web server
        - proxy
      apiVersion: v2
    - urls:
        - https://charts.helm.sh/stable/nginx-0.1.0.tgz
      name: nginx
      description: string
      version: 0.1.0
      home: https://github.com/something
      digest: \"sha256:1234567890abcdef\"
      keywords:
        - popular
        - web server
        - proxy
      apiVersion: v2
  alpine:
    - urls:
        - https://charts.helm.sh/stable/alpine-1.0.0.tgz
        - http://storage2.googleapis.com/kubernetes-charts/alpine-1.0.0.tgz
      name: alpine
      description: string
      version: 1.0.0
      home: https://github.com/something
      keywords:
        - linux
        - alpine
        - small
        - sumtin
      digest: \"sha256:1234567890abcdef\"
      apiVersion: v2
  chartWithNoURL:
    - name: chartWithNoURL
      description: string
      version: 1.0.0
      home: https://github.com/something
      keywords:
        - small
        - sumtin
      digest: \"sha256:1234567890abcdef\"
      apiVersion: v2
";

    fn entry(name: &str, version: &str) -> String {
        format!("  - name: {name}\n    version: \"{version}\"\n    urls: [{name}-{version}.tgz]\n")
    }

    fn index_of(charts: &[(&str, &[&str])]) -> IndexFile {
        let mut text = String::from("apiVersion: v1\nentries:\n");
        for (name, versions) in charts {
            text.push_str(&format!("  {name}:\n"));
            for v in *versions {
                text.push_str(&entry(name, v));
            }
        }
        load_index(text.as_bytes()).expect("loads")
    }

    fn versions(index: &IndexFile, name: &str) -> Vec<String> {
        index.entries[name]
            .iter()
            .map(|v| v.version.to_string())
            .collect()
    }

    /// Each path on its own, to check they agree.
    fn with_source<'a, S: Source<'a>>(source: S) -> Result<IndexFile, IndexError> {
        finish_read(Decoder::new(source, Mode::Yaml).run())
    }

    #[test]
    fn local_index_like_helms_verify_local_index() {
        let index = load_index(LOCAL_INDEX.as_bytes()).expect("loads");
        assert_eq!(index.api_version, "v1");
        assert_eq!(index.entries.len(), 3);
        assert_eq!(index.entries["alpine"].len(), 1);
        assert_eq!(versions(&index, "nginx"), ["0.2.0", "0.1.0"]);
        let alpine = &index.entries["alpine"][0];
        assert_eq!(&*alpine.name, "alpine");
        assert_eq!(&*alpine.digest, "sha256:1234567890abcdef");
        assert_eq!(alpine.urls.len(), 2);
        assert_eq!(&*alpine.api_version, "v2");
        assert!(index.entries["chartWithNoURL"][0].urls.is_empty());
        assert!(index.skipped.is_empty());
    }

    #[test]
    fn the_block_scanner_and_yaml_rust2_agree() {
        let fast = with_source(BlockSource::new(LOCAL_INDEX)).expect("block scanner");
        let general = with_source(YamlSource::new(LOCAL_INDEX)).expect("yaml-rust2");
        assert_eq!(fast, general);
        let text = "apiVersion: v1\nentries:\n  a:\n  - annotations:\n      images: |\n        - name: a\n\n          image: x\n      note: 'it''s'\n    description: folded over\n      two lines\n    digest: \"sha\\u0041\"\n    name: a\n    urls:\n    - a.tgz\n    version: 1.0.0\n  b: []\n";
        let fast = with_source(BlockSource::new(text)).expect("block scanner");
        let general = with_source(YamlSource::new(text)).expect("yaml-rust2");
        assert_eq!(fast, general);
        assert_eq!(&*fast.entries["a"][0].digest, "shaA");
    }

    #[test]
    fn the_block_scanner_gives_up_rather_than_guess() {
        for text in [
            "apiVersion: v1\nentries: {a: []}\n",
            "apiVersion: &v v1\nentries: {}\n",
            "apiVersion: v1\nentries:\n  a:\n  - - x\n",
            "apiVersion: v1\n---\nentries: {}\n",
            "apiVersion: >\n  v1\n",
            "apiVersion: |2\n   v1\n",
            "? apiVersion\n: v1\n",
        ] {
            let mut source = BlockSource::new(text);
            let outcome = loop {
                match source.next() {
                    Ok(Event { ev: Ev::End, .. }) => break None,
                    Ok(_) => {}
                    Err(e) => break Some(e),
                }
            };
            assert!(matches!(outcome, Some(SourceError::Bail)), "{text:?}");
        }
    }

    #[test]
    fn versions_sort_newest_first_like_sort_entries() {
        let index = index_of(&[
            ("cutter", &["0.1.1", "0.1.0", "0.2.0"]),
            (
                "setter",
                &["0.1.9+alpha", "0.1.9+beta", "0.1.8", "0.1.8+beta"],
            ),
            ("mixed", &["1.0.0-rc.1", "v1.2", "1", "1.10.0", "1.9.0"]),
        ]);
        assert_eq!(versions(&index, "cutter"), ["0.2.0", "0.1.1", "0.1.0"]);
        // Equal precedence keeps the order of the file (insertion sort for few).
        assert_eq!(
            versions(&index, "setter"),
            ["0.1.9+alpha", "0.1.9+beta", "0.1.8", "0.1.8+beta"]
        );
        assert_eq!(
            versions(&index, "mixed"),
            ["1.10.0", "1.9.0", "v1.2", "1", "1.0.0-rc.1"]
        );
    }

    #[test]
    fn go_sort_matches_a_correct_sort_on_many_items() {
        let mut items: Vec<u32> = (0..500).map(|i| (i * 7919 + 13) % 263).collect();
        go_sort(&mut items, |a, b| a < b);
        assert!(items.windows(2).all(|w| w[0] <= w[1]));
        let mut reversed: Vec<u32> = (0..300).rev().collect();
        go_sort(&mut reversed, |a, b| a < b);
        assert_eq!(reversed, (0..300).collect::<Vec<_>>());
    }

    #[test]
    fn get_exact_range_and_missing() {
        let index = index_of(&[
            (
                "setter",
                &["0.1.9+alpha", "0.1.9+beta", "0.1.8", "0.1.8+beta"],
            ),
            ("alpha", &["1.0.0", "1.2.0", "2.0.0-rc.1", "1.10.0"]),
        ]);
        assert_eq!(
            &*index.get("setter", "0.1.9+alpha").expect("exact").version,
            "0.1.9+alpha"
        );
        assert_eq!(
            &*index.get("setter", "0.1.8").expect("exact").version,
            "0.1.8"
        );
        // No exact match: the newest that satisfies it (build metadata ignored).
        assert_eq!(
            &*index.get("setter", "0.1.9").expect("range").version,
            "0.1.9+alpha"
        );
        assert_eq!(
            &*index.get("alpha", "").expect("latest stable").version,
            "1.10.0"
        );
        assert_eq!(
            &*index.get("alpha", "^1.0.0").expect("caret").version,
            "1.10.0"
        );
        assert_eq!(
            &*index.get("alpha", "~1.2").expect("tilde").version,
            "1.2.0"
        );
        assert_eq!(
            &*index.get("alpha", ">=2.0.0-0").expect("pre").version,
            "2.0.0-rc.1"
        );
        assert!(index.has("alpha", "1.2.0"));
        assert_eq!(
            index.get("alpha", "^3").unwrap_err().to_string(),
            "no chart version found for alpha-^3"
        );
        assert_eq!(index.get("nope", "").unwrap_err(), IndexError::NoChartName);
        assert!(matches!(
            index.get("alpha", "not a constraint"),
            Err(IndexError::Constraint(_))
        ));
    }

    #[test]
    fn empty_versions_and_nil_entries() {
        let text = "apiVersion: v1\nentries:\n  grafana:\n  - apiVersion: v2\n    name: grafana\n  - null\n  foo:\n  -\n  bar:\n  - digest: \"sha256:1234567890abcdef\"\n    urls:\n    - https://charts.helm.sh/stable/alpine-1.0.0.tgz\n";
        let index = load_index(text.as_bytes()).expect("loads, as Helm's TestLoadIndex_EmptyEntry");
        assert!(index.entries.values().all(Vec::is_empty));
        assert_eq!(index.get("foo", ""), Err(IndexError::NoChartVersion));
        assert_eq!(index.skipped.len(), 4);
        assert!(index.skipped.iter().any(|w| w.contains("empty entry")));
        assert!(index
            .skipped
            .iter()
            .any(|w| w.contains("chart.metadata.version is required")));
    }

    #[test]
    fn invalid_entries_are_dropped_duplicate_dependencies_are_not() {
        let text = "apiVersion: v1\nentries:\n  nginx:\n    - urls: [a]\n      name: alpine\n      description: string\n      home: https://github.com/something\n    - urls: [b]\n      name: nginx\n      version: 0.2.0\n      dependencies:\n      - {name: d, alias: x}\n      - {name: e, alias: x}\n    - name: nginx\n      version: bad\n    - name: a/b\n      version: 1.0.0\n    - name: nginx\n      version: 1.0.0\n      type: plugin\n";
        let index = load_index(text.as_bytes()).expect("loads");
        assert_eq!(versions(&index, "nginx"), ["0.2.0"]);
        assert_eq!(index.skipped.len(), 4);
    }

    #[test]
    fn errors_are_helms() {
        assert_eq!(load_index(b""), Err(IndexError::Empty));
        assert_eq!(load_index(b"entries: {}\n"), Err(IndexError::NoApiVersion));
        let duplicates = "apiVersion: v1\nentries:\n  nginx:\n    - name: nginx\n      version: 0.2.0\n  nginx:\n    - name: alpine\n      version: 1.0.0\n";
        assert_eq!(
            load_index(duplicates.as_bytes()).unwrap_err().to_string(),
            "error converting YAML to JSON: yaml: unmarshal errors:\n  line 7: key \"nginx\" already set in map"
        );
        assert_eq!(
            load_index(b"apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    license: MIT\n")
                .unwrap_err()
                .to_string(),
            "error unmarshaling JSON: while decoding JSON: json: unknown field \"license\""
        );
        assert_eq!(
            load_index(b"apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.10\n")
                .unwrap_err()
                .to_string(),
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number into Go struct field ChartVersion.entries.Metadata.version of type string"
        );
        assert!(matches!(
            load_index(b"apiVersion: v1\nentries:\n  a: [\n"),
            Err(IndexError::Yaml(_))
        ));
    }

    #[test]
    fn json_index() {
        let text = r#"{"apiVersion": "v1", "entries": {"nginx": [{"name": "nginx", "version": "0.1.0", "urls": ["n-0.1.0.tgz"]}, {"name": "nginx", "version": "0.2.0", "unknown": true}], "alpine": []}, "generated": "2016-10-06T16:23:20Z"}"#;
        let index = load_index(text.as_bytes()).expect("loads");
        assert_eq!(versions(&index, "nginx"), ["0.2.0", "0.1.0"]);
        assert_eq!(index.generated, "2016-10-06T16:23:20Z");
        assert_eq!(
            load_index(br#"{"apiVersion": "v1", "entries": {"a": [{"name": "a", "version": 1}]}}"#)
                .unwrap_err()
                .to_string(),
            "json: cannot unmarshal number into Go struct field ChartVersion.entries.Metadata.version of type string"
        );
    }

    #[test]
    fn any_yaml_works() {
        let flow = "{apiVersion: v1, entries: {a: [{name: a, version: 1.0.0, urls: [u]}]}}";
        assert_eq!(
            versions(&load_index(flow.as_bytes()).expect("flow"), "a"),
            ["1.0.0"]
        );
        let anchors =
            "apiVersion: v1\nentries:\n  a:\n  - &x {name: a, version: 1.0.0}\n  b: [*x]\n";
        let index = load_index(anchors.as_bytes()).expect("anchors");
        assert_eq!(&*index.entries["b"][0].name, "a");
        let tabs = "apiVersion: v1\nentries:\n  a:\n  - name: a\n    description: a\tb\n    version: 1.0.0\n";
        assert_eq!(
            versions(&load_index(tabs.as_bytes()).expect("tab"), "a"),
            ["1.0.0"]
        );
    }

    #[test]
    fn scalars_resolve_as_go_yaml_v2() {
        assert_eq!(resolve_plain("yes"), Kind::Bool(true));
        assert_eq!(resolve_plain("Off"), Kind::Bool(false));
        assert_eq!(resolve_plain("~"), Kind::Null);
        assert_eq!(resolve_plain("0x1F"), Kind::Int);
        assert_eq!(resolve_plain("1_000"), Kind::Int);
        assert_eq!(resolve_plain("08"), Kind::Float);
        assert_eq!(resolve_plain("1.2.3"), Kind::Str);
        assert_eq!(resolve_plain("2016-10-06"), Kind::Str);
        assert_eq!(yaml_to_string("1.10", Kind::Float), "1.1");
        assert_eq!(yaml_to_string("017", Kind::Int), "15");
        assert_eq!(yaml_to_string("1e7", Kind::Float), "1e+07");
        assert_eq!(yaml_to_string("3.14159265358979", Kind::Float), "3.1415927");
        assert_eq!(go_format_g(0.0001, false), "0.0001");
        assert_eq!(go_format_g(0.00001, false), "1e-05");
    }

    #[test]
    fn field_lookup_by_length_covers_every_field() {
        for (i, (name, _, _)) in CV_FIELDS.iter().enumerate() {
            assert_eq!(cv_field_exact(name), Some(i), "{name}");
        }
        assert_eq!(cv_field_exact("license"), None);
        assert!(go_fold_eq("VERSION", "version"));
        assert!(go_fold_eq("\u{212a}eywords", "keywords"));
    }

    #[test]
    fn times_as_go_parses_rfc3339() {
        assert_eq!(rfc3339_error("2016-10-06T16:23:20.499814565-06:00"), None);
        assert_eq!(rfc3339_error("2016-10-06T6:23:20,5Z"), None);
        assert_eq!(
            rfc3339_error("2016-10-06").as_deref(),
            Some("parsing time \"2016-10-06\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\" as \"T\"")
        );
        assert_eq!(
            rfc3339_error("2016-02-30T16:23:20Z").as_deref(),
            Some("parsing time \"2016-02-30T16:23:20Z\": day out of range")
        );
        assert_eq!(
            rfc3339_error("2016-13-06T16:23:20Z").as_deref(),
            Some("parsing time \"2016-13-06T16:23:20Z\": month out of range")
        );
    }

    #[test]
    fn relative_urls_as_resolve_reference_url() {
        for (base, reference, expected) in [
            (
                "http://localhost:8123/",
                "/nginx-0.2.0.tgz",
                "http://localhost:8123/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts/",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts/",
                "/nginx-0.2.0.tgz",
                "http://localhost:8123/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts-with-no-trailing-slash",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts-with-no-trailing-slash/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123",
                "https://charts.helm.sh/stable/nginx-0.2.0.tgz",
                "https://charts.helm.sh/stable/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts%2fwith%2fescaped%2fslash",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts%2fwith%2fescaped%2fslash/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts%2fwith%2fescaped%2fslash",
                "/nginx-0.2.0.tgz",
                "http://localhost:8123/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts?with=queryparameter",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts/nginx-0.2.0.tgz?with=queryparameter",
            ),
            (
                "http://localhost:8123/charts?with=queryparameter",
                "/nginx-0.2.0.tgz",
                "http://localhost:8123/nginx-0.2.0.tgz?with=queryparameter",
            ),
            (
                "https://user:p%40ss@example.com/a/b",
                "../c/x.tgz?sig=1",
                "https://user:p%40ss@example.com/a/c/x.tgz",
            ),
            (
                "https://example.com/charts",
                "sub dir/x.tgz",
                "https://example.com/charts/sub%20dir/x.tgz",
            ),
        ] {
            assert_eq!(
                resolve_reference_url(base, reference).expect("resolves"),
                expected,
                "{base} + {reference}"
            );
        }
        assert_eq!(
            resolve_reference_url("https://example.com", "1a:b/x.tgz").unwrap_err().to_string(),
            "failed to parse 1a:b/x.tgz as URL: parse \"1a:b/x.tgz\": first path segment in URL cannot contain colon"
        );
        assert!(resolve_reference_url("http://host:port/", "x.tgz").is_err());
        // An absolute chart URL (a scheme) is kept as written.
        assert_eq!(
            resolve_reference_url("https://example.com", "a:b/x.tgz").expect("absolute"),
            "a:b/x.tgz"
        );
    }
}
