//! Downloads over HTTP(S) as Helm's HTTP getter makes them (index files and chart
//! archives of Helm repositories): basic auth from a Secret, only to the
//! repository's own host unless credentials may pass, a CA and client certificate
//! from a TLS Secret, a timeout, and a size limit checked while reading so a huge
//! or endless body is cut off instead of filling memory.

use std::collections::BTreeMap;
use std::time::Duration;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Secret data that cannot be used (Flux's wording, naming the secret).
    #[error("{0}")]
    InvalidSecret(String),
    #[error("failed to build the HTTP client: {0}")]
    Client(String),
    /// The server answered with an error status (Helm's getter wording).
    #[error("failed to fetch {url} : {status}")]
    Status {
        url: String,
        status: String,
        code: u16,
    },
    #[error("failed to fetch {url} : {message}")]
    Transport { url: String, message: String },
    #[error("{what} size {size} exceeds the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
}

impl HttpError {
    /// Whether the server refused the credentials (Flux's AuthenticationFailed).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            HttpError::Status {
                code: 401 | 403,
                ..
            }
        ) || matches!(self, HttpError::InvalidSecret(_))
    }
}

/// Username and password, as a Helm repository Secret holds them.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// TLS material: a CA to trust and a client certificate, PEM.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsMaterial {
    pub ca: Option<Vec<u8>>,
    pub cert_and_key: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca", &self.ca.is_some())
            .field("client_certificate", &self.cert_and_key.is_some())
            .finish()
    }
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Option<String> {
    data.get(key)
        .map(|v| String::from_utf8_lossy(v).trim_end_matches('\n').to_owned())
}

/// Basic auth from `username`/`password` (both or neither), as Flux reads a
/// HelmRepository's `secretRef`; `secret` is `<namespace>/<name>`.
pub fn basic_auth_from_secret(
    secret: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Option<BasicAuth>, HttpError> {
    let malformed = |has: &str, missing: &str| {
        HttpError::InvalidSecret(format!(
            "secret '{secret}': malformed basic auth - has '{has}' but missing '{missing}'"
        ))
    };
    match (text(data, "username"), text(data, "password")) {
        (Some(username), Some(password)) => Ok(Some(BasicAuth { username, password })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(malformed("username", "password")),
        (None, Some(_)) => Err(malformed("password", "username")),
    }
}

/// TLS material from `tls.crt`/`tls.key`/`ca.crt`, or the deprecated
/// `certFile`/`keyFile`/`caFile` keys Flux still reads from a `secretRef`.
pub fn tls_from_secret(
    secret: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<TlsMaterial, HttpError> {
    let pick = |new: &str, old: &str| data.get(new).or_else(|| data.get(old)).cloned();
    let ca = pick("ca.crt", "caFile");
    let cert = pick("tls.crt", "certFile");
    let key = pick("tls.key", "keyFile");
    let half = |has: &str, missing: &str| {
        HttpError::InvalidSecret(format!(
            "secret '{secret}' contains '{has}' but missing '{missing}'"
        ))
    };
    let cert_and_key = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => return Err(half("tls.crt", "tls.key")),
        (None, Some(_)) => return Err(half("tls.key", "tls.crt")),
    };
    Ok(TlsMaterial { ca, cert_and_key })
}

/// `error` and its causes, `: `-joined: reqwest's own message alone does not say
/// why a connection failed (refused, TLS, timeout).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

/// `builder` trusting `tls`'s CA and presenting its client certificate.
pub fn with_tls(
    mut builder: reqwest::ClientBuilder,
    tls: &TlsMaterial,
) -> Result<reqwest::ClientBuilder, HttpError> {
    if let Some(ca) = &tls.ca {
        for cert in reqwest::Certificate::from_pem_bundle(ca)
            .map_err(|e| HttpError::Client(format!("reading the CA certificate: {e}")))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some((cert, key)) = &tls.cert_and_key {
        let mut pem = cert.clone();
        pem.push(b'\n');
        pem.extend_from_slice(key);
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|e| HttpError::Client(format!("reading the client certificate: {e}")))?;
        builder = builder.identity(identity);
    }
    Ok(builder)
}

/// How to download from one repository.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub auth: Option<BasicAuth>,
    pub tls: TlsMaterial,
    pub timeout: Duration,
    /// Send the credentials to other hosts too (Flux's `passCredentials`).
    pub pass_credentials: bool,
}

/// A client for one repository's options.
pub struct HttpGetter {
    client: reqwest::Client,
    options: HttpOptions,
    /// `host:port` of the repository, the only one that gets the credentials
    /// unless they may pass.
    home: Option<String>,
}

fn authority(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    Some(format!(
        "{}:{}",
        parsed.host_str()?,
        parsed.port_or_known_default()?
    ))
}

impl HttpGetter {
    pub fn new(repository_url: &str, options: HttpOptions) -> Result<Self, HttpError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = reqwest::Client::builder()
            .timeout(options.timeout)
            // Helm 4.2's getter names itself so; repositories that serve by agent
            // must see what Flux (which uses Helm's getter) sends.
            .user_agent("Helm/4.2");
        let client = with_tls(builder, &options.tls)?
            .build()
            .map_err(|e| HttpError::Client(e.to_string()))?;
        Ok(HttpGetter {
            client,
            home: authority(repository_url),
            options,
        })
    }

    /// GETs `url` and returns its body, refusing more than `limit` bytes.
    pub async fn get(
        &self,
        url: &str,
        what: &'static str,
        limit: u64,
    ) -> Result<Vec<u8>, HttpError> {
        let transport = |e: reqwest::Error| HttpError::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let mut request = self.client.get(url);
        if let Some(auth) = &self.options.auth {
            if self.options.pass_credentials || authority(url) == self.home {
                request = request.basic_auth(&auth.username, Some(&auth.password));
            }
        }
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(HttpError::Status {
                url: url.to_owned(),
                status: format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or_default()
                ),
                code: status.as_u16(),
            });
        }
        if let Some(size) = response.content_length().filter(|s| *s > limit) {
            return Err(HttpError::TooLarge { what, size, limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Err(HttpError::TooLarge {
                    what,
                    size: body.len() as u64,
                    limit,
                });
            }
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn basic_auth_needs_both_fields() {
        assert_eq!(
            basic_auth_from_secret("s", &data(&[("username", "u"), ("password", "p")]))
                .unwrap()
                .map(|a| a.username),
            Some("u".to_owned())
        );
        assert!(basic_auth_from_secret("s", &data(&[])).unwrap().is_none());
        let err = basic_auth_from_secret("s", &data(&[("username", "u")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret 's': malformed basic auth - has 'username' but missing 'password'"
        );
        assert!(err.is_auth());
    }

    #[test]
    fn the_password_is_not_printed() {
        let auth = BasicAuth {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn tls_keys_new_and_deprecated() {
        let tls = tls_from_secret(
            "s",
            &data(&[("caFile", "CA"), ("tls.crt", "C"), ("tls.key", "K")]),
        )
        .unwrap();
        assert_eq!(tls.ca.as_deref(), Some(b"CA".as_slice()));
        assert!(tls.cert_and_key.is_some());
        assert!(tls_from_secret("s", &data(&[("tls.crt", "C")])).is_err());
    }

    #[test]
    fn credentials_stay_with_the_repository_host() {
        assert_eq!(
            authority("https://charts.example.com/x"),
            Some("charts.example.com:443".into())
        );
        assert_eq!(
            authority("http://127.0.0.1:8080/a"),
            Some("127.0.0.1:8080".into())
        );
    }
}
