//! Rendering a chart as Helm's engine does: values coalesced over the chart's
//! defaults, every template parsed into one set (deepest paths first, as Helm sorts
//! them), each non-partial template executed with `.Values`, `.Release`, `.Chart`,
//! `.Capabilities`, `.Files`, `.Template` and `.Subcharts`, and `<no value>` erased.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferroflux_gotemplate::{MapRef, Object, Value};

use crate::chart::Chart;
use crate::{errors, funcs};

/// The Kubernetes version Helm 4.2.3 assumes offline.
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";
/// What `.Capabilities.HelmVersion.Version` says.
const HELM_VERSION: &str = "v4.2";
const API_VERSIONS: &str = include_str!("api_versions.txt");

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
    funcs::on_render_stack(|| execute_all(chart, prepared, values, options))?
}

/// [`render`] on the current thread.
fn render_here(
    chart: &Chart,
    values: &Value,
    options: &RenderOptions,
) -> Result<BTreeMap<String, String>, String> {
    let prepared = prepare(chart)?;
    execute_all(chart, &prepared, values, options)
}

fn execute_all(
    chart: &Chart,
    prepared: &Prepared,
    values: &Value,
    options: &RenderOptions,
) -> Result<BTreeMap<String, String>, String> {
    let values = coalesce_chart(chart, values)?;
    let top = top_values(chart, values, options);
    // A copy of the set: `tpl` and the missing-key option must not leak into the
    // next render.
    let mut templates = prepared.templates.clone();
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

/// Helm's coalesce for a chart and its subcharts: this chart's defaults under the
/// user's values, then each subchart's under its part of them (with the globals
/// handed down).
pub fn coalesce_chart(chart: &Chart, user: &Value) -> Result<Value, String> {
    let Value::Map(coalesced) = coalesce(user, &chart.values) else {
        return Ok(Value::map(BTreeMap::new()));
    };
    let mut dest = coalesced.snapshot();
    for sub in &chart.dependencies {
        let name = sub.name();
        let own = match dest.get(&name) {
            None => BTreeMap::new(),
            Some(Value::Map(m)) => deep_map(m),
            Some(other) => {
                return Err(format!(
                    "type mismatch on {name}: %!t({}={})",
                    other.type_name(),
                    ferroflux_gotemplate::gofmt::display(other)
                ))
            }
        };
        let mut own = own;
        coalesce_globals(&mut own, &dest);
        let merged = coalesce_chart(sub, &Value::map(own))?;
        dest.insert(name, merged);
    }
    Ok(Value::map(dest))
}

/// Helm's coalesceGlobals: the parent's `global` merged into the subchart's.
fn coalesce_globals(dest: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>) {
    let mut dg = match dest.get("global") {
        None => BTreeMap::new(),
        Some(Value::Map(m)) => deep_map(m),
        Some(_) => return,
    };
    let sg = match src.get("global") {
        None => BTreeMap::new(),
        Some(Value::Map(m)) => deep_map(m),
        Some(_) => return,
    };
    for (key, val) in sg {
        match (&val, dg.get(&key).cloned()) {
            (Value::Map(v), None) => {
                dg.insert(key, Value::map(deep_map(v)));
            }
            (Value::Map(v), Some(Value::Map(existing))) => {
                let mut vv = deep_map(v);
                coalesce_tables_merging(&mut vv, deep_map(&existing));
                dg.insert(key, Value::map(vv));
            }
            (Value::Map(_), Some(_)) => {}
            (_, Some(Value::Map(_))) => {}
            (_, _) => {
                dg.insert(key, val);
            }
        }
    }
    dest.insert("global".to_owned(), Value::map(dg));
}

/// coalesceTablesFullKey with merge: `src` fills what `dst` lacks, nulls kept.
fn coalesce_tables_merging(dst: &mut BTreeMap<String, Value>, src: BTreeMap<String, Value>) {
    for (key, val) in src {
        match dst.get(&key).cloned() {
            None => {
                dst.insert(key, val);
            }
            Some(Value::Map(dv)) => {
                if let Value::Map(sv) = &val {
                    let mut inner = deep_map(&dv);
                    coalesce_tables_merging(&mut inner, deep_map(sv));
                    dst.insert(key, Value::map(inner));
                }
            }
            Some(_) => {}
        }
    }
}

/// Helm's coalesceValues for one chart: user values over the chart's defaults,
/// maps merged key by key, a user `null` deleting the default, and the chart's own
/// nulls left out.
pub fn coalesce(user: &Value, defaults: &Value) -> Value {
    let mut v = match user {
        Value::Map(map) => deep_map(map),
        _ => BTreeMap::new(),
    };
    let defaults = match defaults {
        Value::Map(map) => deep_map(map),
        _ => BTreeMap::new(),
    };
    for (key, val) in defaults {
        match v.get(&key).cloned() {
            Some(Value::Nil) => {
                v.remove(&key);
            }
            Some(Value::Map(dest)) => {
                if let Value::Map(src) = &val {
                    let mut src = deep_map(src);
                    clean_nil_values(&mut src);
                    let mut dest = deep_map(&dest);
                    coalesce_tables(&mut dest, src);
                    v.insert(key, Value::map(dest));
                }
            }
            Some(_) => {}
            None => match val {
                Value::Nil => {}
                Value::Map(sub) => {
                    let mut sub = deep_map(&sub);
                    clean_nil_values(&mut sub);
                    v.insert(key, Value::map(sub));
                }
                other => {
                    v.insert(key, other);
                }
            },
        }
    }
    Value::map(v)
}

/// Helm's coalesceTablesFullKey (not merging): `src` fills what `dst` lacks.
fn coalesce_tables(dst: &mut BTreeMap<String, Value>, mut src: BTreeMap<String, Value>) {
    let src_non_nil: Vec<String> = src
        .iter()
        .filter(|(_, v)| !matches!(v, Value::Nil))
        .map(|(k, _)| k.clone())
        .collect();
    for (key, value) in dst.iter() {
        if matches!(value, Value::Nil) {
            src.insert(key.clone(), Value::Nil);
        }
    }
    for (key, val) in src {
        match dst.get(&key).cloned() {
            Some(Value::Nil) if src_non_nil.contains(&key) => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(Value::Map(dv)) => {
                if let Value::Map(sv) = &val {
                    let mut inner = deep_map(&dv);
                    coalesce_tables(&mut inner, deep_map(sv));
                    dst.insert(key, Value::map(inner));
                }
            }
            Some(_) => {}
        }
    }
}

/// Helm's cleanNilValues.
fn clean_nil_values(map: &mut BTreeMap<String, Value>) {
    map.retain(|_, v| !matches!(v, Value::Nil));
    for value in map.values_mut() {
        if let Value::Map(sub) = value {
            let mut inner = deep_map(sub);
            clean_nil_values(&mut inner);
            *value = Value::map(inner);
        }
    }
}

fn deep_map(map: &MapRef) -> BTreeMap<String, Value> {
    map.entries()
        .into_iter()
        .map(|(k, v)| (k, deep(&v)))
        .collect()
}

/// A copy whose maps are not shared with the chart's (templates may `set` them).
fn deep(value: &Value) -> Value {
    ferroflux_gotemplate::sprig::deep_copy(value)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::unmarshal(text).expect("test YAML")
    }

    fn json(value: &Value) -> String {
        ferroflux_gotemplate::gojson::marshal(value, false).expect("JSON")
    }

    #[test]
    fn user_values_win_nulls_delete_and_chart_nulls_vanish() {
        let defaults = yaml("a: 1\nb: {x: 1, y: 2, z: null}\nc: keep\nd: null\ne: {f: 1}\n");
        let user = yaml("a: 9\nb: {y: null, w: 3}\nc: null\ne: [1]\n");
        assert_eq!(
            json(&coalesce(&user, &defaults)),
            r#"{"a":9,"b":{"w":3,"x":1},"e":[1]}"#
        );
    }

    #[test]
    fn subcharts_get_their_part_and_the_globals() {
        let dir = std::env::temp_dir().join(format!("ferroflux-coalesce-{}", std::process::id()));
        let sub = dir.join("charts/sub");
        std::fs::create_dir_all(sub.join("templates")).expect("mkdir");
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: top\nversion: 1.0.0\n",
        )
        .expect("write");
        std::fs::write(
            dir.join("values.yaml"),
            "global: {region: eu}\nsub: {size: 2}\n",
        )
        .expect("write");
        std::fs::write(
            sub.join("Chart.yaml"),
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        )
        .expect("write");
        std::fs::write(
            sub.join("values.yaml"),
            "size: 1\ncolour: blue\nglobal: {tier: web}\n",
        )
        .expect("write");
        let chart = crate::chart::load_dir(&dir).expect("loads");
        let values = coalesce_chart(&chart, &yaml("sub: {colour: red}\n")).expect("coalesces");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(
            json(&values),
            r#"{"global":{"region":"eu"},"sub":{"colour":"red","global":{"region":"eu","tier":"web"},"size":2}}"#
        );
    }
}
