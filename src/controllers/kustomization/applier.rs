//! Server-side apply of built objects as kustomize-controller applies them: field
//! manager `kustomize-controller`, conflicts forced (Flux owns what it applies), and
//! each object reported as created, configured or unchanged.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy,
};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde_json::Value;

/// The field manager Flux applies with.
pub const FIELD_MANAGER: &str = "kustomize-controller";

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Deleted,
    /// Left alone by an annotation (`ssa: Ignore`, `ssa: IfNotPresent` on an
    /// existing object, `prune: disabled`).
    Skipped,
}

impl Action {
    /// The word Flux prints in its change set.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Deleted => "deleted",
            Self::Skipped => "skipped",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server does not serve the kind (its CRD is missing).
    #[error("{kind}/{name}: no matches for kind \"{kind}\" in version \"{api_version}\"")]
    NoMatch {
        api_version: String,
        kind: String,
        name: String,
    },
    #[error("{kind}/{name} namespace not specified")]
    NoNamespace { kind: String, name: String },
    #[error("{id}: {message}")]
    Api {
        id: String,
        message: String,
        code: u16,
    },
    #[error("invalid object: {0}")]
    Invalid(String),
}

impl ApplyError {
    /// Whether the API server refused for lack of rights (RBAC, impersonation).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Api { code: 403, .. })
    }
}

/// The parts of an object that identify it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn of(object: &Value) -> Result<Self, ApplyError> {
        let text = |ptr: &str| {
            object
                .pointer(ptr)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let r = Self {
            api_version: text("/apiVersion"),
            kind: text("/kind"),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
        };
        if r.kind.is_empty() || r.api_version.is_empty() || r.name.is_empty() {
            return Err(ApplyError::Invalid(
                "apiVersion, kind and metadata.name are required".into(),
            ));
        }
        Ok(r)
    }

    /// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects, as Flux
    /// prints objects in events and logs.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    fn group_version(&self) -> (&str, &str) {
        match self.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", self.api_version.as_str()),
        }
    }
}

/// Applies and deletes objects of any kind, discovering each kind once.
pub struct Applier {
    client: kube::Client,
    kinds: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
}

impl Applier {
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The API resource for a kind and whether it is namespaced. Kinds not yet known
    /// are discovered (a CRD applied in an earlier stage becomes known here).
    pub async fn resolve(&self, r: &ObjectRef) -> Result<(ApiResource, bool), ApplyError> {
        let key = (r.api_version.clone(), r.kind.clone());
        if let Some(found) = self
            .kinds
            .lock()
            .map(|k| k.get(&key).cloned())
            .ok()
            .flatten()
        {
            return Ok(found);
        }
        let (group, version) = r.group_version();
        let gvk = GroupVersionKind::gvk(group, version, &r.kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|_| ApplyError::NoMatch {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
            })?;
        let namespaced = capabilities.scope == Scope::Namespaced;
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.insert(key, (resource.clone(), namespaced));
        }
        Ok((resource, namespaced))
    }

    async fn api(&self, r: &ObjectRef) -> Result<Api<DynamicObject>, ApplyError> {
        let (resource, namespaced) = self.resolve(r).await?;
        if namespaced {
            if r.namespace.is_empty() {
                return Err(ApplyError::NoNamespace {
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                });
            }
            Ok(Api::namespaced_with(
                self.client.clone(),
                &r.namespace,
                &resource,
            ))
        } else {
            Ok(Api::all_with(self.client.clone(), &resource))
        }
    }

    fn api_error(r: &ObjectRef, error: kube::Error) -> ApplyError {
        let (message, code) = match &error {
            kube::Error::Api(status) => (status.message.clone(), status.code),
            other => (other.to_string(), 0),
        };
        ApplyError::Api {
            id: r.display(),
            message,
            code,
        }
    }

    /// The live object, if it exists.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ApplyError> {
        let api = self.api(r).await?;
        let found = api
            .get_opt(&r.name)
            .await
            .map_err(|e| Self::api_error(r, e))?;
        Ok(found.and_then(|o| serde_json::to_value(o).ok()))
    }

    /// Server-side applies `object`. `existing` is the live object read before (so
    /// the caller can compare); `None` means it did not exist.
    pub async fn apply(
        &self,
        object: &Value,
        existing: Option<&Value>,
    ) -> Result<Action, ApplyError> {
        let r = ObjectRef::of(object)?;
        let api = self.api(&r).await?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api
            .patch(&r.name, &params, &Patch::Apply(object))
            .await
            .map_err(|e| Self::api_error(&r, e))?;
        let version = |v: Option<&Value>| {
            v.and_then(|v| v.pointer("/metadata/resourceVersion"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(match existing {
            None => Action::Created,
            Some(live) if version(Some(live)) == applied.metadata.resource_version => {
                Action::Unchanged
            }
            Some(_) => Action::Configured,
        })
    }

    /// Deletes an object (background propagation); a missing object counts as deleted.
    pub async fn delete(&self, r: &ObjectRef) -> Result<Action, ApplyError> {
        let api = match self.api(r).await {
            Ok(api) => api,
            // The kind is gone (CRD deleted): so are its objects.
            Err(ApplyError::NoMatch { .. }) => return Ok(Action::Deleted),
            Err(e) => return Err(e),
        };
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(&r.name, &params).await {
            Ok(_) => Ok(Action::Deleted),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::Deleted),
            Err(e) => Err(Self::api_error(r, e)),
        }
    }
}
