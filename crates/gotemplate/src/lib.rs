//! Go's text/template for ferroflux: the language Helm charts are written in, with
//! Go's parsing rules, execution semantics, number and value printing, and error
//! messages, so a chart renders here exactly as Helm renders it. Helm's own
//! functions (sprig, `include`, `tpl`, `toYaml`, …) are added by the Helm engine
//! through [`Templates::add_func`]; this crate holds the language and text/template's
//! predefined functions.

mod builtins;
pub mod crypto;
mod exec;
pub mod gofmt;
pub mod gojson;
mod lex;
pub mod parse;
pub mod semver;
pub mod sprig;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

pub use exec::{Call, ExecError, TextError};
pub use parse::ParseError;
pub use value::{MapRef, Object, Value};

use parse::Tree;

/// What reading a missing map key gives (Go's `missingkey` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingKey {
    /// Go's default: no value (prints `<no value>`).
    Invalid,
    /// The map element type's zero: a nil `interface{}` (Helm's choice). A field of it
    /// is then a "nil pointer evaluating" error.
    Zero,
    /// An error, "map has no entry for key" (Helm's strict mode).
    Error,
}

/// The Go type of a function parameter, which decides how a literal argument is
/// taken and which values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `interface{}` or `reflect.Value`.
    Any,
    /// No type at all (Go evaluates the base of `(pipeline).Field` so): no value stays
    /// no value instead of becoming nil.
    Untyped,
    String,
    /// Go `int`.
    Int,
    Int64,
    Float,
    Bool,
    /// `[]interface{}`.
    List,
    /// `map[string]interface{}`.
    Map,
}

impl Param {
    fn can_be_nil(self) -> bool {
        matches!(self, Param::Any | Param::Untyped | Param::List | Param::Map)
    }

    fn go_type(self) -> &'static str {
        match self {
            Param::Any | Param::Untyped => "interface {}",
            Param::String => "string",
            Param::Int => "int",
            Param::Int64 => "int64",
            Param::Float => "float64",
            Param::Bool => "bool",
            Param::List => "[]interface {}",
            Param::Map => "map[string]interface {}",
        }
    }
}

/// The body of a template function: it gets its arguments, already checked against
/// its parameters, and returns a value or the error Go would wrap as
/// `error calling NAME: ...`.
pub type FuncBody = dyn Fn(&mut Call<'_>, Vec<Value>) -> Result<Value, String> + Send + Sync;

/// A template function and its signature.
#[derive(Clone)]
pub struct Func {
    pub params: Vec<Param>,
    pub variadic: Option<Param>,
    pub call: Arc<FuncBody>,
    /// `and` (stops at the first false) and `or` (at the first true).
    short_circuit: Option<bool>,
}

impl Func {
    pub fn new(
        params: Vec<Param>,
        variadic: Option<Param>,
        call: impl Fn(&mut Call<'_>, Vec<Value>) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        Func {
            params,
            variadic,
            call: Arc::new(call),
            short_circuit: None,
        }
    }

    fn short_circuit(stop_on: bool) -> Self {
        Func {
            params: vec![Param::Any],
            variadic: Some(Param::Any),
            call: Arc::new(|_, args| Ok(args.last().cloned().unwrap_or(Value::NoValue))),
            short_circuit: Some(stop_on),
        }
    }
}

/// A set of named templates sharing functions and options (Go's associated
/// templates).
#[derive(Clone)]
pub struct Templates {
    /// The name of the set's root template (Go's `template.New(name)`), which some
    /// messages show; Helm's is `gotpl`.
    pub name: String,
    trees: HashMap<String, Arc<Tree>>,
    /// Shared between copies of the set (a render copies a prepared set).
    funcs: Arc<HashMap<String, Func>>,
    pub missing_key: MissingKey,
    /// How deeply `template` calls may nest before execution fails (Go allows
    /// 100000; a native stack holds fewer).
    pub max_depth: usize,
    left: String,
    right: String,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// An empty set with text/template's predefined functions.
    pub fn new() -> Self {
        Templates {
            name: String::new(),
            trees: HashMap::new(),
            funcs: Arc::new(builtins::builtins()),
            missing_key: MissingKey::Invalid,
            max_depth: 1000,
            left: "{{".to_owned(),
            right: "}}".to_owned(),
        }
    }

    /// The function of that name, if any.
    pub fn func(&self, name: &str) -> Option<Func> {
        self.funcs.get(name).cloned()
    }

    /// Adds (or replaces) a function.
    pub fn add_func(&mut self, name: &str, func: Func) {
        Arc::make_mut(&mut self.funcs).insert(name.to_owned(), func);
    }

    /// Parses `text` as template `name`, adding it and every template it defines.
    /// As Go's AddParseTree: a later definition replaces an earlier one of the same
    /// name, except that an empty one never replaces a non-empty one.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), ParseError> {
        let funcs = &self.funcs;
        let trees = parse::parse(name, text, &self.left, &self.right, &|f| {
            funcs.contains_key(f)
        })?;
        for tree in trees {
            let keep_old = self
                .trees
                .get(&tree.name)
                .is_some_and(|old| !parse::is_empty_tree(&old.root, &old.text))
                && parse::is_empty_tree(&tree.root, &tree.text);
            if !keep_old {
                self.trees.insert(tree.name.clone(), Arc::new(tree));
            }
        }
        Ok(())
    }

    /// Whether a template of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    fn tree(&self, name: &str) -> Option<Arc<Tree>> {
        self.trees.get(name).cloned()
    }

    /// Executes template `name` with `data` as dot.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, ExecError> {
        let tree = self.tree(name).ok_or_else(|| ExecError::NoTemplate {
            name: name.to_owned(),
            root: self.name.clone(),
        })?;
        exec::execute_top(self, &tree, data.clone())
    }
}

#[cfg(test)]
mod tests;
