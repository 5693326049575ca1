//! Values as a Go template sees them. Helm hands templates `interface{}` data decoded
//! from YAML/JSON (numbers are float64, objects `map[string]interface{}`, arrays
//! `[]interface{}`) plus a few structs with methods (`.Files`, `.Capabilities`), and
//! template literals add Go `int`s. The Go type of a value shows in output (`%T`,
//! comparisons that fail between `int` and `float64`), so it is kept.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A Go struct (or named type) a template can read fields of and call methods on.
pub trait Object: Send + Sync + fmt::Debug {
    /// The Go type name, as `%T` prints it (`*chart.Metadata`, `chartutil.Files`).
    fn type_name(&self) -> String;
    /// An exported field, if the type has one of that name.
    fn field(&self, name: &str) -> Option<Value>;
    /// Calls method `name` with `args`; `None` when the type has no such method.
    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// How `fmt.Sprint` prints the value (`{...}` for a struct).
    fn display(&self) -> String {
        format!("{{{}}}", self.type_name())
    }
}

/// One value. Cheap to clone: the containers are shared.
#[derive(Clone, Debug)]
pub enum Value {
    /// Go's invalid `reflect.Value`, "no value": what a pipeline that yields nil
    /// becomes, a template called without data. It prints as `<no value>` and reading
    /// a field of it gives it again, where a field of [`Value::Nil`] is an error.
    NoValue,
    /// A nil `interface{}`: a YAML null, a missing map key under `missingkey=zero`.
    Nil,
    Bool(bool),
    /// Go `int` (template integer literals, `len`, rune literals).
    Int(i64),
    /// Go `int64` (what sprig's arithmetic returns).
    Int64(i64),
    /// Go `float64` (every number decoded from YAML or JSON, float literals).
    Float(f64),
    String(Arc<str>),
    /// `[]interface{}`.
    List(Arc<Vec<Value>>),
    /// `map[string]interface{}`; Go prints and ranges over maps in key order.
    Map(Arc<BTreeMap<String, Value>>),
    Object(Arc<dyn Object>),
}

impl Value {
    pub fn string(s: impl Into<Arc<str>>) -> Self {
        Value::String(s.into())
    }

    pub fn list(items: Vec<Value>) -> Self {
        Value::List(Arc::new(items))
    }

    pub fn map(entries: BTreeMap<String, Value>) -> Self {
        Value::Map(Arc::new(entries))
    }

    /// The Go type name, as `%T` prints it.
    pub fn type_name(&self) -> String {
        match self {
            Value::NoValue | Value::Nil => "<nil>".to_owned(),
            Value::Bool(_) => "bool".to_owned(),
            Value::Int(_) => "int".to_owned(),
            Value::Int64(_) => "int64".to_owned(),
            Value::Float(_) => "float64".to_owned(),
            Value::String(_) => "string".to_owned(),
            Value::List(_) => "[]interface {}".to_owned(),
            Value::Map(_) => "map[string]interface {}".to_owned(),
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's truth (text/template `if`): false for nil, false, zero, and empty
    /// strings, lists and maps; structs are true.
    pub fn is_true(&self) -> bool {
        match self {
            Value::NoValue | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(n) | Value::Int64(n) => *n != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(_) => true,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a Go integer of any kind.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) | Value::Int64(n) => Some(*n),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::string(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::string(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
