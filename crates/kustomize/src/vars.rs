//! `vars:` (deprecated in kustomize, still used): kustomize's ResAccumulator vars,
//! refvar transformer and api/filters/refvar.
//!
//! A var names a field of one object. Each kustomization's vars are tied to their
//! object when that kustomization is done (by its name before prefixes, suffixes and
//! hashes); at the very end of the build the value is read from that object as it
//! is then (so a var on a generated ConfigMap's name gives the hashed, prefixed
//! name) and `$(NAME)` is replaced at the var reference fields. A `$(NAME)` that is
//! the whole string takes the value's type; `$$` stands for `$`; names that are not
//! vars are left as they are.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{KustomizeError, Result};
use crate::fieldspec::{apply_fieldspec, FieldSpec};
use crate::replacements::{float_value, lookup, smarter_path_split};
use crate::resid::{Gvk, ResId};
use crate::resource::ResMap;

/// Where a var's value is read when it names no field.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// A var: a name for a field of one resource.
#[derive(Debug, Clone, Default)]
pub struct Var {
    pub name: String,
    /// The object, by its name as written (before prefixes and suffixes).
    pub obj_ref: VarTarget,
    /// Dotted path of the field; `metadata.name` when not given.
    pub field_path: String,
    /// The kustomization file that declared it (for errors).
    pub declared_in: String,
}

/// A var's `objref`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VarTarget {
    pub api_version: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl VarTarget {
    /// The group, version and kind, `apiVersion` winning over `group`/`version`
    /// when it has one or two parts (kustomize's Target.GVK).
    fn gvk(&self) -> Gvk {
        let mut gvk = Gvk::new(&self.group, &self.version, &self.kind);
        if !self.api_version.is_empty() {
            let parts: Vec<&str> = self.api_version.split('/').collect();
            match parts.as_slice() {
                [group, version] => {
                    gvk.group = (*group).to_owned();
                    gvk.version = (*version).to_owned();
                }
                [version] => gvk.version = (*version).to_owned(),
                _ => {}
            }
        }
        gvk
    }
}

impl Var {
    /// How kustomize prints a var in its messages: `{NAME Kind.version.group {path}}`.
    fn describe(&self) -> String {
        let gvk = self.obj_ref.gvk();
        let or = |s: &str, missing: &'static str| {
            if s.is_empty() {
                missing.to_owned()
            } else {
                s.to_owned()
            }
        };
        format!(
            "{{{} {}.{}.{} {{{}}}}}",
            self.name,
            or(&gvk.kind, "[noKind]"),
            or(&gvk.version, "[noVer]"),
            or(&gvk.group, "[noGrp]"),
            self.field_path
        )
    }

    /// kustomize's Var.Defaulting: the field path and the parsed apiVersion.
    fn defaulted(mut self) -> Self {
        if self.field_path.is_empty() {
            self.field_path = DEFAULT_FIELD_PATH.to_owned();
        }
        let gvk = self.obj_ref.gvk();
        self.obj_ref.group = gvk.group;
        self.obj_ref.version = gvk.version;
        self
    }

    /// Whether `id` (a current or earlier id of some object) is this var's object:
    /// with a namespace, the namespace must match too; without, any namespace does.
    fn refers_to(&self, id: &ResId) -> bool {
        let target = &self.obj_ref;
        if target.name != id.name || self.obj_ref.gvk() != id.gvk {
            return false;
        }
        if target.namespace.is_empty() {
            return true;
        }
        // The var's namespace is compared as kustomize compares it: empty or
        // `default` mean `default`, whatever the kind.
        let wanted = if target.namespace == "default" {
            "default"
        } else {
            &target.namespace
        };
        id.effective_namespace() == wanted
    }
}

/// Field lookup as encoding/json does it: exact name first, then any case (users
/// write both `objref` and `objRef`).
fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn parse_var(entry: &Value, file: &str, field: &str) -> Result<Var> {
    let error = |at: &str, message: &str| KustomizeError::field(file, at, message);
    let object = |value: &Value, at: &str, known: &[&str]| -> Result<Map<String, Value>> {
        let map = match value {
            Value::Object(map) => map.clone(),
            Value::Null => Map::new(),
            _ => return Err(error(at, "expected a map")),
        };
        if let Some(unknown) = map
            .keys()
            .find(|k| !known.iter().any(|n| n.eq_ignore_ascii_case(k)))
        {
            return Err(error(at, &format!("unknown field \"{unknown}\"")));
        }
        Ok(map)
    };
    let string = |map: &Map<String, Value>, name: &str, at: &str| -> Result<String> {
        match get(map, name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(error(&format!("{at}.{name}"), "expected a string")),
        }
    };
    let var = object(entry, field, &["name", "objref", "fieldref"])?;
    let objref_field = format!("{field}.objref");
    let objref = object(
        get(&var, "objref").unwrap_or(&Value::Null),
        &objref_field,
        &[
            "apiVersion",
            "group",
            "version",
            "kind",
            "name",
            "namespace",
        ],
    )?;
    let fieldref_field = format!("{field}.fieldref");
    let fieldref = object(
        get(&var, "fieldref").unwrap_or(&Value::Null),
        &fieldref_field,
        &["fieldPath"],
    )?;
    Ok(Var {
        name: string(&var, "name", field)?,
        obj_ref: VarTarget {
            api_version: string(&objref, "apiVersion", &objref_field)?,
            group: string(&objref, "group", &objref_field)?,
            version: string(&objref, "version", &objref_field)?,
            kind: string(&objref, "kind", &objref_field)?,
            name: string(&objref, "name", &objref_field)?,
            namespace: string(&objref, "namespace", &objref_field)?,
        },
        field_path: string(&fieldref, "fieldPath", &fieldref_field)?,
        declared_in: file.to_owned(),
    })
}

/// Takes in a kustomization's `vars:` entries. Each var is tied to the one resource
/// its objref names (by any of its names so far); naming several is an error,
/// naming none only fails when the value is needed, as in kustomize.
pub fn merge(
    vars: &mut Vec<Var>,
    resources: &mut ResMap,
    entries: &[Value],
    file: &str,
) -> Result<()> {
    let incoming = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| parse_var(entry, file, &format!("vars[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    for (i, var) in incoming.iter().enumerate() {
        let matched: Vec<usize> = resources
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                var.refers_to(&r.cur_id()) || r.prev_ids().iter().any(|id| var.refers_to(id))
            })
            .map(|(index, _)| index)
            .collect();
        match matched.as_slice() {
            [] => {}
            [index] => resources.resources[*index]
                .ref_var_names
                .push(var.name.clone()),
            many => {
                return Err(KustomizeError::field(
                    file,
                    format!("vars[{i}]"),
                    format!(
                        "found {} resId matches for var {} (unable to disambiguate)",
                        many.len(),
                        var.describe()
                    ),
                ));
            }
        }
    }
    for (i, var) in incoming.into_iter().enumerate() {
        if vars.iter().any(|v| v.name == var.name) {
            return Err(KustomizeError::field(
                file,
                format!("vars[{i}]"),
                format!("var '{}' already encountered", var.name),
            ));
        }
        vars.push(var.defaulted());
    }
    Ok(())
}

/// Adds a child kustomization's vars; a name may be declared once.
pub fn absorb(vars: &mut Vec<Var>, child: Vec<Var>, file: &str) -> Result<()> {
    for var in child {
        if let Some(existing) = vars.iter().find(|v| v.name == var.name) {
            return Err(KustomizeError::field(
                file,
                "resources",
                format!(
                    "var '{}' already encountered (declared in {} and {})",
                    var.name, existing.declared_in, var.declared_in
                ),
            ));
        }
        vars.push(var);
    }
    Ok(())
}

/// A var's value, as kustomize reads it from the object.
#[derive(Debug, Clone, PartialEq)]
enum VarValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A map or a list: such vars are left unreplaced.
    Complex,
}

impl VarValue {
    fn read(value: &Value) -> Option<Self> {
        Some(match value {
            Value::String(s) => Self::Str(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Self::Int(i),
                // Too large for an int: kustomize fails to read it.
                None if !n.is_f64() => return None,
                None => Self::Float(n.as_f64().unwrap_or_default()),
            },
            Value::Bool(b) => Self::Bool(*b),
            Value::Null => Self::Str(String::new()),
            Value::Object(_) | Value::Array(_) => Self::Complex,
        })
    }

    /// The value in the middle of a string (Go's `%v`).
    fn text(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => go_v_float(*f),
            Self::Bool(b) => b.to_string(),
            Self::Complex => String::new(),
        }
    }

    fn into_json(self) -> Value {
        match self {
            Self::Str(s) => Value::String(s),
            Self::Int(i) => Value::from(i),
            Self::Float(f) => float_value(f),
            Self::Bool(b) => Value::Bool(b),
            Self::Complex => Value::Null,
        }
    }
}

/// Go's `%v` of a float64: shortest digits, exponent below 1e-4 or from 1e21.
fn go_v_float(f: f64) -> String {
    let magnitude = f.abs();
    if magnitude != 0.0 && !(1e-4..1e21).contains(&magnitude) {
        let formatted = format!("{f:e}");
        match formatted.split_once('e') {
            Some((mantissa, exponent)) => {
                let (sign, digits) = match exponent.strip_prefix('-') {
                    Some(digits) => ('-', digits),
                    None => ('+', exponent),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => formatted,
        }
    } else {
        format!("{f}")
    }
}

/// The value at a var's field path (kustomize's GetFieldValue: dotted, with
/// `name[2]` meaning the third entry of `name`).
fn field_value(obj: &Value, path: &str) -> Option<VarValue> {
    let mut parts = Vec::new();
    for part in smarter_path_split(path) {
        match split_index_suffix(&part) {
            Some((field, index)) => {
                if !field.is_empty() {
                    parts.push(field.to_owned());
                }
                parts.push(index.to_owned());
            }
            None => parts.push(part),
        }
    }
    match lookup(obj, &parts) {
        Ok(Some(value)) => VarValue::read(value),
        _ => None,
    }
}

/// `ports[0]` into (`ports`, `0`).
fn split_index_suffix(part: &str) -> Option<(&str, &str)> {
    let inner = part.strip_suffix(']')?;
    let (field, index) = inner.rsplit_once('[')?;
    (!index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())).then_some((field, index))
}

/// Replaces `$(NAME)` at the var reference field specs with each var's value.
pub fn resolve(resources: &mut ResMap, vars: &[Var], specs: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&Var> = vars.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut values = HashMap::new();
    for var in sorted {
        let holder = resources
            .resources
            .iter()
            .find(|r| r.ref_var_names.contains(&var.name))
            .ok_or_else(|| {
                KustomizeError::transform(format!(
                    "var '{}' cannot be mapped to a field in the set of known resources",
                    var.describe()
                ))
            })?;
        let value = field_value(&holder.to_value(), &var.field_path).ok_or_else(|| {
            KustomizeError::transform(format!(
                "field specified in var '{}' not found in corresponding resource",
                var.describe()
            ))
        })?;
        values.insert(var.name.clone(), value);
    }
    for resource in &mut resources.resources {
        for spec in specs {
            apply_fieldspec(resource, spec, None, &mut |node| {
                replace_in_node(node, &values)
            })?;
        }
    }
    Ok(())
}

/// Replaces vars in the strings of the node at a var reference field: a string, the
/// string values of a map, or the entries of a list (which must all be strings).
fn replace_in_node(node: &mut Value, values: &HashMap<String, VarValue>) -> Result<()> {
    match node {
        Value::String(s) => *node = expand(s, values).into_json(),
        Value::Object(map) => {
            for value in map.values_mut() {
                if let Value::String(s) = value {
                    *value = expand(s, values).into_json();
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let Value::String(s) = item else {
                    return Err(KustomizeError::transform(
                        "invalid value type expect a string",
                    ));
                };
                *item = expand(s, values).into_json();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Expands `$(NAME)` in `input`. When the whole input is one var reference, the
/// value keeps its type. `$$` is a literal `$`.
fn expand(input: &str, values: &HashMap<String, VarValue>) -> VarValue {
    let mapped = |name: &str| match values.get(name) {
        Some(value) if *value != VarValue::Complex => value.clone(),
        _ => VarValue::Str(format!("$({name})")),
    };
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let mut chars = after.chars();
        match chars.next() {
            // A `$` at the very end stays.
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after[1..].find(')') {
                Some(close) => {
                    let name = &after[1..1 + close];
                    let value = mapped(name);
                    if input.len() == name.len() + 3 {
                        return value;
                    }
                    out.push_str(&value.text());
                    rest = &after[close + 2..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(other) => {
                out.push('$');
                out.push(other);
                rest = chars.as_str();
            }
        }
    }
    out.push_str(rest);
    VarValue::Str(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::testutil::{fixture, res, Fixture};
    use serde_json::json;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).expect("yaml")
    }

    /// Part of kustomize's built-in varReference field specs.
    fn specs() -> Vec<FieldSpec> {
        ["args", "command", "env/value"]
            .iter()
            .map(|p| {
                FieldSpec::new(
                    "",
                    "",
                    "Deployment",
                    &format!("spec/template/spec/containers/{p}"),
                    false,
                )
            })
            .chain([FieldSpec::new("", "", "", "metadata/annotations", false)])
            .collect()
    }

    fn resources() -> ResMap {
        let mut map = ResMap::new();
        for value in [
            yaml(
                r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: app
        image: nginx
        args: ["--cm=$(CM)", "$(REPLICAS)", "$(NOPE)", "$$(CM)", "cost $5", "$(PORT)", "$(FLAG)", "$(", "a$"]
        command: ["$(CM)"]
        env:
        - {name: A, value: "$(REPLICAS)"}
        - {name: B, value: "x-$(REPLICAS)-y"}
"#,
            ),
            yaml("apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec:\n  ports:\n  - port: 8080\n"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"flag": "true"}}),
        ] {
            map.append(res(value), "kustomization.yaml").expect("append");
        }
        map
    }

    fn entries(text: &str) -> Vec<Value> {
        match yaml(text) {
            Value::Array(items) => items,
            _ => panic!("a list"),
        }
    }

    /// What kubectl printed for the same kustomization (`namePrefix: p-`, a
    /// generated ConfigMap `cfg` with literal flag=true, these vars).
    #[test]
    fn vars_resolve_after_renames_keeping_whole_value_types() {
        let mut map = resources();
        let mut vars = Vec::new();
        merge(
            &mut vars,
            &mut map,
            &entries(
                r#"
- name: CM
  objref: {kind: ConfigMap, name: cfg, apiVersion: v1}
- name: REPLICAS
  objref: {kind: Deployment, name: web, apiVersion: apps/v1}
  fieldref: {fieldpath: spec.replicas}
- name: PORT
  objref: {kind: Service, name: svc, apiVersion: v1}
  fieldref: {fieldPath: "spec.ports[0].port"}
- name: FLAG
  objRef: {kind: ConfigMap, name: cfg, apiVersion: v1}
  fieldRef: {fieldPath: data.flag}
"#,
            ),
            "kustomization.yaml",
        )
        .expect("merge");
        // What the name prefix and the hash suffix did afterwards.
        for r in &mut map.resources {
            r.store_previous_id();
            let name = format!("p-{}", r.name());
            r.set_name(&name);
        }
        map.resources[2].set_name("p-cfg-gt2t7cbm7b");
        resolve(&mut map, &vars, &specs()).expect("resolve");
        let container = &map.resources[0].obj["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["args"],
            json!([
                "--cm=p-cfg-gt2t7cbm7b",
                2,
                "$(NOPE)",
                "$(CM)",
                "cost $5",
                8080,
                "true",
                "$(",
                "a$"
            ])
        );
        assert_eq!(container["command"], json!(["p-cfg-gt2t7cbm7b"]));
        assert_eq!(
            container["env"],
            json!([{"name": "A", "value": 2}, {"name": "B", "value": "x-2-y"}])
        );
    }

    #[test]
    fn var_errors_match_kustomize() {
        let run = |text: &str| {
            let mut map = resources();
            let mut vars = Vec::new();
            merge(&mut vars, &mut map, &entries(text), "kustomization.yaml")
                .and_then(|()| resolve(&mut map, &vars, &specs()))
                .expect_err("must fail")
                .to_string()
        };
        assert_eq!(
            run("- name: X\n  objref: {kind: ConfigMap, name: nope, apiVersion: v1}\n"),
            "var '{X ConfigMap.v1.[noGrp] {metadata.name}}' cannot be mapped to a field in the set of known resources"
        );
        assert_eq!(
            run("- name: X\n  objref: {kind: Service, name: svc}\n"),
            "var '{X Service.[noVer].[noGrp] {metadata.name}}' cannot be mapped to a field in the set of known resources",
            "without a version the objref matches nothing"
        );
        assert_eq!(
            run("- name: X\n  objref: {kind: Service, name: svc, apiVersion: v1}\n  fieldref: {fieldPath: spec.nope}\n"),
            "field specified in var '{X Service.v1.[noGrp] {spec.nope}}' not found in corresponding resource"
        );
        assert_eq!(
            run("- name: X\n  objref: {kind: Service, name: svc, version: v1}\n- name: X\n  objref: {kind: Service, name: svc, version: v1}\n"),
            "kustomization.yaml: vars[1]: var 'X' already encountered"
        );
        assert_eq!(
            run("- name: X\n  objref: {kind: Service, name: svc, version: v1, namespace: other}\n"),
            "var '{X Service.v1.[noGrp] {metadata.name}}' cannot be mapped to a field in the set of known resources"
        );
        assert!(run("- name: X\n  objref: {kind: Service, nam: svc}\n")
            .contains("vars[0].objref: unknown field \"nam\""));
    }

    #[test]
    fn an_objref_without_namespace_matching_two_objects_is_ambiguous() {
        let mut map = resources();
        map.append(
            res(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "other"}})),
            "k",
        )
        .expect("append");
        let err = merge(
            &mut Vec::new(),
            &mut map,
            &entries("- name: X\n  objref: {kind: Service, name: svc, version: v1}\n"),
            "kustomization.yaml",
        )
        .expect_err("ambiguous");
        assert_eq!(
            err.to_string(),
            "kustomization.yaml: vars[0]: found 2 resId matches for var {X Service.v1.[noGrp] {}} (unable to disambiguate)"
        );
        let mut vars = Vec::new();
        merge(
            &mut vars,
            &mut map,
            &entries("- name: X\n  objref: {kind: Service, name: svc, version: v1, namespace: default}\n"),
            "k",
        )
        .expect("the namespace picks one");
        assert_eq!(map.resources[1].ref_var_names, ["X"]);
    }

    #[test]
    fn a_base_and_an_overlay_may_not_declare_the_same_var() {
        let var = |name: &str, file: &str| Var {
            name: name.into(),
            declared_in: file.into(),
            ..Default::default()
        };
        let mut vars = vec![var("A", "overlay/kustomization.yaml")];
        let err = absorb(
            &mut vars,
            vec![var("A", "base/kustomization.yaml")],
            "overlay/kustomization.yaml",
        )
        .expect_err("twice");
        assert!(
            err.to_string().contains("var 'A' already encountered"),
            "{err}"
        );
    }

    #[test]
    fn no_vars_leaves_dollar_dollar_alone() {
        let mut map = resources();
        resolve(&mut map, &[], &specs()).expect("resolve");
        let args = &map.resources[0].obj["spec"]["template"]["spec"]["containers"][0]["args"];
        assert_eq!(args[3], json!("$$(CM)"));
    }

    #[test]
    fn non_string_list_entries_at_a_var_reference_fail() {
        let mut map = ResMap::new();
        map.append(
            res(yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec: {template: {spec: {containers: [{name: a, args: [1]}]}}}\n")),
            "k",
        )
        .expect("append");
        map.resources[0].ref_var_names.push("V".into());
        let vars = [Var {
            name: "V".into(),
            field_path: "metadata.name".into(),
            ..Default::default()
        }];
        let err = resolve(&mut map, &vars, &specs()).expect_err("int arg");
        assert!(
            err.to_string()
                .ends_with("invalid value type expect a string"),
            "{err}"
        );
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_v_float(1.5), "1.5");
        assert_eq!(go_v_float(3.0), "3");
        assert_eq!(go_v_float(1e21), "1e+21");
        assert_eq!(go_v_float(0.00001), "1e-05");
    }
}
