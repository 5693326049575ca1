//! Artifacts unpacked once per digest and shared read-only by every build that
//! uses them.
//!
//! The Kustomizations of one source reconcile together (a new revision tells them
//! all at once), and each used to download and unpack the same tarball into a
//! directory of its own, then delete it. At thousands of Kustomizations the file
//! system spent more CPU creating and freeing those inodes than the controller
//! spent on everything else. Here the first build of a digest downloads, verifies
//! and unpacks it; the others wait for it and share the directory. The most
//! recently used `capacity` digests stay unpacked; an evicted one is removed from
//! disk once its last build lets go of it.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::artifact::extract_tar_gz;

/// One unpacked artifact; its directory goes when the last holder drops it.
#[derive(Debug)]
pub struct Unpacked {
    dir: PathBuf,
}

impl Unpacked {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Slot = Arc<OnceCell<Arc<Unpacked>>>;

#[derive(Default)]
struct Entries {
    by_digest: HashMap<String, Slot>,
    /// Least recently used first.
    order: VecDeque<String>,
}

/// The cache: unpacked artifacts under one private directory.
pub struct UnpackedArtifacts {
    root: tempfile::TempDir,
    capacity: usize,
    entries: Mutex<Entries>,
    /// Makes each unpacking's directory name unique: an evicted digest may still
    /// be in use when it is unpacked again.
    next: AtomicU64,
}

impl UnpackedArtifacts {
    pub fn new(capacity: usize) -> std::io::Result<Self> {
        Ok(Self {
            root: tempfile::Builder::new()
                .prefix("ferroflux-unpacked-")
                .tempdir()?,
            capacity: capacity.max(1),
            entries: Mutex::new(Entries::default()),
            next: AtomicU64::new(0),
        })
    }

    /// The slot of `digest`, now the most recently used; evicts beyond capacity.
    fn slot(&self, digest: &str) -> Slot {
        let Ok(mut entries) = self.entries.lock() else {
            // A poisoned lock only loses sharing: this build gets its own slot.
            return Slot::default();
        };
        if let Some(position) = entries.order.iter().position(|d| d == digest) {
            entries.order.remove(position);
        }
        entries.order.push_back(digest.to_owned());
        let slot = entries
            .by_digest
            .entry(digest.to_owned())
            .or_default()
            .clone();
        while entries.order.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.by_digest.remove(&oldest);
            }
        }
        slot
    }

    /// The unpacked artifact of `digest`; `download` is called only when it is
    /// not unpacked yet, and must return the tarball already verified against
    /// `digest`. A failure is not remembered: the next call tries again.
    pub async fn get_or_unpack<F, Fut, E>(
        &self,
        digest: &str,
        download: F,
    ) -> Result<Arc<Unpacked>, UnpackError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, E>>,
    {
        let slot = self.slot(digest);
        let unpacked = slot
            .get_or_try_init(|| async {
                let bytes = download().await.map_err(UnpackError::Download)?;
                let name: String = digest
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(24)
                    .collect();
                let dir = self.root.path().join(format!(
                    "{name}-{}",
                    self.next.fetch_add(1, Ordering::Relaxed)
                ));
                tokio::task::spawn_blocking(move || {
                    // Owned before extracting: a failure half-way removes it.
                    let unpacked = Unpacked { dir };
                    extract_tar_gz(bytes.as_slice(), &unpacked.dir)
                        .map(|_| Arc::new(unpacked))
                        .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| UnpackError::Extract(e.to_string()))?
                .map_err(UnpackError::Extract)
            })
            .await?;
        Ok(unpacked.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError<E> {
    #[error("{0}")]
    Download(E),
    #[error("failed to extract artifact: {0}")]
    Extract(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn tarball(content: &str) -> Vec<u8> {
        let src = tempfile::tempdir().expect("tempdir");
        std::fs::write(src.path().join("app.yaml"), content).expect("write");
        let rules = crate::source::ignore::IgnoreRules::from_user_patterns(Vec::new());
        crate::source::artifact::pack_dir(src.path(), &rules, Vec::new())
            .expect("pack")
            .0
    }

    #[tokio::test]
    async fn one_download_per_digest_shared_by_concurrent_builds() {
        let cache = UnpackedArtifacts::new(4).expect("cache");
        let downloads = AtomicUsize::new(0);
        let bytes = tarball("kind: ConfigMap\n");
        let fetch = || async {
            downloads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, String>(bytes.clone())
        };
        let (a, b) = tokio::join!(
            cache.get_or_unpack("sha256:aa", fetch),
            cache.get_or_unpack("sha256:aa", fetch)
        );
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_eq!(downloads.load(Ordering::SeqCst), 1);
        assert_eq!(a.path(), b.path());
        assert_eq!(
            std::fs::read_to_string(a.path().join("app.yaml")).expect("read"),
            "kind: ConfigMap\n"
        );
    }

    #[tokio::test]
    async fn failures_are_retried_and_evicted_directories_go_with_their_last_user() {
        let cache = UnpackedArtifacts::new(1).expect("cache");
        let failed = cache
            .get_or_unpack("sha256:aa", || async { Err::<Vec<u8>, _>("no route") })
            .await;
        assert!(matches!(failed, Err(UnpackError::Download("no route"))));
        let first = cache
            .get_or_unpack("sha256:aa", || async { Ok::<_, String>(tarball("a")) })
            .await
            .expect("second try unpacks");
        let first_dir = first.path().to_path_buf();
        // A second digest evicts the first; its directory stays while in use.
        let second = cache
            .get_or_unpack("sha256:bb", || async { Ok::<_, String>(tarball("b")) })
            .await
            .expect("b");
        assert!(first_dir.join("app.yaml").is_file());
        drop(first);
        assert!(!first_dir.exists(), "evicted and unused: removed");
        assert!(second.path().join("app.yaml").is_file());
        // Not a tarball: an extraction error, nothing left behind.
        let broken = cache
            .get_or_unpack("sha256:cc", || async { Ok::<_, String>(b"junk".to_vec()) })
            .await;
        assert!(matches!(broken, Err(UnpackError::Extract(_))));
    }
}
