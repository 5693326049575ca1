//! Source IO engine: fetch a Git revision, filter it with Flux's ignore rules, pack it as a
//! deterministic tarball and store it by digest. Independent of Kubernetes: the source actors
//! call these blocking functions from `tokio::task::spawn_blocking`.

pub mod artifact;
pub mod bucket;
pub mod git;
pub mod helmrepo;
pub mod http;
pub mod ignore;
pub mod oci;
pub mod ociartifact;
pub mod s3;
pub mod unpacked;

#[cfg(test)]
mod server_tests;
#[cfg(test)]
#[allow(dead_code)] // shared with tests/ and benches/, which use more of it
mod testutil;

use std::path::{Component, Path, PathBuf};

/// Create `rel` (and its parents) below `root` as real directories, refusing to traverse any
/// symlink or non-directory, so nothing is ever written outside `root`.
pub(crate) fn ensure_real_dir(root: &Path, rel: &Path) -> std::io::Result<PathBuf> {
    let mut current = root.to_path_buf();
    for comp in rel.components() {
        let Component::Normal(name) = comp else {
            return Err(escape_error(rel));
        };
        current.push(name);
        match std::fs::symlink_metadata(&current) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "refusing to write below {}: not a real directory",
                    current.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(&current)?,
            Err(e) => return Err(e),
        }
    }
    Ok(current)
}

pub(crate) fn escape_error(rel: &Path) -> std::io::Error {
    std::io::Error::other(format!("path {:?} escapes the target directory", rel))
}

/// Whether a relative path consists only of normal components (no `..`, no root, no prefix).
pub(crate) fn is_plain_relative(rel: &Path) -> bool {
    rel.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && rel.components().any(|c| matches!(c, Component::Normal(_)))
}

/// Lexical check: does `target` of the symlink at `link_rel` stay inside the root?
/// Absolute targets never do.
pub(crate) fn symlink_target_lexically_inside(link_rel: &Path, target: &Path) -> bool {
    if target.is_absolute() || target.as_os_str().is_empty() {
        return false;
    }
    let mut depth: Vec<&std::ffi::OsStr> = Vec::new();
    for comp in link_rel.parent().unwrap_or(Path::new("")).components() {
        match comp {
            Component::Normal(n) => depth.push(n),
            Component::CurDir => {}
            _ => return false,
        }
    }
    for comp in target.components() {
        match comp {
            Component::Normal(n) => depth.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// Remove every symlink in `links` (paths relative to `root`) that does not resolve, through
/// any chain of links, to an existing path inside `root`. Repeats until stable because removing
/// one link can leave another dangling. Returns the removed links.
pub(crate) fn prune_unsafe_symlinks(
    root: &Path,
    links: &[PathBuf],
) -> std::io::Result<Vec<PathBuf>> {
    let canonical_root = std::fs::canonicalize(root)?;
    let mut alive: Vec<PathBuf> = links.to_vec();
    let mut removed = Vec::new();
    loop {
        let mut changed = false;
        let mut keep = Vec::with_capacity(alive.len());
        for rel in alive {
            let abs = root.join(&rel);
            let inside = std::fs::canonicalize(&abs)
                .map(|p| p.starts_with(&canonical_root))
                .unwrap_or(false);
            if inside {
                keep.push(rel);
            } else {
                std::fs::remove_file(&abs)?;
                removed.push(rel);
                changed = true;
            }
        }
        alive = keep;
        if !changed {
            return Ok(removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_symlink_check() {
        assert!(symlink_target_lexically_inside(
            Path::new("a/b/link"),
            Path::new("../c")
        ));
        assert!(symlink_target_lexically_inside(
            Path::new("link"),
            Path::new("./x/y")
        ));
        assert!(!symlink_target_lexically_inside(
            Path::new("link"),
            Path::new("../etc/passwd")
        ));
        assert!(!symlink_target_lexically_inside(
            Path::new("a/link"),
            Path::new("../../x")
        ));
        assert!(!symlink_target_lexically_inside(
            Path::new("link"),
            Path::new("/etc/passwd")
        ));
    }

    #[test]
    fn chained_links_that_escape_are_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("file"), "x").expect("write");
        // `here -> .` is fine, but `here/../outside` escapes through it.
        std::os::unix::fs::symlink(".", root.join("here")).expect("symlink");
        std::os::unix::fs::symlink("here/../outside", root.join("sneaky")).expect("symlink");
        std::os::unix::fs::symlink("file", root.join("good")).expect("symlink");
        std::os::unix::fs::symlink("missing", root.join("dangling")).expect("symlink");
        let links = ["here", "sneaky", "good", "dangling"].map(PathBuf::from);
        let mut removed = prune_unsafe_symlinks(root, &links).expect("prune");
        removed.sort();
        assert_eq!(
            removed,
            vec![PathBuf::from("dangling"), PathBuf::from("sneaky")]
        );
        assert!(root.join("good").exists());
    }

    #[test]
    fn ensure_real_dir_refuses_symlinked_parents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).expect("symlink");
        assert!(ensure_real_dir(dir.path(), Path::new("evil/sub")).is_err());
        assert!(ensure_real_dir(dir.path(), Path::new("../x")).is_err());
        assert!(ensure_real_dir(dir.path(), Path::new("ok/sub")).is_ok());
        assert!(std::fs::read_dir(outside.path())
            .expect("read")
            .next()
            .is_none());
    }
}
