//! The server's certificates (a throwaway CA and a serving certificate for loopback
//! names) and the kubeconfig that trusts them.

use std::path::Path;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why certificates or the kubeconfig could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("configuring TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("writing kubeconfig {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A CA and the serving certificate it signed.
pub struct ServingCerts {
    pub ca_pem: String,
    cert_der: CertificateDer<'static>,
    ca_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl ServingCerts {
    /// A fresh CA and a certificate for `localhost`, `127.0.0.1`, `::1` and `host`.
    pub fn generate(host: &str) -> Result<Self, TlsError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ferroflux-apiserver-ca");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default.svc".to_owned(),
        ];
        if !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "ferroflux-apiserver");
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        Ok(ServingCerts {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }

    /// A rustls server configuration offering HTTP/2 and HTTP/1.1, as kube-apiserver does.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert_der.clone(), self.ca_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Writes a kubeconfig with one cluster, one admin user (bearer token) and one context,
/// named `ferroflux`, that kubectl, Helm and kube-rs accept.
pub fn write_kubeconfig(
    path: &Path,
    server_url: &str,
    ca_pem: Option<&str>,
    token: &str,
) -> Result<(), TlsError> {
    let cluster = match ca_pem {
        Some(pem) => format!(
            "    certificate-authority-data: {}\n    server: {server_url}\n",
            base64::engine::general_purpose::STANDARD.encode(pem)
        ),
        None => format!("    server: {server_url}\n"),
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferroflux\n  cluster:\n{cluster}users:\n- name: ferroflux-admin\n  user:\n    token: {token}\ncontexts:\n- name: ferroflux\n  context:\n    cluster: ferroflux\n    user: ferroflux-admin\n    namespace: default\ncurrent-context: ferroflux\npreferences: {{}}\n"
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
            path: dir.display().to_string(),
            source,
        })?;
    }
    // Write then rename, so a reader never sees half a kubeconfig.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| TlsError::Write {
            path: path.display().to_string(),
            source,
        })
}
