//! Oracle suite: every fixture under `tests/fixtures/oracle/` is built both by
//! `kubectl kustomize` (the reference, kustomize v5.5.0 inside kubectl 1.32)
//! and by `ferroflux_kustomize::build_dir`; the documents must be equal as data
//! and come out in the same order.
//!
//! Fixture layout: `NN-name/` is a kustomize root, unless it holds a `ROOT`
//! file naming the sub-directory to build (e.g. `overlays/prod`).
//! `tests/fixtures/errors/NN-name/` are builds that must fail; their `EXPECT`
//! file holds a substring our error message must contain, and `KUBECTL` keeps
//! kubectl's own message for reference.
//!
//! `FERROFLUX_ORACLE_ONLY=<prefix>` restricts both tests to fixtures whose
//! directory name starts with the prefix (for debugging one case).
//! `FERROFLUX_KUBECTL=<path>` overrides the kubectl binary.

mod common;

use std::path::{Path, PathBuf};

use common::{compare_docs, json_diff, kubectl_all, run_engine, KubectlRun, MAX_DIFFS_PER_DOC};
use serde_json::Value;

/// Below this many fixtures the suite is probably pointing at the wrong directory.
const MIN_ORACLE_FIXTURES: usize = 40;

fn fixtures_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(kind)
}

struct Fixture {
    name: String,
    /// The directory handed to both builders (fixture dir or its `ROOT`).
    root: PathBuf,
    dir: PathBuf,
}

/// Fixture directories in sorted order, honouring `FERROFLUX_ORACLE_ONLY`.
fn list_fixtures(kind: &str) -> Vec<Fixture> {
    let base = fixtures_dir(kind);
    let only = std::env::var("FERROFLUX_ORACLE_ONLY").ok();
    let mut fixtures: Vec<Fixture> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("reading fixture directory {}: {e}", base.display()))
        .map(|entry| entry.expect("reading fixture directory entry").path())
        .filter(|path| path.is_dir())
        .filter_map(|dir| {
            let name = dir.file_name()?.to_str()?.to_owned();
            if let Some(prefix) = &only {
                if !name.starts_with(prefix.as_str()) {
                    return None;
                }
            }
            let root = match std::fs::read_to_string(dir.join("ROOT")) {
                Ok(rel) => dir.join(rel.trim()),
                Err(_) => dir.clone(),
            };
            Some(Fixture { name, root, dir })
        })
        .collect();
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    fixtures
}

#[test]
fn oracle_suite() {
    let fixtures = list_fixtures("oracle");
    let filtered = std::env::var("FERROFLUX_ORACLE_ONLY").is_ok();
    if !filtered {
        assert!(
            fixtures.len() >= MIN_ORACLE_FIXTURES,
            "expected at least {MIN_ORACLE_FIXTURES} oracle fixtures in {}, found {}",
            fixtures_dir("oracle").display(),
            fixtures.len()
        );
    }
    if filtered && fixtures.is_empty() {
        eprintln!("FERROFLUX_ORACLE_ONLY selects no oracle fixture");
        return;
    }
    assert!(!fixtures.is_empty(), "no oracle fixture found");

    let roots: Vec<PathBuf> = fixtures.iter().map(|f| f.root.clone()).collect();
    let kubectl_runs = kubectl_all(&roots);

    let mut failures = Vec::new();
    let mut byte_identical = Vec::new();
    for (fixture, kubectl) in fixtures.iter().zip(&kubectl_runs) {
        // Beyond equal data: is the printed text the same, byte for byte?
        if let (KubectlRun::Ok(stdout), Ok(Ok(docs))) = (kubectl, run_engine(&fixture.root)) {
            if ferroflux_kustomize::to_yaml_stream(&docs) == *stdout {
                byte_identical.push(fixture.name.clone());
            }
        }
        if let Some(report) = compare_docs(&fixture.root, kubectl) {
            failures.push(format!(
                "[{}] {}\n  {report}",
                fixture.name,
                fixture.root.display()
            ));
        }
    }
    eprintln!(
        "oracle suite: {} fixtures, {} passed, {} failed; {} byte-identical to kubectl's text",
        fixtures.len(),
        fixtures.len() - failures.len(),
        failures.len(),
        byte_identical.len()
    );
    if !failures.is_empty() {
        let names: Vec<&str> = failures
            .iter()
            .map(|f| f.split(']').next().unwrap_or("").trim_start_matches('['))
            .collect();
        panic!(
            "{} of {} oracle fixtures differ from kubectl kustomize: {}\n\n{}",
            failures.len(),
            fixtures.len(),
            names.join(", "),
            failures.join("\n\n")
        );
    }
}

#[test]
fn errors_name_the_file_or_field() {
    let fixtures = list_fixtures("errors");
    if fixtures.is_empty() && std::env::var("FERROFLUX_ORACLE_ONLY").is_ok() {
        eprintln!("FERROFLUX_ORACLE_ONLY selects no error fixture");
        return;
    }
    assert!(!fixtures.is_empty(), "no error fixture found");

    let roots: Vec<PathBuf> = fixtures.iter().map(|f| f.root.clone()).collect();
    let kubectl_runs = kubectl_all(&roots);

    let mut failures = Vec::new();
    for (fixture, kubectl) in fixtures.iter().zip(&kubectl_runs) {
        let expect_path = fixture.dir.join("EXPECT");
        let expect = std::fs::read_to_string(&expect_path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", expect_path.display()));
        let expect = expect.trim_end_matches(['\n', '\r']);
        assert!(!expect.is_empty(), "{} is empty", expect_path.display());

        let mut problems = Vec::new();
        if let KubectlRun::Ok(_) = kubectl {
            problems.push("kubectl kustomize succeeded, so this is not an error case".to_owned());
        }
        match run_engine(&fixture.root) {
            Ok(Ok(docs)) => problems.push(format!(
                "engine succeeded with {} documents; expected an error mentioning {expect:?}",
                docs.len()
            )),
            Ok(Err(msg)) if !msg.contains(expect) => {
                problems.push(format!("engine error does not contain {expect:?}: {msg}"))
            }
            Ok(Err(_)) => {}
            Err(panic) => problems.push(format!("engine panicked: {panic}")),
        }
        if !problems.is_empty() {
            failures.push(format!("[{}]\n  {}", fixture.name, problems.join("\n  ")));
        }
    }
    if !failures.is_empty() {
        panic!(
            "{} of {} error fixtures misbehave:\n\n{}",
            failures.len(),
            fixtures.len(),
            failures.join("\n\n")
        );
    }
}

/// The comparison relies on order-insensitive object equality; with serde_json's
/// `preserve_order` feature `Map` is an IndexMap, whose `==` ignores order.
/// This guards that assumption should the dependency's features change.
#[test]
fn json_object_equality_ignores_key_order() {
    let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":[1,{"p":1,"q":2}],"y":null}}"#)
        .expect("valid json");
    let b: Value = serde_json::from_str(r#"{"b":{"y":null,"x":[1,{"q":2,"p":1}]},"a":1}"#)
        .expect("valid json");
    assert_eq!(a, b);
    let mut diffs = Vec::new();
    json_diff("", Some(&a), Some(&b), &mut diffs, MAX_DIFFS_PER_DOC);
    assert!(diffs.is_empty(), "{diffs:?}");

    // Array order still matters, and differences are reported by path.
    let c: Value = serde_json::from_str(r#"{"a":1,"b":{"x":[{"p":1,"q":2},1],"y":null}}"#)
        .expect("valid json");
    let mut diffs = Vec::new();
    json_diff("", Some(&a), Some(&c), &mut diffs, MAX_DIFFS_PER_DOC);
    assert_eq!(
        diffs,
        vec![
            r#"/b/x/0: kubectl=1 engine={"p":1,"q":2}"#.to_owned(),
            r#"/b/x/1: kubectl={"p":1,"q":2} engine=1"#.to_owned(),
        ]
    );
}
