//! Rendering a chart as Helm's engine does: values coalesced over the chart's
//! defaults, every template parsed into one set (deepest paths first, as Helm sorts
//! them), each non-partial template executed with `.Values`, `.Release`, `.Chart`,
//! `.Capabilities`, `.Files`, `.Template` and `.Subcharts`, and `<no value>` erased.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferroflux_gotemplate::{MapRef, Object, Value};

use crate::chart::Chart;
use crate::{errors, funcs, values};

/// The Kubernetes version Helm 4.2.3 assumes offline.
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";
/// What `.Capabilities.HelmVersion.Version` says.
const HELM_VERSION: &str = "v4.2";
const API_VERSIONS: &str = include_str!("api_versions.txt");

/// The live cluster as a chart's `lookup` sees it: (apiVersion, kind, namespace,
/// name) → the object as JSON, a `…List` with `items` when the name is empty, `{}`
/// when there is none; an error fails the render.
pub type LookupFn =
    dyn Fn(&str, &str, &str, &str) -> Result<serde_json::Value, String> + Send + Sync;

/// A cluster for `lookup` (without one, as `helm template`, it finds nothing).
#[derive(Clone)]
pub struct ClusterLookup(pub std::sync::Arc<LookupFn>);

impl std::fmt::Debug for ClusterLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterLookup")
    }
}

/// What a render is told about the release and the cluster.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_upgrade: bool,
    pub kube_version: String,
    /// Added to the default API versions (`--api-versions`).
    pub api_versions: Vec<String>,
    pub strict: bool,
    /// What `lookup` reads; None renders offline.
    pub lookup: Option<ClusterLookup>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            name: "release-name".to_owned(),
            namespace: "default".to_owned(),
            revision: 1,
            is_upgrade: false,
            kube_version: DEFAULT_KUBE_VERSION.to_owned(),
            api_versions: Vec::new(),
            strict: false,
            lookup: None,
        }
    }
}

/// Renders `chart` with user `values`: template path → output, partials left out.
pub fn render(
    chart: &Chart,
    values: &Value,
    options: &RenderOptions,
) -> Result<BTreeMap<String, String>, String> {
    funcs::on_render_stack(|| render_here(chart, values, options))?
}

/// A chart's templates parsed once, to render many times (every reconcile of a
/// release renders the same chart again; only the values change).
pub struct Prepared {
    templates: ferroflux_gotemplate::Templates,
}

/// The chart's templates with the data each runs with, in Helm's parse order
/// (deeper paths first, and among equals in reverse order).
fn renderables(chart: &Chart, top: &Value) -> Vec<(String, String, Value, String)> {
    let mut renderables: Vec<(String, String, Value, String)> = Vec::new();
    collect(chart, top, "", &mut renderables);
    renderables.sort_by(|a, b| {
        let (da, db) = (a.0.matches('/').count(), b.0.matches('/').count());
        db.cmp(&da).then_with(|| b.0.cmp(&a.0))
    });
    renderables
}

/// Parses every template of `chart` (and its subcharts) into one set.
pub fn prepare(chart: &Chart) -> Result<Prepared, String> {
    let mut templates = funcs::chart_templates(false);
    for (name, text, _, _) in renderables(chart, &Value::map(BTreeMap::new())) {
        templates
            .parse(&name, &text)
            .map_err(|e| errors::parse_error(&name, &e))?;
    }
    Ok(Prepared { templates })
}

/// Renders a prepared chart with user `values` (on a thread with a large stack).
pub fn render_prepared(
    chart: &Chart,
    prepared: &Prepared,
    values: &Value,
    options: &RenderOptions,
) -> Result<BTreeMap<String, String>, String> {
    funcs::on_render_stack(|| {
        let values = Value::Map(values::coalesce_values(chart, values).map_err(|e| e.to_string())?);
        execute_all(chart, prepared, values, options)
    })?
}

/// [`render`] on the current thread.
fn render_here(
    chart: &Chart,
    values: &Value,
    options: &RenderOptions,
) -> Result<BTreeMap<String, String>, String> {
    let prepared = prepare(chart)?;
    let values = Value::Map(values::coalesce_values(chart, values).map_err(|e| e.to_string())?);
    execute_all(chart, &prepared, values, options)
}

/// Renders `chart` with values already coalesced over its defaults (what an
/// install does after checking them against the schemas).
pub fn render_coalesced(
    chart: &Chart,
    coalesced: &Value,
    options: &RenderOptions,
) -> Result<BTreeMap<String, String>, String> {
    funcs::on_render_stack(|| {
        let prepared = prepare(chart)?;
        execute_all(chart, &prepared, coalesced.clone(), options)
    })?
}

fn execute_all(
    chart: &Chart,
    prepared: &Prepared,
    values: Value,
    options: &RenderOptions,
) -> Result<BTreeMap<String, String>, String> {
    let top = top_values(chart, values, options);
    // A copy of the set: `tpl` and the missing-key option must not leak into the
    // next render.
    let mut templates = prepared.templates.clone();
    if let Some(lookup) = &options.lookup {
        funcs::add_live_lookup(&mut templates, lookup.clone());
    }
    templates.missing_key = if options.strict {
        ferroflux_gotemplate::MissingKey::Error
    } else {
        ferroflux_gotemplate::MissingKey::Zero
    };
    let mut out = BTreeMap::new();
    for (name, _, data, base_path) in &renderables(chart, &top) {
        let file = name.rsplit('/').next().unwrap_or(name);
        if file.starts_with('_') {
            continue;
        }
        if let Value::Map(map) = data {
            let mut template = BTreeMap::new();
            template.insert("Name".to_owned(), Value::from(name.as_str()));
            template.insert("BasePath".to_owned(), Value::from(base_path.as_str()));
            map.insert(
                "Template",
                Value::Map(MapRef::named("common.Values", template)),
            );
        }
        let rendered = templates
            .execute(name, data)
            .map_err(|e| errors::exec_error(name, &e))?;
        out.insert(name.clone(), rendered.replace("<no value>", ""));
    }
    Ok(out)
}

/// The templates of a chart and its subcharts, with the data each is executed with.
fn collect(
    chart: &Chart,
    parent: &Value,
    prefix: &str,
    out: &mut Vec<(String, String, Value, String)>,
) {
    let path = if prefix.is_empty() {
        chart.name()
    } else {
        format!("{prefix}/charts/{}", chart.name())
    };
    let is_root = prefix.is_empty();
    let parent_map = match parent {
        Value::Map(map) => map.snapshot(),
        _ => BTreeMap::new(),
    };
    let mut data = BTreeMap::new();
    data.insert("Chart".to_owned(), chart_map(chart, is_root));
    data.insert(
        "Files".to_owned(),
        Value::Object(Arc::new(Files(chart.files.clone()))),
    );
    for key in ["Release", "Capabilities"] {
        data.insert(
            key.to_owned(),
            parent_map.get(key).cloned().unwrap_or(Value::Nil),
        );
    }
    let values = if is_root {
        parent_map.get("Values").cloned().unwrap_or(Value::Nil)
    } else {
        match parent_map.get("Values") {
            Some(Value::Map(parent_values)) => match parent_values.get(&chart.name()) {
                Some(Value::Map(own)) => Value::Map(MapRef::named("common.Values", own.snapshot())),
                _ => Value::Map(MapRef::named("common.Values", BTreeMap::new())),
            },
            _ => Value::Map(MapRef::named("common.Values", BTreeMap::new())),
        }
    };
    data.insert("Values".to_owned(), values);
    let subcharts = MapRef::new(BTreeMap::new());
    data.insert("Subcharts".to_owned(), Value::Map(subcharts.clone()));
    let data = Value::map(data);
    for dependency in &chart.dependencies {
        let mut sub = Vec::new();
        collect(dependency, &data, &path, &mut sub);
        if let Some((_, _, sub_data, _)) = sub.first() {
            subcharts.insert(dependency.name(), sub_data.clone());
        }
        out.extend(sub);
    }
    for (name, text) in &chart.templates {
        if chart.is_library() && !name.rsplit('/').next().unwrap_or("").starts_with('_') {
            continue;
        }
        out.push((
            format!("{path}/{name}"),
            text.clone(),
            data.clone(),
            format!("{path}/templates"),
        ));
    }
}

/// Release, Capabilities and the coalesced Values (Helm's ToRenderValues).
fn top_values(_chart: &Chart, values: Value, options: &RenderOptions) -> Value {
    let mut release = BTreeMap::new();
    release.insert("Name".to_owned(), Value::from(options.name.as_str()));
    release.insert(
        "Namespace".to_owned(),
        Value::from(options.namespace.as_str()),
    );
    release.insert("Revision".to_owned(), Value::Int(options.revision));
    release.insert("IsUpgrade".to_owned(), Value::Bool(options.is_upgrade));
    release.insert("IsInstall".to_owned(), Value::Bool(!options.is_upgrade));
    release.insert("Service".to_owned(), Value::from("Helm"));
    let mut api_versions: Vec<String> = API_VERSIONS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect();
    api_versions.extend(options.api_versions.iter().cloned());
    let capabilities = Capabilities {
        kube_version: options.kube_version.clone(),
        api_versions,
    };
    let values = match values {
        Value::Map(map) => Value::Map(MapRef::named("common.Values", map.snapshot())),
        other => other,
    };
    let mut top = BTreeMap::new();
    top.insert("Release".to_owned(), Value::map(release));
    top.insert(
        "Capabilities".to_owned(),
        Value::Object(Arc::new(capabilities)),
    );
    top.insert("Values".to_owned(), values);
    Value::map(top)
}

/// `.Chart`: Chart.yaml as Helm 4's MetadataAsMap gives it (Go field names, every
/// field present).
fn chart_map(chart: &Chart, is_root: bool) -> Value {
    let meta = match &chart.metadata {
        Value::Map(map) => map.snapshot(),
        _ => BTreeMap::new(),
    };
    let text = |key: &str| Value::from(meta.get(key).and_then(Value::as_str).unwrap_or_default());
    let list = |key: &str| match meta.get(key) {
        Some(Value::List(items)) => Value::List(items.clone()),
        _ => Value::list(Vec::new()),
    };
    let maps_of = |key: &str, fields: &[(&str, &str)]| match meta.get(key) {
        Some(Value::List(items)) => Value::list(
            items
                .iter()
                .map(|item| {
                    let source = match item {
                        Value::Map(m) => m.snapshot(),
                        _ => BTreeMap::new(),
                    };
                    Value::map(
                        fields
                            .iter()
                            .map(|(go, yaml)| {
                                let value =
                                    source.get(*yaml).cloned().unwrap_or_else(|| match *go {
                                        "Tags" | "ImportValues" => Value::list(Vec::new()),
                                        "Enabled" => Value::Bool(false),
                                        _ => Value::from(""),
                                    });
                                ((*go).to_owned(), value)
                            })
                            .collect(),
                    )
                })
                .collect(),
        ),
        _ => Value::list(Vec::new()),
    };
    let mut map = BTreeMap::new();
    for (go, yaml) in [
        ("Name", "name"),
        ("Home", "home"),
        ("Version", "version"),
        ("Description", "description"),
        ("Icon", "icon"),
        ("APIVersion", "apiVersion"),
        ("Condition", "condition"),
        ("Tags", "tags"),
        ("AppVersion", "appVersion"),
        ("KubeVersion", "kubeVersion"),
        ("Type", "type"),
    ] {
        map.insert(go.to_owned(), text(yaml));
    }
    map.insert("Sources".to_owned(), list("sources"));
    map.insert("Keywords".to_owned(), list("keywords"));
    map.insert(
        "Maintainers".to_owned(),
        maps_of(
            "maintainers",
            &[("Name", "name"), ("Email", "email"), ("URL", "url")],
        ),
    );
    map.insert(
        "Dependencies".to_owned(),
        maps_of(
            "dependencies",
            &[
                ("Name", "name"),
                ("Version", "version"),
                ("Repository", "repository"),
                ("Condition", "condition"),
                ("Tags", "tags"),
                ("Enabled", "enabled"),
                ("ImportValues", "import-values"),
                ("Alias", "alias"),
            ],
        ),
    );
    map.insert(
        "Deprecated".to_owned(),
        Value::Bool(matches!(meta.get("deprecated"), Some(Value::Bool(true)))),
    );
    map.insert(
        "Annotations".to_owned(),
        match meta.get("annotations") {
            Some(Value::Map(m)) => Value::Map(m.clone()),
            _ => Value::map(BTreeMap::new()),
        },
    );
    map.insert("IsRoot".to_owned(), Value::Bool(is_root));
    Value::map(map)
}

/// `.Capabilities`.
#[derive(Debug)]
struct Capabilities {
    kube_version: String,
    api_versions: Vec<String>,
}

impl Object for Capabilities {
    fn type_name(&self) -> String {
        "*common.Capabilities".to_owned()
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "KubeVersion" => Some(Value::Object(Arc::new(KubeVersion::parse(
                &self.kube_version,
            )))),
            "APIVersions" => Some(Value::Object(Arc::new(VersionSet(
                self.api_versions.clone(),
            )))),
            "HelmVersion" => {
                let mut map = BTreeMap::new();
                map.insert("Version".to_owned(), Value::from(HELM_VERSION));
                Some(Value::map(map))
            }
            _ => None,
        }
    }

    fn call_method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

/// `.Capabilities.KubeVersion`.
#[derive(Debug)]
struct KubeVersion {
    version: String,
    major: String,
    minor: String,
}

impl KubeVersion {
    fn parse(text: &str) -> Self {
        let version = if text.starts_with('v') {
            text.to_owned()
        } else {
            format!("v{text}")
        };
        let mut parts = version.trim_start_matches('v').split(['.', '-', '+']);
        let major = parts.next().unwrap_or("0").to_owned();
        let minor = parts.next().unwrap_or("0").to_owned();
        KubeVersion {
            version,
            major,
            minor,
        }
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> String {
        "common.KubeVersion".to_owned()
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Version" => Some(Value::from(self.version.as_str())),
            "Major" => Some(Value::from(self.major.as_str())),
            "Minor" => Some(Value::from(self.minor.as_str())),
            _ => None,
        }
    }

    fn call_method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "String" | "GitVersion" => Some(Ok(Value::from(self.version.as_str()))),
            _ => None,
        }
    }

    fn display(&self) -> String {
        self.version.clone()
    }
}

/// `.Capabilities.APIVersions`.
#[derive(Debug)]
struct VersionSet(Vec<String>);

impl Object for VersionSet {
    fn type_name(&self) -> String {
        "common.VersionSet".to_owned()
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Has" => Some(Ok(Value::Bool(
                args.first()
                    .and_then(Value::as_str)
                    .is_some_and(|v| self.0.iter().any(|a| a == v)),
            ))),
            _ => None,
        }
    }

    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
}

/// `.Files`: the chart's non-template files.
#[derive(Debug)]
struct Files(BTreeMap<String, Vec<u8>>);

impl Object for Files {
    fn type_name(&self) -> String {
        "engine.files".to_owned()
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let arg = args.first().and_then(Value::as_str).unwrap_or_default();
        let text = |path: &str| {
            self.0
                .get(path)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        Some(Ok(match name {
            "Get" => Value::from(text(arg)),
            "GetBytes" => Value::from(text(arg)),
            "Lines" => {
                let content = text(arg);
                if content.is_empty() {
                    Value::list(Vec::new())
                } else {
                    Value::list(content.split('\n').map(Value::from).collect())
                }
            }
            "Glob" => {
                let matched = self
                    .0
                    .iter()
                    .filter(|(path, _)| glob_match(arg, path))
                    .map(|(p, b)| (p.clone(), b.clone()))
                    .collect();
                Value::Object(Arc::new(Files(matched)))
            }
            "AsConfig" => {
                let map: BTreeMap<String, Value> = self
                    .0
                    .iter()
                    .map(|(p, b)| {
                        (
                            base_name(p),
                            Value::from(String::from_utf8_lossy(b).into_owned()),
                        )
                    })
                    .collect();
                Value::from(crate::funcs::to_yaml(&Value::map(map)).unwrap_or_default())
            }
            "AsSecrets" => {
                use base64::Engine as _;
                let map: BTreeMap<String, Value> = self
                    .0
                    .iter()
                    .map(|(p, b)| {
                        (
                            base_name(p),
                            Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
                        )
                    })
                    .collect();
                Value::from(crate::funcs::to_yaml(&Value::map(map)).unwrap_or_default())
            }
            _ => return None,
        }))
    }

    /// `range` over `.Files` (or a `Glob` of it): path and content ([]byte), by path.
    fn range_items(&self) -> Option<Vec<(Value, Value)>> {
        Some(
            self.0
                .iter()
                .map(|(path, bytes)| {
                    let content = bytes.iter().map(|b| Value::Int(i64::from(*b))).collect();
                    (Value::from(path.clone()), Value::list(content))
                })
                .collect(),
        )
    }

    fn display(&self) -> String {
        let entries: Vec<String> = self
            .0
            .iter()
            .map(|(p, b)| {
                format!(
                    "{p}:{}",
                    ferroflux_gotemplate::gofmt::display(&Value::list(
                        b.iter().map(|x| Value::Int(i64::from(*x))).collect()
                    ))
                )
            })
            .collect();
        format!("map[{}]", entries.join(" "))
    }
}

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// A glob as gobwas/glob with `/` as the separator: `*` within a segment, `**`
/// across segments, `?` one character.
fn glob_match(pattern: &str, path: &str) -> bool {
    fn matches(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') if p.get(1) == Some(&'*') => (0..=s.len()).any(|i| matches(&p[2..], &s[i..])),
            Some('*') => {
                let mut i = 0;
                loop {
                    if matches(&p[1..], &s[i..]) {
                        return true;
                    }
                    if i == s.len() || s[i] == '/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some('?') => !s.is_empty() && s[0] != '/' && matches(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && matches(&p[1..], &s[1..]),
        }
    }
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    matches(&p, &s)
}
