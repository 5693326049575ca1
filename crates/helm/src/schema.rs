//! Values checked against a chart's `values.schema.json`, with Helm 4's verdict and
//! Helm 4's words.
//!
//! Helm hands the coalesced values to github.com/santhosh-tekuri/jsonschema/v6 and
//! prints that library's error tree. Users read (and tests and CI logs compare) that
//! text, so this module is a validator of its own that follows the library's rules
//! rather than a general JSON Schema crate with its messages mapped afterwards: the
//! library's layout (a `$ref` with one cause is not shown, `allOf` lists its failed
//! subschemas, a type mismatch hides every other check of that subschema, numbers are
//! compared as exact decimals) can't be recovered from another validator's flat list.
//!
//! What it follows:
//! - drafts 4, 6, 7, 2019-09 and 2020-12, chosen by `$schema` (2020-12 when absent);
//! - every assertion of those drafts, `$ref` to the document itself (`#/definitions/…`,
//!   `#/$defs/…`, `$id`-relative, anchors), `$dynamicRef`/`$recursiveRef`, and
//!   `unevaluatedProperties`/`unevaluatedItems`;
//! - `format`, which the library asserts only for drafts before 2019-09;
//! - the check of the schema itself against its draft's metaschema, which the
//!   library makes before using a schema (a `"type": "int"` makes the chart's schema
//!   unusable, not permissive).
//!
//! Remote `$ref`s and metaschemas (`http`, `https`, files) are never fetched: they make
//! the schema unusable with a message saying so, where Helm would download them.
//!
//! Go ranges over maps in random order, so where the library lists the properties of
//! an object (one error per property, `additional properties 'a', 'b'`) Helm's order
//! changes from run to run; here it is the keys' sorted order.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use ferroflux_gotemplate::gofmt;
use ferroflux_gotemplate::Value;

use crate::chart::Chart;

/// The location Helm gives the chart's schema; it shows in some messages.
const ROOT_URL: &str = "file:///values.schema.json";

/// Why values were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The values break the schema: the library's list of violations, ending in a
    /// newline as Helm's `JSONSchemaValidationError` does.
    #[error("{0}")]
    Violations(String),
    /// The schema can't be used: not JSON, not valid against its metaschema, or a
    /// `$ref` that can't be resolved.
    #[error("{0}")]
    Unusable(String),
    /// What Helm's install says when any chart's schema refuses the values: one
    /// `NAME:` section per chart (Helm's ValidateAgainstSchema report).
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Charts(String),
}

impl SchemaError {
    /// The message without the wrapping `Charts` adds (for `Charts`, the per-chart
    /// report Helm's ValidateAgainstSchema returns).
    pub fn report(&self) -> &str {
        match self {
            SchemaError::Violations(s) | SchemaError::Unusable(s) | SchemaError::Charts(s) => s,
        }
    }
}

/// Helm's schema check of an install or upgrade: `values` (already coalesced with the
/// chart's defaults) against the chart's schema, and each subchart's part of them
/// against the subchart's, recursively.
pub fn validate_chart(chart: &Chart, values: &Value) -> Result<(), SchemaError> {
    let report = chart_report(chart, values);
    if report.is_empty() {
        Ok(())
    } else {
        Err(SchemaError::Charts(report))
    }
}

/// Helm's ValidateAgainstSchema: the per-chart report, empty when all is well.
fn chart_report(chart: &Chart, values: &Value) -> String {
    let mut out = String::new();
    if let Some(schema) = &chart.schema {
        if let Err(e) = validate_schema(schema, values) {
            out.push_str(&chart.name());
            out.push_str(":\n");
            out.push_str(e.report());
        }
    }
    for sub in &chart.dependencies {
        let name = sub.name();
        let part = match values {
            Value::Map(map) => map.get(&name),
            _ => None,
        };
        match part {
            None | Some(Value::Nil) => {}
            Some(part @ Value::Map(_)) => out.push_str(&chart_report(sub, &part)),
            Some(other) => out.push_str(&format!(
                "{name}:\ninvalid type for values: expected object (map), got {}\n",
                other.type_name()
            )),
        }
    }
    out
}

/// Helm's ValidateAgainstSingleSchema: `values` against one schema document.
pub fn validate_schema(schema_json: &[u8], values: &Value) -> Result<(), SchemaError> {
    let doc = parse_json(schema_json).map_err(SchemaError::Unusable)?;
    let compiled = Compiler::compile_user(doc).map_err(SchemaError::Unusable)?;
    let instance = from_value(values);
    match compiled.validate_root(compiled.root, &instance) {
        Ok(()) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            let prefix = format!("jsonschema validation failed with '{ROOT_URL}#'\n");
            let text = text.strip_prefix(&prefix).unwrap_or(&text);
            Err(SchemaError::Violations(format!("{text}\n")))
        }
    }
}

// ---------------------------------------------------------------------------------
// JSON documents and instances

/// A JSON value: a schema document as Go's decoder reads it (numbers kept as written,
/// a repeated key keeping its last value) or the values being checked.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// A number: what `%v` prints for it, and its exact value.
#[derive(Debug, Clone)]
struct Number {
    text: String,
    value: Decimal,
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn type_of(&self) -> JsonType {
        match self {
            Json::Null => JsonType::Null,
            Json::Bool(_) => JsonType::Boolean,
            Json::Num(_) => JsonType::Number,
            Json::Str(_) => JsonType::String,
            Json::Arr(_) => JsonType::Array,
            Json::Obj(_) => JsonType::Object,
        }
    }

    fn is_compound(&self) -> bool {
        matches!(self, Json::Arr(_) | Json::Obj(_))
    }

    /// The library's `display`: strings quoted, numbers as `%v`, containers `value`.
    fn display(&self) -> String {
        match self {
            Json::Null => "<nil>".to_owned(),
            Json::Bool(b) => b.to_string(),
            Json::Num(n) => n.text.clone(),
            Json::Str(s) => quote(s),
            Json::Arr(_) | Json::Obj(_) => "value".to_owned(),
        }
    }
}

/// Equality as the library decides it: numbers by value, objects regardless of order.
fn equals(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Null, Json::Null) => true,
        (Json::Bool(x), Json::Bool(y)) => x == y,
        (Json::Str(x), Json::Str(y)) => x == y,
        (Json::Num(x), Json::Num(y)) => x.value.cmp(&y.value) == Ordering::Equal,
        (Json::Arr(x), Json::Arr(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equals(a, b))
        }
        (Json::Obj(x), Json::Obj(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|other| equals(v, other)))
        }
        _ => false,
    }
}

/// The values as Helm's validator receives them (Go numbers print with `%v`).
fn from_value(value: &Value) -> Json {
    match value {
        Value::NoValue | Value::Nil | Value::Object(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) | Value::Int64(i) => Json::Num(Number {
            text: i.to_string(),
            value: Decimal::from_i64(*i),
        }),
        Value::Float(f) => Json::Num(Number {
            text: gofmt::format_float_shortest(*f),
            value: Decimal::from_f64(*f),
        }),
        Value::String(s) => Json::Str(s.to_string()),
        Value::List(items) => Json::Arr(items.iter().map(from_value).collect()),
        Value::Map(map) => Json::Obj(
            map.snapshot()
                .iter()
                .map(|(k, v)| (k.clone(), from_value(v)))
                .collect(),
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Null,
    Boolean,
    Number,
    Integer,
    String,
    Array,
    Object,
}

impl JsonType {
    /// In the order the library lists wanted types.
    const ALL: [JsonType; 7] = [
        JsonType::Null,
        JsonType::Boolean,
        JsonType::Number,
        JsonType::Integer,
        JsonType::String,
        JsonType::Array,
        JsonType::Object,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }

    fn from_name(name: &str) -> Option<JsonType> {
        JsonType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Go's `encoding/json` Decoder (with UseNumber) over a whole document, with its error
/// texts, and the library's complaint about anything after the value.
fn parse_json(bytes: &[u8]) -> Result<Json, String> {
    let mut p = JsonParser { bytes, pos: 0 };
    p.skip_space();
    if p.pos == bytes.len() {
        return Err("EOF".to_owned());
    }
    let value = p.value()?;
    p.skip_space();
    if p.pos < bytes.len() {
        return Err("invalid character after top-level value".to_owned());
    }
    Ok(value)
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl JsonParser<'_> {
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8, String> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| "unexpected EOF".to_owned())
    }

    /// Go's SyntaxError text for byte `c` where `context` was expected.
    fn invalid(&self, c: u8, context: &str) -> String {
        let shown = match c {
            b'\'' => "'\\''".to_owned(),
            b'"' => "'\"'".to_owned(),
            _ => {
                // Go quotes the byte as a rune; a byte above 0x7f is not valid UTF-8 on
                // its own and shows as the replacement character.
                let ch = if c < 0x80 { c as char } else { '\u{fffd}' };
                let q = gofmt::quote(&ch.to_string());
                format!("'{}'", &q[1..q.len() - 1])
            }
        };
        format!("invalid character {shown} {context}")
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_space();
        let c = self.peek()?;
        match c {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => Ok(Json::Str(self.string()?)),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.invalid(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        for (i, expected) in word.bytes().enumerate() {
            let c = self.peek()?;
            if c != expected {
                return Err(self.invalid(
                    c,
                    &format!("in literal {word} (expecting '{}')", expected as char),
                ));
            }
            let _ = i;
            self.pos += 1;
        }
        Ok(value)
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        if self.peek()? == b'-' {
            self.pos += 1;
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(self.invalid(c, "in numeric literal"));
            }
        }
        if self.peek()? == b'0' {
            self.pos += 1;
        } else {
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(self.invalid(c, "after decimal point in numeric literal"));
            }
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(self.invalid(c, "in exponent of numeric literal"));
            }
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
        }
        // A number at the very end of the input is complete for Go's decoder.
        let text = String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned();
        let value = Decimal::parse(&text).unwrap_or_default();
        Ok(Json::Num(Number { text, value }))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut n = 0u32;
        for _ in 0..4 {
            let c = self.peek()?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.invalid(c, "in \\u hexadecimal character escape"))?;
            n = n * 16 + d;
            self.pos += 1;
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // the opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek()?;
                    self.pos += 1;
                    let simple = match e {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        _ => return Err(self.invalid(e, "in string escape code")),
                    };
                    let ch = match simple {
                        Some(ch) => ch,
                        None => {
                            let first = self.hex4()?;
                            if (0xd800..0xdc00).contains(&first)
                                && self.bytes.get(self.pos) == Some(&b'\\')
                                && self.bytes.get(self.pos + 1) == Some(&b'u')
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let second = self.hex4()?;
                                if (0xdc00..0xe000).contains(&second) {
                                    char::from_u32(
                                        0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00),
                                    )
                                    .unwrap_or('\u{fffd}')
                                } else {
                                    self.pos = save;
                                    '\u{fffd}'
                                }
                            } else {
                                char::from_u32(first).unwrap_or('\u{fffd}')
                            }
                        }
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.invalid(c, "in string literal")),
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_space();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(Json::Arr(items));
                }
                c => return Err(self.invalid(c, "after array element")),
            }
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.pos += 1;
        let mut entries: Vec<(String, Json)> = Vec::new();
        self.skip_space();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(Json::Obj(entries));
        }
        loop {
            self.skip_space();
            let c = self.peek()?;
            if c != b'"' {
                return Err(self.invalid(c, "looking for beginning of object key string"));
            }
            let key = self.string()?;
            self.skip_space();
            let c = self.peek()?;
            if c != b':' {
                return Err(self.invalid(c, "after object key"));
            }
            self.pos += 1;
            let value = self.value()?;
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
            self.skip_space();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(Json::Obj(entries));
                }
                c => return Err(self.invalid(c, "after object key:value pair")),
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Exact decimal numbers (Go's big.Rat as the library uses it)

/// `digits × 10^exp`, digits without leading or trailing zeros (none for zero).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Decimal {
    /// Decimal or exponent notation, as big.Rat's SetString takes it from `%v`.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        Some(Decimal::normalized(
            negative,
            digits,
            exp.checked_sub(frac.len() as i64)?,
        ))
    }

    fn normalized(negative: bool, mut digits: Vec<u8>, mut exp: i64) -> Decimal {
        let leading = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..leading);
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            return Decimal::default();
        }
        Decimal {
            negative,
            digits,
            exp,
        }
    }

    fn from_i64(i: i64) -> Decimal {
        Decimal::parse(&i.to_string()).unwrap_or_default()
    }

    /// The shortest decimal that reads back as `f`, which is what Go's `%v` prints
    /// and the library turns into a big.Rat.
    fn from_f64(f: f64) -> Decimal {
        if !f.is_finite() {
            return Decimal::default();
        }
        Decimal::parse(&format!("{f:e}")).unwrap_or_default()
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    fn is_integer(&self) -> bool {
        self.exp >= 0 || self.is_zero()
    }

    /// The nearest float64 (big.Rat's Float64).
    fn to_f64(&self) -> f64 {
        if self.is_zero() {
            return 0.0;
        }
        let digits: String = self.digits.iter().map(|d| (b'0' + d) as char).collect();
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{digits}e{}", self.exp)
            .parse()
            .unwrap_or(0.0)
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let a = self.digits.len() as i64 + self.exp;
        let b = other.digits.len() as i64 + other.exp;
        a.cmp(&b).then_with(|| self.digits.cmp(&other.digits))
    }

    fn cmp(&self, other: &Decimal) -> Ordering {
        let sign = |d: &Decimal| {
            if d.is_zero() {
                0
            } else if d.negative {
                -1
            } else {
                1
            }
        };
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal if self.negative && !self.is_zero() => other.cmp_magnitude(self),
            Ordering::Equal => self.cmp_magnitude(other),
            unequal => unequal,
        }
    }

    /// Whether `self / divisor` is an integer (the library's multipleOf, exact).
    fn is_multiple_of(&self, divisor: &Decimal) -> bool {
        if self.is_zero() {
            return true;
        }
        if divisor.is_zero() {
            return false;
        }
        // self = A·10^ea, divisor = B·10^eb, A and B free of factors of ten.
        let shift = self.exp - divisor.exp;
        if shift < 0 {
            return false;
        }
        // B must divide A·10^shift; B below 10^37 keeps the remainder within u128.
        if divisor.digits.len() > 37 || shift > 100_000 {
            let q = self.to_f64() / divisor.to_f64();
            return q.is_finite() && q.fract() == 0.0;
        }
        let b: u128 = divisor
            .digits
            .iter()
            .fold(0, |acc, d| acc * 10 + u128::from(*d));
        let mut r: u128 = 0;
        for d in &self.digits {
            r = (r * 10 + u128::from(*d)) % b;
        }
        for _ in 0..shift {
            if r == 0 {
                break;
            }
            r = (r * 10) % b;
        }
        r == 0
    }
}

// ---------------------------------------------------------------------------------
// Quoting and URLs

/// How the library's message printer (golang.org/x/text, English) shows an integer:
/// digits grouped by thousands.
fn localized_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// How the library's message printer shows a float64 with `%v`: Go's choice between
/// positional and exponent form, the integer part grouped by thousands, and an
/// exponent written `×10⁰⁶`.
fn localized_float(f: f64) -> String {
    if !f.is_finite() {
        return gofmt::format_float_shortest(f);
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    let text = format!("{:e}", f.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        const SUPER: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
        let mut out = format!("{sign}{}", &digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str("×10");
        if exp < 0 {
            out.push('⁻');
        }
        let e = format!("{:02}", exp.unsigned_abs());
        out.extend(e.bytes().map(|b| SUPER[usize::from(b - b'0')]));
        return out;
    }
    let (int, frac) = if exp < 0 {
        (
            "0".to_owned(),
            format!("{}{digits}", "0".repeat((-exp - 1) as usize)),
        )
    } else {
        let split = (exp + 1) as usize;
        if digits.len() > split {
            (digits[..split].to_owned(), digits[split..].to_owned())
        } else {
            (
                format!("{digits}{}", "0".repeat(split - digits.len())),
                String::new(),
            )
        }
    };
    let grouped = localized_int(int.parse::<i64>().unwrap_or(0));
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// The library's `quote`: Go's `%q`, shown between single quotes.
fn quote(s: &str) -> String {
    let q = gofmt::quote(s);
    let inner = &q[1..q.len() - 1];
    format!("'{}'", inner.replace("\\\"", "\"").replace('\'', "\\'"))
}

/// Go's `%q` of one rune.
fn quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_owned(),
        '"' => "'\"'".to_owned(),
        _ => {
            let q = gofmt::quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// A JSON pointer token escaped.
fn escape_token(tok: &str) -> String {
    tok.replace('~', "~0").replace('/', "~1")
}

fn json_ptr(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", escape_token(t)))
        .collect()
}

/// Go's url.PathEscape, per `/`-separated part (the library's `encode`).
fn encode_fragment(frag: &str) -> String {
    frag.split('/')
        .map(|part| {
            let mut out = String::new();
            for b in part.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~$&+:=@".contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Go's url.PathUnescape.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            });
            match hex {
                Some(b) if bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit() => {
                    out.push(b);
                    i += 3;
                }
                _ => {
                    let end = (i + 3).min(bytes.len());
                    return Err(format!(
                        "invalid URL escape {}",
                        gofmt::quote(&String::from_utf8_lossy(&bytes[i..end]))
                    ));
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn split_fragment(s: &str) -> (&str, &str) {
    s.split_once('#').unwrap_or((s, ""))
}

/// RFC 3986 reference resolution (Go's ResolveReference) of `reference` against the
/// absolute `base`; the fragment is returned decoded, apart.
fn join_url(base: &str, reference: &str) -> Result<(String, String), String> {
    let (reference, frag) = split_fragment(reference);
    let frag = percent_decode(frag).map_err(|e| {
        format!(
            "error in parsing {}: {e}",
            gofmt::quote(&format!("{reference}#{frag}"))
        )
    })?;
    let base = split_fragment(base).0;
    let scheme_of = |s: &str| -> Option<usize> {
        let i = s.find(':')?;
        let scheme = &s[..i];
        (!scheme.is_empty()
            && scheme.as_bytes()[0].is_ascii_alphabetic()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
        .then_some(i)
    };
    if reference.is_empty() {
        return Ok((base.to_owned(), frag));
    }
    if scheme_of(reference).is_some() {
        return Ok((remove_dot_segments_url(reference), frag));
    }
    let Some(colon) = scheme_of(base) else {
        return Ok((reference.to_owned(), frag));
    };
    let scheme = &base[..colon];
    let rest = &base[colon + 1..];
    if let Some(net) = reference.strip_prefix("//") {
        return Ok((remove_dot_segments_url(&format!("{scheme}://{net}")), frag));
    }
    // Base authority and path.
    let (authority, path_query) = match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(i) => (Some(&after[..i]), &after[i..]),
            None => (Some(after), ""),
        },
        None => (None, rest),
    };
    let base_path = path_query.split('?').next().unwrap_or("");
    let prefix = match authority {
        Some(a) => format!("{scheme}://{a}"),
        None => format!("{scheme}:"),
    };
    if authority.is_none() && !base_path.starts_with('/') {
        // An opaque base (urn:…): Go keeps the opaque part for a relative reference.
        return Ok((format!("{scheme}:{}", base_path), frag));
    }
    if let Some(query) = reference.strip_prefix('?') {
        return Ok((format!("{prefix}{base_path}?{query}"), frag));
    }
    let path = if reference.starts_with('/') {
        reference.to_owned()
    } else {
        let dir = match base_path.rfind('/') {
            Some(i) => &base_path[..=i],
            None => "/",
        };
        format!("{dir}{reference}")
    };
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (path, None),
    };
    let mut out = format!("{prefix}{}", remove_dot_segments(&path));
    if let Some(q) = query {
        out.push('?');
        out.push_str(&q);
    }
    Ok((out, frag))
}

fn remove_dot_segments_url(url: &str) -> String {
    // Only the path part of an absolute URL with an authority is normalised.
    if let Some(i) = url.find("://") {
        let after = &url[i + 3..];
        if let Some(j) = after.find('/') {
            let (path, query) = match after[j..].split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (&after[j..], None),
            };
            let mut out = format!("{}{}", &url[..i + 3 + j], remove_dot_segments(path));
            if let Some(q) = query {
                out.push('?');
                out.push_str(q);
            }
            return out;
        }
    }
    url.to_owned()
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i == segments.len() - 1;
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if path.starts_with('/') && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

// ---------------------------------------------------------------------------------
// Drafts and schema resources

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Draft {
    D4,
    D6,
    D7,
    D2019,
    D2020,
}

impl Draft {
    fn version(self) -> u32 {
        match self {
            Draft::D4 => 4,
            Draft::D6 => 6,
            Draft::D7 => 7,
            Draft::D2019 => 2019,
            Draft::D2020 => 2020,
        }
    }

    /// The draft a `$schema` names (the fragment must be empty), as the library knows
    /// them; `json-schema.org/schema` is the latest.
    fn from_url(url: &str) -> Option<Draft> {
        let (u, frag) = split_fragment(url);
        if !frag.is_empty() {
            return None;
        }
        let u = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"))
            .unwrap_or(u);
        match u {
            "json-schema.org/schema" | "json-schema.org/draft/2020-12/schema" => Some(Draft::D2020),
            "json-schema.org/draft/2019-09/schema" => Some(Draft::D2019),
            "json-schema.org/draft-07/schema" => Some(Draft::D7),
            "json-schema.org/draft-06/schema" => Some(Draft::D6),
            "json-schema.org/draft-04/schema" => Some(Draft::D4),
            _ => None,
        }
    }

    /// The `$id` of a schema object (draft 4's `id`), without fragment; before
    /// 2019-09 a `$ref` makes every sibling keyword, the id included, ignored.
    fn id_of(self, obj: &Json) -> String {
        if self.version() < 2019 && obj.get("$ref").is_some() {
            return String::new();
        }
        let key = if self == Draft::D4 { "id" } else { "$id" };
        obj.get(key)
            .and_then(Json::as_str)
            .map(|id| split_fragment(id).0.to_owned())
            .unwrap_or_default()
    }

    /// Where subschemas sit in a schema object of this draft (`*`: every member,
    /// `[]`: every item).
    fn subschema_paths(self) -> &'static [&'static [&'static str]] {
        const D4: &[&[&str]] = &[
            &["definitions", "*"],
            &["not"],
            &["allOf", "[]"],
            &["anyOf", "[]"],
            &["oneOf", "[]"],
            &["properties", "*"],
            &["additionalProperties"],
            &["patternProperties", "*"],
            &["items"],
            &["items", "[]"],
            &["additionalItems"],
            &["dependencies", "*"],
        ];
        const D6: &[&[&str]] = &[
            &["definitions", "*"],
            &["not"],
            &["allOf", "[]"],
            &["anyOf", "[]"],
            &["oneOf", "[]"],
            &["properties", "*"],
            &["additionalProperties"],
            &["patternProperties", "*"],
            &["items"],
            &["items", "[]"],
            &["additionalItems"],
            &["dependencies", "*"],
            &["propertyNames"],
            &["contains"],
        ];
        const D7: &[&[&str]] = &[
            &["definitions", "*"],
            &["not"],
            &["allOf", "[]"],
            &["anyOf", "[]"],
            &["oneOf", "[]"],
            &["properties", "*"],
            &["additionalProperties"],
            &["patternProperties", "*"],
            &["items"],
            &["items", "[]"],
            &["additionalItems"],
            &["dependencies", "*"],
            &["propertyNames"],
            &["contains"],
            &["if"],
            &["then"],
            &["else"],
        ];
        const D2019: &[&[&str]] = &[
            &["definitions", "*"],
            &["not"],
            &["allOf", "[]"],
            &["anyOf", "[]"],
            &["oneOf", "[]"],
            &["properties", "*"],
            &["additionalProperties"],
            &["patternProperties", "*"],
            &["items"],
            &["items", "[]"],
            &["additionalItems"],
            &["dependencies", "*"],
            &["propertyNames"],
            &["contains"],
            &["if"],
            &["then"],
            &["else"],
            &["$defs", "*"],
            &["dependentSchemas", "*"],
            &["unevaluatedProperties"],
            &["unevaluatedItems"],
            &["contentSchema"],
        ];
        const D2020: &[&[&str]] = &[
            &["definitions", "*"],
            &["not"],
            &["allOf", "[]"],
            &["anyOf", "[]"],
            &["oneOf", "[]"],
            &["properties", "*"],
            &["additionalProperties"],
            &["patternProperties", "*"],
            &["items"],
            &["items", "[]"],
            &["additionalItems"],
            &["dependencies", "*"],
            &["propertyNames"],
            &["contains"],
            &["if"],
            &["then"],
            &["else"],
            &["$defs", "*"],
            &["dependentSchemas", "*"],
            &["unevaluatedProperties"],
            &["unevaluatedItems"],
            &["contentSchema"],
            &["prefixItems", "[]"],
        ];
        match self {
            Draft::D4 => D4,
            Draft::D6 => D6,
            Draft::D7 => D7,
            Draft::D2019 => D2019,
            Draft::D2020 => D2020,
        }
    }
}

/// Every value found at `path` below `value` (at pointer `ptr`), with its pointer.
fn collect_path<'v>(value: &'v Json, ptr: &str, path: &[&str], out: &mut Vec<(String, &'v Json)>) {
    let Some((first, rest)) = path.split_first() else {
        out.push((ptr.to_owned(), value));
        return;
    };
    match (*first, value) {
        ("*", Json::Obj(entries)) => {
            for (k, v) in entries {
                collect_path(v, &format!("{ptr}/{}", escape_token(k)), rest, out);
            }
        }
        ("[]", Json::Arr(items)) => {
            for (i, v) in items.iter().enumerate() {
                collect_path(v, &format!("{ptr}/{i}"), rest, out);
            }
        }
        (key, Json::Obj(_)) if key != "*" && key != "[]" => {
            if let Some(v) = value.get(key) {
                collect_path(v, &format!("{ptr}/{}", escape_token(key)), rest, out);
            }
        }
        _ => {}
    }
}

/// A schema resource: the root or a subschema with an `$id`.
#[derive(Debug, Clone)]
struct Resource {
    ptr: String,
    id: String,
    draft: Draft,
    anchors: Vec<(String, String)>,
    dynamic_anchors: Vec<String>,
}

/// One loaded document.
#[derive(Debug)]
struct Root {
    url: String,
    doc: std::rc::Rc<Json>,
    resources: Vec<Resource>,
    /// Pointers already walked for resources (and checked against the metaschema).
    processed: HashSet<String>,
}

impl Root {
    /// The innermost resource holding `ptr`.
    fn resource(&self, ptr: &str) -> &Resource {
        let mut p = ptr;
        loop {
            if let Some(r) = self.resources.iter().find(|r| r.ptr == p) {
                return r;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
        // The root resource is always registered first.
        &self.resources[0]
    }
}

fn lookup<'v>(doc: &'v Json, url: &str, ptr: &str) -> Result<&'v Json, String> {
    let mut v = doc;
    let location = || format!("{url}#{}", encode_fragment(ptr));
    for tok in ptr.split('/').skip(1) {
        let Some(tok) = unescape_token(tok) else {
            return Err(format!(
                "invalid json-pointer {}",
                gofmt::quote(&location())
            ));
        };
        let next = match v {
            Json::Obj(_) => v.get(&tok),
            Json::Arr(items) => tok.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => {
                return Err(format!(
                    "json-pointer in {} not found",
                    gofmt::quote(&location())
                ))
            }
        }
    }
    Ok(v)
}

fn unescape_token(tok: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = tok.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// A metaschema or other document that is known without fetching anything.
fn builtin_document(url: &str) -> Option<&'static str> {
    let path = url
        .strip_prefix("http://json-schema.org/")
        .or_else(|| url.strip_prefix("https://json-schema.org/"))?;
    metaschemas::document(if path == "schema" {
        "draft/2020-12/schema"
    } else {
        path
    })
}

// ---------------------------------------------------------------------------------
// Compiled schemas

#[derive(Debug, Clone)]
enum Additional {
    Allowed(bool),
    Schema(usize),
}

#[derive(Debug, Clone)]
enum Items {
    All(usize),
    Tuple(Vec<usize>),
}

#[derive(Debug, Clone)]
enum Dependency {
    Properties(Vec<String>),
    Schema(usize),
}

/// A `pattern` in Go's syntax, with its Rust equivalent.
#[derive(Debug, Clone)]
struct GoRegex {
    source: String,
    regex: regex::Regex,
}

#[derive(Debug, Clone, Copy)]
struct Format {
    name: &'static str,
    check: fn(&str) -> Result<(), String>,
}

/// One compiled subschema (the library's Schema struct).
#[derive(Debug, Clone, Default)]
struct Node {
    location: String,
    draft: u32,
    boolean: Option<bool>,
    resource: usize,
    dynamic_anchors: Vec<(String, usize)>,
    reference: Option<usize>,
    recursive_ref: Option<usize>,
    recursive_anchor: bool,
    dynamic_ref: Option<(usize, String)>,
    dynamic_anchor: String,
    types: u8,
    enumeration: Option<Vec<Json>>,
    constant: Option<Json>,
    not: Option<usize>,
    all_of: Vec<usize>,
    any_of: Vec<usize>,
    one_of: Vec<usize>,
    if_: Option<usize>,
    then_: Option<usize>,
    else_: Option<usize>,
    format: Option<Format>,
    max_properties: Option<i64>,
    min_properties: Option<i64>,
    required: Vec<String>,
    property_names: Option<usize>,
    properties: HashMap<String, usize>,
    pattern_properties: Vec<(GoRegex, usize)>,
    additional_properties: Option<Additional>,
    dependencies: Vec<(String, Dependency)>,
    dependent_required: Vec<(String, Vec<String>)>,
    dependent_schemas: Vec<(String, usize)>,
    unevaluated_properties: Option<usize>,
    min_items: Option<i64>,
    max_items: Option<i64>,
    unique_items: bool,
    contains: Option<usize>,
    min_contains: Option<i64>,
    max_contains: Option<i64>,
    items: Option<Items>,
    additional_items: Option<Additional>,
    prefix_items: Vec<usize>,
    items2020: Option<usize>,
    unevaluated_items: Option<usize>,
    min_length: Option<i64>,
    max_length: Option<i64>,
    pattern: Option<GoRegex>,
    maximum: Option<Decimal>,
    minimum: Option<Decimal>,
    exclusive_maximum: Option<Decimal>,
    exclusive_minimum: Option<Decimal>,
    multiple_of: Option<Decimal>,
    all_props_evaluated: bool,
    all_items_evaluated: bool,
    num_items_evaluated: usize,
}

/// A compiled document, ready to validate with.
#[derive(Debug)]
struct Compiled {
    nodes: Vec<Node>,
    root: usize,
}

/// The library's Compiler: documents, their resources, and subschemas compiled in
/// the order they are reached from the root (a broken `$ref` in a definition nothing
/// uses is never looked at, as in Helm).
struct Compiler {
    roots: Vec<Root>,
    nodes: Vec<Node>,
    /// (document, pointer) of each node.
    keys: Vec<(usize, String)>,
    index: HashMap<(usize, String), usize>,
    /// The metaschemas are compiled with format assertions on, as the library does.
    assert_format: bool,
    /// Check user documents against their metaschema.
    check_meta: bool,
}

impl Compiler {
    fn new(assert_format: bool, check_meta: bool) -> Self {
        Compiler {
            roots: Vec::new(),
            nodes: Vec::new(),
            keys: Vec::new(),
            index: HashMap::new(),
            assert_format,
            check_meta,
        }
    }

    /// A chart's schema, as Helm compiles `file:///values.schema.json`.
    fn compile_user(doc: Json) -> Result<Compiled, String> {
        let mut c = Compiler::new(false, true);
        let root = c.add_root(ROOT_URL, std::rc::Rc::new(doc))?;
        let start = c.enqueue(root, String::new());
        c.drain()?;
        Ok(Compiled {
            nodes: c.nodes,
            root: start,
        })
    }

    fn enqueue(&mut self, root: usize, ptr: String) -> usize {
        if let Some(i) = self.index.get(&(root, ptr.clone())) {
            return *i;
        }
        let i = self.nodes.len();
        self.nodes.push(Node {
            location: format!("{}#{}", self.roots[root].url, encode_fragment(&ptr)),
            ..Node::default()
        });
        self.keys.push((root, ptr.clone()));
        self.index.insert((root, ptr), i);
        i
    }

    /// Compiles every queued node, and what they queue in turn.
    fn drain(&mut self) -> Result<(), String> {
        let mut next = 0;
        while next < self.nodes.len() {
            if self.nodes[next].draft == 0 {
                self.compile_node(next)?;
            }
            next += 1;
        }
        Ok(())
    }

    fn load(&self, url: &str) -> Result<std::rc::Rc<Json>, String> {
        if let Some(text) = builtin_document(url) {
            return parse_json(text.as_bytes())
                .map(std::rc::Rc::new)
                .map_err(|e| format!("failing loading {}: {e}", gofmt::quote(url)));
        }
        let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
        let why = match scheme.as_str() {
            // Helm's URN loader: an unresolved URN is a schema that allows anything.
            "urn" => return Ok(std::rc::Rc::new(Json::Bool(true))),
            "http" | "https" => "remote schemas are not fetched by ferroflux".to_owned(),
            "file" => {
                let path = url.strip_prefix("file://").unwrap_or(url);
                format!("open {path}: no such file or directory")
            }
            _ => format!("no URLLoader registered for {}", gofmt::quote(url)),
        };
        Err(format!("failing loading {}: {why}", gofmt::quote(url)))
    }

    fn or_load(&mut self, url: &str) -> Result<usize, String> {
        if let Some(i) = self.roots.iter().position(|r| r.url == url) {
            return Ok(i);
        }
        let doc = self.load(url)?;
        self.add_root(url, doc)
    }

    fn add_root(&mut self, url: &str, doc: std::rc::Rc<Json>) -> Result<usize, String> {
        let root = self.roots.len();
        self.roots.push(Root {
            url: url.to_owned(),
            doc: doc.clone(),
            resources: Vec::new(),
            processed: HashSet::new(),
        });
        self.collect_resources(root, &doc, url, "", Draft::D2020)?;
        let known = url.starts_with("http://json-schema.org/")
            || url.starts_with("https://json-schema.org/");
        if self.check_meta && !known {
            self.check_against_meta(root, &doc, "")?;
        }
        Ok(root)
    }

    /// The metaschema check the library makes of each document (and of each subschema
    /// reached only through a `$ref`).
    fn check_against_meta(&self, root: usize, value: &Json, ptr: &str) -> Result<(), String> {
        let draft = self.roots[root].resource(ptr).draft;
        let Some(meta) = metaschemas::compiled(draft) else {
            return Ok(());
        };
        let meta = meta?;
        let (nodes, start) = meta;
        let validation = Validation::new(nodes);
        validation.validate_root(start, value).map_err(|e| {
            let at = format!("{}#{}", self.roots[root].url, encode_fragment(ptr));
            format!("{} is not valid against metaschema: {e}", gofmt::quote(&at))
        })
    }

    fn draft_of(
        &mut self,
        url: &str,
        ptr: &str,
        value: &Json,
        default: Draft,
        seen: &mut HashSet<String>,
    ) -> Result<Draft, String> {
        let Some(schema) = value.get("$schema").and_then(Json::as_str) else {
            return Ok(default);
        };
        if let Some(d) = Draft::from_url(schema) {
            return Ok(d);
        }
        let meta_url = split_fragment(schema).0.to_owned();
        if ptr.is_empty() && meta_url == url {
            return Err(format!(
                "draft {} is not supported",
                gofmt::quote(&meta_url)
            ));
        }
        if !seen.insert(meta_url.clone()) {
            return Err(format!(
                "cycle in resolving $schema in {}",
                gofmt::quote(&meta_url)
            ));
        }
        let doc = self.load(&meta_url)?;
        self.draft_of(&meta_url, "", &doc, default, seen)
    }

    fn collect_resources(
        &mut self,
        root: usize,
        value: &Json,
        base: &str,
        ptr: &str,
        fallback: Draft,
    ) -> Result<(), String> {
        if self.roots[root].processed.contains(ptr) {
            return Ok(());
        }
        self.collect_resources_at(root, value, base, ptr, fallback)?;
        self.roots[root].processed.insert(ptr.to_owned());
        Ok(())
    }

    fn collect_resources_at(
        &mut self,
        root: usize,
        value: &Json,
        base: &str,
        ptr: &str,
        fallback: Draft,
    ) -> Result<(), String> {
        let url = self.roots[root].url.clone();
        let new_resource = |ptr: &str, id: &str, draft: Draft| Resource {
            ptr: ptr.to_owned(),
            id: id.to_owned(),
            draft,
            anchors: Vec::new(),
            dynamic_anchors: Vec::new(),
        };
        if !matches!(value, Json::Obj(_)) {
            // Any document has a root resource (a non-schema one then fails the
            // metaschema).
            if ptr.is_empty() {
                self.roots[root]
                    .resources
                    .push(new_resource(ptr, base, fallback));
            }
            return Ok(());
        }
        let mut has_schema = value.get("$schema").and_then(Json::as_str).is_some();
        let mut draft = self.draft_of(&url, ptr, value, fallback, &mut HashSet::new())?;
        let mut id = draft.id_of(value);
        if id.is_empty() && !ptr.is_empty() {
            // A `$schema` counts only where a resource starts.
            draft = fallback;
            has_schema = false;
            id = draft.id_of(value);
        }
        let mut base = base.to_owned();
        let mut resource = None;
        if !id.is_empty() {
            base = join_url(&base, &id)
                .map_err(|_| {
                    format!(
                        "error in parsing id at {}",
                        gofmt::quote(&format!("{url}#{}", encode_fragment(ptr)))
                    )
                })?
                .0;
            resource = Some(new_resource(ptr, &base, draft));
        } else if ptr.is_empty() {
            resource = Some(new_resource(ptr, &base, draft));
        }
        if let Some(mut res) = resource {
            let existing = self.roots[root].resources.iter().find(|r| r.id == base);
            match existing {
                Some(other) if other.ptr != ptr => {
                    return Err(format!(
                        "duplicate id {} in {} at {} and {}",
                        gofmt::quote(&base),
                        gofmt::quote(&url),
                        gofmt::quote(ptr),
                        gofmt::quote(&other.ptr)
                    ));
                }
                Some(_) => {}
                None => {
                    res.draft = if has_schema { draft } else { fallback };
                    self.roots[root].resources.push(res);
                }
            }
        }
        let Some(base_index) = self.roots[root].resources.iter().position(|r| r.id == base) else {
            return Err(format!("no schema resource for {}", gofmt::quote(&base)));
        };
        self.collect_anchors(root, value, ptr, base_index)?;
        let child_draft = self.roots[root].resources[base_index].draft;
        let mut subschemas = Vec::new();
        for path in draft.subschema_paths() {
            collect_path(value, ptr, path, &mut subschemas);
        }
        for (sub_ptr, sub) in subschemas {
            self.collect_resources(root, sub, &base, &sub_ptr, child_draft)?;
        }
        Ok(())
    }

    fn collect_anchors(
        &mut self,
        root: usize,
        value: &Json,
        ptr: &str,
        resource: usize,
    ) -> Result<(), String> {
        let url = self.roots[root].url.clone();
        let res = &mut self.roots[root].resources[resource];
        let add = |res: &mut Resource, anchor: String| -> Result<(), String> {
            match res.anchors.iter().find(|(a, _)| *a == anchor) {
                Some((_, p)) if p == ptr => Ok(()),
                Some((_, p)) => Err(format!(
                    "duplicate anchor {} in {} at {} and {}",
                    gofmt::quote(&anchor),
                    gofmt::quote(&url),
                    gofmt::quote(p),
                    gofmt::quote(ptr)
                )),
                None => {
                    res.anchors.push((anchor, ptr.to_owned()));
                    Ok(())
                }
            }
        };
        let version = res.draft.version();
        if version < 2019 {
            if value.get("$ref").is_some() {
                return Ok(());
            }
            let key = if res.draft == Draft::D4 { "id" } else { "$id" };
            if let Some(id) = value.get(key).and_then(Json::as_str) {
                let frag = split_fragment(id).1;
                let frag = percent_decode(frag).map_err(|_| {
                    format!(
                        "error in parsing anchor at {}",
                        gofmt::quote(&format!("{url}#{}", encode_fragment(ptr)))
                    )
                })?;
                if !frag.is_empty() && !frag.starts_with('/') {
                    add(res, frag)?;
                }
            }
        }
        if version >= 2019 {
            if let Some(a) = value.get("$anchor").and_then(Json::as_str) {
                add(res, a.to_owned())?;
            }
        }
        if version >= 2020 {
            if let Some(a) = value.get("$dynamicAnchor").and_then(Json::as_str) {
                add(res, a.to_owned())?;
                res.dynamic_anchors.push(a.to_owned());
            }
        }
        Ok(())
    }

    /// Makes sure the subschema at `ptr` was walked for resources, and checked against
    /// the metaschema if it was not reached as part of its parents.
    fn ensure_subschema(&mut self, root: usize, ptr: &str) -> Result<(), String> {
        if self.roots[root].processed.contains(ptr) {
            return Ok(());
        }
        let doc = self.roots[root].doc.clone();
        let url = self.roots[root].url.clone();
        let value = lookup(&doc, &url, ptr)?;
        let (base, draft) = {
            let res = self.roots[root].resource(ptr);
            (res.id.clone(), res.draft)
        };
        self.collect_resources(root, value, &base, ptr, draft)?;
        if self.check_meta {
            self.check_against_meta(root, value, ptr)?;
        }
        Ok(())
    }

    /// A reference, from the subschema at (`root`, `ptr`), to the node it names.
    fn enqueue_ref(&mut self, root: usize, ptr: &str, reference: &str) -> Result<usize, String> {
        let base = self.roots[root].resource(ptr).id.clone();
        let (url, frag) = join_url(&base, reference)?;
        let local = if url == self.roots[root].url {
            Some(0)
        } else {
            self.roots[root].resources.iter().position(|r| r.id == url)
        };
        let (target_root, resource) = match local {
            Some(res) => (root, res),
            None => (self.or_load(&url)?, 0),
        };
        let target = self.resolve_fragment(target_root, resource, &frag)?;
        Ok(self.enqueue(target_root, target))
    }

    fn resolve_fragment(&self, root: usize, resource: usize, frag: &str) -> Result<String, String> {
        let res = &self.roots[root].resources[resource];
        if frag.is_empty() || frag.starts_with('/') {
            return Ok(format!("{}{frag}", res.ptr));
        }
        match res.anchors.iter().find(|(a, _)| a == frag) {
            Some((_, p)) => Ok(p.clone()),
            None => Err(format!(
                "anchor in {} not found in schema {}",
                gofmt::quote(&format!("{}#{}", res.id, encode_fragment(frag))),
                gofmt::quote(&self.roots[root].url)
            )),
        }
    }

    fn compile_node(&mut self, index: usize) -> Result<(), String> {
        let (root, ptr) = self.keys[index].clone();
        self.ensure_subschema(root, &ptr)?;
        let doc = self.roots[root].doc.clone();
        let url = self.roots[root].url.clone();
        let value = lookup(&doc, &url, &ptr)?;
        let (res_ptr, draft, dynamic) = {
            let res = self.roots[root].resource(&ptr);
            let dynamic: Vec<(String, String)> = res
                .anchors
                .iter()
                .filter(|(a, _)| res.dynamic_anchors.contains(a))
                .cloned()
                .collect();
            (res.ptr.clone(), res.draft, dynamic)
        };
        let version = draft.version();
        self.nodes[index].draft = version;
        let resource = self.enqueue(root, res_ptr.clone());
        self.nodes[index].resource = resource;
        if version >= 2020 && res_ptr == ptr {
            for (anchor, anchor_ptr) in dynamic {
                let target = self.enqueue(root, anchor_ptr);
                self.nodes[index].dynamic_anchors.push((anchor, target));
            }
        }
        match value {
            Json::Bool(b) => self.nodes[index].boolean = Some(*b),
            Json::Obj(entries) if entries.is_empty() => self.nodes[index].boolean = Some(true),
            Json::Obj(_) => {
                let mut node = std::mem::take(&mut self.nodes[index]);
                let result = self.compile_object(&mut node, root, &ptr, value, draft);
                self.nodes[index] = node;
                result?;
            }
            _ => {}
        }
        let node = &mut self.nodes[index];
        node.all_props_evaluated = node.additional_properties.is_some();
        if version < 2020 {
            node.all_items_evaluated = node.additional_items.is_some();
            match &node.items {
                Some(Items::All(_)) => node.all_items_evaluated = true,
                Some(Items::Tuple(items)) => node.num_items_evaluated = items.len(),
                None => {}
            }
        } else {
            node.all_items_evaluated = node.items2020.is_some();
            node.num_items_evaluated = node.prefix_items.len();
        }
        Ok(())
    }

    /// The library's objCompiler: every keyword the draft knows, `$ref` first.
    fn compile_object(
        &mut self,
        s: &mut Node,
        root: usize,
        ptr: &str,
        obj: &Json,
        draft: Draft,
    ) -> Result<(), String> {
        let version = draft.version();
        let child = |key: &str| format!("{ptr}/{}", escape_token(key));
        let number = |key: &str| match obj.get(key) {
            Some(Json::Num(n)) => Some(n.value.clone()),
            _ => None,
        };
        let integer = |key: &str| {
            number(key)
                .filter(Decimal::is_integer)
                .map(|d| d.to_f64().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
        };
        let strings = |items: &[Json]| -> Vec<String> {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        };

        if let Some(reference) = obj.get("$ref").and_then(Json::as_str) {
            s.reference = Some(self.enqueue_ref(root, ptr, reference)?);
        }
        let ignore_siblings = version < 2019 && s.reference.is_some();
        if !ignore_siblings {
            for (key, list) in [("allOf", 0), ("anyOf", 1), ("oneOf", 2)] {
                if let Some(Json::Arr(items)) = obj.get(key) {
                    let ids = (0..items.len())
                        .map(|i| self.enqueue(root, format!("{}/{i}", child(key))))
                        .collect();
                    match list {
                        0 => s.all_of = ids,
                        1 => s.any_of = ids,
                        _ => s.one_of = ids,
                    }
                }
            }
            s.not = self.enqueue_prop(root, ptr, obj, "not");
            if version < 2020 {
                match obj.get("items") {
                    Some(Json::Arr(items)) => {
                        let ids = (0..items.len())
                            .map(|i| self.enqueue(root, format!("{}/{i}", child("items"))))
                            .collect();
                        s.items = Some(Items::Tuple(ids));
                        s.additional_items =
                            self.enqueue_additional(root, ptr, obj, "additionalItems");
                    }
                    Some(_) => {
                        s.items = Some(Items::All(self.enqueue(root, child("items"))));
                    }
                    None => {}
                }
            }
            if let Some(Json::Obj(props)) = obj.get("properties") {
                for (k, _) in props {
                    let id =
                        self.enqueue(root, format!("{}/{}", child("properties"), escape_token(k)));
                    s.properties.insert(k.clone(), id);
                }
            }
            if let Some(Json::Obj(props)) = obj.get("patternProperties") {
                for (k, _) in props {
                    let id = self.enqueue(
                        root,
                        format!("{}/{}", child("patternProperties"), escape_token(k)),
                    );
                    let regex = go_regex(k).map_err(|e| {
                        format!(
                            "invalid regex {} at {}: {e}",
                            gofmt::quote(k),
                            gofmt::quote(&format!(
                                "{}#{}/patternProperties",
                                self.roots[root].url,
                                encode_fragment(ptr)
                            ))
                        )
                    })?;
                    s.pattern_properties.push((regex, id));
                }
            }
            s.additional_properties =
                self.enqueue_additional(root, ptr, obj, "additionalProperties");
            if let Some(Json::Obj(deps)) = obj.get("dependencies") {
                for (k, v) in deps {
                    let dep = match v {
                        Json::Arr(items) => Dependency::Properties(strings(items)),
                        _ => Dependency::Schema(self.enqueue(
                            root,
                            format!("{}/{}", child("dependencies"), escape_token(k)),
                        )),
                    };
                    s.dependencies.push((k.clone(), dep));
                }
            }

            if let Some(t) = obj.get("type") {
                let names: Vec<&str> = match t {
                    Json::Str(name) => vec![name.as_str()],
                    Json::Arr(items) => items.iter().filter_map(Json::as_str).collect(),
                    _ => Vec::new(),
                };
                s.types = names
                    .into_iter()
                    .filter_map(JsonType::from_name)
                    .fold(0, |acc, t| acc | t.bit());
            }
            if let Some(Json::Arr(items)) = obj.get("enum") {
                s.enumeration = Some(items.clone());
            }
            s.multiple_of = number("multipleOf");
            s.maximum = number("maximum");
            if obj.get("exclusiveMaximum").and_then(Json::as_bool) == Some(true) {
                s.exclusive_maximum = s.maximum.take();
            } else {
                s.exclusive_maximum = number("exclusiveMaximum");
            }
            s.minimum = number("minimum");
            if obj.get("exclusiveMinimum").and_then(Json::as_bool) == Some(true) {
                s.exclusive_minimum = s.minimum.take();
            } else {
                s.exclusive_minimum = number("exclusiveMinimum");
            }
            s.min_length = integer("minLength");
            s.max_length = integer("maxLength");
            if let Some(pattern) = obj.get("pattern").and_then(Json::as_str) {
                s.pattern = Some(go_regex(pattern).map_err(|e| {
                    format!(
                        "invalid regex {} at {}: {e}",
                        gofmt::quote(pattern),
                        gofmt::quote(&format!(
                            "{}#{}/pattern",
                            self.roots[root].url,
                            encode_fragment(ptr)
                        ))
                    )
                })?);
            }
            s.min_items = integer("minItems");
            s.max_items = integer("maxItems");
            s.unique_items = obj.get("uniqueItems").and_then(Json::as_bool) == Some(true);
            s.max_properties = integer("maxProperties");
            s.min_properties = integer("minProperties");
            if let Some(Json::Arr(items)) = obj.get("required") {
                s.required = strings(items);
            }
            if self.assert_format || version < 2019 {
                if let Some(name) = obj.get("format").and_then(Json::as_str) {
                    s.format = formats::lookup(name);
                }
            }
        }

        if version >= 6 {
            s.contains = self.enqueue_prop(root, ptr, obj, "contains");
            s.property_names = self.enqueue_prop(root, ptr, obj, "propertyNames");
            s.constant = obj.get("const").cloned();
        }
        if version >= 7 && obj.get("if").is_some() {
            s.if_ = self.enqueue_prop(root, ptr, obj, "if");
            let b = obj.get("if").and_then(Json::as_bool);
            if b != Some(false) {
                s.then_ = self.enqueue_prop(root, ptr, obj, "then");
            }
            if b != Some(true) {
                s.else_ = self.enqueue_prop(root, ptr, obj, "else");
            }
        }
        if version >= 2019 {
            if let Some(reference) = obj.get("$recursiveRef").and_then(Json::as_str) {
                s.recursive_ref = Some(self.enqueue_ref(root, ptr, reference)?);
            }
            s.recursive_anchor = obj.get("$recursiveAnchor").and_then(Json::as_bool) == Some(true);
            if s.contains.is_some() {
                s.min_contains = integer("minContains");
                s.max_contains = integer("maxContains");
            }
            if let Some(Json::Obj(deps)) = obj.get("dependentRequired") {
                for (k, v) in deps {
                    if let Json::Arr(items) = v {
                        s.dependent_required.push((k.clone(), strings(items)));
                    }
                }
            }
            if let Some(Json::Obj(deps)) = obj.get("dependentSchemas") {
                for (k, _) in deps {
                    let id = self.enqueue(
                        root,
                        format!("{}/{}", child("dependentSchemas"), escape_token(k)),
                    );
                    s.dependent_schemas.push((k.clone(), id));
                }
            }
            s.unevaluated_items = self.enqueue_prop(root, ptr, obj, "unevaluatedItems");
            s.unevaluated_properties = self.enqueue_prop(root, ptr, obj, "unevaluatedProperties");
        }
        if version >= 2020 {
            if let Some(reference) = obj.get("$dynamicRef").and_then(Json::as_str) {
                let target = self.enqueue_ref(root, ptr, reference)?;
                let frag = percent_decode(split_fragment(reference).1).unwrap_or_default();
                let anchor = if frag.is_empty() || frag.starts_with('/') {
                    String::new()
                } else {
                    frag
                };
                s.dynamic_ref = Some((target, anchor));
            }
            if let Some(a) = obj.get("$dynamicAnchor").and_then(Json::as_str) {
                s.dynamic_anchor = a.to_owned();
            }
            if let Some(Json::Arr(items)) = obj.get("prefixItems") {
                s.prefix_items = (0..items.len())
                    .map(|i| self.enqueue(root, format!("{}/{i}", child("prefixItems"))))
                    .collect();
            }
            s.items2020 = self.enqueue_prop(root, ptr, obj, "items");
        }
        Ok(())
    }

    fn enqueue_prop(&mut self, root: usize, ptr: &str, obj: &Json, key: &str) -> Option<usize> {
        obj.get(key)?;
        Some(self.enqueue(root, format!("{ptr}/{}", escape_token(key))))
    }

    fn enqueue_additional(
        &mut self,
        root: usize,
        ptr: &str,
        obj: &Json,
        key: &str,
    ) -> Option<Additional> {
        match obj.get(key)? {
            Json::Bool(b) => Some(Additional::Allowed(*b)),
            _ => self
                .enqueue_prop(root, ptr, obj, key)
                .map(Additional::Schema),
        }
    }
}

// ---------------------------------------------------------------------------------
// Validation

/// What went wrong at one place (the library's ErrorKind), with its message.
#[derive(Debug, Clone)]
enum Kind {
    Schema(String),
    Group,
    Not,
    AllOf,
    AnyOf,
    OneOf(Option<(usize, usize)>),
    FalseSchema,
    RefCycle(Box<(String, String, String)>),
    Type(&'static str, Vec<&'static str>),
    Enum(Vec<Json>),
    Const(Json),
    Format(String, &'static str, String),
    Reference,
    MinProperties(usize, i64),
    MaxProperties(usize, i64),
    MinItems(usize, i64),
    MaxItems(usize, i64),
    AdditionalItems(usize),
    Required(Vec<String>),
    Dependency(String, Vec<String>),
    AdditionalProperties(Vec<String>),
    PropertyNames(String),
    UniqueItems(usize, usize),
    Contains,
    MinContains(Vec<usize>, i64),
    MaxContains(Vec<usize>, i64),
    MinLength(usize, i64),
    MaxLength(usize, i64),
    Pattern(String, String),
    Minimum(f64, f64),
    Maximum(f64, f64),
    ExclusiveMinimum(f64, f64),
    ExclusiveMaximum(f64, f64),
    MultipleOf(f64, f64),
}

fn int(n: usize) -> String {
    localized_int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn joined_quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| quote(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn spaced(items: &[usize]) -> String {
    items
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Kind {
    fn message(&self) -> String {
        match self {
            Kind::Schema(location) => {
                format!("jsonschema validation failed with {}", quote(location))
            }
            Kind::Group | Kind::Reference => "validation failed".to_owned(),
            Kind::Not => "'not' failed".to_owned(),
            Kind::AllOf => "'allOf' failed".to_owned(),
            Kind::AnyOf => "'anyOf' failed".to_owned(),
            Kind::OneOf(None) => "'oneOf' failed, none matched".to_owned(),
            Kind::OneOf(Some((a, b))) => {
                format!(
                    "'oneOf' failed, subschemas {}, {} matched",
                    int(*a),
                    int(*b)
                )
            }
            Kind::FalseSchema => "false schema".to_owned(),
            Kind::RefCycle(cycle) => {
                let (url, a, b) = &**cycle;
                format!(
                    "both {a} and {b} resolve to {} causing reference cycle",
                    gofmt::quote(url)
                )
            }
            Kind::Type(got, want) => format!("got {got}, want {}", want.join(" or ")),
            Kind::Enum(want) => {
                if want.iter().any(Json::is_compound) {
                    "'enum' failed".to_owned()
                } else if want.len() == 1 {
                    format!("value must be {}", want[0].display())
                } else {
                    let shown: Vec<String> = want.iter().map(Json::display).collect();
                    format!("value must be one of {}", shown.join(", "))
                }
            }
            Kind::Const(want) => {
                if want.is_compound() {
                    "'const' failed".to_owned()
                } else {
                    format!("value must be {}", want.display())
                }
            }
            Kind::Format(got, want, err) => {
                format!("{got} is not valid {want}: {err}")
            }
            Kind::MinProperties(got, want) => format!(
                "minProperties: got {}, want {}",
                int(*got),
                localized_int(*want)
            ),
            Kind::MaxProperties(got, want) => format!(
                "maxProperties: got {}, want {}",
                int(*got),
                localized_int(*want)
            ),
            Kind::MinItems(got, want) => {
                format!("minItems: got {}, want {}", int(*got), localized_int(*want))
            }
            Kind::MaxItems(got, want) => {
                format!("maxItems: got {}, want {}", int(*got), localized_int(*want))
            }
            Kind::AdditionalItems(n) => format!("last {} additionalItem(s) not allowed", int(*n)),
            Kind::Required(missing) if missing.len() == 1 => {
                format!("missing property {}", quote(&missing[0]))
            }
            Kind::Required(missing) => format!("missing properties {}", joined_quoted(missing)),
            Kind::Dependency(prop, missing) => format!(
                "properties {} required, if {} exists",
                joined_quoted(missing),
                quote(prop)
            ),
            Kind::AdditionalProperties(props) => {
                format!("additional properties {} not allowed", joined_quoted(props))
            }
            Kind::PropertyNames(name) => format!("invalid propertyName {}", quote(name)),
            Kind::UniqueItems(i, j) => format!("items at {} and {} are equal", int(*i), int(*j)),
            Kind::Contains => "no items match contains schema".to_owned(),
            Kind::MinContains(got, want) if got.is_empty() => format!(
                "min {} items required to match contains schema, but none matched",
                localized_int(*want)
            ),
            Kind::MinContains(got, want) => format!(
                "min {} items required to match contains schema, but matched {} items at {}",
                localized_int(*want),
                int(got.len()),
                spaced(got)
            ),
            Kind::MaxContains(got, want) => format!(
                "max {} items required to match contains schema, but matched {} items at {}",
                localized_int(*want),
                int(got.len()),
                spaced(got)
            ),
            Kind::MinLength(got, want) => format!(
                "minLength: got {}, want {}",
                int(*got),
                localized_int(*want)
            ),
            Kind::MaxLength(got, want) => format!(
                "maxLength: got {}, want {}",
                int(*got),
                localized_int(*want)
            ),
            Kind::Pattern(got, want) => {
                format!("{} does not match pattern {}", quote(got), quote(want))
            }
            Kind::Minimum(got, want) => {
                format!(
                    "minimum: got {}, want {}",
                    localized_float(*got),
                    localized_float(*want)
                )
            }
            Kind::Maximum(got, want) => {
                format!(
                    "maximum: got {}, want {}",
                    localized_float(*got),
                    localized_float(*want)
                )
            }
            Kind::ExclusiveMinimum(got, want) => format!(
                "exclusiveMinimum: got {}, want {}",
                localized_float(*got),
                localized_float(*want)
            ),
            Kind::ExclusiveMaximum(got, want) => format!(
                "exclusiveMaximum: got {}, want {}",
                localized_float(*got),
                localized_float(*want)
            ),
            Kind::MultipleOf(got, want) => {
                format!(
                    "multipleOf: got {}, want {}",
                    localized_float(*got),
                    localized_float(*want)
                )
            }
        }
    }
}

/// One failure, where in the values it is, and the failures it comes from.
#[derive(Debug, Clone)]
struct Failure {
    at: Vec<String>,
    kind: Kind,
    causes: Vec<Failure>,
}

impl Failure {
    /// A `$ref` with a single cause shows only the cause.
    fn hidden(&self) -> bool {
        matches!(self.kind, Kind::Reference) && self.causes.len() == 1
    }

    fn write(&self, out: &mut String, mut indent: usize) {
        if !self.hidden() {
            if indent > 0 {
                out.push('\n');
                for _ in 1..indent {
                    out.push_str("  ");
                }
                out.push_str("- ");
            }
            indent += 1;
            if let Kind::Schema(_) = self.kind {
                out.push_str(&self.kind.message());
            } else {
                out.push_str(&format!(
                    "at {}: {}",
                    quote(&json_ptr(&self.at)),
                    self.kind.message()
                ));
            }
        }
        for cause in &self.causes {
            cause.write(out, indent);
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        self.write(&mut out, 0);
        f.write_str(&out)
    }
}

/// Properties and items no keyword has looked at yet (for `unevaluated*`).
#[derive(Debug, Clone, Default)]
struct Unevaluated {
    props: BTreeSet<String>,
    items: BTreeSet<usize>,
}

impl Unevaluated {
    fn of(value: &Json, node: &Node, caller_needs: bool) -> Self {
        let mut u = Unevaluated::default();
        match value {
            Json::Obj(entries)
                if !node.all_props_evaluated
                    && (caller_needs || node.unevaluated_properties.is_some()) =>
            {
                u.props = entries.iter().map(|(k, _)| k.clone()).collect();
            }
            Json::Arr(items)
                if !node.all_items_evaluated
                    && (caller_needs || node.unevaluated_items.is_some())
                    && node.num_items_evaluated < items.len() =>
            {
                u.items = (node.num_items_evaluated..items.len()).collect();
            }
            _ => {}
        }
        u
    }

    fn merge(&mut self, other: &Unevaluated) {
        self.props.retain(|p| other.props.contains(p));
        self.items.retain(|i| other.items.contains(i));
    }

    fn is_empty(&self) -> bool {
        self.props.is_empty() && self.items.is_empty()
    }
}

/// One step of the dynamic scope: which subschema, reached through which reference
/// keyword, validating which value (`vid`).
#[derive(Debug, Clone, Copy)]
struct Scope {
    node: usize,
    keyword: Option<&'static str>,
    vid: usize,
}

/// The state of one subschema applied to one value.
struct Frame<'v> {
    node: usize,
    value: &'v Json,
    at: Vec<String>,
    unevaluated: Unevaluated,
    /// Only whether it passes matters (inside `not`, `if`, a matched `oneOf`).
    quick: bool,
    errors: Vec<Failure>,
}

impl Frame<'_> {
    fn failure(&self, kind: Kind) -> Failure {
        Failure {
            at: if self.quick {
                Vec::new()
            } else {
                self.at.clone()
            },
            kind,
            causes: Vec::new(),
        }
    }

    fn add(&mut self, kind: Kind) {
        let f = self.failure(kind);
        self.errors.push(f);
    }

    fn add_with(&mut self, kind: Kind, causes: Vec<Failure>) {
        let mut f = self.failure(kind);
        f.causes = causes;
        self.errors.push(f);
    }

    fn add_result(&mut self, result: Result<(), Failure>) {
        if let Err(e) = result {
            self.errors.push(e);
        }
    }
}

struct Validation<'n> {
    nodes: &'n [Node],
    scopes: Vec<Scope>,
}

impl<'n> Validation<'n> {
    fn new(nodes: &'n [Node]) -> Self {
        Validation {
            nodes,
            scopes: Vec::new(),
        }
    }

    /// The library's Schema.Validate: a failure of kind Schema listing the causes.
    fn validate_root(mut self, start: usize, value: &Json) -> Result<(), Failure> {
        self.scopes.clear();
        self.scopes.push(Scope {
            node: start,
            keyword: None,
            vid: 0,
        });
        let frame = Frame {
            node: start,
            value,
            at: Vec::new(),
            unevaluated: Unevaluated::of(value, &self.nodes[start], false),
            quick: false,
            errors: Vec::new(),
        };
        match self.run(frame) {
            Ok(_) => Ok(()),
            Err(e) => {
                let causes = match e.kind {
                    Kind::Group => e.causes,
                    _ => vec![e],
                };
                Err(Failure {
                    at: Vec::new(),
                    kind: Kind::Schema(self.nodes[start].location.clone()),
                    causes,
                })
            }
        }
    }

    /// The scope that already applied the current subschema to the current value.
    fn cycle(&self) -> Option<usize> {
        let top = self.scopes.last()?;
        (0..self.scopes.len() - 1)
            .rev()
            .take_while(|i| self.scopes[*i].vid == top.vid)
            .find(|i| self.scopes[*i].node == top.node)
    }

    /// The keyword path that led to scope `i`.
    fn keyword_location(&self, i: usize) -> String {
        let mut loc = String::new();
        let mut j = i;
        while j > 0 {
            let scope = self.scopes[j];
            match scope.keyword {
                Some(kw) => loc = format!("/{}{loc}", escape_token(kw)),
                None => {
                    let cur = &self.nodes[scope.node].location;
                    let parent = &self.nodes[self.scopes[j - 1].node].location;
                    loc = format!("{}{loc}", cur.get(parent.len()..).unwrap_or(""));
                }
            }
            j -= 1;
        }
        loc
    }

    fn run(&mut self, mut f: Frame<'_>) -> Result<Unevaluated, Failure> {
        let nodes = self.nodes;
        let s = &nodes[f.node];
        let v = f.value;
        if let Some(b) = s.boolean {
            return if b {
                Ok(f.unevaluated)
            } else {
                Err(f.failure(Kind::FalseSchema))
            };
        }
        if let Some(earlier) = self.cycle() {
            let top = self.scopes.len() - 1;
            return Err(f.failure(Kind::RefCycle(Box::new((
                s.location.clone(),
                self.keyword_location(top),
                self.keyword_location(earlier),
            )))));
        }
        let t = v.type_of();
        if s.types != 0 {
            let integral = matches!(v, Json::Num(n) if n.value.is_integer());
            let matched =
                s.types & t.bit() != 0 || (s.types & JsonType::Integer.bit() != 0 && integral);
            if !matched {
                let want = JsonType::ALL
                    .into_iter()
                    .filter(|w| s.types & w.bit() != 0)
                    .map(JsonType::name)
                    .collect();
                return Err(f.failure(Kind::Type(t.name(), want)));
            }
        }
        if let Some(c) = &s.constant {
            if !equals(v, c) {
                return Err(f.failure(Kind::Const(c.clone())));
            }
        }
        if let Some(items) = &s.enumeration {
            if !items.iter().any(|item| equals(v, item)) {
                return Err(f.failure(Kind::Enum(items.clone())));
            }
        }
        if let (Some(format), Json::Str(text)) = (&s.format, v) {
            if let Err(e) = (format.check)(text) {
                return Err(f.failure(Kind::Format(v.display(), format.name, e)));
            }
        }
        if let Some(target) = s.reference {
            let result = self.validate_ref(&mut f, target, "$ref");
            if s.draft < 2019 {
                return result.map(|()| f.unevaluated);
            }
            f.add_result(result);
        }
        match v {
            Json::Obj(entries) => self.validate_object(&mut f, entries),
            Json::Arr(items) => self.validate_array(&mut f, items),
            Json::Str(text) => validate_string(&mut f, s, text),
            Json::Num(n) => validate_number(&mut f, s, &n.value),
            _ => {}
        }
        if f.errors.is_empty() || !f.quick {
            if s.draft >= 2019 {
                self.validate_dynamic_refs(&mut f);
            }
            self.validate_conditions(&mut f);
            if s.draft >= 2019 {
                self.validate_unevaluated(&mut f);
            }
        }
        match f.errors.len() {
            0 => Ok(f.unevaluated),
            1 => Err(f.errors.remove(0)),
            _ => {
                let mut group = f.failure(Kind::Group);
                group.causes = std::mem::take(&mut f.errors);
                Err(group)
            }
        }
    }

    /// `node` applied to the same value (allOf, $ref, …); what it evaluated counts.
    fn validate_self(
        &mut self,
        f: &mut Frame<'_>,
        node: usize,
        keyword: Option<&'static str>,
        quick: bool,
    ) -> Result<(), Failure> {
        let vid = self.scopes.last().map_or(0, |s| s.vid);
        self.scopes.push(Scope { node, keyword, vid });
        let frame = Frame {
            node,
            value: f.value,
            at: f.at.clone(),
            unevaluated: Unevaluated::of(f.value, &self.nodes[node], !f.unevaluated.is_empty()),
            quick: f.quick || quick,
            errors: Vec::new(),
        };
        let result = self.run(frame);
        self.scopes.pop();
        match result {
            Ok(u) => {
                f.unevaluated.merge(&u);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `node` applied to a member or item `value` of the current value.
    fn validate_value(
        &mut self,
        f: &Frame<'_>,
        node: usize,
        value: &Json,
        token: String,
    ) -> Result<(), Failure> {
        let vid = self.scopes.last().map_or(0, |s| s.vid) + 1;
        self.scopes.push(Scope {
            node,
            keyword: None,
            vid,
        });
        let mut at = f.at.clone();
        at.push(token);
        let frame = Frame {
            node,
            value,
            at,
            unevaluated: Unevaluated::of(value, &self.nodes[node], false),
            quick: f.quick,
            errors: Vec::new(),
        };
        let result = self.run(frame).map(|_| ());
        self.scopes.pop();
        result
    }

    fn validate_ref(
        &mut self,
        f: &mut Frame<'_>,
        node: usize,
        keyword: &'static str,
    ) -> Result<(), Failure> {
        match self.validate_self(f, node, Some(keyword), false) {
            Ok(()) => Ok(()),
            Err(e) => {
                let causes = match e.kind {
                    Kind::Group => e.causes,
                    _ => vec![e],
                };
                let mut failure = f.failure(Kind::Reference);
                failure.causes = causes;
                Err(failure)
            }
        }
    }

    fn missing(obj: &[(String, Json)], wanted: &[String]) -> Vec<String> {
        wanted
            .iter()
            .filter(|w| !obj.iter().any(|(k, _)| k == *w))
            .cloned()
            .collect()
    }

    fn validate_object(&mut self, f: &mut Frame<'_>, obj: &[(String, Json)]) {
        let nodes = self.nodes;
        let s = &nodes[f.node];
        let len = obj.len();
        if let Some(min) = s.min_properties {
            if (len as i64) < min {
                f.add(Kind::MinProperties(len, min));
            }
        }
        if let Some(max) = s.max_properties {
            if (len as i64) > max {
                f.add(Kind::MaxProperties(len, max));
            }
        }
        if !s.required.is_empty() {
            let missing = Self::missing(obj, &s.required);
            if !missing.is_empty() {
                f.add(Kind::Required(missing));
            }
        }
        if f.quick && !f.errors.is_empty() {
            return;
        }
        for (name, dep) in &s.dependencies {
            if obj.iter().any(|(k, _)| k == name) {
                match dep {
                    Dependency::Properties(wanted) => {
                        let missing = Self::missing(obj, wanted);
                        if !missing.is_empty() {
                            f.add(Kind::Dependency(name.clone(), missing));
                        }
                    }
                    Dependency::Schema(node) => {
                        let r = self.validate_self(f, *node, None, false);
                        f.add_result(r);
                    }
                }
            }
        }
        let mut additional = Vec::new();
        for (name, value) in obj {
            if f.quick && !f.errors.is_empty() {
                return;
            }
            let mut evaluated = false;
            if let Some(node) = s.properties.get(name) {
                evaluated = true;
                let r = self.validate_value(f, *node, value, name.clone());
                f.add_result(r);
            }
            for (regex, node) in &s.pattern_properties {
                if regex.regex.is_match(name) {
                    evaluated = true;
                    let r = self.validate_value(f, *node, value, name.clone());
                    f.add_result(r);
                }
            }
            if !evaluated {
                match &s.additional_properties {
                    Some(Additional::Allowed(false)) => additional.push(name.clone()),
                    Some(Additional::Schema(node)) => {
                        let r = self.validate_value(f, *node, value, name.clone());
                        f.add_result(r);
                    }
                    _ => {}
                }
                evaluated = s.additional_properties.is_some();
            }
            if evaluated {
                f.unevaluated.props.remove(name);
            }
        }
        if !additional.is_empty() {
            f.add(Kind::AdditionalProperties(additional));
        }
        if s.draft == 4 {
            return;
        }
        if let Some(node) = s.property_names {
            for (name, _) in obj {
                // Each name is validated as a document of its own.
                let key = Json::Str(name.clone());
                if let Err(e) = Validation::new(nodes).validate_root(node, &key) {
                    let mut failure = Failure {
                        at: Vec::new(),
                        kind: Kind::PropertyNames(name.clone()),
                        causes: e.causes,
                    };
                    if f.quick {
                        failure.causes.clear();
                    }
                    f.errors.push(failure);
                }
            }
        }
        if s.draft == 6 {
            return;
        }
        for (name, node) in &s.dependent_schemas {
            if obj.iter().any(|(k, _)| k == name) {
                let r = self.validate_self(f, *node, None, false);
                f.add_result(r);
            }
        }
        for (name, wanted) in &s.dependent_required {
            if obj.iter().any(|(k, _)| k == name) {
                let missing = Self::missing(obj, wanted);
                if !missing.is_empty() {
                    f.add(Kind::Dependency(name.clone(), missing));
                }
            }
        }
    }

    fn validate_array(&mut self, f: &mut Frame<'_>, arr: &[Json]) {
        let nodes = self.nodes;
        let s = &nodes[f.node];
        let len = arr.len();
        if let Some(min) = s.min_items {
            if (len as i64) < min {
                f.add(Kind::MinItems(len, min));
            }
        }
        if let Some(max) = s.max_items {
            if (len as i64) > max {
                f.add(Kind::MaxItems(len, max));
            }
        }
        if s.unique_items && len > 1 {
            'outer: for i in 1..len {
                for j in 0..i {
                    if equals(&arr[i], &arr[j]) {
                        f.add(Kind::UniqueItems(j, i));
                        break 'outer;
                    }
                }
            }
        }
        if s.draft < 2020 {
            let mut evaluated = 0;
            match &s.items {
                Some(Items::All(node)) => {
                    for (i, item) in arr.iter().enumerate() {
                        let r = self.validate_value(f, *node, item, i.to_string());
                        f.add_result(r);
                    }
                    evaluated = len;
                }
                Some(Items::Tuple(tuple)) => {
                    evaluated = len.min(tuple.len());
                    for (i, item) in arr[..evaluated].iter().enumerate() {
                        let r = self.validate_value(f, tuple[i], item, i.to_string());
                        f.add_result(r);
                    }
                }
                None => {}
            }
            match &s.additional_items {
                Some(Additional::Allowed(false)) if evaluated != len => {
                    f.add(Kind::AdditionalItems(len - evaluated));
                }
                Some(Additional::Schema(node)) => {
                    // The library numbers these items from the first additional one.
                    for (i, item) in arr[evaluated..].iter().enumerate() {
                        let r = self.validate_value(f, *node, item, i.to_string());
                        f.add_result(r);
                    }
                }
                _ => {}
            }
        } else {
            let evaluated = len.min(s.prefix_items.len());
            for (i, item) in arr[..evaluated].iter().enumerate() {
                let r = self.validate_value(f, s.prefix_items[i], item, i.to_string());
                f.add_result(r);
            }
            if let Some(node) = s.items2020 {
                // Numbered from the first item after prefixItems, as the library does.
                for (i, item) in arr[evaluated..].iter().enumerate() {
                    let r = self.validate_value(f, node, item, i.to_string());
                    f.add_result(r);
                }
            }
        }
        if let Some(node) = s.contains {
            let mut errors = Vec::new();
            let mut matched = Vec::new();
            for (i, item) in arr.iter().enumerate() {
                match self.validate_value(f, node, item, i.to_string()) {
                    Err(e) => errors.push(e),
                    Ok(()) => {
                        matched.push(i);
                        if s.draft >= 2020 {
                            f.unevaluated.items.remove(&i);
                        }
                    }
                }
            }
            if let Some(min) = s.min_contains {
                if (matched.len() as i64) < min {
                    f.add_with(Kind::MinContains(matched.clone(), min), errors);
                }
            } else if matched.is_empty() {
                f.add_with(Kind::Contains, errors);
            }
            if let Some(max) = s.max_contains {
                if (matched.len() as i64) > max {
                    f.add(Kind::MaxContains(matched, max));
                }
            }
        }
    }

    fn validate_conditions(&mut self, f: &mut Frame<'_>) {
        let nodes = self.nodes;
        let s = &nodes[f.node];
        if let Some(node) = s.not {
            if self.validate_self(f, node, None, true).is_ok() {
                f.add(Kind::Not);
            }
        }
        if !s.all_of.is_empty() {
            let mut errors = Vec::new();
            for node in &s.all_of {
                if let Err(e) = self.validate_self(f, *node, None, false) {
                    errors.push(e);
                    if f.quick {
                        break;
                    }
                }
            }
            if !errors.is_empty() {
                f.add_with(Kind::AllOf, errors);
            }
        }
        if !s.any_of.is_empty() {
            let mut matched = false;
            let mut errors = Vec::new();
            for node in &s.any_of {
                match self.validate_self(f, *node, None, false) {
                    Err(e) => errors.push(e),
                    Ok(()) => {
                        matched = true;
                        // Every subschema counts for unevaluated*, so go on if needed.
                        if f.unevaluated.is_empty() {
                            break;
                        }
                    }
                }
            }
            if !matched {
                f.add_with(Kind::AnyOf, errors);
            }
        }
        if !s.one_of.is_empty() {
            let mut matched: Option<usize> = None;
            let mut errors = Vec::new();
            for (i, node) in s.one_of.iter().enumerate() {
                match self.validate_self(f, *node, None, matched.is_some()) {
                    Err(e) => {
                        if matched.is_none() {
                            errors.push(e);
                        }
                    }
                    Ok(()) => match matched {
                        None => matched = Some(i),
                        Some(first) => {
                            f.add(Kind::OneOf(Some((first, i))));
                            break;
                        }
                    },
                }
            }
            if matched.is_none() {
                f.add_with(Kind::OneOf(None), errors);
            }
        }
        if let Some(node) = s.if_ {
            if self.validate_self(f, node, None, true).is_ok() {
                if let Some(then) = s.then_ {
                    let r = self.validate_self(f, then, None, false);
                    f.add_result(r);
                }
            } else if let Some(otherwise) = s.else_ {
                let r = self.validate_self(f, otherwise, None, false);
                f.add_result(r);
            }
        }
    }

    fn validate_dynamic_refs(&mut self, f: &mut Frame<'_>) {
        let nodes = self.nodes;
        let s = &nodes[f.node];
        if let Some(mut target) = s.recursive_ref {
            if nodes[target].recursive_anchor {
                for scope in self.scopes.iter().rev() {
                    if nodes[nodes[scope.node].resource].recursive_anchor {
                        target = scope.node;
                    }
                }
            }
            let r = self.validate_ref(f, target, "$recursiveRef");
            f.add_result(r);
        }
        if let Some((initial, anchor)) = &s.dynamic_ref {
            let mut target = *initial;
            if !anchor.is_empty() && nodes[target].dynamic_anchor == *anchor {
                for scope in self.scopes.iter().rev() {
                    let resource = &nodes[nodes[scope.node].resource];
                    if let Some((_, n)) = resource.dynamic_anchors.iter().find(|(a, _)| a == anchor)
                    {
                        target = *n;
                    }
                }
            }
            let r = self.validate_ref(f, target, "$dynamicRef");
            f.add_result(r);
        }
    }

    fn validate_unevaluated(&mut self, f: &mut Frame<'_>) {
        let nodes = self.nodes;
        let s = &nodes[f.node];
        if let (Json::Obj(obj), Some(node)) = (f.value, s.unevaluated_properties) {
            let names: Vec<String> = f.unevaluated.props.iter().cloned().collect();
            for name in names {
                if let Some((_, value)) = obj.iter().find(|(k, _)| *k == name) {
                    let r = self.validate_value(f, node, value, name.clone());
                    f.add_result(r);
                }
            }
            f.unevaluated.props.clear();
        }
        if let (Json::Arr(arr), Some(node)) = (f.value, s.unevaluated_items) {
            let indexes: Vec<usize> = f.unevaluated.items.iter().copied().collect();
            for i in indexes {
                let r = self.validate_value(f, node, &arr[i], i.to_string());
                f.add_result(r);
            }
            f.unevaluated.items.clear();
        }
    }
}

fn validate_string(f: &mut Frame<'_>, s: &Node, text: &str) {
    if s.min_length.is_some() || s.max_length.is_some() {
        let len = text.chars().count();
        if let Some(min) = s.min_length {
            if (len as i64) < min {
                f.add(Kind::MinLength(len, min));
            }
        }
        if let Some(max) = s.max_length {
            if (len as i64) > max {
                f.add(Kind::MaxLength(len, max));
            }
        }
    }
    if let Some(pattern) = &s.pattern {
        if !pattern.regex.is_match(text) {
            f.add(Kind::Pattern(text.to_owned(), pattern.source.clone()));
        }
    }
}

fn validate_number(f: &mut Frame<'_>, s: &Node, n: &Decimal) {
    if let Some(min) = &s.minimum {
        if n.cmp(min) == Ordering::Less {
            f.add(Kind::Minimum(n.to_f64(), min.to_f64()));
        }
    }
    if let Some(max) = &s.maximum {
        if n.cmp(max) == Ordering::Greater {
            f.add(Kind::Maximum(n.to_f64(), max.to_f64()));
        }
    }
    if let Some(min) = &s.exclusive_minimum {
        if n.cmp(min) != Ordering::Greater {
            f.add(Kind::ExclusiveMinimum(n.to_f64(), min.to_f64()));
        }
    }
    if let Some(max) = &s.exclusive_maximum {
        if n.cmp(max) != Ordering::Less {
            f.add(Kind::ExclusiveMaximum(n.to_f64(), max.to_f64()));
        }
    }
    if let Some(divisor) = &s.multiple_of {
        if !n.is_multiple_of(divisor) {
            f.add(Kind::MultipleOf(n.to_f64(), divisor.to_f64()));
        }
    }
}

impl Compiled {
    fn validate_root(&self, start: usize, value: &Json) -> Result<(), Failure> {
        Validation::new(&self.nodes).validate_root(start, value)
    }
}

// ---------------------------------------------------------------------------------
// Go regular expressions

/// A pattern in Go's RE2 syntax as a Rust regex: Go's `\d`, `\w`, `\s` and `\b` are
/// ASCII-only, a `{` that starts no repetition and a `[` inside a class are literal,
/// and `\Q…\E` quotes. The error is Go's text for the common mistakes.
fn go_regex(pattern: &str) -> Result<GoRegex, String> {
    let translated = translate_go_regex(pattern)?;
    regex::Regex::new(&translated)
        .map(|regex| GoRegex {
            source: pattern.to_owned(),
            regex,
        })
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or("").trim().to_owned();
            format!("error parsing regexp: {last}: `{pattern}`")
        })
}

fn translate_go_regex(pattern: &str) -> Result<String, String> {
    let fail = |code: &str, text: &str| Err(format!("error parsing regexp: {code}: `{text}`"));
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut in_class = false;
    let mut class_start = 0;
    let mut depth: i32 = 0;
    let mut i = 0;
    let mut last_was_repeat = false;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..].iter().collect();
        if c == '\\' {
            let Some(&e) = chars.get(i + 1) else {
                return fail("trailing backslash at end of expression", "");
            };
            let ascii = match e {
                'd' => Some("0-9"),
                'w' => Some("0-9A-Za-z_"),
                's' => Some("\\t\\n\\f\\r "),
                _ => None,
            };
            let negated = match e {
                'D' => Some("0-9"),
                'W' => Some("0-9A-Za-z_"),
                'S' => Some("\\t\\n\\f\\r "),
                _ => None,
            };
            if let Some(set) = ascii {
                out.push_str(&if in_class {
                    set.to_owned()
                } else {
                    format!("[{set}]")
                });
            } else if let Some(set) = negated {
                out.push_str(&format!("[^{set}]"));
            } else if (e == 'b' || e == 'B') && !in_class {
                out.push_str(&format!("(?-u:\\{e})"));
            } else if e == 'Q' {
                let body: String = chars[i + 2..].iter().collect();
                let (quoted, after) = match body.find("\\E") {
                    Some(end) => (body[..end].to_owned(), end + 2),
                    None => (body.clone(), body.len()),
                };
                out.push_str(&regex::escape(&quoted));
                i += 2 + body[..after].chars().count();
                last_was_repeat = false;
                continue;
            } else if e == '<' || e == '>' {
                out.push(e);
            } else if e.is_ascii_digit() && e != '0' {
                return fail("invalid escape sequence", &format!("\\{e}"));
            } else {
                out.push('\\');
                out.push(e);
            }
            i += 2;
            last_was_repeat = false;
            continue;
        }
        if in_class {
            match c {
                ']' if i > class_start => in_class = false,
                '[' if chars.get(i + 1) == Some(&':') => {
                    if let Some(end) = rest.find(":]") {
                        out.push_str(&rest[..end + 2]);
                        i += rest[..end + 2].chars().count();
                        continue;
                    }
                    out.push_str("\\[");
                    i += 1;
                    continue;
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                    i += 1;
                    continue;
                }
                _ => {}
            }
            out.push(c);
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
                class_start = i;
                last_was_repeat = false;
                continue;
            }
            '(' => {
                if rest.starts_with("(?") {
                    let next = chars.get(i + 2).copied();
                    if next == Some('P') || next == Some('<') {
                        if !rest.contains('>') {
                            return fail("invalid named capture", &rest);
                        }
                        let end = rest.find('>').unwrap_or(0);
                        let name = &rest[if next == Some('P') { 4 } else { 3 }..end];
                        if name.is_empty()
                            || !name.chars().all(|ch| ch.is_alphanumeric() || ch == '_')
                        {
                            return fail("invalid named capture", &rest[..=end]);
                        }
                    } else {
                        // Flags: (?i) (?i:…) (?-s) …
                        let mut j = i + 2;
                        while let Some(&ch) = chars.get(j) {
                            if ch == ')' || ch == ':' {
                                break;
                            }
                            if !"imsU-".contains(ch) {
                                let text: String = chars[i..=j].iter().collect();
                                return fail("invalid or unsupported Perl syntax", &text);
                            }
                            j += 1;
                        }
                        if j >= chars.len() {
                            return fail("missing closing )", pattern);
                        }
                    }
                }
                depth += 1;
            }
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return fail("unexpected )", pattern);
                }
            }
            '*' | '+' | '?' => {
                let at_start = out.is_empty() || out.ends_with('(') || out.ends_with('|');
                if at_start {
                    return fail("missing argument to repetition operator", &c.to_string());
                }
                if last_was_repeat && c != '?' {
                    let prev: String = chars[i - 1..=i].iter().collect();
                    return fail("invalid nested repetition operator", &prev);
                }
                out.push(c);
                i += 1;
                // A `?` after a repetition makes it lazy; a further one is an error.
                last_was_repeat = !(c == '?' && last_was_repeat);
                continue;
            }
            '{' => {
                let close = rest.find('}');
                let valid = close.is_some_and(|end| {
                    let body = &rest[1..end];
                    let (a, b) = body.split_once(',').unwrap_or((body, body));
                    !a.is_empty()
                        && a.chars().all(|ch| ch.is_ascii_digit())
                        && b.chars().all(|ch| ch.is_ascii_digit())
                });
                if !valid {
                    out.push_str("\\{");
                    i += 1;
                    last_was_repeat = false;
                    continue;
                }
                let end = close.unwrap_or(0);
                let body = &rest[1..end];
                let (a, b) = body.split_once(',').unwrap_or((body, body));
                let too_big = |n: &str| n.parse::<u64>().map_or(true, |n| n > 1000);
                if too_big(a) || (!b.is_empty() && too_big(b)) {
                    return fail("invalid repeat count", &rest[..=end]);
                }
                if out.is_empty() || out.ends_with('(') || out.ends_with('|') {
                    return fail("missing argument to repetition operator", &rest[..=end]);
                }
                out.push_str(&rest[..=end]);
                i += rest[..=end].chars().count();
                last_was_repeat = true;
                continue;
            }
            '}' => {
                out.push_str("\\}");
                i += 1;
                last_was_repeat = false;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
        last_was_repeat = false;
    }
    if in_class {
        let from: String = chars[class_start.saturating_sub(1)..].iter().collect();
        let from = if from.starts_with('[') || from.starts_with('^') {
            let start = pattern.rfind('[').unwrap_or(0);
            pattern[start..].to_owned()
        } else {
            from
        };
        return fail("missing closing ]", &from);
    }
    if depth > 0 {
        return fail("missing closing )", pattern);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Formats

mod formats {
    //! The library's `format` checks, asserted for drafts before 2019-09 (and by
    //! the metaschemas), with its messages and the Go standard library's.

    use super::{go_regex, gofmt, quote_rune, Format};

    pub(super) fn lookup(name: &str) -> Option<Format> {
        let check: fn(&str) -> Result<(), String> = match name {
            "regex" => |s| go_regex(s).map(|_| ()),
            "json-pointer" => json_pointer,
            "relative-json-pointer" => relative_json_pointer,
            "uuid" => uuid,
            "duration" => duration,
            "period" => period,
            "ipv4" => ipv4,
            "ipv6" => ipv6,
            "hostname" => hostname,
            "email" => email,
            "date" => date,
            "time" => time,
            "date-time" => date_time,
            "uri" | "iri" => uri,
            "uri-reference" | "iri-reference" => uri_reference,
            "uri-template" => |s| parse_url(s).map(|_| ()),
            "semver" => semver,
            _ => return None,
        };
        let name: &'static str = match name {
            "regex" => "regex",
            "json-pointer" => "json-pointer",
            "relative-json-pointer" => "relative-json-pointer",
            "uuid" => "uuid",
            "duration" => "duration",
            "period" => "period",
            "ipv4" => "ipv4",
            "ipv6" => "ipv6",
            "hostname" => "hostname",
            "email" => "email",
            "date" => "date",
            "time" => "time",
            "date-time" => "date-time",
            "uri" => "uri",
            "iri" => "iri",
            "uri-reference" => "uri-reference",
            "iri-reference" => "iri-reference",
            "uri-template" => "uri-template",
            _ => "semver",
        };
        Some(Format { name, check })
    }

    fn json_pointer(s: &str) -> Result<(), String> {
        if s.is_empty() {
            return Ok(());
        }
        if !s.starts_with('/') {
            return Err("not starting with /".to_owned());
        }
        for tok in s.split('/').skip(1) {
            let mut escape = false;
            for ch in tok.chars() {
                if escape {
                    escape = false;
                    if ch != '0' && ch != '1' {
                        return Err("~ must be followed by 0 or 1".to_owned());
                    }
                    continue;
                }
                if ch == '~' {
                    escape = true;
                }
            }
            if escape {
                return Err("~ must be followed by 0 or 1".to_owned());
            }
        }
        Ok(())
    }

    fn relative_json_pointer(s: &str) -> Result<(), String> {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err("must start with non-negative integer".to_owned());
        }
        if digits > 1 && s.starts_with('0') {
            return Err("starts with zero".to_owned());
        }
        let rest = &s[digits..];
        if rest == "#" {
            return Ok(());
        }
        json_pointer(rest)
    }

    fn uuid(s: &str) -> Result<(), String> {
        let groups: Vec<&str> = s.split('-').collect();
        let sizes = [8, 4, 4, 4, 12];
        if groups.len() != sizes.len() {
            return Err(format!("must have {} elements", sizes.len()));
        }
        for (i, group) in groups.iter().enumerate() {
            if group.len() != sizes[i] {
                return Err(format!(
                    "element {} must be {} characters long",
                    i + 1,
                    sizes[i]
                ));
            }
            if let Some(ch) = group.chars().find(|c| !c.is_ascii_hexdigit()) {
                return Err(format!("non-hex character {}", quote_rune(ch)));
            }
        }
        Ok(())
    }

    fn duration(s: &str) -> Result<(), String> {
        let Some(s) = s.strip_prefix('P') else {
            return Err("must start with P".to_owned());
        };
        if s.is_empty() {
            return Err("nothing after P".to_owned());
        }
        if let Some(weeks) = s.strip_suffix('W') {
            if weeks.is_empty() {
                return Err("no number in week".to_owned());
            }
            if !weeks.bytes().all(|b| b.is_ascii_digit()) {
                return Err("invalid week".to_owned());
            }
            return Ok(());
        }
        let all_units = ["YMD", "HMS"];
        for (i, part) in s.split('T').enumerate() {
            if i != 0 && part.is_empty() {
                return Err("no time elements".to_owned());
            }
            if i >= all_units.len() {
                return Err("more than one T".to_owned());
            }
            let mut units = all_units[i];
            let mut rest = part;
            while !rest.is_empty() {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return Err("missing number".to_owned());
                }
                rest = &rest[digits..];
                let Some(unit) = rest.chars().next() else {
                    return Err("missing unit".to_owned());
                };
                match units.find(unit) {
                    Some(j) => units = &units[j + 1..],
                    None if all_units[i].contains(unit) => {
                        return Err(format!("unit {} out of order", quote_rune(unit)))
                    }
                    None => return Err(format!("invalid unit {}", quote_rune(unit))),
                }
                rest = &rest[unit.len_utf8()..];
            }
        }
        Ok(())
    }

    /// Go's strconv.Atoi, with its error text.
    fn atoi(s: &str) -> Result<i64, String> {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "strconv.Atoi: parsing {}: invalid syntax",
                gofmt::quote(s)
            ));
        }
        s.parse::<i64>().map_err(|_| {
            format!(
                "strconv.Atoi: parsing {}: value out of range",
                gofmt::quote(s)
            )
        })
    }

    fn ipv4(s: &str) -> Result<(), String> {
        let groups: Vec<&str> = s.split('.').collect();
        if groups.len() != 4 {
            return Err("expected four decimals".to_owned());
        }
        for group in groups {
            if group.len() > 1 && group.starts_with('0') {
                return Err("leading zeros".to_owned());
            }
            let n = atoi(group)?;
            if !(0..=255).contains(&n) {
                return Err("decimal must be between 0 and 255".to_owned());
            }
        }
        Ok(())
    }

    fn ipv6(s: &str) -> Result<(), String> {
        if !s.contains(':') {
            return Err("missing colon".to_owned());
        }
        if s.contains('%') {
            let (addr, _) = s.split_once('%').unwrap_or((s, ""));
            if addr.parse::<std::net::Ipv6Addr>().is_ok() {
                return Err("zone id is not a part of ipv6 address".to_owned());
            }
        }
        s.parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("ParseAddr({}): unable to parse IP", gofmt::quote(s)))
    }

    fn hostname(s: &str) -> Result<(), String> {
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.len() > 253 {
            return Err("more than 253 characters long".to_owned());
        }
        for label in s.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err("label must be 1 to 63 characters long".to_owned());
            }
            if label.starts_with('-') {
                return Err("label starts with hyphen".to_owned());
            }
            if label.ends_with('-') {
                return Err("label ends with hyphen".to_owned());
            }
            if let Some(ch) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return Err(format!("invalid character {}", quote_rune(ch)));
            }
        }
        Ok(())
    }

    fn email(s: &str) -> Result<(), String> {
        if s.len() > 254 {
            return Err("more than 255 characters long".to_owned());
        }
        let Some(at) = s.rfind('@') else {
            return Err("missing @".to_owned());
        };
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if local.len() > 64 {
            return Err("local part more than 64 characters long".to_owned());
        }
        if local.len() > 1 && local.starts_with('"') {
            let inner = &local[1..local.len() - 1];
            if inner.contains('\\') || inner.contains('"') {
                return Err(
                    "backslash and quote are not allowed within quoted local part".to_owned(),
                );
            }
        } else {
            if local.starts_with('.') {
                return Err("starts with dot".to_owned());
            }
            if local.ends_with('.') {
                return Err("ends with dot".to_owned());
            }
            if local.contains("..") {
                return Err("consecutive dots".to_owned());
            }
            if let Some(ch) = local
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || ".!#$%&'*+-/=?^_`{|}~".contains(*c)))
            {
                return Err(format!("invalid character {}", quote_rune(ch)));
            }
        }
        if domain.starts_with('[') && domain.ends_with(']') && domain.len() >= 2 {
            let inner = &domain[1..domain.len() - 1];
            if let Some(v6) = inner.strip_prefix("IPv6:") {
                return ipv6(v6).map_err(|e| format!("invalid ipv6 address: {e}"));
            }
            return ipv4(inner).map_err(|e| format!("invalid ipv4 address: {e}"));
        }
        hostname(domain).map_err(|e| format!("invalid domain: {e}"))
    }

    /// Go's time.quote.
    fn time_quote(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            if (c as u32) < 0x20 || (c as u32) >= 0x80 {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            } else {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        out.push('"');
        out
    }

    /// Go's time.Parse("2006-01-02", s), with its error texts.
    fn date(s: &str) -> Result<(), String> {
        let value = s.as_bytes();
        let cannot = |rest: &[u8], elem: &str| {
            format!(
                "parsing time {} as \"2006-01-02\": cannot parse {} as \"{elem}\"",
                time_quote(s),
                time_quote(&String::from_utf8_lossy(rest))
            )
        };
        let range = |what: &str| format!("parsing time {}: {what} out of range", time_quote(s));
        let two = |rest: &[u8], elem: &str| -> Result<u32, String> {
            if rest.len() < 2 || !rest[0].is_ascii_digit() || !rest[1].is_ascii_digit() {
                return Err(cannot(rest, elem));
            }
            Ok(u32::from(rest[0] - b'0') * 10 + u32::from(rest[1] - b'0'))
        };
        if value.len() < 4 || !value[0].is_ascii_digit() {
            return Err(cannot(value, "2006"));
        }
        if !value[..4].iter().all(u8::is_ascii_digit) {
            return Err(cannot(value, "2006"));
        }
        let year: i64 = String::from_utf8_lossy(&value[..4]).parse().unwrap_or(0);
        let mut rest = &value[4..];
        if rest.first() != Some(&b'-') {
            return Err(cannot(rest, "-"));
        }
        rest = &rest[1..];
        let month = two(rest, "01")?;
        if !(1..=12).contains(&month) {
            return Err(range("month"));
        }
        rest = &rest[2..];
        if rest.first() != Some(&b'-') {
            return Err(cannot(rest, "-"));
        }
        rest = &rest[1..];
        let day = two(rest, "02")?;
        if day > 31 {
            return Err(range("day"));
        }
        rest = &rest[2..];
        if !rest.is_empty() {
            let extra = String::from_utf8_lossy(rest);
            return Err(format!(
                "parsing time {}: extra text: {}",
                time_quote(s),
                time_quote(&extra)
            ));
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if day < 1 || day > days {
            return Err(range("day"));
        }
        Ok(())
    }

    fn time(s: &str) -> Result<(), String> {
        let b = s.as_bytes();
        if b.len() < 9 {
            return Err("less than 9 characters long".to_owned());
        }
        if b[2] != b':' || b[5] != b':' {
            return Err("missing colon in correct place".to_owned());
        }
        let mut hms = Vec::new();
        for tok in String::from_utf8_lossy(&b[..8]).splitn(3, ':') {
            let n = atoi(tok).map_err(|_| "invalid hour/min/sec".to_owned())?;
            if n < 0 {
                return Err("non-positive hour/min/sec".to_owned());
            }
            hms.push(n);
        }
        let (mut h, mut m, sec) = (hms[0], hms[1], hms[2]);
        if h > 23 || m > 59 || sec > 60 {
            return Err("hour/min/sec out of range".to_owned());
        }
        let mut rest = &b[8..];
        if let Some(frac) = rest.strip_prefix(b".") {
            let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err("no digits in second fraction".to_owned());
            }
            rest = &frac[digits..];
        }
        if rest != b"z" && rest != b"Z" {
            if rest.len() != 6 {
                return Err("offset must be 6 characters long".to_owned());
            }
            let sign = match rest[0] {
                b'+' => -1,
                b'-' => 1,
                _ => return Err("offset must begin with plus/minus".to_owned()),
            };
            let rest = &rest[1..];
            if rest[2] != b':' {
                return Err("missing colon in offset in correct place".to_owned());
            }
            let mut zhm = Vec::new();
            for tok in String::from_utf8_lossy(rest).splitn(2, ':') {
                let n = atoi(tok).map_err(|_| "invalid hour/min in offset".to_owned())?;
                if n < 0 {
                    return Err("non-positive hour/min in offset".to_owned());
                }
                zhm.push(n);
            }
            let (zh, zm) = (zhm[0], zhm[1]);
            if zh > 23 || zm > 59 {
                return Err("hour/min in offset out of range".to_owned());
            }
            let mut hm = (h * 60 + m) + sign * (zh * 60 + zm);
            if hm < 0 {
                hm += 24 * 60;
            }
            h = hm / 60;
            m = hm % 60;
        }
        if sec >= 60 && (h != 23 || m != 59) {
            return Err("invalid leap second".to_owned());
        }
        Ok(())
    }

    fn date_time(s: &str) -> Result<(), String> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err("less than 20 characters long".to_owned());
        }
        if b[10] != b't' && b[10] != b'T' {
            return Err("11th character must be t or T".to_owned());
        }
        date(&String::from_utf8_lossy(&b[..10]))
            .map_err(|e| format!("invalid date element: {e}"))?;
        time(&String::from_utf8_lossy(&b[11..])).map_err(|e| format!("invalid time element: {e}"))
    }

    fn period(s: &str) -> Result<(), String> {
        let Some((start, end)) = s.split_once('/') else {
            return Err("missing slash".to_owned());
        };
        if start.starts_with('P') {
            duration(start).map_err(|e| format!("invalid start duration: {e}"))?;
            date_time(end).map_err(|e| format!("invalid end date-time: {e}"))
        } else {
            date_time(start).map_err(|e| format!("invalid start date-time: {e}"))?;
            if end.starts_with('P') {
                duration(end).map_err(|e| format!("invalid end duration: {e}"))
            } else {
                date_time(end).map_err(|e| format!("invalid end date-time: {e}"))
            }
        }
    }

    fn semver(s: &str) -> Result<(), String> {
        let mut s = s;
        if let Some(i) = s.find('+') {
            let build = &s[i + 1..];
            if build.is_empty() {
                return Err("build is empty".to_owned());
            }
            for id in build.split('.') {
                if id.is_empty() {
                    return Err("build identifier is empty".to_owned());
                }
                if let Some(ch) = id
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
                {
                    return Err(format!(
                        "invalid character {} in build identifier",
                        quote_rune(ch)
                    ));
                }
            }
            s = &s[..i];
        }
        if let Some(i) = s.find('-') {
            for id in s[i + 1..].split('.') {
                if id.is_empty() {
                    return Err("pre-release identifier is empty".to_owned());
                }
                if let Some(ch) = id
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
                {
                    return Err(format!(
                        "invalid character {} in pre-release identifier",
                        quote_rune(ch)
                    ));
                }
                let all_digits = id.bytes().all(|b| b.is_ascii_digit());
                if all_digits && id.len() > 1 && id.starts_with('0') {
                    return Err("pre-release numeric identifier starts with zero".to_owned());
                }
            }
            s = &s[..i];
        }
        let versions: Vec<&str> = s.split('.').collect();
        if versions.len() != 3 {
            return Err("versionCore must have 3 numbers separated by dot".to_owned());
        }
        for (name, v) in ["major", "minor", "patch"].iter().zip(versions) {
            if v.is_empty() {
                return Err(format!("{name} is empty"));
            }
            if v.len() > 1 && v.starts_with('0') {
                return Err(format!("{name} starts with zero"));
            }
            if !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{name} contains non-digit"));
            }
        }
        Ok(())
    }

    /// What Go's url.Parse tells of a URL: its scheme and host.
    pub(super) struct Url {
        pub(super) scheme: String,
        pub(super) host: String,
    }

    fn unescape_check(s: &str, host: bool) -> Result<(), String> {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let ok = b.len() >= i + 3
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit();
                if !ok {
                    let end = (i + 3).min(b.len());
                    return Err(format!(
                        "invalid URL escape {}",
                        gofmt::quote(&String::from_utf8_lossy(&b[i..end]))
                    ));
                }
                if host && (b[i + 1] as char).to_digit(16).unwrap_or(0) < 8 && &s[i..i + 3] != "%25"
                {
                    return Err(format!("invalid URL escape {}", gofmt::quote(&s[i..i + 3])));
                }
                i += 3;
                continue;
            }
            if host && b[i] < 0x80 {
                let c = b[i];
                let allowed = c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c);
                if !allowed {
                    return Err(format!(
                        "invalid character {} in host name",
                        gofmt::quote(&(c as char).to_string())
                    ));
                }
            }
            i += 1;
        }
        Ok(())
    }

    fn valid_port(port: &str) -> bool {
        port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Go's url.Parse, for its verdict and error text, plus the library's check of
    /// IPv6 hosts.
    pub(super) fn parse_url(raw: &str) -> Result<Url, String> {
        let (u, frag) = raw
            .split_once('#')
            .map_or((raw, None), |(a, b)| (a, Some(b)));
        let wrap = |url: &str, e: String| format!("parse {}: {e}", gofmt::quote(url));
        if u.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(wrap(
                u,
                "net/url: invalid control character in URL".to_owned(),
            ));
        }
        let mut scheme = String::new();
        let mut rest = u;
        for (i, c) in u.bytes().enumerate() {
            if c.is_ascii_alphabetic() {
                continue;
            }
            if c.is_ascii_digit() || b"+-.".contains(&c) {
                if i == 0 {
                    break;
                }
                continue;
            }
            if c == b':' {
                if i == 0 {
                    return Err(wrap(u, "missing protocol scheme".to_owned()));
                }
                scheme = u[..i].to_ascii_lowercase();
                rest = &u[i + 1..];
            }
            break;
        }
        let rest = match rest.find('?') {
            Some(i) => &rest[..i],
            None => rest,
        };
        let mut host = String::new();
        if !rest.starts_with('/') {
            if !scheme.is_empty() {
                // Opaque: nothing more is checked.
                return check_fragment(raw, frag).map(|()| Url { scheme, host });
            }
            let segment = rest.split('/').next().unwrap_or("");
            if segment.contains(':') {
                return Err(wrap(
                    u,
                    "first path segment in URL cannot contain colon".to_owned(),
                ));
            }
        }
        let mut path = rest;
        if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let authority = &rest[2..];
            let (authority, p) = match authority.find('/') {
                Some(i) => (&authority[..i], &authority[i..]),
                None => (authority, ""),
            };
            path = p;
            let hostport = match authority.rfind('@') {
                Some(i) => {
                    let user = &authority[..i];
                    if !user.bytes().all(|c| {
                        c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c) || c >= 0x80
                    }) {
                        return Err(wrap(u, "net/url: invalid userinfo".to_owned()));
                    }
                    &authority[i + 1..]
                }
                None => authority,
            };
            if let Some(after) = hostport.strip_prefix('[') {
                let Some(close) = after.find(']') else {
                    return Err(wrap(u, "missing ']' in host".to_owned()));
                };
                let port = &after[close + 1..];
                if !valid_port(port) {
                    return Err(wrap(
                        u,
                        format!("invalid port {} after host", gofmt::quote(port)),
                    ));
                }
                host = after[..close].to_owned();
                if let Some(zone) = host.find("%25") {
                    unescape_check(&host[..zone], true).map_err(|e| wrap(u, e))?;
                } else {
                    unescape_check(&host, true).map_err(|e| wrap(u, e))?;
                }
                if host.contains(':') {
                    let plain = host.split('%').next().unwrap_or("");
                    ipv6(plain).map_err(|e| format!("invalid ipv6 address: {e}"))?;
                }
            } else {
                let (h, port) = match hostport.rfind(':') {
                    Some(i) => (&hostport[..i], &hostport[i..]),
                    None => (hostport, ""),
                };
                if !valid_port(port) {
                    return Err(wrap(
                        u,
                        format!("invalid port {} after host", gofmt::quote(port)),
                    ));
                }
                unescape_check(h, true).map_err(|e| wrap(u, e))?;
                host = h.to_owned();
            }
        }
        unescape_check(path, false).map_err(|e| wrap(u, e))?;
        check_fragment(raw, frag)?;
        Ok(Url { scheme, host })
    }

    fn check_fragment(raw: &str, frag: Option<&str>) -> Result<(), String> {
        match frag {
            Some(f) => {
                unescape_check(f, false).map_err(|e| format!("parse {}: {e}", gofmt::quote(raw)))
            }
            None => Ok(()),
        }
    }

    fn uri(s: &str) -> Result<(), String> {
        let u = parse_url(s)?;
        let _ = &u.host;
        if u.scheme.is_empty() {
            return Err("relative url".to_owned());
        }
        Ok(())
    }

    fn uri_reference(s: &str) -> Result<(), String> {
        if s.contains('\\') {
            return Err("contains \\".to_owned());
        }
        parse_url(s).map(|_| ())
    }
}

// ---------------------------------------------------------------------------------
// Metaschemas

mod metaschemas {
    //! The metaschemas a chart's schema is checked against, as the JSON Schema
    //! specifications define them (with the library's small departures, such as
    //! draft 4's `$ref` property), keeping only what validates (no titles,
    //! descriptions or defaults). The structure (which `$ref`, `allOf`,
    //! `$recursiveRef` and `$dynamicRef` lead where) is kept, because it shapes the
    //! error text.

    use std::collections::HashMap;
    use std::sync::OnceLock;

    use super::{Compiler, Draft, Node, OnceLockResult};

    const DRAFT7: &str = r##"{
"$schema": "http://json-schema.org/draft-07/schema#",
"$id": "http://json-schema.org/draft-07/schema#",
"definitions": {
  "schemaArray": {"type": "array", "minItems": 1, "items": {"$ref": "#"}},
  "nonNegativeInteger": {"type": "integer", "minimum": 0},
  "nonNegativeIntegerDefault0": {"allOf": [{"$ref": "#/definitions/nonNegativeInteger"}, {"default": 0}]},
  "simpleTypes": {"enum": ["array", "boolean", "integer", "null", "number", "object", "string"]},
  "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": true, "default": []}
},
"type": ["object", "boolean"],
"properties": {
  "$id": {"type": "string", "format": "uri-reference"},
  "$schema": {"type": "string", "format": "uri"},
  "$ref": {"type": "string", "format": "uri-reference"},
  "$comment": {"type": "string"},
  "title": {"type": "string"},
  "description": {"type": "string"},
  "default": true,
  "readOnly": {"type": "boolean"},
  "writeOnly": {"type": "boolean"},
  "examples": {"type": "array", "items": true},
  "multipleOf": {"type": "number", "exclusiveMinimum": 0},
  "maximum": {"type": "number"},
  "exclusiveMaximum": {"type": "number"},
  "minimum": {"type": "number"},
  "exclusiveMinimum": {"type": "number"},
  "maxLength": {"$ref": "#/definitions/nonNegativeInteger"},
  "minLength": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
  "pattern": {"type": "string", "format": "regex"},
  "additionalItems": {"$ref": "#"},
  "items": {"anyOf": [{"$ref": "#"}, {"$ref": "#/definitions/schemaArray"}]},
  "maxItems": {"$ref": "#/definitions/nonNegativeInteger"},
  "minItems": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
  "uniqueItems": {"type": "boolean"},
  "contains": {"$ref": "#"},
  "maxProperties": {"$ref": "#/definitions/nonNegativeInteger"},
  "minProperties": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
  "required": {"$ref": "#/definitions/stringArray"},
  "additionalProperties": {"$ref": "#"},
  "definitions": {"type": "object", "additionalProperties": {"$ref": "#"}},
  "properties": {"type": "object", "additionalProperties": {"$ref": "#"}},
  "patternProperties": {"type": "object", "additionalProperties": {"$ref": "#"}, "propertyNames": {"format": "regex"}},
  "dependencies": {"type": "object", "additionalProperties": {"anyOf": [{"$ref": "#"}, {"$ref": "#/definitions/stringArray"}]}},
  "propertyNames": {"$ref": "#"},
  "const": true,
  "enum": {"type": "array", "items": true, "minItems": 1, "uniqueItems": true},
  "type": {"anyOf": [
    {"$ref": "#/definitions/simpleTypes"},
    {"type": "array", "items": {"$ref": "#/definitions/simpleTypes"}, "minItems": 1, "uniqueItems": true}
  ]},
  "format": {"type": "string"},
  "contentMediaType": {"type": "string"},
  "contentEncoding": {"type": "string"},
  "if": {"$ref": "#"},
  "then": {"$ref": "#"},
  "else": {"$ref": "#"},
  "allOf": {"$ref": "#/definitions/schemaArray"},
  "anyOf": {"$ref": "#/definitions/schemaArray"},
  "oneOf": {"$ref": "#/definitions/schemaArray"},
  "not": {"$ref": "#"}
}
}"##;

    const DRAFT4: &str = r##"{
"$schema": "http://json-schema.org/draft-04/schema#",
"definitions": {
  "schemaArray": {"type": "array", "minItems": 1, "items": {"$ref": "#"}},
  "positiveInteger": {"type": "integer", "minimum": 0},
  "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]},
  "simpleTypes": {"enum": ["array", "boolean", "integer", "null", "number", "object", "string"]},
  "stringArray": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true}
},
"type": "object",
"properties": {
  "id": {"type": "string", "format": "uriref"},
  "$schema": {"type": "string", "format": "uri"},
  "$ref": {"type": "string"},
  "title": {"type": "string"},
  "description": {"type": "string"},
  "default": {},
  "multipleOf": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
  "maximum": {"type": "number"},
  "exclusiveMaximum": {"type": "boolean"},
  "minimum": {"type": "number"},
  "exclusiveMinimum": {"type": "boolean"},
  "maxLength": {"$ref": "#/definitions/positiveInteger"},
  "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
  "pattern": {"type": "string", "format": "regex"},
  "additionalItems": {"anyOf": [{"type": "boolean"}, {"$ref": "#"}]},
  "items": {"anyOf": [{"$ref": "#"}, {"$ref": "#/definitions/schemaArray"}]},
  "maxItems": {"$ref": "#/definitions/positiveInteger"},
  "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
  "uniqueItems": {"type": "boolean"},
  "maxProperties": {"$ref": "#/definitions/positiveInteger"},
  "minProperties": {"$ref": "#/definitions/positiveIntegerDefault0"},
  "required": {"$ref": "#/definitions/stringArray"},
  "additionalProperties": {"anyOf": [{"type": "boolean"}, {"$ref": "#"}]},
  "definitions": {"type": "object", "additionalProperties": {"$ref": "#"}},
  "properties": {"type": "object", "additionalProperties": {"$ref": "#"}},
  "patternProperties": {"type": "object", "additionalProperties": {"$ref": "#"}},
  "dependencies": {"type": "object", "additionalProperties": {"anyOf": [{"$ref": "#"}, {"$ref": "#/definitions/stringArray"}]}},
  "enum": {"type": "array", "minItems": 1, "uniqueItems": true},
  "type": {"anyOf": [
    {"$ref": "#/definitions/simpleTypes"},
    {"type": "array", "items": {"$ref": "#/definitions/simpleTypes"}, "minItems": 1, "uniqueItems": true}
  ]},
  "format": {"type": "string"},
  "allOf": {"$ref": "#/definitions/schemaArray"},
  "anyOf": {"$ref": "#/definitions/schemaArray"},
  "oneOf": {"$ref": "#/definitions/schemaArray"},
  "not": {"$ref": "#"}
},
"dependencies": {"exclusiveMaximum": ["maximum"], "exclusiveMinimum": ["minimum"]}
}"##;

    const DRAFT6: &str = r##"{
"$schema": "http://json-schema.org/draft-06/schema#",
"$id": "http://json-schema.org/draft-06/schema#",
"definitions": {
  "schemaArray": {"type": "array", "minItems": 1, "items": {"$ref": "#"}},
  "nonNegativeInteger": {"type": "integer", "minimum": 0},
  "nonNegativeIntegerDefault0": {"allOf": [{"$ref": "#/definitions/nonNegativeInteger"}, {"default": 0}]},
  "simpleTypes": {"enum": ["array", "boolean", "integer", "null", "number", "object", "string"]},
  "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
},
"type": ["object", "boolean"],
"properties": {
  "$id": {"type": "string", "format": "uri-reference"},
  "$schema": {"type": "string", "format": "uri"},
  "$ref": {"type": "string", "format": "uri-reference"},
  "title": {"type": "string"},
  "description": {"type": "string"},
  "default": {},
  "multipleOf": {"type": "number", "exclusiveMinimum": 0},
  "maximum": {"type": "number"},
  "exclusiveMaximum": {"type": "number"},
  "minimum": {"type": "number"},
  "exclusiveMinimum": {"type": "number"},
  "maxLength": {"$ref": "#/definitions/nonNegativeInteger"},
  "minLength": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
  "pattern": {"type": "string", "format": "regex"},
  "additionalItems": {"$ref": "#"},
  "items": {"anyOf": [{"$ref": "#"}, {"$ref": "#/definitions/schemaArray"}]},
  "maxItems": {"$ref": "#/definitions/nonNegativeInteger"},
  "minItems": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
  "uniqueItems": {"type": "boolean"},
  "contains": {"$ref": "#"},
  "maxProperties": {"$ref": "#/definitions/nonNegativeInteger"},
  "minProperties": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
  "required": {"$ref": "#/definitions/stringArray"},
  "additionalProperties": {"$ref": "#"},
  "definitions": {"type": "object", "additionalProperties": {"$ref": "#"}},
  "properties": {"type": "object", "additionalProperties": {"$ref": "#"}},
  "patternProperties": {"type": "object", "additionalProperties": {"$ref": "#"}},
  "dependencies": {"type": "object", "additionalProperties": {"anyOf": [{"$ref": "#"}, {"$ref": "#/definitions/stringArray"}]}},
  "propertyNames": {"$ref": "#"},
  "const": {},
  "enum": {"type": "array", "minItems": 1, "uniqueItems": true},
  "type": {"anyOf": [
    {"$ref": "#/definitions/simpleTypes"},
    {"type": "array", "items": {"$ref": "#/definitions/simpleTypes"}, "minItems": 1, "uniqueItems": true}
  ]},
  "format": {"type": "string"},
  "allOf": {"$ref": "#/definitions/schemaArray"},
  "anyOf": {"$ref": "#/definitions/schemaArray"},
  "oneOf": {"$ref": "#/definitions/schemaArray"},
  "not": {"$ref": "#"}
}
}"##;

    const D2019_SCHEMA: &str = r##"{
"$schema": "https://json-schema.org/draft/2019-09/schema",
"$id": "https://json-schema.org/draft/2019-09/schema",
"$recursiveAnchor": true,
"allOf": [
  {"$ref": "meta/core"},
  {"$ref": "meta/applicator"},
  {"$ref": "meta/validation"},
  {"$ref": "meta/meta-data"},
  {"$ref": "meta/format"},
  {"$ref": "meta/content"}
],
"type": ["object", "boolean"],
"properties": {
  "definitions": {"type": "object", "additionalProperties": {"$recursiveRef": "#"}},
  "dependencies": {"type": "object", "additionalProperties": {"anyOf": [
    {"$recursiveRef": "#"},
    {"$ref": "meta/validation#/$defs/stringArray"}
  ]}}
}
}"##;

    const D2019_CORE: &str = r##"{
"$schema": "https://json-schema.org/draft/2019-09/schema",
"$id": "https://json-schema.org/draft/2019-09/meta/core",
"$recursiveAnchor": true,
"type": ["object", "boolean"],
"properties": {
  "$id": {"type": "string", "format": "uri-reference", "pattern": "^[^#]*#?$"},
  "$schema": {"type": "string", "format": "uri"},
  "$anchor": {"type": "string", "pattern": "^[A-Za-z][-A-Za-z0-9.:_]*$"},
  "$ref": {"type": "string", "format": "uri-reference"},
  "$recursiveRef": {"type": "string", "format": "uri-reference"},
  "$recursiveAnchor": {"type": "boolean"},
  "$vocabulary": {"type": "object", "propertyNames": {"type": "string", "format": "uri"}, "additionalProperties": {"type": "boolean"}},
  "$comment": {"type": "string"},
  "$defs": {"type": "object", "additionalProperties": {"$recursiveRef": "#"}}
}
}"##;

    const D2019_APPLICATOR: &str = r##"{
"$schema": "https://json-schema.org/draft/2019-09/schema",
"$id": "https://json-schema.org/draft/2019-09/meta/applicator",
"$recursiveAnchor": true,
"type": ["object", "boolean"],
"properties": {
  "additionalItems": {"$recursiveRef": "#"},
  "unevaluatedItems": {"$recursiveRef": "#"},
  "items": {"anyOf": [{"$recursiveRef": "#"}, {"$ref": "#/$defs/schemaArray"}]},
  "contains": {"$recursiveRef": "#"},
  "additionalProperties": {"$recursiveRef": "#"},
  "unevaluatedProperties": {"$recursiveRef": "#"},
  "properties": {"type": "object", "additionalProperties": {"$recursiveRef": "#"}},
  "patternProperties": {"type": "object", "additionalProperties": {"$recursiveRef": "#"}, "propertyNames": {"format": "regex"}},
  "dependentSchemas": {"type": "object", "additionalProperties": {"$recursiveRef": "#"}},
  "propertyNames": {"$recursiveRef": "#"},
  "if": {"$recursiveRef": "#"},
  "then": {"$recursiveRef": "#"},
  "else": {"$recursiveRef": "#"},
  "allOf": {"$ref": "#/$defs/schemaArray"},
  "anyOf": {"$ref": "#/$defs/schemaArray"},
  "oneOf": {"$ref": "#/$defs/schemaArray"},
  "not": {"$recursiveRef": "#"}
},
"$defs": {
  "schemaArray": {"type": "array", "minItems": 1, "items": {"$recursiveRef": "#"}}
}
}"##;

    const D2019_VALIDATION: &str = r##"{
"$schema": "https://json-schema.org/draft/2019-09/schema",
"$id": "https://json-schema.org/draft/2019-09/meta/validation",
"$recursiveAnchor": true,
"type": ["object", "boolean"],
"properties": {
  "multipleOf": {"type": "number", "exclusiveMinimum": 0},
  "maximum": {"type": "number"},
  "exclusiveMaximum": {"type": "number"},
  "minimum": {"type": "number"},
  "exclusiveMinimum": {"type": "number"},
  "maxLength": {"$ref": "#/$defs/nonNegativeInteger"},
  "minLength": {"$ref": "#/$defs/nonNegativeIntegerDefault0"},
  "pattern": {"type": "string", "format": "regex"},
  "maxItems": {"$ref": "#/$defs/nonNegativeInteger"},
  "minItems": {"$ref": "#/$defs/nonNegativeIntegerDefault0"},
  "uniqueItems": {"type": "boolean"},
  "maxContains": {"$ref": "#/$defs/nonNegativeInteger"},
  "minContains": {"$ref": "#/$defs/nonNegativeInteger"},
  "maxProperties": {"$ref": "#/$defs/nonNegativeInteger"},
  "minProperties": {"$ref": "#/$defs/nonNegativeIntegerDefault0"},
  "required": {"$ref": "#/$defs/stringArray"},
  "dependentRequired": {"type": "object", "additionalProperties": {"$ref": "#/$defs/stringArray"}},
  "const": true,
  "enum": {"type": "array", "items": true},
  "type": {"anyOf": [
    {"$ref": "#/$defs/simpleTypes"},
    {"type": "array", "items": {"$ref": "#/$defs/simpleTypes"}, "minItems": 1, "uniqueItems": true}
  ]}
},
"$defs": {
  "nonNegativeInteger": {"type": "integer", "minimum": 0},
  "nonNegativeIntegerDefault0": {"$ref": "#/$defs/nonNegativeInteger"},
  "simpleTypes": {"enum": ["array", "boolean", "integer", "null", "number", "object", "string"]},
  "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
}
}"##;

    const D2019_META_DATA: &str = r##"{
"$schema": "https://json-schema.org/draft/2019-09/schema",
"$id": "https://json-schema.org/draft/2019-09/meta/meta-data",
"$recursiveAnchor": true,
"type": ["object", "boolean"],
"properties": {
  "title": {"type": "string"},
  "description": {"type": "string"},
  "default": true,
  "deprecated": {"type": "boolean"},
  "readOnly": {"type": "boolean"},
  "writeOnly": {"type": "boolean"},
  "examples": {"type": "array", "items": true}
}
}"##;

    const D2019_FORMAT: &str = r##"{
"$schema": "https://json-schema.org/draft/2019-09/schema",
"$id": "https://json-schema.org/draft/2019-09/meta/format",
"$recursiveAnchor": true,
"type": ["object", "boolean"],
"properties": {"format": {"type": "string"}}
}"##;

    const D2019_CONTENT: &str = r##"{
"$schema": "https://json-schema.org/draft/2019-09/schema",
"$id": "https://json-schema.org/draft/2019-09/meta/content",
"$recursiveAnchor": true,
"type": ["object", "boolean"],
"properties": {
  "contentMediaType": {"type": "string"},
  "contentEncoding": {"type": "string"},
  "contentSchema": {"$recursiveRef": "#"}
}
}"##;

    const D2020_SCHEMA: &str = r##"{
"$schema": "https://json-schema.org/draft/2020-12/schema",
"$id": "https://json-schema.org/draft/2020-12/schema",
"$dynamicAnchor": "meta",
"allOf": [
  {"$ref": "meta/core"},
  {"$ref": "meta/applicator"},
  {"$ref": "meta/unevaluated"},
  {"$ref": "meta/validation"},
  {"$ref": "meta/meta-data"},
  {"$ref": "meta/format-annotation"},
  {"$ref": "meta/content"}
],
"type": ["object", "boolean"],
"properties": {
  "definitions": {"type": "object", "additionalProperties": {"$dynamicRef": "#meta"}},
  "dependencies": {"type": "object", "additionalProperties": {"anyOf": [
    {"$dynamicRef": "#meta"},
    {"$ref": "meta/validation#/$defs/stringArray"}
  ]}},
  "$recursiveAnchor": {"$ref": "meta/core#/$defs/anchorString"},
  "$recursiveRef": {"$ref": "meta/core#/$defs/uriReferenceString"}
}
}"##;

    const D2020_CORE: &str = r##"{
"$schema": "https://json-schema.org/draft/2020-12/schema",
"$id": "https://json-schema.org/draft/2020-12/meta/core",
"$dynamicAnchor": "meta",
"type": ["object", "boolean"],
"properties": {
  "$id": {"$ref": "#/$defs/uriReferenceString", "pattern": "^[^#]*#?$"},
  "$schema": {"$ref": "#/$defs/uriString"},
  "$ref": {"$ref": "#/$defs/uriReferenceString"},
  "$anchor": {"$ref": "#/$defs/anchorString"},
  "$dynamicRef": {"$ref": "#/$defs/uriReferenceString"},
  "$dynamicAnchor": {"$ref": "#/$defs/anchorString"},
  "$vocabulary": {"type": "object", "propertyNames": {"$ref": "#/$defs/uriString"}, "additionalProperties": {"type": "boolean"}},
  "$comment": {"type": "string"},
  "$defs": {"type": "object", "additionalProperties": {"$dynamicRef": "#meta"}}
},
"$defs": {
  "anchorString": {"type": "string", "pattern": "^[A-Za-z_][-A-Za-z0-9._]*$"},
  "uriString": {"type": "string", "format": "uri"},
  "uriReferenceString": {"type": "string", "format": "uri-reference"}
}
}"##;

    const D2020_APPLICATOR: &str = r##"{
"$schema": "https://json-schema.org/draft/2020-12/schema",
"$id": "https://json-schema.org/draft/2020-12/meta/applicator",
"$dynamicAnchor": "meta",
"type": ["object", "boolean"],
"properties": {
  "prefixItems": {"$ref": "#/$defs/schemaArray"},
  "items": {"$dynamicRef": "#meta"},
  "contains": {"$dynamicRef": "#meta"},
  "additionalProperties": {"$dynamicRef": "#meta"},
  "properties": {"type": "object", "additionalProperties": {"$dynamicRef": "#meta"}},
  "patternProperties": {"type": "object", "additionalProperties": {"$dynamicRef": "#meta"}, "propertyNames": {"format": "regex"}},
  "dependentSchemas": {"type": "object", "additionalProperties": {"$dynamicRef": "#meta"}},
  "propertyNames": {"$dynamicRef": "#meta"},
  "if": {"$dynamicRef": "#meta"},
  "then": {"$dynamicRef": "#meta"},
  "else": {"$dynamicRef": "#meta"},
  "allOf": {"$ref": "#/$defs/schemaArray"},
  "anyOf": {"$ref": "#/$defs/schemaArray"},
  "oneOf": {"$ref": "#/$defs/schemaArray"},
  "not": {"$dynamicRef": "#meta"}
},
"$defs": {
  "schemaArray": {"type": "array", "minItems": 1, "items": {"$dynamicRef": "#meta"}}
}
}"##;

    const D2020_UNEVALUATED: &str = r##"{
"$schema": "https://json-schema.org/draft/2020-12/schema",
"$id": "https://json-schema.org/draft/2020-12/meta/unevaluated",
"$dynamicAnchor": "meta",
"type": ["object", "boolean"],
"properties": {
  "unevaluatedItems": {"$dynamicRef": "#meta"},
  "unevaluatedProperties": {"$dynamicRef": "#meta"}
}
}"##;

    const D2020_VALIDATION: &str = r##"{
"$schema": "https://json-schema.org/draft/2020-12/schema",
"$id": "https://json-schema.org/draft/2020-12/meta/validation",
"$dynamicAnchor": "meta",
"type": ["object", "boolean"],
"properties": {
  "type": {"anyOf": [
    {"$ref": "#/$defs/simpleTypes"},
    {"type": "array", "items": {"$ref": "#/$defs/simpleTypes"}, "minItems": 1, "uniqueItems": true}
  ]},
  "const": true,
  "enum": {"type": "array", "items": true},
  "multipleOf": {"type": "number", "exclusiveMinimum": 0},
  "maximum": {"type": "number"},
  "exclusiveMaximum": {"type": "number"},
  "minimum": {"type": "number"},
  "exclusiveMinimum": {"type": "number"},
  "maxLength": {"$ref": "#/$defs/nonNegativeInteger"},
  "minLength": {"$ref": "#/$defs/nonNegativeIntegerDefault0"},
  "pattern": {"type": "string", "format": "regex"},
  "maxItems": {"$ref": "#/$defs/nonNegativeInteger"},
  "minItems": {"$ref": "#/$defs/nonNegativeIntegerDefault0"},
  "uniqueItems": {"type": "boolean"},
  "maxContains": {"$ref": "#/$defs/nonNegativeInteger"},
  "minContains": {"$ref": "#/$defs/nonNegativeInteger"},
  "maxProperties": {"$ref": "#/$defs/nonNegativeInteger"},
  "minProperties": {"$ref": "#/$defs/nonNegativeIntegerDefault0"},
  "required": {"$ref": "#/$defs/stringArray"},
  "dependentRequired": {"type": "object", "additionalProperties": {"$ref": "#/$defs/stringArray"}}
},
"$defs": {
  "nonNegativeInteger": {"type": "integer", "minimum": 0},
  "nonNegativeIntegerDefault0": {"$ref": "#/$defs/nonNegativeInteger"},
  "simpleTypes": {"enum": ["array", "boolean", "integer", "null", "number", "object", "string"]},
  "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
}
}"##;

    const D2020_META_DATA: &str = r##"{
"$schema": "https://json-schema.org/draft/2020-12/schema",
"$id": "https://json-schema.org/draft/2020-12/meta/meta-data",
"$dynamicAnchor": "meta",
"type": ["object", "boolean"],
"properties": {
  "title": {"type": "string"},
  "description": {"type": "string"},
  "default": true,
  "deprecated": {"type": "boolean"},
  "readOnly": {"type": "boolean"},
  "writeOnly": {"type": "boolean"},
  "examples": {"type": "array", "items": true}
}
}"##;

    const D2020_FORMAT_ANNOTATION: &str = r##"{
"$schema": "https://json-schema.org/draft/2020-12/schema",
"$id": "https://json-schema.org/draft/2020-12/meta/format-annotation",
"$dynamicAnchor": "meta",
"type": ["object", "boolean"],
"properties": {"format": {"type": "string"}}
}"##;

    const D2020_CONTENT: &str = r##"{
"$schema": "https://json-schema.org/draft/2020-12/schema",
"$id": "https://json-schema.org/draft/2020-12/meta/content",
"$dynamicAnchor": "meta",
"type": ["object", "boolean"],
"properties": {
  "contentEncoding": {"type": "string"},
  "contentMediaType": {"type": "string"},
  "contentSchema": {"$dynamicRef": "#meta"}
}
}"##;

    /// The document at `path` under json-schema.org, if bundled.
    pub(super) fn document(path: &str) -> Option<&'static str> {
        Some(match path {
            "draft-04/schema" => DRAFT4,
            "draft-06/schema" => DRAFT6,
            "draft-07/schema" => DRAFT7,
            "draft/2019-09/schema" => D2019_SCHEMA,
            "draft/2019-09/meta/core" => D2019_CORE,
            "draft/2019-09/meta/applicator" => D2019_APPLICATOR,
            "draft/2019-09/meta/validation" => D2019_VALIDATION,
            "draft/2019-09/meta/meta-data" => D2019_META_DATA,
            "draft/2019-09/meta/format" => D2019_FORMAT,
            "draft/2019-09/meta/content" => D2019_CONTENT,
            "draft/2020-12/schema" => D2020_SCHEMA,
            "draft/2020-12/meta/core" => D2020_CORE,
            "draft/2020-12/meta/applicator" => D2020_APPLICATOR,
            "draft/2020-12/meta/unevaluated" => D2020_UNEVALUATED,
            "draft/2020-12/meta/validation" => D2020_VALIDATION,
            "draft/2020-12/meta/meta-data" => D2020_META_DATA,
            "draft/2020-12/meta/format-annotation" => D2020_FORMAT_ANNOTATION,
            "draft/2020-12/meta/content" => D2020_CONTENT,
            _ => return None,
        })
    }

    type Metas = (Vec<Node>, HashMap<Draft, usize>);

    static COMPILED: OnceLock<OnceLockResult<Metas>> = OnceLock::new();

    fn compile_all() -> Result<Metas, String> {
        let mut c = Compiler::new(true, false);
        let mut starts = HashMap::new();
        for (draft, url) in [
            (Draft::D4, "http://json-schema.org/draft-04/schema"),
            (Draft::D6, "http://json-schema.org/draft-06/schema"),
            (Draft::D7, "http://json-schema.org/draft-07/schema"),
            (Draft::D2019, "https://json-schema.org/draft/2019-09/schema"),
            (Draft::D2020, "https://json-schema.org/draft/2020-12/schema"),
        ] {
            let root = c.or_load(url)?;
            starts.insert(draft, c.enqueue(root, String::new()));
            c.drain()?;
        }
        Ok((c.nodes, starts))
    }

    /// The compiled metaschema of `draft` (its nodes and start), if bundled.
    pub(super) fn compiled(draft: Draft) -> Option<Result<(&'static [Node], usize), String>> {
        let all = COMPILED.get_or_init(compile_all);
        match all {
            Ok((nodes, starts)) => starts.get(&draft).map(|s| Ok((nodes.as_slice(), *s))),
            Err(e) => Some(Err(e.clone())),
        }
    }
}

type OnceLockResult<T> = Result<T, String>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn dec(s: &str) -> Decimal {
        Decimal::parse(s).expect("a number")
    }

    fn values(json: &str) -> Value {
        crate::yaml::from_json(json).expect("JSON values")
    }

    fn check(schema: &str, json: &str) -> Result<(), SchemaError> {
        validate_schema(schema.as_bytes(), &values(json))
    }

    #[test]
    fn decimals_compare_and_divide_exactly() {
        assert_eq!(dec("1.0").cmp(&dec("1")), Ordering::Equal);
        assert_eq!(dec("-2").cmp(&dec("-10")), Ordering::Greater);
        assert_eq!(dec("0.1").cmp(&dec("1e-1")), Ordering::Equal);
        assert_eq!(dec("1e+06").cmp(&dec("999999.9")), Ordering::Greater);
        assert_eq!(dec("0").cmp(&dec("-0.0")), Ordering::Equal);
        // Exact, where float64 division would miss: 0.3 / 0.1.
        assert!(Decimal::from_f64(0.3).is_multiple_of(&dec("0.1")));
        assert!(!dec("0.35").is_multiple_of(&dec("0.1")));
        assert!(!dec("1e300").is_multiple_of(&dec("7e299")));
        assert!(dec("1e300").is_multiple_of(&dec("5")));
        assert!(dec("3.0").is_integer() && !dec("3.5").is_integer());
        assert_eq!(Decimal::from_f64(1e21).exp, 21);
    }

    #[test]
    fn numbers_print_as_the_message_printer_prints_them() {
        assert_eq!(localized_float(70000.0), "70,000");
        assert_eq!(localized_float(-1234.5678), "-1,234.5678");
        assert_eq!(localized_float(0.0001), "0.0001");
        assert_eq!(localized_float(0.00001), "1×10⁻⁰⁵");
        assert_eq!(localized_float(2e6), "2×10⁰⁶");
        assert_eq!(localized_float(1.2345e22), "1.2345×10²²");
        assert_eq!(localized_float(1e300), "1×10³⁰⁰");
        assert_eq!(localized_int(1234567), "1,234,567");
        assert_eq!(localized_int(-999), "-999");
    }

    #[test]
    fn quoting_follows_the_library() {
        assert_eq!(quote("a'b\"c"), r#"'a\'b"c'"#);
        assert_eq!(quote("tab\t"), r"'tab\t'");
        assert_eq!(
            json_ptr(&["a/b".to_owned(), "c~d".to_owned()]),
            "/a~1b/c~0d"
        );
        assert_eq!(encode_fragment("/$defs/a b"), "/$defs/a%20b");
    }

    #[test]
    fn json_errors_are_go_decoder_errors() {
        assert_eq!(parse_json(b"").unwrap_err(), "EOF");
        assert_eq!(parse_json(b"{\"a\": ").unwrap_err(), "unexpected EOF");
        assert_eq!(
            parse_json(b"{\"a\": 1,}").unwrap_err(),
            "invalid character '}' looking for beginning of object key string"
        );
        assert_eq!(
            parse_json(b"{\"a\" 1}").unwrap_err(),
            "invalid character '1' after object key"
        );
        assert_eq!(
            parse_json(b"[1 2]").unwrap_err(),
            "invalid character '2' after array element"
        );
        assert_eq!(parse_json(b"tru").unwrap_err(), "unexpected EOF");
        assert_eq!(
            parse_json(b"nul!").unwrap_err(),
            "invalid character '!' in literal null (expecting 'l')"
        );
        assert_eq!(
            parse_json(b"{} 1").unwrap_err(),
            "invalid character after top-level value"
        );
        let doc = parse_json(br#"{"a": 1, "a": 2.50, "s": "\u00e9\ud83d\ude00"}"#).expect("JSON");
        assert!(matches!(doc.get("a"), Some(Json::Num(n)) if n.text == "2.50"));
        assert_eq!(doc.get("s").and_then(Json::as_str), Some("é😀"));
    }

    #[test]
    fn references_resolve_as_urls_do() {
        let join = |b: &str, r: &str| join_url(b, r).expect("joins");
        assert_eq!(
            join(ROOT_URL, "#/$defs/x"),
            (ROOT_URL.to_owned(), "/$defs/x".to_owned())
        );
        assert_eq!(
            join("https://x.io/a/b.json", "../c.json#/d").0,
            "https://x.io/c.json"
        );
        assert_eq!(
            join("https://x.io/a/b.json", "//y.io/z").0,
            "https://y.io/z"
        );
        assert_eq!(join(ROOT_URL, "other.json").0, "file:///other.json");
        assert_eq!(join(ROOT_URL, "#/a%20b").1, "/a b");
    }

    #[test]
    fn go_patterns_keep_go_meaning() {
        let re = |p: &str| go_regex(p).expect("compiles").regex;
        assert!(re(r"^\d+$").is_match("123") && !re(r"^\d+$").is_match("١٢"));
        assert!(re(r"^[\w-]+$").is_match("a_b-c") && !re(r"^[\w-]+$").is_match("é"));
        assert!(re(r"a{").is_match("a{"));
        assert!(re(r"[[]").is_match("["));
        assert!(re(r"\Qa.b\E").is_match("a.b") && !re(r"\Qa.b\E").is_match("axb"));
        assert_eq!(
            go_regex("(?=x)").unwrap_err(),
            "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"
        );
        assert_eq!(
            go_regex("(?<=a)b").unwrap_err(),
            "error parsing regexp: invalid named capture: `(?<=a)b`"
        );
        assert_eq!(
            go_regex("x)").unwrap_err(),
            "error parsing regexp: unexpected ): `x)`"
        );
        assert_eq!(
            go_regex("a**").unwrap_err(),
            "error parsing regexp: invalid nested repetition operator: `**`"
        );
    }

    #[test]
    fn formats_give_go_messages() {
        let check = |name: &str, s: &str| (formats::lookup(name).expect("known").check)(s);
        assert!(check("date", "2024-02-29").is_ok());
        assert_eq!(
            check("date", "2023-02-29").unwrap_err(),
            "parsing time \"2023-02-29\": day out of range"
        );
        assert_eq!(
            check("date", "24-01-01").unwrap_err(),
            "parsing time \"24-01-01\" as \"2006-01-02\": cannot parse \"24-01-01\" as \"2006\""
        );
        assert_eq!(
            check("ipv4", "1.x.3.4").unwrap_err(),
            "strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(check("email", "nobody").unwrap_err(), "missing @");
        assert_eq!(check("uri", "/a").unwrap_err(), "relative url");
        assert_eq!(
            check("uri-reference", "%zz").unwrap_err(),
            "parse \"%zz\": invalid URL escape \"%zz\""
        );
        assert!(check("hostname", "a-b.example.com").is_ok());
        assert!(formats::lookup("no-such-format").is_none());
    }

    #[test]
    fn violations_are_listed_as_helm_lists_them() {
        let schema = r#"{"type": "object", "required": ["employmentInfo"],
            "properties": {"age": {"minimum": 0}}}"#;
        assert_eq!(
            check(schema, r#"{"age": -5}"#),
            Err(SchemaError::Violations(
                "- at '': missing property 'employmentInfo'\n- at '/age': minimum: got -5, want 0\n"
                    .to_owned()
            ))
        );
        assert!(check(schema, r#"{"employmentInfo": {}, "age": 3}"#).is_ok());
    }

    #[test]
    fn integers_are_numbers_without_fraction() {
        let schema = r#"{"properties": {"n": {"type": "integer"}}}"#;
        assert!(check(schema, r#"{"n": 3.0}"#).is_ok());
        assert!(check(schema, r#"{"n": 1e21}"#).is_ok());
        assert_eq!(
            check(schema, r#"{"n": 2.5}"#).unwrap_err().report(),
            "- at '/n': got number, want integer\n"
        );
    }

    #[test]
    fn nested_failures_are_indented_and_single_refs_hidden() {
        let schema = r##"{"$defs": {"p": {"properties": {"a": {"type": "string"}, "b": {"type": "string"}}}},
            "properties": {"x": {"$ref": "#/$defs/p"}, "y": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/p"}]}}}"##;
        assert_eq!(
            check(schema, r#"{"x": {"a": 1, "b": 2}}"#).unwrap_err().report(),
            "- at '/x': validation failed\n  - at '/x/a': got number, want string\n  - at '/x/b': got number, want string\n"
        );
        assert_eq!(
            check(schema, r#"{"y": {"a": 1}}"#).unwrap_err().report(),
            "- at '/y': 'anyOf' failed\n  - at '/y': got object, want string\n  - at '/y/a': got number, want string\n"
        );
    }

    #[test]
    fn unusable_schemas_say_why() {
        let err = check(r#"{"properties": {"a": {"type": "int"}}}"#, "{}").unwrap_err();
        assert!(matches!(err, SchemaError::Unusable(_)));
        assert!(err.report().starts_with(
            "\"file:///values.schema.json#\" is not valid against metaschema: jsonschema validation failed with 'https://json-schema.org/draft/2020-12/schema#'\n- at '': 'allOf' failed"
        ));
        assert_eq!(
            check(
                r##"{"properties": {"a": {"$ref": "#/definitions/x"}}}"##,
                "{}"
            )
            .unwrap_err()
            .report(),
            "json-pointer in \"file:///values.schema.json#/definitions/x\" not found"
        );
        // Remote documents are never fetched.
        assert_eq!(
            check(r#"{"properties": {"a": {"$ref": "https://example.com/s.json"}}}"#, "{}")
                .unwrap_err()
                .report(),
            "failing loading \"https://example.com/s.json\": remote schemas are not fetched by ferroflux"
        );
        // An unresolved URN allows anything, as Helm's URN loader does.
        assert!(check(
            r#"{"properties": {"a": {"$ref": "urn:example:thing"}}}"#,
            r#"{"a": 1}"#
        )
        .is_ok());
    }

    #[test]
    fn the_metaschemas_compile() {
        for draft in [Draft::D4, Draft::D6, Draft::D7, Draft::D2019, Draft::D2020] {
            assert!(matches!(metaschemas::compiled(draft), Some(Ok(_))));
        }
    }

    #[test]
    fn charts_report_each_schema_and_subchart() {
        let sub_schema = br#"{"properties": {"port": {"type": "integer"}}}"#.to_vec();
        let mut sub = Chart {
            metadata: values(r#"{"name": "db"}"#),
            schema: Some(sub_schema),
            ..Chart::default()
        };
        sub.values = Value::map(BTreeMap::new());
        let top = Chart {
            metadata: values(r#"{"name": "top"}"#),
            schema: Some(br#"{"required": ["name"]}"#.to_vec()),
            dependencies: vec![sub],
            ..Chart::default()
        };
        let err = validate_chart(&top, &values(r#"{"db": {"port": "x"}}"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "values don't meet the specifications of the schema(s) in the following chart(s):\n\
             top:\n- at '': missing property 'name'\ndb:\n- at '/port': got string, want integer\n"
        );
        assert_eq!(
            validate_chart(&top, &values(r#"{"name": "x", "db": 5}"#))
                .unwrap_err()
                .report(),
            "db:\ninvalid type for values: expected object (map), got float64\n"
        );
        assert!(validate_chart(&top, &values(r#"{"name": "x", "db": null}"#)).is_ok());
    }
}
