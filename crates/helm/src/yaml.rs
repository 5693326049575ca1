//! YAML read as Helm reads values files, Chart.yaml and `fromYaml`: sigs.k8s.io/yaml's
//! Unmarshal, which is go-yaml v2 (YAML 1.1: `yes` and `on` are true, `017` is octal)
//! followed by a JSON round trip, so every number ends a float64 and every key a
//! string. Only the first document counts; a repeated key keeps its last value.

use std::collections::{BTreeMap, HashMap};

use ferroflux_gotemplate::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Why a YAML text could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("error converting YAML to JSON: yaml: {0}")]
pub struct YamlError(pub String);

#[derive(Default)]
struct Events(Vec<(Event, Marker)>);

impl MarkedEventReceiver for Events {
    fn on_event(&mut self, event: Event, mark: Marker) {
        self.0.push((event, mark));
    }
}

/// The first document of `text` (nil when there is none).
pub fn unmarshal(text: &str) -> Result<Value, YamlError> {
    let mut events = Events::default();
    Parser::new_from_str(text)
        .load(&mut events, false)
        .map_err(|e| YamlError(e.to_string()))?;
    let mut builder = Builder {
        events: events.0.into_iter().peekable(),
        anchors: HashMap::new(),
    };
    while let Some((event, _)) = builder.events.next() {
        if event == Event::DocumentStart {
            return builder.node();
        }
    }
    Ok(Value::Nil)
}

struct Builder {
    events: std::iter::Peekable<std::vec::IntoIter<(Event, Marker)>>,
    anchors: HashMap<usize, Value>,
}

impl Builder {
    fn node(&mut self) -> Result<Value, YamlError> {
        let Some((event, mark)) = self.events.next() else {
            return Ok(Value::Nil);
        };
        let (value, anchor) = match event {
            Event::DocumentEnd => return Ok(Value::Nil),
            Event::Scalar(text, style, anchor, tag) => (scalar(text, style, tag.as_ref()), anchor),
            Event::Alias(id) => {
                return self.anchors.get(&id).cloned().ok_or_else(|| {
                    YamlError(format!("line {}: unknown anchor referenced", mark.line()))
                })
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                while !matches!(self.events.peek(), Some((Event::SequenceEnd, _)) | None) {
                    items.push(self.node()?);
                }
                self.events.next();
                (Value::list(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = BTreeMap::new();
                let mut merged = Vec::new();
                while !matches!(self.events.peek(), Some((Event::MappingEnd, _)) | None) {
                    let key = self.node()?;
                    let value = self.node()?;
                    match key {
                        Value::String(k) if &*k == "<<" => merged.push(value),
                        other => {
                            map.insert(json_key(&other), value);
                        }
                    }
                }
                self.events.next();
                // Merge keys fill in what the mapping does not set itself.
                for source in merged {
                    let sources = match source {
                        Value::List(items) => items.to_vec(),
                        other => vec![other],
                    };
                    for source in sources {
                        if let Value::Map(fields) = source {
                            for (k, v) in fields.entries() {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                }
                (Value::map(map), anchor)
            }
            other => {
                return Err(YamlError(format!(
                    "line {}: unexpected {other:?}",
                    mark.line()
                )))
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }
}

/// A key as the JSON step writes it.
fn json_key(key: &Value) -> String {
    match key {
        Value::String(s) => s.to_string(),
        Value::Nil | Value::NoValue => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => ferroflux_gotemplate::gofmt::format_float_shortest(*f),
        other => ferroflux_gotemplate::gofmt::display(other),
    }
}

/// A scalar as go-yaml v2 resolves it, after the JSON round trip.
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        if tag.suffix == "str" {
            return Value::from(text);
        }
    }
    if style != TScalarStyle::Plain {
        return Value::from(text);
    }
    plain_scalar(&text)
}

/// What go-yaml v2 makes of a plain scalar: null, a bool (YAML 1.1's `yes`, `on`, …),
/// a number (as the JSON step leaves it, a float64), or text.
pub(crate) fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Nil,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = text.chars().next().unwrap_or(' ');
    if matches!(first, '-' | '+' | '.' | '0'..='9') {
        let plain = text.replace('_', "");
        if let Some(n) = parse_int(&plain) {
            return Value::Float(n);
        }
        if is_float(&plain) {
            if let Ok(f) = plain.parse::<f64>() {
                return Value::Float(f);
            }
        }
    }
    Value::from(text)
}

/// strconv.ParseInt(text, 0, 64) (or ParseUint), and go-yaml's `0b` binary, as f64.
fn parse_int(text: &str) -> Option<f64> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()? as f64;
    Some(if negative { -magnitude } else { magnitude })
}

/// go-yaml v2's float syntax.
fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && frac.chars().all(|c| c.is_ascii_digit()),
        Some((int, frac)) => {
            !int.is_empty()
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    mantissa_ok
        && exponent.is_none_or(|e| {
            let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        })
}

/// A JSON text as encoding/json's Unmarshal into interface{} reads it (numbers
/// float64).
pub fn from_json(text: &str) -> Result<Value, String> {
    let parsed: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(json_to_value(&parsed, false))
}

/// JSON as a template value. Go decodes every number into a float64
/// (`encoding/json`); Kubernetes' unstructured objects keep whole numbers as int64
/// (`whole_numbers_as_int`).
pub(crate) fn json_to_value(value: &serde_json::Value, whole_numbers_as_int: bool) -> Value {
    let convert = |v: &serde_json::Value| json_to_value(v, whole_numbers_as_int);
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64().filter(|_| whole_numbers_as_int) {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::list(items.iter().map(convert).collect()),
        serde_json::Value::Object(map) => {
            Value::map(map.iter().map(|(k, v)| (k.clone(), convert(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_1_scalars_then_json_numbers() {
        let value = unmarshal(
            "a: yes\nb: 017\nc: 0x1F\nd: 1_000\ne: 2024-01-01\nf: '3'\ng: ~\nh: 1.5e3\n1: one\n",
        )
        .expect("reads");
        let Value::Map(map) = value else {
            panic!("a map")
        };
        assert!(matches!(map.get("a"), Some(Value::Bool(true))));
        assert!(matches!(map.get("b"), Some(Value::Float(f)) if f == 15.0));
        assert!(matches!(map.get("c"), Some(Value::Float(f)) if f == 31.0));
        assert!(matches!(map.get("d"), Some(Value::Float(f)) if f == 1000.0));
        assert_eq!(
            map.get("e").and_then(|v| v.as_str().map(str::to_owned)),
            Some("2024-01-01".to_owned())
        );
        assert_eq!(
            map.get("f").and_then(|v| v.as_str().map(str::to_owned)),
            Some("3".to_owned())
        );
        assert!(matches!(map.get("g"), Some(Value::Nil)));
        assert!(matches!(map.get("h"), Some(Value::Float(f)) if f == 1500.0));
        assert!(map.contains_key("1"));
    }

    #[test]
    fn anchors_merge_keys_and_repeated_keys() {
        // (Not `y`: to YAML 1.1 a bare `y` is true, even as a key.)
        let value = unmarshal(
            "base: &b {x: 1, w: 2}\nderived:\n  <<: *b\n  w: 3\nk: first\nk: last\ny: 1\n",
        )
        .expect("reads");
        let Value::Map(map) = value else {
            panic!("a map")
        };
        let Some(Value::Map(derived)) = map.get("derived") else {
            panic!("derived")
        };
        assert!(matches!(derived.get("x"), Some(Value::Float(f)) if f == 1.0));
        assert!(matches!(derived.get("w"), Some(Value::Float(f)) if f == 3.0));
        assert!(map.contains_key("true"));
        assert_eq!(
            map.get("k").and_then(|v| v.as_str().map(str::to_owned)),
            Some("last".to_owned())
        );
    }
}
