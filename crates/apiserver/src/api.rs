//! The verbs on stored objects: get, list, create, update, patch, delete, and the
//! lifecycle rules around them (generation, finalizers, status subresource,
//! managedFields, dry run). Everything here runs under the server's state lock and does
//! no IO.

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;
use serde_json::{json, Value};

use crate::managed;
use crate::objects::{self, kind_group};
use crate::rbac::UserInfo;
use crate::resources::{Registry, ResourceInfo};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{str_at, Store};
use crate::util::rfc3339;

/// Who asks, and the options every write shares.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub user: UserInfo,
    pub dry_run: bool,
    /// `fieldManager`, or the manager derived from the User-Agent.
    pub field_manager: String,
    /// `fieldValidation`: Strict refuses unknown fields, Ignore and Warn drop them.
    pub field_validation: String,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// A 400 for unknown fields under `fieldValidation=Strict`, worded as the real decoder.
fn strict_check(t: &Target, unknown: &[String], opts: &WriteOptions) -> Result<(), ApiError> {
    if opts.field_validation != "Strict" || unknown.is_empty() {
        return Ok(());
    }
    let fields: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    Err(ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        fields.join(", "),
        kind = t.info.kind,
        version = t.version,
    )))
}

/// Where a request points: a resource at a version, maybe in a namespace.
#[derive(Debug, Clone)]
pub struct Target {
    pub info: Arc<ResourceInfo>,
    pub version: String,
    pub namespace: String,
}

/// A patch body and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// Tokens of users and service accounts, and the state beside the store.
#[derive(Default)]
pub struct Identities {
    pub tokens: HashMap<String, UserInfo>,
}

/// The whole mutable state of the server.
pub struct State {
    pub store: Store,
    pub registry: Registry,
    pub identities: Identities,
    /// Set by deletions: the garbage collector and namespace controller have work.
    pub gc_pending: bool,
    /// The next Service cluster IP to hand out, as an offset in 10.96.0.0/12.
    next_cluster_ip: u32,
}

/// What a write did, for the HTTP layer to answer with.
pub struct Written {
    pub object: Value,
    pub created: bool,
}

impl State {
    pub fn new() -> Self {
        State {
            store: Store::new(),
            registry: Registry::with_builtins(),
            identities: Identities::default(),
            gc_pending: false,
            next_cluster_ip: 1,
        }
    }

    /// The stored object as the client asked for it.
    pub fn present(&self, t: &Target, object: &Value) -> Value {
        present(t, object)
    }

    /// Removes an object for good, with what removal sets off: garbage collection,
    /// and for a CRD, the end of serving its kind.
    pub fn remove_object(&mut self, key: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let removed = self.store.remove(key, namespace, name)?;
        self.gc_pending = true;
        if key == "apiextensions.k8s.io/customresourcedefinitions" {
            if let Ok(served) = crate::resources::from_crd(&removed) {
                self.registry.remove(&served.key());
            }
        }
        Some(removed)
    }

    pub fn get(&self, t: &Target, name: &str) -> Result<Value, ApiError> {
        self.store
            .get(&t.info.key(), &t.namespace, name)
            .map(|o| self.present(t, &o))
            .ok_or_else(|| ApiError::not_found(&t.info.group, &t.info.plural, name))
    }

    /// A list, with selectors and pagination (`limit`, `continue` as an opaque offset).
    pub fn list(
        &self,
        t: &Target,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<Value, ApiError> {
        let namespace = (t.info.namespaced && !t.namespace.is_empty())
            .then_some(t.namespace.as_str())
            .or_else(|| fields.equality("metadata.namespace"));
        let mut items: Vec<Arc<Value>> = self
            .store
            .list(&t.info.key(), namespace)
            .into_iter()
            .filter(|o| {
                labels.matches(o.pointer("/metadata/labels").and_then(Value::as_object))
                    && fields.matches(o)
            })
            .collect();
        let (list_rv, offset) = match continue_token {
            Some(token) => decode_continue(token)?,
            None => (self.store.resource_version(), 0),
        };
        items = items.split_off(offset.min(items.len()));
        let mut metadata = json!({"resourceVersion": list_rv.to_string()});
        if let Some(limit) = limit.filter(|l| *l > 0) {
            if items.len() > limit {
                let remaining = items.len() - limit;
                items.truncate(limit);
                metadata["continue"] = json!(encode_continue(list_rv, offset + limit));
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
        Ok(json!({
            "apiVersion": t.info.api_version(&t.version),
            "kind": t.info.list_kind,
            "metadata": metadata,
            "items": items.iter().map(|o| self.present(t, o)).collect::<Vec<_>>(),
        }))
    }

    fn require_namespace(&self, t: &Target) -> Result<(), ApiError> {
        if !t.info.namespaced {
            return Ok(());
        }
        match self.store.get("/namespaces", "", &t.namespace) {
            None => Err(ApiError::not_found("", "namespaces", &t.namespace)),
            Some(ns) if ns.pointer("/metadata/deletionTimestamp").is_some() => {
                Err(ApiError::forbidden(format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                    crate::status::qualified(&t.info.group, &t.info.plural),
                    str_at_owned(None, "/metadata/name"),
                    t.namespace
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Checks `apiVersion`/`kind` and the namespace of a request body against the URL.
    fn check_body(&self, t: &Target, body: &mut Value) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        let expected = t.info.api_version(&t.version);
        let api_version = str_at(body, "/apiVersion");
        let kind = str_at(body, "/kind");
        if (!api_version.is_empty() && api_version != expected)
            || (!kind.is_empty() && kind != t.info.kind)
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected})"
            )));
        }
        if !body.get("metadata").is_some_and(Value::is_object) {
            body["metadata"] = json!({});
        }
        let body_ns = str_at(body, "/metadata/namespace").to_owned();
        if t.info.namespaced {
            if !body_ns.is_empty() && body_ns != t.namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            body["metadata"]["namespace"] = json!(t.namespace);
        } else if let Some(meta) = body["metadata"].as_object_mut() {
            meta.remove("namespace");
        }
        body["apiVersion"] = json!(expected);
        body["kind"] = json!(t.info.kind);
        Ok(())
    }

    pub fn create(
        &mut self,
        t: &Target,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        self.check_body(t, &mut body)?;
        let mut name = str_at(&body, "/metadata/name").to_owned();
        if name.is_empty() {
            let prefix = str_at(&body, "/metadata/generateName").to_owned();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &kind_group(&t.info),
                    "",
                    vec![(
                        "FieldValueRequired".into(),
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
            name = format!("{prefix}{}", random_suffix());
            body["metadata"]["name"] = json!(name);
        }
        self.require_namespace(t).map_err(|e| match e.code {
            403 => ApiError::forbidden(
                e.message
                    .replace("\"\" is forbidden", &format!("\"{name}\" is forbidden")),
            ),
            _ => e,
        })?;
        if self.store.get(&t.info.key(), &t.namespace, &name).is_some() {
            return Err(ApiError::already_exists(
                &t.info.group,
                &t.info.plural,
                &name,
            ));
        }
        objects::carry_server_meta(&mut body, None);
        if t.info.has_status(&t.version) && t.info.kind != "Namespace" {
            if let Some(map) = body.as_object_mut() {
                map.remove("status");
            }
        }
        let unknown = objects::default_and_prune(&t.info, &t.version, &mut body);
        strict_check(t, &unknown, opts)?;
        objects::validate(&t.info, &t.version, &body)?;
        {
            let meta = body["metadata"]
                .as_object_mut()
                .expect("check_body made metadata an object");
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(rfc3339(opts.now)));
            if t.info.tracks_generation {
                meta.insert("generation".into(), json!(1));
            }
        }
        if t.info.group.is_empty() && t.info.kind == "Service" {
            self.allocate_cluster_ip(&mut body);
        }
        let meta = objects::merge_meta(&t.info, &t.version);
        managed::record_update(
            None,
            &mut body,
            &opts.field_manager,
            meta.as_ref(),
            &rfc3339(opts.now),
        );
        set_managed_api_version(&mut body, &t.info.api_version(&t.version));
        self.after_prepare(t, None, &mut body, opts)?;
        if opts.dry_run {
            return Ok(Written {
                object: self.present(t, &body),
                created: true,
            });
        }
        let stored = self.store.put(&t.info.key(), body);
        if t.info.group.is_empty() && t.info.kind == "Namespace" {
            self.create_default_service_account(&name, opts);
        }
        Ok(Written {
            object: self.present(t, &stored),
            created: true,
        })
    }

    /// Every namespace gets a `default` ServiceAccount, as the service account
    /// controller of a real cluster gives it.
    fn create_default_service_account(&mut self, namespace: &str, opts: &WriteOptions) {
        if self
            .store
            .get("/serviceaccounts", namespace, "default")
            .is_some()
        {
            return;
        }
        let account = json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": namespace,
                "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": rfc3339(opts.now)},
        });
        self.store.put("/serviceaccounts", account);
    }

    /// Gives a new Service a cluster IP unless it is headless or ExternalName.
    fn allocate_cluster_ip(&mut self, service: &mut Value) {
        if str_at(service, "/spec/type") == "ExternalName" {
            return;
        }
        let ip = match str_at(service, "/spec/clusterIP") {
            "" => {
                let n = self.next_cluster_ip;
                self.next_cluster_ip += 1;
                format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
            }
            given => given.to_owned(),
        };
        service["spec"]["clusterIP"] = json!(ip);
        service["spec"]["clusterIPs"] = json!([ip]);
        if ip != "None" {
            service["spec"]["ipFamilies"] = json!(["IPv4"]);
            service["spec"]["ipFamilyPolicy"] = json!("SingleStack");
            service["spec"]["internalTrafficPolicy"] = json!("Cluster");
        }
    }

    /// Kind-specific reactions to a write that is about to be stored.
    fn after_prepare(
        &mut self,
        t: &Target,
        _old: Option<&Value>,
        new: &mut Value,
        opts: &WriteOptions,
    ) -> Result<(), ApiError> {
        if t.info.group == "apiextensions.k8s.io" && t.info.kind == "CustomResourceDefinition" {
            let served = crate::resources::from_crd(new).map_err(|e| {
                ApiError::invalid(
                    "CustomResourceDefinition.apiextensions.k8s.io",
                    str_at(new, "/metadata/name"),
                    vec![("FieldValueInvalid".into(), "spec".into(), e.to_string())],
                )
            })?;
            let expected = format!("{}.{}", served.plural, served.group);
            if str_at(new, "/metadata/name") != expected {
                return Err(ApiError::invalid(
                    "CustomResourceDefinition.apiextensions.k8s.io",
                    str_at(new, "/metadata/name"),
                    vec![(
                        "FieldValueInvalid".into(),
                        "metadata.name".into(),
                        format!(
                            "Invalid value: \"{}\": must be spec.names.plural+\".\"+spec.group",
                            str_at(new, "/metadata/name")
                        ),
                    )],
                ));
            }
            if !opts.dry_run && new.pointer("/metadata/deletionTimestamp").is_none() {
                let key = served.key();
                if let Some(existing) = self.registry.get_key(&key) {
                    if !existing.is_custom() {
                        return Err(ApiError::invalid(
                            "CustomResourceDefinition.apiextensions.k8s.io",
                            str_at(new, "/metadata/name"),
                            vec![(
                                "FieldValueInvalid".into(),
                                "spec.group".into(),
                                "Invalid value: a built-in resource has this name".into(),
                            )],
                        ));
                    }
                }
                // Served from now on; a real server takes a moment, we take none.
                crd_accepted_status(new, &served, opts);
                self.registry.insert(served);
            }
        }
        Ok(())
    }

    /// Replaces an object (PUT), or its status (subresource "status").
    pub fn update(
        &mut self,
        t: &Target,
        name: &str,
        mut body: Value,
        subresource: &str,
        opts: &WriteOptions,
        managed_by_apply: bool,
    ) -> Result<Written, ApiError> {
        self.check_body(t, &mut body)?;
        let body_name = str_at(&body, "/metadata/name").to_owned();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        body["metadata"]["name"] = json!(name);
        let Some(old) = self.store.get(&t.info.key(), &t.namespace, name) else {
            return Err(ApiError::not_found(&t.info.group, &t.info.plural, name));
        };
        let sent_rv = str_at(&body, "/metadata/resourceVersion").to_owned();
        if !sent_rv.is_empty() && sent_rv != str_at(&old, "/metadata/resourceVersion") {
            return Err(ApiError::conflict(
                &t.info.group,
                &t.info.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let has_status = t.info.has_status(&t.version);
        if subresource == "status" {
            // Only the status changes through /status.
            let status = body.get("status").cloned();
            let mut next = (*old).clone();
            match status {
                Some(s) => next["status"] = s,
                None => {
                    if let Some(m) = next.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            if managed_by_apply {
                next["metadata"]["managedFields"] = body["metadata"]["managedFields"].clone();
            }
            body = next;
        } else if has_status && t.info.kind != "Namespace" {
            match old.get("status") {
                Some(s) => body["status"] = s.clone(),
                None => {
                    if let Some(m) = body.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        objects::carry_server_meta(&mut body, Some(&old));
        let unknown = objects::default_and_prune(&t.info, &t.version, &mut body);
        strict_check(t, &unknown, opts)?;
        if t.info.tracks_generation && objects::spec_changed(&old, &body, has_status) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            body["metadata"]["generation"] = json!(generation + 1);
        }
        objects::validate(&t.info, &t.version, &body)?;
        if !managed_by_apply {
            let meta = objects::merge_meta(&t.info, &t.version);
            let now = rfc3339(opts.now);
            if subresource.is_empty() {
                managed::record_update(
                    Some(&old),
                    &mut body,
                    &opts.field_manager,
                    meta.as_ref(),
                    &now,
                );
            } else {
                managed::record_subresource_update(
                    &old,
                    &mut body,
                    &opts.field_manager,
                    subresource,
                    meta.as_ref(),
                    &now,
                );
            }
            set_managed_api_version(&mut body, &t.info.api_version(&t.version));
        }
        self.after_prepare(t, Some(&old), &mut body, opts)?;
        // Nothing changed: a real server answers with the object as it is, no new
        // resourceVersion and no watch event.
        if unchanged(&old, &body) {
            return Ok(Written {
                object: self.present(t, &old),
                created: false,
            });
        }
        if opts.dry_run {
            return Ok(Written {
                object: self.present(t, &body),
                created: false,
            });
        }
        let finalized = body.pointer("/metadata/deletionTimestamp").is_some()
            && body
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if finalized {
            let removed = self
                .remove_object(&t.info.key(), &t.namespace, name)
                .unwrap_or_else(|| Arc::new(body.clone()));
            return Ok(Written {
                object: self.present(t, &removed),
                created: false,
            });
        }
        let stored = self.store.put(&t.info.key(), body);
        Ok(Written {
            object: self.present(t, &stored),
            created: false,
        })
    }

    /// PATCH: json, merge, strategic merge, or server-side apply.
    #[allow(clippy::too_many_arguments)] // the verb's own parameters, as the URL carries them
    pub fn patch(
        &mut self,
        t: &Target,
        name: &str,
        patch_type: PatchType,
        patch: Value,
        subresource: &str,
        force: bool,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let current = self.store.get(&t.info.key(), &t.namespace, name);
        let meta = objects::merge_meta(&t.info, &t.version);
        if patch_type == PatchType::Apply {
            if opts.field_manager.is_empty() {
                return Err(ApiError::bad_request(
                    "PATCH /apply requires fieldManager to be set",
                ));
            }
            let mut applied = patch;
            self.check_body(t, &mut applied)?;
            let body_name = str_at(&applied, "/metadata/name");
            if !body_name.is_empty() && body_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
            applied["metadata"]["name"] = json!(name);
            let live = current.as_ref().map(|c| self.present(t, c));
            let now = rfc3339(opts.now);
            let applied_result = match (subresource, live.as_ref()) {
                ("status", Some(live)) => managed::apply_subresource(
                    live,
                    &applied,
                    &opts.field_manager,
                    "status",
                    force,
                    meta.as_ref(),
                    &now,
                ),
                _ => {
                    // Status belongs to the status subresource: the main resource's
                    // appliers never own it.
                    if t.info.has_status(&t.version) && t.info.kind != "Namespace" {
                        if let Some(m) = applied.as_object_mut() {
                            m.remove("status");
                        }
                    }
                    managed::apply(
                        live.as_ref(),
                        &applied,
                        &opts.field_manager,
                        force,
                        meta.as_ref(),
                        &now,
                    )
                }
            };
            let mut merged = applied_result.map_err(|e| match e {
                managed::ApplyError::Conflicts(conflicts) => ApiError {
                    details: Some(Box::new(json!({
                        "name": name, "group": t.info.group, "kind": t.info.plural,
                        "causes": managed::conflict_causes(&conflicts),
                    }))),
                    ..ApiError::new(409, "Conflict", managed::conflict_message(&conflicts))
                },
                managed::ApplyError::Invalid(msg) => ApiError::invalid(
                    &kind_group(&t.info),
                    name,
                    vec![(
                        "FieldValueInvalid".into(),
                        String::new(),
                        format!(
                            "failed to create typed patch object ({}, Kind={}): {msg}",
                            t.info.api_version(&t.version),
                            t.info.kind
                        ),
                    )],
                ),
            })?;
            set_managed_api_version(&mut merged, &t.info.api_version(&t.version));
            if let Some(m) = merged
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
            {
                m.remove("resourceVersion");
            }
            return match current {
                None => {
                    if subresource == "status" {
                        return Err(ApiError::not_found(&t.info.group, &t.info.plural, name));
                    }
                    let managed_fields = merged.pointer("/metadata/managedFields").cloned();
                    let mut written = self.create_prepared(t, merged, managed_fields, opts)?;
                    written.created = true;
                    Ok(written)
                }
                Some(_) => self.update(t, name, merged, subresource, opts, true),
            };
        }
        let Some(current) = current else {
            return Err(ApiError::not_found(&t.info.group, &t.info.plural, name));
        };
        let original = self.present(t, &current);
        let patched = match patch_type {
            PatchType::Json => {
                let ops: json_patch::Patch = serde_json::from_value(patch).map_err(|e| {
                    ApiError::bad_request(format!(
                        "the server rejected our request due to an error in our request: {e}"
                    ))
                })?;
                let mut doc = original.clone();
                json_patch::patch(&mut doc, &ops).map_err(|e| {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                    )
                })?;
                doc
            }
            PatchType::Merge => {
                let mut doc = original.clone();
                json_patch::merge(&mut doc, &patch);
                doc
            }
            PatchType::Strategic => {
                if t.info.is_custom() {
                    return Err(ApiError::unsupported_media_type(
                        "application/strategic-merge-patch+json",
                    ));
                }
                crate::strategic::apply(&original, &patch, meta.as_ref()).map_err(|e| {
                    match e.status_code() {
                        400 => ApiError::bad_request(e.to_string()),
                        422 => ApiError::new(422, "Invalid", e.to_string()),
                        _ => ApiError::internal(e.to_string()),
                    }
                })?
            }
            PatchType::Apply => unreachable!("handled above"),
        };
        // A patch only asserts a resourceVersion when it carries one.
        let mut patched = patched;
        let patch_rv = str_at(&patched, "/metadata/resourceVersion")
            != str_at(&original, "/metadata/resourceVersion");
        if !patch_rv {
            if let Some(m) = patched
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
            {
                m.remove("resourceVersion");
            }
        }
        self.update(t, name, patched, subresource, opts, false)
    }

    /// Create for an apply that found no object: managedFields come from the apply.
    fn create_prepared(
        &mut self,
        t: &Target,
        body: Value,
        managed_fields: Option<Value>,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let mut written = self.create(
            t,
            body,
            &WriteOptions {
                dry_run: true,
                ..opts.clone()
            },
        )?;
        let mut object = written.object.clone();
        if let Some(mf) = managed_fields {
            object["metadata"]["managedFields"] = mf;
        }
        if opts.dry_run {
            written.object = object;
            return Ok(written);
        }
        // The dry run above skipped what a real write does besides storing (a CRD
        // starts being served): do it now.
        self.after_prepare(t, None, &mut object, opts)?;
        let stored = self.store.put(&t.info.key(), object);
        written.object = self.present(t, &stored);
        Ok(written)
    }

    /// DELETE of one object: finalizers and propagation decide whether it goes now.
    pub fn delete(
        &mut self,
        t: &Target,
        name: &str,
        del: &DeleteOptions,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let Some(current) = self.store.get(&t.info.key(), &t.namespace, name) else {
            return Err(ApiError::not_found(&t.info.group, &t.info.plural, name));
        };
        if let Some(uid) = &del.precondition_uid {
            let actual = str_at(&current, "/metadata/uid");
            if uid != actual {
                return Err(ApiError::conflict(
                    &t.info.group,
                    &t.info.plural,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        if let Some(rv) = &del.precondition_rv {
            let actual = str_at(&current, "/metadata/resourceVersion");
            if rv != actual {
                return Err(ApiError::conflict(
                    &t.info.group,
                    &t.info.plural,
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"),
                ));
            }
        }
        let mut object = (*current).clone();
        let mut finalizers: Vec<Value> = object
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match del.propagation.as_deref() {
            Some("Foreground") if !finalizers.contains(&json!("foregroundDeletion")) => {
                finalizers.push(json!("foregroundDeletion"));
            }
            Some("Orphan") if !finalizers.contains(&json!("orphan")) => {
                finalizers.push(json!("orphan"));
            }
            _ => {}
        }
        let namespace_kind = t.info.group.is_empty() && t.info.kind == "Namespace";
        let crd_kind = t.info.group == "apiextensions.k8s.io";
        if crd_kind && !finalizers.contains(&json!("customresourcecleanup.apiextensions.k8s.io")) {
            finalizers.push(json!("customresourcecleanup.apiextensions.k8s.io"));
        }
        if finalizers.is_empty() && !namespace_kind {
            if opts.dry_run {
                return Ok(self.present(t, &object));
            }
            let removed = self
                .remove_object(&t.info.key(), &t.namespace, name)
                .expect("the object was read under the same lock");
            return Ok(self.present(t, &removed));
        }
        if object.pointer("/metadata/deletionTimestamp").is_none() {
            object["metadata"]["deletionTimestamp"] = json!(rfc3339(opts.now));
            object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        }
        if !finalizers.is_empty() {
            object["metadata"]["finalizers"] = Value::Array(finalizers);
        }
        if namespace_kind {
            object["status"]["phase"] = json!("Terminating");
        }
        if opts.dry_run {
            return Ok(self.present(t, &object));
        }
        if *current == object {
            return Ok(self.present(t, &current));
        }
        let stored = self.store.put(&t.info.key(), object);
        self.gc_pending = true;
        Ok(self.present(t, &stored))
    }

    /// Every object of a kind, across versions and namespaces: (namespace, name).
    pub fn names_of(&self, key: &str, namespace: Option<&str>) -> Vec<(String, String)> {
        self.store
            .list(key, namespace)
            .iter()
            .map(|o| {
                (
                    str_at(o, "/metadata/namespace").to_owned(),
                    str_at(o, "/metadata/name").to_owned(),
                )
            })
            .collect()
    }
}

/// The stored object as the client asked for it: its version's apiVersion and kind.
pub fn present(t: &Target, object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(map) = o.as_object_mut() {
        // apiVersion and kind first, as a real server prints them.
        let mut out = serde_json::Map::new();
        out.insert("apiVersion".into(), json!(t.info.api_version(&t.version)));
        out.insert("kind".into(), json!(t.info.kind));
        for (k, v) in std::mem::take(map) {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
        *map = out;
    }
    o
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Two versions of an object are the same write when they differ at most in the
/// timestamps of managedFields entries.
fn unchanged(old: &Value, new: &Value) -> bool {
    let normalise = |o: &Value| {
        let mut o = o.clone();
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
                for e in entries.iter_mut() {
                    if let Some(m) = e.as_object_mut() {
                        m.remove("time");
                    }
                }
            }
        }
        o
    };
    normalise(old) == normalise(new)
}

/// managedFields entries name the API version they were written with.
fn set_managed_api_version(object: &mut Value, api_version: &str) {
    if let Some(entries) = object
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        for e in entries.iter_mut() {
            if e.get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                e["apiVersion"] = json!(api_version);
            }
        }
        if entries.is_empty() {
            if let Some(m) = object
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
            {
                m.remove("managedFields");
            }
        }
    }
}

fn crd_accepted_status(crd: &mut Value, served: &ResourceInfo, opts: &WriteOptions) {
    let now = rfc3339(opts.now);
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let mut accepted = names;
    if accepted.get("singular").is_none() {
        accepted["singular"] = json!(served.singular);
    }
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = json!(served.list_kind);
    }
    let storage: Vec<String> = served
        .crd_versions
        .iter()
        .flatten()
        .filter(|v| v.storage)
        .map(|v| v.name.clone())
        .collect();
    let mut stored_versions: Vec<Value> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in storage {
        if !stored_versions.contains(&json!(v)) {
            stored_versions.push(json!(v));
        }
    }
    crd["status"] = json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        ],
        "storedVersions": stored_versions,
    });
}

fn str_at_owned(object: Option<&Value>, pointer: &str) -> String {
    object
        .map(|o| str_at(o, pointer).to_owned())
        .unwrap_or_default()
}

/// `generateName` suffixes use Kubernetes' alphabet (no vowels, no confusable digits).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn encode_continue(rv: u64, offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{rv}:{offset}"))
}

fn decode_continue(token: &str) -> Result<(u64, usize), ApiError> {
    use base64::Engine as _;
    let invalid = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let (rv, offset) = text.split_once(':').ok_or_else(invalid)?;
    Ok((
        rv.parse().map_err(|_| invalid())?,
        offset.parse().map_err(|_| invalid())?,
    ))
}
