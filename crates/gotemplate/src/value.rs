//! Values as a Go template sees them. Helm hands templates `interface{}` data decoded
//! from YAML/JSON (numbers are float64, objects `map[string]interface{}`, arrays
//! `[]interface{}`) plus a few structs with methods (`.Files`, `.Capabilities`), and
//! template literals add Go `int`s. The Go type of a value shows in output (`%T`,
//! comparisons that fail between `int` and `float64`), so it is kept.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

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

    /// The concrete value, for functions that take one particular Go type.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// For a Go map type (Helm's `.Files`, a `map[string][]byte`): what `range`
    /// walks, key and element, keys in order. `None` for types range refuses.
    fn range_items(&self) -> Option<Vec<(Value, Value)>> {
        None
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
    Map(MapRef),
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
        Value::Map(MapRef::new(entries))
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
            Value::Map(map) => map.type_name().to_owned(),
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
            // A map type (`.Files`) is true when it has entries; structs always.
            Value::Object(o) => o.range_items().is_none_or(|items| !items.is_empty()),
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

/// A Go map: shared, and changed in place by `set`, `unset` and `merge` for every
/// holder of it, as templates rely on (`$_ := set $ctx "key" value`).
#[derive(Clone, Default)]
pub struct MapRef(Arc<MapInner>);

#[derive(Default)]
struct MapInner {
    /// A named map type (Helm's `.Values` is `common.Values`), which `%T` shows and a
    /// type assertion to `map[string]interface {}` refuses.
    type_name: Option<String>,
    entries: RwLock<BTreeMap<String, Value>>,
}

impl MapRef {
    pub fn new(entries: BTreeMap<String, Value>) -> Self {
        MapRef(Arc::new(MapInner {
            type_name: None,
            entries: RwLock::new(entries),
        }))
    }

    /// A map of the named Go type `type_name` (underlying `map[string]interface {}`).
    pub fn named(type_name: &str, entries: BTreeMap<String, Value>) -> Self {
        MapRef(Arc::new(MapInner {
            type_name: Some(type_name.to_owned()),
            entries: RwLock::new(entries),
        }))
    }

    /// The Go type, as `%T` prints it.
    pub fn type_name(&self) -> &str {
        self.0
            .type_name
            .as_deref()
            .unwrap_or("map[string]interface {}")
    }

    /// Whether it is a plain `map[string]interface {}` (not a named type).
    pub fn is_plain(&self) -> bool {
        self.0.type_name.is_none()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Value>> {
        self.0
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Value>> {
        self.0
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).cloned()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.read().contains_key(key)
    }

    pub fn insert(&self, key: impl Into<String>, value: Value) {
        self.write().insert(key.into(), value);
    }

    pub fn remove(&self, key: &str) -> Option<Value> {
        self.write().remove(key)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// A copy of the entries, in key order.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A copy of the map itself (not of the values in it).
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.read().clone()
    }

    /// Whether both are the same map.
    pub fn same(&self, other: &MapRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for MapRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
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
