//! The real-world oracle: public overlays nobody here wrote, listed in
//! `../shared/corpus/kustomize/MANIFEST.tsv`, built by `kubectl kustomize` and by
//! the engine. Rows with `expect: ok` must give the same documents, as data and in
//! order; rows with `expect: error` must fail in both.
//!
//! The corpus is read where it lies (it is not ours to copy into the repository):
//! `FERROFLUX_CORPUS_MANIFEST=<path>` names another manifest of the same columns,
//! for trying a wider set of overlays by hand. Where no corpus is present the
//! suite says so and passes, so the rest of the tests still run.
//! `FERROFLUX_ORACLE_ONLY=<prefix>` keeps only the rows whose id starts with it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{compare_docs, kubectl_all, run_engine, KubectlRun};

/// One MANIFEST.tsv row that matters to the test.
struct Case {
    id: String,
    root: PathBuf,
    expect_error: bool,
}

/// The manifest to read: the override, or the shared corpus beside the checkout.
fn manifest_path() -> PathBuf {
    if let Ok(path) = std::env::var("FERROFLUX_CORPUS_MANIFEST") {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/kustomize/MANIFEST.tsv")
}

/// Reads the manifest by its header's column names, so added columns do not
/// break the test.
fn read_manifest(path: &Path) -> Vec<Case> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let base = path
        .parent()
        .expect("the manifest is in a directory")
        .join("cases");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .expect("MANIFEST.tsv has a header")
        .split('\t')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{} has no column {name:?}", path.display()))
    };
    let (case_col, dir_col, expect_col, id_col) = (
        column("case_path"),
        column("build_dir"),
        column("expect"),
        column("id"),
    );
    let only = std::env::var("FERROFLUX_ORACLE_ONLY").ok();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let cell = |i: usize| cells.get(i).copied().unwrap_or("");
            let expect = cell(expect_col);
            assert!(
                expect == "ok" || expect == "error",
                "{}: row {:?} expects {expect:?}, not ok or error",
                path.display(),
                cell(id_col)
            );
            Case {
                id: cell(id_col).to_owned(),
                root: base.join(cell(case_col)).join(cell(dir_col)),
                expect_error: expect == "error",
            }
        })
        .filter(|case| only.as_deref().is_none_or(|p| case.id.starts_with(p)))
        .collect()
}

/// Checks one row; returns what is wrong, or None when engine and kubectl agree
/// with each other and with the manifest.
fn check_case(case: &Case, kubectl: &KubectlRun) -> Option<String> {
    match (case.expect_error, kubectl) {
        (false, _) => compare_docs(&case.root, kubectl),
        (true, KubectlRun::Ok(_)) => {
            Some("the manifest expects an error, but kubectl kustomize succeeded".to_owned())
        }
        (true, KubectlRun::Failed(kubectl_err)) => match run_engine(&case.root) {
            Ok(Err(_)) => None,
            Ok(Ok(docs)) => Some(format!(
                "kubectl fails ({kubectl_err}) but the engine built {} documents",
                docs.len()
            )),
            Err(panic) => Some(format!("engine panicked: {panic}")),
        },
    }
}

#[test]
fn public_overlays_build_as_kubectl_builds_them() {
    let manifest = manifest_path();
    if !manifest.exists() {
        eprintln!(
            "corpus suite: no corpus at {}; the real-world oracle did not run",
            manifest.display()
        );
        return;
    }
    let cases = read_manifest(&manifest);
    assert!(
        !cases.is_empty(),
        "{} lists no directory",
        manifest.display()
    );
    for case in &cases {
        assert!(
            case.root.is_dir(),
            "[{}] {} is not a directory",
            case.id,
            case.root.display()
        );
    }

    let roots: Vec<PathBuf> = cases.iter().map(|c| c.root.clone()).collect();
    let kubectl_runs = kubectl_all(&roots);

    let started = Instant::now();
    let failures: Vec<String> = cases
        .iter()
        .zip(&kubectl_runs)
        .filter_map(|(case, kubectl)| {
            check_case(case, kubectl)
                .map(|report| format!("[{}] {}\n  {report}", case.id, case.root.display()))
        })
        .collect();
    eprintln!(
        "corpus suite: {} directories from {}, {} matched kubectl, {} differ (engine {:?} in all)",
        cases.len(),
        manifest.display(),
        cases.len() - failures.len(),
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} public overlays differ from kubectl kustomize:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
