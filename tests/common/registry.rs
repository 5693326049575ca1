//! Debian's docker-registry, started by a test on a loopback port. The including test
//! crate declares `mod testutil` (src/source/testutil.rs).

use std::process::{Child, Command, Stdio};

/// Debian's docker-registry on a loopback port, behind htpasswd basic auth.
pub struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(username: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", username, password])
            .output()
            .expect("htpasswd (apache2-utils) is installed by scripts/test.sh");
        assert!(htpasswd.status.success());
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).expect("htpasswd");
        let port = crate::testutil::free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n\
             http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: charts\n    path: {root}/htpasswd\n",
            root = dir.path().display()
        );
        std::fs::write(dir.path().join("config.yml"), config).expect("config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed by scripts/test.sh");
        crate::testutil::wait_for(
            "the registry answers",
            std::time::Duration::from_secs(20),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        Registry {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
