//! What the Helm tests share: the Helm SDK oracle scripts (tests/helm, run with the
//! .venv's python), charts packaged and indexed by the SDK, and a chart repository
//! served over loopback HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{json, Value};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The podinfo chart of the corpus (a real chart nobody here wrote).
pub fn podinfo() -> PathBuf {
    let chart = repo_root().join("../shared/corpus/charts/podinfo");
    assert!(chart.is_dir(), "the corpus is missing: {}", chart.display());
    chart
}

/// Runs a tests/helm script with the Helm SDK's python; its JSON answer.
pub fn sdk(script: &str, request: &Value) -> Value {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "the Helm SDK oracle is missing: run ./scripts/test.sh, which creates .venv"
    );
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/helm").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the Helm SDK starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("request");
    let output = child.wait_with_output().expect("the Helm SDK ran");
    assert!(output.status.success(), "{script} failed");
    serde_json::from_slice(&output.stdout).expect("JSON from the Helm SDK")
}

/// Packages `charts` (directory, version) into `repo` and indexes it, as
/// `helm package` and `helm repo index` do.
pub fn package(repo: &Path, charts: &[(&Path, &str)], base_url: Option<&str>) -> Vec<PathBuf> {
    let charts: Vec<Value> = charts
        .iter()
        .map(|(dir, version)| json!([dir, version]))
        .collect();
    let packaged = sdk(
        "chart_repo.py",
        &json!({"repo": repo, "charts": charts, "base_url": base_url}),
    );
    packaged
        .as_array()
        .expect("paths")
        .iter()
        .map(|p| PathBuf::from(p.as_str().expect("path")))
        .collect()
}

/// A chart repository on loopback HTTP: tests/helm/chart_server.py.
pub struct ChartServer {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl ChartServer {
    pub fn start(dir: &Path, auth: Option<&str>) -> Self {
        let log = tempfile::NamedTempFile::new().expect("log");
        let mut command = Command::new(repo_root().join(".venv/bin/python"));
        command
            .arg(repo_root().join("tests/helm/chart_server.py"))
            .arg(dir)
            .env("CHART_LOG", log.path())
            .stdout(Stdio::piped());
        if let Some(auth) = auth {
            command.env("CHART_AUTH", auth);
        }
        let mut child = command.spawn().expect("chart server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port");
        let port = line.trim().parse().expect("a port");
        ChartServer { child, port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests served so far.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log.path())
            .expect("log")
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line"))
            .collect()
    }
}

impl Drop for ChartServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A source.toolkit.fluxcd.io/v1 kind.
pub fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind),
        plural,
    )
}

pub async fn apply(api: &Api<DynamicObject>, manifest: Value) {
    let name = manifest["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    api.patch(
        &name,
        &PatchParams::apply("test").force(),
        &Patch::Apply(manifest),
    )
    .await
    .expect("apply");
}
