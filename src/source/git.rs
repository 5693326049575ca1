//! Fetch one Git revision with gitoxide and check its tree out safely, as source-controller does.
//!
//! Transports: smart HTTP(S) (reqwest + rustls), `git://`, `file://`, and `ssh://` / scp-like
//! URLs through the system `ssh` program. Everything here is blocking; a fetch runs on its own
//! thread so that the timeout holds even while a transport is stuck.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gix::bstr::ByteSlice;
use gix::remote::Direction;

use super::artifact::set_mode;
use super::{prune_unsafe_symlinks, symlink_target_lexically_inside};

/// Flux's default branch when `spec.ref` is empty.
pub const DEFAULT_BRANCH: &str = "master";
/// Flux's default `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Blobs above this size are refused: gitoxide inflates an object whole in memory.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 512 * 1024 * 1024;

/// Which revision to check out, after Flux's precedence (commit > name > tag > semver > branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    Branch(String),
    Tag(String),
    /// A Masterminds-style range, e.g. `>=1.0.0 <2.0.0`, `~1.2`, `1.x || 2.x`.
    SemVer(String),
    /// A full reference name, e.g. `refs/heads/main`, `refs/pull/42/head`, `refs/tags/v1^{}`.
    Name(String),
    /// A commit SHA-1, optionally fetched through a branch.
    Commit {
        sha: String,
        branch: Option<String>,
    },
}

impl GitRef {
    /// Build from the fields of Flux's `spec.ref`, applying its precedence and defaults.
    pub fn from_flux(
        branch: Option<&str>,
        tag: Option<&str>,
        semver: Option<&str>,
        name: Option<&str>,
        commit: Option<&str>,
    ) -> GitRef {
        let set = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        if let Some(sha) = set(commit) {
            return GitRef::Commit {
                sha,
                branch: set(branch),
            };
        }
        if let Some(n) = set(name) {
            return GitRef::Name(n);
        }
        if let Some(t) = set(tag) {
            return GitRef::Tag(t);
        }
        if let Some(s) = set(semver) {
            return GitRef::SemVer(s);
        }
        GitRef::Branch(set(branch).unwrap_or_else(|| DEFAULT_BRANCH.to_owned()))
    }
}

/// Credentials from the Secret named by `spec.secretRef`.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum GitAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
    Ssh {
        identity: Vec<u8>,
        known_hosts: Vec<u8>,
    },
}

// Never print secret values.
impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitAuth::None => f.write_str("None"),
            GitAuth::Basic { username, .. } => {
                write!(f, "Basic {{ username: {username:?}, password: *** }}")
            }
            GitAuth::Bearer { .. } => f.write_str("Bearer { token: *** }"),
            GitAuth::Ssh { .. } => f.write_str("Ssh { identity: ***, known_hosts: *** }"),
        }
    }
}

impl GitAuth {
    /// Interpret a Flux Git secret's (already base64-decoded) `data`.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<GitAuth, GitError> {
        let text = |k: &str| -> Result<Option<String>, GitError> {
            data.get(k)
                .map(|v| {
                    String::from_utf8(v.clone()).map_err(|_| {
                        GitError::InvalidAuth(format!("secret key '{k}' is not valid UTF-8"))
                    })
                })
                .transpose()
        };
        if let Some(identity) = data.get("identity") {
            if text("password")?.is_some_and(|p| !p.is_empty()) {
                return Err(GitError::InvalidAuth(
                    "password-protected SSH identities are not supported".to_owned(),
                ));
            }
            return Ok(GitAuth::Ssh {
                identity: identity.clone(),
                known_hosts: data.get("known_hosts").cloned().unwrap_or_default(),
            });
        }
        if let Some(token) = text("bearerToken")? {
            return Ok(GitAuth::Bearer { token });
        }
        match (text("username")?, text("password")?) {
            (Some(username), Some(password)) => Ok(GitAuth::Basic { username, password }),
            (None, None) => Ok(GitAuth::None),
            _ => Err(GitError::InvalidAuth(
                "secret must contain both 'username' and 'password' for basic auth".to_owned(),
            )),
        }
    }

    fn secrets(&self) -> Vec<String> {
        match self {
            GitAuth::Basic { password, .. } if !password.is_empty() => vec![password.clone()],
            GitAuth::Bearer { token } if !token.is_empty() => vec![token.clone()],
            _ => Vec::new(),
        }
    }
}

/// An HTTP(S) proxy from the Secret named by `spec.proxySecretRef`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// `http://host:port` or `https://host:port`.
    pub address: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

// Never print the proxy password, nor one embedded in the address.
impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("address", &redact_url(&self.address))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ProxySettings {
    /// Interpret a Flux proxy secret's (already base64-decoded) `data`.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<ProxySettings, GitError> {
        let text = |k: &str| -> Result<Option<String>, GitError> {
            data.get(k)
                .map(|v| {
                    String::from_utf8(v.clone()).map_err(|_| {
                        GitError::InvalidProxy(format!("secret key '{k}' is not valid UTF-8"))
                    })
                })
                .transpose()
        };
        let address = text("address")?
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                GitError::InvalidProxy("secret must contain the key 'address'".to_owned())
            })?;
        let settings = ProxySettings {
            address,
            username: text("username")?.filter(|u| !u.is_empty()),
            password: text("password")?.filter(|p| !p.is_empty()),
        };
        settings.to_reqwest()?;
        Ok(settings)
    }

    fn to_reqwest(&self) -> Result<reqwest::Proxy, GitError> {
        let invalid = |why: String| {
            GitError::InvalidProxy(format!(
                "proxy address '{}': {why}",
                redact_url(&self.address)
            ))
        };
        // reqwest is built without SOCKS support; say so instead of failing at connect time.
        let scheme_ok = ["http://", "https://"]
            .iter()
            .any(|p| self.address.to_ascii_lowercase().starts_with(p));
        if !scheme_ok {
            return Err(invalid(
                "only http:// and https:// proxies are supported".to_owned(),
            ));
        }
        // The error text of reqwest may quote the address, so it is not passed on.
        let proxy = reqwest::Proxy::all(self.address.as_str())
            .map_err(|_| invalid("not a valid URL".to_owned()))?;
        Ok(match &self.username {
            Some(user) => proxy.basic_auth(user, self.password.as_deref().unwrap_or("")),
            None => proxy,
        })
    }

    fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.password.iter().cloned().collect();
        // A password written into the address itself: `http://user:pw@host:port`.
        if let Some((_, rest)) = self.address.split_once("://") {
            let authority = rest.split('/').next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                if let Some((_, pw)) = userinfo.split_once(':') {
                    if !pw.is_empty() {
                        out.push(pw.to_owned());
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub url: String,
    pub reference: GitRef,
    pub auth: GitAuth,
    pub timeout: Duration,
    /// Depth 1 where the server supports it (Flux always asks for a shallow clone).
    pub shallow: bool,
    pub max_file_size: u64,
    /// The ssh program for `ssh://` URLs (default `ssh` from `PATH`).
    pub ssh_program: Option<PathBuf>,
    /// Check out submodules (recursively) at the commits the tree records, as Flux's
    /// `spec.recurseSubmodules` does; otherwise they are reported as skipped.
    pub recurse_submodules: bool,
    /// Send HTTP(S) fetches through this proxy (other transports do not use it).
    pub proxy: Option<ProxySettings>,
}

impl FetchOptions {
    pub fn new(url: impl Into<String>, reference: GitRef) -> Self {
        FetchOptions {
            url: url.into(),
            reference,
            auth: GitAuth::None,
            timeout: DEFAULT_TIMEOUT,
            shallow: true,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            ssh_program: None,
            recurse_submodules: false,
            proxy: None,
        }
    }
}

/// What a fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResult {
    /// Hex SHA-1 of the checked-out commit.
    pub commit: String,
    /// Flux's revision string: `main@sha1:<hex>`, `v1.2.3@sha1:<hex>`, `refs/..@sha1:<hex>`, `sha1:<hex>`.
    pub revision: String,
    /// The remote reference that was resolved, if any (e.g. `refs/tags/v1.2.3`).
    pub reference: Option<String>,
    /// The checkout directory.
    pub dir: PathBuf,
    /// Tree entries that were not written, with the reason (unsafe names, escaping symlinks, submodules).
    pub skipped: Vec<String>,
    /// Whether history was fetched with depth 1.
    pub shallow: bool,
}

/// Classified fetch failures. Messages name the URL (without credentials) and never a secret.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("authentication failed for '{url}': {detail}")]
    Auth { url: String, detail: String },
    #[error("not found at '{url}': {detail}")]
    NotFound { url: String, detail: String },
    #[error("unable to reach '{url}': {detail}")]
    Unreachable { url: String, detail: String },
    #[error("timeout after {timeout:?} fetching '{url}'")]
    Timeout { url: String, timeout: Duration },
    #[error("invalid reference: {0}")]
    InvalidRef(String),
    #[error("invalid URL '{url}': {detail}")]
    InvalidUrl { url: String, detail: String },
    #[error("invalid credentials secret: {0}")]
    InvalidAuth(String),
    #[error("invalid proxy secret: {0}")]
    InvalidProxy(String),
    #[error("checkout failed: {0}")]
    Checkout(String),
    #[error("git operation on '{url}' failed: {detail}")]
    Other { url: String, detail: String },
}

impl GitError {
    /// A bounded label for metrics and condition reasons.
    pub fn category(&self) -> &'static str {
        match self {
            GitError::Auth { .. } | GitError::InvalidAuth(_) => "auth",
            GitError::NotFound { .. } => "not_found",
            GitError::Unreachable { .. } => "unreachable",
            GitError::Timeout { .. } => "timeout",
            GitError::InvalidRef(_) | GitError::InvalidUrl { .. } | GitError::InvalidProxy(_) => {
                "invalid"
            }
            GitError::Checkout(_) => "checkout",
            GitError::Other { .. } => "other",
        }
    }
}

/// Fetch `opts.reference` from `opts.url` and check its tree out into `dest`, which must not
/// exist or be empty. The timeout covers the whole operation.
pub fn fetch(opts: &FetchOptions, dest: &Path) -> Result<FetchResult, GitError> {
    let url = redact_url(&opts.url);
    validate_url(&opts.url)?;
    if let Some(proxy) = &opts.proxy {
        proxy.to_reqwest()?;
    }
    install_crypto_provider();
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io_err = |e: std::io::Error| GitError::Checkout(format!("{}: {e}", dest.display()));
    std::fs::create_dir_all(parent).map_err(io_err)?;
    if dest.exists() {
        if std::fs::read_dir(dest).map_err(io_err)?.next().is_some() {
            return Err(GitError::Checkout(format!(
                "{} is not empty",
                dest.display()
            )));
        }
        std::fs::remove_dir(dest).map_err(io_err)?;
    }
    // The worker checks out into a staging dir next to `dest`; only a finished checkout is
    // renamed into place, so a timed-out worker can never leave half a tree in `dest`.
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(parent)
        .map_err(io_err)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let worker_opts = opts.clone();
    let worker_interrupt = Arc::clone(&interrupt);
    std::thread::Builder::new()
        .name("git-fetch".to_owned())
        .spawn(move || {
            let out = staging.path().join("tree");
            let result = fetch_blocking(&worker_opts, &out, &worker_interrupt);
            // If the receiver is gone (timeout), `staging` is dropped and deleted here.
            let _ = tx.send(result.map(|r| (r, staging)));
        })
        .map_err(|e| GitError::Other {
            url: url.clone(),
            detail: format!("spawning fetch thread: {e}"),
        })?;
    match rx.recv_timeout(opts.timeout) {
        Ok(Ok((mut result, staging))) => {
            std::fs::rename(staging.path().join("tree"), dest).map_err(io_err)?;
            result.dir = dest.to_path_buf();
            Ok(result)
        }
        Ok(Err(e)) => Err(scrub(e, opts)),
        Err(_) => {
            interrupt.store(true, Ordering::SeqCst);
            Err(GitError::Timeout {
                url,
                timeout: opts.timeout,
            })
        }
    }
}

pub(crate) fn install_crypto_provider() {
    // reqwest is built without a default provider; the process-wide default is ring. An
    // error only means someone installed one already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn validate_url(url: &str) -> Result<(), GitError> {
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).map_err(|e| GitError::InvalidUrl {
        url: redact_url(url),
        detail: e.to_string(),
    })?;
    use gix::url::Scheme;
    match parsed.scheme {
        Scheme::Http | Scheme::Https | Scheme::Git | Scheme::File | Scheme::Ssh => Ok(()),
        other => Err(GitError::InvalidUrl {
            url: redact_url(url),
            detail: format!("unsupported scheme '{}'", other.as_str()),
        }),
    }
}

/// Remove `user:password@` from a URL before it appears in any message.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((userinfo, host)) if userinfo.contains(':') => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    format!("{scheme}://{user}:***@{host}{path}")
                }
                _ => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

fn scrub(e: GitError, opts: &FetchOptions) -> GitError {
    let url = opts.url.as_str();
    let mut secrets = opts.auth.secrets();
    secrets.extend(opts.proxy.iter().flat_map(ProxySettings::secrets));
    let redacted = redact_url(url);
    // Transport errors may quote the URL (with its userinfo) or a header value.
    let clean = |s: String| {
        let s = if redacted != url {
            s.replace(url, &redacted)
        } else {
            s
        };
        secrets
            .iter()
            .fold(s, |acc, sec| acc.replace(sec.as_str(), "***"))
    };
    match e {
        GitError::Auth { url, detail } => GitError::Auth {
            url,
            detail: clean(detail),
        },
        GitError::NotFound { url, detail } => GitError::NotFound {
            url,
            detail: clean(detail),
        },
        GitError::Unreachable { url, detail } => GitError::Unreachable {
            url,
            detail: clean(detail),
        },
        GitError::Other { url, detail } => GitError::Other {
            url,
            detail: clean(detail),
        },
        GitError::Checkout(d) => GitError::Checkout(clean(d)),
        GitError::InvalidRef(d) => GitError::InvalidRef(clean(d)),
        other => other,
    }
}

/// Classify a gitoxide error by its error chain.
fn classify(url: &str, err: &gix::Error) -> GitError {
    let url = redact_url(url);
    let detail = err
        .iter_errors()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    let lower = detail.to_lowercase();
    let io_kinds: Vec<std::io::ErrorKind> = err
        .iter_errors()
        .filter_map(|e| e.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
        .collect();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    // HTTP statuses are matched with their wording around them: a bare "403" also
    // matches a port such as 127.0.0.1:40373 in the URL the message quotes.
    if err.classify().is_unauthenticated()
        || has(&[
            "status 401",
            "status 403",
            "(401 ",
            "(403 ",
            "authentication",
            "unauthorized",
            "permission denied (publickey",
            "host key verification failed",
            "credentials",
        ])
    {
        return GitError::Auth { url, detail };
    }
    if io_kinds.iter().any(|k| {
        matches!(
            k,
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
                | std::io::ErrorKind::AddrNotAvailable
        )
    }) || has(&[
        "connection refused",
        "could not resolve",
        "dns error",
        "failed to lookup",
        "error sending request",
        "tcp connect",
        "no route to host",
        "network is unreachable",
        "connection reset",
        "could not connect",
        "connection closed",
        "timed out",
    ]) {
        return GitError::Unreachable { url, detail };
    }
    if err.classify().is_not_found()
        || has(&[
            "status 404",
            "(404 ",
            "not found",
            "no such repository",
            "does not appear to be a git repository",
            "does not exist",
            "could not verify that",
        ])
    {
        return GitError::NotFound { url, detail };
    }
    GitError::Other { url, detail }
}

/// Per-fetch scratch files for ssh (identity, known_hosts), mode 0600 in a 0700 dir.
struct SshFiles {
    _dir: tempfile::TempDir,
    command: String,
}

fn ssh_files(
    program: Option<&Path>,
    identity: &[u8],
    known_hosts: &[u8],
) -> std::io::Result<SshFiles> {
    let dir = tempfile::Builder::new()
        .prefix("ferroflux-ssh-")
        .tempdir()?;
    set_mode(dir.path(), 0o700)?;
    let write_private = |name: &str, data: &[u8]| -> std::io::Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(data)?;
        if !data.ends_with(b"\n") {
            f.write_all(b"\n")?;
        }
        Ok(path)
    };
    let id = write_private("identity", identity)?;
    let kh = write_private("known_hosts", known_hosts)?;
    // An empty config file instead of the user's (and instead of /dev/null, which need not exist).
    let cfg = write_private("config", b"")?;
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    // BatchMode: never prompt; StrictHostKeyChecking: only hosts in the secret's known_hosts;
    // IdentitiesOnly and an empty agent socket: only the secret's key.
    let program = program.map_or_else(|| "ssh".to_owned(), q);
    let command = format!(
        "{program} -F {cfg} -i {id} -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile={kh} \
         -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes",
        cfg = q(&cfg),
        id = q(&id),
        kh = q(&kh)
    );
    Ok(SshFiles { _dir: dir, command })
}

/// An empty bare repository to fetch into, isolated from any user or system git
/// configuration, with the transport settings of `opts` (timeouts, ssh command,
/// bearer token). The directory and ssh files live as long as the first two values.
fn scratch_repository(
    opts: &FetchOptions,
) -> Result<(tempfile::TempDir, Option<SshFiles>, gix::Repository), GitError> {
    let other = |detail: String| GitError::Other {
        url: redact_url(&opts.url),
        detail,
    };
    let gitdir = tempfile::Builder::new()
        .prefix("ferroflux-git-")
        .tempdir()
        .map_err(|e| other(e.to_string()))?;
    let mut overrides: Vec<String> = vec![
        "protocol.version=2".to_owned(),
        format!(
            "gitoxide.http.connectTimeout={}",
            opts.timeout.as_millis().max(1)
        ),
        // Abort a transfer that stalls below 1 byte/s for the whole timeout.
        "http.lowSpeedLimit=1".to_owned(),
        format!("http.lowSpeedTime={}", opts.timeout.as_secs().max(1)),
    ];
    let ssh = match &opts.auth {
        GitAuth::Ssh {
            identity,
            known_hosts,
        } => Some(
            ssh_files(opts.ssh_program.as_deref(), identity, known_hosts)
                .map_err(|e| other(format!("preparing ssh files: {e}")))?,
        ),
        _ => None,
    };
    if let Some(ssh) = &ssh {
        overrides.push(format!("core.sshCommand={}", ssh.command));
        overrides.push("ssh.variant=ssh".to_owned());
    }
    if let GitAuth::Bearer { token } = &opts.auth {
        overrides.push(format!("http.extraHeader=Authorization: Bearer {token}"));
    }
    let mut repo = gix::ThreadSafeRepository::init_opts(
        gitdir.path(),
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        gix::open::Options::isolated().config_overrides(overrides),
    )
    .map_err(|e| other(format!("initialising scratch repository: {e}")))?
    .to_thread_local();
    // Trees and delta bases are read repeatedly during checkout.
    repo.object_cache_size_if_unset(16 * 1024 * 1024);
    Ok((gitdir, ssh, repo))
}

/// The revision a fetch of `opts` would produce now, from the remote's references
/// alone (one handshake, no objects): what lets a reconcile skip the fetch when its
/// artifact already is that revision, as Flux's optimized clone does. None when it
/// cannot tell without fetching.
pub fn remote_revision(opts: &FetchOptions) -> Result<Option<String>, GitError> {
    validate_url(&opts.url)?;
    install_crypto_provider();
    let (refspec, label) = match &opts.reference {
        GitRef::Branch(b) => {
            check_ref_component(b)?;
            (
                format!("+refs/heads/{b}:refs/remotes/origin/{b}"),
                b.clone(),
            )
        }
        GitRef::Tag(t) => {
            check_ref_component(t)?;
            (format!("+refs/tags/{t}:refs/tags/{t}"), t.clone())
        }
        GitRef::Name(n) => {
            let n = n.strip_suffix("^{}").unwrap_or(n);
            if !n.starts_with("refs/") || n.ends_with('/') {
                return Ok(None);
            }
            check_ref_component(n)?;
            (format!("+{n}:refs/ferroflux/fetched"), n.to_owned())
        }
        // A pinned commit is its own revision.
        GitRef::Commit { sha, branch } => {
            let sha = sha.to_ascii_lowercase();
            return Ok(Some(match branch {
                Some(b) => format!("{b}@sha1:{sha}"),
                None => format!("sha1:{sha}"),
            }));
        }
        // The range picks among the tags: that is a fetch's own work.
        GitRef::SemVer(_) => return Ok(None),
    };
    let (_gitdir, _ssh, repo) = scratch_repository(opts)?;
    let gix_err = |e: gix::Error| scrub(classify(&opts.url, &e), opts);
    let remote = repo
        .remote_at(opts.url.as_str())
        .map_err(gix_err)?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs([refspec.as_str()], Direction::Fetch)
        .map_err(gix_err)?;
    let conn = connect(&remote, opts).map_err(gix_err)?;
    let (map, _) = conn
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(gix_err)?;
    // The commit a tag points to is advertised peeled; an annotated tag that is
    // not cannot be told apart from its commit here.
    Ok(map.mappings.first().and_then(|m| {
        let id = m.remote.peeled_id().or_else(|| m.remote.as_id())?;
        Some(format!("{label}@sha1:{}", id.to_hex()))
    }))
}

/// How deep submodules may nest: a guard against a chain of repositories without end.
const MAX_SUBMODULE_DEPTH: usize = 10;

fn fetch_blocking(
    opts: &FetchOptions,
    out: &Path,
    interrupt: &AtomicBool,
) -> Result<FetchResult, GitError> {
    fetch_tree(opts, out, interrupt, 0)
}

/// Fetch and check out one repository; `depth` counts the submodule levels above it.
fn fetch_tree(
    opts: &FetchOptions,
    out: &Path,
    interrupt: &AtomicBool,
    depth: usize,
) -> Result<FetchResult, GitError> {
    let url = &opts.url;
    let (_gitdir, _ssh, repo) = scratch_repository(opts)?;

    let (refspecs, label): (Vec<String>, Option<String>) = match &opts.reference {
        GitRef::Branch(b) => {
            check_ref_component(b)?;
            (
                vec![format!("+refs/heads/{b}:refs/remotes/origin/{b}")],
                Some(b.clone()),
            )
        }
        GitRef::Tag(t) => {
            check_ref_component(t)?;
            (
                vec![format!("+refs/tags/{t}:refs/tags/{t}")],
                Some(t.clone()),
            )
        }
        GitRef::Name(n) => {
            let n = n.strip_suffix("^{}").unwrap_or(n);
            if !n.starts_with("refs/") || n.ends_with('/') {
                return Err(GitError::InvalidRef(format!(
                    "'{n}' is not a full reference name (refs/...)"
                )));
            }
            check_ref_component(n)?;
            (
                vec![format!("+{n}:refs/ferroflux/fetched")],
                Some(n.to_owned()),
            )
        }
        GitRef::SemVer(range) => {
            let constraint = Constraint::parse(range)?;
            let tags = list_remote_tags(&repo, opts, interrupt)?;
            let tag =
                pick_semver_tag(&constraint, tags.iter().map(String::as_str)).ok_or_else(|| {
                    GitError::InvalidRef(format!("no tag matches semver range '{range}'"))
                })?;
            (vec![format!("+refs/tags/{tag}:refs/tags/{tag}")], Some(tag))
        }
        GitRef::Commit { sha, branch } => {
            if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(GitError::InvalidRef(format!(
                    "commit '{sha}' is not a full 40-character SHA-1"
                )));
            }
            match branch {
                Some(b) => {
                    check_ref_component(b)?;
                    (
                        vec![format!("+refs/heads/{b}:refs/remotes/origin/{b}")],
                        Some(b.clone()),
                    )
                }
                None => (vec![sha.to_ascii_lowercase()], None),
            }
        }
    };
    // A commit pin must see history; everything else is the tip of one ref.
    let shallow = opts.shallow
        && !matches!(
            opts.reference,
            GitRef::Commit {
                branch: Some(_),
                ..
            }
        );
    let (fetched, was_shallow) = match do_fetch(&repo, opts, &refspecs, shallow, interrupt) {
        // Servers that refuse a shallow fetch or a want-by-id get a full fetch instead.
        Err(FetchFailure::Retryable(_))
            if matches!(opts.reference, GitRef::Commit { branch: None, .. }) =>
        {
            let all = vec![
                "+refs/heads/*:refs/remotes/origin/*".to_owned(),
                "+refs/tags/*:refs/tags/*".to_owned(),
            ];
            do_fetch(&repo, opts, &all, false, interrupt)
        }
        Err(FetchFailure::Retryable(_)) if shallow => {
            do_fetch(&repo, opts, &refspecs, false, interrupt)
        }
        other => other,
    }
    .map_err(|f| match f {
        FetchFailure::Gix(e) | FetchFailure::Retryable(e) => classify(url, &e),
        FetchFailure::Classified(e) => e,
    })?;

    let commit_id = match &opts.reference {
        GitRef::Commit { sha, .. } => {
            let id = gix::ObjectId::from_hex(sha.to_ascii_lowercase().as_bytes())
                .map_err(|e| GitError::InvalidRef(format!("commit '{sha}': {e}")))?;
            repo.find_commit(id)
                .map_err(|_| {
                    GitError::InvalidRef(format!("commit '{sha}' not found in the fetched history"))
                })?
                .id
        }
        _ => {
            let tip = fetched.ok_or_else(|| GitError::NotFound {
                url: redact_url(url),
                detail: format!(
                    "reference '{}' not found",
                    label.clone().unwrap_or_default()
                ),
            })?;
            repo.find_object(tip)
                .and_then(|o| o.peel_to_commit())
                .map_err(|e| {
                    GitError::InvalidRef(format!("reference does not point to a commit: {e}"))
                })?
                .id
        }
    };
    let hex = commit_id.to_hex().to_string();
    let revision = match (&opts.reference, label.as_deref()) {
        (GitRef::Commit { branch: None, .. }, _) | (_, None) => format!("sha1:{hex}"),
        (_, Some(l)) => format!("{l}@sha1:{hex}"),
    };
    let reference = match &opts.reference {
        GitRef::Branch(b)
        | GitRef::Commit {
            branch: Some(b), ..
        } => Some(format!("refs/heads/{b}")),
        GitRef::Tag(_) | GitRef::SemVer(_) => label.as_ref().map(|t| format!("refs/tags/{t}")),
        GitRef::Name(n) => Some(n.clone()),
        GitRef::Commit { branch: None, .. } => None,
    };
    let (mut skipped, gitlinks) = checkout(&repo, commit_id, out, opts.max_file_size, interrupt)?;
    if opts.recurse_submodules && !gitlinks.is_empty() {
        skipped.extend(checkout_submodules(
            &repo, commit_id, gitlinks, opts, out, interrupt, depth,
        )?);
    } else {
        skipped.extend(
            gitlinks
                .iter()
                .map(|(rel, _)| format!("{}: submodule", rel.display())),
        );
    }
    Ok(FetchResult {
        commit: hex,
        revision,
        reference,
        dir: out.to_path_buf(),
        skipped,
        shallow: was_shallow,
    })
}

fn check_ref_component(name: &str) -> Result<(), GitError> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with(".lock")
        || name.contains("..")
        || name.contains("//")
        || name.contains("@{")
        || name
            .bytes()
            .any(|b| b < 0x20 || b == 0x7f || b" ~^:?*[\\".contains(&b));
    if bad {
        return Err(GitError::InvalidRef(format!(
            "'{name}' is not a valid Git reference name"
        )));
    }
    Ok(())
}

enum FetchFailure {
    Gix(gix::Error),
    /// A failure that a different strategy (full instead of shallow) may avoid.
    Retryable(gix::Error),
    Classified(GitError),
}

fn connect<'r>(
    remote: &'r gix::Remote<'r>,
    opts: &FetchOptions,
) -> Result<
    gix::remote::Connection<
        'r,
        'static,
        'r,
        Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
    >,
    gix::Error,
> {
    let mut conn = remote.connect(Direction::Fetch)?;
    if let Some(proxy) = &opts.proxy {
        if let Some(transport_options) = proxy_transport_options(remote.repo(), opts, proxy)? {
            conn = conn.with_transport_options(transport_options);
        }
    }
    let auth = opts.auth.clone();
    // Our own credential function: never run git credential helpers or prompt.
    Ok(conn.with_credentials(move |action| match (action, &auth) {
        (gix::credentials::helper::Action::Get(ctx), GitAuth::Basic { username, password }) => {
            Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: username.clone(),
                    password: password.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            }))
        }
        _ => Ok(None),
    }))
}

/// The repository's HTTP transport options with a reqwest client hook that installs the proxy;
/// `None` for transports that are not HTTP. Per fetch, unlike `http.proxy` in a global config.
fn proxy_transport_options(
    repo: &gix::Repository,
    opts: &FetchOptions,
    proxy: &ProxySettings,
) -> Result<Option<Box<dyn std::any::Any>>, gix::Error> {
    use gix::protocol::transport::client::blocking_io::http;
    let Some(mut options) = repo.transport_options(opts.url.as_str(), None)? else {
        return Ok(None);
    };
    let Some(http_options) = options.downcast_mut::<http::Options>() else {
        return Ok(None);
    };
    // Never fall back to a direct connection when the proxy cannot be used.
    let proxy = proxy.to_reqwest().map_err(gix::Error::from_error)?;
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| Ok(builder.proxy(proxy.clone())))),
        configure_request: None,
    };
    http_options.backend = Some(Arc::new(std::sync::Mutex::new(backend)));
    Ok(Some(options))
}

fn do_fetch(
    repo: &gix::Repository,
    opts: &FetchOptions,
    refspecs: &[String],
    shallow: bool,
    interrupt: &AtomicBool,
) -> Result<(Option<gix::ObjectId>, bool), FetchFailure> {
    let remote = repo
        .remote_at(opts.url.as_str())
        .map_err(FetchFailure::Gix)?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(refspecs.iter().map(String::as_str), Direction::Fetch)
        .map_err(FetchFailure::Gix)?;
    let conn = connect(&remote, opts).map_err(FetchFailure::Gix)?;
    let mut prepare = conn
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(FetchFailure::Gix)?;
    let tip = prepare.ref_map().mappings.first().and_then(|m| {
        m.remote
            .peeled_id()
            .or_else(|| m.remote.as_id())
            .map(|id| id.to_owned())
    });
    let is_by_id = refspecs.len() == 1 && refspecs[0].bytes().all(|b| b.is_ascii_hexdigit());
    if prepare.ref_map().mappings.is_empty() && !is_by_id {
        return Err(FetchFailure::Classified(GitError::NotFound {
            url: redact_url(&opts.url),
            detail: format!("no remote reference matches '{}'", refspecs.join("', '")),
        }));
    }
    if shallow {
        prepare = prepare.with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN));
    }
    match prepare.receive(gix::progress::Discard, interrupt) {
        Ok(_) => Ok((tip, shallow)),
        Err(e) => {
            let text = e
                .iter_errors()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(": ")
                .to_lowercase();
            if text.contains("shallow")
                || text.contains("not our ref")
                || text.contains("unadvertised")
                || text.contains("want")
            {
                Err(FetchFailure::Retryable(e))
            } else {
                Err(FetchFailure::Gix(e))
            }
        }
    }
}

fn list_remote_tags(
    repo: &gix::Repository,
    opts: &FetchOptions,
    _interrupt: &AtomicBool,
) -> Result<Vec<String>, GitError> {
    let gix_err = |e: gix::Error| classify(&opts.url, &e);
    let remote = repo
        .remote_at(opts.url.as_str())
        .map_err(gix_err)?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(["+refs/tags/*:refs/tags/*"], Direction::Fetch)
        .map_err(gix_err)?;
    let conn = connect(&remote, opts).map_err(gix_err)?;
    let (map, _) = conn
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(gix_err)?;
    Ok(map
        .remote_refs
        .iter()
        .filter_map(|r| r.unpack().0.to_str().ok())
        .filter_map(|n| n.strip_prefix("refs/tags/"))
        .filter(|n| !n.ends_with("^{}"))
        .map(str::to_owned)
        .collect())
}

/// A submodule entry of a tree: its path and the commit it records.
type Gitlink = (PathBuf, gix::ObjectId);

/// Write the tree of `commit` into `out`, never outside it. Returns what was skipped and the
/// submodule entries, which are left for the caller.
fn checkout(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    out: &Path,
    max_file_size: u64,
    interrupt: &AtomicBool,
) -> Result<(Vec<String>, Vec<Gitlink>), GitError> {
    use gix::objs::tree::EntryKind;
    let err = |what: &str, e: &dyn std::fmt::Display| GitError::Checkout(format!("{what}: {e}"));
    std::fs::create_dir(out).map_err(|e| err("creating checkout dir", &e))?;
    let tree_id = repo
        .find_commit(commit)
        .and_then(|c| c.tree_id().map(|id| id.detach()))
        .map_err(|e| err("reading commit", &e))?;
    let mut skipped = Vec::new();
    let mut links: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut gitlinks: Vec<Gitlink> = Vec::new();
    let mut stack = vec![(PathBuf::new(), tree_id)];
    while let Some((rel_dir, id)) = stack.pop() {
        if interrupt.load(Ordering::Relaxed) {
            return Err(GitError::Checkout("interrupted".to_owned()));
        }
        let tree = repo.find_tree(id).map_err(|e| err("reading tree", &e))?;
        let decoded = tree.decode().map_err(|e| err("decoding tree", &e))?;
        for entry in decoded.entries.iter() {
            let name = entry.filename.to_str_lossy().into_owned();
            let rel = rel_dir.join(&name);
            let shown = rel.to_string_lossy().into_owned();
            // Git itself forbids these names; a crafted tree may still carry them.
            if name.is_empty()
                || name == "."
                || name == ".."
                || name.contains('/')
                || name.contains('\0')
                || name.eq_ignore_ascii_case(".git")
            {
                skipped.push(format!("{shown}: unsafe name"));
                continue;
            }
            let abs = out.join(&rel);
            match entry.mode.kind() {
                EntryKind::Tree => {
                    std::fs::create_dir(&abs).map_err(|e| err(&shown, &e))?;
                    stack.push((rel, entry.oid.to_owned()));
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let size = repo
                        .find_header(entry.oid.to_owned())
                        .map_err(|e| err(&shown, &e))?
                        .size();
                    if size > max_file_size {
                        return Err(GitError::Checkout(format!(
                            "{shown}: {size} bytes exceeds the limit of {max_file_size} bytes"
                        )));
                    }
                    let blob = repo
                        .find_blob(entry.oid.to_owned())
                        .map_err(|e| err(&shown, &e))?;
                    let mode = if entry.mode.kind() == EntryKind::BlobExecutable {
                        0o755
                    } else {
                        0o644
                    };
                    write_new_file(&abs, &blob.data, mode).map_err(|e| err(&shown, &e))?;
                }
                EntryKind::Link => {
                    let blob = repo
                        .find_blob(entry.oid.to_owned())
                        .map_err(|e| err(&shown, &e))?;
                    links.push((rel, blob.data.clone()));
                }
                EntryKind::Commit => gitlinks.push((rel, entry.oid.to_owned())),
            }
        }
    }
    // Links are created last so that the resolution check sees the whole tree.
    let mut created = Vec::new();
    for (rel, target) in links {
        let shown = rel.to_string_lossy().into_owned();
        let Ok(target) = std::str::from_utf8(&target).map(PathBuf::from) else {
            skipped.push(format!("{shown}: symlink target is not UTF-8"));
            continue;
        };
        if !symlink_target_lexically_inside(&rel, &target) {
            skipped.push(format!("{shown}: symlink escapes the checkout"));
            continue;
        }
        std::os::unix::fs::symlink(&target, out.join(&rel)).map_err(|e| err(&shown, &e))?;
        created.push(rel);
    }
    let removed = prune_unsafe_symlinks(out, &created).map_err(|e| err("checking symlinks", &e))?;
    skipped.extend(removed.into_iter().map(|p| {
        format!(
            "{}: symlink does not resolve inside the checkout",
            p.display()
        )
    }));
    Ok((skipped, gitlinks))
}

/// One `[submodule "name"]` section of `.gitmodules`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubmoduleEntry {
    name: String,
    path: String,
    url: String,
}

/// The submodules declared in a `.gitmodules` file; sections without a path or URL are
/// ignored, as Git ignores them.
fn parse_gitmodules(data: &[u8]) -> Result<Vec<SubmoduleEntry>, GitError> {
    let text = std::str::from_utf8(data)
        .map_err(|_| GitError::Checkout(".gitmodules is not valid UTF-8".to_owned()))?;
    let file: gix::config::File = text
        .parse()
        .map_err(|e| GitError::Checkout(format!(".gitmodules: {e}")))?;
    let mut entries = Vec::new();
    for section in file.sections_by_name("submodule").into_iter().flatten() {
        let Some(name) = section.header().subsection_name() else {
            continue;
        };
        let value = |key: &str| section.value(key).map(|v| v.to_str_lossy().into_owned());
        if let (Some(path), Some(url)) = (value("path"), value("url")) {
            entries.push(SubmoduleEntry {
                name: name.to_str_lossy().into_owned(),
                path,
                url,
            });
        }
    }
    Ok(entries)
}

/// Resolve a submodule URL against the parent's URL as Git does: `./x` and `../x` are
/// relative to the parent repository, each `../` dropping one path component.
fn resolve_submodule_url(parent: &str, url: &str) -> Result<String, GitError> {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return Ok(url.to_owned());
    }
    let invalid = || GitError::InvalidUrl {
        url: redact_url(url),
        detail: format!(
            "relative submodule URL climbs above the host of '{}'",
            redact_url(parent)
        ),
    };
    // The part of the parent that relative components may never remove.
    let floor = match parent.split_once("://") {
        Some((scheme, rest)) => scheme.len() + 3 + rest.find('/').unwrap_or(rest.len()),
        None => 0,
    };
    let mut base = parent.trim_end_matches('/').to_owned();
    let mut rest = url;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            rest = r;
            let cut = base
                .rfind('/')
                .filter(|&i| i >= floor)
                .ok_or_else(invalid)?;
            base.truncate(cut);
        } else {
            break;
        }
    }
    Ok(format!("{base}/{rest}"))
}

/// Check out every submodule recorded in the tree of `commit` at its recorded commit, from
/// the URL in `.gitmodules`, with the parent's credentials. Returns what was skipped.
fn checkout_submodules(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    gitlinks: Vec<Gitlink>,
    opts: &FetchOptions,
    out: &Path,
    interrupt: &AtomicBool,
    depth: usize,
) -> Result<Vec<String>, GitError> {
    if depth >= MAX_SUBMODULE_DEPTH {
        return Err(GitError::Checkout(format!(
            "submodules nest deeper than {MAX_SUBMODULE_DEPTH} levels"
        )));
    }
    let err = |what: &str, e: &dyn std::fmt::Display| GitError::Checkout(format!("{what}: {e}"));
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| err("reading commit", &e))?;
    let gitmodules = match tree
        .find_entry(".gitmodules")
        .filter(|e| e.mode().is_blob())
    {
        Some(entry) => {
            let blob = repo
                .find_blob(entry.object_id())
                .map_err(|e| err(".gitmodules", &e))?;
            parse_gitmodules(&blob.data)?
        }
        None => Vec::new(),
    };
    let parent_is_local = matches!(
        gix::url::parse(opts.url.as_bytes().as_bstr()).map(|u| u.scheme),
        Ok(gix::url::Scheme::File)
    );
    let mut skipped = Vec::new();
    for entry in &gitmodules {
        let path = Path::new(entry.path.trim_end_matches('/'));
        // The tree walk only yields safe paths, but `.gitmodules` is free text.
        let safe = super::is_plain_relative(path)
            && !path
                .components()
                .any(|c| c.as_os_str().eq_ignore_ascii_case(".git"));
        if !safe {
            return Err(GitError::Checkout(format!(
                "submodule '{}': path '{}' is not inside the checkout",
                entry.name, entry.path
            )));
        }
    }
    for (rel, sha) in gitlinks {
        let shown = rel.display().to_string();
        let Some(entry) = gitmodules.iter().find(|e| {
            Path::new(e.path.trim_end_matches('/'))
                .components()
                .eq(rel.components())
        }) else {
            skipped.push(format!("{shown}: submodule without a URL in .gitmodules"));
            continue;
        };
        let sub_url = resolve_submodule_url(&opts.url, &entry.url)?;
        validate_url(&sub_url)?;
        let sub_is_local = matches!(
            gix::url::parse(sub_url.as_bytes().as_bstr()).map(|u| u.scheme),
            Ok(gix::url::Scheme::File)
        );
        // Like Git's protocol.file.allow=user: a remote repository must not make us read
        // repositories from the controller's own disk.
        if sub_is_local && !parent_is_local {
            return Err(GitError::InvalidUrl {
                url: redact_url(&sub_url),
                detail: format!(
                    "submodule '{}' of a remote repository may not use a local URL",
                    entry.name
                ),
            });
        }
        if let Some(parent_dir) = rel.parent() {
            super::ensure_real_dir(out, parent_dir).map_err(|e| err(&shown, &e))?;
        }
        let mut sub_opts = opts.clone();
        sub_opts.url = sub_url;
        sub_opts.reference = GitRef::Commit {
            sha: sha.to_hex().to_string(),
            branch: None,
        };
        let sub = fetch_tree(&sub_opts, &out.join(&rel), interrupt, depth + 1)
            .map_err(|e| scrub(e, &sub_opts))?;
        skipped.extend(sub.skipped.into_iter().map(|s| format!("{shown}/{s}")));
    }
    Ok(skipped)
}

fn write_new_file(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // create_new: never follow or overwrite whatever is already at `path`.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        // Set at creation (0644/0755 survive the usual umask): one syscall less per file.
        .mode(mode)
        .open(path)?;
    f.write_all(data)
}

/// A parsed Masterminds-style constraint: OR of AND-groups.
#[derive(Debug, Clone)]
pub struct Constraint {
    groups: Vec<(semver::VersionReq, Vec<semver::VersionReq>)>,
}

impl Constraint {
    pub fn parse(range: &str) -> Result<Constraint, GitError> {
        let invalid = |why: String| GitError::InvalidRef(format!("semver range '{range}': {why}"));
        let mut groups = Vec::new();
        for group in range.split("||") {
            let tokens: Vec<&str> = group
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .collect();
            let mut comparators = Vec::new();
            let mut excluded = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                let mut tok = tokens[i].to_owned();
                // An operator separated from its version by a space: `>= 1.2.0`.
                if tok.chars().all(|c| "<>=!~^".contains(c)) && i + 1 < tokens.len() {
                    i += 1;
                    tok.push_str(tokens[i]);
                }
                // Hyphen range: `1.2 - 1.4.5`.
                if tokens.get(i + 1) == Some(&"-") && i + 2 < tokens.len() {
                    comparators.push(comparator(&format!(">={tok}")).map_err(invalid)?);
                    comparators.push(comparator(&format!("<={}", tokens[i + 2])).map_err(invalid)?);
                    i += 3;
                    continue;
                }
                if let Some(rest) = tok.strip_prefix("!=") {
                    let c = comparator(&format!("={rest}")).map_err(invalid)?;
                    excluded.push(semver::VersionReq {
                        comparators: vec![c],
                    });
                } else if !matches!(tok.as_str(), "*" | "x" | "X") {
                    comparators.push(comparator(&tok).map_err(invalid)?);
                }
                i += 1;
            }
            groups.push((semver::VersionReq { comparators }, excluded));
        }
        Ok(Constraint { groups })
    }

    pub fn matches(&self, v: &semver::Version) -> bool {
        self.groups.iter().any(|(req, excluded)| {
            // Like Masterminds, a prerelease matches only a constraint that mentions one.
            let pre_ok = v.pre.is_empty() || req.comparators.iter().any(|c| !c.pre.is_empty());
            pre_ok && req.matches(v) && !excluded.iter().any(|x| x.matches(v))
        })
    }
}

fn comparator(tok: &str) -> Result<semver::Comparator, String> {
    let split = tok
        .find(|c: char| !"<>=!~^".contains(c))
        .unwrap_or(tok.len());
    let (op, ver) = tok.split_at(split);
    let op = match op {
        "" | "=" | "==" => "=",
        "=<" => "<=",
        "=>" => ">=",
        "~>" => "~",
        o @ (">" | "<" | ">=" | "<=" | "~" | "^") => o,
        o => return Err(format!("unknown operator '{o}'")),
    };
    let ver = ver.strip_prefix('v').unwrap_or(ver);
    // `1.2.x` / `1.*` wildcards become partial versions, which mean the same.
    let parts: Vec<&str> = ver.split('.').collect();
    let cut = parts
        .iter()
        .position(|p| matches!(*p, "x" | "X" | "*"))
        .unwrap_or(parts.len());
    if cut == 0 {
        return Err(format!("'{tok}' has no version"));
    }
    semver::Comparator::parse(&format!("{op}{}", parts[..cut].join(".")))
        .map_err(|e| format!("'{tok}': {e}"))
}

/// Flux's tag parsing: an optional `v`, exactly three dot-separated numbers (leading zeros
/// allowed), then optional `-prerelease` and `+build`.
pub fn parse_tag_version(tag: &str) -> Option<semver::Version> {
    let s = tag.strip_prefix('v').unwrap_or(tag);
    let (s, build) = match s.split_once('+') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let (core, pre) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let nums: Vec<&str> = core.split('.').collect();
    if nums.len() != 3
        || nums
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut v = semver::Version::new(
        nums[0].parse().ok()?,
        nums[1].parse().ok()?,
        nums[2].parse().ok()?,
    );
    if !pre.is_empty() {
        v.pre = semver::Prerelease::new(pre).ok()?;
    }
    if !build.is_empty() {
        v.build = semver::BuildMetadata::new(build).ok()?;
    }
    Some(v)
}

/// The tag with the highest version that satisfies `constraint`.
pub fn pick_semver_tag<'a>(
    constraint: &Constraint,
    tags: impl Iterator<Item = &'a str>,
) -> Option<String> {
    tags.filter_map(|t| parse_tag_version(t).map(|v| (v, t)))
        .filter(|(v, _)| constraint.matches(v))
        // Equal versions (differing in build metadata or the `v` prefix): highest tag name wins,
        // so the choice is deterministic.
        .max_by(|a, b| {
            a.0.cmp_precedence(&b.0)
                .then_with(|| a.0.cmp(&b.0))
                .then_with(|| a.1.cmp(b.1))
        })
        .map(|(_, t)| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_ref_precedence_and_default_branch() {
        assert_eq!(
            GitRef::from_flux(None, None, None, None, None),
            GitRef::Branch("master".into())
        );
        assert_eq!(
            GitRef::from_flux(Some("main"), Some("v1"), Some("1.x"), None, None),
            GitRef::Tag("v1".into())
        );
        assert_eq!(
            GitRef::from_flux(Some("main"), None, Some("1.x"), None, None),
            GitRef::SemVer("1.x".into())
        );
        assert_eq!(
            GitRef::from_flux(Some("main"), Some("v1"), None, Some("refs/heads/x"), None),
            GitRef::Name("refs/heads/x".into())
        );
        assert_eq!(
            GitRef::from_flux(Some("main"), None, None, Some("refs/x"), Some("abc")),
            GitRef::Commit {
                sha: "abc".into(),
                branch: Some("main".into())
            }
        );
    }

    #[test]
    fn semver_ranges_follow_flux() {
        let tags = [
            "v1.0.0",
            "1.2.3",
            "v1.3.0-rc.1",
            "v2.0.0",
            "v1.10.1",
            "latest",
            "v1.2",
            "2021.01.02",
        ];
        let pick =
            |r: &str| pick_semver_tag(&Constraint::parse(r).expect("parse"), tags.iter().copied());
        assert_eq!(pick(">=1.0.0 <2.0.0").as_deref(), Some("v1.10.1"));
        assert_eq!(pick("1.x").as_deref(), Some("v1.10.1"));
        assert_eq!(pick("~1.2").as_deref(), Some("1.2.3"));
        assert_eq!(pick("^1.0").as_deref(), Some("v1.10.1"));
        assert_eq!(
            pick("1.2.3").as_deref(),
            Some("1.2.3"),
            "a bare version is exact"
        );
        assert_eq!(pick(">=1.3.0-0 <1.4.0").as_deref(), Some("v1.3.0-rc.1"));
        assert_eq!(pick("<1.0.0 || >=2.0.0 <3").as_deref(), Some("v2.0.0"));
        assert_eq!(pick(">= 1.0.0, != 1.10.1, < 2").as_deref(), Some("1.2.3"));
        assert_eq!(pick("1.0.0 - 1.5.0").as_deref(), Some("1.2.3"));
        assert_eq!(pick("*").as_deref(), Some("2021.01.02"));
        assert_eq!(pick(">=3.0.0 <2000"), None);
        assert!(Constraint::parse("!!1").is_err());
    }

    #[test]
    fn tag_parsing_allows_v_and_leading_zeros_but_needs_three_parts() {
        assert_eq!(
            parse_tag_version("v2025.02.03-rc.1").map(|v| v.to_string()),
            Some("2025.2.3-rc.1".into())
        );
        assert!(parse_tag_version("v1.2").is_none());
        assert!(parse_tag_version("release-1").is_none());
        assert_eq!(
            parse_tag_version("1.2.3+build.5").map(|v| v.build.to_string()),
            Some("build.5".into())
        );
    }

    #[test]
    fn secret_data_maps_to_auth_without_leaking() {
        let mut data = BTreeMap::new();
        data.insert("username".to_owned(), b"git".to_vec());
        data.insert("password".to_owned(), b"s3cr3t".to_vec());
        let auth = GitAuth::from_secret_data(&data).expect("basic");
        assert!(matches!(auth, GitAuth::Basic { .. }));
        assert!(!format!("{auth:?}").contains("s3cr3t"));
        data.remove("password");
        assert!(GitAuth::from_secret_data(&data).is_err());
        let mut data = BTreeMap::new();
        data.insert("bearerToken".to_owned(), b"tok".to_vec());
        assert!(matches!(
            GitAuth::from_secret_data(&data),
            Ok(GitAuth::Bearer { .. })
        ));
        let mut data = BTreeMap::new();
        data.insert("identity".to_owned(), b"KEY".to_vec());
        data.insert("known_hosts".to_owned(), b"host ssh-ed25519 AAAA".to_vec());
        assert!(matches!(
            GitAuth::from_secret_data(&data),
            Ok(GitAuth::Ssh { .. })
        ));
        assert!(matches!(
            GitAuth::from_secret_data(&BTreeMap::new()),
            Ok(GitAuth::None)
        ));
    }

    #[test]
    fn relative_submodule_urls_resolve_against_the_parent() {
        let resolve = |parent: &str, url: &str| resolve_submodule_url(parent, url).ok();
        assert_eq!(
            resolve("https://host/org/app.git", "../lib.git").as_deref(),
            Some("https://host/org/lib.git")
        );
        assert_eq!(
            resolve("https://host/org/app/", "./lib").as_deref(),
            Some("https://host/org/app/lib")
        );
        assert_eq!(
            resolve("git://host:9418/a/b/app.git", "../../other/lib.git").as_deref(),
            Some("git://host:9418/a/other/lib.git")
        );
        assert_eq!(
            resolve("https://host/app.git", "ssh://git@elsewhere/lib.git").as_deref(),
            Some("ssh://git@elsewhere/lib.git"),
            "absolute URLs are kept"
        );
        assert_eq!(
            resolve("https://host/app.git", "../../lib.git"),
            None,
            "cannot climb above the host"
        );
    }

    #[test]
    fn gitmodules_sections_need_a_path_and_url() {
        let entries = parse_gitmodules(
            b"[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n\
              [submodule \"half\"]\n\tpath = half\n",
        )
        .expect("valid");
        assert_eq!(
            entries,
            vec![SubmoduleEntry {
                name: "lib".into(),
                path: "vendor/lib".into(),
                url: "../lib.git".into()
            }]
        );
    }

    #[test]
    fn proxy_secret_needs_an_http_address_and_hides_the_password() {
        let mut data = BTreeMap::new();
        data.insert("username".to_owned(), b"u".to_vec());
        data.insert("password".to_owned(), b"pr0xy".to_vec());
        assert!(matches!(
            ProxySettings::from_secret_data(&data),
            Err(GitError::InvalidProxy(_))
        ));
        data.insert("address".to_owned(), b"socks5://127.0.0.1:1080".to_vec());
        assert!(ProxySettings::from_secret_data(&data).is_err());
        data.insert("address".to_owned(), b"http://127.0.0.1:3128".to_vec());
        let proxy = ProxySettings::from_secret_data(&data).expect("valid");
        assert_eq!(proxy.address, "http://127.0.0.1:3128");
        assert_eq!(proxy.username.as_deref(), Some("u"));
        assert!(!format!("{proxy:?}").contains("pr0xy"));
        let inline = ProxySettings {
            address: "http://u:inl1ne@proxy:3128".into(),
            username: None,
            password: None,
        };
        assert!(!format!("{inline:?}").contains("inl1ne"));
        assert_eq!(inline.secrets(), vec!["inl1ne".to_owned()]);
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("https://user:pw@host/repo.git"),
            "https://user:***@host/repo.git"
        );
        assert_eq!(redact_url("https://host/a@b"), "https://host/a@b");
        assert_eq!(redact_url("ssh://git@host/repo"), "ssh://git@host/repo");
    }
}
