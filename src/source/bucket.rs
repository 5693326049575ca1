//! What a Bucket source makes of a bucket's objects, as Flux's source-controller
//! does: an index of object keys and ETags (filtered by the bucket's root
//! `.sourceignore` and `spec.ignore`), a revision that is the digest of that index,
//! and the objects on disk. Unlike Flux, which downloads every object of a new
//! revision, a per-object cache keeps the files of the last revision and fetches
//! only the objects whose ETag changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::source::ignore::IgnoreRules;
use crate::source::s3::{ListedObject, S3Client, S3Error};

/// Object keys and their ETags.
pub type Index = BTreeMap<String, String>;

/// The file of ignore rules Flux reads from the bucket's root.
pub const IGNORE_FILE: &str = ".sourceignore";
/// How many objects are downloaded at once.
const PARALLEL_DOWNLOADS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error("object cache {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Flux's revision of a bucket: `sha256:` over `"<key> <etag>\n"` of every indexed
/// object in key order.
pub fn revision(index: &Index) -> String {
    let mut hasher = Sha256::new();
    for (key, etag) in index {
        hasher.update(format!("{key} {etag}\n").as_bytes());
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The index of `objects`: directory markers (keys ending in `/`), the ignore file
/// itself and whatever `ignore` excludes are left out.
pub fn index(objects: Vec<ListedObject>, ignore: &IgnoreRules) -> Index {
    objects
        .into_iter()
        .filter(|o| !o.key.ends_with('/') && o.key != IGNORE_FILE)
        .filter(|o| !ignore.is_excluded(&o.key, false))
        .map(|o| (o.key, o.etag))
        .collect()
}

/// Where `key` lands below the cache's root, `..` resolved lexically and never
/// above the root (as Flux's securejoin does); None for a key that names no file.
pub fn confined_path(key: &str) -> Option<PathBuf> {
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(key).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    (!parts.is_empty()).then(|| parts.iter().collect())
}

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncStats {
    /// Objects downloaded.
    pub fetched: usize,
    /// Files removed because their objects are gone.
    pub removed: usize,
}

/// The files of one Bucket's last revision and the index they were fetched at.
pub struct ObjectCache {
    dir: PathBuf,
}

impl ObjectCache {
    pub fn new(dir: PathBuf) -> ObjectCache {
        ObjectCache { dir }
    }

    /// The objects' files, laid out by key.
    pub fn files(&self) -> PathBuf {
        self.dir.join("files")
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn cache_error(&self, path: &Path) -> impl Fn(std::io::Error) -> BucketError {
        let path = path.to_owned();
        move |source| BucketError::Cache {
            path: path.clone(),
            source,
        }
    }

    /// The index the files on disk match; empty when unknown (all is fetched again).
    fn load_index(&self) -> Index {
        std::fs::read(self.index_path())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save_index(&self, index: &Index) -> Result<(), BucketError> {
        let path = self.index_path();
        let err = self.cache_error(&path);
        std::fs::create_dir_all(&self.dir).map_err(&err)?;
        let tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(&err)?;
        serde_json::to_writer(tmp.as_file(), index).map_err(|e| err(e.into()))?;
        tmp.persist(&path).map_err(|e| err(e.error))?;
        Ok(())
    }

    /// Makes the files match `wanted`: downloads the objects that are new or whose
    /// ETag changed, removes files of objects that are gone.
    pub async fn sync(
        &self,
        client: &S3Client,
        wanted: &Index,
        object_limit: u64,
    ) -> Result<SyncStats, BucketError> {
        let files = self.files();
        let have = self.load_index();
        let targets: BTreeMap<&str, PathBuf> = wanted
            .keys()
            .filter_map(|key| confined_path(key).map(|p| (key.as_str(), files.join(p))))
            .collect();
        // Owned, so the download futures borrow nothing (they must be Send for any lifetime).
        let stale: Vec<(String, PathBuf)> = targets
            .iter()
            .filter(|(key, path)| have.get(**key) != wanted.get(**key) || !path.is_file())
            .map(|(key, path)| ((*key).to_owned(), path.clone()))
            .collect();
        // Forget what is about to change first: a sync cut off halfway must not leave
        // an index that vouches for files it did not finish.
        let trusted: Index = have
            .iter()
            .filter(|(key, etag)| {
                wanted.get(*key) == Some(*etag) && !stale.iter().any(|(k, _)| k == *key)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if trusted != have {
            self.save_index(&trusted)?;
        }
        let fetched = stale.len();
        futures::stream::iter(stale)
            .map(|(key, path)| async move {
                client
                    .get_to_file(&key, &path, object_limit)
                    .await
                    .map(|_| ())
            })
            .buffer_unordered(PARALLEL_DOWNLOADS)
            .try_collect::<Vec<()>>()
            .await?;
        let keep: BTreeSet<PathBuf> = targets.into_values().collect();
        let removed = remove_others(&files, &keep).map_err(self.cache_error(&files))?;
        self.save_index(wanted)?;
        Ok(SyncStats { fetched, removed })
    }

    /// Deletes the cache (its Bucket is gone).
    pub fn remove(&self) -> Result<(), BucketError> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(self.cache_error(&self.dir)(e))
            }
            _ => Ok(()),
        }
    }
}

/// Removes every file below `dir` that is not in `keep`, and the directories this
/// empties; returns how many files went.
fn remove_others(dir: &Path, keep: &BTreeSet<PathBuf>) -> std::io::Result<usize> {
    fn walk(dir: &Path, keep: &BTreeSet<PathBuf>, removed: &mut usize) -> std::io::Result<bool> {
        let mut empty = true;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                if walk(&path, keep, removed)? {
                    std::fs::remove_dir(&path)?;
                } else {
                    empty = false;
                }
            } else if keep.contains(&path) {
                empty = false;
            } else {
                std::fs::remove_file(&path)?;
                *removed += 1;
            }
        }
        Ok(empty)
    }
    let mut removed = 0;
    match walk(dir, keep, &mut removed) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        other => other.map(|_| removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ignore::parse_patterns;

    fn object(key: &str, etag: &str) -> ListedObject {
        ListedObject {
            key: key.into(),
            etag: etag.into(),
        }
    }

    #[test]
    fn the_revision_is_the_digest_of_sorted_key_etag_lines() {
        let index: Index = [("b.yaml", "2"), ("a.yaml", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let expected = format!("sha256:{:x}", Sha256::digest(b"a.yaml 1\nb.yaml 2\n"));
        assert_eq!(revision(&index), expected);
        assert_eq!(
            revision(&Index::new()),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_index_leaves_out_directories_the_ignore_file_and_ignored_keys() {
        let rules = IgnoreRules::only(parse_patterns("*.md\n/secret/\n", &[]));
        let index = index(
            vec![
                object("apps/", "d"),
                object(".sourceignore", "i"),
                object("apps/deploy.yaml", "1"),
                object("README.md", "2"),
                object("secret/key.yaml", "3"),
                object("apps/secret/ok.yaml", "4"),
                object(".git/config", "5"),
            ],
            &rules,
        );
        let keys: Vec<&str> = index.keys().map(String::as_str).collect();
        // No default excludes: a `.git` key is an object like any other, as in Flux.
        assert_eq!(
            keys,
            [".git/config", "apps/deploy.yaml", "apps/secret/ok.yaml"]
        );
    }

    #[test]
    fn keys_never_land_above_the_cache() {
        assert_eq!(confined_path("a/b.yaml"), Some(PathBuf::from("a/b.yaml")));
        assert_eq!(
            confined_path("../../etc/passwd"),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(confined_path("/abs/./x"), Some(PathBuf::from("abs/x")));
        assert_eq!(confined_path("a/../../b"), Some(PathBuf::from("b")));
        assert_eq!(confined_path(".."), None);
    }

    #[test]
    fn files_of_gone_objects_and_emptied_directories_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for file in ["keep/a", "gone/b", "gone/deeper/c", "d"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "x").expect("write");
        }
        let keep: BTreeSet<PathBuf> = [root.join("keep/a"), root.join("d")].into();
        assert_eq!(remove_others(root, &keep).expect("remove"), 2);
        assert!(root.join("keep/a").is_file() && root.join("d").is_file());
        assert!(!root.join("gone").exists());
        assert_eq!(
            remove_others(&root.join("missing"), &keep).expect("none"),
            0
        );
    }
}
