//! The HTTP face of the server: authentication, impersonation, authorization, routing
//! to discovery or to the verbs, content negotiation, audit and fault injection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited};
use serde_json::{json, Value};

use crate::api::{DeleteOptions, PatchType, State, Target, WriteOptions};
use crate::audit::{AuditLog, AuditRecord};
use crate::faults::{Faults, InjectedFault};
use crate::rbac::{self, Attributes, Decision, UserInfo};
use crate::request::{self, Query, RequestInfo};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::{discovery, table, watch};

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Requests larger than this are refused, as kube-apiserver refuses bodies over 3 MiB.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Everything request handlers share.
pub struct Shared {
    pub state: Mutex<State>,
    pub audit: Option<AuditLog>,
    pub faults: Faults,
    /// Wakes the controllers (garbage collector, namespaces, kubelet) after writes.
    pub wake: tokio::sync::Notify,
    pub server_url: String,
    pub openapi: crate::openapi_http::OpenApiCache,
    pub bookmark_interval: std::time::Duration,
}

impl Shared {
    /// The state, even if a handler panicked while holding it: every write either
    /// completes under the lock or leaves the store untouched.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn json_response(code: u16, value: &Value) -> Response<Body> {
    let mut body = value.to_string();
    body.push('\n');
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(body))
        .expect("static headers are valid")
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut resp = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after {
        if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
    }
    resp
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// What the client wants back for reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Object,
    Table,
    Metadata,
}

fn shape(headers: &HeaderMap) -> Shape {
    let accept = header(headers, "accept");
    // Clients list preferences in order; the first we can produce wins.
    for part in accept.split(',') {
        if part.contains("as=Table") {
            return Shape::Table;
        }
        if part.contains("as=PartialObjectMetadata") {
            return Shape::Metadata;
        }
        if part.trim().starts_with("application/json") || part.trim().starts_with("*/*") {
            return Shape::Object;
        }
    }
    Shape::Object
}

/// Handles one HTTP request from `peer`.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let received = chrono::Utc::now();
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (parts, body) = req.into_parts();
    let query = request::parse_query(parts.uri.query());
    let info = request::resolve(parts.method.as_str(), parts.uri.path(), &query);
    let user_agent = header(&parts.headers, "user-agent").to_owned();
    let request_uri = parts.uri.to_string();

    let (user, impersonated, response) = match authenticate(&shared, &parts.headers) {
        Err(e) => (
            UserInfo {
                name: "system:anonymous".into(),
                groups: vec!["system:unauthenticated".into()],
            },
            None,
            error_response(&e),
        ),
        Ok(user) => {
            let outcome = match impersonate(&shared, &user, &parts.headers) {
                Err(e) => (None, error_response(&e)),
                Ok(effective) => {
                    let acting = effective.clone().unwrap_or_else(|| user.clone());
                    let resp = serve(
                        &shared,
                        &acting,
                        &info,
                        &parts.method,
                        &parts.headers,
                        &query,
                        parts.uri.query(),
                        body,
                        &user_agent,
                    )
                    .await;
                    (effective, resp)
                }
            };
            (user, outcome.0, outcome.1)
        }
    };
    if let Some(audit) = &shared.audit {
        audit.record(&AuditRecord {
            verb: &info.verb,
            request_uri: &request_uri,
            user: &user,
            impersonated: impersonated.as_ref(),
            user_agent: &user_agent,
            source_ip: peer.ip().to_string(),
            api_group: &info.api_group,
            api_version: &info.api_version,
            resource: &info.resource,
            subresource: &info.subresource,
            namespace: &info.namespace,
            name: &info.name,
            code: response.status().as_u16(),
            received,
            finished: chrono::Utc::now(),
        });
    }
    response
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let auth = header(headers, "authorization");
    if let Some(token) = auth.strip_prefix("Bearer ").map(str::trim) {
        return shared
            .lock()
            .identities
            .tokens
            .get(token)
            .cloned()
            .ok_or_else(ApiError::unauthorized);
    }
    if auth.is_empty() {
        return Ok(UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        });
    }
    Err(ApiError::unauthorized())
}

/// Applies `Impersonate-*` headers after checking the caller may impersonate.
fn impersonate(
    shared: &Shared,
    user: &UserInfo,
    headers: &HeaderMap,
) -> Result<Option<UserInfo>, ApiError> {
    let name = header(headers, "impersonate-user");
    let groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    if name.is_empty() {
        if groups.is_empty() {
            return Ok(None);
        }
        return Err(ApiError::internal(
            "requested impersonation of groups without a user",
        ));
    }
    let state = shared.lock();
    let rbac_objects = rbac_snapshot(&state);
    let check = |attrs: Attributes| -> Result<(), ApiError> {
        match rbac::authorize(user, &attrs, &rbac_objects) {
            Decision::Allow => Ok(()),
            Decision::Deny(_) => Err(ApiError::forbidden(format!(
                "{} \"{}\" is forbidden: User \"{}\" cannot impersonate resource \"{}\" in API group \"\"{}",
                attrs.resource, attrs.name, user.name, attrs.resource,
                if attrs.namespace.is_empty() { " at the cluster scope".to_owned() } else { format!(" in the namespace \"{}\"", attrs.namespace) }
            ))),
        }
    };
    let mut effective_groups = groups.clone();
    if let Some(sa) = name.strip_prefix("system:serviceaccount:") {
        let (ns, sa_name) = sa.split_once(':').unwrap_or(("", sa));
        check(Attributes {
            verb: "impersonate".into(),
            resource: "serviceaccounts".into(),
            namespace: ns.into(),
            name: sa_name.into(),
            ..Attributes::default()
        })?;
        if groups.is_empty() {
            effective_groups = vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
            ];
        }
    } else {
        check(Attributes {
            verb: "impersonate".into(),
            resource: "users".into(),
            name: name.into(),
            ..Attributes::default()
        })?;
    }
    for g in &groups {
        check(Attributes {
            verb: "impersonate".into(),
            resource: "groups".into(),
            name: g.clone(),
            ..Attributes::default()
        })?;
    }
    if name != "system:anonymous" && !effective_groups.iter().any(|g| g == "system:authenticated") {
        effective_groups.push("system:authenticated".into());
    }
    Ok(Some(UserInfo {
        name: name.to_owned(),
        groups: effective_groups,
    }))
}

pub fn rbac_snapshot(state: &State) -> rbac::RbacObjects {
    let all = |plural: &str| -> Vec<Value> {
        state
            .store
            .list(&format!("rbac.authorization.k8s.io/{plural}"), None)
            .iter()
            .map(|o| (**o).clone())
            .collect()
    };
    rbac::RbacObjects {
        roles: all("roles"),
        cluster_roles: all("clusterroles"),
        role_bindings: all("rolebindings"),
        cluster_role_bindings: all("clusterrolebindings"),
    }
}

fn attributes(info: &RequestInfo) -> Attributes {
    if info.is_resource {
        Attributes {
            verb: info.verb.clone(),
            api_group: info.api_group.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            non_resource_path: None,
        }
    } else {
        Attributes {
            verb: info.verb.clone(),
            non_resource_path: Some(info.path.clone()),
            ..Attributes::default()
        }
    }
}

fn authorize(shared: &Shared, user: &UserInfo, info: &RequestInfo) -> Result<(), ApiError> {
    if user.groups.iter().any(|g| g == "system:masters") {
        return Ok(());
    }
    let public = ["/version", "/healthz", "/livez", "/readyz"];
    if !info.is_resource && public.contains(&info.path.as_str()) {
        return Ok(());
    }
    if user.name == "system:anonymous" {
        return Err(ApiError::unauthorized());
    }
    let attrs = attributes(info);
    let state = shared.lock();
    match rbac::authorize(user, &attrs, &rbac_snapshot(&state)) {
        Decision::Allow => Ok(()),
        Decision::Deny(reason) => Err(ApiError::forbidden(rbac::forbidden_message(
            user, &attrs, &reason,
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    shared: &Arc<Shared>,
    user: &UserInfo,
    info: &RequestInfo,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    raw_query: Option<&str>,
    body: hyper::body::Incoming,
    user_agent: &str,
) -> Response<Body> {
    if let Err(e) = authorize(shared, user, info) {
        return error_response(&e);
    }
    match shared.faults.draw() {
        Some(InjectedFault::Error) => return error_response(&ApiError::internal("injected fault")),
        Some(InjectedFault::Throttle) => return error_response(&ApiError::too_many_requests(1)),
        None => {}
    }
    if !info.is_resource {
        return discovery::serve(shared, &info.path, raw_query, headers);
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return error_response(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                "the request body is too large",
            ))
        }
    };
    match resource_request(
        shared, user, info, method, headers, query, &bytes, user_agent,
    )
    .await
    {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

/// Reads a request body: JSON, or Kubernetes protobuf for the built-in kinds clients
/// send that way (kubectl create, auth can-i, Helm's release Secrets).
fn parse_body(bytes: &[u8], headers: &HeaderMap) -> Result<Value, ApiError> {
    let content_type = header(headers, "content-type");
    if crate::protobuf::is_protobuf_media_type(content_type) {
        return crate::protobuf::decode(bytes).map_err(|e| {
            if e.is_unsupported() {
                ApiError::unsupported_media_type(content_type)
            } else {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as protobuf: {e}"
                ))
            }
        });
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

/// The field manager of a write: the `fieldManager` parameter, or the User-Agent's
/// program name as kube-apiserver derives it.
fn field_manager(query: &Query, user_agent: &str) -> String {
    match query.get("fieldManager") {
        Some(m) if !m.is_empty() => m.clone(),
        _ => user_agent
            .split('/')
            .next()
            .unwrap_or("")
            .chars()
            .take(128)
            .collect(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource_request(
    shared: &Arc<Shared>,
    user: &UserInfo,
    info: &RequestInfo,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    body: &[u8],
    user_agent: &str,
) -> Result<Response<Body>, ApiError> {
    let resource_info = shared
        .lock()
        .registry
        .lookup(&info.api_group, &info.api_version, &info.resource)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        })?;
    let target = Target {
        namespace: if resource_info.namespaced {
            info.namespace.clone()
        } else {
            String::new()
        },
        info: resource_info.clone(),
        version: info.api_version.clone(),
    };
    let opts = WriteOptions {
        user: user.clone(),
        dry_run: query.get("dryRun").is_some_and(|v| v == "All"),
        field_manager: field_manager(query, user_agent),
        field_validation: query.get("fieldValidation").cloned().unwrap_or_default(),
        now: chrono::Utc::now(),
    };
    if resource_info.virtual_create {
        if info.verb != "create" {
            return Err(ApiError::method_not_allowed(format!(
                "{} is not supported on {}",
                info.verb, info.resource
            )));
        }
        let review = crate::reviews::answer(
            shared,
            user,
            &resource_info.kind,
            parse_body(body, headers)?,
        )?;
        return Ok(json_response(201, &review));
    }
    let subresource = info.subresource.as_str();
    match subresource {
        "" | "status" => {}
        "scale" if resource_info.scale_spec(&info.api_version).is_some() => {
            return crate::scale::serve(shared, &target, info, headers, body, &opts);
        }
        "token" if resource_info.kind == "ServiceAccount" && info.verb == "create" => {
            return crate::reviews::token_request(
                shared,
                &target,
                &info.name,
                parse_body(body, headers)?,
            );
        }
        _ => {
            return Err(ApiError::not_found(
                &resource_info.group,
                &format!("{}/{}", resource_info.plural, subresource),
                &info.name,
            ))
        }
    }
    if subresource == "status" && !resource_info.has_status(&info.api_version) {
        return Err(ApiError::not_found(
            &resource_info.group,
            &resource_info.plural,
            &info.name,
        ));
    }
    let shape = shape(headers);
    let include_object = query
        .get("includeObject")
        .cloned()
        .unwrap_or_else(|| "Metadata".into());
    match info.verb.as_str() {
        "get" => {
            let object = shared.lock().get(&target, &info.name)?;
            Ok(json_response(
                200,
                &reshape(shared, &target, shape, &include_object, vec![object], None),
            ))
        }
        "list" => {
            let (labels, fields) = selectors(query)?;
            let limit = query.get("limit").and_then(|l| l.parse().ok());
            let list = shared.lock().list(
                &target,
                &labels,
                &fields,
                limit,
                query.get("continue").map(String::as_str),
            )?;
            match shape {
                Shape::Object => Ok(json_response(200, &list)),
                _ => {
                    let items = list["items"].as_array().cloned().unwrap_or_default();
                    Ok(json_response(
                        200,
                        &reshape(
                            shared,
                            &target,
                            shape,
                            &include_object,
                            items,
                            Some(list["metadata"].clone()),
                        ),
                    ))
                }
            }
        }
        "watch" => {
            let (labels, fields) = selectors(query)?;
            watch::serve(
                shared.clone(),
                target,
                labels,
                fields,
                query,
                shape,
                include_object,
            )
        }
        "create" => {
            let written = shared
                .lock()
                .create(&target, parse_body(body, headers)?, &opts)?;
            shared.wake.notify_one();
            Ok(json_response(201, &written.object))
        }
        "update" => {
            let written = shared.lock().update(
                &target,
                &info.name,
                parse_body(body, headers)?,
                subresource,
                &opts,
                false,
            )?;
            shared.wake.notify_one();
            Ok(json_response(
                if written.created { 201 } else { 200 },
                &written.object,
            ))
        }
        "patch" => {
            let content_type = header(headers, "content-type");
            let patch_type = match content_type.split(';').next().unwrap_or("").trim() {
                "application/json-patch+json" => PatchType::Json,
                "application/merge-patch+json" => PatchType::Merge,
                "application/strategic-merge-patch+json" => PatchType::Strategic,
                "application/apply-patch+yaml" | "application/apply-patch+json" => PatchType::Apply,
                other => return Err(ApiError::unsupported_media_type(other)),
            };
            let force = query.get("force").is_some_and(|f| f == "true");
            let written = shared.lock().patch(
                &target,
                &info.name,
                patch_type,
                parse_body(body, headers)?,
                subresource,
                force,
                &opts,
            )?;
            shared.wake.notify_one();
            Ok(json_response(
                if written.created { 201 } else { 200 },
                &written.object,
            ))
        }
        "delete" => {
            let del = delete_options(query, body, headers)?;
            let object = shared.lock().delete(&target, &info.name, &del, &opts)?;
            shared.wake.notify_one();
            Ok(json_response(200, &object))
        }
        "deletecollection" => {
            let (labels, fields) = selectors(query)?;
            let del = delete_options(query, body, headers)?;
            let mut state = shared.lock();
            let list = state.list(&target, &labels, &fields, None, None)?;
            let mut deleted = Vec::new();
            for item in list["items"].as_array().into_iter().flatten() {
                let name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let item_target = Target {
                    namespace: item
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    ..target.clone()
                };
                deleted.push(state.delete(&item_target, name, &del, &opts)?);
            }
            drop(state);
            shared.wake.notify_one();
            Ok(json_response(
                200,
                &json!({
                    "apiVersion": resource_info.api_version(&info.api_version),
                    "kind": resource_info.list_kind,
                    "metadata": {},
                    "items": deleted,
                }),
            ))
        }
        other => Err(ApiError::method_not_allowed(format!(
            "{method} ({other}) is not supported"
        ))),
    }
}

/// The label and field selectors of a list, watch or deletecollection.
fn selectors(query: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let text = |k: &str| query.get(k).map_or("", String::as_str);
    let labels = LabelSelector::parse(text("labelSelector"))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(text("fieldSelector"))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((labels, fields))
}

fn delete_options(
    query: &Query,
    body: &[u8],
    headers: &HeaderMap,
) -> Result<DeleteOptions, ApiError> {
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_body(body, headers)?
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    Ok(DeleteOptions {
        propagation: query
            .get("propagationPolicy")
            .cloned()
            .or_else(|| text(parsed.get("propagationPolicy")))
            .or_else(
                || match parsed.get("orphanDependents").and_then(Value::as_bool) {
                    Some(true) => Some("Orphan".into()),
                    _ => None,
                },
            ),
        precondition_uid: text(parsed.pointer("/preconditions/uid")),
        precondition_rv: text(parsed.pointer("/preconditions/resourceVersion")),
    })
}

/// Turns objects into what the client asked for: themselves, a Table, or metadata only.
/// With `list_metadata` the result is a list; without, one object.
pub fn reshape(
    shared: &Shared,
    target: &Target,
    shape: Shape,
    include_object: &str,
    objects: Vec<Value>,
    list_metadata: Option<Value>,
) -> Value {
    match shape {
        Shape::Object => objects.into_iter().next().unwrap_or(Value::Null),
        Shape::Table => {
            let columns = target
                .info
                .crd_version(&target.version)
                .map(|v| v.printer_columns.clone());
            let _ = shared;
            table::to_table(
                &target.info.group,
                &target.info.kind,
                columns.as_deref(),
                &objects,
                include_object,
                list_metadata.unwrap_or_else(|| json!({})),
                chrono::Utc::now(),
            )
        }
        Shape::Metadata => {
            let partial = |o: &Value| {
                json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
                })
            };
            match list_metadata {
                Some(meta) => json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": objects.iter().map(partial).collect::<Vec<_>>(),
                }),
                None => objects.first().map(partial).unwrap_or(Value::Null),
            }
        }
    }
}

/// A 404 for paths that name nothing.
pub fn not_found_response() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "text/plain; charset=utf-8")
        .body(full("404 page not found\n"))
        .expect("static headers are valid")
}
