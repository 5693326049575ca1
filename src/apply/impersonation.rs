//! Acting as a tenant's service account: the controller's client configuration
//! with `impersonate` set, so the API server grants no more than that account may
//! do (Flux's `spec.serviceAccountName` and `--default-service-account`).

use std::collections::HashMap;
use std::sync::Mutex;

use super::Applier;

/// Clients impersonating service accounts, made once per account.
pub struct Impersonator {
    /// The controller's own client configuration, the base of impersonating ones.
    config: kube::Config,
    /// `--default-service-account`: the account of objects that name none.
    default_service_account: Option<String>,
    /// By `system:serviceaccount:NS:NAME`.
    clients: Mutex<HashMap<String, kube::Client>>,
}

impl Impersonator {
    pub fn new(config: kube::Config, default_service_account: Option<String>) -> Self {
        Self {
            config,
            default_service_account,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Who applies for an object in `namespace` naming `account`: that account
    /// (else the default one) impersonated; the controller itself when there is
    /// none. Discovery and the managed-object watches stay `base`'s.
    pub fn applier(
        &self,
        base: &Applier,
        controller: &kube::Client,
        namespace: &str,
        account: Option<&str>,
    ) -> Result<Applier, String> {
        let account = account
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .or_else(|| self.default_service_account.clone());
        let Some(account) = account else {
            return Ok(base.impersonating(controller.clone()));
        };
        let user = format!("system:serviceaccount:{namespace}:{account}");
        let cached = self.clients.lock().ok().and_then(|c| c.get(&user).cloned());
        let client = match cached {
            Some(client) => client,
            None => {
                let mut config = self.config.clone();
                config.auth_info.impersonate = Some(user.clone());
                let client = kube::Client::try_from(config)
                    .map_err(|e| format!("impersonating {user}: {e}"))?;
                if let Ok(mut cache) = self.clients.lock() {
                    cache.insert(user, client.clone());
                }
                client
            }
        };
        Ok(base.impersonating(client))
    }
}
