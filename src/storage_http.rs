//! The artifact server: serves the files of the storage directory over HTTP, so any
//! replica (and any consumer) can download an artifact by its URL, as Flux's
//! `--storage-addr` server does.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Why the artifact server could not start.
#[derive(Debug, thiserror::Error)]
#[error("listening on {addr}: {source}")]
pub struct ListenError {
    addr: SocketAddr,
    source: std::io::Error,
}

/// The file under `root` that a URL path names, or None when the path could leave
/// `root` (`..`, absolute paths) or names a hidden file (temporary files of writers).
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = Path::new(url_path.trim_start_matches('/'));
    let mut resolved = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => {
                resolved.push(part)
            }
            _ => return None,
        }
    }
    (resolved != root).then_some(resolved)
}

/// The regular file to serve for `path`: the file itself, or the target of a link
/// the store made (`index.yaml` → `index-<digest>.yaml`), which names a file in the
/// same directory. A symlink planted in the storage directory must not serve files
/// from elsewhere, so any other link is refused.
async fn servable(path: PathBuf) -> Option<PathBuf> {
    let meta = tokio::fs::symlink_metadata(&path).await.ok()?;
    if meta.is_file() {
        return Some(path);
    }
    if !meta.file_type().is_symlink() {
        return None;
    }
    let target = tokio::fs::read_link(&path).await.ok()?;
    let mut parts = target.components();
    let (Some(Component::Normal(name)), None) = (parts.next(), parts.next()) else {
        return None;
    };
    if name.to_string_lossy().starts_with('.') {
        return None;
    }
    let resolved = path.parent()?.join(name);
    let meta = tokio::fs::symlink_metadata(&resolved).await.ok()?;
    meta.is_file().then_some(resolved)
}

async fn serve_file(State(root): State<PathBuf>, UrlPath(path): UrlPath<String>) -> Response {
    let Some(file_path) = resolve(&root, &path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(file_path) = servable(file_path).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::File::open(&file_path).await {
        Ok(file) => {
            let content_type = if path.ends_with(".tar.gz") {
                "application/gzip"
            } else {
                "application/octet-stream"
            };
            let stream = tokio_util::io::ReaderStream::new(file);
            (
                [(header::CONTENT_TYPE, content_type)],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

pub fn router(root: PathBuf) -> Router {
    Router::new()
        .route("/{*path}", get(serve_file))
        .with_state(root)
}

/// Serves `root` on `addr`; returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    root: PathBuf,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ListenError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ListenError { addr, source })?;
    let app = router(root);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "artifact server stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[test]
    fn paths_never_leave_the_root() {
        let root = Path::new("/data");
        assert_eq!(
            resolve(root, "/gitrepository/ns/app/abc.tar.gz"),
            Some(PathBuf::from("/data/gitrepository/ns/app/abc.tar.gz"))
        );
        assert_eq!(resolve(root, "/gitrepository/../../etc/passwd"), None);
        assert_eq!(resolve(root, "/gitrepository/ns/app/.abc.tar.gz.tmp"), None);
        assert_eq!(resolve(root, "/"), None);
    }

    async fn fetch(app: Router, path: &str) -> (StatusCode, Vec<u8>) {
        let response = app
            .oneshot(
                axum::http::Request::get(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let status = response.status();
        (
            status,
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .to_vec(),
        )
    }

    #[tokio::test]
    async fn serves_stored_files_and_nothing_else() {
        let dir = tempfile::tempdir().expect("dir");
        let outside = tempfile::tempdir().expect("outside");
        std::fs::create_dir_all(dir.path().join("gitrepository/ns/app")).expect("mkdir");
        std::fs::write(
            dir.path().join("gitrepository/ns/app/abc.tar.gz"),
            b"tarball",
        )
        .expect("write");
        std::fs::write(outside.path().join("secret"), b"secret").expect("write");
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            dir.path().join("gitrepository/ns/app/link.tar.gz"),
        )
        .expect("symlink");
        let app = router(dir.path().to_path_buf());
        assert_eq!(
            fetch(app.clone(), "/gitrepository/ns/app/abc.tar.gz").await,
            (StatusCode::OK, b"tarball".to_vec())
        );
        assert_eq!(
            fetch(app.clone(), "/gitrepository/ns/app/missing.tar.gz")
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            fetch(app.clone(), "/gitrepository/ns/app/link.tar.gz")
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            fetch(app, "/gitrepository/ns/%2e%2e/%2e%2e/x").await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn links_the_store_made_serve_their_neighbour_only() {
        let dir = tempfile::tempdir().expect("dir");
        let store = crate::source::artifact::ArtifactStore::new(dir.path(), "http://h");
        let artifact = store
            .store_bytes(
                "HelmRepository",
                "ns",
                "repo",
                "sha256:0",
                crate::source::artifact::ArtifactFileName::Fixed("index-0.yaml"),
                b"{}",
            )
            .expect("stored");
        let url = store
            .link("HelmRepository", "ns", "repo", "index.yaml", &artifact)
            .expect("linked");
        assert_eq!(url, "http://h/helmrepository/ns/repo/index.yaml");
        let object_dir = dir.path().join("helmrepository/ns/repo");
        std::os::unix::fs::symlink("../../../../etc/passwd", object_dir.join("up.yaml"))
            .expect("symlink");
        std::os::unix::fs::symlink("other", object_dir.join("dangling.yaml")).expect("symlink");
        let app = router(dir.path().to_path_buf());
        assert_eq!(
            fetch(app.clone(), "/helmrepository/ns/repo/index.yaml").await,
            (StatusCode::OK, b"{}".to_vec())
        );
        for refused in ["up.yaml", "dangling.yaml"] {
            assert_eq!(
                fetch(app.clone(), &format!("/helmrepository/ns/repo/{refused}"))
                    .await
                    .0,
                StatusCode::NOT_FOUND,
                "{refused}"
            );
        }
    }
}
