//! Executing parsed templates with Go's semantics: dot and variables, field chains
//! over maps and objects (`nil pointer evaluating interface {}.x`), pipelines whose
//! result is the last argument of the next command, `if`/`with`/`range` with Go's
//! truth, `template`, `break`/`continue`, and errors as Go words them:
//! `template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::gofmt;
use crate::parse::{
    template_node_text, Arg, ArgDisplay, Branch, Command, CommandDisplay, Node, Number, Pipe,
    PipeDisplay, Tree,
};
use crate::value::Value;
use crate::{Func, MissingKey, Param, Templates};

/// An execution failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecError {
    /// Go's form: `template: LOCATION: executing "NAME" at <CONTEXT>: MESSAGE`.
    #[error("template: {location}: executing \"{template}\" at <{context}>: {message}")]
    At {
        /// `FILE:LINE:COL` (the column counts bytes from 0).
        location: String,
        /// The template being executed (a `define`d name inside an include).
        template: String,
        /// The node, as Go prints it.
        context: String,
        message: String,
    },
    /// An error with no node to point at.
    #[error("template: {template}: {message}")]
    Plain { template: String, message: String },
    /// ExecuteTemplate of a name the set does not have (Go's message names the set's
    /// root template).
    #[error("template: no template {} associated with template {}", crate::gofmt::quote(.name), crate::gofmt::quote(.root))]
    NoTemplate { name: String, root: String },
}

impl ExecError {
    /// The bare message, without where it happened.
    pub fn message(&self) -> &str {
        match self {
            ExecError::At { message, .. } | ExecError::Plain { message, .. } => message,
            ExecError::NoTemplate { .. } => "no template",
        }
    }
}

/// What a function gets besides its arguments: the templates, to execute one by name
/// (Helm's `include`), and scratch state that lives for one execution.
pub struct Call<'a> {
    pub templates: &'a Templates,
    state: &'a mut Shared,
    /// The template whose action made the call.
    template_name: String,
}

/// Why [`Call::execute_text`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TextError {
    #[error(transparent)]
    Parse(#[from] crate::ParseError),
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// State shared by every template executed within one top-level execution.
#[derive(Default)]
struct Shared {
    depth: usize,
    counters: HashMap<String, usize>,
}

impl Call<'_> {
    /// Executes template `name` with `data` (Go's ExecuteTemplate), within this
    /// execution's depth limit.
    pub fn execute(&mut self, name: &str, data: Value) -> Result<String> {
        let tree = self
            .templates
            .tree(name)
            .ok_or_else(|| ExecError::NoTemplate {
                name: name.to_owned(),
                root: self.templates.name.clone(),
            })?;
        execute_tree(self.templates, &tree, data, self.state)
    }

    /// The name of the template executing the call.
    pub fn template_name(&self) -> &str {
        &self.template_name
    }

    /// Parses `text` as template `name` into a copy of the templates and executes it
    /// with `data` (Helm's `tpl`): it sees every template defined so far, and what it
    /// defines goes away with the copy.
    pub fn execute_text(
        &mut self,
        name: &str,
        text: &str,
        data: Value,
    ) -> std::result::Result<String, TextError> {
        let mut copy = self.templates.clone();
        copy.parse(name, text)?;
        let tree = copy.tree(name).ok_or_else(|| ExecError::NoTemplate {
            name: name.to_owned(),
            root: copy.name.clone(),
        })?;
        Ok(execute_tree(&copy, &tree, data, self.state)?)
    }

    /// A counter that lives for this execution (Helm counts nested includes by name).
    pub fn counter(&mut self, key: &str) -> &mut usize {
        self.state.counters.entry(key.to_owned()).or_insert(0)
    }
}

/// Executes `tree` with `data` as dot and `$`.
pub(crate) fn execute_top(templates: &Templates, tree: &Arc<Tree>, data: Value) -> Result<String> {
    let mut shared = Shared::default();
    execute_tree(templates, tree, data, &mut shared)
}

fn execute_tree(
    templates: &Templates,
    tree: &Arc<Tree>,
    data: Value,
    shared: &mut Shared,
) -> Result<String> {
    let data = dig(data);
    let mut state = State {
        templates,
        tree: tree.clone(),
        vars: vec![("$".to_owned(), data.clone())],
        shared,
        out: String::new(),
    };
    state.walk_list(&data, &tree.root)?;
    Ok(state.out)
}

/// Go's "dig down one level" after each command: a nil interface is no value.
fn dig(value: Value) -> Value {
    match value {
        Value::Nil => Value::NoValue,
        other => other,
    }
}

/// How a list stopped early.
enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    templates: &'a Templates,
    tree: Arc<Tree>,
    vars: Vec<(String, Value)>,
    shared: &'a mut Shared,
    out: String,
}

/// A receiver in a field chain, with whether Go sees it through `interface{}` (a
/// map element), which shows in error messages.
struct Receiver {
    value: Value,
    boxed: bool,
}

impl Receiver {
    fn type_name(&self) -> String {
        if self.boxed {
            "interface {}".to_owned()
        } else {
            self.value.type_name()
        }
    }
}

type Result<T> = std::result::Result<T, ExecError>;

impl State<'_> {
    fn error(&self, pos: usize, context: String, message: impl Into<String>) -> ExecError {
        ExecError::At {
            location: self.tree.location(pos),
            template: self.tree.name.clone(),
            context,
            message: message.into(),
        }
    }

    fn arg_error(&self, arg: &Arg, message: impl Into<String>) -> ExecError {
        self.error(arg.pos(), ArgDisplay(arg).to_string(), message)
    }

    fn walk_list(&mut self, dot: &Value, nodes: &[Node]) -> Result<Flow> {
        for node in nodes {
            match self.walk(dot, node)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> Result<Flow> {
        match node {
            Node::Text { start, end } => self.out.push_str(&self.tree.text[*start..*end]),
            Node::Action { pipe, .. } => {
                let value = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print_value(&value);
                }
            }
            Node::If(branch) => return self.walk_if_or_with(dot, branch, false),
            Node::With(branch) => return self.walk_if_or_with(dot, branch, true),
            Node::Range(branch) => return self.walk_range(dot, branch),
            Node::Template { pos, name, pipe } => {
                self.walk_template(dot, *pos, name, pipe.as_ref())?
            }
            Node::Break { .. } => return Ok(Flow::Break),
            Node::Continue { .. } => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn print_value(&mut self, value: &Value) {
        match value {
            Value::NoValue | Value::Nil => self.out.push_str("<no value>"),
            other => self.out.push_str(&gofmt::display(other)),
        }
    }

    fn walk_if_or_with(&mut self, dot: &Value, branch: &Branch, is_with: bool) -> Result<Flow> {
        let mark = self.vars.len();
        let result = (|| {
            let value = self.eval_pipeline(dot, &branch.pipe)?;
            if value.is_true() {
                let dot = if is_with { value } else { dot.clone() };
                self.walk_list(&dot, &branch.list)
            } else if let Some(else_list) = &branch.else_list {
                self.walk_list(dot, else_list)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &Value, branch: &Branch) -> Result<Flow> {
        let mark = self.vars.len();
        let result = self.walk_range_inner(dot, branch);
        self.vars.truncate(mark);
        result.map(|()| Flow::Normal)
    }

    fn walk_range_inner(&mut self, dot: &Value, branch: &Branch) -> Result<()> {
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(entries) => entries
                .entries()
                .into_iter()
                .map(|(k, v)| (Value::string(k), v))
                .collect(),
            Value::Int(n) | Value::Int64(n) => {
                if branch.pipe.decl.len() > 1 {
                    return Err(self.error(
                        branch.pos,
                        PipeDisplay(&branch.pipe).to_string(),
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                let typed = |i: i64| match value {
                    Value::Int64(_) => Value::Int64(i),
                    _ => Value::Int(i),
                };
                (0..(*n).max(0)).map(|i| (typed(i), typed(i))).collect()
            }
            Value::NoValue | Value::Nil => Vec::new(),
            Value::Object(object) if object.range_items().is_some() => {
                object.range_items().unwrap_or_default()
            }
            other => {
                return Err(self.error(
                    branch.pos,
                    PipeDisplay(&branch.pipe).to_string(),
                    format!("range can't iterate over {}", gofmt::display(other)),
                ))
            }
        };
        if items.is_empty() {
            if let Some(else_list) = &branch.else_list {
                self.walk_list(dot, else_list)?;
            }
            return Ok(());
        }
        let decl = &branch.pipe.decl;
        for (index, element) in items {
            let mark = self.vars.len();
            if !decl.is_empty() {
                if branch.pipe.is_assign {
                    if decl.len() > 1 {
                        self.set_var(&decl[0], index.clone());
                        self.set_var(&decl[1], element.clone());
                    } else {
                        self.set_var(&decl[0], element.clone());
                    }
                } else {
                    // The pipeline pushed its variables: the last one is the element,
                    // the one before it the index.
                    let top = self.vars.len();
                    if decl.len() > 1 {
                        self.vars[top - 2].1 = index.clone();
                    }
                    self.vars[top - 1].1 = element.clone();
                }
            }
            let flow = self.walk_list(&element, &branch.list);
            self.vars.truncate(mark);
            match flow? {
                Flow::Break => break,
                Flow::Normal | Flow::Continue => {}
            }
        }
        Ok(())
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &str,
        pipe: Option<&Pipe>,
    ) -> Result<()> {
        let context = || template_node_text(name, pipe);
        let Some(tree) = self.templates.tree(name) else {
            return Err(self.error(pos, context(), format!("template {name:?} not defined")));
        };
        if self.shared.depth >= self.templates.max_depth {
            return Err(self.error(
                pos,
                context(),
                format!(
                    "exceeded maximum template depth ({})",
                    self.templates.max_depth
                ),
            ));
        }
        let data = match pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => Value::NoValue,
        };
        self.shared.depth += 1;
        let result = execute_tree(self.templates, &tree, data, self.shared);
        self.shared.depth -= 1;
        self.out.push_str(&result?);
        Ok(())
    }

    fn var_value(&self, name: &str) -> Value {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::NoValue)
    }

    fn set_var(&mut self, name: &str, value: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = value;
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(dig(self.eval_command(dot, cmd, value)?));
        }
        let value = value.unwrap_or(Value::NoValue);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone());
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Command, last: Option<Value>) -> Result<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                let receiver = Receiver {
                    value: dot.clone(),
                    boxed: false,
                };
                return self.eval_field_chain(dot, receiver, first, idents, &cmd.args, last);
            }
            Arg::Chain { node, fields, .. } => {
                if matches!(**node, Arg::Nil { .. }) {
                    return Err(self.arg_error(
                        first,
                        format!("indirection through explicit nil in {}", ArgDisplay(first)),
                    ));
                }
                let base = self.eval_arg(dot, Param::Untyped, node)?;
                let receiver = Receiver {
                    value: base,
                    boxed: false,
                };
                return self.eval_field_chain(dot, receiver, first, fields, &cmd.args, last);
            }
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, cmd, &cmd.args, last)
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(&cmd.args, &last)?;
                return self.eval_pipeline(dot, pipe);
            }
            Arg::Variable { name, idents, .. } => {
                let value = self.var_value(name);
                if idents.is_empty() {
                    self.not_a_function(&cmd.args, &last)?;
                    return Ok(value);
                }
                let receiver = Receiver {
                    value,
                    boxed: false,
                };
                return self.eval_field_chain(dot, receiver, first, idents, &cmd.args, last);
            }
            _ => {}
        }
        self.not_a_function(&cmd.args, &last)?;
        match first {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.arg_error(first, "nil is not a command")),
            Arg::Number { number, .. } => self.ideal_constant(first, number),
            Arg::String { value, .. } => Ok(Value::string(value.as_str())),
            _ => Err(self.arg_error(first, "can't evaluate command")),
        }
    }

    fn not_a_function(&self, args: &[Arg], last: &Option<Value>) -> Result<()> {
        if args.len() > 1 || last.is_some() {
            return Err(self.arg_error(
                &args[0],
                format!(
                    "can't give argument to non-function {}",
                    ArgDisplay(&args[0])
                ),
            ));
        }
        Ok(())
    }

    /// A number literal where any type will do: an int unless written as a float.
    fn ideal_constant(&self, arg: &Arg, number: &Number) -> Result<Value> {
        let text = &number.text;
        let lower = text.to_ascii_lowercase();
        let unsigned = lower.trim_start_matches(['+', '-']);
        // Go's isHexInt: `0x1F` is an int even though it holds an `e`-like digit.
        let hex_int = unsigned.starts_with("0x") && !unsigned.contains('p');
        let looks_float = !number.is_char && !hex_int && text.contains(['.', 'e', 'E', 'p', 'P']);
        if let (Some(f), true) = (number.float, looks_float) {
            return Ok(Value::Float(f));
        }
        if let Some(n) = number.int {
            return Ok(Value::Int(n));
        }
        if let Some(f) = number.float {
            if !number.is_uint {
                return Ok(Value::Float(f));
            }
        }
        Err(self.arg_error(arg, format!("{text} overflows int")))
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Receiver,
        node: &Arg,
        idents: &[String],
        args: &[Arg],
        last: Option<Value>,
    ) -> Result<Value> {
        let n = idents.len();
        for ident in &idents[..n - 1] {
            receiver = self.eval_field(dot, ident, node, &[], None, receiver)?;
        }
        Ok(self
            .eval_field(dot, &idents[n - 1], node, args, last, receiver)?
            .value)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        field: &str,
        node: &Arg,
        args: &[Arg],
        last: Option<Value>,
        receiver: Receiver,
    ) -> Result<Receiver> {
        let has_args = args.len() > 1 || last.is_some();
        match &receiver.value {
            Value::NoValue => {
                if self.templates.missing_key == MissingKey::Error {
                    return Err(
                        self.arg_error(node, format!("nil data; no entry for key {field:?}"))
                    );
                }
                Ok(Receiver {
                    value: Value::NoValue,
                    boxed: false,
                })
            }
            Value::Nil => Err(self.arg_error(
                node,
                format!("nil pointer evaluating {}.{field}", receiver.type_name()),
            )),
            Value::Object(object) => {
                let object = object.clone();
                // A method takes the arguments; a field cannot.
                let mut values = Vec::new();
                for arg in args.iter().skip(1) {
                    values.push(self.eval_arg(dot, Param::Any, arg)?);
                }
                if let Some(last) = last.clone() {
                    values.push(last);
                }
                if let Some(result) = object.call_method(field, &values) {
                    return result
                        .map(|value| Receiver {
                            value,
                            boxed: false,
                        })
                        .map_err(|e| self.arg_error(node, format!("error calling {field}: {e}")));
                }
                match object.field(field) {
                    Some(value) => {
                        if has_args {
                            return Err(self.arg_error(
                                node,
                                format!("{field} has arguments but cannot be invoked as function"),
                            ));
                        }
                        Ok(Receiver {
                            value,
                            boxed: false,
                        })
                    }
                    None => Err(self.arg_error(
                        node,
                        format!(
                            "can't evaluate field {field} in type {}",
                            receiver.type_name()
                        ),
                    )),
                }
            }
            Value::Map(entries) => {
                if has_args {
                    return Err(
                        self.arg_error(node, format!("{field} is not a method but has arguments"))
                    );
                }
                match entries.get(field) {
                    Some(value) => Ok(Receiver { value, boxed: true }),
                    None => match self.templates.missing_key {
                        MissingKey::Error => {
                            Err(self.arg_error(node, format!("map has no entry for key {field:?}")))
                        }
                        MissingKey::Invalid => Ok(Receiver {
                            value: Value::NoValue,
                            boxed: false,
                        }),
                        MissingKey::Zero => Ok(Receiver {
                            value: Value::Nil,
                            boxed: true,
                        }),
                    },
                }
            }
            _ => Err(self.arg_error(
                node,
                format!(
                    "can't evaluate field {field} in type {}",
                    receiver.type_name()
                ),
            )),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        node: &Arg,
        name: &str,
        cmd: &Command,
        args: &[Arg],
        last: Option<Value>,
    ) -> Result<Value> {
        // The set outlives this state, so the function is borrowed, not copied.
        let templates = self.templates;
        let Some(func) = templates.funcs.get(name) else {
            return Err(self.arg_error(node, format!("{name:?} is not a defined function")));
        };
        self.eval_call(dot, func, node, name, cmd, &args[1..], last)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Value,
        func: &Func,
        node: &Arg,
        name: &str,
        cmd: &Command,
        args: &[Arg],
        last: Option<Value>,
    ) -> Result<Value> {
        let given = args.len() + usize::from(last.is_some());
        let fixed = func.params.len();
        match func.variadic {
            Some(_) if given < fixed => {
                return Err(self.arg_error(
                    node,
                    format!(
                        "wrong number of args for {name}: want at least {fixed} got {}",
                        args.len()
                    ),
                ))
            }
            None if given != fixed => {
                return Err(self.arg_error(
                    node,
                    format!("wrong number of args for {name}: want {fixed} got {given}"),
                ))
            }
            _ => {}
        }
        let param = |i: usize| -> Param {
            func.params
                .get(i)
                .copied()
                .or(func.variadic)
                .unwrap_or(Param::Any)
        };
        // and/or evaluate their arguments only as far as they need.
        if let Some(short_circuit) = func.short_circuit {
            let mut value = Value::NoValue;
            for arg in args {
                value = self.eval_arg(dot, Param::Any, arg)?;
                if value.is_true() == short_circuit {
                    return Ok(value);
                }
            }
            if let Some(last) = last {
                value = last;
            }
            return Ok(value);
        }
        let mut values = Vec::with_capacity(given);
        for (i, arg) in args.iter().enumerate() {
            values.push(self.eval_arg(dot, param(i), arg)?);
        }
        if let Some(last) = last {
            let value = self.validate_type(node, last, param(values.len()))?;
            values.push(value);
        }
        let mut call = Call {
            templates: self.templates,
            state: self.shared,
            template_name: self.tree.name.clone(),
        };
        (func.call)(&mut call, values).map_err(|e| {
            self.error(
                cmd.pos,
                CommandDisplay(cmd).to_string(),
                format!("error calling {name}: {e}"),
            )
        })
    }

    /// An argument evaluated for a parameter of type `param`.
    fn eval_arg(&mut self, dot: &Value, param: Param, arg: &Arg) -> Result<Value> {
        let value = match arg {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => {
                if param.can_be_nil() {
                    return Ok(Value::Nil);
                }
                return Err(
                    self.arg_error(arg, format!("cannot assign nil to {}", param.go_type()))
                );
            }
            Arg::Field { idents, .. } => {
                let receiver = Receiver {
                    value: dot.clone(),
                    boxed: false,
                };
                self.eval_field_chain(dot, receiver, arg, idents, std::slice::from_ref(arg), None)?
            }
            Arg::Variable { name, idents, .. } => {
                let value = self.var_value(name);
                if idents.is_empty() {
                    value
                } else {
                    let receiver = Receiver {
                        value,
                        boxed: false,
                    };
                    self.eval_field_chain(dot, receiver, arg, idents, &[], None)?
                }
            }
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Arg::Identifier { name, .. } => {
                let cmd = Command {
                    pos: arg.pos(),
                    args: vec![arg.clone()],
                };
                self.eval_function(dot, arg, name, &cmd, std::slice::from_ref(arg), None)?
            }
            Arg::Chain { .. } => {
                let cmd = Command {
                    pos: arg.pos(),
                    args: vec![arg.clone()],
                };
                self.eval_command(dot, &cmd, None)?
            }
            Arg::Bool { value, .. } => {
                return match param {
                    Param::Any | Param::Untyped | Param::Bool => Ok(Value::Bool(*value)),
                    _ => Err(self.expected(arg, param)),
                }
            }
            Arg::Number { number, .. } => {
                return match param {
                    Param::Any | Param::Untyped => self.ideal_constant(arg, number),
                    Param::Int => number
                        .int
                        .map(Value::Int)
                        .ok_or_else(|| self.expected(arg, param)),
                    Param::Int64 => number
                        .int
                        .map(Value::Int64)
                        .ok_or_else(|| self.expected(arg, param)),
                    Param::Float => number
                        .float
                        .map(Value::Float)
                        .ok_or_else(|| self.expected(arg, param)),
                    _ => Err(self.expected(arg, param)),
                }
            }
            Arg::String { value, .. } => {
                return match param {
                    Param::Any | Param::Untyped | Param::String => {
                        Ok(Value::string(value.as_str()))
                    }
                    _ => Err(self.expected(arg, param)),
                }
            }
        };
        self.validate_type(arg, value, param)
    }

    fn expected(&self, arg: &Arg, param: Param) -> ExecError {
        let what = match param {
            Param::String => "string",
            Param::Int | Param::Int64 => "integer",
            Param::Float => "float",
            Param::Bool => "bool",
            _ => "value",
        };
        self.arg_error(arg, format!("expected {what}; found {}", ArgDisplay(arg)))
    }

    /// Go's validateType: no value becomes nil where nil fits; other values must be
    /// of the parameter's type.
    fn validate_type(&self, arg: &Arg, value: Value, param: Param) -> Result<Value> {
        if matches!(value, Value::NoValue) {
            if param == Param::Untyped {
                return Ok(value);
            }
            if param.can_be_nil() {
                return Ok(Value::Nil);
            }
            return Err(self.arg_error(arg, format!("invalid value; expected {}", param.go_type())));
        }
        let fits = matches!(
            (param, &value),
            (Param::Any | Param::Untyped, _)
                | (Param::String, Value::String(_))
                | (Param::Bool, Value::Bool(_))
                | (Param::Int, Value::Int(_))
                | (Param::Int64, Value::Int64(_))
                | (Param::Float, Value::Float(_))
                | (Param::List, Value::List(_) | Value::Nil)
                | (Param::Map, Value::Map(_) | Value::Nil)
        );
        if fits {
            return Ok(value);
        }
        Err(self.arg_error(
            arg,
            format!(
                "wrong type for value; expected {}; got {}",
                param.go_type(),
                if matches!(value, Value::Nil) {
                    "interface {}".to_owned()
                } else {
                    value.type_name()
                }
            ),
        ))
    }
}
