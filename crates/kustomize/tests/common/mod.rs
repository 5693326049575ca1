//! The harness shared by the oracle suites: run `kubectl kustomize` (the
//! reference) and the engine on the same directory, and compare the documents as
//! data and in order.

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
pub const KUBECTL_WORKERS: usize = 3;
/// A hung kubectl (e.g. git asking for credentials) must not hang the suite.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(120);
/// Differences reported per document; the first few are enough to locate a bug.
pub const MAX_DIFFS_PER_DOC: usize = 8;
/// Long values (whole ConfigMap bodies) are cut so the report stays readable.
pub const MAX_VALUE_CHARS: usize = 240;

pub fn kubectl_binary() -> String {
    std::env::var("FERROFLUX_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

/// Outcome of one `kubectl kustomize` run.
pub enum KubectlRun {
    Ok(String),
    Failed(String),
}

/// Runs `kubectl kustomize <root>` with a timeout. A missing kubectl binary
/// panics: the oracle cannot be skipped silently (missing tool is a failure).
pub fn kubectl_kustomize(root: &Path) -> KubectlRun {
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
pub fn kubectl_all(roots: &[PathBuf]) -> Vec<KubectlRun> {
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
pub fn parse_yaml_stream(text: &str) -> Result<Vec<Value>, String> {
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
pub fn doc_id(doc: &Value) -> String {
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

pub fn compact(v: Option<&Value>) -> String {
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
pub fn json_diff(
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
pub fn pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

pub fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "<document>"
    } else {
        path
    }
}

/// Runs the engine, turning a panic into a reportable failure so one broken
/// fixture does not hide the results of all the others.
pub fn run_engine(root: &Path) -> Result<Result<Vec<Value>, String>, String> {
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

/// Compares one directory; returns a report, or None when engine == kubectl.
pub fn compare_docs(root: &Path, kubectl: &KubectlRun) -> Option<String> {
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
    let got = match run_engine(root) {
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
