//! Helpers for end-to-end tests that run `ferroflux run` as a process and drive it
//! with the ferroflux CLI, as a Flux user would.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferroflux_apiserver::{ApiServer, Config};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{json, Value};

/// The Kustomization resource, for dynamic APIs.
pub fn ks_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    )
}

/// The GitRepository resource, for dynamic APIs.
pub fn git_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    )
}

/// An embedded API server with the Flux CRDs installed and `namespaces` created.
pub async fn flux_cluster(config: Config, namespaces: &[&str]) -> (ApiServer, kube::Client) {
    let server = ApiServer::start(config).await.expect("server");
    let client = server.client().await.expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in ferroflux::api::all_crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("install crd");
    }
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "Namespace"),
            "namespaces",
        ),
    );
    for ns in namespaces {
        let object = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .expect("namespace");
        api.create(&PostParams::default(), &object)
            .await
            .expect("namespace");
    }
    (server, client)
}

pub struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ferroflux run` and returns it with the artifact base URL it advertises.
/// Starts `ferroflux run` as `command` describes and returns it with the first
/// line it prints ("► replica ID running: metrics on ..."); the rest of its
/// output is drained so that it never blocks on a full pipe.
pub fn spawn_run(command: &mut Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ferroflux run starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("readable");
    assert!(first.contains("running"), "{first}");
    std::thread::spawn(move || for _ in lines {});
    (child, first)
}

pub fn start_replica(kubeconfig: &std::path::Path, storage: &std::path::Path) -> Replica {
    let (child, _) = spawn_run(
        Command::new(env!("CARGO_BIN_EXE_ferroflux"))
            .args([
                "run",
                "--id",
                "test-0",
                "--storage-addr",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--storage-path")
            .arg(storage),
    );
    Replica(child)
}

pub fn cli(kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferroflux"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--timeout", "60s"])
        .output()
        .expect("ferroflux cli");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what} {last}");
        }
        last.clear();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn ready(object: &Value) -> Option<(String, String, String)> {
    let c = object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str()?.to_owned(),
        c["reason"].as_str()?.to_owned(),
        c["message"].as_str()?.to_owned(),
    ))
}

/// Applies `manifest` server-side as kubectl would, conflicts forced.
pub async fn apply(api: &Api<DynamicObject>, manifest: Value) {
    let name = manifest["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    api.patch(
        &name,
        &PatchParams::apply("kubectl").force(),
        &Patch::Apply(manifest),
    )
    .await
    .expect("apply");
}

/// The object once its Ready condition is `status` with `reason`.
pub async fn ready_with(api: &Api<DynamicObject>, name: &str, status: &str, reason: &str) -> Value {
    poll(&format!("{name} Ready={status} {reason}"), || async {
        let o = serde_json::to_value(api.get(name).await.ok()?).ok()?;
        let (s, r, _) = ready(&o)?;
        (s == status && r == reason).then_some(o)
    })
    .await
}
