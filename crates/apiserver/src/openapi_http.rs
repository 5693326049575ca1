//! Serving the OpenAPI documents, rebuilt when the served kinds change (CRDs).

use std::sync::{Arc, Mutex, OnceLock};

use http::{HeaderMap, Response};
use serde_json::Value;

use crate::http::{full, not_found_response, Body, Shared};
use crate::openapi::{self, OpenApiDocs, OpenApiResponse, V3Document};

/// The documents for one generation of the registry.
#[derive(Default)]
pub struct OpenApiCache {
    built: Mutex<Option<(u64, Arc<OpenApiDocs>)>>,
}

/// The built-in kinds never change: render them once per process.
fn builtin_documents() -> &'static Vec<V3Document> {
    static DOCS: OnceLock<Vec<V3Document>> = OnceLock::new();
    DOCS.get_or_init(|| openapi::v3_documents(&openapi::builtin_kind_schemas()))
}

fn server_version() -> String {
    format!(
        "v{}.{}.0",
        crate::discovery::KUBE_MAJOR,
        crate::discovery::KUBE_MINOR
    )
}

fn current(shared: &Shared) -> Arc<OpenApiDocs> {
    let (generation, crds): (u64, Vec<Value>) = {
        let state = shared.lock();
        (
            state.registry.generation,
            state
                .store
                .list("apiextensions.k8s.io/customresourcedefinitions", None)
                .iter()
                .map(|c| (**c).clone())
                .collect(),
        )
    };
    let mut cache = shared
        .openapi
        .built
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((built_for, docs)) = cache.as_ref() {
        if *built_for == generation {
            return docs.clone();
        }
    }
    let custom: Vec<_> = crds.iter().flat_map(openapi::crd_kind_schemas).collect();
    let mut documents = builtin_documents().clone();
    for doc in openapi::v3_documents(&custom) {
        // A custom group-version never shares a path with a built-in one.
        if !documents.iter().any(|d| d.path == doc.path) {
            documents.push(doc);
        }
    }
    let docs = Arc::new(OpenApiDocs::from_documents(documents, &server_version()));
    *cache = Some((generation, docs.clone()));
    docs
}

pub fn serve(
    shared: &Shared,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let docs = current(shared);
    let query = crate::request::parse_query(query);
    let accept = headers.get("accept").and_then(|v| v.to_str().ok());
    match docs.respond(path, query.get("hash").map(String::as_str), accept) {
        OpenApiResponse::Ok {
            content_type,
            body,
            etag,
            immutable,
        } => {
            let mut builder = Response::builder()
                .status(200)
                .header("content-type", content_type)
                .header("etag", format!("\"{etag}\""));
            if immutable {
                let expires = chrono::Utc::now() + chrono::Duration::days(365);
                builder = builder.header("cache-control", "public, immutable").header(
                    "expires",
                    expires.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                );
            }
            builder
                .body(full(body.to_vec()))
                .expect("header values are ASCII")
        }
        OpenApiResponse::Redirect { location } => Response::builder()
            .status(301)
            .header("location", location)
            .body(full(Vec::new()))
            .expect("header values are ASCII"),
        OpenApiResponse::NotAcceptable => Response::builder()
            .status(406)
            .body(full(Vec::new()))
            .expect("static headers are valid"),
        OpenApiResponse::NotFound => not_found_response(),
    }
}
