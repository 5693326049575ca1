//! Structural OpenAPI v3 schemas of custom resources: validation (errors naming the
//! field, as a 422 Invalid lists them), defaulting and pruning of unknown fields.
//!
//! Behaviour follows kube-apiserver 1.33 (apiextensions-apiserver with kube-openapi's
//! validator and apimachinery's `field.Error` rendering). The request path of a real
//! server is: decode → [`prune`] (which also drops non-nullable nulls without a default)
//! → [`apply_defaults`] → [`validate`]. Objects read back from storage get
//! [`apply_defaults`] again.
//!
//! `x-kubernetes-validations` (CEL) rules are knowingly ignored.

use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// One invalid field, as Kubernetes reports it in `status.details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The cause type of `status.details.causes[].reason`: `FieldValueRequired`,
    /// `FieldValueInvalid`, `FieldValueTypeInvalid`, `FieldValueNotSupported`,
    /// `FieldValueDuplicate`, `FieldValueTooLong`, `FieldValueTooMany`. The human form
    /// (`Required value`, `Invalid value`, ...) starts [`FieldError::message`].
    pub reason: &'static str,
    /// The field path in Kubernetes' notation, e.g. `spec.interval`, `spec.ref.branch`, `spec.items[0].name`.
    pub field: String,
    /// The message, e.g. `Invalid value: "integer": spec.interval in body must be of type string: "integer"`.
    pub message: String,
}

impl fmt::Display for FieldError {
    /// `field: message`, the form the 422 status message joins.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// `status.details.causes[].reason` values (apimachinery's `field.ErrorType`).
pub mod reason {
    pub const REQUIRED: &str = "FieldValueRequired";
    pub const INVALID: &str = "FieldValueInvalid";
    pub const TYPE_INVALID: &str = "FieldValueTypeInvalid";
    pub const NOT_SUPPORTED: &str = "FieldValueNotSupported";
    pub const DUPLICATE: &str = "FieldValueDuplicate";
    pub const TOO_LONG: &str = "FieldValueTooLong";
    pub const TOO_MANY: &str = "FieldValueTooMany";
}

/// Validates `object` against `schema` (the CRD version's `openAPIV3Schema`): the
/// OpenAPI value validations, then embedded resources' `apiVersion`/`kind`, then
/// `x-kubernetes-list-type` set/map uniqueness, in the order the API server reports them.
pub fn validate(schema: &Value, object: &Value) -> Vec<FieldError> {
    let mut errors = openapi_errors(schema, object, None);
    if let Some(s) = schema.as_object() {
        embedded_resource_errors("", object, s, &mut errors);
        if let Some(obj) = object.as_object() {
            list_type_object("", s, obj, &mut errors);
        }
    }
    errors
}

/// Validates one part of an object against its subschema with field paths under
/// `field_prefix`, as the status subresource validates `status` against the status
/// schema (`field_prefix` = `"status"`). Only the OpenAPI value validations run here.
pub fn validate_at(schema: &Value, value: &Value, field_prefix: &str) -> Vec<FieldError> {
    openapi_errors(schema, value, Some(field_prefix))
}

/// The `message` of a 422 Invalid status, e.g.
/// `GitRepository.source.toolkit.fluxcd.io "podinfo" is invalid: spec.url: Required value`.
/// Several errors are joined as `[err1, err2]`; identical ones are listed once.
pub fn invalid_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let mut distinct: Vec<String> = Vec::new();
    for error in errors {
        let text = error.to_string();
        if !distinct.contains(&text) {
            distinct.push(text);
        }
    }
    let name = go_quote(name);
    match distinct.len() {
        0 => format!("{qualified_kind} {name} is invalid"),
        1 => format!("{qualified_kind} {name} is invalid: {}", distinct[0]),
        _ => format!(
            "{qualified_kind} {name} is invalid: [{}]",
            distinct.join(", ")
        ),
    }
}

/// Applies the schema's `default` values to `object`, as the API server does on create,
/// update and read: absent fields (and `null` in non-nullable fields) get their default,
/// recursively, including inside defaults just applied, array items and
/// `additionalProperties` values.
pub fn apply_defaults(schema: &Value, object: &mut Value) {
    default_value(object, schema.as_object());
}

/// Drops fields the schema does not declare, unless `x-kubernetes-preserve-unknown-fields`
/// allows them. `apiVersion`, `kind` and `metadata` at the root are always kept.
/// Like the API server's decoding, it also drops `null` values of non-nullable fields
/// that have no default.
pub fn prune(schema: &Value, object: &mut Value) {
    prune_unknown_fields(schema, object);
    prune_non_nullable_nulls(schema, object);
}

/// Drops unknown fields like [`prune`] (without the null handling) and returns their
/// paths, sorted, e.g. `spec.foo`, `spec.items[0].bar`: what `fieldValidation=Strict`
/// reports as `unknown field "spec.foo"` and `Warn` as warnings.
pub fn prune_unknown_fields(schema: &Value, object: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    prune_node(object, schema.as_object(), true, "", &mut unknown);
    unknown.sort();
    unknown
}

/// Drops `null` values of fields that are not `nullable` and have no `default`
/// (nulls with a default are replaced by [`apply_defaults`]).
pub fn prune_non_nullable_nulls(schema: &Value, object: &mut Value) {
    prune_nulls(object, schema.as_object());
}

/// Calls `visit` with the field path (e.g. `spec.template`) and the object of every
/// embedded resource (`x-kubernetes-embedded-resource`) below the root, parents first,
/// so the caller can coerce their `metadata` to ObjectMeta as it does at the root.
pub fn for_each_embedded_resource(
    schema: &Value,
    object: &mut Value,
    visit: &mut dyn FnMut(&str, &mut Map<String, Value>),
) {
    walk_embedded(object, schema.as_object(), "", visit);
}

// ---------------------------------------------------------------------------
// Schema accessors

type Schema = Map<String, Value>;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

enum Additional<'a> {
    Absent,
    /// `additionalProperties: true|false`: present, but without a schema.
    Bool(bool),
    Schema(&'a Schema),
}

fn additional(s: &Schema) -> Additional<'_> {
    match s.get("additionalProperties") {
        Some(Value::Object(ap)) => Additional::Schema(ap),
        Some(Value::Bool(b)) => Additional::Bool(*b),
        _ => Additional::Absent,
    }
}

fn flag(s: &Schema, name: &str) -> bool {
    s.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn properties(s: &Schema) -> Option<&Schema> {
    s.get("properties").and_then(Value::as_object)
}

fn property<'a>(s: &'a Schema, name: &str) -> Option<&'a Schema> {
    properties(s)
        .and_then(|p| p.get(name))
        .and_then(Value::as_object)
}

fn items(s: &Schema) -> Option<&Schema> {
    s.get("items").and_then(Value::as_object)
}

/// A `default` of `null` means no default, as in Go where it decodes to nil.
fn default_of(s: &Schema) -> Option<&Value> {
    s.get("default").filter(|d| !d.is_null())
}

fn nullable(s: &Schema) -> bool {
    flag(s, "nullable")
}

/// The schema a field's value is checked against: its property, else `additionalProperties`.
fn field_schema<'a>(s: Option<&'a Schema>, name: &str) -> Option<&'a Schema> {
    let s = s?;
    property(s, name).or(match additional(s) {
        Additional::Schema(ap) => Some(ap),
        _ => None,
    })
}

/// The schema's types; int-or-string becomes `integer,string` as the server converts it.
fn types(s: &Schema) -> Vec<&str> {
    if flag(s, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    match s.get("type").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => vec![t],
        _ => Vec::new(),
    }
}

/// Formats the server validates for strings (format names without dashes).
const STRING_FORMATS: [&str; 24] = [
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

/// The format after the server strips those it does not support for the type.
fn effective_format<'a>(s: &'a Schema, types: &[&str]) -> &'a str {
    let format = s.get("format").and_then(Value::as_str).unwrap_or("");
    if format.is_empty() {
        return "";
    }
    let single = if types.len() == 1 { types[0] } else { "" };
    let kept = match single {
        "" | "string" => STRING_FORMATS.contains(&format.replace('-', "").as_str()),
        "integer" => format == "int32" || format == "int64",
        "number" => format == "float" || format == "double",
        _ => false,
    };
    if kept {
        format
    } else {
        ""
    }
}

fn is_string_format(format: &str) -> bool {
    !format.is_empty() && STRING_FORMATS.contains(&format.replace('-', "").as_str())
}

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

fn num(n: &serde_json::Number) -> Num {
    // Go decodes JSON numbers to int64 when they parse as one, else to float64.
    match n.as_i64() {
        Some(i) => Num::Int(i),
        None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn schema_f64(s: &Schema, name: &str) -> Option<f64> {
    s.get(name).and_then(Value::as_f64)
}

fn schema_i64(s: &Schema, name: &str) -> Option<i64> {
    s.get(name).and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
    })
}

// ---------------------------------------------------------------------------
// OpenAPI value validation (kube-openapi's SchemaValidator)

/// kube-openapi's error codes that the server maps to different field errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    InvalidType,
    Required,
    TooLong,
    Enum,
    MaxItems,
    TooManyProperties,
    /// Every other value validation: rendered as `Invalid value`.
    Other,
    /// allOf/anyOf/oneOf/not failures, which carry no field.
    Composite,
}

#[derive(Debug, Clone)]
struct SchemaError {
    code: Code,
    /// kube-openapi's dotted path, e.g. `spec.items[0].name` (`.name` at the root).
    name: String,
    /// The offending value as kube-openapi records it; `None` is Go's nil.
    value: Option<Value>,
    /// The limit of TooLong/MaxItems/TooManyProperties.
    limit: Option<i64>,
    /// The allowed values of an enum.
    allowed: Vec<Value>,
    /// kube-openapi's message, e.g. `spec.interval in body must be of type string: "integer"`.
    message: String,
}

impl SchemaError {
    fn new(code: Code, name: &str, value: Option<Value>, message: String) -> Self {
        SchemaError {
            code,
            name: name.to_string(),
            value,
            limit: None,
            allowed: Vec::new(),
            message,
        }
    }

    fn with_limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }

    fn invalid_type(path: &str, type_name: &str, value: &str) -> Self {
        SchemaError::new(
            Code::InvalidType,
            path,
            Some(Value::String(value.to_string())),
            format!(
                "{path} in body must be of type {type_name}: {}",
                go_quote(value)
            ),
        )
    }

    fn composite(path: &str, message: String) -> Self {
        SchemaError::new(Code::Composite, path, None, message)
    }
}

/// Errors plus kube-openapi's match count, which picks the branch whose errors an
/// anyOf/oneOf failure reports.
#[derive(Default)]
struct Outcome {
    errors: Vec<SchemaError>,
    matches: usize,
}

impl Outcome {
    fn matched() -> Self {
        Outcome {
            errors: Vec::new(),
            matches: 1,
        }
    }

    fn failed(error: SchemaError) -> Self {
        Outcome {
            errors: vec![error],
            matches: 0,
        }
    }

    /// Adds an error unless one with the same message is already there, as kube-openapi does.
    fn add(&mut self, error: SchemaError) {
        if !self.errors.iter().any(|e| e.message == error.message) {
            self.errors.push(error);
        }
    }

    fn merge(&mut self, other: Outcome) {
        for error in other.errors {
            self.add(error);
        }
        self.matches += other.matches;
    }

    fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

fn openapi_errors(schema: &Value, object: &Value, prefix: Option<&str>) -> Vec<FieldError> {
    validate_node(schema, object, "")
        .errors
        .into_iter()
        .map(|e| to_field_error(e, prefix))
        .collect()
}

fn validate_node(schema: &Value, data: &Value, path: &str) -> Outcome {
    match schema.as_object() {
        Some(s) => validate_schema(s, data, path),
        None => Outcome::default(),
    }
}

fn validate_schema(s: &Schema, data: &Value, path: &str) -> Outcome {
    let mut out = Outcome::default();
    let types = types(s);
    let format = effective_format(s, &types);

    if data.is_null() {
        out.merge(check_type(s, &types, format, data, path));
        out.merge(check_enum(s, data, path));
        return out;
    }

    if !types.is_empty() || !format.is_empty() {
        out.merge(check_type(s, &types, format, data, path));
        out.matches += 1;
    }
    out.merge(check_combinators(s, data, path));
    out.matches += 1;
    match data {
        Value::String(text) => {
            out.merge(check_string(s, text, path));
            out.matches += 1;
            if is_string_format(format) {
                if !format_matches(format, text) {
                    out.add(SchemaError::invalid_type(path, format, text));
                }
                out.matches += 1;
            }
        }
        Value::Number(n) => {
            out.merge(check_number(s, num(n), path));
            out.matches += 1;
        }
        Value::Array(elements) => {
            out.merge(check_array(s, elements, path));
            out.matches += 1;
        }
        _ => {}
    }
    out.merge(check_enum(s, data, path));
    out.matches += 1;
    if let Value::Object(fields) = data {
        out.merge(check_object(s, fields, path));
        out.matches += 1;
    }
    out.matches += 1;
    out
}

fn check_type(s: &Schema, types: &[&str], format: &str, data: &Value, path: &str) -> Outcome {
    let joined = types.join(",");
    if data.is_null() {
        if !types.is_empty() && !types.contains(&"null") && !nullable(s) {
            return Outcome::failed(SchemaError::invalid_type(path, &joined, "null"));
        }
        return Outcome::matched();
    }
    let (data_type, data_format) = match data {
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) => match num(n) {
            Num::Int(_) => ("integer", "int64"),
            Num::Float(_) => ("number", "float64"),
        },
        Value::Array(_) => ("array", ""),
        _ => ("object", ""),
    };
    let float_is_int = match data {
        Value::Number(n) => match num(n) {
            Num::Float(f) => is_json_integer(f) && types.contains(&"integer"),
            Num::Int(_) => false,
        },
        _ => false,
    };
    let int_is_float = data_type == "integer" && types.contains(&"number");
    let string_or_array = data.is_string() || data.is_array();
    let type_ok = types.contains(&data_type) || float_is_int || int_is_float;

    if !(string_or_array || format.is_empty() || type_ok || data_format == format) {
        return Outcome::failed(SchemaError::invalid_type(path, format, data_format));
    }
    // kube-openapi skips the type check of strings and arrays when a non-numeric schema
    // has a format: an array in a `format: date-time` string field passes.
    let numeric = types.contains(&"number") || types.contains(&"integer");
    if !numeric && !format.is_empty() && string_or_array {
        return Outcome::matched();
    }
    if !type_ok {
        return Outcome::failed(SchemaError::invalid_type(path, &joined, data_type));
    }
    Outcome::matched()
}

fn check_combinators(s: &Schema, data: &Value, path: &str) -> Outcome {
    let mut main = Outcome::default();
    let branches = |name: &str| -> &[Value] {
        s.get(name)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    };

    let any_of = branches("anyOf");
    if !any_of.is_empty() {
        let mut best: Option<Outcome> = None;
        let mut success: Option<Outcome> = None;
        for branch in any_of {
            let result = validate_node(branch, data, path);
            if result.is_valid() {
                best = None;
                success = Some(result);
                break;
            }
            if best.as_ref().is_none_or(|b| result.matches > b.matches) {
                best = Some(result);
            }
        }
        if success.is_none() {
            main.add(SchemaError::composite(
                path,
                format!(
                    "{} must validate at least one schema (anyOf)",
                    go_quote(path)
                ),
            ));
        }
        if let Some(result) = best.or(success) {
            main.merge(result);
        }
    }

    let one_of = branches("oneOf");
    if !one_of.is_empty() {
        let mut best: Option<Outcome> = None;
        let mut success: Option<Outcome> = None;
        let mut valid = 0;
        for branch in one_of {
            let result = validate_node(branch, data, path);
            if result.is_valid() {
                valid += 1;
                best = None;
                if success.is_none() {
                    success = Some(result);
                }
                continue;
            }
            if valid == 0 && best.as_ref().is_none_or(|b| result.matches > b.matches) {
                best = Some(result);
            }
        }
        if valid != 1 {
            let detail = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            main.add(SchemaError::composite(
                path,
                format!(
                    "{} must validate one and only one schema (oneOf). {detail}",
                    go_quote(path)
                ),
            ));
            if let Some(result) = best {
                main.merge(result);
            }
        } else if let Some(result) = success {
            main.merge(result);
        }
    }

    let all_of = branches("allOf");
    if !all_of.is_empty() {
        let mut valid = 0;
        for branch in all_of {
            let result = validate_node(branch, data, path);
            if result.is_valid() {
                valid += 1;
            }
            main.merge(result);
        }
        if valid != all_of.len() {
            let detail = if valid == 0 { ". None validated" } else { "" };
            main.add(SchemaError::composite(
                path,
                format!(
                    "{} must validate all the schemas (allOf){detail}",
                    go_quote(path)
                ),
            ));
        }
    }

    if let Some(not) = s.get("not").filter(|n| n.is_object()) {
        if validate_node(not, data, path).is_valid() {
            main.add(SchemaError::composite(
                path,
                format!("{} must not validate the schema (not)", go_quote(path)),
            ));
        }
    }

    main.matches += 1;
    main
}

/// maxLength, minLength, pattern: only the first failure is reported.
fn check_string(s: &Schema, text: &str, path: &str) -> Outcome {
    let length = text.chars().count() as i64;
    let value = Some(Value::String(text.to_string()));
    if let Some(max) = schema_i64(s, "maxLength") {
        if length > max {
            let message = format!("{path} in body should be at most {max} chars long");
            return Outcome::failed(
                SchemaError::new(Code::TooLong, path, value, message).with_limit(max),
            );
        }
    }
    if let Some(min) = schema_i64(s, "minLength") {
        if length < min {
            let message = format!("{path} in body should be at least {min} chars long");
            return Outcome::failed(SchemaError::new(Code::Other, path, value, message));
        }
    }
    if let Some(pattern) = s
        .get("pattern")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        let failure = match cached_regex(pattern) {
            Ok(re) if re.is_match(text) => None,
            Ok(_) => Some(pattern.to_string()),
            Err(e) => Some(format!("{pattern}, but pattern is invalid: {e}")),
        };
        if let Some(shown) = failure {
            let message = format!("{path} in body should match '{shown}'");
            return Outcome::failed(SchemaError::new(Code::Other, path, value, message));
        }
    }
    Outcome::default()
}

/// multipleOf, minimum, maximum. Integers are compared with the bound truncated to an
/// integer, as kube-openapi does.
fn check_number(s: &Schema, n: Num, path: &str) -> Outcome {
    let mut out = Outcome::default();
    let value = Some(match n {
        Num::Int(i) => Value::from(i),
        Num::Float(f) => Value::from(f),
    });
    if let Some(factor) = schema_f64(s, "multipleOf") {
        let error = match n {
            Num::Int(i) => {
                let factor = factor as i64;
                if factor <= 0 {
                    Some(must_be_positive(
                        path,
                        Value::from(factor),
                        factor.to_string(),
                    ))
                } else if i % factor != 0 {
                    let message = format!("{path} in body should be a multiple of {factor}");
                    Some(SchemaError::new(Code::Other, path, value.clone(), message))
                } else {
                    None
                }
            }
            Num::Float(f) => {
                if factor <= 0.0 {
                    Some(must_be_positive(
                        path,
                        Value::from(factor),
                        go_float(factor),
                    ))
                } else {
                    let ratio = if factor < 1.0 {
                        1.0 / factor * f
                    } else {
                        f / factor
                    };
                    (!is_json_integer(ratio)).then(|| {
                        let message = format!(
                            "{path} in body should be a multiple of {}",
                            go_float(factor)
                        );
                        SchemaError::new(Code::Other, path, value.clone(), message)
                    })
                }
            }
        };
        if let Some(error) = error {
            out.add(error);
        }
    }
    for (keyword, exclusive_keyword, below) in [
        ("minimum", "exclusiveMinimum", true),
        ("maximum", "exclusiveMaximum", false),
    ] {
        let Some(bound) = schema_f64(s, keyword) else {
            continue;
        };
        let exclusive = flag(s, exclusive_keyword);
        let (fails, shown) = match n {
            Num::Int(i) => {
                let bound = bound as i64;
                let fails = match (below, exclusive) {
                    (true, false) => i < bound,
                    (true, true) => i <= bound,
                    (false, false) => i > bound,
                    (false, true) => i >= bound,
                };
                (fails, bound.to_string())
            }
            Num::Float(f) => {
                let fails = match (below, exclusive) {
                    (true, false) => f < bound,
                    (true, true) => f <= bound,
                    (false, false) => f > bound,
                    (false, true) => f >= bound,
                };
                (fails, go_float(bound))
            }
        };
        if fails {
            let relation = match (below, exclusive) {
                (true, false) => "greater than or equal to",
                (true, true) => "greater than",
                (false, false) => "less than or equal to",
                (false, true) => "less than",
            };
            let message = format!("{path} in body should be {relation} {shown}");
            out.add(SchemaError::new(Code::Other, path, value.clone(), message));
        }
    }
    out.matches += 1;
    out
}

fn must_be_positive(path: &str, factor: Value, shown: String) -> SchemaError {
    let message = format!("factor MultipleOf declared for {path} must be positive: {shown}");
    SchemaError::new(Code::Other, path, Some(factor), message)
}

fn check_array(s: &Schema, elements: &[Value], path: &str) -> Outcome {
    let mut out = Outcome::default();
    if let Some(item_schema) = s.get("items").filter(|i| i.is_object()) {
        for (i, element) in elements.iter().enumerate() {
            out.merge(validate_node(item_schema, element, &format!("{path}[{i}]")));
        }
    }
    let size = elements.len() as i64;
    if let Some(min) = schema_i64(s, "minItems") {
        if size < min {
            let message = format!("{path} in body should have at least {min} items");
            out.add(SchemaError::new(
                Code::Other,
                path,
                Some(Value::from(size)),
                message,
            ));
        }
    }
    if let Some(max) = schema_i64(s, "maxItems") {
        if size > max {
            let message = format!("{path} in body should have at most {max} items");
            out.add(
                SchemaError::new(Code::MaxItems, path, Some(Value::from(size)), message)
                    .with_limit(max),
            );
        }
    }
    if flag(s, "uniqueItems") {
        let duplicated = elements
            .iter()
            .enumerate()
            .any(|(i, a)| elements[..i].iter().any(|b| json_equal(a, b)));
        if duplicated {
            let message = format!("{path} in body shouldn't contain duplicates");
            out.add(SchemaError::new(Code::Other, path, None, message));
        }
    }
    out.matches += 1;
    out
}

fn check_enum(s: &Schema, data: &Value, path: &str) -> Outcome {
    let Some(allowed) = s
        .get("enum")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    else {
        return Outcome::default();
    };
    if allowed
        .iter()
        .any(|candidate| enum_matches(data, candidate))
    {
        return Outcome::default();
    }
    let listed: Vec<String> = allowed.iter().map(go_value).collect();
    let message = format!("{path} in body should be one of [{}]", listed.join(" "));
    let mut error = SchemaError::new(Code::Enum, path, Some(data.clone()), message);
    error.allowed = allowed.clone();
    Outcome::failed(error)
}

/// Go compares enum values after converting the data to the enum value's type: numbers
/// compare by value, a null never matches.
fn enum_matches(data: &Value, candidate: &Value) -> bool {
    match (data, candidate) {
        (Value::Null, _) => false,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => data == candidate,
    }
}

fn check_object(s: &Schema, fields: &Map<String, Value>, path: &str) -> Outcome {
    let mut out = Outcome::default();
    let count = fields.len() as i64;
    if let Some(min) = schema_i64(s, "minProperties") {
        if count < min {
            let message = format!("{path} in body should have at least {min} properties");
            out.add(SchemaError::new(
                Code::Other,
                path,
                Some(Value::from(count)),
                message,
            ));
        }
    }
    if let Some(max) = schema_i64(s, "maxProperties") {
        if count > max {
            let message = format!("{path} in body should have at most {max} properties");
            out.add(
                SchemaError::new(
                    Code::TooManyProperties,
                    path,
                    Some(Value::from(count)),
                    message,
                )
                .with_limit(max),
            );
        }
    }
    let declared = properties(s);
    let is_declared = |key: &str| declared.is_some_and(|p| p.contains_key(key));
    match additional(s) {
        Additional::Bool(false) => {
            for key in fields.keys().filter(|k| !is_declared(k)) {
                let message = format!("{path}.{key} in body is a forbidden property");
                out.add(SchemaError::new(
                    Code::Other,
                    path,
                    Some(Value::String(key.clone())),
                    message,
                ));
            }
        }
        Additional::Schema(ap) => {
            for (key, value) in fields.iter().filter(|(k, _)| !is_declared(k)) {
                out.merge(validate_schema(ap, value, &format!("{path}.{key}")));
            }
        }
        Additional::Bool(true) | Additional::Absent => {}
    }
    if let Some(declared) = declared {
        for (name, property_schema) in declared {
            if let Some(value) = fields.get(name) {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                out.merge(validate_node(property_schema, value, &child));
            }
        }
    }
    if let Some(required) = s.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                let child = format!("{path}.{name}");
                let message = format!("{child} in body is required");
                out.add(SchemaError::new(Code::Required, &child, None, message));
            }
        }
    }
    out
}

/// Maps a kube-openapi error to the field error the server reports.
fn to_field_error(error: SchemaError, prefix: Option<&str>) -> FieldError {
    // Errors without a field render the nil field path as `<nil>`, as the server does.
    let root = prefix.unwrap_or("<nil>").to_string();
    if error.code == Code::Composite {
        return FieldError {
            reason: reason::INVALID,
            field: root,
            message: format!("Invalid value: \"\": {}", error.message),
        };
    }
    let field = if error.name.is_empty() || error.name == "." {
        root
    } else {
        let name = error.name.strip_prefix('.').unwrap_or(&error.name);
        match prefix {
            Some(p) if !p.is_empty() => format!("{p}.{name}"),
            _ => name.to_string(),
        }
    };
    let shown_value = || match &error.value {
        Some(v) => error_value(v),
        None => go_quote(""),
    };
    let (reason, message) = match error.code {
        Code::Required => (reason::REQUIRED, "Required value".to_string()),
        Code::Enum => {
            let allowed: Vec<String> = error
                .allowed
                .iter()
                .map(|v| match v {
                    Value::String(s) => go_quote(s),
                    other => go_quote(&other.to_string()),
                })
                .collect();
            let value = error
                .value
                .as_ref()
                .map_or_else(|| go_quote("null"), error_value);
            let mut message = format!("Unsupported value: {value}");
            if !allowed.is_empty() {
                message.push_str(&format!(": supported values: {}", allowed.join(", ")));
            }
            (reason::NOT_SUPPORTED, message)
        }
        Code::TooLong => {
            let detail = match error.limit {
                Some(max) if max >= 0 => format!("may not be more than {max} bytes"),
                _ => "value is too long".to_string(),
            };
            (reason::TOO_LONG, format!("Too long: {detail}"))
        }
        Code::MaxItems | Code::TooManyProperties => {
            let detail = match error.limit {
                Some(max) if max >= 0 => format!("must have at most {max} items"),
                _ => "has too many items".to_string(),
            };
            let message = match error.value.as_ref().and_then(Value::as_i64) {
                Some(actual) if actual >= 0 => format!("Too many: {actual}: {detail}"),
                _ => format!("Too many: {detail}"),
            };
            (reason::TOO_MANY, message)
        }
        Code::InvalidType => (
            reason::TYPE_INVALID,
            format!("Invalid value: {}: {}", shown_value(), error.message),
        ),
        Code::Other | Code::Composite => (
            reason::INVALID,
            format!("Invalid value: {}: {}", shown_value(), error.message),
        ),
    };
    FieldError {
        reason,
        field,
        message,
    }
}

// ---------------------------------------------------------------------------
// Embedded resources and list types (validated on the field.Path notation:
// `additionalProperties` keys appear as `[key]`)

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn subscript_path(path: &str, key: &str) -> String {
    format!("{path}[{key}]")
}

fn embedded_resource_errors(path: &str, x: &Value, s: &Schema, errors: &mut Vec<FieldError>) {
    match x {
        Value::Object(fields) => {
            if flag(s, "x-kubernetes-embedded-resource") {
                check_embedded_resource(path, fields, errors);
            }
            for (key, value) in fields {
                if let Some(p) = property(s, key) {
                    embedded_resource_errors(&child_path(path, key), value, p, errors);
                } else if let Additional::Schema(ap) = additional(s) {
                    embedded_resource_errors(&subscript_path(path, key), value, ap, errors);
                }
            }
        }
        Value::Array(elements) => {
            if let Some(item_schema) = items(s) {
                for (i, element) in elements.iter().enumerate() {
                    let element_path = subscript_path(path, &i.to_string());
                    embedded_resource_errors(&element_path, element, item_schema, errors);
                }
            }
        }
        _ => {}
    }
}

fn check_embedded_resource(path: &str, fields: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    for name in ["apiVersion", "kind"] {
        if !fields.contains_key(name) {
            errors.push(FieldError {
                reason: reason::REQUIRED,
                field: child_path(path, name),
                message: "Required value: must not be empty".to_string(),
            });
        }
    }
    let invalid = |name: &str, value: &Value, detail: String| FieldError {
        reason: reason::INVALID,
        field: child_path(path, name),
        message: format!("Invalid value: {}: {detail}", error_value(value)),
    };
    for (key, value) in fields {
        match key.as_str() {
            "apiVersion" => match value.as_str() {
                None => errors.push(invalid(key, value, "must be a string".into())),
                Some("") => errors.push(invalid(key, value, "must not be empty".into())),
                Some(v) if v != "/" && v.matches('/').count() > 1 => errors.push(invalid(
                    key,
                    value,
                    format!("unexpected GroupVersion string: {v}"),
                )),
                Some(_) => {}
            },
            "kind" => match value.as_str() {
                None => errors.push(invalid(key, value, "must be a string".into())),
                Some("") => errors.push(invalid(key, value, "must not be empty".into())),
                Some(kind) => {
                    let problems = dns1035_label_errors(&kind.to_lowercase());
                    if !problems.is_empty() {
                        let detail = format!(
                            "may have mixed case, but should otherwise match: {}",
                            problems.join(",")
                        );
                        errors.push(invalid(key, value, detail));
                    }
                }
            },
            "metadata" => {
                // ObjectMeta's own rules are the caller's; a metadata that is not an
                // object fails to decode as one.
                let decoded_as = match value {
                    Value::String(_) => Some("string"),
                    Value::Number(_) => Some("number"),
                    Value::Bool(_) => Some("bool"),
                    Value::Array(_) => Some("array"),
                    _ => None,
                };
                if let Some(json_type) = decoded_as {
                    let detail = format!(
                        "json: cannot unmarshal {json_type} into Go value of type v1.ObjectMeta"
                    );
                    errors.push(invalid(key, value, detail));
                }
            }
            _ => {}
        }
    }
}

fn dns1035_label_errors(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > 63 {
        problems.push("must be no more than 63 characters".to_string());
    }
    let bytes = value.as_bytes();
    let valid = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if !valid {
        problems.push(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', \
             start with an alphabetic character, and end with an alphanumeric character \
             (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
                .to_string(),
        );
    }
    problems
}

fn list_type_object(
    path: &str,
    s: &Schema,
    fields: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) {
    if let Additional::Schema(ap) = additional(s) {
        for (key, value) in fields {
            list_type_value(&subscript_path(path, key), ap, value, errors);
        }
    }
    for (key, value) in fields {
        if let Some(p) = property(s, key) {
            list_type_value(&child_path(path, key), p, value, errors);
        }
    }
}

fn list_type_value(path: &str, s: &Schema, value: &Value, errors: &mut Vec<FieldError>) {
    match value {
        Value::Array(elements) => list_type_array(path, s, elements, errors),
        Value::Object(fields) => list_type_object(path, s, fields, errors),
        _ => {}
    }
}

fn list_type_array(path: &str, s: &Schema, elements: &[Value], errors: &mut Vec<FieldError>) {
    let duplicate = |i: usize, value: &Value| FieldError {
        reason: reason::DUPLICATE,
        field: subscript_path(path, &i.to_string()),
        message: format!("Duplicate value: {}", error_value(value)),
    };
    match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            let keys: Vec<String> = elements.iter().map(set_key).collect();
            for i in repeated_indices(&keys) {
                errors.push(duplicate(i, &elements[i]));
            }
        }
        Some("map") => {
            if let Some((i, bad)) = elements
                .iter()
                .enumerate()
                .find(|(_, e)| !e.is_null() && !e.is_object())
            {
                errors.push(FieldError {
                    reason: reason::INVALID,
                    field: subscript_path(path, &i.to_string()),
                    message: format!(
                        "Invalid value: {}: must be an object for an array of list-type map",
                        error_value(bad)
                    ),
                });
            } else {
                let key_names: Vec<&str> = s
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                // The key of each entry: the map of its key fields that are present.
                let entry_keys: Vec<Map<String, Value>> = elements
                    .iter()
                    .map(|e| {
                        key_names
                            .iter()
                            .filter_map(|k| e.get(*k).map(|v| (k.to_string(), v.clone())))
                            .collect()
                    })
                    .collect();
                let comparable: Vec<String> = if key_names.len() == 1 {
                    // A single missing key is its own kind of value, unlike an empty map.
                    entry_keys
                        .iter()
                        .map(|k| k.values().next().map_or_else(|| "u".to_string(), set_key))
                        .collect()
                } else {
                    entry_keys
                        .iter()
                        .map(|k| set_key(&Value::Object(k.clone())))
                        .collect()
                };
                for i in repeated_indices(&comparable) {
                    errors.push(duplicate(i, &Value::Object(entry_keys[i].clone())));
                }
            }
        }
        _ => {}
    }
    if let Some(item_schema) = items(s) {
        for (i, element) in elements.iter().enumerate() {
            list_type_value(
                &subscript_path(path, &i.to_string()),
                item_schema,
                element,
                errors,
            );
        }
    }
}

/// Indices of the second occurrence of each repeated key (reported once per value).
fn repeated_indices(keys: &[String]) -> Vec<usize> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut repeated = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let count = seen.entry(key.as_str()).or_insert(0);
        *count += 1;
        if *count == 2 {
            repeated.push(i);
        }
    }
    repeated
}

/// Equality key of a set element: scalars by Go type and value (1 and 1.0 differ),
/// objects and arrays by their JSON (keys sorted).
fn set_key(value: &Value) -> String {
    match value {
        Value::Null => "n".into(),
        Value::Bool(b) => format!("b{b}"),
        Value::String(s) => format!("s{s}"),
        Value::Number(n) => match num(n) {
            Num::Int(i) => format!("i{i}"),
            Num::Float(f) => format!("f{f}"),
        },
        _ => format!("c{}", canonical_json(value)),
    }
}

fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let entries: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&m[k])))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        Value::Array(a) => {
            let entries: Vec<String> = a.iter().map(canonical_json).collect();
            format!("[{}]", entries.join(","))
        }
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            Num::Float(f) => f.to_string(),
        },
        other => other.to_string(),
    }
}

/// Deep equality with numbers compared by value, like Go's reflect.DeepEqual on decoded JSON
/// would for uniqueItems.
fn json_equal(a: &Value, b: &Value) -> bool {
    canonical_json(a) == canonical_json(b) && a.is_number() == b.is_number()
}

// ---------------------------------------------------------------------------
// Pruning and defaulting

fn prune_node(
    x: &mut Value,
    s: Option<&Schema>,
    is_root: bool,
    path: &str,
    unknown: &mut Vec<String>,
) {
    if let Some(s) = s.filter(|s| flag(s, "x-kubernetes-preserve-unknown-fields")) {
        prune_within_preserved(x, Some(s), is_root, path, unknown);
        return;
    }
    match x {
        Value::Object(fields) => {
            let Some(s) = s else {
                unknown.extend(fields.keys().map(|k| child_path(path, k)));
                fields.clear();
                return;
            };
            let embedded = is_root || flag(s, "x-kubernetes-embedded-resource");
            let mut dropped = Vec::new();
            for (key, value) in fields.iter_mut() {
                if embedded && META_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                let child = child_path(path, key);
                if let Some(p) = property(s, key) {
                    prune_node(value, Some(p), false, &child, unknown);
                } else {
                    match additional(s) {
                        Additional::Schema(ap) => {
                            prune_node(value, Some(ap), false, &child, unknown)
                        }
                        // A schema-less `additionalProperties` prunes like a missing schema.
                        Additional::Bool(_) => prune_node(value, None, false, &child, unknown),
                        Additional::Absent => {
                            unknown.push(child);
                            dropped.push(key.clone());
                        }
                    }
                }
            }
            fields.retain(|k, _| !dropped.contains(k));
        }
        Value::Array(elements) => {
            let item_schema = s.and_then(items);
            for (i, element) in elements.iter_mut().enumerate() {
                prune_node(
                    element,
                    item_schema,
                    false,
                    &format!("{path}[{i}]"),
                    unknown,
                );
            }
        }
        _ => {}
    }
}

/// Inside `x-kubernetes-preserve-unknown-fields`: unknown fields stay, declared ones are
/// pruned by their schema. Array items inherit the preservation, as in the API server.
fn prune_within_preserved(
    x: &mut Value,
    s: Option<&Schema>,
    is_root: bool,
    path: &str,
    unknown: &mut Vec<String>,
) {
    let Some(s) = s else {
        return;
    };
    match x {
        Value::Object(fields) => {
            let embedded = is_root || flag(s, "x-kubernetes-embedded-resource");
            for (key, value) in fields.iter_mut() {
                if embedded && META_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                let child = child_path(path, key);
                if let Some(p) = property(s, key) {
                    prune_node(value, Some(p), false, &child, unknown);
                } else {
                    match additional(s) {
                        Additional::Schema(ap) => {
                            prune_node(value, Some(ap), false, &child, unknown)
                        }
                        Additional::Bool(_) => prune_node(value, None, false, &child, unknown),
                        Additional::Absent => {}
                    }
                }
            }
        }
        Value::Array(elements) => {
            for (i, element) in elements.iter_mut().enumerate() {
                prune_within_preserved(element, items(s), false, &format!("{path}[{i}]"), unknown);
            }
        }
        _ => {}
    }
}

fn prune_nulls(x: &mut Value, s: Option<&Schema>) {
    match x {
        Value::Object(fields) => {
            let droppable = |key: &str, value: &Value| {
                value.is_null()
                    && field_schema(s, key)
                        .is_some_and(|fs| !nullable(fs) && default_of(fs).is_none())
            };
            fields.retain(|k, v| !droppable(k, v));
            for (key, value) in fields.iter_mut() {
                prune_nulls(value, field_schema(s, key));
            }
        }
        Value::Array(elements) => {
            let item_schema = s.and_then(items);
            for element in elements {
                prune_nulls(element, item_schema);
            }
        }
        _ => {}
    }
}

fn default_value(x: &mut Value, s: Option<&Schema>) {
    let Some(s) = s else {
        return;
    };
    match x {
        Value::Object(fields) => {
            if let Some(declared) = properties(s) {
                for (name, p) in declared {
                    let Some(p) = p.as_object() else {
                        continue;
                    };
                    let Some(default) = default_of(p) else {
                        continue;
                    };
                    let missing = match fields.get(name) {
                        None => true,
                        Some(Value::Null) => !nullable(p),
                        Some(_) => false,
                    };
                    if missing {
                        fields.insert(name.clone(), default.clone());
                    }
                }
            }
            for (key, value) in fields.iter_mut() {
                if let Some(p) = property(s, key) {
                    default_value(value, Some(p));
                } else if let Additional::Schema(ap) = additional(s) {
                    replace_null(value, ap);
                    default_value(value, Some(ap));
                }
            }
        }
        Value::Array(elements) => {
            if let Some(item_schema) = items(s) {
                for element in elements {
                    replace_null(element, item_schema);
                    default_value(element, Some(item_schema));
                }
            }
        }
        _ => {}
    }
}

/// A null map value or list item of a non-nullable schema takes the schema's default.
fn replace_null(value: &mut Value, s: &Schema) {
    if value.is_null() && !nullable(s) {
        *value = default_of(s).cloned().unwrap_or(Value::Null);
    }
}

fn walk_embedded(
    x: &mut Value,
    s: Option<&Schema>,
    path: &str,
    visit: &mut dyn FnMut(&str, &mut Map<String, Value>),
) {
    let Some(s) = s else {
        return;
    };
    match x {
        Value::Object(fields) => {
            if !path.is_empty() && flag(s, "x-kubernetes-embedded-resource") {
                visit(path, fields);
            }
            for (key, value) in fields.iter_mut() {
                if let Some(p) = property(s, key) {
                    walk_embedded(value, Some(p), &child_path(path, key), visit);
                } else if let Additional::Schema(ap) = additional(s) {
                    walk_embedded(value, Some(ap), &subscript_path(path, key), visit);
                }
            }
        }
        Value::Array(elements) => {
            for (i, element) in elements.iter_mut().enumerate() {
                walk_embedded(
                    element,
                    items(s),
                    &subscript_path(path, &i.to_string()),
                    visit,
                );
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Go value rendering

/// `strconv.Quote`: Go's double-quoted string with escapes.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: no controls, no spaces but ' ', no format
/// characters or private use.
fn go_printable(c: char) -> bool {
    c == ' '
        || !(c.is_control()
            || c.is_whitespace()
            || matches!(c,
                '\u{ad}' | '\u{600}'..='\u{605}' | '\u{61c}' | '\u{6dd}' | '\u{70f}'
                | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
                | '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..='\u{10ffff}'))
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest digits,
/// exponent form from 1e+06 on and below 1e-04.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if !(-4..6).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exp_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int_part, frac_part) = digits.split_at(point as usize);
        format!("{int_part}.{frac_part}")
    };
    format!("{sign}{body}")
}

/// Go's `%v` of a decoded JSON value (used in messages only for dedup).
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => go_float(f),
        },
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

/// Go's `%#v` of a decoded JSON value, e.g. `map[string]interface {}{"name":"a"}`.
fn go_sharp_v(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => go_quote(s),
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => go_float(f),
        },
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_sharp_v).collect();
            format!("[]interface {{}}{{{}}}", parts.join(", "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_quote(k), go_sharp_v(&m[k])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
    }
}

/// A field error's bad value as the 1.33 server prints it: strings quoted, numbers and
/// booleans plain, null as `"null"`, objects and arrays in Go syntax.
fn error_value(value: &Value) -> String {
    match value {
        Value::Null => go_quote("null"),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => go_quote(s),
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => go_float(f),
        },
        other => go_sharp_v(other),
    }
}

/// go-openapi's `IsFloat64AJSONInteger`: integral (within a relative 1e-9) and within ±2^53.
fn is_json_integer(f: f64) -> bool {
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    if !f.is_finite() || !(-LIMIT..=LIMIT).contains(&f) {
        return false;
    }
    if f.fract() == 0.0 {
        return true;
    }
    if f < 0.0 {
        return false;
    }
    let truncated = f.trunc();
    (f - truncated) / (f + truncated) < 1e-9
}

// ---------------------------------------------------------------------------
// Patterns (Go RE2 semantics on the regex crate)

fn cached_regex(pattern: &str) -> Result<Regex, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Result<Regex, String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = match cache.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    // Schemas are few; an unbounded cache would only grow with hostile CRDs, so reset.
    if cache.len() > 4096 {
        cache.clear();
    }
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| {
            Regex::new(&go_pattern_to_rust(pattern)).map_err(|e| {
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid pattern")
                    .trim_start_matches("error: ")
                    .to_string()
            })
        })
        .clone()
}

/// Rewrites a Go regexp so the regex crate matches like Go: `\d`, `\w`, `\s`, `\b` are
/// ASCII-only in Go, `[` inside a class is a literal, and a `{` that does not start a
/// repetition is a literal.
fn go_pattern_to_rust(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let escaped = chars[i + 1];
            let replacement = match (escaped, in_class) {
                ('d', false) => Some("[0-9]"),
                ('d', true) => Some("0-9"),
                ('D', _) => Some("[^0-9]"),
                ('w', false) => Some("[0-9A-Za-z_]"),
                ('w', true) => Some("0-9A-Za-z_"),
                ('W', _) => Some("[^0-9A-Za-z_]"),
                ('s', false) => Some(r"[\t\n\x0C\r ]"),
                ('s', true) => Some(r"\t\n\x0C\r "),
                ('S', _) => Some(r"[^\t\n\x0C\r ]"),
                ('b', false) => Some(r"(?-u:\b)"),
                ('B', false) => Some(r"(?-u:\B)"),
                _ => None,
            };
            match replacement {
                Some(r) => out.push_str(r),
                None => {
                    out.push('\\');
                    out.push(escaped);
                }
            }
            i += 2;
            continue;
        }
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(']');
                }
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class like [:alpha:], copied whole.
                    let end = (i + 2..chars.len().saturating_sub(1))
                        .find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                    match end {
                        Some(end) => {
                            out.extend(&chars[i..end + 2]);
                            i = end + 2;
                            continue;
                        }
                        None => out.push_str(r"\["),
                    }
                }
                // Literal in Go, nesting or set operators in the regex crate.
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A leading ']' is a literal member.
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                continue;
            }
            '{' if !starts_repetition(&chars[i..]) => out.push_str(r"\{"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether `{...` is a Go repetition: `{n}`, `{n,}` or `{n,m}`.
fn starts_repetition(chars: &[char]) -> bool {
    let mut i = 1;
    let digits_from = |mut j: usize| {
        let start = j;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        (j, j > start)
    };
    let (next, has_min) = digits_from(i);
    if !has_min {
        return false;
    }
    i = next;
    if chars.get(i) == Some(&',') {
        i = digits_from(i + 1).0;
    }
    chars.get(i) == Some(&'}')
}

// ---------------------------------------------------------------------------
// String formats (kube-openapi's strfmt registry)

fn format_matches(format: &str, text: &str) -> bool {
    match format.replace('-', "").as_str() {
        "datetime" => is_date_time(text),
        "date" => is_date(text),
        "duration" => is_duration(text),
        "byte" => static_regex(
            &BASE64,
            r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$",
            text,
        ),
        "password" => true,
        "uuid" => static_regex(
            &UUID,
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
            text,
        ),
        "uuid3" => static_regex(
            &UUID3,
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
            text,
        ),
        "uuid4" => static_regex(
            &UUID4,
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
            text,
        ),
        "uuid5" => static_regex(
            &UUID5,
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
            text,
        ),
        "hostname" => is_hostname(text),
        "ipv4" => is_ipv4_sloppy(text) || (text.contains('.') && is_ipv6(text)),
        "ipv6" => is_ipv6(text),
        "cidr" => is_cidr(text),
        "mac" => is_mac(text),
        "email" => is_email(text),
        "uri" => is_request_uri(text),
        "hexcolor" => static_regex(&HEXCOLOR, r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", text),
        "rgbcolor" => static_regex(
            &RGBCOLOR,
            r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$",
            text,
        ),
        "ssn" => text.len() == 11 && static_regex(&SSN, r"^\d{3}[- ]?\d{2}[- ]?\d{4}$", text),
        "isbn" => is_isbn10(text) || is_isbn13(text),
        "isbn10" => is_isbn10(text),
        "isbn13" => is_isbn13(text),
        "creditcard" => is_credit_card(text),
        "bsonobjectid" => text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => true,
    }
}

static BASE64: OnceLock<Option<Regex>> = OnceLock::new();
static UUID: OnceLock<Option<Regex>> = OnceLock::new();
static UUID3: OnceLock<Option<Regex>> = OnceLock::new();
static UUID4: OnceLock<Option<Regex>> = OnceLock::new();
static UUID5: OnceLock<Option<Regex>> = OnceLock::new();
static HEXCOLOR: OnceLock<Option<Regex>> = OnceLock::new();
static RGBCOLOR: OnceLock<Option<Regex>> = OnceLock::new();
static SSN: OnceLock<Option<Regex>> = OnceLock::new();
static HOSTNAME: OnceLock<Option<Regex>> = OnceLock::new();

fn static_regex(cell: &OnceLock<Option<Regex>>, pattern: &str, text: &str) -> bool {
    cell.get_or_init(|| Regex::new(&go_pattern_to_rust(pattern)).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(text))
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = &text[range];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn is_date_time(text: &str) -> bool {
    if text.len() < 4 {
        return false;
    }
    let lower = text.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    // hh:mm:ss, optional fraction, then z or ±hh:mm.
    let b = time.as_bytes();
    let two_digits = |i: usize| {
        b.get(i..i + 2)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if !(two_digits(0)
        && b.get(2) == Some(&b':')
        && two_digits(3)
        && b.get(5) == Some(&b':')
        && two_digits(6))
    {
        return false;
    }
    let mut i = 8;
    // Go's pattern has an unescaped '.', so any single character may start the fraction.
    if i < b.len() && b[i] != b'z' && b[i] != b'+' && b[i] != b'-' {
        let start = time[i..].chars().next().map_or(1, char::len_utf8) + i;
        let end = (start..b.len())
            .find(|&j| !b[j].is_ascii_digit())
            .unwrap_or(b.len());
        if end == start {
            return false;
        }
        i = end;
    }
    let zone_ok = match &time[i..] {
        "z" => true,
        zone => {
            let z = zone.as_bytes();
            z.len() == 6
                && (z[0] == b'+' || z[0] == b'-')
                && z[1..3].iter().all(u8::is_ascii_digit)
                && z[3] == b':'
                && z[4..6].iter().all(u8::is_ascii_digit)
        }
    };
    zone_ok && &time[0..2] <= "23" && &time[3..5] <= "59" && &time[6..8] <= "59"
}

/// Go's `time.ParseDuration`, or go-openapi's lenient `<n> <unit>` form (`3 days`, `1w`).
fn is_duration(text: &str) -> bool {
    is_go_duration(text) || is_lenient_duration(text)
}

fn is_go_duration(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut consumed = int_len;
        let mut frac_len = 0;
        if rest[consumed..].starts_with('.') {
            consumed += 1;
            frac_len = rest[consumed..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            consumed += frac_len;
        }
        if int_len == 0 && frac_len == 0 {
            return false;
        }
        rest = &rest[consumed..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        if !matches!(
            &rest[..unit_len],
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"
        ) {
            return false;
        }
        rest = &rest[unit_len..];
    }
    true
}

fn is_lenient_duration(text: &str) -> bool {
    const UNITS: [&[&str]; 8] = [
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut recognised = false;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let digits_start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let digits: String = chars[digits_start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && matches!(chars[j], ' ' | '\t' | '\n' | '\x0c' | '\r') {
            j += 1;
        }
        let unit_start = j;
        while j < chars.len() && (chars[j].is_ascii_alphabetic() || chars[j] == 'µ') {
            j += 1;
        }
        if j == unit_start {
            continue;
        }
        if digits.parse::<i64>().is_err() {
            return false;
        }
        let unit: String = chars[unit_start..j]
            .iter()
            .collect::<String>()
            .to_lowercase();
        for variants in UNITS {
            let last = variants.len() - 1;
            for (k, variant) in variants.iter().enumerate() {
                if (k == last && unit.starts_with(variant)) || variant.eq_ignore_ascii_case(&unit) {
                    recognised = true;
                }
            }
        }
        i = j;
    }
    recognised
}

fn is_hostname(text: &str) -> bool {
    const PATTERN: &str = r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$";
    static_regex(&HOSTNAME, PATTERN, text)
        && text.len() <= 255
        && text.split('.').all(|label| label.len() <= 63)
}

/// IPv4 with leading zeros tolerated, as Kubernetes' sloppy parser does.
fn is_ipv4_sloppy(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.trim_start_matches('0').len() <= 3
                && p.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

fn is_ipv6(text: &str) -> bool {
    text.contains(':') && text.parse::<std::net::Ipv6Addr>().is_ok()
}

fn is_cidr(text: &str) -> bool {
    let Some((address, prefix)) = text.split_once('/') else {
        return false;
    };
    let bits = if is_ipv4_sloppy(address) {
        32
    } else if address.parse::<std::net::Ipv6Addr>().is_ok() {
        128
    } else {
        return false;
    };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && prefix.trim_start_matches('0').len() <= 3
        && prefix.parse::<u32>().is_ok_and(|n| n <= bits)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
fn is_mac(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    let octets_ok = |n: usize| n == 6 || n == 8 || n == 20;
    if b[2] == b':' || b[2] == b'-' {
        if !(b.len() + 1).is_multiple_of(3) || !octets_ok((b.len() + 1) / 3) {
            return false;
        }
        let separator = b[2];
        b.chunks(3)
            .all(|group| hex(&group[..2]) && (group.len() == 2 || group[2] == separator))
    } else if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) || !octets_ok(2 * (b.len() + 1) / 5) {
            return false;
        }
        b.chunks(5)
            .all(|group| hex(&group[..4]) && (group.len() == 4 || group[4] == b'.'))
    } else {
        false
    }
}

/// An approximation of Go's `mail.ParseAddress`: `local@domain`, optionally as
/// `Display Name <local@domain>`.
fn is_email(text: &str) -> bool {
    let text = text.trim();
    let address = match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => text,
    };
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let atom_char =
        |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    let dot_atom = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|a| !a.is_empty() && a.chars().all(atom_char))
    };
    let quoted_local = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    let literal_domain = domain.starts_with('[') && domain.ends_with(']');
    (quoted_local || dot_atom(local)) && (literal_domain || dot_atom(domain))
}

/// An approximation of Go's `url.ParseRequestURI`: an absolute URI or an absolute path.
fn is_request_uri(text: &str) -> bool {
    if text.is_empty() || text.chars().any(|c| (c as u32) < 0x20 || c == '\u{7f}') {
        return false;
    }
    if text == "*" {
        return true;
    }
    let scheme_end = text.find(':');
    let rest = match scheme_end {
        Some(end) => {
            let scheme = &text[..end];
            let valid_scheme = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if valid_scheme {
                &text[end + 1..]
            } else if scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !scheme.is_empty()
            {
                // Starts with a digit or sign: "missing protocol scheme".
                return false;
            } else {
                // No scheme: a request URI must then be an absolute path.
                return text.starts_with('/');
            }
        }
        None => return text.starts_with('/'),
    };
    match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let authority = authority_and_path.split('/').next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.starts_with('[') {
                return host.contains(']');
            }
            match host.rsplit_once(':') {
                Some((_, port)) => port.bytes().all(|b| b.is_ascii_digit()),
                None => true,
            }
        }
        None => true,
    }
}

fn is_isbn10(text: &str) -> bool {
    let s: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'-')
        .collect();
    if s.len() != 10
        || !s[..9].iter().all(u8::is_ascii_digit)
        || !(s[9].is_ascii_digit() || s[9] == b'X')
    {
        return false;
    }
    let mut sum: u32 = (0..9)
        .map(|i| (i as u32 + 1) * u32::from(s[i] - b'0'))
        .sum();
    sum += 10
        * if s[9] == b'X' {
            10
        } else {
            u32::from(s[9] - b'0')
        };
    sum.is_multiple_of(11)
}

fn is_isbn13(text: &str) -> bool {
    let s: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'-')
        .collect();
    if s.len() != 13 || !s.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = (0..12)
        .map(|i| if i % 2 == 0 { 1 } else { 3 } * u32::from(s[i] - b'0'))
        .sum();
    u32::from(s[12] - b'0') == (10 - sum % 10) % 10
}

fn is_credit_card(text: &str) -> bool {
    static CARD: OnceLock<Option<Regex>> = OnceLock::new();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let pattern = r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$";
    if !static_regex(&CARD, pattern, &digits) {
        return false;
    }
    let mut sum = 0;
    for (i, d) in digits
        .bytes()
        .rev()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
    {
        sum += if i % 2 == 1 {
            let doubled = d * 2;
            if doubled >= 10 {
                doubled % 10 + 1
            } else {
                doubled
            }
        } else {
            d
        };
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shape of Flux's GitRepository v1 schema, trimmed to what the tests exercise.
    fn git_repository_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "required": ["interval", "url"],
                    "properties": {
                        "interval": {
                            "type": "string",
                            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
                        },
                        "url": {"type": "string", "pattern": "^(http|https|ssh)://.*$"},
                        "provider": {
                            "type": "string",
                            "enum": ["generic", "aws"],
                            "default": "generic"
                        },
                        "ref": {
                            "type": "object",
                            "properties": {
                                "branch": {"type": "string"},
                                "tag": {"type": "string"},
                                "commit": {"type": "string"}
                            }
                        },
                        "ignore": {"type": "string"},
                        "suspend": {"type": "boolean", "default": false},
                        "timeout": {
                            "type": "string",
                            "default": "60s",
                            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
                        },
                        "include": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["repository"],
                                "properties": {
                                    "repository": {
                                        "type": "object",
                                        "required": ["name"],
                                        "properties": {"name": {"type": "string"}}
                                    },
                                    "toPath": {"type": "string"}
                                }
                            }
                        }
                    }
                },
                "status": {
                    "type": "object",
                    "properties": {
                        "conditions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["type", "status"],
                                "properties": {
                                    "type": {"type": "string", "maxLength": 316},
                                    "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                                    "lastTransitionTime": {"type": "string", "format": "date-time"}
                                }
                            },
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["type"]
                        },
                        "observedGeneration": {"type": "integer", "format": "int64"}
                    }
                }
            }
        })
    }

    fn git_repository(spec: Value) -> Value {
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": spec
        })
    }

    fn rendered(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    fn flux_message(errors: &[FieldError]) -> String {
        invalid_message(
            "GitRepository",
            "source.toolkit.fluxcd.io",
            "podinfo",
            errors,
        )
    }

    #[test]
    fn a_valid_git_repository_passes() {
        let object = git_repository(json!({
            "interval": "1m30s",
            "url": "https://github.com/stefanprodan/podinfo",
            "ref": {"branch": "master"},
            "provider": "generic",
            "ignore": "/*\n!/kustomize",
            "suspend": false
        }));
        assert_eq!(validate(&git_repository_schema(), &object), vec![]);
    }

    #[test]
    fn wrong_type_is_reported_like_the_api_server() {
        let object = git_repository(json!({"interval": 5, "url": "https://example.com/repo"}));
        let errors = validate(&git_repository_schema(), &object);
        assert_eq!(
            errors,
            vec![FieldError {
                reason: reason::TYPE_INVALID,
                field: "spec.interval".into(),
                message: "Invalid value: \"integer\": spec.interval in body must be of type string: \"integer\"".into(),
            }]
        );
        assert_eq!(
            flux_message(&errors),
            "GitRepository.source.toolkit.fluxcd.io \"podinfo\" is invalid: spec.interval: Invalid value: \"integer\": spec.interval in body must be of type string: \"integer\""
        );
    }

    #[test]
    fn missing_required_field_is_a_required_value() {
        let object = git_repository(json!({"interval": "1m"}));
        let errors = validate(&git_repository_schema(), &object);
        assert_eq!(rendered(&errors), vec!["spec.url: Required value"]);
        assert_eq!(errors[0].reason, reason::REQUIRED);
        assert_eq!(errors[0].message, "Required value");
    }

    #[test]
    fn enum_violation_lists_supported_values() {
        let object =
            git_repository(json!({"interval": "1m", "url": "https://x/y", "provider": "foo"}));
        let errors = validate(&git_repository_schema(), &object);
        assert_eq!(
            rendered(&errors),
            vec![r#"spec.provider: Unsupported value: "foo": supported values: "generic", "aws""#]
        );
        assert_eq!(errors[0].reason, reason::NOT_SUPPORTED);
    }

    #[test]
    fn pattern_violation_quotes_the_pattern() {
        let object = git_repository(json!({"interval": "1x", "url": "https://x/y"}));
        assert_eq!(
            rendered(&validate(&git_repository_schema(), &object)),
            vec![
                r#"spec.interval: Invalid value: "1x": spec.interval in body should match '^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$'"#
            ]
        );
    }

    #[test]
    fn several_errors_are_bracketed_in_the_status_message() {
        let object = git_repository(json!({"interval": true, "provider": "gcp"}));
        let errors = validate(&git_repository_schema(), &object);
        assert_eq!(
            flux_message(&errors),
            "GitRepository.source.toolkit.fluxcd.io \"podinfo\" is invalid: [\
             spec.interval: Invalid value: \"boolean\": spec.interval in body must be of type string: \"boolean\", \
             spec.provider: Unsupported value: \"gcp\": supported values: \"generic\", \"aws\", \
             spec.url: Required value]"
        );
        // A core kind has no group suffix; repeated errors are listed once.
        let twice = vec![errors[2].clone(), errors[2].clone()];
        assert_eq!(
            invalid_message("ConfigMap", "", "x", &twice),
            "ConfigMap \"x\" is invalid: spec.url: Required value"
        );
    }

    #[test]
    fn nested_array_items_use_index_paths() {
        let object = git_repository(json!({
            "interval": "1m", "url": "https://x/y",
            "include": [{"repository": {"name": "a"}}, {"repository": {}}, {"toPath": 3}]
        }));
        assert_eq!(
            rendered(&validate(&git_repository_schema(), &object)),
            vec![
                "spec.include[1].repository.name: Required value",
                "spec.include[2].toPath: Invalid value: \"integer\": spec.include[2].toPath in body must be of type string: \"integer\"",
                "spec.include[2].repository: Required value",
            ]
        );
    }

    #[test]
    fn numbers_accept_integers_and_integers_accept_integral_floats() {
        let schema = json!({"type": "object", "properties": {
            "ratio": {"type": "number"},
            "count": {"type": "integer"}
        }});
        assert!(validate(&schema, &json!({"ratio": 2, "count": 3.0})).is_empty());
        assert_eq!(
            rendered(&validate(&schema, &json!({"count": 1.5}))),
            vec![
                r#"count: Invalid value: "number": count in body must be of type integer: "number""#
            ]
        );
    }

    #[test]
    fn int_or_string_rejects_other_types() {
        let schema = json!({"type": "object", "properties": {
            "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
        }});
        assert!(validate(&schema, &json!({"port": 8080})).is_empty());
        assert!(validate(&schema, &json!({"port": "http"})).is_empty());
        let errors = validate(&schema, &json!({"port": true}));
        assert_eq!(
            errors[0].to_string(),
            r#"port: Invalid value: "boolean": port in body must be of type integer,string: "boolean""#
        );
        // The anyOf failure has no field, which the server prints as <nil>.
        assert_eq!(
            errors[1].to_string(),
            r#"<nil>: Invalid value: "": "port" must validate at least one schema (anyOf)"#
        );
    }

    #[test]
    fn null_is_only_accepted_for_nullable_fields() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "nullable": true},
            "b": {"type": "string"}
        }});
        assert!(validate(&schema, &json!({"a": null})).is_empty());
        assert_eq!(
            rendered(&validate(&schema, &json!({"b": null}))),
            vec![r#"b: Invalid value: "null": b in body must be of type string: "null""#]
        );
    }

    #[test]
    fn string_length_limits() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 5}
        }});
        let too_long = validate(&schema, &json!({"name": "abcdef"}));
        assert_eq!(
            rendered(&too_long),
            vec!["name: Too long: may not be more than 5 bytes"]
        );
        assert_eq!(too_long[0].reason, reason::TOO_LONG);
        assert_eq!(
            rendered(&validate(&schema, &json!({"name": ""}))),
            vec![r#"name: Invalid value: "": name in body should be at least 1 chars long"#]
        );
        // Length counts characters, not bytes.
        assert!(validate(&schema, &json!({"name": "ééééé"})).is_empty());
    }

    #[test]
    fn numeric_bounds_print_like_go() {
        let schema = json!({"type": "object", "properties": {
            "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
            "weight": {"type": "number", "exclusiveMaximum": true, "maximum": 1000000},
            "step": {"type": "integer", "multipleOf": 5}
        }});
        assert_eq!(
            rendered(&validate(&schema, &json!({"replicas": -1, "weight": 1000000.0, "step": 7}))),
            vec![
                "replicas: Invalid value: -1: replicas in body should be greater than or equal to 0",
                "weight: Invalid value: 1e+06: weight in body should be less than 1e+06",
                "step: Invalid value: 7: step in body should be a multiple of 5",
            ]
        );
    }

    #[test]
    fn item_and_property_counts() {
        let schema = json!({"type": "object", "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1}
        }});
        let errors = validate(&schema, &json!({"tags": ["a", "b", "c"], "labels": {}}));
        assert_eq!(
            rendered(&errors),
            vec![
                "tags: Too many: 3: must have at most 2 items",
                "labels: Invalid value: 0: labels in body should have at least 1 properties",
            ]
        );
        assert_eq!(errors[0].reason, reason::TOO_MANY);
        assert_eq!(
            rendered(&validate(&schema, &json!({"tags": []}))),
            vec!["tags: Invalid value: 0: tags in body should have at least 1 items"]
        );
    }

    #[test]
    fn additional_properties_values_are_validated() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }}}});
        assert_eq!(
            rendered(&validate(
                &schema,
                &json!({"spec": {"labels": {"app.kubernetes.io/name": 1}}})
            )),
            vec![
                r#"spec.labels.app.kubernetes.io/name: Invalid value: "integer": spec.labels.app.kubernetes.io/name in body must be of type string: "integer""#
            ]
        );
    }

    #[test]
    fn formats_kubernetes_validates() {
        let schema = json!({"type": "object", "properties": {
            "at": {"type": "string", "format": "date-time"},
            "every": {"type": "string", "format": "duration"},
            "ip": {"type": "string", "format": "ipv4"},
            "free": {"type": "string", "format": "my-own-format"}
        }});
        let valid = json!({"at": "2024-02-29T10:00:00Z", "every": "1h30m", "ip": "10.0.0.1", "free": "anything"});
        assert!(validate(&schema, &valid).is_empty());
        assert!(validate(&schema, &json!({"every": "3 days"})).is_empty());
        let invalid = json!({"at": "2023-02-29T10:00:00Z", "every": "soon", "ip": "10.0.0"});
        assert_eq!(
            rendered(&validate(&schema, &invalid)),
            vec![
                r#"at: Invalid value: "2023-02-29T10:00:00Z": at in body must be of type date-time: "2023-02-29T10:00:00Z""#,
                r#"every: Invalid value: "soon": every in body must be of type duration: "soon""#,
                r#"ip: Invalid value: "10.0.0": ip in body must be of type ipv4: "10.0.0""#,
            ]
        );
    }

    #[test]
    fn patterns_use_go_ascii_classes() {
        let schema =
            json!({"type": "object", "properties": {"n": {"type": "string", "pattern": "^\\d+$"}}});
        assert!(validate(&schema, &json!({"n": "123"})).is_empty());
        // Arabic-Indic digits are \d for the regex crate's default, not for Go.
        assert_eq!(validate(&schema, &json!({"n": "١٢٣"})).len(), 1);
    }

    #[test]
    fn list_type_set_and_map_reject_duplicates() {
        let schema = json!({"type": "object", "properties": {
            "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}
            }
        }});
        let object = json!({
            "finalizers": ["a", "b", "a", "a"],
            "ports": [{"name": "http", "port": 80}, {"name": "http", "port": 8080}]
        });
        let errors = validate(&schema, &object);
        assert_eq!(
            rendered(&errors),
            vec![
                r#"finalizers[2]: Duplicate value: "a""#,
                r#"ports[1]: Duplicate value: map[string]interface {}{"name":"http"}"#,
            ]
        );
        assert_eq!(errors[0].reason, reason::DUPLICATE);
    }

    #[test]
    fn embedded_resources_need_api_version_and_kind() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }}}});
        assert_eq!(
            rendered(&validate(
                &schema,
                &json!({"spec": {"template": {"metadata": {}}}})
            )),
            vec![
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty",
            ]
        );
        let bad_kind = json!({"spec": {"template": {"apiVersion": "v1", "kind": "Config_Map"}}});
        let errors = validate(&schema, &bad_kind);
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .to_string()
            .starts_with(r#"spec.template.kind: Invalid value: "Config_Map": may have mixed case, but should otherwise match: a DNS-1035 label"#));
    }

    #[test]
    fn one_of_failure_reports_the_best_branch() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]
        }}});
        assert!(validate(&schema, &json!({"spec": {"a": "x"}})).is_empty());
        assert_eq!(
            rendered(&validate(&schema, &json!({"spec": {}}))),
            vec![
                r#"<nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). Found none valid"#,
                "spec.a: Required value",
            ]
        );
        assert_eq!(
            rendered(&validate(&schema, &json!({"spec": {"a": "x", "b": "y"}}))),
            vec![
                r#"<nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
            ]
        );
    }

    #[test]
    fn status_is_validated_under_its_prefix() {
        let schema = git_repository_schema();
        let status_schema = &schema["properties"]["status"];
        let status = json!({"conditions": [{"type": "Ready", "status": "Maybe"}]});
        assert_eq!(
            rendered(&validate_at(status_schema, &status, "status")),
            vec![
                r#"status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown""#
            ]
        );
    }

    #[test]
    fn defaults_fill_absent_fields_recursively() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "default": {},
            "properties": {
                "suspend": {"type": "boolean", "default": false},
                "retry": {"type": "object", "default": {}, "properties": {"count": {"type": "integer", "default": 3}}},
                "sources": {"type": "array", "items": {"type": "object", "properties": {
                    "kind": {"type": "string", "default": "GitRepository"}
                }}},
                "env": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                    "enabled": {"type": "boolean", "default": true}
                }}}
            }
        }}});
        let mut object =
            json!({"spec": {"sources": [{"kind": "Bucket"}, {}], "env": {"prod": {}}}});
        apply_defaults(&schema, &mut object);
        assert_eq!(
            object,
            json!({"spec": {
                "sources": [{"kind": "Bucket"}, {"kind": "GitRepository"}],
                "env": {"prod": {"enabled": true}},
                "suspend": false,
                "retry": {"count": 3}
            }})
        );
        let mut empty = json!({});
        apply_defaults(&schema, &mut empty);
        assert_eq!(
            empty,
            json!({"spec": {"suspend": false, "retry": {"count": 3}}})
        );
    }

    #[test]
    fn defaults_replace_null_only_when_not_nullable() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"type": "string", "default": "y", "nullable": true},
            "c": {"type": "string", "default": "z"}
        }});
        let mut object = json!({"a": null, "b": null, "c": "set"});
        apply_defaults(&schema, &mut object);
        assert_eq!(object, json!({"a": "x", "b": null, "c": "set"}));
    }

    #[test]
    fn prune_drops_unknown_fields_and_keeps_root_meta() {
        let schema = git_repository_schema();
        let mut object = git_repository(json!({
            "interval": "1m", "url": "https://x/y",
            "ref": {"branch": "main", "bogus": 1},
            "include": [{"repository": {"name": "a", "extra": true}}],
            "unknownField": "x"
        }));
        object["status"] =
            json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}]});
        object["extraRoot"] = json!(1);
        object["metadata"]["whatever"] = json!("metadata is not pruned here");
        let unknown = prune_unknown_fields(&schema, &mut object);
        assert_eq!(
            unknown,
            vec![
                "extraRoot",
                "spec.include[0].repository.extra",
                "spec.ref.bogus",
                "spec.unknownField",
                "status.conditions[0].reason",
            ]
        );
        assert_eq!(object["spec"]["ref"], json!({"branch": "main"}));
        assert_eq!(
            object["metadata"]["whatever"],
            json!("metadata is not pruned here")
        );
        assert_eq!(object["kind"], json!("GitRepository"));
        assert!(object.get("extraRoot").is_none());
    }

    #[test]
    fn preserve_unknown_fields_keeps_unknowns_but_prunes_declared_fields() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"values": {"type": "object", "properties": {"known": {"type": "string"}}}}
        }}});
        let mut object =
            json!({"spec": {"anything": {"deep": 1}, "values": {"known": "k", "dropped": 2}}});
        prune(&schema, &mut object);
        assert_eq!(
            object,
            json!({"spec": {"anything": {"deep": 1}, "values": {"known": "k"}}})
        );
    }

    #[test]
    fn prune_keeps_embedded_resource_meta_fields() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {
                "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
            }}
        }}}});
        let mut object = json!({"spec": {"template": {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"replicas": 1, "selector": {}}, "status": {}
        }}});
        prune(&schema, &mut object);
        assert_eq!(
            object,
            json!({"spec": {"template": {
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                "spec": {"replicas": 1}
            }}})
        );
        let mut seen = Vec::new();
        for_each_embedded_resource(&schema, &mut object, &mut |path, resource| {
            seen.push((path.to_string(), resource.get("kind").cloned()));
        });
        assert_eq!(
            seen,
            vec![("spec.template".to_string(), Some(json!("Deployment")))]
        );
    }

    #[test]
    fn prune_drops_non_nullable_nulls_without_default() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "ignore": {"type": "string"},
            "note": {"type": "string", "nullable": true},
            "suspend": {"type": "boolean", "default": false}
        }}}});
        let mut object = json!({"spec": {"ignore": null, "note": null, "suspend": null}});
        prune(&schema, &mut object);
        assert_eq!(object, json!({"spec": {"note": null, "suspend": null}}));
        apply_defaults(&schema, &mut object);
        assert_eq!(object, json!({"spec": {"note": null, "suspend": false}}));
        assert!(validate(&schema, &object).is_empty());
    }

    #[test]
    fn format_checkers_follow_go() {
        let accepted = [
            ("date-time", "2024-01-02T03:04:05.123+01:00"),
            ("date-time", "2024-01-02t03:04:05z"),
            ("date", "2024-02-29"),
            ("duration", "-1.5h"),
            ("duration", "2 weeks"),
            ("byte", "aGVsbG8="),
            ("uuid", "123E4567-E89B-12D3-A456-426614174000"),
            ("ipv4", "010.0.0.1"),
            ("ipv6", "fe80::1"),
            ("cidr", "10.0.0.0/8"),
            ("mac", "00:1a:2b:3c:4d:5e"),
            ("mac", "001a.2b3c.4d5e"),
            ("hostname", "source-controller.flux-system.svc"),
            ("email", "Flux Bot <flux@example.com>"),
            ("uri", "https://github.com/fluxcd/flux2"),
            ("uri", "/absolute/path"),
            ("isbn", "978-0321751041"),
            ("creditcard", "4111 1111 1111 1111"),
            ("bsonobjectid", "507f1f77bcf86cd799439011"),
        ];
        for (format, text) in accepted {
            assert!(
                format_matches(format, text),
                "{format} should accept {text}"
            );
        }
        let rejected = [
            ("date-time", "2024-01-02 03:04:05Z"),
            ("date-time", "2024-01-02T24:00:00Z"),
            ("date", "2024-13-01"),
            ("duration", "1x"),
            ("duration", ""),
            ("byte", "aGVsbG8"),
            ("ipv4", "256.0.0.1"),
            ("ipv6", "10.0.0.1"),
            ("cidr", "10.0.0.0/33"),
            ("mac", "00:1a:2b:3c:4d"),
            ("email", "not-an-address"),
            ("uri", "relative/path"),
            ("isbn", "978-0321751042"),
        ];
        for (format, text) in rejected {
            assert!(
                !format_matches(format, text),
                "{format} should reject {text}"
            );
        }
    }

    #[test]
    fn go_rendering_helpers() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_quote("a\"b\n\u{1}é"), "\"a\\\"b\\n\\x01é\"");
        assert_eq!(
            go_sharp_v(&json!({"b": [1, "x"], "a": null})),
            "map[string]interface {}{\"a\":interface {}(nil), \"b\":[]interface {}{1, \"x\"}}"
        );
    }
}
