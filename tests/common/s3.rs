//! An S3 server on a loopback port for Bucket tests: moto's server (from .venv,
//! installed by scripts/test.sh) with signature checks on, administered through
//! boto3 (tests/s3/admin.py). Its request log tells which objects were downloaded.
//! The including test crate declares `mod testutil` (src/source/testutil.rs).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct S3Server {
    child: Child,
    port: u16,
    log: PathBuf,
    pub access_key: String,
    pub secret_key: String,
    _dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts the server and makes a user with keys that may do everything.
    pub fn start() -> S3Server {
        let moto = repo_root().join(".venv/bin/moto_server");
        assert!(
            moto.is_file(),
            "moto's S3 server is missing: run ./scripts/test.sh, which installs it in .venv"
        );
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("requests.log");
        let port = crate::testutil::free_port();
        let child = Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The setup's three IAM calls go unsigned; from then on every request
            // must carry a valid signature of a known key.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("moto_server starts");
        crate::testutil::wait_for(
            "the S3 server answers",
            std::time::Duration::from_secs(30),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        let mut server = S3Server {
            child,
            port,
            log,
            access_key: String::new(),
            secret_key: String::new(),
            _dir: dir,
        };
        let keys = server.admin(&[json!({"op": "setup"})]).remove(0);
        server.access_key = keys["access_key"].as_str().expect("access key").into();
        server.secret_key = keys["secret_key"].as_str().expect("secret key").into();
        server
    }

    /// `host:port`, as a Bucket's `endpoint`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs `ops` (see tests/s3/admin.py) with the user's keys; their answers.
    pub fn admin(&self, ops: &[Value]) -> Vec<Value> {
        let credentials = (!self.access_key.is_empty())
            .then(|| json!({"access_key": self.access_key, "secret_key": self.secret_key}));
        let request = json!({"endpoint": format!("http://{}", self.endpoint()),
            "credentials": credentials, "ops": ops});
        let mut child = Command::new(repo_root().join(".venv/bin/python"))
            .arg(repo_root().join("tests/s3/admin.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(request.to_string().as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("admin.py");
        assert!(
            out.status.success(),
            "admin.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json answers")
    }

    /// Puts `body` at `key`; its ETag.
    pub fn put(&self, bucket: &str, key: &str, body: &str) -> String {
        let answer =
            self.admin(&[json!({"op": "put", "bucket": bucket, "key": key, "body": body})]);
        answer[0]["etag"].as_str().expect("etag").to_owned()
    }

    /// How many successful GETs of `/bucket/key` the server has answered.
    pub fn downloads(&self, bucket: &str, key: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).expect("the request log");
        let request = format!("\"GET /{bucket}/{key} HTTP/1.1\" 200");
        log.lines().filter(|l| l.contains(&request)).count()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
