//! The functions Helm adds for chart templates: `include`, `tpl`, `required`,
//! `toYaml`/`mustToYaml`, `toJson`/`mustToJson`, and `lookup` (offline an empty
//! map; against a cluster with [`add_live_lookup`]), on top of text/template's and
//! sprig's.

use std::collections::BTreeMap;

use ferroflux_gotemplate::{gojson, sprig, ExecError, Func, MissingKey, Param, Templates, Value};

use crate::{errors, goyaml, yaml};

/// How many times one template may be included inside itself (Helm's limit).
const INCLUDE_RECURSION_LIMIT: usize = 1000;

/// A template set with every function a Helm chart may call; `strict` makes a
/// missing map key an error, as `helm template --strict` does.
pub fn chart_templates(strict: bool) -> Templates {
    // Building the ~250 functions is a good part of a small chart's render: build
    // them once, and hand out copies that share them.
    static BASE: std::sync::OnceLock<Templates> = std::sync::OnceLock::new();
    let mut templates = BASE.get_or_init(build_chart_templates).clone();
    templates.missing_key = if strict {
        MissingKey::Error
    } else {
        MissingKey::Zero
    };
    templates
}

fn build_chart_templates() -> Templates {
    let mut templates = Templates::new();
    templates.name = "gotpl".to_owned();
    sprig::add_sprig(&mut templates);
    templates.add_func(
        "toYaml",
        Func::new(vec![Param::Any], None, |_, a| {
            Ok(Value::from(to_yaml(&a[0]).unwrap_or_default()))
        }),
    );
    templates.add_func(
        "mustToYaml",
        Func::new(vec![Param::Any], None, |_, a| {
            to_yaml(&a[0]).map(Value::from)
        }),
    );
    templates.add_func(
        "toJson",
        Func::new(vec![Param::Any], None, |_, a| {
            Ok(Value::from(
                gojson::marshal(&a[0], true).unwrap_or_default(),
            ))
        }),
    );
    templates.add_func(
        "mustToJson",
        Func::new(vec![Param::Any], None, |_, a| {
            gojson::marshal(&a[0], true).map(Value::from)
        }),
    );
    templates.add_func(
        "fromYaml",
        Func::new(vec![Param::String], None, |_, a| {
            Ok(from_yaml(a[0].as_str().unwrap_or_default()))
        }),
    );
    templates.add_func(
        "fromYamlArray",
        Func::new(vec![Param::String], None, |_, a| {
            Ok(from_yaml_array(a[0].as_str().unwrap_or_default()))
        }),
    );
    templates.add_func(
        "fromJson",
        Func::new(vec![Param::String], None, |_, a| {
            Ok(from_json(a[0].as_str().unwrap_or_default()))
        }),
    );
    templates.add_func(
        "fromJsonArray",
        Func::new(vec![Param::String], None, |_, a| {
            Ok(from_json_array(a[0].as_str().unwrap_or_default()))
        }),
    );
    templates.add_func(
        "include",
        Func::new(vec![Param::String, Param::Any], None, |call, a| {
            let name = a[0].as_str().unwrap_or_default().to_owned();
            let count = call.counter(&name);
            if *count > INCLUDE_RECURSION_LIMIT {
                return Err(format!(
                    "rendering template has a nested reference name: {name}: unable to execute template"
                ));
            }
            *count += 1;
            let result = call.execute(&name, a[1].clone());
            *call.counter(&name) -= 1;
            result.map(Value::from).map_err(|e| e.to_string())
        }),
    );
    templates.add_func(
        "tpl",
        Func::new(vec![Param::String, Param::Any], None, |call, a| {
            let text = a[0].as_str().unwrap_or_default().to_owned();
            // Helm parses the text as a new template named like its root template.
            let name = call.templates.name.clone();
            match call.execute_text(&name, &text, a[1].clone()) {
                Ok(out) => Ok(Value::from(out.replace("<no value>", ""))),
                Err(ferroflux_gotemplate::TextError::Parse(e)) => Err(format!(
                    "cannot parse template {}: {e}",
                    ferroflux_gotemplate::gofmt::quote(&text)
                )),
                Err(ferroflux_gotemplate::TextError::Exec(e)) => Err(format!(
                    "error during tpl function execution for {}: {e}",
                    ferroflux_gotemplate::gofmt::quote(&text)
                )),
            }
        }),
    );
    templates.add_func(
        "required",
        Func::new(vec![Param::String, Param::Any], None, |_, a| {
            let missing = match &a[1] {
                Value::Nil | Value::NoValue => true,
                Value::String(s) => s.is_empty(),
                _ => false,
            };
            if missing {
                return Err(errors::warn_wrap(a[0].as_str().unwrap_or_default()));
            }
            Ok(a[1].clone())
        }),
    );
    templates.add_func(
        "fail",
        Func::new(vec![Param::String], None, |_, a| {
            Err(errors::warn_wrap(a[0].as_str().unwrap_or_default()))
        }),
    );
    templates.add_func(
        "lookup",
        Func::new(vec![Param::String; 4], None, |_, _| {
            Ok(Value::map(BTreeMap::new()))
        }),
    );
    templates
}

/// `lookup` answered by `cluster`, as in a real install or upgrade.
pub fn add_live_lookup(templates: &mut Templates, cluster: crate::render::ClusterLookup) {
    templates.add_func(
        "lookup",
        Func::new(vec![Param::String; 4], None, move |_, a| {
            let text = |i: usize| a[i].as_str().unwrap_or_default().to_owned();
            let found = (cluster.0)(&text(0), &text(1), &text(2), &text(3))?;
            Ok(yaml::json_to_value(&found, true))
        }),
    );
}

/// The stack a render runs on. Go grows its stacks; ours is fixed, and Helm lets an
/// include nest 1000 times, so a render gets a thread whose stack is only reserved
/// address space until it is used.
const RENDER_STACK: usize = 1 << 30;

/// Executes template `name` of `templates` on a thread with room for Helm's deepest
/// nesting.
pub fn execute(templates: &Templates, name: &str, data: &Value) -> Result<String, ExecError> {
    on_render_stack(|| templates.execute(name, data)).unwrap_or_else(|message| {
        Err(ExecError::Plain {
            template: name.to_owned(),
            message,
        })
    })
}

/// Runs `work` on a thread with room for Helm's deepest nesting (one thread for a
/// whole render: starting one per template would cost more than rendering).
pub fn on_render_stack<T: Send>(work: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("helm-render".to_owned())
            .stack_size(RENDER_STACK)
            .spawn_scoped(scope, work)
            .map_err(|e| format!("cannot start the render thread: {e}"))?
            .join()
            .map_err(|_| "the render thread panicked".to_owned())
    })
}

/// Helm's fromYAML: a map; what is not one becomes `{"Error": MESSAGE}`.
fn from_yaml(text: &str) -> Value {
    match yaml::unmarshal(text) {
        Ok(Value::Map(map)) => Value::Map(map),
        Ok(Value::Nil) => Value::map(BTreeMap::new()),
        Ok(other) => error_map(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        )),
        Err(e) => error_map(e.to_string()),
    }
}

/// Helm's fromYAMLArray: a list; what is not one becomes `[MESSAGE]`.
fn from_yaml_array(text: &str) -> Value {
    match yaml::unmarshal(text) {
        Ok(Value::List(items)) => Value::List(items),
        Ok(Value::Nil) => Value::list(Vec::new()),
        Ok(other) => Value::list(vec![Value::from(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::from(e.to_string())]),
    }
}

/// Helm's fromJSON.
fn from_json(text: &str) -> Value {
    match yaml::from_json(text) {
        Ok(Value::Map(map)) => Value::Map(map),
        Ok(other) => error_map(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        )),
        Err(e) => error_map(e),
    }
}

/// Helm's fromJSONArray.
fn from_json_array(text: &str) -> Value {
    match yaml::from_json(text) {
        Ok(Value::List(items)) => Value::List(items),
        Ok(other) => Value::list(vec![Value::from(format!(
            "json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::from(e)]),
    }
}

fn error_map(message: String) -> Value {
    let mut map = BTreeMap::new();
    map.insert("Error".to_owned(), Value::from(message));
    Value::map(map)
}

/// How encoding/json names a value's kind in "cannot unmarshal X into".
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::List(_) => "array",
        Value::Map(_) => "object",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        _ => "number",
    }
}

/// Helm's toYAML: sigs.k8s.io/yaml's output without its final newline.
pub fn to_yaml(value: &Value) -> Result<String, String> {
    let text = goyaml::marshal(value)?;
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}
