//! Non-resource endpoints: version, health, and API discovery in its legacy form
//! (clients that ask for aggregated discovery fall back to it on a plain JSON answer).

use http::{HeaderMap, Response};
use serde_json::json;

use crate::http::{json_response, not_found_response, Body, Shared};
use crate::resources::api_resource_list;

/// The Kubernetes version this server presents itself as.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "32";

pub fn serve(
    shared: &Shared,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let path = path.trim_end_matches('/');
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => json_response(
            200,
            &json!({
                "major": KUBE_MAJOR,
                "minor": KUBE_MINOR,
                "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0-ferroflux.{}", env!("CARGO_PKG_VERSION")),
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "n/a (rust)",
                "compiler": "rustc",
                "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
            }),
        ),
        ["healthz" | "livez" | "readyz", ..] => http::Response::builder()
            .status(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body(crate::http::full("ok"))
            .expect("static headers are valid"),
        ["api"] => json_response(
            200,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.server_url.trim_start_matches("https://").trim_start_matches("http://")}],
            }),
        ),
        ["api", "v1"] => {
            let state = shared.lock();
            let resources = state.registry.in_group_version("", "v1");
            json_response(200, &api_resource_list("v1", &resources, "v1"))
        }
        ["apis"] => {
            let state = shared.lock();
            let groups: Vec<_> = state
                .registry
                .groups()
                .into_iter()
                .map(|(group, versions)| {
                    let versions_json: Vec<_> = versions
                        .iter()
                        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                        .collect();
                    json!({
                        "name": group,
                        "versions": versions_json,
                        "preferredVersion": versions_json.first().cloned().unwrap_or_default(),
                    })
                })
                .collect();
            json_response(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            )
        }
        ["apis", group] => {
            let state = shared.lock();
            match state
                .registry
                .groups()
                .into_iter()
                .find(|(g, _)| g == group)
            {
                Some((group, versions)) => {
                    let versions_json: Vec<_> = versions
                        .iter()
                        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                        .collect();
                    json_response(
                        200,
                        &json!({
                            "kind": "APIGroup", "apiVersion": "v1", "name": group,
                            "versions": versions_json,
                            "preferredVersion": versions_json.first().cloned().unwrap_or_default(),
                        }),
                    )
                }
                None => not_found_response(),
            }
        }
        ["apis", group, version] => {
            let state = shared.lock();
            let resources = state.registry.in_group_version(group, version);
            if resources.is_empty() {
                return not_found_response();
            }
            json_response(
                200,
                &api_resource_list(&format!("{group}/{version}"), &resources, version),
            )
        }
        ["openapi", ..] => crate::openapi_http::serve(shared, path, query, headers),
        _ => not_found_response(),
    }
}
