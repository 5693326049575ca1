//! Real Git servers on loopback for tests: `git daemon`, `git http-backend` behind a small
//! CGI-speaking HTTP server, and plain file:// repositories.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `git` with no user or system configuration.
pub fn git_cmd(home: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("git is installed and runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare repository under `<base>/<name>.git` with a separate work tree to commit from.
pub struct TestRepo {
    pub base: tempfile::TempDir,
    pub work: PathBuf,
    home: PathBuf,
    git_dir: PathBuf,
}

impl TestRepo {
    pub fn new(name: &str) -> TestRepo {
        let base = tempfile::tempdir().expect("tempdir");
        let git_dir = base.path().join(format!("{name}.git"));
        TestRepo::create(base, git_dir)
    }

    /// Another repository whose bare repo sits next to this one's (`<base>/<name>.git`), so
    /// that one server serves both; its work tree is its own.
    pub fn sibling(&self, name: &str) -> TestRepo {
        let base = tempfile::tempdir().expect("tempdir");
        let git_dir = self.base.path().join(format!("{name}.git"));
        TestRepo::create(base, git_dir)
    }

    fn create(base: tempfile::TempDir, git_dir: PathBuf) -> TestRepo {
        let work = base.path().join("work");
        let home = base.path().join("home");
        std::fs::create_dir_all(&work).expect("mkdir");
        std::fs::create_dir_all(&home).expect("mkdir");
        let repo = TestRepo {
            work,
            home,
            base,
            git_dir,
        };
        run(git_cmd(&repo.home)
            .args(["init", "--bare", "-q", "-b", "main"])
            .arg(repo.git_dir()));
        repo
    }

    pub fn git_dir(&self) -> PathBuf {
        self.git_dir.clone()
    }

    pub fn git(&self) -> Command {
        let mut cmd = git_cmd(&self.home);
        cmd.env("GIT_DIR", self.git_dir())
            .env("GIT_WORK_TREE", &self.work)
            .current_dir(&self.work);
        cmd
    }

    pub fn write(&self, path: &str, content: &str) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    /// Deletes a file from the work tree (the next commit records it).
    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.work.join(path)).expect("remove");
    }

    /// Commit the whole work tree; returns the commit id.
    pub fn commit(&self, msg: &str) -> String {
        run(self.git().args(["add", "-A"]));
        run(self
            .git()
            .args(["commit", "-q", "--allow-empty", "-m", msg]));
        self.head()
    }

    pub fn head(&self) -> String {
        run(self.git().args(["rev-parse", "HEAD"]))
    }

    pub fn tag(&self, name: &str, annotated: bool) {
        if annotated {
            run(self.git().args(["tag", "-a", "-m", name, name]));
        } else {
            run(self.git().args(["tag", name]));
        }
    }

    /// Record `sub` at `commit` as a submodule at `path` with `url` in `.gitmodules`, and
    /// commit. (The gitlink is staged directly: the work tree never holds the submodule.)
    pub fn commit_submodule(&self, path: &str, url: &str, commit: &str) -> String {
        let gitmodules = self.work.join(".gitmodules");
        run(self
            .git()
            .arg("config")
            .arg("-f")
            .arg(&gitmodules)
            .args([&format!("submodule.{path}.path"), path]));
        run(self
            .git()
            .arg("config")
            .arg("-f")
            .arg(&gitmodules)
            .args([&format!("submodule.{path}.url"), url]));
        run(self.git().args(["add", ".gitmodules"]));
        run(self.git().args([
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{commit},{path}"),
        ]));
        run(self
            .git()
            .args(["commit", "-q", "-m", &format!("add {path}")]));
        self.head()
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.git_dir().display())
    }
}

/// Poll `cond` until it holds or the deadline passes.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `git daemon` serving every repository below `base`.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn start(base: &Path) -> GitDaemon {
        let port = free_port();
        // Run git-daemon itself rather than `git daemon`: the `git` wrapper would be the
        // child we kill, leaving the real server running after the test.
        let exec_path = run(Command::new("git").arg("--exec-path"));
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", base)
            .stdin(Stdio::null())
            .args([
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
                "--informative-errors",
            ])
            .arg(format!("--base-path={}", base.display()))
            .arg(format!("--port={port}"))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        wait_for("git daemon", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        GitDaemon { child, port }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
pub enum HttpAuth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

/// `git http-backend` behind a minimal HTTP/1.1 server (one request per connection).
pub struct GitHttpServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl GitHttpServer {
    pub fn start(project_root: &Path, auth: HttpAuth) -> GitHttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let root = project_root.to_path_buf();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let root = root.clone();
                        let auth = auth.clone();
                        std::thread::spawn(move || {
                            let _ = serve_one(stream, &root, &auth);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        GitHttpServer { port, stop }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_one(stream: TcpStream, root: &Path, auth: &HttpAuth) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let authorized = match auth {
        HttpAuth::None => true,
        HttpAuth::Basic { user, password } => {
            let expected = base64(format!("{user}:{password}").as_bytes());
            header("authorization") == Some(format!("Basic {expected}"))
        }
        HttpAuth::Bearer(token) => header("authorization") == Some(format!("Bearer {token}")),
    };
    if !authorized {
        let challenge = match auth {
            HttpAuth::Bearer(_) => "Bearer",
            _ => "Basic realm=\"git\"",
        };
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return out.flush();
    }
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", "test")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(proto) = header("git-protocol") {
        cmd.env("HTTP_GIT_PROTOCOL", &proto)
            .env("GIT_PROTOCOL", &proto);
    }
    if let Some(enc) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut cgi = Vec::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_end(&mut cgi)?;
    let _ = writer.join();
    child.wait()?;
    // CGI response: headers, blank line, body.
    let split = cgi
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| cgi.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))
        .unwrap_or((cgi.len(), 0));
    let head = String::from_utf8_lossy(&cgi[..split.0]).into_owned();
    let payload = &cgi[(split.0 + split.1).min(cgi.len())..];
    let mut status = "200 OK".to_owned();
    let mut response_headers = String::new();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("status") {
                status = v.trim().to_owned();
            } else {
                response_headers.push_str(&format!("{}: {}\r\n", k.trim(), v.trim()));
            }
        }
    }
    write!(
        out,
        "HTTP/1.1 {status}\r\n{response_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    )?;
    out.write_all(payload)?;
    out.flush()
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct ProxiedRequest {
    pub line: String,
    pub proxy_authorization: Option<String>,
}

type ProxyLog = std::sync::Mutex<Vec<ProxiedRequest>>;

/// A forward HTTP proxy: plain-HTTP requests in absolute form are passed on to their origin,
/// `CONNECT` is tunnelled. It records every request it handles.
pub struct TestProxy {
    pub port: u16,
    requests: Arc<ProxyLog>,
    stop: Arc<AtomicBool>,
}

impl TestProxy {
    pub fn start() -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, requests2) = (Arc::clone(&stop), Arc::clone(&requests));
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let requests = Arc::clone(&requests2);
                        std::thread::spawn(move || {
                            let _ = proxy_one(stream, &requests);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TestProxy {
            port,
            requests,
            stop,
        }
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<ProxiedRequest> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn proxy_one(client: TcpStream, requests: &ProxyLog) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut head = Vec::new();
    let mut proxy_auth = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        match line.split_once(':') {
            // Hop-by-hop: consumed here, never passed to the origin.
            Some((k, v)) if k.trim().eq_ignore_ascii_case("proxy-authorization") => {
                proxy_auth = Some(v.trim().to_owned());
            }
            Some((k, _)) if k.trim().eq_ignore_ascii_case("proxy-connection") => {}
            _ => head.push(line),
        }
    }
    requests.lock().expect("not poisoned").push(ProxiedRequest {
        line: request_line.trim().to_owned(),
        proxy_authorization: proxy_auth,
    });
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut out = client.try_clone()?;
    let (authority, origin_form) = if method == "CONNECT" {
        (target.clone(), None)
    } else {
        let rest = target.strip_prefix("http://").unwrap_or(&target);
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        (authority.to_owned(), Some(path.to_owned()))
    };
    let mut upstream = TcpStream::connect(&authority)?;
    match origin_form {
        None => write!(out, "HTTP/1.1 200 Connection established\r\n\r\n")?,
        Some(path) => {
            write!(upstream, "{method} {path} HTTP/1.1\r\n")?;
            for line in &head {
                upstream.write_all(line.as_bytes())?;
            }
            upstream.write_all(b"\r\n")?;
        }
    }
    // Whatever the client sends next (a body, or TLS in a tunnel) goes upstream as is;
    // the origin closes after its answer, which ends both directions.
    let mut up_writer = upstream.try_clone()?;
    let pump = std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut up_writer);
        let _ = up_writer.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut out);
    let _ = out.shutdown(std::net::Shutdown::Both);
    let _ = pump.join();
    Ok(())
}

/// A TCP server that accepts connections and never answers: for timeout tests.
pub struct BlackHole {
    pub port: u16,
    _listener: TcpListener,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // The kernel completes the handshake from the backlog; nobody ever reads.
        BlackHole {
            port,
            _listener: listener,
        }
    }
}

/// Standard base64 with padding (enough for a Basic auth header; avoids a dev-dependency).
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc4648_examples() {
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"flux:c0rrect-horse"), "Zmx1eDpjMHJyZWN0LWhvcnNl");
}
