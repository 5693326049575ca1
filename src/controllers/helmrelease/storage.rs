//! Reading and writing releases in the storage namespace, as Helm's Secret driver
//! does: one Secret per revision, found by the labels `owner=helm,name=RELEASE`.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

use ferroflux_helm::storage::{self as helm_storage, StoredRelease};

/// The releases of one name in one namespace.
pub(crate) struct ReleaseStorage {
    api: Api<Secret>,
    name: String,
}

impl ReleaseStorage {
    pub(crate) fn new(client: &kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client.clone(), namespace),
            name: name.to_owned(),
        }
    }

    /// Every stored revision, oldest first. Secrets that do not decode are
    /// skipped (Helm skips them too), never logged: they may hold anything.
    pub(crate) async fn history(&self) -> Result<Vec<StoredRelease>, String> {
        let selector = format!("owner=helm,name={}", self.name);
        let secrets = self
            .api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| format!("failed to list releases of '{}': {e}", self.name))?;
        let mut releases: Vec<StoredRelease> = secrets
            .items
            .into_iter()
            .filter(|s| s.type_.as_deref() == Some(helm_storage::SECRET_TYPE))
            .filter_map(|s| {
                let data = s.data?.remove("release")?;
                helm_storage::decode(&String::from_utf8_lossy(&data.0)).ok()
            })
            .collect();
        releases.sort_by_key(|r| r.version);
        Ok(releases)
    }

    /// Creates or replaces the Secret of `release.version`.
    pub(crate) async fn write(&self, release: &StoredRelease) -> Result<(), String> {
        let secret = helm_storage::secret(release, chrono::Utc::now().timestamp())
            .map_err(|e| e.to_string())?;
        let name = helm_storage::secret_name(&release.name, release.version);
        self.api
            .patch(
                &name,
                &PatchParams::apply(super::CONTROLLER).force(),
                &Patch::Apply(&secret),
            )
            .await
            .map(|_| ())
            .map_err(|e| format!("failed to store release {name}: {e}"))
    }

    pub(crate) async fn delete(&self, version: i64) -> Result<(), String> {
        let name = helm_storage::secret_name(&self.name, version);
        match self.api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(format!("failed to delete release {name}: {e}")),
        }
    }
}
