//! values.schema.json checks against the Helm SDK: charts built here (schemas for
//! each keyword, nested subcharts) and the corpus charts that ship a schema, with
//! their defaults and with broken values. Verdicts and messages must be Helm's.
//!
//! Helm lists the failures of an object's properties in Go's random map order, so
//! messages are compared with sibling failures (and the names in `additional
//! properties …`) sorted.

use std::path::{Path, PathBuf};

use ferroflux_gotemplate::Value;
use serde_json::json;

mod common;
use common::{corpus, to_value};

/// Helm's verdict on each (chart, values): `Ok` or its report.
fn helm(cases: &[(PathBuf, serde_json::Value)]) -> Vec<Result<(), String>> {
    let request: Vec<serde_json::Value> = cases
        .iter()
        .map(|(chart, values)| json!({"chart": chart, "values": values}))
        .collect();
    let answer = common::sdk("schema_oracle.py", &serde_json::Value::Array(request));
    let answers: Vec<serde_json::Value> =
        serde_json::from_value(answer).expect("the SDK script's answer");
    answers
        .into_iter()
        .map(|a| match a.get("error") {
            Some(e) => Err(e.as_str().unwrap_or_default().to_owned()),
            None => Ok(()),
        })
        .collect()
}

/// Our verdict, the way an install reaches it: values coalesced, then checked.
fn ours(chart: &Path, values: &serde_json::Value) -> Result<(), String> {
    let loaded = ferroflux_helm::chart::load_dir(chart).expect("the chart loads");
    let coalesced = ferroflux_helm::values::coalesce_values(&loaded, &to_value(values))
        .map_err(|e| e.to_string())?;
    ferroflux_helm::schema::validate_chart(&loaded, &Value::Map(coalesced))
        .map_err(|e| e.report().to_owned())
}

/// A message with the failures under each failure, and the names Go lists in map
/// order, sorted.
fn normalized(message: &str) -> String {
    #[derive(Debug)]
    struct Item {
        line: String,
        children: Vec<Item>,
    }
    fn render(items: &mut [Item], depth: usize, out: &mut Vec<String>) {
        for item in items.iter_mut() {
            let mut inner = Vec::new();
            render(&mut item.children, depth + 1, &mut inner);
            item.line = format!("{}{}\n{}", "  ".repeat(depth), item.line, inner.join(""));
        }
        let mut lines: Vec<String> = items.iter().map(|i| i.line.clone()).collect();
        lines.sort();
        out.extend(lines);
    }
    fn sort_names(line: &str) -> String {
        match (
            line.find(": additional properties "),
            line.rfind(" not allowed"),
        ) {
            (Some(start), Some(end)) if end > start => {
                let head = &line[..start + ": additional properties ".len()];
                let mut names: Vec<&str> = line[head.len()..end].split(", ").collect();
                names.sort();
                format!("{head}{}{}", names.join(", "), &line[end..])
            }
            _ => line.to_owned(),
        }
    }
    // `duplicate id X in DOC at P1 and P2`: Go finds the two in random order.
    fn sort_places(line: &str) -> String {
        match (line.starts_with("duplicate "), line.rsplit_once(" at ")) {
            (true, Some((head, places))) => match places.split_once(" and ") {
                Some((a, b)) => format!("{head} at {} and {}", a.min(b), a.max(b)),
                None => line.to_owned(),
            },
            _ => line.to_owned(),
        }
    }
    let mut out = String::new();
    let mut section: Vec<Item> = Vec::new();
    let flush = |section: &mut Vec<Item>, out: &mut String| {
        let mut lines = Vec::new();
        render(section, 0, &mut lines);
        out.push_str(&lines.join(""));
        section.clear();
    };
    for line in message.split('\n') {
        let trimmed = line.trim_start_matches(' ');
        let depth = (line.len() - trimmed.len()) / 2;
        if let Some(entry) = trimmed.strip_prefix("- ") {
            let item = Item {
                line: sort_names(entry),
                children: Vec::new(),
            };
            let mut level = &mut section;
            for _ in 0..depth {
                if level.is_empty() {
                    break;
                }
                let last = level.len() - 1;
                level = &mut level[last].children;
            }
            level.push(item);
        } else {
            flush(&mut section, &mut out);
            out.push_str(&sort_places(line));
            out.push('\n');
        }
    }
    flush(&mut section, &mut out);
    out
}

fn same(helm: &Result<(), String>, ours: &Result<(), String>) -> bool {
    match (helm, ours) {
        (Ok(()), Ok(())) => true,
        (Err(a), Err(b)) => normalized(a) == normalized(b),
        _ => false,
    }
}

/// Both verdicts for every case; the differences, one entry each.
fn compare(cases: &[(String, PathBuf, serde_json::Value)]) -> (Vec<String>, usize) {
    let theirs = helm(
        &cases
            .iter()
            .map(|(_, c, v)| (c.clone(), v.clone()))
            .collect::<Vec<_>>(),
    );
    let mut differences = Vec::new();
    let mut refused = 0;
    for ((name, chart, values), helm) in cases.iter().zip(&theirs) {
        let ours = ours(chart, values);
        if helm.is_err() {
            refused += 1;
        }
        if !same(helm, &ours) {
            differences.push(format!(
                "{name}: values {values}\n  helm: {helm:?}\n  ours: {ours:?}"
            ));
        }
    }
    (differences, refused)
}

/// Writes a chart named `name` into `dir`: its schema (if any), its values.yaml, and
/// its subcharts under charts/.
fn write_chart(dir: &Path, name: &str, schema: Option<&str>, defaults: &str, subs: &[Sub]) {
    std::fs::create_dir_all(dir).expect("chart dir");
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
    )
    .expect("Chart.yaml");
    std::fs::write(dir.join("values.yaml"), defaults).expect("values.yaml");
    if let Some(schema) = schema {
        std::fs::write(dir.join("values.schema.json"), schema).expect("schema");
    }
    for sub in subs {
        write_chart(
            &dir.join("charts").join(sub.name),
            sub.name,
            sub.schema,
            sub.defaults,
            sub.subs,
        );
    }
}

struct Sub {
    name: &'static str,
    schema: Option<&'static str>,
    defaults: &'static str,
    subs: &'static [Sub],
}

/// One schema and the values to try against it.
struct Case {
    name: &'static str,
    schema: &'static str,
    defaults: &'static str,
    subs: &'static [Sub],
    values: Vec<serde_json::Value>,
}

fn case(name: &'static str, schema: &'static str, values: Vec<serde_json::Value>) -> Case {
    Case {
        name,
        schema,
        defaults: "",
        subs: &[],
        values,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "type",
            r#"{"properties": {"replicas": {"type": "integer"}, "name": {"type": "string"},
                "ratio": {"type": "number"}, "on": {"type": "boolean"}, "list": {"type": "array"},
                "obj": {"type": "object"}, "nullable": {"type": ["string", "null"]},
                "multi": {"type": ["object", "integer", "boolean"]}}}"#,
            vec![
                json!({"replicas": 3, "name": "x", "ratio": 0.5, "on": true, "list": [], "obj": {}}),
                json!({"replicas": 3.0}),
                json!({"replicas": 1.5}),
                json!({"replicas": "3"}),
                json!({"replicas": 1e20}),
                json!({"name": 5}),
                json!({"ratio": "x", "on": "yes", "list": {}, "obj": []}),
                json!({"nullable": null}),
                json!({"nullable": 3}),
                json!({"multi": "s"}),
                json!({"multi": 2.5}),
            ],
        ),
        case(
            "enum and const",
            r#"{"properties": {"kind": {"enum": ["Deployment", "DaemonSet"]},
                "one": {"enum": ["only"]}, "mixed": {"enum": [1, "a", null, true, 2.50]},
                "complex": {"enum": [{"a": 1}, [1]]}, "c": {"const": "fixed"},
                "cn": {"const": 1.0}, "co": {"const": {"a": [1, 2]}}}}"#,
            vec![
                json!({"kind": "Deployment", "mixed": 2.5, "cn": 1, "co": {"a": [1, 2]}, "complex": {"a": 1.0}}),
                json!({"kind": "StatefulSet"}),
                json!({"one": "other"}),
                json!({"mixed": "b"}),
                json!({"complex": {"a": 2}}),
                json!({"c": "moving"}),
                json!({"cn": 2}),
                json!({"co": {"a": [2, 1]}}),
            ],
        ),
        case(
            "required and properties",
            r#"{"type": "object", "required": ["image", "port"],
                "properties": {"image": {"type": "object", "required": ["repository"],
                "properties": {"repository": {"type": "string"}, "tag": {"type": "string"}}}}}"#,
            vec![
                json!({"image": {"repository": "nginx"}, "port": 80}),
                json!({}),
                json!({"port": 80}),
                json!({"image": {"tag": 1}, "port": 80}),
                json!({"image": "nginx"}),
            ],
        ),
        case(
            "additionalProperties",
            r#"{"additionalProperties": false, "properties": {"a": {}, "b": {}},
                "patternProperties": {"^x-": {"type": "string"}}}"#,
            vec![
                json!({"a": 1, "x-one": "s"}),
                json!({"c": 1}),
                json!({"c": 1, "d": 2, "e": 3}),
                json!({"x-two": 2}),
            ],
        ),
        case(
            "additionalProperties schema",
            r#"{"properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "ports": {"additionalProperties": {"type": "object", "properties": {"port": {"type": "integer", "maximum": 65535}}}}}}"#,
            vec![
                json!({"labels": {"app": "x"}, "ports": {"web": {"port": 80}}}),
                json!({"labels": {"app": 1, "tier": true}}),
                json!({"ports": {"web": {"port": 70000}, "ssh": {"port": "22"}}}),
            ],
        ),
        case(
            "numbers",
            r#"{"properties": {"min": {"minimum": 1}, "max": {"maximum": 10.5},
                "emin": {"exclusiveMinimum": 0}, "emax": {"exclusiveMaximum": 100},
                "mult": {"multipleOf": 0.1}, "mult5": {"multipleOf": 5},
                "big": {"maximum": 1e6}}}"#,
            vec![
                json!({"min": 1, "max": 10.5, "emin": 0.001, "emax": 99, "mult": 0.3, "mult5": 15}),
                json!({"min": 0}),
                json!({"min": -5.5}),
                json!({"max": 11}),
                json!({"emin": 0}),
                json!({"emax": 100}),
                json!({"mult": 0.35}),
                json!({"mult5": 7}),
                json!({"big": 2000000}),
                json!({"min": "0"}),
            ],
        ),
        case(
            "strings",
            r#"{"properties": {"short": {"maxLength": 3}, "long": {"minLength": 2},
                "tag": {"pattern": "^v\\d+\\.\\d+$"}, "dns": {"pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "unicode": {"maxLength": 2}}}"#,
            vec![
                json!({"short": "abc", "long": "ab", "tag": "v1.2", "dns": "my-app", "unicode": "éé"}),
                json!({"short": "abcd"}),
                json!({"long": "a"}),
                json!({"tag": "1.2"}),
                json!({"dns": "My_App"}),
                json!({"unicode": "ééé"}),
                json!({"tag": "v١.٢"}),
                json!({"short": 12345}),
            ],
        ),
        case(
            "arrays",
            r#"{"properties": {"hosts": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
                "uniq": {"uniqueItems": true}, "tuple": {"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false},
                "tuple2": {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}}}"#,
            vec![
                json!({"hosts": ["a"], "uniq": [1, 2], "tuple": ["a", 1], "tuple2": ["a", 1, 2]}),
                json!({"hosts": []}),
                json!({"hosts": ["a", "b", "c", "d"]}),
                json!({"hosts": ["a", 2, "c", true]}),
                json!({"uniq": [1, 2, 1.0]}),
                json!({"uniq": [{"a": 1}, {"a": 1}]}),
                json!({"tuple": ["a", 1, 2]}),
                json!({"tuple": [1, "a"]}),
                json!({"tuple2": ["a", 1, "x", "y"]}),
            ],
        ),
        case(
            "contains",
            r#"{"properties": {"c": {"contains": {"const": "x"}}, "mc": {"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3}}}"#,
            vec![
                json!({"c": ["x"], "mc": [1, 2]}),
                json!({"c": ["a", "b"]}),
                json!({"mc": [1, "a"]}),
                json!({"mc": ["a"]}),
                json!({"mc": [1, 2, 3, 4]}),
            ],
        ),
        case(
            "allOf anyOf oneOf not",
            r#"{"properties": {
                "all": {"allOf": [{"type": "integer"}, {"minimum": 5}, {"maximum": 10}]},
                "any": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
                "one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 1}]},
                "not": {"not": {"type": "string"}}}}"#,
            vec![
                json!({"all": 7, "any": "s", "one": 0.5, "not": 1}),
                json!({"all": 2}),
                json!({"all": "x"}),
                json!({"all": 12.5}),
                json!({"any": -1}),
                json!({"any": true}),
                json!({"one": 3}),
                json!({"one": "x"}),
                json!({"not": "s"}),
            ],
        ),
        case(
            "if then else",
            r#"{"if": {"properties": {"kind": {"const": "DaemonSet"}}, "required": ["kind"]},
                "then": {"properties": {"replicas": false}},
                "else": {"required": ["replicas"]}}"#,
            vec![
                json!({"kind": "DaemonSet"}),
                json!({"kind": "Deployment", "replicas": 1}),
                json!({"kind": "DaemonSet", "replicas": 2}),
                json!({"kind": "Deployment"}),
            ],
        ),
        case(
            "refs to $defs",
            r##"{"$defs": {"port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "svc": {"type": "object", "properties": {"port": {"$ref": "#/$defs/port"}, "name": {"type": "string"}}, "required": ["port"]}},
                "properties": {"service": {"$ref": "#/$defs/svc"}, "extra": {"type": "array", "items": {"$ref": "#/$defs/svc"}}}}"##,
            vec![
                json!({"service": {"port": 80}}),
                json!({"service": {"port": 0}}),
                json!({"service": {"port": "80", "name": 1}}),
                json!({"service": {}}),
                json!({"extra": [{"port": 1}, {"name": "x"}, {"port": 70000}]}),
            ],
        ),
        case(
            "draft-07 definitions",
            r##"{"$schema": "http://json-schema.org/draft-07/schema#",
                "definitions": {"res": {"type": "object", "properties": {"cpu": {"type": ["string", "number"]}}, "additionalProperties": false}},
                "properties": {"resources": {"properties": {"limits": {"$ref": "#/definitions/res"}, "requests": {"$ref": "#/definitions/res", "type": "string"}}}},
                "dependencies": {"tls": ["cert", "key"]}}"##,
            vec![
                json!({"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": 1}}}),
                json!({"resources": {"limits": {"cpu": true, "memory": "1Gi"}}}),
                json!({"resources": {"requests": {"mem": 1}}}),
                json!({"tls": true}),
                json!({"tls": true, "cert": "c"}),
            ],
        ),
        case(
            "draft-07 formats",
            r#"{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {
                "email": {"format": "email"}, "host": {"format": "hostname"}, "ip": {"format": "ipv4"},
                "date": {"format": "date"}, "dt": {"format": "date-time"}, "uri": {"format": "uri"},
                "uuid": {"format": "uuid"}, "dur": {"format": "duration"}, "re": {"format": "regex"},
                "custom": {"format": "no-such-format"}}}"#,
            vec![
                json!({"email": "a@b.io", "host": "example.com", "ip": "10.0.0.1", "date": "2024-02-29",
                       "dt": "2024-01-01T10:00:00Z", "uri": "https://x.io/a", "uuid": "123e4567-e89b-12d3-a456-426614174000",
                       "dur": "P1DT2H", "re": "^a+$", "custom": "anything"}),
                json!({"email": "nobody"}),
                json!({"host": "-bad-.com"}),
                json!({"ip": "256.1.1.1"}),
                json!({"ip": "1.2.3"}),
                json!({"date": "2023-02-29"}),
                json!({"date": "2024-13-01"}),
                json!({"date": "24-01-01"}),
                json!({"dt": "2024-01-01 10:00:00Z"}),
                json!({"uri": "/relative"}),
                json!({"uuid": "123"}),
                json!({"dur": "1D"}),
                json!({"re": "(unclosed"}),
                json!({"email": 5}),
            ],
        ),
        case(
            "2020-12 formats are annotations",
            r#"{"properties": {"email": {"format": "email"}, "ip": {"format": "ipv4"}}}"#,
            vec![json!({"email": "nobody", "ip": "999.1.1.1"})],
        ),
        case(
            "dependentRequired and property counts",
            r#"{"dependentRequired": {"tls": ["secretName"]}, "minProperties": 1, "maxProperties": 3,
                "propertyNames": {"pattern": "^[a-z]+$"}}"#,
            vec![
                json!({"tls": true, "secretName": "s"}),
                json!({"tls": true}),
                json!({"a": 1, "b": 2, "c": 3, "d": 4}),
                json!({"Bad": 1}),
            ],
        ),
        case(
            "unevaluatedProperties",
            r##"{"allOf": [{"properties": {"a": {"type": "string"}}}],
                "properties": {"b": {"type": "integer"}}, "unevaluatedProperties": false}"##,
            vec![
                json!({"a": "x", "b": 1}),
                json!({"a": "x", "c": 1}),
                json!({"a": 1}),
            ],
        ),
        case(
            "nested error tree",
            r##"{"$defs": {"probe": {"type": "object", "properties": {"path": {"type": "string"}, "port": {"type": "integer"}}}},
                "properties": {"probes": {"type": "object", "properties": {
                    "liveness": {"$ref": "#/$defs/probe"}, "readiness": {"allOf": [{"$ref": "#/$defs/probe"}, {"required": ["port"]}]}}}}}"##,
            vec![
                json!({"probes": {"liveness": {"path": 1, "port": "x"}}}),
                json!({"probes": {"readiness": {"path": 1}}}),
            ],
        ),
        case(
            "boolean and empty schemas",
            r#"{"properties": {"anything": true, "nothing": false, "empty": {}}}"#,
            vec![
                json!({"anything": [1], "empty": {"x": 1}}),
                json!({"nothing": 1}),
            ],
        ),
        case(
            "exclusive bounds in draft-04",
            r#"{"$schema": "http://json-schema.org/draft-04/schema#",
                "properties": {"p": {"minimum": 0, "exclusiveMinimum": true, "maximum": 10, "exclusiveMaximum": true}}}"#,
            vec![json!({"p": 5}), json!({"p": 0}), json!({"p": 10})],
        ),
        case(
            "anchors and $id",
            r##"{"$id": "https://example.com/chart.schema.json",
                "$defs": {"name": {"$anchor": "name", "type": "string", "minLength": 1}},
                "properties": {"a": {"$ref": "#name"}, "b": {"$ref": "chart.schema.json#/$defs/name"}}}"##,
            vec![json!({"a": "x", "b": "y"}), json!({"a": "", "b": 2})],
        ),
        case(
            "recursive ref",
            r##"{"$defs": {"node": {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
                "properties": {"tree": {"$ref": "#/$defs/node"}}}"##,
            vec![
                json!({"tree": {"name": "a", "children": [{"name": "b", "children": []}]}}),
                json!({"tree": {"name": "a", "children": [{"name": "b", "children": [{"name": 3}]}]}}),
            ],
        ),
        case(
            "special characters in keys and values",
            r#"{"properties": {"a/b": {"type": "string"}, "c~d": {"type": "string"}, "it's": {"enum": ["q\"uote", "it's", "tab\tnl\n"]}}}"#,
            vec![json!({"a/b": 1, "c~d": 2}), json!({"it's": "nope"})],
        ),
        case(
            "numbers as Helm's message printer shows them",
            r#"{"properties": {"n": {"minimum": 1e300}, "m": {"maximum": -1.5e-7},
                "s": {"minLength": 1234567}, "l": {"minItems": 1000}, "k": {"multipleOf": 1000}}}"#,
            vec![
                json!({"n": 1234.5678}),
                json!({"n": 1234567}),
                json!({"n": 0.00001}),
                json!({"m": 100000.5}),
                json!({"s": "abc", "l": [1, 2]}),
                json!({"k": 12345.5}),
            ],
        ),
        case(
            "oneOf matching twice",
            r#"{"properties": {"o": {"oneOf": [{"type": "integer"}, {"minimum": 0}, {"maximum": 5}]}}}"#,
            vec![json!({"o": 3}), json!({"o": -1.5}), json!({"o": "x"})],
        ),
        case(
            "reference cycle",
            r##"{"properties": {"a": {"$ref": "#/properties/a"}}}"##,
            vec![json!({}), json!({"a": 1})],
        ),
        case(
            "draft-07 $ref siblings",
            r##"{"$schema": "http://json-schema.org/draft-07/schema#",
                "definitions": {"s": {"type": "string"}},
                "properties": {"a": {"$ref": "#/definitions/s", "maxLength": 2, "const": "abc"}}}"##,
            vec![json!({"a": "abc"}), json!({"a": "abcd"}), json!({"a": 1})],
        ),
        case(
            "draft-07 tuples",
            r#"{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {
                "t": {"items": [{"type": "string"}, {"type": "integer"}], "additionalItems": false},
                "u": {"items": [{"type": "string"}], "additionalItems": {"type": "boolean"}}}}"#,
            vec![
                json!({"t": ["a", 1], "u": ["a", true]}),
                json!({"t": ["a", 1, 2, 3]}),
                json!({"u": ["a", true, 1, "x"]}),
            ],
        ),
        case(
            "draft 2019-09 recursive refs",
            r##"{"$schema": "https://json-schema.org/draft/2019-09/schema", "$recursiveAnchor": true,
                "type": "object", "properties": {"name": {"type": "string"}, "child": {"$recursiveRef": "#"}},
                "additionalProperties": false}"##,
            vec![
                json!({"name": "a", "child": {"name": "b"}}),
                json!({"name": "a", "child": {"name": 1, "x": 2}}),
            ],
        ),
        case(
            "2020-12 dynamic refs",
            r##"{"$dynamicAnchor": "node", "type": "object",
                "properties": {"v": {"type": "integer"}, "next": {"$dynamicRef": "#node"}}}"##,
            vec![
                json!({"v": 1, "next": {"v": 2}}),
                json!({"next": {"next": {"v": "x"}}}),
            ],
        ),
        case(
            "draft-07 date-time and time",
            r#"{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {
                "dt": {"format": "date-time"}, "t": {"format": "time"}, "ip6": {"format": "ipv6"},
                "ref": {"format": "uri-reference"}, "sv": {"format": "semver"}}}"#,
            vec![
                json!({"dt": "2024-01-01T25:00:00Z"}),
                json!({"t": "10:00:00+0100"}),
                json!({"dt": "2024-01-01T10:00:00.5+01:00", "t": "23:59:60Z", "ip6": "::1", "ref": "a/b#c", "sv": "1.2.3-rc.1"}),
                json!({"ref": "%zz"}),
                json!({"sv": "1.02.3"}),
                json!({"dt": "2024-01-32T10:00:00Z"}),
            ],
        ),
        case(
            "values with big and fractional numbers",
            r#"{"properties": {"i": {"type": "integer"}, "e": {"enum": [1000000, 0.25]}}}"#,
            vec![
                json!({"i": 1e6, "e": 1e6}),
                json!({"i": 1.0e21, "e": 0.25}),
                json!({"i": 0.1, "e": 0.3}),
            ],
        ),
        // Schemas Helm refuses to use.
        case(
            "2020-12 bad keyword values",
            r#"{"properties": {"a": {"minLength": -1}, "b": {"required": "x"}, "c": {"enum": 3},
                "d": {"type": ["string", "string"]}, "e": {"items": 5}}}"#,
            vec![json!({})],
        ),
        case(
            "bad patternProperties key",
            r#"{"patternProperties": {"([a-z": {"type": "string"}}}"#,
            vec![json!({})],
        ),
        case(
            "bad regexes",
            r#"{"properties": {"a": {"pattern": "a**"}, "b": {"pattern": "(?<name"}, "c": {"pattern": "x)"}}}"#,
            vec![json!({})],
        ),
        case(
            "duplicate ids",
            r##"{"$defs": {"a": {"$id": "https://x.io/a"}, "b": {"$id": "https://x.io/a"}}}"##,
            vec![json!({})],
        ),
        case(
            "missing anchor",
            r##"{"properties": {"a": {"$ref": "#nowhere"}}}"##,
            vec![json!({})],
        ),
        case(
            "draft-04 bad keyword values",
            r#"{"$schema": "http://json-schema.org/draft-04/schema#", "properties": {
                "a": true, "b": {"exclusiveMinimum": true}, "c": {"required": []},
                "d": {"minimum": "x", "exclusiveMaximum": 1}, "e": {"additionalProperties": 5}}}"#,
            vec![json!({})],
        ),
        case(
            "draft-06 bad keyword values",
            r#"{"$schema": "http://json-schema.org/draft-06/schema#", "properties": {
                "a": {"enum": []}, "b": {"enum": [1, 1]}, "c": {"type": "int"}, "d": {"$ref": 5}}}"#,
            vec![json!({})],
        ),
        case(
            "draft 2019-09 bad keyword values",
            r#"{"$schema": "https://json-schema.org/draft/2019-09/schema", "properties": {
                "a": {"minLength": -1}, "b": {"items": [{"type": "nope"}]}, "c": {"$anchor": "1x"}}}"#,
            vec![json!({})],
        ),
        case(
            "draft-06 bad pattern property",
            r#"{"$schema": "http://json-schema.org/draft-06/schema#", "patternProperties": {"([": {}}}"#,
            vec![json!({})],
        ),
        case("empty schema file", "", vec![json!({})]),
        case("invalid character", r#"{"a": tru}"#, vec![json!({})]),
        case("bad escape", r#"{"a": "\x"}"#, vec![json!({})]),
        case(
            "not JSON",
            r#"{"properties": {"a": {"type": "string"},}}"#,
            vec![json!({})],
        ),
        case("truncated JSON", r#"{"properties": "#, vec![json!({})]),
        case("trailing data", r#"{} {}"#, vec![json!({})]),
        case(
            "unknown type name",
            r#"{"properties": {"replicas": {"type": "int"}}}"#,
            vec![json!({})],
        ),
        case(
            "draft-07 bad keyword values",
            r#"{"$schema": "http://json-schema.org/draft-07/schema#",
                "properties": {"a": {"minLength": -1}, "b": {"required": "x"}}}"#,
            vec![json!({})],
        ),
        case(
            "bad minimum",
            r#"{"properties": {"r": {"minimum": "1"}}}"#,
            vec![json!({"r": 1})],
        ),
        case(
            "bad pattern",
            r#"{"properties": {"r": {"pattern": "(?=x)"}}}"#,
            vec![json!({"r": "x"})],
        ),
        case(
            "missing ref target",
            r##"{"properties": {"r": {"$ref": "#/definitions/nope"}}}"##,
            vec![json!({})],
        ),
        case(
            "unused broken ref",
            r##"{"$defs": {"unused": {"$ref": "#/$defs/nope"}}, "properties": {"r": {"type": "string"}}}"##,
            vec![json!({"r": "x"}), json!({"r": 1})],
        ),
        case("schema that is not an object", r#"[1, 2]"#, vec![json!({})]),
        Case {
            name: "subcharts",
            schema: r#"{"properties": {"name": {"type": "string"}}, "required": ["name"]}"#,
            defaults: "name: top\n",
            subs: &[
                Sub {
                    name: "db",
                    schema: Some(
                        r#"{"properties": {"port": {"type": "integer"}}, "required": ["port"]}"#,
                    ),
                    defaults: "port: 5432\n",
                    subs: &[Sub {
                        name: "metrics",
                        schema: Some(r#"{"properties": {"enabled": {"type": "boolean"}}}"#),
                        defaults: "enabled: false\n",
                        subs: &[],
                    }],
                },
                Sub {
                    name: "cache",
                    schema: None,
                    defaults: "size: 1\n",
                    subs: &[Sub {
                        name: "inner",
                        schema: Some(r#"{"properties": {"size": {"maximum": 10}}}"#),
                        defaults: "size: 1\n",
                        subs: &[],
                    }],
                },
            ],
            values: vec![
                json!({}),
                json!({"name": 1}),
                json!({"db": {"port": "x"}}),
                json!({"name": 2, "db": {"port": "x", "metrics": {"enabled": "yes"}}}),
                json!({"cache": {"inner": {"size": 100}}}),
                json!({"name": null}),
                json!({"db": {"port": null}}),
                json!({"global": {"x": 1}, "db": {"metrics": {"enabled": 1}}}),
            ],
        },
        Case {
            name: "subchart with broken schema",
            schema: r#"{"properties": {"name": {"type": "string"}}}"#,
            defaults: "",
            subs: &[Sub {
                name: "sub",
                schema: Some(r##"{"properties": {"a": {"$ref": "#/nope"}}}"##),
                defaults: "",
                subs: &[],
            }],
            values: vec![json!({"name": 1, "sub": {"a": 1}})],
        },
        Case {
            name: "defaults break the schema",
            schema: r#"{"properties": {"replicas": {"type": "integer", "minimum": 1}}}"#,
            defaults: "replicas: 0\n",
            subs: &[],
            values: vec![json!({}), json!({"replicas": 2}), json!({"replicas": null})],
        },
    ]
}

#[test]
fn schemas_judge_values_as_helm_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all = Vec::new();
    for (i, c) in cases().into_iter().enumerate() {
        let chart = dir.path().join(format!("case{i}"));
        write_chart(&chart, "top", Some(c.schema), c.defaults, c.subs);
        for (j, values) in c.values.into_iter().enumerate() {
            all.push((format!("{} #{j}", c.name), chart.clone(), values));
        }
    }
    let (differences, refused) = compare(&all);
    println!("{} cases, {refused} refused by Helm", all.len());
    assert!(
        all.len() >= 40 && refused >= 20,
        "too few cases exercise failures"
    );
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        all.len(),
        differences.join("\n")
    );
}

/// The corpus charts that ship a values.schema.json: their defaults pass, and
/// broken values fail with Helm's messages (subcharts' schemas included).
#[test]
fn corpus_schemas_judge_values_as_helm_does() {
    let charts: Vec<(&str, Vec<serde_json::Value>)> = vec![
        (
            "nginx",
            vec![
                json!({}),
                json!({"replicaCount": "two"}),
                json!({"replicaCount": 2.5, "service": {"type": 1}, "metrics": {"enabled": "yes"}}),
                json!({"ingress": {"hostname": 5, "extraHosts": {}}}),
            ],
        ),
        (
            "redis",
            vec![
                json!({}),
                json!({"architecture": 5}),
                json!({"master": {"count": "x"}, "replica": {"replicaCount": "3"}}),
                json!({"auth": {"enabled": "no"}, "sentinel": {"enabled": 1}}),
            ],
        ),
        (
            "traefik",
            vec![
                json!({}),
                json!({"deployment": {"replicas": "two"}}),
                json!({"notAnOption": true, "alsoNot": 1}),
                json!({"ports": {"web": {"port": "80", "expose": "yes"}}}),
                json!({"logs": {"general": {"level": "LOUD"}}, "service": {"type": 3}}),
                json!({"deployment": {"replicas": -1}, "image": {"tag": 3.1}}),
            ],
        ),
        (
            "cert-manager",
            vec![
                json!({}),
                json!({"replicaCount": "3"}),
                json!({"notAKey": true}),
                json!({"webhook": {"replicaCount": "x", "unknown": 1}}),
                json!({"podDisruptionBudget": {"enabled": "yes"}, "image": {"pullPolicy": 1}}),
                json!({"crds": {"enabled": "true"}, "resources": {"limits": 5}}),
            ],
        ),
        (
            "prometheus",
            vec![
                json!({}),
                json!({"server": {"replicaCount": "x"}}),
                json!({"alertmanager": {"replicaCount": "two"}}),
                json!({"alertmanager": {"image": {"tag": 5}, "persistence": {"size": 1}}}),
                json!({"rbac": {"create": "yes"}, "alertmanager": {"config": 3}}),
                json!({"alertmanager": 5}),
            ],
        ),
    ];
    let mut all = Vec::new();
    for (name, values) in charts {
        let Some(corpus) = corpus() else { return };
        let chart = corpus.join(name);
        assert!(
            chart.join("values.schema.json").is_file(),
            "{name} has no schema"
        );
        for (j, v) in values.into_iter().enumerate() {
            all.push((format!("{name} #{j}"), chart.clone(), v));
        }
    }
    let (differences, refused) = compare(&all);
    println!("{} cases, {refused} refused by Helm", all.len());
    assert!(refused >= 15, "too few corpus cases exercise failures");
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        all.len(),
        differences.join("\n")
    );
}
