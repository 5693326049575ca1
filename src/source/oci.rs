//! Helm charts from OCI registries, as Helm's registry client and Flux's
//! `OCIChartRepository` pull them: the tags of `<repository>/<chart>` (Helm writes a
//! version's `+` as `_` in a tag), the version picked by Flux's rule, the image
//! manifest, and its one chart layer (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`)
//! checked against its digest. Registries answer 401 with a challenge: `Basic` is
//! answered with the credentials, `Bearer` with a token fetched from the realm.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;

use ferroflux_gotemplate::semver::{Constraints, Version};

use super::http::BasicAuth;

/// The media type of a chart archive layer.
pub const CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid OCI URL '{0}': want oci://host[:port]/path")]
    Url(String),
    #[error("{0}")]
    Secret(String),
    #[error("failed to build the registry client: {0}")]
    Client(String),
    #[error("GET {url}: {message}")]
    Transport { url: String, message: String },
    #[error("GET {url}: unexpected status code {status}")]
    Status { url: String, status: u16 },
    #[error("{method} {url}: unexpected status code {status}: {body}")]
    Refused {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{0}")]
    Manifest(String),
    #[error("chart layer of {reference} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        reference: String,
        size: u64,
        limit: u64,
    },
}

impl OciError {
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            OciError::Status {
                status: 401 | 403,
                ..
            } | OciError::Secret(_)
        )
    }
}

/// Registry credentials for `host` from a Secret: a `kubernetes.io/dockerconfigjson`
/// (`.dockerconfigjson`, `auths.<host>` with `username`/`password` or `auth`), or
/// plain `username`/`password` keys.
pub fn auth_from_secret(
    secret: &str,
    data: &BTreeMap<String, Vec<u8>>,
    host: &str,
) -> Result<Option<BasicAuth>, OciError> {
    if let Some(config) = data.get(".dockerconfigjson") {
        let parsed: serde_json::Value = serde_json::from_slice(config).map_err(|e| {
            OciError::Secret(format!("secret '{secret}': invalid .dockerconfigjson: {e}"))
        })?;
        let auths = parsed.get("auths").and_then(|a| a.as_object());
        let entry = auths.and_then(|auths| {
            auths.iter().find_map(|(key, value)| {
                let key_host = key
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_start_matches("oci://")
                    .split('/')
                    .next()
                    .unwrap_or_default();
                (key_host == host).then_some(value)
            })
        });
        let Some(entry) = entry else {
            return Err(OciError::Secret(format!(
                "secret '{secret}': no credentials for registry '{host}' in .dockerconfigjson"
            )));
        };
        let text = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        if !text("username").is_empty() {
            return Ok(Some(BasicAuth {
                username: text("username").to_owned(),
                password: text("password").to_owned(),
            }));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text("auth"))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
        return match decoded {
            Some((username, password)) => Ok(Some(BasicAuth { username, password })),
            None => Err(OciError::Secret(format!(
                "secret '{secret}': the credentials of registry '{host}' have no username"
            ))),
        };
    }
    super::http::basic_auth_from_secret(secret, data).map_err(|e| OciError::Secret(e.to_string()))
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Basic realm="x"` or `Bearer realm="…",service="…",scope="…"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, remainder) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            },
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

/// Flux's `getLastMatchingVersionOrConstraint` over a chart's tags (`_` read as
/// `+`): a tag equal to the version wins, else the highest strict semver the
/// constraint (`*` when empty) allows. Returns the version (with `+`).
pub fn pick_version(tags: &[String], wanted: &str) -> Result<String, String> {
    let versions: Vec<String> = tags.iter().map(|t| t.replace('_', "+")).collect();
    if !wanted.is_empty() {
        if let Some(exact) = versions.iter().find(|v| *v == wanted) {
            return Ok(exact.clone());
        }
    }
    let constraint = if wanted.is_empty() { "*" } else { wanted };
    let constraint = Constraints::parse(constraint)?;
    let mut best: Option<Version> = None;
    for text in &versions {
        let Some(version) = super::helmrepo::parse_strict_version(text) else {
            continue;
        };
        if !constraint.check(&version) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|b| version.compare(b) == std::cmp::Ordering::Greater)
        {
            best = Some(version);
        }
    }
    best.map(|v| v.original).ok_or_else(|| {
        format!("could not locate a version matching provided version string {wanted}")
    })
}

/// A client for one registry repository (`oci://host/path`).
pub struct OciClient {
    http: reqwest::Client,
    base: String,
    /// The repository path under the host, e.g. `charts`.
    path: String,
    auth: Option<BasicAuth>,
    /// The last bearer token a realm gave, reused until a request is refused again.
    token: Mutex<Option<String>>,
}

/// `host[:port]` and path of an `oci://` URL.
pub fn split_url(url: &str) -> Result<(String, String), OciError> {
    let rest = url
        .strip_prefix("oci://")
        .ok_or_else(|| OciError::Url(url.to_owned()))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err(OciError::Url(url.to_owned()));
    }
    Ok((host.to_owned(), path.trim_matches('/').to_owned()))
}

impl OciClient {
    /// `insecure` talks plain HTTP, as `spec.insecure` asks.
    pub fn new(
        url: &str,
        insecure: bool,
        auth: Option<BasicAuth>,
        timeout: Duration,
    ) -> Result<Self, OciError> {
        let (host, path) = split_url(url)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("Helm/4.2")
            .build()
            .map_err(|e| OciError::Client(e.to_string()))?;
        let scheme = if insecure { "http" } else { "https" };
        Ok(OciClient {
            http,
            base: format!("{scheme}://{host}"),
            path,
            auth,
            token: Mutex::new(None),
        })
    }

    /// The repository of `chart` under the URL's path; the path itself for an
    /// empty name (an OCIRepository's URL names its repository).
    fn repository(&self, chart: &str) -> String {
        match (self.path.is_empty(), chart.is_empty()) {
            (true, _) => chart.to_owned(),
            (false, true) => self.path.clone(),
            (false, false) => format!("{}/{chart}", self.path),
        }
    }

    /// GET with the registry's authentication dance; the body, at most `limit` bytes.
    async fn get(&self, path: &str, accept: &str, limit: u64) -> Result<Vec<u8>, OciError> {
        let url = format!("{}{path}", self.base);
        let transport = |e: reqwest::Error| OciError::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut response = self
            .send(
                reqwest::Method::GET,
                &url,
                &[("Accept", accept.to_owned())],
                None,
            )
            .await?;
        if !response.status().is_success() {
            return Err(OciError::Status {
                url,
                status: response.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Err(OciError::TooLarge {
                    reference: url,
                    size: body.len() as u64,
                    limit,
                });
            }
        }
        Ok(body)
    }

    /// A request with the registry's authentication dance: sent as it is, and once
    /// more with the credentials (`Basic`) or a token from the realm (`Bearer`) when
    /// refused with a challenge. The response, whatever its status.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&'static str, String)],
        body: Option<&[u8]>,
    ) -> Result<reqwest::Response, OciError> {
        let transport = |e: reqwest::Error| OciError::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let send = |authorization: Option<String>| {
            let mut request = self.http.request(method.clone(), url);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            if let Some(body) = body {
                request = request.body(body.to_vec());
            }
            if let Some(value) = authorization {
                request = request.header("Authorization", value);
            }
            request.send()
        };
        let cached = self.token.lock().ok().and_then(|t| t.clone());
        let mut response = send(cached.map(|t| format!("Bearer {t}")))
            .await
            .map_err(transport)?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            let challenge = response
                .headers()
                .get("WWW-Authenticate")
                .and_then(|h| h.to_str().ok())
                .and_then(parse_challenge);
            let authorization = match challenge {
                Some(Challenge::Basic) => self.auth.as_ref().map(|a| {
                    let pair = format!("{}:{}", a.username, a.password);
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    )
                }),
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }) => {
                    let token = self.token(&realm, service, scope).await?;
                    if let Ok(mut cached) = self.token.lock() {
                        *cached = Some(token.clone());
                    }
                    Some(format!("Bearer {token}"))
                }
                None => None,
            };
            if let Some(authorization) = authorization {
                response = send(Some(authorization)).await.map_err(transport)?;
            }
        }
        Ok(response)
    }

    /// A bearer token from the challenge's realm, with the credentials if any.
    async fn token(
        &self,
        realm: &str,
        service: Option<String>,
        scope: Option<String>,
    ) -> Result<String, OciError> {
        let mut url = reqwest::Url::parse(realm).map_err(|e| OciError::Transport {
            url: realm.to_owned(),
            message: e.to_string(),
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &service {
                query.append_pair("service", service);
            }
            if let Some(scope) = &scope {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(url);
        if let Some(auth) = &self.auth {
            request = request.basic_auth(&auth.username, Some(&auth.password));
        }
        let transport = |e: reqwest::Error| OciError::Transport {
            url: realm.to_owned(),
            message: e.to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        if !response.status().is_success() {
            return Err(OciError::Status {
                url: realm.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(transport)?;
        let body: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            OciError::Manifest(format!("the token realm {realm} answered no JSON: {e}"))
        })?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| OciError::Manifest(format!("the token realm {realm} gave no token")))
    }

    /// The tags of chart `chart`.
    pub async fn tags(&self, chart: &str) -> Result<Vec<String>, OciError> {
        let path = format!("/v2/{}/tags/list", self.repository(chart));
        let body = self.get(&path, "application/json", 16 << 20).await?;
        let parsed: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| OciError::Manifest(format!("invalid tag list: {e}")))?;
        Ok(parsed
            .get("tags")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect())
    }

    /// The chart archive of `chart` at `version`, verified against its layer digest.
    pub async fn pull(&self, chart: &str, version: &str, limit: u64) -> Result<Vec<u8>, OciError> {
        let repository = self.repository(chart);
        let tag = version.replace('+', "_");
        let manifest = self
            .get(
                &format!("/v2/{repository}/manifests/{tag}"),
                MANIFEST,
                4 << 20,
            )
            .await?;
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).map_err(|e| {
            OciError::Manifest(format!("invalid manifest of {repository}:{tag}: {e}"))
        })?;
        let layers = manifest
            .get("layers")
            .and_then(|l| l.as_array())
            .cloned()
            .unwrap_or_default();
        let layer = layers
            .iter()
            .find(|l| l.get("mediaType").and_then(|m| m.as_str()) == Some(CHART_LAYER))
            .ok_or_else(|| {
                OciError::Manifest(format!(
                    "{repository}:{tag} is not a Helm chart: no layer of media type {CHART_LAYER}"
                ))
            })?;
        let digest = layer
            .get("digest")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_owned();
        let Some(expected) = digest.strip_prefix("sha256:") else {
            return Err(OciError::Manifest(format!(
                "unsupported layer digest '{digest}' in {repository}:{tag}"
            )));
        };
        if let Some(size) = layer
            .get("size")
            .and_then(|s| s.as_u64())
            .filter(|s| *s > limit)
        {
            return Err(OciError::TooLarge {
                reference: format!("{repository}:{tag}"),
                size,
                limit,
            });
        }
        let blob = self
            .get(
                &format!("/v2/{repository}/blobs/{digest}"),
                "application/octet-stream",
                limit,
            )
            .await?;
        let actual = super::artifact::to_hex(&sha2::Sha256::digest(&blob));
        if actual != expected {
            return Err(OciError::Manifest(format!(
                "the chart layer of {repository}:{tag} has digest sha256:{actual}, the manifest says {digest}"
            )));
        }
        Ok(blob)
    }

    /// The manifest `reference` (a tag or `sha256:` digest) names in this
    /// repository: its digest (sha256 of the bytes the registry sent) and its JSON.
    pub async fn manifest(&self, reference: &str) -> Result<(String, serde_json::Value), OciError> {
        let (digest, bytes) = self.manifest_bytes(reference).await?;
        let manifest = serde_json::from_slice(&bytes).map_err(|e| {
            OciError::Manifest(format!(
                "invalid manifest of {}:{reference}: {e}",
                self.repository("")
            ))
        })?;
        Ok((digest, manifest))
    }

    /// The manifest as the registry sent it, with its digest (checked when the
    /// reference is one).
    pub async fn manifest_bytes(&self, reference: &str) -> Result<(String, Vec<u8>), OciError> {
        let repository = self.repository("");
        let bytes = self
            .get(
                &format!("/v2/{repository}/manifests/{reference}"),
                MANIFEST,
                4 << 20,
            )
            .await?;
        let digest = format!(
            "sha256:{}",
            super::artifact::to_hex(&sha2::Sha256::digest(&bytes))
        );
        if reference.starts_with("sha256:") && reference != digest {
            return Err(OciError::Manifest(format!(
                "the manifest {repository}@{reference} has digest {digest}"
            )));
        }
        Ok((digest, bytes))
    }

    /// A blob of this repository, at most `limit` bytes, checked against `digest`.
    pub async fn blob(&self, digest: &str, limit: u64) -> Result<Vec<u8>, OciError> {
        let repository = self.repository("");
        let bytes = self
            .get(
                &format!("/v2/{repository}/blobs/{digest}"),
                "application/octet-stream",
                limit,
            )
            .await?;
        let actual = format!(
            "sha256:{}",
            super::artifact::to_hex(&sha2::Sha256::digest(&bytes))
        );
        if actual != digest {
            return Err(OciError::Manifest(format!(
                "the blob {repository}@{digest} has digest {actual}"
            )));
        }
        Ok(bytes)
    }

    /// Uploads `bytes` as a blob of this repository (a monolithic upload); its digest.
    pub async fn push_blob(&self, bytes: &[u8]) -> Result<String, OciError> {
        let repository = self.repository("");
        let digest = format!(
            "sha256:{}",
            super::artifact::to_hex(&sha2::Sha256::digest(bytes))
        );
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let response = self.send(reqwest::Method::POST, &start, &[], None).await?;
        let response = refused("POST", &start, response).await?;
        let location = response
            .headers()
            .get("Location")
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| OciError::Manifest(format!("POST {start}: no upload location")))?
            .to_owned();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let response = self
            .send(
                reqwest::Method::PUT,
                &url,
                &[("Content-Type", "application/octet-stream".to_owned())],
                Some(bytes),
            )
            .await?;
        refused("PUT", &url, response).await?;
        Ok(digest)
    }

    /// Stores `manifest` under `tag`; its digest.
    pub async fn push_manifest(&self, tag: &str, manifest: &[u8]) -> Result<String, OciError> {
        let repository = self.repository("");
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base);
        let response = self
            .send(
                reqwest::Method::PUT,
                &url,
                &[("Content-Type", MANIFEST.to_owned())],
                Some(manifest),
            )
            .await?;
        refused("PUT", &url, response).await?;
        Ok(format!(
            "sha256:{}",
            super::artifact::to_hex(&sha2::Sha256::digest(manifest))
        ))
    }

    /// The tags of this repository.
    pub async fn repository_tags(&self) -> Result<Vec<String>, OciError> {
        self.tags("").await
    }
}

/// The response when it succeeded; otherwise an error with what the registry said.
async fn refused(
    method: &str,
    url: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, OciError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Err(OciError::Refused {
        method: method.to_owned(),
        url: url.to_owned(),
        status,
        body: body.chars().take(300).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_as_registries_send_them() {
        assert_eq!(
            parse_challenge("Basic realm=\"charts\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\",scope=\"repository:org/podinfo:pull\""
            ),
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:org/podinfo:pull".into()),
            })
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn tags_pick_as_flux_picks_them() {
        let tags: Vec<String> = ["6.4.0", "6.5.0", "6.5.0_1", "7.0.0-rc.1", "latest"]
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        assert_eq!(pick_version(&tags, "").unwrap(), "6.5.0");
        assert_eq!(pick_version(&tags, "6.4.x").unwrap(), "6.4.0");
        assert_eq!(pick_version(&tags, "6.5.0+1").unwrap(), "6.5.0+1");
        assert_eq!(pick_version(&tags, ">=7.0.0-0").unwrap(), "7.0.0-rc.1");
        assert_eq!(
            pick_version(&tags, "9.*").unwrap_err(),
            "could not locate a version matching provided version string 9.*"
        );
    }

    #[test]
    fn docker_config_credentials_are_found_by_host() {
        let config = br#"{"auths":{"https://registry.example.com":{"auth":"Zmx1eDpzM2NyM3Q="},"127.0.0.1:5000":{"username":"u","password":"p"}}}"#;
        let data: BTreeMap<String, Vec<u8>> =
            [(".dockerconfigjson".to_owned(), config.to_vec())].into();
        let auth = auth_from_secret("ns/s", &data, "registry.example.com")
            .unwrap()
            .expect("auth");
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("flux", "s3cr3t")
        );
        let auth = auth_from_secret("ns/s", &data, "127.0.0.1:5000")
            .unwrap()
            .expect("auth");
        assert_eq!(auth.username, "u");
        assert!(auth_from_secret("ns/s", &data, "other.io").is_err());
    }

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(
            split_url("oci://127.0.0.1:5000/charts/").unwrap(),
            ("127.0.0.1:5000".to_owned(), "charts".to_owned())
        );
        assert!(split_url("https://h/charts").is_err());
    }
}
