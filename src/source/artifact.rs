//! Deterministic artifact tarballs, a digest-addressed store, and safe extraction.
//!
//! The same tree always gives the same bytes (sorted entries, mtime 0, uid/gid 0, no user
//! names, modes normalised to 0644/0755, gzip header without timestamp), so the sha256 digest
//! identifies the content and any replica produces the same artifact.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use flate2::{write::GzEncoder, Compression, GzBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ignore::IgnoreRules;
use super::{
    ensure_real_dir, is_plain_relative, prune_unsafe_symlinks, symlink_target_lexically_inside,
};

/// Flux's `status.artifact`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// `<kind>/<namespace>/<name>/<digest-hex>.tar.gz`, relative to the storage root.
    pub path: String,
    pub url: String,
    pub revision: String,
    /// `sha256:<hex>` of the tarball bytes.
    pub digest: String,
    pub size: u64,
    pub last_update_time: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("source directory {0} does not exist or is not a directory")]
    InvalidSource(PathBuf),
    #[error("invalid storage key component {0:?}: must be a plain name")]
    InvalidKey(String),
    #[error("packing {path}: {source}")]
    Pack { path: PathBuf, source: io::Error },
    #[error("storing artifact in {dir}: {source}")]
    Store { dir: PathBuf, source: io::Error },
    #[error("unsafe archive entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: &'static str },
    #[error("extracting archive: {0}")]
    Extract(io::Error),
    #[error("garbage-collecting {dir}: {source}")]
    Gc { dir: PathBuf, source: io::Error },
}

/// What went into a tarball.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Paths that were left out: ignored, escaping symlinks, special files.
    pub excluded: Vec<String>,
}

/// Writes everything it is given to `inner` while hashing and counting it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Pack `root` as a deterministic tar.gz into `out`, leaving out what `rules` exclude.
/// Symlinks are packed as symlinks (never followed) only if they resolve inside `root`.
pub fn pack_dir<W: Write>(
    root: &Path,
    rules: &IgnoreRules,
    out: W,
) -> Result<(W, PackStats), ArtifactError> {
    if !root.is_dir() {
        return Err(ArtifactError::InvalidSource(root.to_path_buf()));
    }
    let pack_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArtifactError::Pack { path, source }
    };
    let canonical_root = std::fs::canonicalize(root).map_err(pack_err(root))?;
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut stats = PackStats::default();
    let mut walk = Walk {
        root,
        canonical_root: &canonical_root,
        rules,
        tar: &mut tar,
        stats: &mut stats,
    };
    walk.dir(Path::new(""))?;
    let gz = tar.into_inner().map_err(pack_err(root))?;
    let out = gz.finish().map_err(pack_err(root))?;
    Ok((out, stats))
}

struct Walk<'a, W: Write> {
    root: &'a Path,
    canonical_root: &'a Path,
    rules: &'a IgnoreRules,
    tar: &'a mut tar::Builder<GzEncoder<W>>,
    stats: &'a mut PackStats,
}

impl<W: Write> Walk<'_, W> {
    /// Depth-first in byte order of names, like Go's `filepath.Walk`, so the order is stable.
    fn dir(&mut self, rel_dir: &Path) -> Result<(), ArtifactError> {
        let pack_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ArtifactError::Pack { path, source }
        };
        let abs_dir = self.root.join(rel_dir);
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&abs_dir)
            .map_err(pack_err(&abs_dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(pack_err(&abs_dir))?;
        names.sort();
        for name in names {
            let rel = rel_dir.join(&name);
            let abs = self.root.join(&rel);
            let rel_str = rel.to_string_lossy().into_owned();
            let md = std::fs::symlink_metadata(&abs).map_err(pack_err(&abs))?;
            let ft = md.file_type();
            let excluded = self.rules.is_excluded(&rel_str, ft.is_dir());
            if ft.is_dir() {
                // Flux keeps walking into an excluded directory: a `!` rule may re-include a
                // path below it. Only the directory entry itself is left out.
                if excluded {
                    self.stats.excluded.push(format!("{rel_str}/"));
                } else {
                    let mut h = base_header(tar::EntryType::Directory, 0o755, 0);
                    self.tar
                        .append_data(&mut h, format!("{rel_str}/"), io::empty())
                        .map_err(pack_err(&abs))?;
                    self.stats.dirs += 1;
                }
                self.dir(&rel)?;
            } else if excluded {
                self.stats.excluded.push(rel_str);
            } else if ft.is_file() {
                let mode = if md_is_executable(&md) { 0o755 } else { 0o644 };
                let mut h = base_header(tar::EntryType::Regular, mode, md.len());
                let file = File::open(&abs).map_err(pack_err(&abs))?;
                // Streamed: a large file is never held in memory whole. `take` guards against
                // a file growing while we read it, which would corrupt the archive.
                self.tar
                    .append_data(&mut h, &rel_str, file.take(md.len()))
                    .map_err(pack_err(&abs))?;
                self.stats.files += 1;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&abs).map_err(pack_err(&abs))?;
                let inside = symlink_target_lexically_inside(&rel, &target)
                    && std::fs::canonicalize(&abs)
                        .map(|p| p.starts_with(self.canonical_root))
                        .unwrap_or(false);
                if inside {
                    let mut h = base_header(tar::EntryType::Symlink, 0o777, 0);
                    self.tar
                        .append_link(&mut h, &rel_str, &target)
                        .map_err(pack_err(&abs))?;
                    self.stats.symlinks += 1;
                } else {
                    self.stats.excluded.push(rel_str);
                }
            } else {
                self.stats.excluded.push(rel_str);
            }
        }
        Ok(())
    }
}

fn md_is_executable(md: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    md.permissions().mode() & 0o111 != 0
}

fn base_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// How a stored file is named.
#[derive(Debug, Clone, Copy)]
pub enum ArtifactFileName<'a> {
    /// `<stem>-<sha256>.<extension>`.
    Digested { stem: &'a str, extension: &'a str },
    /// A name of its own (a chart archive: `<chart>-<version>.tgz`).
    Fixed(&'a str),
}

/// Digest-addressed artifact storage: `<root>/<kind>/<ns>/<name>/<digest>.tar.gz`.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    pub root: PathBuf,
    /// Base of the download URL, e.g. `http://ferroflux.flux-system.svc.cluster.local.`.
    pub base_url: String,
}

impl ArtifactStore {
    pub fn new(root: impl Into<PathBuf>, base_url: impl Into<String>) -> Self {
        ArtifactStore {
            root: root.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    fn object_dir(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(PathBuf, String), ArtifactError> {
        let kind = kind.to_ascii_lowercase();
        for part in [kind.as_str(), namespace, name] {
            if part.is_empty() || part.contains(['/', '\\', '\0']) || part == "." || part == ".." {
                return Err(ArtifactError::InvalidKey(part.to_owned()));
            }
        }
        let rel = format!("{kind}/{namespace}/{name}");
        Ok((self.root.join(&rel), rel))
    }

    /// Pack `src` and store it atomically (temp file + rename) under its digest.
    pub fn store_dir(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        revision: &str,
        src: &Path,
        rules: &IgnoreRules,
    ) -> Result<(Artifact, PackStats), ArtifactError> {
        let (dir, rel_dir) = self.object_dir(kind, namespace, name)?;
        let store_err = |source| ArtifactError::Store {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(store_err)?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .suffix(".tar.gz")
            .tempfile_in(&dir)
            .map_err(store_err)?;
        let writer = HashingWriter {
            inner: BufWriter::new(tmp),
            hasher: Sha256::new(),
            written: 0,
        };
        let (writer, stats) = pack_dir(src, rules, writer)?;
        let HashingWriter {
            inner,
            hasher,
            written,
        } = writer;
        let tmp = inner.into_inner().map_err(|e| store_err(e.into_error()))?;
        tmp.as_file().sync_all().map_err(store_err)?;
        let hex = to_hex(&hasher.finalize());
        let file_name = format!("{hex}.tar.gz");
        let final_path = dir.join(&file_name);
        tmp.persist(&final_path).map_err(|e| store_err(e.error))?;
        // Storing the same content again makes it the newest for garbage collection.
        File::options()
            .write(true)
            .open(&final_path)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(store_err)?;
        let path = format!("{rel_dir}/{file_name}");
        let artifact = Artifact {
            url: format!("{}/{path}", self.base_url),
            path,
            revision: revision.to_owned(),
            digest: format!("sha256:{hex}"),
            size: written,
            last_update_time: Utc::now(),
        };
        Ok((artifact, stats))
    }

    /// Store `bytes` atomically as `<stem>-<digest>.<extension>` (a Helm index) or,
    /// with `fixed_name`, as that name (a chart archive, named as Flux names it).
    pub fn store_bytes(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        revision: &str,
        file_name: ArtifactFileName<'_>,
        bytes: &[u8],
    ) -> Result<Artifact, ArtifactError> {
        let (dir, rel_dir) = self.object_dir(kind, namespace, name)?;
        let store_err = |source| ArtifactError::Store {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(store_err)?;
        let hex = to_hex(&Sha256::digest(bytes));
        let file_name = match file_name {
            ArtifactFileName::Digested { stem, extension } => format!("{stem}-{hex}.{extension}"),
            ArtifactFileName::Fixed(fixed) => {
                if fixed.is_empty() || fixed.contains(['/', '\\', '\0']) || fixed.starts_with('.') {
                    return Err(ArtifactError::InvalidKey(fixed.to_owned()));
                }
                fixed.to_owned()
            }
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(store_err)?;
        tmp.write_all(bytes).map_err(store_err)?;
        tmp.as_file().sync_all().map_err(store_err)?;
        let final_path = dir.join(&file_name);
        tmp.persist(&final_path).map_err(|e| store_err(e.error))?;
        File::options()
            .write(true)
            .open(&final_path)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(store_err)?;
        let path = format!("{rel_dir}/{file_name}");
        Ok(Artifact {
            url: format!("{}/{path}", self.base_url),
            path,
            revision: revision.to_owned(),
            digest: format!("sha256:{hex}"),
            size: bytes.len() as u64,
            last_update_time: Utc::now(),
        })
    }

    /// Points `link_name` in the object's directory at the artifact `target` (a
    /// relative link, replaced atomically) and returns its URL: Flux's stable
    /// `status.url` (`index.yaml`, `latest.tar.gz`).
    pub fn link(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        link_name: &str,
        target: &Artifact,
    ) -> Result<String, ArtifactError> {
        let (dir, rel_dir) = self.object_dir(kind, namespace, name)?;
        let store_err = |source| ArtifactError::Store {
            dir: dir.clone(),
            source,
        };
        let target_name = target.path.rsplit('/').next().unwrap_or(&target.path);
        if link_name.contains('/') || link_name.starts_with('.') || target_name.starts_with('.') {
            return Err(ArtifactError::InvalidKey(link_name.to_owned()));
        }
        let tmp = dir.join(format!(".tmp-link-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target_name, &tmp).map_err(store_err)?;
        std::fs::rename(&tmp, dir.join(link_name)).map_err(store_err)?;
        Ok(format!("{}/{rel_dir}/{link_name}", self.base_url))
    }

    /// A working directory of one object that storage does not serve (its name
    /// starts with a dot): `<root>/.cache/<kind>/<namespace>/<name>`.
    pub fn cache_dir(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<PathBuf, ArtifactError> {
        let (_, rel) = self.object_dir(kind, namespace, name)?;
        Ok(self.root.join(".cache").join(rel))
    }

    /// Delete every stored artifact of one object (when the object is deleted).
    pub fn remove_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(), ArtifactError> {
        let (dir, _) = self.object_dir(kind, namespace, name)?;
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ArtifactError::Gc { dir, source: e })
            }
            _ => Ok(()),
        }
    }

    /// Absolute path of a stored artifact.
    /// The storage directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn local_path(&self, artifact: &Artifact) -> PathBuf {
        self.root.join(&artifact.path)
    }

    /// Delete all but the `keep` newest artifacts of one object; `current` (a file name or
    /// storage path) is never deleted. Returns the deleted paths.
    pub fn gc(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        keep: usize,
        current: &str,
    ) -> Result<Vec<PathBuf>, ArtifactError> {
        let (dir, _) = self.object_dir(kind, namespace, name)?;
        let gc_err = |source| ArtifactError::Gc {
            dir: dir.clone(),
            source,
        };
        let current_name = current.rsplit('/').next().unwrap_or(current);
        let mut entries: Vec<(SystemTime, PathBuf)> = Vec::new();
        let read = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(gc_err(e)),
        };
        for entry in read {
            let entry = entry.map_err(gc_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Every file of the object's directory is one of its artifacts (tarballs,
            // index files, chart archives); dot files are writes in progress.
            let is_file = entry.file_type().map_err(gc_err)?.is_file();
            if !is_file || name.starts_with('.') || name == current_name {
                continue;
            }
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(gc_err)?;
            entries.push((modified, entry.path()));
        }
        entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        // The current artifact counts towards `keep`.
        let keep_others = keep.saturating_sub(1);
        let mut deleted = Vec::new();
        for (_, path) in entries.into_iter().skip(keep_others) {
            std::fs::remove_file(&path).map_err(gc_err)?;
            deleted.push(path);
        }
        Ok(deleted)
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// sha256 of a file, streamed, as `sha256:<hex>`.
pub fn file_digest(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(format!("sha256:{}", to_hex(&hasher.finalize())))
}

/// Safely extract a tar.gz into `dest` (created if missing). Entries with absolute or `..`
/// paths are refused, nothing is written through a symlink, symlinks that do not resolve
/// inside `dest` are removed, and hard links / devices are skipped. File contents are streamed.
pub fn extract_tar_gz<R: Read>(reader: R, dest: &Path) -> Result<Vec<String>, ArtifactError> {
    std::fs::create_dir_all(dest).map_err(ArtifactError::Extract)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut skipped = Vec::new();
    let mut links = Vec::new();
    for entry in archive.entries().map_err(ArtifactError::Extract)? {
        let mut entry = entry.map_err(ArtifactError::Extract)?;
        let raw = entry.path().map_err(ArtifactError::Extract)?.into_owned();
        let shown = raw.to_string_lossy().into_owned();
        if raw.as_os_str().is_empty() || raw == Path::new(".") || raw == Path::new("./") {
            continue;
        }
        if !is_plain_relative(&raw) {
            return Err(ArtifactError::UnsafeEntry {
                entry: shown,
                reason: "absolute or parent-relative path",
            });
        }
        let rel: PathBuf = raw
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        let parent = rel.parent().unwrap_or(Path::new(""));
        let file_name = rel.file_name().ok_or(ArtifactError::UnsafeEntry {
            entry: shown.clone(),
            reason: "no file name",
        })?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                ensure_real_dir(dest, &rel).map_err(ArtifactError::Extract)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let dir = ensure_real_dir(dest, parent).map_err(ArtifactError::Extract)?;
                let target = dir.join(file_name);
                remove_non_dir(&target).map_err(ArtifactError::Extract)?;
                let mode = entry.header().mode().unwrap_or(0o644);
                let mut out = File::options()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(ArtifactError::Extract)?;
                io::copy(&mut entry, &mut out).map_err(ArtifactError::Extract)?;
                set_mode(&target, if mode & 0o111 != 0 { 0o755 } else { 0o644 })
                    .map_err(ArtifactError::Extract)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(ArtifactError::Extract)?
                    .map(|t| t.into_owned());
                let Some(target) = target.filter(|t| symlink_target_lexically_inside(&rel, t))
                else {
                    skipped.push(shown);
                    continue;
                };
                let dir = ensure_real_dir(dest, parent).map_err(ArtifactError::Extract)?;
                let at = dir.join(file_name);
                remove_non_dir(&at).map_err(ArtifactError::Extract)?;
                std::os::unix::fs::symlink(&target, &at).map_err(ArtifactError::Extract)?;
                links.push(rel);
            }
            _ => skipped.push(shown),
        }
    }
    let removed = prune_unsafe_symlinks(dest, &links).map_err(ArtifactError::Extract)?;
    skipped.extend(
        removed
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    Ok(skipped)
}

fn remove_non_dir(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => Err(io::Error::other(format!(
            "{} is a directory",
            path.display()
        ))),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ignore::{parse_patterns, IgnoreRules};

    fn sample_tree(root: &Path) {
        std::fs::create_dir_all(root.join("deploy/base")).expect("mkdir");
        std::fs::create_dir_all(root.join(".git/objects")).expect("mkdir");
        std::fs::write(root.join("deploy/base/app.yaml"), "kind: Deployment\n").expect("write");
        std::fs::write(
            root.join("deploy/kustomization.yaml"),
            "resources: [base/app.yaml]\n",
        )
        .expect("write");
        std::fs::write(root.join("run.sh"), "#!/bin/sh\n").expect("write");
        set_mode(&root.join("run.sh"), 0o700).expect("chmod");
        std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").expect("write");
        std::os::unix::fs::symlink("deploy/kustomization.yaml", root.join("k.yaml"))
            .expect("symlink");
        std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).expect("symlink");
        std::os::unix::fs::symlink("../../outside", root.join("deploy/up")).expect("symlink");
    }

    fn pack_bytes(root: &Path) -> (Vec<u8>, PackStats) {
        pack_dir(
            root,
            &IgnoreRules::from_user_patterns(Vec::new()),
            Vec::new(),
        )
        .expect("pack")
    }

    #[test]
    fn same_tree_packs_to_identical_bytes_regardless_of_mtime_and_owner() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        sample_tree(a.path());
        sample_tree(b.path());
        // Different mtimes and permission bits that normalise to the same modes.
        File::options()
            .write(true)
            .open(b.path().join("deploy/base/app.yaml"))
            .expect("open")
            .set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(12345))
            .expect("mtime");
        set_mode(&b.path().join("run.sh"), 0o755).expect("chmod");
        set_mode(&b.path().join("deploy/kustomization.yaml"), 0o600).expect("chmod");
        let (x, stats) = pack_bytes(a.path());
        let (y, _) = pack_bytes(b.path());
        assert_eq!(x, y);
        assert_eq!(stats.files, 3);
        assert_eq!(stats.symlinks, 1, "only the in-root symlink is kept");
        assert!(stats.excluded.contains(&"passwd".to_owned()));
        assert!(stats.excluded.contains(&"deploy/up".to_owned()));
        assert!(stats.excluded.contains(&".git/HEAD".to_owned()));
    }

    #[test]
    fn tar_headers_are_normalised() {
        let a = tempfile::tempdir().expect("tempdir");
        sample_tree(a.path());
        let (bytes, _) = pack_bytes(a.path());
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip header has no timestamp");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut names = Vec::new();
        for e in ar.entries().expect("entries") {
            let e = e.expect("entry");
            let h = e.header();
            assert_eq!(h.mtime().expect("mtime"), 0);
            assert_eq!(h.uid().expect("uid"), 0);
            assert_eq!(h.gid().expect("gid"), 0);
            assert_eq!(h.username().expect("user"), Some(""));
            let path = e.path().expect("path").to_string_lossy().into_owned();
            let mode = h.mode().expect("mode");
            match path.as_str() {
                "run.sh" | "deploy/" | "deploy/base/" => assert_eq!(mode, 0o755, "{path}"),
                "k.yaml" => assert_eq!(
                    e.link_name().expect("link").expect("target").as_ref(),
                    Path::new("deploy/kustomization.yaml")
                ),
                _ => assert_eq!(mode, 0o644, "{path}"),
            }
            names.push(path);
        }
        assert_eq!(
            names,
            [
                "deploy/",
                "deploy/base/",
                "deploy/base/app.yaml",
                "deploy/kustomization.yaml",
                "k.yaml",
                "run.sh"
            ]
        );
    }

    #[test]
    fn store_is_digest_addressed_and_gc_keeps_newest() {
        let storage = tempfile::tempdir().expect("tempdir");
        let src = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::new(storage.path(), "http://source.flux-system.svc/");
        let rules = IgnoreRules::from_user_patterns(Vec::new());
        let mut stored = Vec::new();
        for i in 0..4 {
            std::fs::write(src.path().join("file.yaml"), format!("v: {i}\n")).expect("write");
            let (a, _) = store
                .store_dir(
                    "GitRepository",
                    "default",
                    "podinfo",
                    &format!("main@sha1:{i}"),
                    src.path(),
                    &rules,
                )
                .expect("store");
            assert!(a.path.starts_with("gitrepository/default/podinfo/"));
            assert_eq!(a.url, format!("http://source.flux-system.svc/{}", a.path));
            assert_eq!(
                file_digest(&store.local_path(&a)).expect("digest"),
                a.digest
            );
            assert_eq!(
                std::fs::metadata(store.local_path(&a)).expect("md").len(),
                a.size
            );
            // Distinct mtimes for the GC order.
            File::options()
                .write(true)
                .open(store.local_path(&a))
                .expect("open")
                .set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i))
                .expect("mtime");
            stored.push(a);
        }
        // Storing identical content again gives the same artifact path.
        let (again, _) = store
            .store_dir(
                "GitRepository",
                "default",
                "podinfo",
                "x",
                src.path(),
                &rules,
            )
            .expect("store");
        assert_eq!(again.path, stored[3].path);
        let deleted = store
            .gc("GitRepository", "default", "podinfo", 2, &stored[3].path)
            .expect("gc");
        assert_eq!(deleted.len(), 2);
        assert!(store.local_path(&stored[3]).exists());
        assert!(store.local_path(&stored[2]).exists());
        assert!(!store.local_path(&stored[1]).exists());
        assert!(!store.local_path(&stored[0]).exists());
        let leftovers: Vec<_> =
            std::fs::read_dir(storage.path().join("gitrepository/default/podinfo"))
                .expect("ls")
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
                .collect();
        assert!(leftovers.is_empty(), "no temp files left behind");
        assert!(store
            .store_dir("GitRepository", "..", "x", "r", src.path(), &rules)
            .is_err());
        store
            .remove_object("GitRepository", "default", "podinfo")
            .expect("remove");
        assert!(!storage
            .path()
            .join("gitrepository/default/podinfo")
            .exists());
    }

    #[test]
    fn ignore_rules_shape_the_artifact() {
        let src = tempfile::tempdir().expect("tempdir");
        sample_tree(src.path());
        let rules = IgnoreRules::from_user_patterns(parse_patterns("deploy/base/\n", &[]));
        let (bytes, stats) = pack_dir(src.path(), &rules, Vec::new()).expect("pack");
        let out = tempfile::tempdir().expect("tempdir");
        extract_tar_gz(&bytes[..], out.path()).expect("extract");
        assert!(out.path().join("deploy/kustomization.yaml").is_file());
        assert!(!out.path().join("deploy/base").exists());
        assert!(stats.excluded.contains(&"deploy/base/".to_owned()));
    }

    #[test]
    fn extract_roundtrip_keeps_modes_and_inside_links() {
        let src = tempfile::tempdir().expect("tempdir");
        sample_tree(src.path());
        let (bytes, _) = pack_bytes(src.path());
        let out = tempfile::tempdir().expect("tempdir");
        let skipped = extract_tar_gz(&bytes[..], out.path()).expect("extract");
        assert!(skipped.is_empty());
        assert_eq!(
            std::fs::read_to_string(out.path().join("k.yaml")).expect("read"),
            "resources: [base/app.yaml]\n"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(out.path().join("run.sh"))
                .expect("md")
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
    }

    fn malicious_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let raw = b.into_inner().expect("tar");
        let mut gz = GzBuilder::new().write(Vec::new(), Compression::fast());
        gz.write_all(&raw).expect("gz");
        gz.finish().expect("gz")
    }

    fn raw_entry(
        b: &mut tar::Builder<Vec<u8>>,
        kind: tar::EntryType,
        name: &[u8],
        link: Option<&[u8]>,
        data: &[u8],
    ) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // Write the name bytes directly: the tar crate refuses `..` through its safe setters.
        let gnu = h.as_gnu_mut().expect("gnu");
        gnu.name[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            gnu.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_cksum();
        b.append(&h, data).expect("append");
    }

    #[test]
    fn extract_refuses_parent_paths_and_absolute_paths() {
        let outside = tempfile::tempdir().expect("tempdir");
        let dest = outside.path().join("dest");
        let evil = malicious_tar(|b| {
            raw_entry(
                b,
                tar::EntryType::Regular,
                b"../escaped.txt",
                None,
                b"pwned",
            )
        });
        assert!(matches!(
            extract_tar_gz(&evil[..], &dest),
            Err(ArtifactError::UnsafeEntry { .. })
        ));
        assert!(!outside.path().join("escaped.txt").exists());
        let evil = malicious_tar(|b| {
            raw_entry(b, tar::EntryType::Regular, b"/tmp/abs.txt", None, b"pwned")
        });
        assert!(matches!(
            extract_tar_gz(&evil[..], &dest),
            Err(ArtifactError::UnsafeEntry { .. })
        ));
    }

    #[test]
    fn extract_never_writes_through_symlinks() {
        let outside = tempfile::tempdir().expect("tempdir");
        let dest = outside.path().join("dest");
        let target = outside.path().join("victim");
        std::fs::create_dir(&target).expect("mkdir");
        let link = format!("{}", target.display());
        let evil = malicious_tar(|b| {
            raw_entry(
                b,
                tar::EntryType::Symlink,
                b"link",
                Some(link.as_bytes()),
                b"",
            );
            raw_entry(
                b,
                tar::EntryType::Regular,
                b"link/owned.txt",
                None,
                b"pwned",
            );
        });
        let res = extract_tar_gz(&evil[..], &dest);
        assert!(res.is_err() || !target.join("owned.txt").exists());
        assert!(!target.join("owned.txt").exists());
        // A link to `.` followed by a write through it is refused too.
        let evil = malicious_tar(|b| {
            raw_entry(b, tar::EntryType::Symlink, b"self", Some(b"."), b"");
            raw_entry(b, tar::EntryType::Symlink, b"up", Some(b"self/../.."), b"");
        });
        let dest2 = outside.path().join("dest2");
        let skipped = extract_tar_gz(&evil[..], &dest2).expect("extract");
        assert!(skipped.contains(&"up".to_owned()), "{skipped:?}");
        assert!(std::fs::symlink_metadata(dest2.join("up")).is_err());
    }
}
