//! Starting and stopping the server: the listener, TLS, the kubeconfig, the admin
//! identity, and the background controllers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::State;
use crate::audit::AuditLog;
use crate::faults::Faults;
use crate::http::Shared;
use crate::kubelet::KubeletConfig;
use crate::rbac::UserInfo;
use crate::tls::{self, ServingCerts};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where to write the kubeconfig; None writes one into a temporary directory
    /// that lives as long as the server.
    pub kubeconfig: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    /// HTTPS with a generated CA (the default), or plain HTTP.
    pub tls: bool,
    pub kubelet: KubeletConfig,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// How many changes a watch can resume from before its version is too old (410).
    pub watch_history: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig: None,
            audit_log: None,
            tls: true,
            kubelet: KubeletConfig {
                ready_after: Duration::from_secs(2),
                progress_deadline: Duration::from_secs(10),
            },
            bookmark_interval: Duration::from_secs(5),
            watch_history: crate::store::DEFAULT_HISTORY,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("opening audit log {path}: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
    #[error("creating a directory for the kubeconfig: {0}")]
    TempDir(std::io::Error),
    #[error("building a client from the kubeconfig: {0}")]
    Client(String),
}

/// A running API server. Dropping it stops it.
pub struct ApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
    kubeconfig: PathBuf,
    admin_token: String,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    _tempdir: Option<tempfile::TempDir>,
}

impl ApiServer {
    /// Starts serving; the kubeconfig is written before the first request is accepted.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        let host = match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        };
        let url = format!(
            "{}://{host}:{}",
            if config.tls { "https" } else { "http" },
            addr.port()
        );
        let certs = if config.tls {
            Some(ServingCerts::generate(&addr.ip().to_string())?)
        } else {
            None
        };
        let (kubeconfig, tempdir) = match &config.kubeconfig {
            Some(p) => (p.clone(), None),
            None => {
                let dir = tempfile::tempdir().map_err(StartError::TempDir)?;
                (dir.path().join("kubeconfig"), Some(dir))
            }
        };
        let admin_token = format!("ffadmin.{}", uuid::Uuid::new_v4().simple());
        tls::write_kubeconfig(
            &kubeconfig,
            &url,
            certs.as_ref().map(|c| c.ca_pem.as_str()),
            &admin_token,
        )?;
        let audit = match &config.audit_log {
            Some(path) => Some(AuditLog::open(path).map_err(|source| StartError::Audit {
                path: path.display().to_string(),
                source,
            })?),
            None => None,
        };
        let mut state = State::new();
        state.store = crate::store::Store::with_history(config.watch_history);
        state.identities.tokens.insert(
            admin_token.clone(),
            UserInfo {
                name: "ferroflux-admin".into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
            },
        );
        bootstrap(&mut state);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            audit,
            faults: Faults::default(),
            wake: tokio::sync::Notify::new(),
            server_url: url.clone(),
            openapi: Default::default(),
            bookmark_interval: config.bookmark_interval,
        });
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let acceptor = match &certs {
            Some(c) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(
                c.server_config()?,
            ))),
            None => None,
        };
        let serve_task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            shared.clone(),
            stop_rx.clone(),
        ));
        let controllers = tokio::spawn(crate::controllers::run(
            shared.clone(),
            config.kubelet.clone(),
            stop_rx,
        ));
        Ok(ApiServer {
            shared,
            addr,
            url,
            kubeconfig,
            admin_token,
            stop,
            tasks: Mutex::new(vec![serve_task, controllers]),
            _tempdir: tempdir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Fault injection, adjustable while the server runs.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Adds a user that authenticates with the returned bearer token.
    pub fn add_user(&self, name: &str, groups: &[&str]) -> String {
        let token = format!("ffuser.{}", uuid::Uuid::new_v4().simple());
        let mut groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        groups.push("system:authenticated".into());
        self.shared.lock().identities.tokens.insert(
            token.clone(),
            UserInfo {
                name: name.to_owned(),
                groups,
            },
        );
        token
    }

    /// The number of objects stored.
    pub fn object_count(&self) -> usize {
        self.shared.lock().store.count()
    }

    /// The kube-rs configuration of the admin user, from the kubeconfig.
    pub async fn client_config(&self) -> Result<kube::Config, StartError> {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .map_err(|e| StartError::Client(e.to_string()))?;
        kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(|e| StartError::Client(e.to_string()))
    }

    /// A kube-rs client for the admin user, from the kubeconfig.
    pub async fn client(&self) -> Result<kube::Client, StartError> {
        let config = self.client_config().await?;
        kube::Client::try_from(config).map_err(|e| StartError::Client(e.to_string()))
    }

    /// Stops serving and waits for the server's tasks to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            t.abort();
        }
    }
}

/// Objects every cluster starts with: the default namespaces and the `default`
/// ServiceAccount in each.
fn bootstrap(state: &mut State) {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let mut object = serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": crate::util::rfc3339(chrono::Utc::now()),
                "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        state.store.put("/namespaces", object.take());
        let sa = serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": ns, "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": crate::util::rfc3339(chrono::Utc::now())},
        });
        state.store.put("/serviceaccounts", sa);
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(crate::http::handle(shared, req, peer).await)
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let result = match acceptor {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => {
                        serve_until(builder.serve_connection(TokioIo::new(tls), service), stop)
                            .await
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                },
                None => {
                    serve_until(
                        builder.serve_connection(TokioIo::new(stream), service),
                        stop,
                    )
                    .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

async fn serve_until<F, E>(conn: F, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<(), E>
where
    F: std::future::Future<Output = Result<(), E>>,
{
    tokio::select! {
        r = conn => r,
        _ = stop.changed() => Ok(()),
    }
}
