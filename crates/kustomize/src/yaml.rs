//! Reading manifests and printing the build. A file is a stream of YAML documents;
//! empty documents are skipped and `kind: *List` documents stand for their items, as
//! in kustomize.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::error::{KustomizeError, Result};

/// Parses every document of `content`; `file` names it in errors.
///
/// Plain scalars resolve as kustomize's YAML library resolves them (so `0644` is the
/// octal number 420, `1_000` is 1000, a bare date becomes an RFC 3339 timestamp,
/// `yes` stays text); quoted and block scalars are always text.
pub fn parse_documents(content: &str, file: &str) -> Result<Vec<Value>> {
    parse_documents_with(content, file, Reading::default())
}

/// [`parse_documents`] for a kustomization file: kustomize reads those through
/// sigs.k8s.io/yaml, which lets a key repeat and keeps its last value, where resources
/// (read by kyaml) refuse a repeated key.
pub fn parse_documents_last_key_wins(content: &str, file: &str) -> Result<Vec<Value>> {
    parse_documents_with(
        content,
        file,
        Reading {
            last_key_wins: true,
            ..Reading::default()
        },
    )
}

/// How [`parse_documents_with`] builds values.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    /// Plain nulls become stand-ins that keep their text (see [`NULL_STAND_IN`]).
    mark_nulls: bool,
    /// A repeated map key replaces the earlier value instead of failing.
    last_key_wins: bool,
}

/// While a manifest is read, a plain null stands as this prefix and its text (`~`,
/// `null`, or nothing), because kustomize's YAML nodes keep that text and it shows:
/// annotation values become the text, and a strategic merge drops a null written as
/// nothing where it keeps `null`. A NUL cannot occur in YAML text, so no real value is
/// taken for one.
const NULL_STAND_IN: &str = "\u{0}null:";

/// Stands, while a resource is strategically merged, for a null written as nothing at
/// all (`key:`).
pub(crate) const EMPTY_NULL: &str = NULL_STAND_IN;

/// Whether `value` is the [`EMPTY_NULL`] stand-in.
pub(crate) fn is_empty_null(value: &Value) -> bool {
    value.as_str() == Some(EMPTY_NULL)
}

/// The text of a null stand-in, if `value` is one.
fn null_text(value: &Value) -> Option<&str> {
    value.as_str().and_then(|s| s.strip_prefix(NULL_STAND_IN))
}

/// Replaces every [`EMPTY_NULL`] stand-in under `value` with null, recording where it
/// was (JSON pointers).
pub(crate) fn take_empty_nulls(value: &mut Value, pointer: &mut String, out: &mut Vec<String>) {
    match value {
        v if null_text(v).is_some() => {
            if is_empty_null(v) {
                out.push(pointer.clone());
            }
            *v = Value::Null;
        }
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                take_empty_nulls(child, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                take_empty_nulls(child, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// [`take_empty_nulls`] over an object's fields; the pointers it returns start at the
/// object.
pub(crate) fn take_object_empty_nulls(object: &mut Map<String, Value>) -> Vec<String> {
    let mut found = Vec::new();
    // kustomize ends a build by rewriting every object's annotations as strings, so a
    // null annotation comes out as its text. One written as nothing stays a null here,
    // for a strategic merge may drop it first; the end of the build makes it "".
    if let Some(Value::Object(annotations)) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        for value in annotations.values_mut() {
            if let Some(text) = null_text(value).filter(|t| !t.is_empty()) {
                *value = Value::String(text.to_owned());
            }
        }
    }
    for (key, field) in object.iter_mut() {
        let mut pointer = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
        take_empty_nulls(field, &mut pointer, &mut found);
    }
    found
}

/// Puts the [`EMPTY_NULL`] stand-in back at `pointers` that still hold null.
pub(crate) fn mark_empty_nulls(value: &mut Value, pointers: &[String]) {
    for pointer in pointers {
        if let Some(slot) = value.pointer_mut(pointer) {
            if slot.is_null() {
                *slot = Value::String(EMPTY_NULL.to_owned());
            }
        }
    }
}

/// [`parse_documents`] as `reading` says.
fn parse_documents_with(content: &str, file: &str, reading: Reading) -> Result<Vec<Value>> {
    let yaml_error = |message: String| KustomizeError::Yaml {
        file: file.to_owned(),
        message,
    };
    let mut events = EventSink::default();
    Parser::new_from_str(content)
        .load(&mut events, true)
        .map_err(|e| yaml_error(e.to_string()))?;
    // A block scalar that runs to the end of a text with no final line break has no
    // line break to keep (Go's YAML agrees); yaml-rust2 adds one anyway. Inline
    // patches are trimmed, so this is common.
    if !content.ends_with('\n') {
        let last_scalar = events
            .events
            .iter_mut()
            .rev()
            .find_map(|(event, _)| match event {
                Event::Scalar(text, style, _, _) => Some((text, *style)),
                _ => None,
            });
        if let Some((text, TScalarStyle::Literal | TScalarStyle::Folded)) = last_scalar {
            if text.ends_with('\n') {
                text.pop();
            }
        }
    }
    let mut builder = ValueBuilder {
        events: events.events.into_iter().peekable(),
        anchors: HashMap::new(),
        reading,
    };
    let mut documents = Vec::new();
    while let Some((event, _)) = builder.events.next() {
        if event == Event::DocumentStart {
            let value = builder.node().map_err(yaml_error)?;
            if !value.is_null() && null_text(&value).is_none() {
                documents.push(value);
            }
        }
    }
    Ok(documents)
}

#[derive(Default)]
struct EventSink {
    events: Vec<(Event, Marker)>,
}

impl MarkedEventReceiver for EventSink {
    fn on_event(&mut self, event: Event, mark: Marker) {
        self.events.push((event, mark));
    }
}

struct ValueBuilder {
    events: std::iter::Peekable<std::vec::IntoIter<(Event, Marker)>>,
    anchors: HashMap<usize, Value>,
    reading: Reading,
}

impl ValueBuilder {
    /// The next node; a document with no node is null.
    fn node(&mut self) -> std::result::Result<Value, String> {
        let Some((event, mark)) = self.events.next() else {
            return Ok(Value::Null);
        };
        let (value, anchor) = match event {
            Event::DocumentEnd => return Ok(Value::Null),
            Event::Scalar(text, TScalarStyle::Plain, anchor, None)
                if self.reading.mark_nulls
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") =>
            {
                (Value::String(format!("{NULL_STAND_IN}{text}")), anchor)
            }
            Event::Scalar(text, style, anchor, tag) => {
                (resolve_scalar(text, style, tag.as_ref()), anchor)
            }
            Event::Alias(id) => {
                return self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| format!("line {}: unknown alias", mark.line()))
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                while !matches!(self.events.peek(), Some((Event::SequenceEnd, _)) | None) {
                    items.push(self.node()?);
                }
                self.events.next();
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                let mut merged: Vec<Value> = Vec::new();
                while !matches!(self.events.peek(), Some((Event::MappingEnd, _)) | None) {
                    let key_mark = self.events.peek().map(|(_, m)| *m);
                    let key = match self.node()? {
                        Value::String(s) => s,
                        Value::Null => "null".to_owned(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => {
                            return Err(format!(
                                "line {}: a map key must be a scalar",
                                key_mark.map(|m| m.line()).unwrap_or(0)
                            ))
                        }
                    };
                    let value = self.node()?;
                    if key == "<<" {
                        merged.push(value);
                    } else if map.contains_key(&key) && !self.reading.last_key_wins {
                        return Err(format!(
                            "line {}: mapping key \"{key}\" already defined",
                            key_mark.map(|m| m.line()).unwrap_or(0)
                        ));
                    } else {
                        map.insert(key, value);
                    }
                }
                self.events.next();
                // Merge keys (`<<: *base`) fill in what the map does not set itself.
                for source in merged {
                    let sources = match source {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for source in sources {
                        if let Value::Object(fields) = source {
                            for (k, v) in fields {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                }
                (Value::Object(map), anchor)
            }
            other => return Err(format!("line {}: unexpected {other:?}", mark.line())),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }
}

/// A scalar's value: quoted and block scalars are text, plain ones are resolved.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            match tag.suffix.as_str() {
                "str" => return Value::String(text),
                "int" | "float" | "bool" | "null" => return resolve_plain(text),
                _ => {}
            }
        }
    }
    match style {
        TScalarStyle::Plain => resolve_plain(text),
        _ => Value::String(text),
    }
}

fn resolve_plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        if let Some(number) = parse_int(&text) {
            return Value::Number(number);
        }
        if let Some(number) = parse_float(&text) {
            return Value::Number(number);
        }
        if let Some(timestamp) = date_timestamp(&text) {
            return Value::String(timestamp);
        }
    }
    Value::String(text)
}

/// Integers as Go's `ParseInt(s, 0, 64)` reads them after dropping `_`: decimal,
/// `0x`, `0o`, `0b`, and a leading `0` for octal.
fn parse_int(text: &str) -> Option<Number> {
    let cleaned = text.replace('_', "");
    let (negative, digits) = match cleaned.as_bytes().first()? {
        b'-' => (true, &cleaned[1..]),
        b'+' => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    if digits.is_empty() {
        return None;
    }
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude).ok()?;
        Some(Number::from(-value))
    } else {
        Some(Number::from(magnitude))
    }
}

/// Floats in YAML's plain form (`1.5`, `.5`, `1e3`, `-2.0E-1`).
fn parse_float(text: &str) -> Option<Number> {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    });
    if !mantissa_ok || !exponent_ok || mantissa == "." {
        return None;
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// A bare date (`2024-01-01`) comes out of kustomize as a UTC timestamp.
fn date_timestamp(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return None;
    };
    let numeric = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
    };
    if !(numeric(year, 4, 4) && numeric(month, 1, 2) && numeric(day, 1, 2)) {
        return None;
    }
    Some(format!("{year}-{month:0>2}-{day:0>2}T00:00:00Z"))
}

/// Parses a manifest file into objects, expanding lists. Every object needs a kind.
#[cfg(test)]
pub fn parse_objects(content: &str, file: &str) -> Result<Vec<Map<String, Value>>> {
    Ok(parse_objects_with_empty_nulls(content, file)?
        .into_iter()
        .map(|(object, _)| object)
        .collect())
}

/// An object read from a manifest, and the JSON pointers of its nulls written as nothing.
pub type ObjectWithEmptyNulls = (Map<String, Value>, Vec<String>);

/// [`parse_objects`], each object with the places (JSON pointers) of its nulls written
/// as nothing (`key:`), which a strategic merge treats apart.
pub fn parse_objects_with_empty_nulls(
    content: &str,
    file: &str,
) -> Result<Vec<ObjectWithEmptyNulls>> {
    let mut objects = Vec::new();
    let reading = Reading {
        mark_nulls: true,
        ..Reading::default()
    };
    for document in parse_documents_with(content, file, reading)? {
        push_object(document, file, &mut objects)?;
    }
    Ok(objects
        .into_iter()
        .map(|mut object| {
            let empty_nulls = take_object_empty_nulls(&mut object);
            (object, empty_nulls)
        })
        .collect())
}

fn push_object(document: Value, file: &str, objects: &mut Vec<Map<String, Value>>) -> Result<()> {
    let Value::Object(mut map) = document else {
        return Err(KustomizeError::Yaml {
            file: file.to_owned(),
            message: format!("expected a map of fields, got {}", kind_of(&document)),
        });
    };
    let kind = map
        .get("kind")
        .filter(|k| null_text(k).is_none())
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.is_empty() {
        return Err(KustomizeError::Yaml {
            file: file.to_owned(),
            message: "missing kind: every document must be a Kubernetes object".into(),
        });
    }
    if kind.ends_with("List") && map.contains_key("items") {
        if let Some(Value::Array(items)) = map.remove("items") {
            for item in items {
                push_object(item, file, objects)?;
            }
        }
        return Ok(());
    }
    objects.push(map);
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Prints objects as one YAML stream, documents separated by `---`, in kustomize's
/// layout (two-space indent, list items level with their key).
///
/// Strings that a YAML 1.1 reader would take for something else (`yes`, `on`, `Y`,
/// `0755`, `1e3`, dates) are double-quoted: kubectl's decoder is YAML 1.1, and a
/// label value `on` must not come back as `true`.
pub fn to_yaml_stream(objects: &[Value]) -> String {
    let mut out = String::new();
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit_document(object, &mut out);
    }
    out
}

fn emit_document(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => emit_map(map, 0, out),
        Value::Array(items) if !items.is_empty() => emit_list(items, 0, out),
        scalar => {
            emit_inline(scalar, 0, out);
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Writes a map whose first key starts at the current position (already indented).
fn emit_map(map: &Map<String, Value>, indent: usize, out: &mut String) {
    // Keys in byte order, as kustomize prints them (its output goes through JSON).
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            pad(out, indent);
        }
        out.push_str(&scalar_text(key));
        out.push(':');
        emit_value_after_key(value, indent, out);
    }
}

fn emit_value_after_key(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            emit_map(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            pad(out, indent);
            emit_list(items, indent, out);
        }
        scalar => {
            out.push(' ');
            emit_inline(scalar, indent + 2, out);
            out.push('\n');
        }
    }
}

/// Writes list items; the first `- ` starts at the current position.
fn emit_list(items: &[Value], indent: usize, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => emit_map(map, indent + 2, out),
            Value::Array(inner) if !inner.is_empty() => emit_list(inner, indent + 2, out),
            scalar => {
                emit_inline(scalar, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// A scalar or empty collection on the current line; block strings continue below
/// at `indent`.
fn emit_inline(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) if is_block_candidate(s) => emit_block(s, indent, out),
        Value::String(s) => out.push_str(&scalar_text(s)),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn is_block_candidate(s: &str) -> bool {
    s.contains('\n')
        && !s
            .chars()
            .any(|c| (c.is_control() && c != '\n') || matches!(c, '\u{2028}' | '\u{2029}'))
        && !s.lines().any(|l| l.ends_with(' ') || l.ends_with('\t'))
}

/// A literal block (`|`), with chomping and indentation indicators as needed.
fn emit_block(s: &str, indent: usize, out: &mut String) {
    out.push('|');
    if s.starts_with(' ') || s.starts_with('\n') {
        out.push('2');
    }
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let lines: Vec<&str> = if trailing > 1 {
        s[..s.len() - 1].split('\n').collect()
    } else {
        body.split('\n').collect()
    };
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
    // The caller ends the line.
}

/// A string as kustomize prints it: plain when safe; double-quoted when a reader would
/// take the plain text for another type (`"on"`, `"1.0"`, `"0755"`); single-quoted
/// when only YAML syntax is in the way (`'#fff'`, `'a: b'`); double-quoted with
/// escapes when it holds characters a single-quoted scalar cannot.
fn scalar_text(s: &str) -> String {
    if is_plain_safe(s) {
        return s.to_owned();
    }
    if s.is_empty() {
        return "\"\"".to_owned();
    }
    let needs_escapes = s
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}'));
    if !needs_escapes && !resolves_to_non_string(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('"');
    for c in s.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            '\u{85}' => quoted.push_str("\\N"),
            '\u{2028}' => quoted.push_str("\\L"),
            '\u{2029}' => quoted.push_str("\\P"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if "?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if first == '-' && (s.len() == 1 || s.starts_with("- ") || s.starts_with("---")) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") {
        return false;
    }
    if s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}'))
    {
        return false;
    }
    !resolves_to_non_string(s)
}

/// Whether a YAML reader (1.1 or 1.2, as Go's decoders resolve) would read the plain
/// text as something other than this string.
fn resolves_to_non_string(s: &str) -> bool {
    is_special_word(s)
        || parse_int(s).is_some()
        || parse_float(s).is_some()
        || matches!(
            s.trim_start_matches(['+', '-'])
                .to_ascii_lowercase()
                .as_str(),
            ".inf" | "inf" | "infinity" | ".nan" | "nan"
        )
        || date_timestamp(s).is_some()
        || looks_like_timestamp(s)
        || is_sexagesimal(s)
}

/// YAML 1.1 base-60 numbers (`12:30` is 750 to a YAML 1.1 reader).
fn is_sexagesimal(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mut parts = body.split(':');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && !head.is_empty()
        && head.chars().all(|c| c.is_ascii_digit() || c == '_')
        && rest.iter().all(|p| {
            let (whole, _frac) = p.split_once('.').unwrap_or((p, ""));
            (1..=2).contains(&whole.len()) && whole.chars().all(|c| c.is_ascii_digit())
        })
}

/// Words YAML 1.1 reads as booleans or null.
fn is_special_word(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "null"
            | "Null"
            | "NULL"
            | "~"
            | "<<"
            | "="
    )
}

fn looks_like_timestamp(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() >= 10
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[5..7].iter().all(u8::is_ascii_digit)
        && bytes[7] == b'-'
        && bytes[8..10].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_expand_and_empty_documents_vanish() {
        let objects = parse_objects(
            "---\n# nothing\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n---\n",
            "list.yaml",
        )
        .expect("parse");
        let names: Vec<_> = objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_document_without_kind_is_refused_naming_the_file() {
        let err = parse_objects("metadata: {name: a}\n", "cm.yaml").expect_err("no kind");
        assert!(err.to_string().starts_with("cm.yaml:"), "{err}");
    }

    #[test]
    fn output_reads_back_equal_and_quotes_yaml11_lookalikes() {
        let value: Value = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"enabled": "on", "short": "Y", "mode": "0755"},
                "annotations": {}},
            "data": {"script": "#!/bin/sh\necho hi\n", "nested": "  indented\nline\n\n",
                "noeol": "a\nb", "colon": "a: b", "empty": "", "quote": "say \"hi\"",
                "date": "2024-01-01", "dash": "-x", "num": "1e3", "neg": "-1", "tilde": "~"},
            "list": [[1, 2], {"a": {"b": [true, null]}}, [], "- x"]
        });
        let text = to_yaml_stream(std::slice::from_ref(&value));
        assert!(text.contains("enabled: \"on\""), "{text}");
        assert!(text.contains("short: \"Y\""), "{text}");
        assert!(text.contains("mode: \"0755\""), "{text}");
        let back: Value = serde_yaml_ng::from_str(&text).expect("reads back");
        assert_eq!(back, value, "{text}");
    }

    #[test]
    fn keys_sort_and_lists_sit_level_with_their_key_as_kustomize_prints_them() {
        let value = serde_json::json!({"spec": {"ports": [{"port": 80, "name": "http"}]}});
        assert_eq!(
            to_yaml_stream(&[value]),
            "spec:\n  ports:\n  - name: http\n    port: 80\n"
        );
    }

    #[test]
    fn plain_scalars_resolve_like_kustomize() {
        let docs = parse_documents(
            "mode: 0400\nhex: 0x1F\nmany: 1_000\nyes: yes\nq: '0400'\noct: 0o17\nf: 1.5\nday: 2024-01-01\nv: 1.10\nn: ~\nb: True\nver: v1\n",
            "x.yaml",
        )
        .expect("parse");
        assert_eq!(
            docs[0],
            serde_json::json!({"mode": 256, "hex": 31, "many": 1000, "yes": "yes", "q": "0400",
                "oct": 15, "f": 1.5, "day": "2024-01-01T00:00:00Z", "v": 1.1, "n": null, "b": true, "ver": "v1"})
        );
    }

    #[test]
    fn a_block_at_the_very_end_of_a_text_has_no_final_line_break() {
        let docs = parse_documents("data:\n  a: |\n    x\n    y", "p.yaml").expect("parse");
        assert_eq!(docs[0]["data"]["a"], "x\ny");
        let docs = parse_documents("data:\n  a: |\n    x\n", "p.yaml").expect("parse");
        assert_eq!(docs[0]["data"]["a"], "x\n");
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let docs = parse_documents(
            "base: &b {a: 1, b: 2}\ncopy: *b\nmerged:\n  <<: *b\n  b: 3\n",
            "x.yaml",
        )
        .expect("parse");
        assert_eq!(docs[0]["copy"], serde_json::json!({"a": 1, "b": 2}));
        assert_eq!(docs[0]["merged"], serde_json::json!({"b": 3, "a": 1}));
    }

    #[test]
    fn broken_yaml_names_the_file() {
        let err = parse_objects("a: [\n", "bad.yaml").expect_err("bad");
        assert!(err.to_string().contains("bad.yaml: invalid YAML"), "{err}");
    }
}
