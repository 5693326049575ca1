//! OpenAPI documents as kubectl (1.27 to 1.33) reads them: the `/openapi/v3` index,
//! one v3 document per group-version (`/openapi/v3/apis/apps/v1?hash=...`) and a
//! deliberately empty `/openapi/v2` (see [`v2_document`]).
//!
//! What kubectl needs from the v3 documents:
//! - `apply`, `create`, `replace`, `diff` look for a `fieldValidation` query parameter
//!   on the kind's PATCH operation; finding it, they leave validation to the server
//!   (`?fieldValidation=Strict`). Otherwise they fall back to `/openapi/v2` and
//!   client-side validation, or fail with "failed to download openapi".
//! - `explain` finds the GVK on an operation under `/apis/<group>/<version>/<plural>`,
//!   then the component schema whose `x-kubernetes-group-version-kind` lists it.
//! - client-side `apply` computes a strategic merge patch from the v3 schema only when
//!   the PATCH request body advertises `application/strategic-merge-patch+json`.
//!   Built-in kinds do not advertise it (see [`KindSchema::strategic_merge_patch`]).
//!
//! Everything here is pure: the server builds the documents once (and again when CRDs
//! change) and serves the bytes [`OpenApiDocs::respond`] picks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use k8s_openapi::{NamespaceResourceScope, Resource};
use serde_json::{json, Map, Value};

/// Where the v3 documents live on the server.
pub const V3_ROOT: &str = "/openapi/v3";
/// Where the v2 (Swagger 2.0) document lives.
pub const V2_ROOT: &str = "/openapi/v2";

const REF_PREFIX: &str = "#/components/schemas/";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// Which REST operations a kind has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operations {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    Crud,
    /// Review kinds (SubjectAccessReview, ...): only create.
    CreateOnly,
}

/// One kind as published in its group-version document.
#[derive(Debug, Clone)]
pub struct KindSchema {
    /// API group, `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Resource name in URLs, e.g. `deployments`.
    pub plural: String,
    pub namespaced: bool,
    pub operations: Operations,
    /// Whether the PATCH operation advertises `application/strategic-merge-patch+json`.
    ///
    /// A real server does so for built-in kinds, and kubectl then takes list merge keys
    /// from the schema's `x-kubernetes-patch-merge-key` extensions. k8s-openapi's schemas
    /// do not carry those extensions, so advertising it would make kubectl replace whole
    /// lists (containers, env, ports...). Leaving it out makes kubectl use its compiled-in
    /// types instead, which carry the same merge keys: the patches match a real cluster.
    pub strategic_merge_patch: bool,
    /// Component name, e.g. `io.k8s.api.apps.v1.Deployment` or `com.example.v1.Widget`.
    pub schema_name: String,
    /// The kind's schema; `$ref`s point into `#/components/schemas/`.
    pub schema: Value,
    /// Schemas the `$ref`s may point to, by component name. Only those reachable from
    /// `schema` end up in a document; built-in kinds share one pool.
    pub definitions: Arc<Map<String, Value>>,
}

/// A serialized group-version document and its ETag (also its `?hash=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Document {
    /// Index key, e.g. `api/v1` or `apis/apps/v1`.
    pub path: String,
    pub body: Vec<u8>,
    pub etag: String,
}

/// What to answer for a GET under `/openapi/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenApiResponse<'a> {
    /// 200 with this `Content-Type` and `ETag: "<etag>"` (quoted). When `immutable`
    /// (the request named the current hash) a real server adds
    /// `Cache-Control: public, immutable` and an `Expires` a year ahead.
    Ok {
        content_type: &'static str,
        body: &'a [u8],
        etag: &'a str,
        immutable: bool,
    },
    /// 301 to the current hash: the client asked for a document that has since changed.
    Redirect {
        location: String,
    },
    /// 406: the client accepts none of the formats served here (e.g. v3 as protobuf).
    NotAcceptable,
    NotFound,
}

/// Content type kubectl asks `/openapi/v2` for, and the only one it can parse there.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The content type the answer carries: `@` is not allowed in a media type, so Go's MIME
/// parser (kubectl 1.27 checks it) needs the dotted form kube-apiserver sends.
pub const V2_PROTOBUF_RESPONSE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
const JSON: &str = "application/json";

/// Every OpenAPI document the server serves, built once per change of the served kinds
/// (e.g. when a CRD is created, changed or deleted).
#[derive(Debug, Clone)]
pub struct OpenApiDocs {
    v2_json: Vec<u8>,
    v2_json_etag: String,
    v2_protobuf: Vec<u8>,
    v2_protobuf_etag: String,
    index_body: Vec<u8>,
    index_etag: String,
    documents: Vec<V3Document>,
}

impl OpenApiDocs {
    /// `server_version` is what `/version` reports as `gitVersion`, e.g. `v1.32.0`.
    pub fn new(kinds: &[KindSchema], server_version: &str) -> Self {
        Self::from_documents(v3_documents(kinds), server_version)
    }

    /// Like [`OpenApiDocs::new`] from already rendered documents, so a server can render
    /// the built-in group-versions once (most of the ~75 ms a full build takes in a
    /// debug build) and only re-render custom resource group-versions when CRDs change.
    /// Documents with the same path are not merged: give each group-version once.
    pub fn from_documents(mut documents: Vec<V3Document>, server_version: &str) -> Self {
        documents.sort_by(|a, b| a.path.cmp(&b.path));
        let index_body = to_bytes(&v3_index(&documents));
        let v2_json = to_bytes(&v2_document(server_version));
        let v2_protobuf = v2_document_protobuf(server_version);
        OpenApiDocs {
            index_etag: document_etag(&index_body),
            index_body,
            v2_json_etag: document_etag(&v2_json),
            v2_json,
            v2_protobuf_etag: document_etag(&v2_protobuf),
            v2_protobuf,
            documents,
        }
    }

    pub fn documents(&self) -> &[V3Document] {
        &self.documents
    }

    /// Answers a GET for `path` (without query string), given the `hash` query parameter
    /// and the `Accept` header, if any.
    pub fn respond(
        &self,
        path: &str,
        hash: Option<&str>,
        accept: Option<&str>,
    ) -> OpenApiResponse<'_> {
        let path = path.trim_end_matches('/');
        if path == V2_ROOT {
            // kubectl asks for protobuf only and parses nothing else; anyone else
            // (a browser, curl) gets JSON.
            return if mentions_protobuf(accept) {
                OpenApiResponse::Ok {
                    content_type: V2_PROTOBUF_RESPONSE,
                    body: &self.v2_protobuf,
                    etag: &self.v2_protobuf_etag,
                    immutable: false,
                }
            } else if accepts(accept, JSON) {
                OpenApiResponse::Ok {
                    content_type: JSON,
                    body: &self.v2_json,
                    etag: &self.v2_json_etag,
                    immutable: false,
                }
            } else {
                OpenApiResponse::NotAcceptable
            };
        }
        if path == V3_ROOT {
            return OpenApiResponse::Ok {
                content_type: JSON,
                body: &self.index_body,
                etag: &self.index_etag,
                immutable: false,
            };
        }
        let Some(gv_path) = path.strip_prefix(V3_ROOT).and_then(|p| p.strip_prefix('/')) else {
            return OpenApiResponse::NotFound;
        };
        let Some(doc) = self.documents.iter().find(|d| d.path == gv_path) else {
            return OpenApiResponse::NotFound;
        };
        if !accepts(accept, JSON) {
            return OpenApiResponse::NotAcceptable;
        }
        match hash.filter(|h| !h.is_empty()) {
            Some(h) if h != doc.etag => OpenApiResponse::Redirect {
                location: server_relative_url(doc),
            },
            requested => OpenApiResponse::Ok {
                content_type: JSON,
                body: &doc.body,
                etag: &doc.etag,
                immutable: requested.is_some(),
            },
        }
    }
}

/// Whether an `Accept` header admits `content_type` (a missing header admits anything).
fn accepts(accept: Option<&str>, content_type: &str) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    let (main, _) = content_type.split_once('/').unwrap_or((content_type, ""));
    accept.split(',').any(|clause| {
        let media = clause.split(';').next().unwrap_or("").trim();
        media == content_type || media == "*/*" || media == format!("{main}/*")
    })
}

fn mentions_protobuf(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("protobuf"))
}

/// The Swagger 2.0 document: deliberately without paths or definitions.
///
/// kubectl 1.27 and 1.28 refuse to `apply`, `create` or `explain` without a parseable
/// `/openapi/v2`, and every version needs it to validate a `kind: List` client-side.
/// An empty document satisfies them all: kubectl skips client-side validation of kinds
/// it does not find there, takes field validation and `explain` from v3, and computes
/// strategic merge patches from its compiled-in types. A full v2 would only feed those
/// client-side fallbacks, which the server does better itself.
pub fn v2_document(server_version: &str) -> Value {
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": server_version },
        "paths": {},
        "definitions": {},
    })
}

/// [`v2_document`] in gnostic's `openapi_v2.Document` protobuf encoding, the form kubectl
/// requests with `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`.
pub fn v2_document_protobuf(server_version: &str) -> Vec<u8> {
    // Field numbers from gnostic's OpenAPIv2.proto: Document.swagger = 1, .info = 2,
    // .paths = 8, .definitions = 9; Info.title = 1, .version = 2.
    let mut info = Vec::new();
    protobuf_bytes_field(&mut info, 1, b"Kubernetes");
    protobuf_bytes_field(&mut info, 2, server_version.as_bytes());
    let mut document = Vec::new();
    protobuf_bytes_field(&mut document, 1, b"2.0");
    protobuf_bytes_field(&mut document, 2, &info);
    protobuf_bytes_field(&mut document, 8, &[]);
    protobuf_bytes_field(&mut document, 9, &[]);
    document
}

/// Appends a length-delimited (wire type 2) protobuf field.
fn protobuf_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    protobuf_varint(out, (u64::from(field) << 3) | 2);
    protobuf_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn protobuf_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Index key of a group-version: `api/v1` for the core group, `apis/<group>/<version>` otherwise.
pub fn v3_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// ETag of a served document: upper-case hex SHA-512 of its bytes, the format a real
/// server uses, so hashes look familiar in logs and caches.
pub fn document_etag(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, body);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// The `/openapi/v3` index: `{"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=..."}}}`.
pub fn v3_index(documents: &[V3Document]) -> Value {
    let paths: Map<String, Value> = documents
        .iter()
        .map(|d| {
            (
                d.path.clone(),
                json!({ "serverRelativeURL": server_relative_url(d) }),
            )
        })
        .collect();
    json!({ "paths": paths })
}

/// Serializes one document per group-version present in `kinds`, sorted by path.
pub fn v3_documents(kinds: &[KindSchema]) -> Vec<V3Document> {
    let mut by_gv: BTreeMap<(String, String), Vec<KindSchema>> = BTreeMap::new();
    for kind in kinds {
        by_gv
            .entry((kind.group.clone(), kind.version.clone()))
            .or_default()
            .push(kind.clone());
    }
    let mut documents: Vec<V3Document> = by_gv
        .into_iter()
        .map(|((group, version), kinds)| {
            let body = to_bytes(&v3_group_version(&group, &version, &kinds));
            V3Document {
                path: v3_path(&group, &version),
                etag: document_etag(&body),
                body,
            }
        })
        .collect();
    documents.sort_by(|a, b| a.path.cmp(&b.path));
    documents
}

/// The OpenAPI 3.0 document of one group-version: paths for every kind's REST
/// operations and the component schemas they reference. `kinds` should all belong to
/// `group`/`version`.
pub fn v3_group_version(group: &str, version: &str, kinds: &[KindSchema]) -> Value {
    let mut paths = Map::new();
    // Schemas made here; everything else is looked up in the kinds' shared pools and
    // copied only when reachable.
    let mut local = Map::new();
    local.insert(PATCH.to_string(), patch_body_schema());
    // Operations reference these even when no kind schema does.
    let mut roots = vec![
        STATUS.to_string(),
        DELETE_OPTIONS.to_string(),
        PATCH.to_string(),
    ];
    for kind in kinds {
        add_paths(&mut paths, kind);
        local.insert(kind.schema_name.clone(), kind.schema.clone());
        local.insert(list_schema_name(kind), list_schema(kind));
        roots.push(kind.schema_name.clone());
        roots.push(list_schema_name(kind));
    }
    let lookup = |name: &str| {
        local
            .get(name)
            .or_else(|| kinds.iter().find_map(|k| k.definitions.get(name)))
    };
    let mut schemas: BTreeMap<String, Value> = BTreeMap::new();
    for name in reachable(&roots, &lookup) {
        if let Some(schema) = lookup(&name) {
            schemas.insert(name, schema.clone());
        }
    }
    let schemas: Map<String, Value> = schemas.into_iter().collect();
    let title = if group.is_empty() {
        "Kubernetes".to_string()
    } else {
        format!("Kubernetes ({group})")
    };
    json!({
        "openapi": "3.0.0",
        "info": { "title": title, "version": version },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

/// Every served version of a CustomResourceDefinition object, as [`KindSchema`]s.
/// Versions without a schema get one that keeps any field, as the server would.
pub fn crd_kind_schemas(crd: &Value) -> Vec<KindSchema> {
    let spec = &crd["spec"];
    let (Some(group), Some(kind), Some(plural)) = (
        spec["group"].as_str(),
        spec["names"]["kind"].as_str(),
        spec["names"]["plural"].as_str(),
    ) else {
        return Vec::new();
    };
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let Some(versions) = spec["versions"].as_array() else {
        return Vec::new();
    };
    let definitions = Arc::new(meta_definitions());
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .filter_map(|v| {
            let version = v["name"].as_str()?;
            let schema = v["schema"]["openAPIV3Schema"].clone();
            let schema_name = format!("{}.{version}.{kind}", reverse_domain(group));
            let schema = crd_schema(schema, group, version, kind);
            Some(KindSchema {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                namespaced,
                operations: Operations::Crud,
                strategic_merge_patch: false,
                schema_name,
                schema,
                definitions: Arc::clone(&definitions),
            })
        })
        .collect()
}

/// Schemas of the built-in kinds the server serves, from k8s-openapi. Building them
/// takes a few milliseconds: do it once.
pub fn builtin_kind_schemas() -> Vec<KindSchema> {
    use k8s_openapi::api::{
        apps::v1 as apps, authorization::v1 as authz, autoscaling::v2 as autoscaling,
        batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
        events::v1 as events, networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

    let mut generator = schema_generator();
    let mut kinds = vec![
        builtin::<core::Namespace>(&mut generator, Operations::Crud),
        builtin::<core::ConfigMap>(&mut generator, Operations::Crud),
        builtin::<core::Secret>(&mut generator, Operations::Crud),
        builtin::<core::Service>(&mut generator, Operations::Crud),
        builtin::<core::ServiceAccount>(&mut generator, Operations::Crud),
        builtin::<core::Pod>(&mut generator, Operations::Crud),
        builtin::<core::Event>(&mut generator, Operations::Crud),
        builtin::<core::PersistentVolumeClaim>(&mut generator, Operations::Crud),
        builtin::<apps::Deployment>(&mut generator, Operations::Crud),
        builtin::<apps::StatefulSet>(&mut generator, Operations::Crud),
        builtin::<apps::DaemonSet>(&mut generator, Operations::Crud),
        builtin::<apps::ReplicaSet>(&mut generator, Operations::Crud),
        builtin::<batch::Job>(&mut generator, Operations::Crud),
        builtin::<batch::CronJob>(&mut generator, Operations::Crud),
        builtin::<networking::Ingress>(&mut generator, Operations::Crud),
        builtin::<networking::NetworkPolicy>(&mut generator, Operations::Crud),
        builtin::<policy::PodDisruptionBudget>(&mut generator, Operations::Crud),
        builtin::<autoscaling::HorizontalPodAutoscaler>(&mut generator, Operations::Crud),
        builtin::<rbac::Role>(&mut generator, Operations::Crud),
        builtin::<rbac::ClusterRole>(&mut generator, Operations::Crud),
        builtin::<rbac::RoleBinding>(&mut generator, Operations::Crud),
        builtin::<rbac::ClusterRoleBinding>(&mut generator, Operations::Crud),
        builtin::<coordination::Lease>(&mut generator, Operations::Crud),
        builtin::<events::Event>(&mut generator, Operations::Crud),
        builtin::<apiextensions::CustomResourceDefinition>(&mut generator, Operations::Crud),
        builtin::<authz::SelfSubjectAccessReview>(&mut generator, Operations::CreateOnly),
        builtin::<authz::SubjectAccessReview>(&mut generator, Operations::CreateOnly),
    ];
    // Operations' responses and bodies reference these.
    {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
        generator.subschema_for::<meta::ListMeta>();
        generator.subschema_for::<meta::Status>();
        generator.subschema_for::<meta::DeleteOptions>();
    }
    let mut pool = generator.take_definitions(true);
    for kind in &mut kinds {
        if let Some(schema) = pool.get_mut(&kind.schema_name) {
            publish_as_kind(schema, &kind.group, &kind.version, &kind.kind);
            kind.schema = schema.clone();
        }
    }
    let pool = Arc::new(pool);
    for kind in &mut kinds {
        kind.definitions = Arc::clone(&pool);
    }
    kinds
}

fn builtin<K>(generator: &mut SchemaGenerator, operations: Operations) -> KindSchema
where
    K: Resource + JsonSchema,
    K::Scope: 'static,
{
    // Registers K (and everything it references) in the generator's definitions;
    // the final schema is taken from there once transforms have run.
    generator.subschema_for::<K>();
    KindSchema {
        group: K::GROUP.to_string(),
        version: K::VERSION.to_string(),
        kind: K::KIND.to_string(),
        plural: K::URL_PATH_SEGMENT.to_string(),
        namespaced: std::any::TypeId::of::<K::Scope>()
            == std::any::TypeId::of::<NamespaceResourceScope>(),
        operations,
        strategic_merge_patch: false,
        schema_name: K::schema_name().into_owned(),
        schema: Value::Null,
        definitions: Arc::new(Map::new()),
    }
}

/// OpenAPI 3.0 flavour: refs under `#/components/schemas/`, and a `$ref` with a
/// description becomes `allOf: [{$ref}]` plus the description, as Kubernetes writes it.
fn schema_generator() -> SchemaGenerator {
    SchemaSettings::openapi3()
        .with(|s| s.meta_schema = None)
        .into_generator()
}

/// ObjectMeta, ListMeta, Status, DeleteOptions and what they reference: the shared
/// part of every custom resource document.
fn meta_definitions() -> Map<String, Value> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    let mut generator = schema_generator();
    generator.subschema_for::<meta::ObjectMeta>();
    generator.subschema_for::<meta::ListMeta>();
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.take_definitions(true)
}

/// Marks a kind's root schema the way kubectl looks for it, and drops k8s-openapi's
/// `required: [metadata]` (Kubernetes does not require metadata in the schema).
fn publish_as_kind(schema: &mut Value, group: &str, version: &str, kind: &str) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(required)) = object.get_mut("required") {
        required.retain(|r| r != "metadata");
        if required.is_empty() {
            object.remove("required");
        }
    }
    object.insert(
        "x-kubernetes-group-version-kind".to_string(),
        json!([{ "group": group, "kind": kind, "version": version }]),
    );
}

/// A CRD version's `openAPIV3Schema` as the server publishes it: `apiVersion`, `kind`
/// and `metadata` described and typed like any object's, plus the GVK marker.
fn crd_schema(schema: Value, group: &str, version: &str, kind: &str) -> Value {
    let mut object = match schema {
        Value::Object(object) => object,
        _ => {
            let mut object = Map::new();
            object.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            object
        }
    };
    object
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    let properties = object
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(properties) = properties {
        properties.insert("apiVersion".into(), api_version_property());
        properties.insert("kind".into(), kind_property());
        properties.insert(
            "metadata".into(),
            json!({
                "description": "Standard object metadata: name, namespace, labels, annotations and the fields the server maintains.",
                "allOf": [ { "$ref": format!("{REF_PREFIX}{OBJECT_META}") } ],
            }),
        );
    }
    let mut schema = Value::Object(object);
    publish_as_kind(&mut schema, group, version, kind);
    schema
}

fn api_version_property() -> Value {
    json!({
        "description": "The versioned schema of this representation of an object, as group/version (just the version for the core group).",
        "type": "string",
    })
}

fn kind_property() -> Value {
    json!({
        "description": "The REST resource this object represents, in CamelCase.",
        "type": "string",
    })
}

fn patch_body_schema() -> Value {
    json!({
        "description": "A patch document; its format is given by the request's Content-Type.",
        "type": "object",
    })
}

fn list_schema_name(kind: &KindSchema) -> String {
    format!("{}List", kind.schema_name)
}

fn list_schema(kind: &KindSchema) -> Value {
    json!({
        "description": format!("A list of {} objects.", kind.kind),
        "type": "object",
        "properties": {
            "apiVersion": api_version_property(),
            "items": {
                "description": format!("The {} objects.", kind.kind),
                "type": "array",
                "items": { "$ref": format!("{REF_PREFIX}{}", kind.schema_name) },
            },
            "kind": kind_property(),
            "metadata": {
                "description": "List metadata: resourceVersion and continue token.",
                "allOf": [ { "$ref": format!("{REF_PREFIX}{LIST_META}") } ],
            },
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [
            { "group": kind.group, "kind": format!("{}List", kind.kind), "version": kind.version }
        ],
    })
}

/// Names reachable from `roots` through `$ref`s, roots included.
fn reachable<'a>(
    roots: &[String],
    lookup: &impl Fn(&str) -> Option<&'a Value>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<String> = roots.to_vec();
    while let Some(name) = pending.pop() {
        if seen.contains(&name) {
            continue;
        }
        if let Some(schema) = lookup(&name) {
            collect_refs(schema, &mut pending);
        }
        seen.insert(name);
    }
    seen
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                match (key.as_str(), child) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(REF_PREFIX) {
                            out.push(name.to_string());
                        }
                    }
                    _ => collect_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn add_paths(paths: &mut Map<String, Value>, kind: &KindSchema) {
    let prefix = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    let collection = if kind.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural)
    } else {
        format!("{prefix}/{}", kind.plural)
    };
    let item = format!("{collection}/{{name}}");
    let scope_params: Vec<Value> = if kind.namespaced {
        vec![namespace_param()]
    } else {
        Vec::new()
    };

    let mut collection_ops = Map::new();
    collection_ops.insert("post".into(), operation(kind, Verb::Create));
    if kind.operations == Operations::CreateOnly {
        collection_ops.insert("parameters".into(), json!([pretty_param()]));
        paths.insert(collection, Value::Object(collection_ops));
        return;
    }
    collection_ops.insert("get".into(), operation(kind, Verb::List));
    collection_ops.insert("delete".into(), operation(kind, Verb::DeleteCollection));
    let mut params = scope_params.clone();
    params.push(pretty_param());
    collection_ops.insert("parameters".into(), Value::Array(params));
    paths.insert(collection, Value::Object(collection_ops));

    let mut item_ops = Map::new();
    item_ops.insert("get".into(), operation(kind, Verb::Read));
    item_ops.insert("put".into(), operation(kind, Verb::Replace));
    item_ops.insert("patch".into(), operation(kind, Verb::Patch));
    item_ops.insert("delete".into(), operation(kind, Verb::Delete));
    let mut params = vec![name_param(&kind.kind)];
    params.extend(scope_params);
    params.push(pretty_param());
    item_ops.insert("parameters".into(), Value::Array(params));
    paths.insert(item, Value::Object(item_ops));

    if kind.namespaced {
        let mut all_ops = Map::new();
        all_ops.insert("get".into(), operation(kind, Verb::ListAllNamespaces));
        all_ops.insert("parameters".into(), json!([pretty_param()]));
        paths.insert(format!("{prefix}/{}", kind.plural), Value::Object(all_ops));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    List,
    ListAllNamespaces,
    Create,
    DeleteCollection,
    Read,
    Replace,
    Patch,
    Delete,
}

fn operation(kind: &KindSchema, verb: Verb) -> Value {
    let kind_ref = json!({ "$ref": format!("{REF_PREFIX}{}", kind.schema_name) });
    let list_ref = json!({ "$ref": format!("{REF_PREFIX}{}", list_schema_name(kind)) });
    let status_ref = json!({ "$ref": format!("{REF_PREFIX}{STATUS}") });
    let (action, id_verb, summary) = match verb {
        Verb::List | Verb::ListAllNamespaces => ("list", "list", "list or watch objects of kind"),
        Verb::Create => ("post", "create", "create a"),
        Verb::DeleteCollection => ("deletecollection", "delete", "delete a collection of"),
        Verb::Read => ("get", "read", "read the specified"),
        Verb::Replace => ("put", "replace", "replace the specified"),
        Verb::Patch => ("patch", "patch", "partially update the specified"),
        Verb::Delete => ("delete", "delete", "delete a"),
    };
    let mut write_params = vec![dry_run_param(), field_manager_param()];
    let (parameters, request_body, responses) = match verb {
        Verb::List | Verb::ListAllNamespaces => (
            list_params(),
            None,
            json!({ "200": response("OK", &list_ref, true) }),
        ),
        Verb::Read => (
            Vec::new(),
            None,
            json!({ "200": response("OK", &kind_ref, false) }),
        ),
        Verb::Create | Verb::Replace => {
            write_params.push(field_validation_param());
            let mut responses = json!({
                "200": response("OK", &kind_ref, false),
                "201": response("Created", &kind_ref, false),
            });
            if verb == Verb::Create {
                responses["202"] = response("Accepted", &kind_ref, false);
            }
            (
                write_params,
                Some(json!({
                    "content": { "*/*": { "schema": kind_ref } },
                    "required": true,
                })),
                responses,
            )
        }
        Verb::Patch => {
            write_params.push(field_validation_param());
            write_params.push(force_param());
            let body = json!({ "schema": { "$ref": format!("{REF_PREFIX}{PATCH}") } });
            let mut content = Map::new();
            content.insert("application/apply-patch+yaml".into(), body.clone());
            content.insert("application/json-patch+json".into(), body.clone());
            content.insert("application/merge-patch+json".into(), body.clone());
            if kind.strategic_merge_patch {
                content.insert("application/strategic-merge-patch+json".into(), body);
            }
            (
                write_params,
                Some(json!({ "content": content, "required": true })),
                json!({
                    "200": response("OK", &kind_ref, false),
                    "201": response("Created", &kind_ref, false),
                }),
            )
        }
        Verb::Delete | Verb::DeleteCollection => {
            let mut params = vec![dry_run_param(), grace_period_param(), propagation_param()];
            if verb == Verb::DeleteCollection {
                params.extend(list_params());
            }
            (
                params,
                Some(json!({
                    "content": { "*/*": { "schema": { "$ref": format!("{REF_PREFIX}{DELETE_OPTIONS}") } } },
                })),
                json!({
                    "200": response("OK", &status_ref, false),
                    "202": response("Accepted", &status_ref, false),
                }),
            )
        }
    };
    let namespaced = kind.namespaced && verb != Verb::ListAllNamespaces;
    let collection = if verb == Verb::DeleteCollection {
        "Collection"
    } else {
        ""
    };
    let suffix = if verb == Verb::ListAllNamespaces {
        "ForAllNamespaces"
    } else {
        ""
    };
    let operation_id = format!(
        "{id_verb}{}{}{collection}{}{}{suffix}",
        group_camel(&kind.group),
        upper_first(&kind.version),
        if namespaced { "Namespaced" } else { "" },
        kind.kind,
    );
    let mut op = Map::new();
    op.insert("tags".into(), json!([tag(&kind.group, &kind.version)]));
    op.insert(
        "description".into(),
        json!(format!("{summary} {}", kind.kind)),
    );
    op.insert("operationId".into(), json!(operation_id));
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(body) = request_body {
        op.insert("requestBody".into(), body);
    }
    let mut responses = responses;
    responses["401"] = json!({ "description": "Unauthorized" });
    op.insert("responses".into(), responses);
    op.insert("x-kubernetes-action".into(), json!(action));
    op.insert(
        "x-kubernetes-group-version-kind".into(),
        json!({ "group": kind.group, "version": kind.version, "kind": kind.kind }),
    );
    Value::Object(op)
}

fn response(description: &str, schema: &Value, watchable: bool) -> Value {
    let mut content = Map::new();
    content.insert("application/json".into(), json!({ "schema": schema }));
    content.insert("application/yaml".into(), json!({ "schema": schema }));
    if watchable {
        content.insert(
            "application/json;stream=watch".into(),
            json!({ "schema": schema }),
        );
    }
    json!({ "description": description, "content": content })
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema,
        "uniqueItems": true,
    })
}

fn namespace_param() -> Value {
    json!({
        "name": "namespace",
        "in": "path",
        "description": "object name and auth scope, such as for teams and projects",
        "required": true,
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn name_param(kind: &str) -> Value {
    json!({
        "name": "name",
        "in": "path",
        "description": format!("name of the {kind}"),
        "required": true,
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn pretty_param() -> Value {
    query_param(
        "pretty",
        "If 'true', the output is pretty printed.",
        json!({ "type": "string" }),
    )
}

fn dry_run_param() -> Value {
    query_param(
        "dryRun",
        "When present, the request is validated and processed but not persisted. The only valid value is All.",
        json!({ "type": "string" }),
    )
}

fn field_manager_param() -> Value {
    query_param(
        "fieldManager",
        "Name of the actor making the change, recorded in managedFields.",
        json!({ "type": "string" }),
    )
}

fn field_validation_param() -> Value {
    query_param(
        "fieldValidation",
        "How the server treats unknown or duplicate fields in the body: Ignore, Warn or Strict.",
        json!({ "type": "string" }),
    )
}

fn force_param() -> Value {
    query_param(
        "force",
        "Server-side apply only: take ownership of fields other managers own instead of failing with a conflict.",
        json!({ "type": "boolean" }),
    )
}

fn grace_period_param() -> Value {
    query_param(
        "gracePeriodSeconds",
        "Seconds to wait before the object is deleted; zero deletes immediately.",
        json!({ "type": "integer" }),
    )
}

fn propagation_param() -> Value {
    query_param(
        "propagationPolicy",
        "Whether and how dependents are garbage collected: Orphan, Background or Foreground.",
        json!({ "type": "string" }),
    )
}

fn list_params() -> Vec<Value> {
    let string = json!({ "type": "string" });
    vec![
        query_param(
            "allowWatchBookmarks",
            "Ask for BOOKMARK events while watching.",
            json!({ "type": "boolean" }),
        ),
        query_param(
            "continue",
            "Continue token from a previous paginated list.",
            string.clone(),
        ),
        query_param(
            "fieldSelector",
            "Restrict the list by fields, e.g. metadata.name=foo.",
            string.clone(),
        ),
        query_param(
            "labelSelector",
            "Restrict the list by labels.",
            string.clone(),
        ),
        query_param(
            "limit",
            "Maximum number of items to return; more are left for a continue token.",
            json!({ "type": "integer" }),
        ),
        query_param(
            "resourceVersion",
            "Which version of the collection to serve or to watch from.",
            string.clone(),
        ),
        query_param(
            "resourceVersionMatch",
            "How resourceVersion applies: Exact or NotOlderThan.",
            string.clone(),
        ),
        query_param(
            "sendInitialEvents",
            "Start a watch with the current objects as ADDED events.",
            json!({ "type": "boolean" }),
        ),
        query_param(
            "timeoutSeconds",
            "Time limit for the list or watch call.",
            json!({ "type": "integer" }),
        ),
        query_param(
            "watch",
            "Watch for changes instead of listing.",
            json!({ "type": "boolean" }),
        ),
    ]
}

fn server_relative_url(doc: &V3Document) -> String {
    format!("{V3_ROOT}/{}?hash={}", doc.path, doc.etag)
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a serde_json::Value always serializes")
}

/// `source.toolkit.fluxcd.io` becomes `io.fluxcd.toolkit.source`, the prefix Kubernetes
/// gives custom resource schema names.
fn reverse_domain(group: &str) -> String {
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

/// `rbac.authorization.k8s.io` becomes `RbacAuthorization`, the core group `Core`: the
/// group part of operation ids.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    trimmed
        .split(['.', '-'])
        .map(upper_first)
        .collect::<String>()
}

fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut chars = camel.chars();
    let lower: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{lower}_{version}")
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn builtins() -> &'static [KindSchema] {
        static KINDS: OnceLock<Vec<KindSchema>> = OnceLock::new();
        KINDS.get_or_init(builtin_kind_schemas)
    }

    fn widget_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": { "name": "widgets.example.com" },
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": { "kind": "Widget", "plural": "widgets", "singular": "widget" },
                "versions": [
                    {
                        "name": "v1", "served": true, "storage": true,
                        "schema": { "openAPIV3Schema": {
                            "type": "object",
                            "description": "A Widget.",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": { "size": { "type": "integer", "description": "How big." } }
                                }
                            }
                        }}
                    },
                    { "name": "v1beta1", "served": false, "storage": false,
                      "schema": { "openAPIV3Schema": { "type": "object" } } },
                    { "name": "v2", "served": true, "storage": false,
                      "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } } }
                ]
            }
        })
    }

    fn all_kinds() -> Vec<KindSchema> {
        let mut kinds = builtins().to_vec();
        kinds.extend(crd_kind_schemas(&widget_crd()));
        kinds
    }

    fn docs() -> &'static OpenApiDocs {
        static DOCS: OnceLock<OpenApiDocs> = OnceLock::new();
        DOCS.get_or_init(|| OpenApiDocs::new(&all_kinds(), "v1.32.0"))
    }

    fn parse(body: &[u8]) -> Value {
        serde_json::from_slice(body).expect("documents are JSON")
    }

    fn get_json(path: &str) -> Value {
        match docs().respond(path, None, Some("application/json")) {
            OpenApiResponse::Ok { body, .. } => parse(body),
            other => panic!("GET {path}: {other:?}"),
        }
    }

    fn gv_doc(gv_path: &str) -> Value {
        get_json(&format!("/openapi/v3/{gv_path}"))
    }

    /// What `kubectl explain` does: find the GVK on an operation of the resource's
    /// paths, then the component schema carrying it, then follow the field path through
    /// properties, `$ref`, `allOf` and `items`. Returns the field's schema.
    fn explain(doc: &Value, prefix: &str, plural: &str, field_path: &[&str]) -> Option<Value> {
        let candidates = [
            format!("{prefix}/{plural}"),
            format!("{prefix}/{plural}/{{name}}"),
            format!("{prefix}/namespaces/{{namespace}}/{plural}"),
            format!("{prefix}/namespaces/{{namespace}}/{plural}/{{name}}"),
        ];
        let gvk = candidates.iter().find_map(|p| {
            ["get", "post", "put", "patch", "delete"]
                .iter()
                .find_map(|m| {
                    doc["paths"][p][m]
                        .get("x-kubernetes-group-version-kind")
                        .cloned()
                })
        })?;
        let schemas = doc["components"]["schemas"].as_object()?;
        let mut schema = schemas
            .values()
            .find(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|l| l.contains(&gvk))
            })?
            .clone();
        for field in field_path {
            schema = resolve(doc, &schema);
            if schema.get("items").is_some() {
                schema = resolve(doc, &schema["items"]);
            }
            schema = schema["properties"].get(*field).cloned()?;
        }
        Some(resolve(doc, &schema))
    }

    fn resolve(doc: &Value, schema: &Value) -> Value {
        let reference = schema["$ref"]
            .as_str()
            .or_else(|| schema["allOf"][0]["$ref"].as_str());
        match reference.and_then(|r| r.strip_prefix(REF_PREFIX)) {
            Some(name) => resolve(doc, &doc["components"]["schemas"][name]),
            None => schema.clone(),
        }
    }

    /// kubectl's check for server-side field validation: a PATCH operation tagged
    /// with the GVK that lists a `fieldValidation` query parameter.
    fn supports_field_validation(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
        let want = json!({ "group": group, "version": version, "kind": kind });
        doc["paths"].as_object().is_some_and(|paths| {
            paths.values().any(|item| {
                item["patch"]["x-kubernetes-group-version-kind"] == want
                    && item["patch"]["parameters"].as_array().is_some_and(|ps| {
                        ps.iter()
                            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
                    })
            })
        })
    }

    fn patch_content_types(doc: &Value, path: &str) -> Vec<String> {
        doc["paths"][path]["patch"]["requestBody"]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn index_lists_every_group_version_with_its_current_hash() {
        let index = get_json("/openapi/v3");
        let paths = index["paths"].as_object().expect("paths");
        for expected in [
            "api/v1",
            "apis/apps/v1",
            "apis/batch/v1",
            "apis/networking.k8s.io/v1",
            "apis/policy/v1",
            "apis/autoscaling/v2",
            "apis/rbac.authorization.k8s.io/v1",
            "apis/coordination.k8s.io/v1",
            "apis/events.k8s.io/v1",
            "apis/apiextensions.k8s.io/v1",
            "apis/authorization.k8s.io/v1",
            "apis/example.com/v1",
            "apis/example.com/v2",
        ] {
            let url = paths[expected]["serverRelativeURL"]
                .as_str()
                .expect(expected);
            let doc = docs()
                .documents()
                .iter()
                .find(|d| d.path == expected)
                .expect(expected);
            assert_eq!(url, format!("/openapi/v3/{expected}?hash={}", doc.etag));
        }
        assert!(
            !paths.contains_key("apis/example.com/v1beta1"),
            "unserved versions are not published"
        );
    }

    #[test]
    fn explain_deployment_spec_replicas_finds_an_integer() {
        let doc = gv_doc("apis/apps/v1");
        let replicas = explain(&doc, "/apis/apps/v1", "deployments", &["spec", "replicas"])
            .expect("deployment.spec.replicas");
        assert_eq!(replicas["type"], "integer");
        assert!(replicas["description"]
            .as_str()
            .is_some_and(|d| d.contains("desired pods")));
    }

    #[test]
    fn explain_reaches_nested_fields_through_lists() {
        let doc = gv_doc("api/v1");
        let image = explain(&doc, "/api/v1", "pods", &["spec", "containers", "image"])
            .expect("pod.spec.containers.image");
        assert_eq!(image["type"], "string");
        let doc = gv_doc("apis/rbac.authorization.k8s.io/v1");
        let verbs = explain(
            &doc,
            "/apis/rbac.authorization.k8s.io/v1",
            "clusterroles",
            &["rules", "verbs"],
        )
        .expect("clusterrole.rules.verbs");
        assert_eq!(verbs["type"], "array");
    }

    #[test]
    fn explain_finds_every_builtin_kind() {
        for kind in builtins() {
            let doc = gv_doc(&v3_path(&kind.group, &kind.version));
            let prefix = format!("/{}", v3_path(&kind.group, &kind.version));
            let schema = explain(&doc, &prefix, &kind.plural, &[])
                .unwrap_or_else(|| panic!("explain {}", kind.plural));
            assert!(
                schema["properties"]["metadata"].is_object(),
                "{} has metadata",
                kind.kind
            );
        }
    }

    #[test]
    fn metadata_is_not_marked_required() {
        // A real server's schema never requires metadata; kubectl explain would print
        // "-required-" next to it otherwise.
        let doc = gv_doc("apis/apps/v1");
        let deployment = &doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
        let required = deployment["required"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!required.contains(&json!("metadata")));
        // Required fields that Kubernetes does require stay.
        let doc = gv_doc("apis/rbac.authorization.k8s.io/v1");
        let binding = &doc["components"]["schemas"]["io.k8s.api.rbac.v1.RoleBinding"];
        assert!(binding["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("roleRef"))));
    }

    #[test]
    fn every_crud_kind_supports_server_side_field_validation() {
        for kind in all_kinds()
            .iter()
            .filter(|k| k.operations == Operations::Crud)
        {
            let doc = gv_doc(&v3_path(&kind.group, &kind.version));
            assert!(
                supports_field_validation(&doc, &kind.group, &kind.version, &kind.kind),
                "{}/{} {}",
                kind.group,
                kind.version,
                kind.kind
            );
        }
        // CRDs not yet in the index fall back to Namespace's PATCH operation.
        assert!(supports_field_validation(
            &gv_doc("api/v1"),
            "",
            "v1",
            "Namespace"
        ));
    }

    #[test]
    fn builtin_patch_leaves_strategic_merge_to_kubectls_compiled_types() {
        let doc = gv_doc("apis/apps/v1");
        let types = patch_content_types(
            &doc,
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        );
        assert!(types.contains(&"application/apply-patch+yaml".to_string()));
        assert!(types.contains(&"application/merge-patch+json".to_string()));
        assert!(types.contains(&"application/json-patch+json".to_string()));
        assert!(!types.contains(&"application/strategic-merge-patch+json".to_string()));
    }

    #[test]
    fn custom_resources_never_offer_strategic_merge_patch() {
        let doc = gv_doc("apis/example.com/v1");
        let types = patch_content_types(
            &doc,
            "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}",
        );
        assert_eq!(types.len(), 3, "{types:?}");
        assert!(!types.contains(&"application/strategic-merge-patch+json".to_string()));
    }

    #[test]
    fn crd_schema_is_published_like_kubernetes_does() {
        let doc = gv_doc("apis/example.com/v1");
        let widget = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(
            widget["x-kubernetes-group-version-kind"],
            json!([{ "group": "example.com", "kind": "Widget", "version": "v1" }])
        );
        assert_eq!(widget["description"], "A Widget.");
        let size =
            explain(&doc, "/apis/example.com/v1", "widgets", &["spec", "size"]).expect("spec.size");
        assert_eq!(size["type"], "integer");
        let spec = explain(&doc, "/apis/example.com/v1", "widgets", &["spec"]).expect("spec");
        assert_eq!(spec["required"], json!(["size"]));
        // metadata is ObjectMeta, so explain widget.metadata.labels works.
        let labels = explain(
            &doc,
            "/apis/example.com/v1",
            "widgets",
            &["metadata", "labels"],
        )
        .expect("labels");
        assert_eq!(labels["type"], "object");
        assert_eq!(widget["properties"]["apiVersion"]["type"], "string");
        assert_eq!(widget["properties"]["kind"]["type"], "string");
    }

    #[test]
    fn crd_without_declared_fields_keeps_unknown_fields() {
        let doc = gv_doc("apis/example.com/v2");
        let widget = &doc["components"]["schemas"]["com.example.v2.Widget"];
        assert_eq!(widget["x-kubernetes-preserve-unknown-fields"], true);
        assert!(widget["properties"]["metadata"].is_object());
    }

    #[test]
    fn cluster_scoped_kinds_have_no_namespace_paths() {
        let doc = gv_doc("apis/rbac.authorization.k8s.io/v1");
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.contains_key("/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"));
        assert!(!paths
            .keys()
            .any(|p| p.contains("namespaces/{namespace}/clusterroles")));
        assert!(paths.contains_key(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/{name}"
        ));
        // Namespaced kinds can also be listed across all namespaces.
        assert!(paths["/apis/rbac.authorization.k8s.io/v1/roles"]["get"].is_object());
        let mut crd = widget_crd();
        crd["spec"]["scope"] = json!("Cluster");
        let kinds = crd_kind_schemas(&crd);
        assert!(kinds.iter().all(|k| !k.namespaced));
        let doc = v3_group_version("example.com", "v1", &kinds[..1]);
        assert!(doc["paths"]["/apis/example.com/v1/widgets/{name}"]["patch"].is_object());
    }

    #[test]
    fn reviews_can_only_be_created() {
        let doc = gv_doc("apis/authorization.k8s.io/v1");
        let item = &doc["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"];
        assert_eq!(item["post"]["x-kubernetes-action"], "post");
        assert!(item.get("get").is_none() && item.get("patch").is_none());
        assert!(doc["paths"]
            .get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/{name}")
            .is_none());
        let review = explain(
            &doc,
            "/apis/authorization.k8s.io/v1",
            "selfsubjectaccessreviews",
            &["spec"],
        );
        assert!(review.is_some(), "explain selfsubjectaccessreviews.spec");
    }

    #[test]
    fn every_reference_resolves_within_its_document() {
        for document in docs().documents() {
            let doc = parse(&document.body);
            let mut refs = Vec::new();
            collect_refs(&doc, &mut refs);
            for name in refs {
                assert!(
                    doc["components"]["schemas"].get(&name).is_some(),
                    "{}: dangling $ref {name}",
                    document.path
                );
            }
        }
    }

    #[test]
    fn operation_ids_follow_kubernetes_naming() {
        let doc = gv_doc("apis/apps/v1");
        let item = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        assert_eq!(
            item["patch"]["operationId"],
            "patchAppsV1NamespacedDeployment"
        );
        assert_eq!(item["get"]["operationId"], "readAppsV1NamespacedDeployment");
        let all = &doc["paths"]["/apis/apps/v1/deployments"];
        assert_eq!(
            all["get"]["operationId"],
            "listAppsV1DeploymentForAllNamespaces"
        );
        let doc = gv_doc("apis/rbac.authorization.k8s.io/v1");
        let collection = &doc["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles"];
        assert_eq!(
            collection["delete"]["operationId"],
            "deleteRbacAuthorizationV1CollectionClusterRole"
        );
        let doc = gv_doc("api/v1");
        assert_eq!(
            doc["paths"]["/api/v1/namespaces/{name}"]["put"]["operationId"],
            "replaceCoreV1Namespace"
        );
    }

    #[test]
    fn stale_hash_redirects_to_the_current_document() {
        let doc = docs()
            .documents()
            .iter()
            .find(|d| d.path == "apis/apps/v1")
            .expect("apps/v1");
        match docs().respond(
            "/openapi/v3/apis/apps/v1",
            Some("0123ABC"),
            Some("application/json"),
        ) {
            OpenApiResponse::Redirect { location } => {
                assert_eq!(
                    location,
                    format!("/openapi/v3/apis/apps/v1?hash={}", doc.etag)
                );
            }
            other => panic!("{other:?}"),
        }
        match docs().respond(
            "/openapi/v3/apis/apps/v1",
            Some(&doc.etag),
            Some("application/json"),
        ) {
            OpenApiResponse::Ok {
                immutable, etag, ..
            } => {
                assert!(immutable, "a hashed URL is cacheable forever");
                assert_eq!(etag, doc.etag);
            }
            other => panic!("{other:?}"),
        }
        match docs().respond("/openapi/v3/apis/apps/v1", None, None) {
            OpenApiResponse::Ok { immutable, .. } => assert!(!immutable),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_paths_and_formats_are_refused() {
        assert_eq!(
            docs().respond("/openapi/v3/apis/nope/v1", None, None),
            OpenApiResponse::NotFound
        );
        assert_eq!(
            docs().respond("/openapi/v4", None, None),
            OpenApiResponse::NotFound
        );
        assert_eq!(
            docs().respond(
                "/openapi/v3/apis/apps/v1",
                None,
                Some("application/com.github.proto-openapi.spec.v3@v1.0+protobuf")
            ),
            OpenApiResponse::NotAcceptable
        );
        assert!(matches!(
            docs().respond(
                "/openapi/v3/apis/apps/v1/",
                None,
                Some("application/json, */*")
            ),
            OpenApiResponse::Ok { .. }
        ));
    }

    #[test]
    fn hashes_are_stable_and_change_only_with_their_document() {
        let again = OpenApiDocs::new(&all_kinds(), "v1.32.0");
        assert_eq!(again.documents(), docs().documents());
        let mut crd = widget_crd();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["color"] = json!({ "type": "string" });
        // Built-in documents rendered once, custom resources re-rendered on change.
        let mut documents = v3_documents(builtins());
        documents.extend(v3_documents(&crd_kind_schemas(&crd)));
        let changed = OpenApiDocs::from_documents(documents, "v1.32.0");
        for (before, after) in docs().documents().iter().zip(changed.documents()) {
            assert_eq!(before.path, after.path);
            assert_eq!(
                before.etag == after.etag,
                before.path != "apis/example.com/v1",
                "{}",
                before.path
            );
        }
        assert_eq!(document_etag(b"").len(), 128, "SHA-512 as upper-case hex");
        assert!(document_etag(b"x")
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }

    /// Reads the length-delimited fields of one protobuf message.
    fn protobuf_fields(mut bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
        fn varint(bytes: &mut &[u8]) -> u64 {
            let mut value = 0;
            let mut shift = 0;
            loop {
                let byte = bytes[0];
                *bytes = &bytes[1..];
                value |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    return value;
                }
                shift += 7;
            }
        }
        let mut fields = Vec::new();
        while !bytes.is_empty() {
            let key = varint(&mut bytes);
            assert_eq!(key & 7, 2, "only length-delimited fields");
            let len = varint(&mut bytes) as usize;
            fields.push((key >> 3, bytes[..len].to_vec()));
            bytes = &bytes[len..];
        }
        fields
    }

    #[test]
    fn v2_is_served_as_the_protobuf_kubectl_asks_for() {
        let OpenApiResponse::Ok {
            content_type, body, ..
        } = docs().respond("/openapi/v2", None, Some(V2_PROTOBUF))
        else {
            panic!("v2 protobuf");
        };
        assert_eq!(content_type, V2_PROTOBUF_RESPONSE);
        let fields = protobuf_fields(body);
        assert_eq!(fields[0], (1, b"2.0".to_vec()), "swagger");
        let info = protobuf_fields(&fields[1].1);
        assert_eq!(fields[1].0, 2);
        assert_eq!(
            info,
            vec![(1, b"Kubernetes".to_vec()), (2, b"v1.32.0".to_vec())]
        );
        assert_eq!(fields[2], (8, Vec::new()), "empty paths");
        assert_eq!(fields[3], (9, Vec::new()), "empty definitions");
    }

    #[test]
    fn v2_as_json_for_other_clients() {
        let v2 = get_json("/openapi/v2");
        assert_eq!(v2["swagger"], "2.0");
        assert_eq!(v2["info"]["version"], "v1.32.0");
        assert_eq!(v2["definitions"], json!({}));
        assert_eq!(
            docs().respond("/openapi/v2", None, Some("text/html")),
            OpenApiResponse::NotAcceptable
        );
    }

    #[test]
    fn long_strings_get_multi_byte_protobuf_lengths() {
        let version = "v".repeat(300);
        let fields = protobuf_fields(&v2_document_protobuf(&version));
        let info = protobuf_fields(&fields[1].1);
        assert_eq!(info[1].1.len(), 300);
    }

    #[test]
    fn crd_objects_without_names_yield_nothing() {
        assert!(crd_kind_schemas(&json!({ "spec": { "group": "example.com" } })).is_empty());
        assert!(crd_kind_schemas(&json!({})).is_empty());
    }
}
