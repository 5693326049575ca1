//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) decoded
//! into the JSON the same object has in Kubernetes' JSON encoding.
//!
//! client-go (kubectl >= 1.32, Helm 4) sends built-in kinds created through typed
//! clients as protobuf: `kubectl create secret|configmap|deployment|token|...`,
//! `kubectl auth can-i|whoami`, Helm's release Secrets and DeleteOptions bodies.
//! Responses may stay JSON because those clients also accept it.
//!
//! Wire format: the 4-byte magic `k8s\0`, then a `runtime.Unknown` message
//! {1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}
//! whose `raw` is the object's own message. Kubernetes uses proto2 without packed
//! fields or zigzag ints; non-pointer Go fields are always written (even when empty),
//! pointer fields only when set. So an empty non-pointer scalar is left out like
//! JSON's `omitempty`, while a pointer field on the wire is always kept
//! (`gracePeriodSeconds: 0`, `immutable: false` mean something).
//!
//! The message schemas are a text table (`SCHEMA` below), checked once when first used.
//! Unknown fields are skipped, as Kubernetes' own decoder does.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Map, Value};

/// The media type of Kubernetes protobuf bodies.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the Kubernetes magic prefix \"k8s\\x00\"")]
    MissingMagic,
    /// The envelope names a kind this server cannot decode from protobuf (answer 415).
    #[error("protobuf decoding of {kind} ({api_version}) is not supported; send application/json")]
    UnsupportedKind { api_version: String, kind: String },
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedContentEncoding(String),
    #[error("malformed protobuf in {message}: {detail}")]
    Malformed {
        message: &'static str,
        detail: String,
    },
}

impl ProtobufError {
    /// True when the body is well-formed but names a kind this server cannot decode,
    /// which is a 415 Unsupported Media Type rather than a 400 Bad Request.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            ProtobufError::UnsupportedKind { .. } | ProtobufError::UnsupportedContentEncoding(_)
        )
    }
}

/// Whether a `Content-Type` header value names Kubernetes protobuf (parameters and
/// case ignored).
pub fn is_protobuf_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(PROTOBUF_MEDIA_TYPE)
}

/// The envelope of a protobuf body: type identity and the still-encoded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub api_version: String,
    pub kind: String,
    pub raw: &'a [u8],
    pub content_encoding: String,
    pub content_type: String,
}

/// Reads the magic prefix and the `runtime.Unknown` envelope without decoding `raw`.
pub fn read_envelope(body: &[u8]) -> Result<Envelope<'_>, ProtobufError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let mut envelope = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
        content_encoding: String::new(),
        content_type: String::new(),
    };
    let mut reader = WireReader::new(rest, "runtime.Unknown");
    while let Some((number, wire)) = reader.next_field()? {
        match number {
            1 => {
                let type_meta = wire.bytes("runtime.TypeMeta", number)?;
                let mut inner = WireReader::new(type_meta, "runtime.TypeMeta");
                while let Some((number, wire)) = inner.next_field()? {
                    match number {
                        1 => envelope.api_version = wire.string("runtime.TypeMeta", number)?,
                        2 => envelope.kind = wire.string("runtime.TypeMeta", number)?,
                        _ => {}
                    }
                }
            }
            2 => envelope.raw = wire.bytes("runtime.Unknown", number)?,
            3 => envelope.content_encoding = wire.string("runtime.Unknown", number)?,
            4 => envelope.content_type = wire.string("runtime.Unknown", number)?,
            _ => {}
        }
    }
    Ok(envelope)
}

/// Decodes a Kubernetes protobuf body into the object's JSON form, with `apiVersion`
/// and `kind` taken from the envelope.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = read_envelope(body)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedContentEncoding(
            envelope.content_encoding,
        ));
    }
    let message = message_for(&envelope.api_version, &envelope.kind).ok_or_else(|| {
        ProtobufError::UnsupportedKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        }
    })?;
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(envelope.api_version));
    object.insert("kind".into(), Value::String(envelope.kind));
    object.extend(decode_message(schema(), message, envelope.raw)?);
    Ok(Value::Object(object))
}

/// Whether [`decode`] understands objects of this apiVersion and kind.
pub fn is_supported(api_version: &str, kind: &str) -> bool {
    message_for(api_version, kind).is_some()
}

/// (apiVersion, kind, schema message) of every top-level kind we decode.
const KINDS: &[(&str, &str, &str)] = &[
    ("v1", "Secret", "Secret"),
    ("v1", "ConfigMap", "ConfigMap"),
    ("v1", "Namespace", "Namespace"),
    ("v1", "ServiceAccount", "ServiceAccount"),
    ("v1", "Service", "Service"),
    ("v1", "Event", "Event"),
    ("v1", "ResourceQuota", "ResourceQuota"),
    ("v1", "Binding", "Binding"),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        "SelfSubjectAccessReview",
    ),
    (
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        "SubjectAccessReview",
    ),
    (
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
        "LocalSubjectAccessReview",
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        "SelfSubjectRulesReview",
    ),
    ("authentication.k8s.io/v1", "TokenRequest", "TokenRequest"),
    ("authentication.k8s.io/v1", "TokenReview", "TokenReview"),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        "SelfSubjectReview",
    ),
    (
        "authentication.k8s.io/v1beta1",
        "SelfSubjectReview",
        "SelfSubjectReview",
    ),
    (
        "authentication.k8s.io/v1alpha1",
        "SelfSubjectReview",
        "SelfSubjectReview",
    ),
    ("coordination.k8s.io/v1", "Lease", "Lease"),
    ("events.k8s.io/v1", "Event", "EventsV1Event"),
    ("rbac.authorization.k8s.io/v1", "Role", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "ClusterRole"),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "ClusterRoleBinding",
    ),
    ("apps/v1", "Deployment", "Deployment"),
    ("batch/v1", "Job", "Job"),
    ("batch/v1", "CronJob", "CronJob"),
    ("networking.k8s.io/v1", "Ingress", "Ingress"),
    ("policy/v1", "PodDisruptionBudget", "PodDisruptionBudget"),
    ("policy/v1", "Eviction", "Eviction"),
    ("scheduling.k8s.io/v1", "PriorityClass", "PriorityClass"),
];

fn message_for(api_version: &str, kind: &str) -> Option<&'static str> {
    // DeleteOptions is registered in every group version, so a typed client encodes
    // it with its own group's apiVersion ("v1" for core, "apps/v1", ...).
    if kind == "DeleteOptions" && !api_version.is_empty() {
        return Some("DeleteOptions");
    }
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, message)| *message)
}

// ---------------------------------------------------------------------------
// Wire format

#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Fixed32,
    Bytes(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn name(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "varint",
            Wire::Fixed64 => "fixed64",
            Wire::Fixed32 => "fixed32",
            Wire::Bytes(_) => "length-delimited",
        }
    }

    fn bytes(self, message: &'static str, number: u32) -> Result<&'a [u8], ProtobufError> {
        match self {
            Wire::Bytes(bytes) => Ok(bytes),
            other => Err(wrong_wire(message, number, other, "length-delimited")),
        }
    }

    fn string(self, message: &'static str, number: u32) -> Result<String, ProtobufError> {
        // Go's JSON encoder replaces invalid UTF-8 the same way.
        Ok(String::from_utf8_lossy(self.bytes(message, number)?).into_owned())
    }

    fn varint(self, message: &'static str, number: u32) -> Result<u64, ProtobufError> {
        match self {
            Wire::Varint(value) => Ok(value),
            other => Err(wrong_wire(message, number, other, "varint")),
        }
    }
}

fn wrong_wire(message: &'static str, number: u32, found: Wire, expected: &str) -> ProtobufError {
    ProtobufError::Malformed {
        message,
        detail: format!("field {number} is {}, expected {expected}", found.name()),
    }
}

struct WireReader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> WireReader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        WireReader {
            buf,
            pos: 0,
            message,
        }
    }

    fn malformed(&self, detail: impl Into<String>) -> ProtobufError {
        ProtobufError::Malformed {
            message: self.message,
            detail: detail.into(),
        }
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.malformed("truncated varint"));
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(self.malformed("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| self.malformed(format!("field of {len} bytes runs past the end")))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next (field number, value), or None at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u32, Wire<'a>)>, ProtobufError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|n| *n != 0)
            .ok_or_else(|| self.malformed(format!("invalid field number in key {key}")))?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len)
                    .map_err(|_| self.malformed(format!("length {len} too large")))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            other => {
                // Groups (3, 4) are not used by Kubernetes; 6 and 7 do not exist.
                return Err(self.malformed(format!("unsupported wire type {other}")));
            }
        };
        Ok(Some((number, wire)))
    }
}

// ---------------------------------------------------------------------------
// Schema

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Int,
    Bool,
    /// `[]byte`: base64 in JSON.
    Bytes,
    /// metav1.Time: RFC 3339 with seconds.
    Time,
    /// metav1.MicroTime: RFC 3339 with microseconds.
    MicroTime,
    IntOrString,
    Quantity,
    /// metav1.FieldsV1: raw JSON bytes that become the JSON value itself.
    FieldsV1,
    /// A `[]string` wrapped in a message for protobuf (UserInfo extra values).
    StringList,
    Message(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Single,
    List,
    /// map<string, V>: entries are messages {1: key, 2: value}.
    Map,
    /// An embedded Go struct with `json:",inline"`: its fields join the parent's.
    Inline,
}

/// When a decoded single value appears in the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Non-pointer with `omitempty`: dropped when it is the zero value.
    OmitEmpty,
    /// Pointer: on the wire only when set, so always kept (`?` in the table).
    Pointer,
    /// Non-pointer without `omitempty`: kept even when zero (`!` in the table).
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    number: u32,
    json: &'static str,
    kind: Kind,
    shape: Shape,
    presence: Presence,
}

struct Schema {
    messages: HashMap<&'static str, Vec<Field>>,
}

impl Schema {
    fn fields(&self, message: &str) -> &[Field] {
        self.messages.get(message).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn schema() -> &'static Schema {
    static PARSED: OnceLock<Schema> = OnceLock::new();
    PARSED.get_or_init(|| {
        parse_schema(SCHEMA).expect("the built-in protobuf schema table is checked by unit tests")
    })
}

/// Parses the table format described at `SCHEMA` and checks every message reference.
fn parse_schema(text: &'static str) -> Result<Schema, String> {
    let mut messages: HashMap<&'static str, Vec<Field>> = HashMap::new();
    let mut current: Option<&'static str> = None;
    for line in text.lines() {
        let content = line.split('#').next().unwrap_or_default();
        if content.trim().is_empty() {
            continue;
        }
        let tokens = if content.starts_with(char::is_whitespace) {
            content
        } else {
            let (name, rest) = content
                .split_once(':')
                .ok_or_else(|| format!("message line without ':': {line}"))?;
            let name = name.trim();
            if messages.insert(name, Vec::new()).is_some() {
                return Err(format!("message {name} defined twice"));
            }
            current = Some(name);
            rest
        };
        let message = current.ok_or_else(|| format!("continuation before any message: {line}"))?;
        for token in tokens.split_whitespace() {
            let field = parse_field(token).map_err(|e| format!("{message}: {token}: {e}"))?;
            let fields = messages.entry(message).or_default();
            if fields.iter().any(|f| f.number == field.number) {
                return Err(format!("{message}: field number {} twice", field.number));
            }
            fields.push(field);
        }
    }
    for (message, fields) in &messages {
        for field in fields {
            if let Kind::Message(target) = field.kind {
                if !messages.contains_key(target) {
                    return Err(format!(
                        "{message}.{}: unknown message {target}",
                        field.json
                    ));
                }
            }
        }
    }
    let top_level = KINDS.iter().map(|(_, _, message)| *message);
    for message in top_level.chain(["DeleteOptions"]) {
        if !messages.contains_key(message) {
            return Err(format!("kind table names unknown message {message}"));
        }
    }
    Ok(Schema { messages })
}

/// One `json=number:type` token; see `SCHEMA`.
fn parse_field(token: &'static str) -> Result<Field, String> {
    let (json, rest) = token.split_once('=').ok_or("missing '='")?;
    let (number, mut ty) = rest.split_once(':').ok_or("missing ':'")?;
    let number: u32 = number.parse().map_err(|_| "bad field number")?;
    if number == 0 {
        return Err("field number 0".into());
    }
    let mut shape = Shape::Single;
    if let Some(rest) = ty.strip_prefix("[]") {
        shape = Shape::List;
        ty = rest;
    } else if let Some(rest) = ty.strip_prefix("map:") {
        shape = Shape::Map;
        ty = rest;
    }
    let mut presence = Presence::OmitEmpty;
    if let Some(rest) = ty.strip_suffix('?') {
        presence = Presence::Pointer;
        ty = rest;
    } else if let Some(rest) = ty.strip_suffix('!') {
        presence = Presence::Always;
        ty = rest;
    }
    let kind = match ty {
        "string" => Kind::String,
        "int" => Kind::Int,
        "bool" => Kind::Bool,
        "bytes" => Kind::Bytes,
        "Time" => Kind::Time,
        "MicroTime" => Kind::MicroTime,
        "IntOrString" => Kind::IntOrString,
        "Quantity" => Kind::Quantity,
        "FieldsV1" => Kind::FieldsV1,
        "StringList" => Kind::StringList,
        name if name.starts_with(|c: char| c.is_ascii_uppercase()) => Kind::Message(name),
        other => return Err(format!("unknown type {other}")),
    };
    if json == ".." {
        if shape != Shape::Single || !matches!(kind, Kind::Message(_)) {
            return Err("only a single message can be inlined".into());
        }
        shape = Shape::Inline;
    }
    if shape != Shape::Single && presence != Presence::OmitEmpty {
        return Err("'?' and '!' apply to single values only".into());
    }
    Ok(Field {
        number,
        json,
        kind,
        shape,
        presence,
    })
}

// ---------------------------------------------------------------------------
// Decoding

fn decode_message(
    schema: &Schema,
    message: &'static str,
    bytes: &[u8],
) -> Result<Map<String, Value>, ProtobufError> {
    /// What has been read for one field so far.
    enum Slot {
        Empty,
        Single(Value),
        List(Vec<Value>),
        Map(Map<String, Value>),
    }

    let fields = schema.fields(message);
    let mut slots: Vec<Slot> = fields.iter().map(|_| Slot::Empty).collect();
    let mut reader = WireReader::new(bytes, message);
    while let Some((number, wire)) = reader.next_field()? {
        let Some(index) = fields.iter().position(|f| f.number == number) else {
            continue;
        };
        let field = fields[index];
        let slot = &mut slots[index];
        match field.shape {
            // A repeated singular field: the last one wins, as in protobuf.
            Shape::Single | Shape::Inline => {
                *slot = Slot::Single(decode_value(schema, message, field, wire)?);
            }
            Shape::List => {
                if !matches!(slot, Slot::List(_)) {
                    *slot = Slot::List(Vec::new());
                }
                let Slot::List(items) = slot else { continue };
                match (field.kind, wire) {
                    // Packed repeated scalars; Kubernetes does not emit them, but proto
                    // parsers must accept both forms.
                    (Kind::Int | Kind::Bool, Wire::Bytes(packed)) => {
                        let mut inner = WireReader::new(packed, message);
                        while inner.pos < packed.len() {
                            let value = Wire::Varint(inner.varint()?);
                            items.push(decode_value(schema, message, field, value)?);
                        }
                    }
                    _ => items.push(decode_value(schema, message, field, wire)?),
                }
            }
            Shape::Map => {
                let entry = wire.bytes(message, number)?;
                let (key, value) = decode_map_entry(schema, message, field, entry)?;
                if !matches!(slot, Slot::Map(_)) {
                    *slot = Slot::Map(Map::new());
                }
                if let Slot::Map(map) = slot {
                    map.insert(key, value);
                }
            }
        }
    }

    let mut object = Map::new();
    for (field, slot) in fields.iter().zip(slots) {
        match (field.shape, slot) {
            (_, Slot::Empty) => {}
            (Shape::Inline, Slot::Single(Value::Object(inner))) => object.extend(inner),
            (_, Slot::Single(value))
                if field.presence == Presence::OmitEmpty && is_zero(&value) => {}
            (_, Slot::Single(value)) => {
                object.insert(field.json.to_string(), value);
            }
            (_, Slot::List(items)) => {
                object.insert(field.json.to_string(), Value::Array(items));
            }
            (_, Slot::Map(map)) => {
                object.insert(field.json.to_string(), Value::Object(map));
            }
        }
    }
    Ok(object)
}

/// Go's zero values as they would be left out by `omitempty`.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        // Structs are never empty for encoding/json, even with omitempty.
        Value::Array(_) | Value::Object(_) => false,
    }
}

fn decode_map_entry(
    schema: &Schema,
    message: &'static str,
    field: Field,
    entry: &[u8],
) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value = None;
    let mut reader = WireReader::new(entry, message);
    while let Some((number, wire)) = reader.next_field()? {
        match number {
            1 => key = wire.string(message, field.number)?,
            2 => value = Some(decode_value(schema, message, field, wire)?),
            _ => {}
        }
    }
    let value = match value {
        Some(value) => value,
        // An absent value is the zero value of its type.
        None => {
            let zero = match field.kind {
                Kind::Int | Kind::Bool => Wire::Varint(0),
                _ => Wire::Bytes(&[]),
            };
            decode_value(schema, message, field, zero)?
        }
    };
    Ok((key, value))
}

fn decode_value(
    schema: &Schema,
    message: &'static str,
    field: Field,
    wire: Wire,
) -> Result<Value, ProtobufError> {
    let number = field.number;
    let malformed = |detail: String| ProtobufError::Malformed { message, detail };
    Ok(match field.kind {
        Kind::String => Value::String(wire.string(message, number)?),
        // int32 values are sign-extended to 64 bits on the wire, so this is right for both.
        Kind::Int => Value::from(wire.varint(message, number)? as i64),
        Kind::Bool => Value::Bool(wire.varint(message, number)? != 0),
        Kind::Bytes => Value::String(
            base64::engine::general_purpose::STANDARD.encode(wire.bytes(message, number)?),
        ),
        Kind::Message(target) => Value::Object(decode_message(
            schema,
            target,
            wire.bytes(message, number)?,
        )?),
        Kind::Time | Kind::MicroTime => {
            let bytes = wire.bytes(message, number)?;
            match read_timestamp(bytes)? {
                // An empty Time message is Go's zero time, `null` in JSON.
                None => Value::Null,
                Some((seconds, nanos)) => {
                    let time = u32::try_from(nanos)
                        .ok()
                        .and_then(|nanos| chrono::DateTime::from_timestamp(seconds, nanos))
                        .ok_or_else(|| {
                            malformed(format!(
                                "field {number} ({}) is not a valid time: {seconds}s {nanos}ns",
                                field.json
                            ))
                        })?;
                    let format = if field.kind == Kind::Time {
                        "%Y-%m-%dT%H:%M:%SZ"
                    } else {
                        "%Y-%m-%dT%H:%M:%S%.6fZ"
                    };
                    Value::String(time.format(format).to_string())
                }
            }
        }
        Kind::IntOrString => {
            let mut reader = WireReader::new(wire.bytes(message, number)?, "IntOrString");
            let (mut is_string, mut int_value, mut str_value) = (false, 0i64, String::new());
            while let Some((n, w)) = reader.next_field()? {
                match n {
                    1 => is_string = w.varint("IntOrString", n)? == 1,
                    2 => int_value = w.varint("IntOrString", n)? as i64,
                    3 => str_value = w.string("IntOrString", n)?,
                    _ => {}
                }
            }
            if is_string {
                Value::String(str_value)
            } else {
                Value::from(int_value)
            }
        }
        Kind::Quantity => {
            let mut reader = WireReader::new(wire.bytes(message, number)?, "Quantity");
            let mut text = String::new();
            while let Some((n, w)) = reader.next_field()? {
                if n == 1 {
                    text = w.string("Quantity", n)?;
                }
            }
            // The zero Quantity is written as "0" in JSON.
            Value::String(if text.is_empty() { "0".into() } else { text })
        }
        Kind::FieldsV1 => {
            let mut reader = WireReader::new(wire.bytes(message, number)?, "FieldsV1");
            let mut raw: &[u8] = &[];
            while let Some((n, w)) = reader.next_field()? {
                if n == 1 {
                    raw = w.bytes("FieldsV1", n)?;
                }
            }
            if raw.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(raw).map_err(|e| {
                    malformed(format!("field {number} ({}) is not JSON: {e}", field.json))
                })?
            }
        }
        Kind::StringList => {
            let mut reader = WireReader::new(wire.bytes(message, number)?, "StringList");
            let mut items = Vec::new();
            while let Some((n, w)) = reader.next_field()? {
                if n == 1 {
                    items.push(Value::String(w.string("StringList", n)?));
                }
            }
            Value::Array(items)
        }
    })
}

/// (seconds, nanos) of a Time/MicroTime message, or None for the empty (zero) message.
fn read_timestamp(bytes: &[u8]) -> Result<Option<(i64, i64)>, ProtobufError> {
    let mut reader = WireReader::new(bytes, "Time");
    let mut timestamp = None;
    while let Some((number, wire)) = reader.next_field()? {
        let (seconds, nanos) = timestamp.get_or_insert((0i64, 0i64));
        match number {
            1 => *seconds = wire.varint("Time", number)? as i64,
            2 => *nanos = i64::from(wire.varint("Time", number)? as i64 as i32),
            _ => {}
        }
    }
    Ok(timestamp)
}

// ---------------------------------------------------------------------------
// The table

/// Message schemas, one message per line (indented lines continue it), each field
/// `json=number:type`:
/// - type: `string`, `int` (int32/int64), `bool`, `bytes` (base64 in JSON), `Time`,
///   `MicroTime`, `IntOrString`, `Quantity`, `FieldsV1`, `StringList`, or a message name;
/// - prefix `[]` for repeated, `map:` for `map<string, type>`;
/// - suffix `?` for a Go pointer (kept whenever sent), `!` for a field without
///   `omitempty` (kept even when zero); otherwise zero values are left out;
/// - json name `..` for an embedded struct whose fields are inlined in JSON.
///
/// Field numbers come from k8s.io/api and apimachinery `generated.proto`, JSON names and
/// pointer-ness from their `types.go`. Fields not listed (status of most workloads,
/// legacy volume plugins, affinity, ...) are skipped like unknown fields.
const SCHEMA: &str = "
ObjectMeta: name=1:string generateName=2:string namespace=3:string selfLink=4:string uid=5:string
    resourceVersion=6:string generation=7:int creationTimestamp=8:Time deletionTimestamp=9:Time?
    deletionGracePeriodSeconds=10:int? labels=11:map:string annotations=12:map:string
    ownerReferences=13:[]OwnerReference finalizers=14:[]string managedFields=17:[]ManagedFieldsEntry
DeleteOptions: gracePeriodSeconds=1:int? preconditions=2:Preconditions orphanDependents=3:bool?
    propagationPolicy=4:string? dryRun=5:[]string
    ignoreStoreReadErrorWithClusterBreakingPotential=6:bool?
Secret: metadata=1:ObjectMeta immutable=5:bool? data=2:map:bytes stringData=4:map:string
    type=3:string
ConfigMap: metadata=1:ObjectMeta immutable=4:bool? data=2:map:string binaryData=3:map:bytes
Namespace: metadata=1:ObjectMeta spec=2:NamespaceSpec
ServiceAccount: metadata=1:ObjectMeta secrets=2:[]ObjectReference
    imagePullSecrets=3:[]LocalObjectReference automountServiceAccountToken=4:bool?
Service: metadata=1:ObjectMeta spec=2:ServiceSpec
Event: metadata=1:ObjectMeta involvedObject=2:ObjectReference reason=3:string message=4:string
    source=5:EventSource firstTimestamp=6:Time lastTimestamp=7:Time count=8:int type=9:string
    eventTime=10:MicroTime series=11:EventSeries action=12:string related=13:ObjectReference
    reportingComponent=14:string! reportingInstance=15:string!
ResourceQuota: metadata=1:ObjectMeta spec=2:ResourceQuotaSpec
Binding: metadata=1:ObjectMeta target=2:ObjectReference
SelfSubjectAccessReview: metadata=1:ObjectMeta spec=2:SelfSubjectAccessReviewSpec
    status=3:SubjectAccessReviewStatus
SubjectAccessReview: metadata=1:ObjectMeta spec=2:SubjectAccessReviewSpec
    status=3:SubjectAccessReviewStatus
LocalSubjectAccessReview: metadata=1:ObjectMeta spec=2:SubjectAccessReviewSpec
    status=3:SubjectAccessReviewStatus
SelfSubjectRulesReview: metadata=1:ObjectMeta spec=2:SelfSubjectRulesReviewSpec
    status=3:SubjectRulesReviewStatus
TokenRequest: metadata=1:ObjectMeta spec=2:TokenRequestSpec status=3:TokenRequestStatus
TokenReview: metadata=1:ObjectMeta spec=2:TokenReviewSpec status=3:TokenReviewStatus
SelfSubjectReview: metadata=1:ObjectMeta status=2:SelfSubjectReviewStatus
Lease: metadata=1:ObjectMeta spec=2:LeaseSpec
EventsV1Event: metadata=1:ObjectMeta eventTime=2:MicroTime! series=3:EventsV1EventSeries
    reportingController=4:string reportingInstance=5:string action=6:string reason=7:string
    regarding=8:ObjectReference related=9:ObjectReference note=10:string type=11:string
    deprecatedSource=12:EventSource deprecatedFirstTimestamp=13:Time deprecatedLastTimestamp=14:Time
    deprecatedCount=15:int
Role: metadata=1:ObjectMeta rules=2:[]PolicyRule
RoleBinding: metadata=1:ObjectMeta subjects=2:[]Subject roleRef=3:RoleRef
ClusterRole: metadata=1:ObjectMeta rules=2:[]PolicyRule aggregationRule=3:AggregationRule
ClusterRoleBinding: metadata=1:ObjectMeta subjects=2:[]Subject roleRef=3:RoleRef
Deployment: metadata=1:ObjectMeta spec=2:DeploymentSpec
Job: metadata=1:ObjectMeta spec=2:JobSpec
CronJob: metadata=1:ObjectMeta spec=2:CronJobSpec
Ingress: metadata=1:ObjectMeta spec=2:IngressSpec
PodDisruptionBudget: metadata=1:ObjectMeta spec=2:PodDisruptionBudgetSpec
Eviction: metadata=1:ObjectMeta deleteOptions=2:DeleteOptions
PriorityClass: metadata=1:ObjectMeta value=2:int! globalDefault=3:bool description=4:string
    preemptionPolicy=5:string?
OwnerReference: apiVersion=5:string! kind=1:string! name=3:string! uid=4:string! controller=6:bool?
    blockOwnerDeletion=7:bool?
ManagedFieldsEntry: manager=1:string operation=2:string apiVersion=3:string time=4:Time?
    fieldsType=6:string fieldsV1=7:FieldsV1? subresource=8:string
Preconditions: uid=1:string? resourceVersion=2:string?
NamespaceSpec: finalizers=1:[]string
ObjectReference: kind=1:string namespace=2:string name=3:string uid=4:string apiVersion=5:string
    resourceVersion=6:string fieldPath=7:string
LocalObjectReference: name=1:string
ServiceSpec: ports=1:[]ServicePort selector=2:map:string clusterIP=3:string clusterIPs=18:[]string
    type=4:string externalIPs=5:[]string sessionAffinity=7:string loadBalancerIP=8:string
    loadBalancerSourceRanges=9:[]string externalName=10:string externalTrafficPolicy=11:string
    healthCheckNodePort=12:int publishNotReadyAddresses=13:bool
    sessionAffinityConfig=14:SessionAffinityConfig ipFamilies=19:[]string ipFamilyPolicy=17:string?
    allocateLoadBalancerNodePorts=20:bool? loadBalancerClass=21:string?
    internalTrafficPolicy=22:string? trafficDistribution=23:string?
EventSource: component=1:string host=2:string
EventSeries: count=1:int lastObservedTime=2:MicroTime
ResourceQuotaSpec: hard=1:map:Quantity scopes=2:[]string
SelfSubjectAccessReviewSpec: resourceAttributes=1:ResourceAttributes
    nonResourceAttributes=2:NonResourceAttributes
SubjectAccessReviewStatus: allowed=1:bool! denied=4:bool reason=2:string evaluationError=3:string
SubjectAccessReviewSpec: resourceAttributes=1:ResourceAttributes
    nonResourceAttributes=2:NonResourceAttributes user=3:string groups=4:[]string
    extra=5:map:StringList uid=6:string
SelfSubjectRulesReviewSpec: namespace=1:string
SubjectRulesReviewStatus: resourceRules=1:[]ResourceRule nonResourceRules=2:[]NonResourceRule
    incomplete=3:bool! evaluationError=4:string
TokenRequestSpec: audiences=1:[]string expirationSeconds=4:int?
    boundObjectRef=3:BoundObjectReference attestations=5:map:StringList
TokenRequestStatus: token=1:string! expirationTimestamp=2:Time!
TokenReviewSpec: token=1:string audiences=2:[]string
TokenReviewStatus: authenticated=1:bool user=2:UserInfo audiences=4:[]string error=3:string
SelfSubjectReviewStatus: userInfo=1:UserInfo
LeaseSpec: holderIdentity=1:string? leaseDurationSeconds=2:int? acquireTime=3:MicroTime?
    renewTime=4:MicroTime? leaseTransitions=5:int? strategy=6:string? preferredHolder=7:string?
EventsV1EventSeries: count=1:int! lastObservedTime=2:MicroTime!
PolicyRule: verbs=1:[]string apiGroups=2:[]string resources=3:[]string resourceNames=4:[]string
    nonResourceURLs=5:[]string
Subject: kind=1:string! apiGroup=2:string name=3:string! namespace=4:string
RoleRef: apiGroup=1:string! kind=2:string! name=3:string!
AggregationRule: clusterRoleSelectors=1:[]LabelSelector
DeploymentSpec: replicas=1:int? selector=2:LabelSelector template=3:PodTemplateSpec
    strategy=4:DeploymentStrategy minReadySeconds=5:int revisionHistoryLimit=6:int? paused=7:bool
    progressDeadlineSeconds=9:int?
JobSpec: parallelism=1:int? completions=2:int? activeDeadlineSeconds=3:int? backoffLimit=7:int?
    backoffLimitPerIndex=12:int? maxFailedIndexes=13:int? selector=4:LabelSelector
    manualSelector=5:bool? template=6:PodTemplateSpec ttlSecondsAfterFinished=8:int?
    completionMode=9:string? suspend=10:bool? podReplacementPolicy=14:string? managedBy=15:string?
CronJobSpec: schedule=1:string! timeZone=8:string? startingDeadlineSeconds=2:int?
    concurrencyPolicy=3:string suspend=4:bool? jobTemplate=5:JobTemplateSpec
    successfulJobsHistoryLimit=6:int? failedJobsHistoryLimit=7:int?
IngressSpec: ingressClassName=4:string? defaultBackend=1:IngressBackend tls=2:[]IngressTLS
    rules=3:[]IngressRule
PodDisruptionBudgetSpec: minAvailable=1:IntOrString? selector=2:LabelSelector
    maxUnavailable=3:IntOrString? unhealthyPodEvictionPolicy=4:string?
ServicePort: name=1:string protocol=2:string appProtocol=6:string? port=3:int!
    targetPort=4:IntOrString nodePort=5:int
SessionAffinityConfig: clientIP=1:ClientIPConfig
ResourceAttributes: namespace=1:string verb=2:string group=3:string version=4:string
    resource=5:string subresource=6:string name=7:string fieldSelector=8:FieldSelectorAttributes
    labelSelector=9:LabelSelectorAttributes
NonResourceAttributes: path=1:string verb=2:string
ResourceRule: verbs=1:[]string apiGroups=2:[]string resources=3:[]string resourceNames=4:[]string
NonResourceRule: verbs=1:[]string nonResourceURLs=2:[]string
BoundObjectReference: kind=1:string apiVersion=2:string name=3:string uid=4:string
UserInfo: username=1:string uid=2:string groups=3:[]string extra=4:map:StringList
LabelSelector: matchLabels=1:map:string matchExpressions=2:[]LabelSelectorRequirement
PodTemplateSpec: metadata=1:ObjectMeta spec=2:PodSpec
DeploymentStrategy: type=1:string rollingUpdate=2:RollingUpdateDeployment
JobTemplateSpec: metadata=1:ObjectMeta spec=2:JobSpec
IngressBackend: service=4:IngressServiceBackend resource=3:TypedLocalObjectReference
IngressTLS: hosts=1:[]string secretName=2:string
IngressRule: host=1:string ..=2:IngressRuleValue
ClientIPConfig: timeoutSeconds=1:int?
FieldSelectorAttributes: rawSelector=1:string requirements=2:[]FieldSelectorRequirement
LabelSelectorAttributes: rawSelector=1:string requirements=2:[]LabelSelectorRequirement
LabelSelectorRequirement: key=1:string! operator=2:string! values=3:[]string
PodSpec: volumes=1:[]Volume initContainers=20:[]Container containers=2:[]Container
    restartPolicy=3:string terminationGracePeriodSeconds=4:int? activeDeadlineSeconds=5:int?
    dnsPolicy=6:string nodeSelector=7:map:string serviceAccountName=8:string serviceAccount=9:string
    automountServiceAccountToken=21:bool? nodeName=10:string hostNetwork=11:bool hostPID=12:bool
    hostIPC=13:bool shareProcessNamespace=27:bool? securityContext=14:PodSecurityContext
    imagePullSecrets=15:[]LocalObjectReference hostname=16:string subdomain=17:string
    schedulerName=19:string tolerations=22:[]Toleration priorityClassName=24:string priority=25:int?
    runtimeClassName=29:string? enableServiceLinks=30:bool? preemptionPolicy=31:string?
    overhead=32:map:Quantity setHostnameAsFQDN=35:bool? os=36:PodOS hostUsers=37:bool?
    schedulingGates=38:[]PodSchedulingGate resources=40:ResourceRequirements
    hostnameOverride=41:string?
RollingUpdateDeployment: maxUnavailable=1:IntOrString? maxSurge=2:IntOrString?
IngressServiceBackend: name=1:string! port=2:ServiceBackendPort
TypedLocalObjectReference: apiGroup=1:string? kind=2:string! name=3:string!
IngressRuleValue: http=1:HTTPIngressRuleValue
FieldSelectorRequirement: key=1:string! operator=2:string! values=3:[]string
Volume: name=1:string! ..=2:VolumeSource
Container: name=1:string! image=2:string command=3:[]string args=4:[]string workingDir=5:string
    ports=6:[]ContainerPort envFrom=19:[]EnvFromSource env=7:[]EnvVar
    resources=8:ResourceRequirements restartPolicy=24:string? volumeMounts=9:[]VolumeMount
    livenessProbe=10:Probe readinessProbe=11:Probe startupProbe=22:Probe
    terminationMessagePath=13:string terminationMessagePolicy=20:string imagePullPolicy=14:string
    securityContext=15:SecurityContext stdin=16:bool stdinOnce=17:bool tty=18:bool
PodSecurityContext: runAsUser=2:int? runAsGroup=6:int? runAsNonRoot=3:bool?
    supplementalGroups=4:[]int supplementalGroupsPolicy=12:string? fsGroup=5:int?
    fsGroupChangePolicy=9:string? seccompProfile=10:SeccompProfile seLinuxChangePolicy=13:string?
Toleration: key=1:string operator=2:string value=3:string effect=4:string tolerationSeconds=5:int?
PodOS: name=1:string!
PodSchedulingGate: name=1:string!
ResourceRequirements: limits=1:map:Quantity requests=2:map:Quantity
ServiceBackendPort: name=1:string number=2:int
HTTPIngressRuleValue: paths=1:[]HTTPIngressPath
VolumeSource: hostPath=1:HostPathVolumeSource emptyDir=2:EmptyDirVolumeSource
    secret=6:SecretVolumeSource persistentVolumeClaim=10:PersistentVolumeClaimVolumeSource
    downwardAPI=16:DownwardAPIVolumeSource configMap=19:ConfigMapVolumeSource
    projected=26:ProjectedVolumeSource
ContainerPort: name=1:string hostPort=2:int containerPort=3:int! protocol=4:string hostIP=5:string
EnvFromSource: prefix=1:string configMapRef=2:ConfigMapEnvSource secretRef=3:SecretEnvSource
EnvVar: name=1:string! value=2:string valueFrom=3:EnvVarSource
VolumeMount: name=1:string! readOnly=2:bool recursiveReadOnly=7:string? mountPath=3:string!
    subPath=4:string mountPropagation=5:string? subPathExpr=6:string bindMountOptions=8:[]string
Probe: ..=1:ProbeHandler initialDelaySeconds=2:int timeoutSeconds=3:int periodSeconds=4:int
    successThreshold=5:int failureThreshold=6:int terminationGracePeriodSeconds=7:int?
SecurityContext: capabilities=1:Capabilities privileged=2:bool? runAsUser=4:int? runAsGroup=8:int?
    runAsNonRoot=5:bool? readOnlyRootFilesystem=6:bool? allowPrivilegeEscalation=7:bool?
    procMount=9:string? seccompProfile=11:SeccompProfile
SeccompProfile: type=1:string! localhostProfile=2:string?
HTTPIngressPath: path=1:string pathType=3:string? backend=2:IngressBackend
HostPathVolumeSource: path=1:string! type=2:string?
EmptyDirVolumeSource: medium=1:string sizeLimit=2:Quantity? mode=3:int?
SecretVolumeSource: secretName=1:string items=2:[]KeyToPath defaultMode=3:int? optional=4:bool?
    defaultUser=5:int?
PersistentVolumeClaimVolumeSource: claimName=1:string! readOnly=2:bool
DownwardAPIVolumeSource: items=1:[]DownwardAPIVolumeFile defaultMode=2:int? defaultUser=3:int?
ConfigMapVolumeSource: ..=1:LocalObjectReference items=2:[]KeyToPath defaultMode=3:int?
    optional=4:bool? defaultUser=5:int?
ProjectedVolumeSource: sources=1:[]VolumeProjection defaultMode=2:int? defaultUser=3:int?
ConfigMapEnvSource: ..=1:LocalObjectReference optional=2:bool?
SecretEnvSource: ..=1:LocalObjectReference optional=2:bool?
EnvVarSource: fieldRef=1:ObjectFieldSelector resourceFieldRef=2:ResourceFieldSelector
    configMapKeyRef=3:ConfigMapKeySelector secretKeyRef=4:SecretKeySelector
    fileKeyRef=5:FileKeySelector
ProbeHandler: exec=1:ExecAction httpGet=2:HTTPGetAction tcpSocket=3:TCPSocketAction
Capabilities: add=1:[]string drop=2:[]string
KeyToPath: key=1:string! path=2:string! mode=3:int? user=4:int?
DownwardAPIVolumeFile: path=1:string! fieldRef=2:ObjectFieldSelector
    resourceFieldRef=3:ResourceFieldSelector mode=4:int? user=5:int?
VolumeProjection: secret=1:SecretProjection downwardAPI=2:DownwardAPIProjection
    configMap=3:ConfigMapProjection serviceAccountToken=4:ServiceAccountTokenProjection
ObjectFieldSelector: apiVersion=1:string fieldPath=2:string!
ResourceFieldSelector: containerName=1:string resource=2:string! divisor=3:Quantity
ConfigMapKeySelector: ..=1:LocalObjectReference key=2:string! optional=3:bool?
SecretKeySelector: ..=1:LocalObjectReference key=2:string! optional=3:bool?
FileKeySelector: volumeName=1:string! path=2:string! key=3:string! optional=4:bool?
ExecAction: command=1:[]string
HTTPGetAction: path=1:string port=2:IntOrString! host=3:string scheme=4:string
    httpHeaders=5:[]HTTPHeader protocol=6:string?
TCPSocketAction: port=1:IntOrString! host=2:string
SecretProjection: ..=1:LocalObjectReference items=2:[]KeyToPath optional=4:bool?
DownwardAPIProjection: items=1:[]DownwardAPIVolumeFile
ConfigMapProjection: ..=1:LocalObjectReference items=2:[]KeyToPath optional=4:bool?
ServiceAccountTokenProjection: audience=1:string expirationSeconds=2:int? path=3:string! user=4:int?
HTTPHeader: name=1:string! value=2:string!
";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Builds protobuf messages the way gogo-protobuf does for Kubernetes.
    #[derive(Default, Clone)]
    struct Msg(Vec<u8>);

    impl Msg {
        fn key(mut self, number: u32, wire_type: u64) -> Self {
            self.varint_raw((u64::from(number) << 3) | wire_type);
            self
        }
        fn varint_raw(&mut self, mut value: u64) {
            while value >= 0x80 {
                self.0.push((value as u8) | 0x80);
                value >>= 7;
            }
            self.0.push(value as u8);
        }
        fn int(self, number: u32, value: i64) -> Self {
            let mut m = self.key(number, 0);
            m.varint_raw(value as u64);
            m
        }
        fn bool(self, number: u32, value: bool) -> Self {
            self.int(number, i64::from(value))
        }
        fn bytes(self, number: u32, value: &[u8]) -> Self {
            let mut m = self.key(number, 2);
            m.varint_raw(value.len() as u64);
            m.0.extend_from_slice(value);
            m
        }
        fn str(self, number: u32, value: &str) -> Self {
            self.bytes(number, value.as_bytes())
        }
        fn msg(self, number: u32, value: Msg) -> Self {
            self.bytes(number, &value.0)
        }
        fn entry(self, number: u32, key: &str, value: &[u8]) -> Self {
            self.msg(number, Msg::default().str(1, key).bytes(2, value))
        }
        fn time(self, number: u32, seconds: i64, nanos: i64) -> Self {
            self.msg(number, Msg::default().int(1, seconds).int(2, nanos))
        }
    }

    fn envelope(api_version: &str, kind: &str, raw: Msg) -> Vec<u8> {
        let type_meta = Msg::default().str(1, api_version).str(2, kind);
        let unknown = Msg::default()
            .msg(1, type_meta)
            .msg(2, raw)
            .str(3, "")
            .str(4, "");
        [MAGIC, unknown.0.as_slice()].concat()
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("test fixture is hex"))
            .collect()
    }

    /// ObjectMeta as client-go writes it for a new object: every non-pointer field,
    /// empty ones included.
    fn new_object_meta(name: &str) -> Msg {
        Msg::default()
            .str(1, name)
            .str(2, "")
            .str(3, "")
            .str(4, "")
            .str(5, "")
            .str(6, "")
            .int(7, 0)
            .msg(8, Msg::default())
    }

    // Bodies captured from real clients against a recording server.

    /// kubectl 1.33: `create secret generic s5 --from-literal=a=b --from-literal=c=d --type=foo/bar`
    const KUBECTL_CREATE_SECRET: &str = "6b3873000a0c0a0276311206536563726574122d0a120a02733512001a0022002a0032003800420012060a016112016212060a01631201641a07666f6f2f6261721a002200";
    /// kubectl 1.33: `create service clusterip svc5 --tcp=80:8080 --tcp=443:https`
    const KUBECTL_CREATE_SERVICE: &str = "6b3873000a0d0a0276311207536572766963651290010a210a047376633512001a0022002a003200380042005a0b0a0361707012047376633512670a1b0a0738302d38303830120354435018502207080010903f1a0028000a220a093434332d6874747073120354435018bb03220b080110001a0568747470732800120b0a036170701204737663351a002209436c757374657249503a00420052005a00600068001a020a001a002200";
    /// kubectl 1.33: `create rolebinding rb5 --role=r1 --user=alice --serviceaccount=default:sa1 --group=g1`
    const KUBECTL_CREATE_ROLEBINDING: &str = "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c6542696e64696e6712b4010a130a0372623512001a0022002a00320038004200122a0a04557365721219726261632e617574686f72697a6174696f6e2e6b38732e696f1a05616c696365220012280a0547726f75701219726261632e617574686f72697a6174696f6e2e6b38732e696f1a026731220012200a0e536572766963654163636f756e7412001a03736131220764656661756c741a250a19726261632e617574686f72697a6174696f6e2e6b38732e696f1204526f6c651a0272311a002200";
    /// kubectl 1.33: `create deployment d5 --image=nginx --replicas=2 --port=80`
    const KUBECTL_CREATE_DEPLOYMENT: &str = "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b4010a1d0a02643512001a0022002a003200380042005a090a03617070120264351284010802120b0a090a03617070120264351a6b0a1b0a0012001a0022002a003200380042005a090a0361707012026435124c122e0a056e67696e7812056e67696e782a00320a0a001000185022002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200";
    /// kubectl 1.33: `create ingress ing5 --rule=foo.com/bar=svc1:8080,tls=my-cert --rule=/p*=svc2:http --default-backend=svc3:80 --class=nginx --annotation=a=b`
    const KUBECTL_CREATE_INGRESS: &str = "6b3873000a1f0a146e6574776f726b696e672e6b38732e696f2f76311207496e677265737312a9010a1c0a04696e673512001a0022002a0032003800420062060a01611201621284010a0e220c0a047376633312040a00105012120a07666f6f2e636f6d12076d792d636572741a2d0a07666f6f2e636f6d12220a200a1e0a042f626172120f220d0a047376633112050a0010903f1a0545786163741a280a0012240a220a200a022f70121222100a047376633212080a046874747010001a0650726566697822056e67696e781a020a001a002200";
    /// kubectl 1.33: `create poddisruptionbudget pdb5 --selector=app=x --max-unavailable=30%`
    const KUBECTL_CREATE_PDB: &str = "6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e427564676574123b0a140a047064623512001a0022002a003200380042001217120a0a080a036170701201781a09080110001a033330251a0a080018002000280030001a002200";
    /// kubectl 1.33: `create token sa1 --audience=aud1 --duration=10m --bound-object-kind=Pod --bound-object-name=p1 --bound-object-uid=uid-1`
    const KUBECTL_CREATE_TOKEN: &str = "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e5265717565737412390a100a0012001a0022002a00320038004200121f0a04617564311a140a03506f64120276311a02703122057569642d3120d8041a040a0012001a002200";
    /// kubectl 1.33: `auth can-i list pods --subresource=log -n kube-system`
    const KUBECTL_CAN_I_RESOURCE: &str = "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a65637441636365737352657669657712440a100a0012001a0022002a0032003800420012260a240a0b6b7562652d73797374656d12046c6973741a0022002a04706f647332036c6f673a001a08080012001a0020001a002200";
    /// kubectl 1.33: `auth can-i get /healthz`
    const KUBECTL_CAN_I_NON_RESOURCE: &str = "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363657373526576696577122f0a100a0012001a0022002a003200380042001211120f0a082f6865616c74687a12036765741a08080012001a0020001a002200";
    /// kubectl 1.33: `auth can-i --list -n default`
    const KUBECTL_CAN_I_LIST: &str = "6b3873000a310a17617574686f72697a6174696f6e2e6b38732e696f2f7631121653656c665375626a65637452756c657352657669657712230a100a0012001a0022002a0032003800420012090a0764656661756c741a04180022001a002200";
    /// kubectl 1.33: `auth whoami`
    const KUBECTL_WHOAMI: &str = "6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a656374526576696577121a0a100a0012001a0022002a0032003800420012060a040a0012001a002200";
    /// Helm 4.2 (client-go 0.36) deleting a release Secret.
    const HELM_DELETE_OPTIONS: &str =
        "6b3873000a130a027631120d44656c6574654f7074696f6e7312001a002200";

    #[test]
    fn kubectl_create_secret_decodes_to_the_json_kubectl_would_send() {
        let decoded = decode(&hex(KUBECTL_CREATE_SECRET)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s5"},
                "data": {"a": "Yg==", "c": "ZA=="},
                "type": "foo/bar"
            })
        );
    }

    #[test]
    fn secret_keeps_labels_binary_data_and_an_explicit_immutable_false() {
        let raw = Msg::default()
            .msg(
                1,
                new_object_meta("release-1")
                    .entry(11, "owner", b"helm")
                    .entry(11, "status", b"deployed")
                    .entry(12, "note", b""),
            )
            .entry(2, "release", &[0x00, 0xff, 0x10])
            .entry(2, "empty", b"")
            .str(3, "helm.sh/release.v1")
            .entry(4, "plain", b"text")
            .bool(5, false);
        let decoded = decode(&envelope("v1", "Secret", raw)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": "release-1",
                    "labels": {"owner": "helm", "status": "deployed"},
                    "annotations": {"note": ""}
                },
                "immutable": false,
                "data": {"release": "AP8Q", "empty": ""},
                "stringData": {"plain": "text"},
                "type": "helm.sh/release.v1"
            })
        );
    }

    #[test]
    fn helm_delete_options_body_is_an_empty_delete_options() {
        let decoded = decode(&hex(HELM_DELETE_OPTIONS)).expect("decodes");
        assert_eq!(
            decoded,
            json!({"apiVersion": "v1", "kind": "DeleteOptions"})
        );
    }

    #[test]
    fn delete_options_keep_zero_grace_period_preconditions_and_propagation() {
        let raw = Msg::default()
            .int(1, 0)
            .msg(2, Msg::default().str(1, "uid-1").str(2, "42"))
            .bool(3, false)
            .str(4, "Foreground")
            .str(5, "All");
        let decoded = decode(&envelope("v1", "DeleteOptions", raw)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
                "orphanDependents": false,
                "propagationPolicy": "Foreground",
                "dryRun": ["All"]
            })
        );
    }

    #[test]
    fn delete_options_are_accepted_under_any_group_version() {
        // Typed clients encode DeleteOptions with their own group's version.
        let raw = Msg::default().str(4, "Background");
        let decoded = decode(&envelope("apps/v1", "DeleteOptions", raw)).expect("decodes");
        assert_eq!(
            decoded,
            json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "propagationPolicy": "Background"})
        );
    }

    #[test]
    fn kubectl_auth_can_i_sends_resource_attributes() {
        let decoded = decode(&hex(KUBECTL_CAN_I_RESOURCE)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "metadata": {},
                "spec": {"resourceAttributes": {
                    "namespace": "kube-system", "verb": "list", "resource": "pods", "subresource": "log"
                }},
                "status": {"allowed": false}
            })
        );
    }

    #[test]
    fn kubectl_auth_can_i_non_resource_url() {
        let decoded = decode(&hex(KUBECTL_CAN_I_NON_RESOURCE)).expect("decodes");
        assert_eq!(
            decoded["spec"],
            json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}})
        );
    }

    #[test]
    fn access_review_carries_field_and_label_selector_requirements() {
        let requirement =
            |key: &str, op: &str, value: &str| Msg::default().str(1, key).str(2, op).str(3, value);
        let attributes = Msg::default()
            .str(1, "default")
            .str(2, "list")
            .str(3, "")
            .str(4, "")
            .str(5, "pods")
            .str(6, "")
            .str(7, "")
            .msg(
                8,
                Msg::default()
                    .str(1, "spec.nodeName=n1")
                    .msg(2, requirement("spec.nodeName", "In", "n1")),
            )
            .msg(
                9,
                Msg::default()
                    .str(1, "")
                    .msg(2, requirement("app", "In", "web")),
            );
        let spec = Msg::default()
            .msg(1, attributes)
            .str(3, "alice")
            .str(4, "devs")
            .msg(
                5,
                Msg::default()
                    .str(1, "scopes")
                    .msg(2, Msg::default().str(1, "a").str(1, "b")),
            )
            .str(6, "");
        let raw = Msg::default().msg(1, new_object_meta("")).msg(2, spec);
        let decoded = decode(&envelope(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            raw,
        ))
        .expect("decodes");
        assert_eq!(
            decoded["spec"],
            json!({
                "resourceAttributes": {
                    "namespace": "default", "verb": "list", "resource": "pods",
                    "fieldSelector": {
                        "rawSelector": "spec.nodeName=n1",
                        "requirements": [{"key": "spec.nodeName", "operator": "In", "values": ["n1"]}]
                    },
                    "labelSelector": {
                        "requirements": [{"key": "app", "operator": "In", "values": ["web"]}]
                    }
                },
                "user": "alice",
                "groups": ["devs"],
                "extra": {"scopes": ["a", "b"]}
            })
        );
    }

    #[test]
    fn kubectl_auth_can_i_list_and_whoami() {
        let rules = decode(&hex(KUBECTL_CAN_I_LIST)).expect("decodes");
        assert_eq!(rules["kind"], "SelfSubjectRulesReview");
        assert_eq!(rules["spec"], json!({"namespace": "default"}));
        let whoami = decode(&hex(KUBECTL_WHOAMI)).expect("decodes");
        assert_eq!(
            whoami,
            json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "SelfSubjectReview",
                "metadata": {},
                "status": {"userInfo": {}}
            })
        );
    }

    #[test]
    fn kubectl_create_token_with_audience_duration_and_bound_object() {
        let decoded = decode(&hex(KUBECTL_CREATE_TOKEN)).expect("decodes");
        assert_eq!(
            decoded["spec"],
            json!({
                "audiences": ["aud1"],
                "expirationSeconds": 600,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p1", "uid": "uid-1"}
            })
        );
    }

    #[test]
    fn lease_micro_times_have_microseconds_and_zero_transitions_are_kept() {
        let spec = Msg::default()
            .str(1, "node-a")
            .int(2, 15)
            .time(3, 1767323045, 123_456_789)
            .time(4, 1767323100, 0)
            .int(5, 0);
        let raw = Msg::default()
            .msg(1, new_object_meta("leader"))
            .msg(2, spec);
        let decoded = decode(&envelope("coordination.k8s.io/v1", "Lease", raw)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "leader"},
                "spec": {
                    "holderIdentity": "node-a",
                    "leaseDurationSeconds": 15,
                    "acquireTime": "2026-01-02T03:04:05.123456Z",
                    "renewTime": "2026-01-02T03:05:00.000000Z",
                    "leaseTransitions": 0
                }
            })
        );
    }

    #[test]
    fn object_meta_times_owner_references_finalizers_and_managed_fields() {
        let owner = Msg::default()
            .str(1, "ReplicaSet")
            .str(3, "web-1")
            .str(4, "")
            .str(5, "apps/v1")
            .bool(6, true);
        let managed = Msg::default()
            .str(1, "kubectl")
            .str(2, "Apply")
            .str(3, "v1")
            .time(4, 1767225599, 0)
            .str(6, "FieldsV1")
            .msg(7, Msg::default().bytes(1, br#"{"f:data":{"f:a":{}}}"#))
            .str(8, "");
        let meta = Msg::default()
            .str(1, "cm")
            .str(3, "ns")
            .str(5, "uid-9")
            .str(6, "17")
            .int(7, 3)
            .time(8, 1767323045, 999_999_999)
            .time(9, 1767323100, 0)
            .int(10, 0)
            .entry(12, "a", b"1")
            .msg(13, owner)
            .str(14, "example.com/cleanup")
            .msg(17, managed);
        let raw = Msg::default().msg(1, meta);
        let decoded = decode(&envelope("v1", "ConfigMap", raw)).expect("decodes");
        assert_eq!(
            decoded["metadata"],
            json!({
                "name": "cm",
                "namespace": "ns",
                "uid": "uid-9",
                "resourceVersion": "17",
                "generation": 3,
                "creationTimestamp": "2026-01-02T03:04:05Z",
                "deletionTimestamp": "2026-01-02T03:05:00Z",
                "deletionGracePeriodSeconds": 0,
                "annotations": {"a": "1"},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "",
                    "controller": true
                }],
                "finalizers": ["example.com/cleanup"],
                "managedFields": [{
                    "manager": "kubectl",
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "time": "2025-12-31T23:59:59Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:a": {}}}
                }]
            })
        );
    }

    #[test]
    fn kubectl_create_service_with_numeric_and_named_target_ports() {
        let decoded = decode(&hex(KUBECTL_CREATE_SERVICE)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "svc5", "labels": {"app": "svc5"}},
                "spec": {
                    "ports": [
                        {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                        {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"}
                    ],
                    "selector": {"app": "svc5"},
                    "type": "ClusterIP"
                }
            })
        );
    }

    #[test]
    fn kubectl_create_deployment_with_pod_template() {
        let decoded = decode(&hex(KUBECTL_CREATE_DEPLOYMENT)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "d5", "labels": {"app": "d5"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "d5"}},
                    "template": {
                        "metadata": {"labels": {"app": "d5"}},
                        "spec": {"containers": [{
                            "name": "nginx",
                            "image": "nginx",
                            "ports": [{"containerPort": 80}],
                            "resources": {}
                        }]}
                    },
                    "strategy": {}
                }
            })
        );
    }

    #[test]
    fn kubectl_create_rolebinding_subjects_and_role_ref() {
        let decoded = decode(&hex(KUBECTL_CREATE_ROLEBINDING)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "rb5"},
                "subjects": [
                    {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                    {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g1"},
                    {"kind": "ServiceAccount", "name": "sa1", "namespace": "default"}
                ],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}
            })
        );
    }

    #[test]
    fn kubectl_create_ingress_inlines_the_rule_value() {
        let decoded = decode(&hex(KUBECTL_CREATE_INGRESS)).expect("decodes");
        assert_eq!(
            decoded["spec"],
            json!({
                "ingressClassName": "nginx",
                "defaultBackend": {"service": {"name": "svc3", "port": {"number": 80}}},
                "tls": [{"hosts": ["foo.com"], "secretName": "my-cert"}],
                "rules": [
                    {"host": "foo.com", "http": {"paths": [{
                        "path": "/bar", "pathType": "Exact",
                        "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}
                    }]}},
                    {"http": {"paths": [{
                        "path": "/p", "pathType": "Prefix",
                        "backend": {"service": {"name": "svc2", "port": {"name": "http"}}}
                    }]}}
                ]
            })
        );
    }

    #[test]
    fn kubectl_create_pdb_percentage_is_a_string_int_or_string() {
        let decoded = decode(&hex(KUBECTL_CREATE_PDB)).expect("decodes");
        assert_eq!(
            decoded["spec"],
            json!({"selector": {"matchLabels": {"app": "x"}}, "maxUnavailable": "30%"})
        );
    }

    #[test]
    fn core_event_keeps_required_reporting_fields_and_drops_zero_times() {
        let involved = Msg::default()
            .str(1, "Pod")
            .str(2, "default")
            .str(3, "web")
            .str(4, "")
            .str(5, "v1")
            .str(6, "")
            .str(7, "");
        let raw = Msg::default()
            .msg(1, new_object_meta("web.1"))
            .msg(2, involved)
            .str(3, "Started")
            .str(4, "Started container")
            .msg(5, Msg::default().str(1, "kubelet").str(2, ""))
            .time(6, 1767323045, 0)
            .time(7, 1767323045, 0)
            .int(8, 1)
            .str(9, "Normal")
            .msg(10, Msg::default())
            .str(12, "")
            .str(14, "")
            .str(15, "");
        let decoded = decode(&envelope("v1", "Event", raw)).expect("decodes");
        assert_eq!(
            decoded,
            json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "web.1"},
                "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "apiVersion": "v1"},
                "reason": "Started",
                "message": "Started container",
                "source": {"component": "kubelet"},
                "firstTimestamp": "2026-01-02T03:04:05Z",
                "lastTimestamp": "2026-01-02T03:04:05Z",
                "count": 1,
                "type": "Normal",
                "reportingComponent": "",
                "reportingInstance": ""
            })
        );
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        let meta = new_object_meta("s").str(99, "future");
        let mut raw = Msg::default()
            .msg(1, meta)
            .str(3, "Opaque")
            .int(90, 7)
            .str(91, "x");
        raw = raw.key(92, 5);
        raw.0.extend_from_slice(&[1, 2, 3, 4]);
        raw = raw.key(93, 1);
        raw.0.extend_from_slice(&[0; 8]);
        let decoded = decode(&envelope("v1", "Secret", raw)).expect("decodes");
        assert_eq!(
            decoded,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque"})
        );
    }

    #[test]
    fn unknown_kind_is_unsupported_and_named() {
        let body = envelope("apps/v1", "StatefulSet", new_object_meta("db"));
        let error = decode(&body).expect_err("StatefulSet has no schema");
        assert_eq!(
            error,
            ProtobufError::UnsupportedKind {
                api_version: "apps/v1".into(),
                kind: "StatefulSet".into()
            }
        );
        assert!(error.is_unsupported());
        assert!(error.to_string().contains("StatefulSet"));
        assert!(!is_supported("apps/v1", "StatefulSet"));
        assert!(is_supported("v1", "Secret"));
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        assert_eq!(
            decode(br#"{"kind":"Secret"}"#),
            Err(ProtobufError::MissingMagic)
        );
        assert_eq!(decode(b""), Err(ProtobufError::MissingMagic));
        // Every truncation of a real body fails cleanly or decodes a prefix.
        let body = hex(KUBECTL_CREATE_DEPLOYMENT);
        for end in 4..body.len() {
            let _ = decode(&body[..end]);
        }
        let truncated = &body[..body.len() - 10];
        let error = decode(truncated).expect_err("the envelope's raw field is cut short");
        assert!(!error.is_unsupported());
        // A known field with the wrong wire type: Secret.type (3) as a varint.
        let wrong = Msg::default().int(3, 1);
        assert!(matches!(
            decode(&envelope("v1", "Secret", wrong)),
            Err(ProtobufError::Malformed {
                message: "Secret",
                ..
            })
        ));
        // Invalid managedFields JSON is rejected like the real API server does.
        let managed = Msg::default().msg(7, Msg::default().bytes(1, b"{not json"));
        let meta = Msg::default().msg(17, managed);
        assert!(decode(&envelope("v1", "Secret", Msg::default().msg(1, meta))).is_err());
    }

    #[test]
    fn content_encoding_is_refused() {
        let unknown = Msg::default()
            .msg(1, Msg::default().str(1, "v1").str(2, "Secret"))
            .str(3, "gzip");
        let body = [MAGIC, unknown.0.as_slice()].concat();
        let error = decode(&body).expect_err("gzip is not supported");
        assert_eq!(
            error,
            ProtobufError::UnsupportedContentEncoding("gzip".into())
        );
    }

    #[test]
    fn recognises_the_protobuf_content_type() {
        assert!(is_protobuf_media_type(
            "application/vnd.kubernetes.protobuf"
        ));
        assert!(is_protobuf_media_type(
            "Application/VND.kubernetes.protobuf; charset=utf-8"
        ));
        assert!(!is_protobuf_media_type("application/json"));
        assert!(!is_protobuf_media_type(
            "application/vnd.kubernetes.protobuf.extra"
        ));
    }

    #[test]
    fn schema_table_is_consistent() {
        // A broken table would otherwise only show up as a panic on the first request.
        let schema = parse_schema(SCHEMA).expect("schema parses");
        for (_, _, message) in KINDS {
            assert!(
                !schema.fields(message).is_empty(),
                "{message} has no fields"
            );
        }
        assert!(parse_schema("A: x=1:Missing").is_err());
        assert!(parse_schema("A: x=1:string y=1:int").is_err());
    }
}
