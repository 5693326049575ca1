//! `meta.k8s.io/v1` Table responses: what `kubectl get` prints, with the columns of the
//! built-in kinds and the additionalPrinterColumns of custom resources.
//!
//! The cells follow kube-apiserver's printers (which print the internal, defaulted
//! object), the apiextensions table convertor for custom resources, and the generic
//! "Name, Created At" convertor for kinds that have no printer (Role, ClusterRole,
//! CustomResourceDefinition, ...).

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// One printer column of a custom resource (`additionalPrinterColumns`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrinterColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub priority: i32,
    pub json_path: String,
}

/// Errors of the Table conversion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// Kubernetes answers this with 400 Bad Request.
    #[error("unrecognized includeObject value: {0:?}")]
    UnknownIncludeObject(String),
}

/// What each row's `object` carries (the `includeObject` request parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses `includeObject`; an empty value means `Metadata`, as in Kubernetes.
    pub fn parse(value: &str) -> Result<Self, TableError> {
        match value {
            "None" => Ok(Self::None),
            "" | "Metadata" => Ok(Self::Metadata),
            "Object" => Ok(Self::Object),
            other => Err(TableError::UnknownIncludeObject(other.to_owned())),
        }
    }
}

/// Builds the Table for `objects` of one kind. `columns` is Some for a custom resource.
/// `include_object` is the request's includeObject (None, Metadata, Object); callers that
/// want Kubernetes' 400 for an unknown value check it first with [`IncludeObject::parse`],
/// here an unknown value falls back to Metadata.
/// `list_metadata` is the list's metadata (resourceVersion, continue).
pub fn to_table(
    group: &str,
    kind: &str,
    columns: Option<&[PrinterColumn]>,
    objects: &[Value],
    include_object: &str,
    list_metadata: Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let include = IncludeObject::parse(include_object).unwrap_or(IncludeObject::Metadata);
    let (column_definitions, rows) = match columns {
        Some(declared) => custom_resource_table(declared, objects, now),
        None => match builtin_printer(group, kind) {
            Some((columns, print)) => (
                columns.iter().map(|c| c.json()).collect(),
                objects.iter().map(|o| print(o, now)).collect(),
            ),
            None => default_table(objects),
        },
    };
    let rows: Vec<Value> = rows
        .into_iter()
        .zip(objects)
        .map(|(row, object)| row.into_json(object, include))
        .collect();
    let metadata = match list_metadata {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    let mut table = Map::new();
    table.insert("kind".into(), "Table".into());
    table.insert("apiVersion".into(), "meta.k8s.io/v1".into());
    table.insert("metadata".into(), metadata);
    table.insert("columnDefinitions".into(), Value::Array(column_definitions));
    table.insert("rows".into(), Value::Array(rows));
    Value::Object(table)
}

/// Kubernetes' `duration.HumanDuration`: about two significant figures ("5s", "3m2s",
/// "10m", "3h5m", "2d3h", "2y30d"). Up to one second in the future reads as "0s",
/// further is "<invalid>".
pub fn human_duration(d: chrono::Duration) -> String {
    // Go takes int(d.Seconds()), which truncates toward zero; so does num_seconds.
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            dy => format!("{years}y{dy}d"),
        };
    }
    format!("{years}y")
}

// ---------------------------------------------------------------------------------------
// Rows and columns
// ---------------------------------------------------------------------------------------

/// One column definition of a built-in printer.
#[derive(Debug, Clone, Copy)]
struct Col {
    name: &'static str,
    type_: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Col {
    fn json(self) -> Value {
        column_json(
            self.name,
            self.type_,
            self.format,
            self.description,
            self.priority,
        )
    }
}

fn column_json(name: &str, type_: &str, format: &str, description: &str, priority: i32) -> Value {
    let mut c = Map::new();
    c.insert("name".into(), name.into());
    c.insert("type".into(), type_.into());
    c.insert("format".into(), format.into());
    c.insert("description".into(), description.into());
    c.insert("priority".into(), priority.into());
    Value::Object(c)
}

const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Col {
    Col {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// A column only `kubectl get -o wide` shows.
const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Col {
    Col {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

const DESC_NAME: &str =
    "Name of the object, unique within its namespace (or the cluster for cluster-scoped kinds).";
const DESC_AGE: &str =
    "Time since the server created the object (metadata.creationTimestamp), in UTC.";
const NAME: Col = Col {
    name: "Name",
    type_: "string",
    format: "name",
    description: DESC_NAME,
    priority: 0,
};
const AGE: Col = col("Age", "string", DESC_AGE);
const CONTAINERS: Col = wide(
    "Containers",
    "string",
    "Container names of the pod template.",
);
const IMAGES: Col = wide("Images", "string", "Container images of the pod template.");
const SELECTOR: Col = wide(
    "Selector",
    "string",
    "Label selector of the pods it manages.",
);

/// One table row before `object` is attached.
#[derive(Debug, Default)]
struct Row {
    cells: Vec<Value>,
    conditions: Vec<Value>,
}

impl Row {
    fn cells(cells: Vec<Value>) -> Self {
        Self {
            cells,
            conditions: Vec::new(),
        }
    }

    fn into_json(self, object: &Value, include: IncludeObject) -> Value {
        let mut row = Map::new();
        row.insert("cells".into(), Value::Array(self.cells));
        if !self.conditions.is_empty() {
            row.insert("conditions".into(), Value::Array(self.conditions));
        }
        let embedded = match include {
            IncludeObject::None => Value::Null,
            IncludeObject::Object => object.clone(),
            IncludeObject::Metadata => {
                let mut partial = Map::new();
                partial.insert("kind".into(), "PartialObjectMetadata".into());
                partial.insert("apiVersion".into(), "meta.k8s.io/v1".into());
                partial.insert(
                    "metadata".into(),
                    object
                        .get("metadata")
                        .cloned()
                        .unwrap_or_else(|| Value::Object(Map::new())),
                );
                Value::Object(partial)
            }
        };
        row.insert("object".into(), embedded);
        Value::Object(row)
    }
}

type PrintFn = fn(&Value, DateTime<Utc>) -> Row;

/// The printer kube-apiserver registers for a built-in kind, if any.
fn builtin_printer(group: &str, kind: &str) -> Option<(&'static [Col], PrintFn)> {
    let group = if group == "core" { "" } else { group };
    let printer: (&'static [Col], PrintFn) = match (group, kind) {
        ("", "Pod") => (POD_COLUMNS, pod_row),
        ("", "PodTemplate") => (POD_TEMPLATE_COLUMNS, pod_template_row),
        ("", "ReplicationController") => {
            (REPLICATION_CONTROLLER_COLUMNS, replication_controller_row)
        }
        ("", "Service") => (SERVICE_COLUMNS, service_row),
        ("", "Endpoints") => (ENDPOINTS_COLUMNS, endpoints_row),
        ("", "Node") => (NODE_COLUMNS, node_row),
        ("", "Event") | ("events.k8s.io", "Event") => (EVENT_COLUMNS, event_row),
        ("", "Namespace") => (NAMESPACE_COLUMNS, namespace_row),
        ("", "Secret") => (SECRET_COLUMNS, secret_row),
        ("", "ServiceAccount") => (SERVICE_ACCOUNT_COLUMNS, service_account_row),
        ("", "PersistentVolume") => (PERSISTENT_VOLUME_COLUMNS, persistent_volume_row),
        ("", "PersistentVolumeClaim") => (PVC_COLUMNS, pvc_row),
        ("", "ConfigMap") => (CONFIG_MAP_COLUMNS, config_map_row),
        ("", "ResourceQuota") => (RESOURCE_QUOTA_COLUMNS, resource_quota_row),
        ("apps", "Deployment") => (DEPLOYMENT_COLUMNS, deployment_row),
        ("apps", "StatefulSet") => (STATEFUL_SET_COLUMNS, stateful_set_row),
        ("apps", "DaemonSet") => (DAEMON_SET_COLUMNS, daemon_set_row),
        ("apps", "ReplicaSet") => (REPLICA_SET_COLUMNS, replica_set_row),
        ("apps", "ControllerRevision") => (CONTROLLER_REVISION_COLUMNS, controller_revision_row),
        ("batch", "Job") => (JOB_COLUMNS, job_row),
        ("batch", "CronJob") => (CRON_JOB_COLUMNS, cron_job_row),
        ("autoscaling", "HorizontalPodAutoscaler") => (HPA_COLUMNS, hpa_row),
        ("networking.k8s.io", "Ingress") => (INGRESS_COLUMNS, ingress_row),
        ("networking.k8s.io", "IngressClass") => (INGRESS_CLASS_COLUMNS, ingress_class_row),
        ("networking.k8s.io", "NetworkPolicy") => (NETWORK_POLICY_COLUMNS, network_policy_row),
        ("policy", "PodDisruptionBudget") => (PDB_COLUMNS, pdb_row),
        ("rbac.authorization.k8s.io", "RoleBinding") => (ROLE_BINDING_COLUMNS, role_binding_row),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            (CLUSTER_ROLE_BINDING_COLUMNS, role_binding_row)
        }
        ("coordination.k8s.io", "Lease") => (LEASE_COLUMNS, lease_row),
        ("storage.k8s.io", "StorageClass") => (STORAGE_CLASS_COLUMNS, storage_class_row),
        ("scheduling.k8s.io", "PriorityClass") => (PRIORITY_CLASS_COLUMNS, priority_class_row),
        ("node.k8s.io", "RuntimeClass") => (RUNTIME_CLASS_COLUMNS, runtime_class_row),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            (WEBHOOK_COLUMNS, webhook_configuration_row)
        }
        ("discovery.k8s.io", "EndpointSlice") => (ENDPOINT_SLICE_COLUMNS, endpoint_slice_row),
        _ => return None,
    };
    Some(printer)
}

/// Kinds without a printer: Name and the creation time as an RFC 3339 timestamp.
fn default_table(objects: &[Value]) -> (Vec<Value>, Vec<Row>) {
    let columns = vec![
        NAME.json(),
        column_json("Created At", "date", "", DESC_AGE, 0),
    ];
    let rows = objects
        .iter()
        .map(|o| {
            // Go formats the zero time when the timestamp is missing.
            let created = time_at(o, "/metadata/creationTimestamp")
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned());
            Row::cells(vec![name(o), created.into()])
        })
        .collect();
    (columns, rows)
}

// ---------------------------------------------------------------------------------------
// Custom resources
// ---------------------------------------------------------------------------------------

/// Name, then the declared columns; a CRD version that declares none gets an Age column.
fn custom_resource_table(
    declared: &[PrinterColumn],
    objects: &[Value],
    now: DateTime<Utc>,
) -> (Vec<Value>, Vec<Row>) {
    let default_age;
    let declared = if declared.is_empty() {
        default_age = [PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: DESC_AGE.into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }];
        &default_age[..]
    } else {
        declared
    };
    let mut columns = vec![NAME.json()];
    let mut paths = Vec::new();
    for column in declared {
        // Kubernetes stops at the first column whose path does not parse and serves the
        // columns before it.
        let Ok(path) = JsonPath::parse(&column.json_path) else {
            break;
        };
        let description = if column.description.is_empty() {
            format!(
                "Custom resource definition column (in JSONPath format): {}",
                column.json_path
            )
        } else {
            column.description.clone()
        };
        columns.push(column_json(
            &column.name,
            &column.type_,
            &column.format,
            &description,
            column.priority,
        ));
        paths.push((column, path));
    }
    let rows = objects
        .iter()
        .map(|o| {
            let mut cells = vec![name(o)];
            cells.extend(
                paths
                    .iter()
                    .map(|(column, path)| custom_resource_cell(column, path, o, now)),
            );
            Row::cells(cells)
        })
        .collect();
    (columns, rows)
}

/// The first value the column's path finds, typed by the column's type.
fn custom_resource_cell(
    column: &PrinterColumn,
    path: &JsonPath,
    object: &Value,
    now: DateTime<Utc>,
) -> Value {
    let found = match path.find(object) {
        Ok(found) => found,
        Err(_) => return Value::Null,
    };
    let Some(value) = found.first() else {
        return Value::Null;
    };
    match (column.type_.as_str(), value) {
        ("string", v) => Value::String(jsonpath_text(v)),
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, Value::from),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => {
            if s.is_empty() || s == "null" {
                "<unknown>".into()
            } else {
                match DateTime::parse_from_rfc3339(s) {
                    Ok(t) => human_duration(now - t.with_timezone(&Utc)).into(),
                    Err(_) => "<invalid>".into(),
                }
            }
        }
        _ => Value::Null,
    }
}

/// How kubectl's JSONPath prints one value: strings bare, objects and arrays as compact
/// JSON with sorted keys, numbers as Go's `%v` does.
pub fn jsonpath_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        Value::Array(_) | Value::Object(_) => go_json(value),
    }
}

/// Go's `encoding/json` output: map keys sorted, `<`, `>` and `&` escaped.
fn go_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // These characters only occur inside JSON strings, so a plain replace is safe.
    sorted(value)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Go's `fmt` `%v` for a float64: shortest digits, exponent form below 1e-4 and from 1e6.
fn go_float(f: f64) -> String {
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        format!("{f}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

// ---------------------------------------------------------------------------------------
// JSONPath (the subset of k8s.io/client-go/util/jsonpath that printer columns use)
// ---------------------------------------------------------------------------------------

/// Errors of parsing or evaluating a JSONPath expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    #[error("invalid JSONPath {expr:?}: {reason}")]
    Parse { expr: String, reason: String },
    #[error("JSONPath evaluation failed: {0}")]
    Eval(String),
}

/// A parsed JSONPath expression such as `.status.conditions[?(@.type=="Ready")].status`.
/// Missing keys yield no values (as printer columns allow); type errors and out-of-range
/// indexes are errors, as in Kubernetes.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Field(String),
    Wildcard,
    Recursive,
    Slice(SliceParams),
    Union(Vec<Vec<Node>>),
    Filter {
        left: Vec<Node>,
        op: FilterOp,
        right: Vec<Node>,
    },
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct SliceParams {
    start: Option<i64>,
    end: Option<i64>,
    /// `[i]` means `[i:i+1]`; a derived end of 0 (from `[-1]`) counts from the end.
    end_derived: bool,
    step: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterOp {
    Exists,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Evaluates `expr` (with or without the surrounding `{}`) on `obj`. Any parse or
/// evaluation error gives no values, which is how a printer column shows it (empty cell).
pub fn jsonpath(obj: &Value, expr: &str) -> Vec<Value> {
    JsonPath::parse(expr)
        .and_then(|path| path.find(obj))
        .unwrap_or_default()
}

impl JsonPath {
    pub fn parse(expr: &str) -> Result<Self, JsonPathError> {
        let trimmed = expr.trim();
        let inner = trimmed
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(trimmed);
        parse_nodes(inner)
            .map(|nodes| Self { nodes })
            .map_err(|reason| JsonPathError::Parse {
                expr: expr.to_owned(),
                reason,
            })
    }

    /// All values the path selects, in document order.
    pub fn find(&self, obj: &Value) -> Result<Vec<Value>, JsonPathError> {
        eval_list(vec![Cow::Borrowed(obj)], &self.nodes)
            .map(|found| found.into_iter().map(Cow::into_owned).collect())
            .map_err(JsonPathError::Eval)
    }
}

fn is_terminator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
    )
}

fn parse_nodes(input: &str) -> Result<Vec<Node>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut nodes = Vec::new();
    let mut pos = 0;
    let at = |pos: usize, prefix: &str| {
        prefix
            .chars()
            .enumerate()
            .all(|(i, p)| chars.get(pos + i) == Some(&p))
    };
    while pos < chars.len() {
        if at(pos, "[?(") {
            pos = parse_filter(&chars, pos + 3, &mut nodes)?;
            continue;
        }
        if at(pos, "..") {
            if nodes.last() == Some(&Node::Recursive) {
                return Err("invalid multiple recursive descent".into());
            }
            nodes.push(Node::Recursive);
            pos += 2;
            if chars
                .get(pos)
                .is_some_and(|c| *c == '_' || c.is_alphanumeric())
            {
                pos = parse_field(&chars, pos, &mut nodes);
            }
            continue;
        }
        let c = chars[pos];
        match c {
            ' ' | '@' | '$' => pos += 1,
            '.' => pos = parse_field(&chars, pos + 1, &mut nodes),
            '[' => {
                let close = chars[pos..]
                    .iter()
                    .position(|c| *c == ']' || *c == '\n')
                    .map(|i| pos + i)
                    .filter(|i| chars[*i] == ']')
                    .ok_or("unterminated array")?;
                let text: String = chars[pos + 1..close].iter().collect();
                nodes.extend(parse_bracket(&text)?);
                pos = close + 1;
            }
            '"' | '\'' => {
                let mut end = pos + 1;
                loop {
                    match chars.get(end) {
                        None | Some('\n') => return Err("unterminated quoted string".into()),
                        Some(q) if *q == c && chars[end - 1] != '\\' => break,
                        _ => end += 1,
                    }
                }
                let raw: String = chars[pos + 1..end].iter().collect();
                nodes.push(Node::Literal(Value::String(unescape(&raw))));
                pos = end + 1;
            }
            '+' | '-' | '0'..='9' => {
                let mut end = pos + 1;
                while chars
                    .get(end)
                    .is_some_and(|c| *c == '.' || c.is_ascii_digit())
                {
                    end += 1;
                }
                let text: String = chars[pos..end].iter().collect();
                let literal = if let Ok(i) = text.parse::<i64>() {
                    Value::from(i)
                } else if let Ok(f) = text.parse::<f64>() {
                    Value::from(f)
                } else {
                    return Err(format!("cannot parse number {text}"));
                };
                nodes.push(Node::Literal(literal));
                pos = end;
            }
            c if c == '_' || c.is_alphanumeric() => {
                let mut end = pos;
                while chars.get(end).is_some_and(|c| !is_terminator(*c)) {
                    end += 1;
                }
                let word: String = chars[pos..end].iter().collect();
                match word.as_str() {
                    "true" => nodes.push(Node::Literal(Value::Bool(true))),
                    "false" => nodes.push(Node::Literal(Value::Bool(false))),
                    // range/end only make sense in kubectl's output templates.
                    other => return Err(format!("unsupported identifier {other}")),
                }
                pos = end;
            }
            other => return Err(format!("unrecognized character {other:?}")),
        }
    }
    Ok(nodes)
}

/// A field name runs to the next unescaped terminator; `\.` keeps a dot in the name.
fn parse_field(chars: &[char], mut pos: usize, nodes: &mut Vec<Node>) -> usize {
    let mut name = String::new();
    while let Some(&c) = chars.get(pos) {
        if c == '\\' {
            if let Some(&escaped) = chars.get(pos + 1) {
                name.push(escaped);
            }
            pos += 2;
            continue;
        }
        if is_terminator(c) {
            break;
        }
        name.push(c);
        pos += 1;
    }
    nodes.push(if name == "*" {
        Node::Wildcard
    } else {
        Node::Field(name)
    });
    pos
}

fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Inside `[...]`: a union `a,b`, a quoted key `'k'`, or an index/slice `i`, `a:b:c`, `*`.
fn parse_bracket(text: &str) -> Result<Vec<Node>, String> {
    let text = if text == "*" { ":" } else { text };
    if text.contains(',') {
        let members = text
            .split(',')
            .map(|member| parse_nodes(&format!("[{}]", member.trim())))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(vec![Node::Union(members)]);
    }
    if let Some(key) = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .filter(|k| !k.contains('\''))
    {
        // Kubernetes re-parses the key as `.key`, so dots still separate fields.
        return parse_nodes(&format!(".{key}"));
    }
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return Err(format!("invalid array index {text}"));
    }
    let number = |s: &str| -> Result<Option<i64>, String> {
        if s.is_empty() {
            return Ok(None);
        }
        let digits = s.strip_prefix('-').unwrap_or(s);
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("invalid array index {text}"));
        }
        s.parse::<i64>()
            .map(Some)
            .map_err(|_| format!("array index {s} is not a number"))
    };
    let start = number(parts[0])?;
    let (end, end_derived) = match parts.get(1) {
        Some(end) => (number(end)?, false),
        None => (Some(start.unwrap_or(0) + 1), true),
    };
    let step = match parts.get(2) {
        Some(step) => number(step)?,
        None => None,
    };
    Ok(vec![Node::Slice(SliceParams {
        start,
        end,
        end_derived,
        step,
    })])
}

/// Parses `[?(left op right)]` from just after `[?(`; returns the position after `]`.
fn parse_filter(chars: &[char], start: usize, nodes: &mut Vec<Node>) -> Result<usize, String> {
    let mut pos = start;
    let mut quote: Option<char> = None;
    let mut quote_closed = false;
    loop {
        let Some(&c) = chars.get(pos) else {
            return Err("unterminated filter".into());
        };
        match c {
            '\n' => return Err("unterminated filter".into()),
            '"' | '\'' => match quote {
                None => quote = Some(c),
                Some(q) if q == c && chars[pos - 1] != '\\' => quote_closed = true,
                _ => {}
            },
            ')' if quote.is_some() == quote_closed => break,
            _ => {}
        }
        pos += 1;
    }
    if chars.get(pos + 1) != Some(&']') {
        return Err("unclosed array expect ]".into());
    }
    let text: String = chars[start..pos].iter().collect();
    let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
    let split = text.find(is_op).filter(|i| *i > 0).and_then(|left_end| {
        let op_len = text[left_end..].find(|c| !is_op(c))?;
        let op = &text[left_end..left_end + op_len];
        let right = &text[left_end + op_len..];
        (!right.is_empty()).then_some((&text[..left_end], op, right))
    });
    let node = match split {
        None => Node::Filter {
            left: parse_nodes(&text)?,
            op: FilterOp::Exists,
            right: Vec::new(),
        },
        Some((left, op, right)) => Node::Filter {
            left: parse_nodes(left)?,
            op: match op {
                "==" => FilterOp::Eq,
                "!=" => FilterOp::Ne,
                "<" => FilterOp::Lt,
                "<=" => FilterOp::Le,
                ">" => FilterOp::Gt,
                ">=" => FilterOp::Ge,
                other => return Err(format!("unrecognized filter operator {other}")),
            },
            right: parse_nodes(right)?,
        },
    };
    nodes.push(node);
    Ok(pos + 2)
}

type Found<'a> = Vec<Cow<'a, Value>>;

fn eval_list<'a>(mut current: Found<'a>, nodes: &[Node]) -> Result<Found<'a>, String> {
    for node in nodes {
        current = eval_node(current, node)?;
    }
    Ok(current)
}

fn eval_node<'a>(input: Found<'a>, node: &Node) -> Result<Found<'a>, String> {
    match node {
        Node::Literal(v) => Ok(vec![Cow::Owned(v.clone())]),
        Node::Field(name) => Ok(input
            .into_iter()
            .filter_map(|v| match v {
                Cow::Borrowed(Value::Object(m)) => m.get(name).map(Cow::Borrowed),
                Cow::Owned(Value::Object(mut m)) => m.remove(name).map(Cow::Owned),
                _ => None,
            })
            .collect()),
        Node::Wildcard => Ok(input.iter().flat_map(|v| children(v)).collect()),
        Node::Recursive => {
            let mut out = Vec::new();
            for v in input {
                descend(v, &mut out);
            }
            Ok(out)
        }
        Node::Slice(params) => eval_slice(input, params),
        Node::Union(members) => {
            let mut out = Vec::new();
            for member in members {
                out.extend(eval_list(input.clone(), member)?);
            }
            Ok(out)
        }
        Node::Filter { left, op, right } => eval_filter(input, left, *op, right),
    }
}

/// What a wildcard or recursive descent steps into. Go's reflection also walks into the
/// bytes of a string, so a non-empty string has children too.
fn children<'a>(value: &Cow<'a, Value>) -> Found<'a> {
    match value {
        Cow::Borrowed(Value::Object(m)) => m.values().map(Cow::Borrowed).collect(),
        Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
        Cow::Owned(Value::Object(m)) => m.values().cloned().map(Cow::Owned).collect(),
        Cow::Owned(Value::Array(a)) => a.iter().cloned().map(Cow::Owned).collect(),
        Cow::Borrowed(Value::String(s)) | Cow::Owned(Value::String(s)) => {
            s.bytes().map(|b| Cow::Owned(Value::from(b))).collect()
        }
        _ => Vec::new(),
    }
}

fn descend<'a>(value: Cow<'a, Value>, out: &mut Found<'a>) {
    let kids = children(&value);
    if kids.is_empty() {
        return;
    }
    out.push(value);
    for kid in kids {
        descend(kid, out);
    }
}

fn eval_slice<'a>(input: Found<'a>, p: &SliceParams) -> Result<Found<'a>, String> {
    let mut out = Vec::new();
    for value in input {
        let items: Found<'a> = match value {
            Cow::Borrowed(Value::Null) | Cow::Owned(Value::Null) => continue,
            Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
            Cow::Owned(Value::Array(a)) => a.into_iter().map(Cow::Owned).collect(),
            other => return Err(format!("{other} is not array or slice")),
        };
        let len = items.len() as i64;
        let mut start = p.start.unwrap_or(0);
        if start < 0 {
            start += len;
        }
        let mut end = p.end.unwrap_or(len);
        if end < 0 || (end == 0 && p.end_derived) {
            end += len;
        }
        if start == end {
            // Kubernetes returns what it has so far when asked for zero elements.
            return Ok(out);
        }
        if start < 0 || start >= len {
            return Err(format!(
                "array index out of bounds: index {start}, length {len}"
            ));
        }
        if end < 0 || end > len {
            return Err(format!(
                "array index out of bounds: index {}, length {len}",
                end - 1
            ));
        }
        if start > end {
            return Err(format!(
                "starting index {start} is greater than ending index {end}"
            ));
        }
        let step = match p.step {
            Some(step) if step <= 0 => return Err("step must be > 0".into()),
            Some(step) => step as usize,
            None => 1,
        };
        out.extend(
            items
                .into_iter()
                .skip(start as usize)
                .take((end - start) as usize)
                .step_by(step),
        );
    }
    Ok(out)
}

fn eval_filter<'a>(
    input: Found<'a>,
    left: &[Node],
    op: FilterOp,
    right: &[Node],
) -> Result<Found<'a>, String> {
    let mut out = Vec::new();
    for value in input {
        let items: Found<'a> = match value {
            Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
            Cow::Owned(Value::Array(a)) => a.into_iter().map(Cow::Owned).collect(),
            other => {
                return Err(format!(
                    "{other} is not array or slice and cannot be filtered"
                ))
            }
        };
        for item in items {
            let lefts = eval_list(vec![item.clone()], left);
            if op == FilterOp::Exists {
                if lefts.is_ok_and(|l| !l.is_empty()) {
                    out.push(item);
                }
                continue;
            }
            let lefts = lefts?;
            let Some(l) = single(&lefts)? else { continue };
            let rights = eval_list(vec![item.clone()], right)?;
            let Some(r) = single(&rights)? else { continue };
            if compare(l, op, r)? {
                out.push(item);
            }
        }
    }
    Ok(out)
}

fn single<'v>(found: &'v [Cow<'_, Value>]) -> Result<Option<&'v Value>, String> {
    match found {
        [] => Ok(None),
        [one] => Ok(Some(one.as_ref())),
        _ => Err("can only compare one element at a time".into()),
    }
}

/// Go template comparison: both sides must be the same basic kind (ints of either sign
/// compare with each other); anything else is an error.
fn compare(left: &Value, op: FilterOp, right: &Value) -> Result<bool, String> {
    use std::cmp::Ordering;
    #[derive(PartialEq)]
    enum Basic<'s> {
        Bool(bool),
        Int(i128),
        Float(f64),
        Str(&'s str),
    }
    fn basic(v: &Value) -> Result<Basic<'_>, String> {
        match v {
            Value::Bool(b) => Ok(Basic::Bool(*b)),
            Value::String(s) => Ok(Basic::Str(s)),
            Value::Number(n) => Ok(match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Basic::Int(i128::from(i)),
                (_, Some(u), _) => Basic::Int(i128::from(u)),
                (_, _, f) => Basic::Float(f.unwrap_or(f64::NAN)),
            }),
            _ => Err("invalid type for comparison".into()),
        }
    }
    let (l, r) = (basic(left)?, basic(right)?);
    let ordering = match (&l, &r) {
        (Basic::Int(a), Basic::Int(b)) => a.partial_cmp(b),
        (Basic::Float(a), Basic::Float(b)) => a.partial_cmp(b),
        (Basic::Str(a), Basic::Str(b)) => a.partial_cmp(b),
        (Basic::Bool(a), Basic::Bool(b)) => {
            return match op {
                FilterOp::Eq => Ok(a == b),
                FilterOp::Ne => Ok(a != b),
                _ => Err("invalid type for comparison".into()),
            }
        }
        _ => return Err("incompatible types for comparison".into()),
    };
    let is = |wanted: &[Ordering]| ordering.is_some_and(|o| wanted.contains(&o));
    Ok(match op {
        FilterOp::Eq => is(&[Ordering::Equal]),
        FilterOp::Ne => !is(&[Ordering::Equal]),
        FilterOp::Lt => is(&[Ordering::Less]),
        FilterOp::Le => is(&[Ordering::Less, Ordering::Equal]),
        FilterOp::Gt => !is(&[Ordering::Less, Ordering::Equal]),
        FilterOp::Ge => !is(&[Ordering::Less]),
        FilterOp::Exists => true,
    })
}

// ---------------------------------------------------------------------------------------
// Field access and formatting helpers
// ---------------------------------------------------------------------------------------

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The string at `pointer`, or `default` when it is missing or empty (a value the
/// API server's defaulting would have filled in).
fn text_or<'a>(v: &'a Value, pointer: &str, default: &'a str) -> &'a str {
    match text(v, pointer) {
        "" => default,
        s => s,
    }
}

fn opt_int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer)
        .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)))
}

fn int(v: &Value, pointer: &str) -> i64 {
    opt_int(v, pointer).unwrap_or(0)
}

fn list<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn entry_count(v: &Value, pointer: &str) -> i64 {
    match v.pointer(pointer) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

fn flag(v: &Value, pointer: &str) -> Option<bool> {
    v.pointer(pointer).and_then(Value::as_bool)
}

fn time_at(v: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text(v, pointer))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `translateTimestampSince`: "<unknown>" for a missing timestamp.
fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or_else(|| "<unknown>".to_owned(), |t| human_duration(now - t))
}

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    since(time_at(obj, "/metadata/creationTimestamp"), now).into()
}

fn name(obj: &Value) -> Value {
    text(obj, "/metadata/name").into()
}

fn is_deleting(obj: &Value) -> bool {
    time_at(obj, "/metadata/deletionTimestamp").is_some()
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.into()
    }
}

/// A quantity or int-or-string as written (numbers in decimal).
fn scalar_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A resource.Quantity field; Go prints a nil one as "<nil>".
fn quantity(v: &Value, pointer: &str) -> String {
    scalar_text(v.pointer(pointer)).unwrap_or_else(|| "<nil>".into())
}

/// Container names and images of a pod spec, comma-separated (the wide columns).
fn containers_and_images(pod_spec: Option<&Value>) -> (Value, Value) {
    let containers = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let names: Vec<&str> = containers.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, "/image")).collect();
    (names.join(",").into(), images.join(",").into())
}

/// `labels.FormatLabels`: sorted `k=v` pairs, "<none>" when empty.
fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    or_none(&pairs.join(","))
}

/// A LabelSelector as `labels.Selector.String()` prints it: requirements sorted by key,
/// set values sorted. Missing or empty selectors print as "". Err for an invalid one.
fn selector_string(selector: Option<&Value>) -> Result<String, ()> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Ok(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            let value = value.as_str().unwrap_or_default();
            requirements.push((key.clone(), format!("{key}={value}")));
        }
    }
    for expression in list(selector, "/matchExpressions") {
        let key = text(expression, "/key");
        let mut values: Vec<&str> = list(expression, "/values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let shown = match text(expression, "/operator") {
            "In" if !values.is_empty() => format!("{key} in ({})", values.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", values.join(",")),
            "Exists" if values.is_empty() => key.to_owned(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(()),
        };
        requirements.push((key.to_owned(), shown));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(requirements
        .into_iter()
        .map(|(_, shown)| shown)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: "<none>" for an empty selector, "<error>" for an invalid one.
fn format_label_selector(selector: Option<&Value>) -> String {
    match selector_string(selector) {
        Err(()) => "<error>".into(),
        Ok(s) => or_none(&s),
    }
}

fn format_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

fn condition_status<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| text(c, "/type") == type_)
        .map(|c| text(c, "/status"))
}

// ---------------------------------------------------------------------------------------
// Built-in printers
// ---------------------------------------------------------------------------------------

static POD_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Ready",
        "string",
        "Ready containers out of all containers of the pod.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the pod's containers.",
    ),
    col(
        "Restarts",
        "string",
        "Container restarts, and how long ago the last one was.",
    ),
    AGE,
    wide("IP", "string", "The pod's IP address."),
    wide("Node", "string", "The node the pod is bound to."),
    wide(
        "Nominated Node",
        "string",
        "The node the scheduler nominated for preemption.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "Readiness gates whose condition is True, out of all.",
    ),
];

fn pod_row(pod: &Value, now: DateTime<Utc>) -> Row {
    let containers = list(pod, "/spec/containers");
    let init_containers = list(pod, "/spec/initContainers");
    let conditions = list(pod, "/status/conditions");
    // Sidecars (init containers with restartPolicy Always) count as regular containers.
    let is_sidecar = |name: &str| {
        init_containers
            .iter()
            .any(|c| text(c, "/name") == name && text(c, "/restartPolicy") == "Always")
    };
    let total = containers.len()
        + init_containers
            .iter()
            .filter(|c| text(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;
    let later = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| a.max(b);

    let phase = text(pod, "/status/phase");
    let mut reason = text_or(pod, "/status/reason", phase).to_owned();
    if conditions
        .iter()
        .any(|c| text(c, "/type") == "PodScheduled" && text(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let mut row = Row::default();
    match phase {
        "Succeeded" => row.conditions.push(completed_condition(
            "Succeeded",
            "The pod ran to completion.",
        )),
        "Failed" => row
            .conditions
            .push(completed_condition("Failed", "The pod failed.")),
        _ => {}
    }

    let mut initializing = false;
    for (i, status) in list(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let count = int(status, "/restartCount");
        let finished = time_at(status, "/lastState/terminated/finishedAt");
        restarts += count;
        last_restart = later(last_restart, finished);
        let sidecar = is_sidecar(text(status, "/name"));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = status.pointer("/state/terminated").filter(|t| !t.is_null());
        let waiting_reason = text(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| int(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && flag(status, "/started") == Some(true) {
            if flag(status, "/ready") == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            match (text(t, "/reason"), int(t, "/signal")) {
                ("", 0) => format!("Init:ExitCode:{}", int(t, "/exitCode")),
                ("", signal) => format!("Init:Signal:{signal}"),
                (r, _) => format!("Init:{r}"),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_containers.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_status(conditions, "Initialized") == Some("True") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for status in list(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(status, "/restartCount");
            last_restart = later(
                last_restart,
                time_at(status, "/lastState/terminated/finishedAt"),
            );
            let terminated = status.pointer("/state/terminated").filter(|t| !t.is_null());
            let running = status
                .pointer("/state/running")
                .is_some_and(|r| !r.is_null());
            let waiting_reason = text(status, "/state/waiting/reason");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_owned();
            } else if let Some(t) = terminated {
                reason = match (text(t, "/reason"), int(t, "/signal")) {
                    ("", 0) => format!("ExitCode:{}", int(t, "/exitCode")),
                    ("", signal) => format!("Signal:{signal}"),
                    (r, _) => r.to_owned(),
                };
            } else if flag(status, "/ready") == Some(true) && running {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed while another still runs is not done.
        if reason == "Completed" && has_running {
            reason = if condition_status(conditions, "Ready") == Some("True") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if is_deleting(pod) && text(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if is_deleting(pod) && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".into();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };
    let pod_ip = list(pod, "/status/podIPs")
        .first()
        .map(|ip| text(ip, "/ip"))
        .unwrap_or_else(|| text(pod, "/status/podIP"));
    let gates = list(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let passing = gates
            .iter()
            .filter(|g| condition_status(conditions, text(g, "/conditionType")) == Some("True"))
            .count();
        format!("{passing}/{}", gates.len())
    };
    row.cells = vec![
        name(pod),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_text.into(),
        age(pod, now),
        or_none(pod_ip).into(),
        or_none(text(pod, "/spec/nodeName")).into(),
        or_none(text(pod, "/status/nominatedNodeName")).into(),
        readiness_gates.into(),
    ];
    row
}

fn completed_condition(reason: &str, message: &str) -> Value {
    let mut c = Map::new();
    c.insert("type".into(), "Completed".into());
    c.insert("status".into(), "True".into());
    c.insert("reason".into(), reason.into());
    c.insert("message".into(), message.into());
    Value::Object(c)
}

static POD_TEMPLATE_COLUMNS: &[Col] = &[
    NAME,
    col("Containers", "string", "Container names of the template."),
    col("Images", "string", "Container images of the template."),
    col("Pod Labels", "string", "Labels of the template's pods."),
];

fn pod_template_row(obj: &Value, _now: DateTime<Utc>) -> Row {
    let (names, images) = containers_and_images(obj.pointer("/template/spec"));
    Row::cells(vec![
        name(obj),
        names,
        images,
        format_labels(obj.pointer("/template/metadata/labels")).into(),
    ])
}

static REPLICATION_CONTROLLER_COLUMNS: &[Col] = &[
    NAME,
    col("Desired", "integer", "Desired number of replicas."),
    col("Current", "integer", "Number of replicas that exist."),
    col("Ready", "integer", "Number of ready replicas."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn replication_controller_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = containers_and_images(obj.pointer("/spec/template/spec"));
    Row::cells(vec![
        name(obj),
        desired_replicas(obj).into(),
        int(obj, "/status/replicas").into(),
        int(obj, "/status/readyReplicas").into(),
        age(obj, now),
        names,
        images,
        format_labels(obj.pointer("/spec/selector")).into(),
    ])
}

/// spec.replicas, which the API server defaults to 1.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int(obj, "/spec/replicas").unwrap_or(1)
}

static REPLICA_SET_COLUMNS: &[Col] = &[
    NAME,
    col("Desired", "integer", "Desired number of replicas."),
    col("Current", "integer", "Number of replicas that exist."),
    col("Ready", "integer", "Number of ready replicas."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn replica_set_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = containers_and_images(obj.pointer("/spec/template/spec"));
    Row::cells(vec![
        name(obj),
        desired_replicas(obj).into(),
        int(obj, "/status/replicas").into(),
        int(obj, "/status/readyReplicas").into(),
        age(obj, now),
        names,
        images,
        format_label_selector(obj.pointer("/spec/selector")).into(),
    ])
}

static DEPLOYMENT_COLUMNS: &[Col] = &[
    NAME,
    col("Ready", "string", "Ready replicas out of desired replicas."),
    col(
        "Up-to-date",
        "string",
        "Replicas running the current pod template.",
    ),
    col("Available", "string", "Replicas available to serve."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn deployment_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = containers_and_images(obj.pointer("/spec/template/spec"));
    let selector =
        selector_string(obj.pointer("/spec/selector")).unwrap_or_else(|()| "<invalid>".into());
    Row::cells(vec![
        name(obj),
        format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired_replicas(obj)
        )
        .into(),
        int(obj, "/status/updatedReplicas").into(),
        int(obj, "/status/availableReplicas").into(),
        age(obj, now),
        names,
        images,
        selector.into(),
    ])
}

static STATEFUL_SET_COLUMNS: &[Col] = &[
    NAME,
    col("Ready", "string", "Ready replicas out of desired replicas."),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn stateful_set_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = containers_and_images(obj.pointer("/spec/template/spec"));
    Row::cells(vec![
        name(obj),
        format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired_replicas(obj)
        )
        .into(),
        age(obj, now),
        names,
        images,
    ])
}

static DAEMON_SET_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Nodes that should run the daemon pod.",
    ),
    col(
        "Current",
        "integer",
        "Nodes running at least one daemon pod.",
    ),
    col("Ready", "integer", "Nodes whose daemon pod is ready."),
    col(
        "Up-to-date",
        "integer",
        "Nodes running the current pod template.",
    ),
    col(
        "Available",
        "integer",
        "Nodes whose daemon pod is available.",
    ),
    col(
        "Node Selector",
        "string",
        "Node selector of the pod template.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn daemon_set_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let (names, images) = containers_and_images(obj.pointer("/spec/template/spec"));
    Row::cells(vec![
        name(obj),
        int(obj, "/status/desiredNumberScheduled").into(),
        int(obj, "/status/currentNumberScheduled").into(),
        int(obj, "/status/numberReady").into(),
        int(obj, "/status/updatedNumberScheduled").into(),
        int(obj, "/status/numberAvailable").into(),
        format_labels(obj.pointer("/spec/template/spec/nodeSelector")).into(),
        age(obj, now),
        names,
        images,
        format_label_selector(obj.pointer("/spec/selector")).into(),
    ])
}

static CONTROLLER_REVISION_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Controller",
        "string",
        "The object that owns this revision.",
    ),
    col("Revision", "string", "Revision number."),
    AGE,
];

fn controller_revision_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let controller = list(obj, "/metadata/ownerReferences")
        .iter()
        .find(|r| flag(r, "/controller") == Some(true))
        .map_or_else(
            || "<none>".to_owned(),
            |r| {
                let api_version = text(r, "/apiVersion");
                let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
                let kind = text(r, "/kind");
                let group_kind = if group.is_empty() {
                    kind.to_owned()
                } else {
                    format!("{kind}.{group}")
                };
                format!("{}/{}", group_kind.to_lowercase(), text(r, "/name"))
            },
        );
    Row::cells(vec![
        name(obj),
        controller.into(),
        int(obj, "/revision").into(),
        age(obj, now),
    ])
}

static JOB_COLUMNS: &[Col] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col(
        "Completions",
        "string",
        "Succeeded pods out of the completions wanted.",
    ),
    col(
        "Duration",
        "string",
        "How long the job ran (or has been running).",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn job_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let succeeded = int(obj, "/status/succeeded");
    let completions = match opt_int(obj, "/spec/completions") {
        Some(wanted) => format!("{succeeded}/{wanted}"),
        None => match opt_int(obj, "/spec/parallelism").unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        time_at(obj, "/status/startTime"),
        time_at(obj, "/status/completionTime"),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let conditions = list(obj, "/status/conditions");
    let has = |t: &str| condition_status(conditions, t) == Some("True");
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if is_deleting(obj) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers_and_images(obj.pointer("/spec/template/spec"));
    Row::cells(vec![
        name(obj),
        status.into(),
        completions.into(),
        duration.into(),
        age(obj, now),
        names,
        images,
        format_label_selector(obj.pointer("/spec/selector")).into(),
    ])
}

static CRON_JOB_COLUMNS: &[Col] = &[
    NAME,
    col("Schedule", "string", "The cron schedule."),
    col("Timezone", "string", "Time zone of the schedule."),
    col("Suspend", "boolean", "Whether new runs are suspended."),
    col("Active", "integer", "Number of running jobs."),
    col(
        "Last Schedule",
        "string",
        "Time since a job was last scheduled.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn cron_job_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let last_schedule = match time_at(obj, "/status/lastScheduleTime") {
        Some(t) => since(Some(t), now),
        None => "<none>".into(),
    };
    let (names, images) =
        containers_and_images(obj.pointer("/spec/jobTemplate/spec/template/spec"));
    Row::cells(vec![
        name(obj),
        text(obj, "/spec/schedule").into(),
        or_none(text(obj, "/spec/timeZone")).into(),
        // spec.suspend is defaulted to false by the API server.
        format_bool(flag(obj, "/spec/suspend").unwrap_or(false)).into(),
        entry_count(obj, "/status/active").into(),
        last_schedule.into(),
        age(obj, now),
        names,
        images,
        format_label_selector(obj.pointer("/spec/jobTemplate/spec/selector")).into(),
    ])
}

static SERVICE_COLUMNS: &[Col] = &[
    NAME,
    col("Type", "string", "How the service is exposed."),
    col("Cluster-IP", "string", "The service's cluster IP."),
    col(
        "External-IP",
        "string",
        "External addresses of the service.",
    ),
    col("Port(s)", "string", "Ports the service exposes."),
    AGE,
    wide(
        "Selector",
        "string",
        "Label selector of the pods behind the service.",
    ),
];

fn service_row(svc: &Value, now: DateTime<Utc>) -> Row {
    let type_ = text_or(svc, "/spec/type", "ClusterIP");
    let cluster_ip = list(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or_else(|| text(svc, "/spec/clusterIP"));
    let external_ips: Vec<&str> = list(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match type_ {
        "ClusterIP" | "NodePort" => or_none(&external_ips.join(",")),
        "LoadBalancer" => {
            let mut addresses: Vec<&str> = Vec::new();
            for ingress in list(svc, "/status/loadBalancer/ingress") {
                let address = text_or(ingress, "/ip", text(ingress, "/hostname"));
                if !address.is_empty() && !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
            addresses.extend(external_ips);
            if addresses.is_empty() {
                "<pending>".into()
            } else {
                addresses.join(",")
            }
        }
        "ExternalName" => text(svc, "/spec/externalName").into(),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = list(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = text_or(p, "/protocol", "TCP");
            match int(p, "/nodePort") {
                node_port if node_port > 0 => {
                    format!("{}:{node_port}/{protocol}", int(p, "/port"))
                }
                _ => format!("{}/{protocol}", int(p, "/port")),
            }
        })
        .collect();
    Row::cells(vec![
        name(svc),
        type_.into(),
        or_none(cluster_ip).into(),
        external.into(),
        or_none(&ports.join(",")).into(),
        age(svc, now),
        format_labels(svc.pointer("/spec/selector")).into(),
    ])
}

static ENDPOINTS_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "Addresses and ports of the endpoints.",
    ),
    AGE,
];

fn endpoints_row(obj: &Value, now: DateTime<Utc>) -> Row {
    const SHOWN: usize = 3;
    let subsets = list(obj, "/subsets");
    let mut shown: Vec<String> = Vec::new();
    let mut total = 0;
    for subset in subsets {
        let addresses = list(subset, "/addresses");
        let ports = list(subset, "/ports");
        if ports.is_empty() {
            // Headless services may have addresses without ports.
            total += addresses.len();
            shown.extend(addresses.iter().map(|a| text(a, "/ip").to_owned()));
            continue;
        }
        for port in ports {
            total += addresses.len();
            for address in addresses {
                let ip = text(address, "/ip");
                let port = int(port, "/port");
                shown.push(if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                });
            }
        }
    }
    let endpoints = if subsets.is_empty() {
        "<none>".to_owned()
    } else if total > SHOWN {
        shown.truncate(SHOWN);
        format!("{} + {} more...", shown.join(","), total - SHOWN)
    } else {
        shown.join(",")
    };
    Row::cells(vec![name(obj), endpoints.into(), age(obj, now)])
}

static ENDPOINT_SLICE_COLUMNS: &[Col] = &[
    NAME,
    col("AddressType", "string", "Type of the addresses."),
    col("Ports", "string", "Ports of the endpoints."),
    col("Endpoints", "string", "Addresses of the endpoints."),
    AGE,
];

fn endpoint_slice_row(obj: &Value, now: DateTime<Utc>) -> Row {
    fn at_most_three(all: Vec<String>) -> String {
        match all.len() {
            0 => "<unset>".into(),
            n if n > 3 => format!("{} + {} more...", all[..3].join(","), n - 3),
            _ => all.join(","),
        }
    }
    let ports = list(obj, "/ports")
        .iter()
        .map(|p| match opt_int(p, "/port") {
            Some(port) => port.to_string(),
            None => text_or(p, "/name", "*").to_owned(),
        })
        .collect();
    let addresses = list(obj, "/endpoints")
        .iter()
        .flat_map(|e| list(e, "/addresses"))
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    Row::cells(vec![
        name(obj),
        text(obj, "/addressType").into(),
        at_most_three(ports).into(),
        at_most_three(addresses).into(),
        age(obj, now),
    ])
}

static NODE_COLUMNS: &[Col] = &[
    NAME,
    col("Status", "string", "Readiness of the node."),
    col("Roles", "string", "Roles of the node."),
    AGE,
    col("Version", "string", "Kubelet version."),
    wide("Internal-IP", "string", "Internal address of the node."),
    wide("External-IP", "string", "External address of the node."),
    wide("OS-Image", "string", "Operating system image."),
    wide("Kernel-Version", "string", "Kernel version."),
    wide(
        "Container-Runtime",
        "string",
        "Container runtime and version.",
    ),
];

fn node_row(node: &Value, now: DateTime<Utc>) -> Row {
    let mut status: Vec<&str> = match condition_status(list(node, "/status/conditions"), "Ready") {
        Some("True") => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if flag(node, "/spec/unschedulable") == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) if !role.is_empty() => Some(role),
                    Some(_) => None,
                    None if k == "kubernetes.io/role" => v.as_str().filter(|v| !v.is_empty()),
                    None => None,
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort_unstable();
    roles.dedup();
    let address = |type_: &str| {
        list(node, "/status/addresses")
            .iter()
            .find(|a| text(a, "/type") == type_)
            .map_or("<none>", |a| text(a, "/address"))
    };
    let info = |field: &str| text_or(node, &format!("/status/nodeInfo/{field}"), "<unknown>");
    Row::cells(vec![
        name(node),
        status.join(",").into(),
        or_none(&roles.join(",")).into(),
        age(node, now),
        text(node, "/status/nodeInfo/kubeletVersion").into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ])
}

static EVENT_COLUMNS: &[Col] = &[
    col("Last Seen", "string", "Time since the event was last seen."),
    col("Type", "string", "Normal or Warning."),
    col("Reason", "string", "Short, machine-readable reason."),
    col("Object", "string", "The object the event is about."),
    wide(
        "Subobject",
        "string",
        "The part of the object the event is about.",
    ),
    wide("Source", "string", "The component that reported the event."),
    col("Message", "string", "Human-readable description."),
    wide(
        "First Seen",
        "string",
        "Time since the event was first seen.",
    ),
    wide("Count", "string", "How often the event occurred."),
    Col {
        name: "Name",
        type_: "string",
        format: "name",
        description: DESC_NAME,
        priority: 1,
    },
];

/// core/v1 and events.k8s.io/v1 Events print alike; the latter names its fields differently.
fn event_row(event: &Value, now: DateTime<Utc>) -> Row {
    let new_api = text(event, "/apiVersion").starts_with("events.k8s.io/")
        || event.get("regarding").is_some()
        || event.get("note").is_some()
        || event.get("deprecatedCount").is_some();
    let field = |core: &'static str, events: &'static str| if new_api { events } else { core };
    let first_seen = match time_at(event, field("/firstTimestamp", "/deprecatedFirstTimestamp")) {
        Some(t) => since(Some(t), now),
        None => since(time_at(event, "/eventTime"), now),
    };
    let mut last_seen = match time_at(event, field("/lastTimestamp", "/deprecatedLastTimestamp")) {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = int(event, field("/count", "/deprecatedCount"));
    if event.get("series").is_some_and(|s| !s.is_null()) {
        last_seen = since(time_at(event, "/series/lastObservedTime"), now);
        count = int(event, "/series/count");
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let involved = field("/involvedObject", "/regarding");
    let kind = text(event, &format!("{involved}/kind")).to_lowercase();
    let object_name = text(event, &format!("{involved}/name"));
    let target = if object_name.is_empty() {
        kind
    } else {
        format!("{kind}/{object_name}")
    };
    let source = field("/source", "/deprecatedSource");
    let component = text_or(
        event,
        &format!("{source}/component"),
        text(event, "/reportingController"),
    );
    let host = text_or(
        event,
        &format!("{source}/host"),
        text(event, "/reportingInstance"),
    );
    let source_text = if host.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {host}")
    };
    Row::cells(vec![
        last_seen.into(),
        text(event, "/type").into(),
        text(event, "/reason").into(),
        target.into(),
        text(event, &format!("{involved}/fieldPath")).into(),
        source_text.into(),
        text(event, field("/message", "/note")).trim().into(),
        first_seen.into(),
        count.into(),
        name(event),
    ])
}

static NAMESPACE_COLUMNS: &[Col] = &[
    NAME,
    col("Status", "string", "Phase of the namespace."),
    AGE,
];

fn namespace_row(ns: &Value, now: DateTime<Utc>) -> Row {
    // The server always sets the phase; fall back to what it would have set.
    let fallback = if is_deleting(ns) {
        "Terminating"
    } else {
        "Active"
    };
    Row::cells(vec![
        name(ns),
        text_or(ns, "/status/phase", fallback).into(),
        age(ns, now),
    ])
}

static SECRET_COLUMNS: &[Col] = &[
    NAME,
    col("Type", "string", "Type of the secret."),
    col("Data", "string", "Number of data entries."),
    AGE,
];

fn secret_row(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        text_or(obj, "/type", "Opaque").into(),
        entry_count(obj, "/data").into(),
        age(obj, now),
    ])
}

static SERVICE_ACCOUNT_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Number of secrets listed on the account.",
    ),
    AGE,
];

fn service_account_row(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        entry_count(obj, "/secrets").into(),
        age(obj, now),
    ])
}

static CONFIG_MAP_COLUMNS: &[Col] = &[
    NAME,
    col("Data", "string", "Number of data and binaryData entries."),
    AGE,
];

fn config_map_row(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        (entry_count(obj, "/data") + entry_count(obj, "/binaryData")).into(),
        age(obj, now),
    ])
}

/// Access modes as kubectl abbreviates them, always in the order RWO, ROX, RWX, RWOP.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class, preferring the old beta annotation like Kubernetes does.
fn storage_class_of(obj: &Value) -> String {
    obj.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .and_then(Value::as_str)
        .unwrap_or_else(|| text(obj, "/spec/storageClassName"))
        .to_owned()
}

static PERSISTENT_VOLUME_COLUMNS: &[Col] = &[
    NAME,
    col("Capacity", "string", "Size of the volume."),
    col("Access Modes", "string", "How the volume can be mounted."),
    col(
        "Reclaim Policy",
        "string",
        "What happens to the volume when released.",
    ),
    col("Status", "string", "Phase of the volume."),
    col("Claim", "string", "The claim bound to the volume."),
    col("StorageClass", "string", "Storage class of the volume."),
    col(
        "VolumeAttributesClass",
        "string",
        "Volume attributes class of the volume.",
    ),
    col("Reason", "string", "Why the volume is in its phase."),
    AGE,
    wide("VolumeMode", "string", "Filesystem or Block."),
];

fn persistent_volume_row(pv: &Value, now: DateTime<Utc>) -> Row {
    let claim = match pv.pointer("/spec/claimRef").filter(|c| c.is_object()) {
        Some(c) => format!("{}/{}", text(c, "/namespace"), text(c, "/name")),
        None => String::new(),
    };
    let phase = if is_deleting(pv) {
        "Terminating"
    } else {
        text_or(pv, "/status/phase", "Pending")
    };
    Row::cells(vec![
        name(pv),
        scalar_text(pv.pointer("/spec/capacity/storage"))
            .unwrap_or_else(|| "0".into())
            .into(),
        access_modes(list(pv, "/spec/accessModes")).into(),
        text_or(pv, "/spec/persistentVolumeReclaimPolicy", "Retain").into(),
        phase.into(),
        claim.into(),
        storage_class_of(pv).into(),
        text_or(pv, "/spec/volumeAttributesClassName", "<unset>").into(),
        text(pv, "/status/reason").into(),
        age(pv, now),
        text_or(pv, "/spec/volumeMode", "Filesystem").into(),
    ])
}

static PVC_COLUMNS: &[Col] = &[
    NAME,
    col("Status", "string", "Phase of the claim."),
    col("Volume", "string", "The volume bound to the claim."),
    col("Capacity", "string", "Size of the bound volume."),
    col(
        "Access Modes",
        "string",
        "How the bound volume can be mounted.",
    ),
    col("StorageClass", "string", "Storage class of the claim."),
    col(
        "VolumeAttributesClass",
        "string",
        "Volume attributes class of the claim.",
    ),
    AGE,
    wide("VolumeMode", "string", "Filesystem or Block."),
];

fn pvc_row(pvc: &Value, now: DateTime<Utc>) -> Row {
    let phase = if is_deleting(pvc) {
        "Terminating"
    } else {
        text_or(pvc, "/status/phase", "Pending")
    };
    let volume = text(pvc, "/spec/volumeName");
    // Capacity and modes describe the bound volume, so they stay empty until bound.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            scalar_text(pvc.pointer("/status/capacity/storage")).unwrap_or_else(|| "0".into()),
            access_modes(list(pvc, "/status/accessModes")),
        )
    };
    Row::cells(vec![
        name(pvc),
        phase.into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class_of(pvc).into(),
        text_or(pvc, "/spec/volumeAttributesClassName", "<unset>").into(),
        age(pvc, now),
        text_or(pvc, "/spec/volumeMode", "Filesystem").into(),
    ])
}

static RESOURCE_QUOTA_COLUMNS: &[Col] = &[
    NAME,
    AGE,
    col("Request", "string", "Used out of hard limits for requests."),
    col("Limit", "string", "Used out of hard limits for limits."),
];

fn resource_quota_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let mut resources: Vec<&String> = obj
        .pointer("/status/hard")
        .and_then(Value::as_object)
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for resource in resources {
        let escaped = resource.replace('~', "~0").replace('/', "~1");
        let used = scalar_text(obj.pointer(&format!("/status/used/{escaped}")))
            .unwrap_or_else(|| "0".into());
        let hard = quantity(obj, &format!("/status/hard/{escaped}"));
        let entry = format!("{resource}: {used}/{hard}");
        let is_limit = resource
            .split_once('.')
            .is_some_and(|(prefix, _)| prefix == "limits");
        if is_limit {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    Row::cells(vec![
        name(obj),
        age(obj, now),
        requests.join(", ").into(),
        limits.join(", ").into(),
    ])
}

static HPA_COLUMNS: &[Col] = &[
    NAME,
    col("Reference", "string", "The scaled object."),
    col("Targets", "string", "Current and target metric values."),
    col("MinPods", "string", "Lower replica limit."),
    col("MaxPods", "string", "Upper replica limit."),
    col("Replicas", "string", "Current replicas."),
    AGE,
];

fn hpa_row(hpa: &Value, now: DateTime<Utc>) -> Row {
    let reference = format!(
        "{}/{}",
        text(hpa, "/spec/scaleTargetRef/kind"),
        text(hpa, "/spec/scaleTargetRef/name")
    );
    let (specs, statuses) = hpa_metrics(hpa);
    let min_pods = opt_int(hpa, "/spec/minReplicas").unwrap_or(1).to_string();
    Row::cells(vec![
        name(hpa),
        reference.into(),
        format_hpa_metrics(&specs, &statuses).into(),
        min_pods.into(),
        int(hpa, "/spec/maxReplicas").into(),
        int(hpa, "/status/currentReplicas").into(),
        age(hpa, now),
    ])
}

/// The v2 metric specs and statuses; autoscaling/v1's CPU fields are converted, and an
/// HPA without metrics gets the server's default of 80% CPU utilization.
fn hpa_metrics(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    let cpu_spec = |utilization: i64| {
        serde_json::json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": utilization}}})
    };
    let mut specs = list(hpa, "/spec/metrics").to_vec();
    let mut statuses = list(hpa, "/status/currentMetrics").to_vec();
    if let Some(target) = opt_int(hpa, "/spec/targetCPUUtilizationPercentage") {
        specs = vec![cpu_spec(target)];
        statuses = opt_int(hpa, "/status/currentCPUUtilizationPercentage")
            .map(|current| {
                vec![
                    serde_json::json!({"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": current}}}),
                ]
            })
            .unwrap_or_default();
    }
    if specs.is_empty() {
        specs.push(cpu_spec(80));
    }
    (specs, statuses)
}

fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    const SHOWN: usize = 2;
    if specs.is_empty() {
        return "<none>".into();
    }
    let current = |i: usize, pointer: &str| -> Option<String> {
        scalar_text(statuses.get(i).and_then(|s| s.pointer(pointer)))
    };
    let status_has = |i: usize, source: &str| {
        statuses
            .get(i)
            .and_then(|s| s.get(source))
            .is_some_and(|s| !s.is_null())
    };
    let mut shown = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let entry = match text(spec, "/type") {
            source_type @ ("External" | "Object") => {
                let source = if source_type == "External" {
                    "external"
                } else {
                    "object"
                };
                if spec
                    .pointer(&format!("/{source}/target/averageValue"))
                    .is_some()
                {
                    let cur = current(i, &format!("/{source}/current/averageValue"))
                        .unwrap_or_else(|| "<unknown>".into());
                    let target = quantity(spec, &format!("/{source}/target/averageValue"));
                    format!("{cur}/{target} (avg)")
                } else {
                    let cur = if status_has(i, source) {
                        current(i, &format!("/{source}/current/value"))
                            .unwrap_or_else(|| "<nil>".into())
                    } else {
                        "<unknown>".into()
                    };
                    format!(
                        "{cur}/{}",
                        quantity(spec, &format!("/{source}/target/value"))
                    )
                }
            }
            "Pods" => {
                let cur = if status_has(i, "pods") {
                    current(i, "/pods/current/averageValue").unwrap_or_else(|| "<nil>".into())
                } else {
                    "<unknown>".into()
                };
                format!("{cur}/{}", quantity(spec, "/pods/target/averageValue"))
            }
            source_type @ ("Resource" | "ContainerResource") => {
                let source = if source_type == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let resource = text(spec, &format!("/{source}/name"));
                if spec
                    .pointer(&format!("/{source}/target/averageValue"))
                    .is_some()
                {
                    let cur = if status_has(i, source) {
                        current(i, &format!("/{source}/current/averageValue"))
                            .unwrap_or_else(|| "<nil>".into())
                    } else {
                        "<unknown>".into()
                    };
                    let target = quantity(spec, &format!("/{source}/target/averageValue"));
                    format!("{resource}: {cur}/{target}")
                } else {
                    let cur = current(i, &format!("/{source}/current/averageUtilization"))
                        .map_or_else(|| "<unknown>".into(), |u| format!("{u}%"));
                    let target = opt_int(spec, &format!("/{source}/target/averageUtilization"))
                        .map_or_else(|| "<auto>".into(), |u| format!("{u}%"));
                    format!("{resource}: {cur}/{target}")
                }
            }
            _ => "<unknown type>".into(),
        };
        shown.push(entry);
    }
    if shown.len() > SHOWN {
        let more = shown.len() - SHOWN;
        shown.truncate(SHOWN);
        return format!("{} + {more} more...", shown.join(", "));
    }
    shown.join(", ")
}

static INGRESS_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Class",
        "string",
        "The IngressClass that handles the ingress.",
    ),
    col("Hosts", "string", "Hosts the rules match."),
    col("Address", "string", "Load balancer addresses."),
    col("Ports", "string", "Ports the ingress serves."),
    AGE,
];

fn ingress_row(obj: &Value, now: DateTime<Utc>) -> Row {
    const SHOWN: usize = 3;
    let rules = list(obj, "/spec/rules");
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == SHOWN {
            more = true;
        }
        let host = text(rule, "/host");
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = match (hosts.is_empty(), more) {
        (true, _) => "*".to_owned(),
        (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - SHOWN),
        (false, false) => hosts.join(","),
    };
    let mut addresses: Vec<&str> = Vec::new();
    for ingress in list(obj, "/status/loadBalancer/ingress") {
        let address = text_or(ingress, "/ip", text(ingress, "/hostname"));
        if !address.is_empty() && !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    let ports = if list(obj, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    Row::cells(vec![
        name(obj),
        text_or(obj, "/spec/ingressClassName", "<none>").into(),
        hosts.into(),
        addresses.join(",").into(),
        ports.into(),
        age(obj, now),
    ])
}

static INGRESS_CLASS_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Controller",
        "string",
        "The controller that implements the class.",
    ),
    col(
        "Parameters",
        "string",
        "The resource holding extra parameters.",
    ),
    AGE,
];

fn ingress_class_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let parameters = match obj.pointer("/spec/parameters").filter(|p| p.is_object()) {
        None => "<none>".to_owned(),
        Some(p) => {
            let kind = match p.get("apiGroup").and_then(Value::as_str) {
                None => text(p, "/kind").to_owned(),
                Some(group) => format!("{}.{group}", text(p, "/kind")),
            };
            format!("{kind}/{}", text(p, "/name"))
        }
    };
    Row::cells(vec![
        name(obj),
        text(obj, "/spec/controller").into(),
        parameters.into(),
        age(obj, now),
    ])
}

static NETWORK_POLICY_COLUMNS: &[Col] = &[
    NAME,
    col("Pod-Selector", "string", "Pods the policy applies to."),
    AGE,
];

fn network_policy_row(obj: &Value, now: DateTime<Utc>) -> Row {
    // An absent podSelector is the empty selector (all pods), not "nothing".
    let selector = obj
        .pointer("/spec/podSelector")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    Row::cells(vec![
        name(obj),
        format_label_selector(Some(&selector)).into(),
        age(obj, now),
    ])
}

static PDB_COLUMNS: &[Col] = &[
    NAME,
    col("Min Available", "string", "Pods that must stay available."),
    col("Max Unavailable", "string", "Pods that may be unavailable."),
    col(
        "Allowed Disruptions",
        "integer",
        "Pods that may be disrupted now.",
    ),
    AGE,
];

fn pdb_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let bound = |pointer: &str| scalar_text(obj.pointer(pointer)).unwrap_or_else(|| "N/A".into());
    Row::cells(vec![
        name(obj),
        bound("/spec/minAvailable").into(),
        bound("/spec/maxUnavailable").into(),
        int(obj, "/status/disruptionsAllowed").into(),
        age(obj, now),
    ])
}

static ROLE_BINDING_COLUMNS: &[Col] = &[
    NAME,
    col("Role", "string", "The role the binding grants."),
    AGE,
    wide("Users", "string", "Users in the binding."),
    wide("Groups", "string", "Groups in the binding."),
    wide(
        "ServiceAccounts",
        "string",
        "Service accounts in the binding.",
    ),
];

static CLUSTER_ROLE_BINDING_COLUMNS: &[Col] = &[
    NAME,
    col("Role", "string", "The cluster role the binding grants."),
    AGE,
    wide("Users", "string", "Users in the binding."),
    wide("Groups", "string", "Groups in the binding."),
    wide(
        "ServiceAccounts",
        "string",
        "Service accounts in the binding.",
    ),
];

fn role_binding_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut service_accounts = Vec::new();
    for subject in list(obj, "/subjects") {
        let subject_name = text(subject, "/name");
        match text(subject, "/kind") {
            "ServiceAccount" => {
                service_accounts.push(format!("{}/{subject_name}", text(subject, "/namespace")))
            }
            "User" => users.push(subject_name.to_owned()),
            "Group" => groups.push(subject_name.to_owned()),
            _ => {}
        }
    }
    Row::cells(vec![
        name(obj),
        format!(
            "{}/{}",
            text(obj, "/roleRef/kind"),
            text(obj, "/roleRef/name")
        )
        .into(),
        age(obj, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        service_accounts.join(", ").into(),
    ])
}

static LEASE_COLUMNS: &[Col] = &[
    NAME,
    col("Holder", "string", "Identity of the current holder."),
    AGE,
];

fn lease_row(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        text(obj, "/spec/holderIdentity").into(),
        age(obj, now),
    ])
}

static STORAGE_CLASS_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Provisioner",
        "string",
        "The volume plugin that provisions volumes.",
    ),
    col(
        "ReclaimPolicy",
        "string",
        "Reclaim policy of provisioned volumes.",
    ),
    col(
        "VolumeBindingMode",
        "string",
        "When volumes are bound and provisioned.",
    ),
    col(
        "AllowVolumeExpansion",
        "string",
        "Whether volumes can be expanded.",
    ),
    AGE,
];

fn storage_class_row(obj: &Value, now: DateTime<Utc>) -> Row {
    let annotation = |key: &str| {
        obj.pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            == Some("true")
    };
    let mut shown_name = text(obj, "/metadata/name").to_owned();
    if annotation("storageclass.kubernetes.io/is-default-class")
        || annotation("storageclass.beta.kubernetes.io/is-default-class")
    {
        shown_name.push_str(" (default)");
    }
    Row::cells(vec![
        shown_name.into(),
        text(obj, "/provisioner").into(),
        text_or(obj, "/reclaimPolicy", "Delete").into(),
        text_or(obj, "/volumeBindingMode", "Immediate").into(),
        flag(obj, "/allowVolumeExpansion").unwrap_or(false).into(),
        age(obj, now),
    ])
}

static PRIORITY_CLASS_COLUMNS: &[Col] = &[
    NAME,
    col("Value", "integer", "The priority value."),
    col(
        "Global-Default",
        "boolean",
        "Whether pods without a class get this one.",
    ),
    AGE,
    col(
        "PreemptionPolicy",
        "string",
        "Whether pods of this class preempt others.",
    ),
];

fn priority_class_row(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        int(obj, "/value").into(),
        flag(obj, "/globalDefault").unwrap_or(false).into(),
        age(obj, now),
        text_or(obj, "/preemptionPolicy", "PreemptLowerPriority").into(),
    ])
}

static RUNTIME_CLASS_COLUMNS: &[Col] = &[
    NAME,
    col("Handler", "string", "The CRI handler of the class."),
    AGE,
];

fn runtime_class_row(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![name(obj), text(obj, "/handler").into(), age(obj, now)])
}

static WEBHOOK_COLUMNS: &[Col] = &[
    NAME,
    col(
        "Webhooks",
        "integer",
        "Number of webhooks in the configuration.",
    ),
    AGE,
];

fn webhook_configuration_row(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        entry_count(obj, "/webhooks").into(),
        age(obj, now),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .expect("valid test time")
            .with_timezone(&Utc)
    }

    /// A creation timestamp `seconds` before `now()`.
    fn created(seconds: i64) -> String {
        (now() - chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    fn table(group: &str, kind: &str, objects: &[Value]) -> Value {
        to_table(
            group,
            kind,
            None,
            objects,
            "",
            json!({"resourceVersion": "7"}),
            now(),
        )
    }

    fn column_names(table: &Value) -> Vec<(String, i64)> {
        table["columnDefinitions"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_owned(),
                    c["priority"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn cells(table: &Value, row: usize) -> Vec<Value> {
        table["rows"][row]["cells"]
            .as_array()
            .expect("cells")
            .clone()
    }

    #[test]
    fn human_duration_matches_kubernetes() {
        let cases = [
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (182, "3m2s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (8 * 3600 + 59 * 60, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (51 * 3600, "2d3h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (760 * 86400, "2y30d"),
            (9 * 365 * 86400, "9y"),
            (-1, "0s"),
            (-3, "<invalid>"),
        ];
        for (seconds, want) in cases {
            assert_eq!(
                human_duration(chrono::Duration::seconds(seconds)),
                want,
                "{seconds}s"
            );
        }
        // Sub-second precision truncates like Go's int(d.Seconds()).
        assert_eq!(human_duration(chrono::Duration::milliseconds(1999)), "1s");
        assert_eq!(human_duration(chrono::Duration::milliseconds(-1500)), "0s");
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": created(300),
                         "resourceVersion": "42", "labels": {"app": "web"}},
            "spec": {"replicas": 3,
                     "selector": {"matchLabels": {"app": "web"},
                                  "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                     "template": {"spec": {"containers": [
                         {"name": "nginx", "image": "nginx:1.25"},
                         {"name": "sidecar", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        })
    }

    #[test]
    fn deployment_row_reads_like_kubectl_get() {
        let t = table("apps", "Deployment", &[deployment()]);
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "7"}));
        assert_eq!(
            column_names(&t),
            [
                ("Name", 0),
                ("Ready", 0),
                ("Up-to-date", 0),
                ("Available", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
            .map(|(n, p)| (n.to_owned(), p))
        );
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(
            cells(&t, 0),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("5m"),
                json!("nginx,sidecar"),
                json!("nginx:1.25,busybox"),
                json!("app=web,tier in (a,b)")
            ]
        );
    }

    #[test]
    fn deployment_without_status_shows_zero_of_defaulted_replicas() {
        let mut d = deployment();
        d.as_object_mut().expect("object").remove("status");
        d["spec"].as_object_mut().expect("spec").remove("replicas");
        let t = table("apps", "Deployment", &[d]);
        let row = cells(&t, 0);
        assert_eq!(row[1], "0/1");
        assert_eq!(row[2], 0);
    }

    fn pod(statuses: Value) -> Value {
        json!({
            "metadata": {"name": "web-1", "creationTimestamp": created(60)},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app"}, {"name": "log"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.5",
                       "conditions": [{"type": "Ready", "status": "False"}],
                       "containerStatuses": statuses}
        })
    }

    #[test]
    fn pod_counts_ready_containers_and_shows_wide_columns() {
        let p = pod(json!([
            {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "log", "ready": false, "restartCount": 0, "state": {"running": {}}}
        ]));
        let t = table("", "Pod", &[p]);
        assert_eq!(
            cells(&t, 0),
            vec![
                json!("web-1"),
                json!("1/2"),
                json!("Running"),
                json!("0"),
                json!("60s"),
                json!("10.0.0.5"),
                json!("node-a"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        assert_eq!(column_names(&t)[5], ("IP".to_owned(), 1));
        assert!(t["rows"][0].get("conditions").is_none());
    }

    #[test]
    fn pod_in_crash_loop_shows_reason_and_last_restart() {
        let p = pod(json!([
            {"name": "app", "ready": false, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": created(125)}}},
            {"name": "log", "ready": true, "restartCount": 0, "state": {"running": {}}}
        ]));
        let row = cells(&table("", "Pod", &[p]), 0);
        assert_eq!(row[1], "1/2");
        assert_eq!(row[2], "CrashLoopBackOff");
        assert_eq!(row[3], "3 (2m5s ago)");
    }

    #[test]
    fn pod_waiting_for_init_containers_shows_init_progress() {
        let p = json!({
            "metadata": {"name": "p", "creationTimestamp": created(10)},
            "spec": {"initContainers": [{"name": "migrate"}, {"name": "seed"}],
                     "containers": [{"name": "app"}]},
            "status": {"phase": "Pending",
                       "initContainerStatuses": [
                           {"name": "migrate", "state": {"terminated": {"exitCode": 0}}},
                           {"name": "seed", "state": {"running": {}}}],
                       "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}
        });
        let row = cells(&table("", "Pod", &[p]), 0);
        assert_eq!(row[1], "0/1");
        assert_eq!(row[2], "Init:1/2");
    }

    #[test]
    fn pod_being_deleted_is_terminating_and_completed_pod_has_row_condition() {
        let mut deleting = pod(json!([]));
        deleting["metadata"]["deletionTimestamp"] = json!(created(1));
        let done = json!({
            "metadata": {"name": "job-x"},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                {"name": "c", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
        });
        let t = table("", "Pod", &[deleting, done]);
        assert_eq!(cells(&t, 0)[2], "Terminating");
        let row = cells(&t, 1);
        assert_eq!(row[2], "Completed");
        assert_eq!(row[4], "<unknown>");
        assert_eq!(t["rows"][1]["conditions"][0]["type"], "Completed");
        assert_eq!(t["rows"][1]["conditions"][0]["reason"], "Succeeded");
    }

    #[test]
    fn service_ports_ips_and_selector() {
        let svc = json!({
            "metadata": {"name": "web", "creationTimestamp": created(7200)},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                     "selector": {"tier": "front", "app": "web"},
                     "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443}]}
        });
        let node_port = json!({
            "metadata": {"name": "np"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.11",
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "UDP"}]}
        });
        let lb = json!({
            "metadata": {"name": "lb"},
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": []}
        });
        let t = table("", "Service", &[svc, node_port, lb]);
        assert_eq!(
            cells(&t, 0),
            vec![
                json!("web"),
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80/TCP,443/TCP"),
                json!("120m"),
                json!("app=web,tier=front")
            ]
        );
        let np = cells(&t, 1);
        assert_eq!(np[4], "80:30080/UDP");
        assert_eq!(np[6], "<none>");
        let lb = cells(&t, 2);
        assert_eq!(lb[3], "<pending>");
        assert_eq!(lb[4], "<none>");
    }

    fn widget_columns() -> Vec<PrinterColumn> {
        serde_json::from_value(json!([
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "URL", "type": "string", "jsonPath": ".spec.url", "priority": 1},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
            {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ]))
        .expect("columns")
    }

    #[test]
    fn custom_resource_cells_follow_printer_columns() {
        let ready = json!({
            "metadata": {"name": "a", "creationTimestamp": created(30)},
            "spec": {"url": "https://a.example", "replicas": 2.7, "ratio": 3, "paused": false},
            "status": {"conditions": [{"type": "Synced", "status": "False"},
                                      {"type": "Ready", "status": "True"}]}
        });
        let bare = json!({"metadata": {"name": "b", "creationTimestamp": "yesterday"}, "spec": {"paused": "no"}});
        let columns = widget_columns();
        let t = to_table(
            "example.com",
            "Widget",
            Some(&columns),
            &[ready, bare],
            "",
            Value::Null,
            now(),
        );
        let names: Vec<(String, i64)> = column_names(&t);
        assert_eq!(names[0], ("Name".to_owned(), 0));
        assert_eq!(names[2], ("URL".to_owned(), 1));
        assert_eq!(t["columnDefinitions"][4]["type"], "number");
        assert_eq!(
            t["columnDefinitions"][1]["description"],
            "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Ready\")].status"
        );
        assert_eq!(t["metadata"], json!({}));
        assert_eq!(
            cells(&t, 0),
            vec![
                json!("a"),
                json!("True"),
                json!("https://a.example"),
                json!(2),
                json!(3.0),
                json!(false),
                json!("30s")
            ]
        );
        // Missing fields are empty cells (kubectl prints <none>), wrong types too.
        assert_eq!(
            cells(&t, 1),
            vec![
                json!("b"),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                json!("<invalid>")
            ]
        );
    }

    #[test]
    fn custom_resource_without_printer_columns_gets_name_and_age() {
        let obj = json!({"metadata": {"name": "w", "creationTimestamp": created(3 * 86400)}});
        let t = to_table(
            "example.com",
            "Widget",
            Some(&[]),
            &[obj],
            "",
            Value::Null,
            now(),
        );
        assert_eq!(
            column_names(&t),
            vec![("Name".to_owned(), 0), ("Age".to_owned(), 0)]
        );
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(cells(&t, 0), vec![json!("w"), json!("3d")]);
    }

    #[test]
    fn string_column_prints_objects_as_json_and_floats_like_go() {
        let columns: Vec<PrinterColumn> = serde_json::from_value(json!([
            {"name": "Sel", "type": "string", "jsonPath": ".spec.selector"},
            {"name": "Big", "type": "string", "jsonPath": ".spec.big"},
            {"name": "Small", "type": "string", "jsonPath": ".spec.small"},
            {"name": "Null", "type": "string", "jsonPath": ".spec.nothing"}
        ]))
        .expect("columns");
        let obj = json!({"metadata": {"name": "x"},
                         "spec": {"selector": {"z": "<1>", "a": [1, true]}, "big": 1234567.0,
                                  "small": 0.25, "nothing": null}});
        let t = to_table("g", "K", Some(&columns), &[obj], "", Value::Null, now());
        assert_eq!(
            cells(&t, 0),
            vec![
                json!("x"),
                json!("{\"a\":[1,true],\"z\":\"\\u003c1\\u003e\"}"),
                json!("1.234567e+06"),
                json!("0.25"),
                json!("<no value>")
            ]
        );
    }

    #[test]
    fn jsonpath_subset() {
        let obj = json!({
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"items": [{"n": 1, "v": "a"}, {"n": 5, "v": "b"}, {"n": 9, "v": "c"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced"}]}
        });
        assert_eq!(jsonpath(&obj, ".spec.items[0].v"), vec![json!("a")]);
        assert_eq!(jsonpath(&obj, "{.spec.items[-1].v}"), vec![json!("c")]);
        assert_eq!(
            jsonpath(&obj, ".spec.items[*].v"),
            vec![json!("a"), json!("b"), json!("c")]
        );
        assert_eq!(
            jsonpath(&obj, ".spec.items[0:2].n"),
            vec![json!(1), json!(5)]
        );
        assert_eq!(
            jsonpath(&obj, ".spec.items[?(@.n>3)].v"),
            vec![json!("b"), json!("c")]
        );
        assert_eq!(
            jsonpath(&obj, ".spec.items[?(@.v!='b')].n"),
            vec![json!(1), json!(9)]
        );
        assert_eq!(
            jsonpath(&obj, ".status.conditions[?(@.status)].type"),
            vec![json!("Ready")]
        );
        assert_eq!(
            jsonpath(&obj, ".metadata.labels.app\\.kubernetes\\.io/name"),
            vec![json!("web")]
        );
        assert_eq!(
            jsonpath(&obj, "..v"),
            vec![json!("a"), json!("b"), json!("c")]
        );
        assert_eq!(
            jsonpath(&obj, ".spec.items[0,2].v"),
            vec![json!("a"), json!("c")]
        );
        // Missing keys give nothing; out-of-range indexes and type mismatches are errors,
        // which a column also shows as an empty cell.
        assert!(jsonpath(&obj, ".spec.missing.deeper").is_empty());
        assert!(jsonpath(&obj, ".spec.items[3]").is_empty());
        assert!(jsonpath(&obj, ".spec.items[?(@.n==\"1\")]").is_empty());
        assert!(JsonPath::parse(".spec.items[0").is_err());
        assert!(JsonPath::parse(".spec.items[a]").is_err());
    }

    #[test]
    fn include_object_variants() {
        let d = deployment();
        let none = to_table(
            "apps",
            "Deployment",
            None,
            std::slice::from_ref(&d),
            "None",
            Value::Null,
            now(),
        );
        assert!(none["rows"][0]["object"].is_null());
        for value in ["", "Metadata", "bogus"] {
            let meta = to_table(
                "apps",
                "Deployment",
                None,
                std::slice::from_ref(&d),
                value,
                Value::Null,
                now(),
            );
            let object = &meta["rows"][0]["object"];
            assert_eq!(object["kind"], "PartialObjectMetadata");
            assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
            assert_eq!(object["metadata"], d["metadata"]);
            assert!(object.get("spec").is_none());
        }
        let full = to_table(
            "apps",
            "Deployment",
            None,
            std::slice::from_ref(&d),
            "Object",
            Value::Null,
            now(),
        );
        assert_eq!(full["rows"][0]["object"], d);
    }

    #[test]
    fn unknown_include_object_is_a_bad_request() {
        assert_eq!(IncludeObject::parse(""), Ok(IncludeObject::Metadata));
        assert_eq!(IncludeObject::parse("None"), Ok(IncludeObject::None));
        let err = IncludeObject::parse("Everything").expect_err("rejected");
        assert_eq!(
            err.to_string(),
            "unrecognized includeObject value: \"Everything\""
        );
    }

    #[test]
    fn kinds_without_printer_show_name_and_created_at() {
        let role =
            json!({"metadata": {"name": "reader", "creationTimestamp": "2024-04-30T10:00:00Z"}});
        for (group, kind) in [
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ] {
            let t = table(group, kind, std::slice::from_ref(&role));
            assert_eq!(
                column_names(&t),
                vec![("Name".to_owned(), 0), ("Created At".to_owned(), 0)]
            );
            assert_eq!(
                cells(&t, 0),
                vec![json!("reader"), json!("2024-04-30T10:00:00Z")]
            );
        }
    }

    #[test]
    fn core_kinds_namespace_configmap_secret_serviceaccount() {
        let ns = json!({"metadata": {"name": "team", "creationTimestamp": created(90000)},
                        "status": {"phase": "Active"}});
        assert_eq!(
            cells(&table("", "Namespace", &[ns]), 0),
            vec![json!("team"), json!("Active"), json!("25h")]
        );
        let cm = json!({"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(cells(&table("", "ConfigMap", &[cm]), 0)[1], 3);
        let secret = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls",
                            "data": {"tls.crt": "", "tls.key": ""}});
        let t = table("", "Secret", &[secret]);
        assert_eq!(column_names(&t).len(), 4);
        assert_eq!(cells(&t, 0)[1..3], [json!("kubernetes.io/tls"), json!(2)]);
        let sa = json!({"metadata": {"name": "default"}});
        let t = table("", "ServiceAccount", &[sa]);
        assert_eq!(column_names(&t)[1].0, "Secrets");
        assert_eq!(cells(&t, 0)[1], 0);
    }

    #[test]
    fn role_binding_lists_subjects_in_wide_columns() {
        let rb = json!({
            "metadata": {"name": "admins"},
            "roleRef": {"kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                         {"kind": "Group", "name": "ops"},
                         {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]
        });
        let t = table("rbac.authorization.k8s.io", "ClusterRoleBinding", &[rb]);
        let row = cells(&t, 0);
        assert_eq!(row[1], "ClusterRole/admin");
        assert_eq!(
            row[3..],
            [json!("alice, bob"), json!("ops"), json!("build/ci")]
        );
        assert_eq!(column_names(&t)[3], ("Users".to_owned(), 1));
    }

    #[test]
    fn events_of_both_apis_print_alike() {
        let core = json!({
            "metadata": {"name": "web.17a"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": "Pulled image \n",
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": created(600), "lastTimestamp": created(60), "count": 4
        });
        let new = json!({
            "apiVersion": "events.k8s.io/v1",
            "metadata": {"name": "web.17b"},
            "regarding": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet", "type": "Normal", "note": "Scaled up",
            "reportingController": "deployment-controller",
            "eventTime": "2024-05-01T11:59:50.000000Z"
        });
        let t = table("", "Event", &[core]);
        assert_eq!(column_names(&t)[0].0, "Last Seen");
        assert_eq!(
            cells(&t, 0),
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web-1"),
                json!("spec.containers{app}"),
                json!("kubelet, node-a"),
                json!("Pulled image"),
                json!("10m"),
                json!(4),
                json!("web.17a")
            ]
        );
        let t = table("events.k8s.io", "Event", &[new]);
        let row = cells(&t, 0);
        assert_eq!(row[0], "10s");
        assert_eq!(row[3], "deployment/web");
        assert_eq!(row[5], "deployment-controller");
        assert_eq!(row[6], "Scaled up");
        assert_eq!(row[8], 1);
    }

    #[test]
    fn job_and_cronjob_rows() {
        let job = json!({
            "metadata": {"name": "backup", "creationTimestamp": created(400)},
            "spec": {"completions": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "alpine"}]}}},
            "status": {"succeeded": 1, "startTime": created(390), "completionTime": created(345),
                       "conditions": [{"type": "Complete", "status": "True"}]}
        });
        let row = cells(&table("batch", "Job", &[job]), 0);
        assert_eq!(
            row[1..5],
            [
                json!("Complete"),
                json!("1/1"),
                json!("45s"),
                json!("6m40s")
            ]
        );
        assert_eq!(row[7], "batch.kubernetes.io/controller-uid=u1");

        let cron = json!({
            "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
            "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": created(7200)}
        });
        let row = cells(&table("batch", "CronJob", &[cron]), 0);
        assert_eq!(
            row[1..6],
            [
                json!("0 3 * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("120m")
            ]
        );
        assert_eq!(row[9], "<none>");
    }

    #[test]
    fn workload_and_policy_rows() {
        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 1}});
        assert_eq!(cells(&table("apps", "StatefulSet", &[sts]), 0)[1], "1/3");
        let ds = json!({"metadata": {"name": "agent"},
                        "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
                        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                                   "updatedNumberScheduled": 2, "numberAvailable": 1}});
        let row = cells(&table("apps", "DaemonSet", &[ds]), 0);
        assert_eq!(
            row[1..7],
            [
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("kubernetes.io/os=linux")
            ]
        );
        let pdb = json!({"metadata": {"name": "p"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            cells(&table("policy", "PodDisruptionBudget", &[pdb]), 0)[1..4],
            [json!("50%"), json!("N/A"), json!(1)]
        );
        let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
        assert_eq!(
            cells(&table("networking.k8s.io", "NetworkPolicy", &[np]), 0)[1],
            "<none>"
        );
        let hpa = json!({"metadata": {"name": "h"},
                         "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                                  "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                      "target": {"type": "Utilization", "averageUtilization": 70}}}]},
                         "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource",
                                      "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}});
        let row = cells(&table("autoscaling", "HorizontalPodAutoscaler", &[hpa]), 0);
        assert_eq!(
            row[1..6],
            [
                json!("Deployment/web"),
                json!("cpu: 12%/70%"),
                json!("1"),
                json!(5),
                json!(2)
            ]
        );
        let ing = json!({"metadata": {"name": "i"},
                         "spec": {"ingressClassName": "nginx", "tls": [{}],
                                  "rules": [{"host": "a.example"}, {"host": "b.example"}]},
                         "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
        let row = cells(&table("networking.k8s.io", "Ingress", &[ing]), 0);
        assert_eq!(
            row[1..5],
            [
                json!("nginx"),
                json!("a.example,b.example"),
                json!("1.2.3.4"),
                json!("80, 443")
            ]
        );
        let pvc = json!({"metadata": {"name": "data"},
                         "spec": {"volumeName": "pv-1", "storageClassName": "standard"},
                         "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
                                    "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}});
        let row = cells(&table("", "PersistentVolumeClaim", &[pvc]), 0);
        assert_eq!(
            row[1..7],
            [
                json!("Bound"),
                json!("pv-1"),
                json!("1Gi"),
                json!("RWO,RWX"),
                json!("standard"),
                json!("<unset>")
            ]
        );
        let lease = json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "pod-a"}});
        assert_eq!(
            cells(&table("coordination.k8s.io", "Lease", &[lease]), 0)[1],
            "pod-a"
        );
    }
}
