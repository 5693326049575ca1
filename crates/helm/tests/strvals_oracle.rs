//! `--set`, `--set-string`, `--set-json`, `--set-literal` and `--set-file`
//! expressions against the Helm SDK: each one parsed by Helm 4's strvals and by
//! ferroflux-helm's must give the same values (compared as JSON) or the same error
//! message.

use std::collections::BTreeMap;

use ferroflux_gotemplate::{gojson, Value};
use ferroflux_helm::strvals;

mod common;

/// Valid and invalid expressions of each kind. In `file` expressions `{dir}` stands
/// for a directory holding `one.txt`, `two.txt` and `sub/`.
const CASES: &[(&str, &str)] = &[
    // --set: typing
    ("set", "name1=null,f=false,t=true"),
    ("set", "a=1,b=-0123,c=+5,d=0,e=00009,f=1.5,g=0x10,h=1e5,i=TRUE,j=Null,k=FaLsE"),
    ("set", "a=9223372036854775807,b=9223372036854775808,c=-9223372036854775808,d=-9223372036854775809"),
    ("set", "a=falſe,b=nuLL,c=ſ"),
    ("set", "a= 5,b=5 ,c=-,d=+"),
    ("set", "long_int=1234567890,zero_int=0"),
    // --set: structure
    ("set", "name1=value1,name2=value2,"),
    ("set", "name1=,name2=value2"),
    ("set", "outer.inner1=value,outer.middle.inner=value"),
    ("set", "name1={value1,value2},name2={1021,902}"),
    ("set", "a={},b={,},c={a,b},d=1"),
    ("set", "a={1,2},a[3]=x"),
    ("set", "list[0]=foo,list[3]=bar"),
    ("set", "list[0].foo=bar,list[0].hello=world"),
    ("set", "nested[1][1]=1,nested[0][2]=x"),
    ("set", "name1.name2[1].foo=bar,name1.name2[0].foo=bar"),
    ("set", "noval[0]"),
    ("set", "noval[0]="),
    ("set", "a[+1]=1"),
    ("set", "a[0]=1,a[0]."),
    ("set", "a[0][0]=1,a[0][0]."),
    ("set", "a[0]=1,a[0]=2,a[2]"),
    ("set", "a[0].b=1,a[0]=x"),
    ("set", "a[1][2]"),
    ("set", "a.b[0]"),
    ("set", "a.b["),
    ("set", "a[1"),
    ("set", "a."),
    ("set", ""),
    ("set", "=1"),
    ("set", "[0]=1"),
    // --set: escapes and odd characters
    ("set", r"name1=one\,two,name2=three\=four,name3=a\.b"),
    ("set", r"a\.b=1,c\[0\]=2,d\\e=3"),
    ("set", "a=\\"),
    ("set", "a=b\\"),
    ("set", "a=b=c,k=\"x\"=1"),
    ("set", "ü=ü,\u{a0}=1,a\n=2"),
    ("set", "a={x\\,y,z\\}}"),
    // --set: errors
    ("set", "a"),
    ("set", "a\\"),
    ("set", "name1,name2=value2"),
    ("set", "name1=value1,,,,name2=value2,"),
    ("set", "a=1,,"),
    ("set", ","),
    ("set", "name1.name2"),
    ("set", "name1.=name2"),
    ("set", "a..b=1"),
    ("set", "name1.,name2"),
    ("set", "name1={1021,902"),
    ("set", "a={a,b}c"),
    ("set", "a={a,{b}}"),
    ("set", "a[x]=1"),
    ("set", "a[ 1]=1"),
    ("set", "a[]=1"),
    ("set", "a[99999999999999999999]=1"),
    ("set", "a[\u{1}]=1"),
    ("set", "a[é]=1"),
    ("set", "list[0].foo=bar,list[-30].hello=world"),
    ("set", "a[-1]=x"),
    ("set", "a[65536]=x"),
    ("set", "a[65537]=x"),
    ("set", "a[70000].b=1"),
    ("set", "a[70000].b"),
    ("set", "a[1]x=1"),
    ("set", "illegal[0]name.foo=bar"),
    ("set", "a[0]b\"c'\\\\d\u{7}=1"),
    ("set", "]={}]."),
    ("set", "a=b,a[0]=1"),
    ("set", "a.b=1,a[0]=2"),
    ("set", "a=1,a[0]=2"),
    ("set", "a[0]=1,a[0][0]=2"),
    ("set", "a=null,a.b=1"),
    ("set", "a=true,a.b=1"),
    ("set", "a=x,a.b=1"),
    ("set", "a[0]=x,a[0][1]=y"),
    ("set", "n1.n2.n3.n4.n5.n6.n7.n8.n9.n10.n11.n12.n13.n14.n15.n16.n17.n18.n19.n20.n21.n22.n23.n24.n25.n26.n27.n28.n29.n30.n31=v"),
    ("set", "n1.n2.n3.n4.n5.n6.n7.n8.n9.n10.n11.n12.n13.n14.n15.n16.n17.n18.n19.n20.n21.n22.n23.n24.n25.n26.n27.n28.n29.n30.n31.n32=v"),
    // --set-string
    ("string", "long_int_string=1234567890,boolean=true,is_null=null,zero=0"),
    ("string", "a={1,true},b[1]=null"),
    ("string", r"a=x\,y,b.c=0123"),
    ("string", "a"),
    ("string", "a=1,a.b=2"),
    // --set-json
    ("json", r#"outer.inner1="1",outer.inner3=3,outer.inner4=true,outer.inner5="true""#),
    ("json", r#"a={"a":"1","b":2,"c":[1,2,3]},b=["x","y"],c=[{"A":"1"}]"#),
    ("json", r#"outer.inner1=,outer.inner3={"aa":"1","cc":[1,2,3]},outer.inner3.cc[1]=null"#),
    ("json", "a=1.5,b=1.5e3,c=-0,d=1e21,e=12345678901234567890,f=0.0000001,g=-1e-400"),
    ("json", "a= ,b=2"),
    ("json", "a=1 b=2"),
    ("json", "a= 5,b=\t6"),
    ("json", r#"a="\ud800",b="\ud800\u0041",c="\ud83d\ude00",d="é\u00e9",e="\/\b\f\n\r\t""#),
    ("json", r#"a={"a":1,"a":2}"#),
    ("json", "a[1]=,b[0]=1 ,c=[]"),
    ("json", r#"a[0]={"b":2},a[0].c=3"#),
    ("json", r#"a={"b":[1]},a.b[3]=1"#),
    ("json", "a=1 2"),
    ("json", r#"a={"x":1}}"#),
    ("json", "a=truex"),
    ("json", "a=01"),
    ("json", "a=é"),
    ("json", "a='x'"),
    ("json", "a=\\"),
    ("json", "a=tru"),
    ("json", r#"a={"x":"#),
    ("json", "a=1."),
    ("json", "a=1e400"),
    ("json", r#"a={"x":[1e400]}"#),
    ("json", "a=[1,1e400,x]"),
    ("json", "a=[1,]"),
    ("json", r#"a={"a":1,}"#),
    ("json", "a={1:2}"),
    ("json", "a=\"\t\""),
    ("json", "a=[1 2]"),
    ("json", r#"a={"a" 1}"#),
    ("json", r#"a={"a":1 "b":2}"#),
    ("json", "a=nx"),
    ("json", r#"a="\x""#),
    ("json", r#"a="\u12x4""#),
    ("json", "a=1.x,b=1"),
    ("json", "a=1ex"),
    ("json", "a=-x"),
    ("json", "a=\u{85}x"),
    ("json", "a=1,a.b=2"),
    ("json", "a"),
    // --set-literal
    ("literal", "name1=null,name2=value2"),
    ("literal", "name1=value,,,tail"),
    ("literal", "outer.inner=value,x"),
    ("literal", "name1={value1,value2}"),
    ("literal", "list[3]=bar"),
    ("literal", "nested[1][1]=1"),
    ("literal", "name1.name2[1].foo=bar"),
    ("literal", "]={}]."),
    ("literal", r"name={val,.?*v\0a!l)some"),
    ("literal", r"name=em%GT)tqUDqz,i-\h+Mbqs-!:.m\\rE=mkbM#rR}@{-k@"),
    ("literal", r"a\.b=1"),
    ("literal", "a=1,a[0]=1"),
    ("literal", ""),
    ("literal", "."),
    ("literal", "noval[0]"),
    ("literal", "name"),
    ("literal", ","),
    ("literal", "a..b=1"),
    ("literal", "a[x]=1"),
    ("literal", "a[0]b"),
    ("literal", "a[-1]=1"),
    ("literal", "a.b=1,a[0]=2"),
    // --set-file
    ("file", "a={dir}/one.txt"),
    ("file", "a={dir}/one.txt,b.c[1]={dir}/two.txt"),
    ("file", "a={{dir}/one.txt,{dir}/two.txt}"),
    ("file", "a="),
    ("file", "a={dir}/missing.txt"),
    ("file", "a={dir}/sub"),
    ("file", "a={}"),
    ("file", "a={dir}/one.txt,b"),
];

/// The Helm SDK's answers, one per case.
fn helm(cases: &[(String, String)]) -> Vec<serde_json::Value> {
    let request: Vec<serde_json::Value> = cases
        .iter()
        .map(|(kind, expr)| serde_json::json!({"kind": kind, "expr": expr}))
        .collect();
    let answer = common::sdk("strvals_oracle.py", &serde_json::Value::Array(request));
    serde_json::from_value(answer).expect("the SDK script's answer")
}

/// A file as Go's os.ReadFile reads it, with its error messages.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("open {path}: no such file or directory"),
        std::io::ErrorKind::IsADirectory => format!("read {path}: is a directory"),
        std::io::ErrorKind::PermissionDenied => format!("open {path}: permission denied"),
        _ => format!("open {path}: {e}"),
    })
}

/// Our answer, shaped as the oracle script shapes Helm's.
fn ours(kind: &str, expr: &str) -> serde_json::Value {
    let mut values = BTreeMap::new();
    let result = match kind {
        "set" => strvals::parse_set(expr, &mut values),
        "string" => strvals::parse_set_string(expr, &mut values),
        "json" => strvals::parse_set_json(expr, &mut values),
        "literal" => strvals::parse_set_literal(expr, &mut values),
        "file" => strvals::parse_set_file(expr, &mut values, read_file),
        other => panic!("unknown kind {other}"),
    };
    match result {
        // Through Go's json.Marshal, as the SDK hands its result over.
        Ok(()) => {
            let text = gojson::marshal(&Value::map(values), false).expect("marshals");
            serde_json::json!({ "ok": serde_json::from_str::<serde_json::Value>(&text).expect("JSON") })
        }
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

/// Numbers compared by value: Go prints float64 -0 as `-0`, which Python reads
/// back as the integer 0.
fn normalize(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => {
            if n.as_f64() == Some(0.0) {
                serde_json::json!(0)
            } else {
                value.clone()
            }
        }
        serde_json::Value::Array(items) => items.iter().map(normalize).collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), normalize(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

#[test]
fn strvals_agree_with_helm() {
    assert!(CASES.len() >= 40);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("one.txt"), "first\nfile\n").expect("one.txt");
    std::fs::write(dir.path().join("two.txt"), "second, with = and \\").expect("two.txt");
    std::fs::create_dir(dir.path().join("sub")).expect("sub/");
    let dir_text = dir.path().to_str().expect("a UTF-8 temporary path");
    let cases: Vec<(String, String)> = CASES
        .iter()
        .map(|(kind, expr)| ((*kind).to_owned(), expr.replace("{dir}", dir_text)))
        .collect();

    let theirs = helm(&cases);
    assert_eq!(theirs.len(), cases.len(), "one answer per case");
    let mut differences = Vec::new();
    let (mut values, mut errors) = (0, 0);
    for ((kind, expr), helm) in cases.iter().zip(&theirs) {
        let ours = ours(kind, expr);
        if helm.get("ok").is_some() {
            values += 1;
        } else {
            errors += 1;
        }
        if normalize(&ours) != normalize(helm) {
            differences.push(format!("{kind} {expr:?}\n  helm: {helm}\n  ours: {ours}"));
        }
    }
    println!(
        "{} cases: {values} parsed, {errors} refused by Helm",
        cases.len()
    );
    assert!(
        values >= 20 && errors >= 20,
        "both kinds of case are covered"
    );
    assert!(
        differences.is_empty(),
        "{} of {} cases differ from Helm:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
}

/// Expressions made up from the characters and pieces the parsers treat specially,
/// by a fixed pseudo-random sequence: the same each run.
#[test]
fn generated_expressions_agree_with_helm() {
    let characters: Vec<char> = "ab=[].,{}\\01-9 \":ntxe+é".chars().collect();
    let pieces = [
        "a",
        "b",
        "=",
        "[0]",
        "[1]",
        "[2]",
        "[-1]",
        ".",
        ",",
        "{",
        "}",
        "\\,",
        "\\",
        "1",
        "0",
        "null",
        "true",
        "x",
        "\"s\"",
        "[",
        "]",
        "{\"k\":1}",
        " ",
        "[1,2]",
        "a.b",
        "=1,",
        "=x,",
    ];
    let kinds = ["set", "string", "json", "literal"];
    let mut state: u64 = 0x1234_5678;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).expect("31 bits")
    };
    let cases: Vec<(String, String)> = (0..10_000)
        .map(|_| {
            let kind = kinds[next() % kinds.len()];
            let len = 1 + next() % 10;
            let expr: String = if next() % 2 == 0 {
                (0..len)
                    .map(|_| characters[next() % characters.len()])
                    .collect()
            } else {
                (0..len).map(|_| pieces[next() % pieces.len()]).collect()
            };
            (kind.to_owned(), expr)
        })
        .collect();
    let theirs = helm(&cases);
    assert_eq!(theirs.len(), cases.len(), "one answer per case");
    let differences: Vec<String> = cases
        .iter()
        .zip(&theirs)
        .filter_map(|((kind, expr), helm)| {
            let ours = ours(kind, expr);
            (normalize(&ours) != normalize(helm))
                .then(|| format!("{kind} {expr:?}\n  helm: {helm}\n  ours: {ours}"))
        })
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} generated cases differ from Helm:\n{}",
        differences.len(),
        cases.len(),
        differences
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
