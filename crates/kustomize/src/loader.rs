//! Reading files for a build, confined. Like `kubectl kustomize` (load restrictor
//! `RootOnly`), a kustomization may read files only under its own directory; other
//! kustomization directories (bases, components) may be anywhere. Like Flux, a build
//! may also be fenced into one directory (the source artifact) that nothing, not even
//! a symlink, may leave.

use std::path::{Path, PathBuf};

use crate::error::{KustomizeError, Result};

/// Which files a kustomization may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadRestriction {
    /// Only files under the kustomization's own directory (kubectl's default).
    #[default]
    RootOnly,
    /// Any file inside the fence (Flux's setting).
    None,
}

/// The filesystem view of one build.
#[derive(Debug, Clone)]
pub struct Loader {
    /// Nothing outside this directory is read (canonical); `None`: no fence.
    fence: Option<PathBuf>,
    restriction: LoadRestriction,
    /// Where paths in messages are shown relative to (canonical).
    display_root: PathBuf,
}

impl Loader {
    pub fn new(
        display_root: &Path,
        fence: Option<&Path>,
        restriction: LoadRestriction,
    ) -> Result<Self> {
        let canonical = |path: &Path| {
            path.canonicalize().map_err(|source| KustomizeError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        Ok(Self {
            fence: fence.map(canonical).transpose()?,
            restriction,
            display_root: canonical(display_root)?,
        })
    }

    /// `path` as shown in messages: relative to the build root where it can be.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.display_root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    fn check_fence(&self, path: &Path, dir: &KustDir, field: &str, shown: &str) -> Result<()> {
        if let Some(fence) = &self.fence {
            if !path.starts_with(fence) {
                return Err(KustomizeError::OutsideRoot {
                    file: dir.file.clone(),
                    field: field.to_owned(),
                    path: shown.to_owned(),
                    root: fence.display().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Resolves `rel` (as written in `field` of `dir`'s kustomization) to a canonical
    /// path that exists and is allowed.
    pub fn resolve(&self, dir: &KustDir, rel: &str, field: &str) -> Result<PathBuf> {
        let joined = dir.path.join(rel);
        let canonical = joined.canonicalize().map_err(|source| {
            KustomizeError::field(
                dir.file.clone(),
                field,
                format!("'{rel}': {}", io_reason(&source)),
            )
        })?;
        self.check_fence(&canonical, dir, field, rel)?;
        Ok(canonical)
    }

    /// Resolves a file `rel` that `dir`'s kustomization reads, enforcing the load
    /// restriction, and returns its canonical path.
    pub fn resolve_file(&self, dir: &KustDir, rel: &str, field: &str) -> Result<PathBuf> {
        let path = self.resolve(dir, rel, field)?;
        if self.restriction == LoadRestriction::RootOnly && !path.starts_with(&dir.path) {
            return Err(KustomizeError::OutsideRoot {
                file: dir.file.clone(),
                field: field.to_owned(),
                path: rel.to_owned(),
                root: self.display(&dir.path),
            });
        }
        Ok(path)
    }

    /// Reads a file `rel` of `dir`'s kustomization as text.
    pub fn read_file(&self, dir: &KustDir, rel: &str, field: &str) -> Result<String> {
        let path = self.resolve_file(dir, rel, field)?;
        std::fs::read_to_string(&path).map_err(|source| {
            KustomizeError::field(
                dir.file.clone(),
                field,
                format!("'{rel}': {}", io_reason(&source)),
            )
        })
    }

    /// Reads a file as bytes (generator files may be binary).
    pub fn read_bytes(&self, dir: &KustDir, rel: &str, field: &str) -> Result<Vec<u8>> {
        let path = self.resolve_file(dir, rel, field)?;
        std::fs::read(&path).map_err(|source| {
            KustomizeError::field(
                dir.file.clone(),
                field,
                format!("'{rel}': {}", io_reason(&source)),
            )
        })
    }
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        _ => error.to_string(),
    }
}

/// A kustomization directory being built.
#[derive(Debug, Clone)]
pub struct KustDir {
    /// Canonical directory.
    pub path: PathBuf,
    /// Its kustomization file as shown in messages (e.g. `overlays/prod/kustomization.yaml`).
    pub file: String,
}

/// Whether `rel` is a remote resource (URL or git reference) kustomize would fetch.
pub fn is_remote(rel: &str) -> bool {
    let lower = rel.to_ascii_lowercase();
    [
        "http://",
        "https://",
        "git::",
        "git@",
        "ssh://",
        "github.com/",
        "gitlab.com/",
        "bitbucket.org/",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_outside_the_kustomization_are_refused_but_dirs_are_not() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        std::fs::create_dir_all(root.join("app")).expect("mkdir");
        std::fs::create_dir_all(root.join("base")).expect("mkdir");
        std::fs::write(root.join("secret.yaml"), "x").expect("write");
        let loader =
            Loader::new(&root.join("app"), None, LoadRestriction::RootOnly).expect("loader");
        let dir = KustDir {
            path: root.join("app").canonicalize().expect("canon"),
            file: "kustomization.yaml".into(),
        };
        let err = loader
            .read_file(&dir, "../secret.yaml", "resources")
            .expect_err("outside");
        assert!(err.to_string().contains("../secret.yaml"), "{err}");
        assert!(loader.resolve(&dir, "../base", "resources").is_ok());
        let missing = loader
            .read_file(&dir, "nope.yaml", "resources")
            .expect_err("missing");
        assert!(
            missing.to_string().contains("resources: 'nope.yaml'"),
            "{missing}"
        );
    }

    #[test]
    fn a_fence_holds_even_for_directories_and_symlinks() {
        let tmp = tempfile::tempdir().expect("tmp");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join("app")).expect("mkdir");
        std::fs::create_dir_all(tmp.path().join("elsewhere")).expect("mkdir");
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), repo.join("app/link"))
            .expect("link");
        let loader = Loader::new(&repo, Some(&repo), LoadRestriction::None).expect("loader");
        let dir = KustDir {
            path: repo.join("app").canonicalize().expect("canon"),
            file: "app/kustomization.yaml".into(),
        };
        assert!(matches!(
            loader.resolve(&dir, "link", "resources"),
            Err(KustomizeError::OutsideRoot { .. })
        ));
        assert!(matches!(
            loader.resolve(&dir, "../..", "resources"),
            Err(KustomizeError::OutsideRoot { .. })
        ));
    }

    #[test]
    fn remote_references_are_recognised() {
        assert!(is_remote("https://github.com/org/repo//deploy?ref=v1"));
        assert!(is_remote("github.com/org/repo/deploy"));
        assert!(!is_remote("../base"));
    }
}
