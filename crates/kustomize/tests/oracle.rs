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

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Parallel kubectl invocations; the build machine has few cores and each
/// kubectl is short-lived, so a small pool is enough to hide process start-up.
const KUBECTL_WORKERS: usize = 3;
/// A hung kubectl (e.g. git asking for credentials) must not hang the suite.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(120);
/// Below this many fixtures the suite is probably pointing at the wrong directory.
const MIN_ORACLE_FIXTURES: usize = 40;
/// Differences reported per document; the first few are enough to locate a bug.
const MAX_DIFFS_PER_DOC: usize = 8;
/// Long values (whole ConfigMap bodies) are cut so the report stays readable.
const MAX_VALUE_CHARS: usize = 240;

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

fn kubectl_binary() -> String {
    std::env::var("FERROFLUX_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

/// Outcome of one `kubectl kustomize` run.
enum KubectlRun {
    Ok(String),
    Failed(String),
}

/// Runs `kubectl kustomize <root>` with a timeout. A missing kubectl binary
/// panics: the oracle cannot be skipped silently (missing tool is a failure).
fn kubectl_kustomize(root: &Path) -> KubectlRun {
    let mut child = match Command::new(kubectl_binary())
        .arg("kustomize")
        .arg(root)
        // Remote-resource fixtures must fail fast instead of prompting.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("kubectl not found ({e}); missing tool is a failure: the oracle suite needs `kubectl kustomize`")
        }
        Err(e) => panic!("spawning kubectl: {e}"),
    };
    // Drain both pipes on their own threads so a large output cannot block
    // the child while we poll for its exit.
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let mut stderr = child.stderr.take().expect("stderr was piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait().expect("polling kubectl") {
            Some(status) => break Some(status),
            None if started.elapsed() > KUBECTL_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    let out = String::from_utf8_lossy(&out_reader.join().expect("stdout reader")).into_owned();
    let err = String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned();
    match status {
        Some(s) if s.success() => KubectlRun::Ok(out),
        Some(s) => KubectlRun::Failed(format!("exit {s}: {}", err.trim())),
        None => KubectlRun::Failed(format!("timed out after {KUBECTL_TIMEOUT:?}")),
    }
}

/// Runs kubectl for every root on a small thread pool; results keep input order.
fn kubectl_all(roots: &[PathBuf]) -> Vec<KubectlRun> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<KubectlRun>>> =
        Mutex::new((0..roots.len()).map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..KUBECTL_WORKERS.min(roots.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(root) = roots.get(i) else { break };
                let run = kubectl_kustomize(root);
                results.lock().expect("results lock")[i] = Some(run);
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every root was run"))
        .collect()
}

/// Parses kubectl's multi-document YAML; empty documents are not resources.
fn parse_yaml_stream(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let doc = <Value as serde::Deserialize>::deserialize(de)
            .map_err(|e| format!("kubectl output document {i}: {e}"))?;
        if !doc.is_null() {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// `kind/namespace/name` for headings, so a report says which object differs.
fn doc_id(doc: &Value) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let meta = doc.get("metadata");
    let ns = s(meta.and_then(|m| m.get("namespace")));
    let name = s(meta.and_then(|m| m.get("name")));
    let kind = s(doc.get("kind"));
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

fn compact(v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "<absent>".to_owned();
    };
    let text = v.to_string();
    if text.chars().count() > MAX_VALUE_CHARS {
        let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Structural diff, independent of object key order (kubectl sorts keys, the
/// engine need not). Records up to `limit` differing JSON-pointer paths.
fn json_diff(
    path: &str,
    want: Option<&Value>,
    got: Option<&Value>,
    out: &mut Vec<String>,
    limit: usize,
) {
    if out.len() >= limit {
        return;
    }
    match (want, got) {
        (Some(Value::Object(w)), Some(Value::Object(g))) => {
            for (k, wv) in w {
                json_diff(&pointer(path, k), Some(wv), g.get(k), out, limit);
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    json_diff(&pointer(path, k), None, Some(gv), out, limit);
                }
            }
        }
        (Some(Value::Array(w)), Some(Value::Array(g))) => {
            if w.len() != g.len() {
                out.push(format!(
                    "{}: array length kubectl={} engine={}",
                    display_path(path),
                    w.len(),
                    g.len()
                ));
            }
            for i in 0..w.len().max(g.len()) {
                json_diff(
                    &pointer(path, &i.to_string()),
                    w.get(i),
                    g.get(i),
                    out,
                    limit,
                );
            }
        }
        (w, g) if w == g => {}
        (w, g) => out.push(format!(
            "{}: kubectl={} engine={}",
            display_path(path),
            compact(w),
            compact(g)
        )),
    }
}

/// RFC 6901 escaping so paths can be pasted into a JSON patch while debugging.
fn pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "<document>"
    } else {
        path
    }
}

/// Runs the engine, turning a panic into a reportable failure so one broken
/// fixture does not hide the results of all the others.
fn run_engine(root: &Path) -> Result<Result<Vec<Value>, String>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        ferroflux_kustomize::build_dir(root).map_err(|e| e.to_string())
    }))
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "non-string panic payload".to_owned())
    })
}

/// Compares one fixture; returns a report, or None when engine == kubectl.
fn compare_fixture(fixture: &Fixture, kubectl: &KubectlRun) -> Option<String> {
    let want = match kubectl {
        KubectlRun::Ok(stdout) => match parse_yaml_stream(stdout) {
            Ok(docs) => docs,
            Err(e) => return Some(format!("cannot parse kubectl output: {e}")),
        },
        KubectlRun::Failed(err) => {
            return Some(format!(
                "kubectl failed (the fixture itself is broken): {err}"
            ))
        }
    };
    let got = match run_engine(&fixture.root) {
        Ok(Ok(docs)) => docs,
        Ok(Err(e)) => return Some(format!("engine returned an error: {e}")),
        Err(panic) => return Some(format!("engine panicked: {panic}")),
    };

    let mut report = Vec::new();
    if want.len() != got.len() {
        report.push(format!(
            "document count kubectl={} engine={}\n    kubectl: [{}]\n    engine:  [{}]",
            want.len(),
            got.len(),
            want.iter().map(doc_id).collect::<Vec<_>>().join(", "),
            got.iter().map(doc_id).collect::<Vec<_>>().join(", "),
        ));
    }
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let mut diffs = Vec::new();
        json_diff("", Some(w), Some(g), &mut diffs, MAX_DIFFS_PER_DOC);
        if !diffs.is_empty() {
            report.push(format!(
                "doc {i} (kubectl {} / engine {}):\n      {}",
                doc_id(w),
                doc_id(g),
                diffs.join("\n      ")
            ));
        }
    }
    if report.is_empty() {
        None
    } else {
        Some(report.join("\n  "))
    }
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
        if let Some(report) = compare_fixture(fixture, kubectl) {
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
