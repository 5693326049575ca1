//! text/template's predefined functions: and, or, not, len, index, slice, print,
//! printf, println, html, js, urlquery, eq, ne, lt, le, gt, ge.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::gofmt;
use crate::value::Value;
use crate::{Func, Param};

pub(crate) fn builtins() -> HashMap<String, Func> {
    let mut funcs = HashMap::new();
    let mut add = |name: &str, func: Func| {
        funcs.insert(name.to_owned(), func);
    };
    add("and", Func::short_circuit(false));
    add("or", Func::short_circuit(true));
    add(
        "not",
        Func::new(vec![Param::Any], None, |_, args| {
            Ok(Value::Bool(!args[0].is_true()))
        }),
    );
    add(
        "len",
        Func::new(vec![Param::Any], None, |_, args| length(&args[0])),
    );
    add(
        "index",
        Func::new(vec![Param::Any], Some(Param::Any), |_, args| {
            index(&args[0], &args[1..])
        }),
    );
    add(
        "slice",
        Func::new(vec![Param::Any], Some(Param::Any), |_, args| {
            slice(&args[0], &args[1..])
        }),
    );
    add(
        "print",
        Func::new(vec![], Some(Param::Any), |_, args| {
            Ok(Value::from(gofmt::sprint(&args)))
        }),
    );
    add(
        "println",
        Func::new(vec![], Some(Param::Any), |_, args| {
            Ok(Value::from(gofmt::sprintln(&args)))
        }),
    );
    add(
        "printf",
        Func::new(vec![Param::String], Some(Param::Any), |_, args| {
            let format = args[0].as_str().unwrap_or_default().to_owned();
            Ok(Value::from(gofmt::sprintf(&format, &args[1..])))
        }),
    );
    add(
        "html",
        Func::new(vec![], Some(Param::Any), |_, args| {
            Ok(Value::from(html_escape(&eval_args(&args))))
        }),
    );
    add(
        "js",
        Func::new(vec![], Some(Param::Any), |_, args| {
            Ok(Value::from(js_escape(&eval_args(&args))))
        }),
    );
    add(
        "urlquery",
        Func::new(vec![], Some(Param::Any), |_, args| {
            Ok(Value::from(query_escape(&eval_args(&args))))
        }),
    );
    add(
        "eq",
        Func::new(vec![Param::Any], Some(Param::Any), |_, args| {
            eq(&args[0], &args[1..]).map(Value::Bool)
        }),
    );
    add(
        "ne",
        Func::new(vec![Param::Any, Param::Any], None, |_, args| {
            eq(&args[0], &args[1..2]).map(|b| Value::Bool(!b))
        }),
    );
    add(
        "lt",
        Func::new(vec![Param::Any, Param::Any], None, |_, args| {
            compare(&args[0], &args[1]).map(|o| Value::Bool(o == Ordering::Less))
        }),
    );
    add(
        "le",
        Func::new(vec![Param::Any, Param::Any], None, |_, args| {
            compare(&args[0], &args[1]).map(|o| Value::Bool(o != Ordering::Greater))
        }),
    );
    add(
        "gt",
        Func::new(vec![Param::Any, Param::Any], None, |_, args| {
            compare(&args[0], &args[1]).map(|o| Value::Bool(o == Ordering::Greater))
        }),
    );
    add(
        "ge",
        Func::new(vec![Param::Any, Param::Any], None, |_, args| {
            compare(&args[0], &args[1]).map(|o| Value::Bool(o != Ordering::Less))
        }),
    );
    funcs
}

/// The text html/js/urlquery escape: the one string argument, or Sprint of them all.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.to_string();
    }
    gofmt::sprint(args)
}

fn length(item: &Value) -> Result<Value, String> {
    match item {
        Value::String(s) => Ok(Value::Int(s.len() as i64)),
        Value::List(l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.len() as i64)),
        Value::Object(o) if o.range_items().is_some() => Ok(Value::Int(
            o.range_items().map_or(0, |items| items.len()) as i64,
        )),
        Value::NoValue | Value::Nil => Err("len of nil pointer".to_owned()),
        other => Err(format!("len of type {}", other.type_name())),
    }
}

/// An index argument as Go's indexArg takes it: any integer.
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let n = match index {
        Value::Int(n) | Value::Int64(n) => *n,
        Value::NoValue | Value::Nil => return Err("cannot index slice/array with nil".to_owned()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))
        }
    };
    if n < 0 || n as usize > cap {
        return Err(format!("index out of range: {n}"));
    }
    Ok(n as usize)
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let mut item = item.clone();
    for i in indexes {
        item = match &item {
            Value::List(list) => {
                let at = index_arg(i, list.len())?;
                if at == list.len() {
                    return Err(format!("index out of range: {at}"));
                }
                list[at].clone()
            }
            Value::String(s) => {
                let at = index_arg(i, s.len())?;
                if at == s.len() {
                    return Err(format!("index out of range: {at}"));
                }
                Value::Int(i64::from(s.as_bytes()[at]))
            }
            Value::Map(map) => match i {
                Value::String(key) => map.get(key).unwrap_or(Value::Nil),
                Value::NoValue | Value::Nil => Value::Nil,
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::NoValue | Value::Nil => return Err("index of untyped nil".to_owned()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".to_owned());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        Value::NoValue | Value::Nil => return Err("slice of untyped nil".to_owned()),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut bounds = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        bounds[i] = index_arg(index, len)?;
    }
    if bounds[0] > bounds[1] {
        return Err(format!(
            "invalid slice index: {} > {}",
            bounds[0], bounds[1]
        ));
    }
    if indexes.len() == 3 && bounds[1] > bounds[2] {
        return Err(format!(
            "invalid slice index: {} > {}",
            bounds[1], bounds[2]
        ));
    }
    match item {
        Value::String(s) => s
            .get(bounds[0]..bounds[1])
            .map(Value::from)
            .ok_or_else(|| "slice splits a UTF-8 sequence".to_owned()),
        Value::List(l) => Ok(Value::list(l[bounds[0]..bounds[1]].to_vec())),
        _ => Err("can't slice".to_owned()),
    }
}

/// Go's basicKind classes for comparison.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Basic {
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn basic(value: &Value) -> Basic {
    match value {
        Value::Bool(_) => Basic::Bool,
        Value::Int(_) | Value::Int64(_) => Basic::Int,
        Value::Float(_) => Basic::Float,
        Value::String(_) => Basic::String,
        _ => Basic::Other,
    }
}

fn is_nil(value: &Value) -> bool {
    matches!(value, Value::NoValue | Value::Nil)
}

/// `eq arg1 arg2...`: whether arg1 equals any of the others.
fn eq(first: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".to_owned());
    }
    let k1 = basic(first);
    for other in others {
        let k2 = basic(other);
        let truth = if k1 != k2 {
            if !is_nil(first) && !is_nil(other) {
                return Err(format!(
                    "incompatible types for comparison: {} and {}",
                    first.type_name(),
                    other.type_name()
                ));
            }
            false
        } else {
            match (first, other) {
                (Value::Bool(a), Value::Bool(b)) => a == b,
                (a, b) if k1 == Basic::Int => a.as_int() == b.as_int(),
                (Value::Float(a), Value::Float(b)) => a == b,
                (Value::String(a), Value::String(b)) => a == b,
                (a, b) if is_nil(a) || is_nil(b) => is_nil(a) == is_nil(b),
                (a, b) => {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        gofmt::display(a),
                        a.type_name(),
                        b.type_name(),
                        gofmt::display(b)
                    ))
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The order of two basic values of one kind (lt, le, gt, ge).
fn compare(a: &Value, b: &Value) -> Result<Ordering, String> {
    let (k1, k2) = (basic(a), basic(b));
    if k1 == Basic::Other || k2 == Basic::Other || k1 == Basic::Bool || k2 == Basic::Bool {
        return Err("invalid type for comparison".to_owned());
    }
    if k1 != k2 {
        return Err(format!(
            "incompatible types for comparison: {} and {}",
            a.type_name(),
            b.type_name()
        ));
    }
    Ok(match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (x, y) => x.as_int().cmp(&y.as_int()),
    })
}

/// Go's template.HTMLEscapeString.
fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's template.JSEscapeString.
fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's url.QueryEscape.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
