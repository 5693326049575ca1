//! Every example manifest from FluxCD's docs (and our guide) applies unchanged to an
//! API server that has our CRDs, and reads back with every field the user wrote:
//! nothing is pruned by a schema mistake, nothing is rejected that Flux accepts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferroflux::api;
use ferroflux_apiserver::{ApiServer, Config};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{json, Value};

/// A fixture file: its manifest, and the reason the server must refuse it, if any
/// (a `# expect-rejected: <why>` line; used for examples that Flux's CRDs refuse too).
struct Fixture {
    path: PathBuf,
    manifest: Value,
    expect_rejected: Option<String>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flux");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read fixture");
            let expect_rejected = text
                .lines()
                .find_map(|line| line.strip_prefix("# expect-rejected:"))
                .map(|why| why.trim().to_owned());
            let manifest: Value = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Fixture {
                path,
                manifest,
                expect_rejected,
            }
        })
        .collect()
}

/// Whether everything in `expected` is in `actual` (objects may have more keys,
/// e.g. defaults; lists must have the same length).
fn missing_fields(expected: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                match have.get(key) {
                    Some(found) => missing_fields(value, found, &format!("{at}.{key}"), out),
                    None => out.push(format!("{at}.{key} was dropped")),
                }
            }
        }
        (Value::Array(want), Value::Array(have)) if want.len() == have.len() => {
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                missing_fields(w, h, &format!("{at}[{i}]"), out);
            }
        }
        (Value::Number(w), Value::Number(h)) if w.as_f64() == h.as_f64() => {}
        _ if expected == actual => {}
        _ => out.push(format!("{at}: wrote {expected}, read {actual}")),
    }
}

async fn install_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in api::all_crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .unwrap_or_else(|e| panic!("CRD {:?} rejected: {e}", crd.metadata.name));
    }
}

#[tokio::test]
async fn every_flux_example_applies_and_keeps_its_fields() {
    let server = ApiServer::start(Config::default())
        .await
        .expect("server starts");
    let client = server.client().await.expect("client");
    install_crds(&client).await;

    let fixtures = fixtures();
    assert!(fixtures.len() > 100, "fixtures found: {}", fixtures.len());

    let namespaces: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")),
    );
    let mut resources: BTreeMap<(String, String), ApiResource> = BTreeMap::new();
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let name = fixture
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let manifest = &fixture.manifest;
        let api_version = manifest["apiVersion"]
            .as_str()
            .expect("apiVersion")
            .to_owned();
        let kind = manifest["kind"].as_str().expect("kind").to_owned();
        let namespace = manifest["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let object_name = manifest["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_owned();

        namespaces
            .patch(
                &namespace,
                &PatchParams::apply("fixture-test"),
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})),
            )
            .await
            .expect("namespace");

        let key = (api_version.clone(), kind.clone());
        if !resources.contains_key(&key) {
            let gvk = GroupVersionKind::try_from(&kube::api::TypeMeta {
                api_version: api_version.clone(),
                kind: kind.clone(),
            })
            .expect("gvk");
            match kube::discovery::pinned_kind(&client, &gvk).await {
                Ok((resource, _)) => {
                    resources.insert(key.clone(), resource);
                }
                Err(e) => {
                    failures.push(format!("{name}: {api_version} {kind} not served: {e}"));
                    continue;
                }
            }
        }
        let resource = &resources[&key];
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, resource);
        let applied = api
            .patch(
                &object_name,
                &PatchParams::apply("fixture-test").force(),
                &Patch::Apply(manifest),
            )
            .await;
        match (&fixture.expect_rejected, applied) {
            (Some(_), Err(_)) => continue,
            (Some(why), Ok(_)) => {
                failures.push(format!("{name}: accepted, but Flux refuses it ({why})"));
                continue;
            }
            (None, Err(e)) => {
                failures.push(format!("{name}: rejected: {e}"));
                continue;
            }
            (None, Ok(_)) => {}
        }
        let live = api.get(&object_name).await.expect("read back");
        let live_spec = live.data.get("spec").cloned().unwrap_or(Value::Null);
        let mut missing = Vec::new();
        missing_fields(&manifest["spec"], &live_spec, "spec", &mut missing);
        if !missing.is_empty() {
            failures.push(format!("{name}: {}", missing.join("; ")));
        }
        // Examples reuse names; start each from a clean slate so fields of an earlier
        // example do not mask a dropped field.
        api.delete(&object_name, &Default::default())
            .await
            .expect("delete");
    }
    assert!(
        failures.is_empty(),
        "{} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
