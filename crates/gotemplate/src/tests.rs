//! Execution semantics, checked against what Go's text/template (inside Helm 4)
//! printed for the same templates.

use std::collections::BTreeMap;

use super::*;

fn values(json: &str) -> Value {
    fn convert(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::from(s),
            serde_json::Value::Array(items) => {
                Value::list(items.into_iter().map(convert).collect())
            }
            serde_json::Value::Object(map) => {
                Value::map(map.into_iter().map(|(k, v)| (k, convert(v))).collect())
            }
        }
    }
    let parsed: serde_json::Value = serde_json::from_str(json).expect("test JSON");
    let mut top = BTreeMap::new();
    top.insert("Values".to_owned(), convert(parsed));
    Value::map(top)
}

fn render(text: &str, data: &str) -> Result<String, String> {
    let mut templates = Templates::new();
    templates.missing_key = MissingKey::Zero;
    templates.parse("t", text).map_err(|e| e.to_string())?;
    templates
        .execute("t", &values(data))
        .map_err(|e| e.to_string())
}

fn ok(text: &str, data: &str) -> String {
    render(text, data).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn printing_values() {
    assert_eq!(
        ok(
            "{{ 1000000.0 }} {{ .Values.n }} {{ .Values.m }} {{ .Values.l }} {{ .Values.x }} {{ printf \"%T %T %T\" .Values.n 3 .Values.l }}",
            r#"{"n": 1000000, "m": 3, "l": [1,"a",{"b":2}], "x": null}"#
        ),
        "1e+06 1e+06 3 [1 a map[b:2]] <no value> float64 int []interface {}"
    );
}

#[test]
fn ranges_over_lists_maps_and_ints_with_break_and_continue() {
    assert_eq!(
        ok(
            "{{ range 3 }}{{.}}{{end}} {{ range $i, $v := .Values.m }}{{$i}}={{$v}};{{end}} {{ range .Values.l }}{{ if eq . 2.0 }}{{ continue }}{{ end }}{{ if eq . 4.0 }}{{ break }}{{ end }}{{ . }}{{ end }} {{ range .Values.none }}x{{ else }}empty{{ end }}",
            r#"{"m":{"b":1,"a":2},"l":[1,2,3,4,5]}"#
        ),
        "012 a=2;b=1; 13 empty"
    );
}

#[test]
fn variables_scope_and_assignment() {
    assert_eq!(
        ok(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}{{ with .Values.a }}{{ . }}{{ $ | len }}{{ end }}",
            r#"{"a":"A"}"#
        ),
        "2A1"
    );
}

#[test]
fn and_or_not_short_circuit_and_return_operands() {
    assert_eq!(
        ok("{{ and 1 0 2 }} {{ or 0 \"\" }} {{ not 1 }} {{ or 0 .Values.a }} {{ and 0 (index .Values 5) }}", r#"{"a":"A"}"#),
        "0  false A 0"
    );
}

#[test]
fn comparisons_follow_go() {
    assert_eq!(
        ok("{{ eq .Values.missing nil }} {{ eq .Values.n 1.0 }} {{ lt 1 2 }} {{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ ge 2.5 2.5 }}", r#"{"n":1}"#),
        "true true true true true true"
    );
    let error = render("{{ eq 1 1.0 }}", "{}").expect_err("int and float");
    assert_eq!(
        error,
        "template: t:1:3: executing \"t\" at <eq 1 1.0>: error calling eq: incompatible types for comparison: int and float64"
    );
}

#[test]
fn field_errors_name_the_field_chain_where_go_places_it() {
    let error = render("x{{ .Values.foo.bar }}", "{}").expect_err("nil");
    assert_eq!(
        error,
        "template: t:1:11: executing \"t\" at <.Values.foo.bar>: nil pointer evaluating interface {}.bar"
    );
    let error = render("{{ .Values.name.foo }}", r#"{"name":"x"}"#).expect_err("string");
    assert!(
        error.ends_with("can't evaluate field foo in type interface {}"),
        "{error}"
    );
    let error =
        render("{{ $x := .Values.name }}{{ $x.foo }}", r#"{"name":"x"}"#).expect_err("string");
    assert_eq!(
        error,
        "template: t:1:29: executing \"t\" at <$x.foo>: can't evaluate field foo in type string"
    );
}

#[test]
fn templates_called_without_data_read_no_value() {
    assert_eq!(
        ok("{{ define \"t2\" }}[{{ .foo }}]{{ end }}{{ template \"t2\" .Values.missing }}{{ template \"t2\" }}", "{}"),
        "[<no value>][<no value>]"
    );
    let error = render("line1\n  {{ template \"nope\" }}", "{}").expect_err("undefined");
    assert_eq!(
        error,
        "template: t:2:14: executing \"t\" at <{{template \"nope\"}}>: template \"nope\" not defined"
    );
}

#[test]
fn builtin_errors() {
    let error = render("{{ index .Values.l 5 }}", r#"{"l":[1]}"#).expect_err("range");
    assert_eq!(
        error,
        "template: t:1:3: executing \"t\" at <index .Values.l 5>: error calling index: index out of range: 5"
    );
    let error = render("{{ len 3 }}", "{}").expect_err("len");
    assert!(
        error.ends_with("error calling len: len of type int"),
        "{error}"
    );
    let error = render("{{ printf 3 }}", "{}").expect_err("printf");
    assert_eq!(
        error,
        "template: t:1:10: executing \"t\" at <3>: expected string; found 3"
    );
}

#[test]
fn trimming_comments_and_pipelines() {
    assert_eq!(
        ok("a  {{- /* c */ -}}  b {{ \"x\" | printf \"%s-%s\" \"y\" }} {{ slice \"hello\" 1 3 }} {{ index .Values.m \"k\" }}", r#"{"m":{"k":"v"}}"#),
        "ab y-x el v"
    );
}

#[test]
fn if_else_chains_and_with_else() {
    let text = "{{ if eq .Values.n 1.0 }}one{{ else if eq .Values.n 2.0 }}two{{ else }}many{{ end }}|{{ with .Values.none }}x{{ else with .Values.n }}{{ . }}{{ end }}";
    assert_eq!(ok(text, r#"{"n":2}"#), "two|2");
    assert_eq!(ok(text, r#"{"n":7}"#), "many|7");
}

#[test]
fn later_definitions_replace_earlier_ones_unless_empty() {
    let mut templates = Templates::new();
    templates
        .parse("a", "{{ define \"x\" }}first{{ end }}")
        .expect("parses");
    templates
        .parse("b", "{{ define \"x\" }}second{{ end }}")
        .expect("parses");
    templates
        .parse("c", "{{ define \"x\" }} {{ end }}")
        .expect("parses");
    templates
        .parse("main", "{{ template \"x\" }}")
        .expect("parses");
    assert_eq!(
        templates.execute("main", &Value::Nil).expect("runs"),
        "second"
    );
}

#[test]
fn recursion_stops_at_the_depth_limit() {
    let mut templates = Templates::new();
    templates.max_depth = 50;
    templates
        .parse(
            "r",
            "{{ define \"loop\" }}{{ template \"loop\" . }}{{ end }}{{ template \"loop\" . }}",
        )
        .expect("parses");
    let error = templates
        .execute("r", &Value::Nil)
        .expect_err("too deep")
        .to_string();
    assert!(
        error.ends_with("exceeded maximum template depth (50)"),
        "{error}"
    );
}
