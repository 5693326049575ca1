//! The Helm v4 SDK (PyPI `helm-python-sdk`, Helm's own Go library) against the embedded
//! API server: install, upgrade, history, rollback and uninstall of a chart with a
//! Deployment, a Service, a ConfigMap and a CRD. The Python side lives in
//! tests/helm/helm_sdk_test.py; the test command installs the SDK into .venv.

mod common;

use std::process::Command;

use common::{repo_root, ServerProcess};

#[test]
fn helm_sdk_release_lifecycle() {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "the Helm SDK oracle is missing: run ./scripts/test.sh, which creates .venv"
    );
    let server = ServerProcess::start(&["--ready-after-seconds", "1"]);
    let home = tempfile::tempdir().expect("fresh HOME for Helm's caches");
    let output = Command::new(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/helm/helm_sdk_test.py",
        ])
        .current_dir(repo_root())
        .env("KUBECONFIG", &server.kubeconfig)
        .env("HOME", home.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("pytest runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Helm SDK tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("passed") && !stdout.contains("skipped"),
        "{stdout}"
    );
}
