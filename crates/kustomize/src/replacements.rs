//! `replacements:` (kustomize's ReplacementTransformer, api/filters/replacement).
//!
//! Each replacement reads one value from one source object and writes it at field
//! paths of the target objects. Field paths are dotted (`spec.template.spec`), with
//! `\.` escaping a dot, `[a.b/c]` quoting a key that holds dots, list entries picked
//! by `[name=value]` or by index, and `*` for every entry. The two halves use
//! kustomize's two path walkers, which differ: a source path matches `[name=value]`
//! exactly and refuses `*`; a target path treats the value in `[name=value]` as an
//! unanchored regular expression (`[name=app]` also picks `myapp`), accepts `*`, and
//! with `create` adds what is missing.
//!
//! A scalar target keeps its type and takes only the text of the value (a string
//! "3" written over `replicas: 1` gives `replicas: 3`), as kustomize does; a created
//! scalar takes the type its text reads as in YAML.

use ferroflux_merge::selector::LabelSelector;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};
use crate::loader::{KustDir, Loader};
use crate::resid::{Gvk, ResId};
use crate::resource::{ResMap, Resource};

/// Where a replacement's source value is read when it names no field path.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// Applies the replacement entries (inline ones, or `path:` files of them).
pub fn transform(
    resources: &mut ResMap,
    loader: &Loader,
    dir: &KustDir,
    entries: &[Value],
) -> Result<()> {
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("replacements[{i}]");
        for (origin, replacement) in load_entry(loader, dir, entry, &field)? {
            apply(resources, &replacement)
                .map_err(|message| KustomizeError::field(dir.file.clone(), origin, message))?;
        }
    }
    Ok(())
}

/// The replacements an entry stands for, each with the field to blame for it.
fn load_entry(
    loader: &Loader,
    dir: &KustDir,
    entry: &Value,
    field: &str,
) -> Result<Vec<(String, Replacement)>> {
    let strict = Reader {
        file: &dir.file,
        strict: true,
    };
    let map = strict.object(entry, field, &["path", "source", "targets"])?;
    let path = strict.string(map, "path", field)?;
    if path.is_empty() {
        return Ok(vec![(field.to_owned(), strict.replacement(entry, field)?)]);
    }
    let has_source = get(map, "source").is_some_and(|v| !v.is_null());
    let has_targets =
        get(map, "targets").is_some_and(|v| v.as_array().is_some_and(|t| !t.is_empty()));
    if has_source || has_targets {
        return Err(KustomizeError::field(
            dir.file.clone(),
            field,
            "cannot specify both path and inline replacement",
        ));
    }
    let path_field = format!("{field}.path");
    let content = loader.read_file(dir, &path, &path_field)?;
    // Only the first document counts, as in kustomize.
    let first = serde_yaml_ng::Deserializer::from_str(&content).next();
    let document: Value = first
        .map_or(Ok(Value::Null), Value::deserialize)
        .map_err(|e| {
            KustomizeError::field(
                dir.file.clone(),
                path_field.clone(),
                format!("'{path}': {e}"),
            )
        })?;
    // Files are read leniently, as kustomize reads them (unknown fields ignored).
    let lenient = Reader {
        file: &dir.file,
        strict: false,
    };
    match &document {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(j, item)| {
                let origin = format!("{path_field} ('{path}' entry {j})");
                Ok((origin.clone(), lenient.replacement(item, &origin)?))
            })
            .collect(),
        Value::Object(_) => {
            let origin = format!("{path_field} ('{path}')");
            Ok(vec![(
                origin.clone(),
                lenient.replacement(&document, &origin)?,
            )])
        }
        other => Err(KustomizeError::field(
            dir.file.clone(),
            path_field,
            format!(
                "unsupported replacement type encountered within replacement path: {}",
                go_kind_name(other)
            ),
        )),
    }
}

fn go_kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

// ---------------------------------------------------------------------------
// The replacement types, read from JSON values the way Go's encoding/json reads
// them: field names match case-insensitively.

#[derive(Debug, Clone, Default)]
struct IdSelector {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
}

impl IdSelector {
    fn res_id(&self) -> ResId {
        ResId::new(
            Gvk::new(&self.group, &self.version, &self.kind),
            &self.name,
            &self.namespace,
        )
    }

    fn is_empty(&self) -> bool {
        [
            &self.group,
            &self.version,
            &self.kind,
            &self.name,
            &self.namespace,
        ]
        .iter()
        .all(|s| s.is_empty())
    }

    /// kustomize's ResId.IsSelectedBy, with the namespaces compared as the
    /// replacement filter compares them (empty is `default`, whatever the kind).
    fn selects(&self, id: &ResId) -> bool {
        (self.name.is_empty() || self.name == id.name)
            && (self.namespace.is_empty()
                || plain_namespace(&self.namespace) == plain_namespace(&id.namespace))
            && id
                .gvk
                .is_selected_by(&Gvk::new(&self.group, &self.version, &self.kind))
    }
}

fn plain_namespace(namespace: &str) -> &str {
    if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
}

#[derive(Debug, Clone, Default)]
struct FieldOptions {
    delimiter: String,
    index: i64,
    create: bool,
}

impl FieldOptions {
    /// kustomize's rendering in selector descriptions.
    fn describe(options: Option<&FieldOptions>) -> String {
        match options {
            Some(o) if !o.delimiter.is_empty() || o.create => {
                format!("{}({}), create={}", o.delimiter, o.index, o.create)
            }
            _ => String::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Source {
    id: IdSelector,
    field_path: String,
    options: Option<FieldOptions>,
}

impl Source {
    /// kustomize's SourceSelector.String(), used in its error messages.
    fn describe(&self) -> String {
        let mut parts = vec![self.id.res_id().to_string()];
        if !self.field_path.is_empty() {
            parts.push(self.field_path.clone());
        }
        let options = FieldOptions::describe(self.options.as_ref());
        if !options.is_empty() {
            parts.push(options);
        }
        parts.join(":")
    }
}

#[derive(Debug, Clone, Default)]
struct Selector {
    id: IdSelector,
    label_selector: String,
    annotation_selector: String,
}

#[derive(Debug, Clone, Default)]
struct Target {
    select: Option<Selector>,
    reject: Vec<Selector>,
    field_paths: Vec<String>,
    options: Option<FieldOptions>,
}

#[derive(Debug, Clone, Default)]
struct Replacement {
    source: Option<Source>,
    targets: Option<Vec<Target>>,
}

/// Field lookup as encoding/json does it: exact name first, then any case.
fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

struct Reader<'a> {
    file: &'a str,
    /// Refuse unknown fields (inline entries, as kustomize decodes the kustomization).
    strict: bool,
}

impl Reader<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> KustomizeError {
        KustomizeError::field(self.file, field, message)
    }

    /// A map (null reads as an empty one).
    fn object<'v>(
        &self,
        value: &'v Value,
        field: &str,
        known: &[&str],
    ) -> Result<&'v Map<String, Value>> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let map = match value {
            Value::Object(map) => map,
            Value::Null => EMPTY.get_or_init(Map::new),
            _ => return Err(self.error(field, "expected a map")),
        };
        if self.strict {
            if let Some(unknown) = map
                .keys()
                .find(|k| !known.iter().any(|n| n.eq_ignore_ascii_case(k)))
            {
                return Err(self.error(field, format!("unknown field \"{unknown}\"")));
            }
        }
        Ok(map)
    }

    fn string(&self, map: &Map<String, Value>, name: &str, field: &str) -> Result<String> {
        match get(map, name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.error(&format!("{field}.{name}"), "expected a string")),
        }
    }

    fn id(&self, map: &Map<String, Value>, field: &str) -> Result<IdSelector> {
        Ok(IdSelector {
            group: self.string(map, "group", field)?,
            version: self.string(map, "version", field)?,
            kind: self.string(map, "kind", field)?,
            name: self.string(map, "name", field)?,
            namespace: self.string(map, "namespace", field)?,
        })
    }

    fn options(&self, value: Option<&Value>, field: &str) -> Result<Option<FieldOptions>> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let map = self.object(value, field, &["delimiter", "index", "encoding", "create"])?;
        let index = match get(map, "index") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| self.error(&format!("{field}.index"), "expected an integer"))?,
        };
        let create = match get(map, "create") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(self.error(&format!("{field}.create"), "expected true or false")),
        };
        // `encoding` is accepted and, as in kustomize, not used.
        self.string(map, "encoding", field)?;
        Ok(Some(FieldOptions {
            delimiter: self.string(map, "delimiter", field)?,
            index,
            create,
        }))
    }

    fn selector(&self, value: &Value, field: &str) -> Result<Selector> {
        let map = self.object(
            value,
            field,
            &[
                "group",
                "version",
                "kind",
                "name",
                "namespace",
                "labelSelector",
                "annotationSelector",
            ],
        )?;
        Ok(Selector {
            id: self.id(map, field)?,
            label_selector: self.string(map, "labelSelector", field)?,
            annotation_selector: self.string(map, "annotationSelector", field)?,
        })
    }

    fn replacement(&self, value: &Value, field: &str) -> Result<Replacement> {
        let map = self.object(value, field, &["path", "source", "targets"])?;
        let source = match get(map, "source").filter(|v| !v.is_null()) {
            None => None,
            Some(value) => {
                let field = format!("{field}.source");
                let map = self.object(
                    value,
                    &field,
                    &[
                        "group",
                        "version",
                        "kind",
                        "name",
                        "namespace",
                        "fieldPath",
                        "options",
                    ],
                )?;
                Some(Source {
                    id: self.id(map, &field)?,
                    field_path: self.string(map, "fieldPath", &field)?,
                    options: self.options(get(map, "options"), &format!("{field}.options"))?,
                })
            }
        };
        let targets = match get(map, "targets") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(j, item)| self.target(item, &format!("{field}.targets[{j}]")))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(self.error(&format!("{field}.targets"), "expected a list")),
        };
        Ok(Replacement { source, targets })
    }

    fn target(&self, value: &Value, field: &str) -> Result<Target> {
        let map = self.object(value, field, &["select", "reject", "fieldPaths", "options"])?;
        let select = match get(map, "select").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(self.selector(v, &format!("{field}.select"))?),
        };
        let reject = match get(map, "reject") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(j, item)| self.selector(item, &format!("{field}.reject[{j}]")))
                .collect::<Result<_>>()?,
            Some(_) => return Err(self.error(&format!("{field}.reject"), "expected a list")),
        };
        let field_paths = match get(map, "fieldPaths") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(self
                            .error(&format!("{field}.fieldPaths"), "expected a list of strings")),
                    })
                    .collect::<Result<_>>()?
            }
            Some(_) => return Err(self.error(&format!("{field}.fieldPaths"), "expected a list")),
        };
        Ok(Target {
            select,
            reject,
            field_paths,
            options: self.options(get(map, "options"), &format!("{field}.options"))?,
        })
    }
}

// ---------------------------------------------------------------------------
// Applying one replacement.

fn apply(resources: &mut ResMap, replacement: &Replacement) -> std::result::Result<(), String> {
    let (Some(source), Some(targets)) = (&replacement.source, &replacement.targets) else {
        return Err("replacements must specify a source and at least one target".into());
    };
    let value = source_value(resources, source)?;
    for target in targets {
        let Some(select) = &target.select else {
            return Err("target must specify resources to select".into());
        };
        let default_paths = [DEFAULT_FIELD_PATH.to_owned()];
        let field_paths: &[String] = if target.field_paths.is_empty() {
            &default_paths
        } else {
            &target.field_paths
        };
        for resource in &mut resources.resources {
            if !is_target(resource, select, &target.reject)? {
                continue;
            }
            for field_path in field_paths {
                copy_to_target(resource, field_path, &value, target.options.as_ref())?;
            }
        }
    }
    Ok(())
}

/// The current id and every earlier one.
fn all_ids(resource: &Resource) -> Vec<ResId> {
    let mut ids = vec![resource.cur_id()];
    ids.extend(resource.prev_ids().iter().cloned());
    ids
}

fn source_value(resources: &ResMap, source: &Source) -> std::result::Result<SourceValue, String> {
    let mut matched = resources
        .resources
        .iter()
        .filter(|r| all_ids(r).iter().any(|id| source.id.selects(id)));
    let resource = matched
        .next()
        .ok_or_else(|| format!("nothing selected by {}", source.describe()))?;
    if matched.next().is_some() {
        return Err(format!(
            "multiple matches for selector {}",
            source.describe()
        ));
    }
    let field_path = if source.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &source.field_path
    };
    let root = resource.to_value();
    let found = lookup(&root, &smarter_path_split(field_path))
        .map_err(|e| format!("error looking up replacement source: {e}"))?;
    let value = match found {
        Some(v) if !is_nil_or_empty(v) => v,
        _ => {
            return Err(format!(
                "fieldPath `{field_path}` is missing for replacement source {}",
                source.id.res_id()
            ))
        }
    };
    let value = SourceValue::from_json(value);
    match source.options.as_ref().filter(|o| !o.delimiter.is_empty()) {
        None => Ok(value),
        Some(options) => {
            let SourceValue::Scalar { tag, text } = value else {
                return Err("delimiter option can only be used with scalar nodes".into());
            };
            let parts: Vec<&str> = text.split(options.delimiter.as_str()).collect();
            let part = usize::try_from(options.index)
                .ok()
                .and_then(|i| parts.get(i))
                .ok_or_else(|| {
                    format!(
                        "options.index {} is out of bounds for value {text}",
                        options.index
                    )
                })?;
            Ok(SourceValue::Scalar {
                tag,
                text: (*part).to_owned(),
            })
        }
    }
}

fn is_nil_or_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Whether `resource` is one the target selects and does not reject. As in
/// kustomize, a reject entry's label or annotation selector alone rejects, and so
/// does its id part alone.
fn is_target(
    resource: &Resource,
    select: &Selector,
    rejects: &[Selector],
) -> std::result::Result<bool, String> {
    if !matches_label_and_annotation(resource, select)? {
        return Ok(false);
    }
    for reject in rejects {
        if reject.label_selector.is_empty() && reject.annotation_selector.is_empty() {
            continue;
        }
        if matches_label_and_annotation(resource, reject)? {
            return Ok(false);
        }
    }
    let ids = all_ids(resource);
    let rejected = rejects
        .iter()
        .filter(|r| !r.id.is_empty())
        .any(|r| ids.iter().any(|id| r.id.selects(id)));
    Ok(!rejected && ids.iter().any(|id| select.id.selects(id)))
}

fn matches_label_and_annotation(
    resource: &Resource,
    selector: &Selector,
) -> std::result::Result<bool, String> {
    let matches =
        |expression: &str, map: Map<String, Value>| -> std::result::Result<bool, String> {
            if expression.trim().is_empty() {
                return Ok(true);
            }
            let parsed = LabelSelector::parse(expression)
                .map_err(|e| format!("invalid selector '{expression}': {}", e.0))?;
            Ok(parsed.matches(Some(&map)))
        };
    Ok(
        matches(&selector.annotation_selector, resource.annotations())?
            && matches(&selector.label_selector, resource.labels())?,
    )
}

fn copy_to_target(
    resource: &mut Resource,
    field_path: &str,
    value: &SourceValue,
    options: Option<&FieldOptions>,
) -> std::result::Result<(), String> {
    let create = options.is_some_and(|o| o.create).then(|| value.kind());
    let not_found = if create.is_some() {
        format!("unable to find or create field \"{field_path}\" in replacement target")
    } else {
        format!("unable to find field \"{field_path}\" in replacement target")
    };
    let path = smarter_path_split(field_path);
    let mut root = Value::Object(std::mem::take(&mut resource.obj));
    let mut set_error = None;
    let walked = match_path(&mut root, &path, create, &mut |node, created| {
        if set_error.is_none() {
            if let Err(e) = set_field_value(node, created, value, options) {
                set_error = Some(e);
            }
        }
    });
    if let Value::Object(map) = root {
        resource.obj = map;
    }
    match walked {
        Err(e) => Err(format!("{not_found}: {e}")),
        Ok(0) => Err(not_found),
        Ok(_) => set_error.map_or(Ok(()), Err),
    }
}

/// Writes `value` at a target node, as kustomize's setFieldValue.
fn set_field_value(
    target: &mut Value,
    created: bool,
    value: &SourceValue,
    options: Option<&FieldOptions>,
) -> std::result::Result<(), String> {
    let mut value = value.clone();
    if let Some(options) = options.filter(|o| !o.delimiter.is_empty()) {
        if matches!(target, Value::Object(_) | Value::Array(_)) {
            return Err("delimiter option can only be used with scalar nodes".into());
        }
        let current = if created {
            String::new()
        } else {
            scalar_text(target)
        };
        let mut parts: Vec<String> = current
            .split(options.delimiter.as_str())
            .map(str::to_owned)
            .collect();
        let piece = value.text();
        match usize::try_from(options.index) {
            Err(_) => parts.insert(0, piece),
            Ok(i) if i >= parts.len() => parts.push(piece),
            Ok(i) => parts[i] = piece,
        }
        let text = parts.join(&options.delimiter);
        value = match value {
            SourceValue::Scalar { tag, .. } => SourceValue::Scalar { tag, text },
            SourceValue::Node(_) => SourceValue::Scalar {
                tag: Tag::Str,
                text,
            },
        };
    }
    if created {
        // A created leaf has no type of its own: a scalar takes the type its text
        // reads as; a map or list is the value itself.
        *target = match &value {
            SourceValue::Scalar { text, .. } => resolve_plain(text),
            SourceValue::Node(node) => node.clone(),
        };
        return Ok(());
    }
    *target = match target {
        // A scalar keeps its type and takes the value's text.
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            decode(Tag::of(target), &value.text())?
        }
        Value::Object(_) | Value::Array(_) => value.to_json()?,
    };
    Ok(())
}

// ---------------------------------------------------------------------------
// Scalars as kyaml keeps them: a tag and the text.

/// A scalar's YAML type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Str,
    Int,
    Float,
    Bool,
    Null,
}

impl Tag {
    fn of(value: &Value) -> Self {
        match value {
            Value::String(_) | Value::Object(_) | Value::Array(_) => Self::Str,
            Value::Number(n) if n.is_f64() => Self::Float,
            Value::Number(_) => Self::Int,
            Value::Bool(_) => Self::Bool,
            Value::Null => Self::Null,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Str => "!!str",
            Self::Int => "!!int",
            Self::Float => "!!float",
            Self::Bool => "!!bool",
            Self::Null => "!!null",
        }
    }
}

/// The kind of a value, which is what a created leaf is made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Scalar,
    Map,
    List,
}

#[derive(Debug, Clone)]
enum SourceValue {
    Scalar {
        tag: Tag,
        text: String,
    },
    /// A map or a list.
    Node(Value),
}

impl SourceValue {
    fn from_json(value: &Value) -> Self {
        match value {
            Value::Object(_) | Value::Array(_) => Self::Node(value.clone()),
            scalar => Self::Scalar {
                tag: Tag::of(scalar),
                text: scalar_text(scalar),
            },
        }
    }

    fn kind(&self) -> NodeKind {
        match self {
            Self::Scalar { .. } => NodeKind::Scalar,
            Self::Node(Value::Array(_)) => NodeKind::List,
            Self::Node(_) => NodeKind::Map,
        }
    }

    /// The text a scalar target takes (empty for maps and lists).
    fn text(&self) -> String {
        match self {
            Self::Scalar { text, .. } => text.clone(),
            Self::Node(_) => String::new(),
        }
    }

    fn to_json(&self) -> std::result::Result<Value, String> {
        match self {
            Self::Scalar { tag, text } => decode(*tag, text),
            Self::Node(node) => Ok(node.clone()),
        }
    }
}

/// The text of a scalar as it stands in YAML; empty for null, maps and lists.
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Object(_) | Value::Array(_) => String::new(),
    }
}

/// `text` read as a value of type `tag`; kustomize fails the same way when it
/// prints a scalar whose text does not fit its type.
fn decode(tag: Tag, text: &str) -> std::result::Result<Value, String> {
    let resolved = resolve_plain(text);
    let fits = match tag {
        Tag::Str => return Ok(Value::String(text.to_owned())),
        Tag::Int => resolved.is_i64() || resolved.is_u64(),
        Tag::Float => resolved.is_number(),
        Tag::Bool => resolved.is_boolean(),
        Tag::Null => resolved.is_null(),
    };
    if fits {
        return Ok(match (tag, &resolved) {
            (Tag::Float, Value::Number(n)) => float_value(n.as_f64().unwrap_or_default()),
            _ => resolved,
        });
    }
    Err(format!(
        "yaml: cannot decode {} `{text}` as a {}",
        Tag::of(&resolved).name(),
        tag.name()
    ))
}

/// A float as kustomize prints it: whole numbers without a fraction.
pub(crate) fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        // Exact: the magnitude is below 2^53.
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// What an untagged plain scalar with this text reads as (YAML core schema, as
/// go-yaml v3 resolves it).
pub(crate) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(int) = parse_yaml_int(text) {
        return Value::from(int);
    }
    let float_like = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'))
        && text.chars().any(|c| c.is_ascii_digit());
    if float_like {
        if let Ok(f) = text.replace('_', "").parse::<f64>() {
            if f.is_finite() {
                return float_value(f);
            }
        }
    }
    Value::String(text.to_owned())
}

fn parse_yaml_int(text: &str) -> Option<i64> {
    // go-yaml drops underscores and reads the rest as Go's ParseInt with base 0
    // does: 0x, 0o, 0b prefixes, and a leading 0 for octal.
    let plain = text.replace('_', "");
    let (negative, digits) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, plain.strip_prefix('+').unwrap_or(&plain)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, digits) = if let Some(hex) = lower.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = lower.strip_prefix("0o") {
        (8, octal)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        (2, binary)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

// ---------------------------------------------------------------------------
// Field paths.

/// Splits a path at `delimiter`, honouring a backslash before it; a leading
/// delimiter is dropped (kustomize's PathSplitter).
fn path_split(path: &str, delimiter: char) -> Vec<String> {
    let mut pieces: Vec<&str> = path.split(delimiter).collect();
    if pieces.len() > 1 && pieces[0].is_empty() {
        pieces.remove(0);
    }
    let mut result: Vec<String> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match result.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push(delimiter);
                last.push_str(piece);
            }
            _ => result.push(piece.to_owned()),
        }
    }
    result
}

/// Splits a dotted field path, keeping `[name=a.b]` whole and unwrapping `[a.b]`
/// into the key `a.b` (kustomize's SmarterPathSplitter).
pub(crate) fn smarter_path_split(path: &str) -> Vec<String> {
    let pieces = path_split(path, '.');
    let mut result = Vec::with_capacity(pieces.len());
    let mut i = 0;
    while i < pieces.len() {
        let piece = &pieces[i];
        if piece.starts_with('[') && !piece.ends_with(']') {
            let mut bracketed = vec![piece.clone()];
            while i + 1 < pieces.len() {
                i += 1;
                bracketed.push(pieces[i].clone());
                if pieces[i].ends_with(']') {
                    break;
                }
            }
            let joined = bracketed.join(".");
            if joined.contains('=') {
                result.push(joined);
            } else {
                result.push(joined.trim_matches(|c| c == '[' || c == ']').to_owned());
            }
        } else {
            result.push(piece.clone());
        }
        i += 1;
    }
    result
}

fn is_list_entry(part: &str) -> bool {
    part.starts_with('[') && part.ends_with(']')
}

/// `[name=value]` into its two halves.
fn split_list_entry(part: &str) -> std::result::Result<(&str, &str), String> {
    let inner = part.strip_suffix(']').unwrap_or(part);
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    inner.split_once('=').ok_or_else(|| {
        "list path element must contain fieldName=fieldValue for element to match".to_owned()
    })
}

fn node_kind_name(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

fn wrong_kind(expected: &str, node: &Value) -> String {
    let contents = serde_yaml_ng::to_string(node).unwrap_or_default();
    format!(
        "wrong node kind: expected {expected} but got {}: node contents:\n{contents}",
        node_kind_name(node)
    )
}

/// The value at `parts` under `root`, as kyaml's Lookup finds it: fields, list
/// indexes, `-` (the last entry) and `[name=value]` (exact match). `Ok(None)`: not
/// there. A null on the way means not there; a null at the end is returned.
pub(crate) fn lookup<'a>(
    root: &'a Value,
    parts: &[String],
) -> std::result::Result<Option<&'a Value>, String> {
    let mut node = root;
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if let Ok(index) = part.parse::<i64>() {
            if index < 0 {
                return Err(format!("array index {index} cannot be negative"));
            }
            node = match node {
                Value::Null => return Ok(None),
                Value::Array(items) => match usize::try_from(index).ok().and_then(|i| items.get(i))
                {
                    Some(item) => item,
                    None => return Ok(None),
                },
                other => return Err(wrong_kind("SequenceNode", other)),
            };
        } else if part == "-" {
            node = match node {
                Value::Null => return Ok(None),
                Value::Array(items) => match items.last() {
                    Some(item) => item,
                    None => return Ok(None),
                },
                other => return Err(wrong_kind("SequenceNode", other)),
            };
        } else if part == "*" {
            return Err("wildcard is not supported in PathGetter".into());
        } else if is_list_entry(part) {
            let (key, wanted) = split_list_entry(part)?;
            let items = match node {
                Value::Null => return Ok(None),
                Value::Array(items) => items,
                other => return Err(wrong_kind("SequenceNode", other)),
            };
            let found = items.iter().find(|item| {
                if key.is_empty() {
                    !matches!(item, Value::Object(_) | Value::Array(_))
                        && scalar_text(item) == wanted
                } else {
                    item.get(key).is_some_and(|v| scalar_text(v) == wanted)
                }
            });
            node = match found {
                Some(item) => item,
                None => return Ok(None),
            };
        } else {
            node = match node {
                Value::Null => return Ok(None),
                Value::Object(map) => match map.get(part) {
                    Some(child) => child,
                    None => return Ok(None),
                },
                other => return Err(wrong_kind("MappingNode", other)),
            };
        }
    }
    Ok(Some(node))
}

/// Text a `[field=regex]` is matched against: the value as YAML, trimmed.
fn match_text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Object(_) | Value::Array(_) => serde_yaml_ng::to_string(value)
            .unwrap_or_default()
            .trim()
            .to_owned(),
        scalar => scalar_text(scalar),
    }
}

/// A fresh node for a created path part: a list if the next part indexes one, a
/// map if there is a next part, else what is being written.
fn fresh_node(next: Option<&String>, leaf: NodeKind) -> Value {
    let kind = match next {
        Some(next) if is_list_entry(next) || next.parse::<u64>().is_ok() => NodeKind::List,
        Some(_) => NodeKind::Map,
        None => leaf,
    };
    match kind {
        NodeKind::List => Value::Array(Vec::new()),
        NodeKind::Map => Value::Object(Map::new()),
        NodeKind::Scalar => Value::Null,
    }
}

/// Calls `visit` on every node at `path` under `node`, as kyaml's PathMatcher
/// finds them, creating missing parts when `create` is set (with the kind of the
/// value being written). `visit` learns whether the node was just created. Returns
/// how many nodes were visited.
fn match_path(
    node: &mut Value,
    path: &[String],
    create: Option<NodeKind>,
    visit: &mut dyn FnMut(&mut Value, bool),
) -> std::result::Result<usize, String> {
    let Some((part, rest)) = path.split_first() else {
        visit(node, false);
        return Ok(1);
    };
    if let Ok(index) = part.parse::<usize>() {
        if node.is_null() && create.is_some() {
            *node = Value::Array(Vec::new());
        }
        let items = match node {
            Value::Null => {
                return Err(format!("index {index} specified but only 0 elements found"));
            }
            Value::Array(items) => items,
            other => return Err(wrong_kind("SequenceNode", other)),
        };
        let mut created = false;
        if let Some(leaf) = create {
            if items.len() == index {
                items.push(fresh_node(rest.first(), leaf));
                created = true;
            }
        }
        let found = items.len();
        let item = items
            .get_mut(index)
            .ok_or_else(|| format!("index {index} specified but only {found} elements found"))?;
        return descend(item, created, rest, create, visit);
    }

    if is_list_entry(part) {
        let (key, pattern) = split_list_entry(part)?;
        let regex = Regex::new(pattern).map_err(|e| format!("error parsing regexp: {e}"))?;
        if node.is_null() && create.is_some() {
            *node = Value::Array(Vec::new());
        }
        let items = match node {
            Value::Null => return Ok(0),
            Value::Array(items) => items,
            other => return Err(wrong_kind("SequenceNode", other)),
        };
        let mut count = 0;
        for item in items.iter_mut() {
            if key.is_empty() {
                // A matching scalar entry is the match itself: the rest of the path
                // is not followed (kyaml does the same).
                if regex.is_match(match_text(item).trim()) {
                    visit(item, false);
                    count += 1;
                }
                continue;
            }
            let matched = item
                .as_object()
                .and_then(|map| map.get(key))
                .is_some_and(|v| regex.is_match(match_text(v).trim()));
            if matched {
                count += match_path(item, rest, create, visit)?;
            }
        }
        if count > 0 || create.is_none() {
            return Ok(count);
        }
        // Nothing matched: add an entry holding the wanted value, and go on in it.
        if key.is_empty() {
            items.push(Value::Null);
            let created = items.last_mut().expect("just pushed");
            visit_created_scalar(created, pattern, visit);
            return Ok(1);
        }
        let mut entry = Map::new();
        entry.insert(key.to_owned(), resolve_plain(pattern));
        items.push(Value::Object(entry));
        let created = items.last_mut().expect("just pushed");
        return match_path(created, rest, create, visit);
    }

    if part == "*" {
        let items = match node {
            Value::Null => return Ok(0),
            Value::Array(items) => items,
            other => return Err(wrong_kind("SequenceNode", other)),
        };
        let mut count = 0;
        for item in items.iter_mut() {
            count += match_path(item, rest, create, visit)?;
        }
        return Ok(count);
    }

    if node.is_null() {
        if create.is_none() {
            return Ok(0);
        }
        *node = Value::Object(Map::new());
    }
    let Value::Object(map) = node else {
        return Err(wrong_kind("MappingNode", node));
    };
    if let Some(child) = map.get_mut(part.as_str()) {
        return descend(child, false, rest, create, visit);
    }
    let Some(leaf) = create else {
        return Ok(0);
    };
    let child = map
        .entry(part.clone())
        .or_insert_with(|| fresh_node(rest.first(), leaf));
    descend(child, true, rest, create, visit)
}

/// Goes on below `child`; a created leaf is visited as created (it has no type
/// until written).
fn descend(
    child: &mut Value,
    created: bool,
    rest: &[String],
    create: Option<NodeKind>,
    visit: &mut dyn FnMut(&mut Value, bool),
) -> std::result::Result<usize, String> {
    if created && rest.is_empty() {
        visit(child, true);
        Ok(1)
    } else {
        match_path(child, rest, create, visit)
    }
}

/// A list entry created from `[=value]`: a scalar typed by its text, then written.
fn visit_created_scalar(node: &mut Value, text: &str, visit: &mut dyn FnMut(&mut Value, bool)) {
    *node = resolve_plain(text);
    // It now holds the pattern text, untyped: writing over it replaces the text.
    visit(node, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::testutil::{fixture, res, Fixture};
    use serde_json::json;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).expect("yaml")
    }

    fn resources() -> ResMap {
        let mut map = ResMap::new();
        for value in [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src"},
                "data": {"port": "8080", "num": "3", "word": "hello", "list": "a.b.c"}}),
            yaml(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - {name: app, image: nginx, args: [x, y]}\n      - {name: app-sidecar, image: busybox}\n      - {name: myapp, image: foo}\n      - {name: other, image: 'bar:1.0'}\n",
            ),
            yaml("apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec:\n  ports:\n  - {port: 80, name: http, targetPort: named}\n"),
        ] {
            map.append(res(value), "kustomization.yaml").expect("append");
        }
        map
    }

    fn run(map: &mut ResMap, replacements: &str) -> Result<()> {
        let f = fixture::<&str>(&[]);
        let entries = match yaml(replacements) {
            Value::Array(items) => items,
            _ => panic!("a list"),
        };
        transform(map, &f.loader, &f.dir, &entries)
    }

    /// The same replacements as a kustomization given to `kubectl kustomize`; the
    /// asserted values are what it printed.
    #[test]
    fn values_land_typed_as_kubectl_writes_them() {
        let mut map = resources();
        run(
            &mut map,
            r"
- source: {kind: ConfigMap, name: src, fieldPath: data.num}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.replicas]
- source: {kind: ConfigMap, name: src, fieldPath: data.word}
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - spec.template.spec.containers.[name=app].image
- source: {kind: ConfigMap, name: src, fieldPath: data.port}
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - spec.template.spec.containers.[name=other].ports.0.containerPort
    - spec.template.metadata.annotations.x
    - spec.newint
    options: {create: true}
  - select: {kind: Service}
    fieldPaths:
    - spec.ports.[name=http].targetPort
    - spec.ports.0.name
- source: {kind: ConfigMap, name: src, fieldPath: data.list, options: {delimiter: '.', index: 1}}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.template.spec.containers.3.image]
    options: {delimiter: ':', index: 1}
  - select: {kind: Deployment}
    fieldPaths: [spec.template.spec.containers.2.image]
    options: {delimiter: ':', index: -1}
  - select: {kind: Deployment}
    fieldPaths: [spec.template.spec.containers.*.args.1]
",
        )
        .expect("replace");
        let deployment = &map.resources[1].obj;
        assert_eq!(
            deployment["spec"]["replicas"],
            json!(3),
            "an int target stays an int"
        );
        assert_eq!(
            deployment["spec"]["newint"],
            json!(8080),
            "a created scalar is typed by its text"
        );
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["annotations"]["x"],
            json!(8080)
        );
        let containers = &deployment["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], json!("hello"));
        assert_eq!(containers[0]["args"], json!(["x", "b"]));
        assert_eq!(
            containers[1]["image"],
            json!("hello"),
            "[name=app] is an unanchored regex"
        );
        assert_eq!(containers[2]["image"], json!("b:hello"));
        assert_eq!(containers[3]["image"], json!("bar:b"));
        assert_eq!(containers[3]["ports"], json!([{"containerPort": 8080}]));
        let service = &map.resources[2].obj;
        assert_eq!(
            service["spec"]["ports"],
            json!([{"port": 80, "name": "8080", "targetPort": "8080"}])
        );
    }

    #[test]
    fn scalar_targets_keep_their_type_or_fail_like_kubectl() {
        let thing = || {
            res(yaml("apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nspec: {a: null, c: 1.5, d: true, e: x, f: 7, h: 0x1F, m: {x: 1}}\n"))
        };
        let mut map = resources();
        map.append(thing(), "k").expect("append");
        run(
            &mut map,
            "- source: {kind: ConfigMap, name: src, fieldPath: data.num}\n  targets:\n  - select: {name: t}\n    fieldPaths: [spec.c, spec.e, spec.f, spec.h]\n- source: {kind: Deployment, fieldPath: spec.template.spec.containers.0}\n  targets:\n  - select: {name: t}\n    fieldPaths: [spec.m]\n",
        )
        .expect("replace");
        let spec = &map.resources[3].obj["spec"];
        assert_eq!(spec["c"], json!(3));
        assert_eq!(spec["e"], json!("3"));
        assert_eq!(spec["f"], json!(3));
        assert_eq!(spec["h"], json!(3));
        assert_eq!(
            spec["m"],
            json!({"name": "app", "image": "nginx", "args": ["x", "y"]})
        );

        let mut map = resources();
        map.append(thing(), "k").expect("append");
        let err = run(
            &mut map,
            "- source: {kind: ConfigMap, name: src, fieldPath: data.word}\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.replicas]\n",
        )
        .expect_err("a word is no int");
        assert!(
            err.to_string()
                .ends_with("yaml: cannot decode !!str `hello` as a !!int"),
            "{err}"
        );
        let err = run(
            &mut map,
            "- source: {kind: ConfigMap, name: src, fieldPath: data.num}\n  targets:\n  - select: {name: t}\n    fieldPaths: [spec.a]\n",
        )
        .expect_err("null target");
        assert!(
            err.to_string()
                .ends_with("cannot decode !!int `3` as a !!null"),
            "{err}"
        );
    }

    #[test]
    fn source_errors_use_kustomize_text() {
        let mut map = resources();
        let err = run(
            &mut map,
            "- source: {kind: Secret, name: nope}\n  targets:\n  - select: {kind: Deployment}\n",
        )
        .expect_err("nothing");
        assert_eq!(
            err.to_string(),
            "kustomization.yaml: replacements[0]: nothing selected by Secret.[noVer].[noGrp]/nope.[noNs]"
        );
        let err = run(
            &mut map,
            "- source: {version: v1, fieldPath: data.x, options: {delimiter: '-'}}\n  targets:\n  - select: {kind: Deployment}\n",
        )
        .expect_err("several");
        assert_eq!(
            err.to_string(),
            "kustomization.yaml: replacements[0]: multiple matches for selector [noKind].v1.[noGrp]/[noName].[noNs]:data.x:-(0), create=false"
        );
        let err = run(
            &mut map,
            "- source: {kind: ConfigMap, fieldPath: data.nope}\n  targets:\n  - select: {kind: Deployment}\n",
        )
        .expect_err("missing");
        assert!(
            err.to_string()
                .ends_with("fieldPath `data.nope` is missing for replacement source ConfigMap.[noVer].[noGrp]/[noName].[noNs]"),
            "{err}"
        );
        let err = run(&mut map, "- source: {kind: ConfigMap}\n").expect_err("no targets");
        assert!(
            err.to_string()
                .ends_with("replacements must specify a source and at least one target"),
            "{err}"
        );
        let err = run(
            &mut map,
            "- source: {kind: ConfigMap}\n  targets:\n  - select: {kind: Service}\n    fieldPaths:\n    - spec.ports.[name=nope].port\n",
        )
        .expect_err("no field");
        assert!(
            err.to_string().ends_with(
                "unable to find field \"spec.ports.[name=nope].port\" in replacement target"
            ),
            "{err}"
        );
        let err = run(&mut map, "- source: {kind: ConfigMap}\n  targets:\n  - select: {kind: Service}\n    fieldPath: [x]\n")
            .expect_err("typo");
        assert!(
            err.to_string().contains("unknown field \"fieldPath\""),
            "{err}"
        );
    }

    #[test]
    fn reject_and_label_selection() {
        let mut map = resources();
        map.resources[2].obj.insert(
            "metadata".into(),
            json!({"name": "svc", "labels": {"tier": "web"}}),
        );
        run(
            &mut map,
            "- source: {kind: ConfigMap, fieldPath: data.word}\n  targets:\n  - select: {}\n    reject: [{kind: ConfigMap}, {labelSelector: tier=web}]\n    fieldPaths: [metadata.annotations.w]\n    options: {create: true}\n",
        )
        .expect("replace");
        assert!(map.resources[0].annotations().is_empty());
        assert_eq!(map.resources[1].annotations()["w"], json!("hello"));
        assert!(map.resources[2].annotations().is_empty());
    }

    #[test]
    fn targets_match_earlier_names_and_sources_may_come_from_files() {
        let mut map = resources();
        map.resources[0].store_previous_id();
        map.resources[0].set_name("prod-src");
        let f = fixture(&[(
            "repl.yaml",
            "- source: {kind: ConfigMap, name: src}\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.template.spec.containers.0.env.0.value]\n    options: {create: true}\n",
        )]);
        transform(&mut map, &f.loader, &f.dir, &[json!({"path": "repl.yaml"})]).expect("replace");
        let containers = &map.resources[1].obj["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["env"], json!([{"value": "prod-src"}]));
        let err = transform(
            &mut map,
            &f.loader,
            &f.dir,
            &[json!({"path": "repl.yaml", "source": {"kind": "x"}})],
        )
        .expect_err("both");
        assert!(
            err.to_string()
                .ends_with("cannot specify both path and inline replacement"),
            "{err}"
        );
        let err = transform(&mut map, &f.loader, &f.dir, &[json!({"path": "nope.yaml"})])
            .expect_err("missing");
        assert!(
            err.to_string()
                .contains("replacements[0].path: 'nope.yaml'"),
            "{err}"
        );
    }

    #[test]
    fn a_path_file_may_hold_one_replacement_but_not_nothing() {
        let f = fixture(&[
            (
                "one.yaml",
                "source: {kind: Service}\ntargets:\n- select: {kind: ConfigMap}\n  fieldPaths: [data.svc]\n  options: {create: true}\n---\nignored: true\n",
            ),
            ("empty.yaml", "# nothing\n"),
        ]);
        let mut map = resources();
        transform(&mut map, &f.loader, &f.dir, &[json!({"path": "one.yaml"})]).expect("replace");
        assert_eq!(map.resources[0].obj["data"]["svc"], json!("svc"));
        let err = transform(
            &mut map,
            &f.loader,
            &f.dir,
            &[json!({"path": "empty.yaml"})],
        )
        .expect_err("empty");
        assert!(
            err.to_string().ends_with(
                "unsupported replacement type encountered within replacement path: invalid"
            ),
            "{err}"
        );
    }

    #[test]
    fn paths_split_like_kustomize() {
        assert_eq!(
            smarter_path_split("metadata.annotations.[config.kubernetes.io/x]"),
            ["metadata", "annotations", "config.kubernetes.io/x"]
        );
        assert_eq!(
            smarter_path_split("spec.containers.[name=a.b].image"),
            ["spec", "containers", "[name=a.b]", "image"]
        );
        assert_eq!(smarter_path_split(r"data.a\.b"), ["data", "a.b"]);
        let value = json!({"spec": {"ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}});
        let parts = smarter_path_split("spec.ports.[name=http].port");
        assert_eq!(
            lookup(&value, &parts),
            Ok(Some(&json!(80))),
            "source lookup matches exactly"
        );
        assert_eq!(
            lookup(&value, &smarter_path_split("spec.ports.-.port")),
            Ok(Some(&json!(443)))
        );
        assert!(lookup(&value, &smarter_path_split("spec.ports.*.port")).is_err());
    }

    #[test]
    fn created_scalars_read_as_yaml_reads_them() {
        assert_eq!(resolve_plain("8080"), json!(8080));
        assert_eq!(resolve_plain("0x1F"), json!(31));
        assert_eq!(resolve_plain("0755"), json!(493));
        assert_eq!(resolve_plain("1e3"), json!(1000));
        assert_eq!(resolve_plain("1.5"), json!(1.5));
        assert_eq!(resolve_plain("True"), json!(true));
        assert_eq!(resolve_plain("~"), json!(null));
        assert_eq!(resolve_plain("08"), json!(8));
        assert_eq!(resolve_plain("nginx:1.0"), json!("nginx:1.0"));
        assert_eq!(resolve_plain(".inf"), json!(".inf"));
    }
}
